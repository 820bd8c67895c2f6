/*
 * waitlist.c - see waitlist.h.
 */
#include "waitlist.h"

#include <stdlib.h>
#include <string.h>

/* Buckets of the id index (a power of two). */
#define WAIT_BUCKETS 4096u

static wait_msg **bucket_of(const waitlist *wl, uint64_t hash) {
    return &wl->buckets[hash & (WAIT_BUCKETS - 1)];
}

wait_msg *waitlist_push(waitlist *wl, const char *text, size_t len, const wait_id *id,
                        bool is_batch, bool is_stop) {
    if (!wl->buckets && !(wl->buckets = calloc(WAIT_BUCKETS, sizeof(*wl->buckets))))
        return NULL;
    wait_msg *w = malloc(sizeof(*w) + len);
    if (!w)
        return NULL;
    memset(w, 0, sizeof(*w));
    memcpy(w->text, text, len);
    w->len = len;
    w->is_batch = is_batch;
    w->is_stop = is_stop;
    if (id) {
        w->has_id = true;
        w->id_start = id->start;
        w->id_end = id->end;
        w->id_real = id->real;
        w->hash = id->hash;
        if (id->indexed) {
            /* At the chain's end, so that equal ids are found in arrival
             * order. */
            w->indexed = true;
            wait_msg **slot = bucket_of(wl, w->hash);
            while (*slot)
                slot = &(*slot)->id_next;
            *slot = w;
        }
    }
    w->prev = wl->tail;
    if (wl->tail)
        wl->tail->next = w;
    else
        wl->head = w;
    wl->tail = w;
    wl->count++;
    wl->bytes += sizeof(*w) + len;
    if (wl->bytes > wl->bytes_peak)
        wl->bytes_peak = wl->bytes;
    if (is_batch || is_stop)
        wl->special++;
    return w;
}

void waitlist_unlink(waitlist *wl, wait_msg *w) {
    if (w->prev)
        w->prev->next = w->next;
    else
        wl->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        wl->tail = w->prev;
    if (w->indexed) {
        wait_msg **slot = bucket_of(wl, w->hash);
        while (*slot && *slot != w)
            slot = &(*slot)->id_next;
        if (*slot)
            *slot = w->id_next;
    }
    w->prev = w->next = w->id_next = NULL;
    wl->count--;
    wl->bytes -= sizeof(*w) + w->len;
    if (w->is_batch || w->is_stop)
        wl->special--;
}

wait_msg *waitlist_bucket(const waitlist *wl, uint64_t hash) {
    return wl->buckets ? *bucket_of(wl, hash) : NULL;
}

void waitlist_clear(waitlist *wl) {
    while (wl->head) {
        wait_msg *w = wl->head;
        waitlist_unlink(wl, w);
        free(w);
    }
    free(wl->buckets);
    wl->buckets = NULL;
}
