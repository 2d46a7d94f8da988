/*
 * search.h - exact top-k search at BLAS speed: blocks of queries x blocks of corpus rows
 * through one float32 product each, then exact double-precision scores for the few rows
 * that can still make a query's top k.
 *
 * The answer is the one of scoring every pair with sb_sim_score() and pushing it into an
 * sb_topk: the same rows, order and double scores, ties included.  A float32 product
 * S = q . c of K terms is within gamma_K ||q|| ||c|| of the exact dot product (any order
 * of summation, with or without fused multiply-adds); search.c widens that bound to cover
 * the norms, the metric's own arithmetic and the double reference, and skips a row only
 * when even its most favourable score is strictly below the query's current k-th exact
 * score.  Every other row is scored again by sb_sim_score() and pushed.
 *
 * Metrics: cosine, dot and euclidean (through the norms: ||q - c||^2 = ||q||^2 + ||c||^2
 * - 2 q . c).  Manhattan and hamming gain nothing from a matrix product; callers keep
 * them on the pair-by-pair path (sb_search_supports() says which).
 *
 * The corpus is streamed: rows are offered in any number of calls and held one block at
 * a time, so memory is max_queries x block_rows floats of scores plus one block of rows,
 * whatever the corpus size.  A team of threads shares the queries; each member runs its
 * own single-threaded product, so the caller should keep BLAS at one thread.
 */
#ifndef SB_SEARCH_H
#define SB_SEARCH_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "similarity.h"

/* Corpus rows per product when block_rows is 0. */
#define SB_SEARCH_BLOCK 2048

struct sb_search_opts {
	enum sb_metric metric; /* one sb_search_supports() accepts */
	size_t dim;	       /* floats per row, >= 1 */
	size_t max_queries;    /* rows per sb_search_begin(), >= 1 */
	size_t block_rows;     /* corpus rows per product (0: SB_SEARCH_BLOCK) */
	int threads;	       /* members sharing the queries, 1 .. SB_PAR_MAX */
};

struct sb_search;

/* 1 when metric m goes through products, 0 when it stays on the pair-by-pair path. */
SB_API int sb_search_supports(enum sb_metric m);

/*
 * Allocates everything a search needs and starts its threads.  SB_EINVAL for a metric
 * that is not supported or a zero size, SB_ELIMIT when the buffers would not fit in
 * size_t or an int (BLAS), SB_ENOMEM / SB_EIO.  *out is NULL on failure.
 */
SB_API int sb_search_open(struct sb_search **out, const struct sb_search_opts *o,
			  struct sb_error *err);

/* Stops the threads and frees everything; sets *s to NULL.  NULL is a no-op. */
SB_API void sb_search_close(struct sb_search **s);

/*
 * Starts a pass: n <= max_queries query rows q [n, dim] (borrowed until
 * sb_search_end()), one selection per query in heaps[n] (borrowed; the caller has
 * initialised them with its k and usually cleared them).  self, when not NULL, holds one
 * corpus index per query that the query never selects (itself, when the queries are the
 * corpus).  Rows must be finite.
 */
SB_API void sb_search_begin(struct sb_search *s, const float *q, size_t n, struct sb_topk *heaps,
			    const uint64_t *self);

/*
 * Offers n corpus rows [n, dim] whose indices are first .. first + n - 1.  Rows are
 * copied into the block (full blocks given at once are used in place), so rows need
 * only live for the call.  Rows must be finite.
 */
SB_API void sb_search_add(struct sb_search *s, const float *rows, size_t n, uint64_t first);

/* Scores the rows still held and ends the pass: the heaps hold the answer (as heaps). */
SB_API void sb_search_end(struct sb_search *s);

/* Corpus rows offered since open whose norm is at most SB_SIM_EPS (zero vectors). */
SB_API uint64_t sb_search_zero_rows(const struct sb_search *s);

/* 1 when the products run on the packed kernel of lib/gemm.c (AVX-512 selected), 0 when
 * on cblas_sgemm. */
SB_API int sb_search_packed(const struct sb_search *s);

/* Pairs scored again in double since open (a measure of the filter's precision). */
SB_API uint64_t sb_search_rescored(const struct sb_search *s);

#endif
