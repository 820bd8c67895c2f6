/*
 * test_log.c - log levels from the environment, the text and JSON line
 * formats, one line per message, and secret masking. stderr is pointed at
 * a temporary file while each test logs, then read back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int saved_stderr = -1;
static FILE *capture;

static void capture_start(void) {
    fflush(stderr);
    capture = tmpfile();
    assert_non_null(capture);
    saved_stderr = dup(2);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fileno(capture), 2) >= 0);
}

/* Restores stderr and returns everything written meanwhile (malloc'd). */
static char *capture_end(void) {
    dup2(saved_stderr, 2);
    close(saved_stderr);
    off_t size = lseek(fileno(capture), 0, SEEK_END);
    assert_true(size >= 0);
    char *out = calloc(1, (size_t)size + 1);
    assert_non_null(out);
    assert_int_equal(pread(fileno(capture), out, (size_t)size, 0), size);
    fclose(capture);
    return out;
}

static size_t count_lines(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static int reset(void **state) {
    (void)state;
    unsetenv("TF_LOG");
    unsetenv("TF_LOG_PROVIDER");
    log_configure(LOG_LEVEL_WARN, false);
    log_clear_secrets();
    return 0;
}

/* The lowest enabled level, or LOG_LEVEL_OFF. */
static log_level lowest_enabled(void) {
    for (int l = LOG_LEVEL_TRACE; l < LOG_LEVEL_OFF; l++) {
        if (log_enabled((log_level)l))
            return (log_level)l;
    }
    return LOG_LEVEL_OFF;
}

static void test_levels_from_env(void **state) {
    (void)state;
    static const struct {
        const char *provider, *tf_log;
        log_level level;
        bool json;
    } rows[] = {
        {NULL, NULL, LOG_LEVEL_WARN, false},
        {NULL, "", LOG_LEVEL_WARN, false},
        {NULL, "TRACE", LOG_LEVEL_TRACE, false},
        {NULL, "debug", LOG_LEVEL_DEBUG, false},
        {NULL, "Info", LOG_LEVEL_INFO, false},
        {NULL, "warn", LOG_LEVEL_WARN, false},
        {NULL, "ERROR", LOG_LEVEL_ERROR, false},
        {NULL, "off", LOG_LEVEL_OFF, false},
        {NULL, "json", LOG_LEVEL_TRACE, true},
        {NULL, "bogus", LOG_LEVEL_TRACE, false}, /* as Terraform: unknown means TRACE */
        {"ERROR", "TRACE", LOG_LEVEL_ERROR, false},
        {"", "DEBUG", LOG_LEVEL_DEBUG, false},
        {"JSON", "OFF", LOG_LEVEL_TRACE, true},
        {"off", "TRACE", LOG_LEVEL_OFF, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        reset(NULL);
        if (rows[i].provider)
            setenv("TF_LOG_PROVIDER", rows[i].provider, 1);
        if (rows[i].tf_log)
            setenv("TF_LOG", rows[i].tf_log, 1);
        capture_start();
        log_configure_from_env();
        log_error("test", "probe");
        char *out = capture_end();
        if (lowest_enabled() != rows[i].level) {
            fprintf(stderr, "row %zu: level %d, expected %d\n", i, lowest_enabled(), rows[i].level);
            fail();
        }
        if (rows[i].level != LOG_LEVEL_OFF) {
            const char *probe = rows[i].json ? "{\"@level\":\"error\"" : "[ERROR] test: probe";
            char *line = strstr(out, rows[i].json ? "{\"@level\":\"error\"" : "[ERROR]");
            assert_non_null(line);
            assert_memory_equal(line, probe, strlen(probe));
        } else {
            assert_string_equal(out, "");
        }
        free(out);
    }
    reset(NULL);
}

static void test_text_format(void **state) {
    (void)state;
    log_configure(LOG_LEVEL_DEBUG, false);
    capture_start();
    log_trace("provider.rpc", "not shown");
    log_debug("provider.rpc", "hello %d", 42);
    log_info("provider.cfapi", "multi\nline\tmessage");
    log_warn("m", "%s", "");
    char *out = capture_end();
    assert_string_equal(out, "[DEBUG] provider.rpc: hello 42\n"
                             "[INFO] provider.cfapi: multi\\nline\\tmessage\n"
                             "[WARN] m: \n");
    free(out);
}

static void test_json_format(void **state) {
    (void)state;
    log_configure(LOG_LEVEL_TRACE, true);
    capture_start();
    log_trace("provider.rpc", "quote \" backslash \\ newline \n ctrl \x01 bad utf8 \xff\xfe end");
    log_error("provider.cfapi", "plain");
    char *out = capture_end();
    assert_int_equal(count_lines(out), 2);
    char *save = NULL;
    const char *levels[] = {"trace", "error"};
    const char *modules[] = {"provider.rpc", "provider.cfapi"};
    int i = 0;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
        json_error_t err;
        json_t *v = json_loads(line, 0, &err);
        if (!v)
            fail_msg("log line is not JSON (%s): %s", err.text, line);
        assert_string_equal(json_string_value(json_object_get(v, "@level")), levels[i]);
        assert_string_equal(json_string_value(json_object_get(v, "@module")), modules[i]);
        assert_non_null(json_string_value(json_object_get(v, "@message")));
        const char *ts = json_string_value(json_object_get(v, "@timestamp"));
        assert_non_null(ts);
        /* 2026-11-27T17:00:00.000000Z */
        assert_int_equal(strlen(ts), 27);
        assert_int_equal(ts[10], 'T');
        assert_int_equal(ts[19], '.');
        assert_int_equal(ts[26], 'Z');
        if (i == 0) {
            const char *msg = json_string_value(json_object_get(v, "@message"));
            assert_non_null(strstr(msg, "quote \" backslash \\ newline \n ctrl \x01"));
            assert_non_null(strstr(msg, "\xef\xbf\xbd")); /* U+FFFD for the bad bytes */
        }
        json_decref(v);
    }
    assert_int_equal(i, 2);
    free(out);
}

static void test_long_message_is_one_line(void **state) {
    (void)state;
    log_configure(LOG_LEVEL_INFO, false);
    size_t n = 200 * 1024;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'x', n);
    big[n] = '\0';
    capture_start();
    log_info("m", "%s", big);
    char *out = capture_end();
    assert_int_equal(count_lines(out), 1);
    assert_non_null(strstr(out, "...(truncated)\n"));
    assert_true(strlen(out) < n);
    free(out);
    free(big);
}

static void test_secrets_masked(void **state) {
    (void)state;
    log_configure(LOG_LEVEL_TRACE, false);
    assert_int_equal(log_add_secret("s3cr3t-token"), 0);
    assert_int_equal(log_add_secret("abc"), 0); /* short secrets are masked too (issue 8) */
    assert_int_equal(log_add_secret(NULL), 0);
    assert_int_equal(log_add_secret(""), 0); /* empty: ignored */
    capture_start();
    log_debug("provider.cfapi", "Authorization: Bearer s3cr3t-token; again s3cr3t-token; abc");
    char *out = capture_end();
    assert_string_equal(out, "[DEBUG] provider.cfapi: Authorization: Bearer ***; again ***; ***\n");
    free(out);

    char *r = log_redact("xs3cr3t-tokens3cr3t-tokenx");
    assert_string_equal(r, "x***x");
    free(r);
    log_clear_secrets();
    r = log_redact("s3cr3t-token");
    assert_string_equal(r, "s3cr3t-token");
    free(r);
}

/* Overlapping secrets leave no fragment of either visible. */
static void test_overlapping_secrets(void **state) {
    (void)state;
    assert_int_equal(log_add_secret("abcdef"), 0);
    assert_int_equal(log_add_secret("defghi"), 0);
    assert_int_equal(log_add_secret("cdefgh"), 0);
    char *r = log_redact("[abcdefghi] [defghi] [xabcdefx]");
    assert_string_equal(r, "[***] [***] [x***x]");
    free(r);
}

/* A secret with characters that JSON escapes is masked before escaping,
 * so neither its raw nor its escaped form reaches the line. */
static void test_secret_in_json_mode(void **state) {
    (void)state;
    log_configure(LOG_LEVEL_TRACE, true);
    assert_int_equal(log_add_secret("pa\"ss\\word"), 0);
    capture_start();
    log_warn("m", "password is pa\"ss\\word");
    char *out = capture_end();
    assert_null(strstr(out, "pa\"ss\\word"));
    assert_null(strstr(out, "pa\\\"ss\\\\word"));
    json_t *v = json_loads(out, 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "@message")), "password is ***");
    json_decref(v);
    free(out);
}

/* Finding 4/14b: a secret that straddles the 64 KiB cut of a long message
 * is masked whole; no prefix of it reaches the line. */
static void test_secret_straddling_the_cut(void **state) {
    (void)state;
    log_configure(LOG_LEVEL_TRACE, false);
    const char *token = "TOKENabcdefghijklmnopqrstuvwxyz0123456789";
    assert_int_equal(log_add_secret(token), 0);
    size_t n = 70 * 1024;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'x', n);
    big[n] = '\0';
    /* The token starts 10 bytes before the 64 KiB cut of the message. */
    size_t at = 64 * 1024 - 10 - strlen("body: ");
    memcpy(big + at, token, strlen(token));
    capture_start();
    log_trace("provider.cfapi", "body: %s", big);
    char *out = capture_end();
    assert_null(strstr(out, "TOKENabcde"));
    assert_non_null(strstr(out, "x***"));
    assert_non_null(strstr(out, "...(truncated)"));
    free(out);
    free(big);
}

/* Finding 14b: a token written with JSON escapes (any character as \uXXXX,
 * "/" as "\/") is masked, in log lines and in log_redact. */
static void test_escaped_secret_masked(void **state) {
    (void)state;
    log_configure(LOG_LEVEL_TRACE, false);
    assert_int_equal(log_add_secret("tok/en-42"), 0);
    char *r = log_redact("{\"auth\":\"Bearer \\u0074ok\\/en-\\u00342\"} and tok\\/en-42 and "
                         "\\u0074\\u006F\\u006b\\u002f\\u0065\\u006e\\u002d\\u0034\\u0032.");
    assert_string_equal(r, "{\"auth\":\"Bearer ***\"} and *** and ***.");
    free(r);
    /* A character past U+FFFF, as a surrogate pair; one in the BMP. */
    assert_int_equal(log_add_secret("k\xF0\x9F\x94\x91y\xC3\xA9"), 0);
    r = log_redact("[k\\ud83d\\udd11y\\u00e9] [k\xF0\x9F\x94\x91y\\u00E9]");
    assert_string_equal(r, "[***] [***]");
    free(r);
    capture_start();
    log_debug("m", "echo: Bearer \\u0074ok\\/en-42");
    char *out = capture_end();
    assert_string_equal(out, "[DEBUG] m: echo: Bearer ***\n");
    free(out);
    /* Not a match: a different escaped character, a broken escape. */
    r = log_redact("\\u0075ok/en-42 \\u00tok/en-4");
    assert_string_equal(r, "\\u0075ok/en-42 \\u00tok/en-4");
    free(r);
}

/* Finding 14b: secrets under 4 bytes were never masked. */
static void test_short_secrets_masked(void **state) {
    (void)state;
    assert_int_equal(log_add_secret("k9"), 0);
    assert_int_equal(log_add_secret("Z"), 0);
    char *r = log_redact("a k9 b Z c k\\u0039");
    assert_string_equal(r, "a *** b *** c ***");
    free(r);
}

/* The registry is capped: past LOG_MAX_SECRETS distinct secrets, a new one
 * is refused with UV_ENOSPC (its caller refuses the value), while one
 * already registered is still accepted and every registered one is still
 * masked. */
static void test_secret_registry_capped(void **state) {
    (void)state;
    char name[32];
    for (int i = 0; i < LOG_MAX_SECRETS; i++) {
        snprintf(name, sizeof(name), "cred-%03d-x", i);
        assert_int_equal(log_add_secret(name), 0);
    }
    assert_int_equal(log_add_secret("one-too-many"), UV_ENOSPC);
    assert_int_equal(log_add_secret("cred-000-x"), 0); /* already there */
    char *r = log_redact("a cred-000-x b cred-063-x c one-too-many");
    assert_string_equal(r, "a *** b *** c one-too-many");
    free(r);
    log_clear_secrets();
    assert_int_equal(log_add_secret("one-too-many"), 0); /* room again */
}

/* Mask, then cut: an excerpt cut at 200 bytes keeps no prefix of a token
 * that straddles byte 200, replaces control and non-ASCII bytes, and marks
 * the cut. */
static void test_redact_excerpt(void **state) {
    (void)state;
    const char *token = "cf-token-0123456789abcdefghijklmnopq";
    assert_int_equal(log_add_secret(token), 0);
    char body[400];
    memset(body, 'b', sizeof(body));
    memcpy(body + 190, token, strlen(token));
    body[0] = '\n';
    body[1] = '\t';
    body[2] = (char)0xC3;
    char *ex = log_redact_excerpt(body, sizeof(body), 200);
    assert_non_null(ex);
    assert_null(strstr(ex, "cf-to"));
    assert_memory_equal(ex, "  ?bbb", 6);
    assert_memory_equal(ex + 190, "***", 3);
    assert_int_equal(strlen(ex), 203);
    assert_string_equal(ex + 200, "...");
    free(ex);
    /* Short enough: no cut, no marker; the escaped token is masked too. */
    const char *esc = "x\\u0063f-token-0123456789abcdefghijklmnopqy";
    ex = log_redact_excerpt(esc, strlen(esc), 200);
    assert_string_equal(ex, "x***y");
    free(ex);
    /* A cut inside the mask keeps no fragment of the secret. */
    ex = log_redact_excerpt(token, strlen(token), 2);
    assert_string_equal(ex, "**...");
    free(ex);
}

/* log_body: the TRACE body log masks the whole body before its cut. */
static void test_log_body(void **state) {
    (void)state;
    log_configure(LOG_LEVEL_TRACE, false);
    const char *token = "SECRET-abcdefghijklmnopqrstuvwxyz";
    assert_int_equal(log_add_secret(token), 0);
    size_t n = 20000;
    char *body = malloc(n);
    assert_non_null(body);
    memset(body, 'y', n);
    memcpy(body + 16384 - 5, token, strlen(token));
    memcpy(body + 100, "\\u0053ECRET-abcdefghijklmnopqrstuvwxyz", 38);
    capture_start();
    log_body(LOG_LEVEL_TRACE, "provider.cfapi", "GET /x response body: ", body, n, 16384);
    log_body(LOG_LEVEL_DEBUG, "provider.cfapi", "short: ", "{}", 2, 16384);
    char *out = capture_end();
    assert_null(strstr(out, "SECRE"));
    assert_null(strstr(out, "ECRET"));
    assert_non_null(strstr(out, "[TRACE] provider.cfapi: GET /x response body: yy"));
    assert_non_null(strstr(out, "y***y"));
    assert_non_null(strstr(out, "y...\n"));
    assert_non_null(strstr(out, "[DEBUG] provider.cfapi: short: {}\n"));
    free(out);
    /* Off: nothing written. */
    log_configure(LOG_LEVEL_WARN, false);
    capture_start();
    log_body(LOG_LEVEL_TRACE, "m", "p", body, n, 10);
    out = capture_end();
    assert_string_equal(out, "");
    free(out);
    free(body);
}

static void test_off_writes_nothing(void **state) {
    (void)state;
    log_configure(LOG_LEVEL_OFF, false);
    assert_false(log_enabled(LOG_LEVEL_ERROR));
    capture_start();
    log_error("m", "nothing");
    char *out = capture_end();
    assert_string_equal(out, "");
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_levels_from_env, reset),
        cmocka_unit_test_setup(test_text_format, reset),
        cmocka_unit_test_setup(test_json_format, reset),
        cmocka_unit_test_setup(test_long_message_is_one_line, reset),
        cmocka_unit_test_setup(test_secrets_masked, reset),
        cmocka_unit_test_setup(test_overlapping_secrets, reset),
        cmocka_unit_test_setup(test_secret_in_json_mode, reset),
        cmocka_unit_test_setup(test_off_writes_nothing, reset),
        cmocka_unit_test_setup(test_secret_straddling_the_cut, reset),
        cmocka_unit_test_setup(test_escaped_secret_masked, reset),
        cmocka_unit_test_setup(test_short_secrets_masked, reset),
        cmocka_unit_test_setup(test_secret_registry_capped, reset),
        cmocka_unit_test_setup(test_redact_excerpt, reset),
        cmocka_unit_test_setup(test_log_body, reset),
    };
    return cmocka_run_group_tests_name("protocol_log", tests, NULL, NULL);
}
