/*
 * cfapi_pager.c - the one reader of paged lists (see cfapi_internal.h).
 * cfapi_list() and the create lookup both read an account's connectors
 * through it, so the rules for when a list ends live in one place.
 *
 * Why the caps and the "nothing new" rule: Cloudflare's result_info
 * says how many connectors exist, and the pages are read until that many
 * have been seen. A server that lies about total_count, or ignores
 * ?page= and answers the first page every time, would otherwise keep the
 * provider reading for ever (it once read 1,000 pages, 2.1 GiB).
 */
#include "cfapi_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

int cfapi_pager_start(cfapi_pager *p, bool collect, size_t max_items, size_t max_bytes) {
    cfapi_pager_clear(p);
    p->seen = json_object();
    p->items = collect ? json_array() : NULL;
    p->page = 1;
    p->total = -1;
    p->max_items = max_items ? max_items : CFAPI_LIST_MAX_ITEMS;
    p->max_bytes = max_bytes ? max_bytes : CFAPI_LIST_MAX_BYTES;
    if (!p->seen || (collect && !p->items)) {
        cfapi_pager_clear(p);
        return UV_ENOMEM;
    }
    return 0;
}

void cfapi_pager_clear(cfapi_pager *p) {
    json_decref(p->items);
    json_decref(p->seen);
    *p = (cfapi_pager){0};
}

/* The key a connector is known by: its id, or (no id) its whole text, so
 * that an id-less item repeated by a server is still recognised. Returns
 * a new string or NULL. */
static char *item_key(const json_t *item) {
    const char *id = json_string_value(json_object_get(item, "id"));
    if (id) {
        char *k = NULL;
        return asprintf(&k, "id:%s", id) < 0 ? NULL : k;
    }
    char *text = json_dumps(item, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    char *k = NULL;
    if (text && asprintf(&k, "item:%s", text) < 0)
        k = NULL;
    free(text);
    return k;
}

/* Forgets the pass so far: the list is read again from page 1. */
static void restart_pass(cfapi_pager *p) {
    json_object_clear(p->seen);
    if (p->items)
        json_array_clear(p->items);
    p->count = 0;
    p->page = 1;
    p->total = -1;
    p->restarts++;
}

cfapi_page_verdict cfapi_pager_take(cfapi_pager *p, const json_t *items, const json_t *root,
                                    size_t body_len) {
    p->bytes += body_len;
    if (p->bytes > p->max_bytes)
        return CFAPI_PAGE_OVER_BYTES;
    json_t *total = json_object_get(json_object_get(root, "result_info"), "total_count");
    if (json_is_integer(total)) {
        /* Found by the soak (docs/RELIABILITY.md, --page-size 4): imports
         * by domain answered "no such connector" for one that existed,
         * because a delete between two pages had shifted it onto the page
         * already read. */
        if (p->page > 1 && p->total >= 0 && json_integer_value(total) != p->total &&
            p->restarts < CFAPI_PAGER_MAX_RESTARTS) {
            restart_pass(p);
            return CFAPI_PAGE_MORE;
        }
        if (p->page == 1)
            p->total = json_integer_value(total);
    }
    size_t fresh = 0, i;
    json_t *item;
    json_array_foreach(items, i, item) {
        char *key = item_key(item);
        if (!key || json_object_get(p->seen, key)) {
            free(key);
            continue;
        }
        json_object_set_new(p->seen, key, json_true());
        free(key);
        fresh++;
        if (++p->count > p->max_items)
            return CFAPI_PAGE_OVER_ITEMS;
        if (p->items)
            json_array_append(p->items, item);
    }
    bool announced_more =
        json_is_integer(total) && (json_int_t)p->count < json_integer_value(total);
    if (!announced_more)
        return CFAPI_PAGE_LAST;
    if (fresh == 0)
        return CFAPI_PAGE_STALE;
    p->page++;
    return CFAPI_PAGE_MORE;
}

char *cfapi_pager_url(const cfapi_pager *p, const char *list_url) {
    char *url = NULL;
    if (p->page <= 1)
        return strdup(list_url);
    return asprintf(&url, "%s?page=%u", list_url, p->page) < 0 ? NULL : url;
}
