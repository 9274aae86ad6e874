#!/usr/bin/env bash
# Instructions per operation of one row, counted by callgrind: a figure that,
# unlike time on these shared machines, is the same run after run, for telling
# whether a change made the path shorter. Two ways to count:
#   bench/instructions.sh timed ROW N [SIZE_FLAG]   the timed phase only (rows
#       whose main process calls `timed_phase`: link_chain, trap_fanout, mpsc,
#       ring, skynet, ping_pong); N divides (the row's ops, e.g. --linked N).
#   bench/instructions.sh diff ROW N1 N2 [SIZE_FLAG] [--tokio]   the whole run at
#       two sizes, the difference per extra op (set-up included; any row, and
#       the tokio peer too).
# SIZE_FLAG defaults to --linked; spawn_exit takes --processes. Installs
# valgrind if it is missing. Example: bench/instructions.sh timed link_chain 20000
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends valgrind; }
cargo build --release -q -p lariat-bench
binary=./target/release/lariat
out=$(mktemp -d)
total() { grep '^totals:' "$1" | cut -d' ' -f2; }
case "${1:-}" in
    timed)
        row=$2 n=$3 flag=${4:---linked}
        valgrind --tool=callgrind --callgrind-out-file="$out/cg" \
            --dump-before='lariat_bench::timed_phase*' --dump-after='lariat_bench::timed_phase*' \
            "$binary" --runs 1 --only "$row" "$flag" "$n" > "$out/log" 2>&1
        [ -f "$out/cg.2" ] || { echo "no timed phase dumped: does $row call timed_phase?" >&2; exit 1; }
        echo "$row: $(( $(total "$out/cg.2") / n )) instructions per op in the timed phase (N = $n)"
        ;;
    diff)
        row=$2 n1=$3 n2=$4 flag=${5:---linked} peer=${6:-}
        for n in "$n1" "$n2"; do
            valgrind --tool=callgrind --callgrind-out-file="$out/cg.$n" "$binary" $peer --runs 1 --only "$row" "$flag" "$n" \
                > "$out/log.$n" 2>&1
        done
        echo "$row${peer:+ ($peer)}: $(( ($(total "$out/cg.$n2") - $(total "$out/cg.$n1")) / (n2 - n1) )) instructions per extra op ($n1 -> $n2)"
        ;;
    *)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
