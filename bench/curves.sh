#!/usr/bin/env bash
# Cost curves (issue #5): ns per op across sizes, to show where it stays flat.
# spawn_exit at N = 10^4 … 10^7 and link_fanout at N = 10^3 … 10^6, each the
# median of RUNS runs (default 5) of the workload binary, each after an untimed
# warm-up run in the same runtime. Usage: bench/curves.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release -q -p lariat-bench
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
value() { python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())["value"])'; }
echo "| row | N | ns per op (median of $runs) |"
echo "|---|---|---|"
for n in 10000 100000 1000000 10000000; do
    m=$(for _ in $(seq "$runs"); do ./target/release/lariat --runs 1 --only spawn_exit --processes "$n" --warm-up --json | value; done | median)
    echo "| spawn_exit | $n | $m |"
done
for n in 1000 10000 100000 1000000; do
    m=$(for _ in $(seq "$runs"); do ./target/release/lariat --runs 1 --only link_fanout --linked "$n" --warm-up --json | value; done | median)
    echo "| link_fanout | $n | $m |"
done
