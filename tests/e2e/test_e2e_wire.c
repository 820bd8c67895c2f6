/*
 * test_e2e_wire.c - the wire protocol of the real provider-cloudflare binary
 * (not rpc-testd), over real pipes, files and a terminal: what only the
 * binary an orchestrator actually starts can show.
 *
 * The protocol library's own end-to-end suites (tests/protocol/test_e2e_*.c)
 * drive rpc-testd, a small server on the same library, through the rest of
 * the contract (shared/contract/PROTOCOL.md, sections 1-2): every error code
 * the library produces, batches and notifications, both framings answered in
 * kind, regular files and /dev/null, pipelining, bad input, shutdown. This
 * suite keeps what depends on the provider itself: the message limit it
 * runs with, -32602 from its own handlers, $/cancelRequest, end of input and
 * signals with real HTTP calls in flight, its logging never touching stdout
 * (with the Cloudflare client logging too), and its command line.
 *
 * Where a request must be slow, it is a ReadDataSource that cf-api-sim holds
 * back with an injected delay; the tests wait until the simulator has logged
 * the request, so it is really in flight, instead of sleeping. Every timeout
 * is a hang guard only: nothing here depends on how fast the machine is.
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

#define VALID_CONFIG "{\"account_id\":\"" ACC "\",\"email_domain\":\"example.com\"}"
/* ValidateProviderConfig with an empty config. */
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

/* Creates a temporary file holding `len` bytes of `data`; its path goes
 * into `path` (at least 64 bytes). */
static void write_temp(char *path, const char *data, size_t len) {
    strcpy(path, "/tmp/e2e-wire-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
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
 * diagnostics. Uses th_proc_call_new, so nothing else may be pending. */
static void configure(th_proc *p) {
    json_t *resp = th_proc_call_new(
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
/* 1. Error codes that only the provider's own handlers and settings give */
/*    (the rest of the contract: tests/protocol, against rpc-testd)       */

/* The provider's message limit: a request of exactly 16 MiB is served;
 * one byte more is refused with -32600 (its id unread or echoed) and
 * skipped, and the stream goes on. The protocol library's suites prove the
 * limit mechanism (at rpc-testd's --max-message); this proves the limit
 * the provider binary actually runs with. */
static void test_message_limit(void **state) {
    th_proc *p = new_proc(state);
    start(p, "WARN");
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
/* 2. Shutdown with API calls in flight                                 */

/* End of input with a slow read in flight: it is answered in full (not
 * cancelled), along with a fast request sent after it, then exit 0. The
 * read is held 500 ms; end of input follows within a 10 ms poll of its
 * arrival, so a provider that cancelled at EOF would answer -32800. */
static void test_eof_answers_in_flight(void **state) {
    th_proc *p = new_proc(state);
    assert_int_equal(th_sim_reset(&sim), 0);
    start(p, "DEBUG");
    configure(p);
    sim_delay_reads(1, 500);
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
    sim_delay_reads(1, 500);
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
/* 3. Nothing but protocol on stdout; logs on stderr                    */

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
/* 4. The command line                                                  */

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
        cmocka_unit_test_teardown(test_message_limit, destroy),
        cmocka_unit_test_teardown(test_invalid_params, destroy),
        cmocka_unit_test_teardown(test_cancel_request, destroy),
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
