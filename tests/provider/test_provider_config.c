/*
 * test_provider_config.c - provider settings: validation, environment
 * fallbacks, exactly one auth method, http only for loopback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "provider_config.h"
#include "schema.h"

static void clear_env(void) {
    unsetenv("CLOUDFLARE_API_TOKEN");
    unsetenv("CLOUDFLARE_API_KEY");
    unsetenv("CLOUDFLARE_EMAIL");
    unsetenv("CLOUDFLARE_BASE_URL");
}

/* Resolves `text` and returns the number of error diagnostics; when
 * `attr` is not NULL, the first error must name that attribute. */
static int resolve(const char *text, provider_config *cfg, const char *attr) {
    json_t *config = json_loads(text, 0, NULL);
    assert_non_null(config);
    json_t *diags = json_array();
    int rc = provider_config_resolve(config, cfg, diags);
    int n = (int)json_array_size(diags);
    assert_int_equal(rc<0, n> 0);
    if (attr && n > 0) {
        json_t *path = json_object_get(json_array_get(diags, 0), "attribute");
        assert_string_equal(json_string_value(json_array_get(path, 0)), attr);
    }
    /* No diagnostic ever carries a secret. */
    char *dump = json_dumps(diags, 0);
    assert_null(strstr(dump, "s3cret-token"));
    assert_null(strstr(dump, "s3cret-key"));
    free(dump);
    json_decref(diags);
    json_decref(config);
    return n;
}

static void test_defaults_and_token(void **state) {
    (void)state;
    clear_env();
    provider_config cfg;
    assert_int_equal(resolve("{\"api_token\":\"s3cret-token\"}", &cfg, NULL), 0);
    assert_string_equal(cfg.api_token, "s3cret-token");
    assert_string_equal(cfg.base_url, PROVIDER_DEFAULT_BASE_URL);
    assert_int_equal(cfg.max_retries, 4);
    assert_true(cfg.request_timeout == 30);
    assert_true(cfg.max_rps == 0);
    provider_config_free(&cfg);
}

static void test_env_fallbacks(void **state) {
    (void)state;
    clear_env();
    provider_config cfg;
    setenv("CLOUDFLARE_API_TOKEN", "s3cret-token", 1);
    setenv("CLOUDFLARE_BASE_URL", "http://127.0.0.1:8080/client/v4/", 1);
    assert_int_equal(resolve("{}", &cfg, NULL), 0);
    assert_string_equal(cfg.api_token, "s3cret-token");
    assert_string_equal(cfg.base_url, "http://127.0.0.1:8080/client/v4");
    provider_config_free(&cfg);

    clear_env();
    setenv("CLOUDFLARE_API_KEY", "s3cret-key", 1);
    setenv("CLOUDFLARE_EMAIL", "ops@example.com", 1);
    assert_int_equal(resolve("{\"max_retries\":0,\"max_rps\":5}", &cfg, NULL), 0);
    assert_null(cfg.api_token);
    assert_string_equal(cfg.api_key, "s3cret-key");
    assert_string_equal(cfg.email, "ops@example.com");
    assert_int_equal(cfg.max_retries, 0);
    assert_true(cfg.max_rps == 5);
    provider_config_free(&cfg);

    /* Key auth from the configuration: api_key with email, named as the
     * official Cloudflare provider names them. */
    clear_env();
    assert_int_equal(
        resolve("{\"api_key\":\"s3cret-key\",\"email\":\"cfg@example.com\"}", &cfg, NULL), 0);
    assert_string_equal(cfg.api_key, "s3cret-key");
    assert_string_equal(cfg.email, "cfg@example.com");
    provider_config_free(&cfg);

    /* A token in the configuration wins over a key in the environment. */
    setenv("CLOUDFLARE_API_KEY", "s3cret-key", 1);
    setenv("CLOUDFLARE_EMAIL", "ops@example.com", 1);
    assert_int_equal(resolve("{\"api_token\":\"s3cret-token\"}", &cfg, NULL), 0);
    assert_null(cfg.api_key);
    provider_config_free(&cfg);
    clear_env();
}

static void test_errors(void **state) {
    (void)state;
    clear_env();
    provider_config cfg;
    assert_int_equal(resolve("{}", &cfg, "api_token"), 1);
    assert_int_equal(resolve("{\"api_token\":\"s3cret-token\",\"api_key\":\"s3cret-key\","
                             "\"email\":\"a@b.c\"}",
                             &cfg, "api_key"),
                     1);
    assert_int_equal(resolve("{\"api_key\":\"s3cret-key\"}", &cfg, "email"), 1);
    /* The old name is refused with a diagnostic that gives the new one. */
    assert_int_equal(
        resolve("{\"api_key\":\"s3cret-key\",\"api_email\":\"a@b.c\"}", &cfg, "api_email"), 1);
    assert_int_equal(
        resolve("{\"api_token\":\"s3cret-token\",\"base_url\":\"http://api.example.com\"}", &cfg,
                "base_url"),
        1);
    assert_int_equal(resolve("{\"api_token\":\"s3cret-token\",\"base_url\":\"ftp://127.0.0.1\"}",
                             &cfg, "base_url"),
                     1);
    assert_int_equal(resolve("{\"api_token\":\"s3cret-token\",\"base_url\":"
                             "\"https://user:pw@api.example.com\"}",
                             &cfg, "base_url"),
                     1);
    assert_int_equal(
        resolve("{\"api_token\":\"s3cret-token\",\"max_retries\":-1}", &cfg, "max_retries"), 1);
    assert_int_equal(
        resolve("{\"api_token\":\"s3cret-token\",\"max_retries\":1.5}", &cfg, "max_retries"), 1);
    assert_int_equal(
        resolve("{\"api_token\":\"s3cret-token\",\"request_timeout\":0}", &cfg, "request_timeout"),
        1);
    assert_int_equal(
        resolve("{\"api_token\":\"s3cret-token\",\"max_rps\":\"fast\"}", &cfg, "max_rps"), 1);
    assert_int_equal(resolve("{\"api_token\":\"s3cret-token\",\"token\":\"x\"}", &cfg, "token"), 1);
    assert_int_equal(resolve("{\"api_token\":{\"$unknown\":true}}", &cfg, "api_token"), 1);
    setenv("CLOUDFLARE_BASE_URL", "http://10.0.0.1/client/v4", 1);
    assert_int_equal(resolve("{\"api_token\":\"s3cret-token\"}", &cfg, "base_url"), 1);
    clear_env();
}

/* A base_url without /client/v4 is accepted with a warning that says what
 * was probably meant. */
static void test_base_url_warning(void **state) {
    (void)state;
    clear_env();
    json_t *config = json_loads("{\"api_token\":\"s3cret-token\",\"base_url\":"
                                "\"http://127.0.0.1:9\"}",
                                0, NULL);
    json_t *diags = json_array();
    provider_config cfg;
    assert_int_equal(provider_config_resolve(config, &cfg, diags), 0);
    assert_int_equal(json_array_size(diags), 1);
    json_t *d = json_array_get(diags, 0);
    assert_string_equal(json_string_value(json_object_get(d, "severity")), "warning");
    assert_non_null(
        strstr(json_string_value(json_object_get(d, "detail")), "http://127.0.0.1:9/client/v4"));
    provider_config_free(&cfg);
    json_decref(diags);
    json_decref(config);
}

static void test_loopback_rule(void **state) {
    (void)state;
    const char *why;
    assert_true(provider_base_url_allowed("https://api.cloudflare.com/client/v4", &why));
    assert_true(provider_base_url_allowed("http://localhost:1234/client/v4", &why));
    assert_true(provider_base_url_allowed("http://127.0.0.1:1234", &why));
    assert_true(provider_base_url_allowed("http://[::1]:1234/x", &why));
    assert_false(provider_base_url_allowed("http://127.0.0.1.evil.com/", &why));
    assert_false(provider_base_url_allowed("http://localhost.evil.com/", &why));
    assert_false(provider_base_url_allowed("not a url", &why));
    assert_non_null(why);
}

/* Findings 7, 8 and 10: the base_url rule, case by case. http:// only to a
 * literal loopback address (libcurl would resolve or normalize anything
 * else); no '?' or '#' (a trailing '#' cut every request path off); no user
 * information; exactly "//" after the scheme. */
static void test_base_url_rules(void **state) {
    (void)state;
    static const struct {
        const char *url;
        bool allowed;
    } cases[] = {
        /* literal loopback addresses, with ports and paths */
        {"http://127.0.0.1", true},
        {"http://127.0.0.1:8080/client/v4", true},
        {"http://127.255.255.254:1/x/y/", true},
        {"http://127.0.0.0:65535/client/v4", true},
        {"http://127.10.0.200/client/v4", true},
        {"http://localhost/client/v4", true},
        {"http://LocalHost:9/client/v4", true},
        {"HTTP://127.0.0.1:9/client/v4", true},
        {"http://[::1]/client/v4", true},
        {"http://[::1]:8443/client/v4", true},
        {"https://api.cloudflare.com/client/v4", true},
        {"https://api.cloudflare.com:443/client/v4/", true},
        {"https://10.1.2.3:8443/client/v4", true},
        {"https://[2001:db8::1]:8443/client/v4", true},
        {"https://127.0.0.1:8443/client/v4", true},
        {"https://api.example.com/client/v4/%7Efoo", true},
        /* look like loopback, are not literal loopback addresses */
        {"http://127.1.2.3.4/client/v4", false},
        {"http://127.999.0.1/client/v4", false},
        {"http://127.0.0.256/client/v4", false},
        {"http://127.0.0.1./client/v4", false},
        {"http://127.1/client/v4", false},
        {"http://127.0.0/client/v4", false},
        {"http://127.0.0.01/client/v4", false},
        {"http://127..0.1/client/v4", false},
        {"http://127.0.0.1.evil.com/", false},
        {"http://localhost./client/v4", false},
        {"http://localhost.evil.com/", false},
        {"http://0x7f.0.0.1/client/v4", false},
        {"http://2130706433/client/v4", false},
        {"http://[0:0::1]/client/v4", false},
        {"http://[::ffff:127.0.0.1]/client/v4", false},
        {"http://10.0.0.1/client/v4", false},
        /* a query or a fragment, anywhere */
        {"http://127.0.0.1:8080/client/v4#", false},
        {"https://api.cloudflare.com/client/v4#", false},
        {"https://api.cloudflare.com/client/v4#x", false},
        {"https://api.cloudflare.com/client/v4?", false},
        {"https://api.cloudflare.com/client/v4?a=b", false},
        {"https://api.cloudflare.com#/client/v4", false},
        /* user information */
        {"https://user:pw@api.example.com/client/v4", false},
        {"https://user@api.example.com/client/v4", false},
        {"https://:pw@api.example.com/client/v4", false},
        {"http://user@127.0.0.1/client/v4", false},
        /* the scheme's slashes */
        {"http:/127.0.0.1/client/v4", false},
        {"https:/api.cloudflare.com/client/v4", false},
        {"https:api.cloudflare.com/client/v4", false},
        {"https:///api.cloudflare.com/client/v4", false},
        {"https://", false},
        {"https:///client/v4", false},
        /* ports */
        {"https://api.cloudflare.com:/client/v4", false},
        {"https://api.cloudflare.com:0/client/v4", false},
        {"https://api.cloudflare.com:65536/client/v4", false},
        {"https://api.cloudflare.com:443x/client/v4", false},
        {"http://[::1/client/v4", false},
        /* other schemes, spaces, controls, bytes outside ASCII */
        {"ftp://127.0.0.1", false},
        {"not a url", false},
        {"", false},
        {"https://api.cloudflare.com/client/v4 ", false},
        {"https://api.cloudflare.com/client\r\n/v4", false},
        {"https://api.cloudflare.com/client/v4\x7f", false},
        {"https://api.cloudfl\xc3\xa4re.com/client/v4", false},
        {"https://api.cloudflare.com\\client/v4", false},
        {"https://api_cloudflare.com/client/v4", false},
        {"https://.api.cloudflare.com/client/v4", false},
    };
    int wrong = 0; /* every case is tried and each mismatch named */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *why = "unset";
        bool ok = provider_base_url_allowed(cases[i].url, &why);
        if (ok != cases[i].allowed) {
            print_message("base_url \"%s\": expected %s\n", cases[i].url,
                          cases[i].allowed ? "allowed" : "refused");
            wrong++;
        } else if (ok ? why != NULL : why == NULL) {
            print_message("base_url \"%s\": *why is wrong\n", cases[i].url);
            wrong++;
        }
    }
    assert_int_equal(wrong, 0);
}

/* The same through validation and resolution: an error on base_url, from
 * the configuration and from CLOUDFLARE_BASE_URL. */
static void test_base_url_refused_in_config(void **state) {
    (void)state;
    static const char *const urls[] = {
        "http://127.0.0.1:8080/client/v4#",
        "https://api.cloudflare.com/client/v4?x=1",
        "http://127.1.2.3.4/client/v4",
        "http://127.999.0.1/client/v4",
        "http://127.0.0.1./client/v4",
        "http:/127.0.0.1/client/v4",
        "https:/api.cloudflare.com/client/v4",
        "https:api.cloudflare.com/client/v4",
        "https://s3cret-token@api.cloudflare.com/client/v4",
    };
    provider_config cfg;
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        clear_env();
        json_t *config = json_pack("{s:s, s:s}", "api_token", "s3cret-token", "base_url", urls[i]);
        char *text = json_dumps(config, 0);
        json_t *diags = json_array();
        assert_int_equal(provider_config_validate(config, diags), 1);
        json_decref(diags);
        assert_int_equal(resolve(text, &cfg, "base_url"), 1);
        free(text);
        json_decref(config);
        setenv("CLOUDFLARE_BASE_URL", urls[i], 1);
        assert_int_equal(resolve("{\"api_token\":\"s3cret-token\"}", &cfg, "base_url"), 1);
    }
    clear_env();
}

/* Runs `config` through validation and resolution: each must give exactly
 * one error, on `attr`, whose text holds `expect` and no part of a secret
 * (every secret in these tests contains "s3cret"). */
static void expect_one_error(json_t *config, const char *attr, const char *expect) {
    for (int resolve_it = 0; resolve_it < 2; resolve_it++) {
        json_t *diags = json_array();
        provider_config cfg;
        if (resolve_it)
            assert_int_equal(provider_config_resolve(config, &cfg, diags), -1);
        else
            assert_int_equal(provider_config_validate(config, diags), 1);
        assert_int_equal(json_array_size(diags), 1);
        json_t *d = json_array_get(diags, 0);
        json_t *path = json_object_get(d, "attribute");
        assert_string_equal(json_string_value(json_array_get(path, 0)), attr);
        char *dump = json_dumps(diags, 0);
        assert_null(strstr(dump, "s3cret"));
        assert_null(strstr(dump, "X-Evil"));
        if (!strstr(dump, expect))
            fail_msg("expected \"%s\" in %s", expect, dump);
        free(dump);
        json_decref(diags);
    }
}

/* Finding 10: a line break, a control character, a space, a non-ASCII
 * byte or a pasted file in a credential is refused by validation with the
 * attribute named, not left for the client to refuse with "invalid
 * argument" (or worse, to split an HTTP header). The value is never
 * quoted. */
static void test_credential_bytes_and_length(void **state) {
    (void)state;
    clear_env();
    static const struct {
        const char *token;
        const char *expect;
    } bad_tokens[] = {
        {"s3cret-token\r\nX-Evil: 1", "line break"},
        {"s3cret-token\n", "line break at byte 13 of 13"},
        {"s3cret-token\t", "control character"},
        {"s3cret-token\x01", "control character"},
        {"s3cret-token\x7f", "control character"},
        {"s3cret token", "a space"},
        {" s3cret-token", "a space at byte 1"},
        {"s3cret-tok\xc3\xa9n", "non-ASCII"},
    };
    for (size_t i = 0; i < sizeof bad_tokens / sizeof bad_tokens[0]; i++) {
        json_t *config = json_pack("{s:s}", "api_token", bad_tokens[i].token);
        assert_non_null(config);
        expect_one_error(config, "api_token", bad_tokens[i].expect);
        json_decref(config);
    }

    /* Length: 1024 bytes pass, 1025 and 4 MiB do not. */
    size_t big = (size_t)4 << 20;
    char *token = malloc(big + 1);
    assert_non_null(token);
    memcpy(token, "s3cret", 6);
    memset(token + 6, 'a', big - 6);
    token[big] = '\0';
    json_t *config = json_pack("{s:s}", "api_token", token);
    expect_one_error(config, "api_token", "at most 1024");
    json_decref(config);
    token[PROVIDER_SECRET_MAX + 1] = '\0';
    config = json_pack("{s:s}", "api_token", token);
    expect_one_error(config, "api_token", "1025 bytes");
    json_decref(config);
    token[PROVIDER_SECRET_MAX] = '\0';
    config = json_pack("{s:s}", "api_token", token);
    json_t *diags = json_array();
    provider_config cfg;
    assert_int_equal(provider_config_resolve(config, &cfg, diags), 0);
    assert_int_equal(strlen(cfg.api_token), PROVIDER_SECRET_MAX);
    provider_config_free(&cfg);
    json_decref(diags);
    json_decref(config);

    /* api_key and email, the same way. */
    config = json_pack("{s:s, s:s}", "api_key", "s3cret-key\r\n", "email", "ops@example.com");
    expect_one_error(config, "api_key", "line break");
    json_decref(config);
    token[PROVIDER_SECRET_MAX] = 'a'; /* 1025 bytes again */
    config = json_pack("{s:s, s:s}", "api_key", token, "email", "ops@example.com");
    expect_one_error(config, "api_key", "at most 1024");
    json_decref(config);
    config =
        json_pack("{s:s, s:s}", "api_key", "s3cret-key", "email", "ops@example.com\r\nX-Evil: 1");
    expect_one_error(config, "email", "line break");
    json_decref(config);
    char email[PROVIDER_EMAIL_MAX + 2];
    memset(email, 'e', sizeof email - 1);
    email[sizeof email - 1] = '\0';
    email[1] = '@';
    config = json_pack("{s:s, s:s}", "api_key", "s3cret-key", "email", email);
    expect_one_error(config, "email", "at most 254");
    json_decref(config);
    free(token);

    /* From the environment: caught when resolving, the variable named. */
    static const struct {
        const char *var, *value, *attr;
    } env_cases[] = {
        {"CLOUDFLARE_API_TOKEN", "s3cret-token\r\n", "api_token"},
        {"CLOUDFLARE_API_KEY", "s3cret-key\x01", "api_key"},
        {"CLOUDFLARE_EMAIL", "ops@example.com\n", "email"},
    };
    for (size_t i = 0; i < sizeof env_cases / sizeof env_cases[0]; i++) {
        clear_env();
        if (strcmp(env_cases[i].attr, "api_token") != 0) {
            setenv("CLOUDFLARE_API_KEY", "s3cret-key", 1);
            setenv("CLOUDFLARE_EMAIL", "ops@example.com", 1);
        }
        setenv(env_cases[i].var, env_cases[i].value, 1);
        diags = json_array();
        config = json_object();
        assert_int_equal(provider_config_validate(config, diags), 0);
        assert_int_equal(provider_config_resolve(config, &cfg, diags), -1);
        assert_int_equal(json_array_size(diags), 1);
        json_t *path = json_object_get(json_array_get(diags, 0), "attribute");
        assert_string_equal(json_string_value(json_array_get(path, 0)), env_cases[i].attr);
        char *dump = json_dumps(diags, 0);
        assert_null(strstr(dump, "s3cret"));
        assert_non_null(strstr(dump, env_cases[i].var));
        free(dump);
        json_decref(diags);
        json_decref(config);
    }
    clear_env();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_token),
        cmocka_unit_test(test_env_fallbacks),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_loopback_rule),
        cmocka_unit_test(test_base_url_warning),
        cmocka_unit_test(test_base_url_rules),
        cmocka_unit_test(test_base_url_refused_in_config),
        cmocka_unit_test(test_credential_bytes_and_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
