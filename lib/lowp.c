/*
 * lowp.c - bfloat16 and int8 products (see lowp.h): names, the choice of kernels,
 * packing the weights once and rounding or quantizing the activations per product.
 * The kernels themselves are in lowp_bf16.c and lowp_int8.c.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "lowp_impl.h"
#include "ops.h"

#define INT8_MAX_K 65536        /* 255 x 127 x 65536 < 2^31: no int32 sum overflows */

/* ---- names ---- */

static const char *const prec_names[] = { "f32", "bf16", "int8" };
static const char *const isa_names[] = { "auto", "generic", "avx_vnni", "avx512_vnni",
					 "avx512_bf16", "avx512", "amx" };

int sb_lowp_parse(const char *s, enum sb_lowp *out, struct sb_error *err)
{
	for (int i = 0; i < 3; i++) {
		if (strcmp(s, prec_names[i]) == 0) {
			*out = (enum sb_lowp)i;
			return SB_OK;
		}
	}
	return sb_error_set(err, SB_EINVAL, "precision '%s': expected f32, bf16 or int8", s);
}

const char *sb_lowp_name(enum sb_lowp p)
{
	return (unsigned)p < 3 ? prec_names[p] : "?";
}

int sb_lowp_isa_parse(const char *s, enum sb_lowp_isa *out, struct sb_error *err)
{
	for (int i = 0; i < 7; i++) {
		if (strcmp(s, isa_names[i]) == 0) {
			*out = (enum sb_lowp_isa)i;
			return SB_OK;
		}
	}
	return sb_error_set(err, SB_EINVAL, "product kernels '%s': expected auto, generic, "
			    "avx_vnni, avx512_vnni, avx512_bf16, avx512 or amx", s);
}

/* ---- dispatch ---- */

int sb_lowp_isa_supported(enum sb_lowp_isa isa)
{
#ifdef LOWP_X86
	__builtin_cpu_init();
	switch (isa) {
	case SB_LOWP_ISA_AVX_VNNI:
		return __builtin_cpu_supports("avxvnni") && __builtin_cpu_supports("avx2");
	case SB_LOWP_ISA_AVX512_VNNI:
		return __builtin_cpu_supports("avx512vnni") &&
		       __builtin_cpu_supports("avx512bw");
	case SB_LOWP_ISA_AVX512_BF16:
		return __builtin_cpu_supports("avx512bf16") &&
		       __builtin_cpu_supports("avx512bw");
	case SB_LOWP_ISA_AVX512:
		return __builtin_cpu_supports("avx512f");
	case SB_LOWP_ISA_AMX:
		return sb_lowp_amx_unavailable() == NULL;
	default:
		break;
	}
#endif
	return isa == SB_LOWP_ISA_AUTO || isa == SB_LOWP_ISA_GENERIC;
}

static enum sb_lowp_isa forced = SB_LOWP_ISA_AUTO;

int sb_lowp_select(enum sb_lowp_isa isa, struct sb_error *err)
{
	if (!sb_lowp_isa_supported(isa))
		return sb_error_set(err, SB_EUNSUPPORTED, "product kernels '%s': not supported "
				    "by this cpu%s%s", isa_names[isa],
				    isa == SB_LOWP_ISA_AMX ? ": " : "",
				    isa == SB_LOWP_ISA_AMX ? sb_lowp_amx_unavailable() : "");
	forced = isa;
	return SB_OK;
}

/*
 * 1 when vdpbf16ps does twice the multiply-adds of an FMA in the same time, so that the
 * AVX512_BF16 kernel beats the AVX-512F one: AMD's cores with AVX512_BF16 (Zen 4 and
 * later; on Zen 5 2.0x, bench/RESULTS.md).  Intel's run it at a third of the FMA rate
 * (Sapphire Rapids: the AVX-512F kernel 1.6x faster), and nothing is known of others.
 */
static int fast_dpbf16(void)
{
#ifdef LOWP_X86
	__builtin_cpu_init();
	return __builtin_cpu_is("amd") && sb_lowp_isa_supported(SB_LOWP_ISA_AVX512_BF16);
#else
	return 0;
#endif
}

/* The set that products of precision p use now (see lowp.h for the rules). */
static enum sb_lowp_isa isa_for(enum sb_lowp p)
{
	const char *ops = sb_ops_isa_name();

	if (forced == SB_LOWP_ISA_AMX)
		return forced;
	if (forced != SB_LOWP_ISA_AUTO) {
		if (p == SB_LOWP_BF16)
			return forced == SB_LOWP_ISA_AVX512_BF16 || forced == SB_LOWP_ISA_AVX512
			       ? forced : SB_LOWP_ISA_GENERIC;
		return forced == SB_LOWP_ISA_AVX512_VNNI || forced == SB_LOWP_ISA_AVX_VNNI
		       ? forced : SB_LOWP_ISA_GENERIC;
	}
	if (strcmp(ops, "generic") == 0)
		return SB_LOWP_ISA_GENERIC;
	if (strcmp(ops, "avx512") == 0 && sb_lowp_isa_supported(SB_LOWP_ISA_AMX))
		return SB_LOWP_ISA_AMX;
	if (p == SB_LOWP_BF16) {
		if (strcmp(ops, "avx512") != 0)
			return SB_LOWP_ISA_GENERIC;
		return fast_dpbf16() ? SB_LOWP_ISA_AVX512_BF16 : SB_LOWP_ISA_AVX512;
	}
	if (strcmp(ops, "avx512") == 0 && sb_lowp_isa_supported(SB_LOWP_ISA_AVX512_VNNI))
		return SB_LOWP_ISA_AVX512_VNNI;
	return sb_lowp_isa_supported(SB_LOWP_ISA_AVX_VNNI) ? SB_LOWP_ISA_AVX_VNNI
							     : SB_LOWP_ISA_GENERIC;
}

const char *sb_lowp_kernel_name(enum sb_lowp p)
{
	return p == SB_LOWP_F32 ? sb_ops_isa_name() : isa_names[isa_for(p)];
}

static lowp_kernel kernel_for(enum sb_lowp p, enum sb_lowp_isa isa)
{
#ifdef LOWP_X86
	if (isa == SB_LOWP_ISA_AMX)
		return p == SB_LOWP_BF16 ? sb_lowp_bf16_amx : sb_lowp_int8_amx;
	if (isa == SB_LOWP_ISA_AVX512_BF16)
		return sb_lowp_bf16_avx512;
	if (isa == SB_LOWP_ISA_AVX512)
		return sb_lowp_bf16_fma;
	if (isa == SB_LOWP_ISA_AVX512_VNNI)
		return sb_lowp_int8_avx512;
	if (isa == SB_LOWP_ISA_AVX_VNNI)
		return sb_lowp_int8_avxvnni;
#else
	(void)isa;
#endif
	return p == SB_LOWP_BF16 ? sb_lowp_bf16_generic : sb_lowp_int8_generic;
}

/* ---- conversions ---- */

uint16_t sb_lowp_bf16(float x)
{
	uint32_t u;

	memcpy(&u, &x, sizeof(u));
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40u);
	/* Subnormal inputs become zero, as the bfloat16 instructions treat them. */
	if ((u & 0x7f800000u) == 0)
		return (uint16_t)((u >> 16) & 0x8000u);
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

float sb_lowp_bf16_float(uint16_t b)
{
	uint32_t u = (uint32_t)b << 16;
	float x;

	memcpy(&x, &u, sizeof(x));
	return x;
}

/* round(v) clamped to [lo, hi]; NaN gives 0. */
static int clamp_round(float v, int lo, int hi)
{
	float r = rintf(v);

	if (r >= (float)hi)
		return hi;
	if (r <= (float)lo)
		return lo;
	return r == r ? (int)r : 0;
}

/* ---- weights ---- */

static size_t group_of(enum sb_lowp p)
{
	return p == SB_LOWP_BF16 ? 2 : 4;
}

size_t sb_lowp_bytes(const struct sb_lowp_weights *w)
{
	size_t b = w->np * w->kp * (w->prec == SB_LOWP_BF16 ? 2 : 1);

	return w->data ? b + (w->scale ? w->np * (sizeof(float) + sizeof(int32_t)) : 0) : 0;
}

void sb_lowp_free(struct sb_lowp_weights *w)
{
	free(w->data);
	free(w->scale);
	free(w->colsum);
	memset(w, 0, sizeof(*w));
}

/* Row p (k floats at src) into the bf16 panels. */
static void pack_row_bf16(struct sb_lowp_weights *w, size_t p, const float *src)
{
	uint16_t *d = (uint16_t *)w->data + (p / LOWP_NR) * w->kp * LOWP_NR + p % LOWP_NR * 2;

	for (size_t k = 0; k < w->k; k++)
		d[k / 2 * 2 * LOWP_NR + k % 2] = sb_lowp_bf16(src[k]);
}

/* Row p into the int8 panels, with its scale and column sum. */
static void pack_row_int8(struct sb_lowp_weights *w, size_t p, const float *src)
{
	int8_t *d = (int8_t *)w->data + (p / LOWP_NR) * w->kp * LOWP_NR + p % LOWP_NR * 4;
	float amax = 0.0f, s;
	int32_t sum = 0;

	for (size_t k = 0; k < w->k; k++)
		amax = fabsf(src[k]) > amax ? fabsf(src[k]) : amax;
	s = amax / 127.0f;
	for (size_t k = 0; s > 0.0f && k < w->k; k++) {
		int q = clamp_round(src[k] / s, -127, 127);
		d[k / 4 * 4 * LOWP_NR + k % 4] = (int8_t)q;
		sum += q;
	}
	w->scale[p] = s;
	w->colsum[p] = sum;
}

int sb_lowp_pack(struct sb_lowp_weights *out, enum sb_lowp prec, const float *const *parts,
		 const size_t *part_rows, size_t n_parts, size_t k, struct sb_error *err)
{
	size_t n = 0, g = group_of(prec), bytes, p = 0;

	assert(prec == SB_LOWP_BF16 || prec == SB_LOWP_INT8);
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n_parts; i++)
		n += part_rows[i];
	assert(n > 0 && k > 0);
	if (prec == SB_LOWP_INT8 && k > INT8_MAX_K)
		return sb_error_set(err, SB_ELIMIT, "int8 products of %zu inputs: at most %d",
				    k, INT8_MAX_K);
	out->prec = prec;
	out->n = n;
	out->k = k;
	out->kp = (k + g - 1) / g * g;
	out->np = (n + LOWP_NR - 1) / LOWP_NR * LOWP_NR;
	if (sb_size_mul(out->np, out->kp, &bytes) ||
	    sb_size_mul(bytes, prec == SB_LOWP_BF16 ? 2 : 1, &bytes)) {
		memset(out, 0, sizeof(*out));
		return sb_error_set(err, SB_ELIMIT, "packed weights [%zu, %zu] are too large", n,
				    k);
	}
	out->data = aligned_alloc(64, bytes);
	if (out->data && prec == SB_LOWP_INT8) {
		out->scale = calloc(out->np, sizeof(float));
		out->colsum = calloc(out->np, sizeof(int32_t));
	}
	if (!out->data || (prec == SB_LOWP_INT8 && (!out->scale || !out->colsum))) {
		sb_lowp_free(out);
		return sb_error_set(err, SB_ENOMEM, "out of memory for packed weights (%zu bytes)",
				    bytes);
	}
	memset(out->data, 0, bytes);
	for (size_t i = 0; i < n_parts; i++) {
		for (size_t j = 0; j < part_rows[i]; j++, p++) {
			if (prec == SB_LOWP_BF16)
				pack_row_bf16(out, p, parts[i] + j * k);
			else
				pack_row_int8(out, p, parts[i] + j * k);
		}
	}
	return SB_OK;
}

/* ---- activations ---- */

void sb_lowp_act_free(struct sb_lowp_act *a)
{
	free(a->q);
	free(a->scale);
	free(a->zp);
	memset(a, 0, sizeof(*a));
}

static int act_grow(struct sb_lowp_act *a, size_t m, size_t qbytes, struct sb_error *err)
{
	if (qbytes > a->cap_q) {
		size_t b = (qbytes + 63) & ~(size_t)63;
		free(a->q);
		a->cap_q = 0;
		a->q = aligned_alloc(64, b);
		if (!a->q)
			return sb_error_set(err, SB_ENOMEM, "out of memory for quantized "
					    "activations (%zu bytes)", b);
		a->cap_q = b;
	}
	if (m > a->cap_m) {
		free(a->scale);
		free(a->zp);
		a->cap_m = 0;
		a->scale = malloc(m * sizeof(float));
		a->zp = malloc(m * sizeof(int32_t));
		if (!a->scale || !a->zp)
			return sb_error_set(err, SB_ENOMEM, "out of memory for quantized "
					    "activations (%zu rows)", m);
		a->cap_m = m;
	}
	return SB_OK;
}

/* One row of k floats to uint8 with its scale and zero point (see lowp.h). */
static void quantize_row(const float *x, size_t k, size_t kp, uint8_t *q, float *scale,
			 int32_t *zp)
{
	float lo = 0.0f, hi = 0.0f, s;
	int z;

	for (size_t j = 0; j < k; j++) {
		lo = x[j] < lo ? x[j] : lo;
		hi = x[j] > hi ? x[j] : hi;
	}
	s = (hi - lo) / 255.0f;
	if (!(s > 0.0f) || !isfinite(s)) {
		/* All zeros (or not finite): any scale represents them; q = zp = 0. */
		memset(q, 0, kp);
		*scale = s > 0.0f ? s : 1.0f;
		*zp = 0;
		return;
	}
	z = clamp_round(-lo / s, 0, 255);
	for (size_t j = 0; j < k; j++)
		q[j] = (uint8_t)clamp_round(x[j] / s + (float)z, 0, 255);
	memset(q + k, 0, kp - k);
	*scale = s;
	*zp = z;
}

/* hi = bf16(x), lo = bf16(x - hi); lo = 0 when hi is not finite (NaN, infinities). */
static void split_bf16(float x, uint16_t *hi, uint16_t *lo)
{
	uint16_t h = sb_lowp_bf16(x);

	*hi = h;
	*lo = (h & 0x7f80u) == 0x7f80u ? 0 : sb_lowp_bf16(x - sb_lowp_bf16_float(h));
}

#ifdef LOWP_X86
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw")))

/* quantize_row() on 16 floats at a time: the same operations, so the same bytes. */
static T512 void quantize_row_avx512(const float *x, size_t k, size_t kp, uint8_t *q,
				     float *scale, int32_t *zp)
{
	__m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps(), s, z;
	float l, h, sc;
	size_t j = 0;
	int zi;

	for (; j + 16 <= k; j += 16) {
		__m512 v = _mm512_loadu_ps(x + j);
		lo = _mm512_min_ps(v, lo);
		hi = _mm512_max_ps(v, hi);
	}
	l = _mm512_reduce_min_ps(lo);
	h = _mm512_reduce_max_ps(hi);
	for (; j < k; j++) {
		l = x[j] < l ? x[j] : l;
		h = x[j] > h ? x[j] : h;
	}
	sc = (h - l) / 255.0f;
	if (!(sc > 0.0f) || !isfinite(sc)) {
		quantize_row(x, k, kp, q, scale, zp);
		return;
	}
	zi = clamp_round(-l / sc, 0, 255);
	s = _mm512_set1_ps(sc);
	z = _mm512_set1_ps((float)zi);
	for (j = 0; j + 16 <= k; j += 16) {
		__m512 r = _mm512_roundscale_ps(_mm512_add_ps(_mm512_div_ps(_mm512_loadu_ps(x + j),
									    s), z),
						_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
		r = _mm512_min_ps(_mm512_max_ps(r, _mm512_setzero_ps()), _mm512_set1_ps(255.0f));
		_mm_storeu_si128((__m128i *)(q + j), _mm512_cvtusepi32_epi8(_mm512_cvtps_epu32(r)));
	}
	for (; j < k; j++)
		q[j] = (uint8_t)clamp_round(x[j] / sc + (float)zi, 0, 255);
	memset(q + k, 0, kp - k);
	*scale = sc;
	*zp = zi;
}

/* 16 floats rounded as sb_lowp_bf16() does, the bf16 in the high halves of the lanes. */
static inline __attribute__((always_inline)) T512 __m512i round16v(__m512 x)
{
	const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff);
	__m512i u = _mm512_castps_si512(x);
	__m512i abs = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
	__mmask16 nan = _mm512_cmpgt_epu32_mask(abs, _mm512_set1_epi32(0x7f800000));
	__mmask16 sub = _mm512_testn_epi32_mask(u, _mm512_set1_epi32(0x7f800000));
	__m512i r = _mm512_add_epi32(u, _mm512_add_epi32(bias, _mm512_and_si512(
					      _mm512_srli_epi32(u, 16), one)));

	r = _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x00400000));
	return _mm512_mask_and_epi32(r, sub, u, _mm512_set1_epi32((int)0x80000000u));
}

static inline __attribute__((always_inline)) T512 __m512i round16(const float *x)
{
	return round16v(_mm512_loadu_ps(x));
}

/*
 * 16 floats split as split_bf16() does: hi and lo (bf16 in the high halves of the
 * lanes, the low halves cleared).
 */
static inline __attribute__((always_inline)) T512 void split16(const float *x, __m512i *hi,
								 __m512i *lo)
{
	const __m512i top = _mm512_set1_epi32((int)0xffff0000u);
	const __m512i inf = _mm512_set1_epi32(0x7f800000);
	__m512 v = _mm512_loadu_ps(x);
	__m512i h = _mm512_and_si512(round16v(v), top);
	__m512 d = _mm512_sub_ps(v, _mm512_castsi512_ps(h));
	__mmask16 fin = _mm512_cmpneq_epi32_mask(_mm512_and_si512(h, inf), inf);

	*hi = h;
	*lo = _mm512_maskz_and_epi32(fin, round16v(d), top);
}

/* k floats split into hi and lo bf16 values, as floats (the AVX-512F kernel's layout). */
static T512 void split_row_f_avx512(const float *x, size_t k, float *qh, float *ql)
{
	size_t j = 0;

	for (; j + 16 <= k; j += 16) {
		__m512i h, l;
		split16(x + j, &h, &l);
		_mm512_storeu_si512(qh + j, h);
		_mm512_storeu_si512(ql + j, l);
	}
	for (; j < k; j++) {
		uint16_t h, l;
		split_bf16(x[j], &h, &l);
		qh[j] = sb_lowp_bf16_float(h);
		ql[j] = sb_lowp_bf16_float(l);
	}
}

/* k floats split into hi and lo bf16. */
static T512 void split_row_avx512(const float *x, size_t k, uint16_t *qh, uint16_t *ql)
{
	size_t j = 0;

	for (; j + 16 <= k; j += 16) {
		__m512i h, l;
		split16(x + j, &h, &l);
		_mm256_storeu_si256((__m256i *)(qh + j),
				    _mm512_cvtepi32_epi16(_mm512_srli_epi32(h, 16)));
		_mm256_storeu_si256((__m256i *)(ql + j),
				    _mm512_cvtepi32_epi16(_mm512_srli_epi32(l, 16)));
	}
	for (; j < k; j++)
		split_bf16(x[j], &qh[j], &ql[j]);
}

/* k floats rounded to bf16 values, as floats: sb_lowp_bf16() 16 at a time. */
static T512 void round_row_avx512(const float *x, size_t k, float *q)
{
	const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
	size_t j = 0;

	for (; j + 16 <= k; j += 16)
		_mm512_storeu_ps(q + j, _mm512_castsi512_ps(_mm512_and_si512(round16(x + j), hi)));
	for (; j < k; j++)
		q[j] = sb_lowp_bf16_float(sb_lowp_bf16(x[j]));
}

/* k floats to bf16: sb_lowp_bf16() 16 at a time. */
static T512 void round_row_bf16_avx512(const float *x, size_t k, uint16_t *q)
{
	size_t j = 0;

	for (; j + 16 <= k; j += 16)
		_mm256_storeu_si256((__m256i *)(q + j),
				    _mm512_cvtepi32_epi16(_mm512_srli_epi32(round16(x + j), 16)));
	for (; j < k; j++)
		q[j] = sb_lowp_bf16(x[j]);
}
#endif

void sb_lowp_round_bf16(const float *x, size_t k, uint16_t *q)
{
	size_t j = 0;

#ifdef LOWP_X86
	if (sb_lowp_isa_supported(SB_LOWP_ISA_AVX512_VNNI)) {
		round_row_bf16_avx512(x, k, q);
		return;
	}
#endif
	for (; j < k; j++)
		q[j] = sb_lowp_bf16(x[j]);
}

/* Row r of the activations (a->ld values, zeros past k), for a's kernels. */
static void act_row(struct sb_lowp_act *a, const struct sb_lowp_weights *w, size_t r,
		    const float *xr)
{
	int x512 = a->isa == SB_LOWP_ISA_AVX512_VNNI || a->isa == SB_LOWP_ISA_AVX512_BF16 ||
		   a->isa == SB_LOWP_ISA_AMX;

	(void)x512;             /* only x86-64 builds have the vector conversions */

	if (a->isa == SB_LOWP_ISA_AVX512) {
		float *q = (float *)a->q + r * a->ld;
#ifdef LOWP_X86
		round_row_avx512(xr, w->k, q);
#endif
		for (size_t j = w->k; j < a->ld; j++)
			q[j] = 0.0f;
	} else if (w->prec == SB_LOWP_BF16) {
		uint16_t *q = (uint16_t *)a->q + r * a->ld;
		size_t j = 0;
#ifdef LOWP_X86
		if (x512) {
			round_row_bf16_avx512(xr, w->k, q);
			j = w->k;
		}
#endif
		for (; j < w->k; j++)
			q[j] = sb_lowp_bf16(xr[j]);
		for (; j < a->ld; j++)
			q[j] = 0;
	} else {
		uint8_t *q = (uint8_t *)a->q + r * a->ld;
#ifdef LOWP_X86
		if (x512) {
			quantize_row_avx512(xr, w->k, a->ld, q, &a->scale[r], &a->zp[r]);
			return;
		}
#endif
		quantize_row(xr, w->k, a->ld, q, &a->scale[r], &a->zp[r]);
	}
}

/* Row r of split activations (hi in q, lo in a->lo; zeros past k), for a's kernels. */
static void act_row_split(struct sb_lowp_act *a, const struct sb_lowp_weights *w, size_t r,
			  const float *xr)
{
	size_t j = 0;

	if (a->isa == SB_LOWP_ISA_AVX512) {
		float *qh = (float *)a->q + r * a->ld, *ql = (float *)a->lo + r * a->ld;
#ifdef LOWP_X86
		split_row_f_avx512(xr, w->k, qh, ql);
		j = w->k;
#endif
		for (; j < a->ld; j++)
			qh[j] = ql[j] = 0.0f;
	} else {
		uint16_t *qh = (uint16_t *)a->q + r * a->ld, *ql = (uint16_t *)a->lo + r * a->ld;
#ifdef LOWP_X86
		if (a->isa != SB_LOWP_ISA_GENERIC) {
			split_row_avx512(xr, w->k, qh, ql);
			j = w->k;
		}
#endif
		for (; j < w->k; j++)
			split_bf16(xr[j], &qh[j], &ql[j]);
		for (; j < a->ld; j++)
			qh[j] = ql[j] = 0;
	}
}

/*
 * a laid out for m rows of products with w on the kernels selected now (no rows set),
 * with room for the lo halves after the rows when split.
 */
static int act_shape(struct sb_lowp_act *a, const struct sb_lowp_weights *w, size_t m,
		     int split, size_t *el, size_t *rows, struct sb_error *err)
{
	enum sb_lowp_isa isa = isa_for(w->prec);
	int wide = isa == SB_LOWP_ISA_AVX512, amx = isa == SB_LOWP_ISA_AMX;
	size_t bytes, step = LOWP_AMX_STEP(group_of(w->prec));
	/* The amx kernels load whole tiles: rows to a multiple of 16, k to whole steps. */
	size_t ld = amx ? (w->kp + step - 1) / step * step : w->kp;
	int rc;

	*el = w->prec == SB_LOWP_BF16 ? (wide ? 4 : 2) : 1;
	*rows = amx ? (m + 15) / 16 * 16 : m;
	if (sb_size_mul(*rows ? *rows : 1, ld, &bytes) || sb_size_mul(bytes, *el, &bytes) ||
	    sb_size_mul(bytes, split ? 2 : 1, &bytes))
		return sb_error_set(err, SB_ELIMIT, "quantized activations [%zu, %zu] are too "
				    "large", m, w->kp);
	if ((rc = act_grow(a, m ? m : 1, bytes, err)))
		return rc;
	a->lo = split ? (uint8_t *)a->q + bytes / 2 : NULL;
	a->isa = isa;
	a->m = m;
	a->kp = w->kp;
	a->ld = ld;
	return SB_OK;
}

int sb_lowp_act_set(struct sb_lowp_act *a, const struct sb_lowp_weights *w, size_t m,
		    const float *x, size_t ldx, struct sb_error *err)
{
	size_t el, rows;
	int rc;

	if ((rc = act_shape(a, w, m, 0, &el, &rows, err)))
		return rc;
	for (size_t r = 0; r < m; r++)
		act_row(a, w, r, x + r * ldx);
	memset((uint8_t *)a->q + m * a->ld * el, 0, (rows - m) * a->ld * el);
	return SB_OK;
}

int sb_lowp_act_set_split(struct sb_lowp_act *a, const struct sb_lowp_weights *w, size_t m,
			  const float *x, size_t ldx, struct sb_error *err)
{
	size_t el, rows;
	int rc;

	assert(w->prec == SB_LOWP_BF16);
	if ((rc = act_shape(a, w, m, 1, &el, &rows, err)))
		return rc;
	for (size_t r = 0; r < m; r++)
		act_row_split(a, w, r, x + r * ldx);
	memset((uint8_t *)a->q + m * a->ld * el, 0, (rows - m) * a->ld * el);
	memset((uint8_t *)a->lo + m * a->ld * el, 0, (rows - m) * a->ld * el);
	return SB_OK;
}

int sb_lowp_act_set_bf16(struct sb_lowp_act *a, const struct sb_lowp_weights *w, size_t m,
			 const uint16_t *x, size_t ldx, struct sb_error *err)
{
	size_t el, rows;
	int rc;

	assert(w->prec == SB_LOWP_BF16);
	if ((rc = act_shape(a, w, m, 0, &el, &rows, err)))
		return rc;
	for (size_t r = 0; r < m; r++) {
		const uint16_t *xr = x + r * ldx;
		size_t j = 0;
		if (el == 4) {
			float *q = (float *)a->q + r * a->ld;
			for (; j < w->k; j++)
				q[j] = sb_lowp_bf16_float(xr[j]);
			for (; j < a->ld; j++)
				q[j] = 0.0f;
		} else {
			uint16_t *q = (uint16_t *)a->q + r * a->ld;
			memcpy(q, xr, w->k * sizeof(*q));
			memset(q + w->k, 0, (a->ld - w->k) * sizeof(*q));
		}
	}
	memset((uint8_t *)a->q + m * a->ld * el, 0, (rows - m) * a->ld * el);
	return SB_OK;
}

void sb_lowp_linear(const struct sb_lowp_weights *w, const struct sb_lowp_act *a, size_t c0,
		    size_t c1, float *y, size_t ldy)
{
	assert(a->kp == w->kp && c0 % LOWP_NR == 0 && c1 <= w->n);
	if (a->m == 0 || c1 <= c0)
		return;
	kernel_for(w->prec, a->isa)(w, a, c0, c1, y, ldy);
}
