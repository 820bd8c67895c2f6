/*
 * fuzz_framing.c - libFuzzer target for the input path: the framing
 * decoder (fed in chunks whose sizes come from the input) and, for every
 * message it yields, the JSON-RPC parser, validator, raw id scanner and
 * response formatter, as the server runs them.
 *
 * Input: one byte for the chunk size, then the bytes of the stream.
 * fuzz/run.sh builds and runs it (docs/RELIABILITY.md).
 */
#include "framing.h"
#include "fuzz.h"
#include "jsonrpc.h"
#include "protocol.h"
#include "rawjson.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void examine_call(json_t *msg, const char *text, rawjson_span span) {
    jsonrpc_call call;
    const char *reason = NULL;
    int code = jsonrpc_validate(msg, &call, &reason);
    const char *id = "null";
    size_t id_len = 4;
    rawjson_span v;
    if (call.id_usable && rawjson_find_member(text, span, "id", &v) == 0) {
        id = text + v.start;
        id_len = v.end - v.start;
    }
    size_t len;
    char *out = code ? jsonrpc_format_error_new(id, id_len, code, NULL, json_string(reason), &len)
                     : jsonrpc_format_result_new(id, id_len, json_incref(msg), &len);
    if (out) {
        /* What we write must be valid JSON. */
        json_t *back = json_loadb(out, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
        if (!back) {
            fprintf(stderr, "response is not JSON: %.*s\n", (int)len, out);
            abort();
        }
        json_decref(back);
    }
    free(out);
}

static int on_event(framing_event ev, const char *text, size_t len, void *arg) {
    (void)arg;
    if (ev != FRAMING_MESSAGE)
        return 0;
    int code;
    char detail[JSONRPC_DETAIL_MAX];
    json_t *msg = jsonrpc_parse(text, len, &code, detail);
    if (!msg)
        return 0;
    rawjson_span whole = {0, len};
    if (json_is_array(msg)) {
        rawjson_iter it;
        rawjson_span elem;
        if (rawjson_array_begin(&it, text, whole) == 0) {
            for (size_t i = 0; i < json_array_size(msg); i++) {
                if (rawjson_array_next(&it, &elem) != 1) {
                    fprintf(stderr, "scanner lost element %zu of: %.*s\n", i, (int)len, text);
                    abort(); /* jansson and the scanner disagree */
                }
                examine_call(json_array_get(msg, i), text, elem);
            }
        }
    } else {
        examine_call(msg, text, whole);
    }
    json_decref(msg);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    /* First byte: chunk size (1..256); small limits reach the skip paths. */
    size_t chunk = (size_t)data[0] + 1;
    framing_decoder d;
    framing_decoder_init(&d, 512, 128);
    const char *p = (const char *)data + 1;
    size_t left = size - 1;
    while (left > 0) {
        size_t n = left < chunk ? left : chunk;
        framing_decoder_feed(&d, p, n, on_event, NULL);
        if (framing_decoder_buffer_size(&d) > 513)
            abort(); /* the buffer must stay within its limit */
        p += n;
        left -= n;
    }
    framing_decoder_finish(&d, on_event, NULL);
    framing_decoder_free(&d);
    return 0;
}
