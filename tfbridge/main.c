/*
 * main.c - terraform-provider-cloudflare: the process Terraform starts as
 * its provider plugin.
 *
 * Start-up follows go-plugin's server: check the magic cookie and that
 * protocol 6 is offered, ignore SIGINT (Terraform handles Ctrl-C and calls
 * StopProvider), make the AutoMTLS identity when PLUGIN_CLIENT_CERT is set,
 * start provider-cloudflare as a child, listen on a unix socket in a
 * private directory under $TMPDIR, and print the one handshake line on
 * stdout. Nothing else is ever written to stdout. Logs are hclog JSON lines
 * on stderr, which Terraform re-logs under TF_LOG; the child's own log
 * lines reach the same stderr directly.
 *
 * The process ends when Terraform calls GRPCController/Shutdown, when its
 * connection closes, or on SIGTERM: the listener and connections close, the
 * child's stdin is closed (it answers what it has and exits) and it is
 * killed if it has not exited within a second, all well inside the 2 s
 * Terraform waits before it kills us.
 */
#include "bridge.h"
#include "h2server.h"
#include "handshake.h"
#include "protocol.h"
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#define MODULE           "tfbridge"
#define PROVIDER_NAME    "cloudflare"
#define CHILD_EXE        "provider-cloudflare"
#define CHILD_GRACE_MS   1000
#define EXIT_DEADLINE_MS 1700
#define PARENT_WATCH_MS  1000

#ifndef PROVIDER_VERSION
#define PROVIDER_VERSION "0.0.0"
#endif

typedef struct app {
    uv_loop_t *loop;
    h2_server *server;
    bridge *bridge;
    uv_signal_t sigterm;
    uv_timer_t deadline;
    uv_timer_t parent_watch;
    uv_pid_t parent;
    bool exiting;
    bool server_open, bridge_open;
    char socket_dir[PATH_MAX];
    char socket_path[PATH_MAX];
} app;

static void usage(FILE *out) {
    fprintf(out,
            "terraform-provider-cloudflare %s: Terraform's provider plugin for Cloudflare SSO "
            "connectors.\n\n"
            "Terraform starts this program itself (plugin protocol 6, gRPC); it starts\n"
            "provider-cloudflare, found beside it, and translates each call to that\n"
            "provider's JSON-RPC protocol. See docs/TERRAFORM.md.\n\n"
            "Environment:\n"
            "  TF_LOG_PROVIDER, TF_LOG   log level (hclog JSON lines on stderr)\n"
            "  TFBRIDGE_PROVIDER         path of provider-cloudflare (default: beside this "
            "program)\n"
            "  TFBRIDGE_CALL_TIMEOUT     seconds a call may wait for the provider (default "
            "%.0f)\n",
            PROVIDER_VERSION, BRIDGE_DEFAULT_CALL_TIMEOUT);
}

/* The child's path: $TFBRIDGE_PROVIDER, else provider-cloudflare in the
 * folder this executable is in (make install and build/bin put them side by
 * side). */
static int child_path(char *out, size_t cap) {
    const char *env = getenv("TFBRIDGE_PROVIDER");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return 0;
    }
    char exe[PATH_MAX];
    size_t len = sizeof(exe);
    if (uv_exepath(exe, &len) != 0)
        return -1;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    int n = snprintf(out, cap, "%s/%s", exe, CHILD_EXE);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static void maybe_done(app *a) {
    if (a->server_open || a->bridge_open)
        return;
    uv_timer_stop(&a->deadline);
    uv_close((uv_handle_t *)&a->deadline, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->parent_watch, NULL);
}

static void server_closed(void *arg) {
    app *a = arg;
    a->server_open = false;
    maybe_done(a);
}

static void bridge_closed(void *arg) {
    app *a = arg;
    a->bridge_open = false;
    maybe_done(a);
}

/* The last resort: something did not close in time. Terraform kills us at
 * 2 s; leave first, tidily enough. */
static void on_deadline(uv_timer_t *t) {
    app *a = t->data;
    log_warn(MODULE, "shutdown took too long; exiting now");
    if (a->socket_path[0])
        unlink(a->socket_path);
    if (a->socket_dir[0])
        rmdir(a->socket_dir);
    _exit(0);
}

static void begin_exit(app *a, const char *why) {
    if (a->exiting)
        return;
    a->exiting = true;
    log_debug(MODULE, "exiting: %s", why);
    uv_timer_start(&a->deadline, on_deadline, EXIT_DEADLINE_MS, 0);
    uv_signal_stop(&a->sigterm);
    uv_timer_stop(&a->parent_watch);
    if (a->server && a->server_open)
        h2_server_close(a->server, server_closed, a);
    if (a->bridge && a->bridge_open)
        bridge_close(a->bridge, CHILD_GRACE_MS, bridge_closed, a);
    maybe_done(a);
}

static void on_shutdown(void *arg) {
    begin_exit(arg, "Terraform called Shutdown");
}

static void on_idle(h2_server *server, void *ctx) {
    (void)server;
    begin_exit(ctx, "Terraform closed its connection");
}

/* Terraform died without a word (SIGKILL, a crash) if we have a new
 * parent: end too, instead of lingering with our child and our socket.
 * Polled, because a connection that never made a call, or none at all,
 * would otherwise keep us alive. */
static void on_parent_watch(uv_timer_t *t) {
    app *a = t->data;
    if (uv_os_getppid() != a->parent)
        begin_exit(a, "Terraform (our parent process) is gone");
}

static void on_sigterm(uv_signal_t *s, int signum) {
    (void)signum;
    begin_exit(s->data, "SIGTERM");
}

/* TFBRIDGE_CALL_TIMEOUT in seconds, 0.001 to 1,000,000; anything else (not a
 * number, inf, out of range) is refused with a warning and the default
 * used. */
static double call_timeout_from_env(void) {
    const char *text = getenv("TFBRIDGE_CALL_TIMEOUT");
    if (!text || !*text)
        return 0;
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || !isfinite(v) || v < 0.001 || v > 1e6) {
        log_warn(MODULE,
                 "TFBRIDGE_CALL_TIMEOUT=\"%.32s\" is not a number of seconds between 0.001 and "
                 "1000000; using %.0f",
                 text, BRIDGE_DEFAULT_CALL_TIMEOUT);
        return 0;
    }
    return v;
}

/* Writes all of `data` to stdout, unbuffered. */
static int write_stdout(const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(1, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Makes the private socket directory and listens in it; falls back to TCP
 * on 127.0.0.1 when the path would not fit a unix socket address. Fills
 * network/address for the handshake line. */
static int start_listening(app *a, const h2_server_options *opts, const char **network,
                           char *address, size_t cap) {
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    snprintf(a->socket_dir, sizeof(a->socket_dir), "%s/tfbridge-XXXXXX", tmp);
    struct sockaddr_un sun;
    if (mkdtemp(a->socket_dir)) {
        int n = snprintf(a->socket_path, sizeof(a->socket_path), "%s/plugin.sock", a->socket_dir);
        if (n > 0 && (size_t)n < sizeof(sun.sun_path)) {
            int rc = h2_server_listen_unix(a->loop, a->socket_path, opts, &a->server);
            if (rc == 0) {
                *network = "unix";
                snprintf(address, cap, "%s", a->socket_path);
                return 0;
            }
            log_warn(MODULE, "cannot listen on %s: %s; using TCP", a->socket_path, uv_strerror(rc));
        }
        rmdir(a->socket_dir);
    } else {
        log_warn(MODULE, "cannot create a directory in %s: %s; using TCP", tmp, strerror(errno));
    }
    a->socket_dir[0] = a->socket_path[0] = '\0';
    int port = 0;
    int rc = h2_server_listen_tcp(a->loop, opts, &a->server, &port);
    if (rc < 0)
        return rc;
    *network = "tcp";
    snprintf(address, cap, "127.0.0.1:%d", port);
    return 0;
}

int main(int argc, char **argv) {
    /* Descriptors 0-2 must exist before anything opens a file: otherwise
     * the loop's own descriptors would take their numbers, and a later
     * write to "stderr" would land in them. Without stdin or stdout the
     * handshake cannot happen: exit 1. */
    if (stdio_ensure_open() != 0)
        return 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("terraform-provider-cloudflare %s (plugin protocol 6)\n", PROVIDER_VERSION);
            return 0;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    }
    switch (handshake_check(getenv(HANDSHAKE_COOKIE_KEY), getenv("PLUGIN_PROTOCOL_VERSIONS"))) {
    case HANDSHAKE_OK:
        break;
    case HANDSHAKE_NO_COOKIE:
        fputs(HANDSHAKE_NOT_A_PROGRAM, stderr);
        fputs("(terraform-provider-cloudflare --help says how Terraform uses it.)\n", stderr);
        return 1;
    case HANDSHAKE_NO_VERSION:
        fprintf(stderr,
                "terraform-provider-cloudflare speaks plugin protocol 6, which this host does "
                "not offer (PLUGIN_PROTOCOL_VERSIONS=%s). Terraform 1.0 or later is needed.\n",
                getenv("PLUGIN_PROTOCOL_VERSIONS") ? getenv("PLUGIN_PROTOCOL_VERSIONS") : "unset");
        return 1;
    }
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    log_configure_from_env();
    log_use_json(true);

    app a = {.loop = uv_default_loop()};
    char child[PATH_MAX];
    if (child_path(child, sizeof(child)) != 0) {
        log_error(MODULE, "cannot tell where provider-cloudflare is; set TFBRIDGE_PROVIDER");
        return 1;
    }
    uv_timer_init(a.loop, &a.deadline);
    a.deadline.data = &a;
    uv_signal_init(a.loop, &a.sigterm);
    a.sigterm.data = &a;
    uv_timer_init(a.loop, &a.parent_watch);
    a.parent_watch.data = &a;

    /* The child first: it starts while we make our key and certificate. */
    const char *child_argv[] = {child, NULL};
    double call_timeout = call_timeout_from_env();
    bridge_options bo = {
        .child_argv = child_argv,
        .type_prefix = PROVIDER_NAME "_",
        .call_timeout = call_timeout,
        .on_shutdown = on_shutdown,
        .arg = &a,
    };
    int rc = bridge_new(a.loop, &bo, &a.bridge);
    if (rc < 0) {
        log_error(MODULE, "cannot start %s: %s", child, uv_strerror(rc));
        begin_exit(&a, "no provider");
        uv_run(a.loop, UV_RUN_DEFAULT);
        uv_loop_close(a.loop);
        return 1;
    }
    a.bridge_open = true;
    a.parent = uv_os_getppid();
    uv_timer_start(&a.parent_watch, on_parent_watch, PARENT_WATCH_MS, PARENT_WATCH_MS);
    tls_identity id = {0};
    SSL_CTX *tls = NULL;
    const char *client_cert = getenv("PLUGIN_CLIENT_CERT");
    if (client_cert && *client_cert) {
        char err[TLS_ERR_MAX];
        if (tls_identity_generate(&id, err) != 0 ||
            !(tls = tls_server_ctx_new(&id, client_cert, err))) {
            log_error(MODULE, "AutoMTLS: %s", err);
            tls_identity_free(&id);
            begin_exit(&a, "no TLS");
            uv_run(a.loop, UV_RUN_DEFAULT);
            uv_loop_close(a.loop);
            return 1;
        }
    }

    h2_server_options so = {.tls = tls,
                            .dispatch = bridge_dispatch,
                            .ctx = a.bridge,
                            .on_idle = on_idle,
                            .idle_arg = &a};
    const char *network = NULL;
    char address[PATH_MAX];
    rc = start_listening(&a, &so, &network, address, sizeof(address));
    if (rc < 0) {
        log_error(MODULE, "cannot listen: %s", uv_strerror(rc));
        begin_exit(&a, "no listener");
    } else {
        a.server_open = true;
        uv_signal_start(&a.sigterm, on_sigterm, SIGTERM);
        char line[PATH_MAX + 2048];
        int n = handshake_line(line, sizeof(line), network, address, tls ? id.cert_b64 : NULL);
        if (n < 0 || write_stdout(line, (size_t)n) != 0) {
            log_error(MODULE, "cannot write the handshake line");
            begin_exit(&a, "no handshake");
        } else {
            log_debug(MODULE, "serving plugin protocol 6 on %s:%s (%s)", network, address,
                      tls ? "AutoMTLS" : "plaintext");
        }
    }
    uv_run(a.loop, UV_RUN_DEFAULT);
    if (a.socket_dir[0])
        rmdir(a.socket_dir);
    SSL_CTX_free(tls);
    tls_identity_free(&id);
    int closed = uv_loop_close(a.loop);
    if (closed != 0)
        log_warn(MODULE, "event loop closed with handles open: %s", uv_strerror(closed));
    return rc < 0 ? 1 : 0;
}
