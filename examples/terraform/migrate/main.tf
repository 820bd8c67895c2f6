# The same resource block as with the official provider: only the provider's
# source address (versions.tf) changes. See docs/TERRAFORM.md, "Migrating".
variable "email_domain" {
  type    = string
  default = "corp.example.com"
}

resource "cloudflare_sso_connector" "corp" {
  account_id   = var.account_id
  email_domain = var.email_domain
  enabled      = true
}
