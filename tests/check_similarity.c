/*
 * check_similarity.c - metrics, top-k, Spearman, Pearson and quantization against NumPy goldens
 * (tests/tools/pool-ref.py in tests/golden/pool).
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "similarity.h"

static char *golden(const char *name)
{
	const char *src = getenv("SB_SRCDIR");
	static char path[4096];

	snprintf(path, sizeof path, "%s/tests/golden/pool/%s", src ? src : ".", name);
	return path;
}

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

static float *to_float(const double *x, size_t n)
{
	float *f = malloc(n * sizeof *f);

	for (size_t i = 0; i < n; i++)
		f[i] = (float)x[i];
	return f;
}

static const char *const metrics[] = {"cosine", "dot", "euclidean", "manhattan"};

static void metric_goldens(const char *tag)
{
	char name[128];
	size_t rows, dim, r, c;
	double *vd, *want;
	float *v;

	snprintf(name, sizeof name, "vectors%s.txt", tag);
	vd = read_matrix(name, &rows, &dim);
	v = to_float(vd, rows * dim);
	for (size_t m = 0; m < 4; m++) {
		enum sb_metric met;
		double maxdiff = 0;

		ck_assert_int_eq(sb_metric_parse(metrics[m], &met, NULL), SB_OK);
		snprintf(name, sizeof name, "pairs%s-%s.txt", tag, metrics[m]);
		want = read_matrix(name, &r, &c);
		ck_assert_uint_eq(r, rows / 2);
		for (size_t k = 0; k < r; k++) {
			double s =
			    sb_sim_score(met, v + 2 * k * dim, v + (2 * k + 1) * dim, dim, -1, -1);
			double d = fabs(s - want[k]);
			maxdiff = d > maxdiff ? d : maxdiff;
			ck_assert_msg(d <= 1e-6, "%s pair %zu: %.17g, expected %.17g", name, k, s,
				      want[k]);
		}
		free(want);
		snprintf(name, sizeof name, "first%s-%s.txt", tag, metrics[m]);
		want = read_matrix(name, &r, &c);
		for (size_t j = 1; j < rows; j++) {
			double s = sb_sim_score(met, v, v + j * dim, dim, -1, -1);
			double d = fabs(s - want[j - 1]);
			maxdiff = d > maxdiff ? d : maxdiff;
			ck_assert_msg(d <= 1e-6, "%s row %zu: %.17g, expected %.17g", name, j, s,
				      want[j - 1]);
		}
		free(want);
		snprintf(name, sizeof name, "matrix%s-%s.txt", tag, metrics[m]);
		want = read_matrix(name, &r, &c);
		for (size_t i = 0; i < rows; i++)
			for (size_t j = 0; j < rows; j++) {
				double s = sb_sim_score(met, v + i * dim, v + j * dim, dim,
							sb_sim_norm(v + i * dim, dim), -1);
				double d = fabs(s - want[i * rows + j]);
				maxdiff = d > maxdiff ? d : maxdiff;
				ck_assert_msg(d <= 1e-6, "%s [%zu,%zu]: %.17g, expected %.17g",
					      name, i, j, s, want[i * rows + j]);
			}
		free(want);
		printf("metric %-10s dim %-4zu max abs diff vs numpy %.3g\n", metrics[m], dim,
		       maxdiff);
	}
	free(v);
	free(vd);
}

START_TEST(test_metrics_golden)
{
	metric_goldens("");
	metric_goldens("768");
}
END_TEST

START_TEST(test_zero_and_hamming)
{
	float z[3] = {0, 0, 0}, a[3] = {1, 2, 3};
	uint8_t x[9] = {0xff, 0, 0x0f, 1, 2, 3, 4, 5, 6}, y[9] = {0, 0, 0xf0, 1, 2, 3, 4, 5, 7};
	size_t rows, cols, r, c, bad;
	double *ub, *want;

	ck_assert(sb_sim_cosine(z, a, 3, -1, -1) == 0.0);
	ck_assert(sb_sim_cosine(z, z, 3, -1, -1) == 0.0);
	ck_assert(fabs(sb_sim_cosine(a, a, 3, -1, -1) - 1.0) < 1e-15);
	ck_assert_uint_eq(sb_sim_hamming_bits(x, y, 9), 8 + 8 + 1);
	ck_assert(sb_sim_score(SB_METRIC_HAMMING, x, y, 9, 0, 0) == -17.0);
	ub = read_matrix("vectors-ubinary.txt", &rows, &cols);
	want = read_matrix("pairs-hamming.txt", &r, &c);
	for (size_t k = 0; k < r; k++) {
		uint8_t p[64], q[64];
		for (size_t i = 0; i < cols; i++) {
			p[i] = (uint8_t)ub[2 * k * cols + i];
			q[i] = (uint8_t)ub[(2 * k + 1) * cols + i];
		}
		ck_assert(sb_sim_score(SB_METRIC_HAMMING, p, q, cols, 0, 0) == want[k]);
	}
	free(ub);
	free(want);
	a[1] = NAN;
	ck_assert_int_eq(sb_sim_finite(a, 3, &bad), 0);
	ck_assert_uint_eq(bad, 1);
	a[1] = INFINITY;
	ck_assert_int_eq(sb_sim_finite(a, 3, &bad), 0);
	a[1] = 2;
	ck_assert_int_eq(sb_sim_finite(a, 3, &bad), 1);
}
END_TEST

START_TEST(test_metric_names)
{
	enum sb_metric m;
	struct sb_error err;

	ck_assert_int_eq(sb_metric_parse("cos", &m, &err), SB_OK);
	ck_assert_int_eq(m, SB_METRIC_COSINE);
	ck_assert_int_eq(sb_metric_parse("hamming", &m, &err), SB_OK);
	ck_assert_str_eq(sb_metric_name(m), "hamming");
	ck_assert_int_eq(sb_metric_parse("jaccard", &m, &err), SB_EINVAL);
	ck_assert_msg(strstr(err.msg, "jaccard") != NULL, "%s", err.msg);
}
END_TEST

static int cmp_desc(const void *pa, const void *pb)
{
	const struct sb_topk_item *a = pa, *b = pb;

	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	return a->index < b->index ? -1 : a->index > b->index;
}

START_TEST(test_topk)
{
	struct sb_topk t;
	struct sb_topk_item all[1000];
	struct sb_error err;
	unsigned seed = 7;

	ck_assert_int_eq(sb_topk_init(&t, 0, &err), SB_EINVAL);
	for (size_t k = 1; k <= 1001; k += 37) {
		ck_assert_int_eq(sb_topk_init(&t, k, &err), SB_OK);
		for (size_t i = 0; i < 1000; i++) {
			seed = seed * 1103515245u + 12345u;
			/* few distinct values: many ties */
			all[i].score = (double)((seed >> 16) % 50) / 7.0;
			all[i].index = i;
			sb_topk_push(&t, all[i].score, i);
		}
		qsort(all, 1000, sizeof all[0], cmp_desc);
		ck_assert_uint_eq(sb_topk_sort(&t), k < 1000 ? k : 1000);
		for (size_t i = 0; i < t.n; i++) {
			ck_assert(t.items[i].score == all[i].score);
			ck_assert_uint_eq(t.items[i].index, all[i].index);
		}
		sb_topk_clear(&t);
		ck_assert_uint_eq(sb_topk_sort(&t), 0);
		sb_topk_destroy(&t);
	}
}
END_TEST

START_TEST(test_spearman)
{
	FILE *f = fopen(golden("spearman.txt"), "r");
	double want, x[10], y[10], rho, c[3] = {1, 1, 1};
	struct sb_error err;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lf", &want), 1);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(fscanf(f, "%lf %lf", &x[i], &y[i]), 2);
	fclose(f);
	ck_assert_int_eq(sb_sim_spearman(x, y, 10, &rho, &err), SB_OK);
	ck_assert_msg(fabs(rho - want) < 1e-12, "%.17g vs %.17g", rho, want);
	printf("spearman with ties: %.17g (numpy %.17g)\n", rho, want);
	ck_assert_int_eq(sb_sim_spearman(x, y, 1, &rho, &err), SB_EINVAL);
	ck_assert_int_eq(sb_sim_spearman(c, x, 3, &rho, &err), SB_EINVAL);
	x[3] = NAN;
	ck_assert_int_eq(sb_sim_spearman(x, y, 10, &rho, &err), SB_EINVAL);
}
END_TEST

/*
 * Pearson of the same columns: 0.9130900533611555 from NumPy 1.24,
 * np.corrcoef(*np.loadtxt("spearman.txt", skiprows=1).T)[0, 1].  A shift by 1e8 changes
 * nothing in exact arithmetic; the two-pass sums keep it to 1e-9.
 */
START_TEST(test_pearson)
{
	FILE *f = fopen(golden("spearman.txt"), "r");
	double want = 0.9130900533611555, x[10], y[10], r, c[3] = {2, 2, 2}, skip;
	struct sb_error err;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lf", &skip), 1);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(fscanf(f, "%lf %lf", &x[i], &y[i]), 2);
	fclose(f);
	ck_assert_int_eq(sb_sim_pearson(x, y, 10, &r, &err), SB_OK);
	ck_assert_msg(fabs(r - want) < 1e-12, "%.17g vs %.17g", r, want);
	printf("pearson: %.17g (numpy %.17g)\n", r, want);
	for (int i = 0; i < 10; i++)
		x[i] += 1e8;
	ck_assert_int_eq(sb_sim_pearson(x, y, 10, &r, &err), SB_OK);
	ck_assert_msg(fabs(r - want) < 1e-9, "shifted: %.17g vs %.17g", r, want);
	ck_assert_int_eq(sb_sim_pearson(y, y, 10, &r, &err), SB_OK);
	ck_assert_msg(fabs(r - 1) < 1e-15, "%.17g", r);
	ck_assert_int_eq(sb_sim_pearson(x, y, 1, &r, &err), SB_EINVAL);
	ck_assert_int_eq(sb_sim_pearson(c, x, 3, &r, &err), SB_EINVAL);
	ck_assert_str_eq(err.msg, "pearson: a column is constant");
	y[2] = INFINITY;
	ck_assert_int_eq(sb_sim_pearson(x, y, 10, &r, &err), SB_EINVAL);
	ck_assert_str_eq(err.msg, "pearson: pair 2 is not finite");
}
END_TEST

/* sb_topk_holds() says which pushed candidates a full selection kept. */
START_TEST(test_topk_holds)
{
	struct sb_topk t;
	struct sb_error err;
	double sc[8] = {0.5, 0.9, 0.1, 0.9, 0.7, 0.3, 0.7, 0.2};

	ck_assert_int_eq(sb_topk_init(&t, 3, &err), SB_OK);
	ck_assert(sb_topk_holds(&t, -1e300, 99)); /* not full: anything pushed is held */
	for (uint64_t i = 0; i < 8; i++)
		sb_topk_push(&t, sc[i], i);
	/* held: (0.9, 1), (0.9, 3), (0.7, 4); the tie (0.7, 6) lost to the lower index */
	ck_assert(sb_topk_holds(&t, 0.9, 1));
	ck_assert(sb_topk_holds(&t, 0.9, 3));
	ck_assert(sb_topk_holds(&t, 0.7, 4));
	ck_assert(!sb_topk_holds(&t, 0.7, 6));
	ck_assert(!sb_topk_holds(&t, 0.5, 0));
	ck_assert_uint_eq(sb_topk_sort(&t), 3);
	ck_assert_uint_eq(t.items[2].index, 4);
	sb_topk_destroy(&t);
}
END_TEST

static void quant_golden(struct sb_calibration *cal, enum sb_precision p, const char *file,
			 size_t trunc)
{
	size_t rows, dim, r, c;
	double *md = read_matrix("pool-mean.txt", &rows, &dim), *want = read_matrix(file, &r, &c);
	float *m = to_float(md, rows * dim);
	size_t w = trunc ? trunc : dim;
	uint8_t out[64];

	ck_assert_uint_eq(r, rows);
	ck_assert_uint_eq(c, sb_precision_row_bytes(p, w));
	for (size_t i = 0; i < rows; i++) {
		sb_quantize_row(p, cal, m + i * dim, w, out);
		for (size_t j = 0; j < c; j++) {
			double got = p == SB_PRECISION_INT8 || p == SB_PRECISION_BINARY
					 ? (double)(int8_t)out[j]
					 : (double)out[j];
			ck_assert_msg(got == want[i * c + j],
				      "%s row %zu byte %zu: %g, expected %g", file, i, j, got,
				      want[i * c + j]);
		}
	}
	free(m);
	free(md);
	free(want);
}

START_TEST(test_quantize_golden)
{
	struct sb_calibration cal, cal2;
	struct sb_error err;
	char tmp[] = "/tmp/check_similarity.XXXXXX";
	int fd;

	ck_assert_int_eq(sb_calibration_read(&cal, golden("calibration.txt"), &err), SB_OK);
	ck_assert_uint_eq(cal.dim, 16);
	ck_assert_uint_eq(cal.rows, 4);
	quant_golden(&cal, SB_PRECISION_INT8, "quant-int8.txt", 0);
	quant_golden(&cal, SB_PRECISION_UINT8, "quant-uint8.txt", 0);
	quant_golden(&cal, SB_PRECISION_BINARY, "quant-binary.txt", 0);
	quant_golden(&cal, SB_PRECISION_UBINARY, "quant-ubinary.txt", 0);
	quant_golden(&cal, SB_PRECISION_UBINARY, "quant-ubinary-trunc12.txt", 12);

	/* write + read round trip is exact */
	fd = mkstemp(tmp);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(sb_calibration_write(&cal, tmp, &err), SB_OK);
	ck_assert_int_eq(sb_calibration_read(&cal2, tmp, &err), SB_OK);
	ck_assert_uint_eq(cal2.dim, cal.dim);
	ck_assert(memcmp(cal.min, cal2.min, cal.dim * sizeof(float)) == 0);
	ck_assert(memcmp(cal.max, cal2.max, cal.dim * sizeof(float)) == 0);
	sb_calibration_destroy(&cal2);
	unlink(tmp);
	sb_calibration_destroy(&cal);
}
END_TEST

START_TEST(test_calibration)
{
	struct sb_calibration c;
	struct sb_error err;
	float x[6] = {1, -2, 3, -1, 5, 0};
	float z[3] = {1, 2, 3};
	uint8_t u[3];
	int8_t s[3];

	ck_assert_int_eq(sb_calibration_init(&c, 0, &err), SB_EINVAL);
	ck_assert_int_eq(sb_calibration_init(&c, 3, &err), SB_OK);
	ck_assert_int_eq(sb_calibration_write(&c, "/tmp/never-written", &err), SB_EINVAL);
	sb_calibration_add(&c, x, 2);
	ck_assert_uint_eq(c.rows, 2);
	ck_assert(c.min[0] == -1 && c.max[0] == 1);
	ck_assert(c.min[1] == -2 && c.max[1] == 5);
	ck_assert(c.min[2] == 0 && c.max[2] == 3);
	/* ends of the range, outside it (saturates) */
	sb_quantize_row(SB_PRECISION_UINT8, &c, (float[]){-1, 5, 0}, 3, u);
	ck_assert(u[0] == 0 && u[1] == 255 && u[2] == 0);
	sb_quantize_row(SB_PRECISION_UINT8, &c, (float[]){-7, 50, -1}, 3, u);
	ck_assert(u[0] == 0 && u[1] == 255 && u[2] == 0);
	sb_quantize_row(SB_PRECISION_INT8, &c, (float[]){-7, 50, NAN}, 3, s);
	ck_assert(s[0] == -128 && s[1] == 127 && s[2] == -128);
	/* step 0 */
	c.min[0] = c.max[0] = 2;
	sb_quantize_row(SB_PRECISION_INT8, &c, z, 3, s);
	ck_assert(s[0] == -128);
	sb_quantize_row(SB_PRECISION_UINT8, &c, z, 3, u);
	ck_assert(u[0] == 0);
	/* binary: 9 dims -> 2 bytes, MSB first, padded with zeros */
	{
		float b[9] = {1, 0, -1, 2, 0, 0, 0, 3, 4};
		uint8_t o[2];
		sb_quantize_row(SB_PRECISION_UBINARY, NULL, b, 9, o);
		ck_assert_uint_eq(o[0], 0x91);
		ck_assert_uint_eq(o[1], 0x80);
		sb_quantize_row(SB_PRECISION_BINARY, NULL, b, 9, o);
		ck_assert_int_eq((int8_t)o[0], 0x91 - 128);
		ck_assert_int_eq((int8_t)o[1], 0);
		ck_assert_uint_eq(sb_precision_row_bytes(SB_PRECISION_BINARY, 9), 2);
	}
	sb_calibration_destroy(&c);
}
END_TEST

static int read_text(const char *text, struct sb_error *err)
{
	char tmp[] = "/tmp/check_similarity.XXXXXX";
	int fd = mkstemp(tmp), rc;
	struct sb_calibration c;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	rc = sb_calibration_read(&c, tmp, err);
	if (rc == SB_OK)
		sb_calibration_destroy(&c);
	unlink(tmp);
	return rc;
}

START_TEST(test_calibration_bad)
{
	struct sb_error err;

	ck_assert_int_eq(read_text("sb-calibration 1\n# c\ndim 2\nrows 3\n0 1\n-1 1\n", &err),
			 SB_OK);
	ck_assert_int_eq(read_text("", &err), SB_EFORMAT);
	ck_assert_int_eq(read_text("sb-calibration 2\ndim 2\nrows 3\n0 1\n-1 1\n", &err),
			 SB_EFORMAT);
	ck_assert_int_eq(read_text("sb-calibration 1\ndim 2\nrows 3\n0 1\n", &err), SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "1 ranges, expected 2") != NULL, "%s", err.msg);
	ck_assert_int_eq(read_text("sb-calibration 1\ndim 2\nrows 3\n0 1\n1 0\n", &err),
			 SB_EFORMAT);
	ck_assert_int_eq(read_text("sb-calibration 1\ndim 2\nrows 3\n0 1\n0 nan\n", &err),
			 SB_EFORMAT);
	ck_assert_int_eq(read_text("sb-calibration 1\ndim 2\nrows 3\n0 1\n0 1 2\n", &err),
			 SB_EFORMAT);
	ck_assert_int_eq(read_text("sb-calibration 1\ndim 2\nrows 3\n0 1\n0 1\n0 1\n", &err),
			 SB_EFORMAT);
	ck_assert_int_eq(read_text("sb-calibration 1\ndim 99999999999\nrows 3\n", &err), SB_ELIMIT);
	ck_assert_int_eq(read_text("sb-calibration 1\ndim -2\nrows 3\n", &err), SB_EFORMAT);
	ck_assert_int_eq(read_text("sb-calibration 1\ndim 0\nrows 3\n", &err), SB_EFORMAT);
	ck_assert_int_eq(read_text("sb-calibration 1\ndim 1\nrows x\n", &err), SB_EFORMAT);
	ck_assert_int_eq(read_text("sb-calibration 1\0\n", &err), SB_EFORMAT);
	ck_assert_int_ne(read_text("x", &err), SB_OK);
}
END_TEST

static Suite *similarity_suite(void)
{
	Suite *s = suite_create("similarity");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_metrics_golden);
	tcase_add_test(tc, test_zero_and_hamming);
	tcase_add_test(tc, test_metric_names);
	tcase_add_test(tc, test_topk);
	tcase_add_test(tc, test_spearman);
	tcase_add_test(tc, test_pearson);
	tcase_add_test(tc, test_topk_holds);
	tcase_add_test(tc, test_quantize_golden);
	tcase_add_test(tc, test_calibration);
	tcase_add_test(tc, test_calibration_bad);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(similarity_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
