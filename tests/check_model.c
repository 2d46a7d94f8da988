/*
 * check_model.c - unit tests for lib/model.c and the encode stage: config parsing,
 * the packed forward pass's invariants (batching, padding, sub-batches, masks with
 * holes), every input error, bad model folders, and the stage run in-process.
 * Agreement with PyTorch is tested by tests/30-encode.sh against goldens.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frame.h"
#include "model.h"
#include "model_mpnet.h"
#include "stage.h"

extern const struct sb_stage sb_stage_encode;

static char distil[4096], bert[4096], tmpdir[256];

static void setup_paths(void)
{
	const char *src = getenv("SB_SRCDIR");

	snprintf(distil, sizeof(distil), "%s/tests/models/tiny-distilbert", src ? src : ".");
	snprintf(bert, sizeof(bert), "%s/tests/models/tiny-bert", src ? src : ".");
}

static struct sb_model *open_ok(const char *dir, size_t max_batch_tokens)
{
	struct sb_model_opts o;
	struct sb_model *m = NULL;
	struct sb_error err;

	sb_model_opts_init(&o);
	o.max_batch_tokens = max_batch_tokens;
	ck_assert_msg(sb_model_open(&m, dir, &o, &err) == SB_OK, "%s: %s", dir, err.msg);
	return m;
}

/* Builds [rows, seq] int64 tensors from rows of ids (0-terminated lists, -1 = pad). */
static void make_batch(struct sb_tensor *ids, struct sb_tensor *mask, size_t rows, size_t seq,
		       const int64_t *v)
{
	size_t shape[2] = { rows, seq };

	ck_assert_int_eq(sb_tensor_alloc(ids, SB_DTYPE_I64, 2, shape, NULL), SB_OK);
	ck_assert_int_eq(sb_tensor_alloc(mask, SB_DTYPE_I64, 2, shape, NULL), SB_OK);
	for (size_t i = 0; i < rows * seq; i++) {
		((int64_t *)ids->data)[i] = v[i] < 0 ? 0 : v[i];
		((int64_t *)mask->data)[i] = v[i] >= 0;
	}
}

START_TEST(test_config)
{
	struct sb_model *m = open_ok(distil, 0);
	const struct sb_model_config *c = sb_model_config(m);

	ck_assert_int_eq(c->arch, SB_ARCH_DISTILBERT);
	ck_assert_str_eq(c->model_type, "distilbert");
	ck_assert_uint_eq(c->dim, 32);
	ck_assert_uint_eq(c->n_layers, 2);
	ck_assert_uint_eq(c->n_heads, 4);
	ck_assert_uint_eq(c->dim_head, 8);
	ck_assert_uint_eq(c->dim_ffn, 64);
	ck_assert_uint_eq(c->vocab_size, 914);
	ck_assert_uint_eq(c->max_pos, 128);
	ck_assert_uint_eq(c->type_vocab_size, 0);
	ck_assert_int_eq(c->act, SB_ACT_GELU);
	ck_assert(strncmp(sb_model_fingerprint(m), "fnv1a64:", 8) == 0);
	ck_assert_uint_eq(strlen(sb_model_fingerprint(m)), 8 + 16);
	ck_assert(strstr(sb_model_weights_source(m), "model.safetensors") != NULL);
	ck_assert(sb_model_weights_bytes(m) > 100000);
	ck_assert(fabs(sb_model_flops_per_token(m) - 2.0 * 2 * (4 * 32 * 32 + 2 * 32 * 64)) < 1);
	sb_model_close(&m);
	ck_assert(m == NULL);
	sb_model_close(&m);

	m = open_ok(bert, 0);
	c = sb_model_config(m);
	ck_assert_int_eq(c->arch, SB_ARCH_BERT);
	ck_assert_uint_eq(c->dim, 24);
	ck_assert_uint_eq(c->n_layers, 3);
	ck_assert_uint_eq(c->type_vocab_size, 2);
	ck_assert(fabsf(c->eps - 1e-12f) < 1e-15f);
	sb_model_close(&m);
}
END_TEST

static double max_diff(const float *a, const float *b, size_t n)
{
	double d = 0;

	for (size_t i = 0; i < n; i++)
		d = fmax(d, fabs((double)a[i] - b[i]));
	return d;
}

START_TEST(test_packing)
{
	/* Three rows padded to 9; each row alone, unpadded, must give the same states. */
	static const int64_t v[3 * 9] = {
		2, 47, 425, 130, 780, 189, 777, 18, 3,
		2, 60, 61, 3, -1, -1, -1, -1, -1,
		2, 100, 200, 300, 3, -1, -1, -1, -1,
	};
	static const size_t lens[3] = { 9, 4, 5 };
	struct sb_model *m = open_ok(distil, 0), *small = open_ok(distil, 3);
	struct sb_tensor ids, mask, ids1, mask1;
	struct sb_error err;
	size_t D = 32, n;
	float *h = malloc(3 * 9 * D * sizeof(float)), *h2 = malloc(3 * 9 * D * sizeof(float));
	const size_t *pos;

	make_batch(&ids, &mask, 3, 9, v);
	ck_assert_int_eq(sb_model_forward(m, &ids, &mask, NULL, &err), SB_OK);
	ck_assert_uint_eq(sb_model_rows(m), 3);
	ck_assert_uint_eq(sb_model_seq(m), 9);
	ck_assert_uint_eq(sb_model_tokens(m), 18);
	sb_model_hidden(m, h);
	for (size_t r = 0; r < 3; r++) {
		for (size_t p = lens[r]; p < 9; p++)
			for (size_t j = 0; j < D; j++)
				ck_assert(h[(r * 9 + p) * D + j] == 0.0f);
		const float *row = sb_model_row(m, r, &n, &pos);
		ck_assert_uint_eq(n, lens[r]);
		ck_assert_uint_eq(pos[n - 1], n - 1);
		ck_assert(max_diff(row, h + r * 9 * D, n * D) == 0.0);
	}
	/* Sub-batches of at most 3 tokens (rows run alone) give the same result. */
	ck_assert_int_eq(sb_model_forward(small, &ids, &mask, NULL, &err), SB_OK);
	sb_model_hidden(small, h2);
	ck_assert_msg(max_diff(h, h2, 3 * 9 * D) < 1e-5, "%g", max_diff(h, h2, 3 * 9 * D));
	/* Each row alone, without padding. */
	for (size_t r = 0; r < 3; r++) {
		make_batch(&ids1, &mask1, 1, lens[r], v + r * 9);
		ck_assert_int_eq(sb_model_forward(m, &ids1, &mask1, NULL, &err), SB_OK);
		sb_model_hidden(m, h2);
		ck_assert(max_diff(h + r * 9 * D, h2, lens[r] * D) < 1e-5);
		sb_tensor_destroy(&ids1);
		sb_tensor_destroy(&mask1);
	}
	/* Token type ids are ignored by DistilBERT. */
	sb_tensor_destroy(&ids);
	sb_tensor_destroy(&mask);
	sb_model_close(&m);
	sb_model_close(&small);
	free(h);
	free(h2);
}
END_TEST

static struct sb_model *open_threads(const char *dir, size_t max_batch_tokens, int threads)
{
	struct sb_model_opts o;
	struct sb_model *m = NULL;
	struct sb_error err;

	sb_model_opts_init(&o);
	o.max_batch_tokens = max_batch_tokens;
	o.threads = threads;
	ck_assert_msg(sb_model_open(&m, dir, &o, &err) == SB_OK, "%s: %s", dir, err.msg);
	return m;
}

/*
 * A thread team gives the states of one thread: batches split by rows (many rows),
 * by columns (one row, or fewer rows than threads), with sub-batches, for both
 * architectures.  Values may differ in the last bits only where a product of few
 * rows takes the small-m kernel instead of BLAS.
 */
START_TEST(test_threads)
{
	static const size_t row_counts[] = { 1, 2, 3, 40 };
	static const int teams[] = { 2, 3, 5 };
	const char *dirs[2] = { distil, bert };
	size_t D[2] = { 32, 24 }, seq = 40;
	unsigned seed = 12345;

	for (size_t d = 0; d < 2; d++) {
		struct sb_model *one = open_threads(dirs[d], 0, 1);
		for (size_t rc = 0; rc < sizeof(row_counts) / sizeof(row_counts[0]); rc++) {
			size_t rows = row_counts[rc];
			int64_t *v = malloc(rows * seq * sizeof(int64_t));
			struct sb_tensor ids, mask;
			struct sb_error err;
			float *want = malloc(rows * seq * D[d] * sizeof(float));
			float *got = malloc(rows * seq * D[d] * sizeof(float));

			for (size_t r = 0; r < rows; r++) {
				size_t len = 1 + (seed = seed * 1103515245u + 12345u) % seq;
				for (size_t p = 0; p < seq; p++)
					v[r * seq + p] = p < len ?
						(int64_t)((seed = seed * 1103515245u + 12345u) % 900)
						: -1;
			}
			make_batch(&ids, &mask, rows, seq, v);
			ck_assert_int_eq(sb_model_forward(one, &ids, &mask, NULL, &err), SB_OK);
			sb_model_hidden(one, want);
			/* Every product through BLAS (weights not packed): the same states. */
			{
				struct sb_model_opts o;
				struct sb_model *m = NULL;
				sb_model_opts_init(&o);
				o.pack = 0;
				ck_assert_int_eq(sb_model_open(&m, dirs[d], &o, &err), SB_OK);
				ck_assert_int_eq(sb_model_forward(m, &ids, &mask, NULL, &err),
						 SB_OK);
				sb_model_hidden(m, got);
				ck_assert_msg(max_diff(want, got, rows * seq * D[d]) < 1e-5,
					      "%s rows %zu unpacked: %g", dirs[d], rows,
					      max_diff(want, got, rows * seq * D[d]));
				sb_model_close(&m);
			}
			for (size_t t = 0; t < sizeof(teams) / sizeof(teams[0]); t++) {
				for (size_t budget = 0; budget <= 37; budget += 37) {
					struct sb_model *m = open_threads(dirs[d], budget, teams[t]);
					ck_assert_int_eq(sb_model_forward(m, &ids, &mask, NULL, &err),
							 SB_OK);
					ck_assert_uint_eq(sb_model_tokens(m), sb_model_tokens(one));
					sb_model_hidden(m, got);
					ck_assert_msg(max_diff(want, got, rows * seq * D[d]) < 1e-5,
						      "%s rows %zu threads %d budget %zu: %g",
						      dirs[d], rows, teams[t], budget,
						      max_diff(want, got, rows * seq * D[d]));
					/* Again: the team is reused. */
					ck_assert_int_eq(sb_model_forward(m, &ids, &mask, NULL, &err),
							 SB_OK);
					sb_model_hidden(m, got);
					ck_assert(max_diff(want, got, rows * seq * D[d]) < 1e-5);
					sb_model_close(&m);
				}
			}
			sb_tensor_destroy(&ids);
			sb_tensor_destroy(&mask);
			free(v);
			free(want);
			free(got);
		}
		sb_model_close(&one);
	}
	/* A team too large is refused by name. */
	{
		struct sb_model_opts o;
		struct sb_model *m = NULL;
		struct sb_error err;
		sb_model_opts_init(&o);
		o.threads = 100000;
		ck_assert_int_eq(sb_model_open(&m, distil, &o, &err), SB_EINVAL);
		ck_assert_ptr_null(m);
		ck_assert_msg(strstr(err.msg, "100000 threads") != NULL, "%s", err.msg);
	}
}
END_TEST

START_TEST(test_mask_holes)
{
	/* A masked token in the middle: its id must not matter, the others keep their
	 * positions (2 and 3 here, for the position embeddings). */
	static const int64_t a[6] = { 2, 47, -1, 425, 3, -1 };
	int64_t b[6] = { 2, 47, 0, 425, 3, 0 };
	struct sb_model *m = open_ok(distil, 0);
	struct sb_tensor ids, mask;
	struct sb_error err;
	float ha[6 * 32], hb[6 * 32];
	const size_t *pos;
	size_t n;

	make_batch(&ids, &mask, 1, 6, a);
	ck_assert_int_eq(sb_model_forward(m, &ids, &mask, NULL, &err), SB_OK);
	sb_model_row(m, 0, &n, &pos);
	ck_assert_uint_eq(n, 4);
	ck_assert(pos[0] == 0 && pos[1] == 1 && pos[2] == 3 && pos[3] == 4);
	sb_model_hidden(m, ha);
	((int64_t *)ids.data)[2] = 777;
	ck_assert_int_eq(sb_model_forward(m, &ids, &mask, NULL, &err), SB_OK);
	sb_model_hidden(m, hb);
	ck_assert(max_diff(ha, hb, 6 * 32) == 0.0);
	for (size_t j = 0; j < 32; j++)
		ck_assert(ha[2 * 32 + j] == 0.0f);
	/* Without the hole the states differ (positions shift). */
	sb_tensor_destroy(&ids);
	sb_tensor_destroy(&mask);
	b[2] = 425;
	b[3] = 3;
	b[4] = -1;
	make_batch(&ids, &mask, 1, 6, b);
	ck_assert_int_eq(sb_model_forward(m, &ids, &mask, NULL, &err), SB_OK);
	sb_model_hidden(m, hb);
	ck_assert(max_diff(ha + 3 * 32, hb + 2 * 32, 32) > 1e-3);
	sb_tensor_destroy(&ids);
	sb_tensor_destroy(&mask);
	sb_model_close(&m);
}
END_TEST

START_TEST(test_token_types)
{
	static const int64_t v[5] = { 2, 47, 3, 60, 3 };
	struct sb_model *m = open_ok(bert, 0);
	struct sb_tensor ids, mask, types;
	struct sb_error err;
	size_t shape[2] = { 1, 5 };
	float h0[5 * 24], h1[5 * 24];

	make_batch(&ids, &mask, 1, 5, v);
	ck_assert_int_eq(sb_tensor_alloc(&types, SB_DTYPE_I32, 2, shape, NULL), SB_OK);
	ck_assert_int_eq(sb_model_forward(m, &ids, &mask, &types, &err), SB_OK);
	sb_model_hidden(m, h0);
	ck_assert_int_eq(sb_model_forward(m, &ids, &mask, NULL, &err), SB_OK);
	sb_model_hidden(m, h1);
	ck_assert(max_diff(h0, h1, 5 * 24) == 0.0);     /* absent = zeros */
	((int32_t *)types.data)[3] = 1;
	((int32_t *)types.data)[4] = 1;
	ck_assert_int_eq(sb_model_forward(m, &ids, &mask, &types, &err), SB_OK);
	sb_model_hidden(m, h1);
	ck_assert(max_diff(h0, h1, 5 * 24) > 1e-3);
	((int32_t *)types.data)[4] = 2;
	ck_assert_int_eq(sb_model_forward(m, &ids, &mask, &types, &err), SB_EINVAL);
	ck_assert_str_eq(err.msg, "row 0, position 4: token type 2 out of range "
			 "(type_vocab_size 2)");
	sb_tensor_destroy(&ids);
	sb_tensor_destroy(&mask);
	sb_tensor_destroy(&types);
	sb_model_close(&m);
}
END_TEST

START_TEST(test_input_errors)
{
	static const int64_t v[4] = { 2, 914, 3, -1 };
	struct sb_model *m = open_ok(distil, 0);
	struct sb_tensor ids, mask, bad, longids, longmask;
	struct sb_error err;
	size_t shape[2] = { 1, 3 }, lshape[2] = { 1, 129 };

	make_batch(&ids, &mask, 2, 2, v);
	ck_assert_int_eq(sb_model_forward(m, &ids, &mask, NULL, &err), SB_EINVAL);
	ck_assert_str_eq(err.msg, "row 0, position 1: token id 914 out of range (vocab_size 914)");
	((int64_t *)ids.data)[1] = -5;
	ck_assert_int_eq(sb_model_forward(m, &ids, &mask, NULL, &err), SB_EINVAL);
	ck_assert(strstr(err.msg, "token id -5 out of range") != NULL);
	ck_assert_uint_eq(sb_model_rows(m), 0);
	((int64_t *)ids.data)[1] = 5;
	ck_assert_int_eq(sb_model_forward(m, &ids, NULL, NULL, &err), SB_EFORMAT);
	ck_assert(strstr(err.msg, "'attention_mask' is missing") != NULL);
	ck_assert_int_eq(sb_tensor_alloc(&bad, SB_DTYPE_I64, 2, shape, NULL), SB_OK);
	ck_assert_int_eq(sb_model_forward(m, &ids, &bad, NULL, &err), SB_EFORMAT);
	ck_assert_str_eq(err.msg, "tensor 'attention_mask': shape [1, 3], expected [2, 2]");
	ck_assert_int_eq(sb_model_forward(m, &ids, &mask, &bad, &err), SB_EFORMAT);
	ck_assert(strstr(err.msg, "'token_type_ids'") != NULL);
	sb_tensor_destroy(&bad);
	ck_assert_int_eq(sb_tensor_alloc(&bad, SB_DTYPE_F32, 2, shape, NULL), SB_OK);
	ck_assert_int_eq(sb_model_forward(m, &bad, &mask, NULL, &err), SB_EFORMAT);
	ck_assert_str_eq(err.msg, "tensor 'input_ids': dtype float32, expected int64 or int32");
	sb_tensor_destroy(&bad);

	/* 129 tokens, 128 positions; the same with the last one masked is fine. */
	ck_assert_int_eq(sb_tensor_alloc(&longids, SB_DTYPE_I64, 2, lshape, NULL), SB_OK);
	ck_assert_int_eq(sb_tensor_alloc(&longmask, SB_DTYPE_I64, 2, lshape, NULL), SB_OK);
	for (size_t i = 0; i < 129; i++) {
		((int64_t *)longids.data)[i] = 47;
		((int64_t *)longmask.data)[i] = 1;
	}
	ck_assert_int_eq(sb_model_forward(m, &longids, &longmask, NULL, &err), SB_ELIMIT);
	ck_assert_str_eq(err.msg, "row 0: token at position 128, past max_position_embeddings "
			 "128 (sequence too long)");
	((int64_t *)longmask.data)[128] = 0;
	ck_assert_int_eq(sb_model_forward(m, &longids, &longmask, NULL, &err), SB_OK);
	ck_assert_uint_eq(sb_model_tokens(m), 128);

	/* An empty batch and a row with no real token. */
	((int64_t *)mask.data)[0] = 0;
	((int64_t *)mask.data)[1] = 0;
	ck_assert_int_eq(sb_model_forward(m, &ids, &mask, NULL, &err), SB_OK);
	ck_assert_uint_eq(sb_model_tokens(m), 1);
	sb_tensor_destroy(&ids);
	sb_tensor_destroy(&mask);
	sb_tensor_destroy(&longids);
	sb_tensor_destroy(&longmask);
	sb_model_close(&m);
}
END_TEST

/* Writes a model folder in tmpdir/name: config text + a link to tiny-distilbert's weights. */
static const char *fake_model(const char *name, const char *config)
{
	static char dir[512];
	char path[600], target[4200];
	FILE *fp;

	snprintf(dir, sizeof(dir), "%s/%s", tmpdir, name);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	fp = fopen(path, "w");
	ck_assert(fp != NULL);
	fputs(config, fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/model.safetensors", dir);
	snprintf(target, sizeof(target), "%s/model.safetensors", distil);
	if (target[0] != '/') {
		char cwd[2048];
		ck_assert(getcwd(cwd, sizeof(cwd)) != NULL);
		snprintf(target, sizeof(target), "%s/%s/model.safetensors", cwd, distil);
	}
	unlink(path);
	ck_assert_int_eq(symlink(target, path), 0);
	return dir;
}

static void open_fails(const char *dir, int code, const char *want)
{
	struct sb_model *m = (struct sb_model *)1;
	struct sb_error err;

	ck_assert_msg(sb_model_open(&m, dir, NULL, &err) == code, "%s: %s", dir, err.msg);
	if (code == SB_OK) {
		sb_model_close(&m);
		return;
	}
	ck_assert(m == NULL);
	ck_assert_msg(strstr(err.msg, want) != NULL, "got '%s', want '%s'", err.msg, want);
}

/* The reader returns the first of repeated members, so 'extra' overrides what follows. */
#define DISTIL_CFG(extra) "{" extra "\"model_type\": \"distilbert\", \"dim\": 32, " \
	"\"n_layers\": 2, " \
	"\"n_heads\": 4, \"hidden_dim\": 64, \"max_position_embeddings\": 128, " \
	"\"vocab_size\": 914}"

START_TEST(test_bad_models)
{
	open_fails("/nonexistent/model", SB_ENOTFOUND, "/nonexistent/model/config.json: ");
	open_fails(fake_model("ok", DISTIL_CFG("")), SB_OK, "");
	open_fails(fake_model("arch", "{\"architectures\": [\"DebertaV2Model\"]}"),
		   SB_EUNSUPPORTED, "architecture 'DebertaV2Model' is not supported");
	open_fails(fake_model("type", "{\"model_type\": \"gpt2\"}"), SB_EUNSUPPORTED,
		   "model_type 'gpt2' is not supported (distilbert, bert, roberta, xlm-roberta, "
		   "camembert, mpnet, modernbert)");
	/* The RoBERTa family: recognized by model_type or by class name, then bound with
	 * BERT's names (here the DistilBERT file has none of them). */
	open_fails(fake_model("xlmr-arch", "{\"architectures\": [\"XLMRobertaModel\"], "
			      "\"hidden_size\": 32, \"num_attention_heads\": 4, "
			      "\"max_position_embeddings\": 128}"),
		   SB_ENOTFOUND, "tensor 'embeddings.token_type_embeddings.weight' not found "
		   "(also tried the distilbert./bert./roberta. prefixes");
	open_fails(fake_model("camembert", "{\"model_type\": \"camembert\", \"hidden_size\": 32, "
			      "\"num_attention_heads\": 4, "
			      "\"max_position_embeddings\": 128, \"vocab_size\": 914}"),
		   SB_ENOTFOUND, "tensor 'embeddings.token_type_embeddings.weight' not found");
	/* ModernBERT: recognized by class name, its own tensor names, its own fields. */
	open_fails(fake_model("mbert-arch", "{\"architectures\": [\"ModernBertModel\"], "
			      "\"hidden_size\": 32, \"num_attention_heads\": 4, "
			      "\"vocab_size\": 914}"),
		   SB_ENOTFOUND, "tensor 'embeddings.tok_embeddings.weight' not found");
	open_fails(fake_model("mbert-theta", "{\"model_type\": \"modernbert\", "
			      "\"global_rope_theta\": -1}"),
		   SB_EFORMAT, "config.json: 'global_rope_theta' is -1, expected a positive number");
	open_fails(fake_model("mbert-rope", "{\"model_type\": \"modernbert\", "
			      "\"rope_parameters\": {\"sliding_attention\": "
			      "{\"rope_type\": \"yarn\"}}}"),
		   SB_EUNSUPPORTED, "config.json: rope_parameters.sliding_attention.rope_type "
		   "'yarn' is not supported (default)");
	open_fails(fake_model("roberta-pad", "{\"model_type\": \"roberta\", "
			      "\"max_position_embeddings\": 128, \"pad_token_id\": 127}"),
		   SB_EFORMAT, "config.json: 'pad_token_id' is 127: position ids start at 128, "
		   "past max_position_embeddings 128");
	open_fails(fake_model("roberta-pad-neg", "{\"model_type\": \"roberta\", "
			      "\"pad_token_id\": -1}"),
		   SB_EFORMAT, "'pad_token_id' is -1");
	open_fails(fake_model("roberta-rel", "{\"model_type\": \"xlm-roberta\", "
			      "\"position_embedding_type\": \"relative_key_query\"}"),
		   SB_EUNSUPPORTED, "position_embedding_type 'relative_key_query' is not "
		   "supported");
	open_fails(fake_model("none", "{}"), SB_EFORMAT, "no 'model_type' and no 'architectures'");
	open_fails(fake_model("array", "[1]"), SB_EFORMAT, "not a JSON object");
	open_fails(fake_model("neg", DISTIL_CFG("\"dim\": -32, ")), SB_EFORMAT,
		   "'dim' is -32, expected 1 to 16384");
	open_fails(fake_model("str", DISTIL_CFG("\"n_layers\": \"2\", ")), SB_EFORMAT, "n_layers");
	open_fails(fake_model("act", DISTIL_CFG("\"activation\": \"swish\", ")), SB_EUNSUPPORTED,
		   "activation 'swish' is not supported");
	open_fails(fake_model("vocab", DISTIL_CFG("\"vocab_size\": 30522, ")), SB_EMISMATCH,
		   "tensor 'embeddings.word_embeddings.weight': shape [914, 32], expected "
		   "[30522, 32]");
	open_fails(fake_model("layers", DISTIL_CFG("\"n_layers\": 3, ")), SB_ENOTFOUND,
		   "tensor 'transformer.layer.2.attention.q_lin.weight' not found");
	open_fails(fake_model("pos", DISTIL_CFG("\"max_position_embeddings\": 512, ")),
		   SB_EMISMATCH, "expected [512, 32]");
	open_fails(fake_model("bertcfg", "{\"model_type\": \"bert\", \"hidden_size\": 32, "
			      "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
			      "\"intermediate_size\": 64, \"max_position_embeddings\": 128, "
			      "\"vocab_size\": 914}"),
		   SB_ENOTFOUND, "tensor 'embeddings.token_type_embeddings.weight' not found");
	open_fails(fake_model("rel", "{\"model_type\": \"bert\", \"position_embedding_type\": "
			      "\"relative_key\"}"),
		   SB_EUNSUPPORTED, "position_embedding_type 'relative_key' is not supported");
	open_fails(fake_model("eps", "{\"model_type\": \"bert\", \"layer_norm_eps\": -1}"),
		   SB_EFORMAT, "'layer_norm_eps' is -1");
	/* Old configs without vocab_size take it from the table. */
	open_fails(fake_model("novocab", "{\"model_type\": \"distilbert\", \"dim\": 32, "
			      "\"n_layers\": 2, \"n_heads\": 4, \"hidden_dim\": 64, "
			      "\"max_position_embeddings\": 128}"), SB_OK, "");
}
END_TEST

struct capture {
	struct sb_frame f;
	int n;
};

static int capture_frame(void *ctx, const struct sb_frame *f, struct sb_error *err)
{
	struct capture *c = ctx;
	struct sb_buf b;
	int rc;

	/* Round-trip through the codec: the emitted frame must be valid on the wire. */
	sb_buf_init(&b);
	rc = sb_frame_encode(f, &b, err);
	if (!rc)
		rc = sb_frame_decode(b.data, b.len, &c->f, err);
	sb_buf_destroy(&b);
	c->n++;
	return rc;
}

START_TEST(test_stage)
{
	static const int64_t v[2 * 4] = { 2, 47, 425, 3, 2, 60, 3, -1 };
	struct sb_kv opts[] = { { "model", distil }, { "pool", "mean" }, { "threads", "1" } };
	struct sb_kv bad[] = { { "model", distil }, { "colour", "blue" } };
	struct capture cap;
	struct sb_emit emit = { capture_frame, &cap };
	struct sb_frame in;
	struct sb_tensor ids, mask, *t;
	struct sb_error err;
	void *state;
	float h[2 * 4 * 32];

	ck_assert_int_eq(sb_stage_encode.open(&state, bad, 2, &err), SB_EINVAL);
	ck_assert_str_eq(err.msg, "encode: unknown option 'colour'");
	ck_assert_int_eq(sb_stage_encode.open(&state, bad, 0, &err), SB_EINVAL);
	ck_assert(strstr(err.msg, "no model") != NULL);

	sb_frame_init(&in);
	sb_frame_init(&cap.f);
	cap.n = 0;
	in.kind = SB_KIND_TOKENS;
	in.seq = 10;
	in.rows = 2;
	make_batch(&ids, &mask, 2, 4, v);
	ck_assert_int_eq(sb_frame_add_tensor(&in, "input_ids", &ids, &err), SB_OK);
	ck_assert_int_eq(sb_frame_text_alloc(&in, 2, &err), SB_OK);
	ck_assert_int_eq(sb_frame_text_set(&in, 1, "second", 6, &err), SB_OK);
	ck_assert_int_eq(sb_frame_meta_str(&in, "tokenizer", "tok", &err), SB_OK);

	/* Hidden output first. */
	ck_assert_int_eq(sb_stage_encode.open(&state, opts, 1, &err), SB_OK);
	ck_assert_int_eq(sb_stage_encode.process(state, &in, &emit, &err), SB_EFORMAT);
	ck_assert(strstr(err.msg, "no tensor 'attention_mask'") != NULL);
	ck_assert_int_eq(sb_frame_add_tensor(&in, "attention_mask", &mask, &err), SB_OK);
	ck_assert_int_eq(sb_stage_encode.process(state, &in, &emit, &err), SB_OK);
	ck_assert_int_eq(cap.n, 1);
	ck_assert_int_eq(cap.f.kind, SB_KIND_HIDDEN);
	ck_assert_uint_eq(cap.f.seq, 10);
	ck_assert_uint_eq(cap.f.rows, 2);
	t = sb_frame_tensor(&cap.f, "last_hidden_state");
	ck_assert(t && t->n_dims == 3 && t->shape[0] == 2 && t->shape[1] == 4 && t->shape[2] == 32);
	memcpy(h, t->data, sizeof(h));
	t = sb_frame_tensor(&cap.f, "attention_mask");
	ck_assert(t && t->dtype == SB_DTYPE_I64 && ((int64_t *)t->data)[7] == 0 &&
		  ((int64_t *)t->data)[6] == 1);
	ck_assert(cap.f.has_text && strcmp(cap.f.text[1].p, "second") == 0);
	ck_assert_str_eq(sb_frame_meta_get(&cap.f, "tokenizer")->v.s.p, "tok");
	ck_assert_str_eq(sb_frame_meta_get(&cap.f, "model_type")->v.s.p, "distilbert");
	ck_assert_uint_eq(sb_frame_meta_get(&cap.f, "dim")->v.u, 32);
	sb_stage_encode.close(state);

	/* Pooled output: the mean of the hidden rows' real tokens. */
	ck_assert_int_eq(sb_stage_encode.open(&state, opts, 3, &err), SB_OK);
	ck_assert_int_eq(sb_stage_encode.process(state, &in, &emit, &err), SB_OK);
	ck_assert_int_eq(cap.f.kind, SB_KIND_EMBEDDINGS);
	t = sb_frame_tensor(&cap.f, "sentence_embedding");
	ck_assert(t && t->n_dims == 2 && t->shape[0] == 2 && t->shape[1] == 32);
	for (size_t j = 0; j < 32; j++) {
		float m1 = (h[4 * 32 + j] + h[5 * 32 + j] + h[6 * 32 + j]) / 3.0f;
		ck_assert(fabsf(((float *)t->data)[32 + j] - m1) < 1e-5f);
	}
	ck_assert_str_eq(sb_frame_meta_get(&cap.f, "pooling")->v.s.p, "mean");
	/* A hidden frame is refused. */
	ck_assert_int_eq(sb_stage_encode.process(state, &cap.f, &emit, &err), SB_EFORMAT);
	ck_assert_str_eq(err.msg, "expected a tokens frame, got embeddings");
	sb_stage_encode.close(state);
	sb_frame_destroy(&in);
	sb_frame_destroy(&cap.f);
}
END_TEST

/*
 * MPNet's buckets against transformers' relative_position_bucket run in PyTorch 1.13
 * (tests/tools/mpnet-ref.py --buckets) for relative positions -600 .. 600: a key n
 * positions before the query (or the query itself) is in the first bucket whose start
 * is at most n, one n positions after it 16 buckets further.
 */
START_TEST(test_mpnet_buckets)
{
	static const long start[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 23, 32, 46, 64, 91 };

	for (long n = 0; n <= 600; n++) {
		size_t b = 15;
		while (start[b] > n)
			b--;
		ck_assert_uint_eq(sb_mpnet_bucket(-n), b);
		ck_assert_uint_eq(sb_mpnet_bucket(n), n ? 16 + b : 0);
	}
	ck_assert_uint_eq(sb_mpnet_bucket(-100000), 15);
	ck_assert_uint_eq(sb_mpnet_bucket(100000), 31);
}
END_TEST

/* The table by relative position, and its sum into scores with holes in the row. */
START_TEST(test_mpnet_bias)
{
	float bias[32 * 2], tab[2 * 19], s[9] = { 0 };
	size_t pos[3] = { 0, 2, 9 };

	for (int i = 0; i < 64; i++)
		bias[i] = (float)i;     /* bucket b, head h: 2 b + h */
	sb_mpnet_bias_table(bias, 2, 10, tab);
	ck_assert_float_eq(tab[9], 0.0f);                     /* head 0, rel 0 */
	ck_assert_float_eq(tab[19 + 9 + 3], 2.0f * 19 + 1);   /* head 1, rel 3: bucket 19 */
	ck_assert_float_eq(tab[0], 2.0f * 8);                 /* head 0, rel -9: bucket 8 */
	sb_mpnet_add_bias(s, 3, pos, tab + 19, 10);
	ck_assert_float_eq(s[0], 1.0f);                       /* rel 0 */
	ck_assert_float_eq(s[1], 2.0f * 18 + 1);              /* rel 2 */
	ck_assert_float_eq(s[2], 2.0f * 24 + 1);              /* rel 9: bucket 16 + 8 */
	ck_assert_float_eq(s[3], 2.0f * 2 + 1);               /* rel -2 */
	ck_assert_float_eq(s[7], 2.0f * 7 + 1);               /* rel -7 */
}
END_TEST

static Suite *model_suite(void)
{
	Suite *s = suite_create("model");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_config);
	tcase_add_test(tc, test_packing);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_mask_holes);
	tcase_add_test(tc, test_token_types);
	tcase_add_test(tc, test_input_errors);
	tcase_add_test(tc, test_bad_models);
	tcase_add_test(tc, test_mpnet_buckets);
	tcase_add_test(tc, test_mpnet_bias);
	tcase_add_test(tc, test_stage);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;
	char cmd[300];

	setup_paths();
	snprintf(tmpdir, sizeof(tmpdir), "%s/check_model.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	sr = srunner_create(model_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "check_model: could not remove %s\n", tmpdir);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
