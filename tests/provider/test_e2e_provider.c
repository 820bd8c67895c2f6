/*
 * test_e2e_provider.c - the real provider-cloudflare binary over real
 * pipes, against cf-api-sim over real HTTP on loopback.
 *
 * Every test starts a fresh provider (TF_LOG=TRACE, so the secret check
 * sees everything) and resets the simulator. Assertions are on the
 * JSON-RPC answers and on the simulator's request log: the exact methods,
 * paths and bodies the provider sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"

#define TOKEN "e2e-secret-token-7f3a9c"
#define ACC   "023e105f4ecef8ad9ca31a8372d0c353"
#define WAIT  20000

static th_sim sim;

typedef struct fixture {
    th_proc prov;
} fixture;

/* Holds that must outlast something the provider does at once (answer a
 * fast call, take a cancel) are short; under valgrind (TH_VALGRIND=1, the
 * provider_e2e_valgrind variant: provider and simulator both inside it)
 * they are 3 times longer, about what they all were before they were made
 * short (and what valgrind runs have always passed with). */
static int g_slow = 1;
#define SLOW(ms) ((ms)*g_slow)

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int group_setup(void **state) {
    (void)state;
    const char *vg = getenv("TH_VALGRIND");
    g_slow = vg && strcmp(vg, "1") == 0 ? 3 : 1;
    return th_sim_start(&sim, TOKEN, NULL);
}

static int group_teardown(void **state) {
    (void)state;
    int status = th_sim_stop(&sim);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    if (th_sim_reset(&sim) < 0)
        return -1;
    const char *argv[] = {PROVIDER_BIN, NULL};
    const char *env[] = {"TF_LOG=TRACE",        "TF_LOG_PROVIDER=",     "CLOUDFLARE_API_TOKEN=",
                         "CLOUDFLARE_API_KEY=", "CLOUDFLARE_BASE_URL=", NULL};
    if (th_proc_spawn(&f->prov, argv, env) < 0)
        return -1;
    *state = f;
    return 0;
}

/* Ends the provider with EOF: it must exit 0, and the token must appear
 * neither on stdout (checked line by line as answers were read) nor in
 * anything it logged at TRACE. */
static int teardown(void **state) {
    fixture *f = *state;
    th_proc_close_stdin(&f->prov);
    int status = -1;
    int rc = th_proc_wait(&f->prov, WAIT, &status);
    th_proc_drain(&f->prov);
    bool leaked = f->prov.err_buf && strstr(f->prov.err_buf, TOKEN);
    bool leaked_out = f->prov.out_buf && strstr(f->prov.out_buf, TOKEN);
    if (rc < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || leaked || leaked_out)
        fprintf(stderr, "provider teardown: rc=%d status=%d leaked=%d/%d\n", rc, status, leaked,
                leaked_out);
    th_proc_destroy(&f->prov);
    free(f);
    return (rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && !leaked && !leaked_out)
               ? 0
               : -1;
}

/* Sends a request and returns its result object (new), failing the test
 * on a JSON-RPC error or a timeout. The raw line is checked for the token. */
static json_t *call(fixture *f, const char *method, json_t *params) {
    json_t *resp = th_proc_call_new(&f->prov, method, params, WAIT);
    if (!resp)
        fail_msg("no answer to %s; stderr tail: %s", method,
                 f->prov.err_buf
                     ? f->prov.err_buf + (f->prov.err_len > 2000 ? f->prov.err_len - 2000 : 0)
                     : "");
    json_t *result = json_incref(json_object_get(resp, "result"));
    if (!result) {
        char *text = json_dumps(resp, 0);
        fail_msg("%s answered an error: %s", method, text);
    }
    json_decref(resp);
    return result;
}

static json_t *diagnostics(json_t *result) {
    json_t *d = json_object_get(result, "diagnostics");
    assert_true(json_is_array(d));
    return d;
}

static void assert_no_diags(json_t *result) {
    json_t *d = diagnostics(result);
    if (json_array_size(d) != 0) {
        char *text = json_dumps(d, 0);
        fail_msg("unexpected diagnostics: %s", text);
    }
}

/* The first error diagnostic's summary + detail, for substring checks. */
static char *error_text(json_t *result) {
    json_t *d = diagnostics(result);
    size_t i;
    json_t *item;
    json_array_foreach(d, i, item) {
        if (strcmp(json_string_value(json_object_get(item, "severity")), "error") == 0) {
            char *out = NULL;
            if (asprintf(&out, "%s: %s", json_string_value(json_object_get(item, "summary")),
                         json_string_value(json_object_get(item, "detail"))
                             ? json_string_value(json_object_get(item, "detail"))
                             : "") < 0)
                abort();
            return out;
        }
    }
    fail_msg("no error diagnostic in %s", json_dumps(d, 0));
    return NULL;
}

static void configure(fixture *f, const char *extra) {
    json_t *result = call(
        f, "ConfigureProvider",
        th_json("{\"config\":{\"api_token\":\"%s\",\"base_url\":\"%s\",\"max_retries\":3%s%s}}",
                TOKEN, sim.base_url, extra ? "," : "", extra ? extra : ""));
    assert_no_diags(result);
    json_decref(result);
}

static void add_fault(const char *json) {
    long status = 0;
    json_t *v = th_sim_http(&sim, "POST", "/__sim/faults", json, false, &status);
    json_decref(v);
    assert_true(status == 200 || status == 201);
}

static void clear_requests(void) {
    long status = 0;
    json_t *v = th_sim_http(&sim, "DELETE", "/__sim/requests", NULL, false, &status);
    json_decref(v);
    assert_int_equal(status, 200);
}

/* The simulator's request log as "METHOD path" lines joined by '\n'. */
static char *request_lines(void) {
    json_t *reqs = th_sim_requests(&sim);
    assert_non_null(reqs);
    size_t len = 0;
    char *out = calloc(1, 1);
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r) {
        char line[512];
        int n =
            snprintf(line, sizeof(line), "%s %s\n", json_string_value(json_object_get(r, "method")),
                     json_string_value(json_object_get(r, "path")));
        out = realloc(out, len + (size_t)n + 1);
        memcpy(out + len, line, (size_t)n + 1);
        len += (size_t)n;
    }
    json_decref(reqs);
    return out;
}

/* Sends one request without waiting for its answer. `id` and `params`
 * are stolen. */
static void send_request_new(fixture *f, json_t *id, const char *method, json_t *params) {
    json_t *req = json_pack("{s:s, s:o, s:s, s:o}", "jsonrpc", "2.0", "id", id, "method", method,
                            "params", params);
    char *line = json_dumps(req, JSON_COMPACT);
    assert_int_equal(th_proc_send_line(&f->prov, line), 0);
    free(line);
    json_decref(req);
}

/* A ReadResource of `st` (borrowed). */
static json_t *read_params(const json_t *st) {
    return json_pack("{s:s, s:O}", "type_name", "sso_connector", "current_state", st);
}

static json_t *sim_connectors(void);

/* Waits (5 s at most) until the simulator has logged `n` API requests, or
 * holds `n` connectors when `connectors` is true: the way a test knows a
 * request is in flight before it cancels or signals. */
static void wait_for_sim(size_t n, bool connectors) {
    for (int i = 0; i < 1000; i++) {
        json_t *v = connectors ? sim_connectors() : th_sim_requests(&sim);
        size_t have = json_array_size(v);
        json_decref(v);
        if (have >= n)
            return;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("the simulator never saw %zu %s", n, connectors ? "connectors" : "requests");
}

/* True when the diagnostics hold an error. */
static bool has_error(json_t *result) {
    size_t i;
    json_t *d;
    json_array_foreach(diagnostics(result), i, d) {
        if (strcmp(json_string_value(json_object_get(d, "severity")), "error") == 0)
            return true;
    }
    return false;
}

/* Plans a create: no error; the one warning, for enabled = true, only when
 * the configuration enables the connector. */
static json_t *plan_create(fixture *f, const char *config) {
    json_t *result = call(f, "PlanResourceChange",
                          th_json("{\"type_name\":\"sso_connector\",\"prior_state\":null,"
                                  "\"config\":%s}",
                                  config));
    assert_false(has_error(result));
    json_t *parsed = th_json("%s", config);
    size_t want = json_is_true(json_object_get(parsed, "enabled")) ? 1 : 0;
    json_decref(parsed);
    assert_int_equal(json_array_size(diagnostics(result)), want);
    if (want) {
        json_t *d = json_array_get(diagnostics(result), 0);
        assert_string_equal(json_string_value(json_object_get(d, "severity")), "warning");
        assert_string_equal(json_string_value(json_array_get(json_object_get(d, "attribute"), 0)),
                            "enabled");
        assert_non_null(strstr(json_string_value(json_object_get(d, "detail")), "TXT"));
    }
    assert_string_equal(json_string_value(json_object_get(result, "action")), "create");
    return result;
}

/* Plans and applies a create; returns the apply result (new). */
static json_t *create(fixture *f, const char *config) {
    json_t *plan = plan_create(f, config);
    json_t *params = json_pack("{s:s, s:n, s:O, s:o}", "type_name", "sso_connector", "prior_state",
                               "planned_state", json_object_get(plan, "planned_state"), "config",
                               th_json("%s", config));
    json_decref(plan);
    return call(f, "ApplyResourceChange", params);
}

static json_t *sim_connectors(void) {
    long status = 0;
    json_t *v = th_sim_http(&sim, "GET", "/__sim/connectors", NULL, false, &status);
    assert_int_equal(status, 200);
    json_t *list = json_incref(json_object_get(v, "connectors"));
    json_decref(v);
    return list;
}

#define CONFIG(domain, extra)                                                                      \
    "{\"account_id\":\"" ACC "\",\"email_domain\":\"" domain "\"" extra "}"

/* ------------------------------------------------------------------ */

static void test_schema_and_unconfigured(void **state) {
    fixture *f = *state;
    json_t *schema = call(f, "GetProviderSchema", json_object());
    assert_no_diags(schema);
    json_t *res = json_object_get(json_object_get(schema, "resource_schemas"), "sso_connector");
    json_t *attrs = json_object_get(json_object_get(res, "block"), "attributes");
    assert_int_equal(json_object_size(attrs), 9);
    json_t *provider_attrs = json_object_get(
        json_object_get(json_object_get(schema, "provider"), "block"), "attributes");
    assert_true(
        json_is_true(json_object_get(json_object_get(provider_attrs, "api_token"), "sensitive")));
    json_t *bv = json_object_get(attrs, "begin_verification");
    assert_true(json_is_true(json_object_get(bv, "optional")));
    assert_true(json_is_true(json_object_get(bv, "computed")));
    assert_non_null(
        json_object_get(json_object_get(schema, "data_source_schemas"), "sso_connectors"));
    json_decref(schema);

    /* Methods that need the API answer a diagnostic, not a crash. */
    const char *methods[] = {"ReadResource",   "ApplyResourceChange", "ImportResourceState",
                             "ReadDataSource", "ListResource",        "PlanResourceChange"};
    const char *params[] = {
        "{\"type_name\":\"sso_connector\",\"current_state\":{}}",
        "{\"type_name\":\"sso_connector\",\"prior_state\":null,\"planned_state\":{}}",
        "{\"type_name\":\"sso_connector\",\"id\":\"x\"}",
        "{\"type_name\":\"sso_connectors\",\"config\":{}}",
        "{\"type_name\":\"sso_connector\",\"config\":{}}",
        "{\"type_name\":\"sso_connector\",\"prior_state\":null,\"config\":{}}"};
    for (size_t i = 0; i < 6; i++) {
        json_t *r = call(f, methods[i], th_json("%s", params[i]));
        char *text = error_text(r);
        assert_non_null(strstr(text, "not configured"));
        free(text);
        json_decref(r);
    }
    /* Validation works before configuration. */
    json_t *v =
        call(f, "ValidateResourceConfig",
             th_json("{\"type_name\":\"sso_connector\",\"config\":" CONFIG("exa mple", "") "}"));
    json_t *d = json_array_get(diagnostics(v), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(d, "attribute"), 0)),
                        "email_domain");
    json_decref(v);
    /* Nothing reached the API. */
    char *lines = request_lines();
    assert_string_equal(lines, "");
    free(lines);
}

static void test_configure_errors(void **state) {
    fixture *f = *state;
    json_t *r =
        call(f, "ConfigureProvider",
             th_json("{\"config\":{\"api_token\":\"%s\",\"base_url\":\"http://example.com/v4\"}}",
                     TOKEN));
    char *text = error_text(r);
    assert_non_null(strstr(text, "loopback"));
    free(text);
    json_decref(r);
    /* A line break in the token (finding 10): an error naming api_token
     * (not the client's "invalid argument"), the token never quoted. */
    r = call(f, "ConfigureProvider",
             th_json("{\"config\":{\"api_token\":\"%s\\r\\nX-Evil: 1\"}}", TOKEN));
    text = error_text(r);
    assert_non_null(strstr(text, "api_token holds a line break"));
    assert_null(strstr(text, TOKEN));
    char *dump = json_dumps(r, 0);
    assert_null(strstr(dump, TOKEN));
    assert_non_null(strstr(dump, "\"api_token\""));
    free(dump);
    free(text);
    json_decref(r);
    r = call(f, "ConfigureProvider", th_json("{\"config\":{}}"));
    text = error_text(r);
    assert_non_null(strstr(text, "credentials"));
    free(text);
    json_decref(r);
    configure(f, NULL);
    r = call(f, "ConfigureProvider", th_json("{\"config\":{\"api_token\":\"x\"}}"));
    text = error_text(r);
    assert_non_null(strstr(text, "already configured"));
    free(text);
    json_decref(r);
}

/* Legacy key auth configured as the official Cloudflare provider names
 * it: api_key + email, sent as X-Auth-Key / X-Auth-Email. */
static void test_key_auth_with_email(void **state) {
    fixture *f = *state;
    th_sim keyed;
    const char *args[] = {"--email", "ops@example.com", "--key", "e2e-secret-key-51d0", NULL};
    assert_int_equal(th_sim_start(&keyed, TOKEN, args), 0);
    /* Every answer is taken before the simulator stops, and checked after,
     * so a failing check never leaves it running. */
    json_t *valid = call(f, "ValidateProviderConfig",
                         th_json("{\"config\":{\"api_key\":\"k\",\"email\":\"ops@example.com\"}}"));
    json_t *configured = call(f, "ConfigureProvider",
                              th_json("{\"config\":{\"api_key\":\"e2e-secret-key-51d0\",\"email\":"
                                      "\"ops@example.com\",\"base_url\":\"%s\"}}",
                                      keyed.base_url));
    json_t *read =
        call(f, "ReadDataSource",
             th_json("{\"type_name\":\"sso_connectors\",\"config\":{\"account_id\":\"%s\"}}", ACC));
    json_t *reqs = th_sim_requests(&keyed);
    int st = th_sim_stop(&keyed);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_no_diags(valid);
    assert_no_diags(configured);
    assert_no_diags(read);
    assert_int_equal(json_array_size(reqs), 1);
    json_t *headers = json_object_get(json_array_get(reqs, 0), "headers");
    assert_string_equal(json_string_value(json_object_get(headers, "x-auth-email")),
                        "ops@example.com");
    json_decref(reqs);
    json_decref(read);
    json_decref(configured);
    json_decref(valid);
    th_proc_drain(&f->prov);
    assert_null(strstr(f->prov.err_buf ? f->prov.err_buf : "", "e2e-secret-key-51d0"));
}

/* The whole life of a connector: create with enabled refused (not
 * verified) keeping the id, verify, enable, drift, repair, destroy. */
static void test_lifecycle(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    clear_requests();

    json_t *applied = create(f, CONFIG("Example.com", ",\"enabled\":true"));
    json_t *created = json_object_get(applied, "new_state");
    /* Enabling is refused because the domain is not verified, but the
     * created connector is in new_state with one error diagnostic that
     * gives Cloudflare's reason and what to do next: the TXT record with
     * this connector's code, then untaint and apply, or enabled = false. */
    assert_true(json_is_object(created));
    assert_int_equal(json_array_size(diagnostics(applied)), 1);
    json_t *refused = json_array_get(diagnostics(applied), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(refused, "attribute"), 0)),
                        "enabled");
    char *text = error_text(applied);
    assert_non_null(strstr(text, "created, but not enabled"));
    assert_non_null(strstr(text, "1006"));
    assert_non_null(strstr(text, "TXT record to Example.com"));
    assert_non_null(strstr(text, "terraform untaint"));
    assert_non_null(strstr(text, "enabled = false"));
    const char *id = json_string_value(json_object_get(created, "id"));
    char quoted_code[128];
    snprintf(quoted_code, sizeof(quoted_code), "\"cloudflare_dashboard_sso=%s\"", id ? id : "");
    assert_non_null(strstr(text, quoted_code));
    free(text);
    assert_non_null(id);
    assert_int_equal(strlen(id), 32);
    assert_string_equal(json_string_value(json_object_get(created, "email_domain")), "Example.com");
    assert_true(json_is_false(json_object_get(created, "enabled")));
    json_t *verification = json_object_get(created, "verification");
    char code[128];
    snprintf(code, sizeof(code), "cloudflare_dashboard_sso=%s", id);
    assert_string_equal(json_string_value(json_object_get(verification, "code")), code);
    assert_string_equal(json_string_value(json_object_get(verification, "status")), "pending");

    /* Exactly a POST then a PATCH, with exactly these bodies. */
    json_t *reqs = th_sim_requests(&sim);
    assert_int_equal(json_array_size(reqs), 2);
    json_t *post = json_array_get(reqs, 0), *patch = json_array_get(reqs, 1);
    assert_string_equal(json_string_value(json_object_get(post, "method")), "POST");
    assert_string_equal(json_string_value(json_object_get(post, "path")),
                        "/client/v4/accounts/" ACC "/sso_connectors");
    /* begin_verification was left out: the API's default is planned and
     * sent, so the state's true is what happened. */
    json_t *want = th_json("{\"email_domain\":\"Example.com\",\"begin_verification\":true}");
    assert_true(json_equal(json_object_get(post, "body_json"), want));
    assert_true(json_is_true(json_object_get(created, "begin_verification")));
    json_decref(want);
    json_t *headers = json_object_get(post, "headers");
    assert_string_equal(json_string_value(json_object_get(headers, "content-type")),
                        "application/json");
    assert_non_null(
        strstr(json_string_value(json_object_get(headers, "user-agent")), "provider-cloudflare/"));
    assert_string_equal(json_string_value(json_object_get(patch, "method")), "PATCH");
    char path[256];
    snprintf(path, sizeof(path), "/client/v4/accounts/" ACC "/sso_connectors/%s", id);
    assert_string_equal(json_string_value(json_object_get(patch, "path")), path);
    want = th_json("{\"enabled\":true}");
    assert_true(json_equal(json_object_get(patch, "body_json"), want));
    json_decref(want);
    json_decref(reqs);

    /* The domain's DNS check succeeds; the next plan enables in place. */
    char sim_path[256];
    snprintf(sim_path, sizeof(sim_path), "/__sim/connectors/%s/verification", id);
    long status = 0;
    json_decref(th_sim_http(&sim, "POST", sim_path, "{\"status\":\"verified\"}", false, &status));
    assert_int_equal(status, 200);
    json_t *read =
        call(f, "ReadResource",
             json_pack("{s:s, s:O}", "type_name", "sso_connector", "current_state", created));
    assert_no_diags(read);
    json_t *state_now = json_object_get(read, "new_state");
    json_t *drift = json_object_get(read, "drift");
    /* The verification status changed outside. */
    assert_true(json_array_size(drift) >= 1);
    json_t *plan =
        call(f, "PlanResourceChange",
             json_pack("{s:s, s:O, s:o}", "type_name", "sso_connector", "prior_state", state_now,
                       "config", th_json(CONFIG("example.com", ",\"enabled\":true"))));
    assert_no_diags(plan);
    assert_string_equal(json_string_value(json_object_get(plan, "action")), "update");
    assert_int_equal(json_array_size(json_object_get(plan, "requires_replace")), 0);
    clear_requests();
    json_t *upd =
        call(f, "ApplyResourceChange",
             json_pack("{s:s, s:O, s:O, s:o}", "type_name", "sso_connector", "prior_state",
                       state_now, "planned_state", json_object_get(plan, "planned_state"), "config",
                       th_json(CONFIG("example.com", ",\"enabled\":true"))));
    assert_no_diags(upd);
    json_t *enabled_state = json_object_get(upd, "new_state");
    assert_true(json_is_true(json_object_get(enabled_state, "enabled")));
    assert_string_equal(json_string_value(json_object_get(enabled_state, "email_domain")),
                        "Example.com");
    text = request_lines();
    char expect[512];
    snprintf(expect, sizeof(expect), "PATCH %s\n", path);
    assert_string_equal(text, expect);
    free(text);

    /* Someone disables it in the dashboard: the read reports the drift and
     * the plan repairs it. */
    snprintf(sim_path, sizeof(sim_path), "/__sim/connectors/%s", id);
    json_decref(th_sim_http(&sim, "PATCH", sim_path,
                            "{\"enabled\":false,\"use_fedramp_language\":true}", false, &status));
    assert_int_equal(status, 200);
    json_t *read2 =
        call(f, "ReadResource",
             json_pack("{s:s, s:O}", "type_name", "sso_connector", "current_state", enabled_state));
    assert_no_diags(read2);
    drift = json_object_get(read2, "drift");
    bool saw_enabled = false, saw_fedramp = false;
    size_t i;
    json_t *item;
    json_array_foreach(drift, i, item) {
        const char *attr = json_string_value(json_array_get(json_object_get(item, "attribute"), 0));
        if (strcmp(attr, "enabled") == 0) {
            saw_enabled = true;
            assert_true(json_is_true(json_object_get(item, "before")));
            assert_true(json_is_false(json_object_get(item, "after")));
        }
        if (strcmp(attr, "use_fedramp_language") == 0)
            saw_fedramp = true;
    }
    assert_true(saw_enabled && saw_fedramp);
    json_t *drifted = json_object_get(read2, "new_state");
    json_t *plan2 = call(
        f, "PlanResourceChange",
        json_pack(
            "{s:s, s:O, s:o}", "type_name", "sso_connector", "prior_state", drifted, "config",
            th_json(CONFIG("example.com", ",\"enabled\":true,\"use_fedramp_language\":false"))));
    assert_string_equal(json_string_value(json_object_get(plan2, "action")), "update");
    clear_requests();
    json_t *fix =
        call(f, "ApplyResourceChange",
             json_pack("{s:s, s:O, s:O, s:o}", "type_name", "sso_connector", "prior_state", drifted,
                       "planned_state", json_object_get(plan2, "planned_state"), "config",
                       th_json(CONFIG("example.com",
                                      ",\"enabled\":true,\"use_fedramp_language\":false"))));
    assert_no_diags(fix);
    reqs = th_sim_requests(&sim);
    assert_int_equal(json_array_size(reqs), 1);
    want = th_json("{\"enabled\":true,\"use_fedramp_language\":false}");
    assert_true(json_equal(json_object_get(json_array_get(reqs, 0), "body_json"), want));
    json_decref(want);
    json_decref(reqs);

    /* Destroy, then destroy again: a connector already gone is success. */
    json_t *fixed_state = json_object_get(fix, "new_state");
    for (int round = 0; round < 2; round++) {
        json_t *del = call(f, "ApplyResourceChange",
                           json_pack("{s:s, s:O, s:n, s:n}", "type_name", "sso_connector",
                                     "prior_state", fixed_state, "planned_state", "config"));
        assert_no_diags(del);
        assert_true(json_is_null(json_object_get(del, "new_state")));
        json_decref(del);
    }
    json_t *gone =
        call(f, "ReadResource",
             json_pack("{s:s, s:O}", "type_name", "sso_connector", "current_state", fixed_state));
    assert_no_diags(gone);
    assert_true(json_is_null(json_object_get(gone, "new_state")));
    json_t *left = sim_connectors();
    assert_int_equal(json_array_size(left), 0);
    json_decref(left);

    json_decref(gone);
    json_decref(fix);
    json_decref(plan2);
    json_decref(read2);
    json_decref(upd);
    json_decref(plan);
    json_decref(read);
    json_decref(applied);
}

/* The domain's DNS check finishes between the plan that enables the
 * connector (made while verification was pending) and its apply, as with
 * a saved plan: the apply succeeds, and what it returns is consistent with
 * the plan, because the plan left verification unknown. */
static void test_verified_between_plan_and_apply(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    json_t *applied = create(f, CONFIG("race.example", ""));
    assert_no_diags(applied);
    json_t *st = json_object_get(applied, "new_state");
    const char *config = CONFIG("race.example", ",\"enabled\":true");
    json_t *plan = call(f, "PlanResourceChange",
                        json_pack("{s:s, s:O, s:o}", "type_name", "sso_connector", "prior_state",
                                  st, "config", th_json("%s", config)));
    assert_no_diags(plan);
    assert_string_equal(json_string_value(json_object_get(plan, "action")), "update");
    char sim_path[256];
    snprintf(sim_path, sizeof(sim_path), "/__sim/connectors/%s/verification",
             json_string_value(json_object_get(st, "id")));
    long status = 0;
    json_decref(th_sim_http(&sim, "POST", sim_path, "{\"status\":\"verified\"}", false, &status));
    assert_int_equal(status, 200);
    json_t *upd =
        call(f, "ApplyResourceChange",
             json_pack("{s:s, s:O, s:O, s:o}", "type_name", "sso_connector", "prior_state", st,
                       "planned_state", json_object_get(plan, "planned_state"), "config",
                       th_json("%s", config)));
    assert_no_diags(upd);
    json_t *ns = json_object_get(upd, "new_state");
    assert_true(json_is_true(json_object_get(ns, "enabled")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ns, "verification"), "status")),
        "verified");
    json_decref(upd);
    json_decref(plan);
    json_decref(applied);
}

/* A create answered without `enabled`, planned enabled = true, and the
 * enable then refused: new_state says enabled = false, as it is, never the
 * planned true (the create cannot enable a connector), and the PATCH is
 * still sent. */
static void test_create_answer_without_enabled(void **state) {
    fixture *f = *state;
    configure(f, "\"max_retries\":0");
    long status = 0;
    json_t *seeded = th_sim_http(&sim, "POST", "/__sim/accounts/" ACC "/connectors",
                                 "{\"email_domain\":\"quiet.example\"}", false, &status);
    const char *id = json_string_value(json_object_get(seeded, "id"));
    char fault[1024];
    snprintf(
        fault, sizeof(fault),
        "{\"method\":\"POST\",\"path\":\"/client/v4/accounts/*/sso_connectors\",\"count\":1,"
        "\"status\":200,\"body\":\"{\\\"success\\\":true,\\\"errors\\\":[],\\\"messages\\\":[],"
        "\\\"result\\\":{\\\"id\\\":\\\"%s\\\",\\\"email_domain\\\":\\\"quiet.example\\\","
        "\\\"verification\\\":{\\\"code\\\":\\\"cloudflare_dashboard_sso=%s\\\","
        "\\\"status\\\":\\\"pending\\\"}}}\"}",
        id, id);
    add_fault(fault);
    clear_requests();
    json_t *applied = create(f, CONFIG("quiet.example", ",\"enabled\":true"));
    json_t *ns = json_object_get(applied, "new_state");
    assert_string_equal(json_string_value(json_object_get(ns, "id")), id);
    assert_true(json_is_false(json_object_get(ns, "enabled")));
    char *text = error_text(applied);
    assert_non_null(strstr(text, "created, but not enabled"));
    free(text);
    char *lines = request_lines();
    assert_non_null(strstr(lines, "PATCH"));
    free(lines);
    json_decref(applied);
    json_decref(seeded);
}

/* An API (or a proxy) that echoes the token into a value the provider
 * quotes in a diagnostic: the verification code of a connector created
 * with enabled = true on an unverified domain is quoted in "created, but
 * not enabled". Every diagnostic is masked before the answer leaves, so
 * the token is not in it (before: the whole token was). */
static void test_echoed_token_not_in_diagnostic(void **state) {
    fixture *f = *state;
    configure(f, "\"max_retries\":0");
    long status = 0;
    json_t *seeded = th_sim_http(&sim, "POST", "/__sim/accounts/" ACC "/connectors",
                                 "{\"email_domain\":\"echo.example\"}", false, &status);
    const char *id = json_string_value(json_object_get(seeded, "id"));
    char fault[1024];
    snprintf(
        fault, sizeof(fault),
        "{\"method\":\"POST\",\"path\":\"/client/v4/accounts/*/sso_connectors\",\"count\":1,"
        "\"status\":200,\"body\":\"{\\\"success\\\":true,\\\"errors\\\":[],\\\"messages\\\":[],"
        "\\\"result\\\":{\\\"id\\\":\\\"%s\\\",\\\"email_domain\\\":\\\"echo.example\\\","
        "\\\"verification\\\":{\\\"code\\\":\\\"Bearer %s\\\","
        "\\\"status\\\":\\\"pending\\\"}}}\"}",
        id, TOKEN);
    add_fault(fault);
    json_t *applied = create(f, CONFIG("echo.example", ",\"enabled\":true"));
    char *text = error_text(applied);
    assert_non_null(strstr(text, "created, but not enabled"));
    assert_non_null(strstr(text, "Bearer ***"));
    assert_null(strstr(text, TOKEN));
    free(text);
    json_decref(applied);
    json_decref(seeded);
}

/* Finding 1: a create with enabled = true (POST, then PATCH) whose PATCH
 * answer carries no connector (a 204, or an object without an id) must
 * not forget what was created: new_state holds the created connector with
 * its id, and a diagnostic says what was odd (before: new_state.id null,
 * no diagnostic). */
static void patch_answer_case(fixture *f, const char *domain, const char *fault,
                              const char *severity) {
    add_fault(fault);
    char config[256];
    snprintf(config, sizeof(config),
             "{\"account_id\":\"" ACC "\",\"email_domain\":\"%s\",\"enabled\":true}", domain);
    json_t *applied = create(f, config);
    json_t *ns = json_object_get(applied, "new_state");
    const char *id = json_string_value(json_object_get(ns, "id"));
    json_t *all = sim_connectors();
    const char *created = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(all, i, c) {
        if (strcmp(json_string_value(json_object_get(c, "email_domain")), domain) == 0)
            created = json_string_value(json_object_get(c, "id"));
    }
    assert_non_null(created);
    if (!id || strcmp(id, created) != 0)
        fail_msg("%s: new_state.id is %s, the created connector is %s", domain, id ? id : "null",
                 created);
    bool has = false;
    json_array_foreach(diagnostics(applied), i, c) {
        has |= strcmp(json_string_value(json_object_get(c, "severity")), severity) == 0;
    }
    if (!has)
        fail_msg("%s: no %s diagnostic in %s", domain, severity,
                 json_dumps(diagnostics(applied), 0));
    json_decref(all);
    json_decref(applied);
}

static void test_patch_answer_without_connector(void **state) {
    fixture *f = *state;
    configure(f, "\"max_retries\":0");
    patch_answer_case(f, "nocontent.example",
                      "{\"method\":\"PATCH\",\"path\":\"/client/v4/accounts/*\",\"count\":1,"
                      "\"status\":204,\"body\":\"\"}",
                      "error");
    patch_answer_case(f, "partial.example",
                      "{\"method\":\"PATCH\",\"path\":\"/client/v4/accounts/*\",\"count\":1,"
                      "\"status\":200,\"body\":\"{\\\"success\\\":true,\\\"errors\\\":[],"
                      "\\\"messages\\\":[],\\\"result\\\":{\\\"enabled\\\":true}}\"}",
                      "warning");
}

static void test_begin_verification_update(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    json_t *applied = create(f, CONFIG("awaiting.example", ",\"begin_verification\":false"));
    assert_no_diags(applied);
    json_t *st = json_object_get(applied, "new_state");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(st, "verification"), "status")),
        "awaiting");
    json_t *plan =
        call(f, "PlanResourceChange",
             json_pack("{s:s, s:O, s:o}", "type_name", "sso_connector", "prior_state", st, "config",
                       th_json(CONFIG("awaiting.example", ",\"begin_verification\":true"))));
    assert_string_equal(json_string_value(json_object_get(plan, "action")), "update");
    assert_int_equal(json_array_size(json_object_get(plan, "requires_replace")), 0);
    clear_requests();
    json_t *upd =
        call(f, "ApplyResourceChange",
             json_pack("{s:s, s:O, s:O, s:o}", "type_name", "sso_connector", "prior_state", st,
                       "planned_state", json_object_get(plan, "planned_state"), "config",
                       th_json(CONFIG("awaiting.example", ",\"begin_verification\":true"))));
    assert_no_diags(upd);
    json_t *ns = json_object_get(upd, "new_state");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ns, "verification"), "status")),
        "pending");
    assert_true(json_is_true(json_object_get(ns, "begin_verification")));
    char *lines = request_lines();
    char want[512];
    const char *id = json_string_value(json_object_get(st, "id"));
    snprintf(want, sizeof(want),
             "POST /client/v4/accounts/" ACC "/sso_connectors/%s/begin_verification\n"
             "GET /client/v4/accounts/" ACC "/sso_connectors/%s\n",
             id, id);
    assert_string_equal(lines, want);
    free(lines);
    json_decref(upd);
    json_decref(plan);
    json_decref(applied);
}

/* A state written by the official Cloudflare provider (same attribute
 * names; begin_verification null, true or false) goes through what
 * Terraform does with it on every plan: UpgradeResourceState, ReadResource,
 * PlanResourceChange with the same configuration (begin_verification left
 * out). Each plans no change, and the planned state is the read state. */
static void test_state_from_official_provider(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    long status = 0;
    json_t *seeded = th_sim_http(&sim, "POST", "/__sim/accounts/" ACC "/connectors",
                                 "{\"email_domain\":\"migrate.example\",\"enabled\":true,"
                                 "\"verification_status\":\"verified\"}",
                                 false, &status);
    assert_true(status == 200 || status == 201);
    const char *values[] = {"null", "true", "false"};
    for (size_t i = 0; i < 3; i++) {
        json_t *raw = json_deep_copy(seeded);
        json_object_set_new(raw, "account_id", json_string(ACC));
        json_object_set_new(raw, "begin_verification", th_json("%s", values[i]));
        json_t *up = call(f, "UpgradeResourceState",
                          json_pack("{s:s, s:i, s:o}", "type_name", "sso_connector", "version", 0,
                                    "raw_state", raw));
        assert_no_diags(up);
        json_t *read = call(f, "ReadResource", read_params(json_object_get(up, "upgraded_state")));
        assert_no_diags(read);
        json_t *now = json_object_get(read, "new_state");
        assert_int_equal(json_array_size(json_object_get(read, "drift")), 0);
        json_t *plan =
            call(f, "PlanResourceChange",
                 json_pack("{s:s, s:O, s:o}", "type_name", "sso_connector", "prior_state", now,
                           "config", th_json(CONFIG("migrate.example", ",\"enabled\":true"))));
        assert_no_diags(plan);
        if (strcmp(json_string_value(json_object_get(plan, "action")), "no-op") != 0 ||
            !json_equal(json_object_get(plan, "planned_state"), now))
            fail_msg("begin_verification %s: planned %s", values[i],
                     json_dumps(plan, JSON_COMPACT));
        json_decref(plan);
        json_decref(read);
        json_decref(up);
    }
    json_decref(seeded);
}

/* A plan made while begin_verification was unknown, applied without a
 * new plan: apply resolves it (the configuration's value now, else the
 * API's default at create, else the prior value) and never leaves an
 * unknown in new_state. */
static void test_apply_resolves_unknown_begin_verification(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    json_t *plan =
        plan_create(f, CONFIG("late.example", ",\"begin_verification\":{\"$unknown\":true}"));
    clear_requests();
    json_t *applied =
        call(f, "ApplyResourceChange",
             json_pack("{s:s, s:n, s:O, s:o}", "type_name", "sso_connector", "prior_state",
                       "planned_state", json_object_get(plan, "planned_state"), "config",
                       th_json(CONFIG("late.example", ",\"begin_verification\":false"))));
    assert_no_diags(applied);
    json_t *st = json_object_get(applied, "new_state");
    assert_true(json_is_false(json_object_get(st, "begin_verification")));
    json_t *reqs = th_sim_requests(&sim);
    json_t *want = th_json("{\"email_domain\":\"late.example\",\"begin_verification\":false}");
    assert_true(json_equal(json_object_get(json_array_get(reqs, 0), "body_json"), want));
    json_decref(want);
    json_decref(reqs);

    /* An update planned with it unknown, the configuration leaving it out
     * at apply: the prior value stays. */
    json_t *planned = json_deep_copy(st);
    json_object_set_new(planned, "begin_verification", th_json("{\"$unknown\":true}"));
    json_object_set_new(planned, "updated_on", th_json("{\"$unknown\":true}"));
    json_t *upd =
        call(f, "ApplyResourceChange",
             json_pack("{s:s, s:O, s:o, s:o}", "type_name", "sso_connector", "prior_state", st,
                       "planned_state", planned, "config", th_json(CONFIG("late.example", ""))));
    assert_no_diags(upd);
    assert_true(
        json_is_false(json_object_get(json_object_get(upd, "new_state"), "begin_verification")));
    json_decref(upd);
    json_decref(applied);
    json_decref(plan);
}

/* Fails unless `v` is a wholly known value of the schema type `type` (the
 * JSON form of GetProviderSchema): no unknown anywhere, and every object,
 * nested ones included, with exactly its type's attributes. This is what
 * Terraform requires of a data source's state and of read results. */
static void assert_conforms(const json_t *type, const json_t *v, const char *where) {
    if (json_is_null(v))
        return;
    if (json_is_object(v) && json_object_get(v, "$unknown"))
        fail_msg("%s: unknown value", where);
    if (json_is_string(type)) {
        const char *t = json_string_value(type);
        bool ok = (strcmp(t, "string") == 0 && json_is_string(v)) ||
                  (strcmp(t, "bool") == 0 && json_is_boolean(v)) ||
                  (strcmp(t, "number") == 0 && json_is_number(v));
        if (!ok)
            fail_msg("%s: not a %s", where, t);
        return;
    }
    const char *kind = json_string_value(json_array_get(type, 0));
    json_t *inner = json_array_get(type, 1);
    if (strcmp(kind, "list") == 0) {
        if (!json_is_array(v))
            fail_msg("%s: not a list", where);
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            assert_conforms(inner, item, where);
        }
        return;
    }
    assert_string_equal(kind, "object");
    if (!json_is_object(v) || json_object_size(v) != json_object_size(inner))
        fail_msg("%s: not an object with %zu attributes", where, json_object_size(inner));
    const char *key;
    json_t *field;
    json_object_foreach(inner, key, field) {
        json_t *member = json_object_get(v, key);
        if (!member)
            fail_msg("%s: attribute %s missing", where, key);
        assert_conforms(field, member, key);
    }
}

/* A state (borrowed) against a block of GetProviderSchema's answer. */
static void assert_state_conforms(const json_t *block_schema, const json_t *st, const char *what) {
    json_t *attrs = json_object_get(json_object_get(block_schema, "block"), "attributes");
    json_t *as_object = json_object();
    const char *key;
    json_t *attr;
    json_object_foreach(attrs, key, attr) {
        json_object_set(as_object, key, json_object_get(attr, "type"));
    }
    json_t *type = json_pack("[s, o]", "object", as_object);
    assert_conforms(type, st, what);
    json_decref(type);
}

static void test_import_and_data_sources(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    long status = 0;
    json_t *seeded = th_sim_http(&sim, "POST", "/__sim/accounts/" ACC "/connectors",
                                 "{\"email_domain\":\"adopt.example\",\"enabled\":true,"
                                 "\"verification_status\":\"verified\"}",
                                 false, &status);
    assert_true(status == 200 || status == 201);
    const char *id = json_string_value(json_object_get(seeded, "id"));
    assert_non_null(id);
    json_decref(th_sim_http(&sim, "POST", "/__sim/accounts/" ACC "/connectors",
                            "{\"email_domain\":\"other.example\"}", false, &status));

    /* By domain (case-insensitive) and by id: the same state. */
    json_t *by_domain =
        call(f, "ImportResourceState",
             th_json("{\"type_name\":\"sso_connector\",\"id\":\"%s/ADOPT.example\"}", ACC));
    assert_no_diags(by_domain);
    json_t *imported = json_object_get(
        json_array_get(json_object_get(by_domain, "imported_resources"), 0), "state");
    assert_string_equal(json_string_value(json_object_get(imported, "id")), id);
    assert_true(json_is_true(json_object_get(imported, "enabled")));
    json_t *by_id = call(f, "ImportResourceState",
                         th_json("{\"type_name\":\"sso_connector\",\"id\":\"%s/%s\"}", ACC, id));
    assert_no_diags(by_id);
    assert_true(json_equal(
        imported,
        json_object_get(json_array_get(json_object_get(by_id, "imported_resources"), 0), "state")));

    /* After import, a plan with the same config is quiet. */
    json_t *plan =
        call(f, "PlanResourceChange",
             json_pack("{s:s, s:O, s:o}", "type_name", "sso_connector", "prior_state", imported,
                       "config", th_json(CONFIG("adopt.example", ",\"enabled\":true"))));
    assert_string_equal(json_string_value(json_object_get(plan, "action")), "no-op");
    json_decref(plan);

    /* Hostile ids are refused before any request. */
    clear_requests();
    const char *bad[] = {"../../etc",         ACC "/../zones",
                         ACC "/x%2F..",       ACC "/" ACC "/begin_verification",
                         ACC "/exa mple.com", "nothing"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *r = call(f, "ImportResourceState",
                         json_pack("{s:s, s:s}", "type_name", "sso_connector", "id", bad[i]));
        char *text = error_text(r);
        assert_non_null(strstr(text, "Invalid import id"));
        free(text);
        json_decref(r);
    }
    char *lines = request_lines();
    assert_string_equal(lines, "");
    free(lines);
    /* A well-formed id of nothing. */
    json_t *none = call(f, "ImportResourceState",
                        th_json("{\"type_name\":\"sso_connector\",\"id\":\"%s/%s\"}", ACC,
                                "ffffffffffffffffffffffffffffffff"));
    char *text = error_text(none);
    assert_non_null(strstr(text, "non-existent"));
    free(text);
    json_decref(none);

    /* Data sources. */
    json_t *all =
        call(f, "ReadDataSource",
             th_json("{\"type_name\":\"sso_connectors\",\"config\":{\"account_id\":\"%s\"}}", ACC));
    assert_no_diags(all);
    assert_int_equal(json_array_size(json_object_get(json_object_get(all, "state"), "connectors")),
                     2);
    json_t *one = call(f, "ReadDataSource",
                       th_json("{\"type_name\":\"sso_connector\",\"config\":{\"account_id\":\"%s\","
                               "\"email_domain\":\"adopt.example\"}}",
                               ACC));
    assert_no_diags(one);
    assert_string_equal(json_string_value(json_object_get(json_object_get(one, "state"), "id")),
                        id);
    json_t *one_id =
        call(f, "ReadDataSource",
             th_json("{\"type_name\":\"sso_connector\",\"config\":{\"account_id\":\"%s\","
                     "\"id\":\"%s\"}}",
                     ACC, id));
    assert_no_diags(one_id);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(one_id, "state"), "email_domain")),
        "adopt.example");
    /* Every state is wholly known and conforms to its schema, nested
     * objects and list elements included (Terraform rejects anything
     * else); so do the imported state and a read of it. */
    json_t *schema = call(f, "GetProviderSchema", json_object());
    json_t *data_schemas = json_object_get(schema, "data_source_schemas");
    assert_state_conforms(json_object_get(data_schemas, "sso_connectors"),
                          json_object_get(all, "state"), "sso_connectors");
    assert_state_conforms(json_object_get(data_schemas, "sso_connector"),
                          json_object_get(one, "state"), "sso_connector by domain");
    assert_state_conforms(json_object_get(data_schemas, "sso_connector"),
                          json_object_get(one_id, "state"), "sso_connector by id");
    json_t *resource_schema =
        json_object_get(json_object_get(schema, "resource_schemas"), "sso_connector");
    assert_state_conforms(resource_schema, imported, "imported");
    json_t *reread = call(f, "ReadResource", read_params(imported));
    assert_no_diags(reread);
    assert_state_conforms(resource_schema, json_object_get(reread, "new_state"), "read");
    json_decref(reread);
    json_decref(schema);

    /* ListResource: importable ids for everything in the account. */
    json_t *list =
        call(f, "ListResource",
             th_json("{\"type_name\":\"sso_connector\",\"config\":{\"account_id\":\"%s\"}}", ACC));
    assert_no_diags(list);
    json_t *resources = json_object_get(list, "resources");
    assert_int_equal(json_array_size(resources), 2);
    size_t i;
    json_t *item;
    bool found = false;
    json_array_foreach(resources, i, item) {
        const char *import_id = json_string_value(json_object_get(item, "id"));
        json_t *r = call(f, "ImportResourceState",
                         json_pack("{s:s, s:s}", "type_name", "sso_connector", "id", import_id));
        assert_no_diags(r);
        json_decref(r);
        if (strcmp(json_string_value(json_object_get(item, "display_name")), "adopt.example") == 0)
            found = true;
    }
    assert_true(found);

    json_decref(list);
    json_decref(one_id);
    json_decref(one);
    json_decref(all);
    json_decref(by_id);
    json_decref(by_domain);
    json_decref(seeded);
}

static void test_409_and_bad_token(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    long status = 0;
    json_decref(th_sim_http(&sim, "POST", "/__sim/accounts/" ACC "/connectors",
                            "{\"email_domain\":\"taken.example\"}", false, &status));
    json_t *applied = create(f, CONFIG("taken.example", ""));
    assert_true(json_is_null(json_object_get(applied, "new_state")));
    char *text = error_text(applied);
    assert_non_null(strstr(text, ACC "/taken.example"));
    free(text);
    json_decref(applied);

    /* A second provider with a wrong token: the diagnostic says which
     * permission is needed and never shows the token. */
    th_proc other;
    const char *argv[] = {PROVIDER_BIN, NULL};
    const char *env[] = {"TF_LOG=TRACE", NULL};
    assert_int_equal(th_proc_spawn(&other, argv, env), 0);
    json_t *resp = th_proc_call_new(&other, "ConfigureProvider",
                                    th_json("{\"config\":{\"api_token\":\"wrong-token-abc123\","
                                            "\"base_url\":\"%s\"}}",
                                            sim.base_url),
                                    WAIT);
    json_decref(resp);
    resp = th_proc_call_new(
        &other, "ReadDataSource",
        th_json("{\"type_name\":\"sso_connectors\",\"config\":{\"account_id\":\"%s\"}}", ACC),
        WAIT);
    assert_non_null(resp);
    text = error_text(json_object_get(resp, "result"));
    assert_non_null(strstr(text, "403"));
    assert_non_null(strstr(text, "SSO Connector"));
    assert_null(strstr(text, "wrong-token-abc123"));
    free(text);
    json_decref(resp);
    th_proc_close_stdin(&other);
    int st;
    assert_int_equal(th_proc_wait(&other, WAIT, &st), 0);
    assert_null(strstr(other.err_buf, "wrong-token-abc123"));
    th_proc_destroy(&other);
}

static void test_retries(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    json_t *applied = create(f, CONFIG("retry.example", ""));
    assert_no_diags(applied);
    json_t *st = json_object_get(applied, "new_state");
    json_t *read_params =
        json_pack("{s:s, s:O}", "type_name", "sso_connector", "current_state", st);

    /* 429 with Retry-After: 1, then success. */
    clear_requests();
    add_fault("{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*\",\"count\":1,\"status\":429,"
              "\"retry_after\":\"1\"}");
    long t0 = now_ms();
    json_t *r = call(f, "ReadResource", json_deep_copy(read_params));
    assert_no_diags(r);
    assert_true(now_ms() - t0 >= 900);
    json_decref(r);
    char *lines = request_lines();
    assert_int_equal(strlen(lines) > 0, 1);
    /* Two GETs: the refused one and the retry. */
    assert_non_null(strstr(strstr(lines, "GET") + 1, "GET"));
    free(lines);

    /* 503 twice, then success. */
    clear_requests();
    add_fault("{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*\",\"count\":2,\"status\":503}");
    r = call(f, "ReadResource", json_deep_copy(read_params));
    assert_no_diags(r);
    json_decref(r);
    json_t *reqs = th_sim_requests(&sim);
    assert_int_equal(json_array_size(reqs), 3);
    json_decref(reqs);

    /* Persistent 500: exactly 1 + max_retries (3) attempts, then a
     * diagnostic with the status, and the state is kept. (Retry-After-Ms
     * 50 keeps the three waits short; the 503s above take the backoff.) */
    clear_requests();
    add_fault("{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*\",\"count\":10,\"status\":500,"
              "\"retry_after_ms\":50}");
    r = call(f, "ReadResource", json_deep_copy(read_params));
    char *text = error_text(r);
    assert_non_null(strstr(text, "500"));
    free(text);
    assert_true(json_equal(json_object_get(r, "new_state"), st));
    json_decref(r);
    reqs = th_sim_requests(&sim);
    assert_int_equal(json_array_size(reqs), 4);
    json_decref(reqs);
    long status;
    json_decref(th_sim_http(&sim, "DELETE", "/__sim/faults", NULL, false, &status));

    json_decref(read_params);
    json_decref(applied);
}

/* request_timeout 0.2 s against a read held 1 s (both 3 times longer
 * under valgrind): the read times out. */
static void test_timeout(void **state) {
    fixture *f = *state;
    char extra[64], fault[160];
    snprintf(extra, sizeof(extra), "\"request_timeout\":%g,\"max_retries\":0", 0.2 * g_slow);
    configure(f, extra);
    snprintf(fault, sizeof(fault),
             "{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*\",\"count\":1,\"delay_ms\":%d}",
             SLOW(1000));
    add_fault(fault);
    json_t *r =
        call(f, "ReadDataSource",
             th_json("{\"type_name\":\"sso_connectors\",\"config\":{\"account_id\":\"%s\"}}", ACC));
    char *text = error_text(r);
    assert_non_null(strstr(text, "imed out"));
    free(text);
    json_decref(r);
}

/* The create's answer is lost after the connector was committed: the
 * provider looks the domain up instead of creating a second one. */
static void test_lost_create_response(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    add_fault("{\"method\":\"POST\",\"path\":\"/client/v4/accounts/*/sso_connectors\",\"count\":1,"
              "\"drop\":\"after\"}");
    json_t *applied = create(f, CONFIG("lost.example", ""));
    assert_no_diags(applied);
    json_t *st = json_object_get(applied, "new_state");
    assert_int_equal(strlen(json_string_value(json_object_get(st, "id"))), 32);
    json_t *all = sim_connectors();
    assert_int_equal(json_array_size(all), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 0), "id")),
                        json_string_value(json_object_get(st, "id")));
    json_decref(all);
    json_decref(applied);

    /* Dropped before handling: retried, one connector. */
    add_fault("{\"method\":\"POST\",\"path\":\"/client/v4/accounts/*/sso_connectors\",\"count\":1,"
              "\"drop\":\"before\"}");
    applied = create(f, CONFIG("dropped.example", ""));
    assert_no_diags(applied);
    all = sim_connectors();
    assert_int_equal(json_array_size(all), 2);
    json_decref(all);
    json_decref(applied);
}

/* 40 reads, each delayed 250 ms by the simulator, sent without waiting:
 * they are worked on together (far less than the 10 s a serial provider
 * would need; the bound, half of that, is loose so a slow machine cannot
 * fail it). */
static void test_pipelined_reads(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    json_t *applied = create(f, CONFIG("pipe.example", ""));
    json_t *st = json_object_get(applied, "new_state");
    enum { DELAY_MS = 250 };
    char fault[160];
    snprintf(fault, sizeof(fault),
             "{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*\",\"count\":40,\"delay_ms\":%d}",
             SLOW(DELAY_MS));
    add_fault(fault);
    long t0 = now_ms();
    for (int i = 0; i < 40; i++)
        send_request_new(f, json_integer(1000 + i), "ReadResource", read_params(st));
    bool seen[40] = {0};
    for (int i = 0; i < 40; i++) {
        json_t *resp = th_proc_read_json(&f->prov, WAIT);
        assert_non_null(resp);
        json_int_t id = json_integer_value(json_object_get(resp, "id"));
        assert_true(id >= 1000 && id < 1040);
        assert_false(seen[id - 1000]);
        seen[id - 1000] = true;
        assert_int_equal(
            json_array_size(json_object_get(json_object_get(resp, "result"), "diagnostics")), 0);
        json_decref(resp);
    }
    long elapsed = now_ms() - t0;
    print_message("40 delayed reads answered in %ld ms\n", elapsed);
    assert_true(elapsed < SLOW(40 * DELAY_MS / 2));
    json_decref(applied);
}

/* With request 1 held up, sends request 2 (a list of the account) and
 * checks that 2 is answered first: one slow call never holds up another. */
static void expect_list_overtakes(fixture *f) {
    send_request_new(
        f, json_integer(2), "ReadDataSource",
        th_json("{\"type_name\":\"sso_connectors\",\"config\":{\"account_id\":\"%s\"}}", ACC));
    json_t *first = th_proc_read_json(&f->prov, WAIT);
    json_t *second = th_proc_read_json(&f->prov, WAIT);
    assert_non_null(first);
    assert_non_null(second);
    assert_int_equal(json_integer_value(json_object_get(first, "id")), 2);
    assert_int_equal(json_integer_value(json_object_get(second, "id")), 1);
    json_decref(first);
    json_decref(second);
}

/* A slow call does not hold up a fast one: a read delayed 1 s is sent
 * first, a list second; the second is answered first. */
static void test_slow_does_not_block_fast(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    json_t *applied = create(f, CONFIG("slow.example", ""));
    json_t *st = json_object_get(applied, "new_state");
    /* Only the connector's GET is slow: the fast request lists the account. */
    char fault[256];
    snprintf(fault, sizeof(fault),
             "{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*/sso_connectors/%s\","
             "\"count\":1,\"delay_ms\":%d}",
             json_string_value(json_object_get(st, "id")), SLOW(1000));
    add_fault(fault);
    send_request_new(f, json_integer(1), "ReadResource", read_params(st));
    expect_list_overtakes(f);
    json_decref(applied);
}

/* $/cancelRequest on a delayed read answers -32800 promptly; StopProvider
 * cancels what is in flight and answers after it. */
static void test_cancel_and_stop(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    json_t *applied = create(f, CONFIG("cancel.example", ""));
    json_t *st = json_object_get(applied, "new_state");
    add_fault(
        "{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*\",\"count\":2,\"delay_ms\":8000}");
    json_t *req =
        json_pack("{s:s, s:s, s:s, s:{s:s, s:O}}", "jsonrpc", "2.0", "id", "read-1", "method",
                  "ReadResource", "params", "type_name", "sso_connector", "current_state", st);
    char *line = json_dumps(req, JSON_COMPACT);
    th_proc_send_line(&f->prov, line);
    long t0 = now_ms();
    th_proc_send_line(
        &f->prov,
        "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":\"read-1\"}}");
    json_t *resp = th_proc_read_json(&f->prov, WAIT);
    assert_non_null(resp);
    assert_string_equal(json_string_value(json_object_get(resp, "id")), "read-1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(resp, "error"), "code")),
                     -32800);
    assert_true(now_ms() - t0 < 7000);
    json_decref(resp);

    th_proc_send_line(&f->prov, line);
    th_proc_send_line(
        &f->prov,
        "{\"jsonrpc\":\"2.0\",\"id\":\"stop\",\"method\":\"StopProvider\",\"params\":{}}");
    json_t *a = th_proc_read_json(&f->prov, WAIT);
    json_t *b = th_proc_read_json(&f->prov, WAIT);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(a, "id")), "read-1");
    assert_string_equal(json_string_value(json_object_get(b, "id")), "stop");
    assert_true(now_ms() - t0 < 7000);
    free(line);
    json_decref(req);
    json_decref(a);
    json_decref(b);
    json_decref(applied);
}

/* SIGTERM with a call in flight: it is answered, then the provider exits 0. */
static void test_sigterm(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    add_fault(
        "{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*\",\"count\":1,\"delay_ms\":8000}");
    th_proc_send_line(&f->prov,
                      "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ReadDataSource\",\"params\":{"
                      "\"type_name\":\"sso_connectors\",\"config\":{\"account_id\":\"" ACC "\"}}}");
    /* Make sure the request is in flight before the signal. */
    wait_for_sim(1, false);
    th_proc_kill(&f->prov, SIGTERM);
    json_t *resp = th_proc_read_json(&f->prov, WAIT);
    assert_non_null(resp);
    assert_int_equal(json_integer_value(json_object_get(resp, "id")), 9);
    json_decref(resp);
    int status;
    assert_int_equal(th_proc_wait(&f->prov, WAIT, &status), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* The methods that need no API: validation and state upgrade. */
static void test_validation_and_upgrade(void **state) {
    fixture *f = *state;
    json_t *r = call(f, "ValidateProviderConfig",
                     th_json("{\"config\":{\"api_token\":\"x\",\"max_retries\":-2,"
                             "\"base_url\":\"http://10.1.2.3/client/v4\"}}"));
    json_t *d = diagnostics(r);
    assert_int_equal(json_array_size(d), 2);
    json_decref(r);
    r = call(f, "ValidateProviderConfig",
             th_json("{\"config\":{\"api_token\":{\"$unknown\":true}}}"));
    assert_no_diags(r);
    json_decref(r);

    r = call(f, "ValidateDataResourceConfig",
             th_json("{\"type_name\":\"sso_connector\",\"config\":{\"account_id\":\"" ACC "\"}}"));
    char *text = error_text(r);
    assert_non_null(strstr(text, "id or email_domain"));
    free(text);
    json_decref(r);
    r = call(f, "ValidateDataResourceConfig",
             th_json("{\"type_name\":\"sso_connectors\",\"config\":{\"account_id\":\"" ACC "\"}}"));
    assert_no_diags(r);
    json_decref(r);

    r = call(f, "UpgradeResourceState",
             th_json("{\"type_name\":\"sso_connector\",\"version\":0,\"raw_state\":{\"id\":\"x\","
                     "\"account_id\":\"" ACC "\",\"legacy\":1,\"verification\":{\"status\":"
                     "\"pending\"}}}"));
    json_t *up = json_object_get(r, "upgraded_state");
    assert_int_equal(json_object_size(up), 9);
    assert_null(json_object_get(up, "legacy"));
    /* The nested object conforms to its type: both members present. */
    json_t *want_verification = th_json("{\"code\":null,\"status\":\"pending\"}");
    assert_true(json_equal(json_object_get(up, "verification"), want_verification));
    json_decref(want_verification);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(diagnostics(r), 0), "severity")),
        "warning");
    json_decref(r);
    /* A state never holds an unknown: refused, not passed on. */
    r = call(f, "UpgradeResourceState",
             th_json("{\"type_name\":\"sso_connector\",\"version\":0,\"raw_state\":{\"id\":\"x\","
                     "\"enabled\":{\"$unknown\":true}}}"));
    text = error_text(r);
    assert_non_null(strstr(text, "nknown value"));
    free(text);
    assert_true(json_is_null(json_object_get(r, "upgraded_state")));
    json_decref(r);
    r = call(f, "UpgradeResourceState",
             th_json("{\"type_name\":\"sso_connector\",\"version\":3,\"raw_state\":{}}"));
    text = error_text(r);
    assert_non_null(strstr(text, "newer"));
    free(text);
    json_decref(r);
}

/* An apply whose plan changes email_domain in place is refused: the
 * orchestrator must replace. Nothing is sent to the API. */
static void test_apply_refuses_in_place_replacement(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    json_t *applied = create(f, CONFIG("keep.example", ""));
    json_t *st = json_object_get(applied, "new_state");
    json_t *planned = json_deep_copy(st);
    json_object_set_new(planned, "email_domain", json_string("moved.example"));
    clear_requests();
    json_t *r =
        call(f, "ApplyResourceChange",
             json_pack("{s:s, s:O, s:o, s:o}", "type_name", "sso_connector", "prior_state", st,
                       "planned_state", planned, "config", th_json(CONFIG("moved.example", ""))));
    char *text = error_text(r);
    assert_non_null(strstr(text, "replacement"));
    free(text);
    assert_true(json_equal(json_object_get(r, "new_state"), st));
    char *lines = request_lines();
    assert_string_equal(lines, "");
    free(lines);
    json_decref(r);
    json_decref(applied);
}

/* At TRACE the provider logs every request and answer, yet the token
 * appears nowhere: not on stdout, not in any log line (teardown checks
 * both for every test; this test makes sure there is a lot to check). */
static void test_token_never_logged(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    json_t *applied = create(f, CONFIG("secret.example", ",\"enabled\":true"));
    json_decref(applied);
    add_fault("{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*\",\"count\":1,\"status\":403}");
    json_t *r =
        call(f, "ReadDataSource",
             th_json("{\"type_name\":\"sso_connectors\",\"config\":{\"account_id\":\"%s\"}}", ACC));
    json_decref(r);
    th_proc_drain(&f->prov);
    assert_non_null(f->prov.err_buf);
    size_t trace_lines = 0;
    for (const char *p = f->prov.err_buf; (p = strstr(p, "[TRACE]")); p++)
        trace_lines++;
    print_message("%zu TRACE lines checked\n", trace_lines);
    assert_true(trace_lines >= 5);
    assert_null(strstr(f->prov.err_buf, TOKEN));
    assert_null(strstr(f->prov.out_buf ? f->prov.out_buf : "", TOKEN));
}

/* Odd answers from the API: a read answered for another connector is
 * refused (the state keeps its id); members the API leaves out are kept
 * from the prior state instead of turning into null drift. */
static void test_odd_api_answers(void **state) {
    fixture *f = *state;
    configure(f, "\"max_retries\":0");
    json_t *applied = create(f, CONFIG("odd.example", ""));
    json_t *st = json_object_get(applied, "new_state");
    json_t *read_params =
        json_pack("{s:s, s:O}", "type_name", "sso_connector", "current_state", st);

    add_fault(
        "{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*\",\"count\":1,\"status\":200,"
        "\"body\":\"{\\\"success\\\":true,\\\"errors\\\":[],\\\"messages\\\":[],\\\"result\\\":"
        "{\\\"id\\\":\\\"ffffffffffffffffffffffffffffffff\\\",\\\"email_domain\\\":"
        "\\\"evil.example\\\"}}\"}");
    json_t *r = call(f, "ReadResource", json_deep_copy(read_params));
    char *text = error_text(r);
    assert_non_null(strstr(text, "ffffffffffffffffffffffffffffffff"));
    free(text);
    assert_true(json_equal(json_object_get(r, "new_state"), st));
    json_decref(r);

    add_fault(
        "{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*\",\"count\":1,\"status\":200,"
        "\"body\":\"{\\\"success\\\":true,\\\"errors\\\":[],\\\"messages\\\":[],\\\"result\\\":"
        "{\\\"enabled\\\":true}}\"}");
    r = call(f, "ReadResource", json_deep_copy(read_params));
    assert_no_diags(r);
    json_t *ns = json_object_get(r, "new_state");
    assert_string_equal(json_string_value(json_object_get(ns, "id")),
                        json_string_value(json_object_get(st, "id")));
    assert_true(
        json_equal(json_object_get(ns, "verification"), json_object_get(st, "verification")));
    json_t *drift = json_object_get(r, "drift");
    assert_int_equal(json_array_size(drift), 1);
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(json_array_get(drift, 0), "attribute"), 0)),
                        "enabled");
    json_decref(r);

    /* A create answered 200 without an id: the provider finds the
     * connector by its domain instead of storing an id-less state. */
    json_t *created = create(f, CONFIG("noid.example", ""));
    json_decref(created);
    add_fault(
        "{\"method\":\"POST\",\"path\":\"/client/v4/accounts/*/sso_connectors\",\"count\":1,"
        "\"status\":200,\"body\":\"{\\\"success\\\":true,\\\"errors\\\":[],\\\"messages\\\":[],"
        "\\\"result\\\":{}}\"}");
    long status;
    json_decref(th_sim_http(&sim, "POST", "/__sim/accounts/" ACC "/connectors",
                            "{\"email_domain\":\"ghost.example\"}", false, &status));
    created = create(f, CONFIG("ghost.example", ""));
    assert_no_diags(created);
    assert_int_equal(
        strlen(json_string_value(json_object_get(json_object_get(created, "new_state"), "id"))),
        32);
    json_decref(created);
    json_decref(read_params);
    json_decref(applied);
}

/* The API accepts a PATCH but reports values other than planned: the
 * apply says so instead of returning an inconsistent state silently. */
static void test_inconsistent_apply_reported(void **state) {
    fixture *f = *state;
    configure(f, "\"max_retries\":0");
    json_t *applied = create(f, CONFIG("incons.example", ""));
    json_t *st = json_object_get(applied, "new_state");
    char body[1024];
    snprintf(
        body, sizeof(body),
        "{\"method\":\"PATCH\",\"path\":\"/client/v4/accounts/*\",\"count\":1,\"status\":200,"
        "\"body\":\"{\\\"success\\\":true,\\\"errors\\\":[],\\\"messages\\\":[],\\\"result\\\":"
        "{\\\"id\\\":\\\"%s\\\",\\\"enabled\\\":false}}\"}",
        json_string_value(json_object_get(st, "id")));
    add_fault(body);
    json_t *planned = json_deep_copy(st);
    json_object_set_new(planned, "enabled", json_true());
    json_object_set_new(planned, "updated_on", th_json("{\"$unknown\":true}"));
    json_t *r = call(f, "ApplyResourceChange",
                     json_pack("{s:s, s:O, s:o, s:o}", "type_name", "sso_connector", "prior_state",
                               st, "planned_state", planned, "config",
                               th_json(CONFIG("incons.example", ",\"enabled\":true"))));
    char *text = error_text(r);
    assert_non_null(strstr(text, "inconsistent"));
    free(text);
    json_t *attr = json_object_get(json_array_get(diagnostics(r), 0), "attribute");
    assert_string_equal(json_string_value(json_array_get(attr, 0)), "enabled");
    json_decref(r);
    json_decref(applied);
}

/* An update cancelled while it waits for its rate-limit slot has sent
 * nothing: -32800, and no PATCH reaches the API. */
static void test_cancel_before_send(void **state) {
    fixture *f = *state;
    configure(f, "\"max_rps\":0.5");
    json_t *applied = create(f, CONFIG("rps.example", ""));
    json_t *st = json_object_get(applied, "new_state");
    clear_requests();
    json_t *planned = json_deep_copy(st);
    json_object_set_new(planned, "use_fedramp_language", json_true());
    json_object_set_new(planned, "updated_on", th_json("{\"$unknown\":true}"));
    json_t *req = json_pack("{s:s, s:s, s:s, s:{s:s, s:O, s:o, s:o}}", "jsonrpc", "2.0", "id",
                            "apply-1", "method", "ApplyResourceChange", "params", "type_name",
                            "sso_connector", "prior_state", st, "planned_state", planned, "config",
                            th_json(CONFIG("rps.example", ",\"use_fedramp_language\":true")));
    char *line = json_dumps(req, JSON_COMPACT);
    th_proc_send_line(&f->prov, line);
    th_proc_send_line(
        &f->prov,
        "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":\"apply-1\"}}");
    json_t *resp = th_proc_read_json(&f->prov, WAIT);
    assert_non_null(resp);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(resp, "error"), "code")),
                     -32800);
    char *lines = request_lines();
    assert_null(strstr(lines, "PATCH"));
    free(lines);
    free(line);
    json_decref(resp);
    json_decref(req);
    json_decref(applied);
}

/* A create whose answer is lost, cancelled while the client waits to
 * retry: the connector exists, so the answer carries it (with an error
 * diagnostic), never new_state null. */
static void test_cancel_after_lost_create(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    add_fault("{\"method\":\"POST\",\"path\":\"/client/v4/accounts/*/sso_connectors\",\"count\":1,"
              "\"drop\":\"after\"}");
    json_t *plan = plan_create(f, CONFIG("cancelled.example", ""));
    json_t *req =
        json_pack("{s:s, s:s, s:s, s:{s:s, s:n, s:O, s:o}}", "jsonrpc", "2.0", "id", "create-1",
                  "method", "ApplyResourceChange", "params", "type_name", "sso_connector",
                  "prior_state", "planned_state", json_object_get(plan, "planned_state"), "config",
                  th_json(CONFIG("cancelled.example", "")));
    char *line = json_dumps(req, JSON_COMPACT);
    th_proc_send_line(&f->prov, line);
    /* Wait until the create reached the simulator, then cancel. */
    wait_for_sim(1, true);
    th_proc_send_line(
        &f->prov,
        "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":\"create-1\"}}");
    json_t *resp = th_proc_read_json(&f->prov, WAIT);
    assert_non_null(resp);
    json_t *result = json_object_get(resp, "result");
    assert_non_null(result);
    json_t *ns = json_object_get(result, "new_state");
    json_t *all = sim_connectors();
    assert_int_equal(json_array_size(all), 1);
    assert_string_equal(json_string_value(json_object_get(ns, "id")),
                        json_string_value(json_object_get(json_array_get(all, 0), "id")));
    json_decref(all);
    free(line);
    json_decref(resp);
    json_decref(req);
    json_decref(plan);
}

/* Sends a create of `domain` (config extra members `extra`) whose POST the
 * simulator holds for 500 ms (the cancel follows its arrival within a 5 ms
 * poll), cancels it once the POST has arrived, and returns the answer (new
 * reference). */
static json_t *apply_create_cancelled_midway(fixture *f, const char *config) {
    char fault[160];
    snprintf(fault, sizeof(fault),
             "{\"method\":\"POST\",\"path\":\"/client/v4/accounts/*/sso_connectors\","
             "\"count\":1,\"delay_ms\":%d}",
             SLOW(500));
    add_fault(fault);
    json_t *plan = plan_create(f, config);
    json_t *req = json_pack(
        "{s:s, s:s, s:s, s:{s:s, s:n, s:O, s:o}}", "jsonrpc", "2.0", "id", "slow-create", "method",
        "ApplyResourceChange", "params", "type_name", "sso_connector", "prior_state",
        "planned_state", json_object_get(plan, "planned_state"), "config", th_json("%s", config));
    char *line = json_dumps(req, JSON_COMPACT);
    th_proc_send_line(&f->prov, line);
    wait_for_sim(1, false); /* the POST has arrived; the simulator holds it */
    th_proc_send_line(&f->prov, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\","
                                "\"params\":{\"id\":\"slow-create\"}}");
    json_t *resp = th_proc_read_json(&f->prov, WAIT);
    free(line);
    json_decref(req);
    json_decref(plan);
    return resp;
}

/* A cancel (Ctrl-C) that arrives while the POST is in flight, when the POST
 * is all the plan needs: the apply succeeded, so no error (an error would
 * make Terraform taint a connector that is exactly as planned). */
static void test_cancel_during_complete_create(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    json_t *resp = apply_create_cancelled_midway(f, CONFIG("ctrlc.example", ""));
    assert_non_null(resp);
    json_t *result = json_object_get(resp, "result");
    assert_non_null(result);
    assert_int_equal(json_array_size(json_object_get(result, "diagnostics")), 0);
    json_t *all = sim_connectors();
    assert_int_equal(json_array_size(all), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(result, "new_state"), "id")),
        json_string_value(json_object_get(json_array_get(all, 0), "id")));
    json_decref(all);
    json_decref(resp);
}

/* The same cancel when the plan also enables the connector: the PATCH is
 * not sent, and the answer records the connector with an error. */
static void test_cancel_during_create_before_enable(void **state) {
    fixture *f = *state;
    configure(f, NULL);
    json_t *resp = apply_create_cancelled_midway(f, CONFIG("ctrlc2.example", ",\"enabled\":true"));
    assert_non_null(resp);
    json_t *result = json_object_get(resp, "result");
    assert_non_null(result);
    json_t *d = json_object_get(result, "diagnostics");
    assert_int_equal(json_array_size(d), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(d, 0), "summary")),
                        "Apply cancelled");
    json_t *ns = json_object_get(result, "new_state");
    assert_true(json_is_false(json_object_get(ns, "enabled")));
    json_t *all = sim_connectors();
    assert_int_equal(json_array_size(all), 1);
    json_decref(all);
    json_t *log = th_sim_requests(&sim);
    size_t i;
    json_t *r;
    json_array_foreach(log, i, r) {
        assert_string_not_equal(json_string_value(json_object_get(r, "method")), "PATCH");
    }
    json_decref(log);
    json_decref(resp);
}

/* With max_rps, a call backing off after a 503 (Retry-After: 1) holds no
 * rate-limit slot: a later request is answered first. */
static void test_backoff_holds_no_slot(void **state) {
    fixture *f = *state;
    configure(f, "\"max_rps\":100");
    json_t *applied = create(f, CONFIG("backoff.example", ""));
    json_t *st = json_object_get(applied, "new_state");
    char fault[256];
    snprintf(fault, sizeof(fault),
             "{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*/sso_connectors/%s\","
             "\"count\":1,\"status\":503,\"retry_after\":\"%d\"}",
             json_string_value(json_object_get(st, "id")), SLOW(1));
    add_fault(fault);
    clear_requests();
    send_request_new(f, json_integer(1), "ReadResource", read_params(st));
    /* Send the second request once the first has been refused (the 503
     * is in the log). */
    wait_for_sim(1, false);
    expect_list_overtakes(f);
    json_decref(applied);
}

/* An account listed over several pages (a simulator serving 2 connectors
 * a page): the data source, ListResource and import by domain see all. */
static void test_paged_lists(void **state) {
    fixture *f = *state;
    th_sim paged;
    const char *args[] = {"--page-size", "2", NULL};
    assert_int_equal(th_sim_start(&paged, TOKEN, args), 0);
    long status;
    for (int i = 1; i <= 5; i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"email_domain\":\"p%d.example\"}", i);
        json_decref(th_sim_http(&paged, "POST", "/__sim/accounts/" ACC "/connectors", body, false,
                                &status));
        assert_true(status == 200 || status == 201);
    }
    json_t *r = call(
        f, "ConfigureProvider",
        th_json("{\"config\":{\"api_token\":\"%s\",\"base_url\":\"%s\"}}", TOKEN, paged.base_url));
    assert_no_diags(r);
    json_decref(r);
    r = call(f, "ReadDataSource",
             th_json("{\"type_name\":\"sso_connectors\",\"config\":{\"account_id\":\"%s\"}}", ACC));
    assert_no_diags(r);
    assert_int_equal(json_array_size(json_object_get(json_object_get(r, "state"), "connectors")),
                     5);
    json_decref(r);
    json_t *reqs = th_sim_requests(&paged);
    assert_int_equal(json_array_size(reqs), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(reqs, 2), "query")),
                        "page=3");
    json_decref(reqs);
    r = call(f, "ListResource",
             th_json("{\"type_name\":\"sso_connector\",\"config\":{\"account_id\":\"%s\"}}", ACC));
    assert_int_equal(json_array_size(json_object_get(r, "resources")), 5);
    json_decref(r);
    r = call(f, "ImportResourceState",
             th_json("{\"type_name\":\"sso_connector\",\"id\":\"%s/p5.example\"}", ACC));
    assert_no_diags(r);
    json_decref(r);

    /* A create whose answer is lost in this paged account: the connector
     * is on the last page, yet it is found, and created only once. */
    json_decref(
        th_sim_http(&paged, "POST", "/__sim/faults",
                    "{\"method\":\"POST\",\"path\":\"/client/v4/accounts/*/sso_connectors\","
                    "\"count\":1,\"drop\":\"after\"}",
                    false, &status));
    assert_int_equal(status, 201);
    json_t *applied = create(f, CONFIG("p6.example", ""));
    assert_no_diags(applied);
    assert_int_equal(
        strlen(json_string_value(json_object_get(json_object_get(applied, "new_state"), "id"))),
        32);
    json_decref(applied);
    json_t *v = th_sim_http(&paged, "GET", "/__sim/connectors", NULL, false, &status);
    assert_int_equal(json_array_size(json_object_get(v, "connectors")), 6);
    json_decref(v);
    /* ...and the create was sent once: the lookup read every page before
     * deciding anything. */
    json_t *log = th_sim_requests(&paged);
    size_t posts = 0, i;
    json_t *entry;
    json_array_foreach(log, i, entry) {
        posts += strcmp(json_string_value(json_object_get(entry, "method")), "POST") == 0;
    }
    assert_int_equal(posts, 1);
    json_decref(log);

    /* A create refused once with 503 in this paged account: the lookup
     * reads every page, proves it absent, and the create is sent again. */
    json_decref(
        th_sim_http(&paged, "POST", "/__sim/faults",
                    "{\"method\":\"POST\",\"path\":\"/client/v4/accounts/*/sso_connectors\","
                    "\"count\":1,\"status\":503}",
                    false, &status));
    applied = create(f, CONFIG("p7.example", ""));
    assert_no_diags(applied);
    json_decref(applied);
    v = th_sim_http(&paged, "GET", "/__sim/connectors", NULL, false, &status);
    assert_int_equal(json_array_size(json_object_get(v, "connectors")), 7);
    json_decref(v);
    int st = th_sim_stop(&paged);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Issue 8: with every POST dropped before the API handles it, max_retries
 * N sends the create exactly N + 1 times (the resource has no lookup and
 * no re-send of its own: cfapi owns the lost create), creates nothing,
 * and the error says the outcome is unknown with the id to import it by.
 * (Before: N = 0 sent it twice, N = 1 four times.) */
static void create_budget_case(fixture *f, int n) {
    char extra[32];
    snprintf(extra, sizeof(extra), "\"max_retries\":%d", n);
    configure(f, extra);
    add_fault("{\"method\":\"POST\",\"path\":\"/client/v4/accounts/*/sso_connectors\","
              "\"count\":100,\"drop\":\"before\"}");
    json_t *applied = create(f, CONFIG("budget.example", ""));
    char *text = error_text(applied);
    assert_non_null(strstr(text, "import it with the id " ACC "/budget.example"));
    free(text);
    assert_true(json_is_null(json_object_get(applied, "new_state")));
    json_decref(applied);
    json_t *log = th_sim_requests(&sim);
    size_t posts = 0, i;
    json_t *entry;
    json_array_foreach(log, i, entry) {
        posts += strcmp(json_string_value(json_object_get(entry, "method")), "POST") == 0;
    }
    json_decref(log);
    if (posts != (size_t)n + 1)
        fail_msg("max_retries %d: %zu POSTs, want %d", n, posts, n + 1);
    json_t *all = sim_connectors();
    assert_int_equal(json_array_size(all), 0);
    json_decref(all);
}

static void test_create_budget_0(void **state) {
    create_budget_case(*state, 0);
}

static void test_create_budget_1(void **state) {
    create_budget_case(*state, 1);
}

/* With max_rps 2, 40 reads wait for their rate-limit slots; all are
 * cancelled. A read sent afterwards does not wait behind the 20 s of
 * slots the cancelled ones had reserved (the bound is loose). */
static void test_cancelled_calls_free_their_slots(void **state) {
    fixture *f = *state;
    configure(f, "\"max_rps\":2");
    json_t *applied = create(f, CONFIG("slots.example", ""));
    json_t *st = json_object_get(applied, "new_state");
    clear_requests();
    for (int i = 0; i < 40; i++)
        send_request_new(f, json_integer(100 + i), "ReadResource", read_params(st));
    /* Once two reads have gone out, the others hold their slots. */
    wait_for_sim(2, false);
    th_proc_send_line(&f->prov,
                      "{\"jsonrpc\":\"2.0\",\"id\":\"stop\",\"method\":\"StopProvider\"}");
    for (int i = 0; i < 41; i++) {
        json_t *resp = th_proc_read_json(&f->prov, WAIT);
        assert_non_null(resp);
        json_decref(resp);
    }
    long t0 = now_ms();
    json_t *r = call(f, "ReadResource", read_params(st));
    assert_no_diags(r);
    long waited = now_ms() - t0;
    print_message("read after 40 cancelled calls answered in %ld ms\n", waited);
    assert_true(waited < 10000);
    json_decref(r);
    json_decref(applied);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_and_unconfigured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_configure_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_auth_with_email, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_begin_verification_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verified_between_plan_and_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_answer_without_enabled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echoed_token_not_in_diagnostic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_from_official_provider, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_resolves_unknown_begin_verification, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_import_and_data_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_409_and_bad_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_create_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_does_not_block_fast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation_and_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_refuses_in_place_replacement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_never_logged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_odd_api_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inconsistent_apply_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_before_send, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_after_lost_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_during_complete_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_during_create_before_enable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backoff_holds_no_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paged_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_budget_0, setup, teardown),
        cmocka_unit_test_setup_teardown(test_patch_answer_without_connector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_budget_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancelled_calls_free_their_slots, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
