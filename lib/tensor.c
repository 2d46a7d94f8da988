/*
 * tensor.c - dtypes, shapes and tensor storage.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tensor.h"

static const struct {
	const char *name;
	size_t size;
} dtypes[SB_DTYPE_COUNT] = {
	[SB_DTYPE_F32] = { "float32", 4 },
	[SB_DTYPE_F16] = { "float16", 2 },
	[SB_DTYPE_BF16] = { "bfloat16", 2 },
	[SB_DTYPE_I32] = { "int32", 4 },
	[SB_DTYPE_I64] = { "int64", 8 },
	[SB_DTYPE_I8] = { "int8", 1 },
	[SB_DTYPE_U8] = { "uint8", 1 },
};

const char *sb_dtype_name(enum sb_dtype dt)
{
	return (unsigned)dt < SB_DTYPE_COUNT ? dtypes[dt].name : "invalid";
}

size_t sb_dtype_size(enum sb_dtype dt)
{
	return (unsigned)dt < SB_DTYPE_COUNT ? dtypes[dt].size : 0;
}

int sb_dtype_parse(const char *name, size_t n, enum sb_dtype *out)
{
	for (int i = 0; i < SB_DTYPE_COUNT; i++) {
		if (strlen(dtypes[i].name) == n && memcmp(dtypes[i].name, name, n) == 0) {
			*out = (enum sb_dtype)i;
			return SB_OK;
		}
	}
	return SB_EUNSUPPORTED;
}

int sb_shape_size(enum sb_dtype dt, int n_dims, const size_t *shape, size_t *numel,
		  size_t *nbytes, struct sb_error *err)
{
	size_t n = 1, b;
	char s[160];

	if (n_dims < 0 || n_dims > SB_TENSOR_MAX_DIMS)
		return sb_error_set(err, SB_EINVAL, "tensor: %d dimensions, at most %d", n_dims,
				    SB_TENSOR_MAX_DIMS);
	if ((unsigned)dt >= SB_DTYPE_COUNT)
		return sb_error_set(err, SB_EINVAL, "tensor: invalid dtype %d", (int)dt);
	for (int i = 0; i < n_dims; i++) {
		if (sb_size_mul(n, shape[i], &n) < 0)
			return sb_error_set(err, SB_ELIMIT, "tensor: shape %s overflows",
					    sb_shape_str(n_dims, shape, s, sizeof s));
	}
	if (sb_size_mul(n, dtypes[dt].size, &b) < 0)
		return sb_error_set(err, SB_ELIMIT, "tensor: shape %s of %s overflows",
				    sb_shape_str(n_dims, shape, s, sizeof s), dtypes[dt].name);
	if (numel)
		*numel = n;
	if (nbytes)
		*nbytes = b;
	return SB_OK;
}

static void set_shape(struct sb_tensor *t, enum sb_dtype dt, int n_dims, const size_t *shape)
{
	t->dtype = dt;
	t->n_dims = n_dims;
	for (int i = 0; i < SB_TENSOR_MAX_DIMS; i++)
		t->shape[i] = i < n_dims ? shape[i] : 0;
}

int sb_tensor_alloc(struct sb_tensor *t, enum sb_dtype dt, int n_dims, const size_t *shape,
		    struct sb_error *err)
{
	int rc;

	memset(t, 0, sizeof *t);
	rc = sb_tensor_resize(t, dt, n_dims, shape, err);
	if (rc)
		return rc;
	memset(t->data, 0, t->nbytes);
	return SB_OK;
}

int sb_tensor_resize(struct sb_tensor *t, enum sb_dtype dt, int n_dims, const size_t *shape,
		     struct sb_error *err)
{
	size_t nbytes, cap;
	int rc;

	rc = sb_shape_size(dt, n_dims, shape, NULL, &nbytes, err);
	if (rc)
		return rc;
	if (nbytes > PTRDIFF_MAX - 64)
		return sb_error_set(err, SB_ELIMIT, "tensor: %zu bytes is too large", nbytes);
	/* Reuse owned storage when the new size fits: frames of similar shape then cost
	 * no allocation. */
	cap = t->owned ? t->cap : 0;
	if (!t->owned || cap < nbytes) {
		void *p = NULL;
		size_t alloc = nbytes ? (nbytes + 63) & ~(size_t)63 : 64;

		if (alloc < nbytes || posix_memalign(&p, 64, alloc) != 0)
			return sb_error_set(err, SB_ENOMEM, "tensor: cannot allocate %zu bytes", nbytes);
		if (t->owned)
			free(t->data);
		t->data = p;
		t->owned = 1;
		t->cap = alloc;
	}
	set_shape(t, dt, n_dims, shape);
	t->nbytes = nbytes;
	return SB_OK;
}

void sb_tensor_view(struct sb_tensor *t, enum sb_dtype dt, int n_dims, const size_t *shape,
		    void *data)
{
	size_t nbytes = 0;

	if (t->owned)
		free(t->data);
	memset(t, 0, sizeof *t);
	set_shape(t, dt, n_dims, shape);
	(void)sb_shape_size(dt, n_dims, shape, NULL, &nbytes, NULL);
	t->data = data;
	t->nbytes = nbytes;
}

void sb_tensor_destroy(struct sb_tensor *t)
{
	if (t->owned)
		free(t->data);
	memset(t, 0, sizeof *t);
}

size_t sb_tensor_numel(const struct sb_tensor *t)
{
	size_t n = 1;

	for (int i = 0; i < t->n_dims; i++)
		n *= t->shape[i];
	return n;
}

char *sb_shape_str(int n_dims, const size_t *shape, char *buf, size_t size)
{
	size_t off = 0;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	off += (size_t)snprintf(buf, size, "[");
	for (int i = 0; i < n_dims && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%zu", i ? ", " : "", shape[i]);
	if (off < size)
		snprintf(buf + off, size - off, "]");
	return buf;
}

float sb_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
	uint32_t bits;
	float f;

	if (exp == 0) {
		if (man == 0) {
			bits = sign;
		} else {
			/* Subnormal half: normalize into a float. */
			exp = 127 - 15 + 1;
			while (!(man & 0x400)) {
				man <<= 1;
				exp--;
			}
			man &= 0x3ff;
			bits = sign | (exp << 23) | (man << 13);
		}
	} else if (exp == 31) {
		bits = sign | 0x7f800000u | (man << 13);
	} else {
		bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
	}
	memcpy(&f, &bits, 4);
	return f;
}

float sb_bf16_to_f32(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;

	memcpy(&f, &bits, 4);
	return f;
}

uint16_t sb_f32_to_bf16(float f)
{
	uint32_t x;

	memcpy(&x, &f, 4);
	if ((x & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((x >> 16) | 0x40);   /* quiet NaN */
	x += 0x7fffu + ((x >> 16) & 1);                /* round to nearest even */
	return (uint16_t)(x >> 16);
}

uint16_t sb_f32_to_f16(float f)
{
	uint32_t x, sign, man;
	int exp;

	memcpy(&x, &f, 4);
	sign = (x >> 16) & 0x8000;
	exp = (int)((x >> 23) & 0xff) - 127 + 15;
	man = x & 0x7fffff;
	if (((x >> 23) & 0xff) == 0xff)
		return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
	if (exp >= 31)
		return (uint16_t)(sign | 0x7c00);
	if (exp <= 0) {
		uint32_t m, shift, r, half;

		if (exp < -10)
			return (uint16_t)sign;
		m = man | 0x800000;
		shift = (uint32_t)(14 - exp);
		r = m >> shift;
		half = 1u << (shift - 1);
		if ((m & ((1u << shift) - 1)) > half || ((m & ((1u << shift) - 1)) == half && (r & 1)))
			r++;
		return (uint16_t)(sign | r);
	}
	{
		uint32_t r = ((uint32_t)exp << 10) | (man >> 13), rem = man & 0x1fff;

		if (rem > 0x1000 || (rem == 0x1000 && (r & 1)))
			r++;    /* may carry into the exponent, giving inf correctly */
		return (uint16_t)(sign | r);
	}
}
