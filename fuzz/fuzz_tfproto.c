/*
 * fuzz_tfproto.c - Terraform's requests as the bridge reads them: the
 * generated tfplugin6 unpacker of each method the bridge serves, then the
 * bridge's own translation of the decoded request into the contract's
 * params (tfbridge/bridge.c's params_* functions: the type name resolved
 * in the schema, every DynamicValue decoded from msgpack or JSON through
 * the schema's types, private state, import ids), then the answer the
 * bridge would give if the child failed the call (answer_* with no result,
 * diagnostics only), packed.
 *
 * Input: one byte picks the method (bridge.c's table), the rest is the
 * protobuf message. bridge.c is compiled into the target (its functions
 * are static); the bridge around it is a struct with the provider's real
 * schema loaded and no child, which is all the translation reads.
 */
#include "../tfbridge/bridge.c"

#include "fuzz.h"
#include "schema.h"
#include "sso_schema.h"

static bridge fuzz_bridge;

/* The provider's GetProviderSchema result, built as provider.c builds it. */
static json_t *provider_schema(void) {
    return json_pack("{s:o, s:{s:o}, s:{s:o, s:o}, s:[]}", "provider",
                     schema_block_to_json(&sso_provider_schema), "resource_schemas",
                     SSO_CONNECTOR_TYPE, schema_block_to_json(&sso_connector_schema),
                     "data_source_schemas", SSO_CONNECTOR_TYPE,
                     schema_block_to_json(&sso_connector_data_schema), SSO_CONNECTORS_TYPE,
                     schema_block_to_json(&sso_connectors_data_schema), "diagnostics");
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    log_configure(LOG_LEVEL_OFF, false);
    json_t *result = provider_schema();
    char err[TFSCHEMA_ERR_MAX];
    if (!result || tfschema_load(&fuzz_bridge.schema, result, "cloudflare_", err) != 0) {
        fprintf(stderr, "fuzz_tfproto: schema: %s\n", result ? err : "out of memory");
        abort();
    }
    json_decref(result);
    fuzz_bridge.schema_ready = true;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    if (!fuzz_bridge.schema_ready)
        LLVMFuzzerInitialize(NULL, NULL);
    const method_spec *m = &methods[data[0] % (sizeof(methods) / sizeof(methods[0]))];
    ProtobufCMessage *req = protobuf_c_message_unpack(m->req_desc, NULL, size - 1, data + 1);
    if (!req)
        return 0;
    bridge_op op = {.b = &fuzz_bridge, .m = m, .req = req};
    arena a = ARENA_INIT;
    tfdiags d = {0};
    json_t *params = m->params(&op, &a, &d);
    if (!params && !tfdiags_has_error(&d))
        abort(); /* a refused request says why */
    if (params) {
        /* The child failed the call: the answer carries diagnostics only. */
        rpc_client_error failed = {.code = RPC_INTERNAL_ERROR, .message = "fuzz"};
        add_rpc_error(&a, &d, &op, &failed);
    }
    json_decref(params);

    ProtobufCMessage *resp;
    if (m->answer) {
        resp = m->answer(&op, NULL, &a, &d);
    } else {
        resp = answer_diags_only(&a, m->diags_desc, &d);
    }
    if (resp) {
        size_t len = protobuf_c_message_get_packed_size(resp);
        uint8_t *buf = malloc(len ? len : 1);
        if (buf && protobuf_c_message_pack(resp, buf) != len)
            abort();
        free(buf);
    }
    arena_free(&a);
    protobuf_c_message_free_unpacked(req, NULL);
    log_clear_secrets(); /* register_secrets() keeps every configured token */
    return 0;
}
