/*
 * main.c - provider-cloudflare: the executable an orchestrator starts.
 *
 * It wires the layers together and owns the loop: stdin/stdout go to the
 * JSON-RPC server (protocol/), whose handlers are the provider's
 * (provider.c). When the server has answered everything after end of input
 * or a signal, the provider closes its Cloudflare client, then the server
 * closes its handles, and the loop runs dry.
 */
#include "protocol.h"
#include "provider.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "Usage: provider-cloudflare [--version | --help]\n"
    "\n"
    "A provider plugin for Cloudflare account SSO connectors. An orchestrator starts it\n"
    "as a child process and speaks JSON-RPC 2.0 to it over stdin and stdout\n"
    "(see docs/PROTOCOL.md). Logs go to stderr; set TF_LOG_PROVIDER or TF_LOG to\n"
    "TRACE, DEBUG, INFO, WARN, ERROR, OFF or JSON.\n"
    "\n"
    "Credentials: api_token in ConfigureProvider or CLOUDFLARE_API_TOKEN\n"
    "(or api_key + email, CLOUDFLARE_API_KEY + CLOUDFLARE_EMAIL).\n";

static void provider_closed(void *arg) {
    rpc_server_close(arg);
}

static void on_shutdown(rpc_server *server, void *ctx) {
    provider_close(ctx, provider_closed, server);
}

int main(int argc, char **argv) {
    /* Before anything opens a descriptor (finding 2: libuv's epoll
     * descriptor took a closed 0, 1 or 2 and the process aborted). */
    if (stdio_ensure_open() != 0)
        return 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("provider-cloudflare %s\n", PROVIDER_VERSION);
            return 0;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        fprintf(stderr, "provider-cloudflare: unknown argument '%s'\n\n%s", argv[i], usage);
        return 2;
    }
    if (isatty(STDIN_FILENO)) {
        fputs("This is a provider plugin for Cloudflare SSO connectors. It is started by an\n"
              "infrastructure orchestrator, which talks to it over stdin/stdout; it is not\n"
              "meant to be run by hand. Try --help.\n",
              stderr);
        return 1;
    }
    log_configure_from_env();
    /* libcurl is not initialised here: the Cloudflare client does it when
     * ConfigureProvider creates it (http_client_new() takes a reference on
     * curl_global_init and gives it back when it has closed), so a process
     * that only answers GetProviderSchema or validation never pays for
     * OpenSSL's start-up, and the exit path cleans up exactly what was
     * initialised. */

    uv_loop_t loop;
    int rc = uv_loop_init(&loop);
    provider *prov = NULL;
    rpc_server *server = NULL;
    if (rc == 0)
        rc = provider_new(&loop, &prov);
    if (rc == 0) {
        rpc_server_options opts = {
            .ctx = prov,
            .in_fd = STDIN_FILENO,
            .out_fd = STDOUT_FILENO,
            .handle_signals = true,
            /* Four times the Cloudflare client's 64 transfers: enough to
             * keep every connection busy; later requests wait as text. */
            .max_in_flight = 256,
            .on_shutdown = on_shutdown,
        };
        opts.methods = provider_methods(&opts.method_count);
        rc = rpc_server_new(&loop, &opts, &server);
    }
    if (rc == 0)
        rc = rpc_server_start(server);
    if (rc < 0) {
        log_error("provider", "cannot start: %s", uv_strerror(rc));
        /* Handles set up before the failure are already closing: let their
         * close callbacks run. */
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&loop);
    if (rc != 0)
        log_error("provider", "event loop closed with handles still open: %s", uv_strerror(rc));
    return rc == 0 ? 0 : 1;
}
