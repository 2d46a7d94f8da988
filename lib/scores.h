/*
 * scores.h - a matrix of exact float32 scores through one double-precision product:
 * every value equals (float)sb_sim_score(), bit for bit.
 *
 * sb-cosine --matrix prints float32 scores of double computations.  A double product
 * (dgemm) of K terms is within about K 2^-53 of the exact dot product, far below the
 * spacing of float32 values: the interval the bound allows almost always rounds to one
 * float32, which is then the answer.  When it does not (a score within the bound of a
 * rounding boundary, or two nearly equal rows under euclidean), the score is computed by
 * sb_sim_score() itself.  Metrics: cosine, dot, euclidean (sb_search_supports()).
 */
#ifndef SB_SCORES_H
#define SB_SCORES_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "similarity.h"

struct sb_scores;

/*
 * Prepares the scores of the n rows [n, dim] (borrowed: they must outlive the object)
 * against each other, max_rows rows at a time: the rows converted to double (8 bytes a
 * value) and their norms.  SB_EINVAL for an unsupported metric or zero size, SB_ELIMIT,
 * SB_ENOMEM.  *out is NULL on failure.
 */
SB_API int sb_scores_open(struct sb_scores **out, enum sb_metric m, const float *rows, size_t n,
			  size_t dim, size_t max_rows, struct sb_error *err);

/* Frees everything; sets *s to NULL.  NULL is a no-op. */
SB_API void sb_scores_close(struct sb_scores **s);

/*
 * out[r * ldo + j] = (float)sb_sim_score(metric, row i0 + r, row j, ...) for r < m <=
 * max_rows and every j < n, the norms being sb_sim_norm()'s.
 */
SB_API void sb_scores_rows(struct sb_scores *s, size_t i0, size_t m, float *out, size_t ldo);

/* Scores computed by sb_sim_score() since open because the bound did not decide. */
SB_API uint64_t sb_scores_fallbacks(const struct sb_scores *s);

#endif
