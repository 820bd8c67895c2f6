/*
 * test_e2e_stdfds.c - finding 2: the real provider-cloudflare started with
 * one of its standard descriptors closed. With stderr closed it must serve
 * and exit 0 (it used to abort with SIGABRT after serving); with stdin or
 * stdout closed it must say why on stderr and exit 1 (it used to abort at
 * start-up: libuv's epoll descriptor took the closed number).
 *
 * Plain fork/exec, so the child really starts with the descriptor closed
 * (libuv's uv_spawn would not let us).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PROVIDER_BIN
#error "PROVIDER_BIN must be defined"
#endif

#define REQUEST "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"GetProviderSchema\",\"params\":{}}\n"

typedef struct run_result {
    int status; /* from waitpid */
    char out[65536];
    char err[65536];
} run_result;

/* Reads from fd until EOF into buf (keeps the first cap-1 bytes). */
static void drain(int fd, char *buf, size_t cap, size_t *len) {
    char tmp[4096];
    for (;;) {
        ssize_t n = read(fd, tmp, sizeof(tmp));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        size_t take = (size_t)n;
        if (take > cap - 1 - *len)
            take = cap - 1 - *len;
        memcpy(buf + *len, tmp, take);
        *len += take;
        buf[*len] = '\0';
    }
}

/*
 * Runs the provider with the descriptors in `closed` (a mask of 1 << fd)
 * closed and pipes on the others; writes `input` to its stdin (if open)
 * and collects stdout and stderr until both end, then waits for it (30 s
 * at most, then it is killed and the test fails).
 */
static void run_provider(unsigned closed, const char *input, run_result *r) {
    memset(r, 0, sizeof(*r));
    int in[2], out[2], err[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    assert_int_equal(pipe2(err, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Move the pipe ends out of the way of 0-2 first. */
        int fds[3] = {fcntl(in[0], F_DUPFD_CLOEXEC, 10), fcntl(out[1], F_DUPFD_CLOEXEC, 10),
                      fcntl(err[1], F_DUPFD_CLOEXEC, 10)};
        for (int fd = 0; fd <= 2; fd++) {
            if (closed & (1u << fd))
                close(fd);
            else if (dup2(fds[fd], fd) < 0)
                _exit(120);
        }
        execl(PROVIDER_BIN, PROVIDER_BIN, (char *)NULL);
        _exit(121);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (!(closed & 1u) && input) {
        signal(SIGPIPE, SIG_IGN);
        ssize_t w = write(in[1], input, strlen(input));
        (void)w; /* a child that exited at once makes this fail: fine */
    }
    close(in[1]);
    size_t out_len = 0, err_len = 0;
    drain(out[0], r->out, sizeof(r->out), &out_len);
    drain(err[0], r->err, sizeof(r->err), &err_len);
    close(out[0]);
    close(err[0]);
    for (int i = 0; i < 300; i++) {
        pid_t w = waitpid(pid, &r->status, WNOHANG);
        if (w == pid)
            return;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &r->status, 0);
    fail_msg("provider-cloudflare did not exit within 30 s");
}

static void assert_exit_code(const run_result *r, int code) {
    if (WIFSIGNALED(r->status))
        fail_msg("provider-cloudflare died of signal %d; stderr: %s", WTERMSIG(r->status), r->err);
    assert_true(WIFEXITED(r->status));
    assert_int_equal(WEXITSTATUS(r->status), code);
}

/* stderr closed: the request is answered and the process exits 0. */
static void test_stderr_closed_serves(void **state) {
    (void)state;
    run_result *r = malloc(sizeof(*r));
    assert_non_null(r);
    run_provider(1u << 2, REQUEST, r);
    assert_exit_code(r, 0);
    assert_non_null(strstr(r->out, "\"id\":1"));
    assert_non_null(strstr(r->out, "\"result\""));
    assert_non_null(strstr(r->out, "sso_connector"));
    free(r);
}

/* stdin closed: a clear message and exit 1, no signal. */
static void test_stdin_closed_exits_1(void **state) {
    (void)state;
    run_result *r = malloc(sizeof(*r));
    assert_non_null(r);
    run_provider(1u << 0, NULL, r);
    assert_exit_code(r, 1);
    assert_non_null(strstr(r->err, "standard input"));
    assert_string_equal(r->out, "");
    free(r);
}

/* stdout closed: a clear message and exit 1, no signal. */
static void test_stdout_closed_exits_1(void **state) {
    (void)state;
    run_result *r = malloc(sizeof(*r));
    assert_non_null(r);
    run_provider(1u << 1, REQUEST, r);
    assert_exit_code(r, 1);
    assert_non_null(strstr(r->err, "standard output"));
    free(r);
}

/* stdin and stderr closed together: exit 1, silently, no signal. */
static void test_stdin_and_stderr_closed(void **state) {
    (void)state;
    run_result *r = malloc(sizeof(*r));
    assert_non_null(r);
    run_provider((1u << 0) | (1u << 2), NULL, r);
    assert_exit_code(r, 1);
    assert_string_equal(r->out, "");
    free(r);
}

/* All three closed: exit 1, no signal. */
static void test_all_closed(void **state) {
    (void)state;
    run_result *r = malloc(sizeof(*r));
    assert_non_null(r);
    run_provider(7u, NULL, r);
    assert_exit_code(r, 1);
    free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stderr_closed_serves),
        cmocka_unit_test(test_stdin_closed_exits_1),
        cmocka_unit_test(test_stdout_closed_exits_1),
        cmocka_unit_test(test_stdin_and_stderr_closed),
        cmocka_unit_test(test_all_closed),
    };
    return cmocka_run_group_tests_name("protocol_e2e_stdfds", tests, NULL, NULL);
}
