/*
 * jsonrpc.h - JSON-RPC 2.0 messages: parsing one message, checking that a
 * value is a valid request object, and writing responses (internal to the
 * protocol library). Pure functions: no I/O, no server state.
 *
 * Parsing uses jansson with JSON_DECODE_ANY (so `5` or `"x"` are valid JSON
 * and get -32600, not -32700) and JSON_REJECT_DUPLICATES (a message with a
 * repeated key is ambiguous: which "id", which "method"? It is refused with
 * -32700). A raw NUL byte anywhere is refused before jansson sees the
 * text (jansson would skip one between tokens). jansson's depth limit (2048) turns very deep
 * nesting into a parse error. An integer that does not fit in 64 bits makes jansson fail; the
 * message is then parsed again with JSON_DECODE_INT_AS_REAL, so it is still
 * served (its integers read as reals).
 *
 * Responses are written with the id's exact source text (see rawjson.h), not
 * with jansson's rendering of the parsed id.
 */
#ifndef PROTOCOL_JSONRPC_H
#define PROTOCOL_JSONRPC_H

#include "dynbuf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define JSONRPC_DETAIL_MAX 200
/* The largest single answer formatted (1 GiB): a cap for the buffers
 * answers are formatted into, far above any real answer. */
#define JSONRPC_ANSWER_MAX ((size_t)1024 * 1024 * 1024)

/* Parses one message text. Returns a new reference, or NULL with *code set
 * to RPC_PARSE_ERROR (RPC_INTERNAL_ERROR when memory ran out) and `detail`
 * (JSONRPC_DETAIL_MAX bytes) describing the problem with jansson's words. */
json_t *jsonrpc_parse(const char *text, size_t len, int *code, char detail[JSONRPC_DETAIL_MAX]);

/* What a request object says. Pointers are borrowed from the message. */
typedef struct jsonrpc_call {
    const char *method; /* NULL until validated */
    json_t *id;         /* NULL when absent or of a wrong type */
    json_t *params;     /* NULL when absent */
    bool has_id;        /* an "id" member is present (maybe invalid) */
    bool id_usable;     /* the id is valid and can be echoed */
} jsonrpc_call;

/* Checks `msg` as a request object: an object, "jsonrpc": "2.0", "method" a
 * string, "id" (if present) a string, a number or null, "params" (if
 * present) an object or an array. Returns 0, or RPC_INVALID_REQUEST with a
 * static *reason. `call` is filled as far as the checks went: id_usable says
 * whether an error answer may carry the id. */
int jsonrpc_validate(json_t *msg, jsonrpc_call *call, const char **reason);

/* Returns a new malloc'd response text (no framing, no NUL counted in
 * *out_len) {"jsonrpc":"2.0","id":<id>,"result":<result>}. `id` is raw JSON
 * text (id_len bytes, e.g. "null"). `result` is stolen. NULL on allocation
 * failure. */
char *jsonrpc_format_result_new(const char *id, size_t id_len, json_t *result, size_t *out_len);

/* Same with "error": {"code", "message", "data"?}. `data` (may be NULL) is
 * stolen. A message that is not valid UTF-8 is replaced by a generic one. */
char *jsonrpc_format_error_new(const char *id, size_t id_len, int code, const char *message,
                               json_t *data, size_t *out_len);

/* The same two responses appended to `out` (a reusable buffer: no
 * allocation once it has grown), the result or error value dumped straight
 * into it. Return 0, or the buffer's error (UV_E2BIG past its cap,
 * UV_ENOMEM), in which case nothing is appended (the buffer keeps its error
 * until reset). `result` and `data` are stolen. */
int jsonrpc_append_result_new(dynbuf *out, const char *id, size_t id_len, json_t *result);
int jsonrpc_append_error_new(dynbuf *out, const char *id, size_t id_len, int code,
                             const char *message, json_t *data);

/* The standard message for a JSON-RPC error code ("Parse error", ...). */
const char *jsonrpc_error_message(int code);

#endif /* PROTOCOL_JSONRPC_H */
