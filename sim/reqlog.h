/*
 * reqlog.h - the log of API requests, for tests to read back.
 *
 * Entries are JSON objects {"method","path","query","headers","body",
 * "body_json","in_flight"} kept in arrival order in a ring of at most `cap` entries (the
 * oldest go first). Secrets are masked when an entry is made, so the log never
 * holds a token.
 */
#ifndef SIM_REQLOG_H
#define SIM_REQLOG_H

#include <jansson.h>
#include <stddef.h>

#define REQLOG_DEFAULT_CAP 10000

typedef struct reqlog reqlog;

int reqlog_new(reqlog **out, size_t cap);
void reqlog_free(reqlog *l);

/* Builds an entry. `headers` is a JSON object of lowercased name -> value
 * (stolen; its secrets are masked here). `body` may be NULL. Returns a new
 * reference or NULL. */
json_t *reqlog_entry(const char *method, const char *path, const char *query, json_t *headers,
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
void reqlog_add(reqlog *l, json_t *entry);

/* The request of one reqlog_add is over (answered, dropped or failed). */
void reqlog_done(reqlog *l);

/* {"requests":[...]} as compact JSON text (malloc'd), or NULL. */
char *reqlog_dump(reqlog *l);

void reqlog_clear(reqlog *l);

#endif /* SIM_REQLOG_H */
