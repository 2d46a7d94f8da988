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
#include "frame.h"
#include "tsv.h"

enum {
	OPT_FACTORY = SB_OPT_FIRST_PRIVATE,
	OPT_TRAIN_SAMPLE,
	OPT_METRIC,
	OPT_NPROBE,
	OPT_EF_SEARCH,
	OPT_QUERY_BATCH,
	OPT_ALLOW_MIXED,
	OPT_FRAMES
};

static void usage(FILE *fp, const char *prog)
{
	fprintf(fp,
		"usage: %s build -o FILE [--factory STR] [--train-sample N] [options]\n"
		"       %s query FILE [-k K] [--nprobe N] [--ef-search N] [options]\n"
		"Build a FAISS index of an embeddings stream; find each input row's nearest rows\n"
		"in one (TSV a, b, score, texts, as sb-cosine --corpus).\n\n"
		"build:\n"
		"  -o, --output FILE       the index file (a FAISS index, then sb's provenance,\n"
		"                          texts and checksums)\n"
		"      --factory STR       FAISS factory string: Flat (default), HNSW32,\n"
		"                          IVF1024,Flat, IVF256,PQ64...\n"
		"      --train-sample N    rows IVF and PQ indexes are trained on: the first N\n"
		"                          (default 50000)\n"
		"      --metric M          cosine (default), dot, euclidean\n"
		"      --nprobe N          the nprobe written into an IVF index (default 16)\n"
		"      --ef-search N       the efSearch written into an HNSW index (default 128)\n"
		"query:\n"
		"  -k, --top-k K           rows per query (default 10)\n"
		"      --nprobe N          inverted lists visited per query (IVF indexes;\n"
		"                          default: the index's)\n"
		"      --ef-search N       HNSW's candidate list (default: the index's)\n"
		"      --query-batch N     queries per search (default 1024)\n"
		"      --allow-mixed       query with embeddings of another model, pooling or\n"
		"                          encoder precision\n"
		"      --frames            write scores frames instead of TSV\n"
		"  -o, --output SPEC       where the TSV or frames go (default -)\n"
		"both:\n"
		"  -t, --threads N         FAISS's threads (default: the cores available)\n"
		"  -i, --input SPEC        read from SPEC (default -)\n"
		"  -v, --verbose           print settings and statistics on stderr\n"
		"      --progress          show rows/s on stderr while running\n"
		"      --max-msg-bytes N   refuse frames larger than N bytes (default 2 GiB)\n"
		"  -h, --help              show this help\n"
		"      --version           print the version (-v: FAISS's too)\n",
		prog, prog);
}

/* The build stage emits nothing: its sink only sees the end frame. */
static int discard(void *ctx, const struct sb_frame *f, struct sb_error *err)
{
	return SB_OK;
}

/* Runs query with TSV output (or frames), as sb-cosine does. */
static int run_query(struct sb_cmd *c, int frames)
{
	struct sb_tsv out = {0};
	struct sb_emit sink;
	int rc;

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

static const struct option longopts[] = {
	SB_CMD_LONGOPTS,
	{ "factory", required_argument, NULL, OPT_FACTORY },
	{ "train-sample", required_argument, NULL, OPT_TRAIN_SAMPLE },
	{ "metric", required_argument, NULL, OPT_METRIC },
	{ "top-k", required_argument, NULL, 'k' },
	{ "nprobe", required_argument, NULL, OPT_NPROBE },
	{ "ef-search", required_argument, NULL, OPT_EF_SEARCH },
	{ "query-batch", required_argument, NULL, OPT_QUERY_BATCH },
	{ "allow-mixed", no_argument, NULL, OPT_ALLOW_MIXED },
	{ "frames", no_argument, NULL, OPT_FRAMES },
	{ "threads", required_argument, NULL, 't' },
	{ NULL, 0, NULL, 0 }
};

/* Options that only set a stage option. */
static const struct sb_cmd_pass passed[] = {
	{ OPT_FACTORY, "factory", NULL },
	{ OPT_TRAIN_SAMPLE, "train_sample", NULL },
	{ OPT_METRIC, "metric", NULL },
	{ 'k', "top_k", NULL },
	{ OPT_NPROBE, "nprobe", NULL },
	{ OPT_EF_SEARCH, "ef_search", NULL },
	{ OPT_QUERY_BATCH, "query_batch", NULL },
	{ OPT_ALLOW_MIXED, "allow_mixed", "1" },
	{ 't', "threads", NULL },
	{ 0, NULL, NULL }
};

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
		usage(stdout, c->prog);
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
	usage(stderr, c->prog);
	return 2;
}

/* An option of the other subcommand: 2 after naming it, else 0. */
static int other_subcommand(const struct sb_cmd *c, int build, int opt)
{
	const struct option *o = longopts;

	if (build ? !(opt == 'k' || opt == OPT_QUERY_BATCH || opt == OPT_ALLOW_MIXED || opt == OPT_FRAMES)
		  : !(opt == OPT_FACTORY || opt == OPT_TRAIN_SAMPLE || opt == OPT_METRIC))
		return 0;
	while (o->name && o->val != opt)
		o++;
	fprintf(stderr, "%s: --%s: an option of sb-index %s\n", c->prog, o->name,
		build ? "query" : "build");
	return 2;
}

/* The options after the subcommand: -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct sb_cmd *c, struct args *a)
{
	int opt, rc;

	while ((opt = getopt_long(argc, argv, SB_CMD_SHORTOPTS "k:t:", longopts, NULL)) != -1) {
		if (a->build && opt == 'o') {
			a->out = optarg;
			continue;
		}
		rc = sb_cmd_option(c, opt, optarg);
		if (rc < 0)
			return 2;
		if (rc)
			continue;
		if (other_subcommand(c, a->build, opt))
			return 2;
		if (sb_cmd_pass(c, passed, opt, optarg))
			continue;
		if (opt == 'h') {
			usage(stdout, c->prog);
			return 0;
		}
		if (opt != OPT_FRAMES) {
			usage(stderr, c->prog);
			return 2;
		}
		a->frames = 1;
	}
	return -1;
}

/* sb-index build: the stage writes the index; its frames are discarded. */
static int run_build(struct sb_cmd *c, const struct args *a, int argc, char **argv)
{
	struct sb_emit sink;

	if (!a->out) {
		fprintf(stderr, "%s: build needs -o FILE\n", c->prog);
		return 2;
	}
	if (sb_cmd_args(c, argc - optind, argv + optind, longopts, 0))
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
	argc--;
	argv++;
	if ((rc = parse(argc, argv, &c, &a)) >= 0)
		return rc;
	if (a.build)
		return run_build(&c, &a, argc, argv);
	if (optind >= argc) {
		fprintf(stderr, "%s: query needs the index FILE\n", c.prog);
		return 2;
	}
	sb_cmd_kv(&c, "index", argv[optind]);
	if (sb_cmd_args(&c, argc - optind - 1, argv + optind + 1, longopts, a.frames))
		return 2;
	return run_query(&c, a.frames);
}
