/*
 * sim.c - cf-api-sim for end-to-end tests: start it on a free loopback
 * port, talk to its API and control plane over real HTTP (libcurl easy),
 * stop it.
 */
#include "harness.h"
#include "http.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SIM_BIN
#define SIM_BIN "cf-api-sim"
#endif

int th_sim_start(th_sim *s, const char *token, const char *const extra_args[]) {
    memset(s, 0, sizeof(*s));
    snprintf(s->token, sizeof(s->token), "%s", token);
    const char *argv[32] = {SIM_BIN, "--port", "0", "--token", token};
    size_t argc = 5;
    for (size_t i = 0; extra_args && extra_args[i] && argc < 31; i++)
        argv[argc++] = extra_args[i];
    argv[argc] = NULL;
    if (th_proc_spawn(&s->proc, argv, NULL) < 0)
        return -1;
    char *line = th_proc_read_line(&s->proc, 10000);
    if (!line || sscanf(line, "listening on http://127.0.0.1:%d", &s->port) != 1) {
        fprintf(stderr, "th_sim_start: unexpected first line: %s\n", line ? line : "(none)");
        th_proc_drain(&s->proc);
        fprintf(stderr, "sim stderr: %s\n", s->proc.err_buf ? s->proc.err_buf : "");
        free(line);
        th_proc_destroy(&s->proc);
        return -1;
    }
    free(line);
    snprintf(s->origin, sizeof(s->origin), "http://127.0.0.1:%d", s->port);
    snprintf(s->base_url, sizeof(s->base_url), "%s/client/v4", s->origin);
    return 0;
}

int th_sim_stop(th_sim *s) {
    int status = -1;
    th_proc_kill(&s->proc, SIGTERM);
    if (th_proc_wait(&s->proc, 10000, &status) < 0)
        status = -1;
    th_proc_destroy(&s->proc);
    return status;
}

json_t *th_sim_http(th_sim *s, const char *method, const char *path, const char *body,
                    bool with_auth, long *status) {
    char url[1024], auth[256];
    const char *headers[3] = {NULL};
    size_t n = 0;
    if (with_auth) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", s->token);
        headers[n++] = auth;
    }
    if (body)
        headers[n++] = "Content-Type: application/json";
    sc_resp r;
    if (sc_request(sc_url(url, sizeof(url), s->origin, path), method, headers, body, &r) < 0)
        abort();
    if (status)
        *status = r.rc == CURLE_OK ? r.status : 0;
    json_t *v = json_incref(r.json);
    sc_resp_free(&r);
    return v;
}

int th_sim_reset(th_sim *s) {
    long status = 0;
    json_t *v = th_sim_http(s, "POST", "/__sim/reset", NULL, false, &status);
    json_decref(v);
    return status == 200 ? 0 : -1;
}

json_t *th_sim_requests(th_sim *s) {
    long status = 0;
    json_t *v = th_sim_http(s, "GET", "/__sim/requests", NULL, false, &status);
    json_t *reqs = json_incref(json_object_get(v, "requests"));
    json_decref(v);
    return reqs;
}
