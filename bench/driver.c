/*
 * driver.c - `make bench` (bench-driver): every comparison of issue 9 as
 * interleaved pairs (provider, baseline, provider, baseline, ...), the
 * simulator and the driver pinned to CPU 1, the measured programs to CPU 0,
 * each program's wall time, CPU time and peak RSS taken from wait4, and
 * every answer checked (a JSON-RPC result, no error, empty diagnostics)
 * before a figure counts. It prints a table (figure | provider | baseline |
 * ratio | goal | verdict), writes it as Markdown for docs/PERFORMANCE.md,
 * and writes the throughput sweep's data and gnuplot script (and renders
 * the PNG when gnuplot is installed).
 *
 * Why C and not a script: the figures need the rusage of one child
 * (wait4), pinning between fork and exec, and a loop that keeps exactly K
 * requests outstanding by writing a request when an answer arrives; a shell
 * script would measure its own pipes and subprocesses as much as the
 * provider.
 *
 * Exit status: 0 when every measurement was valid, goals met or not (the
 * table says which); 1 when a measurement was invalid (a bad answer, a
 * crash, a baseline that failed); 2 when the bench could not start.
 *
 * Usage: bench-driver [--smoke]. Knobs: environment, see config_load().
 * --smoke runs each comparison once on tiny inputs and judges no goal: the
 * ctest bench_smoke, proving the harness and the baselines still work.
 */
#include "answers.h"
#include "measure.h"
#include "report.h"
#include "simctl.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct config {
    int smoke;
    size_t rounds, start_rounds, mem_rounds, sweep_rounds, bridge_rounds, tf_rounds;
    size_t reads, validates, mem_reads, mem_big, sweep_reads, sweep_max, seed;
    int mem_delay_ms;
    char out_dir[512], markdown[512];
} config;

static config cfg;
static int invalid;           /* a measurement was invalid: exit 1 */
static int cpu_prog = -1;     /* the measured programs' CPU */
static int cpu_sim = -1;      /* the simulator's and the driver's */
static cpu_set_t orig_mask;   /* the driver's mask at start, for tools that pin nothing */
static char work[256];        /* temporary folder */
static char stderr_path[300]; /* the last measured program's stderr */
static bench_sim sim;

static size_t env_size(const char *name, size_t def) {
    const char *v = getenv(name);
    return v && *v ? strtoul(v, NULL, 10) : def;
}

/* Knobs (environment) and their defaults, chosen so that the whole of
 * `make bench` takes about 3 minutes on an idle 2-core machine. */
static void config_load(int smoke) {
    cfg.smoke = smoke;
    cfg.rounds = env_size("BENCH_ROUNDS", smoke ? 1 : 5);
    cfg.start_rounds = env_size("BENCH_START_ROUNDS", smoke ? 1 : 30);
    cfg.mem_rounds = env_size("BENCH_MEM_ROUNDS", 1);
    cfg.sweep_rounds = env_size("BENCH_SWEEP_ROUNDS", 1);
    cfg.bridge_rounds = env_size("BENCH_BRIDGE_ROUNDS", 20);
    cfg.tf_rounds = env_size("BENCH_TF_ROUNDS", 5);
    cfg.reads = env_size("BENCH_READS", smoke ? 20 : 10000);
    cfg.validates = env_size("BENCH_VALIDATES", smoke ? 20 : 100000);
    cfg.mem_reads = env_size("BENCH_MEM_READS", smoke ? 20 : 1000);
    cfg.mem_big = env_size("BENCH_MEM_BIG", smoke ? 40 : 10000);
    cfg.mem_delay_ms = (int)env_size("BENCH_MEM_DELAY_MS", smoke ? 0 : 2000);
    cfg.sweep_reads = env_size("BENCH_SWEEP_READS", smoke ? 20 : 2000);
    cfg.sweep_max = env_size("BENCH_SWEEP_MAX", smoke ? 2 : 512);
    cfg.seed = env_size("BENCH_SEED", 1000);
    const char *out = getenv("BENCH_OUT_DIR");
    snprintf(cfg.out_dir, sizeof(cfg.out_dir), "%s", out && *out ? out : BENCH_SRC_DIR "/docs");
    const char *md = getenv("BENCH_MARKDOWN");
    snprintf(cfg.markdown, sizeof(cfg.markdown), "%s",
             md && *md ? md : BENCH_BUILD_DIR "/bench/results.md");
    if (cfg.rounds < 1)
        cfg.rounds = 1;
    if (cfg.start_rounds < 1)
        cfg.start_rounds = 1;
    if (cfg.mem_rounds < 1)
        cfg.mem_rounds = 1;
    if (cfg.sweep_rounds < 1)
        cfg.sweep_rounds = 1;
    if (cfg.seed < 1)
        cfg.seed = 1;
}

static goal_verdict judge(int met) {
    return cfg.smoke ? GOAL_NOT_JUDGED : met ? GOAL_MET : GOAL_NOT_MET;
}

static void show_stderr(void) {
    FILE *f = fopen(stderr_path, "r");
    char line[512];
    int n = 0;
    while (f && fgets(line, sizeof(line), f) && n++ < 20)
        fprintf(stderr, "    | %s", line);
    if (f)
        fclose(f);
}

/* Runs one measured program and checks it: exit status 0 and, when
 * n_answers > 0, one good answer per request (answers.h). A failure marks
 * the whole bench invalid. Returns 0 or -1; *r is filled in either way. */
static int run_checked(const char *label, const char *const argv[], const bm_lines *in,
                       bm_options *o, size_t n_answers, size_t reads_from, bm_run *r) {
    o->cpu = cpu_prog;
    o->stderr_path = stderr_path;
    char why[800] = "";
    if (bm_run_program(argv, in, o, r) != 0 || !bm_run_ok(r)) {
        snprintf(why, sizeof(why), "did not exit 0 (wait status %d)", r->status);
    } else if (n_answers > 0) {
        bm_check_answers(r->out, n_answers, reads_from, why, sizeof(why));
    }
    if (!*why)
        return 0;
    fprintf(stderr, "bench: INVALID: %s: %s\n", label, why);
    show_stderr();
    invalid = 1;
    return -1;
}

/* The plain client's own count and time ("reads N seconds S"). */
static int run_client(const char *label, size_t n, size_t inflight, bm_options *o, bm_run *r,
                      double *seconds) {
    char n_s[32], k_s[32];
    snprintf(n_s, sizeof(n_s), "%zu", n);
    snprintf(k_s, sizeof(k_s), "%zu", inflight);
    const char *argv[] = {
        CURL_CLIENT_BIN, sim.sim.base_url, sim.sim.token, sim.ids_path, n_s, k_s, "64", NULL};
    if (run_checked(label, argv, NULL, o, 0, 0, r) != 0)
        return -1;
    size_t got = 0;
    if (sscanf(r->out, "reads %zu seconds %lf", &got, seconds) != 2 || got != n) {
        fprintf(stderr, "bench: INVALID: %s: unexpected output %.200s\n", label, r->out);
        invalid = 1;
        return -1;
    }
    return 0;
}

/* ---- inputs ---------------------------------------------------------- */

static void schema_input(bm_lines *l) {
    bm_lines_add(l,
                 "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"GetProviderSchema\",\"params\":{}}");
}

/* ConfigureProvider (id 0), then n pipelined ReadResource (ids 1..n) over
 * the seeded connectors, round robin. */
static void reads_input(bm_lines *l, size_t n) {
    bm_lines_add(l,
                 "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ConfigureProvider\",\"params\":{"
                 "\"config\":{\"api_token\":\"%s\",\"base_url\":\"%s\"}}}",
                 sim.sim.token, sim.sim.base_url);
    for (size_t i = 1; i <= n; i++)
        bm_lines_add(l,
                     "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"ReadResource\",\"params\":{"
                     "\"type_name\":\"sso_connector\",\"current_state\":%s}}",
                     i, sim.states[(i - 1) % sim.n_states]);
}

static void validates_input(bm_lines *l, size_t n) {
    for (size_t i = 0; i < n; i++)
        bm_lines_add(
            l,
            "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"ValidateResourceConfig\","
            "\"params\":{\"type_name\":\"sso_connector\",\"config\":{\"account_id\":\"%s\","
            "\"email_domain\":\"d%zu.bench.example\"}}}",
            i, BENCH_ACCOUNT, i);
}

static void fmt(char *buf, size_t len, double v, const char *unit) {
    snprintf(buf, len, v >= 100 ? "%.0f %s" : "%.1f %s", v, unit);
}

/* ---- cold start ------------------------------------------------------ */

/* Spawn, one GetProviderSchema, exit on EOF: the provider against the
 * trivial program with the same libraries and the one with libc only. */
static void bench_cold_start(void) {
    bm_lines in = {0};
    schema_input(&in);
    const char *prov[] = {PROVIDER_BIN, NULL};
    const char *libs[] = {TRIVIAL_LIBS_BIN, NULL};
    const char *libc[] = {TRIVIAL_LIBC_BIN, NULL};
    size_t n = cfg.start_rounds;
    double *p = calloc(n, sizeof(double)), *l = calloc(n, sizeof(double)),
           *c = calloc(n, sizeof(double)), *rl = calloc(n, sizeof(double)),
           *rc = calloc(n, sizeof(double));
    bm_run r;
    bm_options o = {0};
    for (int w = 0; w < (cfg.smoke ? 0 : 2); w++) { /* warm-up: page cache, dynamic linker */
        run_checked("cold start warm-up: provider", prov, &in, &o, 1, 1, &r);
        bm_run_free(&r);
        run_checked("cold start warm-up: trivial (libs)", libs, &in, &o, 1, 1, &r);
        bm_run_free(&r);
        run_checked("cold start warm-up: trivial (libc)", libc, &in, &o, 1, 1, &r);
        bm_run_free(&r);
    }
    for (size_t i = 0; i < n && !invalid; i++) {
        run_checked("cold start: provider", prov, &in, &o, 1, 1, &r);
        p[i] = r.wall_ms;
        bm_run_free(&r);
        run_checked("cold start: trivial (same libs)", libs, &in, &o, 1, 1, &r);
        l[i] = r.wall_ms;
        bm_run_free(&r);
        run_checked("cold start: trivial (libc only)", libc, &in, &o, 1, 1, &r);
        c[i] = r.wall_ms;
        bm_run_free(&r);
        rl[i] = p[i] / l[i];
        rc[i] = p[i] / c[i];
    }
    double ratio_l = median(rl, n), ratio_c = median(rc, n);
    char a[32], b[64], t[32];
    fmt(a, sizeof(a), median(p, n), "ms");
    fmt(t, sizeof(t), median(l, n), "ms");
    snprintf(b, sizeof(b), "%s (trivial, same libs)", t);
    report_add("Cold start: spawn, GetProviderSchema, EOF (wall)", a, b, ratio_l, "<= 1.10x",
               judge(ratio_l <= 1.10));
    fmt(t, sizeof(t), median(c, n), "ms");
    snprintf(b, sizeof(b), "%s (trivial, libc only)", t);
    report_add("Cold start, unlinked ratio (wall)", a, b, ratio_c, "none (figure only)", GOAL_NONE);
    printf("cold start: %zu rounds done\n", n);
    fflush(stdout);
    free(p), free(l), free(c), free(rl), free(rc);
    bm_lines_free(&in);
}

/* ---- refresh --------------------------------------------------------- */

/* N pipelined ReadResource: the provider's CPU against the floor's, its
 * wall against the plain client's (64 transfers, 64 connections). Round 0
 * also compares the provider's results with the floor's, id by id. */
static void bench_refresh(void) {
    bm_lines in = {0}, warm = {0};
    size_t n = cfg.reads, R = cfg.rounds;
    reads_input(&in, n);
    reads_input(&warm, n < 1000 ? n : 1000);
    const char *prov[] = {PROVIDER_BIN, NULL};
    const char *floor_[] = {RPC_FLOOR_BIN, NULL};
    double *pc = calloc(R, sizeof(double)), *pw = calloc(R, sizeof(double)),
           *fc = calloc(R, sizeof(double)), *fw = calloc(R, sizeof(double)),
           *r_fw = calloc(R, sizeof(double)), *cw = calloc(R, sizeof(double)),
           *cc = calloc(R, sizeof(double)), *r_cpu = calloc(R, sizeof(double)),
           *r_wall = calloc(R, sizeof(double)), *r_cc = calloc(R, sizeof(double));
    bm_run r, rf;
    bm_options o = {0};
    double secs;
    if (!cfg.smoke) { /* warm-up, smaller: the simulator's connections, page cache */
        run_checked("refresh warm-up: provider", prov, &warm, &o, warm.n, 1, &r);
        bm_run_free(&r);
        run_checked("refresh warm-up: floor", floor_, &warm, &o, warm.n, 1, &r);
        bm_run_free(&r);
        run_client("refresh warm-up: plain client", warm.n - 1, 64, &o, &r, &secs);
        bm_run_free(&r);
    }
    for (size_t i = 0; i < R && !invalid; i++) {
        run_checked("refresh: provider", prov, &in, &o, in.n, 1, &r);
        run_checked("refresh: JSON-RPC floor", floor_, &in, &o, in.n, 1, &rf);
        if (i == 0 && !invalid) {
            size_t compared = 0;
            char why[800] = "";
            size_t differ = bm_compare_results(r.out, rf.out, in.n, &compared, why, sizeof(why));
            printf("refresh: floor vs provider: %zu of %zu results equal (json_equal of each "
                   "result: new_state, drift, diagnostics)\n",
                   compared - differ, compared);
            if (differ) {
                fprintf(stderr, "bench: INVALID: the floor's results differ: %s\n", why);
                invalid = 1;
            }
        }
        pc[i] = r.cpu_ms, pw[i] = r.wall_ms, fc[i] = rf.cpu_ms, fw[i] = rf.wall_ms;
        bm_run_free(&r);
        bm_run_free(&rf);
        run_client("refresh: plain client", n, 64, &o, &r, &secs);
        cw[i] = r.wall_ms, cc[i] = r.cpu_ms;
        bm_run_free(&r);
        r_cpu[i] = pc[i] / fc[i], r_wall[i] = pw[i] / cw[i], r_cc[i] = pc[i] / cc[i];
        r_fw[i] = fw[i] / cw[i];
    }
    char fig[96], a[32], b[64], t[32];
    double rc = median(r_cpu, R), rw = median(r_wall, R), rcc = median(r_cc, R);
    snprintf(fig, sizeof(fig), "Refresh: %zu pipelined ReadResource (CPU)", n);
    fmt(a, sizeof(a), median(pc, R), "ms");
    fmt(t, sizeof(t), median(fc, R), "ms");
    snprintf(b, sizeof(b), "%s (JSON-RPC floor)", t);
    report_add(fig, a, b, rc, "<= 1.20x", judge(rc <= 1.20));
    snprintf(fig, sizeof(fig), "Refresh: %zu pipelined ReadResource (wall)", n);
    fmt(a, sizeof(a), median(pw, R), "ms");
    fmt(t, sizeof(t), median(cw, R), "ms");
    snprintf(b, sizeof(b), "%s (plain libcurl)", t);
    report_add(fig, a, b, rw, "<= 1.25x", judge(rw <= 1.25));
    /* The floor's own wall against the plain client's: what the wall goal
     * leaves for the JSON-RPC work itself, measured in the same rounds. */
    double rfw = median(r_fw, R);
    snprintf(fig, sizeof(fig), "Refresh: %zu reads, the floor's wall vs plain client", n);
    fmt(a, sizeof(a), median(fw, R), "ms");
    fmt(t, sizeof(t), median(cw, R), "ms");
    snprintf(b, sizeof(b), "%s (plain libcurl)", t);
    report_add(fig, a, b, rfw, "none (figure only)", GOAL_NONE);
    snprintf(fig, sizeof(fig), "Refresh: %zu ReadResource, CPU vs plain client", n);
    fmt(a, sizeof(a), median(pc, R), "ms");
    fmt(t, sizeof(t), median(cc, R), "ms");
    snprintf(b, sizeof(b), "%s (plain libcurl)", t);
    report_add(fig, a, b, rcc, "none (figure only)", GOAL_NONE);
    printf("refresh: %zu rounds done\n", R);
    fflush(stdout);
    free(pc), free(pw), free(fc), free(fw), free(cw), free(cc), free(r_cpu), free(r_wall),
        free(r_cc), free(r_fw);
    bm_lines_free(&in);
    bm_lines_free(&warm);
}

/* ---- memory ---------------------------------------------------------- */

/* One run with every connector GET delayed (argv NULL: the plain client,
 * which needs no more than 64 transfers for 64 connections and so shows
 * the memory of the work itself, not of a queue): the delay rule is added before
 * the start and removed mem_delay_ms after it, so every GET that reaches
 * the simulator in that time (with 64 connections: the first 64) waits
 * mem_delay_ms while the rest of the requests queue in the program. All of
 * them are in flight together for that long, as with every GET delayed,
 * without the run lasting N / 64 delays. */
static double mem_run(const char *label, const char *const argv[], const bm_lines *in,
                      size_t client_n) {
    bm_options o = {0};
    bm_run r;
    double secs, rss = 0;
    if (cfg.mem_delay_ms > 0) {
        if (bench_sim_delay_gets(&sim, cfg.mem_delay_ms) != 0) {
            fprintf(stderr, "bench: INVALID: the simulator refused the delay rule\n");
            invalid = 1;
            return 0;
        }
        o.at_ms = cfg.mem_delay_ms;
        o.at = bench_sim_clear_faults;
        o.at_arg = &sim;
    }
    int rc = argv ? run_checked(label, argv, in, &o, in->n, 1, &r)
                  : run_client(label, client_n, client_n < 64 ? client_n : 64, &o, &r, &secs);
    if (rc == 0)
        rss = r.maxrss_mib;
    bm_run_free(&r);
    bench_sim_clear_faults(&sim);
    return rss;
}

/* Peak RSS: the provider with mem_reads in flight against the plain client
 * doing the same GETs, then the provider with mem_big sent at once, judged
 * against its own mem_reads figure (bounded, not linear). */
static void bench_memory(void) {
    bm_lines small = {0}, big = {0};
    reads_input(&small, cfg.mem_reads);
    reads_input(&big, cfg.mem_big);
    const char *prov[] = {PROVIDER_BIN, NULL};
    size_t R = cfg.mem_rounds;
    double *ps = calloc(R, sizeof(double)), *cs = calloc(R, sizeof(double)),
           *pb = calloc(R, sizeof(double)), *ratio = calloc(R, sizeof(double));
    for (size_t i = 0; i < R && !invalid; i++) {
        ps[i] = mem_run("memory: provider, small", prov, &small, 0);
        cs[i] = mem_run("memory: plain client, small", NULL, NULL, cfg.mem_reads);
        pb[i] = mem_run("memory: provider, big", prov, &big, 0);
        ratio[i] = ps[i] > 0 ? ps[i] / cs[i] : 0;
    }
    double p = median(ps, R), c = median(cs, R), b = median(pb, R), rr = median(ratio, R);
    char fig[96], a[32], base[64], t[32];
    snprintf(fig, sizeof(fig), "Memory: %zu ReadResource in flight, %d ms GETs (peak RSS)",
             cfg.mem_reads, cfg.mem_delay_ms);
    fmt(a, sizeof(a), p, "MiB");
    fmt(t, sizeof(t), c, "MiB");
    snprintf(base, sizeof(base), "%s (plain libcurl, 64 transfers)", t);
    report_add(fig, a, base, rr, "< 16 MiB (provider)", judge(p < 16));
    /* Bounded: under a fixed 32 MiB and at most twice the smaller run's
     * peak, where holding every request (linear growth) would be ~10x. */
    snprintf(fig, sizeof(fig), "Memory: %zu ReadResource sent at once (peak RSS)", cfg.mem_big);
    fmt(a, sizeof(a), b, "MiB");
    fmt(t, sizeof(t), p, "MiB");
    snprintf(base, sizeof(base), "%s (provider, %zu)", t, cfg.mem_reads);
    report_add(fig, a, base, p > 0 ? b / p : -1, "bounded: < 32 MiB, <= 2x",
               judge(b < 32 && p > 0 && b / p <= 2.0));
    printf("memory: %zu rounds done\n", R);
    fflush(stdout);
    free(ps), free(cs), free(pb), free(ratio);
    bm_lines_free(&small);
    bm_lines_free(&big);
}

/* ---- dispatch -------------------------------------------------------- */

/* N pipelined ValidateResourceConfig (no network): the provider's CPU
 * against jansson parse-and-dump of the same lines; wall beside it. */
static void bench_dispatch(void) {
    bm_lines in = {0}, warm = {0};
    size_t n = cfg.validates, R = cfg.rounds;
    validates_input(&in, n);
    validates_input(&warm, n < 1000 ? n : 1000);
    const char *prov[] = {PROVIDER_BIN, NULL};
    const char *loop[] = {JANSSON_LOOP_BIN, NULL};
    double *pc = calloc(R, sizeof(double)), *pw = calloc(R, sizeof(double)),
           *jc = calloc(R, sizeof(double)), *jw = calloc(R, sizeof(double)),
           *rc = calloc(R, sizeof(double)), *rw = calloc(R, sizeof(double));
    bm_run r;
    bm_options o = {0};
    if (!cfg.smoke) {
        run_checked("dispatch warm-up: provider", prov, &warm, &o, warm.n, warm.n, &r);
        bm_run_free(&r);
        run_checked("dispatch warm-up: jansson loop", loop, &warm, &o, warm.n, warm.n, &r);
        bm_run_free(&r);
    }
    for (size_t i = 0; i < R && !invalid; i++) {
        run_checked("dispatch: provider", prov, &in, &o, n, n, &r);
        pc[i] = r.cpu_ms, pw[i] = r.wall_ms;
        bm_run_free(&r);
        run_checked("dispatch: jansson parse-and-dump", loop, &in, &o, n, n, &r);
        jc[i] = r.cpu_ms, jw[i] = r.wall_ms;
        bm_run_free(&r);
        rc[i] = pc[i] / jc[i], rw[i] = pw[i] / jw[i];
    }
    char fig[96], a[32], b[64], t[32];
    double ratio_c = median(rc, R), ratio_w = median(rw, R);
    snprintf(fig, sizeof(fig), "Dispatch: %zu ValidateResourceConfig (CPU)", n);
    fmt(a, sizeof(a), median(pc, R), "ms");
    fmt(t, sizeof(t), median(jc, R), "ms");
    snprintf(b, sizeof(b), "%s (jansson parse+dump)", t);
    report_add(fig, a, b, ratio_c, "<= 1.25x", judge(ratio_c <= 1.25));
    snprintf(fig, sizeof(fig), "Dispatch: %zu ValidateResourceConfig (wall)", n);
    fmt(a, sizeof(a), median(pw, R), "ms");
    fmt(t, sizeof(t), median(jw, R), "ms");
    snprintf(b, sizeof(b), "%s (jansson parse+dump)", t);
    report_add(fig, a, b, ratio_w, "none (CPU is judged)", GOAL_NONE);
    printf("dispatch: %zu rounds done\n", R);
    fflush(stdout);
    free(pc), free(pw), free(jc), free(jw), free(rc), free(rw);
    bm_lines_free(&in);
    bm_lines_free(&warm);
}

/* ---- throughput sweep ------------------------------------------------ */

/* Reads/s with exactly K requests outstanding, K = 1, 2, 4 .. sweep_max:
 * the provider fed one ReadResource per answer (after ConfigureProvider has
 * been answered; the clock runs from the first read written to the last
 * answer), the plain client with K transfers (its own clock, from the first
 * transfer added to the last done). Writes the data file and the gnuplot
 * script to out_dir and renders the PNG when gnuplot is there. */
static void bench_sweep(void) {
    bm_lines in = {0};
    reads_input(&in, cfg.sweep_reads);
    const char *prov[] = {PROVIDER_BIN, NULL};
    char dat[700], gp[700];
    snprintf(dat, sizeof(dat), "%s/bench-throughput.dat", cfg.out_dir);
    snprintf(gp, sizeof(gp), "%s/bench-throughput.gp", cfg.out_dir);
    FILE *f = fopen(dat, "w");
    if (!f) {
        fprintf(stderr, "bench: INVALID: cannot write %s\n", dat);
        invalid = 1;
        return;
    }
    char machine[320];
    report_machine(machine, sizeof(machine));
    fprintf(f,
            "# make bench throughput sweep: %zu ReadResource per point against cf-api-sim\n"
            "# %s\n# in_flight provider_reads_per_s plain_libcurl_reads_per_s\n",
            cfg.sweep_reads, machine);
    double at64_p = 0, at64_c = 0;
    size_t at64_k = 0;
    size_t R = cfg.sweep_rounds;
    double *pr = calloc(R, sizeof(double)), *cr = calloc(R, sizeof(double));
    for (size_t k = 1; k <= cfg.sweep_max && !invalid; k *= 2) {
        for (size_t i = 0; i < R && !invalid; i++) {
            bm_options o = {.window = k, .mark = 1, .hold_prelude = 1};
            bm_run r;
            double secs = 0;
            if (run_checked("sweep: provider", prov, &in, &o, in.n, 1, &r) == 0)
                pr[i] = r.active_s > 0 ? (double)cfg.sweep_reads / r.active_s : 0;
            bm_run_free(&r);
            bm_options oc = {0};
            if (run_client("sweep: plain client", cfg.sweep_reads, k, &oc, &r, &secs) == 0)
                cr[i] = secs > 0 ? (double)cfg.sweep_reads / secs : 0;
            bm_run_free(&r);
        }
        double p = median(pr, R), c = median(cr, R);
        fprintf(f, "%zu %.0f %.0f\n", k, p, c);
        printf("sweep: %3zu in flight: provider %7.0f reads/s, plain libcurl %7.0f reads/s\n", k, p,
               c);
        fflush(stdout);
        if (k <= 64)
            at64_p = p, at64_c = c, at64_k = k;
    }
    fclose(f);
    free(pr);
    free(cr);
    bm_lines_free(&in);
    f = fopen(gp, "w");
    if (f) {
        fprintf(f,
                "# Renders bench-throughput.png from bench-throughput.dat (written by make "
                "bench).\n"
                "# Run from this folder: gnuplot bench-throughput.gp\n"
                "set terminal pngcairo size 900,540 font 'sans,11'\n"
                "set output 'bench-throughput.png'\n"
                "set title 'ReadResource throughput against cf-api-sim (%zu reads per point)'\n"
                "set xlabel 'requests in flight'\n"
                "set ylabel 'reads per second'\n"
                "set logscale x 2\n"
                "set xrange [0.8:%zu]\n"
                "set yrange [0:*]\n"
                "set grid\n"
                "set key top left\n"
                "plot 'bench-throughput.dat' using 1:3 with linespoints lw 2 pt 7 title 'plain "
                "libcurl-multi client (the limit)', \\\n"
                "     'bench-throughput.dat' using 1:2 with linespoints lw 2 pt 5 title "
                "'provider-cloudflare'\n",
                cfg.sweep_reads, cfg.sweep_max * 5 / 4);
        fclose(f);
    }
    if (!cfg.smoke) {
        char cmd[1600];
        snprintf(cmd, sizeof(cmd),
                 "command -v gnuplot >/dev/null 2>&1 && cd '%s' && gnuplot bench-throughput.gp",
                 cfg.out_dir);
        if (system(cmd) == 0)
            printf("sweep: wrote %s/bench-throughput.png\n", cfg.out_dir);
        else
            printf("sweep: gnuplot not run (not installed?): data in %s\n", dat);
    }
    char a[32], b[64], t[32];
    snprintf(a, sizeof(a), "%.0f/s", at64_p);
    snprintf(t, sizeof(t), "%.0f/s", at64_c);
    snprintf(b, sizeof(b), "%s (plain libcurl)", t);
    char fig[96];
    snprintf(fig, sizeof(fig), "Throughput, %zu ReadResource in flight (reads/s)", at64_k);
    report_add(fig, a, b, at64_c > 0 ? at64_p / at64_c : -1, "none (see the plot)", GOAL_NONE);
}

/* ---- tools run as they are ------------------------------------------ */

/* Runs a command with the driver's original CPU mask (the tools pin
 * nothing and start their own processes), echoing its output; the lines
 * holding `key` give their first number after `key` into vals[]. Returns
 * the command's exit status. */
static int run_tool(const char *cmd, const char *key, double *vals, int max_vals, int *n_vals) {
    sched_setaffinity(0, sizeof(orig_mask), &orig_mask);
    FILE *p = popen(cmd, "r");
    char line[512];
    *n_vals = 0;
    while (p && fgets(line, sizeof(line), p)) {
        fputs(line, stdout);
        char *k = strstr(line, key);
        if (k && *n_vals < max_vals && sscanf(k + strlen(key), "%lf", &vals[*n_vals]) == 1)
            (*n_vals)++;
    }
    int status = p ? pclose(p) : -1;
    if (cpu_sim >= 0)
        bm_pin_self(cpu_sim);
    fflush(stdout);
    return status;
}

/* bench-bridge-start as it is (its own interleaved rounds): parses its
 * three medians (provider ms, bridge ms, ratio). Not built without the
 * bridge's dependencies: a row says so. */
static void bench_bridge(void) {
#ifdef BRIDGE_START_BIN
    char cmd[700];
    double v[3];
    int n;
    snprintf(cmd, sizeof(cmd), "'%s' %zu 2>&1", BRIDGE_START_BIN, cfg.bridge_rounds);
    if (run_tool(cmd, "median", v, 3, &n) != 0 || n != 3) {
        fprintf(stderr, "bench: INVALID: bench-bridge-start failed\n");
        invalid = 1;
        return;
    }
    char a[32], b[64], t[32];
    fmt(a, sizeof(a), v[1], "ms");
    fmt(t, sizeof(t), v[0], "ms");
    snprintf(b, sizeof(b), "%s (provider-cloudflare)", t);
    report_add("Bridge start to first GetProviderSchema (wall)", a, b, v[2], "<= 1.5x",
               judge(v[2] <= 1.5));
#else
    report_add("Bridge start to first GetProviderSchema (wall)", "not built", "-", -1, "<= 1.5x",
               GOAL_NONE);
#endif
}

/* bench/terraform-plan.sh when terraform is on PATH: parses its medians
 * (1 connector, 100 connectors, ratio); recorded, no goal. */
static void bench_terraform(void) {
    if (system("command -v terraform >/dev/null 2>&1") != 0) {
        report_add("No-change terraform plan, 100 connectors (wall)", "skipped",
                   "terraform not on PATH", -1, "record only", GOAL_NONE);
        return;
    }
    char cmd[1200];
    double v[3];
    int n;
    snprintf(cmd, sizeof(cmd), "'%s/bench/terraform-plan.sh' '%s' %zu 2>&1", BENCH_SRC_DIR,
             BENCH_BUILD_DIR, cfg.tf_rounds);
    if (run_tool(cmd, "median", v, 3, &n) != 0 || n != 3) {
        fprintf(stderr, "bench: INVALID: bench/terraform-plan.sh failed\n");
        invalid = 1;
        return;
    }
    char a[32], b[64], t[32];
    fmt(a, sizeof(a), v[1], "ms");
    fmt(t, sizeof(t), v[0], "ms");
    snprintf(b, sizeof(b), "%s (1 connector)", t);
    report_add("No-change terraform plan, 100 connectors (wall)", a, b, v[2], "record only",
               GOAL_NONE);
}

/* ---- negative control (smoke) ------------------------------------- */

/* Proves the answer check refuses what a fast failure looks like: a
 * ReadResource before ConfigureProvider (a result with an error
 * diagnostic) and an unknown method (a JSON-RPC error), both from the real
 * provider. A check that accepted either would make every figure suspect. */
static void negative_control(void) {
    const char *prov[] = {PROVIDER_BIN, NULL};
    const char *cases[2] = {"ReadResource", "NoSuchMethod"};
    for (int c = 0; c < 2; c++) {
        bm_lines in = {0};
        bm_lines_add(&in,
                     "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"%s\",\"params\":{"
                     "\"type_name\":\"sso_connector\",\"current_state\":%s}}",
                     cases[c], sim.states[0]);
        bm_options o = {.cpu = cpu_prog, .stderr_path = stderr_path};
        bm_run r;
        char why[800] = "";
        if (bm_run_program(prov, &in, &o, &r) != 0 || r.answers != 1 ||
            bm_check_answers(r.out, 1, 0, why, sizeof(why)) == 0) {
            fprintf(stderr, "bench: INVALID: the answer check accepted a failed %s: %.300s\n",
                    cases[c], r.out ? r.out : "");
            invalid = 1;
        } else {
            printf("negative control: a failed %s is refused (%s)\n", cases[c], why);
        }
        bm_run_free(&r);
        bm_lines_free(&in);
    }
}

/* ---- main ------------------------------------------------------------ */

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--smoke") != 0) {
        printf("usage: bench-driver [--smoke]\n"
               "Runs every comparison of docs/PERFORMANCE.md (make bench); --smoke runs each\n"
               "on tiny inputs and judges no goal (ctest bench_smoke). Settings come from\n"
               "the environment: BENCH_ROUNDS, BENCH_READS, ... (see docs/PERFORMANCE.md).\n");
        return strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ? 0 : 2;
    }
    int smoke = argc > 1;
    config_load(smoke);
    signal(SIGPIPE, SIG_IGN);
    sched_getaffinity(0, sizeof(orig_mask), &orig_mask);
    /* Smoke mode times nothing, and runs beside other tests in ctest: no
     * pinning there, so it never waits for one busy CPU. */
    if (!smoke && sysconf(_SC_NPROCESSORS_ONLN) >= 2 && CPU_ISSET(0, &orig_mask) &&
        CPU_ISSET(1, &orig_mask)) {
        cpu_prog = 0;
        cpu_sim = 1;
        bm_pin_self(cpu_sim);
    }
    snprintf(work, sizeof(work), "%s/bench.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(work)) {
        perror("bench: mkdtemp");
        return 2;
    }
    if (smoke)
        snprintf(cfg.out_dir, sizeof(cfg.out_dir), "%s", work);
    snprintf(stderr_path, sizeof(stderr_path), "%s/stderr.txt", work);
    char sim_err[300], ids[300], machine[320];
    snprintf(sim_err, sizeof(sim_err), "%s/sim.stderr", work);
    snprintf(ids, sizeof(ids), "%s/ids.txt", work);
    report_machine(machine, sizeof(machine));
    printf("bench: %s; programs on CPU %d, cf-api-sim and the driver on CPU %d%s\n", machine,
           cpu_prog, cpu_sim,
           cpu_prog >= 0 ? ""
           : smoke       ? " (smoke: not pinned)"
                         : " (not pinned: fewer than 2 CPUs)");
    size_t seed = cfg.reads;
    if (cfg.mem_big > seed)
        seed = cfg.mem_big;
    if (cfg.seed < seed)
        seed = cfg.seed;
    if (bench_sim_start(&sim, cpu_sim, sim_err) != 0 || bench_sim_seed(&sim, seed, ids) != 0) {
        fprintf(stderr, "bench: cannot start or seed cf-api-sim\n");
        bench_sim_stop(&sim);
        return 2;
    }
    printf("bench: cf-api-sim at %s, %zu connectors seeded\n", sim.sim.origin, seed);
    fflush(stdout);
    double t0 = bm_now_ms();
    if (smoke)
        negative_control();
    bench_cold_start();
    if (!invalid)
        bench_dispatch();
    if (!invalid)
        bench_refresh();
    if (!invalid)
        bench_memory();
    if (!invalid)
        bench_sweep();
    if (bench_sim_stop(&sim) != 0) {
        fprintf(stderr, "bench: INVALID: cf-api-sim did not exit cleanly (%s)\n", sim_err);
        invalid = 1;
    }
    if (!smoke && !invalid) {
        bench_bridge();
        bench_terraform();
    }
    report_print();
    char title[400];
    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime(&now));
    snprintf(title, sizeof(title),
             "`make bench`, %s (rounds %zu, reads %zu, validates %zu, cold-start rounds %zu)%s",
             when, cfg.rounds, cfg.reads, cfg.validates, cfg.start_rounds,
             invalid ? " - INVALID RUN" : "");
    if (!smoke && report_write_markdown(cfg.markdown, title) == 0)
        printf("\nMarkdown table: %s\n", cfg.markdown);
    printf("bench: %.0f s; %s\n", (bm_now_ms() - t0) / 1e3,
           invalid ? "INVALID: a measurement failed (see above)"
                   : "every measured answer was a result with empty diagnostics");
    char rm[400];
    snprintf(rm, sizeof(rm), "rm -rf '%s'", work);
    if (system(rm) != 0)
        fprintf(stderr, "bench: could not remove %s\n", work);
    return invalid ? 1 : 0;
}
