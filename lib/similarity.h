/*
 * similarity.h - similarity metrics between embeddings, bounded top-k selection, and
 * sentence-transformers' embedding quantization (int8, uint8, binary, ubinary).
 *
 * Metrics follow sentence-transformers' util.py: cos_sim normalizes each vector with
 * max(||x||, 1e-12) before the dot product, so a zero vector has cosine 0 with everything
 * (never NaN); euclidean_sim and manhattan_sim are the negative distances, so for every
 * metric a higher score means more similar.  Hamming, for packed binary embeddings, is the
 * negative number of differing bits for the same reason.
 *
 * Sums are accumulated in double over independent lanes, so loops vectorize without
 * -ffast-math and results are at least as accurate as NumPy's float32 ones.
 */
#ifndef SB_SIMILARITY_H
#define SB_SIMILARITY_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

enum sb_metric {
	SB_METRIC_COSINE,
	SB_METRIC_DOT,
	SB_METRIC_EUCLIDEAN,
	SB_METRIC_MANHATTAN,
	SB_METRIC_HAMMING
};

/* Parses "cosine" ("cos"), "dot", "euclidean", "manhattan", "hamming".  SB_EINVAL names
 * the unknown metric. */
SB_API int sb_metric_parse(const char *s, enum sb_metric *out, struct sb_error *err);

/* Name of a metric as sb_metric_parse() accepts it. */
SB_API const char *sb_metric_name(enum sb_metric m);

/* Minimum norm used by cosine normalization (torch.nn.functional.normalize's eps). */
#define SB_SIM_EPS 1e-12

/* a . b over n floats. */
SB_API double sb_sim_dot(const float *a, const float *b, size_t n);

/* ||a||_2 over n floats. */
SB_API double sb_sim_norm(const float *a, size_t n);

/*
 * cos_sim as sentence-transformers: (a / max(||a||, eps)) . (b / max(||b||, eps)).
 * A zero vector gives 0.  na and nb are the norms when known (pass a negative value to
 * have them computed), so callers comparing one row with many compute its norm once.
 */
SB_API double sb_sim_cosine(const float *a, const float *b, size_t n, double na, double nb);

/* -||a - b||_2 and -||a - b||_1. */
SB_API double sb_sim_euclidean(const float *a, const float *b, size_t n);
SB_API double sb_sim_manhattan(const float *a, const float *b, size_t n);

/* Number of differing bits between two packed bit strings of nbytes bytes. */
SB_API uint64_t sb_sim_hamming_bits(const uint8_t *a, const uint8_t *b, size_t nbytes);

/*
 * Score of one metric between float vectors a and b (n floats).  For SB_METRIC_HAMMING
 * a and b are read as packed bytes: n is then the number of bytes.  na / nb as for
 * sb_sim_cosine (ignored by the other metrics).
 */
SB_API double sb_sim_score(enum sb_metric m, const void *a, const void *b, size_t n, double na,
			   double nb);

/* Returns 1 when all n floats are finite, else 0 and *bad = index of the first that is not. */
SB_API int sb_sim_finite(const float *a, size_t n, size_t *bad);

/*
 * Spearman rank correlation of x and y (n pairs) as scipy.stats.spearmanr, which
 * sentence-transformers' EmbeddingSimilarityEvaluator reports: the Pearson correlation of
 * the average ranks (ties share the mean of their ranks).  SB_EINVAL when n < 2 or a
 * column is constant (correlation undefined), SB_ENOMEM.  Values must be finite.
 */
SB_API int sb_sim_spearman(const double *x, const double *y, size_t n, double *out,
			   struct sb_error *err);

/*
 * Pearson correlation of x and y (n pairs) as scipy.stats.pearsonr and numpy.corrcoef:
 * the centred cross product over the product of the centred norms, in double.  The
 * errors of sb_sim_spearman().
 */
SB_API int sb_sim_pearson(const double *x, const double *y, size_t n, double *out,
			  struct sb_error *err);

/*
 * Bounded top-k selection: keeps the k best (score, index) pairs seen so far in a
 * min-heap, O(log k) per push, k entries of memory whatever the number of candidates.
 * Ties are broken towards the lower index, so results are deterministic.
 */
struct sb_topk_item {
	double score;
	uint64_t index;
};

struct sb_topk {
	size_t k;		    /* capacity */
	size_t n;		    /* items held (<= k) */
	struct sb_topk_item *items; /* heap while pushing; sorted after sb_topk_sort() */
};

/* Allocates room for k items (k >= 1).  SB_EINVAL for k = 0, SB_ENOMEM. */
SB_API int sb_topk_init(struct sb_topk *t, size_t k, struct sb_error *err);

/* Offers a candidate; kept if it beats the worst held item (or fewer than k are held). */
SB_API void sb_topk_push(struct sb_topk *t, double score, uint64_t index);

/*
 * Whether a candidate that was pushed is held: 1 when (score, index) is not worse than
 * the worst held item or the selection is not full.  Valid while the items are a heap
 * (before sb_topk_sort()); O(1).  Lets a caller that pushed the same score into two
 * selections (row i's and row j's) tell whether both kept it.
 */
SB_API int sb_topk_holds(const struct sb_topk *t, double score, uint64_t index);

/* Sorts the held items best first (score descending, then index ascending) and returns
 * their count.  The heap order is lost: call sb_topk_clear() before pushing again. */
SB_API size_t sb_topk_sort(struct sb_topk *t);

/* Empties the selection, keeping its storage. */
SB_API void sb_topk_clear(struct sb_topk *t);

/* Frees the storage; safe on a zeroed struct. */
SB_API void sb_topk_destroy(struct sb_topk *t);

/*
 * Quantization as sentence-transformers' quantize_embeddings().
 *
 *   int8 / uint8: per-dimension ranges [min, max] from a calibration set,
 *     step = (max - min) / 255 (float32), v = (x - min) / step, uint8 = (uint8_t)v,
 *     int8 = (int8_t)(v - 128), both truncating toward zero as NumPy's astype does.
 *     Values outside the calibration range saturate at the ends (NumPy's cast of an
 *     out-of-range float is undefined and wraps on x86; saturating is the documented
 *     sb choice).  A dimension with max == min (step 0) maps to 0 (uint8) / -128 (int8).
 *   ubinary: bits x > 0 packed 8 per byte, first dimension in the most significant bit
 *     (np.packbits), each row padded with zero bits to whole bytes.
 *   binary: the ubinary bytes minus 128, as int8.
 */
enum sb_precision {
	SB_PRECISION_FLOAT32,
	SB_PRECISION_INT8,
	SB_PRECISION_UINT8,
	SB_PRECISION_BINARY,
	SB_PRECISION_UBINARY
};

/* Parses "float32", "int8", "uint8", "binary", "ubinary".  SB_EINVAL otherwise. */
SB_API int sb_precision_parse(const char *s, enum sb_precision *out, struct sb_error *err);
SB_API const char *sb_precision_name(enum sb_precision p);

/* Bytes per row of an output of width dim (dim * 4, dim, or ceil(dim / 8)). */
SB_API size_t sb_precision_row_bytes(enum sb_precision p, size_t dim);

/* Per-dimension ranges for int8 / uint8. */
struct sb_calibration {
	size_t dim;
	uint64_t rows; /* embeddings seen */
	float *min;    /* [dim] */
	float *max;    /* [dim] */
};

/* Allocates ranges for dim dimensions, empty (rows 0).  SB_EINVAL for dim 0. */
SB_API int sb_calibration_init(struct sb_calibration *c, size_t dim, struct sb_error *err);

/* Widens the ranges with n rows of dim floats each (row-major). */
SB_API void sb_calibration_add(struct sb_calibration *c, const float *x, size_t n);

SB_API void sb_calibration_destroy(struct sb_calibration *c);

/*
 * Calibration file (text, documented in sb-pool(1)):
 *     sb-calibration 1
 *     dim D
 *     rows N
 *     MIN MAX         (D lines, one per dimension, as %.9g: exact float32 round trip)
 * Lines starting with '#' are comments.  Reading checks everything: D is bounded
 * (SB_ELIMIT past 1 << 20) before allocating, each line is two finite numbers with
 * MIN <= MAX, and there are exactly D of them.
 */
SB_API int sb_calibration_write(const struct sb_calibration *c, const char *path,
				struct sb_error *err);
SB_API int sb_calibration_read(struct sb_calibration *c, const char *path, struct sb_error *err);

/*
 * Quantizes one row of dim floats into out (sb_precision_row_bytes() bytes).  c is
 * required for int8 / uint8 (c->dim must equal dim: the caller checks) and ignored
 * otherwise.  SB_PRECISION_FLOAT32 copies.
 */
SB_API void sb_quantize_row(enum sb_precision p, const struct sb_calibration *c, const float *x,
			    size_t dim, void *out);

#endif
