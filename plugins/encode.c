/*
 * encode.c - the encode stage: `tokens` frames in, `hidden` frames out (or, with
 * pool=MODES, `embeddings` frames, so the large hidden tensor need not cross a pipe;
 * or, with head=classify, the `scores` of a cross-encoder's classification head).
 *
 * Options (key=value):
 *   model=DIR            the model folder (required)
 *   pool=MODES|model     pool in-process: cls,max,mean,...; "model" reads the modes,
 *                        include_prompt, the modules after Pooling (Dense, LayerNorm)
 *                        and Normalize from the folder's 1_Pooling / modules.json
 *   normalize=0|1        L2-normalize pooled embeddings (default: the model's Normalize
 *                        module with pool=model, else 0)
 *   allow_mixed=0|1      encode tokens frames whose tokenizer_fingerprint is not that
 *                        of the model folder's tokenizer (default 0: refused)
 *   threads=N            threads of the forward pass, each running whole sentences
 *                        with one-thread BLAS (default 1; see model.h)
 *   blas_threads=N       instead: one forward thread, every product through OpenBLAS
 *                        (weights not packed) with N threads
 *   max_batch_tokens=N   real tokens per forward sub-batch and thread (default 2048)
 *   kernels=ISA          auto (default), generic, avx2, avx512
 *   precision=P          f32 (default), bf16, int8: arithmetic of the dense products
 *                        (lowp.h)
 *   lowp_kernels=SET     auto (default), generic, avx_vnni, avx512_vnni, avx512_bf16,
 *                        avx512: forces the kernels of the bf16 / int8 products
 *   fuse_qkv=0|1         one Q|K|V product per layer (default 1)
 *   head=classify        run the model's sequence-classification head (head.h):
 *                        `scores` frames, score float32 [rows] for one label, [rows,
 *                        num_labels] for more; meta labels and activation
 *   logits=0|1           with head: the raw logits instead of CrossEncoder's default
 *                        activation (sigmoid for one label)
 *
 * Tokens frames carry the tokenizer_fingerprint of the tokenizer that made them
 * (sb-tokenize); ids of another vocabulary would index the wrong embeddings, so a
 * frame whose fingerprint differs from the model folder's tokenizer is refused unless
 * allow_mixed=1.  Frames without one (other producers) are accepted and counted
 * (struct sb_encode_report, the stage's report).
 *
 * Hidden frames hold last_hidden_state [rows, seq, dim] float32 with zeros at padded
 * positions (PyTorch computes values there that no pooling uses) and the input's
 * attention_mask as int64.  Texts (and sb-tokenize's per-row 'truncated' flags) are
 * carried through; meta gets model, model_type, model_fingerprint, encode_precision
 * (f32, bf16, int8) and dim (plus pooling, normalized, precision when pooling).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "frame.h"
#include "head.h"
#include "internal.h"
#include "lowp.h"
#include "model.h"
#include "modules.h"
#include "ops.h"
#include "par.h"
#include "pooling.h"
#include "stage.h"
#include "tokenizer.h"

struct encode {
	struct sb_model *model;
	char *model_dir;
	int pool;                       /* output embeddings */
	struct sb_head *head;           /* head=classify: output scores */
	struct sb_pooling pooling;
	struct sb_modules *mods;        /* pool=model: the modules after Pooling */
	char pooling_str[96];
	size_t pooled;                  /* pooled width (pool) */
	size_t full;                    /* width after the modules, before truncation */
	size_t width;                   /* final width (pool) */
	float *scratch;                 /* [seq, dim] padded row for pooling odd masks */
	size_t scratch_cap;
	float *maskf;                   /* [seq] */
	size_t maskf_cap;
	float *pooledv;                 /* [rows, pooled] */
	size_t pooledv_cap;
	int allow_mixed;
	enum sb_lowp precision;         /* of the products */
	int have_fp;                    /* the model folder has a tokenizer */
	char fingerprint[24];           /* its fingerprint, as sb-tokenize writes it */
	struct sb_encode_report report;
	struct sb_frame out;
};

static int grow(float **p, size_t *cap, size_t n, struct sb_error *err)
{
	float *q;

	if (n <= *cap)
		return SB_OK;
	if (n > SIZE_MAX / sizeof(float))
		return sb_error_set(err, SB_ELIMIT, "encode: %zu floats of scratch", n);
	q = realloc(*p, n * sizeof(float));
	if (!q)
		return sb_error_set(err, SB_ENOMEM, "encode: out of memory (%zu floats)", n);
	*p = q;
	*cap = n;
	return SB_OK;
}

static void encode_close(void *state)
{
	struct encode *s = state;

	if (!s)
		return;
	sb_head_close(&s->head);
	sb_model_close(&s->model);
	sb_modules_close(&s->mods);
	free(s->model_dir);
	free(s->scratch);
	free(s->maskf);
	free(s->pooledv);
	sb_frame_destroy(&s->out);
	free(s);
}

/*
 * The fingerprint of the model folder's own tokenizer, which the tokens frames must
 * carry.  A folder without a tokenizer leaves have_fp 0 (nothing to compare with).
 */
static int tokenizer_fingerprint(struct encode *s, const char *dir, struct sb_error *err)
{
	struct sb_tokenizer_opts to;
	struct sb_tokenizer *t = NULL;
	int rc;

	sb_tokenizer_opts_init(&to);
	rc = sb_tokenizer_open(&t, dir, &to, err);
	if (rc == SB_ENOTFOUND)
		return SB_OK;
	if (rc)
		return sb_error_prefix(err, "encode: the model's tokenizer (read to check the "
				       "tokens' fingerprint; allow_mixed=1 / --allow-mixed skips "
				       "it): ");
	snprintf(s->fingerprint, sizeof(s->fingerprint), "%016llx",
		 (unsigned long long)sb_tokenizer_info(t)->fingerprint);
	s->have_fp = 1;
	s->report.tokenizer_found = 1;
	sb_tokenizer_close(&t);
	return SB_OK;
}

/* Refuses a tokens frame made by another tokenizer than the model's. */
static int check_fingerprint(struct encode *s, const struct sb_frame *in, struct sb_error *err)
{
	const struct sb_meta *fp, *from;
	char a[40], b[80];

	if (s->allow_mixed || !s->have_fp)
		return SB_OK;
	fp = sb_frame_meta_get(in, "tokenizer_fingerprint");
	if (!fp) {
		s->report.frames_unchecked++;
		return SB_OK;
	}
	if (fp->type == SB_META_STR && fp->v.s.n == strlen(s->fingerprint) &&
	    memcmp(fp->v.s.p, s->fingerprint, fp->v.s.n) == 0)
		return SB_OK;
	from = sb_frame_meta_get(in, "model");
	return sb_error_set(err, SB_EMISMATCH, "tokenizer_fingerprint %s (tokenizer of %s) is "
			    "not %s, the fingerprint of %s's tokenizer: its ids index another "
			    "vocabulary (allow_mixed=1 / --allow-mixed to encode anyway)",
			    fp->type == SB_META_STR ? sb_printable(fp->v.s.p, fp->v.s.n, a, sizeof(a))
						    : "(not a string)",
			    from && from->type == SB_META_STR ?
			    sb_printable(from->v.s.p, from->v.s.n, b, sizeof(b)) : "an unnamed model",
			    s->fingerprint, s->model_dir);
}

static void encode_report(void *state, void *out)
{
	const struct encode *s = state;

	*(struct sb_encode_report *)out = s->report;
}

/* rc, after "encode: " is put before err's message (the library's parsers name no stage). */
static int prefixed(struct sb_error *err, int rc)
{
	sb_error_prefix(err, "encode: ");
	return rc;
}

/* threads, blas_threads, max_batch_tokens, kernels, precision, lowp_kernels, fuse_qkv. */
static int model_options(struct sb_model_opts *mo, const struct sb_kv *opts, size_t n_opts,
			 struct sb_error *err)
{
	const char *v;
	size_t n, nb = 0;
	int rc, flag;

	if ((v = sb_kv_get(opts, n_opts, "threads"))) {
		if ((rc = sb_kv_count("encode", "threads", v, 1, SB_PAR_MAX, &n, err)))
			return rc;
		mo->threads = (int)n;
	}
	if ((v = sb_kv_get(opts, n_opts, "blas_threads"))) {
		if ((rc = sb_kv_count("encode", "blas_threads", v, 1, SB_PAR_MAX, &nb, err)))
			return rc;
		if (mo->threads > 1)
			return sb_error_set(err, SB_EINVAL, "encode: threads and blas_threads "
					    "exclude each other");
	}
	/*
	 * With threads > 1, sb_model_open() sets BLAS to one thread itself.  blas_threads
	 * is the mode where BLAS does the products: no packed weights.
	 */
	if (nb) {
		sb_ops_set_threads((int)nb);
		mo->pack = 0;
	}
	if ((v = sb_kv_get(opts, n_opts, "max_batch_tokens")) &&
	    (rc = sb_kv_count("encode", "max_batch_tokens", v, 1, (size_t)1 << 30,
			      &mo->max_batch_tokens, err)))
		return rc;
	if ((v = sb_kv_get(opts, n_opts, "kernels"))) {
		enum sb_ops_isa isa;
		if ((rc = sb_ops_isa_parse(v, &isa, err)) || (rc = sb_ops_select(isa, err)))
			return prefixed(err, rc);
	}
	if ((v = sb_kv_get(opts, n_opts, "precision")) &&
	    (rc = sb_lowp_parse(v, &mo->precision, err)))
		return prefixed(err, rc);
	if (nb && mo->precision != SB_LOWP_F32)
		return sb_error_set(err, SB_EINVAL, "encode: precision %s and blas_threads "
				    "exclude each other (OpenBLAS computes in float32)",
				    sb_lowp_name(mo->precision));
	if ((v = sb_kv_get(opts, n_opts, "lowp_kernels"))) {
		enum sb_lowp_isa isa;
		if ((rc = sb_lowp_isa_parse(v, &isa, err)) || (rc = sb_lowp_select(isa, err)))
			return prefixed(err, rc);
	}
	if ((v = sb_kv_get(opts, n_opts, "fuse_qkv"))) {
		if ((rc = sb_kv_bool("encode", "fuse_qkv", v, &flag, err)))
			return rc;
		mo->fuse_qkv = flag;
	}
	return SB_OK;
}

/* pool (modes, or 'model': the folder's pooling and modules) and normalize. */
static int pool_options(struct encode *s, const char *dir, const struct sb_kv *opts,
			size_t n_opts, struct sb_error *err)
{
	const char *v;
	int rc;

	if ((v = sb_kv_get(opts, n_opts, "pool"))) {
		s->pool = 1;
		if (!strcmp(v, "model")) {
			if ((rc = sb_pooling_from_model(&s->pooling, dir, err)) ||
			    (rc = sb_modules_open(&s->mods, dir, err)))
				return rc;
		} else {
			memset(&s->pooling, 0, sizeof(s->pooling));
			s->pooling.include_prompt = 1;
			if ((rc = sb_pooling_parse_modes(v, &s->pooling.modes, err)))
				return rc;
		}
		if (s->pooling.modes == 0)
			s->pooling.modes = SB_POOL_MEAN;
		sb_pooling_modes_str(s->pooling.modes, s->pooling_str, sizeof(s->pooling_str));
	}
	if ((v = sb_kv_get(opts, n_opts, "normalize"))) {
		if (!s->pool)
			return sb_error_set(err, SB_EINVAL,
					    "encode: normalize is only used with pool");
		if ((rc = sb_kv_bool("encode", "normalize", v, &s->pooling.normalize, err)))
			return rc;
	}
	return SB_OK;
}

/* head=classify and logits: *head and *logits set. */
static int head_options(const struct encode *s, int *head, int *logits,
			const struct sb_kv *opts, size_t n_opts, struct sb_error *err)
{
	const char *v;
	int rc;

	if ((v = sb_kv_get(opts, n_opts, "head"))) {
		if (strcmp(v, "classify"))
			return sb_error_set(err, SB_EINVAL, "encode: head '%s' is not one of "
					    "classify", v);
		if (s->pool)
			return sb_error_set(err, SB_EINVAL, "encode: head and pool exclude each "
					    "other");
		*head = 1;
	}
	if ((v = sb_kv_get(opts, n_opts, "logits"))) {
		if ((rc = sb_kv_bool("encode", "logits", v, logits, err)))
			return rc;
		if (!*head)
			return sb_error_set(err, SB_EINVAL,
					    "encode: logits is only used with head");
	}
	return SB_OK;
}

/* The model, its head, and the widths of the pooled rows. */
static int open_model(struct encode *s, const char *dir, const struct sb_model_opts *mo,
		      int head, int logits, struct sb_error *err)
{
	int rc;

	if ((rc = sb_model_open(&s->model, dir, mo, err)))
		return rc;
	if (head && (rc = sb_head_open(&s->head, s->model, dir, logits, err)))
		return rc;
	if (s->pool) {
		size_t dim = sb_model_config(s->model)->dim;

		s->pooled = sb_pooling_out_dim(&s->pooling, dim);
		s->full = s->pooled;
		if (s->mods && (rc = sb_modules_check(s->mods, s->pooled, &s->full, err)))
			return rc;
		s->width = s->full;
	}
	return SB_OK;
}

static int encode_open(void **state, const struct sb_kv *opts, size_t n_opts,
		       struct sb_error *err)
{
	static const char *const known[] = { "model", "pool", "normalize", "threads",
					     "blas_threads", "max_batch_tokens", "kernels",
					     "fuse_qkv", "allow_mixed", "precision",
					     "lowp_kernels", "head", "logits" };
	struct sb_model_opts mo;
	struct encode *s;
	const char *v, *dir;
	int rc, head = 0, logits = 0;

	*state = NULL;
	rc = sb_kv_known("encode", opts, n_opts, known, sizeof(known) / sizeof(known[0]), err);
	if (rc != SB_OK)
		return rc;
	dir = sb_kv_get(opts, n_opts, "model");
	if (!dir || !dir[0])
		return sb_error_set(err, SB_EINVAL, "encode: no model given (model=DIR)");
	s = calloc(1, sizeof(*s));
	if (!s)
		return sb_error_set(err, SB_ENOMEM, "encode: out of memory");
	sb_frame_init(&s->out);
	sb_model_opts_init(&mo);
	s->model_dir = strdup(dir);
	if (!s->model_dir) {
		rc = sb_error_set(err, SB_ENOMEM, "encode: out of memory");
		goto fail;
	}
	if ((rc = model_options(&mo, opts, n_opts, err)))
		goto fail;
	s->precision = mo.precision;
	if ((rc = pool_options(s, dir, opts, n_opts, err)) ||
	    (rc = head_options(s, &head, &logits, opts, n_opts, err)))
		goto fail;
	if ((v = sb_kv_get(opts, n_opts, "allow_mixed")) &&
	    (rc = sb_kv_bool("encode", "allow_mixed", v, &s->allow_mixed, err)))
		goto fail;
	if (!s->allow_mixed && (rc = tokenizer_fingerprint(s, dir, err)))
		goto fail;
	if ((rc = open_model(s, dir, &mo, head, logits, err)))
		goto fail;
	*state = s;
	return SB_OK;
fail:
	encode_close(s);
	return rc;
}

static int set_meta(struct encode *s, const struct sb_frame *in, struct sb_error *err)
{
	const struct sb_model_config *c = sb_model_config(s->model);
	int rc = sb_frame_meta_copy(&s->out, in, err);

	if (!rc)
		rc = sb_frame_meta_str(&s->out, "model", s->model_dir, err);
	if (!rc)
		rc = sb_frame_meta_str(&s->out, "model_type", c->model_type, err);
	if (!rc)
		rc = sb_frame_meta_str(&s->out, "model_fingerprint",
				       sb_model_fingerprint(s->model), err);
	if (!rc)
		rc = sb_frame_meta_str(&s->out, "encode_precision", sb_lowp_name(s->precision),
				       err);
	if (!rc && !s->head)
		rc = sb_frame_meta_uint(&s->out, "dim", s->pool ? s->width : c->dim, err);
	if (!rc && s->head)
		rc = sb_frame_meta_uint(&s->out, "labels", sb_head_labels(s->head), err);
	if (!rc && s->head)
		rc = sb_frame_meta_str(&s->out, "activation", sb_head_activation(s->head), err);
	if (!rc && s->pool)
		rc = sb_frame_meta_str(&s->out, "pooling", s->pooling_str, err);
	if (!rc && s->pool)
		rc = sb_frame_meta_bool(&s->out, "normalized", s->pooling.normalize, err);
	if (!rc && s->pool)
		rc = sb_frame_meta_str(&s->out, "precision", "float32", err);
	return rc;
}

/* The frame's prompt_length when the pooling leaves the prompt out, else 0. */
static int prompt_length(const struct encode *s, const struct sb_frame *in, size_t *out,
			 struct sb_error *err)
{
	const struct sb_meta *pl = sb_frame_meta_get(in, "prompt_length");

	*out = 0;
	if (s->pooling.include_prompt || !pl)
		return SB_OK;
	if (pl->type == SB_META_UINT && pl->v.u <= SIZE_MAX)
		*out = (size_t)pl->v.u;
	else if (pl->type == SB_META_INT && pl->v.i >= 0)
		*out = (size_t)pl->v.i;
	else
		return sb_error_set(err, SB_EFORMAT, "meta 'prompt_length': expected a count of "
				    "tokens");
	return SB_OK;
}

/*
 * Pools every row of the last forward into sentence_embedding [rows, width]: the
 * pooling, the model's modules after it, then truncate_dim and normalize.
 */
static int pool_rows(struct encode *s, const struct sb_frame *in, struct sb_error *err)
{
	size_t rows = sb_model_rows(s->model), seq = sb_model_seq(s->model);
	size_t D = sb_model_config(s->model)->dim, shape[2] = { rows, s->width }, plen;
	const float *emb;
	struct sb_tensor *o;
	int rc;

	if ((rc = prompt_length(s, in, &plen, err)))
		return rc;
	if (rows > SIZE_MAX / s->pooled)
		return sb_error_set(err, SB_ELIMIT, "encode: %zu rows of %zu floats", rows,
				    s->pooled);
	if ((rc = grow(&s->pooledv, &s->pooledv_cap, rows ? rows * s->pooled : 1, err)))
		return rc;
	rc = sb_frame_tensor_resize(&s->out, "sentence_embedding", SB_DTYPE_F32, 2, shape, &o,
				    err);
	if (rc)
		return rc;
	for (size_t r = 0; r < rows; r++) {
		const size_t *pos;
		size_t n;
		const float *h = sb_model_row(s->model, r, &n, &pos);
		float *dst = s->pooledv + r * s->pooled;
		int prefix = n > 0 && pos[n - 1] == n - 1;

		if (prefix && !plen) {
			/* The usual case (trailing padding): the packed tokens are the row. */
			sb_pool_tokens(&s->pooling, h, NULL, n, D, dst);
		} else if (prefix) {
			/* The same with the prompt's positions masked out. */
			if ((rc = grow(&s->maskf, &s->maskf_cap, n, err)))
				return rc;
			for (size_t t = 0; t < n; t++)
				s->maskf[t] = 1.0f;
			sb_pooling_exclude_prompt(s->maskf, n, plen);
			sb_pool_tokens(&s->pooling, h, s->maskf, n, D, dst);
		} else {
			/* Holes in the mask or no real token: pool the padded row as PyTorch
			 * would see it, zeros at padding, with the mask. */
			size_t sl = seq ? seq : 1;
			if ((rc = grow(&s->scratch, &s->scratch_cap, sl * D, err)) ||
			    (rc = grow(&s->maskf, &s->maskf_cap, sl, err)))
				return rc;
			memset(s->scratch, 0, sl * D * sizeof(float));
			memset(s->maskf, 0, sl * sizeof(float));
			for (size_t t = 0; t < n; t++) {
				memcpy(s->scratch + pos[t] * D, h + t * D, D * sizeof(float));
				s->maskf[pos[t]] = 1.0f;
			}
			if (plen)
				sb_pooling_exclude_prompt(s->maskf, seq, plen);
			sb_pool_tokens(&s->pooling, s->scratch, s->maskf, seq, D, dst);
		}
	}
	emb = s->pooledv;
	if (s->mods && (rc = sb_modules_apply(s->mods, s->pooledv, rows, s->pooled, &emb, err)))
		return rc;
	for (size_t r = 0; r < rows; r++) {
		float *dst = (float *)o->data + r * s->width;

		/* width is the truncated width: finish() only normalizes what is kept. */
		memcpy(dst, emb + r * s->full, s->width * sizeof(float));
		sb_pooling_finish(&s->pooling, dst, s->width);
	}
	return SB_OK;
}

static int encode_process(void *state, const struct sb_frame *in, struct sb_emit *emit,
			  struct sb_error *err)
{
	struct encode *s = state;
	const struct sb_tensor *ids, *mask, *types, *tr;
	struct sb_tensor *o;
	size_t rows, seq;
	int rc;

	if (in->kind != SB_KIND_TOKENS)
		return sb_error_set(err, SB_EFORMAT, "expected a tokens frame, got %s",
				    sb_kind_name(in->kind));
	ids = sb_frame_tensor(in, "input_ids");
	mask = sb_frame_tensor(in, "attention_mask");
	types = sb_frame_tensor(in, "token_type_ids");
	if (!ids)
		return sb_error_set(err, SB_EFORMAT, "tokens frame: no tensor 'input_ids'");
	if (!mask)
		return sb_error_set(err, SB_EFORMAT, "tokens frame: no tensor 'attention_mask': "
				    "padded positions cannot be told from real tokens");
	if ((rc = check_fingerprint(s, in, err)))
		return rc;
	if (ids->n_dims != 2 || ids->shape[0] != in->rows)
		return sb_error_set(err, SB_EFORMAT, "tensor 'input_ids': %d dimensions, %zu rows; "
				    "expected [rows, seq] with the frame's %llu rows", ids->n_dims,
				    ids->n_dims ? ids->shape[0] : 0, (unsigned long long)in->rows);
	if ((rc = sb_model_forward(s->model, ids, mask, types, err)))
		return rc;
	rows = ids->shape[0];
	seq = ids->shape[1];

	sb_frame_reset(&s->out);
	s->out.seq = in->seq;
	s->out.rows = rows;
	if (s->head) {
		size_t shape[2] = { rows, sb_head_labels(s->head) };

		s->out.kind = SB_KIND_SCORES;
		rc = sb_frame_tensor_resize(&s->out, "score", SB_DTYPE_F32, shape[1] > 1 ? 2 : 1,
					    shape, &o, err);
		if (rc || (rc = sb_head_forward(s->head, s->model, o->data, err)))
			return rc;
	} else if (s->pool) {
		s->out.kind = SB_KIND_EMBEDDINGS;
		if ((rc = pool_rows(s, in, err)))
			return rc;
	} else {
		size_t shape[3] = { rows, seq, sb_model_config(s->model)->dim };
		int64_t *mo;

		s->out.kind = SB_KIND_HIDDEN;
		rc = sb_frame_tensor_resize(&s->out, "last_hidden_state", SB_DTYPE_F32, 3, shape,
					    &o, err);
		if (rc)
			return rc;
		sb_model_hidden(s->model, o->data);
		rc = sb_frame_tensor_resize(&s->out, "attention_mask", SB_DTYPE_I64, 2, shape, &o,
					    err);
		if (rc)
			return rc;
		mo = o->data;
		for (size_t r = 0; r < rows; r++) {
			size_t n;
			const size_t *pos;
			sb_model_row(s->model, r, &n, &pos);
			memset(mo + r * seq, 0, seq * sizeof(int64_t));
			for (size_t t = 0; t < n; t++)
				mo[r * seq + pos[t]] = 1;
		}
	}
	/* sb-tokenize's per-row 'truncated' flags stay with their rows. */
	if ((tr = sb_frame_tensor(in, "truncated")) && tr->n_dims == 1 && tr->shape[0] == rows) {
		rc = sb_frame_tensor_resize(&s->out, "truncated", tr->dtype, 1, tr->shape, &o, err);
		if (rc)
			return rc;
		memcpy(o->data, tr->data, tr->nbytes);
	}
	if (in->has_text) {
		rc = sb_frame_text_alloc(&s->out, rows, err);
		for (size_t r = 0; !rc && r < rows; r++)
			rc = sb_frame_text_set(&s->out, r, in->text[r].p ? in->text[r].p : "",
					       in->text[r].n, err);
		if (rc)
			return rc;
	}
	if ((rc = set_meta(s, in, err)))
		return rc;
	return sb_emit_frame(emit, &s->out, err);
}

const struct sb_stage sb_stage_encode = {
	.version = SB_STAGE_VERSION,
	.name = "encode",
	.input = SB_STAGE_IN_FRAMES,
	.open = encode_open,
	.process = encode_process,
	.flush = NULL,
	.close = encode_close,
	.report = encode_report,
};
