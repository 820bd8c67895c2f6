/*
 * test_dynbuf.c - the capped growable buffer: adds up to the cap succeed,
 * every add past it fails with UV_E2BIG and leaves the data as it was, the
 * error is sticky until reset, the allocation never passes cap + 1, and
 * take/reset/free leave a reusable buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dynbuf.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

static void test_empty(void **state) {
    (void)state;
    dynbuf b;
    dynbuf_init(&b, 10);
    assert_null(dynbuf_ptr(&b));
    assert_int_equal(dynbuf_len(&b), 0);
    assert_int_equal(dynbuf_room(&b), 10);
    size_t len = 99;
    char *s = dynbuf_take(&b, &len);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    dynbuf_free(&b);
    dynbuf_free(&b); /* twice is fine */
}

static void test_add_up_to_cap(void **state) {
    (void)state;
    dynbuf b;
    dynbuf_init(&b, 10);
    assert_int_equal(dynbuf_adds(&b, "hello"), 0);
    assert_int_equal(dynbuf_addc(&b, ' '), 0);
    assert_int_equal(dynbuf_add(&b, "worl", 4), 0);
    assert_int_equal(dynbuf_len(&b), 10);
    assert_string_equal(dynbuf_ptr(&b), "hello worl");
    assert_true(b.alloc <= 11);
    assert_int_equal(dynbuf_room(&b), 0);
    dynbuf_free(&b);
}

static void test_past_cap_fails_cleanly(void **state) {
    (void)state;
    dynbuf b;
    dynbuf_init(&b, 8);
    assert_int_equal(dynbuf_adds(&b, "abcdef"), 0);
    assert_int_equal(dynbuf_adds(&b, "ghi"), UV_E2BIG);
    /* Nothing of the failed add went in, and the data is still there. */
    assert_string_equal(dynbuf_ptr(&b), "abcdef");
    assert_int_equal(dynbuf_len(&b), 6);
    assert_int_equal(dynbuf_error(&b), UV_E2BIG);
    /* Sticky: even an add that would fit fails until reset. */
    assert_int_equal(dynbuf_addc(&b, 'g'), UV_E2BIG);
    assert_int_equal(dynbuf_addf(&b, "%d", 1), UV_E2BIG);
    assert_null(dynbuf_take(&b, NULL)); /* a failed buffer hands nothing over */
    assert_int_equal(dynbuf_len(&b), 0);
    /* Reusable after that, with the same cap. */
    assert_int_equal(dynbuf_adds(&b, "12345678"), 0);
    assert_int_equal(dynbuf_addc(&b, '9'), UV_E2BIG);
    dynbuf_reset(&b);
    assert_int_equal(dynbuf_error(&b), 0);
    assert_int_equal(dynbuf_len(&b), 0);
    assert_string_equal(dynbuf_ptr(&b), "");
    assert_int_equal(dynbuf_adds(&b, "x"), 0);
    dynbuf_free(&b);
}

static void test_huge_length_does_not_overflow(void **state) {
    (void)state;
    dynbuf b;
    dynbuf_init(&b, 16);
    assert_int_equal(dynbuf_adds(&b, "ab"), 0);
    /* A length taken from input must not wrap the cap check. */
    assert_int_equal(dynbuf_add(&b, "x", SIZE_MAX), UV_E2BIG);
    assert_int_equal(dynbuf_add(&b, "x", SIZE_MAX - 1), UV_E2BIG);
    assert_string_equal(dynbuf_ptr(&b), "ab");
    dynbuf_free(&b);
}

static void test_growth_never_passes_cap(void **state) {
    (void)state;
    dynbuf b;
    dynbuf_init(&b, 5000);
    size_t added = 0;
    while (dynbuf_addc(&b, 'z') == 0) {
        added++;
        assert_true(b.alloc <= 5001);
        assert_true(b.alloc >= b.len + 1);
        assert_int_equal(dynbuf_ptr(&b)[b.len], '\0');
    }
    assert_int_equal(added, 5000);
    assert_int_equal(b.alloc, 5001);
    dynbuf_free(&b);
}

static void test_addf(void **state) {
    (void)state;
    dynbuf b;
    dynbuf_init(&b, 1000);
    assert_int_equal(dynbuf_addf(&b, "%s=%d", "a", 1), 0);
    /* Longer than the first allocation: grows once and formats again. */
    char big[600];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(dynbuf_addf(&b, ",%s", big), 0);
    assert_int_equal(dynbuf_len(&b), 3 + 1 + 599);
    assert_memory_equal(dynbuf_ptr(&b), "a=1,qqq", 7);
    /* Past the cap: fails, and the text before is intact and terminated. */
    assert_int_equal(dynbuf_addf(&b, "%s", big), UV_E2BIG);
    assert_int_equal(dynbuf_len(&b), 603);
    assert_int_equal(strlen(dynbuf_ptr(&b)), 603);
    dynbuf_free(&b);
}

static void test_take_and_shrink(void **state) {
    (void)state;
    dynbuf b;
    dynbuf_init(&b, 100000);
    char chunk[1000];
    memset(chunk, 'k', sizeof(chunk));
    for (int i = 0; i < 50; i++)
        assert_int_equal(dynbuf_add(&b, chunk, sizeof(chunk)), 0);
    dynbuf_reset_shrink(&b, 4096); /* big: released */
    assert_null(dynbuf_ptr(&b));
    assert_int_equal(b.alloc, 0);
    assert_int_equal(dynbuf_adds(&b, "small"), 0);
    size_t keep = b.alloc;
    dynbuf_reset_shrink(&b, 4096); /* small: kept */
    assert_int_equal(b.alloc, keep);
    assert_int_equal(dynbuf_adds(&b, "taken"), 0);
    size_t len = 0;
    char *s = dynbuf_take(&b, &len);
    assert_string_equal(s, "taken");
    assert_int_equal(len, 5);
    free(s);
    assert_null(dynbuf_ptr(&b));
    assert_int_equal(dynbuf_adds(&b, "again"), 0);
    assert_string_equal(dynbuf_ptr(&b), "again");
    dynbuf_free(&b);
}

static void test_binary_data(void **state) {
    (void)state;
    dynbuf b;
    dynbuf_init(&b, 64);
    assert_int_equal(dynbuf_add(&b, "a\0b", 3), 0);
    assert_int_equal(dynbuf_add(&b, NULL, 0), 0);
    assert_int_equal(dynbuf_len(&b), 3);
    assert_memory_equal(dynbuf_ptr(&b), "a\0b\0", 4);
    dynbuf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_add_up_to_cap),
        cmocka_unit_test(test_past_cap_fails_cleanly),
        cmocka_unit_test(test_huge_length_does_not_overflow),
        cmocka_unit_test(test_growth_never_passes_cap),
        cmocka_unit_test(test_addf),
        cmocka_unit_test(test_take_and_shrink),
        cmocka_unit_test(test_binary_data),
    };
    return cmocka_run_group_tests_name("protocol_dynbuf", tests, NULL, NULL);
}
