/*
 * fuzz_npy.c - fuzz target for sb-cat's .npy reader (cmd/npy.c: sb_npy_header_read, as
 * sb-cat --from-npy runs it) and its header writer.
 *
 * Input: the bytes of a .npy file, read from a memfd (a regular file, so the size check
 * against the header's shape runs too).  For an accepted header the target checks:
 * 1 to SB_TENSOR_MAX_DIMS dimensions, the data size equals the elements times the file's
 * element size and the rows times row_bytes, header plus data is exactly the file, and
 * the stream stands at the first data byte.  Then it writes the header again with
 * sb_npy_header_write (as sb-cat --npy would), checks the 64-byte alignment numpy wants,
 * and reads that back: same dtype and shape.  A refused file's message is one printable
 * line (the header's bytes are escaped).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "npy.h"

#define fail(what) fuzz_fail("fuzz_npy", what)

/* A FILE over a fresh memfd holding n bytes of p, positioned at 0. */
static FILE *mem_file(const void *p, size_t n)
{
	int fd = memfd_create("fuzz_npy", MFD_CLOEXEC);
	FILE *fp;

	if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n) || lseek(fd, 0, SEEK_SET) != 0) {
		perror("fuzz_npy: memfd");
		abort();
	}
	fp = fdopen(fd, "rb");
	if (!fp)
		abort();
	return fp;
}

static size_t file_elem_size(const struct sb_npy *h)
{
	return h->f64 ? 8 : sb_dtype_size(h->dtype);
}

static void check_header(const struct sb_npy *h, FILE *fp, size_t file_size)
{
	size_t numel = 1;

	if (h->n_dims < 1 || h->n_dims > SB_TENSOR_MAX_DIMS)
		fail("dimension count out of range");
	if (h->f64 && h->dtype != SB_DTYPE_F32)
		fail("float64 not converted to float32");
	for (int d = 0; d < h->n_dims; d++) {
		if (h->shape[d] && numel > SIZE_MAX / h->shape[d])
			fail("element count overflows");
		numel *= h->shape[d];
	}
	if (numel > SIZE_MAX / file_elem_size(h) || numel * file_elem_size(h) != h->data_bytes)
		fail("data bytes are not elements times element size");
	if (h->shape[0] ? h->row_bytes * h->shape[0] != h->data_bytes : h->row_bytes != 0)
		fail("row bytes times rows is not the data");
	if (h->header_bytes > file_size || file_size - h->header_bytes != h->data_bytes)
		fail("header plus data is not the file");
	if (ftell(fp) != (long)h->header_bytes)
		fail("stream not at the first data byte");
}

/* Writes h's header as sb-cat --npy does and reads it back. */
static void round_trip(const struct sb_npy *h)
{
	struct sb_npy back;
	struct sb_error err;
	char buf[1024];
	size_t len;
	FILE *fp;

	if (h->f64)
		return;         /* sb-cat never writes float64 */
	len = sb_npy_header_write(buf, sizeof buf, h->dtype, h->n_dims, h->shape, h->shape[0]);
	if (len == 0)
		fail("a parsed header cannot be written");
	if (len % 64 != 0 || buf[len - 1] != '\n')
		fail("written header not padded to 64 bytes with a newline");
	/* Header only: a regular file would need the data too, so a stream-like FILE. */
	fp = fmemopen(buf, len, "rb");
	if (!fp)
		abort();
	sb_error_clear(&err);
	if (sb_npy_header_read(fp, &back, &err) != SB_OK) {
		fprintf(stderr, "fuzz_npy: %s\n", err.msg);
		fail("a written header does not read back");
	}
	fclose(fp);
	if (back.dtype != h->dtype || back.f64 || back.n_dims != h->n_dims ||
	    memcmp(back.shape, h->shape, sizeof back.shape[0] * (size_t)h->n_dims) != 0 ||
	    back.header_bytes != len || back.data_bytes != h->data_bytes)
		fail("a written header reads back different");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_npy h;
	struct sb_error err;
	FILE *fp = mem_file(data, size);

	sb_error_clear(&err);
	if (sb_npy_header_read(fp, &h, &err) == SB_OK) {
		check_header(&h, fp, size);
		round_trip(&h);
	} else if (!fuzz_one_line(err.msg)) {
		fail("error message empty or not one printable line");
	}
	fclose(fp);
	return 0;
}
