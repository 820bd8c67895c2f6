/*
 * rawjson.h - finding the exact source text of a value inside a JSON text
 * that jansson has already accepted (internal to the protocol library).
 *
 * jansson gives us values, not their spelling: 1.50 comes back as 1.5, an
 * integer past 64 bits cannot be held at all, and a real is printed with 17
 * significant digits. JSON-RPC wants the id echoed exactly, so the server
 * copies the id's bytes from the request instead of printing the parsed
 * value. These helpers walk a JSON text without building anything. They
 * assume the text is valid JSON (they never read past `len`, but on invalid
 * input they just report "not found").
 */
#ifndef PROTOCOL_RAWJSON_H
#define PROTOCOL_RAWJSON_H

#include <stdbool.h>
#include <stddef.h>

/* A span [start, end) of bytes in the text. */
typedef struct rawjson_span {
    size_t start, end;
} rawjson_span;

/* Finds the value of member `key` in the object that is the first value of
 * text[span.start, span.end). When the key appears more than once, the last
 * one wins (as in jansson). Keys are compared after decoding escapes.
 * Returns 0 and sets *value, or -1 when absent or not an object. */
int rawjson_find_member(const char *text, rawjson_span span, const char *key, rawjson_span *value);

/* Iterates over the elements of the array that is the first value of
 * text[span.start, span.end). */
typedef struct rawjson_iter {
    const char *text;
    size_t pos, end;
    bool first;
} rawjson_iter;

/* Returns 0 when the span holds an array, -1 otherwise. */
int rawjson_array_begin(rawjson_iter *it, const char *text, rawjson_span span);
/* Returns 1 and sets *elem for the next element, 0 at the end, -1 on
 * malformed input. */
int rawjson_array_next(rawjson_iter *it, rawjson_span *elem);

#endif /* PROTOCOL_RAWJSON_H */
