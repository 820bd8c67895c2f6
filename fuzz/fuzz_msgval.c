/*
 * fuzz_msgval.c - Terraform's msgpack values (tfbridge/msgval.c): decoding
 * through a schema type, and encoding the decoded JSON back.
 *
 * Input: one byte picks the type (the sso_connector resource's object type,
 * the provider block's, a data source's, "dynamic", or a few containers);
 * the rest is the msgpack value. Whatever decodes must encode again under
 * the same type (the bridge sends answers built from such values), and what
 * is encoded must decode to the same JSON.
 */
#include "fuzz.h"
#include "msgval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_texts[] = {
    /* sso_connector, as msgval_block_type() derives it from the schema */
    "[\"object\",{\"account_id\":\"string\",\"begin_verification\":\"bool\","
    "\"created_on\":\"string\",\"email_domain\":\"string\",\"enabled\":\"bool\","
    "\"id\":\"string\",\"updated_on\":\"string\",\"use_fedramp_language\":\"bool\","
    "\"verification\":[\"object\",{\"code\":\"string\",\"status\":\"string\"}]}]",
    "[\"object\",{\"api_token\":\"string\",\"api_key\":\"string\",\"email\":\"string\","
    "\"base_url\":\"string\",\"max_retries\":\"number\",\"request_timeout\":\"number\","
    "\"max_rps\":\"number\"}]",
    "[\"object\",{\"account_id\":\"string\",\"connectors\":[\"list\",[\"object\",{\"id\":"
    "\"string\",\"email_domain\":\"string\",\"enabled\":\"bool\"}]]}]",
    "\"dynamic\"",
    "[\"map\",[\"set\",\"number\"]]",
    "[\"tuple\",[\"string\",\"bool\",\"dynamic\"]]",
    "[\"list\",\"dynamic\"]",
    "\"string\"",
};
#define N_TYPES (sizeof(type_texts) / sizeof(type_texts[0]))
static json_t *types[N_TYPES];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < N_TYPES; i++) {
        types[i] = json_loads(type_texts[i], JSON_DECODE_ANY, NULL);
        if (!types[i] || msgval_type_check(types[i], NULL) != 0)
            abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    if (!types[0])
        LLVMFuzzerInitialize(NULL, NULL);
    const json_t *type = types[data[0] % N_TYPES];
    json_t *value = NULL;
    char err[MSGVAL_ERR_MAX];
    if (msgval_decode(data + 1, size - 1, type, &value, err) != 0) {
        if (value || !err[0])
            abort();
        return 0;
    }
    char *out = NULL;
    size_t out_len = 0;
    int rc = msgval_encode(value, type, &out, &out_len, err);
    if (rc == MSGVAL_ETYPE)
        abort();
    if (rc == 0) {
        json_t *back = NULL;
        if (msgval_decode(out, out_len, type, &back, err) != 0) {
            fprintf(stderr, "re-encoded value does not decode: %s\n", err);
            abort();
        }
        json_decref(back);
    }
    free(out);
    json_decref(value);
    return 0;
}
