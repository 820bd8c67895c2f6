/*
 * server.c - libmicrohttpd glue: request contexts, bodies, faults, answers.
 */
#include "server.h"

#include "api.h"
#include "control.h"
#include "reply.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long shutdown waits for resumed delayed requests to come back. */
#define STOP_WAIT_MS 5000

typedef enum phase {
    PHASE_NEW = 0,  /* headers seen, nothing else yet */
    PHASE_BODY,     /* receiving the body */
    PHASE_DELAYED,  /* suspended by a delay fault */
    PHASE_ANSWERED, /* handled */
} phase;

/*
 * One request. Made by the URI log callback (the only place MHD shows the
 * raw URI with its query string), freed by the completion callback.
 */
typedef struct req_ctx {
    char *uri;   /* raw URI; split in place into path and query */
    char *path;  /* into uri */
    char *query; /* into uri, "" when none */
    phase phase;
    bool is_control;
    bool too_large;
    char *body; /* NUL-terminated, capped at SIM_MAX_BODY */
    size_t body_len, body_cap;
    bool has_fault;
    fault_action fault;
    bool was_delayed; /* counted by the delay timer until completed */
    bool was_logged;  /* counted in flight by the request log until completed */
} req_ctx;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
    (void)cls;
    (void)conn;
    req_ctx *rc = calloc(1, sizeof(*rc));
    if (!rc)
        return NULL;
    rc->uri = strdup(uri ? uri : "");
    if (!rc->uri) {
        free(rc);
        return NULL;
    }
    rc->path = rc->uri;
    char *q = strchr(rc->uri, '?');
    if (q) {
        *q = '\0';
        rc->query = q + 1;
    } else {
        rc->query = rc->uri + strlen(rc->uri);
    }
    return rc;
}

/*
 * MHD_OPTION_NOTIFY_COMPLETED: the request is over (answered, dropped, or
 * the connection failed). A delayed request reports back to the timer only
 * here, once its answer has left, so that shutdown can wait for delayed
 * requests to be answered rather than merely resumed.
 */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)conn;
    (void)toe;
    sim_app *app = cls;
    req_ctx *rc = *con_cls;
    if (!rc)
        return;
    if (rc->was_delayed)
        delay_returned(app->delay);
    if (rc->was_logged)
        reqlog_done(app->log);
    fault_action_free(&rc->fault);
    free(rc->body);
    free(rc->uri);
    free(rc);
    *con_cls = NULL;
}

/* Appends a body chunk, or marks the request too large past the cap (the
 * rest is read and discarded so the answer can still be sent). */
static void append_body(req_ctx *rc, const char *data, size_t len) {
    if (rc->too_large || len > SIM_MAX_BODY - rc->body_len) {
        rc->too_large = true;
        return;
    }
    if (rc->body_len + len + 1 > rc->body_cap) {
        size_t cap = rc->body_cap ? rc->body_cap : 1024;
        while (cap < rc->body_len + len + 1)
            cap *= 2;
        char *grown = realloc(rc->body, cap);
        if (!grown) {
            rc->too_large = true;
            return;
        }
        rc->body = grown;
        rc->body_cap = cap;
    }
    memcpy(rc->body + rc->body_len, data, len);
    rc->body_len += len;
    rc->body[rc->body_len] = '\0';
}

static void fill_request(struct MHD_Connection *conn, const req_ctx *rc, const char *method,
                         sim_request *rq) {
    rq->method = method;
    rq->path = rc->path;
    rq->query = rc->query;
    rq->body = rc->body_len ? rc->body : NULL;
    rq->body_len = rc->body_len;
    rq->authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    rq->auth_email = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Auth-Email");
    rq->auth_key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Auth-Key");
}

/* MHD_KeyValueIterator: collects request headers into a JSON object under
 * lowercased names, joining repeated headers with ", ". */
static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
    (void)kind;
    json_t *headers = cls;
    char name[128];
    size_t i = 0;
    for (; key[i] && i < sizeof(name) - 1; i++)
        name[i] = (char)tolower((unsigned char)key[i]);
    name[i] = '\0';
    value = value ? value : "";
    json_t *prev = json_object_get(headers, name);
    json_t *v;
    if (prev) {
        size_t len = json_string_length(prev) + 2 + strlen(value);
        char *joined = malloc(len + 1);
        if (!joined)
            return MHD_YES;
        snprintf(joined, len + 1, "%s, %s", json_string_value(prev), value);
        v = reqlog_string(joined, len);
        free(joined);
    } else {
        v = reqlog_string(value, strlen(value));
    }
    json_t *key_json = reqlog_string(name, strlen(name));
    if (key_json && v)
        json_object_set(headers, json_string_value(key_json), v);
    json_decref(key_json);
    json_decref(v);
    return MHD_YES;
}

static void log_request(sim_app *app, struct MHD_Connection *conn, req_ctx *rc,
                        const char *method) {
    json_t *headers = json_object();
    if (headers)
        MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, headers);
    reqlog_add_new(app->log, reqlog_entry_new(method, rc->path, rc->query, headers,
                                              rc->body_len ? rc->body : NULL, rc->body_len));
    rc->was_logged = true;
}

/* Queues `r` as the answer; its body moves to MHD. */
static enum MHD_Result send_reply(struct MHD_Connection *conn, sim_reply *r) {
    struct MHD_Response *resp;
    if (r->body)
        resp = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        reply_free(r);
        return MHD_NO;
    }
    r->body = NULL; /* MHD frees it now */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    for (size_t i = 0; i < r->n_headers; i++)
        MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The answer of a status fault: its raw body, or a Cloudflare error
 * envelope with a code that fits the status. */
static void fault_reply(const fault_action *f, sim_reply *out) {
    if (f->body)
        reply_raw(out, f->status, f->body, f->body_len);
    else if (f->status == 429)
        reply_cf_error(out, 429, API_E_RATE_LIMITED,
                       "Please wait and consider throttling your request speed");
    else if (f->status == 403)
        reply_cf_error(out, 403, API_E_AUTH, "Authentication error");
    else
        reply_cf_error(out, f->status, API_E_INTERNAL, "%s (simulated fault)",
                       reply_reason(f->status));
    if (f->retry_after)
        reply_add_header(out, "Retry-After", "%s", f->retry_after);
    if (f->retry_after_ms >= 0)
        reply_add_header(out, "Retry-After-Ms", "%ld", f->retry_after_ms);
}

/*
 * Everything after an optional delay: drop before, a status fault, or the
 * API itself (whose answer a drop-after fault throws away, after the change
 * has been committed). Returning MHD_NO makes MHD close the connection
 * without a response, which the client sees as an empty reply.
 */
static enum MHD_Result finish_api(sim_app *app, struct MHD_Connection *conn, req_ctx *rc,
                                  const char *method) {
    sim_reply r;
    reply_init(&r);
    rc->phase = PHASE_ANSWERED;
    if (rc->has_fault && rc->fault.drop == FAULT_DROP_BEFORE)
        return MHD_NO;
    if (rc->has_fault && rc->fault.status) {
        fault_reply(&rc->fault, &r);
        return send_reply(conn, &r);
    }
    if (rc->too_large) {
        api_too_large(&r);
    } else {
        sim_request rq;
        fill_request(conn, rc, method, &rq);
        api_handle(app, &rq, &r);
    }
    if (rc->has_fault && rc->fault.drop == FAULT_DROP_AFTER) {
        reply_free(&r);
        return MHD_NO;
    }
    return send_reply(conn, &r);
}

/* The whole request is in: control plane, or log + faults + API. */
static enum MHD_Result handle_request(sim_app *app, struct MHD_Connection *conn, req_ctx *rc,
                                      const char *method) {
    if (rc->is_control) {
        sim_reply r;
        reply_init(&r);
        rc->phase = PHASE_ANSWERED;
        if (rc->too_large) {
            control_too_large(&r);
        } else {
            sim_request rq;
            fill_request(conn, rc, method, &rq);
            control_handle(app, &rq, &r);
        }
        return send_reply(conn, &r);
    }
    log_request(app, conn, rc, method);
    rc->has_fault = faults_take(app->faults, method, rc->path, &rc->fault);
    if (rc->has_fault && rc->fault.delay_ms > 0) {
        rc->phase = PHASE_DELAYED;
        if (delay_suspend(app->delay, conn, rc->fault.delay_ms) == 0) {
            rc->was_delayed = true;
            return MHD_YES; /* MHD calls us again once resumed */
        }
    }
    return finish_api(app, conn, rc, method);
}

/*
 * MHD_AccessHandlerCallback. MHD calls it once when the headers are in,
 * once per body chunk (*upload_size > 0), and once more when the body is
 * complete; after a resume it is called again in that last state.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls) {
    (void)url;
    (void)version;
    sim_app *app = cls;
    req_ctx *rc = *con_cls;
    if (!rc)
        return MHD_NO; /* the URI callback ran out of memory */
    switch (rc->phase) {
    case PHASE_NEW:
        rc->phase = PHASE_BODY;
        rc->is_control = control_owns(rc->path);
        return MHD_YES;
    case PHASE_BODY:
        if (*upload_size > 0) {
            append_body(rc, upload_data, *upload_size);
            *upload_size = 0;
            return MHD_YES;
        }
        return handle_request(app, conn, rc, method);
    case PHASE_DELAYED:
        return finish_api(app, conn, rc, method);
    case PHASE_ANSWERED:
    default:
        /* Body data after the answer was queued: discard it. */
        *upload_size = 0;
        return MHD_YES;
    }
}

/* MHD's own messages (a client that broke the protocol, a dropped
 * connection), marked as such on stderr. */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    fprintf(stderr, "cf-api-sim: libmicrohttpd: %s\n", msg);
}

int server_start(sim_app *app, struct MHD_Daemon **out, unsigned *port, char *err, size_t errlen) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)app->cfg.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    unsigned threads = app->cfg.threads > 1 ? app->cfg.threads : 0;
    /* libmicrohttpd wants its logger as the first option, so that it also
     * reports problems with the options after it. */
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)app->cfg.port, NULL, NULL, on_request, app, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
        threads, MHD_OPTION_URI_LOG_CALLBACK, on_uri, app, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, app, MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
    if (!d) {
        snprintf(err, errlen, "cannot listen on 127.0.0.1:%u", app->cfg.port);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || info->port == 0) {
        MHD_stop_daemon(d);
        snprintf(err, errlen, "cannot find the bound port");
        return -1;
    }
    *port = info->port;
    *out = d;
    return 0;
}

void server_stop(sim_app *app, struct MHD_Daemon *d) {
    delay_stop(app->delay, STOP_WAIT_MS);
    MHD_stop_daemon(d);
}
