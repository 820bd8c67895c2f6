/*
 * sso_plan.h - the sso_connector resource's pure logic: configuration
 * checks, planning (prior + config -> planned state, action,
 * requires_replace), turning API objects into state, and drift.
 *
 * Nothing here does I/O, so every rule of the contract's section 6 is
 * tested as a table (tests/provider/test_sso_plan.c).
 */
#ifndef SSO_PLAN_H
#define SSO_PLAN_H

#include "schema.h"

#include <jansson.h>
#include <stdbool.h>

/* Checks a resource configuration: schema types and names, then
 * account_id (32 hex) and email_domain (a DNS name). Unknowns pass.
 * Appends diagnostics; returns the number of errors. */
int sso_validate_connector_config(const json_t *config, json_t *diags);

/* Checks a data source configuration for `type_name` ("sso_connector":
 * account_id and exactly one of id / email_domain; "sso_connectors":
 * account_id). Returns the number of errors appended. */
int sso_validate_data_config(const char *type_name, const json_t *config, json_t *diags);

typedef struct sso_plan {
    json_t *planned_state;    /* new reference; NULL for a delete */
    json_t *requires_replace; /* new array of attribute paths */
    const char *action;       /* "create", "update", "replace", "delete", "no-op" */
} sso_plan;

/* Plans a change. `prior` and `config` are objects or NULL/null (not both
 * null: the caller answers that with -32602). `proposed` may be NULL, in
 * which case it is derived as Terraform core does. Returns 0 with `out`
 * filled (and a warning appended when a create or replacement has enabled
 * = true), or -1 with error diagnostics appended and `out` empty. */
int sso_plan_change(const json_t *prior, const json_t *config, const json_t *proposed,
                    json_t *diags, sso_plan *out);
void sso_plan_clear(sso_plan *plan);

/* True when applying `planned` over `prior` must call begin_verification:
 * begin_verification turns true while the prior verification status is
 * awaiting or failed. */
bool sso_plan_begins_verification(const json_t *prior, const json_t *planned);

/* Builds a complete resource state from a connector object as the API
 * returns it. `account_id` is the account it was read from. From `keep`
 * (the prior state or the plan, may be NULL) it keeps begin_verification
 * when it is a known bool (null otherwise: the API never returns it), the
 * email_domain spelling when it equals the API's ignoring case, and the
 * known values of members the API leaves out. New reference. */
json_t *sso_state_from_api(const char *account_id, const json_t *api, const json_t *keep);

/* A complete object of `block` sharing its values with `obj` (may be
 * `obj` itself, with a new reference): every attribute of the block, null
 * where `obj` has none, nothing else. For reading only: values are shared,
 * so neither the result's nor `obj`'s may be changed in place. New
 * reference. */
json_t *sso_complete_shared(const schema_block *block, json_t *obj);

/* UpgradeResourceState for sso_connector (schema version 0, the only one
 * so far): the stored state `raw` as a complete state of the current
 * schema, nested verification included ({"code", "status"}, null where
 * missing), so that every object conforms. Attributes the schema does not
 * know are dropped with a warning; a wrong type or an unknown value (a
 * stored state cannot hold one) is an error. Returns a new reference, or
 * NULL with error diagnostics appended. */
json_t *sso_state_upgrade(const json_t *raw, json_t *diags);

/* Checks an apply's outcome against its plan: every value `planned` knows
 * must come back unchanged in `new_state` (email_domain ignoring case).
 * Appends one error diagnostic per attribute that differs and returns
 * their number. */
int sso_state_check_applied(const json_t *planned, const json_t *new_state, json_t *diags);

/* The drift between two states: a new array of
 * {"attribute": [name], "before": v, "after": v} for every attribute whose
 * value differs (email_domain ignoring case). */
json_t *sso_state_drift(const json_t *before, const json_t *after);

/* A connector object for data sources (every data-source attribute but
 * account_id); new reference. */
json_t *sso_item_from_api(const json_t *api);

#endif /* SSO_PLAN_H */
