/*
 * test_helpers.c - unit tests of cfapi's pure helpers (cfapi_internal.h):
 * the id and domain guards, URL building, envelope decoding, Retry-After
 * parsing, backoff bounds, body excerpts, error lines and redaction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cfapi.h"
#include "cfapi_internal.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define ACCT "023e105f4ecef8ad9ca31a8372d0c353"
#define CONN "8C6BD4C4A1B24F0E9E4B2D8C1A0F3E55"

static void test_id_guard(void **state) {
    (void)state;
    static const struct {
        const char *id;
        bool ok;
    } cases[] = {
        {ACCT, true},
        {CONN, true},
        {"0123456789abcdefABCDEF0123456789", true},
        {"", false},
        {"023e105f4ecef8ad9ca31a8372d0c35", false},   /* 31 */
        {"023e105f4ecef8ad9ca31a8372d0c3533", false}, /* 33 */
        {"023e105f4ecef8ad9ca31a8372d0c35g", false},
        {"023e105f4ecef8ad9ca31a8372d0c35/", false},
        {"../../../../../../../../../../..", false},
        {"023e105f4ecef8ad9ca31a8372d0c35 ", false},
        {"023e105f4ecef8ad9ca31a8372d0c3%2", false},
        {"023e105f4ecef8ad9ca31a8372d0c353\n", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cfapi_id_is_valid(cases[i].id) != cases[i].ok)
            fail_msg("case %zu (\"%s\"): expected %s", i, cases[i].id,
                     cases[i].ok ? "valid" : "invalid");
    }
    assert_false(cfapi_id_is_valid(NULL));
}

static void test_domain_guard(void **state) {
    (void)state;
    static const struct {
        const char *d;
        bool ok;
    } cases[] = {
        {"example.com", true},
        {"Example.COM", true},
        {"a.b.c.example.co.uk", true},
        {"xn--bcher-kva.example", true},
        {"my-domain.io", true},
        {"com", false},
        {"", false},
        {".example.com", false},
        {"example.com.", false},
        {"example..com", false},
        {"-example.com", false},
        {"example-.com", false},
        {"exa mple.com", false},
        {"example.com/x", false},
        {"example.com\"", false},
        {"under_score.com", false},
        {"1.2.3.4", false},
        {"example.123", false},
        {"example.c0m", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cfapi_domain_is_valid(cases[i].d) != cases[i].ok)
            fail_msg("case %zu (\"%s\"): expected %s", i, cases[i].d,
                     cases[i].ok ? "valid" : "invalid");
    }
    char label[70];
    memset(label, 'a', 63);
    strcpy(label + 63, ".com");
    assert_true(cfapi_domain_is_valid(label));
    memset(label, 'a', 64);
    strcpy(label + 64, ".com");
    assert_false(cfapi_domain_is_valid(label));
    char longname[300];
    size_t n = 0;
    while (n + 10 < 254) { /* "aaaaaaaaa." blocks */
        memcpy(longname + n, "aaaaaaaaa.", 10);
        n += 10;
    }
    memcpy(longname + n, "com", 4); /* 253 + 0 */
    assert_int_equal(strlen(longname), 253);
    assert_true(cfapi_domain_is_valid(longname));
    memcpy(longname + n, "comm", 5);
    assert_false(cfapi_domain_is_valid(longname));
    assert_false(cfapi_domain_is_valid(NULL));
}

static void test_build_url(void **state) {
    (void)state;
    const char *base = "https://api.cloudflare.com/client/v4";
    char *u = NULL;
    assert_int_equal(cfapi_build_url(base, ACCT, NULL, false, &u), 0);
    assert_string_equal(u, "https://api.cloudflare.com/client/v4/accounts/" ACCT "/sso_connectors");
    free(u);
    assert_int_equal(cfapi_build_url(base, ACCT, CONN, false, &u), 0);
    assert_string_equal(u, "https://api.cloudflare.com/client/v4/accounts/" ACCT
                           "/sso_connectors/" CONN);
    free(u);
    assert_int_equal(cfapi_build_url(base, ACCT, CONN, true, &u), 0);
    assert_string_equal(u, "https://api.cloudflare.com/client/v4/accounts/" ACCT
                           "/sso_connectors/" CONN "/begin_verification");
    free(u);
    assert_int_equal(cfapi_build_url(base, ACCT, NULL, true, &u), UV_EINVAL);
    assert_null(u);
    assert_int_equal(cfapi_build_url(base, "../admin", NULL, false, &u), UV_EINVAL);
    assert_null(u);
    assert_int_equal(cfapi_build_url(base, ACCT, ACCT "/../x", false, &u), UV_EINVAL);
    assert_int_equal(cfapi_build_url(base, ACCT, "short", false, &u), UV_EINVAL);
    assert_int_equal(cfapi_build_url(base, NULL, NULL, false, &u), UV_EINVAL);
}

static void test_envelope(void **state) {
    (void)state;
    cfapi_envelope env;
    const char *ok = "{\"success\":true,\"errors\":[],\"messages\":[],\"result\":{\"id\":\"x\"}}";
    assert_int_equal(cfapi_envelope_decode(ok, strlen(ok), &env), 0);
    assert_true(env.success);
    assert_non_null(env.result);
    assert_string_equal(json_string_value(json_object_get(env.result, "id")), "x");
    assert_true(json_is_array(env.errors));
    cfapi_envelope_clear(&env);
    assert_null(env.root);

    const char *fail =
        "{\"success\":false,\"errors\":[{\"code\":10000,\"message\":\"Authentication "
        "error\"}],\"result\":null}";
    assert_int_equal(cfapi_envelope_decode(fail, strlen(fail), &env), 0);
    assert_false(env.success);
    assert_null(env.result);
    assert_int_equal(json_array_size(env.errors), 1);
    cfapi_envelope_clear(&env);

    const char *noresult = "{\"success\":true,\"errors\":[],\"messages\":[]}";
    assert_int_equal(cfapi_envelope_decode(noresult, strlen(noresult), &env), 0);
    assert_true(env.success);
    assert_null(env.result);
    cfapi_envelope_clear(&env);

    static const char *const bad[] = {
        "",
        "<html><body>502 Bad Gateway</body></html>",
        "[]",
        "{}",
        "{\"success\":\"true\"}",
        "{\"success\":1}",
        "{\"success\":true,\"errors\":{}}",
        "{\"success\":true",
        "null",
        "{\"success\":true,\"success\":false}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cfapi_envelope_decode(bad[i], strlen(bad[i]), &env) != UV_EINVAL)
            fail_msg("bad envelope %zu accepted: %s", i, bad[i]);
        assert_null(env.root);
    }
    assert_int_equal(cfapi_envelope_decode(NULL, 0, &env), UV_EINVAL);
}

static void test_retry_after(void **state) {
    (void)state;
    uint64_t ms = 0;
    time_t now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
    assert_int_equal(cfapi_retry_after_ms("2", NULL, now, &ms), 0);
    assert_int_equal(ms, 2000);
    assert_int_equal(cfapi_retry_after_ms(" 0 ", NULL, now, &ms), 0);
    assert_int_equal(ms, 0);
    /* Retry-After-Ms may carry a fraction of a millisecond */
    assert_int_equal(cfapi_retry_after_ms(NULL, "1.5", now, &ms), 0);
    assert_int_equal(ms, 1);
    /* Retry-After-Ms wins */
    assert_int_equal(cfapi_retry_after_ms("2", "1500", now, &ms), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(cfapi_retry_after_ms(NULL, "250", now, &ms), 0);
    assert_int_equal(ms, 250);
    /* a bad Retry-After-Ms falls back to Retry-After */
    assert_int_equal(cfapi_retry_after_ms("3", "soon", now, &ms), 0);
    assert_int_equal(ms, 3000);
    /* HTTP dates */
    assert_int_equal(cfapi_retry_after_ms("Tue, 14 Nov 2023 22:13:25 GMT", NULL, now, &ms), 0);
    assert_int_equal(ms, 5000);
    assert_int_equal(cfapi_retry_after_ms("Tue, 14 Nov 2023 22:00:00 GMT", NULL, now, &ms), 0);
    assert_int_equal(ms, 0); /* in the past */
    /* clamped */
    assert_int_equal(cfapi_retry_after_ms("86400", NULL, now, &ms), 0);
    assert_int_equal(ms, CFAPI_MAX_RETRY_AFTER_MS);
    /* unusable */
    ms = 77;
    assert_int_equal(cfapi_retry_after_ms(NULL, NULL, now, &ms), UV_EINVAL);
    assert_int_equal(cfapi_retry_after_ms("-1", NULL, now, &ms), UV_EINVAL);
    assert_int_equal(cfapi_retry_after_ms("", "", now, &ms), UV_EINVAL);
    assert_int_equal(cfapi_retry_after_ms("soon", "-5", now, &ms), UV_EINVAL);
    assert_int_equal(cfapi_retry_after_ms("nan", NULL, now, &ms), UV_EINVAL);
    assert_int_equal(cfapi_retry_after_ms("5s", NULL, now, &ms), UV_EINVAL);
    assert_int_equal(ms, 77);
}

/* Finding 12: Retry-After is read as RFC 9110 writes it, delta-seconds or
 * an HTTP-date in one of its three forms, and nothing else: "0x10" is not
 * 16 s, "1.5" is not 1.5 s (delta-seconds are whole), and none of
 * curl_getdate()'s other forms is a date here. */
static void test_retry_after_strict(void **state) {
    (void)state;
    time_t now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
    static const struct {
        const char *value;
        long long ms; /* -1: refused */
    } cases[] = {
        {"0", 0},
        {"16", 16000},
        {"007", 7000},
        {"\t3 ", 3000},
        {"99999999999999999999", CFAPI_MAX_RETRY_AFTER_MS},
        /* not numbers */
        {"0x10", -1},
        {"1.5", -1},
        {"0X10", -1},
        {"+5", -1},
        {"-0", -1},
        {"1e3", -1},
        {"1.", -1},
        {".5", -1},
        {"inf", -1},
        {"5 5", -1},
        {"5\r\n", -1},
        /* IMF-fixdate, RFC 850, asctime: 10 s after now */
        {"Tue, 14 Nov 2023 22:13:30 GMT", 10000},
        {"Tuesday, 14-Nov-23 22:13:30 GMT", 10000},
        {"Tue Nov 14 22:13:30 2023", 10000},
        {"Wed Nov  1 00:00:00 2023", 0},                             /* one-digit day, past */
        {"Thu, 29 Feb 2024 00:00:00 GMT", CFAPI_MAX_RETRY_AFTER_MS}, /* leap day, far */
        {"Sunday, 06-Nov-94 08:49:37 GMT", 0},                       /* 1994, not 2094 */
        /* what curl_getdate() takes and RFC 9110 does not */
        {"Tue, 14 Nov 2023 22:13:30 +0000", -1},
        {"Tue, 14 Nov 2023 22:13:30 UTC", -1},
        {"Tue, 14 Nov 2023 22:13:30", -1},
        {"14 Nov 2023 22:13:30 GMT", -1},
        {"Tue, 14 Nov 2023 22:13 GMT", -1},
        {"Tue, 14-Nov-2023 22:13:30 GMT", -1},
        {"tue, 14 nov 2023 22:13:30 gmt", -1},
        {"Tue, 4 Nov 2023 22:13:30 GMT", -1},
        {"Tue, 14 Nov 23 22:13:30 GMT", -1},
        {"Tue, 31 Nov 2023 22:13:30 GMT", -1},
        {"Wed, 29 Feb 2023 00:00:00 GMT", -1},
        {"Tue, 14 Nov 2023 24:00:00 GMT", -1},
        {"Tue, 14 Nov 2023 22:13:30 GMT x", -1},
        {"Tues, 14 Nov 2023 22:13:30 GMT", -1},
        {"2023-11-14T22:13:30Z", -1},
        {"tomorrow", -1},
        /* a plain number is seconds, never a date */
        {"1700000010", CFAPI_MAX_RETRY_AFTER_MS},
    };
    int wrong = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t ms = 12345;
        int rc = cfapi_retry_after_ms(cases[i].value, NULL, now, &ms);
        long long got = rc == 0 ? (long long)ms : -1;
        if (got != cases[i].ms || (rc != 0 && ms != 12345)) {
            print_message("Retry-After \"%s\": got %lld ms, expected %lld\n", cases[i].value, got,
                          cases[i].ms);
            wrong++;
        }
    }
    /* Retry-After-Ms: the same number rule; a bad one falls back. */
    uint64_t ms = 0;
    assert_int_equal(cfapi_retry_after_ms("2", "0x10", now, &ms), 0);
    assert_int_equal(ms, 2000);
    assert_int_equal(cfapi_retry_after_ms(NULL, "0x10", now, &ms), UV_EINVAL);
    assert_int_equal(cfapi_retry_after_ms(NULL, "1e3", now, &ms), UV_EINVAL);
    assert_int_equal(cfapi_retry_after_ms(NULL, "250.5", now, &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(wrong, 0);
}

/* The wait budget: 60 s, or request_timeout when that is longer. */
static void test_wait_budget(void **state) {
    (void)state;
    assert_int_equal(cfapi_wait_budget_ms(30000), CFAPI_MIN_WAIT_BUDGET_MS);
    assert_int_equal(cfapi_wait_budget_ms(1), CFAPI_MIN_WAIT_BUDGET_MS);
    assert_int_equal(cfapi_wait_budget_ms(0), CFAPI_MIN_WAIT_BUDGET_MS);
    assert_int_equal(cfapi_wait_budget_ms(600000), 600000);
    assert_int_equal(CFAPI_MIN_WAIT_BUDGET_MS, 60000);
}

static void test_backoff(void **state) {
    (void)state;
    static const uint32_t rnds[] = {0, 1, 12345, 0x7fffffff, 0xffffffff};
    for (unsigned retry = 0; retry < 40; retry++) {
        uint64_t full = 100;
        for (unsigned i = 0; i < retry && full < CFAPI_MAX_BACKOFF_MS; i++)
            full *= 2;
        if (full > CFAPI_MAX_BACKOFF_MS)
            full = CFAPI_MAX_BACKOFF_MS;
        for (size_t k = 0; k < sizeof rnds / sizeof rnds[0]; k++) {
            uint64_t d = cfapi_backoff_ms(100, retry, rnds[k]);
            if (d < (full + 1) / 2 || d > full)
                fail_msg("retry %u rnd %u: %llu outside [%llu, %llu]", retry, rnds[k],
                         (unsigned long long)d, (unsigned long long)(full + 1) / 2,
                         (unsigned long long)full);
        }
    }
    /* both ends of the jitter range are reachable */
    assert_int_equal(cfapi_backoff_ms(100, 0, 0), 50);
    assert_int_equal(cfapi_backoff_ms(100, 0, 50), 100);
    /* base 0 means 500 */
    uint64_t d = cfapi_backoff_ms(0, 0, 7);
    assert_true(d >= 250 && d <= 500);
    /* jitter actually varies */
    uint64_t a = cfapi_backoff_ms(1000, 3, 1), b = cfapi_backoff_ms(1000, 3, 3000);
    assert_true(a != b);
}

static void test_excerpt(void **state) {
    (void)state;
    static const char html[] = "<html>\r\n\tbad\x01\xff</html>";
    char *e = log_redact_excerpt(html, sizeof html - 1, 200);
    assert_string_equal(e, "<html>   bad ?</html>");
    free(e);
    char big[1000];
    memset(big, 'x', sizeof big);
    e = log_redact_excerpt(big, sizeof big, 10);
    assert_string_equal(e, "xxxxxxxxxx...");
    free(e);
    e = log_redact_excerpt("", 0, 10);
    assert_string_equal(e, "");
    free(e);
}

static void test_errors_lines(void **state) {
    (void)state;
    json_t *errs =
        json_pack("[{s:i, s:s}, {s:i}, {s:s, s:s}]", "code", 10000, "message",
                  "Authentication error", "code", 7003, "code", "x1", "message", "line\nbreak");
    char *text = NULL;
    assert_int_equal(cfapi_append_errors(&text, errs), 0);
    assert_string_equal(text, "Cloudflare error 10000: Authentication error\n"
                              "Cloudflare error 7003\n"
                              "Cloudflare error x1: line break");
    free(text);
    json_decref(errs);

    json_t *many = json_array();
    for (int i = 0; i < 15; i++)
        json_array_append_new(many, json_pack("{s:i, s:s}", "code", 1000 + i, "message", "m"));
    text = NULL;
    assert_int_equal(cfapi_append_errors(&text, many), 0);
    assert_non_null(strstr(text, "Cloudflare error 1009: m"));
    assert_null(strstr(text, "Cloudflare error 1010"));
    assert_non_null(strstr(text, "(5 more errors)"));
    free(text);
    json_decref(many);

    text = NULL;
    assert_int_equal(cfapi_append_errors(&text, NULL), 0);
    assert_null(text);
}

/* The renderer masks every registered secret (log_redact, the one
 * registry), wherever it appears: here in Cloudflare's error message. */
static void test_redact(void **state) {
    (void)state;
    assert_int_equal(log_add_secret("tok-SECRET-123"), 0);
    assert_int_equal(log_add_secret("key42xyz"), 0);
    json_t *errors = json_pack("[{s:i, s:s}]", "code", 10000, "message",
                               "a tok-SECRET-123 b key42xyz c tok-SECRET-123");
    cfapi_result r = {
        .failure = CFAPI_FAIL_HTTP,
        .cause = CFAPI_FAIL_HTTP,
        .http_status = 403,
        .errors = errors,
        .op = CFAPI_OP_GET,
        .account_id = "023e105f4ecef8ad9ca31a8372d0c353",
        .connector_id = "0123456789abcdef0123456789abcdef",
        .domain = "",
        .method = "GET",
        .path = "/accounts/x/sso_connectors/y",
        .host = "api.example",
    };
    char *summary, *detail;
    assert_int_equal(cfapi_result_render(&r, &summary, &detail), 0);
    assert_non_null(strstr(detail, "Cloudflare error 10000: a *** b *** c ***"));
    assert_null(strstr(detail, "tok-SECRET-123"));
    assert_null(strstr(detail, "key42xyz"));
    assert_string_equal(summary, "Cloudflare API error reading SSO connector "
                                 "0123456789abcdef0123456789abcdef");
    free(summary);
    free(detail);
    /* a success has nothing to render */
    cfapi_result ok = {.ok = true};
    assert_int_equal(cfapi_result_render(&ok, &summary, &detail), UV_EINVAL);
    assert_null(summary);
    json_decref(errors);
    log_clear_secrets();
}

/* Each failure kind renders with its own words; a create whose outcome is
 * unknown always carries the import id, whether the POST or a lookup page
 * failed last. */
static void test_render_kinds(void **state) {
    (void)state;
    static const struct {
        cfapi_failure failure, cause;
        bool in_lookup, maybe_applied;
        long status;
        const char *transport;
        const char *summary_has, *detail_has;
    } cases[] = {
        {CFAPI_FAIL_CREATE_UNKNOWN, CFAPI_FAIL_HTTP, false, true, 503, NULL,
         "Cloudflare API error creating SSO connector for x.example", "HTTP 503 from POST /c."},
        {CFAPI_FAIL_CREATE_UNKNOWN, CFAPI_FAIL_HTTP, false, true, 503, NULL, "",
         "import it with the id 023e105f4ecef8ad9ca31a8372d0c353/x.example"},
        {CFAPI_FAIL_CREATE_UNKNOWN, CFAPI_FAIL_HTTP, true, true, 503, NULL, "",
         "looking the connector up by its domain failed: HTTP 503 from GET /c."},
        {CFAPI_FAIL_CREATE_UNKNOWN, CFAPI_FAIL_UNREACHABLE, true, true, 0, "Connection refused", "",
         "import it with the id 023e105f4ecef8ad9ca31a8372d0c353/x.example"},
        {CFAPI_FAIL_TIMEOUT, CFAPI_FAIL_TIMEOUT, false, false, 0, "timeout",
         "Timed out waiting for the Cloudflare API while creating", "within 400 ms"},
        {CFAPI_FAIL_UNREACHABLE, CFAPI_FAIL_UNREACHABLE, false, false, 0, "Connection refused",
         "Could not reach the Cloudflare API", "Connection refused (host h)."},
        {CFAPI_FAIL_LIST_LIMIT, CFAPI_FAIL_LIST_LIMIT, false, false, 200, NULL,
         "Cloudflare API error creating", "limit of 7 connectors"},
        {CFAPI_FAIL_CANCELLED, CFAPI_FAIL_NONE, false, true, 0, NULL, "Cancelled while creating",
         "import it with the id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cfapi_result r = {
            .failure = cases[i].failure,
            .cause = cases[i].cause,
            .failed_in_lookup = cases[i].in_lookup,
            .maybe_applied = cases[i].maybe_applied,
            .http_status = cases[i].status,
            .transport_error = cases[i].transport,
            .op = CFAPI_OP_CREATE,
            .account_id = "023e105f4ecef8ad9ca31a8372d0c353",
            .connector_id = "",
            .domain = "x.example",
            .method = cases[i].in_lookup ? "GET" : "POST",
            .path = "/c",
            .host = "h",
            .timeout_ms = 400,
            .limit = 7,
        };
        char *summary, *detail;
        assert_int_equal(cfapi_result_render(&r, &summary, &detail), 0);
        if (!strstr(summary, cases[i].summary_has) || !strstr(detail, cases[i].detail_has))
            fail_msg("case %zu: \"%s\" / \"%s\" in\n%s\n%s", i, cases[i].summary_has,
                     cases[i].detail_has, summary, detail);
        free(summary);
        free(detail);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_guard),
        cmocka_unit_test(test_domain_guard),
        cmocka_unit_test(test_build_url),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_excerpt),
        cmocka_unit_test(test_errors_lines),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_render_kinds),
        cmocka_unit_test(test_retry_after_strict),
        cmocka_unit_test(test_wait_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
