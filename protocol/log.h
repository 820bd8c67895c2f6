/*
 * log.h - the process's log: one line per message on stderr, never on
 * stdout, and the one registry of secrets that no line may contain.
 *
 * Every layer logs through here (the JSON-RPC server, the Cloudflare
 * client, the bridge), so the masking rule is written once. Including
 * this header does not pull in the JSON-RPC server (protocol.h).
 */
#ifndef PROTOCOL_LOG_H
#define PROTOCOL_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* ------------------------------------------------------------------ */
/* Logging: one line per message on stderr, never on stdout.           */
/* ------------------------------------------------------------------ */

typedef enum log_level {
    LOG_LEVEL_TRACE = 0,
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
    LOG_LEVEL_OFF,
} log_level;

/* Reads TF_LOG_PROVIDER, else TF_LOG (TRACE, DEBUG, INFO, WARN, ERROR, OFF,
 * case-insensitive; JSON means TRACE as hclog-style JSON lines). Default WARN,
 * text lines. */
void log_configure_from_env(void);
void log_configure(log_level level, bool json);
/* Switches between text lines and hclog-style JSON lines, keeping the
 * level (a host that re-logs our stderr, like Terraform, parses JSON). */
void log_use_json(bool json);
bool log_enabled(log_level level);

/* Writes one log line if `level` is enabled. `module` names the subsystem
 * ("provider.rpc", "provider.cfapi", ...). Every registered secret that
 * appears in the formatted message, literally or JSON-escaped, is replaced
 * by "***" before the message is cut to its 64 KiB limit and written. */
void log_write(log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(log_level level, const char *module, const char *fmt, va_list ap);

#define log_trace(mod, ...) log_write(LOG_LEVEL_TRACE, mod, __VA_ARGS__)
#define log_debug(mod, ...) log_write(LOG_LEVEL_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...)  log_write(LOG_LEVEL_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_write(LOG_LEVEL_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_write(LOG_LEVEL_ERROR, mod, __VA_ARGS__)

/*
 * The secret registry and the one masking rule of the process. Every layer
 * masks through these functions, never with a rule of its own:
 *
 *  - every registered secret is masked, whatever its length (one byte or
 *    more), wherever it occurs, literally or with any of its characters
 *    JSON-escaped ("\u0061", "\/", surrogate pairs): an API or a proxy
 *    echoing the Authorization header in a JSON body must not leak it;
 *  - masking comes first, cutting second, in every path: a text is never
 *    cut to a length and then masked, which would leave the prefix of a
 *    secret that straddled the cut;
 *  - each run of masked bytes becomes one "***", so overlapping secrets
 *    leave no fragment visible.
 */

/* At most this many distinct secrets are registered in one process. A
 * process holds one or two credentials; the cap keeps a client that sends
 * a new one with every message from growing the list (and the cost of
 * every masked line) without bound. */
#define LOG_MAX_SECRETS 64

/* Registers a secret (token, key) so that no log line, excerpt or redacted
 * text ever contains it. The string is copied; an empty one, or one already
 * registered, is ignored. Returns 0, UV_ENOMEM, or UV_ENOSPC when
 * LOG_MAX_SECRETS are registered: the caller must then refuse the value
 * (fail closed), as it could not be masked. */
int log_add_secret(const char *secret);
/* Forgets every registered secret (tests, shutdown). */
void log_clear_secrets(void);
/* Returns a new malloc'd copy of `text` with every registered secret
 * masked. The caller frees it. NULL on allocation failure (or NULL text). */
char *log_redact(const char *text);
/* Masks text[0..len) whole, then keeps at most `max` bytes of the result
 * ("..." appended when cut), with control characters replaced by spaces and
 * bytes past ASCII by '?': an excerpt of an API answer fit for a diagnostic
 * or a log line. New malloc'd string; NULL on allocation failure. */
char *log_redact_excerpt(const char *text, size_t len, size_t max);
/* For a text that was cut at `len` bytes by someone else (a line read with
 * a cap): masks text[0..len) and keeps only the first len - L bytes of it,
 * where L is the longest escaped form of any registered secret, so that a
 * secret cut in two at `len` leaves no prefix. Returns a new string (its
 * length in *out_len) or NULL on allocation failure. With no secret
 * registered it is a plain copy. */
char *log_redact_cut_text(const char *text, size_t len, size_t *out_len);
/* Logs "<prefix><body>" at `level` (TRACE, normally) with the body masked
 * whole and only then cut to `max` bytes ("..." when cut). Costs nothing
 * when the level is off. */
void log_body(log_level level, const char *module, const char *prefix, const char *body, size_t len,
              size_t max);

#endif /* PROTOCOL_LOG_H */
