/*
 * sb-encode - token ids (tokens frames) to the encoder's last hidden state (hidden
 * frames), or straight to pooled sentence embeddings with --pool, or to a
 * cross-encoder's scores with --head classify.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../plugins/encode.h"
#include "common.h"
#include "lowp.h"
#include "modules.h"
#include "ops.h"
#include "par.h"
#include "pooling.h"

enum {
	OPT_POOL = SB_OPT_FIRST_PRIVATE,
	OPT_NORMALIZE,
	OPT_THREADS,
	OPT_MAX_BATCH_TOKENS,
	OPT_KERNELS,
	OPT_NO_FUSE_QKV,
	OPT_BLAS_THREADS,
	OPT_ALLOW_MIXED,
	OPT_PRECISION,
	OPT_LOWP_KERNELS,
	OPT_HEAD,
	OPT_LOGITS
};

static void usage(FILE *fp, const char *prog)
{
	fprintf(fp,
		"usage: %s [options] -m MODEL\n"
		"Run a DistilBERT, BERT or RoBERTa-family encoder over tokens frames (input_ids,\n"
		"attention_mask[, token_type_ids]) and write hidden frames (last_hidden_state,\n"
		"attention_mask), embeddings frames with --pool, or scores frames with --head.\n\n"
		"  -m, --model MODEL         model folder or hub id (config.json +\n"
		"                            model.safetensors or pytorch_model.bin)\n"
		"  -p, --pool MODES          pool in-process and write embeddings: cls, max,\n"
		"                            mean, mean_sqrt_len_tokens, weightedmean,\n"
		"                            lasttoken (comma-separated), or 'model' for the\n"
		"                            model's 1_Pooling config and its Dense and\n"
		"                            LayerNorm modules\n"
		"      --normalize           L2-normalize the pooled embeddings\n"
		"      --head classify       a cross-encoder: the model's sequence-classification\n"
		"                            head on each row (sb-tokenize --pairs), scores out\n"
		"      --logits              with --head: the raw logits, not the sigmoid that\n"
		"                            sentence-transformers applies to one label\n"
		"  -t, --threads N           threads, each running whole sentences (default:\n"
		"                            the cores available)\n"
		"      --blas-threads N      one thread, every product by OpenBLAS with N threads\n"
		"      --max-batch-tokens N  real tokens per sub-batch and thread (default 2048)\n"
		"      --kernels ISA         auto (default), avx512, avx2, generic\n"
		"      --no-fuse-qkv         three Q, K, V products per layer instead of one\n"
		"      --precision P         f32 (default), bf16 or int8: arithmetic of the\n"
		"                            dense products (weights converted at load)\n"
		"      --lowp-kernels SET    auto (default), generic, avx_vnni, avx512_vnni,\n"
		"                            avx512_bf16, avx512, amx: kernels of the bf16 /\n"
		"                            int8 products\n"
		"      --allow-mixed         encode tokens whose tokenizer_fingerprint is not\n"
		"                            that of MODEL's tokenizer (default: refused)\n"
		SB_CMD_COMMON_HELP, prog);
}

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

static const struct option longopts[] = {
	SB_CMD_LONGOPTS,
	{ "model", required_argument, NULL, 'm' },
	{ "pool", required_argument, NULL, 'p' },
	{ "normalize", no_argument, NULL, OPT_NORMALIZE },
	{ "threads", required_argument, NULL, 't' },
	{ "blas-threads", required_argument, NULL, OPT_BLAS_THREADS },
	{ "max-batch-tokens", required_argument, NULL, OPT_MAX_BATCH_TOKENS },
	{ "kernels", required_argument, NULL, OPT_KERNELS },
	{ "no-fuse-qkv", no_argument, NULL, OPT_NO_FUSE_QKV },
	{ "allow-mixed", no_argument, NULL, OPT_ALLOW_MIXED },
	{ "precision", required_argument, NULL, OPT_PRECISION },
	{ "lowp-kernels", required_argument, NULL, OPT_LOWP_KERNELS },
	{ "head", required_argument, NULL, OPT_HEAD },
	{ "logits", no_argument, NULL, OPT_LOGITS },
	{ NULL, 0, NULL, 0 }
};

/* Options that only set a stage option. */
static const struct sb_cmd_pass passed[] = {
	{ OPT_NO_FUSE_QKV, "fuse_qkv", "0" },
	{ 0, NULL, NULL }
};

/* What the command line asked for, beyond the stage options it sets in c. */
struct args {
	const char *model, *threads, *blas_threads, *pool, *head;
	int normalize, allow_mixed, logits;
	enum sb_lowp prec;
	enum sb_lowp_isa lowp_isa;
	enum sb_ops_isa isa;
	char mbt[32], thr[16];
};

/* -t, --blas-threads: a count of 1 to SB_PAR_MAX.  0, or 2 after a message. */
static int parse_threads(struct sb_cmd *c, struct args *a, int opt, const char *arg)
{
	size_t n;

	if (sb_cmd_parse_size(arg, &n) < 0 || n < 1 || n > SB_PAR_MAX) {
		fprintf(stderr, "%s: --%s: expected 1 to %d, got '%s'\n", c->prog,
			opt == 't' ? "threads" : "blas-threads", SB_PAR_MAX, arg);
		return 2;
	}
	if (opt == 't')
		a->threads = arg;
	else
		a->blas_threads = arg;
	return 0;
}

/* --kernels, --precision, --lowp-kernels: a name the library parses.  0, or 2. */
static int parse_named(struct sb_cmd *c, struct args *a, int opt, const char *arg)
{
	struct sb_error err;
	const char *name = opt == OPT_KERNELS ? "kernels" : opt == OPT_PRECISION ? "precision" :
			   "lowp-kernels";
	int rc = opt == OPT_KERNELS ? sb_ops_isa_parse(arg, &a->isa, &err) :
		 opt == OPT_PRECISION ? sb_lowp_parse(arg, &a->prec, &err) :
		 sb_lowp_isa_parse(arg, &a->lowp_isa, &err);

	if (rc) {
		fprintf(stderr, "%s: --%s: %s\n", c->prog, name, err.msg);
		return 2;
	}
	sb_cmd_kv(c, opt == OPT_LOWP_KERNELS ? "lowp_kernels" : name, arg);
	return 0;
}

/* One option of this program: 0 when taken, else the exit status (0 after --help is
 * returned as -1). */
static int parse_option(struct sb_cmd *c, void *user, int opt, const char *arg)
{
	struct args *a = user;
	size_t n;

	switch (opt) {
	case 'h':
		usage(stdout, c->prog);
		return -1;
	case 'm':
		a->model = arg;
		return 0;
	case 'p':
		a->pool = arg;
		sb_cmd_kv(c, "pool", arg);
		return 0;
	case OPT_NORMALIZE:
		a->normalize = 1;
		sb_cmd_kv(c, "normalize", "1");
		return 0;
	case 't':
	case OPT_BLAS_THREADS:
		return parse_threads(c, a, opt, arg);
	case OPT_MAX_BATCH_TOKENS:
		if (sb_cmd_parse_size(arg, &n) < 0 || n < 1) {
			fprintf(stderr, "%s: --max-batch-tokens: invalid count '%s'\n", c->prog,
				arg);
			return 2;
		}
		snprintf(a->mbt, sizeof(a->mbt), "%zu", n);
		sb_cmd_kv(c, "max_batch_tokens", a->mbt);
		return 0;
	case OPT_KERNELS:
	case OPT_PRECISION:
	case OPT_LOWP_KERNELS:
		return parse_named(c, a, opt, arg);
	case OPT_ALLOW_MIXED:
		a->allow_mixed = 1;
		sb_cmd_kv(c, "allow_mixed", "1");
		return 0;
	case OPT_HEAD:
		if (strcmp(arg, "classify")) {
			fprintf(stderr, "%s: --head: '%s' is not one of classify\n", c->prog, arg);
			usage(stderr, c->prog);
			return 2;
		}
		a->head = arg;
		sb_cmd_kv(c, "head", arg);
		return 0;
	case OPT_LOGITS:
		a->logits = 1;
		sb_cmd_kv(c, "logits", "1");
		return 0;
	default:
		usage(stderr, c->prog);
		return 2;
	}
}

/* The options that go together or exclude each other.  0, or 2 after a message. */
static int check_args(struct sb_cmd *c, const struct args *a)
{
	const char *why = !a->model ? "no model given (-m MODEL)" :
			  a->normalize && !a->pool ? "--normalize needs --pool" :
			  a->logits && !a->head ? "--logits needs --head" :
			  a->head && a->pool ? "--head and --pool exclude each other" : NULL;

	if (why) {
		fprintf(stderr, "%s: %s\n", c->prog, why);
		usage(stderr, c->prog);
		return 2;
	}
	return 0;
}

/* The command line into c and a: -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct sb_cmd *c, struct args *a)
{
	int rc;

	if ((rc = sb_cmd_getopt(c, argc, argv, SB_CMD_SHORTOPTS "m:p:t:", longopts, passed,
				parse_option, a)) >= 0)
		return rc;
	if (sb_cmd_args(c, argc - optind, argv + optind, longopts, 1))
		return 2;
	if (optind != argc && a->model) {
		usage(stderr, c->prog);
		return 2;
	}
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
