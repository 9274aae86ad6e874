#!/usr/bin/env bash
# A/B: the workload binary built from two commits, run alternately on this
# machine, medians side by side. The evidence rule for a micro-optimisation
# (docs/performance.md, decision log): it stays only if it wins here on two
# CPU families without hurting another row.
# Usage: bench/ab.sh A_REV [B_REV] [RUNS] [ROWS] [-- EXTRA LARIAT ARGS]
#   A_REV, B_REV: commits (B defaults to the work tree as it is); RUNS default 7;
#   ROWS: comma-separated rows of `lariat --only` (default: the bench-spec rows).
# Example: bench/ab.sh HEAD~1 "" 9 ring,link_chain -- --workers 1
set -euo pipefail
cd "$(dirname "$0")/.."
a_rev=$1 b_rev=${2:-} runs=${3:-7}
rows=${4:-spawn_exit,ping_pong,ring,skynet,mpsc,link_fanout,trap_fanout,link_chain}
shift $(( $# < 4 ? $# : 4 )); [ "${1:-}" = "--" ] && shift
extra=("$@")
out=$(mktemp -d)
build() { # REV NAME: the binary of REV (the work tree if REV is empty) at $out/NAME
    local rev=$1 name=$2
    if [ -z "$rev" ]; then
        cargo build --release -q -p lariat-bench
        cp target/release/lariat "$out/$name"
        return
    fi
    local dir="$out/src-$name"
    git worktree add -q --detach "$dir" "$rev"
    # A target directory of its own per side, kept between runs (rebuilds are incremental).
    (cd "$dir" && CARGO_TARGET_DIR="$OLDPWD/target/ab-$name" cargo build --release -q -p lariat-bench)
    cp "target/ab-$name/release/lariat" "$out/$name"
    git worktree remove --force "$dir"
}
build "$a_rev" a
build "$b_rev" b
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model' /proc/cpuinfo | cut -d: -f2 | tr -d ' '); $(date -u +%FT%TZ)"
echo "# a = ${a_rev}, b = ${b_rev:-work tree}; $runs runs each, alternating; rows $rows ${extra[*]}"
# One run per call (binaries from before `--runs` existed ran once anyway).
once() { "$1" --help | grep -q -- --runs && echo --runs 1 || true; }
for i in $(seq "$runs"); do
    for name in a b; do
        # shellcheck disable=SC2046 # `once` prints two words or none
        "$out/$name" $(once "$out/$name") --only "$rows" --json "${extra[@]}" >> "$out/$name.jsonl"
    done
done
python3 - "$out" <<'PY'
import json, statistics, sys
out = sys.argv[1]
def medians(name):
    values = {}
    for line in open(f"{out}/{name}.jsonl"):
        row = json.loads(line)
        values.setdefault((row["row"], row["figure"]), []).append(row["value"])
    return {key: statistics.median(v) for key, v in values.items()}
a, b = medians("a"), medians("b")
print(f"{'row':<18} {'figure':<34} {'a':>12} {'b':>12} {'b/a':>7}")
for key in a:
    if key in b and a[key]:
        print(f"{key[0]:<18} {key[1]:<34} {a[key]:>12.4g} {b[key]:>12.4g} {b[key] / a[key]:>7.3f}")
PY
