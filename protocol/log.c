/*
 * log.c - log lines on stderr, one write(2) each, with secrets masked.
 *
 * The level comes from TF_LOG_PROVIDER, else TF_LOG, the way Terraform reads
 * them: TRACE, DEBUG, INFO, WARN, ERROR, OFF (any case), JSON meaning TRACE
 * as hclog-shaped JSON lines, an unknown non-empty value meaning TRACE (with a
 * warning, as Terraform does). Unset, the level is WARN.
 *
 * A line is formatted whole into one buffer (capped at LOG_LINE_MAX bytes of
 * message; longer messages are cut and marked) and written with a single
 * write(2), so lines from different parts of the process never interleave.
 * Every registered secret is replaced by "***" in the message before it is
 * escaped, so a secret cannot slip through in escaped form either. Control
 * characters are escaped so that a message is always exactly one line, and
 * invalid UTF-8 is replaced so that JSON lines always parse.
 *
 * The secret list is guarded by a mutex: libuv's thread pool or a curl
 * callback may log from another thread. The level is read without a lock; it
 * is set once at start-up.
 */
#include "log.h"

#include "dynbuf.h"

#include <uv.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX     (64 * 1024) /* bytes of message kept in one line */
#define LOG_TRUNC_MARKER "...(truncated)"

static log_level g_level = LOG_LEVEL_WARN;
static bool g_json = false;

static pthread_mutex_t g_secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char **g_secrets;
static size_t g_secret_count;
static size_t g_secret_maxlen; /* the longest registered secret, in bytes */

static const char *const level_upper[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF"};
static const char *const level_lower[] = {"trace", "debug", "info", "warn", "error", "off"};

/* The most bytes one line can take once escaped: every byte of the message
 * may become a 6-byte \u escape, plus the module name, the level, the
 * timestamp and the JSON punctuation. The line's dynbuf is capped there. */
#define LOG_LINE_CAP (6 * LOG_LINE_MAX + 1024)

void log_configure(log_level level, bool json) {
    if (level < LOG_LEVEL_TRACE || level > LOG_LEVEL_OFF)
        level = LOG_LEVEL_WARN;
    g_level = level;
    g_json = json;
}

/* Reads one variable; returns true when it was set to something. */
static bool level_from_value(const char *value, log_level *level, bool *json, bool *unknown) {
    if (!value || !*value)
        return false;
    *json = false;
    *unknown = false;
    if (strcasecmp(value, "JSON") == 0) {
        *level = LOG_LEVEL_TRACE;
        *json = true;
        return true;
    }
    for (int i = LOG_LEVEL_TRACE; i <= LOG_LEVEL_OFF; i++) {
        if (strcasecmp(value, level_upper[i]) == 0) {
            *level = (log_level)i;
            return true;
        }
    }
    *level = LOG_LEVEL_TRACE;
    *unknown = true;
    return true;
}

void log_configure_from_env(void) {
    log_level level = LOG_LEVEL_WARN;
    bool json = false, unknown = false;
    const char *name = "TF_LOG_PROVIDER";
    const char *value = getenv(name);
    if (!level_from_value(value, &level, &json, &unknown)) {
        name = "TF_LOG";
        value = getenv(name);
        if (!level_from_value(value, &level, &json, &unknown))
            level = LOG_LEVEL_WARN;
    }
    log_configure(level, json);
    if (unknown)
        log_warn("provider",
                 "invalid log level %.32s=\"%.32s\": using TRACE (valid: TRACE, DEBUG, "
                 "INFO, WARN, ERROR, OFF, JSON)",
                 name, value);
}

void log_use_json(bool json) {
    g_json = json;
}

bool log_enabled(log_level level) {
    return g_level != LOG_LEVEL_OFF && level != LOG_LEVEL_OFF && level >= g_level;
}

int log_add_secret(const char *secret) {
    if (!secret || !*secret)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&g_secrets_lock);
    for (size_t i = 0; i < g_secret_count; i++) {
        if (strcmp(g_secrets[i], secret) == 0)
            goto out;
    }
    if (g_secret_count >= LOG_MAX_SECRETS) {
        rc = UV_ENOSPC;
        goto out;
    }
    char *copy = strdup(secret);
    char **grown = copy ? realloc(g_secrets, (g_secret_count + 1) * sizeof(*g_secrets)) : NULL;
    if (!grown) {
        free(copy);
        rc = UV_ENOMEM;
        goto out;
    }
    g_secrets = grown;
    g_secrets[g_secret_count++] = copy;
    if (strlen(copy) > g_secret_maxlen)
        g_secret_maxlen = strlen(copy);
out:
    pthread_mutex_unlock(&g_secrets_lock);
    return rc;
}

void log_clear_secrets(void) {
    pthread_mutex_lock(&g_secrets_lock);
    for (size_t i = 0; i < g_secret_count; i++)
        free(g_secrets[i]);
    free(g_secrets);
    g_secrets = NULL;
    g_secret_count = 0;
    g_secret_maxlen = 0;
    pthread_mutex_unlock(&g_secrets_lock);
}

/* Length of the valid UTF-8 sequence starting at s (at most n bytes), or 0
 * when the bytes there are not valid UTF-8 (overlong forms, surrogates and
 * code points past U+10FFFF are invalid, as in jansson). */
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t need;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

/* ------------------------------------------------------------------ */
/* Masking: the one rule every layer uses                              */
/* ------------------------------------------------------------------ */

static int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads four hex digits at t (n bytes available). -1 when they are not. */
static long hex4(const char *t, size_t n) {
    if (n < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(t[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/*
 * Decodes one JSON string escape at t (t[0] is a backslash, n bytes
 * available): the one-letter escapes ("\/" "\"" "\\" "\n" ...) and "\uXXXX",
 * with a surrogate pair read as the one code point it stands for. Returns
 * the escape's length and its code point in *cp, or 0 when t does not start
 * an escape.
 */
static size_t json_escape_at(const char *t, size_t n, uint32_t *cp) {
    if (n < 2 || t[0] != '\\')
        return 0;
    static const char letters[] = "\"\\/bfnrt";
    static const char values[] = "\"\\/\b\f\n\r\t";
    const char *hit = t[1] ? strchr(letters, t[1]) : NULL;
    if (hit) {
        *cp = (unsigned char)values[hit - letters];
        return 2;
    }
    if (t[1] != 'u')
        return 0;
    long hi = hex4(t + 2, n - 2);
    if (hi < 0)
        return 0;
    if (hi >= 0xD800 && hi <= 0xDBFF && n >= 12 && t[6] == '\\' && t[7] == 'u') {
        long lo = hex4(t + 8, n - 8);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            *cp = 0x10000 + (((uint32_t)hi - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
            return 12;
        }
    }
    *cp = (uint32_t)hi;
    return 6;
}

/* The code point of the UTF-8 sequence s[0..len) (len from utf8_seq_len). */
static uint32_t utf8_code_point(const unsigned char *s, size_t len) {
    if (len == 1)
        return s[0];
    uint32_t cp = s[0] & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (size_t i = 1; i < len; i++)
        cp = (cp << 6) | (s[i] & 0x3F);
    return cp;
}

/*
 * How many bytes of t (n available) spell the secret s (slen bytes), each
 * character of it either as itself or JSON-escaped ("\u0061", "\/", a
 * surrogate pair for a character past U+FFFF): a body echoed by an API or
 * a proxy may carry the token in any of these forms. 0 when it does not.
 */
static size_t match_secret(const char *t, size_t n, const char *s, size_t slen) {
    size_t i = 0, j = 0;
    while (j < slen) {
        if (i >= n)
            return 0;
        size_t ulen = utf8_seq_len((const unsigned char *)s + j, slen - j);
        bool is_char = ulen > 0;
        if (!ulen)
            ulen = 1; /* a byte that is not UTF-8 can only appear as itself */
        if (n - i >= ulen && memcmp(t + i, s + j, ulen) == 0) {
            i += ulen;
            j += ulen;
            continue;
        }
        uint32_t cp;
        size_t e = is_char ? json_escape_at(t + i, n - i, &cp) : 0;
        if (e && cp == utf8_code_point((const unsigned char *)s + j, ulen)) {
            i += e;
            j += ulen;
            continue;
        }
        return 0;
    }
    return i;
}

/*
 * The masking rule, written once. Every occurrence of every registered
 * secret in text[0..len), literal or JSON-escaped, is marked byte by byte;
 * then the first `emit` bytes of text are copied out with each run of
 * marked bytes replaced by one "***" (a run that starts before `emit` is
 * masked whole, even where it crosses it). Marking before replacing leaves
 * no fragment of overlapping secrets visible, and looking at all `len`
 * bytes while emitting only `emit` is what makes "mask first, then cut"
 * safe: a secret that straddles the cut is still recognised. Any secret of
 * one byte or more is masked. Returns a new NUL-terminated string (its
 * length in *out_len), or NULL on allocation failure.
 */
static char *redact_cut(const char *text, size_t len, size_t emit, size_t *out_len) {
    unsigned char *mask = NULL;
    if (emit > len)
        emit = len;
    pthread_mutex_lock(&g_secrets_lock);
    for (size_t k = 0; k < g_secret_count; k++) {
        const char *secret = g_secrets[k];
        size_t slen = strlen(secret);
        for (size_t i = 0; i < emit; i++) {
            if (text[i] != secret[0] && text[i] != '\\')
                continue;
            size_t m = match_secret(text + i, len - i, secret, slen);
            if (!m)
                continue;
            if (!mask && !(mask = calloc(len ? len : 1, 1))) {
                pthread_mutex_unlock(&g_secrets_lock);
                return NULL;
            }
            memset(mask + i, 1, m);
        }
    }
    pthread_mutex_unlock(&g_secrets_lock);

    size_t size = emit;
    if (mask) {
        for (size_t i = 0; i < emit; i++) {
            if (mask[i] && (i == 0 || !mask[i - 1]))
                size += 3;
        }
    }
    char *out = malloc(size + 1);
    if (!out) {
        free(mask);
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < emit; i++) {
        if (mask && mask[i]) {
            if (i == 0 || !mask[i - 1]) {
                memcpy(out + o, "***", 3);
                o += 3;
            }
            continue;
        }
        out[o++] = text[i];
    }
    out[o] = '\0';
    free(mask);
    if (out_len)
        *out_len = o;
    return out;
}

/* How many bytes past a cut must still be looked at so that a secret that
 * starts before the cut is seen whole: its longest escaped form (six bytes
 * per byte, "\u0061" for "a"). */
static size_t secret_lookahead(void) {
    pthread_mutex_lock(&g_secrets_lock);
    size_t n = g_secret_maxlen;
    pthread_mutex_unlock(&g_secrets_lock);
    return n * 6;
}

char *log_redact(const char *text) {
    if (!text)
        return NULL;
    size_t len = strlen(text);
    return redact_cut(text, len, len, NULL);
}

/*
 * A text already cut at `len` by a reader's cap may end in the first part
 * of a secret, which no masking can recognise. Every occurrence that
 * starts at least secret_lookahead() bytes before the end is seen whole
 * and masked; the bytes after that point are dropped.
 */
char *log_redact_cut_text(const char *text, size_t len, size_t *out_len) {
    size_t look = secret_lookahead();
    return redact_cut(text, len, len > look ? len - look : 0, out_len);
}

/*
 * Masks the whole of text[0..len), then keeps at most `max` bytes of the
 * result, so a cut can never leave a prefix of a secret behind. Control
 * characters become spaces and bytes past ASCII become '?', so the excerpt
 * is safe in a diagnostic (always valid UTF-8, one line) and in a log line.
 */
char *log_redact_excerpt(const char *text, size_t len, size_t max) {
    if (!text)
        text = "", len = 0;
    size_t mlen = 0;
    char *masked = redact_cut(text, len, len, &mlen);
    if (!masked)
        return NULL;
    bool cut = mlen > max;
    size_t n = cut ? max : mlen;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)masked[i];
        if (ch < 0x20 || ch == 0x7F)
            masked[i] = ' ';
        else if (ch >= 0x80)
            masked[i] = '?';
    }
    if (cut) {
        /* n + 3 <= mlen + 3: make room only when the cut is short of it. */
        if (n + 3 > mlen) {
            char *grown = realloc(masked, n + 4);
            if (!grown) {
                free(masked);
                return NULL;
            }
            masked = grown;
        }
        memcpy(masked + n, "...", 3);
        n += 3;
    }
    masked[n] = '\0';
    return masked;
}

/*
 * Logs a message body at `level` as "<prefix><body>", the body masked whole
 * and only then cut to `max` bytes ("..." marks a cut). Nothing is copied
 * or masked when the level is off. The line itself is escaped by log_write
 * as usual, so the body cannot start a new line.
 */
void log_body(log_level level, const char *module, const char *prefix, const char *body, size_t len,
              size_t max) {
    if (!log_enabled(level))
        return;
    size_t mlen = 0;
    char *masked = redact_cut(body ? body : "", body ? len : 0, body ? len : 0, &mlen);
    if (!masked) {
        log_write(level, module, "%s(body of %zu bytes not logged: out of memory)",
                  prefix ? prefix : "", len);
        return;
    }
    bool cut = mlen > max;
    size_t keep = cut ? max : mlen;
    log_write(level, module, "%s%.*s%s", prefix ? prefix : "",
              (int)(keep > INT_MAX ? INT_MAX : keep), masked, cut ? "..." : "");
    free(masked);
}

/*
 * Appends msg to sb as one line: in JSON mode as the body of a JSON string
 * (quotes and backslashes escaped), in text mode as plain text; in both,
 * control characters become escapes (\n, \t, \u001b, ...) so the message can
 * never start a new line, and bytes that are not UTF-8 become U+FFFD.
 */
static void append_escaped(dynbuf *sb, const char *msg, size_t len, bool json) {
    const unsigned char *s = (const unsigned char *)msg;
    size_t i = 0;
    while (i < len && !dynbuf_error(sb)) {
        unsigned char c = s[i];
        if (c >= 0x20 && c != 0x7F && c != '"' && c != '\\' && c < 0x80) {
            size_t start = i;
            while (i < len && s[i] >= 0x20 && s[i] != 0x7F && s[i] != '"' && s[i] != '\\' &&
                   s[i] < 0x80)
                i++;
            dynbuf_add(sb, msg + start, i - start);
            continue;
        }
        if (c == '"' || c == '\\') {
            if (json)
                dynbuf_add(sb, "\\", 1);
            dynbuf_add(sb, (const char *)&s[i], 1);
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7F) {
            char esc[8];
            switch (c) {
            case '\n':
                dynbuf_adds(sb, "\\n");
                break;
            case '\r':
                dynbuf_adds(sb, "\\r");
                break;
            case '\t':
                dynbuf_adds(sb, "\\t");
                break;
            default:
                snprintf(esc, sizeof(esc), "\\u%04x", c);
                dynbuf_adds(sb, esc);
            }
            i++;
            continue;
        }
        size_t n = utf8_seq_len(s + i, len - i);
        if (n == 0) {
            dynbuf_adds(sb, "\xEF\xBF\xBD");
            i++;
        } else {
            dynbuf_add(sb, msg + i, n);
            i += n;
        }
    }
}

/* Writes the whole line with one write(2) when the kernel takes it whole
 * (always, for lines up to PIPE_BUF on a pipe). Retries on EINTR and after
 * a short partial write; waits briefly if stderr was made non-blocking by
 * someone else. Gives up silently: there is nowhere to report a failure. */
static void write_line(const char *data, size_t len) {
    size_t off = 0;
    int waits = 0;
    while (off < len) {
        ssize_t n = write(STDERR_FILENO, data + off, len - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && waits++ < 50) {
            struct pollfd pfd = {.fd = STDERR_FILENO, .events = POLLOUT};
            poll(&pfd, 1, 100);
            continue;
        }
        return;
    }
}

/* RFC 3339 UTC with microseconds: 2026-11-27T17:00:00.000000Z. */
static void format_timestamp(char out[64]) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 64, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 64 - n, ".%06dZ", (int)(ts.tv_nsec / 1000) % 1000000);
}

/*
 * Formats and writes one line. The message is formatted (into a stack
 * buffer when it fits, else on the heap), masked, then cut, then escaped
 * into the line. A message over LOG_LINE_MAX bytes keeps LOG_LINE_MAX bytes,
 * but is formatted and masked with enough bytes past the cut for the
 * longest secret in its longest escaped form, so a secret that straddles
 * the cut is masked whole: the masking sees everything that could show in
 * the line, and memory stays bounded whatever the caller formats.
 */
void log_vwrite(log_level level, const char *module, const char *fmt, va_list ap) {
    if (!log_enabled(level))
        return;
    if (!module)
        module = "provider";
    int saved_errno = errno;

    char stack[1024];
    char *msg = stack;
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(stack, sizeof(stack), fmt, copy);
    va_end(copy);
    if (n < 0) {
        errno = saved_errno;
        return;
    }
    size_t msg_len = (size_t)n;
    size_t emit = msg_len;
    bool truncated = false;
    if (msg_len > LOG_LINE_MAX) {
        size_t look = secret_lookahead();
        emit = LOG_LINE_MAX;
        truncated = true;
        if (msg_len - LOG_LINE_MAX > look)
            msg_len = LOG_LINE_MAX + look;
    }
    if (msg_len >= sizeof(stack)) {
        msg = malloc(msg_len + 1);
        if (!msg) {
            /* No line rather than an unmasked or half-masked one. */
            errno = saved_errno;
            return;
        }
        va_copy(copy, ap);
        vsnprintf(msg, msg_len + 1, fmt, copy);
        va_end(copy);
    }

    size_t clean_len = 0;
    char *clean = redact_cut(msg, msg_len, emit, &clean_len);
    if (msg != stack)
        free(msg);
    if (!clean) {
        errno = saved_errno;
        return;
    }

    dynbuf sb;
    dynbuf_init(&sb, LOG_LINE_CAP);
    if (g_json) {
        char ts[64];
        format_timestamp(ts);
        dynbuf_adds(&sb, "{\"@level\":\"");
        dynbuf_adds(&sb, level_lower[level]);
        dynbuf_adds(&sb, "\",\"@message\":\"");
        append_escaped(&sb, clean, clean_len, true);
        if (truncated)
            dynbuf_adds(&sb, LOG_TRUNC_MARKER);
        dynbuf_adds(&sb, "\",\"@module\":\"");
        append_escaped(&sb, module, strlen(module), true);
        dynbuf_adds(&sb, "\",\"@timestamp\":\"");
        dynbuf_adds(&sb, ts);
        dynbuf_adds(&sb, "\"}\n");
    } else {
        dynbuf_adds(&sb, "[");
        dynbuf_adds(&sb, level_upper[level]);
        dynbuf_adds(&sb, "] ");
        append_escaped(&sb, module, strlen(module), false);
        dynbuf_adds(&sb, ": ");
        append_escaped(&sb, clean, clean_len, false);
        if (truncated)
            dynbuf_adds(&sb, LOG_TRUNC_MARKER);
        dynbuf_adds(&sb, "\n");
    }
    free(clean);
    if (!dynbuf_error(&sb))
        write_line(dynbuf_ptr(&sb), dynbuf_len(&sb));
    dynbuf_free(&sb);
    errno = saved_errno;
}

void log_write(log_level level, const char *module, const char *fmt, ...) {
    if (!log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, module, fmt, ap);
    va_end(ap);
}
