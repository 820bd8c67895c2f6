/*
 * report.c - see report.h. Rows are kept in a fixed array: the driver adds
 * a dozen at most.
 */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#define MAX_ROWS 32

static report_row rows[MAX_ROWS];
static size_t n_rows;

static const char *verdict_text(goal_verdict v) {
    switch (v) {
    case GOAL_MET:
        return "met";
    case GOAL_NOT_MET:
        return "NOT MET";
    case GOAL_NOT_JUDGED:
        return "not judged";
    default:
        return "-";
    }
}

void report_add(const char *figure, const char *provider, const char *baseline, double ratio,
                const char *goal, goal_verdict verdict) {
    if (n_rows == MAX_ROWS)
        return;
    report_row *r = &rows[n_rows++];
    snprintf(r->figure, sizeof(r->figure), "%s", figure);
    snprintf(r->provider, sizeof(r->provider), "%s", provider);
    snprintf(r->baseline, sizeof(r->baseline), "%s", baseline);
    if (ratio < 0)
        snprintf(r->ratio, sizeof(r->ratio), "-");
    else
        snprintf(r->ratio, sizeof(r->ratio), "%.2fx", ratio);
    snprintf(r->goal, sizeof(r->goal), "%s", goal);
    r->verdict = verdict;
}

void report_print(void) {
    printf("\n%-58s | %-14s | %-30s | %-7s | %-22s | %s\n", "figure", "provider", "baseline",
           "ratio", "goal", "verdict");
    printf("%.*s\n", 154,
           "-------------------------------------------------------------------------------"
           "-------------------------------------------------------------------------------");
    for (size_t i = 0; i < n_rows; i++) {
        const report_row *r = &rows[i];
        printf("%-58s | %-14s | %-30s | %-7s | %-22s | %s\n", r->figure, r->provider, r->baseline,
               r->ratio, r->goal, verdict_text(r->verdict));
    }
}

void report_machine(char *buf, size_t len) {
    char model[160] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(model, sizeof(model), "%s", colon + 2);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    }
    if (f)
        fclose(f);
    struct utsname u;
    uname(&u);
    snprintf(buf, len, "%ld CPUs, %s, Linux %s", sysconf(_SC_NPROCESSORS_ONLN), model, u.release);
}

int report_write_markdown(const char *path, const char *title) {
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    char machine[320];
    report_machine(machine, sizeof(machine));
    fprintf(f, "%s\n\nMachine: %s.\n\n", title, machine);
    fprintf(f, "| figure | provider | baseline | ratio | goal | verdict |\n");
    fprintf(f, "| --- | --- | --- | --- | --- | --- |\n");
    for (size_t i = 0; i < n_rows; i++) {
        const report_row *r = &rows[i];
        fprintf(f, "| %s | %s | %s | %s | %s | %s |\n", r->figure, r->provider, r->baseline,
                r->ratio, r->goal,
                r->verdict == GOAL_NOT_MET ? "**NOT MET**" : verdict_text(r->verdict));
    }
    return fclose(f) == 0 ? 0 : -1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double median(double *v, size_t n) {
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
