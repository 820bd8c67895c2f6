/*
 * test_grpc_framing.c - gRPC's length-prefixed messages (grpc.h): finding
 * the one message of a unary request, the prefix bytes, and grpc-message's
 * percent encoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "grpc.h"

#include <stdlib.h>
#include <string.h>

static void test_unary_exact(void **state) {
    (void)state;
    static const uint8_t body[] = {0, 0, 0, 0, 3, 'a', 'b', 'c'};
    const uint8_t *msg = NULL;
    size_t len = 99;
    assert_int_equal(grpc_frame_unary(body, sizeof(body), &msg, &len), GRPC_FRAME_OK);
    assert_ptr_equal(msg, body + 5);
    assert_int_equal(len, 3);
    /* An empty message is the five bytes 00 00 00 00 00. */
    static const uint8_t empty[] = {0, 0, 0, 0, 0};
    assert_int_equal(grpc_frame_unary(empty, sizeof(empty), &msg, &len), GRPC_FRAME_OK);
    assert_ptr_equal(msg, empty + 5);
    assert_int_equal(len, 0);
    assert_int_equal(grpc_frame_total(body, sizeof(body)), 8);
}

static void test_unary_large(void **state) {
    (void)state;
    /* A length with every prefix byte in use: big-endian. */
    size_t n = 0x01020304;
    uint8_t *body = malloc(5 + n);
    assert_non_null(body);
    grpc_frame_prefix(body, (uint32_t)n);
    assert_int_equal(body[1], 0x01);
    assert_int_equal(body[2], 0x02);
    assert_int_equal(body[3], 0x03);
    assert_int_equal(body[4], 0x04);
    const uint8_t *msg;
    size_t len;
    assert_int_equal(grpc_frame_unary(body, 5 + n, &msg, &len), GRPC_FRAME_OK);
    assert_int_equal(len, n);
    assert_int_equal(grpc_frame_unary(body, 5 + n - 1, &msg, &len), GRPC_FRAME_INCOMPLETE);
    free(body);
}

static void test_unary_incomplete(void **state) {
    (void)state;
    static const uint8_t body[] = {0, 0, 0, 0, 4, 'a', 'b', 'c'};
    const uint8_t *msg;
    size_t len;
    assert_int_equal(grpc_frame_unary(body, sizeof(body), &msg, &len), GRPC_FRAME_INCOMPLETE);
    /* A prefix cut short, at every length below five. */
    for (size_t i = 1; i < 5; i++)
        assert_int_equal(grpc_frame_unary(body, i, &msg, &len), GRPC_FRAME_INCOMPLETE);
    assert_int_equal(grpc_frame_total(body, 4), 0);
    assert_int_equal(grpc_frame_total(body, 5), 9);
    /* The largest length a prefix can announce. */
    static const uint8_t huge[] = {0, 0xff, 0xff, 0xff, 0xff, 1};
    assert_int_equal(grpc_frame_unary(huge, sizeof(huge), &msg, &len), GRPC_FRAME_INCOMPLETE);
    assert_int_equal(grpc_frame_total(huge, sizeof(huge)), (size_t)5 + 0xffffffffu);
}

static void test_unary_trailing(void **state) {
    (void)state;
    static const uint8_t two[] = {0, 0, 0, 0, 1, 'a', 0, 0, 0, 0, 1, 'b'};
    static const uint8_t extra[] = {0, 0, 0, 0, 1, 'a', 0};
    const uint8_t *msg;
    size_t len;
    assert_int_equal(grpc_frame_unary(two, sizeof(two), &msg, &len), GRPC_FRAME_TRAILING);
    assert_int_equal(grpc_frame_unary(extra, sizeof(extra), &msg, &len), GRPC_FRAME_TRAILING);
}

static void test_unary_compressed(void **state) {
    (void)state;
    static const uint8_t body[] = {1, 0, 0, 0, 1, 'a'};
    static const uint8_t other_flag[] = {0x80, 0, 0, 0, 0};
    const uint8_t *msg;
    size_t len;
    assert_int_equal(grpc_frame_unary(body, sizeof(body), &msg, &len), GRPC_FRAME_COMPRESSED);
    assert_int_equal(grpc_frame_unary(other_flag, sizeof(other_flag), &msg, &len),
                     GRPC_FRAME_COMPRESSED);
}

static void test_unary_empty(void **state) {
    (void)state;
    const uint8_t *msg = NULL;
    size_t len = 7;
    assert_int_equal(grpc_frame_unary(NULL, 0, &msg, &len), GRPC_FRAME_EMPTY);
    assert_null(msg); /* untouched */
    assert_int_equal(len, 7);
}

static void test_error_texts(void **state) {
    (void)state;
    grpc_frame_result all[] = {GRPC_FRAME_OK,       GRPC_FRAME_INCOMPLETE,
                               GRPC_FRAME_TRAILING, GRPC_FRAME_COMPRESSED,
                               GRPC_FRAME_EMPTY,    (grpc_frame_result)-99};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        const char *t = grpc_frame_error_text(all[i]);
        assert_non_null(t);
        assert_true(strlen(t) > 0);
    }
    assert_string_not_equal(grpc_frame_error_text(GRPC_FRAME_INCOMPLETE),
                            grpc_frame_error_text(GRPC_FRAME_TRAILING));
}

static void test_prefix(void **state) {
    (void)state;
    uint8_t p[GRPC_PREFIX_LEN];
    static const struct {
        uint32_t len;
        uint8_t bytes[5];
    } cases[] = {
        {0, {0, 0, 0, 0, 0}},
        {1, {0, 0, 0, 0, 1}},
        {975, {0, 0, 0, 0x03, 0xcf}},
        {0x01020304, {0, 1, 2, 3, 4}},
        {0xffffffff, {0, 0xff, 0xff, 0xff, 0xff}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(p, 0xaa, sizeof(p));
        grpc_frame_prefix(p, cases[i].len);
        assert_memory_equal(p, cases[i].bytes, 5);
    }
}

static void test_percent_encoding(void **state) {
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"Method not found!", "Method not found!"},
        {"100%", "100%25"},
        {"a\nb", "a%0Ab"},
        {"tab\there", "tab%09here"},
        {"~ and space", "~ and space"},
        {"\x7f", "%7F"},
        {"caf\xc3\xa9", "caf%C3%A9"},
        {"\x1f\x20", "%1F "},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = grpc_percent_encode(cases[i].in);
        assert_non_null(got);
        assert_string_equal(got, cases[i].out);
        free(got);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_exact),      cmocka_unit_test(test_unary_large),
        cmocka_unit_test(test_unary_incomplete), cmocka_unit_test(test_unary_trailing),
        cmocka_unit_test(test_unary_compressed), cmocka_unit_test(test_unary_empty),
        cmocka_unit_test(test_error_texts),      cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_percent_encoding),
    };
    return cmocka_run_group_tests_name("tfbridge gRPC framing", tests, NULL, NULL);
}
