/*
 * provider.c - the provider object and its method table. The shell owns
 * the table of types (which resource and data source types exist and
 * which functions serve them), so every method that names a type is
 * routed here, and an unknown type is answered here, in one place. The
 * methods that need no type and no API call (schema, provider validation
 * and configuration) live here too; the rest run in the type's entry
 * (sso/, see sso.h).
 */
#include "provider.h"

#include "provider_config.h"
#include "schema.h"
#include "sso.h"
#include "sso_schema.h"

#include <stdlib.h>
#include <string.h>

#define MOD "provider"

struct provider {
    sso_host host; /* what the types' handlers see: loop, client, configured */
    provider_config config;
    void (*on_closed)(void *arg);
    void *on_closed_arg;
};

/* The types this provider serves. */
static const sso_resource_type *const resource_types[] = {&sso_connector_resource};
static const sso_data_source_type *const data_source_types[] = {&sso_connector_data_source,
                                                                &sso_connectors_data_source};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const sso_resource_type *find_resource(const char *type_name) {
    for (size_t i = 0; type_name && i < COUNT(resource_types); i++)
        if (strcmp(resource_types[i]->type_name, type_name) == 0)
            return resource_types[i];
    return NULL;
}

static const sso_data_source_type *find_data_source(const char *type_name) {
    for (size_t i = 0; type_name && i < COUNT(data_source_types); i++)
        if (strcmp(data_source_types[i]->type_name, type_name) == 0)
            return data_source_types[i];
    return NULL;
}

/* The one answer to a type name the provider does not serve: `result`
 * (stolen, the method's empty result) with an error diagnostic that lists
 * the types it has. */
static void answer_unknown_type_new(rpc_request *req, json_t *result, const char *type_name,
                                    bool data_source) {
    char *known = NULL;
    size_t n = data_source ? COUNT(data_source_types) : COUNT(resource_types);
    for (size_t i = 0; i < n; i++) {
        const char *name =
            data_source ? data_source_types[i]->type_name : resource_types[i]->type_name;
        char *next = NULL;
        if (asprintf(&next, "%s%s\"%s\"", known ? known : "",
                     i == 0       ? ""
                     : i + 1 == n ? " and "
                                  : ", ",
                     name) < 0)
            next = NULL;
        free(known);
        known = next;
    }
    json_t *diags = json_array();
    diag_error_new(diags, NULL, data_source ? "Unknown data source type" : "Unknown resource type",
                   "This provider has no %s \"%s\"; it has %s.",
                   data_source ? "data source" : "resource type", type_name ? type_name : "",
                   known ? known : "none");
    free(known);
    json_object_set_new(result, "diagnostics", diags);
    rpc_respond_new(req, result);
}

/* params.type_name of a method routed by type: a string (else -32602),
 * naming a served type (else the unknown-type answer with `empty()`).
 * Returns the type's entry, or NULL when the request has been answered. */
static const sso_resource_type *resource_of(rpc_request *req, json_t *params,
                                            json_t *(*empty)(void)) {
    json_t *type_name = json_object_get(params, "type_name");
    if (!json_is_string(type_name)) {
        rpc_respond_error_new(req, RPC_INVALID_PARAMS, "params.type_name must be a string", NULL);
        return NULL;
    }
    const sso_resource_type *t = find_resource(json_string_value(type_name));
    if (!t)
        answer_unknown_type_new(req, empty(), json_string_value(type_name), false);
    return t;
}

int provider_new(uv_loop_t *loop, provider **out) {
    provider *p = calloc(1, sizeof(*p));
    if (!p)
        return UV_ENOMEM;
    p->host.loop = loop;
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
    if (p->host.api) {
        cfapi_client *api = p->host.api;
        p->host.api = NULL;
        p->host.configured = false;
        cfapi_client_close(api, api_closed, p);
    } else {
        provider_free(p);
    }
}

/* Answers `result` (stolen) with `diags` (stolen) as its diagnostics. */
static void respond_with_new(rpc_request *req, json_t *result, json_t *diags) {
    json_object_set_new(result, "diagnostics", diags);
    rpc_respond_new(req, result);
}

/* GetProviderSchema: the provider block and every type of the table. */
static void handle_get_schema(rpc_request *req, json_t *params, void *ctx) {
    (void)params;
    (void)ctx;
    json_t *resources = json_object(), *data_sources = json_object();
    for (size_t i = 0; i < COUNT(resource_types); i++)
        json_object_set_new(resources, resource_types[i]->type_name,
                            schema_block_to_json(resource_types[i]->schema));
    for (size_t i = 0; i < COUNT(data_source_types); i++)
        json_object_set_new(data_sources, data_source_types[i]->type_name,
                            schema_block_to_json(data_source_types[i]->schema));
    json_t *result =
        json_pack("{s:o, s:o, s:o, s:{s:b, s:b, s:b}}", "provider",
                  schema_block_to_json(&sso_provider_schema), "resource_schemas", resources,
                  "data_source_schemas", data_sources, "server_capabilities", "plan_destroy", 1,
                  "get_provider_schema_optional", 0, "move_resource_state", 0);
    respond_with_new(req, result, json_array());
}

/* Returns params.config when it is an object; otherwise answers -32602
 * and returns NULL. */
static json_t *config_param(rpc_request *req, json_t *params) {
    json_t *config = json_object_get(params, "config");
    if (!json_is_object(config))
        rpc_respond_error_new(req, RPC_INVALID_PARAMS, "params.config must be an object", NULL);
    return json_is_object(config) ? config : NULL;
}

/* Reads params.type_name (a string) and params.config (an object); when
 * either is missing or of the wrong shape answers -32602 and returns
 * NULL. Returns the type name, borrowed from params. */
static const char *type_and_config(rpc_request *req, json_t *params, json_t **config) {
    const char *type_name = json_string_value(json_object_get(params, "type_name"));
    *config = json_object_get(params, "config");
    if (type_name && json_is_object(*config))
        return type_name;
    rpc_respond_error_new(req, RPC_INVALID_PARAMS,
                          "params.type_name must be a string and params.config an object", NULL);
    return NULL;
}

static void handle_validate_provider(rpc_request *req, json_t *params, void *ctx) {
    (void)ctx;
    json_t *config = config_param(req, params);
    if (!config)
        return;
    json_t *diags = json_array();
    provider_config_validate(config, diags);
    respond_with_new(req, json_object(), diags);
}

/* ConfigureProvider: resolves the settings with their environment
 * fallbacks and creates the Cloudflare client. Only once per process. */
static void handle_configure(rpc_request *req, json_t *params, void *ctx) {
    provider *p = ctx;
    json_t *config = config_param(req, params);
    if (!config)
        return;
    json_t *diags = json_array();
    if (p->host.configured) {
        diag_error_new(diags, NULL, "Provider already configured",
                       "ConfigureProvider may be called once per provider process.");
        respond_with_new(req, json_object(), diags);
        return;
    }
    if (provider_config_resolve(config, &p->config, diags) < 0) {
        respond_with_new(req, json_object(), diags);
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
    int rc = log_add_secret(p->config.api_token);
    if (rc == 0)
        rc = log_add_secret(p->config.api_key);
    if (rc == 0)
        rc = cfapi_client_new(p->host.loop, &opts, &p->host.api);
    if (rc < 0) {
        diag_error_new(diags, NULL, "Could not start the Cloudflare client", "%s", uv_strerror(rc));
        provider_config_free(&p->config);
        respond_with_new(req, json_object(), diags);
        return;
    }
    p->host.configured = true;
    log_info(MOD, "configured for %s", p->config.base_url);
    respond_with_new(req, json_object(), diags);
}

static void handle_validate_resource(rpc_request *req, json_t *params, void *ctx) {
    (void)ctx;
    json_t *config;
    const char *type_name = type_and_config(req, params, &config);
    if (!type_name)
        return;
    const sso_resource_type *t = find_resource(type_name);
    if (!t) {
        answer_unknown_type_new(req, json_object(), type_name, false);
        return;
    }
    json_t *diags = json_array();
    t->validate(config, diags);
    respond_with_new(req, json_object(), diags);
}

static void handle_validate_data(rpc_request *req, json_t *params, void *ctx) {
    (void)ctx;
    json_t *config;
    const char *type_name = type_and_config(req, params, &config);
    if (!type_name)
        return;
    const sso_data_source_type *t = find_data_source(type_name);
    if (!t) {
        answer_unknown_type_new(req, json_object(), type_name, true);
        return;
    }
    json_t *diags = json_array();
    t->validate(config, diags);
    respond_with_new(req, json_object(), diags);
}

/* UpgradeResourceState: version 0 is the only version so far, so an
 * upgrade completes the object in the current schema (the type's upgrade:
 * attributes this version does not know are dropped with a warning, nested
 * objects completed, unknowns and wrong types refused). A newer version is
 * refused: it was written by a newer provider. */
static void handle_upgrade(rpc_request *req, json_t *params, void *ctx) {
    (void)ctx;
    json_t *type_name = json_object_get(params, "type_name");
    json_t *version = json_object_get(params, "version");
    json_t *raw = json_object_get(params, "raw_state");
    if (!json_is_string(type_name) || !json_is_integer(version) || !json_is_object(raw)) {
        rpc_respond_error_new(req, RPC_INVALID_PARAMS,
                              "params need type_name (string), version (integer) and "
                              "raw_state (object)",
                              NULL);
        return;
    }
    const sso_resource_type *t = find_resource(json_string_value(type_name));
    if (!t) {
        answer_unknown_type_new(req, json_pack("{s:n}", "upgraded_state"),
                                json_string_value(type_name), false);
        return;
    }
    json_t *diags = json_array();
    if (json_integer_value(version) > t->schema->version || json_integer_value(version) < 0) {
        diag_error_new(diags, NULL, "Unsupported state version",
                       "The state has schema version %lld; this provider understands version %ld. "
                       "It was probably written by a newer provider.",
                       (long long)json_integer_value(version), t->schema->version);
        respond_with_new(req, json_pack("{s:n}", "upgraded_state"), diags);
        return;
    }
    json_t *upgraded = t->upgrade(raw, diags);
    respond_with_new(req, json_pack("{s:o}", "upgraded_state", upgraded ? upgraded : json_null()),
                     diags);
}

static json_t *empty_plan_result(void) {
    return json_pack("{s:n, s:[], s:s}", "planned_state", "requires_replace", "action", "no-op");
}

/* PlanResourceChange: pure logic in the type's plan(); never calls the
 * API. */
static void handle_plan(rpc_request *req, json_t *params, void *ctx) {
    provider *p = ctx;
    json_t *type_name = json_object_get(params, "type_name");
    json_t *prior = json_object_get(params, "prior_state");
    json_t *config = json_object_get(params, "config");
    json_t *proposed = json_object_get(params, "proposed_new_state");
    if (!json_is_string(type_name) || (!value_is_null(prior) && !json_is_object(prior)) ||
        (!value_is_null(config) && !json_is_object(config)) ||
        (value_is_null(prior) && value_is_null(config)) ||
        (!value_is_null(proposed) && !json_is_object(proposed))) {
        rpc_respond_error_new(req, RPC_INVALID_PARAMS,
                              "params need type_name, and prior_state and config as objects "
                              "or null (not both null)",
                              NULL);
        return;
    }
    if (!sso_require_configured_new(&p->host, req, empty_plan_result()))
        return;
    const sso_resource_type *t = resource_of(req, params, empty_plan_result);
    if (!t)
        return;
    json_t *diags = json_array();
    json_t *result = t->plan(prior, config, proposed, diags);
    respond_with_new(req, result ? result : empty_plan_result(), diags);
}

static json_t *empty_read_result(void) {
    return json_pack("{s:n, s:[]}", "new_state", "drift");
}

static json_t *empty_apply_result(void) {
    return json_pack("{s:n}", "new_state");
}

static json_t *empty_import_result(void) {
    return json_pack("{s:[]}", "imported_resources");
}

static json_t *empty_list_result(void) {
    return json_pack("{s:[]}", "resources");
}

static void handle_read(rpc_request *req, json_t *params, void *ctx) {
    provider *p = ctx;
    const sso_resource_type *t = resource_of(req, params, empty_read_result);
    if (t)
        t->read(req, params, &p->host);
}

static void handle_apply(rpc_request *req, json_t *params, void *ctx) {
    provider *p = ctx;
    const sso_resource_type *t = resource_of(req, params, empty_apply_result);
    if (t)
        t->apply(req, params, &p->host);
}

static void handle_import(rpc_request *req, json_t *params, void *ctx) {
    provider *p = ctx;
    const sso_resource_type *t = resource_of(req, params, empty_import_result);
    if (t)
        t->import(req, params, &p->host);
}

/* ListResource: as before the table, params must carry config (an
 * object) too, and an unconfigured provider is said so first. */
static void handle_list(rpc_request *req, json_t *params, void *ctx) {
    provider *p = ctx;
    json_t *config;
    const char *type_name = type_and_config(req, params, &config);
    if (!type_name || !sso_require_configured_new(&p->host, req, empty_list_result()))
        return;
    const sso_resource_type *t = find_resource(type_name);
    if (!t) {
        answer_unknown_type_new(req, empty_list_result(), type_name, false);
        return;
    }
    t->list(req, params, &p->host);
}

static json_t *empty_data_result(void) {
    return json_pack("{s:n}", "state");
}

static void handle_read_data(rpc_request *req, json_t *params, void *ctx) {
    provider *p = ctx;
    json_t *config;
    const char *type_name = type_and_config(req, params, &config);
    if (!type_name || !sso_require_configured_new(&p->host, req, empty_data_result()))
        return;
    const sso_data_source_type *t = find_data_source(type_name);
    if (!t) {
        answer_unknown_type_new(req, empty_data_result(), type_name, true);
        return;
    }
    t->read(req, params, &p->host);
}

static const rpc_method methods[] = {
    {"GetProviderSchema", handle_get_schema},
    {"ValidateProviderConfig", handle_validate_provider},
    {"ConfigureProvider", handle_configure},
    {"ValidateResourceConfig", handle_validate_resource},
    {"ValidateDataResourceConfig", handle_validate_data},
    {"UpgradeResourceState", handle_upgrade},
    {"PlanResourceChange", handle_plan},
    {"ApplyResourceChange", handle_apply},
    {"ReadResource", handle_read},
    {"ImportResourceState", handle_import},
    {"ReadDataSource", handle_read_data},
    {"ListResource", handle_list},
};

const rpc_method *provider_methods(size_t *count) {
    *count = COUNT(methods);
    return methods;
}
