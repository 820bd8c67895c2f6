/*
 * fuzz.h - the libFuzzer entry points every fuzz/fuzz_<target>.c defines.
 *
 * Each target is built twice: with clang and -fsanitize=fuzzer as a
 * libFuzzer binary (FUZZ=ON, fuzz/run.sh), and with any compiler linked
 * to replay_main.c, which feeds it the files of its seed corpus and its
 * regression inputs: ctest runs those under the normal and sanitizer builds.
 */
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* One input; returns 0 (libFuzzer's rule). Aborts on a broken invariant. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional one-time setup; targets that need none do not define it. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#endif /* FUZZ_FUZZ_H */
