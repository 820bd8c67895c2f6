/*
 * launch.c - bench-launch: starts one measured program for the driver and
 * reports its wall time, CPU time and peak RSS.
 *
 * Why a separate process: Linux folds the peak RSS of a process's image
 * before execve into its ru_maxrss, and a child forked from the driver
 * starts as a copy of the driver, which holds every input and output of
 * the run (tens of MiB): wait4 would report the driver's size, not the
 * program's. The driver therefore execs this small program (libc only,
 * about 1 MiB resident), which forks the measured program from its own
 * small image, pins it, waits for it and reports.
 *
 * Usage: bench-launch CPU PROGRAM [ARGS...]   (CPU -1: not pinned)
 * stdin, stdout and stderr are handed to PROGRAM. On fd 3 it writes one
 * line, "wall_ms cpu_ms maxrss_kib wait_status", and exits 0; 127 when
 * PROGRAM could not be started. It makes its own process group, so the
 * driver can kill both at once on a timeout.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    int cpu = atoi(argv[1]);
    setpgid(0, 0);
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        if (cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            sched_setaffinity(0, sizeof(set), &set);
        }
        close(3);
        execv(argv[2], argv + 2);
        _exit(127);
    }
    if (pid < 0)
        return 127;
    /* The program alone holds the pipes now: its end of input and output
     * are what the driver sees. */
    close(0);
    close(1);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid)
        return 127;
    double wall = now_ms() - t0;
    double cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    dprintf(3, "%.3f %.3f %ld %d\n", wall, cpu_ms, ru.ru_maxrss, status);
    return 0;
}
