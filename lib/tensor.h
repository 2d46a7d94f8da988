/*
 * tensor.h - n-dimensional arrays: dtype, shape and row-major (C order) data.
 *
 * A tensor either owns its data (allocated by sb_tensor_alloc, freed by
 * sb_tensor_destroy) or borrows it (sb_tensor_view: the caller keeps the memory
 * alive for as long as the view is used).  Data is little-endian as on the wire.
 */
#ifndef SB_TENSOR_H
#define SB_TENSOR_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

enum sb_dtype {
	SB_DTYPE_F32,
	SB_DTYPE_F16,
	SB_DTYPE_BF16,
	SB_DTYPE_I32,
	SB_DTYPE_I64,
	SB_DTYPE_I8,
	SB_DTYPE_U8,
	SB_DTYPE_COUNT
};

#define SB_TENSOR_MAX_DIMS 8

struct sb_tensor {
	enum sb_dtype dtype;
	int n_dims;                             /* 0 .. SB_TENSOR_MAX_DIMS */
	size_t shape[SB_TENSOR_MAX_DIMS];       /* outermost first */
	void *data;                             /* nbytes bytes, 64-byte aligned when owned */
	size_t nbytes;                          /* numel * itemsize */
	int owned;                              /* data is freed by sb_tensor_destroy */
	size_t cap;                             /* owned: bytes allocated */
};

/* NumPy name of a dtype ("float32", "int64", ...). */
SB_API const char *sb_dtype_name(enum sb_dtype dt);

/* Parses a NumPy dtype name of n bytes.  SB_EUNSUPPORTED for unknown names. */
SB_API int sb_dtype_parse(const char *name, size_t n, enum sb_dtype *out);

/* Bytes per element. */
SB_API size_t sb_dtype_size(enum sb_dtype dt);

/*
 * Computes numel and byte size of a shape with overflow checks.  SB_ELIMIT if the
 * product overflows size_t, SB_EINVAL if n_dims is out of range.
 */
SB_API int sb_shape_size(enum sb_dtype dt, int n_dims, const size_t *shape, size_t *numel,
			 size_t *nbytes, struct sb_error *err);

/* Allocates zeroed, owned storage for the shape.  On failure t is left empty. */
SB_API int sb_tensor_alloc(struct sb_tensor *t, enum sb_dtype dt, int n_dims, const size_t *shape,
			   struct sb_error *err);

/*
 * Reshapes an owned tensor, reusing its storage when large enough (no allocation on
 * hot paths once warmed up).  Contents are unspecified afterwards.
 */
SB_API int sb_tensor_resize(struct sb_tensor *t, enum sb_dtype dt, int n_dims, const size_t *shape,
			    struct sb_error *err);

/* Makes t a borrowed view of data (no copy); the caller checks sizes. */
SB_API void sb_tensor_view(struct sb_tensor *t, enum sb_dtype dt, int n_dims, const size_t *shape,
			   void *data);

/* Frees owned data and zeroes t.  Safe on a zeroed or already destroyed tensor. */
SB_API void sb_tensor_destroy(struct sb_tensor *t);

/* Product of the shape (1 for 0-d). */
SB_API size_t sb_tensor_numel(const struct sb_tensor *t);

/* Formats a shape as "[2, 16, 768]" into buf; returns buf. */
SB_API char *sb_shape_str(int n_dims, const size_t *shape, char *buf, size_t size);

/* IEEE half / bfloat16 <-> float conversions (exact, round-to-nearest-even). */
SB_API float sb_f16_to_f32(uint16_t h);
SB_API float sb_bf16_to_f32(uint16_t h);
SB_API uint16_t sb_f32_to_f16(float f);
SB_API uint16_t sb_f32_to_bf16(float f);

#endif
