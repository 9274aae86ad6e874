#!/usr/bin/env bash
# Shows that each loom model depends on the ordering it names: runs the model with
# one ordering weakened at a time (`LARIAT_MUTATION=...`, read by `sync::mutated`
# in loom builds) and expects the model to FAIL. One loom build (the same as the
# models' own step: same flags, same target dir) serves every mutation.
# Exits non-zero if a mutation survives.
set -uo pipefail
cd "$(dirname "$0")/.."
survived=0
for entry in signal_push_relaxed:signal_queue wait_without_cas:wake_up try_wait_relaxed:wake_up \
             push_first_from_stale_load:wake_up \
             signal_push_relaxed:link_vs_exit signal_push_relaxed:unlink_vs_exit \
             signal_push_relaxed:monitor_vs_exit wake_relaxed:timer_vs_message \
             notify_without_fence:worker_parking table_publish_relaxed:process_table \
             home_wake_without_fence:inbox_wake_up \
             state_swaps_lose_exited:exited_stays_set spawn_slot_put_relaxed:spawn_slot_rescue \
             alarm_without_fence:watchdog_rest block_free_relaxed:chunk_reuse; do
    mutation=${entry%%:*}
    model=${entry##*:}
    log=$(LARIAT_MUTATION="$mutation" RUSTFLAGS="--cfg loom --cfg crossbeam_loom" LOOM_MAX_PREEMPTIONS=3 \
        cargo test -q -p lariat-loom --release --features models --target-dir target/loom --test "$model" 2>&1)
    if [ $? -eq 0 ]; then
        echo "SURVIVED: $mutation (model $model still passes)"
        survived=1
    else
        why=$(printf '%s\n' "$log" | grep -m1 -E 'Causality violation|deadlock|lost wake-up|never completed|assertion|was cleared|left waiting|queued a process' | sed 's/^ *//')
        echo "killed:   $mutation by $model: $why"
    fi
done
exit $survived
