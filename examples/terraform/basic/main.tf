variable "email_domain" {
  type    = string
  default = "corp.example.com"
}

variable "enabled" {
  description = "Enable once verification.status is \"verified\" (after the TXT record is published)."
  type        = bool
  default     = false
}

resource "cloudflare_sso_connector" "corp" {
  account_id           = var.account_id
  email_domain         = var.email_domain
  enabled              = var.enabled
  use_fedramp_language = false
}

output "txt_record" {
  description = "Publish this string as a TXT record of the email domain."
  value       = cloudflare_sso_connector.corp.verification.code
}

output "verification_status" {
  value = cloudflare_sso_connector.corp.verification.status
}
