/*
 * bridge.h - Terraform's provider calls translated to the JSON-RPC contract
 * (internal to the bridge).
 *
 * The bridge owns the provider child (an rpc_client) and the schema it
 * announced. Each gRPC call that h2server.c dispatches is decoded
 * (protobuf, then msgpack values to JSON through the schema's types), sent
 * to the child as the contract's method of the same name, and its answer is
 * encoded back (JSON values to msgpack, diagnostics and attribute paths to
 * protobuf). The type names gain the provider's prefix on Terraform's side.
 *
 * Failures never become gRPC errors where Terraform shows diagnostics: a
 * value Terraform sent that does not fit the schema, a child that exited or
 * does not answer in time, an answer that does not fit the schema, all come
 * back as error diagnostics in an OK answer. gRPC statuses are left for what
 * is not a provider call at all (an unknown method, bytes that are not the
 * method's protobuf message).
 *
 * go-plugin's side services are answered here too: Shutdown (then the
 * owner is told to end the process), the broker and stdio streams (held
 * open, silent), and the health check (SERVING).
 */
#ifndef TFBRIDGE_BRIDGE_H
#define TFBRIDGE_BRIDGE_H

#include "h2server.h"

#include <stdint.h>
#include <uv.h>

typedef struct bridge bridge;

typedef struct bridge_options {
    const char *const *child_argv; /* the provider executable and its arguments */
    const char *type_prefix;       /* "cloudflare_" */
    /* Seconds a call may wait for the child's answer before it is answered
     * with an error diagnostic (a hung child never hangs Terraform); 0 means
     * BRIDGE_DEFAULT_CALL_TIMEOUT. */
    double call_timeout;
    /* Terraform asked us to end (GRPCController/Shutdown). Called once,
     * after the Shutdown answer is queued. */
    void (*on_shutdown)(void *arg);
    void *arg;
} bridge_options;

#define BRIDGE_DEFAULT_CALL_TIMEOUT 3600.0

/* Starts the child and asks it for its schema. Calls that arrive before the
 * schema wait for it. Returns 0 or a negative libuv code (the child could
 * not be started; nothing to close). */
int bridge_new(uv_loop_t *loop, const bridge_options *opts, bridge **out);

/* The h2_server dispatch callback; ctx is the bridge. */
void bridge_dispatch(grpc_call *call, const char *path, const uint8_t *msg, size_t len, void *ctx);

/* Ends the child: its stdin is closed (it answers what it has and exits),
 * and after `grace_ms` it is killed. Calls still waiting are answered with
 * errors. `on_closed` runs once the child is gone and the bridge is freed. */
void bridge_close(bridge *b, unsigned grace_ms, void (*on_closed)(void *arg), void *arg);

#endif /* TFBRIDGE_BRIDGE_H */
