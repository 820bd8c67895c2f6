/*
 * tfschema.c - from the contract's JSON schema to tfplugin6 messages, and
 * the contract's diagnostics and attribute paths to theirs.
 *
 * The protobuf answers are built in an arena (arena.h) and packed once into
 * malloc'd bytes; the arena is then dropped whole.
 */
#include "tfschema.h"

#include "msgval.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *pb_new(arena *a, const ProtobufCMessageDescriptor *d) {
    void *m = arena_alloc(a, d->sizeof_message);
    if (m)
        protobuf_c_message_init(d, m);
    return m;
}

/* Packs a message into a new malloc'd buffer. NULL on allocation failure. */
static uint8_t *pack_new(const ProtobufCMessage *m, size_t *len) {
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return NULL;
    *len = protobuf_c_message_pack(m, buf);
    return buf;
}

/* ------------------------------------------------------------------ */
/* Schema blocks                                                       */
/* ------------------------------------------------------------------ */

static bool flag(const json_t *obj, const char *key) {
    return json_is_true(json_object_get(obj, key));
}

static const char *text(const json_t *obj, const char *key) {
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static Tfplugin6__StringKind kind_of(const json_t *obj) {
    const char *k = json_string_value(json_object_get(obj, "description_kind"));
    return k && strcmp(k, "markdown") == 0 ? TFPLUGIN6__STRING_KIND__MARKDOWN
                                           : TFPLUGIN6__STRING_KIND__PLAIN;
}

/* "single" -> 1 ... as both NestingMode enums number them; 0 (INVALID) for
 * anything else. */
static int nesting_of(const json_t *obj) {
    static const char *const modes[] = {"single", "list", "set", "map", "group"};
    const char *m = json_string_value(json_object_get(obj, "nesting_mode"));
    for (int i = 0; m && i < 5; i++) {
        if (strcmp(m, modes[i]) == 0)
            return i + 1;
    }
    return 0;
}

static Tfplugin6__Schema__Block *block_pb(arena *a, const json_t *block,
                                          char err[TFSCHEMA_ERR_MAX]);

static Tfplugin6__Schema__Object *object_pb(arena *a, const json_t *nested,
                                            char err[TFSCHEMA_ERR_MAX]);

/* One attribute. Its type is checked (Terraform panics on a bad one) and
 * sent as compact JSON text, quotes included ("\"string\""). */
static Tfplugin6__Schema__Attribute *attr_pb(arena *a, const char *name, const json_t *attr,
                                             char err[TFSCHEMA_ERR_MAX]) {
    Tfplugin6__Schema__Attribute *pb = pb_new(a, &tfplugin6__schema__attribute__descriptor);
    if (!pb)
        return NULL;
    pb->name = arena_strdup(a, name);
    const json_t *type = json_object_get(attr, "type");
    const json_t *nested = json_object_get(attr, "nested_type");
    if (nested) {
        if (!(pb->nested_type = object_pb(a, nested, err)))
            return NULL;
    } else {
        char why[MSGVAL_ERR_MAX];
        if (!type || msgval_type_check(type, why) != 0) {
            snprintf(err, TFSCHEMA_ERR_MAX, "attribute %.64s: %.160s", name,
                     type ? why : "no type");
            return NULL;
        }
        char *json = json_dumps(type, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!json)
            return NULL;
        pb->type.len = strlen(json);
        pb->type.data = arena_memdup(a, json, pb->type.len);
        free(json);
    }
    pb->description = arena_strdup(a, text(attr, "description"));
    pb->description_kind = kind_of(attr);
    pb->required = flag(attr, "required");
    pb->optional = flag(attr, "optional");
    pb->computed = flag(attr, "computed");
    pb->sensitive = flag(attr, "sensitive");
    pb->deprecated = flag(attr, "deprecated");
    pb->write_only = flag(attr, "write_only");
    return arena_failed(a) ? NULL : pb;
}

/* The attributes of a block or nested type, in the schema's order. */
static Tfplugin6__Schema__Attribute **attrs_pb(arena *a, const json_t *attrs, size_t *n,
                                               char err[TFSCHEMA_ERR_MAX]) {
    *n = 0;
    if (!attrs)
        return NULL;
    if (!json_is_object(attrs)) {
        snprintf(err, TFSCHEMA_ERR_MAX, "\"attributes\" is not an object");
        return NULL;
    }
    Tfplugin6__Schema__Attribute **list = arena_alloc(a, json_object_size(attrs) * sizeof(*list));
    const char *name;
    const json_t *attr;
    json_object_foreach((json_t *)attrs, name, attr) {
        if (!list || !(list[*n] = attr_pb(a, name, attr, err)))
            return NULL;
        (*n)++;
    }
    return list;
}

static Tfplugin6__Schema__Object *object_pb(arena *a, const json_t *nested,
                                            char err[TFSCHEMA_ERR_MAX]) {
    Tfplugin6__Schema__Object *pb = pb_new(a, &tfplugin6__schema__object__descriptor);
    int nesting = nesting_of(nested);
    if (!pb || nesting == 0 || nesting == 5) {
        if (pb)
            snprintf(err, TFSCHEMA_ERR_MAX, "nested_type without a valid nesting_mode");
        return NULL;
    }
    pb->nesting = (Tfplugin6__Schema__Object__NestingMode)nesting;
    pb->attributes = attrs_pb(a, json_object_get(nested, "attributes"), &pb->n_attributes, err);
    if (json_object_size(json_object_get(nested, "attributes")) && !pb->attributes)
        return NULL;
    return pb;
}

static Tfplugin6__Schema__Block *block_pb(arena *a, const json_t *block,
                                          char err[TFSCHEMA_ERR_MAX]) {
    Tfplugin6__Schema__Block *pb = pb_new(a, &tfplugin6__schema__block__descriptor);
    if (!pb)
        return NULL;
    if (!json_is_object(block)) {
        snprintf(err, TFSCHEMA_ERR_MAX, "a schema without a block");
        return NULL;
    }
    const json_t *attrs = json_object_get(block, "attributes");
    pb->attributes = attrs_pb(a, attrs, &pb->n_attributes, err);
    if (json_object_size(attrs) && !pb->attributes)
        return NULL;
    const json_t *types = json_object_get(block, "block_types");
    if (json_object_size(types)) {
        pb->block_types = arena_alloc(a, json_object_size(types) * sizeof(*pb->block_types));
        const char *name;
        const json_t *nb;
        json_object_foreach((json_t *)types, name, nb) {
            Tfplugin6__Schema__NestedBlock *n =
                pb_new(a, &tfplugin6__schema__nested_block__descriptor);
            if (!n || !pb->block_types)
                return NULL;
            n->type_name = arena_strdup(a, name);
            n->nesting = (Tfplugin6__Schema__NestedBlock__NestingMode)nesting_of(nb);
            if (n->nesting == 0) {
                snprintf(err, TFSCHEMA_ERR_MAX, "block %.64s: no valid nesting_mode", name);
                return NULL;
            }
            n->min_items = json_integer_value(json_object_get(nb, "min_items"));
            n->max_items = json_integer_value(json_object_get(nb, "max_items"));
            if (!(n->block = block_pb(a, json_object_get(nb, "block"), err)))
                return NULL;
            pb->block_types[pb->n_block_types++] = n;
        }
    }
    pb->description = arena_strdup(a, text(block, "description"));
    pb->description_kind = kind_of(block);
    pb->deprecated = flag(block, "deprecated");
    return arena_failed(a) ? NULL : pb;
}

/* {"version": N, "block": {...}} as a Schema (its block always present:
 * Terraform dereferences it without a check). */
static Tfplugin6__Schema *schema_pb(arena *a, const json_t *schema, char err[TFSCHEMA_ERR_MAX]) {
    Tfplugin6__Schema *pb = pb_new(a, &tfplugin6__schema__descriptor);
    if (!pb)
        return NULL;
    pb->version = json_integer_value(json_object_get(schema, "version"));
    pb->block = block_pb(a, json_object_get(schema, "block"), err);
    return pb->block ? pb : NULL;
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

/* Fills `types` from one map of schemas ({name: {version, block}}) and
 * builds its protobuf entries. `entry_desc` is the map entry's descriptor
 * (resource or data source); entries share the layout {key, value}. */
typedef struct schema_entry {
    ProtobufCMessage base;
    char *key;
    Tfplugin6__Schema *value;
} schema_entry;

static int load_map(arena *a, const json_t *map, const char *prefix,
                    const ProtobufCMessageDescriptor *entry_desc, tfschema_type **types,
                    size_t *n_types, schema_entry ***entries, char err[TFSCHEMA_ERR_MAX]) {
    size_t count = json_object_size(map);
    *types = calloc(count ? count : 1, sizeof(**types));
    *entries = arena_alloc(a, (count ? count : 1) * sizeof(**entries));
    if (!*types || !*entries)
        return -1;
    const char *name;
    const json_t *schema;
    json_object_foreach((json_t *)map, name, schema) {
        tfschema_type *t = &(*types)[*n_types];
        size_t len = strlen(prefix) + strlen(name) + 1;
        t->tf_name = malloc(len);
        if (!t->tf_name)
            return -1;
        snprintf(t->tf_name, len, "%s%s", prefix, name);
        t->rpc_name = (char *)name;
        (*n_types)++;
        char why[MSGVAL_ERR_MAX];
        t->type = msgval_block_type(json_object_get(schema, "block"), why);
        if (!t->type) {
            snprintf(err, TFSCHEMA_ERR_MAX, "%.64s: %.160s", name, why);
            return -1;
        }
        char sub[TFSCHEMA_ERR_MAX];
        schema_entry *e = pb_new(a, entry_desc);
        Tfplugin6__Schema *pb = schema_pb(a, schema, sub);
        if (!e || !pb) {
            snprintf(err, TFSCHEMA_ERR_MAX, "%.64s: %.160s", name, sub);
            return -1;
        }
        e->key = arena_strdup(a, t->tf_name);
        e->value = pb;
        (*entries)[*n_types - 1] = e;
    }
    return 0;
}

static void free_types(tfschema_type *types, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(types[i].tf_name);
        json_decref(types[i].type);
    }
    free(types);
}

void tfschema_free(tfschema *s) {
    json_decref(s->raw);
    json_decref(s->provider_type);
    free_types(s->resources, s->n_resources);
    free_types(s->data_sources, s->n_data_sources);
    free(s->schema_pb);
    free(s->metadata_pb);
    memset(s, 0, sizeof(*s));
}

/* The GetMetadata answer: the type names, and the same capabilities. */
static uint8_t *metadata_pack(arena *a, const tfschema *s, Tfplugin6__ServerCapabilities *caps,
                              size_t *len) {
    Tfplugin6__GetMetadata__Response *r = pb_new(a, &tfplugin6__get_metadata__response__descriptor);
    if (!r)
        return NULL;
    r->server_capabilities = caps;
    r->resources = arena_alloc(a, (s->n_resources + 1) * sizeof(*r->resources));
    r->data_sources = arena_alloc(a, (s->n_data_sources + 1) * sizeof(*r->data_sources));
    for (size_t i = 0; r->resources && i < s->n_resources; i++) {
        Tfplugin6__GetMetadata__ResourceMetadata *m =
            pb_new(a, &tfplugin6__get_metadata__resource_metadata__descriptor);
        if (!m)
            return NULL;
        m->type_name = s->resources[i].tf_name;
        r->resources[r->n_resources++] = m;
    }
    for (size_t i = 0; r->data_sources && i < s->n_data_sources; i++) {
        Tfplugin6__GetMetadata__DataSourceMetadata *m =
            pb_new(a, &tfplugin6__get_metadata__data_source_metadata__descriptor);
        if (!m)
            return NULL;
        m->type_name = s->data_sources[i].tf_name;
        r->data_sources[r->n_data_sources++] = m;
    }
    return arena_failed(a) ? NULL : pack_new(&r->base, len);
}

int tfschema_load(tfschema *s, json_t *result, const char *prefix, char err[TFSCHEMA_ERR_MAX]) {
    memset(s, 0, sizeof(*s));
    arena a = ARENA_INIT;
    snprintf(err, TFSCHEMA_ERR_MAX, "out of memory");
    Tfplugin6__GetProviderSchema__Response *r =
        pb_new(&a, &tfplugin6__get_provider_schema__response__descriptor);
    if (!r)
        goto fail;
    s->raw = json_incref(result);

    const json_t *provider = json_object_get(result, "provider");
    static const char empty_block[] = "{\"block\": {\"attributes\": {}}}";
    json_t *fallback = provider ? NULL : json_loads(empty_block, 0, NULL);
    if (!provider)
        provider = fallback;
    char why[MSGVAL_ERR_MAX];
    s->provider_type = msgval_block_type(json_object_get(provider, "block"), why);
    char sub[TFSCHEMA_ERR_MAX] = "";
    r->provider = s->provider_type ? schema_pb(&a, provider, sub) : NULL;
    json_decref(fallback);
    if (!r->provider) {
        snprintf(err, TFSCHEMA_ERR_MAX, "provider configuration: %.200s",
                 s->provider_type ? sub : why);
        goto fail;
    }
    if (load_map(&a, json_object_get(result, "resource_schemas"), prefix,
                 &tfplugin6__get_provider_schema__response__resource_schemas_entry__descriptor,
                 &s->resources, &s->n_resources, (schema_entry ***)&r->resource_schemas,
                 err) != 0 ||
        load_map(&a, json_object_get(result, "data_source_schemas"), prefix,
                 &tfplugin6__get_provider_schema__response__data_source_schemas_entry__descriptor,
                 &s->data_sources, &s->n_data_sources, (schema_entry ***)&r->data_source_schemas,
                 err) != 0)
        goto fail;
    r->n_resource_schemas = s->n_resources;
    r->n_data_source_schemas = s->n_data_sources;

    const json_t *caps_json = json_object_get(result, "server_capabilities");
    Tfplugin6__ServerCapabilities *caps = pb_new(&a, &tfplugin6__server_capabilities__descriptor);
    if (!caps)
        goto fail;
    caps->plan_destroy = flag(caps_json, "plan_destroy");
    caps->get_provider_schema_optional = flag(caps_json, "get_provider_schema_optional");
    /* Moves need MoveResourceState, which the contract does not have. */
    caps->move_resource_state = false;
    r->server_capabilities = caps;

    tfdiags diags = {0};
    tfdiags_add_json(&a, &diags, json_object_get(result, "diagnostics"), NULL);
    r->diagnostics = diags.items;
    r->n_diagnostics = diags.n;
    if (arena_failed(&a))
        goto fail;
    s->schema_pb = pack_new(&r->base, &s->schema_pb_len);
    s->metadata_pb = metadata_pack(&a, s, caps, &s->metadata_pb_len);
    if (!s->schema_pb || !s->metadata_pb)
        goto fail;
    arena_free(&a);
    return 0;
fail:
    arena_free(&a);
    tfschema_free(s);
    return -1;
}

static const tfschema_type *find(const tfschema_type *types, size_t n, const char *tf_name) {
    for (size_t i = 0; tf_name && i < n; i++) {
        if (strcmp(types[i].tf_name, tf_name) == 0)
            return &types[i];
    }
    return NULL;
}

const tfschema_type *tfschema_resource(const tfschema *s, const char *tf_name) {
    return find(s->resources, s->n_resources, tf_name);
}

const tfschema_type *tfschema_data_source(const tfschema *s, const char *tf_name) {
    return find(s->data_sources, s->n_data_sources, tf_name);
}

uint8_t *tfschema_error_answer(const char *summary, const char *detail, size_t *len) {
    arena a = ARENA_INIT;
    Tfplugin6__GetProviderSchema__Response *r =
        pb_new(&a, &tfplugin6__get_provider_schema__response__descriptor);
    Tfplugin6__Schema *provider = pb_new(&a, &tfplugin6__schema__descriptor);
    uint8_t *out = NULL;
    if (r && provider) {
        /* Terraform dereferences the provider schema's block: give an empty
         * one rather than none. */
        provider->block = pb_new(&a, &tfplugin6__schema__block__descriptor);
        r->provider = provider;
        tfdiags diags = {0};
        tfdiags_add(&a, &diags, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR, summary, detail);
        r->diagnostics = diags.items;
        r->n_diagnostics = diags.n;
        if (!arena_failed(&a))
            out = pack_new(&r->base, len);
    }
    arena_free(&a);
    return out;
}

uint8_t *tfschema_error_metadata(const char *summary, const char *detail, size_t *len) {
    arena a = ARENA_INIT;
    Tfplugin6__GetMetadata__Response *r =
        pb_new(&a, &tfplugin6__get_metadata__response__descriptor);
    uint8_t *out = NULL;
    if (r) {
        tfdiags diags = {0};
        tfdiags_add(&a, &diags, TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR, summary, detail);
        r->diagnostics = diags.items;
        r->n_diagnostics = diags.n;
        if (!arena_failed(&a))
            out = pack_new(&r->base, len);
    }
    arena_free(&a);
    return out;
}

/* ------------------------------------------------------------------ */
/* Diagnostics and paths                                               */
/* ------------------------------------------------------------------ */

/* The element type one step below `type`, for a name (object attribute or
 * map key) or an index (list, set, tuple); NULL when unknown. */
static const json_t *step_type(const json_t *type, const json_t *step, bool *is_map) {
    *is_map = false;
    const char *kind = json_string_value(json_array_get(type, 0));
    if (!kind)
        return NULL;
    const json_t *inner = json_array_get(type, 1);
    if (json_is_string(step)) {
        if (strcmp(kind, "object") == 0)
            return json_object_get(inner, json_string_value(step));
        if (strcmp(kind, "map") == 0) {
            *is_map = true;
            return inner;
        }
        return NULL;
    }
    if (strcmp(kind, "list") == 0 || strcmp(kind, "set") == 0)
        return inner;
    if (strcmp(kind, "tuple") == 0)
        return json_array_get(inner, (size_t)json_integer_value(step));
    return NULL;
}

Tfplugin6__AttributePath *tfpath_from_json(arena *a, const json_t *path, const json_t *type) {
    if (!json_is_array(path))
        return NULL;
    Tfplugin6__AttributePath *pb = pb_new(a, &tfplugin6__attribute_path__descriptor);
    size_t n = json_array_size(path);
    if (!pb || !(pb->steps = arena_alloc(a, (n ? n : 1) * sizeof(*pb->steps))))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const json_t *step = json_array_get(path, i);
        Tfplugin6__AttributePath__Step *s = pb_new(a, &tfplugin6__attribute_path__step__descriptor);
        if (!s)
            return NULL;
        bool is_map = false;
        const json_t *next = step_type(type, step, &is_map);
        if (json_is_string(step)) {
            char *name = arena_strdup(a, json_string_value(step));
            if (is_map) {
                s->selector_case = TFPLUGIN6__ATTRIBUTE_PATH__STEP__SELECTOR_ELEMENT_KEY_STRING;
                s->element_key_string = name;
            } else {
                s->selector_case = TFPLUGIN6__ATTRIBUTE_PATH__STEP__SELECTOR_ATTRIBUTE_NAME;
                s->attribute_name = name;
            }
        } else if (json_is_integer(step)) {
            s->selector_case = TFPLUGIN6__ATTRIBUTE_PATH__STEP__SELECTOR_ELEMENT_KEY_INT;
            s->element_key_int = json_integer_value(step);
        } else {
            return NULL;
        }
        pb->steps[pb->n_steps++] = s;
        type = next;
    }
    return arena_failed(a) ? NULL : pb;
}

/* A copy of `text` that is valid UTF-8, as proto3 string fields must be
 * (Go's protobuf refuses the whole message otherwise): an invalid or cut
 * sequence becomes '?'. Texts cut with snprintf can end inside a character;
 * messages from the child or the API can hold anything. */
static char *utf8_copy(arena *a, const char *text) {
    size_t len = strlen(text);
    char *out = arena_alloc(a, len + 1);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0, n = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t need = c < 0x80             ? 0
                      : (c & 0xe0) == 0xc0 ? 1
                      : (c & 0xf0) == 0xe0 ? 2
                      : (c & 0xf8) == 0xf0 ? 3
                                           : 4;
        /* 0xc0, 0xc1 (overlong) and 0xf5.. (past U+10FFFF) never lead. */
        bool ok = need < 4 && i + need < len && !(c >= 0xc0 && c < 0xc2) && c < 0xf5;
        for (size_t k = 1; ok && k <= need; k++)
            ok = (p[i + k] & 0xc0) == 0x80;
        /* Overlong 3- and 4-byte forms, surrogates and code points past
         * U+10FFFF are invalid too. */
        if (ok && need == 2)
            ok = !(c == 0xe0 && p[i + 1] < 0xa0) && !(c == 0xed && p[i + 1] >= 0xa0);
        if (ok && need == 3)
            ok = !(c == 0xf0 && p[i + 1] < 0x90) && !(c == 0xf4 && p[i + 1] >= 0x90);
        if (!ok) {
            out[n++] = '?';
            i++;
            continue;
        }
        memcpy(out + n, p + i, need + 1);
        n += need + 1;
        i += need + 1;
    }
    out[n] = '\0';
    return out;
}

static void diags_push(arena *a, tfdiags *out, Tfplugin6__Diagnostic *d) {
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 4;
        Tfplugin6__Diagnostic **grown = arena_alloc(a, cap * sizeof(*grown));
        if (!grown)
            return;
        if (out->n)
            memcpy(grown, out->items, out->n * sizeof(*grown));
        out->items = grown;
        out->cap = cap;
    }
    out->items[out->n++] = d;
}

void tfdiags_add(arena *a, tfdiags *out, Tfplugin6__Diagnostic__Severity severity,
                 const char *summary, const char *detail) {
    Tfplugin6__Diagnostic *d = pb_new(a, &tfplugin6__diagnostic__descriptor);
    if (!d)
        return;
    d->severity = severity;
    d->summary = utf8_copy(a, summary ? summary : "");
    d->detail = utf8_copy(a, detail ? detail : "");
    if (d->summary && d->detail)
        diags_push(a, out, d);
}

void tfdiags_add_json(arena *a, tfdiags *out, const json_t *diags, const json_t *type) {
    size_t i;
    const json_t *j;
    json_array_foreach(diags, i, j) {
        if (!json_is_object(j))
            continue;
        const char *sev = json_string_value(json_object_get(j, "severity"));
        Tfplugin6__Diagnostic *d = pb_new(a, &tfplugin6__diagnostic__descriptor);
        if (!d)
            return;
        /* Severity 0 is neither error nor warning to Terraform: anything
         * but "warning" counts as an error. */
        d->severity = sev && strcmp(sev, "warning") == 0 ? TFPLUGIN6__DIAGNOSTIC__SEVERITY__WARNING
                                                         : TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR;
        d->summary = utf8_copy(a, text(j, "summary"));
        d->detail = utf8_copy(a, text(j, "detail"));
        const json_t *path = json_object_get(j, "attribute");
        if (json_array_size(path))
            d->attribute = tfpath_from_json(a, path, type);
        if (d->summary && d->detail)
            diags_push(a, out, d);
    }
}

bool tfdiags_has_error(const tfdiags *d) {
    for (size_t i = 0; i < d->n; i++) {
        if (d->items[i]->severity == TFPLUGIN6__DIAGNOSTIC__SEVERITY__ERROR)
            return true;
    }
    return false;
}
