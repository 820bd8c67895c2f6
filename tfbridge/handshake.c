/*
 * handshake.c - the go-plugin handshake line and its environment checks.
 */
#include "handshake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

handshake_check_result handshake_check(const char *cookie, const char *versions) {
    if (!cookie || strcmp(cookie, HANDSHAKE_COOKIE_VALUE) != 0)
        return HANDSHAKE_NO_COOKIE;
    if (!versions)
        return HANDSHAKE_NO_VERSION;
    const char *p = versions;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break; /* not a number: the rest cannot be read */
        while (*end == ' ')
            end++;
        if ((*end == ',' || *end == '\0') && v == HANDSHAKE_APP_VERSION)
            return HANDSHAKE_OK;
        p = end;
        while (*p && *p != ',')
            p++;
    }
    return HANDSHAKE_NO_VERSION;
}

int handshake_line(char *out, size_t cap, const char *network, const char *address,
                   const char *cert_b64) {
    int n;
    if (cert_b64 && *cert_b64)
        n = snprintf(out, cap, "1|%d|%s|%s|grpc|%s\n", HANDSHAKE_APP_VERSION, network, address,
                     cert_b64);
    else
        n = snprintf(out, cap, "1|%d|%s|%s|grpc\n", HANDSHAKE_APP_VERSION, network, address);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    return n;
}
