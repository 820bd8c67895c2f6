/*
 * protocol.h - the provider's wire layer: framing, JSON-RPC 2.0 dispatch,
 * the stdio transport on libuv, and logging to stderr.
 *
 * Data flows one way: stdin -> framing decoder -> JSON-RPC parser ->
 * method table -> handler. A handler receives an rpc_request and answers it
 * exactly once, now or later (handlers may be asynchronous), with
 * rpc_respond() or rpc_respond_error(). The server keeps reading stdin while
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
 * Ownership follows jansson's rules: "borrowed" references are valid for the
 * stated time and must not be decref'd; "stolen" arguments belong to the
 * callee even when it fails.
 */
#ifndef PROTOCOL_H
#define PROTOCOL_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/* ------------------------------------------------------------------ */
/* Logging: one line per message on stderr, never on stdout.           */
/* ------------------------------------------------------------------ */

typedef enum log_level {
    LOG_LEVEL_TRACE = 0,
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
    LOG_LEVEL_OFF,
} log_level;

/* Reads TF_LOG_PROVIDER, else TF_LOG (TRACE, DEBUG, INFO, WARN, ERROR, OFF,
 * case-insensitive; JSON means TRACE as hclog-style JSON lines). Default WARN,
 * text lines. */
void log_configure_from_env(void);
void log_configure(log_level level, bool json);
bool log_enabled(log_level level);

/* Writes one log line if `level` is enabled. `module` names the subsystem
 * ("provider.rpc", "provider.cfapi", ...). Every registered secret that
 * appears in the formatted message is replaced by "***" before writing. */
void log_write(log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(log_level level, const char *module, const char *fmt, va_list ap);

#define log_trace(mod, ...) log_write(LOG_LEVEL_TRACE, mod, __VA_ARGS__)
#define log_debug(mod, ...) log_write(LOG_LEVEL_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...)  log_write(LOG_LEVEL_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_write(LOG_LEVEL_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_write(LOG_LEVEL_ERROR, mod, __VA_ARGS__)

/* Registers a secret (token, key) so that no log line ever contains it.
 * The string is copied. Secrets shorter than 4 bytes are ignored (they
 * would mask ordinary text). Returns 0 or UV_ENOMEM. */
int log_add_secret(const char *secret);
/* Forgets every registered secret (tests, shutdown). */
void log_clear_secrets(void);
/* Returns a new malloc'd copy of `text` with every registered secret
 * replaced by "***". The caller frees it. NULL on allocation failure. */
char *log_redact(const char *text);

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

typedef struct rpc_server_options {
    const rpc_method *methods; /* the dispatch table; borrowed for the server's life */
    size_t method_count;
    void *ctx;               /* passed to every handler */
    size_t max_message_size; /* 0 means RPC_DEFAULT_MAX_MESSAGE */
    uv_file in_fd;           /* usually 0 */
    uv_file out_fd;          /* usually 1 */
    bool handle_signals;     /* SIGINT/SIGTERM shut the server down */
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

/* The request's method name; borrowed, valid until answered. */
const char *rpc_request_method(const rpc_request *req);
/* The request's id, exactly as received (a number or a string); borrowed,
 * valid until answered. */
json_t *rpc_request_id(const rpc_request *req);

/* Answers with a result object. `result` is stolen. Frees the request. */
void rpc_respond(rpc_request *req, json_t *result);
/* Answers with a JSON-RPC error. `data` (may be NULL) is stolen.
 * Frees the request. */
void rpc_respond_error(rpc_request *req, int code, const char *message, json_t *data);

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

#endif /* PROTOCOL_H */
