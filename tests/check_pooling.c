/*
 * check_pooling.c - sb_pool_row and the pooling config against sentence-transformers'
 * math (goldens from tests/tools/pool-ref.py in tests/golden/pool), and the prompt's
 * positions left out with include_prompt false.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "pooling.h"
#include "similarity.h"

static char *golden(const char *name)
{
	const char *src = getenv("SB_SRCDIR");
	static char path[4096];

	snprintf(path, sizeof path, "%s/tests/golden/pool/%s", src ? src : ".", name);
	return path;
}

/* Reads "ROWS COLS" + numbers; returns malloc'd doubles. */
static double *read_matrix(const char *name, size_t *rows, size_t *cols)
{
	FILE *f = fopen(golden(name), "r");
	double *x;

	ck_assert_msg(f != NULL, "cannot open %s (set SB_SRCDIR)", golden(name));
	ck_assert_int_eq(fscanf(f, "%zu %zu", rows, cols), 2);
	x = malloc(*rows * *cols * sizeof *x);
	ck_assert_ptr_nonnull(x);
	for (size_t i = 0; i < *rows * *cols; i++)
		ck_assert_int_eq(fscanf(f, "%lf", &x[i]), 1);
	fclose(f);
	return x;
}

struct hidden {
	size_t rows, seq, dim;
	float *h;    /* [rows, seq, dim] */
	float *mask; /* [rows, seq] */
};

static void read_hidden(struct hidden *hd)
{
	FILE *f = fopen(golden("hidden.txt"), "r");

	ck_assert_msg(f != NULL, "cannot open %s", golden("hidden.txt"));
	ck_assert_int_eq(fscanf(f, "%zu %zu %zu", &hd->rows, &hd->seq, &hd->dim), 3);
	hd->mask = malloc(hd->rows * hd->seq * sizeof(float));
	hd->h = malloc(hd->rows * hd->seq * hd->dim * sizeof(float));
	for (size_t i = 0; i < hd->rows * hd->seq; i++)
		ck_assert_int_eq(fscanf(f, "%f", &hd->mask[i]), 1);
	for (size_t i = 0; i < hd->rows * hd->seq * hd->dim; i++)
		ck_assert_int_eq(fscanf(f, "%f", &hd->h[i]), 1);
	fclose(f);
}

static double check_golden(const struct sb_pooling *p, const char *name)
{
	struct hidden hd;
	size_t rows, cols, width;
	double *want, maxdiff = 0;
	float *out;

	read_hidden(&hd);
	want = read_matrix(name, &rows, &cols);
	ck_assert_uint_eq(rows, hd.rows);
	out = malloc(sb_pooling_out_dim(p, hd.dim) * sizeof *out);
	for (size_t r = 0; r < hd.rows; r++) {
		width = sb_pool_row(p, hd.h + r * hd.seq * hd.dim, hd.mask + r * hd.seq, hd.seq,
				    hd.dim, out);
		ck_assert_uint_eq(width, cols);
		for (size_t d = 0; d < cols; d++) {
			double diff = fabs((double)out[d] - want[r * cols + d]);
			/* relative for the -1e9 of padded max */
			if (fabs(want[r * cols + d]) > 1e3)
				diff /= fabs(want[r * cols + d]);
			maxdiff = diff > maxdiff ? diff : maxdiff;
			ck_assert_msg(diff <= 1e-5, "%s: row %zu dim %zu: %.9g, expected %.9g",
				      name, r, d, (double)out[d], want[r * cols + d]);
		}
	}
	free(out);
	free(want);
	free(hd.h);
	free(hd.mask);
	return maxdiff;
}

static void golden_modes(const char *modes, const char *file, int normalize, size_t trunc)
{
	struct sb_pooling p = {0};
	struct sb_error err;

	ck_assert_int_eq(sb_pooling_parse_modes(modes, &p.modes, &err), SB_OK);
	p.normalize = normalize;
	p.truncate_dim = trunc;
	printf("pooling %-40s max abs diff %.3g\n", file, check_golden(&p, file));
}

START_TEST(test_golden_single)
{
	golden_modes("cls", "pool-cls.txt", 0, 0);
	golden_modes("max", "pool-max.txt", 0, 0);
	golden_modes("mean", "pool-mean.txt", 0, 0);
	golden_modes("mean_sqrt_len_tokens", "pool-mean_sqrt_len_tokens.txt", 0, 0);
	golden_modes("weightedmean", "pool-weightedmean.txt", 0, 0);
	golden_modes("lasttoken", "pool-lasttoken.txt", 0, 0);
}
END_TEST

START_TEST(test_golden_combined)
{
	/* order on the command line does not matter: output is in sentence-transformers' order */
	golden_modes("lasttoken,weightedmean,mean_sqrt_len_tokens,mean,max,cls", "pool-all.txt", 0,
		     0);
	golden_modes("mean+cls", "pool-cls,mean.txt", 0, 0);
	golden_modes("mean", "pool-mean-norm.txt", 1, 0);
	golden_modes("mean", "pool-mean-trunc12.txt", 0, 12);
	golden_modes("mean", "pool-mean-trunc12-norm.txt", 1, 12);
}
END_TEST

START_TEST(test_modes_parse)
{
	struct sb_error err;
	unsigned m;
	char buf[128];

	ck_assert_int_eq(sb_pooling_parse_modes("mean", &m, &err), SB_OK);
	ck_assert_uint_eq(m, SB_POOL_MEAN);
	ck_assert_int_eq(sb_pooling_parse_modes("max,cls_token", &m, &err), SB_OK);
	ck_assert_uint_eq(m, SB_POOL_MAX | SB_POOL_CLS);
	ck_assert_str_eq(sb_pooling_modes_str(m, buf, sizeof buf), "cls,max");
	ck_assert_str_eq(sb_pooling_modes_str(0, buf, sizeof buf), "mean");
	ck_assert_str_eq(sb_pooling_modes_str(0x3f, buf, sizeof buf),
			 "cls,max,mean,mean_sqrt_len_tokens,weightedmean,lasttoken");
	ck_assert_str_eq(sb_pooling_modes_str(0x3f, buf, 8), "cls,max");
	ck_assert_int_eq(sb_pooling_parse_modes("mean,avg", &m, &err), SB_EINVAL);
	ck_assert_msg(strstr(err.msg, "'avg'") != NULL, "%s", err.msg);
	ck_assert_int_eq(sb_pooling_parse_modes("", &m, &err), SB_EINVAL);
	ck_assert_int_eq(sb_pooling_parse_modes("mean,", &m, &err), SB_EINVAL);
}
END_TEST

START_TEST(test_limits)
{
	struct sb_pooling p = {.modes = SB_POOL_MEAN | SB_POOL_MAX | SB_POOL_CLS |
					SB_POOL_LASTTOKEN | SB_POOL_WEIGHTEDMEAN};
	float h[6] = {1, 2, 3, 4, 5, 6}, mask0[3] = {0, 0, 0}, out[10];
	size_t w;

	/* all padding: mean and weightedmean 0, max -1e9, cls token 0, lasttoken 0 */
	w = sb_pool_row(&p, h, mask0, 3, 2, out);
	ck_assert_uint_eq(w, 10);
	ck_assert(out[0] == 1 && out[1] == 2);	       /* cls */
	ck_assert(out[2] == -1e9f && out[3] == -1e9f); /* max */
	ck_assert(out[4] == 0 && out[5] == 0);	       /* mean */
	ck_assert(out[6] == 0 && out[7] == 0);	       /* weightedmean */
	ck_assert(out[8] == 0 && out[9] == 0);	       /* lasttoken */
	/* no mask: every token real */
	w = sb_pool_row(&p, h, NULL, 3, 2, out);
	ck_assert(out[2] == 5 && out[3] == 6);
	ck_assert(out[4] == 3 && out[5] == 4);
	ck_assert(out[8] == 5 && out[9] == 6);
	/* seq 0 */
	w = sb_pool_row(&p, h, NULL, 0, 2, out);
	ck_assert_uint_eq(w, 10);
	ck_assert(out[0] == 0 && out[4] == 0 && out[8] == 0);
	/* normalize a zero vector: stays zero (eps), never NaN */
	p.modes = SB_POOL_MEAN;
	p.normalize = 1;
	w = sb_pool_row(&p, h, mask0, 3, 2, out);
	ck_assert(out[0] == 0 && out[1] == 0);
	/* truncate past the width keeps the width */
	p.truncate_dim = 100;
	ck_assert_uint_eq(sb_pool_row(&p, h, NULL, 3, 2, out), 2);
}
END_TEST

START_TEST(test_exclude_prompt)
{
	struct sb_pooling p = {.modes = SB_POOL_CLS | SB_POOL_MEAN | SB_POOL_LASTTOKEN};
	float h[10] = {1, 10, 2, 20, 3, 30, 4, 40, 5, 50}, out[6], twice[6];
	float right[5] = {1, 1, 1, 1, 0}, left[5] = {0, 1, 1, 1, 1}, none[5] = {0};
	float hole[5] = {1, 0, 1, 1, 0};

	/* right padding: the first prompt_length positions ([CLS] + prompt) */
	sb_pooling_exclude_prompt(right, 5, 2);
	ck_assert(right[0] == 0 && right[1] == 0 && right[2] == 1 && right[3] == 1 &&
		  right[4] == 0);
	/* left padding: from the first real token on */
	sb_pooling_exclude_prompt(left, 5, 2);
	ck_assert(left[0] == 0 && left[1] == 0 && left[2] == 0 && left[3] == 1 && left[4] == 1);
	/* positions, not real tokens: a hole counts as a prompt position */
	sb_pooling_exclude_prompt(hole, 5, 2);
	ck_assert(hole[0] == 0 && hole[1] == 0 && hole[2] == 1);
	/* no real token, a prompt longer than the row, 0 */
	sb_pooling_exclude_prompt(none, 5, 3);
	ck_assert(none[0] == 0 && none[4] == 0);
	sb_pooling_exclude_prompt(left, 5, 100);
	ck_assert(left[3] == 0 && left[4] == 0);
	sb_pooling_exclude_prompt(right, 5, 0);
	ck_assert(right[2] == 1 && right[3] == 1);

	/* pooled without the prompt: cls is the first token kept, lasttoken the last */
	ck_assert_uint_eq(sb_pool_tokens(&p, h, right, 5, 2, out), 6);
	ck_assert(out[0] == 3 && out[1] == 30);	   /* cls */
	ck_assert(out[2] == 3.5f && out[3] == 35); /* mean of tokens 2, 3 */
	ck_assert(out[4] == 4 && out[5] == 40);	   /* lasttoken */
	/* everything masked: cls token 0, mean 0, lasttoken 0 */
	sb_pool_tokens(&p, h, left, 5, 2, out);
	ck_assert(out[0] == 1 && out[1] == 10 && out[2] == 0 && out[4] == 0 && out[5] == 0);

	/* sb_pool_row is sb_pool_tokens then sb_pooling_finish */
	p.normalize = 1;
	p.truncate_dim = 3;
	ck_assert_uint_eq(sb_pool_row(&p, h, right, 5, 2, twice), 3);
	sb_pool_tokens(&p, h, right, 5, 2, out);
	ck_assert_uint_eq(sb_pooling_finish(&p, out, 6), 3);
	ck_assert(memcmp(out, twice, 3 * sizeof(float)) == 0);
	ck_assert_float_eq_tol(out[0] * out[0] + out[1] * out[1] + out[2] * out[2], 1.0f, 1e-6f);
}
END_TEST

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(test_from_model)
{
	char dir[] = "/tmp/check_pooling.XXXXXX", path[4200];
	struct sb_pooling p;
	struct sb_error err;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* no config at all: mean, not from config */
	ck_assert_int_eq(sb_pooling_from_model(&p, dir, &err), SB_OK);
	ck_assert_uint_eq(p.modes, SB_POOL_MEAN);
	ck_assert_int_eq(p.from_config, 0);
	ck_assert_int_eq(p.include_prompt, 1);

	snprintf(path, sizeof path, "%s/1_Pooling", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/1_Pooling/config.json", dir);
	/* legacy booleans */
	write_file(path, "{\"word_embedding_dimension\": 768, \"pooling_mode_cls_token\": false,"
			 "\"pooling_mode_mean_tokens\": true, \"pooling_mode_max_tokens\": true,"
			 "\"pooling_mode_mean_sqrt_len_tokens\": false}");
	ck_assert_int_eq(sb_pooling_from_model(&p, dir, &err), SB_OK);
	ck_assert_uint_eq(p.modes, SB_POOL_MEAN | SB_POOL_MAX);
	ck_assert_int_eq(p.from_config, 1);
	/* legacy, none set: mean */
	write_file(path, "{\"pooling_mode_cls_token\": false}");
	ck_assert_int_eq(sb_pooling_from_model(&p, dir, &err), SB_OK);
	ck_assert_uint_eq(p.modes, SB_POOL_MEAN);
	/* v5.4 string and list */
	write_file(path, "{\"embedding_dimension\": 768, \"pooling_mode\": \"lasttoken\","
			 "\"include_prompt\": false}");
	ck_assert_int_eq(sb_pooling_from_model(&p, dir, &err), SB_OK);
	ck_assert_uint_eq(p.modes, SB_POOL_LASTTOKEN);
	ck_assert_int_eq(p.include_prompt, 0);
	write_file(path, "{\"pooling_mode\": [\"mean\", \"cls\"]}");
	ck_assert_int_eq(sb_pooling_from_model(&p, dir, &err), SB_OK);
	ck_assert_uint_eq(p.modes, SB_POOL_MEAN | SB_POOL_CLS);
	/* errors */
	write_file(path, "{\"pooling_mode\": \"avg\"}");
	ck_assert_int_eq(sb_pooling_from_model(&p, dir, &err), SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "avg") != NULL, "%s", err.msg);
	write_file(path, "{\"pooling_mode\": 3}");
	ck_assert_int_eq(sb_pooling_from_model(&p, dir, &err), SB_EFORMAT);
	write_file(path, "{\"pooling_mode_mean_tokens\": \"yes\"}");
	ck_assert_int_eq(sb_pooling_from_model(&p, dir, &err), SB_EFORMAT);
	write_file(path, "{\"pooling_mode\": ");
	ck_assert_int_ne(sb_pooling_from_model(&p, dir, &err), SB_OK);

	/* modules.json: Normalize module, pooling folder elsewhere */
	snprintf(path, sizeof path, "%s/modules.json", dir);
	write_file(path, "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":"
			 "\"sentence_transformers.models.Transformer\"},"
			 "{\"idx\":1,\"name\":\"1\",\"path\":\"2_Pool\",\"type\":"
			 "\"sentence_transformers.sentence_transformer.modules.pooling.Pooling\"},"
			 "{\"idx\":2,\"name\":\"2\",\"path\":\"3_Normalize\",\"type\":"
			 "\"sentence_transformers.models.Normalize\"}]");
	snprintf(path, sizeof path, "%s/2_Pool", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/2_Pool/config.json", dir);
	write_file(path, "{\"pooling_mode\": \"max\"}");
	ck_assert_int_eq(sb_pooling_from_model(&p, dir, &err), SB_OK);
	ck_assert_uint_eq(p.modes, SB_POOL_MAX);
	ck_assert_int_eq(p.normalize, 1);
	ck_assert_uint_eq(p.n_modules, 0);
	/* a Normalize before a Dense is the Dense's input, not the final normalize */
	snprintf(path, sizeof path, "%s/modules.json", dir);
	write_file(path,
		   "[{\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
		   "{\"path\":\"2_Pool\",\"type\":\"sentence_transformers.models.Pooling\"},"
		   "{\"path\":\"3_Normalize\",\"type\":\"sentence_transformers.models.Normalize\"},"
		   "{\"path\":\"4_Dense\",\"type\":\"sentence_transformers.models.Dense\"}]");
	ck_assert_int_eq(sb_pooling_from_model(&p, dir, &err), SB_OK);
	ck_assert_int_eq(p.normalize, 0);
	ck_assert_uint_eq(p.n_modules, 2);
	ck_assert_uint_eq(p.modes, SB_POOL_MAX);
	/* a module sb does not run: refused, named */
	write_file(path, "[{\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
			 "{\"path\":\"2_Pool\",\"type\":\"sentence_transformers.models.Pooling\"},"
			 "{\"path\":\"3_LSTM\",\"type\":\"sentence_transformers.models.LSTM\"}]");
	ck_assert_int_eq(sb_pooling_from_model(&p, dir, &err), SB_EUNSUPPORTED);
	ck_assert_msg(strstr(err.msg, "module 2 ('3_LSTM')") != NULL, "%s", err.msg);
	write_file(path, "[{\"path\":\"../x\",\"type\":\"sentence_transformers.models.Pooling\"}]");
	ck_assert_int_eq(sb_pooling_from_model(&p, dir, &err), SB_EFORMAT);

	ck_assert_int_eq(sb_pooling_from_model(&p, "/nonexistent/model", &err), SB_ENOTFOUND);
	{
		char cmd[4300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		ck_assert_int_eq(system(cmd), 0);
	}
}
END_TEST

static Suite *pooling_suite(void)
{
	Suite *s = suite_create("pooling");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_golden_single);
	tcase_add_test(tc, test_golden_combined);
	tcase_add_test(tc, test_modes_parse);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_from_model);
	tcase_add_test(tc, test_exclude_prompt);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pooling_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
