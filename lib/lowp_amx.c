/*
 * lowp_amx.c - the bf16 and int8 product kernels on Intel AMX tiles (see lowp.h):
 * tdpbf16ps (pairs of bf16, float32 accumulators) and tdpbusd (quads of u8 x s8, int32
 * accumulators), and the one request per process for the tile state.
 *
 * The packed weights (lowp.h) already have the layout a B tile reads: in a panel of 32
 * columns, the g values (g = 2 bf16 or 4 int8) of one group of k for columns 0-15 are 64
 * contiguous bytes, those of columns 16-31 the next 64, and the next group follows 128
 * bytes later.  So the B tile of 16 groups x 16 columns is 16 rows of 64 bytes at stride
 * 128, loaded straight from the panel.  The weights' K is padded to g only: the last,
 * partial step of a panel is copied with zeros into a 2 KB buffer, once per panel.
 * The activations are laid out for these kernels by sb_lowp_act_set(): rows padded to a
 * multiple of 16 and K to whole steps (32 bf16 / 64 int8 values), zeros in the padding,
 * so every A tile load is whole.
 *
 * Blocks of 32 rows x 32 columns: tiles 0-3 hold the accumulators, 4-5 two A tiles of
 * 16 rows, 6-7 the two B tiles of 16 columns.  bf16 blocks of whole tiles are stored
 * straight into Y; the others through a buffer (int8: to dequantize them).  Every call
 * loads the tile configuration on the calling thread and releases the tiles before it
 * returns, so each thread of a team (lib/par.c) configures its own and no tile state
 * outlives a call.
 *
 * Split bf16 activations (lowp.h): in each step, the hi rows of 16 go to tile 4 and
 * their lo rows to tile 5, both multiplied by the B tiles already loaded into the same
 * accumulators (hi first): the weights are read once for both halves.
 *
 * The rows of a call go in chunks of about CHUNK_BYTES of activations, which stay in
 * L2 while every panel of the call's columns passes over them.
 *
 * Sums: tdpbf16ps adds the products of each pair in its own order and flushes
 * denormals, so bf16 results differ from the other bf16 kernels by the accumulation
 * order only.  tdpbusd sums exact integers and the dequantization is the one of
 * lowp_int8.c: int8 results equal the other kernels' bit for bit.
 */
#include "lowp_impl.h"

#ifdef LOWP_X86
#include <cpuid.h>
#include <errno.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM 0x1023      /* Linux: ask for an extended state component */
#define XFEATURE_XTILEDATA 18           /* the AMX tile data */

static pthread_once_t perm_once = PTHREAD_ONCE_INIT;
static const char *perm_why = "not checked";
static char perm_msg[96];

/* Checks the cpu, then asks Linux for the tile state (once per process). */
static void perm_request(void)
{
	unsigned a, b, c, d;

	__builtin_cpu_init();
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) ||
	    !(d & (1u << 22)) || !(d & (1u << 25))) {
		perm_why = "the cpu has no amx-tile, amx-bf16 and amx-int8";
		return;
	}
	if (!__builtin_cpu_supports("avx512bw")) {
		perm_why = "the cpu has no avx512bw (used around the tiles)";
		return;
	}
#ifdef SYS_arch_prctl
	if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) {
		snprintf(perm_msg, sizeof(perm_msg), "the kernel refused the tile state "
			 "(arch_prctl ARCH_REQ_XCOMP_PERM: %s)", strerror(errno));
		perm_why = perm_msg;
		return;
	}
	perm_why = NULL;
#else
	perm_why = "no arch_prctl system call to ask for the tile state";
#endif
}

const char *sb_lowp_amx_unavailable(void)
{
	pthread_once(&perm_once, perm_request);
	return perm_why;
}

#define TA __attribute__((target("amx-tile,amx-bf16,amx-int8,avx512f,avx512bw")))
#define INLINE static inline __attribute__((always_inline))

#define TILE_ROWS 16
#define PANEL_BYTES 128         /* one group of k for the 32 columns of a panel */
#define CHUNK_BYTES (768 * 1024) /* activations of a chunk of rows (amx_linear) */

/* The 64-byte operand of ldtilecfg (palette 1). */
struct tile_config {
	uint8_t palette, start_row, reserved[14];
	uint16_t colsb[16];
	uint8_t rows[16];
};

/*
 * Eight tiles of 16 rows x 64 bytes.  A static object: GCC 12's _tile_loadconfig()
 * tells the compiler it reads only the first 8 bytes, so the stores that would build
 * a configuration on the stack could be dropped as dead.
 */
static const struct tile_config tile_cfg = {
	.palette = 1,
	.colsb = { 64, 64, 64, 64, 64, 64, 64, 64 },
	.rows = { TILE_ROWS, TILE_ROWS, TILE_ROWS, TILE_ROWS, TILE_ROWS, TILE_ROWS,
		  TILE_ROWS, TILE_ROWS },
};

/* Loads the configuration on this thread. */
static TA void tiles_begin(void)
{
	_tile_loadconfig(&tile_cfg);
}

/*
 * One step of split inputs at x (hi; lo xl bytes further) against the B tiles at bs:
 * tile 4 takes the hi rows, tile 5 the lo rows of the same 16, so the load of one
 * half overlaps the products of the other instead of waiting for them to release
 * their tile; each accumulator still adds hi before lo.
 */
INLINE TA void split_step(const int two, const uint8_t *x, size_t ldx, size_t xl,
			  const uint8_t *bs)
{
	_tile_loadd(4, x, ldx);
	_tile_loadd(6, bs, PANEL_BYTES);
	_tile_dpbf16ps(0, 4, 6);
	_tile_loadd(7, bs + 64, PANEL_BYTES);
	_tile_dpbf16ps(1, 4, 7);
	_tile_loadd(5, x + xl, ldx);
	_tile_dpbf16ps(0, 5, 6);
	_tile_dpbf16ps(1, 5, 7);
	if (two) {
		_tile_loadd(4, x + TILE_ROWS * ldx, ldx);
		_tile_dpbf16ps(2, 4, 6);
		_tile_dpbf16ps(3, 4, 7);
		_tile_loadd(5, x + xl + TILE_ROWS * ldx, ldx);
		_tile_dpbf16ps(2, 5, 6);
		_tile_dpbf16ps(3, 5, 7);
	}
}

/*
 * acc[32][32] (row stride 32) = rows [0, 16 or 32) of the activations x (row stride
 * ldx bytes, steps of 64 bytes) times the panel b; steps whole steps, the first full
 * of them from the panel, the last from tail when full < steps.  GCC's _tile_loadd()
 * does not tell the compiler that it reads memory: what it reads is written before
 * these functions (never inlined) are called.
 */
INLINE TA void block(const int bf, const int two, const int split, const uint8_t *x,
		     size_t ldx, size_t xl, const uint8_t *b, const uint8_t *tail, size_t full,
		     size_t steps, void *acc, size_t ld)
{
	_tile_zero(0);
	_tile_zero(1);
	if (two) {
		_tile_zero(2);
		_tile_zero(3);
	}
	for (size_t s = 0; s < steps; s++) {
		const uint8_t *bs = s < full ? b + s * TILE_ROWS * PANEL_BYTES : tail;
		if (split) {
			split_step(two, x + s * 64, ldx, xl, bs);
			continue;
		}
		_tile_loadd(6, bs, PANEL_BYTES);
		_tile_loadd(7, bs + 64, PANEL_BYTES);
		_tile_loadd(4, x + s * 64, ldx);
		if (bf) {
			_tile_dpbf16ps(0, 4, 6);
			_tile_dpbf16ps(1, 4, 7);
		} else {
			_tile_dpbusd(0, 4, 6);
			_tile_dpbusd(1, 4, 7);
		}
		if (two) {
			_tile_loadd(5, x + TILE_ROWS * ldx + s * 64, ldx);
			if (bf) {
				_tile_dpbf16ps(2, 5, 6);
				_tile_dpbf16ps(3, 5, 7);
			} else {
				_tile_dpbusd(2, 5, 6);
				_tile_dpbusd(3, 5, 7);
			}
		}
	}
	_tile_stored(0, acc, ld);
	_tile_stored(1, (uint8_t *)acc + 64, ld);
	if (two) {
		_tile_stored(2, (uint8_t *)acc + 16 * ld, ld);
		_tile_stored(3, (uint8_t *)acc + 16 * ld + 64, ld);
	}
}

#define BLOCK(NAME, BF, TWO, SPLIT)							\
static TA __attribute__((noinline)) void NAME(const uint8_t *x, size_t ldx, size_t xl,	\
	const uint8_t *b, const uint8_t *tail, size_t full, size_t steps, void *acc, size_t ld) \
{ block(BF, TWO, SPLIT, x, ldx, xl, b, tail, full, steps, acc, ld); }
BLOCK(block_bf16_1, 1, 0, 0)
BLOCK(block_bf16_2, 1, 1, 0)
BLOCK(block_split_1, 1, 0, 1)
BLOCK(block_split_2, 1, 1, 1)
BLOCK(block_int8_1, 0, 0, 0)
BLOCK(block_int8_2, 0, 1, 0)

/* Rows [r0, r0 + nr) x columns [c, c + nc) of Y from the int32 sums acc[nr][32]. */
static TA void dequant_rows(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
			    const int32_t *acc, size_t r0, size_t nr, size_t c, size_t nc,
			    float *y, size_t ldy)
{
	__mmask16 m0 = (__mmask16)(nc >= 16 ? 0xffff : (1u << nc) - 1);
	__mmask16 m1 = (__mmask16)(nc >= 32 ? 0xffff : nc > 16 ? (1u << (nc - 16)) - 1 : 0);

	for (size_t r = 0; r < nr; r++) {
		__m512i z = _mm512_set1_epi32(a->zp[r0 + r]);
		__m512 s = _mm512_set1_ps(a->scale[r0 + r]);
		for (int h = 0; h < 2; h++) {
			size_t j = c + 16 * (size_t)h;
			__m512i cs = _mm512_loadu_si512(w->colsum + j);
			__m512i v = _mm512_sub_epi32(_mm512_loadu_si512(acc + r * 32 + 16 * h),
						     _mm512_mullo_epi32(z, cs));
			__m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(v),
						 _mm512_mul_ps(s, _mm512_loadu_ps(w->scale + j)));
			_mm512_mask_storeu_ps(y + (r0 + r) * ldy + j, h ? m1 : m0, f);
		}
	}
}

typedef void (*block_fn)(const uint8_t *, size_t, size_t, const uint8_t *, const uint8_t *,
			 size_t, size_t, void *, size_t);

/* One call's shape: g values per group, el bytes per activation, the steps of k. */
struct amx_job {
	const struct sb_lowp_weights *w;
	const struct sb_lowp_act *a;
	block_fn one, two;
	int bf;
	size_t el, ldx, xl, full, steps, tail_groups;
	uint8_t *tail;
	int32_t *acc;
	float *y;
	size_t ldy;
};

/* Rows [m0, m1) x the panel of columns [c, min(c + 32, c1)) of Y. */
static TA void panel(const struct amx_job *j, size_t m0, size_t m1, size_t c, size_t c1)
{
	const struct sb_lowp_act *a = j->a;
	size_t kp = j->w->kp, ldx = j->ldx, ldy = j->ldy;
	const uint8_t *b = (const uint8_t *)j->w->data + c / LOWP_NR * kp * LOWP_NR * j->el;
	size_t nc = c1 - c < LOWP_NR ? c1 - c : LOWP_NR;

	if (j->tail_groups)
		memcpy(j->tail, b + j->full * TILE_ROWS * PANEL_BYTES,
		       j->tail_groups * PANEL_BYTES);
	for (size_t r0 = m0; r0 < m1; r0 += 32) {
		const uint8_t *x = (const uint8_t *)a->q + r0 * ldx;
		size_t nr = m1 - r0 < 32 ? m1 - r0 : 32;
		float *yb = j->y + r0 * ldy + c;
		block_fn f = nr > TILE_ROWS ? j->two : j->one;
		/* bf16, whole tiles: stored straight into y. */
		if (j->bf && nc == LOWP_NR && (nr == 32 || nr == TILE_ROWS)) {
			f(x, ldx, j->xl, b, j->tail, j->full, j->steps, yb, ldy * sizeof(float));
			continue;
		}
		f(x, ldx, j->xl, b, j->tail, j->full, j->steps, j->acc, 128);
		if (!j->bf) {
			dequant_rows(j->w, a, j->acc, r0, nr, c, nc, j->y, ldy);
			continue;
		}
		for (size_t r = 0; r < nr; r++)
			memcpy(yb + r * ldy, j->acc + r * 32, nc * sizeof(float));
	}
}

/*
 * Both precisions.  The rows go in chunks whose activations stay in the cache (L2)
 * while every panel of weights passes over them: without the chunks, each panel
 * would read all the rows' activations again from further away.
 */
static TA void amx_linear(const int bf, const struct sb_lowp_weights *w,
			  const struct sb_lowp_act *a, size_t c0, size_t c1, float *y,
			  size_t ldy)
{
	size_t g = bf ? 2 : 4, el = bf ? 2 : 1, step = TILE_ROWS * g, kp = w->kp;
	_Alignas(64) uint8_t tail[TILE_ROWS * PANEL_BYTES];
	_Alignas(64) int32_t acc[32 * 32];
	struct amx_job j = {
		.w = w, .a = a, .bf = bf, .el = el, .ldx = a->ld * el,
		.xl = a->lo ? (size_t)((const uint8_t *)a->lo - (const uint8_t *)a->q) : 0,
		.full = kp / step, .steps = (kp + step - 1) / step,
		.tail_groups = (kp - kp / step * step) / g, .tail = tail, .acc = acc,
		.y = y, .ldy = ldy,
		.one = a->lo ? block_split_1 : bf ? block_bf16_1 : block_int8_1,
		.two = a->lo ? block_split_2 : bf ? block_bf16_2 : block_int8_2,
	};
	size_t row_bytes = j.ldx * (a->lo ? 2 : 1);
	size_t chunk = CHUNK_BYTES / row_bytes / 32 * 32;

	chunk = chunk ? chunk : 32;
	tiles_begin();
	memset(tail, 0, sizeof(tail));
	for (size_t m0 = 0; m0 < a->m; m0 += chunk) {
		size_t m1 = a->m - m0 < chunk ? a->m : m0 + chunk;
		for (size_t c = c0; c < c1; c += LOWP_NR)
			panel(&j, m0, m1, c, c1);
	}
	_tile_release();
}

void sb_lowp_bf16_amx(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
		      size_t c0, size_t c1, float *y, size_t ldy)
{
	amx_linear(1, w, a, c0, c1, y, ldy);
}

void sb_lowp_int8_amx(const struct sb_lowp_weights *w, const struct sb_lowp_act *a,
		      size_t c0, size_t c1, float *y, size_t ldy)
{
	amx_linear(0, w, a, c0, c1, y, ldy);
}

#else

const char *sb_lowp_amx_unavailable(void)
{
	return "not an x86-64 build";
}

#endif
