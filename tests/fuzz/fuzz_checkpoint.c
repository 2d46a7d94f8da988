/*
 * fuzz_checkpoint.c - fuzz target for the PyTorch checkpoint reader
 * (sb_checkpoint_parse: the zip container, the restricted pickle machine, the legacy
 * torch.save format), on the bytes of a whole pytorch_model.bin.
 *
 * The zip reader checks the CRC of data.pkl, which would stop almost every mutation of
 * the pickle at the door.  So an input starting with "SBPKL" is wrapped here into a valid
 * archive first: "SBPKL", a count K (at most 32), K little-endian 16-bit storage sizes,
 * then the bytes of data.pkl; the archive holds archive/data.pkl (with its CRC),
 * archive/data/0 .. K-1 (zero bytes of those sizes) and archive/version.
 *
 * Besides the sanitizers, every entry of a successful parse must name a tensor whose
 * size is its shape times its item size and whose data lies inside the file; the first
 * and last byte are read so ASan catches an entry pointing outside the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "fuzz.h"

static void fail(const char *what, size_t i)
{
	fprintf(stderr, "fuzz_checkpoint: property violated: entry %zu: %s\n", i, what);
	abort();
}

struct zip {
	unsigned char *p;
	size_t n, cap;
	unsigned char cd[32 * 128];     /* central directory, built alongside */
	size_t ncd;
	unsigned entries;
};

static void put(struct zip *z, const void *src, size_t n)
{
	if (z->n + n > z->cap) {
		size_t cap = (z->n + n) * 2;
		unsigned char *q = realloc(z->p, cap);

		if (!q)
			abort();
		z->p = q;
		z->cap = cap;
	}
	memcpy(z->p + z->n, src, n);
	z->n += n;
}

static void le(unsigned char *o, uint32_t v, int k)
{
	for (int i = 0; i < k; i++)
		o[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t crc32(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

/* Appends a stored entry and its central directory record. */
static void add(struct zip *z, const char *name, const unsigned char *data, size_t n)
{
	unsigned char h[46];
	size_t nl = strlen(name), off = z->n;
	uint32_t crc = crc32(data, n);

	memset(h, 0, 30);
	le(h, 0x04034b50, 4);
	le(h + 4, 20, 2);
	le(h + 14, crc, 4);
	le(h + 18, (uint32_t)n, 4);
	le(h + 22, (uint32_t)n, 4);
	le(h + 26, (uint32_t)nl, 2);
	put(z, h, 30);
	put(z, name, nl);
	put(z, data, n);
	memset(h, 0, 46);
	le(h, 0x02014b50, 4);
	le(h + 4, 20, 2);
	le(h + 6, 20, 2);
	le(h + 16, crc, 4);
	le(h + 20, (uint32_t)n, 4);
	le(h + 24, (uint32_t)n, 4);
	le(h + 28, (uint32_t)nl, 2);
	le(h + 42, (uint32_t)off, 4);
	memcpy(z->cd + z->ncd, h, 46);
	memcpy(z->cd + z->ncd + 46, name, nl);
	z->ncd += 46 + nl;
	z->entries++;
}

/* Builds the archive described above; returns 0, or -1 when the input is too short. */
static int wrap(const uint8_t *data, size_t size, struct zip *z)
{
	static const unsigned char zeros[65536];
	unsigned char eocd[22];
	size_t k, cd_at;

	if (size < 6 || data[5] > 32 || size < 6 + 2 * (size_t)data[5])
		return -1;
	k = data[5];
	for (size_t i = 0; i < k; i++) {
		char name[32];

		snprintf(name, sizeof name, "archive/data/%zu", i);
		add(z, name, zeros, (size_t)data[6 + 2 * i] | (size_t)data[7 + 2 * i] << 8);
	}
	add(z, "archive/data.pkl", data + 6 + 2 * k, size - 6 - 2 * k);
	add(z, "archive/version", (const unsigned char *)"3\n", 2);
	cd_at = z->n;
	put(z, z->cd, z->ncd);
	memset(eocd, 0, sizeof eocd);
	le(eocd, 0x06054b50, 4);
	le(eocd + 8, z->entries, 2);
	le(eocd + 10, z->entries, 2);
	le(eocd + 12, (uint32_t)z->ncd, 4);
	le(eocd + 16, (uint32_t)cd_at, 4);
	put(z, eocd, sizeof eocd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_checkpoint ck = { 0 };
	struct sb_error err;
	volatile uint8_t sink = 0;
	struct zip z;
	int rc;

	memset(&z, 0, sizeof z);
	if (size >= 5 && memcmp(data, "SBPKL", 5) == 0) {
		if (wrap(data, size, &z) != 0) {
			free(z.p);
			return 0;
		}
		data = z.p;
		size = z.n;
	}

	rc = sb_checkpoint_parse(&ck, data, size, "fuzz.bin", &err);
	/* SB_FUZZ_VERBOSE=1: say what became of each input (for writing seeds). */
	if (getenv("SB_FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz_checkpoint: %s\n", rc ? err.msg : "parsed");
	if (rc == SB_OK) {
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
	free(z.p);
	(void)sink;
	return 0;
}
