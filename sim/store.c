/*
 * store.c - the connector store and its state file.
 */
#include "store.h"

#include "validate.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct store {
    pthread_mutex_t lock;
    store_connector *items; /* creation order */
    size_t n, cap;
    char *state_path; /* NULL: memory only */
};

static const char *const status_names[] = {"awaiting", "pending", "failed", "verified"};

const char *store_status_name(store_status st) {
    if ((unsigned)st < sizeof(status_names) / sizeof(status_names[0]))
        return status_names[st];
    return "awaiting";
}

int store_status_parse(const char *name, store_status *out) {
    for (size_t i = 0; name && i < sizeof(status_names) / sizeof(status_names[0]); i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *out = (store_status)i;
            return 0;
        }
    }
    return -1;
}

void store_timestamp_now(char *buf, size_t len) {
    struct timespec ts;
    struct tm tm;
    char date[24];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%04ldZ", date, ts.tv_nsec / 100000);
}

json_t *store_connector_json(const store_connector *c, bool with_account) {
    char code[64];
    snprintf(code, sizeof(code), "cloudflare_dashboard_sso=%s", c->id);
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:b, s:s, s:b, s:{s:s, s:s}}", "id", c->id, "created_on",
                  c->created_on, "email_domain", c->email_domain, "enabled", c->enabled,
                  "updated_on", c->updated_on, "use_fedramp_language", c->use_fedramp_language,
                  "verification", "code", code, "status", store_status_name(c->status));
    if (o && with_account)
        json_object_set_new(o, "account_id", json_string(c->account_id));
    return o;
}

/* Fills out[0..32] with 32 random lowercase hex digits and a NUL. */
static int random_id(char out[33]) {
    unsigned char raw[16];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t r = getrandom(raw + got, sizeof(raw) - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)r;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* Index of connector `id` (in `account_id` unless NULL), or -1. Lock held. */
static long find(const store *s, const char *account_id, const char *id) {
    for (size_t i = 0; i < s->n; i++) {
        if (strcasecmp(s->items[i].id, id) == 0 &&
            (!account_id || strcasecmp(s->items[i].account_id, account_id) == 0))
            return (long)i;
    }
    return -1;
}

/* Index of the connector of `account_id` for `domain` (case-insensitive),
 * skipping index `skip`, or -1. Lock held. */
static long find_domain(const store *s, const char *account_id, const char *domain, long skip) {
    for (size_t i = 0; i < s->n; i++) {
        if ((long)i != skip && strcasecmp(s->items[i].account_id, account_id) == 0 &&
            strcasecmp(s->items[i].email_domain, domain) == 0)
            return (long)i;
    }
    return -1;
}

/*
 * Writes the whole store to the state file: a temporary file next to it,
 * fsync, then rename over the old one, so a reader (or a crash) only ever
 * sees a complete file. Lock held. Returns 0 or STORE_EIO (and says why on
 * stderr: the API answer does not depend on it).
 */
static int save_locked(store *s) {
    if (!s->state_path)
        return 0;
    json_t *list = json_array();
    for (size_t i = 0; list && i < s->n; i++)
        json_array_append_new(list, store_connector_json(&s->items[i], true));
    json_t *doc = json_pack("{s:i, s:o}", "version", 1, "connectors", list);
    char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (!text) {
        fprintf(stderr, "cf-api-sim: cannot serialise the state\n");
        return STORE_ENOMEM;
    }
    size_t plen = strlen(s->state_path) + 32;
    char *tmp = malloc(plen);
    int rc = STORE_EIO;
    if (!tmp)
        goto out;
    snprintf(tmp, plen, "%s.tmp.%ld", s->state_path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    bool ok = off == len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, s->state_path) == 0)
        rc = 0;
    else
        unlink(tmp);
out:
    if (rc != 0)
        fprintf(stderr, "cf-api-sim: cannot write state file %s: %s\n", s->state_path,
                strerror(errno));
    free(tmp);
    free(text);
    return rc;
}

/* Reads a string member into dst (size cap); -1 when missing, not a
 * string, or too long. */
static int get_str(json_t *o, const char *name, char *dst, size_t cap) {
    const char *v = json_string_value(json_object_get(o, name));
    if (!v || strlen(v) >= cap)
        return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

/* Parses one connector of the state file into *c. Returns 0 or -1. */
static int load_one(json_t *o, store_connector *c) {
    memset(c, 0, sizeof(*c));
    json_t *ver = json_object_get(o, "verification");
    json_t *en = json_object_get(o, "enabled");
    json_t *fr = json_object_get(o, "use_fedramp_language");
    if (get_str(o, "id", c->id, sizeof(c->id)) < 0 || !validate_is_hex32(c->id) ||
        get_str(o, "account_id", c->account_id, sizeof(c->account_id)) < 0 ||
        !validate_is_hex32(c->account_id) ||
        get_str(o, "email_domain", c->email_domain, sizeof(c->email_domain)) < 0 ||
        !validate_is_domain(c->email_domain) ||
        get_str(o, "created_on", c->created_on, sizeof(c->created_on)) < 0 ||
        get_str(o, "updated_on", c->updated_on, sizeof(c->updated_on)) < 0 ||
        !json_is_boolean(en) || !json_is_boolean(fr) || !json_is_object(ver) ||
        store_status_parse(json_string_value(json_object_get(ver, "status")), &c->status) < 0)
        return -1;
    c->enabled = json_is_true(en);
    c->use_fedramp_language = json_is_true(fr);
    return 0;
}

/* Loads the state file if it exists. Returns 0 or -1 with err set. */
static int load(store *s, char *err, size_t errlen) {
    if (access(s->state_path, F_OK) != 0)
        return 0; /* first run: start empty */
    json_error_t jerr;
    json_t *doc = json_load_file(s->state_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(err, errlen, "cannot read state file %s: %s (line %d)", s->state_path, jerr.text,
                 jerr.line);
        return -1;
    }
    json_t *list = json_object_get(doc, "connectors");
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n > STORE_MAX_CONNECTORS) {
        snprintf(err, errlen, "state file %s: \"connectors\" must be an array of at most %d",
                 s->state_path, STORE_MAX_CONNECTORS);
        json_decref(doc);
        return -1;
    }
    s->items = n ? calloc(n, sizeof(*s->items)) : NULL;
    s->cap = n;
    if (n && !s->items) {
        snprintf(err, errlen, "out of memory");
        json_decref(doc);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        store_connector c;
        if (load_one(json_array_get(list, i), &c) < 0 || find(s, NULL, c.id) >= 0 ||
            find_domain(s, c.account_id, c.email_domain, -1) >= 0) {
            snprintf(err, errlen, "state file %s: connector #%zu is malformed or a duplicate",
                     s->state_path, i);
            json_decref(doc);
            return -1;
        }
        s->items[s->n++] = c;
    }
    json_decref(doc);
    return 0;
}

int store_open(store **out, const char *state_path, char *err, size_t errlen) {
    *out = NULL;
    store *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return STORE_ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    if (state_path) {
        s->state_path = strdup(state_path);
        if (!s->state_path || load(s, err, errlen) < 0) {
            /* Never overwrite a file we could not read. */
            free(s->state_path);
            s->state_path = NULL;
            store_close(s);
            return STORE_EIO;
        }
    }
    if (save_locked(s) < 0) { /* fail early on an unwritable path */
        snprintf(err, errlen, "cannot write state file %s", state_path);
        free(s->state_path);
        s->state_path = NULL;
        store_close(s);
        return STORE_EIO;
    }
    *out = s;
    return 0;
}

void store_close(store *s) {
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    save_locked(s);
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_destroy(&s->lock);
    free(s->items);
    free(s->state_path);
    free(s);
}

int store_create(store *s, const store_connector *tmpl, store_connector *out) {
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    if (find_domain(s, tmpl->account_id, tmpl->email_domain, -1) >= 0) {
        rc = STORE_EEXIST;
        goto out;
    }
    if (s->n >= STORE_MAX_CONNECTORS) {
        rc = STORE_EFULL;
        goto out;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        store_connector *grown = realloc(s->items, cap * sizeof(*grown));
        if (!grown) {
            rc = STORE_ENOMEM;
            goto out;
        }
        s->items = grown;
        s->cap = cap;
    }
    store_connector c = *tmpl;
    do {
        if (random_id(c.id) < 0) {
            rc = STORE_EIO;
            goto out;
        }
    } while (find(s, NULL, c.id) >= 0);
    store_timestamp_now(c.created_on, sizeof(c.created_on));
    memcpy(c.updated_on, c.created_on, sizeof(c.updated_on));
    s->items[s->n++] = c;
    *out = c;
    save_locked(s);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_get(store *s, const char *account_id, const char *id, store_connector *out) {
    pthread_mutex_lock(&s->lock);
    long i = find(s, account_id, id);
    if (i >= 0)
        *out = s->items[i];
    pthread_mutex_unlock(&s->lock);
    return i >= 0 ? 0 : STORE_ENOTFOUND;
}

int store_update(store *s, const char *account_id, const char *id, const store_change *u,
                 bool require_verified, store_connector *out) {
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    long i = find(s, account_id, id);
    if (i < 0) {
        rc = STORE_ENOTFOUND;
        goto out;
    }
    store_connector c = s->items[i];
    if (u->email_domain) {
        if (find_domain(s, c.account_id, u->email_domain, i) >= 0) {
            rc = STORE_EEXIST;
            goto out;
        }
        snprintf(c.email_domain, sizeof(c.email_domain), "%s", u->email_domain);
    }
    if (u->has_status)
        c.status = u->status;
    if (u->has_fedramp)
        c.use_fedramp_language = u->use_fedramp_language;
    if (u->has_enabled) {
        if (require_verified && u->enabled && !c.enabled && c.status != STORE_VERIFIED) {
            *out = s->items[i]; /* unchanged, so the caller can say why */
            rc = STORE_EUNVERIFIED;
            goto out;
        }
        c.enabled = u->enabled;
    }
    store_timestamp_now(c.updated_on, sizeof(c.updated_on));
    s->items[i] = c;
    *out = c;
    save_locked(s);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_delete(store *s, const char *account_id, const char *id) {
    pthread_mutex_lock(&s->lock);
    long i = find(s, account_id, id);
    if (i >= 0) {
        memmove(&s->items[i], &s->items[i + 1], (s->n - (size_t)i - 1) * sizeof(*s->items));
        s->n--;
        save_locked(s);
    }
    pthread_mutex_unlock(&s->lock);
    return i >= 0 ? 0 : STORE_ENOTFOUND;
}

int store_list(store *s, const char *account_id, store_connector **out, size_t *n) {
    int rc = 0;
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->lock);
    size_t count = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!account_id || strcasecmp(s->items[i].account_id, account_id) == 0)
            count++;
    if (count) {
        *out = malloc(count * sizeof(**out));
        if (!*out) {
            rc = STORE_ENOMEM;
        } else {
            for (size_t i = 0; i < s->n; i++)
                if (!account_id || strcasecmp(s->items[i].account_id, account_id) == 0)
                    (*out)[(*n)++] = s->items[i];
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_reset(store *s) {
    pthread_mutex_lock(&s->lock);
    s->n = 0;
    save_locked(s);
    pthread_mutex_unlock(&s->lock);
    return 0;
}
