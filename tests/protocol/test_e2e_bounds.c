/*
 * test_e2e_bounds.c - issue 9: the output path and the bounds of the
 * server, through rpc-testd's "stats" method (rpc_server_get_stats()).
 *
 *  - Answers produced in one pass of the loop leave in one write: over a
 *    burst of requests answered at once, the server makes no more writes
 *    than it made reads (one write per answer made 500). Every answer
 *    comes, once, in arrival order (they are answered synchronously).
 *  - Many requests sent at once stay within the bounds: no more than the
 *    running limit in flight, the waiting messages under their cap (plus
 *    one read), and every request is answered.
 *  - A $/cancelRequest sent behind 10,000 slow requests is read and acted
 *    on at once, for a running request and for one still waiting; a
 *    StopProvider behind them cancels everything.
 *  - A StopProvider behind a waiting batch waits its turn.
 *  - End of input with requests waiting and answers gathered: everything
 *    is answered and written before the process exits.
 *
 * No timing is asserted: the slow requests sleep for ten minutes, so an
 * answer that comes at all came "promptly"; the hang guard is
 * E2E_TIMEOUT_MS.
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

/* Calls "stats" and returns its result (new reference). Only valid while
 * nothing else is outstanding: the next line must be its answer. */
static json_t *stats(th_proc *p) {
    e2e_send(p, "{\"jsonrpc\":\"2.0\",\"id\":\"stats\",\"method\":\"stats\"}");
    json_t *r = e2e_response(p);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "stats");
    json_t *result = json_incref(json_object_get(r, "result"));
    assert_non_null(result);
    json_decref(r);
    return result;
}

static json_int_t stat_of(json_t *st, const char *name) {
    json_t *v = json_object_get(st, name);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/* Builds n request lines "{...,"id":<first + i>,"method":method,"params":params}\n"
 * into one malloc'd buffer, for one write. */
static char *lines(int first, int n, const char *method, const char *params, size_t *len) {
    size_t cap = (size_t)n * (96 + strlen(method) + strlen(params)), o = 0;
    char *all = malloc(cap);
    assert_non_null(all);
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(all + o, cap - o,
                              "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":%s}\n",
                              first + i, method, params);
    *len = o;
    return all;
}

static void test_one_write_per_pass(void **state) {
    (void)state;
    th_proc p;
    e2e_start(&p, NULL, NULL);
    json_t *before = stats(&p);
    enum { N = 500 };
    size_t len;
    char *all = lines(0, N, "echo", "{\"k\":1}", &len);
    assert_int_equal(th_proc_write(&p, all, len), 0);
    free(all);
    for (int i = 0; i < N; i++) {
        json_t *r = e2e_response(&p);
        assert_int_equal(json_integer_value(json_object_get(r, "id")), i);
        assert_int_equal(e2e_error_code(r), 0);
        json_decref(r);
    }
    json_t *after = stats(&p);
    json_int_t reads = stat_of(after, "reads") - stat_of(before, "reads");
    json_int_t writes = stat_of(after, "writes") - stat_of(before, "writes");
    /* The writes counted: the first stats answer's and the echoes'. The
     * reads: the echoes' and the second stats request's. Each read's
     * answers go out in one write, so writes <= reads, however the 500
     * lines were cut into reads; one write per answer would be 501. */
    print_message("500 answers: %lld reads, %lld writes\n", (long long)reads, (long long)writes);
    assert_true(reads >= 1);
    assert_true(writes <= reads);
    json_decref(before);
    json_decref(after);
    e2e_finish(&p);
    th_proc_destroy(&p);
}

/* 25,000 short sleeps sent at once: more than run at once and more than
 * may wait, so reading pauses too. Every one is answered, and the peaks
 * stay within the limits. */
static void test_many_at_once_bounded(void **state) {
    (void)state;
    th_proc p;
    e2e_start(&p, NULL, NULL);
    enum { N = 25000 };
    size_t len;
    char *all = lines(0, N, "sleep", "{\"ms\":50}", &len);
    assert_int_equal(th_proc_write(&p, all, len), 0);
    free(all);
    char *seen = calloc(N, 1);
    assert_non_null(seen);
    for (int i = 0; i < N; i++) {
        json_t *r = e2e_response(&p);
        json_int_t id = json_integer_value(json_object_get(r, "id"));
        assert_true(id >= 0 && id < N);
        assert_false(seen[id]);
        seen[id] = 1;
        assert_int_equal(e2e_error_code(r), 0);
        json_decref(r);
    }
    free(seen);
    json_t *st = stats(&p);
    print_message("in flight peak %lld (max %lld), waiting bytes peak %lld (max %lld), output "
                  "backlog peak %lld\n",
                  (long long)stat_of(st, "in_flight_peak"), (long long)stat_of(st, "max_in_flight"),
                  (long long)stat_of(st, "waiting_bytes_peak"),
                  (long long)stat_of(st, "max_waiting_bytes"),
                  (long long)stat_of(st, "output_backlog_peak"));
    assert_true(stat_of(st, "in_flight_peak") <= stat_of(st, "max_in_flight"));
    /* Saturated: the limit was reached, and so was the waiting cap (the
     * text of 25,000 requests is over it), which it passes by at most what
     * one 64 KiB read held (counted with bookkeeping: under 256 KiB). */
    assert_int_equal(stat_of(st, "in_flight_peak"), stat_of(st, "max_in_flight"));
    assert_true(stat_of(st, "waiting_bytes_peak") >= stat_of(st, "max_waiting_bytes"));
    assert_true(stat_of(st, "waiting_bytes_peak") <= stat_of(st, "max_waiting_bytes") + 256 * 1024);
    /* Output pauses input, and the dispatch of waiting requests, once past
     * the high-water mark; what was running then still answers (a sleep's
     * answer is about 70 bytes). Without that pause of the dispatch, a slow
     * reader (this test under ASan) saw the whole waiting list answered. */
    assert_true(stat_of(st, "output_backlog_peak") <=
                stat_of(st, "output_high_water") + stat_of(st, "max_in_flight") * 128);
    assert_int_equal(stat_of(st, "waiting"), 0);
    assert_int_equal(stat_of(st, "in_flight"), 1); /* stats itself */
    json_decref(st);
    e2e_finish(&p);
    th_proc_destroy(&p);
}

/* rpc_server_options.max_in_flight: a server given 8 runs at most 8 (the
 * provider sets 256; the default is 1,024); the rest wait and are all
 * answered. */
static void test_max_in_flight_option(void **state) {
    (void)state;
    th_proc p;
    const char *const args[] = {"--max-in-flight", "8", NULL};
    e2e_start(&p, args, NULL);
    enum { N = 40 };
    size_t len;
    char *all = lines(0, N, "sleep", "{\"ms\":20}", &len);
    assert_int_equal(th_proc_write(&p, all, len), 0);
    free(all);
    for (int i = 0; i < N; i++) {
        json_t *r = e2e_response(&p);
        assert_int_equal(e2e_error_code(r), 0);
        json_decref(r);
    }
    json_t *st = stats(&p);
    assert_int_equal(stat_of(st, "max_in_flight"), 8);
    assert_int_equal(stat_of(st, "in_flight_peak"), 8);
    json_decref(st);
    e2e_finish(&p);
    th_proc_destroy(&p);
}

/* Reads answers until the one with string id `want`; returns how many
 * -32800 answers came before it and fails on anything else. Marks the
 * integer ids seen. */
static size_t cancelled_until(th_proc *p, const char *want, char *seen, int n) {
    size_t count = 0;
    for (;;) {
        json_t *r = e2e_response(p);
        json_t *id = json_object_get(r, "id");
        if (json_is_string(id) && strcmp(json_string_value(id), want) == 0) {
            assert_int_equal(e2e_error_code(r), 0);
            json_decref(r);
            return count;
        }
        assert_int_equal(e2e_error_code(r), -32800);
        if (json_is_integer(id)) {
            json_int_t i = json_integer_value(id);
            assert_true(i >= 0 && i < n);
            assert_false(seen[i]);
            seen[i] = 1;
        }
        count++;
        json_decref(r);
    }
}

static void test_cancel_behind_many(void **state) {
    (void)state;
    th_proc p;
    e2e_start(&p, NULL, NULL);
    enum { N = 10000 };
    size_t len;
    char *all = lines(0, N, "sleep", "{\"ms\":600000}", &len);
    assert_int_equal(th_proc_write(&p, all, len), 0);
    free(all);
    /* One more waiting, with a string id, cancelled by an id spelled
     * differently (json_equal, as for running requests). */
    e2e_send(&p,
             "{\"jsonrpc\":\"2.0\",\"id\":\"x9\",\"method\":\"sleep\",\"params\":{\"ms\":600000}}");
    /* 3 runs (among the first 1,024); 9,000 and "x9" wait. */
    e2e_send(&p, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":3}}");
    e2e_send(&p, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":9000}}");
    e2e_send(
        &p,
        "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":\"\\u00789\"}}");
    /* A cancel sent as a request is answered too, at once. */
    e2e_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":\"c\",\"method\":\"$/cancelRequest\","
                 "\"params\":{\"id\":12345}}");
    char *seen = calloc(N, 1);
    assert_non_null(seen);
    size_t got = cancelled_until(&p, "c", seen, N);
    assert_int_equal(got, 3);
    assert_true(seen[3] && seen[9000]);

    /* StopProvider behind the rest: everything is cancelled (running ones
     * through their callbacks, waiting ones never run), then it is
     * answered. */
    e2e_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":\"stop\",\"method\":\"StopProvider\"}");
    got = cancelled_until(&p, "stop", seen, N);
    assert_int_equal(got, N - 2);
    for (int i = 0; i < N; i++)
        assert_true(seen[i]);
    free(seen);
    e2e_expect_nothing_pending(&p);
    json_t *st = stats(&p);
    assert_true(stat_of(st, "in_flight_peak") <= stat_of(st, "max_in_flight") + 2);
    assert_int_equal(stat_of(st, "waiting"), 0);
    json_decref(st);
    e2e_finish(&p);
    th_proc_destroy(&p);
}

/* End of input right after a burst that fills the running limit and the
 * waiting list: every request is still answered, and everything answered
 * is written, before a clean exit. */
static void test_eof_writes_everything(void **state) {
    (void)state;
    th_proc p;
    e2e_start(&p, NULL, NULL);
    enum { SLOW = 3000, FAST = 2000 };
    size_t len;
    char *all = lines(0, SLOW, "sleep", "{\"ms\":20}", &len);
    assert_int_equal(th_proc_write(&p, all, len), 0);
    free(all);
    all = lines(SLOW, FAST, "echo", "{}", &len);
    assert_int_equal(th_proc_write(&p, all, len), 0);
    free(all);
    th_proc_close_stdin(&p);
    char *seen = calloc(SLOW + FAST, 1);
    assert_non_null(seen);
    for (int i = 0; i < SLOW + FAST; i++) {
        json_t *r = e2e_response(&p);
        json_int_t id = json_integer_value(json_object_get(r, "id"));
        assert_true(id >= 0 && id < SLOW + FAST);
        assert_false(seen[id]);
        seen[id] = 1;
        assert_int_equal(e2e_error_code(r), 0);
        json_decref(r);
    }
    free(seen);
    e2e_wait_exit0(&p);
    e2e_assert_stdout_done(&p);
    th_proc_destroy(&p);
}

/* A StopProvider behind a waiting batch waits its turn (acting at once
 * would cancel what arrived before it without the batch's members being
 * reachable): once a slot frees, the batch runs, then the stop cancels
 * the rest and is answered last. */
static void test_stop_behind_waiting_batch(void **state) {
    (void)state;
    th_proc p;
    e2e_start(&p, NULL, NULL);
    json_t *st = stats(&p);
    int full = (int)stat_of(st, "max_in_flight");
    json_decref(st);
    size_t len;
    char *all = lines(0, full, "sleep", "{\"ms\":600000}", &len);
    assert_int_equal(th_proc_write(&p, all, len), 0);
    free(all);
    e2e_send(&p, "[{\"jsonrpc\":\"2.0\",\"id\":\"b1\",\"method\":\"echo\"}]");
    e2e_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":\"stop\",\"method\":\"StopProvider\"}");
    /* Nothing can be answered yet; a cancel (acted on at once) frees a
     * slot: its -32800 comes first, then the batch's array. */
    e2e_send(&p, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":0}}");
    json_t *r = e2e_response(&p);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 0);
    assert_int_equal(e2e_error_code(r), -32800);
    json_decref(r);
    r = e2e_response(&p);
    assert_true(json_is_array(r));
    assert_string_equal(json_string_value(json_object_get(json_array_get(r, 0), "id")), "b1");
    json_decref(r);
    char *seen = calloc((size_t)full, 1);
    assert_non_null(seen);
    seen[0] = 1;
    assert_int_equal(cancelled_until(&p, "stop", seen, full), (size_t)full - 1);
    free(seen);
    e2e_finish(&p);
    th_proc_destroy(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_write_per_pass),
        cmocka_unit_test(test_many_at_once_bounded),
        cmocka_unit_test(test_max_in_flight_option),
        cmocka_unit_test(test_cancel_behind_many),
        cmocka_unit_test(test_stop_behind_waiting_batch),
        cmocka_unit_test(test_eof_writes_everything),
    };
    return cmocka_run_group_tests_name("protocol_e2e_bounds", tests, NULL, NULL);
}
