/*
 * fuzz_cfapi_wire.c - what the Cloudflare client reads from an answer:
 * the Retry-After and Retry-After-Ms headers (cfapi_retry_after_ms), the
 * envelope (cfapi_envelope_decode), the lookup of a connector by domain in
 * a list (cfapi_find_by_domain) and the pager's handling of a page
 * (cfapi_pager_take, cfapi_pager_url), all without a network.
 *
 * Input: "<Retry-After>\n<Retry-After-Ms>\n<body>"; the first line is also
 * the domain looked up. A missing line is a missing header. The body is
 * taken as the same page three times over, as a server that ignores ?page=
 * would send it, so the pager's stale-page and cap paths are reached.
 */
#include "cfapi.h"
#include "cfapi_internal.h"
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The next line of [*p, end) as a new string, or NULL at the end. */
static char *take_line(const char **p, const char *end) {
    if (*p >= end)
        return NULL;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    char *s = strndup(*p, n);
    *p += n + (nl ? 1 : 0);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = (const char *)data, *end = p + size;
    char *retry_after = take_line(&p, end);
    char *retry_after_ms = take_line(&p, end);

    uint64_t delay = 0;
    /* A fixed "now" (2026-01-01) keeps runs reproducible. */
    if (cfapi_retry_after_ms(retry_after, retry_after_ms, 1767225600, &delay) == 0 &&
        delay > CFAPI_MAX_RETRY_AFTER_MS)
        abort(); /* a longer Retry-After is clamped */

    cfapi_envelope env;
    if (cfapi_envelope_decode(p, (size_t)(end - p), &env) == 0) {
        if (!env.root || (env.errors && !json_is_array(env.errors)))
            abort();
        if (retry_after) {
            json_t *found = cfapi_find_by_domain(env.result, retry_after);
            if (found &&
                !cfapi_domain_equal(json_string_value(json_object_get(found, "email_domain")),
                                    retry_after))
                abort();
        }
        if (json_is_array(env.result)) {
            cfapi_pager pager = {0}; /* start() clears what it restarts */
            if (cfapi_pager_start(&pager, true, 50, 1 << 20) == 0) {
                for (int i = 0; i < 3; i++) {
                    cfapi_page_verdict v =
                        cfapi_pager_take(&pager, env.result, env.root, (size_t)(end - p));
                    if (pager.count > 50 + json_array_size(env.result))
                        abort();
                    char *url = cfapi_pager_url(&pager, "https://api.example/sso_connectors");
                    free(url);
                    if (v != CFAPI_PAGE_MORE)
                        break;
                }
                cfapi_pager_clear(&pager);
            }
        }
        cfapi_envelope_clear(&env);
    }
    free(retry_after);
    free(retry_after_ms);
    return 0;
}
