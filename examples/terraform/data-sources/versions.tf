terraform {
  required_version = ">= 1.5"
  required_providers {
    cloudflare = {
      source  = "terraform.local/sso-connectors/cloudflare"
      version = "~> 0.1"
    }
  }
}

# api_token and base_url come from CLOUDFLARE_API_TOKEN and CLOUDFLARE_BASE_URL.
provider "cloudflare" {}
