/*
 * sso_data.c - ReadDataSource (sso_connector, sso_connectors) and
 * ListResource (sso_connector): read-only views of an account's
 * connectors.
 */
#include "sso_op.h"

#include "schema.h"
#include "sso_plan.h"
#include "sso_schema.h"

#include <string.h>

static json_t *empty_data_result(void) {
    return json_pack("{s:n}", "state");
}

static json_t *empty_list_result(void) {
    return json_pack("{s:[]}", "resources");
}

/* The sso_connector data source's state: the config's account_id plus the
 * connector's attributes. */
static void data_respond_one(sso_op *op, const json_t *api) {
    json_t *item = sso_item_from_api(api);
    json_object_set_new(item, "account_id", json_string(op->account_id));
    json_t *state = value_complete_object(&sso_connector_data_schema, item);
    json_decref(item);
    sso_op_respond_new(op, json_pack("{s:o}", "state", state));
}

static void data_not_found(sso_op *op) {
    diag_error_new(op->diags, NULL, "SSO connector not found",
                   "No SSO connector %s%s was found in account %s.",
                   op->connector_id[0] ? "with id " : "for email domain ",
                   op->connector_id[0] ? op->connector_id : op->domain, op->account_id);
    sso_op_respond_new(op, empty_data_result());
}

static json_t *data_failed(sso_op *op) {
    (void)op;
    return empty_data_result();
}

static json_t *list_failed(sso_op *op) {
    (void)op;
    return empty_list_result();
}

/* sso_connector by id: the GET came back. */
static void data_got_one(sso_op *op, const cfapi_result *res) {
    static const sso_step_ends ends = {.failed_result = data_failed, .not_found = data_not_found};
    if (sso_step_settled(op, res, &ends))
        return;
    data_respond_one(op, res->result);
}

/* The list came back: sso_connector by domain picks one, sso_connectors
 * answers them all. */
static void data_listed(sso_op *op, const cfapi_result *res) {
    static const sso_step_ends ends = {.failed_result = data_failed};
    if (sso_step_settled(op, res, &ends))
        return;
    if (strcmp(op->type_name, SSO_CONNECTOR_TYPE) == 0) {
        json_t *found = cfapi_find_by_domain(res->result, op->domain);
        if (!found) {
            data_not_found(op);
            return;
        }
        data_respond_one(op, found);
        return;
    }
    json_t *items = json_array();
    size_t i;
    json_t *api;
    json_array_foreach(res->result, i, api) {
        json_array_append_new(items, sso_item_from_api(api));
    }
    sso_op_respond_new(op, json_pack("{s:{s:s, s:o}}", "state", "account_id", op->account_id,
                                     "connectors", items));
}

/* ReadDataSource: validates the config (it must be wholly known), then
 * one GET (by id) or a list (by domain, or all). */
static void handle_read_data(rpc_request *req, json_t *params, sso_host *host) {
    const char *type_name;
    json_t *config;
    if (!sso_params_type_and_config(req, params, &type_name, &config))
        return;
    if (!sso_require_configured_new(host, req, empty_data_result()))
        return;
    sso_op *op = sso_op_new(host, req);
    if (!op)
        return;
    const schema_block *block = sso_data_source_schema(type_name);
    if (sso_validate_data_config(type_name, config, op->diags) > 0) {
        sso_op_respond_new(op, empty_data_result());
        return;
    }
    if (!value_is_wholly_known(config)) {
        diag_error_new(op->diags, NULL, "Configuration not known yet",
                       "A data source can only be read once its arguments are known.");
        sso_op_respond_new(op, empty_data_result());
        return;
    }
    op->type_name = block == &sso_connector_data_schema ? SSO_CONNECTOR_TYPE : SSO_CONNECTORS_TYPE;
    strcpy(op->account_id, json_string_value(json_object_get(config, "account_id")));
    const char *id = json_string_value(value_attr(config, "id"));
    const char *domain = json_string_value(value_attr(config, "email_domain"));
    int rc;
    if (block == &sso_connector_data_schema && id) {
        strcpy(op->connector_id, id);
        rc = sso_op_get(op, data_got_one);
    } else {
        rc = domain ? sso_op_set_domain(op, domain) : 0;
        if (rc == 0)
            rc = sso_op_list(op, data_listed);
    }
    if (rc < 0) {
        diag_error_new(op->diags, NULL, "Cloudflare API call refused", "%s", uv_strerror(rc));
        sso_op_respond_new(op, empty_data_result());
    }
}

/* ListResource: every connector with its import id and full state. */
static void list_got(sso_op *op, const cfapi_result *res) {
    static const sso_step_ends ends = {.failed_result = list_failed};
    if (sso_step_settled(op, res, &ends))
        return;
    json_t *resources = json_array();
    size_t i;
    json_t *api;
    json_array_foreach(res->result, i, api) {
        json_t *state = sso_state_from_api(op->account_id, api, NULL);
        const char *id = json_string_value(json_object_get(state, "id"));
        const char *domain = json_string_value(json_object_get(state, "email_domain"));
        if (!cfapi_id_is_valid(id)) {
            json_decref(state);
            continue;
        }
        char import_id[SSO_ID_LEN * 2 + 2];
        snprintf(import_id, sizeof(import_id), "%s/%s", op->account_id, id);
        json_array_append_new(resources,
                              json_pack("{s:s, s:s, s:o}", "id", import_id, "display_name",
                                        domain ? domain : id, "state", state));
    }
    sso_op_respond_new(op, json_pack("{s:o}", "resources", resources));
}

/* ListResource: takes {"account_id"} only, checked strictly. */
void sso_handle_list(rpc_request *req, json_t *params, sso_host *host) {
    const char *type_name;
    json_t *config;
    if (!sso_params_type_and_config(req, params, &type_name, &config))
        return;
    if (!sso_require_configured_new(host, req, empty_list_result()))
        return;
    sso_op *op = sso_op_new(host, req);
    if (!op)
        return;
    /* ListResource takes {"account_id"} only. */
    const char *key;
    json_t *v;
    json_object_foreach(config, key, v) {
        if (strcmp(key, "account_id") != 0)
            diag_error_new(op->diags, path_attr(key), "Unsupported argument",
                           "ListResource on " SSO_CONNECTOR_TYPE " takes account_id only.");
    }
    const char *account = json_string_value(json_object_get(config, "account_id"));
    if (!cfapi_id_is_valid(account))
        diag_error_new(op->diags, path_attr("account_id"), "Invalid account_id",
                       "account_id must be exactly 32 hexadecimal characters.");
    if (diag_has_error(op->diags)) {
        sso_op_respond_new(op, empty_list_result());
        return;
    }
    strcpy(op->account_id, account);
    int rc = sso_op_list(op, list_got);
    if (rc < 0) {
        diag_error_new(op->diags, NULL, "Cloudflare API call refused", "%s", uv_strerror(rc));
        sso_op_respond_new(op, empty_list_result());
    }
}

static int validate_connector_data(const json_t *config, json_t *diags) {
    return sso_validate_data_config(SSO_CONNECTOR_TYPE, config, diags);
}

static int validate_connectors_data(const json_t *config, json_t *diags) {
    return sso_validate_data_config(SSO_CONNECTORS_TYPE, config, diags);
}

const sso_data_source_type sso_connector_data_source = {
    .type_name = SSO_CONNECTOR_TYPE,
    .schema = &sso_connector_data_schema,
    .validate = validate_connector_data,
    .read = handle_read_data,
};

const sso_data_source_type sso_connectors_data_source = {
    .type_name = SSO_CONNECTORS_TYPE,
    .schema = &sso_connectors_data_schema,
    .validate = validate_connectors_data,
    .read = handle_read_data,
};
