/*
 * test_units.c - the simulator's pure helpers, table-driven: domain and id
 * validation, the fault path glob, the sliding-window rate limit (on a
 * synthetic clock), header masking and fault-rule parsing.
 */
#include "faults.h"
#include "ratelimit.h"
#include "reqlog.h"
#include "validate.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_domains(void **state) {
    (void)state;
    static const struct {
        const char *name;
        bool valid;
    } cases[] = {
        {"example.com", true},
        {"Example.COM", true},
        {"a.b.c.example.co.uk", true},
        {"xn--bcher-kva.example", true},
        {"my-site.example", true},
        {"1.example", true},
        {"localhost", false},
        {"", false},
        {".example.com", false},
        {"example.com.", false},
        {"example..com", false},
        {"-example.com", false},
        {"example-.com", false},
        {"exa mple.com", false},
        {"exa_mple.com", false},
        {"user@example.com", false},
        {"192.168.0.1", false},
        {"example.123", false},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", true},   /* 63 */
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", false}, /* 64 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (validate_is_domain(cases[i].name) != cases[i].valid)
            fail_msg("\"%s\" should be %s", cases[i].name, cases[i].valid ? "valid" : "invalid");
    /* 253 characters at most: 4 labels of 62 plus "com" is 254 with dots. */
    char long_name[300] = "";
    for (int i = 0; i < 4; i++) {
        size_t at = strlen(long_name);
        memset(long_name + at, 'a', 62);
        long_name[at + 62] = '.';
        long_name[at + 63] = '\0';
    }
    strcat(long_name, "com");
    assert_int_equal(strlen(long_name), 255);
    assert_false(validate_is_domain(long_name));
    long_name[strlen(long_name) - 3] = '\0'; /* drop "com": trailing dot */
    strcat(long_name, "c");                  /* 253 characters */
    assert_int_equal(strlen(long_name), 253);
    assert_true(validate_is_domain(long_name));
    assert_false(validate_is_domain(NULL));
}

static void test_hex32(void **state) {
    (void)state;
    assert_true(validate_is_hex32("0123456789abcdef0123456789abcdef"));
    assert_true(validate_is_hex32("0123456789ABCDEF0123456789ABCDEF"));
    assert_false(validate_is_hex32("0123456789abcdef0123456789abcde"));
    assert_false(validate_is_hex32("0123456789abcdef0123456789abcdef0"));
    assert_false(validate_is_hex32("0123456789abcdef0123456789abcdeg"));
    assert_false(validate_is_hex32(""));
    assert_false(validate_is_hex32(NULL));
}

static void test_glob(void **state) {
    (void)state;
    static const struct {
        const char *pattern, *text;
        bool match;
    } cases[] = {
        {"*", "", true},
        {"*", "/anything/at/all", true},
        {"/a/b", "/a/b", true},
        {"/a/b", "/a/bc", false},
        {"/client/v4/accounts/*/sso_connectors", "/client/v4/accounts/abc/sso_connectors", true},
        {"/client/v4/accounts/*/sso_connectors", "/client/v4/accounts/abc/sso_connectors/x", false},
        {"/client/v4/accounts/*/sso_connectors*",
         "/client/v4/accounts/abc/sso_connectors/x/begin_verification", true},
        {"*sso_connectors", "/x/sso_connectors", true},
        {"*/sso_connectors/*", "/x/sso_connectors", false},
        {"a*b*c", "aXXbYYc", true},
        {"a*b*c", "aXXcYYb", false},
        {"a**c", "abc", true},
        {"*ab", "aab", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (faults_glob_match(cases[i].pattern, cases[i].text) != cases[i].match)
            fail_msg("glob %s vs %s: want %d", cases[i].pattern, cases[i].text, cases[i].match);
}

static void test_ratelimit_parse(void **state) {
    (void)state;
    unsigned n, s;
    assert_int_equal(ratelimit_parse("1200/300", &n, &s), 0);
    assert_int_equal(n, 1200);
    assert_int_equal(s, 300);
    static const char *const bad[] = {"",    "1200", "/300", "1200/", "0/5",           "5/0",
                                      "a/b", "5/5x", "-1/5", "5/-1",  "99999999999/5", NULL};
    for (size_t i = 0; bad[i]; i++)
        if (ratelimit_parse(bad[i], &n, &s) == 0)
            fail_msg("\"%s\" should be refused", bad[i]);
}

static void test_ratelimit_window(void **state) {
    (void)state;
    ratelimit *rl;
    unsigned left, reset;
    assert_int_equal(ratelimit_new(&rl, 3, 10), 0);
    /* Requests at t = 0 s, 2 s, 4 s fill the window. */
    assert_true(ratelimit_take(rl, 0, &left, &reset));
    assert_int_equal(left, 2);
    assert_int_equal(reset, 10);
    assert_true(ratelimit_take(rl, 2000, &left, &reset));
    assert_true(ratelimit_take(rl, 4000, &left, &reset));
    assert_int_equal(left, 0);
    /* t = 9.5 s: full; the oldest leaves at 10 s. */
    assert_false(ratelimit_take(rl, 9500, &left, &reset));
    assert_int_equal(left, 0);
    assert_int_equal(reset, 1);
    /* t = 10 s: the first one slid out; one slot. */
    assert_true(ratelimit_take(rl, 10000, &left, &reset));
    assert_int_equal(left, 0);
    assert_false(ratelimit_take(rl, 10001, &left, &reset));
    assert_int_equal(reset, 2); /* the 2 s request leaves at 12 s */
    ratelimit_reset(rl);
    assert_true(ratelimit_take(rl, 10002, &left, &reset));
    assert_int_equal(left, 2);
    ratelimit_free(rl);
}

static void test_masking(void **state) {
    (void)state;
    char buf[32];
    assert_string_equal(reqlog_mask("authorization", "Bearer abc", buf, sizeof(buf)), "Bearer ***");
    assert_string_equal(reqlog_mask("authorization", "Basic abc", buf, sizeof(buf)), "***");
    assert_string_equal(reqlog_mask("x-auth-key", "abc", buf, sizeof(buf)), "***");
    assert_string_equal(reqlog_mask("x-auth-email", "a@example.com", buf, sizeof(buf)),
                        "a@example.com");
    json_t *headers = json_pack("{s:s, s:s}", "authorization", "Bearer secret", "x-other", "v");
    json_t *e = reqlog_entry_new("GET", "/p", "q=1", headers, "\xff\xfe", 2);
    assert_non_null(e);
    char *text = json_dumps(e, 0);
    assert_null(strstr(text, "secret"));
    free(text);
    /* Invalid UTF-8 survives as '?' instead of losing the entry. */
    assert_string_equal(json_string_value(json_object_get(e, "body")), "??");
    assert_true(json_is_null(json_object_get(e, "body_json")));
    json_decref(e);
}

/* A request-log entry like the one a 1 MiB JSON body makes: body `len`
 * bytes long, parsed as JSON too. `path` tells entries apart. */
static json_t *big_entry(const char *path, size_t len) {
    char *body = malloc(len + 1);
    assert_non_null(body);
    memset(body, 'x', len);
    memcpy(body, "{\"pad\":\"", 8);
    memcpy(body + len - 2, "\"}", 2);
    body[len] = '\0';
    json_t *e =
        reqlog_entry_new("POST", path, "", json_pack("{s:s}", "content-type", "x"), body, len);
    free(body);
    assert_non_null(e);
    assert_false(json_is_null(json_object_get(e, "body_json")));
    return e;
}

/* The request log is capped by bytes as well as by count: 40 entries of
 * 1 MiB JSON bodies (each counted about 2 MiB: text and parsed) leave 31 in
 * the default 64 MiB, the oldest dropped. Finding 13: the count cap alone
 * (10,000) kept them all. */
static void test_reqlog_byte_cap(void **state) {
    (void)state;
    reqlog *l;
    assert_int_equal(reqlog_new(&l, REQLOG_DEFAULT_CAP, REQLOG_DEFAULT_MAX_BYTES), 0);
    const size_t mib = 1024 * 1024;
    char path[32];
    /* One entry logged 40 times (parsing 40 bodies would only be slower):
     * each time it is counted afresh. */
    json_t *big = big_entry("/big", mib);
    for (int i = 0; i < 40; i++) {
        reqlog_add_new(l, json_incref(big));
        reqlog_done(l);
    }
    json_decref(big);
    size_t n, bytes, dropped;
    reqlog_stats(l, &n, &bytes, &dropped);
    assert_true(bytes <= REQLOG_DEFAULT_MAX_BYTES);
    assert_true(bytes > REQLOG_DEFAULT_MAX_BYTES - 3 * mib); /* no more dropped than needed */
    assert_int_equal(n, 31);
    assert_int_equal(dropped, 9);
    reqlog_free(l);

    /* 2 MiB and entries of 256 KiB bodies, read back: the 3 newest, in
     * order, and the figures in the dump. */
    assert_int_equal(reqlog_new(&l, REQLOG_DEFAULT_CAP, 2 * mib), 0);
    for (int i = 0; i < 10; i++) {
        snprintf(path, sizeof(path), "/big/%d", i);
        reqlog_add_new(l, big_entry(path, mib / 4));
        reqlog_done(l);
    }
    reqlog_stats(l, &n, &bytes, &dropped);
    assert_int_equal(n, 3);
    assert_int_equal(dropped, 7);
    char *text = reqlog_dump(l);
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    json_t *reqs = json_object_get(doc, "requests");
    assert_int_equal(json_array_size(reqs), 3);
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "/big/%zu", 7 + i);
        assert_string_equal(json_string_value(json_object_get(json_array_get(reqs, i), "path")),
                            path);
    }
    assert_int_equal(json_integer_value(json_object_get(doc, "bytes")), bytes);
    assert_int_equal(json_integer_value(json_object_get(doc, "max_bytes")), 2 * mib);
    assert_int_equal(json_integer_value(json_object_get(doc, "dropped")), 7);
    json_decref(doc);

    /* Clearing forgets the entries, their bytes and the drops. */
    reqlog_clear(l);
    reqlog_stats(l, &n, &bytes, &dropped);
    assert_int_equal(n + bytes + dropped, 0);
    reqlog_free(l);

    /* Count cap still holds with room in bytes; an entry over the byte cap
     * on its own is kept, alone. */
    assert_int_equal(reqlog_new(&l, 3, 4 * mib), 0);
    for (int i = 0; i < 5; i++) {
        reqlog_add_new(l, reqlog_entry_new("GET", "/small", "", json_object(), NULL, 0));
        reqlog_done(l);
    }
    reqlog_stats(l, &n, &bytes, &dropped);
    assert_int_equal(n, 3);
    assert_int_equal(dropped, 2);
    assert_true(bytes >= 3 * REQLOG_ENTRY_OVERHEAD);
    reqlog_free(l);
    assert_int_equal(reqlog_new(&l, 10, mib), 0);
    reqlog_add_new(l, reqlog_entry_new("GET", "/small", "", json_object(), NULL, 0));
    reqlog_add_new(l, big_entry("/huge", mib));
    reqlog_stats(l, &n, &bytes, &dropped);
    assert_int_equal(n, 1);
    assert_int_equal(dropped, 1);
    assert_true(bytes > mib);
    reqlog_done(l);
    reqlog_done(l);
    reqlog_free(l);
}

static void test_fault_take(void **state) {
    (void)state;
    faults *f;
    assert_int_equal(faults_new(&f), 0);
    char err[256];
    json_t *added;
    json_t *spec = json_pack("{s:s, s:s, s:i, s:i, s:s, s:i}", "method", "post", "path", "/x/*",
                             "count", 2, "status", 503, "retry_after", "3", "retry_after_ms", 250);
    assert_int_equal(faults_add(f, spec, &added, err, sizeof(err)), 0);
    assert_string_equal(json_string_value(json_object_get(added, "method")), "POST");
    json_decref(added);
    json_decref(spec);
    fault_action a;
    assert_false(faults_take(f, "GET", "/x/1", &a));
    assert_false(faults_take(f, "POST", "/y/1", &a));
    for (int i = 0; i < 2; i++) {
        assert_true(faults_take(f, "POST", "/x/1", &a));
        assert_int_equal(a.status, 503);
        assert_string_equal(a.retry_after, "3");
        assert_int_equal(a.retry_after_ms, 250);
        assert_int_equal(a.drop, FAULT_DROP_NONE);
        fault_action_free(&a);
    }
    assert_false(faults_take(f, "POST", "/x/1", &a));
    json_t *list = faults_list(f);
    assert_int_equal(json_array_size(json_object_get(list, "faults")), 0);
    json_decref(list);
    faults_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_domains),
        cmocka_unit_test(test_hex32),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_ratelimit_parse),
        cmocka_unit_test(test_ratelimit_window),
        cmocka_unit_test(test_masking),
        cmocka_unit_test(test_reqlog_byte_cap),
        cmocka_unit_test(test_fault_take),
    };
    return cmocka_run_group_tests_name("sim_units", tests, NULL, NULL);
}
