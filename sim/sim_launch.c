/*
 * sim_launch.c - see sim_launch.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_setaffinity, pipe2 */
#endif
#include "sim_launch.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS 32

/* The child's side, between fork and exec: only async-signal-safe calls.
 * Pinning happens here rather than after the start, because the
 * simulator's worker threads are made at start and inherit the mask. */
static void exec_child(const sim_launch_options *o, char *const argv[], int out_fd) {
    if (o->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o->cpu, &set);
        (void)sched_setaffinity(0, sizeof(set), &set);
    }
    if (dup2(out_fd, STDOUT_FILENO) < 0)
        _exit(127);
    if (o->stderr_path) {
        int err = open(o->stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (err >= 0 && dup2(err, STDERR_FILENO) < 0)
            _exit(127);
    } else if (dup2(out_fd, STDERR_FILENO) < 0) {
        _exit(127);
    }
    execv(o->bin, argv);
    static const char msg[] = "cf-api-sim: cannot execute the simulator\n";
    (void)!write(STDOUT_FILENO, msg, sizeof(msg) - 1);
    _exit(127);
}

/* The argument vector: the program, the caller's arguments, and
 * "--port 0" (a free port) unless the caller chose one. */
static int build_argv(const sim_launch_options *o, const char *argv[MAX_ARGS]) {
    size_t n = 0;
    bool has_port = false;
    argv[n++] = o->bin;
    for (size_t i = 0; o->args && o->args[i]; i++) {
        if (n + 3 >= MAX_ARGS)
            return -1;
        has_port = has_port || strcmp(o->args[i], "--port") == 0;
        argv[n++] = o->args[i];
    }
    if (!has_port) {
        argv[n++] = "--port";
        argv[n++] = "0";
    }
    argv[n] = NULL;
    return 0;
}

int sim_launch(const sim_launch_options *o, sim_launched *s) {
    memset(s, 0, sizeof(*s));
    const char *argv[MAX_ARGS];
    if (!o->bin || build_argv(o, argv) < 0) {
        fprintf(stderr, "sim_launch: no executable, or more than %d arguments\n", MAX_ARGS - 4);
        return -1;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        fprintf(stderr, "sim_launch: pipe: %s\n", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0)
        exec_child(o, (char *const *)argv, fds[1]);
    int fork_errno = errno;
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        fprintf(stderr, "sim_launch: fork: %s\n", strerror(fork_errno));
        return -1;
    }
    s->pid = pid;
    FILE *out = fdopen(fds[0], "r");
    if (!out)
        close(fds[0]);
    char line[256] = "";
    bool started = out && fgets(line, sizeof(line), out) &&
                   sscanf(line, "listening on http://127.0.0.1:%d", &s->port) == 1;
    if (out)
        fclose(out);
    if (!started) {
        line[strcspn(line, "\n")] = '\0';
        fprintf(stderr, "cf-api-sim did not start: %s\n", line[0] ? line : "(no output)");
        sim_launched_stop(s);
        return -1;
    }
    snprintf(s->origin, sizeof(s->origin), "http://127.0.0.1:%d", s->port);
    snprintf(s->base_url, sizeof(s->base_url), "%s/client/v4", s->origin);
    return 0;
}

int sim_launched_stop(sim_launched *s) {
    int status = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        pid_t r;
        do
            r = waitpid(s->pid, &status, 0);
        while (r < 0 && errno == EINTR);
        if (r != s->pid)
            status = -1;
        s->pid = 0;
    }
    return status;
}
