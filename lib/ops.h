/*
 * ops.h - the math kernels of the encoder: matrix products through BLAS and the
 * element-wise passes around them (bias + activation, bias + residual + LayerNorm,
 * softmax), vectorized for AVX-512 and AVX2 with a portable fallback chosen at run
 * time.
 *
 * This is the only module that includes <cblas.h>.  Matrices are row-major floats;
 * every function documents its shapes as [rows, cols] with a leading dimension
 * (row stride, in floats) where rows may be strided.  Weights follow PyTorch's Linear
 * layout (out_features, in_features), so a linear layer is Y = X W^T + b.
 *
 * The kernels never fail: arguments are checked by the caller (the model validates
 * every shape at load); bugs are assert()ed.
 */
#ifndef SB_OPS_H
#define SB_OPS_H

#include "compute.h"

#include <stddef.h>

#include "errors.h"


/* 1 if the kernel set isa (not SB_OPS_AUTO) is compiled in; sb_ops_isa_supported():
 * compiled in and runnable on this CPU and OS.  For --version. */
int sb_ops_isa_built(enum sb_ops_isa isa);
int sb_ops_isa_supported(enum sb_ops_isa isa);

/*
 * BLAS threads.  sb_ops_set_threads(n) with n >= 1 sets OpenBLAS's thread count;
 * sb_ops_threads() returns the current one.  sb_ops_blas_core() returns the kernel
 * OpenBLAS chose ("Cooperlake", "Haswell", ...), a static string.
 */
void sb_ops_set_threads(int n);
int sb_ops_threads(void);
/* Stops BLAS's worker threads (for a program that does no products: they spin for a
 * while after start); a later product starts them again.  No-op where BLAS cannot. */
void sb_ops_park_threads(void);
const char *sb_ops_blas_core(void);
/* OpenBLAS's build configuration (version, DYNAMIC_ARCH, MAX_THREADS...), static. */
const char *sb_ops_blas_config(void);

/*
 * C[m, n] = alpha * A[m, k] * op(B) + beta * C, through cblas_sgemm.  op(B) is B[k, n]
 * when trans_b is 0, and B[n, k] transposed when trans_b is 1 (PyTorch's weight
 * layout).  lda, ldb, ldc are row strides in floats.  Dimensions must fit in an int
 * (asserted).  Nothing happens when m, n or k is 0 (C is left as is even if beta is 0,
 * except that k == 0 with beta == 0 zeroes C).
 */
void sb_ops_gemm(int trans_b, size_t m, size_t n, size_t k, float alpha, const float *a,
			size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc);

/* The same in double precision, through cblas_dgemm (exact scores, lib/scores.c). */
void sb_ops_dgemm(int trans_b, size_t m, size_t n, size_t k, const double *a, size_t lda,
			 const double *b, size_t ldb, double *c, size_t ldc);

/*
 * Linear layer without bias: Y[m, n] = X[m, k] W[n, k]^T.  Y (row stride ldy) must not
 * overlap X or W.  The bias is added by the fused passes below.  Up to a few rows
 * (sb_ops_set_small_m) a kernel of this module that reads W once replaces cblas_sgemm,
 * whose packing of W dominates such products; more rows go to cblas_sgemm.
 */
void sb_ops_linear(size_t m, size_t n, size_t k, const float *x, size_t ldx, const float *w,
			  float *y, size_t ldy);

/*
 * Largest m for which sb_ops_linear() uses its own kernel (0: always cblas_sgemm).  The
 * default was measured (bench/encode-bench linear and latency, full-size DistilBERT,
 * AVX-512): the kernel beats one-thread OpenBLAS up to about 24 rows (117 against 87
 * GFLOP/s at 12 rows of a [3072, 768] product, 126 against 128 at 24), and a whole
 * 20-token sentence takes 8.0 ms against 10.4 with the threshold at 12.
 */
#define SB_OPS_SMALL_M_DEFAULT 24
void sb_ops_set_small_m(size_t m);

/*
 * Weights packed once for sb_ops_linear_packed(): W[n, k] in panels of 32 rows (output
 * columns), data NULL when not packed.
 */
struct sb_ops_packed {
	float *data;                    /* [n / 32][k][32], 64-byte aligned, owned */
	size_t n, k;
};

/*
 * Packs the matrix made of n_parts row blocks stacked in order (part i: part_rows[i]
 * rows of k floats at parts[i]), e.g. Wq | Wk | Wv.  Packs only when the AVX-512
 * kernels are selected (sb_ops_select) and the total row count is a multiple of 32;
 * otherwise returns SB_OK with out->data NULL, and the caller keeps using
 * sb_ops_linear() on the plain weights.  SB_ENOMEM / SB_ELIMIT on failure.
 */
int sb_ops_pack(struct sb_ops_packed *out, const float *const *parts,
		       const size_t *part_rows, size_t n_parts, size_t k, struct sb_error *err);

/*
 * Products of two activations (attention's Q K^T and P V) through the same kernel, with
 * the right-hand matrix packed on the fly into a caller's buffer.  Only when
 * sb_ops_panels_ok() (the AVX-512 kernels are selected); otherwise use sb_ops_gemm().
 *
 * sb_ops_panels_pack() packs op(B) [k, n] (trans_b: B is [n, k], row stride ldb; else B
 * is [k, n]) into sb_ops_panels_size(n, k) floats at dst (64-byte aligned): panels of 32
 * columns, each k runs of 32 floats, the columns past n zero.
 *
 * sb_ops_panels_gemm() computes Y[m, n] = X[m, k] op(B)[k0 .. k0 + k, 0 .. n) for panels
 * packed with depth kp, starting at depth k0: pass panels + 32 k0.  add: Y += instead
 * of Y =.  Each element is one sum over k in order (after Y's own value when add), so
 * the result does not depend on m, n or how rows are split.
 */
int sb_ops_panels_ok(void);
size_t sb_ops_panels_size(size_t n, size_t k);
void sb_ops_panels_pack(float *dst, int trans_b, size_t n, size_t k, const float *b,
			       size_t ldb);
void sb_ops_panels_gemm(size_t m, size_t n, size_t k, const float *x, size_t ldx,
			       const float *panels, size_t kp, int add, float *y, size_t ldy);

/* Frees the packed data and clears *w. */
void sb_ops_packed_free(struct sb_ops_packed *w);

/*
 * Columns [c0, c1) of Y[m, n] = X[m, k] W[n, k]^T for packed W (data not NULL); c0 and
 * c1 are multiples of 32, y points at column 0 of Y (row stride ldy >= n), X has row
 * stride ldx.  Each element is one sum over k in order, whatever m, c0 and c1.
 */
void sb_ops_linear_packed(size_t m, const struct sb_ops_packed *w, size_t c0, size_t c1,
				 const float *x, size_t ldx, float *y, size_t ldy);

/* y[i] = erf(x[i]) for n floats, |error| <= 1.2e-7.  y may equal x. */
void sb_ops_erf(float *y, const float *x, size_t n);

/* y[i] = exp(x[i]), about 1 ulp; exp(-inf) = 0, overflow gives +inf.  y may equal x. */
void sb_ops_exp(float *y, const float *x, size_t n);

/*
 * X[rows, n] (row stride ldx) = act(X + bias[n]) in one pass; bias may be NULL.
 */
void sb_ops_bias_act(enum sb_act act, float *x, size_t rows, size_t n, size_t ldx,
			    const float *bias);

/* Y[rows, n] += bias[n] (row stride ldy). */
void sb_ops_bias_add(float *y, size_t rows, size_t n, size_t ldy, const float *bias);

/*
 * LayerNorm over the last dimension:
 * out[r, :] = (x[r, :] - mean) / sqrt(var + eps) * gamma + beta, biased variance as
 * PyTorch.  x and out are [rows, dim] (contiguous); out may equal x.
 */
void sb_ops_layernorm(float *out, const float *x, size_t rows, size_t dim,
			     const float *gamma, const float *beta, float eps);

/*
 * The residual block end of a transformer layer in one pass:
 * out[r, :] = LayerNorm(y[r, :] + bias + res[r, :]).  All [rows, dim] contiguous;
 * bias may be NULL; out may equal y or res.
 */
void sb_ops_bias_residual_layernorm(float *out, const float *y, const float *bias,
					   const float *res, size_t rows, size_t dim,
					   const float *gamma, const float *beta, float eps);

/*
 * Softmax of each row of X[rows, n] (row stride ldx), in place.  keep, when not NULL,
 * is [n] flags: columns with keep[j] == 0 are excluded (their probability is 0), as
 * PyTorch's masked_fill with the dtype's minimum gives.  A row whose columns are all
 * excluded becomes uniform, as in PyTorch.
 */
void sb_ops_softmax(float *x, size_t rows, size_t n, size_t ldx, const unsigned char *keep);

/*
 * One block of an online (blocked) softmax over a row of scores: x[n] is scaled by
 * scale, *mx (the running maximum, -INFINITY at the start) becomes the maximum of itself
 * and x, x[j] becomes exp(x[j] - *mx), and the sum of x is returned.  *corr is the
 * factor exp(old *mx - new *mx) by which the sums and weighted values of the earlier
 * blocks must be multiplied (0 when there were none).  Columns of x set to -INFINITY
 * are excluded; while every column so far is excluded, x is zeroed, *corr is 1 and 0 is
 * returned.
 */
float sb_ops_softmax_block(float *x, size_t n, float scale, float *mx, float *corr);

#endif
