/*
 * jansson_loop.c - the dispatch baseline (bench-jansson-loop): what the
 * provider's ValidateResourceConfig path cannot do without. For each line
 * of stdin it parses the JSON-RPC message with jansson (the same flags as
 * the provider: JSON_REJECT_DUPLICATES), takes its id, and dumps an answer
 * of the provider's shape,
 *   {"jsonrpc":"2.0","id":<id>,"result":{"diagnostics":[]}}
 * to stdout through stdio's buffer (one write per 4 KiB or so, the least a
 * program can do). It validates nothing else: the provider's schema checks
 * are its own cost. Exits 0 at end of input, 1 on a line that is not JSON.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        json_error_t err;
        json_t *req = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &err);
        if (!req) {
            fprintf(stderr, "bench-jansson-loop: %s\n", err.text);
            rc = 1;
            break;
        }
        json_t *answer = json_pack("{s:s,s:O,s:{s:[]}}", "jsonrpc", "2.0", "id",
                                   json_object_get(req, "id"), "result", "diagnostics");
        char *text = json_dumps(answer, JSON_COMPACT);
        if (text) {
            fputs(text, stdout);
            fputc('\n', stdout);
        }
        free(text);
        json_decref(answer);
        json_decref(req);
    }
    free(line);
    return fflush(stdout) == 0 ? rc : 1;
}
