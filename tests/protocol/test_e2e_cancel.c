/*
 * test_e2e_cancel.c - $/cancelRequest through the id index (finding 11):
 * with hundreds of requests in flight (enough to make the index grow
 * several times), a cancel reaches exactly the request with that id,
 * unknown ids change nothing, duplicate ids are all cancelled, and ids
 * compare as before (json_equal: "\u0073" is "s", 1 and 1.0 differ).
 * Correctness only: the speed-up is measured by hand (see the report in
 * the commit), not asserted, so a loaded machine cannot fail this.
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

/* 2 * IN_FLIGHT + 5 requests stay in flight: under the server's running
 * limit (1,024), or the probes below would wait behind requests that
 * never finish; still enough to make the id index grow three times. */
#define IN_FLIGHT 500

static void send_sleep(th_proc *p, const char *id_json) {
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"sleep\",\"params\":{\"ms\":600000}}",
             id_json);
}

static void send_cancel(th_proc *p, const char *id_json) {
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":%s}}",
             id_json);
}

/* Sends an echo with a fresh id and returns, as one "|"-joined string of
 * id texts, the ids of every answer that came before the echo's own (each
 * must be -32800). The echo is answered after everything sent before it
 * has been handled, so these are exactly what the cancels answered. */
static char *answers_until_probe(th_proc *p) {
    static int probe;
    char probe_id[32];
    snprintf(probe_id, sizeof(probe_id), "\"probe-%d\"", ++probe);
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"echo\"}", probe_id);
    char *out = calloc(1, 1);
    for (;;) {
        json_t *r = e2e_response(p);
        char *id = json_dumps(json_object_get(r, "id"), JSON_ENCODE_ANY | JSON_COMPACT);
        if (strcmp(id, probe_id) == 0) {
            free(id);
            json_decref(r);
            return out;
        }
        assert_int_equal(e2e_error_code(r), -32800);
        size_t n = strlen(out) + strlen(id) + 2;
        char *joined = malloc(n);
        snprintf(joined, n, "%s%s%s", out, *out ? "|" : "", id);
        free(out);
        out = joined;
        free(id);
        json_decref(r);
    }
}

static void test_cancel_by_id_among_many(void **state) {
    (void)state;
    th_proc p;
    e2e_start(&p, NULL, NULL);
    char id[64];
    for (int i = 0; i < IN_FLIGHT; i++) {
        snprintf(id, sizeof(id), "%d", i);
        send_sleep(&p, id);
        snprintf(id, sizeof(id), "\"s%d\"", i);
        send_sleep(&p, id);
    }
    send_sleep(&p, "42"); /* a duplicate of 42 */
    send_sleep(&p, "\"dup\"");
    send_sleep(&p, "\"dup\"");
    send_sleep(&p, "\"dup\"");
    send_sleep(&p, "7.5");
    char *got = answers_until_probe(&p);
    assert_string_equal(got, ""); /* nothing answered yet */
    free(got);

    /* The right one, among 1,000 in flight. */
    send_cancel(&p, "150");
    got = answers_until_probe(&p);
    assert_string_equal(got, "150");
    free(got);
    send_cancel(&p, "\"s499\"");
    got = answers_until_probe(&p);
    assert_string_equal(got, "\"s499\"");
    free(got);

    /* Unknown ids, and ids already cancelled: nothing. */
    for (int i = 0; i < 2000; i++) {
        snprintf(id, sizeof(id), "%d", IN_FLIGHT + 1000 + i);
        send_cancel(&p, id);
    }
    send_cancel(&p, "\"nope\"");
    send_cancel(&p, "150");
    send_cancel(&p, "\"150\""); /* a string is not the number */
    send_cancel(&p, "1.0");     /* a real is not the integer 1 */
    send_cancel(&p, "-0");      /* -0 is the integer 0 ... */
    got = answers_until_probe(&p);
    assert_string_equal(got, "0"); /* ... so only that one */
    free(got);

    /* Duplicates: every request with the id, in arrival order. */
    send_cancel(&p, "42");
    got = answers_until_probe(&p);
    assert_string_equal(got, "42|42");
    free(got);
    send_cancel(&p, "\"dup\"");
    got = answers_until_probe(&p);
    assert_string_equal(got, "\"dup\"|\"dup\"|\"dup\"");
    free(got);

    /* Ids compare by value: an escaped string, a real spelled differently. */
    send_cancel(&p, "\"\\u0073\\u0031\"");
    send_cancel(&p, "7.50");
    got = answers_until_probe(&p);
    assert_string_equal(got, "\"s1\"|7.5");
    free(got);

    /* Everything else is still in flight: StopProvider cancels it all. */
    e2e_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":\"stop\",\"method\":\"StopProvider\"}");
    size_t cancelled = 0;
    for (;;) {
        json_t *r = e2e_response(&p);
        json_t *rid = json_object_get(r, "id");
        if (json_is_string(rid) && strcmp(json_string_value(rid), "stop") == 0) {
            json_decref(r);
            break;
        }
        assert_int_equal(e2e_error_code(r), -32800);
        cancelled++;
        json_decref(r);
    }
    /* 2 * IN_FLIGHT + 5 sent; cancelled one by one above: 150, s499, 0, 42 x2,
     * dup x3, s1, 7.5. */
    assert_int_equal(cancelled, 2 * IN_FLIGHT + 5 - 10);
    e2e_finish(&p);
    th_proc_destroy(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_by_id_among_many),
    };
    return cmocka_run_group_tests_name("protocol_e2e_cancel", tests, NULL, NULL);
}
