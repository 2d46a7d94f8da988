/*
 * check_weights.c - unit tests for lib/weights.c over the fixtures of
 * tests/fixtures/weights (made by tests/tools/mkweights.py): values against what torch
 * computed, the three dtypes against each other, .bin against .safetensors, name
 * resolution, model folders, and every broken file with its status and message.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "weights.h"

static char fixtures[1024];

static void setup(void)
{
	const char *src = getenv("SB_SRCDIR");
	if (!src)
		src = ".";
	snprintf(fixtures, sizeof(fixtures), "%s/tests/fixtures/weights", src);
	ck_assert_msg(sb_dir_exists(fixtures), "fixtures missing: %s (set SB_SRCDIR)", fixtures);
}

static struct sb_weights *open_fixture(const char *sub, const char *name)
{
	char path[2048];
	struct sb_error err = { 0 };
	struct sb_weights *w = NULL;

	snprintf(path, sizeof(path), "%s/%s/%s", fixtures, sub, name);
	int rc = sb_weights_open_file(&w, path, &err);
	ck_assert_msg(rc == SB_OK, "%s: rc %d: %s", name, rc, err.msg);
	ck_assert_ptr_nonnull(w);
	return w;
}

/* Every FILE NAME SHAPE INDEX VALUE line of expected.txt, checked exactly. */
START_TEST(test_expected_values)
{
	char path[2048], line[1024], cur[256] = "";
	struct sb_weights *w = NULL;
	size_t n_lines = 0, n_files = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/expected.txt", fixtures);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char file[256], name[256], shape[128], s[160];
		size_t idx;
		double val;

		if (line[0] == '#')
			continue;
		ck_assert_int_eq(sscanf(line, "%255s %255s %127s %zu %lf", file, name, shape, &idx,
					&val), 5);
		if (strcmp(file, cur) != 0) {
			sb_weights_close(&w);
			w = open_fixture("good", file);
			snprintf(cur, sizeof(cur), "%s", file);
			n_files++;
		}
		const struct sb_tensor *t = sb_weights_get(w, name);
		ck_assert_msg(t != NULL, "%s: tensor %s missing", file, name);
		ck_assert_int_eq(t->dtype, SB_DTYPE_F32);
		ck_assert_msg(((uintptr_t)t->data & 3) == 0, "%s: %s not aligned", file, name);
		sb_shape_str(t->n_dims, t->shape, s, sizeof(s));
		/* "7x16" in the file, "[7, 16]" here: compare the dimensions. */
		char want[400] = "[";
		size_t wl = 1;
		if (strcmp(shape, "scalar") != 0) {
			for (char *p = shape; *p; p++) {
				if (*p == 'x') {
					want[wl++] = ',';
					want[wl++] = ' ';
				} else {
					want[wl++] = *p;
				}
			}
		}
		want[wl++] = ']';
		want[wl] = 0;
		ck_assert_msg(strcmp(s, want) == 0, "%s: %s shape %s, expected %s", file, name, s,
			      want);
		ck_assert_uint_lt(idx, sb_tensor_numel(t));
		float got = ((const float *)t->data)[idx];
		ck_assert_msg(got == (float)val, "%s: %s[%zu] = %.9g, expected %.9g", file, name,
			      idx, got, val);
		n_lines++;
	}
	fclose(f);
	sb_weights_close(&w);
	ck_assert_uint_gt(n_lines, 500);
	ck_assert_uint_ge(n_files, 12);
}
END_TEST

/* F16 and BF16 files hold the F32 model's values rounded: compare within that rounding. */
static void compare_rounded(const char *other, double rel)
{
	struct sb_weights *a = open_fixture("good", "f32.safetensors");
	struct sb_weights *b = open_fixture("good", other);

	ck_assert_uint_eq(sb_weights_count(a), sb_weights_count(b));
	for (size_t i = 0; i < sb_weights_count(a); i++) {
		const struct sb_tensor *x = sb_weights_at(a, i);
		const struct sb_tensor *y = sb_weights_get(b, sb_weights_name(a, i));
		ck_assert_ptr_nonnull(y);
		ck_assert_uint_eq(sb_tensor_numel(x), sb_tensor_numel(y));
		for (size_t k = 0; k < sb_tensor_numel(x); k++) {
			float u = ((const float *)x->data)[k], v = ((const float *)y->data)[k];
			ck_assert_msg(fabs((double)u - v) <= rel * fabs(u) + 1e-7,
				      "%s: %s[%zu]: %.9g vs %.9g", other, sb_weights_name(a, i), k,
				      u, v);
		}
	}
	sb_weights_close(&a);
	sb_weights_close(&b);
}

START_TEST(test_f16_bf16_rounding)
{
	compare_rounded("f16.safetensors", 1.0 / 2048);    /* 11-bit significand */
	compare_rounded("bf16.safetensors", 1.0 / 256);    /* 8-bit significand */
}
END_TEST

/* The same model from torch.save (three zips, legacy) and safetensors: bit-identical. */
START_TEST(test_bin_equals_safetensors)
{
	static const char *const bins[] = { "f32.bin", "zip64.bin", "nodesc.bin", "legacy.bin" };
	struct sb_weights *a = open_fixture("good", "f32.safetensors");

	for (size_t j = 0; j < 4; j++) {
		struct sb_weights *b = open_fixture("good", bins[j]);
		ck_assert_uint_eq(sb_weights_count(a), sb_weights_count(b));
		for (size_t i = 0; i < sb_weights_count(a); i++) {
			const struct sb_tensor *x = sb_weights_at(a, i), *y;
			ck_assert_str_eq(sb_weights_name(a, i), sb_weights_name(b, i));
			y = sb_weights_at(b, i);
			ck_assert_uint_eq(x->nbytes, y->nbytes);
			ck_assert(memcmp(x->data, y->data, x->nbytes) == 0);
		}
		sb_weights_close(&b);
	}
	sb_weights_close(&a);
}
END_TEST

START_TEST(test_source_and_sizes)
{
	struct sb_weights *w = open_fixture("good", "f32.safetensors");
	ck_assert_str_eq(sb_weights_source(w), "f32.safetensors (F32, mmap)");
	ck_assert_uint_eq(sb_weights_file_bytes(w), 12496);
	ck_assert_uint_eq(sb_weights_count(w), 20);
	ck_assert_ptr_null(sb_weights_name(w, 20));
	ck_assert_ptr_null(sb_weights_at(w, 20));
	sb_weights_close(&w);
	ck_assert_ptr_null(w);
	sb_weights_close(&w);   /* no-op on NULL */

	w = open_fixture("good", "f16.safetensors");
	ck_assert_str_eq(sb_weights_source(w), "f16.safetensors (F16, converted to F32)");
	sb_weights_close(&w);
	/* torch.save aligns storages to 64 bytes: used in place. */
	w = open_fixture("good", "f32.bin");
	ck_assert_str_eq(sb_weights_source(w), "f32.bin (F32, mmap)");
	sb_weights_close(&w);
	/* Data 2 bytes off alignment: the first F32 tensor is copied, the last is not. */
	w = open_fixture("good", "unaligned.safetensors");
	ck_assert_str_eq(sb_weights_source(w), "unaligned.safetensors (F32+F16, mmap, 2 tensors "
			 "copied)");
	sb_weights_close(&w);
}
END_TEST

/* Integer buffers are listed but are not weights; empty and 0-d tensors are fine. */
START_TEST(test_non_float_tensors)
{
	struct sb_weights *w = open_fixture("good", "mixed.safetensors");
	struct sb_weights_item it;
	const struct sb_tensor *t;
	struct sb_error err = { 0 };
	size_t shape[2] = { 1, 16 };

	ck_assert_uint_eq(sb_weights_count_all(w), 5);
	ck_assert_uint_eq(sb_weights_count(w), 4);
	ck_assert_int_eq(sb_weights_item(w, 0, &it), SB_OK);
	ck_assert_str_eq(it.name, "embeddings.position_ids");
	ck_assert_str_eq(it.file_dtype, "I64");
	ck_assert_ptr_null(it.tensor);
	ck_assert_uint_eq(it.file_nbytes, 128);
	ck_assert_int_eq(sb_weights_item(w, 5, &it), SB_EINVAL);
	ck_assert_ptr_null(sb_weights_get(w, "embeddings.position_ids"));
	ck_assert_int_eq(sb_weights_require(w, "embeddings.position_ids", 2, shape, &t, &err),
			 SB_EUNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(err.msg, "tensor 'embeddings.position_ids' has dtype I64"));

	t = sb_weights_get(w, "empty");
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(sb_tensor_numel(t), 0);
	t = sb_weights_get(w, "scalar");
	ck_assert_int_eq(t->n_dims, 0);
	ck_assert(((const float *)t->data)[0] == 0.5f);
	sb_weights_close(&w);

	w = open_fixture("good", "statedict.bin");
	ck_assert_uint_eq(sb_weights_count_all(w), 10);
	ck_assert_uint_eq(sb_weights_count(w), 9);
	for (size_t i = 0; i < sb_weights_count_all(w); i++) {
		ck_assert_int_eq(sb_weights_item(w, i, &it), SB_OK);
		if (strcmp(it.name, "position_ids") == 0) {
			ck_assert_str_eq(it.file_dtype, "I64");
			ck_assert_ptr_null(it.tensor);
		}
	}
	sb_weights_close(&w);
}
END_TEST

START_TEST(test_find_and_require)
{
	struct sb_weights *w = open_fixture("good", "prefix-heads.safetensors");
	struct sb_error err = { 0 };
	const struct sb_tensor *t, *u;
	size_t ok[2] = { 16, 16 }, wrong[2] = { 16, 8 };

	/* Stored as distilbert.*: found with and without the prefix. */
	ck_assert_ptr_null(sb_weights_get(w, "embeddings.word_embeddings.weight"));
	t = sb_weights_find(w, "embeddings.word_embeddings.weight");
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_eq(t, sb_weights_get(w, "distilbert.embeddings.word_embeddings.weight"));
	ck_assert_ptr_eq(t, sb_weights_find(w, "distilbert.embeddings.word_embeddings.weight"));
	ck_assert_ptr_eq(t, sb_weights_find(w, "bert.embeddings.word_embeddings.weight"));
	/* Legacy LayerNorm names map onto the new ones. */
	ck_assert_ptr_eq(sb_weights_find(w, "embeddings.LayerNorm.gamma"),
			 sb_weights_get(w, "distilbert.embeddings.LayerNorm.weight"));
	ck_assert_ptr_eq(sb_weights_find(w, "embeddings.LayerNorm.beta"),
			 sb_weights_get(w, "distilbert.embeddings.LayerNorm.bias"));
	ck_assert_ptr_null(sb_weights_find(w, "embeddings.nothing.weight"));
	ck_assert_ptr_nonnull(sb_weights_get(w, "vocab_projector.bias"));   /* extra head */

	ck_assert_int_eq(sb_weights_require(w, "transformer.layer.0.attention.q_lin.weight", 2, ok,
					    &u, &err), SB_OK);
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(sb_weights_require(w, "transformer.layer.0.attention.q_lin.weight", 2,
					    wrong, &u, &err), SB_EMISMATCH);
	ck_assert_ptr_null(u);
	ck_assert_ptr_nonnull(
	    strstr(err.msg, "prefix-heads.safetensors: tensor "
			    "'transformer.layer.0.attention.q_lin.weight': shape [16, 16], "
			    "expected [16, 8]"));
	ck_assert_int_eq(sb_weights_require(w, "transformer.layer.7.ffn.lin1.weight", -1, NULL,
					    &u, &err), SB_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "'transformer.layer.7.ffn.lin1.weight' not found"));
	sb_weights_close(&w);

	/* A state dict with gamma/beta spellings, asked for with the new ones. */
	w = open_fixture("good", "mixed.safetensors");
	t = sb_weights_find(w, "LayerNorm.weight");
	ck_assert_ptr_nonnull(t);
	ck_assert(((const float *)t->data)[1] == 2.0f);
	t = sb_weights_find(w, "bert.LayerNorm.bias");
	ck_assert_ptr_nonnull(t);
	ck_assert(((const float *)t->data)[0] == 3.0f);
	sb_weights_close(&w);

	/* BERT names with the bert. prefix. */
	w = open_fixture("good", "bert-prefix-heads.bin");
	ck_assert_ptr_nonnull(sb_weights_find(w, "encoder.layer.0.attention.self.query.weight"));
	ck_assert_ptr_nonnull(sb_weights_find(w, "embeddings.token_type_embeddings.weight"));
	ck_assert_ptr_nonnull(sb_weights_get(w, "cls.predictions.bias"));
	sb_weights_close(&w);
}
END_TEST

static void copy_file(const char *from, const char *to)
{
	struct sb_buf b;
	struct sb_error err = { 0 };
	FILE *f;

	sb_buf_init(&b);
	ck_assert_int_eq(sb_file_read(from, 1 << 24, &b, &err), SB_OK);
	f = fopen(to, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(b.data, 1, b.len, f), b.len);
	fclose(f);
	sb_buf_destroy(&b);
}

START_TEST(test_open_folder)
{
	char dir[] = "/tmp/sb-check-weights.XXXXXX", p[2048], q[2048];
	struct sb_weights *w = NULL;
	struct sb_error err = { 0 };

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(sb_weights_open(&w, dir, &err), SB_ENOTFOUND);
	ck_assert_ptr_null(w);
	ck_assert_ptr_nonnull(strstr(err.msg, "no model.safetensors or pytorch_model.bin"));

	snprintf(p, sizeof(p), "%s/good/f32.bin", fixtures);
	snprintf(q, sizeof(q), "%s/pytorch_model.bin", dir);
	copy_file(p, q);
	ck_assert_int_eq(sb_weights_open(&w, dir, &err), SB_OK);
	ck_assert_str_eq(sb_weights_source(w), "pytorch_model.bin (F32, mmap)");
	sb_weights_close(&w);

	/* model.safetensors wins over pytorch_model.bin. */
	snprintf(p, sizeof(p), "%s/good/bf16.safetensors", fixtures);
	snprintf(q, sizeof(q), "%s/model.safetensors", dir);
	copy_file(p, q);
	ck_assert_int_eq(sb_weights_open(&w, dir, &err), SB_OK);
	ck_assert_str_eq(sb_weights_source(w), "model.safetensors (BF16, converted to F32)");
	sb_weights_close(&w);

	/* A broken preferred file is an error, not a silent fallback. */
	snprintf(p, sizeof(p), "%s/bad/st-gap.safetensors", fixtures);
	copy_file(p, q);
	ck_assert_int_eq(sb_weights_open(&w, dir, &err), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "model.safetensors: tensor 'b'"));

	unlink(q);
	snprintf(q, sizeof(q), "%s/pytorch_model.bin", dir);
	unlink(q);
	snprintf(q, sizeof(q), "%s/model.safetensors.index.json", dir);
	copy_file(p, q);
	ck_assert_int_eq(sb_weights_open(&w, dir, &err), SB_EUNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(err.msg, "sharded"));
	unlink(q);
	rmdir(dir);

	ck_assert_int_eq(sb_weights_open_file(&w, "/nonexistent/model.safetensors", &err),
			 SB_ENOTFOUND);
	ck_assert_int_eq(sb_weights_open_file(&w, fixtures, &err), SB_EINVAL);
}
END_TEST

static int status_code(const char *s)
{
	static const struct { const char *name; int code; } codes[] = {
		{ "EFORMAT", SB_EFORMAT }, { "ETRUNCATED", SB_ETRUNCATED },
		{ "ELIMIT", SB_ELIMIT }, { "EUNSUPPORTED", SB_EUNSUPPORTED },
		{ "ENOTFOUND", SB_ENOTFOUND },
	};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(s, codes[i].name) == 0)
			return codes[i].code;
	ck_abort_msg("unknown status %s", s);
	return 0;
}

/* Every broken file: the expected status, a message naming the problem, nothing leaked. */
START_TEST(test_bad_files)
{
	char path[2048], line[1024];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/bad/EXPECTED", fixtures);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char file[256], status[32], *msg;
		struct sb_error err = { 0 };
		struct sb_weights *w = (struct sb_weights *)(void *)&err;
		int off = 0;

		if (line[0] == '#')
			continue;
		line[strcspn(line, "\n")] = 0;
		ck_assert_int_eq(sscanf(line, "%255s %31s %n", file, status, &off), 2);
		msg = line + off;
		snprintf(path, sizeof(path), "%s/bad/%s", fixtures, file);
		int rc = sb_weights_open_file(&w, path, &err);
		ck_assert_msg(rc == status_code(status), "%s: rc %d (%s), expected %s: %s", file,
			      rc, sb_strerror(rc), status, err.msg);
		ck_assert_ptr_null(w);
		ck_assert_msg(strstr(err.msg, msg) != NULL, "%s: message '%s' lacks '%s'", file,
			      err.msg, msg);
		ck_assert_msg(strstr(err.msg, file) != NULL, "%s: message '%s' does not name the "
			      "file", file, err.msg);
		ck_assert_msg(strchr(err.msg, '\n') == NULL, "%s: message has a newline", file);
		n++;
	}
	fclose(f);
	ck_assert_uint_ge(n, 60);
}
END_TEST

static Suite *weights_suite(void)
{
	Suite *s = suite_create("weights");
	TCase *tc = tcase_create("weights");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_expected_values);
	tcase_add_test(tc, test_f16_bf16_rounding);
	tcase_add_test(tc, test_bin_equals_safetensors);
	tcase_add_test(tc, test_source_and_sizes);
	tcase_add_test(tc, test_non_float_tensors);
	tcase_add_test(tc, test_find_and_require);
	tcase_add_test(tc, test_open_folder);
	tcase_add_test(tc, test_bad_files);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(weights_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
