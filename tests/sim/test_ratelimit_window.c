/*
 * test_ratelimit_window.c - the rate-limit window slides: after waiting the
 * Retry-After the simulator announced, requests are accepted again.
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

static void test_retry_after_is_honest(void **state) {
    (void)state;
    char buf[64];
    sc_resp r;
    for (int i = 0; i < 2; i++) {
        simtest_raw("GET", LIST, simtest_auth, NULL, &r);
        assert_int_equal(r.status, 200);
        sc_resp_free(&r);
    }
    simtest_raw("GET", LIST, simtest_auth, NULL, &r);
    assert_int_equal(r.status, 429);
    int seconds = atoi(sc_header(&r, "Retry-After", buf, sizeof(buf)));
    assert_true(seconds >= 1 && seconds <= 2);
    sc_resp_free(&r);
    /* Waiting is the behaviour under test: Retry-After promises a slot. */
    struct timespec ts = {seconds, 0};
    nanosleep(&ts, NULL);
    simtest_raw("GET", LIST, simtest_auth, NULL, &r);
    assert_int_equal(r.status, 200);
    sc_resp_free(&r);
}

int main(void) {
    /* A 2 s window: Retry-After is then 2, not the 1 a simulator that
     * ignored the window could always say. */
    static const char *const args[] = {"--rate-limit", "2/2", NULL};
    simtest_extra_args = args;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after_is_honest),
    };
    return cmocka_run_group_tests_name("sim_ratelimit_window", tests, simtest_group_setup,
                                       simtest_group_teardown);
}
