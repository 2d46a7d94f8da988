/*
 * npy.h - NumPy .npy headers: the writer of sb-cat --npy and the reader of
 * sb-cat --from-npy, apart from the program so that tests/fuzz/fuzz_npy.c drives
 * the very code sb-cat runs.  Neither prints nor exits; errors go to struct sb_error
 * without the file name (the caller adds it).
 */
#ifndef SB_NPY_H
#define SB_NPY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "errors.h"
#include "tensor.h"

#define SB_NPY_MAX_HEADER ((size_t)1 << 20)    /* longest header dict read */

/* What the header of a .npy file says, as frames will hold it. */
struct sb_npy {
	enum sb_dtype dtype;    /* dtype in the frames */
	int f64;                /* file holds float64 (dtype is float32: converted) */
	int n_dims;             /* 1 .. SB_TENSOR_MAX_DIMS (a 0-d array has no rows) */
	size_t shape[SB_TENSOR_MAX_DIMS];
	size_t header_bytes;    /* preamble and header: where the data begins */
	size_t data_bytes;      /* bytes of data the shape needs, in the file's dtype */
	size_t row_bytes;       /* bytes of one row in the file (0 with no rows) */
};

/*
 * Writes a format 1.0 header as numpy 1.24 does: the dict, the first dimension (rows)
 * padded to 21 digits so the header can be rewritten in place with the final row
 * count, and spaces to a multiple of 64 bytes.  dt is the dtype in the file (float32,
 * float16, int32, int64, int8, uint8).  Returns the length, 0 if it does not fit in
 * size bytes.
 */
size_t sb_npy_header_write(char *buf, size_t size, enum sb_dtype dt, int n_dims,
			   const size_t *shape, uint64_t rows);

/*
 * Reads the preamble and header of a .npy file (format 1.0 to 3.0, C order, dtypes
 * float32, float64, float16, int32, int64, int8, uint8) from fp, leaving it at the
 * first data byte.  When fp is a regular file its size must be header plus data
 * exactly.  SB_EFORMAT (or SB_EUNSUPPORTED, SB_ELIMIT, SB_ENOMEM) otherwise.
 */
int sb_npy_header_read(FILE *fp, struct sb_npy *out, struct sb_error *err);

#endif
