/*
 * tls.c - the bridge's AutoMTLS identity and server sessions on memory BIOs.
 *
 * The certificate mirrors what go-plugin's own servers make (mtls.go):
 * self-signed, CA:TRUE, SAN DNS:localhost, CN localhost, O HashiCorp-style
 * organisation, key usages for signing and certificate signing, extended
 * key usage serverAuth + clientAuth. Go's verifier accepts a leaf that is
 * itself in the root pool, which is exactly how Terraform uses it. P-256 is
 * used instead of go-plugin's P-521: it is cheaper to generate on every
 * process start (Terraform starts the provider 3 to 5 times per command)
 * and Go accepts it.
 *
 * Start-up cost (Terraform waits for the handshake line, and every CPU
 * cycle spent here slows provider-cloudflare, which starts beside us on a
 * 2-CPU machine; docs/BENCHMARKS.md): OpenSSL's configuration file is not
 * read (OPENSSL_INIT_NO_LOAD_CONFIG; nothing in it concerns a private,
 * mutually authenticated connection on a local socket, and reading it cost
 * ~1.4 ms of CPU), and the certificate's public key is written from the
 * key's encoded point instead of through X509_set_pubkey, whose
 * OSSL_ENCODER round trip built every encoder of the default provider
 * (~0.7 ms) for one SubjectPublicKeyInfo.
 */
#include "tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CERT_VALID_DAYS  3650
#define CERT_BACKDATE_S  30
#define PLAIN_CHUNK_SIZE 16384

/* Writes "what: <openssl's reason>" into err and clears OpenSSL's queue. */
static void set_error(char err[TLS_ERR_MAX], const char *what) {
    unsigned long code = ERR_get_error();
    if (code) {
        char reason[160];
        ERR_error_string_n(code, reason, sizeof(reason));
        snprintf(err, TLS_ERR_MAX, "%s: %s", what, reason);
    } else {
        snprintf(err, TLS_ERR_MAX, "%s", what);
    }
    ERR_clear_error();
}

/* Adds one X509v3 extension given in OpenSSL's config syntax. */
static int add_ext(X509 *cert, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* Base64 of `len` bytes, standard alphabet, without '=' padding (Go's
 * RawStdEncoding, which go-plugin's client decodes). New malloc'd string. */
static char *base64_nopad(const unsigned char *data, int len) {
    size_t cap = 4 * (((size_t)len + 2) / 3) + 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, data, len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    return out;
}

/* OpenSSL without its configuration file: the first OpenSSL call of the
 * process must come after this one for it to count. Idempotent. */
static void init_openssl(void) {
    OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
}

/* Sets the certificate's SubjectPublicKeyInfo to the P-256 `key`: id-ecPublicKey,
 * the named curve, the uncompressed point. Returns 1 or 0 (OpenSSL's way). */
static int set_public_key(X509 *cert, EVP_PKEY *key) {
    unsigned char *point = NULL;
    size_t len = EVP_PKEY_get1_encoded_public_key(key, &point);
    if (len == 0 || len > INT32_MAX)
        return 0;
    if (!X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
                                V_ASN1_OBJECT, OBJ_nid2obj(NID_X9_62_prime256v1), point,
                                (int)len)) {
        OPENSSL_free(point);
        return 0;
    }
    return 1; /* point now owned by the certificate */
}

/* Builds and signs the self-signed certificate for `key`. Returns its DER
 * (new, OPENSSL_free) with its length in *der_len, or NULL. The X509 made
 * here is only a builder: its public key is bytes, not an EVP_PKEY, so the
 * caller parses the DER for a certificate OpenSSL can use. */
static unsigned char *make_cert_der(EVP_PKEY *key, int *der_len) {
    X509 *cert = X509_new();
    if (!cert)
        return NULL;
    unsigned char serial_bytes[16];
    BIGNUM *serial = NULL;
    X509_NAME *name = X509_get_subject_name(cert);
    bool ok = X509_set_version(cert, 2) && RAND_bytes(serial_bytes, sizeof(serial_bytes)) == 1;
    if (ok) {
        serial_bytes[0] &= 0x7f; /* a positive serial */
        serial = BN_bin2bn(serial_bytes, sizeof(serial_bytes), NULL);
        ok = serial && BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert));
    }
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(cert), -CERT_BACKDATE_S) &&
         X509_gmtime_adj(X509_getm_notAfter(cert), (long)CERT_VALID_DAYS * 24 * 3600) &&
         set_public_key(cert, key) &&
         X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                    (const unsigned char *)"terraform-provider-cloudflare", -1, -1,
                                    0) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                                    -1, -1, 0) &&
         X509_set_issuer_name(cert, name);
    ok = ok && add_ext(cert, NID_basic_constraints, "critical,CA:TRUE") == 0 &&
         add_ext(cert, NID_key_usage, "critical,digitalSignature,keyAgreement,keyCertSign") == 0 &&
         add_ext(cert, NID_ext_key_usage, "serverAuth,clientAuth") == 0 &&
         add_ext(cert, NID_subject_alt_name, "DNS:localhost") == 0 &&
         X509_sign(cert, key, EVP_sha256()) > 0;
    BN_free(serial);
    unsigned char *der = NULL;
    *der_len = ok ? i2d_X509(cert, &der) : -1;
    X509_free(cert);
    if (*der_len <= 0) {
        OPENSSL_free(der);
        return NULL;
    }
    return der;
}

int tls_identity_generate(tls_identity *id, char err[TLS_ERR_MAX]) {
    memset(id, 0, sizeof(*id));
    init_openssl();
    id->key = EVP_EC_gen("P-256");
    if (!id->key) {
        set_error(err, "generating the TLS key");
        return -1;
    }
    int der_len = 0;
    unsigned char *der = make_cert_der(id->key, &der_len);
    if (!der) {
        set_error(err, "making the TLS certificate");
        tls_identity_free(id);
        return -1;
    }
    const unsigned char *p = der;
    id->cert = d2i_X509(NULL, &p, der_len);
    if (!id->cert || !(id->cert_b64 = base64_nopad(der, der_len))) {
        OPENSSL_free(der);
        set_error(err, "encoding the TLS certificate");
        tls_identity_free(id);
        return -1;
    }
    OPENSSL_free(der);
    return 0;
}

void tls_identity_free(tls_identity *id) {
    EVP_PKEY_free(id->key);
    X509_free(id->cert);
    free(id->cert_b64);
    memset(id, 0, sizeof(*id));
}

/* ALPN: choose "h2" when the client offers it. grpc-go before 1.67 does not
 * insist, but later versions reject a server that selects nothing. A client
 * that does not offer h2 gets no ALPN answer and the session goes on. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl;
    (void)arg;
    static const unsigned char h2[] = {2, 'h', '2'};
    unsigned char *selected = NULL;
    if (SSL_select_next_proto(&selected, outlen, h2, sizeof(h2), in, inlen) ==
        OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* Adds every certificate of a PEM text to `store` as a trust anchor.
 * Returns how many were added, or -1 on a parse error. */
static int load_trust_anchors(X509_STORE *store, const char *pem) {
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (!bio)
        return -1;
    int count = 0;
    X509 *cert;
    while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        int ok = X509_STORE_add_cert(store, cert);
        X509_free(cert);
        if (!ok) {
            BIO_free(bio);
            return -1;
        }
        count++;
    }
    /* The loop ends with "no start line" at the end of the text: expected. */
    unsigned long last = ERR_peek_last_error();
    if (count > 0 && ERR_GET_REASON(last) == PEM_R_NO_START_LINE)
        ERR_clear_error();
    BIO_free(bio);
    return count;
}

SSL_CTX *tls_server_ctx_new(const tls_identity *id, const char *client_cert_pem,
                            char err[TLS_ERR_MAX]) {
    init_openssl();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        set_error(err, "creating the TLS context");
        return NULL;
    }
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        SSL_CTX_use_certificate(ctx, id->cert) != 1 || SSL_CTX_use_PrivateKey(ctx, id->key) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        set_error(err, "setting up the TLS context");
        SSL_CTX_free(ctx);
        return NULL;
    }
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    int anchors = load_trust_anchors(store, client_cert_pem);
    if (anchors <= 0) {
        set_error(err, "PLUGIN_CLIENT_CERT holds no readable PEM certificate");
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* The client's certificate is its own root: accept a chain that ends at
     * a trusted certificate even when that is the leaf itself. */
    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    return ctx;
}

int tls_stream_init(tls_stream *s, SSL_CTX *ctx) {
    memset(s, 0, sizeof(*s));
    s->ssl = SSL_new(ctx);
    s->in = BIO_new(BIO_s_mem());
    s->out = BIO_new(BIO_s_mem());
    if (!s->ssl || !s->in || !s->out) {
        SSL_free(s->ssl);
        BIO_free(s->in);
        BIO_free(s->out);
        memset(s, 0, sizeof(*s));
        return -1;
    }
    /* A memory BIO that runs dry means "wait for more", not end of file. */
    BIO_set_mem_eof_return(s->in, -1);
    BIO_set_mem_eof_return(s->out, -1);
    SSL_set_bio(s->ssl, s->in, s->out); /* the SSL now owns both BIOs */
    SSL_set_accept_state(s->ssl);
    return 0;
}

void tls_stream_free(tls_stream *s) {
    SSL_free(s->ssl); /* frees the BIOs too */
    memset(s, 0, sizeof(*s));
}

int tls_stream_feed(tls_stream *s, const void *data, size_t len) {
    while (len > 0) {
        int chunk = len > INT32_MAX ? INT32_MAX : (int)len;
        int n = BIO_write(s->in, data, chunk);
        if (n <= 0)
            return -1;
        data = (const char *)data + n;
        len -= (size_t)n;
    }
    return 0;
}

/* Records why the session failed: OpenSSL's reason, and for a rejected
 * client certificate the verifier's own words. */
static int fail(tls_stream *s, const char *what) {
    long verify = SSL_get_verify_result(s->ssl);
    if (verify != X509_V_OK) {
        snprintf(s->error, sizeof(s->error), "%s: client certificate rejected: %s", what,
                 X509_verify_cert_error_string(verify));
        ERR_clear_error();
    } else {
        set_error(s->error, what);
    }
    return TLS_FAILED;
}

int tls_stream_pump(tls_stream *s, int (*on_plain)(void *arg, const char *data, size_t len),
                    void *arg) {
    if (!s->handshake_done) {
        int rc = SSL_do_handshake(s->ssl);
        if (rc != 1) {
            int e = SSL_get_error(s->ssl, rc);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return TLS_OK;
            return fail(s, "TLS handshake");
        }
        s->handshake_done = true;
    }
    char buf[PLAIN_CHUNK_SIZE];
    for (;;) {
        int n = SSL_read(s->ssl, buf, sizeof(buf));
        if (n > 0) {
            int stop = on_plain(arg, buf, (size_t)n);
            if (stop)
                return stop;
            continue;
        }
        int e = SSL_get_error(s->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return TLS_OK;
        if (e == SSL_ERROR_ZERO_RETURN) {
            snprintf(s->error, sizeof(s->error), "the peer closed the TLS session");
            return TLS_CLOSED;
        }
        return fail(s, "TLS read");
    }
}

int tls_stream_write(tls_stream *s, const void *data, size_t len) {
    while (len > 0) {
        int chunk = len > INT32_MAX ? INT32_MAX : (int)len;
        int n = SSL_write(s->ssl, data, chunk);
        if (n <= 0)
            return fail(s, "TLS write");
        data = (const char *)data + n;
        len -= (size_t)n;
    }
    return TLS_OK;
}

long tls_stream_take_output(tls_stream *s, char **out) {
    *out = NULL;
    size_t pending = BIO_ctrl_pending(s->out);
    if (pending == 0)
        return 0;
    char *buf = malloc(pending);
    if (!buf)
        return -1;
    int n = BIO_read(s->out, buf, (int)pending);
    if (n <= 0) {
        free(buf);
        return 0;
    }
    *out = buf;
    return n;
}

const char *tls_stream_alpn(const tls_stream *s, size_t *len) {
    const unsigned char *proto = NULL;
    unsigned int n = 0;
    SSL_get0_alpn_selected(s->ssl, &proto, &n);
    *len = n;
    return n ? (const char *)proto : NULL;
}
