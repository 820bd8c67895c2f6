/*
 * h2server.h - a gRPC server over HTTP/2 on a libuv loop: the listener,
 * its connections (plaintext h2c or TLS through tls.h), and one grpc_call
 * per request stream (internal to the bridge).
 *
 * The server knows no service: every request whose body has ended is handed
 * to one dispatch callback with its path and its message, and answered
 * later (or at once) with grpc_call_reply() or grpc_call_fail(). Calls are
 * independent: many are in flight at once on one connection and are
 * answered in any order. A call that is never answered (a stream the client
 * keeps open, like go-plugin's broker) simply stays open until the client
 * resets it or the connection ends.
 *
 * Lifetimes: a grpc_call belongs to its connection. After the dispatch
 * callback, the handler may keep the call pointer until it answers, or
 * until the call's cancel callback runs (the client reset the stream or the
 * connection closed); after either, the pointer is dead. A handler that
 * answers later must therefore register a cancel callback.
 *
 * Closing: h2_server_close() stops reading at once (a request that had not
 * ended is never dispatched), so the dispatch context may be freed as soon
 * as its own calls are settled; the connections close once what they have
 * to send is written.
 *
 * Limits: a request message is capped (max_message) and the bytes buffered
 * for unanswered requests on one connection are capped too; past either the
 * call is failed with RESOURCE_EXHAUSTED. Garbage that is not HTTP/2, or a
 * TLS failure, closes that connection only, with the reason logged.
 */
#ifndef TFBRIDGE_H2SERVER_H
#define TFBRIDGE_H2SERVER_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct h2_server h2_server;
typedef struct grpc_call grpc_call;

/* A complete request: `path` ("/tfplugin6.Provider/ReadResource") is
 * borrowed while the call lives; the message bytes only during this
 * callback (they are freed when it returns). */
typedef void (*grpc_dispatch_cb)(grpc_call *call, const char *path, const uint8_t *msg, size_t len,
                                 void *ctx);

typedef struct h2_server_options {
    SSL_CTX *tls;        /* NULL: plaintext HTTP/2 with prior knowledge */
    size_t max_message;  /* one request message; 0 means 16 MiB */
    size_t max_buffered; /* request bytes held per connection; 0 means 64 MiB */
    grpc_dispatch_cb dispatch;
    /* Every connection that served a request has closed (Terraform ended
     * the session without Shutdown, or died). May be NULL. */
    void (*on_idle)(h2_server *server, void *idle_arg);
    void *ctx;      /* passed to dispatch */
    void *idle_arg; /* passed to on_idle */
} h2_server_options;

/* Listens on a unix socket at `path` (created; removed by h2_server_close).
 * Returns 0 or a negative libuv error code. */
int h2_server_listen_unix(uv_loop_t *loop, const char *path, const h2_server_options *opts,
                          h2_server **out);
/* Listens on 127.0.0.1 at an ephemeral port, stored in *port. */
int h2_server_listen_tcp(uv_loop_t *loop, const h2_server_options *opts, h2_server **out,
                         int *port);

/* Stops accepting; tells every connection GOAWAY and closes each once what
 * it has to send is written. Unanswered calls get their cancel callbacks.
 * `on_closed` runs when every handle is closed and the server is freed. */
void h2_server_close(h2_server *server, void (*on_closed)(void *arg), void *arg);

/* Answers OK with one message (copied). */
void grpc_call_reply(grpc_call *call, const uint8_t *msg, size_t len);
/* Answers with an error status; `message` may be NULL. */
void grpc_call_fail(grpc_call *call, int status, const char *message);
/* Registers the function to run if the call ends unanswered. */
void grpc_call_on_cancel(grpc_call *call, void (*cb)(grpc_call *call, void *arg), void *arg);
/* The request path; borrowed, valid while the call is. */
const char *grpc_call_path(const grpc_call *call);

#endif /* TFBRIDGE_H2SERVER_H */
