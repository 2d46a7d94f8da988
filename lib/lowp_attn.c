/*
 * lowp_attn.c - bf16 panels (lowp.h's layout) packed from activations, for attention's
 * two products under --precision bf16 and int8: one head's keys (scores = Q K^T: the
 * keys are the rows of W) and its values (context = P V: the columns of V are the rows
 * of W).  The buffer is kept and grown between heads; the sources are already bf16
 * (rounded as sb_lowp_bf16() does), so every kernel set reads the same bytes as
 * sb_lowp_pack() would have written from their float values.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "lowp_impl.h"

void sb_lowp_view_free(struct sb_lowp_view *v)
{
	free(v->w.data);
	memset(v, 0, sizeof(*v));
}

/* v->w set up for [n, k] bf16 panels, its buffer grown and zeroed. */
static int view_shape(struct sb_lowp_view *v, size_t n, size_t k, struct sb_error *err)
{
	size_t kp = (k + 1) / 2 * 2, np = (n + LOWP_NR - 1) / LOWP_NR * LOWP_NR, bytes;

	if (sb_size_mul(np, kp, &bytes) || sb_size_mul(bytes, 2, &bytes))
		return sb_error_set(err, SB_ELIMIT, "attention panels [%zu, %zu] are too large",
				    n, k);
	if (bytes > v->cap) {
		void *d = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
		if (!d)
			return sb_error_set(err, SB_ENOMEM, "out of memory for attention panels "
					    "(%zu bytes)", bytes);
		free(v->w.data);
		v->w.data = d;
		v->cap = bytes;
	}
	v->w.prec = SB_LOWP_BF16;
	v->w.scale = NULL;
	v->w.colsum = NULL;
	v->w.n = n;
	v->w.k = k;
	v->w.kp = kp;
	v->w.np = np;
	memset(v->w.data, 0, bytes);
	return SB_OK;
}

int sb_lowp_view_rows(struct sb_lowp_view *v, size_t n, size_t k, const uint16_t *src,
		      size_t ld, struct sb_error *err)
{
	uint32_t *d;
	int rc;

	if ((rc = view_shape(v, n, k, err)))
		return rc;
	d = v->w.data;
	/* A pair of k of row p is one 32-bit unit, at group g of p's panel. */
	for (size_t p = 0; p < n; p++) {
		uint32_t *dp = d + p / LOWP_NR * (v->w.kp / 2) * LOWP_NR + p % LOWP_NR;
		const uint16_t *row = src + p * ld;
		for (size_t g = 0; g < k / 2; g++)
			dp[g * LOWP_NR] = (uint32_t)row[2 * g] | (uint32_t)row[2 * g + 1] << 16;
		if (k % 2)
			dp[k / 2 * LOWP_NR] = row[k - 1];
	}
	return SB_OK;
}

int sb_lowp_view_cols(struct sb_lowp_view *v, size_t n, size_t k, const uint16_t *src,
		      size_t ld, struct sb_error *err)
{
	uint16_t *d;
	size_t kp;
	int rc;

	if ((rc = view_shape(v, n, k, err)))
		return rc;
	kp = v->w.kp;
	d = v->w.data;
	/* Rows 2g and 2g + 1 of src interleaved: group g of every panel. */
	for (size_t g = 0; g < kp / 2; g++) {
		const uint16_t *r0 = src + 2 * g * ld, *r1 = 2 * g + 1 < k ? r0 + ld : NULL;
		for (size_t p = 0; p < n; p++) {
			uint16_t *dg = d + p / LOWP_NR * LOWP_NR * kp + g * 2 * LOWP_NR +
				       p % LOWP_NR * 2;
			dg[0] = r0[p];
			dg[1] = r1 ? r1[p] : 0;
		}
	}
	return SB_OK;
}
