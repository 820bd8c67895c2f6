#!/usr/bin/env bash
# Installs terraform-provider-cloudflare and provider-cloudflare (its child)
# into Terraform's implied local mirror, so that `terraform init` finds them
# offline under the source address below:
#   $TF_PLUGIN_DIR/<host>/<namespace>/cloudflare/<version>/<os>_<arch>/
# TF_PLUGIN_DIR defaults to ~/.terraform.d/plugins, one of the directories
# Terraform searches without any CLI configuration.
set -euo pipefail
build=${1:-build}
source_address=${TF_PROVIDER_SOURCE:-terraform.local/sso-connectors/cloudflare}
plugin_dir=${TF_PLUGIN_DIR:-$HOME/.terraform.d/plugins}
version=$("$build/bin/provider-cloudflare" --version | awk '{print $NF}')

case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) echo "unsupported OS $(uname -s)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    i?86) arch=386 ;;
    armv*) arch=arm ;;
    *) echo "unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

dest="$plugin_dir/$source_address/$version/${os}_${arch}"
install -d "$dest"
install -m 0755 "$build/bin/terraform-provider-cloudflare" "$build/bin/provider-cloudflare" "$dest/"
cat <<MSG
Installed into $dest
Use it with:
  terraform {
    required_providers {
      cloudflare = { source = "$source_address", version = "~> ${version%.*}" }
    }
  }
then run terraform init (no network needed).
MSG
