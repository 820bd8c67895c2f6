/*
 * server.c - the JSON-RPC session: from framed messages to handlers and back.
 *
 * Input chunks from the transport go through the framing decoder; each
 * message is parsed (jsonrpc.c), split if it is a batch, validated, and
 * dispatched to its handler. Every dispatched call becomes an rpc_request on
 * the in-flight list, which is kept in arrival order (each request carries a
 * sequence number). A request leaves the list when it is answered; its
 * response is formatted into one reused buffer and handed to the transport
 * at once (which writes the answers of a loop pass together), or, for a
 * batch member, formatted into the batch's array, which is written when
 * its last member is answered.
 *
 * Bounds (issue 9; the numbers and the memory they imply are explained
 * above max_in_flight). At most max_in_flight requests run at once
 * (dispatched, unanswered). Past that, the messages read wait, as text, in
 * a FIFO (the "waiting" list, waitlist.c) and are dispatched in arrival
 * order as running requests are answered; a batch is dispatched whole, so it can
 * take the number running past the limit by its own size (at most
 * RPC_MAX_BATCH, whose members are counted before anything is built).
 * Input keeps being read while messages wait, so that a $/cancelRequest
 * is read and acted on at once: such a message, a StopProvider (unless a
 * batch or another StopProvider waits ahead of it), and anything answered
 * without running (not JSON, not a valid request, an unknown method) are
 * handled as soon as they are read. A cancel reaches a waiting request
 * too (through an id index of the waiting list): it is answered -32800
 * and never runs. Reading pauses while RPC_MAX_WAITING_BYTES of messages
 * wait, and resumes under half that. A batch's answer array is a dynbuf
 * capped at the maximum message size; past it the batch is answered with
 * one error.
 *
 * Built-ins:
 *  - "$/cancelRequest" marks the in-flight requests with that id cancelled
 *    and runs their cancel callbacks. They are found through a hash index
 *    by id, so a cancel costs the same however many are in flight.
 *  - "StopProvider" cancels every request that arrived before it and is
 *    answered when none of those is left: the stop requests wait at the
 *    head of the ordered list, so "nothing older is in flight" is simply
 *    "this stop is at the head".
 *
 * Shutdown: the input ends (EOF), or a signal or rpc_server_shutdown() stops
 * reading and cancels everything. Once nothing is in flight and the
 * transport has flushed every write, on_shutdown runs (once). It is never
 * called from inside a call into the server (the `busy` counter defers it to
 * the outermost frame), so the owner may close the server from it.
 */
#include "protocol.h"

#include "dynbuf.h"
#include "framing.h"
#include "jsonrpc.h"
#include "rawjson.h"
#include "transport.h"
#include "waitlist.h"

#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MODULE        "provider.rpc"
#define REQUEST_MAGIC 0x52505251u /* "RPRQ" */

/*
 * The bounds (issue 9: 4,096 running before input was held, and 64 MiB of
 * answers before it paused, let 1,000 slow requests take 24 MiB and 10,000
 * sent at once far more; and while held, a $/cancelRequest in the pipe was
 * not read at all).
 *
 * max_in_flight (rpc_server_options; RPC_DEFAULT_MAX_IN_FLIGHT, 1,024)
 * requests running: Terraform runs 10 operations at once by default; 1,024
 * is far above any real orchestrator's parallelism, so nothing real ever
 * waits, yet each running request's parsed message (about 1-2 KiB for
 * the provider's messages) and handler state stay a bounded few MiB. A
 * server whose handlers feed something narrower sets less (the provider:
 * 256, four times its 64 HTTP transfers), so that requests beyond what can
 * make progress wait as text rather than parsed.
 *
 * RPC_MAX_BATCH, 4,096 members: unchanged, so that the batches clients
 * may send are the same; a batch past the running limit is dispatched
 * whole.
 *
 * RPC_MAX_WAITING_BYTES, 2 MiB of waiting messages (their text plus the
 * 64 bytes of a `waiting` each): room for 10,000 small requests sent at
 * once (about 130 bytes each as held) beyond the 1,024 running, so a
 * cancel sent behind them is still read; far less than their parsed
 * form would take (jansson: about ten times the text).
 *
 * Memory this implies, beyond what the running requests' handlers hold:
 * the framing decoder's buffer (at most one message), one 64 KiB read
 * buffer, the waiting messages (2 MiB, plus one read's worth read after
 * the cap was reached, plus one message when a single one is larger),
 * max_in_flight (+ one batch) parsed requests, and the output backlog
 * (TRANSPORT_HIGH_WATER, 1 MiB, plus the answers of what was running when
 * it was reached): a few MiB for ordinary messages, whatever is sent.
 */
#define RPC_MAX_BATCH         4096u
#define RPC_MAX_WAITING_BYTES ((size_t)2 * 1024 * 1024)
/* An answer this large is handed to the transport whole (not copied), and
 * the answer buffer starts small again. */
#define ANSWER_KEEP ((size_t)64 * 1024)

/* Room for a loggable name or id (see loggable()): 64 bytes, "..." and
 * the NUL. */
#define LOGGABLE_MAX 72

typedef struct rpc_batch {
    size_t pending; /* members in flight, plus one while dispatching */
    dynbuf buf;     /* "[" and the answers so far, comma-separated; capped */
    size_t count;   /* answers in buf */
    size_t dropped; /* answers dropped once buf failed (cap or memory) */
    /* Problems with members, logged once for the whole batch (finding 14:
     * one WARN line per invalid member made 391 MB of stderr). */
    size_t invalid, unknown;
    char first_invalid[96];
    char first_unknown[LOGGABLE_MAX];
} rpc_batch;

struct rpc_request {
    unsigned magic;
    rpc_server *server;
    rpc_request *prev, *next; /* in-flight list, arrival order */
    rpc_request *id_next;     /* next in its id-index bucket (requests with an id) */
    uint64_t seq;
    uint64_t started; /* uv_hrtime() at dispatch */
    json_t *msg;      /* the request object; owned reference */
    json_t *params;   /* owned reference: "params", or a new empty object */
    json_t *id;       /* borrowed from msg; NULL for a notification */
    char *id_text;    /* the id's exact source text; NULL for a notification */
    size_t id_len;
    const char *method; /* borrowed from msg */
    rpc_batch *batch;   /* the batch it belongs to, or NULL */
    bool is_stop;
    bool indexed; /* in the id index */
    bool cancelled;
    bool cancel_delivered;
    rpc_cancel_cb cancel_cb;
    void *cancel_arg;
};

struct rpc_server {
    uv_loop_t *loop;
    rpc_server_options opts;
    transport *transport;
    framing_decoder decoder;
    /* The answer being formatted: reused, so answering allocates nothing
     * once it has grown (kept up to ANSWER_KEEP bytes). */
    dynbuf answer;
    uv_signal_t sigint, sigterm;
    bool sigint_init, sigterm_init;

    rpc_request *head, *tail;
    size_t inflight;
    /* In-flight requests with an id, indexed by it, so $/cancelRequest
     * costs O(1) whatever is in flight (finding 11). Buckets are chains in
     * arrival order; the table doubles when it holds 2 per bucket. */
    rpc_request **id_buckets;
    size_t id_bucket_count; /* a power of two, or 0 before the first */
    size_t id_count;
    /* Messages waiting for a slot (waitlist.h); their bytes are counted
     * against RPC_MAX_WAITING_BYTES. */
    waitlist waiting;
    size_t max_in_flight; /* requests running at once (the option, or its default) */
    bool input_held;      /* reading paused: RPC_MAX_WAITING_BYTES wait */
    bool draining;        /* drain_waiting() is running */
    bool stop_jumping;    /* a StopProvider is handled ahead of waiting messages */
    size_t inflight_peak;
    uint64_t next_seq;

    bool started;
    bool stopping;      /* shutdown requested: input dropped, work cancelled */
    bool input_done;    /* no more input will be dispatched */
    bool shutdown_done; /* on_shutdown has run */
    bool completing_stops;
    bool closing;
    int busy; /* depth of calls into the server in progress */
    int closes_pending;
};

static void maybe_finish(rpc_server *s);
static void drain_waiting(rpc_server *s);
static void cancel_all_waiting(rpc_server *s);
static size_t cancel_waiting_id(rpc_server *s, json_t *id);

/*
 * A method name or id from the input, ready for a log line: masked whole,
 * then cut to 64 bytes (log.h's rule: never cut, then mask; a secret
 * straddling a "%.64s" cut would leave its prefix in the line). Written
 * into buf, which is returned. Call only when the line will be written:
 * it allocates.
 */
static const char *loggable(char buf[LOGGABLE_MAX], const char *text, size_t len) {
    char *ex = log_redact_excerpt(text, len, 64);
    snprintf(buf, LOGGABLE_MAX, "%s", ex ? ex : "(out of memory)");
    free(ex);
    return buf;
}
static void send_error(rpc_server *s, rpc_batch *batch, const char *id, size_t id_len, int code,
                       const char *message, const char *detail);

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

/* Writes one response (or batch array) in the input's framing. `text` is
 * stolen. */
static void output(rpc_server *s, char *text, size_t len) {
    char prefix[FRAMING_PREFIX_MAX];
    size_t prefix_len = framing_prefix(s->decoder.mode, len, prefix);
    size_t suffix_len;
    const char *suffix = framing_suffix(s->decoder.mode, &suffix_len);
    log_trace(MODULE, "writing %zu bytes", len);
    transport_write(s->transport, prefix, prefix_len, text, len, suffix, suffix_len);
}

/* Writes the answer formatted in s->answer and empties it. A small answer
 * is copied into the transport's gather buffer (no allocation per answer);
 * a large one is handed over whole, and the buffer starts small again. */
static void output_answer(rpc_server *s) {
    size_t len = dynbuf_len(&s->answer);
    if (len >= ANSWER_KEEP) {
        char *text = dynbuf_take(&s->answer, &len);
        if (text)
            output(s, text, len);
        return;
    }
    char prefix[FRAMING_PREFIX_MAX];
    size_t prefix_len = framing_prefix(s->decoder.mode, len, prefix);
    size_t suffix_len;
    const char *suffix = framing_suffix(s->decoder.mode, &suffix_len);
    log_trace(MODULE, "writing %zu bytes", len);
    transport_write_copy(s->transport, prefix, prefix_len, dynbuf_ptr(&s->answer), len, suffix,
                         suffix_len);
    dynbuf_reset(&s->answer);
}

/* Where the next answer is formatted: s->answer (emptied), or, for a
 * batch member, straight into the batch's array after a separator. */
static dynbuf *answer_sink(rpc_server *s, rpc_batch *b) {
    if (!b) {
        dynbuf_reset(&s->answer);
        return &s->answer;
    }
    dynbuf_addc(&b->buf, b->count ? ',' : '[');
    return &b->buf;
}

/* Counts an answer formatted into a batch's array (rc 0) or lost with it.
 * Once an add has failed (the cap, or memory) the buffer keeps its error
 * and later answers are dropped and counted: the batch is answered with
 * one error instead. */
static void batch_counted(rpc_batch *b, int rc) {
    if (rc == 0)
        b->count++;
    else
        b->dropped++;
}

/*
 * Drops one reference to a batch; the last one writes its array (nothing
 * when every member was a notification) and frees it. The array is built
 * in a dynbuf capped at the maximum message size (finding 3: one batch of
 * GetProviderSchema calls had grown a 1.55 GB line). An array that would
 * pass the cap is not written: the batch is answered with one -32603
 * error, id null, that says so. Its members have run; only their answers
 * are lost, which the error says.
 */
static void batch_release(rpc_server *s, rpc_batch *b) {
    if (--b->pending > 0)
        return;
    if (!dynbuf_error(&b->buf) && b->count > 0)
        dynbuf_addc(&b->buf, ']');
    int err = dynbuf_error(&b->buf);
    if (err) {
        size_t total = b->count + b->dropped;
        char detail[256];
        if (err == UV_E2BIG) {
            snprintf(detail, sizeof(detail),
                     "the answers to this batch of %zu requests are over the limit of %zu bytes: "
                     "every request ran, no answer was kept; send fewer requests per batch",
                     total, b->buf.max);
            log_warn(MODULE, "batch response over %zu bytes: answered with an error", b->buf.max);
        } else {
            snprintf(detail, sizeof(detail),
                     "out of memory collecting the answers to this batch of %zu requests", total);
            log_error(MODULE, "out of memory collecting a batch response");
        }
        dynbuf_free(&b->buf);
        send_error(s, NULL, NULL, 0, RPC_INTERNAL_ERROR,
                   err == UV_E2BIG ? "Batch response too large" : NULL, detail);
    } else if (b->count > 0) {
        size_t len;
        char *text = dynbuf_take(&b->buf, &len);
        if (text)
            output(s, text, len);
    } else {
        dynbuf_free(&b->buf);
    }
    free(b);
}

/* Sends an answer that is not tied to an rpc_request: a protocol error. */
static void send_error(rpc_server *s, rpc_batch *batch, const char *id, size_t id_len, int code,
                       const char *message, const char *detail) {
    json_t *data = detail ? json_string(detail) : NULL;
    dynbuf *out = answer_sink(s, batch);
    int rc = jsonrpc_append_error_new(out, id ? id : "null", id ? id_len : 4, code, message, data);
    if (batch) {
        batch_counted(batch, rc);
    } else if (rc) {
        log_error(MODULE, "out of memory answering error %d", code);
        dynbuf_reset(&s->answer);
    } else {
        output_answer(s);
    }
}

/* ------------------------------------------------------------------ */
/* The id index                                                        */
/* ------------------------------------------------------------------ */

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/*
 * Hashes an id consistently with json_equal(), the equality
 * $/cancelRequest has always used (docs/PROTOCOL.md): a string by its
 * decoded bytes (so "a" and "\u0061" are one id), an integer by its value,
 * a real by its value (1.0 and 1.00 are one id; an integer and a real
 * never are, and their hashes are kept apart by a tag byte).
 */
static uint64_t id_hash(const json_t *id) {
    uint64_t h = 14695981039346656037ull;
    unsigned char tag = (unsigned char)json_typeof(id);
    h = fnv1a(h, &tag, 1);
    if (json_is_string(id)) {
        h = fnv1a(h, json_string_value(id), json_string_length(id));
    } else if (json_is_integer(id)) {
        json_int_t v = json_integer_value(id);
        h = fnv1a(h, &v, sizeof(v));
    } else if (json_is_real(id)) {
        double v = json_real_value(id);
        if (v == 0)
            v = 0; /* -0.0 equals 0.0 */
        h = fnv1a(h, &v, sizeof(v));
    }
    return h;
}

/* Doubles the bucket array (first call: 64 buckets) and rehashes, keeping
 * each chain's arrival order. On allocation failure the table stays as it
 * is: chains just get longer. */
static void id_index_grow(rpc_server *s) {
    size_t count = s->id_bucket_count ? s->id_bucket_count * 2 : 64;
    rpc_request **buckets = calloc(count, sizeof(*buckets));
    if (!buckets)
        return;
    /* Re-insert in arrival order (the in-flight list), so chains stay in
     * arrival order too. */
    rpc_request **tails = calloc(count, sizeof(*tails));
    if (!tails) {
        free(buckets);
        return;
    }
    for (rpc_request *r = s->head; r; r = r->next) {
        if (!r->indexed)
            continue;
        size_t b = (size_t)(id_hash(r->id) & (count - 1));
        r->id_next = NULL;
        if (tails[b])
            tails[b]->id_next = r;
        else
            buckets[b] = r;
        tails[b] = r;
    }
    free(tails);
    free(s->id_buckets);
    s->id_buckets = buckets;
    s->id_bucket_count = count;
}

/* Adds r (which has an id and is already on the in-flight list, at its
 * tail) to the index, at the end of its chain. */
static void id_index_add(rpc_server *s, rpc_request *r) {
    if (s->id_count + 1 > s->id_bucket_count * 2)
        id_index_grow(s);
    s->id_count++;
    if (!s->id_bucket_count)
        return; /* no table (out of memory): r is found by the list scan */
    rpc_request **slot = &s->id_buckets[id_hash(r->id) & (s->id_bucket_count - 1)];
    while (*slot)
        slot = &(*slot)->id_next;
    r->id_next = NULL;
    *slot = r;
}

static void id_index_remove(rpc_server *s, rpc_request *r) {
    s->id_count--;
    if (!s->id_bucket_count)
        return;
    rpc_request **slot = &s->id_buckets[id_hash(r->id) & (s->id_bucket_count - 1)];
    while (*slot && *slot != r)
        slot = &(*slot)->id_next;
    if (*slot)
        *slot = r->id_next;
    r->id_next = NULL;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

static void link_request(rpc_server *s, rpc_request *r) {
    r->seq = s->next_seq++;
    r->prev = s->tail;
    r->next = NULL;
    if (s->tail)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    s->inflight++;
    if (s->inflight > s->inflight_peak)
        s->inflight_peak = s->inflight;
}

static void unlink_request(rpc_server *s, rpc_request *r) {
    if (r->indexed) {
        id_index_remove(s, r);
        r->indexed = false;
    }
    if (r->prev)
        r->prev->next = r->next;
    else
        s->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        s->tail = r->prev;
    r->prev = r->next = NULL;
    s->inflight--;
}

static void free_request(rpc_request *r) {
    r->magic = 0;
    json_decref(r->params);
    json_decref(r->msg);
    free(r->id_text);
    free(r);
}

/* Creates a request for a validated call and puts it on the in-flight
 * list. `id_text` is stolen. Returns NULL when memory ran out (id_text is
 * freed). */
static rpc_request *new_request(rpc_server *s, json_t *msg, const jsonrpc_call *call, char *id_text,
                                size_t id_len, rpc_batch *batch) {
    rpc_request *r = calloc(1, sizeof(*r));
    json_t *params = call->params ? json_incref(call->params) : json_object();
    if (!r || !params) {
        free(r);
        json_decref(params);
        free(id_text);
        return NULL;
    }
    r->magic = REQUEST_MAGIC;
    r->server = s;
    r->msg = json_incref(msg);
    r->params = params;
    r->id = call->id;
    r->id_text = id_text;
    r->id_len = id_len;
    r->method = call->method;
    r->batch = batch;
    r->started = uv_hrtime();
    if (batch)
        batch->pending++;
    link_request(s, r);
    if (r->id) {
        id_index_add(s, r);
        r->indexed = true;
    }
    return r;
}

/* Answers the StopProvider requests that have nothing older left in
 * flight. Runs as a loop, not recursively, when answering one stop makes
 * the next one ready. */
static void complete_stops(rpc_server *s) {
    if (s->completing_stops)
        return;
    s->completing_stops = true;
    while (s->head && s->head->is_stop) {
        rpc_request *stop = s->head;
        log_debug(MODULE, "StopProvider: every earlier request is answered");
        rpc_respond_new(stop, json_pack("{s:[]}", "diagnostics"));
    }
    s->completing_stops = false;
}

/* Takes a finished request off the list, writes its answer (already
 * formatted into s->answer, or into its batch's array, when has_answer)
 * and frees it. */
static void finish(rpc_request *r, bool has_answer, const char *outcome) {
    rpc_server *s = r->server;
    rpc_batch *batch = r->batch;
    if (log_enabled(LOG_LEVEL_DEBUG)) {
        double ms = (double)(uv_hrtime() - r->started) / 1e6;
        char method[LOGGABLE_MAX], id[LOGGABLE_MAX];
        log_debug(MODULE, "answered %s id=%s: %s after %.1f ms%s",
                  loggable(method, r->method, strlen(r->method)),
                  r->id_text ? loggable(id, r->id_text, r->id_len) : "none", outcome, ms,
                  r->cancelled ? " (cancelled)" : "");
    }
    unlink_request(s, r);
    free_request(r);
    if (has_answer && !batch)
        output_answer(s);
    if (batch)
        batch_release(s, batch);
    complete_stops(s);
    drain_waiting(s);
    maybe_finish(s);
}

/* Formats an internal error for r after its own answer could not be
 * formatted (memory, or an answer over JSONRPC_ANSWER_MAX). Returns
 * whether an answer is ready. */
static bool format_fallback(rpc_server *s, rpc_request *r) {
    log_error(MODULE, "could not format a response: answering an internal error");
    if (r->batch) {
        batch_counted(r->batch, UV_ENOMEM); /* the array already failed */
        return true;
    }
    dynbuf_free(&s->answer);
    return jsonrpc_append_error_new(&s->answer, r->id_text, r->id_len, RPC_INTERNAL_ERROR, NULL,
                                    NULL) == 0;
}

void rpc_respond_new(rpc_request *req, json_t *result) {
    assert(req && req->magic == REQUEST_MAGIC && "request answered twice or never created");
    if (!result) {
        /* A handler passes NULL when building its result failed. */
        rpc_respond_error_new(req, RPC_INTERNAL_ERROR, "Internal error: no result", NULL);
        return;
    }
    if (!req->id_text) {
        json_decref(result);
        finish(req, false, "notification done");
        return;
    }
    rpc_server *s = req->server;
    dynbuf *out = answer_sink(s, req->batch);
    int rc = jsonrpc_append_result_new(out, req->id_text, req->id_len, result);
    bool ready = true;
    if (rc)
        ready = format_fallback(s, req);
    else if (req->batch)
        batch_counted(req->batch, 0);
    finish(req, ready, "result");
}

void rpc_respond_error_new(rpc_request *req, int code, const char *message, json_t *data) {
    assert(req && req->magic == REQUEST_MAGIC && "request answered twice or never created");
    if (!req->id_text) {
        json_decref(data);
        finish(req, false, "notification failed");
        return;
    }
    rpc_server *s = req->server;
    dynbuf *out = answer_sink(s, req->batch);
    int rc = jsonrpc_append_error_new(out, req->id_text, req->id_len, code, message, data);
    bool ready = true;
    if (rc)
        ready = format_fallback(s, req);
    else if (req->batch)
        batch_counted(req->batch, 0);
    finish(req, ready, "error");
}

const char *rpc_request_method(const rpc_request *req) {
    return req->method;
}

json_t *rpc_request_id(const rpc_request *req) {
    return req->id;
}

bool rpc_request_is_cancelled(const rpc_request *req) {
    return req->cancelled;
}

void rpc_request_on_cancel(rpc_request *req, rpc_cancel_cb cb, void *arg) {
    req->cancel_cb = cb;
    req->cancel_arg = cb ? arg : NULL;
}

/* ------------------------------------------------------------------ */
/* Cancellation                                                        */
/* ------------------------------------------------------------------ */

/* Whether a cancellation still has something to do for r: mark it, or run
 * a callback it registered. */
static bool cancel_pending(const rpc_request *r) {
    if (r->is_stop)
        return false;
    return !r->cancelled || (r->cancel_cb && !r->cancel_delivered);
}

/* Marks r cancelled and runs its callback (at most once). The callback may
 * answer r, or any other request. */
static void cancel_one(rpc_request *r) {
    r->cancelled = true;
    if (r->cancel_cb && !r->cancel_delivered) {
        rpc_cancel_cb cb = r->cancel_cb;
        void *arg = r->cancel_arg;
        r->cancel_delivered = true;
        r->cancel_cb = NULL;
        cb(r, arg);
    }
}

/* The first request in r's id chain (r included) that a cancellation of
 * `id` still has to act on, or NULL. */
static rpc_request *next_in_chain(rpc_request *r, json_t *id) {
    while (r && !(cancel_pending(r) && json_equal(r->id, id)))
        r = r->id_next;
    return r;
}

/*
 * Cancels every in-flight request older than `limit` (by sequence), or
 * only those whose id equals `id` when it is not NULL. A callback may
 * answer (and free) any request, so after each one the scan starts again;
 * cancel_pending() turns false for each request handled, so this ends.
 *
 * By id, only the id's bucket is scanned: the cost no longer grows with
 * the number in flight (finding 11: 200k cancels of unknown ids with 4,000
 * requests in flight took 25 s). Requests with the same id are cancelled
 * in arrival order. The full scan remains for StopProvider and shutdown,
 * which cancel everything anyway, and for the id case if the index could
 * not be allocated.
 */
static size_t cancel_matching(rpc_server *s, uint64_t limit, json_t *id) {
    size_t n = 0;
    if (id && s->id_bucket_count) {
        for (;;) {
            size_t b = (size_t)(id_hash(id) & (s->id_bucket_count - 1));
            rpc_request *r = next_in_chain(s->id_buckets[b], id);
            if (!r || r->seq >= limit)
                return n;
            n++;
            cancel_one(r);
        }
    }
    for (;;) {
        rpc_request *r = s->head;
        while (r && r->seq < limit &&
               !(cancel_pending(r) && (!id || (r->id && json_equal(r->id, id)))))
            r = r->next;
        if (!r || r->seq >= limit)
            return n;
        n++;
        cancel_one(r);
    }
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static const rpc_method *find_method(const rpc_server *s, const char *name) {
    for (size_t i = 0; i < s->opts.method_count; i++) {
        if (s->opts.methods[i].name && strcmp(s->opts.methods[i].name, name) == 0)
            return &s->opts.methods[i];
    }
    return NULL;
}

/* Copies the exact text of the "id" member of the object at `span`. Falls
 * back to jansson's rendering if the scan fails (it should not). Returns a
 * new string or NULL. */
static char *copy_id_text(const char *text, rawjson_span span, json_t *id, size_t *len) {
    rawjson_span v;
    if (rawjson_find_member(text, span, "id", &v) == 0 && v.end > v.start) {
        char *out = malloc(v.end - v.start + 1);
        if (out) {
            memcpy(out, text + v.start, v.end - v.start);
            out[v.end - v.start] = '\0';
            *len = v.end - v.start;
        }
        return out;
    }
    char *out = json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
    if (out)
        *len = strlen(out);
    return out;
}

/* $/cancelRequest: cancels every in-flight request whose id equals
 * params.id. Normally a notification (self NULL); sent with an id, it is
 * answered too, so an orchestrator that expects an answer gets one. */
static void handle_cancel_request(rpc_server *s, json_t *params, rpc_request *self) {
    json_t *id = json_is_object(params) ? json_object_get(params, "id") : NULL;
    if (!id || !(json_is_string(id) || json_is_number(id))) {
        log_warn(MODULE, "$/cancelRequest without a string or number \"id\": ignored");
        if (self)
            rpc_respond_error_new(self, RPC_INVALID_PARAMS, NULL,
                                  json_string("params.id must be a string or a number"));
        return;
    }
    size_t n = cancel_matching(s, UINT64_MAX, id);
    n += cancel_waiting_id(s, id);
    log_debug(MODULE, "$/cancelRequest: %zu request(s) cancelled", n);
    if (self)
        rpc_respond_new(self, json_pack("{s:[]}", "diagnostics"));
}

/* Validates one request object and dispatches it. `text`/`span` locate its
 * source (for the id's exact text); `batch` is its batch or NULL. */
static void handle_call(rpc_server *s, json_t *msg, const char *text, rawjson_span span,
                        rpc_batch *batch) {
    jsonrpc_call call;
    const char *reason = NULL;
    int code = jsonrpc_validate(msg, &call, &reason);

    char *id_text = NULL;
    size_t id_len = 0;
    if (call.id_usable) {
        id_text = copy_id_text(text, span, call.id, &id_len);
        if (!id_text) {
            send_error(s, batch, NULL, 0, RPC_INTERNAL_ERROR, NULL, "out of memory");
            return;
        }
    }
    if (code) {
        /* An invalid request object is answered even without an id: it is
         * not a valid notification either (JSON-RPC 2.0, section 5). */
        if (!batch)
            log_warn(MODULE, "invalid request: %s", reason);
        else if (batch->invalid++ == 0)
            snprintf(batch->first_invalid, sizeof(batch->first_invalid), "%s", reason);
        send_error(s, batch, id_text, id_len, code, NULL, reason);
        free(id_text);
        return;
    }
    bool is_notification = !call.has_id;
    const char *name = call.method;

    if (strcmp(name, "$/cancelRequest") == 0) {
        rpc_request *self = NULL;
        if (!is_notification) {
            self = new_request(s, msg, &call, id_text, id_len, batch);
            id_text = NULL;
            if (!self) {
                send_error(s, batch, NULL, 0, RPC_INTERNAL_ERROR, NULL, "out of memory");
                return;
            }
        }
        handle_cancel_request(s, call.params, self);
        return;
    }

    bool is_stop = strcmp(name, "StopProvider") == 0;
    const rpc_method *m = is_stop ? NULL : find_method(s, name);
    if (!is_stop && (!m || !m->handler)) {
        char safe[LOGGABLE_MAX];
        if (is_notification) {
            if (log_enabled(LOG_LEVEL_DEBUG))
                log_debug(MODULE, "notification %s: no such method, ignored",
                          loggable(safe, name, strlen(name)));
        } else {
            if (!batch) {
                if (log_enabled(LOG_LEVEL_WARN))
                    log_warn(MODULE, "unknown method %s", loggable(safe, name, strlen(name)));
            } else if (batch->unknown++ == 0 && log_enabled(LOG_LEVEL_WARN)) {
                loggable(batch->first_unknown, name, strlen(name));
            }
            send_error(s, batch, id_text, id_len, RPC_METHOD_NOT_FOUND, NULL, name);
        }
        free(id_text);
        return;
    }

    rpc_request *r = new_request(s, msg, &call, id_text, id_len, batch);
    if (!r) {
        log_error(MODULE, "out of memory dispatching a request");
        if (!is_notification)
            send_error(s, batch, NULL, 0, RPC_INTERNAL_ERROR, NULL, "out of memory");
        return;
    }
    if (log_enabled(LOG_LEVEL_DEBUG)) {
        char method[LOGGABLE_MAX], id[LOGGABLE_MAX];
        log_debug(MODULE, "request %s id=%s", loggable(method, name, strlen(name)),
                  r->id_text ? loggable(id, r->id_text, r->id_len) : "none");
    }
    if (is_stop) {
        r->is_stop = true;
        if (s->stop_jumping)
            cancel_all_waiting(s); /* they all arrived before it */
        size_t n = cancel_matching(s, r->seq, NULL);
        log_info(MODULE, "StopProvider: cancelling %zu request(s) in flight", n);
        complete_stops(s);
        return;
    }
    m->handler(r, r->params, s->opts.ctx);
}

/*
 * Whether text is an array of more than `limit` members. Counted with the
 * raw scanner, before jansson builds anything: a 16 MiB batch of small
 * calls would otherwise become hundreds of thousands of objects, then as
 * many requests in flight in one go, past the in-flight hold (finding 3).
 * Malformed text counts as not too large; the parser then reports it.
 */
static bool batch_over_limit(const char *text, size_t len, size_t limit) {
    rawjson_iter it;
    rawjson_span elem;
    if (rawjson_array_begin(&it, text, (rawjson_span){0, len}) != 0)
        return false;
    size_t n = 0;
    while (rawjson_array_next(&it, &elem) == 1) {
        if (++n > limit)
            return true;
    }
    return false;
}

/* Handles one framed message: a single call or a batch. A batch obeys the
 * bounds of single messages: its members count toward the in-flight hold
 * (a batch of more members than the limit is refused whole, none run; a
 * smaller one is dispatched whole, past the limit by at most its size),
 * and its answer array is capped at the maximum message size. */
static void dispatch_parsed_new(rpc_server *s, json_t *msg, const char *text, size_t len);
static bool refuse_large_batch(rpc_server *s, const char *text, size_t len) {
    if (!batch_over_limit(text, len, RPC_MAX_BATCH))
        return false;
    char detail[160];
    snprintf(detail, sizeof(detail),
             "a batch may hold at most %u requests; none of this "
             "batch's requests ran: split it",
             RPC_MAX_BATCH);
    log_warn(MODULE, "batch of more than %u members in %zu bytes: refused", RPC_MAX_BATCH, len);
    send_error(s, NULL, NULL, 0, RPC_INVALID_REQUEST, "Batch too large", detail);
    return true;
}

/* Parses a message; NULL (and the error answered) when it is not JSON. */
static json_t *parse_or_answer(rpc_server *s, const char *text, size_t len) {
    int code = 0;
    char detail[JSONRPC_DETAIL_MAX];
    json_t *msg = jsonrpc_parse(text, len, &code, detail);
    if (!msg) {
        log_warn(MODULE, "message of %zu bytes is not valid JSON (error %d)", len, code);
        send_error(s, NULL, NULL, 0, code, NULL, detail);
    }
    return msg;
}

static void handle_message(rpc_server *s, const char *text, size_t len) {
    if (refuse_large_batch(s, text, len))
        return;
    json_t *msg = parse_or_answer(s, text, len);
    if (msg)
        dispatch_parsed_new(s, msg, text, len);
}

/* Dispatches a parsed message (a reference is stolen): one call or a
 * batch. */
static void dispatch_parsed_new(rpc_server *s, json_t *msg, const char *text, size_t len) {
    rawjson_span whole = {0, len};
    if (!json_is_array(msg)) {
        handle_call(s, msg, text, whole, NULL);
        json_decref(msg);
        return;
    }
    if (json_array_size(msg) == 0) {
        log_warn(MODULE, "invalid request: empty batch");
        send_error(s, NULL, NULL, 0, RPC_INVALID_REQUEST, NULL, "empty batch");
        json_decref(msg);
        return;
    }
    rpc_batch *batch = calloc(1, sizeof(*batch));
    rawjson_iter it;
    if (!batch || rawjson_array_begin(&it, text, whole) != 0) {
        free(batch);
        send_error(s, NULL, NULL, 0, RPC_INTERNAL_ERROR, NULL, "out of memory");
        json_decref(msg);
        return;
    }
    log_debug(MODULE, "batch of %zu", json_array_size(msg));
    dynbuf_init(&batch->buf, s->decoder.max_message);
    batch->pending = 1; /* held while its members are dispatched */
    for (size_t i = 0; i < json_array_size(msg); i++) {
        rawjson_span elem = {0, 0};
        if (rawjson_array_next(&it, &elem) != 1)
            elem = whole; /* cannot happen on valid JSON; the id scan just fails */
        handle_call(s, json_array_get(msg, i), text, elem, batch);
        if (s->stopping)
            break;
    }
    if (batch->invalid || batch->unknown)
        log_warn(MODULE, "batch of %zu: %zu invalid request(s)%s%s%s, %zu unknown method(s)%s%s%s",
                 json_array_size(msg), batch->invalid, batch->invalid ? " (first: " : "",
                 batch->first_invalid, batch->invalid ? ")" : "", batch->unknown,
                 batch->unknown ? " (first: " : "", batch->first_unknown,
                 batch->unknown ? ")" : "");
    json_decref(msg);
    batch_release(s, batch);
}

/* ------------------------------------------------------------------ */
/* Waiting messages                                                    */
/* ------------------------------------------------------------------ */

/* Whether a message read now must wait: max_in_flight are running,
 * or others already wait (arrival order is kept). */
static bool must_wait(const rpc_server *s) {
    return s->waiting.head || s->inflight >= s->max_in_flight;
}

/* Pauses reading while RPC_MAX_WAITING_BYTES wait; resumes under half. */
static void update_input_hold(rpc_server *s) {
    bool hold = s->input_held ? s->waiting.bytes > RPC_MAX_WAITING_BYTES / 2
                              : s->waiting.bytes >= RPC_MAX_WAITING_BYTES;
    if (hold == s->input_held || s->stopping || s->closing)
        return;
    s->input_held = hold;
    log_debug(MODULE, "%zu bytes of messages waiting: %s input", s->waiting.bytes,
              hold ? "pausing" : "resuming");
    s->busy++;
    transport_hold_input(s->transport, hold);
    s->busy--;
}

/*
 * Appends a copy of a message to the waiting list. `call` (NULL for a
 * batch) is its validated request, whose id, when it has one, goes with
 * it (the span of its text), and into the index unless it is a
 * StopProvider (never cancelled, as when running; its id still serves to
 * answer it on shutdown). When the copy cannot be made the message is
 * answered -32603 (it is lost, not run).
 */
static void wait_push(rpc_server *s, const char *text, size_t len, const jsonrpc_call *call,
                      bool is_stop) {
    wait_id id;
    rawjson_span v;
    bool has_id = call && call->has_id && call->id_usable &&
                  rawjson_find_member(text, (rawjson_span){0, len}, "id", &v) == 0 &&
                  v.end > v.start;
    if (has_id)
        id = (wait_id){.start = v.start,
                       .end = v.end,
                       .hash = id_hash(call->id),
                       .real = json_is_real(call->id),
                       .indexed = !is_stop};
    if (!s->waiting.head && log_enabled(LOG_LEVEL_DEBUG))
        log_debug(MODULE,
                  "%zu requests in flight: holding input (later requests wait; cancellations "
                  "are still read)",
                  s->inflight);
    if (!waitlist_push(&s->waiting, text, len, has_id ? &id : NULL, call == NULL, is_stop)) {
        log_error(MODULE, "out of memory holding a message: dropped");
        send_error(s, NULL, NULL, 0, RPC_INTERNAL_ERROR, NULL, "out of memory holding a message");
        return;
    }
    update_input_hold(s);
}

/* Answers a waiting message that will never run: -32800 for a request
 * with an id; a notification or a batch is dropped (logged). Frees it. */
static void wait_drop(rpc_server *s, wait_msg *w) {
    waitlist_unlink(&s->waiting, w);
    if (w->has_id)
        send_error(s, NULL, w->text + w->id_start, w->id_end - w->id_start, RPC_REQUEST_CANCELLED,
                   NULL, NULL);
    else if (w->is_batch)
        log_warn(MODULE, "a batch waiting to run was dropped by the shutdown");
    free(w);
}

/*
 * $/cancelRequest for requests not dispatched yet: each waiting request
 * whose id equals `id` (json_equal, as for running ones) is answered -32800
 * and taken off the list. Candidates come from the index by hash; the id's
 * own text is parsed to compare, as its whole message was (an id read as a
 * real because another number overflowed stays a real). Returns how many.
 */
static size_t cancel_waiting_id(rpc_server *s, json_t *id) {
    if (!s->waiting.head)
        return 0;
    uint64_t hash = id_hash(id);
    size_t n = 0;
    wait_msg *w = waitlist_bucket(&s->waiting, hash);
    while (w) {
        wait_msg *next = w->id_next;
        if (w->hash == hash) {
            size_t flags = JSON_DECODE_ANY | (w->id_real ? JSON_DECODE_INT_AS_REAL : 0);
            json_t *wid = json_loadb(w->text + w->id_start, w->id_end - w->id_start, flags, NULL);
            bool same = wid && json_equal(wid, id);
            json_decref(wid);
            if (same) {
                wait_drop(s, w);
                n++;
            }
        }
        w = next;
    }
    if (n)
        update_input_hold(s);
    return n;
}

/* StopProvider ahead of the waiting messages, or shutdown: none of them
 * will run. */
static void cancel_all_waiting(rpc_server *s) {
    size_t n = s->waiting.count;
    while (s->waiting.head)
        wait_drop(s, s->waiting.head);
    if (n)
        log_debug(MODULE, "%zu waiting message(s) cancelled before running", n);
    update_input_hold(s);
}

/*
 * Dispatches waiting messages, oldest first, while fewer than
 * max_in_flight run and the output backlog is under its high-water
 * mark (a reader that does not read our answers must not make us turn the
 * whole waiting list into answers). Called after each answer, after each
 * read, and when the output backlog has drained (on_output_ready). A
 * handler that answers at once calls back in here through finish(): the
 * `draining` flag makes that a no-op, so this runs as a loop, never as a
 * recursion as deep as the list.
 */
static void drain_waiting(rpc_server *s) {
    if (s->draining || s->closing)
        return;
    s->draining = true;
    s->busy++;
    while (s->waiting.head && s->inflight < s->max_in_flight && !s->stopping &&
           !transport_output_full(s->transport)) {
        wait_msg *w = s->waiting.head;
        waitlist_unlink(&s->waiting, w);
        handle_message(s, w->text, w->len);
        free(w);
    }
    s->busy--;
    s->draining = false;
    update_input_hold(s);
}

/*
 * A message read while others wait or max_in_flight run. It is parsed
 * once here to see what it is: what needs no slot is handled now (not
 * JSON, an invalid request, an unknown method, $/cancelRequest, and a
 * StopProvider unless a batch or a StopProvider waits ahead of it, whose
 * turn it would take); anything else waits as text, and is parsed again
 * when dispatched (the parse is paid twice only by requests that had to
 * wait, when the process is saturated anyway). A batch waits whole
 * without being parsed.
 */
static void hold_message(rpc_server *s, const char *text, size_t len) {
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    if (i < len && text[i] == '[') {
        if (!refuse_large_batch(s, text, len))
            wait_push(s, text, len, NULL, false);
        return;
    }
    json_t *msg = parse_or_answer(s, text, len);
    if (!msg)
        return;
    jsonrpc_call call;
    const char *reason = NULL;
    bool now = true, is_stop = false;
    if (jsonrpc_validate(msg, &call, &reason) == 0) {
        is_stop = strcmp(call.method, "StopProvider") == 0;
        if (is_stop)
            now = s->waiting.special == 0;
        else if (strcmp(call.method, "$/cancelRequest") != 0) {
            const rpc_method *m = find_method(s, call.method);
            now = !m || !m->handler;
        }
    }
    if (now) {
        s->stop_jumping = is_stop;
        dispatch_parsed_new(s, msg, text, len);
        s->stop_jumping = false;
        return;
    }
    wait_push(s, text, len, &call, is_stop);
    json_decref(msg);
}

/* ------------------------------------------------------------------ */
/* Input                                                               */
/* ------------------------------------------------------------------ */

static int on_frame(framing_event ev, const char *data, size_t len, void *arg) {
    rpc_server *s = arg;
    if (s->stopping)
        return 1;
    switch (ev) {
    case FRAMING_MESSAGE:
        log_trace(MODULE, "message of %zu bytes", len);
        if (must_wait(s))
            hold_message(s, data, len);
        else
            handle_message(s, data, len);
        break;
    case FRAMING_TOO_LARGE: {
        char detail[128];
        if (len)
            snprintf(detail, sizeof(detail), "message of %zu bytes is over the limit of %zu bytes",
                     len, s->decoder.max_message);
        else
            snprintf(detail, sizeof(detail), "message is over the limit of %zu bytes",
                     s->decoder.max_message);
        log_warn(MODULE, "%s: skipped", detail);
        send_error(s, NULL, NULL, 0, RPC_INVALID_REQUEST, "Request too large", detail);
        break;
    }
    case FRAMING_BAD_HEADER:
        log_warn(MODULE, "malformed header block: %s", data);
        send_error(s, NULL, NULL, 0, RPC_PARSE_ERROR, NULL, data);
        break;
    case FRAMING_TRUNCATED:
        log_warn(MODULE, "input ended inside a message");
        send_error(s, NULL, NULL, 0, RPC_PARSE_ERROR, NULL, "input ended inside a message");
        break;
    case FRAMING_NO_MEMORY:
        log_error(MODULE, "out of memory reading a message: skipped");
        send_error(s, NULL, NULL, 0, RPC_INTERNAL_ERROR, NULL, "out of memory reading a message");
        break;
    }
    return s->stopping ? 1 : 0;
}

/* The transport read a chunk of stdin: cut it into messages (on_frame
 * dispatches each). `busy` keeps maybe_finish() from ending the session
 * while we are still inside this call. */
static void on_read(void *arg, const char *data, size_t len) {
    rpc_server *s = arg;
    log_trace(MODULE, "read %zu bytes", len);
    s->busy++;
    framing_decoder_feed(&s->decoder, data, len, on_frame, s);
    s->busy--;
    drain_waiting(s);
    maybe_finish(s);
}

/* End of stdin (or a read error): let the decoder report a message cut
 * short, then end the session once everything in flight is answered. */
static void on_end(void *arg, int status) {
    rpc_server *s = arg;
    if (status < 0)
        log_error(MODULE, "reading stdin failed: %s", uv_strerror(status));
    else
        log_debug(MODULE, "end of input: %zu request(s) in flight", s->inflight);
    s->busy++;
    framing_decoder_finish(&s->decoder, on_frame, s);
    s->busy--;
    s->input_done = true;
    maybe_finish(s);
}

/* The last queued write completed: the session may now be over. */
static void on_flushed(void *arg) {
    maybe_finish(arg);
}

/* The output backlog drained after passing its high-water mark: waiting
 * messages may be dispatched again. */
static void on_output_ready(void *arg) {
    rpc_server *s = arg;
    drain_waiting(s);
    maybe_finish(s);
}

/* Runs on_shutdown once input is over, nothing is in flight and every
 * write has completed, unless we are inside a call into the server (the
 * outermost frame calls again). */
static void maybe_finish(rpc_server *s) {
    if (s->busy || !s->input_done || s->shutdown_done || s->closing || s->head || s->waiting.head ||
        !transport_is_flushed(s->transport))
        return;
    s->shutdown_done = true;
    log_debug(MODULE, "every request answered and output flushed: session over");
    if (s->opts.on_shutdown)
        s->opts.on_shutdown(s, s->opts.ctx);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

static void on_signal(uv_signal_t *h, int signum) {
    rpc_server *s = h->data;
    log_info(MODULE, "received %s: shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
    rpc_server_shutdown(s);
}

void rpc_server_shutdown(rpc_server *s) {
    if (s->stopping || s->closing)
        return;
    s->stopping = true;
    s->busy++;
    if (!s->input_done) {
        transport_stop_reading(s->transport);
        s->input_done = true;
    }
    cancel_all_waiting(s);
    size_t n = cancel_matching(s, UINT64_MAX, NULL);
    log_debug(MODULE, "shutdown: %zu request(s) cancelled", n);
    s->busy--;
    maybe_finish(s);
}

int rpc_server_new(uv_loop_t *loop, const rpc_server_options *opts, rpc_server **out) {
    if (!loop || !opts || !out)
        return UV_EINVAL;
    *out = NULL;
    rpc_server *s = calloc(1, sizeof(*s));
    if (!s)
        return UV_ENOMEM;
    s->loop = loop;
    s->opts = *opts;
    s->max_in_flight = opts->max_in_flight ? opts->max_in_flight : RPC_DEFAULT_MAX_IN_FLIGHT;
    framing_decoder_init(&s->decoder, opts->max_message_size, 0);
    dynbuf_init(&s->answer, JSONRPC_ANSWER_MAX);
    transport_callbacks cbs = {.on_read = on_read,
                               .on_end = on_end,
                               .on_flushed = on_flushed,
                               .on_output_ready = on_output_ready,
                               .arg = s};
    int rc = transport_new(loop, opts->in_fd, opts->out_fd, &cbs, &s->transport);
    if (rc) {
        free(s);
        return rc;
    }
    if (opts->handle_signals) {
        rc = uv_signal_init(loop, &s->sigint);
        if (rc == 0) {
            s->sigint_init = true;
            s->sigint.data = s;
            rc = uv_signal_init(loop, &s->sigterm);
        }
        if (rc == 0) {
            s->sigterm_init = true;
            s->sigterm.data = s;
        }
        if (rc) {
            /* Close what exists; memory goes in the close callbacks. */
            rpc_server_close(s);
            return rc;
        }
    }
    *out = s;
    return 0;
}

int rpc_server_start(rpc_server *s) {
    if (s->started || s->closing)
        return UV_EALREADY;
    int rc = transport_start(s->transport);
    if (rc)
        return rc;
    s->started = true;
    if (s->sigint_init && s->sigterm_init) {
        rc = uv_signal_start(&s->sigint, on_signal, SIGINT);
        if (rc == 0)
            rc = uv_signal_start(&s->sigterm, on_signal, SIGTERM);
        if (rc) {
            log_error(MODULE, "cannot handle signals: %s", uv_strerror(rc));
            return rc;
        }
        /* Signal handlers alone should not keep the loop alive. */
        uv_unref((uv_handle_t *)&s->sigint);
        uv_unref((uv_handle_t *)&s->sigterm);
    }
    return 0;
}

static void release_server(rpc_server *s) {
    if (--s->closes_pending > 0)
        return;
    framing_decoder_free(&s->decoder);
    dynbuf_free(&s->answer);
    free(s->id_buckets);
    free(s);
}

static void signal_closed(uv_handle_t *h) {
    release_server(h->data);
}

static void transport_closed(void *arg) {
    release_server(arg);
}

void rpc_server_close(rpc_server *s) {
    if (!s || s->closing)
        return;
    s->closing = true;
    if (s->head) {
        log_warn(MODULE, "closing with %zu request(s) unanswered", s->inflight);
        while (s->head) {
            rpc_request *r = s->head;
            rpc_batch *batch = r->batch;
            unlink_request(s, r);
            free_request(r);
            if (batch && --batch->pending == 0) {
                dynbuf_free(&batch->buf);
                free(batch);
            }
        }
    }
    waitlist_clear(&s->waiting);
    /* One reference for this function, so nothing is freed before it
     * returns, plus one per handle being closed. */
    s->closes_pending++;
    if (s->sigint_init) {
        s->closes_pending++;
        uv_close((uv_handle_t *)&s->sigint, signal_closed);
    }
    if (s->sigterm_init) {
        s->closes_pending++;
        uv_close((uv_handle_t *)&s->sigterm, signal_closed);
    }
    s->closes_pending++;
    transport_close(s->transport, transport_closed, s);
    release_server(s);
}

void rpc_server_get_stats(const rpc_server *s, rpc_server_stats *out) {
    memset(out, 0, sizeof(*out));
    out->in_flight = s->inflight;
    out->in_flight_peak = s->inflight_peak;
    out->max_in_flight = s->max_in_flight;
    out->waiting = s->waiting.count;
    out->waiting_bytes = s->waiting.bytes;
    out->waiting_bytes_peak = s->waiting.bytes_peak;
    out->max_waiting_bytes = RPC_MAX_WAITING_BYTES;
    transport_stats ts;
    transport_get_stats(s->transport, &ts);
    out->reads = ts.reads;
    out->writes = ts.writes;
    out->output_backlog = ts.backlog;
    out->output_backlog_peak = ts.backlog_peak;
    out->output_high_water = TRANSPORT_HIGH_WATER;
}
