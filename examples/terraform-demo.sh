#!/usr/bin/env bash
# make demo: the Terraform workflow against cf-api-sim, with Terraform's own
# output. Without terraform on PATH it says so and runs the JSON-RPC demo.
#
# Everything happens in a temporary directory with its own CLI config file
# (a dev_overrides entry pointing at build/bin), so nothing in your home
# directory is read or written. The simulator and the directory are gone
# afterwards.
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
bin="$build/bin"
account=023e105f4ecef8ad9ca31a8372d0c353

if ! command -v terraform >/dev/null 2>&1; then
    echo "terraform is not on PATH: running the JSON-RPC demo instead (the provider driven"
    echo "directly over its stdio protocol). Install Terraform >= 1.0 to see the Terraform one."
    echo
    exec "$bin/provider-demo"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cf-sso-demo.XXXXXX")
sim_pid=
cleanup() {
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

color=()
bold= plain=
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else color=(-no-color); fi
step=0
say() {
    step=$((step + 1))
    printf '\n%s=== %d. %s%s\n' "$bold" "$step" "$*" "$plain"
}
run() {
    printf '$ %s\n' "$*"
    "$@"
}
tf() { # terraform, with the dev_overrides warning shortened after its first showing
    printf '$ terraform %s\n' "$*"
    local extra=()
    case "$1" in plan | apply | destroy) [ "$step" -gt 1 ] && extra=(-compact-warnings) ;; esac
    terraform "$@" "${extra[@]}" "${color[@]}"
}

# The simulator on a free port, and a CLI configuration of the demo's own
# (scripts/tf-local.sh): sim_pid, origin, base_url, sim().
token="demo-token-$RANDOM$RANDOM"
# shellcheck source=../scripts/tf-local.sh
. "$(dirname "$0")/../scripts/tf-local.sh"
tf_local_start "$bin" "$work" "$token" || exit 1
cd "$work"

write_config() { # enabled use_fedramp_language
    cat >main.tf <<EOF
terraform {
  required_providers {
    cloudflare = { source = "terraform.local/sso-connectors/cloudflare" }
  }
}

# The token and base_url come from CLOUDFLARE_API_TOKEN and CLOUDFLARE_BASE_URL.
provider "cloudflare" {}

resource "cloudflare_sso_connector" "corp" {
  account_id           = "$account"
  email_domain         = "corp.example.com"
  enabled              = $1
  use_fedramp_language = $2
}

output "txt_record" {
  description = "Add this TXT record to corp.example.com to prove you own it"
  value       = cloudflare_sso_connector.corp.verification.code
}

output "fedramp" {
  value = cloudflare_sso_connector.corp.use_fedramp_language
}
EOF
}

echo "cf-api-sim (the local Cloudflare API) is at $base_url; working in $work"
echo "Terraform finds the provider in $bin through a dev_overrides entry in the demo's own"
echo "CLI configuration (hence its warning below); after make install, terraform init finds it."

say "Plan a new SSO connector, save the plan, and review it"
write_config false false
run cat main.tf
tf plan -out=create.tfplan
printf '$ terraform show -json create.tfplan | (the planned actions)\n'
terraform show -json create.tfplan | grep -o '"actions":\[[^]]*\]' | sort | uniq -c

say "Apply the saved plan"
tf apply create.tfplan

say "The DNS verification code, as an output"
tf output txt_record
id=$(terraform output -raw txt_record | sed 's/.*=//')

say "The domain's TXT record is in place: the simulator marks it verified"
run sim POST "/__sim/connectors/$id/verification" '{"status":"verified"}'
echo

say "Enable the connector"
write_config true false
tf apply -auto-approve

say "Someone turns on FedRAMP language in the dashboard, behind Terraform's back"
run sim PATCH "/__sim/connectors/$id" '{"use_fedramp_language":true}'
echo

say "A refresh-only plan shows what changed outside Terraform"
tf plan -refresh-only

say "The plan repairs it (exit code 2: changes planned)"
set +e
tf plan -detailed-exitcode
echo "(exit code $?)"
set -e

say "Apply the repair"
tf apply -auto-approve

say "Adopt a connector that was made by hand: an import block and -generate-config-out"
run sim POST "/__sim/accounts/$account/connectors" '{"email_domain":"legacy.example.com"}'
echo
cat >import.tf <<EOF
import {
  to = cloudflare_sso_connector.legacy
  id = "$account/legacy.example.com"
}
EOF
run cat import.tf
tf plan -generate-config-out=generated.tf -out=import.tfplan
run cat generated.tf
tf apply import.tfplan
tf state list

say "Destroy everything"
tf destroy -auto-approve
printf '$ curl %s/__sim/connectors\n' "$origin"
sim GET /__sim/connectors
echo
echo
echo "Done: Terraform planned, applied, showed drift, imported and destroyed through"
echo "terraform-provider-cloudflare and provider-cloudflare, against the simulator."
