/*
 * framing.h - cutting the input byte stream into messages, and framing the
 * messages we write the same way (internal to the protocol library).
 *
 * Two framings exist. Newline framing: one JSON text per line, "\n" or
 * "\r\n" terminated, blank lines ignored. Header framing (the LSP base
 * protocol): "Content-Length: N\r\n", other headers (ignored), an empty line,
 * then exactly N bytes of JSON. The decoder picks the framing from the first
 * byte of the stream that is not whitespace: a letter means header framing,
 * anything else ('{', '[', or garbage that will fail to parse) newline
 * framing. The choice is fixed for the rest of the stream.
 *
 * A UTF-8 byte order mark (EF BB BF) as the very first bytes of the stream
 * is skipped; anywhere else it is data.
 *
 * The decoder is incremental: feed it chunks of any size, as they come. It
 * reports each message (or problem) through a callback, in stream order.
 * It never buffers more than max_message + 1 bytes of one message: a message
 * over the limit is reported as FRAMING_TOO_LARGE as soon as that is known
 * and its bytes are skipped as they arrive (newline framing: up to the next
 * "\n"; header framing: N bytes). A header block is capped at max_header
 * bytes. A malformed header block is reported as FRAMING_BAD_HEADER; the
 * decoder then resynchronises by scanning for the next "Content-Length:"
 * (any case) and reading a header block from there.
 *
 * Lines are never copied when a whole message lies inside one chunk.
 */
#ifndef PROTOCOL_FRAMING_H
#define PROTOCOL_FRAMING_H

#include "dynbuf.h"

#include <stdbool.h>
#include <stddef.h>

#define FRAMING_DEFAULT_MAX_HEADER 8192
/* Room for "Content-Length: <20 digits>\r\n\r\n" and a NUL. */
#define FRAMING_PREFIX_MAX 48

typedef enum framing_mode {
    FRAMING_UNKNOWN = 0, /* nothing but whitespace seen yet */
    FRAMING_NEWLINE,
    FRAMING_HEADERS,
} framing_mode;

typedef enum framing_event {
    /* data/len: one whole message body (not NUL-terminated). */
    FRAMING_MESSAGE,
    /* A message over the limit is being skipped. len: its size when the
     * header said so, else 0 (newline framing: its end is not known yet). */
    FRAMING_TOO_LARGE,
    /* A malformed header block. data: a short NUL-terminated reason. */
    FRAMING_BAD_HEADER,
    /* The input ended in the middle of a message (from finish only). */
    FRAMING_TRUNCATED,
    /* A buffer for a message could not be allocated; it is skipped. */
    FRAMING_NO_MEMORY,
} framing_event;

/* Called for each event. `data` is borrowed for the duration of the call.
 * Return 0 to go on, anything else to make feed/finish stop at once and
 * return that value (the decoder stays consistent, but the rest of the
 * chunk is dropped). */
typedef int (*framing_cb)(framing_event ev, const char *data, size_t len, void *arg);

typedef struct framing_decoder {
    framing_mode mode;
    /* A UTF-8 byte order mark at the very start of the stream is skipped
     * (finding 14). bom_len: bytes of it matched so far; bom_done: the
     * start of the stream has been decided either way. */
    unsigned char bom_len;
    bool bom_done;
    size_t max_message;
    size_t max_header;
    /* Bytes of the message (or header line) being assembled, capped at
     * the larger of max_message + 1 and max_header. */
    dynbuf buf;
    /* Newline framing: skipping the rest of an oversized line. */
    bool discarding;
    /* Header framing. */
    int hstate;            /* see framing.c */
    size_t header_bytes;   /* size of the header block so far */
    size_t header_lines;   /* header lines seen in this block */
    bool has_length;       /* a Content-Length header was seen */
    size_t content_length; /* its value */
    size_t skip_left;      /* body bytes still to skip (too large) */
    size_t resync_match;   /* bytes of "content-length:" matched so far */
} framing_decoder;

/* Sets up an empty decoder. max_message 0 means 16 MiB; max_header 0 means
 * FRAMING_DEFAULT_MAX_HEADER. Allocates nothing. */
void framing_decoder_init(framing_decoder *d, size_t max_message, size_t max_header);
/* Releases the buffer. The decoder can be initialised again. */
void framing_decoder_free(framing_decoder *d);
/* Bytes the decoder's buffer can hold as allocated now (tests and the
 * fuzzer check that it never passes the limits). */
size_t framing_decoder_buffer_size(const framing_decoder *d);

/* Feeds a chunk. Returns 0, or the first non-zero value a callback returned. */
int framing_decoder_feed(framing_decoder *d, const char *data, size_t len, framing_cb cb,
                         void *arg);
/* Tells the decoder the input ended. In newline framing a last line without
 * "\n" is delivered as a message; an incomplete header block or body is
 * reported as FRAMING_TRUNCATED. Returns like feed. */
int framing_decoder_finish(framing_decoder *d, framing_cb cb, void *arg);

/* Writes what goes before a message body of body_len bytes in `mode` into
 * out (NUL-terminated) and returns its length: the header block in header
 * framing, nothing in newline framing (or when the mode is not known yet). */
size_t framing_prefix(framing_mode mode, size_t body_len, char out[FRAMING_PREFIX_MAX]);
/* What goes after a message body: "\n" in newline framing, "" in header
 * framing. Static string; its length in *len. */
const char *framing_suffix(framing_mode mode, size_t *len);

#endif /* PROTOCOL_FRAMING_H */
