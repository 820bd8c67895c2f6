/*
 * control.h - the simulator's control plane under /__sim/ (no auth; JSON in
 * and out). Tests use it to reset the simulator, seed and change connectors
 * behind the provider's back, inject faults, and read the request log.
 *
 * Errors answer {"ok":false,"error":"..."} with 400, 404, 405 or 409.
 */
#ifndef SIM_CONTROL_H
#define SIM_CONTROL_H

#include "app.h"
#include "reply.h"

#include <stdbool.h>

/* True when `path` belongs to the control plane ("/__sim" or "/__sim/..."). */
bool control_owns(const char *path);

/* Answers one control-plane request into *out. */
void control_handle(sim_app *app, const sim_request *rq, sim_reply *out);

/* The 413 answer for a body over SIM_MAX_BODY. */
void control_too_large(sim_reply *out);

#endif /* SIM_CONTROL_H */
