/*
 * model_mpnet.h - MPNet's own pieces of the encoder (private to libsb; model.c calls
 * them): its config fields, the prefix of its checkpoint keys, and the relative
 * position bias of transformers' MPNetEncoder.
 *
 * MPNet is BERT's layer with other tensor names and no token types, RoBERTa's
 * position ids, and one more term in every layer's attention scores:
 *
 *   s[i, j] = q_i . k_j / sqrt(d) + bias[bucket(p_j - p_i), h]
 *
 * where p are the tokens' positions in the padded row (not their position ids), bias
 * is encoder.relative_attention_bias.weight [buckets, H], shared by all layers, and
 * bucket() is T5's bidirectional bucketing with 32 buckets and max_distance 128
 * (sb_mpnet_bucket).  transformers computes 32 buckets whatever
 * relative_attention_num_buckets says (compute_position_bias is called with its
 * default), so the table must have at least 32 rows and only those are read.
 */
#ifndef SB_MODEL_MPNET_H
#define SB_MODEL_MPNET_H

#include <stddef.h>

#include "errors.h"
#include "json.h"
#include "model.h"
#include "weights.h"

/* MPNetEmbeddings' padding_idx, fixed in transformers whatever pad_token_id says. */
#define SB_MPNET_PADDING_IDX 1
/* The buckets and the distance transformers' MPNetEncoder uses. */
#define SB_MPNET_BUCKETS 32
#define SB_MPNET_MAX_DISTANCE 128

/*
 * MPNet's part of config.json, after the BERT-style fields: no token types,
 * padding_idx 1, relative_attention_num_buckets (default 32, at least 32).  Errors name
 * the field ("config.json: ...").
 */
int sb_mpnet_config(const struct sb_json *cfg, struct sb_model_config *c,
		    struct sb_error *err);

/*
 * The prefix of the encoder's keys in w: "mpnet." for MPNetModel / MPNetForMaskedLM
 * checkpoints that have it, "" for bare keys (sentence-transformers' 0_Transformer).
 */
const char *sb_mpnet_key_prefix(const struct sb_weights *w);

/* The bucket of a key at relative position rel = p_key - p_query (0 .. 31). */
size_t sb_mpnet_bucket(long rel);

/*
 * tab[h, rel + seq - 1] = bias[bucket(rel), h] for rel in -(seq - 1) .. seq - 1:
 * the bias of every pair of positions in a padded row of seq, per head.  bias is
 * [>= 32, n_heads]; tab is [n_heads, 2 seq - 1].
 */
void sb_mpnet_bias_table(const float *bias, size_t n_heads, size_t seq, float *tab);

/*
 * scores[i, j] += tab_h[pos[j] - pos[i] + seq - 1] for the L x L scores of one row and
 * head (row-major, leading dimension L); pos holds the L tokens' positions in the
 * padded row (ascending, < seq) and tab_h one head's row of sb_mpnet_bias_table().
 */
void sb_mpnet_add_bias(float *scores, size_t L, const size_t *pos, const float *tab_h,
		       size_t seq);

#endif
