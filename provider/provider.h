/*
 * provider.h - the provider: its JSON-RPC method table and its lifetime.
 *
 * The provider is the rpc_server's context. It answers the schema and
 * validation methods at once, and turns ReadResource, ApplyResourceChange,
 * ImportResourceState, ReadDataSource and ListResource into asynchronous
 * Cloudflare API calls once ConfigureProvider has set up the client.
 */
#ifndef PROVIDER_H
#define PROVIDER_H

#include "protocol.h"

#include <uv.h>

typedef struct provider provider;

/* Creates an unconfigured provider on `loop`. Returns 0 or UV_ENOMEM. */
int provider_new(uv_loop_t *loop, provider **out);

/* The method table to hand to rpc_server_new(); static, never freed. */
const rpc_method *provider_methods(size_t *count);

/* Releases the provider: closes its Cloudflare client (in-flight calls end
 * cancelled), then frees it and calls `on_closed` (may be NULL). */
void provider_close(provider *p, void (*on_closed)(void *arg), void *arg);

#endif /* PROVIDER_H */
