/*
 * trivial.c - the cold-start baselines: the least a plugin can do and still
 * answer one JSON-RPC request per line on stdin. Built twice
 * (bench/CMakeLists.txt): bench-trivial-libc with libc only, and
 * bench-trivial-libs linked with libuv, libcurl and jansson, so that the
 * difference between the two is what loading those three libraries costs
 * and the provider's start can be judged against a program that pays the
 * same.
 *
 * Each line gets {"jsonrpc":"2.0","id":<id>,"result":{"diagnostics":[]}},
 * where <id> is the integer after the line's first "id": (0 if none), so
 * the driver can check the answer as it checks the provider's. It exits 0
 * at end of input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TRIVIAL_WITH_LIBS
#include <curl/curl.h>
#include <jansson.h>
#include <uv.h>

/* One symbol of each library, referenced where the linker cannot drop it
 * (Debian links with --as-needed, which leaves out a library nothing
 * refers to) but never called: calling curl_version_info() or
 * curl_global_init() would add work the baseline is not meant to do. Only
 * loading and relocating the libraries is measured. */
static void reference_libraries(int argc) {
    if (argc > 1000) {
        json_t *v = json_integer(uv_version());
        printf("%s %d\n", curl_version(), (int)json_integer_value(v));
        json_decref(v);
    }
}
#else
static void reference_libraries(int argc) {
    (void)argc;
}
#endif

int main(int argc, char **argv) {
    (void)argv;
    reference_libraries(argc);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0) {
        const char *id = strstr(line, "\"id\":");
        long n = id ? strtol(id + 5, NULL, 10) : 0;
        printf("{\"jsonrpc\":\"2.0\",\"id\":%ld,\"result\":{\"diagnostics\":[]}}\n", n);
        fflush(stdout);
    }
    free(line);
    return 0;
}
