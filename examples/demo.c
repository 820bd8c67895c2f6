/*
 * demo.c - `make demo-rpc` (and `make demo` where terraform is not
 * installed): a scripted orchestrator session, printed readably.
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
 *
 * It is also the smallest orchestrator written in C: the provider runs
 * under rpc_client (protocol.h) on a libuv loop, and each step makes one
 * call and runs the loop until its answer came (wait_for). A real host
 * keeps many calls in flight instead. The simulator's control plane, which
 * plays "the world outside the orchestrator", is called with libcurl.
 */
#include "protocol.h"
#include "sim_control.h"
#include "sim_launch.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ACCOUNT    "023e105f4ecef8ad9ca31a8372d0c353"
#define TIMEOUT_MS 30000

static uv_loop_t loop;
static uv_timer_t deadline; /* wakes wait_for() up when an answer is late */
static rpc_client *prov;    /* the provider, NULL once closed */
static sim_launched sim;    /* cf-api-sim; sim.pid is 0 when not running */
static int step_no;
static FILE *record; /* --record FILE: the raw exchange, secrets masked */

/* ------------------------------------------------------------------ */
/* Printing                                                            */
/* ------------------------------------------------------------------ */

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

/* Writes one message to the --record file, masked like the output. */
static void record_message(const json_t *msg) {
    if (!record)
        return;
    json_t *safe = masked(msg);
    json_dumpf(safe, record, JSON_COMPACT);
    fputc('\n', record);
    json_decref(safe);
}

static void step(const char *title) {
    bool bold = isatty(STDOUT_FILENO);
    printf("\n%s== %d. %s%s\n", bold ? "\033[1m" : "", ++step_no, title, bold ? "\033[0m" : "");
}

/* ------------------------------------------------------------------ */
/* The simulator: started here, its control plane called with libcurl  */
/* ------------------------------------------------------------------ */

/* Starts cf-api-sim on a free port (sim_launch: its stdout and stderr share
 * one pipe, so when it cannot start, its complaint is what we print).
 * Returns 0 or -1. */
static int sim_start(const char *token) {
    const char *args[] = {"--token", token, NULL};
    sim_launch_options o = {.bin = SIM_BIN, .args = args, .cpu = -1};
    return sim_launch(&o, &sim);
}

/* One HTTP request to the simulator's control plane (path from its
 * origin, body JSON or NULL; sim_control.h). Returns the HTTP status, or 0
 * when there was no answer. */
static long sim_http(const char *method, const char *path, const char *body) {
    long status = 0;
    json_decref(sim_control_call(sim.origin, method, path, body, TIMEOUT_MS, &status));
    return status;
}

/* ------------------------------------------------------------------ */
/* The provider, under rpc_client                                      */
/* ------------------------------------------------------------------ */

static void fail(const char *what) {
    fprintf(stderr, "demo failed: %s\n", what);
    if (prov) {
        rpc_client_close(prov, NULL, NULL); /* kills the provider */
        prov = NULL;
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    sim_launched_stop(&sim);
    exit(1);
}

static void on_deadline(uv_timer_t *t) {
    (void)t; /* waking uv_run up is all it does */
}

/* Runs the loop until *done, for at most TIMEOUT_MS. Returns *done. */
static bool wait_for(const bool *done) {
    uint64_t give_up = uv_now(&loop) + TIMEOUT_MS;
    uv_timer_start(&deadline, on_deadline, TIMEOUT_MS, 0);
    while (!*done && uv_now(&loop) < give_up)
        uv_run(&loop, UV_RUN_ONCE);
    uv_timer_stop(&deadline);
    return *done;
}

/* The answer to the call in progress. */
typedef struct answer {
    bool done;
    json_t *result; /* new reference, or NULL */
    json_t *error;  /* new {code, message, data?}, or NULL */
} answer;

static void on_answer(rpc_client *client, int64_t id, json_t *result, const rpc_client_error *error,
                      void *arg) {
    (void)client;
    (void)id;
    answer *a = arg;
    a->done = true;
    if (result)
        a->result = json_incref(result);
    else
        a->error = json_pack("{s:i, s:s, s:O*}", "code", error->code, "message", error->message,
                             "data", error->data);
}

/* Sends one request, prints it and its answer, returns the result (new). */
static json_t *rpc(const char *method, json_t *params) {
    answer a = {0};
    int64_t id = 0;
    json_incref(params); /* the call steals one reference; printing needs it too */
    if (rpc_client_call_new(prov, method, params, on_answer, &a, &id) < 0) {
        json_decref(params);
        fail("the provider no longer takes requests");
    }
    json_t *req = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", (json_int_t)id,
                            "method", method, "params", params);
    print_message_json("->", req);
    record_message(req);
    json_decref(req);

    if (!wait_for(&a.done))
        fail("no answer from the provider");
    json_t *resp = json_pack("{s:s, s:I, s:O}", "jsonrpc", "2.0", "id", (json_int_t)id,
                             a.result ? "result" : "error", a.result ? a.result : a.error);
    print_message_json("<-", resp);
    record_message(resp);
    json_decref(resp);
    json_decref(a.error);
    if (!a.result)
        fail("the provider answered a JSON-RPC error");
    return a.result;
}

/* How the provider ended: its exit status, or -1 for a signal. */
static bool provider_exited;
static int provider_status = -1;

static void on_provider_exit(rpc_client *client, int64_t status, int term_signal, void *arg) {
    (void)client;
    (void)arg;
    provider_exited = true;
    provider_status = term_signal ? -1 : (int)status;
}

/* ------------------------------------------------------------------ */
/* The session                                                         */
/* ------------------------------------------------------------------ */

/* A call to the simulator's control plane, shown as what it stands for. */
static void sim_control(const char *what, const char *method, const char *path, const char *body) {
    printf("   [outside the orchestrator] %s\n   %s %s %s\n", what, method, path, body ? body : "");
    long status = sim_http(method, path, body);
    if (status < 200 || status > 299)
        fail("simulator control call failed");
}

/* A JSON value written as text in this file (new). */
static json_t *json_text(const char *text) {
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!v)
        fail("bad JSON in the demo itself");
    return v;
}

static json_t *plan(const json_t *prior, const char *config) {
    return rpc("PlanResourceChange",
               json_pack("{s:s, s:O, s:o}", "type_name", "sso_connector", "prior_state",
                         prior ? prior : json_null(), "config", json_text(config)));
}

static json_t *apply(const json_t *prior, const json_t *plan_result, const char *config) {
    return rpc("ApplyResourceChange",
               json_pack("{s:s, s:O, s:O, s:o}", "type_name", "sso_connector", "prior_state",
                         prior ? prior : json_null(), "planned_state",
                         json_object_get(plan_result, "planned_state"), "config",
                         config ? json_text(config) : json_null()));
}

/* A refresh: ReadResource of `state` (stolen); returns the new state. */
static json_t *refresh_new(json_t *state) {
    json_t *r = rpc("ReadResource",
                    json_pack("{s:s, s:O}", "type_name", "sso_connector", "current_state", state));
    json_decref(state);
    json_t *now = json_incref(json_object_get(r, "new_state"));
    json_decref(r);
    return now;
}

/* Plans `config` over `state` (stolen) and applies the plan; returns the
 * new state. */
static json_t *plan_and_apply_new(json_t *state, const char *config) {
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
    log_configure_from_env(); /* TF_LOG also shows the client's side */
    if (uv_loop_init(&loop) != 0 || uv_timer_init(&loop, &deadline) != 0)
        return 1;
    if (argc == 3 && strcmp(argv[1], "--record") == 0) {
        record = fopen(argv[2], "w");
        if (!record)
            fail("cannot open the record file");
    } else if (argc != 1) {
        fprintf(stderr, "usage: provider-demo [--record FILE]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *token = "demo-token-not-a-real-secret";
    printf("provider-cloudflare demo: an orchestrator session against a local Cloudflare API "
           "simulator.\n");
    if (sim_start(token) < 0)
        fail("cannot start cf-api-sim");
    printf("cf-api-sim listening at %s\n", sim.base_url);
    const char *prov_argv[] = {PROVIDER_BIN, NULL};
    rpc_client_options opts = {.argv = prov_argv, .on_exit = on_provider_exit};
    if (rpc_client_spawn(&loop, &opts, &prov) < 0)
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
    sim_control("Cloudflare's DNS check finds the TXT record", "POST", path,
                "{\"status\":\"verified\"}");

    step("Refresh: ReadResource sees the verification status change");
    state = refresh_new(state);

    step("Enable the connector: plan, then apply (a PATCH)");
    state = plan_and_apply_new(state, config_enabled);

    step("Someone disables it and turns on FedRAMP language in the dashboard");
    snprintf(path, sizeof(path), "/__sim/connectors/%s", id);
    sim_control("an out-of-band change", "PATCH", path,
                "{\"enabled\":false,\"use_fedramp_language\":true}");

    step("Refresh: the read reports the drift");
    state = refresh_new(state);

    const char *config_repair =
        "{\"account_id\":\"" ACCOUNT "\",\"email_domain\":\"example.com\",\"enabled\":true,"
        "\"use_fedramp_language\":false}";
    step("The plan that repairs it, and its apply");
    state = plan_and_apply_new(state, config_repair);

    step("Adopt a connector that already exists, by its domain");
    sim_control("a connector created long ago by hand", "POST",
                "/__sim/accounts/" ACCOUNT "/connectors",
                "{\"email_domain\":\"legacy.example\",\"enabled\":true,"
                "\"verification_status\":\"verified\"}");
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

    /* The end of its input makes the provider exit; then close up. */
    rpc_client_close_input(prov);
    wait_for(&provider_exited);
    rpc_client_close(prov, NULL, NULL);
    prov = NULL;
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    sim_launched_stop(&sim);
    curl_global_cleanup();
    if (record)
        fclose(record);
    printf("\nDemo finished: %zu connectors left; provider exited with status %d.\n", left,
           provider_status);
    return left == 0 && provider_status == 0 ? 0 : 1;
}
