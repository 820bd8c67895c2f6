/*
 * test_grpc_bridge.c - the real terraform-provider-cloudflare, started the
 * way Terraform starts it and driven over gRPC by our own client
 * (grpc_client.h) against cf-api-sim, without Terraform.
 *
 * Run as `test_tfbridge_grpc_bridge plaintext` (TF_DISABLE_PLUGIN_TLS: no
 * PLUGIN_CLIENT_CERT, h2c) or `... mtls` (AutoMTLS). Every case starts a
 * fresh bridge; one simulator serves the whole run and is reset per case.
 *
 * Covered: the handshake line; every tfplugin6 method the bridge serves,
 * through a create/read/upgrade/plan/import/data source/delete life cycle;
 * go-plugin's side services (broker and stdio streams held open, health,
 * Shutdown and the exit that must follow within Terraform's 2 s); wire
 * conditions (messages cut into many DATA frames, over 16 KiB, calls
 * answered out of order, malformed protobuf and framing, an oversized
 * message, a second connection that speaks garbage or nothing, a wrong
 * client certificate); failures that must become diagnostics (unknown
 * types, values of the wrong msgpack type, a provider child that crashes
 * or hangs); and start-up refusals (magic cookie, protocol versions).
 *
 * With TFBRIDGE_TEST_VALGRIND=1 the bridge runs inside valgrind (through
 * the harness's TH_VALGRIND, set only while the bridge is spawned, so the
 * simulator runs natively): the checks that the bridge exits 0 then catch
 * its memory errors and leaks (status 99), and deadlines are stretched.
 * TH_VALGRIND=1 itself puts every child, the simulator too, in valgrind.
 * TFBRIDGE_TEST_BIN names another bridge executable to test (an installed
 * one, say); provider-cloudflare must be beside it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "grpc_client.h"
#include "harness.h"
#include "msgval.h"
#include "plugin.pb-c.h"
#include "tfplugin6.pb-c.h"

#include <errno.h>
#include <libgen.h>
#include <msgpack.h>
#include <nghttp2/nghttp2.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TFBRIDGE_BIN
#define TFBRIDGE_BIN "terraform-provider-cloudflare"
#endif

#define ACCOUNT "023e105f4ecef8ad9ca31a8372d0c353"
#define TOKEN   "grpc-bridge-test-token"
#define RES     "cloudflare_sso_connector"
#define DS_ONE  "cloudflare_sso_connector"
#define DS_ALL  "cloudflare_sso_connectors"
#define P(m)    "/tfplugin6.Provider/" m

/* Max message size the bridge announces in h2server.h (its default). */
#define BRIDGE_MAX_MESSAGE (16u * 1024u * 1024u)

static bool g_tls;
static th_sim g_sim;
static int g_slow = 1;                          /* deadline factor: larger under valgrind */
static bool g_valgrind_bridge;                  /* TFBRIDGE_TEST_VALGRIND=1 */
static const char *g_bridge_bin = TFBRIDGE_BIN; /* or $TFBRIDGE_TEST_BIN */
static int g_domains;

typedef struct session {
    bool started;
    gc_plugin plugin;
    gc_conn *conn;
    int child_pid; /* when a case touched the child: killed at teardown */
    json_t *provider_type, *res_type, *ds_one_type, *ds_all_type;
} session;

static session g_s;

#define CALL_MS (30000 * g_slow)

/* ------------------------------------------------------------------ */
/* Sessions                                                            */
/* ------------------------------------------------------------------ */

static void drain_stderr(void *arg) {
    th_proc_drain(&((session *)arg)->plugin.proc);
}

static const char *bridge_stderr(session *s) {
    th_proc_drain(&s->plugin.proc);
    return s->plugin.proc.err_buf ? s->plugin.proc.err_buf : "";
}

/* Starts the bridge with extra environment (may be NULL) and connects. */
static void session_start_env(session *s, const char *const *env) {
    memset(s, 0, sizeof(*s));
    char err[GC_ERR_MAX];
    gc_plugin_options o = {.exe = g_bridge_bin,
                           .tls = g_tls,
                           .env = env,
                           .versions = g_tls ? "6,5" : "5,6",
                           .handshake_timeout_ms = 30000 * g_slow};
    s->started = true;
    if (g_valgrind_bridge)
        setenv("TH_VALGRIND", "1", 1);
    int rc = gc_plugin_start(&s->plugin, &o, err);
    if (g_valgrind_bridge)
        unsetenv("TH_VALGRIND");
    if (rc != 0)
        fail_msg("starting the bridge: %s\nstderr: %s", err, bridge_stderr(s));
    s->conn = gc_plugin_connect(&s->plugin, NULL, err);
    if (!s->conn)
        fail_msg("connecting to the bridge: %s\nstderr: %s", err, bridge_stderr(s));
    gc_conn_set_idle(s->conn, drain_stderr, s);
}

static void session_start(session *s) {
    session_start_env(s, NULL);
}

static void session_end(session *s) {
    if (!s->started)
        return;
    gc_conn_close(s->conn);
    gc_plugin_destroy(&s->plugin);
    if (s->child_pid > 0)
        kill(s->child_pid, SIGKILL); /* a SIGSTOPped child would stay forever */
    json_decref(s->provider_type);
    json_decref(s->res_type);
    json_decref(s->ds_one_type);
    json_decref(s->ds_all_type);
    memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------------ */
/* Calls                                                               */
/* ------------------------------------------------------------------ */

/* Checks that an answer is a well-formed successful unary answer: HEADERS
 * (:status 200, application/grpc), one uncompressed message in DATA, then
 * trailers with grpc-status 0. */
static void assert_ok_answer(const gc_result *r, const char *path) {
    if (r->error[0])
        fail_msg("%s: %s", path, r->error);
    if (r->grpc_status != 0)
        fail_msg("%s: grpc-status %d (%s)", path, r->grpc_status,
                 r->grpc_message ? r->grpc_message : "no message");
    assert_int_equal(r->http_status, 200);
    assert_non_null(r->content_type);
    assert_string_equal(r->content_type, "application/grpc");
    assert_true(r->ended);
    assert_false(r->reset);
    assert_false(r->trailers_only);
    assert_int_equal(r->headers_frames, 2);  /* headers, then trailers */
    assert_false(r->status_in_headers);      /* grpc-status only in the trailers */
    assert_true(r->max_data_frame <= 16384); /* our (default) SETTINGS_MAX_FRAME_SIZE */
    assert_false(r->body_malformed);
    assert_false(r->compressed);
    assert_int_equal(r->n_messages, 1);
}

/* Checks a trailers-only error answer with the given status. */
static void assert_status_only(const gc_result *r, int status, const char *what) {
    if (r->error[0])
        fail_msg("%s: %s", what, r->error);
    if (r->grpc_status != status)
        fail_msg("%s: expected grpc-status %d, got %d (%s)", what, status, r->grpc_status,
                 r->grpc_message ? r->grpc_message : "no message");
    assert_int_equal(r->http_status, 200);
    assert_non_null(r->content_type);
    assert_string_equal(r->content_type, "application/grpc");
    assert_true(r->trailers_only);
    assert_int_equal(r->headers_frames, 1);
    assert_int_equal(r->data_frames, 0);
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len) {
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len ? *len : 1);
    assert_non_null(buf);
    protobuf_c_message_pack(m, buf);
    return buf;
}

/* Calls `path` with `req` on `c` and returns the unpacked answer (free it
 * with protobuf_c_message_free_unpacked). */
static void *call_on(gc_conn *c, const char *path, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc) {
    size_t len;
    uint8_t *msg = pack(req, &len);
    gc_result r;
    gc_call(c, path, msg, len, CALL_MS, &r);
    free(msg);
    assert_ok_answer(&r, path);
    ProtobufCMessage *resp = protobuf_c_message_unpack(resp_desc, NULL, r.msg_len, r.msg);
    if (!resp)
        fail_msg("%s: the answer is not a valid %s", path, resp_desc->name);
    gc_result_free(&r);
    return resp;
}

static void *call(session *s, const char *path, const void *req,
                  const ProtobufCMessageDescriptor *resp_desc) {
    return call_on(s->conn, path, req, resp_desc);
}

static void free_msg(void *m) {
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}

/* The protobuf answer of a finished call with result r. */
static void *unpack_result(const gc_result *r, const char *path,
                           const ProtobufCMessageDescriptor *d) {
    assert_ok_answer(r, path);
    void *m = protobuf_c_message_unpack(d, NULL, r->msg_len, r->msg);
    if (!m)
        fail_msg("%s: the answer is not a valid %s", path, d->name);
    return m;
}

/* ------------------------------------------------------------------ */
/* Diagnostics                                                         */
/* ------------------------------------------------------------------ */

static void print_diags(size_t n, Tfplugin6__Diagnostic **d) {
    for (size_t i = 0; i < n; i++)
        print_message("  diagnostic %d: %s: %s\n", d[i]->severity, d[i]->summary, d[i]->detail);
}

static void assert_no_errors(size_t n, Tfplugin6__Diagnostic **d, const char *what) {
    for (size_t i = 0; i < n; i++) {
        assert_true(d[i]->severity == TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR ||
                    d[i]->severity == TFPLUGIN6__DIAGNOSTIC__SEVERITY__WARNING);
        if (d[i]->severity == TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR) {
            print_diags(n, d);
            fail_msg("%s: unexpected error diagnostic: %s: %s", what, d[i]->summary, d[i]->detail);
        }
    }
}

/* The first error diagnostic whose summary contains `summary` (NULL: any
 * error); fails the test when there is none. */
static const Tfplugin6__Diagnostic *expect_error(size_t n, Tfplugin6__Diagnostic **d,
                                                 const char *summary, const char *what) {
    for (size_t i = 0; i < n; i++) {
        if (d[i]->severity == TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR &&
            (!summary || strstr(d[i]->summary, summary)))
            return d[i];
    }
    print_diags(n, d);
    fail_msg("%s: no error diagnostic \"%s\"", what, summary ? summary : "(any)");
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Values                                                              */
/* ------------------------------------------------------------------ */

/* ["object", {name: type}] of a block as the bridge announced it. */
static json_t *block_type(const Tfplugin6__Schema__Block *b) {
    json_t *attrs = json_object();
    for (size_t i = 0; i < b->n_attributes; i++) {
        const Tfplugin6__Schema__Attribute *a = b->attributes[i];
        assert_null(a->nested_type); /* this provider has none */
        json_error_t e;
        json_t *t = json_loadb((const char *)a->type.data, a->type.len, JSON_DECODE_ANY, &e);
        if (!t)
            fail_msg("attribute %s: type %.*s is not JSON: %s", a->name, (int)a->type.len,
                     (const char *)a->type.data, e.text);
        char why[MSGVAL_ERR_MAX];
        if (msgval_type_check(t, why) != 0)
            fail_msg("attribute %s: type %.*s is not a type: %s", a->name, (int)a->type.len,
                     (const char *)a->type.data, why);
        json_object_set_new(attrs, a->name, t);
    }
    assert_int_equal(b->n_block_types, 0);
    return json_pack("[s,o]", "object", attrs);
}

static Tfplugin6__Schema *schema_of(size_t n, void **entries, const char *name) {
    for (size_t i = 0; i < n; i++) {
        Tfplugin6__GetProviderSchema__Response__ResourceSchemasEntry *e = entries[i];
        if (strcmp(e->key, name) == 0)
            return e->value;
    }
    return NULL;
}

/* Fetches the schema and keeps the object types of the provider block, the
 * resource and both data sources. */
static void session_schema(session *s) {
    Tfplugin6__GetProviderSchema__Request req = TFPLUGIN6__GET_PROVIDER_SCHEMA__REQUEST__INIT;
    Tfplugin6__GetProviderSchema__Response *r = call(
        s, P("GetProviderSchema"), &req, &tfplugin6__get_provider_schema__response__descriptor);
    assert_no_errors(r->n_diagnostics, r->diagnostics, "GetProviderSchema");
    assert_non_null(r->provider);
    assert_non_null(r->provider->block);
    json_decref(s->provider_type); /* a second fetch replaces the first */
    json_decref(s->res_type);
    json_decref(s->ds_one_type);
    json_decref(s->ds_all_type);
    s->provider_type = block_type(r->provider->block);
    Tfplugin6__Schema *res = schema_of(r->n_resource_schemas, (void **)r->resource_schemas, RES);
    Tfplugin6__Schema *one =
        schema_of(r->n_data_source_schemas, (void **)r->data_source_schemas, DS_ONE);
    Tfplugin6__Schema *all =
        schema_of(r->n_data_source_schemas, (void **)r->data_source_schemas, DS_ALL);
    assert_non_null(res);
    assert_non_null(one);
    assert_non_null(all);
    s->res_type = block_type(res->block);
    s->ds_one_type = block_type(one->block);
    s->ds_all_type = block_type(all->block);
    free_msg(r);
}

/* A new DynamicValue holding `value` (borrowed) as msgpack of `type`. */
static Tfplugin6__DynamicValue *dv_new(const json_t *value, const json_t *type) {
    Tfplugin6__DynamicValue *dv = malloc(sizeof(*dv));
    assert_non_null(dv);
    tfplugin6__dynamic_value__init(dv);
    char *bytes = NULL;
    size_t len = 0;
    char err[MSGVAL_ERR_MAX];
    if (msgval_encode(value, type, &bytes, &len, err) != 0)
        fail_msg("test value does not fit its type: %s", err);
    dv->msgpack.data = (uint8_t *)bytes;
    dv->msgpack.len = len;
    return dv;
}

/* A DynamicValue of raw msgpack bytes (copied). */
static Tfplugin6__DynamicValue *dv_raw(const void *bytes, size_t len) {
    Tfplugin6__DynamicValue *dv = malloc(sizeof(*dv));
    assert_non_null(dv);
    tfplugin6__dynamic_value__init(dv);
    dv->msgpack.data = malloc(len ? len : 1);
    assert_non_null(dv->msgpack.data);
    memcpy(dv->msgpack.data, bytes, len);
    dv->msgpack.len = len;
    return dv;
}

static Tfplugin6__DynamicValue *dv_null(void) {
    return dv_raw("\xc0", 1);
}

static void dv_free(Tfplugin6__DynamicValue *dv) {
    if (dv) {
        free(dv->msgpack.data);
        free(dv);
    }
}

/* The JSON value of a DynamicValue from the bridge (new reference). */
static json_t *dv_json(const Tfplugin6__DynamicValue *dv, const json_t *type, const char *what) {
    if (!dv)
        fail_msg("%s: no DynamicValue", what);
    assert_int_equal(dv->json.len, 0); /* the bridge answers msgpack */
    json_t *out = NULL;
    char err[MSGVAL_ERR_MAX];
    if (msgval_decode(dv->msgpack.data, dv->msgpack.len, type, &out, err) != 0)
        fail_msg("%s: not a msgpack value of its type: %s", what, err);
    return out;
}

static bool dv_is_null(const Tfplugin6__DynamicValue *dv) {
    return dv && dv->msgpack.len == 1 && dv->msgpack.data[0] == 0xc0;
}

static const char *jstr(const json_t *obj, const char *key) {
    const char *s = json_string_value(json_object_get(obj, key));
    if (!s)
        fail_msg("no string \"%s\" in %s", key, json_dumps(obj, JSON_COMPACT));
    return s;
}

/* ------------------------------------------------------------------ */
/* The simulator                                                       */
/* ------------------------------------------------------------------ */

/* The connector with that id in the simulator, or NULL (new reference). */
static json_t *sim_connector(const char *id) {
    long status = 0;
    json_t *all = th_sim_http(&g_sim, "GET", "/__sim/connectors", NULL, false, &status);
    assert_int_equal(status, 200);
    json_t *found = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(all, "connectors"), i, c) {
        if (strcmp(json_string_value(json_object_get(c, "id")), id) == 0)
            found = json_incref(c);
    }
    json_decref(all);
    return found;
}

static void sim_fault(const char *rule) {
    long status = 0;
    json_t *r = th_sim_http(&g_sim, "POST", "/__sim/faults", rule, false, &status);
    json_decref(r);
    assert_int_equal(status, 201);
}

/* ------------------------------------------------------------------ */
/* Provider steps                                                      */
/* ------------------------------------------------------------------ */

static void session_configure(session *s) {
    if (!s->provider_type)
        session_schema(s);
    json_t *config = json_pack("{s:s,s:s}", "base_url", g_sim.base_url, "api_token", TOKEN);
    Tfplugin6__ClientCapabilities caps = TFPLUGIN6__CLIENT_CAPABILITIES__INIT;
    caps.write_only_attributes_allowed = true;
    Tfplugin6__ConfigureProvider__Request req = TFPLUGIN6__CONFIGURE_PROVIDER__REQUEST__INIT;
    req.terraform_version = "1.11.4";
    req.config = dv_new(config, s->provider_type);
    req.client_capabilities = &caps;
    Tfplugin6__ConfigureProvider__Response *r =
        call(s, P("ConfigureProvider"), &req, &tfplugin6__configure_provider__response__descriptor);
    assert_no_errors(r->n_diagnostics, r->diagnostics, "ConfigureProvider");
    free_msg(r);
    dv_free(req.config);
    json_decref(config);
}

static json_t *resource_config(const char *domain) {
    return json_pack("{s:s,s:s}", "account_id", ACCOUNT, "email_domain", domain);
}

/* Plans and applies a create; returns the new state (new reference). */
static json_t *create_connector(session *s, const char *domain) {
    json_t *config = resource_config(domain);
    Tfplugin6__DynamicValue *cfg = dv_new(config, s->res_type);
    Tfplugin6__DynamicValue *prior = dv_null();
    Tfplugin6__PlanResourceChange__Request plan = TFPLUGIN6__PLAN_RESOURCE_CHANGE__REQUEST__INIT;
    plan.type_name = RES;
    plan.prior_state = prior;
    plan.proposed_new_state = cfg;
    plan.config = cfg;
    Tfplugin6__PlanResourceChange__Response *pr = call(
        s, P("PlanResourceChange"), &plan, &tfplugin6__plan_resource_change__response__descriptor);
    assert_no_errors(pr->n_diagnostics, pr->diagnostics, "PlanResourceChange (create)");
    Tfplugin6__ApplyResourceChange__Request apply = TFPLUGIN6__APPLY_RESOURCE_CHANGE__REQUEST__INIT;
    apply.type_name = RES;
    apply.prior_state = prior;
    apply.planned_state = pr->planned_state;
    apply.config = cfg;
    apply.planned_private = pr->planned_private;
    Tfplugin6__ApplyResourceChange__Response *ar =
        call(s, P("ApplyResourceChange"), &apply,
             &tfplugin6__apply_resource_change__response__descriptor);
    assert_no_errors(ar->n_diagnostics, ar->diagnostics, "ApplyResourceChange (create)");
    json_t *state = dv_json(ar->new_state, s->res_type, "new_state");
    free_msg(ar);
    free_msg(pr);
    dv_free(prior);
    dv_free(cfg);
    json_decref(config);
    return state;
}

static const char *next_domain(char *buf, size_t cap) {
    snprintf(buf, cap, "grpc-%s-%d.example.com", g_tls ? "mtls" : "plain", ++g_domains);
    return buf;
}

/* A packed ReadResource request for `state` (msgpack of res_type). */
static uint8_t *read_request(session *s, const json_t *state, const void *priv, size_t priv_len,
                             size_t *len) {
    Tfplugin6__ReadResource__Request req = TFPLUGIN6__READ_RESOURCE__REQUEST__INIT;
    req.type_name = RES;
    req.current_state = dv_new(state, s->res_type);
    req.private_.data = (uint8_t *)priv;
    req.private_.len = priv_len;
    uint8_t *out = pack(&req.base, len);
    dv_free(req.current_state);
    return out;
}

static uint8_t *validate_request(session *s, const char *domain, size_t *len) {
    json_t *config = resource_config(domain);
    Tfplugin6__ValidateResourceConfig__Request req =
        TFPLUGIN6__VALIDATE_RESOURCE_CONFIG__REQUEST__INIT;
    req.type_name = RES;
    req.config = dv_new(config, s->res_type);
    uint8_t *out = pack(&req.base, len);
    dv_free(req.config);
    json_decref(config);
    return out;
}

/* Shutdown as Terraform ends every provider process: answered, then the
 * process exits 0 within 2 s, its socket (and private directory) gone,
 * and stdout never held more than the handshake line. */
static void session_shutdown(session *s) {
    gc_result r; /* plugin.Empty has no fields: an empty message */
    gc_call(s->conn, "/plugin.GRPCController/Shutdown", NULL, 0, CALL_MS, &r);
    assert_ok_answer(&r, "Shutdown");
    assert_int_equal(r.msg_len, 0); /* plugin.Empty */
    gc_result_free(&r);
    long t0 = gc_now_ms();
    int status = 0;
    if (th_proc_wait(&s->plugin.proc, 2000 * g_slow, &status) != 0)
        fail_msg("the bridge did not exit within 2 s of Shutdown\nstderr: %s", bridge_stderr(s));
    long took = gc_now_ms() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("the bridge ended with status 0x%x after Shutdown\nstderr: %s", status,
                 bridge_stderr(s));
    print_message("  bridge exited %ld ms after Shutdown\n", took);
    struct stat st;
    if (stat(s->plugin.hs.address, &st) == 0)
        fail_msg("the socket %s is still there after exit", s->plugin.hs.address);
    char dir[sizeof(s->plugin.hs.address)];
    snprintf(dir, sizeof(dir), "%s", s->plugin.hs.address);
    if (stat(dirname(dir), &st) == 0)
        fail_msg("the socket's directory %s is still there after exit", dir);
    /* The connection ends with the process, after a GOAWAY. */
    assert_int_equal(gc_conn_wait_closed(s->conn, 2000 * g_slow), 0);
    if (!gc_conn_goaway(s->conn))
        fail_msg("the connection closed without a GOAWAY frame (%s)", gc_conn_error(s->conn));
    /* Nothing on stdout after the handshake line. */
    char *more = th_proc_read_line(&s->plugin.proc, 500);
    if (more || s->plugin.proc.out_len != 0)
        fail_msg("stdout carried more than the handshake line: %s",
                 more ? more : s->plugin.proc.out_buf);
    assert_true(strstr(bridge_stderr(s), "shutdown took too long") == NULL);
}

/* ------------------------------------------------------------------ */
/* Setup                                                               */
/* ------------------------------------------------------------------ */

static int setup(void **state) {
    (void)state;
    return th_sim_reset(&g_sim);
}

static int teardown(void **state) {
    (void)state;
    session_end(&g_s);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The handshake and the connection                                    */
/* ------------------------------------------------------------------ */

static void test_handshake_line(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    const gc_handshake *hs = &s->plugin.hs;
    print_message("  handshake: %.100s...\n", s->plugin.line);
    assert_null(strchr(s->plugin.line, '\r')); /* one line, ended by '\n' alone */
    assert_null(strchr(s->plugin.line, ' '));
    assert_int_equal(hs->core, 1);
    assert_int_equal(hs->app, 6);
    assert_string_equal(hs->network, "unix");
    assert_string_equal(hs->protocol, "grpc");
    struct stat st;
    assert_int_equal(stat(hs->address, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    if (g_tls) {
        /* base64 std alphabet, no padding, of a DER certificate for
         * localhost (SAN), usable for server auth, valid now. */
        assert_true(strlen(hs->cert_b64) > 50);
        assert_null(strchr(hs->cert_b64, '='));
        X509 *cert = s->plugin.server_cert;
        assert_non_null(cert);
        assert_int_equal(
            X509_check_host(cert, "localhost", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL), 1);
        assert_int_equal(X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0), 1);
        assert_true(X509_cmp_current_time(X509_get0_notBefore(cert)) < 0);
        assert_true(X509_cmp_current_time(X509_get0_notAfter(cert)) > 0);
        assert_string_equal(gc_conn_alpn(s->conn), "h2");
    } else {
        /* Five fields: no certificate field at all, not an empty one. */
        assert_string_equal(hs->cert_b64, "");
        int bars = 0;
        for (const char *p = s->plugin.line; *p; p++)
            bars += *p == '|';
        assert_int_equal(bars, 4);
    }
    /* The server's first frame is its SETTINGS (grpc-go insists). */
    long deadline = gc_now_ms() + 5000L * g_slow;
    while (gc_conn_first_frame_type(s->conn) < 0 && gc_now_ms() < deadline)
        gc_conn_pump(s->conn, 50);
    assert_int_equal(gc_conn_first_frame_type(s->conn), NGHTTP2_SETTINGS);
    /* grpc-go's BDP ping is acknowledged with its payload. */
    static const uint8_t bdp[8] = {0x02, 0x04, 0x10, 0x10, 0x09, 0x0e, 0x07, 0x07};
    assert_int_equal(gc_conn_ping(s->conn, bdp, 5000 * g_slow), 0);
    session_shutdown(s);
}

static void test_get_provider_schema(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    Tfplugin6__GetProviderSchema__Request req = TFPLUGIN6__GET_PROVIDER_SCHEMA__REQUEST__INIT;
    Tfplugin6__GetProviderSchema__Response *r = call(
        s, P("GetProviderSchema"), &req, &tfplugin6__get_provider_schema__response__descriptor);
    assert_no_errors(r->n_diagnostics, r->diagnostics, "GetProviderSchema");
    /* The provider block is there (Terraform dereferences it). */
    assert_non_null(r->provider);
    assert_non_null(r->provider->block);
    json_t *pt = block_type(r->provider->block);
    assert_non_null(json_object_get(json_array_get(pt, 1), "base_url"));
    assert_non_null(json_object_get(json_array_get(pt, 1), "api_token"));
    json_decref(pt);
    /* Every type name has the provider's prefix; every attribute's type
     * parses (block_type checks it). */
    assert_true(r->n_resource_schemas >= 1);
    assert_true(r->n_data_source_schemas >= 2);
    for (size_t i = 0; i < r->n_resource_schemas; i++) {
        assert_true(strncmp(r->resource_schemas[i]->key, "cloudflare_", 11) == 0);
        assert_non_null(r->resource_schemas[i]->value->block);
        json_decref(block_type(r->resource_schemas[i]->value->block));
    }
    for (size_t i = 0; i < r->n_data_source_schemas; i++) {
        assert_true(strncmp(r->data_source_schemas[i]->key, "cloudflare_", 11) == 0);
        assert_non_null(r->data_source_schemas[i]->value->block);
        json_decref(block_type(r->data_source_schemas[i]->value->block));
    }
    assert_non_null(schema_of(r->n_resource_schemas, (void **)r->resource_schemas, RES));
    assert_non_null(schema_of(r->n_data_source_schemas, (void **)r->data_source_schemas, DS_ONE));
    assert_non_null(schema_of(r->n_data_source_schemas, (void **)r->data_source_schemas, DS_ALL));
    /* The attribute flags travel: id is computed, account_id required,
     * api_token sensitive. */
    Tfplugin6__Schema *res = schema_of(r->n_resource_schemas, (void **)r->resource_schemas, RES);
    for (size_t i = 0; i < res->block->n_attributes; i++) {
        const Tfplugin6__Schema__Attribute *a = res->block->attributes[i];
        if (strcmp(a->name, "id") == 0)
            assert_true(a->computed && !a->required);
        if (strcmp(a->name, "account_id") == 0)
            assert_true(a->required);
    }
    for (size_t i = 0; i < r->provider->block->n_attributes; i++) {
        if (strcmp(r->provider->block->attributes[i]->name, "api_token") == 0)
            assert_true(r->provider->block->attributes[i]->sensitive);
    }
    assert_non_null(r->server_capabilities);
    assert_false(r->server_capabilities->move_resource_state);
    free_msg(r);
    session_shutdown(s);
}

static bool has_name(size_t n, void **items, const char *name) {
    for (size_t i = 0; i < n; i++) {
        if (strcmp(((Tfplugin6__GetMetadata__ResourceMetadata *)items[i])->type_name, name) == 0)
            return true;
    }
    return false;
}

static void test_get_metadata(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    Tfplugin6__GetMetadata__Request req = TFPLUGIN6__GET_METADATA__REQUEST__INIT;
    Tfplugin6__GetMetadata__Response *r =
        call(s, P("GetMetadata"), &req, &tfplugin6__get_metadata__response__descriptor);
    assert_no_errors(r->n_diagnostics, r->diagnostics, "GetMetadata");
    assert_true(has_name(r->n_resources, (void **)r->resources, RES));
    assert_true(has_name(r->n_data_sources, (void **)r->data_sources, DS_ONE));
    assert_true(has_name(r->n_data_sources, (void **)r->data_sources, DS_ALL));
    for (size_t i = 0; i < r->n_resources; i++)
        assert_true(strncmp(r->resources[i]->type_name, "cloudflare_", 11) == 0);
    for (size_t i = 0; i < r->n_data_sources; i++)
        assert_true(strncmp(r->data_sources[i]->type_name, "cloudflare_", 11) == 0);
    free_msg(r);
    session_shutdown(s);
}

/* ------------------------------------------------------------------ */
/* Every provider method, through a whole life cycle                   */
/* ------------------------------------------------------------------ */

static void test_lifecycle(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    session_schema(s);

    /* ValidateProviderConfig (its diagnostics are field 2). */
    json_t *pconfig = json_pack("{s:s,s:s}", "base_url", g_sim.base_url, "api_token", TOKEN);
    Tfplugin6__ValidateProviderConfig__Request vp =
        TFPLUGIN6__VALIDATE_PROVIDER_CONFIG__REQUEST__INIT;
    vp.config = dv_new(pconfig, s->provider_type);
    Tfplugin6__ValidateProviderConfig__Response *vpr =
        call(s, P("ValidateProviderConfig"), &vp,
             &tfplugin6__validate_provider_config__response__descriptor);
    assert_no_errors(vpr->n_diagnostics, vpr->diagnostics, "ValidateProviderConfig");
    free_msg(vpr);
    dv_free(vp.config);
    json_decref(pconfig);

    session_configure(s);

    /* ValidateResourceConfig, ValidateDataResourceConfig (both). */
    char domain[96];
    next_domain(domain, sizeof(domain));
    json_t *config = resource_config(domain);
    Tfplugin6__DynamicValue *cfg = dv_new(config, s->res_type);
    Tfplugin6__ValidateResourceConfig__Request vr =
        TFPLUGIN6__VALIDATE_RESOURCE_CONFIG__REQUEST__INIT;
    vr.type_name = RES;
    vr.config = cfg;
    Tfplugin6__ValidateResourceConfig__Response *vrr =
        call(s, P("ValidateResourceConfig"), &vr,
             &tfplugin6__validate_resource_config__response__descriptor);
    assert_no_errors(vrr->n_diagnostics, vrr->diagnostics, "ValidateResourceConfig");
    free_msg(vrr);

    json_t *one_cfg = json_pack("{s:s,s:s}", "account_id", ACCOUNT, "email_domain", domain);
    json_t *all_cfg = json_pack("{s:s}", "account_id", ACCOUNT);
    Tfplugin6__ValidateDataResourceConfig__Request vd =
        TFPLUGIN6__VALIDATE_DATA_RESOURCE_CONFIG__REQUEST__INIT;
    vd.type_name = DS_ONE;
    vd.config = dv_new(one_cfg, s->ds_one_type);
    Tfplugin6__ValidateDataResourceConfig__Response *vdr =
        call(s, P("ValidateDataResourceConfig"), &vd,
             &tfplugin6__validate_data_resource_config__response__descriptor);
    assert_no_errors(vdr->n_diagnostics, vdr->diagnostics, "ValidateDataResourceConfig one");
    free_msg(vdr);
    dv_free(vd.config);
    vd.type_name = DS_ALL;
    vd.config = dv_new(all_cfg, s->ds_all_type);
    vdr = call(s, P("ValidateDataResourceConfig"), &vd,
               &tfplugin6__validate_data_resource_config__response__descriptor);
    assert_no_errors(vdr->n_diagnostics, vdr->diagnostics, "ValidateDataResourceConfig all");
    free_msg(vdr);
    dv_free(vd.config);

    /* PlanResourceChange, create: prior null, the computed id planned
     * unknown, written as msgpack ext 0 (d4 00 00). */
    Tfplugin6__DynamicValue *null_dv = dv_null();
    Tfplugin6__PlanResourceChange__Request plan = TFPLUGIN6__PLAN_RESOURCE_CHANGE__REQUEST__INIT;
    plan.type_name = RES;
    plan.prior_state = null_dv;
    plan.proposed_new_state = cfg;
    plan.config = cfg;
    Tfplugin6__PlanResourceChange__Response *pr = call(
        s, P("PlanResourceChange"), &plan, &tfplugin6__plan_resource_change__response__descriptor);
    assert_no_errors(pr->n_diagnostics, pr->diagnostics, "PlanResourceChange (create)");
    assert_non_null(pr->planned_state);
    assert_non_null(memmem(pr->planned_state->msgpack.data, pr->planned_state->msgpack.len,
                           "\xa2id\xd4\x00\x00", 6));
    json_t *planned = dv_json(pr->planned_state, s->res_type, "planned_state");
    assert_true(json_is_true(json_object_get(json_object_get(planned, "id"), "$unknown")));
    assert_string_equal(jstr(planned, "email_domain"), domain);
    assert_int_equal(pr->n_requires_replace, 0);
    assert_false(pr->legacy_type_system);
    json_decref(planned);

    /* ApplyResourceChange, create: the simulator has it afterwards. */
    Tfplugin6__ApplyResourceChange__Request apply = TFPLUGIN6__APPLY_RESOURCE_CHANGE__REQUEST__INIT;
    apply.type_name = RES;
    apply.prior_state = null_dv;
    apply.planned_state = pr->planned_state;
    apply.config = cfg;
    apply.planned_private = pr->planned_private;
    Tfplugin6__ApplyResourceChange__Response *ar =
        call(s, P("ApplyResourceChange"), &apply,
             &tfplugin6__apply_resource_change__response__descriptor);
    assert_no_errors(ar->n_diagnostics, ar->diagnostics, "ApplyResourceChange (create)");
    json_t *st = dv_json(ar->new_state, s->res_type, "new_state");
    const char *id = jstr(st, "id");
    assert_int_equal(strlen(id), 32);
    assert_string_equal(jstr(st, "email_domain"), domain);
    assert_string_equal(jstr(st, "account_id"), ACCOUNT);
    json_t *in_sim = sim_connector(id);
    assert_non_null(in_sim);
    assert_string_equal(jstr(in_sim, "email_domain"), domain);
    json_decref(in_sim);
    free_msg(ar);
    free_msg(pr);

    /* ReadResource: the state comes back, and the private bytes Terraform
     * holds are echoed (the provider keeps none of its own); bytes that are
     * not UTF-8 too. */
    static const char priv_text[] = "opaque-private-\x01-bytes";
    static const uint8_t priv_bin[] = {0xff, 0x00, 0xfe, 0x80};
    const struct {
        const void *p;
        size_t n;
    } privs[] = {{priv_text, sizeof(priv_text) - 1}, {priv_bin, sizeof(priv_bin)}};
    for (size_t i = 0; i < 2; i++) {
        Tfplugin6__ReadResource__Request rr = TFPLUGIN6__READ_RESOURCE__REQUEST__INIT;
        rr.type_name = RES;
        rr.current_state = dv_new(st, s->res_type);
        rr.private_.data = (uint8_t *)privs[i].p;
        rr.private_.len = privs[i].n;
        Tfplugin6__ReadResource__Response *rrr =
            call(s, P("ReadResource"), &rr, &tfplugin6__read_resource__response__descriptor);
        assert_no_errors(rrr->n_diagnostics, rrr->diagnostics, "ReadResource");
        json_t *now = dv_json(rrr->new_state, s->res_type, "ReadResource new_state");
        assert_true(json_equal(now, st));
        assert_int_equal(rrr->private_.len, privs[i].n);
        assert_memory_equal(rrr->private_.data, privs[i].p, privs[i].n);
        json_decref(now);
        free_msg(rrr);
        dv_free(rr.current_state);
    }

    /* UpgradeResourceState: raw_state.json pretty-printed as a state file
     * has it. */
    char *raw = json_dumps(st, JSON_INDENT(2) | JSON_SORT_KEYS);
    Tfplugin6__RawState rs = TFPLUGIN6__RAW_STATE__INIT;
    rs.json.data = (uint8_t *)raw;
    rs.json.len = strlen(raw);
    Tfplugin6__UpgradeResourceState__Request ur = TFPLUGIN6__UPGRADE_RESOURCE_STATE__REQUEST__INIT;
    ur.type_name = RES;
    ur.version = 0;
    ur.raw_state = &rs;
    Tfplugin6__UpgradeResourceState__Response *urr =
        call(s, P("UpgradeResourceState"), &ur,
             &tfplugin6__upgrade_resource_state__response__descriptor);
    assert_no_errors(urr->n_diagnostics, urr->diagnostics, "UpgradeResourceState");
    json_t *up = dv_json(urr->upgraded_state, s->res_type, "upgraded_state");
    assert_true(json_equal(up, st));
    json_decref(up);
    free_msg(urr);
    free(raw);

    /* PlanResourceChange with nothing to change: planned == prior. */
    Tfplugin6__DynamicValue *prior = dv_new(st, s->res_type);
    plan.prior_state = prior;
    plan.proposed_new_state = prior; /* config values equal the prior's */
    plan.config = cfg;
    pr = call(s, P("PlanResourceChange"), &plan,
              &tfplugin6__plan_resource_change__response__descriptor);
    assert_no_errors(pr->n_diagnostics, pr->diagnostics, "PlanResourceChange (no-op)");
    json_t *noop = dv_json(pr->planned_state, s->res_type, "planned_state (no-op)");
    if (!json_equal(noop, st))
        fail_msg("a plan without changes changed the state: %s", json_dumps(noop, JSON_COMPACT));
    json_decref(noop);
    free_msg(pr);

    /* ImportResourceState by account/id and by account/domain. */
    char import_ids[2][200];
    snprintf(import_ids[0], sizeof(import_ids[0]), "%s/%s", ACCOUNT, id);
    snprintf(import_ids[1], sizeof(import_ids[1]), "%s/%s", ACCOUNT, domain);
    for (size_t i = 0; i < 2; i++) {
        Tfplugin6__ImportResourceState__Request ir =
            TFPLUGIN6__IMPORT_RESOURCE_STATE__REQUEST__INIT;
        ir.type_name = RES;
        ir.id = import_ids[i];
        Tfplugin6__ImportResourceState__Response *irr =
            call(s, P("ImportResourceState"), &ir,
                 &tfplugin6__import_resource_state__response__descriptor);
        assert_no_errors(irr->n_diagnostics, irr->diagnostics, "ImportResourceState");
        assert_int_equal(irr->n_imported_resources, 1);
        assert_string_equal(irr->imported_resources[0]->type_name, RES);
        json_t *imp = dv_json(irr->imported_resources[0]->state, s->res_type, "imported state");
        assert_string_equal(jstr(imp, "id"), id);
        assert_string_equal(jstr(imp, "email_domain"), domain);
        assert_string_equal(jstr(imp, "account_id"), ACCOUNT);
        json_decref(imp);
        free_msg(irr);
    }

    /* ReadDataSource: both data sources. */
    Tfplugin6__ReadDataSource__Request rd = TFPLUGIN6__READ_DATA_SOURCE__REQUEST__INIT;
    rd.type_name = DS_ALL;
    rd.config = dv_new(all_cfg, s->ds_all_type);
    Tfplugin6__ReadDataSource__Response *rdr =
        call(s, P("ReadDataSource"), &rd, &tfplugin6__read_data_source__response__descriptor);
    assert_no_errors(rdr->n_diagnostics, rdr->diagnostics, "ReadDataSource all");
    json_t *all = dv_json(rdr->state, s->ds_all_type, "data source state");
    bool listed = false;
    size_t k;
    json_t *item;
    json_array_foreach(json_object_get(all, "connectors"), k, item) {
        if (strcmp(jstr(item, "id"), id) == 0)
            listed = true;
    }
    assert_true(listed);
    json_decref(all);
    free_msg(rdr);
    dv_free(rd.config);

    json_t *by_id = json_pack("{s:s,s:s}", "account_id", ACCOUNT, "id", id);
    rd.type_name = DS_ONE;
    rd.config = dv_new(by_id, s->ds_one_type);
    rdr = call(s, P("ReadDataSource"), &rd, &tfplugin6__read_data_source__response__descriptor);
    assert_no_errors(rdr->n_diagnostics, rdr->diagnostics, "ReadDataSource one");
    json_t *one = dv_json(rdr->state, s->ds_one_type, "data source state");
    assert_string_equal(jstr(one, "email_domain"), domain);
    assert_string_equal(jstr(one, "id"), id);
    json_decref(one);
    free_msg(rdr);
    dv_free(rd.config);
    json_decref(by_id);

    /* PlanResourceChange, destroy (plan_destroy): config and proposed null,
     * planned null. */
    plan.prior_state = prior;
    plan.proposed_new_state = null_dv;
    plan.config = null_dv;
    pr = call(s, P("PlanResourceChange"), &plan,
              &tfplugin6__plan_resource_change__response__descriptor);
    assert_no_errors(pr->n_diagnostics, pr->diagnostics, "PlanResourceChange (destroy)");
    assert_true(dv_is_null(pr->planned_state));

    /* ApplyResourceChange, delete: null new state; gone from the sim. */
    apply.prior_state = prior;
    apply.planned_state = null_dv;
    apply.config = null_dv;
    apply.planned_private = pr->planned_private;
    ar = call(s, P("ApplyResourceChange"), &apply,
              &tfplugin6__apply_resource_change__response__descriptor);
    assert_no_errors(ar->n_diagnostics, ar->diagnostics, "ApplyResourceChange (delete)");
    assert_true(dv_is_null(ar->new_state));
    assert_null(sim_connector(id));
    free_msg(ar);
    free_msg(pr);

    dv_free(prior);
    dv_free(null_dv);
    dv_free(cfg);
    json_decref(st);
    json_decref(config);
    json_decref(one_cfg);
    json_decref(all_cfg);
    session_shutdown(s);
}

/* The resource config as msgpack, attributes in the type's order, with
 * email_domain given as raw msgpack bytes (e.g. a refined unknown). */
static Tfplugin6__DynamicValue *config_with_raw_domain(session *s, const void *raw, size_t n) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    const json_t *attrs = json_array_get(s->res_type, 1);
    msgpack_pack_map(&pk, json_object_size(attrs));
    const char *name;
    const json_t *t;
    json_object_foreach((json_t *)attrs, name, t) {
        msgpack_pack_str_with_body(&pk, name, strlen(name));
        if (strcmp(name, "account_id") == 0)
            msgpack_pack_str_with_body(&pk, ACCOUNT, strlen(ACCOUNT));
        else if (strcmp(name, "email_domain") == 0)
            msgpack_sbuffer_write(&sb, raw, n);
        else
            msgpack_pack_nil(&pk);
    }
    Tfplugin6__DynamicValue *dv = dv_raw(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return dv;
}

static void test_values_as_terraform_sends_them(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    session_configure(s);

    /* A refined unknown (ext 12, {1: false} = "not null"), as Terraform
     * 1.11 sends `email_domain = "b${other.id}.example"`: validation
     * passes, the plan carries it as a plain unknown (d4 00 00). */
    static const uint8_t refined[] = {0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc2};
    Tfplugin6__DynamicValue *cfg = config_with_raw_domain(s, refined, sizeof(refined));
    Tfplugin6__ValidateResourceConfig__Request vr =
        TFPLUGIN6__VALIDATE_RESOURCE_CONFIG__REQUEST__INIT;
    vr.type_name = RES;
    vr.config = cfg;
    Tfplugin6__ValidateResourceConfig__Response *vrr =
        call(s, P("ValidateResourceConfig"), &vr,
             &tfplugin6__validate_resource_config__response__descriptor);
    assert_no_errors(vrr->n_diagnostics, vrr->diagnostics,
                     "ValidateResourceConfig, refined unknown");
    free_msg(vrr);
    Tfplugin6__DynamicValue *null_dv = dv_null();
    Tfplugin6__PlanResourceChange__Request plan = TFPLUGIN6__PLAN_RESOURCE_CHANGE__REQUEST__INIT;
    plan.type_name = RES;
    plan.prior_state = null_dv;
    plan.proposed_new_state = cfg;
    plan.config = cfg;
    Tfplugin6__PlanResourceChange__Response *pr = call(
        s, P("PlanResourceChange"), &plan, &tfplugin6__plan_resource_change__response__descriptor);
    assert_no_errors(pr->n_diagnostics, pr->diagnostics, "PlanResourceChange, refined unknown");
    assert_non_null(memmem(pr->planned_state->msgpack.data, pr->planned_state->msgpack.len,
                           "\xac"
                           "email_domain\xd4\x00\x00",
                           16));
    free_msg(pr);
    dv_free(cfg);

    /* A DynamicValue in its JSON form (Terraform never sends one, but the
     * field exists): taken as well. */
    Tfplugin6__DynamicValue jdv = TFPLUGIN6__DYNAMIC_VALUE__INIT;
    char jtext[200];
    snprintf(jtext, sizeof(jtext), "{\"account_id\":\"%s\",\"email_domain\":\"json.example.com\"}",
             ACCOUNT);
    jdv.json.data = (uint8_t *)jtext;
    jdv.json.len = strlen(jtext);
    vr.config = &jdv;
    vrr = call(s, P("ValidateResourceConfig"), &vr,
               &tfplugin6__validate_resource_config__response__descriptor);
    assert_no_errors(vrr->n_diagnostics, vrr->diagnostics, "ValidateResourceConfig, JSON value");
    free_msg(vrr);

    /* A changed email_domain forces replacement: the path comes back as an
     * AttributePath with one attribute_name step. */
    char domain[96], other[96];
    json_t *st = create_connector(s, next_domain(domain, sizeof(domain)));
    next_domain(other, sizeof(other));
    json_t *changed = resource_config(other);
    json_t *proposed = json_deep_copy(st);
    json_object_set_new(proposed, "email_domain", json_string(other));
    Tfplugin6__DynamicValue *prior = dv_new(st, s->res_type);
    Tfplugin6__DynamicValue *ccfg = dv_new(changed, s->res_type);
    Tfplugin6__DynamicValue *prop = dv_new(proposed, s->res_type);
    plan.prior_state = prior;
    plan.proposed_new_state = prop;
    plan.config = ccfg;
    pr = call(s, P("PlanResourceChange"), &plan,
              &tfplugin6__plan_resource_change__response__descriptor);
    assert_no_errors(pr->n_diagnostics, pr->diagnostics, "PlanResourceChange, replace");
    bool found = false;
    for (size_t i = 0; i < pr->n_requires_replace; i++) {
        const Tfplugin6__AttributePath *ap = pr->requires_replace[i];
        if (ap->n_steps == 1 &&
            ap->steps[0]->selector_case ==
                TFPLUGIN6__ATTRIBUTE_PATH__STEP__SELECTOR_ATTRIBUTE_NAME &&
            strcmp(ap->steps[0]->attribute_name, "email_domain") == 0)
            found = true;
    }
    assert_true(found);
    free_msg(pr);
    dv_free(prop);
    dv_free(ccfg);
    json_decref(proposed);
    json_decref(changed);

    /* Deleted behind Terraform's back: the read answers a null state. */
    char path[200];
    snprintf(path, sizeof(path), "/client/v4/accounts/%s/sso_connectors/%s", ACCOUNT,
             jstr(st, "id"));
    long status = 0;
    json_decref(th_sim_http(&g_sim, "DELETE", path, NULL, true, &status));
    assert_int_equal(status, 200);
    Tfplugin6__ReadResource__Request rr = TFPLUGIN6__READ_RESOURCE__REQUEST__INIT;
    rr.type_name = RES;
    rr.current_state = prior;
    Tfplugin6__ReadResource__Response *rrr =
        call(s, P("ReadResource"), &rr, &tfplugin6__read_resource__response__descriptor);
    assert_no_errors(rrr->n_diagnostics, rrr->diagnostics, "ReadResource of a deleted connector");
    assert_true(dv_is_null(rrr->new_state));
    free_msg(rrr);
    dv_free(prior);
    json_decref(st);

    /* A create the API refuses: an error diagnostic, and the state stays
     * what it was (null), never a made-up object. */
    sim_fault("{\"method\":\"POST\",\"path\":\"/client/v4/accounts/*/sso_connectors\","
              "\"status\":400,\"count\":10,\"body\":\"{\\\"success\\\":false,\\\"errors\\\":"
              "[{\\\"code\\\":1005,\\\"message\\\":\\\"nope\\\"}],\\\"messages\\\":[],"
              "\\\"result\\\":null}\"}");
    json_t *config = resource_config(next_domain(domain, sizeof(domain)));
    cfg = dv_new(config, s->res_type);
    plan.prior_state = null_dv;
    plan.proposed_new_state = cfg;
    plan.config = cfg;
    pr = call(s, P("PlanResourceChange"), &plan,
              &tfplugin6__plan_resource_change__response__descriptor);
    Tfplugin6__ApplyResourceChange__Request apply = TFPLUGIN6__APPLY_RESOURCE_CHANGE__REQUEST__INIT;
    apply.type_name = RES;
    apply.prior_state = null_dv;
    apply.planned_state = pr->planned_state;
    apply.config = cfg;
    Tfplugin6__ApplyResourceChange__Response *ar =
        call(s, P("ApplyResourceChange"), &apply,
             &tfplugin6__apply_resource_change__response__descriptor);
    expect_error(ar->n_diagnostics, ar->diagnostics, NULL, "a refused create");
    assert_true(dv_is_null(ar->new_state));
    free_msg(ar);
    free_msg(pr);
    dv_free(cfg);
    json_decref(config);

    /* An import id of the wrong shape: an error diagnostic, nothing
     * imported. */
    Tfplugin6__ImportResourceState__Request ir = TFPLUGIN6__IMPORT_RESOURCE_STATE__REQUEST__INIT;
    ir.type_name = RES;
    ir.id = "not-an-import-id";
    Tfplugin6__ImportResourceState__Response *irr = call(
        s, P("ImportResourceState"), &ir, &tfplugin6__import_resource_state__response__descriptor);
    expect_error(irr->n_diagnostics, irr->diagnostics, NULL, "a malformed import id");
    assert_int_equal(irr->n_imported_resources, 0);
    free_msg(irr);
    dv_free(null_dv);
    session_shutdown(s);
}

/* ------------------------------------------------------------------ */
/* go-plugin's side services                                           */
/* ------------------------------------------------------------------ */

static void test_side_services(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    /* As Terraform does right after connecting: the stdio stream (an Empty
     * request, half-closed) and the broker stream (headers only, left
     * open). Both are held: no answer, no reset. */
    int32_t stdio = gc_call_start(s->conn, "/plugin.GRPCStdio/StreamStdio", NULL, 0, NULL);
    gc_send_options open = {.keep_open = true};
    int32_t broker = gc_call_start(s->conn, "/plugin.GRPCBroker/StartStream", NULL, 0, &open);
    assert_true(stdio > 0 && broker > 0);

    /* Health: "plugin" is SERVING. */
    Plugin__HealthCheckRequest hreq = PLUGIN__HEALTH_CHECK_REQUEST__INIT;
    hreq.service = "plugin";
    Plugin__HealthCheckResponse *h =
        call(s, "/grpc.health.v1.Health/Check", &hreq, &plugin__health_check_response__descriptor);
    assert_int_equal(h->status, PLUGIN__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    free_msg(h);
    /* Another service name: NOT_FOUND, as grpc's health server answers. */
    hreq.service = "no.such.Service";
    size_t hlen;
    uint8_t *hmsg = pack(&hreq.base, &hlen);
    gc_result hr;
    gc_call(s->conn, "/grpc.health.v1.Health/Check", hmsg, hlen, CALL_MS, &hr);
    assert_status_only(&hr, 5, "health of an unknown service");
    gc_result_free(&hr);
    free(hmsg);

    /* Unknown paths: trailers-only UNIMPLEMENTED, no DATA. */
    const char *unknown[] = {"/tfplugin6.Provider/NoSuchMethod", "/foo.Bar/Baz", P("GetFunctions"),
                             P("MoveResourceState"), "/tfplugin5.Provider/GetSchema"};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        gc_result r;
        gc_call(s->conn, unknown[i], NULL, 0, CALL_MS, &r);
        assert_status_only(&r, 12, unknown[i]);
        gc_result_free(&r);
    }

    /* Calls go on around the held streams. */
    session_schema(s);
    for (int i = 0; i < 10 * g_slow; i++)
        gc_conn_pump(s->conn, 30);
    assert_false(gc_call_done(s->conn, stdio));
    assert_false(gc_call_done(s->conn, broker));
    session_shutdown(s);
}

/* ------------------------------------------------------------------ */
/* Wire conditions                                                     */
/* ------------------------------------------------------------------ */

static void test_split_frames(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    session_schema(s);

    /* The 5 bytes of an empty request, one DATA frame each. */
    gc_send_options one_byte = {.chunk = 1};
    gc_result r;
    int32_t id = gc_call_start(s->conn, P("GetMetadata"), NULL, 0, &one_byte);
    assert_int_equal(gc_call_wait(s->conn, id, CALL_MS, &r), 0);
    assert_ok_answer(&r, "GetMetadata in 1-byte frames");
    assert_int_equal(r.sent_data_frames, 5);
    gc_result_free(&r);

    /* A request in 3 DATA frames of a few bytes each, the cuts falling
     * inside the prefix and inside the message. */
    char domain[96];
    size_t len;
    uint8_t *msg = validate_request(s, next_domain(domain, sizeof(domain)), &len);
    gc_send_options three = {.chunk = (len + 5 + 2) / 3};
    assert_true(three.chunk > 5);
    id = gc_call_start(s->conn, P("ValidateResourceConfig"), msg, len, &three);
    assert_int_equal(gc_call_wait(s->conn, id, CALL_MS, &r), 0);
    assert_int_equal(r.sent_data_frames, 3);
    Tfplugin6__ValidateResourceConfig__Response *vr =
        unpack_result(&r, "ValidateResourceConfig in 3 frames",
                      &tfplugin6__validate_resource_config__response__descriptor);
    assert_no_errors(vr->n_diagnostics, vr->diagnostics, "ValidateResourceConfig in 3 frames");
    free_msg(vr);
    gc_result_free(&r);
    /* ... and with the prefix itself cut: frames of 2 bytes. */
    gc_send_options two = {.chunk = 2};
    id = gc_call_start(s->conn, P("ValidateResourceConfig"), msg, len, &two);
    assert_int_equal(gc_call_wait(s->conn, id, CALL_MS, &r), 0);
    assert_int_equal((size_t)r.sent_data_frames, (len + 5 + 1) / 2);
    vr = unpack_result(&r, "ValidateResourceConfig in 2-byte frames",
                       &tfplugin6__validate_resource_config__response__descriptor);
    assert_no_errors(vr->n_diagnostics, vr->diagnostics, "ValidateResourceConfig 2-byte frames");
    free_msg(vr);
    gc_result_free(&r);
    free(msg);

    /* A message larger than 16 KiB (several maximal DATA frames, and then
     * frames of 1000 bytes): an UpgradeResourceState whose state file is
     * padded with indentation. */
    json_t *st = json_pack("{s:s,s:s,s:s,s:b,s:b,s:b,s:s,s:s,s:{s:s,s:s}}", "id",
                           "0123456789abcdef0123456789abcdef", "account_id", ACCOUNT,
                           "email_domain", "big.example.com", "enabled", 0, "use_fedramp_language",
                           0, "begin_verification", 1, "created_on", "2025-01-01T12:21:02.0529Z",
                           "updated_on", "2025-01-01T12:21:02.0529Z", "verification", "code",
                           "cloudflare_dashboard_sso=0123", "status", "pending");
    char *compact = json_dumps(st, JSON_INDENT(2) | JSON_SORT_KEYS);
    size_t pad = 40000;
    char *raw = malloc(strlen(compact) + pad + 1);
    assert_non_null(raw);
    /* '{' then 40000 spaces then the rest: still the same JSON. */
    raw[0] = '{';
    memset(raw + 1, ' ', pad);
    strcpy(raw + 1 + pad, compact + 1);
    Tfplugin6__RawState rs = TFPLUGIN6__RAW_STATE__INIT;
    rs.json.data = (uint8_t *)raw;
    rs.json.len = strlen(raw);
    Tfplugin6__UpgradeResourceState__Request ur = TFPLUGIN6__UPGRADE_RESOURCE_STATE__REQUEST__INIT;
    ur.type_name = RES;
    ur.raw_state = &rs;
    uint8_t *big = pack(&ur.base, &len);
    assert_true(len > 16384 * 2);
    gc_send_options sizes[] = {{.chunk = 0}, {.chunk = 1000}};
    for (size_t i = 0; i < 2; i++) {
        id = gc_call_start(s->conn, P("UpgradeResourceState"), big, len, &sizes[i]);
        assert_int_equal(gc_call_wait(s->conn, id, CALL_MS, &r), 0);
        assert_true((size_t)r.sent_data_frames >=
                    (len + 5) / (sizes[i].chunk ? sizes[i].chunk : 16384));
        Tfplugin6__UpgradeResourceState__Response *u =
            unpack_result(&r, "UpgradeResourceState > 16 KiB",
                          &tfplugin6__upgrade_resource_state__response__descriptor);
        assert_no_errors(u->n_diagnostics, u->diagnostics, "UpgradeResourceState > 16 KiB");
        json_t *got = dv_json(u->upgraded_state, s->res_type, "upgraded_state");
        if (!json_equal(got, st))
            fail_msg("upgraded state differs: %s", json_dumps(got, JSON_COMPACT));
        json_decref(got);
        free_msg(u);
        gc_result_free(&r);
    }
    free(big);
    free(raw);
    free(compact);
    json_decref(st);
    session_shutdown(s);
}

static void test_out_of_order(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    session_configure(s);
    char domain[96];
    json_t *st = create_connector(s, next_domain(domain, sizeof(domain)));

    /* The read's GET waits 0.8 s in the simulator; calls sent after it are
     * answered first, on the same connection (12 quick calls take a few
     * milliseconds, and g_slow times longer under valgrind). */
    char rule[200];
    snprintf(rule, sizeof(rule),
             "{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*/sso_connectors/*\","
             "\"delay_ms\":%d,\"count\":1}",
             800 * g_slow);
    sim_fault(rule);
    size_t len;
    uint8_t *read = read_request(s, st, NULL, 0, &len);
    int32_t slow = gc_call_start(s->conn, P("ReadResource"), read, len, NULL);
    free(read);
    assert_true(slow > 0);
    enum { FAST = 12 };
    int32_t fast[FAST];
    uint8_t *valid = validate_request(s, domain, &len);
    for (int i = 0; i < FAST; i++) {
        if (i % 2)
            fast[i] = gc_call_start(s->conn, P("ValidateResourceConfig"), valid, len, NULL);
        else
            fast[i] = gc_call_start(s->conn, P("GetProviderSchema"), NULL, 0, NULL);
        assert_true(fast[i] > 0);
    }
    free(valid);
    unsigned long last_fast = 0;
    for (int i = 0; i < FAST; i++) {
        gc_result r;
        assert_int_equal(gc_call_wait(s->conn, fast[i], 5000 * g_slow, &r), 0);
        assert_ok_answer(&r, "a fast call");
        if (r.seq > last_fast)
            last_fast = r.seq;
        gc_result_free(&r);
    }
    assert_false(gc_call_done(s->conn, slow));
    gc_result r;
    assert_int_equal(gc_call_wait(s->conn, slow, CALL_MS, &r), 0);
    Tfplugin6__ReadResource__Response *rr =
        unpack_result(&r, "the slow ReadResource", &tfplugin6__read_resource__response__descriptor);
    assert_true(r.seq > last_fast);
    assert_no_errors(rr->n_diagnostics, rr->diagnostics, "slow ReadResource");
    json_t *now = dv_json(rr->new_state, s->res_type, "new_state");
    assert_string_equal(jstr(now, "id"), jstr(st, "id"));
    json_decref(now);
    free_msg(rr);
    gc_result_free(&r);
    json_decref(st);
    session_shutdown(s);
}

static void test_stop_provider(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    session_configure(s);
    char domain[96];
    json_t *st = create_connector(s, next_domain(domain, sizeof(domain)));
    sim_fault("{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*/sso_connectors/*\","
              "\"delay_ms\":3000,\"count\":1}");
    size_t len;
    uint8_t *read = read_request(s, st, NULL, 0, &len);
    long t0 = gc_now_ms();
    int32_t slow = gc_call_start(s->conn, P("ReadResource"), read, len, NULL);
    free(read);
    /* Let the read reach the simulator, then stop, concurrently. */
    for (int i = 0; i < 6; i++)
        gc_conn_pump(s->conn, 50);
    assert_false(gc_call_done(s->conn, slow));
    int32_t stop = gc_call_start(s->conn, P("StopProvider"), NULL, 0, NULL);
    gc_result rs, rr;
    assert_int_equal(gc_call_wait(s->conn, stop, CALL_MS, &rs), 0);
    assert_int_equal(gc_call_wait(s->conn, slow, CALL_MS, &rr), 0);
    print_message("  StopProvider answered after %ld ms\n", gc_now_ms() - t0);
    Tfplugin6__StopProvider__Response *sr =
        unpack_result(&rs, "StopProvider", &tfplugin6__stop_provider__response__descriptor);
    assert_string_equal(sr->error, "");
    free_msg(sr);
    /* The read is answered too: with its state, or a diagnostic saying it
     * was stopped; never without a state (Terraform would forget it). */
    Tfplugin6__ReadResource__Response *rrr = unpack_result(
        &rr, "ReadResource during StopProvider", &tfplugin6__read_resource__response__descriptor);
    json_t *now = dv_json(rrr->new_state, s->res_type, "new_state");
    assert_string_equal(jstr(now, "id"), jstr(st, "id"));
    print_diags(rrr->n_diagnostics, rrr->diagnostics);
    json_decref(now);
    free_msg(rrr);
    gc_result_free(&rs);
    gc_result_free(&rr);
    json_decref(st);
    session_shutdown(s);
}

/* ------------------------------------------------------------------ */
/* Failures that must be diagnostics, and malformed requests           */
/* ------------------------------------------------------------------ */

static void test_unknown_type_names(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    session_configure(s);
    Tfplugin6__DynamicValue *null_dv = dv_null();

    Tfplugin6__ValidateResourceConfig__Request vr =
        TFPLUGIN6__VALIDATE_RESOURCE_CONFIG__REQUEST__INIT;
    vr.type_name = "cloudflare_nope";
    vr.config = null_dv;
    Tfplugin6__ValidateResourceConfig__Response *vrr =
        call(s, P("ValidateResourceConfig"), &vr,
             &tfplugin6__validate_resource_config__response__descriptor);
    const Tfplugin6__Diagnostic *d =
        expect_error(vrr->n_diagnostics, vrr->diagnostics, NULL, "unknown resource type");
    assert_non_null(strstr(d->detail, "cloudflare_nope"));
    assert_non_null(strstr(d->detail, RES));
    free_msg(vrr);

    /* Without the prefix, the contract's own name is not a Terraform one. */
    Tfplugin6__PlanResourceChange__Request plan = TFPLUGIN6__PLAN_RESOURCE_CHANGE__REQUEST__INIT;
    plan.type_name = "sso_connector";
    plan.prior_state = plan.proposed_new_state = plan.config = null_dv;
    Tfplugin6__PlanResourceChange__Response *pr = call(
        s, P("PlanResourceChange"), &plan, &tfplugin6__plan_resource_change__response__descriptor);
    d = expect_error(pr->n_diagnostics, pr->diagnostics, NULL, "unprefixed resource type");
    assert_non_null(strstr(d->detail, RES));
    free_msg(pr);

    Tfplugin6__ReadDataSource__Request rd = TFPLUGIN6__READ_DATA_SOURCE__REQUEST__INIT;
    rd.type_name = "cloudflare_nothing";
    rd.config = null_dv;
    Tfplugin6__ReadDataSource__Response *rdr =
        call(s, P("ReadDataSource"), &rd, &tfplugin6__read_data_source__response__descriptor);
    d = expect_error(rdr->n_diagnostics, rdr->diagnostics, NULL, "unknown data source");
    assert_non_null(strstr(d->detail, DS_ALL));
    assert_non_null(strstr(d->detail, DS_ONE));
    free_msg(rdr);

    Tfplugin6__ImportResourceState__Request ir = TFPLUGIN6__IMPORT_RESOURCE_STATE__REQUEST__INIT;
    ir.type_name = "cloudflare_other";
    ir.id = ACCOUNT "/x.example.com";
    Tfplugin6__ImportResourceState__Response *irr = call(
        s, P("ImportResourceState"), &ir, &tfplugin6__import_resource_state__response__descriptor);
    d = expect_error(irr->n_diagnostics, irr->diagnostics, NULL, "import of an unknown type");
    assert_non_null(strstr(d->detail, RES));
    assert_int_equal(irr->n_imported_resources, 0);
    free_msg(irr);
    dv_free(null_dv);
    session_shutdown(s);
}

/* msgpack bytes of a map {key: <int 42>} */
static Tfplugin6__DynamicValue *dv_map_with_int(const char *key) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, key, strlen(key));
    msgpack_pack_int(&pk, 42);
    Tfplugin6__DynamicValue *dv = dv_raw(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return dv;
}

static void test_wrong_value_types(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    session_schema(s);
    /* Provider configuration: base_url given as a number; a string where
     * the object should be; truncated bytes; a byte msgpack never uses. */
    Tfplugin6__DynamicValue *bad[] = {dv_map_with_int("base_url"),
                                      dv_raw("\xa3"
                                             "abc",
                                             4),
                                      dv_raw("\x82\xa8"
                                             "base_url",
                                             10),
                                      dv_raw("\xc1", 1), dv_map_with_int("no_such_attribute")};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        Tfplugin6__ValidateProviderConfig__Request vp =
            TFPLUGIN6__VALIDATE_PROVIDER_CONFIG__REQUEST__INIT;
        vp.config = bad[i];
        Tfplugin6__ValidateProviderConfig__Response *r =
            call(s, P("ValidateProviderConfig"), &vp,
                 &tfplugin6__validate_provider_config__response__descriptor);
        const Tfplugin6__Diagnostic *d = expect_error(r->n_diagnostics, r->diagnostics, NULL,
                                                      "a provider config of the wrong type");
        print_message("  bad config %zu: %s: %s\n", i, d->summary, d->detail);
        free_msg(r);
        Tfplugin6__ConfigureProvider__Request cp = TFPLUGIN6__CONFIGURE_PROVIDER__REQUEST__INIT;
        cp.config = bad[i];
        Tfplugin6__ConfigureProvider__Response *c = call(
            s, P("ConfigureProvider"), &cp, &tfplugin6__configure_provider__response__descriptor);
        expect_error(c->n_diagnostics, c->diagnostics, NULL, "ConfigureProvider, wrong type");
        free_msg(c);
    }
    /* A resource config with email_domain as a number. */
    Tfplugin6__ValidateResourceConfig__Request vr =
        TFPLUGIN6__VALIDATE_RESOURCE_CONFIG__REQUEST__INIT;
    vr.type_name = RES;
    vr.config = dv_map_with_int("email_domain");
    Tfplugin6__ValidateResourceConfig__Response *vrr =
        call(s, P("ValidateResourceConfig"), &vr,
             &tfplugin6__validate_resource_config__response__descriptor);
    const Tfplugin6__Diagnostic *d =
        expect_error(vrr->n_diagnostics, vrr->diagnostics, NULL, "resource config, wrong type");
    assert_non_null(strstr(d->detail, "email_domain"));
    free_msg(vrr);
    dv_free(vr.config);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        dv_free(bad[i]);
    /* The bridge is still well. */
    session_configure(s);
    session_shutdown(s);
}

/* One ValidateProviderConfig with api_token `token`: true when it was
 * answered without an error diagnostic, false when refused for too many
 * credentials (any other error fails the test). */
static bool validate_with_token(session *s, const char *token) {
    json_t *pconfig = json_pack("{s:s,s:s}", "base_url", g_sim.base_url, "api_token", token);
    Tfplugin6__ValidateProviderConfig__Request vp =
        TFPLUGIN6__VALIDATE_PROVIDER_CONFIG__REQUEST__INIT;
    vp.config = dv_new(pconfig, s->provider_type);
    Tfplugin6__ValidateProviderConfig__Response *r =
        call(s, P("ValidateProviderConfig"), &vp,
             &tfplugin6__validate_provider_config__response__descriptor);
    bool ok = true;
    for (size_t i = 0; i < r->n_diagnostics; i++) {
        if (r->diagnostics[i]->severity == TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR) {
            assert_string_equal(r->diagnostics[i]->summary, "Too many distinct credentials");
            assert_null(strstr(r->diagnostics[i]->detail, token));
            ok = false;
        }
    }
    free_msg(r);
    dv_free(vp.config);
    json_decref(pconfig);
    return ok;
}

/* The bridge registers every sensitive value it is sent so that no log line
 * shows it; the registry is capped (LOG_MAX_SECRETS, 64). A client sending
 * a new credential with every call is refused once it is full, rather than
 * growing the registry or passing a value on that could not be masked; a
 * credential already seen is still accepted. */
static void test_credentials_capped(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    session_schema(s);
    char token[48];
    int refused_at = -1;
    for (int i = 0; i < 80 && refused_at < 0; i++) {
        snprintf(token, sizeof(token), "distinct-token-%03d-abcdef", i);
        if (!validate_with_token(s, token))
            refused_at = i;
    }
    print_message("  refused at credential %d\n", refused_at);
    assert_int_equal(refused_at, 64);
    assert_true(validate_with_token(s, "distinct-token-000-abcdef"));
    session_shutdown(s);
}

static void test_malformed_requests(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    session_schema(s);
    /* Not the method's protobuf message: INVALID_ARGUMENT. */
    static const uint8_t bad_pb[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}; /* a huge length */
    static const uint8_t bad_pb2[] = {0x12, 0x05, 0x0a, 0x01};            /* cut short */
    const char *paths[] = {P("ValidateResourceConfig"), P("PlanResourceChange"),
                           P("ApplyResourceChange"), P("ConfigureProvider")};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        gc_result r;
        gc_call(s->conn, paths[i], bad_pb, sizeof(bad_pb), CALL_MS, &r);
        assert_status_only(&r, 3, paths[i]);
        gc_result_free(&r);
        gc_call(s->conn, paths[i], bad_pb2, sizeof(bad_pb2), CALL_MS, &r);
        assert_status_only(&r, 3, paths[i]);
        gc_result_free(&r);
    }
    /* Broken gRPC framing (as grpc-go's server answers: INTERNAL): a cut
     * prefix, a message shorter than announced, the compressed flag (never
     * negotiated), two messages in a unary call. */
    static const uint8_t cut_prefix[] = {0, 0, 0};
    static const uint8_t short_msg[] = {0, 0, 0, 0, 10, 0x0a, 0x01};
    static const uint8_t compressed[] = {1, 0, 0, 0, 0};
    static const uint8_t two[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    const struct {
        const uint8_t *b;
        size_t n;
        const char *what;
    } framing[] = {{cut_prefix, sizeof(cut_prefix), "cut prefix"},
                   {short_msg, sizeof(short_msg), "short message"},
                   {compressed, sizeof(compressed), "compressed flag"},
                   {two, sizeof(two), "two messages"}};
    gc_send_options raw = {.raw_body = true};
    for (size_t i = 0; i < sizeof(framing) / sizeof(framing[0]); i++) {
        int32_t id =
            gc_call_start(s->conn, P("GetProviderSchema"), framing[i].b, framing[i].n, &raw);
        gc_result r;
        assert_int_equal(gc_call_wait(s->conn, id, CALL_MS, &r), 0);
        assert_status_only(&r, 13, framing[i].what);
        gc_result_free(&r);
    }
    /* No message at all in a unary call: answered somehow, no crash. */
    int32_t id = gc_call_start(s->conn, P("ValidateResourceConfig"), NULL, 0, &raw);
    gc_result r;
    assert_int_equal(gc_call_wait(s->conn, id, CALL_MS, &r), 0);
    assert_true(r.ended && r.grpc_status >= 0);
    print_message("  empty unary request: grpc-status %d\n", r.grpc_status);
    gc_result_free(&r);
    /* Still serving on the same connection. */
    session_configure(s);
    session_shutdown(s);
}

static void test_oversized_message(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    session_schema(s);
    size_t len = BRIDGE_MAX_MESSAGE + 1;
    uint8_t *huge = calloc(1, len);
    assert_non_null(huge);
    gc_result r;
    gc_call(s->conn, P("ValidateResourceConfig"), huge, len, 120000 * g_slow, &r);
    free(huge);
    if (r.error[0])
        fail_msg("oversized message: %s", r.error);
    if (r.grpc_status != 8)
        fail_msg("oversized message: expected RESOURCE_EXHAUSTED (8), got %d (%s)", r.grpc_status,
                 r.grpc_message ? r.grpc_message : "");
    assert_true(r.trailers_only);
    print_message("  oversized: %s\n", r.grpc_message ? r.grpc_message : "");
    gc_result_free(&r);
    /* The connection keeps working. */
    assert_false(gc_conn_is_dead(s->conn));
    session_configure(s);
    session_shutdown(s);
}

/* ------------------------------------------------------------------ */
/* Other connections                                                   */
/* ------------------------------------------------------------------ */

/* Writes garbage on a bare socket and waits for the bridge to close it. */
static void garbage_on_socket(session *s, const char *garbage, size_t len) {
    int fd = gc_socket_connect(s->plugin.hs.network, s->plugin.hs.address);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, garbage, len), (ssize_t)len);
    long deadline = gc_now_ms() + 5000L * g_slow;
    char buf[4096];
    bool closed = false;
    struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (!closed && gc_now_ms() < deadline) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            closed = true;
        drain_stderr(s);
    }
    close(fd);
    if (!closed)
        fail_msg("the bridge kept a connection open that sent \"%.20s...\"", garbage);
}

static void test_garbage_connection(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    session_schema(s);
    /* Not the HTTP/2 preface (nor a TLS ClientHello): text, and a whole
     * TLS handshake record (type 22, 16 bytes) whose content is junk. A
     * record cut short would rightly be waited for, like a silent peer. */
    static const char http1[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    static const char record[] = "\x16\x03\x01\x00\x10not a handshake!PRI * HTTP/2.0\r\n";
    garbage_on_socket(s, http1, sizeof(http1) - 1);
    garbage_on_socket(s, record, sizeof(record) - 1);
    char err[GC_ERR_MAX];
    if (g_tls) {
        /* A good TLS session, then garbage instead of the preface. */
        gc_connect_options raw = {.no_h2 = true};
        gc_conn *c = gc_plugin_connect(&s->plugin, &raw, err);
        if (!c)
            fail_msg("TLS connection: %s", err);
        static const char junk[] = "PRI * HTTP/1.1\r\n\r\nnot h2 at all, sorry\r\n";
        assert_int_equal(gc_conn_write_raw(c, junk, sizeof(junk) - 1), 0);
        assert_int_equal(gc_conn_wait_closed(c, 5000 * g_slow), 0);
        gc_conn_close(c);
        /* Plaintext HTTP/2 to a TLS server. */
        c = gc_connect(s->plugin.hs.network, s->plugin.hs.address, NULL, err);
        if (c) {
            int32_t id = gc_call_start(c, P("GetMetadata"), NULL, 0, NULL);
            gc_result r;
            if (id > 0 && gc_call_wait(c, id, 5000 * g_slow, &r) == 0) {
                assert_true(r.conn_died);
                gc_result_free(&r);
            }
            gc_conn_close(c);
        }
    } else {
        /* TLS to a plaintext server fails. */
        gc_identity other;
        assert_int_equal(gc_identity_generate(&other, err), 0);
        gc_connect_options tls = {.server_cert = other.cert,
                                  .client_cert = other.cert,
                                  .client_key = other.key,
                                  .timeout_ms = 5000 * g_slow};
        gc_conn *c = gc_connect(s->plugin.hs.network, s->plugin.hs.address, &tls, err);
        assert_null(c);
        print_message("  TLS to plaintext: %s\n", err);
        gc_identity_free(&other);
    }
    /* The first connection never noticed. */
    session_configure(s);
    session_shutdown(s);
}

static void test_silent_connection(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    /* The first connection is in use (the bridge ends when the last
     * connection that served a call closes, so it must have served). */
    session_schema(s);
    /* A connection that connects and says nothing (no preface, no TLS
     * ClientHello)... */
    int silent = gc_socket_connect(s->plugin.hs.network, s->plugin.hs.address);
    assert_true(silent >= 0);
    /* ... does not hold up a new one, nor the first. */
    char err[GC_ERR_MAX];
    gc_connect_options o = {.timeout_ms = 5000 * g_slow};
    gc_conn *c = gc_plugin_connect(&s->plugin, &o, err);
    if (!c)
        fail_msg("a second connection while a silent one is open: %s", err);
    gc_conn_set_idle(c, drain_stderr, s);
    Tfplugin6__GetMetadata__Request req = TFPLUGIN6__GET_METADATA__REQUEST__INIT;
    Tfplugin6__GetMetadata__Response *m =
        call_on(c, P("GetMetadata"), &req.base, &tfplugin6__get_metadata__response__descriptor);
    free_msg(m);
    gc_conn_close(c);
    /* The first one still works with the silent one open. */
    session_configure(s);
    close(silent);
    session_shutdown(s);
}

/* True when the bridge refuses a TLS client set up with `o`: the handshake
 * fails, or (TLS 1.3, where the client finishes first) the connection is
 * closed before the first call is answered. */
static bool tls_client_refused(session *s, const gc_connect_options *o, const char *what) {
    char err[GC_ERR_MAX];
    gc_conn *c = gc_connect(s->plugin.hs.network, s->plugin.hs.address, o, err);
    if (!c) {
        print_message("  %s: %s\n", what, err);
        return true;
    }
    gc_result r;
    gc_call(c, P("GetMetadata"), NULL, 0, 5000 * g_slow, &r);
    bool refused = r.conn_died || r.grpc_status < 0;
    if (refused)
        print_message("  %s: %s\n", what, r.error);
    gc_result_free(&r);
    gc_conn_close(c);
    return refused;
}

static void test_wrong_client_certificate(void **state) {
    (void)state;
    if (!g_tls)
        skip();
    session *s = &g_s;
    session_start(s);
    session_schema(s);
    char err[GC_ERR_MAX];
    gc_identity other;
    assert_int_equal(gc_identity_generate(&other, err), 0);
    /* A certificate Terraform did not announce in PLUGIN_CLIENT_CERT. */
    gc_connect_options o = {.server_cert = s->plugin.server_cert,
                            .client_cert = other.cert,
                            .client_key = other.key,
                            .timeout_ms = 5000 * g_slow};
    if (!tls_client_refused(s, &o, "another client certificate"))
        fail_msg("a client with a certificate not in PLUGIN_CLIENT_CERT was served");
    /* No certificate at all. */
    o.client_cert = NULL;
    o.client_key = NULL;
    if (!tls_client_refused(s, &o, "no client certificate"))
        fail_msg("a client without a certificate was served");
    gc_identity_free(&other);
    /* A server certificate that is not the announced one is refused by the
     * client: the handshake line's certificate is the only root. */
    gc_identity fake;
    assert_int_equal(gc_identity_generate(&fake, err), 0);
    gc_connect_options wrong_root = {.server_cert = fake.cert, .timeout_ms = 5000 * g_slow};
    assert_null(gc_plugin_connect(&s->plugin, &wrong_root, err));
    print_message("  a server certificate that is not the announced one: %s\n", err);
    gc_identity_free(&fake);
    /* The first connection never noticed. */
    session_configure(s);
    session_shutdown(s);
}

static void test_close_without_shutdown(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    session_schema(s);
    /* Terraform dies or hangs up: the bridge ends by itself, as cleanly. */
    gc_conn_close(s->conn);
    s->conn = NULL;
    int status = 0;
    if (th_proc_wait(&s->plugin.proc, 2000 * g_slow, &status) != 0)
        fail_msg("the bridge did not exit within 2 s of its connection closing\nstderr: %s",
                 bridge_stderr(s));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    struct stat st;
    assert_int_not_equal(stat(s->plugin.hs.address, &st), 0);
    assert_null(th_proc_read_line(&s->plugin.proc, 500));
    assert_int_equal(s->plugin.proc.out_len, 0);
}

/* Terraform resets a call's stream (RST_STREAM CANCEL) while the provider
 * works on it: the stream is gone at once, the provider's late answer is
 * dropped, and everything else goes on. */
static void test_cancelled_call(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    session_configure(s);
    char domain[96];
    json_t *st = create_connector(s, next_domain(domain, sizeof(domain)));
    /* Both reads held 0.8 s (1.5 s with the bridge under valgrind): past
     * the 300 ms pumped before the cancel. */
    char rule[200];
    snprintf(rule, sizeof(rule),
             "{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*/sso_connectors/*\","
             "\"delay_ms\":%d,\"count\":2}",
             g_slow > 1 ? 1500 : 800);
    sim_fault(rule);
    size_t len;
    uint8_t *read = read_request(s, st, NULL, 0, &len);
    int32_t a = gc_call_start(s->conn, P("ReadResource"), read, len, NULL);
    int32_t b = gc_call_start(s->conn, P("ReadResource"), read, len, NULL);
    free(read);
    for (int i = 0; i < 6; i++)
        gc_conn_pump(s->conn, 50);
    assert_false(gc_call_done(s->conn, a));
    assert_int_equal(gc_call_cancel(s->conn, a), 0);
    gc_result r;
    assert_int_equal(gc_call_wait(s->conn, a, CALL_MS, &r), 0);
    assert_true(r.reset);
    assert_int_equal(r.reset_code, NGHTTP2_CANCEL);
    gc_result_free(&r);
    /* Calls go on meanwhile; the other read is answered normally. */
    session_schema(s);
    assert_int_equal(gc_call_wait(s->conn, b, CALL_MS, &r), 0);
    Tfplugin6__ReadResource__Response *rr = unpack_result(
        &r, "the read not cancelled", &tfplugin6__read_resource__response__descriptor);
    assert_no_errors(rr->n_diagnostics, rr->diagnostics, "the read not cancelled");
    free_msg(rr);
    gc_result_free(&r);
    /* By now the cancelled read's answer (or its cancellation) came back
     * from the provider too; give it a moment, then more calls. */
    for (int i = 0; i < 10; i++)
        gc_conn_pump(s->conn, 50);
    Tfplugin6__GetMetadata__Request req = TFPLUGIN6__GET_METADATA__REQUEST__INIT;
    free_msg(call(s, P("GetMetadata"), &req, &tfplugin6__get_metadata__response__descriptor));
    json_decref(st);
    session_shutdown(s);
}

/* Shutdown, or the connection closing, while a call is at the provider:
 * the process still exits 0 within 2 s. */
static void test_exit_with_call_in_flight(void **state) {
    (void)state;
    for (int how = 0; how < 2; how++) {
        session *s = &g_s;
        session_start(s);
        session_configure(s);
        char domain[96];
        json_t *st = create_connector(s, next_domain(domain, sizeof(domain)));
        sim_fault("{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*/sso_connectors/*\","
                  "\"delay_ms\":5000,\"count\":1}");
        size_t len;
        uint8_t *read = read_request(s, st, NULL, 0, &len);
        int32_t slow = gc_call_start(s->conn, P("ReadResource"), read, len, NULL);
        free(read);
        for (int i = 0; i < 6; i++)
            gc_conn_pump(s->conn, 50);
        assert_false(gc_call_done(s->conn, slow));
        if (how == 0) {
            session_shutdown(s);
            gc_result r;
            assert_int_equal(gc_call_wait(s->conn, slow, 1000, &r), 0);
            print_message("  the read in flight at Shutdown: %s, grpc-status %d\n",
                          r.conn_died ? "connection closed" : "answered", r.grpc_status);
            gc_result_free(&r);
        } else {
            gc_conn_close(s->conn);
            s->conn = NULL;
            int status = 0;
            if (th_proc_wait(&s->plugin.proc, 2000 * g_slow, &status) != 0)
                fail_msg("the bridge did not exit within 2 s of its connection closing with a "
                         "call in flight\nstderr: %s",
                         bridge_stderr(s));
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
        }
        json_decref(st);
        session_end(s);
        th_sim_reset(&g_sim);
    }
}

/* An answer larger than the client's flow-control window (65,535 bytes,
 * grpc-go's default) and than one DATA frame: the list data source over
 * 300 connectors. */
static void test_large_answer(void **state) {
    (void)state;
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"email_domain\":\"seed-%03d.example.com\"}", i);
        long status = 0;
        json_t *r = th_sim_http(&g_sim, "POST", "/__sim/accounts/" ACCOUNT "/connectors", body,
                                false, &status);
        json_decref(r);
        assert_int_equal(status, 201);
    }
    session *s = &g_s;
    session_start(s);
    session_configure(s);
    json_t *cfg = json_pack("{s:s}", "account_id", ACCOUNT);
    Tfplugin6__ReadDataSource__Request rd = TFPLUGIN6__READ_DATA_SOURCE__REQUEST__INIT;
    rd.type_name = DS_ALL;
    rd.config = dv_new(cfg, s->ds_all_type);
    size_t len;
    uint8_t *msg = pack(&rd.base, &len);
    gc_result r;
    gc_call(s->conn, P("ReadDataSource"), msg, len, CALL_MS, &r);
    free(msg);
    Tfplugin6__ReadDataSource__Response *rr = unpack_result(
        &r, "ReadDataSource of 300", &tfplugin6__read_data_source__response__descriptor);
    print_message("  answer of %zu bytes in %d DATA frames (largest %zu)\n", r.body_len,
                  r.data_frames, r.max_data_frame);
    assert_true(r.body_len > 65535);
    assert_true(r.data_frames >= 5);
    assert_no_errors(rr->n_diagnostics, rr->diagnostics, "ReadDataSource of 300");
    json_t *state_json = dv_json(rr->state, s->ds_all_type, "state");
    assert_int_equal(json_array_size(json_object_get(state_json, "connectors")), N);
    json_decref(state_json);
    free_msg(rr);
    gc_result_free(&r);
    dv_free(rd.config);
    json_decref(cfg);
    session_shutdown(s);
}

/* Terraform's parallelism is 10; the bridge must not care about 200. */
static void test_many_concurrent_calls(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    session_schema(s);
    enum { N = 200 };
    int32_t ids[N];
    char domain[96];
    size_t len;
    uint8_t *valid = validate_request(s, next_domain(domain, sizeof(domain)), &len);
    for (int i = 0; i < N; i++) {
        ids[i] = i % 3 ? gc_call_start(s->conn, P("ValidateResourceConfig"), valid, len, NULL)
                       : gc_call_start(s->conn, P("GetMetadata"), NULL, 0, NULL);
        assert_true(ids[i] > 0);
    }
    free(valid);
    for (int i = N - 1; i >= 0; i--) {
        gc_result r;
        assert_int_equal(gc_call_wait(s->conn, ids[i], CALL_MS, &r), 0);
        assert_ok_answer(&r, "one of 200 concurrent calls");
        gc_result_free(&r);
    }
    session_shutdown(s);
}

/* ------------------------------------------------------------------ */
/* Start-up refusals                                                   */
/* ------------------------------------------------------------------ */

static void expect_refusal(const char *const *env, const char *stderr_text) {
    session *s = &g_s;
    memset(s, 0, sizeof(*s));
    s->started = true;
    char err[GC_ERR_MAX];
    gc_plugin_options o = {
        .exe = g_bridge_bin, .tls = g_tls, .env = env, .handshake_timeout_ms = 10000 * g_slow};
    if (g_valgrind_bridge)
        setenv("TH_VALGRIND", "1", 1);
    int rc = gc_plugin_start(&s->plugin, &o, err);
    if (g_valgrind_bridge)
        unsetenv("TH_VALGRIND");
    assert_int_not_equal(rc, 0);
    int status = 0;
    assert_int_equal(th_proc_wait(&s->plugin.proc, 10000 * g_slow, &status), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    /* Nothing at all on stdout. */
    assert_null(th_proc_read_line(&s->plugin.proc, 200));
    assert_int_equal(s->plugin.proc.out_len, 0);
    if (stderr_text && !strstr(bridge_stderr(s), stderr_text))
        fail_msg("stderr lacks \"%s\": %s", stderr_text, bridge_stderr(s));
    session_end(s);
}

static void test_magic_cookie(void **state) {
    (void)state;
    static const char *const missing[] = {GC_MAGIC_COOKIE_KEY "=", NULL};
    static const char *const wrong[] = {GC_MAGIC_COOKIE_KEY "=d602bf8f470bc67ca7faa0386276bbdd",
                                        NULL};
    expect_refusal(missing, "This binary is a plugin. These are not meant to be executed directly");
    expect_refusal(wrong, "This binary is a plugin. These are not meant to be executed directly");
}

static void test_protocol_versions(void **state) {
    (void)state;
    static const char *const only5[] = {"PLUGIN_PROTOCOL_VERSIONS=5", NULL};
    static const char *const unset[] = {"PLUGIN_PROTOCOL_VERSIONS=", NULL};
    static const char *const sixty[] = {"PLUGIN_PROTOCOL_VERSIONS=4,60", NULL};
    expect_refusal(only5, NULL);
    expect_refusal(unset, NULL);
    expect_refusal(sixty, NULL);
}

/* ------------------------------------------------------------------ */
/* The provider child fails                                            */
/* ------------------------------------------------------------------ */

static int find_child(session *s) {
    int pid = -1;
    long deadline = gc_now_ms() + 5000L * g_slow;
    while ((pid = gc_plugin_child_pid(&s->plugin)) <= 0 && gc_now_ms() < deadline)
        usleep(20000);
    if (pid <= 0)
        fail_msg("the bridge (pid %d) has no child process", (int)s->plugin.proc.pid);
    char path[64], comm[64] = "";
    snprintf(path, sizeof(path), "/proc/%d/comm", pid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(comm, sizeof(comm), f))
            comm[0] = '\0';
        fclose(f);
    }
    assert_non_null(strstr(comm, "provider-cloudf")); /* comm is cut at 15 */
    return pid;
}

/* True while /proc/<pid> exists (running, stopped or a zombie). */
static bool process_exists(int pid) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d", pid);
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_child_crash(void **state) {
    (void)state;
    session *s = &g_s;
    session_start(s);
    session_configure(s);
    char domain[96];
    json_t *st = create_connector(s, next_domain(domain, sizeof(domain)));
    /* A read is at the child (its GET held 5 s by the simulator) when the
     * child dies: it is answered, with a diagnostic and the state kept. */
    sim_fault("{\"method\":\"GET\",\"path\":\"/client/v4/accounts/*/sso_connectors/*\","
              "\"delay_ms\":5000,\"count\":1}");
    size_t rlen;
    uint8_t *read = read_request(s, st, NULL, 0, &rlen);
    int32_t inflight = gc_call_start(s->conn, P("ReadResource"), read, rlen, NULL);
    free(read);
    for (int i = 0; i < 6; i++)
        gc_conn_pump(s->conn, 50);
    assert_false(gc_call_done(s->conn, inflight));
    int child = find_child(s);
    assert_int_equal(kill(child, SIGKILL), 0);
    gc_result ir;
    assert_int_equal(gc_call_wait(s->conn, inflight, 3000 * g_slow, &ir), 0);
    Tfplugin6__ReadResource__Response *irr =
        unpack_result(&ir, "ReadResource in flight when the child died",
                      &tfplugin6__read_resource__response__descriptor);
    expect_error(irr->n_diagnostics, irr->diagnostics, "The provider process exited",
                 "ReadResource in flight when the child died");
    json_t *held = dv_json(irr->new_state, s->res_type, "new_state");
    assert_true(json_equal(held, st));
    json_decref(held);
    free_msg(irr);
    gc_result_free(&ir);
    json_decref(st);
    /* Wait until the bridge has reaped it (it then knows). */
    long deadline = gc_now_ms() + 5000L * g_slow;
    while (process_exists(child) && gc_now_ms() < deadline)
        gc_conn_pump(s->conn, 20);
    assert_false(process_exists(child));

    size_t len;
    uint8_t *msg = validate_request(s, next_domain(domain, sizeof(domain)), &len);
    gc_result r;
    gc_call(s->conn, P("ValidateResourceConfig"), msg, len, CALL_MS, &r);
    free(msg);
    Tfplugin6__ValidateResourceConfig__Response *vr =
        unpack_result(&r, "ValidateResourceConfig after the crash",
                      &tfplugin6__validate_resource_config__response__descriptor);
    expect_error(vr->n_diagnostics, vr->diagnostics, "The provider process exited",
                 "ValidateResourceConfig after the crash");
    free_msg(vr);
    gc_result_free(&r);

    /* An apply keeps the prior state Terraform sent. */
    json_t *prior = json_pack("{s:s,s:s,s:s}", "id", "0123456789abcdef0123456789abcdef",
                              "account_id", ACCOUNT, "email_domain", domain);
    Tfplugin6__DynamicValue *pdv = dv_new(prior, s->res_type);
    Tfplugin6__ReadResource__Request rr = TFPLUGIN6__READ_RESOURCE__REQUEST__INIT;
    rr.type_name = RES;
    rr.current_state = pdv;
    Tfplugin6__ReadResource__Response *rrr =
        call(s, P("ReadResource"), &rr, &tfplugin6__read_resource__response__descriptor);
    expect_error(rrr->n_diagnostics, rrr->diagnostics, "The provider process exited",
                 "ReadResource after the crash");
    json_t *kept = dv_json(rrr->new_state, s->res_type, "new_state after the crash");
    assert_string_equal(jstr(kept, "id"), "0123456789abcdef0123456789abcdef");
    json_decref(kept);
    free_msg(rrr);
    dv_free(pdv);
    json_decref(prior);

    /* The schema is still served, and Shutdown ends everything cleanly. */
    session_schema(s);
    session_shutdown(s);
}

static void test_child_hang(void **state) {
    (void)state;
    /* The call timeout: 0.5 s, 2 s with the bridge under valgrind. */
    const int timeout_ms = g_slow > 1 ? 2000 : 500;
    const char *const env[] = {g_slow > 1 ? "TFBRIDGE_CALL_TIMEOUT=2" : "TFBRIDGE_CALL_TIMEOUT=0.5",
                               NULL};
    session *s = &g_s;
    session_start_env(s, env);
    session_configure(s);
    int child = find_child(s);
    s->child_pid = child;
    assert_int_equal(kill(child, SIGSTOP), 0);

    char domain[96];
    size_t len;
    uint8_t *msg = validate_request(s, next_domain(domain, sizeof(domain)), &len);
    long t0 = gc_now_ms();
    gc_result r;
    gc_call(s->conn, P("ValidateResourceConfig"), msg, len, 10000 * g_slow, &r);
    long took = gc_now_ms() - t0;
    free(msg);
    print_message("  answered after %ld ms with the child stopped\n", took);
    Tfplugin6__ValidateResourceConfig__Response *vr =
        unpack_result(&r, "ValidateResourceConfig, child stopped",
                      &tfplugin6__validate_resource_config__response__descriptor);
    expect_error(vr->n_diagnostics, vr->diagnostics, "The provider did not answer",
                 "ValidateResourceConfig, child stopped");
    free_msg(vr);
    gc_result_free(&r);
    /* Not before the deadline; not after it by much either, or gc_call's own
     * limit (10 s) would have failed it above: that is the "no hang" check,
     * with room for a slow machine. */
    assert_true(took >= timeout_ms * 3 / 4);

    /* Shutdown: the bridge kills the stopped child and exits in time. */
    session_shutdown(s);
    long deadline = gc_now_ms() + 3000L * g_slow;
    while (process_exists(child) && gc_now_ms() < deadline)
        usleep(20000);
    if (process_exists(child))
        fail_msg("the stopped provider child (pid %d) outlived the bridge", child);
    s->child_pid = 0;
}

/* A child that never gives its schema (cat: it echoes our requests, which
 * are not answers, and never says anything else). GetProviderSchema and
 * every other call are answered with that reason once TFBRIDGE_CALL_TIMEOUT
 * has passed, never left hanging, and calls after that are answered at
 * once; Shutdown still ends everything. */
static void test_schema_never_comes(void **state) {
    (void)state;
    static const char *const env[] = {"TFBRIDGE_CALL_TIMEOUT=1", "TFBRIDGE_PROVIDER=/bin/cat",
                                      NULL};
    session *s = &g_s;
    session_start_env(s, env);

    long t0 = gc_now_ms();
    gc_result r;
    gc_call(s->conn, P("GetProviderSchema"), NULL, 0, 10000 * g_slow, &r);
    long took = gc_now_ms() - t0;
    Tfplugin6__GetProviderSchema__Response *sr = unpack_result(
        &r, "GetProviderSchema", &tfplugin6__get_provider_schema__response__descriptor);
    const Tfplugin6__Diagnostic *d = expect_error(
        sr->n_diagnostics, sr->diagnostics, "Provider schema unavailable", "GetProviderSchema");
    assert_non_null(strstr(d->detail, "did not give its schema within 1 s"));
    assert_non_null(sr->provider);
    assert_non_null(sr->provider->block); /* Terraform dereferences it */
    free_msg(sr);
    gc_result_free(&r);
    print_message("  GetProviderSchema answered after %ld ms\n", took);

    /* A later call: answered at once with the same reason, not sent to a
     * child whose schema is unknown. */
    Tfplugin6__ValidateProviderConfig__Request vreq =
        TFPLUGIN6__VALIDATE_PROVIDER_CONFIG__REQUEST__INIT;
    size_t len = protobuf_c_message_get_packed_size(&vreq.base);
    uint8_t buf[16];
    protobuf_c_message_pack(&vreq.base, buf);
    t0 = gc_now_ms();
    gc_call(s->conn, P("ValidateProviderConfig"), buf, len, 10000 * g_slow, &r);
    took = gc_now_ms() - t0;
    Tfplugin6__ValidateProviderConfig__Response *vr = unpack_result(
        &r, "ValidateProviderConfig", &tfplugin6__validate_provider_config__response__descriptor);
    d = expect_error(vr->n_diagnostics, vr->diagnostics, "Provider schema unavailable",
                     "ValidateProviderConfig");
    assert_non_null(strstr(d->detail, "did not give its schema"));
    free_msg(vr);
    gc_result_free(&r);
    print_message("  ValidateProviderConfig answered after %ld ms\n", took);

    session_shutdown(s);
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv) {
    if (argc != 2 || (strcmp(argv[1], "plaintext") != 0 && strcmp(argv[1], "mtls") != 0)) {
        fprintf(stderr, "usage: %s plaintext|mtls\n", argv[0]);
        return 2;
    }
    g_tls = strcmp(argv[1], "mtls") == 0;
    if (getenv("TFBRIDGE_TEST_BIN") && *getenv("TFBRIDGE_TEST_BIN"))
        g_bridge_bin = getenv("TFBRIDGE_TEST_BIN");
    const char *vg = getenv("TFBRIDGE_TEST_VALGRIND");
    g_valgrind_bridge = vg && strcmp(vg, "1") == 0;
    if (g_valgrind_bridge || (getenv("TH_VALGRIND") && strcmp(getenv("TH_VALGRIND"), "1") == 0))
        g_slow = 8;
    signal(SIGPIPE, SIG_IGN);
    if (th_sim_start(&g_sim, TOKEN, NULL) != 0) {
        fprintf(stderr, "cannot start cf-api-sim\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_handshake_line),
        T(test_schema_never_comes),
        T(test_get_provider_schema),
        T(test_get_metadata),
        T(test_lifecycle),
        T(test_values_as_terraform_sends_them),
        T(test_side_services),
        T(test_split_frames),
        T(test_out_of_order),
        T(test_stop_provider),
        T(test_unknown_type_names),
        T(test_wrong_value_types),
        T(test_credentials_capped),
        T(test_malformed_requests),
        T(test_oversized_message),
        T(test_garbage_connection),
        T(test_silent_connection),
        T(test_wrong_client_certificate),
        T(test_close_without_shutdown),
        T(test_cancelled_call),
        T(test_exit_with_call_in_flight),
        T(test_large_answer),
        T(test_many_concurrent_calls),
        T(test_magic_cookie),
        T(test_protocol_versions),
        T(test_child_crash),
        T(test_child_hang),
#undef T
    };
    const char *group = g_tls ? "tfbridge gRPC, AutoMTLS" : "tfbridge gRPC, plaintext";
    int failed =
        _cmocka_run_group_tests(group, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
    th_sim_stop(&g_sim);
    return failed;
}
