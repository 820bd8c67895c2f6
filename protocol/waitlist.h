/*
 * waitlist.h - messages waiting for a slot in the JSON-RPC server, kept as
 * their text, in arrival order, with an index of their ids.
 *
 * The server (server.c) decides what waits, what runs and what a cancel
 * does; this module only keeps the messages: a FIFO of copies, a hash index
 * by id for $/cancelRequest, and the byte count the server's input hold is
 * judged on (each message's text plus its bookkeeping). The index has a
 * fixed number of buckets; a chain averages a few entries at the server's
 * cap of 2 MiB of waiting messages.
 */
#ifndef PROTOCOL_WAITLIST_H
#define PROTOCOL_WAITLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One waiting message. */
typedef struct wait_msg {
    struct wait_msg *prev, *next; /* the FIFO, arrival order */
    struct wait_msg *id_next;     /* its id-index bucket (indexed only) */
    uint64_t hash;                /* the id's hash (the server's id_hash) */
    size_t len;
    size_t id_start, id_end; /* the id's text in text[] */
    bool has_id;             /* a single request with a usable id */
    bool indexed;            /* in the id index */
    bool id_real;            /* its id was read as a real */
    bool is_batch, is_stop;
    char text[];
} wait_msg;

/* Where a message's id is, for waitlist_push (NULL: it has none). */
typedef struct wait_id {
    size_t start, end; /* its text in the message */
    uint64_t hash;
    bool real;    /* read as a real (an overflowing number made it one) */
    bool indexed; /* findable by waitlist_bucket (a cancel may name it) */
} wait_id;

typedef struct waitlist {
    wait_msg *head, *tail;
    wait_msg **buckets; /* allocated on the first push */
    size_t count;
    size_t bytes, bytes_peak; /* text plus bookkeeping, of every message */
    size_t special;           /* waiting batches and StopProviders */
} waitlist;

/* Appends a copy of `text` (len bytes). Returns the entry, or NULL when
 * memory ran out (nothing was added). */
wait_msg *waitlist_push(waitlist *wl, const char *text, size_t len, const wait_id *id,
                        bool is_batch, bool is_stop);
/* Takes w off the list and the index; the caller frees it (free()). */
void waitlist_unlink(waitlist *wl, wait_msg *w);
/* The first entry of the index chain where an id of this hash would be,
 * or NULL; follow id_next and compare hash and id. */
wait_msg *waitlist_bucket(const waitlist *wl, uint64_t hash);
/* Frees every entry and the index; the list is empty and reusable. */
void waitlist_clear(waitlist *wl);

#endif /* PROTOCOL_WAITLIST_H */
