/*
 * test_faults.c - cf-api-sim's fault injection: status answers with
 * Retry-After, delays that do not block other requests, dropped connections
 * before and after the change is committed, matching and counting.
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

#define LIST "/accounts/" ACCT "/sso_connectors"

static const char *str(json_t *o, const char *name) {
    return json_string_value(json_object_get(o, name));
}

static void add_fault(const char *spec) {
    long status;
    json_t *v = th_sim_http(&simtest_sim, "POST", "/__sim/faults", spec, false, &status);
    if (status != 201)
        fail_msg("fault %s refused (%ld): %s", spec, status, str(v, "error"));
    json_decref(v);
}

static size_t fault_count(void) {
    long status;
    json_t *v = th_sim_http(&simtest_sim, "GET", "/__sim/faults", NULL, false, &status);
    size_t n = json_array_size(json_object_get(v, "faults"));
    json_decref(v);
    return n;
}

static size_t connector_count(void) {
    long status;
    json_t *v = th_sim_http(&simtest_sim, "GET", "/__sim/connectors", NULL, false, &status);
    size_t n = json_array_size(json_object_get(v, "connectors"));
    json_decref(v);
    return n;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A dropped connection: no HTTP status, and curl saw an empty reply (52)
 * or a reset (56). */
static void assert_dropped(const sc_resp *r) {
    assert_int_equal(r->status, 0);
    if (r->rc != CURLE_GOT_NOTHING && r->rc != CURLE_RECV_ERROR)
        fail_msg("expected an empty reply or a reset, got curl error %d (%s)", r->rc,
                 curl_easy_strerror(r->rc));
}

static void test_status_with_retry_after(void **state) {
    (void)state;
    add_fault("{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*/sso_connectors\","
              "\"status\":503,\"retry_after\":\"2\",\"retry_after_ms\":1500}");
    sc_resp r;
    char buf[64];
    simtest_raw("GET", "/client/v4" LIST, simtest_auth, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(sc_header(&r, "Retry-After", buf, sizeof(buf)), "2");
    assert_string_equal(sc_header(&r, "Retry-After-Ms", buf, sizeof(buf)), "1500");
    assert_string_equal(sc_header(&r, "Content-Type", buf, sizeof(buf)), "application/json");
    simtest_assert_cf_error(r.json, 10001);
    sc_resp_free(&r);
    /* Used up: the next request is answered normally. */
    assert_int_equal(fault_count(), 0);
    simtest_raw("GET", "/client/v4" LIST, simtest_auth, NULL, &r);
    assert_int_equal(r.status, 200);
    sc_resp_free(&r);
}

static void test_status_429_and_http_date(void **state) {
    (void)state;
    add_fault("{\"status\":429,\"retry_after\":\"Wed, 21 Oct 2015 07:28:00 GMT\"}");
    sc_resp r;
    char buf[64];
    simtest_raw("GET", "/client/v4" LIST, simtest_auth, NULL, &r);
    assert_int_equal(r.status, 429);
    assert_string_equal(sc_header(&r, "Retry-After", buf, sizeof(buf)),
                        "Wed, 21 Oct 2015 07:28:00 GMT");
    assert_null(sc_header(&r, "Retry-After-Ms", buf, sizeof(buf)));
    assert_string_equal(simtest_assert_cf_error(r.json, 971),
                        "Please wait and consider throttling your request speed");
    sc_resp_free(&r);
}

static void test_status_with_raw_body(void **state) {
    (void)state;
    add_fault("{\"status\":502,\"body\":\"<html>bad gateway</html>\"}");
    sc_resp r;
    simtest_raw("GET", "/client/v4" LIST, simtest_auth, NULL, &r);
    assert_int_equal(r.status, 502);
    assert_string_equal(r.body, "<html>bad gateway</html>");
    sc_resp_free(&r);
}

static void test_matching_and_count(void **state) {
    (void)state;
    char id[33];
    simtest_create(ACCT, "match.example", id);
    /* Only PATCH on connectors; three times. */
    add_fault("{\"method\":\"patch\",\"path\":\"/client/v4/accounts/*/sso_connectors/*\","
              "\"status\":500,\"count\":3}");
    char path[160];
    snprintf(path, sizeof(path), LIST "/%s", id);
    long status;
    json_t *v = simtest_api("GET", path, NULL, &status);
    assert_int_equal(status, 200); /* other method */
    json_decref(v);
    v = simtest_api("POST", LIST, "{\"email_domain\":\"m2.example\"}", &status);
    assert_int_equal(status, 200); /* other method and path */
    json_decref(v);
    for (int i = 0; i < 3; i++) {
        v = simtest_api("PATCH", path, "{\"use_fedramp_language\":true}", &status);
        assert_int_equal(status, 500);
        json_decref(v);
    }
    v = simtest_api("PATCH", path, "{\"use_fedramp_language\":true}", &status);
    assert_int_equal(status, 200);
    json_decref(v);

    /* The first matching rule wins; a rule for another path stays. */
    add_fault("{\"path\":\"/client/v4/zones*\",\"status\":500}");
    add_fault("{\"path\":\"*sso_connectors\",\"status\":418,\"body\":\"teapot\"}");
    add_fault("{\"path\":\"*\",\"status\":503}");
    v = simtest_api("GET", LIST, NULL, &status);
    assert_int_equal(status, 418);
    json_decref(v);
    v = simtest_api("GET", LIST, NULL, &status);
    assert_int_equal(status, 503);
    json_decref(v);
    long s2;
    v = th_sim_http(&simtest_sim, "GET", "/__sim/faults", NULL, false, &s2);
    json_t *left = json_object_get(v, "faults");
    assert_int_equal(json_array_size(left), 1);
    assert_string_equal(str(json_array_get(left, 0), "path"), "/client/v4/zones*");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(left, 0), "remaining")), 1);
    json_decref(v);

    v = th_sim_http(&simtest_sim, "DELETE", "/__sim/faults", NULL, false, &s2);
    assert_int_equal(s2, 200);
    json_decref(v);
    assert_int_equal(fault_count(), 0);
}

static void test_control_plane_is_never_faulted(void **state) {
    (void)state;
    add_fault("{\"path\":\"*\",\"status\":503,\"count\":5}");
    assert_int_equal(connector_count(), 0);
    assert_int_equal(fault_count(), 1);
}

static void test_drop_before(void **state) {
    (void)state;
    add_fault("{\"method\":\"POST\",\"drop\":\"before\"}");
    sc_resp r;
    simtest_raw("POST", "/client/v4" LIST, simtest_auth, "{\"email_domain\":\"lost.example\"}", &r);
    assert_dropped(&r);
    sc_resp_free(&r);
    assert_int_equal(connector_count(), 0); /* never handled */
    /* It did arrive, so it is in the request log. */
    json_t *reqs = th_sim_requests(&simtest_sim);
    assert_int_equal(json_array_size(reqs), 1);
    json_decref(reqs);
    /* The retry goes through. */
    simtest_raw("POST", "/client/v4" LIST, simtest_auth, "{\"email_domain\":\"lost.example\"}", &r);
    assert_int_equal(r.status, 200);
    sc_resp_free(&r);
}

static void test_drop_after_commits(void **state) {
    (void)state;
    add_fault("{\"method\":\"POST\",\"path\":\"*/sso_connectors\",\"drop\":\"after\"}");
    sc_resp r;
    simtest_raw("POST", "/client/v4" LIST, simtest_auth, "{\"email_domain\":\"ghost.example\"}",
                &r);
    assert_dropped(&r);
    sc_resp_free(&r);
    /* The answer was lost, the connector was created. */
    long status;
    json_t *v = th_sim_http(&simtest_sim, "GET", "/__sim/connectors", NULL, false, &status);
    json_t *list = json_object_get(v, "connectors");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(str(json_array_get(list, 0), "email_domain"), "ghost.example");
    json_decref(v);
    /* A blind retry now conflicts, which is why the provider looks first. */
    v = simtest_api("POST", LIST, "{\"email_domain\":\"ghost.example\"}", &status);
    assert_int_equal(status, 409);
    json_decref(v);
}

static void test_delay_concurrent(void **state) {
    (void)state;
    enum { N = 40 };
    add_fault("{\"method\":\"GET\",\"delay_ms\":500,\"count\":40}");
    char url[256];
    sc_url(url, sizeof(url), simtest_sim.origin, "/client/v4" LIST);
    sc_resp rs[N];
    double start = now_s();
    assert_int_equal(sc_parallel(N, url, "GET", simtest_auth, NULL, rs), 0);
    double elapsed = now_s() - start;
    for (int i = 0; i < N; i++) {
        assert_int_equal(rs[i].rc, CURLE_OK);
        assert_int_equal(rs[i].status, 200);
        assert_true(rs[i].seconds >= 0.49); /* each one was delayed */
        sc_resp_free(&rs[i]);
    }
    /* Served one after another they would take 20 s (10 s on two blocked
     * worker threads); concurrently about 0.5 s. The bound only has to tell
     * those apart, so it leaves a slow machine plenty of room. */
    if (elapsed >= 5.0)
        fail_msg("40 delayed requests took %.1f s: delays are blocking each other", elapsed);
    assert_int_equal(fault_count(), 0);
}

/*
 * A fast request must not wait behind delayed ones. The delayed requests
 * are started first and the test waits until the simulator has logged all
 * of them (so they are really parked there), then sends a fast request and
 * checks that it was answered while every delayed one was still pending.
 * The hold, 1.5 s, only has to outlast the poll that sees the last one
 * logged (50 ms) and one quick request.
 */
static void test_fast_request_not_blocked(void **state) {
    (void)state;
    enum { N = 4 };
    add_fault("{\"method\":\"GET\",\"path\":\"*/sso_connectors\",\"delay_ms\":1500,\"count\":4}");
    char url[256];
    sc_url(url, sizeof(url), simtest_sim.origin, "/client/v4" LIST);
    CURLM *multi = curl_multi_init();
    CURL *easy[N];
    struct curl_slist *hdrs = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
    FILE *devnull = fopen("/dev/null", "w");
    for (int i = 0; i < N; i++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, url);
        curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, devnull);
        curl_easy_setopt(easy[i], CURLOPT_TIMEOUT, 60L);
        curl_multi_add_handle(multi, easy[i]);
    }
    int running = N;
    double guard = now_s() + 30;
    size_t logged = 0;
    while (logged < N && now_s() < guard) {
        curl_multi_perform(multi, &running);
        curl_multi_poll(multi, NULL, 0, 50, NULL);
        json_t *reqs = th_sim_requests(&simtest_sim);
        logged = json_array_size(reqs);
        json_decref(reqs);
    }
    assert_int_equal(logged, N);

    char one[160];
    snprintf(one, sizeof(one), LIST "/0123456789abcdef0123456789abcdef");
    long status;
    json_t *v = simtest_api("GET", one, NULL, &status); /* not matched: no delay */
    assert_int_equal(status, 404);
    json_decref(v);
    curl_multi_perform(multi, &running);
    assert_int_equal(running, N); /* none of the delayed ones has finished */

    while (running) {
        curl_multi_perform(multi, &running);
        if (running)
            curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    CURLMsg *msg;
    int left, done = 0;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
        assert_int_equal(msg->data.result, CURLE_OK);
        long code;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        assert_int_equal(code, 200);
        done++;
    }
    assert_int_equal(done, N);
    for (int i = 0; i < N; i++) {
        curl_multi_remove_handle(multi, easy[i]);
        curl_easy_cleanup(easy[i]);
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdrs);
    fclose(devnull);
}

static void test_delay_then_status(void **state) {
    (void)state;
    add_fault("{\"delay_ms\":300,\"status\":504}");
    sc_resp r;
    simtest_raw("GET", "/client/v4" LIST, simtest_auth, NULL, &r);
    assert_int_equal(r.status, 504);
    assert_true(r.seconds >= 0.29);
    simtest_assert_cf_error(r.json, 10001);
    sc_resp_free(&r);
}

static void test_delay_then_drop_after(void **state) {
    (void)state;
    add_fault("{\"method\":\"POST\",\"delay_ms\":300,\"drop\":\"after\"}");
    sc_resp r;
    simtest_raw("POST", "/client/v4" LIST, simtest_auth, "{\"email_domain\":\"slow.example\"}", &r);
    assert_dropped(&r);
    assert_true(r.seconds >= 0.29);
    sc_resp_free(&r);
    assert_int_equal(connector_count(), 1);
}

/*
 * The request log's in_flight: five requests delayed together were all in
 * flight when the last arrived, so the k-th logged shows k. Once they are
 * answered, and a dropped one is over too, the count comes back down: a
 * later request, alone, shows 1 (asked a few times, because the simulator
 * may see a new request just before it has finished with the last one).
 */
static void test_request_log_in_flight(void **state) {
    (void)state;
    enum { N = 5 };
    add_fault("{\"method\":\"GET\",\"delay_ms\":300,\"count\":5}");
    char url[256];
    sc_url(url, sizeof(url), simtest_sim.origin, "/client/v4" LIST);
    sc_resp rs[N];
    assert_int_equal(sc_parallel(N, url, "GET", simtest_auth, NULL, rs), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rs[i].status, 200);
        sc_resp_free(&rs[i]);
    }
    json_t *reqs = th_sim_requests(&simtest_sim);
    assert_int_equal(json_array_size(reqs), N);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, i), "in_flight")),
                         i + 1);
    json_decref(reqs);

    add_fault("{\"method\":\"GET\",\"drop\":\"before\"}");
    sc_resp r;
    simtest_raw("GET", "/client/v4" LIST, simtest_auth, NULL, &r);
    assert_dropped(&r);
    sc_resp_free(&r);
    json_int_t alone = 0;
    for (int attempt = 0; attempt < 50 && alone != 1; attempt++) {
        long status;
        json_decref(simtest_api("GET", LIST, NULL, &status));
        assert_int_equal(status, 200);
        reqs = th_sim_requests(&simtest_sim);
        alone = json_integer_value(
            json_object_get(json_array_get(reqs, json_array_size(reqs) - 1), "in_flight"));
        json_decref(reqs);
    }
    assert_int_equal(alone, 1);
}

static void test_bad_fault_specs(void **state) {
    (void)state;
    static const char *const specs[] = {
        "{}",
        "{\"path\":\"*\"}",
        "{\"status\":503,\"drop\":\"before\"}",
        "{\"drop\":\"sideways\"}",
        "{\"retry_after\":\"1\",\"delay_ms\":10}",
        "{\"body\":\"x\",\"delay_ms\":10}",
        "{\"status\":99}",
        "{\"status\":200}",
        "{\"status\":503,\"count\":0}",
        "{\"status\":503,\"colour\":\"red\"}",
        "{\"status\":\"503\"}",
        "{\"delay_ms\":-1}",
        "{\"status\":503,\"retry_after\":\"1\\r\\nX-Evil: 1\"}",
        "[]",
        "not json",
    };
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        long status;
        json_t *v = th_sim_http(&simtest_sim, "POST", "/__sim/faults", specs[i], false, &status);
        if (status != 400)
            fail_msg("fault spec %s: status %ld, want 400", specs[i], status);
        assert_true(json_is_false(json_object_get(v, "ok")));
        json_decref(v);
    }
    assert_int_equal(fault_count(), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_status_with_retry_after, simtest_reset),
        cmocka_unit_test_setup(test_status_429_and_http_date, simtest_reset),
        cmocka_unit_test_setup(test_status_with_raw_body, simtest_reset),
        cmocka_unit_test_setup(test_matching_and_count, simtest_reset),
        cmocka_unit_test_setup(test_control_plane_is_never_faulted, simtest_reset),
        cmocka_unit_test_setup(test_drop_before, simtest_reset),
        cmocka_unit_test_setup(test_drop_after_commits, simtest_reset),
        cmocka_unit_test_setup(test_delay_concurrent, simtest_reset),
        cmocka_unit_test_setup(test_fast_request_not_blocked, simtest_reset),
        cmocka_unit_test_setup(test_delay_then_status, simtest_reset),
        cmocka_unit_test_setup(test_delay_then_drop_after, simtest_reset),
        cmocka_unit_test_setup(test_bad_fault_specs, simtest_reset),
        cmocka_unit_test_setup(test_request_log_in_flight, simtest_reset),
    };
    return cmocka_run_group_tests_name("sim_faults", tests, simtest_group_setup,
                                       simtest_group_teardown);
}
