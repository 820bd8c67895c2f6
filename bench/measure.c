/*
 * measure.c - see measure.h. The child is started with fork/exec (not the
 * test harness's th_proc) because the driver needs the rusage of that
 * program alone (taken by bench-launch, launch.c) and the CPU pinning done
 * before it execs. One poll
 * loop writes stdin (non-blocking, bounded by the window) and reads stdout
 * into memory; answers are checked only after the child has exited, so the
 * checking never slows the program being measured.
 */
#include "measure.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double bm_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int bm_pin_self(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "bench: out of memory\n");
        exit(2);
    }
    return q;
}

void bm_lines_add(bm_lines *l, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (l->len + (size_t)n + 2 > l->cap) {
        l->cap = l->cap ? l->cap * 2 : 65536;
        while (l->len + (size_t)n + 2 > l->cap)
            l->cap *= 2;
        l->buf = xrealloc(l->buf, l->cap);
    }
    if (l->n + 2 > l->off_cap) {
        l->off_cap = l->off_cap ? l->off_cap * 2 : 1024;
        l->off = xrealloc(l->off, l->off_cap * sizeof(size_t));
    }
    if (l->n == 0)
        l->off[0] = 0;
    va_start(ap, fmt);
    vsnprintf(l->buf + l->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    l->len += (size_t)n;
    l->buf[l->len++] = '\n';
    l->off[++l->n] = l->len;
}

void bm_lines_free(bm_lines *l) {
    free(l->buf);
    free(l->off);
    memset(l, 0, sizeof(*l));
}

void bm_run_free(bm_run *r) {
    free(r->out);
    memset(r, 0, sizeof(*r));
}

int bm_run_ok(const bm_run *r) {
    return r->status != -1 && WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}

/* Starts argv through bench-launch (launch.c says why) with stdin/stdout
 * on pipes, stderr to a file and the launcher's report on *report_fd. The
 * launcher pins the program to opt->cpu before it execs. */
static pid_t spawn(const char *const argv[], const bm_options *opt, int *in_fd, int *out_fd,
                   int *report_fd) {
    int in[2], out[2], rep[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(rep, O_CLOEXEC) != 0)
        return -1;
    const char *args[64];
    char cpu[16];
    snprintf(cpu, sizeof(cpu), "%d", opt->cpu);
    size_t n = 0;
    args[n++] = LAUNCH_BIN;
    args[n++] = cpu;
    for (size_t i = 0; argv[i] && n < 63; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int err = open(opt->stderr_path ? opt->stderr_path : "/dev/null",
                       O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(in[0], 0);
        dup2(out[1], 1);
        if (err >= 0)
            dup2(err, 2);
        dup2(rep[1], 3);
        signal(SIGPIPE, SIG_DFL);
        execv(args[0], (char *const *)args);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(rep[1]);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        close(rep[0]);
        return -1;
    }
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    *in_fd = in[1];
    *out_fd = out[0];
    *report_fd = rep[0];
    return pid;
}

/* The line index up to which input may be written: everything, or the
 * answered count plus the window. */
static size_t allowed(const bm_lines *in, const bm_options *opt, size_t answers) {
    if (!in)
        return 0;
    if (opt->hold_prelude && answers < opt->mark)
        return opt->mark < in->n ? opt->mark : in->n;
    if (opt->window == 0 || answers + opt->window >= in->n)
        return in->n;
    return answers + opt->window;
}

int bm_run_program(const char *const argv[], const bm_lines *in, const bm_options *opt, bm_run *r) {
    memset(r, 0, sizeof(*r));
    r->status = -1;
    int in_fd = -1, out_fd = -1, report_fd = -1;
    size_t out_cap = 1 << 16;
    r->out = xrealloc(NULL, out_cap);
    r->out[0] = '\0';
    double t0 = bm_now_ms(), t_mark = 0, t_last = 0;
    pid_t pid = spawn(argv, opt, &in_fd, &out_fd, &report_fd);
    if (pid < 0)
        return -1;
    size_t sent_bytes = 0, sent_lines = 0;
    int at_done = opt->at == NULL || opt->at_ms <= 0;
    int timeout_ms = (opt->timeout_s > 0 ? opt->timeout_s : 600) * 1000;
    int killed = 0;
    if (!in || in->n == 0) {
        close(in_fd);
        in_fd = -1;
    }
    while (out_fd >= 0) {
        size_t limit = allowed(in, opt, r->answers);
        struct pollfd p[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = -1}};
        if (in_fd >= 0 && sent_lines < limit)
            p[1] = (struct pollfd){.fd = in_fd, .events = POLLOUT};
        double now = bm_now_ms();
        int wait = 1000;
        if (!at_done)
            wait = opt->at_ms - (now - t0) < 1 ? 0 : (int)(opt->at_ms - (now - t0));
        if (poll(p, 2, wait) < 0 && errno != EINTR)
            break;
        now = bm_now_ms();
        if (!at_done && now - t0 >= opt->at_ms) {
            at_done = 1;
            opt->at(opt->at_arg);
        }
        if (now - t0 > timeout_ms) {
            kill(-pid, SIGKILL); /* the launcher's group: it and the program */
            killed = 1;
            break;
        }
        if (p[1].revents & (POLLOUT | POLLERR | POLLHUP)) {
            size_t end = in->off[limit];
            ssize_t w = write(in_fd, in->buf + sent_bytes, end - sent_bytes);
            if (w < 0 && errno != EAGAIN) {
                close(in_fd);
                in_fd = -1;
            } else if (w > 0) {
                if (sent_bytes <= in->off[opt->mark] && sent_bytes + (size_t)w > in->off[opt->mark])
                    t_mark = bm_now_ms();
                sent_bytes += (size_t)w;
                while (sent_lines < in->n && in->off[sent_lines + 1] <= sent_bytes)
                    sent_lines++;
                if (sent_lines == in->n) {
                    close(in_fd);
                    in_fd = -1;
                }
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (r->out_len + 65536 + 1 > out_cap) {
                out_cap *= 2;
                r->out = xrealloc(r->out, out_cap);
            }
            ssize_t n = read(out_fd, r->out + r->out_len, 65536);
            if (n <= 0) {
                close(out_fd);
                out_fd = -1;
            } else {
                for (ssize_t i = 0; i < n; i++)
                    r->answers += r->out[r->out_len + (size_t)i] == '\n';
                r->out_len += (size_t)n;
                r->out[r->out_len] = '\0';
                t_last = bm_now_ms();
            }
        }
    }
    if (in_fd >= 0)
        close(in_fd);
    if (out_fd >= 0)
        close(out_fd);
    int status = 0;
    pid_t w = waitpid(pid, &status, 0);
    char rep[128] = "";
    ssize_t got = read(report_fd, rep, sizeof(rep) - 1);
    close(report_fd);
    rep[got > 0 ? got : 0] = '\0';
    long maxrss_kib = 0;
    int prog_status = -1;
    if (w != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        sscanf(rep, "%lf %lf %ld %d", &r->wall_ms, &r->cpu_ms, &maxrss_kib, &prog_status) != 4)
        return -1;
    r->maxrss_mib = (double)maxrss_kib / 1024.0;
    r->active_s = t_mark > 0 && t_last > t_mark ? (t_last - t_mark) / 1e3 : 0;
    r->status = killed ? -1 : prog_status;
    return killed ? -1 : 0;
}
