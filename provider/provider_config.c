/*
 * provider_config.c - provider block validation and resolution (see
 * provider_config.h).
 */
#include "provider_config.h"

#include "http_uv.h"
#include "schema.h"
#include "sso_schema.h"

#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Checks the authority of a base URL (the text between "scheme://" and
 * the first '/' or the end), `len` bytes at `a`: host[:port] with no user
 * information, the host a DNS name or a bracketed IPv6 literal, the port
 * 1-65535. On success sets *host_len to the host's length (brackets
 * included). Returns NULL, or the reason it is refused. */
static const char *check_authority(const char *a, size_t len, size_t *host_len) {
    if (memchr(a, '@', len))
        return "It must not contain user information (user:password@); use api_token "
               "instead.";
    size_t h = 0;
    if (len > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', len);
        if (!close || close == a + 1)
            return "Its IPv6 address is not closed with ']'.";
        h = (size_t)(close - a) + 1;
        for (size_t i = 1; i + 1 < h; i++)
            if (!isxdigit((unsigned char)a[i]) && a[i] != ':' && a[i] != '.')
                return "Its IPv6 address holds a character other than hex digits, ':' and '.'.";
    } else {
        while (h < len && (isalnum((unsigned char)a[h]) || a[h] == '-' || a[h] == '.'))
            h++;
        if (h == 0)
            return "It needs a host after the scheme (https://host/...).";
        if (a[0] == '.' || a[h - 1] == '.' || memmem(a, h, "..", 2))
            return "Its host has an empty label (a leading, trailing or doubled '.').";
    }
    *host_len = h;
    if (h == len)
        return NULL;
    if (a[h] != ':')
        return "Its host holds a character that is not allowed in a host name.";
    size_t digits = len - h - 1;
    if (digits == 0 || digits > 5 || strspn(a + h + 1, "0123456789") < digits)
        return "Its port must be a number from 1 to 65535.";
    long port = strtol(a + h + 1, NULL, 10);
    if (port < 1 || port > 65535)
        return "Its port must be a number from 1 to 65535.";
    return NULL;
}

/* The rule is written out here rather than left to libcurl's URL parser,
 * which accepts far more than a base URL may be: "https:/host" (one
 * slash), a trailing "#" that silently cuts every request path off,
 * "127.1" and "0x7f.0.0.1" (normalized to 127.0.0.1), "127.0.0.1." (sent
 * to DNS). The text is checked as typed, then libcurl must accept it too. */
bool provider_base_url_allowed(const char *url, const char **why) {
    *why = NULL;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            *why = "It holds a space, a control character or a non-ASCII byte.";
            return false;
        }
    }
    if (strpbrk(url, "?#")) {
        *why = "It must not contain a query or a fragment ('?' or '#'): every request path is "
               "appended to it.";
        return false;
    }
    if (strchr(url, '\\')) {
        *why = "It must not contain a backslash.";
        return false;
    }
    bool is_http = strncasecmp(url, "http:", 5) == 0;
    bool is_https = strncasecmp(url, "https:", 6) == 0;
    if (!is_http && !is_https) {
        *why = strstr(url, "://") ? "Only https:// (and http:// to a loopback host) is supported."
                                  : "It is not a valid absolute URL (https://host/...).";
        return false;
    }
    const char *rest = url + (is_https ? 6 : 5);
    if (strncmp(rest, "//", 2) != 0 || rest[2] == '/') {
        *why = "The scheme must be followed by exactly two slashes and the host "
               "(https://host/...).";
        return false;
    }
    const char *authority = rest + 2;
    size_t authority_len = strcspn(authority, "/");
    size_t host_len = 0;
    const char *bad = check_authority(authority, authority_len, &host_len);
    if (bad) {
        *why = bad;
        return false;
    }
    if (is_http && !http_host_is_loopback(authority, host_len)) {
        *why = "http:// is only allowed for a literal loopback host (localhost, 127.x.y.z with "
               "four decimal parts, [::1]); use https://.";
        return false;
    }
    CURLU *u = curl_url();
    if (!u) {
        *why = "out of memory";
        return false;
    }
    bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK;
    if (!ok)
        *why = "It is not a valid absolute URL (https://host/...).";
    curl_url_cleanup(u);
    return ok;
}

/* Checks one credential (api_token, api_key or email) once it is known:
 * at most `max` bytes, and only printable ASCII without spaces, since it
 * is sent as an HTTP header value (a CR or LF would split the header; a
 * stray space or newline from a copy-paste would only make Cloudflare
 * answer 401 later). `source` ends the detail, e.g. " (from the
 * configuration or CLOUDFLARE_API_TOKEN)". The diagnostic names the
 * attribute and says what is wrong and where, never the value. Returns
 * true when the value is acceptable. */
static bool check_credential(const char *name, const char *value, size_t max, const char *source,
                             json_t *diags) {
    size_t len = strlen(value);
    if (len > max) {
        diag_error_new(diags, path_attr(name), "Invalid provider setting",
                       "%s is %zu bytes long; at most %zu are accepted%s.", name, len, max, source);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)value[i];
        if (ch > 0x20 && ch < 0x7f)
            continue;
        const char *what = ch == '\r' || ch == '\n'  ? "a line break"
                           : ch == ' '               ? "a space"
                           : ch < 0x20 || ch == 0x7f ? "a control character"
                                                     : "a non-ASCII byte";
        diag_error_new(diags, path_attr(name), "Invalid provider setting",
                       "%s holds %s at byte %zu of %zu; it must be printable ASCII without spaces "
                       "or line breaks%s.",
                       name, what, i + 1, len, source);
        return false;
    }
    return true;
}

/* Checks one numeric setting against its range; unknown or null passes. */
static void check_number(const json_t *config, const char *name, double min, double max,
                         bool integer, json_t *diags) {
    json_t *v = value_attr(config, name);
    if (!v || !json_is_number(v))
        return;
    double d = json_number_value(v);
    if (!isfinite(d) || d < min || d > max || (integer && d != floor(d)))
        diag_error_new(diags, path_attr(name), "Invalid provider setting",
                       "%s must be %s between %g and %g.", name,
                       integer ? "a whole number" : "a number", min, max);
}

int provider_config_validate(const json_t *config, json_t *diags) {
    size_t before = json_array_size(diags);
    /* api_email was this provider's name for email until it took the
     * official provider's name; say so rather than only "unsupported". */
    if (json_is_object(config) && json_object_get(config, "api_email")) {
        diag_error_new(diags, path_attr("api_email"), "Unsupported argument",
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
        diag_error_new(diags, path_attr("base_url"), "Invalid base_url", "%s", why);
    static const struct {
        const char *name;
        size_t max;
    } credentials[] = {
        {"api_token", PROVIDER_SECRET_MAX},
        {"api_key", PROVIDER_SECRET_MAX},
        {"email", PROVIDER_EMAIL_MAX},
    };
    for (size_t i = 0; i < sizeof credentials / sizeof credentials[0]; i++) {
        const char *v = json_string_value(value_attr(config, credentials[i].name));
        if (v)
            check_credential(credentials[i].name, v, credentials[i].max, "", diags);
    }
    bool has_token = json_is_string(value_attr(config, "api_token"));
    bool has_key = json_is_string(value_attr(config, "api_key"));
    bool has_email = json_is_string(value_attr(config, "email"));
    if (has_token && (has_key || has_email))
        diag_error_new(diags, path_attr("api_key"), "Conflicting authentication settings",
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
        diag_error_new(diags, unknown_path, "Provider configuration is not known yet",
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

    /* Validation saw the configured credentials; these checks catch the
     * ones that came from the environment. */
    if ((cfg->api_token &&
         !check_credential("api_token", cfg->api_token, PROVIDER_SECRET_MAX,
                           " (from the configuration or CLOUDFLARE_API_TOKEN)", diags)) ||
        (cfg->api_key &&
         !check_credential("api_key", cfg->api_key, PROVIDER_SECRET_MAX,
                           " (from the configuration or CLOUDFLARE_API_KEY)", diags)) ||
        (cfg->email && !check_credential("email", cfg->email, PROVIDER_EMAIL_MAX,
                                         " (from the configuration or CLOUDFLARE_EMAIL)", diags))) {
        provider_config_free(cfg);
        return -1;
    }
    const char *why = NULL;
    if (!provider_base_url_allowed(cfg->base_url, &why)) {
        diag_error_new(diags, path_attr("base_url"), "Invalid base_url",
                       "%s (from the configuration or CLOUDFLARE_BASE_URL)", why);
    } else if (cfg->api_token && cfg->api_key) {
        diag_error_new(diags, path_attr("api_token"), "Conflicting authentication settings",
                       "Both an API token and an API key were found (in the configuration or in "
                       "CLOUDFLARE_API_TOKEN / CLOUDFLARE_API_KEY). Set only one.");
    } else if (!cfg->api_token && !cfg->api_key) {
        diag_error_new(diags, path_attr("api_token"), "Missing Cloudflare credentials",
                       "Set api_token (or CLOUDFLARE_API_TOKEN), or api_key with email "
                       "(or CLOUDFLARE_API_KEY with CLOUDFLARE_EMAIL).");
    } else if (cfg->api_key && !cfg->email) {
        diag_error_new(diags, path_attr("email"), "Missing email",
                       "The legacy api_key needs email, the account's email address (or "
                       "CLOUDFLARE_EMAIL).");
    } else {
        size_t len = strlen(cfg->base_url);
        const char *suffix = "/client/v4";
        if (len < strlen(suffix) || strcmp(cfg->base_url + len - strlen(suffix), suffix) != 0)
            diag_warning_new(diags, path_attr("base_url"), "Unusual base_url",
                             "%s does not end with /client/v4, where Cloudflare serves its API; "
                             "did you mean %s/client/v4?",
                             cfg->base_url, cfg->base_url);
        return 0;
    }
    provider_config_free(cfg);
    return -1;
}
