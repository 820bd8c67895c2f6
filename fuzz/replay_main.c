/*
 * replay_main.c - a main() for a fuzz target without libFuzzer: every file
 * named on the command line, or found directly inside a directory named
 * there, is read and passed once to LLVMFuzzerTestOneInput(). A directory
 * that does not exist is skipped (a target may have no regressions yet).
 * Exits 0 after at least one input, 1 when there was none or a file could
 * not be read; a crash is the target's own abort().
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "replay: %s: out of memory\n", path);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays the regular files of `dir` in name order; returns how many, or
 * -1 when one could not be read. */
static int replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    char **names = NULL;
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char **grown = realloc(names, (count + 1) * sizeof(*names));
        if (!grown)
            break;
        names = grown;
        if (asprintf(&names[count], "%s/%s", dir, e->d_name) < 0)
            break;
        count++;
    }
    closedir(d);
    qsort(names, count, sizeof(*names), compare_names);
    int done = 0;
    for (size_t i = 0; i < count; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(names[i]) < 0)
                done = -1;
            else if (done >= 0)
                done++;
        }
        free(names[i]);
    }
    free(names);
    return done;
}

int main(int argc, char **argv) {
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int n;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            n = replay_dir(argv[i]);
        else if (stat(argv[i], &st) == 0)
            n = replay_file(argv[i]) == 0 ? 1 : -1;
        else
            n = 0;
        if (n < 0)
            return 1;
        total += n;
    }
    printf("replayed %d input%s\n", total, total == 1 ? "" : "s");
    return total > 0 ? 0 : 1;
}
