/*
 * check_search.c - the blocked search against pushing every exact score into an sb_topk:
 * the same items in the same order, for each metric and kernel set, with near ties, rows
 * offered in pieces, indices that jump, self exclusion, huge norms, and the errors.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "scores.h"
#include "search.h"
#include "similarity.h"

#define DIM 37
#define NC 301
#define NQ 45
#define K 7

static uint32_t state = 12345;

/* Multiples of 2^-10 in [-1, 1): exact in float, products exact in double. */
static float rnd(void)
{
	state = state * 1664525u + 1013904223u;
	return (float)((int)(state >> 21) - 1024) / 1024.0f;
}

/* Rows in groups of 4: fresh, a copy, a 2^-22 nudge of one component, a zero vector. */
static void fill(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < DIM; j++) {
			size_t g = i % 4;
			float *v = x + i * DIM + j;
			if (g == 0 || i < 4)
				*v = rnd();
			else if (g == 3 && i % 8 == 7)
				*v = 0;
			else
				*v = x[(i - g) * DIM + j] + (g == 2 && j == i % DIM ? 0x1p-22f : 0);
		}
}

static uint64_t zero_rows(const float *c, size_t n)
{
	uint64_t z = 0;

	for (size_t i = 0; i < n; i++)
		z += sb_sim_norm(c + i * DIM, DIM) <= SB_SIM_EPS;
	return z;
}

/* The reference: every pair scored by sb_sim_score() and pushed. */
static void reference(enum sb_metric m, const float *q, size_t nq, const float *c, size_t nc,
		      struct sb_topk *want, const uint64_t *self)
{
	for (size_t i = 0; i < nq; i++) {
		double qn = sb_sim_norm(q + i * DIM, DIM);
		sb_topk_clear(&want[i]);
		for (size_t j = 0; j < nc; j++)
			if (!self || self[i] != j)
				sb_topk_push(&want[i],
					     sb_sim_score(m, q + i * DIM, c + j * DIM, DIM, qn,
							  sb_sim_norm(c + j * DIM, DIM)),
					     j);
		sb_topk_sort(&want[i]);
	}
}

static void same(const struct sb_topk *got, const struct sb_topk *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(got[i].n, want[i].n);
		for (size_t k = 0; k < got[i].n; k++) {
			ck_assert_msg(
			    got[i].items[k].index == want[i].items[k].index &&
				got[i].items[k].score == want[i].items[k].score,
			    "query %zu item %zu: %llu %.17g, expected %llu %.17g", i, k,
			    (unsigned long long)got[i].items[k].index, got[i].items[k].score,
			    (unsigned long long)want[i].items[k].index, want[i].items[k].score);
		}
	}
}

static void run(enum sb_metric m, size_t block, int threads, size_t piece, int self_search)
{
	static float q[NQ * DIM], c[NC * DIM];
	struct sb_topk got[NQ], want[NQ];
	uint64_t self[NQ];
	struct sb_search_opts o = {m, DIM, NQ, block, threads};
	struct sb_search *s;
	struct sb_error err;
	const float *qq = self_search ? c : q;

	fill(c, NC);
	fill(q, NQ);
	for (size_t i = 0; i < NQ; i++) {
		ck_assert_int_eq(sb_topk_init(&got[i], K, &err), SB_OK);
		ck_assert_int_eq(sb_topk_init(&want[i], K, &err), SB_OK);
		self[i] = i;
	}
	reference(m, qq, NQ, c, NC, want, self_search ? self : NULL);
	ck_assert_int_eq(sb_search_open(&s, &o, &err), SB_OK);
	for (int pass = 0; pass < 2; pass++) { /* a second pass reuses the state */
		for (size_t i = 0; i < NQ; i++)
			sb_topk_clear(&got[i]);
		sb_search_begin(s, qq, NQ, got, self_search ? self : NULL);
		for (size_t j = 0; j < NC; j += piece)
			sb_search_add(s, c + j * DIM, NC - j < piece ? NC - j : piece, j);
		sb_search_end(s);
		for (size_t i = 0; i < NQ; i++)
			sb_topk_sort(&got[i]);
		same(got, want, NQ);
	}
	ck_assert_uint_gt(sb_search_rescored(s), 0);
	ck_assert_uint_lt(sb_search_rescored(s), 2 * (uint64_t)NQ * NC);
	ck_assert_uint_eq(sb_search_zero_rows(s), 2 * zero_rows(c, NC));
	sb_search_close(&s);
	ck_assert_ptr_null(s);
	for (size_t i = 0; i < NQ; i++) {
		sb_topk_destroy(&got[i]);
		sb_topk_destroy(&want[i]);
	}
}

static const enum sb_metric metrics[] = {SB_METRIC_COSINE, SB_METRIC_DOT, SB_METRIC_EUCLIDEAN};

START_TEST(test_equals_reference)
{
	enum sb_metric m = metrics[_i % 3];
	struct sb_error err;

	/* _i / 3: the kernel set, so the packed kernel and cblas_sgemm both run */
	if (_i / 3 == 0)
		ck_assert_int_eq(sb_ops_select(SB_OPS_AUTO, &err), SB_OK);
	else
		ck_assert_int_eq(sb_ops_select(SB_OPS_GENERIC, &err), SB_OK);
	run(m, 64, 1, 1000, 0); /* whole corpus at once: in-place blocks and a tail */
	run(m, 7, 3, 5, 0);	/* pieces smaller than a block */
	run(m, 1000, 2, 13, 1); /* one partial block, self excluded */
	run(m, 1, 2, 3, 1);	/* blocks of one row */
}
END_TEST

/* Rows offered with a gap in their indices: the held rows are scored before the gap. */
START_TEST(test_index_gap)
{
	static float c[8 * DIM];
	struct sb_search_opts o = {SB_METRIC_DOT, DIM, 1, 16, 1};
	struct sb_search *s;
	struct sb_topk h;
	struct sb_error err;

	fill(c, 8);
	ck_assert_int_eq(sb_topk_init(&h, 8, &err), SB_OK);
	ck_assert_int_eq(sb_search_open(&s, &o, &err), SB_OK);
	sb_search_begin(s, c, 1, &h, NULL);
	sb_search_add(s, c, 4, 0);
	sb_search_add(s, c + 4 * DIM, 4, 100);
	sb_search_end(s);
	sb_topk_sort(&h);
	ck_assert_uint_eq(h.n, 8);
	for (size_t k = 0; k < h.n; k++) {
		uint64_t j = h.items[k].index;
		ck_assert(j < 4 || (j >= 100 && j < 104));
		ck_assert(h.items[k].score == sb_sim_dot(c, c + (j < 4 ? j : j - 96) * DIM, DIM));
	}
	sb_search_close(&s);
	sb_topk_destroy(&h);
}
END_TEST

/* Norms whose product could overflow float32 products: scored pair by pair, exact. */
START_TEST(test_huge_norms)
{
	static float c[NC * DIM];
	struct sb_search_opts o = {SB_METRIC_DOT, DIM, 3, 32, 2};
	struct sb_topk got[3], want[3];
	struct sb_search *s;
	struct sb_error err;

	fill(c, NC);
	for (size_t j = 0; j < DIM; j++)
		c[1 * DIM + j] *= 0x1p120f; /* a query and a row whose products overflow */
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(sb_topk_init(&got[i], K, &err), SB_OK);
		ck_assert_int_eq(sb_topk_init(&want[i], K, &err), SB_OK);
	}
	reference(SB_METRIC_DOT, c, 3, c, NC, want, NULL);
	ck_assert_int_eq(sb_search_open(&s, &o, &err), SB_OK);
	sb_search_begin(s, c, 3, got, NULL);
	sb_search_add(s, c, NC, 0);
	sb_search_end(s);
	for (size_t i = 0; i < 3; i++)
		sb_topk_sort(&got[i]);
	same(got, want, 3);
	sb_search_close(&s);
	for (size_t i = 0; i < 3; i++) {
		sb_topk_destroy(&got[i]);
		sb_topk_destroy(&want[i]);
	}
}
END_TEST

START_TEST(test_errors)
{
	struct sb_search_opts o = {SB_METRIC_MANHATTAN, DIM, 4, 0, 1};
	struct sb_search *s = (struct sb_search *)&o;
	struct sb_error err;

	ck_assert_int_eq(sb_search_supports(SB_METRIC_HAMMING), 0);
	ck_assert_int_eq(sb_search_supports(SB_METRIC_COSINE), 1);
	ck_assert_int_eq(sb_search_open(&s, &o, &err), SB_EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(err.msg, "manhattan"));
	o.metric = SB_METRIC_DOT;
	o.dim = 0;
	ck_assert_int_eq(sb_search_open(&s, &o, &err), SB_EINVAL);
	o.dim = DIM;
	o.max_queries = (size_t)1 << 40;
	ck_assert_int_eq(sb_search_open(&s, &o, &err), SB_ELIMIT);
	sb_search_close(NULL);
	sb_search_close(&s);
}
END_TEST

/* sb_scores: every value (float)sb_sim_score(), bit for bit: zero vectors (signed zeros),
 * copies, nudged rows. */
START_TEST(test_scores_matrix)
{
	static float c[NC * DIM];
	static float out[5 * NC];
	enum sb_metric m = metrics[_i];
	struct sb_scores *s;
	struct sb_error err;

	fill(c, NC);
	ck_assert_int_eq(sb_scores_open(&s, m, c, NC, DIM, 5, &err), SB_OK);
	for (size_t i0 = 0; i0 < NC; i0 += 5) {
		size_t n = NC - i0 < 5 ? NC - i0 : 5;
		sb_scores_rows(s, i0, n, out, NC);
		for (size_t r = 0; r < n; r++)
			for (size_t j = 0; j < NC; j++) {
				const float *a = c + (i0 + r) * DIM, *b = c + j * DIM;
				float want = (float)sb_sim_score(m, a, b, DIM, sb_sim_norm(a, DIM),
								 sb_sim_norm(b, DIM));
				ck_assert_msg(memcmp(&want, &out[r * NC + j], sizeof want) == 0,
					      "%zu, %zu: %a, expected %a", i0 + r, j,
					      (double)out[r * NC + j], (double)want);
			}
	}
	ck_assert_uint_gt(sb_scores_fallbacks(s), 0); /* the zero vectors at least */
	sb_scores_close(&s);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(sb_scores_open(&s, SB_METRIC_HAMMING, c, NC, DIM, 5, &err), SB_EINVAL);
}
END_TEST

static Suite *search_suite(void)
{
	Suite *su = suite_create("search");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_equals_reference, 0, 6);
	tcase_add_test(tc, test_index_gap);
	tcase_add_test(tc, test_huge_norms);
	tcase_add_test(tc, test_errors);
	tcase_add_loop_test(tc, test_scores_matrix, 0, 3);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(search_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
