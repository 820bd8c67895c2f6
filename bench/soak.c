/*
 * soak.c - `make soak`: a long randomized session against the real
 * provider-cloudflare, with faults injected into cf-api-sim all along.
 *
 * It starts cf-api-sim on a free loopback port and provider-cloudflare
 * under rpc_client (protocol.h), then keeps `concurrency` operations in
 * flight until `ops` have been started: creates, reads, updates, deletes
 * (each a PlanResourceChange then an ApplyResourceChange, as Terraform
 * does), imports by id and by domain, ListResource, and both data sources.
 * Some calls are cancelled ($/cancelRequest) a random moment after they
 * were sent. Before each operation, with probability `fault_rate`, one
 * fault rule is armed in the simulator (429, 5xx, a delay, a connection
 * dropped before or after the API commits, a partial or an empty 200
 * answer); it hits whichever API request comes next, so faults land on
 * every kind of call.
 *
 * The connectors live in `slots`: one (account, domain) pair each, and an
 * operation takes a slot for its whole duration (Terraform never works on
 * one resource twice at once). The driver's model says, per slot, whether
 * the connector exists (and its id and state), does not exist, or is
 * unknown (the provider said so: a create whose outcome it could not
 * settle, which it tells the user to import by domain). At the end the
 * faults are cleared, unknown slots are imported by domain and existing
 * ones refreshed, and the model is compared with the simulator's state:
 *
 *   duplicated  - two connectors for one domain in one account;
 *   lost        - a connector in the simulator whose id no apply or import
 *                 answer ever reported (the provider made it and forgot
 *                 it), or one found by an import probe of a slot the
 *                 provider had said was empty;
 *   unanswered  - calls with no answer when none has come for 120 s;
 *   model mismatches - slots where model and simulator disagree after the
 *                 settling pass, or a probe finding a connector a delete
 *                 had reported gone;
 *   imports by domain that missed an existing connector - checked against
 *                 the simulator the moment the import answers "not found";
 *
 * all five must be 0 (exit status 1 otherwise), and the provider must exit
 * 0. The provider's VmRSS/VmHWM are printed at the start, along the way
 * and at the end.
 *
 * Every random choice comes from one seeded PRNG (xorshift64*); the seed is
 * printed, and --seed replays the same choices (the interleaving of answers
 * still varies from run to run, so a replay is likely, not certain, to hit
 * the same bug).
 */
#include "protocol.h"
#include "sim_control.h"
#include "sim_launch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOKEN        "soak-token-not-a-real-secret"
#define N_ACCOUNTS   2
#define GRACE_MS     120000 /* no answer for this long while calls are pending: a hang */
#define MAX_FAULT_MS 2500   /* longest injected delay */

static const char *const accounts[N_ACCOUNTS] = {"023e105f4ecef8ad9ca31a8372d0c353",
                                                 "5f0ad4c8e1b94c7d9a3e2b1c0d9e8f7a"};

/* ------------------------------------------------------------------ */
/* Parameters and the PRNG                                             */
/* ------------------------------------------------------------------ */

static long opt_ops = 3000;
static int opt_concurrency = 24;
static double opt_fault_rate = 0.25;
static double opt_cancel_rate = 0.05;
static int opt_slots = 64;
static int opt_page_size; /* the simulator's --page-size; 0: lists on one page */
static uint64_t opt_seed;
static int opt_verbose;

static uint64_t rng_state;

static uint64_t rnd(void) {
    /* xorshift64*: tiny, good enough, and the same on every machine. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static unsigned rnd_below(unsigned n) {
    return (unsigned)(rnd() % n);
}
static bool rnd_chance(double p) {
    return (double)(rnd() >> 11) / 9007199254740992.0 < p;
}

/* ------------------------------------------------------------------ */
/* The simulator                                                       */
/* ------------------------------------------------------------------ */

static sim_launched sim; /* cf-api-sim: its process and address */

/* Starts the simulator with the soak's settings. Returns 0 or -1. */
static int sim_start(void) {
    /* The request log is not needed; keep it at its smallest. */
    char page_size[16];
    snprintf(page_size, sizeof(page_size), "%d", opt_page_size);
    const char *args[] = {"--token", TOKEN, "--threads", "4", "--request-log-mib",
                          "4",       NULL,  NULL,        NULL};
    if (opt_page_size > 0) {
        args[6] = "--page-size";
        args[7] = page_size;
    }
    sim_launch_options o = {.bin = SIM_BIN, .args = args, .cpu = -1};
    return sim_launch(&o, &sim);
}

/* One control-plane call (sim_control.h). Returns the parsed answer (new)
 * or NULL; *status gets the HTTP status or 0. */
static json_t *sim_http(const char *method, const char *path, const char *body, long *status) {
    return sim_control_call(sim.origin, method, path, body, 30000L, status);
}

/* ------------------------------------------------------------------ */
/* Faults                                                              */
/* ------------------------------------------------------------------ */

enum fault_kind { F_429, F_5XX, F_DELAY, F_DROP_BEFORE, F_DROP_AFTER, F_PARTIAL, F_EMPTY, F_COUNT };
static const char *const fault_names[F_COUNT] = {
    "429", "5xx", "delay", "drop-before", "drop-after", "partial-200", "empty-200"};
static long faults_armed[F_COUNT];

/* Arms one fault rule for the next API request of a random method. */
static void arm_fault(void) {
    static const char *const methods[] = {"*", "GET", "POST", "PATCH", "DELETE"};
    enum fault_kind kind = (enum fault_kind)rnd_below(F_COUNT);
    const char *method = methods[rnd_below(5)];
    json_t *rule = json_pack("{s:s, s:i}", "method", method, "count", 1);
    switch (kind) {
    case F_429:
        json_object_set_new(rule, "status", json_integer(429));
        json_object_set_new(rule, "retry_after_ms", json_integer(20 + rnd_below(300)));
        break;
    case F_5XX: {
        static const int codes[] = {500, 502, 503, 504};
        json_object_set_new(rule, "status", json_integer(codes[rnd_below(4)]));
        break;
    }
    case F_DELAY:
        json_object_set_new(rule, "delay_ms", json_integer(50 + rnd_below(MAX_FAULT_MS)));
        break;
    case F_DROP_BEFORE:
        json_object_set_new(rule, "drop", json_string("before"));
        break;
    case F_DROP_AFTER:
        json_object_set_new(rule, "drop", json_string("after"));
        break;
    case F_PARTIAL: {
        /* Answers cut short: never a complete envelope, which would be a
         * server lying about a change it did not make (a DELETE answered
         * {"success":true} without deleting is a success to any client). */
        static const char *const partial[] = {
            "{\"result\":{\"id\":\"",
            "{\"success\":true,\"errors\":[],\"messages\":[],\"result\":{\"id\":\"0123",
            "{\"success\":tr", "{\"result\":[{\"id\":\"c054622367210610ab3a0ba03be025bf\","};
        json_object_set_new(rule, "status", json_integer(200));
        json_object_set_new(rule, "body", json_string(partial[rnd_below(4)]));
        break;
    }
    case F_EMPTY:
        json_object_set_new(rule, "status", json_integer(200));
        json_object_set_new(rule, "body", json_string(""));
        break;
    default:
        break;
    }
    char *text = json_dumps(rule, JSON_COMPACT);
    json_decref(rule);
    long status = 0;
    json_decref(sim_http("POST", "/__sim/faults", text, &status));
    free(text);
    if (status == 201)
        faults_armed[kind]++;
    else
        fprintf(stderr, "soak: arming a fault failed (HTTP %ld)\n", status);
}

/* ------------------------------------------------------------------ */
/* The model                                                           */
/* ------------------------------------------------------------------ */

enum slot_state { S_ABSENT, S_EXISTS, S_UNKNOWN };

typedef struct slot {
    const char *account;
    char domain[64];
    enum slot_state state;
    json_t *tfstate; /* the resource state when S_EXISTS (owned) */
    bool busy;
} slot;

static slot *slots;

/* Every connector id an apply or import answer reported. A sorted array
 * would do as well; there are a few thousand at most. */
static char (*reported)[33];
static size_t n_reported, cap_reported;

static bool is_reported(const char *id) {
    for (size_t i = 0; i < n_reported; i++)
        if (strcmp(reported[i], id) == 0)
            return true;
    return false;
}

static void mark_reported(const char *id) {
    if (!id || strlen(id) != 32 || is_reported(id))
        return;
    if (n_reported == cap_reported) {
        cap_reported = cap_reported ? cap_reported * 2 : 256;
        reported = realloc(reported, cap_reported * sizeof(*reported));
        if (!reported)
            abort();
    }
    snprintf(reported[n_reported++], 33, "%s", id);
}

static long lost_by_probe;    /* imports that found what no answer had reported */
static long probe_mismatches; /* imports that found what a delete had said was gone */

/* ------------------------------------------------------------------ */
/* Operations                                                          */
/* ------------------------------------------------------------------ */

enum op_kind {
    K_CREATE,
    K_READ,
    K_UPDATE,
    K_DELETE,
    K_IMPORT_ID,
    K_IMPORT_DOMAIN,
    K_LIST,
    K_DS_ONE,
    K_DS_ALL,
    K_COUNT
};
static const char *const kind_names[K_COUNT] = {
    "create", "read", "update", "delete", "import-id", "import-domain", "list", "ds-one", "ds-all"};

enum outcome { O_OK, O_DIAG, O_CANCELLED, O_RPC_ERROR, O_COUNT };
static const char *const outcome_names[O_COUNT] = {"ok", "error-diag", "cancelled", "rpc-error"};
static long counts[K_COUNT][O_COUNT];
static long cancels_sent;

static uv_loop_t loop;
static rpc_client *prov;
static long ops_started, ops_done, calls_pending;
static bool settling; /* the end pass: no faults, no cancels */
static uint64_t max_latency_ms;
static uint64_t last_answer_at; /* for the hang detector */

typedef struct op {
    enum op_kind kind;
    slot *slot; /* NULL for list and ds-all */
    int stage;  /* 0: plan (for applies), 1: the call that counts */
    json_t *config;
    uint64_t started;
} op;

static void start_next(void);

/* A cancel scheduled for a call: the timer needs only the call's id (a
 * cancel for a call already answered is UV_ENOENT and harmless). */
typedef struct cancel_timer {
    uv_timer_t timer;
    int64_t id;
} cancel_timer;

static void free_handle(uv_handle_t *h) {
    free(h);
}

static void on_cancel_due(uv_timer_t *t) {
    cancel_timer *ct = (cancel_timer *)t;
    if (prov && rpc_client_cancel(prov, ct->id) == 0)
        cancels_sent++;
    uv_close((uv_handle_t *)t, free_handle);
}

static void maybe_cancel(int64_t id) {
    if (settling || !rnd_chance(opt_cancel_rate))
        return;
    cancel_timer *ct = calloc(1, sizeof(*ct));
    if (!ct)
        return;
    ct->id = id;
    uv_timer_init(&loop, &ct->timer);
    uv_timer_start(&ct->timer, on_cancel_due, rnd_below(300), 0);
}

static bool has_error_diag(json_t *result) {
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(result, "diagnostics"), i, d) {
        const char *severity = json_string_value(json_object_get(d, "severity"));
        if (severity && strcmp(severity, "error") == 0)
            return true;
    }
    return false;
}

/* True when an error diagnostic tells the user to import (the provider
 * could not tell whether the create happened, or the domain is taken). */
static bool diag_says_import(json_t *result) {
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(result, "diagnostics"), i, d) {
        const char *s = json_string_value(json_object_get(d, "summary"));
        const char *t = json_string_value(json_object_get(d, "detail"));
        if ((s && strstr(s, "mport")) || (t && strstr(t, "mport")))
            return true;
    }
    return false;
}

static bool diag_summary_is(json_t *result, const char *summary) {
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(result, "diagnostics"), i, d) {
        const char *s = json_string_value(json_object_get(d, "summary"));
        if (s && strcmp(s, summary) == 0)
            return true;
    }
    return false;
}

static long vanished;        /* reads/imports that found an existing slot's connector gone */
static long creates_unknown; /* creates answered "may exist: import it" */
static long false_not_found; /* imports by domain that missed an existing connector */

/* True when the simulator holds connector `id` right now. */
static bool sim_has_connector(const char *id) {
    long status = 0;
    json_t *world = sim_http("GET", "/__sim/connectors", NULL, &status);
    size_t i;
    json_t *c;
    bool found = false;
    json_array_foreach(json_object_get(world, "connectors"), i, c) {
        if (id && strcmp(json_string_value(json_object_get(c, "id")), id) == 0)
            found = true;
    }
    json_decref(world);
    return found;
}

static const char *state_id(json_t *state) {
    return json_string_value(json_object_get(state, "id"));
}

static void slot_set_exists(slot *s, json_t *state) {
    json_t *old = s->tfstate;
    s->tfstate = json_incref(state);
    json_decref(old);
    s->state = S_EXISTS;
    mark_reported(state_id(state));
}

static void slot_set_absent(slot *s) {
    json_decref(s->tfstate);
    s->tfstate = NULL;
    s->state = S_ABSENT;
}

static void print_diags(const char *what, json_t *result) {
    if (opt_verbose < 2)
        return;
    char *text = json_dumps(result, JSON_COMPACT);
    fprintf(stderr, "soak: %s: %s\n", what, text);
    free(text);
}

/* Folds the answer of an operation's counting call into the model. */
static enum outcome settle(op *o, json_t *result, const rpc_client_error *error) {
    slot *s = o->slot;
    if (error) {
        if (opt_verbose)
            fprintf(stderr, "soak: %s %s: JSON-RPC error %d %s\n", kind_names[o->kind],
                    s ? s->domain : "", error->code, error->message);
        if (error->code != RPC_REQUEST_CANCELLED)
            return O_RPC_ERROR;
        /* -32800 means the call changed nothing: the model stands. */
        return O_CANCELLED;
    }
    bool failed = has_error_diag(result);
    if (failed)
        print_diags(kind_names[o->kind], result);
    switch (o->kind) {
    case K_CREATE: {
        json_t *ns = json_object_get(result, "new_state");
        if (json_is_object(ns) && state_id(ns))
            slot_set_exists(s, ns);
        else if (failed && diag_says_import(result)) {
            creates_unknown++;
            s->state = S_UNKNOWN;
        } else if (failed)
            slot_set_absent(s);
        break;
    }
    case K_UPDATE:
    case K_READ: {
        json_t *ns = json_object_get(result, "new_state");
        if (json_is_object(ns) && state_id(ns))
            slot_set_exists(s, ns);
        else if (json_is_null(ns) && o->kind == K_READ) {
            vanished++;
            if (opt_verbose)
                fprintf(stderr, "soak: GONE: read of %s/%s %s: null\n", s->account, s->domain,
                        state_id(s->tfstate));
            slot_set_absent(s);
        }
        break;
    }
    case K_DELETE:
        if (!failed)
            slot_set_absent(s);
        break;
    case K_IMPORT_ID:
    case K_IMPORT_DOMAIN: {
        json_t *st = json_object_get(
            json_array_get(json_object_get(result, "imported_resources"), 0), "state");
        if (json_is_object(st) && state_id(st)) {
            if (s->state == S_ABSENT) {
                /* The provider had said there was nothing here: either it
                 * made a connector and never said so (lost), or a delete it
                 * answered as done was not. */
                bool known = is_reported(state_id(st));
                if (known)
                    probe_mismatches++;
                else
                    lost_by_probe++;
                fprintf(stderr, "soak: %s: import of %s/%s found connector %s%s\n",
                        known ? "MISMATCH" : "LOST", s->account, s->domain, state_id(st),
                        known ? ", which a delete had reported gone"
                              : " that no answer had reported");
                s->tfstate = json_incref(st);
                s->state = S_EXISTS;
            } else {
                slot_set_exists(s, st);
            }
        } else if (diag_summary_is(result, "Cannot import non-existent remote object")) {
            /* A definite "not there": an unknown slot is settled absent; an
             * existing one was deleted behind the model's back. */
            if (s->state == S_UNKNOWN)
                slot_set_absent(s);
            else if (s->state == S_EXISTS) {
                vanished++;
                if (sim_has_connector(state_id(s->tfstate))) {
                    false_not_found++;
                    fprintf(stderr,
                            "soak: FALSE NOT FOUND: import of %s/%s said there is no connector, "
                            "but %s is in the simulator\n",
                            s->account, s->domain, state_id(s->tfstate));
                }
                if (opt_verbose)
                    fprintf(stderr, "soak: GONE: import of %s/%s %s: not found\n", s->account,
                            s->domain, state_id(s->tfstate));
            }
        }
        break;
    }
    default:
        break;
    }
    return failed ? O_DIAG : O_OK;
}

static void op_finish(op *o, enum outcome out) {
    counts[o->kind][out]++;
    if (opt_verbose >= 2 && o->slot)
        fprintf(stderr, "soak: %s %s/%s: %s -> model %s %s\n", kind_names[o->kind],
                o->slot->account, o->slot->domain, outcome_names[out],
                o->slot->state == S_EXISTS    ? "exists"
                : o->slot->state == S_UNKNOWN ? "unknown"
                                              : "absent",
                o->slot->state == S_EXISTS ? state_id(o->slot->tfstate) : "");
    uint64_t took = uv_now(&loop) - o->started;
    if (took > max_latency_ms)
        max_latency_ms = took;
    if (o->slot)
        o->slot->busy = false;
    json_decref(o->config);
    free(o);
    ops_done++;
    start_next();
}

static void on_answer(rpc_client *client, int64_t id, json_t *result, const rpc_client_error *error,
                      void *arg);

static int call(op *o, const char *method, json_t *params) {
    int64_t id = 0;
    int rc = rpc_client_call_new(prov, method, params, on_answer, o, &id);
    if (rc < 0)
        return rc;
    calls_pending++;
    if (o->stage == 1)
        maybe_cancel(id);
    return 0;
}

static json_t *slot_config(const slot *s) {
    return json_pack("{s:s, s:s}", "account_id", s->account, "email_domain", s->domain);
}

/* Sends the operation's next call. */
static int op_step(op *o) {
    slot *s = o->slot;
    switch (o->kind) {
    case K_CREATE:
    case K_UPDATE:
    case K_DELETE:
        if (o->stage == 0)
            return call(o, "PlanResourceChange",
                        json_pack("{s:s, s:O?, s:O}", "type_name", "sso_connector", "prior_state",
                                  s->tfstate, "config", o->config ? o->config : json_null()));
        return -1; /* the apply is sent from on_answer, with the plan */
    case K_READ:
        return call(
            o, "ReadResource",
            json_pack("{s:s, s:O}", "type_name", "sso_connector", "current_state", s->tfstate));
    case K_IMPORT_ID:
    case K_IMPORT_DOMAIN: {
        char id[128];
        snprintf(id, sizeof(id), "%s/%s", s->account,
                 o->kind == K_IMPORT_ID ? state_id(s->tfstate) : s->domain);
        return call(o, "ImportResourceState",
                    json_pack("{s:s, s:s}", "type_name", "sso_connector", "id", id));
    }
    case K_LIST:
        return call(o, "ListResource",
                    json_pack("{s:s, s:{s:s}}", "type_name", "sso_connector", "config",
                              "account_id", accounts[rnd_below(N_ACCOUNTS)]));
    case K_DS_ALL:
        return call(o, "ReadDataSource",
                    json_pack("{s:s, s:{s:s}}", "type_name", "sso_connectors", "config",
                              "account_id", accounts[rnd_below(N_ACCOUNTS)]));
    case K_DS_ONE:
        if (s->state == S_EXISTS && rnd_chance(0.5))
            return call(o, "ReadDataSource",
                        json_pack("{s:s, s:{s:s, s:s}}", "type_name", "sso_connector", "config",
                                  "account_id", s->account, "id", state_id(s->tfstate)));
        return call(o, "ReadDataSource",
                    json_pack("{s:s, s:{s:s, s:s}}", "type_name", "sso_connector", "config",
                              "account_id", s->account, "email_domain", s->domain));
    default:
        return -1;
    }
}

static void on_answer(rpc_client *client, int64_t id, json_t *result, const rpc_client_error *error,
                      void *arg) {
    (void)client;
    (void)id;
    op *o = arg;
    calls_pending--;
    last_answer_at = uv_now(&loop);
    if (o->stage == 0) {
        /* A plan: on to the apply, unless the plan failed. */
        if (error || has_error_diag(result)) {
            if (error)
                fprintf(stderr, "soak: plan failed: %d %s\n", error->code, error->message);
            else
                print_diags("plan", result);
            op_finish(o, error ? O_RPC_ERROR : O_DIAG);
            return;
        }
        o->stage = 1;
        json_t *params =
            json_pack("{s:s, s:O?, s:O, s:O}", "type_name", "sso_connector", "prior_state",
                      o->slot->tfstate, "planned_state", json_object_get(result, "planned_state"),
                      "config", o->config ? o->config : json_null());
        if (call(o, "ApplyResourceChange", params) < 0)
            op_finish(o, O_RPC_ERROR);
        return;
    }
    op_finish(o, settle(o, result, error));
}

/* Picks a free slot at random (a few tries), or NULL. */
static slot *pick_slot(void) {
    for (int tries = 0; tries < 8; tries++) {
        slot *s = &slots[rnd_below((unsigned)opt_slots)];
        if (!s->busy)
            return s;
    }
    return NULL;
}

/* Chooses what to do with a slot, by its state in the model. */
static enum op_kind choose_kind(slot *s) {
    unsigned r = rnd_below(100);
    if (!s)
        return r < 50 ? K_LIST : K_DS_ALL;
    switch (s->state) {
    case S_ABSENT:
        if (r < 80)
            return K_CREATE;
        return r < 92 ? K_IMPORT_DOMAIN : K_DS_ONE; /* probes: must find nothing */
    case S_UNKNOWN:
        return K_IMPORT_DOMAIN; /* what the provider's diagnostic says to do */
    case S_EXISTS:
    default:
        if (r < 25)
            return K_READ;
        if (r < 45)
            return K_UPDATE;
        if (r < 65)
            return K_DELETE;
        if (r < 75)
            return K_IMPORT_ID;
        if (r < 85)
            return K_IMPORT_DOMAIN;
        return K_DS_ONE;
    }
}

static op *op_new(enum op_kind kind, slot *s) {
    op *o = calloc(1, sizeof(*o));
    if (!o)
        abort();
    o->kind = kind;
    o->slot = s;
    o->started = uv_now(&loop);
    /* Applies are planned first (stage 0); every other call counts at once. */
    o->stage = kind == K_CREATE || kind == K_UPDATE || kind == K_DELETE ? 0 : 1;
    if (s)
        s->busy = true;
    if (kind == K_CREATE) {
        o->config = slot_config(s);
        if (rnd_chance(0.3))
            json_object_set_new(o->config, "begin_verification", json_false());
    } else if (kind == K_UPDATE) {
        o->config = slot_config(s);
        json_t *fedramp = json_object_get(s->tfstate, "use_fedramp_language");
        json_object_set_new(o->config, "use_fedramp_language",
                            json_boolean(!json_is_true(fedramp)));
    }
    /* K_DELETE: config stays NULL (sent as null). */
    return o;
}

static void report_progress(void);
static long proc_status_kib(int pid, const char *field);
static long rss_warm = -1; /* VmRSS after the first tenth of the operations */

/* Keeps `concurrency` operations in flight until `ops` were started. */
static void start_next(void) {
    if (settling)
        return;
    while (ops_started < opt_ops && ops_started - ops_done < opt_concurrency) {
        slot *s = rnd_chance(0.1) ? NULL : pick_slot();
        if (!s && ops_started - ops_done > 0 && rnd_chance(0.5))
            break; /* every slot tried was busy: wait for one */
        if (rnd_chance(opt_fault_rate))
            arm_fault();
        op *o = op_new(choose_kind(s), s);
        ops_started++;
        if (op_step(o) < 0) {
            fprintf(stderr, "soak: the provider no longer takes requests\n");
            op_finish(o, O_RPC_ERROR);
            return;
        }
        if (ops_started % (opt_ops / 4 > 0 ? opt_ops / 4 : 1) == 0)
            report_progress();
        if (rss_warm < 0 && ops_started >= opt_ops / 10)
            rss_warm = proc_status_kib(rpc_client_pid(prov), "VmRSS");
    }
}

/* ------------------------------------------------------------------ */
/* Memory                                                              */
/* ------------------------------------------------------------------ */

static long proc_status_kib(int pid, const char *field) {
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

static long rss_start, hwm_start;

static void report_progress(void) {
    int pid = rpc_client_pid(prov);
    printf("  progress: %ld ops started, %ld in flight, provider VmRSS %ld KiB VmHWM %ld KiB\n",
           ops_started, ops_started - ops_done, proc_status_kib(pid, "VmRSS"),
           proc_status_kib(pid, "VmHWM"));
}

/* ------------------------------------------------------------------ */
/* Driving the loop                                                    */
/* ------------------------------------------------------------------ */

static uv_timer_t wake;
static void on_wake(uv_timer_t *t) {
    (void)t;
}

/* Runs the loop until every operation is done and no call is pending, or
 * until no answer came for `stall_ms` while calls were pending (a hang: the
 * calls still pending are then counted unanswered). Returns true when
 * everything was answered. */
static bool run_until_idle(uint64_t stall_ms) {
    last_answer_at = uv_now(&loop);
    uv_timer_start(&wake, on_wake, 1000, 1000);
    while ((calls_pending > 0 || ops_done < ops_started) &&
           uv_now(&loop) - last_answer_at < stall_ms)
        uv_run(&loop, UV_RUN_ONCE);
    uv_timer_stop(&wake);
    if (calls_pending > 0)
        fprintf(stderr, "soak: HANG: %ld calls without an answer for %llu s\n", calls_pending,
                (unsigned long long)(stall_ms / 1000));
    return calls_pending == 0;
}

static bool provider_exited;
static int64_t provider_status = -1;
static int provider_signal;

static void on_provider_exit(rpc_client *client, int64_t status, int sig, void *arg) {
    (void)client;
    (void)arg;
    provider_exited = true;
    provider_status = status;
    provider_signal = sig;
}

/* The provider's stderr: shown with -v, otherwise only the last lines are
 * kept, for a crash report. */
static char last_lines[8][512];
static unsigned n_lines;
static long stderr_lines;

static void on_stderr_line(rpc_client *client, const char *line, size_t len, void *arg) {
    (void)client;
    (void)arg;
    (void)len;
    stderr_lines++;
    if (opt_verbose >= 3)
        fprintf(stderr, "provider: %s\n", line);
    snprintf(last_lines[n_lines++ % 8], sizeof(last_lines[0]), "%s", line);
}

/* One call made and waited for, outside the random run. */
typedef struct sync_answer {
    bool done;
    json_t *result;
} sync_answer;

static void on_sync_answer(rpc_client *client, int64_t id, json_t *result,
                           const rpc_client_error *error, void *arg) {
    (void)client;
    (void)id;
    sync_answer *a = arg;
    a->done = true;
    calls_pending--;
    if (result)
        a->result = json_incref(result);
    else
        fprintf(stderr, "soak: %d %s\n", error->code, error->message);
}

static json_t *call_sync(const char *method, json_t *params) {
    sync_answer a = {0};
    if (rpc_client_call_new(prov, method, params, on_sync_answer, &a, NULL) < 0)
        return NULL;
    calls_pending++;
    uint64_t give_up = uv_now(&loop) + 60000;
    uv_timer_start(&wake, on_wake, 1000, 1000);
    while (!a.done && uv_now(&loop) < give_up)
        uv_run(&loop, UV_RUN_ONCE);
    uv_timer_stop(&wake);
    return a.result;
}

static void usage(FILE *f) {
    fprintf(f, "usage: provider-soak [--ops N] [--concurrency N] [--fault-rate P] "
               "[--cancel-rate P] [--slots N] [--page-size N] [--seed S] [-v]\n"
               "  defaults: --ops 3000 --concurrency 24 --fault-rate 0.25 --cancel-rate 0.05 "
               "--slots 64, seed from the clock\n"
               "  the environment's SOAK_OPS, SOAK_CONCURRENCY, SOAK_FAULT_RATE, SOAK_CANCEL_RATE, "
               "SOAK_SEED "
               "set the same (options win)\n");
}

static void parse_env(void) {
    const char *v;
    if ((v = getenv("SOAK_OPS")) && *v)
        opt_ops = strtol(v, NULL, 10);
    if ((v = getenv("SOAK_CONCURRENCY")) && *v)
        opt_concurrency = (int)strtol(v, NULL, 10);
    if ((v = getenv("SOAK_FAULT_RATE")) && *v)
        opt_fault_rate = strtod(v, NULL);
    if ((v = getenv("SOAK_CANCEL_RATE")) && *v)
        opt_cancel_rate = strtod(v, NULL);
    if ((v = getenv("SOAK_SEED")) && *v)
        opt_seed = strtoull(v, NULL, 0);
}

static int parse_args(int argc, char **argv) {
    static const struct option longopts[] = {{"ops", required_argument, NULL, 'n'},
                                             {"concurrency", required_argument, NULL, 'c'},
                                             {"fault-rate", required_argument, NULL, 'f'},
                                             {"cancel-rate", required_argument, NULL, 'x'},
                                             {"slots", required_argument, NULL, 's'},
                                             {"page-size", required_argument, NULL, 'p'},
                                             {"seed", required_argument, NULL, 'S'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "n:c:f:x:s:p:S:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            opt_ops = strtol(optarg, NULL, 10);
            break;
        case 'c':
            opt_concurrency = (int)strtol(optarg, NULL, 10);
            break;
        case 'f':
            opt_fault_rate = strtod(optarg, NULL);
            break;
        case 'x':
            opt_cancel_rate = strtod(optarg, NULL);
            break;
        case 's':
            opt_slots = (int)strtol(optarg, NULL, 10);
            break;
        case 'p':
            opt_page_size = (int)strtol(optarg, NULL, 10);
            break;
        case 'S':
            opt_seed = strtoull(optarg, NULL, 0);
            break;
        case 'v':
            opt_verbose++;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc || opt_ops < 1 || opt_concurrency < 1 || opt_slots < 1 ||
        opt_slots > 100000 || opt_fault_rate < 0 || opt_fault_rate > 1 || opt_cancel_rate < 0 ||
        opt_cancel_rate > 1) {
        usage(stderr);
        return -1;
    }
    return 0;
}

static void fail(const char *what) {
    fprintf(stderr, "soak failed: %s\n", what);
    if (prov)
        rpc_client_close(prov, NULL, NULL);
    sim_launched_stop(&sim);
    exit(2);
}

/* The end: clear faults, settle unknown slots by import and refresh the
 * rest, so that the model says what the provider last told it. */
static void settle_model(void) {
    settling = true;
    long status = 0;
    json_decref(sim_http("DELETE", "/__sim/faults", NULL, &status));
    for (int i = 0; i < opt_slots; i++) {
        slot *s = &slots[i];
        if (s->state == S_ABSENT || s->busy) /* busy: its call never came back */
            continue;
        op *o = op_new(s->state == S_UNKNOWN ? K_IMPORT_DOMAIN : K_READ, s);
        o->stage = 1;
        ops_started++;
        if (op_step(o) < 0)
            fail("the provider no longer takes requests");
        /* Unknown slots that import finds nothing for are absent. */
        if (ops_started - ops_done >= opt_concurrency)
            run_until_idle(GRACE_MS);
    }
    run_until_idle(GRACE_MS);
    for (int i = 0; i < opt_slots; i++)
        if (slots[i].state == S_UNKNOWN && !slots[i].busy)
            slot_set_absent(&slots[i]);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    log_configure_from_env();
    opt_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    parse_env();
    if (parse_args(argc, argv) < 0)
        return 2;
    rng_state = opt_seed ? opt_seed : 0x9E3779B97F4A7C15ULL;
    printf("soak: seed %llu, %ld operations, concurrency %d, fault rate %.2f, cancel rate %.2f, "
           "%d slots over %d accounts\n",
           (unsigned long long)opt_seed, opt_ops, opt_concurrency, opt_fault_rate, opt_cancel_rate,
           opt_slots, N_ACCOUNTS);
    printf("soak: replay with --seed %llu (or SOAK_SEED=%llu)\n", (unsigned long long)opt_seed,
           (unsigned long long)opt_seed);

    slots = calloc((size_t)opt_slots, sizeof(*slots));
    if (!slots)
        return 2;
    for (int i = 0; i < opt_slots; i++) {
        slots[i].account = accounts[i % N_ACCOUNTS];
        snprintf(slots[i].domain, sizeof(slots[i].domain), "s%d.soak.example", i);
    }

    if (uv_loop_init(&loop) != 0 || uv_timer_init(&loop, &wake) != 0)
        return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (sim_start() < 0)
        fail("cannot start cf-api-sim");
    const char *prov_argv[] = {PROVIDER_BIN, NULL};
    rpc_client_options copts = {
        .argv = prov_argv, .on_exit = on_provider_exit, .on_stderr_line = on_stderr_line};
    if (rpc_client_spawn(&loop, &copts, &prov) < 0)
        fail("cannot start provider-cloudflare");
    /* Short timeouts so that the injected delays also make timeouts, and
     * the default retry count. */
    json_t *r =
        call_sync("ConfigureProvider",
                  json_pack("{s:{s:s, s:s, s:f, s:i}}", "config", "api_token", TOKEN, "base_url",
                            sim.base_url, "request_timeout", 2.0, "max_retries", 4));
    if (!r || has_error_diag(r))
        fail("ConfigureProvider failed");
    json_decref(r);
    int pid = rpc_client_pid(prov);
    rss_start = proc_status_kib(pid, "VmRSS");
    hwm_start = proc_status_kib(pid, "VmHWM");

    uint64_t t0 = uv_now(&loop);
    start_next();
    run_until_idle(GRACE_MS);
    uint64_t t_run = uv_now(&loop) - t0;
    long rss_end = proc_status_kib(pid, "VmRSS");
    long hwm_end = proc_status_kib(pid, "VmHWM");

    /* Faults still armed and not used. */
    long status = 0;
    json_t *left = sim_http("GET", "/__sim/faults", NULL, &status);
    size_t faults_unused = json_array_size(json_object_get(left, "faults"));
    json_decref(left);

    long run_ops = ops_started;
    settle_model();
    long unanswered = calls_pending;

    /* The simulator's state against the model. */
    json_t *world = sim_http("GET", "/__sim/connectors", NULL, &status);
    json_t *conns = json_object_get(world, "connectors");
    if (!json_is_array(conns))
        fail("cannot read the simulator's connectors");
    long duplicated = 0, lost = lost_by_probe, mismatches = probe_mismatches;
    size_t i, j;
    json_t *c, *d;
    json_array_foreach(conns, i, c) {
        const char *id = state_id(c);
        const char *acc = json_string_value(json_object_get(c, "account_id"));
        const char *dom = json_string_value(json_object_get(c, "email_domain"));
        json_array_foreach(conns, j, d) {
            if (j > i && strcmp(acc, json_string_value(json_object_get(d, "account_id"))) == 0 &&
                strcasecmp(dom, json_string_value(json_object_get(d, "email_domain"))) == 0) {
                duplicated++;
                printf("  DUPLICATE: %s/%s\n", acc, dom);
            }
        }
        if (!is_reported(id)) {
            lost++;
            printf("  LOST: connector %s (%s/%s) was never reported by an answer\n", id, acc, dom);
        }
    }
    for (int k = 0; k < opt_slots; k++) {
        slot *s = &slots[k];
        json_t *found = NULL;
        json_array_foreach(conns, i, c) {
            if (strcmp(s->account, json_string_value(json_object_get(c, "account_id"))) == 0 &&
                strcasecmp(s->domain, json_string_value(json_object_get(c, "email_domain"))) == 0)
                found = c;
        }
        bool ok = s->state == S_EXISTS ? found && strcmp(state_id(found), state_id(s->tfstate)) == 0
                                       : found == NULL;
        if (!ok) {
            mismatches++;
            printf("  MISMATCH: %s/%s: model says %s, simulator has %s\n", s->account, s->domain,
                   s->state == S_EXISTS ? state_id(s->tfstate) : "nothing",
                   found ? state_id(found) : "nothing");
        }
    }
    size_t in_sim = json_array_size(conns);
    json_decref(world);

    /* A clean stop: end of input, the provider answers what it has and
     * exits 0. */
    rpc_client_close_input(prov);
    uint64_t give_up = uv_now(&loop) + 30000;
    uv_timer_start(&wake, on_wake, 1000, 1000);
    while (!provider_exited && uv_now(&loop) < give_up)
        uv_run(&loop, UV_RUN_ONCE);
    uv_timer_stop(&wake);
    rpc_client_close(prov, NULL, NULL);
    prov = NULL;
    uv_close((uv_handle_t *)&wake, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    int sim_status = sim_launched_stop(&sim);

    printf("\nsoak summary (seed %llu)\n", (unsigned long long)opt_seed);
    printf("  operations: %ld in %.1f s (%ld more to settle), concurrency %d, longest %llu ms\n",
           run_ops, (double)t_run / 1000.0, ops_started - run_ops, opt_concurrency,
           (unsigned long long)max_latency_ms);
    printf("  %-14s", "kind");
    for (int o = 0; o < O_COUNT; o++)
        printf(" %11s", outcome_names[o]);
    printf("\n");
    for (int k = 0; k < K_COUNT; k++) {
        printf("  %-14s", kind_names[k]);
        for (int o = 0; o < O_COUNT; o++)
            printf(" %11ld", counts[k][o]);
        printf("\n");
    }
    printf("  cancels sent: %ld; creates answered with an unknown outcome (settled by import): "
           "%ld; connectors found gone by a read or import: %ld\n",
           cancels_sent, creates_unknown, vanished);
    printf("  faults armed:");
    long faults_total = 0;
    for (int f = 0; f < F_COUNT; f++) {
        printf(" %s %ld", fault_names[f], faults_armed[f]);
        faults_total += faults_armed[f];
    }
    printf(" (total %ld, %zu unused at the end)\n", faults_total, faults_unused);
    printf("  connectors in the simulator at the end: %zu; ids reported by answers: %zu\n", in_sim,
           n_reported);
    printf("  provider memory: VmRSS %ld KiB at the start, %ld KiB after the first tenth, %ld KiB "
           "at the end; VmHWM %ld KiB -> %ld KiB\n",
           rss_start, rss_warm, rss_end, hwm_start, hwm_end);
    printf("  provider exit: %s %lld; stderr lines %ld\n",
           provider_exited ? (provider_signal ? "signal" : "status") : "did not exit",
           provider_signal ? (long long)provider_signal : (long long)provider_status, stderr_lines);
    printf("  simulator exit status: %d\n", WIFEXITED(sim_status) ? WEXITSTATUS(sim_status) : -1);
    printf("  must be 0: duplicated %ld, lost %ld, unanswered %ld, model mismatches %ld, "
           "imports by domain that missed an existing connector %ld\n",
           duplicated, lost, unanswered, mismatches, false_not_found);
    bool clean_exit = provider_exited && provider_signal == 0 && provider_status == 0;
    if (!clean_exit) {
        printf("  the provider's last stderr lines:\n");
        for (unsigned k = n_lines > 8 ? n_lines - 8 : 0; k < n_lines; k++)
            printf("    %s\n", last_lines[k % 8]);
    }
    for (int k = 0; k < opt_slots; k++)
        json_decref(slots[k].tfstate);
    free(slots);
    free(reported);
    uv_loop_close(&loop);
    curl_global_cleanup();
    bool pass = duplicated == 0 && lost == 0 && unanswered == 0 && mismatches == 0 &&
                false_not_found == 0 && clean_exit;
    printf("soak: %s\n", pass ? "PASS" : "FAIL");
    return pass ? 0 : 1;
}
