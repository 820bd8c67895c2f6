/*
 * test_framing.c - the framing decoder, table-driven.
 *
 * Each case is an input stream and the events it must produce, written as
 * a string: "M:<body>" for a message, "L" for too large, "B" for a bad
 * header block, "T" for truncated, joined by "|". Every case is run three
 * ways - in one chunk, split in two at every byte boundary, and one byte at
 * a time - and must give the same events each time, with the decoder's
 * buffer never above its limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "framing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct recorder {
    char *text;
    size_t len, cap;
    size_t count;
    char last_reason[128];
    int stop_after; /* return 1 from the callback after this many events; 0: never */
} recorder;

static void rec_add(recorder *r, const char *s, size_t n) {
    if (r->len + n + 1 > r->cap) {
        r->cap = (r->len + n + 1) * 2;
        r->text = realloc(r->text, r->cap);
        assert_non_null(r->text);
    }
    memcpy(r->text + r->len, s, n);
    r->len += n;
    r->text[r->len] = '\0';
}

static int record(framing_event ev, const char *data, size_t len, void *arg) {
    recorder *r = arg;
    if (r->count++)
        rec_add(r, "|", 1);
    switch (ev) {
    case FRAMING_MESSAGE:
        rec_add(r, "M:", 2);
        rec_add(r, data, len);
        break;
    case FRAMING_TOO_LARGE:
        rec_add(r, "L", 1);
        break;
    case FRAMING_BAD_HEADER:
        rec_add(r, "B", 1);
        assert_non_null(data);
        assert_int_equal(strlen(data), len);
        snprintf(r->last_reason, sizeof(r->last_reason), "%s", data);
        break;
    case FRAMING_TRUNCATED:
        rec_add(r, "T", 1);
        break;
    case FRAMING_NO_MEMORY:
        rec_add(r, "N", 1);
        break;
    }
    return r->stop_after && (int)r->count >= r->stop_after ? 1 : 0;
}

typedef struct fcase {
    const char *name;
    const char *input;
    size_t max_message; /* 0: default */
    size_t max_header;  /* 0: default */
    framing_mode mode;
    const char *expect;
} fcase;

#define PAD100                                                                                     \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
    "aaaaaaaa"

static const fcase cases[] = {
    {"one line", "{\"a\":1}\n", 0, 0, FRAMING_NEWLINE, "M:{\"a\":1}"},
    {"three in one chunk", "{\"a\":1}\n[1,2]\n{}\n", 0, 0, FRAMING_NEWLINE,
     "M:{\"a\":1}|M:[1,2]|M:{}"},
    {"crlf", "{\"a\":1}\r\n{\"b\":2}\r\n", 0, 0, FRAMING_NEWLINE, "M:{\"a\":1}|M:{\"b\":2}"},
    {"blank lines", "\n\r\n  \n{\"a\":1}\n\n\r\n \t \n{\"b\":2}\n\n", 0, 0, FRAMING_NEWLINE,
     "M:{\"a\":1}|M:{\"b\":2}"},
    {"last line without newline", "{\"a\":1}\n{\"b\":2}", 0, 0, FRAMING_NEWLINE,
     "M:{\"a\":1}|M:{\"b\":2}"},
    {"garbage line passes through", "{}\nhello world\n{}\n", 0, 0, FRAMING_NEWLINE,
     "M:{}|M:hello world|M:{}"},
    {"not a letter means newline framing", "42\n\"x\"\n", 0, 0, FRAMING_NEWLINE, "M:42|M:\"x\""},
    {"at the limit", "[12345678]\n[12345678]\r\n", 10, 0, FRAMING_NEWLINE,
     "M:[12345678]|M:[12345678]"},
    {"over the limit skipped", "{\"a\":1}\n[123456789]\n[1234567890123456789012345]\n{}\n", 10, 0,
     FRAMING_NEWLINE, "M:{\"a\":1}|L|L|M:{}"},
    {"over the limit at end of input", "{}\n[1234567890123", 10, 0, FRAMING_NEWLINE, "M:{}|L"},
    {"headers", "Content-Length: 7\r\n\r\n{\"a\":1}", 0, 0, FRAMING_HEADERS, "M:{\"a\":1}"},
    {"headers, extra headers and odd casing",
     "content-type: application/vscode-jsonrpc; charset=utf-8\r\nCONTENT-length:   2 \r\n"
     "X-Other:\r\n\r\n{}",
     0, 0, FRAMING_HEADERS, "M:{}"},
    {"headers, back to back with blank lines between",
     "Content-Length: 2\r\n\r\n{}\r\n\r\nContent-Length: 3\r\n\r\n[1]Content-Length: 1\r\n\r\n7", 0,
     0, FRAMING_HEADERS, "M:{}|M:[1]|M:7"},
    {"headers, bare newlines", "Content-Length: 2\n\n{}", 0, 0, FRAMING_HEADERS, "M:{}"},
    {"headers, body keeps its newlines", "Content-Length: 10\r\n\r\n{\n\"a\":\n1}\n", 0, 0,
     FRAMING_HEADERS, "M:{\n\"a\":\n1}\n"},
    {"headers, zero length", "Content-Length: 0\r\n\r\nContent-Length: 2\r\n\r\n{}", 0, 0,
     FRAMING_HEADERS, "M:|M:{}"},
    {"headers, same length twice", "Content-Length: 2\r\ncontent-length: 2\r\n\r\n{}", 0, 0,
     FRAMING_HEADERS, "M:{}"},
    {"headers, over the limit skipped by count",
     "Content-Length: 21\r\n\r\n{\"Content-Length:\":1}Content-Length: 2\r\n\r\n{}", 10, 0,
     FRAMING_HEADERS, "L|M:{}"},
    {"headers, missing Content-Length", "Foo: bar\r\n\r\n{}Content-Length: 2\r\n\r\n[]", 0, 0,
     FRAMING_HEADERS, "B|M:[]"},
    {"headers, line without colon", "Content-Length 2\r\n\r\n{}Content-Length: 2\r\n\r\n[]", 0, 0,
     FRAMING_HEADERS, "B|M:[]"},
    {"headers, invalid length", "Content-Length: 1x\r\n\r\n{}Content-Length: 2\r\n\r\n[]", 0, 0,
     FRAMING_HEADERS, "B|M:[]"},
    {"headers, negative length", "Content-Length: -2\r\n\r\n{}content-length: 2\r\n\r\n[]", 0, 0,
     FRAMING_HEADERS, "B|M:[]"},
    {"headers, conflicting lengths",
     "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}CONTENT-LENGTH: 2\r\n\r\n[]", 0, 0,
     FRAMING_HEADERS, "B|M:[]"},
    {"headers, invalid header name", "Bad Name: 1\r\nContent-Length: 2\r\n\r\n{}", 0, 0,
     FRAMING_HEADERS, "B|M:{}"},
    {"headers, block too large", "X-Pad: " PAD100 "\r\nContent-Length: 2\r\n\r\n{}", 0, 64,
     FRAMING_HEADERS, "B|M:{}"},
    {"headers, garbage then resync",
     "hello there\r\nno headers here\r\n\r\nContent-Length: 2\r\n\r\n{}", 0, 0, FRAMING_HEADERS,
     "B|M:{}"},
    {"headers, truncated body", "Content-Length: 10\r\n\r\n{}", 0, 0, FRAMING_HEADERS, "T"},
    {"headers, truncated block", "Content-Length: 2\r\nFoo: 1\r\n", 0, 0, FRAMING_HEADERS, "T"},
    {"headers, trailing blank line", "Content-Length: 2\r\n\r\n{}\r\n", 0, 0, FRAMING_HEADERS,
     "M:{}"},
    /* Finding 9: a body shorter than its Content-Length leaves its tail
     * glued to the next header; the header inside that line is found. */
    {"headers, short length glued to the next header",
     "Content-Length: 3\r\n\r\n{\"a\":1}Content-Length: 2\r\n\r\n[]", 0, 0, FRAMING_HEADERS,
     "M:{\"a|B|M:[]"},
    {"headers, short length glued, lower case, then more",
     "Content-Length: 1\r\n\r\n{}content-length: 2\r\n\r\n[]Content-Length: 2\r\n\r\n{}", 0, 0,
     FRAMING_HEADERS, "M:{|B|M:[]|M:{}"},
    {"headers, bad value glued to a header", "Content-Length: 1xContent-Length: 2\r\n\r\n{}", 0, 0,
     FRAMING_HEADERS, "B|M:{}"},
    {"headers, glued header after an invalid name, with more headers",
     "Content-Length: 2\r\n\r\n{\"x\"}Content-Length: 4\r\nX-A: b\r\n\r\n[10]", 0, 0,
     FRAMING_HEADERS, "M:{\"|B|M:[10]"},
    /* Finding 14: a UTF-8 byte order mark at the start is skipped. */
    {"BOM then newline framing", "\xEF\xBB\xBF{\"a\":1}\n{}\n", 0, 0, FRAMING_NEWLINE,
     "M:{\"a\":1}|M:{}"},
    {"BOM then header framing",
     "\xEF\xBB\xBF"
     "Content-Length: 2\r\n\r\n{}",
     0, 0, FRAMING_HEADERS, "M:{}"},
    {"BOM then blank lines", "\xEF\xBB\xBF\r\n\n[1]\n", 0, 0, FRAMING_NEWLINE, "M:[1]"},
    {"BOM later is data", "{}\n\xEF\xBB\xBF{}\n", 0, 0, FRAMING_NEWLINE, "M:{}|M:\xEF\xBB\xBF{}"},
    {"half a BOM is data", "\xEF\xBB{}\n", 0, 0, FRAMING_NEWLINE, "M:\xEF\xBB{}"},
    {"half a BOM alone", "\xEF", 0, 0, FRAMING_NEWLINE, "M:\xEF"},
    {"only a BOM", "\xEF\xBB\xBF", 0, 0, FRAMING_UNKNOWN, ""},
    {"only whitespace", " \r\n\t\n", 0, 0, FRAMING_UNKNOWN, ""},
};

/* The largest the buffer may ever be for a decoder: a message of the limit
 * plus its "\r" (newline framing), or a header block. */
static size_t buffer_limit(const framing_decoder *d) {
    size_t a = d->max_message + 1;
    return a > d->max_header ? a : d->max_header;
}

/* Feeds input cut at the given points (sorted offsets), then finishes. */
static char *run_split(const fcase *c, const size_t *cuts, size_t ncuts, framing_mode *mode) {
    framing_decoder d;
    recorder r = {0};
    rec_add(&r, "", 0);
    framing_decoder_init(&d, c->max_message, c->max_header);
    size_t len = strlen(c->input), prev = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t at = i < ncuts ? cuts[i] : len;
        assert_int_equal(framing_decoder_feed(&d, c->input + prev, at - prev, record, &r), 0);
        assert_true(framing_decoder_buffer_size(&d) <= buffer_limit(&d));
        prev = at;
    }
    assert_int_equal(framing_decoder_finish(&d, record, &r), 0);
    *mode = d.mode;
    framing_decoder_free(&d);
    return r.text;
}

static void check_case(const fcase *c, const size_t *cuts, size_t ncuts, const char *how) {
    framing_mode mode;
    char *got = run_split(c, cuts, ncuts, &mode);
    if (strcmp(got, c->expect) != 0 || mode != c->mode) {
        fprintf(stderr, "case \"%s\" (%s): expected [%s] mode %d, got [%s] mode %d\n", c->name, how,
                c->expect, c->mode, got, mode);
        free(got);
        fail();
    }
    free(got);
}

static void test_table_one_chunk(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_case(&cases[i], NULL, 0, "one chunk");
}

static void test_table_split_everywhere(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].input);
        for (size_t k = 0; k <= len; k++) {
            char how[64];
            snprintf(how, sizeof(how), "split at %zu", k);
            check_case(&cases[i], &k, 1, how);
        }
    }
}

static void test_table_byte_by_byte(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].input);
        size_t *cuts = calloc(len + 1, sizeof(size_t));
        assert_non_null(cuts);
        for (size_t k = 0; k < len; k++)
            cuts[k] = k;
        check_case(&cases[i], cuts, len, "byte by byte");
        free(cuts);
    }
}

/* A 1 MiB line over a 1000-byte limit, fed in 4 KiB chunks: reported once,
 * skipped without the buffer ever growing past the limit, and the next
 * message still comes through. */
static void test_oversized_newline_bounded(void **state) {
    (void)state;
    size_t big = 1024 * 1024;
    size_t total = 3 + big + 1 + 3;
    char *input = malloc(total);
    assert_non_null(input);
    memcpy(input, "{}\n", 3);
    input[3] = '[';
    memset(input + 4, '1', big - 2);
    input[3 + big - 1] = ']';
    input[3 + big] = '\n';
    memcpy(input + 4 + big, "[]\n", 3);

    framing_decoder d;
    framing_decoder_init(&d, 1000, 0);
    recorder r = {0};
    rec_add(&r, "", 0);
    size_t max_cap = 0;
    for (size_t off = 0; off < total; off += 4096) {
        size_t n = total - off < 4096 ? total - off : 4096;
        assert_int_equal(framing_decoder_feed(&d, input + off, n, record, &r), 0);
        if (framing_decoder_buffer_size(&d) > max_cap)
            max_cap = framing_decoder_buffer_size(&d);
    }
    assert_int_equal(framing_decoder_finish(&d, record, &r), 0);
    assert_string_equal(r.text, "M:{}|L|M:[]");
    assert_true(max_cap <= 1001);
    framing_decoder_free(&d);
    free(r.text);
    free(input);
}

/* The same in header framing: the body is counted off, never buffered. */
static void test_oversized_header_body_bounded(void **state) {
    (void)state;
    size_t big = 1024 * 1024;
    char head[64];
    int hlen = snprintf(head, sizeof(head), "Content-Length: %zu\r\n\r\n", big);
    const char *tail = "Content-Length: 2\r\n\r\n{}";
    size_t total = (size_t)hlen + big + strlen(tail);
    char *input = malloc(total);
    assert_non_null(input);
    memcpy(input, head, (size_t)hlen);
    memset(input + hlen, 'x', big);
    memcpy(input + hlen + big, tail, strlen(tail));

    framing_decoder d;
    framing_decoder_init(&d, 1000, 0);
    recorder r = {0};
    rec_add(&r, "", 0);
    for (size_t off = 0; off < total; off += 4096) {
        size_t n = total - off < 4096 ? total - off : 4096;
        assert_int_equal(framing_decoder_feed(&d, input + off, n, record, &r), 0);
        assert_true(framing_decoder_buffer_size(&d) <= buffer_limit(&d));
    }
    assert_int_equal(framing_decoder_finish(&d, record, &r), 0);
    assert_string_equal(r.text, "L|M:{}");
    framing_decoder_free(&d);
    free(r.text);
    free(input);
}

static void test_bad_header_reasons(void **state) {
    (void)state;
    static const struct {
        const char *input;
        const char *reason;
    } rows[] = {
        {"Foo: 1\r\n\r\n", "header block without Content-Length"},
        {"Content-Length 1\r\n", "header line without ':'"},
        {"Content-Length: x\r\n", "invalid Content-Length value"},
        {"Content-Length: 99999999999999999999999\r\n", "invalid Content-Length value"},
        {"Content-Length: 1\r\nContent-Length: 2\r\n", "conflicting Content-Length headers"},
        {"A b: 1\r\n", "invalid header name"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        framing_decoder d;
        framing_decoder_init(&d, 0, 0);
        recorder r = {0};
        rec_add(&r, "", 0);
        assert_int_equal(framing_decoder_feed(&d, rows[i].input, strlen(rows[i].input), record, &r),
                         0);
        assert_string_equal(r.text, "B");
        assert_string_equal(r.last_reason, rows[i].reason);
        framing_decoder_free(&d);
        free(r.text);
    }
}

/* A callback's non-zero return stops the feed at once. */
static void test_callback_stops_feed(void **state) {
    (void)state;
    framing_decoder d;
    framing_decoder_init(&d, 0, 0);
    recorder r = {0};
    rec_add(&r, "", 0);
    r.stop_after = 1;
    const char *in = "{}\n[]\n{}\n";
    assert_int_equal(framing_decoder_feed(&d, in, strlen(in), record, &r), 1);
    assert_string_equal(r.text, "M:{}");
    framing_decoder_free(&d);
    free(r.text);
}

static void test_encoder(void **state) {
    (void)state;
    char prefix[FRAMING_PREFIX_MAX];
    size_t n;
    assert_int_equal(framing_prefix(FRAMING_HEADERS, 7, prefix), 21);
    assert_string_equal(prefix, "Content-Length: 7\r\n\r\n");
    assert_string_equal(framing_suffix(FRAMING_HEADERS, &n), "");
    assert_int_equal(n, 0);
    assert_int_equal(framing_prefix(FRAMING_NEWLINE, 7, prefix), 0);
    assert_string_equal(framing_suffix(FRAMING_NEWLINE, &n), "\n");
    assert_int_equal(n, 1);
    /* Before any input the default is newline framing. */
    assert_int_equal(framing_prefix(FRAMING_UNKNOWN, 7, prefix), 0);
    assert_string_equal(framing_suffix(FRAMING_UNKNOWN, &n), "\n");
    /* The largest length still fits. */
    n = framing_prefix(FRAMING_HEADERS, SIZE_MAX, prefix);
    assert_true(n > 0 && n < FRAMING_PREFIX_MAX);
}

/* What the encoder writes, the decoder reads back. */
static void test_round_trip(void **state) {
    (void)state;
    const char *bodies[] = {"{\"a\":1}", "[1,2,3]", "{\"s\":\"line\\nbreak\"}"};
    for (int mode = FRAMING_NEWLINE; mode <= FRAMING_HEADERS; mode++) {
        char stream[512] = "";
        for (size_t i = 0; i < 3; i++) {
            char prefix[FRAMING_PREFIX_MAX];
            size_t sl;
            framing_prefix((framing_mode)mode, strlen(bodies[i]), prefix);
            strcat(stream, prefix);
            strcat(stream, bodies[i]);
            strcat(stream, framing_suffix((framing_mode)mode, &sl));
        }
        framing_decoder d;
        framing_decoder_init(&d, 0, 0);
        recorder r = {0};
        rec_add(&r, "", 0);
        assert_int_equal(framing_decoder_feed(&d, stream, strlen(stream), record, &r), 0);
        assert_int_equal(framing_decoder_finish(&d, record, &r), 0);
        assert_int_equal(d.mode, mode);
        assert_string_equal(r.text, "M:{\"a\":1}|M:[1,2,3]|M:{\"s\":\"line\\nbreak\"}");
        framing_decoder_free(&d);
        free(r.text);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_one_chunk),
        cmocka_unit_test(test_table_split_everywhere),
        cmocka_unit_test(test_table_byte_by_byte),
        cmocka_unit_test(test_oversized_newline_bounded),
        cmocka_unit_test(test_oversized_header_body_bounded),
        cmocka_unit_test(test_bad_header_reasons),
        cmocka_unit_test(test_callback_stops_feed),
        cmocka_unit_test(test_encoder),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests_name("protocol_framing", tests, NULL, NULL);
}
