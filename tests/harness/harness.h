/*
 * harness.h - test harness for end-to-end tests: real processes over real
 * pipes, and the cf-api-sim simulator over real HTTP on loopback.
 *
 * th_proc starts a binary with stdin/stdout/stderr on pipes, writes to its
 * stdin, and reads its stdout line by line with a timeout while draining
 * stderr into a buffer (so a chatty child never blocks). th_sim starts
 * cf-api-sim on a free port and talks to its API and control plane.
 *
 * With TH_VALGRIND=1 in the environment every child runs under valgrind
 * (exit status 99 on any memory error or leak).
 *
 * Paths of the built binaries come from the build: PROVIDER_BIN and SIM_BIN
 * (compile definitions of the test_harness target, tests/CMakeLists.txt).
 */
#ifndef TEST_HARNESS_H
#define TEST_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct th_proc {
    pid_t pid;
    int in_fd;  /* child's stdin (write end), -1 once closed */
    int out_fd; /* child's stdout (read end) */
    int err_fd; /* child's stderr (read end) */
    char *out_buf;
    size_t out_len, out_cap;
    char *err_buf; /* everything the child wrote to stderr so far, NUL-terminated */
    size_t err_len, err_cap;
    bool out_eof, err_eof;
    long next_id;    /* for th_proc_call_new */
    bool reaped;     /* the child has been waited for */
    int wait_status; /* its raw wait status, once reaped */
} th_proc;

/* Starts argv[0] with argv. `env` is a NULL-terminated list of "NAME=value"
 * entries added to (or replacing in) the current environment; NULL for
 * none. An entry "NAME=" with nothing after '=' removes NAME.
 * Returns 0 or -1. */
int th_proc_spawn(th_proc *p, const char *const argv[], const char *const env[]);

/* Writes all of `data` to the child's stdin. Returns 0 or -1. */
int th_proc_write(th_proc *p, const char *data, size_t len);
/* Writes `line` and a '\n'. */
int th_proc_send_line(th_proc *p, const char *line);
/* Closes the child's stdin (end of input). */
void th_proc_close_stdin(th_proc *p);

/* Reads one line from the child's stdout (without its '\n'), waiting at
 * most timeout_ms. Returns a malloc'd string, or NULL on timeout or EOF. */
char *th_proc_read_line(th_proc *p, int timeout_ms);
/* Reads exactly n bytes of stdout; malloc'd, NULL on timeout or EOF. */
char *th_proc_read_bytes(th_proc *p, size_t n, int timeout_ms);
/* Reads one line and parses it as JSON; NULL on timeout, EOF or bad JSON. */
json_t *th_proc_read_json(th_proc *p, int timeout_ms);

/* Sends {"jsonrpc":"2.0","id":<next id>,"method":method,"params":params}
 * (params stolen; NULL sends no params) and returns the response with that
 * id (new reference), skipping nothing: the next line must be it. NULL on
 * timeout. */
json_t *th_proc_call_new(th_proc *p, const char *method, json_t *params, int timeout_ms);

/* Waits for the child to exit. Returns 0 and sets *status (the raw wait
 * status) or -1 on timeout. Keeps draining stdout and stderr meanwhile. */
int th_proc_wait(th_proc *p, int timeout_ms, int *status);
/* Sends a signal. */
int th_proc_kill(th_proc *p, int sig);
/* Drains whatever stderr the child has written so far without waiting. */
void th_proc_drain(th_proc *p);
/* Kills (SIGKILL) if still running, reaps, closes fds, frees buffers. */
void th_proc_destroy(th_proc *p);

typedef struct th_sim {
    th_proc proc;
    int port;
    char origin[64];   /* "http://127.0.0.1:PORT" */
    char base_url[96]; /* origin + "/client/v4" */
    char token[128];
} th_sim;

/* Starts SIM_BIN --port 0 --token TOKEN plus `extra_args` (NULL-terminated,
 * may be NULL) and waits for its "listening on" line. Returns 0 or -1. */
int th_sim_start(th_sim *s, const char *token, const char *const extra_args[]);
/* SIGTERM, wait, destroy. Returns the exit status (or -1). */
int th_sim_stop(th_sim *s);

/* One HTTP request to the simulator: `path` starts with "/" and is relative
 * to the origin (e.g. "/__sim/reset" or "/client/v4/accounts/..."). When
 * `with_auth` is true the sim's token is sent as a Bearer token. `body` may
 * be NULL. Returns the parsed JSON body (new reference, NULL if none or not
 * JSON) and stores the HTTP status in *status (0 on connection failure). */
json_t *th_sim_http(th_sim *s, const char *method, const char *path, const char *body,
                    bool with_auth, long *status);

/* Convenience: the control plane. */
int th_sim_reset(th_sim *s);
/* The request log (GET /__sim/requests): a new reference to its
 * "requests" array, each {method, path, query, headers, body}. */
json_t *th_sim_requests(th_sim *s);

/* Returns a new JSON value parsed from a printf-style format; aborts the
 * test on bad JSON. Handy for literal params. */
json_t *th_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* TEST_HARNESS_H */
