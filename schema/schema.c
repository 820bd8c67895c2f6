/*
 * schema.c - schema types and blocks, and their JSON encoding in the form of
 * `terraform providers schema -json`.
 */
#include "schema.h"

#include <string.h>

const schema_type schema_string_type = {.kind = SCHEMA_STRING};
const schema_type schema_bool_type = {.kind = SCHEMA_BOOL};
const schema_type schema_number_type = {.kind = SCHEMA_NUMBER};

json_t *schema_type_to_json(const schema_type *type) {
    switch (type->kind) {
    case SCHEMA_STRING:
        return json_string("string");
    case SCHEMA_BOOL:
        return json_string("bool");
    case SCHEMA_NUMBER:
        return json_string("number");
    case SCHEMA_LIST:
        return json_pack("[s, o]", "list", schema_type_to_json(type->element));
    case SCHEMA_SET:
        return json_pack("[s, o]", "set", schema_type_to_json(type->element));
    case SCHEMA_MAP:
        return json_pack("[s, o]", "map", schema_type_to_json(type->element));
    case SCHEMA_OBJECT: {
        json_t *fields = json_object();
        for (size_t i = 0; i < type->field_count; i++)
            json_object_set_new(fields, type->fields[i].name,
                                schema_type_to_json(type->fields[i].type));
        return json_pack("[s, o]", "object", fields);
    }
    }
    return json_null();
}

/* Encodes one attribute: its type, its description, and each flag that is
 * set (flags that are not set are left out, as Terraform does). */
static json_t *attr_to_json(const schema_attr *attr) {
    json_t *out = json_pack("{s:o}", "type", schema_type_to_json(attr->type));
    if (attr->description)
        json_object_set_new(out, "description", json_string(attr->description));
    static const struct {
        unsigned flag;
        const char *name;
    } flags[] = {
        {SCHEMA_REQUIRED, "required"},     {SCHEMA_OPTIONAL, "optional"},
        {SCHEMA_COMPUTED, "computed"},     {SCHEMA_SENSITIVE, "sensitive"},
        {SCHEMA_DEPRECATED, "deprecated"},
    };
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        if (attr->flags & flags[i].flag)
            json_object_set_new(out, flags[i].name, json_true());
    }
    return out;
}

json_t *schema_block_to_json(const schema_block *block) {
    json_t *attrs = json_object();
    for (size_t i = 0; i < block->attr_count; i++)
        json_object_set_new(attrs, block->attrs[i].name, attr_to_json(&block->attrs[i]));
    json_t *inner = json_pack("{s:o}", "attributes", attrs);
    if (block->description)
        json_object_set_new(inner, "description", json_string(block->description));
    return json_pack("{s:I, s:o}", "version", (json_int_t)block->version, "block", inner);
}

const schema_attr *schema_find_attr(const schema_block *block, const char *name) {
    for (size_t i = 0; i < block->attr_count; i++) {
        if (strcmp(block->attrs[i].name, name) == 0)
            return &block->attrs[i];
    }
    return NULL;
}
