/*
 * model_modernbert.c - the ModernBERT encoder: config.json, weight binding with shape
 * checks, and the forward pass over the packed tokens of model.c (see
 * model_modernbert.h for the maths, model.h for the packing argument).
 *
 * Attention per row and head, for a block of queries Q_b [nq, d] (nq <= BQ) and the
 * keys it may see (all the row's tokens, or on local layers those within the window
 * of some query of the block), taken in blocks K_c, V_c [nk, d] (nk <= BK):
 *
 *   s[nq, nk] = Q_b K_c^T / sqrt d     (-inf outside the window)
 *   m'        = max(m, max_j s)         running maximum per query
 *   acc       = acc exp(m - m') + exp(s - m') V_c
 *   l         = l exp(m - m') + sum_j exp(s - m')
 *   ctx_b     = acc / l                 after the last block
 *
 * which is softmax(s) V with every exp taken against the running maximum: for a row
 * of at most BK keys (every sentence) it is exactly the one-pass softmax.
 */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "lowp.h"
#include "model_impl.h"
#include "model_modernbert.h"
#include "ops.h"

/*
 * Queries per attention block: multiples of the product kernel's 12-row tile (64 left
 * a 4-row tail in every block).  Global layers take 96: their keys are the whole row,
 * so the block's size only sets how often K and V are streamed.  Local layers take 48:
 * a block sees its queries' windows, 48 + local_attention keys or so, and a smaller
 * block wastes fewer products on keys outside the windows.
 */
#define BQ_GLOBAL 96
#define BQ_LOCAL 48
#define BQ 96                           /* the larger of the two */
#define BK 256                          /* keys per attention block */

/* Sanity limits on config values, far above any real encoder (as model.c's). */
#define MAX_DIM 16384
#define MAX_LAYERS 256
#define MAX_FFN 262144
#define MAX_VOCAB (1u << 24)
#define MAX_POS (1u << 20)

struct mb_layer {
	const float *attn_g, *attn_b;   /* [D]; attn_g NULL on layer 0 (identity) */
	const float *wqkv, *bqkv;       /* [3D, D], [3D] or NULL */
	const float *wo, *bo;           /* [D, D], [D] or NULL */
	const float *mlp_g, *mlp_b;     /* [D] */
	const float *wi, *bi;           /* [2F, D], [2F] or NULL */
	const float *wo2, *bo2;         /* [D, F], [D] or NULL */
	/* Packed copies for the AVX-512 product kernel (data NULL when not packed). */
	struct sb_ops_packed pqkv, po, pi, po2;
	int local;                      /* sliding-window layer */
};

/* Scratch for one sub-batch of Tb tokens. */
struct mb_scratch {
	float *h;                       /* [Tb, D] normed input, then product outputs */
	float *qkv;                     /* [Tb, 3D] */
	float *ctx;                     /* [Tb, D] */
	float *ffn;                     /* [Tb, 2F] */
	float *rope;                    /* [2][Tb, d]: cos | sin halves, global then local */
	struct sb_model_panels pan;     /* one head's K^T and V packed */
	float s[BQ * BK];               /* scores of one block */
	float mx[BQ], sum[BQ];          /* running maximum and sum per query */
	size_t cap_h, cap_qkv, cap_ctx, cap_ffn, cap_rope;
};

struct sb_mbert {
	struct sb_model_config cfg;
	struct sb_weights *w;           /* borrowed */
	const float *tok;               /* [V, D] */
	const float *emb_g, *emb_b;     /* [D] */
	const float *fin_g, *fin_b;     /* [D] */
	float *zeros;                   /* [D]: the bias of bias-free LayerNorms */
	float *inv_freq;                /* [2][d / 2]: rotary frequencies, global, local */
	struct mb_layer *layers;        /* [n_layers] */
	struct mb_scratch *scr;         /* [n_scr] */
	int n_scr;
};

/* ---- buffers ---- */

/* Makes *p hold at least n floats (64-byte aligned); the old contents are not kept. */
static int grow(float **p, size_t *cap, size_t n, const char *what, struct sb_error *err)
{
	return sb_model_grow(p, cap, n, sizeof(float), what, err);
}

/* ---- config ---- */

static int get_size(const struct sb_json *cfg, const char *key, size_t dflt, size_t lo,
		    size_t hi, size_t *out, struct sb_error *err)
{
	return sb_model_cfg_size(cfg, key, 0, dflt, lo, hi, out, err);
}

static int get_bool(const struct sb_json *cfg, const char *key, int *out, struct sb_error *err)
{
	int rc = sb_json_get_bool(cfg, key, out, err);

	if (rc == SB_ENOTFOUND) {
		*out = 0;
		return SB_OK;
	}
	return rc ? sb_error_prefix(err, "config.json: ") : SB_OK;
}

/* A positive number key of obj into *out (left as is when absent); what names obj. */
static int get_theta(const struct sb_json *obj, const char *key, const char *what, float *out,
		     struct sb_error *err)
{
	double v;
	int rc = sb_json_get_num(obj, key, &v, err);

	if (rc == SB_ENOTFOUND)
		return SB_OK;
	if (rc)
		return sb_error_prefix(err, "config.json: %s", what);
	if (!(v > 0.0 && v < 1e30))
		return sb_error_set(err, SB_EFORMAT, "config.json: %s'%s' is %g, expected a "
				    "positive number", what, key, v);
	*out = (float)v;
	return SB_OK;
}

/*
 * rope_parameters (newer configs): {"full_attention": {"rope_type": "default",
 * "rope_theta": T}, "sliding_attention": {...}}.  Only the default rotary type exists
 * here; a theta given there wins over global_rope_theta / local_rope_theta.
 */
static int rope_params(const struct sb_json *cfg, struct sb_model_config *c,
		       struct sb_error *err)
{
	static const char *const kinds[2] = { "full_attention", "sliding_attention" };
	const struct sb_json *rp = sb_json_get(cfg, "rope_parameters");
	const struct sb_json *rs = sb_json_get(cfg, "rope_scaling");
	int rc;

	if (rs && rs->type != SB_JSON_NULL)
		return sb_error_set(err, SB_EUNSUPPORTED, "config.json: 'rope_scaling' is not "
				    "supported (default rotary embeddings only)");
	if (!rp || rp->type == SB_JSON_NULL)
		return SB_OK;
	for (int i = 0; i < 2; i++) {
		const struct sb_json *k = sb_json_get(rp, kinds[i]);
		const char *type = "default";
		char what[64];
		if (!k || k->type == SB_JSON_NULL)
			continue;
		snprintf(what, sizeof(what), "rope_parameters.%s.", kinds[i]);
		rc = sb_json_get_str(k, "rope_type", &type, err);
		if (rc && rc != SB_ENOTFOUND)
			return sb_error_prefix(err, "config.json: %s", what);
		if (strcmp(type, "default") != 0)
			return sb_error_set(err, SB_EUNSUPPORTED, "config.json: %srope_type '%s' is "
					    "not supported (default)", what, type);
		if ((rc = get_theta(k, "rope_theta", what, i ? &c->rope_local : &c->rope_global,
				    err)))
			return rc;
	}
	return SB_OK;
}

/* layer_types, when given, must be the pattern global_attn_every_n_layers makes. */
static int layer_types(const struct sb_json *cfg, const struct sb_model_config *c,
		       struct sb_error *err)
{
	const struct sb_json *lt = sb_json_get(cfg, "layer_types");

	if (!lt || lt->type == SB_JSON_NULL)
		return SB_OK;
	if (lt->type != SB_JSON_ARRAY || lt->n_items != c->n_layers)
		return sb_error_set(err, SB_EFORMAT, "config.json: 'layer_types' is not a list "
				    "of %zu layer types", c->n_layers);
	for (size_t i = 0; i < c->n_layers; i++) {
		const char *want = i % c->global_every ? "sliding_attention" : "full_attention";
		const struct sb_json *t = &lt->items[i];
		if (t->type != SB_JSON_STRING || strcmp(t->str, want) != 0)
			return sb_error_set(err, SB_EUNSUPPORTED, "config.json: 'layer_types' "
					    "item %zu is not '%s' (only the pattern of "
					    "global_attn_every_n_layers %zu is supported)", i, want,
					    c->global_every);
	}
	return SB_OK;
}

static int get_act(const struct sb_json *cfg, struct sb_model_config *c, struct sb_error *err)
{
	const char *act = "gelu";
	int rc = sb_json_get_str(cfg, "hidden_activation", &act, err);

	if (rc && rc != SB_ENOTFOUND)
		return sb_error_prefix(err, "config.json: ");
	if ((rc = sb_act_parse(act, &c->act, err)))
		return sb_error_prefix(err, "config.json: hidden_activation: ");
	return SB_OK;
}

int sb_mbert_config(const struct sb_json *cfg, struct sb_model_config *c, struct sb_error *err)
{
	const struct sb_json *lt;
	double eps = 1e-5;
	int rc;

	if ((rc = get_size(cfg, "hidden_size", 768, 1, MAX_DIM, &c->dim, err)) ||
	    (rc = get_size(cfg, "num_hidden_layers", 22, 1, MAX_LAYERS, &c->n_layers, err)) ||
	    (rc = get_size(cfg, "num_attention_heads", 12, 1, MAX_DIM, &c->n_heads, err)) ||
	    (rc = get_size(cfg, "intermediate_size", 1152, 1, MAX_FFN, &c->dim_ffn, err)) ||
	    (rc = get_size(cfg, "max_position_embeddings", 8192, 1, MAX_POS, &c->max_pos, err)) ||
	    (rc = get_size(cfg, "vocab_size", 50368, 1, MAX_VOCAB, &c->vocab_size, err)) ||
	    (rc = get_size(cfg, "local_attention", 128, 0, 2 * (size_t)MAX_POS, &c->local_window,
			   err)) ||
	    (rc = get_size(cfg, "global_attn_every_n_layers", 3, 1, MAX_LAYERS, &c->global_every,
			   err)) ||
	    (rc = get_bool(cfg, "norm_bias", &c->norm_bias, err)) ||
	    (rc = get_bool(cfg, "attention_bias", &c->attn_bias, err)) ||
	    (rc = get_bool(cfg, "mlp_bias", &c->mlp_bias, err)) ||
	    (rc = get_act(cfg, c, err)))
		return rc;
	rc = sb_json_get_num(cfg, "norm_eps", &eps, err);
	if (rc && rc != SB_ENOTFOUND)
		return sb_error_prefix(err, "config.json: ");
	if (!(eps > 0.0 && eps < 1.0))
		return sb_error_set(err, SB_EFORMAT, "config.json: 'norm_eps' is %g, expected a "
				    "small positive number", eps);
	c->eps = (float)eps;
	c->rope_global = 160000.0f;
	c->rope_local = 10000.0f;
	if ((rc = get_theta(cfg, "global_rope_theta", "", &c->rope_global, err)))
		return rc;
	/* transformers 4.48: a null local_rope_theta makes local layers use the global one. */
	lt = sb_json_get(cfg, "local_rope_theta");
	if (lt && lt->type == SB_JSON_NULL)
		c->rope_local = c->rope_global;
	else if ((rc = get_theta(cfg, "local_rope_theta", "", &c->rope_local, err)))
		return rc;
	if ((rc = rope_params(cfg, c, err)) || (rc = layer_types(cfg, c, err)))
		return rc;
	if (c->dim % c->n_heads != 0)
		return sb_error_set(err, SB_EFORMAT, "config.json: hidden size %zu is not a "
				    "multiple of the %zu attention heads", c->dim, c->n_heads);
	c->dim_head = c->dim / c->n_heads;
	if (c->dim_head % 2 != 0)
		return sb_error_set(err, SB_EUNSUPPORTED, "config.json: head size %zu is odd "
				    "(rotary embeddings need an even one)", c->dim_head);
	c->type_vocab_size = 0;
	c->padding_idx = 0;
	return SB_OK;
}

/* ---- weights ---- */

/*
 * Binds tensor name (formatted), under "model." (ModernBertForMaskedLM and the other
 * heads) or bare (ModernBertModel), with the expected shape; rows == 0 means 1-d [cols].
 */
static int bind(struct sb_mbert *mb, const float **out, size_t rows, size_t cols,
		struct sb_error *err, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int bind(struct sb_mbert *mb, const float **out, size_t rows, size_t cols,
		struct sb_error *err, const char *fmt, ...)
{
	char name[SB_WEIGHTS_NAME_MAX], pre[SB_WEIGHTS_NAME_MAX + 8];
	const struct sb_tensor *t;
	size_t shape[2] = { rows, cols };
	va_list ap;
	int rc, n;

	va_start(ap, fmt);
	n = vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(name))
		return sb_error_set(err, SB_ELIMIT, "model: tensor name too long");
	snprintf(pre, sizeof(pre), "model.%s", name);
	if (!rows)
		shape[0] = cols;
	/* A tensor missing under both names is reported under the bare one. */
	rc = sb_weights_require(mb->w, sb_weights_find(mb->w, pre) ? pre : name, rows ? 2 : 1,
				shape, &t, err);
	if (rc)
		return rc;
	assert(t->dtype == SB_DTYPE_F32);
	*out = t->data;
	return SB_OK;
}

/* A LayerNorm's weight, and its bias when the config has them. */
static int bind_norm(struct sb_mbert *mb, const float **g, const float **b, const char *name,
		     struct sb_error *err)
{
	int rc = bind(mb, g, 0, mb->cfg.dim, err, "%s.weight", name);

	if (rc)
		return rc;
	if (!mb->cfg.norm_bias) {
		*b = mb->zeros;
		return SB_OK;
	}
	return bind(mb, b, 0, mb->cfg.dim, err, "%s.bias", name);
}

/* A linear layer's [rows, cols] weight, and its [rows] bias when has_bias. */
static int bind_linear(struct sb_mbert *mb, const float **w, const float **b, size_t rows,
		       size_t cols, int has_bias, const char *name, struct sb_error *err)
{
	int rc = bind(mb, w, rows, cols, err, "%s.weight", name);

	*b = NULL;
	if (rc || !has_bias)
		return rc;
	return bind(mb, b, 0, rows, err, "%s.bias", name);
}

static int bind_layer(struct sb_mbert *mb, size_t i, struct sb_error *err)
{
	const struct sb_model_config *c = &mb->cfg;
	struct mb_layer *l = &mb->layers[i];
	size_t D = c->dim, F = c->dim_ffn;
	char p[64], n[96];
	int rc;

	snprintf(p, sizeof(p), "layers.%zu", i);
	l->local = i % c->global_every != 0;
	if (i > 0) {
		snprintf(n, sizeof(n), "%s.attn_norm", p);
		if ((rc = bind_norm(mb, &l->attn_g, &l->attn_b, n, err)))
			return rc;
	}
	snprintf(n, sizeof(n), "%s.attn.Wqkv", p);
	if ((rc = bind_linear(mb, &l->wqkv, &l->bqkv, 3 * D, D, c->attn_bias, n, err)))
		return rc;
	snprintf(n, sizeof(n), "%s.attn.Wo", p);
	if ((rc = bind_linear(mb, &l->wo, &l->bo, D, D, c->attn_bias, n, err)))
		return rc;
	snprintf(n, sizeof(n), "%s.mlp_norm", p);
	if ((rc = bind_norm(mb, &l->mlp_g, &l->mlp_b, n, err)))
		return rc;
	snprintf(n, sizeof(n), "%s.mlp.Wi", p);
	if ((rc = bind_linear(mb, &l->wi, &l->bi, 2 * F, D, c->mlp_bias, n, err)))
		return rc;
	snprintf(n, sizeof(n), "%s.mlp.Wo", p);
	return bind_linear(mb, &l->wo2, &l->bo2, D, F, c->mlp_bias, n, err);
}

static int bind_all(struct sb_mbert *mb, struct sb_error *err)
{
	const struct sb_model_config *c = &mb->cfg;
	int rc;

	if ((rc = bind(mb, &mb->tok, c->vocab_size, c->dim, err,
		       "embeddings.tok_embeddings.weight")) ||
	    (rc = bind_norm(mb, &mb->emb_g, &mb->emb_b, "embeddings.norm", err)))
		return rc;
	for (size_t i = 0; i < c->n_layers; i++)
		if ((rc = bind_layer(mb, i, err)))
			return rc;
	return bind_norm(mb, &mb->fin_g, &mb->fin_b, "final_norm", err);
}

/* ---- fingerprint ---- */

static void fingerprint(const struct sb_mbert *mb, char *fp, size_t fp_size)
{
	const struct sb_model_config *c = &mb->cfg;
	size_t D = c->dim, F = c->dim_ffn;
	size_t dims[] = { c->arch, D, c->n_layers, c->n_heads, F, c->vocab_size, c->max_pos,
			  c->act, c->local_window, c->global_every };
	float f[] = { c->eps, c->rope_global, c->rope_local };
	uint64_t h = SB_FNV1A64_INIT;

	h = sb_fnv1a64(h, dims, sizeof(dims));
	h = sb_fnv1a64(h, f, sizeof(f));
	h = sb_model_fnv_floats(h, mb->tok, c->vocab_size * D);
	h = sb_model_fnv_floats(h, mb->emb_g, D);
	h = sb_model_fnv_floats(h, mb->emb_b, D);
	for (size_t i = 0; i < c->n_layers; i++) {
		const struct mb_layer *l = &mb->layers[i];
		h = sb_model_fnv_floats(h, l->attn_g, D);
		h = sb_model_fnv_floats(h, l->wqkv, 3 * D * D);
		h = sb_model_fnv_floats(h, l->bqkv, 3 * D);
		h = sb_model_fnv_floats(h, l->wo, D * D);
		h = sb_model_fnv_floats(h, l->bo, D);
		h = sb_model_fnv_floats(h, l->mlp_g, D);
		h = sb_model_fnv_floats(h, l->wi, 2 * F * D);
		h = sb_model_fnv_floats(h, l->bi, 2 * F);
		h = sb_model_fnv_floats(h, l->wo2, D * F);
		h = sb_model_fnv_floats(h, l->bo2, D);
	}
	h = sb_model_fnv_floats(h, mb->fin_g, D);
	snprintf(fp, fp_size, "fnv1a64:%016llx", (unsigned long long)h);
}

/* ---- open / close ---- */

/* Packs one product's weights and gives the originals' pages back (see model.c). */
static int pack(struct sb_mbert *mb, struct sb_ops_packed *pw, const float **w, size_t rows,
		size_t cols, struct sb_error *err)
{
	int rc = sb_ops_pack(pw, w, &rows, 1, cols, err);

	if (rc)
		return rc;
	if (pw->data) {
		sb_weights_drop(mb->w, *w, rows * cols * sizeof(float));
		*w = NULL;
	}
	return SB_OK;
}

static int pack_all(struct sb_mbert *mb, struct sb_error *err)
{
	size_t D = mb->cfg.dim, F = mb->cfg.dim_ffn;
	int rc;

	for (size_t i = 0; i < mb->cfg.n_layers; i++) {
		struct mb_layer *l = &mb->layers[i];
		if ((rc = pack(mb, &l->pqkv, &l->wqkv, 3 * D, D, err)) ||
		    (rc = pack(mb, &l->po, &l->wo, D, D, err)) ||
		    (rc = pack(mb, &l->pi, &l->wi, 2 * F, D, err)) ||
		    (rc = pack(mb, &l->po2, &l->wo2, D, F, err)))
			return sb_error_prefix(err, "model: layer %zu: ", i);
	}
	return SB_OK;
}

/* inv_freq[j] = 1 / theta^(2j / d) in float32, as transformers computes it. */
static void rope_freqs(float *inv, float theta, size_t d)
{
	for (size_t j = 0; j < d / 2; j++)
		inv[j] = 1.0f / powf(theta, (float)(2 * j) / (float)d);
}

int sb_mbert_open(struct sb_mbert **out, const struct sb_model_config *c,
		  const struct sb_model_opts *opts, struct sb_weights *w, int threads, char *fp,
		  size_t fp_size, struct sb_error *err)
{
	struct sb_mbert *mb;
	size_t d = c->dim_head;
	int rc;

	*out = NULL;
	if (opts->precision != SB_LOWP_F32)
		return sb_error_set(err, SB_EUNSUPPORTED, "model: modernbert runs in float32 "
				    "only (precision %s is not supported)",
				    sb_lowp_name(opts->precision));
	mb = calloc(1, sizeof(*mb));
	if (!mb)
		return sb_error_set(err, SB_ENOMEM, "model: out of memory");
	mb->cfg = *c;
	mb->w = w;
	mb->n_scr = threads;
	mb->zeros = calloc(c->dim, sizeof(float));
	mb->inv_freq = malloc(d * sizeof(float));
	mb->layers = calloc(c->n_layers, sizeof(*mb->layers));
	mb->scr = calloc((size_t)threads, sizeof(*mb->scr));
	if (!mb->zeros || !mb->inv_freq || !mb->layers || !mb->scr) {
		rc = sb_error_set(err, SB_ENOMEM, "model: out of memory");
		goto fail;
	}
	rope_freqs(mb->inv_freq, c->rope_global, d);
	rope_freqs(mb->inv_freq + d / 2, c->rope_local, d);
	if ((rc = bind_all(mb, err)))
		goto fail;
	fingerprint(mb, fp, fp_size);
	if (opts->pack && (rc = pack_all(mb, err)))
		goto fail;
	*out = mb;
	return SB_OK;
fail:
	sb_mbert_close(&mb);
	return rc;
}

void sb_mbert_close(struct sb_mbert **mbp)
{
	struct sb_mbert *mb = mbp ? *mbp : NULL;

	if (!mb)
		return;
	if (mb->layers) {
		for (size_t i = 0; i < mb->cfg.n_layers; i++) {
			sb_ops_packed_free(&mb->layers[i].pqkv);
			sb_ops_packed_free(&mb->layers[i].po);
			sb_ops_packed_free(&mb->layers[i].pi);
			sb_ops_packed_free(&mb->layers[i].po2);
		}
		free(mb->layers);
	}
	if (mb->scr) {
		for (int i = 0; i < mb->n_scr; i++) {
			struct mb_scratch *sc = &mb->scr[i];
			free(sc->h);
			free(sc->qkv);
			free(sc->ctx);
			free(sc->ffn);
			free(sc->rope);
			sb_model_panels_free(&sc->pan);
		}
		free(mb->scr);
	}
	free(mb->zeros);
	free(mb->inv_freq);
	free(mb);
	*mbp = NULL;
}

double sb_mbert_flops_per_token(const struct sb_model_config *c)
{
	double D = (double)c->dim, F = (double)c->dim_ffn;

	/* Wqkv 3 D^2, Wo D^2, Wi 2 F D, Wo F D. */
	return (double)c->n_layers * 2.0 * (4.0 * D * D + 3.0 * D * F);
}

/* ---- products ---- */

/* One product Y[M, N] = X[M, K] W[N, K]^T, its columns shared by the team. */
struct col_job {
	size_t M, N, K, ldx, ldy;
	const float *x, *w;
	const struct sb_ops_packed *pw;
	const float *bias;              /* [N] or NULL */
	float *y;
};

static void col_part(void *arg, int i, int n)
{
	const struct col_job *j = arg;
	/* Whole 32-column panels (packed) or 16-column blocks per member. */
	size_t bw = j->pw ? 32 : 16, blocks = (j->N + bw - 1) / bw;
	size_t c0 = blocks * (size_t)i / (size_t)n * bw;
	size_t c1 = blocks * (size_t)(i + 1) / (size_t)n * bw;

	c1 = c1 < j->N ? c1 : j->N;
	if (c1 <= c0)
		return;
	if (j->pw)
		sb_ops_linear_packed(j->M, j->pw, c0, c1, j->x, j->ldx, j->y, j->ldy);
	else
		sb_ops_linear(j->M, c1 - c0, j->K, j->x, j->ldx, j->w + c0 * j->K, j->y + c0,
			      j->ldy);
	if (j->bias)
		sb_ops_bias_add(j->y + c0, j->M, c1 - c0, j->ldy, j->bias + c0);
}

/*
 * Y[M, N] = X[M, K] W[N, K]^T + bias (bias may be NULL) from the packed weights pw
 * when packed, else w; on this thread, or split by columns over par (each member adds
 * the bias of its columns).
 */
static void linear(struct sb_par *par, size_t M, size_t N, size_t K, const float *x,
		   size_t ldx, const float *w, const struct sb_ops_packed *pw,
		   const float *bias, float *y, size_t ldy)
{
	struct col_job j = { M, N, K, ldx, ldy, x, w, pw->data ? pw : NULL, bias, y };

	if (par)
		sb_par_run(par, col_part, &j);
	else
		col_part(&j, 0, 1);
}

/* x[T, D] += y[T, D] (+ bias[D]) */
static void residual(float *x, const float *y, const float *bias, size_t T, size_t D)
{
	for (size_t t = 0; t < T; t++) {
		float *xr = x + t * D;
		const float *yr = y + t * D;
		if (bias)
			for (size_t j = 0; j < D; j++)
				xr[j] += yr[j] + bias[j];
		else
			for (size_t j = 0; j < D; j++)
				xr[j] += yr[j];
	}
}

/* ---- rotary embeddings ---- */

/*
 * rope[k][t, d] for the Tb tokens at positions pos (k = 0 global, 1 local): cos of
 * inv_freq[j] * pos in the first d / 2 floats, sin in the last d / 2, the float32
 * product as transformers forms it.
 */
static void rope_tables(const struct sb_mbert *mb, float *rope, const size_t *pos, size_t Tb)
{
	size_t d = mb->cfg.dim_head, h = d / 2;

	for (size_t k = 0; k < 2; k++) {
		const float *inv = mb->inv_freq + k * h;
		for (size_t t = 0; t < Tb; t++) {
			float *r = rope + (k * Tb + t) * d, p = (float)pos[t];
			for (size_t j = 0; j < h; j++) {
				float f = inv[j] * p;
				r[j] = cosf(f);
				r[h + j] = sinf(f);
			}
		}
	}
}

/* Rotates q and k of every head of qkv[Tb, 3D] with the table rope[Tb, d]. */
static void rope_apply(const struct sb_mbert *mb, float *qkv, const float *rope, size_t Tb)
{
	size_t D = mb->cfg.dim, d = mb->cfg.dim_head, h = d / 2;

	for (size_t t = 0; t < Tb; t++) {
		const float *cs = rope + t * d, *sn = cs + h;
		for (size_t x = 0; x < 2 * mb->cfg.n_heads; x++) {
			/* q heads then k heads: 2 H vectors of d floats from the row start */
			float *v = qkv + t * 3 * D + x * d;
			for (size_t j = 0; j < h; j++) {
				float a = v[j], b = v[h + j];
				v[j] = a * cs[j] + -b * sn[j];
				v[h + j] = b * cs[j] + a * sn[j];
			}
		}
	}
}

/* ---- attention ---- */

/* The first i in [a, b) with pos[i] >= v (strict: pos[i] > v), or b; pos ascending. */
static size_t first_above(const size_t *pos, size_t a, size_t b, size_t v, int strict)
{
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (pos[m] > v || (!strict && pos[m] == v))
			b = m;
		else
			a = m + 1;
	}
	return a;
}

/* Keys [*k0, *k1) of a row that queries q0 .. q1 - 1 may see (positions pos, ascending). */
static void key_range(const size_t *pos, size_t L, size_t q0, size_t q1, size_t half,
		      int local, size_t *k0, size_t *k1)
{
	size_t lo, hi, a = 0, b = L;

	*k0 = 0;
	*k1 = L;
	if (!local)
		return;
	lo = pos[q0] > half ? pos[q0] - half : 0;
	hi = pos[q1 - 1] + half;
	/* Binary searches: a scan from the row's ends made this quadratic in L. */
	*k0 = a = first_above(pos, 0, b, lo, 0);
	*k1 = first_above(pos, a, b, hi, 1);
}

/*
 * One block of keys [kb, kb + nk) for queries [q0, q0 + nq): scores into sc->s, the
 * window applied, exp against the running maximum, acc (ctx rows, stride D) and the
 * running sums rescaled, then acc += p V.
 */
static void attend_block(const struct sb_mbert *mb, struct mb_scratch *sc, const float *q,
			 const float *k, const float *v, float *ctx, const size_t *pos, size_t L,
			 size_t q0, size_t nq, size_t kb, size_t nk, int local, int packed)
{
	size_t D = mb->cfg.dim, d = mb->cfg.dim_head, ld = 3 * D, half = mb->cfg.local_window / 2;
	size_t lo = 0, hi = 0;
	float scale = 1.0f / sqrtf((float)d);

	if (packed)
		sb_ops_panels_gemm(nq, nk, d, q + q0 * ld, ld, sc->pan.kp + kb * d, d, 0, sc->s, nk);
	else
		sb_ops_gemm(1, nq, nk, d, 1.0f, q + q0 * ld, ld, k + kb * ld, ld, 0.0f, sc->s,
			    nk);
	for (size_t i = 0; i < nq; i++) {
		float *row = sc->s + i * nk, *acc = ctx + (q0 + i) * D, corr;
		const size_t *pk = pos + kb, pq = pos[q0 + i];
		if (local) {
			/* The window is the keys [lo, hi) of the block (positions ascend). */
			while (lo < nk && pk[lo] + half < pq)
				lo++;
			while (hi < nk && pk[hi] <= pq + half)
				hi++;
			for (size_t j = 0; j < lo; j++)
				row[j] = -INFINITY;
			for (size_t j = hi > lo ? hi : lo; j < nk; j++)
				row[j] = -INFINITY;
		}
		float total = sb_ops_softmax_block(row, nk, scale, &sc->mx[i], &corr);
		if (corr != 1.0f)
			for (size_t j = 0; j < d; j++)
				acc[j] *= corr;
		sc->sum[i] = sc->sum[i] * corr + total;
	}
	if (packed)
		sb_ops_panels_gemm(nq, d, nk, sc->s, nk, sc->pan.vp + kb * 32, L, 1, ctx + q0 * D, D);
	else
		sb_ops_gemm(0, nq, d, nk, 1.0f, sc->s, nk, v + kb * ld, ld, 1.0f, ctx + q0 * D, D);
}

/*
 * Attention of head h over one row of L tokens: qkv [L, 3D] and ctx [L, D] from the
 * row's first token, positions pos [L] (see the top of the file).
 */
static void attend_row(const struct sb_mbert *mb, struct mb_scratch *sc, const float *qkv,
		       float *ctx, const size_t *pos, size_t L, size_t h, int local)
{
	size_t D = mb->cfg.dim, d = mb->cfg.dim_head, half = mb->cfg.local_window / 2;
	const float *q = qkv + h * d, *k = q + D, *v = q + 2 * D;
	float *c = ctx + h * d;
	size_t bq = local ? BQ_LOCAL : BQ_GLOBAL;
	int packed = sc->pan.kp && sb_ops_panels_ok();

	if (packed) {
		/* K^T and V of the head once, for every block of queries. */
		sb_ops_panels_pack(sc->pan.kp, 1, L, d, k, 3 * D);
		sb_ops_panels_pack(sc->pan.vp, 0, d, L, v, 3 * D);
	}
	for (size_t q0 = 0; q0 < L; q0 += bq) {
		size_t nq = L - q0 < bq ? L - q0 : bq, k0, k1;
		key_range(pos, L, q0, q0 + nq, half, local, &k0, &k1);
		if (packed)
			k0 -= k0 % 32;  /* blocks start on a panel; the window masks the rest */
		for (size_t i = 0; i < nq; i++) {
			sc->mx[i] = -INFINITY;
			sc->sum[i] = 0.0f;
			memset(c + (q0 + i) * D, 0, d * sizeof(float));
		}
		for (size_t kb = k0; kb < k1; kb += BK)
			attend_block(mb, sc, q, k, v, c, pos, L, q0, nq, kb,
				     k1 - kb < BK ? k1 - kb : BK, local, packed);
		for (size_t i = 0; i < nq; i++) {
			float inv = 1.0f / sc->sum[i], *acc = c + (q0 + i) * D;
			for (size_t j = 0; j < d; j++)
				acc[j] *= inv;
		}
	}
}

/* ---- forward ---- */

static int grow_scratch(const struct sb_mbert *mb, struct mb_scratch *sc, size_t Tb,
			struct sb_error *err)
{
	size_t D = mb->cfg.dim, F = mb->cfg.dim_ffn, d = mb->cfg.dim_head;
	int rc;

	if ((rc = grow(&sc->h, &sc->cap_h, Tb * D, "hidden", err)) ||
	    (rc = grow(&sc->qkv, &sc->cap_qkv, Tb * 3 * D, "qkv", err)) ||
	    (rc = grow(&sc->ctx, &sc->cap_ctx, Tb * D, "context", err)) ||
	    (rc = grow(&sc->ffn, &sc->cap_ffn, Tb * 2 * F, "feed-forward", err)) ||
	    (rc = grow(&sc->rope, &sc->cap_rope, 2 * Tb * d, "rotary", err)))
		return rc;
	return SB_OK;
}

/*
 * The packed K^T and V of one head of a row of up to Tb tokens, for each scratch the
 * attention may use (all of them with a team); left NULL without the AVX-512 kernels.
 */
static int grow_panels(struct sb_mbert *mb, struct sb_par *par, int member, size_t Tb,
		       struct sb_error *err)
{
	size_t d = mb->cfg.dim_head;
	int rc, i0 = par ? 0 : member, i1 = par ? mb->n_scr : member + 1;

	for (int i = i0; i < i1; i++)
		if ((rc = sb_model_panels_grow(&mb->scr[i].pan, Tb, d, err)))
			return rc;
	return SB_OK;
}

/* The attention of rows [r0, r1) (tokens from t0), the (row, head) pairs dealt out. */
struct att_job {
	const struct sb_mbert *mb;
	struct mb_scratch *scr;         /* member i computes with scr[i] */
	const struct sb_mbert_tokens *tk;
	size_t r0, r1, t0;
	const float *qkv;               /* [Tb, 3D] */
	float *ctx;                     /* [Tb, D] */
	int local;
};

static void att_part(void *arg, int i, int n)
{
	const struct att_job *j = arg;
	size_t D = j->mb->cfg.dim, H = j->mb->cfg.n_heads, k = 0;

	for (size_t r = j->r0; r < j->r1; r++) {
		size_t s = j->tk->row_off[r] - j->t0, L = j->tk->row_off[r + 1] - j->tk->row_off[r];
		for (size_t h = 0; h < H; h++, k++)
			if (k % (size_t)n == (size_t)i)
				attend_row(j->mb, &j->scr[i], j->qkv + s * 3 * D, j->ctx + s * D,
					   j->tk->pos + j->t0 + s, L, h, j->local);
	}
}

/*
 * The element-wise passes between the products, over tokens [t0, t1) of a sub-batch of
 * Tb tokens: with a team each member takes a share of the tokens, so that a single long
 * row keeps both cores busy between the products too (they were 3% of the samples at
 * 8,192 tokens, on one thread while the other waited).
 */
struct tok_job {
	const struct sb_mbert *mb;
	const struct mb_layer *l;
	struct mb_scratch *sc;
	float *x;                       /* [Tb, D] the hidden states */
	size_t Tb;
	void (*pass)(const struct tok_job *j, size_t t0, size_t t1);
};

static void tok_part(void *arg, int i, int n)
{
	const struct tok_job *j = arg;
	size_t t0 = j->Tb * (size_t)i / (size_t)n, t1 = j->Tb * (size_t)(i + 1) / (size_t)n;

	if (t1 > t0)
		j->pass(j, t0, t1);
}

static void tok_run(struct sb_par *par, struct tok_job *j,
		    void (*pass)(const struct tok_job *j, size_t t0, size_t t1))
{
	j->pass = pass;
	if (par)
		sb_par_run(par, tok_part, j);
	else
		tok_part(j, 0, 1);
}

/* h = attn_norm(x), on the layers after the first. */
static void attn_norm_pass(const struct tok_job *j, size_t t0, size_t t1)
{
	size_t D = j->mb->cfg.dim;

	sb_ops_layernorm(j->sc->h + t0 * D, j->x + t0 * D, t1 - t0, D, j->l->attn_g,
			 j->l->attn_b, j->mb->cfg.eps);
}

/* q and k of every head of qkv = h Wqkv rotated (the layer's kind picks the table). */
static void rope_pass(const struct tok_job *j, size_t t0, size_t t1)
{
	size_t D = j->mb->cfg.dim, d = j->mb->cfg.dim_head;
	const float *rope = j->sc->rope + (j->l->local ? j->Tb * d : 0);

	rope_apply(j->mb, j->sc->qkv + t0 * 3 * D, rope + t0 * d, t1 - t0);
}

/* x += Wo ctx (in h) + bo, then h = mlp_norm(x). */
static void attn_out_pass(const struct tok_job *j, size_t t0, size_t t1)
{
	size_t D = j->mb->cfg.dim;
	float *x = j->x + t0 * D, *h = j->sc->h + t0 * D;

	residual(x, h, j->l->bo, t1 - t0, D);
	sb_ops_layernorm(h, x, t1 - t0, D, j->l->mlp_g, j->l->mlp_b, j->mb->cfg.eps);
}

/* ffn[:, :F] = act(ffn[:, :F]) * ffn[:, F:] (GeGLU's input times its gate). */
static void geglu_pass(const struct tok_job *j, size_t t0, size_t t1)
{
	size_t F = j->mb->cfg.dim_ffn;
	float *ffn = j->sc->ffn + t0 * 2 * F;

	sb_ops_bias_act(j->mb->cfg.act, ffn, t1 - t0, F, 2 * F, NULL);
	for (size_t t = 0; t < t1 - t0; t++) {
		float *in = ffn + t * 2 * F;
		const float *gate = in + F;
		for (size_t k = 0; k < F; k++)
			in[k] *= gate[k];
	}
}

/* x += Wo ffn (in h) + bo. */
static void mlp_out_pass(const struct tok_job *j, size_t t0, size_t t1)
{
	size_t D = j->mb->cfg.dim;

	residual(j->x + t0 * D, j->sc->h + t0 * D, j->l->bo2, t1 - t0, D);
}

/*
 * Layer l on the Tb tokens x of rows [r0, r1): x += Wo(attention(attn_norm(x))), then
 * x += Wo(act(Wi_in h) * Wi_gate h) with h = mlp_norm(x).  With the team par (whose
 * member i owns the scratch mb->scr[i]) the products' columns, the heads and the
 * tokens of the element-wise passes are shared out.
 */
static void layer(const struct sb_mbert *mb, const struct mb_layer *l, struct mb_scratch *sc,
		  struct sb_par *par, const struct sb_mbert_tokens *tk, size_t r0, size_t r1,
		  float *x)
{
	const struct sb_model_config *c = &mb->cfg;
	size_t D = c->dim, F = c->dim_ffn, t0 = tk->row_off[r0], Tb = tk->row_off[r1] - t0;
	struct att_job a = { mb, par ? mb->scr : sc, tk, r0, r1, t0, sc->qkv, sc->ctx, l->local };
	struct tok_job j = { mb, l, sc, x, Tb, NULL };

	if (l->attn_g)
		tok_run(par, &j, attn_norm_pass);
	linear(par, Tb, 3 * D, D, l->attn_g ? sc->h : x, D, l->wqkv, &l->pqkv, l->bqkv, sc->qkv,
	       3 * D);
	tok_run(par, &j, rope_pass);
	if (par)
		sb_par_run(par, att_part, &a);
	else
		att_part(&a, 0, 1);
	linear(par, Tb, D, D, sc->ctx, D, l->wo, &l->po, NULL, sc->h, D);
	tok_run(par, &j, attn_out_pass);
	linear(par, Tb, 2 * F, D, sc->h, D, l->wi, &l->pi, l->bi, sc->ffn, 2 * F);
	tok_run(par, &j, geglu_pass);
	linear(par, Tb, D, F, sc->ffn, 2 * F, l->wo2, &l->po2, NULL, sc->h, D);
	tok_run(par, &j, mlp_out_pass);
}

int sb_mbert_run(struct sb_mbert *mb, int member, struct sb_par *par,
		 const struct sb_mbert_tokens *tk, size_t r0, size_t r1, struct sb_error *err)
{
	const struct sb_model_config *c = &mb->cfg;
	struct mb_scratch *sc = &mb->scr[member];
	size_t D = c->dim, t0 = tk->row_off[r0], Tb = tk->row_off[r1] - t0;
	float *x = tk->out + t0 * D;
	int rc;

	assert(member >= 0 && member < mb->n_scr);
	if (Tb == 0)
		return SB_OK;
	if ((rc = grow_scratch(mb, sc, Tb, err)) || (rc = grow_panels(mb, par, member, Tb, err)))
		return rc;
	/* x[Tb, D] = LayerNorm(tok_embeddings[id]) */
	for (size_t t = 0; t < Tb; t++)
		memcpy(x + t * D, mb->tok + (size_t)tk->id[t0 + t] * D, D * sizeof(float));
	sb_ops_layernorm(x, x, Tb, D, mb->emb_g, mb->emb_b, c->eps);
	rope_tables(mb, sc->rope, tk->pos + t0, Tb);
	for (size_t i = 0; i < c->n_layers; i++)
		layer(mb, &mb->layers[i], sc, par, tk, r0, r1, x);
	sb_ops_layernorm(x, x, Tb, D, mb->fin_g, mb->fin_b, c->eps);
	return SB_OK;
}
