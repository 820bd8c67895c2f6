/*
 * http.h - the harness's small libcurl client: one request with custom
 * headers, the response headers, the transport result (an empty reply from
 * a dropped connection), and many requests in flight at once (curl multi).
 * th_sim_http() is built on it.
 */
#ifndef TEST_HARNESS_HTTP_H
#define TEST_HARNESS_HTTP_H

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>

typedef struct sc_resp {
    CURLcode rc; /* CURLE_OK, or e.g. CURLE_GOT_NOTHING for a dropped reply */
    long status; /* 0 when there was no HTTP answer */
    char *body;  /* NUL-terminated, never NULL after sc_request */
    size_t len;
    char *headers; /* raw response header block, NUL-terminated */
    size_t headers_len;
    json_t *json;   /* parsed body (new reference) or NULL */
    double seconds; /* total time of the transfer */
} sc_resp;

/* One request to `url`. `headers` is a NULL-terminated list of "Name: value"
 * lines (may be NULL); `body` may be NULL. Returns 0 when a response (or a
 * transport error) was recorded in *out; -1 when curl could not be set up. */
int sc_request(const char *url, const char *method, const char *const headers[], const char *body,
               sc_resp *out);

/* The value of response header `name` (case-insensitive) copied into buf,
 * or NULL when absent. */
const char *sc_header(const sc_resp *r, const char *name, char *buf, size_t len);

void sc_resp_free(sc_resp *r);

/* Runs `n` identical requests at once with curl multi and fills out[0..n-1]. */
int sc_parallel(size_t n, const char *url, const char *method, const char *const headers[],
                const char *body, sc_resp *out);

/* "http://127.0.0.1:PORT" + path, into buf. */
const char *sc_url(char *buf, size_t len, const char *origin, const char *path);

#endif /* TEST_HARNESS_HTTP_H */
