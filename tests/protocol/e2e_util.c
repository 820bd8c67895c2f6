/*
 * e2e_util.c - see e2e_util.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "e2e_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* When PROTOCOL_E2E_VALGRIND names valgrind, rpc-testd runs under it and
 * any memory error or leak makes it exit 99, which fails the test. */
#define VALGRIND_FLAGS                                                                             \
    "-q", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect", \
        "--show-leak-kinds=definite,indirect", "--track-fds=no"

static const char *valgrind_path(void) {
    const char *v = getenv("PROTOCOL_E2E_VALGRIND");
    return v && *v ? v : NULL;
}

void e2e_start(th_proc *p, const char *const extra_args[], const char *const env[]) {
    const char *argv[24];
    size_t n = 0;
    const char *vg = valgrind_path();
    if (vg) {
        const char *flags[] = {VALGRIND_FLAGS};
        argv[n++] = vg;
        for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
            argv[n++] = flags[i];
    }
    argv[n++] = RPC_TESTD_BIN;
    for (size_t i = 0; extra_args && extra_args[i] && n < 23; i++)
        argv[n++] = extra_args[i];
    argv[n] = NULL;
    assert_int_equal(th_proc_spawn(p, argv, env), 0);
}

void e2e_start_shell(th_proc *p, const char *script, const char *const env[]) {
    static char testd[512];
    const char *vg = valgrind_path();
    if (vg)
        snprintf(testd, sizeof(testd),
                 "TESTD=%s -q --error-exitcode=99 --leak-check=full "
                 "--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect "
                 "%s",
                 vg, RPC_TESTD_BIN);
    else
        snprintf(testd, sizeof(testd), "TESTD=%s", RPC_TESTD_BIN);
    const char *extra[8] = {testd};
    size_t n = 1;
    while (env && env[n - 1] && n < 7) {
        extra[n] = env[n - 1];
        n++;
    }
    extra[n] = NULL;
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    assert_int_equal(th_proc_spawn(p, argv, extra), 0);
}

char *e2e_line(th_proc *p) {
    char *line = th_proc_read_line(p, E2E_TIMEOUT_MS);
    if (!line) {
        th_proc_drain(p);
        fail_msg("no line on stdout (timeout or EOF); stderr so far:\n%s",
                 p->err_buf ? p->err_buf : "");
    }
    return line;
}

bool e2e_is_response(json_t *v) {
    if (!json_is_object(v))
        return false;
    json_t *version = json_object_get(v, "jsonrpc");
    if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0)
        return false;
    json_t *id = json_object_get(v, "id");
    if (!id || !(json_is_string(id) || json_is_number(id) || json_is_null(id)))
        return false;
    json_t *result = json_object_get(v, "result");
    json_t *error = json_object_get(v, "error");
    if ((result == NULL) == (error == NULL))
        return false;
    if (error) {
        if (!json_is_integer(json_object_get(error, "code")) ||
            !json_is_string(json_object_get(error, "message")))
            return false;
    }
    size_t expected = 3;
    return json_object_size(v) == expected;
}

json_t *e2e_response(th_proc *p) {
    char *line = e2e_line(p);
    json_error_t err;
    json_t *v = json_loads(line, JSON_DECODE_ANY, &err);
    if (!v)
        fail_msg("stdout line is not JSON (%s): %.200s", err.text, line);
    bool ok;
    if (json_is_array(v)) {
        ok = json_array_size(v) > 0;
        for (size_t i = 0; i < json_array_size(v); i++)
            ok = ok && e2e_is_response(json_array_get(v, i));
    } else {
        ok = e2e_is_response(v);
    }
    if (!ok)
        fail_msg("stdout line is not a JSON-RPC response: %.300s", line);
    free(line);
    return v;
}

int e2e_error_code(json_t *resp) {
    json_t *error = json_object_get(resp, "error");
    return error ? (int)json_integer_value(json_object_get(error, "code")) : 0;
}

void e2e_send(th_proc *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    assert_int_equal(th_proc_send_line(p, text), 0);
    free(text);
}

void e2e_wait_exit0(th_proc *p) {
    int status = -1;
    if (th_proc_wait(p, E2E_TIMEOUT_MS, &status) != 0)
        fail_msg("process did not exit; stderr:\n%s", p->err_buf ? p->err_buf : "");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("process ended with status 0x%x (exited %d, code %d, signal %d); stderr:\n%s",
                 status, WIFEXITED(status), WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0, p->err_buf ? p->err_buf : "");
}

void e2e_finish(th_proc *p) {
    th_proc_close_stdin(p);
    e2e_wait_exit0(p);
}

void e2e_expect_nothing_pending(th_proc *p) {
    static long probe = 0;
    char id[64];
    snprintf(id, sizeof(id), "probe-%ld", ++probe);
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":\"%s\",\"method\":\"echo\",\"params\":{}}", id);
    json_t *r = e2e_response(p);
    const char *got = json_string_value(json_object_get(r, "id"));
    if (!got || strcmp(got, id) != 0) {
        char *text = json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY);
        fail_msg("expected the answer to %s, got %s", id, text);
    }
    json_decref(r);
}

char *e2e_rest_of_stdout(th_proc *p) {
    size_t cap = 4096, len = 0;
    char *all = malloc(cap);
    assert_non_null(all);
    all[0] = '\0';
    char *line;
    while ((line = th_proc_read_line(p, E2E_TIMEOUT_MS)) != NULL) {
        size_t n = strlen(line);
        while (len + n + 2 > cap) {
            cap *= 2;
            all = realloc(all, cap);
            assert_non_null(all);
        }
        memcpy(all + len, line, n);
        len += n;
        all[len++] = '\n';
        all[len] = '\0';
        free(line);
    }
    /* A last line without its newline would be a framing bug. */
    assert_int_equal(p->out_len, 0);
    return all;
}

void e2e_assert_stdout_done(th_proc *p) {
    char *rest = e2e_rest_of_stdout(p);
    if (rest[0])
        fail_msg("unexpected output on stdout: %.300s", rest);
    free(rest);
}
