/*
 * model_impl.h - what model.c shares with the files of the other encoder families
 * (model_mpnet.c, model_modernbert.c); private to libsb, not installed.
 */
#ifndef SB_MODEL_IMPL_H
#define SB_MODEL_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "internal.h"
#include "json.h"

/*
 * Makes *pp (a pointer to a buffer pointer) hold at least n elements of size elem,
 * 64-byte aligned.  The old contents are not kept: callers refill the buffer after
 * growing it.  what names the buffer in messages.
 */
int sb_model_grow(void *pp, size_t *cap, size_t n, size_t elem, const char *what,
		  struct sb_error *err);

/*
 * One head's K^T and V packed for the panel kernel (sb_ops_panels_pack), in a scratch
 * of each family: kp holds keys x dim_head panels of K^T, vp dim_head x keys of V.
 */
struct sb_model_panels {
	float *kp, *vp;
	size_t cap_kp, cap_vp;
};

/* Grows p for rows of up to n_keys keys of d dims; leaves it empty (kp NULL) when the
 * panel kernel is not available (sb_ops_panels_ok()). */
int sb_model_panels_grow(struct sb_model_panels *p, size_t n_keys, size_t d,
			 struct sb_error *err);
void sb_model_panels_free(struct sb_model_panels *p);

/*
 * config.json's integer key into *out, within lo..hi; dflt when it is absent (an
 * error naming the key when required).  Errors begin "config.json: ".
 */
int sb_model_cfg_size(const struct sb_json *cfg, const char *key, int required,
		      size_t dflt, size_t lo, size_t hi, size_t *out,
		  struct sb_error *err);

/*
 * FNV-1a 64 of a float table for a model fingerprint, continuing from h: its length,
 * then at most 64 evenly spaced values (cheap even for a 94 MB word table).  A NULL
 * table (an optional weight not present) leaves h as it is.
 */
uint64_t sb_model_fnv_floats(uint64_t h, const float *x, size_t n);

#endif
