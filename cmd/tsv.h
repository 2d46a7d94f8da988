/*
 * tsv.h - scores frames as TSV: the runner's sink of sb-cosine and sb-index query.
 *
 * One line per score: a, b, the score with 6 decimals, then the frame's text of the row
 * (the two texts, tab-separated) when it has one.  A matrix frame (score [n, N]) prints
 * one line of N scores per row.  With gold set, 1-D scores are collected into scores[]
 * instead of printed (sb-cosine --gold).
 */
#ifndef SB_CMD_TSV_H
#define SB_CMD_TSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "stage.h"

struct sb_tsv {
	FILE *fp;
	int gold; /* collect pair scores instead of printing them */
	double *scores;
	size_t n, cap;
	uint64_t bytes; /* printed so far: the runner's bytes out */
};

/* The sb_emit callback: ctx is a struct sb_tsv.  End frames print nothing.  SB_EPIPE
 * when the reader went away, SB_EIO on other write errors. */
int sb_tsv_frame(void *ctx, const struct sb_frame *f, struct sb_error *err);

#endif
