/*
 * main.c - cf-api-sim: command line, start-up, and clean shutdown on
 * SIGINT/SIGTERM.
 *
 * The signals are blocked before any thread starts (so every MHD and timer
 * thread inherits the mask) and taken synchronously with sigwait, which keeps
 * the shutdown path ordinary code instead of a signal handler.
 */
#include "app.h"
#include "server.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: cf-api-sim --token TOKEN [options]\n"
               "\n"
               "A local simulator of the Cloudflare account SSO connectors API on 127.0.0.1.\n"
               "The first line on stdout is \"listening on http://127.0.0.1:PORT\"; the\n"
               "second gives the provider's base_url (that address + /client/v4).\n"
               "\n"
               "  --port N             port to listen on (0, the default, picks a free one)\n"
               "  --token TOKEN        accept \"Authorization: Bearer TOKEN\"\n"
               "  --email EMAIL        with --key, also accept X-Auth-Email/X-Auth-Key\n"
               "  --key KEY\n"
               "  --state FILE         keep connectors in FILE across restarts (JSON)\n"
               "  --threads N          worker threads (default 2)\n"
               "  --lenient-enable     allow enabling connectors that are not verified\n"
               "  --rate-limit N/S     at most N API requests per S seconds (e.g. 1200/300)\n"
               "  --page-size N        lists answer N connectors a page unless per_page is\n"
               "                       given (default: every connector on one page)\n"
               "  --request-log-mib N  keep at most N MiB of request log (4..65536,\n"
               "                       default 64; the oldest entries go first)\n"
               "  --help               this text\n"
               "\n"
               "See docs/SIMULATOR.md for the API, the control plane under /__sim/ and faults.\n");
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out) {
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* Parses argv into *cfg. Returns 0, 1 for --help, or -1 after printing the
 * problem. */
static int parse_args(int argc, char **argv, sim_config *cfg) {
    enum {
        O_PORT = 1,
        O_TOKEN,
        O_STATE,
        O_THREADS,
        O_LENIENT,
        O_RATE,
        O_EMAIL,
        O_KEY,
        O_HELP,
        O_PAGE,
        O_LOG_MIB
    };
    static const struct option opts[] = {
        {"port", required_argument, NULL, O_PORT},
        {"token", required_argument, NULL, O_TOKEN},
        {"state", required_argument, NULL, O_STATE},
        {"threads", required_argument, NULL, O_THREADS},
        {"lenient-enable", no_argument, NULL, O_LENIENT},
        {"rate-limit", required_argument, NULL, O_RATE},
        {"page-size", required_argument, NULL, O_PAGE},
        {"request-log-mib", required_argument, NULL, O_LOG_MIB},
        {"email", required_argument, NULL, O_EMAIL},
        {"key", required_argument, NULL, O_KEY},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    memset(cfg, 0, sizeof(*cfg));
    cfg->threads = 2;
    cfg->request_log_mib = (unsigned)(REQLOG_DEFAULT_MAX_BYTES / (1024 * 1024));
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_PORT:
            if (parse_uint(optarg, 0, 65535, &cfg->port) < 0) {
                fprintf(stderr, "cf-api-sim: --port takes 0..65535\n");
                return -1;
            }
            break;
        case O_TOKEN:
            cfg->token = optarg;
            break;
        case O_STATE:
            cfg->state_path = optarg;
            break;
        case O_THREADS:
            if (parse_uint(optarg, 1, 64, &cfg->threads) < 0) {
                fprintf(stderr, "cf-api-sim: --threads takes 1..64\n");
                return -1;
            }
            break;
        case O_LENIENT:
            cfg->lenient_enable = true;
            break;
        case O_PAGE:
            if (parse_uint(optarg, 1, 1000, &cfg->page_size) < 0) {
                fprintf(stderr, "cf-api-sim: --page-size takes 1..1000\n");
                return -1;
            }
            break;
        case O_LOG_MIB:
            /* At least 4 MiB: more than the largest entry (a 1 MiB body held
             * twice, plus headers), so the cap never has to refuse one. */
            if (parse_uint(optarg, 4, 65536, &cfg->request_log_mib) < 0) {
                fprintf(stderr, "cf-api-sim: --request-log-mib takes 4..65536\n");
                return -1;
            }
            break;
        case O_RATE:
            if (ratelimit_parse(optarg, &cfg->rl_limit, &cfg->rl_window_s) < 0) {
                fprintf(stderr,
                        "cf-api-sim: --rate-limit takes N/SECONDS (N 1..%d, SECONDS "
                        "1..%d), e.g. 1200/300\n",
                        RATELIMIT_MAX_LIMIT, RATELIMIT_MAX_WINDOW);
                return -1;
            }
            break;
        case O_EMAIL:
            cfg->email = optarg;
            break;
        case O_KEY:
            cfg->key = optarg;
            break;
        case O_HELP:
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cf-api-sim: unexpected argument %s\n", argv[optind]);
        return -1;
    }
    if (!cfg->email != !cfg->key) {
        fprintf(stderr, "cf-api-sim: --email and --key go together\n");
        return -1;
    }
    if ((!cfg->token || !*cfg->token) && !cfg->email) {
        fprintf(stderr, "cf-api-sim: give --token TOKEN (and/or --email and --key)\n");
        return -1;
    }
    return 0;
}

static void app_free(sim_app *app) {
    delay_free(app->delay);
    ratelimit_free(app->rl);
    reqlog_free(app->log);
    faults_free(app->faults);
    store_close(app->store);
}

static int app_init(sim_app *app, char *err, size_t errlen) {
    if (store_open(&app->store, app->cfg.state_path, err, errlen) < 0)
        return -1;
    snprintf(err, errlen, "out of memory");
    if (faults_new(&app->faults) < 0 ||
        reqlog_new(&app->log, REQLOG_DEFAULT_CAP, (size_t)app->cfg.request_log_mib * 1024 * 1024) <
            0)
        return -1;
    if (app->cfg.rl_limit && ratelimit_new(&app->rl, app->cfg.rl_limit, app->cfg.rl_window_s) < 0)
        return -1;
    if (delay_new(&app->delay) < 0) {
        snprintf(err, errlen, "cannot start the timer thread");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    sim_app app;
    memset(&app, 0, sizeof(app));
    int parsed = parse_args(argc, argv, &app.cfg);
    if (parsed != 0) {
        if (parsed > 0)
            usage(stdout);
        return parsed > 0 ? 0 : 2;
    }

    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512] = "";
    struct MHD_Daemon *daemon = NULL;
    unsigned port = 0;
    if (app_init(&app, err, sizeof(err)) < 0 ||
        server_start(&app, &daemon, &port, err, sizeof(err)) < 0) {
        fprintf(stderr, "cf-api-sim: %s\n", err);
        app_free(&app);
        return 1;
    }
    printf("listening on http://127.0.0.1:%u\n", port);
    printf("base_url for the provider: http://127.0.0.1:%u/client/v4\n", port);
    fflush(stdout);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    fprintf(stderr, "cf-api-sim: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server_stop(&app, daemon);
    app_free(&app);
    return 0;
}
