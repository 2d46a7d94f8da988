/*
 * pooling.h - sentence-transformers' Pooling and Normalize over token vectors.
 *
 * Modes may be combined; the output concatenates them in sentence-transformers'
 * order: cls, max, mean, mean_sqrt_len_tokens, weightedmean, lasttoken.
 *
 * A model's embedding is: Pooling, then the modules after it (Dense, LayerNorm: see
 * modules.h, applied by the caller between sb_pool_tokens() and sb_pooling_finish()),
 * then truncate_dim, then Normalize.
 */
#ifndef SB_POOLING_H
#define SB_POOLING_H

#include "api.h"

#include <stddef.h>

#include "errors.h"

enum sb_pool_mode {
	SB_POOL_CLS = 1 << 0,
	SB_POOL_MAX = 1 << 1,
	SB_POOL_MEAN = 1 << 2,
	SB_POOL_MEAN_SQRT_LEN = 1 << 3,
	SB_POOL_WEIGHTEDMEAN = 1 << 4,
	SB_POOL_LASTTOKEN = 1 << 5
};

struct sb_pooling {
	unsigned modes;         /* enum sb_pool_mode bits; 0 means mean */
	int normalize;          /* L2-normalize (eps 1e-12) after truncation */
	size_t truncate_dim;    /* 0: keep all */
	int from_config;        /* modes were read from the model's 1_Pooling/config.json */
	int include_prompt;     /* 1_Pooling include_prompt (default 1) */
	size_t n_modules;       /* modules.json: Dense, LayerNorm (and Normalize between
				 * them) after Pooling, which sb_modules_open() loads */
};

/*
 * Reads 1_Pooling/config.json (legacy booleans or the newer "pooling_mode" string or
 * list) and modules.json (a Normalize module after the last Dense or LayerNorm sets
 * normalize) from a model folder.  Without a pooling config: mean, from_config 0
 * (callers print a notice).  modules.json is checked as sb_module_list_read() does:
 * a module sb does not implement is refused (SB_EUNSUPPORTED, naming it).
 */
SB_API int sb_pooling_from_model(struct sb_pooling *p, const char *model_dir, struct sb_error *err);

/* Parses "mean", "cls,max", ... into mode bits. SB_EINVAL names an unknown mode. */
SB_API int sb_pooling_parse_modes(const char *s, unsigned *modes, struct sb_error *err);

/* Writes the canonical comma-separated mode list ("cls,mean") into buf. */
SB_API const char *sb_pooling_modes_str(unsigned modes, char *buf, size_t size);

/* Output width for token vectors of width dim (before truncate_dim). */
SB_API size_t sb_pooling_out_dim(const struct sb_pooling *p, size_t dim);

/*
 * Pools one row: h is [seq, dim] token vectors, mask is [seq] (1 = real token,
 * 0 = padding) or NULL for all real.  out receives sb_pooling_out_dim() floats, then
 * truncate_dim and normalize are applied (out must hold the untruncated width).
 * Returns the width written.  Equals sb_pool_tokens() then sb_pooling_finish().
 */
SB_API size_t sb_pool_row(const struct sb_pooling *p, const float *h, const float *mask, size_t seq,
			  size_t dim, float *out);

/* The pooling alone: out receives sb_pooling_out_dim() floats, which it returns. */
SB_API size_t sb_pool_tokens(const struct sb_pooling *p, const float *h, const float *mask,
			     size_t seq, size_t dim, float *out);

/*
 * The end of the chain on an embedding x of width dim: keeps the first truncate_dim
 * values (when set and smaller), then L2-normalizes them (eps 1e-12) when normalize is
 * set.  Returns the width kept.
 */
SB_API size_t sb_pooling_finish(const struct sb_pooling *p, float *x, size_t dim);

/*
 * include_prompt false: masks the prompt out of mask [seq] in place, as
 * sentence-transformers' Pooling does with the tokens frame's prompt_length ([CLS]
 * and the prompt's tokens): positions from the first real token (0 with right
 * padding; the first non-zero mask value with left padding, 0 when there is none)
 * for prompt_length positions become 0.  A row no longer than the prompt keeps no
 * token: cls then takes position 0, lasttoken gives zeros, mean zeros, max -1e9.
 */
SB_API void sb_pooling_exclude_prompt(float *mask, size_t seq, size_t prompt_length);

#endif
