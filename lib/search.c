/*
 * search.c - exact top-k search through float32 products (see search.h).
 *
 * Error bound.  Let q, c be float vectors of K terms, P = q . c exactly, S the float32
 * product BLAS returns and d the double score sb_sim_score() returns.  Whatever the order
 * of the sums, |S - P| <= gamma_K sum |q_i c_i| + K 2^-149 (gamma_K = K u / (1 - K u),
 * u = 2^-24; the second term covers underflow) and sum |q_i c_i| <= ||q|| ||c||.  The
 * double reference and the norms are off by K 2^-53 relative at most.  The bounds used
 * below take crel = (K + 2) 2^-23, about twice gamma_K: the spare gamma_K covers every
 * double rounding (norms, the reference, the filter's own arithmetic) with a wide margin.
 *
 *   dot        |S - d| <= crel ||q|| ||c|| + K 2^-148
 *   cosine     |S / D - d| <= crel + K 2^-60, D = max(||q||, eps) max(||c||, eps) >= eps^2
 *   euclidean  |x - X| <= crel (||q||^2 + ||c||^2) + K 2^-147, where
 *              x = ||q||^2 + ||c||^2 - 2 S and X is the squared distance d is the root of
 *
 * A row is skipped only when its best possible score is strictly below the query's k-th
 * exact score so far (which only rises): it is then strictly below the final k-th, so it
 * is not in the answer whatever the ties.  Products that could overflow float32 (norms
 * whose product reaches 2^100) are not trusted: such a block is scored pair by pair.
 */
#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "internal.h"
#include "ops.h"
#include "par.h"
#include "search.h"

#define OVERFLOW_GUARD 0x1p100
#define PANEL 32       /* queries per panel of the packed kernel (lib/gemm.c) */
#define CHUNK_ROWS 192 /* block rows per product of the packed kernel: 16 tiles of 12 */

struct sb_search {
	enum sb_metric metric;
	size_t dim, max_q, cap;
	struct sb_par *par;
	int threads;
	double crel; /* (K + 2) 2^-23 */
	int wide;    /* the AVX-512 kernels are selected */

	float *block;	   /* [cap, dim] rows copied from sb_search_add() */
	size_t n_held;	   /* rows in block */
	uint64_t first;	   /* index of the first held row */
	const float *rows; /* rows of the running product: block or the caller's */
	size_t n_rows;	   /* their count */
	uint64_t rows_first;
	double *cn;	 /* [cap] norm of each row, summed in any order (sumsq()) */
	double *csq;	 /* [cap] its square */
	double *cp, *cq; /* [cap] the filter's row coefficients P, Q */
	uint64_t *czero; /* [threads] rows of norm <= SB_SIM_EPS seen */
	double *cmax;	 /* [threads] largest row norm of each member's share */
	int exact;	 /* this block is scored pair by pair */

	const float *q; /* [nq, dim] borrowed */
	size_t nq;
	struct sb_topk *heaps;
	const uint64_t *self;
	double *qn, *qsq;     /* [max_q] */
	double *qa, *qb, *qc; /* [max_q] the filter's query coefficients A, B, C */
	double qmax;

	/*
	 * Products: with the AVX-512 kernels selected, the queries are packed once per pass
	 * (qp.data not NULL) and scores is S^T [cap, ldq]; otherwise cblas_sgemm fills
	 * S [max_q, cap].  Both are [max_q padded to 32 x cap] floats.
	 */
	struct sb_ops_packed qp;
	const float *zeros; /* [PANEL - 1, dim] padding rows for the packing */
	size_t ldq;	    /* queries padded to a multiple of PANEL */
	double *bq;	    /* [max_q] each query's bound (packed path) */
	float *scores;
	uint64_t *rescored; /* [threads] */
};

int sb_search_supports(enum sb_metric m)
{
	return m == SB_METRIC_COSINE || m == SB_METRIC_DOT || m == SB_METRIC_EUCLIDEAN;
}

void sb_search_close(struct sb_search **ps)
{
	struct sb_search *s = ps ? *ps : NULL;

	if (!s)
		return;
	sb_par_close(&s->par);
	sb_ops_packed_free(&s->qp);
	free((void *)s->zeros);
	free(s->bq);
	free(s->block);
	free(s->cn);
	free(s->csq);
	free(s->cp);
	free(s->cq);
	free(s->czero);
	free(s->qa);
	free(s->qb);
	free(s->qc);
	free(s->cmax);
	free(s->qn);
	free(s->qsq);
	free(s->scores);
	free(s->rescored);
	free(s);
	*ps = NULL;
}

int sb_search_open(struct sb_search **out, const struct sb_search_opts *o, struct sb_error *err)
{
	struct sb_search *s;
	size_t cap = o->block_rows ? o->block_rows : SB_SEARCH_BLOCK, nblock, nscores, ldq;
	int rc;

	*out = NULL;
	if (!sb_search_supports(o->metric))
		return sb_error_set(err, SB_EINVAL, "search: metric %s has no product form",
				    sb_metric_name(o->metric));
	if (o->dim == 0 || o->max_queries == 0 || o->threads < 1)
		return sb_error_set(err, SB_EINVAL,
				    "search: dim, queries and threads must be >= 1");
	ldq = (o->max_queries + PANEL - 1) / PANEL * PANEL;
	if (o->dim > INT32_MAX || cap > INT32_MAX || o->max_queries > INT32_MAX ||
	    sb_size_mul(cap, o->dim, &nblock) || sb_size_mul(nblock, sizeof(float), &nblock) ||
	    sb_size_mul(ldq, cap, &nscores) || sb_size_mul(nscores, sizeof(float), &nscores))
		return sb_error_set(err, SB_ELIMIT,
				    "search: %zu queries x %zu rows of %zu floats is too large",
				    o->max_queries, cap, o->dim);
	s = calloc(1, sizeof *s);
	if (!s)
		return sb_error_set(err, SB_ENOMEM, "search: out of memory");
	s->metric = o->metric;
	s->dim = o->dim;
	s->max_q = o->max_queries;
	s->cap = cap;
	s->threads = o->threads;
	s->crel = ((double)o->dim + 2) * 0x1p-23;
	s->ldq = ldq;
	s->wide = strcmp(sb_ops_isa_name(), "avx512") == 0;
	s->zeros = calloc((PANEL - 1) * o->dim, sizeof(float));
	s->bq = malloc(o->max_queries * sizeof *s->bq);
	s->block = malloc(nblock);
	s->cn = malloc(cap * sizeof *s->cn);
	s->csq = malloc(cap * sizeof *s->csq);
	s->cp = malloc(cap * sizeof *s->cp);
	s->cq = malloc(cap * sizeof *s->cq);
	s->czero = calloc((size_t)o->threads, sizeof *s->czero);
	s->qa = malloc(o->max_queries * sizeof *s->qa);
	s->qb = malloc(o->max_queries * sizeof *s->qb);
	s->qc = malloc(o->max_queries * sizeof *s->qc);
	s->cmax = calloc((size_t)o->threads, sizeof *s->cmax);
	s->qn = malloc(o->max_queries * sizeof *s->qn);
	s->qsq = malloc(o->max_queries * sizeof *s->qsq);
	s->scores = malloc(nscores);
	s->rescored = calloc((size_t)o->threads, sizeof *s->rescored);
	if (!s->zeros || !s->bq || !s->block || !s->cn || !s->csq || !s->cp || !s->cq ||
	    !s->czero || !s->qa || !s->qb || !s->qc || !s->cmax || !s->qn || !s->qsq ||
	    !s->scores || !s->rescored) {
		sb_search_close(&s);
		return sb_error_set(err, SB_ENOMEM,
				    "search: out of memory for %zu queries x %zu rows",
				    o->max_queries, cap);
	}
	rc = sb_par_open(&s->par, o->threads, err);
	if (rc) {
		sb_search_close(&s);
		return rc;
	}
	*out = s;
	return SB_OK;
}

/* ---- the filter ---- */

/*
 * Every metric's filter has one form: row c is kept for query q unless
 *     v = S * (P[c] A[q]) + (Q[c] B[q] + C[q]) < b[q]
 * with, K the width and w = 1 - crel - 2^-40,
 *     cosine     A = 1 / max(||q||, eps)  P = 1 / max(||c||, eps)  B = C = Q = 0
 *                b = dk - crel - K 2^-60
 *     dot        A = P = 1  B = ||q||  Q = crel ||c||  C = 0     b = dk - K 2^-148
 *     euclidean  A = 2  P = 1  B = 1  Q = -w ||c||^2  C = -w ||q||^2
 *                b = -(dk^2 (1 + 2^-48) + 2^-1000 + K 2^-147): v > b means a squared
 *                distance above dk^2 (1 + 2^-48), whose rounded root is then above -dk
 * where dk is the query's k-th exact score (dk <= 0 for euclidean).  The few roundings
 * of v (relative 2^-53 each, of terms no larger than ||q|| ||c|| or ||q||^2 + ||c||^2)
 * are covered by the spare half of crel.  A comparison with NaN keeps the row.
 */

/* b for a selection: -inf (keep every row) while it is not full or the block is exact. */
static double bound(const struct sb_search *s, const struct sb_topk *h)
{
	double dk;

	if (s->exact || h->n < h->k)
		return -INFINITY;
	dk = h->items[0].score; /* the root: the worst held */
	switch (s->metric) {
	case SB_METRIC_COSINE:
		return dk - (s->crel + (double)s->dim * 0x1p-60);
	case SB_METRIC_DOT:
		return dk - (double)s->dim * 0x1p-148;
	default:
		return -(dk * dk * (1 + 0x1p-48) + 0x1p-1000 + (double)s->dim * 0x1p-147);
	}
}

/* The query coefficients A, B, C of the filter. */
static void query_coefs(struct sb_search *s, size_t i)
{
	double w = 1 - s->crel - 0x1p-40;

	s->qa[i] = s->metric == SB_METRIC_COSINE ? 1 / fmax(s->qn[i], SB_SIM_EPS)
		   : s->metric == SB_METRIC_DOT	 ? 1
						 : 2;
	s->qb[i] = s->metric == SB_METRIC_COSINE ? 0 : s->metric == SB_METRIC_DOT ? s->qn[i] : 1;
	s->qc[i] = s->metric == SB_METRIC_EUCLIDEAN ? -w * s->qsq[i] : 0;
}

/* The row coefficients P, Q of the filter. */
static void row_coefs(struct sb_search *s, size_t c)
{
	double w = 1 - s->crel - 0x1p-40;

	s->cp[c] = s->metric == SB_METRIC_COSINE ? 1 / fmax(s->cn[c], SB_SIM_EPS) : 1;
	s->cq[c] = s->metric == SB_METRIC_COSINE ? 0
		   : s->metric == SB_METRIC_DOT	 ? s->crel * s->cn[c]
						 : -w * s->csq[c];
}

static int kept(const struct sb_search *s, float S, size_t qi, size_t c, double b)
{
	return !((double)S * (s->cp[c] * s->qa[qi]) + (s->cq[c] * s->qb[qi] + s->qc[qi]) < b);
}

/* Scores row c of the block exactly for query qi and offers it; returns the new bound. */
static double rescore(struct sb_search *s, size_t qi, size_t c, int member)
{
	uint64_t index = s->rows_first + c;
	struct sb_topk *h = &s->heaps[qi];
	const float *x;

	if (s->self && s->self[qi] == index)
		return bound(s, h);
	s->rescored[member]++;
	/* cosine takes the norms of sb_sim_norm() (the row's is computed here, only for the
	 * few rows scored again); the other metrics ignore them */
	x = s->rows + c * s->dim;
	sb_topk_push(h,
		     sb_sim_score(s->metric, s->q + qi * s->dim, x, s->dim, s->qn[qi],
				  s->metric == SB_METRIC_COSINE ? sb_sim_norm(x, s->dim) : 0),
		     index);
	return bound(s, h);
}

/* Filters one query's products S[n_rows] (the cblas_sgemm layout). */
static void scan(struct sb_search *s, size_t qi, const float *S, int member)
{
	double b = bound(s, &s->heaps[qi]);

	for (size_t c = 0; c < s->n_rows; c++)
		if (kept(s, S[c], qi, c, b))
			b = rescore(s, qi, c, member);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/*
 * Whether row c is kept for some query of [lo, hi), S = that row's products, 8 queries
 * per step.  Only called with the AVX-512 kernels selected (the packed path).
 */
__attribute__((target("avx512f"))) static int any_kept(const struct sb_search *s, const float *S,
						       size_t c, size_t lo, size_t hi)
{
	__m512d p = _mm512_set1_pd(s->cp[c]), q = _mm512_set1_pd(s->cq[c]);
	__mmask8 m = 0;
	size_t i = lo;

	for (; i + 8 <= hi; i += 8) {
		__m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(S + i));
		__m512d a = _mm512_mul_pd(p, _mm512_loadu_pd(s->qa + i));
		__m512d r = _mm512_add_pd(_mm512_mul_pd(q, _mm512_loadu_pd(s->qb + i)),
					  _mm512_loadu_pd(s->qc + i));
		v = _mm512_add_pd(_mm512_mul_pd(v, a), r);
		m |= _mm512_cmp_pd_mask(v, _mm512_loadu_pd(s->bq + i), _CMP_NLT_UQ);
	}
	if (m)
		return 1;
	for (; i < hi; i++)
		if (kept(s, S[i], i, c, s->bq[i]))
			return 1;
	return 0;
}
#else
static int any_kept(const struct sb_search *s, const float *S, size_t c, size_t lo, size_t hi)
{
	for (size_t i = lo; i < hi; i++)
		if (kept(s, S[i], i, c, s->bq[i]))
			return 1;
	return 0;
}
#endif

/*
 * The filter over S^T (the packed kernel's layout): block rows r0 .. r1 - 1 first,
 * queries [lo, hi) across, each query's bound in bq.
 */
static void scan_t(struct sb_search *s, size_t r0, size_t r1, size_t lo, size_t hi, int member)
{
	for (size_t c = r0; c < r1; c++) {
		const float *S = s->scores + c * s->ldq;

		if (!any_kept(s, S, c, lo, hi))
			continue;
		for (size_t qi = lo; qi < hi; qi++)
			if (kept(s, S[qi], qi, c, s->bq[qi]))
				s->bq[qi] = rescore(s, qi, c, member);
	}
}

/* Member i's share [*lo, *hi) of n items. */
static void share(size_t n, int i, int t, size_t *lo, size_t *hi)
{
	*lo = n * (size_t)i / (size_t)t;
	*hi = n * (size_t)(i + 1) / (size_t)t;
}

/* Products (packed kernel) and filter of member i's share of the query panels. */
static void packed_job(void *arg, int i, int t)
{
	struct sb_search *s = arg;
	size_t p0, p1, lo, hi;

	share(s->qp.n / PANEL, i, t, &p0, &p1);
	lo = p0 * PANEL;
	hi = p1 * PANEL < s->nq ? p1 * PANEL : s->nq;
	if (lo >= hi)
		return;
	for (size_t qi = lo; qi < hi; qi++)
		s->bq[qi] = bound(s, &s->heaps[qi]);
	/* S^T[r0:r1, lo:hi] = rows[r0:r1, dim] . Q[lo:hi, dim]^T, a chunk of rows at a time
	 * so that the panels stay in L2 and the chunk's scores in cache for the filter. */
	for (size_t r0 = 0; r0 < s->n_rows; r0 += CHUNK_ROWS) {
		size_t r1 = s->n_rows - r0 < CHUNK_ROWS ? s->n_rows : r0 + CHUNK_ROWS;

		sb_ops_linear_packed(r1 - r0, &s->qp, p0 * PANEL, p1 * PANEL, s->rows + r0 * s->dim,
				     s->dim, s->scores + r0 * s->ldq, s->ldq);
		scan_t(s, r0, r1, lo, hi, i);
	}
}

/* ---- a pass ---- */

/*
 * Packs the queries (padded with zero rows to whole panels) for the AVX-512 kernel of
 * lib/gemm.c: OpenBLAS may not know the CPU and fall back to SSE3 kernels, where this one
 * runs at the machine's width.  Leaves qp.data NULL (cblas_sgemm then) when the kernel is
 * not selected or memory is short.
 */
static void pack_queries(struct sb_search *s)
{
	const float *parts[2] = {s->q, s->zeros};
	size_t rows[2] = {s->nq, (PANEL - s->nq % PANEL) % PANEL};
	struct sb_error err;

	sb_ops_packed_free(&s->qp);
	if (s->nq && sb_ops_pack(&s->qp, parts, rows, 2, s->dim, &err) != SB_OK)
		memset(&s->qp, 0, sizeof s->qp);
}

void sb_search_begin(struct sb_search *s, const float *q, size_t n, struct sb_topk *heaps,
		     const uint64_t *self)
{
	assert(n <= s->max_q);
	s->q = q;
	s->nq = n;
	s->heaps = heaps;
	s->self = self;
	s->n_held = 0;
	s->qmax = 0;
	for (size_t i = 0; i < n; i++) {
		s->qsq[i] = sb_sim_dot(q + i * s->dim, q + i * s->dim, s->dim);
		s->qn[i] = sqrt(s->qsq[i]);
		if (s->qn[i] > s->qmax)
			s->qmax = s->qn[i];
		query_coefs(s, i);
	}
	pack_queries(s);
}

/* ---- one block ---- */

#if defined(__x86_64__) && defined(__GNUC__)
/* sum x[i]^2 in double, 8 lanes then 2 x 8 partial sums: the filter's norms. */
__attribute__((target("avx512f"))) static double sumsq_avx512(const float *x, size_t n)
{
	__m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
	double t = 0;
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m512d v0 = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
		__m512d v1 = _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8));
		a0 = _mm512_fmadd_pd(v0, v0, a0);
		a1 = _mm512_fmadd_pd(v1, v1, a1);
	}
	for (; i < n; i++)
		t += (double)x[i] * x[i];
	return _mm512_reduce_add_pd(_mm512_add_pd(a0, a1)) + t;
}
#else
static double sumsq_avx512(const float *x, size_t n)
{
	return sb_sim_dot(x, x, n);
}
#endif

/* Norms and filter weights of the rows of the block (member i's share). */
static void norms_job(void *arg, int i, int t)
{
	struct sb_search *s = arg;
	size_t lo, hi;
	double mx = 0;
	uint64_t zeros = 0;

	share(s->n_rows, i, t, &lo, &hi);
	for (size_t c = lo; c < hi; c++) {
		const float *x = s->rows + c * s->dim;
		s->csq[c] = s->wide ? sumsq_avx512(x, s->dim) : sb_sim_dot(x, x, s->dim);
		s->cn[c] = sqrt(s->csq[c]);
		if (s->cn[c] > mx)
			mx = s->cn[c];
		/* zero vectors as sb_sim_norm() tells them (decided by it near the limit) */
		if (s->cn[c] <= SB_SIM_EPS / 2 ||
		    (s->cn[c] <= SB_SIM_EPS * 2 && sb_sim_norm(x, s->dim) <= SB_SIM_EPS))
			zeros++;
		row_coefs(s, c);
	}
	s->cmax[i] = mx;
	s->czero[i] += zeros;
}

/* Products and filter of member i's share of the queries. */
static void scan_job(void *arg, int i, int t)
{
	struct sb_search *s = arg;
	size_t lo, hi;

	share(s->nq, i, t, &lo, &hi);
	if (hi == lo)
		return;
	/* S[hi - lo, n_rows] = Q[lo:hi, dim] . rows[n_rows, dim]^T */
	sb_ops_gemm(1, hi - lo, s->n_rows, s->dim, 1.0f, s->q + lo * s->dim, s->dim, s->rows,
		    s->dim, 0.0f, s->scores + lo * s->cap, s->cap);
	for (size_t qi = lo; qi < hi; qi++)
		scan(s, qi, s->scores + qi * s->cap, i);
}

static void run_block(struct sb_search *s, const float *rows, size_t n, uint64_t first)
{
	double cmax = 0;

	if (n == 0 || s->nq == 0)
		return;
	s->rows = rows;
	s->n_rows = n;
	s->rows_first = first;
	sb_par_run(s->par, norms_job, s);
	for (int i = 0; i < s->threads; i++)
		cmax = fmax(cmax, s->cmax[i]);
	s->exact = s->qmax * cmax >= OVERFLOW_GUARD;
	sb_par_run(s->par, s->qp.data ? packed_job : scan_job, s);
}

void sb_search_add(struct sb_search *s, const float *rows, size_t n, uint64_t first)
{
	size_t off = 0;

	while (off < n) {
		size_t take;

		if (s->n_held && first + off != s->first + s->n_held) {
			/* not the continuation of the held rows: score those first */
			run_block(s, s->block, s->n_held, s->first);
			s->n_held = 0;
		}
		if (s->n_held == 0 && n - off >= s->cap) {
			run_block(s, rows + off * s->dim, s->cap, first + off);
			off += s->cap;
			continue;
		}
		if (s->n_held == 0)
			s->first = first + off;
		take = s->cap - s->n_held < n - off ? s->cap - s->n_held : n - off;
		memcpy(s->block + s->n_held * s->dim, rows + off * s->dim,
		       take * s->dim * sizeof(float));
		s->n_held += take;
		off += take;
		if (s->n_held == s->cap) {
			run_block(s, s->block, s->n_held, s->first);
			s->n_held = 0;
		}
	}
}

void sb_search_end(struct sb_search *s)
{
	if (s->n_held)
		run_block(s, s->block, s->n_held, s->first);
	s->n_held = 0;
	s->q = NULL;
	s->nq = 0;
	s->heaps = NULL;
	s->self = NULL;
	sb_ops_packed_free(&s->qp);
}

uint64_t sb_search_rescored(const struct sb_search *s)
{
	uint64_t n = 0;

	for (int i = 0; s && i < s->threads; i++)
		n += s->rescored[i];
	return n;
}

uint64_t sb_search_zero_rows(const struct sb_search *s)
{
	uint64_t n = 0;

	for (int i = 0; s && i < s->threads; i++)
		n += s->czero[i];
	return n;
}

int sb_search_packed(const struct sb_search *s)
{
	return s && s->wide;
}
