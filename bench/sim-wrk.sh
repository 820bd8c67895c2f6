#!/usr/bin/env bash
# sim-wrk.sh - throughput of cf-api-sim: starts it, seeds one connector,
# runs wrk (-t2 -c32 -d10s, keep-alive) on GET of that connector with the
# Bearer token, prints requests/s, and stops the simulator (exit status 0
# required).
#
# Usage: bench/sim-wrk.sh [path/to/cf-api-sim]
# Environment: SIM_BIN (default build/bin/cf-api-sim), SIM_THREADS (the
# simulator's --threads, default 2), WRK_ARGS (default "-t2 -c32 -d10s").
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
sim=${1:-${SIM_BIN:-$root/build/bin/cf-api-sim}}
threads=${SIM_THREADS:-2}
wrk_args=${WRK_ARGS:--t2 -c32 -d10s}
account=023e105f4ecef8ad9ca31a8372d0c353
export SIM_TOKEN=bench-token

[ -x "$sim" ] || { echo "sim-wrk: no simulator at $sim (run make build, or pass its path)" >&2; exit 1; }
for tool in wrk curl jq; do
    command -v "$tool" >/dev/null || { echo "sim-wrk: $tool is not installed" >&2; exit 1; }
done

# The simulator's stdout is a pipe we read its "listening on" line from.
coproc SIM { exec "$sim" --port 0 --token "$SIM_TOKEN" --threads "$threads" 2>/dev/null; }
sim_pid=$SIM_PID
stop_sim() {
    kill -TERM "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null
}
trap 'stop_sim || true' EXIT

read -r -t 10 line <&"${SIM[0]}" || { echo "sim-wrk: the simulator did not start" >&2; exit 1; }
origin=${line#listening on }
[[ $origin == http://127.0.0.1:* ]] || { echo "sim-wrk: unexpected first line: $line" >&2; exit 1; }

id=$(curl -sf -X POST "$origin/__sim/accounts/$account/connectors" \
    -d '{"email_domain":"bench.example","verification_status":"verified","enabled":true}' | jq -r .id)
url="$origin/client/v4/accounts/$account/sso_connectors/$id"
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $SIM_TOKEN" "$url")
[ "$status" = 200 ] || { echo "sim-wrk: GET $url answered $status" >&2; exit 1; }

echo "cf-api-sim --threads $threads; wrk $wrk_args GET $url"
# shellcheck disable=SC2086 # WRK_ARGS is a list of words
report=$(wrk $wrk_args --latency -s "$root/bench/sim-wrk.lua" "$url")
echo "$report"
if grep -q "Non-2xx" <<<"$report"; then
    echo "sim-wrk: some answers were not 200" >&2
    exit 1
fi
rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$report")

trap - EXIT
stop_sim && rc=0 || rc=$?
[ "$rc" = 0 ] || { echo "sim-wrk: the simulator exited with $rc" >&2; exit 1; }
echo "requests/s: $rps"
