/*
 * test_e2e_rpc.c - JSON-RPC 2.0 behaviour of the real protocol library,
 * through rpc-testd on real pipes: every error code, notifications,
 * batches, exact ids, pipelining, out-of-order answers, $/cancelRequest and
 * StopProvider.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "e2e_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long the slow request of an ordering test sleeps: long enough that
 * quick requests sent after it are surely answered first (they take
 * milliseconds; more with rpc-testd under valgrind, hence 1 s there). */
static int slow_ms(void) {
    const char *vg = getenv("PROTOCOL_E2E_VALGRIND");
    return vg && *vg ? 1000 : 300;
}

static int start(void **state) {
    th_proc *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    e2e_start(p, NULL, NULL);
    *state = p;
    return 0;
}

static int stop(void **state) {
    th_proc *p = *state;
    th_proc_destroy(p);
    free(p);
    return 0;
}

/* Reads one response and checks its id (as JSON text) and error code. */
static json_t *expect(th_proc *p, const char *id_json, int code) {
    json_t *r = e2e_response(p);
    json_t *want = json_loads(id_json, JSON_DECODE_ANY, NULL);
    assert_non_null(want);
    if (!json_equal(json_object_get(r, "id"), want) || e2e_error_code(r) != code) {
        char *text = json_dumps(r, JSON_COMPACT);
        fail_msg("expected id %s code %d, got %s", id_json, code, text);
    }
    json_decref(want);
    return r;
}

static void test_echo(void **state) {
    th_proc *p = *state;
    e2e_send(
        p,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"a\":[1,2,{\"b\":null}]}}");
    json_t *r = expect(p, "1", 0);
    json_t *want = json_loads("{\"a\":[1,2,{\"b\":null}]}", 0, NULL);
    assert_true(json_equal(json_object_get(r, "result"), want));
    json_decref(want);
    json_decref(r);
    /* No params: the handler gets an empty object. */
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"}");
    r = expect(p, "2", 0);
    assert_true(json_is_object(json_object_get(r, "result")));
    assert_int_equal(json_object_size(json_object_get(r, "result")), 0);
    json_decref(r);
    /* Array params go through as they are. */
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\",\"params\":[1,\"x\"]}");
    r = expect(p, "3", 0);
    assert_int_equal(json_array_size(json_object_get(r, "result")), 2);
    json_decref(r);
    e2e_finish(p);
}

static void test_error_codes(void **state) {
    th_proc *p = *state;
    /* -32700: not JSON, id null; the stream goes on. */
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}");
    json_decref(expect(p, "1", 0));
    e2e_send(p, "this is not json");
    json_t *pe = expect(p, "null", -32700);
    assert_string_equal(json_string_value(json_object_get(json_object_get(pe, "error"), "message")),
                        "Parse error");
    json_decref(pe);
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":");
    json_decref(expect(p, "null", -32700));
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":3,\"id\":4,\"method\":\"echo\"}");
    json_decref(expect(p, "null", -32700));
    /* -32600, with the id when it can be read. */
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":5}");
    json_decref(expect(p, "5", -32600));
    e2e_send(p, "{\"jsonrpc\":\"1.0\",\"id\":6,\"method\":\"echo\"}");
    json_decref(expect(p, "6", -32600));
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\",\"params\":\"x\"}");
    json_decref(expect(p, "7", -32600));
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"echo\"}");
    json_decref(expect(p, "null", -32600));
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"echo\"}");
    json_decref(expect(p, "null", -32600));
    e2e_send(p, "5");
    json_decref(expect(p, "null", -32600));
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"method\":1,\"params\":\"bar\"}");
    json_decref(expect(p, "null", -32600));
    /* -32601 names the method. */
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":\"m\",\"method\":\"NoSuchMethod\"}");
    json_t *r = expect(p, "\"m\"", -32601);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "data")),
                        "NoSuchMethod");
    json_decref(r);
    /* Method names match exactly: no case folding, no trimming. */
    static const char *const near_misses[] = {"Echo", "ECHO", "echo ", " echo", ""};
    for (size_t i = 0; i < sizeof(near_misses) / sizeof(near_misses[0]); i++) {
        e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":\"n%zu\",\"method\":\"%s\"}", i, near_misses[i]);
        char id[16];
        snprintf(id, sizeof(id), "\"n%zu\"", i);
        json_decref(expect(p, id, -32601));
    }
    /* -32602 and -32603 come from handlers and pass through as given. */
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"fail\",\"params\":{\"code\":-32602,"
                "\"message\":\"no type_name\"}}");
    r = expect(p, "8", -32602);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
                        "no type_name");
    json_decref(r);
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"fail\"}");
    json_decref(expect(p, "9", -32603));
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"sleep\",\"params\":{\"ms\":\"x\"}}");
    json_decref(expect(p, "10", -32602));
    /* -32800 through $/cancelRequest (a notification: nothing else comes). */
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"sleep\",\"params\":{\"ms\":600000}}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":11}}");
    json_decref(expect(p, "11", -32800));
    e2e_send(p,
             "{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"sleep\",\"params\":{\"ms\":600000}}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":\"s\"}}");
    json_decref(expect(p, "\"s\"", -32800));
    e2e_expect_nothing_pending(p);
    e2e_finish(p);
}

/* A request without a cancel callback just goes on and answers normally;
 * cancelling an unknown id does nothing. */
static void test_cancel_without_callback(void **state) {
    th_proc *p = *state;
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sleep\",\"params\":{\"ms\":200,"
                "\"cancellable\":false}}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":1}}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":999}}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{}}");
    json_t *r = expect(p, "1", 0);
    assert_true(json_is_true(json_object_get(json_object_get(r, "result"), "cancelled")));
    json_decref(r);
    /* Sent with an id, $/cancelRequest is answered. */
    e2e_send(p,
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"$/cancelRequest\",\"params\":{\"id\":1}}");
    json_decref(expect(p, "2", 0));
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"$/cancelRequest\",\"params\":{}}");
    json_decref(expect(p, "3", -32602));
    e2e_expect_nothing_pending(p);
    e2e_finish(p);
}

/* Notifications are never answered, even when they fail. */
static void test_notifications(void **state) {
    th_proc *p = *state;
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{}}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"NoSuchMethod\"}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"fail\"}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"sleep\",\"params\":{\"ms\":50}}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"sleep\",\"params\":{\"ms\":\"bad\"}}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"$/somethingElse\"}");
    e2e_expect_nothing_pending(p);
    /* The notification sleep is still in flight or done; EOF waits for it
     * and still writes nothing. */
    th_proc_close_stdin(p);
    e2e_wait_exit0(p);
    e2e_assert_stdout_done(p);
}

/* Finds the member of a batch answer with the given id (JSON text). */
static json_t *batch_member(json_t *arr, const char *id_json) {
    json_t *want = json_loads(id_json, JSON_DECODE_ANY, NULL);
    json_t *found = NULL;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        if (json_equal(json_object_get(json_array_get(arr, i), "id"), want))
            found = json_array_get(arr, i);
    }
    json_decref(want);
    return found;
}

static void test_batches(void **state) {
    th_proc *p = *state;
    /* Mixed: results, a notification, errors, an async member. */
    e2e_send(p, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"a\":1}},"
                "{\"jsonrpc\":\"2.0\",\"method\":\"echo\"},"
                "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"},"
                "5,"
                "{\"foo\":\"boo\"},"
                "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"sleep\",\"params\":{\"ms\":100}},"
                "{\"jsonrpc\":\"2.0\",\"id\":\"f\",\"method\":\"fail\"}]");
    json_t *arr = e2e_response(p);
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 6);
    assert_int_equal(e2e_error_code(batch_member(arr, "1")), 0);
    assert_int_equal(e2e_error_code(batch_member(arr, "2")), -32601);
    assert_int_equal(e2e_error_code(batch_member(arr, "3")), 0);
    assert_int_equal(e2e_error_code(batch_member(arr, "\"f\"")), -32603);
    size_t nulls = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *m = json_array_get(arr, i);
        if (json_is_null(json_object_get(m, "id"))) {
            assert_int_equal(e2e_error_code(m), -32600);
            nulls++;
        }
    }
    assert_int_equal(nulls, 2);
    json_decref(arr);

    /* All notifications: nothing at all. */
    e2e_send(p,
             "[{\"jsonrpc\":\"2.0\",\"method\":\"echo\"},{\"jsonrpc\":\"2.0\",\"method\":\"x\"}]");
    e2e_expect_nothing_pending(p);

    /* Empty: one -32600 object, not an array. */
    e2e_send(p, "[]");
    json_t *r = e2e_response(p);
    assert_true(json_is_object(r));
    assert_int_equal(e2e_error_code(r), -32600);
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);

    /* Nested non-objects each get their own -32600 entry. */
    e2e_send(p, "[[1,2],[],1,\"x\",null]");
    arr = e2e_response(p);
    assert_int_equal(json_array_size(arr), 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(e2e_error_code(json_array_get(arr, i)), -32600);
        assert_true(json_is_null(json_object_get(json_array_get(arr, i), "id")));
    }
    json_decref(arr);
    e2e_finish(p);
}

/* A batch is written once, when its slowest member is done; requests after
 * it are not held up meanwhile. */
static void test_batch_is_async(void **state) {
    th_proc *p = *state;
    e2e_send(p,
             "[{\"jsonrpc\":\"2.0\",\"id\":\"slow\",\"method\":\"sleep\",\"params\":{\"ms\":%d}},"
             "{\"jsonrpc\":\"2.0\",\"id\":\"quick\",\"method\":\"echo\"}]",
             slow_ms());
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":\"after\",\"method\":\"echo\"}");
    json_t *r = e2e_response(p);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "after");
    json_decref(r);
    json_t *arr = e2e_response(p);
    assert_int_equal(json_array_size(arr), 2);
    assert_non_null(batch_member(arr, "\"slow\""));
    assert_non_null(batch_member(arr, "\"quick\""));
    json_decref(arr);
    e2e_finish(p);
}

/* Ids come back byte for byte: the raw response text is checked. */
static void test_exact_ids(void **state) {
    th_proc *p = *state;
    static const char *ids[] = {
        "1",
        "0",
        "-5",
        "9007199254740993",
        "123456789012345678901234567890",
        "1.5",
        "1.50",
        "0.1",
        "1e3",
        "-0",
        "\"abc\"",
        "\"\"",
        "\"\\u00e9\"",
        "null",
    };
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        e2e_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":%s}", ids[i]);
        char *line = e2e_line(p);
        char want[128];
        snprintf(want, sizeof(want), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{}}", ids[i]);
        if (strcmp(line, want) != 0)
            fail_msg("id %s: got %s", ids[i], line);
        free(line);
    }
    /* Errors echo the id exactly too. */
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":1.50}");
    char *line = e2e_line(p);
    assert_non_null(strstr(line, "\"id\":1.50,"));
    free(line);
    e2e_finish(p);
}

/* 1,000 requests written back to back, all answered with their ids. */
static void test_pipelined_thousand(void **state) {
    th_proc *p = *state;
    size_t n = 1000;
    size_t cap = n * 96, len = 0;
    char *all = malloc(cap);
    assert_non_null(all);
    for (size_t i = 0; i < n; i++) {
        if (i % 3 == 0)
            len += (size_t)snprintf(all + len, cap - len,
                                    "{\"jsonrpc\":\"2.0\",\"id\":\"s%zu\",\"method\":\"echo\","
                                    "\"params\":{\"i\":%zu}}\n",
                                    i, i);
        else if (i % 3 == 1)
            len += (size_t)snprintf(all + len, cap - len,
                                    "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"sleep\","
                                    "\"params\":{\"ms\":%zu}}\n",
                                    i, i % 7);
        else
            len += (size_t)snprintf(all + len, cap - len,
                                    "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"echo\"}\n", i);
    }
    assert_int_equal(th_proc_write(p, all, len), 0);
    free(all);
    char *seen = calloc(n, 1);
    assert_non_null(seen);
    for (size_t k = 0; k < n; k++) {
        json_t *r = e2e_response(p);
        assert_int_equal(e2e_error_code(r), 0);
        json_t *id = json_object_get(r, "id");
        size_t i;
        if (json_is_string(id)) {
            assert_int_equal(json_string_value(id)[0], 's');
            i = (size_t)strtoul(json_string_value(id) + 1, NULL, 10);
            assert_int_equal(i % 3, 0);
            assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "i")),
                             i);
        } else {
            assert_true(json_is_integer(id));
            i = (size_t)json_integer_value(id);
            assert_true(i % 3 != 0);
        }
        assert_true(i < n);
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
        json_decref(r);
    }
    free(seen);
    e2e_finish(p);
    e2e_assert_stdout_done(p);
}

/* A slow request does not hold up a quick one behind it. */
static void test_out_of_order(void **state) {
    th_proc *p = *state;
    char two[256];
    snprintf(two, sizeof(two),
             "{\"jsonrpc\":\"2.0\",\"id\":\"slow\",\"method\":\"sleep\",\"params\":{\"ms\":"
             "%d}}\n{\"jsonrpc\":\"2.0\",\"id\":\"fast\",\"method\":\"echo\"}\n",
             slow_ms());
    assert_int_equal(th_proc_write(p, two, strlen(two)), 0);
    json_t *r = e2e_response(p);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "fast");
    json_decref(r);
    r = e2e_response(p);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "slow");
    assert_int_equal(e2e_error_code(r), 0);
    json_decref(r);
    e2e_finish(p);
}

/* StopProvider cancels what is in flight and answers after all of it; the
 * server then keeps serving. */
static void test_stop_provider(void **state) {
    th_proc *p = *state;
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sleep\",\"params\":{\"ms\":600000}}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"sleep\",\"params\":{\"ms\":300,"
                "\"cancellable\":false}}");
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"StopProvider\",\"params\":{}}");
    json_decref(expect(p, "1", -32800));
    json_t *r = expect(p, "2", 0);
    assert_true(json_is_true(json_object_get(json_object_get(r, "result"), "cancelled")));
    json_decref(r);
    r = expect(p, "3", 0);
    json_t *diags = json_object_get(json_object_get(r, "result"), "diagnostics");
    assert_true(json_is_array(diags));
    assert_int_equal(json_array_size(diags), 0);
    json_decref(r);
    /* Still serving, and later requests are not cancelled. */
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"sleep\",\"params\":{\"ms\":10}}");
    r = expect(p, "4", 0);
    assert_true(json_is_false(json_object_get(json_object_get(r, "result"), "cancelled")));
    json_decref(r);
    /* With nothing in flight it is answered at once. */
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"StopProvider\"}");
    json_decref(expect(p, "5", 0));
    e2e_finish(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo, start, stop),
        cmocka_unit_test_setup_teardown(test_error_codes, start, stop),
        cmocka_unit_test_setup_teardown(test_cancel_without_callback, start, stop),
        cmocka_unit_test_setup_teardown(test_notifications, start, stop),
        cmocka_unit_test_setup_teardown(test_batches, start, stop),
        cmocka_unit_test_setup_teardown(test_batch_is_async, start, stop),
        cmocka_unit_test_setup_teardown(test_exact_ids, start, stop),
        cmocka_unit_test_setup_teardown(test_pipelined_thousand, start, stop),
        cmocka_unit_test_setup_teardown(test_out_of_order, start, stop),
        cmocka_unit_test_setup_teardown(test_stop_provider, start, stop),
    };
    return cmocka_run_group_tests_name("protocol_e2e_rpc", tests, NULL, NULL);
}
