/*
 * simctl.h - the driver's cf-api-sim: started pinned to a CPU of its own,
 * seeded with connectors through the control plane, and given or rid of
 * the delay rule the memory comparison needs.
 */
#ifndef BENCH_SIMCTL_H
#define BENCH_SIMCTL_H

#include "harness.h"
#include "sim_launch.h"

#include <stddef.h>
#include <stdio.h>

#define BENCH_ACCOUNT "023e105f4ecef8ad9ca31a8372d0c353"

typedef struct bench_sim {
    th_sim sim;        /* origin, base_url and token, for th_sim_http */
    sim_launched proc; /* the process, its port and its stdout */
    char **states;     /* per connector: its full state as the provider keeps it, compact JSON */
    size_t n_states;
    char ids_path[512]; /* "ACCOUNT ID" per line, for bench-curl-client */
} bench_sim;

/* Starts SIM_BIN on CPU `cpu` (-1: unpinned), stderr to stderr_path.
 * Returns 0 or -1. */
int bench_sim_start(bench_sim *s, int cpu, const char *stderr_path);
/* Seeds n connectors and writes their ids to ids_path. Returns 0 or -1. */
int bench_sim_seed(bench_sim *s, size_t n, const char *ids_path);
/* Adds a rule delaying every GET of a connector by delay_ms. 0 or -1. */
int bench_sim_delay_gets(bench_sim *s, int delay_ms);
/* Removes every fault rule (requests already delayed stay delayed). */
void bench_sim_clear_faults(void *s);
/* SIGTERM, reap, free. Returns the exit status or -1. */
int bench_sim_stop(bench_sim *s);

#endif /* BENCH_SIMCTL_H */
