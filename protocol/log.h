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
 * appears in the formatted message is replaced by "***" before writing. */
void log_write(log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(log_level level, const char *module, const char *fmt, va_list ap);

#define log_trace(mod, ...) log_write(LOG_LEVEL_TRACE, mod, __VA_ARGS__)
#define log_debug(mod, ...) log_write(LOG_LEVEL_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...)  log_write(LOG_LEVEL_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_write(LOG_LEVEL_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_write(LOG_LEVEL_ERROR, mod, __VA_ARGS__)

/* Registers a secret (token, key) so that no log line ever contains it.
 * The string is copied. Secrets shorter than 4 bytes are ignored (they
 * would mask ordinary text). Returns 0 or UV_ENOMEM. */
int log_add_secret(const char *secret);
/* Forgets every registered secret (tests, shutdown). */
void log_clear_secrets(void);
/* Returns a new malloc'd copy of `text` with every registered secret
 * replaced by "***". The caller frees it. NULL on allocation failure. */
char *log_redact(const char *text);

#endif /* PROTOCOL_LOG_H */
