/*
 * fuzz_safetensors.c - fuzz target for the safetensors reader (sb_safetensors_parse),
 * on the bytes of a whole file as the weights module maps it.
 *
 * Besides the sanitizers, a successful parse must describe data that lies inside the
 * file, in file order, covering the data section exactly, each entry's size equal to
 * its shape times its item size; the first and last byte of every tensor are read so
 * ASan catches an entry pointing outside the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "safetensors.h"

static void fail(const char *what, size_t i)
{
	fprintf(stderr, "fuzz_safetensors: property violated: entry %zu: %s\n", i, what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_safetensors st = { 0 };
	struct sb_error err;
	volatile uint8_t sink = 0;

	if (sb_safetensors_parse(&st, data, size, "fuzz.safetensors", &err) == SB_OK) {
		size_t at = st.data_start;

		for (size_t i = 0; i < st.n_entries; i++) {
			const struct sb_safetensors_entry *e = &st.entries[i];
			size_t numel = 1;

			if (!e->name)
				fail("no name", i);
			if (e->offset != at)
				fail("not contiguous with the previous tensor", i);
			if (e->offset > size || e->nbytes > size - e->offset)
				fail("data outside the file", i);
			for (int d = 0; d < e->n_dims; d++)
				numel *= e->shape[d];
			if (numel * e->itemsize != e->nbytes)
				fail("size is not shape x itemsize", i);
			if (e->nbytes) {
				sink ^= data[e->offset];
				sink ^= data[e->offset + e->nbytes - 1];
			}
			at = e->offset + e->nbytes;
		}
		if (at != size)
			fail("data section not covered exactly", st.n_entries);
	}
	sb_safetensors_destroy(&st);
	(void)sink;
	return 0;
}
