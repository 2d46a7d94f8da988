/*
 * check_lowp.c - unit tests for lib/lowp*.c: bfloat16 rounding; the bf16 and int8
 * kernels of every set this CPU runs against references computed here on the same
 * rounded or quantized inputs (exactly, in the accumulation order lowp.h states, and
 * within the float32 bound of a double-precision sum); the quantizers' error bounds;
 * every kernel set bit for bit equal to the generic one (the AMX bf16 kernel: within the
 * float32 bound of the double-precision sum, its order being the hardware's); names,
 * limits and dispatch; attention's bf16 panels packed from activations; bf16 products
 * of split activations (hi + lo) on every set; AMX rows alike in any chunk.  A set the
 * CPU lacks is named on stderr as not tested.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowp.h"
#include "ops.h"

static const enum sb_lowp_isa isas[] = { SB_LOWP_ISA_GENERIC, SB_LOWP_ISA_AVX_VNNI,
					 SB_LOWP_ISA_AVX512_VNNI, SB_LOWP_ISA_AVX512_BF16,
					 SB_LOWP_ISA_AVX512, SB_LOWP_ISA_AMX };
static const char *const isa_names[] = { "generic", "avx_vnni", "avx512_vnni",
					 "avx512_bf16", "avx512", "amx" };
#define N_ISAS (sizeof(isas) / sizeof(isas[0]))

/*
 * m, n, k: single rows, tails of tiles (12, 6 rows; AMX: 16 and 32 rows), of panels (32
 * columns; AMX: 16), odd k, k shorter than one AMX step (32 bf16, 64 int8) and k that
 * ends in a partial step.
 */
static const size_t shapes[][3] = {
	{ 1, 32, 2 }, { 5, 40, 7 }, { 13, 96, 64 }, { 25, 33, 301 }, { 12, 64, 768 },
	{ 7, 70, 3072 }, { 40, 128, 96 }, { 17, 48, 40 }, { 33, 20, 130 }, { 64, 64, 64 },
	{ 16, 16, 32 }
};
#define N_SHAPES (sizeof(shapes) / sizeof(shapes[0]))

static uint64_t rng = 88172645463325252ULL;

static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* [rows, cols] random floats of varied magnitude, row stride ld. */
static float *rand_matrix(size_t rows, size_t cols, size_t ld, float scale)
{
	float *a = malloc(rows * ld * sizeof(float) + 1);

	ck_assert_ptr_nonnull(a);
	for (size_t i = 0; i < rows * ld; i++)
		a[i] = scale * frand() * (i % 7 == 0 ? 4.0f : 1.0f);
	return a;
}

static float bf(float x)
{
	return sb_lowp_bf16_float(sb_lowp_bf16(x));
}

static uint32_t bits(float x)
{
	uint32_t u;

	memcpy(&u, &x, sizeof(u));
	return u;
}

static float from_bits(uint32_t u)
{
	float x;

	memcpy(&x, &u, sizeof(x));
	return x;
}

START_TEST(test_bf16_round)
{
	ck_assert_uint_eq(sb_lowp_bf16(1.0f), 0x3f80);
	ck_assert_uint_eq(sb_lowp_bf16(-2.0f), 0xc000);
	/* Ties go to even; above a tie rounds up. */
	ck_assert_uint_eq(sb_lowp_bf16(from_bits(0x3f808000)), 0x3f80);
	ck_assert_uint_eq(sb_lowp_bf16(from_bits(0x3f818000)), 0x3f82);
	ck_assert_uint_eq(sb_lowp_bf16(from_bits(0x3f808001)), 0x3f81);
	ck_assert_uint_eq(sb_lowp_bf16(from_bits(0x3f807fff)), 0x3f80);
	/* Overflow to infinity, NaN stays NaN, subnormals become signed zeros. */
	ck_assert_uint_eq(sb_lowp_bf16(from_bits(0x7f7fffff)), 0x7f80);
	ck_assert(isnan(bf(NAN)));
	ck_assert_uint_eq(sb_lowp_bf16(from_bits(0x00000001)), 0x0000);
	ck_assert_uint_eq(sb_lowp_bf16(from_bits(0x807fffff)), 0x8000);
	ck_assert_float_eq(sb_lowp_bf16_float(0x4049), 3.140625f);
	for (int i = 0; i < 10000; i++) {
		float x = frand() * 1000.0f, r = bf(x);
		ck_assert(fabsf(x - r) <= fabsf(x) * 0x1p-8f);
		ck_assert_uint_eq(bits(r) & 0xffff, 0);
	}
}
END_TEST

/* Rows of a's buffer: the AMX kernels' are padded to a multiple of 16 (with zeros). */
static size_t act_rows(const struct sb_lowp_act *a)
{
	return a->isa == SB_LOWP_ISA_AMX ? (a->m + 15) / 16 * 16 : a->m;
}

/* Selects set i; 0 when this CPU lacks it (said on stderr, the set is not tested). */
static int use_isa(size_t i)
{
	struct sb_error err;
	int rc = sb_lowp_select(isas[i], &err);

	if (rc) {
		ck_assert_int_eq(rc, SB_EUNSUPPORTED);
		ck_assert(strstr(err.msg, "not supported by this cpu") != NULL);
		fprintf(stderr, "check_lowp: %s kernels NOT TESTED on this cpu: %s\n",
			isa_names[i], err.msg);
		return 0;
	}
	return 1;
}

/*
 * Y[m, n] (stride n + 5, NaN elsewhere) through the kernels of set i, in two column
 * ranges (the first panel, then the rest) to check that c0 / c1 are honoured.
 */
static float *run(const struct sb_lowp_weights *w, const struct sb_lowp_act *a, size_t m,
		  size_t n)
{
	size_t ldy = n + 5;
	float *y = malloc(m * ldy * sizeof(float));

	ck_assert_ptr_nonnull(y);
	for (size_t i = 0; i < m * ldy; i++)
		y[i] = NAN;
	sb_lowp_linear(w, a, 0, n < 32 ? n : 32, y, ldy);
	if (n > 32)
		sb_lowp_linear(w, a, 32, n, y, ldy);
	for (size_t r = 0; r < m; r++)
		for (size_t j = n; j < ldy; j++)
			ck_assert_msg(isnan(y[r * ldy + j]), "column %zu of row %zu written", j, r);
	return y;
}

/* A bf16 case: random weights [n, k] packed, random inputs [m, k + 3]. */
struct bf16_case {
	size_t m, n, k, ldx;
	float *w, *x;
	struct sb_lowp_weights pw;
};

static struct bf16_case make_case(size_t m, size_t n, size_t k)
{
	struct bf16_case t;
	const float *parts[1];
	struct sb_error err;

	memset(&t, 0, sizeof(t));
	t.m = m;
	t.n = n;
	t.k = k;
	t.ldx = t.k + 3;
	t.w = rand_matrix(t.n, t.k, t.k, 0.05f);
	t.x = rand_matrix(t.m, t.ldx, t.ldx, 2.0f);
	parts[0] = t.w;
	ck_assert_int_eq(sb_lowp_pack(&t.pw, SB_LOWP_BF16, parts, &t.n, 1, t.k, &err), SB_OK);
	return t;
}

START_TEST(test_bf16_kernels)
{
	for (size_t s = 0; s < N_SHAPES; s++) {
		struct bf16_case t = make_case(shapes[s][0], shapes[s][1], shapes[s][2]);
		size_t m = t.m, n = t.n, k = t.k, ldx = t.ldx;
		float *w = t.w, *x = t.x;
		struct sb_lowp_weights pw = t.pw;
		struct sb_lowp_act a;
		struct sb_error err;

		memset(&a, 0, sizeof(a));
		ck_assert_int_eq(sb_lowp_act_set(&a, &pw, m, x, ldx, &err), SB_OK);
		ck_assert_uint_eq(sb_lowp_bytes(&pw), (n + 31) / 32 * 32 * ((k + 1) / 2 * 2) * 2);
		for (size_t i = 0; i < N_ISAS; i++) {
			float *y;
			if (!use_isa(i))
				continue;
			/* The activations are laid out for the kernels selected, with the
			 * values sb_lowp_bf16() gives (NaN, subnormals and ties included). */
			x[0] = NAN;
			x[1] = from_bits(0x00000123);
			x[2] = from_bits(0x3f808000);
			x[3] = from_bits(0x7f7fffff);
			ck_assert_int_eq(sb_lowp_act_set(&a, &pw, m, x, ldx, &err), SB_OK);
			ck_assert_uint_eq(a.ld, isas[i] == SB_LOWP_ISA_AMX ? (k + 31) / 32 * 32
					  : a.kp);
			for (size_t r = 0; r < act_rows(&a); r++) {
				for (size_t j = 0; j < a.ld; j++) {
					float v = isas[i] == SB_LOWP_ISA_AVX512
						  ? ((const float *)a.q)[r * a.ld + j]
						  : sb_lowp_bf16_float(((const uint16_t *)a.q)[r * a.ld + j]);
					float want = j < k && r < m ? bf(x[r * ldx + j]) : 0.0f;
					ck_assert(bits(v) == bits(want));
				}
			}
			x[0] = x[1] = x[2] = x[3] = 0.5f;
			ck_assert_int_eq(sb_lowp_act_set(&a, &pw, m, x, ldx, &err), SB_OK);
			y = run(&pw, &a, m, n);
			for (size_t r = 0; r < m; r++) {
				for (size_t c = 0; c < n; c++) {
					const float *xr = x + r * ldx, *wc = w + c * k;
					float acc = 0.0f;
					double ref = 0.0, mag = 0.0;
					for (size_t g = 0; g < (k + 1) / 2; g++) {
						size_t k0 = 2 * g, k1 = 2 * g + 1;
						if (k1 < k)
							acc += bf(xr[k1]) * bf(wc[k1]);
						acc += bf(xr[k0]) * bf(wc[k0]);
					}
					for (size_t j = 0; j < k; j++) {
						double p = (double)bf(xr[j]) * bf(wc[j]);
						ref += p;
						mag += fabs(p);
					}
					ck_assert_msg(isas[i] == SB_LOWP_ISA_AMX ||
						      bits(y[r * (n + 5) + c]) == bits(acc),
						      "%s [%zu,%zu,%zu] y[%zu,%zu] = %a, in order %a",
						      isa_names[i], m, n, k, r, c, y[r * (n + 5) + c],
						      acc);
					ck_assert_msg(fabs(y[r * (n + 5) + c] - ref) <=
						      (double)k * 0x1p-24 * mag + 1e-30,
						      "%s [%zu,%zu,%zu] y[%zu,%zu] = %a, in double %a",
						      isa_names[i], m, n, k, r, c, y[r * (n + 5) + c],
						      ref);
				}
			}
			free(y);
		}
		sb_lowp_act_free(&a);
		sb_lowp_free(&pw);
		free(w);
		free(x);
	}
	sb_lowp_select(SB_LOWP_ISA_AUTO, NULL);
}
END_TEST

/* hi = bf16(x), lo = bf16(x - hi), lo = 0 when hi is not finite (lowp.h). */
static void split_ref(float x, float *hi, float *lo)
{
	*hi = bf(x);
	*lo = isfinite(*hi) ? bf(x - *hi) : 0.0f;
}

/* Value j of row r of the split activations (hi or lo plane) in a's layout. */
static float split_at(const struct sb_lowp_act *a, int lo, size_t r, size_t j)
{
	const void *q = lo ? a->lo : a->q;

	return a->isa == SB_LOWP_ISA_AVX512 ? ((const float *)q)[r * a->ld + j]
		: sb_lowp_bf16_float(((const uint16_t *)q)[r * a->ld + j]);
}

/*
 * bf16 with split activations (sb_lowp_act_set_split): hi and lo as lowp.h defines them
 * (special values included: NaN, subnormals, a value that rounds to infinity), padded
 * with zeros; every set's kernel against the sum in lowp.h's order (each pair of k: the
 * hi pair then the lo pair; bit for bit but on AMX) and against the double-precision
 * sum of the same products within float32 rounding of 2k additions; and the result
 * within 2^-16 of the exact inputs' products with the bf16 weights, where plain bf16
 * inputs are off by up to 2^-9.
 */
START_TEST(test_bf16_split)
{
	for (size_t s = 0; s < N_SHAPES; s++) {
		struct bf16_case t = make_case(shapes[s][0], shapes[s][1], shapes[s][2]);
		size_t m = t.m, n = t.n, k = t.k, ldx = t.ldx;
		float *w = t.w, *x = t.x;
		struct sb_lowp_weights pw = t.pw;
		struct sb_lowp_act a;
		struct sb_error err;

		memset(&a, 0, sizeof(a));
		for (size_t i = 0; i < N_ISAS; i++) {
			float *y;
			if (!use_isa(i))
				continue;
			x[0] = NAN;
			x[1] = from_bits(0x00000123);
			x[2] = from_bits(0x7f7fffff);
			x[3] = 1.0f + 0x1p-10f + 0x1p-20f;
			ck_assert_int_eq(sb_lowp_act_set_split(&a, &pw, m, x, ldx, &err), SB_OK);
			ck_assert_ptr_nonnull(a.lo);
			for (size_t r = 0; r < act_rows(&a); r++) {
				for (size_t j = 0; j < a.ld; j++) {
					float hi = 0.0f, lo = 0.0f;
					if (j < k && r < m)
						split_ref(x[r * ldx + j], &hi, &lo);
					ck_assert_msg(bits(split_at(&a, 0, r, j)) == bits(hi) &&
						      bits(split_at(&a, 1, r, j)) == bits(lo),
						      "%s split x[%zu,%zu] = %a: hi %a lo %a, want "
						      "%a %a", isa_names[i], r, j,
						      j < k && r < m ? x[r * ldx + j] : 0.0f,
						      split_at(&a, 0, r, j), split_at(&a, 1, r, j),
						      hi, lo);
				}
			}
			/* 1 + 2^-10 + 2^-20: hi 1, lo 2^-10 (the 2^-20 is past 16 bits). */
			ck_assert(k <= 3 || (bits(split_at(&a, 0, 0, 3)) == 0x3f800000 &&
					     bits(split_at(&a, 1, 0, 3)) == 0x3a800000));
			x[0] = x[1] = x[2] = x[3] = 0.5f;
			ck_assert_int_eq(sb_lowp_act_set_split(&a, &pw, m, x, ldx, &err), SB_OK);
			y = run(&pw, &a, m, n);
			for (size_t r = 0; r < m; r++) {
				for (size_t c = 0; c < n; c++) {
					const float *xr = x + r * ldx, *wc = w + c * k;
					float acc = 0.0f, got = y[r * (n + 5) + c];
					double ref = 0.0, mag = 0.0, exact = 0.0, emag = 0.0;
					for (size_t g = 0; g < (k + 1) / 2; g++) {
						size_t k0 = 2 * g, k1 = 2 * g + 1;
						float h0, l0, h1 = 0.0f, l1 = 0.0f;
						split_ref(xr[k0], &h0, &l0);
						if (k1 < k)
							split_ref(xr[k1], &h1, &l1);
						if (k1 < k)
							acc += h1 * bf(wc[k1]);
						acc += h0 * bf(wc[k0]);
						if (k1 < k)
							acc += l1 * bf(wc[k1]);
						acc += l0 * bf(wc[k0]);
					}
					for (size_t j = 0; j < k; j++) {
						float hi, lo;
						split_ref(xr[j], &hi, &lo);
						ref += (double)hi * bf(wc[j]) + (double)lo * bf(wc[j]);
						mag += fabs((double)hi * bf(wc[j])) +
						       fabs((double)lo * bf(wc[j]));
						exact += (double)xr[j] * bf(wc[j]);
						emag += fabs((double)xr[j] * bf(wc[j]));
					}
					ck_assert_msg(isas[i] == SB_LOWP_ISA_AMX || bits(got) == bits(acc),
						      "%s split [%zu,%zu,%zu] y[%zu,%zu] = %a, in order "
						      "%a", isa_names[i], m, n, k, r, c, got, acc);
					ck_assert_msg(fabs(got - ref) <= 2.0 * (double)k * 0x1p-24 * mag +
						      1e-30, "%s split [%zu,%zu,%zu] y[%zu,%zu] = %a, in "
						      "double %a", isa_names[i], m, n, k, r, c, got, ref);
					ck_assert_msg(fabs(got - exact) <= 0x1p-16 * emag +
						      2.0 * (double)k * 0x1p-24 * mag + 1e-30,
						      "%s split [%zu,%zu,%zu] y[%zu,%zu] = %a, exact "
						      "inputs %a", isa_names[i], m, n, k, r, c, got,
						      exact);
				}
			}
			free(y);
		}
		sb_lowp_act_free(&a);
		sb_lowp_free(&pw);
		free(w);
		free(x);
	}
	sb_lowp_select(SB_LOWP_ISA_AUTO, NULL);
}
END_TEST

/*
 * AMX: every row's products are the same bit for bit whether the call has all m rows
 * (the kernels go over them in chunks of rows) or only that row's block of 32; plain
 * and split bf16 inputs, with several chunks (lib/lowp_amx.c: 64 rows of split inputs
 * at k = 3072, 128 of plain ones) and a partial last one.
 */
START_TEST(test_amx_rows)
{
	struct bf16_case t = make_case(150, 40, 3072);
	struct sb_lowp_act a;
	struct sb_error err;

	memset(&a, 0, sizeof(a));
	if (use_isa(N_ISAS - 1)) {
		for (int split = 0; split < 2; split++) {
			int (*set)(struct sb_lowp_act *, const struct sb_lowp_weights *, size_t,
				   const float *, size_t, struct sb_error *) =
				split ? sb_lowp_act_set_split : sb_lowp_act_set;
			float *all;
			ck_assert_int_eq(set(&a, &t.pw, t.m, t.x, t.ldx, &err), SB_OK);
			all = run(&t.pw, &a, t.m, t.n);
			for (size_t r0 = 0; r0 < t.m; r0 += 32) {
				size_t nr = t.m - r0 < 32 ? t.m - r0 : 32;
				float *part;
				ck_assert_int_eq(set(&a, &t.pw, nr, t.x + r0 * t.ldx, t.ldx, &err),
						 SB_OK);
				part = run(&t.pw, &a, nr, t.n);
				for (size_t i = 0; i < nr * (t.n + 5); i++)
					ck_assert_msg(isnan(part[i]) ||
						      bits(part[i]) == bits(all[r0 * (t.n + 5) + i]),
						      "amx split %d row %zu column %zu: %a alone, %a "
						      "in all rows", split, r0 + i / (t.n + 5),
						      i % (t.n + 5), part[i],
						      all[r0 * (t.n + 5) + i]);
				free(part);
			}
			free(all);
		}
	}
	sb_lowp_select(SB_LOWP_ISA_AUTO, NULL);
	sb_lowp_act_free(&a);
	sb_lowp_free(&t.pw);
	free(t.w);
	free(t.x);
}
END_TEST

/* qw[c, j] read back from the documented int8 layout. */
static int qw_at(const struct sb_lowp_weights *w, size_t c, size_t j)
{
	const int8_t *d = w->data;

	return d[c / 32 * w->kp * 32 + j / 4 * 128 + c % 32 * 4 + j % 4];
}

START_TEST(test_int8_kernels)
{
	for (size_t s = 0; s < N_SHAPES; s++) {
		size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ldx = k + 3;
		float *w = rand_matrix(n, k, k, 0.05f), *x = rand_matrix(m, ldx, ldx, 2.0f);
		const float *parts[1] = { w };
		struct sb_lowp_weights pw;
		struct sb_lowp_act a, g;
		struct sb_error err;

		/* One row of all zeros (scale 0), one all positive (zero point 0). */
		memset(w, 0, k * sizeof(float));
		for (size_t j = 0; m > 1 && j < k; j++)
			x[ldx + j] = fabsf(x[ldx + j]);
		memset(&a, 0, sizeof(a));
		memset(&g, 0, sizeof(g));
		ck_assert_int_eq(sb_lowp_pack(&pw, SB_LOWP_INT8, parts, &n, 1, k, &err), SB_OK);
		ck_assert_int_eq(sb_lowp_select(SB_LOWP_ISA_GENERIC, &err), SB_OK);
		ck_assert_int_eq(sb_lowp_act_set(&g, &pw, m, x, ldx, &err), SB_OK);
		ck_assert_int_eq(sb_lowp_select(SB_LOWP_ISA_AUTO, &err), SB_OK);
		ck_assert_int_eq(sb_lowp_act_set(&a, &pw, m, x, ldx, &err), SB_OK);
		/* Quantizers: error at most half a step, column sums, zero points. */
		for (size_t c = 0; c < n; c++) {
			int32_t sum = 0;
			float amax = 0.0f;
			for (size_t j = 0; j < k; j++) {
				int q = qw_at(&pw, c, j);
				ck_assert(q >= -127 && q <= 127);
				ck_assert(fabsf(w[c * k + j] - (float)q * pw.scale[c]) <=
					  pw.scale[c] * 0.5001f);
				amax = fmaxf(amax, fabsf(w[c * k + j]));
				sum += q;
			}
			ck_assert_float_eq(pw.scale[c], amax / 127.0f);
			ck_assert_int_eq(pw.colsum[c], sum);
		}
		for (size_t r = 0; r < m; r++) {
			const uint8_t *q = (const uint8_t *)a.q + r * a.ld;
			ck_assert(a.zp[r] >= 0 && a.zp[r] <= 255 && a.scale[r] > 0.0f);
			if (r == 1)
				ck_assert_int_eq(a.zp[r], 0);
			for (size_t j = 0; j < k; j++)
				ck_assert(fabsf(x[r * ldx + j] - (float)(q[j] - a.zp[r]) * a.scale[r])
					  <= a.scale[r] * 0.5001f);
		}
		for (size_t i = 0; i < N_ISAS; i++) {
			float *y;
			if (!use_isa(i))
				continue;
			ck_assert_int_eq(sb_lowp_act_set(&a, &pw, m, x, ldx, &err), SB_OK);
			/* Every set's quantizer gives the generic one's bytes (the AMX
			 * rows padded with zeros to whole steps and 16 rows). */
			ck_assert_uint_eq(a.ld, isas[i] == SB_LOWP_ISA_AMX ? (k + 63) / 64 * 64
					  : a.kp);
			for (size_t r = 0; r < act_rows(&a); r++) {
				const uint8_t *q = (const uint8_t *)a.q + r * a.ld;
				for (size_t j = 0; j < a.ld; j++)
					ck_assert_uint_eq(q[j], r < m && j < a.kp ?
							  ((const uint8_t *)g.q)[r * g.kp + j] : 0);
			}
			ck_assert(memcmp(a.scale, g.scale, m * sizeof(float)) == 0);
			ck_assert(memcmp(a.zp, g.zp, m * sizeof(int32_t)) == 0);
			y = run(&pw, &a, m, n);
			for (size_t r = 0; r < m; r++) {
				const uint8_t *q = (const uint8_t *)a.q + r * a.ld;
				for (size_t c = 0; c < n; c++) {
					int64_t acc = 0;
					for (size_t j = 0; j < k; j++)
						acc += (int64_t)q[j] * qw_at(&pw, c, j);
					int64_t d = acc - (int64_t)a.zp[r] * pw.colsum[c];
					float want = (float)d * (a.scale[r] * pw.scale[c]);
					double ref = (double)d * a.scale[r] * pw.scale[c];
					float got = y[r * (n + 5) + c];
					ck_assert_msg(bits(got) == bits(want), "%s [%zu,%zu,%zu] "
						      "y[%zu,%zu] = %a, want %a", isa_names[i], m,
						      n, k, r, c, got, want);
					ck_assert(fabs(got - ref) <= fabs(ref) * 0x1p-22 + 1e-30);
				}
			}
			free(y);
		}
		sb_lowp_act_free(&a);
		sb_lowp_act_free(&g);
		sb_lowp_free(&pw);
		free(w);
		free(x);
	}
	sb_lowp_select(SB_LOWP_ISA_AUTO, NULL);
}
END_TEST

START_TEST(test_parts_stacked)
{
	/* Three blocks stacked pack as the one matrix they make (Wq | Wk | Wv). */
	size_t k = 20, rows[3] = { 16, 16, 16 }, n = 48;
	float *w = rand_matrix(n, k, k, 1.0f);
	const float *parts[3] = { w, w + 16 * k, w + 32 * k }, *whole[1] = { w };
	struct sb_lowp_weights a, b;
	struct sb_error err;

	for (int p = SB_LOWP_BF16; p <= SB_LOWP_INT8; p++) {
		ck_assert_int_eq(sb_lowp_pack(&a, p, parts, rows, 3, k, &err), SB_OK);
		ck_assert_int_eq(sb_lowp_pack(&b, p, whole, &n, 1, k, &err), SB_OK);
		ck_assert_uint_eq(sb_lowp_bytes(&a), sb_lowp_bytes(&b));
		ck_assert(memcmp(a.data, b.data, a.np * a.kp * (p == SB_LOWP_BF16 ? 2 : 1)) == 0);
		sb_lowp_free(&a);
		sb_lowp_free(&b);
		ck_assert_ptr_null(a.data);
	}
	free(w);
}
END_TEST

START_TEST(test_limits_names)
{
	size_t k = 65537, one = 1;
	float *w = calloc(k, sizeof(float));
	const float *parts[1] = { w };
	struct sb_lowp_weights pw;
	struct sb_error err;
	enum sb_lowp p;
	enum sb_lowp_isa isa;

	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(sb_lowp_pack(&pw, SB_LOWP_INT8, parts, &one, 1, k, &err), SB_ELIMIT);
	ck_assert_str_eq(err.msg, "int8 products of 65537 inputs: at most 65536");
	ck_assert_ptr_null(pw.data);
	ck_assert_int_eq(sb_lowp_pack(&pw, SB_LOWP_INT8, parts, &one, 1, 65536, &err), SB_OK);
	sb_lowp_free(&pw);
	free(w);

	ck_assert_int_eq(sb_lowp_parse("bf16", &p, &err), SB_OK);
	ck_assert_int_eq(p, SB_LOWP_BF16);
	ck_assert_int_eq(sb_lowp_parse("fp16", &p, &err), SB_EINVAL);
	ck_assert_str_eq(err.msg, "precision 'fp16': expected f32, bf16 or int8");
	ck_assert_str_eq(sb_lowp_name(SB_LOWP_INT8), "int8");
	ck_assert_int_eq(sb_lowp_isa_parse("avx512_vnni", &isa, &err), SB_OK);
	ck_assert_int_eq(isa, SB_LOWP_ISA_AVX512_VNNI);
	ck_assert_int_eq(sb_lowp_isa_parse("amx", &isa, &err), SB_OK);
	ck_assert_int_eq(isa, SB_LOWP_ISA_AMX);
	ck_assert_int_eq(sb_lowp_isa_parse("amx512", &isa, &err), SB_EINVAL);
	ck_assert(strstr(err.msg, "product kernels 'amx512'") != NULL);
}
END_TEST

START_TEST(test_dispatch)
{
	/* The generic float32 set takes the generic products; a forced set applies to its
	 * own precision only. */
	ck_assert_int_eq(sb_ops_select(SB_OPS_GENERIC, NULL), SB_OK);
	ck_assert_str_eq(sb_lowp_kernel_name(SB_LOWP_BF16), "generic");
	ck_assert_str_eq(sb_lowp_kernel_name(SB_LOWP_INT8), "generic");
	ck_assert_str_eq(sb_lowp_kernel_name(SB_LOWP_F32), "generic");
	ck_assert_int_eq(sb_ops_select(SB_OPS_AUTO, NULL), SB_OK);
	if (sb_lowp_isa_supported(SB_LOWP_ISA_AVX_VNNI)) {
		ck_assert_int_eq(sb_lowp_select(SB_LOWP_ISA_AVX_VNNI, NULL), SB_OK);
		ck_assert_str_eq(sb_lowp_kernel_name(SB_LOWP_INT8), "avx_vnni");
		ck_assert_str_eq(sb_lowp_kernel_name(SB_LOWP_BF16), "generic");
	}
	ck_assert_int_eq(sb_lowp_select(SB_LOWP_ISA_GENERIC, NULL), SB_OK);
	ck_assert_str_eq(sb_lowp_kernel_name(SB_LOWP_INT8), "generic");
	ck_assert_int_eq(sb_lowp_select(SB_LOWP_ISA_AUTO, NULL), SB_OK);
	if (strcmp(sb_ops_isa_name(), "avx512") == 0) {
		/* bf16: AMX, else vdpbf16ps on AMD's cores (twice the FMA's work there), else
		 * the widening kernel. */
		int amd = 0;
#if defined(__x86_64__) || defined(__i386__)
		__builtin_cpu_init();
		amd = __builtin_cpu_is("amd");
#endif
		const char *want = !sb_lowp_amx_unavailable() ? "amx"
				   : amd && sb_lowp_isa_supported(SB_LOWP_ISA_AVX512_BF16)
				   ? "avx512_bf16" : "avx512";
		ck_assert_str_eq(sb_lowp_kernel_name(SB_LOWP_BF16), want);
		fprintf(stderr, "check_lowp: auto bf16 kernels here: %s\n", want);
	}
	/* amx: both precisions where the cpu and kernel allow it; else refused, saying why. */
	if (sb_lowp_amx_unavailable()) {
		struct sb_error err;
		fprintf(stderr, "check_lowp: AMX NOT TESTED: %s\n", sb_lowp_amx_unavailable());
		ck_assert_int_eq(sb_lowp_select(SB_LOWP_ISA_AMX, &err), SB_EUNSUPPORTED);
		ck_assert(strstr(err.msg, sb_lowp_amx_unavailable()) != NULL);
		ck_assert_int_eq(sb_lowp_isa_supported(SB_LOWP_ISA_AMX), 0);
	} else {
		fprintf(stderr, "check_lowp: AMX tested (amx-tile, amx-bf16, amx-int8)\n");
		ck_assert_int_eq(sb_lowp_select(SB_LOWP_ISA_AMX, NULL), SB_OK);
		ck_assert_str_eq(sb_lowp_kernel_name(SB_LOWP_BF16), "amx");
		ck_assert_str_eq(sb_lowp_kernel_name(SB_LOWP_INT8), "amx");
		ck_assert_int_eq(sb_lowp_select(SB_LOWP_ISA_AUTO, NULL), SB_OK);
	}
	/* Activations set for one set are run by it, whatever is selected after. */
	{
		size_t n = 32, k = 8;
		float *w = rand_matrix(n, k, k, 1.0f), x[8], y1[32], y2[32];
		const float *parts[1] = { w };
		struct sb_lowp_weights pw;
		struct sb_lowp_act a = { 0 };
		struct sb_error err;
		for (size_t j = 0; j < k; j++)
			x[j] = frand();
		ck_assert_int_eq(sb_lowp_pack(&pw, SB_LOWP_BF16, parts, &n, 1, k, &err), SB_OK);
		ck_assert_int_eq(sb_lowp_select(SB_LOWP_ISA_GENERIC, NULL), SB_OK);
		ck_assert_int_eq(sb_lowp_act_set(&a, &pw, 1, x, k, &err), SB_OK);
		sb_lowp_linear(&pw, &a, 0, n, y1, n);
		if (sb_lowp_select(SB_LOWP_ISA_AVX512, NULL) == SB_OK) {
			sb_lowp_linear(&pw, &a, 0, n, y2, n);
			ck_assert(memcmp(y1, y2, sizeof(y1)) == 0);
		}
		sb_lowp_select(SB_LOWP_ISA_AUTO, NULL);
		sb_lowp_act_free(&a);
		sb_lowp_free(&pw);
		free(w);
	}
}
END_TEST

/* [rows, ld] floats rounded to bf16 by sb_lowp_round_bf16(). */
static uint16_t *to_bf16(const float *x, size_t rows, size_t ld)
{
	uint16_t *q = malloc(rows * ld * sizeof(*q) + 1);

	ck_assert_ptr_nonnull(q);
	sb_lowp_round_bf16(x, rows * ld, q);
	for (size_t i = 0; i < rows * ld; i++)
		ck_assert_uint_eq(q[i], sb_lowp_bf16(x[i]));
	return q;
}

/*
 * Attention's panels (sb_lowp_view_rows / _cols, from bf16 values): the bytes
 * sb_lowp_pack() writes for the same matrix of floats (the rows of a strided source, or
 * its columns), special values included, a view reused at a smaller shape zeroed again;
 * sb_lowp_act_set_bf16() the same activations as sb_lowp_act_set() on every set; then
 * P V through the view on every set against the double-precision sum of the same bf16
 * inputs.
 */
START_TEST(test_views)
{
	static const size_t vshapes[][2] = { { 417, 64 }, { 5, 7 }, { 33, 130 }, { 64, 32 },
					     { 1, 1 } };
	struct sb_lowp_view v;
	struct sb_lowp_act a, b;
	struct sb_error err;

	memset(&v, 0, sizeof(v));
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	for (size_t s = 0; s < sizeof(vshapes) / sizeof(vshapes[0]); s++) {
		size_t n = vshapes[s][0], k = vshapes[s][1], ld = k + n + 9;
		size_t rows = n > k ? n : k;
		float *src = rand_matrix(rows, ld, ld, 3.0f);
		float *t = malloc(n * k * sizeof(float) + 1);
		const float *parts[1] = { t };
		struct sb_lowp_weights pw;
		uint16_t *s16;

		ck_assert_ptr_nonnull(t);
		src[0] = NAN;
		src[1] = from_bits(0x00000123);
		src[rows > 1 ? ld : 2] = from_bits(0x3f808000);
		s16 = to_bf16(src, rows, ld);
		/* Rows: W[p, j] = src[p ld + j]. */
		for (size_t p = 0; p < n; p++)
			for (size_t j = 0; j < k; j++)
				t[p * k + j] = src[p * ld + j];
		ck_assert_int_eq(sb_lowp_pack(&pw, SB_LOWP_BF16, parts, &n, 1, k, &err), SB_OK);
		ck_assert_int_eq(sb_lowp_view_rows(&v, n, k, s16, ld, &err), SB_OK);
		ck_assert(v.w.n == n && v.w.k == k && v.w.kp == pw.kp && v.w.np == pw.np);
		ck_assert(memcmp(v.w.data, pw.data, sb_lowp_bytes(&pw)) == 0);
		/* The activations from bf16 rows: those from the floats, on every set. */
		for (size_t i = 0; i < N_ISAS; i++) {
			size_t el;
			if (!use_isa(i))
				continue;
			ck_assert_int_eq(sb_lowp_act_set(&a, &pw, rows, src, ld, &err), SB_OK);
			ck_assert_int_eq(sb_lowp_act_set_bf16(&b, &pw, rows, s16, ld, &err),
					 SB_OK);
			el = isas[i] == SB_LOWP_ISA_AVX512 ? 4 : 2;
			ck_assert(a.isa == b.isa && a.m == b.m && a.ld == b.ld);
			ck_assert(memcmp(a.q, b.q, act_rows(&a) * a.ld * el) == 0);
		}
		sb_lowp_select(SB_LOWP_ISA_AUTO, NULL);
		sb_lowp_free(&pw);
		/* Columns: W[p, j] = src[j ld + p]. */
		for (size_t p = 0; p < n; p++)
			for (size_t j = 0; j < k; j++)
				t[p * k + j] = src[j * ld + p];
		ck_assert_int_eq(sb_lowp_pack(&pw, SB_LOWP_BF16, parts, &n, 1, k, &err), SB_OK);
		ck_assert_int_eq(sb_lowp_view_cols(&v, n, k, s16, ld, &err), SB_OK);
		ck_assert(memcmp(v.w.data, pw.data, sb_lowp_bytes(&pw)) == 0);
		sb_lowp_free(&pw);
		free(s16);
		free(t);
		free(src);
	}
	/* ctx[m, d] = P[m, L] V[L, d] with the values' panels from view_cols. */
	for (size_t s = 0; s < 3; s++) {
		size_t m = s == 0 ? 64 : s == 1 ? 17 : 33, L = s == 0 ? 417 : 40, d = 64;
		size_t ld = 3 * d;
		float *vv = rand_matrix(L, ld, ld, 2.0f), *pm = rand_matrix(m, L, L, 0.01f);
		uint16_t *v16 = to_bf16(vv, L, ld);

		ck_assert_int_eq(sb_lowp_view_cols(&v, d, L, v16, ld, &err), SB_OK);
		for (size_t i = 0; i < N_ISAS; i++) {
			float *y;
			if (!use_isa(i))
				continue;
			ck_assert_int_eq(sb_lowp_act_set(&a, &v.w, m, pm, L, &err), SB_OK);
			y = run(&v.w, &a, m, d);
			for (size_t r = 0; r < m; r++) {
				for (size_t c = 0; c < d; c++) {
					double ref = 0.0, mag = 0.0;
					for (size_t j = 0; j < L; j++) {
						double p = (double)bf(pm[r * L + j]) * bf(vv[j * ld + c]);
						ref += p;
						mag += fabs(p);
					}
					ck_assert_msg(fabs(y[r * (d + 5) + c] - ref) <=
						      (double)L * 0x1p-24 * mag + 1e-30,
						      "%s P V [%zu,%zu,%zu] y[%zu,%zu] = %a, in double %a",
						      isa_names[i], m, d, L, r, c, y[r * (d + 5) + c],
						      ref);
				}
			}
			free(y);
		}
		sb_lowp_select(SB_LOWP_ISA_AUTO, NULL);
		free(v16);
		free(vv);
		free(pm);
	}
	sb_lowp_act_free(&a);
	sb_lowp_act_free(&b);
	sb_lowp_view_free(&v);
}
END_TEST

static Suite *lowp_suite(void)
{
	Suite *s = suite_create("lowp");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_bf16_round);
	tcase_add_test(tc, test_bf16_kernels);
	tcase_add_test(tc, test_bf16_split);
	tcase_add_test(tc, test_amx_rows);
	tcase_add_test(tc, test_int8_kernels);
	tcase_add_test(tc, test_parts_stacked);
	tcase_add_test(tc, test_limits_names);
	tcase_add_test(tc, test_dispatch);
	tcase_add_test(tc, test_views);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lowp_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
