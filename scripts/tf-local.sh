# tf-local.sh - sourced (not run) by the scripts that drive the real
# terraform against cf-api-sim with the provider of a build folder:
# examples/terraform-demo.sh, bench/soak-terraform.sh, bench/terraform-plan.sh.
#
# tf_local_start BIN_DIR WORK TOKEN
#   Starts cf-api-sim from BIN_DIR on a free port (stderr to WORK/sim.log)
#   and sets sim_pid, origin ("http://127.0.0.1:PORT") and base_url (the
#   provider's). Writes WORK/cli.tfrc, a CLI configuration whose
#   dev_overrides entry sends terraform.local/sso-connectors/cloudflare to
#   BIN_DIR, so nothing in the user's home is touched, and exports it with
#   the provider's credentials (CLOUDFLARE_API_TOKEN, CLOUDFLARE_BASE_URL).
#   The caller stops the simulator (kill "$sim_pid") in its EXIT trap.
# sim METHOD PATH [JSON]
#   One call to the simulator's control plane (/__sim/...); prints the body.

tf_local_start() {
    local bin=$1 work=$2 token=$3 line
    coproc SIM { exec "$bin/cf-api-sim" --port 0 --token "$token" 2>"$work/sim.log"; }
    sim_pid=$SIM_PID
    if ! read -r -t 10 line <&"${SIM[0]}" || [[ $line != "listening on http://127.0.0.1:"* ]]; then
        echo "cf-api-sim did not start (see $work/sim.log)" >&2
        return 1
    fi
    origin=${line#listening on }
    base_url="$origin/client/v4"
    cat >"$work/cli.tfrc" <<TFRC
provider_installation {
  dev_overrides {
    "terraform.local/sso-connectors/cloudflare" = "$bin"
  }
  direct {}
}
TFRC
    export TF_CLI_CONFIG_FILE="$work/cli.tfrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
    export CLOUDFLARE_API_TOKEN="$token" CLOUDFLARE_BASE_URL="$base_url"
}

sim() {
    curl -sS -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} "$origin$2"
}
