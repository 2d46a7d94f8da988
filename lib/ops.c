/*
 * ops.c - matrix products through OpenBLAS and the vectorized element-wise kernels
 * of the encoder.
 *
 * The element-wise kernels are written once, on GCC vector types of 16 floats, as
 * always-inline bodies.  Each body is instantiated three times: for AVX-512, for
 * AVX2 + FMA (GCC splits a 16-float vector into two ymm halves) and for the
 * compiler's baseline (SSE2 on x86-64, scalar code elsewhere).  A table of function
 * pointers picks one set at run time from __builtin_cpu_supports(), which also checks
 * that the OS saves the wide registers.  The tails of arrays whose length is not a
 * multiple of 16 go through the same vector code on a padded copy, so every element
 * sees exactly the same arithmetic whatever its position.
 *
 * Accuracy: erf is a piecewise polynomial fitted (Chebyshev interpolation, in
 * double) for these kernels: x * P(x^2) on |x| < 1, Q(|x| - 2.46) on 1 <= |x| < 3.92,
 * and +-1 beyond, where erf rounds to 1 in float.  Evaluated with FMA its error is at
 * most 1.2e-7 (2.3 ulp near 0.9).  exp uses the usual reduction x = n ln2 + r with
 * |r| <= ln2/2 and a degree-6 polynomial (0.9 ulp on the reduced range).
 */
#include "config.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <cblas.h>

#include "exp512.h"
#include "ops.h"

/* Some cblas.h variants do not declare OpenBLAS's extensions. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
char *openblas_get_config(void);

/* ---- activation names ---- */

int sb_act_parse(const char *name, enum sb_act *out, struct sb_error *err)
{
	if (strcmp(name, "gelu") == 0) {
		*out = SB_ACT_GELU;
	} else if (strcmp(name, "gelu_new") == 0 || strcmp(name, "gelu_pytorch_tanh") == 0) {
		*out = SB_ACT_GELU_TANH;
	} else if (strcmp(name, "relu") == 0) {
		*out = SB_ACT_RELU;
	} else {
		return sb_error_set(err, SB_EUNSUPPORTED,
				    "activation '%s' is not supported (gelu, gelu_new, "
				    "gelu_pytorch_tanh, relu)", name);
	}
	return SB_OK;
}

const char *sb_act_name(enum sb_act act)
{
	switch (act) {
	case SB_ACT_GELU: return "gelu";
	case SB_ACT_GELU_TANH: return "gelu_tanh";
	case SB_ACT_RELU: return "relu";
	}
	return "?";
}

/* ---- BLAS ---- */

void sb_ops_set_threads(int n)
{
	if (n >= 1)
		openblas_set_num_threads(n);
}

#ifdef HAVE_BLAS_THREAD_SHUTDOWN_
int blas_thread_shutdown_(void);
#endif

void sb_ops_park_threads(void)
{
#ifdef HAVE_BLAS_THREAD_SHUTDOWN_
	/* OpenBLAS starts its worker threads when it is loaded, and each one spins on
	 * sched_yield() for 2^28 cycles (a tenth of a second) before it sleeps: CPU time
	 * for nothing in a program that does no products (sb-tokenize, where it was a
	 * quarter of the time of a 4 MB run).  The shutdown of OpenBLAS's fork handler
	 * joins them; OpenBLAS starts them again on the next threaded product. */
	(void)blas_thread_shutdown_();
#endif
}

int sb_ops_threads(void)
{
	return openblas_get_num_threads();
}

const char *sb_ops_blas_core(void)
{
	const char *s = openblas_get_corename();
	return s ? s : "unknown";
}

const char *sb_ops_blas_config(void)
{
	const char *s = openblas_get_config();
	return s ? s : "unknown";
}

void sb_ops_gemm(int trans_b, size_t m, size_t n, size_t k, float alpha, const float *a,
		 size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc)
{
	assert(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX);
	assert(lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX);
	if (m == 0 || n == 0)
		return;
	if (k == 0) {
		/* OpenBLAS handles k == 0, but its argument checks want lda >= 1. */
		for (size_t i = 0; i < m; i++)
			for (size_t j = 0; j < n; j++)
				c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
		return;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)m,
		    (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

void sb_ops_dgemm(int trans_b, size_t m, size_t n, size_t k, const double *a, size_t lda,
		  const double *b, size_t ldb, double *c, size_t ldc)
{
	assert(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX);
	assert(lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX);
	if (m == 0 || n == 0)
		return;
	if (k == 0) {
		for (size_t i = 0; i < m; i++)
			for (size_t j = 0; j < n; j++)
				c[i * ldc + j] = 0;
		return;
	}
	/* C = A op(B), beta 0 */
	cblas_dgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)m,
		    (int)n, (int)k, 1.0, a, (int)lda, b, (int)ldb, 0.0, c, (int)ldc);
}

/* ---- vector kernels ---- */

/*
 * The 16-float vector type is wider than the baseline ISA's registers; GCC warns that
 * passing it by value would use a different ABI with and without AVX-512.  All the
 * helpers taking it are always inlined into their instantiations, so no such call
 * exists.
 */
#pragma GCC diagnostic ignored "-Wpsabi"

#define VL 16
typedef float vf __attribute__((vector_size(VL * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(VL * sizeof(int32_t))));

#define INLINE static inline __attribute__((always_inline))

INLINE vf vload(const float *p)
{
	vf v;
	memcpy(&v, p, sizeof v);
	return v;
}

INLINE void vstore(float *p, vf v)
{
	memcpy(p, &v, sizeof v);
}

INLINE vf vsplat(float a)
{
	vf v = { 0 };
	return v + a;
}

/* m ? a : b lane by lane (m from a comparison: all ones or all zeros). */
INLINE vf vsel(vi m, vf a, vf b)
{
	return (vf)((m & (vi)a) | (~m & (vi)b));
}

INLINE vf vmax(vf a, vf b) { return vsel(a > b, a, b); }
INLINE vf vmin(vf a, vf b) { return vsel(a < b, a, b); }

INLINE float hsum(vf v)
{
	float s = 0.0f;
	for (int i = 0; i < VL; i++)
		s += v[i];
	return s;
}

INLINE float hmax(vf v)
{
	float s = v[0];
	for (int i = 1; i < VL; i++)
		s = v[i] > s ? v[i] : s;
	return s;
}

/* exp: results below 2^-125 are flushed to 0, above 88.72 give +inf. */
INLINE vf vexp(vf x)
{
	const float lo = -86.5f, hi = 88.72283f;
	vf xc = vmin(vmax(x, vsplat(lo)), vsplat(hi));
	/* n = round(x / ln2) with the 1.5 * 2^23 trick (round to nearest even). */
	vf n = xc * 1.44269504088896341f + 12582912.0f;
	n = n - 12582912.0f;
	/* r = x - n ln2 in two steps (Cody-Waite): ln2 = 0.693359375 - 2.12194440e-4. */
	vf r = xc - n * 0.693359375f;
	r = r + n * 2.12194440e-4f;
	vf p = vsplat(1.394858817e-03f);
	p = p * r + 8.375135250e-03f;
	p = p * r + 4.166621715e-02f;
	p = p * r + 1.666641533e-01f;
	p = p * r + 5.000000000e-01f;
	p = p * r + 1.000000000e+00f;
	p = p * r + 1.000000000e+00f;
	/* 2^n as 2^(n-1) * 2 so that n = 128 (x near 88.7) stays finite. */
	vi e = (__builtin_convertvector(n, vi) + 126) << 23;
	vf y = p * (vf)e * 2.0f;
	y = vsel(x < lo, vsplat(0.0f), y);
	y = vsel(x > hi, vsplat(INFINITY), y);
	return y;
}

INLINE vf verf(vf x)
{
	vi sign = (vi)x & INT32_MIN;
	vf a = (vf)((vi)x & 0x7fffffff);
	/* |x| < 1: erf(x) = x P(x^2) */
	vf s = a * a;
	vf p = vsplat(-5.654108827e-04f);
	p = p * s + 4.923280794e-03f;
	p = p * s + -2.671639062e-02f;
	p = p * s + 1.128036454e-01f;
	p = p * s + -3.761234879e-01f;
	p = p * s + 1.128379107e+00f;
	p = p * a;
	/* 1 <= |x| < 3.92: erf(x) = Q(|x| - 2.46) */
	vf t = a - 2.46f;
	vf q = vsplat(-9.166632481e-06f);
	q = q * t + 2.536311877e-05f;
	q = q * t + 5.189470903e-05f;
	q = q * t + -3.013668465e-04f;
	q = q * t + 3.906824277e-04f;
	q = q * t + 4.615694634e-04f;
	q = q * t + -2.963123610e-03f;
	q = q * t + 6.798154209e-03f;
	q = q * t + -9.904963896e-03f;
	q = q * t + 9.832827374e-03f;
	q = q * t + -6.535748951e-03f;
	q = q * t + 2.656208817e-03f;
	q = q * t + 9.994966984e-01f;
	vf r = vsel(a < 1.0f, p, vsel(a < 3.92f, q, vsplat(1.0f)));
	return (vf)((vi)r | sign);
}

INLINE vf vgelu(vf x)
{
	return x * 0.5f * (1.0f + verf(x * 0.70710678118654752f));
}

INLINE vf vgelu_tanh(vf x)
{
	/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), tanh(u) = 1 - 2 / (e^2u + 1);
	 * |u| <= 9 keeps e^2u finite and tanh(9) rounds to 1 in float. */
	vf u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
	u = vmin(vmax(u, vsplat(-9.0f)), vsplat(9.0f));
	vf th = 1.0f - 2.0f / (vexp(u + u) + 1.0f);
	return 0.5f * x * (1.0f + th);
}

INLINE vf vrelu(vf x)
{
	return vmax(x, vsplat(0.0f));
}

/* Applies F to n floats from x into y; the tail goes through a zero-padded copy. */
#define MAP(F, y, x, n) do {							\
	size_t i_ = 0;								\
	for (; i_ + VL <= (n); i_ += VL)					\
		vstore((y) + i_, F(vload((x) + i_)));				\
	if (i_ < (n)) {								\
		float t_[VL] = { 0 };						\
		memcpy(t_, (x) + i_, ((n) - i_) * sizeof(float));		\
		vstore(t_, F(vload(t_)));					\
		memcpy((y) + i_, t_, ((n) - i_) * sizeof(float));		\
	}									\
} while (0)

/* Same, adding bias[n] first. */
#define MAP_BIAS(F, y, b, n) do {						\
	size_t i_ = 0;								\
	for (; i_ + VL <= (n); i_ += VL)					\
		vstore((y) + i_, F(vload((y) + i_) + vload((b) + i_)));		\
	if (i_ < (n)) {								\
		float t_[VL] = { 0 }, u_[VL] = { 0 };				\
		memcpy(t_, (y) + i_, ((n) - i_) * sizeof(float));		\
		memcpy(u_, (b) + i_, ((n) - i_) * sizeof(float));		\
		vstore(t_, F(vload(t_) + vload(u_)));				\
		memcpy((y) + i_, t_, ((n) - i_) * sizeof(float));		\
	}									\
} while (0)

#define VIDENT(v) (v)

INLINE void erf_body(float *y, const float *x, size_t n)
{
	MAP(verf, y, x, n);
}

INLINE void exp_body(float *y, const float *x, size_t n)
{
	MAP(vexp, y, x, n);
}

INLINE void bias_act_body(enum sb_act act, float *x, size_t rows, size_t n, size_t ldx,
			  const float *bias)
{
	for (size_t r = 0; r < rows; r++) {
		float *row = x + r * ldx;
		if (!bias) {
			switch (act) {
			case SB_ACT_GELU: MAP(vgelu, row, row, n); break;
			case SB_ACT_GELU_TANH: MAP(vgelu_tanh, row, row, n); break;
			case SB_ACT_RELU: MAP(vrelu, row, row, n); break;
			}
			continue;
		}
		switch (act) {
		case SB_ACT_GELU: MAP_BIAS(vgelu, row, bias, n); break;
		case SB_ACT_GELU_TANH: MAP_BIAS(vgelu_tanh, row, bias, n); break;
		case SB_ACT_RELU: MAP_BIAS(vrelu, row, bias, n); break;
		}
	}
}

INLINE void bias_add_body(float *y, size_t rows, size_t n, size_t ldy, const float *bias)
{
	for (size_t r = 0; r < rows; r++) {
		float *row = y + r * ldy;
		MAP_BIAS(VIDENT, row, bias, n);
	}
}

/*
 * Y[M, N] = X[M, K] W[N, K]^T for few rows of X, without BLAS's packing: each block of
 * 4 weight rows is read from memory once and used for every row of X (which stays in
 * cache), 4 x 4 dot products at a time in 16 vector accumulators.  For one short
 * sentence this halves the time, which OpenBLAS spends mostly copying the weights into
 * its packed layout.  Edge blocks repeat a valid row and discard its results.
 */
INLINE void linear_small_body(size_t M, size_t N, size_t K, const float *x, size_t ldx,
			      const float *w, float *y, size_t ldy)
{
	size_t kv = K / VL * VL;

	for (size_t n = 0; n < N; n += 4) {
		const float *wr[4];
		for (size_t j = 0; j < 4; j++)
			wr[j] = w + (n + j < N ? n + j : n) * K;
		for (size_t m = 0; m < M; m += 4) {
			const float *xr[4];
			for (size_t i = 0; i < 4; i++)
				xr[i] = x + (m + i < M ? m + i : m) * ldx;
			/* Named accumulators: an indexed array would live in memory. */
			vf a00 = vsplat(0.0f), a01 = a00, a02 = a00, a03 = a00;
			vf a10 = a00, a11 = a00, a12 = a00, a13 = a00;
			vf a20 = a00, a21 = a00, a22 = a00, a23 = a00;
			vf a30 = a00, a31 = a00, a32 = a00, a33 = a00;
			for (size_t k = 0; k < kv; k += VL) {
				/*
				 * The next block of 4 weight rows follows this one in memory:
				 * ask for it now, so the loads of the next block find it in
				 * cache (the hardware prefetcher alone leaves this loop
				 * waiting on memory).
				 */
				__builtin_prefetch(wr[0] + 4 * K + k);
				__builtin_prefetch(wr[1] + 4 * K + k);
				__builtin_prefetch(wr[2] + 4 * K + k);
				__builtin_prefetch(wr[3] + 4 * K + k);
				vf w0 = vload(wr[0] + k), w1 = vload(wr[1] + k);
				vf w2 = vload(wr[2] + k), w3 = vload(wr[3] + k);
				vf x0 = vload(xr[0] + k), x1 = vload(xr[1] + k);
				vf x2 = vload(xr[2] + k), x3 = vload(xr[3] + k);
				a00 += x0 * w0; a01 += x0 * w1; a02 += x0 * w2; a03 += x0 * w3;
				a10 += x1 * w0; a11 += x1 * w1; a12 += x1 * w2; a13 += x1 * w3;
				a20 += x2 * w0; a21 += x2 * w1; a22 += x2 * w2; a23 += x2 * w3;
				a30 += x3 * w0; a31 += x3 * w1; a32 += x3 * w2; a33 += x3 * w3;
			}
			float r[4][4] = {
				{ hsum(a00), hsum(a01), hsum(a02), hsum(a03) },
				{ hsum(a10), hsum(a11), hsum(a12), hsum(a13) },
				{ hsum(a20), hsum(a21), hsum(a22), hsum(a23) },
				{ hsum(a30), hsum(a31), hsum(a32), hsum(a33) },
			};
			for (size_t i = 0; i < 4 && m + i < M; i++)
				for (size_t j = 0; j < 4 && n + j < N; j++) {
					float sum = r[i][j];
					for (size_t k = kv; k < K; k++)
						sum += xr[i][k] * wr[j][k];
					y[(m + i) * ldy + n + j] = sum;
				}
		}
	}
}

/*
 * Normalizes one row in place: t holds the n values; mean and variance in two passes
 * (the second over the centred values, as exact as float allows).
 */
INLINE void ln_row(float *t, size_t n, const float *gamma, const float *beta, float eps)
{
	vf acc = vsplat(0.0f);
	size_t i = 0;
	for (; i + VL <= n; i += VL)
		acc += vload(t + i);
	float sum = hsum(acc);
	for (; i < n; i++)
		sum += t[i];
	float mean = sum / (float)n;
	acc = vsplat(0.0f);
	for (i = 0; i + VL <= n; i += VL) {
		vf d = vload(t + i) - mean;
		acc += d * d;
	}
	float var = hsum(acc);
	for (; i < n; i++)
		var += (t[i] - mean) * (t[i] - mean);
	var /= (float)n;
	float rstd = 1.0f / sqrtf(var + eps);
	for (i = 0; i + VL <= n; i += VL)
		vstore(t + i, (vload(t + i) - mean) * rstd * vload(gamma + i) + vload(beta + i));
	for (; i < n; i++)
		t[i] = (t[i] - mean) * rstd * gamma[i] + beta[i];
}

INLINE void layernorm_body(float *out, const float *x, size_t rows, size_t dim,
			   const float *gamma, const float *beta, float eps)
{
	for (size_t r = 0; r < rows; r++) {
		float *o = out + r * dim;
		if (o != x + r * dim)
			memmove(o, x + r * dim, dim * sizeof(float));
		ln_row(o, dim, gamma, beta, eps);
	}
}

INLINE void bias_res_ln_body(float *out, const float *y, const float *bias, const float *res,
			     size_t rows, size_t dim, const float *gamma, const float *beta,
			     float eps)
{
	for (size_t r = 0; r < rows; r++) {
		float *o = out + r * dim;
		const float *yr = y + r * dim, *rr = res + r * dim;
		size_t i = 0;
		for (; i + VL <= dim; i += VL) {
			vf v = vload(yr + i) + vload(rr + i);
			if (bias)
				v += vload(bias + i);
			vstore(o + i, v);
		}
		for (; i < dim; i++)
			o[i] = yr[i] + rr[i] + (bias ? bias[i] : 0.0f);
		ln_row(o, dim, gamma, beta, eps);
	}
}

/* x[j] = exp(x[j] * scale - top) for j < n; returns their sum. */
INLINE float exp_sum(float *x, size_t n, float scale, float top)
{
	size_t i;
	vf acc = vsplat(0.0f);
	for (i = 0; i + VL <= n; i += VL) {
		vf e = vexp(vload(x + i) * scale - top);
		vstore(x + i, e);
		acc += e;
	}
	float sum = hsum(acc);
	if (i < n) {
		float t[VL];
		for (size_t j = 0; j < VL; j++)
			t[j] = -INFINITY;
		memcpy(t, x + i, (n - i) * sizeof(float));
		vf e = vexp(vload(t) * scale - top);
		vstore(t, e);
		memcpy(x + i, t, (n - i) * sizeof(float));
		sum += hsum(e);
	}
	return sum;
}

INLINE void softmax_body(float *x, size_t rows, size_t n, size_t ldx, const unsigned char *keep)
{
	for (size_t r = 0; r < rows; r++) {
		float *row = x + r * ldx;
		size_t i, kept = 0;
		if (keep) {
			for (i = 0; i < n; i++) {
				if (keep[i])
					kept++;
				else
					row[i] = -INFINITY;
			}
			if (kept == 0) {
				for (i = 0; i < n; i++)
					row[i] = 1.0f / (float)n;
				continue;
			}
		}
		vf m = vsplat(-INFINITY);
		for (i = 0; i + VL <= n; i += VL)
			m = vmax(m, vload(row + i));
		float mx = hmax(m);
		for (; i < n; i++)
			mx = row[i] > mx ? row[i] : mx;
		float inv = 1.0f / exp_sum(row, n, 1.0f, mx);
		for (i = 0; i + VL <= n; i += VL)
			vstore(row + i, vload(row + i) * inv);
		for (; i < n; i++)
			row[i] *= inv;
	}
}

INLINE float softmax_block_body(float *x, size_t n, float scale, float *mx, float *corr)
{
	size_t i;
	vf m = vsplat(-INFINITY);
	/* scale > 0, and rounding is monotonic: the maximum of the scaled scores is the
	 * scaled maximum, so x is read once here and scaled inside the exponential. */
	for (i = 0; i + VL <= n; i += VL)
		m = vmax(m, vload(x + i));
	float top = hmax(m), prev = *mx;
	for (; i < n; i++)
		top = x[i] > top ? x[i] : top;
	top *= scale;
	top = top > prev ? top : prev;
	if (top == -INFINITY) {
		/* Every column so far is excluded: nothing to add yet. */
		memset(x, 0, n * sizeof(float));
		*corr = 1.0f;
		return 0.0f;
	}
	float sum = exp_sum(x, n, scale, top);
	/* Once the maximum has settled, most blocks leave it as it is: no expf. */
	*corr = prev == -INFINITY ? 0.0f : prev == top ? 1.0f : expf(prev - top);
	*mx = top;
	return sum;
}

struct kernels {
	const char *name;
	void (*erf)(float *y, const float *x, size_t n);
	void (*exp)(float *y, const float *x, size_t n);
	void (*bias_act)(enum sb_act act, float *x, size_t rows, size_t n, size_t ldx,
			 const float *bias);
	void (*bias_add)(float *y, size_t rows, size_t n, size_t ldy, const float *bias);
	void (*layernorm)(float *out, const float *x, size_t rows, size_t dim,
			  const float *gamma, const float *beta, float eps);
	void (*bias_res_ln)(float *out, const float *y, const float *bias, const float *res,
			    size_t rows, size_t dim, const float *gamma, const float *beta,
			    float eps);
	void (*softmax)(float *x, size_t rows, size_t n, size_t ldx, const unsigned char *keep);
	void (*linear_small)(size_t M, size_t N, size_t K, const float *x, size_t ldx,
			     const float *w, float *y, size_t ldy);
	float (*softmax_block)(float *x, size_t n, float scale, float *mx, float *corr);
};

/*
 * One instantiation of every body for a target; ATTR is its target attribute, EXP and
 * SOFTMAX_BLOCK the exponential and online-softmax block of the set (the portable
 * bodies, or exp512.c's for AVX-512, which leaves those of the body unused).
 */
#define UNUSED __attribute__((unused))
#define KERNELS(SFX, ATTR, EXP, SOFTMAX_BLOCK)					\
static ATTR void erf_##SFX(float *y, const float *x, size_t n)			\
{ erf_body(y, x, n); }								\
static ATTR UNUSED void exp_##SFX(float *y, const float *x, size_t n)		\
{ exp_body(y, x, n); }								\
static ATTR void bias_act_##SFX(enum sb_act act, float *x, size_t rows,		\
				size_t n, size_t ldx, const float *bias)	\
{ bias_act_body(act, x, rows, n, ldx, bias); }					\
static ATTR void bias_add_##SFX(float *y, size_t rows, size_t n, size_t ldy,	\
				const float *bias)				\
{ bias_add_body(y, rows, n, ldy, bias); }					\
static ATTR void layernorm_##SFX(float *out, const float *x, size_t rows,	\
				 size_t dim, const float *gamma,		\
				 const float *beta, float eps)			\
{ layernorm_body(out, x, rows, dim, gamma, beta, eps); }			\
static ATTR void bias_res_ln_##SFX(float *out, const float *y,			\
				   const float *bias, const float *res,		\
				   size_t rows, size_t dim, const float *gamma,	\
				   const float *beta, float eps)		\
{ bias_res_ln_body(out, y, bias, res, rows, dim, gamma, beta, eps); }		\
static ATTR void softmax_##SFX(float *x, size_t rows, size_t n, size_t ldx,	\
			       const unsigned char *keep)			\
{ softmax_body(x, rows, n, ldx, keep); }					\
static ATTR void linear_small_##SFX(size_t M, size_t N, size_t K,		\
				    const float *x, size_t ldx, const float *w,	\
				    float *y, size_t ldy)			\
{ linear_small_body(M, N, K, x, ldx, w, y, ldy); }				\
static ATTR UNUSED float softmax_block_##SFX(float *x, size_t n, float scale,	\
				      float *mx, float *corr)			\
{ return softmax_block_body(x, n, scale, mx, corr); }				\
static const struct kernels kernels_##SFX = {					\
	#SFX, erf_##SFX, EXP, bias_act_##SFX, bias_add_##SFX,			\
	layernorm_##SFX, bias_res_ln_##SFX, softmax_##SFX, linear_small_##SFX,	\
	SOFTMAX_BLOCK								\
};

KERNELS(generic, , exp_generic, softmax_block_generic)

#if defined(__x86_64__) || defined(__i386__)
#define SB_OPS_X86 1
KERNELS(avx2, __attribute__((target("avx2,fma"))), exp_avx2, softmax_block_avx2)
#ifdef __x86_64__
KERNELS(avx512, __attribute__((target("avx512f,avx512dq,avx2,fma"))), sb_exp512,
	sb_exp512_softmax_block)
#else
KERNELS(avx512, __attribute__((target("avx512f,avx512dq,avx2,fma"))), exp_avx512,
	softmax_block_avx512)
#endif
#endif

static const struct kernels *kern;
static pthread_once_t kern_once = PTHREAD_ONCE_INIT;

static int cpu_has(enum sb_ops_isa isa)
{
#ifdef SB_OPS_X86
	__builtin_cpu_init();
	if (isa == SB_OPS_AVX512)
		return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
	if (isa == SB_OPS_AVX2)
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
	return isa == SB_OPS_GENERIC;
}

static const struct kernels *kernels_for(enum sb_ops_isa isa)
{
	switch (isa) {
#ifdef SB_OPS_X86
	case SB_OPS_AVX512: return &kernels_avx512;
	case SB_OPS_AVX2: return &kernels_avx2;
#endif
	default: return &kernels_generic;
	}
}

static void kern_init(void)
{
	if (cpu_has(SB_OPS_AVX512))
		kern = kernels_for(SB_OPS_AVX512);
	else if (cpu_has(SB_OPS_AVX2))
		kern = kernels_for(SB_OPS_AVX2);
	else
		kern = &kernels_generic;
}

static const struct kernels *K(void)
{
	pthread_once(&kern_once, kern_init);
	return kern;
}

int sb_ops_select(enum sb_ops_isa isa, struct sb_error *err)
{
	static const char *names[] = { "auto", "generic", "avx2", "avx512" };

	K();
	if (isa == SB_OPS_AUTO) {
		kern_init();
		return SB_OK;
	}
	if (!cpu_has(isa))
		return sb_error_set(err, SB_EUNSUPPORTED, "kernels '%s': not supported by this cpu",
				    names[isa]);
	kern = kernels_for(isa);
	return SB_OK;
}

int sb_ops_isa_parse(const char *s, enum sb_ops_isa *out, struct sb_error *err)
{
	if (strcmp(s, "auto") == 0)
		*out = SB_OPS_AUTO;
	else if (strcmp(s, "generic") == 0)
		*out = SB_OPS_GENERIC;
	else if (strcmp(s, "avx2") == 0)
		*out = SB_OPS_AVX2;
	else if (strcmp(s, "avx512") == 0)
		*out = SB_OPS_AVX512;
	else
		return sb_error_set(err, SB_EINVAL,
				    "kernels '%s': expected auto, generic, avx2 or avx512", s);
	return SB_OK;
}

static size_t small_m = SB_OPS_SMALL_M_DEFAULT;

void sb_ops_set_small_m(size_t m)
{
	small_m = m;
}

void sb_ops_linear(size_t m, size_t n, size_t k, const float *x, size_t ldx, const float *w,
		   float *y, size_t ldy)
{
	/* Y[m, n] = X[m, k] W[n, k]^T */
	if (m <= small_m && k > 0) {
		K()->linear_small(m, n, k, x, ldx, w, y, ldy);
		return;
	}
	sb_ops_gemm(1, m, n, k, 1.0f, x, ldx, w, k, 0.0f, y, ldy);
}

const char *sb_ops_isa_name(void)
{
	return K()->name;
}

int sb_ops_isa_built(enum sb_ops_isa isa)
{
#ifdef SB_OPS_X86
	return isa == SB_OPS_GENERIC || isa == SB_OPS_AVX2 || isa == SB_OPS_AVX512;
#else
	return isa == SB_OPS_GENERIC;
#endif
}

int sb_ops_isa_supported(enum sb_ops_isa isa)
{
	return sb_ops_isa_built(isa) && cpu_has(isa);
}

void sb_ops_erf(float *y, const float *x, size_t n)
{
	K()->erf(y, x, n);
}

void sb_ops_exp(float *y, const float *x, size_t n)
{
	K()->exp(y, x, n);
}

void sb_ops_bias_act(enum sb_act act, float *x, size_t rows, size_t n, size_t ldx,
		     const float *bias)
{
	K()->bias_act(act, x, rows, n, ldx, bias);
}

void sb_ops_bias_add(float *y, size_t rows, size_t n, size_t ldy, const float *bias)
{
	K()->bias_add(y, rows, n, ldy, bias);
}

void sb_ops_layernorm(float *out, const float *x, size_t rows, size_t dim, const float *gamma,
		      const float *beta, float eps)
{
	K()->layernorm(out, x, rows, dim, gamma, beta, eps);
}

void sb_ops_bias_residual_layernorm(float *out, const float *y, const float *bias,
				    const float *res, size_t rows, size_t dim,
				    const float *gamma, const float *beta, float eps)
{
	K()->bias_res_ln(out, y, bias, res, rows, dim, gamma, beta, eps);
}

float sb_ops_softmax_block(float *x, size_t n, float scale, float *mx, float *corr)
{
	return K()->softmax_block(x, n, scale, mx, corr);
}

void sb_ops_softmax(float *x, size_t rows, size_t n, size_t ldx, const unsigned char *keep)
{
	K()->softmax(x, rows, n, ldx, keep);
}
