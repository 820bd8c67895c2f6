/*
 * bridge_start.c - how long Terraform waits for the provider's schema: from
 * starting terraform-provider-cloudflare to its first GetProviderSchema
 * answer, against provider-cloudflare's own start to the same answer over
 * JSON-RPC.
 *
 * The bridge is started as Terraform starts it (magic cookie, protocol
 * versions, a client certificate in PLUGIN_CLIENT_CERT made beforehand, as
 * Terraform makes its own before starting a plugin), and the clock runs
 * through its key and certificate generation, the child's start, the
 * handshake line, the TLS handshake, HTTP/2 and the call. The provider is
 * timed from its start to the answer of the same call on its stdio. The two
 * run interleaved, round after round, so that a machine whose speed drifts
 * affects both alike; the result is the median of each and the median of
 * the per-round ratios. An answer that is not a schema fails the run.
 *
 * Usage: bench-bridge-start [rounds]   (default 30)
 */
#include "grpc_client.h"
#include "harness.h"
#include "tfplugin6.pb-c.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#define WAIT_MS 30000

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what) {
    fprintf(stderr, "bench-bridge-start: %s\n", what);
    exit(1);
}

/* provider-cloudflare: start, GetProviderSchema, answer. Returns ms. */
static double time_provider(void) {
    th_proc p;
    const char *argv[] = {PROVIDER_BIN, NULL};
    double t0 = now_ms();
    if (th_proc_spawn(&p, argv, NULL) != 0)
        die("cannot start provider-cloudflare");
    json_t *resp = th_proc_call_new(&p, "GetProviderSchema", json_object(), WAIT_MS);
    double t = now_ms() - t0;
    if (!json_object_get(json_object_get(json_object_get(resp, "result"), "resource_schemas"),
                         "sso_connector"))
        die("provider-cloudflare did not answer its schema");
    json_decref(resp);
    th_proc_close_stdin(&p);
    int status;
    th_proc_wait(&p, WAIT_MS, &status);
    th_proc_destroy(&p);
    return t;
}

/* terraform-provider-cloudflare with AutoMTLS: start, handshake line, TLS,
 * HTTP/2, GetProviderSchema, answer. Returns ms. */
static double time_bridge(const gc_identity *client) {
    char env_cert[16384];
    snprintf(env_cert, sizeof(env_cert), "PLUGIN_CLIENT_CERT=%s", client->pem);
    const char *env[] = {GC_MAGIC_COOKIE_KEY "=" GC_MAGIC_COOKIE_VALUE,
                         "PLUGIN_PROTOCOL_VERSIONS=5,6", env_cert, NULL};
    const char *argv[] = {BRIDGE_BIN, NULL};
    th_proc p;
    char err[GC_ERR_MAX];
    double t0 = now_ms();
    if (th_proc_spawn(&p, argv, env) != 0)
        die("cannot start terraform-provider-cloudflare");
    char *line = th_proc_read_line(&p, WAIT_MS);
    gc_handshake hs;
    if (!line || gc_handshake_parse(line, &hs, err) != 0)
        die("no handshake line from the bridge");
    free(line);
    X509 *server = gc_handshake_cert(&hs);
    gc_connect_options co = {
        .server_cert = server, .client_cert = client->cert, .client_key = client->key};
    gc_conn *c = gc_connect(hs.network, hs.address, &co, err);
    if (!c)
        die(err);
    gc_result r;
    if (gc_call(c, "/tfplugin6.Provider/GetProviderSchema", NULL, 0, WAIT_MS, &r) != 0 ||
        r.grpc_status != 0)
        die("the bridge did not answer GetProviderSchema");
    double t = now_ms() - t0;
    Tfplugin6__GetProviderSchema__Response *schema =
        (Tfplugin6__GetProviderSchema__Response *)protobuf_c_message_unpack(
            &tfplugin6__get_provider_schema__response__descriptor, NULL, r.msg_len, r.msg);
    if (!schema || schema->n_resource_schemas != 1)
        die("the bridge's answer is not the provider's schema");
    protobuf_c_message_free_unpacked(&schema->base, NULL);
    gc_result_free(&r);
    gc_result done;
    gc_call(c, "/plugin.GRPCController/Shutdown", NULL, 0, WAIT_MS, &done);
    gc_result_free(&done);
    gc_conn_close(c);
    X509_free(server);
    int status;
    th_proc_wait(&p, WAIT_MS, &status);
    th_proc_destroy(&p);
    return t;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 30;
    if (rounds < 1)
        rounds = 1;
    signal(SIGPIPE, SIG_IGN);
    gc_identity client;
    char err[GC_ERR_MAX];
    if (gc_identity_generate(&client, err) != 0)
        die(err);
    double *prov = calloc((size_t)rounds, sizeof(double));
    double *bridge = calloc((size_t)rounds, sizeof(double));
    double *ratio = calloc((size_t)rounds, sizeof(double));
    time_provider(); /* warm-up: page cache, dynamic linking */
    time_bridge(&client);
    for (int i = 0; i < rounds; i++) {
        prov[i] = time_provider();
        bridge[i] = time_bridge(&client);
        ratio[i] = bridge[i] / prov[i];
    }
    printf("start to the first GetProviderSchema answer, %d interleaved rounds\n", rounds);
    printf("  provider-cloudflare (JSON-RPC on stdio)        median %7.2f ms\n",
           median(prov, rounds));
    printf("  terraform-provider-cloudflare (AutoMTLS gRPC)  median %7.2f ms\n",
           median(bridge, rounds));
    printf("  ratio bridge/provider                          median %7.2f   (goal <= 1.5)\n",
           median(ratio, rounds));
    free(prov);
    free(bridge);
    free(ratio);
    gc_identity_free(&client);
    return 0;
}
