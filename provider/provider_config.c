/*
 * provider_config.c - provider block validation and resolution (see
 * provider_config.h).
 */
#include "provider_config.h"

#include "schema.h"
#include "sso_schema.h"

#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_loopback_host(const char *host) {
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
        return true;
    return strncmp(host, "127.", 4) == 0 && strspn(host + 4, "0123456789.") == strlen(host + 4);
}

bool provider_base_url_allowed(const char *url, const char **why) {
    *why = NULL;
    CURLU *u = curl_url();
    if (!u) {
        *why = "out of memory";
        return false;
    }
    char *scheme = NULL, *host = NULL, *user = NULL, *query = NULL, *fragment = NULL;
    bool ok = false;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        *why = "It is not a valid absolute URL.";
    } else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
               curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        *why = "It needs a scheme and a host.";
    } else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
        *why = "It must not contain user information; use api_token instead.";
    } else if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
               curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0) == CURLUE_OK) {
        *why = "It must not contain a query or a fragment.";
    } else if (strcasecmp(scheme, "https") == 0) {
        ok = true;
    } else if (strcasecmp(scheme, "http") == 0) {
        ok = is_loopback_host(host);
        if (!ok)
            *why = "http:// is only allowed for loopback hosts (localhost, 127.0.0.1, [::1]); "
                   "use https://.";
    } else {
        *why = "Only https:// (and http:// to a loopback host) is supported.";
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(query);
    curl_free(fragment);
    curl_url_cleanup(u);
    return ok;
}

/* Checks one numeric setting against its range; unknown or null passes. */
static void check_number(const json_t *config, const char *name, double min, double max,
                         bool integer, json_t *diags) {
    json_t *v = value_attr(config, name);
    if (!v || !json_is_number(v))
        return;
    double d = json_number_value(v);
    if (!isfinite(d) || d < min || d > max || (integer && d != floor(d)))
        diag_error(diags, path_attr(name), "Invalid provider setting",
                   "%s must be %s between %g and %g.", name,
                   integer ? "a whole number" : "a number", min, max);
}

int provider_config_validate(const json_t *config, json_t *diags) {
    size_t before = json_array_size(diags);
    /* api_email was this provider's name for email until it took the
     * official provider's name; say so rather than only "unsupported". */
    if (json_is_object(config) && json_object_get(config, "api_email")) {
        diag_error(diags, path_attr("api_email"), "Unsupported argument",
                   "api_email was renamed to email, as the official Cloudflare provider names "
                   "it.");
        json_t *rest = json_copy((json_t *)config);
        json_object_del(rest, "api_email");
        provider_config_validate(rest, diags);
        json_decref(rest);
        return (int)(json_array_size(diags) - before);
    }
    if (value_check_config(&sso_provider_schema, config, diags) > 0)
        return (int)(json_array_size(diags) - before);
    check_number(config, "max_retries", 0, 20, true, diags);
    check_number(config, "request_timeout", 0.001, 3600, false, diags);
    check_number(config, "max_rps", 0.001, 100000, false, diags);
    json_t *url = value_attr(config, "base_url");
    const char *why = NULL;
    if (json_is_string(url) && !provider_base_url_allowed(json_string_value(url), &why))
        diag_error(diags, path_attr("base_url"), "Invalid base_url", "%s", why);
    bool has_token = json_is_string(value_attr(config, "api_token"));
    bool has_key = json_is_string(value_attr(config, "api_key"));
    bool has_email = json_is_string(value_attr(config, "email"));
    if (has_token && (has_key || has_email))
        diag_error(diags, path_attr("api_key"), "Conflicting authentication settings",
                   "Set either api_token, or api_key with email, not both.");
    return (int)(json_array_size(diags) - before);
}

/* The configured string, else the environment variable, else NULL; new
 * heap copy. An empty string counts as unset. */
static char *setting(const json_t *config, const char *name, const char *env) {
    const char *v = json_string_value(value_attr(config, name));
    if (!v || !*v)
        v = env ? getenv(env) : NULL;
    return v && *v ? strdup(v) : NULL;
}

static double number_setting(const json_t *config, const char *name, double dflt) {
    json_t *v = value_attr(config, name);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

void provider_config_free(provider_config *cfg) {
    free(cfg->api_token);
    free(cfg->api_key);
    free(cfg->email);
    free(cfg->base_url);
    memset(cfg, 0, sizeof(*cfg));
}

int provider_config_resolve(const json_t *config, provider_config *cfg, json_t *diags) {
    memset(cfg, 0, sizeof(*cfg));
    if (provider_config_validate(config, diags) > 0)
        return -1;
    json_t *unknown_path = NULL;
    for (size_t i = 0; i < sso_provider_schema.attr_count; i++) {
        const char *name = sso_provider_schema.attrs[i].name;
        if (value_is_unknown(json_object_get(config, name)))
            unknown_path = path_attr(name);
    }
    if (unknown_path) {
        diag_error(diags, unknown_path, "Provider configuration is not known yet",
                   "Every provider setting must be known when the provider is configured.");
        return -1;
    }

    /* Configuration wins over the environment as a whole: a token in the
     * configuration is not combined with a key from the environment. */
    bool config_token = json_is_string(value_attr(config, "api_token"));
    bool config_key = json_is_string(value_attr(config, "api_key"));
    cfg->api_token = setting(config, "api_token", config_key ? NULL : "CLOUDFLARE_API_TOKEN");
    cfg->api_key = setting(config, "api_key", config_token ? NULL : "CLOUDFLARE_API_KEY");
    cfg->email = setting(config, "email", config_token ? NULL : "CLOUDFLARE_EMAIL");
    cfg->base_url = setting(config, "base_url", "CLOUDFLARE_BASE_URL");
    if (!cfg->base_url)
        cfg->base_url = strdup(PROVIDER_DEFAULT_BASE_URL);
    size_t n = strlen(cfg->base_url);
    while (n > 0 && cfg->base_url[n - 1] == '/')
        cfg->base_url[--n] = '\0';
    cfg->max_retries = (int)number_setting(config, "max_retries", 4);
    cfg->request_timeout = number_setting(config, "request_timeout", 30);
    cfg->max_rps = number_setting(config, "max_rps", 0);

    const char *why = NULL;
    if (!provider_base_url_allowed(cfg->base_url, &why)) {
        diag_error(diags, path_attr("base_url"), "Invalid base_url",
                   "%s (from the configuration or CLOUDFLARE_BASE_URL)", why);
    } else if (cfg->api_token && cfg->api_key) {
        diag_error(diags, path_attr("api_token"), "Conflicting authentication settings",
                   "Both an API token and an API key were found (in the configuration or in "
                   "CLOUDFLARE_API_TOKEN / CLOUDFLARE_API_KEY). Set only one.");
    } else if (!cfg->api_token && !cfg->api_key) {
        diag_error(diags, path_attr("api_token"), "Missing Cloudflare credentials",
                   "Set api_token (or CLOUDFLARE_API_TOKEN), or api_key with email "
                   "(or CLOUDFLARE_API_KEY with CLOUDFLARE_EMAIL).");
    } else if (cfg->api_key && !cfg->email) {
        diag_error(diags, path_attr("email"), "Missing email",
                   "The legacy api_key needs email, the account's email address (or "
                   "CLOUDFLARE_EMAIL).");
    } else {
        size_t len = strlen(cfg->base_url);
        const char *suffix = "/client/v4";
        if (len < strlen(suffix) || strcmp(cfg->base_url + len - strlen(suffix), suffix) != 0)
            diag_warning(diags, path_attr("base_url"), "Unusual base_url",
                         "%s does not end with /client/v4, where Cloudflare serves its API; "
                         "did you mean %s/client/v4?",
                         cfg->base_url, cfg->base_url);
        return 0;
    }
    provider_config_free(cfg);
    return -1;
}
