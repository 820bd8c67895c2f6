/*
 * rpc_testd.c - a JSON-RPC server on stdin/stdout built on the real protocol
 * library, for the end-to-end tests. Methods:
 *
 *   echo     answers its params at once
 *   sleep    {"ms": N, "cancellable": bool = true}: answers {"slept": N}
 *            after N ms from a uv timer; when cancellable, registers a cancel
 *            callback that stops the timer and answers -32800
 *   fail     {"code": C = -32603, "message"?}: answers that JSON-RPC error
 *   log      {"message": "...", "secret"?: "..."}: registers the secret (if
 *            given), then logs the message at WARN
 *   shutdown answers {} and then calls rpc_server_shutdown()
 *   big      {"bytes": N}: answers {"data": "xxx..."} with N bytes of data
 *            (an answer much larger than its request, for the batch
 *            output cap)
 *   garbage  {"text": "..." = "this is not JSON"}: writes text and "\n"
 *            straight to stdout with write(2), bypassing the server, then
 *            answers {}: lets a client's tests see lines that are not
 *            answers to anything. Only safe while no other answer is being
 *            written (the tests send it alone).
 *   stats    answers the server's counters and limits (rpc_server_get_stats:
 *            in flight, waiting, reads, writes, output backlog, and their
 *            peaks), so tests can check the bounds from outside
 *
 * Each request is logged at DEBUG. Options: --secret S registers S at start
 * and logs a WARN line containing it; --max-message N sets the size limit.
 * Exits 0 only when the loop closes cleanly (uv_loop_close() == 0).
 */
#include "protocol.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODULE "testd"

static rpc_server *g_server;

typedef struct sleeper {
    uv_timer_t timer;
    rpc_request *req; /* NULL once answered */
    json_int_t ms;
} sleeper;

static void sleeper_closed(uv_handle_t *h) {
    free(h->data);
}

static void sleep_fired(uv_timer_t *t) {
    sleeper *sl = t->data;
    rpc_request *req = sl->req;
    sl->req = NULL;
    rpc_request_on_cancel(req, NULL, NULL);
    rpc_respond_new(
        req, json_pack("{s:I, s:b}", "slept", sl->ms, "cancelled", rpc_request_is_cancelled(req)));
    uv_close((uv_handle_t *)&sl->timer, sleeper_closed);
}

static void sleep_cancelled(rpc_request *req, void *arg) {
    sleeper *sl = arg;
    uv_timer_stop(&sl->timer);
    sl->req = NULL;
    log_debug(MODULE, "sleep cancelled");
    rpc_respond_error_new(req, RPC_REQUEST_CANCELLED, NULL, NULL);
    uv_close((uv_handle_t *)&sl->timer, sleeper_closed);
}

/* Every handler logs its request at DEBUG (TF_LOG decides if it shows). */
static void log_request(rpc_request *req) {
    char *id = json_dumps(rpc_request_id(req), JSON_ENCODE_ANY | JSON_COMPACT);
    log_debug(MODULE, "handling %s id=%s", rpc_request_method(req), id ? id : "none");
    free(id);
}

static void do_echo(rpc_request *req, json_t *params, void *ctx) {
    (void)ctx;
    log_request(req);
    rpc_respond_new(req, json_incref(params));
}

static void do_big(rpc_request *req, json_t *params, void *ctx) {
    (void)ctx;
    log_request(req);
    json_int_t n = json_integer_value(json_object_get(params, "bytes"));
    if (n < 0 || n > 64 * 1024 * 1024) {
        rpc_respond_error_new(req, RPC_INVALID_PARAMS, NULL, json_string("bytes: 0 to 64 MiB"));
        return;
    }
    char *data = malloc((size_t)n + 1);
    if (!data) {
        rpc_respond_new(req, NULL);
        return;
    }
    memset(data, 'x', (size_t)n);
    data[n] = '\0';
    rpc_respond_new(req, json_pack("{s:s%}", "data", data, (size_t)n));
    free(data);
}

static void do_sleep(rpc_request *req, json_t *params, void *ctx) {
    uv_loop_t *loop = ctx;
    log_request(req);
    json_t *ms = json_object_get(params, "ms");
    if (!json_is_integer(ms) || json_integer_value(ms) < 0) {
        rpc_respond_error_new(req, RPC_INVALID_PARAMS, NULL, json_string("ms must be an integer"));
        return;
    }
    sleeper *sl = calloc(1, sizeof(*sl));
    if (!sl) {
        rpc_respond_error_new(req, RPC_INTERNAL_ERROR, NULL, NULL);
        return;
    }
    sl->req = req;
    sl->ms = json_integer_value(ms);
    uv_timer_init(loop, &sl->timer);
    sl->timer.data = sl;
    uv_timer_start(&sl->timer, sleep_fired, (uint64_t)sl->ms, 0);
    if (!json_is_false(json_object_get(params, "cancellable")))
        rpc_request_on_cancel(req, sleep_cancelled, sl);
}

static void do_fail(rpc_request *req, json_t *params, void *ctx) {
    (void)ctx;
    log_request(req);
    json_t *code = json_object_get(params, "code");
    json_t *message = json_object_get(params, "message");
    rpc_respond_error_new(
        req, json_is_integer(code) ? (int)json_integer_value(code) : RPC_INTERNAL_ERROR,
        json_string_value(message), NULL);
}

static void do_log(rpc_request *req, json_t *params, void *ctx) {
    (void)ctx;
    log_request(req);
    const char *secret = json_string_value(json_object_get(params, "secret"));
    if (secret)
        log_add_secret(secret);
    const char *message = json_string_value(json_object_get(params, "message"));
    log_warn(MODULE, "log method: %s", message ? message : "(no message)");
    rpc_respond_new(req, json_object());
}

/* Writes all of text to stdout, which libuv made non-blocking: waits for
 * room when the pipe is full. */
static void write_raw(const char *text, size_t len) {
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, text, len);
        if (n > 0) {
            text += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd pfd = {.fd = STDOUT_FILENO, .events = POLLOUT};
            poll(&pfd, 1, 1000);
        } else if (n < 0 && errno != EINTR) {
            return;
        }
    }
}

static void do_garbage(rpc_request *req, json_t *params, void *ctx) {
    (void)ctx;
    log_request(req);
    const char *text = json_string_value(json_object_get(params, "text"));
    if (!text)
        text = "this is not JSON";
    write_raw(text, strlen(text));
    write_raw("\n", 1);
    rpc_respond_new(req, json_object());
}

static void do_shutdown(rpc_request *req, json_t *params, void *ctx) {
    (void)params;
    (void)ctx;
    log_request(req);
    rpc_respond_new(req, json_object());
    rpc_server_shutdown(g_server);
}

static void do_stats(rpc_request *req, json_t *params, void *ctx) {
    (void)params;
    (void)ctx;
    rpc_server_stats st;
    rpc_server_get_stats(g_server, &st);
    rpc_respond_new(
        req, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "in_flight",
                       (json_int_t)st.in_flight, "in_flight_peak", (json_int_t)st.in_flight_peak,
                       "max_in_flight", (json_int_t)st.max_in_flight, "waiting",
                       (json_int_t)st.waiting, "waiting_bytes", (json_int_t)st.waiting_bytes,
                       "waiting_bytes_peak", (json_int_t)st.waiting_bytes_peak, "max_waiting_bytes",
                       (json_int_t)st.max_waiting_bytes, "reads", (json_int_t)st.reads, "writes",
                       (json_int_t)st.writes, "output_backlog", (json_int_t)st.output_backlog,
                       "output_backlog_peak", (json_int_t)st.output_backlog_peak,
                       "output_high_water", (json_int_t)st.output_high_water));
}

static const rpc_method methods[] = {
    {"echo", do_echo},         {"sleep", do_sleep},     {"fail", do_fail}, {"log", do_log},
    {"shutdown", do_shutdown}, {"garbage", do_garbage}, {"big", do_big},   {"stats", do_stats},
};

static void on_shutdown(rpc_server *server, void *ctx) {
    (void)ctx;
    log_debug(MODULE, "shutdown: closing the server");
    rpc_server_close(server);
}

int main(int argc, char **argv) {
    size_t max_message = 0, max_in_flight = 0;
    const char *secret = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--secret") == 0 && i + 1 < argc) {
            secret = argv[++i];
        } else if (strcmp(argv[i], "--max-message") == 0 && i + 1 < argc) {
            max_message = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--max-in-flight") == 0 && i + 1 < argc) {
            max_in_flight = (size_t)strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr,
                    "usage: rpc-testd [--secret S] [--max-message N] [--max-in-flight N]\n");
            return 2;
        }
    }
    log_configure_from_env();
    if (secret) {
        log_add_secret(secret);
        log_warn(MODULE, "configured with secret %s (must be masked)", secret);
    }

    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return 1;
    rpc_server_options opts = {
        .methods = methods,
        .method_count = sizeof(methods) / sizeof(methods[0]),
        .ctx = &loop,
        .max_message_size = max_message,
        .max_in_flight = max_in_flight,
        .in_fd = 0,
        .out_fd = 1,
        .handle_signals = true,
        .on_shutdown = on_shutdown,
    };
    int rc = rpc_server_new(&loop, &opts, &g_server);
    if (rc == 0)
        rc = rpc_server_start(g_server);
    if (rc) {
        fprintf(stderr, "rpc-testd: cannot start: %s\n", uv_strerror(rc));
        if (g_server)
            rpc_server_close(g_server);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&loop);
    log_clear_secrets();
    if (rc != 0) {
        fprintf(stderr, "rpc-testd: uv_loop_close: %s\n", uv_strerror(rc));
        return 3;
    }
    return 0;
}
