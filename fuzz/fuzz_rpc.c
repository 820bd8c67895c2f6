/*
 * fuzz_rpc.c - JSON-RPC requests through the real server into the real
 * method handlers: bytes in, as an orchestrator would write them to the
 * provider's stdin.
 *
 * Each input becomes a fresh session: a new loop, an unconfigured
 * provider, and an rpc_server with the provider's method table reading the
 * input from a memory file (memfd: a regular file, so the transport's
 * uv_fs path reads it to its end, then end of input shuts the session down
 * as EOF on stdin does) and writing its answers to /dev/null. The loop runs
 * until the server has answered everything, the provider has closed and
 * every handle is gone; a handle left open is a bug (abort).
 *
 * No network: the harness wraps ConfigureProvider so that whatever the
 * input configures, base_url is http://127.0.0.1:1 (nothing listens on
 * port 1: a connection is refused at once), max_retries is 0 and max_rps
 * is unset. Every other attribute stays as fuzzed. Methods that call the
 * API (ReadResource, ImportResourceState with a valid id, ...) thus run
 * their failure paths, fast.
 */
#include "fuzz.h"
#include "log.h"
#include "protocol.h"
#include "provider.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static rpc_method methods[32];
static size_t method_count;
static rpc_handler real_configure;

/* ConfigureProvider, pointed at a port where nothing listens. `params` is
 * the request's own (borrowed) and changed in place. */
static void configure_offline(rpc_request *req, json_t *params, void *ctx) {
    json_t *config = json_object_get(params, "config");
    if (json_is_object(config)) {
        json_object_set_new(config, "base_url", json_string("http://127.0.0.1:1"));
        json_object_set_new(config, "max_retries", json_integer(0));
        json_object_del(config, "max_rps");
    }
    real_configure(req, params, ctx);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    setenv("TF_LOG_PROVIDER", "OFF", 1);
    log_configure_from_env();
    /* Credentials come from the input only. */
    unsetenv("CLOUDFLARE_API_TOKEN");
    unsetenv("CLOUDFLARE_API_KEY");
    unsetenv("CLOUDFLARE_EMAIL");
    unsetenv("CLOUDFLARE_BASE_URL");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        abort();
    size_t count;
    const rpc_method *table = provider_methods(&count);
    if (count > sizeof(methods) / sizeof(methods[0]))
        abort();
    for (size_t i = 0; i < count; i++) {
        methods[i] = table[i];
        if (strcmp(table[i].name, "ConfigureProvider") == 0) {
            real_configure = table[i].handler;
            methods[i].handler = configure_offline;
        }
    }
    if (!real_configure)
        abort();
    method_count = count;
    return 0;
}

static void provider_closed(void *arg) {
    rpc_server_close(arg);
}

static void on_shutdown(rpc_server *server, void *ctx) {
    provider_close(ctx, provider_closed, server);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!method_count)
        LLVMFuzzerInitialize(NULL, NULL);
    int in = memfd_create("fuzz_rpc_input", MFD_CLOEXEC);
    int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (in < 0 || out < 0)
        abort();
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(in, data + done, size - done);
        if (n <= 0)
            abort();
        done += (size_t)n;
    }
    if (lseek(in, 0, SEEK_SET) != 0)
        abort();

    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        abort();
    provider *prov = NULL;
    rpc_server *server = NULL;
    if (provider_new(&loop, &prov) != 0)
        abort();
    rpc_server_options opts = {
        .methods = methods,
        .method_count = method_count,
        .ctx = prov,
        .in_fd = in,
        .out_fd = out,
        .on_shutdown = on_shutdown,
    };
    if (rpc_server_new(&loop, &opts, &server) != 0 || rpc_server_start(server) != 0)
        abort();
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
        fprintf(stderr, "fuzz_rpc: a handle outlived the session\n");
        abort();
    }
    close(in);
    close(out);
    return 0;
}
