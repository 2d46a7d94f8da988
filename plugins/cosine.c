/*
 * cosine.c - the cosine stage: `embeddings` frames in, `scores` frames out.
 *
 * Options (key=value):
 *   mode=first|pairs|all|matrix|corpus|mine
 *       first   the first row against every other row (default; streams)
 *       pairs   rows 2k and 2k+1, one score per pair (streams; the STS shape)
 *       all     every pair i < j, or with top_k the k best j != i for every row i
 *               (one list per row: a pair can appear twice; holds all rows)
 *       matrix  the full N x N matrix (holds all rows)
 *       corpus  the top_k best rows of corpus=FILE for every input row (semantic search;
 *               the corpus is streamed from the file once per batch of queries)
 *       mine    paraphrase mining as sentence-transformers' paraphrase_mining: the
 *               max_pairs best pairs i < j among every row's top_k neighbours, best
 *               first, each pair once (holds all rows)
 *   metric=cosine|dot|euclidean|manhattan|hamming
 *   top_k=K            (corpus: default 10; mine: default 100)
 *   max_pairs=N        mine: pairs kept (default 500000)
 *   threshold=T        all, corpus, mine: drop the scores below T
 *   corpus=FILE        an embeddings frame stream saved earlier (sb-pool -o FILE)
 *   query_batch=N      corpus mode: input rows scored per pass over the corpus (1024)
 *   allow_mixed=1      compare embeddings whose meta names different models, poolings
 *                      or encoder arithmetics (encode_precision)
 *   threads=N          corpus, all with top_k, mine: threads sharing the queries
 *                      (default: the cores available)
 *   block_rows=N       corpus rows per float32 product (lib/search.h; 2048)
 *   kernels=ISA        auto (default), generic, avx2, avx512: with avx512 the search
 *                      runs on the packed kernel of lib/gemm.c, else on cblas_sgemm
 *   exact=1            score every pair one double dot product at a time (the
 *                      reference path the products are checked against)
 *
 * Corpus search, all with top_k and mine go through lib/search.h for the metrics it
 * supports (cosine, dot, euclidean): the same rows, order and scores as the pair-by-pair
 * path, at BLAS speed.  Manhattan and hamming stay on the pair-by-pair path.
 *
 * A scores frame holds `score` float32 [n] with `a` and `b` int64 [n], the row indices
 * (b indexes the corpus in corpus mode); in matrix mode `score` is [n, N] and `a` [n].
 * When the embeddings carry texts, each scores row's text is the two texts joined by a
 * tab (tabs inside them become spaces); matrix rows carry their row's text.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cosine.h"
#include "frame.h"
#include "ident.h"
#include "ops.h"
#include "par.h"
#include "reader.h"
#include "scores.h"
#include "search.h"
#include "similarity.h"
#include "stage.h"
#include "transport.h"

enum mode { MODE_FIRST, MODE_PAIRS, MODE_ALL, MODE_MATRIX, MODE_CORPUS, MODE_MINE };

#define MINE_TOP_K 100	       /* sentence-transformers' paraphrase_mining defaults */
#define MINE_MAX_PAIRS 500000

#define OUT_CHUNK 4096 /* scores rows per output frame */

/* Rows kept in memory: working representation (floats, or bytes for hamming). */
struct store {
	struct sb_buf data; /* n * row_bytes */
	double *norm;	    /* [cap] */
	char **text;	    /* [cap], NULL when absent */
	uint64_t *index;    /* [cap] global row index */
	size_t n, cap;
};

struct outbuf {
	float *score;
	int64_t *a, *b;
	char **text;
	size_t n;
	int has_text;
};

struct cosine {
	enum mode mode;
	enum sb_metric metric;
	size_t top_k;
	size_t max_pairs;  /* mine */
	int has_threshold; /* drop scores below threshold (all, corpus, mine) */
	double threshold;
	int allow_mixed;
	char *corpus_path;
	const struct sb_stage_io *io; /* the runner's: opens the corpus (set_io) */
	size_t query_batch;
	int exact;	   /* exact=1: the pair-by-pair path */
	size_t block_rows; /* 0: the default of lib/search.h */
	int threads;

	struct sb_search *search; /* NULL: the pair-by-pair path */
	uint64_t *self;		  /* [query_batch] all with top_k: each query's own index */
	uint64_t search_queries;  /* query rows searched, for the statistics */

	struct sb_ident id;  /* of the input stream */
	size_t row_bytes; /* working representation */
	uint64_t rows_seen;
	uint64_t zero_rows;
	int in_text; /* input frames carry texts */

	struct store st;       /* first row, pending pair, all rows or query batch */
	struct sb_buf conv;    /* one frame converted to the working representation */
	struct sb_topk *heaps; /* [query_batch] in corpus mode */

	struct outbuf ob;
	struct sb_frame out;
	uint64_t out_rows;
	struct sb_frame meta_keep; /* meta of the first input frame */
};

static void cosine_set_io(void *state, const struct sb_stage_io *io)
{
	struct cosine *s = state;

	s->io = io;
}

static void cosine_report(void *state, void *out)
{
	const struct cosine *s = state;
	struct sb_cosine_report *r = out;

	memset(r, 0, sizeof *r);
	r->zero_rows = s->zero_rows;
	if (!s->search)
		return;
	r->search.threads = s->threads;
	r->search.kernel = sb_search_packed(s->search) ? "sb avx512 kernel" : "OpenBLAS sgemm";
	r->search.queries = s->search_queries;
	r->search.rescored = sb_search_rescored(s->search);
}

/* ---- options ---- */

static void store_destroy(struct store *st)
{
	for (size_t i = 0; i < st->n; i++)
		free(st->text[i]);
	sb_buf_destroy(&st->data);
	free(st->norm);
	free(st->text);
	free(st->index);
	memset(st, 0, sizeof *st);
}

static void store_clear(struct store *st)
{
	for (size_t i = 0; i < st->n; i++) {
		free(st->text[i]);
		st->text[i] = NULL;
	}
	st->n = 0;
	sb_buf_clear(&st->data);
}

static void outbuf_clear(struct outbuf *ob)
{
	if (ob->text)
		for (size_t i = 0; i < ob->n; i++) {
			free(ob->text[i]);
			ob->text[i] = NULL;
		}
	ob->n = 0;
}

static void cosine_close(void *state)
{
	struct cosine *s = state;

	if (!s)
		return;
	store_destroy(&s->st);
	sb_buf_destroy(&s->conv);
	if (s->heaps)
		for (size_t i = 0; i < s->query_batch; i++)
			sb_topk_destroy(&s->heaps[i]);
	free(s->heaps);
	sb_search_close(&s->search);
	free(s->self);
	outbuf_clear(&s->ob);
	free(s->ob.score);
	free(s->ob.a);
	free(s->ob.b);
	free(s->ob.text);
	sb_frame_destroy(&s->out);
	sb_frame_destroy(&s->meta_keep);
	free(s->corpus_path);
	free(s);
}

/* mode: one of the modes, in the order of enum mode. */
static int mode_option(struct cosine *s, const struct sb_kv *opts, size_t n_opts,
		       struct sb_error *err)
{
	static const char *const modes[] = { "first", "pairs", "all", "matrix", "corpus", "mine" };
	const size_t n_modes = sizeof modes / sizeof modes[0];
	const char *v = sb_kv_get(opts, n_opts, "mode");
	size_t k = 0;

	if (!v)
		return SB_OK;
	while (k < n_modes && strcmp(v, modes[k]) != 0)
		k++;
	if (k == n_modes)
		return sb_error_set(err, SB_EINVAL, "mode: unknown mode '%s' (first, pairs, all, "
				    "matrix, corpus, mine)", v);
	s->mode = (enum mode)k;
	return SB_OK;
}

/* metric, top_k, query_batch, block_rows, threads, kernels. */
static int search_options(struct cosine *s, const struct sb_kv *opts, size_t n_opts,
			  struct sb_error *err)
{
	const char *v;
	int rc;

	v = sb_kv_get(opts, n_opts, "metric");
	if (v && (rc = sb_metric_parse(v, &s->metric, err)))
		return rc;
	v = sb_kv_get(opts, n_opts, "top_k");
	if (v && (rc = sb_kv_count("cosine", "top_k", v, 1, (size_t)1 << 32, &s->top_k, err)))
		return rc;
	v = sb_kv_get(opts, n_opts, "query_batch");
	if (v && (rc = sb_kv_count("cosine", "query_batch", v, 1, (size_t)1 << 32,
				     &s->query_batch, err)))
		return rc;
	v = sb_kv_get(opts, n_opts, "block_rows");
	if (v && (rc = sb_kv_count("cosine", "block_rows", v, 1, (size_t)1 << 24, &s->block_rows,
				     err)))
		return rc;
	s->threads = sb_par_cores();
	v = sb_kv_get(opts, n_opts, "threads");
	if (v) {
		size_t n;
		if ((rc = sb_kv_count("cosine", "threads", v, 1, SB_PAR_MAX, &n, err)))
			return rc;
		s->threads = (int)n;
	}
	v = sb_kv_get(opts, n_opts, "kernels");
	if (v) {
		enum sb_ops_isa isa;
		if ((rc = sb_ops_isa_parse(v, &isa, err)) || (rc = sb_ops_select(isa, err))) {
			sb_error_prefix(err, "cosine: ");
			return rc;
		}
	}
	return SB_OK;
}

/* exact, max_pairs, threshold, allow_mixed. */
static int score_options(struct cosine *s, const struct sb_kv *opts, size_t n_opts,
			 struct sb_error *err)
{
	const char *v;
	int rc;

	v = sb_kv_get(opts, n_opts, "exact");
	s->exact = v && strcmp(v, "0") != 0;
	v = sb_kv_get(opts, n_opts, "max_pairs");
	if (v && (rc = sb_kv_count("cosine", "max_pairs", v, 1, (size_t)1 << 40, &s->max_pairs,
				     err)))
		return rc;
	v = sb_kv_get(opts, n_opts, "threshold");
	if (v) {
		char *end;

		errno = 0;
		s->threshold = strtod(v, &end);
		if (end == v || *end || errno || !isfinite(s->threshold))
			return sb_error_set(err, SB_EINVAL,
					    "cosine: threshold: '%s' is not a number", v);
		s->has_threshold = 1;
	}
	v = sb_kv_get(opts, n_opts, "allow_mixed");
	s->allow_mixed = v && strcmp(v, "0") != 0;
	return SB_OK;
}

/* corpus=FILE: mode corpus (another mode given is an error). */
static int corpus_option(struct cosine *s, const struct sb_kv *opts, size_t n_opts,
			 struct sb_error *err)
{
	const char *v = sb_kv_get(opts, n_opts, "corpus");

	if (v) {
		if (s->mode != MODE_CORPUS && sb_kv_get(opts, n_opts, "mode"))
			return sb_error_set(err, SB_EINVAL, "corpus: only with mode corpus");
		s->mode = MODE_CORPUS;
		s->corpus_path = strdup(v);
		if (!s->corpus_path)
			return sb_error_set(err, SB_ENOMEM, "cosine: out of memory");
	}
	if (s->mode == MODE_CORPUS && !s->corpus_path)
		return sb_error_set(err, SB_EINVAL, "mode corpus needs corpus=FILE");
	return SB_OK;
}

/* The options each mode takes, their defaults, and the top-k heaps of the searches. */
static int mode_settings(struct cosine *s, struct sb_error *err)
{
	int rc = SB_OK;

	if (s->mode == MODE_CORPUS && !s->top_k)
		s->top_k = 10;
	if (s->mode == MODE_CORPUS || (s->mode == MODE_ALL && s->top_k)) {
		s->heaps = calloc(s->query_batch, sizeof *s->heaps);
		if (!s->heaps)
			return sb_error_set(err, SB_ENOMEM, "cosine: out of memory");
		for (size_t i = 0; i < s->query_batch && !rc; i++)
			rc = sb_topk_init(&s->heaps[i], s->top_k, err);
		if (rc)
			return rc;
	} else if (s->top_k && s->mode != MODE_ALL && s->mode != MODE_MINE) {
		return sb_error_set(err, SB_EINVAL, "top_k: only with mode all, mine or corpus");
	}
	if (s->mode == MODE_MINE) {
		if (!s->top_k)
			s->top_k = MINE_TOP_K;
		if (!s->max_pairs)
			s->max_pairs = MINE_MAX_PAIRS;
	} else if (s->max_pairs) {
		return sb_error_set(err, SB_EINVAL, "max_pairs: only with mode mine");
	}
	if (s->has_threshold && s->mode != MODE_ALL && s->mode != MODE_MINE &&
	    s->mode != MODE_CORPUS)
		return sb_error_set(err, SB_EINVAL,
				    "threshold: only with mode all, mine or corpus");
	return SB_OK;
}

static int cosine_open(void **state, const struct sb_kv *opts, size_t n_opts, struct sb_error *err)
{
	static const char *const known[] = { "mode", "metric", "top_k", "corpus", "query_batch",
					     "allow_mixed", "max_pairs", "threshold", "exact",
					     "block_rows", "threads", "kernels" };
	struct cosine *s;
	int rc;

	*state = NULL;
	rc = sb_kv_known("cosine", opts, n_opts, known, sizeof(known) / sizeof(known[0]), err);
	if (rc != SB_OK)
		return rc;
	s = calloc(1, sizeof *s);
	if (!s)
		return sb_error_set(err, SB_ENOMEM, "cosine: out of memory");
	sb_frame_init(&s->out);
	sb_frame_init(&s->meta_keep);
	s->query_batch = 1024;
	if ((rc = mode_option(s, opts, n_opts, err)) ||
	    (rc = search_options(s, opts, n_opts, err)) ||
	    (rc = score_options(s, opts, n_opts, err)) ||
	    (rc = corpus_option(s, opts, n_opts, err)) || (rc = mode_settings(s, err))) {
		cosine_close(s);
		return rc;
	}
	*state = s;
	return SB_OK;
}

/* ---- identity of a stream ---- */

static int packed_binary(const struct sb_ident *id)
{
	return !strcmp(id->precision, "binary") || !strcmp(id->precision, "ubinary");
}

/*
 * Opens the blocked search when the mode and metric have one (see the top), with BLAS at
 * one thread: the search's own threads share the queries.
 */
static int open_search(struct cosine *s, struct sb_error *err)
{
	struct sb_search_opts o;
	int rc;

	if (s->exact || !sb_search_supports(s->metric) ||
	    !(s->mode == MODE_CORPUS || s->mode == MODE_MINE ||
	      (s->mode == MODE_ALL && s->top_k)))
		return SB_OK;
	memset(&o, 0, sizeof o);
	o.metric = s->metric;
	o.dim = s->id.width;
	o.max_queries = s->query_batch;
	o.block_rows = s->block_rows;
	o.threads = s->threads;
	rc = sb_search_open(&s->search, &o, err);
	if (rc)
		return sb_error_prefix(err, "cosine: ");
	if (s->mode == MODE_ALL) {
		s->self = malloc(s->query_batch * sizeof *s->self);
		if (!s->self)
			return sb_error_set(err, SB_ENOMEM, "cosine: out of memory");
	}
	sb_ops_set_threads(1);
	return SB_OK;
}

/* Decides the working representation on the first frame. */
static int first_ident(struct cosine *s, const struct sb_ident *id, struct sb_error *err)
{
	int packed = packed_binary(id);

	if (s->metric == SB_METRIC_HAMMING) {
		if (id->dtype == SB_DTYPE_F32)
			return sb_error_set(err, SB_EINVAL,
					    "metric hamming compares packed binary "
					    "embeddings (sb-pool --precision binary or ubinary); "
					    "these are float32");
		s->row_bytes = id->width;
	} else {
		if (packed)
			return sb_error_set(err, SB_EINVAL,
					    "embeddings are packed bits (precision "
					    "%s): only metric hamming compares them",
					    id->precision);
		if (sb_size_mul(id->width, sizeof(float), &s->row_bytes) < 0)
			return sb_error_set(err, SB_ELIMIT, "embedding width %zu too large",
					    id->width);
	}
	s->id = *id;
	return open_search(s, err);
}

/*
 * Returns the rows of tensor e in the working representation: the data itself, or
 * int8/uint8 values converted to floats in s->conv.  Checks float rows are finite.
 */
static int working_rows(struct cosine *s, const struct sb_tensor *e, uint64_t first_row,
			const char *where, const unsigned char **out, struct sb_error *err)
{
	size_t rows = e->shape[0], w = e->shape[1], n;

	if (s->metric == SB_METRIC_HAMMING || e->dtype == SB_DTYPE_F32) {
		*out = e->data;
	} else {
		float *f;
		if (sb_size_mul(rows, s->row_bytes, &n) < 0)
			return sb_error_set(err, SB_ELIMIT, "frame too large");
		int rc;

		sb_buf_clear(&s->conv);
		rc = sb_buf_reserve(&s->conv, n, err);
		if (rc)
			return rc;
		f = (float *)(void *)s->conv.data;
		for (size_t i = 0; i < rows * w; i++)
			f[i] = e->dtype == SB_DTYPE_I8 ? (float)((const int8_t *)e->data)[i]
						       : (float)((const uint8_t *)e->data)[i];
		*out = s->conv.data;
	}
	if (s->metric != SB_METRIC_HAMMING)
		for (size_t r = 0; r < rows; r++) {
			const float *x = (const float *)(const void *)(*out + r * s->row_bytes);
			size_t bad;
			if (!sb_sim_finite(x, w, &bad))
				return sb_error_set(err, SB_EFORMAT,
						    "%srow %llu: embedding has %s at "
						    "dimension %zu",
						    where, (unsigned long long)(first_row + r),
						    x[bad] != x[bad] ? "NaN" : "Inf", bad);
		}
	return SB_OK;
}

static double row_norm(struct cosine *s, const unsigned char *row)
{
	double n;

	if (s->metric != SB_METRIC_COSINE)
		return 0;
	n = sb_sim_norm((const float *)(const void *)row, s->id.width);
	if (n <= SB_SIM_EPS)
		s->zero_rows++;
	return n;
}

static double score(const struct cosine *s, const unsigned char *a, double na,
		    const unsigned char *b, double nb)
{
	return sb_sim_score(s->metric, a, b, s->id.width, na, nb);
}

/* ---- stored rows ---- */

static int store_add(struct store *st, const unsigned char *row, size_t row_bytes, double norm,
		     const struct sb_text *text, uint64_t index, struct sb_error *err)
{
	int rc;

	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 64;
		double *nn = realloc(st->norm, cap * sizeof *nn);
		char **tt;
		uint64_t *ii;

		if (nn)
			st->norm = nn;
		tt = nn ? realloc(st->text, cap * sizeof *tt) : NULL;
		if (tt)
			st->text = tt;
		ii = tt ? realloc(st->index, cap * sizeof *ii) : NULL;
		if (!ii)
			return sb_error_set(err, SB_ENOMEM, "cannot hold %zu rows", cap);
		st->index = ii;
		st->cap = cap;
	}
	rc = sb_buf_append(&st->data, row, row_bytes, err);
	if (rc)
		return rc;
	st->text[st->n] = NULL;
	if (text) {
		st->text[st->n] = malloc(text->n + 1);
		if (!st->text[st->n])
			return sb_error_set(err, SB_ENOMEM, "cannot copy a text of %zu bytes",
					    text->n);
		memcpy(st->text[st->n], text->p, text->n + 1);
	}
	st->norm[st->n] = norm;
	st->index[st->n] = index;
	st->n++;
	return SB_OK;
}

static const unsigned char *store_row(const struct cosine *s, size_t i)
{
	return s->st.data.data + i * s->row_bytes;
}

/* ---- output ---- */

static int emit_scores(struct cosine *s, struct sb_emit *emit, struct sb_error *err)
{
	struct sb_tensor *t;
	size_t n = s->ob.n;
	int rc;

	if (n == 0)
		return SB_OK;
	sb_frame_reset(&s->out);
	s->out.kind = SB_KIND_SCORES;
	s->out.seq = s->out_rows;
	s->out.rows = n;
	rc = sb_frame_tensor_resize(&s->out, "score", SB_DTYPE_F32, 1, &n, &t, err);
	if (!rc)
		memcpy(t->data, s->ob.score, n * sizeof(float));
	if (!rc)
		rc = sb_frame_tensor_resize(&s->out, "a", SB_DTYPE_I64, 1, &n, &t, err);
	if (!rc)
		memcpy(t->data, s->ob.a, n * sizeof(int64_t));
	if (!rc)
		rc = sb_frame_tensor_resize(&s->out, "b", SB_DTYPE_I64, 1, &n, &t, err);
	if (!rc)
		memcpy(t->data, s->ob.b, n * sizeof(int64_t));
	if (!rc && s->ob.has_text) {
		rc = sb_frame_text_alloc(&s->out, n, err);
		for (size_t i = 0; !rc && i < n; i++) {
			/* rows scored before the first text arrived get two empty texts */
			const char *txt = s->ob.text[i] ? s->ob.text[i] : "\t";
			rc = sb_frame_text_set(&s->out, i, txt, strlen(txt), err);
		}
	}
	if (!rc)
		rc = sb_frame_meta_copy(&s->out, &s->meta_keep, err);
	if (!rc)
		rc = sb_frame_meta_str(&s->out, "metric", sb_metric_name(s->metric), err);
	if (!rc)
		rc = sb_emit_frame(emit, &s->out, err);
	s->out_rows += n;
	outbuf_clear(&s->ob);
	return rc;
}

/* Copies t into dst with tabs and line breaks as spaces, so "a\tb" stays two fields. */
static size_t put_text(char *dst, const char *t)
{
	size_t n = 0;

	for (; t && *t; t++)
		dst[n++] = (*t == '\t' || *t == '\n' || *t == '\r') ? ' ' : *t;
	return n;
}

static int add_score(struct cosine *s, struct sb_emit *emit, uint64_t a, uint64_t b, double sc,
		     const char *ta, const char *tb, struct sb_error *err)
{
	struct outbuf *ob = &s->ob;
	size_t i;

	if (!ob->score) {
		ob->score = malloc(OUT_CHUNK * sizeof *ob->score);
		ob->a = malloc(OUT_CHUNK * sizeof *ob->a);
		ob->b = malloc(OUT_CHUNK * sizeof *ob->b);
		ob->text = calloc(OUT_CHUNK, sizeof *ob->text);
		if (!ob->score || !ob->a || !ob->b || !ob->text)
			return sb_error_set(err, SB_ENOMEM, "cosine: out of memory");
	}
	i = ob->n;
	ob->score[i] = (float)sc;
	ob->a[i] = (int64_t)a;
	ob->b[i] = (int64_t)b;
	if (ta || tb) {
		size_t la = ta ? strlen(ta) : 0, lb = tb ? strlen(tb) : 0, k;
		char *p = malloc(la + lb + 2);
		if (!p)
			return sb_error_set(err, SB_ENOMEM, "cosine: out of memory");
		k = put_text(p, ta);
		p[k++] = '\t';
		k += put_text(p + k, tb);
		p[k] = '\0';
		ob->text[i] = p;
		ob->has_text = 1;
	} else if (ob->has_text) {
		ob->text[i] = calloc(1, 2);
		if (!ob->text[i])
			return sb_error_set(err, SB_ENOMEM, "cosine: out of memory");
		ob->text[i][0] = '\t';
	}
	ob->n++;
	if (ob->n == OUT_CHUNK)
		return emit_scores(s, emit, err);
	return SB_OK;
}

/* Whether --threshold drops this score. */
static int below(const struct cosine *s, double sc)
{
	return s->has_threshold && sc < s->threshold;
}

/* ---- processing ---- */

static int scan_corpus(struct cosine *s, struct sb_emit *emit, struct sb_error *err);

static const char *text_of(const struct sb_frame *f, size_t r)
{
	return f->has_text ? f->text[r].p : NULL;
}

static int cosine_process(void *state, const struct sb_frame *in, struct sb_emit *emit,
			  struct sb_error *err)
{
	struct cosine *s = state;
	struct sb_tensor *e;
	struct sb_ident id;
	const unsigned char *rows;
	int rc;

	rc = sb_ident_read(in, &id, &e, err);
	if (rc)
		return rc;
	if (!s->id.set) {
		rc = first_ident(s, &id, err);
		if (!rc)
			rc = sb_frame_meta_copy(&s->meta_keep, in, err);
		if (rc)
			return rc;
	} else {
		char what[64];
		snprintf(what, sizeof what, "row %llu", (unsigned long long)in->seq);
		rc = sb_ident_check(s->allow_mixed, &s->id, &id, what, "earlier rows", err);
		if (rc)
			return rc;
	}
	if (in->has_text)
		s->in_text = 1;
	rc = working_rows(s, e, in->seq, "", &rows, err);
	if (rc)
		return rc;
	for (size_t r = 0; r < in->rows; r++) {
		const unsigned char *x = rows + r * s->row_bytes;
		uint64_t idx = in->seq + r;
		double nx = row_norm(s, x);
		const struct sb_text *tx = in->has_text ? &in->text[r] : NULL;

		switch (s->mode) {
		case MODE_FIRST:
			if (s->st.n == 0) {
				rc = store_add(&s->st, x, s->row_bytes, nx, tx, idx, err);
				break;
			}
			rc = add_score(s, emit, s->st.index[0], idx,
				       score(s, store_row(s, 0), s->st.norm[0], x, nx),
				       s->st.text[0], text_of(in, r), err);
			break;
		case MODE_PAIRS:
			if (s->st.n == 0) {
				rc = store_add(&s->st, x, s->row_bytes, nx, tx, idx, err);
				break;
			}
			rc = add_score(s, emit, s->st.index[0], idx,
				       score(s, store_row(s, 0), s->st.norm[0], x, nx),
				       s->st.text[0], text_of(in, r), err);
			store_clear(&s->st);
			break;
		case MODE_ALL:
		case MODE_MINE:
		case MODE_MATRIX:
			rc = store_add(&s->st, x, s->row_bytes, nx, tx, idx, err);
			break;
		case MODE_CORPUS:
			rc = store_add(&s->st, x, s->row_bytes, nx, tx, idx, err);
			if (!rc && s->st.n == s->query_batch)
				rc = scan_corpus(s, emit, err);
			break;
		}
		if (rc)
			return rc;
	}
	s->rows_seen += in->rows;
	if (s->mode == MODE_FIRST || s->mode == MODE_PAIRS)
		return emit_scores(s, emit, err);
	return SB_OK;
}

/* ---- corpus mode ---- */

struct corpus {
	struct cosine *s;
	struct sb_reader r;     /* r.f: the frame read last; r.rows: rows so far */
};

/*
 * Reads the next corpus frame into c->r.f.  Returns SB_OK with a frame, SB_EOF at its
 * end frame, or an error of the stream's rules (sb_reader: a gap in seq, a wrong
 * rows_total, a file cut before its end frame) naming the corpus file.
 */
static int corpus_next(struct corpus *c, struct sb_error *err)
{
	int rc = sb_reader_next(&c->r, err);

	if (rc == SB_OK && c->r.f.kind == SB_KIND_END)
		return SB_EOF;
	if (rc != SB_OK && rc != SB_EOF)
		return sb_error_prefix(err, "corpus: ");
	return rc;
}

/* The corpus is the stage's second input: the runner opens it (with the run's message
 * size limit and stop flag), the stage never opens a transport itself. */
static int corpus_open(struct corpus *c, struct cosine *s, struct sb_error *err)
{
	memset(c, 0, sizeof *c);
	c->s = s;
	if (!s->io)
		return sb_error_set(err, SB_EINVAL, "corpus: no runner to open %s (the stage "
				    "reads its corpus through sb_run or a farm worker)",
				    s->corpus_path);
	if (s->io->open_input(s->io, &c->r, s->corpus_path, 0, err))
		return sb_error_prefix(err, "corpus: ");
	return SB_OK;
}

static void corpus_close(struct corpus *c)
{
	sb_reader_close(&c->r);
}

static int cmp_u64(const void *pa, const void *pb)
{
	uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;

	return a < b ? -1 : a > b;
}

/* Second pass: the texts of the corpus rows that made some top-k list. */
static int corpus_texts(struct cosine *s, uint64_t **idx_out, char ***text_out, size_t *n_out,
			struct sb_error *err)
{
	struct corpus c;
	uint64_t *idx;
	char **text;
	size_t n = 0, m = 0;
	int rc;

	for (size_t q = 0; q < s->st.n; q++)
		n += s->heaps[q].n;
	idx = malloc((n ? n : 1) * sizeof *idx);
	text = calloc(n ? n : 1, sizeof *text);
	if (!idx || !text) {
		free(idx);
		free(text);
		return sb_error_set(err, SB_ENOMEM, "cosine: out of memory");
	}
	for (size_t q = 0; q < s->st.n; q++)
		for (size_t i = 0; i < s->heaps[q].n; i++)
			idx[m++] = s->heaps[q].items[i].index;
	qsort(idx, n, sizeof *idx, cmp_u64);
	m = 0;
	for (size_t i = 0; i < n; i++) /* unique */
		if (m == 0 || idx[i] != idx[m - 1])
			idx[m++] = idx[i];
	rc = corpus_open(&c, s, err);
	while (!rc && (rc = corpus_next(&c, err)) == SB_OK) {
		uint64_t base = c.r.f.seq;
		if (!c.r.f.has_text)
			continue;
		for (size_t r = 0; !rc && r < c.r.f.rows; r++) {
			uint64_t key = base + r;
			uint64_t *hit = bsearch(&key, idx, m, sizeof *idx, cmp_u64);
			if (!hit)
				continue;
			text[hit - idx] = strdup(c.r.f.text[r].p);
			if (!text[hit - idx])
				rc = sb_error_set(err, SB_ENOMEM, "cosine: out of memory");
		}
	}
	if (rc == SB_EOF)
		rc = SB_OK;
	corpus_close(&c);
	if (rc) {
		for (size_t i = 0; i < m; i++)
			free(text[i]);
		free(text);
		free(idx);
		return rc;
	}
	*idx_out = idx;
	*text_out = text;
	*n_out = m;
	return SB_OK;
}

/* Scores the held query rows against the whole corpus and emits their top-k lists. */
static int scan_corpus(struct cosine *s, struct sb_emit *emit, struct sb_error *err)
{
	struct corpus c;
	char name[300], where[304];
	int rc, corpus_text = 0;
	uint64_t *tidx = NULL;
	char **texts = NULL;
	size_t n_texts = 0;
	uint64_t zeros_before = 0;

	if (s->st.n == 0)
		return SB_OK;
	snprintf(name, sizeof name, "corpus %s", s->corpus_path);
	snprintf(where, sizeof where, "%s: ", name);
	for (size_t q = 0; q < s->st.n; q++)
		sb_topk_clear(&s->heaps[q]);
	if (s->search) {
		zeros_before = sb_search_zero_rows(s->search);
		s->search_queries += s->st.n;
		sb_search_begin(s->search, (const float *)(const void *)s->st.data.data, s->st.n,
				s->heaps, NULL);
	}
	rc = corpus_open(&c, s, err);
	while (!rc && (rc = corpus_next(&c, err)) == SB_OK) {
		struct sb_tensor *e;
		struct sb_ident cid;
		const unsigned char *rows;

		rc = sb_ident_read(&c.r.f, &cid, &e, err);
		if (rc) {
			sb_error_prefix(err, "%sframe %llu: ", where, (unsigned long long)c.r.fno);
			break;
		}
		rc = sb_ident_check(s->allow_mixed, &s->id, &cid, name, "the queries", err);
		if (!rc)
			rc = working_rows(s, e, c.r.f.seq, where, &rows, err);
		if (rc)
			break;
		if (c.r.f.has_text)
			corpus_text = 1;
		if (s->search) {
			sb_search_add(s->search, (const float *)(const void *)rows, c.r.f.rows,
				      c.r.f.seq);
			continue;
		}
		for (size_t r = 0; r < c.r.f.rows; r++) {
			const unsigned char *x = rows + r * s->row_bytes;
			double nx = row_norm(s, x);

			for (size_t q = 0; q < s->st.n; q++)
				sb_topk_push(&s->heaps[q],
					     score(s, store_row(s, q), s->st.norm[q], x, nx),
					     c.r.f.seq + r);
		}
	}
	if (s->search) {
		sb_search_end(s->search);
		if (s->metric == SB_METRIC_COSINE) /* as row_norm() counts them */
			s->zero_rows += sb_search_zero_rows(s->search) - zeros_before;
	}
	if (rc == SB_EOF)
		rc = c.r.rows
			 ? SB_OK
			 : sb_error_set(err, SB_EINVAL, "corpus %s holds no rows", s->corpus_path);
	corpus_close(&c);
	if (rc)
		return rc;
	for (size_t q = 0; q < s->st.n; q++)
		sb_topk_sort(&s->heaps[q]);
	if (corpus_text) {
		rc = corpus_texts(s, &tidx, &texts, &n_texts, err);
		if (rc)
			return rc;
	}
	for (size_t q = 0; !rc && q < s->st.n; q++)
		for (size_t i = 0; !rc && i < s->heaps[q].n; i++) {
			const struct sb_topk_item *it = &s->heaps[q].items[i];
			const char *ct = NULL;

			if (below(s, it->score))
				break; /* sorted: the rest is lower still */
			if (texts) {
				uint64_t *hit =
				    bsearch(&it->index, tidx, n_texts, sizeof *tidx, cmp_u64);
				ct = hit ? texts[hit - tidx] : NULL;
			}
			rc = add_score(s, emit, s->st.index[q], it->index, it->score, s->st.text[q],
				       ct, err);
		}
	for (size_t i = 0; i < n_texts; i++)
		free(texts[i]);
	free(texts);
	free(tidx);
	store_clear(&s->st);
	return rc;
}

/* ---- all rows ---- */

/*
 * Offers every stored row to the selections of stored rows i0 .. i0 + m - 1 (m <=
 * query_batch) through the blocked search; self as sb_search_begin().
 */
static void search_stored(struct cosine *s, size_t i0, size_t m, struct sb_topk *heaps,
			  const uint64_t *self)
{
	const float *rows = (const float *)(const void *)s->st.data.data;

	s->search_queries += m;
	sb_search_begin(s->search, rows + i0 * s->id.width, m, heaps, self);
	sb_search_add(s->search, rows, s->st.n, 0);
	sb_search_end(s->search);
}

/* all with top_k through the blocked search: query_batch rows at a time. */
static int all_top_k(struct cosine *s, struct sb_emit *emit, struct sb_error *err)
{
	size_t n = s->st.n;
	int rc = SB_OK;

	for (size_t i0 = 0; !rc && i0 < n; i0 += s->query_batch) {
		size_t m = n - i0 < s->query_batch ? n - i0 : s->query_batch;

		for (size_t q = 0; q < m; q++) {
			sb_topk_clear(&s->heaps[q]);
			s->self[q] = i0 + q;
		}
		search_stored(s, i0, m, s->heaps, s->self);
		for (size_t q = 0; !rc && q < m; q++) {
			struct sb_topk *h = &s->heaps[q];
			size_t i = i0 + q;

			sb_topk_sort(h);
			for (size_t k = 0; !rc && k < h->n && !below(s, h->items[k].score); k++) {
				size_t j = (size_t)h->items[k].index;
				rc = add_score(s, emit, s->st.index[i], s->st.index[j],
					       h->items[k].score, s->st.text[i], s->st.text[j],
					       err);
			}
		}
	}
	return rc;
}

static int all_pairs(struct cosine *s, struct sb_emit *emit, struct sb_error *err)
{
	struct sb_topk heap;
	int rc = SB_OK;
	size_t n = s->st.n;

	if (!s->top_k) {
		for (size_t i = 0; !rc && i < n; i++)
			for (size_t j = i + 1; !rc && j < n; j++) {
				double sc = score(s, store_row(s, i), s->st.norm[i],
						  store_row(s, j), s->st.norm[j]);
				if (!below(s, sc))
					rc = add_score(s, emit, s->st.index[i], s->st.index[j], sc,
						       s->st.text[i], s->st.text[j], err);
			}
		return rc;
	}
	if (s->search)
		return all_top_k(s, emit, err);
	rc = sb_topk_init(&heap, s->top_k, err);
	for (size_t i = 0; !rc && i < n; i++) {
		sb_topk_clear(&heap);
		for (size_t j = 0; j < n; j++)
			if (j != i)
				sb_topk_push(&heap,
					     score(s, store_row(s, i), s->st.norm[i],
						   store_row(s, j), s->st.norm[j]),
					     j);
		sb_topk_sort(&heap);
		for (size_t k = 0; !rc && k < heap.n && !below(s, heap.items[k].score); k++) {
			size_t j = (size_t)heap.items[k].index;
			rc = add_score(s, emit, s->st.index[i], s->st.index[j], heap.items[k].score,
				       s->st.text[i], s->st.text[j], err);
		}
	}
	sb_topk_destroy(&heap);
	return rc;
}

/*
 * Paraphrase mining, as sentence-transformers' paraphrase_mining_embeddings():
 *   1. every row's top_k + 1 best rows, itself included (it usually ranks first, and is
 *      then dropped: what is left are its top_k neighbours);
 *   2. the pairs i != j of those lists, each unordered pair once (row i may list j, row j
 *      list i, or both);
 *   3. the max_pairs best, best first.
 * Each score is computed once, exact in double, and offered to both rows' heaps (the
 * metrics are symmetric).  Ties are ordered by (i, j), lower first, in both selections.
 * sentence-transformers counts both orientations of a pair (and keeps max_pairs - 1)
 * before removing duplicates, so when max_pairs cuts its list is a prefix of this one.
 * Memory: n heaps of top_k + 1 items (16 bytes each) and max_pairs items.
 */
static int mine_pairs(struct cosine *s, struct sb_emit *emit, struct sb_error *err)
{
	size_t n = s->st.n, per = s->top_k < n ? s->top_k + 1 : n, n_cand = 0, cap;
	struct sb_topk *rows, best;
	int rc = SB_OK;

	/* A pair (i, j), i < j, is ranked by the index i * n + j: ties go to lower (i, j). */
	if (n > UINT32_MAX)
		return sb_error_set(err, SB_ELIMIT, "mine: %zu rows, at most %lu", n,
				    (unsigned long)UINT32_MAX);
	rows = calloc(n, sizeof *rows);
	if (!rows)
		return sb_error_set(err, SB_ENOMEM, "mine: cannot hold %zu top-k lists", n);
	for (size_t i = 0; !rc && i < n; i++)
		rc = sb_topk_init(&rows[i], per, err);
	for (size_t i0 = 0; !rc && s->search && i0 < n; i0 += s->query_batch)
		search_stored(s, i0, n - i0 < s->query_batch ? n - i0 : s->query_batch, rows + i0,
			      NULL);
	for (size_t i = 0; !rc && !s->search && i < n; i++) {
		const unsigned char *x = store_row(s, i);

		sb_topk_push(&rows[i], score(s, x, s->st.norm[i], x, s->st.norm[i]), i);
		for (size_t j = i + 1; j < n; j++) {
			double sc = score(s, x, s->st.norm[i], store_row(s, j), s->st.norm[j]);
			sb_topk_push(&rows[i], sc, j);
			sb_topk_push(&rows[j], sc, i);
		}
	}
	/* Row i offers (i, j) unless j < i and row j already offered it. */
	for (int pass = 0; pass < 2 && !rc; pass++) {
		if (pass == 1) {
			cap = n_cand < s->max_pairs ? n_cand : s->max_pairs;
			if (cap == 0)
				break;
			rc = sb_topk_init(&best, cap, err);
			if (rc)
				break;
		}
		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; k < rows[i].n; k++) {
				const struct sb_topk_item *it = &rows[i].items[k];
				size_t j = (size_t)it->index;

				if (j == i || below(s, it->score) ||
				    (j < i && sb_topk_holds(&rows[j], it->score, i)))
					continue;
				if (pass == 0)
					n_cand++;
				else
					sb_topk_push(&best, it->score,
						     j < i ? (uint64_t)j * n + i
							   : (uint64_t)i * n + j);
			}
	}
	for (size_t i = 0; i < n; i++)
		sb_topk_destroy(&rows[i]);
	free(rows);
	if (rc || n_cand == 0)
		return rc;
	sb_topk_sort(&best);
	for (size_t k = 0; !rc && k < best.n; k++) {
		size_t i = (size_t)(best.items[k].index / n), j = (size_t)(best.items[k].index % n);

		rc = add_score(s, emit, s->st.index[i], s->st.index[j], best.items[k].score,
			       s->st.text[i], s->st.text[j], err);
	}
	sb_topk_destroy(&best);
	return rc;
}

static int matrix(struct cosine *s, struct sb_emit *emit, struct sb_error *err)
{
	size_t n = s->st.n, per = OUT_CHUNK / n ? OUT_CHUNK / n : 1;
	struct sb_scores *ex = NULL;
	int rc = SB_OK;

	/* cosine, dot, euclidean: through a double product (lib/scores.h), same values */
	if (!s->exact && sb_search_supports(s->metric) &&
	    (rc = sb_scores_open(&ex, s->metric, (const float *)(const void *)s->st.data.data,
				 n, s->id.width, per, err)))
		return rc;

	for (size_t i0 = 0; !rc && i0 < n; i0 += per) {
		size_t m = n - i0 < per ? n - i0 : per, shape[2] = {m, n};
		struct sb_tensor *t, *a;
		float *sc;

		sb_frame_reset(&s->out);
		s->out.kind = SB_KIND_SCORES;
		s->out.seq = s->out_rows;
		s->out.rows = m;
		rc = sb_frame_tensor_resize(&s->out, "score", SB_DTYPE_F32, 2, shape, &t, err);
		if (!rc)
			rc = sb_frame_tensor_resize(&s->out, "a", SB_DTYPE_I64, 1, &m, &a, err);
		if (rc)
			break;
		sc = t->data;
		if (ex)
			sb_scores_rows(ex, i0, m, sc, n);
		for (size_t i = 0; i < m; i++) {
			((int64_t *)a->data)[i] = (int64_t)s->st.index[i0 + i];
			for (size_t j = 0; !ex && j < n; j++)
				sc[i * n + j] =
				    (float)score(s, store_row(s, i0 + i), s->st.norm[i0 + i],
						 store_row(s, j), s->st.norm[j]);
		}
		if (s->in_text) {
			rc = sb_frame_text_alloc(&s->out, m, err);
			for (size_t i = 0; !rc && i < m; i++) {
				const char *tx = s->st.text[i0 + i] ? s->st.text[i0 + i] : "";
				rc = sb_frame_text_set(&s->out, i, tx, strlen(tx), err);
			}
		}
		if (!rc)
			rc = sb_frame_meta_copy(&s->out, &s->meta_keep, err);
		if (!rc)
			rc = sb_frame_meta_str(&s->out, "metric", sb_metric_name(s->metric), err);
		if (!rc)
			rc = sb_emit_frame(emit, &s->out, err);
		s->out_rows += m;
	}
	sb_scores_close(&ex);
	return rc;
}

static int cosine_flush(void *state, struct sb_emit *emit, struct sb_error *err)
{
	struct cosine *s = state;
	int rc = SB_OK;

	if (s->rows_seen == 0)
		return sb_error_set(err, SB_EINVAL, "the input holds no embeddings (empty stream)");
	switch (s->mode) {
	case MODE_FIRST:
		if (s->rows_seen == 1)
			return sb_error_set(err, SB_EINVAL,
					    "the input holds one row: nothing to "
					    "compare it with");
		break;
	case MODE_PAIRS:
		if (s->st.n)
			return sb_error_set(err, SB_EINVAL,
					    "odd number of rows (%llu) with pairs: "
					    "row %llu has no partner",
					    (unsigned long long)s->rows_seen,
					    (unsigned long long)s->st.index[0]);
		break;
	case MODE_ALL:
		rc = all_pairs(s, emit, err);
		break;
	case MODE_MINE:
		rc = mine_pairs(s, emit, err);
		break;
	case MODE_MATRIX:
		return matrix(s, emit, err);
	case MODE_CORPUS:
		rc = scan_corpus(s, emit, err);
		break;
	}
	if (!rc)
		rc = emit_scores(s, emit, err);
	return rc;
}

const struct sb_stage sb_stage_cosine = {
    .version = SB_STAGE_VERSION,
    .name = "cosine",
    .input = SB_STAGE_IN_FRAMES,
    .open = cosine_open,
    .process = cosine_process,
    .flush = cosine_flush,
    .close = cosine_close,
    .report = cosine_report,
    .set_io = cosine_set_io,
};
