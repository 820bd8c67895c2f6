/*
 * measure.h - one measured run of a program: started pinned to one CPU, fed
 * JSON-RPC lines on stdin (all at once, or at most `window` unanswered), its
 * stdout kept whole. Wall time (fork to reap), CPU time (user + sys) and
 * peak RSS come from wait4's rusage, taken by bench-launch (launch.c),
 * which starts the program from its own small image.
 */
#ifndef BENCH_MEASURE_H
#define BENCH_MEASURE_H

#include <stddef.h>

/* A list of request lines, each ending in '\n', in one buffer. */
typedef struct bm_lines {
    char *buf;
    size_t len, cap;
    size_t *off; /* line i is buf[off[i] .. off[i + 1]) */
    size_t n, off_cap;
} bm_lines;

/* Appends one line (printf-style; the '\n' is added). */
void bm_lines_add(bm_lines *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bm_lines_free(bm_lines *l);

typedef struct bm_options {
    int cpu;          /* pin the child to this CPU; -1: do not pin */
    size_t window;    /* at most this many lines unanswered; 0: no limit */
    size_t mark;      /* index of the first line of the measured stretch */
    int hold_prelude; /* write line `mark` only once lines 0..mark-1 are answered */
    double at_ms;     /* when > 0, call at(at_arg) this long after spawn */
    void (*at)(void *);
    void *at_arg;
    int timeout_s;           /* kill the child past this; 0: 600 */
    const char *stderr_path; /* the child's stderr goes here (NULL: /dev/null) */
} bm_options;

typedef struct bm_run {
    double wall_ms;    /* fork to reap, by bench-launch */
    double cpu_ms;     /* child's user + sys */
    double maxrss_mib; /* child's peak resident set */
    double active_s;   /* from line `mark` written to the last answer read */
    int status;        /* raw wait status; -1 when it had to be killed */
    char *out;         /* everything the child wrote to stdout, NUL-terminated */
    size_t out_len;
    size_t answers; /* lines in out */
} bm_run;

/* Runs argv with `in` (may be NULL: stdin is closed at once). Returns 0 when
 * the child ran and exited by itself (whatever its status), -1 otherwise.
 * `out` is filled in either way; free it with bm_run_free. */
int bm_run_program(const char *const argv[], const bm_lines *in, const bm_options *opt,
                   bm_run *out);
void bm_run_free(bm_run *r);

/* True when the run exited 0 on its own. */
int bm_run_ok(const bm_run *r);

/* Monotonic clock in milliseconds. */
double bm_now_ms(void);

/* Pins the calling process (its threads made from now on, and its
 * children) to `cpu`. Returns 0 or -1. */
int bm_pin_self(int cpu);

#endif /* BENCH_MEASURE_H */
