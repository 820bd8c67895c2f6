/*
 * sso_resource.c - ReadResource, ApplyResourceChange and ImportResourceState
 * for sso_connector: each a chain of asynchronous Cloudflare calls.
 *
 * The rule that shapes Apply: once a mutating call has succeeded, the op
 * holds the connector as it now is (op->state), and every later failure
 * answers with that state plus an error diagnostic. A created connector is
 * never forgotten.
 */
#include "sso_op.h"

#include "schema.h"
#include "sso_plan.h"
#include "sso_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MOD "provider.sso_connector"

/* Copies the account and connector ids of a state into the op, refusing
 * anything that is not 32 hex characters. */
static bool take_state_ids(sso_op *op, const json_t *state, const char *what) {
    const char *account = json_string_value(value_attr(state, "account_id"));
    const char *id = json_string_value(value_attr(state, "id"));
    if (!cfapi_id_is_valid(account) || !cfapi_id_is_valid(id)) {
        diag_error_new(op->diags, path_attr(cfapi_id_is_valid(account) ? "id" : "account_id"),
                       "Invalid identifier in state",
                       "The %s holds an account_id or id that is not 32 hexadecimal characters; "
                       "no request was made. Re-import the connector.",
                       what);
        return false;
    }
    strcpy(op->account_id, account);
    strcpy(op->connector_id, id);
    return true;
}

/* Answers with a diagnostic when a call could not even be started. */
static void refuse_start(sso_op *op, int rc, json_t *result) {
    diag_error_new(op->diags, NULL, "Cloudflare API call refused",
                   "The request could not be built (%s); no request was made.", uv_strerror(rc));
    sso_op_respond_new(op, result);
}

/* True when the API object is the connector the op works on (or does not
 * say which it is). A different id is an error: taking it would re-point
 * the resource at someone else's connector. */
static bool api_is_our_connector(sso_op *op, const json_t *api) {
    const char *id = json_string_value(json_object_get(api, "id"));
    if (!id || !op->connector_id[0] || strcasecmp(id, op->connector_id) == 0)
        return true;
    /* Quoted only when it is an id: the text is the API's, not ours. */
    diag_error_new(op->diags, NULL, "Unexpected API answer",
                   "Cloudflare answered for connector %s while %s was asked for; the answer "
                   "was ignored.",
                   cfapi_id_is_valid(id) ? id : "(an invalid id)", op->connector_id);
    return false;
}

/* ------------------------------------------------------------------ */
/* ReadResource                                                        */
/* ------------------------------------------------------------------ */

static json_t *empty_read_result(void) {
    return json_pack("{s:n, s:[]}", "new_state", "drift");
}

/* A read whose connector is gone answers new_state null. */
static void read_gone(sso_op *op) {
    log_info(MOD, "connector %s no longer exists", op->connector_id);
    sso_op_respond_new(op, empty_read_result());
}

/* A read that failed keeps the current state. */
static json_t *read_kept(sso_op *op) {
    return json_pack("{s:O, s:[]}", "new_state", op->prior, "drift");
}

/* The GET of a read came back: the connector as it is now plus its drift,
 * null when it is gone, or the current state kept with the error. */
static void read_got(sso_op *op, const cfapi_result *res) {
    static const sso_step_ends ends = {.failed_result = read_kept, .not_found = read_gone};
    if (sso_step_settled(op, res, &ends))
        return;
    if (!api_is_our_connector(op, res->result)) {
        sso_op_respond_new(op, read_kept(op));
        return;
    }
    json_t *state = sso_state_from_api(op->account_id, res->result, op->prior);
    json_t *drift = sso_state_drift(op->prior, state);
    sso_op_respond_new(op, json_pack("{s:o, s:o}", "new_state", state, "drift", drift));
}

/* ReadResource: checks params and the ids in current_state, then one GET. */
static void handle_read(rpc_request *req, json_t *params, sso_host *host) {
    json_t *current = json_object_get(params, "current_state");
    if (!json_is_object(current)) {
        rpc_respond_error_new(req, RPC_INVALID_PARAMS, "params.current_state must be an object",
                              NULL);
        return;
    }
    if (!sso_require_configured_new(host, req, empty_read_result()))
        return;
    sso_op *op = sso_op_new(host, req);
    if (!op)
        return;
    /* Shared with the request, not copied: a read only compares it and
     * hands its values on. */
    op->prior = sso_complete_shared(&sso_connector_schema, current);
    if (!take_state_ids(op, op->prior, "current state")) {
        sso_op_respond_new(op, read_kept(op));
        return;
    }
    int rc = sso_op_get(op, read_got);
    if (rc < 0)
        refuse_start(op, rc, read_kept(op));
}

/* ------------------------------------------------------------------ */
/* ApplyResourceChange                                                 */
/* ------------------------------------------------------------------ */

static json_t *empty_apply_result(void) {
    return json_pack("{s:n}", "new_state");
}

static void apply_cancelled(sso_op *op, bool maybe_applied);

/* What an apply step answers after a failure: the state as far as it is
 * known (null when nothing exists). */
static json_t *apply_known_state(sso_op *op) {
    return json_pack("{s:o}", "new_state", op->state ? json_incref(op->state) : json_null());
}

/* A cancelled apply step: the state as far as it is known, with what may
 * have happened (apply_cancelled). */
static void apply_step_cancelled(sso_op *op, const cfapi_result *res) {
    apply_cancelled(op, res->maybe_applied);
}

/* Answers with the op's best-known state (null when nothing exists). When
 * the apply went through without an error, every value the plan knew must
 * have come back unchanged; a difference is reported, not hidden. */
static void apply_finish(sso_op *op) {
    if (op->state && op->planned && !diag_has_error(op->diags))
        sso_state_check_applied(op->planned, op->state, op->diags);
    json_t *state = op->state ? json_incref(op->state) : json_null();
    sso_op_respond_new(op, json_pack("{s:o}", "new_state", state));
}

/* A cancellation arrived. Nothing sent that could have changed the
 * connector: -32800. Otherwise the state as far as it is known, with an
 * error diagnostic saying what may have happened. */
static void apply_cancelled(sso_op *op, bool maybe_applied) {
    if (!op->changed_remote && !maybe_applied) {
        sso_op_respond_cancelled(op);
        return;
    }
    diag_error_new(
        op->diags, NULL, "Apply cancelled",
        op->changed_remote
            ? "The apply was cancelled after it had changed the connector; the new state "
              "records what was done. Run a refresh and plan again."
            : "The apply was cancelled after a change was sent; it may have been applied. "
              "Run a refresh and plan again.");
    apply_finish(op);
}

/* Replaces the op's state with the API object. What the answer leaves out
 * comes from the planned values where they are known (begin_verification,
 * the email_domain's spelling), else from the state as far as it is known
 * (the id and everything the create answered): a state is built from what
 * was created and what later answers add, never from the plan's unknowns,
 * so an answer without an id cannot make the connector forgotten; it is
 * only warned about. Returns false, leaving the state alone, when the
 * object is another connector. */
static bool apply_take_state(sso_op *op, const json_t *api) {
    if (!api_is_our_connector(op, api))
        return false;
    json_t *keep = op->state ? json_deep_copy(op->state) : json_object();
    const char *name;
    json_t *v;
    json_object_foreach(op->planned, name, v) {
        if (!value_is_null(v) && value_is_wholly_known(v))
            json_object_set(keep, name, v);
    }
    json_t *state = sso_state_from_api(op->account_id, api, keep);
    json_decref(keep);
    json_decref(op->state);
    op->state = state;
    if (!json_is_string(json_object_get(api, "id")))
        diag_warning_new(op->diags, NULL, "Incomplete API answer",
                         "Cloudflare answered without the connector's id; the state keeps the id "
                         "%s and takes only the values the answer carried.",
                         op->connector_id);
    return true;
}

static const char *or_text(const char *s, const char *fallback) {
    return s ? s : fallback;
}

static int bool_or_omit(const json_t *v) {
    return json_is_boolean(v) ? json_is_true(v) : -1;
}

/* The PATCH fields that bring op->state to the planned values: -1 where
 * the value is unknown, absent or already right. */
static void patch_fields(sso_op *op, int *enabled, int *fedramp) {
    json_t *pe = json_object_get(op->planned, "enabled");
    json_t *pf = json_object_get(op->planned, "use_fedramp_language");
    *enabled = value_equal(pe, value_attr(op->state, "enabled")) ? -1 : bool_or_omit(pe);
    *fedramp =
        value_equal(pf, value_attr(op->state, "use_fedramp_language")) ? -1 : bool_or_omit(pf);
}

/* begin_verification answers no object: this GET reads the connector back
 * so new_state shows the new verification status. */
static void apply_after_begin_read(sso_op *op, const cfapi_result *res) {
    static const sso_step_ends ends = {
        .failed_result = apply_known_state,
        .summary = "Verification was started, but reading the connector back failed",
        .cancelled = apply_step_cancelled,
    };
    if (sso_step_settled(op, res, &ends))
        return;
    apply_take_state(op, res->result);
    apply_finish(op);
}

/* begin_verification came back: read the connector back, or finish with
 * the state as far as it is known and the error. */
static void apply_after_begin(sso_op *op, const cfapi_result *res) {
    static const sso_step_ends ends = {
        .failed_result = apply_known_state,
        .summary = "Starting the connector's domain verification failed",
        .cancelled = apply_step_cancelled,
    };
    if (sso_step_settled(op, res, &ends))
        return;
    op->changed_remote = true;
    int rc = sso_op_get(op, apply_after_begin_read);
    if (rc < 0)
        refuse_start(op, rc, json_pack("{s:O}", "new_state", op->state));
}

/* The last step of an update: start verification when the plan asked for
 * it, else finish. */
static void apply_maybe_begin(sso_op *op) {
    if (op->cancelled) {
        apply_cancelled(op, false);
        return;
    }
    if (!sso_plan_begins_verification(op->prior, op->planned)) {
        /* Nothing else remote to do: the planned values that did not reach
         * the API (begin_verification) go into the state as planned. */
        json_object_set(op->state, "begin_verification",
                        json_object_get(op->planned, "begin_verification"));
        apply_finish(op);
        return;
    }
    int rc = sso_op_begin_verification(op, apply_after_begin);
    if (rc < 0)
        refuse_start(op, rc, json_pack("{s:O}", "new_state", op->state));
}

/* Enabling right after the create failed. The connector exists, and
 * new_state records it as Cloudflare reported it (enabled = false), so
 * Terraform keeps it, marked tainted. One error diagnostic says why
 * (Cloudflare's own error first) and what to do next: untaint rather than
 * apply, because applying a tainted connector replaces it and the new one
 * has a new verification code. */
static void add_enable_after_create_error(sso_op *op, const cfapi_result *res) {
    char *api_summary = NULL, *api_detail = NULL;
    cfapi_result_render(res, &api_summary, &api_detail);
    json_t *verification = value_attr(op->state, "verification");
    const char *status = json_string_value(value_attr(verification, "status"));
    const char *code = json_string_value(value_attr(verification, "code"));
    const char *domain = json_string_value(value_attr(op->state, "email_domain"));
    json_t *enabled = value_attr(op->state, "enabled");
    char *detail = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&detail, &len);
    if (!out) {
        free(api_summary);
        free(api_detail);
        sso_op_add_api_error(op, res, "The SSO connector was created, but enabling it failed");
        return;
    }
    fprintf(out, "Cloudflare refused to enable it: %s%s%s\n\n",
            api_summary ? api_summary : "Cloudflare API call failed", api_detail ? ": " : "",
            api_detail ? api_detail : "");
    free(api_summary);
    free(api_detail);
    fprintf(out,
            "The connector exists: the state records it as Cloudflare reports it (enabled = %s), "
            "and Terraform marks it tainted.",
            json_is_boolean(enabled) ? (json_is_true(enabled) ? "true" : "false") : "unknown");
    if (!status || strcmp(status, "verified") != 0) {
        fprintf(out,
                " Cloudflare enables a connector only once its email domain is verified "
                "(verification.status is %s%s%s). Next:\n"
                "1. Add a DNS TXT record to %s with the value ",
                status ? "\"" : "", status ? status : "unknown", status ? "\"" : "",
                domain ? domain : "the email domain");
        if (code)
            fprintf(out, "\"%s\".\n", code);
        else
            fprintf(out, "of verification.code (shown by a refresh).\n");
        fprintf(out,
                "2. Once verification.status is \"verified\" (a refresh shows it), run `terraform "
                "untaint <address>` (the resource's address, e.g. cloudflare_sso_connector.corp) "
                "and apply again: the connector is enabled in place.\n"
                "Or set enabled = false in the configuration until the domain is verified, and run "
                "`terraform untaint <address>` so the connector is kept as it is.\n");
    } else {
        fprintf(out, " Once the cause is fixed, run `terraform untaint <address>` (the resource's "
                     "address, e.g. cloudflare_sso_connector.corp) and apply again: the connector "
                     "is enabled in place.\n");
    }
    fprintf(out, "Do not apply while it is tainted: Terraform would replace the connector, and the "
                 "new one gets a new verification code.");
    fclose(out);
    diag_error_new(op->diags, path_attr("enabled"), "SSO connector created, but not enabled", "%s",
                   detail);
    free(detail);
}

/* The PATCH came back. After a create it was the last step; after an
 * update, verification may still have to be started. A refused enable
 * after a create says why (the domain is not verified) and what to do. */
static void apply_after_patch(sso_op *op, const cfapi_result *res) {
    if (res->cancelled) {
        apply_step_cancelled(op, res);
        return;
    }
    if (!res->ok && res->failure != CFAPI_FAIL_BAD_ANSWER && !op->prior &&
        json_is_true(json_object_get(op->planned, "enabled"))) {
        add_enable_after_create_error(op, res);
        apply_finish(op);
        return;
    }
    if (!res->ok) {
        sso_op_add_api_error(op, res,
                             op->prior ? "Updating the SSO connector failed"
                                       : "The SSO connector was created, but updating it failed");
        const char *status =
            json_string_value(value_attr(value_attr(op->state, "verification"), "status"));
        if (json_is_true(json_object_get(op->planned, "enabled")) && status &&
            strcmp(status, "verified") != 0)
            diag_error_new(
                op->diags, path_attr("enabled"), "The domain is not verified yet",
                "Cloudflare enables a connector only once its domain is verified "
                "(verification.status is \"%s\"). Add the DNS TXT record \"%s\" to %s, "
                "wait for verification.status to become \"verified\", then apply again.",
                status,
                or_text(
                    json_string_value(value_attr(value_attr(op->state, "verification"), "code")),
                    "(see verification.code)"),
                or_text(json_string_value(value_attr(op->state, "email_domain")), "the domain"));
        apply_finish(op);
        return;
    }
    op->changed_remote = true;
    if (!apply_take_state(op, res->result) || !op->prior) {
        apply_finish(op);
        return;
    }
    apply_maybe_begin(op);
}

static void apply_after_create(sso_op *op, const cfapi_result *res);

/* Sends the create: POST with the planned create-time fields
 * (begin_verification, use_fedramp_language when known). cfapi owns what
 * happens when its answer is lost (lookup, adopt or re-send, one budget). */
static void apply_send_create(sso_op *op) {
    int rc = sso_op_create(op, bool_or_omit(json_object_get(op->planned, "begin_verification")),
                           bool_or_omit(json_object_get(op->planned, "use_fedramp_language")),
                           apply_after_create);
    if (rc < 0)
        refuse_start(op, rc, empty_apply_result());
}

/* After a create: PATCH what the create could not set (enabled), then
 * finish. */
static void apply_after_created(sso_op *op, const json_t *api) {
    const char *id = json_string_value(json_object_get(api, "id"));
    if (!cfapi_id_is_valid(id)) {
        /* cfapi never calls a create a success without one. */
        diag_error_new(op->diags, NULL, "Unexpected API answer",
                       "Cloudflare answered the create without a valid connector id. If an SSO "
                       "connector for %s exists in account %s, import it with the id %s/%s.",
                       op->domain, op->account_id, op->account_id, op->domain);
        apply_finish(op);
        return;
    }
    op->changed_remote = true;
    strcpy(op->connector_id, id);
    /* The create's answer is the state. Of the plan it keeps what the
     * create sent or the API never returns (begin_verification,
     * use_fedramp_language, the domain's spelling), but not enabled: the
     * create cannot enable a connector, so enabled is what Cloudflare
     * says, false when it says nothing; the PATCH below sets it. */
    json_t *keep = json_copy(op->planned);
    json_object_set_new(keep, "enabled", json_null());
    json_decref(op->state);
    op->state = sso_state_from_api(op->account_id, api, keep);
    json_decref(keep);
    if (!json_is_boolean(json_object_get(op->state, "enabled")))
        json_object_set_new(op->state, "enabled", json_false());
    int enabled, fedramp;
    patch_fields(op, &enabled, &fedramp);
    if (enabled < 0 && fedramp < 0) {
        /* The create did all the plan asked for. A cancellation that came
         * meanwhile (Ctrl-C in Terraform) stopped nothing: the apply
         * succeeded, and saying otherwise would taint a good connector. */
        apply_finish(op);
        return;
    }
    if (op->cancelled) {
        apply_cancelled(op, false);
        return;
    }
    int rc = sso_op_update(op, enabled, fedramp, apply_after_patch);
    if (rc < 0)
        refuse_start(op, rc, json_pack("{s:O}", "new_state", op->state));
}

/* The POST came back: cfapi has already settled a lost answer (found and
 * adopted, or re-sent within the budget). Success goes on to the PATCH
 * step. A cancellation before anything could have been created answers
 * -32800; any other failure (a cancelled create that may have been
 * applied, an unknown outcome) is reported as cfapi renders it, with the
 * import id when the connector may exist. */
static void create_cancelled(sso_op *op, const cfapi_result *res) {
    if (!res->maybe_applied) {
        sso_op_respond_cancelled(op);
        return;
    }
    sso_op_add_api_error(op, res, NULL);
    apply_finish(op);
}

static void apply_after_create(sso_op *op, const cfapi_result *res) {
    static const sso_step_ends ends = {.failed_result = apply_known_state,
                                       .cancelled = create_cancelled};
    if (sso_step_settled(op, res, &ends))
        return;
    apply_after_created(op, res->result);
}

/* Create: checks the planned ids, then sends the create. */
static void apply_create(sso_op *op) {
    const char *account = json_string_value(value_attr(op->planned, "account_id"));
    const char *domain = json_string_value(value_attr(op->planned, "email_domain"));
    if (!cfapi_id_is_valid(account) || !cfapi_domain_is_valid(domain)) {
        bool bad_account = !cfapi_id_is_valid(account);
        diag_error_new(
            op->diags, path_attr(bad_account ? "account_id" : "email_domain"),
            "Invalid planned state", "%s must be known and valid to create a connector (%s).",
            bad_account ? "account_id" : "email_domain",
            bad_account ? "32 hexadecimal characters" : "a DNS name such as example.com");
        apply_finish(op);
        return;
    }
    strcpy(op->account_id, account);
    int rc = sso_op_set_domain(op, domain);
    if (rc < 0) {
        refuse_start(op, rc, empty_apply_result());
        return;
    }
    apply_send_create(op);
}

/* Update in place: refuses what needs a replacement, then PATCHes only
 * the fields that change and, when planned, starts verification. */
static void apply_update(sso_op *op) {
    if (!take_state_ids(op, op->prior, "prior state")) {
        op->state = json_incref(op->prior); /* not gone: only unreadable */
        apply_finish(op);
        return;
    }
    const char *planned_domain = json_string_value(value_attr(op->planned, "email_domain"));
    if (plan_attr_changed(op->prior, op->planned, "account_id") ||
        !cfapi_domain_equal(json_string_value(value_attr(op->prior, "email_domain")),
                            planned_domain)) {
        diag_error_new(op->diags,
                       path_attr(plan_attr_changed(op->prior, op->planned, "account_id")
                                     ? "account_id"
                                     : "email_domain"),
                       "Change requires replacement",
                       "account_id and email_domain cannot be updated in place; the orchestrator "
                       "must delete the connector and create a new one.");
        op->state = json_incref(op->prior);
        apply_finish(op);
        return;
    }
    json_t *planned_id = json_object_get(op->planned, "id");
    if (json_is_string(planned_id) &&
        strcmp(json_string_value(planned_id), op->connector_id) != 0) {
        diag_error_new(
            op->diags, path_attr("id"), "Invalid planned state",
            "The planned id differs from the connector's id; an update cannot change it.");
        op->state = json_incref(op->prior);
        apply_finish(op);
        return;
    }
    op->state = json_deep_copy(op->prior);
    int enabled, fedramp;
    patch_fields(op, &enabled, &fedramp);
    if (enabled < 0 && fedramp < 0) {
        apply_maybe_begin(op);
        return;
    }
    int rc = sso_op_update(op, enabled, fedramp, apply_after_patch);
    if (rc < 0)
        refuse_start(op, rc, json_pack("{s:O}", "new_state", op->state));
}

/* The DELETE came back: gone (or already gone) answers new_state null;
 * a failure keeps the prior state with the error. */
static void delete_cancelled(sso_op *op, const cfapi_result *res) {
    if (!res->maybe_applied) {
        sso_op_respond_cancelled(op);
        return;
    }
    diag_error_new(op->diags, NULL, "Delete cancelled",
                   "The delete was cancelled after it was sent; the connector may be gone. "
                   "Run a refresh.");
    op->state = json_incref(op->prior);
    apply_finish(op);
}

/* A failed delete keeps the prior state. */
static json_t *delete_kept(sso_op *op) {
    return json_pack("{s:O}", "new_state", op->prior);
}

static void apply_after_delete(sso_op *op, const cfapi_result *res) {
    static const sso_step_ends ends = {
        .failed_result = delete_kept, .not_found = apply_finish, .cancelled = delete_cancelled};
    if (sso_step_settled(op, res, &ends))
        return;
    apply_finish(op); /* op->state is NULL: gone */
}

/* Delete: one DELETE of the prior state's connector. */
static void apply_delete(sso_op *op) {
    if (!take_state_ids(op, op->prior, "prior state")) {
        op->state = json_incref(op->prior);
        apply_finish(op);
        return;
    }
    int rc = sso_op_delete(op, apply_after_delete);
    if (rc < 0)
        refuse_start(op, rc, json_pack("{s:O}", "new_state", op->prior));
}

/* An unknown planned begin_verification (the configuration was not known
 * when the plan was made, and the orchestrator did not plan again) is
 * resolved before anything is sent: the configuration's value when it is
 * known now, else the API's default (true) for a create, else the prior
 * value. The API never returns it, so the state records what was decided
 * here, and no unknown is left in new_state. */
static void resolve_begin_verification(sso_op *op, const json_t *config) {
    if (!value_is_unknown(json_object_get(op->planned, "begin_verification")))
        return;
    json_t *configured = value_attr(config, "begin_verification");
    json_t *prior = value_attr(op->prior, "begin_verification");
    json_t *v = json_is_boolean(configured) ? json_deep_copy(configured)
                : !op->prior                ? json_true()
                : json_is_boolean(prior)    ? json_deep_copy(prior)
                                            : json_null();
    json_object_set_new(op->planned, "begin_verification", v);
}

/* ApplyResourceChange: checks the shape of params, then dispatches to
 * create, update or delete by which of prior/planned are null. */
static void handle_apply(rpc_request *req, json_t *params, sso_host *host) {
    json_t *prior = json_object_get(params, "prior_state");
    json_t *planned = json_object_get(params, "planned_state");
    if ((!value_is_null(prior) && !json_is_object(prior)) ||
        (!value_is_null(planned) && !json_is_object(planned)) ||
        (value_is_null(prior) && value_is_null(planned))) {
        rpc_respond_error_new(req, RPC_INVALID_PARAMS,
                              "prior_state and planned_state must be objects or null, not "
                              "both null",
                              NULL);
        return;
    }
    if (!sso_require_configured_new(host, req, empty_apply_result()))
        return;
    sso_op *op = sso_op_new(host, req);
    if (!op)
        return;
    if (json_is_object(prior))
        op->prior = value_complete_object(&sso_connector_schema, prior);
    /* The configuration was validated when it was planned; what apply
     * relies on (the ids) is checked again where it is used. */
    if (json_is_object(planned)) {
        op->planned = value_complete_object(&sso_connector_schema, planned);
        resolve_begin_verification(op, json_object_get(params, "config"));
    }
    if (!op->planned)
        apply_delete(op);
    else if (!op->prior)
        apply_create(op);
    else
        apply_update(op);
}

/* ------------------------------------------------------------------ */
/* ImportResourceState                                                 */
/* ------------------------------------------------------------------ */

static json_t *empty_import_result(void) {
    return json_pack("{s:[]}", "imported_resources");
}

/* Answers an import with the connector's full state, as a read would. */
static void import_respond(sso_op *op, const json_t *api) {
    json_t *state = sso_state_from_api(op->account_id, api, NULL);
    sso_op_respond_new(op, json_pack("{s:[{s:s, s:o}]}", "imported_resources", "type_name",
                                     SSO_CONNECTOR_TYPE, "state", state));
}

/* Answers an import of something that does not exist. */
static void import_not_found(sso_op *op, const char *what) {
    diag_error_new(op->diags, NULL, "Cannot import non-existent remote object",
                   "No SSO connector %s was found in account %s.", what, op->account_id);
    sso_op_respond_new(op, empty_import_result());
}

static void import_id_not_found(sso_op *op) {
    import_not_found(op, "with that id");
}

static json_t *import_failed(sso_op *op) {
    (void)op;
    return empty_import_result();
}

/* Import by id: the GET came back. */
static void import_got(sso_op *op, const cfapi_result *res) {
    static const sso_step_ends ends = {.failed_result = import_failed,
                                       .not_found = import_id_not_found};
    if (sso_step_settled(op, res, &ends))
        return;
    import_respond(op, res->result);
}

/* Import by domain: the list came back; match the domain ignoring case. */
static void import_listed(sso_op *op, const cfapi_result *res) {
    static const sso_step_ends ends = {.failed_result = import_failed};
    if (sso_step_settled(op, res, &ends))
        return;
    json_t *found = cfapi_find_by_domain(res->result, op->domain);
    if (!found) {
        import_not_found(op, "for that email domain");
        return;
    }
    import_respond(op, found);
}

/* ImportResourceState: parses the import id strictly (nothing reaches a
 * request path unchecked), then reads by id or lists for a domain. */
static void handle_import(rpc_request *req, json_t *params, sso_host *host) {
    json_t *id = json_object_get(params, "id");
    if (!json_is_string(id)) {
        rpc_respond_error_new(req, RPC_INVALID_PARAMS, "params.id must be a string", NULL);
        return;
    }
    if (!sso_require_configured_new(host, req, empty_import_result()))
        return;
    sso_op *op = sso_op_new(host, req);
    if (!op)
        return;
    const char *why = NULL;
    char rest[SSO_DOMAIN_MAX + 1];
    sso_import_kind kind = sso_parse_import_id(json_string_value(id), op->account_id, rest, &why);
    int rc;
    if (kind == SSO_IMPORT_BY_ID) {
        strcpy(op->connector_id, rest);
        rc = sso_op_get(op, import_got);
    } else if (kind == SSO_IMPORT_BY_DOMAIN) {
        rc = sso_op_set_domain(op, rest);
        if (rc == 0)
            rc = sso_op_list(op, import_listed);
    } else {
        diag_error_new(op->diags, NULL, "Invalid import id", "%s No request was made.", why);
        sso_op_respond_new(op, empty_import_result());
        return;
    }
    if (rc < 0)
        refuse_start(op, rc, empty_import_result());
}

/* ------------------------------------------------------------------ */
/* The type's entry                                                    */
/* ------------------------------------------------------------------ */

/* PlanResourceChange for sso_connector (sso_plan.c does the work): the
 * answer's fields as a new object, or NULL when the plan failed. */
static json_t *plan_connector(const json_t *prior, const json_t *config, const json_t *proposed,
                              json_t *diags) {
    sso_plan plan;
    if (sso_plan_change(prior, config, proposed, diags, &plan) < 0)
        return NULL;
    json_t *result = json_pack("{s:O, s:O, s:s}", "planned_state",
                               plan.planned_state ? plan.planned_state : json_null(),
                               "requires_replace", plan.requires_replace, "action", plan.action);
    sso_plan_clear(&plan);
    return result;
}

const sso_resource_type sso_connector_resource = {
    .type_name = SSO_CONNECTOR_TYPE,
    .schema = &sso_connector_schema,
    .validate = sso_validate_connector_config,
    .plan = plan_connector,
    .upgrade = sso_state_upgrade,
    .read = handle_read,
    .apply = handle_apply,
    .import = handle_import,
    .list = sso_handle_list,
};
