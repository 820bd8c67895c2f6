/*
 * handshake.h - go-plugin's start-up handshake as Terraform 1.11 does it
 * (internal to the bridge). Pure functions: no I/O.
 *
 * Terraform starts the plugin with TF_PLUGIN_MAGIC_COOKIE set to a fixed
 * value and PLUGIN_PROTOCOL_VERSIONS listing the app protocol versions it
 * speaks ("5,6" or "6,5"). The plugin answers with one line on stdout:
 * CORE|APP|NETWORK|ADDRESS|PROTOCOL[|SERVERCERT], e.g.
 * "1|6|unix|/tmp/tfbridge-x/plugin.sock|grpc|MIIB...". Nothing may precede
 * that line on stdout.
 */
#ifndef TFBRIDGE_HANDSHAKE_H
#define TFBRIDGE_HANDSHAKE_H

#include <stddef.h>

#define HANDSHAKE_COOKIE_KEY   "TF_PLUGIN_MAGIC_COOKIE"
#define HANDSHAKE_COOKIE_VALUE "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
#define HANDSHAKE_APP_VERSION  6

/* go-plugin's words for a binary run by hand (printed on stderr, exit 1). */
#define HANDSHAKE_NOT_A_PROGRAM                                                                    \
    "This binary is a plugin. These are not meant to be executed directly.\n"                      \
    "Please execute the program that consumes these plugins, which will\n"                         \
    "load any plugins automatically\n"

typedef enum handshake_check_result {
    HANDSHAKE_OK = 0,
    HANDSHAKE_NO_COOKIE = -1,  /* missing or wrong magic cookie */
    HANDSHAKE_NO_VERSION = -2, /* 6 is not among the offered versions */
} handshake_check_result;

/* Checks the cookie and the offered versions (either may be NULL: unset).
 * The versions are a comma-separated list; spaces around numbers are
 * allowed. */
handshake_check_result handshake_check(const char *cookie, const char *versions);

/* Writes the handshake line (with its '\n') into out. `cert_b64` may be NULL
 * (plaintext). Returns the line's length, or -1 if it does not fit. */
int handshake_line(char *out, size_t cap, const char *network, const char *address,
                   const char *cert_b64);

#endif /* TFBRIDGE_HANDSHAKE_H */
