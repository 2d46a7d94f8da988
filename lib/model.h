/*
 * model.h - the transformer encoder (DistilBERT, BERT, RoBERTa / XLM-RoBERTa /
 * CamemBERT, MPNet, ModernBERT) of a Hugging Face model folder: config, weights, and
 * the forward pass from token ids to the last hidden state.  ModernBERT's forward pass
 * is in model_modernbert.c (see model_modernbert.h); the rest of this header holds for
 * it too.
 *
 * RoBERTa and its relatives are BERT's layers with other position ids: a token's
 * position embedding is row padding_idx + (number of non-pad ids up to and including
 * it), and a token whose id is padding_idx takes row padding_idx (transformers'
 * create_position_ids_from_input_ids), so a row of L real tokens reads rows
 * padding_idx + 1 .. padding_idx + L and at most max_position_embeddings -
 * padding_idx - 1 tokens fit.
 *
 * MPNet takes the same position ids (padding_idx 1) and adds a relative position
 * bias, shared by the layers, to every attention score (model_mpnet.h).
 *
 * The forward pass packs the real tokens (attention_mask != 0) of all rows of a batch
 * into one [T, dim] matrix, so every dense product runs over T rows with no padding
 * between sentences, and attention runs per sentence over its own tokens only.  For
 * the real tokens this is exactly what PyTorch computes with padded keys masked out:
 * a real token never attends to padding, and padded positions never feed back into
 * real ones.  PyTorch also computes (meaningless) hidden states for padded positions;
 * sb does not: sb_model_hidden() writes zeros there.
 *
 * Batches larger than max_batch_tokens are split into sub-batches of whole rows
 * under that budget, which bounds the scratch memory whatever the input size.  All
 * buffers are owned by the model, grown on demand and reused, so steady-state
 * forwards allocate nothing.  A struct sb_model is not thread-safe: one forward at a
 * time (the weights may be shared by opening the folder once per thread).
 *
 * With opts.threads = n > 1 the model keeps a team of n threads (the caller is one of
 * them).  A batch with enough tokens is split by rows into n shares of about equal
 * token counts; each thread runs its sentences through every layer with its own
 * scratch, so nothing is shared or synchronised within the forward pass.  Opening
 * such a model sets BLAS to one thread for the whole process (sb_ops_set_threads(1)),
 * as the members already use every core.  A smaller
 * batch (one short sentence) is computed by the caller with the columns of every
 * product split over the team.  The token budget applies per thread.
 *
 * With the AVX-512 kernels selected at open (and opts.pack), the product weights are
 * packed once for
 * sb_ops_linear_packed() (ops.h) and the originals released (sb_weights_drop), so the
 * forward pass never reads the weights as loaded.
 *
 * With opts.precision bf16 the four dense products of every layer (Q|K|V, output
 * projection, the two feed-forward ones) run on bf16 weights, Q|K|V's and the output
 * projection's inputs split into two bf16 halves (hi + lo, lowp.h), the feed-forward
 * products' inputs one bf16 each, attention's two in bf16 with the queries and
 * the attention weights split, the keys and values one bf16 each; with int8 the two
 * feed-forward products run in int8 and the others, attention's two included, in plain
 * bf16.  Weights are converted once at open, activations rounded,
 * split or quantized at each product's input.  Everything else stays float32:
 * embeddings, LayerNorm, GELU, residuals, biases, the attention scores and their
 * softmax.
 */
#ifndef SB_MODEL_H
#define SB_MODEL_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "compute.h"
#include "tensor.h"

enum sb_arch { SB_ARCH_DISTILBERT, SB_ARCH_BERT, SB_ARCH_ROBERTA, SB_ARCH_MPNET,
	       SB_ARCH_MODERNBERT };

struct sb_model_config {
	enum sb_arch arch;
	const char *model_type;         /* "distilbert", "bert", "roberta", "xlm-roberta",
					 * "camembert", "mpnet" or "modernbert" (static) */
	size_t dim;                     /* hidden size: dim (DistilBERT), hidden_size (BERT) */
	size_t n_layers;
	size_t n_heads;
	size_t dim_head;                /* dim / n_heads */
	size_t dim_ffn;                 /* hidden_dim, intermediate_size */
	size_t vocab_size;
	size_t max_pos;                 /* max_position_embeddings */
	size_t type_vocab_size;         /* BERT token types (RoBERTa: usually 1); 0 for
					 * DistilBERT */
	size_t padding_idx;             /* RoBERTa: pad_token_id, the origin of position
					 * ids (see above); MPNet: 1; 0 otherwise */
	size_t rel_buckets;             /* MPNet: relative_attention_num_buckets, the rows
					 * of the relative position bias; 0 otherwise */
	enum sb_act act;
	float eps;                      /* LayerNorm eps (DistilBERT: 1e-12) */
	int sinusoidal;                 /* DistilBERT sinusoidal_pos_embds (the table is in
					 * the checkpoint either way) */
	/* ModernBERT (model_modernbert.h); zero for the others. */
	size_t local_window;            /* local_attention: a local layer's query sees the
					 * keys at most local_window / 2 positions away */
	size_t global_every;            /* global_attn_every_n_layers: layer i is global
					 * when i % global_every == 0 */
	float rope_global, rope_local;  /* rotary theta of global and local layers */
	int norm_bias, attn_bias, mlp_bias; /* LayerNorm, Wqkv / Wo, Wi / Wo biases */
};

struct sb_model_opts {
	size_t max_batch_tokens;        /* sub-batch token budget; 0: 2048 */
	int fuse_qkv;                   /* copy Wq|Wk|Wv into one [3 dim, dim] matrix at load
					 * (one product per layer instead of three); -1: default */
	int threads;                    /* threads of the forward pass (default 1); see
					 * below */
	int pack;                       /* pack the product weights for the AVX-512 kernel
					 * (see below): 1 when it is selected (default), 0
					 * to run every product through BLAS */
	enum sb_lowp precision;         /* arithmetic of the products (compute.h):
					 * SB_LOWP_F32 (default), or BF16 / INT8, whose
					 * weights are packed at load whatever the kernels,
					 * Q|K|V fused, and the originals' pages given back */
};

/* Fills defaults. */
SB_API void sb_model_opts_init(struct sb_model_opts *o);

struct sb_model;

/*
 * Opens the model folder dir: config.json (model_type distilbert, bert, roberta,
 * xlm-roberta, camembert, mpnet or modernbert, others are refused by name), then the
 * weights (sb_weights_open), checking every tensor the forward pass uses against the
 * config: a missing tensor or a shape mismatch is an error naming the tensor and both
 * shapes.  Extra tensors (heads, pooler) are ignored.  opts may be NULL.  On success
 * *out owns everything; on failure *out is NULL and err says why.
 */
SB_API int sb_model_open(struct sb_model **out, const char *dir, const struct sb_model_opts *opts,
			 struct sb_error *err);

/* Frees the model and its weights; sets *m to NULL.  No operation if *m is NULL. */
SB_API void sb_model_close(struct sb_model **m);

/* The parsed configuration (valid until close). */
SB_API const struct sb_model_config *sb_model_config(const struct sb_model *m);

/*
 * A short fingerprint of config and weights, "fnv1a64:0123456789abcdef": equal
 * for the same model, whatever file format or dtype conversion path produced the
 * floats (it hashes the config's dimensions, the tensor names as the forward pass
 * uses them, their shapes and a sample of their values).  Valid until close.
 */
SB_API const char *sb_model_fingerprint(const struct sb_model *m);

/*
 * The model's weights, for the tensors of heads the encoder does not use (head.h);
 * borrowed until close.  The encoder's product weights may have been released already
 * (sb_weights_drop): only read tensors the encoder does not bind.
 */
struct sb_weights;
SB_API const struct sb_weights *sb_model_weights(const struct sb_model *m);

/* Where the weights came from ("model.safetensors (F32, mmap)"), and their file size. */
SB_API const char *sb_model_weights_source(const struct sb_model *m);
SB_API size_t sb_model_weights_bytes(const struct sb_model *m);

/*
 * Runs the encoder over a batch.  input_ids and attention_mask are [rows, seq]
 * integer tensors (int64 or int32; the mask may also be int8/uint8); token_type_ids
 * is the same or NULL (zeros; DistilBERT ignores it).  A row's real tokens are the
 * positions where the mask is non-zero; they keep their position index for the
 * position embeddings (RoBERTa, MPNet: position ids counted from padding_idx, see
 * above).
 * Errors (SB_EINVAL, SB_ELIMIT, SB_EFORMAT) name the row and position: a token id
 * outside [0, vocab_size), a token type outside [0, type_vocab_size), a real token
 * whose position id is at or past max_position_embeddings, a mask missing or of
 * another shape.  On success the hidden states are available through sb_model_row()
 * and sb_model_hidden() until the next forward or close.
 */
SB_API int sb_model_forward(struct sb_model *m, const struct sb_tensor *input_ids,
			    const struct sb_tensor *attention_mask,
			    const struct sb_tensor *token_type_ids, struct sb_error *err);

/* Rows and padded length of the last forward. */
SB_API size_t sb_model_rows(const struct sb_model *m);
SB_API size_t sb_model_seq(const struct sb_model *m);

/*
 * The last hidden state of row r's real tokens, packed: [*n_tokens, dim] floats,
 * borrowed until the next forward or close.  *positions (if not NULL) receives the
 * tokens' positions in the padded row (ascending).
 */
SB_API const float *sb_model_row(const struct sb_model *m, size_t r, size_t *n_tokens,
				 const size_t **positions);

/* Writes the last hidden state as [rows, seq, dim] into out, zeros at padding. */
SB_API void sb_model_hidden(const struct sb_model *m, float *out);

/* Real tokens of the last forward (the FLOP count is about that times the model's). */
SB_API size_t sb_model_tokens(const struct sb_model *m);

/* Multiply-adds x 2 of the dense products per token (85e6 for DistilBERT-base). */
SB_API double sb_model_flops_per_token(const struct sb_model *m);

#endif
