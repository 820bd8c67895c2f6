/*
 * control.c - the /__sim/ control plane.
 */
#include "control.h"

#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/__sim"

bool control_owns(const char *path) {
    size_t n = strlen(PREFIX);
    return strncmp(path, PREFIX, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static void fail(sim_reply *out, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(sim_reply *out, int status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *text = reqlog_string(msg, strlen(msg));
    reply_json_new(out, status, json_pack("{s:b, s:o}", "ok", 0, "error", text));
}

void control_too_large(sim_reply *out) {
    fail(out, 413, "request body too large (the limit is %d bytes)", SIM_MAX_BODY);
}

static void ok(sim_reply *out) {
    reply_json_new(out, 200, json_pack("{s:b}", "ok", 1));
}

static bool is(const sim_request *rq, const char *method) {
    return strcmp(rq->method, method) == 0;
}

/* Parses the body (a JSON object, required) and refuses unknown members.
 * Returns a new reference or NULL after answering 400. */
static json_t *body_object(const sim_request *rq, const char *const allowed[], sim_reply *out) {
    char err[256];
    json_t *body;
    if (validate_parse_object(rq->body, rq->body_len, false, &body, err, sizeof(err)) < 0) {
        fail(out, 400, "%s", err);
        return NULL;
    }
    const char *unknown = validate_unknown_member(body, allowed);
    if (unknown) {
        fail(out, 400, "unknown field %s", unknown);
        json_decref(body);
        return NULL;
    }
    return body;
}

/*
 * Reads the connector fields a control-plane body may set into *u. The
 * status member is named `status_name` ("status" for /verification,
 * "verification_status" elsewhere). Answers 400 and returns -1 on a bad
 * member.
 */
static int read_update(json_t *body, const char *status_name, store_change *u, sim_reply *out) {
    memset(u, 0, sizeof(*u));
    if (validate_opt_bool(body, "enabled", &u->enabled, &u->has_enabled) < 0) {
        fail(out, 400, "enabled must be a boolean");
        return -1;
    }
    if (validate_opt_bool(body, "use_fedramp_language", &u->use_fedramp_language, &u->has_fedramp) <
        0) {
        fail(out, 400, "use_fedramp_language must be a boolean");
        return -1;
    }
    json_t *st = json_object_get(body, status_name);
    if (st) {
        if (store_status_parse(json_string_value(st), &u->status) < 0) {
            fail(out, 400, "%s must be one of awaiting, pending, failed, verified", status_name);
            return -1;
        }
        u->has_status = true;
    }
    json_t *domain = json_object_get(body, "email_domain");
    if (domain) {
        if (!validate_is_domain(json_string_value(domain)) ||
            strlen(json_string_value(domain)) != json_string_length(domain)) {
            fail(out, 400, "email_domain must be a valid domain name");
            return -1;
        }
        u->email_domain = json_string_value(domain);
    }
    return 0;
}

/* Answers a store result: the connector, or the matching error. */
static void answer_connector(int rc, const store_connector *c, int ok_status, sim_reply *out) {
    if (rc == STORE_ENOTFOUND)
        fail(out, 404, "no such connector");
    else if (rc == STORE_EEXIST)
        fail(out, 409, "the account already has a connector for %s", c->email_domain);
    else if (rc == STORE_EFULL)
        fail(out, 400, "too many connectors (at most %d)", STORE_MAX_CONNECTORS);
    else if (rc < 0)
        fail(out, 500, "internal error");
    else
        reply_json_new(out, ok_status, store_connector_json(c, false));
}

/* PATCH /__sim/connectors/{id} and POST /__sim/connectors/{id}/verification. */
static void change_connector(sim_app *app, const sim_request *rq, const char *id,
                             bool verification_only, sim_reply *out) {
    static const char *const patch_fields[] = {"enabled", "use_fedramp_language", "email_domain",
                                               "verification_status", NULL};
    static const char *const verify_fields[] = {"status", NULL};
    json_t *body = body_object(rq, verification_only ? verify_fields : patch_fields, out);
    store_change u;
    if (!body ||
        read_update(body, verification_only ? "status" : "verification_status", &u, out) < 0)
        goto done;
    if (verification_only && !u.has_status) {
        fail(out, 400, "status is required");
        goto done;
    }
    store_connector c = {0};
    if (u.email_domain)
        snprintf(c.email_domain, sizeof(c.email_domain), "%s", u.email_domain);
    int rc = store_update(app->store, NULL, id, &u, false, &c);
    answer_connector(rc, &c, 200, out);
done:
    json_decref(body);
}

/* POST /__sim/accounts/{account_id}/connectors: seeds a connector. */
static void seed_connector(sim_app *app, const sim_request *rq, const char *account_id,
                           sim_reply *out) {
    static const char *const fields[] = {"email_domain", "enabled", "use_fedramp_language",
                                         "verification_status", NULL};
    json_t *body = body_object(rq, fields, out);
    store_change u;
    if (!body || read_update(body, "verification_status", &u, out) < 0)
        goto done;
    if (!u.email_domain) {
        fail(out, 400, "email_domain is required");
        goto done;
    }
    store_connector tmpl = {0}, c = {0};
    snprintf(tmpl.account_id, sizeof(tmpl.account_id), "%s", account_id);
    snprintf(tmpl.email_domain, sizeof(tmpl.email_domain), "%s", u.email_domain);
    tmpl.enabled = u.enabled;
    tmpl.use_fedramp_language = u.use_fedramp_language;
    tmpl.status = u.has_status ? u.status : STORE_PENDING;
    int rc = store_create(app->store, &tmpl, &c);
    if (rc == STORE_EEXIST)
        c = tmpl;
    answer_connector(rc, &c, 201, out);
done:
    json_decref(body);
}

static void list_connectors(sim_app *app, sim_reply *out) {
    store_connector *items;
    size_t n;
    if (store_list(app->store, NULL, &items, &n) < 0) {
        fail(out, 500, "internal error");
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, store_connector_json(&items[i], true));
    free(items);
    reply_json_new(out, 200, json_pack("{s:o}", "connectors", list));
}

static void add_fault(sim_app *app, const sim_request *rq, sim_reply *out) {
    char err[256];
    json_t *body, *added;
    if (validate_parse_object(rq->body, rq->body_len, false, &body, err, sizeof(err)) < 0) {
        fail(out, 400, "%s", err);
        return;
    }
    if (faults_add(app->faults, body, &added, err, sizeof(err)) < 0)
        fail(out, 400, "%s", err);
    else
        reply_json_new(out, 201, json_pack("{s:b, s:o}", "ok", 1, "fault", added));
    json_decref(body);
}

static void requests(sim_app *app, const sim_request *rq, sim_reply *out) {
    if (is(rq, "DELETE")) {
        reqlog_clear(app->log);
        ok(out);
        return;
    }
    char *text = reqlog_dump(app->log);
    if (!text) {
        fail(out, 500, "out of memory");
        return;
    }
    free(out->body);
    out->body = text;
    out->body_len = strlen(text);
    out->status = 200;
}

static void reset(sim_app *app, sim_reply *out) {
    store_reset(app->store);
    faults_clear(app->faults);
    reqlog_clear(app->log);
    if (app->rl)
        ratelimit_reset(app->rl);
    ok(out);
}

/* Copies a 32-hex identifier segment that ends at `end` ('\0' or '/');
 * returns false when it is not one. */
static bool take_id(const char *p, const char *end, char id[33]) {
    size_t len = (size_t)(end - p);
    if (len != 32)
        return false;
    memcpy(id, p, 32);
    id[32] = '\0';
    return validate_is_hex32(id);
}

/*
 * Matches the path against the control-plane table. Each entry is a route
 * and the methods it takes; a known route with another method is a 405.
 */
void control_handle(sim_app *app, const sim_request *rq, sim_reply *out) {
    const char *p = rq->path + strlen(PREFIX);
    char id[33];
    const char *allow = NULL;
    if (strcmp(p, "/reset") == 0) {
        allow = "POST";
        if (is(rq, "POST")) {
            reset(app, out);
            return;
        }
    } else if (strcmp(p, "/connectors") == 0) {
        allow = "GET";
        if (is(rq, "GET")) {
            list_connectors(app, out);
            return;
        }
    } else if (strcmp(p, "/faults") == 0) {
        allow = "GET, POST, DELETE";
        if (is(rq, "GET")) {
            reply_json_new(out, 200, faults_list(app->faults));
            return;
        }
        if (is(rq, "POST")) {
            add_fault(app, rq, out);
            return;
        }
        if (is(rq, "DELETE")) {
            faults_clear(app->faults);
            {
                ok(out);
                return;
            }
        }
    } else if (strcmp(p, "/requests") == 0) {
        allow = "GET, DELETE";
        if (is(rq, "GET") || is(rq, "DELETE")) {
            requests(app, rq, out);
            return;
        }
    } else if (strncmp(p, "/connectors/", 12) == 0) {
        const char *start = p + 12, *slash = strchr(start, '/');
        const char *end = slash ? slash : start + strlen(start);
        if (!take_id(start, end, id)) {
            fail(out, 404, "no such connector (ids are 32 hex digits)");
            return;
        }
        if (!slash) {
            allow = "PATCH";
            if (is(rq, "PATCH")) {
                change_connector(app, rq, id, false, out);
                return;
            }
        } else if (strcmp(slash, "/verification") == 0) {
            allow = "POST";
            if (is(rq, "POST")) {
                change_connector(app, rq, id, true, out);
                return;
            }
        }
    } else if (strncmp(p, "/accounts/", 10) == 0) {
        const char *start = p + 10, *slash = strchr(start, '/');
        if (slash && strcmp(slash, "/connectors") == 0) {
            if (!take_id(start, slash, id)) {
                fail(out, 400, "account_id must be 32 hex digits");
                return;
            }
            allow = "POST";
            if (is(rq, "POST")) {
                seed_connector(app, rq, id, out);
                return;
            }
        }
    }
    if (!allow) {
        fail(out, 404, "no control-plane route %.300s", rq->path);
        return;
    }
    fail(out, 405, "method %.16s not allowed (allowed: %s)", rq->method, allow);
    reply_add_header(out, "Allow", "%s", allow);
}
