#!/usr/bin/env bash
# The wall time of a no-change `terraform plan` through the bridge, over 1
# and over 100 connectors, against cf-api-sim: each plan starts the bridge
# and the provider three times (Terraform's schema, validate and plan
# processes), refreshes every connector (one GET each) and finds nothing to
# do. The two sizes run interleaved (1, 100, 1, 100, ...) so that a machine
# whose speed drifts affects both alike; the script prints each size's
# median and the median of the per-pair ratios.
#
# Usage: bench/terraform-plan.sh [build-dir] [rounds]   (defaults: build, 10)
# Needs terraform on PATH. Nothing outside a temporary directory is touched.
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
rounds=${2:-10}
command -v terraform >/dev/null || { echo "terraform is not on PATH" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tfplan-bench.XXXXXX")
sim_pid=
cleanup() {
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

token="bench-token-$RANDOM"
# shellcheck source=../scripts/tf-local.sh
. "$(dirname "$0")/../scripts/tf-local.sh"
tf_local_start "$build/bin" "$work" "$token" || exit 1

for n in 1 100; do
    mkdir -p "$work/n$n"
    cat >"$work/n$n/main.tf" <<EOF
terraform {
  required_providers {
    cloudflare = { source = "terraform.local/sso-connectors/cloudflare" }
  }
}
provider "cloudflare" {}
resource "cloudflare_sso_connector" "c" {
  count        = $n
  account_id   = "023e105f4ecef8ad9ca31a8372d0c353"
  email_domain = "n$n-\${count.index}.example.com"
}
EOF
    terraform -chdir="$work/n$n" apply -auto-approve -no-color >"$work/n$n/apply.log" 2>&1 ||
        { cat "$work/n$n/apply.log"; exit 1; }
done

# One timed plan; fails the benchmark if the plan was not a clean no-op.
plan_ms() {
    local dir=$1 start end rc=0
    start=$(date +%s%N)
    terraform -chdir="$dir" plan -detailed-exitcode -no-color >"$dir/plan.log" 2>&1 || rc=$?
    end=$(date +%s%N)
    if [ "$rc" -ne 0 ] || grep -q 'Provider produced' "$dir/plan.log"; then
        echo "plan in $dir was not a clean no-change plan (exit $rc):" >&2
        cat "$dir/plan.log" >&2
        exit 1
    fi
    echo $(((end - start) / 1000000))
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

plan_ms "$work/n1" >/dev/null # warm-up: page cache, first runs
plan_ms "$work/n100" >/dev/null
t1=() t100=() ratios=()
for ((i = 0; i < rounds; i++)); do
    a=$(plan_ms "$work/n1")
    b=$(plan_ms "$work/n100")
    t1+=("$a") t100+=("$b")
    ratios+=("$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", b / a}')")
done

m1=$(printf '%s\n' "${t1[@]}" | median)
m100=$(printf '%s\n' "${t100[@]}" | median)
mr=$(printf '%s\n' "${ratios[@]}" | median)
echo "no-change terraform plan, $rounds interleaved rounds ($(nproc) CPUs, $(terraform version | head -1))"
printf '  %-16s median %6s ms   (runs: %s)\n' "1 connector" "$m1" "${t1[*]}"
printf '  %-16s median %6s ms   (runs: %s)\n' "100 connectors" "$m100" "${t100[*]}"
printf '  %-16s median %6s      (per-pair 100/1)\n' "ratio" "$mr"
