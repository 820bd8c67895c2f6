/*
 * report.h - the results table: one row per figure, printed as text on
 * stdout and written as Markdown (for docs/PERFORMANCE.md), plus medians.
 */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stddef.h>

typedef enum { GOAL_NONE, GOAL_MET, GOAL_NOT_MET, GOAL_NOT_JUDGED } goal_verdict;

typedef struct report_row {
    char figure[96];
    char provider[32];
    char baseline[64];
    char ratio[16];
    char goal[48];
    goal_verdict verdict;
} report_row;

/* Adds a row; `ratio` < 0 prints as "-". The strings are copied. */
void report_add(const char *figure, const char *provider, const char *baseline, double ratio,
                const char *goal, goal_verdict verdict);
/* Text table on stdout. */
void report_print(void);
/* Markdown: a heading line `title`, the machine, then the table. Returns 0
 * or -1. */
int report_write_markdown(const char *path, const char *title);
/* Machine summary "N CPUs, model, kernel X" into buf. */
void report_machine(char *buf, size_t len);

/* Median of v[0..n-1] (sorts v). 0 when n is 0. */
double median(double *v, size_t n);

#endif /* BENCH_REPORT_H */
