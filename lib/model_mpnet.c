/*
 * model_mpnet.c - MPNet's config fields, key prefix and relative position bias (see
 * model_mpnet.h).
 */
#include <math.h>
#include <stdint.h>

#include "model_mpnet.h"

int sb_mpnet_config(const struct sb_json *cfg, struct sb_model_config *c,
		    struct sb_error *err)
{
	int64_t v;
	int rc = sb_json_get_int(cfg, "relative_attention_num_buckets", &v, err);

	if (rc == SB_ENOTFOUND)
		v = SB_MPNET_BUCKETS;
	else if (rc)
		return sb_error_prefix(err, "config.json: ");
	/* Buckets 0 .. 31 are looked up whatever the config says (see model_mpnet.h). */
	if (v < SB_MPNET_BUCKETS || v > 65536)
		return sb_error_set(err, SB_EFORMAT, "config.json: "
				    "'relative_attention_num_buckets' is %lld, expected %d to "
				    "65536 (MPNet looks up %d buckets)", (long long)v,
				    SB_MPNET_BUCKETS, SB_MPNET_BUCKETS);
	c->rel_buckets = (size_t)v;
	c->type_vocab_size = 0;
	c->padding_idx = SB_MPNET_PADDING_IDX;
	if (c->padding_idx + 1 >= c->max_pos)
		return sb_error_set(err, SB_EFORMAT, "config.json: 'max_position_embeddings' is "
				    "%zu: MPNet's position ids start at %d", c->max_pos,
				    SB_MPNET_PADDING_IDX + 1);
	return SB_OK;
}

const char *sb_mpnet_key_prefix(const struct sb_weights *w)
{
	return sb_weights_find(w, "mpnet.embeddings.word_embeddings.weight") ? "mpnet." : "";
}

/*
 * transformers' relative_position_bucket with 32 buckets: half for keys before the
 * query (and the query itself), half for keys after it; in each half distances below
 * 8 are buckets of their own and longer ones share 8 log-spaced buckets up to 128.
 * The logarithm runs in float32 as PyTorch's does, so the boundaries (16, 32, 64: the
 * exact powers) fall the same way.
 */
size_t sb_mpnet_bucket(long rel)
{
	const size_t half = SB_MPNET_BUCKETS / 2, exact = half / 2;
	const float span = (float)log((double)SB_MPNET_MAX_DISTANCE / (double)exact);
	size_t ret = 0, n;
	long large;

	if (rel > 0)
		ret = half;
	n = (size_t)(rel < 0 ? -rel : rel);
	if (n < exact)
		return ret + n;
	/* Far past max_distance the result is the last bucket: no need for the log. */
	if (n >= 4 * SB_MPNET_MAX_DISTANCE)
		return ret + half - 1;
	large = (long)exact + (long)(logf((float)n / (float)exact) / span *
				     (float)(half - exact));
	return ret + ((size_t)large < half - 1 ? (size_t)large : half - 1);
}

void sb_mpnet_bias_table(const float *bias, size_t n_heads, size_t seq, float *tab)
{
	size_t width = 2 * seq - 1;

	for (size_t k = 0; k < width; k++) {
		size_t b = sb_mpnet_bucket((long)k - (long)(seq - 1));
		for (size_t h = 0; h < n_heads; h++)
			tab[h * width + k] = bias[b * n_heads + h];
	}
}

void sb_mpnet_add_bias(float *scores, size_t L, const size_t *pos, const float *tab_h,
		       size_t seq)
{
	int contiguous = L == 0 || pos[L - 1] - pos[0] == L - 1;

	for (size_t i = 0; i < L; i++) {
		/* row[p] is the bias of the key at padded position p for query i. */
		const float *row = tab_h + (seq - 1) - pos[i];
		float *s = scores + i * L;
		if (contiguous) {
			const float *r = row + pos[0];
			for (size_t j = 0; j < L; j++)
				s[j] += r[j];
		} else {
			for (size_t j = 0; j < L; j++)
				s[j] += row[pos[j]];
		}
	}
}
