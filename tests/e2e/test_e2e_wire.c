/*
 * test_e2e_wire.c - the wire protocol of the real provider-cloudflare binary
 * (not rpc-testd), over real pipes, files, /dev/null and a terminal.
 *
 * The protocol library has its own end-to-end suites that drive rpc-testd;
 * this one shows the same contract (shared/contract/PROTOCOL.md, sections
 * 1-2) holds for the binary an orchestrator actually starts: every JSON-RPC
 * error code, batches and notifications, both framings answered in kind,
 * pipelining, bad input, shutdown on EOF and on signals, logging that never
 * touches stdout, and the command line.
 *
 * Methods that need no API (GetProviderSchema, Validate*Config,
 * UpgradeResourceState) carry most of the traffic. Where a request must be
 * slow, it is a ReadDataSource that cf-api-sim holds back with an injected
 * delay; the tests wait until the simulator has logged the request, so it is
 * really in flight, instead of sleeping. Every timeout is a hang guard only:
 * nothing here depends on how fast the machine is.
 *
 * -32603 (internal error) is not tested: it is only produced when the
 * provider runs out of memory while building a response, or when a handler
 * passes a NULL result, and no input from outside can provoke either.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "harness.h"

#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "e2e-wire-secret-token-5d1c7e0b"
#define ACC   "023e105f4ecef8ad9ca31a8372d0c353"
/* Hang guard for every wait (sanitizer and valgrind builds are slow). */
#define WAIT 60000
/* The provider's message size limit (the protocol library's default). */
#define LIMIT (16u * 1024 * 1024)
#define BIG   (20u * 1024 * 1024)

#define VALID_CONFIG "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\"}"
/* ValidateProviderConfig with an empty config, and its exact answer. */
#define ANSWER(id) "{\"jsonrpc\":\"2.0\",\"id\":" id ",\"result\":{\"diagnostics\":[]}}"
#define VALIDATE_PROVIDER(id)                                                                      \
    "{\"jsonrpc\":\"2.0\",\"id\":" id ",\"method\":\"ValidateProviderConfig\",\"params\":{"        \
    "\"config\":{}}}"

static th_sim sim;

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static int group_setup(void **state) {
    (void)state;
    return th_sim_start(&sim, TOKEN, NULL);
}

static int group_teardown(void **state) {
    (void)state;
    int status = th_sim_stop(&sim);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static th_proc *new_proc(void **state) {
    th_proc *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    *state = p;
    return p;
}

static int destroy(void **state) {
    th_proc *p = *state;
    if (p) {
        th_proc_destroy(p);
        free(p);
    }
    return 0;
}

/* The last part of what the child wrote on stderr, for failure messages. */
static const char *stderr_tail(th_proc *p) {
    th_proc_drain(p);
    if (!p->err_buf)
        return "";
    return p->err_buf + (p->err_len > 4000 ? p->err_len - 4000 : 0);
}

/* The environment every provider runs with: the log level given, and no
 * Cloudflare settings leaking in from the environment of the test run. */
#define PROVIDER_ENV(level)                                                                        \
    {                                                                                              \
        level, "TF_LOG_PROVIDER=", "CLOUDFLARE_API_TOKEN=", "CLOUDFLARE_API_KEY=",                 \
            "CLOUDFLARE_EMAIL=", "CLOUDFLARE_BASE_URL=", "PROV=" PROVIDER_BIN, NULL                \
    }

/* Starts the provider on pipes with TF_LOG=`level`. */
static void start(th_proc *p, const char *level) {
    char log[64];
    snprintf(log, sizeof(log), "TF_LOG=%s", level);
    const char *argv[] = {PROVIDER_BIN, NULL};
    const char *env[] = PROVIDER_ENV(log);
    assert_int_equal(th_proc_spawn(p, argv, env), 0);
}

/* Starts `/bin/sh -c script`, where the script runs the provider as
 * "$PROV", so that it can redirect the provider's stdin and stdout. */
static void start_shell(th_proc *p, const char *script, const char *level) {
    char log[64];
    snprintf(log, sizeof(log), "TF_LOG=%s", level);
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    const char *env[] = PROVIDER_ENV(log);
    assert_int_equal(th_proc_spawn(p, argv, env), 0);
}

static void sendf(th_proc *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sendf(th_proc *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    assert_int_equal(th_proc_send_line(p, text), 0);
    free(text);
}

static void send_raw(th_proc *p, const char *data, size_t len) {
    assert_int_equal(th_proc_write(p, data, len), 0);
}

/* One stdout line (malloc'd); fails the test on timeout or EOF. */
static char *read_line(th_proc *p) {
    char *line = th_proc_read_line(p, WAIT);
    if (!line)
        fail_msg("no line on stdout (timeout or EOF); stderr tail:\n%s", stderr_tail(p));
    return line;
}

/* True when v is one JSON-RPC 2.0 response as the contract shapes it:
 * exactly jsonrpc, id and one of result (an object with a diagnostics
 * array) or error (integer code, string message). */
static bool is_response(json_t *v) {
    if (!json_is_object(v) || json_object_size(v) != 3)
        return false;
    const char *version = json_string_value(json_object_get(v, "jsonrpc"));
    if (!version || strcmp(version, "2.0") != 0)
        return false;
    json_t *id = json_object_get(v, "id");
    if (!json_is_null(id) && !json_is_string(id) && !json_is_number(id))
        return false;
    json_t *result = json_object_get(v, "result"), *error = json_object_get(v, "error");
    if (result)
        return json_is_object(result) && json_is_array(json_object_get(result, "diagnostics"));
    return json_is_object(error) && json_is_integer(json_object_get(error, "code")) &&
           json_is_string(json_object_get(error, "message"));
}

/* True when v is a response or a non-empty array of responses. */
static bool is_response_or_batch(json_t *v) {
    if (!json_is_array(v))
        return is_response(v);
    if (json_array_size(v) == 0)
        return false;
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        if (!is_response(item))
            return false;
    }
    return true;
}

/* Parses one text as a response (or batch answer); fails the test if it
 * is anything else. New reference. */
static json_t *parse_response(const char *text) {
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    if (!v)
        fail_msg("not JSON (%s): %.300s", err.text, text);
    if (!is_response_or_batch(v))
        fail_msg("not a JSON-RPC 2.0 response: %.300s", text);
    return v;
}

/* Reads one stdout line and checks it is a response or batch answer. */
static json_t *read_response(th_proc *p) {
    char *line = read_line(p);
    json_t *v = parse_response(line);
    free(line);
    return v;
}

/* The error code of a response, 0 when it carries a result. */
static int error_code(json_t *resp) {
    json_t *error = json_object_get(resp, "error");
    return error ? (int)json_integer_value(json_object_get(error, "code")) : 0;
}

/* Asserts resp is an error with `code` and an id equal to `id_json`. */
static void assert_error(json_t *resp, int code, const char *id_json) {
    if (error_code(resp) != code) {
        char *text = json_dumps(resp, JSON_COMPACT);
        fail_msg("expected error %d, got %s", code, text);
    }
    json_t *want = th_json("%s", id_json);
    if (!json_equal(json_object_get(resp, "id"), want)) {
        char *text = json_dumps(resp, JSON_COMPACT);
        fail_msg("expected id %s in %s", id_json, text);
    }
    json_decref(want);
}

/* Sends a fresh request and asserts that the very next stdout line is its
 * answer, byte for byte: proof that nothing else (an answer to a
 * notification, a stray error) was written before it. */
static void expect_only_marker(th_proc *p) {
    static int counter;
    counter++;
    sendf(p,
          "{\"jsonrpc\":\"2.0\",\"id\":\"marker-%d\",\"method\":\"ValidateProviderConfig\","
          "\"params\":{\"config\":{}}}",
          counter);
    char want[128];
    snprintf(want, sizeof(want),
             "{\"jsonrpc\":\"2.0\",\"id\":\"marker-%d\",\"result\":{\"diagnostics\":[]}}", counter);
    char *line = read_line(p);
    assert_string_equal(line, want);
    free(line);
}

/* Waits for the child to exit and asserts its exit status. */
static void wait_exit(th_proc *p, int code) {
    int status = 0;
    if (th_proc_wait(p, WAIT, &status) < 0)
        fail_msg("the process did not exit; stderr tail:\n%s", stderr_tail(p));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != code)
        fail_msg("expected exit %d, got wait status %#x; stderr tail:\n%s", code, status,
                 stderr_tail(p));
}

/* After the child exited: everything left on its stdout (malloc'd, "" when
 * nothing), read up to EOF. */
static char *rest_of_stdout(th_proc *p) {
    char *none = th_proc_read_bytes(p, SIZE_MAX, WAIT);
    assert_null(none);
    assert_true(p->out_eof);
    return strdup(p->out_buf ? p->out_buf : "");
}

static void assert_stdout_done(th_proc *p) {
    char *rest = rest_of_stdout(p);
    if (rest[0])
        fail_msg("unexpected output after the last answer: %.300s", rest);
    free(rest);
}

/* End of input: exit 0, with nothing more on stdout. */
static void finish(th_proc *p) {
    th_proc_close_stdin(p);
    wait_exit(p, 0);
    assert_stdout_done(p);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    char *s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

/* Creates a temporary file holding `len` bytes of `data`; its path goes
 * into `path` (at least 64 bytes). */
static void write_temp(char *path, const char *data, size_t len) {
    strcpy(path, "/tmp/e2e-wire-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* --- Content-Length framing --- */

static void send_framed(th_proc *p, const char *extra_headers, const char *body) {
    char head[512];
    snprintf(head, sizeof(head), "%sContent-Length: %zu\r\n\r\n", extra_headers, strlen(body));
    send_raw(p, head, strlen(head));
    send_raw(p, body, strlen(body));
}

/* Parses one framed message at *pos in `text`: exactly
 * "Content-Length: N\r\n\r\n" (the framing the provider answers in) and N
 * bytes. Returns the body (malloc'd), NULL at the end of text. */
static char *next_frame(const char *text, size_t len, size_t *pos) {
    static const char prefix[] = "Content-Length: ";
    if (*pos == len)
        return NULL;
    if (len - *pos < sizeof(prefix) - 1 || memcmp(text + *pos, prefix, sizeof(prefix) - 1) != 0)
        fail_msg("expected a Content-Length header at offset %zu: %.80s", *pos, text + *pos);
    size_t i = *pos + sizeof(prefix) - 1, n = 0, digits = 0;
    while (i < len && text[i] >= '0' && text[i] <= '9')
        n = n * 10 + (size_t)(text[i++] - '0'), digits++;
    if (digits == 0 || len - i < 4 || memcmp(text + i, "\r\n\r\n", 4) != 0)
        fail_msg("malformed header block at offset %zu: %.80s", *pos, text + *pos);
    i += 4;
    assert_true(len - i >= n);
    char *body = strndup(text + i, n);
    assert_non_null(body);
    assert_int_equal(strlen(body), n);
    *pos = i + n;
    return body;
}

/* Reads one framed message from the child's stdout, checking the header
 * bytes exactly. Returns the body (malloc'd). */
static char *read_framed(th_proc *p) {
    static const char prefix[] = "Content-Length: ";
    char *head = th_proc_read_bytes(p, sizeof(prefix) - 1, WAIT);
    if (!head)
        fail_msg("no framed answer; stderr tail:\n%s", stderr_tail(p));
    assert_string_equal(head, prefix);
    free(head);
    size_t n = 0, digits = 0;
    for (;;) {
        char *c = th_proc_read_bytes(p, 1, WAIT);
        assert_non_null(c);
        char ch = c[0];
        free(c);
        if (ch < '0' || ch > '9') {
            assert_int_equal(ch, '\r');
            break;
        }
        n = n * 10 + (size_t)(ch - '0');
        digits++;
    }
    assert_true(digits > 0);
    char *rest = th_proc_read_bytes(p, 3, WAIT);
    assert_non_null(rest);
    assert_string_equal(rest, "\n\r\n");
    free(rest);
    char *body = th_proc_read_bytes(p, n, WAIT);
    assert_non_null(body);
    assert_int_equal(strlen(body), n);
    return body;
}

static json_t *read_framed_response(th_proc *p) {
    char *body = read_framed(p);
    json_t *v = parse_response(body);
    free(body);
    return v;
}

/* --- cf-api-sim --- */

static void sim_fault(const char *json) {
    long status = 0;
    json_decref(th_sim_http(&sim, "POST", "/__sim/faults", json, false, &status));
    assert_true(status == 200 || status == 201);
}

/* Holds back the next `count` account GETs by `ms` milliseconds. */
static void sim_delay_reads(int count, int ms) {
    char fault[256];
    snprintf(fault, sizeof(fault),
             "{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*\",\"count\":%d,"
             "\"delay_ms\":%d}",
             count, ms);
    sim_fault(fault);
}

/* Polls the simulator's request log until it holds `n` requests: the
 * provider's calls have reached the API and are in flight. */
static void wait_sim_requests(size_t n) {
    for (int i = 0; i < WAIT / 10; i++) {
        json_t *reqs = th_sim_requests(&sim);
        size_t have = json_array_size(reqs);
        json_decref(reqs);
        if (have >= n)
            return;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("the simulator never saw %zu request(s)", n);
}

/* ConfigureProvider against the simulator; must succeed without
 * diagnostics. Uses th_proc_call, so nothing else may be pending. */
static void configure(th_proc *p) {
    json_t *resp = th_proc_call(
        p, "ConfigureProvider",
        th_json("{\"config\":{\"api_token\":\"%s\",\"base_url\":\"%s\"}}", TOKEN, sim.base_url),
        WAIT);
    if (!resp)
        fail_msg("no answer to ConfigureProvider; stderr tail:\n%s", stderr_tail(p));
    assert_true(is_response(resp));
    json_t *diags = json_object_get(json_object_get(resp, "result"), "diagnostics");
    assert_int_equal(json_array_size(diags), 0);
    json_decref(resp);
}

/* A ReadDataSource of every connector of the account: one GET, which the
 * simulator may hold back. `id_json` is the request id as JSON text. */
static void send_slow_read(th_proc *p, const char *id_json) {
    sendf(p,
          "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"ReadDataSource\",\"params\":{"
          "\"type_name\":\"sso_connectors\",\"config\":{\"account_id\":\"" ACC "\"}}}",
          id_json);
}

/* ------------------------------------------------------------------ */
/* 1. Every error code of the contract                                  */

/* -32700: not JSON. The id cannot be read, so it is null. */
static void test_parse_error(void **state) {
    th_proc *p = new_proc(state);
    start(p, "WARN");
    const char *bad[] = {
        "{",
        "not json",
        "{'jsonrpc':'2.0','id':1,'method':'GetProviderSchema'}",
        /* A good request cut short: its id is never read. */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"GetProviderSchema\"",
        "[{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"GetProviderSchema\"},]",
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"GetProviderSchema\"} trailing",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sendf(p, "%s", bad[i]);
        json_t *r = read_response(p);
        assert_error(r, -32700, "null");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(r, "error"), "message")),
            "Parse error");
        json_decref(r);
    }
    expect_only_marker(p);
    finish(p);
}

/* -32600: valid JSON that is not a request object, the empty batch, and a
 * message over the size limit (while one exactly at the limit is served). */
static void test_invalid_request(void **state) {
    th_proc *p = new_proc(state);
    start(p, "WARN");
    static const struct {
        const char *message, *id;
    } cases[] = {
        {"5", "null"},
        {"\"GetProviderSchema\"", "null"},
        {"null", "null"},
        {"true", "null"},
        {"{}", "null"},
        {"{\"jsonrpc\":\"1.0\",\"id\":7,\"method\":\"GetProviderSchema\"}", "7"},
        {"{\"id\":8,\"method\":\"GetProviderSchema\"}", "8"},
        {"{\"jsonrpc\":\"2.0\",\"id\":9}", "9"},
        {"{\"jsonrpc\":\"2.0\",\"id\":\"ten\",\"method\":42}", "\"ten\""},
        {"{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"ValidateProviderConfig\",\"params\":"
         "\"config\"}",
         "11"},
        /* No id, but not a valid notification either: answered. */
        {"{\"jsonrpc\":\"2.0\",\"method\":1,\"params\":\"bar\"}", "null"},
        /* The empty batch: one error object, not an array. */
        {"[]", "null"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sendf(p, "%s", cases[i].message);
        json_t *r = read_response(p);
        assert_true(json_is_object(r));
        assert_error(r, -32600, cases[i].id);
        json_decref(r);
    }
    expect_only_marker(p);

    /* A request of exactly 16 MiB is served; one byte more is refused with
     * -32600 (its id unread or echoed) and skipped, and the stream goes on. */
    for (int over = 0; over <= 1; over++) {
        size_t size = LIMIT + (size_t)over;
        char *line = malloc(size + 1);
        assert_non_null(line);
        int n = snprintf(line, 200,
                         "{\"jsonrpc\":\"2.0\",\"id\":\"size-%d\",\"method\":"
                         "\"ValidateProviderConfig\",\"params\":{\"config\":{},\"pad\":\"",
                         over);
        memset(line + n, 'x', size - (size_t)n - 3);
        memcpy(line + size - 3, "\"}}", 3);
        line[size] = '\n';
        send_raw(p, line, size + 1);
        free(line);
        json_t *r = read_response(p);
        if (!over) {
            assert_int_equal(error_code(r), 0);
            assert_string_equal(json_string_value(json_object_get(r, "id")), "size-0");
        } else {
            assert_int_equal(error_code(r), -32600);
            json_t *id = json_object_get(r, "id");
            assert_true(json_is_null(id) || strcmp(json_string_value(id), "size-1") == 0);
        }
        json_decref(r);
        expect_only_marker(p);
    }
    finish(p);
}

/* -32601: unknown methods; names are matched exactly. */
static void test_method_not_found(void **state) {
    th_proc *p = new_proc(state);
    start(p, "WARN");
    static const struct {
        const char *method, *id;
    } cases[] = {
        {"Nope", "1"},   {"getproviderschema", "\"lower\""}, {"GetProviderSchema ", "3"}, {"", "4"},
        {"$/nope", "5"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sendf(p, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"%s\",\"params\":{}}", cases[i].id,
              cases[i].method);
        json_t *r = read_response(p);
        assert_error(r, -32601, cases[i].id);
        json_decref(r);
    }
    expect_only_marker(p);
    finish(p);
}

/* -32602: params of the wrong shape. A well-shaped request with wrong
 * values is a result with diagnostics instead. */
static void test_invalid_params(void **state) {
    th_proc *p = new_proc(state);
    start(p, "WARN");
    static const struct {
        const char *method, *params;
    } cases[] = {
        {"ValidateResourceConfig", "{\"config\":" VALID_CONFIG "}"},
        {"ValidateResourceConfig", "{\"type_name\":7,\"config\":" VALID_CONFIG "}"},
        {"ValidateResourceConfig", "{\"type_name\":\"sso_connector\"}"},
        {"ValidateResourceConfig", "{\"type_name\":\"sso_connector\",\"config\":[]}"},
        {"ValidateResourceConfig", "{\"type_name\":\"sso_connector\",\"config\":\"x\"}"},
        {"ValidateResourceConfig", "{\"type_name\":\"sso_connector\",\"config\":null}"},
        {"ValidateResourceConfig", "[\"sso_connector\"," VALID_CONFIG "]"},
        {"ValidateDataResourceConfig", "{\"config\":{}}"},
        {"ValidateDataResourceConfig", "{\"type_name\":\"sso_connectors\",\"config\":1}"},
        {"ValidateProviderConfig", "{}"},
        {"ValidateProviderConfig", "{\"config\":[]}"},
        {"UpgradeResourceState", "{\"type_name\":\"sso_connector\",\"version\":0}"},
        {"UpgradeResourceState",
         "{\"type_name\":\"sso_connector\",\"version\":\"0\",\"raw_state\":{}}"},
        {"UpgradeResourceState", "{\"version\":0,\"raw_state\":{}}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sendf(p, "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"%s\",\"params\":%s}", 100 + i,
              cases[i].method, cases[i].params);
        json_t *r = read_response(p);
        char id[16];
        snprintf(id, sizeof(id), "%zu", 100 + i);
        assert_error(r, -32602, id);
        json_decref(r);
    }
    /* No params at all: the handler sees {} and has no type_name. */
    sendf(p, "{\"jsonrpc\":\"2.0\",\"id\":\"np\",\"method\":\"ValidateResourceConfig\"}");
    json_t *r = read_response(p);
    assert_error(r, -32602, "\"np\"");
    json_decref(r);

    /* Right shape, wrong content: results with error diagnostics. */
    static const char *const diag_cases[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ValidateResourceConfig\",\"params\":{"
        "\"type_name\":\"no_such_resource\",\"config\":{}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ValidateResourceConfig\",\"params\":{"
        "\"type_name\":\"sso_connector\",\"config\":{\"account_id\":\"xyz\","
        "\"email_domain\":\"example.com\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"UpgradeResourceState\",\"params\":{"
        "\"type_name\":\"sso_connector\",\"version\":99,\"raw_state\":{}}}",
    };
    for (size_t i = 0; i < sizeof(diag_cases) / sizeof(diag_cases[0]); i++) {
        sendf(p, "%s", diag_cases[i]);
        r = read_response(p);
        assert_int_equal(error_code(r), 0);
        assert_int_equal(json_integer_value(json_object_get(r, "id")), (json_int_t)i + 1);
        json_t *d = json_array_get(json_object_get(json_object_get(r, "result"), "diagnostics"), 0);
        assert_string_equal(json_string_value(json_object_get(d, "severity")), "error");
        assert_true(json_string_length(json_object_get(d, "summary")) > 0);
        json_decref(r);
    }
    expect_only_marker(p);
    finish(p);
}

/* -32800: $/cancelRequest on a read the simulator holds back. Without the
 * cancellation the read would be answered with a result after the delay,
 * and the error code check would fail. */
static void test_cancel_request(void **state) {
    th_proc *p = new_proc(state);
    assert_int_equal(th_sim_reset(&sim), 0);
    start(p, "DEBUG");
    configure(p);
    sim_delay_reads(2, 30000);
    const char *ids[] = {"\"slow-1\"", "12345"};
    for (size_t i = 0; i < 2; i++) {
        send_slow_read(p, ids[i]);
        wait_sim_requests(i + 1);
        sendf(p, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":%s}}",
              ids[i]);
        json_t *r = read_response(p);
        assert_error(r, -32800, ids[i]);
        json_decref(r);
        /* The cancel notification itself is not answered. */
        expect_only_marker(p);
    }

    /* A member of a batch: the batch answer carries -32800 for it and
     * the result of its fast sibling. */
    sim_delay_reads(1, 30000);
    sendf(p, "[{\"jsonrpc\":\"2.0\",\"id\":\"b-1\",\"method\":\"ReadDataSource\",\"params\":{"
             "\"type_name\":\"sso_connectors\",\"config\":{\"account_id\":\"" ACC
             "\"}}}," VALIDATE_PROVIDER("\"b-2\"") "]");
    wait_sim_requests(3);
    sendf(p, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":\"b-1\"}}");
    json_t *batch = read_response(p);
    assert_true(json_is_array(batch));
    assert_int_equal(json_array_size(batch), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *r = json_array_get(batch, i);
        const char *id = json_string_value(json_object_get(r, "id"));
        assert_non_null(id);
        assert_int_equal(error_code(r), strcmp(id, "b-1") == 0 ? -32800 : 0);
    }
    json_decref(batch);
    expect_only_marker(p);
    finish(p);
}

/* ------------------------------------------------------------------ */
/* 2. Batches and notifications                                         */

static void test_batches(void **state) {
    th_proc *p = new_proc(state);
    start(p, "WARN");

    /* Requests and notifications mixed: one array with the answers to the
     * requests only. */
    sendf(p,
          "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ValidateProviderConfig\","
          "\"params\":{\"config\":{}}},"
          "{\"jsonrpc\":\"2.0\",\"method\":\"ValidateProviderConfig\",\"params\":{\"config\":{}}},"
          "{\"jsonrpc\":\"2.0\",\"id\":\"two\",\"method\":\"UpgradeResourceState\",\"params\":{"
          "\"type_name\":\"sso_connector\",\"version\":0,\"raw_state\":{\"id\":\"abc\"}}},"
          "{\"jsonrpc\":\"2.0\",\"method\":\"NoSuchMethod\"},"
          "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"NoSuchMethod\"},"
          "{\"jsonrpc\":\"2.0\",\"method\":\"ValidateResourceConfig\",\"params\":{}},"
          "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ValidateResourceConfig\",\"params\":{}}]");
    json_t *r = read_response(p);
    assert_true(json_is_array(r));
    assert_int_equal(json_array_size(r), 4);
    bool seen[5] = {0};
    size_t i;
    json_t *item;
    json_array_foreach(r, i, item) {
        json_t *id = json_object_get(item, "id");
        if (json_is_string(id)) {
            assert_string_equal(json_string_value(id), "two");
            assert_false(seen[2]);
            seen[2] = true;
            json_t *up = json_object_get(json_object_get(item, "result"), "upgraded_state");
            assert_string_equal(json_string_value(json_object_get(up, "id")), "abc");
            continue;
        }
        assert_true(json_is_integer(id));
        json_int_t n = json_integer_value(id);
        assert_true(n == 1 || n == 3 || n == 4);
        assert_false(seen[n]);
        seen[n] = true;
        assert_int_equal(error_code(item), n == 1 ? 0 : n == 3 ? -32601 : -32602);
    }
    json_decref(r);
    expect_only_marker(p);

    /* Members that are not requests get their own -32600 entry. */
    sendf(p, "[1,{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ValidateProviderConfig\","
             "\"params\":{\"config\":{}}}]");
    r = read_response(p);
    assert_true(json_is_array(r));
    assert_int_equal(json_array_size(r), 2);
    int invalid = 0, ok = 0;
    json_array_foreach(r, i, item) {
        if (error_code(item) == -32600 && json_is_null(json_object_get(item, "id")))
            invalid++;
        if (error_code(item) == 0 && json_integer_value(json_object_get(item, "id")) == 5)
            ok++;
    }
    assert_int_equal(invalid, 1);
    assert_int_equal(ok, 1);
    json_decref(r);

    /* Only notifications: no answer at all. */
    sendf(p,
          "[{\"jsonrpc\":\"2.0\",\"method\":\"ValidateProviderConfig\",\"params\":{\"config\":{}}},"
          "{\"jsonrpc\":\"2.0\",\"method\":\"GetProviderSchema\"},"
          "{\"jsonrpc\":\"2.0\",\"method\":\"NoSuchMethod\"}]");
    expect_only_marker(p);

    /* The empty batch: a single -32600 object. */
    sendf(p, "[]");
    r = read_response(p);
    assert_true(json_is_object(r));
    assert_error(r, -32600, "null");
    json_decref(r);
    expect_only_marker(p);
    finish(p);
}

/* Notifications get no answer, whatever they do: succeed, fail, name an
 * unknown method. The request sent after them is the only thing answered. */
static void test_notifications_unanswered(void **state) {
    th_proc *p = new_proc(state);
    start(p, "WARN");
    sendf(p, "{\"jsonrpc\":\"2.0\",\"method\":\"GetProviderSchema\"}");
    sendf(p,
          "{\"jsonrpc\":\"2.0\",\"method\":\"ValidateProviderConfig\",\"params\":{\"config\":{}}}");
    sendf(p, "{\"jsonrpc\":\"2.0\",\"method\":\"ValidateResourceConfig\",\"params\":{}}");
    sendf(p, "{\"jsonrpc\":\"2.0\",\"method\":\"NoSuchMethod\",\"params\":{}}");
    sendf(p, "{\"jsonrpc\":\"2.0\",\"method\":\"$/progress\",\"params\":{}}");
    sendf(p, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":\"none\"}}");
    sendf(p, "{\"jsonrpc\":\"2.0\",\"method\":\"UpgradeResourceState\",\"params\":{"
             "\"type_name\":\"sso_connector\",\"version\":0,\"raw_state\":{}}}");
    expect_only_marker(p);
    /* Nor does anything come later. */
    finish(p);
}

/* ------------------------------------------------------------------ */
/* 3. Framing                                                           */

/* Newline framing: answered one line per message, "\n" only, whatever the
 * input's line ends; blank lines ignored; a last line without "\n" at EOF
 * still served. */
static void test_newline_framing(void **state) {
    th_proc *p = new_proc(state);
    start(p, "WARN");
    const char *in = "\n\r\n" VALIDATE_PROVIDER("1") "\r\n\n  \t\n\r\n" VALIDATE_PROVIDER("2") "\n";
    send_raw(p, in, strlen(in));
    const char *want = ANSWER("1") "\n" ANSWER("2") "\n";
    char *got = th_proc_read_bytes(p, strlen(want), WAIT);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);

    /* A big answer is still one line: it parses whole. */
    sendf(p, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"GetProviderSchema\",\"params\":{}}");
    json_t *r = read_response(p);
    assert_non_null(json_object_get(
        json_object_get(json_object_get(r, "result"), "resource_schemas"), "sso_connector"));
    json_decref(r);

    const char *last = VALIDATE_PROVIDER("4");
    send_raw(p, last, strlen(last));
    th_proc_close_stdin(p);
    char *line = read_line(p);
    assert_string_equal(line, ANSWER("4"));
    free(line);
    wait_exit(p, 0);
    assert_stdout_done(p);
}

/* Content-Length framing, detected from the first byte: every answer,
 * errors included, comes back as exactly "Content-Length: N\r\n\r\n" and N
 * bytes. */
static void test_header_framing(void **state) {
    th_proc *p = new_proc(state);
    start(p, "WARN");
    send_framed(p, "", VALIDATE_PROVIDER("1"));
    char want[256];
    snprintf(want, sizeof(want), "Content-Length: %zu\r\n\r\n%s", strlen(ANSWER("1")), ANSWER("1"));
    char *got = th_proc_read_bytes(p, strlen(want), WAIT);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);

    /* Other headers, a lower-case name, raw newlines in the body. */
    const char *body = "{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 2,\n  \"method\": "
                       "\"GetProviderSchema\",\n  \"params\": {}\n}";
    send_framed(p, "Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n", body);
    json_t *r = read_framed_response(p);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 2);
    assert_non_null(json_object_get(
        json_object_get(json_object_get(r, "result"), "resource_schemas"), "sso_connector"));
    json_decref(r);
    char head[128];
    snprintf(head, sizeof(head), "content-length: %zu\r\n\r\n", strlen(VALIDATE_PROVIDER("3")));
    send_raw(p, head, strlen(head));
    send_raw(p, VALIDATE_PROVIDER("3"), strlen(VALIDATE_PROVIDER("3")));
    got = read_framed(p);
    assert_string_equal(got, ANSWER("3"));
    free(got);

    /* A notification, then a request: only the request is answered. */
    send_framed(p, "", "{\"jsonrpc\":\"2.0\",\"method\":\"GetProviderSchema\"}");
    send_framed(p, "", VALIDATE_PROVIDER("4"));
    got = read_framed(p);
    assert_string_equal(got, ANSWER("4"));
    free(got);

    /* Errors are framed too. */
    send_framed(p, "", "{bad json");
    r = read_framed_response(p);
    assert_error(r, -32700, "null");
    json_decref(r);
    send_framed(p, "", "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"Nope\"}");
    r = read_framed_response(p);
    assert_error(r, -32601, "5");
    json_decref(r);

    /* A batch, framed. */
    send_framed(p, "", "[" VALIDATE_PROVIDER("6") "," VALIDATE_PROVIDER("7") "]");
    r = read_framed_response(p);
    assert_true(json_is_array(r));
    assert_int_equal(json_array_size(r), 2);
    json_decref(r);
    finish(p);
}

/* ------------------------------------------------------------------ */
/* 4. Regular files and /dev/null                                       */

static const char file_input[] =
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"GetProviderSchema\"}\n"
    "{\"jsonrpc\":\"2.0\",\"method\":\"ValidateProviderConfig\",\"params\":{\"config\":{}}}\n"
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ValidateResourceConfig\",\"params\":{"
    "\"type_name\":\"sso_connector\",\"config\":" VALID_CONFIG "}}\n"
    "[{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"Nope\"},{\"jsonrpc\":\"2.0\",\"id\":4,"
    "\"method\":\"UpgradeResourceState\",\"params\":{\"type_name\":\"sso_connector\","
    "\"version\":0,\"raw_state\":{\"id\":\"from-file\"}}}]\n"
    "garbage\n"
    /* The last line has no "\n". */
    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ValidateProviderConfig\",\"params\":{\"config\":{}}"
    "}";

/* Checks one parsed answer to file_input and counts it in seen[]. */
static void count_file_answer(json_t *v, int seen[6]) {
    if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) count_file_answer(item, seen);
        return;
    }
    json_t *id = json_object_get(v, "id");
    if (json_is_null(id)) {
        assert_int_equal(error_code(v), -32700);
        seen[0]++;
        return;
    }
    json_int_t n = json_integer_value(id);
    assert_true(n >= 1 && n <= 5);
    seen[n]++;
    json_t *result = json_object_get(v, "result");
    switch (n) {
    case 1:
        assert_non_null(
            json_object_get(json_object_get(result, "resource_schemas"), "sso_connector"));
        break;
    case 3:
        assert_int_equal(error_code(v), -32601);
        break;
    case 4:
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(result, "upgraded_state"), "id")),
            "from-file");
        break;
    default:
        assert_int_equal(json_array_size(json_object_get(result, "diagnostics")), 0);
    }
}

/* The output for file_input, newline framed: five lines (four answers and
 * one batch array), each id once, the parse error once. */
static void check_file_output(const char *out) {
    int seen[6] = {0};
    size_t lines = 0;
    assert_true(strlen(out) > 0);
    assert_int_equal(out[strlen(out) - 1], '\n');
    char *copy = strdup(out), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *v = parse_response(line);
        count_file_answer(v, seen);
        json_decref(v);
        lines++;
    }
    free(copy);
    assert_int_equal(lines, 5);
    for (int i = 0; i <= 5; i++)
        assert_int_equal(seen[i], 1);
}

static void test_regular_files(void **state) {
    th_proc *p = new_proc(state);
    char in[64], out[64], script[512];
    write_temp(in, file_input, strlen(file_input));

    /* File in, file out. */
    write_temp(out, "", 0);
    snprintf(script, sizeof(script), "exec \"$PROV\" < %s > %s", in, out);
    start_shell(p, script, "WARN");
    wait_exit(p, 0);
    assert_stdout_done(p);
    char *text = read_file(out);
    check_file_output(text);
    free(text);
    th_proc_destroy(p);

    /* File in, pipe out. */
    snprintf(script, sizeof(script), "exec \"$PROV\" < %s", in);
    start_shell(p, script, "WARN");
    wait_exit(p, 0);
    text = rest_of_stdout(p);
    check_file_output(text);
    free(text);
    th_proc_destroy(p);

    /* Pipe in, file out (truncated first). */
    snprintf(script, sizeof(script), "exec \"$PROV\" > %s", out);
    start_shell(p, script, "WARN");
    send_raw(p, file_input, strlen(file_input));
    finish(p);
    text = read_file(out);
    check_file_output(text);
    free(text);
    th_proc_destroy(p);

    /* Header framing from a file, answered in kind into a file. */
    char framed[1024];
    const char *a = VALIDATE_PROVIDER("1");
    const char *b = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"Nope\"}";
    int n = snprintf(framed, sizeof(framed),
                     "Content-Length: %zu\r\n\r\n%sContent-Length: %zu\r\n\r\n%s", strlen(a), a,
                     strlen(b), b);
    char in2[64];
    write_temp(in2, framed, (size_t)n);
    snprintf(script, sizeof(script), "exec \"$PROV\" < %s > %s", in2, out);
    start_shell(p, script, "WARN");
    wait_exit(p, 0);
    assert_stdout_done(p);
    text = read_file(out);
    size_t pos = 0, frames = 0;
    bool got1 = false, got2 = false;
    for (char *body; (body = next_frame(text, strlen(text), &pos)) != NULL; frames++) {
        if (strcmp(body, ANSWER("1")) == 0)
            got1 = true;
        else {
            json_t *r = parse_response(body);
            assert_error(r, -32601, "2");
            got2 = true;
            json_decref(r);
        }
        free(body);
    }
    assert_int_equal(frames, 2);
    assert_true(got1 && got2);
    free(text);
    unlink(in);
    unlink(in2);
    unlink(out);
}

static void test_dev_null(void **state) {
    th_proc *p = new_proc(state);
    /* /dev/null as stdin: immediate end of input, nothing written. */
    start_shell(p, "exec \"$PROV\" < /dev/null", "WARN");
    wait_exit(p, 0);
    assert_stdout_done(p);
    th_proc_destroy(p);

    /* /dev/null as stdout: requests are still served, as the DEBUG log
     * shows (the log is the only witness left). */
    start_shell(p, "exec \"$PROV\" > /dev/null", "DEBUG");
    send_raw(p, file_input, strlen(file_input));
    finish(p);
    assert_non_null(strstr(p->err_buf, "answered GetProviderSchema id=1: result"));
    assert_non_null(strstr(p->err_buf, "answered UpgradeResourceState id=4: result"));
    assert_non_null(strstr(p->err_buf, "answered ValidateProviderConfig id=5: result"));
    th_proc_destroy(p);

    /* Both. */
    start_shell(p, "exec \"$PROV\" < /dev/null > /dev/null", "WARN");
    wait_exit(p, 0);
    assert_stdout_done(p);
    th_proc_destroy(p);

    /* /dev/null in, a file out: the file stays empty. */
    char out[64], in[64], script[512];
    write_temp(out, "stale", 5);
    snprintf(script, sizeof(script), "exec \"$PROV\" < /dev/null > %s", out);
    start_shell(p, script, "WARN");
    wait_exit(p, 0);
    char *text = read_file(out);
    assert_string_equal(text, "");
    free(text);
    th_proc_destroy(p);

    /* A file in, /dev/null out. */
    write_temp(in, file_input, strlen(file_input));
    snprintf(script, sizeof(script), "exec \"$PROV\" < %s > /dev/null", in);
    start_shell(p, script, "DEBUG");
    wait_exit(p, 0);
    assert_stdout_done(p);
    assert_non_null(strstr(p->err_buf, "answered ValidateResourceConfig id=2: result"));
    unlink(in);
    unlink(out);
}

/* ------------------------------------------------------------------ */
/* 5. Pipelining                                                        */

#define PIPELINED 1000

/* The raw text of request i's id: integers, negative integers, strings,
 * reals with a trailing zero and strings with escapes, each to be echoed
 * exactly as sent. */
static void pipelined_id(int i, char *buf, size_t size) {
    switch (i % 5) {
    case 0:
        snprintf(buf, size, "%d", i);
        break;
    case 1:
        snprintf(buf, size, "\"req-%d\"", i);
        break;
    case 2:
        snprintf(buf, size, "-%d", i);
        break;
    case 3:
        snprintf(buf, size, "%d.50", i);
        break;
    default:
        snprintf(buf, size, "\"\\u00e9t\\u00e9-%d\"", i);
    }
}

/* 1,000 requests written before any answer is read, each answered once
 * with its own id, and each answer is the one for its own request (the
 * upgraded state carries a per-request value; a bad config a diagnostic). */
static void test_pipelined(void **state) {
    th_proc *p = new_proc(state);
    start(p, "WARN");
    static char ids[PIPELINED][48];
    size_t cap = (size_t)PIPELINED * 300, len = 0;
    char *all = malloc(cap);
    assert_non_null(all);
    for (int i = 0; i < PIPELINED; i++) {
        pipelined_id(i, ids[i], sizeof(ids[i]));
        int n;
        if (i % 3 == 0)
            n = snprintf(all + len, cap - len,
                         "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"UpgradeResourceState\","
                         "\"params\":{\"type_name\":\"sso_connector\",\"version\":0,"
                         "\"raw_state\":{\"id\":\"conn-%d\"}}}\n",
                         ids[i], i);
        else
            n = snprintf(all + len, cap - len,
                         "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"ValidateResourceConfig\","
                         "\"params\":{\"type_name\":\"sso_connector\",\"config\":{"
                         "\"account_id\":\"" ACC "\",\"email_domain\":\"%s%d.example.com\"}}}\n",
                         ids[i], i % 3 == 2 ? "bad domain " : "d", i);
        assert_true(n > 0 && (size_t)n < cap - len);
        len += (size_t)n;
    }
    send_raw(p, all, len);
    free(all);

    static bool seen[PIPELINED];
    memset(seen, 0, sizeof(seen));
    static const char prefix[] = "{\"jsonrpc\":\"2.0\",\"id\":";
    for (int k = 0; k < PIPELINED; k++) {
        char *line = read_line(p);
        json_t *r = parse_response(line);
        /* The id as it appears on the wire. */
        assert_memory_equal(line, prefix, sizeof(prefix) - 1);
        const char *raw = line + sizeof(prefix) - 1;
        const char *end = strstr(raw, ",\"result\":");
        if (!end)
            fail_msg("answer %d is not a result: %.200s", k, line);
        int i = -1;
        for (int j = 0; j < PIPELINED; j++) {
            if (strlen(ids[j]) == (size_t)(end - raw) && memcmp(ids[j], raw, strlen(ids[j])) == 0) {
                i = j;
                break;
            }
        }
        if (i < 0)
            fail_msg("answer with an id that was never sent: %.200s", line);
        assert_false(seen[i]);
        seen[i] = true;
        json_t *result = json_object_get(r, "result");
        json_t *diags = json_object_get(result, "diagnostics");
        if (i % 3 == 0) {
            json_t *up = json_object_get(result, "upgraded_state");
            char want[32];
            snprintf(want, sizeof(want), "conn-%d", i);
            assert_string_equal(json_string_value(json_object_get(up, "id")), want);
            assert_int_equal(json_array_size(diags), 0);
        } else if (i % 3 == 1) {
            assert_int_equal(json_array_size(diags), 0);
        } else {
            json_t *attr = json_object_get(json_array_get(diags, 0), "attribute");
            assert_string_equal(json_string_value(json_array_get(attr, 0)), "email_domain");
        }
        json_decref(r);
        free(line);
    }
    for (int i = 0; i < PIPELINED; i++)
        assert_true(seen[i]);
    expect_only_marker(p);
    finish(p);
}

/* ------------------------------------------------------------------ */
/* 6. Bad input: answered, and the stream goes on                       */

/* A line of `depth` opening brackets (and as many closing ones when
 * `closed`), wrapped in `head` and `tail`. */
static char *nested(const char *head, char open, char close, size_t depth, bool closed,
                    const char *tail) {
    size_t hl = strlen(head), tl = strlen(tail);
    char *s = malloc(hl + 2 * depth + tl + 1);
    assert_non_null(s);
    memcpy(s, head, hl);
    memset(s + hl, open, depth);
    size_t n = hl + depth;
    if (closed) {
        memset(s + n, close, depth);
        n += depth;
    }
    memcpy(s + n, tail, tl + 1);
    return s;
}

static void test_bad_input_stream_goes_on(void **state) {
    th_proc *p = new_proc(state);
    start(p, "WARN");
    /* A request first: the first byte picks the framing, and a letter
     * would pick Content-Length framing. */
    expect_only_marker(p);
    const char *garbage[] = {"garbage", "\x01\x02\x03",
                             "{]",      "\xff\xfe{}",
                             "][",      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        sendf(p, "%s", garbage[i]);
        json_t *r = read_response(p);
        assert_error(r, -32700, "null");
        json_decref(r);
        expect_only_marker(p);
    }
    /* A raw NUL byte inside an otherwise good request. */
    static const char nul[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\0\"method\":\"GetProviderSchema\"}\n";
    send_raw(p, nul, sizeof(nul) - 1);
    json_t *r = read_response(p);
    assert_int_equal(error_code(r), -32700);
    json_decref(r);
    expect_only_marker(p);

    /* 10,000-deep nesting: arrays, objects, unclosed, and inside the
     * params of a request. */
    char *deep[] = {
        nested("", '[', ']', 10000, true, ""),
        nested("", '[', ']', 10000, false, ""),
        nested("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ValidateProviderConfig\",\"params\":{"
               "\"config\":{},\"x\":",
               '[', ']', 10000, true, "}}"),
        NULL,
    };
    /* {"a":{"a":...{}...}} */
    {
        size_t depth = 10000;
        char *s = malloc(depth * 6 + 8);
        assert_non_null(s);
        size_t n = 0;
        for (size_t i = 0; i < depth; i++)
            memcpy(s + n, "{\"a\":", 5), n += 5;
        memcpy(s + n, "{}", 2), n += 2;
        memset(s + n, '}', depth), n += depth;
        s[n] = '\0';
        deep[3] = s;
    }
    for (size_t i = 0; i < 4; i++) {
        sendf(p, "%s", deep[i]);
        free(deep[i]);
        r = read_response(p);
        assert_error(r, -32700, "null");
        json_decref(r);
        expect_only_marker(p);
    }

    /* A 20 MiB request and a 20 MiB line of garbage: over the limit, each
     * answered -32600 and skipped. */
    char *big = malloc(BIG + 1);
    assert_non_null(big);
    for (int garbage_line = 0; garbage_line <= 1; garbage_line++) {
        if (garbage_line) {
            memset(big, '#', BIG);
        } else {
            int n = snprintf(big, 200,
                             "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ValidateProviderConfig\","
                             "\"params\":{\"config\":{},\"pad\":\"");
            memset(big + n, 'x', BIG - (size_t)n - 3);
            memcpy(big + BIG - 3, "\"}}", 3);
        }
        big[BIG] = '\n';
        send_raw(p, big, BIG + 1);
        r = read_response(p);
        assert_int_equal(error_code(r), -32600);
        json_t *id = json_object_get(r, "id");
        assert_true(json_is_null(id) || (!garbage_line && json_integer_value(id) == 3));
        json_decref(r);
        expect_only_marker(p);
    }
    free(big);
    finish(p);
}

/* The same in Content-Length framing: a 20 MiB body is refused with a
 * framed -32600 and skipped; a malformed header block is answered and the
 * decoder finds the next message. */
static void test_header_framing_bad_input(void **state) {
    th_proc *p = new_proc(state);
    start(p, "WARN");
    send_framed(p, "", VALIDATE_PROVIDER("1"));
    char *got = read_framed(p);
    assert_string_equal(got, ANSWER("1"));
    free(got);

    char head[128];
    snprintf(head, sizeof(head), "Content-Length: %u\r\n\r\n", BIG);
    send_raw(p, head, strlen(head));
    char *big = malloc(BIG);
    assert_non_null(big);
    int n = snprintf(big, 200,
                     "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ValidateProviderConfig\","
                     "\"params\":{\"config\":{},\"pad\":\"");
    memset(big + n, 'x', BIG - (size_t)n - 3);
    memcpy(big + BIG - 3, "\"}}", 3);
    send_raw(p, big, BIG);
    free(big);
    json_t *r = read_framed_response(p);
    assert_error(r, -32600, "null");
    json_decref(r);
    send_framed(p, "", VALIDATE_PROVIDER("3"));
    got = read_framed(p);
    assert_string_equal(got, ANSWER("3"));
    free(got);

    const char *broken = "Content-Length: twelve\r\n\r\n";
    send_raw(p, broken, strlen(broken));
    r = read_framed_response(p);
    assert_error(r, -32700, "null");
    json_decref(r);
    send_framed(p, "", VALIDATE_PROVIDER("4"));
    got = read_framed(p);
    assert_string_equal(got, ANSWER("4"));
    free(got);
    finish(p);
}

/* ------------------------------------------------------------------ */
/* 7. Shutdown                                                          */

/* End of input with a slow read in flight: it is answered in full (not
 * cancelled), along with a fast request sent after it, then exit 0. */
static void test_eof_answers_in_flight(void **state) {
    th_proc *p = new_proc(state);
    assert_int_equal(th_sim_reset(&sim), 0);
    start(p, "DEBUG");
    configure(p);
    sim_delay_reads(1, 1500);
    send_slow_read(p, "42");
    wait_sim_requests(1);
    sendf(p, VALIDATE_PROVIDER("43"));
    th_proc_close_stdin(p);
    bool got42 = false, got43 = false;
    for (int k = 0; k < 2; k++) {
        json_t *r = read_response(p);
        json_int_t id = json_integer_value(json_object_get(r, "id"));
        assert_int_equal(error_code(r), 0);
        json_t *result = json_object_get(r, "result");
        assert_int_equal(json_array_size(json_object_get(result, "diagnostics")), 0);
        if (id == 42) {
            assert_true(
                json_is_array(json_object_get(json_object_get(result, "state"), "connectors")));
            got42 = true;
        } else {
            assert_int_equal(id, 43);
            got43 = true;
        }
        json_decref(r);
    }
    assert_true(got42 && got43);
    wait_exit(p, 0);
    assert_stdout_done(p);
    th_proc_destroy(p);

    /* A regular file as stdin: end of input comes at once, while the read
     * it asks for is still held by the simulator. It is answered anyway. */
    assert_int_equal(th_sim_reset(&sim), 0);
    sim_delay_reads(1, 1500);
    char input[1024], in[64], script[256];
    int n = snprintf(input, sizeof(input),
                     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ConfigureProvider\",\"params\":{"
                     "\"config\":{\"api_token\":\"%s\",\"base_url\":\"%s\"}}}\n"
                     "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ReadDataSource\",\"params\":{"
                     "\"type_name\":\"sso_connectors\",\"config\":{\"account_id\":\"" ACC "\"}}}\n",
                     TOKEN, sim.base_url);
    write_temp(in, input, (size_t)n);
    snprintf(script, sizeof(script), "exec \"$PROV\" < %s", in);
    start_shell(p, script, "DEBUG");
    wait_exit(p, 0);
    char *out = rest_of_stdout(p);
    char *second = strchr(out, '\n');
    assert_non_null(second);
    *second++ = '\0';
    json_t *first = parse_response(out), *read = parse_response(second);
    if (json_integer_value(json_object_get(first, "id")) == 2) {
        json_t *t = first;
        first = read;
        read = t;
    }
    assert_int_equal(json_integer_value(json_object_get(first, "id")), 1);
    assert_int_equal(json_integer_value(json_object_get(read, "id")), 2);
    assert_int_equal(error_code(read), 0);
    assert_true(json_is_array(
        json_object_get(json_object_get(json_object_get(read, "result"), "state"), "connectors")));
    json_decref(first);
    json_decref(read);
    free(out);
    unlink(in);
}

/* SIGTERM and SIGINT with a read in flight (held 30 s by the simulator):
 * the read is cancelled and answered -32800, then the provider exits 0
 * although its stdin is still open. */
static void test_signal_cancels_in_flight(void **state) {
    th_proc *p = new_proc(state);
    const int sigs[] = {SIGTERM, SIGINT};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(th_sim_reset(&sim), 0);
        start(p, "DEBUG");
        configure(p);
        sim_delay_reads(1, 30000);
        send_slow_read(p, "77");
        wait_sim_requests(1);
        assert_int_equal(th_proc_kill(p, sigs[i]), 0);
        json_t *r = read_response(p);
        assert_error(r, -32800, "77");
        json_decref(r);
        wait_exit(p, 0);
        assert_stdout_done(p);
        th_proc_destroy(p);

        /* The same with the slow read inside a batch: the batch is
         * answered whole, the read cancelled, its sibling served. */
        assert_int_equal(th_sim_reset(&sim), 0);
        start(p, "DEBUG");
        configure(p);
        sim_delay_reads(1, 30000);
        sendf(p, "[{\"jsonrpc\":\"2.0\",\"id\":78,\"method\":\"ReadDataSource\",\"params\":{"
                 "\"type_name\":\"sso_connectors\",\"config\":{\"account_id\":\"" ACC
                 "\"}}}," VALIDATE_PROVIDER("79") "]");
        wait_sim_requests(1);
        assert_int_equal(th_proc_kill(p, sigs[i]), 0);
        r = read_response(p);
        assert_true(json_is_array(r));
        assert_int_equal(json_array_size(r), 2);
        for (size_t k = 0; k < 2; k++) {
            json_t *item = json_array_get(r, k);
            json_int_t id = json_integer_value(json_object_get(item, "id"));
            assert_true(id == 78 || id == 79);
            assert_int_equal(error_code(item), id == 78 ? -32800 : 0);
        }
        json_decref(r);
        wait_exit(p, 0);
        assert_stdout_done(p);
        th_proc_destroy(p);
    }
}

/* ------------------------------------------------------------------ */
/* 8. Nothing but protocol on stdout; logs on stderr                    */

/* Traffic that makes every layer log: a configured client and an API
 * call (answered before the rest, so that the StopProvider below does not
 * cancel it before it starts), errors, batches, notifications,
 * StopProvider. Returns how many stdout lines are still to come. */
static int send_mixed_traffic(th_proc *p) {
    configure(p);
    send_slow_read(p, "102");
    json_t *r = read_response(p);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 102);
    assert_int_equal(json_array_size(json_object_get(json_object_get(r, "result"), "diagnostics")),
                     0);
    json_decref(r);
    sendf(p, "{\"jsonrpc\":\"2.0\",\"id\":100,\"method\":\"GetProviderSchema\"}");
    sendf(p,
          "{\"jsonrpc\":\"2.0\",\"method\":\"ValidateProviderConfig\",\"params\":{\"config\":{}}}");
    sendf(p, "this is not json");
    sendf(p, "[{\"jsonrpc\":\"2.0\",\"id\":101,\"method\":\"Nope\"},"
             "{\"jsonrpc\":\"2.0\",\"method\":\"GetProviderSchema\"},7]");
    sendf(p, "{\"jsonrpc\":\"2.0\",\"id\":103,\"method\":\"ValidateResourceConfig\",\"params\":{"
             "\"type_name\":\"sso_connector\",\"config\":{\"email_domain\":\"bad domain\"}}}");
    sendf(p, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":999}}");
    sendf(p, "{\"jsonrpc\":\"2.0\",\"id\":104,\"method\":\"StopProvider\",\"params\":{}}");
    sendf(p, "{\"jsonrpc\":\"2.0\",\"id\":105,\"method\":\"UpgradeResourceState\",\"params\":{"
             "\"type_name\":\"sso_connector\",\"version\":0,\"raw_state\":{\"zzz\":1}}}");
    return 6;
}

/* After the traffic above and EOF: every stdout line is a response (or a
 * batch of them), the expected number of them, and the token appears on
 * neither stream. */
static void check_stdout_is_protocol(th_proc *p, int want_lines) {
    th_proc_close_stdin(p);
    wait_exit(p, 0);
    char *out = rest_of_stdout(p);
    assert_true(strlen(out) > 0);
    assert_int_equal(out[strlen(out) - 1], '\n');
    int lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_decref(parse_response(line));
        lines++;
    }
    assert_int_equal(lines, want_lines);
    free(out);
    assert_null(strstr(p->err_buf, TOKEN));
}

static void test_stdout_only_protocol_at_trace(void **state) {
    th_proc *p = new_proc(state);
    assert_int_equal(th_sim_reset(&sim), 0);
    start(p, "TRACE");
    int lines = send_mixed_traffic(p);
    check_stdout_is_protocol(p, lines);
    static const char *const levels[] = {"[TRACE] ", "[DEBUG] ", "[INFO] ", "[WARN] ", "[ERROR] "};
    bool seen[5] = {0};
    size_t count = 0;
    char *save = NULL;
    for (char *line = strtok_r(p->err_buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save), count++) {
        bool known = false;
        for (size_t i = 0; i < 5; i++) {
            if (strncmp(line, levels[i], strlen(levels[i])) == 0)
                known = seen[i] = true;
        }
        if (!known)
            fail_msg("stderr line is not a log line: %.200s", line);
    }
    assert_true(count >= 10);
    assert_true(seen[0]); /* TRACE */
    assert_true(seen[1]); /* DEBUG */
    assert_true(seen[3]); /* WARN: the parse error */
}

/* TF_LOG=JSON: every stderr line is an hclog-shaped JSON object. */
static void test_json_logs(void **state) {
    th_proc *p = new_proc(state);
    assert_int_equal(th_sim_reset(&sim), 0);
    start(p, "JSON");
    int lines = send_mixed_traffic(p);
    check_stdout_is_protocol(p, lines);
    static const char *const levels[] = {"trace", "debug", "info", "warn", "error"};
    size_t count = 0;
    bool seen_trace = false, seen_rpc = false, seen_cfapi = false;
    char *save = NULL;
    for (char *line = strtok_r(p->err_buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save), count++) {
        json_error_t err;
        json_t *v = json_loads(line, 0, &err);
        if (!json_is_object(v))
            fail_msg("stderr line is not a JSON object (%s): %.200s", err.text, line);
        const char *level = json_string_value(json_object_get(v, "@level"));
        const char *message = json_string_value(json_object_get(v, "@message"));
        const char *module = json_string_value(json_object_get(v, "@module"));
        const char *ts = json_string_value(json_object_get(v, "@timestamp"));
        if (!level || !message || !module || !ts)
            fail_msg("log line without @level/@message/@module/@timestamp: %.200s", line);
        bool known = false;
        for (size_t i = 0; i < 5; i++)
            known |= strcmp(level, levels[i]) == 0;
        assert_true(known);
        /* RFC 3339 in UTC: 2026-11-27T17:00:00.000000Z */
        assert_true(strlen(ts) >= 20);
        assert_int_equal(ts[4], '-');
        assert_int_equal(ts[10], 'T');
        assert_int_equal(ts[strlen(ts) - 1], 'Z');
        assert_int_equal(strncmp(module, "provider", 8), 0);
        seen_trace |= strcmp(level, "trace") == 0;
        seen_rpc |= strcmp(module, "provider.rpc") == 0;
        seen_cfapi |= strcmp(module, "provider.cfapi") == 0;
        json_decref(v);
    }
    assert_true(count >= 10);
    assert_true(seen_trace);
    assert_true(seen_rpc);
    assert_true(seen_cfapi);
}

/* TF_LOG=OFF: not a byte on stderr, even for input that logs a warning;
 * TF_LOG_PROVIDER wins over TF_LOG. */
static void test_log_levels_from_env(void **state) {
    th_proc *p = new_proc(state);
    start(p, "OFF");
    sendf(p, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"Nope\"}");
    json_decref(read_response(p));
    sendf(p, "garbage");
    sendf(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"Nope\"}");
    json_decref(read_response(p));
    json_decref(read_response(p));
    finish(p);
    assert_int_equal(p->err_len, 0);
    th_proc_destroy(p);

    const char *argv[] = {PROVIDER_BIN, NULL};
    const char *env[] = {"TF_LOG=OFF", "TF_LOG_PROVIDER=warn", NULL};
    assert_int_equal(th_proc_spawn(p, argv, env), 0);
    sendf(p, "5");
    json_decref(read_response(p));
    finish(p);
    assert_int_equal(strncmp(p->err_buf, "[WARN] provider.rpc: invalid request", 36), 0);
    th_proc_destroy(p);

    /* The empty batch is an invalid request too, and is logged as one. */
    assert_int_equal(th_proc_spawn(p, argv, env), 0);
    sendf(p, "[]");
    json_decref(read_response(p));
    finish(p);
    assert_non_null(strstr(p->err_buf, "[WARN] provider.rpc: invalid request: empty batch"));
    th_proc_destroy(p);
}

/* ------------------------------------------------------------------ */
/* 9. The command line                                                  */

/* Runs the provider with one argument and stdin at EOF; returns its exit
 * code, stdout (malloc'd) in *out, stderr left in p->err_buf. */
static int run_cli(th_proc *p, const char *arg, char **out) {
    const char *argv[] = {PROVIDER_BIN, arg, NULL};
    assert_int_equal(th_proc_spawn(p, argv, NULL), 0);
    th_proc_close_stdin(p);
    int status = 0;
    assert_int_equal(th_proc_wait(p, WAIT, &status), 0);
    assert_true(WIFEXITED(status));
    *out = rest_of_stdout(p);
    return WEXITSTATUS(status);
}

static void test_cli(void **state) {
    th_proc *p = new_proc(state);
    char *out;
    assert_int_equal(run_cli(p, "--version", &out), 0);
    assert_string_equal(out, "provider-cloudflare " PROVIDER_VERSION "\n");
    free(out);
    th_proc_destroy(p);

    assert_int_equal(run_cli(p, "--help", &out), 0);
    assert_int_equal(strncmp(out, "Usage: provider-cloudflare", 26), 0);
    assert_non_null(strstr(out, "--version"));
    free(out);
    th_proc_destroy(p);

    assert_int_equal(run_cli(p, "--bogus", &out), 2);
    assert_string_equal(out, "");
    assert_non_null(strstr(p->err_buf, "--bogus"));
    free(out);
}

/* A terminal on stdin: a message on stderr saying this is a plugin, exit
 * 1, nothing on stdout. */
static void test_tty_stdin(void **state) {
    th_proc *p = new_proc(state);
    int master = -1, slave = -1;
    char name[256];
    assert_int_equal(openpty(&master, &slave, name, NULL, NULL), 0);
    char script[512];
    snprintf(script, sizeof(script), "exec \"$PROV\" < %s", name);
    start_shell(p, script, "TRACE");
    wait_exit(p, 1);
    char *out = rest_of_stdout(p);
    assert_string_equal(out, "");
    free(out);
    assert_non_null(strstr(p->err_buf, "plugin"));
    assert_non_null(strstr(p->err_buf, "orchestrator"));
    close(slave);
    close(master);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_parse_error, destroy),
        cmocka_unit_test_teardown(test_invalid_request, destroy),
        cmocka_unit_test_teardown(test_method_not_found, destroy),
        cmocka_unit_test_teardown(test_invalid_params, destroy),
        cmocka_unit_test_teardown(test_cancel_request, destroy),
        cmocka_unit_test_teardown(test_batches, destroy),
        cmocka_unit_test_teardown(test_notifications_unanswered, destroy),
        cmocka_unit_test_teardown(test_newline_framing, destroy),
        cmocka_unit_test_teardown(test_header_framing, destroy),
        cmocka_unit_test_teardown(test_regular_files, destroy),
        cmocka_unit_test_teardown(test_dev_null, destroy),
        cmocka_unit_test_teardown(test_pipelined, destroy),
        cmocka_unit_test_teardown(test_bad_input_stream_goes_on, destroy),
        cmocka_unit_test_teardown(test_header_framing_bad_input, destroy),
        cmocka_unit_test_teardown(test_eof_answers_in_flight, destroy),
        cmocka_unit_test_teardown(test_signal_cancels_in_flight, destroy),
        cmocka_unit_test_teardown(test_stdout_only_protocol_at_trace, destroy),
        cmocka_unit_test_teardown(test_json_logs, destroy),
        cmocka_unit_test_teardown(test_log_levels_from_env, destroy),
        cmocka_unit_test_teardown(test_cli, destroy),
        cmocka_unit_test_teardown(test_tty_stdin, destroy),
    };
    return cmocka_run_group_tests_name("e2e_wire", tests, group_setup, group_teardown);
}
