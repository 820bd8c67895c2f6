/*
 * grpc.h - gRPC's message framing and status conventions over HTTP/2
 * (internal to the bridge). Pure functions: no I/O.
 *
 * A gRPC message travels as a 5-byte prefix (a compressed flag, then the
 * length as a big-endian uint32) followed by the protobuf bytes. A unary
 * request carries exactly one message; its DATA frames may cut it anywhere.
 * The status ends the response in trailers (grpc-status, grpc-message), or
 * in the only HEADERS frame of a "trailers-only" error answer.
 */
#ifndef TFBRIDGE_GRPC_H
#define TFBRIDGE_GRPC_H

#include <stddef.h>
#include <stdint.h>

#define GRPC_PREFIX_LEN 5

/* The status codes the bridge uses (grpc's codes.proto). */
enum {
    GRPC_OK = 0,
    GRPC_CANCELLED = 1,
    GRPC_UNKNOWN = 2,
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_UNIMPLEMENTED = 12,
    GRPC_INTERNAL = 13,
    GRPC_UNAVAILABLE = 14,
};

typedef enum grpc_frame_result {
    GRPC_FRAME_OK = 0,
    GRPC_FRAME_INCOMPLETE = -1, /* fewer bytes than the prefix announces */
    GRPC_FRAME_TRAILING = -2,   /* bytes after the one message */
    GRPC_FRAME_COMPRESSED = -3, /* compressed flag set: never negotiated */
    GRPC_FRAME_EMPTY = -4,      /* no message at all */
} grpc_frame_result;

/* Finds the one message in a unary request body. On GRPC_FRAME_OK, *msg and
 * *msg_len point into `body`. */
grpc_frame_result grpc_frame_unary(const uint8_t *body, size_t len, const uint8_t **msg,
                                   size_t *msg_len);

/* How long a whole framed message is, once its prefix is there: the prefix
 * plus the announced length, or 0 when fewer than 5 bytes are given. */
size_t grpc_frame_total(const uint8_t *data, size_t len);

/* Writes the prefix of an uncompressed message of msg_len bytes. */
void grpc_frame_prefix(uint8_t out[GRPC_PREFIX_LEN], uint32_t msg_len);

/* grpc-message's encoding: printable ASCII except '%' as is, every other
 * byte as %XX. New malloc'd string, or NULL when memory ran out. */
char *grpc_percent_encode(const char *text);

/* What a grpc_frame_result means, for a status message. Static string. */
const char *grpc_frame_error_text(grpc_frame_result r);

#endif /* TFBRIDGE_GRPC_H */
