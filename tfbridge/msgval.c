/*
 * msgval.c - Terraform's msgpack values <-> the contract's JSON values.
 *
 * Decoding runs in three steps. scan() checks the raw bytes: exactly one
 * complete value, nesting bounded, no container claiming more elements than
 * there are bytes left. Then msgpack-c's msgpack_unpack_next() builds a
 * msgpack_object tree, and decode_value() walks that tree and the type
 * together, building jansson values. Encoding walks the JSON value and the
 * type together and writes through a msgpack_packer into a msgpack_sbuffer.
 *
 * Types are used in their JSON form throughout (no compiled representation):
 * they are small, and checking one up front (check_type) lets the walkers
 * trust its shape.
 */
#include "msgval.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

/* ------------------------------------------------------------------ */
/* Errors and paths                                                    */
/* ------------------------------------------------------------------ */

/* Longest path kept for messages; a longer one ends in "...". Well under
 * MSGVAL_ERR_MAX, so that the message after it has room. */
#define PATH_CAP 160
/* Longest name or key quoted in a message, in source bytes. */
#define QUOTE_MAX 40
/* Room for a quoted name: every byte may become \xNN, plus quotes and "...". */
#define QUOTE_BUF (4 * QUOTE_MAX + 8)

/* The state of one decode, encode or check: where we are in the value (for
 * messages), how deep, and where the message goes. */
typedef struct walk {
    char *err; /* MSGVAL_ERR_MAX bytes, or NULL */
    char path[PATH_CAP + 1];
    size_t path_len;
    bool path_full; /* something was cut from the path */
    int depth;      /* containers entered */
} walk;

/* A saved path position, to come back to after a step. */
typedef struct mark {
    size_t len;
    bool full;
} mark;

static void walk_init(walk *w, char *err) {
    w->err = err;
    w->path[0] = '\0';
    w->path_len = 0;
    w->path_full = false;
    w->depth = 0;
}

/*
 * Writes "at <path>: <message>" (or just the message when at the top) to the
 * walk's error buffer and returns `code`, so callers can `return fail(...)`.
 * Every message is ASCII: names and keys go through quote(), so the bridge
 * can put messages into JSON diagnostics without checking them.
 */
static int fail(walk *w, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(walk *w, int code, const char *fmt, ...) {
    if (w->err != NULL) {
        /* The path is at most PATH_CAP bytes, so the prefix always fits
         * and the message gets the rest (cut if it must be). */
        size_t o = 0;
        if (w->path_len > 0)
            o = (size_t)snprintf(w->err, MSGVAL_ERR_MAX, "at %s%s: ", w->path,
                                 w->path_full ? "..." : "");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->err + o, MSGVAL_ERR_MAX - o, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int fail_nomem(walk *w) {
    return fail(w, MSGVAL_ENOMEM, "out of memory");
}

/*
 * Writes s[0..n) double-quoted into dst (QUOTE_BUF bytes), keeping only
 * printable ASCII as is: quotes, backslashes, control bytes and every byte
 * of a non-ASCII character become \xNN (or \" and \\). Keys come from
 * hostile input, and messages must stay printable and valid UTF-8 even when
 * cut. More than QUOTE_MAX source bytes end in "...". Returns the length.
 */
static size_t quote(char *dst, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    dst[o++] = '"';
    for (size_t i = 0; i < n && i < QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o++] = '"';
    if (n > QUOTE_MAX) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return o;
}

static mark path_mark(const walk *w) {
    mark m = {w->path_len, w->path_full};
    return m;
}

static void path_reset(walk *w, mark m) {
    w->path_len = m.len;
    w->path_full = m.full;
    w->path[m.len] = '\0';
}

/* Appends raw text to the path; what does not fit is cut (and marked). */
static void path_add(walk *w, const char *s, size_t n) {
    if (w->path_full)
        return;
    if (n > PATH_CAP - w->path_len) {
        n = PATH_CAP - w->path_len;
        w->path_full = true;
    }
    memcpy(w->path + w->path_len, s, n);
    w->path_len += n;
    w->path[w->path_len] = '\0';
}

static bool is_identifier(const char *s, size_t n) {
    if (n == 0 || n > QUOTE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i > 0 && ((c >= '0' && c <= '9') || c == '-'));
        if (!ok)
            return false;
    }
    return true;
}

static void path_key(walk *w, const char *key, size_t n) {
    char q[QUOTE_BUF];
    size_t qn = quote(q, key, n);
    path_add(w, "[", 1);
    path_add(w, q, qn);
    path_add(w, "]", 1);
}

/* An attribute step: ".name", or ["name"] when the name is not a plain
 * identifier. */
static void path_attr(walk *w, const char *name, size_t n) {
    if (is_identifier(name, n)) {
        path_add(w, ".", 1);
        path_add(w, name, n);
    } else {
        path_key(w, name, n);
    }
}

static void path_index(walk *w, size_t i) {
    char b[32];
    int n = snprintf(b, sizeof b, "[%zu]", i);
    path_add(w, b, (size_t)n);
}

/* ------------------------------------------------------------------ */
/* Types                                                               */
/* ------------------------------------------------------------------ */

typedef enum kind {
    K_BAD,
    K_STRING,
    K_NUMBER,
    K_BOOL,
    K_DYNAMIC,
    K_LIST,
    K_SET,
    K_MAP,
    K_TUPLE,
    K_OBJECT,
} kind;

/* True when `s` is a JSON string equal to `lit` (NUL bytes in `s` count). */
static bool str_is(const json_t *s, const char *lit) {
    size_t n = strlen(lit);
    return json_is_string(s) && json_string_length(s) == n &&
           memcmp(json_string_value(s), lit, n) == 0;
}

/*
 * Classifies a type expression by its head only. *arg (borrowed) is the
 * element type of a list, set or map, the element array of a tuple, the
 * attribute object of an object; NULL otherwise. Only check_type() looks at
 * arities and argument shapes; the walkers call this on checked types.
 */
static kind type_kind(const json_t *t, const json_t **arg) {
    static const struct {
        const char *name;
        kind k;
    } primitive[] = {{"string", K_STRING},
                     {"number", K_NUMBER},
                     {"bool", K_BOOL},
                     {"dynamic", K_DYNAMIC}},
      complex[] = {{"list", K_LIST},
                   {"set", K_SET},
                   {"map", K_MAP},
                   {"tuple", K_TUPLE},
                   {"object", K_OBJECT}};
    *arg = NULL;
    if (json_is_string(t)) {
        for (size_t i = 0; i < sizeof primitive / sizeof primitive[0]; i++)
            if (str_is(t, primitive[i].name))
                return primitive[i].k;
        return K_BAD;
    }
    if (!json_is_array(t) || json_array_size(t) < 2)
        return K_BAD;
    const json_t *head = json_array_get(t, 0);
    for (size_t i = 0; i < sizeof complex / sizeof complex[0]; i++) {
        if (str_is(head, complex[i].name)) {
            *arg = json_array_get(t, 1);
            return complex[i].k;
        }
    }
    return K_BAD;
}

static const char *kind_noun(kind k) {
    switch (k) {
    case K_STRING:
        return "a string";
    case K_NUMBER:
        return "a number";
    case K_BOOL:
        return "a bool";
    case K_DYNAMIC:
        return "a dynamic value";
    case K_LIST:
        return "a list";
    case K_SET:
        return "a set";
    case K_MAP:
        return "a map";
    case K_TUPLE:
        return "a tuple";
    case K_OBJECT:
        return "an object";
    default:
        return "a value";
    }
}

/*
 * Checks a type expression recursively: a known primitive name, or a
 * constructor with the right arity and argument shape. `depth` counts the
 * constructors around `t`. Fails with `code` (MSGVAL_ETYPE for a caller's
 * type, MSGVAL_EVALUE for one embedded in a dynamic value), naming the
 * place inside the type: .attr for object attributes, [i] for tuple
 * elements, [*] for the element of a list, set or map.
 */
static int check_type(const json_t *t, walk *w, int depth, int code) {
    const json_t *arg;
    kind k = type_kind(t, &arg);
    if (k == K_BAD)
        return fail(w, code,
                    "invalid type: expected \"string\", \"number\", \"bool\", \"dynamic\" or "
                    "[\"list\"|\"set\"|\"map\"|\"tuple\"|\"object\", ...]");
    if (arg == NULL)
        return 0;
    if (depth >= MSGVAL_MAX_DEPTH)
        return fail(w, code, "invalid type: nested deeper than %d", MSGVAL_MAX_DEPTH);
    size_t n = json_array_size(t);
    mark m = path_mark(w);
    int rc = 0;
    switch (k) {
    case K_LIST:
    case K_SET:
    case K_MAP:
        if (n != 2)
            return fail(w, code, "invalid type: %s type takes exactly one element type",
                        kind_noun(k));
        path_add(w, "[*]", 3);
        rc = check_type(arg, w, depth + 1, code);
        break;
    case K_TUPLE:
        if (n != 2 || !json_is_array(arg))
            return fail(w, code, "invalid type: a tuple type is [\"tuple\", [T, ...]]");
        for (size_t i = 0; rc == 0 && i < json_array_size(arg); i++) {
            path_index(w, i);
            rc = check_type(json_array_get(arg, i), w, depth + 1, code);
            path_reset(w, m);
        }
        break;
    case K_OBJECT: {
        /* cty writes ["object", {...}, ["optional", ...]] for a type
         * constraint with optional attributes; on the wire they are
         * ordinary attributes. */
        const json_t *opt = json_array_get(t, 2);
        if (n > 3 || !json_is_object(arg) || (opt != NULL && !json_is_array(opt)))
            return fail(w, code, "invalid type: an object type is [\"object\", {name: T, ...}]");
        const char *key;
        size_t klen;
        json_t *at;
        json_object_keylen_foreach((json_t *)arg, key, klen, at) {
            path_attr(w, key, klen);
            rc = check_type(at, w, depth + 1, code);
            if (rc != 0)
                break;
            path_reset(w, m);
        }
        break;
    }
    default:
        break;
    }
    if (rc == 0)
        path_reset(w, m);
    return rc;
}

int msgval_type_check(const json_t *type, char err[MSGVAL_ERR_MAX]) {
    walk w;
    walk_init(&w, err);
    return check_type(type, &w, 0, MSGVAL_ETYPE);
}

/* True when a checked type holds "dynamic" anywhere. */
static bool type_has_dynamic(const json_t *t) {
    const json_t *arg;
    switch (type_kind(t, &arg)) {
    case K_DYNAMIC:
        return true;
    case K_LIST:
    case K_SET:
    case K_MAP:
        return type_has_dynamic(arg);
    case K_TUPLE:
        for (size_t i = 0; i < json_array_size(arg); i++)
            if (type_has_dynamic(json_array_get(arg, i)))
                return true;
        return false;
    case K_OBJECT: {
        const char *key;
        json_t *at;
        json_object_foreach((json_t *)arg, key, at) {
            if (type_has_dynamic(at))
                return true;
        }
        return false;
    }
    default:
        return false;
    }
}

/* ------------------------------------------------------------------ */
/* Unknowns and UTF-8                                                  */
/* ------------------------------------------------------------------ */

/* True for exactly the contract's unknown: an object whose only member is
 * "$unknown": true. */
static bool is_unknown(const json_t *v) {
    return json_is_object(v) && json_object_size(v) == 1 &&
           json_is_true(json_object_get(v, "$unknown"));
}

static json_t *unknown_new(void) {
    json_t *u = json_object();
    if (u != NULL && json_object_set_new(u, "$unknown", json_true()) != 0) {
        json_decref(u);
        return NULL;
    }
    return u;
}

/*
 * Checks s[0..n) is UTF-8 as jansson accepts it (no overlong forms, no
 * surrogates, nothing past U+10FFFF; NUL allowed). Checked here so that a
 * bad string gets its own message instead of looking like "out of memory"
 * when json_stringn() refuses it.
 */
static bool utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t more;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i - 1 < more)
            return false;
        for (size_t k = 1; k <= more; k++) {
            unsigned cc = s[i + k];
            if ((cc & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if ((more == 2 && cp < 0x800) || (more == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += more + 1;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Decoding: the byte scan                                             */
/* ------------------------------------------------------------------ */

static uint64_t read_be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/*
 * Checks that p[0..len) is exactly one complete msgpack value with at most
 * MSGVAL_MAX_DEPTH containers nested, before msgpack-c sees it. Why not let
 * msgpack-c find out: its unpacker allocates a whole array or map as soon as
 * it reads the header, sized by the count the header declares, before it
 * notices the input is short: the five bytes `dd ff ff ff ff` ask malloc for
 * 4G msgpack_objects (96 GiB; fatal under ASan), and `dd 00 40 00 00` really
 * gets 100 MB (measured with msgpack-c 4.0). Here a container whose element count exceeds
 * the bytes left (every element takes at least one byte) is refused, so what
 * msgpack-c allocates afterwards is bounded by a small multiple of len. The
 * scan also gives truncation, trailing bytes and depth clear messages
 * (msgpack-c reports depth past its 32-entry stack as "out of memory").
 *
 * It walks iteratively: pending[d] is how many values the container open at
 * level d still holds (level 0: the one top-level value). Never reads
 * outside p[0..len).
 */
static int scan(const unsigned char *p, size_t len, walk *w) {
    uint64_t pending[MSGVAL_MAX_DEPTH + 1];
    int top = 0;
    size_t pos = 0;
    pending[0] = 1;
    while (top >= 0) {
        if (pending[top] == 0) {
            top--;
            continue;
        }
        pending[top]--;
        if (pos >= len)
            return fail(w, MSGVAL_EVALUE,
                        "truncated msgpack: the input ends inside a value "
                        "(%zu bytes)",
                        len);
        size_t at = pos;
        unsigned char b = p[pos];
        enum { BYTES, ARRAY, MAP } shape = BYTES;
        int nlen = 0;   /* big-endian length or count bytes after b */
        int ext = 0;    /* 1 for an ext: its type byte follows the length */
        uint64_t n = 0; /* payload bytes (BYTES) or element count */
        if (b <= 0x7f || b >= 0xe0) {
            n = 0; /* fixint */
        } else if (b <= 0x8f) {
            shape = MAP;
            n = b & 0x0f;
        } else if (b <= 0x9f) {
            shape = ARRAY;
            n = b & 0x0f;
        } else if (b <= 0xbf) {
            n = b & 0x1f; /* fixstr */
        } else {
            switch (b) {
            case 0xc0: /* nil */
            case 0xc2: /* false */
            case 0xc3: /* true */
                break;
            case 0xc4: /* bin8 */
            case 0xd9: /* str8 */
                nlen = 1;
                break;
            case 0xc5:
            case 0xda:
                nlen = 2;
                break;
            case 0xc6:
            case 0xdb:
                nlen = 4;
                break;
            case 0xc7: /* ext8 */
                nlen = 1;
                ext = 1;
                break;
            case 0xc8:
                nlen = 2;
                ext = 1;
                break;
            case 0xc9:
                nlen = 4;
                ext = 1;
                break;
            case 0xca: /* float32 */
                n = 4;
                break;
            case 0xcb: /* float64 */
                n = 8;
                break;
            case 0xcc: /* uint8 */
            case 0xd0: /* int8 */
                n = 1;
                break;
            case 0xcd:
            case 0xd1:
                n = 2;
                break;
            case 0xce:
            case 0xd2:
                n = 4;
                break;
            case 0xcf:
            case 0xd3:
                n = 8;
                break;
            case 0xd4: /* fixext 1, 2, 4, 8, 16 */
            case 0xd5:
            case 0xd6:
            case 0xd7:
            case 0xd8:
                ext = 1;
                n = 1u << (b - 0xd4);
                break;
            case 0xdc: /* array16 */
                shape = ARRAY;
                nlen = 2;
                break;
            case 0xdd:
                shape = ARRAY;
                nlen = 4;
                break;
            case 0xde: /* map16 */
                shape = MAP;
                nlen = 2;
                break;
            case 0xdf:
                shape = MAP;
                nlen = 4;
                break;
            default: /* 0xc1, never used */
                return fail(w, MSGVAL_EVALUE, "not msgpack: byte 0xc1 at offset %zu", at);
            }
        }
        size_t head = 1 + (size_t)nlen + (size_t)ext;
        if (len - pos < head)
            return fail(w, MSGVAL_EVALUE,
                        "truncated msgpack: the input ends inside a value (%zu bytes)", len);
        if (nlen > 0)
            n = read_be(p + pos + 1, nlen);
        pos += head;
        if (shape == BYTES) {
            if (n > len - pos)
                return fail(w, MSGVAL_EVALUE,
                            "truncated msgpack: the value at offset %zu needs %" PRIu64
                            " bytes, %zu remain",
                            at, n, len - pos);
            pos += (size_t)n;
            continue;
        }
        uint64_t items = shape == MAP ? 2 * n : n;
        if (top >= MSGVAL_MAX_DEPTH)
            return fail(w, MSGVAL_EVALUE, "msgpack nested deeper than %d (at offset %zu)",
                        MSGVAL_MAX_DEPTH, at);
        if (items > len - pos)
            return fail(w, MSGVAL_EVALUE,
                        "truncated msgpack: the %s at offset %zu holds %" PRIu64
                        " elements, only %zu bytes remain",
                        shape == MAP ? "map" : "array", at, n, len - pos);
        if (items > 0)
            pending[++top] = items;
    }
    if (pos != len)
        return fail(w, MSGVAL_EVALUE,
                    "trailing bytes after the msgpack value: it ends at offset %zu of %zu", pos,
                    len);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Decoding: msgpack_object -> JSON                                    */
/* ------------------------------------------------------------------ */

static const char *mp_noun(const msgpack_object *o) {
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return "nil";
    case MSGPACK_OBJECT_BOOLEAN:
        return "a bool";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return "an integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return "a float";
    case MSGPACK_OBJECT_STR:
        return "a string";
    case MSGPACK_OBJECT_BIN:
        return "binary data";
    case MSGPACK_OBJECT_ARRAY:
        return "an array";
    case MSGPACK_OBJECT_MAP:
        return "a map";
    case MSGPACK_OBJECT_EXT:
        return "an extension";
    default:
        return "an unknown msgpack type";
    }
}

static int expected(walk *w, kind k, const msgpack_object *o) {
    return fail(w, MSGVAL_EVALUE, "expected %s, got %s", kind_noun(k), mp_noun(o));
}

/* The bytes of a str or bin object (borrowed from the input). False for
 * anything else. A zero-length one may have a NULL pointer: "" then. */
static bool mp_bytes(const msgpack_object *o, const char **p, size_t *n) {
    if (o->type == MSGPACK_OBJECT_STR) {
        *p = o->via.str.ptr;
        *n = o->via.str.size;
    } else if (o->type == MSGPACK_OBJECT_BIN) {
        *p = o->via.bin.ptr;
        *n = o->via.bin.size;
    } else {
        return false;
    }
    if (*n == 0)
        *p = "";
    return true;
}

static int decode_value(const msgpack_object *o, const json_t *type, walk *w, json_t **out);

/* Stores a freshly built value in *out, or reports that building it ran out
 * of memory. */
static int give(walk *w, json_t *v, json_t **out) {
    if (v == NULL)
        return fail_nomem(w);
    *out = v;
    return 0;
}

static int decode_string(const msgpack_object *o, walk *w, json_t **out) {
    const char *p;
    size_t n;
    if (!mp_bytes(o, &p, &n))
        return expected(w, K_STRING, o);
    if (!utf8_valid((const unsigned char *)p, n))
        return fail(w, MSGVAL_EVALUE, "expected a string, got bytes that are not UTF-8");
    return give(w, json_stringn(p, n), out);
}

/*
 * Reads the decimal text Terraform sends for a number that neither int64
 * nor float64 holds exactly (go-cty writes big.Float text): an optional
 * sign, digits with an optional fraction, an optional exponent. A plain
 * integer that fits int64 becomes a JSON integer, anything else the nearest
 * double. Returns 0, MSGVAL_EVALUE (not such text, or out of a double's
 * range) or MSGVAL_ENOMEM.
 */
static int decode_decimal(const char *s, size_t n, walk *w, json_t **out) {
    size_t i = 0;
    bool digits = false, plain = true;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        digits = true;
    if (i < n && s[i] == '.') {
        plain = false;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            digits = true;
    }
    if (digits && i < n && (s[i] == 'e' || s[i] == 'E')) {
        bool exp_digits = false;
        plain = false;
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            exp_digits = true;
        digits = exp_digits;
    }
    if (!digits || i != n) {
        char q[QUOTE_BUF];
        quote(q, s, n);
        return fail(w, MSGVAL_EVALUE, "expected a number, got the string %s", q);
    }
    char *text = malloc(n + 1);
    if (text == NULL)
        return fail_nomem(w);
    memcpy(text, s, n);
    text[n] = '\0';
    char *end;
    json_t *v = NULL;
    if (plain) {
        errno = 0;
        long long ll = strtoll(text, &end, 10);
        if (errno == 0 && *end == '\0')
            v = json_integer(ll);
    }
    if (v == NULL) {
        errno = 0;
        double d = strtod(text, &end);
        if (*end != '\0' || !isfinite(d)) {
            char q[QUOTE_BUF];
            quote(q, s, n);
            free(text);
            return fail(w, MSGVAL_EVALUE, "the number %s is out of range", q);
        }
        v = json_real(d);
    }
    free(text);
    return give(w, v, out);
}

static int decode_number(const msgpack_object *o, walk *w, json_t **out) {
    const char *p;
    size_t n;
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 <= (uint64_t)INT64_MAX)
            return give(w, json_integer((json_int_t)o->via.u64), out);
        return give(w, json_real((double)o->via.u64), out);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return give(w, json_integer((json_int_t)o->via.i64), out);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            return fail(w, MSGVAL_EVALUE, "expected a number, got a float that is %s",
                        isnan(o->via.f64) ? "NaN" : "infinite");
        return give(w, json_real(o->via.f64), out);
    default:
        if (mp_bytes(o, &p, &n))
            return decode_decimal(p, n, w, out);
        return expected(w, K_NUMBER, o);
    }
}

/* A list, set or tuple (k says which; arg is the element type, or the
 * tuple's element types) from a msgpack array. */
static int decode_array(const msgpack_object *o, kind k, const json_t *arg, walk *w, json_t **out) {
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return expected(w, k, o);
    uint32_t n = o->via.array.size;
    if (k == K_TUPLE && n != json_array_size(arg))
        return fail(w, MSGVAL_EVALUE, "expected a tuple of %zu elements, got an array of %" PRIu32,
                    json_array_size(arg), n);
    json_t *arr = json_array();
    if (arr == NULL)
        return fail_nomem(w);
    mark m = path_mark(w);
    w->depth++;
    for (uint32_t i = 0; i < n; i++) {
        json_t *ev;
        path_index(w, i);
        int rc =
            decode_value(&o->via.array.ptr[i], k == K_TUPLE ? json_array_get(arg, i) : arg, w, &ev);
        if (rc == 0 && json_array_append_new(arr, ev) != 0)
            rc = fail_nomem(w);
        if (rc != 0) {
            json_decref(arr);
            return rc;
        }
        path_reset(w, m);
    }
    w->depth--;
    *out = arr;
    return 0;
}

/*
 * A map or an object from a msgpack map. For a map (attrs NULL) every value
 * has type `elem`; for an object every key must name one of `attrs`, and the
 * attributes the map lacks are added as null. Keys must be str (or bin)
 * holding UTF-8, and unique.
 */
static int decode_members(const msgpack_object *o, kind k, const json_t *elem, const json_t *attrs,
                          walk *w, json_t **out) {
    if (o->type != MSGPACK_OBJECT_MAP)
        return expected(w, k, o);
    json_t *obj = json_object();
    if (obj == NULL)
        return fail_nomem(w);
    mark m = path_mark(w);
    int rc = 0;
    w->depth++;
    for (uint32_t i = 0; rc == 0 && i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        const char *key;
        size_t klen;
        char q[QUOTE_BUF];
        if (!mp_bytes(&kv->key, &key, &klen)) {
            rc = fail(w, MSGVAL_EVALUE, "expected string keys in %s, got %s as a key", kind_noun(k),
                      mp_noun(&kv->key));
            break;
        }
        quote(q, key, klen);
        if (!utf8_valid((const unsigned char *)key, klen)) {
            rc = fail(w, MSGVAL_EVALUE, "the key %s is not UTF-8", q);
            break;
        }
        const json_t *vt = elem;
        if (attrs != NULL && (vt = json_object_getn(attrs, key, klen)) == NULL) {
            rc = fail(w, MSGVAL_EVALUE, "unsupported attribute %s", q);
            break;
        }
        if (json_object_getn(obj, key, klen) != NULL) {
            rc = fail(w, MSGVAL_EVALUE, "duplicate key %s", q);
            break;
        }
        json_t *ev;
        if (attrs != NULL)
            path_attr(w, key, klen);
        else
            path_key(w, key, klen);
        rc = decode_value(&kv->val, vt, w, &ev);
        if (rc == 0 && json_object_setn_new(obj, key, klen, ev) != 0)
            rc = fail_nomem(w);
        if (rc == 0)
            path_reset(w, m);
    }
    if (rc == 0 && attrs != NULL) {
        const char *name;
        size_t nlen;
        json_t *at;
        json_object_keylen_foreach((json_t *)attrs, name, nlen, at) {
            (void)at;
            if (json_object_getn(obj, name, nlen) == NULL &&
                json_object_setn_new(obj, name, nlen, json_null()) != 0) {
                rc = fail_nomem(w);
                break;
            }
        }
    }
    if (rc == 0 && is_unknown(obj))
        rc = fail(w, MSGVAL_EVALUE,
                  "%s holding only \"$unknown\": true cannot be told from an unknown in JSON",
                  kind_noun(k));
    if (rc != 0) {
        json_decref(obj);
        return rc;
    }
    w->depth--;
    *out = obj;
    return 0;
}

/*
 * A value of type "dynamic": nil (a null of no particular type), or
 * Terraform's 2-array [type JSON as str or bin, value], decoded by parsing
 * and checking the embedded type and decoding the value with it. (An ext,
 * an unknown, was handled by the caller.) A bad embedded type is the
 * input's fault: MSGVAL_EVALUE.
 */
static int decode_dynamic(const msgpack_object *o, walk *w, json_t **out) {
    if (o->type == MSGPACK_OBJECT_NIL) {
        *out = json_null();
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2)
        return fail(w, MSGVAL_EVALUE,
                    "expected a dynamic value, a [type, value] array of 2 elements, got %s%s",
                    mp_noun(o), o->type == MSGPACK_OBJECT_ARRAY ? " of another length" : "");
    const msgpack_object *tobj = &o->via.array.ptr[0];
    const char *tp;
    size_t tn;
    if (!mp_bytes(tobj, &tp, &tn))
        return fail(w, MSGVAL_EVALUE, "expected the type of a dynamic value as JSON text, got %s",
                    mp_noun(tobj));
    json_error_t jerr;
    json_t *type = json_loadb(tp, tn, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (type == NULL)
        return fail(w, MSGVAL_EVALUE, "the type of a dynamic value is not JSON: %s", jerr.text);
    char terr[MSGVAL_ERR_MAX];
    walk tw;
    walk_init(&tw, terr);
    if (check_type(type, &tw, 0, MSGVAL_EVALUE) != 0) {
        json_decref(type);
        return fail(w, MSGVAL_EVALUE, "the type of a dynamic value is wrong: %s", terr);
    }
    w->depth++;
    int rc = decode_value(&o->via.array.ptr[1], type, w, out);
    w->depth--;
    json_decref(type);
    return rc;
}

/*
 * Decodes one msgpack object of a checked type into a new JSON value. Any
 * ext is an unknown, whatever the type (Terraform's ext 0, a refined
 * unknown ext 12, or anything else: go-cty does the same); nil is null,
 * except that "dynamic" reads it itself.
 */
static int decode_value(const msgpack_object *o, const json_t *type, walk *w, json_t **out) {
    const json_t *arg;
    kind k = type_kind(type, &arg);
    *out = NULL;
    if (o->type == MSGPACK_OBJECT_EXT)
        return give(w, unknown_new(), out);
    if (w->depth > MSGVAL_MAX_DEPTH)
        return fail(w, MSGVAL_EVALUE, "nested deeper than %d", MSGVAL_MAX_DEPTH);
    if (k == K_DYNAMIC)
        return decode_dynamic(o, w, out);
    if (o->type == MSGPACK_OBJECT_NIL) {
        *out = json_null();
        return 0;
    }
    switch (k) {
    case K_STRING:
        return decode_string(o, w, out);
    case K_NUMBER:
        return decode_number(o, w, out);
    case K_BOOL:
        if (o->type != MSGPACK_OBJECT_BOOLEAN)
            return expected(w, k, o);
        *out = json_boolean(o->via.boolean);
        return 0;
    case K_LIST:
    case K_SET:
    case K_TUPLE:
        return decode_array(o, k, arg, w, out);
    case K_MAP:
        return decode_members(o, k, arg, NULL, w, out);
    case K_OBJECT:
        return decode_members(o, k, NULL, arg, w, out);
    default:
        return fail(w, MSGVAL_ETYPE, "invalid type");
    }
}

int msgval_decode(const void *data, size_t len, const json_t *type, json_t **out,
                  char err[MSGVAL_ERR_MAX]) {
    walk w;
    walk_init(&w, err);
    *out = NULL;
    int rc = check_type(type, &w, 0, MSGVAL_ETYPE);
    if (rc != 0)
        return rc;
    if (len == 0)
        return fail(&w, MSGVAL_EVALUE, "no msgpack value: the input is empty");
    if (len > MSGVAL_MAX_INPUT)
        return fail(&w, MSGVAL_EVALUE, "the input (%zu bytes) is over the %u-byte limit", len,
                    MSGVAL_MAX_INPUT);
    rc = scan(data, len, &w);
    if (rc != 0)
        return rc;

    msgpack_unpacked up;
    size_t off = 0;
    msgpack_unpacked_init(&up);
    switch (msgpack_unpack_next(&up, data, len, &off)) {
    case MSGPACK_UNPACK_SUCCESS:
        if (off != len) /* scan() has ruled this out */
            rc = fail(&w, MSGVAL_EVALUE, "trailing bytes after the msgpack value");
        break;
    case MSGPACK_UNPACK_NOMEM_ERROR:
        rc = fail_nomem(&w);
        break;
    default: /* scan() has ruled these out too */
        rc = fail(&w, MSGVAL_EVALUE, "msgpack-c could not parse the input");
        break;
    }
    if (rc == 0)
        rc = decode_value(&up.data, type, &w, out);
    msgpack_unpacked_destroy(&up);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Encoding: JSON -> msgpack                                           */
/* ------------------------------------------------------------------ */

static const char *json_noun(const json_t *v) {
    if (v == NULL)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a bool";
    default:
        return "null";
    }
}

/* msgpack-c's pack functions return the write callback's result: non-zero
 * only when msgpack_sbuffer_write could not grow the buffer. */
static int packed(walk *w, int pack_rc) {
    return pack_rc == 0 ? 0 : fail_nomem(w);
}

static int pack_bytes_str(msgpack_packer *pk, const char *p, size_t n) {
    if (msgpack_pack_str(pk, n) != 0)
        return -1;
    return msgpack_pack_str_body(pk, p, n);
}

/* An object member, for writing members in sorted order. */
typedef struct member {
    const char *key;
    size_t len;
    json_t *value;
} member;

static int member_cmp(const void *a, const void *b) {
    const member *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    if (c != 0)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* The members of `obj`, sorted bytewise by key, in a malloc'd array (NULL
 * when there are none). Keys and values are borrowed from obj. */
static int sorted_members(const json_t *obj, member **out, size_t *count, walk *w) {
    size_t n = json_object_size(obj), i = 0;
    *out = NULL;
    *count = 0;
    if (n == 0)
        return 0;
    member *m = malloc(n * sizeof *m);
    if (m == NULL)
        return fail_nomem(w);
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)obj, key, klen, v) {
        m[i].key = key;
        m[i].len = klen;
        m[i].value = v;
        i++;
    }
    qsort(m, n, sizeof *m, member_cmp);
    *out = m;
    *count = n;
    return 0;
}

static int encode_value(const json_t *v, const json_t *type, walk *w, msgpack_packer *pk);

static int mismatch(walk *w, kind k, const json_t *v) {
    return fail(w, MSGVAL_EVALUE, "expected %s, got %s", kind_noun(k), json_noun(v));
}

/* Enters a container level, refusing to go past MSGVAL_MAX_DEPTH so that
 * whatever we write, msgval_decode() reads back. */
static int enter(walk *w) {
    if (w->depth >= MSGVAL_MAX_DEPTH)
        return fail(w, MSGVAL_EVALUE, "nested deeper than %d", MSGVAL_MAX_DEPTH);
    w->depth++;
    return 0;
}

static int encode_number(const json_t *v, walk *w, msgpack_packer *pk) {
    if (json_is_integer(v))
        return packed(w, msgpack_pack_int64(pk, json_integer_value(v)));
    if (!json_is_real(v))
        return mismatch(w, K_NUMBER, v);
    double d = json_real_value(v);
    /* -2^63 <= d < 2^63, both exact doubles: (int64_t)d is defined. */
    if (d == trunc(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
        return packed(w, msgpack_pack_int64(pk, (int64_t)d));
    return packed(w, msgpack_pack_double(pk, d));
}

/* A list, set or tuple as a msgpack array. */
static int encode_array(const json_t *v, kind k, const json_t *arg, walk *w, msgpack_packer *pk) {
    if (!json_is_array(v))
        return mismatch(w, k, v);
    size_t n = json_array_size(v);
    if (k == K_TUPLE && n != json_array_size(arg))
        return fail(w, MSGVAL_EVALUE, "expected a tuple of %zu elements, got an array of %zu",
                    json_array_size(arg), n);
    int rc = enter(w);
    if (rc != 0)
        return rc;
    if (n > UINT32_MAX)
        return fail(w, MSGVAL_EVALUE, "an array of %zu elements is too long for msgpack", n);
    if (msgpack_pack_array(pk, n) != 0)
        return fail_nomem(w);
    mark m = path_mark(w);
    for (size_t i = 0; i < n; i++) {
        path_index(w, i);
        rc = encode_value(json_array_get(v, i), k == K_TUPLE ? json_array_get(arg, i) : arg, w, pk);
        if (rc != 0)
            return rc;
        path_reset(w, m);
    }
    w->depth--;
    return 0;
}

/* A map as a msgpack map, keys sorted so that the bytes are deterministic. */
static int encode_map(const json_t *v, const json_t *elem, walk *w, msgpack_packer *pk) {
    if (!json_is_object(v))
        return mismatch(w, K_MAP, v);
    member *m;
    size_t n;
    int rc = enter(w);
    if (rc == 0)
        rc = sorted_members(v, &m, &n, w);
    if (rc != 0)
        return rc;
    if (msgpack_pack_map(pk, n) != 0)
        rc = fail_nomem(w);
    mark at = path_mark(w);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        path_key(w, m[i].key, m[i].len);
        if (pack_bytes_str(pk, m[i].key, m[i].len) != 0)
            rc = fail_nomem(w);
        else
            rc = encode_value(m[i].value, elem, w, pk);
        if (rc == 0)
            path_reset(w, at);
    }
    free(m);
    if (rc == 0)
        w->depth--;
    return rc;
}

/*
 * An object as a msgpack map holding every attribute of the type, sorted by
 * name, nil for those the JSON object lacks: Terraform refuses an object
 * with attributes missing ("an object with 9 attributes is required (8
 * given)"), and refuses unknown ones, so a member that is not an attribute
 * is an error here rather than there.
 */
static int encode_object(const json_t *v, const json_t *attrs, walk *w, msgpack_packer *pk) {
    if (!json_is_object(v))
        return mismatch(w, K_OBJECT, v);
    const char *key;
    size_t klen;
    json_t *mv;
    json_object_keylen_foreach((json_t *)v, key, klen, mv) {
        (void)mv;
        if (json_object_getn(attrs, key, klen) == NULL) {
            char q[QUOTE_BUF];
            quote(q, key, klen);
            return fail(w, MSGVAL_EVALUE, "unsupported attribute %s", q);
        }
    }
    member *m;
    size_t n;
    int rc = enter(w);
    if (rc == 0)
        rc = sorted_members(attrs, &m, &n, w);
    if (rc != 0)
        return rc;
    if (msgpack_pack_map(pk, n) != 0)
        rc = fail_nomem(w);
    mark at = path_mark(w);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const json_t *member_value = json_object_getn(v, m[i].key, m[i].len);
        path_attr(w, m[i].key, m[i].len);
        if (pack_bytes_str(pk, m[i].key, m[i].len) != 0)
            rc = fail_nomem(w);
        else if (member_value == NULL)
            rc = packed(w, msgpack_pack_nil(pk));
        else
            rc = encode_value(member_value, m[i].value, w, pk);
        if (rc == 0)
            path_reset(w, at);
    }
    free(m);
    if (rc == 0)
        w->depth--;
    return rc;
}

/*
 * The type a JSON value implies, as go-cty's JSON ImpliedType reads it:
 * string, number, bool, an array as a tuple, an object as an object, null
 * and unknown as "dynamic". A new reference in *out. Bounded by `depth`
 * like every other walk.
 */
static int implied_type(const json_t *v, walk *w, int depth, json_t **out) {
    json_t *t = NULL, *args = NULL;
    *out = NULL;
    if (depth > MSGVAL_MAX_DEPTH)
        return fail(w, MSGVAL_EVALUE, "nested deeper than %d", MSGVAL_MAX_DEPTH);
    if (json_is_null(v) || is_unknown(v))
        return give(w, json_string("dynamic"), out);
    switch (json_typeof(v)) {
    case JSON_STRING:
        return give(w, json_string("string"), out);
    case JSON_INTEGER:
    case JSON_REAL:
        return give(w, json_string("number"), out);
    case JSON_TRUE:
    case JSON_FALSE:
        return give(w, json_string("bool"), out);
    case JSON_ARRAY: {
        args = json_array();
        t = json_array();
        if (args == NULL || t == NULL || json_array_append_new(t, json_string("tuple")) != 0)
            goto nomem;
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *et;
            int rc = implied_type(json_array_get(v, i), w, depth + 1, &et);
            if (rc != 0) {
                json_decref(args);
                json_decref(t);
                return rc;
            }
            if (json_array_append_new(args, et) != 0)
                goto nomem;
        }
        break;
    }
    default: { /* JSON_OBJECT */
        const char *key;
        size_t klen;
        json_t *mv;
        args = json_object();
        t = json_array();
        if (args == NULL || t == NULL || json_array_append_new(t, json_string("object")) != 0)
            goto nomem;
        json_object_keylen_foreach((json_t *)v, key, klen, mv) {
            json_t *at;
            int rc = implied_type(mv, w, depth + 1, &at);
            if (rc != 0) {
                json_decref(args);
                json_decref(t);
                return rc;
            }
            if (json_object_setn_new(args, key, klen, at) != 0)
                goto nomem;
        }
        break;
    }
    }
    if (json_array_append_new(t, args) != 0) {
        args = NULL; /* json_array_append_new() released it */
        goto nomem;
    }
    *out = t;
    return 0;
nomem:
    json_decref(args);
    json_decref(t);
    return fail_nomem(w);
}

/*
 * A known, non-null value of type "dynamic", written as Terraform's pair
 * [bin(type JSON), value] with the type the JSON value implies (go-cty
 * writes the type as bin, compact; keys are sorted here for determinism).
 */
static int encode_dynamic(const json_t *v, walk *w, msgpack_packer *pk) {
    json_t *type;
    int rc = enter(w);
    if (rc == 0)
        rc = implied_type(v, w, w->depth, &type);
    if (rc != 0)
        return rc;
    char *text = json_dumps(type, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    if (text == NULL) {
        json_decref(type);
        return fail_nomem(w);
    }
    size_t tn = strlen(text);
    if (msgpack_pack_array(pk, 2) != 0 || msgpack_pack_bin(pk, tn) != 0 ||
        msgpack_pack_bin_body(pk, text, tn) != 0)
        rc = fail_nomem(w);
    else
        rc = encode_value(v, type, w, pk);
    free(text);
    json_decref(type);
    if (rc == 0)
        w->depth--;
    return rc;
}

/*
 * Encodes one JSON value of a checked type. null is nil and the contract's
 * unknown is ext 0 with one zero byte (`d4 00 00`) for every type, as
 * Terraform expects a plain unknown; everything else must match the type.
 */
static int encode_value(const json_t *v, const json_t *type, walk *w, msgpack_packer *pk) {
    static const char unknown_payload = 0;
    const json_t *arg;
    kind k = type_kind(type, &arg);
    if (v == NULL)
        return fail(w, MSGVAL_EVALUE, "no value");
    if (json_is_null(v))
        return packed(w, msgpack_pack_nil(pk));
    if (is_unknown(v)) {
        if (msgpack_pack_ext(pk, 1, 0) != 0)
            return fail_nomem(w);
        return packed(w, msgpack_pack_ext_body(pk, &unknown_payload, 1));
    }
    switch (k) {
    case K_DYNAMIC:
        return encode_dynamic(v, w, pk);
    case K_STRING:
        if (!json_is_string(v))
            return mismatch(w, k, v);
        return packed(w, pack_bytes_str(pk, json_string_value(v), json_string_length(v)));
    case K_NUMBER:
        return encode_number(v, w, pk);
    case K_BOOL:
        if (!json_is_boolean(v))
            return mismatch(w, k, v);
        return packed(w, json_is_true(v) ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
    case K_LIST:
    case K_SET:
    case K_TUPLE:
        return encode_array(v, k, arg, w, pk);
    case K_MAP:
        return encode_map(v, arg, w, pk);
    case K_OBJECT:
        return encode_object(v, arg, w, pk);
    default:
        return fail(w, MSGVAL_ETYPE, "invalid type");
    }
}

int msgval_encode(const json_t *value, const json_t *type, char **out, size_t *out_len,
                  char err[MSGVAL_ERR_MAX]) {
    walk w;
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
    walk_init(&w, err);
    *out = NULL;
    *out_len = 0;
    int rc = check_type(type, &w, 0, MSGVAL_ETYPE);
    if (rc != 0)
        return rc;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    rc = encode_value(value, type, &w, &pk);
    if (rc != 0) {
        msgpack_sbuffer_destroy(&sbuf);
        return rc;
    }
    *out_len = sbuf.size;
    *out = msgpack_sbuffer_release(&sbuf);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Schema blocks                                                       */
/* ------------------------------------------------------------------ */

static json_t *block_object_type(const json_t *block, walk *w, int depth);

/* [head, arg] as a new array, stealing arg (also on failure, as
 * json_array_append_new() does). NULL when memory runs out. */
static json_t *pair_new(const char *head, json_t *arg) {
    json_t *t = json_array();
    if (t == NULL || json_array_append_new(t, json_string(head)) != 0) {
        json_decref(t);
        json_decref(arg);
        return NULL;
    }
    if (json_array_append_new(t, arg) != 0) {
        json_decref(t);
        return NULL;
    }
    return t;
}

/*
 * Wraps an object type by nesting mode: "single" (and "group", for blocks
 * only) leave it, "list"/"set"/"map" make a collection of it. Steals `obj`
 * (also on failure). NULL with an error for another mode or on no memory.
 * Terraform turns a list or map block holding a dynamic type into
 * "dynamic" (its element types could differ: a tuple or an object is what
 * actually travels); a set cannot hold one at all.
 */
static json_t *nest_new(json_t *obj, const json_t *mode, bool is_block, walk *w) {
    static const char *const coll[] = {"list", "set", "map"};
    if (str_is(mode, "single") || (is_block && str_is(mode, "group")))
        return obj;
    for (size_t i = 0; i < 3; i++) {
        if (!str_is(mode, coll[i]))
            continue;
        if (i != 1 && is_block && type_has_dynamic(obj)) {
            json_decref(obj);
            json_t *d = json_string("dynamic");
            if (d == NULL)
                fail_nomem(w);
            return d;
        }
        json_t *t = pair_new(coll[i], obj);
        if (t == NULL)
            fail_nomem(w);
        return t;
    }
    json_decref(obj);
    fail(w, MSGVAL_ETYPE,
         "\"nesting_mode\" must be one of \"single\", %s\"list\", \"set\", \"map\"",
         is_block ? "\"group\", " : "");
    return NULL;
}

/*
 * Adds the type of each attribute of `attrs` (a schema "attributes" object:
 * name -> {"type": T} or {"nested_type": {"attributes": ..., "nesting_mode":
 * ...}}) to `into`. Types are copied, so the result does not share anything
 * with the schema.
 */
static int add_attributes(const json_t *attrs, json_t *into, walk *w, int depth) {
    const char *name;
    size_t nlen;
    json_t *def;
    mark m = path_mark(w);
    if (!json_is_object(attrs))
        return fail(w, MSGVAL_ETYPE, "\"attributes\" must be an object, got %s", json_noun(attrs));
    json_object_keylen_foreach((json_t *)attrs, name, nlen, def) {
        path_attr(w, name, nlen);
        if (!json_is_object(def))
            return fail(w, MSGVAL_ETYPE, "an attribute must be an object, got %s", json_noun(def));
        const json_t *type = json_object_get(def, "type");
        const json_t *nested = json_object_get(def, "nested_type");
        json_t *t;
        if ((type == NULL) == (nested == NULL))
            return fail(w, MSGVAL_ETYPE,
                        "an attribute needs exactly one of \"type\" and \"nested_type\"");
        if (type != NULL) {
            int rc = check_type(type, w, 0, MSGVAL_ETYPE);
            if (rc != 0)
                return rc;
            t = json_deep_copy(type);
            if (t == NULL)
                return fail_nomem(w);
        } else {
            if (depth >= MSGVAL_MAX_DEPTH)
                return fail(w, MSGVAL_ETYPE, "nested deeper than %d", MSGVAL_MAX_DEPTH);
            if (!json_is_object(nested))
                return fail(w, MSGVAL_ETYPE, "\"nested_type\" must be an object");
            json_t *inner = json_object();
            if (inner == NULL)
                return fail_nomem(w);
            int rc = add_attributes(json_object_get(nested, "attributes"), inner, w, depth + 1);
            if (rc != 0) {
                json_decref(inner);
                return rc;
            }
            json_t *obj = pair_new("object", inner);
            if (obj == NULL)
                return fail_nomem(w);
            t = nest_new(obj, json_object_get(nested, "nesting_mode"), false, w);
            if (t == NULL)
                return MSGVAL_ETYPE; /* nest_new() has set the message */
        }
        if (json_object_setn_new(into, name, nlen, t) != 0)
            return fail_nomem(w);
        path_reset(w, m);
    }
    return 0;
}

/*
 * The object type of one block: its attributes, then its block types, each
 * wrapped by nesting mode. A block type may not reuse an attribute's name.
 * Returns a new reference, or NULL with the message set. `depth` counts
 * the blocks around this one.
 */
static json_t *block_object_type(const json_t *block, walk *w, int depth) {
    if (depth >= MSGVAL_MAX_DEPTH) {
        fail(w, MSGVAL_ETYPE, "blocks nested deeper than %d", MSGVAL_MAX_DEPTH);
        return NULL;
    }
    if (!json_is_object(block)) {
        fail(w, MSGVAL_ETYPE, "expected a block (an object), got %s", json_noun(block));
        return NULL;
    }
    json_t *attrs = json_object();
    if (attrs == NULL) {
        fail_nomem(w);
        return NULL;
    }
    const json_t *a = json_object_get(block, "attributes");
    if (a != NULL && !json_is_null(a) && add_attributes(a, attrs, w, depth) != 0)
        goto failed;
    const json_t *bts = json_object_get(block, "block_types");
    if (bts != NULL && !json_is_null(bts)) {
        const char *name;
        size_t nlen;
        json_t *bt;
        mark m = path_mark(w);
        if (!json_is_object(bts)) {
            fail(w, MSGVAL_ETYPE, "\"block_types\" must be an object, got %s", json_noun(bts));
            goto failed;
        }
        json_object_keylen_foreach((json_t *)bts, name, nlen, bt) {
            path_attr(w, name, nlen);
            if (json_object_getn(attrs, name, nlen) != NULL) {
                fail(w, MSGVAL_ETYPE, "a block type has the name of an attribute");
                goto failed;
            }
            if (!json_is_object(bt)) {
                fail(w, MSGVAL_ETYPE, "a block type must be an object, got %s", json_noun(bt));
                goto failed;
            }
            json_t *obj = block_object_type(json_object_get(bt, "block"), w, depth + 1);
            if (obj == NULL)
                goto failed;
            json_t *t = nest_new(obj, json_object_get(bt, "nesting_mode"), true, w);
            if (t == NULL)
                goto failed;
            if (json_object_setn_new(attrs, name, nlen, t) != 0) {
                fail_nomem(w);
                goto failed;
            }
            path_reset(w, m);
        }
    }
    json_t *t = pair_new("object", attrs);
    if (t == NULL)
        fail_nomem(w);
    return t;
failed:
    json_decref(attrs);
    return NULL;
}

json_t *msgval_block_type(const json_t *block, char err[MSGVAL_ERR_MAX]) {
    walk w;
    walk_init(&w, err);
    json_t *t = block_object_type(block, &w, 0);
    /* Blocks and attribute types were checked one by one; the whole must
     * also be a type decode and encode accept (not too deep). */
    if (t != NULL && check_type(t, &w, 0, MSGVAL_ETYPE) != 0) {
        json_decref(t);
        return NULL;
    }
    return t;
}
