#!/usr/bin/env bash
# provider-reads.sh - how fast the provider refreshes many connectors.
#
# Starts cf-api-sim, seeds N connectors (default 1000), writes a session
# file (ConfigureProvider, then one ReadResource per connector, all
# pipelined), and times `provider-cloudflare < session` with hyperfine. It
# also prints the provider's peak memory (/usr/bin/time -v) for one run and
# checks every answer has empty diagnostics. The simulator serves far more
# requests per second than this needs (docs/SIMULATOR.md), so the figure is
# the provider's.
#
# Usage: bench/provider-reads.sh [N]
# Environment: BUILD (default build), MAX_RPS (provider max_rps, default none).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
n=${1:-1000}
prov=$build/bin/provider-cloudflare
sim=$build/bin/cf-api-sim
account=023e105f4ecef8ad9ca31a8372d0c353
token=bench-token
for tool in hyperfine curl jq /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "provider-reads: $tool is not installed" >&2; exit 1; }
done
[ -x "$prov" ] && [ -x "$sim" ] || { echo "provider-reads: build first (make build)" >&2; exit 1; }

work=$(mktemp -d)
coproc SIM { exec "$sim" --port 0 --token "$token" --threads 2 2>/dev/null; }
sim_pid=$SIM_PID
trap 'kill -TERM $sim_pid 2>/dev/null; wait $sim_pid 2>/dev/null; rm -rf "$work"' EXIT
read -r -t 10 line <&"${SIM[0]}"
origin=${line#listening on }

extra=""
[ -n "${MAX_RPS:-}" ] && extra=",\"max_rps\":$MAX_RPS"
printf '{"jsonrpc":"2.0","id":0,"method":"ConfigureProvider","params":{"config":{"api_token":"%s","base_url":"%s/client/v4"%s}}}\n' \
    "$token" "$origin" "$extra" > "$work/session.jsonl"
for i in $(seq 1 "$n"); do
    state=$(curl -sf -X POST "$origin/__sim/accounts/$account/connectors" \
        -d "{\"email_domain\":\"d$i.bench.example\"}" |
        jq -c --arg acc "$account" '{id, account_id: $acc, email_domain, enabled,
            use_fedramp_language, begin_verification: null, created_on, updated_on, verification}')
    printf '{"jsonrpc":"2.0","id":%d,"method":"ReadResource","params":{"type_name":"sso_connector","current_state":%s}}\n' \
        "$i" "$state" >> "$work/session.jsonl"
done

"$prov" < "$work/session.jsonl" > "$work/out.jsonl"
answered=$(jq -s '[.[] | select(.result.diagnostics == [])] | length' "$work/out.jsonl")
echo "answers with no diagnostics: $answered of $((n + 1))"
[ "$answered" -eq $((n + 1)) ] || { echo "provider-reads: some reads failed" >&2; exit 1; }

/usr/bin/time -v "$prov" < "$work/session.jsonl" 2> "$work/time.txt" > /dev/null
grep -E 'Maximum resident|Elapsed' "$work/time.txt"
hyperfine --warmup 1 --runs 10 "$prov < $work/session.jsonl > /dev/null"
