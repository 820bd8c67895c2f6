/*
 * value.c - values in the contract's form (section 3): null, unknown,
 * complete objects, and checking a configuration against a schema.
 */
#include "schema.h"

#include <string.h>

json_t *value_unknown(void) {
    return json_pack("{s:b}", "$unknown", 1);
}

bool value_is_unknown(const json_t *v) {
    return json_is_object(v) && json_object_size(v) == 1 &&
           json_is_true(json_object_get(v, "$unknown"));
}

bool value_is_null(const json_t *v) {
    return v == NULL || json_is_null(v);
}

bool value_is_wholly_known(const json_t *v) {
    if (value_is_unknown(v))
        return false;
    if (json_is_object(v)) {
        const char *key;
        json_t *member;
        json_object_foreach((json_t *)v, key, member) {
            if (!value_is_wholly_known(member))
                return false;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            if (!value_is_wholly_known(item))
                return false;
        }
    }
    return true;
}

bool value_equal(const json_t *a, const json_t *b) {
    if (value_is_null(a) || value_is_null(b))
        return value_is_null(a) && value_is_null(b);
    return json_equal((json_t *)a, (json_t *)b);
}

json_t *value_attr(const json_t *obj, const char *name) {
    if (!json_is_object(obj))
        return NULL;
    json_t *v = json_object_get(obj, name);
    return json_is_null(v) ? NULL : v;
}

json_t *value_complete_object(const schema_block *block, const json_t *obj) {
    json_t *out = json_object();
    for (size_t i = 0; i < block->attr_count; i++) {
        const char *name = block->attrs[i].name;
        json_t *v = value_attr(obj, name);
        json_object_set_new(out, name, v ? json_deep_copy(v) : json_null());
    }
    return out;
}

static const char *kind_name(schema_kind kind) {
    switch (kind) {
    case SCHEMA_STRING:
        return "a string";
    case SCHEMA_BOOL:
        return "a bool";
    case SCHEMA_NUMBER:
        return "a number";
    case SCHEMA_LIST:
        return "a list";
    case SCHEMA_SET:
        return "a set";
    case SCHEMA_MAP:
        return "a map";
    case SCHEMA_OBJECT:
        return "an object";
    }
    return "a value";
}

/* Checks the members of an object value against an object type: every
 * member must be a declared field of the right type. */
static bool check_object_fields(const schema_type *type, const json_t *v, const json_t *path,
                                json_t *diags) {
    bool ok = true;
    const char *key;
    json_t *member;
    json_object_foreach((json_t *)v, key, member) {
        const schema_type *field_type = NULL;
        for (size_t i = 0; i < type->field_count; i++) {
            if (strcmp(type->fields[i].name, key) == 0)
                field_type = type->fields[i].type;
        }
        json_t *child = path_child(path, key);
        if (!field_type) {
            diag_error_new(diags, child, "Unsupported attribute",
                           "An attribute named \"%s\" is not expected here.", key);
            ok = false;
            continue;
        }
        if (!value_check_type(field_type, member, child, diags))
            ok = false;
        json_decref(child);
    }
    return ok;
}

bool value_check_type(const schema_type *type, const json_t *v, const json_t *path, json_t *diags) {
    if (value_is_null(v) || value_is_unknown(v))
        return true;
    bool shape_ok = false;
    switch (type->kind) {
    case SCHEMA_STRING:
        shape_ok = json_is_string(v);
        break;
    case SCHEMA_BOOL:
        shape_ok = json_is_boolean(v);
        break;
    case SCHEMA_NUMBER:
        shape_ok = json_is_number(v);
        break;
    case SCHEMA_LIST:
    case SCHEMA_SET:
        shape_ok = json_is_array(v);
        break;
    case SCHEMA_MAP:
    case SCHEMA_OBJECT:
        shape_ok = json_is_object(v);
        break;
    }
    if (!shape_ok) {
        diag_error_new(diags, path ? json_deep_copy(path) : NULL, "Incorrect attribute value type",
                       "The value must be %s.", kind_name(type->kind));
        return false;
    }
    bool ok = true;
    if (type->kind == SCHEMA_LIST || type->kind == SCHEMA_SET) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            json_t *child = path_index(path, i);
            ok = value_check_type(type->element, item, child, diags) && ok;
            json_decref(child);
        }
    } else if (type->kind == SCHEMA_MAP) {
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)v, key, item) {
            json_t *child = path_child(path, key);
            ok = value_check_type(type->element, item, child, diags) && ok;
            json_decref(child);
        }
    } else if (type->kind == SCHEMA_OBJECT) {
        ok = check_object_fields(type, v, path, diags);
    }
    return ok;
}

/* Levenshtein distance between two short names, capped: anything above
 * `cap` returns cap + 1. Names longer than 63 bytes are never close. */
static size_t edit_distance(const char *a, const char *b, size_t cap) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63 || (la > lb ? la - lb : lb - la) > cap)
        return cap + 1;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (up + 1 < best)
                best = up + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb] > cap ? cap + 1 : row[lb];
}

/* The attribute of `block` closest to `name` (at most 2 edits away), for a
 * "did you mean" hint; NULL when none is close. */
static const char *closest_attr(const schema_block *block, const char *name) {
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < block->attr_count; i++) {
        size_t d = edit_distance(name, block->attrs[i].name, 2);
        if (d < best_d) {
            best_d = d;
            best = block->attrs[i].name;
        }
    }
    return best;
}

int value_check_config(const schema_block *block, const json_t *config, json_t *diags) {
    size_t before = json_array_size(diags);
    if (!json_is_object(config)) {
        diag_error_new(diags, NULL, "Invalid configuration",
                       "The configuration must be an object.");
        return 1;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)config, key, v) {
        const schema_attr *attr = schema_find_attr(block, key);
        if (!attr) {
            const char *hint = closest_attr(block, key);
            diag_error_new(diags, path_attr(key), "Unsupported argument",
                           "An argument named \"%s\" is not expected here.%s%s%s", key,
                           hint ? " Did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "");
            continue;
        }
        bool settable = attr->flags & (SCHEMA_REQUIRED | SCHEMA_OPTIONAL);
        if (!settable && !value_is_null(v)) {
            diag_error_new(diags, path_attr(key), "Invalid configuration for read-only attribute",
                           "\"%s\" is set by the provider and cannot be configured.", key);
            continue;
        }
        json_t *path = path_attr(key);
        value_check_type(attr->type, v, path, diags);
        json_decref(path);
    }
    for (size_t i = 0; i < block->attr_count; i++) {
        const schema_attr *attr = &block->attrs[i];
        if ((attr->flags & SCHEMA_REQUIRED) && value_is_null(json_object_get(config, attr->name)))
            diag_error_new(diags, path_attr(attr->name), "Missing required argument",
                           "The argument \"%s\" is required, but no definition was found.",
                           attr->name);
    }
    return (int)(json_array_size(diags) - before);
}
