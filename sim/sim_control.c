/*
 * sim_control.c - see sim_control.h.
 */
#include "sim_control.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The answer body, capped: the control plane's largest answer (the
 * connector list, the request log) stays far below it. */
#define BODY_MAX ((size_t)256 * 1024 * 1024)

typedef struct body {
    char *data;
    size_t len;
} body;

static size_t collect(char *data, size_t size, size_t nmemb, void *arg) {
    body *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > BODY_MAX)
        return 0;
    char *grown = realloc(b->data, b->len + n + 1);
    if (!grown)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

json_t *sim_control_call(const char *origin, const char *method, const char *path,
                         const char *body_json, long timeout_ms, long *status) {
    if (status)
        *status = 0;
    CURL *curl = curl_easy_init();
    if (!curl)
        return NULL;
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", origin, path);
    struct curl_slist *headers = NULL;
    body b = {0};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body_json) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body_json);
    }
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    long code = 0;
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (status)
        *status = code;
    json_t *v = b.data ? json_loads(b.data, 0, NULL) : NULL;
    free(b.data);
    return v;
}
