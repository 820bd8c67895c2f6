/*
 * test_terraform.c - users' workflows with the real terraform, against
 * cf-api-sim, through the bridge (terraform-provider-cloudflare) and the
 * provider it starts.
 *
 * Usage: test_tfbridge_terraform tls|notls [K/N]. "notls" runs every case
 * with TF_DISABLE_PLUGIN_TLS=1, "tls" with Terraform's default AutoMTLS;
 * K/N runs only the K-th of N interleaved shares of the cases (ctest runs
 * each mode as two shares, side by side). Without
 * terraform on PATH the program says SKIPPED and exits 77 (ctest shows the
 * test as skipped); it never skips for another reason.
 * TF_E2E_FILTER=<glob> runs only the cases whose names match.
 *
 * Each case has its own folder (tf_run.h), simulator and token. Every
 * terraform command runs under a deadline, and after each one the test
 * checks that none of Terraform's output says "Provider produced" or
 * "inconsistent" (Terraform's words for a provider answer it rejected), that
 * no secret appears in it, and that no bridge or provider process is left.
 * Beyond Terraform's output and exit code, the cases assert the exact API
 * calls in the simulator's request log and, where it matters, Terraform's
 * state (`terraform show -json`, `terraform state list`).
 *
 * A failing case keeps its folder (configuration, state, each command's
 * stdout and stderr as run-NN.stdout/.stderr, logs) and prints its path;
 * TF_E2E_KEEP=1 keeps every case's folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tf_run.h"

#ifndef TF_PLUGIN_DIR
#error "TF_PLUGIN_DIR (the folder of terraform-provider-cloudflare) must be defined"
#endif

#define ACCT     "023e105f4ecef8ad9ca31a8372d0c353"
#define API_LIST "/client/v4/accounts/" ACCT "/sso_connectors"
#define API_ONE  API_LIST "/*"
#define EMAIL    "ops@example.com"

/* One terraform command may take this long: generous for a loaded 2-core
 * machine (a command takes about a second), short enough that a hung
 * bridge fails the case well inside the ctest timeout. Once one command
 * has hung, the others get HUNG_TIMEOUT_MS, so that a bridge that hangs
 * every time still fails every case within the ctest timeout. */
#define RUN_TIMEOUT_MS  120000
#define HUNG_TIMEOUT_MS 30000

static char g_terraform[256];
static bool g_no_tls;
static bool g_hung; /* a command has timed out */

static int run_timeout_ms(void) {
    return g_hung ? HUNG_TIMEOUT_MS : RUN_TIMEOUT_MS;
}

typedef struct tcase {
    tf_workdir w;
    th_sim sim;
    char token[64];          /* the sim's API token: distinctive, never to be seen */
    char key[64];            /* the sim's legacy API key: likewise */
    char provider_auth[256]; /* the credential lines of the provider block */
    char later[4096];        /* expectations that failed, reported at the end */
    bool passed;
} tcase;

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state) {
    tcase *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(c->token, sizeof(c->token), "tfe-canary-token-%d-%09ld", (int)getpid(), ts.tv_nsec);
    snprintf(c->key, sizeof(c->key), "tfe-canary-key-%d-%09ld", (int)getpid(), ts.tv_nsec);
    snprintf(c->provider_auth, sizeof(c->provider_auth), "  api_token = \"%s\"\n", c->token);
    if (tf_workdir_make(&c->w, g_terraform, TF_PLUGIN_DIR, g_no_tls) < 0) {
        fprintf(stderr, "cannot make a case folder under /tmp\n");
        free(c);
        return -1;
    }
    const char *const extra[] = {"--email", EMAIL, "--key", c->key, NULL};
    if (th_sim_start(&c->sim, c->token, extra) < 0) {
        tf_workdir_remove(&c->w);
        free(c);
        return -1;
    }
    *state = c;
    return 0;
}

static int teardown(void **state) {
    tcase *c = *state;
    int status = th_sim_stop(&c->sim);
    if (c->passed && !getenv("TF_E2E_KEEP"))
        tf_workdir_remove(&c->w);
    else
        fprintf(stderr, "kept the case folder: %s\n", c->w.dir);
    free(c);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- running terraform ---------------------------------------------- */

/* Prints a result for a failure message (the end of long output). */
static void print_result(const tf_result *r) {
    const char *all = r->all ? r->all : "";
    size_t len = strlen(all);
    const size_t max = 24000;
    fprintf(stderr, "---- %s (exit %d%s) ----\n%s%s\n---- end ----\n", r->cmd, r->code,
            r->timed_out ? ", TIMED OUT" : "", len > max ? "[...]\n" : "",
            len > max ? all + len - max : all);
}

/* The checks made after every command: it finished in time, Terraform
 * rejected none of the provider's answers, no secret was printed, and no
 * bridge or provider process outlived it. */
static void check_run(tcase *c, const tf_result *r) {
    if (r->timed_out) {
        print_result(r);
        int limit = run_timeout_ms() / 1000;
        g_hung = true;
        fail_msg("%s did not finish within %d s (process group killed)", r->cmd, limit);
    }
    static const char *const bugs[] = {"Provider produced", "inconsistent", NULL};
    for (size_t i = 0; bugs[i]; i++) {
        if (strstr(r->all, bugs[i])) {
            print_result(r);
            fail_msg("%s: Terraform's output says \"%s\": it rejected a provider answer", r->cmd,
                     bugs[i]);
        }
    }
    /* `show -json <plan>` prints the plan's configuration, the provider
     * block's literal values included, by design (the JSON forms show
     * sensitive values): only its stderr is ours to check there. */
    const char *said = strncmp(r->cmd, "terraform show -json ", 21) == 0 ? r->err : r->all;
    if (strstr(said, c->token) || strstr(said, c->key)) {
        print_result(r);
        fail_msg("%s: a secret (the API token or key) appears in Terraform's output", r->cmd);
    }
    char report[1024];
    int n = tf_leftovers(&c->w, 10000, report, sizeof(report));
    if (n > 0) {
        print_result(r);
        fail_msg("%s: %d process(es) still running 10 s after terraform exited: %s", r->cmd, n,
                 report);
    }
}

/* Runs `terraform args...` (NULL-terminated) with `env` added, and makes
 * the checks of check_run. */
static tf_result run_env(tcase *c, const char *const env[], const char *first, ...) {
    const char *args[48];
    size_t n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 47; a = va_arg(ap, const char *))
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    tf_job job;
    if (tf_start(&c->w, &job, env, args) < 0)
        fail_msg("cannot start %s", g_terraform);
    tf_result r;
    tf_finish(&job, run_timeout_ms(), &r);
    check_run(c, &r);
    return r;
}

#define TF(c, ...)          run_env((c), NULL, __VA_ARGS__, (const char *)NULL)
#define TF_ENV(c, env, ...) run_env((c), (env), __VA_ARGS__, (const char *)NULL)

static void expect_code(const tf_result *r, int code) {
    if (r->code != code) {
        print_result(r);
        fail_msg("%s: exit status %d, expected %d", r->cmd, r->code, code);
    }
}

/* `text` with the frame of Terraform's diagnostics (the box-drawing
 * characters before each line) removed and every run of white space made one
 * space, so that a phrase is found wherever Terraform wrapped it. Malloc'd. */
static char *flattened(const char *text) {
    static const char *const frame[] = {"\u2502", "\u2577", "\u2575", NULL};
    char *out = malloc(strlen(text) + 1);
    assert_non_null(out);
    size_t n = 0;
    for (const char *p = text; *p;) {
        bool is_frame = false;
        for (size_t i = 0; frame[i] && !is_frame; i++) {
            size_t len = strlen(frame[i]);
            if (strncmp(p, frame[i], len) == 0) {
                is_frame = true;
                p += len;
            }
        }
        if (is_frame || isspace((unsigned char)*p)) {
            if (!is_frame)
                p++;
            if (n > 0 && out[n - 1] != ' ')
                out[n++] = ' ';
            continue;
        }
        out[n++] = *p++;
    }
    out[n] = '\0';
    return out;
}

/* True when the output holds `needle`, ignoring how it was wrapped and,
 * when asked, letter case. */
static bool output_has(const tf_result *r, const char *needle, bool any_case) {
    char *hay = flattened(r->all), *want = flattened(needle);
    bool found = any_case ? strcasestr(hay, want) != NULL : strstr(hay, want) != NULL;
    free(hay);
    free(want);
    return found;
}

static void expect_text(const tf_result *r, const char *needle) {
    if (!output_has(r, needle, false)) {
        print_result(r);
        fail_msg("%s: the output does not contain \"%s\"", r->cmd, needle);
    }
}

/* For expectations on wording that is still being written: a miss is
 * recorded and the case goes on, then fails at its end (fail_later). */
static void expect_text_later(tcase *c, const tf_result *r, const char *needle) {
    if (output_has(r, needle, true))
        return;
    print_result(r);
    size_t used = strlen(c->later);
    snprintf(c->later + used, sizeof(c->later) - used, "\n  %s: the output does not contain \"%s\"",
             r->cmd, needle);
}

static void fail_later(tcase *c) {
    if (c->later[0])
        fail_msg("unmet expectations:%s", c->later);
}

/* The result's stdout as JSON (show -json, output -json). New reference. */
static json_t *stdout_json(const tf_result *r) {
    json_error_t err;
    json_t *v = json_loads(r->out, 0, &err);
    if (!v) {
        print_result(r);
        fail_msg("%s: stdout is not JSON: %s", r->cmd, err.text);
    }
    return v;
}

/* ---- configuration ---------------------------------------------------- */

/* Writes main.tf: the terraform block, the provider block (the case's
 * credentials and the simulator's base_url), then `fmt`. */
static void write_config(tcase *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void write_config(tcase *c, const char *fmt, ...) {
    char *body = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&body, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    char *text = NULL;
    n = asprintf(&text,
                 "terraform {\n"
                 "  required_providers {\n"
                 "    cloudflare = { source = \"terraform.local/sso-connectors/cloudflare\" }\n"
                 "  }\n"
                 "}\n\n"
                 "provider \"cloudflare\" {\n"
                 "%s"
                 "  base_url = \"%s\"\n"
                 "}\n\n"
                 "%s",
                 c->provider_auth, c->sim.base_url, body);
    assert_true(n >= 0);
    assert_int_equal(tf_write_file(&c->w, "main.tf", text), 0);
    free(body);
    free(text);
}

/* A connector resource block. `extra` holds more attribute lines. */
#define CONNECTOR(name, domain, extra)                                                             \
    "resource \"cloudflare_sso_connector\" \"" name "\" {\n"                                       \
    "  account_id   = \"" ACCT "\"\n"                                                              \
    "  email_domain = \"" domain "\"\n" extra "}\n"

/* ---- the simulator ---------------------------------------------------- */

/* A control-plane call that must answer `want`; returns its body (new
 * reference, may be NULL). */
static json_t *sim_ctl(tcase *c, const char *method, const char *path, const char *body,
                       long want) {
    long status = 0;
    json_t *v = th_sim_http(&c->sim, method, path, body, false, &status);
    if (status != want) {
        char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
        fail_msg("%s %s answered %ld (expected %ld): %s", method, path, status, want,
                 text ? text : "");
    }
    return v;
}

/* Seeds a connector in ACCT through the control plane; copies its id. */
static void sim_seed(tcase *c, const char *body, char id[33]) {
    json_t *v = sim_ctl(c, "POST", "/__sim/accounts/" ACCT "/connectors", body, 201);
    const char *s = json_string_value(json_object_get(v, "id"));
    assert_non_null(s);
    snprintf(id, 33, "%s", s);
    json_decref(v);
}

/* Every connector the simulator holds (new reference). */
static json_t *sim_connectors(tcase *c) {
    json_t *v = sim_ctl(c, "GET", "/__sim/connectors", NULL, 200);
    json_t *list = json_incref(json_object_get(v, "connectors"));
    json_decref(v);
    assert_non_null(list);
    return list;
}

/* The only connector the simulator holds (new reference); fails unless
 * there is exactly one. */
static json_t *sim_only_connector(tcase *c) {
    json_t *list = sim_connectors(c);
    if (json_array_size(list) != 1)
        fail_msg("the simulator holds %zu connectors, expected 1", json_array_size(list));
    json_t *one = json_incref(json_array_get(list, 0));
    json_decref(list);
    return one;
}

static void sim_clear_log(tcase *c) {
    json_decref(sim_ctl(c, "DELETE", "/__sim/requests", NULL, 200));
}

static void sim_add_fault(tcase *c, const char *rule) {
    json_decref(sim_ctl(c, "POST", "/__sim/faults", rule, 201));
}

/* The request log (new reference). */
static json_t *sim_log(tcase *c) {
    json_t *log = th_sim_requests(&c->sim);
    assert_non_null(log);
    return log;
}

static const char *str(const json_t *o, const char *name) {
    return json_string_value(json_object_get(o, name));
}

/* How many logged calls have `method` (NULL: any but GET) and a path
 * matching the glob `path` (NULL: any). */
static size_t count_calls(const json_t *log, const char *method, const char *path) {
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(log, i, e) {
        const char *m = str(e, "method"), *p = str(e, "path");
        if (!m || !p)
            continue;
        bool method_ok = method ? strcmp(m, method) == 0 : strcmp(m, "GET") != 0;
        if (method_ok && (!path || fnmatch(path, p, 0) == 0))
            n++;
    }
    return n;
}

/* The i-th logged call that is not a GET (borrowed), or NULL. */
static json_t *nth_write(const json_t *log, size_t nth) {
    size_t i;
    json_t *e;
    json_array_foreach(log, i, e) {
        if (strcmp(str(e, "method"), "GET") != 0 && nth-- == 0)
            return e;
    }
    return NULL;
}

static void print_log(const json_t *log) {
    size_t i;
    json_t *e;
    fprintf(stderr, "---- the simulator's request log ----\n");
    json_array_foreach(log, i, e) {
        fprintf(stderr, "%s %s%s%s in_flight=%lld %s\n", str(e, "method"), str(e, "path"),
                str(e, "query")[0] ? "?" : "", str(e, "query"),
                (long long)json_integer_value(json_object_get(e, "in_flight")),
                str(e, "body") ? str(e, "body") : "");
    }
}

/* Asserts that the log holds exactly `n` calls of `method` to `path`. */
static void expect_calls(const json_t *log, const char *method, const char *path, size_t n) {
    size_t got = count_calls(log, method, path);
    if (got != n) {
        print_log(log);
        fail_msg("%zu %s call(s) to %s in the request log, expected %zu", got,
                 method ? method : "non-GET", path ? path : "any path", n);
    }
}

/* Asserts that nothing but GETs reached the API since the log was cleared. */
static void expect_no_writes(tcase *c) {
    json_t *log = sim_log(c);
    expect_calls(log, NULL, NULL, 0);
    json_decref(log);
}

/* ---- Terraform's state ------------------------------------------------ */

/* `terraform show -json`'s root module resources (new reference; an empty
 * array when the state is empty). */
static json_t *state_resources(tcase *c) {
    tf_result r = TF(c, "show", "-json");
    expect_code(&r, 0);
    json_t *doc = stdout_json(&r);
    json_t *res = json_object_get(json_object_get(json_object_get(doc, "values"), "root_module"),
                                  "resources");
    json_t *out = res ? json_incref(res) : json_array();
    json_decref(doc);
    tf_result_free(&r);
    return out;
}

/* The resource at `address` in `resources` (borrowed); fails when absent. */
static json_t *state_get(const json_t *resources, const char *address) {
    size_t i;
    json_t *e;
    json_array_foreach(resources, i, e) {
        if (strcmp(str(e, "address"), address) == 0)
            return e;
    }
    fail_msg("%s is not in Terraform's state", address);
    return NULL;
}

/* A string attribute of a state resource (borrowed). */
static const char *state_attr(const json_t *resource, const char *name) {
    return json_string_value(json_object_get(json_object_get(resource, "values"), name));
}

/* The id Terraform's state holds for `address` ("type.name" of a managed
 * resource without count), copied into id. Read from the state file itself
 * (format version 4) rather than through `terraform show -json`, which
 * would start terraform and the provider just to print what the file says;
 * the cases that check what Terraform makes of its state use
 * state_resources. The file must not hold a secret either. */
static void state_id(tcase *c, const char *address, char id[33]) {
    char path[256];
    snprintf(path, sizeof(path), "%s/terraform.tfstate", c->w.dir);
    char *text = tf_read_file(path);
    if (!text)
        fail_msg("no state file at %s", path);
    if (strstr(text, c->token) || strstr(text, c->key))
        fail_msg("a secret (the API token or key) appears in %s", path);
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    if (!doc)
        fail_msg("%s is not JSON: %s", path, err.text);
    free(text);
    assert_int_equal(json_integer_value(json_object_get(doc, "version")), 4);
    const char *found = NULL;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(doc, "resources"), i, r) {
        const char *mode = str(r, "mode"), *type = str(r, "type"), *name = str(r, "name");
        if (!mode || !type || !name || json_object_get(r, "module") || strcmp(mode, "managed") != 0)
            continue;
        char addr[256];
        snprintf(addr, sizeof(addr), "%s.%s", type, name);
        if (strcmp(addr, address) != 0)
            continue;
        json_t *instances = json_object_get(r, "instances");
        assert_int_equal(json_array_size(instances), 1);
        found = json_string_value(
            json_object_get(json_object_get(json_array_get(instances, 0), "attributes"), "id"));
    }
    if (!found)
        fail_msg("%s is not in Terraform's state (%s)", address, path);
    snprintf(id, 33, "%s", found);
    json_decref(doc);
}

/* Applies the configuration with -auto-approve and expects success. */
static void apply_ok(tcase *c, const char *summary) {
    tf_result r = TF(c, "apply", "-auto-approve");
    expect_code(&r, 0);
    expect_text(&r, summary);
    tf_result_free(&r);
}

/* A plan with -detailed-exitcode that must find nothing to do, and must
 * change nothing remote. */
static void expect_no_changes(tcase *c) {
    sim_clear_log(c);
    tf_result r = TF(c, "plan", "-detailed-exitcode");
    expect_code(&r, 0);
    expect_text(&r, "No changes.");
    tf_result_free(&r);
    expect_no_writes(c);
}

/* ---- the workflows ---------------------------------------------------- */

/* 1. The plan-review workflow: a saved plan with -detailed-exitcode, its
 * JSON form, the apply of exactly that plan (one POST), then nothing to
 * do. */
static void test_saved_plan_apply(void **state) {
    tcase *c = *state;
    write_config(c, CONNECTOR("a", "example.com", ""));

    tf_result r = TF(c, "plan", "-out=p.tfplan", "-detailed-exitcode");
    expect_code(&r, 2);
    expect_text(&r, "# cloudflare_sso_connector.a will be created");
    expect_text(&r, "Plan: 1 to add, 0 to change, 0 to destroy.");
    tf_result_free(&r);
    expect_no_writes(c);

    r = TF(c, "show", "-json", "p.tfplan");
    expect_code(&r, 0);
    json_t *plan = stdout_json(&r);
    json_t *changes = json_object_get(plan, "resource_changes");
    assert_int_equal(json_array_size(changes), 1);
    json_t *change = json_array_get(changes, 0);
    assert_string_equal(str(change, "address"), "cloudflare_sso_connector.a");
    json_t *ch = json_object_get(change, "change");
    json_t *actions = json_object_get(ch, "actions");
    assert_int_equal(json_array_size(actions), 1);
    assert_string_equal(json_string_value(json_array_get(actions, 0)), "create");
    assert_true(json_is_true(json_object_get(json_object_get(ch, "after_unknown"), "id")));
    assert_string_equal(str(json_object_get(ch, "after"), "email_domain"), "example.com");
    assert_string_equal(str(json_object_get(ch, "after"), "account_id"), ACCT);
    json_decref(plan);
    tf_result_free(&r);

    sim_clear_log(c);
    r = TF(c, "apply", "p.tfplan");
    expect_code(&r, 0);
    expect_text(&r, "Apply complete! Resources: 1 added, 0 changed, 0 destroyed.");
    tf_result_free(&r);
    json_t *log = sim_log(c);
    expect_calls(log, "POST", API_LIST, 1);
    expect_calls(log, NULL, NULL, 1);
    assert_string_equal(str(json_object_get(nth_write(log, 0), "body_json"), "email_domain"),
                        "example.com");
    json_decref(log);

    json_t *conn = sim_only_connector(c);
    char id[33];
    state_id(c, "cloudflare_sso_connector.a", id);
    assert_string_equal(id, str(conn, "id"));
    json_decref(conn);

    expect_no_changes(c);
    c->passed = true;
}

/* 2. Drift: use_fedramp_language changed behind Terraform's back is shown
 * as a change outside Terraform and planned back; -refresh-only shows it;
 * the apply repairs it with one PATCH.
 *
 * Terraform's normal plan lists only the outside changes that feed a change
 * it plans. The output of use_fedramp_language alone does not: the plan puts
 * the value back, so that output stays false. The output of the whole
 * connector does (updated_on becomes unknown), as it would for a user who
 * outputs the object. */
static void test_drift(void **state) {
    tcase *c = *state;
    static const char config[] =
        CONNECTOR("a", "example.com", "  use_fedramp_language = false\n") //
        "output \"fedramp\" {\n"
        "  value = cloudflare_sso_connector.a.use_fedramp_language\n"
        "}\n"
        "output \"connector\" {\n"
        "  value = cloudflare_sso_connector.a\n"
        "}\n";
    write_config(c, "%s", config);
    apply_ok(c, "Resources: 1 added, 0 changed, 0 destroyed.");
    char id[33], path[128];
    state_id(c, "cloudflare_sso_connector.a", id);
    snprintf(path, sizeof(path), "/__sim/connectors/%s", id);
    json_decref(sim_ctl(c, "PATCH", path, "{\"use_fedramp_language\":true}", 200));

    sim_clear_log(c);
    tf_result r = TF(c, "plan", "-detailed-exitcode");
    expect_code(&r, 2);
    expect_text(&r, "Objects have changed outside of Terraform");
    expect_text(&r, "use_fedramp_language = true -> false");
    expect_text(&r, "Plan: 0 to add, 1 to change, 0 to destroy.");
    tf_result_free(&r);

    r = TF(c, "plan", "-refresh-only", "-detailed-exitcode");
    expect_code(&r, 2);
    expect_text(&r, "Objects have changed outside of Terraform");
    expect_text(&r, "use_fedramp_language = false -> true");
    tf_result_free(&r);
    expect_no_writes(c);

    r = TF(c, "apply", "-auto-approve");
    expect_code(&r, 0);
    expect_text(&r, "Resources: 0 added, 1 changed, 0 destroyed.");
    expect_text(&r, "fedramp = false");
    tf_result_free(&r);
    json_t *log = sim_log(c);
    char one[128];
    snprintf(one, sizeof(one), API_LIST "/%s", id);
    expect_calls(log, "PATCH", one, 1);
    expect_calls(log, NULL, NULL, 1);
    assert_true(json_is_false(
        json_object_get(json_object_get(nth_write(log, 0), "body_json"), "use_fedramp_language")));
    json_decref(log);
    json_t *conn = sim_only_connector(c);
    assert_true(json_is_false(json_object_get(conn, "use_fedramp_language")));
    json_decref(conn);

    expect_no_changes(c);
    c->passed = true;
}

/* 3. A new email_domain replaces the connector: the plan says so, the
 * apply deletes the old one, then creates the new one. */
static void test_replace_on_domain_change(void **state) {
    tcase *c = *state;
    write_config(c, CONNECTOR("a", "example.com", ""));
    apply_ok(c, "Resources: 1 added, 0 changed, 0 destroyed.");
    char old_id[33];
    state_id(c, "cloudflare_sso_connector.a", old_id);

    write_config(c, CONNECTOR("a", "example.org", ""));
    sim_clear_log(c);
    tf_result r = TF(c, "plan", "-detailed-exitcode");
    expect_code(&r, 2);
    expect_text(&r, "# forces replacement");
    expect_text(&r, "must be replaced");
    expect_text(&r, "Plan: 1 to add, 0 to change, 1 to destroy.");
    tf_result_free(&r);
    expect_no_writes(c);

    r = TF(c, "apply", "-auto-approve");
    expect_code(&r, 0);
    expect_text(&r, "Resources: 1 added, 0 changed, 1 destroyed.");
    tf_result_free(&r);
    json_t *log = sim_log(c);
    char old_path[128];
    snprintf(old_path, sizeof(old_path), API_LIST "/%s", old_id);
    expect_calls(log, NULL, NULL, 2);
    json_t *first = nth_write(log, 0), *second = nth_write(log, 1);
    if (strcmp(str(first, "method"), "DELETE") != 0 || strcmp(str(first, "path"), old_path) != 0 ||
        strcmp(str(second, "method"), "POST") != 0 || strcmp(str(second, "path"), API_LIST) != 0) {
        print_log(log);
        fail_msg("expected DELETE %s then POST %s", old_path, API_LIST);
    }
    assert_string_equal(str(json_object_get(second, "body_json"), "email_domain"), "example.org");
    json_decref(log);

    json_t *conn = sim_only_connector(c);
    assert_string_equal(str(conn, "email_domain"), "example.org");
    assert_string_not_equal(str(conn, "id"), old_id);
    char new_id[33];
    state_id(c, "cloudflare_sso_connector.a", new_id);
    assert_string_equal(new_id, str(conn, "id"));
    json_decref(conn);

    expect_no_changes(c);
    c->passed = true;
}

/* 4. A connector deleted outside Terraform (through the API) is planned
 * for creation again, and created by one POST. (The id output makes the
 * deletion relevant to the plan, so Terraform reports it: see test_drift.) */
static void test_deleted_outside(void **state) {
    tcase *c = *state;
    static const char config[] = CONNECTOR("a", "example.com", "") //
        "output \"id\" {\n"
        "  value = cloudflare_sso_connector.a.id\n"
        "}\n";
    write_config(c, "%s", config);
    apply_ok(c, "Resources: 1 added, 0 changed, 0 destroyed.");
    char old_id[33], path[128];
    state_id(c, "cloudflare_sso_connector.a", old_id);
    snprintf(path, sizeof(path), API_LIST "/%s", old_id);
    long status = 0;
    json_decref(th_sim_http(&c->sim, "DELETE", path, NULL, true, &status));
    assert_int_equal(status, 200);

    sim_clear_log(c);
    tf_result r = TF(c, "plan", "-detailed-exitcode");
    expect_code(&r, 2);
    expect_text(&r, "# cloudflare_sso_connector.a has been deleted");
    expect_text(&r, "# cloudflare_sso_connector.a will be created");
    expect_text(&r, "Plan: 1 to add, 0 to change, 0 to destroy.");
    tf_result_free(&r);
    expect_no_writes(c);

    apply_ok(c, "Resources: 1 added, 0 changed, 0 destroyed.");
    json_t *log = sim_log(c);
    expect_calls(log, "POST", API_LIST, 1);
    expect_calls(log, NULL, NULL, 1);
    json_decref(log);
    json_t *conn = sim_only_connector(c);
    char new_id[33];
    state_id(c, "cloudflare_sso_connector.a", new_id);
    assert_string_equal(new_id, str(conn, "id"));
    assert_string_not_equal(new_id, old_id);
    json_decref(conn);

    expect_no_changes(c);
    c->passed = true;
}

/* 5. A value known only at apply: b's domain is made of a's id. One apply
 * creates both, a first. */
static void test_unknown_until_apply(void **state) {
    tcase *c = *state;
    static const char config[] = CONNECTOR("a", "example.com", "") //
        "resource \"cloudflare_sso_connector\" \"b\" {\n"
        "  account_id   = \"" ACCT "\"\n"
        "  email_domain = \"b${cloudflare_sso_connector.a.id}.example\"\n"
        "}\n";
    write_config(c, "%s", config);
    sim_clear_log(c);
    tf_result r = TF(c, "plan", "-detailed-exitcode");
    expect_code(&r, 2);
    expect_text(&r, "Plan: 2 to add, 0 to change, 0 to destroy.");
    tf_result_free(&r);
    expect_no_writes(c);

    apply_ok(c, "Resources: 2 added, 0 changed, 0 destroyed.");
    char a_id[33], b_domain[64];
    state_id(c, "cloudflare_sso_connector.a", a_id);
    snprintf(b_domain, sizeof(b_domain), "b%s.example", a_id);
    json_t *log = sim_log(c);
    expect_calls(log, "POST", API_LIST, 2);
    expect_calls(log, NULL, NULL, 2);
    assert_string_equal(str(json_object_get(nth_write(log, 0), "body_json"), "email_domain"),
                        "example.com");
    assert_string_equal(str(json_object_get(nth_write(log, 1), "body_json"), "email_domain"),
                        b_domain);
    json_decref(log);

    json_t *res = state_resources(c);
    assert_string_equal(state_attr(state_get(res, "cloudflare_sso_connector.b"), "email_domain"),
                        b_domain);
    json_decref(res);
    json_t *conns = sim_connectors(c);
    assert_int_equal(json_array_size(conns), 2);
    assert_string_equal(str(json_array_get(conns, 1), "email_domain"), b_domain);
    json_decref(conns);

    expect_no_changes(c);
    c->passed = true;
}

/* 6a. Import with an import block: Terraform generates the configuration
 * (-generate-config-out), the apply imports without touching the API, and
 * then there is nothing to do. */
static void test_import_block_generated_config(void **state) {
    tcase *c = *state;
    char id[33];
    sim_seed(c,
             "{\"email_domain\":\"imported.example\",\"enabled\":true,"
             "\"use_fedramp_language\":true,\"verification_status\":\"verified\"}",
             id);
    write_config(c,
                 "import {\n"
                 "  to = cloudflare_sso_connector.imp\n"
                 "  id = \"" ACCT "/%s\"\n"
                 "}\n",
                 id);
    sim_clear_log(c);
    tf_result r =
        TF(c, "plan", "-generate-config-out=gen.tf", "-out=p.tfplan", "-detailed-exitcode");
    expect_code(&r, 2);
    expect_text(&r, "# cloudflare_sso_connector.imp will be imported");
    expect_text(&r, "Plan: 1 to import, 0 to add, 0 to change, 0 to destroy.");
    tf_result_free(&r);
    char path[256];
    snprintf(path, sizeof(path), "%s/gen.tf", c->w.dir);
    char *gen = tf_read_file(path);
    assert_non_null(gen);
    if (!strstr(gen, "resource \"cloudflare_sso_connector\" \"imp\"") ||
        !strstr(gen, "\"imported.example\"") || !strstr(gen, "\"" ACCT "\"")) {
        fprintf(stderr, "---- gen.tf ----\n%s\n", gen);
        fail_msg("gen.tf lacks the resource block, its email_domain or its account_id");
    }
    free(gen);

    r = TF(c, "apply", "p.tfplan");
    expect_code(&r, 0);
    expect_text(&r, "Apply complete! Resources: 1 imported, 0 added, 0 changed, 0 destroyed.");
    tf_result_free(&r);
    expect_no_writes(c);
    char state_id_imp[33];
    state_id(c, "cloudflare_sso_connector.imp", state_id_imp);
    assert_string_equal(state_id_imp, id);

    expect_no_changes(c);
    c->passed = true;
}

/* 6b. `terraform import` by <account_id>/<id> and by
 * <account_id>/<email_domain>; then nothing to do. */
static void test_import_command(void **state) {
    tcase *c = *state;
    char id_c[33], id_d[33];
    sim_seed(c, "{\"email_domain\":\"byid.example\"}", id_c);
    sim_seed(c, "{\"email_domain\":\"bydomain.example\",\"verification_status\":\"verified\"}",
             id_d);
    write_config(c, CONNECTOR("c", "byid.example", "") CONNECTOR("d", "bydomain.example", ""));
    sim_clear_log(c);

    char import_id[128];
    snprintf(import_id, sizeof(import_id), ACCT "/%s", id_c);
    tf_result r = TF(c, "import", "cloudflare_sso_connector.c", import_id);
    expect_code(&r, 0);
    expect_text(&r, "Import successful!");
    tf_result_free(&r);
    r = TF(c, "import", "cloudflare_sso_connector.d", ACCT "/bydomain.example");
    expect_code(&r, 0);
    expect_text(&r, "Import successful!");
    tf_result_free(&r);
    expect_no_writes(c);

    r = TF(c, "state", "list");
    expect_code(&r, 0);
    assert_string_equal(r.out, "cloudflare_sso_connector.c\ncloudflare_sso_connector.d\n");
    tf_result_free(&r);
    json_t *res = state_resources(c);
    assert_string_equal(state_attr(state_get(res, "cloudflare_sso_connector.c"), "id"), id_c);
    assert_string_equal(state_attr(state_get(res, "cloudflare_sso_connector.d"), "id"), id_d);
    assert_string_equal(
        str(json_object_get(json_object_get(state_get(res, "cloudflare_sso_connector.d"), "values"),
                            "verification"),
            "status"),
        "verified");
    json_decref(res);

    expect_no_changes(c);
    c->passed = true;
}

/* 7. Both data sources: the list, and one connector by email domain and by
 * id, read into outputs; a domain with no connector is an error. */
static void test_data_sources(void **state) {
    tcase *c = *state;
    char id1[33], id2[33];
    sim_seed(c,
             "{\"email_domain\":\"one.example\",\"enabled\":true,"
             "\"verification_status\":\"verified\"}",
             id1);
    sim_seed(c, "{\"email_domain\":\"two.example\"}", id2);
    static const char *const data =
        "data \"cloudflare_sso_connectors\" \"all\" {\n"
        "  account_id = \"" ACCT "\"\n"
        "}\n"
        "data \"cloudflare_sso_connector\" \"by_domain\" {\n"
        "  account_id   = \"" ACCT "\"\n"
        "  email_domain = \"two.example\"\n"
        "}\n"
        "data \"cloudflare_sso_connector\" \"by_id\" {\n"
        "  account_id = \"" ACCT "\"\n"
        "  id         = \"%s\"\n"
        "}\n"
        "output \"domains\" {\n"
        "  value = [for x in data.cloudflare_sso_connectors.all.connectors : x.email_domain]\n"
        "}\n"
        "output \"by_domain_id\" { value = data.cloudflare_sso_connector.by_domain.id }\n"
        "output \"by_domain_status\" {\n"
        "  value = data.cloudflare_sso_connector.by_domain.verification.status\n"
        "}\n"
        "output \"by_id_domain\" { value = data.cloudflare_sso_connector.by_id.email_domain }\n"
        "output \"by_id_enabled\" { value = data.cloudflare_sso_connector.by_id.enabled }\n";
    write_config(c, data, id1);
    sim_clear_log(c);
    apply_ok(c, "Resources: 0 added, 0 changed, 0 destroyed.");

    tf_result r = TF(c, "output", "-json");
    expect_code(&r, 0);
    json_t *out = stdout_json(&r);
#define OUT(name) json_object_get(json_object_get(out, name), "value")
    json_t *domains = OUT("domains");
    assert_int_equal(json_array_size(domains), 2);
    assert_string_equal(json_string_value(json_array_get(domains, 0)), "one.example");
    assert_string_equal(json_string_value(json_array_get(domains, 1)), "two.example");
    assert_string_equal(json_string_value(OUT("by_domain_id")), id2);
    assert_string_equal(json_string_value(OUT("by_domain_status")), "pending");
    assert_string_equal(json_string_value(OUT("by_id_domain")), "one.example");
    assert_true(json_is_true(OUT("by_id_enabled")));
#undef OUT
    json_decref(out);
    tf_result_free(&r);
    json_t *log = sim_log(c);
    char one[128];
    snprintf(one, sizeof(one), API_LIST "/%s", id1);
    if (count_calls(log, "GET", one) < 1) {
        print_log(log);
        fail_msg("the lookup by id sent no GET %s", one);
    }
    expect_calls(log, NULL, NULL, 0);
    json_decref(log);
    expect_no_changes(c);

    write_config(c, "data \"cloudflare_sso_connector\" \"missing\" {\n"
                    "  account_id   = \"" ACCT "\"\n"
                    "  email_domain = \"absent.example\"\n"
                    "}\n");
    r = TF(c, "plan");
    expect_code(&r, 1);
    expect_text(&r, "Error:");
    expect_text(&r, "not found");
    tf_result_free(&r);
    c->passed = true;
}

/* 8. Destroy: one DELETE per connector, an empty state, an empty
 * simulator. */
static void test_destroy(void **state) {
    tcase *c = *state;
    write_config(c, CONNECTOR("a", "example.com", "") CONNECTOR("b", "example.net", ""));
    apply_ok(c, "Resources: 2 added, 0 changed, 0 destroyed.");
    char id_a[33], id_b[33], path[128];
    state_id(c, "cloudflare_sso_connector.a", id_a);
    state_id(c, "cloudflare_sso_connector.b", id_b);

    sim_clear_log(c);
    tf_result r = TF(c, "destroy", "-auto-approve");
    expect_code(&r, 0);
    expect_text(&r, "Destroy complete! Resources: 2 destroyed.");
    tf_result_free(&r);
    json_t *log = sim_log(c);
    expect_calls(log, NULL, NULL, 2);
    snprintf(path, sizeof(path), API_LIST "/%s", id_a);
    expect_calls(log, "DELETE", path, 1);
    snprintf(path, sizeof(path), API_LIST "/%s", id_b);
    expect_calls(log, "DELETE", path, 1);
    json_decref(log);

    r = TF(c, "state", "list");
    expect_code(&r, 0);
    assert_string_equal(r.out, "");
    tf_result_free(&r);
    json_t *res = state_resources(c);
    assert_int_equal(json_array_size(res), 0);
    json_decref(res);
    json_t *conns = sim_connectors(c);
    assert_int_equal(json_array_size(conns), 0);
    json_decref(conns);
    c->passed = true;
}

/* True once the request log holds a POST to API_LIST. */
static bool create_arrived(tcase *c) {
    json_t *log = sim_log(c);
    bool seen = count_calls(log, "POST", API_LIST) > 0;
    json_decref(log);
    return seen;
}

/* 9. Ctrl-C during an apply: the create is held 1.5 s by the simulator
 * (SIGINT follows its arrival within a 20 ms poll, so it lands well inside);
 * once it is there, SIGINT goes to terraform's whole process group, as a
 * terminal sends it. Terraform stops (StopProvider reaches the provider),
 * exits non-zero, leaves no process behind, and its state agrees with the
 * simulator once the held create has been handled. */
static void test_interrupt_apply(void **state) {
    tcase *c = *state;
    enum { DELAY_MS = 1500 };
    write_config(c, CONNECTOR("a", "example.com", ""));
    char fault[256];
    snprintf(fault, sizeof(fault),
             "{\"method\":\"POST\",\"path\":\"" API_LIST "\",\"delay_ms\":%d,\"count\":1}",
             DELAY_MS);
    sim_add_fault(c, fault);
    char log_path[256], log_env[300];
    snprintf(log_path, sizeof(log_path), "%s/interrupt.log", c->w.dir);
    snprintf(log_env, sizeof(log_env), "TF_LOG_PATH=%s", log_path);
    const char *const env[] = {"TF_LOG_PROVIDER=debug", log_env, NULL};
    const char *const args[] = {"apply", "-auto-approve", NULL};

    tf_job job;
    assert_int_equal(tf_start(&c->w, &job, env, args), 0);
    long deadline = now_ms() + run_timeout_ms();
    while (!create_arrived(c) && tf_running(&job) && now_ms() < deadline)
        usleep(20000);
    long post_seen = now_ms();
    bool arrived = create_arrived(c), running = tf_running(&job);
    if (arrived && running)
        assert_int_equal(tf_interrupt(&job), 0);
    tf_result r;
    tf_finish(&job, run_timeout_ms(), &r);
    if (!arrived || !running) {
        print_result(&r);
        if (arrived)
            fail_msg("terraform exited before it could be interrupted");
        fail_msg("the create never reached the simulator");
    }
    check_run(c, &r);
    if (r.code == 0) {
        print_result(&r);
        fail_msg("an interrupted apply exited 0");
    }
    expect_text(&r, "Interrupt received");
    expect_text(&r, "Stopping operation");
    tf_result_free(&r);

    /* The provider's protocol layer logs "StopProvider: ..." when it gets
     * one. Missing, it is reported at the end, after the state checks. */
    char *log = tf_read_file(log_path);
    assert_non_null(log);
    if (!strstr(log, "StopProvider:")) {
        size_t used = strlen(c->later);
        snprintf(c->later + used, sizeof(c->later) - used,
                 "\n  no provider log line about StopProvider in %s: it did not reach the "
                 "provider",
                 log_path);
    }
    if (strstr(log, c->token))
        fail_msg("the API token appears in %s", log_path);
    free(log);

    /* The held create is handled DELAY_MS after it arrived, whatever the
     * client did meanwhile: only then can the two sides be compared. It
     * shows as the connector appearing; until a second past that time it
     * may still, so an empty simulator is only believed after it. */
    json_t *conns = sim_connectors(c);
    while (json_array_size(conns) == 0 && now_ms() < post_seen + DELAY_MS + 1000) {
        usleep(20000);
        json_decref(conns);
        conns = sim_connectors(c);
    }
    json_t *res = state_resources(c);
    if (json_array_size(conns) == 1) {
        if (json_array_size(res) != 1 ||
            strcmp(state_attr(json_array_get(res, 0), "id"), str(json_array_get(conns, 0), "id")))
            fail_msg("the simulator holds connector %s, but Terraform's state %s",
                     str(json_array_get(conns, 0), "id"),
                     json_array_size(res) ? "holds another id" : "is empty: it was orphaned");
    } else {
        assert_int_equal(json_array_size(conns), 0);
        assert_int_equal(json_array_size(res), 0);
    }
    json_decref(conns);
    json_decref(res);
    fail_later(c);
    c->passed = true;
}

/* 10. Twenty connectors: with every create held 1 s by the simulator,
 * Terraform's parallel walk (10 at once by default) must reach the API at
 * once, through the bridge and the provider: the request log's in_flight
 * shows 10 creates outstanding together (no clock is read). */
static void test_parallel_creates(void **state) {
    tcase *c = *state;
    write_config(c, "resource \"cloudflare_sso_connector\" \"many\" {\n"
                    "  count        = 20\n"
                    "  account_id   = \"" ACCT "\"\n"
                    "  email_domain = \"c${count.index}.example\"\n"
                    "}\n");
    sim_add_fault(c,
                  "{\"method\":\"POST\",\"path\":\"" API_LIST "\",\"delay_ms\":1000,\"count\":20}");
    sim_clear_log(c);
    apply_ok(c, "Resources: 20 added, 0 changed, 0 destroyed.");

    json_t *log = sim_log(c);
    expect_calls(log, "POST", API_LIST, 20);
    expect_calls(log, NULL, NULL, 20);
    bool seen[20] = {false};
    json_int_t most = 0;
    size_t i;
    json_t *e;
    json_array_foreach(log, i, e) {
        if (strcmp(str(e, "method"), "POST") != 0)
            continue;
        int k = -1;
        const char *domain = str(json_object_get(e, "body_json"), "email_domain");
        if (!domain || sscanf(domain, "c%d.example", &k) != 1 || k < 0 || k >= 20 || seen[k]) {
            print_log(log);
            fail_msg("unexpected or repeated create for %s", domain ? domain : "(none)");
        }
        seen[k] = true;
        json_int_t n = json_integer_value(json_object_get(e, "in_flight"));
        most = n > most ? n : most;
    }
    if (most < 10) {
        print_log(log);
        fail_msg("at most %lld requests were in flight at once; Terraform's parallelism is 10",
                 (long long)most);
    }
    json_decref(log);

    json_t *conns = sim_connectors(c);
    assert_int_equal(json_array_size(conns), 20);
    json_decref(conns);
    json_t *res = state_resources(c);
    assert_int_equal(json_array_size(res), 20);
    json_decref(res);
    c->passed = true;
}

/* 11. enabled = true on a new connector for an unverified domain: the plan
 * warns, the apply creates it, fails to enable it and says what to do; the
 * connector is in state, tainted, and exists once. Once verified, untaint
 * and apply enable it with one PATCH. */
static void test_enable_unverified_on_create(void **state) {
    tcase *c = *state;
    write_config(c, CONNECTOR("a", "example.com", "  enabled      = true\n"));
    sim_clear_log(c);
    tf_result r = TF(c, "plan", "-detailed-exitcode");
    expect_code(&r, 2);
    expect_text(&r, "Warning:");
    expect_text_later(c, &r, "already verified");
    tf_result_free(&r);
    expect_no_writes(c);

    r = TF(c, "apply", "-auto-approve");
    expect_code(&r, 1);
    expect_text(&r, "Error:");
    expect_text_later(c, &r, "TXT");
    expect_text_later(c, &r, "terraform untaint");
    expect_text_later(c, &r, "enabled = false");
    tf_result_free(&r);
    json_t *log = sim_log(c);
    expect_calls(log, "POST", API_LIST, 1);
    expect_calls(log, "PATCH", API_ONE, 1);
    expect_calls(log, NULL, NULL, 2);
    json_decref(log);
    json_t *conn = sim_only_connector(c);
    assert_true(json_is_false(json_object_get(conn, "enabled")));
    char id[33];
    snprintf(id, sizeof(id), "%s", str(conn, "id"));
    json_decref(conn);

    json_t *res = state_resources(c);
    json_t *a = state_get(res, "cloudflare_sso_connector.a");
    assert_string_equal(state_attr(a, "id"), id);
    if (!json_is_true(json_object_get(a, "tainted")))
        fail_msg("cloudflare_sso_connector.a is not marked tainted in the state");
    json_decref(res);
    r = TF(c, "state", "show", "cloudflare_sso_connector.a");
    expect_code(&r, 0);
    expect_text(&r, "(tainted)");
    tf_result_free(&r);

    char path[128];
    snprintf(path, sizeof(path), "/__sim/connectors/%s/verification", id);
    json_decref(sim_ctl(c, "POST", path, "{\"status\":\"verified\"}", 200));
    r = TF(c, "untaint", "cloudflare_sso_connector.a");
    expect_code(&r, 0);
    tf_result_free(&r);
    sim_clear_log(c);
    apply_ok(c, "Resources: 0 added, 1 changed, 0 destroyed.");
    log = sim_log(c);
    expect_calls(log, "PATCH", API_ONE, 1);
    expect_calls(log, NULL, NULL, 1);
    assert_true(
        json_is_true(json_object_get(json_object_get(nth_write(log, 0), "body_json"), "enabled")));
    json_decref(log);
    conn = sim_only_connector(c);
    assert_true(json_is_true(json_object_get(conn, "enabled")));
    json_decref(conn);

    expect_no_changes(c);
    fail_later(c);
    c->passed = true;
}

/* The state instance the official provider writes for a connector, with
 * `begin_verification` as given ("null", "true"). */
static char *official_instance(const json_t *conn, const char *begin_verification) {
    json_t *verification = json_object_get(conn, "verification");
    char *text = NULL;
    int n = asprintf(&text,
                     "        {\n"
                     "          \"schema_version\": 0,\n"
                     "          \"attributes\": {\n"
                     "            \"account_id\": \"" ACCT "\",\n"
                     "            \"begin_verification\": %s,\n"
                     "            \"created_on\": \"%s\",\n"
                     "            \"email_domain\": \"%s\",\n"
                     "            \"enabled\": %s,\n"
                     "            \"id\": \"%s\",\n"
                     "            \"updated_on\": \"%s\",\n"
                     "            \"use_fedramp_language\": %s,\n"
                     "            \"verification\": {\n"
                     "              \"code\": \"%s\",\n"
                     "              \"status\": \"%s\"\n"
                     "            }\n"
                     "          },\n"
                     "          \"sensitive_attributes\": []\n"
                     "        }\n",
                     begin_verification, str(conn, "created_on"), str(conn, "email_domain"),
                     json_is_true(json_object_get(conn, "enabled")) ? "true" : "false",
                     str(conn, "id"), str(conn, "updated_on"),
                     json_is_true(json_object_get(conn, "use_fedramp_language")) ? "true" : "false",
                     str(verification, "code"), str(verification, "status"));
    assert_true(n >= 0);
    return text;
}

/* 12. Migration from the official provider: a state written as
 * registry.terraform.io/cloudflare/cloudflare writes it (begin_verification
 * null in one connector, true in the other), replace-provider, and the
 * same configuration plans no change. */
static void test_migrate_from_official(void **state) {
    tcase *c = *state;
    char id_a[33], id_b[33];
    sim_seed(c,
             "{\"email_domain\":\"legacy.example\",\"enabled\":true,"
             "\"verification_status\":\"verified\"}",
             id_a);
    sim_seed(c, "{\"email_domain\":\"legacy2.example\"}", id_b);
    json_t *conns = sim_connectors(c);
    char *inst_a = official_instance(json_array_get(conns, 0), "null");
    char *inst_b = official_instance(json_array_get(conns, 1), "true");
    json_decref(conns);
    char *tfstate = NULL;
    static const char *const resource_fmt =
        "    {\n"
        "      \"mode\": \"managed\",\n"
        "      \"type\": \"cloudflare_sso_connector\",\n"
        "      \"name\": \"%s\",\n"
        "      \"provider\": \"provider[\\\"registry.terraform.io/cloudflare/cloudflare\\\"]\",\n"
        "      \"instances\": [\n%s      ]\n"
        "    }";
    char *res_a = NULL, *res_b = NULL;
    assert_true(asprintf(&res_a, resource_fmt, "a", inst_a) >= 0);
    assert_true(asprintf(&res_b, resource_fmt, "b", inst_b) >= 0);
    assert_true(asprintf(&tfstate,
                         "{\n"
                         "  \"version\": 4,\n"
                         "  \"terraform_version\": \"1.11.4\",\n"
                         "  \"serial\": 3,\n"
                         "  \"lineage\": \"5f0c2f7e-7c1e-4a43-9d3e-2f1b8a6c4d10\",\n"
                         "  \"outputs\": {},\n"
                         "  \"resources\": [\n%s,\n%s\n  ],\n"
                         "  \"check_results\": null\n"
                         "}\n",
                         res_a, res_b) >= 0);
    assert_int_equal(tf_write_file(&c->w, "terraform.tfstate", tfstate), 0);
    free(inst_a), free(inst_b), free(res_a), free(res_b), free(tfstate);
    write_config(c, CONNECTOR("a", "legacy.example", "  enabled      = true\n")
                        CONNECTOR("b", "legacy2.example", ""));

    tf_result r = TF(c, "state", "replace-provider", "-auto-approve",
                     "registry.terraform.io/cloudflare/cloudflare",
                     "terraform.local/sso-connectors/cloudflare");
    expect_code(&r, 0);
    expect_text(&r, "Successfully replaced provider for 2 resources.");
    tf_result_free(&r);

    expect_no_changes(c);
    json_t *res = state_resources(c);
    json_t *a = state_get(res, "cloudflare_sso_connector.a");
    json_t *b = state_get(res, "cloudflare_sso_connector.b");
    assert_string_equal(str(a, "provider_name"), "terraform.local/sso-connectors/cloudflare");
    assert_string_equal(state_attr(a, "id"), id_a);
    assert_string_equal(state_attr(b, "id"), id_b);
    assert_true(json_is_null(json_object_get(json_object_get(a, "values"), "begin_verification")));
    assert_true(json_is_true(json_object_get(json_object_get(b, "values"), "begin_verification")));
    json_decref(res);
    c->passed = true;
}

/* 12b. The provider block of the official provider's key authentication,
 * api_key and email, is accepted and used (X-Auth-Email/X-Auth-Key); the
 * old name api_email is refused. */
static void test_provider_email_setting(void **state) {
    tcase *c = *state;
    snprintf(c->provider_auth, sizeof(c->provider_auth),
             "  api_key = \"%s\"\n"
             "  email   = \"" EMAIL "\"\n",
             c->key);
    write_config(c, CONNECTOR("a", "example.com", ""));
    sim_clear_log(c);
    apply_ok(c, "Resources: 1 added, 0 changed, 0 destroyed.");
    json_t *log = sim_log(c);
    expect_calls(log, "POST", API_LIST, 1);
    json_t *headers = json_object_get(nth_write(log, 0), "headers");
    assert_string_equal(str(headers, "x-auth-email"), EMAIL);
    assert_string_equal(str(headers, "x-auth-key"), "***");
    assert_null(json_object_get(headers, "authorization"));
    json_decref(log);
    expect_no_changes(c);

    snprintf(c->provider_auth, sizeof(c->provider_auth),
             "  api_key   = \"%s\"\n"
             "  api_email = \"" EMAIL "\"\n",
             c->key);
    write_config(c, CONNECTOR("a", "example.com", ""));
    tf_result r = TF(c, "plan");
    expect_code(&r, 1);
    expect_text(&r, "Error:");
    expect_text(&r, "api_email");
    tf_result_free(&r);
    c->passed = true;
}

/* Asserts that the trace log at `path` is a real one and holds no secret. */
/* make install puts both programs into Terraform's implied local mirror
 * (here the case's private HOME); terraform init then finds the provider
 * there with no network and no dev_overrides, and a plan works through the
 * installed copies. */
static void test_install_and_init_offline(void **state) {
    tcase *c = *state;
    /* No dev_overrides: the same CLI configuration file, emptied. */
    assert_int_equal(tf_write_file(&c->w, "cli.tfrc", "# no dev_overrides\n"), 0);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "HOME='%s/home' '%s/scripts/install-terraform-plugin.sh' '%s/..' >'%s/install.log' "
             "2>&1",
             c->w.dir, SOURCE_DIR, TF_PLUGIN_DIR, c->w.dir);
    assert_int_equal(system(cmd), 0);
    write_config(c, CONNECTOR("a", "installed.example", ""));

    tf_result r = TF(c, "init", "-input=false");
    expect_code(&r, 0);
    expect_text(&r, "Installing terraform.local/sso-connectors/cloudflare");
    expect_text(&r, "Terraform has been successfully initialized!");
    tf_result_free(&r);

    r = TF(c, "plan", "-detailed-exitcode");
    expect_code(&r, 2);
    expect_text(&r, "Plan: 1 to add, 0 to change, 0 to destroy.");
    if (output_has(&r, "development overrides", true)) {
        print_result(&r);
        fail_msg("the plan used dev_overrides, not the installed provider");
    }
    tf_result_free(&r);
    expect_no_writes(c);
    c->passed = true;
}

static void expect_clean_trace(tcase *c, const char *path) {
    char *log = tf_read_file(path);
    assert_non_null(log);
    if (strstr(log, c->token) || strstr(log, c->key))
        fail_msg("a secret appears in %s", path);
    static const char *const markers[] = {"GRPCProvider.v6: ConfigureProvider",
                                          "provider.terraform-provider-cloudflare", NULL};
    for (size_t i = 0; markers[i]; i++)
        if (!strstr(log, markers[i]))
            fail_msg("%s lacks \"%s\": not the trace expected", path, markers[i]);
    bool says_mtls = strstr(log, "configuring client automatic mTLS") != NULL;
    if (says_mtls == g_no_tls)
        fail_msg("%s: Terraform %s AutoMTLS, but this run is the %s one", path,
                 says_mtls ? "used" : "did not use", g_no_tls ? "TF_DISABLE_PLUGIN_TLS" : "TLS");
    free(log);
}

/* 13. The token canary: with TF_LOG=trace, a create and a refresh, with
 * the token in the configuration and then in CLOUDFLARE_API_TOKEN, leave
 * the token nowhere: not in the output, the log, or the state. */
static void test_token_canary(void **state) {
    tcase *c = *state;
    write_config(c, CONNECTOR("a", "example.com", ""));
    char path1[256], env1[300], path2[256], env2[300], token_env[128];
    snprintf(path1, sizeof(path1), "%s/trace-config.log", c->w.dir);
    snprintf(env1, sizeof(env1), "TF_LOG_PATH=%s", path1);
    snprintf(path2, sizeof(path2), "%s/trace-env.log", c->w.dir);
    snprintf(env2, sizeof(env2), "TF_LOG_PATH=%s", path2);
    snprintf(token_env, sizeof(token_env), "CLOUDFLARE_API_TOKEN=%s", c->token);

    const char *const trace1[] = {"TF_LOG=trace", env1, NULL};
    tf_result r = TF_ENV(c, trace1, "apply", "-auto-approve");
    expect_code(&r, 0);
    tf_result_free(&r);
    r = TF_ENV(c, trace1, "plan", "-detailed-exitcode");
    expect_code(&r, 0);
    tf_result_free(&r);
    expect_clean_trace(c, path1);

    c->provider_auth[0] = '\0';
    write_config(c, CONNECTOR("a", "example.com", ""));
    const char *const trace2[] = {"TF_LOG=trace", env2, token_env, NULL};
    sim_clear_log(c);
    r = TF_ENV(c, trace2, "plan", "-detailed-exitcode");
    expect_code(&r, 0);
    tf_result_free(&r);
    expect_clean_trace(c, path2);
    json_t *log = sim_log(c);
    if (count_calls(log, "GET", API_ONE) < 1) {
        print_log(log);
        fail_msg("the refresh with the token from CLOUDFLARE_API_TOKEN reached no API");
    }
    json_decref(log);

    char state_path[256];
    snprintf(state_path, sizeof(state_path), "%s/terraform.tfstate", c->w.dir);
    char *tfstate = tf_read_file(state_path);
    assert_non_null(tfstate);
    assert_null(strstr(tfstate, c->token));
    free(tfstate);
    c->passed = true;
}

int main(int argc, char **argv) {
    /* An optional "K/N" runs the K-th of N interleaved shares of the cases
     * (case i when i % N == K - 1), so that ctest can run the shares side
     * by side; without it, every case runs. */
    unsigned part = 1, parts = 1;
    if ((argc != 2 && argc != 3) ||
        (strcmp(argv[1], "tls") != 0 && strcmp(argv[1], "notls") != 0) ||
        (argc == 3 && (sscanf(argv[2], "%u/%u", &part, &parts) != 2 || parts == 0 || part == 0 ||
                       part > parts))) {
        fprintf(stderr, "usage: %s tls|notls [K/N]\n", argv[0]);
        return 2;
    }
    g_no_tls = strcmp(argv[1], "notls") == 0;
    if (!tf_find_terraform(g_terraform, sizeof(g_terraform))) {
        printf("SKIPPED: terraform is not on PATH; these end-to-end tests need the real "
               "terraform (1.11 was used to write them)\n");
        return 77;
    }
    const struct CMUnitTest all[] = {
        cmocka_unit_test_setup_teardown(test_saved_plan_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_and_init_offline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drift, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_on_domain_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_outside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_until_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_block_generated_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_creates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enable_unverified_on_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_official, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provider_email_setting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_canary, setup, teardown),
    };
    enum { ALL = sizeof(all) / sizeof(all[0]) };
    struct CMUnitTest share[ALL];
    size_t n = 0;
    for (size_t i = 0; i < ALL; i++)
        if (i % parts == part - 1)
            share[n++] = all[i];
    char name[64];
    snprintf(name, sizeof(name), "tfbridge_terraform_%s", argv[1]);
    if (parts > 1)
        snprintf(name + strlen(name), sizeof(name) - strlen(name), "_%uof%u", part, parts);
    if (getenv("TF_E2E_FILTER"))
        cmocka_set_test_filter(getenv("TF_E2E_FILTER"));
    return _cmocka_run_group_tests(name, share, n, NULL, NULL);
}
