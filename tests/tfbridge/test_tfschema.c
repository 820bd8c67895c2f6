/*
 * test_tfschema.c - the provider's schema as Terraform sees it: loading the
 * real provider-cloudflare's GetProviderSchema result (prefixed type names,
 * a packed answer that protobuf-c unpacks, attribute types that parse),
 * schemas that must be refused before Terraform sees them, attribute paths,
 * and diagnostics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "harness.h"
#include "tfschema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PROVIDER_BIN
#define PROVIDER_BIN "provider-cloudflare"
#endif

#define PREFIX "cloudflare_"

/* The real provider's GetProviderSchema result, read once. */
static json_t *g_schema;

static int load_real_schema(void **state) {
    (void)state;
    th_proc p;
    const char *argv[] = {PROVIDER_BIN, NULL};
    if (th_proc_spawn(&p, argv, NULL) != 0)
        return -1;
    json_t *resp = th_proc_call_new(&p, "GetProviderSchema", json_object(), 30000);
    th_proc_close_stdin(&p);
    th_proc_wait(&p, 10000, NULL);
    th_proc_destroy(&p);
    g_schema = json_incref(json_object_get(resp, "result"));
    json_decref(resp);
    return g_schema ? 0 : -1;
}

static int free_real_schema(void **state) {
    (void)state;
    json_decref(g_schema);
    return 0;
}

/* Parses JSON written with ' for " (a new reference). */
static json_t *J(const char *text) {
    char *s = strdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t e;
    json_t *v = json_loads(s, JSON_DECODE_ANY, &e);
    if (!v)
        fail_msg("bad test JSON %s: %s", text, e.text);
    free(s);
    return v;
}

/* ------------------------------------------------------------------ */
/* The real schema                                                     */
/* ------------------------------------------------------------------ */

/* Checks one announced attribute against the contract's JSON. */
static void check_attribute(const Tfplugin6__Schema__Attribute *a, const json_t *block) {
    const json_t *want = json_object_get(json_object_get(block, "attributes"), a->name);
    if (!want)
        fail_msg("attribute %s is not in the provider's schema", a->name);
    assert_null(a->nested_type);
    json_error_t e;
    json_t *type = json_loadb((const char *)a->type.data, a->type.len, JSON_DECODE_ANY, &e);
    if (!type)
        fail_msg("attribute %s: type bytes %.*s do not parse: %s", a->name, (int)a->type.len,
                 (const char *)a->type.data, e.text);
    assert_true(json_equal(type, json_object_get(want, "type")));
    /* Compact JSON, quotes included: "string" is the 8 bytes "string". */
    if (json_is_string(type))
        assert_int_equal(a->type.len, strlen(json_string_value(type)) + 2);
    assert_null(memchr(a->type.data, ' ', a->type.len));
    json_decref(type);
    assert_int_equal(a->required, json_is_true(json_object_get(want, "required")));
    assert_int_equal(a->optional, json_is_true(json_object_get(want, "optional")));
    assert_int_equal(a->computed, json_is_true(json_object_get(want, "computed")));
    assert_int_equal(a->sensitive, json_is_true(json_object_get(want, "sensitive")));
    const char *desc = json_string_value(json_object_get(want, "description"));
    assert_string_equal(a->description, desc ? desc : "");
}

static void check_block(const Tfplugin6__Schema__Block *b, const json_t *block) {
    assert_non_null(b);
    assert_int_equal(b->n_attributes, json_object_size(json_object_get(block, "attributes")));
    for (size_t i = 0; i < b->n_attributes; i++)
        check_attribute(b->attributes[i], block);
}

static void check_map(size_t n, void **entries, const json_t *schemas) {
    assert_int_equal(n, json_object_size(schemas));
    for (size_t i = 0; i < n; i++) {
        Tfplugin6__GetProviderSchema__Response__ResourceSchemasEntry *e = entries[i];
        assert_true(strncmp(e->key, PREFIX, strlen(PREFIX)) == 0);
        const json_t *want = json_object_get(schemas, e->key + strlen(PREFIX));
        if (!want)
            fail_msg("%s is not in the provider's schema", e->key);
        assert_non_null(e->value);
        assert_int_equal(e->value->version, json_integer_value(json_object_get(want, "version")));
        check_block(e->value->block, json_object_get(want, "block"));
    }
}

static void test_load_real(void **state) {
    (void)state;
    tfschema s;
    char err[TFSCHEMA_ERR_MAX] = "";
    if (tfschema_load(&s, g_schema, PREFIX, err) != 0)
        fail_msg("tfschema_load: %s", err);
    assert_int_equal(s.n_resources,
                     json_object_size(json_object_get(g_schema, "resource_schemas")));
    assert_int_equal(s.n_data_sources,
                     json_object_size(json_object_get(g_schema, "data_source_schemas")));
    for (size_t i = 0; i < s.n_resources; i++) {
        assert_true(strncmp(s.resources[i].tf_name, PREFIX, strlen(PREFIX)) == 0);
        assert_string_equal(s.resources[i].tf_name + strlen(PREFIX), s.resources[i].rpc_name);
        assert_string_equal(json_string_value(json_array_get(s.resources[i].type, 0)), "object");
    }
    for (size_t i = 0; i < s.n_data_sources; i++)
        assert_true(strncmp(s.data_sources[i].tf_name, PREFIX, strlen(PREFIX)) == 0);

    /* Look-ups go by Terraform's names only. */
    const tfschema_type *t = tfschema_resource(&s, "cloudflare_sso_connector");
    assert_non_null(t);
    assert_string_equal(t->rpc_name, "sso_connector");
    assert_non_null(json_object_get(json_array_get(t->type, 1), "verification"));
    assert_null(tfschema_resource(&s, "sso_connector"));
    assert_null(tfschema_resource(&s, "cloudflare_sso_connectors"));
    assert_null(tfschema_resource(&s, NULL));
    assert_non_null(tfschema_data_source(&s, "cloudflare_sso_connector"));
    assert_non_null(tfschema_data_source(&s, "cloudflare_sso_connectors"));
    assert_null(tfschema_data_source(&s, "cloudflare_nothing"));
    assert_non_null(json_object_get(json_array_get(s.provider_type, 1), "base_url"));

    /* The packed answer, as Terraform unpacks it. */
    Tfplugin6__GetProviderSchema__Response *r = (void *)protobuf_c_message_unpack(
        &tfplugin6__get_provider_schema__response__descriptor, NULL, s.schema_pb_len, s.schema_pb);
    assert_non_null(r);
    assert_non_null(r->provider);
    check_block(r->provider->block,
                json_object_get(json_object_get(g_schema, "provider"), "block"));
    check_map(r->n_resource_schemas, (void **)r->resource_schemas,
              json_object_get(g_schema, "resource_schemas"));
    check_map(r->n_data_source_schemas, (void **)r->data_source_schemas,
              json_object_get(g_schema, "data_source_schemas"));
    assert_int_equal(r->n_diagnostics, 0);
    assert_non_null(r->server_capabilities);
    const json_t *caps = json_object_get(g_schema, "server_capabilities");
    assert_int_equal(r->server_capabilities->plan_destroy,
                     json_is_true(json_object_get(caps, "plan_destroy")));
    assert_false(r->server_capabilities->move_resource_state);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    Tfplugin6__GetMetadata__Response *m = (void *)protobuf_c_message_unpack(
        &tfplugin6__get_metadata__response__descriptor, NULL, s.metadata_pb_len, s.metadata_pb);
    assert_non_null(m);
    assert_int_equal(m->n_resources, s.n_resources);
    assert_int_equal(m->n_data_sources, s.n_data_sources);
    for (size_t i = 0; i < m->n_resources; i++)
        assert_non_null(tfschema_resource(&s, m->resources[i]->type_name));
    for (size_t i = 0; i < m->n_data_sources; i++)
        assert_non_null(tfschema_data_source(&s, m->data_sources[i]->type_name));
    assert_non_null(m->server_capabilities);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    tfschema_free(&s);
}

/* ------------------------------------------------------------------ */
/* Schemas that must be refused                                        */
/* ------------------------------------------------------------------ */

static void test_load_refuses(void **state) {
    (void)state;
    static const struct {
        const char *schema;
        const char *in_message; /* the error names this */
    } cases[] = {
        /* malformed attribute types: Terraform would panic on them */
        {"{'resource_schemas':{'r':{'block':{'attributes':{'a':{'type':'strin'}}}}}}", "a"},
        {"{'resource_schemas':{'r':{'block':{'attributes':{'bad':{'type':['list']}}}}}}", "bad"},
        {"{'resource_schemas':{'r':{'block':{'attributes':{'n':{'type':42}}}}}}", "n"},
        {"{'resource_schemas':{'r':{'block':{'attributes':{'o':{'type':['object','x']}}}}}}", "o"},
        {"{'data_source_schemas':{'d':{'block':{'attributes':{'m':{'type':['map']}}}}}}", "m"},
        {"{'resource_schemas':{'r':{'block':{'attributes':{'t':{'optional':true}}}}}}", "t"},
        {"{'provider':{'block':{'attributes':{'p':{'type':'strnig'}}}}}", "provider"},
        /* a schema without its block */
        {"{'resource_schemas':{'r':{'version':0}}}", "r"},
        /* a nested type or block without a valid nesting mode */
        {"{'resource_schemas':{'r':{'block':{'attributes':{'nt':{'nested_type':{'nesting_mode':"
         "'sideways','attributes':{'x':{'type':'string'}}}}}}}}}",
         "nest"},
        {"{'resource_schemas':{'r':{'block':{'block_types':{'b':{'nesting_mode':'nope',"
         "'block':{'attributes':{}}}}}}}}",
         "b"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *schema = J(cases[i].schema);
        tfschema s;
        char err[TFSCHEMA_ERR_MAX] = "";
        int rc = tfschema_load(&s, schema, PREFIX, err);
        if (rc == 0) {
            tfschema_free(&s);
            fail_msg("case %zu was accepted: %s", i, cases[i].schema);
        }
        assert_true(strlen(err) > 0);
        if (!strstr(err, cases[i].in_message))
            fail_msg("case %zu: the message \"%s\" does not name \"%s\"", i, err,
                     cases[i].in_message);
        print_message("  refused: %s\n", err);
        /* Nothing to free, and the schema JSON is ours alone again. */
        assert_int_equal(schema->refcount, 1);
        json_decref(schema);
    }
}

static void test_load_minimal_and_diagnostics(void **state) {
    (void)state;
    /* No provider block: an empty one is announced (Terraform needs one).
     * The child's diagnostics travel in the answer. */
    json_t *schema = J("{'resource_schemas':{'thing':{'version':3,'block':{'attributes':{"
                       "'tags':{'type':['map','string'],'optional':true},"
                       "'n':{'type':'number','computed':true,'sensitive':true}}}}},"
                       "'data_source_schemas':{},"
                       "'diagnostics':[{'severity':'warning','summary':'careful','detail':'d'}]}");
    tfschema s;
    char err[TFSCHEMA_ERR_MAX];
    if (tfschema_load(&s, schema, "x_", err) != 0)
        fail_msg("tfschema_load: %s", err);
    assert_int_equal(s.n_resources, 1);
    assert_string_equal(s.resources[0].tf_name, "x_thing");
    assert_int_equal(s.n_data_sources, 0);
    Tfplugin6__GetProviderSchema__Response *r = (void *)protobuf_c_message_unpack(
        &tfplugin6__get_provider_schema__response__descriptor, NULL, s.schema_pb_len, s.schema_pb);
    assert_non_null(r);
    assert_non_null(r->provider);
    assert_non_null(r->provider->block);
    assert_int_equal(r->provider->block->n_attributes, 0);
    assert_int_equal(r->n_resource_schemas, 1);
    assert_int_equal(r->resource_schemas[0]->value->version, 3);
    assert_int_equal(r->n_diagnostics, 1);
    assert_int_equal(r->diagnostics[0]->severity, TFPLUGIN6__DIAGNOSTIC__SEVERITY__WARNING);
    assert_string_equal(r->diagnostics[0]->summary, "careful");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    tfschema_free(&s);
    json_decref(schema);
}

static void test_error_answers(void **state) {
    (void)state;
    size_t len = 0;
    uint8_t *b = tfschema_error_answer("Provider schema unavailable", "it crashed", &len);
    assert_non_null(b);
    Tfplugin6__GetProviderSchema__Response *r = (void *)protobuf_c_message_unpack(
        &tfplugin6__get_provider_schema__response__descriptor, NULL, len, b);
    assert_non_null(r);
    assert_non_null(r->provider);
    assert_non_null(r->provider->block); /* Terraform dereferences it */
    assert_int_equal(r->n_diagnostics, 1);
    assert_int_equal(r->diagnostics[0]->severity, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR);
    assert_string_equal(r->diagnostics[0]->summary, "Provider schema unavailable");
    assert_string_equal(r->diagnostics[0]->detail, "it crashed");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    free(b);

    b = tfschema_error_metadata("S", "D", &len);
    assert_non_null(b);
    Tfplugin6__GetMetadata__Response *m = (void *)protobuf_c_message_unpack(
        &tfplugin6__get_metadata__response__descriptor, NULL, len, b);
    assert_non_null(m);
    assert_int_equal(m->n_diagnostics, 1);
    assert_int_equal(m->diagnostics[0]->severity, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    free(b);
}

/* ------------------------------------------------------------------ */
/* Attribute paths                                                     */
/* ------------------------------------------------------------------ */

typedef struct step {
    int kind; /* 1 attribute, 2 map key, 3 index */
    const char *s;
    int64_t i;
} step;

static void check_path(const char *path_json, const char *type_json, const step *want, size_t n) {
    arena a = ARENA_INIT;
    json_t *path = J(path_json);
    json_t *type = type_json ? J(type_json) : NULL;
    Tfplugin6__AttributePath *p = tfpath_from_json(&a, path, type);
    if (!p)
        fail_msg("no path for %s", path_json);
    assert_int_equal(p->n_steps, n);
    for (size_t i = 0; i < n; i++) {
        const Tfplugin6__AttributePath__Step *s = p->steps[i];
        switch (want[i].kind) {
        case 1:
            assert_int_equal(s->selector_case,
                             TFPLUGIN6__ATTRIBUTE_PATH__STEP__SELECTOR_ATTRIBUTE_NAME);
            assert_string_equal(s->attribute_name, want[i].s);
            break;
        case 2:
            assert_int_equal(s->selector_case,
                             TFPLUGIN6__ATTRIBUTE_PATH__STEP__SELECTOR_ELEMENT_KEY_STRING);
            assert_string_equal(s->element_key_string, want[i].s);
            break;
        default:
            assert_int_equal(s->selector_case,
                             TFPLUGIN6__ATTRIBUTE_PATH__STEP__SELECTOR_ELEMENT_KEY_INT);
            assert_int_equal(s->element_key_int, want[i].i);
        }
    }
    /* It packs and unpacks as a protobuf message. */
    size_t len = tfplugin6__attribute_path__get_packed_size(p);
    uint8_t *buf = malloc(len ? len : 1);
    tfplugin6__attribute_path__pack(p, buf);
    Tfplugin6__AttributePath *back = tfplugin6__attribute_path__unpack(NULL, len, buf);
    assert_non_null(back);
    assert_int_equal(back->n_steps, n);
    tfplugin6__attribute_path__free_unpacked(back, NULL);
    free(buf);
    json_decref(path);
    json_decref(type);
    arena_free(&a);
}

#define OBJ_TYPE                                                                                   \
    "['object',{'verification':['object',{'code':'string','status':'string'}],"                    \
    "'tags':['map','string'],'nested':['map',['object',{'x':'string'}]],"                          \
    "'connectors':['list',['object',{'id':'string'}]],'pair':['tuple',['string',['map','bool']]]," \
    "'s':['set','string']}]"

static void test_paths(void **state) {
    (void)state;
    /* object attributes */
    step obj[] = {{1, "verification", 0}, {1, "status", 0}};
    check_path("['verification','status']", OBJ_TYPE, obj, 2);
    /* a map: the string after it is a key, not an attribute */
    step map[] = {{1, "tags", 0}, {2, "team", 0}};
    check_path("['tags','team']", OBJ_TYPE, map, 2);
    step map_obj[] = {{1, "nested", 0}, {2, "k", 0}, {1, "x", 0}};
    check_path("['nested','k','x']", OBJ_TYPE, map_obj, 3);
    /* a list: an index, then the element's attributes */
    step list[] = {{1, "connectors", 0}, {3, NULL, 2}, {1, "id", 0}};
    check_path("['connectors',2,'id']", OBJ_TYPE, list, 3);
    /* a tuple element that is a map */
    step tuple[] = {{1, "pair", 0}, {3, NULL, 1}, {2, "flag", 0}};
    check_path("['pair',1,'flag']", OBJ_TYPE, tuple, 3);
    step set[] = {{1, "s", 0}, {3, NULL, 0}};
    check_path("['s',0]", OBJ_TYPE, set, 2);
    /* without a type: names are attributes, numbers indexes */
    step untyped[] = {{1, "a", 0}, {3, NULL, 5}, {1, "b", 0}};
    check_path("['a',5,'b']", NULL, untyped, 3);
    /* a name the type does not know is still an attribute */
    step unknown[] = {{1, "nope", 0}, {1, "deeper", 0}};
    check_path("['nope','deeper']", OBJ_TYPE, unknown, 2);
    check_path("[]", OBJ_TYPE, NULL, 0);

    /* Not a path. */
    const char *bad[] = {"'verification'", "{'a':1}",    "['a',1.5]",
                         "['a',true]",     "['a',null]", "[['a']]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        arena a = ARENA_INIT;
        json_t *p = J(bad[i]);
        json_t *t = J(OBJ_TYPE);
        if (tfpath_from_json(&a, p, t) != NULL)
            fail_msg("%s was taken as a path", bad[i]);
        json_decref(p);
        json_decref(t);
        arena_free(&a);
    }
}

/* ------------------------------------------------------------------ */
/* Diagnostics                                                         */
/* ------------------------------------------------------------------ */

static void test_diagnostics(void **state) {
    (void)state;
    arena a = ARENA_INIT;
    tfdiags d = {0};
    json_t *type = J(OBJ_TYPE);
    json_t *diags = J("[{'severity':'error','summary':'E','detail':'ed','attribute':['tags','k']},"
                      "{'severity':'warning','summary':'W'},"
                      "{'summary':'no severity'},"
                      "{'severity':'info','summary':'unknown severity'},"
                      "{'severity':'WARNING','summary':'case matters'},"
                      "'not an object', 42, null,"
                      "{'severity':'warning','summary':'bad path','attribute':'verification'},"
                      "{'severity':'warning','summary':'empty path','attribute':[]}]");
    tfdiags_add_json(&a, &d, diags, type);
    assert_int_equal(d.n, 7);
    /* Terraform knows only ERROR and WARNING: anything but "warning" is an
     * error (severity 0 would be neither). */
    const Tfplugin6__Diagnostic__Severity want[] = {
        TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR,   TFPLUGIN6__DIAGNOSTIC__SEVERITY__WARNING,
        TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR,   TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR,
        TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR,   TFPLUGIN6__DIAGNOSTIC__SEVERITY__WARNING,
        TFPLUGIN6__DIAGNOSTIC__SEVERITY__WARNING,
    };
    for (size_t i = 0; i < d.n; i++)
        assert_int_equal(d.items[i]->severity, want[i]);
    assert_string_equal(d.items[0]->summary, "E");
    assert_string_equal(d.items[0]->detail, "ed");
    assert_non_null(d.items[0]->attribute);
    assert_int_equal(d.items[0]->attribute->n_steps, 2);
    assert_int_equal(d.items[0]->attribute->steps[1]->selector_case,
                     TFPLUGIN6__ATTRIBUTE_PATH__STEP__SELECTOR_ELEMENT_KEY_STRING);
    assert_string_equal(d.items[1]->detail, ""); /* absent detail: empty, not NULL */
    assert_null(d.items[1]->attribute);
    assert_null(d.items[5]->attribute); /* a path that is not one is dropped */
    assert_null(d.items[6]->attribute);
    assert_true(tfdiags_has_error(&d));

    /* Not an array: ignored. */
    json_t *obj = J("{'severity':'error','summary':'x'}");
    tfdiags_add_json(&a, &d, obj, type);
    tfdiags_add_json(&a, &d, NULL, type);
    assert_int_equal(d.n, 7);

    /* Each packs as part of an answer Terraform can read. */
    Tfplugin6__ValidateResourceConfig__Response r =
        TFPLUGIN6__VALIDATE_RESOURCE_CONFIG__RESPONSE__INIT;
    r.diagnostics = d.items;
    r.n_diagnostics = d.n;
    size_t len = protobuf_c_message_get_packed_size(&r.base);
    uint8_t *buf = malloc(len);
    protobuf_c_message_pack(&r.base, buf);
    Tfplugin6__ValidateResourceConfig__Response *back = (void *)protobuf_c_message_unpack(
        &tfplugin6__validate_resource_config__response__descriptor, NULL, len, buf);
    assert_non_null(back);
    assert_int_equal(back->n_diagnostics, 7);
    protobuf_c_message_free_unpacked(&back->base, NULL);
    free(buf);

    /* Only warnings: no error. tfdiags_add makes either kind. */
    tfdiags w = {0};
    tfdiags_add(&a, &w, TFPLUGIN6__DIAGNOSTIC__SEVERITY__WARNING, "w", NULL);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.items[0]->detail, "");
    assert_false(tfdiags_has_error(&w));
    tfdiags_add(&a, &w, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR, "e", "d");
    assert_true(tfdiags_has_error(&w));
    tfdiags none = {0};
    assert_false(tfdiags_has_error(&none));

    json_decref(obj);
    json_decref(diags);
    json_decref(type);
    arena_free(&a);
}

/* Diagnostic texts reach Terraform as proto3 strings, which must be valid
 * UTF-8: a text cut inside a character (snprintf) or holding stray bytes
 * comes out with '?' in their place, and valid text is kept as it is. */
static void test_diagnostics_valid_utf8(void **state) {
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"caf\xc3\xa9", "caf\xc3\xa9"}, /* whole: kept */
        {"cut \xc3", "cut ?"},          /* cut after a lead byte */
        {"cut \xe2\x80", "cut ??"},     /* cut inside three bytes */
        {"\xe2\x80\x9cquoted\xe2\x80\x9d", "\xe2\x80\x9cquoted\xe2\x80\x9d"},
        {"stray \x80 byte", "stray ? byte"},          /* continuation alone */
        {"overlong \xc0\xaf", "overlong ??"},         /* overlong '/' */
        {"surrogate \xed\xa0\x80", "surrogate ???"},  /* U+D800 */
        {"too big \xf4\x90\x80\x80", "too big ????"}, /* past U+10FFFF */
        {"emoji \xf0\x9f\x94\x91", "emoji \xf0\x9f\x94\x91"},
    };
    arena a = ARENA_INIT;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tfdiags d = {0};
        tfdiags_add(&a, &d, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR, cases[i].in, cases[i].in);
        assert_int_equal(d.n, 1);
        assert_string_equal(d.items[0]->summary, cases[i].out);
        assert_string_equal(d.items[0]->detail, cases[i].out);
        json_t *j = json_pack("[{s:s,s:s}]", "severity", "error", "summary", "x");
        tfdiags_add_json(&a, &d, j, NULL);
        json_decref(j);
        assert_int_equal(d.n, 2);
    }
    arena_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diagnostics_valid_utf8),
        cmocka_unit_test(test_load_real),
        cmocka_unit_test(test_load_refuses),
        cmocka_unit_test(test_load_minimal_and_diagnostics),
        cmocka_unit_test(test_error_answers),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_diagnostics),
    };
    return cmocka_run_group_tests_name("tfbridge schema", tests, load_real_schema,
                                       free_real_schema);
}
