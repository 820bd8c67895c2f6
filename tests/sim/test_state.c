/*
 * test_state.c - cf-api-sim --state FILE: connectors survive a restart (a
 * clean one and a SIGKILL), the file is rewritten after every change, and a
 * corrupt file stops the simulator from starting instead of being lost.
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

#define LIST "/accounts/" ACCT "/sso_connectors"

typedef struct fixture {
    char dir[64];
    char file[128];
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/sim-state-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->file, sizeof(f->file), "%s/state.json", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    if (simtest_sim.proc.pid > 0) /* a failed test left it running */
        th_proc_destroy(&simtest_sim.proc);
    memset(&simtest_sim, 0, sizeof(simtest_sim));
    unlink(f->file);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void start(fixture *f) {
    const char *const args[] = {"--state", f->file, NULL};
    assert_int_equal(th_sim_start(&simtest_sim, TOKEN, args), 0);
}

static void stop_cleanly(void) {
    int status = th_sim_stop(&simtest_sim);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static json_t *all_connectors(void) {
    long status;
    json_t *v = th_sim_http(&simtest_sim, "GET", "/__sim/connectors", NULL, false, &status);
    assert_int_equal(status, 200);
    json_t *list = json_incref(json_object_get(v, "connectors"));
    json_decref(v);
    return list;
}

static json_t *read_file(const char *path) {
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    if (!doc)
        fail_msg("state file %s: %s", path, err.text);
    return doc;
}

static void test_survives_clean_restart(void **state) {
    fixture *f = *state;
    start(f);
    char a[33], b[33], c[33], path[160];
    long status;
    simtest_create(ACCT, "keep.example", a);
    simtest_create(ACCT, "drop.example", b);
    simtest_seed(ACCT2, "verified.example", "verified", c);
    snprintf(path, sizeof(path), LIST "/%s", a);
    json_t *v = simtest_api("PATCH", path, "{\"use_fedramp_language\":true}", &status);
    assert_int_equal(status, 200);
    json_decref(v);
    snprintf(path, sizeof(path), LIST "/%s", b);
    v = simtest_api("DELETE", path, NULL, &status);
    assert_int_equal(status, 200);
    json_decref(v);
    json_t *before = all_connectors();
    assert_int_equal(json_array_size(before), 2);
    stop_cleanly();

    start(f);
    json_t *after = all_connectors();
    assert_true(json_equal(before, after)); /* ids, timestamps, statuses, accounts */
    json_decref(after);
    /* And the API serves them. */
    snprintf(path, sizeof(path), LIST "/%s", a);
    v = simtest_api("GET", path, NULL, &status);
    assert_int_equal(status, 200);
    assert_true(
        json_is_true(json_object_get(simtest_assert_cf_success(v), "use_fedramp_language")));
    json_decref(v);
    /* The restored store still enforces one connector per domain. */
    v = simtest_api("POST", LIST, "{\"email_domain\":\"KEEP.example\"}", &status);
    assert_int_equal(status, 409);
    json_decref(v);
    stop_cleanly();
    json_decref(before);
}

static void test_written_after_every_change(void **state) {
    fixture *f = *state;
    start(f);
    char id[33];
    simtest_create(ACCT, "now.example", id);
    /* Already on disk, before any shutdown. */
    json_t *doc = read_file(f->file);
    json_t *list = json_object_get(doc, "connectors");
    assert_int_equal(json_array_size(list), 1);
    json_t *c = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(c, "id")), id);
    assert_string_equal(json_string_value(json_object_get(c, "account_id")), ACCT);
    json_decref(doc);

    /* A SIGKILL loses nothing that was answered. */
    th_proc_kill(&simtest_sim.proc, SIGKILL);
    int status;
    assert_int_equal(th_proc_wait(&simtest_sim.proc, 10000, &status), 0);
    th_proc_destroy(&simtest_sim.proc);
    start(f);
    json_t *all = all_connectors();
    assert_int_equal(json_array_size(all), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 0), "id")), id);
    json_decref(all);

    /* Reset empties the file too. */
    assert_int_equal(th_sim_reset(&simtest_sim), 0);
    doc = read_file(f->file);
    assert_int_equal(json_array_size(json_object_get(doc, "connectors")), 0);
    json_decref(doc);
    pid_t pid = simtest_sim.proc.pid;
    stop_cleanly();
    /* No temporary files are left next to it. */
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s/state.json.tmp.%d", f->dir, (int)pid);
    assert_int_not_equal(access(tmp, F_OK), 0);
}

static void test_corrupt_file_is_refused(void **state) {
    fixture *f = *state;
    FILE *fp = fopen(f->file, "w");
    assert_non_null(fp);
    fputs("{\"version\":1,\"connectors\":[{\"id\":\"nothex\"}]}\n", fp);
    fclose(fp);
    const char *const argv[] = {SIM_BIN, "--port", "0", "--token", TOKEN, "--state", f->file, NULL};
    th_proc p;
    assert_int_equal(th_proc_spawn(&p, argv, NULL), 0);
    int status;
    assert_int_equal(th_proc_wait(&p, 10000, &status), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_non_null(p.err_buf);
    assert_non_null(strstr(p.err_buf, "state file"));
    th_proc_destroy(&p);
    /* The file was not overwritten. */
    fp = fopen(f->file, "r");
    char line[128] = "";
    assert_non_null(fgets(line, sizeof(line), fp));
    fclose(fp);
    assert_non_null(strstr(line, "nothex"));
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_survives_clean_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_written_after_every_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_file_is_refused, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("sim_state", tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
