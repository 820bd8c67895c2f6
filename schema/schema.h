/*
 * schema.h - schemas, values, diagnostics and plan helpers.
 *
 * A schema is static data: a block of attributes, each with a type, flags
 * and a description. It encodes to the JSON form of
 * `terraform providers schema -json` (contract section 4).
 *
 * Values are plain jansson values in the contract's form (section 3): an
 * object keyed by attribute name, `null` for no value, and the object
 * {"$unknown": true} for a value known only after apply. The helpers here
 * check configurations against a schema, complete objects, and derive the
 * proposed new state of a plan as Terraform core does. None of them knows
 * anything about Cloudflare.
 *
 * Ownership follows jansson: "new" results belong to the caller, "borrowed"
 * ones do not; a function that steals a json_t argument ends in _new
 * (diag_error_new takes over its path), as json_object_set_new() does, and
 * every other one borrows (see protocol.h).
 */
#ifndef SCHEMA_H
#define SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* ------------------------------------------------------------------ */
/* Types                                                               */
/* ------------------------------------------------------------------ */

typedef enum schema_kind {
    SCHEMA_STRING,
    SCHEMA_BOOL,
    SCHEMA_NUMBER,
    SCHEMA_LIST,
    SCHEMA_SET,
    SCHEMA_MAP,
    SCHEMA_OBJECT,
} schema_kind;

typedef struct schema_field schema_field;

typedef struct schema_type {
    schema_kind kind;
    const struct schema_type *element; /* list, set, map */
    const schema_field *fields;        /* object */
    size_t field_count;
} schema_type;

struct schema_field {
    const char *name;
    const schema_type *type;
};

extern const schema_type schema_string_type;
extern const schema_type schema_bool_type;
extern const schema_type schema_number_type;

/* Encodes a type in the contract's form: "string", ["list", T],
 * ["object", {...}]. Returns a new reference. */
json_t *schema_type_to_json(const schema_type *type);

/* ------------------------------------------------------------------ */
/* Attributes and blocks                                               */
/* ------------------------------------------------------------------ */

enum {
    SCHEMA_REQUIRED = 1u << 0,
    SCHEMA_OPTIONAL = 1u << 1,
    SCHEMA_COMPUTED = 1u << 2,
    SCHEMA_SENSITIVE = 1u << 3,
    SCHEMA_DEPRECATED = 1u << 4,
};

typedef struct schema_attr {
    const char *name;
    const schema_type *type;
    unsigned flags;
    const char *description;
} schema_attr;

typedef struct schema_block {
    long version;
    const char *description;
    const schema_attr *attrs;
    size_t attr_count;
} schema_block;

/* {"version": N, "block": {"description": ..., "attributes": {...}}};
 * new reference. */
json_t *schema_block_to_json(const schema_block *block);
/* The attribute named `name`, or NULL. */
const schema_attr *schema_find_attr(const schema_block *block, const char *name);

/* ------------------------------------------------------------------ */
/* Values                                                              */
/* ------------------------------------------------------------------ */

/* A new {"$unknown": true}. */
json_t *value_unknown(void);
/* True for {"$unknown": true} (exactly that one member). */
bool value_is_unknown(const json_t *v);
/* True for a missing value (NULL) or JSON null. */
bool value_is_null(const json_t *v);
/* True when no unknown appears anywhere inside v. */
bool value_is_wholly_known(const json_t *v);
/* Equality that treats a missing value and null as equal. */
bool value_equal(const json_t *a, const json_t *b);
/* The attribute `name` of object `obj`, or NULL when obj is not an object,
 * has no such member, or the member is JSON null. Borrowed. */
json_t *value_attr(const json_t *obj, const char *name);

/* Returns a new object holding every attribute of `block`: the value from
 * `obj` (copied) where present, null otherwise. Members of `obj` that the
 * schema does not know are dropped. `obj` may be NULL or null. */
json_t *value_complete_object(const schema_block *block, const json_t *obj);

/* Checks `config` against `block`: unknown attribute names, wrong JSON
 * types (unknowns pass), required attributes missing (unknown passes),
 * computed-only attributes set. Appends one error diagnostic per problem,
 * with its attribute path, to `diags`. Returns the number of errors added.
 * A `config` that is not an object is one error. */
int value_check_config(const schema_block *block, const json_t *config, json_t *diags);

/* Checks that `v` has type `type` (unknown and null pass at every level);
 * on mismatch appends an error at `path` (borrowed; copied as needed) and
 * returns false. */
bool value_check_type(const schema_type *type, const json_t *v, const json_t *path, json_t *diags);

/* ------------------------------------------------------------------ */
/* Diagnostics and attribute paths                                     */
/* ------------------------------------------------------------------ */

/* A new attribute path ["name"]. */
json_t *path_attr(const char *name);
/* A new path: `path` (borrowed, may be NULL) followed by step `name`. */
json_t *path_child(const json_t *path, const char *name);
/* A new path: `path` (borrowed) followed by list index `index`. */
json_t *path_index(const json_t *path, size_t index);

/* A new diagnostic {"severity", "summary", "detail"?, "attribute"?}.
 * `path` is stolen (may be NULL); `detail` may be NULL. */
json_t *diag_new(const char *severity, const char *summary, const char *detail, json_t *path);
/* Appends an error diagnostic to the array `diags`. `path` is stolen (may
 * be NULL). `detail_fmt` may be NULL; otherwise printf-style. */
void diag_error_new(json_t *diags, json_t *path, const char *summary, const char *detail_fmt, ...)
    __attribute__((format(printf, 4, 5)));
void diag_warning_new(json_t *diags, json_t *path, const char *summary, const char *detail_fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* True when `diags` holds at least one error. */
bool diag_has_error(const json_t *diags);

/* ------------------------------------------------------------------ */
/* Plan helpers                                                        */
/* ------------------------------------------------------------------ */

/* Derives the proposed new state as Terraform core does: for each
 * attribute, the config value when the config sets it (not null), else the
 * prior value when the attribute is computed (and prior exists), else null.
 * `prior` may be NULL/null (create). Returns a new, complete object. */
json_t *plan_proposed_new_state(const schema_block *block, const json_t *prior,
                                const json_t *config);

/* True when attribute `name` differs between `prior` and `planned` (an
 * unknown planned value counts as a change). */
bool plan_attr_changed(const json_t *prior, const json_t *planned, const char *name);

#endif /* SCHEMA_H */
