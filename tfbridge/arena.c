/*
 * arena.c - blocks of at least 16 KiB, carved front to back; an oversized
 * request gets a block of its own.
 */
#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK_SIZE 16384

struct arena_block {
    arena_block *next;
    size_t used, size;
    alignas(max_align_t) unsigned char data[];
};

void *arena_alloc(arena *a, size_t n) {
    if (a->failed)
        return NULL;
    size_t align = alignof(max_align_t);
    n = n ? n : 1;
    if (n > SIZE_MAX - align) {
        a->failed = true;
        return NULL;
    }
    size_t rounded = (n + align - 1) & ~(align - 1);
    arena_block *b = a->blocks;
    if (!b || b->size - b->used < rounded) {
        size_t size = rounded > ARENA_BLOCK_SIZE ? rounded : ARENA_BLOCK_SIZE;
        b = malloc(sizeof(*b) + size);
        if (!b) {
            a->failed = true;
            return NULL;
        }
        b->used = 0;
        b->size = size;
        b->next = a->blocks;
        a->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += rounded;
    memset(p, 0, n);
    return p;
}

void *arena_memdup(arena *a, const void *data, size_t n) {
    void *p = arena_alloc(a, n);
    if (p && n)
        memcpy(p, data, n);
    return p;
}

char *arena_strdup(arena *a, const char *s) {
    return arena_memdup(a, s, strlen(s) + 1);
}

bool arena_failed(const arena *a) {
    return a->failed;
}

void arena_free(arena *a) {
    arena_block *b = a->blocks;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->blocks = NULL;
    a->failed = false;
}
