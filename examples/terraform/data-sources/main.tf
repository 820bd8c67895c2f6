data "cloudflare_sso_connectors" "all" {
  account_id = var.account_id
}

output "domains" {
  value = [for c in data.cloudflare_sso_connectors.all.connectors : c.email_domain]
}

output "unverified" {
  value = [for c in data.cloudflare_sso_connectors.all.connectors : c.email_domain
  if c.verification.status != "verified"]
}

data "cloudflare_sso_connector" "first" {
  count        = length(data.cloudflare_sso_connectors.all.connectors) > 0 ? 1 : 0
  account_id   = var.account_id
  email_domain = data.cloudflare_sso_connectors.all.connectors[0].email_domain
}

output "first_enabled" {
  value = one(data.cloudflare_sso_connector.first[*].enabled)
}
