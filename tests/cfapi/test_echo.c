/*
 * test_echo.c - a server that echoes the credentials back (finding 4).
 *
 * When the API, or a proxy in front of it, echoes the Authorization
 * header into its answer, the token must not reach a diagnostic or a log
 * line, not even in part. The client used to cut an answer to 200 or 300
 * bytes and mask only then, so a token straddling the cut left its first
 * bytes in the diagnostic; at TRACE the 16 KiB body log did the same, and a
 * token written with JSON \u escapes was logged whole. Each case here puts
 * the token exactly where the old code cut it, through the real client on
 * a real loop against canned_server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "canned_server.h"
#include "cfapi.h"
#include "log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACCT  "023e105f4ecef8ad9ca31a8372d0c353"
#define CONN  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define TOKEN "EchoTok-3f9a1c7e5b2d4f608a1e"
/* The token's first 8 bytes: what the old cut left behind. */
#define TOKEN_PREFIX "EchoTok-"

typedef struct fixture {
    uv_loop_t loop;
    canned_server server;
    cfapi_client *client;
    char base[96];
    char body[20000];
} fixture;

typedef struct outcome {
    bool done, ok;
    char *summary, *detail;
} outcome;

static void on_result(const cfapi_result *r, void *arg) {
    outcome *o = arg;
    o->done = true;
    o->ok = r->ok;
    if (!r->ok)
        assert_int_equal(cfapi_result_render(r, &o->summary, &o->detail), 0);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(canned_start(&f->server, &f->loop), 0);
    snprintf(f->base, sizeof f->base, "%sclient/v4", f->server.url);
    cfapi_options o = {
        .base_url = f->base,
        .api_token = TOKEN,
        .user_agent = "cfapi-echo-test/1.0",
        .max_retries = 0,
        .request_timeout = 10,
        .backoff_base_ms = 1,
    };
    assert_int_equal(cfapi_client_new(&f->loop, &o, &f->client), 0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    cfapi_client_close(f->client, NULL, NULL);
    canned_stop(&f->server);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    log_clear_secrets();
    log_configure(LOG_LEVEL_OFF, false);
    free(f);
    return 0;
}

/* `pad` bytes of 'x', then `echo`, then more 'x' so the body runs on. */
static void set_body(fixture *f, int status, size_t pad, const char *echo) {
    size_t n = 0;
    memset(f->body, 'x', pad);
    n += pad;
    n += (size_t)snprintf(f->body + n, sizeof f->body - n, "%s", echo);
    memset(f->body + n, 'x', 100);
    n += 100;
    f->server.status = status;
    f->server.body = f->body;
    f->server.body_len = n;
}

static outcome get_once(fixture *f) {
    outcome o = {0};
    assert_int_equal(cfapi_get(f->client, ACCT, CONN, on_result, &o, NULL), 0);
    while (!o.done)
        uv_run(&f->loop, UV_RUN_ONCE);
    return o;
}

static void assert_no_token(const char *what, const char *text) {
    if (text && strstr(text, TOKEN_PREFIX))
        fail_msg("%s holds part of the token: %s", what, text);
}

/* A non-JSON answer (a proxy's error page) quoting the header with the
 * token straddling the 200-byte excerpt: no prefix of it in the text. */
static void test_echo_straddles_excerpt(void **state) {
    fixture *f = *state;
    set_body(f, 502, 200 - 22 - 8, "Authorization: Bearer " TOKEN);
    outcome o = get_once(f);
    assert_false(o.ok);
    assert_non_null(o.detail);
    assert_non_null(strstr(o.detail, "not a Cloudflare API response"));
    assert_no_token("the detail", o.detail);
    free(o.summary);
    free(o.detail);
}

/* An envelope whose error message quotes the token, escaped with \u in
 * the JSON, across the 300-byte cut of a message. */
static void test_echo_in_error_message(void **state) {
    fixture *f = *state;
    char msg[600];
    memset(msg, 'm', 290);
    snprintf(msg + 290, sizeof msg - 290, "%s",
             "\\u0045\\u0063hoTok-3f9a1c7e5b2d4f608a1e is not valid");
    char env[800];
    snprintf(env, sizeof env,
             "{\"success\":false,\"errors\":[{\"code\":10000,\"message\":\"%s\"}],"
             "\"messages\":[],\"result\":null}",
             msg);
    set_body(f, 403, 0, env);
    f->server.body_len = strlen(env); /* the envelope alone */
    outcome o = get_once(f);
    assert_false(o.ok);
    assert_non_null(strstr(o.detail, "Cloudflare error 10000"));
    assert_no_token("the detail", o.detail);
    free(o.summary);
    free(o.detail);
}

/* At TRACE the response body is logged up to 16 KiB: the token straddling
 * that cut, and the token written with \u escapes, are both masked. */
static void test_echo_in_trace_log(void **state) {
    fixture *f = *state;
    char path[] = "/tmp/test_echo_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    log_configure(LOG_LEVEL_TRACE, false);
    /* the escaped token first, then the plain one with its first 8 bytes
     * inside the 16 KiB cut */
    static const char escaped[] = "\\u0045\\u0063hoTok-3f9a1c7e5b2d4f608a1e ";
    size_t head = sizeof escaped - 1;
    set_body(f, 500, 16384 - head - 7 - 8, "Bearer " TOKEN);
    memmove(f->body + head, f->body, f->server.body_len);
    memcpy(f->body, escaped, head);
    f->server.body_len += head;
    outcome o = get_once(f);
    log_configure(LOG_LEVEL_OFF, false);
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    assert_false(o.ok);
    free(o.summary);
    free(o.detail);

    char *log = calloc(1, 1 << 20);
    assert_non_null(log);
    ssize_t n = pread(fd, log, (1 << 20) - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 16384); /* the body was logged */
    assert_no_token("the TRACE log", log);
    if (strstr(log, "\\u0045\\u0063hoTok"))
        fail_msg("the TRACE log holds the \\u-escaped token");
    free(log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo_straddles_excerpt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo_in_error_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo_in_trace_log, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
