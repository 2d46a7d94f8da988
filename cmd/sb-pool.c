/*
 * sb-pool - token vectors (hidden frames) to sentence embeddings, as
 * sentence-transformers' Pooling (+ Normalize, truncate_dim, quantization).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "modules.h"
#include "pooling.h"

extern const struct sb_stage sb_stage_pool;

enum {
	OPT_NORMALIZE = SB_OPT_FIRST_PRIVATE,
	OPT_NO_NORMALIZE,
	OPT_TRUNCATE_DIM,
	OPT_PRECISION,
	OPT_CALIBRATION,
	OPT_CALIBRATE
};

static void usage(FILE *fp, const char *prog)
{
	fprintf(
	    fp,
	    "usage: %s [options] [-m MODEL]\n"
	    "Pool hidden frames (last_hidden_state + attention_mask) into embeddings frames\n"
	    "(sentence_embedding), as sentence-transformers' Pooling does.\n\n"
	    "  -m, --model MODEL       take pooling, the Dense and LayerNorm modules after it\n"
	    "                          and Normalize from the model folder or hub id\n"
	    "  -p, --pooling MODES     cls,max,mean,mean_sqrt_len_tokens,weightedmean,lasttoken\n"
	    "                          (several are concatenated in that order; default: the\n"
	    "                          model's 1_Pooling/config.json, else mean)\n"
	    "      --normalize         L2-normalize (eps 1e-12), after --truncate-dim\n"
	    "      --no-normalize      do not, even if the model has a Normalize module\n"
	    "      --truncate-dim N    keep the first N dimensions (Matryoshka models)\n"
	    "      --precision P       float32 (default), int8, uint8, binary, ubinary\n"
	    "      --calibration FILE  int8/uint8 ranges made by --calibrate (required for them)\n"
	    "      --calibrate FILE    write per-dimension ranges of the whole stream to "
	    "FILE\n" SB_CMD_COMMON_HELP,
	    prog);
}

/* -v: the modules after Pooling that the stage applies (Dense, LayerNorm). */
static int modules_notice(const struct sb_cmd *c, const char *model)
{
	struct sb_modules *m = NULL;
	struct sb_error err;
	char buf[512];

	sb_error_clear(&err);
	if (sb_modules_open(&m, model, &err)) {
		sb_cmd_error(c, &err);
		return -1;
	}
	if (sb_modules_count(m))
		fprintf(stderr, "%s: then %s\n", c->prog, sb_modules_describe(m, buf, sizeof buf));
	sb_modules_close(&m);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    SB_CMD_LONGOPTS,
	    {"model", required_argument, NULL, 'm'},
	    {"pooling", required_argument, NULL, 'p'},
	    {"normalize", no_argument, NULL, OPT_NORMALIZE},
	    {"no-normalize", no_argument, NULL, OPT_NO_NORMALIZE},
	    {"truncate-dim", required_argument, NULL, OPT_TRUNCATE_DIM},
	    {"precision", required_argument, NULL, OPT_PRECISION},
	    {"calibration", required_argument, NULL, OPT_CALIBRATION},
	    {"calibrate", required_argument, NULL, OPT_CALIBRATE},
	    {NULL, 0, NULL, 0}};
	/* Options that only set a stage option. */
	static const struct sb_cmd_pass passed[] = {
	    {OPT_NORMALIZE, "normalize", "1"},
	    {OPT_NO_NORMALIZE, "normalize", "0"},
	    {OPT_TRUNCATE_DIM, "truncate_dim", NULL},
	    {OPT_PRECISION, "precision", NULL},
	    {OPT_CALIBRATION, "calibration", NULL},
	    {OPT_CALIBRATE, "calibrate", NULL},
	    {0, NULL, NULL}};
	const char *model = NULL, *pooling = NULL;
	struct sb_cmd c;
	int opt, rc;

	sb_cmd_init(&c, argv[0]);
	while ((opt = getopt_long(argc, argv, SB_CMD_SHORTOPTS "m:p:", longopts, NULL)) != -1) {
		rc = sb_cmd_option(&c, opt, optarg);
		if (rc < 0)
			return 2;
		if (rc || sb_cmd_pass(&c, passed, opt, optarg))
			continue;
		switch (opt) {
		case 'h':
			usage(stdout, c.prog);
			return 0;
		case 'm':
			model = optarg;
			break;
		case 'p':
			pooling = optarg;
			sb_cmd_kv(&c, "pooling", optarg);
			break;
		default:
			usage(stderr, c.prog);
			return 2;
		}
	}
	if (sb_cmd_args(&c, argc - optind, argv + optind, longopts, 1))
		return 2;
	if (optind != argc) {
		usage(stderr, c.prog);
		return 2;
	}
	if (model) {
		model = sb_cmd_model(&c, model);
		if (!model)
			return 1;
		sb_cmd_kv(&c, "model", model);
	}
	if (!pooling) {
		/* The stage itself falls back to mean silently; the notice is the program's. */
		struct sb_pooling p;
		struct sb_error err;
		char buf[96];

		sb_error_clear(&err);
		if (!model) {
			fprintf(stderr, "%s: no model and no --pooling given: using mean pooling\n",
				c.prog);
		} else if (sb_pooling_from_model(&p, model, &err) != SB_OK) {
			sb_cmd_error(&c, &err);
			return 1;
		} else if (!p.from_config) {
			fprintf(stderr,
				"%s: %s has no pooling configuration "
				"(1_Pooling/config.json): using mean pooling\n",
				c.prog, model);
		} else if (c.verbose) {
			fprintf(stderr, "%s: pooling %s%s%s (from %s)\n", c.prog,
				sb_pooling_modes_str(p.modes, buf, sizeof buf),
				p.include_prompt ? "" : " without the prompt's tokens",
				p.normalize ? " + normalize" : "", model);
		}
	}
	if (model && c.verbose && modules_notice(&c, model))
		return 1;
	return sb_cmd_run(&c, &sb_stage_pool);
}
