/*
 * reply.h - an HTTP answer under construction, independent of libmicrohttpd.
 *
 * The API and control-plane modules fill a sim_reply; server.c turns it into
 * an MHD response. Keeping MHD out of the route code keeps each module to one
 * job and lets the routes be read without knowing the HTTP library.
 */
#ifndef SIM_REPLY_H
#define SIM_REPLY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define REPLY_MAX_HEADERS 8

typedef struct reply_header {
    char name[32];
    char value[160];
} reply_header;

typedef struct sim_reply {
    int status;
    char *body; /* malloc'd, owned by the reply; NULL for none */
    size_t body_len;
    size_t n_headers;
    reply_header headers[REPLY_MAX_HEADERS];
} sim_reply;

void reply_init(sim_reply *r);
void reply_free(sim_reply *r);

/* Adds a header (printf-style value). Extra headers past REPLY_MAX_HEADERS,
 * and values past the cap, are refused with -1. */
int reply_add_header(sim_reply *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets status and a JSON body; `body` is stolen. */
void reply_json_new(sim_reply *r, int status, json_t *body);

/* Sets status and a copy of `len` raw bytes as the body. */
void reply_raw(sim_reply *r, int status, const char *body, size_t len);

/* The Cloudflare success envelope {"result","success","errors","messages"}.
 * `result` is stolen; NULL leaves the "result" member out (begin
 * verification). `result_info` is stolen and may be NULL. */
void reply_cf_success_new(sim_reply *r, int status, json_t *result, json_t *result_info);

/* The Cloudflare error envelope: result null, success false, one error. */
void reply_cf_error(sim_reply *r, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The reason phrase of an HTTP status ("Service Unavailable"), or "Error". */
const char *reply_reason(int status);

#endif /* SIM_REPLY_H */
