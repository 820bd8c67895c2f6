/*
 * jsonrpc.c - JSON-RPC 2.0 message parsing, request validation and response
 * formatting. See jsonrpc.h.
 */
#include "jsonrpc.h"

#include "protocol.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARSE_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES)

json_t *jsonrpc_parse(const char *text, size_t len, int *code, char detail[JSONRPC_DETAIL_MAX]) {
    /* A raw NUL byte is never valid JSON, but jansson skips one between
     * tokens ("[1\0,2]" parses), which would make its reading and ours of
     * the same text differ. Refuse it first. */
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        *code = RPC_PARSE_ERROR;
        snprintf(detail, JSONRPC_DETAIL_MAX, "NUL byte in message (position %zu)",
                 (size_t)(nul - text));
        return NULL;
    }
    json_error_t err;
    json_t *msg = json_loadb(text, len, PARSE_FLAGS, &err);
    if (!msg && json_error_code(&err) == json_error_numeric_overflow) {
        /* An integer past 64 bits: read every integer as a real instead. A
         * real that overflows a double fails again and is reported. */
        msg = json_loadb(text, len, PARSE_FLAGS | JSON_DECODE_INT_AS_REAL, &err);
    }
    if (msg)
        return msg;
    *code =
        json_error_code(&err) == json_error_out_of_memory ? RPC_INTERNAL_ERROR : RPC_PARSE_ERROR;
    snprintf(detail, JSONRPC_DETAIL_MAX, "%s (line %d, column %d, position %d)", err.text, err.line,
             err.column, err.position);
    return NULL;
}

int jsonrpc_validate(json_t *msg, jsonrpc_call *call, const char **reason) {
    memset(call, 0, sizeof(*call));
    if (!json_is_object(msg)) {
        *reason = "a request must be a JSON object";
        return RPC_INVALID_REQUEST;
    }
    json_t *id = json_object_get(msg, "id");
    if (id) {
        call->has_id = true;
        if (!json_is_string(id) && !json_is_number(id) && !json_is_null(id)) {
            *reason = "\"id\" must be a string, a number or null";
            return RPC_INVALID_REQUEST;
        }
        call->id = id;
        call->id_usable = true;
    }
    json_t *version = json_object_get(msg, "jsonrpc");
    if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0) {
        *reason = "\"jsonrpc\" must be \"2.0\"";
        return RPC_INVALID_REQUEST;
    }
    json_t *method = json_object_get(msg, "method");
    if (!json_is_string(method)) {
        *reason = "\"method\" must be a string";
        return RPC_INVALID_REQUEST;
    }
    json_t *params = json_object_get(msg, "params");
    if (params && !json_is_object(params) && !json_is_array(params)) {
        *reason = "\"params\" must be an object or an array";
        return RPC_INVALID_REQUEST;
    }
    call->method = json_string_value(method);
    call->params = params;
    return 0;
}

/* json_dump_callback() sink: appends to a dynbuf. */
static int dump_to_dynbuf(const char *buffer, size_t size, void *data) {
    return dynbuf_add(data, buffer, size) == 0 ? 0 : -1;
}

/* Appends {"jsonrpc":"2.0","id":<id>,<member>:<value>} to out, dumping
 * value straight into the buffer (no intermediate string). Borrows value.
 * On failure what was appended is taken back. */
static int append_response(dynbuf *out, const char *id, size_t id_len, const char *member,
                           json_t *value, size_t flags) {
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
    size_t start = dynbuf_len(out);
    dynbuf_add(out, head, sizeof(head) - 1);
    dynbuf_add(out, id, id_len);
    dynbuf_adds(out, member);
    if (dynbuf_error(out) == 0 && json_dump_callback(value, dump_to_dynbuf, out, flags) != 0 &&
        dynbuf_error(out) == 0)
        out->error = UV_ENOMEM; /* jansson failed by itself: treat as memory */
    dynbuf_addc(out, '}');
    int err = dynbuf_error(out);
    if (err) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return err;
}

int jsonrpc_append_result_new(dynbuf *out, const char *id, size_t id_len, json_t *result) {
    if (!result)
        return UV_EINVAL;
    int rc =
        append_response(out, id, id_len, ",\"result\":", result, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(result);
    return rc;
}

int jsonrpc_append_error_new(dynbuf *out, const char *id, size_t id_len, int code,
                             const char *message, json_t *data) {
    json_t *text = json_string(message ? message : jsonrpc_error_message(code));
    if (!text)
        text = json_string(jsonrpc_error_message(code));
    json_t *err = json_pack("{s:i, s:o}", "code", code, "message", text);
    if (err && data) {
        if (json_object_set_new(err, "data", data) != 0) {
            json_decref(err);
            err = NULL;
        }
    } else {
        json_decref(data);
    }
    if (!err)
        return UV_ENOMEM;
    int rc = append_response(out, id, id_len, ",\"error\":", err, JSON_COMPACT);
    json_decref(err);
    return rc;
}

/* The string forms: formatted into a fresh uncapped buffer and handed over. */
char *jsonrpc_format_result_new(const char *id, size_t id_len, json_t *result, size_t *out_len) {
    dynbuf b;
    dynbuf_init(&b, JSONRPC_ANSWER_MAX);
    if (jsonrpc_append_result_new(&b, id, id_len, result) != 0) {
        dynbuf_free(&b);
        return NULL;
    }
    return dynbuf_take(&b, out_len);
}

char *jsonrpc_format_error_new(const char *id, size_t id_len, int code, const char *message,
                               json_t *data, size_t *out_len) {
    dynbuf b;
    dynbuf_init(&b, JSONRPC_ANSWER_MAX);
    if (jsonrpc_append_error_new(&b, id, id_len, code, message, data) != 0) {
        dynbuf_free(&b);
        return NULL;
    }
    return dynbuf_take(&b, out_len);
}

const char *jsonrpc_error_message(int code) {
    switch (code) {
    case RPC_PARSE_ERROR:
        return "Parse error";
    case RPC_INVALID_REQUEST:
        return "Invalid Request";
    case RPC_METHOD_NOT_FOUND:
        return "Method not found";
    case RPC_INVALID_PARAMS:
        return "Invalid params";
    case RPC_INTERNAL_ERROR:
        return "Internal error";
    case RPC_REQUEST_CANCELLED:
        return "Request cancelled";
    default:
        return "Server error";
    }
}
