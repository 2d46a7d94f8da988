/*
 * scores.c - exact float32 score matrices through a double product (see scores.h).
 *
 * Bounds, with P the dgemm value, d the double of sb_sim_score(), K the width and
 * c = (K + 2) 2^-51 (about four times K 2^-53, which bounds both P and d against the
 * exact sum |.| <= ||a|| ||b||; the rest covers the roundings of the formulas below):
 *   dot        |P - d| <= c ||a|| ||b|| + 2^-1000
 *   cosine     |P / D - d| <= c + 2^-51 |P / D| + 2^-1000, D = max(||a||, eps) max(||b||, eps)
 *   euclidean  |x - X| <= 2 c ||a|| ||b|| + (K + 4) 2^-50 (||a||^2 + ||b||^2) + 2^-1000
 *              on the squares x = ||a||^2 + ||b||^2 - 2 P and X = d^2; then
 *              |sqrt(x) - sqrt(X)| <= that / sqrt(x) (x > 0)
 * The value f +- e is widened by one double ulp on each side; when both ends round to
 * the same float32, so does d (rounding is monotone).
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ops.h"
#include "scores.h"
#include "search.h"

struct sb_scores {
	enum sb_metric metric;
	const float *rows; /* [n, dim] borrowed */
	size_t n, dim, max_rows;
	double *rd;   /* [n, dim] the rows in double */
	double *norm; /* [n] sb_sim_norm() */
	double *sq;   /* [n] norm^2 as sb_sim_dot(x, x) */
	double *p;    /* [max_rows, n] products */
	double c;
	uint64_t fallbacks;
};

void sb_scores_close(struct sb_scores **ps)
{
	struct sb_scores *s = ps ? *ps : NULL;

	if (!s)
		return;
	free(s->rd);
	free(s->norm);
	free(s->sq);
	free(s->p);
	free(s);
	*ps = NULL;
}

int sb_scores_open(struct sb_scores **out, enum sb_metric m, const float *rows, size_t n,
		   size_t dim, size_t max_rows, struct sb_error *err)
{
	struct sb_scores *s;
	size_t nrd, np;

	*out = NULL;
	if (!sb_search_supports(m))
		return sb_error_set(err, SB_EINVAL, "scores: metric %s has no product form",
				    sb_metric_name(m));
	if (n == 0 || dim == 0 || max_rows == 0)
		return sb_error_set(err, SB_EINVAL, "scores: rows, dim and max_rows must be >= 1");
	if (n > INT32_MAX || dim > INT32_MAX || sb_size_mul(n, dim, &nrd) ||
	    sb_size_mul(nrd, sizeof(double), &nrd) || sb_size_mul(max_rows, n, &np) ||
	    sb_size_mul(np, sizeof(double), &np))
		return sb_error_set(err, SB_ELIMIT, "scores: %zu rows of %zu values is too large",
				    n, dim);
	s = calloc(1, sizeof *s);
	if (!s)
		return sb_error_set(err, SB_ENOMEM, "scores: out of memory");
	s->metric = m;
	s->rows = rows;
	s->n = n;
	s->dim = dim;
	s->max_rows = max_rows;
	s->c = ((double)dim + 2) * 0x1p-51;
	s->rd = malloc(nrd);
	s->norm = malloc(n * sizeof *s->norm);
	s->sq = malloc(n * sizeof *s->sq);
	s->p = malloc(np);
	if (!s->rd || !s->norm || !s->sq || !s->p) {
		sb_scores_close(&s);
		return sb_error_set(err, SB_ENOMEM, "scores: out of memory for %zu rows", n);
	}
	for (size_t i = 0; i < n * dim; i++)
		s->rd[i] = rows[i];
	for (size_t i = 0; i < n; i++) {
		s->sq[i] = sb_sim_dot(rows + i * dim, rows + i * dim, dim);
		s->norm[i] = sqrt(s->sq[i]);
	}
	*out = s;
	return SB_OK;
}

/*
 * The float32 that f +- e rounds to, or NAN when the interval holds a rounding boundary,
 * or zero: -0 and +0 compare equal, and which one sb_sim_score() gives depends on its
 * order of operations.
 */
static float settle(double f, double e)
{
	float lo = (float)nextafter(f - e, -INFINITY), hi = (float)nextafter(f + e, INFINITY);

	return lo == hi && lo != 0 ? lo : NAN;
}

static float one(struct sb_scores *s, size_t i, size_t j, double p)
{
	double na = s->norm[i], nb = s->norm[j], f, e, x, ex;
	float v;

	switch (s->metric) {
	case SB_METRIC_COSINE:
		f = p / (fmax(na, SB_SIM_EPS) * fmax(nb, SB_SIM_EPS));
		e = s->c + 0x1p-51 * fabs(f) + 0x1p-1000;
		break;
	case SB_METRIC_DOT:
		f = p;
		e = s->c * na * nb + 0x1p-1000;
		break;
	default:
		x = s->sq[i] + s->sq[j] - 2 * p;
		ex = 2 * s->c * na * nb + ((double)s->dim + 4) * 0x1p-50 * (s->sq[i] + s->sq[j]) +
		     0x1p-1000;
		if (x <= ex) {
			v = NAN; /* nearly equal rows: the bound says nothing useful */
			goto exact;
		}
		f = -sqrt(x);
		e = ex / sqrt(x) + 0x1p-51 * fabs(f);
		break;
	}
	v = settle(f, e);
	if (!isnan(v))
		return v;
exact:
	s->fallbacks++;
	return (float)sb_sim_score(s->metric, s->rows + i * s->dim, s->rows + j * s->dim, s->dim,
				   na, nb);
}

void sb_scores_rows(struct sb_scores *s, size_t i0, size_t m, float *out, size_t ldo)
{
	assert(m <= s->max_rows && i0 + m <= s->n);
	/* P[m, n] = rows[i0:i0+m] . rows^T, in double */
	sb_ops_dgemm(1, m, s->n, s->dim, s->rd + i0 * s->dim, s->dim, s->rd, s->dim, s->p, s->n);
	for (size_t r = 0; r < m; r++)
		for (size_t j = 0; j < s->n; j++)
			out[r * ldo + j] = one(s, i0 + r, j, s->p[r * s->n + j]);
}

uint64_t sb_scores_fallbacks(const struct sb_scores *s)
{
	return s ? s->fallbacks : 0;
}
