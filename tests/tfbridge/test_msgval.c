/*
 * test_msgval.c - Terraform's msgpack values <-> the contract's JSON values:
 * round trips for every type, exact bytes where Terraform cares, unknowns
 * (plain and refined), object completeness, error paths, malformed and
 * hostile input, schema blocks, and the real sso_connector schema.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgval.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* Parses JSON written with ' for " (to keep the tests readable); a new
 * reference. */
static json_t *J(const char *text) {
    char *s = strdup(text);
    assert_non_null(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t e;
    json_t *v = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (v == NULL)
        fail_msg("bad test JSON %s: %s", text, e.text);
    free(s);
    return v;
}

/* A growable byte buffer for expected encodings. */
typedef struct bytes {
    unsigned char *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 16;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* Appends bytes written as hex pairs, spaces ignored: "81 a1 61". */
static void put_hex(bytes *b, const char *hex) {
    while (*hex) {
        if (*hex == ' ') {
            hex++;
            continue;
        }
        unsigned v;
        assert_int_equal(sscanf(hex, "%2x", &v), 1);
        unsigned char c = (unsigned char)v;
        put(b, &c, 1);
        hex += 2;
    }
}

/* Appends a short str: fixstr, or str8 from 32 bytes on. */
static void put_str(bytes *b, const char *s) {
    size_t n = strlen(s);
    assert_true(n < 256);
    unsigned char h[2] = {0xd9, (unsigned char)n};
    if (n < 32)
        put(b, (unsigned char[]){(unsigned char)(0xa0 | n)}, 1);
    else
        put(b, h, 2);
    put(b, s, n);
}

static bytes from_hex(const char *hex) {
    bytes b = {0};
    put_hex(&b, hex);
    return b;
}

static char *hexdump(const void *p, size_t n) {
    char *s = malloc(n * 3 + 1);
    assert_non_null(s);
    s[0] = '\0';
    for (size_t i = 0; i < n; i++)
        sprintf(s + 3 * i, "%02x%s", ((const unsigned char *)p)[i], i + 1 < n ? " " : "");
    return s;
}

static void assert_same_bytes(const void *got, size_t got_n, const void *want, size_t want_n) {
    if (got_n != want_n || memcmp(got, want, got_n) != 0) {
        char *g = hexdump(got, got_n), *w = hexdump(want, want_n);
        print_error("got:  %s\nwant: %s\n", g, w);
        free(g);
        free(w);
        fail();
    }
}

static void assert_json_equal(const json_t *got, const json_t *want) {
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY), *w = json_dumps(want, JSON_ENCODE_ANY);
        print_error("got:  %s\nwant: %s\n", g, w);
        free(g);
        free(w);
        fail();
    }
}

/* Encodes a JSON value (test notation) of a type and checks the bytes. */
static void assert_encodes(const char *value, const char *type, const char *hex) {
    json_t *v = J(value), *t = J(type);
    char *out, err[MSGVAL_ERR_MAX] = "";
    size_t n;
    int rc = msgval_encode(v, t, &out, &n, err);
    if (rc != 0)
        fail_msg("encode %s as %s: %d %s", value, type, rc, err);
    bytes want = from_hex(hex);
    assert_same_bytes(out, n, want.p, want.n);
    free(want.p);
    free(out);
    json_decref(v);
    json_decref(t);
}

/* Decodes hex bytes of a type and checks the JSON value. */
static void assert_decodes(const char *hex, const char *type, const char *value) {
    bytes in = from_hex(hex);
    json_t *t = J(type), *want = J(value), *got;
    char err[MSGVAL_ERR_MAX] = "";
    int rc = msgval_decode(in.p, in.n, t, &got, err);
    if (rc != 0)
        fail_msg("decode %s as %s: %d %s", hex, type, rc, err);
    assert_json_equal(got, want);
    json_decref(got);
    json_decref(want);
    json_decref(t);
    free(in.p);
}

/* Both directions at once: value <-> bytes. */
static void assert_both(const char *value, const char *type, const char *hex) {
    assert_encodes(value, type, hex);
    assert_decodes(hex, type, value);
}

/* Encodes then decodes a value and expects it back unchanged. */
static void assert_round_trip(const json_t *v, const char *type) {
    json_t *t = J(type), *back;
    char *out, err[MSGVAL_ERR_MAX] = "";
    size_t n;
    int rc = msgval_encode(v, t, &out, &n, err);
    if (rc != 0)
        fail_msg("encode as %s: %d %s", type, rc, err);
    rc = msgval_decode(out, n, t, &back, err);
    if (rc != 0)
        fail_msg("decode as %s: %d %s", type, rc, err);
    assert_json_equal(back, v);
    json_decref(back);
    json_decref(t);
    free(out);
}

static void assert_round_trip_text(const char *value, const char *type) {
    json_t *v = J(value);
    assert_round_trip(v, type);
    json_decref(v);
}

/* Decoding must fail with `code` and exactly `message` (or, when message
 * starts with '~', a message containing the rest). */
static void assert_message(const char *err, const char *message) {
    if (message[0] == '~' ? strstr(err, message + 1) == NULL : strcmp(err, message) != 0)
        fail_msg("error message\ngot:  %s\nwant: %s", err, message);
}

static void assert_decode_fails_bytes(const void *p, size_t n, const char *type, int code,
                                      const char *message) {
    json_t *t = J(type), *got = (json_t *)1;
    char err[MSGVAL_ERR_MAX] = "";
    int rc = msgval_decode(p, n, t, &got, err);
    if (rc != code) {
        char *h = hexdump(p, n < 64 ? n : 64);
        fail_msg("decode %s as %s: got %d (%s), want %d", h, type, rc, err, code);
    }
    assert_null(got);
    assert_message(err, message);
    json_decref(t);
}

static void assert_decode_fails(const char *hex, const char *type, int code, const char *message) {
    bytes in = from_hex(hex);
    assert_decode_fails_bytes(in.p, in.n, type, code, message);
    free(in.p);
}

static void assert_encode_fails(const char *value, const char *type, int code,
                                const char *message) {
    json_t *v = J(value), *t = J(type);
    char *out = (char *)1, err[MSGVAL_ERR_MAX] = "";
    size_t n = 99;
    int rc = msgval_encode(v, t, &out, &n, err);
    if (rc != code)
        fail_msg("encode %s as %s: got %d (%s), want %d", value, type, rc, err, code);
    assert_null(out);
    assert_int_equal(n, 0);
    assert_message(err, message);
    json_decref(v);
    json_decref(t);
}

/* ------------------------------------------------------------------ */
/* Primitives                                                          */
/* ------------------------------------------------------------------ */

static void test_string(void **state) {
    (void)state;
    assert_both("'hi'", "'string'", "a2 68 69");
    assert_both("''", "'string'", "a0");
    assert_both("'h\\u00e9'", "'string'", "a3 68 c3 a9");
    /* NUL inside a string: lengths, not strlen. */
    assert_both("'a\\u0000b'", "'string'", "a3 61 00 62");
    /* Longer strings take str8 and str16 headers (never bin). */
    char text[303], hex[3 * 300 + 16];
    memset(text, 'x', 300);
    text[300] = '\0';
    json_t *long_str = json_string(text);
    assert_round_trip(long_str, "'string'");
    json_decref(long_str);
    strcpy(hex, "d9 20");
    for (int i = 0; i < 32; i++)
        strcat(hex, " 78");
    char value[40];
    snprintf(value, sizeof value, "'%.32s'", text);
    assert_both(value, "'string'", hex);
    /* ...also in keys (built by hand: jansson's parser refuses them). */
    json_t *map_type = J("['map','string']"), *nul_key = json_object(), *got;
    json_object_setn_new(nul_key, "a\0b", 3, json_string("x"));
    bytes want = from_hex("81 a3 61 00 62 a1 78");
    char *out, err[MSGVAL_ERR_MAX] = "";
    size_t n;
    assert_int_equal(msgval_encode(nul_key, map_type, &out, &n, err), 0);
    assert_same_bytes(out, n, want.p, want.n);
    assert_int_equal(msgval_decode(want.p, want.n, map_type, &got, err), 0);
    assert_int_equal(json_object_size(got), 1);
    assert_non_null(json_object_getn(got, "a\0b", 3));
    json_decref(got);
    json_decref(nul_key);
    json_decref(map_type);
    free(want.p);
    free(out);
    /* bin is accepted as a string on input. */
    assert_decodes("c4 02 68 69", "'string'", "'hi'");
    assert_decode_fails("a1 78", "'bool'", MSGVAL_EVALUE, "expected a bool, got a string");
    assert_encode_fails("true", "'string'", MSGVAL_EVALUE, "expected a string, got a bool");
    assert_encode_fails("1", "'string'", MSGVAL_EVALUE, "expected a string, got a number");
}

static void test_number(void **state) {
    (void)state;
    assert_both("0", "'number'", "00");
    assert_both("42", "'number'", "2a");
    assert_both("-1", "'number'", "ff");
    assert_both("-33", "'number'", "d0 df");
    assert_both("300", "'number'", "cd 01 2c");
    assert_both("70000", "'number'", "ce 00 01 11 70");
    assert_both("-40000", "'number'", "d2 ff ff 63 c0");
    assert_both("9223372036854775807", "'number'", "cf 7f ff ff ff ff ff ff ff");
    assert_both("-9223372036854775808", "'number'", "d3 80 00 00 00 00 00 00 00");
    assert_both("1.5", "'number'", "cb 3f f8 00 00 00 00 00 00");
    assert_both("-0.25", "'number'", "cb bf d0 00 00 00 00 00 00");
    assert_round_trip_text("1e300", "'number'");
    assert_round_trip_text("0.1", "'number'");
    /* An integral real is written as an int; beyond int64 as a float64. */
    assert_encodes("3.0", "'number'", "03");
    assert_encodes("-2.0", "'number'", "fe");
    assert_encodes("1e19", "'number'", "cb 43 e1 58 e4 60 91 3d 00");
    /* Decoding the other encodings Terraform may use. */
    assert_decodes("ca 3f c0 00 00", "'number'", "1.5");
    assert_decodes("cb 40 08 00 00 00 00 00 00", "'number'", "3.0");
    assert_decodes("cc 05", "'number'", "5");
    assert_decodes("d3 ff ff ff ff ff ff ff ff", "'number'", "-1");
    assert_decodes("cf ff ff ff ff ff ff ff ff", "'number'", "18446744073709551615.0");
    /* Decimal text: an exact int64 is an integer, anything else a real. */
    assert_decodes("a2 34 32", "'number'", "42");
    assert_decodes("a2 2d 37", "'number'", "-7");
    assert_decodes("b3 39 32 32 33 33 37 32 30 33 36 38 35 34 37 37 35 38 30 37", "'number'",
                   "9223372036854775807");
    assert_decodes("b3 39 32 32 33 33 37 32 30 33 36 38 35 34 37 37 35 38 30 38", "'number'",
                   "9223372036854775808.0");
    assert_decodes("b7 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 30 31 32 33",
                   "'number'", "1.2345678901234568e22");
    assert_decodes("a3 30 2e 31", "'number'", "0.1");
    assert_decodes("a3 31 65 33", "'number'", "1000.0");
    assert_decodes("a4 2d 31 2e 35", "'number'", "-1.5");
    assert_decodes("c4 02 34 32", "'number'", "42");
    static const char *const bad[] = {"a0",             /* "" */
                                      "a3 61 62 63",    /* abc */
                                      "a2 31 65",       /* 1e */
                                      "a3 69 6e 66",    /* inf */
                                      "a3 6e 61 6e",    /* nan */
                                      "a4 30 78 31 30", /* 0x10 */
                                      "a2 20 31",       /* " 1" */
                                      "a2 31 20",       /* "1 " */
                                      "a1 2d",          /* - */
                                      "a1 2e"};         /* . */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_decode_fails(bad[i], "'number'", MSGVAL_EVALUE,
                            "~expected a number, got the string");
    assert_decode_fails("a5 31 65 39 39 39", "'number'", MSGVAL_EVALUE,
                        "the number \"1e999\" is out of range");
    assert_decode_fails("cb 7f f8 00 00 00 00 00 00", "'number'", MSGVAL_EVALUE,
                        "expected a number, got a float that is NaN");
    assert_decode_fails("cb ff f0 00 00 00 00 00 00", "'number'", MSGVAL_EVALUE,
                        "expected a number, got a float that is infinite");
    assert_decode_fails("c3", "'number'", MSGVAL_EVALUE, "expected a number, got a bool");
    assert_encode_fails("'5'", "'number'", MSGVAL_EVALUE, "expected a number, got a string");
}

static void test_bool(void **state) {
    (void)state;
    assert_both("true", "'bool'", "c3");
    assert_both("false", "'bool'", "c2");
    assert_decode_fails("01", "'bool'", MSGVAL_EVALUE, "expected a bool, got an integer");
    assert_encode_fails("1", "'bool'", MSGVAL_EVALUE, "expected a bool, got a number");
}

/* ------------------------------------------------------------------ */
/* Collections and objects                                             */
/* ------------------------------------------------------------------ */

static void test_collections(void **state) {
    (void)state;
    assert_both("['a','b']", "['list','string']", "92 a1 61 a1 62");
    assert_both("[]", "['list','string']", "90");
    assert_both("['a','b']", "['set','string']", "92 a1 61 a1 62");
    assert_both("[1,2,3]", "['set','number']", "93 01 02 03");
    /* Maps come out with sorted keys, whatever the JSON order. */
    assert_encodes("{'b':1,'a':2}", "['map','number']", "82 a1 61 02 a1 62 01");
    assert_decodes("82 a1 62 01 a1 61 02", "['map','number']", "{'a':2,'b':1}");
    assert_both("{}", "['map','string']", "80");
    assert_both("['x',1,true]", "['tuple',['string','number','bool']]", "93 a1 78 01 c3");
    assert_both("[]", "['tuple',[]]", "90");
    assert_round_trip_text("[['a'],[],['b','c']]", "['list',['list','string']]");
    assert_round_trip_text("{'k':[{'x':1},{}]}", "['map',['list',['map','number']]]");
    assert_round_trip_text("[[1,'a'],[2,'b']]", "['set',['tuple',['number','string']]]");
    /* Tuples check their length both ways. */
    assert_decode_fails("92 01 02", "['tuple',['number']]", MSGVAL_EVALUE,
                        "expected a tuple of 1 elements, got an array of 2");
    assert_encode_fails("[1]", "['tuple',['number','number']]", MSGVAL_EVALUE,
                        "expected a tuple of 2 elements, got an array of 1");
    assert_decode_fails("80", "['list','string']", MSGVAL_EVALUE, "expected a list, got a map");
    assert_encode_fails("{}", "['set','string']", MSGVAL_EVALUE, "expected a set, got an object");
    assert_encode_fails("[]", "['map','string']", MSGVAL_EVALUE, "expected a map, got an array");
}

static const char *const pair_type = "['object',{'code':'string','status':'string'}]";

static void test_objects(void **state) {
    (void)state;
    assert_both("{'code':'c','status':'s'}", pair_type,
                "82 a4 63 6f 64 65 a1 63 a6 73 74 61 74 75 73 a1 73");
    /* Attributes are written sorted by name whatever the JSON order. */
    assert_encodes("{'status':'s','code':'c'}", pair_type,
                   "82 a4 63 6f 64 65 a1 63 a6 73 74 61 74 75 73 a1 73");
    const char *nested = "['object',{'name':'string','inner':['object',{'n':'number',"
                         "'tags':['set','string'],'deep':['object',{'ok':'bool'}]}]}]";
    assert_round_trip_text("{'name':'x','inner':{'n':1.5,'tags':['a','b'],'deep':{'ok':true}}}",
                           nested);
    assert_round_trip_text("{'name':null,'inner':{'n':null,'tags':[],'deep':null}}", nested);
    const char *in_list = "['list',['object',{'a':'string','b':'bool'}]]";
    assert_both("[{'a':'x','b':true},{'a':null,'b':false}]", in_list,
                "92 82 a1 61 a1 78 a1 62 c3 82 a1 61 c0 a1 62 c2");
    assert_round_trip_text("{'m':{'k':{'a':'x','b':true}}}",
                           "['object',{'m':['map',['object',{'a':'string','b':'bool'}]]}]");
    /* The optional-attributes list of a cty type constraint is accepted. */
    assert_both("{'a':'x'}", "['object',{'a':'string'},['a']]", "81 a1 61 a1 78");
    assert_both("{}", "['object',{}]", "80");
}

static void test_null(void **state) {
    (void)state;
    static const char *const types[] = {"'string'",
                                        "'number'",
                                        "'bool'",
                                        "'dynamic'",
                                        "['list','string']",
                                        "['set','number']",
                                        "['map','bool']",
                                        "['tuple',['string']]",
                                        "['object',{'a':'string'}]"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        assert_both("null", types[i], "c0");
    /* A null nested object is nil, not a map of nils. */
    assert_both("{'v':null}", "['object',{'v':['object',{'code':'string'}]}]", "81 a1 76 c0");
    assert_both("[null,'x']", "['list','string']", "92 c0 a1 78");
}

static void test_unknown(void **state) {
    (void)state;
    static const char *const types[] = {"'string'",
                                        "'number'",
                                        "'bool'",
                                        "'dynamic'",
                                        "['list','string']",
                                        "['set','number']",
                                        "['map','bool']",
                                        "['tuple',['string']]",
                                        "['object',{'a':'string'}]"};
    /* Any ext, of any code and length, is an unknown: ext 0 as we write
     * it, ext 12 (a refined unknown) as Terraform 1.11 writes it, and the
     * other fixext and ext forms. */
    static const char *const exts[] = {"d4 00 00",
                                       "c7 03 0c 81 01 c2",
                                       "d4 0c 00",
                                       "d5 0c 81 c2",
                                       "d6 00 00 00 00 00",
                                       "d7 ff 00 00 00 00 00 00 00 00",
                                       "d8 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
                                       "c7 00 00",
                                       "c7 00 0c",
                                       "c8 00 03 0c 81 01 c2",
                                       "c9 00 00 00 05 0c 82 01 c2 05 01"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        assert_encodes("{'$unknown':true}", types[i], "d4 00 00");
        for (size_t j = 0; j < sizeof exts / sizeof exts[0]; j++)
            assert_decodes(exts[j], types[i], "{'$unknown':true}");
    }
    /* The example of the brief: an object with one unknown attribute. */
    assert_both("{'a':{'$unknown':true}}", "['object',{'a':'string'}]", "81 a1 61 d4 00 00");
    /* Terraform's refined unknown for email_domain = "b${other.id}.example"
     * inside an object, and unknowns in collections. */
    assert_decodes("82 a1 61 c7 03 0c 81 01 c2 a1 62 c3", "['object',{'a':'string','b':'bool'}]",
                   "{'a':{'$unknown':true},'b':true}");
    assert_both("[{'$unknown':true},'x']", "['list','string']", "92 d4 00 00 a1 78");
    assert_both("{'k':{'$unknown':true}}", "['map','number']", "81 a1 6b d4 00 00");
    /* Only exactly {"$unknown": true} is the unknown. */
    assert_encode_fails("{'$unknown':false}", "'string'", MSGVAL_EVALUE,
                        "expected a string, got an object");
    assert_encode_fails("{'$unknown':true,'a':'x'}", "['object',{'a':'string'}]", MSGVAL_EVALUE,
                        "unsupported attribute \"$unknown\"");
    assert_both("{'$unknown':false}", "['map','bool']", "81 a8 24 75 6e 6b 6e 6f 77 6e c2");
    /* ...and a map that would decode to it is refused rather than
     * silently read as an unknown. */
    assert_decode_fails("81 a8 24 75 6e 6b 6e 6f 77 6e c3", "['map','bool']", MSGVAL_EVALUE,
                        "a map holding only \"$unknown\": true cannot be told from an unknown "
                        "in JSON");
}

static const char *const abc_type = "['object',{'a':'string','b':'number','c':'bool'}]";

static void test_missing_attributes(void **state) {
    (void)state;
    /* Terraform wants every attribute: missing members are written nil. */
    assert_encodes("{'a':'x'}", abc_type, "83 a1 61 a1 78 a1 62 c0 a1 63 c0");
    assert_encodes("{}", abc_type, "83 a1 61 c0 a1 62 c0 a1 63 c0");
    assert_encodes("{'v':{}}", "['object',{'v':['object',{'code':'string'}]}]",
                   "81 a1 76 81 a4 63 6f 64 65 c0");
    /* ...and read as null, so the JSON object is always complete. */
    assert_decodes("81 a1 61 a1 78", abc_type, "{'a':'x','b':null,'c':null}");
    assert_decodes("80", abc_type, "{'a':null,'b':null,'c':null}");
    assert_decodes("81 a1 62 01", abc_type, "{'a':null,'b':1,'c':null}");
}

static void test_extra_attribute(void **state) {
    (void)state;
    assert_encode_fails("{'a':'x','zz':1}", abc_type, MSGVAL_EVALUE,
                        "unsupported attribute \"zz\"");
    assert_encode_fails("{'v':{'code':'x','bogus':1}}",
                        "['object',{'v':['object',{'code':'string'}]}]", MSGVAL_EVALUE,
                        "at .v: unsupported attribute \"bogus\"");
    assert_decode_fails("81 a2 7a 7a 01", abc_type, MSGVAL_EVALUE, "unsupported attribute \"zz\"");
    assert_decode_fails("91 81 a1 7a c0", "['list',['object',{'a':'string'}]]", MSGVAL_EVALUE,
                        "at [0]: unsupported attribute \"z\"");
    /* Keys from the input are quoted safely in messages. */
    assert_decode_fails("81 a3 00 22 7f c0", abc_type, MSGVAL_EVALUE,
                        "unsupported attribute \"\\x00\\\"\\x7f\"");
}

static void test_error_paths(void **state) {
    (void)state;
    const char *sso_like = "['object',{'id':'string','verification':['object',"
                           "{'code':'string','status':'string'}]}]";
    /* {"verification": {"code": ["x"], "status": "y"}} */
    assert_decode_fails("81 ac 76 65 72 69 66 69 63 61 74 69 6f 6e 82 a4 63 6f 64 65 91 a1 78 "
                        "a6 73 74 61 74 75 73 a1 79",
                        sso_like, MSGVAL_EVALUE,
                        "at .verification.code: expected a string, got an array");
    assert_encode_fails("{'verification':{'code':['x']}}", sso_like, MSGVAL_EVALUE,
                        "at .verification.code: expected a string, got an array");
    assert_decode_fails("92 c3 a1 78", "['list','bool']", MSGVAL_EVALUE,
                        "at [1]: expected a bool, got a string");
    assert_decode_fails("81 a3 6b 22 79 c3", "['map','number']", MSGVAL_EVALUE,
                        "at [\"k\\\"y\"]: expected a number, got a bool");
    assert_decode_fails("81 01 02", "['map','number']", MSGVAL_EVALUE,
                        "expected string keys in a map, got an integer as a key");
    assert_decode_fails("91 81 c3 c3", "['list',['object',{'a':'bool'}]]", MSGVAL_EVALUE,
                        "at [0]: expected string keys in an object, got a bool as a key");
    assert_encode_fails("{'a':[1,'x']}", "['object',{'a':['list','number']}]", MSGVAL_EVALUE,
                        "at .a[1]: expected a number, got a string");
    assert_encode_fails("{'m':{'k':true}}", "['object',{'m':['map','string']}]", MSGVAL_EVALUE,
                        "at .m[\"k\"]: expected a string, got a bool");
    assert_encode_fails("{'my attr':1}", "['object',{'my attr':'bool'}]", MSGVAL_EVALUE,
                        "at [\"my attr\"]: expected a bool, got a number");
    assert_encode_fails("'x'", "'bool'", MSGVAL_EVALUE, "expected a bool, got a string");
    assert_encode_fails("[[1,2],[3,{'x':'y'}]]", "['list',['tuple',['number','number']]]",
                        MSGVAL_EVALUE, "at [1][1]: expected a number, got an object");
    /* A very long path is cut, and says so. */
    const char *long_names = "['object',{'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa':['object',{"
                             "'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb':['object',{"
                             "'cccccccccccccccccccccccccccccccccccccc':['object',{"
                             "'dddddddddddddddddddddddddddddddddddddd':['object',{"
                             "'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee':'bool'}]}]}]}]}]";
    assert_encode_fails("{'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa':{"
                        "'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb':{"
                        "'cccccccccccccccccccccccccccccccccccccc':{"
                        "'dddddddddddddddddddddddddddddddddddddd':{"
                        "'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee':'x'}}}}}",
                        long_names, MSGVAL_EVALUE, "~...: expected a bool, got a string");
}

/* ------------------------------------------------------------------ */
/* Malformed input                                                     */
/* ------------------------------------------------------------------ */

/* The planned state of a create, from the sso_connector type below. */
static const char *const sso_value =
    "{'id':{'$unknown':true},'account_id':'023e105f4ecef8ad9ca31a8372d0c353',"
    "'email_domain':'example.com','enabled':true,'use_fedramp_language':false,"
    "'begin_verification':null,'created_on':'2024-01-01T00:00:00Z',"
    "'updated_on':{'$unknown':true},'verification':{'code':'cf-verify=1','status':'awaiting'}}";
static const char *const sso_type =
    "['object',{'id':'string','account_id':'string','email_domain':'string','enabled':'bool',"
    "'use_fedramp_language':'bool','begin_verification':'bool','created_on':'string',"
    "'updated_on':'string','verification':['object',{'code':'string','status':'string'}]}]";

static void test_truncated(void **state) {
    (void)state;
    json_t *v = J(sso_value), *t = J(sso_type);
    char *out, err[MSGVAL_ERR_MAX];
    size_t n;
    assert_int_equal(msgval_encode(v, t, &out, &n, err), 0);
    /* Every proper prefix of a valid encoding is refused. */
    for (size_t cut = 0; cut < n; cut++) {
        json_t *got = (json_t *)1;
        err[0] = '\0';
        assert_int_equal(msgval_decode(out, cut, t, &got, err), MSGVAL_EVALUE);
        assert_null(got);
        if (strstr(err, "truncated") == NULL && strstr(err, "empty") == NULL)
            fail_msg("prefix of %zu bytes: %s", cut, err);
    }
    free(out);
    json_decref(v);
    json_decref(t);
    assert_decode_fails("a5 68 69", "'string'", MSGVAL_EVALUE,
                        "truncated msgpack: the value at offset 0 needs 5 bytes, 2 remain");
    assert_decode_fails("92 01", "['list','number']", MSGVAL_EVALUE,
                        "truncated msgpack: the array at offset 0 holds 2 elements, only 1 bytes "
                        "remain");
    assert_decode_fails("cd 01", "'number'", MSGVAL_EVALUE,
                        "truncated msgpack: the value at offset 0 needs 2 bytes, 1 remain");
    assert_decode_fails("da 00", "'string'", MSGVAL_EVALUE,
                        "truncated msgpack: the input ends inside a value (2 bytes)");
    assert_decode_fails_bytes(NULL, 0, "'string'", MSGVAL_EVALUE,
                              "no msgpack value: the input is empty");
}

static void test_trailing(void **state) {
    (void)state;
    assert_decode_fails("c3 c3", "'bool'", MSGVAL_EVALUE,
                        "trailing bytes after the msgpack value: it ends at offset 1 of 2");
    assert_decode_fails("81 a1 61 a1 78 00", abc_type, MSGVAL_EVALUE,
                        "trailing bytes after the msgpack value: it ends at offset 5 of 6");
    assert_decode_fails("d4 00 00 c0", "'string'", MSGVAL_EVALUE, "~trailing bytes");
}

/* A list type nested `depth` deep around "string", in test notation. */
static char *nested_list_type(int depth) {
    size_t cap = (size_t)depth * 10 + 16, o = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    for (int i = 0; i < depth; i++)
        o += (size_t)sprintf(s + o, "['list',");
    o += (size_t)sprintf(s + o, "'string'");
    for (int i = 0; i < depth; i++)
        s[o++] = ']';
    s[o] = '\0';
    return s;
}

static void test_deep_nesting(void **state) {
    (void)state;
    unsigned char buf[64];
    /* 32 nested arrays: the limit, accepted and written back the same. */
    memset(buf, 0x91, 32);
    buf[32] = 0xa1;
    buf[33] = 'x';
    char *t32 = nested_list_type(32);
    json_t *type = J(t32), *got;
    char err[MSGVAL_ERR_MAX] = "", *out;
    size_t n;
    assert_int_equal(msgval_decode(buf, 34, type, &got, err), 0);
    assert_int_equal(msgval_encode(got, type, &out, &n, err), 0);
    assert_same_bytes(out, n, buf, 34);
    free(out);
    json_decref(got);
    json_decref(type);
    free(t32);
    /* 33: refused by the byte scan, whatever the type. */
    memset(buf, 0x91, 33);
    buf[33] = 0xa1;
    buf[34] = 'x';
    assert_decode_fails_bytes(buf, 35, "'string'", MSGVAL_EVALUE,
                              "msgpack nested deeper than 32 (at offset 32)");
    assert_decode_fails_bytes(buf, 35, "'dynamic'", MSGVAL_EVALUE, "~nested deeper than 32");
    /* A type 33 deep is refused as a type. */
    char *t33 = nested_list_type(33);
    assert_decode_fails_bytes(buf, 35, t33, MSGVAL_ETYPE, "~invalid type: nested deeper than 32");
    json_t *type33 = J(t33);
    assert_int_equal(msgval_type_check(type33, err), MSGVAL_ETYPE);
    json_decref(type33);
    free(t33);
    /* 100000 nested arrays: refused without recursion. */
    size_t big = 100001;
    unsigned char *deep = malloc(big);
    assert_non_null(deep);
    memset(deep, 0x91, big - 1);
    deep[big - 1] = 0xc0;
    assert_decode_fails_bytes(deep, big, "['list','string']", MSGVAL_EVALUE,
                              "~nested deeper than 32");
    free(deep);
    /* Encoding: a dynamic value 40 arrays deep. */
    json_t *v = json_string("x");
    for (int i = 0; i < 40; i++) {
        json_t *a = json_array();
        json_array_append_new(a, v);
        v = a;
    }
    json_t *dyn = json_string("dynamic");
    out = (char *)1;
    assert_int_equal(msgval_encode(v, dyn, &out, &n, err), MSGVAL_EVALUE);
    assert_null(out);
    assert_message(err, "~nested deeper than 32");
    json_decref(dyn);
    json_decref(v);
}

/*
 * Byte strings a hostile or broken peer could send. Each must be refused
 * with MSGVAL_EVALUE and a message, and nothing may crash or leak (the
 * suite also runs under valgrind and ASan). The first ones declare huge
 * sizes in a few bytes: msgpack-c alone would try to allocate for them.
 */
static const struct {
    const char *hex, *type, *message;
} hostile[] = {
    {"dd ff ff ff ff", "['list','string']", "~holds 4294967295 elements, only 0 bytes remain"},
    {"df ff ff ff ff", "['map','string']", "~the map at offset 0 holds 4294967295 elements"},
    {"dc ff ff 01", "['list','number']", "~holds 65535 elements"},
    {"91 dd 7f ff ff ff c0", "['list',['list','string']]", "~holds 2147483647 elements"},
    {"db ff ff ff ff", "'string'", "~needs 4294967295 bytes"},
    {"c6 ff ff ff ff 00", "'string'", "~needs 4294967295 bytes"},
    {"c9 ff ff ff ff 00", "'string'", "~needs 4294967295 bytes"},
    {"c8 ff ff", "'string'", "~truncated"},
    {"c1", "'string'", "not msgpack: byte 0xc1 at offset 0"},
    {"92 c1 c0", "['list','string']", "not msgpack: byte 0xc1 at offset 1"},
    {"", "'dynamic'", "no msgpack value: the input is empty"},
    {"a2 ff fe", "'string'", "expected a string, got bytes that are not UTF-8"},
    {"a2 c0 80", "'string'", "expected a string, got bytes that are not UTF-8"},
    {"a3 ed a0 80", "'string'", "expected a string, got bytes that are not UTF-8"},
    {"a4 f4 90 80 80", "'string'", "expected a string, got bytes that are not UTF-8"},
    {"a2 e2 82", "'string'", "expected a string, got bytes that are not UTF-8"},
    {"81 a2 ff fe c0", "['map','string']", "the key \"\\xff\\xfe\" is not UTF-8"},
    {"82 a1 61 01 a1 61 02", "['map','number']", "duplicate key \"a\""},
    {"82 a1 61 01 a1 61 02", "['object',{'a':'number'}]", "duplicate key \"a\""},
    {"ca 7f c0 00 00", "'number'", "expected a number, got a float that is NaN"},
    {"92 a3 66 6f 6f c0", "'dynamic'", "~the type of a dynamic value is not JSON"},
    {"92 a8 5b 22 6c 69 73 74 22 5d c0", "'dynamic'",
     "~the type of a dynamic value is wrong: invalid type"},
    {"92 01 c0", "'dynamic'", "expected the type of a dynamic value as JSON text, got an integer"},
    {"91 c0", "'dynamic'", "~a [type, value] array of 2 elements, got an array of another length"},
    {"a1 78", "'dynamic'", "~a [type, value] array of 2 elements, got a string"},
    {"92 c4 08 22 73 74 72 69 6e 67 22 c3", "'dynamic'", "expected a string, got a bool"},
    {"93 01 02 03", "['tuple',['number','number']]", "~expected a tuple of 2 elements"},
    {"c3", "['object',{'a':'string'}]", "expected an object, got a bool"},
    {"81 a1 7a c0", "['object',{'a':'string'}]", "unsupported attribute \"z\""},
    {"81 a2 00 01 c0", "['object',{'a':'string'}]", "unsupported attribute \"\\x00\\x01\""},
    {"a1 78 ff", "'string'", "~trailing bytes"},
    {"d4 00", "'string'", "~truncated"},
    {"c7 05 0c 81", "'string'", "~truncated"},
};

static void test_hostile(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++)
        assert_decode_fails(hostile[i].hex, hostile[i].type, MSGVAL_EVALUE, hostile[i].message);
}

/* xorshift64*, deterministic. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

/* True when two JSON values are equal, numbers compared by value (an
 * integral float comes back from msgpack as an integer). */
static bool json_equiv(const json_t *a, const json_t *b) {
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_equiv(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a)) {
        const char *k;
        size_t kn;
        json_t *v;
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_keylen_foreach((json_t *)a, k, kn, v) {
            const json_t *w = json_object_getn(b, k, kn);
            if (w == NULL || !json_equiv(v, w))
                return false;
        }
        return true;
    }
    return json_equal(a, b);
}

static const char *const fuzz_types[] = {"'string'",
                                         "'number'",
                                         "'bool'",
                                         "'dynamic'",
                                         "['list','string']",
                                         "['map','number']",
                                         "['set',['list','bool']]",
                                         "['tuple',['string','number']]",
                                         "['object',{'a':'string','b':['list','number']}]",
                                         "['list',['object',{'a':'dynamic'}]]"};

/*
 * Decodes `p` as every fuzz type. Whatever is accepted must encode and
 * decode back to an equivalent value (as its own type), and encoding it as
 * any other type must either fail cleanly or produce bytes that decode.
 */
static void fuzz_one(const unsigned char *p, size_t n, json_t **types, size_t ntypes) {
    for (size_t i = 0; i < ntypes; i++) {
        json_t *got = NULL, *back = NULL;
        char err[MSGVAL_ERR_MAX] = "", *out = NULL;
        size_t outn = 0;
        int rc = msgval_decode(p, n, types[i], &got, err);
        if (rc != 0) {
            assert_true(rc == MSGVAL_EVALUE);
            assert_null(got);
            assert_true(err[0] != '\0');
            continue;
        }
        assert_int_equal(msgval_encode(got, types[i], &out, &outn, err), 0);
        assert_int_equal(msgval_decode(out, outn, types[i], &back, err), 0);
        if (!json_equiv(got, back)) {
            char *h = hexdump(p, n);
            fail_msg("round trip changed the value of %s", h);
        }
        free(out);
        json_decref(back);
        for (size_t j = 0; j < ntypes; j++) {
            if (msgval_encode(got, types[j], &out, &outn, err) != 0) {
                assert_null(out);
                continue;
            }
            assert_int_equal(msgval_decode(out, outn, types[j], &back, err), 0);
            json_decref(back);
            free(out);
        }
        json_decref(got);
    }
}

static void test_fuzz(void **state) {
    (void)state;
    static const unsigned char interesting[] = {
        0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0x90, 0x91, 0x92, 0x93, 0xa0, 0xa1, 0xa2,
        0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc7, 0xca, 0xcb, 0xcc, 0xcf, 0xd0, 0xd3, 0xd4,
        0xd8, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xff, 0x61, 0x62, 0x0c, 0x22, 0x5b};
    size_t ntypes = sizeof fuzz_types / sizeof fuzz_types[0];
    json_t *types[sizeof fuzz_types / sizeof fuzz_types[0]];
    for (size_t i = 0; i < ntypes; i++)
        types[i] = J(fuzz_types[i]);
    unsigned char buf[64];
    /* Random byte strings made mostly of msgpack header bytes. */
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = rng() % 24;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rng();
            buf[i] = (r & 1) ? interesting[(r >> 8) % sizeof interesting] : (unsigned char)(r >> 8);
        }
        fuzz_one(buf, n, types, ntypes);
    }
    /* Mutations of valid encodings: flipped, replaced, dropped, duplicated
     * bytes. */
    static const char *const seeds[] = {
        "82 a1 61 a1 78 a1 62 92 01 cb 3f f8 00 00 00 00 00 00",
        "92 c4 08 22 73 74 72 69 6e 67 22 a1 78",
        "92 81 a1 61 c7 03 0c 81 01 c2 81 a1 61 92 a8 22 6e 75 6d 62 65 72 22 05",
        "92 a1 78 a3 31 65 33", "82 a1 61 c3 a1 62 c2"};
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        bytes seed = from_hex(seeds[s]);
        for (int iter = 0; iter < 4000; iter++) {
            size_t n = seed.n;
            memcpy(buf, seed.p, n);
            int edits = 1 + (int)(rng() % 3);
            for (int e = 0; e < edits && n > 0; e++) {
                size_t at = rng() % n;
                switch (rng() % 4) {
                case 0:
                    buf[at] ^= (unsigned char)(1u << (rng() % 8));
                    break;
                case 1:
                    buf[at] = interesting[rng() % sizeof interesting];
                    break;
                case 2:
                    memmove(buf + at, buf + at + 1, n - at - 1);
                    n--;
                    break;
                default:
                    if (n < sizeof buf) {
                        memmove(buf + at + 1, buf + at, n - at);
                        n++;
                    }
                    break;
                }
            }
            fuzz_one(buf, n, types, ntypes);
        }
        free(seed.p);
    }
    for (size_t i = 0; i < ntypes; i++)
        json_decref(types[i]);
}

/* ------------------------------------------------------------------ */
/* Dynamic values                                                      */
/* ------------------------------------------------------------------ */

static void test_dynamic(void **state) {
    (void)state;
    /* Terraform's [bin(type JSON), value] pair. */
    assert_both("'x'", "'dynamic'", "92 c4 08 22 73 74 72 69 6e 67 22 a1 78");
    assert_encodes("[1,'a']", "'dynamic'",
                   "92 c4 1d 5b 22 74 75 70 6c 65 22 2c 5b 22 6e 75 6d 62 65 72 22 2c 22 73 74 "
                   "72 69 6e 67 22 5d 5d 92 01 a1 61");
    /* The type may also come as str, and be any type. */
    assert_decodes("92 b1 5b 22 6c 69 73 74 22 2c 22 6e 75 6d 62 65 72 22 5d 92 01 02", "'dynamic'",
                   "[1,2]");
    assert_decodes("92 a9 22 64 79 6e 61 6d 69 63 22 c0", "'dynamic'", "null");
    assert_decodes("92 a9 22 64 79 6e 61 6d 69 63 22 92 a8 22 73 74 72 69 6e 67 22 a1 79",
                   "'dynamic'", "'y'");
    assert_decodes("92 a8 22 6e 75 6d 62 65 72 22 c7 03 0c 81 01 c2", "'dynamic'",
                   "{'$unknown':true}");
    assert_round_trip_text("{'a':[1,'x',{'b':true}],'c':null,'d':{'$unknown':true}}", "'dynamic'");
    assert_round_trip_text("{'d':{'k':[1.5,'x']}}", "['object',{'d':'dynamic'}]");
    assert_both("{'d':{'$unknown':true}}", "['object',{'d':'dynamic'}]", "81 a1 64 d4 00 00");
    assert_both("{'d':null}", "['object',{'d':'dynamic'}]", "81 a1 64 c0");
}

/* ------------------------------------------------------------------ */
/* Types and schema blocks                                             */
/* ------------------------------------------------------------------ */

static void test_bad_types(void **state) {
    (void)state;
    assert_decode_fails("c0", "'strin'", MSGVAL_ETYPE, "~invalid type: expected \"string\"");
    assert_decode_fails("c0", "['list']", MSGVAL_ETYPE, "~invalid type: expected");
    assert_decode_fails("c0", "['list','string','x']", MSGVAL_ETYPE,
                        "invalid type: a list type takes exactly one element type");
    assert_decode_fails("c0", "['tuple','string']", MSGVAL_ETYPE,
                        "invalid type: a tuple type is [\"tuple\", [T, ...]]");
    assert_decode_fails("c0", "['object',{'a':{'b':'string'}}]", MSGVAL_ETYPE,
                        "~at .a: invalid type");
    assert_decode_fails("c0", "['object',{'a':['map',7]}]", MSGVAL_ETYPE,
                        "~at .a[*]: invalid type");
    assert_decode_fails("c0", "['object',{},'x']", MSGVAL_ETYPE, "~an object type is");
    assert_encode_fails("null", "['set']", MSGVAL_ETYPE, "~invalid type");
    assert_encode_fails("null", "42", MSGVAL_ETYPE, "~invalid type");
    /* A type string with a NUL after a valid name is not that name. */
    json_t *t = json_stringn("string\0x", 8);
    char err[MSGVAL_ERR_MAX];
    assert_int_equal(msgval_type_check(t, err), MSGVAL_ETYPE);
    json_decref(t);
    /* Errors need not be reported. */
    json_t *good = J("'string'"), *got;
    assert_int_equal(msgval_decode("\xc3", 1, good, &got, NULL), MSGVAL_EVALUE);
    assert_int_equal(msgval_type_check(good, err), 0);
    json_decref(good);
}

static void test_block_type(void **state) {
    (void)state;
    json_t *block =
        J("{'attributes':{'id':{'type':'string','computed':true},"
          "  'tags':{'type':['map','string'],'optional':true},"
          "  'nested':{'nested_type':{'attributes':{'x':{'type':'number'}},'nesting_mode':'list'},"
          "            'optional':true},"
          "  'one':{'nested_type':{'attributes':{'y':{'type':'bool'}},'nesting_mode':'single'}}},"
          " 'block_types':{"
          "  'single_b':{'nesting_mode':'single','block':{'attributes':{'a':{'type':'string'}}}},"
          "  'group_b':{'nesting_mode':'group','block':{'attributes':{'a':{'type':'string'}}}},"
          "  'list_b':{'nesting_mode':'list','block':{'attributes':{'a':{'type':'string'}},"
          "     'block_types':{'deep':{'nesting_mode':'set',"
          "                            'block':{'attributes':{'z':{'type':'bool'}}}}}}},"
          "  'set_b':{'nesting_mode':'set','block':{'attributes':{'a':{'type':'string'}}}},"
          "  'map_b':{'nesting_mode':'map','block':{'attributes':{'a':{'type':'string'}}},"
          "           'min_items':0},"
          "  'dyn_list':{'nesting_mode':'list','block':{'attributes':{'d':{'type':'dynamic'}}}},"
          "  'empty':{'nesting_mode':'single','block':{}}},"
          " 'description':'ignored'}");
    json_t *want = J("['object',{'id':'string','tags':['map','string'],"
                     " 'nested':['list',['object',{'x':'number'}]],"
                     " 'one':['object',{'y':'bool'}],"
                     " 'single_b':['object',{'a':'string'}],"
                     " 'group_b':['object',{'a':'string'}],"
                     " 'list_b':['list',['object',{'a':'string',"
                     "                             'deep':['set',['object',{'z':'bool'}]]}]],"
                     " 'set_b':['set',['object',{'a':'string'}]],"
                     " 'map_b':['map',['object',{'a':'string'}]],"
                     " 'dyn_list':'dynamic',"
                     " 'empty':['object',{}]}]");
    char err[MSGVAL_ERR_MAX] = "";
    json_t *got = msgval_block_type(block, err);
    if (got == NULL)
        fail_msg("%s", err);
    assert_json_equal(got, want);
    /* The result is a copy: changing the schema does not change it. */
    json_object_set_new(json_object_get(json_object_get(block, "attributes"), "id"), "type",
                        json_string("bool"));
    assert_json_equal(got, want);
    /* And it is a type the codec takes: blocks round trip. */
    json_t *value = J("{'id':'i','list_b':[{'a':'x','deep':[{'z':true}]}],"
                      " 'map_b':{'k':{'a':'v'}},'group_b':{'a':null},'empty':{}}");
    char *out;
    size_t n;
    assert_int_equal(msgval_encode(value, got, &out, &n, err), 0);
    assert_int_equal(((unsigned char *)out)[0], 0x8b); /* all 11 attributes */
    json_t *back;
    assert_int_equal(msgval_decode(out, n, got, &back, err), 0);
    assert_int_equal(json_object_size(back), 11);
    assert_true(json_is_null(json_object_get(back, "tags")));
    assert_json_equal(json_object_get(back, "list_b"), json_object_get(value, "list_b"));
    json_decref(back);
    free(out);
    json_decref(value);
    json_decref(got);
    json_decref(want);
    json_decref(block);

    json_t *empty = J("{}"), *empty_type = msgval_block_type(empty, err), *empty_want;
    empty_want = J("['object',{}]");
    assert_json_equal(empty_type, empty_want);
    json_decref(empty);
    json_decref(empty_type);
    json_decref(empty_want);

    static const struct {
        const char *block, *message;
    } bad[] = {
        {"[]", "expected a block (an object), got an array"},
        {"{'attributes':[]}", "\"attributes\" must be an object, got an array"},
        {"{'attributes':{'x':{'optional':true}}}",
         "at .x: an attribute needs exactly one of \"type\" and \"nested_type\""},
        {"{'attributes':{'x':'string'}}", "at .x: an attribute must be an object, got a string"},
        {"{'attributes':{'x':{'type':'strin'}}}", "~at .x: invalid type: expected"},
        {"{'attributes':{'x':{'nested_type':{'attributes':{},'nesting_mode':'group'}}}}",
         "at .x: \"nesting_mode\" must be one of \"single\", \"list\", \"set\", \"map\""},
        {"{'attributes':{'x':{'nested_type':{'nesting_mode':'list'}}}}",
         "at .x: \"attributes\" must be an object, got nothing"},
        {"{'block_types':{'b':{'nesting_mode':'lists','block':{}}}}",
         "at .b: \"nesting_mode\" must be one of \"single\", \"group\", \"list\", \"set\", "
         "\"map\""},
        {"{'block_types':{'b':{'nesting_mode':'list'}}}",
         "at .b: expected a block (an object), got nothing"},
        {"{'block_types':{'b':{'nesting_mode':'list','block':{'attributes':{'y':{'type':7}}}}}}",
         "~at .b.y: invalid type"},
        {"{'attributes':{'b':{'type':'string'}},'block_types':{'b':{'nesting_mode':'single',"
         "'block':{}}}}",
         "at .b: a block type has the name of an attribute"},
        {"{'block_types':[]}", "\"block_types\" must be an object, got an array"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *b = J(bad[i].block);
        err[0] = '\0';
        json_t *t = msgval_block_type(b, err);
        if (t != NULL)
            fail_msg("block %s was accepted", bad[i].block);
        assert_message(err, bad[i].message);
        json_decref(b);
    }
    /* Blocks nested past the limit. */
    json_t *deep = json_object();
    for (int i = 0; i < 40; i++) {
        json_t *outer = json_pack("{s:{s:{s:s,s:o}}}", "block_types", "b", "nesting_mode", "single",
                                  "block", deep);
        deep = outer;
    }
    assert_null(msgval_block_type(deep, err));
    assert_message(err, "~nested deeper than 32");
    json_decref(deep);
}

/*
 * The real sso_connector resource schema, as `GetProviderSchema` on
 * build/bin/provider-cloudflare returns it (descriptions left out).
 */
static const char *const sso_block =
    "{'attributes':{"
    "  'id':{'type':'string','computed':true},"
    "  'account_id':{'type':'string','required':true},"
    "  'email_domain':{'type':'string','required':true},"
    "  'enabled':{'type':'bool','optional':true,'computed':true},"
    "  'use_fedramp_language':{'type':'bool','optional':true,'computed':true},"
    "  'begin_verification':{'type':'bool','optional':true},"
    "  'created_on':{'type':'string','computed':true},"
    "  'updated_on':{'type':'string','computed':true},"
    "  'verification':{'type':['object',{'code':'string','status':'string'}],'computed':true}}}";

static void test_sso_connector_schema(void **state) {
    (void)state;
    json_t *block = J(sso_block), *want = J(sso_type);
    char err[MSGVAL_ERR_MAX] = "";
    json_t *type = msgval_block_type(block, err);
    if (type == NULL)
        fail_msg("%s", err);
    assert_json_equal(type, want);

    /* The planned state of a create: every attribute, sorted, 9 of them. */
    json_t *planned = J("{'id':{'$unknown':true},'account_id':'023e105f4ecef8ad9ca31a8372d0c353',"
                        "'email_domain':'example.com','enabled':true,"
                        "'use_fedramp_language':{'$unknown':true},'created_on':{'$unknown':true},"
                        "'updated_on':{'$unknown':true},'verification':{'$unknown':true}}");
    bytes b = {0};
    put_hex(&b, "89");
    put_str(&b, "account_id");
    put_str(&b, "023e105f4ecef8ad9ca31a8372d0c353");
    put_str(&b, "begin_verification");
    put_hex(&b, "c0");
    put_str(&b, "created_on");
    put_hex(&b, "d4 00 00");
    put_str(&b, "email_domain");
    put_str(&b, "example.com");
    put_str(&b, "enabled");
    put_hex(&b, "c3");
    put_str(&b, "id");
    put_hex(&b, "d4 00 00");
    put_str(&b, "updated_on");
    put_hex(&b, "d4 00 00");
    put_str(&b, "use_fedramp_language");
    put_hex(&b, "d4 00 00");
    put_str(&b, "verification");
    put_hex(&b, "d4 00 00");
    char *out;
    size_t n;
    assert_int_equal(msgval_encode(planned, type, &out, &n, err), 0);
    assert_same_bytes(out, n, b.p, b.n);
    free(out);
    free(b.p);

    /* A config as Terraform 1.11 sends it, email_domain a refined unknown
     * (ext 12, {1: false}: "not null") and computed attributes nil. */
    bytes cfg = {0};
    put_hex(&cfg, "89");
    put_str(&cfg, "account_id");
    put_str(&cfg, "023e105f4ecef8ad9ca31a8372d0c353");
    put_str(&cfg, "begin_verification");
    put_hex(&cfg, "c0");
    put_str(&cfg, "created_on");
    put_hex(&cfg, "c0");
    put_str(&cfg, "email_domain");
    put_hex(&cfg, "c7 03 0c 81 01 c2");
    put_str(&cfg, "enabled");
    put_hex(&cfg, "c3");
    put_str(&cfg, "id");
    put_hex(&cfg, "c0");
    put_str(&cfg, "updated_on");
    put_hex(&cfg, "c0");
    put_str(&cfg, "use_fedramp_language");
    put_hex(&cfg, "c0");
    put_str(&cfg, "verification");
    put_hex(&cfg, "c0");
    json_t *got, *want_cfg = J("{'id':null,'account_id':'023e105f4ecef8ad9ca31a8372d0c353',"
                               "'email_domain':{'$unknown':true},'enabled':true,"
                               "'use_fedramp_language':null,'begin_verification':null,"
                               "'created_on':null,'updated_on':null,'verification':null}");
    assert_int_equal(msgval_decode(cfg.p, cfg.n, type, &got, err), 0);
    assert_json_equal(got, want_cfg);
    json_decref(got);
    free(cfg.p);

    /* A full state round trips; a provider answer missing attributes is
     * completed with nil (Terraform would refuse 8 of 9). */
    assert_round_trip_text(sso_value, sso_type);
    json_t *partial = J("{'id':'abc','account_id':'a','email_domain':'d'}");
    assert_int_equal(msgval_encode(partial, type, &out, &n, err), 0);
    assert_int_equal((unsigned char)out[0], 0x89);
    assert_int_equal(msgval_decode(out, n, type, &got, err), 0);
    assert_int_equal(json_object_size(got), 9);
    assert_true(json_is_null(json_object_get(got, "verification")));
    json_decref(got);
    free(out);
    /* A wrong answer names the attribute. */
    assert_encode_fails("{'verification':{'code':1}}", sso_type, MSGVAL_EVALUE,
                        "at .verification.code: expected a string, got a number");
    assert_encode_fails("{'enabled':'yes'}", sso_type, MSGVAL_EVALUE,
                        "at .enabled: expected a bool, got a string");

    json_decref(partial);
    json_decref(want_cfg);
    json_decref(planned);
    json_decref(type);
    json_decref(want);
    json_decref(block);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string),
        cmocka_unit_test(test_number),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_collections),
        cmocka_unit_test(test_objects),
        cmocka_unit_test(test_null),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_missing_attributes),
        cmocka_unit_test(test_extra_attribute),
        cmocka_unit_test(test_error_paths),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_trailing),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_dynamic),
        cmocka_unit_test(test_bad_types),
        cmocka_unit_test(test_block_type),
        cmocka_unit_test(test_sso_connector_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
