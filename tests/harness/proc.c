/*
 * proc.c - a child process on real pipes, for end-to-end tests.
 *
 * The harness owns the three pipe ends it keeps. Reads always poll stdout
 * and stderr together, so a child that writes a lot of log lines never
 * blocks on a full stderr pipe while the test waits for stdout.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends n bytes to a growable buffer, keeping it NUL-terminated. Aborts on
 * allocation failure: a test cannot go on without its output. */
static void buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t want = *cap ? *cap : 4096;
        while (want < *len + n + 1)
            want *= 2;
        char *grown = realloc(*buf, want);
        if (!grown)
            abort();
        *buf = grown;
        *cap = want;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* Builds the child's environment: the current one, with `env` entries
 * replacing same-named ones ("NAME=" with no value removes NAME). The
 * returned array and its strings are malloc'd; the child execs right away,
 * the parent frees them. */
static char **build_env(const char *const env[]) {
    size_t base = 0, extra = 0;
    while (environ[base])
        base++;
    while (env && env[extra])
        extra++;
    char **out = calloc(base + extra + 1, sizeof(char *));
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < base; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t name_len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool replaced = false;
        for (size_t j = 0; j < extra; j++) {
            if (strncmp(env[j], environ[i], name_len) == 0 && env[j][name_len] == '=')
                replaced = true;
        }
        if (!replaced)
            out[n++] = strdup(environ[i]);
    }
    for (size_t j = 0; j < extra; j++) {
        const char *eq = strchr(env[j], '=');
        if (eq && eq[1] != '\0')
            out[n++] = strdup(env[j]);
    }
    out[n] = NULL;
    return out;
}

static void free_env(char **env) {
    if (!env)
        return;
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
}

int th_proc_spawn(th_proc *p, const char *const argv[], const char *const env[]) {
    memset(p, 0, sizeof(*p));
    p->in_fd = p->out_fd = p->err_fd = -1;
    p->next_id = 1;
    signal(SIGPIPE, SIG_IGN);

    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(out, O_CLOEXEC) < 0) {
        close(in[0]), close(in[1]);
        return -1;
    }
    if (pipe2(err, O_CLOEXEC) < 0) {
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        return -1;
    }
    /* TH_VALGRIND=1 runs every child under valgrind's memcheck: any error
     * or leak turns into exit status 99, which the tests check. */
    const char *vg_argv[64];
    if (getenv("TH_VALGRIND") && strcmp(getenv("TH_VALGRIND"), "1") == 0) {
        static const char *const vg[] = {"/usr/bin/valgrind",
                                         "--quiet",
                                         "--error-exitcode=99",
                                         "--leak-check=full",
                                         "--show-leak-kinds=definite,indirect",
                                         "--errors-for-leak-kinds=definite,indirect",
                                         "--track-fds=no"};
        size_t n = 0;
        for (; n < sizeof(vg) / sizeof(vg[0]); n++)
            vg_argv[n] = vg[n];
        for (size_t i = 0; argv[i] && n < 63; i++)
            vg_argv[n++] = argv[i];
        vg_argv[n] = NULL;
        argv = vg_argv;
    }
    char **child_env = build_env(env);
    pid_t pid = fork();
    if (pid < 0) {
        free_env(child_env);
        return -1;
    }
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        signal(SIGPIPE, SIG_DFL);
        execve(argv[0], (char *const *)argv, child_env);
        dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    free_env(child_env);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    p->pid = pid;
    p->in_fd = in[1];
    p->out_fd = out[0];
    p->err_fd = err[0];
    fcntl(p->in_fd, F_SETFL, O_NONBLOCK);
    fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
    return 0;
}

/* Reads whatever is available on one fd into its buffer. Returns the
 * number of bytes read, 0 on EOF (and marks it), -1 when nothing is there. */
static ssize_t pump(int fd, char **buf, size_t *len, size_t *cap, bool *eof) {
    char chunk[65536];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n > 0) {
        buf_append(buf, len, cap, chunk, (size_t)n);
        return n;
    }
    if (n == 0) {
        *eof = true;
        return 0;
    }
    return -1;
}

/* Waits up to timeout_ms for stdout or stderr to have data, then reads
 * what is there. Returns false when nothing more can come or time is up. */
static bool pump_once(th_proc *p, int timeout_ms) {
    struct pollfd fds[2];
    int nfds = 0;
    if (!p->out_eof && p->out_fd >= 0)
        fds[nfds++] = (struct pollfd){.fd = p->out_fd, .events = POLLIN};
    if (!p->err_eof && p->err_fd >= 0)
        fds[nfds++] = (struct pollfd){.fd = p->err_fd, .events = POLLIN};
    if (nfds == 0)
        return false;
    int r = poll(fds, (nfds_t)nfds, timeout_ms);
    if (r < 0 && errno == EINTR)
        return true;
    if (r <= 0)
        return false;
    for (int i = 0; i < nfds; i++) {
        if (!fds[i].revents)
            continue;
        if (fds[i].fd == p->out_fd)
            pump(p->out_fd, &p->out_buf, &p->out_len, &p->out_cap, &p->out_eof);
        else
            pump(p->err_fd, &p->err_buf, &p->err_len, &p->err_cap, &p->err_eof);
    }
    return true;
}

void th_proc_drain(th_proc *p) {
    if (p->err_fd >= 0 && !p->err_eof) {
        while (pump(p->err_fd, &p->err_buf, &p->err_len, &p->err_cap, &p->err_eof) > 0) {
        }
    }
    if (!p->err_buf)
        buf_append(&p->err_buf, &p->err_len, &p->err_cap, "", 0);
}

int th_proc_write(th_proc *p, const char *data, size_t len) {
    /* stdin is non-blocking and every wait also drains stdout and stderr:
     * a child that stops reading until its own output is read (a full
     * stderr pipe, say) can never deadlock against this write. */
    size_t off = 0;
    while (off < len) {
        if (p->in_fd < 0)
            return -1;
        ssize_t n = write(p->in_fd, data + off, len - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        struct pollfd fds[3] = {{.fd = p->in_fd, .events = POLLOUT}};
        nfds_t nfds = 1;
        if (!p->out_eof && p->out_fd >= 0)
            fds[nfds++] = (struct pollfd){.fd = p->out_fd, .events = POLLIN};
        if (!p->err_eof && p->err_fd >= 0)
            fds[nfds++] = (struct pollfd){.fd = p->err_fd, .events = POLLIN};
        if (poll(fds, nfds, 60000) <= 0)
            return -1; /* a minute without progress either way: give up */
        for (nfds_t i = 1; i < nfds; i++) {
            if (!fds[i].revents)
                continue;
            if (fds[i].fd == p->out_fd)
                pump(p->out_fd, &p->out_buf, &p->out_len, &p->out_cap, &p->out_eof);
            else
                pump(p->err_fd, &p->err_buf, &p->err_len, &p->err_cap, &p->err_eof);
        }
    }
    return 0;
}

/* The line and its newline go in one write: a child that exits as soon as
 * it has read the line (a shutdown request) must not make a second write
 * fail with EPIPE. */
int th_proc_send_line(th_proc *p, const char *line) {
    size_t len = strlen(line);
    char *buf = malloc(len + 1);
    if (!buf)
        return -1;
    memcpy(buf, line, len);
    buf[len] = '\n';
    int rc = th_proc_write(p, buf, len + 1);
    free(buf);
    return rc;
}

void th_proc_close_stdin(th_proc *p) {
    if (p->in_fd >= 0) {
        close(p->in_fd);
        p->in_fd = -1;
    }
}

/* Takes the first n bytes out of the stdout buffer as a new string. */
static char *take_out(th_proc *p, size_t n, size_t skip) {
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p->out_buf, n);
    s[n] = '\0';
    memmove(p->out_buf, p->out_buf + n + skip, p->out_len - n - skip);
    p->out_len -= n + skip;
    p->out_buf[p->out_len] = '\0';
    return s;
}

char *th_proc_read_line(th_proc *p, int timeout_ms) {
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (p->out_buf) {
            char *nl = memchr(p->out_buf, '\n', p->out_len);
            if (nl)
                return take_out(p, (size_t)(nl - p->out_buf), 1);
        }
        long left = deadline - now_ms();
        if (left <= 0 || p->out_eof)
            return NULL;
        if (!pump_once(p, (int)left) && p->out_eof)
            return NULL;
    }
}

char *th_proc_read_bytes(th_proc *p, size_t n, int timeout_ms) {
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (p->out_buf && p->out_len >= n)
            return take_out(p, n, 0);
        long left = deadline - now_ms();
        if (left <= 0 || p->out_eof)
            return NULL;
        pump_once(p, (int)left);
    }
}

json_t *th_proc_read_json(th_proc *p, int timeout_ms) {
    char *line = th_proc_read_line(p, timeout_ms);
    if (!line)
        return NULL;
    json_t *v = json_loads(line, JSON_DECODE_ANY, NULL);
    free(line);
    return v;
}

json_t *th_proc_call_new(th_proc *p, const char *method, json_t *params, int timeout_ms) {
    json_t *req = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", (json_int_t)p->next_id,
                            "method", method);
    long id = p->next_id++;
    if (params)
        json_object_set_new(req, "params", params);
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    int rc = th_proc_send_line(p, text);
    free(text);
    if (rc < 0)
        return NULL;
    json_t *resp = th_proc_read_json(p, timeout_ms);
    if (resp && json_integer_value(json_object_get(resp, "id")) != id) {
        fprintf(stderr, "th_proc_call_new: expected id %ld, got another response\n", id);
        json_decref(resp);
        return NULL;
    }
    return resp;
}

int th_proc_wait(th_proc *p, int timeout_ms, int *status) {
    long deadline = now_ms() + timeout_ms;
    if (p->reaped) {
        if (status)
            *status = p->wait_status;
        return 0;
    }
    for (;;) {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            p->reaped = true;
            p->wait_status = st;
            th_proc_drain(p);
            if (status)
                *status = st;
            return 0;
        }
        long left = deadline - now_ms();
        if (left <= 0)
            return -1;
        /* Drain output while waiting; when both pipes are at EOF, sleep a
         * little instead of spinning. */
        if (!pump_once(p, left < 20 ? (int)left : 20))
            usleep(2000);
    }
}

int th_proc_kill(th_proc *p, int sig) {
    if (p->pid <= 0)
        return -1;
    return kill(p->pid, sig);
}

void th_proc_destroy(th_proc *p) {
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
    }
    th_proc_close_stdin(p);
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->err_fd >= 0)
        close(p->err_fd);
    p->out_fd = p->err_fd = -1;
    free(p->out_buf);
    free(p->err_buf);
    p->out_buf = p->err_buf = NULL;
    p->out_len = p->out_cap = p->err_len = p->err_cap = 0;
}

json_t *th_json(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    if (!v) {
        fprintf(stderr, "th_json: bad JSON (%s): %s\n", err.text, text);
        abort();
    }
    free(text);
    return v;
}
