/*
 * model_modernbert.h - the ModernBERT encoder (model_type modernbert:
 * gte-modernbert-base, modernbert-embed-base), private to the model module: model.c
 * parses the common part of the folder, gathers the tokens of a batch and hands the
 * forward pass of ModernBERT models to these functions.
 *
 * ModernBERT differs from BERT in every block (transformers' modeling_modernbert.py):
 *
 *   x[T, D]     = LayerNorm(tok_embeddings[id])           no position table
 *   per layer i (local when i % global_attn_every_n_layers != 0):
 *   h           = i == 0 ? x : LayerNorm(x)               attn_norm (identity on layer 0)
 *   qkv[T, 3D]  = h Wqkv^T (+ bias)                       one fused product
 *   q, k        rotated (rotary embeddings of head_dim d, theta global_rope_theta on
 *               global layers, local_rope_theta on local ones, position = the token's
 *               index in its padded row)
 *   ctx         = softmax(q k^T / sqrt d) v per head, over the row's real tokens; on
 *               local layers only keys at most local_attention / 2 positions away
 *   x           = x + ctx Wo^T (+ bias)
 *   f[T, 2F]    = LayerNorm(x) Wi^T (+ bias);  g = act(f[:, :F]) * f[:, F:]   (GeGLU)
 *   x           = x + g Wo2^T (+ bias)
 *   out         = LayerNorm(x)                            final_norm
 *
 * LayerNorms have no bias unless norm_bias.  Attention runs in blocks of queries and
 * keys with an online softmax (a running maximum and sum per query), so no row needs
 * more than a [64, 256] block of scores whatever its length, and local layers visit
 * only the keys inside the window: memory grows linearly with the tokens of a batch.
 */
#ifndef SB_MODEL_MODERNBERT_H
#define SB_MODEL_MODERNBERT_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "json.h"
#include "model.h"
#include "par.h"
#include "weights.h"

struct sb_mbert;

/*
 * Parses a ModernBERT config.json into c (model_type already set by the caller):
 * dimensions, hidden_activation, norm_eps, the biases, local_attention,
 * global_attn_every_n_layers, the rotary thetas (global_rope_theta / local_rope_theta,
 * or rope_parameters of newer configs).  Variants that change the maths and are not
 * implemented (rope scaling, a layer_types pattern other than the default one, odd
 * head sizes) are refused naming the field.
 */
int sb_mbert_config(const struct sb_json *cfg, struct sb_model_config *c, struct sb_error *err);

/*
 * Binds the weights of w (borrowed; must outlive the result) for config c, checking
 * every tensor's shape, writes the model's fingerprint into fp (fp_size bytes), and
 * packs the products as opts asks.  threads: the number of scratch sets (one per member
 * of the forward pass's team).  On failure *out is NULL and err names the tensor.
 */
int sb_mbert_open(struct sb_mbert **out, const struct sb_model_config *c,
		  const struct sb_model_opts *opts, struct sb_weights *w, int threads, char *fp,
		  size_t fp_size, struct sb_error *err);

/* Frees everything but the weights; sets *mb to NULL.  No operation if *mb is NULL. */
void sb_mbert_close(struct sb_mbert **mb);

/* The packed tokens of a batch, as model.c gathered them. */
struct sb_mbert_tokens {
	const size_t *row_off;          /* [rows + 1]: row r is tokens row_off[r] .. */
	const size_t *pos;              /* [T] position in the padded row (ascending per row) */
	const int32_t *id;              /* [T] token ids (checked against vocab_size) */
	float *out;                     /* [T, D] last hidden state */
};

/*
 * Runs the encoder over rows [r0, r1) of tk on scratch set member.  par: NULL to
 * compute on this thread, or the team to split the columns of every product.
 * SB_ENOMEM / SB_ELIMIT when a scratch buffer cannot grow.
 */
int sb_mbert_run(struct sb_mbert *mb, int member, struct sb_par *par,
		 const struct sb_mbert_tokens *tk, size_t r0, size_t r1, struct sb_error *err);

/* Multiply-adds x 2 of the dense products per token. */
double sb_mbert_flops_per_token(const struct sb_model_config *c);

#endif
