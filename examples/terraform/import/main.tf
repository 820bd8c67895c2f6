# Adopt a connector that already exists. Either id form works:
#   "<account_id>/<connector id>"  or  "<account_id>/<email domain>"
# Run: terraform plan -generate-config-out=generated.tf
# then review generated.tf and terraform apply.
variable "existing_domain" {
  type    = string
  default = "legacy.example.com"
}

import {
  to = cloudflare_sso_connector.legacy
  id = "${var.account_id}/${var.existing_domain}"
}
