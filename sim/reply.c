/*
 * reply.c - building HTTP answers and the Cloudflare envelope.
 */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void reply_init(sim_reply *r) {
    memset(r, 0, sizeof(*r));
}

void reply_free(sim_reply *r) {
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}

int reply_add_header(sim_reply *r, const char *name, const char *fmt, ...) {
    if (r->n_headers >= REPLY_MAX_HEADERS || strlen(name) >= sizeof(r->headers[0].name))
        return -1;
    reply_header *h = &r->headers[r->n_headers];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(h->value, sizeof(h->value), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(h->value))
        return -1;
    snprintf(h->name, sizeof(h->name), "%s", name);
    r->n_headers++;
    return 0;
}

/*
 * Serialises `body` compactly. When jansson cannot (out of memory), the
 * answer degrades to a bare 500 rather than an empty 200.
 */
void reply_json_new(sim_reply *r, int status, json_t *body) {
    free(r->body);
    r->body = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(body);
    r->status = status;
    if (!r->body) {
        r->status = 500;
        r->body_len = 0;
        return;
    }
    r->body_len = strlen(r->body);
}

void reply_raw(sim_reply *r, int status, const char *body, size_t len) {
    free(r->body);
    r->body = malloc(len + 1);
    r->status = r->body ? status : 500;
    r->body_len = r->body ? len : 0;
    if (r->body) {
        memcpy(r->body, body, len);
        r->body[len] = '\0';
    }
}

void reply_cf_success_new(sim_reply *r, int status, json_t *result, json_t *result_info) {
    json_t *env = json_object();
    if (env && result)
        json_object_set_new(env, "result", result);
    else
        json_decref(result);
    json_object_set_new(env, "success", json_true());
    json_object_set_new(env, "errors", json_array());
    json_object_set_new(env, "messages", json_array());
    if (result_info)
        json_object_set_new(env, "result_info", result_info);
    reply_json_new(r, status, env);
}

void reply_cf_error(sim_reply *r, int status, int code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* The message may quote client bytes (a path, cut at the cap): keep it
     * valid UTF-8 by replacing anything else with '?'. */
    json_t *text = json_string(msg);
    if (!text) {
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
                *p = '?';
        text = json_string(msg);
    }
    json_t *env = json_pack("{s:n, s:b, s:[{s:i, s:o}], s:[]}", "result", "success", 0, "errors",
                            "code", code, "message", text, "messages");
    reply_json_new(r, status, env);
}

const char *reply_reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Error";
    }
}
