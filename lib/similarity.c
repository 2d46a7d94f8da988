/*
 * similarity.c - metrics, bounded top-k and quantization (see similarity.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "internal.h"
#include "similarity.h"

/*
 * Reductions run over LANES independent double accumulators: the compiler vectorizes the
 * fixed-size inner loop without reassociating anything, so results do not depend on
 * -ffast-math, and double accumulation keeps 768-term sums accurate to ~1e-15.
 */
#define LANES 8

static double lanes_sum(const double *acc)
{
	return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

double sb_sim_dot(const float *a, const float *b, size_t n)
{
	double acc[LANES] = {0};
	size_t i = 0;

	for (; i + LANES <= n; i += LANES)
		for (size_t j = 0; j < LANES; j++)
			acc[j] += (double)a[i + j] * (double)b[i + j];
	for (size_t j = 0; i < n; i++, j++)
		acc[j] += (double)a[i] * (double)b[i];
	return lanes_sum(acc);
}

double sb_sim_norm(const float *a, size_t n)
{
	return sqrt(sb_sim_dot(a, a, n));
}

double sb_sim_cosine(const float *a, const float *b, size_t n, double na, double nb)
{
	if (na < 0)
		na = sb_sim_norm(a, n);
	if (nb < 0)
		nb = sb_sim_norm(b, n);
	return sb_sim_dot(a, b, n) / (fmax(na, SB_SIM_EPS) * fmax(nb, SB_SIM_EPS));
}

double sb_sim_euclidean(const float *a, const float *b, size_t n)
{
	double acc[LANES] = {0};
	size_t i = 0;

	for (; i + LANES <= n; i += LANES)
		for (size_t j = 0; j < LANES; j++) {
			double d = (double)a[i + j] - (double)b[i + j];
			acc[j] += d * d;
		}
	for (size_t j = 0; i < n; i++, j++) {
		double d = (double)a[i] - (double)b[i];
		acc[j] += d * d;
	}
	return -sqrt(lanes_sum(acc));
}

double sb_sim_manhattan(const float *a, const float *b, size_t n)
{
	double acc[LANES] = {0};
	size_t i = 0;

	for (; i + LANES <= n; i += LANES)
		for (size_t j = 0; j < LANES; j++)
			acc[j] += fabs((double)a[i + j] - (double)b[i + j]);
	for (size_t j = 0; i < n; i++, j++)
		acc[j] += fabs((double)a[i] - (double)b[i]);
	return -lanes_sum(acc);
}

uint64_t sb_sim_hamming_bits(const uint8_t *a, const uint8_t *b, size_t nbytes)
{
	uint64_t d = 0;
	size_t i = 0;

	for (; i + 8 <= nbytes; i += 8) {
		uint64_t x, y;
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		d += (uint64_t)__builtin_popcountll(x ^ y);
	}
	for (; i < nbytes; i++)
		d += (uint64_t)__builtin_popcount((unsigned)(a[i] ^ b[i]));
	return d;
}

double sb_sim_score(enum sb_metric m, const void *a, const void *b, size_t n, double na, double nb)
{
	switch (m) {
	case SB_METRIC_COSINE:
		return sb_sim_cosine(a, b, n, na, nb);
	case SB_METRIC_DOT:
		return sb_sim_dot(a, b, n);
	case SB_METRIC_EUCLIDEAN:
		return sb_sim_euclidean(a, b, n);
	case SB_METRIC_MANHATTAN:
		return sb_sim_manhattan(a, b, n);
	case SB_METRIC_HAMMING:
		return -(double)sb_sim_hamming_bits(a, b, n);
	}
	return 0;
}

int sb_sim_finite(const float *a, size_t n, size_t *bad)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(a[i])) {
			if (bad)
				*bad = i;
			return 0;
		}
	return 1;
}

struct ranked {
	double v;
	size_t i;
};

static int by_value(const void *pa, const void *pb)
{
	const struct ranked *a = pa, *b = pb;

	if (a->v != b->v)
		return a->v < b->v ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i;
}

/* Average 1-based ranks of x into r, using tmp (n items) as scratch. */
static void average_ranks(const double *x, size_t n, struct ranked *tmp, double *r)
{
	for (size_t i = 0; i < n; i++) {
		tmp[i].v = x[i];
		tmp[i].i = i;
	}
	qsort(tmp, n, sizeof *tmp, by_value);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && tmp[j + 1].v == tmp[i].v)
			j++;
		for (size_t k = i; k <= j; k++)
			r[tmp[k].i] = (double)(i + j) / 2.0 + 1.0;
		i = j + 1;
	}
}

/*
 * Pearson correlation in two passes (means, then centred sums), as NumPy's corrcoef: the
 * one-pass formula loses digits when the means are large.  -1 when a column is constant.
 */
static int correlation(const double *x, const double *y, size_t n, double *out)
{
	double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;

	for (size_t i = 0; i < n; i++) {
		mx += x[i];
		my += y[i];
	}
	mx /= (double)n;
	my /= (double)n;
	for (size_t i = 0; i < n; i++) {
		double a = x[i] - mx, b = y[i] - my;
		sxy += a * b;
		sxx += a * a;
		syy += b * b;
	}
	if (sxx == 0 || syy == 0)
		return -1;
	*out = sxy / sqrt(sxx * syy);
	return 0;
}

/* The checks both correlations make: n >= 2 and finite values. */
static int check_pairs(const char *what, const double *x, const double *y, size_t n,
		       struct sb_error *err)
{
	if (n < 2)
		return sb_error_set(err, SB_EINVAL, "%s: %zu pairs, need at least 2", what, n);
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i]) || !isfinite(y[i]))
			return sb_error_set(err, SB_EINVAL, "%s: pair %zu is not finite", what, i);
	return SB_OK;
}

int sb_sim_pearson(const double *x, const double *y, size_t n, double *out, struct sb_error *err)
{
	int rc = check_pairs("pearson", x, y, n, err);

	if (rc)
		return rc;
	if (correlation(x, y, n, out) < 0)
		return sb_error_set(err, SB_EINVAL, "pearson: a column is constant");
	return SB_OK;
}

int sb_sim_spearman(const double *x, const double *y, size_t n, double *out, struct sb_error *err)
{
	struct ranked *tmp;
	double *rx, *ry;
	int rc = check_pairs("spearman", x, y, n, err);

	if (rc)
		return rc;
	tmp = calloc(n, sizeof *tmp);
	rx = calloc(n, sizeof *rx);
	ry = calloc(n, sizeof *ry);
	if (!tmp || !rx || !ry) {
		free(tmp);
		free(rx);
		free(ry);
		return sb_error_set(err, SB_ENOMEM, "spearman: cannot allocate %zu pairs", n);
	}
	average_ranks(x, n, tmp, rx);
	average_ranks(y, n, tmp, ry);
	rc = correlation(rx, ry, n, out);
	free(tmp);
	free(rx);
	free(ry);
	if (rc < 0)
		return sb_error_set(err, SB_EINVAL, "spearman: a column is constant");
	return SB_OK;
}

static const char *const metric_names[] = {"cosine", "dot", "euclidean", "manhattan", "hamming"};

int sb_metric_parse(const char *s, enum sb_metric *out, struct sb_error *err)
{
	for (size_t i = 0; i < sizeof metric_names / sizeof metric_names[0]; i++)
		if (strcmp(s, metric_names[i]) == 0) {
			*out = (enum sb_metric)i;
			return SB_OK;
		}
	if (strcmp(s, "cos") == 0) {
		*out = SB_METRIC_COSINE;
		return SB_OK;
	}
	return sb_error_set(err, SB_EINVAL,
			    "unknown metric '%s' (cosine, dot, euclidean, manhattan, hamming)", s);
}

const char *sb_metric_name(enum sb_metric m)
{
	if ((size_t)m < sizeof metric_names / sizeof metric_names[0])
		return metric_names[m];
	return "?";
}

/* ---- top-k ---- */

/* a is worse than b: lower score, or equal score and higher index. */
static int worse(const struct sb_topk_item *a, const struct sb_topk_item *b)
{
	if (a->score != b->score)
		return a->score < b->score;
	return a->index > b->index;
}

int sb_topk_init(struct sb_topk *t, size_t k, struct sb_error *err)
{
	size_t bytes;

	memset(t, 0, sizeof *t);
	if (k == 0)
		return sb_error_set(err, SB_EINVAL, "top-k: k must be at least 1");
	if (sb_size_mul(k, sizeof *t->items, &bytes) < 0)
		return sb_error_set(err, SB_ELIMIT, "top-k: k %zu too large", k);
	t->items = malloc(bytes);
	if (!t->items)
		return sb_error_set(err, SB_ENOMEM, "top-k: cannot allocate %zu items", k);
	t->k = k;
	return SB_OK;
}

static void swap_items(struct sb_topk_item *a, struct sb_topk_item *b)
{
	struct sb_topk_item tmp = *a;
	*a = *b;
	*b = tmp;
}

void sb_topk_push(struct sb_topk *t, double score, uint64_t index)
{
	struct sb_topk_item it = {score, index};
	struct sb_topk_item *h = t->items;
	size_t i;

	if (t->n < t->k) {
		/* Sift up: the root holds the worst item. */
		i = t->n++;
		h[i] = it;
		while (i > 0) {
			size_t p = (i - 1) / 2;
			if (!worse(&h[i], &h[p]))
				break;
			swap_items(&h[i], &h[p]);
			i = p;
		}
		return;
	}
	if (!worse(&h[0], &it))
		return;
	h[0] = it;
	i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < t->n && worse(&h[l], &h[m]))
			m = l;
		if (r < t->n && worse(&h[r], &h[m]))
			m = r;
		if (m == i)
			break;
		swap_items(&h[i], &h[m]);
		i = m;
	}
}

int sb_topk_holds(const struct sb_topk *t, double score, uint64_t index)
{
	struct sb_topk_item it = {score, index};

	return t->n < t->k || !worse(&it, &t->items[0]);
}

static int better_first(const void *pa, const void *pb)
{
	const struct sb_topk_item *a = pa, *b = pb;

	if (worse(b, a))
		return -1;
	if (worse(a, b))
		return 1;
	return 0;
}

size_t sb_topk_sort(struct sb_topk *t)
{
	if (t->n > 1)
		qsort(t->items, t->n, sizeof *t->items, better_first);
	return t->n;
}

void sb_topk_clear(struct sb_topk *t)
{
	t->n = 0;
}

void sb_topk_destroy(struct sb_topk *t)
{
	free(t->items);
	memset(t, 0, sizeof *t);
}

/* ---- quantization ---- */

static const char *const precision_names[] = {"float32", "int8", "uint8", "binary", "ubinary"};

int sb_precision_parse(const char *s, enum sb_precision *out, struct sb_error *err)
{
	for (size_t i = 0; i < sizeof precision_names / sizeof precision_names[0]; i++)
		if (strcmp(s, precision_names[i]) == 0) {
			*out = (enum sb_precision)i;
			return SB_OK;
		}
	return sb_error_set(err, SB_EINVAL,
			    "unknown precision '%s' (float32, int8, uint8, binary, ubinary)", s);
}

const char *sb_precision_name(enum sb_precision p)
{
	if ((size_t)p < sizeof precision_names / sizeof precision_names[0])
		return precision_names[p];
	return "?";
}

size_t sb_precision_row_bytes(enum sb_precision p, size_t dim)
{
	switch (p) {
	case SB_PRECISION_FLOAT32:
		return dim * sizeof(float);
	case SB_PRECISION_INT8:
	case SB_PRECISION_UINT8:
		return dim;
	case SB_PRECISION_BINARY:
	case SB_PRECISION_UBINARY:
		return (dim + 7) / 8;
	}
	return 0;
}

#define CALIBRATION_MAX_DIM ((size_t)1 << 20)

int sb_calibration_init(struct sb_calibration *c, size_t dim, struct sb_error *err)
{
	memset(c, 0, sizeof *c);
	if (dim == 0)
		return sb_error_set(err, SB_EINVAL, "calibration: dimension 0");
	if (dim > CALIBRATION_MAX_DIM)
		return sb_error_set(err, SB_ELIMIT, "calibration: dimension %zu exceeds %zu", dim,
				    CALIBRATION_MAX_DIM);
	c->min = malloc(dim * sizeof *c->min);
	c->max = malloc(dim * sizeof *c->max);
	if (!c->min || !c->max) {
		sb_calibration_destroy(c);
		return sb_error_set(err, SB_ENOMEM, "calibration: cannot allocate %zu dimensions",
				    dim);
	}
	for (size_t i = 0; i < dim; i++) {
		c->min[i] = INFINITY;
		c->max[i] = -INFINITY;
	}
	c->dim = dim;
	return SB_OK;
}

void sb_calibration_add(struct sb_calibration *c, const float *x, size_t n)
{
	for (size_t r = 0; r < n; r++) {
		const float *row = x + r * c->dim;
		for (size_t i = 0; i < c->dim; i++) {
			c->min[i] = row[i] < c->min[i] ? row[i] : c->min[i];
			c->max[i] = row[i] > c->max[i] ? row[i] : c->max[i];
		}
	}
	c->rows += n;
}

void sb_calibration_destroy(struct sb_calibration *c)
{
	free(c->min);
	free(c->max);
	memset(c, 0, sizeof *c);
}

int sb_calibration_write(const struct sb_calibration *c, const char *path, struct sb_error *err)
{
	FILE *f;
	int bad;

	if (c->rows == 0)
		return sb_error_set(err, SB_EINVAL, "%s: no embeddings to calibrate on", path);
	f = fopen(path, "w");
	if (!f)
		return sb_error_sys(err, SB_EIO, errno, "%s", path);
	fprintf(f, "sb-calibration 1\ndim %zu\nrows %llu\n", c->dim, (unsigned long long)c->rows);
	for (size_t i = 0; i < c->dim; i++)
		fprintf(f, "%.9g %.9g\n", (double)c->min[i], (double)c->max[i]);
	bad = ferror(f);
	if (fclose(f) != 0 || bad)
		return sb_error_sys(err, SB_EIO, errno ? errno : EIO, "%s: write failed", path);
	return SB_OK;
}

/* Returns the next non-comment line of buf (NUL-terminated in place), or NULL at the end. */
static char *next_line(char **pos, size_t *lineno)
{
	char *s;

	while (**pos) {
		char *nl;
		s = *pos;
		nl = strchr(s, '\n');
		if (nl) {
			*nl = '\0';
			*pos = nl + 1;
		} else {
			*pos = s + strlen(s);
		}
		(*lineno)++;
		if (s[0] != '#' && s[0] != '\0')
			return s;
	}
	return NULL;
}

static int parse_u64_kw(const char *line, const char *kw, uint64_t *out)
{
	size_t n = strlen(kw);
	char *end;
	unsigned long long v;

	if (strncmp(line, kw, n) != 0 || line[n] != ' ')
		return -1;
	if (line[n + 1] < '0' || line[n + 1] > '9')
		return -1;
	errno = 0;
	v = strtoull(line + n + 1, &end, 10);
	if (errno || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int sb_calibration_read(struct sb_calibration *c, const char *path, struct sb_error *err)
{
	struct sb_buf b;
	char *pos, *line;
	size_t lineno = 0, i;
	uint64_t dim, rows;
	int rc;

	memset(c, 0, sizeof *c);
	sb_buf_init(&b);
	/* About 32 bytes per dimension: 64 MiB is far above any real model. */
	rc = sb_file_read(path, (size_t)64 << 20, &b, err);
	if (rc)
		goto out;
	rc = sb_buf_append(&b, "", 1, err);
	if (rc)
		goto out;
	if (memchr(b.data, '\0', b.len - 1)) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: not a text file", path);
		goto out;
	}
	pos = (char *)b.data;
	line = next_line(&pos, &lineno);
	if (!line || strcmp(line, "sb-calibration 1") != 0) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: line %zu: expected 'sb-calibration 1'",
				  path, lineno);
		goto out;
	}
	line = next_line(&pos, &lineno);
	if (!line || parse_u64_kw(line, "dim", &dim) < 0) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: line %zu: expected 'dim N'", path, lineno);
		goto out;
	}
	if (dim == 0 || dim > CALIBRATION_MAX_DIM) {
		rc = sb_error_set(err, dim ? SB_ELIMIT : SB_EFORMAT,
				  "%s: line %zu: dim %llu out of range 1..%zu", path, lineno,
				  (unsigned long long)dim, CALIBRATION_MAX_DIM);
		goto out;
	}
	line = next_line(&pos, &lineno);
	if (!line || parse_u64_kw(line, "rows", &rows) < 0) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: line %zu: expected 'rows N'", path, lineno);
		goto out;
	}
	rc = sb_calibration_init(c, (size_t)dim, err);
	if (rc)
		goto out;
	c->rows = rows;
	for (i = 0; i < c->dim; i++) {
		char *end;
		float lo, hi;

		line = next_line(&pos, &lineno);
		if (!line) {
			rc = sb_error_set(err, SB_EFORMAT, "%s: %zu ranges, expected %zu", path, i,
					  c->dim);
			goto out;
		}
		errno = 0;
		lo = strtof(line, &end);
		if (end == line || *end != ' ') {
			rc = sb_error_set(err, SB_EFORMAT, "%s: line %zu: expected 'MIN MAX'", path,
					  lineno);
			goto out;
		}
		line = end + 1;
		hi = strtof(line, &end);
		if (end == line || *end != '\0' || !isfinite(lo) || !isfinite(hi) || lo > hi) {
			rc = sb_error_set(err, SB_EFORMAT,
					  "%s: line %zu: expected two finite numbers MIN <= MAX",
					  path, lineno);
			goto out;
		}
		c->min[i] = lo;
		c->max[i] = hi;
	}
	if (next_line(&pos, &lineno)) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: line %zu: more than %zu ranges", path,
				  lineno, c->dim);
		goto out;
	}
out:
	if (rc)
		sb_calibration_destroy(c);
	sb_buf_destroy(&b);
	return rc;
}

void sb_quantize_row(enum sb_precision p, const struct sb_calibration *c, const float *x,
		     size_t dim, void *out)
{
	uint8_t *u = out;
	int8_t *s = out;

	switch (p) {
	case SB_PRECISION_FLOAT32:
		memcpy(out, x, dim * sizeof *x);
		break;
	case SB_PRECISION_INT8:
	case SB_PRECISION_UINT8:
		for (size_t i = 0; i < dim; i++) {
			/* Same float32 operations, in the same order, as NumPy's. */
			float step = (c->max[i] - c->min[i]) / 255.0f;
			float v;

			if (!(step > 0.0f)) {
				if (p == SB_PRECISION_UINT8)
					u[i] = 0;
				else
					s[i] = -128;
				continue;
			}
			v = (x[i] - c->min[i]) / step;
			if (p == SB_PRECISION_UINT8) {
				v = v >= 0.0f ? (v <= 255.0f ? v : 255.0f) : 0.0f; /* NaN -> 0 */
				u[i] = (uint8_t)v;
			} else {
				v = v - 128.0f;
				v = v >= -128.0f ? (v <= 127.0f ? v : 127.0f) : -128.0f;
				s[i] = (int8_t)v;
			}
		}
		break;
	case SB_PRECISION_BINARY:
	case SB_PRECISION_UBINARY:
		for (size_t i = 0; i < (dim + 7) / 8; i++) {
			unsigned byte = 0;
			for (size_t j = 0; j < 8; j++) {
				size_t d = i * 8 + j;
				byte = (byte << 1) | (unsigned)(d < dim && x[d] > 0.0f);
			}
			/* binary: packbits - 128 as int8 is the byte with its top bit flipped. */
			u[i] = (uint8_t)(p == SB_PRECISION_BINARY ? byte ^ 0x80u : byte);
		}
		break;
	}
}
