/*
 * fuzz_checkpoint.c - fuzz target for the PyTorch checkpoint reader
 * (sb_checkpoint_parse: the zip container, the restricted pickle machine, the legacy
 * torch.save format), on the bytes of a whole pytorch_model.bin.
 *
 * Besides the sanitizers, every entry of a successful parse must name a tensor whose
 * size is its shape times its item size and whose data lies inside the file; the first
 * and last byte are read so ASan catches an entry pointing outside the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "checkpoint.h"
#include "fuzz.h"

static void fail(const char *what, size_t i)
{
	fprintf(stderr, "fuzz_checkpoint: property violated: entry %zu: %s\n", i, what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_checkpoint ck = { 0 };
	struct sb_error err;
	volatile uint8_t sink = 0;

	if (sb_checkpoint_parse(&ck, data, size, "fuzz.bin", &err) == SB_OK) {
		for (size_t i = 0; i < ck.n_entries; i++) {
			const struct sb_checkpoint_entry *e = &ck.entries[i];
			size_t numel = 1;

			if (!e->name)
				fail("no name", i);
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
		}
	}
	sb_checkpoint_destroy(&ck);
	(void)sink;
	return 0;
}
