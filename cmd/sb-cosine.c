/*
 * sb-cosine - similarity scores between sentence embeddings: pairs, the first row
 * against the others, all pairs (or top-k per row), paraphrase mining (the best pairs
 * overall), or top-k search in a corpus file.  Prints TSV by default, or writes scores
 * frames; --gold computes the STS Spearman and Pearson correlations.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/cosine.h"
#include "common.h"
#include "opts.h"
#include "frame.h"
#include "similarity.h"
#include "tsv.h"

/*
 * Reads column col (1-based) of every line of a TSV file as numbers.  A first line whose
 * column is not a number is a header (the Hugging Face STS-B files have one) and is
 * skipped; anywhere else it is an error.
 */
static int read_gold(const char *path, int col, double **out, size_t *n_out, struct sb_error *err)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, n = 0, lineno = 0, alloc = 0;
	double *v = NULL;
	ssize_t len;
	int rc = SB_OK;

	if (!fp)
		return sb_error_sys(err, SB_EIO, errno, "%s", path);
	while ((len = getline(&line, &cap, fp)) >= 0) {
		char *p = line, *end;
		lineno++;
		for (int c = 1; c < col && p; c++) {
			p = strchr(p, '\t');
			if (p)
				p++;
		}
		if (!p) {
			rc = sb_error_set(err, SB_EFORMAT, "%s: line %zu: no column %d", path,
					  lineno, col);
			break;
		}
		if (n == alloc) {
			double *q;
			alloc = alloc ? alloc * 2 : 1024;
			q = realloc(v, alloc * sizeof *q);
			if (!q) {
				rc = sb_error_set(err, SB_ENOMEM, "out of memory");
				break;
			}
			v = q;
		}
		errno = 0;
		v[n] = strtod(p, &end);
		if (end == p || (*end != '\t' && *end != '\n' && *end != '\r' && *end != '\0')) {
			if (lineno == 1)
				continue; /* a header */
			rc =
			    sb_error_set(err, SB_EFORMAT, "%s: line %zu: column %d is not a number",
					 path, lineno, col);
			break;
		}
		n++;
	}
	free(line);
	fclose(fp);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n_out = n;
	return SB_OK;
}

/* ---- the command line ---- */

static const struct sb_cmd_usage usage = {
	"[options] [--pairs | --all | --mine | --matrix | --corpus FILE]",
	"Score embeddings frames against each other; print TSV (a, b, score, texts).\n",
	26, NULL, NULL
};

/* The modes (SB_CMD_OWN with value set): one of them may be given. */
static const struct sb_cmd_opt opts[] = {
	{ "first", 0, NULL, SB_CMD_OWN, NULL, "first", 0, 0, NULL,
	  "the first row against every other row (default)", 0 },
	{ "pairs", 0, NULL, SB_CMD_OWN, NULL, "pairs", 0, 0, NULL,
	  "rows 2k and 2k+1: one score per pair", 0 },
	{ "all", 0, NULL, SB_CMD_OWN, NULL, "all", 0, 0, NULL,
	  "every pair i < j (with --top-k: the k best per row)", 0 },
	{ "mine", 0, NULL, SB_CMD_OWN, NULL, "mine", 0, 0, NULL,
	  "paraphrase mining: the best pairs i < j overall, best\n"
	  "first, among each row's top-k neighbours (k 100)", 0 },
	{ "matrix", 0, NULL, SB_CMD_OWN, NULL, "matrix", 0, 0, NULL,
	  "the full N x N matrix, one line per row", 0 },
	{ "corpus", 0, "FILE", SB_CMD_OWN, "corpus", "corpus", 0, 0, NULL,
	  "top-k rows of an embeddings file (sb-pool -o FILE)", 0 },
	{ "top-k", 'k', "K", SB_CMD_STRING, "top_k", NULL, 0, 0, NULL,
	  "with --all, --mine or --corpus (corpus default 10)", 0 },
	{ "max-pairs", 0, "N", SB_CMD_STRING, "max_pairs", NULL, 0, 0, NULL,
	  "--mine: print at most N pairs (default 500000)", 0 },
	{ "threshold", 0, "T", SB_CMD_STRING, "threshold", NULL, 0, 0, NULL,
	  "--all, --mine, --corpus: drop scores below T", 0 },
	{ "metric", 0, "M", SB_CMD_OWN, "metric", NULL, 0, 0, NULL,
	  "cosine (default), dot, euclidean, manhattan, hamming", 0 },
	{ "allow-mixed", 0, NULL, SB_CMD_SWITCH, "allow_mixed", "1", 0, 0, NULL,
	  "compare embeddings of different models, poolings or\nencoder precisions", 0 },
	{ "frames", 0, NULL, SB_CMD_OWN, NULL, NULL, 0, 0, NULL,
	  "write scores frames instead of TSV", 0 },
	{ "gold", 0, "FILE", SB_CMD_OWN, NULL, NULL, 0, 0, NULL,
	  "with --pairs: print the Spearman and Pearson correlations\n"
	  "of the scores with column 5 of the TSV FILE (STS layout)", 0 },
	{ "gold-column", 0, "N", SB_CMD_OWN, NULL, NULL, 0, 0, NULL,
	  "take the gold scores from column N instead", 0 },
	{ "query-batch", 0, "N", SB_CMD_STRING, "query_batch", NULL, 0, 0, NULL,
	  "--corpus: queries per pass over the corpus (1024)", 0 },
	{ "threads", 't', "N", SB_CMD_STRING, "threads", NULL, 0, 0, NULL,
	  "--corpus, --all -k, --mine: threads sharing the queries\n"
	  "(default: the cores available)", 0 },
	{ "block-rows", 0, "N", SB_CMD_STRING, "block_rows", NULL, 0, 0, NULL,
	  "rows per float32 product of the search (2048)", 0 },
	{ "kernels", 0, "ISA", SB_CMD_STRING, "kernels", NULL, 0, 0, NULL,
	  "auto (default), avx512, avx2, generic: avx512 runs the\n"
	  "search on sb's own product kernel, others on OpenBLAS", 0 },
	{ "exact", 0, NULL, SB_CMD_SWITCH, "exact", "1", 0, 0, NULL,
	  "score every pair one double dot product at a time\n"
	  "(the reference path; same output, slower)", 0 },
	{ NULL }
};

/* What the command line asked for, beyond the stage options it sets in c. */
struct args {
	const char *mode, *gold, *metric;
	int frames, gold_col, n_modes;
};

/* The options the table leaves to the program: 0 when taken, else the exit status. */
static int take_option(struct sb_cmd *c, void *user, const struct sb_cmd_opt *o,
		       const char *arg, size_t n)
{
	struct args *a = user;

	(void)n;
	if (o->value) {
		/* A mode. */
		a->mode = o->value;
		a->n_modes++;
		if (o->key)
			sb_cmd_kv(c, o->key, arg);
	} else if (!strcmp(o->name, "metric")) {
		a->metric = arg;
		sb_cmd_kv(c, o->key, arg);
	} else if (!strcmp(o->name, "frames")) {
		a->frames = 1;
	} else if (!strcmp(o->name, "gold")) {
		a->gold = arg;
	} else {
		a->gold_col = atoi(arg);
		if (a->gold_col < 1) {
			fprintf(stderr, "%s: --gold-column: expected a column number >= 1\n",
				c->prog);
			return 2;
		}
	}
	return 0;
}

/* The command line into c and a: -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct sb_cmd *c, struct args *a)
{
	struct sb_error err;
	enum sb_metric m;
	int rc;

	if ((rc = sb_cmd_getopts(c, argc, argv, &usage, opts, take_option, a)) >= 0)
		return rc;
	if (sb_cmd_args(c, argc - optind, argv + optind, sb_cmd_longopts(), a->frames))
		return 2;
	if (a->n_modes > 1)
		return sb_cmd_usage_error(c, "choose one of --first, --pairs, --all, --mine, "
					  "--matrix, --corpus");
	if (sb_metric_parse(a->metric, &m, &err) != SB_OK) {
		fprintf(stderr, "%s: --metric: %s\n", c->prog, err.msg);
		return 2;
	}
	if (a->gold && (!a->mode || strcmp(a->mode, "pairs") != 0 || a->frames)) {
		fprintf(stderr, "%s: --gold needs --pairs and TSV output\n", c->prog);
		return 2;
	}
	if (a->mode)
		sb_cmd_kv(c, "mode", a->mode);
	return -1;
}

/* TSV output: the runner hands the scores frames to out instead of writing them.
 * 0, or 1 after a message. */
static int setup_tsv(struct sb_cmd *c, const struct args *a, struct sb_tsv *out,
		     struct sb_emit *sink)
{
	out->fp = stdout;
	if (c->ro.output && strcmp(c->ro.output, "-") != 0) {
		out->fp = fopen(c->ro.output, "w");
		if (!out->fp) {
			fprintf(stderr, "%s: %s: %s\n", c->prog, c->ro.output, strerror(errno));
			return 1;
		}
	}
	out->gold = a->gold != NULL;
	sink->frame = sb_tsv_frame;
	sink->ctx = out;
	c->ro.sink = sink;
	c->ro.sink_bytes = &out->bytes;
	return 0;
}

/* Flushes and closes the TSV output; rc, or 1 when a write failed. */
static int close_tsv(const struct sb_cmd *c, struct sb_tsv *out, int rc)
{
	if ((fflush(out->fp) != 0 || ferror(out->fp)) && rc == 0 && errno != EPIPE) {
		fprintf(stderr, "%s: write: %s\n", c->prog, strerror(errno));
		rc = 1;
	}
	if (out->fp != stdout)
		fclose(out->fp);
	return rc;
}

/* -v: the search's kernels and rescoring; always: the zero vectors seen. */
static void print_stats(const struct sb_cmd *c, const struct sb_cosine_report *r)
{
	const struct sb_cosine_search *search_stats = &r->search;

	if (c->verbose && search_stats->threads)
		fprintf(stderr, "%s: search: products on %s, %d threads; rescored %llu pairs in "
			"double (%.1f per query row)\n", c->prog, search_stats->kernel,
			search_stats->threads, (unsigned long long)search_stats->rescored,
			search_stats->queries ? (double)search_stats->rescored /
					       (double)search_stats->queries : 0.0);
	if (r->zero_rows)
		fprintf(stderr, "%s: warning: %llu zero vectors: their cosine with anything is 0 "
			"by definition\n", c->prog, (unsigned long long)r->zero_rows);
}

/* --gold: Spearman and Pearson of the scores against the gold column.  0, or 1. */
static int report_gold(struct sb_cmd *c, const struct args *a, const struct sb_tsv *out)
{
	double *g = NULL, rho, r;
	struct sb_error err;
	size_t n = 0;
	int rc;

	rc = read_gold(a->gold, a->gold_col, &g, &n, &err);
	if (!rc && n != out->n)
		rc = sb_error_set(&err, SB_EMISMATCH, "%s: %zu gold scores, %zu pairs scored",
				  a->gold, n, out->n);
	/* Both, as sentence-transformers' EmbeddingSimilarityEvaluator reports them. */
	if (!rc)
		rc = sb_sim_spearman(g, out->scores, n, &rho, &err);
	if (!rc)
		rc = sb_sim_pearson(g, out->scores, n, &r, &err);
	free(g);
	if (rc) {
		sb_cmd_error(c, &err);
		return 1;
	}
	printf("spearman\t%.6f\tpairs\t%zu\tmetric\t%s\n", rho, n, a->metric);
	printf("pearson\t%.6f\tpairs\t%zu\tmetric\t%s\n", r, n, a->metric);
	return 0;
}

int main(int argc, char **argv)
{
	struct args a = { .metric = "cosine", .gold_col = 5 };
	struct sb_cosine_report report = { 0 };
	struct sb_tsv out = { 0 };
	struct sb_emit sink;
	struct sb_cmd c;
	int rc;

	sb_cmd_init(&c, argv[0]);
	if ((rc = parse(argc, argv, &c, &a)) >= 0)
		return rc;
	if (!a.frames && setup_tsv(&c, &a, &out, &sink))
		return 1;
	c.ro.report.out = &report;
	rc = sb_cmd_run(&c, &sb_stage_cosine);
	print_stats(&c, &report);
	if (!a.frames)
		rc = close_tsv(&c, &out, rc);
	if (rc == 0 && a.gold)
		rc = report_gold(&c, &a, &out);
	free(out.scores);
	return rc;
}
