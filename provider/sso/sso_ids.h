/*
 * sso_ids.h - strict validation of every identifier a user or a state file
 * can hand the provider, before any of it reaches a request.
 *
 * Account and connector ids and email domains follow the Cloudflare API's
 * rules, written once in cfapi.h (cfapi_id_is_valid, cfapi_domain_is_valid,
 * cfapi_domain_equal). Import ids are "<account_id>/<connector_id>" or
 * "<account_id>/<email_domain>". Nothing that fails these checks is ever
 * put into a URL, so nothing a user types can change a request path.
 */
#ifndef SSO_IDS_H
#define SSO_IDS_H

#include <stdbool.h>
#include <stddef.h>

#include "cfapi.h"

#define SSO_ID_LEN     CFAPI_ID_LEN
#define SSO_DOMAIN_MAX CFAPI_DOMAIN_MAX

typedef enum sso_import_kind {
    SSO_IMPORT_INVALID = 0,
    SSO_IMPORT_BY_ID,
    SSO_IMPORT_BY_DOMAIN,
} sso_import_kind;

/* Parses an import id. On success copies the account id into `account`
 * (33 bytes) and the connector id or domain into `rest` (254 bytes), and
 * returns its kind; otherwise returns SSO_IMPORT_INVALID and leaves a
 * static explanation in *why. */
sso_import_kind sso_parse_import_id(const char *id, char account[SSO_ID_LEN + 1],
                                    char rest[SSO_DOMAIN_MAX + 1], const char **why);

#endif /* SSO_IDS_H */
