/*
 * lowp_int8.c - the int8 product kernels (see lowp.h): generic C, AVX512_VNNI with
 * tiles of 12 rows x 32 columns (24 int32 accumulators, one vpdpbusd per row and 16
 * columns for each group of 4 k, the 4 activation bytes broadcast as one 32-bit value)
 * and AVX-VNNI with tiles of 6 rows x 16 columns (12 ymm accumulators).  The sums are
 * exact integers, so the kernels agree bit for bit; each dequantizes its tile as
 *   y = (float)(acc - zp[r] colsum[n]) * (scale_x[r] * scale_w[n]).
 */
#include <string.h>

#include "lowp_impl.h"

/* The dequantization, written once for every kernel's scalar reference. */
static float dequant(int32_t acc, int32_t zp, int32_t colsum, float sx, float sw)
{
	return (float)(acc - zp * colsum) * (sx * sw);
}

void sb_lowp_int8_generic(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
			  size_t c0, size_t c1, float *y, size_t ldy)
{
	size_t kp = w->kp;

	for (size_t c = c0; c < c1; c += LOWP_NR) {
		const int8_t *b = (const int8_t *)w->data + c / LOWP_NR * kp * LOWP_NR;
		size_t nc = c1 - c < LOWP_NR ? c1 - c : LOWP_NR;
		for (size_t r = 0; r < a->m; r++) {
			const uint8_t *x = (const uint8_t *)a->q + r * kp;
			int32_t acc[LOWP_NR] = { 0 };
			for (size_t g = 0; g < kp / 4; g++) {
				const int8_t *bg = b + g * 4 * LOWP_NR;
				for (size_t j = 0; j < LOWP_NR; j++)
					for (size_t i = 0; i < 4; i++)
						acc[j] += (int32_t)x[4 * g + i] * bg[4 * j + i];
			}
			for (size_t j = 0; j < nc; j++)
				y[r * ldy + c + j] = dequant(acc[j], a->zp[r], w->colsum[c + j],
							     a->scale[r], w->scale[c + j]);
		}
	}
}

#ifdef LOWP_X86
#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

/* ---- AVX512_VNNI ---- */

#define T512 __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define MR 12

/* y[0 .. nc) of one row = dequantized acc0 | acc1 (columns c .. c + 31 of w). */
INLINE T512 void store512(float *y, __m512i acc0, __m512i acc1, int32_t zp, float sx,
			  const struct sb_lowp_weights *w, size_t c, size_t nc)
{
	__m512i z = _mm512_set1_epi32(zp);
	__m512 s = _mm512_set1_ps(sx);
	__m512 v0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc0, _mm512_mullo_epi32(
				z, _mm512_loadu_si512(w->colsum + c))));
	__m512 v1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc1, _mm512_mullo_epi32(
				z, _mm512_loadu_si512(w->colsum + c + 16))));

	v0 = _mm512_mul_ps(v0, _mm512_mul_ps(s, _mm512_loadu_ps(w->scale + c)));
	v1 = _mm512_mul_ps(v1, _mm512_mul_ps(s, _mm512_loadu_ps(w->scale + c + 16)));
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
 * acc[r][0 .. 32) = the sums of rows 0 .. mr - 1 of x (stride kp) with the panel b:
 * the k loop alone, on few operands, so that its 24 accumulators stay in registers
 * (with the dequantization in the same function GCC spilled them on every step).
 */
INLINE T512 void sums512(const int mr, size_t kp, const uint8_t *x, const int8_t *b,
			 int32_t acc_out[][LOWP_NR])
{
	__m512i acc[MR][2];

#pragma GCC unroll 12
	for (int r = 0; r < mr; r++)
		acc[r][0] = acc[r][1] = _mm512_setzero_si512();
	for (size_t g = 0; g < kp / 4; g++) {
		__m512i b0 = _mm512_load_si512(b + g * 4 * LOWP_NR);
		__m512i b1 = _mm512_load_si512(b + g * 4 * LOWP_NR + 64);
#pragma GCC unroll 12
		for (int r = 0; r < mr; r++) {
			int32_t quad;
			memcpy(&quad, x + (size_t)r * kp + 4 * g, sizeof(quad));
			__m512i xa = _mm512_set1_epi32(quad);
			acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], xa, b0);
			acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], xa, b1);
		}
	}
#pragma GCC unroll 12
	for (int r = 0; r < mr; r++) {
		_mm512_storeu_si512(acc_out[r], acc[r][0]);
		_mm512_storeu_si512(acc_out[r] + 16, acc[r][1]);
	}
}

/* Rows r0 .. r0 + mr - 1 of the activations times the panel of columns c. */
INLINE T512 void tile512(const int mr, const struct sb_lowp_weights *w,
			 const struct sb_lowp_act *a, size_t r0, size_t c, float *y, size_t ldy,
			 size_t nc)
{
	size_t kp = w->kp;
	int32_t acc[MR][LOWP_NR];

	sums512(mr, kp, (const uint8_t *)a->q + r0 * kp,
		(const int8_t *)w->data + c / LOWP_NR * kp * LOWP_NR, acc);
	for (int r = 0; r < mr; r++)
		store512(y + (r0 + (size_t)r) * ldy + c, _mm512_loadu_si512(acc[r]),
			 _mm512_loadu_si512(acc[r] + 16), a->zp[r0 + r], a->scale[r0 + r], w, c,
			 nc);
}

#define TILE512(R)								\
static T512 __attribute__((noinline)) void tile512_##R(const struct sb_lowp_weights *w, \
	const struct sb_lowp_act *a, size_t r0, size_t c, float *y, size_t ldy, size_t nc) \
{ tile512(R, w, a, r0, c, y, ldy, nc); }
TILE512(1) TILE512(2) TILE512(3) TILE512(4) TILE512(5) TILE512(6) TILE512(7) TILE512(8)
TILE512(9) TILE512(10) TILE512(11) TILE512(12)

typedef void (*tile_fn)(const struct sb_lowp_weights *, const struct sb_lowp_act *, size_t,
			size_t, float *, size_t, size_t);
static const tile_fn tiles512[MR + 1] = {
	NULL, tile512_1, tile512_2, tile512_3, tile512_4, tile512_5, tile512_6, tile512_7,
	tile512_8, tile512_9, tile512_10, tile512_11, tile512_12
};

void sb_lowp_int8_avx512(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
			 size_t c0, size_t c1, float *y, size_t ldy)
{
	size_t m = a->m, full = m / MR * MR;

	for (size_t c = c0; c < c1; c += LOWP_NR) {
		size_t nc = c1 - c < LOWP_NR ? c1 - c : LOWP_NR;
		for (size_t r = 0; r < full; r += MR)
			tile512_12(w, a, r, c, y, ldy, nc);
		if (m > full)
			tiles512[m - full](w, a, full, c, y, ldy, nc);
	}
}

/* ---- AVX-VNNI (256-bit) ---- */

#define T256 __attribute__((target("avx2,avxvnni")))
#define MR2 6

/* nc <= 16 columns of one row from acc0 | acc1 (columns c .. c + 15 of w). */
INLINE T256 void store256(float *y, __m256i acc0, __m256i acc1, int32_t zp, float sx,
			  const struct sb_lowp_weights *w, size_t c, size_t nc)
{
	__m256i z = _mm256_set1_epi32(zp);
	__m256 s = _mm256_set1_ps(sx);
	__m256i cs0 = _mm256_loadu_si256((const __m256i *)(w->colsum + c));
	__m256i cs1 = _mm256_loadu_si256((const __m256i *)(w->colsum + c + 8));
	__m256 v0 = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc0, _mm256_mullo_epi32(z, cs0)));
	__m256 v1 = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc1, _mm256_mullo_epi32(z, cs1)));
	float t[16];

	v0 = _mm256_mul_ps(v0, _mm256_mul_ps(s, _mm256_loadu_ps(w->scale + c)));
	v1 = _mm256_mul_ps(v1, _mm256_mul_ps(s, _mm256_loadu_ps(w->scale + c + 8)));
	if (nc == 16) {
		_mm256_storeu_ps(y, v0);
		_mm256_storeu_ps(y + 8, v1);
		return;
	}
	_mm256_storeu_ps(t, v0);
	_mm256_storeu_ps(t + 8, v1);
	memcpy(y, t, nc * sizeof(float));
}

/* acc[r][0 .. 16) = rows 0 .. mr - 1 of x times 16 columns of a panel (as sums512()). */
INLINE T256 void sums256(const int mr, size_t kp, const uint8_t *x, const int8_t *b,
			 int32_t acc_out[][16])
{
	__m256i acc[MR2][2];

#pragma GCC unroll 6
	for (int r = 0; r < mr; r++)
		acc[r][0] = acc[r][1] = _mm256_setzero_si256();
	for (size_t g = 0; g < kp / 4; g++) {
		__m256i b0 = _mm256_load_si256((const __m256i *)(b + g * 4 * LOWP_NR));
		__m256i b1 = _mm256_load_si256((const __m256i *)(b + g * 4 * LOWP_NR + 32));
#pragma GCC unroll 6
		for (int r = 0; r < mr; r++) {
			int32_t quad;
			memcpy(&quad, x + (size_t)r * kp + 4 * g, sizeof(quad));
			__m256i xa = _mm256_set1_epi32(quad);
			acc[r][0] = _mm256_dpbusd_avx_epi32(acc[r][0], xa, b0);
			acc[r][1] = _mm256_dpbusd_avx_epi32(acc[r][1], xa, b1);
		}
	}
#pragma GCC unroll 6
	for (int r = 0; r < mr; r++) {
		_mm256_storeu_si256((__m256i *)acc_out[r], acc[r][0]);
		_mm256_storeu_si256((__m256i *)(acc_out[r] + 8), acc[r][1]);
	}
}

/* Rows r0 .. r0 + mr - 1 times columns c .. c + 15 (half h of the panel of c - 16 h). */
INLINE T256 void tile256(const int mr, const struct sb_lowp_weights *w,
			 const struct sb_lowp_act *a, size_t r0, size_t c, float *y, size_t ldy,
			 size_t nc)
{
	size_t kp = w->kp, h = c % LOWP_NR / 16;
	int32_t acc[MR2][16];

	sums256(mr, kp, (const uint8_t *)a->q + r0 * kp,
		(const int8_t *)w->data + c / LOWP_NR * kp * LOWP_NR + h * 64, acc);
	for (int r = 0; r < mr; r++)
		store256(y + (r0 + (size_t)r) * ldy + c,
			 _mm256_loadu_si256((const __m256i *)acc[r]),
			 _mm256_loadu_si256((const __m256i *)(acc[r] + 8)), a->zp[r0 + r],
			 a->scale[r0 + r], w, c, nc);
}

#define TILE256(R)								\
static T256 __attribute__((noinline)) void tile256_##R(const struct sb_lowp_weights *w, \
	const struct sb_lowp_act *a, size_t r0, size_t c, float *y, size_t ldy, size_t nc) \
{ tile256(R, w, a, r0, c, y, ldy, nc); }
TILE256(1) TILE256(2) TILE256(3) TILE256(4) TILE256(5) TILE256(6)

static const tile_fn tiles256[MR2 + 1] = {
	NULL, tile256_1, tile256_2, tile256_3, tile256_4, tile256_5, tile256_6
};

void sb_lowp_int8_avxvnni(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
			  size_t c0, size_t c1, float *y, size_t ldy)
{
	size_t m = a->m, full = m / MR2 * MR2;

	for (size_t c = c0; c < c1; c += 16) {
		size_t nc = c1 - c < 16 ? c1 - c : 16;
		for (size_t r = 0; r < full; r += MR2)
			tile256_6(w, a, r, c, y, ldy, nc);
		if (m > full)
			tiles256[m - full](w, a, full, c, y, ldy, nc);
	}
}
#endif
