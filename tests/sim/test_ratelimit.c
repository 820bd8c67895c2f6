/*
 * test_ratelimit.c - cf-api-sim --rate-limit: Cloudflare's 429 with code
 * 971, Retry-After, Ratelimit and Ratelimit-Policy, on API routes only.
 */
#include "simtest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define LIST "/client/v4/accounts/" ACCT "/sso_connectors"

static void test_limit_and_headers(void **state) {
    (void)state;
    char buf[128], want[128];
    sc_resp r;
    for (int i = 0; i < 3; i++) {
        simtest_raw("GET", LIST, simtest_auth, NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(sc_header(&r, "Ratelimit-Policy", buf, sizeof(buf)),
                            "\"burst\";q=3;w=60");
        unsigned r_left, t;
        assert_int_equal(sscanf(sc_header(&r, "Ratelimit", buf, sizeof(buf)),
                                "\"default\";r=%u;t=%u", &r_left, &t),
                         2);
        assert_int_equal(r_left, 2 - i);
        assert_true(t >= 1 && t <= 60);
        sc_resp_free(&r);
    }
    /* The control plane is not counted. */
    simtest_raw("GET", "/__sim/connectors", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_null(sc_header(&r, "Ratelimit", buf, sizeof(buf)));
    sc_resp_free(&r);

    /* The fourth API request in the window is refused, even unauthenticated. */
    for (int i = 0; i < 2; i++) {
        simtest_raw("GET", LIST, i == 0 ? simtest_auth : NULL, NULL, &r);
        assert_int_equal(r.status, 429);
        assert_string_equal(simtest_assert_cf_error(r.json, 971),
                            "Please wait and consider throttling your request speed");
        const char *ra = sc_header(&r, "Retry-After", buf, sizeof(buf));
        assert_non_null(ra);
        int seconds = atoi(ra);
        assert_true(seconds >= 1 && seconds <= 60);
        snprintf(want, sizeof(want), "\"default\";r=0;t=%d", seconds);
        assert_string_equal(sc_header(&r, "Ratelimit", buf, sizeof(buf)), want);
        assert_string_equal(sc_header(&r, "Ratelimit-Policy", buf, sizeof(buf)),
                            "\"burst\";q=3;w=60");
        sc_resp_free(&r);
    }

    /* A reset forgets the counted requests. */
    assert_int_equal(th_sim_reset(&simtest_sim), 0);
    simtest_raw("GET", LIST, simtest_auth, NULL, &r);
    assert_int_equal(r.status, 200);
    sc_resp_free(&r);
}

int main(void) {
    static const char *const args[] = {"--rate-limit", "3/60", NULL};
    simtest_extra_args = args;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_limit_and_headers, simtest_reset),
    };
    int failed = cmocka_run_group_tests_name("sim_ratelimit", tests, simtest_group_setup,
                                             simtest_group_teardown);
    return failed;
}
