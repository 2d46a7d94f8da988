/*
 * sb-tokenize - lines of text to tokens frames, with the model's WordPiece tokenizer,
 * as Hugging Face's tokenizer(texts, truncation=True, max_length=..., padding=...).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/tokenize.h"
#include "common.h"
#include "hub.h"
#include "ops.h"
#include "opts.h"
#include "tokenizer.h"


/* ---- what the stage reports: its settings once open, its counts at the end ---- */

/* -v: every setting and the file it came from, and the prompt the stage chose. */
static void print_settings(const struct sb_cmd *c, const struct sb_tokenize_report *r)
{
	const struct sb_tokenizer_info *in = r->info;
	const struct sb_tokenize_prompt *p = &r->prompt;

	fprintf(stderr, "%s: model %s, tokenizer from %s\n", c->prog, in->dir, in->source);
	for (size_t i = 0; i < in->n_settings; i++)
		fprintf(stderr, "%s:   %-24s %-16s from %s\n", c->prog, in->settings[i].name,
			in->settings[i].value, in->settings[i].source);
	if (p->is_default)
		fprintf(stderr, "%s: prompt '%s' (default_prompt_name of "
			"config_sentence_transformers.json, --prompt '' for none): %zu bytes, "
			"prompt_length %llu\n", c->prog, p->name, p->len,
			(unsigned long long)p->prompt_length);
	else if (p->text)
		fprintf(stderr, "%s: prompt%s%s%s: %zu bytes, prompt_length %llu\n", c->prog,
			p->name ? " '" : "", p->name ? p->name : "", p->name ? "'" : "", p->len,
			(unsigned long long)p->prompt_length);
	else
		fprintf(stderr, "%s: no prompt\n", c->prog);
}

struct report {
	const struct sb_cmd *c;
	struct sb_tokenize_report r;
	int printed;                    /* -v settings: once, also in worker mode */
};

static void on_report(void *ctx, int final)
{
	struct report *rep = ctx;

	if (final || !rep->c->verbose || rep->printed)
		return;
	print_settings(rep->c, &rep->r);
	rep->printed = 1;
}

/* ---- the command line ---- */

static const struct sb_cmd_usage usage = {
	"-m MODEL [options]",
	"Tokenize lines of UTF-8 text (one sentence a line) into tokens frames\n"
	"(input_ids, attention_mask, token_type_ids), as Hugging Face tokenizers does.\n",
	29, NULL, NULL
};

static const struct sb_cmd_opt opts[] = {
	{ "model", 'm', "MODEL", SB_CMD_OWN, NULL, NULL, 0, 0, NULL,
	  "model folder or hub id (tokenizer.json, or vocab.txt\n+ tokenizer_config.json)", 0 },
	{ "max-length", 'l', "N", SB_CMD_COUNT, "max_length", NULL, 1, (size_t)1 << 24,
	  "'{}' is not a length from 1 to 16M",
	  "tokens per row with [CLS]/[SEP] (default: the\nmodel's max_seq_length)", 0 },
	{ "truncation", 0, "STRATEGY", SB_CMD_CHOICE, "truncation",
	  "longest_first|only_first|only_second|none", 0, 0,
	  "'{}' is not one of longest_first, only_first, only_second, none",
	  "longest_first (default), only_first, only_second", 0 },
	{ "no-truncation", 0, NULL, SB_CMD_SWITCH, "truncation", "none", 0, 0, NULL,
	  "keep every token (rows may exceed the model's limit)", 0 },
	{ "pairs", 0, NULL, SB_CMD_SWITCH, "pairs", "1", 0, 0, NULL,
	  "each line is A<TAB>B: [CLS] A [SEP] B [SEP]", 0 },
	{ "padding", 0, "MODE", SB_CMD_CHOICE, "padding", "longest|max_length|none", 0, 0,
	  "'{}' is not one of longest, max_length, none",
	  "longest (each frame to its longest row, default),\n"
	  "max_length, or none (rows of equal length per frame)", 0 },
	{ "pad-to-multiple-of", 0, "N", SB_CMD_COUNT, "pad_to_multiple_of", NULL, 1, 65536,
	  "'{}' is not a number from 1 to 65536", "round padded lengths up to a multiple of N", 0 },
	{ "batch", 'b', "N", SB_CMD_COUNT, NULL, NULL, 1, 1000000,
	  "'{}' is not a number from 1 to 1000000", "rows per frame (default 32)", 0 },
	{ "prompt", 0, "TEXT", SB_CMD_OWN, "prompt", NULL, 0, 0, NULL,
	  "prepend TEXT to every line (sentence-transformers\n"
	  "prompts); '' for none, not even the default", 0 },
	{ "prompt-name", 0, "NAME", SB_CMD_OWN, "prompt_name", NULL, 0, 0, NULL,
	  "the prompt called NAME in the model's\n"
	  "config_sentence_transformers.json (default: its\ndefault_prompt_name, if any)", 0 },
	{ "no-text", 0, NULL, SB_CMD_SWITCH, "text", "0", 0, 0, NULL,
	  "do not carry the lines in the frames", 0 },
	{ "replace-invalid", 0, NULL, SB_CMD_SWITCH, "replace_invalid", "1", 0, 0, NULL,
	  "replace invalid UTF-8 with U+FFFD instead of failing", 0 },
	{ "token-type-ids", 0, NULL, SB_CMD_SWITCH, "token_type_ids", "1", 0, 0, NULL,
	  "always emit token_type_ids", 0 },
	{ "no-token-type-ids", 0, NULL, SB_CMD_SWITCH, "token_type_ids", "0", 0, 0, NULL,
	  "never emit them (default: when the model has segment\nembeddings, or with --pairs)", 0 },
	{ "chunk-bytes", 0, "N", SB_CMD_COUNT, NULL, NULL, 1, (size_t)1 << 30,
	  "'{}' is not a size from 1 to 1G",
	  "read lines longer than N bytes in pieces of N\n(default 1M): memory stays bounded", 0 },
	{ NULL }
};

/* What the command line asked for, beyond the stage options it sets in c. */
struct args {
	const char *model, *prompt, *prompt_name;
};

/* The options the table leaves to the program: where their values go. */
static int take_option(struct sb_cmd *c, void *user, const struct sb_cmd_opt *o,
		       const char *arg, size_t n)
{
	struct args *a = user;

	switch (o->flag) {
	case 'm':
		a->model = arg;
		return 0;
	case 'b':
		c->ro.batch_rows = n;
		return 0;
	}
	if (!strcmp(o->name, "chunk-bytes"))
		c->ro.text_chunk = n;
	else if (!strcmp(o->name, "prompt"))
		a->prompt = arg;
	else
		a->prompt_name = arg;
	if (o->key)
		sb_cmd_kv(c, o->key, arg);
	return 0;
}

/* The command line into c and a: -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct sb_cmd *c, struct args *a)
{
	int rc;

	if ((rc = sb_cmd_parse(c, argc, argv, &usage, opts, take_option, a)) >= 0)
		return rc;
	if (!a->model)
		return sb_cmd_usage_error(c, "no model given (-m MODEL)");
	if (a->prompt && a->prompt_name)
		return sb_cmd_usage_error(c, "--prompt and --prompt-name exclude each other");
	return -1;
}

/* The invalid UTF-8 replaced, always; with -v the rows and those truncated. */
static void print_counts(const struct sb_cmd *c, const struct sb_tokenize_counts *counts)
{
	if (counts->rows_replaced)
		fprintf(stderr, "%s: replaced %llu invalid UTF-8 sequences with U+FFFD in %llu "
			"rows\n", c->prog, (unsigned long long)counts->n_replaced,
			(unsigned long long)counts->rows_replaced);
	if (c->verbose)
		fprintf(stderr, "%s: %llu rows, %llu truncated to the max length\n", c->prog,
			(unsigned long long)counts->rows, (unsigned long long)counts->rows_truncated);
}

/* The tokenizer cache folder from the environment (sb-tokenize(1), ENVIRONMENT) as
 * the stage's tokenizer_cache option; none when it is off. */
static void cache_option(struct sb_cmd *c)
{
	static char *dir;
	struct sb_hub_env env;

	sb_hub_env_from(&env, getenv);
	free(dir);
	dir = NULL;
	if (sb_tokenizer_cache_dir(getenv("SB_TOKENIZER_CACHE"), &env, &dir, NULL) == SB_OK && dir)
		sb_cmd_kv(c, "tokenizer_cache", dir);
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct report rep = { 0 };
	struct sb_cmd c;
	int rc;

	sb_ops_park_threads();          /* sb-tokenize does no products */
	sb_cmd_init(&c, argv[0]);
	if ((rc = parse(argc, argv, &c, &a)) >= 0)
		return rc;
	a.model = sb_cmd_model(&c, a.model);
	if (!a.model)
		return 1;
	sb_cmd_kv(&c, "model", a.model);
	cache_option(&c);
	rep.c = &c;
	c.ro.report.out = &rep.r;
	c.ro.report.ready = on_report;
	c.ro.report.ctx = &rep;
	rc = sb_cmd_run(&c, &sb_stage_tokenize);
	print_counts(&c, &rep.r.counts);
	return rc;
}
