/*
 * sb-tokenize - lines of text to tokens frames, with the model's WordPiece tokenizer,
 * as Hugging Face's tokenizer(texts, truncation=True, max_length=..., padding=...).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/tokenize.h"
#include "common.h"
#include "tokenizer.h"

enum {
	OPT_MAX_LENGTH = SB_OPT_FIRST_PRIVATE,
	OPT_TRUNCATION,
	OPT_NO_TRUNCATION,
	OPT_PAIRS,
	OPT_PADDING,
	OPT_PAD_MULTIPLE,
	OPT_BATCH,
	OPT_PROMPT,
	OPT_NO_TEXT,
	OPT_REPLACE_INVALID,
	OPT_TOKEN_TYPES,
	OPT_NO_TOKEN_TYPES,
	OPT_CHUNK,
	OPT_PROMPT_NAME
};

static void usage(FILE *fp, const char *prog)
{
	fprintf(fp,
		"usage: %s -m MODEL [options]\n"
		"Tokenize lines of UTF-8 text (one sentence a line) into tokens frames\n"
		"(input_ids, attention_mask, token_type_ids), as Hugging Face tokenizers does.\n\n"
		"  -m, --model MODEL          model folder or hub id (tokenizer.json, or vocab.txt\n"
		"                             + tokenizer_config.json)\n"
		"  -l, --max-length N         tokens per row with [CLS]/[SEP] (default: the\n"
		"                             model's max_seq_length)\n"
		"      --truncation STRATEGY  longest_first (default), only_first, only_second\n"
		"      --no-truncation        keep every token (rows may exceed the model's limit)\n"
		"      --pairs                each line is A<TAB>B: [CLS] A [SEP] B [SEP]\n"
		"      --padding MODE         longest (each frame to its longest row, default),\n"
		"                             max_length, or none (rows of equal length per frame)\n"
		"      --pad-to-multiple-of N round padded lengths up to a multiple of N\n"
		"  -b, --batch N              rows per frame (default 32)\n"
		"      --prompt TEXT          prepend TEXT to every line (sentence-transformers\n"
		"                             prompts); '' for none, not even the default\n"
		"      --prompt-name NAME     the prompt called NAME in the model's\n"
		"                             config_sentence_transformers.json (default: its\n"
		"                             default_prompt_name, if any)\n"
		"      --no-text              do not carry the lines in the frames\n"
		"      --replace-invalid      replace invalid UTF-8 with U+FFFD instead of failing\n"
		"      --token-type-ids       always emit token_type_ids\n"
		"      --no-token-type-ids    never emit them (default: when the model has segment\n"
		"                             embeddings, or with --pairs)\n"
		"      --chunk-bytes N        read lines longer than N bytes in pieces of N\n"
		"                             (default 1M): memory stays bounded\n"
		SB_CMD_COMMON_HELP, prog);
}

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

static const struct option longopts[] = {
	SB_CMD_LONGOPTS,
	{ "model", required_argument, NULL, 'm' },
	{ "max-length", required_argument, NULL, 'l' },
	{ "truncation", required_argument, NULL, OPT_TRUNCATION },
	{ "no-truncation", no_argument, NULL, OPT_NO_TRUNCATION },
	{ "pairs", no_argument, NULL, OPT_PAIRS },
	{ "padding", required_argument, NULL, OPT_PADDING },
	{ "pad-to-multiple-of", required_argument, NULL, OPT_PAD_MULTIPLE },
	{ "batch", required_argument, NULL, 'b' },
	{ "prompt", required_argument, NULL, OPT_PROMPT },
	{ "no-text", no_argument, NULL, OPT_NO_TEXT },
	{ "replace-invalid", no_argument, NULL, OPT_REPLACE_INVALID },
	{ "token-type-ids", no_argument, NULL, OPT_TOKEN_TYPES },
	{ "no-token-type-ids", no_argument, NULL, OPT_NO_TOKEN_TYPES },
	{ "chunk-bytes", required_argument, NULL, OPT_CHUNK },
	{ "prompt-name", required_argument, NULL, OPT_PROMPT_NAME },
	{ NULL, 0, NULL, 0 }
};

/* Options that only set a stage option. */
static const struct sb_cmd_pass passed[] = {
	{ OPT_NO_TRUNCATION, "truncation", "none" },
	{ OPT_PAIRS, "pairs", "1" },
	{ OPT_NO_TEXT, "text", "0" },
	{ OPT_REPLACE_INVALID, "replace_invalid", "1" },
	{ OPT_TOKEN_TYPES, "token_type_ids", "1" },
	{ OPT_NO_TOKEN_TYPES, "token_type_ids", "0" },
	{ 0, NULL, NULL }
};

/* The options that take a count: their bounds and the words of their message. */
static const struct count_opt {
	int opt;
	const char *flag, *what, *range;
	size_t lo, hi;
} count_opts[] = {
	{ 'l', "max-length", "a length", "1 to 16M", 1, (size_t)1 << 24 },
	{ OPT_PAD_MULTIPLE, "pad-to-multiple-of", "a number", "1 to 65536", 1, 65536 },
	{ 'b', "batch", "a number", "1 to 1000000", 1, 1000000 },
	{ OPT_CHUNK, "chunk-bytes", "a size", "1 to 1G", 1, (size_t)1 << 30 },
};

/* What the command line asked for, beyond the stage options it sets in c. */
struct args {
	const char *model, *prompt, *prompt_name;
	size_t max_length;
	char max_length_str[32], multiple_str[32];
};

/* A count option into *n: 1 when opt is one, 0 when not, -1 after a message. */
static int parse_count(const struct sb_cmd *c, int opt, const char *arg, size_t *n)
{
	for (size_t i = 0; i < sizeof(count_opts) / sizeof(count_opts[0]); i++) {
		const struct count_opt *o = &count_opts[i];

		if (o->opt != opt)
			continue;
		if (sb_cmd_parse_size(arg, n) || *n < o->lo || *n > o->hi) {
			fprintf(stderr, "%s: --%s: '%s' is not %s from %s\n", c->prog, o->flag,
				arg, o->what, o->range);
			return -1;
		}
		return 1;
	}
	return 0;
}

/* A count option taken: where its value goes. */
static void set_count(struct sb_cmd *c, struct args *a, int opt, size_t n)
{
	switch (opt) {
	case 'l':
		a->max_length = n;
		snprintf(a->max_length_str, sizeof(a->max_length_str), "%zu", n);
		sb_cmd_kv(c, "max_length", a->max_length_str);
		break;
	case OPT_PAD_MULTIPLE:
		snprintf(a->multiple_str, sizeof(a->multiple_str), "%zu", n);
		sb_cmd_kv(c, "pad_to_multiple_of", a->multiple_str);
		break;
	case 'b':
		c->ro.batch_rows = n;
		break;
	case OPT_CHUNK:
		c->ro.text_chunk = n;
		break;
	}
}

/* One option of this program: 0 when taken, else the exit status (-1: --help). */
static int parse_option(struct sb_cmd *c, void *user, int opt, const char *arg)
{
	struct args *a = user;
	enum sb_trunc tr;
	size_t n;
	int rc = parse_count(c, opt, arg, &n);

	if (rc < 0)
		return 2;
	if (rc) {
		set_count(c, a, opt, n);
		return 0;
	}
	switch (opt) {
	case 'h':
		usage(stdout, c->prog);
		return -1;
	case 'm':
		a->model = arg;
		return 0;
	case OPT_TRUNCATION:
		if (sb_trunc_parse(arg, &tr)) {
			fprintf(stderr, "%s: --truncation: '%s' is not one of longest_first, "
				"only_first, only_second, none\n", c->prog, arg);
			return 2;
		}
		sb_cmd_kv(c, "truncation", arg);
		return 0;
	case OPT_PADDING:
		if (strcmp(arg, "longest") && strcmp(arg, "max_length") && strcmp(arg, "none")) {
			fprintf(stderr, "%s: --padding: '%s' is not one of longest, max_length, "
				"none\n", c->prog, arg);
			return 2;
		}
		sb_cmd_kv(c, "padding", arg);
		return 0;
	case OPT_PROMPT:
		a->prompt = arg;
		sb_cmd_kv(c, "prompt", arg);
		return 0;
	case OPT_PROMPT_NAME:
		a->prompt_name = arg;
		sb_cmd_kv(c, "prompt_name", arg);
		return 0;
	default:
		usage(stderr, c->prog);
		return 2;
	}
}

/* The command line into c and a: -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct sb_cmd *c, struct args *a)
{
	int rc;

	if ((rc = sb_cmd_getopt(c, argc, argv, SB_CMD_SHORTOPTS "m:l:b:", longopts, passed,
				parse_option, a)) >= 0)
		return rc;
	if (sb_cmd_args(c, argc - optind, argv + optind, longopts, 1))
		return 2;
	if (optind != argc || !a->model) {
		if (!a->model && optind == argc)
			fprintf(stderr, "%s: no model given (-m MODEL)\n", c->prog);
		usage(stderr, c->prog);
		return 2;
	}
	if (a->prompt && a->prompt_name) {
		fprintf(stderr, "%s: --prompt and --prompt-name exclude each other\n", c->prog);
		usage(stderr, c->prog);
		return 2;
	}
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

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct report rep = { 0 };
	struct sb_cmd c;
	int rc;

	sb_cmd_init(&c, argv[0]);
	if ((rc = parse(argc, argv, &c, &a)) >= 0)
		return rc;
	a.model = sb_cmd_model(&c, a.model);
	if (!a.model)
		return 1;
	sb_cmd_kv(&c, "model", a.model);
	rep.c = &c;
	c.ro.report.out = &rep.r;
	c.ro.report.ready = on_report;
	c.ro.report.ctx = &rep;
	rc = sb_cmd_run(&c, &sb_stage_tokenize);
	print_counts(&c, &rep.r.counts);
	return rc;
}
