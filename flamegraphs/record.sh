#!/usr/bin/env bash
# Rebuilds the workload binary with frame pointers, records the timed phase of
# each headline workload with `perf record -e cpu-clock -g` (the binary switches
# perf on and off around it through a control FIFO), and writes
# flamegraphs/<row>.svg with inferno. Installs inferno if it is missing.
# Usage: flamegraphs/record.sh [ROW ...]   (default: the headline rows)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=(spawn_exit ping_pong skynet link_fanout mpsc)
command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf || apt-get install -y -qq linux-tools-generic; }
command -v inferno-flamegraph >/dev/null || cargo install --quiet inferno
RUSTFLAGS="-C force-frame-pointers=yes" cargo build --release -q -p lariat-bench --target-dir target/fp
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for row in "${rows[@]}"; do
    mkfifo "$work/ctl"
    LARIAT_PERF_CTL="$work/ctl" perf record -q -D -1 --control "fifo:$work/ctl" -F 10000 -e cpu-clock -g \
        -o "$work/perf.data" ./target/fp/release/lariat --runs 1 --only "$row" > "$work/$row.txt"
    perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf > "$work/$row.folded"
    inferno-flamegraph --title "lariat $row (timed phase, 2 workers)" < "$work/$row.folded" > "flamegraphs/$row.svg"
    { grep -v '^row\|^lariat' "$work/$row.txt" | head -1
      echo "top self costs (perf report --no-children --sort sym):"
      perf report -i "$work/perf.data" --no-children --sort sym --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -8 || true
    } > "flamegraphs/$row.txt"
    echo "flamegraphs/$row.svg: $(head -1 "flamegraphs/$row.txt")"
    rm -f "$work/ctl" "$work/perf.data"
done
