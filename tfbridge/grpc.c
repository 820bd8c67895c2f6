/*
 * grpc.c - gRPC length-prefixed messages and grpc-message encoding.
 */
#include "grpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t read_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

size_t grpc_frame_total(const uint8_t *data, size_t len) {
    if (len < GRPC_PREFIX_LEN)
        return 0;
    return GRPC_PREFIX_LEN + (size_t)read_be32(data + 1);
}

grpc_frame_result grpc_frame_unary(const uint8_t *body, size_t len, const uint8_t **msg,
                                   size_t *msg_len) {
    if (len == 0)
        return GRPC_FRAME_EMPTY;
    if (len < GRPC_PREFIX_LEN)
        return GRPC_FRAME_INCOMPLETE;
    if (body[0] != 0)
        return GRPC_FRAME_COMPRESSED;
    size_t total = grpc_frame_total(body, len);
    if (len < total)
        return GRPC_FRAME_INCOMPLETE;
    if (len > total)
        return GRPC_FRAME_TRAILING;
    *msg = body + GRPC_PREFIX_LEN;
    *msg_len = total - GRPC_PREFIX_LEN;
    return GRPC_FRAME_OK;
}

void grpc_frame_prefix(uint8_t out[GRPC_PREFIX_LEN], uint32_t msg_len) {
    out[0] = 0;
    out[1] = (uint8_t)(msg_len >> 24);
    out[2] = (uint8_t)(msg_len >> 16);
    out[3] = (uint8_t)(msg_len >> 8);
    out[4] = (uint8_t)msg_len;
}

char *grpc_percent_encode(const char *text) {
    size_t len = strlen(text);
    char *out = malloc(3 * len + 1);
    if (!out)
        return NULL;
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c <= 0x7e && c != '%') {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 0xf];
        }
    }
    out[n] = '\0';
    return out;
}

const char *grpc_frame_error_text(grpc_frame_result r) {
    switch (r) {
    case GRPC_FRAME_OK:
        return "ok";
    case GRPC_FRAME_INCOMPLETE:
        return "the request ended inside a message";
    case GRPC_FRAME_TRAILING:
        return "a unary request carried more than one message";
    case GRPC_FRAME_COMPRESSED:
        return "compressed messages are not supported (no grpc-encoding was negotiated)";
    case GRPC_FRAME_EMPTY:
        return "the request carried no message";
    }
    return "malformed message";
}
