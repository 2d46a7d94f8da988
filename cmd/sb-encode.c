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

/* ---- the stage, wrapped to read its report before it is closed ---- */

static struct sb_encode_report report;
static int report_seen;

static void wrapped_close(void *state)
{
	if (state) {
		sb_encode_report(state, &report);
		report_seen = 1;
	}
	sb_stage_encode.close(state);
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

int main(int argc, char **argv)
{
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
	const char *model = NULL, *threads = NULL, *blas_threads = NULL, *pool = NULL;
	char mbt[32], thr[16];
	struct sb_stage stage = sb_stage_encode;
	struct sb_cmd c;
	size_t n;
	int opt, rc, normalize = 0, allow_mixed = 0, logits = 0;
	const char *head = NULL;
	enum sb_lowp prec = SB_LOWP_F32;
	enum sb_lowp_isa lowp_isa = SB_LOWP_ISA_AUTO;
	enum sb_ops_isa isa = SB_OPS_AUTO;

	sb_cmd_init(&c, argv[0]);
	while ((opt = getopt_long(argc, argv, SB_CMD_SHORTOPTS "m:p:t:", longopts, NULL)) != -1) {
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
			pool = optarg;
			sb_cmd_kv(&c, "pool", optarg);
			break;
		case OPT_NORMALIZE:
			normalize = 1;
			sb_cmd_kv(&c, "normalize", "1");
			break;
		case 't':
		case OPT_BLAS_THREADS:
			if (sb_cmd_parse_size(optarg, &n) < 0 || n < 1 || n > SB_PAR_MAX) {
				fprintf(stderr, "%s: --%s: expected 1 to %d, got '%s'\n", c.prog,
					opt == 't' ? "threads" : "blas-threads", SB_PAR_MAX,
					optarg);
				return 2;
			}
			if (opt == 't')
				threads = optarg;
			else
				blas_threads = optarg;
			break;
		case OPT_MAX_BATCH_TOKENS:
			if (sb_cmd_parse_size(optarg, &n) < 0 || n < 1) {
				fprintf(stderr, "%s: --max-batch-tokens: invalid count '%s'\n",
					c.prog, optarg);
				return 2;
			}
			snprintf(mbt, sizeof(mbt), "%zu", n);
			sb_cmd_kv(&c, "max_batch_tokens", mbt);
			break;
		case OPT_KERNELS: {
			struct sb_error err;
			if (sb_ops_isa_parse(optarg, &isa, &err)) {
				fprintf(stderr, "%s: --kernels: %s\n", c.prog, err.msg);
				return 2;
			}
			sb_cmd_kv(&c, "kernels", optarg);
			break;
		}
		case OPT_PRECISION: {
			struct sb_error err;
			if (sb_lowp_parse(optarg, &prec, &err)) {
				fprintf(stderr, "%s: --precision: %s\n", c.prog, err.msg);
				return 2;
			}
			sb_cmd_kv(&c, "precision", optarg);
			break;
		}
		case OPT_LOWP_KERNELS: {
			struct sb_error err;
			if (sb_lowp_isa_parse(optarg, &lowp_isa, &err)) {
				fprintf(stderr, "%s: --lowp-kernels: %s\n", c.prog, err.msg);
				return 2;
			}
			sb_cmd_kv(&c, "lowp_kernels", optarg);
			break;
		}
		case OPT_ALLOW_MIXED:
			allow_mixed = 1;
			sb_cmd_kv(&c, "allow_mixed", "1");
			break;
		case OPT_HEAD:
			if (strcmp(optarg, "classify")) {
				fprintf(stderr, "%s: --head: '%s' is not one of classify\n",
					c.prog, optarg);
				usage(stderr, c.prog);
				return 2;
			}
			head = optarg;
			sb_cmd_kv(&c, "head", optarg);
			break;
		case OPT_LOGITS:
			logits = 1;
			sb_cmd_kv(&c, "logits", "1");
			break;
		default:
			usage(stderr, c.prog);
			return 2;
		}
	}
	if (sb_cmd_args(&c, argc - optind, argv + optind, longopts, 1))
		return 2;
	if (optind != argc || !model) {
		if (!model)
			fprintf(stderr, "%s: no model given (-m MODEL)\n", c.prog);
		usage(stderr, c.prog);
		return 2;
	}
	if (normalize && !pool) {
		fprintf(stderr, "%s: --normalize needs --pool\n", c.prog);
		usage(stderr, c.prog);
		return 2;
	}
	if (logits && !head) {
		fprintf(stderr, "%s: --logits needs --head\n", c.prog);
		usage(stderr, c.prog);
		return 2;
	}
	if (head && pool) {
		fprintf(stderr, "%s: --head and --pool exclude each other\n", c.prog);
		usage(stderr, c.prog);
		return 2;
	}
	model = sb_cmd_model(&c, model);
	if (!model)
		return 1;
	sb_cmd_kv(&c, "model", model);
	if (threads && blas_threads) {
		fprintf(stderr, "%s: --threads and --blas-threads exclude each other\n", c.prog);
		return 2;
	}
	if (blas_threads) {
		sb_cmd_kv(&c, "blas_threads", blas_threads);
	} else {
		if (!threads) {
			snprintf(thr, sizeof(thr), "%d", cores_available());
			threads = thr;
		}
		sb_cmd_kv(&c, "threads", threads);
	}
	if (blas_threads && prec != SB_LOWP_F32) {
		fprintf(stderr, "%s: --precision %s and --blas-threads exclude each other\n",
			c.prog, sb_lowp_name(prec));
		return 2;
	}
	if (c.verbose) {
		/* The stage selects the kernels again; a set the cpu lacks is its error. */
		sb_ops_select(isa, NULL);
		sb_lowp_select(lowp_isa, NULL);
		fprintf(stderr, "%s: model %s; threads: %s%s%s; blas: OpenBLAS core %s; "
			"kernels: %s; precision %s, products by %s kernels\n", c.prog, model,
			blas_threads ? "1" : threads, blas_threads ? ", blas threads: " : "",
			blas_threads ? blas_threads : "", sb_ops_blas_core(), sb_ops_isa_name(),
			sb_lowp_name(prec), blas_threads ? "OpenBLAS" : sb_lowp_kernel_name(prec));
		if (prec != SB_LOWP_F32 && !blas_threads && lowp_isa == SB_LOWP_ISA_AUTO &&
		    sb_lowp_amx_unavailable())
			fprintf(stderr, "%s: amx kernels not used: %s\n", c.prog,
				sb_lowp_amx_unavailable());
	}
	if (pool && pool_notice(&c, model, pool))
		return 1;
	stage.close = wrapped_close;
	rc = sb_cmd_run(&c, &stage);
	if (c.verbose && allow_mixed)
		fprintf(stderr, "%s: tokenizer fingerprints not checked (--allow-mixed)\n", c.prog);
	else if (c.verbose && report_seen && !report.tokenizer_found)
		fprintf(stderr, "%s: %s has no tokenizer: tokenizer fingerprints not checked\n",
			c.prog, model);
	else if (c.verbose && report.frames_unchecked)
		fprintf(stderr, "%s: %llu tokens frames without a tokenizer_fingerprint accepted "
			"unchecked\n", c.prog, (unsigned long long)report.frames_unchecked);
	return rc;
}
