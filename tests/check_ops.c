/*
 * check_ops.c - unit tests for lib/ops.c: every kernel against a double-precision
 * reference, on every kernel set the CPU supports, with lengths that exercise the
 * vector tails; the BLAS wrapper against naive loops; names and errors.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

static const enum sb_ops_isa isas[] = { SB_OPS_GENERIC, SB_OPS_AVX2, SB_OPS_AVX512 };
static const char *const isa_names[] = { "generic", "avx2", "avx512" };
#define N_ISAS (sizeof(isas) / sizeof(isas[0]))

/* Selects kernel set i; returns 0 when this CPU lacks it (the test skips that set). */
static int use_isa(size_t i)
{
	struct sb_error err;
	int rc = sb_ops_select(isas[i], &err);

	if (rc) {
		ck_assert_int_eq(rc, SB_EUNSUPPORTED);
		ck_assert(strstr(err.msg, "not supported by this cpu") != NULL);
		fprintf(stderr, "check_ops: %s kernels NOT TESTED on this cpu: %s\n",
			isa_names[i], err.msg);
		return 0;
	}
	return 1;
}

/* The AVX-512 set for the tests of its packed kernel (the only set that packs). */
static int use_avx512(void)
{
	return use_isa(N_ISAS - 1);
}

static double gelu_ref(double x)
{
	return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

static double gelu_tanh_ref(double x)
{
	return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

START_TEST(test_erf)
{
	size_t n = 200001;
	float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));

	for (size_t k = 0; k < N_ISAS; k++) {
		double worst = 0;
		if (!use_isa(k))
			continue;
		for (size_t i = 0; i < n; i++)
			x[i] = -7.0f + 14.0f * (float)i / (float)(n - 1);
		sb_ops_erf(y, x, n);
		for (size_t i = 0; i < n; i++) {
			double e = fabs(y[i] - erf((double)x[i]));
			worst = e > worst ? e : worst;
		}
		ck_assert_msg(worst <= 1.3e-7, "%s: erf error %g", sb_ops_isa_name(), worst);
		/* Odd symmetry and the limits are exact. */
		float s[4] = { 0.0f, 10.0f, -10.0f, INFINITY }, r[4];
		sb_ops_erf(r, s, 4);
		ck_assert(r[0] == 0.0f && r[1] == 1.0f && r[2] == -1.0f && r[3] == 1.0f);
	}
	sb_ops_select(SB_OPS_AUTO, NULL);
	free(x);
	free(y);
}
END_TEST

START_TEST(test_exp)
{
	size_t n = 100003;
	float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));

	for (size_t k = 0; k < N_ISAS; k++) {
		double worst = 0;
		if (!use_isa(k))
			continue;
		for (size_t i = 0; i < n; i++)
			x[i] = -86.0f + 174.5f * (float)i / (float)(n - 1);
		sb_ops_exp(y, x, n);
		for (size_t i = 0; i < n; i++) {
			double r = exp((double)x[i]);
			double e = fabs(y[i] - r) / r;
			worst = e > worst ? e : worst;
		}
		ck_assert_msg(worst <= 2.4e-7, "%s: exp relative error %g", sb_ops_isa_name(),
			      worst);
		float s[5] = { -INFINITY, -200.0f, 0.0f, 89.0f, 88.5f }, r[5];
		sb_ops_exp(r, s, 5);
		ck_assert(r[0] == 0.0f && r[1] == 0.0f && r[2] == 1.0f && isinf(r[3]));
		ck_assert(isfinite(r[4]) && fabs(r[4] / exp(88.5) - 1.0) < 1e-6);
	}
	sb_ops_select(SB_OPS_AUTO, NULL);
	free(x);
	free(y);
}
END_TEST

/* The float nearest above or below zero from bits b (sign bit included). */
static float from_bits(uint32_t b)
{
	float f;

	memcpy(&f, &b, sizeof(f));
	return f;
}

/* |y - r| in units of the last place of float at r (r > 0, a normal float). */
static double ulps(float y, double r)
{
	return fabs(y - r) / ldexp(1.0, ilogb(r) - 23);
}

START_TEST(test_exp_ulp)
{
	/*
	 * Every 499th float of the range that gives normal results, [-86.5, 88.72],
	 * negative and positive (every exponent, tiny arguments included), in arrays of
	 * 1,000,003 (not a multiple of 16: the tail), against exp in double: at most
	 * 1.5 ulp on every kernel set.  Then the specials: -inf, +inf, overflow.
	 */
	enum { N = 1000003, STEP = 499 };
	const uint32_t lo = 0xc2ad0000u, hi = 0x42b17217u;  /* -86.5, 88.7228 */
	float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));

	ck_assert(from_bits(lo) == -86.5f && from_bits(hi) < 88.7229f);
	for (size_t k = 0; k < N_ISAS; k++) {
		double worst = 0;
		float at = 0;
		if (!use_isa(k))
			continue;
		for (int neg = 0; neg < 2; neg++) {
			uint32_t b = 0, end = neg ? lo & 0x7fffffffu : hi;
			while (b <= end) {
				size_t n = 0;
				for (; n < N && b <= end; n++, b += STEP)
					x[n] = from_bits(b | (neg ? 0x80000000u : 0));
				sb_ops_exp(y, x, n);
				for (size_t i = 0; i < n; i++) {
					double e = ulps(y[i], exp((double)x[i]));
					if (e > worst) {
						worst = e;
						at = x[i];
					}
				}
			}
		}
		ck_assert_msg(worst <= 1.5, "%s: exp error %.3f ulp at %.9g", sb_ops_isa_name(),
			      worst, at);
		float s[6] = { -INFINITY, INFINITY, 88.73f, 1e30f, -1e30f, -0.0f }, r[6];
		sb_ops_exp(r, s, 6);
		ck_assert(r[0] == 0.0f && r[1] == INFINITY && r[2] == INFINITY);
		ck_assert(r[3] == INFINITY && r[4] == 0.0f && r[5] == 1.0f);
	}
	sb_ops_select(SB_OPS_AUTO, NULL);
	free(x);
	free(y);
}
END_TEST

START_TEST(test_activations)
{
	size_t n = 40001;
	float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
	float bias[3] = { 0.5f, -1.0f, 2.0f };

	for (size_t k = 0; k < N_ISAS; k++) {
		double wg = 0, wt = 0;
		if (!use_isa(k))
			continue;
		for (size_t i = 0; i < n; i++)
			x[i] = -12.0f + 24.0f * (float)i / (float)(n - 1);
		memcpy(y, x, n * sizeof(float));
		sb_ops_bias_act(SB_ACT_GELU, y, 1, n, n, NULL);
		for (size_t i = 0; i < n; i++) {
			double e = fabs(y[i] - gelu_ref(x[i]));
			wg = e > wg ? e : wg;
		}
		memcpy(y, x, n * sizeof(float));
		sb_ops_bias_act(SB_ACT_GELU_TANH, y, 1, n, n, NULL);
		for (size_t i = 0; i < n; i++) {
			double e = fabs(y[i] - gelu_tanh_ref(x[i]));
			wt = e > wt ? e : wt;
		}
		/* Absolute error grows with |x| through the final rounding: 1.2 ulp at 12. */
		ck_assert_msg(wg <= 1.2e-6, "%s: gelu error %g", sb_ops_isa_name(), wg);
		ck_assert_msg(wt <= 1.2e-6, "%s: gelu_tanh error %g", sb_ops_isa_name(), wt);

		/* Bias and row stride: [2, 3] inside rows of 5, relu. */
		float m[10] = { -1, 0.25f, -3, 99, 99, 1, 1, -2.5f, 99, 99 };
		sb_ops_bias_act(SB_ACT_RELU, m, 2, 3, 5, bias);
		ck_assert(m[0] == 0.0f && m[1] == 0.0f && m[2] == 0.0f && m[3] == 99);
		ck_assert(m[5] == 1.5f && m[6] == 0.0f && m[7] == 0.0f && m[8] == 99);

		/* Tails: every length up to 40 gives what the long array gave. */
		for (size_t len = 1; len <= 40; len++) {
			float a[40], b[40];
			for (size_t i = 0; i < len; i++)
				a[i] = b[i] = -3.0f + 0.173f * (float)i;
			sb_ops_bias_act(SB_ACT_GELU, a, 1, len, len, NULL);
			for (size_t i = 0; i < len; i++)
				ck_assert(fabs(a[i] - gelu_ref(b[i])) <= 1e-6);
		}
	}
	sb_ops_select(SB_OPS_AUTO, NULL);
	free(x);
	free(y);
}
END_TEST

START_TEST(test_isas_agree)
{
	/* Every kernel set gives the same GELU within 2 ulp of each other. */
	size_t n = 1000;
	float x[1000], ref[1000], y[1000];
	int have_ref = 0;

	for (size_t i = 0; i < n; i++)
		x[i] = -5.0f + 10.0f * (float)i / (float)(n - 1);
	for (size_t k = 0; k < N_ISAS; k++) {
		if (!use_isa(k))
			continue;
		memcpy(y, x, sizeof(x));
		sb_ops_bias_act(SB_ACT_GELU, y, 1, n, n, NULL);
		if (!have_ref) {
			memcpy(ref, y, sizeof(y));
			have_ref = 1;
			continue;
		}
		for (size_t i = 0; i < n; i++)
			ck_assert_msg(fabsf(y[i] - ref[i]) <= 4e-7f, "%s: %g vs %g at %g",
				      sb_ops_isa_name(), y[i], ref[i], x[i]);
	}
	sb_ops_select(SB_OPS_AUTO, NULL);
}
END_TEST

static void ln_ref(double *out, const float *x, size_t dim, const float *g, const float *b,
		   double eps)
{
	double mean = 0, var = 0;

	for (size_t i = 0; i < dim; i++)
		mean += x[i];
	mean /= (double)dim;
	for (size_t i = 0; i < dim; i++)
		var += (x[i] - mean) * (x[i] - mean);
	var /= (double)dim;
	for (size_t i = 0; i < dim; i++)
		out[i] = (x[i] - mean) / sqrt(var + eps) * g[i] + b[i];
}

START_TEST(test_layernorm)
{
	static const size_t dims[] = { 1, 7, 16, 24, 33, 768 };
	unsigned seed = 1;

	for (size_t k = 0; k < N_ISAS; k++) {
		if (!use_isa(k))
			continue;
		for (size_t di = 0; di < sizeof(dims) / sizeof(dims[0]); di++) {
			size_t D = dims[di], rows = 3;
			float *x = malloc(rows * D * sizeof(float)), *y = malloc(rows * D * 4);
			float *out = malloc(rows * D * 4), *g = malloc(D * 4), *b = malloc(D * 4);
			double *ref = malloc(D * sizeof(double));
			/* Values far from 0 on average, so that a one-pass variance would lose. */
			for (size_t i = 0; i < rows * D; i++)
				x[i] = (float)(rand_r(&seed) % 2001 - 1000) / 100.0f + 30.0f;
			for (size_t i = 0; i < D; i++) {
				g[i] = 1.0f + (float)(i % 5) / 10.0f;
				b[i] = (float)(i % 3) / 7.0f;
			}
			sb_ops_layernorm(out, x, rows, D, g, b, 1e-12f);
			for (size_t r = 0; r < rows; r++) {
				ln_ref(ref, x + r * D, D, g, b, 1e-12);
				for (size_t i = 0; i < D; i++)
					ck_assert_msg(fabs(out[r * D + i] - ref[i]) < 2e-5,
						      "%s D=%zu: %g vs %g", sb_ops_isa_name(), D,
						      out[r * D + i], ref[i]);
			}
			/* In place gives the same bits. */
			memcpy(y, x, rows * D * 4);
			sb_ops_layernorm(y, y, rows, D, g, b, 1e-12f);
			ck_assert(memcmp(y, out, rows * D * 4) == 0);
			free(x);
			free(y);
			free(out);
			free(g);
			free(b);
			free(ref);
		}
	}
	sb_ops_select(SB_OPS_AUTO, NULL);
}
END_TEST

START_TEST(test_bias_residual_layernorm)
{
	size_t D = 37, rows = 4;
	float y[4 * 37], res[4 * 37], bias[37], g[37], b[37], sum[37], out[4 * 37];
	double ref[37];

	for (size_t k = 0; k < N_ISAS; k++) {
		if (!use_isa(k))
			continue;
		for (size_t i = 0; i < rows * D; i++) {
			y[i] = sinf((float)i) * 4.0f;
			res[i] = cosf((float)i * 0.7f) * 2.0f + 1.0f;
		}
		for (size_t i = 0; i < D; i++) {
			bias[i] = 0.01f * (float)i;
			g[i] = 0.5f + 0.02f * (float)i;
			b[i] = -0.1f * (float)(i % 4);
		}
		sb_ops_bias_residual_layernorm(out, y, bias, res, rows, D, g, b, 1e-12f);
		for (size_t r = 0; r < rows; r++) {
			for (size_t i = 0; i < D; i++)
				sum[i] = y[r * D + i] + bias[i] + res[r * D + i];
			ln_ref(ref, sum, D, g, b, 1e-12);
			for (size_t i = 0; i < D; i++)
				ck_assert(fabs(out[r * D + i] - ref[i]) < 1e-5);
		}
		/* Over the residual (the model's use) and with no bias. */
		sb_ops_bias_residual_layernorm(res, y, bias, res, rows, D, g, b, 1e-12f);
		ck_assert(memcmp(res, out, sizeof(out)) == 0);
		for (size_t i = 0; i < rows * D; i++)
			res[i] = cosf((float)i * 0.7f) * 2.0f + 1.0f;
		sb_ops_bias_residual_layernorm(out, y, NULL, res, rows, D, g, b, 1e-12f);
		for (size_t i = 0; i < D; i++)
			sum[i] = y[i] + res[i];
		ln_ref(ref, sum, D, g, b, 1e-12);
		for (size_t i = 0; i < D; i++)
			ck_assert(fabs(out[i] - ref[i]) < 1e-5);
	}
	sb_ops_select(SB_OPS_AUTO, NULL);
}
END_TEST

START_TEST(test_softmax)
{
	static const size_t lens[] = { 1, 2, 15, 16, 17, 100 };

	for (size_t k = 0; k < N_ISAS; k++) {
		if (!use_isa(k))
			continue;
		for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
			size_t n = lens[li], ld = n + 3;
			float x[2 * 103];
			double ref[100], mx = -INFINITY, sum = 0;
			for (size_t i = 0; i < 2 * ld; i++)
				x[i] = 50.0f * sinf((float)i * 1.3f);
			for (size_t i = 0; i < n; i++)
				mx = x[i] > mx ? x[i] : mx;
			for (size_t i = 0; i < n; i++)
				sum += ref[i] = exp(x[i] - mx);
			float pad = x[n];
			sb_ops_softmax(x, 2, n, ld, NULL);
			ck_assert(x[n] == pad);         /* the stride gap is untouched */
			for (size_t i = 0; i < n; i++)
				ck_assert_msg(fabs(x[i] - ref[i] / sum) < 1e-6, "n=%zu i=%zu", n,
					      i);
			double s1 = 0;
			for (size_t i = 0; i < n; i++)
				s1 += x[ld + i];
			ck_assert(fabs(s1 - 1.0) < 1e-5);
		}
		/* Masked columns get 0; all masked gives a uniform row, as in PyTorch. */
		float m[5] = { 1, 2, 3, 4, 5 };
		unsigned char keep[5] = { 1, 0, 1, 0, 0 };
		sb_ops_softmax(m, 1, 5, 5, keep);
		ck_assert(m[1] == 0.0f && m[3] == 0.0f && m[4] == 0.0f);
		ck_assert(fabs(m[0] - 1.0 / (1.0 + exp(2.0))) < 1e-6);
		float u[4] = { 1, 2, 3, 4 };
		unsigned char none[4] = { 0 };
		sb_ops_softmax(u, 1, 4, 4, none);
		ck_assert(u[0] == 0.25f && u[3] == 0.25f);
	}
	sb_ops_select(SB_OPS_AUTO, NULL);
}
END_TEST

START_TEST(test_gemm)
{
	/* Y[5, 3] (stride 4) = X[5, 7] (stride 9) W[3, 7]^T against a naive loop. */
	float x[5 * 9], w[3 * 7], y[5 * 4], c[4 * 3], a[4 * 2], bt[2 * 3];

	for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++)
		x[i] = (float)((int)(i * 7 % 11) - 5);
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		w[i] = (float)((int)(i * 5 % 13) - 6) / 4.0f;
	for (size_t i = 0; i < 20; i++)
		y[i] = -123.0f;
	sb_ops_set_small_m(0);
	sb_ops_linear(5, 3, 7, x, 9, w, y, 4);
	sb_ops_set_small_m(SB_OPS_SMALL_M_DEFAULT);
	for (size_t r = 0; r < 5; r++) {
		for (size_t o = 0; o < 3; o++) {
			double s = 0;
			for (size_t i = 0; i < 7; i++)
				s += (double)x[r * 9 + i] * w[o * 7 + i];
			ck_assert(fabs(y[r * 4 + o] - s) < 1e-4);
		}
		ck_assert(y[r * 4 + 3] == -123.0f);
	}
	/* C = 0.5 A[4, 2] B[2, 3] + 2 C */
	for (size_t i = 0; i < 8; i++)
		a[i] = (float)i;
	for (size_t i = 0; i < 6; i++)
		bt[i] = (float)i - 2.0f;
	for (size_t i = 0; i < 12; i++)
		c[i] = 1.0f;
	sb_ops_gemm(0, 4, 3, 2, 0.5f, a, 2, bt, 3, 2.0f, c, 3);
	for (size_t r = 0; r < 4; r++)
		for (size_t j = 0; j < 3; j++) {
			double s = 2.0;
			for (size_t i = 0; i < 2; i++)
				s += 0.5 * a[r * 2 + i] * bt[i * 3 + j];
			ck_assert(fabs(c[r * 3 + j] - s) < 1e-5);
		}
	/* k == 0 with beta 0 zeroes C; m == 0 does nothing. */
	sb_ops_gemm(1, 4, 3, 0, 1.0f, a, 1, bt, 1, 0.0f, c, 3);
	for (size_t i = 0; i < 12; i++)
		ck_assert(c[i] == 0.0f);
	sb_ops_gemm(1, 0, 3, 2, 1.0f, NULL, 2, bt, 2, 0.0f, NULL, 3);
}
END_TEST

START_TEST(test_linear_small)
{
	/* The small-m kernel against cblas_sgemm, on every set, with edge blocks in m and
	 * n and a k tail: m 1..9, n 1..11, k 1..40. */
	static const size_t ks[] = { 1, 15, 16, 17, 40 };
	float x[9 * 41], w[11 * 40], y1[9 * 12], y2[9 * 12];

	for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++)
		x[i] = sinf((float)i * 0.37f);
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		w[i] = cosf((float)i * 0.11f);
	for (size_t k = 0; k < N_ISAS; k++) {
		if (!use_isa(k))
			continue;
		for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++)
			for (size_t m = 1; m <= 9; m++)
				for (size_t n = 1; n <= 11; n++) {
					size_t K = ks[ki];
					sb_ops_set_small_m(0);
					sb_ops_linear(m, n, K, x, 41, w, y1, 12);
					sb_ops_set_small_m(16);
					for (size_t i = 0; i < 9 * 12; i++)
						y2[i] = 7.0f;
					sb_ops_linear(m, n, K, x, 41, w, y2, 12);
					for (size_t r = 0; r < m; r++) {
						for (size_t j = 0; j < n; j++)
							ck_assert(fabsf(y1[r * 12 + j] -
									y2[r * 12 + j]) < 1e-5f);
						for (size_t j = n; j < 12; j++)
							ck_assert(y2[r * 12 + j] == 7.0f);
					}
				}
	}
	sb_ops_set_small_m(SB_OPS_SMALL_M_DEFAULT);
	sb_ops_select(SB_OPS_AUTO, NULL);
}
END_TEST

START_TEST(test_packed)
{
	/*
	 * Packed weights against a double reference: m 1..40 (full tiles of 12 and every
	 * tail), k with and without vector-size multiples, n from stacked parts, column
	 * ranges, and the same bits whatever the rows or columns asked for.
	 */
	static const size_t ks[] = { 1, 5, 16, 33, 100 };
	static const size_t parts96[] = { 13, 19, 64 };
	enum { MM = 40, NN = 96, KK = 100 };
	float *x = malloc(MM * KK * sizeof(float)), *w = malloc(NN * KK * sizeof(float));
	float *y = malloc(MM * NN * sizeof(float)), *y2 = malloc(MM * NN * sizeof(float));
	struct sb_ops_packed pw;
	struct sb_error err;

	for (size_t i = 0; i < MM * KK; i++)
		x[i] = sinf((float)i * 0.37f);
	for (size_t i = 0; i < NN * KK; i++)
		w[i] = cosf((float)i * 0.11f);
	for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
		size_t K = ks[ki];
		const float *parts[3] = { w, w + 13 * K, w + 32 * K };
		ck_assert_int_eq(sb_ops_select(SB_OPS_GENERIC, &err), SB_OK);
		ck_assert_int_eq(sb_ops_pack(&pw, parts, parts96, 3, K, &err), SB_OK);
		ck_assert_ptr_null(pw.data);            /* generic kernels: no packing */
		if (!use_avx512())
			continue;
		{
			size_t odd = 33;
			ck_assert_int_eq(sb_ops_pack(&pw, parts, &odd, 1, K, &err), SB_OK);
			ck_assert_ptr_null(pw.data);    /* 33 columns: not a panel multiple */
		}
		ck_assert_int_eq(sb_ops_pack(&pw, parts, parts96, 3, K, &err), SB_OK);
		ck_assert_ptr_nonnull(pw.data);
		ck_assert_uint_eq(pw.n, NN);
		ck_assert_uint_eq(pw.k, K);
		for (size_t m = 1; m <= MM; m++) {
			for (size_t i = 0; i < MM * NN; i++)
				y[i] = 7.0f;
			sb_ops_linear_packed(m, &pw, 0, NN, x, KK, y, NN);
			for (size_t r = 0; r < MM; r++)
				for (size_t j = 0; j < NN; j++) {
					double ref = 0;
					if (r >= m) {
						ck_assert(y[r * NN + j] == 7.0f);
						continue;
					}
					for (size_t t = 0; t < K; t++)
						ref += (double)x[r * KK + t] * w[j * K + t];
					ck_assert_msg(fabs(y[r * NN + j] - ref) < 1e-5 * (double)K,
						      "m %zu k %zu [%zu, %zu]: %g vs %g", m, K, r, j,
						      y[r * NN + j], ref);
				}
		}
		/* Columns 32..95 of rows 12..39 alone: the same bits, nothing else written. */
		sb_ops_linear_packed(MM, &pw, 0, NN, x, KK, y, NN);
		for (size_t i = 0; i < MM * NN; i++)
			y2[i] = 7.0f;
		sb_ops_linear_packed(MM - 12, &pw, 32, NN, x + 12 * KK, KK, y2 + 12 * NN, NN);
		for (size_t r = 0; r < MM; r++)
			for (size_t j = 0; j < NN; j++) {
				if (r < 12 || j < 32)
					ck_assert(y2[r * NN + j] == 7.0f);
				else
					ck_assert(memcmp(&y[r * NN + j], &y2[r * NN + j], 4) == 0);
			}
		sb_ops_packed_free(&pw);
		ck_assert_ptr_null(pw.data);
	}
	sb_ops_select(SB_OPS_AUTO, NULL);
	free(x);
	free(w);
	free(y);
	free(y2);
}
END_TEST

START_TEST(test_packed_blocks)
{
	/*
	 * Rows past one block of the kernel (240): 501 rows (two whole blocks, then 21
	 * rows ending in a 9-row tail) against a double reference, the rows after the
	 * last untouched, and the same bits as rows 0..249 and 250..500 asked for apart.
	 */
	enum { M = 501, N = 64, KK = 37 };
	float *x = malloc((M + 1) * KK * sizeof(float)), *w = malloc(N * KK * sizeof(float));
	float *y = malloc((M + 1) * N * sizeof(float)), *y2 = malloc((M + 1) * N * sizeof(float));
	size_t n = N;
	const float *parts[1] = { w };
	struct sb_ops_packed pw;
	struct sb_error err;

	if (!use_avx512())
		goto out;
	for (size_t i = 0; i < (M + 1) * KK; i++)
		x[i] = sinf((float)i * 0.37f);
	for (size_t i = 0; i < N * KK; i++)
		w[i] = cosf((float)i * 0.11f);
	ck_assert_int_eq(sb_ops_pack(&pw, parts, &n, 1, KK, &err), SB_OK);
	ck_assert_ptr_nonnull(pw.data);
	for (size_t i = 0; i < (M + 1) * N; i++)
		y[i] = y2[i] = 7.0f;
	sb_ops_linear_packed(M, &pw, 0, N, x, KK, y, N);
	sb_ops_linear_packed(250, &pw, 0, N, x, KK, y2, N);
	sb_ops_linear_packed(M - 250, &pw, 0, N, x + 250 * KK, KK, y2 + 250 * N, N);
	for (size_t r = 0; r < M; r++)
		for (size_t j = 0; j < N; j++) {
			double ref = 0;
			for (size_t t = 0; t < KK; t++)
				ref += (double)x[r * KK + t] * w[j * KK + t];
			ck_assert_msg(fabs(y[r * N + j] - ref) < 1e-5 * KK, "[%zu, %zu]: %g vs %g",
				      r, j, y[r * N + j], ref);
			ck_assert(memcmp(&y[r * N + j], &y2[r * N + j], 4) == 0);
		}
	for (size_t j = 0; j < N; j++)
		ck_assert(y[M * N + j] == 7.0f && y2[M * N + j] == 7.0f);
	sb_ops_packed_free(&pw);
out:
	sb_ops_select(SB_OPS_AUTO, NULL);
	free(x);
	free(w);
	free(y);
	free(y2);
}
END_TEST

START_TEST(test_panels)
{
	/*
	 * Products of activations: op(B) packed on the fly (both layouts), a depth offset
	 * into the panels, Y = and Y +=, m over tile tails, n over part panels, against a
	 * double reference; nothing outside Y[m, n] written; rows computed alone give the
	 * same bits.
	 */
	static const size_t ms[] = { 1, 5, 12, 13, 30 }, ns[] = { 1, 8, 31, 32, 33, 70 };
	static const size_t ks[] = { 1, 7, 64, 100 };
	enum { MM = 30, NN = 70, KK = 100, K0 = 3, LDY = 75 };
	float *x = malloc(MM * KK * sizeof(float)), *b = malloc((KK + K0) * NN * sizeof(float));
	float *y = malloc(MM * LDY * sizeof(float)), *y2 = malloc(MM * LDY * sizeof(float));
	float *p = aligned_alloc(64, (NN + 32) / 32 * 32 * (KK + K0) * sizeof(float) + 64);
	struct sb_error err;

	for (size_t i = 0; i < MM * KK; i++)
		x[i] = sinf((float)i * 0.37f);
	for (size_t i = 0; i < (KK + K0) * NN; i++)
		b[i] = cosf((float)i * 0.11f);
	ck_assert_int_eq(sb_ops_select(SB_OPS_GENERIC, &err), SB_OK);
	ck_assert_int_eq(sb_ops_panels_ok(), 0);
	if (!use_avx512()) {
		sb_ops_select(SB_OPS_AUTO, NULL);
		free(x), free(b), free(y), free(y2), free(p);
		return;
	}
	ck_assert_int_eq(sb_ops_panels_ok(), 1);
	ck_assert_uint_eq(sb_ops_panels_size(33, 5), 64 * 5);
	for (int trans = 0; trans < 2; trans++)
		for (size_t ni = 0; ni < sizeof(ns) / sizeof(ns[0]); ni++)
			for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++)
				for (size_t mi = 0; mi < sizeof(ms) / sizeof(ms[0]); mi++)
					for (int add = 0; add < 2; add++) {
	size_t n = ns[ni], k = ks[ki], m = ms[mi], kp = k + K0;
	/* op(B)[t, j]: B [n, kp] (trans) or [kp, n], row stride ldb. */
	size_t ldb = trans ? kp : n;
	sb_ops_panels_pack(p, trans, n, kp, b, ldb);
	for (size_t i = 0; i < MM * LDY; i++)
		y[i] = (float)i * 0.001f;
	sb_ops_panels_gemm(m, n, k, x, KK, p + 32 * K0, kp, add, y, LDY);
	for (size_t r = 0; r < MM; r++)
		for (size_t j = 0; j < LDY; j++) {
			float y0 = (float)(r * LDY + j) * 0.001f;
			double ref = add ? y0 : 0.0;
			if (r >= m || j >= n) {
				ck_assert(y[r * LDY + j] == y0);
				continue;
			}
			for (size_t t = 0; t < k; t++)
				ref += (double)x[r * KK + t] *
				       b[trans ? j * ldb + K0 + t : (K0 + t) * ldb + j];
			ck_assert_msg(fabs(y[r * LDY + j] - ref) < 1e-5 * (double)(k + 1),
				      "trans %d add %d m %zu n %zu k %zu [%zu, %zu]: %g vs %g",
				      trans, add, m, n, k, r, j, y[r * LDY + j], ref);
		}
	if (m > 4) {
		/* Rows 4.. alone: the same bits. */
		for (size_t i = 0; i < MM * LDY; i++)
			y2[i] = (float)i * 0.001f;
		sb_ops_panels_gemm(m - 4, n, k, x + 4 * KK, KK, p + 32 * K0, kp, add,
				   y2 + 4 * LDY, LDY);
		for (size_t r = 4; r < m; r++)
			ck_assert(memcmp(y + r * LDY, y2 + r * LDY, n * sizeof(float)) == 0);
	}
					}
	sb_ops_select(SB_OPS_AUTO, NULL);
	free(x);
	free(b);
	free(y);
	free(y2);
	free(p);
}
END_TEST

START_TEST(test_softmax_block)
{
	/*
	 * A row of 100 scores (some excluded) in blocks of 7, 16, 33 and 44 columns, the
	 * first block all excluded: the running maximum, sums and a value weighted by the
	 * probabilities against a double softmax, on every kernel set.
	 */
	static const size_t blocks[] = { 7, 16, 33, 44 };
	enum { N = 100 };
	float s[N], x[N];
	double ref_num = 0, ref_den = 0, top = -INFINITY;

	for (size_t j = 0; j < N; j++)
		s[j] = (j < 7 || j % 9 == 4) ? -INFINITY : 40.0f * sinf((float)j * 1.7f);
	for (size_t j = 0; j < N; j++)
		top = s[j] * 0.125 > top ? s[j] * 0.125 : top;
	for (size_t j = 0; j < N; j++)
		if (s[j] != -INFINITY) {
			double e = exp((double)s[j] * 0.125 - top);
			ref_den += e;
			ref_num += e * cos((double)j);
		}
	for (size_t k = 0; k < N_ISAS; k++) {
		if (!use_isa(k))
			continue;
		float mx = -INFINITY, sum = 0.0f, acc = 0.0f, corr;
		size_t j0 = 0;
		memcpy(x, s, sizeof(x));
		for (size_t bi = 0; bi < sizeof(blocks) / sizeof(blocks[0]); bi++) {
			size_t nb = blocks[bi];
			float t = sb_ops_softmax_block(x + j0, nb, 0.125f, &mx, &corr);
			if (bi == 0) {
				/* All excluded: zeros, nothing to correct, no maximum yet. */
				ck_assert(t == 0.0f && corr == 1.0f && mx == -INFINITY);
				for (size_t j = 0; j < nb; j++)
					ck_assert(x[j] == 0.0f);
			} else if (bi == 1) {
				ck_assert(corr == 0.0f);        /* the first block with a maximum */
			}
			acc *= corr;
			sum = sum * corr + t;
			for (size_t j = 0; j < nb; j++) {
				if (s[j0 + j] == -INFINITY)
					ck_assert(x[j0 + j] == 0.0f);
				acc += x[j0 + j] * cosf((float)(j0 + j));
			}
			j0 += nb;
		}
		ck_assert_msg(fabs(mx - top) < 1e-6, "maximum %g vs %g", mx, top);
		ck_assert_msg(fabs(acc / sum - ref_num / ref_den) < 1e-5, "%s: %g vs %g",
			      sb_ops_isa_name(), acc / sum, ref_num / ref_den);
	}
	sb_ops_select(SB_OPS_AUTO, NULL);
}
END_TEST

START_TEST(test_names)
{
	struct sb_error err;
	enum sb_act act;
	enum sb_ops_isa isa;

	ck_assert_int_eq(sb_act_parse("gelu", &act, &err), SB_OK);
	ck_assert_int_eq(act, SB_ACT_GELU);
	ck_assert_int_eq(sb_act_parse("gelu_new", &act, &err), SB_OK);
	ck_assert_int_eq(act, SB_ACT_GELU_TANH);
	ck_assert_int_eq(sb_act_parse("gelu_pytorch_tanh", &act, &err), SB_OK);
	ck_assert_int_eq(act, SB_ACT_GELU_TANH);
	ck_assert_int_eq(sb_act_parse("relu", &act, &err), SB_OK);
	ck_assert_int_eq(act, SB_ACT_RELU);
	ck_assert_int_eq(sb_act_parse("silu", &act, &err), SB_EUNSUPPORTED);
	ck_assert(strstr(err.msg, "activation 'silu' is not supported") != NULL);
	ck_assert_str_eq(sb_act_name(SB_ACT_GELU_TANH), "gelu_tanh");

	ck_assert_int_eq(sb_ops_isa_parse("avx2", &isa, &err), SB_OK);
	ck_assert_int_eq(isa, SB_OPS_AVX2);
	ck_assert_int_eq(sb_ops_isa_parse("neon", &isa, &err), SB_EINVAL);
	ck_assert(strstr(err.msg, "'neon'") != NULL);
	ck_assert_int_eq(sb_ops_select(SB_OPS_AUTO, &err), SB_OK);
	ck_assert(strlen(sb_ops_isa_name()) > 0);
	ck_assert(strlen(sb_ops_blas_core()) > 0);
	sb_ops_set_threads(1);
	ck_assert_int_eq(sb_ops_threads(), 1);
}
END_TEST

static Suite *ops_suite(void)
{
	Suite *s = suite_create("ops");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_erf);
	tcase_add_test(tc, test_exp);
	tcase_add_test(tc, test_exp_ulp);
	tcase_add_test(tc, test_activations);
	tcase_add_test(tc, test_isas_agree);
	tcase_add_test(tc, test_layernorm);
	tcase_add_test(tc, test_bias_residual_layernorm);
	tcase_add_test(tc, test_softmax);
	tcase_add_test(tc, test_gemm);
	tcase_add_test(tc, test_linear_small);
	tcase_add_test(tc, test_packed);
	tcase_add_test(tc, test_packed_blocks);
	tcase_add_test(tc, test_panels);
	tcase_add_test(tc, test_softmax_block);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ops_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
