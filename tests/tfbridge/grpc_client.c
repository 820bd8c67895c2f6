/*
 * grpc_client.c - Terraform's side of the plugin protocol, for tests: the
 * go-plugin start-up, AutoMTLS as a client, gRPC over nghttp2.
 *
 * Bytes flow as in the bridge, mirrored. Out: nghttp2_session_mem_send ->
 * (TLS: SSL_write into a memory BIO, ciphertext taken out) -> a write
 * buffer -> non-blocking send(). In: recv() -> (TLS: BIO_write, SSL_read)
 * -> nghttp2_session_mem_recv -> the stream callbacks, which record the
 * answer frame by frame. One poll() per turn of the loop; every wait is a
 * loop of turns with a deadline.
 *
 * A stream's record is freed only when the caller has collected its answer
 * AND nghttp2 has closed the stream (or the connection is closed): nghttp2's
 * data source points at the record until then.
 */
#include "grpc_client.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 10000
#define HANDSHAKE_WAIT_MS  30000
#define READ_CHUNK         65536
#define PUMP_SLICE_MS      50

long gc_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes "what: <OpenSSL's reason>" into err and clears OpenSSL's queue. */
static void ssl_error(char err[GC_ERR_MAX], const char *what) {
    unsigned long code = ERR_get_error();
    if (code) {
        char reason[160];
        ERR_error_string_n(code, reason, sizeof(reason));
        snprintf(err, GC_ERR_MAX, "%s: %s", what, reason);
    } else {
        snprintf(err, GC_ERR_MAX, "%s", what);
    }
    ERR_clear_error();
}

/* ------------------------------------------------------------------ */
/* Identity                                                            */
/* ------------------------------------------------------------------ */

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

int gc_identity_generate(gc_identity *id, char err[GC_ERR_MAX]) {
    memset(id, 0, sizeof(*id));
    id->key = EVP_EC_gen("P-521");
    X509 *cert = id->key ? X509_new() : NULL;
    if (!cert) {
        ssl_error(err, "generating the client key");
        gc_identity_free(id);
        return -1;
    }
    id->cert = cert;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    X509_NAME *name = X509_get_subject_name(cert);
    bool ok = X509_set_version(cert, 2) && RAND_bytes(serial, sizeof(serial)) == 1;
    if (ok) {
        serial[0] &= 0x7f;
        bn = BN_bin2bn(serial, sizeof(serial), NULL);
        ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
    }
    BN_free(bn);
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(cert), -30) &&
         X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 24 * 3600) &&
         X509_set_pubkey(cert, id->key) &&
         X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"HashiCorp", -1,
                                    -1, 0) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                                    -1, -1, 0) &&
         X509_set_issuer_name(cert, name);
    ok = ok && add_ext(cert, NID_basic_constraints, "critical,CA:TRUE") == 0 &&
         add_ext(cert, NID_key_usage,
                 "critical,digitalSignature,keyEncipherment,keyAgreement,keyCertSign") == 0 &&
         add_ext(cert, NID_ext_key_usage, "clientAuth") == 0 &&
         add_ext(cert, NID_subject_alt_name, "DNS:localhost") == 0 &&
         X509_sign(cert, id->key, EVP_sha512()) > 0;
    if (ok) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *data = NULL;
        long len = 0;
        ok = bio && PEM_write_bio_X509(bio, cert) == 1 && (len = BIO_get_mem_data(bio, &data)) > 0;
        if (ok && (id->pem = malloc((size_t)len + 1)) != NULL) {
            memcpy(id->pem, data, (size_t)len);
            id->pem[len] = '\0';
        }
        ok = ok && id->pem;
        BIO_free(bio);
    }
    if (!ok) {
        ssl_error(err, "making the client certificate");
        gc_identity_free(id);
        return -1;
    }
    return 0;
}

void gc_identity_free(gc_identity *id) {
    EVP_PKEY_free(id->key);
    X509_free(id->cert);
    free(id->pem);
    memset(id, 0, sizeof(*id));
}

/* ------------------------------------------------------------------ */
/* Handshake line                                                      */
/* ------------------------------------------------------------------ */

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

unsigned char *gc_base64_nopad_decode(const char *text, size_t *len) {
    size_t n = strlen(text);
    if (n % 4 == 1)
        return NULL;
    unsigned char *out = malloc(n * 3 / 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(text[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Go's RawStdEncoding is strict too: leftover bits must be zero. */
    if (acc != 0) {
        free(out);
        return NULL;
    }
    *len = o;
    return out;
}

int gc_handshake_parse(const char *line, gc_handshake *hs, char err[GC_ERR_MAX]) {
    memset(hs, 0, sizeof(*hs));
    while (*line == ' ' || *line == '\t' || *line == '\r' || *line == '\n')
        line++;
    size_t len = strlen(line);
    while (len > 0 && strchr(" \t\r\n", line[len - 1]))
        len--;
    char *copy = strndup(line, len);
    if (!copy) {
        snprintf(err, GC_ERR_MAX, "out of memory");
        return -1;
    }
    /* Fields are split on every '|' (empty ones kept); a 7th would be
     * PLUGIN_MULTIPLEX_GRPC's, which Terraform never asks for. */
    char *fields[8] = {0};
    int n = 0;
    fields[n++] = copy;
    for (char *p = copy; *p; p++) {
        if (*p != '|')
            continue;
        *p = '\0';
        if (n == 8)
            break;
        fields[n++] = p + 1;
    }
    int rc = -1;
    if (n < 5 || n > 6) {
        snprintf(err, GC_ERR_MAX, "a handshake line has 5 or 6 fields, this one %d: %.120s", n,
                 line);
    } else {
        char *end;
        hs->core = (int)strtol(fields[0], &end, 10);
        bool core_ok = *fields[0] && !*end;
        hs->app = (int)strtol(fields[1], &end, 10);
        bool app_ok = *fields[1] && !*end;
        snprintf(hs->network, sizeof(hs->network), "%s", fields[2]);
        snprintf(hs->address, sizeof(hs->address), "%s", fields[3]);
        snprintf(hs->protocol, sizeof(hs->protocol), "%s", fields[4]);
        if (n == 6)
            snprintf(hs->cert_b64, sizeof(hs->cert_b64), "%s", fields[5]);
        if (!core_ok || !app_ok)
            snprintf(err, GC_ERR_MAX, "core or app version is not a number: %.120s", line);
        else
            rc = 0;
    }
    free(copy);
    return rc;
}

X509 *gc_handshake_cert(const gc_handshake *hs) {
    size_t len = 0;
    unsigned char *der = gc_base64_nopad_decode(hs->cert_b64, &len);
    if (!der)
        return NULL;
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)len);
    if (cert && p != der + len) {
        X509_free(cert); /* trailing bytes after the certificate */
        cert = NULL;
    }
    free(der);
    return cert;
}

/* ------------------------------------------------------------------ */
/* Connection state                                                    */
/* ------------------------------------------------------------------ */

typedef struct gc_stream gc_stream;

struct gc_stream {
    gc_conn *conn;
    int32_t id;
    gc_stream *next;
    uint8_t *out; /* the request body */
    size_t out_len, out_off, chunk;
    bool keep_open;
    bool local_ended;  /* END_STREAM sent */
    bool remote_ended; /* END_STREAM received */
    bool closed;       /* nghttp2 closed the stream */
    bool collected;    /* the answer was handed to the caller */
    size_t body_cap;
    gc_result r;
};

struct gc_conn {
    int fd;
    bool use_tls;
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *bin, *bout;
    char alpn[32];
    nghttp2_session *h2;
    uint8_t *wbuf;
    size_t woff, wlen, wcap; /* pending bytes are wbuf[woff..wlen) */
    bool dead;
    char why[GC_ERR_MAX];
    int first_frame_type;
    bool goaway;
    int ping_acks;
    uint8_t last_ping_ack[8];
    unsigned long seq;
    gc_stream *streams;
    void (*idle)(void *arg);
    void *idle_arg;
};

static void conn_fail(gc_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_fail(gc_conn *c, const char *fmt, ...) {
    if (c->dead)
        return;
    c->dead = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);
}

static gc_stream *find_stream(gc_conn *c, int32_t id) {
    for (gc_stream *s = c->streams; s; s = s->next) {
        if (s->id == id && !s->collected)
            return s;
    }
    return NULL;
}

static void stream_unlink_free(gc_stream *st) {
    gc_conn *c = st->conn;
    for (gc_stream **pp = &c->streams; *pp; pp = &(*pp)->next) {
        if (*pp == st) {
            *pp = st->next;
            break;
        }
    }
    gc_result_free(&st->r);
    free(st->out);
    free(st);
}

static void mark_ended(gc_stream *st) {
    if (st->r.seq == 0)
        st->r.seq = ++st->conn->seq;
}

static void out_append(gc_conn *c, const void *data, size_t n) {
    if (c->wlen + n > c->wcap) {
        if (c->woff > 0) {
            memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
            c->wlen -= c->woff;
            c->woff = 0;
        }
        if (c->wlen + n > c->wcap) {
            size_t want = c->wcap ? c->wcap : 65536;
            while (want < c->wlen + n)
                want *= 2;
            uint8_t *grown = realloc(c->wbuf, want);
            if (!grown) {
                conn_fail(c, "out of memory");
                return;
            }
            c->wbuf = grown;
            c->wcap = want;
        }
    }
    memcpy(c->wbuf + c->wlen, data, n);
    c->wlen += n;
}

static void take_tls_output(gc_conn *c) {
    if (!c->ssl)
        return;
    char buf[16384];
    int n;
    while (BIO_ctrl_pending(c->bout) > 0 && (n = BIO_read(c->bout, buf, sizeof(buf))) > 0)
        out_append(c, buf, (size_t)n);
}

/* Sends what can be sent without blocking. Returns -1 when the connection
 * is dead. */
static int flush_out(gc_conn *c) {
    while (!c->dead && c->woff < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0 && errno == EINTR)
            continue;
        conn_fail(c, "write: %s", n < 0 ? strerror(errno) : "nothing written");
    }
    if (c->woff == c->wlen)
        c->woff = c->wlen = 0;
    return c->dead ? -1 : 0;
}

/* Moves everything nghttp2 wants to send into the write buffer. */
static void produce(gc_conn *c) {
    if (!c->h2 || c->dead)
        return;
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->h2, &data);
        if (n < 0) {
            conn_fail(c, "HTTP/2 send: %s", nghttp2_strerror((int)n));
            return;
        }
        if (n == 0)
            break;
        if (c->ssl) {
            if (SSL_write(c->ssl, data, (int)n) <= 0) {
                char e[GC_ERR_MAX];
                ssl_error(e, "TLS write");
                conn_fail(c, "%s", e);
                return;
            }
            take_tls_output(c);
        } else {
            out_append(c, data, (size_t)n);
        }
    }
}

static int feed_plain(gc_conn *c, const uint8_t *data, size_t len) {
    if (!c->h2)
        return 0; /* a raw connection: what the server says is dropped */
    ssize_t rv = nghttp2_session_mem_recv(c->h2, data, len);
    if (rv < 0) {
        conn_fail(c, "HTTP/2 receive: %s", nghttp2_strerror((int)rv));
        return -1;
    }
    return 0;
}

/* Decrypts what the input BIO holds and hands the plaintext on. */
static int tls_pump(gc_conn *c) {
    uint8_t plain[16384];
    for (;;) {
        int n = SSL_read(c->ssl, plain, sizeof(plain));
        if (n > 0) {
            if (feed_plain(c, plain, (size_t)n) < 0)
                return -1;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            conn_fail(c, "the server closed the TLS session");
        } else {
            char why[GC_ERR_MAX];
            ssl_error(why, "TLS read");
            conn_fail(c, "%s", why);
        }
        take_tls_output(c);
        return -1;
    }
    take_tls_output(c);
    return 0;
}

static int on_readable(gc_conn *c) {
    uint8_t buf[READ_CHUNK];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n > 0) {
            if (c->ssl) {
                if (BIO_write(c->bin, buf, (int)n) != (int)n) {
                    conn_fail(c, "out of memory");
                    return -1;
                }
                if (tls_pump(c) < 0)
                    return -1;
            } else if (feed_plain(c, buf, (size_t)n) < 0) {
                return -1;
            }
            continue;
        }
        if (n == 0) {
            conn_fail(c, "the server closed the connection");
            return -1;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno == EINTR)
            continue;
        conn_fail(c, "read: %s", strerror(errno));
        return -1;
    }
}

int gc_conn_pump(gc_conn *c, int timeout_ms) {
    if (c->idle)
        c->idle(c->idle_arg);
    if (c->dead)
        return -1;
    produce(c);
    if (flush_out(c) < 0)
        return -1;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (c->woff < c->wlen)
        p.events |= POLLOUT;
    int r = poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms);
    if (r < 0) {
        if (errno == EINTR)
            return 1;
        conn_fail(c, "poll: %s", strerror(errno));
        return -1;
    }
    if (r == 0)
        return 0;
    if (p.revents & POLLOUT)
        flush_out(c);
    if (!c->dead && (p.revents & (POLLIN | POLLHUP | POLLERR)))
        on_readable(c);
    if (!c->dead) {
        produce(c);
        flush_out(c);
    }
    return c->dead ? -1 : 1;
}

bool gc_conn_is_dead(const gc_conn *c) {
    return c->dead;
}

const char *gc_conn_error(const gc_conn *c) {
    return c->why;
}

int gc_conn_wait_closed(gc_conn *c, int timeout_ms) {
    long deadline = gc_now_ms() + timeout_ms;
    while (!c->dead) {
        long left = deadline - gc_now_ms();
        if (left <= 0)
            return -1;
        gc_conn_pump(c, left < PUMP_SLICE_MS ? (int)left : PUMP_SLICE_MS);
    }
    return 0;
}

int gc_conn_write_raw(gc_conn *c, const void *data, size_t len) {
    if (c->dead)
        return -1;
    if (c->ssl) {
        if (SSL_write(c->ssl, data, (int)len) <= 0)
            return -1;
        take_tls_output(c);
    } else {
        out_append(c, data, len);
    }
    long deadline = gc_now_ms() + DEFAULT_TIMEOUT_MS;
    while (!c->dead && c->woff < c->wlen && gc_now_ms() < deadline)
        gc_conn_pump(c, PUMP_SLICE_MS);
    return c->woff < c->wlen ? -1 : 0;
}

const char *gc_conn_alpn(const gc_conn *c) {
    return c->alpn;
}

int gc_conn_first_frame_type(const gc_conn *c) {
    return c->first_frame_type;
}

bool gc_conn_goaway(const gc_conn *c) {
    return c->goaway;
}

int gc_conn_ping(gc_conn *c, const uint8_t payload[8], int timeout_ms) {
    if (!c->h2 || c->dead)
        return -1;
    int before = c->ping_acks;
    if (nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, payload) != 0)
        return -1;
    long deadline = gc_now_ms() + timeout_ms;
    while (c->ping_acks == before && !c->dead) {
        long left = deadline - gc_now_ms();
        if (left <= 0)
            return -1;
        gc_conn_pump(c, left < PUMP_SLICE_MS ? (int)left : PUMP_SLICE_MS);
    }
    return c->ping_acks > before && memcmp(c->last_ping_ack, payload, 8) == 0 ? 0 : -1;
}

void gc_conn_set_idle(gc_conn *c, void (*fn)(void *arg), void *arg) {
    c->idle = fn;
    c->idle_arg = arg;
}

/* ------------------------------------------------------------------ */
/* nghttp2 callbacks                                                   */
/* ------------------------------------------------------------------ */

static int on_begin_frame(nghttp2_session *session, const nghttp2_frame_hd *hd, void *user_data) {
    (void)session;
    gc_conn *c = user_data;
    if (c->first_frame_type < 0)
        c->first_frame_type = hd->type;
    return 0;
}

static char *percent_decode(const uint8_t *v, size_t n) {
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '%' && i + 2 < n && isxdigit(v[i + 1]) && isxdigit(v[i + 2])) {
            char hex[3] = {(char)v[i + 1], (char)v[i + 2], '\0'};
            out[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[o++] = (char)v[i];
        }
    }
    out[o] = '\0';
    return out;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data) {
    (void)flags;
    (void)user_data;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    gc_stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!st)
        return 0;
#define IS(lit) (namelen == sizeof(lit) - 1 && memcmp(name, lit, namelen) == 0)
    char text[64];
    size_t tn = valuelen < sizeof(text) - 1 ? valuelen : sizeof(text) - 1;
    memcpy(text, value, tn);
    text[tn] = '\0';
    if (IS(":status")) {
        st->r.http_status = atoi(text);
    } else if (IS("content-type")) {
        free(st->r.content_type);
        st->r.content_type = strndup((const char *)value, valuelen);
    } else if (IS("grpc-status")) {
        st->r.grpc_status = atoi(text);
        if (frame->headers.cat == NGHTTP2_HCAT_RESPONSE)
            st->r.status_in_headers = true;
    } else if (IS("grpc-message")) {
        free(st->r.grpc_message);
        st->r.grpc_message = percent_decode(value, valuelen);
    }
#undef IS
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
    gc_conn *c = user_data;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        c->goaway = true;
        return 0;
    }
    if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
        memcpy(c->last_ping_ack, frame->ping.opaque_data, 8);
        c->ping_acks++;
        return 0;
    }
    gc_stream *st = frame->hd.stream_id
                        ? nghttp2_session_get_stream_user_data(session, frame->hd.stream_id)
                        : NULL;
    if (!st)
        return 0;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        st->r.headers_frames++;
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
            if (st->r.headers_frames == 1 && st->r.data_frames == 0)
                st->r.trailers_only = true;
            st->remote_ended = true;
            st->r.ended = true;
            mark_ended(st);
        }
        break;
    case NGHTTP2_DATA:
        st->r.data_frames++;
        if (frame->hd.length > st->r.max_data_frame)
            st->r.max_data_frame = frame->hd.length;
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
            st->remote_ended = true;
            st->r.ended = true;
            mark_ended(st);
        }
        break;
    case NGHTTP2_RST_STREAM:
        st->r.reset = true;
        st->r.reset_code = frame->rst_stream.error_code;
        mark_ended(st);
        break;
    default:
        break;
    }
    return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
    (void)user_data;
    if (frame->hd.type != NGHTTP2_DATA)
        return 0;
    gc_stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (st)
        st->r.sent_data_frames++;
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data) {
    (void)flags;
    (void)user_data;
    gc_stream *st = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!st || len == 0)
        return 0;
    if (st->r.body_len + len > st->body_cap) {
        size_t want = st->body_cap ? st->body_cap * 2 : 4096;
        while (want < st->r.body_len + len)
            want *= 2;
        uint8_t *grown = realloc(st->r.body, want);
        if (!grown)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        st->r.body = grown;
        st->body_cap = want;
    }
    memcpy(st->r.body + st->r.body_len, data, len);
    st->r.body_len += len;
    return 0;
}

static int on_invalid_frame(nghttp2_session *session, const nghttp2_frame *frame,
                            int lib_error_code, void *user_data) {
    (void)user_data;
    gc_stream *st = frame->hd.stream_id
                        ? nghttp2_session_get_stream_user_data(session, frame->hd.stream_id)
                        : NULL;
    if (st && !st->r.error[0])
        snprintf(st->r.error, sizeof(st->r.error), "invalid %s frame from the server: %s",
                 frame->hd.type == NGHTTP2_HEADERS ? "HEADERS" : "other",
                 nghttp2_strerror(lib_error_code));
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data) {
    (void)user_data;
    gc_stream *st = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!st)
        return 0;
    st->closed = true;
    if (!st->remote_ended && !st->r.reset) {
        st->r.reset = true;
        st->r.reset_code = error_code;
    }
    mark_ended(st);
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    if (st->collected)
        stream_unlink_free(st);
    return 0;
}

static ssize_t read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data) {
    (void)session;
    (void)stream_id;
    (void)user_data;
    gc_stream *st = source->ptr;
    size_t left = st->out_len - st->out_off;
    size_t n = left < length ? left : length;
    if (st->chunk && n > st->chunk)
        n = st->chunk;
    if (n == 0 && st->keep_open)
        return NGHTTP2_ERR_DEFERRED;
    if (n)
        memcpy(buf, st->out + st->out_off, n);
    st->out_off += n;
    if (st->out_off == st->out_len && !st->keep_open) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        st->local_ended = true;
    }
    return (ssize_t)n;
}

static int h2_start(gc_conn *c, char err[GC_ERR_MAX]) {
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        snprintf(err, GC_ERR_MAX, "out of memory");
        return -1;
    }
    nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    int rv = nghttp2_session_client_new(&c->h2, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) {
        snprintf(err, GC_ERR_MAX, "nghttp2: %s", nghttp2_strerror(rv));
        return -1;
    }
    /* grpc-go's first SETTINGS frame carries no parameters. */
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, NULL, 0);
    produce(c);
    if (flush_out(c) < 0) {
        snprintf(err, GC_ERR_MAX, "%s", c->why);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Connecting                                                          */
/* ------------------------------------------------------------------ */

int gc_socket_connect(const char *network, const char *address) {
    int fd = -1;
    if (strcmp(network, "unix") == 0) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (strlen(address) >= sizeof(sun.sun_path))
            return -1;
        strcpy(sun.sun_path, address);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
            close(fd);
            fd = -1;
        }
    } else if (strcmp(network, "tcp") == 0) {
        char host[64];
        const char *colon = strrchr(address, ':');
        if (!colon || (size_t)(colon - address) >= sizeof(host))
            return -1;
        memcpy(host, address, (size_t)(colon - address));
        host[colon - address] = '\0';
        struct sockaddr_in sin = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)atoi(colon + 1))};
        if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
            return -1;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
            close(fd);
            fd = -1;
        }
    }
    return fd;
}

/* TLS as go-plugin's client does it: TLS >= 1.2, the handshake's
 * certificate as the only root, host name "localhost" (SNI and check),
 * ALPN h2, our certificate presented. */
static int tls_handshake(gc_conn *c, const gc_connect_options *o, long deadline,
                         char err[GC_ERR_MAX]) {
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx) {
        ssl_error(err, "TLS context");
        return -1;
    }
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    X509_STORE *store = SSL_CTX_get_cert_store(c->ctx);
    if (X509_STORE_add_cert(store, o->server_cert) != 1) {
        ssl_error(err, "trusting the server certificate");
        return -1;
    }
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (o->client_cert && (SSL_CTX_use_certificate(c->ctx, o->client_cert) != 1 ||
                           SSL_CTX_use_PrivateKey(c->ctx, o->client_key) != 1)) {
        ssl_error(err, "client certificate");
        return -1;
    }
    static const unsigned char alpn[] = {2, 'h', '2'};
    if (SSL_CTX_set_alpn_protos(c->ctx, alpn, sizeof(alpn)) != 0) {
        ssl_error(err, "ALPN");
        return -1;
    }
    c->ssl = SSL_new(c->ctx);
    c->bin = BIO_new(BIO_s_mem());
    c->bout = BIO_new(BIO_s_mem());
    if (!c->ssl || !c->bin || !c->bout) {
        BIO_free(c->bin);
        BIO_free(c->bout);
        c->bin = c->bout = NULL;
        ssl_error(err, "TLS session");
        return -1;
    }
    BIO_set_mem_eof_return(c->bin, -1);
    BIO_set_mem_eof_return(c->bout, -1);
    SSL_set_bio(c->ssl, c->bin, c->bout);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    SSL_set1_host(c->ssl, "localhost");
    SSL_set_connect_state(c->ssl);
    for (;;) {
        int rc = SSL_do_handshake(c->ssl);
        take_tls_output(c);
        flush_out(c);
        if (rc == 1)
            break;
        int e = SSL_get_error(c->ssl, rc);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            long v = SSL_get_verify_result(c->ssl);
            if (v != X509_V_OK) {
                snprintf(err, GC_ERR_MAX, "TLS handshake: server certificate rejected: %s",
                         X509_verify_cert_error_string(v));
                ERR_clear_error();
            } else {
                ssl_error(err, "TLS handshake");
            }
            return -1;
        }
        long left = deadline - gc_now_ms();
        if (c->dead || left <= 0) {
            snprintf(err, GC_ERR_MAX, "TLS handshake: %.200s", c->dead ? c->why : "timed out");
            return -1;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (c->woff < c->wlen)
            p.events |= POLLOUT;
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        if (p.revents & POLLOUT)
            flush_out(c);
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            uint8_t buf[READ_CHUNK];
            ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
            if (n == 0) {
                snprintf(err, GC_ERR_MAX, "TLS handshake: the server closed the connection");
                return -1;
            }
            if (n > 0)
                BIO_write(c->bin, buf, (int)n);
        }
    }
    const unsigned char *proto = NULL;
    unsigned int plen = 0;
    SSL_get0_alpn_selected(c->ssl, &proto, &plen);
    if (plen && plen < sizeof(c->alpn)) {
        memcpy(c->alpn, proto, plen);
        c->alpn[plen] = '\0';
    }
    return 0;
}

gc_conn *gc_connect(const char *network, const char *address, const gc_connect_options *opts,
                    char err[GC_ERR_MAX]) {
    gc_connect_options none = {0};
    const gc_connect_options *o = opts ? opts : &none;
    long deadline = gc_now_ms() + (o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS);
    gc_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, GC_ERR_MAX, "out of memory");
        return NULL;
    }
    c->first_frame_type = -1;
    c->fd = gc_socket_connect(network, address);
    if (c->fd < 0) {
        snprintf(err, GC_ERR_MAX, "connect to %s %s: %s", network, address, strerror(errno));
        free(c);
        return NULL;
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->use_tls = o->server_cert != NULL;
    if (c->use_tls && tls_handshake(c, o, deadline, err) != 0) {
        gc_conn_close(c);
        return NULL;
    }
    if (!o->no_h2) {
        if (h2_start(c, err) != 0) {
            gc_conn_close(c);
            return NULL;
        }
        /* Plaintext that came with the end of the TLS handshake is in the
         * BIO already, where poll() cannot see it. */
        if (c->ssl && tls_pump(c) < 0) {
            snprintf(err, GC_ERR_MAX, "%s", c->why);
            gc_conn_close(c);
            return NULL;
        }
    }
    return c;
}

void gc_conn_close(gc_conn *c) {
    if (!c)
        return;
    while (c->streams) {
        gc_stream *st = c->streams;
        c->streams = st->next;
        gc_result_free(&st->r);
        free(st->out);
        free(st);
    }
    if (c->h2)
        nghttp2_session_del(c->h2);
    SSL_free(c->ssl); /* and its BIOs */
    SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    free(c->wbuf);
    free(c);
}

/* ------------------------------------------------------------------ */
/* Calls                                                               */
/* ------------------------------------------------------------------ */

void gc_result_free(gc_result *r) {
    free(r->content_type);
    free(r->grpc_message);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

#define NV(name, value)                                                                            \
    { (uint8_t *)(name), (uint8_t *)(value), strlen(name), strlen(value), NGHTTP2_NV_FLAG_NONE }

int32_t gc_call_start(gc_conn *c, const char *path, const uint8_t *msg, size_t len,
                      const gc_send_options *opts) {
    gc_send_options none = {0};
    const gc_send_options *o = opts ? opts : &none;
    if (!c->h2 || c->dead)
        return -1;
    gc_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    st->conn = c;
    st->chunk = o->chunk;
    st->keep_open = o->keep_open;
    st->r.http_status = st->r.grpc_status = -1;
    st->out_len = o->raw_body ? len : len + 5;
    st->out = malloc(st->out_len ? st->out_len : 1);
    if (!st->out) {
        free(st);
        return -1;
    }
    if (o->raw_body) {
        if (len)
            memcpy(st->out, msg, len);
    } else {
        st->out[0] = 0;
        st->out[1] = (uint8_t)(len >> 24);
        st->out[2] = (uint8_t)(len >> 16);
        st->out[3] = (uint8_t)(len >> 8);
        st->out[4] = (uint8_t)len;
        if (len)
            memcpy(st->out + 5, msg, len);
    }
    const nghttp2_nv nva[] = {
        NV(":method", "POST"),
        NV(":scheme", c->use_tls ? "https" : "http"),
        NV(":path", path),
        NV(":authority", c->use_tls ? "localhost" : "unused"),
        NV("content-type", "application/grpc"),
        NV("user-agent", "grpc-go/1.59.0"),
        NV("te", "trailers"),
        NV("grpc-accept-encoding", "gzip"),
    };
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_body};
    bool has_body = st->out_len > 0 || st->keep_open;
    int32_t id = nghttp2_submit_request(c->h2, NULL, nva, sizeof(nva) / sizeof(nva[0]),
                                        has_body ? &prd : NULL, st);
    if (id < 0) {
        free(st->out);
        free(st);
        return -1;
    }
    if (!has_body)
        st->local_ended = true;
    st->id = id;
    st->next = c->streams;
    c->streams = st;
    produce(c);
    flush_out(c);
    return id;
}

static bool stream_done(const gc_stream *st) {
    return st->remote_ended || st->r.reset || st->closed || st->conn->dead;
}

bool gc_call_done(gc_conn *c, int32_t stream_id) {
    gc_stream *st = find_stream(c, stream_id);
    return st && stream_done(st);
}

int gc_call_cancel(gc_conn *c, int32_t stream_id) {
    gc_stream *st = find_stream(c, stream_id);
    if (!st || !c->h2 || st->closed)
        return -1;
    int rv = nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
    produce(c);
    flush_out(c);
    return rv == 0 ? 0 : -1;
}

/* Splits the body into its length-prefixed messages. */
static void parse_body(gc_result *r) {
    size_t off = 0;
    while (off < r->body_len) {
        if (r->body_len - off < 5) {
            r->body_malformed = true;
            break;
        }
        const uint8_t *p = r->body + off;
        size_t n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        if (r->body_len - off - 5 < n) {
            r->body_malformed = true;
            break;
        }
        if (p[0] != 0)
            r->compressed = true;
        if (r->n_messages == 0) {
            r->msg = p + 5;
            r->msg_len = n;
        }
        r->n_messages++;
        off += 5 + n;
    }
}

int gc_call_wait(gc_conn *c, int32_t stream_id, int timeout_ms, gc_result *out) {
    memset(out, 0, sizeof(*out));
    gc_stream *st = find_stream(c, stream_id);
    if (!st) {
        out->http_status = out->grpc_status = -1;
        snprintf(out->error, sizeof(out->error), "no such call (stream %d)", (int)stream_id);
        return 0;
    }
    long deadline = gc_now_ms() + timeout_ms;
    while (!stream_done(st)) {
        long left = deadline - gc_now_ms();
        if (left <= 0)
            return -1;
        gc_conn_pump(c, left < PUMP_SLICE_MS ? (int)left : PUMP_SLICE_MS);
    }
    if (c->dead && !st->remote_ended && !st->r.reset) {
        st->r.conn_died = true;
        if (!st->r.error[0])
            snprintf(st->r.error, sizeof(st->r.error), "connection died: %.200s", c->why);
        mark_ended(st);
    }
    /* The server answered before we finished sending: stop, as grpc-go
     * does. */
    if (!c->dead && !st->closed && !st->local_ended && !st->r.reset) {
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
        produce(c);
        flush_out(c);
    }
    *out = st->r;
    memset(&st->r, 0, sizeof(st->r));
    parse_body(out);
    st->collected = true;
    if (st->closed || c->dead)
        stream_unlink_free(st);
    return 0;
}

int gc_call(gc_conn *c, const char *path, const uint8_t *msg, size_t len, int timeout_ms,
            gc_result *out) {
    int32_t id = gc_call_start(c, path, msg, len, NULL);
    if (id < 0) {
        memset(out, 0, sizeof(*out));
        out->http_status = out->grpc_status = -1;
        snprintf(out->error, sizeof(out->error), "could not start the call: %.200s",
                 c->dead ? c->why : "nghttp2 refused it");
        return -1;
    }
    if (gc_call_wait(c, id, timeout_ms, out) != 0) {
        out->http_status = out->grpc_status = -1;
        snprintf(out->error, sizeof(out->error), "%s: no answer within %d ms", path, timeout_ms);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The plugin process                                                  */
/* ------------------------------------------------------------------ */

/* True when `env` (NULL-terminated) has an entry for NAME. */
static bool env_has(const char *const *env, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; env && env[i]; i++) {
        if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
            return true;
    }
    return false;
}

int gc_plugin_start(gc_plugin *p, const gc_plugin_options *o, char err[GC_ERR_MAX]) {
    memset(p, 0, sizeof(*p));
    p->proc.in_fd = p->proc.out_fd = p->proc.err_fd = -1;
    p->tls = o->tls;
    if (o->tls && gc_identity_generate(&p->identity, err) != 0)
        return -1;
    char *defaults[6] = {0};
    size_t nd = 0;
    if (!env_has(o->env, GC_MAGIC_COOKIE_KEY))
        defaults[nd++] = strdup(GC_MAGIC_COOKIE_KEY "=" GC_MAGIC_COOKIE_VALUE);
    if (!env_has(o->env, "PLUGIN_PROTOCOL_VERSIONS")) {
        char *v = NULL;
        if (asprintf(&v, "PLUGIN_PROTOCOL_VERSIONS=%s", o->versions ? o->versions : "5,6") > 0)
            defaults[nd++] = v;
    }
    if (!env_has(o->env, "PLUGIN_MIN_PORT"))
        defaults[nd++] = strdup("PLUGIN_MIN_PORT=10000");
    if (!env_has(o->env, "PLUGIN_MAX_PORT"))
        defaults[nd++] = strdup("PLUGIN_MAX_PORT=25000");
    if (!env_has(o->env, "PLUGIN_CLIENT_CERT")) {
        char *v = NULL;
        if (o->tls) {
            if (asprintf(&v, "PLUGIN_CLIENT_CERT=%s", p->identity.pem) > 0)
                defaults[nd++] = v;
        } else {
            defaults[nd++] = strdup("PLUGIN_CLIENT_CERT="); /* removed */
        }
    }
    size_t extra = 0;
    while (o->env && o->env[extra])
        extra++;
    const char **env = calloc(nd + extra + 1, sizeof(*env));
    if (!env) {
        for (size_t i = 0; i < nd; i++)
            free(defaults[i]);
        snprintf(err, GC_ERR_MAX, "out of memory");
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < nd; i++)
        env[n++] = defaults[i];
    for (size_t i = 0; i < extra; i++)
        env[n++] = o->env[i];
    env[n] = NULL;
    const char *argv[] = {o->exe, NULL};
    int rc = th_proc_spawn(&p->proc, argv, env);
    for (size_t i = 0; i < nd; i++)
        free(defaults[i]);
    free(env);
    if (rc != 0) {
        p->proc.in_fd = p->proc.out_fd = p->proc.err_fd = -1;
        snprintf(err, GC_ERR_MAX, "cannot start %s", o->exe);
        return -1;
    }
    int wait = o->handshake_timeout_ms > 0 ? o->handshake_timeout_ms : HANDSHAKE_WAIT_MS;
    p->line = th_proc_read_line(&p->proc, wait);
    if (!p->line) {
        snprintf(err, GC_ERR_MAX, "no handshake line from %s within %d ms", o->exe, wait);
        return -1;
    }
    if (gc_handshake_parse(p->line, &p->hs, err) != 0)
        return -1;
    if (p->hs.cert_b64[0] && !(p->server_cert = gc_handshake_cert(&p->hs))) {
        snprintf(err, GC_ERR_MAX,
                 "the handshake's certificate is not base64 (std, unpadded) of a "
                 "DER certificate");
        return -1;
    }
    return 0;
}

gc_conn *gc_plugin_connect(gc_plugin *p, const gc_connect_options *opts, char err[GC_ERR_MAX]) {
    gc_connect_options o = opts ? *opts : (gc_connect_options){0};
    if (p->tls) {
        if (!o.server_cert)
            o.server_cert = p->server_cert;
        if (!o.client_cert) {
            o.client_cert = p->identity.cert;
            o.client_key = p->identity.key;
        }
        if (!o.server_cert) {
            snprintf(err, GC_ERR_MAX, "AutoMTLS is on but the handshake line has no certificate");
            return NULL;
        }
    }
    return gc_connect(p->hs.network, p->hs.address, &o, err);
}

/* The first pid in a /proc children file, or -1. */
static int first_child_in(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int pid = -1;
    if (fscanf(f, "%d", &pid) != 1)
        pid = -1;
    fclose(f);
    return pid;
}

int gc_plugin_child_pid(const gc_plugin *p) {
    if (p->proc.pid <= 0)
        return -1;
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)p->proc.pid);
    DIR *d = opendir(dir);
    int pid = -1;
    if (d) {
        struct dirent *e;
        while (pid < 0 && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[400];
            snprintf(path, sizeof(path), "%s/%.256s/children", dir, e->d_name);
            pid = first_child_in(path);
        }
        closedir(d);
    }
    if (pid > 0)
        return pid;
    /* No children files (CONFIG_PROC_CHILDREN off): scan every process's
     * parent. */
    d = opendir("/proc");
    if (!d)
        return -1;
    struct dirent *e;
    while (pid < 0 && (e = readdir(d)) != NULL) {
        char path[300], buf[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *rparen = strrchr(buf, ')');
        int ppid = 0;
        char state;
        if (rparen && sscanf(rparen + 1, " %c %d", &state, &ppid) == 2 && ppid == p->proc.pid)
            pid = atoi(e->d_name);
    }
    closedir(d);
    return pid;
}

void gc_plugin_destroy(gc_plugin *p) {
    if (p->proc.pid > 0 || p->proc.out_fd >= 0 || p->proc.err_fd >= 0 || p->proc.in_fd >= 0)
        th_proc_destroy(&p->proc);
    gc_identity_free(&p->identity);
    free(p->line);
    X509_free(p->server_cert);
    memset(p, 0, sizeof(*p));
    p->proc.in_fd = p->proc.out_fd = p->proc.err_fd = -1;
}
