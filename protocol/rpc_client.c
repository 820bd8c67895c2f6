/*
 * rpc_client.c - the orchestrator's side of the protocol: a provider as a
 * child process, called over its stdin and stdout. See protocol.h for the
 * contract; the notes here are about how.
 *
 * Pipes. Each of the child's stdin, stdout (and stderr, when the owner wants
 * its lines) is a real pipe from uv_pipe(), as a Terraform-style host gives
 * its plugins: the child's end is handed over with UV_INHERIT_FD and closed
 * here right after the spawn, ours is a uv_pipe_t. Both ends are created
 * close-on-exec, so a provider started later never inherits another one's
 * stdin (which would keep that stdin from ever reaching end of file).
 * transport.c is not used: it cannot close its output alone (close_input),
 * and it pauses reading while its writes back up, which for a client would
 * stop draining the very child that is not reading. Here stdout is always
 * read and answers are handed over as they come; memory per answer is
 * bounded by the framing decoder's limit.
 *
 * Calls. Each pending call sits in a hash table keyed by its id (chained,
 * power-of-two buckets, grown at load 1) and on a list in sending order, so
 * an answer is matched in O(1) and "fail everything" goes oldest first.
 * A call leaves both before its callback runs, so a callback may do
 * anything, rpc_client_close() included.
 *
 * Answers. stdout goes through the framing decoder fixed to newline framing
 * (the child answers in the framing we send; a first line of garbage must
 * not switch the decoder to header framing) and jsonrpc_parse(). The decoder
 * is fed one line at a time while the first bytes of the current line are
 * kept: when a line is over the limit, those bytes may still name the call
 * ({"jsonrpc":"2.0","id":N,... is how the provider writes every answer), and
 * that call is ended with RPC_CLIENT_BAD_ANSWER instead of waiting forever.
 *
 * The end of the child. Its exit callback can run before we have read the
 * last answers it wrote, so calls are failed only once the child has exited
 * and its output pipes have reached end of file. If only one of the two
 * happens (another process holds the pipe open, or the child closed its
 * stdout and lives on), a grace timer ends the wait. A failed write (the
 * child stopped reading) marks its call unsent: if the child does not exit
 * within the grace period either, the unsent calls fail with
 * RPC_CLIENT_SEND_FAILED.
 *
 * Lifetimes follow libuv's rule: the client is freed in the last close
 * callback of its handles. rpc_client_close() kills a child still running
 * and closes the SIGCHLD watcher only once the child is reaped, so the child
 * is always reaped.
 *
 * Spawning is posix_spawnp(), not uv_spawn(): libuv 1.44 forks, and the
 * parent then pays a copy-on-write fault for every page it touches until
 * the child has exec'd (on the 2-CPU VM this project is measured on, 3.5
 * to 6.8 ms against 0.6 to 2.4 ms for glibc's clone(CLONE_VFORK) path; the
 * bridge does this at every start, on Terraform's critical path). The
 * child gets what uv_spawn gave it: the three pipes as its stdio, every
 * signal at its default and none blocked, its own session on request, the
 * working folder, PATH search. Its exit is learnt from SIGCHLD through a
 * uv_signal_t, reaping only our pid (WNOHANG), so other children of the
 * process, libuv's own included, are left to their owners.
 */
#include "protocol.h"

#include "framing.h"
#include "jsonrpc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MODULE            "rpc.client"
#define READ_SIZE         (64 * 1024)
#define TABLE_MIN_BUCKETS 64u
#define LINE_HEAD_MAX     64

/* How the provider starts every answer (jsonrpc.c writes exactly this). */
static const char k_answer_head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
static char k_newline[] = "\n";

extern char **environ;

typedef struct pending_call {
    int64_t id;
    rpc_client_cb cb;
    void *arg;
    struct pending_call *chain;       /* next in its hash bucket */
    struct pending_call *prev, *next; /* every pending call, oldest first */
    bool unsent;                      /* its request could not be written */
    char method[];                    /* for log lines */
} pending_call;

typedef struct send_req {
    uv_write_t req; /* first: the callback gets its address */
    rpc_client *client;
    int64_t id; /* the call it carries; 0 for a notification */
    char *text;
} send_req;

struct rpc_client {
    uv_loop_t *loop;
    rpc_client_options opts;               /* argv, env, cwd cleared: used only at spawn */
    uv_signal_t child_watch;               /* SIGCHLD, to learn of the child's exit */
    uv_pipe_t in_pipe, out_pipe, err_pipe; /* child's stdin, stdout, stderr */
    uv_timer_t grace_timer;
    int handles_open; /* initialised, close callback not run yet */
    bool timer_open, in_open, out_open, err_open, process_open;
    bool err_piped; /* stderr is ours to read (on_stderr_line) */
    int pid;        /* 0 until spawned */

    /* Calls. */
    int64_t next_id;
    pending_call **buckets;
    size_t bucket_count; /* a power of two */
    size_t pending;
    pending_call *head, *tail;
    size_t writes_pending;

    /* The child's stdout. */
    framing_decoder decoder;
    char *out_buf;
    char line_head[LINE_HEAD_MAX]; /* first bytes of the line being read */
    size_t line_head_len;

    /* The child's stderr, when piped. */
    char *err_buf;
    char *err_line; /* max_stderr_line + 1 bytes */
    size_t err_len;
    bool err_cut; /* the current line was longer than the cap */

    /* What we know about the child. */
    bool input_closed; /* rpc_client_close_input() was called */
    bool input_broken; /* a write failed */
    bool exited, out_ended, err_ended;
    int64_t exit_status;
    int term_signal;
    /* The grace timer runs for one of two waits: for the end of the output
     * once the child exited (or for the exit once the output ended), or for
     * the exit after a failed write. */
    bool drain_timer_on, drain_grace_over;
    bool send_timer_on, send_grace_over;
    bool gone;          /* every call was failed; nothing more will be answered */
    bool exit_reported; /* on_exit has run */

    bool closing;
    void (*on_closed)(void *arg);
    void *closed_arg;
};

static void update_state(rpc_client *c);
static void on_grace_over(uv_timer_t *t);

/* ------------------------------------------------------------------ */
/* The table of pending calls                                          */
/* ------------------------------------------------------------------ */

static size_t bucket_of(const rpc_client *c, int64_t id) {
    /* Fibonacci hashing: consecutive ids spread over the buckets. */
    uint64_t h = (uint64_t)id * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 32) & (c->bucket_count - 1);
}

/* Doubles the bucket array and re-chains every call. On allocation failure
 * the table keeps its size: chains get longer, nothing breaks. */
static void table_grow(rpc_client *c) {
    size_t count = c->bucket_count * 2;
    pending_call **grown = calloc(count, sizeof(*grown));
    if (!grown)
        return;
    free(c->buckets);
    c->buckets = grown;
    c->bucket_count = count;
    for (pending_call *p = c->head; p; p = p->next) {
        size_t b = bucket_of(c, p->id);
        p->chain = c->buckets[b];
        c->buckets[b] = p;
    }
}

static void table_add(rpc_client *c, pending_call *p) {
    if (c->pending >= c->bucket_count)
        table_grow(c);
    size_t b = bucket_of(c, p->id);
    p->chain = c->buckets[b];
    c->buckets[b] = p;
    p->next = NULL;
    p->prev = c->tail;
    if (c->tail)
        c->tail->next = p;
    else
        c->head = p;
    c->tail = p;
    c->pending++;
}

static pending_call *table_find(const rpc_client *c, int64_t id) {
    for (pending_call *p = c->buckets[bucket_of(c, id)]; p; p = p->chain) {
        if (p->id == id)
            return p;
    }
    return NULL;
}

static void table_remove(rpc_client *c, pending_call *p) {
    pending_call **link = &c->buckets[bucket_of(c, p->id)];
    while (*link != p)
        link = &(*link)->chain;
    *link = p->chain;
    if (p->prev)
        p->prev->next = p->next;
    else
        c->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        c->tail = p->prev;
    c->pending--;
}

/* Ends a call: takes it out of the table, runs its callback with exactly
 * one of `result` (borrowed) and `err`, and frees it. The callback may call
 * back into the client, even close it. */
static void deliver(rpc_client *c, pending_call *p, json_t *result, const rpc_client_error *err) {
    table_remove(c, p);
    if (result)
        log_trace(MODULE, "answer to %.64s id=%" PRId64 ": result", p->method, p->id);
    else
        log_trace(MODULE, "answer to %.64s id=%" PRId64 ": error %d", p->method, p->id, err->code);
    p->cb(c, p->id, result, err, p->arg);
    free(p);
}

/* Ends every pending call with the same error, oldest first. A callback may
 * close the client, whose own pass then ends the rest. */
static void fail_all(rpc_client *c, int code, const char *message, json_t *data) {
    rpc_client_error err = {code, message, data};
    while (c->head)
        deliver(c, c->head, NULL, &err);
}

/* Ends the calls whose request could not be written. */
static void fail_unsent(rpc_client *c) {
    rpc_client_error err = {RPC_CLIENT_SEND_FAILED,
                            "the request could not be sent: the provider stopped reading it", NULL};
    pending_call *p = c->head;
    while (p && !c->closing) {
        if (!p->unsent) {
            p = p->next;
            continue;
        }
        deliver(c, p, NULL, &err);
        p = c->head; /* the callback may have changed the list */
    }
}

/* ------------------------------------------------------------------ */
/* Handles and their end                                               */
/* ------------------------------------------------------------------ */

static void free_client(rpc_client *c) {
    void (*on_closed)(void *) = c->on_closed;
    void *arg = c->closed_arg;
    framing_decoder_free(&c->decoder);
    free(c->buckets);
    free(c->out_buf);
    free(c->err_buf);
    free(c->err_line);
    free(c);
    if (on_closed)
        on_closed(arg);
}

static void on_handle_closed(uv_handle_t *h) {
    rpc_client *c = h->data;
    if (--c->handles_open == 0 && c->closing)
        free_client(c);
}

static void close_handle(rpc_client *c, uv_handle_t *h, bool *open) {
    if (!*open)
        return;
    *open = false;
    h->data = c;
    uv_close(h, on_handle_closed);
}

/* Closes the child's stdin: it reads to the end of what we sent, then sees
 * end of file. Pending writes would be cancelled by uv_close, so this waits
 * for them (on_written calls again). */
static void close_input_when_written(rpc_client *c) {
    if (c->input_closed && c->writes_pending == 0 && c->in_open) {
        log_debug(MODULE, "closing the provider's stdin (pid %d)", c->pid);
        close_handle(c, (uv_handle_t *)&c->in_pipe, &c->in_open);
    }
}

/* ------------------------------------------------------------------ */
/* Sending                                                             */
/* ------------------------------------------------------------------ */

/* A write completed. A failure means the child stopped reading its stdin
 * (usually because it died: the exit will follow). The call it carried is
 * marked unsent; update_state() decides when to give up on it. */
static void on_written(uv_write_t *req, int status) {
    send_req *r = (send_req *)req;
    rpc_client *c = r->client;
    int64_t id = r->id;
    free(r->text);
    free(r);
    c->writes_pending--;
    if (c->closing)
        return; /* cancelled by uv_close; the calls were answered already */
    if (status < 0) {
        if (!c->input_broken)
            log_warn(MODULE, "writing to the provider (pid %d) failed: %s", c->pid,
                     uv_strerror(status));
        c->input_broken = true;
        pending_call *p = id ? table_find(c, id) : NULL;
        if (p)
            p->unsent = true;
        update_state(c);
        if (c->closing)
            return;
    }
    close_input_when_written(c);
}

/* Whether a new message may be sent. Returns 0 or a negative libuv code. */
static int check_sendable(const rpc_client *c) {
    if (c->closing)
        return UV_EINVAL;
    if (c->input_closed || c->input_broken || c->exited || c->out_ended || c->gone)
        return UV_EPIPE;
    return 0;
}

/* Writes `msg` (stolen) as one line. `id` is the call it carries (0: a
 * notification). Returns 0 or a negative libuv error code. */
static int send_message_new(rpc_client *c, json_t *msg, int64_t id) {
    if (!msg)
        return UV_EINVAL; /* json_pack failed: a method name that is not UTF-8 */
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    send_req *r = text ? malloc(sizeof(*r)) : NULL;
    if (!r) {
        free(text);
        return UV_ENOMEM;
    }
    r->client = c;
    r->id = id;
    r->text = text;
    /* JSON_COMPACT output never holds a raw newline: one message, one line. */
    uv_buf_t bufs[2] = {uv_buf_init(text, (unsigned)strlen(text)), uv_buf_init(k_newline, 1)};
    int rc = uv_write(&r->req, (uv_stream_t *)&c->in_pipe, bufs, 2, on_written);
    if (rc) {
        free(text);
        free(r);
        return rc;
    }
    c->writes_pending++;
    return 0;
}

/* Checks the common arguments; `*params` becomes an owned object or array
 * (NULL: {}). On failure *params has been released. */
static int check_message(rpc_client *c, const char *method, json_t **params) {
    int rc = !c || !method ? UV_EINVAL : check_sendable(c);
    if (rc == 0 && !*params && !(*params = json_object()))
        rc = UV_ENOMEM;
    if (rc == 0 && !json_is_object(*params) && !json_is_array(*params))
        rc = UV_EINVAL;
    if (rc) {
        json_decref(*params);
        *params = NULL;
    }
    return rc;
}

int rpc_client_call_new(rpc_client *c, const char *method, json_t *params, rpc_client_cb cb,
                        void *arg, int64_t *id_out) {
    if (id_out)
        *id_out = 0;
    int rc = check_message(c, method, &params);
    if (rc == 0 && !cb) {
        json_decref(params);
        rc = UV_EINVAL;
    }
    if (rc)
        return rc;
    size_t method_len = strlen(method);
    pending_call *p = malloc(sizeof(*p) + method_len + 1);
    if (!p) {
        json_decref(params);
        return UV_ENOMEM;
    }
    int64_t id = c->next_id++;
    rc = send_message_new(c,
                          json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", (json_int_t)id,
                                    "method", method, "params", params),
                          id);
    if (rc) {
        free(p);
        return rc;
    }
    /* The answer cannot come before we return to the loop, so adding the
     * call after the write was queued is safe. */
    p->id = id;
    p->cb = cb;
    p->arg = arg;
    p->unsent = false;
    memcpy(p->method, method, method_len + 1);
    table_add(c, p);
    log_trace(MODULE, "call %.64s id=%" PRId64 " (%zu pending)", method, id, c->pending);
    if (id_out)
        *id_out = id;
    return 0;
}

int rpc_client_notify_new(rpc_client *c, const char *method, json_t *params) {
    int rc = check_message(c, method, &params);
    if (rc)
        return rc;
    log_trace(MODULE, "notification %.64s", method);
    return send_message_new(
        c, json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", method, "params", params), 0);
}

int rpc_client_cancel(rpc_client *c, int64_t id) {
    if (!c || c->closing)
        return UV_EINVAL;
    if (!table_find(c, id))
        return UV_ENOENT;
    log_debug(MODULE, "cancelling id=%" PRId64, id);
    return rpc_client_notify_new(c, "$/cancelRequest", json_pack("{s:I}", "id", (json_int_t)id));
}

/* ------------------------------------------------------------------ */
/* Answers                                                             */
/* ------------------------------------------------------------------ */

/* Reads the id from the first bytes of the current line when it starts the
 * way the provider writes answers. Returns true and sets *id. */
static bool id_from_line_head(const rpc_client *c, int64_t *id) {
    size_t n = sizeof(k_answer_head) - 1;
    if (c->line_head_len <= n || memcmp(c->line_head, k_answer_head, n) != 0)
        return false;
    int64_t value = 0;
    size_t i = n;
    for (; i < c->line_head_len && c->line_head[i] >= '0' && c->line_head[i] <= '9'; i++) {
        if (value > (INT64_MAX - 9) / 10)
            return false;
        value = value * 10 + (c->line_head[i] - '0');
    }
    if (i == n || i == c->line_head_len || c->line_head[i] != ',')
        return false;
    *id = value;
    return true;
}

/* A line could not be read whole (over the limit, or no memory for it).
 * When its first bytes name a pending call, that call ends here. */
static void unreadable_answer(rpc_client *c, const char *why) {
    int64_t id;
    pending_call *p = id_from_line_head(c, &id) ? table_find(c, id) : NULL;
    log_warn(MODULE, "the provider wrote a line %s: skipped%s", why,
             p ? "; its call ends with an error" : "");
    if (!p)
        return;
    log_debug(MODULE, "the skipped line was the answer to %.64s id=%" PRId64, p->method, id);
    char message[160];
    snprintf(message, sizeof(message), "the provider's answer was skipped: %s", why);
    rpc_client_error err = {RPC_CLIENT_BAD_ANSWER, message, NULL};
    deliver(c, p, NULL, &err);
}

/* Whether `v` is the string "2.0". */
static bool is_version(json_t *v) {
    return json_is_string(v) && strcmp(json_string_value(v), "2.0") == 0;
}

/* One line from the child: match it to its call and deliver it. Anything
 * that is not a response for a pending call is logged and ignored. Nothing
 * from the line itself is logged: it may hold secrets. */
static void handle_line(rpc_client *c, const char *text, size_t len) {
    int code = 0;
    char detail[JSONRPC_DETAIL_MAX];
    json_t *msg = jsonrpc_parse(text, len, &code, detail);
    if (!msg) {
        log_warn(MODULE, "the provider wrote a line of %zu bytes that is not JSON: ignored", len);
        return;
    }
    json_t *id = json_object_get(msg, "id");
    if (!json_is_object(msg) || json_object_get(msg, "method")) {
        log_warn(MODULE, "the provider wrote a message that is not a response: ignored");
    } else if (!json_is_integer(id)) {
        log_warn(MODULE, "the provider wrote a response without an integer id: ignored");
    } else {
        pending_call *p = table_find(c, json_integer_value(id));
        if (!p) {
            log_warn(MODULE, "the provider answered a call that is not pending: ignored");
            log_debug(MODULE, "the answer was for id=%" JSON_INTEGER_FORMAT,
                      json_integer_value(id));
            json_decref(msg);
            return;
        }
        json_t *result = json_object_get(msg, "result");
        json_t *error = json_object_get(msg, "error");
        json_t *ecode = json_object_get(error, "code");
        json_t *emessage = json_object_get(error, "message");
        bool version_ok = is_version(json_object_get(msg, "jsonrpc"));
        if (version_ok && result && !error) {
            deliver(c, p, result, NULL);
        } else if (version_ok && !result && json_is_object(error) && json_is_integer(ecode) &&
                   json_integer_value(ecode) >= INT_MIN && json_integer_value(ecode) <= INT_MAX &&
                   json_is_string(emessage)) {
            rpc_client_error err = {(int)json_integer_value(ecode), json_string_value(emessage),
                                    json_object_get(error, "data")};
            deliver(c, p, NULL, &err);
        } else {
            log_warn(MODULE, "the provider wrote an invalid response: its call ends with an error");
            rpc_client_error err = {RPC_CLIENT_BAD_ANSWER,
                                    "the provider's answer is not a valid JSON-RPC response", NULL};
            deliver(c, p, NULL, &err);
        }
    }
    json_decref(msg);
}

static int on_frame(framing_event ev, const char *data, size_t len, void *arg) {
    rpc_client *c = arg;
    if (c->closing)
        return 1;
    char why[96];
    switch (ev) {
    case FRAMING_MESSAGE:
        handle_line(c, data, len);
        break;
    case FRAMING_TOO_LARGE:
        snprintf(why, sizeof(why), "over the limit of %zu bytes", c->decoder.max_message);
        unreadable_answer(c, why);
        break;
    case FRAMING_NO_MEMORY:
        unreadable_answer(c, "that could not be held (out of memory)");
        break;
    default: /* header framing only; the decoder is fixed to newline framing */
        break;
    }
    return c->closing ? 1 : 0;
}

/* Feeds a chunk of stdout to the decoder one line at a time, keeping the
 * first bytes of each line for unreadable_answer(). */
static void feed_output(rpc_client *c, const char *data, size_t len) {
    while (len > 0 && !c->closing) {
        const char *nl = memchr(data, '\n', len);
        size_t seg = nl ? (size_t)(nl - data) + 1 : len;
        if (c->line_head_len < LINE_HEAD_MAX) {
            size_t take = LINE_HEAD_MAX - c->line_head_len;
            if (take > seg)
                take = seg;
            memcpy(c->line_head + c->line_head_len, data, take);
            c->line_head_len += take;
        }
        framing_decoder_feed(&c->decoder, data, seg, on_frame, c);
        if (nl)
            c->line_head_len = 0;
        data += seg;
        len -= seg;
    }
}

static void alloc_out(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    rpc_client *c = h->data;
    *buf = uv_buf_init(c->out_buf, READ_SIZE);
}

static void on_out_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    rpc_client *c = s->data;
    if (c->closing)
        return;
    if (nread > 0) {
        feed_output(c, buf->base, (size_t)nread);
        return;
    }
    if (nread == 0)
        return; /* EAGAIN */
    uv_read_stop(s);
    if (nread != UV_EOF)
        log_warn(MODULE, "reading the provider's output failed: %s", uv_strerror((int)nread));
    /* A last line without its newline is still an answer. */
    framing_decoder_finish(&c->decoder, on_frame, c);
    if (c->closing)
        return;
    log_debug(MODULE, "the provider's output ended (pid %d, %zu pending)", c->pid, c->pending);
    c->out_ended = true;
    update_state(c);
}

/* ------------------------------------------------------------------ */
/* The child's stderr                                                  */
/* ------------------------------------------------------------------ */

/* Hands one line to the owner. A line cut at max_stderr_line is masked
 * before it leaves (log.h's rule: the cut must not keep the prefix of a
 * secret that straddled it; the owner's log_write could not recognise it).
 * If that copy cannot be made, the line is dropped rather than passed on
 * unmasked. */
static void emit_stderr_line(rpc_client *c) {
    size_t n = c->err_len;
    bool cut = c->err_cut;
    if (n > 0 && c->err_line[n - 1] == '\r' && !cut)
        n--;
    c->err_line[n] = '\0';
    c->err_len = 0;
    c->err_cut = false;
    if (!cut) {
        c->opts.on_stderr_line(c, c->err_line, n, c->opts.arg);
        return;
    }
    size_t mlen = 0;
    char *masked = log_redact_cut_text(c->err_line, n, &mlen);
    if (masked)
        c->opts.on_stderr_line(c, masked, mlen, c->opts.arg);
    free(masked);
}

/* Cuts stderr into lines; the part of a line past the cap is dropped. */
static void split_stderr(rpc_client *c, const char *data, size_t len) {
    while (len > 0 && !c->closing) {
        const char *nl = memchr(data, '\n', len);
        size_t seg = nl ? (size_t)(nl - data) : len;
        size_t room = c->opts.max_stderr_line - c->err_len;
        size_t take = seg < room ? seg : room;
        memcpy(c->err_line + c->err_len, data, take);
        c->err_len += take;
        if (take < seg)
            c->err_cut = true;
        if (!nl)
            return;
        emit_stderr_line(c);
        data += seg + 1;
        len -= seg + 1;
    }
}

static void alloc_err(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    rpc_client *c = h->data;
    *buf = uv_buf_init(c->err_buf, READ_SIZE);
}

static void on_err_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    rpc_client *c = s->data;
    if (c->closing)
        return;
    if (nread > 0) {
        split_stderr(c, buf->base, (size_t)nread);
        return;
    }
    if (nread == 0)
        return;
    uv_read_stop(s);
    if (c->err_len > 0 || c->err_cut)
        emit_stderr_line(c);
    if (c->closing)
        return;
    c->err_ended = true;
    update_state(c);
}

/* ------------------------------------------------------------------ */
/* The child's end                                                     */
/* ------------------------------------------------------------------ */

/* Nothing more will be answered: stop reading and fail every call. */
static void child_gone(rpc_client *c) {
    c->gone = true;
    uv_timer_stop(&c->grace_timer);
    if (!c->out_ended)
        uv_read_stop((uv_stream_t *)&c->out_pipe);
    if (c->err_piped && !c->err_ended)
        uv_read_stop((uv_stream_t *)&c->err_pipe);
    char message[96];
    json_t *data = NULL;
    if (c->exited && c->term_signal)
        snprintf(message, sizeof(message), "provider killed by signal %d", c->term_signal);
    else if (c->exited)
        snprintf(message, sizeof(message), "provider exited with status %" PRId64, c->exit_status);
    else
        snprintf(message, sizeof(message), "provider closed its output");
    if (c->exited)
        data = json_pack("{s:I, s:i}", "exit_status", (json_int_t)c->exit_status, "term_signal",
                         c->term_signal);
    if (c->pending)
        log_warn(MODULE, "%s with %zu call(s) unanswered", message, c->pending);
    else
        log_debug(MODULE, "%s (pid %d)", message, c->pid);
    fail_all(c, RPC_CLIENT_CHILD_EXITED, message, data);
    json_decref(data);
}

/* Decides what the child's state means for the calls, after any change:
 * exited and read to the end (or the drain wait over) -> fail the calls,
 * then report the exit; exited or end of output -> start the drain wait;
 * a failed write -> wait for the exit, then fail the calls that could not
 * be sent. */
static void update_state(rpc_client *c) {
    if (c->closing)
        return;
    bool ending = c->exited || c->out_ended;
    bool drained = c->out_ended && c->err_ended;
    if (!c->gone && ((c->exited && drained) || (ending && c->drain_grace_over))) {
        child_gone(c);
        if (c->closing)
            return;
    }
    if (c->gone) {
        if (c->exited && !c->exit_reported) {
            c->exit_reported = true;
            if (c->opts.on_exit)
                c->opts.on_exit(c, c->exit_status, c->term_signal, c->opts.arg);
        }
        return;
    }
    if (c->send_grace_over && c->input_broken) {
        fail_unsent(c);
        if (c->closing)
            return;
    }
    if (ending && !c->drain_timer_on) {
        c->drain_timer_on = true; /* (re)starts the timer */
        uv_timer_start(&c->grace_timer, on_grace_over, c->opts.exit_grace_ms, 0);
    } else if (c->input_broken && !c->drain_timer_on && !c->send_timer_on) {
        c->send_timer_on = true;
        uv_timer_start(&c->grace_timer, on_grace_over, c->opts.exit_grace_ms, 0);
    }
}

static void on_grace_over(uv_timer_t *t) {
    rpc_client *c = t->data;
    if (c->drain_timer_on) {
        c->drain_grace_over = true;
        if (c->exited)
            log_warn(MODULE, "the provider exited but its output is still open (another "
                             "process holds it?): not waiting for it");
        else
            log_warn(MODULE, "the provider closed its output but has not exited");
    } else {
        c->send_grace_over = true;
    }
    update_state(c);
}

static void on_child_exit(rpc_client *c, int64_t exit_status, int term_signal) {
    c->exited = true;
    c->exit_status = exit_status;
    c->term_signal = term_signal;
    log_debug(MODULE, "the provider (pid %d) exited: status %" PRId64 ", signal %d", c->pid,
              exit_status, term_signal);
    if (c->closing) {
        close_handle(c, (uv_handle_t *)&c->child_watch, &c->process_open);
        return;
    }
    update_state(c);
}

/* SIGCHLD (coalesced, and shared with every other child of the process):
 * reaps our child if it is the one that exited. The callback runs on the
 * loop, never in the signal handler, so c->pid is set by then even when
 * the child exited at once. */
static void on_sigchld(uv_signal_t *h, int signum) {
    (void)signum;
    rpc_client *c = h->data;
    if (c->pid <= 0 || c->exited)
        return;
    int status = 0;
    pid_t r;
    do
        r = waitpid(c->pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return; /* another child, or ours stopped: still running */
    if (r < 0) {
        /* Someone else reaped it (waitpid(-1) elsewhere, SIGCHLD ignored):
         * gone, with no status to tell. */
        log_warn(MODULE, "the provider (pid %d) was reaped elsewhere: its exit status is unknown",
                 c->pid);
        on_child_exit(c, -1, 0);
        return;
    }
    on_child_exit(c, WIFEXITED(status) ? WEXITSTATUS(status) : 0,
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

/* Whether environment entries `a` and `b` ("NAME=value" or "NAME") name
 * the same variable. */
static bool same_name(const char *a, const char *b) {
    size_t n = strcspn(a, "=");
    return strncmp(a, b, n) == 0 && (b[n] == '=' || b[n] == '\0');
}

/* Our environment with `extra` applied, as a new array of borrowed
 * strings (free the array only). NULL when memory ran out. */
static char **merged_environment(const char *const *extra) {
    size_t ours = 0, more = 0;
    while (environ[ours])
        ours++;
    while (extra[more])
        more++;
    char **env = calloc(ours + more + 1, sizeof(*env));
    if (!env)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < ours; i++) {
        bool replaced = false;
        for (size_t j = 0; j < more && !replaced; j++)
            replaced = same_name(extra[j], environ[i]);
        if (!replaced)
            env[n++] = environ[i];
    }
    for (size_t j = 0; j < more; j++) {
        if (strchr(extra[j], '='))
            env[n++] = (char *)extra[j];
    }
    return env;
}

/* Makes one pipe: our end becomes `p` (read when the child writes), the
 * child's end goes to *child_fd for UV_INHERIT_FD. Both ends are
 * close-on-exec (uv_pipe does that); uv_pipe_open makes ours
 * non-blocking, the child's stays blocking, as a program expects. */
static int open_pipe(rpc_client *c, uv_pipe_t *p, bool *open, bool child_writes,
                     uv_file *child_fd) {
    uv_file fds[2]; /* [0] reads, [1] writes */
    int rc = uv_pipe(fds, 0, 0);
    if (rc)
        return rc;
    uv_file ours = child_writes ? fds[0] : fds[1];
    *child_fd = child_writes ? fds[1] : fds[0];
    rc = uv_pipe_init(c->loop, p, 0);
    if (rc) {
        close(ours);
        return rc;
    }
    p->data = c;
    c->handles_open++;
    *open = true;
    rc = uv_pipe_open(p, ours);
    if (rc)
        close(ours);
    return rc;
}

/* Starts the child with posix_spawnp (see the top of this file for why
 * not uv_spawn): its stdio from child_fds (stderr ours when not piped),
 * signals reset, its own session when asked, its working folder, our
 * environment with opts->env applied. The SIGCHLD watcher starts first, so
 * an exit at once is not missed. Returns 0 or a negative libuv error. */
static int start_child(rpc_client *c, const rpc_client_options *opts, const uv_file child_fds[3]) {
    /* A path that cannot be executed is refused here, with its reason:
     * posix_spawnp reports a failed exec too, but not under valgrind, which
     * turns its vfork into a fork whose child just exits 127. */
    if (strchr(opts->argv[0], '/') && access(opts->argv[0], X_OK) != 0)
        return uv_translate_sys_error(errno);
    int rc = uv_signal_init(c->loop, &c->child_watch);
    if (rc)
        return rc;
    c->child_watch.data = c;
    c->handles_open++;
    c->process_open = true;
    rc = uv_signal_start(&c->child_watch, on_sigchld, SIGCHLD);
    if (rc)
        return rc;
    char **env = environ;
    if (opts->env && !(env = merged_environment(opts->env)))
        return UV_ENOMEM;
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    int err = posix_spawn_file_actions_init(&actions);
    if (err == 0 && (err = posix_spawnattr_init(&attr)) != 0)
        posix_spawn_file_actions_destroy(&actions);
    if (err) {
        if (env != environ)
            free(env);
        return uv_translate_sys_error(err);
    }
    /* A pipe end numbered 0 to 2 (this process was started with one of
     * those closed) would be overwritten by an earlier dup2: move it up. */
    int fds[3] = {child_fds[0], child_fds[1], c->err_piped ? child_fds[2] : STDERR_FILENO};
    int moved[3] = {-1, -1, -1};
    for (int i = 0; i < 3; i++) {
        if (fds[i] >= 0 && fds[i] < 3 && fds[i] != i) {
            moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
            if (moved[i] < 0)
                err = errno;
            fds[i] = moved[i];
        }
    }
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (opts->new_session) /* a terminal's Ctrl-C stops at us */
        flags |= POSIX_SPAWN_SETSID;
    for (int i = 0; i < 3 && !err; i++)
        err = posix_spawn_file_actions_adddup2(&actions, fds[i], i);
    if (!err && opts->cwd)
        err = posix_spawn_file_actions_addchdir_np(&actions, opts->cwd);
    if (!err)
        err = posix_spawnattr_setflags(&attr, flags);
    if (!err)
        err = posix_spawnattr_setsigmask(&attr, &none);
    if (!err)
        err = posix_spawnattr_setsigdefault(&attr, &all);
    pid_t pid = 0;
    if (!err)
        err = posix_spawnp(&pid, opts->argv[0], &actions, &attr, (char *const *)opts->argv, env);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    for (int i = 0; i < 3; i++) {
        if (moved[i] >= 0)
            close(moved[i]);
    }
    if (env != environ)
        free(env);
    if (err)
        return uv_translate_sys_error(err);
    c->pid = pid;
    return 0;
}

/* Allocates a client with its buffers and timer; nothing started. */
static int new_client(uv_loop_t *loop, const rpc_client_options *opts, rpc_client **out) {
    rpc_client *c = calloc(1, sizeof(*c));
    if (!c)
        return UV_ENOMEM;
    c->loop = loop;
    c->opts = *opts;
    c->opts.argv = NULL;
    c->opts.env = NULL;
    c->opts.cwd = NULL;
    if (!c->opts.max_message_size)
        c->opts.max_message_size = RPC_CLIENT_DEFAULT_MAX_MESSAGE;
    if (!c->opts.max_stderr_line)
        c->opts.max_stderr_line = RPC_CLIENT_DEFAULT_MAX_STDERR_LINE;
    if (!c->opts.exit_grace_ms)
        c->opts.exit_grace_ms = RPC_CLIENT_DEFAULT_EXIT_GRACE_MS;
    c->err_piped = opts->on_stderr_line != NULL;
    c->err_ended = !c->err_piped;
    c->next_id = 1;
    framing_decoder_init(&c->decoder, c->opts.max_message_size, 0);
    /* We send newline framing, so the answers come in it; fixing it now
     * keeps a first line of garbage from selecting header framing. */
    c->decoder.mode = FRAMING_NEWLINE;
    c->bucket_count = TABLE_MIN_BUCKETS;
    c->buckets = calloc(c->bucket_count, sizeof(*c->buckets));
    c->out_buf = malloc(READ_SIZE);
    if (c->err_piped) {
        c->err_buf = malloc(READ_SIZE);
        c->err_line =
            c->opts.max_stderr_line < SIZE_MAX ? malloc(c->opts.max_stderr_line + 1) : NULL;
    }
    if (!c->buckets || !c->out_buf || (c->err_piped && (!c->err_buf || !c->err_line))) {
        free(c->buckets);
        free(c->out_buf);
        free(c->err_buf);
        free(c->err_line);
        free(c);
        return UV_ENOMEM;
    }
    /* Last: once initialised, the timer can only go through uv_close. It
     * only fails on bad arguments. */
    uv_timer_init(loop, &c->grace_timer);
    c->grace_timer.data = c;
    c->timer_open = true;
    c->handles_open = 1;
    *out = c;
    return 0;
}

int rpc_client_spawn(uv_loop_t *loop, const rpc_client_options *opts, rpc_client **out) {
    if (out)
        *out = NULL;
    if (!loop || !opts || !out || !opts->argv || !opts->argv[0])
        return UV_EINVAL;
    rpc_client *c;
    int rc = new_client(loop, opts, &c);
    if (rc)
        return rc;
    uv_file child_fds[3] = {-1, -1, -1};
    rc = open_pipe(c, &c->in_pipe, &c->in_open, false, &child_fds[0]);
    if (rc == 0)
        rc = open_pipe(c, &c->out_pipe, &c->out_open, true, &child_fds[1]);
    if (rc == 0 && c->err_piped)
        rc = open_pipe(c, &c->err_pipe, &c->err_open, true, &child_fds[2]);
    if (rc == 0)
        rc = start_child(c, opts, child_fds);
    for (int i = 0; i < 3; i++) {
        if (child_fds[i] >= 0)
            close(child_fds[i]);
    }
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&c->out_pipe, alloc_out, on_out_read);
    if (rc == 0 && c->err_piped)
        rc = uv_read_start((uv_stream_t *)&c->err_pipe, alloc_err, on_err_read);
    if (rc) {
        log_debug(MODULE, "cannot start %s: %s", opts->argv[0], uv_strerror(rc));
        rpc_client_close(c, NULL, NULL); /* kills the child if it started */
        return rc;
    }

    /* A write to a pipe whose reader is gone must fail with EPIPE, not
     * kill the process. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);

    log_debug(MODULE, "started %s (pid %d)", opts->argv[0], c->pid);
    *out = c;
    return 0;
}

int rpc_client_close_input(rpc_client *c) {
    if (!c || c->closing)
        return UV_EINVAL;
    if (!c->input_closed) {
        c->input_closed = true;
        close_input_when_written(c);
    }
    return 0;
}

int rpc_client_kill(rpc_client *c, int signum) {
    if (!c || c->closing)
        return UV_EINVAL;
    if (c->pid == 0 || c->exited)
        return UV_ESRCH;
    log_debug(MODULE, "sending signal %d to the provider (pid %d)", signum, c->pid);
    return uv_kill(c->pid, signum);
}

int rpc_client_pid(const rpc_client *c) {
    return c->pid;
}

size_t rpc_client_pending(const rpc_client *c) {
    return c->pending;
}

void rpc_client_close(rpc_client *c, void (*on_closed)(void *arg), void *arg) {
    if (!c || c->closing)
        return;
    c->closing = true;
    c->on_closed = on_closed;
    c->closed_arg = arg;
    if (c->pending)
        log_debug(MODULE, "closing with %zu call(s) pending", c->pending);
    fail_all(c, RPC_CLIENT_CLOSED, "the client was closed before the provider answered", NULL);
    close_handle(c, (uv_handle_t *)&c->grace_timer, &c->timer_open);
    close_handle(c, (uv_handle_t *)&c->in_pipe, &c->in_open);
    close_handle(c, (uv_handle_t *)&c->out_pipe, &c->out_open);
    close_handle(c, (uv_handle_t *)&c->err_pipe, &c->err_open);
    if (c->pid == 0 || c->exited) {
        close_handle(c, (uv_handle_t *)&c->child_watch, &c->process_open); /* none, or reaped */
    } else {
        /* on_child_exit closes the watcher once the child is reaped. */
        int rc = uv_kill(c->pid, SIGKILL);
        log_debug(MODULE, "killing the provider (pid %d): %s", c->pid, rc ? uv_strerror(rc) : "ok");
    }
}
