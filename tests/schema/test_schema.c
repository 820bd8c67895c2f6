/*
 * test_schema.c - the schema layer: encoding, values, config checking,
 * proposed new state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

static const schema_field pair_fields[] = {{"code", &schema_string_type},
                                           {"status", &schema_string_type}};
static const schema_type pair_type = {
    .kind = SCHEMA_OBJECT, .fields = pair_fields, .field_count = 2};
static const schema_type tags_type = {.kind = SCHEMA_MAP, .element = &schema_string_type};
static const schema_type list_type = {.kind = SCHEMA_LIST, .element = &pair_type};

static const schema_attr attrs[] = {
    {"id", &schema_string_type, SCHEMA_COMPUTED, "The id."},
    {"name", &schema_string_type, SCHEMA_REQUIRED, "A name."},
    {"on", &schema_bool_type, SCHEMA_OPTIONAL | SCHEMA_COMPUTED, NULL},
    {"secret", &schema_string_type, SCHEMA_OPTIONAL | SCHEMA_SENSITIVE, NULL},
    {"count", &schema_number_type, SCHEMA_OPTIONAL, NULL},
    {"tags", &tags_type, SCHEMA_OPTIONAL, NULL},
    {"pairs", &list_type, SCHEMA_OPTIONAL, NULL},
    {"v", &pair_type, SCHEMA_COMPUTED, NULL},
};
static const schema_block block = {
    .version = 2, .description = "Test.", .attrs = attrs, .attr_count = 8};

static json_t *parse(const char *text) {
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    return v;
}

static void test_encode(void **state) {
    (void)state;
    json_t *got = schema_block_to_json(&block);
    json_t *want = parse(
        "{\"version\":2,\"block\":{\"description\":\"Test.\",\"attributes\":{"
        "\"id\":{\"type\":\"string\",\"computed\":true,\"description\":\"The id.\"},"
        "\"name\":{\"type\":\"string\",\"required\":true,\"description\":\"A name.\"},"
        "\"on\":{\"type\":\"bool\",\"optional\":true,\"computed\":true},"
        "\"secret\":{\"type\":\"string\",\"optional\":true,\"sensitive\":true},"
        "\"count\":{\"type\":\"number\",\"optional\":true},"
        "\"tags\":{\"type\":[\"map\",\"string\"],\"optional\":true},"
        "\"pairs\":{\"type\":[\"list\",[\"object\",{\"code\":\"string\",\"status\":\"string\"}]],"
        "\"optional\":true},"
        "\"v\":{\"type\":[\"object\",{\"code\":\"string\",\"status\":\"string\"}],"
        "\"computed\":true}}}}");
    if (!json_equal(got, want))
        fail_msg("%s", json_dumps(got, 0));
    json_decref(got);
    json_decref(want);
}

static void test_unknown_and_null(void **state) {
    (void)state;
    json_t *u = value_unknown();
    assert_true(value_is_unknown(u));
    json_t *not_u = parse("{\"$unknown\":true,\"x\":1}");
    assert_false(value_is_unknown(not_u));
    assert_true(value_is_null(NULL));
    assert_true(value_is_null(json_null()));
    json_t *nested = parse("{\"a\":[1,{\"b\":{\"$unknown\":true}}]}");
    assert_false(value_is_wholly_known(nested));
    assert_true(value_equal(NULL, json_null()));
    assert_false(value_equal(json_true(), NULL));
    json_decref(u);
    json_decref(not_u);
    json_decref(nested);
}

static void test_complete_object(void **state) {
    (void)state;
    json_t *in = parse("{\"name\":\"x\",\"stray\":1}");
    json_t *out = value_complete_object(&block, in);
    assert_int_equal(json_object_size(out), 8);
    assert_string_equal(json_string_value(json_object_get(out, "name")), "x");
    assert_true(json_is_null(json_object_get(out, "on")));
    assert_null(json_object_get(out, "stray"));
    json_decref(out);
    out = value_complete_object(&block, NULL);
    assert_int_equal(json_object_size(out), 8);
    json_decref(out);
    json_decref(in);
}

/* Each config and the attribute paths of the errors it must produce. */
static void test_check_config(void **state) {
    (void)state;
    struct {
        const char *config;
        const char *paths;
    } t[] = {
        {"{\"name\":\"a\"}", "[]"},
        {"{\"name\":{\"$unknown\":true},\"on\":{\"$unknown\":true}}", "[]"},
        {"{}", "[[\"name\"]]"},
        {"{\"name\":null}", "[[\"name\"]]"},
        {"{\"name\":1}", "[[\"name\"]]"},
        {"{\"name\":\"a\",\"nope\":1}", "[[\"nope\"]]"},
        {"{\"name\":\"a\",\"id\":\"x\"}", "[[\"id\"]]"},
        {"{\"name\":\"a\",\"on\":\"true\",\"count\":\"1\"}", "[[\"on\"],[\"count\"]]"},
        {"{\"name\":\"a\",\"tags\":{\"k\":1}}", "[[\"tags\",\"k\"]]"},
        {"{\"name\":\"a\",\"pairs\":[{\"code\":\"c\"},{\"status\":2},{\"x\":\"y\"}]}",
         "[[\"pairs\",1,\"status\"],[\"pairs\",2,\"x\"]]"},
        {"{\"name\":\"a\",\"pairs\":{}}", "[[\"pairs\"]]"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        json_t *config = parse(t[i].config);
        json_t *diags = json_array();
        int n = value_check_config(&block, config, diags);
        json_t *paths = json_array();
        size_t j;
        json_t *d;
        json_array_foreach(diags, j, d) {
            assert_string_equal(json_string_value(json_object_get(d, "severity")), "error");
            assert_non_null(json_object_get(d, "summary"));
            json_array_append(paths, json_object_get(d, "attribute"));
        }
        json_t *want = parse(t[i].paths);
        if (!json_equal(paths, want))
            fail_msg("case %zu: got %s", i, json_dumps(paths, 0));
        assert_int_equal(n, (int)json_array_size(want));
        json_decref(want);
        json_decref(paths);
        json_decref(diags);
        json_decref(config);
    }
    json_t *diags = json_array();
    assert_int_equal(value_check_config(&block, json_null(), diags), 1);
    assert_true(diag_has_error(diags));
    json_decref(diags);
}

/* An unknown attribute close to a real one gets a "did you mean". */
static void test_did_you_mean(void **state) {
    (void)state;
    json_t *config = parse("{\"name\":\"a\",\"conut\":1,\"zzzzzz\":2}");
    json_t *diags = json_array();
    assert_int_equal(value_check_config(&block, config, diags), 2);
    char *text = json_dumps(diags, 0);
    assert_non_null(strstr(text, "Did you mean \\\"count\\\"?"));
    assert_int_equal(strstr(strstr(text, "zzzzzz"), "Did you mean") == NULL, 1);
    free(text);
    json_decref(diags);
    json_decref(config);
}

static void test_proposed_new_state(void **state) {
    (void)state;
    json_t *prior = parse("{\"id\":\"i\",\"name\":\"a\",\"on\":true,\"count\":3,"
                          "\"v\":{\"code\":\"c\",\"status\":\"s\"}}");
    json_t *config = parse("{\"name\":\"b\"}");
    json_t *got = plan_proposed_new_state(&block, prior, config);
    /* Computed attributes keep prior values; optional-only ones follow the
     * config (null). */
    json_t *want = parse("{\"id\":\"i\",\"name\":\"b\",\"on\":true,\"secret\":null,\"count\":null,"
                         "\"tags\":null,\"pairs\":null,\"v\":{\"code\":\"c\",\"status\":\"s\"}}");
    if (!json_equal(got, want))
        fail_msg("%s", json_dumps(got, 0));
    assert_true(plan_attr_changed(prior, got, "name"));
    assert_false(plan_attr_changed(prior, got, "on"));
    json_object_set_new(got, "on", value_unknown());
    assert_true(plan_attr_changed(prior, got, "on"));
    json_decref(got);
    json_decref(want);
    got = plan_proposed_new_state(&block, NULL, config);
    assert_true(json_is_null(json_object_get(got, "id")));
    json_decref(got);
    json_decref(prior);
    json_decref(config);
}

static void test_diagnostics(void **state) {
    (void)state;
    json_t *diags = json_array();
    diag_warning_new(diags, NULL, "careful", NULL);
    assert_false(diag_has_error(diags));
    json_t *a = path_attr("a");
    json_t *p = path_index(a, 2);
    diag_error_new(diags, path_child(p, "b"), "bad", "value %d", 7);
    json_decref(p);
    json_decref(a);
    assert_true(diag_has_error(diags));
    json_t *want = parse("[{\"severity\":\"warning\",\"summary\":\"careful\"},"
                         "{\"severity\":\"error\",\"summary\":\"bad\",\"detail\":\"value 7\","
                         "\"attribute\":[\"a\",2,\"b\"]}]");
    if (!json_equal(diags, want))
        fail_msg("%s", json_dumps(diags, 0));
    json_decref(want);
    json_decref(diags);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_unknown_and_null),
        cmocka_unit_test(test_complete_object),
        cmocka_unit_test(test_check_config),
        cmocka_unit_test(test_proposed_new_state),
        cmocka_unit_test(test_did_you_mean),
        cmocka_unit_test(test_diagnostics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
