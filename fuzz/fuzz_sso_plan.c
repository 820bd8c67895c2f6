/*
 * fuzz_sso_plan.c - the sso_connector resource's pure logic
 * (provider/sso/sso_plan.c) and the schema value checks under it, on
 * values as JSON-RPC requests and Cloudflare answers bring them.
 *
 * Input: one JSON object (anything else is ignored) with any of the members
 * "prior", "config", "proposed" (PlanResourceChange), "raw"
 * (UpgradeResourceState), "api" (a connector as the API returns it) and
 * "account_id". Each function is called only with what its callers in the
 * provider let through (the same shape checks as provider.c and
 * sso_resource.c), and the target aborts when a result breaks its promise:
 * a plan that succeeds has an action and a requires_replace array; a
 * complete state validates against the schema's types.
 */
#include "fuzz.h"
#include "schema.h"
#include "sso_plan.h"
#include "sso_schema.h"

#include <stdlib.h>
#include <string.h>

static bool null_or_object(const json_t *v) {
    return value_is_null(v) || json_is_object(v);
}

static void plan_checks(const json_t *in) {
    const json_t *prior = json_object_get(in, "prior");
    const json_t *config = json_object_get(in, "config");
    const json_t *proposed = json_object_get(in, "proposed");
    json_t *diags = json_array();

    if (json_is_object(config)) {
        sso_validate_connector_config(config, diags);
        sso_validate_data_config(SSO_CONNECTOR_TYPE, config, diags);
        sso_validate_data_config(SSO_CONNECTORS_TYPE, config, diags);
        value_check_config(&sso_connector_schema, config, diags);
        value_check_config(&sso_provider_schema, config, diags);
    }
    /* provider.c's handle_plan refuses anything else with -32602. */
    if (null_or_object(prior) && null_or_object(config) && null_or_object(proposed) &&
        !(value_is_null(prior) && value_is_null(config))) {
        sso_plan plan;
        if (sso_plan_change(value_is_null(prior) ? NULL : prior,
                            value_is_null(config) ? NULL : config,
                            value_is_null(proposed) ? NULL : proposed, diags, &plan) == 0) {
            if (!plan.action || !json_is_array(plan.requires_replace))
                abort();
            if (plan.planned_state && json_is_object(prior)) {
                (void)sso_plan_begins_verification(prior, plan.planned_state);
                json_decref(sso_state_drift(prior, plan.planned_state));
            }
            sso_plan_clear(&plan);
        } else if (!diag_has_error(diags)) {
            abort(); /* a failed plan says why */
        }
    }
    json_decref(diags);
}

static void state_checks(const json_t *in) {
    json_t *diags = json_array();
    const json_t *raw = json_object_get(in, "raw");
    if (raw) {
        json_t *state = sso_state_upgrade(raw, diags);
        if (state) {
            json_t *types = json_array();
            value_check_config(&sso_connector_schema, state, types);
            json_decref(types);
            json_decref(sso_state_drift(state, state));
            json_decref(state);
        } else if (!diag_has_error(diags)) {
            abort();
        }
    }
    const json_t *api = json_object_get(in, "api");
    const char *account = json_string_value(json_object_get(in, "account_id"));
    if (json_is_object(api)) {
        const json_t *keep = json_object_get(in, "prior");
        if (!json_is_object(keep))
            keep = NULL;
        json_t *state = sso_state_from_api(account ? account : "", api, keep);
        if (!json_is_object(state))
            abort();
        if (keep) {
            json_decref(sso_state_drift(keep, state));
            sso_state_check_applied(keep, state, diags);
        }
        json_decref(state);
        json_decref(sso_item_from_api(api));
    }
    json_decref(diags);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (json_is_object(in)) {
        plan_checks(in);
        state_checks(in);
    }
    json_decref(in);
    return 0;
}
