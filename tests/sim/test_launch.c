/*
 * test_launch.c - sim_launch (sim/sim_launch.c), the launcher the demo, the
 * soak and the benchmark driver start cf-api-sim with: the address read
 * from its first line, a failure reported and reaped, pinning, and no
 * descriptor left behind. The last is the regression: the launcher once
 * kept its end of the simulator's stdout pipe open and never read it, so a
 * long soak filled the pipe and the simulator's next log line blocked the
 * thread writing it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim_launch.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const token_args[] = {"--token", "launch-test-token", NULL};

/* Descriptors this process has open. */
static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void test_started_and_stopped(void **state) {
    (void)state;
    int before = open_fds();
    sim_launched s;
    sim_launch_options o = {.bin = SIM_BIN, .args = token_args, .cpu = -1};
    assert_int_equal(sim_launch(&o, &s), 0);
    assert_true(s.pid > 0);
    assert_true(s.port > 0);
    char want[64];
    snprintf(want, sizeof(want), "http://127.0.0.1:%d", s.port);
    assert_string_equal(s.origin, want);
    strcat(want, "/client/v4");
    assert_string_equal(s.base_url, want);
    /* Nothing of the simulator's is left open here: a pipe nobody reads
     * would block it once full. */
    assert_int_equal(open_fds(), before);
    int status = sim_launched_stop(&s);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(s.pid, 0);
    assert_int_equal(sim_launched_stop(&s), -1); /* twice: harmless */
}

static void test_failures_reaped(void **state) {
    (void)state;
    int before = open_fds();
    sim_launched s;
    sim_launch_options missing = {.bin = "/nonexistent/cf-api-sim", .args = token_args, .cpu = -1};
    assert_int_equal(sim_launch(&missing, &s), -1);
    assert_int_equal(s.pid, 0);
    static const char *const bad_args[] = {"--no-such-option", NULL};
    sim_launch_options bad = {.bin = SIM_BIN, .args = bad_args, .cpu = -1};
    assert_int_equal(sim_launch(&bad, &s), -1);
    assert_int_equal(s.pid, 0);
    /* Both children were reaped, and nothing is left open. */
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    assert_int_equal(open_fds(), before);
}

static void test_pinned(void **state) {
    (void)state;
    sim_launched s;
    sim_launch_options o = {.bin = SIM_BIN, .args = token_args, .cpu = 0};
    assert_int_equal(sim_launch(&o, &s), 0);
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)s.pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int found = 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Cpus_allowed_list:", 18) == 0) {
            found = 1;
            assert_string_equal(line + 18 + strspn(line + 18, " \t"), "0\n");
        }
    }
    fclose(f);
    assert_true(found);
    assert_int_equal(sim_launched_stop(&s), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_started_and_stopped),
        cmocka_unit_test(test_failures_reaped),
        cmocka_unit_test(test_pinned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
