/*
 * simctl.c - see simctl.h. The simulator is started with sim_launch rather
 * than th_sim_start because it must be pinned between fork and exec (its
 * libmicrohttpd threads are made at start and inherit the mask) and its
 * stderr must go to a file nobody has to drain.
 */
#include "simctl.h"

#include "measure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bench_sim_start(bench_sim *s, int cpu, const char *stderr_path) {
    memset(s, 0, sizeof(*s));
    snprintf(s->sim.token, sizeof(s->sim.token), "bench-token");
    const char *args[] = {"--token", s->sim.token, NULL};
    sim_launch_options o = {.bin = SIM_BIN, .args = args, .cpu = cpu, .stderr_path = stderr_path};
    if (sim_launch(&o, &s->proc) != 0) {
        fprintf(stderr, "bench: cf-api-sim did not start (see %s)\n", stderr_path);
        return -1;
    }
    s->sim.port = s->proc.port;
    snprintf(s->sim.origin, sizeof(s->sim.origin), "%s", s->proc.origin);
    snprintf(s->sim.base_url, sizeof(s->sim.base_url), "%s", s->proc.base_url);
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
    int status = sim_launched_stop(&s->proc);
    for (size_t i = 0; i < s->n_states; i++)
        free(s->states[i]);
    free(s->states);
    s->states = NULL;
    s->n_states = 0;
    return status;
}
