/*
 * validate.c - input checks shared by the API and the control plane.
 */
#include "validate.h"

#include <stdio.h>
#include <string.h>

bool validate_is_hex32(const char *s) {
    size_t i = 0;
    if (!s)
        return false;
    for (; s[i]; i++) {
        char c = s[i];
        bool is_hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!is_hex || i >= 32)
            return false;
    }
    return i == 32;
}

/*
 * Walks the name label by label. A trailing dot (the DNS root) is refused:
 * Cloudflare stores email domains without it, and accepting both spellings
 * would let one domain exist twice in an account.
 */
bool validate_is_domain(const char *s) {
    if (!s)
        return false;
    size_t len = strlen(s);
    if (len == 0 || len > 253)
        return false;
    size_t labels = 0;
    const char *p = s;
    bool last_all_digits = false;
    while (*p) {
        const char *start = p;
        bool all_digits = true;
        while (*p && *p != '.') {
            char c = *p;
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-';
            if (!ok)
                return false;
            if (c < '0' || c > '9')
                all_digits = false;
            p++;
        }
        size_t n = (size_t)(p - start);
        if (n == 0 || n > 63 || start[0] == '-' || start[n - 1] == '-')
            return false;
        labels++;
        last_all_digits = all_digits;
        if (*p == '.') {
            p++;
            if (*p == '\0')
                return false; /* trailing dot */
        }
    }
    return labels >= 2 && !last_all_digits;
}

int validate_parse_object(const char *body, size_t len, bool empty_ok, json_t **out, char *err,
                          size_t errlen) {
    *out = NULL;
    if (!body || len == 0) {
        if (empty_ok) {
            *out = json_object();
            return *out ? 0 : -1;
        }
        snprintf(err, errlen, "Malformed JSON in request body: the body is empty");
        return -1;
    }
    json_error_t jerr;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v) {
        snprintf(err, errlen, "Malformed JSON in request body: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        return -1;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        snprintf(err, errlen, "Malformed JSON in request body: the body must be a JSON object");
        return -1;
    }
    *out = v;
    return 0;
}

const char *validate_unknown_member(json_t *obj, const char *const allowed[]) {
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value) {
        bool known = false;
        for (size_t i = 0; allowed[i]; i++) {
            if (strcmp(key, allowed[i]) == 0) {
                known = true;
                break;
            }
        }
        if (!known)
            return key;
    }
    return NULL;
}

int validate_opt_bool(json_t *obj, const char *name, bool *out, bool *present) {
    json_t *v = json_object_get(obj, name);
    *present = false;
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return -1;
    *out = json_is_true(v);
    *present = true;
    return 0;
}
