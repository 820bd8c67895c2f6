/*
 * sso_schema.h - the schemas this provider serves: the provider block, the
 * sso_connector resource, and the sso_connector / sso_connectors data
 * sources. Descriptions come from the Cloudflare API reference.
 */
#ifndef SSO_SCHEMA_H
#define SSO_SCHEMA_H

#include "schema.h"

extern const schema_block sso_provider_schema;
extern const schema_block sso_connector_schema;
extern const schema_block sso_connector_data_schema;
extern const schema_block sso_connectors_data_schema;

#define SSO_CONNECTOR_TYPE  "sso_connector"
#define SSO_CONNECTORS_TYPE "sso_connectors"

/* The data source schema for `type_name`, or NULL when there is none. */
const schema_block *sso_data_source_schema(const char *type_name);

#endif /* SSO_SCHEMA_H */
