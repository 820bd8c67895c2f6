/*
 * simctl.c - see simctl.h. The simulator is started here rather than with
 * th_sim_start because it must be pinned between fork and exec (its
 * libmicrohttpd threads are made at start and inherit the mask) and its
 * stderr must go to a file nobody has to drain.
 */
#include "simctl.h"

#include "measure.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int bench_sim_start(bench_sim *s, int cpu, const char *stderr_path) {
    memset(s, 0, sizeof(*s));
    snprintf(s->sim.token, sizeof(s->sim.token), "bench-token");
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0)
        return -1;
    s->pid = fork();
    if (s->pid == 0) {
        if (cpu >= 0)
            bm_pin_self(cpu);
        int err = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(out[1], 1);
        if (err >= 0)
            dup2(err, 2);
        execl(SIM_BIN, SIM_BIN, "--port", "0", "--token", s->sim.token, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    if (s->pid < 0) {
        close(out[0]);
        return -1;
    }
    FILE *f = fdopen(out[0], "r");
    char line[256] = "";
    int ok = f && fgets(line, sizeof(line), f) &&
             sscanf(line, "listening on http://127.0.0.1:%d", &s->sim.port) == 1;
    s->out = f; /* kept open until stop: the sim may write another line */
    if (!ok) {
        fprintf(stderr, "bench: cf-api-sim did not start (see %s)\n", stderr_path);
        bench_sim_stop(s);
        return -1;
    }
    snprintf(s->sim.origin, sizeof(s->sim.origin), "http://127.0.0.1:%d", s->sim.port);
    snprintf(s->sim.base_url, sizeof(s->sim.base_url), "%s/client/v4", s->sim.origin);
    return 0;
}

/* One connector through the control plane; its state is kept as the
 * provider's state after an import would be (begin_verification null). */
static char *seed_one(bench_sim *s, size_t i, FILE *ids) {
    char body[128];
    long status = 0;
    snprintf(body, sizeof(body), "{\"email_domain\":\"d%zu.bench.example\"}", i);
    json_t *c = th_sim_http(&s->sim, "POST", "/__sim/accounts/" BENCH_ACCOUNT "/connectors", body,
                            false, &status);
    if (status != 201 || !json_is_object(c)) {
        json_decref(c);
        return NULL;
    }
    json_t *state =
        json_pack("{s:O,s:s,s:O,s:O,s:O,s:n,s:O,s:O,s:O}", "id", json_object_get(c, "id"),
                  "account_id", BENCH_ACCOUNT, "email_domain", json_object_get(c, "email_domain"),
                  "enabled", json_object_get(c, "enabled"), "use_fedramp_language",
                  json_object_get(c, "use_fedramp_language"), "begin_verification", "created_on",
                  json_object_get(c, "created_on"), "updated_on", json_object_get(c, "updated_on"),
                  "verification", json_object_get(c, "verification"));
    fprintf(ids, "%s %s\n", BENCH_ACCOUNT, json_string_value(json_object_get(c, "id")));
    char *text = state ? json_dumps(state, JSON_COMPACT) : NULL;
    json_decref(state);
    json_decref(c);
    return text;
}

int bench_sim_seed(bench_sim *s, size_t n, const char *ids_path) {
    FILE *ids = fopen(ids_path, "w");
    if (!ids)
        return -1;
    snprintf(s->ids_path, sizeof(s->ids_path), "%s", ids_path);
    s->states = calloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        if (!(s->states[i] = seed_one(s, i, ids))) {
            fclose(ids);
            return -1;
        }
        s->n_states++;
    }
    return fclose(ids) == 0 ? 0 : -1;
}

int bench_sim_delay_gets(bench_sim *s, int delay_ms) {
    char body[256];
    long status = 0;
    snprintf(body, sizeof(body),
             "{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*/sso_connectors/*\","
             "\"count\":1000000,\"delay_ms\":%d}",
             delay_ms);
    json_decref(th_sim_http(&s->sim, "POST", "/__sim/faults", body, false, &status));
    return status == 201 ? 0 : -1;
}

void bench_sim_clear_faults(void *arg) {
    bench_sim *s = arg;
    json_decref(th_sim_http(&s->sim, "DELETE", "/__sim/faults", NULL, false, NULL));
}

int bench_sim_stop(bench_sim *s) {
    int status = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        if (waitpid(s->pid, &status, 0) != s->pid)
            status = -1;
        s->pid = 0;
    }
    if (s->out)
        fclose(s->out);
    s->out = NULL;
    for (size_t i = 0; i < s->n_states; i++)
        free(s->states[i]);
    free(s->states);
    s->states = NULL;
    s->n_states = 0;
    return status;
}
