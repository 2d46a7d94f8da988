/*
 * cosine.h - the cosine stage (embeddings frames in, scores frames out) and what a
 * program can ask its state after a run.
 */
#ifndef SB_PLUGIN_COSINE_H
#define SB_PLUGIN_COSINE_H

#include <stdint.h>

#include "stage.h"

extern const struct sb_stage sb_stage_cosine;

/*
 * Rows (input and corpus, each counted once per scan) that were zero vectors (norm
 * below 1e-12) while the metric was cosine: their cosine is 0 by definition.  state is
 * what sb_stage_cosine.open() returned; valid until close.
 */

/* What the blocked search (lib/search.h) did; threads 0 when it did not run. */
struct sb_cosine_search {
	int threads;
	const char *kernel; /* "sb avx512 kernel" or "OpenBLAS sgemm" */
	uint64_t queries;   /* query rows searched (each counted once per pass) */
	uint64_t rescored;  /* pairs scored again in double */
};

/* The stage's report (struct sb_stage.report fills one). */
struct sb_cosine_report {
	uint64_t zero_rows;             /* zero vectors among the rows */
	struct sb_cosine_search search; /* threads 0: no search ran */
};

#endif
