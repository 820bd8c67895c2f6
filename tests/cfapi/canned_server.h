/*
 * canned_server.h - a small HTTP/1.1 server on 127.0.0.1 for the http_uv
 * tests: it runs on the test's own libuv loop, answers every request with
 * one configured response (optionally after a delay), keeps connections
 * alive, and counts connections so tests can see reuse and the connection
 * cap. Its handles are unref'd: they never keep uv_run() going on their
 * own. It serves what cf-api-sim cannot: bodies over 8 MiB, bodies without
 * a Content-Length, connection statistics.
 */
#ifndef CANNED_SERVER_H
#define CANNED_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct canned_conn canned_conn;

typedef struct canned_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    char url[64]; /* "http://127.0.0.1:PORT/" */
    /* the answer to every request */
    int status;
    const char *extra_headers; /* "Name: value\r\n" lines, or NULL */
    const char *body;          /* borrowed; must outlive the server */
    size_t body_len;
    bool close_delimited; /* no Content-Length; the body ends when the connection closes */
    unsigned delay_ms;    /* wait this long before answering */
    /* what was seen */
    int accepted;         /* connections accepted */
    int open;             /* connections open now */
    int max_open;         /* most connections open at once */
    int requests;         /* complete requests read */
    char last_head[4096]; /* the last request's head (request line + headers) */
    char last_body[4096];
    canned_conn *conns;
    bool listening;
} canned_server;

/* Listens on 127.0.0.1 (free port) on `loop`. Set the answer fields before
 * or after. Returns 0 or a negative libuv error. */
int canned_start(canned_server *s, uv_loop_t *loop);

/* Closes the listener and every connection (run the loop afterwards).
 * A no-op when already stopped. */
void canned_stop(canned_server *s);

#endif /* CANNED_SERVER_H */
