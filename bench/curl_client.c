/*
 * curl_client.c - the plain libcurl-multi client (bench-curl-client): the
 * fastest way to do the provider's refresh GETs with libcurl, and so the
 * wall-time limit for a refresh. Modelled on curl's docs/examples
 * (a curl_multi_poll loop, as multi-app.c / multi-poll.c do it).
 *
 * It makes `n` GETs of /accounts/{account}/sso_connectors/{id} (the
 * provider's read: the same URL, Bearer token and Accept header), taking
 * the (account, id) pairs from `ids_file` (one "ACCOUNT ID" a line) round
 * robin, with at most `inflight` transfers at once and at most `maxconn`
 * connections (CURLMOPT_MAX_TOTAL_CONNECTIONS, keep-alive; default 64, the
 * provider's own limit). Easy handles are made once per slot and reused.
 *
 * Every answer must be HTTP 200 with a body saying "success":true; one
 * that is not makes the exit status 1 (a fast failure must not count).
 * On success it prints "reads N seconds S" on stdout: S runs from the first
 * transfer added to the last one done, so the rate excludes start-up.
 *
 * Usage: bench-curl-client BASE_URL TOKEN IDS_FILE N INFLIGHT [MAXCONN]
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_IDS  100000
#define BODY_CAP 4096

typedef struct slot {
    CURL *easy;
    char body[BODY_CAP];
    size_t len;
    char url[512];
} slot;

static char (*accounts)[40], (*ids)[40];
static size_t n_ids;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keeps the body of the current transfer in its slot, capped: an answer
 * larger than BODY_CAP is an error (curl stops the transfer). */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) {
    slot *s = userp;
    size_t n = size * nmemb;
    if (s->len + n >= BODY_CAP)
        return 0;
    memcpy(s->body + s->len, data, n);
    s->len += n;
    return n;
}

static int load_ids(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    accounts = calloc(MAX_IDS, sizeof(*accounts));
    ids = calloc(MAX_IDS, sizeof(*ids));
    while (n_ids < MAX_IDS && fscanf(f, "%39s %39s", accounts[n_ids], ids[n_ids]) == 2)
        n_ids++;
    fclose(f);
    return n_ids ? 0 : -1;
}

/* Points slot `s` at read number `i` and hands it to the multi handle. */
static void start(CURLM *multi, slot *s, const char *base, size_t i) {
    snprintf(s->url, sizeof(s->url), "%s/accounts/%s/sso_connectors/%s", base, accounts[i % n_ids],
             ids[i % n_ids]);
    s->len = 0;
    curl_easy_setopt(s->easy, CURLOPT_URL, s->url);
    curl_multi_add_handle(multi, s->easy);
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: bench-curl-client BASE_URL TOKEN IDS_FILE N INFLIGHT [MAXCONN]\n");
        return 2;
    }
    const char *base = argv[1];
    size_t n = strtoul(argv[4], NULL, 10);
    size_t inflight = strtoul(argv[5], NULL, 10);
    long maxconn = argc > 6 ? strtol(argv[6], NULL, 10) : 64;
    if (load_ids(argv[3]) != 0 || n == 0 || inflight == 0) {
        fprintf(stderr, "bench-curl-client: no ids in %s, or N or INFLIGHT is 0\n", argv[3]);
        return 2;
    }
    if (inflight > n)
        inflight = n;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char auth[256];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", argv[2]);
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    headers = curl_slist_append(headers, "Accept: application/json");
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, maxconn);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, maxconn);
    slot *slots = calloc(inflight, sizeof(*slots));
    for (size_t i = 0; i < inflight; i++) {
        CURL *e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "bench-curl-client");
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &slots[i]);
        curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)&slots[i]);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        slots[i].easy = e;
    }
    double t0 = now_s();
    size_t sent = 0, done = 0, bad = 0;
    for (; sent < inflight; sent++)
        start(multi, &slots[sent], base, sent);
    int running = 1;
    while (done < n) {
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            slot *s;
            long status = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            s->body[s->len] = '\0';
            if (m->data.result != CURLE_OK || status != 200 ||
                !strstr(s->body, "\"success\":true")) {
                if (bad++ < 5)
                    fprintf(stderr, "bench-curl-client: %s: curl %d, HTTP %ld\n", s->url,
                            (int)m->data.result, status);
            }
            curl_multi_remove_handle(multi, s->easy);
            done++;
            if (sent < n)
                start(multi, s, base, sent++);
        }
        if (done < n)
            curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    double elapsed = now_s() - t0;
    for (size_t i = 0; i < inflight; i++)
        curl_easy_cleanup(slots[i].easy);
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    free(slots);
    free(accounts);
    free(ids);
    if (bad) {
        fprintf(stderr, "bench-curl-client: %zu of %zu answers were not 200 success\n", bad, n);
        return 1;
    }
    printf("reads %zu seconds %.6f\n", n, elapsed);
    return 0;
}
