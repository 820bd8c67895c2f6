/*
 * reqlog.c - the request log ring.
 */
#include "reqlog.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct reqlog {
    pthread_mutex_t lock;
    json_t **ring;
    size_t *sizes;       /* sizes[i]: the size of ring[i] */
    size_t cap, head, n; /* oldest at head */
    size_t bytes, max_bytes;
    size_t dropped;   /* entries pushed out since the last clear */
    size_t in_flight; /* requests added and not yet done */
};

int reqlog_new(reqlog **out, size_t cap, size_t max_bytes) {
    reqlog *l = calloc(1, sizeof(*l));
    if (!l || cap == 0 || max_bytes == 0)
        goto fail;
    l->ring = calloc(cap, sizeof(*l->ring));
    l->sizes = calloc(cap, sizeof(*l->sizes));
    if (!l->ring || !l->sizes)
        goto fail;
    l->cap = cap;
    l->max_bytes = max_bytes;
    pthread_mutex_init(&l->lock, NULL);
    *out = l;
    return 0;
fail:
    if (l) {
        free(l->ring);
        free(l->sizes);
    }
    free(l);
    return -1;
}

void reqlog_clear(reqlog *l) {
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->n; i++)
        json_decref(l->ring[(l->head + i) % l->cap]);
    l->head = l->n = 0;
    l->bytes = l->dropped = 0;
    pthread_mutex_unlock(&l->lock);
}

void reqlog_free(reqlog *l) {
    if (!l)
        return;
    reqlog_clear(l);
    pthread_mutex_destroy(&l->lock);
    free(l->ring);
    free(l->sizes);
    free(l);
}

const char *reqlog_mask(const char *lname, const char *value, char *buf, size_t len) {
    if (strcmp(lname, "authorization") == 0) {
        /* Keep the scheme so a test can see which one was used. */
        if (strncasecmp(value, "Bearer ", 7) == 0)
            snprintf(buf, len, "Bearer ***");
        else
            snprintf(buf, len, "***");
        return buf;
    }
    if (strcmp(lname, "x-auth-key") == 0) {
        snprintf(buf, len, "***");
        return buf;
    }
    return value;
}

/*
 * A JSON string for client bytes: as-is when they are valid UTF-8, else
 * with every byte outside printable ASCII replaced by '?', so one odd byte
 * never loses the whole entry.
 */
json_t *reqlog_string(const char *s, size_t len) {
    json_t *v = json_stringn(s, len);
    if (v)
        return v;
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        copy[i] = (c >= 0x80 || (c < 0x20 && c != '\t' && c != '\n' && c != '\r')) ? '?' : s[i];
    }
    v = json_stringn(copy, len);
    free(copy);
    return v;
}

json_t *reqlog_entry_new(const char *method, const char *path, const char *query, json_t *headers,
                         const char *body, size_t body_len) {
    json_t *masked = json_object();
    const char *name;
    json_t *value;
    char buf[32];
    json_object_foreach(headers, name, value) {
        const char *v = json_string_value(value);
        json_object_set_new(masked, name,
                            json_string(v ? reqlog_mask(name, v, buf, sizeof(buf)) : ""));
    }
    json_decref(headers);
    json_t *body_json = NULL;
    if (body && body_len)
        body_json = json_loadb(body, body_len, JSON_DECODE_ANY, NULL);
    return json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o}", "method", reqlog_string(method, strlen(method)), "path",
        reqlog_string(path, strlen(path)), "query", reqlog_string(query, strlen(query)), "headers",
        masked ? masked : json_object(), "body",
        body && body_len ? reqlog_string(body, body_len) : json_null(), "body_json",
        body_json ? body_json : json_null());
}

/* The length of a JSON string member, 0 when absent or not a string. */
static size_t member_len(const json_t *entry, const char *key) {
    return json_string_length(json_object_get(entry, key));
}

/*
 * The size an entry is counted at (see reqlog.h): its text, the body twice
 * when it was parsed (the parsed copy holds about as much again), and a
 * fixed overhead. Cheap: no walk of the parsed body.
 */
static size_t entry_size(const json_t *entry) {
    size_t n = REQLOG_ENTRY_OVERHEAD + member_len(entry, "method") + member_len(entry, "path") +
               member_len(entry, "query") + member_len(entry, "body");
    const json_t *parsed = json_object_get(entry, "body_json");
    if (parsed && !json_is_null(parsed))
        n += member_len(entry, "body");
    const char *name;
    json_t *value;
    json_t *headers = json_object_get(entry, "headers");
    json_object_foreach(headers, name, value) n += strlen(name) + json_string_length(value);
    return n;
}

/* Drops the oldest entry. Called with the lock held and n > 0. */
static void drop_oldest(reqlog *l) {
    json_decref(l->ring[l->head]);
    l->ring[l->head] = NULL;
    l->bytes -= l->sizes[l->head];
    l->head = (l->head + 1) % l->cap;
    l->n--;
    l->dropped++;
}

/*
 * Counts the request as in flight even when its entry could not be made, so
 * that every reqlog_add_new is balanced by one reqlog_done. The entry records the
 * count, itself included, which lets a test see after the fact how many
 * requests a client had outstanding at once.
 */
void reqlog_add_new(reqlog *l, json_t *entry) {
    pthread_mutex_lock(&l->lock);
    l->in_flight++;
    if (!entry) {
        pthread_mutex_unlock(&l->lock);
        return;
    }
    json_object_set_new(entry, "in_flight", json_integer((json_int_t)l->in_flight));
    size_t size = entry_size(entry);
    /* Oldest first, until both caps hold with the new entry in. */
    while (l->n > 0 && (l->n == l->cap || l->bytes + size > l->max_bytes))
        drop_oldest(l);
    size_t slot = (l->head + l->n) % l->cap;
    l->ring[slot] = entry;
    l->sizes[slot] = size;
    l->bytes += size;
    l->n++;
    pthread_mutex_unlock(&l->lock);
}

void reqlog_done(reqlog *l) {
    pthread_mutex_lock(&l->lock);
    if (l->in_flight > 0)
        l->in_flight--;
    pthread_mutex_unlock(&l->lock);
}

/*
 * Dumps under the lock: entries are never changed once logged, but holding
 * the lock keeps a concurrent reqlog_add_new from dropping an entry while it is
 * being written out.
 */
char *reqlog_dump(reqlog *l) {
    json_t *list = json_array();
    json_t *doc = json_pack("{s:o}", "requests", list);
    char *text = NULL;
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; doc && i < l->n; i++)
        json_array_append(list, l->ring[(l->head + i) % l->cap]);
    if (doc) {
        json_object_set_new(doc, "bytes", json_integer((json_int_t)l->bytes));
        json_object_set_new(doc, "max_bytes", json_integer((json_int_t)l->max_bytes));
        json_object_set_new(doc, "dropped", json_integer((json_int_t)l->dropped));
    }
    text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    pthread_mutex_unlock(&l->lock);
    return text;
}

void reqlog_stats(reqlog *l, size_t *entries, size_t *bytes, size_t *dropped) {
    pthread_mutex_lock(&l->lock);
    *entries = l->n;
    *bytes = l->bytes;
    *dropped = l->dropped;
    pthread_mutex_unlock(&l->lock);
}
