/*
 * sim_control.h - one call to cf-api-sim's control plane (/__sim/...) from
 * a program that drives it: the demo (examples/demo.c) and the soak
 * (bench/soak.c). Blocking libcurl easy: the simulator is on loopback and
 * answers in well under a millisecond. The test harness has its own
 * (th_sim_http, tests/harness), which also sends the API's credentials.
 */
#ifndef SIM_CONTROL_H
#define SIM_CONTROL_H

#include <jansson.h>

/* `method` `origin``path`, with `body` (JSON text, or NULL for none) sent
 * as application/json, waiting at most timeout_ms. Returns the parsed
 * answer (new reference) or NULL when there was none or it was not JSON;
 * *status (when not NULL) gets the HTTP status, or 0 when no answer came. */
json_t *sim_control_call(const char *origin, const char *method, const char *path, const char *body,
                         long timeout_ms, long *status);

#endif /* SIM_CONTROL_H */
