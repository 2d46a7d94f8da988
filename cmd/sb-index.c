/*
 * sb-index - FAISS indexes of embeddings: `build` reads an embeddings stream and writes
 * an index file, `query` is a stage that finds each input row's nearest rows in one and
 * prints them as sb-cosine --corpus does (TSV, or scores frames with --frames).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/faiss.h"
#include "../plugins/index.h"
#include "common.h"
#include "opts.h"
#include "frame.h"
#include "tsv.h"

/* The subcommands, as bits of the table's entries (opts.h). */
enum { BUILD = 1, QUERY = 2 };

static const char *const subs[] = { "build", "query", "both", NULL };

static const struct sb_cmd_usage usage = {
	"build -o FILE [--factory STR] [--train-sample N] [options]\n"
	"query FILE [-k K] [--nprobe N] [--ef-search N] [options]",
	"Build a FAISS index of an embeddings stream; find each input row's nearest rows\n"
	"in one (TSV a, b, score, texts, as sb-cosine --corpus).\n",
	26, subs, ""
};

/* The stage checks the values (sb_kv_count), its messages naming the options. */
static const struct sb_cmd_opt opts[] = {
	{ "output", 'o', "FILE", SB_CMD_OWN, NULL, NULL, 0, 0, NULL,
	  "the index file (a FAISS index, then sb's provenance,\n"
	  "texts and checksums)", BUILD },
	{ "factory", 0, "STR", SB_CMD_STRING, "factory", NULL, 0, 0, NULL,
	  "FAISS factory string: Flat (default), HNSW32,\n"
	  "IVF1024,Flat, IVF256,PQ64...", BUILD },
	{ "train-sample", 0, "N", SB_CMD_STRING, "train_sample", NULL, 0, 0, NULL,
	  "rows IVF and PQ indexes are trained on: the first N\n"
	  "(default 50000)", BUILD },
	{ "metric", 0, "M", SB_CMD_STRING, "metric", NULL, 0, 0, NULL,
	  "cosine (default), dot, euclidean", BUILD },
	{ "nprobe", 0, "N", SB_CMD_STRING, "nprobe", NULL, 0, 0, NULL,
	  "the nprobe written into an IVF index (default 16)", BUILD },
	{ "ef-search", 0, "N", SB_CMD_STRING, "ef_search", NULL, 0, 0, NULL,
	  "the efSearch written into an HNSW index (default 128)", BUILD },
	{ "top-k", 'k', "K", SB_CMD_STRING, "top_k", NULL, 0, 0, NULL,
	  "rows per query (default 10)", QUERY },
	{ "nprobe", 0, "N", SB_CMD_STRING, "nprobe", NULL, 0, 0, NULL,
	  "inverted lists visited per query (IVF indexes;\n"
	  "default: the index's)", QUERY },
	{ "ef-search", 0, "N", SB_CMD_STRING, "ef_search", NULL, 0, 0, NULL,
	  "HNSW's candidate list (default: the index's)", QUERY },
	{ "query-batch", 0, "N", SB_CMD_STRING, "query_batch", NULL, 0, 0, NULL,
	  "queries per search (default 1024)", QUERY },
	{ "allow-mixed", 0, NULL, SB_CMD_SWITCH, "allow_mixed", "1", 0, 0, NULL,
	  "query with embeddings of another model, pooling or\n"
	  "encoder precision", QUERY },
	{ "frames", 0, NULL, SB_CMD_OWN, NULL, NULL, 0, 0, NULL,
	  "write scores frames instead of TSV", QUERY },
	{ "output", 'o', "SPEC", SB_CMD_COMMON, NULL, NULL, 0, 0, NULL,
	  "where the TSV or frames go (default -)", QUERY },
	{ "threads", 't', "N", SB_CMD_STRING, "threads", NULL, 0, 0, NULL,
	  "FAISS's threads (default: the cores available)", 0 },
	{ "input", 'i', "SPEC", SB_CMD_COMMON, NULL, NULL, 0, 0, NULL,
	  "read from SPEC (default -)", 0 },
	{ "verbose", 'v', NULL, SB_CMD_COMMON, NULL, NULL, 0, 0, NULL,
	  "print settings and statistics on stderr", 0 },
	{ "progress", 0, NULL, SB_CMD_COMMON, NULL, NULL, 0, 0, NULL,
	  "show rows/s on stderr while running", 0 },
	{ "max-msg-bytes", 0, "N", SB_CMD_COMMON, NULL, NULL, 0, 0, NULL,
	  "refuse frames larger than N bytes (default 2 GiB)", 0 },
	{ "help", 'h', NULL, SB_CMD_COMMON, NULL, NULL, 0, 0, NULL,
	  "show this help", 0 },
	{ "version", 0, NULL, SB_CMD_COMMON, NULL, NULL, 0, 0, NULL,
	  "print the version (-v: FAISS's too)", 0 },
	{ NULL }
};

/* The build stage emits nothing: its sink only sees the end frame. */
static int discard(void *ctx, const struct sb_frame *f, struct sb_error *err)
{
	return SB_OK;
}

/* What query -v prints from: the program, the stage's report. */
struct verbose {
	const struct sb_cmd *c;
	struct sb_index_report r;
};

/* -v, once the index is open: the search parameters in use. */
static void print_params(void *ctx, int final)
{
	const struct verbose *v = ctx;
	const struct sb_index_report *r = &v->r;

	if (final)
		return;
	fprintf(stderr, "%s: index %s ('%s'): ", v->c->prog, r->path,
		r->factory ? r->factory : "?");
	if (r->nprobe < 0 && r->ef_search < 0)
		fputs("exhaustive search (no nprobe, no efSearch)\n", stderr);
	else if (r->ef_search < 0)
		fprintf(stderr, "nprobe %ld\n", r->nprobe);
	else if (r->nprobe < 0)
		fprintf(stderr, "efSearch %ld\n", r->ef_search);
	else
		fprintf(stderr, "nprobe %ld, efSearch %ld\n", r->nprobe, r->ef_search);
}

/* Runs query with TSV output (or frames), as sb-cosine does. */
static int run_query(struct sb_cmd *c, int frames)
{
	static struct verbose v;
	struct sb_tsv out = {0};
	struct sb_emit sink;
	int rc;

	if (c->verbose) {
		v.c = c;
		c->ro.report.out = &v.r;
		c->ro.report.ready = print_params;
		c->ro.report.ctx = &v;
	}
	if (frames)
		return sb_cmd_run(c, &sb_stage_index_query);
	out.fp = stdout;
	if (c->ro.output && strcmp(c->ro.output, "-") != 0) {
		out.fp = fopen(c->ro.output, "w");
		if (!out.fp) {
			fprintf(stderr, "%s: %s: %s\n", c->prog, c->ro.output, strerror(errno));
			return 1;
		}
	}
	sink.frame = sb_tsv_frame;
	sink.ctx = &out;
	c->ro.sink = &sink;
	c->ro.sink_bytes = &out.bytes;
	rc = sb_cmd_run(c, &sb_stage_index_query);
	if ((fflush(out.fp) != 0 || ferror(out.fp)) && rc == 0 && errno != EPIPE) {
		fprintf(stderr, "%s: write: %s\n", c->prog, strerror(errno));
		rc = 1;
	}
	if (out.fp != stdout)
		fclose(out.fp);
	return rc;
}

/* What the command line asked for, beyond the stage options it sets in c. */
struct args {
	int build, frames;
	const char *out;
};

/* No subcommand: --help, --version (-v: also FAISS's) or a usage error. */
static int no_subcommand(struct sb_cmd *c, int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	int verbose = 0, version = 0, rc;

	if (argc > 1 && (!strcmp(cmd, "-h") || !strcmp(cmd, "--help"))) {
		sb_cmd_usage(stdout, c->prog, &usage, opts);
		return 0;
	}
	for (int i = 1; cmd[0] == '-' && i < argc; i++) {
		verbose |= !strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose");
		version |= !strcmp(argv[i], "--version");
	}
	if (version) {
		rc = sb_cmd_version(c->prog, verbose);
		if (!rc && verbose && printf("faiss: %s\n", sb_faiss_version()) < 0)
			rc = 1;
		return rc;
	}
	fprintf(stderr, "%s: expected build or query%s%s\n", c->prog, *cmd ? ", not " : "", cmd);
	sb_cmd_usage(stderr, c->prog, &usage, opts);
	return 2;
}

/* -o FILE of build and --frames of query. */
static int take_option(struct sb_cmd *c, void *user, const struct sb_cmd_opt *o,
		       const char *arg, size_t n)
{
	struct args *a = user;

	(void)c;
	(void)n;
	if (o->flag == 'o')
		a->out = arg;
	else
		a->frames = 1;
	return 0;
}

/* sb-index build: the stage writes the index; its frames are discarded. */
static int run_build(struct sb_cmd *c, const struct args *a, int argc, char **argv)
{
	struct sb_emit sink;

	if (!a->out) {
		fprintf(stderr, "%s: build needs -o FILE\n", c->prog);
		return 2;
	}
	if (sb_cmd_args(c, argc - optind, argv + optind, sb_cmd_longopts(), 0))
		return 2;
	sb_cmd_kv(c, "out", a->out);
	sink.frame = discard;
	sink.ctx = NULL;
	c->ro.sink = &sink;
	return sb_cmd_run(c, &sb_stage_index_build);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	struct args a = { 0 };
	struct sb_cmd c;
	int rc;

	sb_cmd_init(&c, "sb-index");
	if (strcmp(cmd, "build") != 0 && strcmp(cmd, "query") != 0)
		return no_subcommand(&c, argc, argv);
	a.build = !strcmp(cmd, "build");
	c.sub = a.build ? BUILD : QUERY;
	/* The options after the subcommand, getopt's messages naming the program. */
	argv[1] = argv[0];
	argc--;
	argv++;
	if ((rc = sb_cmd_getopts(&c, argc, argv, &usage, opts, take_option, &a)) >= 0)
		return rc;
	if (a.build)
		return run_build(&c, &a, argc, argv);
	if (optind >= argc) {
		fprintf(stderr, "%s: query needs the index FILE\n", c.prog);
		return 2;
	}
	sb_cmd_kv(&c, "index", argv[optind]);
	if (sb_cmd_args(&c, argc - optind - 1, argv + optind + 1, sb_cmd_longopts(), a.frames))
		return 2;
	return run_query(&c, a.frames);
}
