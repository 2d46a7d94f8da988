/*
 * exp512.c - exp(x) and the online-softmax block of attention, for AVX-512 (see
 * exp512.h, and sb_ops_exp() / sb_ops_softmax_block() in ops.h for the contracts).
 *
 * At 8,192 tokens the exponentials of the attention's softmax took 12% of ModernBERT's
 * time: one per score, against 2 d = 128 multiply-adds of the two products for that
 * score.  The portable body of ops.c (GCC vector types) needs ~25 instructions a
 * vector, most of them to build 2^n from integer bits and to select the results out of
 * range; here it is 13 (with the limit and the mask below):
 *
 *   n = round(x log2 e)                       vrndscaleps
 *   r = x - n ln2, ln2 = hi + lo              two FMAs; |r| <= ln2 / 2
 *   p = 1 + r + r^2/2 + ... (degree 6)        six FMAs, 0.9 ulp on |r| <= ln2 / 2
 *   exp(x) = p 2^n                            vscalefps: no integer bits, and it
 *                                             overflows to +inf where exp does
 *
 * x is first limited to 88.8, past the overflow threshold (88.72284), so that n stays
 * small and the product still overflows; below -86.5 the result is 0 by a mask (as the
 * portable body: no subnormal results), which also takes -inf to 0.  NaN stays NaN.
 * Against exp in double, over every float of [-86.5, 88.72] (all 2.2e9 of them, once),
 * the largest error is 1.09 ulp (relative 9.2e-8, at 5.2005); tests/check_ops.c checks
 * every 499th float against 1.5 ulp.
 *
 * The softmax block reads each row of scores twice, while it is in L1: the maximum,
 * then the exponentials and their sum in one pass (scaled inside, as fmsub(x, scale,
 * top)); the tail of a row that is not a multiple of 16 goes through masked loads and
 * stores, -inf in the lanes past the end.
 */
#include <math.h>
#include <string.h>

#include "exp512.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))

#define EXP_LO -86.5f                   /* below: 0 */
#define EXP_HI 88.8f                    /* above: limited (the result is +inf) */

INLINE TARGET __m512 vexp(__m512 x)
{
	__mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(EXP_LO), _CMP_NLT_UQ);
	/* min returns its second operand when either is NaN: NaN goes through. */
	__m512 xc = _mm512_min_ps(_mm512_set1_ps(EXP_HI), x);
	__m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
					_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693147182464599609375f), xc);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-1.904654323148236e-09f), r);
	__m512 p = _mm512_set1_ps(1.394858817e-03f);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.375135250e-03f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.166621715e-02f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.666641533e-01f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.000000000e-01f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
	return _mm512_maskz_scalef_ps(keep, p, n);
}

/* Lanes [0, n) of a vector, n < 16. */
INLINE __mmask16 head_mask(size_t n)
{
	return (__mmask16)((1u << n) - 1u);
}

int sb_exp512_built(void)
{
	return 1;
}

TARGET void sb_exp512(float *y, const float *x, size_t n)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(y + i, vexp(_mm512_loadu_ps(x + i)));
	if (i < n) {
		__mmask16 m = head_mask(n - i);
		_mm512_mask_storeu_ps(y + i, m, vexp(_mm512_maskz_loadu_ps(m, x + i)));
	}
}

/* The largest of x[0 .. n). */
INLINE TARGET float row_max(const float *x, size_t n)
{
	__m512 m = _mm512_set1_ps(-INFINITY);
	size_t i = 0;

	for (; i + 16 <= n; i += 16)
		m = _mm512_max_ps(m, _mm512_loadu_ps(x + i));
	if (i < n)
		m = _mm512_mask_max_ps(m, head_mask(n - i), m, _mm512_maskz_loadu_ps(
					       head_mask(n - i), x + i));
	return _mm512_reduce_max_ps(m);
}

/* x[j] = exp(x[j] scale - top) for j < n; returns their sum. */
INLINE TARGET float exp_sum(float *x, size_t n, float scale, float top)
{
	__m512 s = _mm512_set1_ps(scale), t = _mm512_set1_ps(top);
	__m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
	size_t i = 0;

	/* Two vectors a step: two chains of exponentials and sums in flight. */
	for (; i + 32 <= n; i += 32) {
		__m512 e0 = vexp(_mm512_fmsub_ps(_mm512_loadu_ps(x + i), s, t));
		__m512 e1 = vexp(_mm512_fmsub_ps(_mm512_loadu_ps(x + i + 16), s, t));
		_mm512_storeu_ps(x + i, e0);
		_mm512_storeu_ps(x + i + 16, e1);
		acc0 = _mm512_add_ps(acc0, e0);
		acc1 = _mm512_add_ps(acc1, e1);
	}
	for (; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? (__mmask16)0xffff : head_mask(n - i);
		__m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), m, x + i);
		__m512 e = vexp(_mm512_fmsub_ps(v, s, t));
		_mm512_mask_storeu_ps(x + i, m, e);
		acc0 = _mm512_add_ps(acc0, e);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

TARGET float sb_exp512_softmax_block(float *x, size_t n, float scale, float *mx, float *corr)
{
	/* scale > 0 and rounding is monotonic: the maximum of the scaled scores is the
	 * scaled maximum. */
	float prev = *mx, top = row_max(x, n) * scale, sum;

	top = top > prev ? top : prev;
	if (top == -INFINITY) {
		/* Every column so far is excluded: nothing to add yet. */
		memset(x, 0, n * sizeof(float));
		*corr = 1.0f;
		return 0.0f;
	}
	sum = exp_sum(x, n, scale, top);
	/* Once the maximum has settled, most blocks leave it as it is: no expf. */
	*corr = prev == -INFINITY ? 0.0f : prev == top ? 1.0f : expf(prev - top);
	*mx = top;
	return sum;
}

#else

int sb_exp512_built(void)
{
	return 0;
}

void sb_exp512(float *y, const float *x, size_t n)
{
	(void)y; (void)x; (void)n;
}

float sb_exp512_softmax_block(float *x, size_t n, float scale, float *mx, float *corr)
{
	(void)x; (void)n; (void)scale; (void)mx; (void)corr;
	return 0.0f;
}

#endif
