/*
 * sim_launch.h - starting cf-api-sim from another program: the simulator's
 * start-up contract in one place.
 *
 * The simulator prints "listening on http://127.0.0.1:PORT" as its first
 * line once it serves (docs/SIMULATOR.md); when it cannot start, its first
 * line is the complaint instead. sim_launch() starts it, reads that line,
 * returns the address, and closes its end of the pipe: nobody would read
 * the rest, and a pipe nobody drains fills up and blocks the simulator's
 * next log line, and with it the thread that writes it (the soak found
 * that). The simulator ignores SIGPIPE, so its later lines are dropped.
 *
 * Used by the programs that drive the simulator outside ctest: the demo
 * (examples/demo.c), the soak (bench/soak.c) and the benchmark driver
 * (bench/simctl.c). The test harness keeps th_sim_start (tests/harness):
 * it reads with timeouts and keeps stderr for failing tests.
 *
 * libc only, so any of those programs can link it.
 */
#ifndef SIM_LAUNCH_H
#define SIM_LAUNCH_H

#include <stdio.h>
#include <sys/types.h>

typedef struct sim_launch_options {
    const char *bin;         /* the cf-api-sim executable */
    const char *const *args; /* its arguments after the program name, NULL-terminated;
                                "--port 0" is added when no --port is given */
    int cpu;                 /* pinned to this CPU before exec (its threads inherit
                                it), or -1 for no pinning */
    const char *stderr_path; /* its stderr goes to this file, or NULL: stderr shares
                                the stdout pipe, so a failure to start is the first line;
                                later lines are dropped */
} sim_launch_options;

typedef struct sim_launched {
    pid_t pid;         /* 0 when not running */
    int port;          /* the loopback port it listens on */
    char origin[64];   /* "http://127.0.0.1:PORT" */
    char base_url[96]; /* origin + "/client/v4", the provider's base_url */
} sim_launched;

/* Starts the simulator and waits for its first line. Returns 0 with `s`
 * filled in, or -1 with nothing left running, nothing left open, and the
 * reason (the simulator's own first line when it wrote one) on stderr. */
int sim_launch(const sim_launch_options *o, sim_launched *s);

/* Stops a launched simulator: SIGTERM (it answers what is pending and exits
 * 0), reaps it, closes the pipe. Returns its wait status, or -1 when it was
 * not running or could not be reaped. Safe to call twice. */
int sim_launched_stop(sim_launched *s);

#endif /* SIM_LAUNCH_H */
