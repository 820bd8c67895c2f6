/*
 * cfapi_internal.h - the pure helpers behind cfapi.c, exposed for unit
 * tests (tests/cfapi/). Nothing here does I/O or touches the loop; the
 * one accessor at the end only reads the client's state.
 */
#ifndef CFAPI_INTERNAL_H
#define CFAPI_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Upper bounds on waiting between attempts. */
#define CFAPI_MAX_BACKOFF_MS     30000u  /* exponential backoff cap */
#define CFAPI_MAX_RETRY_AFTER_MS 300000u /* a longer Retry-After is clamped */
/* The least total time one call may spend waiting between its attempts
 * (Retry-After and backoff together); see cfapi_wait_budget_ms(). */
#define CFAPI_MIN_WAIT_BUDGET_MS 60000u
/* Length of the response excerpt quoted in a failure message. */
#define CFAPI_EXCERPT_MAX 200

/* Builds "{base}/accounts/{account_id}/sso_connectors[/{connector_id}
 * [/begin_verification]]" into a new malloc'd string (*out, caller frees).
 * `connector_id` may be NULL (the collection); `begin_verification` needs a
 * connector id. Returns 0, UV_EINVAL for an id that is not 32 hex
 * characters (or begin_verification without an id), or UV_ENOMEM. */
int cfapi_build_url(const char *base, const char *account_id, const char *connector_id,
                    bool begin_verification, char **out);
/* The same URL written into `buf` (`size` bytes, may be 0), like
 * snprintf: returns its length without the NUL whatever `size` is. The
 * ids must already be valid (cfapi_id_is_valid). */
size_t cfapi_format_url(char *buf, size_t size, const char *base, const char *account_id,
                        const char *connector_id, bool begin_verification);

/* A decoded Cloudflare envelope {"success", "errors", "messages", "result"}.
 * `root` is a new reference owned by the envelope (release it with
 * cfapi_envelope_clear()); `result` and `errors` are borrowed from it and
 * NULL when absent or null. */
typedef struct cfapi_envelope {
    json_t *root;
    bool success;
    json_t *result;
    json_t *errors; /* an array when present */
} cfapi_envelope;

/* Decodes `body` as an envelope: a JSON object with a boolean "success"
 * and, when present, an array "errors". Returns 0, or UV_EINVAL (and a
 * cleared envelope) for anything else. */
int cfapi_envelope_decode(const char *body, size_t len, cfapi_envelope *env);
void cfapi_envelope_clear(cfapi_envelope *env);

/* Delay asked for by the server. `retry_after_ms` (Retry-After-Ms: a
 * non-negative number of milliseconds) wins over `retry_after`
 * (Retry-After: delta-seconds or an HTTP-date, RFC 9110 section 10.2.3,
 * against `now`). Either may be NULL. Numbers are 1*DIGIT with an
 * optional decimal fraction ("1.5"; no sign, exponent or hex); dates are
 * IMF-fixdate, or the obsolete RFC 850 and asctime forms RFC 9110 tells
 * recipients to accept, and nothing else (not curl_getdate()'s many
 * forms). A date in the past gives 0. The result is clamped to
 * CFAPI_MAX_RETRY_AFTER_MS. Returns 0 and sets *delay_ms, or UV_EINVAL
 * when neither header gives a usable delay. */
int cfapi_retry_after_ms(const char *retry_after, const char *retry_after_ms, time_t now,
                         uint64_t *delay_ms);

/* The total time one call may spend waiting between attempts, for a
 * client whose request_timeout is `timeout_ms`: the larger of the two, so
 * 60 s by default (request_timeout 30 s) and longer only when the user has
 * said a single request may take longer. A retry whose wait would pass
 * the budget is not made: the call ends with the failure it has. */
uint64_t cfapi_wait_budget_ms(long timeout_ms);

#define CFAPI_DEFAULT_BACKOFF_BASE_MS 500u

/* Exponential backoff with jitter for the retry after `retries_done`
 * earlier retries: base_ms * 2^retries_done, capped at
 * CFAPI_MAX_BACKOFF_MS, then scaled into [50%, 100%] by `rnd` (any 32-bit
 * random value). base_ms 0 means 500. */
uint64_t cfapi_backoff_ms(unsigned base_ms, unsigned retries_done, uint32_t rnd);

/* Appends one line per entry of a Cloudflare errors[] array ("Cloudflare
 * error 10000: Authentication error") to the malloc'd string *text
 * (which may be NULL), at most 10 entries, each message cut to 300
 * bytes. `errors` is borrowed. Returns 0 or UV_ENOMEM. */
int cfapi_append_errors(char **text, json_t *errors);

/* The pager: reads a paged list (cfapi_list, the create lookup) one page
 * at a time and decides whether another page follows. It remembers the
 * id of every connector seen, so a page that brings nothing new (a
 * server that ignores ?page=, or repeats itself) ends the list, and it
 * counts connectors and answer bytes against caps, so a lying
 * result_info.total_count cannot make it read without end. */
#define CFAPI_LIST_MAX_ITEMS 10000u
#define CFAPI_LIST_MAX_BYTES ((size_t)64 * 1024 * 1024)

typedef struct cfapi_pager {
    json_t *items; /* collecting pagers: every distinct connector so far (owned) */
    json_t *seen;  /* object used as a set of the ids (or texts) seen (owned) */
    unsigned page; /* the page to read next, from 1 */
    size_t count;  /* distinct connectors seen */
    size_t bytes;  /* answer bytes read */
    size_t max_items, max_bytes;
    json_int_t total;  /* total_count on this pass's first page; -1 before it */
    unsigned restarts; /* passes begun again because total_count changed */
} cfapi_pager;

/* Cloudflare pages by offset, so a connector deleted (or created) between
 * two pages shifts the rest, and one can slip from the page not yet read to
 * the page already read: the list misses it. A total_count that differs
 * from the first page's says the list changed during the read; the pager
 * then reads it again from page 1 (CFAPI_PAGE_MORE with page 1, everything
 * seen forgotten), at most this many times, after which it goes on as if
 * nothing had changed. Bytes are counted over every pass. */
#define CFAPI_PAGER_MAX_RESTARTS 2u

typedef enum cfapi_page_verdict {
    CFAPI_PAGE_MORE,       /* read page `page` next */
    CFAPI_PAGE_LAST,       /* the list is complete */
    CFAPI_PAGE_STALE,      /* the page brought nothing new although more were announced */
    CFAPI_PAGE_OVER_ITEMS, /* past max_items */
    CFAPI_PAGE_OVER_BYTES, /* past max_bytes */
} cfapi_page_verdict;

/* Starts (or restarts, from page 1) a pager. `collect`: keep the items
 * (cfapi_list); a lookup only needs the ids. Returns 0 or UV_ENOMEM. */
int cfapi_pager_start(cfapi_pager *p, bool collect, size_t max_items, size_t max_bytes);
void cfapi_pager_clear(cfapi_pager *p);
/* Takes one page: its result array `items` (borrowed), the envelope's
 * root (for result_info, borrowed) and the answer's size in bytes.
 * Returns what comes next; on CFAPI_PAGE_MORE, p->page is the next page. */
cfapi_page_verdict cfapi_pager_take(cfapi_pager *p, const json_t *items, const json_t *root,
                                    size_t body_len);
/* "{list_url}" for page 1, "{list_url}?page=N" after: a new string. */
char *cfapi_pager_url(const cfapi_pager *p, const char *list_url);

/* Appends printf-style text to a malloc'd string (*s NULL counts as "").
 * Returns 0, or -1 (and *s unchanged) when out of memory. */
int cfapi_strappf(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Introspection for tests: the loop time (uv_now, ms) before which the
 * client starts no request because of a 429, or 0 when it never paused. */
struct cfapi_client;
uint64_t cfapi_client_paused_until(const struct cfapi_client *c);

#endif /* CFAPI_INTERNAL_H */
