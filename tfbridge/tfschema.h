/*
 * tfschema.h - the provider's schema as Terraform sees it (internal to the
 * bridge).
 *
 * The child answers GetProviderSchema once, in the contract's JSON form.
 * tfschema_load() keeps that answer and derives from it everything the
 * bridge needs for the rest of the process: the Terraform type names (each
 * contract name with the provider's prefix, "sso_connector" ->
 * "cloudflare_sso_connector", as Terraform requires), the object type of
 * every block (to translate values), and the packed
 * tfplugin6.GetProviderSchema.Response and GetMetadata.Response, built once
 * and answered as they are to every later request.
 *
 * Every type expression is checked before it is announced: Terraform
 * panics on a malformed one instead of reporting an error. A schema that
 * fails the checks becomes an error diagnostic in the answer.
 */
#ifndef TFBRIDGE_TFSCHEMA_H
#define TFBRIDGE_TFSCHEMA_H

#include "arena.h"
#include "tfplugin6.pb-c.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define TFSCHEMA_ERR_MAX 256

typedef struct tfschema_type {
    char *tf_name;  /* "cloudflare_sso_connector" */
    char *rpc_name; /* "sso_connector": borrowed from the schema JSON */
    json_t *type;   /* ["object", {...}] of its block; new reference */
} tfschema_type;

typedef struct tfschema {
    json_t *raw;           /* the child's result; new reference */
    json_t *provider_type; /* object type of the provider block */
    tfschema_type *resources, *data_sources;
    size_t n_resources, n_data_sources;
    uint8_t *schema_pb; /* packed GetProviderSchema.Response */
    size_t schema_pb_len;
    uint8_t *metadata_pb; /* packed GetMetadata.Response */
    size_t metadata_pb_len;
} tfschema;

/* Loads the child's GetProviderSchema result (borrowed; a reference is
 * kept) with type names prefixed by `prefix` ("cloudflare_"). The child's
 * diagnostics go into the answer. Returns 0, or -1 with a reason in err
 * when the schema cannot be used (then nothing needs freeing). */
int tfschema_load(tfschema *s, json_t *result, const char *prefix, char err[TFSCHEMA_ERR_MAX]);
void tfschema_free(tfschema *s);

/* Looks a Terraform type name up; NULL when the provider has no such
 * resource (data source). */
const tfschema_type *tfschema_resource(const tfschema *s, const char *tf_name);
const tfschema_type *tfschema_data_source(const tfschema *s, const char *tf_name);

/* The GetProviderSchema and GetMetadata answers to give when the schema
 * could not be had: only an error diagnostic. New malloc'd packed bytes. */
uint8_t *tfschema_error_answer(const char *summary, const char *detail, size_t *len);
uint8_t *tfschema_error_metadata(const char *summary, const char *detail, size_t *len);

/* ------------------------------------------------------------------ */
/* Diagnostics and attribute paths                                     */
/* ------------------------------------------------------------------ */

/* A list of protobuf diagnostics being collected for one answer. */
typedef struct tfdiags {
    Tfplugin6__Diagnostic **items;
    size_t n, cap;
} tfdiags;

/* Adds the contract's JSON diagnostics (an array; anything else is
 * ignored) to `out`. Attribute paths are translated against `type` (the
 * object type the diagnostic is about; NULL: names are attributes, numbers
 * list indexes). */
void tfdiags_add_json(arena *a, tfdiags *out, const json_t *diags, const json_t *type);
/* Adds one error (or warning) diagnostic made by the bridge itself. */
void tfdiags_add(arena *a, tfdiags *out, Tfplugin6__Diagnostic__Severity severity,
                 const char *summary, const char *detail);
/* True when an error diagnostic is in the list. */
bool tfdiags_has_error(const tfdiags *d);

/* A contract attribute path (["verification", "status"], [0], ...) as a
 * protobuf AttributePath, walking `type` so that a string step into a map is
 * a map key and a number step an index. NULL when the path is not an array
 * of strings and integers. */
Tfplugin6__AttributePath *tfpath_from_json(arena *a, const json_t *path, const json_t *type);

/* A new zeroed protobuf message of descriptor `d` in arena `a`. */
void *pb_new(arena *a, const ProtobufCMessageDescriptor *d);

#endif /* TFBRIDGE_TFSCHEMA_H */
