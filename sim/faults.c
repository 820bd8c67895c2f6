/*
 * faults.c - fault rules: parsing, matching, listing.
 */
#include "faults.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct fault_rule {
    long id;
    char method[16]; /* "*" = any */
    char *path;      /* glob */
    long remaining;
    fault_action action;
} fault_rule;

struct faults {
    pthread_mutex_t lock;
    fault_rule *rules; /* insertion order */
    size_t n, cap;
    long next_id;
};

int faults_new(faults **out) {
    faults *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    pthread_mutex_init(&f->lock, NULL);
    f->next_id = 1;
    *out = f;
    return 0;
}

void fault_action_free(fault_action *a) {
    free(a->retry_after);
    free(a->body);
    a->retry_after = NULL;
    a->body = NULL;
}

static void rule_free(fault_rule *r) {
    free(r->path);
    fault_action_free(&r->action);
}

void faults_clear(faults *f) {
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->n; i++)
        rule_free(&f->rules[i]);
    f->n = 0;
    pthread_mutex_unlock(&f->lock);
}

void faults_free(faults *f) {
    if (!f)
        return;
    faults_clear(f);
    pthread_mutex_destroy(&f->lock);
    free(f->rules);
    free(f);
}

/*
 * Iterative glob with single-star backtracking (the classic wildmat loop):
 * remember the last '*' and where the text stood, and on a mismatch let that
 * star swallow one more character. Linear in practice, no recursion.
 */
bool faults_glob_match(const char *pattern, const char *text) {
    const char *star = NULL, *resume = NULL;
    while (*text) {
        if (*pattern == '*') {
            star = pattern++;
            resume = text;
        } else if (*pattern == *text) {
            pattern++;
            text++;
        } else if (star) {
            pattern = star + 1;
            text = ++resume;
        } else {
            return false;
        }
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
}

static json_t *rule_json(const fault_rule *r) {
    const fault_action *a = &r->action;
    json_t *o = json_pack("{s:i, s:s, s:s, s:i}", "id", (json_int_t)r->id, "method", r->method,
                          "path", r->path, "remaining", (json_int_t)r->remaining);
    if (!o)
        return NULL;
    if (a->status)
        json_object_set_new(o, "status", json_integer(a->status));
    if (a->retry_after)
        json_object_set_new(o, "retry_after", json_string(a->retry_after));
    if (a->retry_after_ms >= 0)
        json_object_set_new(o, "retry_after_ms", json_integer(a->retry_after_ms));
    if (a->body)
        json_object_set_new(o, "body", json_stringn(a->body, a->body_len));
    if (a->delay_ms)
        json_object_set_new(o, "delay_ms", json_integer(a->delay_ms));
    if (a->drop)
        json_object_set_new(o, "drop",
                            json_string(a->drop == FAULT_DROP_BEFORE ? "before" : "after"));
    return o;
}

/* Reads an optional integer member within [min, max]; -1 when mistyped or
 * out of range. */
static int opt_int(json_t *spec, const char *name, long min, long max, long *out, char *err,
                   size_t errlen) {
    json_t *v = json_object_get(spec, name);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        snprintf(err, errlen, "%s must be an integer from %ld to %ld", name, min, max);
        return -1;
    }
    *out = (long)json_integer_value(v);
    return 0;
}

/* Checks that a header value is printable ASCII (no CR/LF injection). */
static bool is_header_safe(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/*
 * Parses and checks a rule. Combinations that cannot mean anything are
 * refused here rather than silently ignored: a dropped connection carries no
 * status, and Retry-After or a custom body need a status to travel with.
 */
static int parse_rule(json_t *spec, fault_rule *r, char *err, size_t errlen) {
    static const char *const allowed[] = {
        "method",         "path", "count",    "status", "retry_after",
        "retry_after_ms", "body", "delay_ms", "drop",   NULL};
    memset(r, 0, sizeof(*r));
    r->action.retry_after_ms = -1;
    if (!json_is_object(spec)) {
        snprintf(err, errlen, "the body must be a JSON object");
        return -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach(spec, key, value) {
        bool known = false;
        for (size_t i = 0; allowed[i]; i++)
            known = known || strcmp(key, allowed[i]) == 0;
        if (!known) {
            snprintf(err, errlen, "unknown field %s", key);
            return -1;
        }
    }
    json_t *m = json_object_get(spec, "method");
    const char *method = m ? json_string_value(m) : "*";
    if (!method || strlen(method) == 0 || strlen(method) >= sizeof(r->method) ||
        !is_header_safe(method)) {
        snprintf(err, errlen, "method must be an HTTP method name or \"*\"");
        return -1;
    }
    for (size_t i = 0; method[i]; i++)
        r->method[i] = (char)(method[i] >= 'a' && method[i] <= 'z' ? method[i] - 32 : method[i]);
    const char *path = json_string_value(json_object_get(spec, "path"));
    if (json_object_get(spec, "path") && (!path || path[0] == '\0' || strlen(path) > 1024)) {
        snprintf(err, errlen, "path must be a non-empty glob of at most 1024 characters");
        return -1;
    }
    r->path = strdup(path ? path : "*");
    r->remaining = 1;
    long status = 0, delay = 0;
    if (!r->path || opt_int(spec, "count", 1, 1000000, &r->remaining, err, errlen) < 0 ||
        opt_int(spec, "status", 200, 599, &status, err, errlen) < 0 ||
        opt_int(spec, "retry_after_ms", 0, 86400000, &r->action.retry_after_ms, err, errlen) < 0 ||
        opt_int(spec, "delay_ms", 0, FAULTS_MAX_DELAY_MS, &delay, err, errlen) < 0)
        return -1;
    r->action.status = (int)status;
    r->action.delay_ms = delay;
    json_t *ra = json_object_get(spec, "retry_after");
    if (ra) {
        char buf[64];
        if (json_is_integer(ra) && json_integer_value(ra) >= 0)
            snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(ra));
        else if (json_is_string(ra) && json_string_length(ra) > 0 && json_string_length(ra) < 64 &&
                 is_header_safe(json_string_value(ra)))
            snprintf(buf, sizeof(buf), "%s", json_string_value(ra));
        else {
            snprintf(err, errlen, "retry_after must be a header value (seconds or an HTTP date)");
            return -1;
        }
        r->action.retry_after = strdup(buf);
        if (!r->action.retry_after)
            return -1;
    }
    json_t *body = json_object_get(spec, "body");
    if (body) {
        if (!json_is_string(body) || json_string_length(body) > FAULTS_MAX_BODY) {
            snprintf(err, errlen, "body must be a string of at most %d bytes", FAULTS_MAX_BODY);
            return -1;
        }
        r->action.body_len = json_string_length(body);
        r->action.body = malloc(r->action.body_len + 1);
        if (!r->action.body)
            return -1;
        memcpy(r->action.body, json_string_value(body), r->action.body_len + 1);
    }
    json_t *drop = json_object_get(spec, "drop");
    if (drop) {
        const char *d = json_string_value(drop);
        if (d && strcmp(d, "before") == 0)
            r->action.drop = FAULT_DROP_BEFORE;
        else if (d && strcmp(d, "after") == 0)
            r->action.drop = FAULT_DROP_AFTER;
        else {
            snprintf(err, errlen, "drop must be \"before\" or \"after\"");
            return -1;
        }
    }
    if (r->action.drop && r->action.status) {
        snprintf(err, errlen,
                 "status and drop cannot be combined: a dropped request is not "
                 "answered");
        return -1;
    }
    if (!r->action.status && (r->action.retry_after || r->action.retry_after_ms >= 0)) {
        snprintf(err, errlen, "retry_after and retry_after_ms need a status");
        return -1;
    }
    if (!r->action.status && r->action.body) {
        snprintf(err, errlen, "body needs a status");
        return -1;
    }
    if (r->action.status && r->action.status < 400 && !r->action.body) {
        snprintf(err, errlen, "a status below 400 needs a body");
        return -1;
    }
    if (!r->action.status && !r->action.drop && !r->action.delay_ms) {
        snprintf(err, errlen, "a fault needs at least one of status, delay_ms or drop");
        return -1;
    }
    return 0;
}

int faults_add(faults *f, json_t *spec, json_t **added, char *err, size_t errlen) {
    fault_rule r;
    *added = NULL;
    err[0] = '\0';
    if (parse_rule(spec, &r, err, errlen) < 0) {
        if (!err[0])
            snprintf(err, errlen, "out of memory");
        rule_free(&r);
        return -1;
    }
    int rc = 0;
    pthread_mutex_lock(&f->lock);
    if (f->n >= FAULTS_MAX_RULES) {
        snprintf(err, errlen, "too many fault rules (at most %d)", FAULTS_MAX_RULES);
        rc = -1;
    } else if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        fault_rule *grown = realloc(f->rules, cap * sizeof(*grown));
        if (grown) {
            f->rules = grown;
            f->cap = cap;
        } else {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    if (rc == 0) {
        r.id = f->next_id++;
        f->rules[f->n++] = r;
        *added = rule_json(&r);
    }
    pthread_mutex_unlock(&f->lock);
    if (rc < 0)
        rule_free(&r);
    return rc;
}

/* Copies an action; its strings are duplicated. Returns 0 or -1. */
static int action_copy(const fault_action *src, fault_action *dst) {
    *dst = *src;
    dst->retry_after = NULL;
    dst->body = NULL;
    if (src->retry_after && !(dst->retry_after = strdup(src->retry_after)))
        return -1;
    if (src->body) {
        dst->body = malloc(src->body_len + 1);
        if (!dst->body) {
            fault_action_free(dst);
            return -1;
        }
        memcpy(dst->body, src->body, src->body_len + 1);
    }
    return 0;
}

bool faults_take(faults *f, const char *method, const char *path, fault_action *out) {
    bool matched = false;
    memset(out, 0, sizeof(*out));
    out->retry_after_ms = -1;
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->n; i++) {
        fault_rule *r = &f->rules[i];
        if (strcmp(r->method, "*") != 0 && strcasecmp(r->method, method) != 0)
            continue;
        if (!faults_glob_match(r->path, path))
            continue;
        matched = action_copy(&r->action, out) == 0;
        if (--r->remaining == 0) {
            rule_free(r);
            memmove(r, r + 1, (f->n - i - 1) * sizeof(*r));
            f->n--;
        }
        break;
    }
    pthread_mutex_unlock(&f->lock);
    return matched;
}

json_t *faults_list(faults *f) {
    json_t *list = json_array();
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; list && i < f->n; i++)
        json_array_append_new(list, rule_json(&f->rules[i]));
    pthread_mutex_unlock(&f->lock);
    return json_pack("{s:o}", "faults", list);
}
