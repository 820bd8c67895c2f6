/*
 * bridge.c - one Terraform call at a time, from protobuf to JSON-RPC and
 * back.
 *
 * A call's life (a bridge_op): dispatch unpacks the request with the
 * method's descriptor; if the child's schema is not in yet the op waits on
 * the `waiting` list; then the method's `params` function builds the
 * contract's params (msgpack values decoded through the schema's types) and
 * the op is sent with rpc_client_call_new and joins the `inflight` list, which
 * is in sending order and so in deadline order (one timeout for all). The
 * child's answer (or its error, or its exit) goes through `finish`, which
 * turns the result's diagnostics into protobuf and lets the method's
 * `answer` function fill the response, then packs and replies.
 *
 * Three things can end an op early. Terraform resets the stream (or the
 * connection closes): the call's cancel callback sends $/cancelRequest and
 * forgets the call; the op lives on until the child answers, since the
 * rpc_client callback still points at it. The deadline passes: Terraform
 * gets an error diagnostic at once, the child a $/cancelRequest, and again
 * the op waits for the child's answer before it is freed. The child exits:
 * rpc_client answers every pending call with an error, so the same path
 * frees everything.
 *
 * Where an apply or read fails, the answer carries the state Terraform
 * sent (prior or current) rather than nothing, so that a failure never
 * makes Terraform forget an object it had; the provider's own answers
 * always say what exists, including after a partial failure.
 */
#include "bridge.h"

#include "arena.h"
#include "grpc.h"
#include "msgval.h"
#include "plugin.pb-c.h"
#include "protocol.h"
#include "tfplugin6.pb-c.h"
#include "tfschema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODULE "tfbridge"

typedef struct bridge_op bridge_op;
typedef struct method_spec method_spec;

/* Builds the contract's params from op->req: a new object, or NULL after
 * adding an error diagnostic (the op is then answered at once). */
typedef json_t *(*params_fn)(bridge_op *op, arena *a, tfdiags *d);
/* Builds the answer from the child's result (borrowed; NULL when the call
 * failed). Diagnostics gathered in `d` belong in the answer. NULL only when
 * memory ran out. */
typedef ProtobufCMessage *(*answer_fn)(bridge_op *op, const json_t *result, arena *a, tfdiags *d);

struct method_spec {
    const char *path;
    const char *rpc_method;
    const ProtobufCMessageDescriptor *req_desc;
    params_fn params;
    /* NULL: the answer carries only diagnostics, in a message of type
     * diags_desc. */
    answer_fn answer;
    const ProtobufCMessageDescriptor *diags_desc;
    bool data_source; /* type_name names a data source */
};

typedef enum op_list { OP_NOWHERE, OP_WAITING, OP_INFLIGHT } op_list;

struct bridge_op {
    bridge *b;
    const method_spec *m;
    grpc_call *call;        /* NULL once answered or gone */
    ProtobufCMessage *req;  /* unpacked request */
    const tfschema_type *t; /* the resource or data source, once resolved */
    int64_t rpc_id;
    bool at_child; /* rpc_client holds a callback to this op */
    uint64_t deadline;
    op_list list;
    bridge_op *prev, *next;
};

typedef struct op_queue {
    bridge_op *head, *tail;
} op_queue;

struct bridge {
    uv_loop_t *loop;
    rpc_client *child;
    bool child_gone;
    char child_gone_why[96];
    tfschema schema;
    bool schema_ready, schema_failed;
    char schema_error[TFSCHEMA_ERR_MAX];
    char *prefix;
    uint64_t call_timeout_ms;
    op_queue waiting, inflight;
    size_t ops_alive; /* ops not yet freed */
    uv_timer_t deadline_timer;
    uv_timer_t kill_timer;
    uv_timer_t schema_timer; /* the schema request's deadline */
    int64_t schema_id;
    bool schema_pending; /* asked, not answered */
    void (*on_shutdown)(void *arg);
    void *arg;
    bool shutdown_requested;
    bool closing;
    bool child_closing, timers_closing;
    int handles_open;
    void (*on_closed)(void *arg);
    void *closed_arg;
};

static void op_send(bridge_op *op);
static void op_finish(bridge_op *op, const json_t *result, const rpc_client_error *error);
static void bridge_maybe_freed(bridge *b);
static void deadline_fired(uv_timer_t *t);

/* ------------------------------------------------------------------ */
/* Op lists and lifetime                                               */
/* ------------------------------------------------------------------ */

static op_queue *queue_of(bridge *b, op_list l) {
    return l == OP_WAITING ? &b->waiting : &b->inflight;
}

static void op_unlink(bridge_op *op) {
    if (op->list == OP_NOWHERE)
        return;
    op_queue *q = queue_of(op->b, op->list);
    if (op->prev)
        op->prev->next = op->next;
    else
        q->head = op->next;
    if (op->next)
        op->next->prev = op->prev;
    else
        q->tail = op->prev;
    op->prev = op->next = NULL;
    op->list = OP_NOWHERE;
}

static void op_append(bridge_op *op, op_list l) {
    op_unlink(op);
    op_queue *q = queue_of(op->b, l);
    op->prev = q->tail;
    op->next = NULL;
    if (q->tail)
        q->tail->next = op;
    else
        q->head = op;
    q->tail = op;
    op->list = l;
}

/* Frees an op that is answered (or whose call is gone) and that the child
 * no longer holds. */
static void op_free_if_done(bridge_op *op) {
    if (op->call || op->at_child)
        return;
    bridge *b = op->b;
    op_unlink(op);
    if (op->req)
        protobuf_c_message_free_unpacked(op->req, NULL);
    free(op);
    b->ops_alive--;
    bridge_maybe_freed(b);
}

/* Terraform reset the stream or the connection went away. */
static void on_call_gone(grpc_call *call, void *arg) {
    (void)call;
    bridge_op *op = arg;
    op->call = NULL;
    if (op->at_child && !op->b->child_gone)
        rpc_client_cancel(op->b->child, op->rpc_id);
    op_free_if_done(op);
}

/* Packs `resp` and answers the call. */
static void reply_message(grpc_call *call, const ProtobufCMessage *resp, arena *a) {
    if (!resp || arena_failed(a)) {
        grpc_call_fail(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    size_t len = protobuf_c_message_get_packed_size(resp);
    uint8_t *buf = arena_alloc(a, len);
    if (!buf) {
        grpc_call_fail(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    protobuf_c_message_pack(resp, buf);
    grpc_call_reply(call, buf, len);
}

/* ------------------------------------------------------------------ */
/* Values                                                              */
/* ------------------------------------------------------------------ */

/* A DynamicValue from Terraform as a new JSON value (null when absent), or
 * NULL after adding an error diagnostic about `what`. */
static json_t *dv_decode(const Tfplugin6__DynamicValue *dv, const json_t *type, const char *what,
                         arena *a, tfdiags *d) {
    if (!dv || (dv->msgpack.len == 0 && dv->json.len == 0))
        return json_null();
    json_t *out = NULL;
    char err[MSGVAL_ERR_MAX];
    if (dv->msgpack.len > 0) {
        if (msgval_decode(dv->msgpack.data, dv->msgpack.len, type, &out, err) == 0)
            return out;
    } else {
        json_error_t jerr;
        out = json_loadb((const char *)dv->json.data, dv->json.len, JSON_DECODE_ANY, &jerr);
        if (out)
            return out;
        snprintf(err, sizeof(err), "%s", jerr.text);
    }
    char summary[128];
    snprintf(summary, sizeof(summary), "Invalid %s from Terraform", what);
    tfdiags_add(a, d, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR, summary, err);
    return NULL;
}

/* The JSON value `value` (borrowed; NULL counts as null) as a msgpack
 * DynamicValue in the arena, or NULL after adding an error diagnostic. */
static Tfplugin6__DynamicValue *dv_encode(arena *a, const json_t *value, const json_t *type,
                                          const char *what, tfdiags *d) {
    Tfplugin6__DynamicValue *dv = pb_new(a, &tfplugin6__dynamic_value__descriptor);
    if (!dv)
        return NULL;
    char *bytes = NULL;
    size_t len = 0;
    char err[MSGVAL_ERR_MAX];
    if (msgval_encode(value ? value : json_null(), type, &bytes, &len, err) != 0) {
        char detail[MSGVAL_ERR_MAX + 160];
        snprintf(detail, sizeof(detail),
                 "The provider's %s does not fit the schema it announced: %s. This is a bug "
                 "in the provider.",
                 what, err);
        tfdiags_add(a, d, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR,
                    "Provider returned an invalid value", detail);
        return NULL;
    }
    dv->msgpack.data = arena_memdup(a, bytes, len);
    dv->msgpack.len = len;
    free(bytes);
    return dv->msgpack.data || len == 0 ? dv : NULL;
}

/* Private data travels to the child as a JSON string. It is opaque bytes to
 * Terraform, but only ever made by the provider, which makes strings; bytes
 * that are not a valid string are left out (with a warning in the log). */
static void private_to_params(json_t *params, const char *key, ProtobufCBinaryData priv) {
    if (priv.len == 0)
        return;
    json_t *s = json_stringn((const char *)priv.data, priv.len);
    if (!s) {
        log_warn(MODULE, "%s is not valid UTF-8; not passed to the provider", key);
        return;
    }
    json_object_set_new(params, key, s);
}

/* The private bytes for an answer: the child's string when it gave one,
 * else what Terraform sent (so that a provider which does not use private
 * data never loses anyone's). */
static ProtobufCBinaryData private_answer(arena *a, const json_t *result, const char *key,
                                          ProtobufCBinaryData echo) {
    const json_t *s = json_object_get(result, key);
    if (json_is_string(s)) {
        ProtobufCBinaryData out = {json_string_length(s), NULL};
        out.data = arena_memdup(a, json_string_value(s), out.len);
        return out;
    }
    return echo;
}

/* Finds the op's resource (or data source) type; adds an error diagnostic
 * naming what the provider has when there is none. */
static bool resolve(bridge_op *op, const char *tf_name, bool data_source, arena *a, tfdiags *d) {
    const tfschema *s = &op->b->schema;
    op->t = data_source ? tfschema_data_source(s, tf_name) : tfschema_resource(s, tf_name);
    if (op->t)
        return true;
    const tfschema_type *all = data_source ? s->data_sources : s->resources;
    size_t n = data_source ? s->n_data_sources : s->n_resources;
    char have[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < n && used < sizeof(have); i++)
        used += (size_t)snprintf(have + used, sizeof(have) - used, "%s%s", i ? ", " : "",
                                 all[i].tf_name);
    char detail[700];
    snprintf(detail, sizeof(detail), "This provider has no %s named \"%.100s\". It has: %s.",
             data_source ? "data source" : "resource type", tf_name ? tf_name : "",
             n ? have : "none");
    tfdiags_add(a, d, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR,
                data_source ? "Unknown data source" : "Unknown resource type", detail);
    return false;
}

/* The object type attribute paths of this op's diagnostics walk. */
static const json_t *op_type(const bridge_op *op) {
    if (op->t)
        return op->t->type;
    return op->b->schema_ready ? op->b->schema.provider_type : NULL;
}

#define SET_DIAGS(r, d)                                                                            \
    do {                                                                                           \
        (r)->diagnostics = (d)->items;                                                             \
        (r)->n_diagnostics = (d)->n;                                                               \
    } while (0)

/* ------------------------------------------------------------------ */
/* The methods                                                         */
/* ------------------------------------------------------------------ */

/* Every diagnostics-only answer has the same layout after its header. */
typedef struct diags_only {
    ProtobufCMessage base;
    size_t n_diagnostics;
    Tfplugin6__Diagnostic **diagnostics;
} diags_only;

static ProtobufCMessage *answer_diags_only(arena *a, const ProtobufCMessageDescriptor *desc,
                                           tfdiags *d) {
    diags_only *r = pb_new(a, desc);
    if (!r)
        return NULL;
    SET_DIAGS(r, d);
    return &r->base;
}

/* Registers the values of the provider's sensitive attributes (api_token,
 * api_key) as secrets, so that no log line of ours can ever show them, even
 * one added later that logs values. A value that cannot be registered (the
 * registry is full: a client sending a new credential with every call) is
 * refused with an error diagnostic rather than passed on unmasked. Returns
 * 0, or -1 with the diagnostic added. */
static int register_secrets(const bridge *b, const json_t *config, arena *a, tfdiags *d) {
    const json_t *attrs = json_object_get(
        json_object_get(json_object_get(b->schema.raw, "provider"), "block"), "attributes");
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)config, name, v) {
        if (json_is_string(v) &&
            json_is_true(json_object_get(json_object_get(attrs, name), "sensitive")) &&
            log_add_secret(json_string_value(v)) != 0) {
            tfdiags_add(a, d, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR,
                        "Too many distinct credentials",
                        "This provider process has seen more distinct sensitive values than it "
                        "can keep out of its logs; the configuration is refused. Start a new "
                        "provider process.");
            return -1;
        }
    }
    return 0;
}

/* ValidateProviderConfig, ConfigureProvider */

static json_t *params_provider_config(bridge_op *op, arena *a, tfdiags *d) {
    const Tfplugin6__DynamicValue *config =
        op->req->descriptor == &tfplugin6__configure_provider__request__descriptor
            ? ((Tfplugin6__ConfigureProvider__Request *)op->req)->config
            : ((Tfplugin6__ValidateProviderConfig__Request *)op->req)->config;
    json_t *value = dv_decode(config, op->b->schema.provider_type, "provider configuration", a, d);
    if (!value)
        return NULL;
    if (register_secrets(op->b, value, a, d) != 0) {
        json_decref(value);
        return NULL;
    }
    return json_pack("{s:o}", "config", value);
}

/* ValidateResourceConfig, ValidateDataResourceConfig, ReadDataSource: their
 * requests start alike (type_name 1, config 2), so one view reads them. */
typedef struct typed_config_request {
    ProtobufCMessage base;
    char *type_name;
    Tfplugin6__DynamicValue *config;
} typed_config_request;

static json_t *params_typed_config(bridge_op *op, arena *a, tfdiags *d) {
    typed_config_request *r = (void *)op->req;
    if (!resolve(op, r->type_name, op->m->data_source, a, d))
        return NULL;
    json_t *config = dv_decode(r->config, op->t->type, "configuration", a, d);
    return config ? json_pack("{s:s,s:o}", "type_name", op->t->rpc_name, "config", config) : NULL;
}

/* UpgradeResourceState: the state file's JSON, parsed. */

static json_t *params_upgrade(bridge_op *op, arena *a, tfdiags *d) {
    Tfplugin6__UpgradeResourceState__Request *r = (void *)op->req;
    if (!resolve(op, r->type_name, false, a, d))
        return NULL;
    if (!r->raw_state || r->raw_state->json.len == 0) {
        tfdiags_add(a, d, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR, "Unsupported state format",
                    r->raw_state && r->raw_state->n_flatmap
                        ? "This resource's state was written by Terraform 0.11 or earlier "
                          "(flatmap). Upgrade it with an older provider first."
                        : "Terraform sent no state to upgrade.");
        return NULL;
    }
    json_error_t jerr;
    json_t *raw = json_loadb((const char *)r->raw_state->json.data, r->raw_state->json.len,
                             JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(raw)) {
        json_decref(raw);
        char detail[256];
        snprintf(detail, sizeof(detail), "The stored state is not a JSON object: %s", jerr.text);
        tfdiags_add(a, d, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR, "Invalid stored state", detail);
        return NULL;
    }
    return json_pack("{s:s,s:I,s:o}", "type_name", op->t->rpc_name, "version",
                     (json_int_t)r->version, "raw_state", raw);
}

static ProtobufCMessage *answer_upgrade(bridge_op *op, const json_t *result, arena *a, tfdiags *d) {
    Tfplugin6__UpgradeResourceState__Response *r =
        pb_new(a, &tfplugin6__upgrade_resource_state__response__descriptor);
    if (!r)
        return NULL;
    if (result && op->t)
        r->upgraded_state = dv_encode(a, json_object_get(result, "upgraded_state"), op->t->type,
                                      "upgraded state", d);
    SET_DIAGS(r, d);
    return &r->base;
}

/* ReadResource */

static json_t *params_read(bridge_op *op, arena *a, tfdiags *d) {
    Tfplugin6__ReadResource__Request *r = (void *)op->req;
    if (!resolve(op, r->type_name, false, a, d))
        return NULL;
    json_t *current = dv_decode(r->current_state, op->t->type, "current state", a, d);
    if (!current)
        return NULL;
    json_t *params = json_pack("{s:s,s:o}", "type_name", op->t->rpc_name, "current_state", current);
    if (params)
        private_to_params(params, "private", r->private_);
    return params;
}

static ProtobufCMessage *answer_read(bridge_op *op, const json_t *result, arena *a, tfdiags *d) {
    Tfplugin6__ReadResource__Request *req = (void *)op->req;
    Tfplugin6__ReadResource__Response *r =
        pb_new(a, &tfplugin6__read_resource__response__descriptor);
    if (!r)
        return NULL;
    if (result && op->t)
        r->new_state =
            dv_encode(a, json_object_get(result, "new_state"), op->t->type, "new state", d);
    if (!r->new_state)
        r->new_state = req->current_state; /* failed: Terraform keeps what it had */
    r->private_ = private_answer(a, result, "private", req->private_);
    SET_DIAGS(r, d);
    return &r->base;
}

/* PlanResourceChange */

/* The params of a plan or an apply: type_name and three values decoded
 * from Terraform's (keys[i] named after the contract, whats[i] for error
 * messages), and the private data under `private_key`. NULL after an error
 * diagnostic. */
static json_t *params_state_values(bridge_op *op, const Tfplugin6__DynamicValue *const dv[3],
                                   const char *const keys[3], const char *const whats[3],
                                   const char *private_key, ProtobufCBinaryData priv, arena *a,
                                   tfdiags *d) {
    json_t *params = json_pack("{s:s}", "type_name", op->t->rpc_name);
    for (int i = 0; params && i < 3; i++) {
        json_t *value = dv_decode(dv[i], op->t->type, whats[i], a, d);
        if (!value || json_object_set_new(params, keys[i], value) != 0) {
            json_decref(params);
            return NULL;
        }
    }
    if (params)
        private_to_params(params, private_key, priv);
    return params;
}

static json_t *params_plan(bridge_op *op, arena *a, tfdiags *d) {
    Tfplugin6__PlanResourceChange__Request *r = (void *)op->req;
    if (!resolve(op, r->type_name, false, a, d))
        return NULL;
    const Tfplugin6__DynamicValue *const dv[3] = {r->prior_state, r->proposed_new_state, r->config};
    static const char *const keys[3] = {"prior_state", "proposed_new_state", "config"};
    static const char *const whats[3] = {"prior state", "proposed state", "configuration"};
    return params_state_values(op, dv, keys, whats, "prior_private", r->prior_private, a, d);
}

static ProtobufCMessage *answer_plan(bridge_op *op, const json_t *result, arena *a, tfdiags *d) {
    Tfplugin6__PlanResourceChange__Request *req = (void *)op->req;
    Tfplugin6__PlanResourceChange__Response *r =
        pb_new(a, &tfplugin6__plan_resource_change__response__descriptor);
    if (!r)
        return NULL;
    if (result && op->t) {
        r->planned_state =
            dv_encode(a, json_object_get(result, "planned_state"), op->t->type, "planned state", d);
        const json_t *paths = json_object_get(result, "requires_replace");
        size_t n = json_array_size(paths);
        r->requires_replace = arena_alloc(a, (n ? n : 1) * sizeof(*r->requires_replace));
        for (size_t i = 0; r->requires_replace && i < n; i++) {
            Tfplugin6__AttributePath *p =
                tfpath_from_json(a, json_array_get(paths, i), op->t->type);
            if (p)
                r->requires_replace[r->n_requires_replace++] = p;
        }
    }
    r->planned_private = private_answer(a, result, "planned_private", req->prior_private);
    SET_DIAGS(r, d);
    return &r->base;
}

/* ApplyResourceChange */

static json_t *params_apply(bridge_op *op, arena *a, tfdiags *d) {
    Tfplugin6__ApplyResourceChange__Request *r = (void *)op->req;
    if (!resolve(op, r->type_name, false, a, d))
        return NULL;
    const Tfplugin6__DynamicValue *const dv[3] = {r->prior_state, r->planned_state, r->config};
    static const char *const keys[3] = {"prior_state", "planned_state", "config"};
    static const char *const whats[3] = {"prior state", "planned state", "configuration"};
    return params_state_values(op, dv, keys, whats, "planned_private", r->planned_private, a, d);
}

static ProtobufCMessage *answer_apply(bridge_op *op, const json_t *result, arena *a, tfdiags *d) {
    Tfplugin6__ApplyResourceChange__Request *req = (void *)op->req;
    Tfplugin6__ApplyResourceChange__Response *r =
        pb_new(a, &tfplugin6__apply_resource_change__response__descriptor);
    if (!r)
        return NULL;
    if (result && op->t)
        r->new_state =
            dv_encode(a, json_object_get(result, "new_state"), op->t->type, "new state", d);
    if (!r->new_state)
        r->new_state = req->prior_state; /* failed: what existed still does, as far as we know */
    r->private_ = private_answer(a, result, "private", req->planned_private);
    SET_DIAGS(r, d);
    return &r->base;
}

/* ImportResourceState. protobuf-c does not check that a string field is
 * UTF-8, and JSON cannot carry one that is not: such an id is refused here
 * with its own diagnostic (found by fuzz_tfproto; it used to end as "Out of
 * memory while translating the request"). */

static json_t *params_import(bridge_op *op, arena *a, tfdiags *d) {
    Tfplugin6__ImportResourceState__Request *r = (void *)op->req;
    if (!resolve(op, r->type_name, false, a, d))
        return NULL;
    json_t *id = json_string(r->id ? r->id : "");
    if (!id) {
        tfdiags_add(a, d, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR, "Invalid import id",
                    "The import id is not valid UTF-8 text.");
        return NULL;
    }
    return json_pack("{s:s,s:o}", "type_name", op->t->rpc_name, "id", id);
}

static ProtobufCMessage *answer_import(bridge_op *op, const json_t *result, arena *a, tfdiags *d) {
    Tfplugin6__ImportResourceState__Response *r =
        pb_new(a, &tfplugin6__import_resource_state__response__descriptor);
    if (!r)
        return NULL;
    const json_t *list = json_object_get(result, "imported_resources");
    size_t n = json_array_size(list);
    r->imported_resources = arena_alloc(a, (n ? n : 1) * sizeof(*r->imported_resources));
    for (size_t i = 0; r->imported_resources && i < n; i++) {
        const json_t *item = json_array_get(list, i);
        const char *rpc_name = json_string_value(json_object_get(item, "type_name"));
        const tfschema_type *t = op->t;
        for (size_t k = 0; rpc_name && k < op->b->schema.n_resources; k++) {
            if (strcmp(op->b->schema.resources[k].rpc_name, rpc_name) == 0)
                t = &op->b->schema.resources[k];
        }
        Tfplugin6__ImportResourceState__ImportedResource *ir =
            pb_new(a, &tfplugin6__import_resource_state__imported_resource__descriptor);
        if (!ir || !t)
            continue;
        ir->type_name = t->tf_name;
        ir->state = dv_encode(a, json_object_get(item, "state"), t->type, "imported state", d);
        ProtobufCBinaryData none = {0, NULL};
        ir->private_ = private_answer(a, item, "private", none);
        if (ir->state)
            r->imported_resources[r->n_imported_resources++] = ir;
    }
    SET_DIAGS(r, d);
    return &r->base;
}

/* ReadDataSource */

static ProtobufCMessage *answer_read_data(bridge_op *op, const json_t *result, arena *a,
                                          tfdiags *d) {
    Tfplugin6__ReadDataSource__Response *r =
        pb_new(a, &tfplugin6__read_data_source__response__descriptor);
    if (!r)
        return NULL;
    if (result && op->t)
        r->state = dv_encode(a, json_object_get(result, "state"), op->t->type, "state", d);
    SET_DIAGS(r, d);
    return &r->base;
}

/* StopProvider: the child answers once what it was doing has stopped. */

static json_t *params_stop(bridge_op *op, arena *a, tfdiags *d) {
    (void)op;
    (void)a;
    (void)d;
    return json_object();
}

static ProtobufCMessage *answer_stop(bridge_op *op, const json_t *result, arena *a, tfdiags *d) {
    (void)op;
    Tfplugin6__StopProvider__Response *r =
        pb_new(a, &tfplugin6__stop_provider__response__descriptor);
    if (!r)
        return NULL;
    if (!result && d->n > 0)
        r->error =
            arena_strdup(a, d->items[0]->detail[0] ? d->items[0]->detail : d->items[0]->summary);
    return &r->base;
}

#define PROVIDER_PATH(m) "/tfplugin6.Provider/" m

static const method_spec methods[] = {
    {PROVIDER_PATH("ValidateProviderConfig"), "ValidateProviderConfig",
     &tfplugin6__validate_provider_config__request__descriptor, params_provider_config, NULL,
     &tfplugin6__validate_provider_config__response__descriptor, false},
    {PROVIDER_PATH("ConfigureProvider"), "ConfigureProvider",
     &tfplugin6__configure_provider__request__descriptor, params_provider_config, NULL,
     &tfplugin6__configure_provider__response__descriptor, false},
    {PROVIDER_PATH("ValidateResourceConfig"), "ValidateResourceConfig",
     &tfplugin6__validate_resource_config__request__descriptor, params_typed_config, NULL,
     &tfplugin6__validate_resource_config__response__descriptor, false},
    {PROVIDER_PATH("ValidateDataResourceConfig"), "ValidateDataResourceConfig",
     &tfplugin6__validate_data_resource_config__request__descriptor, params_typed_config, NULL,
     &tfplugin6__validate_data_resource_config__response__descriptor, true},
    {PROVIDER_PATH("UpgradeResourceState"), "UpgradeResourceState",
     &tfplugin6__upgrade_resource_state__request__descriptor, params_upgrade, answer_upgrade, NULL,
     false},
    {PROVIDER_PATH("ReadResource"), "ReadResource", &tfplugin6__read_resource__request__descriptor,
     params_read, answer_read, NULL, false},
    {PROVIDER_PATH("PlanResourceChange"), "PlanResourceChange",
     &tfplugin6__plan_resource_change__request__descriptor, params_plan, answer_plan, NULL, false},
    {PROVIDER_PATH("ApplyResourceChange"), "ApplyResourceChange",
     &tfplugin6__apply_resource_change__request__descriptor, params_apply, answer_apply, NULL,
     false},
    {PROVIDER_PATH("ImportResourceState"), "ImportResourceState",
     &tfplugin6__import_resource_state__request__descriptor, params_import, answer_import, NULL,
     false},
    {PROVIDER_PATH("ReadDataSource"), "ReadDataSource",
     &tfplugin6__read_data_source__request__descriptor, params_typed_config, answer_read_data, NULL,
     true},
    {PROVIDER_PATH("StopProvider"), "StopProvider", &tfplugin6__stop_provider__request__descriptor,
     params_stop, answer_stop, NULL, false},
};

/* ------------------------------------------------------------------ */
/* Running an op                                                       */
/* ------------------------------------------------------------------ */

/* The error diagnostic for a call the child did not answer with a result. */
static void add_rpc_error(arena *a, tfdiags *d, const bridge_op *op,
                          const rpc_client_error *error) {
    char detail[600];
    if (error->code == RPC_REQUEST_CANCELLED) {
        snprintf(detail, sizeof(detail), "The provider stopped %s before it did anything.",
                 op->m->rpc_method);
        tfdiags_add(a, d, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR, "Request cancelled", detail);
    } else if (error->code == RPC_CLIENT_CHILD_EXITED) {
        snprintf(detail, sizeof(detail),
                 "provider-cloudflare, which serves this call, is no longer running (%s). "
                 "Its last log lines are in Terraform's log (TF_LOG=debug).",
                 error->message ? error->message : "it exited");
        tfdiags_add(a, d, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR, "The provider process exited",
                    detail);
    } else {
        snprintf(detail, sizeof(detail), "%s answered %s with JSON-RPC error %d: %s",
                 "provider-cloudflare", op->m->rpc_method, error->code,
                 error->message ? error->message : "(no message)");
        tfdiags_add(a, d, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR, "Provider error", detail);
    }
}

/* Answers the op's call from the child's result or error (or from the
 * diagnostics already in `d` when both are NULL). */
static void op_answer(bridge_op *op, const json_t *result, const rpc_client_error *error, arena *a,
                      tfdiags *d) {
    if (!op->call)
        return;
    if (error)
        add_rpc_error(a, d, op, error);
    else if (result)
        tfdiags_add_json(a, d, json_object_get(result, "diagnostics"), op_type(op));
    ProtobufCMessage *resp = op->m->answer ? op->m->answer(op, error ? NULL : result, a, d)
                                           : answer_diags_only(a, op->m->diags_desc, d);
    grpc_call *call = op->call;
    op->call = NULL;
    grpc_call_on_cancel(call, NULL, NULL);
    reply_message(call, resp, a);
}

static void op_finish(bridge_op *op, const json_t *result, const rpc_client_error *error) {
    arena a = ARENA_INIT;
    tfdiags d = {0};
    op_answer(op, result, error, &a, &d);
    arena_free(&a);
    op_free_if_done(op);
}

static void on_child_answer(rpc_client *client, int64_t id, json_t *result,
                            const rpc_client_error *error, void *arg) {
    (void)client;
    (void)id;
    bridge_op *op = arg;
    op->at_child = false;
    op_unlink(op);
    if (op->call)
        log_debug(MODULE, "%s answered%s", op->m->rpc_method, error ? " with an error" : "");
    op_finish(op, result, error);
}

/* Arms the deadline timer for the oldest op at the child. */
static void arm_deadline(bridge *b) {
    bridge_op *head = b->inflight.head;
    if (!head || b->closing) {
        uv_timer_stop(&b->deadline_timer);
        return;
    }
    uint64_t now = uv_now(b->loop);
    uv_timer_start(&b->deadline_timer, deadline_fired,
                   head->deadline > now ? head->deadline - now : 0, 0);
}

/* Ops whose deadline passed are answered with an error; the child gets a
 * $/cancelRequest and the op waits for its (late) answer to be freed. */
static void deadline_fired(uv_timer_t *t) {
    bridge *b = t->data;
    uint64_t now = uv_now(b->loop);
    while (b->inflight.head && b->inflight.head->deadline <= now) {
        bridge_op *op = b->inflight.head;
        op_unlink(op);
        log_error(MODULE, "%s: no answer from the provider after %.0f s", op->m->rpc_method,
                  (double)b->call_timeout_ms / 1000.0);
        if (op->call) /* a call Terraform reset was cancelled then */
            rpc_client_cancel(b->child, op->rpc_id);
        arena a = ARENA_INIT;
        tfdiags d = {0};
        char detail[300];
        snprintf(detail, sizeof(detail),
                 "provider-cloudflare did not answer %s within %.0f seconds. It was asked to "
                 "cancel the call. Set TFBRIDGE_CALL_TIMEOUT (seconds) to allow longer calls.",
                 op->m->rpc_method, (double)b->call_timeout_ms / 1000.0);
        tfdiags_add(&a, &d, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR, "The provider did not answer",
                    detail);
        op_answer(op, NULL, NULL, &a, &d);
        arena_free(&a);
    }
    arm_deadline(b);
}

/* Builds the params and sends the op to the child, or answers it at once
 * when the params cannot be built or the child is gone. */
static void op_send(bridge_op *op) {
    bridge *b = op->b;
    arena a = ARENA_INIT;
    tfdiags d = {0};
    json_t *params = op->m->params(op, &a, &d);
    if (!params) {
        if (d.n == 0)
            tfdiags_add(&a, &d, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR, "Bridge error",
                        "Out of memory while translating the request.");
        op_answer(op, NULL, NULL, &a, &d);
    } else if (b->child_gone) {
        json_decref(params);
        rpc_client_error e = {RPC_CLIENT_CHILD_EXITED, b->child_gone_why, NULL};
        op_answer(op, NULL, &e, &a, &d);
    } else {
        int rc = rpc_client_call_new(b->child, op->m->rpc_method, params, on_child_answer, op,
                                     &op->rpc_id);
        if (rc < 0) {
            rpc_client_error e = {RPC_CLIENT_CHILD_EXITED, uv_strerror(rc), NULL};
            op_answer(op, NULL, &e, &a, &d);
        } else {
            op->at_child = true;
            op->deadline = uv_now(b->loop) + b->call_timeout_ms;
            op_append(op, OP_INFLIGHT);
            if (b->inflight.head == op)
                arm_deadline(b);
        }
    }
    arena_free(&a);
    op_free_if_done(op);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static void reply_empty(grpc_call *call) {
    grpc_call_reply(call, NULL, 0);
}

static void answer_health(grpc_call *call, const uint8_t *msg, size_t len) {
    Plugin__HealthCheckRequest *req = plugin__health_check_request__unpack(NULL, len, msg);
    if (!req) {
        grpc_call_fail(call, GRPC_INVALID_ARGUMENT, "malformed HealthCheckRequest");
        return;
    }
    bool known = req->service[0] == '\0' || strcmp(req->service, "plugin") == 0;
    plugin__health_check_request__free_unpacked(req, NULL);
    if (!known) {
        grpc_call_fail(call, 5 /* NOT_FOUND */, "unknown service");
        return;
    }
    Plugin__HealthCheckResponse resp = PLUGIN__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = PLUGIN__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    uint8_t buf[16];
    size_t n = plugin__health_check_response__pack(&resp, buf);
    grpc_call_reply(call, buf, n);
}

/* GetProviderSchema and GetMetadata: the packed answers made at load. */
static void answer_schema(bridge *b, grpc_call *call, bool metadata) {
    if (b->schema_ready) {
        if (metadata)
            grpc_call_reply(call, b->schema.metadata_pb, b->schema.metadata_pb_len);
        else
            grpc_call_reply(call, b->schema.schema_pb, b->schema.schema_pb_len);
        return;
    }
    size_t len = 0;
    const char *summary = "Provider schema unavailable";
    uint8_t *bytes = metadata ? tfschema_error_metadata(summary, b->schema_error, &len)
                              : tfschema_error_answer(summary, b->schema_error, &len);
    if (bytes)
        grpc_call_reply(call, bytes, len);
    else
        grpc_call_fail(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    free(bytes);
}

/* Calls that only need the schema wait for it on the `waiting` list under
 * a bridge_op without a method; this marker tells them apart. */
static const method_spec schema_wait = {"", "", NULL, NULL, NULL, NULL, false};
static const method_spec metadata_wait = {"", "", NULL, NULL, NULL, NULL, false};

static void on_waiting_gone(grpc_call *call, void *arg) {
    (void)call;
    bridge_op *op = arg;
    op->call = NULL;
    op_free_if_done(op);
}

/* Runs (or answers) an op whose schema is now known. */
static void op_ready(bridge_op *op) {
    op_unlink(op);
    if (!op->call) {
        op_free_if_done(op);
        return;
    }
    if (op->m == &schema_wait || op->m == &metadata_wait) {
        grpc_call *call = op->call;
        op->call = NULL;
        grpc_call_on_cancel(call, NULL, NULL);
        answer_schema(op->b, call, op->m == &metadata_wait);
        op_free_if_done(op);
        return;
    }
    if (op->b->schema_failed && op->m->params != params_stop) {
        arena a = ARENA_INIT;
        tfdiags d = {0};
        tfdiags_add(&a, &d, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR, "Provider schema unavailable",
                    op->b->schema_error);
        op_answer(op, NULL, NULL, &a, &d);
        arena_free(&a);
        op_free_if_done(op);
        return;
    }
    grpc_call_on_cancel(op->call, on_call_gone, op);
    op_send(op);
}

static bridge_op *op_new(bridge *b, grpc_call *call, const method_spec *m) {
    bridge_op *op = calloc(1, sizeof(*op));
    if (!op) {
        grpc_call_fail(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    op->b = b;
    op->m = m;
    op->call = call;
    b->ops_alive++;
    return op;
}

/* Holds an op until the schema is in. */
static void op_wait_for_schema(bridge_op *op) {
    grpc_call_on_cancel(op->call, on_waiting_gone, op);
    op_append(op, OP_WAITING);
}

void bridge_dispatch(grpc_call *call, const char *path, const uint8_t *msg, size_t len, void *ctx) {
    bridge *b = ctx;
    log_trace(MODULE, "gRPC %s (%zu bytes)", path, len);
    if (strcmp(path, "/plugin.GRPCController/Shutdown") == 0) {
        reply_empty(call);
        if (!b->shutdown_requested) {
            b->shutdown_requested = true;
            log_debug(MODULE, "Shutdown requested by Terraform");
            if (b->on_shutdown)
                b->on_shutdown(b->arg);
        }
        return;
    }
    if (strcmp(path, "/plugin.GRPCBroker/StartStream") == 0 ||
        strcmp(path, "/plugin.GRPCStdio/StreamStdio") == 0)
        return; /* held open and silent: Terraform brokers nothing, our logs go to stderr */
    if (strcmp(path, "/grpc.health.v1.Health/Check") == 0) {
        answer_health(call, msg, len);
        return;
    }
    bool metadata = strcmp(path, PROVIDER_PATH("GetMetadata")) == 0;
    if (metadata || strcmp(path, PROVIDER_PATH("GetProviderSchema")) == 0) {
        if (b->schema_ready || b->schema_failed) {
            answer_schema(b, call, metadata);
        } else {
            bridge_op *op = op_new(b, call, metadata ? &metadata_wait : &schema_wait);
            if (op)
                op_wait_for_schema(op);
        }
        return;
    }
    const method_spec *m = NULL;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(path, methods[i].path) == 0)
            m = &methods[i];
    }
    if (!m) {
        log_debug(MODULE, "unimplemented gRPC method %s", path);
        grpc_call_fail(call, GRPC_UNIMPLEMENTED, "Method not found!");
        return;
    }
    ProtobufCMessage *req = protobuf_c_message_unpack(m->req_desc, NULL, len, msg);
    if (!req) {
        log_warn(MODULE, "%s: the request is not a valid %s message", path, m->req_desc->name);
        grpc_call_fail(call, GRPC_INVALID_ARGUMENT, "malformed protobuf message");
        return;
    }
    bridge_op *op = op_new(b, call, m);
    if (!op) {
        protobuf_c_message_free_unpacked(req, NULL);
        return;
    }
    op->req = req;
    /* StopProvider needs no schema: it must reach the child at once. */
    if (!b->schema_ready && !b->schema_failed && m->params != params_stop) {
        op_wait_for_schema(op);
        return;
    }
    op_ready(op); /* sent, or answered with why the schema is missing */
}

/* ------------------------------------------------------------------ */
/* The child                                                           */
/* ------------------------------------------------------------------ */

static void release_waiting(bridge *b) {
    while (b->waiting.head)
        op_ready(b->waiting.head);
}

/* The child did not give its schema in time: every waiting call, and every
 * call from now on, is answered with that (never a hang). Should the
 * schema come after all, later calls work again (on_schema). */
static void on_schema_timeout(uv_timer_t *t) {
    bridge *b = t->data;
    if (!b->schema_pending || b->schema_ready)
        return;
    snprintf(b->schema_error, sizeof(b->schema_error),
             "provider-cloudflare did not give its schema within %.0f s (TFBRIDGE_CALL_TIMEOUT)",
             (double)b->call_timeout_ms / 1000.0);
    b->schema_failed = true;
    log_error(MODULE, "%s", b->schema_error);
    rpc_client_cancel(b->child, b->schema_id);
    release_waiting(b);
}

static void on_schema(rpc_client *client, int64_t id, json_t *result, const rpc_client_error *error,
                      void *arg) {
    (void)client;
    (void)id;
    bridge *b = arg;
    b->ops_alive--;
    b->schema_pending = false;
    uv_timer_stop(&b->schema_timer);
    if (b->closing) {
        /* The waiting calls were already answered by bridge_close(). */
        bridge_maybe_freed(b);
        return;
    }
    bool was_late = b->schema_failed; /* its deadline passed: calls were told */
    b->schema_failed = false;
    if (error) {
        snprintf(b->schema_error, sizeof(b->schema_error),
                 "provider-cloudflare did not give its schema: %s (code %d)",
                 error->message ? error->message : "no message", error->code);
        b->schema_failed = true;
    } else if (tfschema_load(&b->schema, result, b->prefix, b->schema_error) != 0) {
        char why[TFSCHEMA_ERR_MAX];
        snprintf(why, sizeof(why), "%s", b->schema_error);
        snprintf(b->schema_error, sizeof(b->schema_error),
                 "provider-cloudflare announced a schema Terraform cannot use: %.190s", why);
        b->schema_failed = true;
    } else {
        b->schema_ready = true;
        log_debug(MODULE, "schema loaded%s: %zu resource types, %zu data sources",
                  was_late ? " (late; calls from now on work)" : "", b->schema.n_resources,
                  b->schema.n_data_sources);
    }
    if (b->schema_failed)
        log_error(MODULE, "%s", b->schema_error);
    release_waiting(b);
    bridge_maybe_freed(b);
}

/* One line of the child's stderr. The provider writes text lines
 * "[LEVEL] module: message" (JSON lines only with TF_LOG=JSON); they are
 * re-logged as our own hclog JSON lines with the child's level and module,
 * so Terraform files them under the right level instead of showing two
 * level prefixes. Anything else goes through as it is, one write a line. */
static void on_child_log(rpc_client *client, const char *line, size_t len, void *arg) {
    (void)client;
    (void)arg;
    static const char *const levels[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"};
    const char *close = len > 2 && line[0] == '[' ? memchr(line, ']', len < 8 ? len : 8) : NULL;
    const char *colon = close ? strstr(close, ": ") : NULL;
    for (int i = 0; colon && close[1] == ' ' && i < 5; i++) {
        size_t n = strlen(levels[i]);
        if ((size_t)(close - line - 1) != n || strncmp(line + 1, levels[i], n) != 0)
            continue;
        const char *module = close + 2;
        if (memchr(module, ' ', (size_t)(colon - module)))
            break; /* not a module name: pass the line through */
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)(colon - module), module);
        log_write((log_level)i, name, "%s", colon + 2);
        return;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return;
    memcpy(copy, line, len);
    copy[len] = '\n';
    ssize_t ignored = write(STDERR_FILENO, copy, len + 1);
    (void)ignored;
    free(copy);
}

static void on_child_exit(rpc_client *client, int64_t status, int term_signal, void *arg) {
    (void)client;
    bridge *b = arg;
    b->child_gone = true;
    if (term_signal)
        snprintf(b->child_gone_why, sizeof(b->child_gone_why), "killed by signal %d", term_signal);
    else
        snprintf(b->child_gone_why, sizeof(b->child_gone_why), "exited with status %lld",
                 (long long)status);
    if (b->closing)
        log_debug(MODULE, "provider %s", b->child_gone_why);
    else
        log_error(MODULE, "provider-cloudflare %s while Terraform was still using it",
                  b->child_gone_why);
    uv_timer_stop(&b->kill_timer);
    bridge_maybe_freed(b);
}

int bridge_new(uv_loop_t *loop, const bridge_options *opts, bridge **out) {
    bridge *b = calloc(1, sizeof(*b));
    if (!b)
        return UV_ENOMEM;
    b->loop = loop;
    b->prefix = strdup(opts->type_prefix ? opts->type_prefix : "");
    double timeout = opts->call_timeout > 0 ? opts->call_timeout : BRIDGE_DEFAULT_CALL_TIMEOUT;
    b->call_timeout_ms = (uint64_t)(timeout * 1000.0);
    b->on_shutdown = opts->on_shutdown;
    b->arg = opts->arg;
    if (!b->prefix) {
        free(b);
        return UV_ENOMEM;
    }
    rpc_client_options co = {
        .argv = opts->child_argv,
        .new_session =
            true, /* Ctrl-C reaches Terraform (which calls StopProvider), not the child */
        .on_exit = on_child_exit,
        .on_stderr_line = on_child_log,
        .arg = b,
    };
    int rc = rpc_client_spawn(loop, &co, &b->child);
    if (rc < 0) {
        free(b->prefix);
        free(b);
        return rc;
    }
    uv_timer_init(loop, &b->deadline_timer);
    uv_timer_init(loop, &b->kill_timer);
    uv_timer_init(loop, &b->schema_timer);
    b->deadline_timer.data = b->kill_timer.data = b->schema_timer.data = b;
    b->handles_open = 3;
    b->ops_alive++; /* the schema request */
    rc = rpc_client_call_new(b->child, "GetProviderSchema", json_object(), on_schema, b,
                             &b->schema_id);
    if (rc < 0) {
        b->ops_alive--;
        snprintf(b->schema_error, sizeof(b->schema_error), "could not ask for the schema: %s",
                 uv_strerror(rc));
        b->schema_failed = true;
    } else {
        b->schema_pending = true;
        uv_timer_start(&b->schema_timer, on_schema_timeout, b->call_timeout_ms, 0);
    }
    *out = b;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Closing                                                             */
/* ------------------------------------------------------------------ */

static void on_kill_timer(uv_timer_t *t) {
    bridge *b = t->data;
    if (!b->child_gone) {
        log_warn(MODULE, "provider-cloudflare did not exit in time; killing it");
        rpc_client_kill(b->child, SIGKILL);
    }
}

static void child_closed(void *arg) {
    bridge *b = arg;
    b->child = NULL;
    bridge_maybe_freed(b);
}

static void timer_closed(uv_handle_t *h) {
    bridge *b = h->data;
    b->handles_open--;
    bridge_maybe_freed(b);
}

/* Takes the next step towards freeing a closing bridge, as each becomes
 * possible: once the child has exited and every op is freed (the child's
 * exit answered whatever was pending), the rpc_client and the timers are
 * closed; once they are, the bridge is freed and its owner told. */
static void bridge_maybe_freed(bridge *b) {
    if (!b->closing || !b->child_gone || b->ops_alive > 0)
        return;
    if (b->child && !b->child_closing) {
        b->child_closing = true;
        rpc_client_close(b->child, child_closed, b);
    }
    if (!b->timers_closing) {
        b->timers_closing = true;
        uv_close((uv_handle_t *)&b->deadline_timer, timer_closed);
        uv_close((uv_handle_t *)&b->kill_timer, timer_closed);
        uv_close((uv_handle_t *)&b->schema_timer, timer_closed);
    }
    if (b->child || b->handles_open > 0)
        return;
    void (*cb)(void *) = b->on_closed;
    void *arg = b->closed_arg;
    if (b->schema_ready)
        tfschema_free(&b->schema);
    free(b->prefix);
    free(b);
    if (cb)
        cb(arg);
}

void bridge_close(bridge *b, unsigned grace_ms, void (*on_closed)(void *arg), void *arg) {
    if (b->closing)
        return;
    b->closing = true;
    b->on_closed = on_closed;
    b->closed_arg = arg;
    uv_timer_stop(&b->deadline_timer);
    uv_timer_stop(&b->schema_timer);
    /* Calls still waiting for the schema will not get one now. */
    if (!b->schema_ready && !b->schema_failed) {
        b->schema_failed = true;
        snprintf(b->schema_error, sizeof(b->schema_error), "the bridge is shutting down");
    }
    release_waiting(b);
    if (!b->child_gone) {
        rpc_client_close_input(b->child);
        uv_timer_start(&b->kill_timer, on_kill_timer, grace_ms, 0);
    }
    bridge_maybe_freed(b);
}
