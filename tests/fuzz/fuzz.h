/*
 * fuzz.h - the libFuzzer entry point every tests/fuzz/fuzz_<target>.c defines.  The
 * same file links either with libFuzzer (clang -fsanitize=fuzzer, --enable-fuzz) or
 * with tests/fuzz/regress.c, which replays a corpus in `make check`.
 */
#ifndef SB_FUZZ_H
#define SB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property a target checks does not hold: abort, which libFuzzer reports as a crash. */
static inline void fuzz_fail(const char *target, const char *what)
{
	fprintf(stderr, "%s: property violated: %s\n", target, what);
	abort();
}

/*
 * Whether msg is one line of printable text: no byte of the input may break an error
 * message or reach the terminal as a control character (C0, DEL, C1).
 */
static inline int fuzz_one_line(const char *msg)
{
	if (!msg[0])
		return 0;
	for (const unsigned char *c = (const unsigned char *)msg; *c; c++)
		if (*c < 0x20 || *c == 0x7f || (c[0] == 0xc2 && c[1] >= 0x80 && c[1] < 0xa0))
			return 0;
	return 1;
}

#endif
