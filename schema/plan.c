/*
 * plan.c - provider-independent plan helpers.
 */
#include "schema.h"

json_t *plan_proposed_new_state(const schema_block *block, const json_t *prior,
                                const json_t *config) {
    json_t *out = json_object();
    for (size_t i = 0; i < block->attr_count; i++) {
        const schema_attr *attr = &block->attrs[i];
        json_t *from_config = json_is_object(config) ? json_object_get(config, attr->name) : NULL;
        json_t *from_prior = value_attr(prior, attr->name);
        json_t *v;
        if (!value_is_null(from_config))
            v = json_deep_copy(from_config);
        else if ((attr->flags & SCHEMA_COMPUTED) && from_prior)
            v = json_deep_copy(from_prior);
        else
            v = json_null();
        json_object_set_new(out, attr->name, v);
    }
    return out;
}

bool plan_attr_changed(const json_t *prior, const json_t *planned, const char *name) {
    json_t *p = json_is_object(planned) ? json_object_get(planned, name) : NULL;
    if (value_is_unknown(p))
        return true;
    return !value_equal(value_attr(prior, name), p);
}
