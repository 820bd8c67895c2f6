/*
 * demo.c - `make demo`: a scripted orchestrator session, printed readably.
 *
 * It starts cf-api-sim on a free loopback port and the real
 * provider-cloudflare over pipes, then walks one SSO connector through its
 * life the way an orchestrator would: configure, plan and apply a create,
 * show the DNS verification code, have the simulator's DNS check succeed,
 * enable the connector, change it behind the provider's back and show the
 * drift a refresh reports and the plan that repairs it, adopt a
 * pre-existing connector by its domain, and destroy both. Every JSON-RPC
 * request and answer is printed; secrets are masked. It cleans up after
 * itself (both processes end; the simulator keeps no state on disk).
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ACCOUNT    "023e105f4ecef8ad9ca31a8372d0c353"
#define TIMEOUT_MS 30000

static th_sim sim;
static th_proc prov;
static int step_no;
static FILE *record; /* --record FILE: the raw exchange, secrets masked */

/* A copy of `v` with every secret-bearing member replaced by "***". */
static json_t *masked(const json_t *v) {
    json_t *copy = json_deep_copy(v);
    json_t *config = json_object_get(json_object_get(copy, "params"), "config");
    const char *secrets[] = {"api_token", "api_key"};
    for (size_t i = 0; i < 2; i++) {
        if (json_object_get(config, secrets[i]))
            json_object_set_new(config, secrets[i], json_string("***"));
    }
    return copy;
}

/* Prints a value as indented "key: value" lines, YAML-like, so states and
 * plans read at a glance: unknowns show as (known after apply), scalars
 * and short arrays as JSON on one line. */
static void print_value(const json_t *v, int indent) {
    if (json_is_object(v) && json_object_size(v) == 1 &&
        json_is_true(json_object_get(v, "$unknown"))) {
        printf(" (known after apply)\n");
        return;
    }
    if (json_is_object(v) && json_object_size(v) > 0) {
        printf("\n");
        const char *key;
        json_t *member;
        json_object_foreach((json_t *)v, key, member) {
            printf("%*s%s:", indent, "", key);
            print_value(member, indent + 2);
        }
        return;
    }
    if (json_is_array(v) && json_array_size(v) > 0 && json_is_object(json_array_get(v, 0))) {
        printf("\n");
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            printf("%*s- item %zu:", indent, "", i);
            print_value(item, indent + 4);
        }
        return;
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    printf(" %s\n", text);
    free(text);
}

static void print_message_json(const char *arrow, const json_t *v) {
    json_t *safe = masked(v);
    json_t *id = json_object_get(safe, "id");
    const char *method = json_string_value(json_object_get(safe, "method"));
    if (method) {
        printf("%s %s (request %lld)", arrow, method, (long long)json_integer_value(id));
        print_value(json_object_get(safe, "params"), 5);
    } else {
        printf("%s answer %lld", arrow, (long long)json_integer_value(id));
        print_value(json_object_get(safe, "result") ? json_object_get(safe, "result")
                                                    : json_object_get(safe, "error"),
                    5);
    }
    json_decref(safe);
}

static void step(const char *title) {
    bool bold = isatty(STDOUT_FILENO);
    printf("\n%s== %d. %s%s\n", bold ? "\033[1m" : "", ++step_no, title, bold ? "\033[0m" : "");
}

static void fail(const char *what) {
    fprintf(stderr, "demo failed: %s\n", what);
    th_proc_destroy(&prov);
    th_sim_stop(&sim);
    exit(1);
}

/* Sends one request, prints it and its answer, returns the result (new). */
static json_t *rpc(const char *method, json_t *params) {
    static long id = 1;
    json_t *req = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", (json_int_t)id++,
                            "method", method, "params", params);
    print_message_json("->", req);
    if (record) {
        json_t *safe = masked(req);
        json_dumpf(safe, record, JSON_COMPACT);
        fputc('\n', record);
        json_decref(safe);
    }
    char *line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (th_proc_send_line(&prov, line) < 0)
        fail("provider stdin closed");
    free(line);
    json_t *resp = th_proc_read_json(&prov, TIMEOUT_MS);
    if (!resp)
        fail("no answer from the provider");
    print_message_json("<-", resp);
    if (record) {
        json_dumpf(resp, record, JSON_COMPACT);
        fputc('\n', record);
    }
    json_t *result = json_incref(json_object_get(resp, "result"));
    json_decref(resp);
    if (!result)
        fail("the provider answered a JSON-RPC error");
    return result;
}

/* A call to the simulator's control plane, shown as what it stands for. */
static json_t *sim_control(const char *what, const char *method, const char *path,
                           const char *body) {
    printf("   [outside the orchestrator] %s\n   %s %s %s\n", what, method, path, body ? body : "");
    long status = 0;
    json_t *v = th_sim_http(&sim, method, path, body, false, &status);
    if (status < 200 || status > 299)
        fail("simulator control call failed");
    return v;
}

static json_t *plan(const json_t *prior, const char *config) {
    return rpc("PlanResourceChange",
               json_pack("{s:s, s:O, s:o}", "type_name", "sso_connector", "prior_state",
                         prior ? prior : json_null(), "config", th_json("%s", config)));
}

static json_t *apply(const json_t *prior, const json_t *plan_result, const char *config) {
    return rpc("ApplyResourceChange",
               json_pack("{s:s, s:O, s:O, s:o}", "type_name", "sso_connector", "prior_state",
                         prior ? prior : json_null(), "planned_state",
                         json_object_get(plan_result, "planned_state"), "config",
                         config ? th_json("%s", config) : json_null()));
}

/* A refresh: ReadResource of `state` (stolen); returns the new state. */
static json_t *refresh(json_t *state) {
    json_t *r = rpc("ReadResource",
                    json_pack("{s:s, s:O}", "type_name", "sso_connector", "current_state", state));
    json_decref(state);
    json_t *now = json_incref(json_object_get(r, "new_state"));
    json_decref(r);
    return now;
}

/* Plans `config` over `state` (stolen) and applies the plan; returns the
 * new state. */
static json_t *plan_and_apply(json_t *state, const char *config) {
    json_t *p = plan(state, config);
    json_t *r = apply(state, p, config);
    json_decref(p);
    json_decref(state);
    json_t *now = json_incref(json_object_get(r, "new_state"));
    json_decref(r);
    return now;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "--record") == 0) {
        record = fopen(argv[2], "w");
        if (!record)
            fail("cannot open the record file");
    } else if (argc != 1) {
        fprintf(stderr, "usage: provider-demo [--record FILE]\n");
        return 2;
    }
    const char *token = "demo-token-not-a-real-secret";
    printf("provider-cloudflare demo: an orchestrator session against a local Cloudflare API "
           "simulator.\n");
    if (th_sim_start(&sim, token, NULL) < 0)
        fail("cannot start cf-api-sim");
    printf("cf-api-sim listening at %s\n", sim.base_url);
    const char *prov_argv[] = {PROVIDER_BIN, NULL};
    if (th_proc_spawn(&prov, prov_argv, NULL) < 0)
        fail("cannot start provider-cloudflare");

    step("Configure the provider (the token is masked in this output)");
    json_t *r = rpc("ConfigureProvider", json_pack("{s:{s:s, s:s}}", "config", "api_token", token,
                                                   "base_url", sim.base_url));
    json_decref(r);

    const char *config = "{\"account_id\":\"" ACCOUNT "\",\"email_domain\":\"example.com\"}";
    const char *config_enabled =
        "{\"account_id\":\"" ACCOUNT "\",\"email_domain\":\"example.com\",\"enabled\":true}";

    step("Plan a new connector for example.com");
    json_t *p = plan(NULL, config);
    step("Apply it: the provider creates the connector");
    json_t *created = apply(NULL, p, config);
    json_decref(p);
    json_t *state = json_incref(json_object_get(created, "new_state"));
    json_decref(created);
    char id[64];
    if (!json_is_string(json_object_get(state, "id")))
        fail("no connector id");
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(state, "id")));
    printf("\n   Add this TXT record to example.com's DNS to prove ownership:\n   %s\n",
           json_string_value(json_object_get(json_object_get(state, "verification"), "code")));

    step("The DNS check succeeds (the simulator marks the domain verified)");
    char path[256];
    snprintf(path, sizeof(path), "/__sim/connectors/%s/verification", id);
    json_decref(sim_control("Cloudflare's DNS check finds the TXT record", "POST", path,
                            "{\"status\":\"verified\"}"));

    step("Refresh: ReadResource sees the verification status change");
    state = refresh(state);

    step("Enable the connector: plan, then apply (a PATCH)");
    state = plan_and_apply(state, config_enabled);

    step("Someone disables it and turns on FedRAMP language in the dashboard");
    snprintf(path, sizeof(path), "/__sim/connectors/%s", id);
    json_decref(sim_control("an out-of-band change", "PATCH", path,
                            "{\"enabled\":false,\"use_fedramp_language\":true}"));

    step("Refresh: the read reports the drift");
    state = refresh(state);

    const char *config_repair =
        "{\"account_id\":\"" ACCOUNT "\",\"email_domain\":\"example.com\",\"enabled\":true,"
        "\"use_fedramp_language\":false}";
    step("The plan that repairs it, and its apply");
    state = plan_and_apply(state, config_repair);

    step("Adopt a connector that already exists, by its domain");
    json_decref(sim_control("a connector created long ago by hand", "POST",
                            "/__sim/accounts/" ACCOUNT "/connectors",
                            "{\"email_domain\":\"legacy.example\",\"enabled\":true,"
                            "\"verification_status\":\"verified\"}"));
    r = rpc("ListResource", json_pack("{s:s, s:{s:s}}", "type_name", "sso_connector", "config",
                                      "account_id", ACCOUNT));
    json_decref(r);
    r = rpc("ImportResourceState",
            json_pack("{s:s, s:s}", "type_name", "sso_connector", "id", ACCOUNT "/legacy.example"));
    json_t *legacy = json_incref(
        json_object_get(json_array_get(json_object_get(r, "imported_resources"), 0), "state"));
    json_decref(r);
    if (json_is_null(legacy) || !legacy)
        fail("import found nothing");

    step("Destroy both connectors");
    p = plan(state, "null");
    r = apply(state, p, NULL);
    json_decref(p);
    json_decref(r);
    p = plan(legacy, "null");
    r = apply(legacy, p, NULL);
    json_decref(p);
    json_decref(r);
    json_decref(legacy);
    json_decref(state);

    step("Nothing is left in the account");
    r = rpc("ReadDataSource", json_pack("{s:s, s:{s:s}}", "type_name", "sso_connectors", "config",
                                        "account_id", ACCOUNT));
    size_t left = json_array_size(json_object_get(json_object_get(r, "state"), "connectors"));
    json_decref(r);

    th_proc_close_stdin(&prov);
    int status = -1;
    th_proc_wait(&prov, TIMEOUT_MS, &status);
    th_proc_destroy(&prov);
    th_sim_stop(&sim);
    if (record)
        fclose(record);
    printf("\nDemo finished: %zu connectors left; provider exited with status %d.\n", left,
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return left == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
