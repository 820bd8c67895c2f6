/*
 * app.h - the shared context of one simulator run, and a request as the
 * route modules (api.c, control.c) see it.
 *
 * server.c owns the HTTP side and fills a sim_request from libmicrohttpd;
 * the routes read it and fill a sim_reply. Neither route module includes
 * microhttpd.h.
 */
#ifndef SIM_APP_H
#define SIM_APP_H

#include "delay.h"
#include "faults.h"
#include "ratelimit.h"
#include "reqlog.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>

/* Request bodies above this are refused with 413. */
#define SIM_MAX_BODY (1024 * 1024)

typedef struct sim_config {
    unsigned port;          /* 0: pick a free one */
    const char *token;      /* Bearer token, or NULL */
    const char *email;      /* legacy X-Auth-Email, or NULL */
    const char *key;        /* legacy X-Auth-Key, or NULL */
    const char *state_path; /* NULL: memory only */
    unsigned threads;
    bool lenient_enable;
    unsigned page_size;             /* list page size when per_page is not given; 0: one page */
    unsigned rl_limit, rl_window_s; /* 0: no rate limit */
    unsigned request_log_mib;       /* the request log's byte cap, in MiB */
} sim_config;

typedef struct sim_app {
    sim_config cfg;
    store *store;
    faults *faults;
    reqlog *log;
    ratelimit *rl; /* NULL without --rate-limit */
    delay_timer *delay;
} sim_app;

typedef struct sim_request {
    const char *method;
    const char *path;  /* raw path as sent, without the query */
    const char *query; /* raw query without '?', "" when none */
    const char *body;  /* NUL-terminated, NULL when empty */
    size_t body_len;
    const char *authorization; /* header values, NULL when absent */
    const char *auth_email;
    const char *auth_key;
} sim_request;

#endif /* SIM_APP_H */
