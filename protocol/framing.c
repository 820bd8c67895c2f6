/*
 * framing.c - the incremental message decoder and the matching encoder.
 * See framing.h for the rules; this file only implements them.
 *
 * Header framing is a small state machine:
 *   H_HEADERS  reading header lines, one at a time (only the current line is
 *              buffered; the block's size and Content-Length are tracked)
 *   H_BODY     reading a body of content_length bytes
 *   H_SKIP     skipping a body that is over the limit
 *   H_RESYNC   after a malformed block: scanning for "content-length:"
 */
#include "framing.h"

#include "protocol.h"

#include <uv.h>

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { H_HEADERS = 0, H_BODY, H_SKIP, H_RESYNC };

/* A buffer bigger than this is released after its message, so one large
 * message does not pin its memory for the rest of the session. */
#define KEEP_BUFFER_MAX (64 * 1024)

static const char k_resync[] = "content-length:";
#define RESYNC_LEN (sizeof(k_resync) - 1)

/*
 * The buffer's cap is the most any state needs: a line of max_message bytes
 * plus the "\r" of its "\r\n", or a header line of max_header bytes. Each
 * append below also checks the limit of its own state; the cap is the
 * backstop that no path can pass.
 */
void framing_decoder_init(framing_decoder *d, size_t max_message, size_t max_header) {
    memset(d, 0, sizeof(*d));
    d->max_message = max_message ? max_message : RPC_DEFAULT_MAX_MESSAGE;
    if (d->max_message > SIZE_MAX / 4)
        d->max_message = SIZE_MAX / 4;
    d->max_header = max_header ? max_header : FRAMING_DEFAULT_MAX_HEADER;
    if (d->max_header > SIZE_MAX / 4)
        d->max_header = SIZE_MAX / 4;
    size_t cap = d->max_message + 1 > d->max_header ? d->max_message + 1 : d->max_header;
    dynbuf_init(&d->buf, cap);
    d->hstate = H_HEADERS;
}

void framing_decoder_free(framing_decoder *d) {
    dynbuf_free(&d->buf);
}

size_t framing_decoder_buffer_size(const framing_decoder *d) {
    return d->buf.alloc ? d->buf.alloc - 1 : 0; /* without the dynbuf's NUL */
}

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool all_space(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!is_space(s[i]))
            return false;
    }
    return true;
}

/* RFC 9110 token characters, allowed in a header name. */
static bool is_tchar(unsigned char c) {
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void release_if_big(framing_decoder *d) {
    dynbuf_reset_shrink(&d->buf, KEEP_BUFFER_MAX);
}

/* Appends n bytes to the buffer, which may hold at most `limit` bytes in
 * the current state. Returns 0, -1 when the limit (or the buffer's cap)
 * would be passed (nothing appended), or -2 when memory ran out. The
 * buffer's error is cleared: the caller decides what happens next. */
static int buf_append(framing_decoder *d, const char *data, size_t n, size_t limit) {
    if (n > limit || d->buf.len > limit - n)
        return -1;
    int rc = dynbuf_add(&d->buf, data, n);
    if (rc == 0)
        return 0;
    return rc == UV_E2BIG ? -1 : -2;
}

/* ------------------------------------------------------------------ */
/* Newline framing                                                     */
/* ------------------------------------------------------------------ */

/* Delivers one complete line (without its "\n"): strips a "\r", skips blank
 * lines, reports an oversized line. */
static int deliver_line(framing_decoder *d, const char *line, size_t n, framing_cb cb, void *arg) {
    if (n > 0 && line[n - 1] == '\r')
        n--;
    if (n > d->max_message)
        return cb(FRAMING_TOO_LARGE, NULL, n, arg);
    if (all_space(line, n))
        return 0;
    return cb(FRAMING_MESSAGE, line, n, arg);
}

static int feed_newline(framing_decoder *d, const char *data, size_t len, framing_cb cb,
                        void *arg) {
    /* One more byte than the limit, for the "\r" of a "\r\n". */
    size_t limit = d->max_message + 1;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t seg = nl ? (size_t)(nl - (data + pos)) : len - pos;
        if (d->discarding) {
            if (!nl)
                return 0;
            d->discarding = false;
            pos += seg + 1;
            continue;
        }
        if (!nl) {
            int r = buf_append(d, data + pos, seg, limit);
            if (r < 0) {
                /* The line is over the limit (or cannot be held): report it
                 * now and drop its bytes until its end. */
                release_if_big(d);
                d->discarding = true;
                return cb(r == -1 ? FRAMING_TOO_LARGE : FRAMING_NO_MEMORY, NULL, 0, arg);
            }
            return 0;
        }
        const char *line = data + pos;
        size_t line_len = seg;
        pos += seg + 1;
        if (d->buf.len > 0) {
            int r = buf_append(d, line, seg, limit);
            if (r < 0) {
                release_if_big(d);
                int rc = cb(r == -1 ? FRAMING_TOO_LARGE : FRAMING_NO_MEMORY, NULL, 0, arg);
                if (rc)
                    return rc;
                continue;
            }
            line = d->buf.data;
            line_len = d->buf.len;
        }
        int rc = deliver_line(d, line, line_len, cb, arg);
        release_if_big(d);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Header framing                                                      */
/* ------------------------------------------------------------------ */

static void reset_block(framing_decoder *d) {
    d->header_bytes = 0;
    d->header_lines = 0;
    d->has_length = false;
    d->content_length = 0;
}

/* Reports a malformed header block and starts resynchronising. */
static int bad_header(framing_decoder *d, const char *reason, framing_cb cb, void *arg) {
    reset_block(d);
    release_if_big(d);
    d->hstate = H_RESYNC;
    d->resync_match = 0;
    return cb(FRAMING_BAD_HEADER, reason, strlen(reason), arg);
}

static int header_line(framing_decoder *d, const char *line, size_t n, framing_cb cb, void *arg);

/* Finds "content-length:" (any case) in s[0..n), or returns n. */
static size_t find_length_header(const char *s, size_t n) {
    for (size_t i = 0; i + RESYNC_LEN <= n; i++) {
        if (strncasecmp(s + i, k_resync, RESYNC_LEN) == 0)
            return i;
    }
    return n;
}

/*
 * Reports a malformed header line and resynchronises from inside it:
 * the scan for the next "Content-Length:" starts at the line's second
 * byte, not after the line. A body shorter than its Content-Length leaves
 * its tail glued to the next message's header ("...}Content-Length: 52");
 * scanning only after that line skipped the header it holds, and the next
 * valid request was never answered (finding 9). The line is borrowed (it
 * may lie in the decoder's buffer, which is not touched here).
 */
static int bad_line(framing_decoder *d, const char *reason, const char *line, size_t n,
                    framing_cb cb, void *arg) {
    reset_block(d);
    d->hstate = H_RESYNC;
    d->resync_match = 0;
    int rc = cb(FRAMING_BAD_HEADER, reason, strlen(reason), arg);
    if (rc || n < 2)
        return rc;
    size_t at = 1 + find_length_header(line + 1, n - 1);
    if (at >= n)
        return 0;
    /* A header starts inside the line: read a new block from there. */
    d->hstate = H_HEADERS;
    d->header_bytes = n - at + 1;
    return header_line(d, line + at, n - at, cb, arg);
}

/* Parses a Content-Length value: digits only, after trimming blanks. */
static bool parse_length(const char *v, size_t n, size_t *out) {
    while (n > 0 && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0)
        return false;
    size_t value = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        if (value > (SIZE_MAX / 2 - 9) / 10)
            return false;
        value = value * 10 + (size_t)(v[i] - '0');
    }
    *out = value;
    return true;
}

/* Handles one complete header line (without "\r\n"). An empty line ends
 * the block, or is skipped when no header came before it. */
static int header_line(framing_decoder *d, const char *line, size_t n, framing_cb cb, void *arg) {
    if (n > 0 && line[n - 1] == '\r')
        n--;
    if (n == 0 || all_space(line, n)) {
        if (d->header_lines == 0) {
            d->header_bytes = 0; /* blank line between messages */
            return 0;
        }
        if (n != 0)
            return bad_header(d, "blank line with spaces in header block", cb, arg);
        if (!d->has_length)
            return bad_header(d, "header block without Content-Length", cb, arg);
        size_t body = d->content_length;
        reset_block(d);
        if (body > d->max_message) {
            d->hstate = H_SKIP;
            d->skip_left = body;
            return cb(FRAMING_TOO_LARGE, NULL, body, arg);
        }
        d->content_length = body;
        d->hstate = H_BODY;
        if (body == 0) {
            d->hstate = H_HEADERS;
            return cb(FRAMING_MESSAGE, "", 0, arg);
        }
        return 0;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon)
        return bad_line(d, "header line without ':'", line, n, cb, arg);
    size_t name_len = (size_t)(colon - line);
    if (name_len == 0)
        return bad_line(d, "empty header name", line, n, cb, arg);
    for (size_t i = 0; i < name_len; i++) {
        if (!is_tchar((unsigned char)line[i]))
            return bad_line(d, "invalid header name", line, n, cb, arg);
    }
    d->header_lines++;
    if (name_len == RESYNC_LEN - 1 && strncasecmp(line, k_resync, name_len) == 0) {
        size_t value;
        if (!parse_length(colon + 1, n - name_len - 1, &value))
            return bad_line(d, "invalid Content-Length value", line, n, cb, arg);
        if (d->has_length && value != d->content_length)
            return bad_line(d, "conflicting Content-Length headers", line, n, cb, arg);
        d->has_length = true;
        d->content_length = value;
    }
    return 0;
}

static int feed_headers(framing_decoder *d, const char *data, size_t len, framing_cb cb,
                        void *arg) {
    size_t pos = 0;
    while (pos < len) {
        size_t avail = len - pos;
        switch (d->hstate) {
        case H_SKIP: {
            size_t n = avail < d->skip_left ? avail : d->skip_left;
            d->skip_left -= n;
            pos += n;
            if (d->skip_left == 0)
                d->hstate = H_HEADERS;
            break;
        }
        case H_BODY: {
            size_t need = d->content_length - d->buf.len;
            if (d->buf.len == 0 && avail >= need) {
                d->hstate = H_HEADERS;
                pos += need;
                int rc = cb(FRAMING_MESSAGE, data + pos - need, need, arg);
                if (rc)
                    return rc;
                break;
            }
            size_t n = avail < need ? avail : need;
            int r = buf_append(d, data + pos, n, d->max_message);
            if (r < 0) {
                /* Out of memory: skip the rest of this body. */
                d->skip_left = d->content_length - d->buf.len;
                release_if_big(d);
                d->hstate = H_SKIP;
                int rc = cb(FRAMING_NO_MEMORY, NULL, 0, arg);
                if (rc)
                    return rc;
                break;
            }
            pos += n;
            if (d->buf.len == d->content_length) {
                d->hstate = H_HEADERS;
                int rc = cb(FRAMING_MESSAGE, d->buf.data, d->buf.len, arg);
                release_if_big(d);
                if (rc)
                    return rc;
            }
            break;
        }
        case H_RESYNC: {
            while (pos < len) {
                char c = (char)tolower((unsigned char)data[pos++]);
                if (c == k_resync[d->resync_match])
                    d->resync_match++;
                else
                    d->resync_match = (c == k_resync[0]) ? 1 : 0;
                if (d->resync_match == RESYNC_LEN) {
                    /* Found a header's start: read a block from here. */
                    d->resync_match = 0;
                    d->hstate = H_HEADERS;
                    reset_block(d);
                    dynbuf_reset(&d->buf);
                    if (buf_append(d, "Content-Length:", RESYNC_LEN, d->max_header) < 0)
                        return bad_header(d, "out of memory", cb, arg);
                    break;
                }
            }
            break;
        }
        default: { /* H_HEADERS */
            const char *nl = memchr(data + pos, '\n', avail);
            size_t seg = nl ? (size_t)(nl - (data + pos)) : avail;
            if (d->header_bytes + d->buf.len + seg + (nl ? 1 : 0) > d->max_header) {
                /* Rescan from here: the bytes already buffered are dropped. */
                int rc = bad_header(d, "header block too large", cb, arg);
                if (rc)
                    return rc;
                break;
            }
            if (!nl) {
                if (buf_append(d, data + pos, seg, d->max_header) < 0)
                    return bad_header(d, "out of memory", cb, arg);
                pos = len;
                break;
            }
            const char *line = data + pos;
            size_t line_len = seg;
            pos += seg + 1;
            if (d->buf.len > 0) {
                if (buf_append(d, line, seg, d->max_header) < 0) {
                    int rc = bad_header(d, "out of memory", cb, arg);
                    if (rc)
                        return rc;
                    break;
                }
                line = d->buf.data;
                line_len = d->buf.len;
            }
            d->header_bytes += line_len + 1;
            int rc = header_line(d, line, line_len, cb, arg);
            dynbuf_reset(&d->buf);
            if (rc)
                return rc;
            break;
        }
        }
    }
    return 0;
}

/* Feeds bytes that come after the (possible) byte order mark. */
static int feed_data(framing_decoder *d, const char *data, size_t len, framing_cb cb, void *arg) {
    if (d->mode == FRAMING_UNKNOWN) {
        size_t pos = 0;
        while (pos < len && is_space(data[pos]))
            pos++;
        if (pos == len)
            return 0;
        d->mode = isalpha((unsigned char)data[pos]) ? FRAMING_HEADERS : FRAMING_NEWLINE;
        data += pos;
        len -= pos;
    }
    if (d->mode == FRAMING_NEWLINE)
        return feed_newline(d, data, len, cb, arg);
    return feed_headers(d, data, len, cb, arg);
}

static const char k_bom[3] = {'\xEF', '\xBB', '\xBF'};

/*
 * Skips a UTF-8 byte order mark at the very start of the stream: some
 * tools (Windows editors, PowerShell pipes) write one, and it used to make
 * the first message fail. The mark may arrive split across chunks, so the
 * bytes matched so far are counted; if the stream turns out not to start
 * with a whole mark, the matched bytes are fed as ordinary data.
 */
int framing_decoder_feed(framing_decoder *d, const char *data, size_t len, framing_cb cb,
                         void *arg) {
    if (!d->bom_done) {
        while (len > 0 && d->bom_len < 3 && data[0] == k_bom[d->bom_len]) {
            d->bom_len++;
            data++;
            len--;
        }
        if (d->bom_len == 3) {
            d->bom_done = true;
        } else if (len > 0) {
            d->bom_done = true;
            if (d->bom_len > 0) {
                int rc = feed_data(d, k_bom, d->bom_len, cb, arg);
                if (rc)
                    return rc;
            }
        } else {
            return 0; /* all of it could still be the start of a mark */
        }
    }
    return feed_data(d, data, len, cb, arg);
}

int framing_decoder_finish(framing_decoder *d, framing_cb cb, void *arg) {
    int rc = 0;
    if (!d->bom_done) {
        /* The input was one or two bytes of a mark, and nothing else. */
        d->bom_done = true;
        if (d->bom_len > 0 && (rc = feed_data(d, k_bom, d->bom_len, cb, arg)) != 0)
            return rc;
    }
    if (d->mode == FRAMING_NEWLINE) {
        if (!d->discarding && d->buf.len > 0)
            rc = deliver_line(d, d->buf.data, d->buf.len, cb, arg);
        d->discarding = false;
    } else if (d->mode == FRAMING_HEADERS) {
        bool partial = false;
        if (d->hstate == H_HEADERS)
            partial = d->header_lines > 0 || !all_space(d->buf.data, d->buf.len);
        else if (d->hstate == H_BODY)
            partial = true;
        d->hstate = H_HEADERS;
        reset_block(d);
        dynbuf_reset(&d->buf);
        if (partial)
            rc = cb(FRAMING_TRUNCATED, NULL, 0, arg);
    }
    release_if_big(d);
    return rc;
}

size_t framing_prefix(framing_mode mode, size_t body_len, char out[FRAMING_PREFIX_MAX]) {
    if (mode != FRAMING_HEADERS) {
        out[0] = '\0';
        return 0;
    }
    int n = snprintf(out, FRAMING_PREFIX_MAX, "Content-Length: %zu\r\n\r\n", body_len);
    return n > 0 ? (size_t)n : 0;
}

const char *framing_suffix(framing_mode mode, size_t *len) {
    if (mode == FRAMING_HEADERS) {
        *len = 0;
        return "";
    }
    *len = 1;
    return "\n";
}
