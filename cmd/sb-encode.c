/*
 * sb-encode - token ids (tokens frames) to the encoder's last hidden state (hidden
 * frames), or straight to pooled sentence embeddings with --pool, or to a
 * cross-encoder's scores with --head classify.
 */
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../plugins/encode.h"
#include "common.h"
#include "opts.h"
#include "lowp.h"
#include "modules.h"
#include "ops.h"
#include "par.h"
#include "pooling.h"

/*
 * What -p MODES leaves out of a model whose modules.json has Dense or LayerNorm
 * modules after Pooling (--pool model applies them): a warning, since the
 * embeddings are then not the model's.  With -v, what --pool model applies.
 */
static int pool_notice(const struct sb_cmd *c, const char *model, const char *pool)
{
	struct sb_pooling p;
	struct sb_modules *m = NULL;
	struct sb_error err;
	char buf[512], modes[96];

	sb_error_clear(&err);
	if (strcmp(pool, "model") != 0) {
		/* Explicit modes need nothing from the folder: its problems are a warning. */
		if (sb_pooling_from_model(&p, model, &err))
			fprintf(stderr, "%s: --pool %s: not the model's embeddings: %s\n", c->prog,
				pool, err.msg);
		else if (p.n_modules)
			fprintf(stderr, "%s: --pool %s: the modules after Pooling in %s/modules.json "
				"(Dense, LayerNorm) are not applied; --pool model applies them\n",
				c->prog, pool, model);
		return 0;
	}
	if (!c->verbose)
		return 0;
	if (sb_pooling_from_model(&p, model, &err) || sb_modules_open(&m, model, &err)) {
		sb_cmd_error(c, &err);
		return -1;
	}
	fprintf(stderr, "%s: pooling %s%s%s%s%s\n", c->prog,
		sb_pooling_modes_str(p.modes, modes, sizeof(modes)),
		p.include_prompt ? "" : " without the prompt's tokens (include_prompt false)",
		sb_modules_count(m) ? ", then " : "", sb_modules_describe(m, buf, sizeof(buf)),
		p.normalize ? ", normalize" : "");
	sb_modules_close(&m);
	return 0;
}

static int cores_available(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* ---- the command line ---- */

#define STR(x) STR_(x)
#define STR_(x) #x

static const struct sb_cmd_usage usage = {
	"[options] -m MODEL",
	"Run a DistilBERT, BERT or RoBERTa-family encoder over tokens frames (input_ids,\n"
	"attention_mask[, token_type_ids]) and write hidden frames (last_hidden_state,\n"
	"attention_mask), embeddings frames with --pool, or scores frames with --head.\n",
	28, NULL, NULL
};

static const struct sb_cmd_opt opts[] = {
	{ "model", 'm', "MODEL", SB_CMD_OWN, NULL, NULL, 0, 0, NULL,
	  "model folder or hub id (config.json +\nmodel.safetensors or pytorch_model.bin)", 0 },
	{ "pool", 'p', "MODES", SB_CMD_OWN, "pool", NULL, 0, 0, NULL,
	  "pool in-process and write embeddings: cls, max,\n"
	  "mean, mean_sqrt_len_tokens, weightedmean,\n"
	  "lasttoken (comma-separated), or 'model' for the\n"
	  "model's 1_Pooling config and its Dense and\nLayerNorm modules", 0 },
	{ "normalize", 0, NULL, SB_CMD_OWN, "normalize", "1", 0, 0, NULL,
	  "L2-normalize the pooled embeddings", 0 },
	{ "head", 0, "classify", SB_CMD_OWN, "head", NULL, 0, 0, NULL,
	  "a cross-encoder: the model's sequence-classification\n"
	  "head on each row (sb-tokenize --pairs), scores out", 0 },
	{ "logits", 0, NULL, SB_CMD_OWN, "logits", "1", 0, 0, NULL,
	  "with --head: the raw logits, not the sigmoid that\n"
	  "sentence-transformers applies to one label", 0 },
	{ "threads", 't', "N", SB_CMD_COUNT, NULL, NULL, 1, SB_PAR_MAX,
	  "expected 1 to " STR(SB_PAR_MAX) ", got '{}'",
	  "threads, each running whole sentences (default:\nthe cores available)", 0 },
	{ "blas-threads", 0, "N", SB_CMD_COUNT, NULL, NULL, 1, SB_PAR_MAX,
	  "expected 1 to " STR(SB_PAR_MAX) ", got '{}'",
	  "one thread, every product by OpenBLAS with N threads", 0 },
	{ "max-batch-tokens", 0, "N", SB_CMD_COUNT, "max_batch_tokens", NULL, 1, SIZE_MAX,
	  "invalid count '{}'", "real tokens per sub-batch and thread (default 2048)", 0 },
	{ "kernels", 0, "ISA", SB_CMD_OWN, "kernels", NULL, 0, 0, NULL,
	  "auto (default), avx512, avx2, generic", 0 },
	{ "no-fuse-qkv", 0, NULL, SB_CMD_SWITCH, "fuse_qkv", "0", 0, 0, NULL,
	  "three Q, K, V products per layer instead of one", 0 },
	{ "precision", 0, "P", SB_CMD_OWN, "precision", NULL, 0, 0, NULL,
	  "f32 (default), bf16 or int8: arithmetic of the\n"
	  "dense products (weights converted at load)", 0 },
	{ "lowp-kernels", 0, "SET", SB_CMD_OWN, "lowp_kernels", NULL, 0, 0, NULL,
	  "auto (default), generic, avx_vnni, avx512_vnni,\n"
	  "avx512_bf16, avx512, amx: kernels of the bf16 /\nint8 products", 0 },
	{ "allow-mixed", 0, NULL, SB_CMD_OWN, "allow_mixed", "1", 0, 0, NULL,
	  "encode tokens whose tokenizer_fingerprint is not\n"
	  "that of MODEL's tokenizer (default: refused)", 0 },
	{ NULL }
};

/* What the command line asked for, beyond the stage options it sets in c. */
struct args {
	const char *model, *threads, *blas_threads, *pool, *head;
	int normalize, allow_mixed, logits;
	enum sb_lowp prec;
	enum sb_lowp_isa lowp_isa;
	enum sb_ops_isa isa;
	char thr[16];
};

/* --kernels, --precision, --lowp-kernels: a name the library parses.  0, or 2. */
static int parse_named(struct sb_cmd *c, struct args *a, const struct sb_cmd_opt *o,
		       const char *arg)
{
	struct sb_error err;
	int rc = !strcmp(o->name, "kernels") ? sb_ops_isa_parse(arg, &a->isa, &err) :
		 !strcmp(o->name, "precision") ? sb_lowp_parse(arg, &a->prec, &err) :
		 sb_lowp_isa_parse(arg, &a->lowp_isa, &err);

	if (rc) {
		fprintf(stderr, "%s: --%s: %s\n", c->prog, o->name, err.msg);
		return 2;
	}
	sb_cmd_kv(c, o->key, arg);
	return 0;
}

/* The options the table leaves to the program: 0 when taken, else the exit status. */
static int take_option(struct sb_cmd *c, void *user, const struct sb_cmd_opt *o,
		       const char *arg, size_t n)
{
	struct args *a = user;

	(void)n;
	switch (o->flag) {
	case 'm':
		a->model = arg;
		return 0;
	case 't':
		a->threads = arg;
		return 0;
	case 'p':
		a->pool = arg;
		break;
	}
	if (!strcmp(o->name, "blas-threads")) {
		a->blas_threads = arg;
		return 0;
	}
	if (!strcmp(o->name, "kernels") || !strcmp(o->name, "precision") ||
	    !strcmp(o->name, "lowp-kernels"))
		return parse_named(c, a, o, arg);
	if (!strcmp(o->name, "head")) {
		if (strcmp(arg, "classify"))
			return sb_cmd_usage_error(c, "--head: '%s' is not one of classify", arg);
		a->head = arg;
	}
	a->normalize |= !strcmp(o->name, "normalize");
	a->allow_mixed |= !strcmp(o->name, "allow-mixed");
	a->logits |= !strcmp(o->name, "logits");
	sb_cmd_kv(c, o->key, o->arg ? arg : o->value);
	return 0;
}

/* The options that go together or exclude each other.  0, or 2 after a message. */
static int check_args(struct sb_cmd *c, const struct args *a)
{
	const char *why = !a->model ? "no model given (-m MODEL)" :
			  a->normalize && !a->pool ? "--normalize needs --pool" :
			  a->logits && !a->head ? "--logits needs --head" :
			  a->head && a->pool ? "--head and --pool exclude each other" : NULL;

	return why ? sb_cmd_usage_error(c, "%s", why) : 0;
}

/* The command line into c and a: -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct sb_cmd *c, struct args *a)
{
	int rc;

	if ((rc = sb_cmd_parse(c, argc, argv, &usage, opts, take_option, a)) >= 0)
		return rc;
	return check_args(c, a) ? 2 : -1;
}

/* The model folder and the threads as stage options: -1 to go on, else the exit status. */
static int setup(struct sb_cmd *c, struct args *a)
{
	a->model = sb_cmd_model(c, a->model);
	if (!a->model)
		return 1;
	sb_cmd_kv(c, "model", a->model);
	if (a->threads && a->blas_threads) {
		fprintf(stderr, "%s: --threads and --blas-threads exclude each other\n", c->prog);
		return 2;
	}
	if (a->blas_threads) {
		sb_cmd_kv(c, "blas_threads", a->blas_threads);
	} else {
		if (!a->threads) {
			snprintf(a->thr, sizeof(a->thr), "%d", cores_available());
			a->threads = a->thr;
		}
		sb_cmd_kv(c, "threads", a->threads);
	}
	if (a->blas_threads && a->prec != SB_LOWP_F32) {
		fprintf(stderr, "%s: --precision %s and --blas-threads exclude each other\n",
			c->prog, sb_lowp_name(a->prec));
		return 2;
	}
	return -1;
}

/* -v: the model, threads, kernels and precision the stage will use. */
static void print_settings(const struct sb_cmd *c, const struct args *a)
{
	const char *bt = a->blas_threads;

	/* The stage selects the kernels again; a set the cpu lacks is its error. */
	sb_ops_select(a->isa, NULL);
	sb_lowp_select(a->lowp_isa, NULL);
	fprintf(stderr, "%s: model %s; threads: %s%s%s; blas: OpenBLAS core %s; "
		"kernels: %s; precision %s, products by %s kernels\n", c->prog, a->model,
		bt ? "1" : a->threads, bt ? ", blas threads: " : "", bt ? bt : "",
		sb_ops_blas_core(), sb_ops_isa_name(), sb_lowp_name(a->prec),
		bt ? "OpenBLAS" : sb_lowp_kernel_name(a->prec));
	if (a->prec == SB_LOWP_BF16 && !bt)
		fprintf(stderr, "%s: bf16 weights; Q|K|V's and the attention output's inputs "
			"split into two bf16 (hi + lo), the feed-forward's one bf16; attention's "
			"keys and values one bf16\n", c->prog);
	if (a->prec == SB_LOWP_INT8 && !bt)
		fprintf(stderr, "%s: int8 feed-forward; Q|K|V, attention and its output in bf16 "
			"by %s kernels\n", c->prog, sb_lowp_kernel_name(SB_LOWP_BF16));
	if (a->prec != SB_LOWP_F32 && !bt && a->lowp_isa == SB_LOWP_ISA_AUTO &&
	    sb_lowp_amx_unavailable())
		fprintf(stderr, "%s: amx kernels not used: %s\n", c->prog,
			sb_lowp_amx_unavailable());
}

/* -v: what the stage's report says of the tokenizer fingerprints it checked. */
static void print_report(const struct sb_cmd *c, const struct args *a, int seen,
			 const struct sb_encode_report *r)
{
	if (a->allow_mixed)
		fprintf(stderr, "%s: tokenizer fingerprints not checked (--allow-mixed)\n",
			c->prog);
	else if (seen && !r->tokenizer_found)
		fprintf(stderr, "%s: %s has no tokenizer: tokenizer fingerprints not checked\n",
			c->prog, a->model);
	else if (r->frames_unchecked)
		fprintf(stderr, "%s: %llu tokens frames without a tokenizer_fingerprint accepted "
			"unchecked\n", c->prog, (unsigned long long)r->frames_unchecked);
}

/* The report came (the stage opened): it says whether a tokenizer was found. */
static void on_report(void *ctx, int final)
{
	(void)final;
	*(int *)ctx = 1;
}

int main(int argc, char **argv)
{
	struct args a = { .prec = SB_LOWP_F32, .lowp_isa = SB_LOWP_ISA_AUTO, .isa = SB_OPS_AUTO };
	struct sb_encode_report report = { 0 };
	struct sb_cmd c;
	int rc, seen = 0;

	sb_cmd_init(&c, argv[0]);
	if ((rc = parse(argc, argv, &c, &a)) >= 0 || (rc = setup(&c, &a)) >= 0)
		return rc;
	if (c.verbose)
		print_settings(&c, &a);
	if (a.pool && pool_notice(&c, a.model, a.pool))
		return 1;
	c.ro.report.out = &report;
	c.ro.report.ready = on_report;
	c.ro.report.ctx = &seen;
	rc = sb_cmd_run(&c, &sb_stage_encode);
	if (c.verbose)
		print_report(&c, &a, seen, &report);
	return rc;
}
