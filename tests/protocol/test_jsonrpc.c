/*
 * test_jsonrpc.c - message parsing, request validation, exact id echo and
 * response formatting (jsonrpc.c, rawjson.c), table-driven.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "jsonrpc.h"
#include "protocol.h"
#include "rawjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs a message through what the server does for a single call: parse,
 * validate, take the id's exact text. Returns the validation code (or the
 * parse error code) and the id text (malloc'd, NULL when not usable). */
static int examine(const char *text, char **id_text, bool *is_notification) {
    int code = 0;
    char detail[JSONRPC_DETAIL_MAX];
    *id_text = NULL;
    json_t *msg = jsonrpc_parse(text, strlen(text), &code, detail);
    if (!msg)
        return code;
    jsonrpc_call call;
    const char *reason = NULL;
    code = jsonrpc_validate(msg, &call, &reason);
    if (code)
        assert_non_null(reason);
    if (is_notification)
        *is_notification = !call.has_id;
    if (call.id_usable) {
        rawjson_span v, whole = {0, strlen(text)};
        assert_int_equal(rawjson_find_member(text, whole, "id", &v), 0);
        *id_text = strndup(text + v.start, v.end - v.start);
    }
    json_decref(msg);
    return code;
}

typedef struct vcase {
    const char *input;
    int code;          /* 0: a valid request */
    const char *id;    /* expected exact id text, NULL: none usable */
    bool notification; /* only checked for valid requests */
} vcase;

static const vcase validation[] = {
    /* valid requests and notifications */
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"}", 0, "1", false},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{}}", 0, "1", false},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":[1]}", 0, "1", false},
    {"{\"jsonrpc\":\"2.0\",\"method\":\"m\"}", 0, NULL, true},
    {"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"m\"}", 0, "null", false},
    {"  {\"method\":\"m\",\"id\":\"x\",\"jsonrpc\":\"2.0\",\"extra\":true}  ", 0, "\"x\"", false},
    /* invalid JSON */
    {"", RPC_PARSE_ERROR, NULL, false},
    {"{", RPC_PARSE_ERROR, NULL, false},
    {"garbage", RPC_PARSE_ERROR, NULL, false},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"} trailing", RPC_PARSE_ERROR, NULL, false},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"m\"}", RPC_PARSE_ERROR, NULL, false},
    {"{\"jsonrpc\":\"2.0\",\"id\":1e400,\"method\":\"m\"}", RPC_PARSE_ERROR, NULL, false},
    {"{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"m\"}", RPC_PARSE_ERROR, NULL, false},
    {"{'jsonrpc':'2.0'}", RPC_PARSE_ERROR, NULL, false},
    /* valid JSON, invalid request */
    {"5", RPC_INVALID_REQUEST, NULL, false},
    {"\"req\"", RPC_INVALID_REQUEST, NULL, false},
    {"null", RPC_INVALID_REQUEST, NULL, false},
    {"{}", RPC_INVALID_REQUEST, NULL, false},
    {"{\"id\":1,\"method\":\"m\"}", RPC_INVALID_REQUEST, "1", false},
    {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"m\"}", RPC_INVALID_REQUEST, "1", false},
    {"{\"jsonrpc\":2.0,\"id\":1,\"method\":\"m\"}", RPC_INVALID_REQUEST, "1", false},
    {"{\"jsonrpc\":\"2.0\",\"id\":1}", RPC_INVALID_REQUEST, "1", false},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", RPC_INVALID_REQUEST, "1", false},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":null}", RPC_INVALID_REQUEST, "1", false},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":\"x\"}", RPC_INVALID_REQUEST, "1",
     false},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":null}", RPC_INVALID_REQUEST, "1",
     false},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":3}", RPC_INVALID_REQUEST, "1",
     false},
    {"{\"jsonrpc\":\"2.0\",\"method\":1,\"params\":\"bar\"}", RPC_INVALID_REQUEST, NULL, false},
    /* ids of a wrong type cannot be echoed */
    {"{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"m\"}", RPC_INVALID_REQUEST, NULL, false},
    {"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"m\"}", RPC_INVALID_REQUEST, NULL, false},
    {"{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"m\"}", RPC_INVALID_REQUEST, NULL, false},
};

static void test_validation_table(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(validation) / sizeof(validation[0]); i++) {
        const vcase *c = &validation[i];
        char *id = NULL;
        bool notification = false;
        int code = examine(c->input, &id, &notification);
        bool ok = code == c->code && ((id == NULL) == (c->id == NULL)) &&
                  (!id || strcmp(id, c->id) == 0) &&
                  (c->code != 0 || notification == c->notification);
        if (!ok) {
            fprintf(stderr, "case %zu [%s]: expected code %d id %s notification %d, got %d %s %d\n",
                    i, c->input, c->code, c->id ? c->id : "-", c->notification, code, id ? id : "-",
                    notification);
            free(id);
            fail();
        }
        free(id);
    }
}

/* Ids are echoed byte for byte, including forms jansson would change
 * (1.50, 1e3, -0) or cannot hold as an integer (past 64 bits). */
static void test_id_echo_exact(void **state) {
    (void)state;
    static const char *ids[] = {
        "1",
        "0",
        "-5",
        "9007199254740993",
        "9223372036854775807",
        "-9223372036854775808",
        "123456789012345678901234567890",
        "1.5",
        "1.50",
        "0.1",
        "1e3",
        "-0",
        "2.5E-7",
        "\"abc\"",
        "\"\"",
        "\"\\u00e9t\\u00e9\"",
        "\"with \\\"quotes\\\" and \\\\ and \\n\"",
        "\"\xc3\xa9\"",
        "null",
    };
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"params\":{\"id\":\"decoy\",\"nested\":[{\"id\":0}]},\"jsonrpc\":\"2.0\","
                 "\"method\":\"m\",\"id\" : %s }",
                 ids[i]);
        char *id = NULL;
        int code = examine(text, &id, NULL);
        if (code != 0 || !id || strcmp(id, ids[i]) != 0) {
            fprintf(stderr, "id %s: code %d, echoed %s\n", ids[i], code, id ? id : "(none)");
            free(id);
            fail();
        }
        size_t len;
        char *resp = jsonrpc_format_result_new(id, strlen(id), json_object(), &len);
        char expect[300];
        snprintf(expect, sizeof(expect), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{}}", ids[i]);
        assert_string_equal(resp, expect);
        assert_int_equal(len, strlen(expect));
        /* And the response is valid JSON. */
        json_t *parsed = json_loads(resp, JSON_DECODE_INT_AS_REAL, NULL);
        assert_non_null(parsed);
        json_decref(parsed);
        free(resp);
        free(id);
    }
}

/* A 64-bit-overflowing integer anywhere makes jansson fail; the message is
 * read again with integers as reals. */
static void test_big_integer_reparsed(void **state) {
    (void)state;
    const char *text = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"n\":"
                       "123456789012345678901234567890}}";
    int code = 0;
    char detail[JSONRPC_DETAIL_MAX];
    json_t *msg = jsonrpc_parse(text, strlen(text), &code, detail);
    assert_non_null(msg);
    json_t *n = json_object_get(json_object_get(msg, "params"), "n");
    assert_true(json_is_real(n));
    assert_true(json_real_value(n) > 1.2e29);
    json_decref(msg);
}

/* Nesting past jansson's depth limit is a parse error, not a crash. */
/* A raw NUL byte is refused, even where jansson would skip it. */
static void test_nul_byte_refused(void **state) {
    (void)state;
    static const char text[] = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"},1\0,2]";
    int code = 0;
    char detail[JSONRPC_DETAIL_MAX];
    assert_null(jsonrpc_parse(text, sizeof(text) - 1, &code, detail));
    assert_int_equal(code, RPC_PARSE_ERROR);
    assert_non_null(strstr(detail, "NUL"));
}

static void test_deep_nesting(void **state) {
    (void)state;
    size_t depth = 10000;
    char *text = malloc(depth * 2 + 1);
    assert_non_null(text);
    memset(text, '[', depth);
    memset(text + depth, ']', depth);
    text[depth * 2] = '\0';
    int code = 0;
    char detail[JSONRPC_DETAIL_MAX];
    json_t *msg = jsonrpc_parse(text, depth * 2, &code, detail);
    assert_null(msg);
    assert_int_equal(code, RPC_PARSE_ERROR);
    assert_non_null(strstr(detail, "depth"));
    free(text);
}

static void test_rawjson_member(void **state) {
    (void)state;
    static const struct {
        const char *text;
        const char *key;
        const char *value; /* NULL: not found */
    } rows[] = {
        {"{\"a\":1,\"id\":7}", "id", "7"},
        {"{\"params\":{\"id\":5},\"id\":\"top\"}", "id", "\"top\""},
        {"{\"m\":\"a\\\"}{,\\\"id\\\":1\",\"id\":[1, {\"x\":\"]\"}]}", "id", "[1, {\"x\":\"]\"}]"},
        {"{\"\\u0069d\":3}", "id", "3"},
        {"{\"i\\u0064\" : \"esc\" }", "id", "\"esc\""},
        {"{\"idx\":1,\"i\":2}", "id", NULL},
        {"{}", "id", NULL},
        {"[{\"id\":1}]", "id", NULL},
        {"{\"id\":true}", "id", "true"},
        {"{\"id\":-1.5e+3}", "id", "-1.5e+3"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        rawjson_span whole = {0, strlen(rows[i].text)}, v;
        int rc = rawjson_find_member(rows[i].text, whole, rows[i].key, &v);
        if (!rows[i].value) {
            assert_int_equal(rc, -1);
            continue;
        }
        assert_int_equal(rc, 0);
        char *got = strndup(rows[i].text + v.start, v.end - v.start);
        assert_string_equal(got, rows[i].value);
        free(got);
    }
}

static void test_rawjson_array(void **state) {
    (void)state;
    const char *text = "[ {\"id\":1} , 2,\"s,]\", [3,{\"id\":4}],{\"id\":\"z\"} ,null]";
    const char *expect[] = {"{\"id\":1}",     "2",   "\"s,]\"", "[3,{\"id\":4}]",
                            "{\"id\":\"z\"}", "null"};
    rawjson_iter it;
    rawjson_span whole = {0, strlen(text)}, elem;
    assert_int_equal(rawjson_array_begin(&it, text, whole), 0);
    size_t n = 0;
    int rc;
    while ((rc = rawjson_array_next(&it, &elem)) == 1) {
        assert_true(n < 6);
        char *got = strndup(text + elem.start, elem.end - elem.start);
        assert_string_equal(got, expect[n]);
        free(got);
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, 6);
    assert_int_equal(rawjson_array_begin(&it, "{}", (rawjson_span){0, 2}), -1);
}

static void test_format_error(void **state) {
    (void)state;
    size_t len;
    char *s =
        jsonrpc_format_error_new("7", 1, RPC_METHOD_NOT_FOUND, NULL, json_string("nope"), &len);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32601,\"message\":"
                           "\"Method not found\",\"data\":\"nope\"}}");
    assert_int_equal(len, strlen(s));
    free(s);
    s = jsonrpc_format_error_new("null", 4, RPC_REQUEST_CANCELLED, "stopped", NULL, &len);
    assert_string_equal(
        s, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32800,\"message\":\"stopped\"}}");
    free(s);
    /* A message that is not UTF-8 becomes the standard one. */
    s = jsonrpc_format_error_new("1", 1, RPC_INTERNAL_ERROR, "bad \xff", NULL, &len);
    assert_non_null(strstr(s, "\"message\":\"Internal error\""));
    free(s);
}

static void test_format_result(void **state) {
    (void)state;
    size_t len;
    char *s = jsonrpc_format_result_new("\"a\"", 3, json_pack("{s:[]}", "diagnostics"), &len);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":{\"diagnostics\":[]}}");
    free(s);
    /* Any JSON value is a result; NULL (a failed constructor) is refused. */
    s = jsonrpc_format_result_new("1", 1, json_string("line\nbreak"), &len);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"line\\nbreak\"}");
    assert_null(strchr(s, '\n'));
    free(s);
    assert_null(jsonrpc_format_result_new("1", 1, NULL, &len));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation_table),     cmocka_unit_test(test_id_echo_exact),
        cmocka_unit_test(test_big_integer_reparsed), cmocka_unit_test(test_nul_byte_refused),
        cmocka_unit_test(test_deep_nesting),         cmocka_unit_test(test_rawjson_member),
        cmocka_unit_test(test_rawjson_array),        cmocka_unit_test(test_format_error),
        cmocka_unit_test(test_format_result),
    };
    return cmocka_run_group_tests_name("protocol_jsonrpc", tests, NULL, NULL);
}
