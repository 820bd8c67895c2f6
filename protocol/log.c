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
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX     (64 * 1024) /* bytes of message kept in one line */
#define LOG_SECRET_MIN   4
#define LOG_TRUNC_MARKER "...(truncated)"

static log_level g_level = LOG_LEVEL_WARN;
static bool g_json = false;

static pthread_mutex_t g_secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char **g_secrets;
static size_t g_secret_count;

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
    if (!secret || strlen(secret) < LOG_SECRET_MIN)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&g_secrets_lock);
    for (size_t i = 0; i < g_secret_count; i++) {
        if (strcmp(g_secrets[i], secret) == 0)
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
    pthread_mutex_unlock(&g_secrets_lock);
}

/*
 * Masks secrets in text[0..len). Every byte covered by an occurrence of any
 * secret is marked first, then each run of marked bytes becomes one "***".
 * Marking before replacing handles overlapping secrets (and a secret that
 * contains another) without leaving a fragment of either visible. Returns a
 * new malloc'd, NUL-terminated string (its length in *out_len), or NULL on
 * allocation failure.
 */
static char *redact_n(const char *text, size_t len, size_t *out_len) {
    unsigned char *mask = NULL;
    pthread_mutex_lock(&g_secrets_lock);
    for (size_t i = 0; i < g_secret_count; i++) {
        const char *secret = g_secrets[i];
        size_t slen = strlen(secret);
        const char *p = text, *end = text + len;
        const char *hit;
        while ((size_t)(end - p) >= slen && (hit = memmem(p, (size_t)(end - p), secret, slen))) {
            if (!mask) {
                mask = calloc(len ? len : 1, 1);
                if (!mask) {
                    pthread_mutex_unlock(&g_secrets_lock);
                    return NULL;
                }
            }
            memset(mask + (hit - text), 1, slen);
            p = hit + 1;
        }
    }
    pthread_mutex_unlock(&g_secrets_lock);

    /* Every masked run is at least LOG_SECRET_MIN (> 3) bytes long and
     * becomes "***", so the result is never longer than the input. */
    char *out = malloc(len + 1);
    if (!out) {
        free(mask);
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
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

char *log_redact(const char *text) {
    if (!text)
        return NULL;
    return redact_n(text, strlen(text), NULL);
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
 * Formats and writes one line. The message is formatted into a stack buffer
 * when it fits, else into a heap buffer capped at LOG_LINE_MAX bytes (the
 * rest is cut off and marked), then redacted, then escaped into the line.
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
    bool truncated = false;
    if (msg_len >= sizeof(stack)) {
        size_t want = msg_len < LOG_LINE_MAX ? msg_len : LOG_LINE_MAX;
        truncated = msg_len > want;
        msg = malloc(want + 1);
        if (!msg) {
            msg = stack;
            msg_len = sizeof(stack) - 1;
            truncated = true;
        } else {
            va_copy(copy, ap);
            vsnprintf(msg, want + 1, fmt, copy);
            va_end(copy);
            msg_len = want;
        }
    }

    size_t clean_len = 0;
    char *clean = redact_n(msg, msg_len, &clean_len);
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
