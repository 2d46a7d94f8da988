/*
 * check_head.c - unit tests for lib/head.c: the heads of the test cross-encoders, the
 * activation switch, padding on the right (scores of a row do not depend on its batch),
 * left padding refused, and heads that cannot be bound.  Agreement with PyTorch is
 * tested by tests/33-rerank.sh against goldens.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "head.h"
#include "model.h"

static char xlmr[4096], bert3[4096], distil[4096], enc[4096];

static void setup_paths(void)
{
	const char *src = getenv("SB_SRCDIR");

	src = src ? src : ".";
	snprintf(xlmr, sizeof(xlmr), "%s/tests/models/tiny-xlmr-rerank", src);
	snprintf(bert3, sizeof(bert3), "%s/tests/models/tiny-bert-rerank3", src);
	snprintf(distil, sizeof(distil), "%s/tests/models/tiny-distilbert", src);
	snprintf(enc, sizeof(enc), "%s/tests/models/tiny-xlmr", src);
}

static struct sb_model *open_model(const char *dir)
{
	struct sb_model *m = NULL;
	struct sb_error err;

	ck_assert_msg(sb_model_open(&m, dir, NULL, &err) == SB_OK, "%s: %s", dir, err.msg);
	return m;
}

/* [rows, seq] int64 ids and mask from v (-1: padding, written as pad). */
static void batch(struct sb_tensor *ids, struct sb_tensor *mask, size_t rows, size_t seq,
		  const int64_t *v, int64_t pad)
{
	size_t shape[2] = { rows, seq };

	ck_assert_int_eq(sb_tensor_alloc(ids, SB_DTYPE_I64, 2, shape, NULL), SB_OK);
	ck_assert_int_eq(sb_tensor_alloc(mask, SB_DTYPE_I64, 2, shape, NULL), SB_OK);
	for (size_t i = 0; i < rows * seq; i++) {
		((int64_t *)ids->data)[i] = v[i] < 0 ? pad : v[i];
		((int64_t *)mask->data)[i] = v[i] >= 0;
	}
}

static void forward(struct sb_model *m, const int64_t *v, size_t rows, size_t seq, int64_t pad)
{
	struct sb_tensor ids, mask;
	struct sb_error err;

	batch(&ids, &mask, rows, seq, v, pad);
	ck_assert_msg(sb_model_forward(m, &ids, &mask, NULL, &err) == SB_OK, "%s", err.msg);
	sb_tensor_destroy(&ids);
	sb_tensor_destroy(&mask);
}

START_TEST(test_roberta_head)
{
	struct sb_model *m = open_model(xlmr);
	struct sb_head *h = NULL, *hl = NULL;
	struct sb_error err;
	/* <s> ... </s></s> ... </s>, the second row padded on the right */
	const int64_t two[] = { 0, 36, 312, 2, 2, 79, 2, 0, 79, 2, 2, 36, -1, -1 };
	float s[2], l[2], alone;

	ck_assert_int_eq(sb_head_open(&h, m, xlmr, 0, &err), SB_OK);
	ck_assert_int_eq(sb_head_open(&hl, m, xlmr, 1, &err), SB_OK);
	ck_assert_uint_eq(sb_head_labels(h), 1);
	ck_assert_str_eq(sb_head_activation(h), "sigmoid");
	ck_assert_str_eq(sb_head_activation(hl), "none");
	forward(m, two, 2, 7, 1);
	ck_assert_int_eq(sb_head_forward(h, m, s, &err), SB_OK);
	ck_assert_int_eq(sb_head_forward(hl, m, l, &err), SB_OK);
	for (int r = 0; r < 2; r++) {
		ck_assert(s[r] > 0.0f && s[r] < 1.0f);
		ck_assert(fabsf(s[r] - 1.0f / (1.0f + expf(-l[r]))) < 1e-6f);
	}
	/* The padded row alone, unpadded: the same score. */
	forward(m, two + 7, 1, 5, 1);
	ck_assert_int_eq(sb_head_forward(h, m, &alone, &err), SB_OK);
	ck_assert(fabsf(alone - s[1]) < 1e-6f);
	sb_head_close(&h);
	sb_head_close(&hl);
	ck_assert(h == NULL);
	sb_head_close(&h);
	sb_model_close(&m);
}
END_TEST

START_TEST(test_bert_head)
{
	struct sb_model *m = open_model(bert3);
	struct sb_head *h = NULL;
	struct sb_error err;
	const int64_t row[] = { 2, 47, 3, 48, 3 };
	float s[3];

	ck_assert_int_eq(sb_head_open(&h, m, bert3, 0, &err), SB_OK);
	ck_assert_uint_eq(sb_head_labels(h), 3);
	/* Several labels: no activation unless asked, as CrossEncoder. */
	ck_assert_str_eq(sb_head_activation(h), "none");
	forward(m, row, 1, 5, 0);
	ck_assert_int_eq(sb_head_forward(h, m, s, &err), SB_OK);
	ck_assert(s[0] != s[1] && s[1] != s[2]);
	sb_head_close(&h);
	sb_model_close(&m);
}
END_TEST

START_TEST(test_errors)
{
	struct sb_model *m = open_model(xlmr);
	struct sb_head *h = NULL;
	struct sb_error err;
	const int64_t left[] = { -1, 0, 36, 2 };
	float s;

	ck_assert_int_eq(sb_head_open(&h, m, xlmr, 0, &err), SB_OK);
	forward(m, left, 1, 4, 1);
	ck_assert_int_eq(sb_head_forward(h, m, &s, &err), SB_EINVAL);
	ck_assert_msg(strstr(err.msg, "row 0: position 0 is padding") != NULL, "%s", err.msg);
	sb_head_close(&h);
	sb_model_close(&m);

	/* An encoder without a head: the first tensor named. */
	m = open_model(enc);
	h = (struct sb_head *)1;
	ck_assert_int_eq(sb_head_open(&h, m, enc, 0, &err), SB_ENOTFOUND);
	ck_assert(h == NULL);
	ck_assert_msg(strstr(err.msg, "classification head: ") != NULL &&
		      strstr(err.msg, "tensor 'classifier.dense.weight' not found") != NULL,
		      "%s", err.msg);
	sb_model_close(&m);

	m = open_model(distil);
	ck_assert_int_eq(sb_head_open(&h, m, distil, 0, &err), SB_EUNSUPPORTED);
	ck_assert_msg(strstr(err.msg, "model_type 'distilbert' is not supported") != NULL, "%s",
		      err.msg);
	sb_model_close(&m);
}
END_TEST

static Suite *head_suite(void)
{
	Suite *s = suite_create("head");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_roberta_head);
	tcase_add_test(tc, test_bert_head);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	setup_paths();
	sr = srunner_create(head_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
