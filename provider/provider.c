/*
 * provider.c - the provider object and its method table: the methods that
 * need no API call (schema, validation, configuration, state upgrade,
 * plan) live here; the asynchronous ones in sso_resource.c and sso_data.c.
 */
#include "provider.h"

#include "schema.h"
#include "sso_op.h"
#include "sso_plan.h"
#include "sso_schema.h"

#include <stdlib.h>
#include <string.h>

#define MOD "provider"

int provider_new(uv_loop_t *loop, provider **out) {
    provider *p = calloc(1, sizeof(*p));
    if (!p)
        return UV_ENOMEM;
    p->loop = loop;
    *out = p;
    return 0;
}

static void provider_free(provider *p) {
    void (*on_closed)(void *) = p->on_closed;
    void *arg = p->on_closed_arg;
    provider_config_free(&p->config);
    free(p);
    if (on_closed)
        on_closed(arg);
}

static void api_closed(void *arg) {
    provider_free(arg);
}

void provider_close(provider *p, void (*on_closed)(void *arg), void *arg) {
    p->on_closed = on_closed;
    p->on_closed_arg = arg;
    if (p->api) {
        cfapi_client *api = p->api;
        p->api = NULL;
        cfapi_client_close(api, api_closed, p);
    } else {
        provider_free(p);
    }
}

/* Answers `result` (stolen) with `diags` (stolen) as its diagnostics. */
static void respond_with(rpc_request *req, json_t *result, json_t *diags) {
    json_object_set_new(result, "diagnostics", diags);
    rpc_respond(req, result);
}

static void handle_get_schema(rpc_request *req, json_t *params, void *ctx) {
    (void)params;
    (void)ctx;
    respond_with(req, sso_schema_response(), json_array());
}

/* Returns params.config when it is an object; otherwise answers -32602
 * and returns NULL. */
static json_t *config_param(rpc_request *req, json_t *params) {
    json_t *config = json_object_get(params, "config");
    if (!json_is_object(config))
        rpc_respond_error(req, RPC_INVALID_PARAMS, "params.config must be an object", NULL);
    return json_is_object(config) ? config : NULL;
}

static void handle_validate_provider(rpc_request *req, json_t *params, void *ctx) {
    (void)ctx;
    json_t *config = config_param(req, params);
    if (!config)
        return;
    json_t *diags = json_array();
    provider_config_validate(config, diags);
    respond_with(req, json_object(), diags);
}

/* ConfigureProvider: resolves the settings with their environment
 * fallbacks and creates the Cloudflare client. Only once per process. */
static void handle_configure(rpc_request *req, json_t *params, void *ctx) {
    provider *p = ctx;
    json_t *config = config_param(req, params);
    if (!config)
        return;
    json_t *diags = json_array();
    if (p->configured) {
        diag_error(diags, NULL, "Provider already configured",
                   "ConfigureProvider may be called once per provider process.");
        respond_with(req, json_object(), diags);
        return;
    }
    if (provider_config_resolve(config, &p->config, diags) < 0) {
        respond_with(req, json_object(), diags);
        return;
    }
    cfapi_options opts = {
        .base_url = p->config.base_url,
        .api_token = p->config.api_token,
        .api_key = p->config.api_key,
        .email = p->config.email,
        .user_agent = "provider-cloudflare/" PROVIDER_VERSION,
        .max_retries = p->config.max_retries,
        .request_timeout = p->config.request_timeout,
        .max_rps = p->config.max_rps,
    };
    log_add_secret(p->config.api_token);
    log_add_secret(p->config.api_key);
    int rc = cfapi_client_new(p->loop, &opts, &p->api);
    if (rc < 0) {
        diag_error(diags, NULL, "Could not start the Cloudflare client", "%s", uv_strerror(rc));
        provider_config_free(&p->config);
        respond_with(req, json_object(), diags);
        return;
    }
    p->configured = true;
    log_info(MOD, "configured for %s", p->config.base_url);
    respond_with(req, json_object(), diags);
}

static void handle_validate_resource(rpc_request *req, json_t *params, void *ctx) {
    (void)ctx;
    const char *type_name;
    json_t *config;
    if (!sso_params_type_and_config(req, params, &type_name, &config))
        return;
    json_t *diags = json_array();
    if (!sso_resource_schema(type_name))
        diag_error(diags, NULL, "Unknown resource type",
                   "This provider has no resource type \"%s\"; it has \"" SSO_CONNECTOR_TYPE "\".",
                   type_name);
    else
        sso_validate_connector_config(config, diags);
    respond_with(req, json_object(), diags);
}

static void handle_validate_data(rpc_request *req, json_t *params, void *ctx) {
    (void)ctx;
    const char *type_name;
    json_t *config;
    if (!sso_params_type_and_config(req, params, &type_name, &config))
        return;
    json_t *diags = json_array();
    sso_validate_data_config(type_name, config, diags);
    respond_with(req, json_object(), diags);
}

/* UpgradeResourceState: version 0 is the only version so far, so an
 * upgrade completes the object in the current schema (sso_state_upgrade:
 * attributes this version does not know are dropped with a warning, nested
 * objects completed, unknowns and wrong types refused). A newer version is
 * refused: it was written by a newer provider. */
static void handle_upgrade(rpc_request *req, json_t *params, void *ctx) {
    (void)ctx;
    json_t *type_name = json_object_get(params, "type_name");
    json_t *version = json_object_get(params, "version");
    json_t *raw = json_object_get(params, "raw_state");
    if (!json_is_string(type_name) || !json_is_integer(version) || !json_is_object(raw)) {
        rpc_respond_error(req, RPC_INVALID_PARAMS,
                          "params need type_name (string), version (integer) and "
                          "raw_state (object)",
                          NULL);
        return;
    }
    json_t *diags = json_array();
    const schema_block *block = sso_resource_schema(json_string_value(type_name));
    if (!block) {
        diag_error(diags, NULL, "Unknown resource type",
                   "This provider has no resource type \"%s\"; it has \"" SSO_CONNECTOR_TYPE "\".",
                   json_string_value(type_name));
        respond_with(req, json_pack("{s:n}", "upgraded_state"), diags);
        return;
    }
    if (json_integer_value(version) > block->version || json_integer_value(version) < 0) {
        diag_error(diags, NULL, "Unsupported state version",
                   "The state has schema version %lld; this provider understands version %ld. "
                   "It was probably written by a newer provider.",
                   (long long)json_integer_value(version), block->version);
        respond_with(req, json_pack("{s:n}", "upgraded_state"), diags);
        return;
    }
    json_t *upgraded = sso_state_upgrade(raw, diags);
    respond_with(req, json_pack("{s:o}", "upgraded_state", upgraded ? upgraded : json_null()),
                 diags);
}

/* PlanResourceChange: pure logic (sso_plan.c); never calls the API. */
static void handle_plan(rpc_request *req, json_t *params, void *ctx) {
    json_t *type_name = json_object_get(params, "type_name");
    json_t *prior = json_object_get(params, "prior_state");
    json_t *config = json_object_get(params, "config");
    json_t *proposed = json_object_get(params, "proposed_new_state");
    if (!json_is_string(type_name) || (!value_is_null(prior) && !json_is_object(prior)) ||
        (!value_is_null(config) && !json_is_object(config)) ||
        (value_is_null(prior) && value_is_null(config)) ||
        (!value_is_null(proposed) && !json_is_object(proposed))) {
        rpc_respond_error(req, RPC_INVALID_PARAMS,
                          "params need type_name, and prior_state and config as objects "
                          "or null (not both null)",
                          NULL);
        return;
    }
    json_t *empty =
        json_pack("{s:n, s:[], s:s}", "planned_state", "requires_replace", "action", "no-op");
    if (!sso_require_configured(ctx, req, json_incref(empty))) {
        json_decref(empty);
        return;
    }
    json_t *diags = json_array();
    if (!sso_resource_schema(json_string_value(type_name))) {
        diag_error(diags, NULL, "Unknown resource type",
                   "This provider has no resource type \"%s\"; it has \"" SSO_CONNECTOR_TYPE "\".",
                   json_string_value(type_name));
        respond_with(req, empty, diags);
        return;
    }
    sso_plan plan;
    if (sso_plan_change(prior, config, proposed, diags, &plan) < 0) {
        respond_with(req, empty, diags);
        return;
    }
    json_decref(empty);
    json_t *result = json_pack("{s:O, s:O, s:s}", "planned_state",
                               plan.planned_state ? plan.planned_state : json_null(),
                               "requires_replace", plan.requires_replace, "action", plan.action);
    sso_plan_clear(&plan);
    respond_with(req, result, diags);
}

static const rpc_method methods[] = {
    {"GetProviderSchema", handle_get_schema},
    {"ValidateProviderConfig", handle_validate_provider},
    {"ConfigureProvider", handle_configure},
    {"ValidateResourceConfig", handle_validate_resource},
    {"ValidateDataResourceConfig", handle_validate_data},
    {"UpgradeResourceState", handle_upgrade},
    {"PlanResourceChange", handle_plan},
    {"ApplyResourceChange", sso_handle_apply},
    {"ReadResource", sso_handle_read},
    {"ImportResourceState", sso_handle_import},
    {"ReadDataSource", sso_handle_read_data},
    {"ListResource", sso_handle_list},
};

const rpc_method *provider_methods(size_t *count) {
    *count = sizeof(methods) / sizeof(methods[0]);
    return methods;
}
