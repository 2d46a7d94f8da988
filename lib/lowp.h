/*
 * lowp.h - linear layers in narrower arithmetic than float32, opt-in (sb-encode
 * --precision): bfloat16 products with float32 accumulation, and int8 products with
 * int32 accumulation.
 *
 * bf16: the weights are rounded to bfloat16 (to nearest, ties to even) once, when
 * packed; the activations are rounded the same way at the product's input; every
 * product of two bfloat16 values is exact in float32 and is added to a float32
 * accumulator, two k at a time in the order of the AVX512_BF16 instruction vdpbf16ps
 * (the odd k of a pair first, then the even one, each addition rounded).
 *
 * int8: the weights are quantized per output channel, symmetric: scale_w[n] =
 * max |W[n, :]| / 127, q = round(W / scale_w) in [-127, 127].  The activations are
 * quantized per token (row) at the product's input, asymmetric uint8 as ONNX Runtime's
 * DynamicQuantizeLinear does per tensor: the range [min(0, min x), max(0, max x)] over
 * 255 steps, zero point zp = round(-min / scale) so that 0 is exact.  The products
 * are summed exactly in int32 (u8 x s8, the operand types of vpdpbusd), and
 *   Y[m, n] = (sum_k qx[m, k] qw[n, k] - zp[m] colsum[n]) * (scale_x[m] * scale_w[n])
 * with colsum[n] = sum_k qw[n, k].  K is limited to 65536 so that no sum overflows.
 *
 * Both layouts are panels of 32 output columns: panel p holds, for each group of
 * g = 2 (bf16) or 4 (int8) consecutive k, the g values of each of its 32 columns in a
 * row (128 bytes per group, two 64-byte vectors), K padded with zeros to a multiple
 * of g and N to a multiple of 32.  Each kernel set (generic C, AVX512_BF16, AVX-512F
 * for bf16, AVX512_VNNI, AVX-VNNI, AMX) reads the same weights; all but AMX bf16 compute
 * every element as the same sum in the same order, so they give the same floats (int8:
 * exactly; bf16: up to the flushing of subnormal sums, which vdpbf16ps does and the
 * others do not).  The AMX tiles read these panels as they are (16 groups x 16 columns
 * at a stride of 128 bytes); their int8 sums are the same exact integers, their bf16
 * sums the same products added in tdpbf16ps's order, within float32 rounding of the
 * others'.
 *
 * bf16 split activations (sb_lowp_act_set_split()): each input x is carried as two
 * bfloat16 values, hi = bf16(x) and lo = bf16(x - hi) (16 significant bits instead of
 * 8), and Y = X_hi W^T + X_lo W^T in the same float32 accumulators: for each pair of
 * k, the pair of hi products (odd, even), then the pair of lo products, as two
 * vdpbf16ps (or tdpbf16ps) on the same weights.  The weights are read once for both.
 */
#ifndef SB_LOWP_H
#define SB_LOWP_H

#include "compute.h"

#include <stddef.h>
#include <stdint.h>

#include "errors.h"


/* 1 if the CPU (and OS) can run the set. */
int sb_lowp_isa_supported(enum sb_lowp_isa isa);

/*
 * NULL when the AMX kernels can run, else why not (a static string: no AMX on the cpu,
 * or the kernel refused the tile state).  The first call asks Linux for the tile state
 * for the whole process (thread-safe, once).
 */
const char *sb_lowp_amx_unavailable(void);

/* Packed weights W[n, k] of one product (see the top for the layout). */
struct sb_lowp_weights {
	enum sb_lowp prec;              /* SB_LOWP_BF16 or SB_LOWP_INT8 */
	void *data;                     /* [np / 32][kp / g][32][g], 64-byte aligned, owned */
	float *scale;                   /* int8: [np] scale_w (0 past n); bf16: NULL */
	int32_t *colsum;                /* int8: [np] sum_k qw[n, k]; bf16: NULL */
	size_t n, k, kp, np;            /* kp: k padded to g; np: n padded to 32 */
};

/*
 * Packs the matrix made of n_parts row blocks stacked in order (part i: part_rows[i]
 * rows of k floats at parts[i]) for precision prec (BF16 or INT8).  SB_ENOMEM,
 * SB_ELIMIT (too large; int8 with k > 65536) on failure, *out then cleared.
 */
int sb_lowp_pack(struct sb_lowp_weights *out, enum sb_lowp prec, const float *const *parts,
			const size_t *part_rows, size_t n_parts, size_t k, struct sb_error *err);

/* Bytes held by the packed weights (data, scales, column sums). */
size_t sb_lowp_bytes(const struct sb_lowp_weights *w);

/* Frees the packed weights and clears *w. */
void sb_lowp_free(struct sb_lowp_weights *w);

/* Activations X[m, k] rounded or quantized for one product; buffers grown on demand. */
struct sb_lowp_act {
	enum sb_lowp_isa isa;           /* the kernels the activations are laid out for */
	void *q;                        /* bf16: uint16 [m][ld] (float [m][ld], the values
					 * rounded, for the avx512 kernel); int8: uint8 */
	float *scale;                   /* int8: [m] scale_x */
	int32_t *zp;                    /* int8: [m] zero points */
	size_t m, kp;
	size_t ld;                      /* values between rows of q: kp, or for the amx
					 * kernels kp padded to whole steps, the rows padded
					 * with zeros to a multiple of 16 */
	void *lo;                       /* bf16 split: the lo halves, laid out as q (inside
					 * q's buffer, after its rows); else NULL */
	size_t cap_q, cap_m;            /* bytes of q, entries of scale and zp */
};

/*
 * Rounds (bf16) or quantizes (int8) X[m, k] (row stride ldx) for products with w
 * (precision and k from w) into a, laid out for the kernels selected now (a->isa:
 * sb_lowp_linear() runs those, whatever is selected later).  SB_ENOMEM / SB_ELIMIT
 * when a buffer cannot grow.
 */
int sb_lowp_act_set(struct sb_lowp_act *a, const struct sb_lowp_weights *w, size_t m,
			   const float *x, size_t ldx, struct sb_error *err);

/*
 * bf16 weights only: X[m, k] split into hi = bf16(x) and lo = bf16(x - hi) (see the
 * top), a->lo set; the kernels then sum both halves' products.
 */
int sb_lowp_act_set_split(struct sb_lowp_act *a, const struct sb_lowp_weights *w, size_t m,
			  const float *x, size_t ldx, struct sb_error *err);

/* The same for bf16 weights, from rows already rounded to bf16 (copied as they are). */
int sb_lowp_act_set_bf16(struct sb_lowp_act *a, const struct sb_lowp_weights *w, size_t m,
			 const uint16_t *x, size_t ldx, struct sb_error *err);

/* Frees the buffers and clears *a. */
void sb_lowp_act_free(struct sb_lowp_act *a);

/*
 * Columns [c0, c1) of Y[m, n] = X[m, k] W[n, k]^T for the activations a set for w:
 * c0 a multiple of 32, c1 <= n a multiple of 32 or n; y points at column 0 of Y
 * (row stride ldy >= n).  Each element is the same sum whatever m, c0, c1.
 */
void sb_lowp_linear(const struct sb_lowp_weights *w, const struct sb_lowp_act *a, size_t c0,
			   size_t c1, float *y, size_t ldy);

/*
 * bf16 panels packed from activations (attention's keys and values), in a buffer kept
 * between calls: w is valid until the next call, never passed to sb_lowp_free().
 * sb_lowp_view_rows: W[n, k] = src[p ld + j] (row p of W is row p of src: keys);
 * sb_lowp_view_cols: W[n, k] = src[j ld + p] (row p of W is column p of src: values);
 * src holds bf16 values (sb_lowp_round_bf16()).  SB_ENOMEM / SB_ELIMIT on failure.
 */
struct sb_lowp_view {
	struct sb_lowp_weights w;
	size_t cap;                     /* bytes of w.data */
};

int sb_lowp_view_rows(struct sb_lowp_view *v, size_t n, size_t k, const uint16_t *src,
		      size_t ld, struct sb_error *err);
int sb_lowp_view_cols(struct sb_lowp_view *v, size_t n, size_t k, const uint16_t *src,
		      size_t ld, struct sb_error *err);
void sb_lowp_view_free(struct sb_lowp_view *v);

/* k floats rounded to bf16 as sb_lowp_bf16() does (AVX-512 when the cpu has it). */
void sb_lowp_round_bf16(const float *x, size_t k, uint16_t *q);

/* Round to nearest even of a float to bfloat16 (NaN stays a quiet NaN), and back. */
uint16_t sb_lowp_bf16(float x);
float sb_lowp_bf16_float(uint16_t b);

#endif
