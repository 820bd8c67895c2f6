/*
 * http.c - the harness's libcurl client (see http.h).
 */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Responses above this are a test failure, not something to buffer. */
#define SC_MAX_BODY (64 * 1024 * 1024)

typedef struct sc_buf {
    char *data;
    size_t len;
} sc_buf;

static size_t append(char *ptr, size_t size, size_t nmemb, void *userdata) {
    sc_buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > SC_MAX_BODY)
        return 0;
    char *grown = realloc(b->data, b->len + n + 1);
    if (!grown)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

typedef struct sc_xfer {
    CURL *curl;
    struct curl_slist *headers;
    sc_buf body, head;
} sc_xfer;

static int xfer_setup(sc_xfer *x, const char *url, const char *method, const char *const headers[],
                      const char *body) {
    memset(x, 0, sizeof(*x));
    x->curl = curl_easy_init();
    if (!x->curl)
        return -1;
    for (size_t i = 0; headers && headers[i]; i++)
        x->headers = curl_slist_append(x->headers, headers[i]);
    curl_easy_setopt(x->curl, CURLOPT_URL, url);
    curl_easy_setopt(x->curl, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(x->curl, CURLOPT_POSTFIELDS, body);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(x->curl, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(x->curl, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(x->curl, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(x->curl, CURLOPT_WRITEDATA, &x->body);
    curl_easy_setopt(x->curl, CURLOPT_HEADERFUNCTION, append);
    curl_easy_setopt(x->curl, CURLOPT_HEADERDATA, &x->head);
    /* A guard against hangs only; every test expects answers in well under it. */
    curl_easy_setopt(x->curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(x->curl, CURLOPT_NOSIGNAL, 1L);
    return 0;
}

static void xfer_finish(sc_xfer *x, CURLcode rc, sc_resp *out) {
    memset(out, 0, sizeof(*out));
    out->rc = rc;
    if (rc == CURLE_OK)
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(x->curl, CURLINFO_TOTAL_TIME, &out->seconds);
    out->body = x->body.data ? x->body.data : calloc(1, 1);
    out->len = x->body.len;
    out->headers = x->head.data ? x->head.data : calloc(1, 1);
    out->headers_len = x->head.len;
    out->json = out->len ? json_loadb(out->body, out->len, JSON_DECODE_ANY, NULL) : NULL;
    curl_slist_free_all(x->headers);
    curl_easy_cleanup(x->curl);
}

int sc_request(const char *url, const char *method, const char *const headers[], const char *body,
               sc_resp *out) {
    sc_xfer x;
    if (xfer_setup(&x, url, method, headers, body) < 0)
        return -1;
    CURLcode rc = curl_easy_perform(x.curl);
    xfer_finish(&x, rc, out);
    return 0;
}

int sc_parallel(size_t n, const char *url, const char *method, const char *const headers[],
                const char *body, sc_resp *out) {
    CURLM *multi = curl_multi_init();
    sc_xfer *xs = calloc(n, sizeof(*xs));
    if (!multi || !xs) {
        curl_multi_cleanup(multi);
        free(xs);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (xfer_setup(&xs[i], url, method, headers, body) < 0)
            abort();
        curl_easy_setopt(xs[i].curl, CURLOPT_PRIVATE, &xs[i]);
        /* Separate connections, so the requests really are concurrent. */
        curl_easy_setopt(xs[i].curl, CURLOPT_FRESH_CONNECT, 1L);
        curl_multi_add_handle(multi, xs[i].curl);
    }
    int running = 1;
    while (running) {
        curl_multi_perform(multi, &running);
        if (running)
            curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    CURLMsg *msg;
    int left;
    CURLcode *codes = calloc(n, sizeof(*codes));
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        for (size_t i = 0; i < n; i++)
            if (xs[i].curl == msg->easy_handle)
                codes[i] = msg->data.result;
    }
    for (size_t i = 0; i < n; i++) {
        curl_multi_remove_handle(multi, xs[i].curl);
        xfer_finish(&xs[i], codes ? codes[i] : CURLE_OK, &out[i]);
    }
    free(codes);
    free(xs);
    curl_multi_cleanup(multi);
    return 0;
}

const char *sc_header(const sc_resp *r, const char *name, char *buf, size_t len) {
    size_t nlen = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t llen = eol ? (size_t)(eol - line) : strlen(line);
        if (llen > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            size_t vlen = llen - (size_t)(v - line);
            snprintf(buf, len, "%.*s", (int)vlen, v);
            return buf;
        }
        line = eol ? eol + 2 : NULL;
    }
    return NULL;
}

void sc_resp_free(sc_resp *r) {
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

const char *sc_url(char *buf, size_t len, const char *origin, const char *path) {
    snprintf(buf, len, "%s%s", origin, path);
    return buf;
}
