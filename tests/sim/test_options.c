/*
 * test_options.c - cf-api-sim started with --email/--key (legacy auth
 * accepted besides the token), --lenient-enable and --threads 1.
 */
#include "simtest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
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

int main(void) {
    static const char *const args[] = {"--email",          "ops@example.com", "--key", "k3y",
                                       "--lenient-enable", "--threads",       "1",     NULL};
    simtest_extra_args = args;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_legacy_auth, simtest_reset),
        cmocka_unit_test_setup(test_lenient_enable, simtest_reset),
        cmocka_unit_test_setup(test_one_thread_still_delays_concurrently, simtest_reset),
    };
    return cmocka_run_group_tests_name("sim_options", tests, simtest_group_setup,
                                       simtest_group_teardown);
}
