#!/usr/bin/env bash
# Runs every scenario on real Erlang/OTP (conformance/runner.escript) and
# compares the traces with the committed goldens (a golden may list several
# allowed traces separated by a line "%% or", for races ERTS leaves open); with
# --write, records them instead (one trace each: add the alternatives by hand). Installs erlang-base if missing. Exits non-zero if a golden is stale.
# Usage: conformance/record.sh [--write]
set -euo pipefail
cd "$(dirname "$0")"
command -v escript >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends erlang-base; }
otp=$(erl -noshell -eval 'io:format("~s", [erlang:system_info(system_version)]), halt().' | head -1)
stale=0
for scenario in scenarios/*.scn; do
    name=$(basename "$scenario" .scn)
    trace=$(escript runner.escript "$scenario")
    if [ "${1:-}" = "--write" ]; then
        printf '%s\n' "$trace" > "goldens/$name.trace"
    elif ! printf '%s\n' "$(cat "goldens/$name.trace")" | awk -v RS='%% or\n' -v want="$trace" '
            { sub(/\n$/, ""); if ($0 == want) found = 1 } END { exit !found }'; then
        echo "STALE: goldens/$name.trace differs from OTP ($otp):"
        diff <(printf '%s\n' "$trace") "goldens/$name.trace" || true
        stale=1
    fi
done
if [ "${1:-}" = "--write" ]; then
    echo "$otp" > goldens/OTP_VERSION
    echo "recorded $(ls scenarios/*.scn | wc -l) goldens from $otp"
else
    echo "checked $(ls scenarios/*.scn | wc -l) goldens against $otp (recorded with $(cat goldens/OTP_VERSION))"
fi
exit $stale
