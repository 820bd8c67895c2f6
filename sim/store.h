/*
 * store.h - the connector store: every SSO connector of every account,
 * shared by MHD's worker threads, optionally persisted to a JSON file.
 *
 * Every function takes the store's lock itself and works on copies, so a
 * caller never holds a pointer into the store. Check-and-change operations
 * (duplicate domain on create, "enable needs verified" on update) happen
 * under one lock so two concurrent requests cannot both pass the check.
 *
 * With a state file, each change rewrites the file atomically (a temporary
 * file in the same folder, fsync, rename) before the lock is released, so the
 * file always holds a state the API has answered with.
 */
#ifndef SIM_STORE_H
#define SIM_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define STORE_MAX_CONNECTORS 100000

typedef enum store_status {
    STORE_AWAITING = 0,
    STORE_PENDING,
    STORE_FAILED,
    STORE_VERIFIED,
} store_status;

typedef struct store_connector {
    char id[33];
    char account_id[33];
    char email_domain[254];
    bool enabled;
    bool use_fedramp_language;
    store_status status;
    char created_on[32];
    char updated_on[32];
} store_connector;

/* A partial change; a field applies when its has_ flag is set. */
typedef struct store_change {
    bool has_enabled, enabled;
    bool has_fedramp, use_fedramp_language;
    bool has_status;
    store_status status;
    const char *email_domain; /* NULL: unchanged */
} store_change;

typedef struct store store;

/* Error codes (negative, libuv style). */
#define STORE_ENOTFOUND   (-2)
#define STORE_EEXIST      (-17)
#define STORE_EUNVERIFIED (-13) /* enabling a connector that is not verified */
#define STORE_EFULL       (-28)
#define STORE_ENOMEM      (-12)
#define STORE_EIO         (-5)

/* Opens a store. With `state_path` (may be NULL), loads that file when it
 * exists. Returns 0, or a negative code and a message in err. */
int store_open(store **out, const char *state_path, char *err, size_t errlen);
/* Writes the state file one last time (if any) and frees everything. */
void store_close(store *s);

/* Creates a connector from `tmpl` (account_id, email_domain, enabled,
 * use_fedramp_language and status are used; id and timestamps are made
 * here). Fails with STORE_EEXIST when the account already has a connector
 * for that domain (case-insensitive). On success copies the new connector
 * into *out. */
int store_create(store *s, const store_connector *tmpl, store_connector *out);

/* Copies the connector `id` into *out. `account_id` NULL matches any
 * account. */
int store_get(store *s, const char *account_id, const char *id, store_connector *out);

/* Applies `u` to connector `id` (account NULL = any) and bumps updated_on.
 * When `require_verified` is set, turning `enabled` from false to true on a
 * connector whose status (after the update) is not verified fails with
 * STORE_EUNVERIFIED, changes nothing, and copies the unchanged connector
 * into *out so the caller can name its status. */
int store_update(store *s, const char *account_id, const char *id, const store_change *u,
                 bool require_verified, store_connector *out);

/* Deletes connector `id` of `account_id`. */
int store_delete(store *s, const char *account_id, const char *id);

/* Copies the connectors of `account_id` (NULL: all accounts) in creation
 * order into a new malloc'd array (*out, free() it; NULL when *n is 0). */
int store_list(store *s, const char *account_id, store_connector **out, size_t *n);

/* Removes every connector. */
int store_reset(store *s);

/* The API form of a connector (new reference); with `with_account` an extra
 * "account_id" member is added. */
json_t *store_connector_json(const store_connector *c, bool with_account);

/* "awaiting", "pending", ...; store_status_parse returns 0 or -1. */
const char *store_status_name(store_status st);
int store_status_parse(const char *name, store_status *out);

/* Writes the current UTC time as "2025-01-01T12:21:02.0000Z" (buf >= 32). */
void store_timestamp_now(char *buf, size_t len);

#endif /* SIM_STORE_H */
