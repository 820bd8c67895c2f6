/*
 * api.c - routes of the Cloudflare API.
 */
#include "api.h"

#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define API_PREFIX "/client/v4"

typedef enum route_kind { ROUTE_NONE, ROUTE_LIST, ROUTE_ONE, ROUTE_BEGIN } route_kind;

typedef struct route {
    route_kind kind;
    char account_id[33];
    char connector_id[33];
} route;

long long api_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void api_too_large(sim_reply *out) {
    reply_cf_error(out, 413, API_E_TOO_LARGE, "Request body too large (the limit is %d bytes)",
                   SIM_MAX_BODY);
}

/*
 * Splits the path after /client/v4 into at most 5 segments and matches
 * accounts/{hex32}/sso_connectors[/{hex32}[/begin_verification]]. Anything
 * else, including an identifier that is not 32 hex digits or an empty
 * segment (a trailing '/'), is ROUTE_NONE: Cloudflare's router answers 7003
 * for both.
 */
static route_kind parse_route(const char *path, route *rt) {
    memset(rt, 0, sizeof(*rt));
    size_t plen = strlen(API_PREFIX);
    if (strncmp(path, API_PREFIX, plen) != 0 || path[plen] != '/')
        return ROUTE_NONE;
    const char *p = path + plen + 1;
    char seg[5][40];
    size_t n = 0;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 5 || len == 0 || len >= sizeof(seg[0]))
            return ROUTE_NONE;
        memcpy(seg[n], p, len);
        seg[n][len] = '\0';
        n++;
        if (!slash)
            break;
        p = slash + 1;
    }
    if (n < 3 || strcmp(seg[0], "accounts") != 0 || !validate_is_hex32(seg[1]) ||
        strcmp(seg[2], "sso_connectors") != 0)
        return ROUTE_NONE;
    memcpy(rt->account_id, seg[1], 33);
    if (n == 3)
        return rt->kind = ROUTE_LIST;
    if (!validate_is_hex32(seg[3]))
        return ROUTE_NONE;
    memcpy(rt->connector_id, seg[3], 33);
    if (n == 4)
        return rt->kind = ROUTE_ONE;
    if (n == 5 && strcmp(seg[4], "begin_verification") == 0)
        return rt->kind = ROUTE_BEGIN;
    return ROUTE_NONE;
}

static const char *allowed_methods(route_kind kind) {
    switch (kind) {
    case ROUTE_LIST:
        return "GET, POST";
    case ROUTE_ONE:
        return "GET, PATCH, DELETE";
    case ROUTE_BEGIN:
        return "POST";
    default:
        return "";
    }
}

static bool method_allowed(route_kind kind, const char *method) {
    const char *list = allowed_methods(kind);
    size_t mlen = strlen(method);
    if (mlen == 0)
        return false;
    for (const char *p = list; (p = strstr(p, method)) != NULL; p += mlen) {
        bool starts = p == list || p[-1] == ' ';
        bool ends = p[mlen] == ',' || p[mlen] == '\0';
        if (starts && ends)
            return true;
    }
    return false;
}

/* Constant-time-ish equality so the simulator does not teach bad habits. */
static bool secret_equals(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static bool is_authenticated(const sim_app *app, const sim_request *rq) {
    const sim_config *cfg = &app->cfg;
    if (cfg->token && rq->authorization && strncasecmp(rq->authorization, "Bearer ", 7) == 0 &&
        secret_equals(rq->authorization + 7, cfg->token))
        return true;
    if (cfg->email && cfg->key && rq->auth_email && rq->auth_key &&
        strcasecmp(rq->auth_email, cfg->email) == 0 && secret_equals(rq->auth_key, cfg->key))
        return true;
    return false;
}

/*
 * Reads a positive integer query parameter from the raw query string.
 * Returns 0 when absent (*out untouched), 1 when read, -1 when malformed.
 */
static int query_uint(const char *query, const char *name, unsigned max, unsigned *out) {
    size_t nlen = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            char buf[16];
            size_t vlen = len - nlen - 1;
            if (vlen == 0 || vlen >= sizeof(buf))
                return -1;
            memcpy(buf, p + nlen + 1, vlen);
            buf[vlen] = '\0';
            char *end;
            unsigned long v = strtoul(buf, &end, 10);
            if (*end || buf[0] < '0' || buf[0] > '9' || v < 1 || v > max)
                return -1;
            *out = (unsigned)v;
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

/*
 * GET /accounts/{a}/sso_connectors. The SDK treats this list as a single
 * page, so without paging parameters every connector comes back at once
 * (unless --page-size sets a default page size); page and per_page
 * (1..1000) are honoured when given.
 */
static void do_list(sim_app *app, const sim_request *rq, const route *rt, sim_reply *out) {
    unsigned page = 1, per_page = 0;
    int has_page = query_uint(rq->query, "page", 1000000, &page);
    int has_per_page = query_uint(rq->query, "per_page", 1000, &per_page);
    if (has_page < 0 || has_per_page < 0) {
        reply_cf_error(out, 400, API_E_BAD_QUERY,
                       "page and per_page must be positive integers (per_page at most 1000)");
        return;
    }
    store_connector *items;
    size_t n;
    if (store_list(app->store, rt->account_id, &items, &n) < 0) {
        reply_cf_error(out, 500, API_E_INTERNAL, "Internal error");
        return;
    }
    if (!has_per_page && app->cfg.page_size)
        per_page = app->cfg.page_size;
    else if (!has_per_page)
        per_page = n > 0 && !has_page ? (unsigned)n : 20;
    size_t first = (size_t)(page - 1) * per_page;
    json_t *list = json_array();
    for (size_t i = first; i < n && i < first + per_page; i++)
        json_array_append_new(list, store_connector_json(&items[i], false));
    free(items);
    json_t *info =
        json_pack("{s:I, s:I, s:I, s:I}", "count", (json_int_t)json_array_size(list), "page",
                  (json_int_t)page, "per_page", (json_int_t)per_page, "total_count", (json_int_t)n);
    reply_cf_success_new(out, 200, list, info);
}

/* Answers 400 for the first member of `body` not in `allowed`; true when
 * it did. */
static bool refuse_unknown(json_t *body, const char *const allowed[], sim_reply *out) {
    const char *unknown = validate_unknown_member(body, allowed);
    if (!unknown)
        return false;
    reply_cf_error(out, 400, API_E_UNKNOWN_FIELD, "%s: unknown field", unknown);
    return true;
}

/* Parses the body as an object; answers 400 and returns NULL on failure. */
static json_t *body_object(const sim_request *rq, bool empty_ok, sim_reply *out) {
    char err[256];
    json_t *body;
    if (validate_parse_object(rq->body, rq->body_len, empty_ok, &body, err, sizeof(err)) < 0) {
        reply_cf_error(out, 400, API_E_MALFORMED_JSON, "%s", err);
        return NULL;
    }
    return body;
}

/* Reads optional boolean members, answering 400 for the first mistyped
 * one. Returns true when all are fine. */
static bool read_bools(json_t *body, const char *const names[], bool *values[], bool *present[],
                       sim_reply *out) {
    for (size_t i = 0; names[i]; i++) {
        if (validate_opt_bool(body, names[i], values[i], present[i]) < 0) {
            reply_cf_error(out, 400, API_E_FIELD_TYPE, "%s: must be a boolean", names[i]);
            return false;
        }
    }
    return true;
}

/*
 * POST /accounts/{a}/sso_connectors. Validation runs in a fixed order
 * (unknown members first, then email_domain, then the flags) so
 * the first problem reported is stable; the duplicate check happens inside
 * store_create under the store lock.
 */
static void do_create(sim_app *app, const sim_request *rq, const route *rt, sim_reply *out) {
    static const char *const allowed[] = {"email_domain", "begin_verification",
                                          "use_fedramp_language", NULL};
    json_t *body = body_object(rq, false, out);
    if (!body || refuse_unknown(body, allowed, out))
        goto done;
    json_t *domain = json_object_get(body, "email_domain");
    if (!domain) {
        reply_cf_error(out, 400, API_E_MISSING_FIELD, "email_domain: required field is missing");
        goto done;
    }
    if (!json_is_string(domain)) {
        reply_cf_error(out, 400, API_E_FIELD_TYPE, "email_domain: must be a string");
        goto done;
    }
    if (!validate_is_domain(json_string_value(domain)) ||
        strlen(json_string_value(domain)) != json_string_length(domain)) {
        reply_cf_error(out, 400, API_E_BAD_DOMAIN, "email_domain: \"%.253s\" is not a valid domain",
                       json_string_value(domain));
        goto done;
    }
    bool begin = true, fedramp = false, has_begin, has_fedramp;
    static const char *const names[] = {"begin_verification", "use_fedramp_language", NULL};
    bool *values[] = {&begin, &fedramp};
    bool *present[] = {&has_begin, &has_fedramp};
    if (!read_bools(body, names, values, present, out))
        goto done;
    store_connector tmpl = {0}, created;
    memcpy(tmpl.account_id, rt->account_id, sizeof(tmpl.account_id));
    snprintf(tmpl.email_domain, sizeof(tmpl.email_domain), "%s", json_string_value(domain));
    tmpl.use_fedramp_language = fedramp;
    tmpl.status = begin ? STORE_PENDING : STORE_AWAITING;
    int rc = store_create(app->store, &tmpl, &created);
    if (rc == STORE_EEXIST)
        reply_cf_error(out, 409, API_E_EXISTS,
                       "An SSO connector for email domain %s already exists in this account",
                       tmpl.email_domain);
    else if (rc == STORE_EFULL)
        reply_cf_error(out, 400, API_E_LIMIT, "Too many SSO connectors (at most %d)",
                       STORE_MAX_CONNECTORS);
    else if (rc < 0)
        reply_cf_error(out, 500, API_E_INTERNAL, "Internal error");
    else
        reply_cf_success_new(out, 200, store_connector_json(&created, false), NULL);
done:
    json_decref(body);
}

static void not_found(sim_reply *out) {
    reply_cf_error(out, 404, API_E_NOT_FOUND, "SSO connector not found");
}

static void do_get(sim_app *app, const route *rt, sim_reply *out) {
    store_connector c;
    if (store_get(app->store, rt->account_id, rt->connector_id, &c) < 0)
        not_found(out);
    else
        reply_cf_success_new(out, 200, store_connector_json(&c, false), NULL);
}

/*
 * PATCH /accounts/{a}/sso_connectors/{id}: only enabled and
 * use_fedramp_language. The "must be verified" rule is checked by the store
 * under its lock, against the connector's current status.
 */
static void do_patch(sim_app *app, const sim_request *rq, const route *rt, sim_reply *out) {
    static const char *const allowed[] = {"enabled", "use_fedramp_language", NULL};
    json_t *body = body_object(rq, false, out);
    if (!body || refuse_unknown(body, allowed, out))
        goto done;
    store_change u = {0};
    static const char *const names[] = {"enabled", "use_fedramp_language", NULL};
    bool *values[] = {&u.enabled, &u.use_fedramp_language};
    bool *present[] = {&u.has_enabled, &u.has_fedramp};
    if (!read_bools(body, names, values, present, out))
        goto done;
    store_connector c;
    int rc = store_update(app->store, rt->account_id, rt->connector_id, &u,
                          !app->cfg.lenient_enable, &c);
    if (rc == STORE_ENOTFOUND)
        not_found(out);
    else if (rc == STORE_EUNVERIFIED)
        reply_cf_error(out, 400, API_E_NOT_VERIFIED,
                       "enabled: the SSO connector cannot be enabled before its domain is "
                       "verified (verification status is %s)",
                       store_status_name(c.status));
    else if (rc < 0)
        reply_cf_error(out, 500, API_E_INTERNAL, "Internal error");
    else
        reply_cf_success_new(out, 200, store_connector_json(&c, false), NULL);
done:
    json_decref(body);
}

/* DELETE /accounts/{a}/sso_connectors/{id}: answers {"id": id}. */
static void do_delete(sim_app *app, const route *rt, sim_reply *out) {
    store_connector c;
    if (store_get(app->store, rt->account_id, rt->connector_id, &c) < 0 ||
        store_delete(app->store, rt->account_id, rt->connector_id) < 0)
        not_found(out);
    else
        reply_cf_success_new(out, 200, json_pack("{s:s}", "id", c.id), NULL);
}

/*
 * POST .../{id}/begin_verification: status back to pending. The answer has
 * no "result" member at all, as in the reference.
 */
static void do_begin(sim_app *app, const sim_request *rq, const route *rt, sim_reply *out) {
    static const char *const allowed[] = {NULL};
    json_t *body = body_object(rq, true, out);
    if (!body || refuse_unknown(body, allowed, out))
        goto done;
    store_change u = {.has_status = true, .status = STORE_PENDING};
    store_connector c;
    if (store_update(app->store, rt->account_id, rt->connector_id, &u, false, &c) < 0)
        not_found(out);
    else
        reply_cf_success_new(out, 200, NULL, NULL);
done:
    json_decref(body);
}

/*
 * Counts the request against the limit and adds Cloudflare's rate-limit
 * headers. Returns true when the request may go on; otherwise *out holds
 * the 429.
 */
static bool pass_rate_limit(sim_app *app, sim_reply *out) {
    if (!app->rl)
        return true;
    unsigned remaining, reset_s;
    bool allowed = ratelimit_take(app->rl, api_now_ms(), &remaining, &reset_s);
    if (!allowed) {
        reply_cf_error(out, 429, API_E_RATE_LIMITED,
                       "Please wait and consider throttling your request speed");
        reply_add_header(out, "Retry-After", "%u", reset_s);
    }
    reply_add_header(out, "Ratelimit", "\"default\";r=%u;t=%u", remaining, reset_s);
    reply_add_header(out, "Ratelimit-Policy", "\"burst\";q=%u;w=%u", ratelimit_limit(app->rl),
                     ratelimit_window(app->rl));
    return allowed;
}

void api_handle(sim_app *app, const sim_request *rq, sim_reply *out) {
    if (!pass_rate_limit(app, out))
        return;
    route rt;
    if (parse_route(rq->path, &rt) == ROUTE_NONE) {
        size_t plen = strlen(API_PREFIX);
        const char *shown = strncmp(rq->path, API_PREFIX, plen) == 0 && rq->path[plen] == '/'
                                ? rq->path + plen
                                : rq->path;
        reply_cf_error(out, 404, API_E_ROUTE,
                       "Could not route to %.300s, perhaps your object identifier is invalid?",
                       shown);
        return;
    }
    if (!method_allowed(rt.kind, rq->method)) {
        reply_cf_error(out, 405, API_E_METHOD, "Method %.16s not allowed on this route",
                       rq->method);
        reply_add_header(out, "Allow", "%s", allowed_methods(rt.kind));
        return;
    }
    if (!is_authenticated(app, rq)) {
        reply_cf_error(out, 403, API_E_AUTH, "Authentication error");
        return;
    }
    bool is_get = strcmp(rq->method, "GET") == 0;
    switch (rt.kind) {
    case ROUTE_LIST:
        if (is_get)
            do_list(app, rq, &rt, out);
        else
            do_create(app, rq, &rt, out);
        break;
    case ROUTE_ONE:
        if (is_get)
            do_get(app, &rt, out);
        else if (strcmp(rq->method, "PATCH") == 0)
            do_patch(app, rq, &rt, out);
        else
            do_delete(app, &rt, out);
        break;
    case ROUTE_BEGIN:
        do_begin(app, rq, &rt, out);
        break;
    default:
        break;
    }
}
