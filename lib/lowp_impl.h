/*
 * lowp_impl.h - the kernels behind sb_lowp_linear() (lowp.h), one per precision and
 * instruction set, private to lib/lowp*.c.
 *
 * A kernel computes columns [c0, c1) of Y (c0 a multiple of 32, c1 <= w->n) for the
 * activations a, each element as one sum over the k groups in order, dequantized or
 * not as lowp.h describes.
 */
#ifndef SB_LOWP_IMPL_H
#define SB_LOWP_IMPL_H

#include "lowp.h"

#define LOWP_NR 32              /* columns per panel */

typedef void (*lowp_kernel)(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
			    size_t c0, size_t c1, float *y, size_t ldy);

void sb_lowp_bf16_generic(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
			  size_t c0, size_t c1, float *y, size_t ldy);
void sb_lowp_int8_generic(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
			  size_t c0, size_t c1, float *y, size_t ldy);
#if defined(__x86_64__) && defined(__GNUC__)
#define LOWP_X86 1
void sb_lowp_bf16_fma(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
		      size_t c0, size_t c1, float *y, size_t ldy);
void sb_lowp_bf16_avx512(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
			 size_t c0, size_t c1, float *y, size_t ldy);
void sb_lowp_int8_avx512(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
			 size_t c0, size_t c1, float *y, size_t ldy);
void sb_lowp_int8_avxvnni(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
			  size_t c0, size_t c1, float *y, size_t ldy);
void sb_lowp_bf16_amx(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
		      size_t c0, size_t c1, float *y, size_t ldy);
void sb_lowp_int8_amx(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
		      size_t c0, size_t c1, float *y, size_t ldy);
#endif

/* Values per row step of the AMX kernels' activations: 16 groups of 2 (bf16) or 4. */
#define LOWP_AMX_STEP(g) (16 * (g))

#endif
