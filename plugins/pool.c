/*
 * pool.c - the pool stage: `hidden` frames in, `embeddings` frames out.
 *
 * Options (key=value):
 *   model=DIR          read pooling (1_Pooling/config.json), the modules after it
 *                      (Dense, LayerNorm: modules.h) and Normalize from the folder
 *   pooling=MODES      cls,max,mean,mean_sqrt_len_tokens,weightedmean,lasttoken (overrides)
 *   normalize=0|1      L2-normalize after truncation (default: the model's Normalize module)
 *   truncate_dim=N     keep the first N dimensions (Matryoshka), then normalize
 *   precision=P        float32 (default), int8, uint8, binary, ubinary
 *   calibration=FILE   per-dimension ranges for int8 / uint8 (sb-pool --calibrate makes it)
 *   calibrate=FILE     gather ranges over the whole stream and write FILE at the end
 *                      (output stays float32)
 *
 * Each row: pooling (without the prompt's tokens when the model's pooling has
 * include_prompt false and the frame's meta has prompt_length), the model's Dense and
 * LayerNorm modules, truncate_dim, normalize, quantization.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "frame.h"
#include "modules.h"
#include "pooling.h"
#include "similarity.h"
#include "stage.h"

struct pool {
	struct sb_pooling p;
	struct sb_modules *mods; /* the model's modules after Pooling, or NULL */
	enum sb_precision precision;
	struct sb_calibration cal; /* int8 / uint8 ranges, or the ranges being gathered */
	int have_cal;
	char *calibrate_path; /* write ranges here at the end */
	size_t dim_in;	      /* token width of the first frame (0: none yet) */
	size_t pooled;	      /* pooled width */
	size_t full;	      /* width after the modules, before truncation */
	size_t width;	      /* final width after truncation */
	char pooling_str[96];
	float *mask; /* [seq] scratch */
	size_t mask_cap;
	float *pool; /* [rows, pooled] scratch */
	size_t pool_cap;
	float *row; /* [full] scratch */
	size_t row_cap;
	struct sb_frame out;
};

static void pool_close(void *state)
{
	struct pool *s = state;

	if (!s)
		return;
	sb_calibration_destroy(&s->cal);
	sb_modules_close(&s->mods);
	free(s->calibrate_path);
	free(s->mask);
	free(s->pool);
	free(s->row);
	sb_frame_destroy(&s->out);
	free(s);
}

static int pool_open(void **state, const struct sb_kv *opts, size_t n_opts, struct sb_error *err)
{
	static const char *const known[] = {"model",	 "pooling",	"normalize", "truncate_dim",
					    "precision", "calibration", "calibrate"};
	const char *v, *cal_path;
	struct pool *s;
	int rc;

	*state = NULL;
	rc = sb_kv_known("pool", opts, n_opts, known, sizeof(known) / sizeof(known[0]), err);
	if (rc != SB_OK)
		return rc;
	s = calloc(1, sizeof *s);
	if (!s)
		return sb_error_set(err, SB_ENOMEM, "pool: out of memory");
	sb_frame_init(&s->out);
	s->p.modes = SB_POOL_MEAN;
	s->p.include_prompt = 1;
	v = sb_kv_get(opts, n_opts, "model");
	if (v && v[0]) {
		rc = sb_pooling_from_model(&s->p, v, err);
		if (!rc)
			rc = sb_modules_open(&s->mods, v, err);
		if (rc)
			goto fail;
	}
	v = sb_kv_get(opts, n_opts, "pooling");
	if (v) {
		rc = sb_pooling_parse_modes(v, &s->p.modes, err);
		if (rc)
			goto fail;
	}
	v = sb_kv_get(opts, n_opts, "normalize");
	if (v) {
		rc = sb_kv_bool("pool", "normalize", v, &s->p.normalize, err);
		if (rc)
			goto fail;
	}
	v = sb_kv_get(opts, n_opts, "truncate_dim");
	if (v) {
		rc = sb_kv_count("pool", "truncate_dim", v, 0, SIZE_MAX, &s->p.truncate_dim, err);
		if (rc)
			goto fail;
		if (s->p.truncate_dim == 0) {
			rc = sb_error_set(err, SB_EINVAL, "truncate_dim: must be at least 1");
			goto fail;
		}
	}
	s->precision = SB_PRECISION_FLOAT32;
	v = sb_kv_get(opts, n_opts, "precision");
	if (v) {
		rc = sb_precision_parse(v, &s->precision, err);
		if (rc)
			goto fail;
	}
	cal_path = sb_kv_get(opts, n_opts, "calibration");
	v = sb_kv_get(opts, n_opts, "calibrate");
	if (v) {
		if (s->precision != SB_PRECISION_FLOAT32) {
			rc = sb_error_set(err, SB_EINVAL,
					  "calibrate: ranges are gathered on float32 output; "
					  "quantize in a second run with calibration=FILE");
			goto fail;
		}
		s->calibrate_path = strdup(v);
		if (!s->calibrate_path) {
			rc = sb_error_set(err, SB_ENOMEM, "pool: out of memory");
			goto fail;
		}
	}
	if (s->precision == SB_PRECISION_INT8 || s->precision == SB_PRECISION_UINT8) {
		/* Never per-frame ranges: workers of one stream must quantize identically. */
		if (!cal_path) {
			rc =
			    sb_error_set(err, SB_EINVAL,
					 "precision %s needs calibration ranges (calibration=FILE, "
					 "made by sb-pool --calibrate)",
					 sb_precision_name(s->precision));
			goto fail;
		}
		rc = sb_calibration_read(&s->cal, cal_path, err);
		if (rc)
			goto fail;
		s->have_cal = 1;
	} else if (cal_path) {
		rc = sb_error_set(err, SB_EINVAL,
				  "calibration: only used with precision int8 or uint8");
		goto fail;
	}
	sb_pooling_modes_str(s->p.modes, s->pooling_str, sizeof s->pooling_str);
	*state = s;
	return SB_OK;
fail:
	pool_close(s);
	return rc;
}

static int grow(float **p, size_t *cap, size_t n, struct sb_error *err)
{
	float *q;

	if (n <= *cap)
		return SB_OK;
	if (n > SIZE_MAX / sizeof **p)
		return sb_error_set(err, SB_ELIMIT, "pool: %zu floats of scratch", n);
	q = realloc(*p, n * sizeof **p);
	if (!q)
		return sb_error_set(err, SB_ENOMEM, "pool: cannot allocate %zu floats", n);
	*p = q;
	*cap = n;
	return SB_OK;
}

/*
 * The prompt tokens to leave out of the pooling: the frame's prompt_length (what
 * sb-tokenize --prompt writes) when the model's Pooling has include_prompt false.
 */
static int prompt_length(const struct pool *s, const struct sb_frame *in, size_t *out,
			 struct sb_error *err)
{
	const struct sb_meta *pl = sb_frame_meta_get(in, "prompt_length");

	*out = 0;
	if (s->p.include_prompt || !pl)
		return SB_OK;
	if (pl->type == SB_META_UINT && pl->v.u <= SIZE_MAX)
		*out = (size_t)pl->v.u;
	else if (pl->type == SB_META_INT && pl->v.i >= 0)
		*out = (size_t)pl->v.i;
	else
		return sb_error_set(err, SB_EFORMAT,
				    "meta 'prompt_length': expected a count of "
				    "tokens");
	return SB_OK;
}

/* Sets the width on the first frame and checks every later frame against it. */
static int check_dims(struct pool *s, size_t dim, struct sb_error *err)
{
	size_t pooled;
	int rc;

	if (s->dim_in) {
		if (dim != s->dim_in)
			return sb_error_set(
			    err, SB_EMISMATCH,
			    "tensor 'last_hidden_state': width %zu, earlier frames %zu", dim,
			    s->dim_in);
		return SB_OK;
	}
	if (dim == 0)
		return sb_error_set(err, SB_EFORMAT, "tensor 'last_hidden_state': width 0");
	pooled = sb_pooling_out_dim(&s->p, dim);
	s->full = pooled;
	if (s->mods && (rc = sb_modules_check(s->mods, pooled, &s->full, err)))
		return rc;
	if (s->p.truncate_dim > s->full)
		return sb_error_set(err, SB_EINVAL, "truncate_dim %zu exceeds the %s width %zu",
				    s->p.truncate_dim,
				    sb_modules_count(s->mods) ? "embedding" : "pooled", s->full);
	s->dim_in = dim;
	s->pooled = pooled;
	s->width = s->p.truncate_dim ? s->p.truncate_dim : s->full;
	if (s->have_cal && s->cal.dim != s->width)
		return sb_error_set(err, SB_EMISMATCH,
				    "calibration ranges have %zu dimensions, embeddings %zu",
				    s->cal.dim, s->width);
	rc = grow(&s->row, &s->row_cap, s->full, err);
	if (rc)
		return rc;
	if (s->calibrate_path)
		return sb_calibration_init(&s->cal, s->width, err);
	return SB_OK;
}

static int set_meta(struct pool *s, const struct sb_frame *in, struct sb_error *err)
{
	int rc = sb_frame_meta_copy(&s->out, in, err);

	if (!rc)
		rc = sb_frame_meta_str(&s->out, "pooling", s->pooling_str, err);
	if (!rc)
		rc = sb_frame_meta_bool(&s->out, "normalized", s->p.normalize, err);
	if (!rc)
		rc = sb_frame_meta_uint(&s->out, "dim", s->width, err);
	if (!rc)
		rc = sb_frame_meta_str(&s->out, "precision", sb_precision_name(s->precision), err);
	return rc;
}

/* A hidden frame's last_hidden_state (*h, [rows, seq, dim] float32) and attention_mask
 * (*m, [rows, seq] int64 or int32). */
static int hidden_input(const struct sb_frame *in, struct sb_tensor **h, struct sb_tensor **m,
			struct sb_error *err)
{
	char a[96], b[96];
	int rc;

	if (in->kind != SB_KIND_HIDDEN)
		return sb_error_set(err, SB_EFORMAT, "expected a hidden frame, got %s",
				    sb_kind_name(in->kind));
	rc = sb_frame_check_tensor(in, "last_hidden_state", SB_DTYPE_F32, 3, h, err);
	if (rc)
		return rc;
	*m = sb_frame_tensor(in, "attention_mask");
	if (!*m)
		return sb_error_set(err, SB_EFORMAT,
				    "hidden frame: no tensor 'attention_mask': "
				    "padded positions cannot be told from real tokens");
	if (((*m)->dtype != SB_DTYPE_I64 && (*m)->dtype != SB_DTYPE_I32) || (*m)->n_dims != 2 ||
	    (*m)->shape[0] != (*h)->shape[0] || (*m)->shape[1] != (*h)->shape[1])
		return sb_error_set(err, SB_EFORMAT,
				    "tensor 'attention_mask': %s %s, expected int64 [%zu, %zu] "
				    "to match 'last_hidden_state' %s",
				    sb_dtype_name((*m)->dtype),
				    sb_shape_str((*m)->n_dims, (*m)->shape, a, sizeof a),
				    (*h)->shape[0], (*h)->shape[1],
				    sb_shape_str((*h)->n_dims, (*h)->shape, b, sizeof b));
	return SB_OK;
}

/* Each row's tokens pooled into s->pool (rows x pooled), the prompt's plen left out. */
static void pool_rows(struct pool *s, const struct sb_tensor *h, const struct sb_tensor *m,
		      size_t plen)
{
	size_t rows = h->shape[0], seq = h->shape[1], dim = h->shape[2];

	for (size_t r = 0; r < rows; r++) {
		const float *hr = (const float *)h->data + r * seq * dim;

		for (size_t t = 0; t < seq; t++) {
			int64_t mv = m->dtype == SB_DTYPE_I64
					 ? ((const int64_t *)m->data)[r * seq + t]
					 : ((const int32_t *)m->data)[r * seq + t];
			s->mask[t] = (float)mv;
		}
		if (plen)
			sb_pooling_exclude_prompt(s->mask, seq, plen);
		sb_pool_tokens(&s->p, hr, s->mask, seq, dim, s->pool + r * s->pooled);
	}
}

/* The pooled rows (emb, rows x full) normalized, checked, calibrated and quantized
 * into o, rb bytes a row. */
static int finish_rows(struct pool *s, const struct sb_frame *in, const float *emb,
		       size_t rows, struct sb_tensor *o, size_t rb, struct sb_error *err)
{
	for (size_t r = 0; r < rows; r++) {
		size_t w, bad;

		memcpy(s->row, emb + r * s->full, s->full * sizeof *s->row);
		w = sb_pooling_finish(&s->p, s->row, s->full);
		if (!sb_sim_finite(s->row, w, &bad))
			return sb_error_set(err, SB_EFORMAT,
					    "row %llu: pooled embedding has %s at dimension %zu "
					    "(the hidden state holds NaN or Inf)",
					    (unsigned long long)(in->seq + r),
					    s->row[bad] != s->row[bad] ? "NaN" : "Inf", bad);
		if (s->calibrate_path)
			sb_calibration_add(&s->cal, s->row, 1);
		sb_quantize_row(s->precision, &s->cal, s->row, w,
				(unsigned char *)o->data + r * rb);
	}
	return SB_OK;
}

/* The embeddings frame of rows rows: its tensor *o, rb bytes a row. */
static int out_frame(struct pool *s, const struct sb_frame *in, size_t rows,
		     struct sb_tensor **o, size_t *rb, struct sb_error *err)
{
	enum sb_dtype odt;
	size_t shape[2];

	sb_frame_reset(&s->out);
	s->out.kind = SB_KIND_EMBEDDINGS;
	s->out.seq = in->seq;
	s->out.rows = rows;
	odt = s->precision == SB_PRECISION_FLOAT32 ? SB_DTYPE_F32
	      : s->precision == SB_PRECISION_INT8 || s->precision == SB_PRECISION_BINARY
		  ? SB_DTYPE_I8
		  : SB_DTYPE_U8;
	*rb = sb_precision_row_bytes(s->precision, s->width);
	shape[0] = rows;
	shape[1] = s->precision == SB_PRECISION_FLOAT32 ? s->width : *rb;
	return sb_frame_tensor_resize(&s->out, "sentence_embedding", odt, 2, shape, o, err);
}

static int pool_process(void *state, const struct sb_frame *in, struct sb_emit *emit,
			struct sb_error *err)
{
	struct pool *s = state;
	struct sb_tensor *h, *m, *o;
	size_t rows, seq, rb, plen;
	const float *emb;
	int rc;

	if ((rc = hidden_input(in, &h, &m, err)))
		return rc;
	rows = h->shape[0];
	seq = h->shape[1];
	rc = check_dims(s, h->shape[2], err);
	if (!rc)
		rc = grow(&s->mask, &s->mask_cap, seq ? seq : 1, err);
	if (!rc && rows > SIZE_MAX / s->pooled)
		rc = sb_error_set(err, SB_ELIMIT, "pool: %zu rows of %zu floats", rows, s->pooled);
	if (!rc)
		rc = grow(&s->pool, &s->pool_cap, rows ? rows * s->pooled : 1, err);
	if (!rc)
		rc = prompt_length(s, in, &plen, err);
	if (rc || (rc = out_frame(s, in, rows, &o, &rb, err)))
		return rc;
	pool_rows(s, h, m, plen);
	emb = s->pool;
	if (s->mods && (rc = sb_modules_apply(s->mods, s->pool, rows, s->pooled, &emb, err)))
		return rc;
	if ((rc = finish_rows(s, in, emb, rows, o, rb, err)))
		return rc;
	if (in->has_text) {
		rc = sb_frame_text_alloc(&s->out, rows, err);
		for (size_t r = 0; !rc && r < rows; r++)
			rc = sb_frame_text_set(&s->out, r, in->text[r].p, in->text[r].n, err);
		if (rc)
			return rc;
	}
	rc = set_meta(s, in, err);
	if (rc)
		return rc;
	return sb_emit_frame(emit, &s->out, err);
}

static int pool_flush(void *state, struct sb_emit *emit, struct sb_error *err)
{
	struct pool *s = state;

	if (!s->calibrate_path)
		return SB_OK;
	if (!s->dim_in || s->cal.rows == 0)
		return sb_error_set(err, SB_EINVAL, "calibrate: the input holds no rows");
	return sb_calibration_write(&s->cal, s->calibrate_path, err);
}

const struct sb_stage sb_stage_pool = {
    .version = SB_STAGE_VERSION,
    .name = "pool",
    .input = SB_STAGE_IN_FRAMES,
    .open = pool_open,
    .process = pool_process,
    .flush = pool_flush,
    .close = pool_close,
};
