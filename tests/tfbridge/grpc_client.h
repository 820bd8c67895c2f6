/*
 * grpc_client.h - a small blocking gRPC client for tests of the Terraform
 * bridge, independent of the bridge's own code.
 *
 * It does what Terraform 1.11 (go-plugin 1.6, grpc-go 1.59) does, as
 * shared/reference/terraform-plugin-protocol.md describes it:
 *
 * - gc_plugin starts the plugin executable with go-plugin's environment
 *   (TF_PLUGIN_MAGIC_COOKIE, PLUGIN_PROTOCOL_VERSIONS, PLUGIN_MIN/MAX_PORT,
 *   and for AutoMTLS a PLUGIN_CLIENT_CERT PEM of a fresh client certificate)
 *   and reads its handshake line "1|6|unix|<path>|grpc[|<cert>]".
 * - gc_conn is one HTTP/2 connection to it (nghttp2 as a client), plaintext
 *   h2c with prior knowledge, or TLS (OpenSSL on memory BIOs) that trusts
 *   only the certificate from the handshake line, checks the host name
 *   "localhost", presents the client certificate and offers ALPN h2.
 * - Unary calls: HEADERS as grpc-go sends them, then the 5-byte prefixed
 *   message in DATA frames (optionally cut into small frames), and the
 *   answer recorded frame by frame: response headers, DATA, trailers,
 *   whether it was a trailers-only answer, RST_STREAM.
 *
 * Everything blocks with a timeout (poll() on the socket); several calls
 * may be in flight on one connection: gc_call_start() sends, gc_call_wait()
 * runs the connection until that call has its answer, serving every other
 * stream meanwhile. Nothing here knows tfplugin6: messages are bytes.
 *
 * Errors: functions return 0 (or a non-negative value) on success and a
 * negative value on failure, with a reason in an err buffer of GC_ERR_MAX
 * bytes where one is taken.
 */
#ifndef TFBRIDGE_TEST_GRPC_CLIENT_H
#define TFBRIDGE_TEST_GRPC_CLIENT_H

#include "harness.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GC_ERR_MAX 256

#define GC_MAGIC_COOKIE_KEY   "TF_PLUGIN_MAGIC_COOKIE"
#define GC_MAGIC_COOKIE_VALUE "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"

/* ------------------------------------------------------------------ */
/* Certificates and the handshake line                                 */
/* ------------------------------------------------------------------ */

/* A client identity as go-plugin's client makes one: an ECDSA P-521 key and
 * a self-signed certificate (CA:TRUE, O=HashiCorp, CN=localhost, SAN
 * DNS:localhost, extended key usage clientAuth). */
typedef struct gc_identity {
    EVP_PKEY *key;
    X509 *cert;
    char *pem; /* the certificate as PEM, for PLUGIN_CLIENT_CERT; malloc'd */
} gc_identity;

int gc_identity_generate(gc_identity *id, char err[GC_ERR_MAX]);
void gc_identity_free(gc_identity *id);

/* Decodes base64 in the standard alphabet WITHOUT padding (Go's
 * RawStdEncoding), strictly: '=' or any character outside the alphabet, or
 * a length that no unpadded encoding has, is refused. Returns new malloc'd
 * bytes and their length, or NULL. */
unsigned char *gc_base64_nopad_decode(const char *text, size_t *len);

/* The fields of a handshake line. */
typedef struct gc_handshake {
    int core;            /* 1 */
    int app;             /* 6 */
    char network[16];    /* "unix" or "tcp" */
    char address[256];   /* socket path or host:port */
    char protocol[16];   /* "grpc" */
    char cert_b64[8192]; /* "" when absent */
} gc_handshake;

/* Parses "CORE|APP|NETWORK|ADDRESS|PROTOCOL[|CERT]" (the trailing '\n'
 * already gone; surrounding whitespace is trimmed, as go-plugin does).
 * Returns 0, or -1 with the reason in err. */
int gc_handshake_parse(const char *line, gc_handshake *hs, char err[GC_ERR_MAX]);

/* The handshake's certificate (base64 of its DER) as a new X509, or NULL. */
X509 *gc_handshake_cert(const gc_handshake *hs);

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

typedef struct gc_conn gc_conn;

typedef struct gc_connect_options {
    /* NULL: plaintext h2c. Else TLS, trusting only this certificate. */
    X509 *server_cert;
    /* The client certificate and key to present (NULL: none). */
    X509 *client_cert;
    EVP_PKEY *client_key;
    /* Do not start HTTP/2: the connection (after TLS, if any) is for
     * gc_conn_write_raw() only. */
    bool no_h2;
    int timeout_ms; /* for the connect and the TLS handshake; 0 means 10 s */
} gc_connect_options;

/* Connects to `network` ("unix" or "tcp") `address`, does TLS if asked, and
 * sends the HTTP/2 preface and an empty SETTINGS frame as grpc-go does.
 * Returns a new connection, or NULL with the reason in err. */
gc_conn *gc_connect(const char *network, const char *address, const gc_connect_options *opts,
                    char err[GC_ERR_MAX]);
/* A bare connected socket (blocking), or -1: for connections that say
 * nothing or say garbage. */
int gc_socket_connect(const char *network, const char *address);
/* Closes the socket and frees everything; pending calls are forgotten. */
void gc_conn_close(gc_conn *c);

/* Runs the connection (reads, writes, nghttp2) for at most timeout_ms, or
 * less once something happened. Returns 1 when something happened, 0 on
 * timeout, -1 when the connection is dead. */
int gc_conn_pump(gc_conn *c, int timeout_ms);
/* True once the peer closed the connection, or it failed. */
bool gc_conn_is_dead(const gc_conn *c);
/* Why it is dead ("" while alive). */
const char *gc_conn_error(const gc_conn *c);
/* Waits until the peer closes the connection. Returns 0 when it did, -1 on
 * timeout. */
int gc_conn_wait_closed(gc_conn *c, int timeout_ms);
/* Writes bytes on the connection (through TLS when it has TLS), bypassing
 * HTTP/2. Returns 0 or -1. */
int gc_conn_write_raw(gc_conn *c, const void *data, size_t len);
/* The ALPN protocol the server selected ("" for none or plaintext). */
const char *gc_conn_alpn(const gc_conn *c);
/* The type of the first HTTP/2 frame the server sent (-1: none yet). */
int gc_conn_first_frame_type(const gc_conn *c);
/* True once a GOAWAY frame arrived. */
bool gc_conn_goaway(const gc_conn *c);
/* Sends a PING with this payload and waits for its ACK. Returns 0 when the
 * ACK carried the same 8 bytes, -1 otherwise (timeout, dead). */
int gc_conn_ping(gc_conn *c, const uint8_t payload[8], int timeout_ms);
/* A function run on every turn of the I/O loop (e.g. to drain the
 * plugin's stderr). */
void gc_conn_set_idle(gc_conn *c, void (*fn)(void *arg), void *arg);

/* ------------------------------------------------------------------ */
/* Calls                                                               */
/* ------------------------------------------------------------------ */

typedef struct gc_send_options {
    /* Largest DATA frame payload to send (0: as large as HTTP/2 allows). */
    size_t chunk;
    /* Send the request headers (and the message, if any) and leave the
     * stream open, as go-plugin does for the broker stream. */
    bool keep_open;
    /* Send `msg` as the whole request body, without adding the 5-byte
     * prefix (to send malformed framing). */
    bool raw_body;
} gc_send_options;

/* An answer as it came, frame by frame. */
typedef struct gc_result {
    bool ended;             /* the server ended the stream (END_STREAM) */
    bool reset;             /* the stream was reset (by either side) */
    uint32_t reset_code;    /* the RST_STREAM error code */
    bool conn_died;         /* the connection ended before the answer did */
    int http_status;        /* :status, -1 if absent */
    char *content_type;     /* NULL if absent */
    int grpc_status;        /* -1 if absent */
    char *grpc_message;     /* percent-decoded; NULL if absent */
    bool trailers_only;     /* one HEADERS frame with END_STREAM, no DATA */
    int headers_frames;     /* HEADERS frames received */
    int data_frames;        /* DATA frames received (with payload or not) */
    size_t max_data_frame;  /* largest DATA payload received */
    bool status_in_headers; /* grpc-status came in the first HEADERS frame */
    int sent_data_frames;   /* DATA frames this client sent for the request */
    uint8_t *body;          /* every DATA byte; malloc'd */
    size_t body_len;
    const uint8_t *msg; /* the first message (inside body), NULL if none */
    size_t msg_len;
    size_t n_messages;      /* complete length-prefixed messages in body */
    bool body_malformed;    /* body is not a sequence of whole messages */
    bool compressed;        /* a message had its compressed flag set */
    unsigned long seq;      /* order in which answers ended on the connection */
    char error[GC_ERR_MAX]; /* client-side trouble (invalid frame...), or "" */
} gc_result;

void gc_result_free(gc_result *r);

/* Starts a call: HEADERS (:method POST, :scheme, :path, :authority
 * "unused" or "localhost", content-type application/grpc, user-agent, te
 * trailers, grpc-accept-encoding) and the message with its prefix. `opts`
 * may be NULL. Returns the stream id (> 0) or -1. */
int32_t gc_call_start(gc_conn *c, const char *path, const uint8_t *msg, size_t len,
                      const gc_send_options *opts);
/* Runs the connection until the call's answer has ended (or the stream was
 * reset, or the connection died), for at most timeout_ms, and moves the
 * answer into *out (which the caller frees with gc_result_free). Returns 0
 * when *out is filled, -1 on timeout (the call stays pending). If the
 * server ended the stream while the request was still being sent, the
 * stream is reset with CANCEL, as grpc-go does. */
int gc_call_wait(gc_conn *c, int32_t stream_id, int timeout_ms, gc_result *out);
/* True once the call's answer has ended (without waiting). */
bool gc_call_done(gc_conn *c, int32_t stream_id);
/* Resets a call's stream with CANCEL. */
int gc_call_cancel(gc_conn *c, int32_t stream_id);
/* gc_call_start + gc_call_wait. Returns 0 when *out is filled, -1 on
 * failure to start or timeout (then *out is zeroed with error set). */
int gc_call(gc_conn *c, const char *path, const uint8_t *msg, size_t len, int timeout_ms,
            gc_result *out);

/* ------------------------------------------------------------------ */
/* The plugin process                                                  */
/* ------------------------------------------------------------------ */

typedef struct gc_plugin_options {
    const char *exe; /* the plugin executable */
    bool tls;        /* AutoMTLS: generate a client identity, pass its PEM */
    /* Extra "NAME=value" entries (NULL-terminated, may be NULL); they
     * override the go-plugin variables of the same name, "NAME=" removes
     * one. */
    const char *const *env;
    const char *versions;     /* PLUGIN_PROTOCOL_VERSIONS; NULL means "5,6" */
    int handshake_timeout_ms; /* 0 means 30 s */
} gc_plugin_options;

typedef struct gc_plugin {
    th_proc proc;
    bool tls;
    gc_identity identity; /* the client's, when tls */
    char *line;           /* the handshake line as read (without '\n') */
    gc_handshake hs;
    X509 *server_cert; /* from the line, when it has one */
} gc_plugin;

/* Starts the plugin and reads its handshake line. Returns 0; or -1 with
 * the reason in err, in which case p->proc is still there to be examined
 * (its exit status, its stderr) and gc_plugin_destroy() must be called. */
int gc_plugin_start(gc_plugin *p, const gc_plugin_options *opts, char err[GC_ERR_MAX]);
/* Connects to the plugin as Terraform does (TLS with the identity when the
 * plugin was started with tls). `opts` may be NULL; its TLS fields are
 * filled in from the plugin. */
gc_conn *gc_plugin_connect(gc_plugin *p, const gc_connect_options *opts, char err[GC_ERR_MAX]);
/* The pid of the plugin's first child process (found through
 * /proc/<pid>/task/<tid>/children), or -1. */
int gc_plugin_child_pid(const gc_plugin *p);
/* Kills the plugin if it still runs, reaps it, frees everything. */
void gc_plugin_destroy(gc_plugin *p);

/* Monotonic milliseconds. */
long gc_now_ms(void);

#endif /* TFBRIDGE_TEST_GRPC_CLIENT_H */
