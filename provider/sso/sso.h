/*
 * sso.h - what the sso library offers the provider shell: its resource and
 * data source types, as entries of the shell's type table, and the one
 * struct through which the shell lends sso what it needs at run time.
 *
 * The shell (provider.c) owns the type table and answers everything that
 * does not depend on a type: the method table, parameters common to every
 * method (type_name), an unknown type name, configuration. A handler in an
 * entry runs only for its own type name, so no entry checks type names.
 *
 * sso never includes a shell header: what it needs of the provider (the
 * loop, the Cloudflare client, whether ConfigureProvider has run) comes
 * through sso_host, which the shell fills in and owns.
 */
#ifndef SSO_H
#define SSO_H

#include "cfapi.h"
#include "protocol.h"
#include "schema.h"

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

/* What the shell lends to sso's handlers. Owned by the shell; valid for
 * the provider's life. `api` is NULL until `configured`. */
typedef struct sso_host {
    uv_loop_t *loop;
    cfapi_client *api;
    bool configured;
} sso_host;

/* An asynchronous method of one type: answers `req` exactly once (now or
 * later). params.type_name has been checked to name the entry's type;
 * `params` is borrowed for the duration of the call only. */
typedef void (*sso_handler)(rpc_request *req, json_t *params, sso_host *host);

/* A managed resource type. */
typedef struct sso_resource_type {
    const char *type_name;
    const schema_block *schema;
    /* ValidateResourceConfig: appends diagnostics, returns the number of
     * errors added. */
    int (*validate)(const json_t *config, json_t *diags);
    /* PlanResourceChange, pure: a new {planned_state, requires_replace,
     * action} object, or NULL with error diagnostics appended. */
    json_t *(*plan)(const json_t *prior, const json_t *config, const json_t *proposed,
                    json_t *diags);
    /* UpgradeResourceState from a version the schema accepts: the state in
     * the current schema (new), or NULL with diagnostics. */
    json_t *(*upgrade)(const json_t *raw, json_t *diags);
    sso_handler read;   /* ReadResource */
    sso_handler apply;  /* ApplyResourceChange */
    sso_handler import; /* ImportResourceState */
    sso_handler list;   /* ListResource */
} sso_resource_type;

/* A data source type. */
typedef struct sso_data_source_type {
    const char *type_name;
    const schema_block *schema;
    int (*validate)(const json_t *config, json_t *diags); /* ValidateDataResourceConfig */
    sso_handler read;                                     /* ReadDataSource */
} sso_data_source_type;

extern const sso_resource_type sso_connector_resource;
extern const sso_data_source_type sso_connector_data_source;
extern const sso_data_source_type sso_connectors_data_source;

/* Checks that the provider is configured; otherwise answers `req` with
 * `extra` (stolen; NULL: {}) plus a "Provider not configured" error
 * diagnostic and returns false. `extra` is released when true. */
bool sso_require_configured_new(const sso_host *host, rpc_request *req, json_t *extra);

#endif /* SSO_H */
