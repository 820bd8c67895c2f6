/*
 * fuzz_import_id.c - the import id parser (provider/sso/sso_ids.c) and the
 * identifier checks behind it.
 *
 * Input: the id as ImportResourceState receives it (a NUL ends it there,
 * as it would in a JSON string the provider reads with
 * json_string_value()). The target aborts when a parsed id does not hold
 * what the parser promises: a 32-hex account id and, by kind, a 32-hex
 * connector id or a DNS name.
 */
#include "fuzz.h"
#include "sso_ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *id = malloc(size + 1);
    if (!id)
        return 0;
    memcpy(id, data, size);
    id[size] = '\0';

    char account[SSO_ID_LEN + 1], rest[SSO_DOMAIN_MAX + 1];
    const char *why = NULL;
    sso_import_kind kind = sso_parse_import_id(id, account, rest, &why);
    switch (kind) {
    case SSO_IMPORT_BY_ID:
        if (!cfapi_id_is_valid(account) || !cfapi_id_is_valid(rest))
            abort();
        break;
    case SSO_IMPORT_BY_DOMAIN:
        if (!cfapi_id_is_valid(account) || !cfapi_domain_is_valid(rest) ||
            !cfapi_domain_equal(rest, rest))
            abort();
        break;
    case SSO_IMPORT_INVALID:
        if (!why || !why[0])
            abort(); /* every refusal explains itself */
        break;
    default:
        abort();
    }
    /* The checks on their own, on the whole text. */
    (void)cfapi_id_is_valid(id);
    if (cfapi_domain_is_valid(id) && strlen(id) > SSO_DOMAIN_MAX)
        abort();
    free(id);
    return 0;
}
