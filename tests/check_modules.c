/*
 * check_modules.c - modules.json and the Dense / LayerNorm / Normalize chain after
 * Pooling: the list's rules, hand-computed values, the test models' chain against
 * the PyTorch goldens of tests/tools/modules-ref.py, and the errors.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "modules.h"

static const char *src_path(const char *rel)
{
	const char *src = getenv("SB_SRCDIR");
	static char path[4][4096];
	static int k;

	k = (k + 1) % 4;
	snprintf(path[k], sizeof path[k], "%s/%s", src ? src : ".", rel);
	return path[k];
}

/* Reads a golden "ROWS COLS" + numbers as floats; malloc'd. */
static float *read_matrix(const char *name, size_t *rows, size_t *cols)
{
	char rel[256];
	FILE *f;
	float *x;

	snprintf(rel, sizeof rel, "tests/golden/pool/%s", name);
	f = fopen(src_path(rel), "r");
	ck_assert_msg(f != NULL, "cannot open %s (set SB_SRCDIR)", src_path(rel));
	ck_assert_int_eq(fscanf(f, "%zu %zu", rows, cols), 2);
	x = malloc(*rows * *cols * sizeof *x);
	ck_assert_ptr_nonnull(x);
	for (size_t i = 0; i < *rows * *cols; i++)
		ck_assert_int_eq(fscanf(f, "%f", &x[i]), 1);
	fclose(f);
	return x;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void sub(const char *dir, const char *name)
{
	char path[4200];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	mkdir(path, 0700);
}

/* A safetensors file of F32 tensors: names[i] with shape (d0[i][, d1[i]]) and data[i]. */
struct ts {
	const char *name;
	size_t d0, d1; /* d1 0: one dimension */
	const float *data;
};

static void write_st(const char *dir, const char *name, const struct ts *t, size_t n)
{
	char path[4200], hdr[2048];
	size_t len = 0, off = 0;
	uint64_t hl;
	FILE *f;

	len += (size_t)snprintf(hdr + len, sizeof hdr - len, "{");
	for (size_t i = 0; i < n; i++) {
		size_t numel = t[i].d0 * (t[i].d1 ? t[i].d1 : 1);

		if (t[i].d1)
			len += (size_t)snprintf(hdr + len, sizeof hdr - len,
						"%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%zu,%zu],"
						"\"data_offsets\":[%zu,%zu]}",
						i ? "," : "", t[i].name, t[i].d0, t[i].d1, off,
						off + 4 * numel);
		else
			len += (size_t)snprintf(hdr + len, sizeof hdr - len,
						"%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%zu],"
						"\"data_offsets\":[%zu,%zu]}",
						i ? "," : "", t[i].name, t[i].d0, off,
						off + 4 * numel);
		off += 4 * numel;
	}
	len += (size_t)snprintf(hdr + len, sizeof hdr - len, "}");
	while (len % 8)
		hdr[len++] = ' ';
	snprintf(path, sizeof path, "%s/%s/model.safetensors", dir, name);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	hl = len;
	ck_assert_uint_eq(fwrite(&hl, 8, 1, f), 1); /* little-endian host */
	ck_assert_uint_eq(fwrite(hdr, 1, len, f), len);
	for (size_t i = 0; i < n; i++) {
		size_t numel = t[i].d0 * (t[i].d1 ? t[i].d1 : 1);
		ck_assert_uint_eq(fwrite(t[i].data, 4, numel, f), numel);
	}
	fclose(f);
}

static char *tmp_model(void)
{
	static char dir[64];

	strcpy(dir, "/tmp/check_modules.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	return dir;
}

static void rm_rf(const char *dir)
{
	char cmd[4200];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

#define T(x) "\"sentence_transformers.models." x "\""
#define ENTRY(i, path, type)                                                                       \
	"{\"idx\":" #i ",\"name\":\"" #i "\",\"path\":\"" path "\",\"type\":" type "}"

static int list(const char *dir, const char *json, struct sb_module_list *l, struct sb_error *err)
{
	write_file(dir, "modules.json", json);
	return sb_module_list_read(l, dir, err);
}

START_TEST(test_list)
{
	char *dir = tmp_model();
	struct sb_module_list l;
	struct sb_error err;

	/* no modules.json */
	ck_assert_int_eq(sb_module_list_read(&l, dir, &err), SB_OK);
	ck_assert_int_eq(l.found, 0);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_uint_eq(l.pooling, 0);
	/* the usual list, v5.4 type paths for two of them */
	ck_assert_int_eq(
	    list(
		dir,
		"[" ENTRY(0, "", T("Transformer")) "," ENTRY(
		    1, "1_Pooling",
		    "\"sentence_transformers.sentence_transformer."
		    "modules.pooling.Pooling\"") "," ENTRY(2, "2_Dense",
							   "\"sentence_transformers.sentence_"
							   "transformer."
							   "modules.dense.Dense\"") "," ENTRY(3,
											      "3_"
											      "Laye"
											      "rNor"
											      "m",
											      T("La"
												"ye"
												"rN"
												"or"
												"m")) "," ENTRY(4,
														"4_Normalize",
														T("Normalize")) "]",
		&l, &err),
	    SB_OK);
	ck_assert_int_eq(l.found, 1);
	ck_assert_uint_eq(l.n, 5);
	ck_assert_uint_eq(l.pooling, 1);
	ck_assert_uint_eq(l.n_steps, 2);
	ck_assert_int_eq(l.normalize, 1);
	ck_assert_int_eq(l.items[2].type, SB_MODULE_DENSE);
	ck_assert_str_eq(l.items[3].path, "3_LayerNorm");
	/* a Normalize between Dense modules is a step; Dropout is none */
	ck_assert_int_eq(
	    list(
		dir,
		"[" ENTRY(0, "", T("Transformer")) "," ENTRY(1, "1_Pooling", T("Pooling")) "," ENTRY(
		    2, "2_Normalize",
		    T("Normalize")) "," ENTRY(3, "3_Dropout",
					      T("Dropout")) "," ENTRY(4, "4_Dense",
								      T("Dense")) "," ENTRY(5,
											    "5_"
											    "Dropou"
											    "t",
											    T("Drop"
											      "ou"
											      "t")) "]",
		&l, &err),
	    SB_OK);
	ck_assert_uint_eq(l.n_steps, 2);
	ck_assert_int_eq(l.normalize, 0);
	/* no Pooling entry: nothing after it */
	ck_assert_int_eq(list(dir, "[" ENTRY(0, "", T("Transformer")) "]", &l, &err), SB_OK);
	ck_assert_uint_eq(l.pooling, l.n);
	ck_assert_uint_eq(l.n_steps, 0);

	/* modules sb does not run, named with their entry */
	ck_assert_int_eq(list(dir,
			      "[" ENTRY(0, "", T("Transformer")) "," ENTRY(
				  1, "1_Pooling", T("Pooling")) "," ENTRY(2, "2_CNN", T("CNN")) "]",
			      &l, &err),
			 SB_EUNSUPPORTED);
	ck_assert_msg(strstr(err.msg, "module 2 ('2_CNN'): type "
				      "'sentence_transformers.models.CNN' is not implemented"),
		      "%s", err.msg);
	ck_assert_int_eq(
	    list(dir,
		 "[" ENTRY(0, "", T("Transformer")) "," ENTRY(
		     1, "1_WLP", T("WeightedLayerPooling")) "," ENTRY(2, "2_Pooling",
								      T("Pooling")) "]",
		 &l, &err),
	    SB_EUNSUPPORTED);
	ck_assert_msg(strstr(err.msg, "WeightedLayerPooling"), "%s", err.msg);
	ck_assert_int_eq(
	    list(dir,
		 "[" ENTRY(0, "", T("Transformer")) "," ENTRY(1, "1_Dense", T("Dense")) "," ENTRY(
		     2, "2_Pooling", T("Pooling")) "]",
		 &l, &err),
	    SB_EUNSUPPORTED);
	ck_assert_msg(strstr(err.msg, "module 1 ('1_Dense'): Dense before Pooling"), "%s", err.msg);
	ck_assert_int_eq(
	    list(dir,
		 "[" ENTRY(0, "", T("Transformer")) "," ENTRY(
		     1, "1_Pooling", T("Pooling")) "," ENTRY(2, "2_Pooling", T("Pooling")) "]",
		 &l, &err),
	    SB_EUNSUPPORTED);
	ck_assert_int_eq(
	    list(dir,
		 "[" ENTRY(0, "1_Pooling", T("Pooling")) "," ENTRY(1, "", T("Transformer")) "]", &l,
		 &err),
	    SB_EUNSUPPORTED);
	ck_assert_int_eq(
	    list(dir, "[" ENTRY(0, "", T("Transformer")) "," ENTRY(1, "", T("Transformer")) "]", &l,
		 &err),
	    SB_EUNSUPPORTED);
	ck_assert_int_eq(
	    list(dir,
		 "[" ENTRY(0, "", T("Transformer")) "," ENTRY(
		     1, "1_Pooling", T("Pooling")) "," ENTRY(2, "2_Asym", T("Asym")) "]",
		 &l, &err),
	    SB_EUNSUPPORTED);
	/* a type quoted in a message stays one printable line */
	ck_assert_int_eq(list(dir, "[" ENTRY(0, "", "\"x.Bad\\nType\\u001b[31m\"") "]", &l, &err),
			 SB_EUNSUPPORTED);
	ck_assert_msg(!strchr(err.msg, '\n') && !strchr(err.msg, 0x1b), "%s", err.msg);

	/* malformed files */
	ck_assert_int_eq(list(dir, "{}", &l, &err), SB_EFORMAT);
	ck_assert_int_eq(list(dir, "[3]", &l, &err), SB_EFORMAT);
	ck_assert_int_eq(list(dir, "[{\"path\": \"1_Pooling\"}]", &l, &err), SB_EFORMAT);
	ck_assert_int_eq(list(dir, "[{\"type\": 7}]", &l, &err), SB_EFORMAT);
	ck_assert_int_eq(list(dir, "[{\"type\": " T("Pooling") ", \"path\": 1}]", &l, &err),
			 SB_EFORMAT);
	ck_assert_int_eq(list(dir, "[" ENTRY(0, "../x", T("Pooling")) "]", &l, &err), SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "leaves the model folder"), "%s", err.msg);
	ck_assert_int_eq(list(dir, "[" ENTRY(0, "/etc", T("Pooling")) "]", &l, &err), SB_EFORMAT);
	ck_assert_int_eq(
	    list(dir, "[{\"type\": " T("Pooling") ", \"path\": \"a\\u0000b\"}]", &l, &err),
	    SB_EFORMAT);
	ck_assert_int_eq(list(dir, "[", &l, &err), SB_EFORMAT);
	{
		char big[4096];
		size_t len = 0;

		len += (size_t)snprintf(big + len, sizeof big - len, "[");
		for (int i = 0; i <= SB_MODULES_MAX; i++)
			len += (size_t)snprintf(big + len, sizeof big - len, "%s{\"type\": %s}",
						i ? "," : "", T("Dropout"));
		snprintf(big + len, sizeof big - len, "]");
		ck_assert_int_eq(list(dir, big, &l, &err), SB_EFORMAT);
	}
	rm_rf(dir);
}
END_TEST

/* x [rows, in] through the chain of model, compared with golden out within tol. */
static double chain_golden(const char *model, const char *in, const char *out, double tol)
{
	struct sb_modules *m;
	struct sb_error err;
	size_t rows, cols, orows, ocols, dim_out;
	float *x = read_matrix(in, &rows, &cols), *want = read_matrix(out, &orows, &ocols);
	const float *y;
	double maxdiff = 0;

	ck_assert_int_eq(sb_modules_open(&m, src_path(model), &err), SB_OK);
	ck_assert_int_eq(sb_modules_check(m, cols, &dim_out, &err), SB_OK);
	ck_assert_uint_eq(dim_out, ocols);
	ck_assert_uint_eq(rows, orows);
	/* one row, then all: the scratch grows, the values do not depend on the batch */
	for (size_t k = 0; k < 2; k++) {
		size_t batch = k == 0 ? 1 : rows;

		for (size_t r0 = 0; r0 < rows; r0 += batch) {
			size_t n = rows - r0 < batch ? rows - r0 : batch;

			ck_assert_int_eq(sb_modules_apply(m, x + r0 * cols, n, cols, &y, &err),
					 SB_OK);
			for (size_t i = 0; i < n * ocols; i++) {
				double d = fabs((double)y[i] - (double)want[r0 * ocols + i]);

				maxdiff = d > maxdiff ? d : maxdiff;
				ck_assert_msg(d <= tol, "%s: row %zu dim %zu: %.9g, expected %.9g",
					      out, r0 + i / ocols, i % ocols, (double)y[i],
					      (double)want[r0 * ocols + i]);
			}
		}
	}
	sb_modules_close(&m);
	ck_assert_ptr_null(m);
	free(x);
	free(want);
	return maxdiff;
}

START_TEST(test_chain_golden)
{
	struct sb_modules *m;
	struct sb_error err;
	size_t d;
	char buf[512];
	float x[32] = {0};
	const float *y;

	/* ReLU Dense, LayerNorm, Normalize, SiLU Dense with residual, GELU Dense without bias
	 * (.bin), Sigmoid Dense with a residual projection, Identity Dense: PyTorch's values */
	printf("chain of tiny-bert-modules: max abs diff %.3g\n",
	       chain_golden("tests/models/tiny-bert-modules", "modules-pooled.txt",
			    "modules-nonorm.txt", 1e-5));

	ck_assert_int_eq(sb_modules_open(&m, src_path("tests/models/tiny-bert-modules"), &err),
			 SB_OK);
	ck_assert_uint_eq(sb_modules_count(m), 7);
	sb_modules_describe(m, buf, sizeof buf);
	ck_assert_msg(strstr(buf,
			     "2_Dense (Dense 24 -> 40, relu), 3_LayerNorm (LayerNorm 40), "
			     "4_Normalize (Normalize), 5_Dense (Dense 40 -> 40, silu, residual), "
			     "6_Dense (Dense 40 -> 16, gelu, no bias)") == buf,
		      "%s", buf);
	ck_assert_int_eq(sb_modules_check(m, 32, &d, &err), SB_EMISMATCH);
	ck_assert_msg(strstr(err.msg, "tiny-bert-modules/2_Dense: Dense takes vectors of 24, the "
				      "pooling gives 32"),
		      "%s", err.msg);
	sb_modules_describe(m, buf, 20); /* cut, still a string */
	ck_assert_uint_lt(strlen(buf), 20);
	sb_modules_close(&m);

	ck_assert_int_eq(sb_modules_open(&m, src_path("tests/models/tiny-distilbert-dense"), &err),
			 SB_OK);
	ck_assert_uint_eq(sb_modules_count(m), 1);
	ck_assert_int_eq(sb_modules_check(m, 32, &d, &err), SB_OK);
	ck_assert_uint_eq(d, 20);
	sb_modules_close(&m);

	/* no modules: the identity, the input itself */
	ck_assert_int_eq(sb_modules_open(&m, src_path("tests/models/tiny-distilbert"), &err),
			 SB_OK);
	ck_assert_uint_eq(sb_modules_count(m), 0);
	ck_assert_int_eq(sb_modules_check(m, 32, &d, &err), SB_OK);
	ck_assert_uint_eq(d, 32);
	ck_assert_int_eq(sb_modules_apply(m, x, 1, 32, &y, &err), SB_OK);
	ck_assert_ptr_eq(y, x);
	sb_modules_describe(m, buf, sizeof buf);
	ck_assert_str_eq(buf, "");
	sb_modules_close(&m);
	sb_modules_close(&m); /* NULL: no operation */
}
END_TEST

/* A model folder: Transformer, Pooling, then the given entries. */
static void chain_json(const char *dir, const char *tail)
{
	char json[2048];

	snprintf(json, sizeof json,
		 "[" ENTRY(0, "", T("Transformer")) "," ENTRY(1, "1_Pooling", T("Pooling")) ",%s]",
		 tail);
	write_file(dir, "modules.json", json);
}

START_TEST(test_chain_values)
{
	static const float w[6] = {1, 2, 3, 4, 5, 6}, b[3] = {0.5f, -20, 0};
	static const float g[3] = {1, 2, 0.5f}, be[3] = {0, 1, -1};
	char *dir = tmp_model();
	struct sb_modules *m;
	struct sb_error err;
	float x[4] = {1, 1, -1, 0.5f};
	const float *y;
	size_t d;

	chain_json(dir, ENTRY(2, "2_Dense", T("Dense")));
	sub(dir, "2_Dense");
	write_st(dir, "2_Dense",
		 (struct ts[]){{"linear.weight", 3, 2, w}, {"linear.bias", 3, 0, b}}, 2);
	/* Identity: x W^T + b, two rows */
	write_file(dir, "2_Dense/config.json",
		   "{\"in_features\": 2, \"out_features\": 3, "
		   "\"activation_function\": \"torch.nn.modules.linear.Identity\"}");
	ck_assert_int_eq(sb_modules_open(&m, dir, &err), SB_OK);
	ck_assert_int_eq(sb_modules_check(m, 2, &d, &err), SB_OK);
	ck_assert_uint_eq(d, 3);
	ck_assert_int_eq(sb_modules_apply(m, x, 2, 2, &y, &err), SB_OK);
	ck_assert_float_eq_tol(y[0], 3.5f, 1e-6f);
	ck_assert_float_eq_tol(y[1], -13.0f, 1e-6f);
	ck_assert_float_eq_tol(y[2], 11.0f, 1e-6f);
	ck_assert_float_eq_tol(y[3], 0.5f + 0.0f, 1e-6f);   /* -1 + 1 */
	ck_assert_float_eq_tol(y[4], -20.0f - 1.0f, 1e-6f); /* -3 + 2 */
	ck_assert_float_eq_tol(y[5], -2.0f, 1e-6f);	    /* -5 + 3 */
	sb_modules_close(&m);
	/* the default activation is Tanh; ReLU clips; bias false needs no linear.bias */
	write_file(dir, "2_Dense/config.json", "{\"in_features\": 2, \"out_features\": 3}");
	ck_assert_int_eq(sb_modules_open(&m, dir, &err), SB_OK);
	ck_assert_int_eq(sb_modules_apply(m, x, 1, 2, &y, &err), SB_OK);
	ck_assert_float_eq_tol(y[0], tanhf(3.5f), 1e-6f);
	ck_assert_float_eq_tol(y[1], tanhf(-13.0f), 1e-6f);
	sb_modules_close(&m);
	write_file(dir, "2_Dense/config.json",
		   "{\"in_features\": 2, \"out_features\": 3, "
		   "\"bias\": false, \"activation_function\": \"torch.nn.ReLU\"}");
	ck_assert_int_eq(sb_modules_open(&m, dir, &err), SB_OK);
	ck_assert_int_eq(sb_modules_apply(m, x + 2, 1, 2, &y, &err), SB_OK);
	ck_assert_float_eq(y[0], 0.0f); /* -1 + 1 = 0 */
	ck_assert_float_eq(y[1], 0.0f); /* -3 + 2 < 0 */
	ck_assert_float_eq(y[2], 0.0f);
	sb_modules_close(&m);

	/* LayerNorm after it: (v - mean) / sqrt(var + 1e-5) * gamma + beta */
	chain_json(dir, ENTRY(2, "2_Dense", T("Dense")) "," ENTRY(3, "3_LN", T("LayerNorm")));
	sub(dir, "3_LN");
	write_file(dir, "2_Dense/config.json",
		   "{\"in_features\": 2, \"out_features\": 3, "
		   "\"activation_function\": \"torch.nn.modules.linear.Identity\"}");
	write_file(dir, "3_LN/config.json", "{\"dimension\": 3}");
	write_st(dir, "3_LN", (struct ts[]){{"norm.weight", 3, 0, g}, {"norm.bias", 3, 0, be}}, 2);
	ck_assert_int_eq(sb_modules_open(&m, dir, &err), SB_OK);
	ck_assert_int_eq(sb_modules_apply(m, x, 1, 2, &y, &err), SB_OK);
	{
		double v[3] = {3.5, -13, 11}, mean = (3.5 - 13 + 11) / 3.0, var = 0;

		for (int i = 0; i < 3; i++)
			var += (v[i] - mean) * (v[i] - mean) / 3.0;
		for (int i = 0; i < 3; i++)
			ck_assert_double_eq_tol(
			    y[i], (v[i] - mean) / sqrt(var + 1e-5) * g[i] + be[i], 1e-5);
	}
	sb_modules_close(&m);

	/* widths that do not chain */
	write_file(dir, "3_LN/config.json", "{\"dimension\": 4}");
	write_st(dir, "3_LN", (struct ts[]){{"norm.weight", 4, 0, w}, {"norm.bias", 4, 0, w}}, 2);
	ck_assert_int_eq(sb_modules_open(&m, dir, &err), SB_EMISMATCH);
	ck_assert_ptr_null(m);
	ck_assert_msg(strstr(err.msg, "3_LN: dimension 4, but 2_Dense gives 3"), "%s", err.msg);

	/* Dense with an identity residual: act(x W^T + b) + x */
	chain_json(dir, ENTRY(2, "2_Dense", T("Dense")));
	write_st(dir, "2_Dense", (struct ts[]){{"linear.weight", 2, 2, w}}, 1);
	write_file(dir, "2_Dense/config.json",
		   "{\"in_features\": 2, \"out_features\": 2, "
		   "\"bias\": false, \"use_residual\": true, "
		   "\"activation_function\": \"torch.nn.modules.activation.Sigmoid\"}");
	ck_assert_int_eq(sb_modules_open(&m, dir, &err), SB_OK);
	ck_assert_int_eq(sb_modules_apply(m, x, 1, 2, &y, &err), SB_OK);
	ck_assert_float_eq_tol(y[0], 1.0f / (1.0f + expf(-3.0f)) + 1.0f, 1e-6f);
	ck_assert_float_eq_tol(y[1], 1.0f / (1.0f + expf(-7.0f)) + 1.0f, 1e-6f);
	sb_modules_close(&m);
	rm_rf(dir);
}
END_TEST

/* Opens the chain of dir and expects rc with substring want in the message. */
static void open_fails(const char *dir, int rc, const char *want)
{
	struct sb_modules *m = (struct sb_modules *)1;
	struct sb_error err;

	ck_assert_int_eq(sb_modules_open(&m, dir, &err), rc);
	ck_assert_ptr_null(m);
	ck_assert_msg(strstr(err.msg, want), "expected '%s' in: %s", want, err.msg);
	ck_assert_msg(!strchr(err.msg, '\n'), "%s", err.msg);
}

START_TEST(test_chain_errors)
{
	static const float w[6] = {1, 2, 3, 4, 5, 6};
	char *dir = tmp_model();

	chain_json(dir, ENTRY(2, "2_Dense", T("Dense")));
	open_fails(dir, SB_ENOTFOUND, "2_Dense/config.json: no such file (Dense module 2)");
	sub(dir, "2_Dense");
	write_file(dir, "2_Dense/config.json", "[1]");
	open_fails(dir, SB_EFORMAT, "expected an object");
	write_file(dir, "2_Dense/config.json", "{\"in_features\": 2");
	open_fails(dir, SB_EFORMAT, "json");
	write_file(dir, "2_Dense/config.json", "{\"out_features\": 3}");
	open_fails(dir, SB_EFORMAT, "no 'in_features'");
	write_file(dir, "2_Dense/config.json", "{\"in_features\": 0, \"out_features\": 3}");
	open_fails(dir, SB_EFORMAT, "in_features 0, expected 1 to 1048576");
	write_file(dir, "2_Dense/config.json", "{\"in_features\": 2, \"out_features\": 1e30}");
	open_fails(dir, SB_EFORMAT, "out_features");
	write_file(dir, "2_Dense/config.json",
		   "{\"in_features\": 2, \"out_features\": 3, "
		   "\"bias\": \"yes\"}");
	open_fails(dir, SB_EFORMAT, "bias");
	write_file(dir, "2_Dense/config.json",
		   "{\"in_features\": 2, \"out_features\": 3, "
		   "\"activation_function\": \"torch.nn.modules.activation.Softmax\"}");
	open_fails(dir, SB_EUNSUPPORTED,
		   "activation_function "
		   "'torch.nn.modules.activation.Softmax' is not implemented");
	write_file(dir, "2_Dense/config.json",
		   "{\"in_features\": 2, \"out_features\": 3, "
		   "\"activation_function\": \"my_code.Tanh\"}");
	open_fails(dir, SB_EUNSUPPORTED, "'my_code.Tanh'");
	write_file(dir, "2_Dense/config.json",
		   "{\"in_features\": 2, \"out_features\": 3, "
		   "\"activation_function\": null}");
	open_fails(dir, SB_EFORMAT, "activation_function is not a string");
	write_file(dir, "2_Dense/config.json",
		   "{\"in_features\": 2, \"out_features\": 3, "
		   "\"module_input_name\": \"token_embeddings\"}");
	open_fails(dir, SB_EUNSUPPORTED, "module_input_name 'token_embeddings'");
	write_file(dir, "2_Dense/config.json", "{\"in_features\": 2, \"out_features\": 3}");
	open_fails(dir, SB_ENOTFOUND, "no model.safetensors or pytorch_model.bin");
	/* weights: missing, mis-shaped */
	write_st(dir, "2_Dense", (struct ts[]){{"linear.weight", 3, 2, w}}, 1);
	open_fails(dir, SB_ENOTFOUND, "linear.bias");
	write_st(dir, "2_Dense",
		 (struct ts[]){{"linear.weight", 2, 3, w}, {"linear.bias", 3, 0, w}}, 2);
	open_fails(dir, SB_EMISMATCH, "tensor 'linear.weight': shape [2, 3], expected [3, 2]");
	write_file(dir, "2_Dense/config.json",
		   "{\"in_features\": 3, \"out_features\": 2, "
		   "\"bias\": false, \"use_residual\": true}");
	open_fails(dir, SB_ENOTFOUND, "residual.weight");
	/* LayerNorm */
	chain_json(dir, ENTRY(2, "3_LN", T("LayerNorm")));
	sub(dir, "3_LN");
	write_file(dir, "3_LN/config.json", "{\"dim\": 3}");
	open_fails(dir, SB_EFORMAT, "no 'dimension'");
	write_file(dir, "3_LN/config.json", "{\"dimension\": 3}");
	write_st(dir, "3_LN", (struct ts[]){{"norm.weight", 3, 0, w}}, 1);
	open_fails(dir, SB_ENOTFOUND, "norm.bias");
	/* the list's own errors come first */
	chain_json(dir, ENTRY(2, "2_LSTM", T("LSTM")));
	open_fails(dir, SB_EUNSUPPORTED, "module 2 ('2_LSTM')");
	rm_rf(dir);
}
END_TEST

static Suite *modules_suite(void)
{
	Suite *s = suite_create("modules");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_chain_golden);
	tcase_add_test(tc, test_chain_values);
	tcase_add_test(tc, test_chain_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(modules_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
