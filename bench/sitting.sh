#!/usr/bin/env bash
# One sitting: lariat's workload binary, its tokio peer (`--tokio`) and the real BEAM
# (../shared/peers/erlang/run.sh), alternating, RUNS times each, on this machine.
# Prints every raw line and then the medians side by side. Needs erlang-base (installed here if missing).
# Usage: bench/sitting.sh [RUNS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
peer=${PEER_DIR:-../shared/peers/erlang}
command -v erl >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends erlang-base; }
cargo build --release -q
out=$(mktemp -d)
echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r), $(date -u +%FT%TZ)"
for i in $(seq "$runs"); do
    ./target/release/lariat --runs 1 --json > "$out/lariat$i.json"
    ./target/release/lariat --runs 1 --tokio --json > "$out/tokio$i.json"
    QUIET_MAX=${QUIET_MAX:-20} "$peer/run.sh" > "$out/beam$i.log" 2>&1 || true
done
cat "$out"/lariat*.json "$out"/tokio*.json "$out"/beam*.log
python3 - "$out" "$runs" <<'PY'
import json, re, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
lariat, tokio, beam = {}, {}, {}
for i in range(1, runs + 1):
    for line in open(f"{out}/lariat{i}.json"):
        row = json.loads(line)
        lariat.setdefault((row["row"], row["figure"]), []).append(row["value"])
    for line in open(f"{out}/tokio{i}.json"):
        row = json.loads(line)
        tokio.setdefault((row["row"], row["figure"]), []).append(row["value"])
    for line in open(f"{out}/beam{i}.log"):
        m = re.match(r"workload=(\S+) n=\S+ seconds=(\S+) per_op_ns=(\S+) extra=(\S*)", line)
        if not m:
            continue
        name, seconds, per_op = m.group(1), float(m.group(2)), float(m.group(3))
        extra = dict(kv.split(":", 1) for kv in m.group(4).split(",") if ":" in kv)
        beam.setdefault(name, []).append(per_op)
        if name == "spawn_idle":
            beam.setdefault("spawn_idle_rss", []).append(float(extra["rss_b_per_proc"]))
            beam.setdefault("spawn_idle_stop", []).append(float(extra["stop_ns_per_proc"]))
        if name == "ring":
            beam.setdefault("ring_build", []).append(float(extra["build_ns_per_proc"]))
        if name == "skynet":
            beam.setdefault("skynet_s", []).append(seconds)
        if name in ("send_after", "send_after_cancel"):
            beam.setdefault(name + "_bytes", []).append(float(extra["mem_b_per_timer"]))
        if name == "selective_receive":
            beam.setdefault("selective_skipped", []).append(float(extra["ns_per_skipped_msg"]))
pairs = [
    (("spawn_exit", "ns per process"), "spawn_exit"),
    (("spawn_idle", "ns per spawn"), "spawn_idle"),
    (("spawn_idle", "RSS bytes per idle process"), "spawn_idle_rss"),
    (("spawn_idle", "ns per stop"), "spawn_idle_stop"),
    (("ping_pong", "ns per round trip"), "ping_pong"),
    (("ring", "ns per hop"), "ring"),
    (("ring", "build, ns per process"), "ring_build"),
    (("skynet", "seconds"), "skynet_s"),
    (("mpsc", "ns per message"), "mpsc"),
    (("selective_receive", "ns per receive"), "selective_receive"),
    (("selective_receive", "ns per skipped message"), "selective_skipped"),
    (("call", "ns per call"), "call"),
    (("call_backlog", "ns per call, 100,000 waiting"), "call_backlog"),
    (("sup_restart", "ns per restart"), "sup_restart"),
    (("send_after", "ns per timer"), "send_after"),
    (("send_after", "bytes per armed timer"), "send_after_bytes"),
    (("send_after_cancel", "ns per timer"), "send_after_cancel"),
    (("send_after_cancel", "bytes per armed timer"), "send_after_cancel_bytes"),
    (("link_fanout", "ns per linked worker"), "link_fanout"),
    (("trap_fanout", "ns per exit message"), "trap_fanout"),
    (("link_chain", "ns per hop"), "link_chain"),
]
print(f"\n| row | figure | lariat | BEAM | tokio | lariat / BEAM | lariat / tokio |   (medians of {runs})")
print("|---|---|---|---|---|---|---|")
def show(value, fmt):
    return "—" if value is None else f"{value:{fmt}}"
for (row, figure), key in pairs:
    if (row, figure) not in lariat:
        continue
    l = statistics.median(lariat[(row, figure)])
    b = statistics.median(beam[key]) if key in beam else None
    t = statistics.median(tokio[(row, figure)]) if (row, figure) in tokio else None
    fmt = ",.3f" if l < 10 else ",.1f"
    print(f"| {row} | {figure} | {show(l, fmt)} | {show(b, fmt)} | {show(t, fmt)} | "
          f"{show(b and l / b, '.2f')} | {show(t and l / t, '.2f')} |")
for key in [k for k in lariat if k[0] == "link_fanout_1m"]:
    print(f"| {key[0]} | {key[1]} | {statistics.median(lariat[key]):.3f} | — | — | — | — |")
PY
