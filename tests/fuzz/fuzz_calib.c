/*
 * fuzz_calib.c - fuzz target for the int8 / uint8 calibration file reader
 * (sb_calibration_read in lib/similarity.c, the file sb-pool --calibration reads and
 * --calibrate writes).
 *
 * Input: the file's contents, read through /proc/self/fd of a memfd.  For a file that
 * is accepted the target checks: dim within 1 .. 1 << 20, every range finite with
 * MIN <= MAX; the ranges written again by sb_calibration_write read back bit for bit
 * (the %.9g round trip the format promises); and, for up to 4096 dimensions,
 * quantizing values below, at, inside, at the top of and above each range with
 * sb_quantize_row gives non-decreasing codes that start at the bottom code.  A refused
 * file leaves no ranges and a one-line message.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "errors.h"
#include "fuzz.h"
#include "similarity.h"

#define fail(what) fuzz_fail("fuzz_calib", what)

#define PROBES 5

static int mem_path(const void *p, size_t n, char *path, size_t cap)
{
	int fd = memfd_create("fuzz_calib", MFD_CLOEXEC);

	if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n)) {
		perror("fuzz_calib: memfd");
		abort();
	}
	snprintf(path, cap, "/proc/self/fd/%d", fd);
	return fd;
}

static void round_trip(const struct sb_calibration *c)
{
	struct sb_calibration back;
	struct sb_error err;
	char path[64];
	int fd;

	if (c->rows == 0)
		return;         /* the writer refuses to calibrate on nothing */
	fd = mem_path(NULL, 0, path, sizeof path);
	sb_error_clear(&err);
	if (sb_calibration_write(c, path, &err) != SB_OK) {
		fprintf(stderr, "fuzz_calib: %s\n", err.msg);
		fail("accepted ranges cannot be written");
	}
	if (sb_calibration_read(&back, path, &err) != SB_OK) {
		fprintf(stderr, "fuzz_calib: %s\n", err.msg);
		fail("written ranges do not read back");
	}
	if (back.dim != c->dim || back.rows != c->rows ||
	    memcmp(back.min, c->min, c->dim * sizeof *c->min) != 0 ||
	    memcmp(back.max, c->max, c->dim * sizeof *c->max) != 0)
		fail("ranges differ after a write and a read");
	sb_calibration_destroy(&back);
	close(fd);
}

static void quantize(const struct sb_calibration *c)
{
	size_t dim = c->dim;
	float *x = malloc(PROBES * dim * sizeof *x);
	uint8_t *u = malloc(PROBES * dim);
	int8_t *s = malloc(PROBES * dim);

	if (!x || !u || !s)
		abort();
	for (size_t i = 0; i < dim; i++) {
		float lo = c->min[i], hi = c->max[i];

		x[0 * dim + i] = -INFINITY;
		x[1 * dim + i] = lo;
		x[2 * dim + i] = lo / 2 + hi / 2;
		x[3 * dim + i] = hi;
		x[4 * dim + i] = INFINITY;
	}
	for (int p = 0; p < PROBES; p++) {
		sb_quantize_row(SB_PRECISION_UINT8, c, x + p * dim, dim, u + p * dim);
		sb_quantize_row(SB_PRECISION_INT8, c, x + p * dim, dim, s + p * dim);
	}
	for (size_t i = 0; i < dim; i++) {
		if (u[i] != 0 || u[dim + i] != 0 || s[i] != -128 || s[dim + i] != -128)
			fail("values at or below MIN do not give the bottom code");
		for (int p = 1; p < PROBES; p++)
			if (u[p * dim + i] < u[(p - 1) * dim + i] ||
			    s[p * dim + i] < s[(p - 1) * dim + i])
				fail("codes decrease as values grow");
	}
	free(x);
	free(u);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_calibration c;
	struct sb_error err;
	char path[64];
	int fd = mem_path(data, size, path, sizeof path);

	sb_error_clear(&err);
	if (sb_calibration_read(&c, path, &err) == SB_OK) {
		if (c.dim < 1 || c.dim > ((size_t)1 << 20) || !c.min || !c.max)
			fail("dimension out of range");
		for (size_t i = 0; i < c.dim; i++)
			if (!isfinite(c.min[i]) || !isfinite(c.max[i]) || c.min[i] > c.max[i])
				fail("range not finite with MIN <= MAX");
		round_trip(&c);
		if (c.dim <= 4096)
			quantize(&c);
		sb_calibration_destroy(&c);
	} else {
		if (!fuzz_one_line(err.msg))
			fail("error message empty or not one printable line");
		if (c.min || c.max || c.dim)
			fail("a refused file left ranges");
	}
	close(fd);
	return 0;
}
