/*
 * protocol.h - the provider's wire layer: framing, JSON-RPC 2.0 dispatch,
 * the stdio transport on libuv, and logging to stderr.
 *
 * Data flows one way: stdin -> framing decoder -> JSON-RPC parser ->
 * method table -> handler. A handler receives an rpc_request and answers it
 * exactly once, now or later (handlers may be asynchronous), with
 * rpc_respond_new() or rpc_respond_error_new(). The server keeps reading stdin while
 * handlers run, so requests are worked on concurrently and answered as each
 * finishes (responses may come out of order).
 *
 * Built in, not in the method table: "$/cancelRequest" (marks one in-flight
 * request cancelled and calls its cancel callback) and "StopProvider"
 * (cancels every in-flight request, answers once they have all been
 * answered). End of stdin and SIGINT/SIGTERM end the server: in-flight
 * requests are answered (after cancelling them, for signals), stdout is
 * flushed, and the on_shutdown callback runs.
 *
 * The client half, rpc_client, is the orchestrator's side of the same
 * protocol: it starts a provider as a child process over pipes, sends
 * requests with fresh ids and matches the answers (see its section below).
 *
 * Ownership follows jansson's rules, one for the whole tree: a function
 * that takes over (steals) a json_t reference says so in its name, ending
 * in _new as json_object_set_new() does (rpc_respond_new(req,
 * json_pack(...)) hands the result over, even when it fails); every other
 * function borrows its json_t arguments. "Borrowed" results are valid for
 * the stated time and must not be decref'd.
 */
#ifndef PROTOCOL_H
#define PROTOCOL_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "log.h"

/* ------------------------------------------------------------------ */
/* Process start-up                                                    */
/* ------------------------------------------------------------------ */

/* Call first thing in main(), before any file or loop is opened. Points a
 * closed descriptor 0-2 at /dev/null so no later open takes its number (a
 * closed stderr then just discards logs). Returns 0, or UV_EBADF when stdin
 * or stdout was closed (logged on stderr if that is open; the caller should
 * exit 1), or another negative libuv code if /dev/null cannot be opened. */
int stdio_ensure_open(void);

/* ------------------------------------------------------------------ */
/* JSON-RPC 2.0 server                                                 */
/* ------------------------------------------------------------------ */

enum {
    RPC_PARSE_ERROR = -32700,
    RPC_INVALID_REQUEST = -32600,
    RPC_METHOD_NOT_FOUND = -32601,
    RPC_INVALID_PARAMS = -32602,
    RPC_INTERNAL_ERROR = -32603,
    RPC_REQUEST_CANCELLED = -32800,
};

#define RPC_DEFAULT_MAX_MESSAGE ((size_t)16 * 1024 * 1024)

typedef struct rpc_server rpc_server;
typedef struct rpc_request rpc_request;

/* A method handler. `params` is borrowed and stays valid until the request
 * is answered (it is the request's "params" member, or an empty object when
 * the request had none). The handler must answer the request exactly once,
 * before returning or later from a libuv callback. */
typedef void (*rpc_handler)(rpc_request *req, json_t *params, void *ctx);

typedef struct rpc_method {
    const char *name;
    rpc_handler handler;
} rpc_method;

/* The default of rpc_server_options.max_in_flight. */
#define RPC_DEFAULT_MAX_IN_FLIGHT 1024u

typedef struct rpc_server_options {
    const rpc_method *methods; /* the dispatch table; borrowed for the server's life */
    size_t method_count;
    void *ctx;               /* passed to every handler */
    size_t max_message_size; /* 0 means RPC_DEFAULT_MAX_MESSAGE */
    /* Requests running at once; past it, messages read wait as text (see
     * server.c, "The bounds"). 0 means RPC_DEFAULT_MAX_IN_FLIGHT. A server
     * whose handlers feed a narrower resource (the provider: 64 HTTP
     * transfers) sets a lower one: a waiting message costs its text, a
     * running one its parsed form and its handler's state. */
    size_t max_in_flight;
    uv_file in_fd;       /* usually 0 */
    uv_file out_fd;      /* usually 1 */
    bool handle_signals; /* SIGINT/SIGTERM shut the server down */
    /* Called once, after the input ended (EOF or signal), every request was
     * answered and stdout was flushed. The owner typically closes its other
     * handles here, then calls rpc_server_close(). May be NULL. */
    void (*on_shutdown)(rpc_server *server, void *ctx);
} rpc_server_options;

/* Creates a server on `loop`. Nothing is read until rpc_server_start().
 * Returns 0 or a negative libuv error code. */
int rpc_server_new(uv_loop_t *loop, const rpc_server_options *opts, rpc_server **out);
/* Starts reading input. Returns 0 or a negative libuv error code. */
int rpc_server_start(rpc_server *server);
/* Ends the session as a signal does: stop reading, cancel every in-flight
 * request, wait for their answers, flush, call on_shutdown. */
void rpc_server_shutdown(rpc_server *server);
/* Closes the server's handles; memory is released in their close callbacks,
 * so run the loop afterwards. Call after on_shutdown (or before start). */
void rpc_server_close(rpc_server *server);

/* Counters and limits, for tests and benchmarks (see server.c for the
 * bounds and docs/PROTOCOL.md). */
typedef struct rpc_server_stats {
    size_t in_flight, in_flight_peak; /* requests dispatched, unanswered */
    size_t max_in_flight;             /* past it, messages read wait */
    size_t waiting, waiting_bytes;    /* messages waiting; their bytes as counted */
    size_t waiting_bytes_peak;
    size_t max_waiting_bytes; /* reading pauses at this */
    uint64_t reads;           /* chunks read from the input */
    uint64_t writes;          /* writes to the output (each may hold many answers) */
    size_t output_backlog, output_backlog_peak; /* bytes waiting to be written */
    size_t output_high_water;                   /* reading pauses past this */
} rpc_server_stats;
void rpc_server_get_stats(const rpc_server *server, rpc_server_stats *out);

/* The request's method name; borrowed, valid until answered. */
const char *rpc_request_method(const rpc_request *req);
/* The request's id, exactly as received (a number or a string); borrowed,
 * valid until answered. */
json_t *rpc_request_id(const rpc_request *req);

/* Answers with a result object. `result` is stolen. Frees the request. */
void rpc_respond_new(rpc_request *req, json_t *result);
/* Answers with a JSON-RPC error. `data` (may be NULL) is stolen.
 * Frees the request. */
void rpc_respond_error_new(rpc_request *req, int code, const char *message, json_t *data);

/* True once "$/cancelRequest" named this request, or StopProvider or a
 * signal cancelled everything. */
bool rpc_request_is_cancelled(const rpc_request *req);

/* Registers the function to call when the request is cancelled; it runs at
 * most once, on the loop thread, and only while the request is unanswered.
 * The handler then answers as it sees fit: -32800 if it had done nothing,
 * or its result (and diagnostics) if it had changed something. Pass
 * cb == NULL to unregister. */
typedef void (*rpc_cancel_cb)(rpc_request *req, void *arg);
void rpc_request_on_cancel(rpc_request *req, rpc_cancel_cb cb, void *arg);

/* ------------------------------------------------------------------ */
/* JSON-RPC 2.0 client: a provider as a child process                  */
/* ------------------------------------------------------------------ */

/*
 * The orchestrator's side (the Terraform bridge, the demo, tests). The
 * client starts the provider with uv_spawn, its stdin and stdout on pipes,
 * and calls its methods: every call gets a fresh integer id and its callback
 * runs exactly once, with the provider's result or error, or with one of the
 * client-side errors below. Many calls may be in flight; answers are matched
 * by id in whatever order they come. Requests are sent in newline framing.
 *
 * The child's stderr is ours (inherited) unless on_stderr_line is given: it
 * is then read from a pipe and handed over line by line.
 *
 * When the child exits, the client first reads what it wrote up to the end,
 * so answers written just before the exit still arrive; every call still
 * pending then ends with RPC_CLIENT_CHILD_EXITED, and on_exit runs. From the
 * moment the child is known to be exiting (or its stdin is closed), calls
 * fail at once with a negative return and no callback.
 *
 * Nothing the client logs contains params or results (they carry tokens);
 * method names and ids are logged at DEBUG and TRACE only. SIGPIPE is ignored
 * process-wide, so a write to a dead child fails with EPIPE instead of
 * killing the process.
 */

/* Client-side error codes, below JSON-RPC's reserved -32768..-32000 and the
 * -32899..-32800 that LSP (and the contract's -32800) use. The call got no
 * answer from the provider. */
enum {
    /* The provider exited, or closed its stdout, before answering. The
     * message says how ("provider exited with status 1", "provider killed
     * by signal 9"); data is {"exit_status": N, "term_signal": S} when it
     * exited. */
    RPC_CLIENT_CHILD_EXITED = -33000,
    /* The request could not be written to the provider's stdin (it stopped
     * reading it) and the provider did not exit soon after. */
    RPC_CLIENT_SEND_FAILED = -33001,
    /* rpc_client_close() ended the call. */
    RPC_CLIENT_CLOSED = -33002,
    /* The answer was over max_message_size, or not a valid JSON-RPC
     * response, and its id could still be read. */
    RPC_CLIENT_BAD_ANSWER = -33003,
};

#define RPC_CLIENT_DEFAULT_MAX_MESSAGE     ((size_t)64 * 1024 * 1024)
#define RPC_CLIENT_DEFAULT_MAX_STDERR_LINE ((size_t)64 * 1024)
#define RPC_CLIENT_DEFAULT_EXIT_GRACE_MS   2000u

typedef struct rpc_client rpc_client;

/* An error answer. Everything is borrowed, valid during the callback. */
typedef struct rpc_client_error {
    int code;            /* the provider's code, or an RPC_CLIENT_* code */
    const char *message; /* never NULL */
    json_t *data;        /* "data", or NULL when there is none */
} rpc_client_error;

/* The answer to one call: exactly one of `result` and `error` is non-NULL.
 * `result` is borrowed (json_incref it to keep it) and may be a JSON null.
 * The callback may call any rpc_client function, rpc_client_close()
 * included. */
typedef void (*rpc_client_cb)(rpc_client *client, int64_t id, json_t *result,
                              const rpc_client_error *error, void *arg);

typedef struct rpc_client_options {
    /* The program and its arguments, NULL-terminated; argv[0] is a path, or
     * a name looked up in PATH. Used only during rpc_client_spawn(). */
    const char *const *argv;
    /* "NAME=value" entries (NULL-terminated) set in the child's environment
     * on top of ours; an entry without '=' removes that variable. NULL: our
     * environment as it is. Used only during rpc_client_spawn(). */
    const char *const *env;
    const char *cwd; /* NULL: ours */
    /* Start the child in a session (and process group) of its own, so that
     * signals a terminal sends to our group (Ctrl-C) do not reach it: the
     * owner decides how to stop it. */
    bool new_session;
    /* The largest answer read, in bytes; 0 means
     * RPC_CLIENT_DEFAULT_MAX_MESSAGE. A longer line is logged and skipped. */
    size_t max_message_size;
    /* Called with each line the child writes to stderr (borrowed,
     * NUL-terminated, without its newline; a line longer than
     * max_stderr_line is cut to that length, and then masked with
     * log_redact_cut_text(), which may shorten it further so that no
     * prefix of a registered secret survives the cut). NULL: the child
     * writes to our stderr directly. */
    void (*on_stderr_line)(rpc_client *client, const char *line, size_t len, void *arg);
    size_t max_stderr_line; /* 0 means RPC_CLIENT_DEFAULT_MAX_STDERR_LINE */
    /* How long to wait, once the child has exited or closed its output (or
     * stopped reading its input), for the other end before failing the
     * calls still pending; 0 means RPC_CLIENT_DEFAULT_EXIT_GRACE_MS. */
    unsigned exit_grace_ms;
    /* Called once when the child has exited, after every call still pending
     * was answered RPC_CLIENT_CHILD_EXITED. term_signal is 0 unless a signal
     * ended it. Not called after rpc_client_close(). May be NULL. */
    void (*on_exit)(rpc_client *client, int64_t exit_status, int term_signal, void *arg);
    void *arg; /* passed to on_stderr_line and on_exit */
} rpc_client_options;

/* Starts the child on `loop`. Returns 0 and sets *out, or a negative libuv
 * error code (UV_ENOENT for a program that does not exist, ...): nothing is
 * left for the caller to close, but handles set up meanwhile are being
 * closed, so run the loop before uv_loop_close(). */
int rpc_client_spawn(uv_loop_t *loop, const rpc_client_options *opts, rpc_client **out);

/* Sends {"jsonrpc":"2.0","id":<fresh>,"method":method,"params":params}.
 * `params` (an object or an array; NULL sends {}) is stolen, even on
 * failure. Returns 0, setting *id_out (may be NULL) to the call's id, and cb
 * runs later, exactly once. Returns UV_EPIPE once the child's input is closed
 * or the child is exiting, UV_EINVAL for bad arguments or a closing client,
 * UV_ENOMEM; cb is then never called. */
int rpc_client_call_new(rpc_client *client, const char *method, json_t *params, rpc_client_cb cb,
                        void *arg, int64_t *id_out);

/* Sends the "$/cancelRequest" notification for pending call `id`. The call
 * stays pending: its answer still comes (often -32800). Returns 0,
 * UV_ENOENT when the call is not pending (already answered), or an error as
 * rpc_client_notify_new(). */
int rpc_client_cancel(rpc_client *client, int64_t id);

/* Sends a notification (no id, no answer). `params` as for
 * rpc_client_call_new(), stolen. Returns 0 or a negative libuv error code. */
int rpc_client_notify_new(rpc_client *client, const char *method, json_t *params);

/* Closes the child's stdin once every request queued so far is written: the
 * provider then answers what it has and exits. Pending calls still get
 * their answers; new ones fail with UV_EPIPE. Returns 0 (also when already
 * closed), or UV_EINVAL on a closing client. */
int rpc_client_close_input(rpc_client *client);

/* Sends `signum` to the child. Returns 0, UV_ESRCH once it has exited, or
 * another negative libuv error code. */
int rpc_client_kill(rpc_client *client, int signum);

/* The child's process id. */
int rpc_client_pid(const rpc_client *client);
/* The number of calls waiting for their answer. */
size_t rpc_client_pending(const rpc_client *client);

/* Ends the client. Every pending call is answered RPC_CLIENT_CLOSED now,
 * before this returns; no other callback runs afterwards. A child still
 * running is killed (SIGKILL) and reaped: for a clean stop, call
 * rpc_client_close_input() and wait for on_exit first. Memory is released
 * in the handles' close callbacks; `on_closed` (may be NULL) runs after
 * that, once the client is freed. Run the loop until then. */
void rpc_client_close(rpc_client *client, void (*on_closed)(void *arg), void *arg);

#endif /* PROTOCOL_H */
