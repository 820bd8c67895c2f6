/*
 * api.h - the Cloudflare SSO connector API under /client/v4, as the
 * reference describes it, with the simulator's error codes (docs/SIMULATOR.md).
 *
 * Order of checks for each request: rate limit, route (7003), method (405),
 * credentials (10000), then the body and the operation itself.
 */
#ifndef SIM_API_H
#define SIM_API_H

#include "app.h"
#include "reply.h"

/* Error codes in the Cloudflare envelope. */
#define API_E_MALFORMED_JSON 6007
#define API_E_MISSING_FIELD  1001
#define API_E_FIELD_TYPE     1002
#define API_E_NOT_FOUND      1003
#define API_E_UNKNOWN_FIELD  1004
#define API_E_BAD_DOMAIN     1005
#define API_E_NOT_VERIFIED   1006
#define API_E_EXISTS         1007
#define API_E_BAD_QUERY      1008
#define API_E_LIMIT          1009
#define API_E_ROUTE          7003
#define API_E_RATE_LIMITED   971
#define API_E_AUTH           10000
#define API_E_INTERNAL       10001
#define API_E_METHOD         10405
#define API_E_TOO_LARGE      10413

/* Answers one API request (any path outside /__sim/) into *out. */
void api_handle(sim_app *app, const sim_request *rq, sim_reply *out);

/* The 413 answer for a body over SIM_MAX_BODY. */
void api_too_large(sim_reply *out);

/* Milliseconds of CLOCK_MONOTONIC. */
long long api_now_ms(void);

#endif /* SIM_API_H */
