/*
 * arena.h - a bump allocator for building one protobuf answer (internal to
 * the bridge).
 *
 * protobuf-c messages are trees of structs, strings and arrays. An answer is
 * built piece by piece, packed, and thrown away; an arena lets every piece
 * come from one place and go in one arena_free(), so no error path leaks
 * and no field needs its own free. Allocation failure is sticky: after one,
 * every later allocation returns NULL too and arena_failed() says so, so a
 * builder can check once, at the end.
 */
#ifndef TFBRIDGE_ARENA_H
#define TFBRIDGE_ARENA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct arena_block arena_block;

typedef struct arena {
    arena_block *blocks;
    bool failed;
} arena;

#define ARENA_INIT                                                                                 \
    { NULL, false }

/* Zeroed memory for n bytes, aligned for any type; NULL on failure. */
void *arena_alloc(arena *a, size_t n);
/* A copy of n bytes (not NUL-terminated); NULL on failure. */
void *arena_memdup(arena *a, const void *data, size_t n);
/* A copy of a NUL-terminated string; NULL on failure. */
char *arena_strdup(arena *a, const char *s);
/* True once any allocation failed. */
bool arena_failed(const arena *a);
/* Frees everything; the arena can be used again. */
void arena_free(arena *a);

#endif /* TFBRIDGE_ARENA_H */
