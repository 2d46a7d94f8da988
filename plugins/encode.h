/*
 * encode.h - the encode stage (tokens frames in, hidden or embeddings frames out) and
 * what a program can ask its state after a run.
 */
#ifndef SB_PLUGIN_ENCODE_H
#define SB_PLUGIN_ENCODE_H

#include <stdint.h>

#include "stage.h"

extern const struct sb_stage sb_stage_encode;

/* The stage's report (struct sb_stage.report fills one). */
struct sb_encode_report {
	int tokenizer_found;            /* the model folder has a tokenizer to check against */
	uint64_t frames_unchecked;      /* tokens frames without a tokenizer_fingerprint */
};

/* The report so far; state is what sb_stage_encode.open() returned (valid until close). */

#endif
