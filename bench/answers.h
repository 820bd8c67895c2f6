/*
 * answers.h - the driver's checks on what a measured program wrote: every
 * request answered exactly once with a JSON-RPC result, no error, empty
 * diagnostics (a fast failure must not count as a measurement), and, for
 * the refresh floor, the same results as the provider's.
 */
#ifndef BENCH_ANSWERS_H
#define BENCH_ANSWERS_H

#include <stddef.h>

/* Checks `out` (newline-separated JSON-RPC answers) holds one answer for
 * each id 0 .. n-1, each {"jsonrpc":"2.0","id":i,"result":{...}} with no
 * "error" and "diagnostics": []; ids >= reads_from must also carry a
 * new_state object (a ReadResource that found its connector). Returns 0,
 * or -1 with the first problem in why. */
int bm_check_answers(const char *out, size_t n, size_t reads_from, char *why, size_t why_len);

/* Compares the "result" of each id in two programs' answers to the same
 * input (json_equal: same members and values, member order and spacing
 * ignored). Returns the number of ids whose results differ (0: all equal)
 * and the number compared in *compared; the first difference goes to why. */
size_t bm_compare_results(const char *a, const char *b, size_t n, size_t *compared, char *why,
                          size_t why_len);

#endif /* BENCH_ANSWERS_H */
