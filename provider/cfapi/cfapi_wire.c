/*
 * cfapi_wire.c - the Cloudflare client's pure helpers (cfapi_internal.h):
 * ids and URLs, the response envelope, Retry-After and backoff, and the
 * text of failure messages (body excerpts, error lists). No I/O
 * and no state, so each is unit-tested on its own (tests/cfapi).
 */
#include "cfapi.h"
#include "cfapi_internal.h"
#include "log.h"

#include <ctype.h>
#include <uv.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* Pure helpers (cfapi_internal.h)                                      */
/* ------------------------------------------------------------------ */

/* The id and domain rules of the Cloudflare API, written once: the
 * resource validates what users type with these (sso_ids.c), and the
 * client applies them again as a second guard before building a URL. */
bool cfapi_id_is_valid(const char *id) {
    if (!id)
        return false;
    size_t n = 0;
    for (; id[n]; n++) {
        if (n >= CFAPI_ID_LEN || !isxdigit((unsigned char)id[n]))
            return false;
    }
    return n == CFAPI_ID_LEN;
}

bool cfapi_domain_is_valid(const char *s) {
    if (!s)
        return false;
    size_t total = strlen(s);
    if (total == 0 || total > CFAPI_DOMAIN_MAX)
        return false;
    size_t labels = 0;
    const char *label = s;
    bool last_all_digits = false;
    for (;;) {
        const char *dot = strchr(label, '.');
        size_t len = dot ? (size_t)(dot - label) : strlen(label);
        if (len == 0 || len > 63 || label[0] == '-' || label[len - 1] == '-')
            return false;
        last_all_digits = true;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)label[i];
            if (!isalnum(c) && c != '-')
                return false;
            if (!isdigit(c))
                last_all_digits = false;
        }
        labels++;
        if (!dot)
            break;
        label = dot + 1;
    }
    return labels >= 2 && !last_all_digits;
}

bool cfapi_domain_equal(const char *a, const char *b) {
    return a && b && strcasecmp(a, b) == 0;
}

json_t *cfapi_find_by_domain(const json_t *list, const char *domain) {
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        if (cfapi_domain_equal(json_string_value(json_object_get(e, "email_domain")), domain) &&
            cfapi_id_is_valid(json_string_value(json_object_get(e, "id"))))
            return e;
    }
    return NULL;
}

size_t cfapi_format_url(char *buf, size_t size, const char *base, const char *account_id,
                        const char *connector_id, bool begin_verification) {
    int n = snprintf(buf, size, "%s/accounts/%s/sso_connectors%s%s%s", base, account_id,
                     connector_id ? "/" : "", connector_id ? connector_id : "",
                     begin_verification ? "/begin_verification" : "");
    return n < 0 ? 0 : (size_t)n;
}

int cfapi_build_url(const char *base, const char *account_id, const char *connector_id,
                    bool begin_verification, char **out) {
    *out = NULL;
    if (!base || !cfapi_id_is_valid(account_id))
        return UV_EINVAL;
    if (connector_id && !cfapi_id_is_valid(connector_id))
        return UV_EINVAL;
    if (begin_verification && !connector_id)
        return UV_EINVAL;
    size_t n = cfapi_format_url(NULL, 0, base, account_id, connector_id, begin_verification);
    *out = malloc(n + 1);
    if (!*out)
        return UV_ENOMEM;
    cfapi_format_url(*out, n + 1, base, account_id, connector_id, begin_verification);
    return 0;
}

void cfapi_envelope_clear(cfapi_envelope *env) {
    json_decref(env->root);
    memset(env, 0, sizeof *env);
}

int cfapi_envelope_decode(const char *body, size_t len, cfapi_envelope *env) {
    memset(env, 0, sizeof *env);
    if (!body || len == 0)
        return UV_EINVAL;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!root)
        return UV_EINVAL;
    json_t *success = json_object_get(root, "success");
    json_t *errors = json_object_get(root, "errors");
    if (!json_is_object(root) || !json_is_boolean(success) ||
        (errors && !json_is_null(errors) && !json_is_array(errors))) {
        json_decref(root);
        return UV_EINVAL;
    }
    env->root = root;
    env->success = json_is_true(success);
    json_t *result = json_object_get(root, "result");
    env->result = json_is_null(result) ? NULL : result;
    env->errors = json_is_array(errors) ? errors : NULL;
    return 0;
}

/* Skips optional whitespace (SP / HTAB, RFC 9110's OWS). */
static const char *skip_ows(const char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Parses 1*DIGIT filling the whole string (OWS around it allowed):
 * delta-seconds as RFC 9110 defines them; with `fraction`, also
 * 1*DIGIT "." 1*DIGIT (Retry-After-Ms, which is no standard and whose
 * senders write milliseconds with a fraction). No sign, no exponent, no
 * hex ("0x10" is not 16), no "inf"/"nan". Values past 1e12 saturate there
 * (far above any clamp applied later). */
static bool parse_decimal(const char *s, bool fraction, double *out) {
    s = skip_ows(s);
    if (!(*s >= '0' && *s <= '9'))
        return false;
    double v = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        v = v < 1e12 ? v * 10 + (*s - '0') : 1e12;
    if (*s == '.' && fraction) {
        s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        for (double scale = 0.1; *s >= '0' && *s <= '9'; s++, scale /= 10)
            v += (*s - '0') * scale;
    }
    if (*skip_ows(s) != '\0')
        return false;
    *out = v > 1e12 ? 1e12 : v;
    return true;
}

/* Takes exactly `n` digits at *p into *v. */
static bool take_digits(const char **p, int n, int *v) {
    int x = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9')
            return false;
        x = x * 10 + (ch - '0');
    }
    *p += n;
    *v = x;
    return true;
}

/* Takes the literal `lit` at *p. */
static bool take_lit(const char **p, const char *lit) {
    size_t n = strlen(lit);
    if (strncmp(*p, lit, n) != 0)
        return false;
    *p += n;
    return true;
}

/* Takes one of `names` (case-sensitive, as RFC 9110 writes them) at *p;
 * sets *index. */
static bool take_name(const char **p, const char *const *names, int count, int *index) {
    for (int i = 0; i < count; i++) {
        if (take_lit(p, names[i])) {
            *index = i;
            return true;
        }
    }
    return false;
}

/* Takes time-of-day: hour ":" minute ":" second, two digits each. */
static bool take_time(const char **p, struct tm *tm) {
    return take_digits(p, 2, &tm->tm_hour) && take_lit(p, ":") && take_digits(p, 2, &tm->tm_min) &&
           take_lit(p, ":") && take_digits(p, 2, &tm->tm_sec);
}

static const char *const MONTHS[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const DAYS[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const LONG_DAYS[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                        "Friday", "Saturday", "Sunday"};

/* Parses an HTTP-date (RFC 9110 section 5.6.7) into *t: the IMF-fixdate
 * "Sun, 06 Nov 1994 08:49:37 GMT", and the two obsolete forms a recipient
 * must accept, RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" (a two-digit year
 * more than 50 years after `now`'s is taken as the century before) and
 * asctime "Sun Nov  6 08:49:37 1994". Nothing else: curl_getdate() also
 * takes time zones, bare numbers and many other forms a server has no
 * business sending here. The weekday must be a valid name but is not
 * checked against the date. */
static bool parse_http_date(const char *s, time_t now, time_t *t) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = skip_ows(s);
    int day_index, month = -1, year = 0;
    if (take_name(&p, LONG_DAYS, 7, &day_index) && take_lit(&p, ", ")) {
        /* RFC 850: DD-Mon-YY */
        int yy;
        if (!take_digits(&p, 2, &tm.tm_mday) || !take_lit(&p, "-") ||
            !take_name(&p, MONTHS, 12, &month) || !take_lit(&p, "-") || !take_digits(&p, 2, &yy) ||
            !take_lit(&p, " ") || !take_time(&p, &tm) || !take_lit(&p, " GMT"))
            return false;
        struct tm now_tm;
        gmtime_r(&now, &now_tm);
        year = 1900 + now_tm.tm_year - (1900 + now_tm.tm_year) % 100 + yy;
        if (year > 1900 + now_tm.tm_year + 50)
            year -= 100;
    } else if (take_name(&p, DAYS, 7, &day_index)) {
        if (take_lit(&p, ", ")) {
            /* IMF-fixdate: DD Mon YYYY */
            if (!take_digits(&p, 2, &tm.tm_mday) || !take_lit(&p, " ") ||
                !take_name(&p, MONTHS, 12, &month) || !take_lit(&p, " ") ||
                !take_digits(&p, 4, &year) || !take_lit(&p, " ") || !take_time(&p, &tm) ||
                !take_lit(&p, " GMT"))
                return false;
        } else {
            /* asctime: Mon DD (or " D") time YYYY */
            if (!take_lit(&p, " ") || !take_name(&p, MONTHS, 12, &month) || !take_lit(&p, " "))
                return false;
            if (*p == ' ') {
                p++;
                if (!take_digits(&p, 1, &tm.tm_mday))
                    return false;
            } else if (!take_digits(&p, 2, &tm.tm_mday)) {
                return false;
            }
            if (!take_lit(&p, " ") || !take_time(&p, &tm) || !take_lit(&p, " ") ||
                !take_digits(&p, 4, &year))
                return false;
        }
    } else {
        return false;
    }
    if (*skip_ows(p) != '\0')
        return false;
    static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int max_day = month == 1 && !leap ? 28 : month_days[month];
    if (tm.tm_mday < 1 || tm.tm_mday > max_day || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60 || year < 1900)
        return false;
    tm.tm_mon = month;
    tm.tm_year = year - 1900;
    time_t v = timegm(&tm);
    if (v == (time_t)-1)
        return false;
    *t = v;
    return true;
}

int cfapi_retry_after_ms(const char *retry_after, const char *retry_after_ms, time_t now,
                         uint64_t *delay_ms) {
    double v;
    time_t t;
    double ms = -1;
    if (retry_after_ms && parse_decimal(retry_after_ms, true, &v)) {
        ms = v;
    } else if (retry_after && *retry_after) {
        if (parse_decimal(retry_after, false, &v))
            ms = v * 1000.0;
        else if (parse_http_date(retry_after, now, &t))
            ms = t > now ? (double)(t - now) * 1000.0 : 0;
    }
    if (ms < 0)
        return UV_EINVAL;
    if (ms > CFAPI_MAX_RETRY_AFTER_MS)
        ms = CFAPI_MAX_RETRY_AFTER_MS;
    *delay_ms = (uint64_t)ms;
    return 0;
}

uint64_t cfapi_wait_budget_ms(long timeout_ms) {
    return timeout_ms > (long)CFAPI_MIN_WAIT_BUDGET_MS ? (uint64_t)timeout_ms
                                                       : CFAPI_MIN_WAIT_BUDGET_MS;
}

uint64_t cfapi_backoff_ms(unsigned base_ms, unsigned retries_done, uint32_t rnd) {
    uint64_t full = base_ms ? base_ms : CFAPI_DEFAULT_BACKOFF_BASE_MS;
    for (unsigned i = 0; i < retries_done && full < CFAPI_MAX_BACKOFF_MS; i++)
        full *= 2;
    if (full > CFAPI_MAX_BACKOFF_MS)
        full = CFAPI_MAX_BACKOFF_MS;
    uint64_t half = full / 2;
    return (full - half) + (uint64_t)rnd % (half + 1);
}

/* Appends printf-style text to a malloc'd string (NULL counts as "").
 * Returns 0 or UV_ENOMEM (leaving *s as it was). */
int cfapi_strappf(char **s, const char *fmt, ...) {
    va_list ap;
    char *add = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&add, fmt, ap);
    va_end(ap);
    if (n < 0)
        return UV_ENOMEM;
    size_t old = *s ? strlen(*s) : 0;
    char *joined = realloc(*s, old + (size_t)n + 1);
    if (!joined) {
        free(add);
        return UV_ENOMEM;
    }
    memcpy(joined + old, add, (size_t)n + 1);
    free(add);
    *s = joined;
    return 0;
}

int cfapi_append_errors(char **text, json_t *errors) {
    size_t i;
    json_t *e;
    if (!json_is_array(errors))
        return 0;
    json_array_foreach(errors, i, e) {
        if (i >= 10) {
            return cfapi_strappf(text, "%s(%zu more errors)", *text && **text ? "\n" : "",
                                 json_array_size(errors) - 10);
        }
        json_t *code = json_object_get(e, "code");
        const char *msg = json_string_value(json_object_get(e, "message"));
        char codebuf[32] = "?";
        if (json_is_integer(code))
            snprintf(codebuf, sizeof codebuf, "%" JSON_INTEGER_FORMAT, json_integer_value(code));
        else if (json_is_string(code)) {
            /* masked before it is cut, like every text from the server */
            const char *code_text = json_string_value(code);
            char *cut = log_redact_excerpt(code_text, strlen(code_text), 20);
            snprintf(codebuf, sizeof codebuf, "%s", cut ? cut : "?");
            free(cut);
        }
        char *safe = msg ? log_redact_excerpt(msg, strlen(msg), 300) : NULL;
        int rc = cfapi_strappf(text, "%sCloudflare error %s%s%s", *text && **text ? "\n" : "",
                               codebuf, safe ? ": " : "", safe ? safe : "");
        free(safe);
        if (rc)
            return rc;
    }
    return 0;
}
