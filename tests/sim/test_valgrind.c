/*
 * test_valgrind.c - a short but complete session against cf-api-sim running
 * under valgrind (--error-exitcode=1 --leak-check=full): every route, every
 * fault kind including a delay that is still pending at shutdown, the state
 * file, then SIGTERM. Passes only when the simulator exits 0, i.e. valgrind
 * found no error and no leak. Registered only when valgrind is installed and
 * the build is not sanitized (CMake decides; nothing is skipped silently).
 */
#include "simtest.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef VALGRIND_BIN
#error "VALGRIND_BIN must be defined by CMake"
#endif

#define LIST "/accounts/" ACCT "/sso_connectors"

static void fault(th_sim *s, const char *spec) {
    long status;
    json_t *v = th_sim_http(s, "POST", "/__sim/faults", spec, false, &status);
    assert_int_equal(status, 201);
    json_decref(v);
}

static void expect(th_sim *s, const char *method, const char *path, const char *body, long want) {
    long status;
    json_t *v = th_sim_http(s, method, path, body, strncmp(path, "/__sim", 6) != 0, &status);
    if (status != want)
        fail_msg("%s %s: status %ld, want %ld", method, path, status, want);
    json_decref(v);
}

static void test_session_under_valgrind(void **state) {
    (void)state;
    char dir[] = "/tmp/sim-vg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[64];
    snprintf(file, sizeof(file), "%s/state.json", dir);
    const char *const argv[] = {VALGRIND_BIN,
                                "--quiet",
                                "--error-exitcode=1",
                                "--leak-check=full",
                                "--errors-for-leak-kinds=definite,indirect,possible",
                                SIM_BIN,
                                "--port",
                                "0",
                                "--token",
                                TOKEN,
                                "--state",
                                file,
                                "--rate-limit",
                                "1000/60",
                                "--email",
                                "a@example.com",
                                "--key",
                                "k",
                                NULL};
    th_sim s;
    memset(&s, 0, sizeof(s));
    snprintf(s.token, sizeof(s.token), "%s", TOKEN);
    assert_int_equal(th_proc_spawn(&s.proc, argv, NULL), 0);
    char *line = th_proc_read_line(&s.proc, 60000);
    assert_non_null(line);
    assert_int_equal(sscanf(line, "listening on http://127.0.0.1:%d", &s.port), 1);
    free(line);
    snprintf(s.origin, sizeof(s.origin), "http://127.0.0.1:%d", s.port);
    snprintf(s.base_url, sizeof(s.base_url), "%s/client/v4", s.origin);

    /* The API: create, list, get, patch, begin verification, delete, errors. */
    long status;
    json_t *env = th_sim_http(&s, "POST", "/client/v4" LIST, "{\"email_domain\":\"vg.example\"}",
                              true, &status);
    assert_int_equal(status, 200);
    char one[160], begin[192], verify[128];
    snprintf(one, sizeof(one), "/client/v4" LIST "/%s",
             json_string_value(json_object_get(json_object_get(env, "result"), "id")));
    snprintf(begin, sizeof(begin), "%s/begin_verification", one);
    snprintf(verify, sizeof(verify), "/__sim/connectors/%s/verification",
             json_string_value(json_object_get(json_object_get(env, "result"), "id")));
    json_decref(env);
    expect(&s, "GET", "/client/v4" LIST "?page=1&per_page=10", NULL, 200);
    expect(&s, "GET", one, NULL, 200);
    expect(&s, "PATCH", one, "{\"enabled\":true}", 400);
    expect(&s, "POST", verify, "{\"status\":\"verified\"}", 200);
    expect(&s, "PATCH", one, "{\"enabled\":true,\"use_fedramp_language\":true}", 200);
    expect(&s, "POST", begin, NULL, 200);
    expect(&s, "POST", "/client/v4" LIST, "{\"email_domain\":\"VG.example\"}", 409);
    expect(&s, "POST", "/client/v4" LIST, "{\"email_domain\":", 400);
    expect(&s, "POST", "/client/v4" LIST, "{\"x\":1}", 400);
    expect(&s, "PUT", one, NULL, 405);
    expect(&s, "GET", "/client/v4/accounts/nope/sso_connectors", NULL, 404);
    expect(&s, "DELETE", one, NULL, 200);
    expect(&s, "DELETE", one, NULL, 404);
    json_t *anon = th_sim_http(&s, "GET", "/client/v4" LIST, NULL, false, &status);
    assert_int_equal(status, 403);
    json_decref(anon);

    /* The control plane. */
    expect(&s, "POST", "/__sim/accounts/" ACCT "/connectors",
           "{\"email_domain\":\"seed.example\",\"verification_status\":\"verified\"}", 201);
    expect(&s, "GET", "/__sim/connectors", NULL, 200);
    expect(&s, "GET", "/__sim/requests", NULL, 200);
    expect(&s, "DELETE", "/__sim/requests", NULL, 200);

    /* Faults: status, drop before, drop after, delay. */
    fault(&s, "{\"status\":503,\"retry_after\":\"1\",\"retry_after_ms\":10}");
    expect(&s, "GET", "/client/v4" LIST, NULL, 503);
    fault(&s, "{\"status\":500,\"body\":\"raw\"}");
    expect(&s, "GET", "/client/v4" LIST, NULL, 500);
    fault(&s, "{\"drop\":\"before\"}");
    expect(&s, "GET", "/client/v4" LIST, NULL, 0);
    fault(&s, "{\"method\":\"POST\",\"drop\":\"after\",\"delay_ms\":100}");
    expect(&s, "POST", "/client/v4" LIST, "{\"email_domain\":\"after.example\"}", 0);
    fault(&s, "{\"delay_ms\":200,\"count\":4}");
    char url[256];
    sc_url(url, sizeof(url), s.origin, "/client/v4" LIST);
    sc_resp rs[4];
    assert_int_equal(sc_parallel(4, url, "GET", simtest_auth, NULL, rs), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rs[i].status, 200);
        sc_resp_free(&rs[i]);
    }
    expect(&s, "GET", "/__sim/faults", NULL, 200);
    fault(&s, "{\"path\":\"/never\",\"status\":500}");
    expect(&s, "DELETE", "/__sim/faults", NULL, 200);

    /* An oversized body, chunked so it is read and discarded. */
    size_t n = 1200 * 1024;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    sc_resp r;
    static const char *const chunked[] = {"Authorization: Bearer " TOKEN,
                                          "Transfer-Encoding: chunked", NULL};
    sc_url(url, sizeof(url), s.origin, "/client/v4" LIST);
    assert_int_equal(sc_request(url, "POST", chunked, big, &r), 0);
    assert_int_equal(r.status, 413);
    sc_resp_free(&r);
    free(big);

    /* A delayed request still waiting when SIGTERM arrives: shutdown must
     * resume it and free everything. Wait until it is logged (parked). */
    expect(&s, "DELETE", "/__sim/requests", NULL, 200);
    fault(&s, "{\"delay_ms\":60000}");
    CURLM *multi = curl_multi_init();
    CURL *easy = curl_easy_init();
    FILE *devnull = fopen("/dev/null", "w");
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, devnull);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 50L); /* guard: below the delay */
    curl_multi_add_handle(multi, easy);
    int running = 1;
    size_t logged = 0;
    for (int i = 0; i < 600 && logged < 1; i++) {
        curl_multi_perform(multi, &running);
        curl_multi_poll(multi, NULL, 0, 100, NULL);
        json_t *reqs = th_sim_requests(&s);
        logged = json_array_size(reqs);
        json_decref(reqs);
    }
    assert_int_equal(logged, 1);

    th_proc_kill(&s.proc, SIGTERM);
    int wstatus = -1;
    while (running) { /* the pending request is answered or closed */
        curl_multi_perform(multi, &running);
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    int left;
    CURLMsg *msg = curl_multi_info_read(multi, &left);
    assert_non_null(msg);
    assert_int_equal(msg->data.result, CURLE_OK); /* answered, not cut off */
    curl_multi_remove_handle(multi, easy);
    curl_easy_cleanup(easy);
    curl_multi_cleanup(multi);
    fclose(devnull);
    assert_int_equal(th_proc_wait(&s.proc, 120000, &wstatus), 0);
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
        fail_msg("cf-api-sim under valgrind: wait status %d\n%s", wstatus,
                 s.proc.err_buf ? s.proc.err_buf : "");
    th_proc_destroy(&s.proc);
    unlink(file);
    assert_int_equal(rmdir(dir), 0);
}

int main(void) {
    /* This test wraps the simulator in valgrind itself; the harness's own
     * TH_VALGRIND wrapping would run valgrind under valgrind. */
    unsetenv("TH_VALGRIND");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_under_valgrind),
    };
    int failed = cmocka_run_group_tests_name("sim_valgrind", tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
