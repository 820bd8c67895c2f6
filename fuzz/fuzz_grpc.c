/*
 * fuzz_grpc.c - gRPC's message framing as the bridge reads a request body
 * (tfbridge/grpc.c): grpc_frame_unary, grpc_frame_total, and the
 * percent-encoding of a grpc-message built from the input.
 *
 * The target aborts when a message found lies outside the body, or when an
 * encoded grpc-message holds a byte a header value may not.
 */
#include "fuzz.h"
#include "grpc.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *msg = NULL;
    size_t msg_len = 0;
    grpc_frame_result r = grpc_frame_unary(data, size, &msg, &msg_len);
    if (r == GRPC_FRAME_OK) {
        if (msg < data + GRPC_PREFIX_LEN || msg + msg_len != data + size)
            abort();
        uint8_t prefix[GRPC_PREFIX_LEN];
        grpc_frame_prefix(prefix, (uint32_t)msg_len);
        if (memcmp(prefix + 1, data + 1, 4) != 0)
            abort();
    }
    if (!grpc_frame_error_text(r))
        abort();
    size_t total = grpc_frame_total(data, size);
    if ((size < GRPC_PREFIX_LEN) != (total == 0))
        abort();

    char *text = strndup((const char *)data, size);
    char *enc = text ? grpc_percent_encode(text) : NULL;
    if (enc) {
        for (const char *c = enc; *c; c++)
            if (*c < 0x20 || *c > 0x7e)
                abort();
    }
    free(enc);
    free(text);
    return 0;
}
