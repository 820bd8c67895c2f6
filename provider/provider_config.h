/*
 * provider_config.h - the provider block: validation (ValidateProviderConfig)
 * and resolution with environment fallbacks (ConfigureProvider).
 *
 * Resolution order for each setting: the configuration, then its
 * environment variable (CLOUDFLARE_API_TOKEN, CLOUDFLARE_API_KEY,
 * CLOUDFLARE_EMAIL, CLOUDFLARE_BASE_URL), then the default. Exactly one
 * authentication method must result. Diagnostics name the attribute and
 * never contain a secret.
 */
#ifndef PROVIDER_CONFIG_H
#define PROVIDER_CONFIG_H

#include <jansson.h>
#include <stdbool.h>

#define PROVIDER_DEFAULT_BASE_URL "https://api.cloudflare.com/client/v4"

/* Length limits on the credentials. Cloudflare API tokens are 40
 * characters and global API keys 37; 1024 leaves room for any future
 * format while refusing a pasted file. An email address has at most 254
 * characters (RFC 5321's path limit). */
#define PROVIDER_SECRET_MAX 1024
#define PROVIDER_EMAIL_MAX  254

typedef struct provider_config {
    char *api_token; /* NULL when key auth is used */
    char *api_key;
    char *email;    /* with api_key: sent as X-Auth-Email */
    char *base_url; /* without a trailing slash */
    int max_retries;
    double request_timeout;
    double max_rps; /* 0: no limit */
} provider_config;

/* Checks the configuration's values without reading the environment:
 * types, ranges, base_url, token/key conflicts, and the credentials'
 * length (PROVIDER_SECRET_MAX, PROVIDER_EMAIL_MAX) and bytes (printable
 * ASCII without spaces: they become HTTP header values). Unknown values
 * pass.
 * Appends diagnostics; returns the number of errors added. */
int provider_config_validate(const json_t *config, json_t *diags);

/* Validates, then resolves `config` with the environment into `cfg`
 * (strings are new heap copies); credentials from the environment get the
 * same checks as configured ones. Returns 0, or -1 with error diagnostics
 * appended (cfg is then left empty). */
int provider_config_resolve(const json_t *config, provider_config *cfg, json_t *diags);

void provider_config_free(provider_config *cfg);

/* True when `url` may be used as the API base URL: https://host[:port][/path],
 * or http:// to a literal loopback host (localhost, 127.a.b.c with four
 * decimal parts, [::1]; see http_host_is_loopback()). Refused: user info,
 * '?' or '#' anywhere, a scheme without exactly "//" after it, a port
 * outside 1-65535, spaces, control characters, non-ASCII bytes and
 * backslashes. On false, *why explains (it never quotes the URL). */
bool provider_base_url_allowed(const char *url, const char **why);

#endif /* PROVIDER_CONFIG_H */
