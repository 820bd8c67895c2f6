/*
 * sso_op.h - one in-flight provider request that needs the Cloudflare API.
 *
 * An sso_op owns what a handler needs across its asynchronous steps: the
 * rpc_request it must answer, copies of the values it works from, the
 * diagnostics gathered so far, the best-known remote state, and the one
 * cfapi call in flight. A handler chains steps: sso_op_call_* start a call
 * and name the step that receives its result. Cancellation (from
 * $/cancelRequest, StopProvider or a signal) cancels the call in flight;
 * the step then sees res->cancelled and finishes the op.
 *
 * Every op ends in exactly one of sso_op_respond_new() or
 * sso_op_respond_cancelled(), which answer the request and free the op.
 */
#ifndef SSO_OP_H
#define SSO_OP_H

#include "cfapi.h"
#include "protocol.h"
#include "sso.h"
#include "sso_ids.h"

#include <jansson.h>
#include <stdbool.h>

typedef struct sso_op sso_op;
typedef void (*sso_step)(sso_op *op, const cfapi_result *res);

struct sso_op {
    sso_host *host;
    rpc_request *req;
    const char *type_name; /* static string */
    char account_id[SSO_ID_LEN + 1];
    char connector_id[SSO_ID_LEN + 1];
    const char *domain; /* "" until sso_op_set_domain() (then owned by the op) */
    /* Owned references, NULL when absent; a read's prior shares its
     * values with the request (never changed in place). */
    json_t *prior;
    json_t *planned;
    json_t *config;
    json_t *state; /* best-known remote state; owned */
    json_t *diags; /* owned array */
    cfapi_call *call;
    sso_step next;
    bool cancelled;
    bool changed_remote; /* a mutating call has succeeded */
};

/* Creates an op for `req` and registers its cancel callback. NULL only on
 * allocation failure (the request is then answered -32603). */
sso_op *sso_op_new(sso_host *host, rpc_request *req);

/* Sets the email domain the op works on (copied; an op without one has
 * ""). Only the ops that need a domain (create, import and data source by
 * domain) pay for it. Returns 0 or UV_ENOMEM. */
int sso_op_set_domain(sso_op *op, const char *domain);

/* Answers the request with `result` (stolen) plus the op's diagnostics,
 * and frees the op. */
void sso_op_respond_new(sso_op *op, json_t *result);
/* Answers -32800 (cancelled before anything was changed) and frees. */
void sso_op_respond_cancelled(sso_op *op);

/* Appends the API failure's diagnostic (or a generic one) with `summary`
 * overriding the client's summary when not NULL. */
void sso_op_add_api_error(sso_op *op, const cfapi_result *res, const char *summary);

/* How a step ends when its call did not give it what it needs. */
typedef struct sso_step_ends {
    json_t *(*failed_result)(sso_op *op); /* the answer after a failure (new object) */
    const char *summary;                  /* NULL: the client's own summary */
    void (*not_found)(sso_op *op);        /* NULL: a 404 is a failure like any other */
    void (*cancelled)(sso_op *op, const cfapi_result *res); /* NULL: answer -32800 */
} sso_step_ends;

/* The prologue of every step, in one place: a cancelled call, a connector
 * that does not exist (sso_is_not_found) and a failed call are answered
 * as `ends` says (a failure: its diagnostic, then failed_result). Returns
 * true when it has answered (the op is gone), false when the call
 * succeeded and the step goes on with res->result. */
bool sso_step_settled(sso_op *op, const cfapi_result *res, const sso_step_ends *ends);

/* Start calls whose result goes to `next`. Return 0, or a negative error
 * (the call was refused before any request: no callback will come). */
int sso_op_get(sso_op *op, sso_step next);
int sso_op_list(sso_op *op, sso_step next);
int sso_op_create(sso_op *op, int begin_verification, int use_fedramp, sso_step next);
int sso_op_update(sso_op *op, int enabled, int use_fedramp, sso_step next);
int sso_op_delete(sso_op *op, sso_step next);
int sso_op_begin_verification(sso_op *op, sso_step next);

/* True when the API said the object does not exist: HTTP 404 with a
 * Cloudflare error envelope (a bare 404 from elsewhere is not proof), and
 * not a routing (7003) or authentication (10000) error, which say nothing
 * about the connector. */
bool sso_is_not_found(const cfapi_result *res);

/* Reads params.type_name (a string) and params.config (an object) into
 * the out-arguments (borrowed from params). When either is missing or of
 * the wrong shape it answers -32602 and returns false. */
bool sso_params_type_and_config(rpc_request *req, json_t *params, const char **type_name,
                                json_t **config);

/* ListResource of sso_connector (sso_data.c), for the resource's entry. */
void sso_handle_list(rpc_request *req, json_t *params, sso_host *host);

#endif /* SSO_OP_H */
