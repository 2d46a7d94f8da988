/*
 * pooling.c - sentence-transformers' Pooling and Normalize (see pooling.h).
 *
 * The math follows sentence_transformers Pooling.forward() on right- or left-padded
 * batches:
 *   cls           the first real token (index 0 with right padding)
 *   max           per dimension over real tokens; padded positions count as -1e9, as
 *                 sentence-transformers did up to v2 (newer versions use -inf: the same
 *                 result unless every position is padding, where sb keeps -1e9 finite)
 *   mean          sum(h * mask) / clamp(sum(mask), 1e-9)
 *   mean_sqrt_len sum(h * mask) / sqrt(clamp(sum(mask), 1e-9))
 *   weightedmean  weights 1..seq by position over the padded sequence, times the mask
 *   lasttoken     the last real token, times its mask value (0 for an all-padding row)
 * Sums run in double over chunks of dimensions so that no scratch allocation is needed.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"
#include "modules.h"
#include "pooling.h"

static const struct {
	unsigned bit;
	const char *name;
} mode_names[] = {
    {SB_POOL_CLS, "cls"},
    {SB_POOL_MAX, "max"},
    {SB_POOL_MEAN, "mean"},
    {SB_POOL_MEAN_SQRT_LEN, "mean_sqrt_len_tokens"},
    {SB_POOL_WEIGHTEDMEAN, "weightedmean"},
    {SB_POOL_LASTTOKEN, "lasttoken"},
};
#define N_MODES (sizeof mode_names / sizeof mode_names[0])

/* Legacy 1_Pooling/config.json keys, in the same order as mode_names. */
static const char *const legacy_keys[] = {
    "pooling_mode_cls_token",		"pooling_mode_max_tokens",
    "pooling_mode_mean_tokens",		"pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken",
};

/* Also accepted on the command line: the legacy suffixes. */
static const struct {
	const char *alias;
	unsigned bit;
} mode_aliases[] = {
    {"cls_token", SB_POOL_CLS},
    {"max_tokens", SB_POOL_MAX},
    {"mean_tokens", SB_POOL_MEAN},
    {"mean_sqrt_len", SB_POOL_MEAN_SQRT_LEN},
    {"weightedmean_tokens", SB_POOL_WEIGHTEDMEAN},
    {"last", SB_POOL_LASTTOKEN},
};

static int mode_bit(const char *s, size_t n, unsigned *bit)
{
	for (size_t i = 0; i < N_MODES; i++)
		if (strlen(mode_names[i].name) == n && memcmp(s, mode_names[i].name, n) == 0) {
			*bit = mode_names[i].bit;
			return 0;
		}
	for (size_t i = 0; i < sizeof mode_aliases / sizeof mode_aliases[0]; i++)
		if (strlen(mode_aliases[i].alias) == n &&
		    memcmp(s, mode_aliases[i].alias, n) == 0) {
			*bit = mode_aliases[i].bit;
			return 0;
		}
	return -1;
}

int sb_pooling_parse_modes(const char *s, unsigned *modes, struct sb_error *err)
{
	unsigned m = 0;
	const char *p = s;

	for (;;) {
		size_t n = strcspn(p, ",+");
		unsigned bit;

		if (mode_bit(p, n, &bit) < 0)
			return sb_error_set(err, SB_EINVAL,
					    "unknown pooling mode '%.*s' (cls, max, mean, "
					    "mean_sqrt_len_tokens, weightedmean, lasttoken)",
					    (int)(n > 64 ? 64 : n), p);
		m |= bit;
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	*modes = m;
	return SB_OK;
}

const char *sb_pooling_modes_str(unsigned modes, char *buf, size_t size)
{
	size_t len = 0;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	if (modes == 0)
		modes = SB_POOL_MEAN;
	for (size_t i = 0; i < N_MODES; i++) {
		size_t n;

		if (!(modes & mode_names[i].bit))
			continue;
		n = strlen(mode_names[i].name);
		if (len + (len > 0) + n + 1 > size)
			break;
		if (len > 0)
			buf[len++] = ',';
		memcpy(buf + len, mode_names[i].name, n + 1);
		len += n;
	}
	return buf;
}

static size_t n_modes(unsigned modes)
{
	modes &= (1u << N_MODES) - 1;
	return modes ? (size_t)__builtin_popcount(modes) : 1;
}

size_t sb_pooling_out_dim(const struct sb_pooling *p, size_t dim)
{
	return n_modes(p->modes) * dim;
}

/* ---- reading a model folder ---- */

static int modes_from_json(const struct sb_json *cfg, unsigned *modes, const char *path,
			   struct sb_error *err)
{
	const struct sb_json *pm = sb_json_get(cfg, "pooling_mode");
	unsigned m = 0, bit;

	if (pm && pm->type == SB_JSON_STRING) {
		if (mode_bit(pm->str, pm->len, &bit) < 0)
			return sb_error_set(err, SB_EFORMAT, "%s: unknown pooling_mode '%.64s'",
					    path, pm->str);
		*modes = bit;
		return SB_OK;
	}
	if (pm && pm->type == SB_JSON_ARRAY) {
		for (size_t i = 0; i < pm->n_items; i++) {
			const struct sb_json *it = &pm->items[i];
			if (it->type != SB_JSON_STRING || mode_bit(it->str, it->len, &bit) < 0)
				return sb_error_set(err, SB_EFORMAT,
						    "%s: pooling_mode item %zu is not a known mode",
						    path, i);
			m |= bit;
		}
		*modes = m ? m : SB_POOL_MEAN;
		return SB_OK;
	}
	if (pm && pm->type != SB_JSON_NULL)
		return sb_error_set(err, SB_EFORMAT, "%s: pooling_mode must be a string or a list",
				    path);
	/* Legacy booleans; none set means mean, as sentence-transformers converts them. */
	for (size_t i = 0; i < N_MODES; i++) {
		int v = 0;
		int rc = sb_json_get_bool(cfg, legacy_keys[i], &v, err);

		if (rc == SB_EFORMAT)
			return sb_error_prefix(err, "%s: ", path);
		if (rc == SB_OK && v)
			m |= mode_names[i].bit;
	}
	*modes = m ? m : SB_POOL_MEAN;
	return SB_OK;
}

int sb_pooling_from_model(struct sb_pooling *p, const char *model_dir, struct sb_error *err)
{
	char *pool_dir = NULL, *cfg_path = NULL;
	struct sb_json *cfg = NULL;
	struct sb_module_list *l;
	int rc;

	memset(p, 0, sizeof *p);
	p->modes = SB_POOL_MEAN;
	p->include_prompt = 1;
	if (!sb_dir_exists(model_dir))
		return sb_error_set(err, SB_ENOTFOUND, "%s: no such model folder", model_dir);
	l = malloc(sizeof *l);
	if (!l)
		return sb_error_set(err, SB_ENOMEM, "%s: out of memory", model_dir);
	rc = sb_module_list_read(l, model_dir, err);
	if (rc) {
		free(l);
		return rc;
	}
	/* The Pooling entry's folder; without one (or with path ""), 1_Pooling. */
	if (l->pooling < l->n && l->items[l->pooling].path[0])
		pool_dir = sb_path_join(model_dir, l->items[l->pooling].path);
	else
		pool_dir = sb_path_join(model_dir, "1_Pooling");
	p->normalize = l->normalize;
	p->n_modules = l->n_steps;
	free(l);
	cfg_path = pool_dir ? sb_path_join(pool_dir, "config.json") : NULL;
	if (!cfg_path) {
		rc = sb_error_set(err, SB_ENOMEM, "out of memory");
		goto out;
	}
	if (!sb_file_exists(cfg_path))
		goto out;
	rc = sb_json_parse_file(cfg_path, 0, (size_t)1 << 20, &cfg, err);
	if (rc)
		goto out;
	if (cfg->type != SB_JSON_OBJECT) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: expected an object", cfg_path);
		goto out;
	}
	rc = modes_from_json(cfg, &p->modes, cfg_path, err);
	if (rc)
		goto out;
	rc = sb_json_get_bool(cfg, "include_prompt", &p->include_prompt, err);
	if (rc == SB_ENOTFOUND)
		rc = SB_OK;
	else if (rc)
		goto out;
	p->from_config = 1;
out:
	sb_json_free(&cfg);
	free(cfg_path);
	free(pool_dir);
	return rc;
}

/* ---- the math ---- */

#define CHUNK 256 /* dimensions pooled at once: a double accumulator on the stack */

/* acc[0..n) += wt * row[0..n), in fixed blocks of 8 that -O2 vectorizes. */
static void axpy(double *acc, double wt, const float *row, size_t n)
{
	size_t d = 0;

	for (; d + 8 <= n; d += 8)
		for (size_t j = 0; j < 8; j++)
			acc[d + j] += wt * (double)row[d + j];
	for (; d < n; d++)
		acc[d] += wt * (double)row[d];
}

/* Weight of position t: its mask value, times t + 1 for weightedmean. */
static double weight(const float *mask, size_t t, int by_position)
{
	double w = mask ? (double)mask[t] : 1.0;

	return by_position ? w * (double)(t + 1) : w;
}

/*
 * out[d] = sum_t weight(t) * h[t, d] / div(sum_t weight(t)) for d < dim, where div
 * clamps the total to 1e-9 (in float32, as torch.clamp does) and takes its square root
 * for mean_sqrt_len_tokens.  Dimensions go CHUNK at a time through a double accumulator.
 */
static void pool_weighted(const float *h, const float *mask, size_t seq, size_t dim, float *out,
			  int by_position, int sqrt_len)
{
	double total = 0.0, acc[CHUNK];

	for (size_t t = 0; t < seq; t++)
		total += weight(mask, t, by_position);
	total = total < (double)1e-9f ? (double)1e-9f : total;
	if (sqrt_len)
		total = sqrt(total);
	for (size_t d0 = 0; d0 < dim; d0 += CHUNK) {
		size_t n = dim - d0 < CHUNK ? dim - d0 : CHUNK;

		for (size_t d = 0; d < n; d++)
			acc[d] = 0.0;
		for (size_t t = 0; t < seq; t++) {
			double wt = weight(mask, t, by_position);
			if (wt != 0.0)
				axpy(acc, wt, h + t * dim + d0, n);
		}
		for (size_t d = 0; d < n; d++)
			out[d0 + d] = (float)(acc[d] / total);
	}
}

static void pool_max(const float *restrict h, const float *mask, size_t seq, size_t dim,
		     float *restrict out)
{
	int padded = 0;

	for (size_t d = 0; d < dim; d++)
		out[d] = -INFINITY;
	for (size_t t = 0; t < seq; t++) {
		const float *restrict row = h + t * dim;
		size_t d = 0;

		if (mask && mask[t] == 0.0f) {
			padded = 1;
			continue;
		}
		for (; d + 8 <= dim; d += 8) /* fixed blocks: vectorized at -O2 */
			for (size_t j = 0; j < 8; j++)
				out[d + j] = row[d + j] > out[d + j] ? row[d + j] : out[d + j];
		for (; d < dim; d++)
			out[d] = row[d] > out[d] ? row[d] : out[d];
	}
	/* Padded positions hold -1e9 in sentence-transformers' max. */
	if (padded || seq == 0)
		for (size_t d = 0; d < dim; d++)
			out[d] = out[d] > -1e9f ? out[d] : -1e9f;
}

size_t sb_pool_tokens(const struct sb_pooling *p, const float *h, const float *mask, size_t seq,
		      size_t dim, float *out)
{
	unsigned modes = p->modes ? p->modes : SB_POOL_MEAN;
	size_t width = 0, first = 0, last = 0;
	int any = 0;

	for (size_t t = 0; t < seq; t++)
		if (!mask || mask[t] != 0.0f) {
			if (!any)
				first = t;
			last = t;
			any = 1;
		}
	for (size_t i = 0; i < N_MODES; i++) {
		float *o = out + width;

		if (!(modes & mode_names[i].bit))
			continue;
		width += dim;
		switch (mode_names[i].bit) {
		case SB_POOL_CLS:
			if (seq == 0)
				memset(o, 0, dim * sizeof *o);
			else
				memcpy(o, h + first * dim, dim * sizeof *o);
			break;
		case SB_POOL_MAX:
			pool_max(h, mask, seq, dim, o);
			break;
		case SB_POOL_MEAN:
			pool_weighted(h, mask, seq, dim, o, 0, 0);
			break;
		case SB_POOL_MEAN_SQRT_LEN:
			pool_weighted(h, mask, seq, dim, o, 0, 1);
			break;
		case SB_POOL_WEIGHTEDMEAN:
			pool_weighted(h, mask, seq, dim, o, 1, 0);
			break;
		case SB_POOL_LASTTOKEN: {
			float m = any ? (mask ? mask[last] : 1.0f) : 0.0f;
			if (seq == 0)
				m = 0.0f;
			for (size_t d = 0; d < dim; d++)
				o[d] = seq ? h[last * dim + d] * m : 0.0f;
			break;
		}
		}
	}
	return width;
}

size_t sb_pooling_finish(const struct sb_pooling *p, float *x, size_t dim)
{
	size_t width = dim;

	if (p->truncate_dim && p->truncate_dim < width)
		width = p->truncate_dim;
	if (p->normalize) {
		double norm = 0.0;
		for (size_t d = 0; d < width; d++)
			norm += (double)x[d] * (double)x[d];
		norm = sqrt(norm);
		norm = norm > 1e-12 ? norm : 1e-12;
		for (size_t d = 0; d < width; d++)
			x[d] = (float)((double)x[d] / norm);
	}
	return width;
}

size_t sb_pool_row(const struct sb_pooling *p, const float *h, const float *mask, size_t seq,
		   size_t dim, float *out)
{
	return sb_pooling_finish(p, out, sb_pool_tokens(p, h, mask, seq, dim, out));
}

void sb_pooling_exclude_prompt(float *mask, size_t seq, size_t prompt_length)
{
	size_t first = 0;

	/* sentence-transformers: argmax of the mask, the first real token (0 if none). */
	while (first < seq && mask[first] == 0.0f)
		first++;
	if (first == seq)
		return;
	for (size_t t = first; t < seq && t - first < prompt_length; t++)
		mask[t] = 0.0f;
}
