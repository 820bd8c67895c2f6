variable "account_id" {
  description = "The Cloudflare account the connectors belong to (32 hex characters)."
  type        = string
  default     = "023e105f4ecef8ad9ca31a8372d0c353"
}
