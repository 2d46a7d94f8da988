/*
 * index.h - the stages of sb-index: build (embeddings frames in, an index file out,
 * no frames) and query (embeddings frames in, scores frames out, as sb-cosine --corpus).
 *
 * build options (key=value):
 *   out=FILE         the index file (written under a temporary name, renamed at the end)
 *   factory=STR      FAISS's factory string (default "Flat")
 *   metric=M         cosine (default), dot or euclidean
 *   train_sample=N   rows an index that needs training is trained on: the first N
 *                    (default 50000)
 *   threads=N        FAISS's threads (default: the cores available)
 *
 * query options:
 *   index=FILE       an index file written by build
 *   top_k=K          rows per query (default 10)
 *   nprobe=N         inverted lists visited per query (IVF indexes)
 *   ef_search=N      HNSW's efSearch
 *   query_batch=N    queries per FAISS search (default 1024)
 *   allow_mixed=1    query with embeddings of another model, pooling or encoder
 *   threads=N
 */
#ifndef SB_PLUGIN_INDEX_H
#define SB_PLUGIN_INDEX_H

#include "frame.h"
#include "ident.h"
#include "stage.h"

extern const struct sb_stage sb_stage_index_build;
extern const struct sb_stage sb_stage_index_query;

/* Metrics of an index: the key "metric" of its info. */
enum sb_index_metric { SB_INDEX_COSINE, SB_INDEX_DOT, SB_INDEX_EUCLIDEAN };

int sb_index_metric_parse(const char *s, enum sb_index_metric *m, struct sb_error *err);
const char *sb_index_metric_name(enum sb_index_metric m);

/* The search parameters a build writes into the file when not told (FAISS keeps them in
 * the index, and `sb-index query` and Python's faiss.read_index search with them unless
 * told otherwise).  FAISS's own defaults (efSearch 16, nprobe 1) find too few of the true
 * nearest rows to be a sensible default: see sb-index(1) for the measured recall. */
#define SB_INDEX_EF_SEARCH 128
#define SB_INDEX_NPROBE 16

/* The query stage's report (struct sb_stage.report fills one): the index and the search
 * parameters it searches with, -1 where the index has none.  The strings are the stage's,
 * valid until it is closed. */
struct sb_index_report {
	const char *path, *factory;
	long nprobe, ef_search;
};

struct sb_faiss;

/* Sets nprobe (IVF indexes) and ef_search (HNSW graphs) from option strings; NULL leaves
 * one as it is.  An option the index has no use for is an error naming it, the index
 * (where: its file or "the index") and its factory string. */
int sb_index_set_params(struct sb_faiss *x, const char *nprobe, const char *ef,
			const char *where, const char *factory, struct sb_error *err);

/* Scales each of the n rows [n, dim] to unit norm in place (zero rows stay zero). */
void sb_index_normalize(float *rows, size_t n, size_t dim);

/* The meta "normalized" of f: 1 when true. */
int sb_index_meta_normalized(const struct sb_frame *f);

#endif
