/*
 * server.h - the HTTP side: libmicrohttpd on 127.0.0.1, one request context
 * per request, bodies capped at SIM_MAX_BODY, and the faults that need the
 * connection itself (delay by suspend/resume, drop by closing it).
 *
 * Per API request (anything outside /__sim/), in this order: log it, take a
 * matching fault rule, wait out its delay (connection suspended), then drop
 * before handling, answer the fault's status, or hand the request to
 * api_handle -- and with drop "after", close the connection instead of
 * sending that answer.
 */
#ifndef SIM_SERVER_H
#define SIM_SERVER_H

#include "app.h"

#include <microhttpd.h>
#include <stddef.h>

/* Starts the daemon on 127.0.0.1:app->cfg.port with app->cfg.threads
 * worker threads. Returns 0 with the daemon and the bound port, or -1 with
 * a message in err. */
int server_start(sim_app *app, struct MHD_Daemon **out, unsigned *port, char *err, size_t errlen);

/* Resumes delayed requests and waits (up to 5 s) until they are answered,
 * then stops the daemon (closing every connection, joining its threads). */
void server_stop(sim_app *app, struct MHD_Daemon *d);

#endif /* SIM_SERVER_H */
