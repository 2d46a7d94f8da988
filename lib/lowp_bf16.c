/*
 * lowp_bf16.c - the bfloat16 product kernels (see lowp.h): generic C; AVX512_BF16
 * with tiles of 12 rows x 32 columns (24 float32 accumulators, one vdpbf16ps per row
 * and 16 columns for each pair of k, the pair of activations broadcast as one 32-bit
 * value); and AVX-512F with the same tiles, the weights widened to float32 in
 * registers and two FMAs per row, 16 columns and pair of k.  All add, for each pair
 * of k, the odd product and then the even one to the accumulator, as vdpbf16ps does;
 * the products of two bfloat16 values are exact, so FMA rounds the same sums.  With
 * split activations (lowp.h) each pair of k adds the lo pair after the hi pair, on the
 * weight vectors already loaded.
 */
#include <string.h>

#include "lowp_impl.h"

#define MR 12                   /* rows per tile */

/* acc[j] += x[1] b[j, 1] then += x[0] b[j, 0]: one pair of k, as vdpbf16ps adds it. */
static void pair_generic(float *acc, const uint16_t *bg, const uint16_t *x)
{
	float x0 = sb_lowp_bf16_float(x[0]), x1 = sb_lowp_bf16_float(x[1]);

	for (size_t j = 0; j < LOWP_NR; j++) {
		acc[j] += x1 * sb_lowp_bf16_float(bg[2 * j + 1]);
		acc[j] += x0 * sb_lowp_bf16_float(bg[2 * j]);
	}
}

void sb_lowp_bf16_generic(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
			  size_t c0, size_t c1, float *y, size_t ldy)
{
	size_t kp = w->kp;

	for (size_t c = c0; c < c1; c += LOWP_NR) {
		const uint16_t *b = (const uint16_t *)w->data + c / LOWP_NR * kp * LOWP_NR;
		size_t nc = c1 - c < LOWP_NR ? c1 - c : LOWP_NR;
		for (size_t r = 0; r < a->m; r++) {
			const uint16_t *x = (const uint16_t *)a->q + r * kp;
			const uint16_t *xl = a->lo ? (const uint16_t *)a->lo + r * kp : NULL;
			float acc[LOWP_NR] = { 0 };
			for (size_t g = 0; g < kp / 2; g++) {
				const uint16_t *bg = b + g * 2 * LOWP_NR;
				pair_generic(acc, bg, x + 2 * g);
				if (xl)
					pair_generic(acc, bg, xl + 2 * g);
			}
			memcpy(y + r * ldy + c, acc, nc * sizeof(float));
		}
	}
}

#ifdef LOWP_X86
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))
#define INLINE static inline __attribute__((always_inline))

/* Stores the 32 floats of one row of a tile, only the first nc columns (nc <= 32). */
INLINE TARGET void store_row(float *y, __m512 v0, __m512 v1, size_t nc)
{
	if (nc == LOWP_NR) {
		_mm512_storeu_ps(y, v0);
		_mm512_storeu_ps(y + 16, v1);
		return;
	}
	_mm512_mask_storeu_ps(y, (__mmask16)(nc >= 16 ? 0xffff : (1u << nc) - 1), v0);
	if (nc > 16)
		_mm512_mask_storeu_ps(y + 16, (__mmask16)((1u << (nc - 16)) - 1), v1);
}

/* store_row() for the AVX-512F kernel (the same code, another target). */
INLINE __attribute__((target("avx512f"))) void store_row_f(float *y, __m512 v0, __m512 v1,
							  size_t nc)
{
	if (nc == LOWP_NR) {
		_mm512_storeu_ps(y, v0);
		_mm512_storeu_ps(y + 16, v1);
		return;
	}
	_mm512_mask_storeu_ps(y, (__mmask16)(nc >= 16 ? 0xffff : (1u << nc) - 1), v0);
	if (nc > 16)
		_mm512_mask_storeu_ps(y + 16, (__mmask16)((1u << (nc - 16)) - 1), v1);
}

/*
 * Y[mr, nc] (stride ldy) = X[mr, kp] (bf16, stride kp) * panel b; mr <= 12 constant.
 * split: X_lo's rows follow at xl (xl - x values further), each pair of lo products
 * added after the pair of hi ones with the same weight vectors.
 */
INLINE TARGET void tile(const int mr, const int split, size_t kp, const uint16_t *x,
			size_t xl, const uint16_t *b, float *y, size_t ldy, size_t nc)
{
	__m512 acc[MR][2];

#pragma GCC unroll 12
	for (int r = 0; r < mr; r++)
		acc[r][0] = acc[r][1] = _mm512_setzero_ps();
	for (size_t g = 0; g < kp / 2; g++) {
		__m512i b0 = _mm512_load_si512(b + g * 2 * LOWP_NR);
		__m512i b1 = _mm512_load_si512(b + g * 2 * LOWP_NR + LOWP_NR);
#pragma GCC unroll 12
		for (int r = 0; r < mr; r++) {
			int32_t pair;
			memcpy(&pair, x + (size_t)r * kp + 2 * g, sizeof(pair));
			__m512i xa = _mm512_set1_epi32(pair);
			acc[r][0] = _mm512_dpbf16_ps(acc[r][0], (__m512bh)xa, (__m512bh)b0);
			acc[r][1] = _mm512_dpbf16_ps(acc[r][1], (__m512bh)xa, (__m512bh)b1);
			if (split) {
				memcpy(&pair, x + xl + (size_t)r * kp + 2 * g, sizeof(pair));
				xa = _mm512_set1_epi32(pair);
				acc[r][0] = _mm512_dpbf16_ps(acc[r][0], (__m512bh)xa,
							     (__m512bh)b0);
				acc[r][1] = _mm512_dpbf16_ps(acc[r][1], (__m512bh)xa,
							     (__m512bh)b1);
			}
		}
	}
#pragma GCC unroll 12
	for (int r = 0; r < mr; r++)
		store_row(y + (size_t)r * ldy, acc[r][0], acc[r][1], nc);
}

#define TILE(R)									\
static TARGET __attribute__((noinline)) void tile_##R(size_t kp, const uint16_t *x,	\
						       size_t xl, const uint16_t *b,	\
						       float *y, size_t ldy, size_t nc)	\
{ tile(R, 0, kp, x, xl, b, y, ldy, nc); }						\
static TARGET __attribute__((noinline)) void tile_s##R(size_t kp, const uint16_t *x,	\
							size_t xl, const uint16_t *b,	\
							float *y, size_t ldy, size_t nc) \
{ tile(R, 1, kp, x, xl, b, y, ldy, nc); }
TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7) TILE(8) TILE(9) TILE(10) TILE(11)
TILE(12)

typedef void (*tile_fn)(size_t, const uint16_t *, size_t, const uint16_t *, float *, size_t,
			size_t);
static const tile_fn tiles[2][MR + 1] = {
	{ NULL, tile_1, tile_2, tile_3, tile_4, tile_5, tile_6, tile_7, tile_8, tile_9, tile_10,
	  tile_11, tile_12 },
	{ NULL, tile_s1, tile_s2, tile_s3, tile_s4, tile_s5, tile_s6, tile_s7, tile_s8, tile_s9,
	  tile_s10, tile_s11, tile_s12 }
};

/* ---- AVX-512F: bf16 weights widened to float32 in registers, FMA ---- */

#define TFMA __attribute__((target("avx512f")))

/*
 * Y[mr, nc] = X[mr, kp] (floats holding bf16 values, stride kp) * panel b.  A 32-bit
 * lane of a panel vector holds the pair (k even in the low half, k odd in the high
 * half) of one column: shifted left by 16 it is the even k's float, masked the odd
 * one's.  Per pair of k: fma with the odd k first, then the even one, each rounded
 * once on an exact product: the sum vdpbf16ps makes.
 */
INLINE TFMA void tile_fma(const int mr, const int split, size_t kp, const float *x, size_t xl,
			  const uint16_t *b, float *y, size_t ldy, size_t nc)
{
	const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
	__m512 acc[MR][2];

#pragma GCC unroll 12
	for (int r = 0; r < mr; r++)
		acc[r][0] = acc[r][1] = _mm512_setzero_ps();
	for (size_t g = 0; g < kp / 2; g++) {
		__m512i p0 = _mm512_load_si512(b + g * 2 * LOWP_NR);
		__m512i p1 = _mm512_load_si512(b + g * 2 * LOWP_NR + LOWP_NR);
		__m512 e0 = _mm512_castsi512_ps(_mm512_slli_epi32(p0, 16));
		__m512 e1 = _mm512_castsi512_ps(_mm512_slli_epi32(p1, 16));
		__m512 o0 = _mm512_castsi512_ps(_mm512_and_si512(p0, hi));
		__m512 o1 = _mm512_castsi512_ps(_mm512_and_si512(p1, hi));
#pragma GCC unroll 12
		for (int r = 0; r < mr; r++) {
			__m512 xo = _mm512_set1_ps(x[(size_t)r * kp + 2 * g + 1]);
			acc[r][0] = _mm512_fmadd_ps(xo, o0, acc[r][0]);
			acc[r][1] = _mm512_fmadd_ps(xo, o1, acc[r][1]);
		}
#pragma GCC unroll 12
		for (int r = 0; r < mr; r++) {
			__m512 xe = _mm512_set1_ps(x[(size_t)r * kp + 2 * g]);
			acc[r][0] = _mm512_fmadd_ps(xe, e0, acc[r][0]);
			acc[r][1] = _mm512_fmadd_ps(xe, e1, acc[r][1]);
		}
		if (!split)
			continue;
#pragma GCC unroll 12
		for (int r = 0; r < mr; r++) {
			__m512 xo = _mm512_set1_ps(x[xl + (size_t)r * kp + 2 * g + 1]);
			acc[r][0] = _mm512_fmadd_ps(xo, o0, acc[r][0]);
			acc[r][1] = _mm512_fmadd_ps(xo, o1, acc[r][1]);
		}
#pragma GCC unroll 12
		for (int r = 0; r < mr; r++) {
			__m512 xe = _mm512_set1_ps(x[xl + (size_t)r * kp + 2 * g]);
			acc[r][0] = _mm512_fmadd_ps(xe, e0, acc[r][0]);
			acc[r][1] = _mm512_fmadd_ps(xe, e1, acc[r][1]);
		}
	}
#pragma GCC unroll 12
	for (int r = 0; r < mr; r++)
		store_row_f(y + (size_t)r * ldy, acc[r][0], acc[r][1], nc);
}

#define TILE_FMA(R)								\
static TFMA __attribute__((noinline)) void tile_fma_##R(size_t kp, const float *x,	\
							 size_t xl, const uint16_t *b,	\
							 float *y, size_t ldy, size_t nc) \
{ tile_fma(R, 0, kp, x, xl, b, y, ldy, nc); }						\
static TFMA __attribute__((noinline)) void tile_fma_s##R(size_t kp, const float *x,	\
							  size_t xl, const uint16_t *b,	\
							  float *y, size_t ldy, size_t nc) \
{ tile_fma(R, 1, kp, x, xl, b, y, ldy, nc); }
TILE_FMA(1) TILE_FMA(2) TILE_FMA(3) TILE_FMA(4) TILE_FMA(5) TILE_FMA(6) TILE_FMA(7)
TILE_FMA(8) TILE_FMA(9) TILE_FMA(10) TILE_FMA(11) TILE_FMA(12)

typedef void (*tile_fma_fn)(size_t, const float *, size_t, const uint16_t *, float *, size_t,
			    size_t);
static const tile_fma_fn tiles_fma[2][MR + 1] = {
	{ NULL, tile_fma_1, tile_fma_2, tile_fma_3, tile_fma_4, tile_fma_5, tile_fma_6,
	  tile_fma_7, tile_fma_8, tile_fma_9, tile_fma_10, tile_fma_11, tile_fma_12 },
	{ NULL, tile_fma_s1, tile_fma_s2, tile_fma_s3, tile_fma_s4, tile_fma_s5, tile_fma_s6,
	  tile_fma_s7, tile_fma_s8, tile_fma_s9, tile_fma_s10, tile_fma_s11, tile_fma_s12 }
};

void sb_lowp_bf16_fma(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
		      size_t c0, size_t c1, float *y, size_t ldy)
{
	size_t kp = w->kp, m = a->m, full = m / MR * MR;
	const float *x = a->q;
	int s = a->lo != NULL;
	size_t xl = s ? (size_t)((const float *)a->lo - x) : 0;

	for (size_t c = c0; c < c1; c += LOWP_NR) {
		const uint16_t *b = (const uint16_t *)w->data + c / LOWP_NR * kp * LOWP_NR;
		size_t nc = c1 - c < LOWP_NR ? c1 - c : LOWP_NR;
		for (size_t r = 0; r < full; r += MR)
			tiles_fma[s][MR](kp, x + r * kp, xl, b, y + r * ldy + c, ldy, nc);
		if (m > full)
			tiles_fma[s][m - full](kp, x + full * kp, xl, b, y + full * ldy + c, ldy,
					       nc);
	}
}

void sb_lowp_bf16_avx512(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
			 size_t c0, size_t c1, float *y, size_t ldy)
{
	size_t kp = w->kp, m = a->m, full = m / MR * MR;
	const uint16_t *x = a->q;
	int s = a->lo != NULL;
	size_t xl = s ? (size_t)((const uint16_t *)a->lo - x) : 0;

	for (size_t c = c0; c < c1; c += LOWP_NR) {
		const uint16_t *b = (const uint16_t *)w->data + c / LOWP_NR * kp * LOWP_NR;
		size_t nc = c1 - c < LOWP_NR ? c1 - c : LOWP_NR;
		for (size_t r = 0; r < full; r += MR)
			tiles[s][MR](kp, x + r * kp, xl, b, y + r * ldy + c, ldy, nc);
		if (m > full)
			tiles[s][m - full](kp, x + full * kp, xl, b, y + full * ldy + c, ldy, nc);
	}
}
#endif
