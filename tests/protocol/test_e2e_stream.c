/*
 * test_e2e_stream.c - the transport and framing of the real protocol
 * library, through rpc-testd: both framings answered in kind, regular files
 * and /dev/null as stdin and stdout, bad input (garbage, deep nesting, a
 * 20 MiB message) answered while the stream goes on, a reader that goes
 * away, and stdout carrying nothing but protocol while logs (text or JSON,
 * secrets masked) go to stderr.
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
#include <unistd.h>

static th_proc *new_proc(void) {
    th_proc *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    return p;
}

static int stop(void **state) {
    th_proc *p = *state;
    if (p) {
        th_proc_destroy(p);
        free(p);
    }
    return 0;
}

/* Reads one header-framed message: "Content-Length: N\r\n\r\n" + N bytes. */
static json_t *read_framed(th_proc *p) {
    char *line = e2e_line(p);
    size_t n = 0;
    if (sscanf(line, "Content-Length: %zu\r", &n) != 1 || line[strlen(line) - 1] != '\r')
        fail_msg("expected a Content-Length header line, got %.100s", line);
    free(line);
    line = e2e_line(p);
    assert_string_equal(line, "\r");
    free(line);
    char *body = th_proc_read_bytes(p, n, E2E_TIMEOUT_MS);
    assert_non_null(body);
    json_t *v = json_loads(body, JSON_DECODE_ANY, NULL);
    if (!v)
        fail_msg("framed body is not JSON: %.200s", body);
    free(body);
    return v;
}

static void send_framed(th_proc *p, const char *extra_headers, const char *body) {
    char head[256];
    snprintf(head, sizeof(head), "%sContent-Length: %zu\r\n\r\n", extra_headers, strlen(body));
    assert_int_equal(th_proc_write(p, head, strlen(head)), 0);
    assert_int_equal(th_proc_write(p, body, strlen(body)), 0);
}

static void test_header_framing(void **state) {
    th_proc *p = new_proc();
    *state = p;
    e2e_start(p, NULL, NULL);
    send_framed(p, "",
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"x\":\"a\\nb\"}}");
    json_t *r = read_framed(p);
    assert_true(e2e_is_response(r));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"), "x")),
                        "a\nb");
    json_decref(r);
    /* Extra headers, odd casing, a body with raw newlines in it. */
    const char *body = "{\n \"jsonrpc\": \"2.0\",\n \"id\": 2,\n \"method\": \"echo\"\n}";
    char head[256];
    snprintf(
        head, sizeof(head),
        "content-type: application/vscode-jsonrpc; charset=utf-8\r\nCONTENT-LENGTH: %zu\r\n\r\n",
        strlen(body));
    assert_int_equal(th_proc_write(p, head, strlen(head)), 0);
    assert_int_equal(th_proc_write(p, body, strlen(body)), 0);
    r = read_framed(p);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 2);
    json_decref(r);
    /* Errors are framed too: bad JSON, then a malformed header block. */
    send_framed(p, "", "{nope");
    r = read_framed(p);
    assert_int_equal(e2e_error_code(r), -32700);
    json_decref(r);
    const char *bad = "Content-Length: twelve\r\n\r\n";
    assert_int_equal(th_proc_write(p, bad, strlen(bad)), 0);
    r = read_framed(p);
    assert_int_equal(e2e_error_code(r), -32700);
    json_decref(r);
    /* A notification, then a request: only the request is answered. */
    send_framed(p, "", "{\"jsonrpc\":\"2.0\",\"method\":\"echo\"}");
    send_framed(p, "", "{\"jsonrpc\":\"2.0\",\"id\":\"after-note\",\"method\":\"echo\"}");
    r = read_framed(p);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "after-note");
    json_decref(r);
    /* A batch, framed. */
    send_framed(p, "",
                "[{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\"},"
                "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"echo\"}]");
    r = read_framed(p);
    assert_int_equal(json_array_size(r), 2);
    json_decref(r);
    /* Over the limit (20 MiB, limit 16 MiB): -32600, skipped, stream goes on. */
    size_t big = 20u * 1024 * 1024;
    snprintf(head, sizeof(head), "Content-Length: %zu\r\n\r\n", big);
    assert_int_equal(th_proc_write(p, head, strlen(head)), 0);
    char *blob = malloc(big);
    assert_non_null(blob);
    memset(blob, ' ', big);
    assert_int_equal(th_proc_write(p, blob, big), 0);
    free(blob);
    r = read_framed(p);
    assert_int_equal(e2e_error_code(r), -32600);
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    send_framed(p, "", "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"echo\"}");
    r = read_framed(p);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 5);
    json_decref(r);
    e2e_finish(p);
    e2e_assert_stdout_done(p);
}

static void test_crlf_and_blank_lines(void **state) {
    th_proc *p = new_proc();
    *state = p;
    e2e_start(p, NULL, NULL);
    const char *in = "\r\n\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}\r\n\r\n\n"
                     "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"}\r\n";
    assert_int_equal(th_proc_write(p, in, strlen(in)), 0);
    for (int i = 1; i <= 2; i++) {
        char *line = e2e_line(p);
        char want[64];
        snprintf(want, sizeof(want), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":{}}", i);
        assert_string_equal(line, want);
        free(line);
    }
    e2e_finish(p);
}

/* Garbage, 10,000-deep nesting and a 20 MiB line each get an error, and the
 * next request is answered. */
static void test_bad_input_stream_goes_on(void **state) {
    th_proc *p = new_proc();
    *state = p;
    e2e_start(p, NULL, NULL);
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"echo\"}");
    json_decref(e2e_response(p));

    const char *garbage[] = {"garbage", "\x01\x02\x03", "{]", "\xff\xfe{}", "]["};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        e2e_send(p, "%s", garbage[i]);
        json_t *r = e2e_response(p);
        assert_int_equal(e2e_error_code(r), -32700);
        json_decref(r);
    }
    /* A raw NUL byte (jansson alone would skip it between tokens). */
    static const char nul_line[] = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"},1\0,2]\n";
    assert_int_equal(th_proc_write(p, nul_line, sizeof(nul_line) - 1), 0);
    json_t *nul_answer = e2e_response(p);
    assert_int_equal(e2e_error_code(nul_answer), -32700);
    json_decref(nul_answer);
    e2e_expect_nothing_pending(p);

    size_t depth = 10000;
    char *deep = malloc(depth * 2 + 200);
    assert_non_null(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[depth * 2] = '\0';
    e2e_send(p, "%s", deep);
    json_t *r = e2e_response(p);
    assert_int_equal(e2e_error_code(r), -32700);
    json_decref(r);
    /* Deep nesting inside an otherwise good request. */
    int n =
        snprintf(deep, 100, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"a\":");
    memset(deep + n, '[', depth);
    memset(deep + n + depth, ']', depth);
    strcpy(deep + n + 2 * depth, "}}");
    e2e_send(p, "%s", deep);
    r = e2e_response(p);
    assert_int_equal(e2e_error_code(r), -32700);
    json_decref(r);
    free(deep);
    /* Unclosed arrays, and {"a":{"a":...{}...}} 10,000 deep. */
    deep = malloc(depth * 6 + 8);
    assert_non_null(deep);
    memset(deep, '[', depth);
    deep[depth] = '\0';
    e2e_send(p, "%s", deep);
    r = e2e_response(p);
    assert_int_equal(e2e_error_code(r), -32700);
    json_decref(r);
    size_t k = 0;
    for (size_t i = 0; i < depth; i++)
        memcpy(deep + k, "{\"a\":", 5), k += 5;
    memcpy(deep + k, "{}", 2), k += 2;
    memset(deep + k, '}', depth), k += depth;
    deep[k] = '\0';
    e2e_send(p, "%s", deep);
    r = e2e_response(p);
    assert_int_equal(e2e_error_code(r), -32700);
    json_decref(r);
    free(deep);
    e2e_expect_nothing_pending(p);
    /* Nesting jansson accepts is served. */
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\",\"params\":{\"a\":[[[[[[[[[[1]]]"
                "]]]]]]]}}");
    r = e2e_response(p);
    assert_int_equal(e2e_error_code(r), 0);
    json_decref(r);

    /* A 20 MiB line: over the limit, skipped, the stream goes on. */
    size_t big = 20u * 1024 * 1024;
    char *line = malloc(big + 2);
    assert_non_null(line);
    const char *head = "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\",\"params\":{\"s\":\"";
    memcpy(line, head, strlen(head));
    memset(line + strlen(head), 'x', big - strlen(head) - 3);
    memcpy(line + big - 3, "\"}}", 3);
    line[big] = '\n';
    assert_int_equal(th_proc_write(p, line, big + 1), 0);
    free(line);
    r = e2e_response(p);
    assert_int_equal(e2e_error_code(r), -32600);
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    e2e_expect_nothing_pending(p);

    /* A 20 MiB line of garbage: over the limit too, answered -32600 with a
     * null id (there is none to read), skipped. */
    line = malloc(big + 1);
    assert_non_null(line);
    memset(line, '#', big);
    line[big] = '\n';
    assert_int_equal(th_proc_write(p, line, big + 1), 0);
    free(line);
    r = e2e_response(p);
    assert_int_equal(e2e_error_code(r), -32600);
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    e2e_expect_nothing_pending(p);

    /* A 1 MiB request is under the limit and echoed whole. */
    size_t mid = 1024 * 1024;
    line = malloc(mid + 100);
    assert_non_null(line);
    n = snprintf(line, 100,
                 "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"echo\",\"params\":{\"s\":\"");
    memset(line + n, 'y', mid);
    strcpy(line + n + mid, "\"}}");
    e2e_send(p, "%s", line);
    free(line);
    r = e2e_response(p);
    assert_int_equal(json_string_length(json_object_get(json_object_get(r, "result"), "s")), mid);
    json_decref(r);
    e2e_finish(p);
}

/* The size limit can be lowered; a line at the limit passes, one byte more
 * does not. */
static void test_custom_limit(void **state) {
    th_proc *p = new_proc();
    *state = p;
    const char *args[] = {"--max-message", "64", NULL};
    e2e_start(p, args, NULL);
    const char *ok =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"s\":\"123456\"}}";
    assert_int_equal(strlen(ok), 64);
    e2e_send(p, "%s", ok);
    json_t *r = e2e_response(p);
    assert_int_equal(e2e_error_code(r), 0);
    json_decref(r);
    e2e_send(p,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"s\":\"1234567\"}}");
    r = e2e_response(p);
    assert_int_equal(e2e_error_code(r), -32600);
    json_decref(r);
    e2e_expect_nothing_pending(p);
    e2e_finish(p);
}

/* Writes `text` to a new temporary file and returns its path (static
 * buffer per call site: the caller copies). */
static void write_temp(char *path, size_t size, const char *text) {
    snprintf(path, size, "/tmp/protocol-e2e-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

static const char *file_input =
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sleep\",\"params\":{\"ms\":300}}\n"
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\",\"params\":{\"k\":2}}\n"
    "[{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\"},{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":"
    "\"nope\"}]\n"
    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"sleep\",\"params\":{\"ms\":100}}";

/* Checks the output of file_input: every line a response, ids 1..5 once. */
static void check_file_output(const char *out) {
    int seen[6] = {0};
    char *copy = strdup(out), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *v = json_loads(line, 0, NULL);
        assert_non_null(v);
        if (json_is_array(v)) {
            for (size_t i = 0; i < json_array_size(v); i++) {
                assert_true(e2e_is_response(json_array_get(v, i)));
                seen[json_integer_value(json_object_get(json_array_get(v, i), "id"))]++;
            }
        } else {
            assert_true(e2e_is_response(v));
            seen[json_integer_value(json_object_get(v, "id"))]++;
        }
        json_decref(v);
    }
    free(copy);
    for (int i = 1; i <= 5; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(out[strlen(out) - 1], '\n');
}

static void test_regular_files(void **state) {
    th_proc *p = new_proc();
    *state = p;
    char in[64], out[64];
    write_temp(in, sizeof(in), file_input);
    write_temp(out, sizeof(out), "");
    char script[512];
    snprintf(script, sizeof(script), "exec $TESTD < %s > %s", in, out);
    e2e_start_shell(p, script, NULL);
    e2e_wait_exit0(p);
    char *text = read_file(out);
    check_file_output(text);
    free(text);
    th_proc_destroy(p);

    /* Content-Length framing from a file, answered in kind into a file. */
    static const char framed[] =
        "Content-Length: 40\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}"
        "Content-Length: 40\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"}";
    char in2[64];
    write_temp(in2, sizeof(in2), framed);
    snprintf(script, sizeof(script), "exec $TESTD < %s > %s", in2, out);
    e2e_start_shell(p, script, NULL);
    e2e_wait_exit0(p);
    e2e_assert_stdout_done(p);
    text = read_file(out);
    /* Answered in order (echo is synchronous), each exactly framed. */
    static const char want1[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";
    char want[512];
    int n = snprintf(want, sizeof(want), "Content-Length: %zu\r\n\r\n%s", strlen(want1), want1);
    assert_true(n > 0 && (size_t)n < sizeof(want));
    if (strncmp(text, want, (size_t)n) != 0)
        fail_msg("framed file output does not start with the echo answer: %.200s", text);
    size_t len2 = 0;
    if (sscanf(text + n, "Content-Length: %zu\r\n\r\n", &len2) != 1)
        fail_msg("no second frame: %.200s", text + n);
    const char *body2 = strstr(text + n, "\r\n\r\n");
    assert_non_null(body2);
    body2 += 4;
    assert_int_equal(strlen(body2), len2);
    json_t *r = json_loads(body2, 0, NULL);
    assert_non_null(r);
    assert_int_equal(e2e_error_code(r), -32601);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 2);
    json_decref(r);
    free(text);
    unlink(in);
    unlink(in2);
    unlink(out);
}

/* Regular file in, pipe out; and pipe in, regular file out. */
static void test_file_and_pipe_mixed(void **state) {
    th_proc *p = new_proc();
    *state = p;
    char in[64], out[64];
    write_temp(in, sizeof(in), file_input);
    char script[512];
    snprintf(script, sizeof(script), "exec $TESTD < %s", in);
    e2e_start_shell(p, script, NULL);
    e2e_wait_exit0(p);
    char *text = e2e_rest_of_stdout(p);
    check_file_output(text);
    free(text);
    th_proc_destroy(p);

    write_temp(out, sizeof(out), "");
    snprintf(script, sizeof(script), "exec $TESTD > %s", out);
    e2e_start_shell(p, script, NULL);
    assert_int_equal(th_proc_write(p, file_input, strlen(file_input)), 0);
    e2e_finish(p);
    text = read_file(out);
    check_file_output(text);
    free(text);
    unlink(in);
    unlink(out);
}

static void test_dev_null(void **state) {
    th_proc *p = new_proc();
    *state = p;
    /* /dev/null as stdin: immediate end of input, nothing written. */
    e2e_start_shell(p, "exec $TESTD < /dev/null", NULL);
    e2e_wait_exit0(p);
    e2e_assert_stdout_done(p);
    th_proc_destroy(p);

    /* /dev/null as stdout: requests are served (the log says so). */
    const char *env[] = {"TF_LOG=DEBUG", NULL};
    e2e_start_shell(p, "exec $TESTD > /dev/null", env);
    assert_int_equal(th_proc_write(p, file_input, strlen(file_input)), 0);
    e2e_finish(p);
    e2e_assert_stdout_done(p);
    assert_non_null(strstr(p->err_buf, "answered sleep id=5"));
    assert_non_null(strstr(p->err_buf, "answered echo id=2"));

    /* Both at once. */
    th_proc_destroy(p);
    e2e_start_shell(p, "exec $TESTD < /dev/null > /dev/null", NULL);
    e2e_wait_exit0(p);
    th_proc_destroy(p);

    /* /dev/null in, a file out: the file is left empty. */
    char out[64], in[64], script[512];
    write_temp(out, sizeof(out), "stale");
    snprintf(script, sizeof(script), "exec $TESTD < /dev/null > %s", out);
    e2e_start_shell(p, script, NULL);
    e2e_wait_exit0(p);
    char *text = read_file(out);
    assert_string_equal(text, "");
    free(text);
    th_proc_destroy(p);

    /* A file in, /dev/null out: served all the same. */
    write_temp(in, sizeof(in), file_input);
    snprintf(script, sizeof(script), "exec $TESTD < %s > /dev/null", in);
    e2e_start_shell(p, script, env);
    e2e_wait_exit0(p);
    e2e_assert_stdout_done(p);
    assert_non_null(strstr(p->err_buf, "answered sleep id=5"));
    assert_non_null(strstr(p->err_buf, "answered echo id=2"));
    unlink(in);
    unlink(out);
}

/* The reader of stdout goes away: no SIGPIPE death, the rest of the input
 * is still drained, and the exit is clean. */
static void test_reader_goes_away(void **state) {
    th_proc *p = new_proc();
    *state = p;
    const char *env[] = {"TF_LOG=WARN", NULL};
    e2e_start(p, NULL, env);
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}");
    json_decref(e2e_response(p));
    close(p->out_fd);
    p->out_fd = -1;
    p->out_eof = true;
    for (int i = 0; i < 50; i++)
        e2e_send(
            p,
            "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"echo\",\"params\":{\"pad\":\"%0200d\"}}",
            i + 2, 0);
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"sleep\",\"params\":{\"ms\":50}}");
    e2e_finish(p);
    assert_non_null(strstr(p->err_buf, "writing to stdout failed"));
}

/* With TRACE logging, stdout carries only JSON-RPC responses and stderr
 * only log lines. */
static void test_stdout_is_protocol_only(void **state) {
    th_proc *p = new_proc();
    *state = p;
    const char *env[] = {"TF_LOG=TRACE", NULL};
    e2e_start(p, NULL, env);
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"a\":1}}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\"}");
    e2e_send(p, "nonsense");
    e2e_send(p, "[{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"fail\"},7]");
    e2e_send(p,
             "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"log\",\"params\":{\"message\":\"hi\"}}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"sleep\",\"params\":{\"ms\":20}}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"StopProvider\"}");
    th_proc_close_stdin(p);
    /* e2e_response checks each line is a response (or an array of them). */
    for (int i = 0; i < 6; i++)
        json_decref(e2e_response(p));
    e2e_wait_exit0(p);
    e2e_assert_stdout_done(p);
    assert_true(p->err_len > 0);
    char *save = NULL;
    size_t lines = 0;
    for (char *line = strtok_r(p->err_buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save), lines++) {
        if (line[0] != '[')
            fail_msg("stderr line does not start with [LEVEL]: %s", line);
    }
    assert_true(lines >= 10);
}

static void test_json_logs(void **state) {
    th_proc *p = new_proc();
    *state = p;
    const char *env[] = {"TF_LOG=JSON", "TF_LOG_PROVIDER=", NULL};
    e2e_start(p, NULL, env);
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"log\",\"params\":{\"message\":"
                "\"tab\\there \\\"quoted\\\"\"}}");
    e2e_send(p, "not json");
    for (int i = 0; i < 3; i++)
        json_decref(e2e_response(p));
    e2e_finish(p);
    char *save = NULL;
    size_t lines = 0;
    bool saw_debug = false, saw_rpc = false, saw_warn_message = false;
    for (char *line = strtok_r(p->err_buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save), lines++) {
        json_error_t err;
        json_t *v = json_loads(line, 0, &err);
        if (!v)
            fail_msg("stderr line is not JSON (%s): %s", err.text, line);
        const char *level = json_string_value(json_object_get(v, "@level"));
        const char *message = json_string_value(json_object_get(v, "@message"));
        const char *module = json_string_value(json_object_get(v, "@module"));
        const char *ts = json_string_value(json_object_get(v, "@timestamp"));
        assert_non_null(level);
        assert_non_null(message);
        assert_non_null(module);
        assert_non_null(ts);
        assert_int_equal(strlen(ts), 27);
        saw_debug |= strcmp(level, "debug") == 0;
        saw_rpc |= strcmp(module, "provider.rpc") == 0;
        saw_warn_message |= strcmp(level, "warn") == 0 && strstr(message, "tab\there \"quoted\"");
        json_decref(v);
    }
    assert_true(lines >= 5);
    assert_true(saw_debug);
    assert_true(saw_rpc);
    assert_true(saw_warn_message);
}

/* Registered secrets never reach stderr, at any level. */
static void test_secret_never_logged(void **state) {
    th_proc *p = new_proc();
    *state = p;
    const char *args[] = {"--secret", "cf-token-AAAA1111BBBB", NULL};
    const char *env[] = {"TF_LOG=TRACE", NULL};
    e2e_start(p, args, env);
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"log\",\"params\":{\"message\":"
                "\"Authorization: Bearer cf-token-AAAA1111BBBB\"}}");
    e2e_send(
        p, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"log\",\"params\":{\"secret\":"
           "\"key-ZZZZ9999\",\"message\":\"X-Auth-Key: key-ZZZZ9999 and cf-token-AAAA1111BBBB\"}}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"log\",\"params\":{\"message\":"
                "\"again key-ZZZZ9999\"}}");
    for (int i = 0; i < 3; i++)
        json_decref(e2e_response(p));
    e2e_finish(p);
    assert_null(strstr(p->err_buf, "cf-token-AAAA1111BBBB"));
    assert_null(strstr(p->err_buf, "key-ZZZZ9999"));
    assert_non_null(strstr(p->err_buf, "Authorization: Bearer ***"));
    assert_non_null(strstr(p->err_buf, "X-Auth-Key: *** and ***"));
    assert_non_null(strstr(p->err_buf, "again ***"));
    assert_non_null(strstr(p->err_buf, "configured with secret ***"));
}

/* Method names and ids are logged masked first, then cut to 64 bytes: a
 * secret straddling the cut leaves no prefix in the line (issue 8). */
static void test_secret_straddling_name_cut(void **state) {
    th_proc *p = new_proc();
    *state = p;
    const char *args[] = {"--secret", "cf-token-AAAA1111BBBB", NULL};
    const char *env[] = {"TF_LOG=DEBUG", NULL};
    e2e_start(p, args, env);
    /* 60 bytes, then the token: a 64-byte cut keeps "cf-t" of the method,
     * "cf-" of the id (its text starts with a quote). */
    const char *pad = "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm";
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%scf-token-AAAA1111BBBB\"}", pad);
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":\"%scf-token-AAAA1111BBBB\",\"method\":\"echo\"}",
             pad);
    for (int i = 0; i < 2; i++)
        json_decref(e2e_response(p));
    e2e_finish(p);
    assert_null(strstr(p->err_buf, "mmmmcf-")); /* the method's cut and the id's */
    assert_non_null(strstr(p->err_buf, "unknown method mmmm"));
    assert_non_null(strstr(p->err_buf, "mmm***"));
}

/* 6,000 slow requests written at once: past 1,024 in flight the server
 * holds the rest (they wait as text: its memory stays bounded), and every
 * request is still answered once, after the others drain. */
static void test_in_flight_cap(void **state) {
    th_proc *p = new_proc();
    *state = p;
    const char *env[] = {"TF_LOG=DEBUG", NULL};
    e2e_start(p, NULL, env);
    enum { N = 6000 };
    size_t cap = (size_t)N * 96, len = 0;
    char *all = malloc(cap);
    assert_non_null(all);
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(all + len, cap - len,
                                "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"sleep\","
                                "\"params\":{\"ms\":300}}\n",
                                i);
    assert_int_equal(th_proc_write(p, all, len), 0);
    free(all);
    bool *seen = calloc(N, sizeof(bool));
    assert_non_null(seen);
    for (int i = 0; i < N; i++) {
        json_t *r = e2e_response(p);
        json_int_t id = json_integer_value(json_object_get(r, "id"));
        assert_true(id >= 0 && id < N);
        assert_false(seen[id]);
        seen[id] = true;
        assert_int_equal(e2e_error_code(r), 0);
        json_decref(r);
    }
    free(seen);
    e2e_finish(p);
    assert_non_null(strstr(p->err_buf, "requests in flight: holding input"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_in_flight_cap, stop),
        cmocka_unit_test_teardown(test_header_framing, stop),
        cmocka_unit_test_teardown(test_crlf_and_blank_lines, stop),
        cmocka_unit_test_teardown(test_bad_input_stream_goes_on, stop),
        cmocka_unit_test_teardown(test_custom_limit, stop),
        cmocka_unit_test_teardown(test_regular_files, stop),
        cmocka_unit_test_teardown(test_file_and_pipe_mixed, stop),
        cmocka_unit_test_teardown(test_dev_null, stop),
        cmocka_unit_test_teardown(test_reader_goes_away, stop),
        cmocka_unit_test_teardown(test_stdout_is_protocol_only, stop),
        cmocka_unit_test_teardown(test_json_logs, stop),
        cmocka_unit_test_teardown(test_secret_never_logged, stop),
        cmocka_unit_test_teardown(test_secret_straddling_name_cut, stop),
    };
    return cmocka_run_group_tests_name("protocol_e2e_stream", tests, NULL, NULL);
}
