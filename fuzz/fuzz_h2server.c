/*
 * fuzz_h2server.c - HTTP/2 input as the bridge's gRPC server reads it
 * (tfbridge/h2server.c): nghttp2's frame parser with the server's own
 * session settings and callbacks (headers, request bodies, limits, stream
 * ends and resets), the gRPC framing of each request body, and the answers
 * (messages, trailers, trailers-only errors) going back out.
 *
 * h2server.c is compiled into the target so that a connection can be made
 * the way on_connection() makes one, on one end of a socketpair instead of
 * an accepted socket: no listener, no network. The input is read by the
 * connection's own on_read(), in chunks whose size the first byte sets;
 * between chunks the loop runs once, so our writes complete and the other
 * end is drained. Each complete request is answered by its path: echoed,
 * failed, or held open (as the bridge holds go-plugin's broker stream).
 */
#include "../tfbridge/h2server.c"

#include "fuzz.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>

static void dispatch(grpc_call *call, const char *path, const uint8_t *msg, size_t len, void *ctx) {
    (void)ctx;
    switch (strlen(path) % 3) {
    case 0:
        grpc_call_reply(call, msg, len);
        break;
    case 1:
        grpc_call_fail(call, GRPC_INVALID_ARGUMENT, path);
        break;
    default:
        break; /* held open until the connection ends */
    }
}

static void drain(int fd) {
    char buf[65536];
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    log_configure(LOG_LEVEL_OFF, false);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    static bool initialized;
    if (!initialized) {
        LLVMFuzzerInitialize(NULL, NULL);
        initialized = true;
    }
    size_t chunk = ((size_t)data[0] + 1) * 16;
    data++;
    size--;

    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        abort();
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        abort();
    h2_server_options opts = {.dispatch = dispatch, .max_message = 4096, .max_buffered = 16384};
    h2_server *s;
    if (server_new(&loop, &opts, &s) != 0)
        abort();
    s->is_unix = true;

    /* What on_connection() does, with uv_pipe_open() for uv_accept(). */
    h2_conn *c = calloc(1, sizeof(*c));
    if (!c || uv_pipe_init(&loop, &c->io.pipe, 0) != 0)
        abort();
    c->server = s;
    c->io.handle.data = c;
    s->conns = c;
    if (uv_pipe_open(&c->io.pipe, fds[0]) != 0 || conn_start_h2(c) != 0)
        abort();
    conn_flush(c);

    /* After a close callback has run, c is freed and s->conns is NULL. */
    while (size > 0 && s->conns && !c->closed) {
        size_t n = size < chunk ? size : chunk;
        if (n > sizeof(c->rbuf))
            n = sizeof(c->rbuf);
        memcpy(c->rbuf, data, n);
        uv_buf_t buf = uv_buf_init(c->rbuf, (unsigned)n);
        on_read(&c->io.stream, (ssize_t)n, &buf);
        data += n;
        size -= n;
        uv_run(&loop, UV_RUN_NOWAIT);
        drain(fds[1]);
    }

    /* The end of the input: as EOF from the client. */
    s->closing = true;
    s->listener_closed = true;
    if (s->conns) {
        if (!s->conns->closed) {
            uv_buf_t none = uv_buf_init(NULL, 0);
            on_read(&s->conns->io.stream, UV_EOF, &none);
        }
        uv_run(&loop, UV_RUN_DEFAULT); /* the last conn_freed() frees the server */
    } else {
        server_maybe_finish(s);
    }
    if (uv_loop_close(&loop) != 0)
        abort(); /* a handle outlived its connection */
    close(fds[1]);
    return 0;
}
