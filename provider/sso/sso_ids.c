/*
 * sso_ids.c - identifier validation (see sso_ids.h).
 */
#include "sso_ids.h"

#include "cfapi.h"

#include <string.h>

sso_import_kind sso_parse_import_id(const char *id, char account[SSO_ID_LEN + 1],
                                    char rest[SSO_DOMAIN_MAX + 1], const char **why) {
    static const char *shape = "The import id must be <account_id>/<sso_connector_id> or "
                               "<account_id>/<email_domain>.";
    *why = shape;
    if (!id)
        return SSO_IMPORT_INVALID;
    const char *slash = strchr(id, '/');
    if (!slash || strchr(slash + 1, '/'))
        return SSO_IMPORT_INVALID;
    size_t account_len = (size_t)(slash - id);
    if (account_len != SSO_ID_LEN) {
        *why = "The account id (before the '/') must be 32 hexadecimal characters.";
        return SSO_IMPORT_INVALID;
    }
    memcpy(account, id, SSO_ID_LEN);
    account[SSO_ID_LEN] = '\0';
    if (!cfapi_id_is_valid(account)) {
        *why = "The account id (before the '/') must be 32 hexadecimal characters.";
        return SSO_IMPORT_INVALID;
    }
    const char *tail = slash + 1;
    if (cfapi_id_is_valid(tail)) {
        strcpy(rest, tail);
        return SSO_IMPORT_BY_ID;
    }
    if (cfapi_domain_is_valid(tail)) {
        strcpy(rest, tail);
        return SSO_IMPORT_BY_DOMAIN;
    }
    *why = "After the '/' the import id needs a connector id (32 hexadecimal characters) or an "
           "email domain (a DNS name such as example.com).";
    return SSO_IMPORT_INVALID;
}
