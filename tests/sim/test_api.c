/*
 * test_api.c - cf-api-sim's Cloudflare API: every operation, the envelope,
 * and every error the reference and the simulator's docs promise.
 */
#include "simtest.h"

#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define LIST "/accounts/" ACCT "/sso_connectors"

static bool matches(const char *re, const char *s) {
    regex_t rx;
    assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = s && regexec(&rx, s, 0, NULL, 0) == 0;
    regfree(&rx);
    return ok;
}

static const char *str(json_t *o, const char *name) {
    return json_string_value(json_object_get(o, name));
}

/* Timestamps have a resolution of 100 microseconds; waiting a few
 * milliseconds guarantees a later one (this waits on the clock, not on
 * another thread). */
static void let_clock_tick(void) {
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void path_of(char *buf, size_t len, const char *account, const char *id,
                    const char *suffix) {
    snprintf(buf, len, "/accounts/%s/sso_connectors/%s%s", account, id, suffix);
}

static void test_create_defaults(void **state) {
    (void)state;
    sc_resp r;
    simtest_raw("POST", "/client/v4" LIST, simtest_auth, "{\"email_domain\":\"example.com\"}", &r);
    assert_int_equal(r.status, 200);
    char ct[64];
    assert_string_equal(sc_header(&r, "Content-Type", ct, sizeof(ct)), "application/json");
    json_t *c = simtest_assert_cf_success(r.json);
    assert_true(matches("^[0-9a-f]{32}$", str(c, "id")));
    assert_string_equal(str(c, "email_domain"), "example.com");
    assert_true(json_is_false(json_object_get(c, "enabled")));
    assert_true(json_is_false(json_object_get(c, "use_fedramp_language")));
    const char *ts_re = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{4}Z$";
    assert_true(matches(ts_re, str(c, "created_on")));
    assert_string_equal(str(c, "created_on"), str(c, "updated_on"));
    json_t *v = json_object_get(c, "verification");
    char code[80];
    snprintf(code, sizeof(code), "cloudflare_dashboard_sso=%s", str(c, "id"));
    assert_string_equal(str(v, "code"), code);
    assert_string_equal(str(v, "status"), "pending");
    assert_null(json_object_get(r.json, "result_info"));
    sc_resp_free(&r);
}

static void test_create_options(void **state) {
    (void)state;
    long status;
    json_t *env = simtest_api("POST", LIST,
                              "{\"email_domain\":\"corp.example.org\",\"begin_verification\":false,"
                              "\"use_fedramp_language\":true}",
                              &status);
    assert_int_equal(status, 200);
    json_t *c = simtest_assert_cf_success(env);
    assert_string_equal(str(json_object_get(c, "verification"), "status"), "awaiting");
    assert_true(json_is_true(json_object_get(c, "use_fedramp_language")));
    json_decref(env);
}

static void test_get_and_list(void **state) {
    (void)state;
    char a[33], b[33], other[33], path[160];
    long status;
    simtest_create(ACCT, "a.example", a);
    simtest_create(ACCT, "b.example", b);
    simtest_create(ACCT2, "a.example", other); /* same domain, other account: fine */

    path_of(path, sizeof(path), ACCT, b, "");
    json_t *env = simtest_api("GET", path, NULL, &status);
    assert_int_equal(status, 200);
    assert_string_equal(str(simtest_assert_cf_success(env), "email_domain"), "b.example");
    json_decref(env);

    env = simtest_api("GET", LIST, NULL, &status);
    assert_int_equal(status, 200);
    json_t *list = simtest_assert_cf_success(env);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(str(json_array_get(list, 0), "id"), a);
    assert_string_equal(str(json_array_get(list, 1), "id"), b);
    json_t *info = json_object_get(env, "result_info");
    assert_int_equal(json_integer_value(json_object_get(info, "count")), 2);
    assert_int_equal(json_integer_value(json_object_get(info, "page")), 1);
    assert_int_equal(json_integer_value(json_object_get(info, "total_count")), 2);
    assert_true(json_integer_value(json_object_get(info, "per_page")) >= 2);
    json_decref(env);

    /* A connector is only reachable through its own account. */
    path_of(path, sizeof(path), ACCT2, a, "");
    env = simtest_api("GET", path, NULL, &status);
    assert_int_equal(status, 404);
    simtest_assert_cf_error(env, 1003);
    json_decref(env);
}

static void test_list_empty_and_paging(void **state) {
    (void)state;
    long status;
    json_t *env = simtest_api("GET", LIST, NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(simtest_assert_cf_success(env)), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(env, "result_info"), "total_count")), 0);
    json_decref(env);

    char ids[3][33];
    simtest_create(ACCT, "p1.example", ids[0]);
    simtest_create(ACCT, "p2.example", ids[1]);
    simtest_create(ACCT, "p3.example", ids[2]);
    env = simtest_api("GET", LIST "?page=2&per_page=2", NULL, &status);
    assert_int_equal(status, 200);
    json_t *list = simtest_assert_cf_success(env);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(str(json_array_get(list, 0), "id"), ids[2]);
    json_t *info = json_object_get(env, "result_info");
    assert_int_equal(json_integer_value(json_object_get(info, "count")), 1);
    assert_int_equal(json_integer_value(json_object_get(info, "page")), 2);
    assert_int_equal(json_integer_value(json_object_get(info, "per_page")), 2);
    assert_int_equal(json_integer_value(json_object_get(info, "total_count")), 3);
    json_decref(env);

    env = simtest_api("GET", LIST "?per_page=0", NULL, &status);
    assert_int_equal(status, 400);
    simtest_assert_cf_error(env, 1008);
    json_decref(env);
}

static void test_patch(void **state) {
    (void)state;
    char id[33], path[160];
    long status;
    simtest_create(ACCT, "patch.example", id);
    path_of(path, sizeof(path), ACCT, id, "");
    let_clock_tick();
    json_t *env = simtest_api("PATCH", path, "{\"use_fedramp_language\":true}", &status);
    assert_int_equal(status, 200);
    json_t *c = simtest_assert_cf_success(env);
    assert_true(json_is_true(json_object_get(c, "use_fedramp_language")));
    assert_true(strcmp(str(c, "updated_on"), str(c, "created_on")) > 0);
    json_decref(env);

    env = simtest_api("GET", path, NULL, &status);
    assert_true(
        json_is_true(json_object_get(simtest_assert_cf_success(env), "use_fedramp_language")));
    json_decref(env);
}

static void test_enable_needs_verified(void **state) {
    (void)state;
    char id[33], path[160];
    long status;
    simtest_create(ACCT, "verify.example", id);
    path_of(path, sizeof(path), ACCT, id, "");
    json_t *env = simtest_api("PATCH", path, "{\"enabled\":true}", &status);
    assert_int_equal(status, 400);
    const char *msg = simtest_assert_cf_error(env, 1006);
    assert_non_null(strstr(msg, "pending"));
    json_decref(env);

    /* The domain gets verified (behind the provider's back), then it works. */
    char vpath[128];
    snprintf(vpath, sizeof(vpath), "/__sim/connectors/%s/verification", id);
    json_t *c =
        th_sim_http(&simtest_sim, "POST", vpath, "{\"status\":\"verified\"}", false, &status);
    assert_int_equal(status, 200);
    json_decref(c);
    env = simtest_api("PATCH", path, "{\"enabled\":true}", &status);
    assert_int_equal(status, 200);
    assert_true(json_is_true(json_object_get(simtest_assert_cf_success(env), "enabled")));
    json_decref(env);
}

static void test_delete(void **state) {
    (void)state;
    char id[33], path[160];
    long status;
    simtest_create(ACCT, "delete.example", id);
    path_of(path, sizeof(path), ACCT, id, "");
    json_t *env = simtest_api("DELETE", path, NULL, &status);
    assert_int_equal(status, 200);
    json_t *result = simtest_assert_cf_success(env);
    assert_string_equal(str(result, "id"), id);
    assert_int_equal(json_object_size(result), 1);
    json_decref(env);

    env = simtest_api("GET", path, NULL, &status);
    assert_int_equal(status, 404);
    simtest_assert_cf_error(env, 1003);
    json_decref(env);
    env = simtest_api("DELETE", path, NULL, &status);
    assert_int_equal(status, 404);
    simtest_assert_cf_error(env, 1003);
    json_decref(env);
}

static void test_begin_verification(void **state) {
    (void)state;
    char path[160];
    long status;
    json_t *env = simtest_api(
        "POST", LIST, "{\"email_domain\":\"later.example\",\"begin_verification\":false}", &status);
    const char *id = str(simtest_assert_cf_success(env), "id");
    path_of(path, sizeof(path), ACCT, id, "/begin_verification");
    json_t *begun = simtest_api("POST", path, NULL, &status);
    assert_int_equal(status, 200);
    simtest_assert_cf_success(begun);
    assert_null(json_object_get(begun, "result")); /* no result member at all */
    json_decref(begun);

    path_of(path, sizeof(path), ACCT, id, "");
    json_t *got = simtest_api("GET", path, NULL, &status);
    assert_string_equal(
        str(json_object_get(simtest_assert_cf_success(got), "verification"), "status"), "pending");
    json_decref(got);

    char missing[160];
    path_of(missing, sizeof(missing), ACCT, "00000000000000000000000000000000",
            "/begin_verification");
    got = simtest_api("POST", missing, NULL, &status);
    assert_int_equal(status, 404);
    simtest_assert_cf_error(got, 1003);
    json_decref(got);
    json_decref(env);
}

typedef struct bad_body {
    const char *method; /* POST on the list, PATCH on a connector */
    const char *body;
    int code;
    const char *mentions; /* the message names this */
} bad_body;

static void test_bad_bodies(void **state) {
    (void)state;
    static const bad_body cases[] = {
        {"POST", "{}", 1001, "email_domain"},
        {"POST", "{\"email_domain\":5}", 1002, "email_domain"},
        {"POST", "{\"email_domain\":\"not a domain\"}", 1005, "email_domain"},
        {"POST", "{\"email_domain\":\"-bad.example\"}", 1005, "email_domain"},
        {"POST", "{\"email_domain\":\"localhost\"}", 1005, "email_domain"},
        {"POST", "{\"email_domain\":\"x.example\",\"begin_verification\":\"yes\"}", 1002,
         "begin_verification"},
        {"POST", "{\"email_domain\":\"x.example\",\"use_fedramp_language\":1}", 1002,
         "use_fedramp_language"},
        {"POST", "{\"email_domain\":\"x.example\",\"enabled\":true}", 1004, "enabled"},
        {"POST", "{\"email_domain\":", 6007, "JSON"},
        {"POST", "[1,2]", 6007, "object"},
        {"POST", NULL, 6007, "empty"},
        {"PATCH", "{\"enabled\":\"true\"}", 1002, "enabled"},
        {"PATCH", "{\"email_domain\":\"y.example\"}", 1004, "email_domain"},
        {"PATCH", "not json", 6007, "JSON"},
        {"PATCH", NULL, 6007, "empty"},
    };
    char id[33], one[160];
    simtest_create(ACCT, "bodies.example", id);
    path_of(one, sizeof(one), ACCT, id, "");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long status;
        const bad_body *c = &cases[i];
        json_t *env =
            simtest_api(c->method, strcmp(c->method, "POST") == 0 ? LIST : one, c->body, &status);
        if (status != 400)
            fail_msg("case %zu (%s %s): status %ld", i, c->method, c->body, status);
        const char *msg = simtest_assert_cf_error(env, c->code);
        if (!strstr(msg, c->mentions))
            fail_msg("case %zu: message \"%s\" does not mention %s", i, msg, c->mentions);
        json_decref(env);
    }
    /* Nothing was created by the refused requests. */
    long status;
    json_t *env = simtest_api("GET", LIST, NULL, &status);
    assert_int_equal(json_array_size(simtest_assert_cf_success(env)), 1);
    json_decref(env);
}

static void test_duplicate_domain(void **state) {
    (void)state;
    char id[33];
    long status;
    simtest_create(ACCT, "Dup.Example", id);
    json_t *env = simtest_api("POST", LIST, "{\"email_domain\":\"dup.example\"}", &status);
    assert_int_equal(status, 409);
    assert_non_null(strstr(simtest_assert_cf_error(env, 1007), "dup.example"));
    json_decref(env);
}

static void test_authentication(void **state) {
    (void)state;
    static const char *const no_auth[] = {NULL};
    static const char *const wrong[] = {"Authorization: Bearer not-the-token", NULL};
    static const char *const basic[] = {"Authorization: Basic " TOKEN, NULL};
    static const char *const legacy[] = {"X-Auth-Email: a@example.com", "X-Auth-Key: " TOKEN, NULL};
    const char *const *cases[] = {no_auth, wrong, basic, legacy};
    for (size_t i = 0; i < 4; i++) {
        sc_resp r;
        simtest_raw("GET", "/client/v4" LIST, cases[i], NULL, &r);
        assert_int_equal(r.status, 403);
        assert_string_equal(simtest_assert_cf_error(r.json, 10000), "Authentication error");
        sc_resp_free(&r);
    }
    /* The scheme is case-insensitive, the token is not. */
    static const char *const lower[] = {"Authorization: bearer " TOKEN, NULL};
    sc_resp r;
    simtest_raw("GET", "/client/v4" LIST, lower, NULL, &r);
    assert_int_equal(r.status, 200);
    sc_resp_free(&r);
}

static void test_routing(void **state) {
    (void)state;
    static const struct {
        const char *path;
        const char *shown;
    } cases[] = {
        {"/client/v4/zones", "/zones"},
        {"/client/v4/accounts/xyz/sso_connectors", "/accounts/xyz/sso_connectors"},
        {"/client/v4/accounts/" ACCT "/sso_connectors/not-an-id", NULL},
        {"/client/v4/accounts/" ACCT "/sso_connectors/", NULL},
        {"/client/v4/accounts/" ACCT "/sso_connectors/0123456789abcdef0123456789abcdef/verify",
         NULL},
        {"/client/v4/accounts/" ACCT "/sso_connector", NULL},
        {"/elsewhere", "/elsewhere"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sc_resp r;
        simtest_raw("GET", cases[i].path, simtest_auth, NULL, &r);
        if (r.status != 404)
            fail_msg("%s: status %ld", cases[i].path, r.status);
        const char *msg = simtest_assert_cf_error(r.json, 7003);
        if (cases[i].shown) {
            char want[256];
            snprintf(want, sizeof(want),
                     "Could not route to %s, perhaps your object identifier is invalid?",
                     cases[i].shown);
            assert_string_equal(msg, want);
        }
        sc_resp_free(&r);
    }
}

static void test_wrong_method(void **state) {
    (void)state;
    static const struct {
        const char *method, *suffix, *allow;
    } cases[] = {
        {"PUT", "", "GET, POST"},
        {"DELETE", "", "GET, POST"},
        {"POST", "/0123456789abcdef0123456789abcdef", "GET, PATCH, DELETE"},
        {"PUT", "/0123456789abcdef0123456789abcdef", "GET, PATCH, DELETE"},
        {"GET", "/0123456789abcdef0123456789abcdef/begin_verification", "POST"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[256], allow[64];
        snprintf(path, sizeof(path), "/client/v4" LIST "%s", cases[i].suffix);
        sc_resp r;
        simtest_raw(cases[i].method, path, simtest_auth, NULL, &r);
        assert_int_equal(r.status, 405);
        simtest_assert_cf_error(r.json, 10405);
        assert_string_equal(sc_header(&r, "Allow", allow, sizeof(allow)), cases[i].allow);
        sc_resp_free(&r);
    }
}

static void test_body_too_large(void **state) {
    (void)state;
    size_t n = 1024 * 1024 + 10;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    sc_resp r;
    simtest_raw("POST", "/client/v4" LIST, simtest_auth, big, &r);
    assert_int_equal(r.status, 413);
    simtest_assert_cf_error(r.json, 10413);
    sc_resp_free(&r);
    /* Just under the cap is read and judged on its content. */
    big[1024 * 1024 - 1] = '}';
    big[1024 * 1024] = '\0';
    simtest_raw("POST", "/client/v4" LIST, simtest_auth, big, &r);
    assert_int_equal(r.status, 400);
    simtest_assert_cf_error(r.json, 1001);
    sc_resp_free(&r);
    free(big);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_create_defaults, simtest_reset),
        cmocka_unit_test_setup(test_create_options, simtest_reset),
        cmocka_unit_test_setup(test_get_and_list, simtest_reset),
        cmocka_unit_test_setup(test_list_empty_and_paging, simtest_reset),
        cmocka_unit_test_setup(test_patch, simtest_reset),
        cmocka_unit_test_setup(test_enable_needs_verified, simtest_reset),
        cmocka_unit_test_setup(test_delete, simtest_reset),
        cmocka_unit_test_setup(test_begin_verification, simtest_reset),
        cmocka_unit_test_setup(test_bad_bodies, simtest_reset),
        cmocka_unit_test_setup(test_duplicate_domain, simtest_reset),
        cmocka_unit_test_setup(test_authentication, simtest_reset),
        cmocka_unit_test_setup(test_routing, simtest_reset),
        cmocka_unit_test_setup(test_wrong_method, simtest_reset),
        cmocka_unit_test_setup(test_body_too_large, simtest_reset),
    };
    return cmocka_run_group_tests_name("sim_api", tests, simtest_group_setup,
                                       simtest_group_teardown);
}
