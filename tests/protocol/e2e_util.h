/*
 * e2e_util.h - helpers shared by the protocol end-to-end suites: starting
 * rpc-testd on real pipes, reading and checking its responses, and ending
 * it with a check of its exit status.
 *
 * Timeouts here only guard against hangs; no test depends on how fast the
 * machine is.
 */
#ifndef PROTOCOL_E2E_UTIL_H
#define PROTOCOL_E2E_UTIL_H

#include "harness.h"

#include <jansson.h>
#include <stdbool.h>

/* Generous: valgrind and sanitizer builds are slow. */
#define E2E_TIMEOUT_MS 60000

/* Starts rpc-testd (extra_args and env NULL-terminated, may be NULL). */
void e2e_start(th_proc *p, const char *const extra_args[], const char *const env[]);
/* Starts `/bin/sh -c script` where the script runs rpc-testd as `$TESTD`
 * (unquoted: under valgrind it is a command line), for redirections. */
void e2e_start_shell(th_proc *p, const char *script, const char *const env[]);

/* Reads one stdout line; fails the test on timeout or EOF. malloc'd. */
char *e2e_line(th_proc *p);
/* Reads one stdout line, checks it is a JSON-RPC 2.0 response (or, when it
 * starts with '[', an array of them) and returns it parsed (new ref). */
json_t *e2e_response(th_proc *p);
/* True if v is a single well-formed JSON-RPC 2.0 response object. */
bool e2e_is_response(json_t *v);
/* The error code of a response, or 0 when it has a result. */
int e2e_error_code(json_t *resp);
/* Sends a line; fails the test on error. printf-style. */
void e2e_send(th_proc *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Closes stdin, waits for exit and asserts it exited 0. */
void e2e_finish(th_proc *p);
/* Waits for exit (stdin left alone) and asserts it exited 0. */
void e2e_wait_exit0(th_proc *p);

/* After the process exited: reads stdout to its end and returns all of it
 * (malloc'd, "" when nothing). */
char *e2e_rest_of_stdout(th_proc *p);
/* After the process exited: asserts stdout holds nothing more. */
void e2e_assert_stdout_done(th_proc *p);

/* Asserts that nothing else is on stdout: sends an echo with a fresh id
 * and checks that the next line is its answer. */
void e2e_expect_nothing_pending(th_proc *p);

#endif /* PROTOCOL_E2E_UTIL_H */
