/*
 * simtest.h - shared helpers of the cf-api-sim test suites: one simulator per
 * test file (started in the group setup, reset before each test), API calls
 * with the token, seeding through the control plane, and envelope checks.
 */
#ifndef SIM_TEST_SIMTEST_H
#define SIM_TEST_SIMTEST_H

#include "http.h"
#include "harness.h"

#include <stdbool.h>

#define ACCT  "0123456789abcdef0123456789abcdef"
#define ACCT2 "fedcba9876543210fedcba9876543210"
#define TOKEN "sim-test-token-5f2c"

/* The simulator shared by the tests of one file. */
extern th_sim simtest_sim;

/* cmocka group setup/teardown: start the simulator with `extra` args (set
 * simtest_extra_args before cmocka_run_group_tests), stop it and check that
 * it exited with status 0. */
extern const char *const *simtest_extra_args;
int simtest_group_setup(void **state);
int simtest_group_teardown(void **state);
/* cmocka per-test setup: POST /__sim/reset. */
int simtest_reset(void **state);

/* An API call with the Bearer token: `path` is relative to /client/v4.
 * Returns the parsed body (new reference) and the status in *status. */
json_t *simtest_api(const char *method, const char *path, const char *body, long *status);

/* The same with full control over headers, through the sc client. */
void simtest_raw(const char *method, const char *path, const char *const headers[],
                 const char *body, sc_resp *out);

/* Creates a connector through the API in `account` and returns its id
 * (static buffer per call site is the caller's: copies into id[33]). */
void simtest_create(const char *account, const char *domain, char id[33]);

/* Seeds a connector through the control plane with a verification status;
 * copies its id. */
void simtest_seed(const char *account, const char *domain, const char *status, char id[33]);

/* Asserts a Cloudflare error envelope with one error of `code`; returns
 * that error's message (borrowed from `env`). */
const char *simtest_assert_cf_error(json_t *env, int code);

/* Asserts a success envelope and returns its "result" (borrowed). */
json_t *simtest_assert_cf_success(json_t *env);

/* "Authorization: Bearer <TOKEN>" */
extern const char *const simtest_auth[];

#endif /* SIM_TEST_SIMTEST_H */
