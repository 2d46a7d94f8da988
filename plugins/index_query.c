/*
 * index_query.c - the query stage of sb-index: embeddings frames in, the top_k rows of
 * an index file for each, as scores frames shaped as sb-cosine --corpus writes them:
 * score float32 [n], a int64 [n] (the query's row), b int64 [n] (the index's row), and,
 * when either side has texts, "query text TAB row text" (tabs and line breaks inside
 * them as spaces).
 *
 * Scores: cosine and dot indexes give FAISS's float32 inner products; euclidean ones
 * -sqrt of FAISS's squared distance, as sb-cosine's metric euclidean (higher is
 * nearer).  Rows FAISS does not find (k beyond the index's rows, IVF lists too few) are
 * left out.
 */
#include <limits.h>
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

#define OUT_CHUNK 4096

struct query {
	char *path;
	size_t top_k, batch;
	int allow_mixed, threads;

	struct sb_index_file file; /* info and texts (the FAISS bytes go to FAISS) */
	struct sb_faiss *index;
	struct sb_ident index_id; /* of the rows in the index */
	enum sb_index_metric metric;
	int normalize;

	struct sb_ident id; /* of the first query frame */
	struct sb_frame meta_keep;
	float *q;	      /* [batch, dim] queries held */
	uint64_t *q_index;    /* [batch] their rows */
	struct sb_buf q_text; /* their texts, NUL-terminated, in order */
	int q_has_text;
	size_t n_q;
	float *scores; /* [batch, top_k] */
	int64_t *ids;  /* [batch, top_k] */
	uint64_t rows_seen, out_rows;

	struct sb_frame out;
	float *o_score; /* [OUT_CHUNK] */
	int64_t *o_a, *o_b;
	struct sb_buf o_text; /* NUL-terminated texts of the pending output rows */
	int o_has_text;	      /* some of them are real texts (else each is a tab) */
	size_t o_n;
};

static void query_close(void *state)
{
	struct query *s = state;

	if (!s)
		return;
	sb_faiss_free(&s->index);
	sb_index_file_destroy(&s->file);
	sb_frame_destroy(&s->meta_keep);
	sb_frame_destroy(&s->out);
	sb_buf_destroy(&s->q_text);
	sb_buf_destroy(&s->o_text);
	free(s->q);
	free(s->q_index);
	free(s->scores);
	free(s->ids);
	free(s->o_score);
	free(s->o_a);
	free(s->o_b);
	free(s->path);
	free(s);
}

static void info_str(const struct sb_index_file *f, const char *key, char *dst, size_t size)
{
	const char *v = sb_index_file_get(f, key);

	snprintf(dst, size, "%s", v ? v : "");
}

/* What the index says of its rows: the identity they had, the metric, the width. */
static int index_ident(struct query *s, struct sb_error *err)
{
	const struct sb_index_file *f = &s->file;
	const char *metric = sb_index_file_get(f, "metric"),
		   *nq = sb_index_file_get(f, "normalize_queries");
	char dim[32];

	if (!metric || !nq || sb_index_metric_parse(metric, &s->metric, err))
		return sb_error_set(err, SB_EFORMAT, "%s: info has no valid metric", s->path);
	s->normalize = !strcmp(nq, "1");
	memset(&s->index_id, 0, sizeof s->index_id);
	s->index_id.set = 1;
	s->index_id.dtype = SB_DTYPE_F32;
	s->index_id.width = sb_faiss_dim(s->index);
	info_str(f, "model", s->index_id.model, sizeof s->index_id.model);
	info_str(f, "model_fingerprint", s->index_id.fingerprint, sizeof s->index_id.fingerprint);
	info_str(f, "pooling", s->index_id.pooling, sizeof s->index_id.pooling);
	info_str(f, "precision", s->index_id.precision, sizeof s->index_id.precision);
	info_str(f, "encode_precision", s->index_id.encode_precision,
		 sizeof s->index_id.encode_precision);
	info_str(f, "dim", dim, sizeof dim);
	if (strtoull(dim, NULL, 10) != s->index_id.width || sb_faiss_rows(s->index) != f->rows ||
	    (sb_faiss_metric_of(s->index) == SB_FAISS_L2) != (s->metric == SB_INDEX_EUCLIDEAN))
		return sb_error_set(err, SB_EFORMAT,
				    "%s: the FAISS index (%llu rows of %zu) does not match its "
				    "info (%llu rows of %s, metric %s)",
				    s->path, (unsigned long long)sb_faiss_rows(s->index),
				    s->index_id.width, (unsigned long long)f->rows, dim, metric);
	return SB_OK;
}

int sb_index_set_params(struct sb_faiss *x, const char *nprobe, const char *ef,
			const char *where, const char *factory, struct sb_error *err)
{
	char msg[SB_FAISS_MSG];
	size_t v;
	int rc = SB_OK;

	if (nprobe && !(rc = sb_kv_count("index", "nprobe", nprobe, 1, 1 << 30, &v, err)) &&
	    sb_faiss_set(x, "nprobe", (double)v, msg))
		rc = sb_error_set(err, SB_EINVAL, "nprobe=%s: %s ('%s') has no inverted lists",
				  nprobe, where, factory);
	if (!rc && ef && !(rc = sb_kv_count("index", "ef_search", ef, 1, 1 << 30, &v, err)) &&
	    sb_faiss_set(x, "efSearch", (double)v, msg))
		rc = sb_error_set(err, SB_EINVAL, "ef_search=%s: %s ('%s') is not an HNSW graph",
				  ef, where, factory);
	return rc;
}

/* Reads the file, hands its FAISS bytes to FAISS, sets the search parameters. */
static int load(struct query *s, const char *nprobe, const char *ef, struct sb_error *err)
{
	char msg[SB_FAISS_MSG], where[PATH_MAX + 8];
	int rc;

	rc = sb_index_file_open(&s->file, s->path, err);
	if (rc)
		return rc;
	s->index = sb_faiss_read(sb_index_read_payload, &s->file, msg);
	if (!s->index)
		return sb_error_set(err, SB_EFORMAT, "%s: %s", s->path, msg);
	rc = sb_index_file_payload_done(&s->file, err);
	if (!rc)
		rc = index_ident(s, err);
	snprintf(where, sizeof where, "index %s", s->path);
	if (!rc)
		rc = sb_index_set_params(s->index, nprobe, ef, where,
					 sb_index_file_get(&s->file, "factory"), err);
	return rc;
}

static int query_open(void **state, const struct sb_kv *opts, size_t n_opts, struct sb_error *err)
{
	static const char *const known[] = {"index",	   "top_k",	  "nprobe", "ef_search",
					    "query_batch", "allow_mixed", "threads"};
	struct query *s;
	const char *v;
	int rc = SB_OK;

	*state = NULL;
	rc = sb_kv_known("index", opts, n_opts, known, sizeof(known) / sizeof(known[0]), err);
	if (rc != SB_OK)
		return rc;
	if (!sb_kv_get(opts, n_opts, "index"))
		return sb_error_set(err, SB_EINVAL, "index: query needs index=FILE");
	s = calloc(1, sizeof *s);
	if (!s)
		return sb_error_set(err, SB_ENOMEM, "index: out of memory");
	sb_frame_init(&s->meta_keep);
	sb_frame_init(&s->out);
	s->top_k = 10;
	s->batch = 1024;
	s->threads = sb_par_cores();
	s->path = strdup(sb_kv_get(opts, n_opts, "index"));
	if (!s->path) {
		rc = sb_error_set(err, SB_ENOMEM, "index: out of memory");
		goto fail;
	}
	if ((v = sb_kv_get(opts, n_opts, "top_k")) &&
	    (rc = sb_kv_count("index", "top_k", v, 1, (size_t)1 << 20, &s->top_k, err)))
		goto fail;
	if ((v = sb_kv_get(opts, n_opts, "query_batch")) &&
	    (rc = sb_kv_count("index", "query_batch", v, 1, (size_t)1 << 20, &s->batch, err)))
		goto fail;
	if ((v = sb_kv_get(opts, n_opts, "threads"))) {
		size_t n;
		if ((rc = sb_kv_count("index", "threads", v, 1, SB_PAR_MAX, &n, err)))
			goto fail;
		s->threads = (int)n;
	}
	v = sb_kv_get(opts, n_opts, "allow_mixed");
	s->allow_mixed = v && strcmp(v, "0") != 0;
	sb_faiss_set_threads(s->threads);
	rc = load(s, sb_kv_get(opts, n_opts, "nprobe"), sb_kv_get(opts, n_opts, "ef_search"), err);
	if (rc)
		goto fail;
	s->q = malloc(s->batch * s->index_id.width * sizeof *s->q);
	s->q_index = malloc(s->batch * sizeof *s->q_index);
	s->scores = malloc(s->batch * s->top_k * sizeof *s->scores);
	s->ids = malloc(s->batch * s->top_k * sizeof *s->ids);
	s->o_score = malloc(OUT_CHUNK * sizeof *s->o_score);
	s->o_a = malloc(OUT_CHUNK * sizeof *s->o_a);
	s->o_b = malloc(OUT_CHUNK * sizeof *s->o_b);
	if (!s->q || !s->q_index || !s->scores || !s->ids || !s->o_score || !s->o_a || !s->o_b) {
		rc = sb_error_set(err, SB_ENOMEM, "index: out of memory for %zu queries", s->batch);
		goto fail;
	}
	*state = s;
	return SB_OK;
fail:
	query_close(s);
	return rc;
}

/* ---- output ---- */

static int emit_scores(struct query *s, struct sb_emit *emit, struct sb_error *err)
{
	struct sb_tensor *t;
	size_t n = s->o_n;
	const char *txt = (const char *)s->o_text.data;
	int rc;

	if (n == 0)
		return SB_OK;
	sb_frame_reset(&s->out);
	s->out.kind = SB_KIND_SCORES;
	s->out.seq = s->out_rows;
	s->out.rows = n;
	rc = sb_frame_tensor_resize(&s->out, "score", SB_DTYPE_F32, 1, &n, &t, err);
	if (!rc)
		memcpy(t->data, s->o_score, n * sizeof(float));
	if (!rc)
		rc = sb_frame_tensor_resize(&s->out, "a", SB_DTYPE_I64, 1, &n, &t, err);
	if (!rc)
		memcpy(t->data, s->o_a, n * sizeof(int64_t));
	if (!rc)
		rc = sb_frame_tensor_resize(&s->out, "b", SB_DTYPE_I64, 1, &n, &t, err);
	if (!rc)
		memcpy(t->data, s->o_b, n * sizeof(int64_t));
	if (!rc && s->o_has_text) {
		rc = sb_frame_text_alloc(&s->out, n, err);
		for (size_t i = 0; !rc && i < n; i++) {
			size_t len = strlen(txt);
			rc = sb_frame_text_set(&s->out, i, txt, len, err);
			txt += len + 1;
		}
	}
	if (!rc)
		rc = sb_frame_meta_copy(&s->out, &s->meta_keep, err);
	if (!rc)
		rc = sb_frame_meta_str(&s->out, "metric", sb_index_metric_name(s->metric), err);
	if (!rc)
		rc = sb_emit_frame(emit, &s->out, err);
	s->out_rows += n;
	s->o_n = 0;
	s->o_has_text = 0;
	sb_buf_clear(&s->o_text);
	return rc;
}

/* Appends t with tabs and line breaks as spaces, so "a\tb" stays two fields. */
static int put_text(struct sb_buf *b, const char *t, struct sb_error *err)
{
	int rc = SB_OK;

	for (; !rc && *t; t++) {
		char c = (*t == '\t' || *t == '\n' || *t == '\r') ? ' ' : *t;
		rc = sb_buf_append(b, &c, 1, err);
	}
	return rc;
}

static int add_score(struct query *s, struct sb_emit *emit, uint64_t a, int64_t b, float sc,
		     const char *ta, struct sb_error *err)
{
	const char *tb = s->file.text ? s->file.text[b] : "";
	int rc = SB_OK;

	s->o_score[s->o_n] = sc;
	s->o_a[s->o_n] = (int64_t)a;
	s->o_b[s->o_n] = b;
	/* every output row has a text (maybe just the tab) once either side has texts */
	if (s->q_has_text || s->file.text) {
		rc = put_text(&s->o_text, ta, err);
		if (!rc)
			rc = sb_buf_append(&s->o_text, "\t", 1, err);
		if (!rc)
			rc = put_text(&s->o_text, tb, err);
		if (!rc)
			rc = sb_buf_append(&s->o_text, "", 1, err);
		s->o_has_text = 1;
	} else {
		rc = sb_buf_append(&s->o_text, "\t", 2, err);
	}
	if (rc)
		return rc;
	if (++s->o_n == OUT_CHUNK)
		return emit_scores(s, emit, err);
	return SB_OK;
}

/* ---- searching ---- */

/* Searches the held queries and emits their lists. */
static int search(struct query *s, struct sb_emit *emit, struct sb_error *err)
{
	char msg[SB_FAISS_MSG];
	const char *qt = (const char *)s->q_text.data;
	uint64_t rows = sb_faiss_rows(s->index);
	int rc = SB_OK;

	if (s->n_q == 0)
		return SB_OK;
	if (sb_faiss_search(s->index, s->n_q, s->q, s->top_k, s->scores, s->ids, msg))
		return sb_error_set(err, SB_EINVAL, "%s: %s", s->path, msg);
	for (size_t i = 0; !rc && i < s->n_q; i++) {
		const char *ta = qt;

		for (size_t j = 0; !rc && j < s->top_k; j++) {
			int64_t b = s->ids[i * s->top_k + j];
			float sc = s->scores[i * s->top_k + j];

			if (b < 0 || (uint64_t)b >= rows)
				continue;
			if (s->metric == SB_INDEX_EUCLIDEAN)
				sc = -sqrtf(sc > 0 ? sc : 0);
			rc = add_score(s, emit, s->q_index[i], b, sc, ta, err);
		}
		qt += strlen(qt) + 1;
	}
	s->n_q = 0;
	sb_buf_clear(&s->q_text);
	return rc;
}

/* The identity of a query frame: the first against the index, the others against it. */
static int check_frame(struct query *s, const struct sb_frame *in, const struct sb_ident *id,
		       struct sb_error *err)
{
	char what[320];
	int rc;

	if (s->id.set) {
		snprintf(what, sizeof what, "row %llu", (unsigned long long)in->seq);
		return sb_ident_check(s->allow_mixed, &s->id, id, what, "earlier rows", err);
	}
	if (id->dtype != SB_DTYPE_F32)
		return sb_error_set(err, SB_EUNSUPPORTED,
				    "queries of %s: an index is queried with float32 embeddings",
				    sb_dtype_name(id->dtype));
	snprintf(what, sizeof what, "index %s", s->path);
	rc = sb_ident_check(s->allow_mixed, id, &s->index_id, what, "the queries", err);
	if (!rc)
		rc = sb_frame_meta_copy(&s->meta_keep, in, err);
	if (!rc)
		s->id = *id;
	return rc;
}

static int query_process(void *state, const struct sb_frame *in, struct sb_emit *emit,
			 struct sb_error *err)
{
	struct query *s = state;
	size_t w = s->index_id.width, bad;
	struct sb_tensor *e;
	struct sb_ident id;
	int rc;

	rc = sb_ident_read(in, &id, &e, err);
	if (!rc)
		rc = check_frame(s, in, &id, err);
	if (rc)
		return rc;
	if (in->has_text)
		s->q_has_text = 1;
	for (size_t r = 0; r < in->rows; r++) {
		const float *x = (const float *)e->data + r * w;
		const char *t = in->has_text ? in->text[r].p : "";

		if (!sb_sim_finite(x, w, &bad))
			return sb_error_set(err, SB_EFORMAT,
					    "row %llu: embedding has %s at dimension %zu",
					    (unsigned long long)(in->seq + r),
					    x[bad] != x[bad] ? "NaN" : "Inf", bad);
		memcpy(s->q + s->n_q * w, x, w * sizeof(float));
		if (s->normalize)
			sb_index_normalize(s->q + s->n_q * w, 1, w);
		s->q_index[s->n_q] = in->seq + r;
		rc = sb_buf_append(&s->q_text, t, strlen(t) + 1, err);
		if (!rc && ++s->n_q == s->batch)
			rc = search(s, emit, err);
		if (rc)
			return rc;
	}
	s->rows_seen += in->rows;
	return SB_OK;
}

static int query_flush(void *state, struct sb_emit *emit, struct sb_error *err)
{
	struct query *s = state;
	int rc;

	if (s->rows_seen == 0)
		return sb_error_set(err, SB_EINVAL, "the input holds no embeddings (empty stream)");
	rc = search(s, emit, err);
	return rc ? rc : emit_scores(s, emit, err);
}

/* The parameter name in use, or -1 where the index has none. */
static long param(const struct sb_faiss *x, const char *name)
{
	double v;

	return sb_faiss_get(x, name, &v) ? (long)v : -1;
}

static void query_report(void *state, void *out)
{
	const struct query *s = state;
	struct sb_index_report *r = out;

	r->path = s->path;
	r->factory = sb_index_file_get(&s->file, "factory");
	r->nprobe = param(s->index, "nprobe");
	r->ef_search = param(s->index, "efSearch");
}

const struct sb_stage sb_stage_index_query = {
    .version = SB_STAGE_VERSION,
    .name = "index-query",
    .input = SB_STAGE_IN_FRAMES,
    .open = query_open,
    .process = query_process,
    .flush = query_flush,
    .close = query_close,
    .report = query_report,
};
