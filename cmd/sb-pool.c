/*
 * sb-pool - token vectors (hidden frames) to sentence embeddings, as
 * sentence-transformers' Pooling (+ Normalize, truncate_dim, quantization).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "opts.h"
#include "modules.h"
#include "pooling.h"

extern const struct sb_stage sb_stage_pool;

static const struct sb_cmd_usage usage = {
	"[options] [-m MODEL]",
	"Pool hidden frames (last_hidden_state + attention_mask) into embeddings frames\n"
	"(sentence_embedding), as sentence-transformers' Pooling does.\n",
	26, NULL, NULL
};

static const struct sb_cmd_opt opts[] = {
	{ "model", 'm', "MODEL", SB_CMD_OWN, NULL, NULL, 0, 0, NULL,
	  "take pooling, the Dense and LayerNorm modules after it\n"
	  "and Normalize from the model folder or hub id", 0 },
	{ "pooling", 'p', "MODES", SB_CMD_OWN, "pooling", NULL, 0, 0, NULL,
	  "cls,max,mean,mean_sqrt_len_tokens,weightedmean,lasttoken\n"
	  "(several are concatenated in that order; default: the\n"
	  "model's 1_Pooling/config.json, else mean)", 0 },
	{ "normalize", 0, NULL, SB_CMD_SWITCH, "normalize", "1", 0, 0, NULL,
	  "L2-normalize (eps 1e-12), after --truncate-dim", 0 },
	{ "no-normalize", 0, NULL, SB_CMD_SWITCH, "normalize", "0", 0, 0, NULL,
	  "do not, even if the model has a Normalize module", 0 },
	{ "truncate-dim", 0, "N", SB_CMD_STRING, "truncate_dim", NULL, 0, 0, NULL,
	  "keep the first N dimensions (Matryoshka models)", 0 },
	{ "precision", 0, "P", SB_CMD_STRING, "precision", NULL, 0, 0, NULL,
	  "float32 (default), int8, uint8, binary, ubinary", 0 },
	{ "calibration", 0, "FILE", SB_CMD_STRING, "calibration", NULL, 0, 0, NULL,
	  "int8/uint8 ranges made by --calibrate (required for them)", 0 },
	{ "calibrate", 0, "FILE", SB_CMD_STRING, "calibrate", NULL, 0, 0, NULL,
	  "write per-dimension ranges of the whole stream to FILE", 0 },
	{ NULL }
};

struct args {
	const char *model, *pooling;
};

/* -m and -p: the program reads the model's pooling itself when -p is not given. */
static int take_option(struct sb_cmd *c, void *user, const struct sb_cmd_opt *o,
		       const char *arg, size_t n)
{
	struct args *a = user;

	(void)n;
	if (o->flag == 'm') {
		a->model = arg;
	} else {
		a->pooling = arg;
		sb_cmd_kv(c, o->key, arg);
	}
	return 0;
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
	struct args a = { NULL, NULL };
	const char *model, *pooling;
	struct sb_cmd c;
	int rc;

	sb_cmd_init(&c, argv[0]);
	if ((rc = sb_cmd_parse(&c, argc, argv, &usage, opts, take_option, &a)) >= 0)
		return rc;
	model = a.model;
	pooling = a.pooling;
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
