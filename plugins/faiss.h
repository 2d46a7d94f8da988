/*
 * faiss.h - the few FAISS operations sb-index needs, as a C interface over FAISS's C++
 * API (plugins/faiss.cc is the only file that includes FAISS headers).  Debian's
 * libfaiss-dev ships the C API's headers but not its functions, hence this shim.
 *
 * Functions that can fail return 0, or -1 with a one-line message in msg[SB_FAISS_MSG]
 * (FAISS's exceptions are caught here: none crosses into C).  Objects are created by
 * sb_faiss_new() / sb_faiss_read() and freed by sb_faiss_free().
 */
#ifndef SB_PLUGIN_FAISS_H
#define SB_PLUGIN_FAISS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SB_FAISS_MSG 256

enum sb_faiss_metric { SB_FAISS_IP, SB_FAISS_L2 };

struct sb_faiss;

/* An empty index of rows of dim floats described by FAISS's factory string
 * ("Flat", "HNSW32", "IVF1024,Flat", "IVF256,PQ64"...).  NULL on failure. */
struct sb_faiss *sb_faiss_new(const char *factory, size_t dim, enum sb_faiss_metric metric,
			      char *msg);

/* Frees x and sets *x to NULL; NULL is a no-op. */
void sb_faiss_free(struct sb_faiss **x);

/* 1 when the index needs no (more) training. */
int sb_faiss_is_trained(const struct sb_faiss *x);

/* Trains on rows [n, dim]. */
int sb_faiss_train(struct sb_faiss *x, size_t n, const float *rows, char *msg);

/* Adds rows [n, dim]; their ids are the count of rows before them. */
int sb_faiss_add(struct sb_faiss *x, size_t n, const float *rows, char *msg);

uint64_t sb_faiss_rows(const struct sb_faiss *x);
size_t sb_faiss_dim(const struct sb_faiss *x);
enum sb_faiss_metric sb_faiss_metric_of(const struct sb_faiss *x);

/* Sets a search parameter FAISS's ParameterSpace knows ("nprobe", "efSearch"); fails
 * when the index has no such parameter. */
int sb_faiss_set(struct sb_faiss *x, const char *name, double value, char *msg);

/* Whether x has search parameter name ("nprobe": an IVF index; "efSearch": an HNSW
 * graph, or the HNSW quantizer of an IVF index), looked for where sb_faiss_set() sets
 * it (inside IDMap, pre-transform and refine wrappers): 1 and its value in *value, or
 * 0 (*value untouched). */
int sb_faiss_get(const struct sb_faiss *x, const char *name, double *value);

/* The k best rows of each query q [n, dim]: scores [n, k] and ids [n, k], best first;
 * ids of -1 where fewer than k rows were found.  Scores are inner products (SB_FAISS_IP)
 * or squared distances (SB_FAISS_L2). */
int sb_faiss_search(struct sb_faiss *x, size_t n, const float *q, size_t k, float *scores,
		    int64_t *ids, char *msg);

/* Serialises x in FAISS's own format through write(ctx, p, n), which returns 0 or -1. */
int sb_faiss_write(const struct sb_faiss *x, int (*write)(void *ctx, const void *p, size_t n),
		   void *ctx, char *msg);

/* Reads an index in FAISS's format (trusted: see sb-index(1)) through read(ctx, p, n),
 * which fills p with the next n bytes and returns 0, or -1 when it cannot.  NULL on
 * failure. */
struct sb_faiss *sb_faiss_read(int (*read)(void *ctx, void *p, size_t n), void *ctx, char *msg);

/* OpenMP threads of FAISS's searches and training. */
void sb_faiss_set_threads(int n);

/* FAISS's version, "1.7.3". */
const char *sb_faiss_version(void);

#ifdef __cplusplus
}
#endif

#endif
