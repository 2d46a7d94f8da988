/*
 * pooling.h - sentence-transformers' Pooling and Normalize over token vectors.
 *
 * Modes may be combined; the output concatenates them in sentence-transformers'
 * order: cls, max, mean, mean_sqrt_len_tokens, weightedmean, lasttoken.
 */
#ifndef SB_POOLING_H
#define SB_POOLING_H

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
};

/*
 * Reads 1_Pooling/config.json (legacy booleans or the newer "pooling_mode" string or
 * list) and modules.json (a Normalize module sets normalize) from a model folder.
 * Without a pooling config: mean, from_config 0 (callers print a notice).
 */
int sb_pooling_from_model(struct sb_pooling *p, const char *model_dir, struct sb_error *err);

/* Parses "mean", "cls,max", ... into mode bits. SB_EINVAL names an unknown mode. */
int sb_pooling_parse_modes(const char *s, unsigned *modes, struct sb_error *err);

/* Writes the canonical comma-separated mode list ("cls,mean") into buf. */
const char *sb_pooling_modes_str(unsigned modes, char *buf, size_t size);

/* Output width for token vectors of width dim (before truncate_dim). */
size_t sb_pooling_out_dim(const struct sb_pooling *p, size_t dim);

/*
 * Pools one row: h is [seq, dim] token vectors, mask is [seq] (1 = real token,
 * 0 = padding) or NULL for all real.  out receives sb_pooling_out_dim() floats, then
 * truncate_dim and normalize are applied (out must hold the untruncated width).
 * Returns the width written.
 */
size_t sb_pool_row(const struct sb_pooling *p, const float *h, const float *mask, size_t seq,
		   size_t dim, float *out);

#endif
