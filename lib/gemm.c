/*
 * gemm.c - linear layers on weights packed once at load, for AVX-512 (see ops.h).
 *
 * OpenBLAS repacks the weight matrix at every product; with the few hundred token rows
 * of a frame share that repacking was 11% of sb-encode's time.  Here the weights
 * W[N, K] are packed once into panels of 32 output columns, panel p holding
 * W[32 p .. 32 p + 31, k] for k = 0 .. K-1 as K consecutive runs of 32 floats, so the
 * kernel streams a panel with two aligned vector loads per k.
 *
 * The kernel computes a tile of 12 rows x 32 columns of Y = X W^T over the whole K:
 * 24 accumulators (12 rows x 2 vectors), per k two loads of the panel and one
 * broadcast of X[r, k] per row.  Each panel (K x 128 bytes, in L2) is reused by every
 * row tile, and each element of Y is a single sum over k in order, so the result does
 * not depend on how rows or columns are split between threads.  Rows past the last
 * full tile go through the same kernel instantiated for 1 .. 11 rows.
 *
 * A linear layer takes the rows in blocks of MB = 240 (every panel over one block, then
 * the next block), so that the block of X (240 x 768 floats: 720 KB) stays in L2 while
 * the panels pass over it.  Unblocked, a long row's X (8,192 x 768: 24 MB) was read
 * again from L3 for every panel: X [8192, 768] times one thread's half of Wqkv (1152
 * of its 2304 rows) ran at 85-114 GFLOP/s on one core, blocked at 130-153 (142 for 512
 * rows).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ops.h"

#define NR 32                   /* columns per panel and tile */
#define MR 12                   /* rows per tile */
#define MB 240                  /* rows per block of sb_ops_linear_packed() */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_KERNEL 1
#define TARGET __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))

/*
 * Y[mr, 32] (row stride ldy) = X[mr, K] (row stride ldx) * panel[K, 32], mr <= 12 a
 * compile-time constant after inlining, so acc[][] lives in registers.
 */
INLINE TARGET void tile(const int mr, const int add, size_t K, const float *x, size_t ldx,
			const float *b, float *y, size_t ldy)
{
	__m512 acc[MR][2];

	/* Fully unrolled, so that acc[][] becomes 2 mr registers. */
#pragma GCC unroll 12
	for (int r = 0; r < mr; r++) {
		if (add) {
			acc[r][0] = _mm512_loadu_ps(y + (size_t)r * ldy);
			acc[r][1] = _mm512_loadu_ps(y + (size_t)r * ldy + 16);
		} else {
			acc[r][0] = acc[r][1] = _mm512_setzero_ps();
		}
	}
	for (size_t k = 0; k < K; k++) {
		__m512 b0 = _mm512_load_ps(b + k * NR), b1 = _mm512_load_ps(b + k * NR + 16);
#pragma GCC unroll 12
		for (int r = 0; r < mr; r++) {
			__m512 a = _mm512_set1_ps(x[(size_t)r * ldx + k]);
			acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
			acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
		}
	}
#pragma GCC unroll 12
	for (int r = 0; r < mr; r++) {
		_mm512_storeu_ps(y + (size_t)r * ldy, acc[r][0]);
		_mm512_storeu_ps(y + (size_t)r * ldy + 16, acc[r][1]);
	}
}

#define TILE(R)									\
static TARGET __attribute__((noinline)) void tile_##R(size_t K, const float *x, size_t ldx, \
						       const float *b, float *y, size_t ldy) \
{ tile(R, 0, K, x, ldx, b, y, ldy); }							\
static TARGET __attribute__((noinline)) void tile_add_##R(size_t K, const float *x,	\
							   size_t ldx, const float *b,	\
							   float *y, size_t ldy)		\
{ tile(R, 1, K, x, ldx, b, y, ldy); }
TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7) TILE(8) TILE(9) TILE(10) TILE(11)
TILE(12)

typedef void (*tile_fn)(size_t, const float *, size_t, const float *, float *, size_t);
static const tile_fn tiles[MR + 1] = {
	NULL, tile_1, tile_2, tile_3, tile_4, tile_5, tile_6, tile_7, tile_8, tile_9, tile_10,
	tile_11, tile_12
};
static const tile_fn tiles_add[MR + 1] = {
	NULL, tile_add_1, tile_add_2, tile_add_3, tile_add_4, tile_add_5, tile_add_6,
	tile_add_7, tile_add_8, tile_add_9, tile_add_10, tile_add_11, tile_add_12
};
#else
#define HAVE_KERNEL 0
#endif

int sb_ops_pack(struct sb_ops_packed *out, const float *const *parts, const size_t *part_rows,
		size_t n_parts, size_t k, struct sb_error *err)
{
	size_t n = 0, bytes, p = 0;
	float *d;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n_parts; i++)
		n += part_rows[i];
	if (!HAVE_KERNEL || strcmp(sb_ops_isa_name(), "avx512") != 0 || n == 0 || n % NR ||
	    k == 0)
		return SB_OK;
	if (sb_size_mul(n, k, &bytes) || sb_size_mul(bytes, sizeof(float), &bytes))
		return sb_error_set(err, SB_ELIMIT, "packed weights [%zu, %zu] are too large", n,
				    k);
	d = aligned_alloc(64, bytes);
	if (!d)
		return sb_error_set(err, SB_ENOMEM, "out of memory for packed weights (%zu bytes)",
				    bytes);
	/* The parts are stacked: row p of the whole matrix is the p-th row over all parts. */
	for (size_t i = 0; i < n_parts; i++) {
		for (size_t j = 0; j < part_rows[i]; j++, p++) {
			const float *src = parts[i] + j * k;
			float *dst = d + (p / NR) * k * NR + p % NR;
			for (size_t kk = 0; kk < k; kk++)
				dst[kk * NR] = src[kk];
		}
	}
	out->data = d;
	out->n = n;
	out->k = k;
	return SB_OK;
}

void sb_ops_packed_free(struct sb_ops_packed *w)
{
	free(w->data);
	memset(w, 0, sizeof(*w));
}

void sb_ops_linear_packed(size_t m, const struct sb_ops_packed *w, size_t c0, size_t c1,
			  const float *x, size_t ldx, float *y, size_t ldy)
{
#if HAVE_KERNEL
	size_t K = w->k;

	for (size_t r0 = 0; r0 < m; r0 += MB) {
		size_t mb = m - r0 < MB ? m - r0 : MB, full = mb / MR * MR, tail = mb - full;
		const float *xb = x + r0 * ldx;
		float *yb = y + r0 * ldy;
		for (size_t c = c0; c < c1; c += NR) {
			const float *b = w->data + c / NR * K * NR;
			for (size_t r = 0; r < full; r += MR)
				tile_12(K, xb + r * ldx, ldx, b, yb + r * ldy + c, ldy);
			if (tail)
				tiles[tail](K, xb + full * ldx, ldx, b, yb + full * ldy + c, ldy);
		}
	}
#else
	(void)m; (void)w; (void)c0; (void)c1; (void)x; (void)ldx; (void)y; (void)ldy;
#endif
}

/* ---- products of activations (attention) ---- */

int sb_ops_panels_ok(void)
{
	return HAVE_KERNEL && strcmp(sb_ops_isa_name(), "avx512") == 0;
}

size_t sb_ops_panels_size(size_t n, size_t k)
{
	return (n + NR - 1) / NR * NR * k;
}

void sb_ops_panels_pack(float *dst, int trans_b, size_t n, size_t k, const float *b,
			size_t ldb)
{
	size_t np = (n + NR - 1) / NR;

	for (size_t p = 0; p < np; p++) {
		float *d = dst + p * k * NR;
		size_t j0 = p * NR, nj = n - j0 < NR ? n - j0 : NR;
		if (trans_b) {
			/* B[n, k]: row j of B is column j of the product. */
			if (nj < NR)
				memset(d, 0, k * NR * sizeof(float));
			for (size_t j = 0; j < nj; j++) {
				const float *src = b + (j0 + j) * ldb;
				for (size_t kk = 0; kk < k; kk++)
					d[kk * NR + j] = src[kk];
			}
		} else {
			/* B[k, n]: a run of nj columns per depth step. */
			for (size_t kk = 0; kk < k; kk++) {
				memcpy(d + kk * NR, b + kk * ldb + j0, nj * sizeof(float));
				if (nj < NR)
					memset(d + kk * NR + nj, 0, (NR - nj) * sizeof(float));
			}
		}
	}
}

#if HAVE_KERNEL
/* Rows [0, m) of one column panel (nj <= 32 columns of y), over depth K. */
static void panel_rows(size_t m, size_t nj, int add, size_t K, const float *x, size_t ldx,
		       const float *b, float *y, size_t ldy)
{
	const tile_fn *t = add ? tiles_add : tiles;
	float tmp[MR * NR];

	for (size_t r = 0; r < m; r += MR) {
		size_t mr = m - r < MR ? m - r : MR;
		if (nj == NR) {
			t[mr](K, x + r * ldx, ldx, b, y + r * ldy, ldy);
			continue;
		}
		/* A part panel: through a whole tile, then the nj columns back. */
		for (size_t i = 0; i < mr && add; i++)
			memcpy(tmp + i * NR, y + (r + i) * ldy, nj * sizeof(float));
		t[mr](K, x + r * ldx, ldx, b, tmp, NR);
		for (size_t i = 0; i < mr; i++)
			memcpy(y + (r + i) * ldy, tmp + i * NR, nj * sizeof(float));
	}
}
#endif

void sb_ops_panels_gemm(size_t m, size_t n, size_t k, const float *x, size_t ldx,
			const float *panels, size_t kp, int add, float *y, size_t ldy)
{
#if HAVE_KERNEL
	for (size_t c = 0; c < n; c += NR) {
		size_t nj = n - c < NR ? n - c : NR;
		if (k == 0) {
			for (size_t i = 0; i < m && !add; i++)
				memset(y + i * ldy + c, 0, nj * sizeof(float));
			continue;
		}
		panel_rows(m, nj, add, k, x, ldx, panels + c / NR * kp * NR, y + c, ldy);
	}
#else
	(void)m; (void)n; (void)k; (void)x; (void)ldx; (void)panels; (void)kp; (void)add;
	(void)y; (void)ldy;
#endif
}
