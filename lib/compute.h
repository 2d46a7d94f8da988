/*
 * compute.h - the choices about arithmetic that the public API takes: the activation a
 * model config names, the kernel set of the float32 products, the precision of the
 * dense products and its kernel set.  The kernels themselves (ops.h, lowp.h) are
 * private to libsb.
 */
#ifndef SB_COMPUTE_H
#define SB_COMPUTE_H

#include "api.h"

#include "errors.h"

/* Activation functions of the feed-forward block, as named by Hugging Face configs. */
enum sb_act {
	SB_ACT_GELU,            /* "gelu": exact x/2 (1 + erf(x / sqrt 2)) */
	SB_ACT_GELU_TANH,       /* "gelu_new", "gelu_pytorch_tanh": the tanh approximation */
	SB_ACT_RELU             /* "relu" */
};

/*
 * Parses a config activation name.  Returns SB_OK, or SB_EUNSUPPORTED with a message
 * naming the activation when it is not one of gelu, gelu_new, gelu_pytorch_tanh, relu.
 */
SB_API int sb_act_parse(const char *name, enum sb_act *out, struct sb_error *err);

/* Canonical name of an activation ("gelu", "gelu_tanh", "relu"). */
SB_API const char *sb_act_name(enum sb_act act);

/*
 * Kernel sets.  SB_OPS_AUTO picks the widest the CPU (and OS) supports; the others
 * force one, which tests use to check every path against the same references.
 */
enum sb_ops_isa { SB_OPS_AUTO, SB_OPS_GENERIC, SB_OPS_AVX2, SB_OPS_AVX512 };

/*
 * Selects the kernel set for the whole process.  Returns SB_OK, or SB_EUNSUPPORTED
 * (with a message) when the CPU cannot run the requested set; the previous choice then
 * stays.  Not thread-safe with concurrent kernel calls: call it before computing.
 */
SB_API int sb_ops_select(enum sb_ops_isa isa, struct sb_error *err);

/* Parses "auto", "generic", "avx2", "avx512".  SB_EINVAL names a bad value. */
SB_API int sb_ops_isa_parse(const char *s, enum sb_ops_isa *out, struct sb_error *err);

/* Name of the kernel set in use ("avx512", "avx2", "generic"). */
SB_API const char *sb_ops_isa_name(void);

/* Arithmetic of the products. */
enum sb_lowp { SB_LOWP_F32, SB_LOWP_BF16, SB_LOWP_INT8 };

/* Parses "f32", "bf16", "int8"; SB_EINVAL names a bad value. */
SB_API int sb_lowp_parse(const char *s, enum sb_lowp *out, struct sb_error *err);

/* "f32", "bf16", "int8". */
SB_API const char *sb_lowp_name(enum sb_lowp p);

/*
 * Kernel sets of the products.  SB_LOWP_ISA_AUTO takes, per precision, the fastest the
 * CPU has within the float32 kernel set selected by sb_ops_select() (generic: the
 * generic code; avx2: AVX-VNNI for int8; avx512: AMX tiles for both precisions when the
 * CPU has them and the kernel grants the tile state (sb_lowp_amx_unavailable()), else
 * AVX512_VNNI or AVX-VNNI for int8, and for bf16 the AVX512_BF16 kernel on AMD CPUs
 * that have it, where vdpbf16ps does twice the work of an FMA, else the avx512 widening
 * kernel, faster than vdpbf16ps on Intel's: bench/RESULTS.md).  The others force
 * a set for tests: a precision that the set has no kernel for uses the generic code.
 */
enum sb_lowp_isa {
	SB_LOWP_ISA_AUTO, SB_LOWP_ISA_GENERIC, SB_LOWP_ISA_AVX_VNNI, SB_LOWP_ISA_AVX512_VNNI,
	SB_LOWP_ISA_AVX512_BF16, SB_LOWP_ISA_AVX512, SB_LOWP_ISA_AMX
};

/*
 * Parses "auto", "generic", "avx_vnni", "avx512_vnni", "avx512_bf16", "avx512", "amx"
 * (SB_EINVAL).  "avx512" is a bf16 kernel without the bfloat16 instructions: the
 * bf16 weights widened to float32 in registers and FMA, the same sums in the same order.
 * "amx" has kernels for both precisions (tdpbf16ps, tdpbusd): int8 gives the same
 * results as the others, bf16 the same sums in another order (within rounding).
 */
SB_API int sb_lowp_isa_parse(const char *s, enum sb_lowp_isa *out, struct sb_error *err);

/*
 * Selects the kernel set for the process; SB_EUNSUPPORTED (the previous choice stays)
 * when the CPU cannot run it.  Call it before computing (not thread-safe with products
 * in flight).
 */
SB_API int sb_lowp_select(enum sb_lowp_isa isa, struct sb_error *err);

/* The kernel that products of precision p run on now: "avx512_bf16", "generic"... */
SB_API const char *sb_lowp_kernel_name(enum sb_lowp p);

#endif
