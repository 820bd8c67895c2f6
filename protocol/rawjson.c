/*
 * rawjson.c - walking an already-validated JSON text to find the bytes of a
 * value. Nesting is tracked with a counter, never with recursion, so any
 * depth jansson accepted is walked in constant stack.
 */
#include "rawjson.h"

#include <jansson.h>
#include <string.h>

static size_t skip_ws(const char *t, size_t pos, size_t end) {
    while (pos < end && (t[pos] == ' ' || t[pos] == '\t' || t[pos] == '\r' || t[pos] == '\n'))
        pos++;
    return pos;
}

/* pos is at the opening quote; returns the offset just past the closing
 * quote, or end when the string is not terminated. */
static size_t skip_string(const char *t, size_t pos, size_t end) {
    pos++;
    while (pos < end) {
        if (t[pos] == '\\')
            pos += 2;
        else if (t[pos] == '"')
            return pos + 1;
        else
            pos++;
    }
    return end;
}

/* Skips one value starting at pos (no leading whitespace). Returns the
 * offset just past it, or end on malformed input. */
static size_t skip_value(const char *t, size_t pos, size_t end) {
    if (pos >= end)
        return end;
    char c = t[pos];
    if (c == '"')
        return skip_string(t, pos, end);
    if (c == '{' || c == '[') {
        size_t depth = 0;
        while (pos < end) {
            c = t[pos];
            if (c == '"') {
                pos = skip_string(t, pos, end);
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return pos + 1;
            }
            pos++;
        }
        return end;
    }
    /* A number or a literal: runs to the next delimiter. */
    while (pos < end && !strchr(",]} \t\r\n", t[pos]))
        pos++;
    return pos;
}

/* True when the JSON string token t[start, stop) decodes to `key`. */
static bool key_equals(const char *t, size_t start, size_t stop, const char *key) {
    size_t klen = strlen(key);
    if (stop - start < 2)
        return false;
    const char *body = t + start + 1;
    size_t blen = stop - start - 2;
    if (!memchr(body, '\\', blen))
        return blen == klen && memcmp(body, key, klen) == 0;
    json_t *s = json_loadb(t + start, stop - start, JSON_DECODE_ANY, NULL);
    bool eq = s && json_is_string(s) && json_string_length(s) == klen &&
              memcmp(json_string_value(s), key, klen) == 0;
    json_decref(s);
    return eq;
}

int rawjson_find_member(const char *text, rawjson_span span, const char *key, rawjson_span *value) {
    size_t end = span.end;
    size_t pos = skip_ws(text, span.start, end);
    if (pos >= end || text[pos] != '{')
        return -1;
    pos = skip_ws(text, pos + 1, end);
    bool found = false;
    while (pos < end && text[pos] == '"') {
        size_t kstart = pos;
        pos = skip_string(text, pos, end);
        size_t kend = pos;
        pos = skip_ws(text, pos, end);
        if (pos >= end || text[pos] != ':')
            return -1;
        pos = skip_ws(text, pos + 1, end);
        size_t vstart = pos;
        pos = skip_value(text, pos, end);
        if (key_equals(text, kstart, kend, key)) {
            value->start = vstart;
            value->end = pos;
            found = true;
        }
        pos = skip_ws(text, pos, end);
        if (pos < end && text[pos] == ',')
            pos = skip_ws(text, pos + 1, end);
        else
            break;
    }
    return found ? 0 : -1;
}

int rawjson_array_begin(rawjson_iter *it, const char *text, rawjson_span span) {
    size_t pos = skip_ws(text, span.start, span.end);
    if (pos >= span.end || text[pos] != '[')
        return -1;
    it->text = text;
    it->pos = pos + 1;
    it->end = span.end;
    it->first = true;
    return 0;
}

int rawjson_array_next(rawjson_iter *it, rawjson_span *elem) {
    size_t pos = skip_ws(it->text, it->pos, it->end);
    if (pos >= it->end)
        return -1;
    if (it->text[pos] == ']') {
        it->pos = pos;
        return 0;
    }
    if (!it->first) {
        if (it->text[pos] != ',')
            return -1;
        pos = skip_ws(it->text, pos + 1, it->end);
    }
    it->first = false;
    elem->start = pos;
    elem->end = skip_value(it->text, pos, it->end);
    it->pos = elem->end;
    return elem->end > elem->start ? 1 : -1;
}
