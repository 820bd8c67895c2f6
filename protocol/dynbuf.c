/*
 * dynbuf.c - the capped growable buffer. See dynbuf.h for the contract.
 */
#include "dynbuf.h"

#include <uv.h>

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first allocation: small buffers (log lines, ids) fit at once. */
#define DYNBUF_FIRST_ALLOC 256

void dynbuf_init(dynbuf *b, size_t max) {
    assert(max > 0 && max < (size_t)-1 / 2);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->max = max;
    b->error = 0;
}

void dynbuf_free(dynbuf *b) {
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->error = 0;
}

void dynbuf_reset(dynbuf *b) {
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
    b->error = 0;
}

void dynbuf_reset_shrink(dynbuf *b, size_t keep) {
    if (b->alloc > keep)
        dynbuf_free(b);
    else
        dynbuf_reset(b);
}

/*
 * Makes room for n more bytes and the NUL. The check against the cap comes
 * first and is written so that it cannot overflow: n may be anything the
 * input says. The new size doubles from the old one but is clamped to
 * max + 1, so a buffer never holds more memory than its cap allows.
 */
static int grow(dynbuf *b, size_t n) {
    if (n > b->max - b->len)
        return UV_E2BIG;
    size_t need = b->len + n + 1;
    if (need <= b->alloc)
        return 0;
    size_t want = b->alloc ? b->alloc : DYNBUF_FIRST_ALLOC;
    while (want < need)
        want = want > (b->max + 1) / 2 ? b->max + 1 : want * 2;
    if (want > b->max + 1)
        want = b->max + 1;
    char *p = realloc(b->data, want);
    if (!p)
        return UV_ENOMEM;
    b->data = p;
    b->alloc = want;
    return 0;
}

int dynbuf_add(dynbuf *b, const void *mem, size_t n) {
    if (b->error)
        return b->error;
    int rc = grow(b, n);
    if (rc) {
        b->error = rc;
        return rc;
    }
    if (n)
        memcpy(b->data + b->len, mem, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int dynbuf_adds(dynbuf *b, const char *s) {
    return dynbuf_add(b, s, strlen(s));
}

int dynbuf_addc(dynbuf *b, char c) {
    return dynbuf_add(b, &c, 1);
}

/* Formats straight into the buffer when the text fits in what is already
 * allocated; else measures it, grows once, and formats again. */
int dynbuf_vaddf(dynbuf *b, const char *fmt, va_list ap) {
    if (b->error)
        return b->error;
    va_list copy;
    va_copy(copy, ap);
    size_t room = b->alloc > b->len ? b->alloc - b->len : 0;
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, copy);
    va_end(copy);
    if (n < 0) {
        b->error = UV_EINVAL;
        if (b->data)
            b->data[b->len] = '\0';
        return b->error;
    }
    if ((size_t)n < room && (size_t)n <= b->max - b->len) {
        b->len += (size_t)n;
        return 0;
    }
    if (b->data)
        b->data[b->len] = '\0'; /* undo a partial write past the cap */
    int rc = grow(b, (size_t)n);
    if (rc) {
        b->error = rc;
        return rc;
    }
    va_copy(copy, ap);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, copy);
    va_end(copy);
    b->len += (size_t)n;
    return 0;
}

int dynbuf_addf(dynbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = dynbuf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *dynbuf_take(dynbuf *b, size_t *len) {
    if (b->error) {
        dynbuf_free(b);
        return NULL;
    }
    char *out = b->data;
    size_t n = b->len;
    if (!out) {
        out = malloc(1);
        if (!out)
            return NULL;
        out[0] = '\0';
    }
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    if (len)
        *len = n;
    return out;
}
