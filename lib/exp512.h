/*
 * exp512.h - the exponential and the online-softmax block of ops.h written with AVX-512
 * intrinsics (lib/exp512.c), for the AVX-512 kernel set of lib/ops.c.  Same contracts
 * as sb_ops_exp() and sb_ops_softmax_block(); callable only on a CPU with AVX-512F
 * (ops.c's table makes sure of it).  Compiled to nothing but stubs elsewhere than
 * x86-64 with GCC-compatible compilers (sb_exp512_built() is then 0).
 */
#ifndef SB_EXP512_H
#define SB_EXP512_H

#include <stddef.h>

int sb_exp512_built(void);
void sb_exp512(float *y, const float *x, size_t n);
float sb_exp512_softmax_block(float *x, size_t n, float scale, float *mx, float *corr);

#endif
