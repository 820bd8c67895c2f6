/*
 * sso_plan.c - planning, validation and state building for sso_connector
 * (see sso_plan.h).
 */
#include "sso_plan.h"

#include "schema.h"
#include "sso_ids.h"
#include "sso_schema.h"

#include <stdlib.h>
#include <string.h>

/* Checks account_id and email_domain values when they are known strings. */
static void check_ids(const json_t *config, bool domain_required, json_t *diags) {
    json_t *account = value_attr(config, "account_id");
    if (json_is_string(account) && !cfapi_id_is_valid(json_string_value(account)))
        diag_error_new(diags, path_attr("account_id"), "Invalid account_id",
                       "account_id must be exactly 32 hexadecimal characters.");
    json_t *domain = value_attr(config, "email_domain");
    (void)domain_required;
    if (json_is_string(domain) && !cfapi_domain_is_valid(json_string_value(domain)))
        diag_error_new(
            diags, path_attr("email_domain"), "Invalid email_domain",
            "email_domain must be a DNS domain name such as example.com (letters, digits "
            "and hyphens in dot-separated labels).");
}

int sso_validate_connector_config(const json_t *config, json_t *diags) {
    size_t before = json_array_size(diags);
    if (value_check_config(&sso_connector_schema, config, diags) == 0)
        check_ids(config, true, diags);
    return (int)(json_array_size(diags) - before);
}

int sso_validate_data_config(const char *type_name, const json_t *config, json_t *diags) {
    size_t before = json_array_size(diags);
    const schema_block *block = sso_data_source_schema(type_name);
    if (!block) {
        diag_error_new(diags, NULL, "Unknown data source type",
                       "This provider has no data source \"%s\"; it has \"" SSO_CONNECTOR_TYPE
                       "\" and \"" SSO_CONNECTORS_TYPE "\".",
                       type_name ? type_name : "");
        return 1;
    }
    if (value_check_config(block, config, diags) > 0)
        return (int)(json_array_size(diags) - before);
    check_ids(config, false, diags);
    if (block == &sso_connector_data_schema) {
        json_t *id = json_object_get(config, "id");
        json_t *domain = json_object_get(config, "email_domain");
        if (json_is_string(id) && !cfapi_id_is_valid(json_string_value(id)))
            diag_error_new(diags, path_attr("id"), "Invalid id",
                           "id must be exactly 32 hexadecimal characters.");
        if (!value_is_null(id) && !value_is_null(domain))
            diag_error_new(diags, path_attr("email_domain"), "Conflicting arguments",
                           "Give either id or email_domain, not both.");
        else if (value_is_null(id) && value_is_null(domain))
            diag_error_new(diags, path_attr("id"), "Missing argument",
                           "Give either id or email_domain to select the connector.");
    }
    return (int)(json_array_size(diags) - before);
}

static bool is_true(const json_t *v) {
    return json_is_true(v);
}

bool sso_plan_begins_verification(const json_t *prior, const json_t *planned) {
    if (!is_true(json_object_get(planned, "begin_verification")) ||
        is_true(value_attr(prior, "begin_verification")))
        return false;
    const char *status = json_string_value(value_attr(value_attr(prior, "verification"), "status"));
    return status && (strcmp(status, "awaiting") == 0 || strcmp(status, "failed") == 0);
}

/* Sets attribute `name` of `obj` to unknown. */
static void set_unknown(json_t *obj, const char *name) {
    json_object_set_new(obj, name, value_unknown());
}

/* Copies attribute `name` from `from` into `to` (null when absent). */
static void keep_attr(json_t *to, const json_t *from, const char *name) {
    json_t *v = value_attr(from, name);
    json_object_set_new(to, name, v ? json_deep_copy(v) : json_null());
}

/* The planned state of a new connector (create, or the create half of a
 * replacement): configured values, unknown where the API decides. Built
 * from the config, not the proposed state, so that a replacement does not
 * carry the old connector's computed values over. An omitted
 * begin_verification is planned as the API's default, true, which apply
 * sends explicitly, so the planned value is what happens. */
static json_t *plan_new_object(const json_t *config) {
    json_t *planned = value_complete_object(&sso_connector_schema, config);
    if (value_is_null(json_object_get(planned, "begin_verification")))
        json_object_set_new(planned, "begin_verification", json_true());
    set_unknown(planned, "id");
    set_unknown(planned, "created_on");
    set_unknown(planned, "updated_on");
    set_unknown(planned, "verification");
    if (value_is_null(json_object_get(planned, "enabled")))
        set_unknown(planned, "enabled");
    if (value_is_null(json_object_get(planned, "use_fedramp_language")))
        set_unknown(planned, "use_fedramp_language");
    return planned;
}

/* True when the two values are known strings equal ignoring case (email
 * domains, and hex ids). */
static bool equal_ignoring_case(const json_t *a, const json_t *b) {
    return json_is_string(a) && json_is_string(b) &&
           cfapi_domain_equal(json_string_value(a), json_string_value(b));
}

/* A plan that creates a connector with enabled = true: Cloudflare enables a
 * connector only once its email domain is verified, and a new connector's
 * verification has only just started, so for a new domain that apply ends
 * with the connector created, not enabled, and an error. Said at plan
 * time, with the way that works. */
static void warn_enable_at_create(const json_t *config, json_t *diags) {
    if (!json_is_true(json_object_get(config, "enabled")))
        return;
    diag_warning_new(
        diags, path_attr("enabled"), "Enabling at creation needs an already verified domain",
        "Cloudflare enables an SSO connector only once its email domain is verified, so enabled = "
        "true at creation succeeds only when Cloudflare already considers the domain verified. "
        "For a new domain, create the connector with enabled = false (or leave enabled out), add "
        "a DNS TXT record with the value of verification.code to the domain, and set enabled = "
        "true once verification.status is \"verified\". Otherwise the connector is created but "
        "not enabled, and the apply ends with an error.");
}

void sso_plan_clear(sso_plan *plan) {
    json_decref(plan->planned_state);
    json_decref(plan->requires_replace);
    memset(plan, 0, sizeof(*plan));
}

int sso_plan_change(const json_t *prior, const json_t *config, const json_t *proposed,
                    json_t *diags, sso_plan *out) {
    memset(out, 0, sizeof(*out));
    if (value_is_null(config)) {
        out->requires_replace = json_array();
        out->action = "delete";
        return 0;
    }
    if (sso_validate_connector_config(config, diags) > 0)
        return -1;
    out->requires_replace = json_array();
    if (value_is_null(prior)) {
        out->planned_state = plan_new_object(config);
        out->action = "create";
        warn_enable_at_create(config, diags);
        return 0;
    }

    json_t *planned = json_is_object(proposed)
                          ? value_complete_object(&sso_connector_schema, proposed)
                          : plan_proposed_new_state(&sso_connector_schema, prior, config);
    /* What cannot change keeps its prior value, so plans stay quiet. */
    keep_attr(planned, prior, "id");
    keep_attr(planned, prior, "created_on");
    /* Ids and domains are case-insensitive: a change of case alone keeps
     * the prior spelling and changes nothing (replacing a connector would
     * break its users' SSO login). */
    const char *case_free[] = {"email_domain", "account_id"};
    for (size_t i = 0; i < 2; i++) {
        json_t *prior_value = value_attr(prior, case_free[i]);
        if (equal_ignoring_case(prior_value, json_object_get(planned, case_free[i])))
            json_object_set_new(planned, case_free[i], json_deep_copy(prior_value));
    }

    if (plan_attr_changed(prior, planned, "account_id"))
        json_array_append_new(out->requires_replace, path_attr("account_id"));
    if (plan_attr_changed(prior, planned, "email_domain"))
        json_array_append_new(out->requires_replace, path_attr("email_domain"));
    if (json_array_size(out->requires_replace) > 0) {
        json_decref(planned);
        out->planned_state = plan_new_object(config);
        out->action = "replace";
        warn_enable_at_create(config, diags);
        return 0;
    }

    /* verification is what Cloudflare's DNS check says, and that moves on
     * its own (pending -> verified) between a plan and its apply. Kept when
     * apply writes nothing (the state records the prior value), or when it
     * writes while the domain is verified; unknown when apply starts
     * verification or writes while verification may still move, because
     * the answer to that write brings the status of that moment. Planning
     * the prior status there would make the apply inconsistent exactly
     * when it succeeds: enabling works only once the status is verified. */
    bool begins = sso_plan_begins_verification(prior, planned);
    bool writes = plan_attr_changed(prior, planned, "enabled") ||
                  plan_attr_changed(prior, planned, "use_fedramp_language") || begins;
    const char *status = json_string_value(value_attr(value_attr(prior, "verification"), "status"));
    bool verified = status && strcmp(status, "verified") == 0;
    keep_attr(planned, prior, "verification");
    keep_attr(planned, prior, "updated_on");
    if (begins || (writes && !verified))
        set_unknown(planned, "verification");

    /* updated_on is unknown in any plan that changes something, kept
     * otherwise, so a plan with no change is exactly the prior state. */
    bool changed = false;
    for (size_t i = 0; i < sso_connector_schema.attr_count; i++)
        changed = changed || plan_attr_changed(prior, planned, sso_connector_schema.attrs[i].name);
    if (changed)
        set_unknown(planned, "updated_on");
    out->planned_state = planned;
    out->action = changed ? "update" : "no-op";
    return 0;
}

/* Member `name` of the API object when it has the expected JSON type
 * (borrowed), else NULL. */
static json_t *typed_member(const json_t *api, const char *name, int type) {
    json_t *v = json_object_get(api, name);
    bool ok = v && (type == JSON_TRUE ? json_is_boolean(v) : (int)json_typeof(v) == type);
    return ok ? v : NULL;
}

/* Sets `state`.`name` to a reference to member `name` of the API object
 * when it has the expected JSON type; null otherwise. The value is shared,
 * not copied: the API's strings and booleans are never changed in place,
 * and the reference keeps them alive after the answer is freed. */
static void copy_typed(json_t *state, const json_t *api, const char *name, int type) {
    json_t *v = typed_member(api, name, type);
    json_object_set_new(state, name, v ? json_incref(v) : json_null());
}

/* The verification object in the schema's shape, or null. */
static json_t *verification_from_api(const json_t *api) {
    json_t *v = json_object_get(api, "verification");
    if (!json_is_object(v))
        return json_null();
    json_t *out = json_object();
    copy_typed(out, v, "code", JSON_STRING);
    copy_typed(out, v, "status", JSON_STRING);
    return out;
}

json_t *sso_item_from_api(const json_t *api) {
    json_t *item = json_object();
    copy_typed(item, api, "id", JSON_STRING);
    copy_typed(item, api, "email_domain", JSON_STRING);
    copy_typed(item, api, "enabled", JSON_TRUE);
    copy_typed(item, api, "use_fedramp_language", JSON_TRUE);
    copy_typed(item, api, "created_on", JSON_STRING);
    copy_typed(item, api, "updated_on", JSON_STRING);
    json_object_set_new(item, "verification", verification_from_api(api));
    return item;
}

/* The JSON type the API sends attribute `name` as, for the members
 * sso_state_from_api() takes from the API (0: not taken from the API). */
static int api_type_of(const char *name) {
    static const struct {
        const char *name;
        int type;
    } members[] = {{"id", JSON_STRING},         {"email_domain", JSON_STRING},
                   {"enabled", JSON_TRUE},      {"use_fedramp_language", JSON_TRUE},
                   {"created_on", JSON_STRING}, {"updated_on", JSON_STRING}};
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
        if (strcmp(members[i].name, name) == 0)
            return members[i].type;
    return 0;
}

/* Built in one pass, in the schema's attribute order (the order the state
 * is written in), with every value a reference to the API's or the kept
 * one: a refresh of many connectors copies no string. Values are shared,
 * never changed in place (callers only ever replace a whole member). */
json_t *sso_state_from_api(const char *account_id, const json_t *api, const json_t *keep) {
    json_t *state = json_object();
    for (size_t i = 0; i < sso_connector_schema.attr_count; i++) {
        const char *name = sso_connector_schema.attrs[i].name;
        json_t *kept = value_attr(keep, name);
        json_t *v; /* new reference, or NULL for null */
        if (strcmp(name, "account_id") == 0) {
            v = json_string(account_id);
        } else if (strcmp(name, "begin_verification") == 0) {
            /* The API never returns begin_verification: the kept value, when
             * a known bool, is the whole truth; a state never holds an
             * unknown. */
            v = json_is_boolean(kept) ? json_incref(kept) : NULL;
            kept = NULL;
        } else if (strcmp(name, "verification") == 0) {
            v = verification_from_api(api);
            if (json_is_null(v)) {
                json_decref(v);
                v = NULL;
            }
        } else {
            int type = api_type_of(name);
            v = type ? json_incref(typed_member(api, name, type)) : NULL;
        }
        /* Every member of the API's answer is optional: what it leaves out
         * (or sends with the wrong type) is kept from the prior state, as
         * long as that value is known. */
        if (!v && kept && value_is_wholly_known(kept))
            v = json_incref(kept);
        /* The domain as the user spelt it, when the API's differs only in
         * case. */
        if (v && kept && strcmp(name, "email_domain") == 0 && v != kept &&
            equal_ignoring_case(kept, v)) {
            json_decref(v);
            v = json_incref(kept);
        }
        json_object_set_new(state, name, v ? v : json_null());
    }
    return state;
}

/* A complete object of `block` (every attribute, null where `obj` has
 * none; nothing else) as a new reference that shares its values with
 * `obj`: `obj` itself when it is complete already (a state Terraform
 * sends back usually is), else a new object of references. For reading
 * only: the values must not be changed in place. (value_complete_object()
 * copies every value, which a read of thousands of connectors pays for in
 * allocations.) */
json_t *sso_complete_shared(const schema_block *block, json_t *obj) {
    if (json_is_object(obj) && json_object_size(obj) == block->attr_count) {
        size_t i = 0;
        while (i < block->attr_count && json_object_get(obj, block->attrs[i].name))
            i++;
        if (i == block->attr_count)
            return json_incref(obj);
    }
    json_t *out = json_object();
    for (size_t i = 0; i < block->attr_count; i++) {
        json_t *v = value_attr(obj, block->attrs[i].name);
        json_object_set_new(out, block->attrs[i].name, v ? json_incref(v) : json_null());
    }
    return out;
}

json_t *sso_state_upgrade(const json_t *raw, json_t *diags) {
    bool failed = false;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)raw, key, v) {
        const schema_attr *attr = schema_find_attr(&sso_connector_schema, key);
        json_t *path = path_attr(key);
        if (!attr) {
            diag_warning_new(diags, json_incref(path), "Attribute dropped from state",
                             "\"%s\" is not an attribute of this resource.", key);
        } else if (!value_check_type(attr->type, v, path, diags)) {
            failed = true;
        } else if (!value_is_wholly_known(v)) {
            diag_error_new(diags, json_incref(path), "Unknown value in state",
                           "The stored state holds an unknown value for \"%s\"; a state must be "
                           "wholly known. Refresh or re-import the connector.",
                           key);
            failed = true;
        }
        json_decref(path);
    }
    if (failed)
        return NULL;
    json_t *state = value_complete_object(&sso_connector_schema, raw);
    json_t *verification = json_object_get(state, "verification");
    if (json_is_object(verification)) {
        json_t *complete = json_object();
        keep_attr(complete, verification, "code");
        keep_attr(complete, verification, "status");
        json_object_set_new(state, "verification", complete);
    }
    return state;
}

int sso_state_check_applied(const json_t *planned, const json_t *new_state, json_t *diags) {
    int errors = 0;
    for (size_t i = 0; i < sso_connector_schema.attr_count; i++) {
        const char *name = sso_connector_schema.attrs[i].name;
        json_t *want = json_object_get(planned, name);
        json_t *got = json_object_get(new_state, name);
        if (!value_is_wholly_known(want) || value_equal(want, got) ||
            (strcmp(name, "email_domain") == 0 && equal_ignoring_case(want, got)))
            continue;
        char *want_text = json_dumps(want ? want : json_null(), JSON_ENCODE_ANY | JSON_COMPACT);
        char *got_text = json_dumps(got ? got : json_null(), JSON_ENCODE_ANY | JSON_COMPACT);
        diag_error_new(diags, path_attr(name), "Provider produced inconsistent result after apply",
                       "The plan said %s would be %s, but Cloudflare now reports %s. The state "
                       "records what Cloudflare reports; run a refresh and plan again.",
                       name, want_text ? want_text : "?", got_text ? got_text : "?");
        free(want_text);
        free(got_text);
        errors++;
    }
    return errors;
}

json_t *sso_state_drift(const json_t *before, const json_t *after) {
    json_t *drift = json_array();
    for (size_t i = 0; i < sso_connector_schema.attr_count; i++) {
        const char *name = sso_connector_schema.attrs[i].name;
        json_t *b = value_attr(before, name);
        json_t *a = value_attr(after, name);
        if (value_equal(b, a) || (strcmp(name, "email_domain") == 0 && equal_ignoring_case(a, b)))
            continue;
        json_array_append_new(drift,
                              json_pack("{s:o, s:O, s:O}", "attribute", path_attr(name), "before",
                                        b ? b : json_null(), "after", a ? a : json_null()));
    }
    return drift;
}
