/*
 * index_build.c - the build stage of sb-index: embeddings frames in, a FAISS index file
 * out (plugins/index_file.h), nothing emitted.
 *
 * Rows are added as they come, a chunk at a time; an index that needs training (IVF,
 * PQ) holds the first train_sample rows, is trained on them, then adds them and every
 * later row.  Memory: the index itself, one chunk (or the training sample) and the texts.
 *
 * Metric: cosine is FAISS's inner product of unit vectors.  Rows whose meta says
 * normalized=true are indexed as they are; others are scaled to unit norm first (and
 * queries are scaled the same way), so the scores are cosines either way.  dot is the
 * inner product of the rows as they are, euclidean FAISS's L2.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "faiss.h"
#include "index.h"
#include "index_file.h"
#include "par.h"
#include "similarity.h"
#include "version.h"

#define CHUNK_ROWS 16384 /* rows per add of an index that needs no training */
#define TRAIN_SAMPLE 50000

struct build {
	char *out, *factory;
	char *nprobe, *ef_search; /* as given, or NULL: sb-index's defaults */
	enum sb_index_metric metric;
	size_t train_sample;
	int threads;

	struct sb_ident id;
	int normalize;		/* scale rows to unit norm before adding */
	struct sb_faiss *index; /* created on the first frame (its width) */
	struct sb_buf pending;	/* [rows, dim] floats not yet added */
	size_t n_pending, max_pending;
	struct sb_buf texts; /* one NUL-terminated text per row */
	int has_text;
	uint64_t rows;
};

int sb_index_metric_parse(const char *s, enum sb_index_metric *m, struct sb_error *err)
{
	if (!strcmp(s, "cosine"))
		*m = SB_INDEX_COSINE;
	else if (!strcmp(s, "dot"))
		*m = SB_INDEX_DOT;
	else if (!strcmp(s, "euclidean"))
		*m = SB_INDEX_EUCLIDEAN;
	else
		return sb_error_set(err, SB_EINVAL,
				    "metric: '%s' (an index scores by cosine, dot or euclidean)",
				    s);
	return SB_OK;
}

const char *sb_index_metric_name(enum sb_index_metric m)
{
	return m == SB_INDEX_COSINE ? "cosine" : m == SB_INDEX_DOT ? "dot" : "euclidean";
}

void sb_index_normalize(float *rows, size_t n, size_t dim)
{
	for (size_t r = 0; r < n; r++) {
		float *x = rows + r * dim;
		double nx = sb_sim_norm(x, dim);

		if (nx > SB_SIM_EPS)
			for (size_t j = 0; j < dim; j++)
				x[j] = (float)(x[j] / nx);
	}
}

int sb_index_meta_normalized(const struct sb_frame *f)
{
	const struct sb_meta *m = sb_frame_meta_get(f, "normalized");

	if (!m)
		return 0;
	return (m->type == SB_META_BOOL && m->v.b) || (m->type == SB_META_UINT && m->v.u == 1) ||
	       (m->type == SB_META_INT && m->v.i == 1) ||
	       (m->type == SB_META_STR && (!strcmp(m->v.s.p, "1") || !strcmp(m->v.s.p, "true")));
}

static void build_close(void *state)
{
	struct build *s = state;

	if (!s)
		return;
	sb_faiss_free(&s->index);
	sb_buf_destroy(&s->pending);
	sb_buf_destroy(&s->texts);
	free(s->out);
	free(s->factory);
	free(s->nprobe);
	free(s->ef_search);
	free(s);
}

static int build_open(void **state, const struct sb_kv *opts, size_t n_opts, struct sb_error *err)
{
	static const char *const known[] = {"out",     "factory",   "metric", "train_sample",
					    "threads", "ef_search", "nprobe"};
	struct build *s;
	const char *v;
	int rc = SB_OK;

	*state = NULL;
	rc = sb_kv_known("index", opts, n_opts, known, sizeof(known) / sizeof(known[0]), err);
	if (rc != SB_OK)
		return rc;
	if (!sb_kv_get(opts, n_opts, "out"))
		return sb_error_set(err, SB_EINVAL, "index: build needs out=FILE");
	s = calloc(1, sizeof *s);
	if (!s)
		return sb_error_set(err, SB_ENOMEM, "index: out of memory");
	s->out = strdup(sb_kv_get(opts, n_opts, "out"));
	v = sb_kv_get(opts, n_opts, "factory");
	s->factory = strdup(v ? v : "Flat");
	if (!s->out || !s->factory) {
		rc = sb_error_set(err, SB_ENOMEM, "index: out of memory");
		goto fail;
	}
	v = sb_kv_get(opts, n_opts, "metric");
	if (v && (rc = sb_index_metric_parse(v, &s->metric, err)))
		goto fail;
	s->train_sample = TRAIN_SAMPLE;
	v = sb_kv_get(opts, n_opts, "train_sample");
	if (v && (rc = sb_kv_count("index", "train_sample", v, 1, (size_t)1 << 32, &s->train_sample,
				   err)))
		goto fail;
	s->threads = sb_par_cores();
	v = sb_kv_get(opts, n_opts, "threads");
	if (v) {
		size_t n;
		if ((rc = sb_kv_count("index", "threads", v, 1, SB_PAR_MAX, &n, err)))
			goto fail;
		s->threads = (int)n;
	}
	if ((v = sb_kv_get(opts, n_opts, "nprobe")) && !(s->nprobe = strdup(v)))
		goto nomem;
	if ((v = sb_kv_get(opts, n_opts, "ef_search")) && !(s->ef_search = strdup(v)))
		goto nomem;
	sb_faiss_set_threads(s->threads);
	*state = s;
	return SB_OK;
nomem:
	rc = sb_error_set(err, SB_ENOMEM, "index: out of memory");
fail:
	build_close(s);
	return rc;
}

/* Sets parameter name to value where the index has it (sb-index's defaults). */
static int set_default(struct build *s, const char *name, double value, struct sb_error *err)
{
	char msg[SB_FAISS_MSG];
	double v;

	if (sb_faiss_get(s->index, name, &v) && sb_faiss_set(s->index, name, value, msg))
		return sb_error_set(err, SB_EINVAL, "index: factory '%s': %s", s->factory, msg);
	return SB_OK;
}

/* The search parameters written into the file: those asked for (an error where the index
 * has no such parameter), else sb-index's defaults where the index has them. */
static int search_params(struct build *s, struct sb_error *err)
{
	int rc = SB_OK;

	if (!s->nprobe)
		rc = set_default(s, "nprobe", SB_INDEX_NPROBE, err);
	if (!rc && !s->ef_search)
		rc = set_default(s, "efSearch", SB_INDEX_EF_SEARCH, err);
	return rc ? rc : sb_index_set_params(s->index, s->nprobe, s->ef_search, "the index",
					     s->factory, err);
}

/* The first frame decides the width, the FAISS index and whether rows are scaled. */
static int first_frame(struct build *s, const struct sb_frame *in, const struct sb_ident *id,
		       struct sb_error *err)
{
	char msg[SB_FAISS_MSG];

	if (id->dtype != SB_DTYPE_F32 || !strcmp(id->precision, "binary") ||
	    !strcmp(id->precision, "ubinary"))
		return sb_error_set(err, SB_EUNSUPPORTED,
				    "sb-index indexes float32 embeddings; these are %s%s%s",
				    sb_dtype_name(id->dtype),
				    id->precision[0] ? ", precision " : "", id->precision);
	s->id = *id;
	s->normalize = s->metric == SB_INDEX_COSINE && !sb_index_meta_normalized(in);
	s->index = sb_faiss_new(s->factory, id->width,
				s->metric == SB_INDEX_EUCLIDEAN ? SB_FAISS_L2 : SB_FAISS_IP, msg);
	if (!s->index)
		return sb_error_set(err, SB_EINVAL, "index: factory '%s' for %zu dimensions: %s",
				    s->factory, id->width, msg);
	s->max_pending = sb_faiss_is_trained(s->index) ? CHUNK_ROWS : s->train_sample;
	return search_params(s, err);
}

/* Trains the index on the held rows when it needs it, then adds them. */
static int add_pending(struct build *s, struct sb_error *err)
{
	const float *rows = (const float *)(const void *)s->pending.data;
	char msg[SB_FAISS_MSG];

	if (s->n_pending == 0)
		return SB_OK;
	if (!sb_faiss_is_trained(s->index)) {
		if (sb_faiss_train(s->index, s->n_pending, rows, msg))
			return sb_error_set(err, SB_EINVAL, "index '%s': training on %zu rows: %s",
					    s->factory, s->n_pending, msg);
		s->max_pending = CHUNK_ROWS;
	}
	if (sb_faiss_add(s->index, s->n_pending, rows, msg))
		return sb_error_set(err, SB_EINVAL, "index '%s': %s", s->factory, msg);
	s->n_pending = 0;
	sb_buf_clear(&s->pending);
	return SB_OK;
}

/* Appends row texts (empty ones for rows without) to s->texts. */
static int keep_texts(struct build *s, const struct sb_frame *in, struct sb_error *err)
{
	int rc = SB_OK;

	if (in->has_text)
		s->has_text = 1;
	for (size_t r = 0; !rc && r < in->rows; r++) {
		const char *t = in->has_text ? in->text[r].p : "";
		rc = sb_buf_append(&s->texts, t, strlen(t) + 1, err);
	}
	return rc;
}

static int build_process(void *state, const struct sb_frame *in, struct sb_emit *emit,
			 struct sb_error *err)
{
	struct build *s = state;
	struct sb_tensor *e;
	struct sb_ident id;
	size_t w, bad;
	int rc;

	rc = sb_ident_read(in, &id, &e, err);
	if (!rc && !s->id.set)
		rc = first_frame(s, in, &id, err);
	else if (!rc) {
		char what[64];
		snprintf(what, sizeof what, "row %llu", (unsigned long long)in->seq);
		rc = sb_ident_check(0, &s->id, &id, what, "earlier rows", err);
	}
	if (rc)
		return rc;
	w = s->id.width;
	for (size_t r = 0; r < in->rows; r++) {
		const float *x = (const float *)e->data + r * w;
		float *dst;

		if (!sb_sim_finite(x, w, &bad))
			return sb_error_set(err, SB_EFORMAT,
					    "row %llu: embedding has %s at dimension %zu",
					    (unsigned long long)(in->seq + r),
					    x[bad] != x[bad] ? "NaN" : "Inf", bad);
		rc = sb_buf_append(&s->pending, x, w * sizeof(float), err);
		if (rc)
			return rc;
		dst = (float *)(void *)(s->pending.data + s->n_pending * w * sizeof(float));
		if (s->normalize)
			sb_index_normalize(dst, 1, w);
		if (++s->n_pending == s->max_pending && (rc = add_pending(s, err)))
			return rc;
	}
	s->rows += in->rows;
	return keep_texts(s, in, err);
}

/* key NUL value NUL, appended to b. */
static int info_put(struct sb_buf *b, const char *key, const char *value, struct sb_error *err)
{
	int rc = sb_buf_append(b, key, strlen(key) + 1, err);

	return rc ? rc : sb_buf_append(b, value, strlen(value) + 1, err);
}

static int build_info(struct build *s, struct sb_buf *b, struct sb_error *err)
{
	struct sb_version v;
	char dim[32];
	int rc;

	sb_version_get(&v);
	snprintf(dim, sizeof dim, "%zu", s->id.width);
	rc = info_put(b, "sb_version", v.version, err);
	if (!rc)
		rc = info_put(b, "factory", s->factory, err);
	if (!rc)
		rc = info_put(b, "metric", sb_index_metric_name(s->metric), err);
	if (!rc)
		rc = info_put(b, "normalize_queries", s->normalize ? "1" : "0", err);
	if (!rc)
		rc = info_put(b, "dim", dim, err);
	if (!rc)
		rc = info_put(b, "dtype", sb_dtype_name(s->id.dtype), err);
	if (!rc && s->id.model[0])
		rc = info_put(b, "model", s->id.model, err);
	if (!rc && s->id.fingerprint[0])
		rc = info_put(b, "model_fingerprint", s->id.fingerprint, err);
	if (!rc && s->id.pooling[0])
		rc = info_put(b, "pooling", s->id.pooling, err);
	if (!rc && s->id.precision[0])
		rc = info_put(b, "precision", s->id.precision, err);
	if (!rc && s->id.encode_precision[0])
		rc = info_put(b, "encode_precision", s->id.encode_precision, err);
	return rc;
}

static int build_flush(void *state, struct sb_emit *emit, struct sb_error *err)
{
	struct build *s = state;
	struct sb_index_writer w;
	struct sb_buf info = {0};
	char msg[SB_FAISS_MSG];
	int rc;

	if (s->rows == 0)
		return sb_error_set(err, SB_EINVAL, "the input holds no embeddings (empty stream)");
	rc = add_pending(s, err);
	if (!rc)
		rc = build_info(s, &info, err);
	if (!rc)
		rc = sb_index_writer_open(&w, s->out, err);
	else
		memset(&w, 0, sizeof w);
	if (!rc && sb_faiss_write(s->index, sb_index_write_payload, &w, msg))
		rc = sb_error_set(err, SB_EIO, "%s: %s", w.tmp, msg);
	if (!rc)
		rc = sb_index_writer_finish(&w, info.data, info.len, s->texts.data,
					    s->has_text ? s->texts.len : 0, s->rows, err);
	sb_index_writer_close(&w);
	sb_buf_destroy(&info);
	return rc;
}

const struct sb_stage sb_stage_index_build = {
    .version = SB_STAGE_VERSION,
    .name = "index-build",
    .input = SB_STAGE_IN_FRAMES,
    .open = build_open,
    .process = build_process,
    .flush = build_flush,
    .close = build_close,
};
