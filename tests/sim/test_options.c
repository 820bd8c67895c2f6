/*
 * test_options.c - cf-api-sim started with --email/--key (legacy auth
 * accepted besides the token), --lenient-enable, --threads 1 and
 * --request-log-mib 4.
 */
#include "simtest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define LIST "/client/v4/accounts/" ACCT "/sso_connectors"

static void test_legacy_auth(void **state) {
    (void)state;
    static const char *const good[] = {"X-Auth-Email: Ops@Example.com", "X-Auth-Key: k3y", NULL};
    static const char *const bad_key[] = {"X-Auth-Email: ops@example.com", "X-Auth-Key: nope",
                                          NULL};
    static const char *const no_email[] = {"X-Auth-Key: k3y", NULL};
    sc_resp r;
    simtest_raw("GET", LIST, good, NULL, &r);
    assert_int_equal(r.status, 200); /* the email compares case-insensitively */
    sc_resp_free(&r);
    simtest_raw("GET", LIST, simtest_auth, NULL, &r);
    assert_int_equal(r.status, 200); /* the token still works */
    sc_resp_free(&r);
    simtest_raw("GET", LIST, bad_key, NULL, &r);
    assert_int_equal(r.status, 403);
    simtest_assert_cf_error(r.json, 10000);
    sc_resp_free(&r);
    simtest_raw("GET", LIST, no_email, NULL, &r);
    assert_int_equal(r.status, 403);
    sc_resp_free(&r);
}

static void test_lenient_enable(void **state) {
    (void)state;
    char id[33], path[160];
    long status;
    simtest_create(ACCT, "lenient.example", id);
    snprintf(path, sizeof(path), "/accounts/" ACCT "/sso_connectors/%s", id);
    json_t *env = simtest_api("PATCH", path, "{\"enabled\":true}", &status);
    assert_int_equal(status, 200);
    json_t *c = simtest_assert_cf_success(env);
    assert_true(json_is_true(json_object_get(c, "enabled")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(c, "verification"), "status")),
        "pending");
    json_decref(env);
}

static void test_one_thread_still_delays_concurrently(void **state) {
    (void)state;
    long status;
    json_t *v = th_sim_http(&simtest_sim, "POST", "/__sim/faults",
                            "{\"delay_ms\":500,\"count\":10}", false, &status);
    assert_int_equal(status, 201);
    json_decref(v);
    char url[256];
    sc_url(url, sizeof(url), simtest_sim.origin, LIST);
    sc_resp rs[10];
    assert_int_equal(sc_parallel(10, url, "GET", simtest_auth, NULL, rs), 0);
    double slowest = 0;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(rs[i].status, 200);
        if (rs[i].seconds > slowest)
            slowest = rs[i].seconds;
        sc_resp_free(&rs[i]);
    }
    /* Serially on one thread: 5 s. Concurrently: about 0.5 s. */
    if (slowest >= 4.0)
        fail_msg("10 delayed requests on one thread took %.1f s", slowest);
}

/* --request-log-mib 4: twelve requests with 900 KiB JSON bodies (each
 * entry counted about 1.8 MiB: the body as text and parsed) leave the two
 * newest in the log, within 4 MiB, and say ten were dropped. Finding 13:
 * with only the 10,000-entry cap, all twelve (and 10,000 such, 17 GiB)
 * would stay. */
static void test_request_log_byte_cap(void **state) {
    (void)state;
    enum { N = 12, BODY = 900 * 1024 };
    char *body = malloc(BODY + 1);
    assert_non_null(body);
    memset(body, 'x', BODY);
    memcpy(body, "{\"pad\":\"", 8);
    memcpy(body + BODY - 2, "\"}", 2);
    body[BODY] = '\0';
    for (int i = 0; i < N; i++) {
        char path[160];
        snprintf(path, sizeof(path), LIST "?n=%d", i);
        sc_resp r;
        simtest_raw("POST", path, simtest_auth, body, &r);
        assert_int_equal(r.status, 400); /* "pad" is not a member of a create */
        sc_resp_free(&r);
    }
    free(body);
    long status;
    json_t *doc = th_sim_http(&simtest_sim, "GET", "/__sim/requests", NULL, false, &status);
    assert_int_equal(status, 200);
    json_t *reqs = json_object_get(doc, "requests");
    assert_int_equal(json_array_size(reqs), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(reqs, i);
        char want[16];
        snprintf(want, sizeof(want), "n=%zu", N - 2 + i);
        assert_string_equal(json_string_value(json_object_get(e, "query")), want);
        assert_int_equal(json_string_length(json_object_get(e, "body")), BODY);
    }
    json_int_t bytes = json_integer_value(json_object_get(doc, "bytes"));
    assert_true(bytes > 2 * 2 * (json_int_t)BODY && bytes <= 4 * 1024 * 1024);
    assert_int_equal(json_integer_value(json_object_get(doc, "max_bytes")), 4 * 1024 * 1024);
    assert_int_equal(json_integer_value(json_object_get(doc, "dropped")), N - 2);
    json_decref(doc);
}

int main(void) {
    static const char *const args[] = {
        "--email", "ops@example.com",   "--key", "k3y", "--lenient-enable", "--threads",
        "1",       "--request-log-mib", "4",     NULL};
    simtest_extra_args = args;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_legacy_auth, simtest_reset),
        cmocka_unit_test_setup(test_lenient_enable, simtest_reset),
        cmocka_unit_test_setup(test_one_thread_still_delays_concurrently, simtest_reset),
        cmocka_unit_test_setup(test_request_log_byte_cap, simtest_reset),
    };
    return cmocka_run_group_tests_name("sim_options", tests, simtest_group_setup,
                                       simtest_group_teardown);
}
