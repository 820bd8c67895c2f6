/*
 * sso_schema.c - schema definitions (see sso_schema.h).
 */
#include "sso_schema.h"

#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const schema_field verification_fields[] = {
    {"code", &schema_string_type},
    {"status", &schema_string_type},
};
static const schema_type verification_type = {.kind = SCHEMA_OBJECT,
                                              .fields = verification_fields,
                                              .field_count = COUNT(verification_fields)};

#define D_ID      "SSO Connector identifier tag."
#define D_ACCOUNT "Account identifier tag."
#define D_DOMAIN  "Email domain of the SSO connector. Compared case-insensitively."
#define D_ENABLED "SSO Connector enabled state. Enabling needs a verified domain."
#define D_FEDRAMP "Controls the display of FedRAMP language to the user during SSO login."
#define D_BEGIN                                                                                    \
    "Begin the verification process: sent at creation (left out, the API's default, true, is "     \
    "planned and sent); on an existing connector whose verification is awaiting or failed, "       \
    "changing it to true starts verification again. Left out on an existing connector, the "       \
    "state's value is kept. Never forces replacement."
#define D_CREATED "Timestamp for the creation of the SSO connector."
#define D_UPDATED "Timestamp for the last update of the SSO connector."
#define D_VERIFICATION                                                                             \
    "DNS verification: `code` is the string to add to the DNS TXT record of the email domain "     \
    "to validate ownership; `status` is one of awaiting, pending, failed, verified."

static const schema_attr provider_attrs[] = {
    {"api_token", &schema_string_type, SCHEMA_OPTIONAL | SCHEMA_SENSITIVE,
     "Cloudflare API token, sent as `Authorization: Bearer`. Falls back to the "
     "CLOUDFLARE_API_TOKEN environment variable. Conflicts with api_key."},
    {"api_key", &schema_string_type, SCHEMA_OPTIONAL | SCHEMA_SENSITIVE,
     "Legacy global API key (X-Auth-Key), used with email. Falls back to "
     "CLOUDFLARE_API_KEY."},
    {"email", &schema_string_type, SCHEMA_OPTIONAL,
     "Account email for the legacy API key (X-Auth-Email), named as in the official Cloudflare "
     "provider. Falls back to CLOUDFLARE_EMAIL."},
    {"base_url", &schema_string_type, SCHEMA_OPTIONAL,
     "Base URL of the Cloudflare API. Default https://api.cloudflare.com/client/v4; falls back "
     "to CLOUDFLARE_BASE_URL. http:// is accepted only for a literal loopback host (localhost, "
     "127.a.b.c, [::1]); no user information, query or fragment."},
    {"max_retries", &schema_number_type, SCHEMA_OPTIONAL,
     "How many times a failed call (429, 5xx, connection error) is retried. Default 4."},
    {"request_timeout", &schema_number_type, SCHEMA_OPTIONAL,
     "Seconds allowed for one HTTP call. Default 30. One call waits at most 60 s in total "
     "between its retries, or this long when it is longer."},
    {"max_rps", &schema_number_type, SCHEMA_OPTIONAL,
     "Client-side ceiling on requests per second across all concurrent work. Default none."},
};

const schema_block sso_provider_schema = {
    .version = 0,
    .description = "Cloudflare account SSO connectors.",
    .attrs = provider_attrs,
    .attr_count = COUNT(provider_attrs),
};

static const schema_attr connector_attrs[] = {
    {"id", &schema_string_type, SCHEMA_COMPUTED, D_ID},
    {"account_id", &schema_string_type, SCHEMA_REQUIRED,
     D_ACCOUNT " 32 hexadecimal characters. Changing it forces a new connector."},
    {"email_domain", &schema_string_type, SCHEMA_REQUIRED,
     D_DOMAIN " Changing it forces a new connector."},
    {"enabled", &schema_bool_type, SCHEMA_OPTIONAL | SCHEMA_COMPUTED, D_ENABLED},
    {"use_fedramp_language", &schema_bool_type, SCHEMA_OPTIONAL | SCHEMA_COMPUTED, D_FEDRAMP},
    /* Optional + computed, as in the official Cloudflare provider: an
     * omitted value keeps the state's, whatever it is (null after an
     * import, true or false from that provider), so such states plan no
     * change. */
    {"begin_verification", &schema_bool_type, SCHEMA_OPTIONAL | SCHEMA_COMPUTED, D_BEGIN},
    {"created_on", &schema_string_type, SCHEMA_COMPUTED, D_CREATED},
    {"updated_on", &schema_string_type, SCHEMA_COMPUTED, D_UPDATED},
    {"verification", &verification_type, SCHEMA_COMPUTED, D_VERIFICATION},
};

const schema_block sso_connector_schema = {
    .version = 0,
    .description = "An SSO connector of a Cloudflare account: lets the members of an email "
                   "domain log in to the dashboard through the domain's identity provider.",
    .attrs = connector_attrs,
    .attr_count = COUNT(connector_attrs),
};

static const schema_attr connector_data_attrs[] = {
    {"account_id", &schema_string_type, SCHEMA_REQUIRED, D_ACCOUNT},
    {"id", &schema_string_type, SCHEMA_OPTIONAL | SCHEMA_COMPUTED,
     D_ID " Give either id or email_domain."},
    {"email_domain", &schema_string_type, SCHEMA_OPTIONAL | SCHEMA_COMPUTED,
     D_DOMAIN " Give either id or email_domain."},
    {"enabled", &schema_bool_type, SCHEMA_COMPUTED, D_ENABLED},
    {"use_fedramp_language", &schema_bool_type, SCHEMA_COMPUTED, D_FEDRAMP},
    {"created_on", &schema_string_type, SCHEMA_COMPUTED, D_CREATED},
    {"updated_on", &schema_string_type, SCHEMA_COMPUTED, D_UPDATED},
    {"verification", &verification_type, SCHEMA_COMPUTED, D_VERIFICATION},
};

const schema_block sso_connector_data_schema = {
    .version = 0,
    .description = "Looks up one SSO connector of an account by id or by email domain.",
    .attrs = connector_data_attrs,
    .attr_count = COUNT(connector_data_attrs),
};

static const schema_field connector_item_fields[] = {
    {"id", &schema_string_type},          {"email_domain", &schema_string_type},
    {"enabled", &schema_bool_type},       {"use_fedramp_language", &schema_bool_type},
    {"created_on", &schema_string_type},  {"updated_on", &schema_string_type},
    {"verification", &verification_type},
};
static const schema_type connector_item_type = {.kind = SCHEMA_OBJECT,
                                                .fields = connector_item_fields,
                                                .field_count = COUNT(connector_item_fields)};
static const schema_type connector_list_type = {.kind = SCHEMA_LIST,
                                                .element = &connector_item_type};

static const schema_attr connectors_data_attrs[] = {
    {"account_id", &schema_string_type, SCHEMA_REQUIRED, D_ACCOUNT},
    {"connectors", &connector_list_type, SCHEMA_COMPUTED,
     "Every SSO connector of the account, in the order the API lists them."},
};

const schema_block sso_connectors_data_schema = {
    .version = 0,
    .description = "Lists every SSO connector of an account.",
    .attrs = connectors_data_attrs,
    .attr_count = COUNT(connectors_data_attrs),
};

const schema_block *sso_data_source_schema(const char *type_name) {
    if (!type_name)
        return NULL;
    if (strcmp(type_name, SSO_CONNECTOR_TYPE) == 0)
        return &sso_connector_data_schema;
    if (strcmp(type_name, SSO_CONNECTORS_TYPE) == 0)
        return &sso_connectors_data_schema;
    return NULL;
}
