/*
 * reqlog.h - the log of API requests, for tests to read back.
 *
 * Entries are JSON objects {"method","path","query","headers","body",
 * "body_json","in_flight"} kept in arrival order in a ring of at most `cap`
 * entries and at most `max_bytes` bytes (the oldest go first, whichever cap
 * is reached). A body may be 1 MiB, held twice (as text and parsed), so the
 * count alone would let 10,000 entries grow to gigabytes.
 *
 * An entry's size is an estimate of the memory it holds: the lengths of its
 * method, path, query, header names and values and body, the body once more
 * when it parsed as JSON, plus REQLOG_ENTRY_OVERHEAD. The newest entry is
 * always kept, even if it alone is over max_bytes (the command line's
 * smallest cap is above the largest entry a request can make).
 *
 * Secrets are masked when an entry is made, so the log never holds a token.
 */
#ifndef SIM_REQLOG_H
#define SIM_REQLOG_H

#include <jansson.h>
#include <stddef.h>

#define REQLOG_DEFAULT_CAP       10000
#define REQLOG_DEFAULT_MAX_BYTES ((size_t)64 * 1024 * 1024)
/* Counted per entry on top of its text: the JSON nodes and the ring slot. */
#define REQLOG_ENTRY_OVERHEAD 512

typedef struct reqlog reqlog;

/* A log of at most `cap` entries (> 0) and `max_bytes` bytes (> 0). */
int reqlog_new(reqlog **out, size_t cap, size_t max_bytes);
void reqlog_free(reqlog *l);

/* Builds an entry. `headers` is a JSON object of lowercased name -> value
 * (stolen; its secrets are masked here). `body` may be NULL. Returns a new
 * reference or NULL. */
json_t *reqlog_entry_new(const char *method, const char *path, const char *query, json_t *headers,
                         const char *body, size_t body_len);

/* The value to log for header `lname` (lowercase): masked for
 * authorization and x-auth-key, else `value` itself. Writes into buf. */
const char *reqlog_mask(const char *lname, const char *value, char *buf, size_t len);

/* A JSON string of client bytes: as-is when valid UTF-8, else with bytes
 * outside printable ASCII replaced by '?'. New reference or NULL. */
json_t *reqlog_string(const char *s, size_t len);

/* Appends an entry (stolen; NULL is allowed) for a request that has just
 * arrived: the request counts as in flight until reqlog_done, and the entry
 * gets "in_flight", the number of requests in flight with it included. */
void reqlog_add_new(reqlog *l, json_t *entry);

/* The request of one reqlog_add_new is over (answered, dropped or failed). */
void reqlog_done(reqlog *l);

/* {"requests":[...],"bytes":N,"max_bytes":M,"dropped":D} as compact JSON
 * text (malloc'd), or NULL. bytes: the entries' sizes summed; dropped:
 * entries pushed out by either cap since the last clear. */
char *reqlog_dump(reqlog *l);

/* The number of entries, their size in bytes (as above) and how many were
 * dropped, read under the lock. */
void reqlog_stats(reqlog *l, size_t *entries, size_t *bytes, size_t *dropped);

void reqlog_clear(reqlog *l);

#endif /* SIM_REQLOG_H */
