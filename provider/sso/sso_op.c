/*
 * sso_op.c - the in-flight request object shared by the resource and data
 * source handlers (see sso_op.h).
 */
#include "sso_op.h"

#include "schema.h"

#include <stdlib.h>
#include <string.h>

static const char no_domain[] = "";

static void op_free(sso_op *op) {
    if (op->domain != no_domain)
        free((char *)op->domain);
    json_decref(op->prior);
    json_decref(op->planned);
    json_decref(op->config);
    json_decref(op->state);
    json_decref(op->diags);
    free(op);
}

/* The rpc layer's cancel callback: cancel the call in flight; its step
 * will see res->cancelled and answer. Every pending op has a call in
 * flight, because an op only ever waits on one. */
static void op_on_cancel(rpc_request *req, void *arg) {
    (void)req;
    sso_op *op = arg;
    op->cancelled = true;
    if (op->call)
        cfapi_call_cancel(op->call);
}

sso_op *sso_op_new(sso_host *host, rpc_request *req) {
    sso_op *op = calloc(1, sizeof(*op));
    json_t *diags = json_array();
    if (!op || !diags) {
        free(op);
        json_decref(diags);
        rpc_respond_error_new(req, RPC_INTERNAL_ERROR, "out of memory", NULL);
        return NULL;
    }
    op->host = host;
    op->req = req;
    op->diags = diags;
    op->domain = no_domain;
    rpc_request_on_cancel(req, op_on_cancel, op);
    return op;
}

/* Masks every registered secret (log.h) in the summary and detail of each
 * diagnostic. A diagnostic may quote what the API sent (an id, a
 * verification code, an error message), and an API or a proxy may echo
 * the token there: the last step before the answer leaves is where every
 * diagnostic passes, whoever wrote it. */
static void redact_diagnostics(json_t *diags) {
    size_t i;
    json_t *d;
    json_array_foreach(diags, i, d) {
        static const char *const fields[] = {"summary", "detail"};
        for (size_t k = 0; k < 2; k++) {
            const char *text = json_string_value(json_object_get(d, fields[k]));
            if (!text)
                continue;
            char *safe = log_redact(text);
            if (safe && strcmp(safe, text) != 0)
                json_object_set_new(d, fields[k], json_string(safe));
            else if (!safe)
                json_object_set_new(d, fields[k], json_string("(text withheld: out of memory)"));
            free(safe);
        }
    }
}

int sso_op_set_domain(sso_op *op, const char *domain) {
    char *copy = strdup(domain);
    if (!copy)
        return UV_ENOMEM;
    if (op->domain != no_domain)
        free((char *)op->domain);
    op->domain = copy;
    return 0;
}

void sso_op_respond_new(sso_op *op, json_t *result) {
    rpc_request_on_cancel(op->req, NULL, NULL);
    redact_diagnostics(op->diags);
    json_object_set(result, "diagnostics", op->diags);
    rpc_respond_new(op->req, result);
    op_free(op);
}

void sso_op_respond_cancelled(sso_op *op) {
    rpc_request_on_cancel(op->req, NULL, NULL);
    rpc_respond_error_new(op->req, RPC_REQUEST_CANCELLED, "request cancelled", NULL);
    op_free(op);
}

/* The one place a cfapi result becomes a diagnostic: cfapi renders the
 * words (secrets masked), this makes {severity, summary, detail} of them.
 * With `summary`, the client's own summary becomes the first line of the
 * detail, so no information is lost. */
void sso_op_add_api_error(sso_op *op, const cfapi_result *res, const char *summary) {
    char *api_summary = NULL, *api_detail = NULL;
    if (!res || cfapi_result_render(res, &api_summary, &api_detail) != 0) {
        api_summary = strdup("Cloudflare API call failed");
        api_detail = NULL;
    }
    char *detail = NULL;
    if (summary) {
        if (asprintf(&detail, "%s%s%s", api_summary ? api_summary : "", api_detail ? ": " : "",
                     api_detail ? api_detail : "") < 0)
            detail = NULL;
    }
    json_t *d = diag_new("error",
                         summary       ? summary
                         : api_summary ? api_summary
                                       : "",
                         summary ? detail : api_detail, NULL);
    json_array_append_new(op->diags, d);
    free(detail);
    free(api_summary);
    free(api_detail);
}

bool sso_step_settled(sso_op *op, const cfapi_result *res, const sso_step_ends *ends) {
    if (res->cancelled) {
        if (ends->cancelled)
            ends->cancelled(op, res);
        else
            sso_op_respond_cancelled(op);
        return true;
    }
    if (ends->not_found && sso_is_not_found(res)) {
        ends->not_found(op);
        return true;
    }
    if (!res->ok) {
        sso_op_add_api_error(op, res, ends->summary);
        sso_op_respond_new(op, ends->failed_result(op));
        return true;
    }
    return false;
}

/* Receives every cfapi result and hands it to the step the op waits in. */
static void op_call_done(const cfapi_result *res, void *arg) {
    sso_op *op = arg;
    sso_step next = op->next;
    op->call = NULL;
    op->next = NULL;
    next(op, res);
}

int sso_op_get(sso_op *op, sso_step next) {
    op->next = next;
    return cfapi_get(op->host->api, op->account_id, op->connector_id, op_call_done, op, &op->call);
}

int sso_op_list(sso_op *op, sso_step next) {
    op->next = next;
    return cfapi_list(op->host->api, op->account_id, op_call_done, op, &op->call);
}

int sso_op_create(sso_op *op, int begin_verification, int use_fedramp, sso_step next) {
    op->next = next;
    return cfapi_create(op->host->api, op->account_id, op->domain, begin_verification, use_fedramp,
                        op_call_done, op, &op->call);
}

int sso_op_update(sso_op *op, int enabled, int use_fedramp, sso_step next) {
    op->next = next;
    return cfapi_update(op->host->api, op->account_id, op->connector_id, enabled, use_fedramp,
                        op_call_done, op, &op->call);
}

int sso_op_delete(sso_op *op, sso_step next) {
    op->next = next;
    return cfapi_delete(op->host->api, op->account_id, op->connector_id, op_call_done, op,
                        &op->call);
}

int sso_op_begin_verification(sso_op *op, sso_step next) {
    op->next = next;
    return cfapi_begin_verification(op->host->api, op->account_id, op->connector_id, op_call_done,
                                    op, &op->call);
}

bool sso_is_not_found(const cfapi_result *res) {
    if (res->ok || res->cancelled || res->http_status != 404 || !json_is_array(res->errors))
        return false;
    size_t i;
    json_t *e;
    json_array_foreach(res->errors, i, e) {
        json_int_t code = json_integer_value(json_object_get(e, "code"));
        if (code == 7003 || code == 10000)
            return false;
    }
    return true;
}

bool sso_params_type_and_config(rpc_request *req, json_t *params, const char **type_name,
                                json_t **config) {
    *type_name = json_string_value(json_object_get(params, "type_name"));
    *config = json_object_get(params, "config");
    if (*type_name && json_is_object(*config))
        return true;
    rpc_respond_error_new(req, RPC_INVALID_PARAMS,
                          "params.type_name must be a string and params.config an object", NULL);
    return false;
}

bool sso_require_configured_new(const sso_host *host, rpc_request *req, json_t *extra) {
    if (host->configured) {
        json_decref(extra);
        return true;
    }
    json_t *result = extra ? extra : json_object();
    json_t *diags = json_array();
    diag_error_new(diags, NULL, "Provider not configured",
                   "%s needs a configured provider: call ConfigureProvider first.",
                   rpc_request_method(req));
    json_object_set_new(result, "diagnostics", diags);
    rpc_respond_new(req, result);
    return false;
}
