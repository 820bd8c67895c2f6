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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_token),
        cmocka_unit_test(test_env_fallbacks),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_loopback_rule),
        cmocka_unit_test(test_base_url_warning),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
