#!/usr/bin/env bash
# Moves this folder's state from the official provider to this one. Run it
# where terraform.tfstate (or your backend) holds cloudflare_sso_connector
# resources written by registry.terraform.io/cloudflare/cloudflare.
set -euo pipefail
terraform state replace-provider -auto-approve \
    registry.terraform.io/cloudflare/cloudflare terraform.local/sso-connectors/cloudflare
terraform init
terraform plan -detailed-exitcode   # exit 0: no changes
