/*
 * test_control.c - cf-api-sim's control plane under /__sim/: seeding,
 * changes behind the provider's back, the all-accounts listing, reset, and
 * the request log with its masking.
 */
#include "simtest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define LIST "/accounts/" ACCT "/sso_connectors"

static const char *str(json_t *o, const char *name) {
    return json_string_value(json_object_get(o, name));
}

static json_t *ctl(const char *method, const char *path, const char *body, long *status) {
    return th_sim_http(&simtest_sim, method, path, body, false, status);
}

static void assert_ctl_error(json_t *v) {
    assert_non_null(v);
    assert_true(json_is_false(json_object_get(v, "ok")));
    assert_non_null(str(v, "error"));
}

static void test_seed(void **state) {
    (void)state;
    long status;
    json_t *c = ctl("POST", "/__sim/accounts/" ACCT "/connectors",
                    "{\"email_domain\":\"seed.example\",\"enabled\":true,"
                    "\"use_fedramp_language\":true,\"verification_status\":\"verified\"}",
                    &status);
    assert_int_equal(status, 201);
    assert_string_equal(str(c, "email_domain"), "seed.example");
    assert_true(json_is_true(json_object_get(c, "enabled")));
    assert_true(json_is_true(json_object_get(c, "use_fedramp_language")));
    assert_string_equal(str(json_object_get(c, "verification"), "status"), "verified");

    /* The API sees exactly what was seeded. */
    char path[160];
    snprintf(path, sizeof(path), LIST "/%s", str(c, "id"));
    json_t *env = simtest_api("GET", path, NULL, &status);
    assert_int_equal(status, 200);
    assert_true(json_equal(simtest_assert_cf_success(env), c));
    json_decref(env);
    json_decref(c);

    /* Defaults: pending, disabled, no FedRAMP language. */
    c = ctl("POST", "/__sim/accounts/" ACCT "/connectors", "{\"email_domain\":\"d.example\"}",
            &status);
    assert_int_equal(status, 201);
    assert_true(json_is_false(json_object_get(c, "enabled")));
    assert_true(json_is_false(json_object_get(c, "use_fedramp_language")));
    assert_string_equal(str(json_object_get(c, "verification"), "status"), "pending");
    json_decref(c);
}

static void test_seed_errors(void **state) {
    (void)state;
    static const struct {
        const char *path, *body;
        long status;
    } cases[] = {
        {"/__sim/accounts/nothex/connectors", "{\"email_domain\":\"a.example\"}", 400},
        {"/__sim/accounts/" ACCT "/connectors", "{}", 400},
        {"/__sim/accounts/" ACCT "/connectors", "{\"email_domain\":\"bad domain\"}", 400},
        {"/__sim/accounts/" ACCT "/connectors",
         "{\"email_domain\":\"a.example\",\"verification_status\":\"done\"}", 400},
        {"/__sim/accounts/" ACCT "/connectors", "{\"email_domain\":\"a.example\",\"x\":1}", 400},
        {"/__sim/accounts/" ACCT "/connectors", "{\"email_domain\":\"a.example\",\"enabled\":1}",
         400},
        {"/__sim/accounts/" ACCT "/connectors", "{", 400},
        {"/__sim/accounts/" ACCT "/connectors", "{\"email_domain\":\"taken.example\"}", 409},
    };
    char id[33];
    simtest_seed(ACCT, "TAKEN.example", "pending", id);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long status;
        json_t *v = ctl("POST", cases[i].path, cases[i].body, &status);
        if (status != cases[i].status)
            fail_msg("case %zu: status %ld, want %ld", i, status, cases[i].status);
        assert_ctl_error(v);
        json_decref(v);
    }
}

static void test_verification(void **state) {
    (void)state;
    static const char *const statuses[] = {"awaiting", "pending", "failed", "verified"};
    char id[33], path[128];
    long status;
    simtest_create(ACCT, "v.example", id);
    snprintf(path, sizeof(path), "/__sim/connectors/%s/verification", id);
    for (size_t i = 0; i < 4; i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"status\":\"%s\"}", statuses[i]);
        json_t *c = ctl("POST", path, body, &status);
        assert_int_equal(status, 200);
        assert_string_equal(str(c, "id"), id);
        assert_string_equal(str(json_object_get(c, "verification"), "status"), statuses[i]);
        json_decref(c);
    }
    json_t *v = ctl("POST", path, "{\"status\":\"done\"}", &status);
    assert_int_equal(status, 400);
    assert_ctl_error(v);
    json_decref(v);
    v = ctl("POST", path, "{}", &status);
    assert_int_equal(status, 400);
    assert_ctl_error(v);
    json_decref(v);
    v = ctl("POST", "/__sim/connectors/00000000000000000000000000000000/verification",
            "{\"status\":\"verified\"}", &status);
    assert_int_equal(status, 404);
    assert_ctl_error(v);
    json_decref(v);
}

static void test_patch_behind_back(void **state) {
    (void)state;
    char id[33], path[128], api_path[160];
    long status;
    simtest_create(ACCT, "before.example", id);
    simtest_create(ACCT, "other.example", (char[33]){0});
    snprintf(path, sizeof(path), "/__sim/connectors/%s", id);
    struct timespec ts = {0, 5 * 1000 * 1000}; /* timestamps tick every 100 us */
    nanosleep(&ts, NULL);
    json_t *c = ctl("PATCH", path,
                    "{\"enabled\":true,\"use_fedramp_language\":true,"
                    "\"email_domain\":\"after.example\",\"verification_status\":\"failed\"}",
                    &status);
    assert_int_equal(status, 200);
    assert_true(json_is_true(json_object_get(c, "enabled"))); /* even unverified */
    assert_true(json_is_true(json_object_get(c, "use_fedramp_language")));
    assert_string_equal(str(c, "email_domain"), "after.example");
    assert_string_equal(str(json_object_get(c, "verification"), "status"), "failed");
    assert_true(strcmp(str(c, "updated_on"), str(c, "created_on")) > 0);

    snprintf(api_path, sizeof(api_path), LIST "/%s", id);
    json_t *env = simtest_api("GET", api_path, NULL, &status);
    assert_true(json_equal(simtest_assert_cf_success(env), c));
    json_decref(env);
    json_decref(c);

    /* Same rules as the API for the domain: valid, unique in the account. */
    json_t *v = ctl("PATCH", path, "{\"email_domain\":\"OTHER.example\"}", &status);
    assert_int_equal(status, 409);
    assert_ctl_error(v);
    json_decref(v);
    v = ctl("PATCH", path, "{\"email_domain\":\"nope\"}", &status);
    assert_int_equal(status, 400);
    json_decref(v);
    v = ctl("PATCH", path, "{\"id\":\"x\"}", &status);
    assert_int_equal(status, 400);
    json_decref(v);
    v = ctl("PATCH", "/__sim/connectors/00000000000000000000000000000000", "{}", &status);
    assert_int_equal(status, 404);
    json_decref(v);
}

static void test_list_all_accounts(void **state) {
    (void)state;
    char a[33], b[33];
    long status;
    simtest_create(ACCT, "one.example", a);
    simtest_seed(ACCT2, "two.example", "awaiting", b);
    json_t *v = ctl("GET", "/__sim/connectors", NULL, &status);
    assert_int_equal(status, 200);
    json_t *list = json_object_get(v, "connectors");
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(str(json_array_get(list, 0), "id"), a);
    assert_string_equal(str(json_array_get(list, 0), "account_id"), ACCT);
    assert_string_equal(str(json_array_get(list, 1), "id"), b);
    assert_string_equal(str(json_array_get(list, 1), "account_id"), ACCT2);
    json_decref(v);
}

static void test_reset(void **state) {
    (void)state;
    long status;
    char id[33];
    simtest_create(ACCT, "gone.example", id);
    json_t *v = ctl("POST", "/__sim/faults", "{\"path\":\"/nothing\",\"status\":500}", &status);
    assert_int_equal(status, 201);
    json_decref(v);
    v = ctl("POST", "/__sim/reset", NULL, &status);
    assert_int_equal(status, 200);
    assert_true(json_is_true(json_object_get(v, "ok")));
    json_decref(v);

    v = ctl("GET", "/__sim/connectors", NULL, &status);
    assert_int_equal(json_array_size(json_object_get(v, "connectors")), 0);
    json_decref(v);
    v = ctl("GET", "/__sim/faults", NULL, &status);
    assert_int_equal(json_array_size(json_object_get(v, "faults")), 0);
    json_decref(v);
    json_t *reqs = th_sim_requests(&simtest_sim);
    assert_int_equal(json_array_size(reqs), 0);
    json_decref(reqs);
}

static void test_request_log(void **state) {
    (void)state;
    static const char *const legacy[] = {"X-Auth-Email: ops@example.com",
                                         "X-Auth-Key: very-secret-key", "X-Custom: one",
                                         "X-Custom: two", NULL};
    sc_resp r;
    long status;
    json_t *v = simtest_api("POST", LIST, "{\"email_domain\":\"log.example\"}", &status);
    json_decref(v);
    v = ctl("GET", "/__sim/connectors", NULL, &status); /* control plane: not logged */
    json_decref(v);
    simtest_raw("GET", "/client/v4" LIST "?page=1&per_page=5", legacy, NULL, &r);
    sc_resp_free(&r);
    simtest_raw("PATCH", "/client/v4" LIST "/0123456789abcdef0123456789abcdef", simtest_auth,
                "not json", &r);
    sc_resp_free(&r);

    sc_resp raw;
    simtest_raw("GET", "/__sim/requests", NULL, NULL, &raw);
    assert_int_equal(raw.status, 200);
    assert_null(strstr(raw.body, TOKEN));
    assert_null(strstr(raw.body, "very-secret-key"));
    json_t *reqs = json_object_get(raw.json, "requests");
    assert_int_equal(json_array_size(reqs), 3);

    json_t *e = json_array_get(reqs, 0);
    assert_string_equal(str(e, "method"), "POST");
    assert_string_equal(str(e, "path"), "/client/v4" LIST);
    assert_string_equal(str(e, "query"), "");
    json_t *h = json_object_get(e, "headers");
    assert_string_equal(str(h, "authorization"), "Bearer ***");
    assert_string_equal(str(h, "content-type"), "application/json");
    assert_string_equal(str(e, "body"), "{\"email_domain\":\"log.example\"}");
    assert_string_equal(str(json_object_get(e, "body_json"), "email_domain"), "log.example");

    e = json_array_get(reqs, 1);
    assert_string_equal(str(e, "method"), "GET");
    assert_string_equal(str(e, "query"), "page=1&per_page=5");
    h = json_object_get(e, "headers");
    assert_string_equal(str(h, "x-auth-key"), "***");
    assert_string_equal(str(h, "x-auth-email"), "ops@example.com");
    assert_string_equal(str(h, "x-custom"), "one, two");
    assert_null(json_object_get(h, "authorization"));
    assert_true(json_is_null(json_object_get(e, "body")));
    assert_true(json_is_null(json_object_get(e, "body_json")));

    e = json_array_get(reqs, 2);
    assert_string_equal(str(e, "method"), "PATCH");
    assert_string_equal(str(e, "body"), "not json");
    assert_true(json_is_null(json_object_get(e, "body_json")));
    sc_resp_free(&raw);

    v = ctl("DELETE", "/__sim/requests", NULL, &status);
    assert_int_equal(status, 200);
    json_decref(v);
    json_t *after = th_sim_requests(&simtest_sim);
    assert_int_equal(json_array_size(after), 0);
    json_decref(after);
}

static void test_request_log_cap(void **state) {
    (void)state;
    /* 10000 entries are kept; the oldest go first. One keep-alive
     * connection for all 10005 requests keeps this quick. */
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
    FILE *devnull = fopen("/dev/null", "w");
    assert_non_null(devnull);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, devnull);
    for (int i = 0; i < 10005; i++) {
        char url[256];
        snprintf(url, sizeof(url), "%s/client/v4" LIST "?n=%d", simtest_sim.origin, i);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    }
    fclose(devnull);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(curl);
    json_t *reqs = th_sim_requests(&simtest_sim);
    assert_int_equal(json_array_size(reqs), 10000);
    assert_string_equal(str(json_array_get(reqs, 0), "query"), "n=5");
    assert_string_equal(str(json_array_get(reqs, 9999), "query"), "n=10004");
    json_decref(reqs);
}

static void test_unknown_routes(void **state) {
    (void)state;
    long status;
    json_t *v = ctl("GET", "/__sim/nothing", NULL, &status);
    assert_int_equal(status, 404);
    assert_ctl_error(v);
    json_decref(v);
    sc_resp r;
    simtest_raw("GET", "/__sim/reset", NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    char allow[32];
    assert_string_equal(sc_header(&r, "Allow", allow, sizeof(allow)), "POST");
    assert_ctl_error(r.json);
    sc_resp_free(&r);
    v = ctl("PUT", "/__sim/faults", NULL, &status);
    assert_int_equal(status, 405);
    json_decref(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_seed, simtest_reset),
        cmocka_unit_test_setup(test_seed_errors, simtest_reset),
        cmocka_unit_test_setup(test_verification, simtest_reset),
        cmocka_unit_test_setup(test_patch_behind_back, simtest_reset),
        cmocka_unit_test_setup(test_list_all_accounts, simtest_reset),
        cmocka_unit_test_setup(test_reset, simtest_reset),
        cmocka_unit_test_setup(test_request_log, simtest_reset),
        cmocka_unit_test_setup(test_request_log_cap, simtest_reset),
        cmocka_unit_test_setup(test_unknown_routes, simtest_reset),
    };
    return cmocka_run_group_tests_name("sim_control", tests, simtest_group_setup,
                                       simtest_group_teardown);
}
