/*
 * test_sso_plan.c - the sso_connector plan rules as a table: prior state +
 * config -> action, requires_replace, planned state (contract section 6).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "sso_plan.h"
#include "sso_schema.h"

#define ACC  "023e105f4ecef8ad9ca31a8372d0c353"
#define ACC2 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define CID  "8c6b1d4a0e3f4b5c9d2e7f1a3b5c7d9e"
#define TS   "\"2025-01-01T12:21:02.0000Z\""
#define UNK  "{\"$unknown\":true}"

/* A prior state with a given verification status, enabled and
 * begin_verification. */
#define PRIOR(status, enabled, bv)                                                                 \
    "{\"id\":\"" CID "\",\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\","             \
    "\"enabled\":" enabled ",\"use_fedramp_language\":false,\"begin_verification\":" bv ","        \
    "\"created_on\":" TS ",\"updated_on\":" TS ",\"verification\":{\"code\":"                      \
    "\"cloudflare_dashboard_sso=" CID "\",\"status\":\"" status "\"}}"
#define BASE PRIOR("pending", "false", "null")

typedef struct plan_case {
    const char *name;
    const char *prior;    /* JSON or NULL */
    const char *config;   /* JSON or NULL */
    const char *proposed; /* JSON or NULL */
    const char *action;   /* NULL: expect an error diagnostic */
    const char *requires_replace;
    const char *expect; /* members the planned state must have, or "null" */
} plan_case;

static const plan_case cases[] = {
    {"create: the contract's example (begin_verification planned as the API's default)", NULL,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"enabled\":true}", NULL,
     "create", "[]",
     "{\"id\":" UNK ",\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"enabled\":true,"
     "\"use_fedramp_language\":" UNK ",\"begin_verification\":true,\"created_on\":" UNK
     ",\"updated_on\":" UNK ",\"verification\":" UNK "}"},
    {"create: minimal config leaves API-decided values unknown, begin_verification true", NULL,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\"}", NULL, "create", "[]",
     "{\"enabled\":" UNK ",\"use_fedramp_language\":" UNK ",\"begin_verification\":true}"},
    {"create: unknown begin_verification stays unknown", NULL,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"begin_verification\":" UNK "}",
     NULL, "create", "[]", "{\"begin_verification\":" UNK "}"},
    {"replace: omitted begin_verification planned true for the new connector",
     PRIOR("verified", "true", "false"),
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.org\"}", NULL, "replace",
     "[[\"email_domain\"]]", "{\"begin_verification\":true,\"id\":" UNK "}"},
    /* begin_verification is optional + computed: left out of the config it
     * keeps whatever the state holds, so a state imported (null) or
     * written by the official Cloudflare provider (true or false) plans no
     * change, whether the proposed state is derived or sent. */
    {"no-op: omitted begin_verification keeps a null state value", BASE,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\"}", NULL, "no-op", "[]", BASE},
    {"no-op: omitted begin_verification keeps a true state value",
     PRIOR("verified", "true", "true"),
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\"}", NULL, "no-op", "[]",
     PRIOR("verified", "true", "true")},
    {"no-op: omitted begin_verification keeps a false state value",
     PRIOR("awaiting", "false", "false"),
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\"}", NULL, "no-op", "[]",
     PRIOR("awaiting", "false", "false")},
    {"no-op: proposed state keeps begin_verification (Terraform core's proposal)",
     PRIOR("failed", "false", "true"),
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\"}",
     PRIOR("failed", "false", "true"), "no-op", "[]", PRIOR("failed", "false", "true")},
    {"create: configured values are planned as given", NULL,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"Example.COM\",\"begin_verification\":false,"
     "\"use_fedramp_language\":true,\"enabled\":false}",
     NULL, "create", "[]",
     "{\"email_domain\":\"Example.COM\",\"begin_verification\":false,"
     "\"use_fedramp_language\":true,\"enabled\":false}"},
    {"no-op: config matches prior", BASE,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\"}", NULL, "no-op", "[]", BASE},
    {"no-op: explicit values equal to prior", BASE,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"enabled\":false,"
     "\"use_fedramp_language\":false}",
     NULL, "no-op", "[]", BASE},
    {"no-op: email_domain differs only in case, prior spelling kept", BASE,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"EXAMPLE.com\"}", NULL, "no-op", "[]", BASE},
    {"no-op: account_id differs only in case, prior spelling kept", BASE,
     "{\"account_id\":\"023E105F4ECEF8AD9CA31A8372D0C353\",\"email_domain\":\"example.com\"}", NULL,
     "no-op", "[]", BASE},
    {"no-op: computed enabled kept when config leaves it null", PRIOR("verified", "true", "null"),
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"enabled\":null}", NULL,
     "no-op", "[]", "{\"enabled\":true,\"updated_on\":" TS "}"},
    {"update: enable in place, updated_on unknown, the rest kept",
     PRIOR("verified", "false", "null"),
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"enabled\":true}", NULL,
     "update", "[]",
     "{\"id\":\"" CID "\",\"enabled\":true,\"updated_on\":" UNK ",\"created_on\":" TS
     ",\"verification\":{\"code\":\"cloudflare_dashboard_sso=" CID "\",\"status\":\"verified\"}}"},
    {"update: disable in place", PRIOR("verified", "true", "null"),
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"enabled\":false}", NULL,
     "update", "[]", "{\"enabled\":false,\"updated_on\":" UNK "}"},
    {"update: use_fedramp_language in place", BASE,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"use_fedramp_language\":true}",
     NULL, "update", "[]",
     "{\"use_fedramp_language\":true,\"updated_on\":" UNK ",\"verification\":" UNK "}"},
    {"update: unknown enabled stays unknown", BASE,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"enabled\":" UNK "}", NULL,
     "update", "[]", "{\"enabled\":" UNK ",\"updated_on\":" UNK "}"},
    {"update: begin_verification while awaiting starts verification",
     PRIOR("awaiting", "false", "false"),
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"begin_verification\":true}",
     NULL, "update", "[]",
     "{\"begin_verification\":true,\"verification\":" UNK ",\"updated_on\":" UNK ",\"id\":\"" CID
     "\"}"},
    {"update: begin_verification while failed starts verification",
     PRIOR("failed", "false", "null"),
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"begin_verification\":true}",
     NULL, "update", "[]", "{\"verification\":" UNK "}"},
    /* Any change plans updated_on unknown, even one that writes nothing
     * remote; verification is kept when apply writes nothing. */
    {"update: begin_verification while pending changes nothing remote", BASE,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"begin_verification\":true}",
     NULL, "update", "[]",
     "{\"begin_verification\":true,\"updated_on\":" UNK ",\"verification\":{\"code\":"
     "\"cloudflare_dashboard_sso=" CID "\",\"status\":\"pending\"}}"},
    {"update: begin_verification true -> false never replaces", PRIOR("verified", "true", "true"),
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"begin_verification\":false}",
     NULL, "update", "[]", "{\"begin_verification\":false,\"updated_on\":" UNK "}"},
    /* A write while verification may still move (pending -> verified
     * between plan and apply) plans verification unknown; enabling only
     * succeeds once it has moved. */
    {"update: enabling while pending plans verification unknown", BASE,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"enabled\":true}", NULL,
     "update", "[]",
     "{\"enabled\":true,\"verification\":" UNK ",\"updated_on\":" UNK ",\"created_on\":" TS "}"},
    {"update: use_fedramp_language while awaiting plans verification unknown",
     PRIOR("awaiting", "false", "false"),
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"use_fedramp_language\":true}",
     NULL, "update", "[]", "{\"verification\":" UNK ",\"updated_on\":" UNK "}"},
    {"update: a write while verified keeps verification", PRIOR("verified", "true", "null"),
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"use_fedramp_language\":true}",
     NULL, "update", "[]",
     "{\"verification\":{\"code\":\"cloudflare_dashboard_sso=" CID "\",\"status\":\"verified\"},"
     "\"updated_on\":" UNK "}"},
    {"replace: email_domain changes", BASE,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.org\"}", NULL, "replace",
     "[[\"email_domain\"]]",
     "{\"id\":" UNK ",\"email_domain\":\"example.org\",\"created_on\":" UNK ",\"enabled\":" UNK
     ",\"verification\":" UNK "}"},
    {"replace: account_id changes", BASE,
     "{\"account_id\":\"" ACC2 "\",\"email_domain\":\"example.com\",\"enabled\":true}", NULL,
     "replace", "[[\"account_id\"]]",
     "{\"id\":" UNK ",\"account_id\":\"" ACC2 "\",\"enabled\":true}"},
    {"replace: both change", BASE, "{\"account_id\":\"" ACC2 "\",\"email_domain\":\"b.example\"}",
     NULL, "replace", "[[\"account_id\"],[\"email_domain\"]]", "{\"id\":" UNK "}"},
    {"replace: unknown email_domain may change", BASE,
     "{\"account_id\":\"" ACC "\",\"email_domain\":" UNK "}", NULL, "replace",
     "[[\"email_domain\"]]", "{\"email_domain\":" UNK ",\"id\":" UNK "}"},
    {"delete: config null", BASE, NULL, NULL, "delete", "[]", "null"},
    {"proposed_new_state is honoured", PRIOR("verified", "false", "null"),
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\"}",
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"enabled\":true}", "update",
     "[]", "{\"enabled\":true,\"updated_on\":" UNK "}"},
    {"error: account_id not 32 hex", NULL,
     "{\"account_id\":\"023e105f\",\"email_domain\":\"example.com\"}", NULL, NULL, NULL, NULL},
    {"error: account_id with path characters", NULL,
     "{\"account_id\":\"../../../accounts/023e105f4ecef8ad9\",\"email_domain\":\"example.com\"}",
     NULL, NULL, NULL, NULL},
    {"error: email_domain not a DNS name", NULL,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"exa mple..com\"}", NULL, NULL, NULL, NULL},
    {"error: unknown attribute", NULL,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"enabld\":true}", NULL, NULL,
     NULL, NULL},
    {"error: wrong type", BASE,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"enabled\":\"yes\"}", NULL,
     NULL, NULL, NULL},
    {"error: computed-only attribute configured", NULL,
     "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\",\"id\":\"" CID "\"}", NULL, NULL,
     NULL, NULL},
    {"error: required attribute missing", NULL, "{\"account_id\":\"" ACC "\"}", NULL, NULL, NULL,
     NULL},
};

static json_t *parse(const char *text) {
    if (!text)
        return NULL;
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    if (!v)
        fail_msg("bad JSON in table (%s): %s", err.text, text);
    return v;
}

static void run_case(const plan_case *c) {
    json_t *prior = parse(c->prior), *config = parse(c->config), *proposed = parse(c->proposed);
    json_t *diags = json_array();
    sso_plan plan;
    int rc = sso_plan_change(prior, config, proposed, diags, &plan);
    if (!c->action) {
        assert_int_equal(rc, -1);
        assert_true(diag_has_error(diags));
        assert_null(plan.planned_state);
    } else {
        if (rc != 0)
            fail_msg("%s: unexpected diagnostics %s", c->name, json_dumps(diags, 0));
        /* Only the expected warning: a plan that creates a connector (a
         * create, or a replacement) with enabled = true. */
        bool creates = strcmp(c->action, "create") == 0 || strcmp(c->action, "replace") == 0;
        size_t warnings = creates && json_is_true(json_object_get(config, "enabled")) ? 1 : 0;
        if (json_array_size(diags) != warnings)
            fail_msg("%s: diagnostics %s", c->name, json_dumps(diags, 0));
        size_t i;
        json_t *d;
        json_array_foreach(diags, i, d) {
            assert_string_equal(json_string_value(json_object_get(d, "severity")), "warning");
            assert_string_equal(
                json_string_value(json_array_get(json_object_get(d, "attribute"), 0)), "enabled");
            assert_non_null(
                strstr(json_string_value(json_object_get(d, "detail")), "verification.code"));
        }
        assert_string_equal(plan.action, c->action);
        json_t *rr = parse(c->requires_replace);
        if (!json_equal(rr, plan.requires_replace))
            fail_msg("%s: requires_replace %s", c->name, json_dumps(plan.requires_replace, 0));
        json_decref(rr);
        json_t *expect = parse(c->expect);
        if (json_is_null(expect)) {
            assert_null(plan.planned_state);
        } else {
            /* The planned state is always complete. */
            assert_int_equal(json_object_size(plan.planned_state), 9);
            const char *key;
            json_t *want;
            json_object_foreach(expect, key, want) {
                json_t *got = json_object_get(plan.planned_state, key);
                if (!got || !json_equal(got, want))
                    fail_msg("%s: planned %s is %s, want %s", c->name, key,
                             got ? json_dumps(got, JSON_ENCODE_ANY) : "(missing)",
                             json_dumps(want, JSON_ENCODE_ANY));
            }
        }
        json_decref(expect);
    }
    sso_plan_clear(&plan);
    json_decref(diags);
    json_decref(prior);
    json_decref(config);
    json_decref(proposed);
}

static void test_plan_table(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("plan case: %s\n", cases[i].name);
        run_case(&cases[i]);
    }
}

/* A read of a connector changed outside reports drift for exactly the
 * attributes that changed, and keeps begin_verification from the prior
 * state. */
static void test_state_and_drift(void **state) {
    (void)state;
    json_t *prior = parse(PRIOR("verified", "true", "true"));
    json_t *api = parse("{\"id\":\"" CID "\",\"email_domain\":\"EXAMPLE.COM\",\"enabled\":false,"
                        "\"use_fedramp_language\":true,\"created_on\":" TS ",\"updated_on\":"
                        "\"2025-02-02T00:00:00.0000Z\",\"verification\":{\"code\":"
                        "\"cloudflare_dashboard_sso=" CID "\",\"status\":\"verified\"}}");
    json_t *now = sso_state_from_api(ACC, api, prior);
    assert_true(json_is_true(json_object_get(now, "begin_verification")));
    assert_string_equal(json_string_value(json_object_get(now, "email_domain")), "example.com");
    assert_string_equal(json_string_value(json_object_get(now, "account_id")), ACC);
    json_t *drift = sso_state_drift(prior, now);
    json_t *want =
        parse("[{\"attribute\":[\"enabled\"],\"before\":true,\"after\":false},"
              "{\"attribute\":[\"use_fedramp_language\"],\"before\":false,\"after\":true},"
              "{\"attribute\":[\"updated_on\"],\"before\":" TS
              ",\"after\":\"2025-02-02T00:00:00.0000Z\"}]");
    if (!json_equal(drift, want))
        fail_msg("drift %s", json_dumps(drift, 0));
    json_decref(want);
    json_decref(drift);
    json_decref(now);
    json_decref(api);
    json_decref(prior);
}

/* API answers with missing or mistyped members become nulls, never
 * crashes or wrong types in state. */
static void test_state_from_odd_api(void **state) {
    (void)state;
    json_t *api = parse("{\"id\":5,\"enabled\":\"yes\",\"verification\":[]}");
    json_t *now = sso_state_from_api(ACC, api, NULL);
    assert_int_equal(json_object_size(now), 9);
    assert_true(json_is_null(json_object_get(now, "id")));
    assert_true(json_is_null(json_object_get(now, "enabled")));
    assert_true(json_is_null(json_object_get(now, "verification")));
    json_decref(now);
    json_decref(api);
}

/* Apply's promise: every value the plan knows comes back unchanged. */
static void test_check_applied(void **state) {
    (void)state;
    json_t *planned = parse("{\"id\":" UNK ",\"account_id\":\"" ACC "\",\"email_domain\":"
                            "\"Example.com\",\"enabled\":true,\"use_fedramp_language\":" UNK
                            ",\"begin_verification\":null,\"created_on\":" UNK
                            ",\"updated_on\":" UNK ",\"verification\":" UNK "}");
    json_t *good = parse(PRIOR("verified", "true", "null"));
    json_object_set_new(good, "email_domain", json_string("example.COM"));
    json_t *diags = json_array();
    assert_int_equal(sso_state_check_applied(planned, good, diags), 0);
    json_t *bad = parse(PRIOR("verified", "false", "true"));
    assert_int_equal(sso_state_check_applied(planned, bad, diags), 2);
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(json_array_get(diags, 0), "attribute"), 0)),
                        "enabled");
    json_decref(diags);
    json_decref(bad);
    json_decref(good);
    json_decref(planned);
}

/* Members the API leaves out keep their known prior values; unknown
 * planned values are never copied into a state. */
static void test_state_keeps_omitted(void **state) {
    (void)state;
    json_t *prior = parse(BASE);
    json_t *api = parse("{\"enabled\":true}");
    json_t *now = sso_state_from_api(ACC, api, prior);
    assert_string_equal(json_string_value(json_object_get(now, "id")), CID);
    assert_true(json_is_true(json_object_get(now, "enabled")));
    assert_true(
        json_equal(json_object_get(now, "verification"), json_object_get(prior, "verification")));
    json_decref(now);
    json_t *planned =
        parse("{\"id\":" UNK ",\"created_on\":" UNK ",\"begin_verification\":" UNK "}");
    now = sso_state_from_api(ACC, api, planned);
    assert_true(json_is_null(json_object_get(now, "id")));
    assert_true(json_is_null(json_object_get(now, "created_on")));
    assert_true(json_is_null(json_object_get(now, "begin_verification")));
    json_decref(now);
    json_decref(planned);
    json_decref(api);
    json_decref(prior);
}

/* The state is written in the schema's attribute order, and shares its
 * values with the API's answer and the prior state instead of copying
 * them; neither input is changed. */
static void test_state_shares_values(void **state) {
    (void)state;
    json_t *prior = parse(PRIOR("verified", "true", "true"));
    json_t *api = parse("{\"verification\":{\"status\":\"verified\",\"code\":\"c\"},"
                        "\"updated_on\":" TS ",\"extra\":1,\"enabled\":false,"
                        "\"email_domain\":\"EXAMPLE.com\",\"id\":\"" CID "\"}");
    char *api_before = json_dumps(api, JSON_COMPACT);
    char *prior_before = json_dumps(prior, JSON_COMPACT);
    json_t *now = sso_state_from_api(ACC, api, prior);
    char *text = json_dumps(now, JSON_COMPACT);
    assert_string_equal(text, "{\"id\":\"" CID "\",\"account_id\":\"" ACC "\","
                              "\"email_domain\":\"example.com\",\"enabled\":false,"
                              "\"use_fedramp_language\":false,\"begin_verification\":true,"
                              "\"created_on\":" TS ",\"updated_on\":" TS ","
                              "\"verification\":{\"code\":\"c\",\"status\":\"verified\"}}");
    assert_ptr_equal(json_object_get(now, "id"), json_object_get(api, "id"));
    assert_ptr_equal(json_object_get(now, "email_domain"), json_object_get(prior, "email_domain"));
    assert_ptr_equal(json_object_get(now, "created_on"), json_object_get(prior, "created_on"));
    json_decref(now);
    char *api_after = json_dumps(api, JSON_COMPACT);
    char *prior_after = json_dumps(prior, JSON_COMPACT);
    assert_string_equal(api_after, api_before);
    assert_string_equal(prior_after, prior_before);
    free(text);
    free(api_before);
    free(api_after);
    free(prior_before);
    free(prior_after);
    json_decref(api);
    json_decref(prior);
}

/* sso_complete_shared: a complete object is itself (one more reference);
 * an incomplete one becomes a new object with every attribute, nulls
 * where missing, the unknown member dropped, values shared. */
static void test_complete_shared(void **state) {
    (void)state;
    json_t *full = parse(BASE);
    json_t *same = sso_complete_shared(&sso_connector_schema, full);
    assert_ptr_equal(same, full);
    assert_int_equal(full->refcount, 2);
    json_decref(same);
    json_t *part = parse("{\"id\":\"" CID "\",\"other\":1,\"enabled\":null}");
    json_t *done = sso_complete_shared(&sso_connector_schema, part);
    assert_ptr_not_equal(done, part);
    assert_int_equal(json_object_size(done), 9);
    assert_ptr_equal(json_object_get(done, "id"), json_object_get(part, "id"));
    assert_true(json_is_null(json_object_get(done, "enabled")));
    assert_true(json_is_null(json_object_get(done, "verification")));
    assert_null(json_object_get(done, "other"));
    assert_int_equal(json_object_size(part), 3); /* untouched */
    json_decref(done);
    json_decref(part);
    /* same size, different names: not taken as complete */
    json_t *odd = parse("{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,"
                        "\"i\":1}");
    json_t *fixed = sso_complete_shared(&sso_connector_schema, odd);
    assert_ptr_not_equal(fixed, odd);
    assert_true(json_is_null(json_object_get(fixed, "id")));
    json_decref(fixed);
    json_decref(odd);
    json_decref(full);
}

/* UpgradeResourceState returns the full object in the current schema:
 * every attribute, and verification with both of its members, so that it
 * conforms to the schema type; unknown attributes are dropped with a
 * warning; unknown values and wrong types are errors. */
static void test_state_upgrade(void **state) {
    (void)state;
    json_t *raw = parse("{\"id\":\"" CID "\",\"account_id\":\"" ACC "\",\"email_domain\":"
                        "\"example.com\",\"verification\":{\"status\":\"verified\"},\"legacy\":1}");
    json_t *diags = json_array();
    json_t *up = sso_state_upgrade(raw, diags);
    assert_non_null(up);
    assert_int_equal(json_object_size(up), 9);
    json_t *want = parse("{\"code\":null,\"status\":\"verified\"}");
    if (!json_equal(json_object_get(up, "verification"), want))
        fail_msg("verification %s", json_dumps(json_object_get(up, "verification"), 0));
    json_decref(want);
    assert_int_equal(json_array_size(diags), 1);
    assert_false(diag_has_error(diags));
    json_decref(up);
    json_decref(raw);

    const char *bad[] = {
        "{\"id\":\"" CID "\",\"enabled\":" UNK "}",
        "{\"id\":\"" CID "\",\"verification\":{\"code\":" UNK ",\"status\":\"pending\"}}",
        "{\"id\":\"" CID "\",\"enabled\":\"yes\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        raw = parse(bad[i]);
        json_array_clear(diags);
        assert_null(sso_state_upgrade(raw, diags));
        assert_true(diag_has_error(diags));
        json_decref(raw);
    }
    json_decref(diags);
}

static void test_data_config(void **state) {
    (void)state;
    struct {
        const char *type, *config;
        int errors;
    } t[] = {
        {"sso_connectors", "{\"account_id\":\"" ACC "\"}", 0},
        {"sso_connectors", "{}", 1},
        {"sso_connector", "{\"account_id\":\"" ACC "\",\"id\":\"" CID "\"}", 0},
        {"sso_connector", "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\"}", 0},
        {"sso_connector", "{\"account_id\":\"" ACC "\"}", 1},
        {"sso_connector",
         "{\"account_id\":\"" ACC "\",\"id\":\"" CID "\",\"email_domain\":\"example.com\"}", 1},
        {"sso_connector", "{\"account_id\":\"" ACC "\",\"id\":\"../x\"}", 1},
        {"sso_connector", "{\"account_id\":\"" ACC "\",\"enabled\":true,\"id\":\"" CID "\"}", 1},
        {"nope", "{}", 1},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        json_t *config = parse(t[i].config);
        json_t *diags = json_array();
        int n = sso_validate_data_config(t[i].type, config, diags);
        if (n != t[i].errors)
            fail_msg("case %zu: %d errors: %s", i, n, json_dumps(diags, 0));
        json_decref(diags);
        json_decref(config);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_table),         cmocka_unit_test(test_state_and_drift),
        cmocka_unit_test(test_state_from_odd_api), cmocka_unit_test(test_data_config),
        cmocka_unit_test(test_check_applied),      cmocka_unit_test(test_state_keeps_omitted),
        cmocka_unit_test(test_state_upgrade),      cmocka_unit_test(test_state_shares_values),
        cmocka_unit_test(test_complete_shared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
