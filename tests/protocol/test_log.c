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
    assert_int_equal(log_add_secret("abc"), 0); /* too short: ignored */
    assert_int_equal(log_add_secret(NULL), 0);
    capture_start();
    log_debug("provider.cfapi", "Authorization: Bearer s3cr3t-token; again s3cr3t-token; abc");
    char *out = capture_end();
    assert_string_equal(out, "[DEBUG] provider.cfapi: Authorization: Bearer ***; again ***; abc\n");
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
    };
    return cmocka_run_group_tests_name("protocol_log", tests, NULL, NULL);
}
