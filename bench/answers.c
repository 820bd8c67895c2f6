/*
 * answers.c - see answers.h. Answers are parsed with jansson after the run,
 * one line at a time; ids are the integers the driver gave its requests.
 */
#include "answers.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks one answer; returns its id, or -1 with why filled in. */
static long check_one(json_t *msg, size_t n, size_t reads_from, char *why, size_t why_len) {
    json_t *id = json_object_get(msg, "id");
    json_t *result = json_object_get(msg, "result");
    json_t *diags = json_object_get(result, "diagnostics");
    if (!json_is_integer(id) || json_integer_value(id) < 0 || (size_t)json_integer_value(id) >= n) {
        snprintf(why, why_len, "an answer with an unexpected id");
        return -1;
    }
    long i = (long)json_integer_value(id);
    if (!json_is_string(json_object_get(msg, "jsonrpc")) ||
        strcmp(json_string_value(json_object_get(msg, "jsonrpc")), "2.0") != 0) {
        snprintf(why, why_len, "id %ld: jsonrpc is not \"2.0\"", i);
        return -1;
    }
    if (json_object_get(msg, "error") || !json_is_object(result)) {
        snprintf(why, why_len, "id %ld: an error, not a result", i);
        return -1;
    }
    if (!json_is_array(diags) || json_array_size(diags) != 0) {
        snprintf(why, why_len, "id %ld: diagnostics missing or not empty", i);
        return -1;
    }
    if ((size_t)i >= reads_from && !json_is_object(json_object_get(result, "new_state"))) {
        snprintf(why, why_len, "id %ld: no new_state object", i);
        return -1;
    }
    return i;
}

int bm_check_answers(const char *out, size_t n, size_t reads_from, char *why, size_t why_len) {
    unsigned char *seen = calloc(n ? n : 1, 1);
    size_t count = 0;
    int rc = 0;
    for (const char *p = out; *p && rc == 0;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        json_error_t err;
        json_t *msg = json_loadb(p, len, 0, &err);
        if (!msg) {
            snprintf(why, why_len, "an answer that is not JSON: %s", err.text);
            rc = -1;
            break;
        }
        long i = check_one(msg, n, reads_from, why, why_len);
        json_decref(msg);
        if (i < 0) {
            rc = -1;
        } else if (seen[i]++) {
            snprintf(why, why_len, "id %ld answered twice", i);
            rc = -1;
        }
        count++;
        p += len + (nl ? 1 : 0);
    }
    if (rc == 0 && count != n) {
        snprintf(why, why_len, "%zu answers for %zu requests", count, n);
        rc = -1;
    }
    free(seen);
    return rc;
}

/* Each id's result (new references) from a run's output. */
static json_t **results_by_id(const char *out, size_t n) {
    json_t **r = calloc(n ? n : 1, sizeof(*r));
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        json_t *msg = json_loadb(p, len, 0, NULL);
        json_t *id = json_object_get(msg, "id");
        if (json_is_integer(id) && json_integer_value(id) >= 0 &&
            (size_t)json_integer_value(id) < n && !r[json_integer_value(id)])
            r[json_integer_value(id)] = json_incref(json_object_get(msg, "result"));
        json_decref(msg);
        p += len + (nl ? 1 : 0);
    }
    return r;
}

size_t bm_compare_results(const char *a, const char *b, size_t n, size_t *compared, char *why,
                          size_t why_len) {
    json_t **ra = results_by_id(a, n), **rb = results_by_id(b, n);
    size_t differ = 0;
    *compared = 0;
    for (size_t i = 0; i < n; i++) {
        (*compared)++;
        if (ra[i] && rb[i] && json_equal(ra[i], rb[i]))
            continue;
        if (differ++ == 0) {
            char *ta = ra[i] ? json_dumps(ra[i], JSON_COMPACT) : NULL;
            char *tb = rb[i] ? json_dumps(rb[i], JSON_COMPACT) : NULL;
            snprintf(why, why_len, "id %zu: %.300s | %.300s", i, ta ? ta : "(none)",
                     tb ? tb : "(none)");
            free(ta);
            free(tb);
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_decref(ra[i]);
        json_decref(rb[i]);
    }
    free(ra);
    free(rb);
    return differ;
}
