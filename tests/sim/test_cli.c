/*
 * test_cli.c - cf-api-sim's command line: --help, refused arguments, the
 * first stdout line, and a clean exit on SIGINT and SIGTERM.
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

#include <cmocka.h>

/* Runs the simulator with `argv` to completion; returns its exit code and
 * keeps the process (for its output) in *p. */
static int run_to_exit(const char *const argv[], th_proc *p) {
    assert_int_equal(th_proc_spawn(p, argv, NULL), 0);
    int status;
    assert_int_equal(th_proc_wait(p, 10000, &status), 0);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_help(void **state) {
    (void)state;
    const char *const argv[] = {SIM_BIN, "--help", NULL};
    th_proc p;
    assert_int_equal(run_to_exit(argv, &p), 0);
    char *line = th_proc_read_line(&p, 1000);
    assert_non_null(line);
    assert_non_null(strstr(line, "usage: cf-api-sim"));
    free(line);
    th_proc_destroy(&p);
}

static void test_refused_arguments(void **state) {
    (void)state;
    static const char *const cases[][8] = {
        {SIM_BIN, "--port", "0", NULL},                              /* no credentials */
        {SIM_BIN, "--token", "t", "--port", "70000", NULL},          /* bad port */
        {SIM_BIN, "--token", "t", "--rate-limit", "10", NULL},       /* no window */
        {SIM_BIN, "--token", "t", "--rate-limit", "0/5", NULL},      /* zero */
        {SIM_BIN, "--token", "t", "--threads", "0", NULL},           /* no threads */
        {SIM_BIN, "--token", "t", "--email", "a@example.com", NULL}, /* email without key */
        {SIM_BIN, "--token", "t", "--bogus", NULL},                  /* unknown option */
        {SIM_BIN, "--token", "t", "extra", NULL},                    /* stray argument */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_proc p;
        int code = run_to_exit(cases[i], &p);
        if (code != 2)
            fail_msg("case %zu exited %d, want 2", i, code);
        assert_non_null(p.err_buf);
        assert_non_null(strstr(p.err_buf, "cf-api-sim"));
        th_proc_destroy(&p);
    }
}

static void stop_with(int sig) {
    th_sim s;
    assert_int_equal(th_sim_start(&s, "t", NULL), 0);
    assert_true(s.port > 0);
    long status;
    json_t *v = th_sim_http(&s, "GET", "/__sim/connectors", NULL, false, &status);
    assert_int_equal(status, 200);
    json_decref(v);
    th_proc_kill(&s.proc, sig);
    int wstatus;
    assert_int_equal(th_proc_wait(&s.proc, 10000, &wstatus), 0);
    assert_true(WIFEXITED(wstatus));
    assert_int_equal(WEXITSTATUS(wstatus), 0);
    th_proc_destroy(&s.proc);
}

static void test_sigint(void **state) {
    (void)state;
    stop_with(SIGINT);
}

static void test_sigterm(void **state) {
    (void)state;
    stop_with(SIGTERM);
}

/*
 * SIGTERM while a request is parked by a delay fault: the simulator answers
 * it (normally, without waiting out the minute) and then exits 0.
 */
static void test_sigterm_answers_delayed_request(void **state) {
    (void)state;
    th_sim s;
    assert_int_equal(th_sim_start(&s, TOKEN, NULL), 0);
    long status;
    json_t *v = th_sim_http(&s, "POST", "/__sim/faults", "{\"delay_ms\":60000}", false, &status);
    assert_int_equal(status, 201);
    json_decref(v);
    char url[256];
    sc_url(url, sizeof(url), s.origin, "/client/v4/accounts/" ACCT "/sso_connectors");
    CURLM *multi = curl_multi_init();
    CURL *easy = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
    FILE *devnull = fopen("/dev/null", "w");
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, devnull);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 50L); /* guard: far below the delay */
    curl_multi_add_handle(multi, easy);
    /* Wait until the simulator has the request (it is in the log). */
    int running = 1;
    size_t logged = 0;
    for (int i = 0; i < 300 && logged == 0; i++) {
        curl_multi_perform(multi, &running);
        curl_multi_poll(multi, NULL, 0, 100, NULL);
        json_t *reqs = th_sim_requests(&s);
        logged = json_array_size(reqs);
        json_decref(reqs);
    }
    assert_int_equal(logged, 1);
    th_proc_kill(&s.proc, SIGTERM);
    while (running) {
        curl_multi_perform(multi, &running);
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    int left;
    CURLMsg *msg = curl_multi_info_read(multi, &left);
    assert_non_null(msg);
    assert_int_equal(msg->data.result, CURLE_OK);
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    assert_int_equal(code, 200);
    curl_multi_remove_handle(multi, easy);
    curl_easy_cleanup(easy);
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdrs);
    fclose(devnull);
    int wstatus;
    assert_int_equal(th_proc_wait(&s.proc, 10000, &wstatus), 0);
    assert_true(WIFEXITED(wstatus));
    assert_int_equal(WEXITSTATUS(wstatus), 0);
    th_proc_destroy(&s.proc);
}

static void test_port_in_use(void **state) {
    (void)state;
    th_sim s;
    assert_int_equal(th_sim_start(&s, "t", NULL), 0);
    char port[16];
    snprintf(port, sizeof(port), "%d", s.port);
    const char *const argv[] = {SIM_BIN, "--token", "t", "--port", port, NULL};
    th_proc p;
    assert_int_equal(run_to_exit(argv, &p), 1);
    th_proc_destroy(&p);
    assert_int_equal(WEXITSTATUS(th_sim_stop(&s)), 0);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_refused_arguments),
        cmocka_unit_test(test_sigint),
        cmocka_unit_test(test_sigterm),
        cmocka_unit_test(test_sigterm_answers_delayed_request),
        cmocka_unit_test(test_port_in_use),
    };
    int failed = cmocka_run_group_tests_name("sim_cli", tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
