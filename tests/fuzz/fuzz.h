/*
 * fuzz.h - the libFuzzer entry point every tests/fuzz/fuzz_<target>.c defines.  The
 * same file links either with libFuzzer (clang -fsanitize=fuzzer, --enable-fuzz) or
 * with tests/fuzz/regress.c, which replays a corpus in `make check`.
 */
#ifndef SB_FUZZ_H
#define SB_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
