/*
 * test_sso_ids.c - identifier validation: nothing a user types may reach a
 * request path unless it is exactly what the API's ids look like.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "sso_ids.h"

#define ACC "023e105f4ecef8ad9ca31a8372d0c353"
#define CID "8c6b1d4a0e3f4b5c9d2e7f1a3b5c7d9e"

static void test_hex_ids(void **state) {
    (void)state;
    assert_true(cfapi_id_is_valid(ACC));
    assert_true(cfapi_id_is_valid("ABCDEFABCDEFABCDEFABCDEFABCDEF12"));
    const char *bad[] = {"",
                         "023e105f4ecef8ad9ca31a8372d0c35",
                         ACC "0",
                         "023e105f4ecef8ad9ca31a8372d0c35g",
                         "023e105f4ecef8ad9ca31a8372d0c3/.",
                         "023e105f4ecef8ad9ca31a8372d0c3%2",
                         "023e105f4ecef8ad9ca31a8372d0c3 3",
                         NULL};
    for (size_t i = 0; bad[i]; i++) {
        if (cfapi_id_is_valid(bad[i]))
            fail_msg("accepted %s", bad[i]);
    }
    assert_false(cfapi_id_is_valid(NULL));
}

static void test_domains(void **state) {
    (void)state;
    const char *good[] = {"example.com", "EXAMPLE.COM",   "a.b.c.example.co.uk",
                          "x-y.example", "1password.com", "xn--bcher-kva.example",
                          NULL};
    for (size_t i = 0; good[i]; i++) {
        if (!cfapi_domain_is_valid(good[i]))
            fail_msg("refused %s", good[i]);
    }
    char long_label[80];
    memset(long_label, 'a', 64);
    strcpy(long_label + 64, ".com");
    const char *bad[] = {
        "",        "com",           "example..com",  ".example.com",  "example.com.",
        "-a.com",  "a-.com",        "exa mple.com",  "example.com/x", "a@b.com",
        "1.2.3.4", "example.com?x", "ex%41mple.com", "exämple.com",   long_label,
        NULL};
    for (size_t i = 0; bad[i]; i++) {
        if (cfapi_domain_is_valid(bad[i]))
            fail_msg("accepted %s", bad[i]);
    }
    char too_long[300];
    memset(too_long, 'a', 260);
    for (int i = 10; i < 260; i += 10)
        too_long[i] = '.';
    strcpy(too_long + 260, ".com");
    assert_false(cfapi_domain_is_valid(too_long));
}

static void test_import_ids(void **state) {
    (void)state;
    char account[33], rest[254];
    const char *why = NULL;
    assert_int_equal(sso_parse_import_id(ACC "/" CID, account, rest, &why), SSO_IMPORT_BY_ID);
    assert_string_equal(account, ACC);
    assert_string_equal(rest, CID);
    assert_int_equal(sso_parse_import_id(ACC "/Example.com", account, rest, &why),
                     SSO_IMPORT_BY_DOMAIN);
    assert_string_equal(rest, "Example.com");
    const char *bad[] = {"",
                         "/",
                         ACC,
                         ACC "/",
                         "/" CID,
                         ACC "/" CID "/begin_verification",
                         ACC "/../../zones",
                         ACC "/" CID "?x=1",
                         ACC "/" CID "#",
                         "023e105f4ecef8ad9ca31a8372d0c35/" CID,
                         "023e105f4ecef8ad9ca31a8372d0c35z/" CID,
                         ACC "/exa mple.com",
                         ACC "/%2e%2e",
                         ACC "//" CID,
                         NULL};
    for (size_t i = 0; bad[i]; i++) {
        why = NULL;
        if (sso_parse_import_id(bad[i], account, rest, &why) != SSO_IMPORT_INVALID)
            fail_msg("accepted import id %s", bad[i]);
        assert_non_null(why);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_ids),
        cmocka_unit_test(test_domains),
        cmocka_unit_test(test_import_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
