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

/* Scales each of the n rows [n, dim] to unit norm in place (zero rows stay zero). */
void sb_index_normalize(float *rows, size_t n, size_t dim);

/* The meta "normalized" of f: 1 when true. */
int sb_index_meta_normalized(const struct sb_frame *f);

#endif
