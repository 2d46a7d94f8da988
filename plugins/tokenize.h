/*
 * tokenize.h - the tokenize stage (lines in, tokens frames out) and what a program
 * can ask its state after a run.
 */
#ifndef SB_PLUGIN_TOKENIZE_H
#define SB_PLUGIN_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#include "stage.h"
#include "tokenizer.h"

extern const struct sb_stage sb_stage_tokenize;

struct sb_tokenize_counts {
	uint64_t rows;                  /* rows emitted */
	uint64_t rows_truncated;        /* rows that lost tokens to max_length */
	uint64_t rows_replaced;         /* rows where invalid UTF-8 was replaced */
	uint64_t n_replaced;            /* invalid sequences replaced with U+FFFD */
};

/* Counts so far; state is what sb_stage_tokenize.open() returned (valid until close). */

/* The prompt in use; the strings are borrowed from the state (valid until close). */
struct sb_tokenize_prompt {
	const char *text;               /* NULL: no prompt */
	size_t len;                     /* bytes of text */
	const char *name;               /* its name in config_sentence_transformers.json,
					 * or NULL for prompt=TEXT */
	int is_default;                 /* applied as the config's default_prompt_name */
	uint64_t prompt_length;         /* what the tokens frames' meta says */
};

/* The stage's report (struct sb_stage.report fills one). */
struct sb_tokenize_report {
	struct sb_tokenize_counts counts;
	struct sb_tokenize_prompt prompt;
	/* The tokenizer's settings and where each came from: valid until the stage
	 * is closed. */
	const struct sb_tokenizer_info *info;
};

#endif
