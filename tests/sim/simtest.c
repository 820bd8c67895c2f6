/*
 * simtest.c - shared helpers of the cf-api-sim test suites.
 */
#include "simtest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

th_sim simtest_sim;
const char *const *simtest_extra_args;
const char *const simtest_auth[] = {"Authorization: Bearer " TOKEN,
                                    "Content-Type: application/json", NULL};

int simtest_group_setup(void **state) {
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (th_sim_start(&simtest_sim, TOKEN, simtest_extra_args) < 0) {
        fprintf(stderr, "cannot start cf-api-sim\n");
        return -1;
    }
    return 0;
}

int simtest_group_teardown(void **state) {
    (void)state;
    int status = th_sim_stop(&simtest_sim);
    curl_global_cleanup();
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "cf-api-sim did not exit cleanly (wait status %d)\n", status);
        return -1;
    }
    return 0;
}

int simtest_reset(void **state) {
    (void)state;
    return th_sim_reset(&simtest_sim);
}

json_t *simtest_api(const char *method, const char *path, const char *body, long *status) {
    char full[1024];
    snprintf(full, sizeof(full), "/client/v4%s", path);
    return th_sim_http(&simtest_sim, method, full, body, true, status);
}

void simtest_raw(const char *method, const char *path, const char *const headers[],
                 const char *body, sc_resp *out) {
    char url[1024];
    sc_url(url, sizeof(url), simtest_sim.origin, path);
    assert_int_equal(sc_request(url, method, headers, body, out), 0);
}

static void copy_id(json_t *connector, char id[33]) {
    const char *v = json_string_value(json_object_get(connector, "id"));
    assert_non_null(v);
    assert_int_equal(strlen(v), 32);
    memcpy(id, v, 33);
}

void simtest_create(const char *account, const char *domain, char id[33]) {
    char path[128], body[512];
    long status;
    snprintf(path, sizeof(path), "/accounts/%s/sso_connectors", account);
    snprintf(body, sizeof(body), "{\"email_domain\":\"%s\"}", domain);
    json_t *env = simtest_api("POST", path, body, &status);
    assert_int_equal(status, 200);
    copy_id(simtest_assert_cf_success(env), id);
    json_decref(env);
}

void simtest_seed(const char *account, const char *domain, const char *status_name, char id[33]) {
    char path[128], body[512];
    long status;
    snprintf(path, sizeof(path), "/__sim/accounts/%s/connectors", account);
    snprintf(body, sizeof(body), "{\"email_domain\":\"%s\",\"verification_status\":\"%s\"}", domain,
             status_name);
    json_t *c = th_sim_http(&simtest_sim, "POST", path, body, false, &status);
    assert_int_equal(status, 201);
    copy_id(c, id);
    json_decref(c);
}

const char *simtest_assert_cf_error(json_t *env, int code) {
    assert_non_null(env);
    assert_true(json_is_null(json_object_get(env, "result")));
    assert_true(json_is_false(json_object_get(env, "success")));
    assert_true(json_is_array(json_object_get(env, "messages")));
    json_t *errors = json_object_get(env, "errors");
    assert_int_equal(json_array_size(errors), 1);
    json_t *e = json_array_get(errors, 0);
    assert_int_equal(json_integer_value(json_object_get(e, "code")), code);
    const char *msg = json_string_value(json_object_get(e, "message"));
    assert_non_null(msg);
    assert_true(strlen(msg) > 0);
    return msg;
}

json_t *simtest_assert_cf_success(json_t *env) {
    assert_non_null(env);
    assert_true(json_is_true(json_object_get(env, "success")));
    assert_int_equal(json_array_size(json_object_get(env, "errors")), 0);
    assert_true(json_is_array(json_object_get(env, "errors")));
    assert_true(json_is_array(json_object_get(env, "messages")));
    return json_object_get(env, "result");
}
