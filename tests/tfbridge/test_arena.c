/*
 * test_arena.c - the bump allocator answers are built in: zeroed, aligned
 * memory, copies, oversized requests, the sticky failure flag, reuse after
 * arena_free.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arena.h"

#include <stdalign.h>
#include <string.h>

static bool all_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (p[i])
            return false;
    }
    return true;
}

static void test_alloc_zeroed_aligned(void **state) {
    (void)state;
    arena a = ARENA_INIT;
    /* Enough small pieces to need several blocks. */
    for (size_t i = 1; i < 3000; i++) {
        size_t n = i % 97 + 1;
        unsigned char *p = arena_alloc(&a, n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
        assert_true(all_zero(p, n));
        memset(p, 0xee, n); /* must not touch any other piece */
    }
    assert_false(arena_failed(&a));
    /* Zero bytes still gives a distinct usable pointer. */
    void *z1 = arena_alloc(&a, 0);
    void *z2 = arena_alloc(&a, 0);
    assert_non_null(z1);
    assert_non_null(z2);
    assert_ptr_not_equal(z1, z2);
    arena_free(&a);
}

static void test_pieces_do_not_overlap(void **state) {
    (void)state;
    arena a = ARENA_INIT;
    enum { N = 500 };
    unsigned char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = arena_alloc(&a, 40);
        memset(p[i], i & 0xff, 40);
    }
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 40; k++)
            assert_int_equal(p[i][k], i & 0xff);
    }
    arena_free(&a);
}

static void test_large_allocation(void **state) {
    (void)state;
    arena a = ARENA_INIT;
    unsigned char *small = arena_alloc(&a, 10);
    memset(small, 1, 10);
    /* Larger than a block: a block of its own. */
    size_t big = 1u << 20;
    unsigned char *p = arena_alloc(&a, big);
    assert_non_null(p);
    assert_true(all_zero(p, big));
    memset(p, 2, big);
    /* Small pieces still come after it, and the first is intact. */
    unsigned char *after = arena_alloc(&a, 10);
    assert_non_null(after);
    assert_true(all_zero(after, 10));
    for (int i = 0; i < 10; i++)
        assert_int_equal(small[i], 1);
    arena_free(&a);
}

static void test_copies(void **state) {
    (void)state;
    arena a = ARENA_INIT;
    char *s = arena_strdup(&a, "cloudflare_sso_connector");
    assert_string_equal(s, "cloudflare_sso_connector");
    char *e = arena_strdup(&a, "");
    assert_string_equal(e, "");
    static const unsigned char bytes[] = {0, 1, 2, 0xff, 0};
    unsigned char *m = arena_memdup(&a, bytes, sizeof(bytes));
    assert_memory_equal(m, bytes, sizeof(bytes));
    assert_ptr_not_equal(m, bytes);
    assert_non_null(arena_memdup(&a, NULL, 0));
    arena_free(&a);
}

static void test_failure_is_sticky(void **state) {
    (void)state;
    arena a = ARENA_INIT;
    assert_non_null(arena_alloc(&a, 8));
    /* A size that cannot be rounded up (or allocated). */
    assert_null(arena_alloc(&a, SIZE_MAX));
    assert_true(arena_failed(&a));
    assert_null(arena_alloc(&a, 1));
    assert_null(arena_strdup(&a, "x"));
    assert_null(arena_memdup(&a, "x", 1));
    /* arena_free resets it: the arena can be used again. */
    arena_free(&a);
    assert_false(arena_failed(&a));
    assert_non_null(arena_alloc(&a, 8));
    assert_null(arena_alloc(&a, SIZE_MAX - 8));
    assert_true(arena_failed(&a));
    arena_free(&a);
    arena_free(&a); /* twice is harmless */
}

static void test_reuse(void **state) {
    (void)state;
    arena a = ARENA_INIT;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 100; i++)
            assert_non_null(arena_alloc(&a, 300));
        arena_free(&a);
        assert_null(a.blocks);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_zeroed_aligned), cmocka_unit_test(test_pieces_do_not_overlap),
        cmocka_unit_test(test_large_allocation),     cmocka_unit_test(test_copies),
        cmocka_unit_test(test_failure_is_sticky),    cmocka_unit_test(test_reuse),
    };
    return cmocka_run_group_tests_name("tfbridge arena", tests, NULL, NULL);
}
