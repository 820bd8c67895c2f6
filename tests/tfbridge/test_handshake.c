/*
 * test_handshake.c - go-plugin's start-up checks (magic cookie, offered
 * protocol versions) and the handshake line, including its certificate
 * field: base64 of the DER, standard alphabet, without padding, decoding
 * back to a certificate for localhost.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "handshake.h"
#include "tls.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COOKIE HANDSHAKE_COOKIE_VALUE

static void test_check_versions(void **state) {
    (void)state;
    static const struct {
        const char *versions;
        handshake_check_result want;
    } cases[] = {
        {"5,6", HANDSHAKE_OK},        {"6,5", HANDSHAKE_OK},         {" 6 ", HANDSHAKE_OK},
        {"6", HANDSHAKE_OK},          {"5, 6", HANDSHAKE_OK},        {"4,5,6,7", HANDSHAKE_OK},
        {"5", HANDSHAKE_NO_VERSION},  {"", HANDSHAKE_NO_VERSION},    {NULL, HANDSHAKE_NO_VERSION},
        {"60", HANDSHAKE_NO_VERSION}, {"16", HANDSHAKE_NO_VERSION},  {"5,60", HANDSHAKE_NO_VERSION},
        {"6x", HANDSHAKE_NO_VERSION}, {"5,,", HANDSHAKE_NO_VERSION}, {"abc", HANDSHAKE_NO_VERSION},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        handshake_check_result got = handshake_check(COOKIE, cases[i].versions);
        if (got != cases[i].want)
            fail_msg("versions \"%s\": got %d, want %d",
                     cases[i].versions ? cases[i].versions : "(unset)", got, cases[i].want);
    }
}

static void test_check_cookie(void **state) {
    (void)state;
    assert_int_equal(handshake_check(NULL, "5,6"), HANDSHAKE_NO_COOKIE);
    assert_int_equal(handshake_check("", "5,6"), HANDSHAKE_NO_COOKIE);
    assert_int_equal(handshake_check("d602bf8f", "5,6"), HANDSHAKE_NO_COOKIE);
    assert_int_equal(handshake_check(COOKIE "x", "5,6"), HANDSHAKE_NO_COOKIE);
    assert_int_equal(handshake_check(" " COOKIE, "5,6"), HANDSHAKE_NO_COOKIE);
    /* The cookie is checked first: a wrong cookie with bad versions is
     * still "not a plugin run". */
    assert_int_equal(handshake_check("wrong", "5"), HANDSHAKE_NO_COOKIE);
    assert_int_equal(handshake_check(NULL, NULL), HANDSHAKE_NO_COOKIE);
    /* go-plugin's words, as Terraform users know them. */
    assert_non_null(
        strstr(HANDSHAKE_NOT_A_PROGRAM,
               "This binary is a plugin. These are not meant to be executed directly."));
}

static void test_line_plaintext(void **state) {
    (void)state;
    char line[512];
    int n = handshake_line(line, sizeof(line), "unix", "/tmp/tfbridge-x/plugin.sock", NULL);
    assert_string_equal(line, "1|6|unix|/tmp/tfbridge-x/plugin.sock|grpc\n");
    assert_int_equal(n, (int)strlen(line));
    /* An empty certificate is no certificate: no sixth field. */
    n = handshake_line(line, sizeof(line), "tcp", "127.0.0.1:41203", "");
    assert_string_equal(line, "1|6|tcp|127.0.0.1:41203|grpc\n");
    assert_int_equal(n, (int)strlen(line));
    /* Too small a buffer is an error, never a cut line. */
    assert_int_equal(handshake_line(line, 10, "unix", "/tmp/a", NULL), -1);
    size_t exact = strlen("1|6|unix|/tmp/a|grpc\n");
    assert_int_equal(handshake_line(line, exact, "unix", "/tmp/a", NULL), -1);
    assert_int_equal(handshake_line(line, exact + 1, "unix", "/tmp/a", NULL), (int)exact);
}

static int b64_value(char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Go's base64.RawStdEncoding.DecodeString, strictly. */
static unsigned char *raw_std_decode(const char *s, size_t *len) {
    size_t n = strlen(s);
    if (n % 4 == 1)
        return NULL;
    unsigned char *out = malloc(n);
    assert_non_null(out);
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc) {
        free(out);
        return NULL;
    }
    *len = o;
    return out;
}

static void test_line_with_certificate(void **state) {
    (void)state;
    tls_identity id;
    char err[TLS_ERR_MAX];
    if (tls_identity_generate(&id, err) != 0)
        fail_msg("tls_identity_generate: %s", err);
    char line[8192];
    int n = handshake_line(line, sizeof(line), "unix", "/tmp/s.sock", id.cert_b64);
    assert_true(n > 0);
    assert_int_equal(line[n - 1], '\n');
    const char *prefix = "1|6|unix|/tmp/s.sock|grpc|";
    assert_memory_equal(line, prefix, strlen(prefix));
    /* The sixth field is exactly cert_b64. */
    char *field = line + strlen(prefix);
    line[n - 1] = '\0';
    assert_string_equal(field, id.cert_b64);
    /* Go only uses the field when it is longer than 50 characters. */
    assert_true(strlen(field) > 50);
    /* Unpadded, standard alphabet. */
    assert_null(strchr(field, '='));
    assert_null(strchr(field, '-'));
    assert_null(strchr(field, '_'));
    assert_null(strchr(field, '\n'));

    size_t der_len = 0;
    unsigned char *der = raw_std_decode(field, &der_len);
    assert_non_null(der);
    /* The bytes are the certificate's DER... */
    unsigned char *own = NULL;
    int own_len = i2d_X509(id.cert, &own);
    assert_int_equal((int)der_len, own_len);
    assert_memory_equal(der, own, der_len);
    OPENSSL_free(own);
    /* ... which parses back to a certificate for localhost (SAN), usable by
     * a TLS server, self-signed by the identity's key, valid now. */
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)der_len);
    assert_non_null(cert);
    assert_ptr_equal(p, der + der_len);
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    assert_non_null(sans);
    bool localhost = false;
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type == GEN_DNS) {
            const char *dns = (const char *)ASN1_STRING_get0_data(gn->d.dNSName);
            if (strcmp(dns, "localhost") == 0)
                localhost = true;
        }
    }
    GENERAL_NAMES_free(sans);
    assert_true(localhost);
    assert_int_equal(
        X509_check_host(cert, "localhost", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL), 1);
    assert_int_equal(X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0), 1);
    assert_int_equal(X509_verify(cert, id.key), 1);
    assert_true(X509_cmp_current_time(X509_get0_notBefore(cert)) < 0);
    assert_true(X509_cmp_current_time(X509_get0_notAfter(cert)) > 0);
    X509_free(cert);
    free(der);

    /* Padded base64 is what Go refuses: the identity never has it, for any
     * DER length (each generation makes a new length mod 3 likely). */
    for (int i = 0; i < 6; i++) {
        tls_identity more;
        assert_int_equal(tls_identity_generate(&more, err), 0);
        assert_null(strchr(more.cert_b64, '='));
        size_t l = 0;
        unsigned char *d = raw_std_decode(more.cert_b64, &l);
        assert_non_null(d);
        free(d);
        tls_identity_free(&more);
    }
    tls_identity_free(&id);
    assert_null(id.cert_b64); /* freed and cleared */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_versions),
        cmocka_unit_test(test_check_cookie),
        cmocka_unit_test(test_line_plaintext),
        cmocka_unit_test(test_line_with_certificate),
    };
    return cmocka_run_group_tests_name("tfbridge handshake", tests, NULL, NULL);
}
