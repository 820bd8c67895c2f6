/*
 * dynbuf.h - the one growable byte buffer of the production code, capped at
 * creation (the idea of curl's lib/curlx/dynbuf.c; STYLE.md: "cap every
 * buffer that grows from input at creation").
 *
 * The cap (`max`) is the most bytes the buffer may ever hold, not counting
 * the NUL that always follows the data, and it is given once, at init: no
 * caller can forget it. Every add either appends everything or nothing.
 * Past the cap it fails with UV_E2BIG, when memory runs out with UV_ENOMEM;
 * in both cases the data already held is left as it was and the error is
 * remembered (dynbuf_error()) until the next reset, so a series of adds can
 * be checked once at the end. Growth doubles, never past max + 1 bytes.
 *
 * A dynbuf allocates nothing until the first add; dynbuf_free() (or
 * dynbuf_take()) releases it and leaves it ready for reuse with the same cap.
 */
#ifndef PROTOCOL_DYNBUF_H
#define PROTOCOL_DYNBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct dynbuf {
    char *data;   /* NULL until the first add; always NUL-terminated after */
    size_t len;   /* bytes held, without the NUL */
    size_t alloc; /* bytes allocated (len + 1 <= alloc <= max + 1) */
    size_t max;   /* the cap: most bytes it may hold */
    int error;    /* 0, or the first failure since init/reset/free */
} dynbuf;

/* Sets up an empty buffer that will hold at most `max` bytes (max > 0).
 * Allocates nothing and cannot fail. */
void dynbuf_init(dynbuf *b, size_t max);
/* Releases the memory; the buffer is empty again, with the same cap. */
void dynbuf_free(dynbuf *b);
/* Empties the buffer and clears its error, keeping the allocation. */
void dynbuf_reset(dynbuf *b);
/* Empties the buffer and clears its error; releases the allocation when it
 * is bigger than `keep` bytes (one large message should not pin its memory
 * for the rest of a session). */
void dynbuf_reset_shrink(dynbuf *b, size_t keep);

/* Appends n bytes. Returns 0, UV_E2BIG (the cap would be passed) or
 * UV_ENOMEM; on failure nothing is appended. A buffer that has failed keeps
 * failing with the same error until reset. */
int dynbuf_add(dynbuf *b, const void *mem, size_t n);
/* Appends a C string (without its NUL). */
int dynbuf_adds(dynbuf *b, const char *s);
/* Appends one byte. */
int dynbuf_addc(dynbuf *b, char c);
/* Appends printf-style text. */
int dynbuf_addf(dynbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dynbuf_vaddf(dynbuf *b, const char *fmt, va_list ap);

/* Hands the data over to the caller (malloc'd, NUL-terminated; its length
 * in *len when len is not NULL) and leaves the buffer empty. An empty buffer
 * gives a new "" string. Returns NULL when the buffer has failed or memory
 * ran out (the buffer is then freed). */
char *dynbuf_take(dynbuf *b, size_t *len);

/* The data (borrowed; NULL while nothing was ever added), its length, the
 * room left under the cap, and the first error since the last reset. */
static inline const char *dynbuf_ptr(const dynbuf *b) {
    return b->data;
}
static inline size_t dynbuf_len(const dynbuf *b) {
    return b->len;
}
static inline size_t dynbuf_room(const dynbuf *b) {
    return b->max - b->len;
}
static inline int dynbuf_error(const dynbuf *b) {
    return b->error;
}

#endif /* PROTOCOL_DYNBUF_H */
