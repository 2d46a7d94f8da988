/*
 * model.c - DistilBERT / BERT / RoBERTa / MPNet encoders: config.json, weight binding
 * with shape checks, and the packed forward pass (see model.h for the packing argument
 * and RoBERTa's position ids, model_mpnet.h for MPNet's relative position bias).
 * ModernBERT models are handed to model_modernbert.c after their config is read and
 * before their weights are bound.
 *
 * Per sub-batch of T packed tokens, with D = dim, F = dim_ffn, H heads of d = D / H:
 *
 *   x[T, D]     = LayerNorm(word[id] + pos[p] (+ type[tt]))
 *   per layer:
 *   qkv[T, 3D]  = x Wq|Wk|Wv^T + bq|bk|bv          one product (fused) or three
 *   per row (its L tokens), per head h:
 *     s[L, L]   = softmax(Q_h K_h^T / sqrt d)       Q_h: [L, d] at column h d, stride 3D
 *     ctx[L, D] (columns h d .. h d + d) = s V_h    (bf16 / int8: bf16 products, in
 *                                                   blocks of queries: head_lowp)
 *   t[T, D]     = ctx Wo^T;  x = LayerNorm(t + bo + x)
 *   f[T, F]     = act(x W1^T + b1)
 *   t[T, D]     = f W2^T;   x = LayerNorm(t + b2 + x)
 *
 * x lives directly in the output buffer [T_total, D], so the last layer leaves the
 * result in place.
 */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"
#include "lowp.h"
#include "model.h"
#include "model_impl.h"
#include "model_mpnet.h"
#include "model_modernbert.h"
#include "ops.h"
#include "par.h"
#include "weights.h"

#define DEFAULT_MAX_BATCH_TOKENS 2048

/*
 * With several threads a batch is split by rows (each thread runs whole sentences
 * through all layers, one-thread BLAS) when every thread gets at least this many
 * tokens; smaller batches (one short sentence) split the columns of every product.
 */
#define ROW_SPLIT_MIN_TOKENS 48
#define CONFIG_MAX_BYTES (1u << 20)

/* Sanity limits on config values, far above any real encoder. */
#define MAX_DIM 16384
#define MAX_LAYERS 256
#define MAX_FFN 262144
#define MAX_VOCAB (1u << 24)
#define MAX_POS (1u << 20)
#define MAX_TYPES 1024

struct layer {
	const float *wq, *wk, *wv;      /* [D, D] each (borrowed from the weights) */
	float *wqkv;                    /* [3D, D] owned copy when fused, else NULL */
	float *bqkv;                    /* [3D] owned: bq | bk | bv */
	const float *wo, *bo;           /* [D, D], [D] */
	const float *ln1_g, *ln1_b;     /* [D] */
	const float *w1, *b1;           /* [F, D], [F] */
	const float *w2, *b2;           /* [D, F], [D] */
	const float *ln2_g, *ln2_b;     /* [D] */
	/* Packed copies for the AVX-512 product kernel (data NULL when not packed). */
	struct sb_ops_packed pqkv, po, p1, p2;
	/* bf16 / int8 weights (opts.precision; data NULL in float32). */
	struct sb_lowp_weights lqkv, lo, l1, l2;
};

/* Scratch for one sub-batch of Tb tokens whose longest row has Lmax tokens. */
struct scratch {
	float *qkv;                     /* [Tb, 3D] */
	float *ctx;                     /* [Tb, D] */
	float *tmp;                     /* [Tb, D] */
	float *ffn;                     /* [Tb, F] */
	float *scores;                  /* [Lmax, Lmax] */
	struct sb_model_panels pan;     /* one head's K^T and V packed */
	struct sb_lowp_act act;         /* the input of the current bf16 / int8 product */
	struct sb_lowp_view keys, vals; /* bf16 / int8: one head's keys and values */
	uint16_t *qkv16;                /* bf16 / int8: [3][H][Lmax][d] one row's Q, K, V */
	size_t cap_qkv16;
	size_t cap_qkv, cap_ctx, cap_tmp, cap_ffn, cap_scores;
};

struct sb_model {
	struct sb_model_config cfg;
	struct sb_model_opts opts;
	struct sb_weights *w;
	const float *word;              /* [V, D] */
	const float *pos;               /* [P, D] */
	const float *type;              /* [types, D] or NULL */
	const float *emb_g, *emb_b;     /* [D] */
	struct layer *layers;           /* [n_layers] */
	const float *rel_bias;          /* MPNet: [rel_buckets, H], else NULL */
	const char *key_prefix;         /* prepended to every bound name: "mpnet." or "" */
	struct sb_mbert *mb;            /* ModernBERT's weights and forward pass, else NULL */
	char fingerprint[32];

	/* The last forward. */
	size_t rows, seq, n_tok;
	size_t *row_off;                /* [rows + 1]: row r is tokens [row_off[r], row_off[r+1]) */
	size_t *tok_pos;                /* [T] position in the padded row */
	size_t *tok_pe;                 /* [T] row of the position table (RoBERTa: see
					 * model.h; others: tok_pos) */
	int32_t *tok_id, *tok_type;     /* [T] */
	float *out;                     /* [T, D] last hidden state, packed */
	float *rel_tab;                 /* MPNet: [H, 2 seq - 1] bias by relative position
					 * (sb_mpnet_bias_table) for rel_seq */
	size_t cap_rows, cap_pos, cap_pe, cap_id, cap_type, cap_out, cap_rel, rel_seq;

	/* Threads: the team, and per member its scratch, its rows and its outcome. */
	struct sb_par *par;
	struct scratch *scr;            /* [threads] */
	size_t *split;                  /* [threads + 1]: member i runs rows split[i..i+1) */
	int *part_rc;                   /* [threads] */
	struct sb_error *part_err;      /* [threads] */
};

void sb_model_opts_init(struct sb_model_opts *o)
{
	o->max_batch_tokens = DEFAULT_MAX_BATCH_TOKENS;
	o->fuse_qkv = -1;
	o->threads = 1;
	o->pack = 1;
	o->precision = SB_LOWP_F32;
}

/* ---- buffers ---- */

/*
 * Makes *p hold at least n elements of size elem (64-byte aligned).  The old contents
 * are not kept: callers refill the buffer after growing it.
 */
static int grow(void *pp, size_t *cap, size_t n, size_t elem, const char *what,
		struct sb_error *err)
{
	void **p = pp;
	size_t bytes;

	if (n <= *cap && *p)
		return SB_OK;
	if (n < 16)
		n = 16;
	if (sb_size_mul(n, elem, &bytes) || sb_size_add(bytes, 63, &bytes))
		return sb_error_set(err, SB_ELIMIT, "model: %s buffer of %zu elements is too large",
				    what, n);
	bytes &= ~(size_t)63;
	free(*p);
	*p = aligned_alloc(64, bytes);
	if (!*p) {
		*cap = 0;
		return sb_error_set(err, SB_ENOMEM, "model: out of memory for the %s buffer "
				    "(%zu bytes)", what, bytes);
	}
	*cap = n;
	return SB_OK;
}

/* ---- config ---- */

static int cfg_size(const struct sb_json *cfg, const char *key, int required, size_t dflt,
		    size_t lo, size_t hi, size_t *out, struct sb_error *err)
{
	int64_t v;
	int rc = sb_json_get_int(cfg, key, &v, err);

	if (rc == SB_ENOTFOUND) {
		if (required)
			return sb_error_set(err, SB_EFORMAT, "config.json: '%s' is missing", key);
		*out = dflt;
		return SB_OK;
	}
	if (rc)
		return sb_error_prefix(err, "config.json: ");
	if (v < (int64_t)lo || (uint64_t)v > hi)
		return sb_error_set(err, SB_EFORMAT,
				    "config.json: '%s' is %lld, expected %zu to %zu", key,
				    (long long)v, lo, hi);
	*out = (size_t)v;
	return SB_OK;
}

static int cfg_str(const struct sb_json *cfg, const char *key, const char *dflt, const char **out,
		   struct sb_error *err)
{
	int rc = sb_json_get_str(cfg, key, out, err);

	if (rc == SB_ENOTFOUND) {
		*out = dflt;
		return SB_OK;
	}
	if (rc)
		return sb_error_prefix(err, "config.json: ");
	return SB_OK;
}

/* The two helpers above, for the other families' files (model_impl.h). */
int sb_model_grow(void *pp, size_t *cap, size_t n, size_t elem, const char *what,
		  struct sb_error *err)
{
	return grow(pp, cap, n, elem, what, err);
}

int sb_model_panels_grow(struct sb_model_panels *p, size_t n_keys, size_t d,
			 struct sb_error *err)
{
	int rc;

	if (!sb_ops_panels_ok())
		return SB_OK;
	if ((rc = grow(&p->kp, &p->cap_kp, sb_ops_panels_size(n_keys, d), sizeof(float), "keys",
		       err)))
		return rc;
	return grow(&p->vp, &p->cap_vp, sb_ops_panels_size(d, n_keys), sizeof(float), "values",
		    err);
}

void sb_model_panels_free(struct sb_model_panels *p)
{
	free(p->kp);
	free(p->vp);
	memset(p, 0, sizeof *p);
}

int sb_model_cfg_size(const struct sb_json *cfg, const char *key, int required, size_t dflt,
		      size_t lo, size_t hi, size_t *out, struct sb_error *err)
{
	return cfg_size(cfg, key, required, dflt, lo, hi, out, err);
}

#define SUPPORTED "distilbert, bert, roberta, xlm-roberta, camembert, mpnet, modernbert"

/* model_type values and their architecture; model_type points at the static string. */
static const struct {
	const char *type, *prefix;      /* model_type; prefix of the class names */
	enum sb_arch arch;
} arch_names[] = {
	{ "distilbert", "DistilBert", SB_ARCH_DISTILBERT },
	{ "bert", "Bert", SB_ARCH_BERT },
	{ "roberta", "Roberta", SB_ARCH_ROBERTA },
	{ "xlm-roberta", "XLMRoberta", SB_ARCH_ROBERTA },
	{ "camembert", "Camembert", SB_ARCH_ROBERTA },
	{ "mpnet", "MPNet", SB_ARCH_MPNET },
	{ "modernbert", "ModernBert", SB_ARCH_MODERNBERT },
};
#define N_ARCH_NAMES (sizeof(arch_names) / sizeof(arch_names[0]))

/* model_type, or the first of "architectures" for configs written before it existed. */
static int cfg_arch(const struct sb_json *cfg, struct sb_model_config *c, struct sb_error *err)
{
	const char *type = NULL;
	const struct sb_json *arch;
	int rc = cfg_str(cfg, "model_type", NULL, &type, err);

	if (rc)
		return rc;
	if (!type) {
		arch = sb_json_get(cfg, "architectures");
		if (arch && arch->type == SB_JSON_ARRAY && arch->n_items > 0 &&
		    arch->items[0].type == SB_JSON_STRING) {
			const char *a = arch->items[0].str;
			for (size_t i = 0; i < N_ARCH_NAMES && !type; i++)
				if (strncmp(a, arch_names[i].prefix,
					    strlen(arch_names[i].prefix)) == 0)
					type = arch_names[i].type;
			if (!type)
				return sb_error_set(err, SB_EUNSUPPORTED,
						    "config.json: architecture '%s' is not "
						    "supported (" SUPPORTED ")", a);
		}
	}
	if (!type)
		return sb_error_set(err, SB_EFORMAT,
				    "config.json: no 'model_type' and no 'architectures'");
	for (size_t i = 0; i < N_ARCH_NAMES; i++) {
		if (strcmp(type, arch_names[i].type) == 0) {
			c->arch = arch_names[i].arch;
			c->model_type = arch_names[i].type;
			return SB_OK;
		}
	}
	return sb_error_set(err, SB_EUNSUPPORTED, "config.json: model_type '%s' is not "
			    "supported (" SUPPORTED ")", type);
}

static int parse_config(const struct sb_json *cfg, struct sb_model_config *c,
			struct sb_error *err)
{
	const char *act = NULL, *pet = NULL;
	int rc;

	memset(c, 0, sizeof(*c));
	if (cfg->type != SB_JSON_OBJECT)
		return sb_error_set(err, SB_EFORMAT, "config.json: not a JSON object");
	if ((rc = cfg_arch(cfg, c, err)))
		return rc;
	if (c->arch == SB_ARCH_MODERNBERT)
		return sb_mbert_config(cfg, c, err);
	if (c->arch == SB_ARCH_DISTILBERT) {
		int sin = 0;
		if ((rc = cfg_size(cfg, "dim", 0, 768, 1, MAX_DIM, &c->dim, err)) ||
		    (rc = cfg_size(cfg, "n_layers", 0, 6, 1, MAX_LAYERS, &c->n_layers, err)) ||
		    (rc = cfg_size(cfg, "n_heads", 0, 12, 1, MAX_DIM, &c->n_heads, err)) ||
		    (rc = cfg_size(cfg, "hidden_dim", 0, 3072, 1, MAX_FFN, &c->dim_ffn, err)) ||
		    (rc = cfg_str(cfg, "activation", "gelu", &act, err)))
			return rc;
		rc = sb_json_get_bool(cfg, "sinusoidal_pos_embds", &sin, err);
		if (rc && rc != SB_ENOTFOUND)
			return sb_error_prefix(err, "config.json: ");
		c->sinusoidal = sin;
		c->eps = 1e-12f;
		c->type_vocab_size = 0;
	} else {
		double eps = 1e-12;
		if ((rc = cfg_size(cfg, "hidden_size", 0, 768, 1, MAX_DIM, &c->dim, err)) ||
		    (rc = cfg_size(cfg, "num_hidden_layers", 0, 12, 1, MAX_LAYERS, &c->n_layers,
				   err)) ||
		    (rc = cfg_size(cfg, "num_attention_heads", 0, 12, 1, MAX_DIM, &c->n_heads,
				   err)) ||
		    (rc = cfg_size(cfg, "intermediate_size", 0, 3072, 1, MAX_FFN, &c->dim_ffn,
				   err)) ||
		    (rc = cfg_size(cfg, "type_vocab_size", 0, 2, 0, MAX_TYPES, &c->type_vocab_size,
				   err)) ||
		    (rc = cfg_str(cfg, "hidden_act", "gelu", &act, err)) ||
		    (rc = cfg_str(cfg, "position_embedding_type", "absolute", &pet, err)))
			return rc;
		if (strcmp(pet, "absolute") != 0)
			return sb_error_set(err, SB_EUNSUPPORTED, "config.json: "
					    "position_embedding_type '%s' is not supported "
					    "(absolute)", pet);
		rc = sb_json_get_num(cfg, "layer_norm_eps", &eps, err);
		if (rc && rc != SB_ENOTFOUND)
			return sb_error_prefix(err, "config.json: ");
		if (!(eps > 0.0 && eps < 1.0))
			return sb_error_set(err, SB_EFORMAT, "config.json: 'layer_norm_eps' is %g, "
					    "expected a small positive number", eps);
		c->eps = (float)eps;
	}
	if ((rc = cfg_size(cfg, "max_position_embeddings", 0, 512, 1, MAX_POS, &c->max_pos, err)) ||
	    (rc = cfg_size(cfg, "vocab_size", 0, 0, 1, MAX_VOCAB, &c->vocab_size, err)))
		return rc;
	/* RoBERTa's position ids start past pad_token_id (transformers' default 1), so
	 * at least that row and one more must be in the table. */
	if (c->arch == SB_ARCH_ROBERTA) {
		if ((rc = cfg_size(cfg, "pad_token_id", 0, 1, 0, MAX_POS, &c->padding_idx, err)))
			return rc;
		if (c->padding_idx + 1 >= c->max_pos)
			return sb_error_set(err, SB_EFORMAT, "config.json: 'pad_token_id' is %zu: "
					    "position ids start at %zu, past "
					    "max_position_embeddings %zu", c->padding_idx,
					    c->padding_idx + 1, c->max_pos);
	}
	if (c->arch == SB_ARCH_MPNET && (rc = sb_mpnet_config(cfg, c, err)))
		return rc;
	if ((rc = sb_act_parse(act, &c->act, err)))
		return sb_error_prefix(err, "config.json: ");
	if (c->dim % c->n_heads != 0)
		return sb_error_set(err, SB_EFORMAT, "config.json: hidden size %zu is not a "
				    "multiple of the %zu attention heads", c->dim, c->n_heads);
	c->dim_head = c->dim / c->n_heads;
	return SB_OK;
}

/* ---- weights ---- */

/* Binds tensor name (formatted) with the expected shape; rows == 0 means 1-d [cols]. */
static int bind(struct sb_model *m, const float **out, size_t rows, size_t cols,
		struct sb_error *err, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int bind(struct sb_model *m, const float **out, size_t rows, size_t cols,
		struct sb_error *err, const char *fmt, ...)
{
	char name[SB_WEIGHTS_NAME_MAX];
	const struct sb_tensor *t;
	size_t shape[2], pre = strlen(m->key_prefix);
	va_list ap;
	int rc, n;

	if (pre >= sizeof(name))
		return sb_error_set(err, SB_ELIMIT, "model: tensor name too long");
	memcpy(name, m->key_prefix, pre);
	va_start(ap, fmt);
	n = vsnprintf(name + pre, sizeof(name) - pre, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(name) - pre)
		return sb_error_set(err, SB_ELIMIT, "model: tensor name too long");
	if (rows) {
		shape[0] = rows;
		shape[1] = cols;
		rc = sb_weights_require(m->w, name, 2, shape, &t, err);
	} else {
		shape[0] = cols;
		rc = sb_weights_require(m->w, name, 1, shape, &t, err);
	}
	if (rc)
		return rc;
	assert(t->dtype == SB_DTYPE_F32);
	*out = t->data;
	return SB_OK;
}

static int bind_embeddings(struct sb_model *m, struct sb_error *err)
{
	struct sb_model_config *c = &m->cfg;
	const struct sb_tensor *t = sb_weights_find(m->w, "embeddings.word_embeddings.weight");
	int rc;

	/* vocab_size may be absent from old configs: the table says it then. */
	if (c->vocab_size == 0) {
		if (!t || t->n_dims != 2 || t->shape[0] == 0 || t->shape[0] > MAX_VOCAB)
			return sb_error_set(err, SB_EFORMAT, "config.json: no 'vocab_size' and no "
					    "usable 'embeddings.word_embeddings.weight'");
		c->vocab_size = t->shape[0];
	}
	if ((rc = bind(m, &m->word, c->vocab_size, c->dim, err,
		       "embeddings.word_embeddings.weight")))
		return rc;
	/* With sinusoidal_pos_embds DistilBERT fills this parameter with the table at
	 * init, and checkpoints save it like any other: it is always in the file. */
	if ((rc = bind(m, &m->pos, c->max_pos, c->dim, err,
		       "embeddings.position_embeddings.weight")))
		return rc;
	if (c->type_vocab_size &&
	    (rc = bind(m, &m->type, c->type_vocab_size, c->dim, err,
		       "embeddings.token_type_embeddings.weight")))
		return rc;
	if ((rc = bind(m, &m->emb_g, 0, c->dim, err, "embeddings.LayerNorm.weight")) ||
	    (rc = bind(m, &m->emb_b, 0, c->dim, err, "embeddings.LayerNorm.bias")))
		return rc;
	return SB_OK;
}

static int bind_layer(struct sb_model *m, size_t i, struct sb_error *err)
{
	const struct sb_model_config *c = &m->cfg;
	struct layer *l = &m->layers[i];
	size_t D = c->dim, F = c->dim_ffn, cap = 0;
	const float *bq, *bk, *bv;
	int rc;

	if (c->arch == SB_ARCH_DISTILBERT) {
		const char *p = "transformer.layer";
		if ((rc = bind(m, &l->wq, D, D, err, "%s.%zu.attention.q_lin.weight", p, i)) ||
		    (rc = bind(m, &bq, 0, D, err, "%s.%zu.attention.q_lin.bias", p, i)) ||
		    (rc = bind(m, &l->wk, D, D, err, "%s.%zu.attention.k_lin.weight", p, i)) ||
		    (rc = bind(m, &bk, 0, D, err, "%s.%zu.attention.k_lin.bias", p, i)) ||
		    (rc = bind(m, &l->wv, D, D, err, "%s.%zu.attention.v_lin.weight", p, i)) ||
		    (rc = bind(m, &bv, 0, D, err, "%s.%zu.attention.v_lin.bias", p, i)) ||
		    (rc = bind(m, &l->wo, D, D, err, "%s.%zu.attention.out_lin.weight", p, i)) ||
		    (rc = bind(m, &l->bo, 0, D, err, "%s.%zu.attention.out_lin.bias", p, i)) ||
		    (rc = bind(m, &l->ln1_g, 0, D, err, "%s.%zu.sa_layer_norm.weight", p, i)) ||
		    (rc = bind(m, &l->ln1_b, 0, D, err, "%s.%zu.sa_layer_norm.bias", p, i)) ||
		    (rc = bind(m, &l->w1, F, D, err, "%s.%zu.ffn.lin1.weight", p, i)) ||
		    (rc = bind(m, &l->b1, 0, F, err, "%s.%zu.ffn.lin1.bias", p, i)) ||
		    (rc = bind(m, &l->w2, D, F, err, "%s.%zu.ffn.lin2.weight", p, i)) ||
		    (rc = bind(m, &l->b2, 0, D, err, "%s.%zu.ffn.lin2.bias", p, i)) ||
		    (rc = bind(m, &l->ln2_g, 0, D, err, "%s.%zu.output_layer_norm.weight", p, i)) ||
		    (rc = bind(m, &l->ln2_b, 0, D, err, "%s.%zu.output_layer_norm.bias", p, i)))
			return rc;
	} else if (c->arch == SB_ARCH_MPNET) {
		const char *p = "encoder.layer";
		if ((rc = bind(m, &l->wq, D, D, err, "%s.%zu.attention.attn.q.weight", p, i)) ||
		    (rc = bind(m, &bq, 0, D, err, "%s.%zu.attention.attn.q.bias", p, i)) ||
		    (rc = bind(m, &l->wk, D, D, err, "%s.%zu.attention.attn.k.weight", p, i)) ||
		    (rc = bind(m, &bk, 0, D, err, "%s.%zu.attention.attn.k.bias", p, i)) ||
		    (rc = bind(m, &l->wv, D, D, err, "%s.%zu.attention.attn.v.weight", p, i)) ||
		    (rc = bind(m, &bv, 0, D, err, "%s.%zu.attention.attn.v.bias", p, i)) ||
		    (rc = bind(m, &l->wo, D, D, err, "%s.%zu.attention.attn.o.weight", p, i)) ||
		    (rc = bind(m, &l->bo, 0, D, err, "%s.%zu.attention.attn.o.bias", p, i)) ||
		    (rc = bind(m, &l->ln1_g, 0, D, err, "%s.%zu.attention.LayerNorm.weight", p,
			       i)) ||
		    (rc = bind(m, &l->ln1_b, 0, D, err, "%s.%zu.attention.LayerNorm.bias", p, i)) ||
		    (rc = bind(m, &l->w1, F, D, err, "%s.%zu.intermediate.dense.weight", p, i)) ||
		    (rc = bind(m, &l->b1, 0, F, err, "%s.%zu.intermediate.dense.bias", p, i)) ||
		    (rc = bind(m, &l->w2, D, F, err, "%s.%zu.output.dense.weight", p, i)) ||
		    (rc = bind(m, &l->b2, 0, D, err, "%s.%zu.output.dense.bias", p, i)) ||
		    (rc = bind(m, &l->ln2_g, 0, D, err, "%s.%zu.output.LayerNorm.weight", p, i)) ||
		    (rc = bind(m, &l->ln2_b, 0, D, err, "%s.%zu.output.LayerNorm.bias", p, i)))
			return rc;
	} else {
		const char *p = "encoder.layer";
		if ((rc = bind(m, &l->wq, D, D, err, "%s.%zu.attention.self.query.weight", p, i)) ||
		    (rc = bind(m, &bq, 0, D, err, "%s.%zu.attention.self.query.bias", p, i)) ||
		    (rc = bind(m, &l->wk, D, D, err, "%s.%zu.attention.self.key.weight", p, i)) ||
		    (rc = bind(m, &bk, 0, D, err, "%s.%zu.attention.self.key.bias", p, i)) ||
		    (rc = bind(m, &l->wv, D, D, err, "%s.%zu.attention.self.value.weight", p, i)) ||
		    (rc = bind(m, &bv, 0, D, err, "%s.%zu.attention.self.value.bias", p, i)) ||
		    (rc = bind(m, &l->wo, D, D, err, "%s.%zu.attention.output.dense.weight", p,
			       i)) ||
		    (rc = bind(m, &l->bo, 0, D, err, "%s.%zu.attention.output.dense.bias", p, i)) ||
		    (rc = bind(m, &l->ln1_g, 0, D, err, "%s.%zu.attention.output.LayerNorm.weight",
			       p, i)) ||
		    (rc = bind(m, &l->ln1_b, 0, D, err, "%s.%zu.attention.output.LayerNorm.bias",
			       p, i)) ||
		    (rc = bind(m, &l->w1, F, D, err, "%s.%zu.intermediate.dense.weight", p, i)) ||
		    (rc = bind(m, &l->b1, 0, F, err, "%s.%zu.intermediate.dense.bias", p, i)) ||
		    (rc = bind(m, &l->w2, D, F, err, "%s.%zu.output.dense.weight", p, i)) ||
		    (rc = bind(m, &l->b2, 0, D, err, "%s.%zu.output.dense.bias", p, i)) ||
		    (rc = bind(m, &l->ln2_g, 0, D, err, "%s.%zu.output.LayerNorm.weight", p, i)) ||
		    (rc = bind(m, &l->ln2_b, 0, D, err, "%s.%zu.output.LayerNorm.bias", p, i)))
			return rc;
	}
	if ((rc = grow(&l->bqkv, &cap, 3 * D, sizeof(float), "qkv bias", err)))
		return rc;
	memcpy(l->bqkv, bq, D * sizeof(float));
	memcpy(l->bqkv + D, bk, D * sizeof(float));
	memcpy(l->bqkv + 2 * D, bv, D * sizeof(float));
	return SB_OK;
}

/* ---- fingerprint ---- */

uint64_t sb_model_fnv_floats(uint64_t h, const float *x, size_t n)
{
	size_t step = n > 64 ? n / 64 : 1;

	if (!x)
		return h;
	h = sb_fnv1a64(h, &n, sizeof(n));
	for (size_t i = 0; i < n; i += step)
		h = sb_fnv1a64(h, &x[i], sizeof(float));
	return h;
}

static void fingerprint(struct sb_model *m)
{
	const struct sb_model_config *c = &m->cfg;
	size_t D = c->dim, F = c->dim_ffn;
	uint64_t h = SB_FNV1A64_INIT;
	size_t dims[] = { c->arch, D, c->n_layers, c->n_heads, F, c->vocab_size, c->max_pos,
			  c->type_vocab_size, c->act, c->padding_idx };

	h = sb_fnv1a64(h, dims, sizeof(dims));
	h = sb_fnv1a64(h, &c->eps, sizeof(c->eps));
	h = sb_model_fnv_floats(h, m->word, c->vocab_size * D);
	h = sb_model_fnv_floats(h, m->pos, c->max_pos * D);
	if (m->type)
		h = sb_model_fnv_floats(h, m->type, c->type_vocab_size * D);
	h = sb_model_fnv_floats(h, m->emb_g, D);
	h = sb_model_fnv_floats(h, m->emb_b, D);
	if (m->rel_bias)
		h = sb_model_fnv_floats(h, m->rel_bias, c->rel_buckets * c->n_heads);
	for (size_t i = 0; i < c->n_layers; i++) {
		const struct layer *l = &m->layers[i];
		h = sb_model_fnv_floats(h, l->wq, D * D);
		h = sb_model_fnv_floats(h, l->wk, D * D);
		h = sb_model_fnv_floats(h, l->wv, D * D);
		h = sb_model_fnv_floats(h, l->bqkv, 3 * D);
		h = sb_model_fnv_floats(h, l->wo, D * D);
		h = sb_model_fnv_floats(h, l->bo, D);
		h = sb_model_fnv_floats(h, l->ln1_g, D);
		h = sb_model_fnv_floats(h, l->ln1_b, D);
		h = sb_model_fnv_floats(h, l->w1, F * D);
		h = sb_model_fnv_floats(h, l->b1, F);
		h = sb_model_fnv_floats(h, l->w2, D * F);
		h = sb_model_fnv_floats(h, l->b2, D);
		h = sb_model_fnv_floats(h, l->ln2_g, D);
		h = sb_model_fnv_floats(h, l->ln2_b, D);
	}
	snprintf(m->fingerprint, sizeof(m->fingerprint), "fnv1a64:%016llx", (unsigned long long)h);
}

/* ---- open / close ---- */

/*
 * bf16 / int8 (opts.precision): every layer's four products packed in that arithmetic,
 * Q|K|V as one, and the pages of the float32 originals given back.  int8 quantizes the
 * two feed-forward products (two thirds of the operations) and keeps Q|K|V and the
 * attention output in bf16: all four in int8 lose up to 1.6e-3 of cosine on 12-layer
 * models, over the 1e-3 allowed (bench/RESULTS.md, "bf16 and int8 products").
 */
static int prepare_lowp(struct sb_model *m, struct sb_error *err)
{
	size_t D = m->cfg.dim, F = m->cfg.dim_ffn;
	enum sb_lowp p = m->opts.precision;
	enum sb_lowp pa = SB_LOWP_BF16;         /* Q|K|V and the attention output */
	int rc;

	for (size_t i = 0; i < m->cfg.n_layers; i++) {
		struct layer *l = &m->layers[i];
		const float *qkv[3] = { l->wq, l->wk, l->wv };
		size_t rows[3] = { D, D, D };
		if ((rc = sb_lowp_pack(&l->lqkv, pa, qkv, rows, 3, D, err)) ||
		    (rc = sb_lowp_pack(&l->lo, pa, &l->wo, &D, 1, D, err)) ||
		    (rc = sb_lowp_pack(&l->l1, p, &l->w1, &F, 1, D, err)) ||
		    (rc = sb_lowp_pack(&l->l2, p, &l->w2, &D, 1, F, err))) {
			sb_error_prefix(err, "model: layer %zu: ", i);
			return rc;
		}
		for (int j = 0; j < 3; j++)
			sb_weights_drop(m->w, qkv[j], D * D * sizeof(float));
		sb_weights_drop(m->w, l->wo, D * D * sizeof(float));
		sb_weights_drop(m->w, l->w1, F * D * sizeof(float));
		sb_weights_drop(m->w, l->w2, D * F * sizeof(float));
		l->wq = l->wk = l->wv = l->wo = l->w1 = l->w2 = NULL;
	}
	return SB_OK;
}

/*
 * Prepares every layer's product weights.  When the AVX-512 kernel is in use (see
 * ops.h) and opts.pack, they are packed for it and the pages of the originals given
 * back: the forward pass reads only the packed copies, so resident memory stays about
 * one copy of the weights.  The fused Q|K|V is packed straight from Wq, Wk, Wv; only
 * when it is not packed is it made as a plain [3D, D] copy for sb_ops_linear().
 */
static int prepare_products(struct sb_model *m, struct sb_error *err)
{
	size_t D = m->cfg.dim, F = m->cfg.dim_ffn;
	int rc;

	if (m->opts.precision != SB_LOWP_F32)
		return prepare_lowp(m, err);

	for (size_t i = 0; i < m->cfg.n_layers; i++) {
		struct layer *l = &m->layers[i];
		const float *qkv[3] = { l->wq, l->wk, l->wv };
		size_t rows[3] = { D, D, D }, cap = 0;
		if (m->opts.pack &&
		    ((m->opts.fuse_qkv && (rc = sb_ops_pack(&l->pqkv, qkv, rows, 3, D, err))) ||
		     (rc = sb_ops_pack(&l->po, &l->wo, &D, 1, D, err)) ||
		     (rc = sb_ops_pack(&l->p1, &l->w1, &F, 1, D, err)) ||
		     (rc = sb_ops_pack(&l->p2, &l->w2, &D, 1, F, err)))) {
			sb_error_prefix(err, "model: layer %zu: ", i);
			return rc;
		}
		if (m->opts.fuse_qkv && !l->pqkv.data) {
			/* [3D, D]: the rows of Wq, then Wk, then Wv: one product gives q|k|v. */
			if ((rc = grow(&l->wqkv, &cap, 3 * D * D, sizeof(float), "qkv weight",
				       err)))
				return rc;
			memcpy(l->wqkv, l->wq, D * D * sizeof(float));
			memcpy(l->wqkv + D * D, l->wk, D * D * sizeof(float));
			memcpy(l->wqkv + 2 * D * D, l->wv, D * D * sizeof(float));
		}
		/* The originals may be freed: the pointers go too, so no path can use them. */
		if (l->pqkv.data) {
			for (int j = 0; j < 3; j++)
				sb_weights_drop(m->w, qkv[j], D * D * sizeof(float));
			l->wq = l->wk = l->wv = NULL;
		}
		if (l->po.data) {
			sb_weights_drop(m->w, l->wo, D * D * sizeof(float));
			l->wo = NULL;
		}
		if (l->p1.data) {
			sb_weights_drop(m->w, l->w1, F * D * sizeof(float));
			l->w1 = NULL;
		}
		if (l->p2.data) {
			sb_weights_drop(m->w, l->w2, D * F * sizeof(float));
			l->w2 = NULL;
		}
	}
	return SB_OK;
}

/* The thread team and the per-member arrays (opts.threads members). */
static int open_threads(struct sb_model *m, struct sb_error *err)
{
	size_t n;
	int rc;

	if (m->opts.threads > SB_PAR_MAX)
		return sb_error_set(err, SB_EINVAL, "model: %d threads, at most %d",
				    m->opts.threads, SB_PAR_MAX);
	n = (size_t)m->opts.threads;
	m->scr = calloc(n, sizeof(*m->scr));
	m->split = calloc(n + 1, sizeof(*m->split));
	m->part_rc = calloc(n, sizeof(*m->part_rc));
	m->part_err = calloc(n, sizeof(*m->part_err));
	if (!m->scr || !m->split || !m->part_rc || !m->part_err)
		return sb_error_set(err, SB_ENOMEM, "model: out of memory");
	if (n > 1 && (rc = sb_par_open(&m->par, (int)n, err))) {
		sb_error_prefix(err, "model: ");
		return rc;
	}
	/* The members call BLAS at once; its own threads would only contend with them. */
	if (n > 1)
		sb_ops_set_threads(1);
	return SB_OK;
}

int sb_model_open(struct sb_model **out, const char *dir, const struct sb_model_opts *opts,
		  struct sb_error *err)
{
	struct sb_model *m;
	struct sb_json *cfg = NULL;
	char *path;
	int rc;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return sb_error_set(err, SB_ENOMEM, "model: out of memory");
	m->key_prefix = "";
	sb_model_opts_init(&m->opts);
	if (opts) {
		if (opts->max_batch_tokens)
			m->opts.max_batch_tokens = opts->max_batch_tokens;
		m->opts.fuse_qkv = opts->fuse_qkv;
		m->opts.threads = opts->threads > 0 ? opts->threads : 1;
		m->opts.pack = opts->pack;
		m->opts.precision = opts->precision;
	}
	if (m->opts.fuse_qkv < 0)
		m->opts.fuse_qkv = 1;
	if ((rc = open_threads(m, err)))
		goto fail;

	path = sb_path_join(dir, "config.json");
	if (!path) {
		rc = sb_error_set(err, SB_ENOMEM, "model: out of memory");
		goto fail;
	}
	rc = sb_json_parse_file(path, 0, CONFIG_MAX_BYTES, &cfg, err);
	if (rc) {
		/* Parse errors give a byte offset; I/O errors already name the file. */
		if (err && strncmp(err->msg, path, strlen(path)) != 0)
			sb_error_prefix(err, "%s: ", path);
		free(path);
		goto fail;
	}
	free(path);
	rc = parse_config(cfg, &m->cfg, err);
	sb_json_free(&cfg);
	if (rc)
		goto fail;
	if ((rc = sb_weights_open(&m->w, dir, err)))
		goto fail;
	if (m->cfg.arch == SB_ARCH_MPNET)
		m->key_prefix = sb_mpnet_key_prefix(m->w);
	if (m->cfg.arch == SB_ARCH_MODERNBERT) {
		if ((rc = sb_mbert_open(&m->mb, &m->cfg, &m->opts, m->w, m->opts.threads,
					m->fingerprint, sizeof(m->fingerprint), err)))
			goto fail;
		*out = m;
		return SB_OK;
	}
	if ((rc = bind_embeddings(m, err)))
		goto fail;
	m->layers = calloc(m->cfg.n_layers, sizeof(*m->layers));
	if (!m->layers) {
		rc = sb_error_set(err, SB_ENOMEM, "model: out of memory");
		goto fail;
	}
	for (size_t i = 0; i < m->cfg.n_layers; i++)
		if ((rc = bind_layer(m, i, err)))
			goto fail;
	if (m->cfg.arch == SB_ARCH_MPNET &&
	    (rc = bind(m, &m->rel_bias, m->cfg.rel_buckets, m->cfg.n_heads, err,
		       "encoder.relative_attention_bias.weight")))
		goto fail;
	fingerprint(m);
	if ((rc = prepare_products(m, err)))
		goto fail;
	*out = m;
	return SB_OK;
fail:
	sb_model_close(&m);
	return rc;
}

void sb_model_close(struct sb_model **mp)
{
	struct sb_model *m = mp ? *mp : NULL;

	if (!m)
		return;
	sb_mbert_close(&m->mb);
	if (m->layers) {
		for (size_t i = 0; i < m->cfg.n_layers; i++) {
			struct layer *l = &m->layers[i];
			free(l->wqkv);
			free(l->bqkv);
			sb_ops_packed_free(&l->pqkv);
			sb_ops_packed_free(&l->po);
			sb_ops_packed_free(&l->p1);
			sb_ops_packed_free(&l->p2);
			sb_lowp_free(&l->lqkv);
			sb_lowp_free(&l->lo);
			sb_lowp_free(&l->l1);
			sb_lowp_free(&l->l2);
		}
		free(m->layers);
	}
	sb_weights_close(&m->w);
	free(m->row_off);
	free(m->tok_pos);
	free(m->tok_pe);
	free(m->tok_id);
	free(m->tok_type);
	free(m->out);
	free(m->rel_tab);
	sb_par_close(&m->par);
	if (m->scr) {
		for (int i = 0; i < m->opts.threads; i++) {
			free(m->scr[i].qkv);
			free(m->scr[i].ctx);
			free(m->scr[i].tmp);
			free(m->scr[i].ffn);
			free(m->scr[i].scores);
			sb_model_panels_free(&m->scr[i].pan);
			sb_lowp_act_free(&m->scr[i].act);
			sb_lowp_view_free(&m->scr[i].keys);
			free(m->scr[i].qkv16);
			sb_lowp_view_free(&m->scr[i].vals);
		}
		free(m->scr);
	}
	free(m->split);
	free(m->part_rc);
	free(m->part_err);
	free(m);
	*mp = NULL;
}

const struct sb_model_config *sb_model_config(const struct sb_model *m)
{
	return &m->cfg;
}

const char *sb_model_fingerprint(const struct sb_model *m)
{
	return m->fingerprint;
}

const struct sb_weights *sb_model_weights(const struct sb_model *m)
{
	return m->w;
}

const char *sb_model_weights_source(const struct sb_model *m)
{
	return sb_weights_source(m->w);
}

size_t sb_model_weights_bytes(const struct sb_model *m)
{
	return sb_weights_file_bytes(m->w);
}

double sb_model_flops_per_token(const struct sb_model *m)
{
	double D = (double)m->cfg.dim, F = (double)m->cfg.dim_ffn;

	if (m->mb)
		return sb_mbert_flops_per_token(&m->cfg);
	return (double)m->cfg.n_layers * 2.0 * (4.0 * D * D + 2.0 * D * F);
}

/* ---- forward ---- */

static int64_t int_at(const struct sb_tensor *t, size_t i)
{
	const unsigned char *p = t->data;

	switch (t->dtype) {
	case SB_DTYPE_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); return v; }
	case SB_DTYPE_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
	case SB_DTYPE_I8: return (int8_t)p[i];
	case SB_DTYPE_U8: return p[i];
	default: assert(0); return 0;
	}
}

static int check_input(const struct sb_tensor *t, const char *name, int allow_bytes,
		       const size_t *shape, struct sb_error *err)
{
	char a[64], b[64];

	if (t->dtype != SB_DTYPE_I64 && t->dtype != SB_DTYPE_I32 &&
	    !(allow_bytes && (t->dtype == SB_DTYPE_I8 || t->dtype == SB_DTYPE_U8)))
		return sb_error_set(err, SB_EFORMAT, "tensor '%s': dtype %s, expected int64 or "
				    "int32", name, sb_dtype_name(t->dtype));
	if (t->n_dims != 2 || (shape && (t->shape[0] != shape[0] || t->shape[1] != shape[1])))
		return sb_error_set(err, SB_EFORMAT, "tensor '%s': shape %s, expected %s", name,
				    sb_shape_str(t->n_dims, t->shape, a, sizeof(a)),
				    shape ? sb_shape_str(2, shape, b, sizeof(b)) : "[rows, seq]");
	return SB_OK;
}

/* Fills the token index (ids, positions, types, row offsets), validating every value. */
static int gather(struct sb_model *m, const struct sb_tensor *ids, const struct sb_tensor *mask,
		  const struct sb_tensor *types, struct sb_error *err)
{
	const struct sb_model_config *c = &m->cfg;
	size_t rows = ids->shape[0], seq = ids->shape[1], T = 0, n;
	int rc;

	if ((rc = grow(&m->row_off, &m->cap_rows, rows + 1, sizeof(size_t), "row index", err)))
		return rc;
	for (size_t r = 0; r < rows; r++)
		for (size_t p = 0; p < seq; p++)
			T += int_at(mask, r * seq + p) != 0;
	n = T ? T : 1;
	if ((rc = grow(&m->tok_pos, &m->cap_pos, n, sizeof(size_t), "token index", err)) ||
	    (rc = grow(&m->tok_pe, &m->cap_pe, n, sizeof(size_t), "token index", err)) ||
	    (rc = grow(&m->tok_id, &m->cap_id, n, sizeof(int32_t), "token index", err)) ||
	    (rc = grow(&m->tok_type, &m->cap_type, n, sizeof(int32_t), "token index", err)))
		return rc;
	T = 0;
	for (size_t r = 0; r < rows; r++) {
		size_t n_real = 0;      /* RoBERTa: non-pad ids so far in this row */
		m->row_off[r] = T;
		for (size_t p = 0; p < seq; p++) {
			size_t i = r * seq + p, pe = p;
			int64_t id = int_at(ids, i), tt = types ? int_at(types, i) : 0;
			if (id < 0 || (uint64_t)id >= c->vocab_size)
				return sb_error_set(err, SB_EINVAL, "row %zu, position %zu: "
						    "token id %lld out of range (vocab_size "
						    "%zu)", r, p, (long long)id, c->vocab_size);
			if (c->arch == SB_ARCH_ROBERTA || c->arch == SB_ARCH_MPNET) {
				/* Counted over the whole row, masked or not, as the ids
				 * alone decide it in transformers. */
				n_real += (uint64_t)id != c->padding_idx;
				pe = (uint64_t)id != c->padding_idx ? c->padding_idx + n_real
								     : c->padding_idx;
			}
			if (int_at(mask, i) == 0)
				continue;
			if (pe >= c->max_pos && c->arch != SB_ARCH_ROBERTA && c->arch != SB_ARCH_MPNET)
				return sb_error_set(err, SB_ELIMIT, "row %zu: token at position "
						    "%zu, past max_position_embeddings %zu "
						    "(sequence too long)", r, p, c->max_pos);
			if (pe >= c->max_pos)
				return sb_error_set(err, SB_ELIMIT, "row %zu: token at position "
						    "%zu has position id %zu, past "
						    "max_position_embeddings %zu (sequence too "
						    "long)", r, p, pe, c->max_pos);
			if (c->type_vocab_size && (tt < 0 || (uint64_t)tt >= c->type_vocab_size))
				return sb_error_set(err, SB_EINVAL, "row %zu, position %zu: token "
						    "type %lld out of range (type_vocab_size %zu)",
						    r, p, (long long)tt, c->type_vocab_size);
			m->tok_pos[T] = p;
			m->tok_pe[T] = pe;
			m->tok_id[T] = (int32_t)id;
			m->tok_type[T] = (int32_t)(c->type_vocab_size ? tt : 0);
			T++;
		}
	}
	m->row_off[rows] = T;
	m->rows = rows;
	m->seq = seq;
	m->n_tok = T;
	return SB_OK;
}

/*
 * 1 when attention's two products run in bf16 (both bf16 and int8).  bf16 splits their
 * activation inputs, the queries and the attention weights, into hi + lo (lowp.h), the
 * keys and values one bf16 each: on MiniLM-L12 min cosine 0.999921 against 0.999914 with
 * plain bf16 inputs and 0.999929 in float32, which made 417-token documents up to 1.6x
 * slower than bf16 attention (bench/RESULTS.md, "bf16 and int8 products").
 */
static int attn_lowp(const struct sb_model *m)
{
	return m->opts.precision != SB_LOWP_F32;
}

/* Queries per block of int8's bf16 attention: its scores stay in cache. */
#define QUERY_BLOCK 64

/*
 * bf16 / int8: the queries (times 1 / sqrt(d)), keys and values of row r's L tokens (at
 * qkv, row stride 3D) rounded to bf16 into sc->qkv16, head by head: [3][H][L][d].
 */
static void heads_bf16(const struct sb_model *m, struct scratch *sc, float *qkv, size_t L)
{
	size_t D = m->cfg.dim, H = m->cfg.n_heads, d = m->cfg.dim_head;
	float scale = 1.0f / sqrtf((float)d);

	for (size_t t = 0; t < L; t++) {
		float *x = qkv + t * 3 * D;
		for (size_t j = 0; j < D; j++)
			x[j] *= scale;
		for (size_t part = 0; part < 3; part++)
			for (size_t h = 0; h < H; h++)
				sb_lowp_round_bf16(x + part * D + h * d, d,
						   sc->qkv16 + ((part * H + h) * L + t) * d);
	}
}

/*
 * bf16 / int8: head h of row r (L tokens, its bf16 queries, keys and values from
 * heads_bf16(); ctx at a row stride of ldc) with attention's two products in bf16
 * (float32 sums, on the bf16 kernels): scores = (Q_h / sqrt(d)) K_h^T, softmax,
 * ctx_h = scores V_h, in blocks of QUERY_BLOCK queries (the whole row when an MPNet
 * bias table is added).  bf16 splits the queries (from qf: the float32 queries times
 * 1 / sqrt(d), row stride 3D) and the scores into hi + lo; int8 rounds them once.
 */
static int head_lowp(struct sb_model *m, struct scratch *sc, size_t r, size_t h, size_t L,
		     float *ctx, size_t ldc, const float *qf, struct sb_error *err)
{
	size_t D = m->cfg.dim, H = m->cfg.n_heads, d = m->cfg.dim_head;
	size_t bs = m->rel_tab ? L : QUERY_BLOCK;
	int split = m->opts.precision == SB_LOWP_BF16;
	const uint16_t *q = sc->qkv16 + h * L * d, *k = q + H * L * d, *v = k + H * L * d;
	float *sco = sc->scores;
	int rc;

	if ((rc = sb_lowp_view_rows(&sc->keys, L, d, k, d, err)) ||
	    (rc = sb_lowp_view_cols(&sc->vals, d, L, v, d, err)))
		return rc;
	for (size_t i0 = 0; i0 < L; i0 += bs) {
		size_t nb = L - i0 < bs ? L - i0 : bs;
		if (split)
			rc = sb_lowp_act_set_split(&sc->act, &sc->keys.w, nb, qf + i0 * 3 * D,
						   3 * D, err);
		else
			rc = sb_lowp_act_set_bf16(&sc->act, &sc->keys.w, nb, q + i0 * d, d, err);
		if (rc)
			return rc;
		sb_lowp_linear(&sc->keys.w, &sc->act, 0, L, sco, L);
		if (m->rel_tab)
			sb_mpnet_add_bias(sco, L, m->tok_pos + m->row_off[r],
					  m->rel_tab + h * (2 * m->seq - 1), m->seq);
		sb_ops_softmax(sco, nb, L, L, NULL);
		if ((rc = (split ? sb_lowp_act_set_split : sb_lowp_act_set)(&sc->act, &sc->vals.w,
									     nb, sco, L, err)))
			return rc;
		sb_lowp_linear(&sc->vals.w, &sc->act, 0, d, ctx + i0 * ldc, ldc);
	}
	return SB_OK;
}

/* Self-attention of rows [r0, r1) whose tokens start at t0: qkv -> ctx (see top). */
static int attention(struct sb_model *m, struct scratch *sc, size_t r0, size_t r1, size_t t0,
		     struct sb_error *err)
{
	size_t D = m->cfg.dim, H = m->cfg.n_heads, d = m->cfg.dim_head;
	float scale = 1.0f / sqrtf((float)d);
	int packed = sc->pan.kp && sb_ops_panels_ok();
	int lowp = attn_lowp(m), rc;

	for (size_t r = r0; r < r1; r++) {
		size_t s = m->row_off[r] - t0, L = m->row_off[r + 1] - m->row_off[r];
		if (lowp)
			heads_bf16(m, sc, sc->qkv + s * 3 * D, L);
		for (size_t h = 0; h < H; h++) {
			const float *q = sc->qkv + s * 3 * D + h * d;
			const float *k = q + D, *v = q + 2 * D;
			float *ctx = sc->ctx + s * D + h * d;
			if (lowp) {
				if ((rc = head_lowp(m, sc, r, h, L, ctx, D, q, err)))
					return rc;
				continue;
			}
			/* scores[L, L] = Q_h[L, d] K_h[L, d]^T / sqrt(d) */
			if (packed) {
				sb_ops_panels_pack(sc->pan.kp, 1, L, d, k, 3 * D);
				sb_ops_panels_pack(sc->pan.vp, 0, d, L, v, 3 * D);
				sb_ops_panels_gemm(L, L, d, q, 3 * D, sc->pan.kp, d, 0, sc->scores, L);
				for (size_t i = 0; i < L * L; i++)
					sc->scores[i] *= scale;
			} else {
				sb_ops_gemm(1, L, L, d, scale, q, 3 * D, k, 3 * D, 0.0f,
					    sc->scores, L);
			}
			if (m->rel_tab)
				sb_mpnet_add_bias(sc->scores, L, m->tok_pos + m->row_off[r],
						  m->rel_tab + h * (2 * m->seq - 1), m->seq);
			sb_ops_softmax(sc->scores, L, L, L, NULL);
			/* ctx_h[L, d] = scores[L, L] V_h[L, d] */
			if (packed)
				sb_ops_panels_gemm(L, d, L, sc->scores, L, sc->pan.vp, L, 0, ctx, D);
			else
				sb_ops_gemm(0, L, d, L, 1.0f, sc->scores, L, v, 3 * D, 0.0f, ctx,
					    D);
		}
	}
	return SB_OK;
}

/* The weights of one product, in the forms it may take (see struct layer). */
struct product {
	const struct sb_ops_packed *pw; /* float32 packed (data NULL when not) */
	const float *w;                 /* float32 as loaded, or NULL */
	const struct sb_lowp_weights *lw; /* bf16 / int8 (data NULL in float32) */
	int split;                      /* bf16 lw: inputs split into hi + lo (lowp.h) */
};

/* One product Y[M, N] = X[M, K] W[N, K]^T, its columns shared by the team. */
struct col_job {
	size_t M, N, K, ldx, ldy;
	const float *x, *w;
	const struct sb_ops_packed *pw;
	const struct sb_lowp_weights *lw;
	const struct sb_lowp_act *la;
	float *y;
};

static void col_part(void *arg, int i, int n)
{
	const struct col_job *j = arg;
	/*
	 * Whole blocks of columns per member: 32-column panels of packed weights, else
	 * 16 columns, so the kernels' vector loops stay full.
	 */
	size_t bw = j->pw || j->lw ? 32 : 16, blocks = (j->N + bw - 1) / bw;
	size_t c0 = blocks * (size_t)i / (size_t)n * bw;
	size_t c1 = blocks * (size_t)(i + 1) / (size_t)n * bw;

	c1 = c1 < j->N ? c1 : j->N;
	if (c1 <= c0)
		return;
	if (j->lw)
		sb_lowp_linear(j->lw, j->la, c0, c1, j->y, j->ldy);
	else if (j->pw)
		sb_ops_linear_packed(j->M, j->pw, c0, c1, j->x, j->ldx, j->y, j->ldy);
	else
		sb_ops_linear(j->M, c1 - c0, j->K, j->x, j->ldx, j->w + c0 * j->K, j->y + c0,
			      j->ldy);
}

/*
 * Y[M, N] = X[M, K] W[N, K]^T from the first form of the weights p has (bf16 / int8,
 * float32 packed, float32 as loaded), on this thread, or with the columns split over
 * the team when par is not NULL.  bf16 / int8 inputs are rounded or quantized first,
 * once, into the scratch sc: SB_ENOMEM / SB_ELIMIT when that buffer cannot grow.
 */
static int linear(struct sb_par *par, struct scratch *sc, size_t M, size_t N, size_t K,
		  const float *x, size_t ldx, struct product p, float *y, size_t ldy,
		  struct sb_error *err)
{
	struct col_job j = { M, N, K, ldx, ldy, x, p.w, p.pw && p.pw->data ? p.pw : NULL,
			     p.lw && p.lw->data ? p.lw : NULL, &sc->act, y };
	int rc;

	if (j.lw && (rc = (p.split ? sb_lowp_act_set_split : sb_lowp_act_set)(&sc->act, j.lw, M,
									      x, ldx, err)))
		return rc;
	if (par)
		sb_par_run(par, col_part, &j);
	else if (j.lw)
		sb_lowp_linear(j.lw, &sc->act, 0, N, y, ldy);
	else if (j.pw)
		sb_ops_linear_packed(M, j.pw, 0, N, x, ldx, y, ldy);
	else
		sb_ops_linear(M, N, K, x, ldx, p.w, y, ldy);
	return SB_OK;
}

/* Rows of scores attention holds at once for rows of up to Lmax tokens. */
static size_t score_rows(const struct sb_model *m, size_t Lmax)
{
	if (!attn_lowp(m) || m->rel_tab)
		return Lmax;
	return Lmax < QUERY_BLOCK ? Lmax : QUERY_BLOCK;
}

/*
 * Runs embeddings and all layers for rows [r0, r1) with the scratch sc.  par: NULL to
 * compute on this thread alone, or the team to split the columns of every product
 * (used for batches too small to split by rows).
 */
static int run_batch(struct sb_model *m, struct scratch *sc, struct sb_par *par, size_t r0,
		     size_t r1, struct sb_error *err)
{
	const struct sb_model_config *c = &m->cfg;
	size_t D = c->dim, F = c->dim_ffn;
	size_t t0 = m->row_off[r0], Tb = m->row_off[r1] - t0, Lmax = 0;
	float *x = m->out + t0 * D;
	/*
	 * bf16: the inputs of Q|K|V and of the attention output split into hi + lo (lowp.h),
	 * the feed-forward products' inputs one bf16 each: splitting those too bought no
	 * measurable accuracy for two thirds of the operations (bench/RESULTS.md).  int8
	 * keeps plain bf16 inputs for its bf16 products (Q|K|V, the attention output).
	 */
	int split = m->opts.precision == SB_LOWP_BF16, rc;

	if (Tb == 0)
		return SB_OK;
	if (m->mb) {
		struct sb_mbert_tokens tk = { m->row_off, m->tok_pos, m->tok_id, m->out };
		return sb_mbert_run(m->mb, (int)(sc - m->scr), par, &tk, r0, r1, err);
	}
	for (size_t r = r0; r < r1; r++) {
		size_t L = m->row_off[r + 1] - m->row_off[r];
		Lmax = L > Lmax ? L : Lmax;
	}
	if ((rc = grow(&sc->qkv, &sc->cap_qkv, Tb * 3 * D, sizeof(float), "qkv", err)) ||
	    (rc = grow(&sc->ctx, &sc->cap_ctx, Tb * D, sizeof(float), "context", err)) ||
	    (rc = grow(&sc->tmp, &sc->cap_tmp, Tb * D, sizeof(float), "projection", err)) ||
	    (rc = grow(&sc->ffn, &sc->cap_ffn, Tb * F, sizeof(float), "feed-forward", err)) ||
	    (rc = grow(&sc->scores, &sc->cap_scores, score_rows(m, Lmax) * Lmax, sizeof(float),
		       "scores", err)))
		return rc;
	if (!attn_lowp(m) &&
	    (rc = sb_model_panels_grow(&sc->pan, Lmax, c->dim_head, err)))
		return rc;
	if (attn_lowp(m) &&
	    (rc = grow(&sc->qkv16, &sc->cap_qkv16, Lmax * 3 * D, sizeof(uint16_t), "bf16 qkv",
		       err)))
		return rc;

	/* x[Tb, D] = LayerNorm(word[id] + pos[p] (+ type[tt])) */
	for (size_t t = 0; t < Tb; t++) {
		const float *we = m->word + (size_t)m->tok_id[t0 + t] * D;
		const float *pe = m->pos + m->tok_pe[t0 + t] * D;
		float *xt = x + t * D;
		if (m->type) {
			const float *te = m->type + (size_t)m->tok_type[t0 + t] * D;
			for (size_t j = 0; j < D; j++)
				xt[j] = we[j] + te[j] + pe[j];
		} else {
			for (size_t j = 0; j < D; j++)
				xt[j] = we[j] + pe[j];
		}
	}
	sb_ops_layernorm(x, x, Tb, D, m->emb_g, m->emb_b, c->eps);

	for (size_t i = 0; i < c->n_layers; i++) {
		const struct layer *l = &m->layers[i];
		/* qkv[Tb, 3D] = x[Tb, D] Wqkv[3D, D]^T + bqkv */
		if (l->lqkv.data || l->pqkv.data || l->wqkv) {
			struct product pq = { &l->pqkv, l->wqkv, &l->lqkv, split };
			rc = linear(par, sc, Tb, 3 * D, D, x, D, pq, sc->qkv, 3 * D, err);
		} else {
			struct product pq = { NULL, l->wq, NULL, 0 }, pk = { NULL, l->wk, NULL, 0 },
				       pv = { NULL, l->wv, NULL, 0 };
			if (!(rc = linear(par, sc, Tb, D, D, x, D, pq, sc->qkv, 3 * D, err)) &&
			    !(rc = linear(par, sc, Tb, D, D, x, D, pk, sc->qkv + D, 3 * D, err)))
				rc = linear(par, sc, Tb, D, D, x, D, pv, sc->qkv + 2 * D, 3 * D,
					    err);
		}
		if (rc)
			return rc;
		sb_ops_bias_add(sc->qkv, Tb, 3 * D, 3 * D, l->bqkv);
		if ((rc = attention(m, sc, r0, r1, t0, err)))
			return rc;
		/* x = LayerNorm(ctx Wo^T + bo + x) */
		if ((rc = linear(par, sc, Tb, D, D, sc->ctx, D,
				 (struct product){ &l->po, l->wo, &l->lo, split }, sc->tmp, D, err)))
			return rc;
		sb_ops_bias_residual_layernorm(x, sc->tmp, l->bo, x, Tb, D, l->ln1_g, l->ln1_b,
					       c->eps);
		/* ffn[Tb, F] = act(x W1^T + b1); x = LayerNorm(ffn W2^T + b2 + x) */
		if ((rc = linear(par, sc, Tb, F, D, x, D,
				 (struct product){ &l->p1, l->w1, &l->l1, 0 }, sc->ffn, F, err)))
			return rc;
		sb_ops_bias_act(c->act, sc->ffn, Tb, F, F, l->b1);
		if ((rc = linear(par, sc, Tb, D, F, sc->ffn, F,
				 (struct product){ &l->p2, l->w2, &l->l2, 0 }, sc->tmp, D, err)))
			return rc;
		sb_ops_bias_residual_layernorm(x, sc->tmp, l->b2, x, Tb, D, l->ln2_g, l->ln2_b,
					       c->eps);
	}
	return SB_OK;
}

/*
 * Rows [r0, end) in sub-batches of whole rows under the token budget, on scratch sc.
 * A row longer than the budget is a sub-batch of its own.
 */
static int run_rows(struct sb_model *m, struct scratch *sc, struct sb_par *par, size_t r0,
		    size_t end, struct sb_error *err)
{
	size_t budget = m->opts.max_batch_tokens;
	int rc;

	while (r0 < end) {
		size_t r1 = r0 + 1;
		while (r1 < end && m->row_off[r1 + 1] - m->row_off[r0] <= budget)
			r1++;
		if ((rc = run_batch(m, sc, par, r0, r1, err)))
			return rc;
		r0 = r1;
	}
	return SB_OK;
}

/* Member i of the team: its share of the rows (m->split), on its own scratch. */
static void row_part(void *arg, int i, int n)
{
	struct sb_model *m = arg;

	(void)n;
	m->part_rc[i] = run_rows(m, &m->scr[i], NULL, m->split[i], m->split[i + 1],
				 &m->part_err[i]);
}

/*
 * Splits the rows into n contiguous shares of about T / n tokens each: share i ends
 * at the first row boundary at or past (i + 1) T / n tokens.
 */
static void split_rows(struct sb_model *m, int n)
{
	size_t T = m->n_tok, r = 0;

	m->split[0] = 0;
	for (int i = 1; i < n; i++) {
		size_t goal = T * (size_t)i / (size_t)n;
		while (r < m->rows && m->row_off[r] < goal)
			r++;
		m->split[i] = r;
	}
	m->split[n] = m->rows;
}

/* MPNet: the relative position bias for rows of m->seq, once per padded length. */
static int rel_table(struct sb_model *m, struct sb_error *err)
{
	size_t H = m->cfg.n_heads, width = 2 * m->seq - 1;
	int rc;

	if (!m->rel_bias || m->seq == 0 || m->seq == m->rel_seq)
		return SB_OK;
	m->rel_seq = 0;
	if (m->seq > SIZE_MAX / 2 / H)
		return sb_error_set(err, SB_ELIMIT, "model: rows of %zu positions are too long",
				    m->seq);
	if ((rc = grow(&m->rel_tab, &m->cap_rel, H * width, sizeof(float), "position bias",
		       err)))
		return rc;
	sb_mpnet_bias_table(m->rel_bias, H, m->seq, m->rel_tab);
	m->rel_seq = m->seq;
	return SB_OK;
}

int sb_model_forward(struct sb_model *m, const struct sb_tensor *ids, const struct sb_tensor *mask,
		     const struct sb_tensor *types, struct sb_error *err)
{
	int nt = sb_par_size(m->par);
	size_t n;
	int rc;

	m->rows = m->seq = m->n_tok = 0;
	if (!ids)
		return sb_error_set(err, SB_EFORMAT, "tensor 'input_ids' is missing");
	if (!mask)
		return sb_error_set(err, SB_EFORMAT, "tensor 'attention_mask' is missing");
	if ((rc = check_input(ids, "input_ids", 0, NULL, err)) ||
	    (rc = check_input(mask, "attention_mask", 1, ids->shape, err)) ||
	    (types && (rc = check_input(types, "token_type_ids", 0, ids->shape, err))))
		return rc;
	if ((rc = gather(m, ids, mask, types, err)))
		return rc;
	if ((rc = rel_table(m, err)))
		goto fail;
	n = m->n_tok ? m->n_tok : 1;
	if ((rc = grow(&m->out, &m->cap_out, n * m->cfg.dim, sizeof(float), "output", err)))
		goto fail;
	if (nt == 1 || m->rows < (size_t)nt || m->n_tok < (size_t)nt * ROW_SPLIT_MIN_TOKENS) {
		/* One thread, or too little work to share by rows: share each product. */
		rc = run_rows(m, &m->scr[0], nt > 1 ? m->par : NULL, 0, m->rows, err);
		if (rc)
			goto fail;
		return SB_OK;
	}
	split_rows(m, nt);
	sb_par_run(m->par, row_part, m);
	for (int i = 0; i < nt; i++) {
		if (m->part_rc[i]) {
			rc = m->part_rc[i];
			if (err)
				*err = m->part_err[i];
			goto fail;
		}
	}
	return SB_OK;
fail:
	m->rows = m->seq = m->n_tok = 0;
	return rc;
}

size_t sb_model_rows(const struct sb_model *m)
{
	return m->rows;
}

size_t sb_model_seq(const struct sb_model *m)
{
	return m->seq;
}

size_t sb_model_tokens(const struct sb_model *m)
{
	return m->n_tok;
}

const float *sb_model_row(const struct sb_model *m, size_t r, size_t *n_tokens,
			  const size_t **positions)
{
	assert(r < m->rows);
	*n_tokens = m->row_off[r + 1] - m->row_off[r];
	if (positions)
		*positions = m->tok_pos + m->row_off[r];
	return m->out + m->row_off[r] * m->cfg.dim;
}

void sb_model_hidden(const struct sb_model *m, float *out)
{
	size_t D = m->cfg.dim;

	memset(out, 0, m->rows * m->seq * D * sizeof(float));
	for (size_t r = 0; r < m->rows; r++)
		for (size_t t = m->row_off[r]; t < m->row_off[r + 1]; t++)
			memcpy(out + (r * m->seq + m->tok_pos[t]) * D, m->out + t * D,
			       D * sizeof(float));
}
