#!/usr/bin/env bash
# bench/soak-terraform.sh [BUILD_DIR] - the Terraform half of `make soak`:
# repeated apply/destroy cycles of a small configuration (5 connectors)
# through the bridge, with faults injected into cf-api-sim before and
# during every apply and destroy.
#
# After each apply: every connector in the simulator is in Terraform's
# state (with the same id) and every resource in the state exists in the
# simulator; after each destroy: the simulator and the state are empty.
# Terraform must never print "Provider produced invalid plan",
# "inconsistent result after apply" or "inconsistent final plan". An apply
# or destroy that fails because the faults outlasted the retries is run
# again without new faults, as a user would (at most 3 times); that is
# counted, not a failure. Exit status 1 on any broken check.
#
# Knobs: SOAK_TF_CYCLES (default 4), SOAK_SEED (bash's RANDOM seed; printed),
# SOAK_TF_KEEP=1 keeps the working directory.
set -uo pipefail

build=$(cd "${1:-build}" && pwd)
bin="$build/bin"
cycles=${SOAK_TF_CYCLES:-4}
seed=${SOAK_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$seed
account=023e105f4ecef8ad9ca31a8372d0c353
n=5

command -v terraform >/dev/null || { echo "terraform is not on PATH"; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/cf-sso-soak.XXXXXX")
sim_pid=
injector_pid=
cleanup() {
    [ -n "$injector_pid" ] && kill "$injector_pid" 2>/dev/null
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
    if [ "${SOAK_TF_KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

token="soak-token-$RANDOM$RANDOM"
# shellcheck source=../scripts/tf-local.sh
. "$(dirname "$0")/../scripts/tf-local.sh"
tf_local_start "$bin" "$work" "$token" || exit 2
unset TF_LOG TF_LOG_PROVIDER
cd "$work" || exit 2

cat >main.tf <<EOF
terraform {
  required_providers {
    cloudflare = { source = "terraform.local/sso-connectors/cloudflare" }
  }
}

provider "cloudflare" {
  max_retries     = 4
  request_timeout = 3
}

resource "cloudflare_sso_connector" "c" {
  count                = $n
  account_id           = "$account"
  email_domain         = "tf\${count.index}.soak.example"
  use_fedramp_language = count.index % 2 == 0
}
EOF

fault_kinds=(429 503 500 delay drop-before drop-after partial empty)
arm_fault() { # one random fault rule for the next API request of a random method
    local methods=('*' GET POST PATCH DELETE)
    local m=${methods[RANDOM % 5]} k=${fault_kinds[RANDOM % ${#fault_kinds[@]}]} rule
    case $k in
    429) rule="\"status\":429,\"retry_after_ms\":$((50 + RANDOM % 400))" ;;
    503 | 500) rule="\"status\":$k" ;;
    delay) rule="\"delay_ms\":$((100 + RANDOM % 2000))" ;;
    drop-before) rule='"drop":"before"' ;;
    drop-after) rule='"drop":"after"' ;;
    partial) rule='"status":200,"body":"{\"result\":{\"id\":\""' ;;
    empty) rule='"status":200,"body":""' ;;
    esac
    sim POST /__sim/faults "{\"method\":\"$m\",\"count\":1,$rule}" >/dev/null
    echo "$k" >>"$work/faults.log" # the background injector's count too
}

# Faults armed while terraform runs: a few, spaced out, in the background.
# The PRNG's choices for them are made here, before the fork, so the seed
# decides them.
inject_during() {
    local plan=() i
    for ((i = 0; i < 4; i++)); do plan+=("$((RANDOM % 8))"); done
    (
        for d in "${plan[@]}"; do
            sleep "0.$d"
            arm_fault
        done
    ) &
    injector_pid=$!
}

bad_words='Provider produced invalid plan|inconsistent result after apply|inconsistent final plan'
failures=0 reruns=0 forbidden=0
fail() { echo "  FAIL: $*"; failures=$((failures + 1)); }

state_ids() { terraform show -json 2>/dev/null | jq -r '.values.root_module.resources[]?.values.id' | sort; }
sim_ids() { sim GET /__sim/connectors | jq -r '.connectors[].id' | sort; }

# Runs `terraform $1 -auto-approve` with faults before and during it; runs
# it again (faults cleared) up to 3 times when it fails.
tf_cycle_step() {
    local what=$1 try out rc
    for try in 1 2 3 4; do
        if [ "$try" = 1 ]; then
            for ((i = 0; i < 3 + RANDOM % 4; i++)); do arm_fault; done
            inject_during
        else
            reruns=$((reruns + 1))
            sim DELETE /__sim/faults >/dev/null
        fi
        out="$work/$what.$cycle.$try.log"
        terraform "$what" -auto-approve -no-color -parallelism=5 >"$out" 2>&1
        rc=$?
        [ -n "$injector_pid" ] && wait "$injector_pid" 2>/dev/null
        injector_pid=
        if grep -Eq "$bad_words" "$out"; then
            forbidden=$((forbidden + 1))
            fail "$what (cycle $cycle, try $try) printed: $(grep -Eo "$bad_words" "$out" | head -1); log $out"
            SOAK_TF_KEEP=1
        fi
        if [ "$rc" = 0 ]; then
            echo "  $what: ok after $try run(s)"
            return 0
        fi
        echo "  $what: exit $rc on run $try: $(grep -m1 -E '^Error: ' "$out")"
        # Why, in the provider's words: the first error's detail lines.
        awk '/^Error: /{n++} n==1 && !/^Error: / && !/^  (with |on main.tf|[0-9]+: )/ && NF' \
            "$out" | head -6 | sed 's/^/      /'
    done
    fail "$what did not succeed in 4 runs (cycle $cycle)"
    SOAK_TF_KEEP=1
}

echo "soak-terraform: seed $seed, $cycles cycles of $n connectors, simulator at $origin"
echo "  replay with SOAK_SEED=$seed"
t0=$(date +%s)
for ((cycle = 1; cycle <= cycles; cycle++)); do
    echo "cycle $cycle"
    tf_cycle_step apply
    sim DELETE /__sim/faults >/dev/null
    s=$(sim_ids) t=$(state_ids)
    if [ "$s" != "$t" ]; then
        fail "after apply (cycle $cycle): simulator has [$(echo $s)], state has [$(echo $t)]"
        SOAK_TF_KEEP=1
    elif [ "$(echo "$s" | grep -c .)" != "$n" ]; then
        fail "after apply (cycle $cycle): $(echo "$s" | grep -c .) connectors, expected $n"
    else
        echo "  after apply: the $n connectors in the simulator are the $n in the state"
    fi
    tf_cycle_step destroy
    sim DELETE /__sim/faults >/dev/null
    s=$(sim_ids) t=$(state_ids)
    if [ -n "$s$t" ]; then
        fail "after destroy (cycle $cycle): simulator has [$(echo $s)], state has [$(echo $t)]"
        SOAK_TF_KEEP=1
    else
        echo "  after destroy: the simulator and the state are empty"
    fi
done
summary=""
for k in "${fault_kinds[@]}"; do summary+=" $k $(grep -cx -- "$k" "$work/faults.log")"; done
echo "soak-terraform summary (seed $seed): $cycles cycles in $(( $(date +%s) - t0 )) s;" \
    "faults armed:$summary; reruns after a failed apply/destroy: $reruns;" \
    "forbidden messages: $forbidden; failed checks: $failures"
[ "$failures" = 0 ] && echo "soak-terraform: PASS" || { echo "soak-terraform: FAIL"; exit 1; }
