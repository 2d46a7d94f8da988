/*
 * encode-bench - in-process measurements for bench/encode-full.sh (not installed).
 *
 *   encode-bench load MODEL [N]            seconds to open the model (median of N) and
 *                                          the resident memory once it is open
 *   encode-bench latency MODEL "IDS" [N [THREADS [SMALL_M]]]   seconds per forward of
 *                                          one sentence, model loaded (median of N, after
 *                                          a warm-up); THREADS: the model's thread team
 *                                          (default 1) or bN for one thread with every
 *                                          product by BLAS on N threads (weights not
 *                                          packed); SMALL_M sets sb_ops_set_small_m()
 *   encode-bench sgemm M N K [N]           GFLOP/s of X[M, K] W[N, K]^T through the
 *                                          same wrapper as the encoder (best of N)
 *   encode-bench linear M N K [N]          the same with cblas_sgemm and with the
 *                                          small-m kernel of lib/ops.c, for its threshold
 *   encode-bench lowp bf16|bf16-split|int8 M N K [N]
 *                                          G products/s x 2 of the bf16 or int8 kernel
 *                                          (lowp.h, one thread, weights from memory as
 *                                          in "packed"), rounding, splitting (bf16-split:
 *                                          hi + lo inputs, as sb-encode --precision bf16;
 *                                          W X counted once) or quantizing X each
 *                                          time, and of the kernel alone; the
 *                                          kernels named by $SB_LOWP_KERNELS (as
 *                                          sb-encode --lowp-kernels; default auto)
 *   encode-bench attention L [BQ [BK]]    one head of ModernBERT's attention (d 64, rows
 *                                          of Q|K|V 2,304 floats apart) over one row of L
 *                                          tokens in blocks of BQ queries (default 96) and
 *                                          BK keys (default 256), as model_modernbert.c
 *                                          runs it: CPU seconds of this thread in the
 *                                          packing, Q K^T, the online softmax and P V, the
 *                                          products' GFLOP/s, and the packed dense product
 *                                          [512 x 768] x [2304 x 768]^T in the same run
 * load and latency open the model in the precision named by $SB_PRECISION (default f32).
 * Each prints one line "what value unit" and the BLAS kernel and thread count.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "lowp.h"
#include "model.h"
#include "ops.h"
#include "tensor.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: its share of the cores, whatever else runs. */
static double thread_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* VmRSS of this process in kB (0 if unknown). */
static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void usage(void)
{
	fprintf(stderr, "usage: encode-bench load MODEL [N]\n"
			"       encode-bench latency MODEL \"IDS\" [N [THREADS [SMALL_M]]]\n"
			"       encode-bench sgemm M N K [N]\n"
			"       encode-bench attention L [BQ [BK]]\n");
	exit(2);
}

static struct sb_model *open_model(const char *dir, int threads, int pack)
{
	struct sb_model_opts o;
	struct sb_model *m;
	struct sb_error err;

	sb_model_opts_init(&o);
	o.threads = threads;
	o.pack = pack;
	if (getenv("SB_PRECISION") && sb_lowp_parse(getenv("SB_PRECISION"), &o.precision, &err)) {
		fprintf(stderr, "encode-bench: SB_PRECISION: %s\n", err.msg);
		exit(2);
	}
	if (sb_model_open(&m, dir, &o, &err)) {
		fprintf(stderr, "encode-bench: %s\n", err.msg);
		exit(1);
	}
	return m;
}

/* encode-bench lowp PREC M N K [N]: see the top. */
static int lowp_rate(int argc, char **argv)
{
	size_t M = strtoul(argv[1], NULL, 10), N = strtoul(argv[2], NULL, 10);
	size_t K = strtoul(argv[3], NULL, 10), reps = argc > 4 ? strtoul(argv[4], NULL, 10) : 20;
	size_t nw = 8;
	float *x = malloc(M * K * sizeof(float)), *w = malloc(N * K * sizeof(float));
	float *y = malloc(M * N * sizeof(float));
	struct sb_lowp_weights pw[8];
	struct sb_lowp_act a = { 0 };
	struct sb_error err;
	enum sb_lowp p;
	enum sb_lowp_isa isa;
	double best = 0, best_kernel = 0, ops = 2.0 * (double)M * (double)N * (double)K * nw;

	int split = strcmp(argv[0], "bf16-split") == 0;

	if (split)
		p = SB_LOWP_BF16;
	else if (sb_lowp_parse(argv[0], &p, &err) || p == SB_LOWP_F32) {
		fprintf(stderr, "encode-bench: lowp: bf16, bf16-split or int8, not '%s'\n",
			argv[0]);
		return 2;
	}
	if (getenv("SB_LOWP_KERNELS") &&
	    (sb_lowp_isa_parse(getenv("SB_LOWP_KERNELS"), &isa, &err) ||
	     sb_lowp_select(isa, &err))) {
		fprintf(stderr, "encode-bench: SB_LOWP_KERNELS: %s\n", err.msg);
		return 2;
	}
	for (size_t i = 0; i < M * K; i++)
		x[i] = (float)(i % 17) * 0.01f - 0.05f;
	for (size_t i = 0; i < N * K; i++)
		w[i] = (float)(i % 13) * 0.01f - 0.06f;
	for (size_t i = 0; i < nw; i++) {
		const float *parts[1] = { w };
		if (sb_lowp_pack(&pw[i], p, parts, &N, 1, K, &err)) {
			fprintf(stderr, "encode-bench: %s\n", err.msg);
			return 1;
		}
	}
	for (size_t r = 0; r < reps + 2; r++) {
		double t0 = now(), t1;
		for (size_t i = 0; i < nw; i++) {
			if ((split ? sb_lowp_act_set_split : sb_lowp_act_set)(&a, &pw[i], M, x, K,
									    &err)) {
				fprintf(stderr, "encode-bench: %s\n", err.msg);
				return 1;
			}
			sb_lowp_linear(&pw[i], &a, 0, N, y, N);
		}
		t1 = now();
		for (size_t i = 0; i < nw; i++)
			sb_lowp_linear(&pw[i], &a, 0, N, y, N);
		if (r >= 2 && ops / (t1 - t0) * 1e-9 > best)
			best = ops / (t1 - t0) * 1e-9;
		if (r >= 2 && ops / (now() - t1) * 1e-9 > best_kernel)
			best_kernel = ops / (now() - t1) * 1e-9;
	}
	printf("lowp %s %.1f GOP/s with the input conversion, %.1f the kernel alone, for "
	       "[%zu x %zu] x [%zu x %zu]^T (%s kernels, best of %zu)\n", argv[0], best,
	       best_kernel, M, K, N, K, sb_lowp_kernel_name(p), reps);
	for (size_t i = 0; i < nw; i++)
		sb_lowp_free(&pw[i]);
	sb_lowp_act_free(&a);
	free(x);
	free(w);
	free(y);
	return 0;
}

/* 64-byte aligned floats filled with a fixed pattern in [-0.5, 0.5). */
static float *pattern(size_t n)
{
	float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);

	if (!p) {
		fprintf(stderr, "encode-bench: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
	return p;
}

/* Seconds of this thread in Y[512, 2304] = X[512, 768] W[2304, 768]^T, packed (best of 3). */
static double dense_seconds(void)
{
	size_t M = 512, N = 2304, K = 768;
	float *x = pattern(M * K), *w = pattern(N * K), *y = pattern(M * N);
	const float *parts[1] = { w };
	struct sb_ops_packed pw;
	struct sb_error err;
	double best = 1e30;

	if (sb_ops_pack(&pw, parts, &N, 1, K, &err) || !pw.data) {
		fprintf(stderr, "encode-bench: not packed (%s)\n", sb_ops_isa_name());
		exit(1);
	}
	for (int r = 0; r < 3; r++) {
		double t0 = thread_seconds();
		sb_ops_linear_packed(M, &pw, 0, N, x, K, y, N);
		t0 = thread_seconds() - t0;
		best = t0 < best ? t0 : best;
	}
	sb_ops_packed_free(&pw);
	free(x);
	free(w);
	free(y);
	return best;
}

/* encode-bench attention L [BQ [BK]]: see the top. */
static int attention_rate(int argc, char **argv)
{
	size_t L = strtoul(argv[0], NULL, 10), BQ = argc > 1 ? strtoul(argv[1], NULL, 10) : 96;
	size_t BK = argc > 2 ? strtoul(argv[2], NULL, 10) : 256, d = 64, D = 768, ld = 3 * D;
	float *qkv, *ctx, *kp, *vp, *s, *mx, *sum;
	double t[4] = { 0 }, t0, flops = 2.0 * (double)L * (double)L * (double)d;

	if (!L || !BQ || !BK || !sb_ops_panels_ok()) {
		fprintf(stderr, "encode-bench: attention needs L, BQ, BK > 0 and AVX-512\n");
		return 2;
	}
	qkv = pattern(L * ld);
	ctx = pattern(L * D);
	kp = pattern(sb_ops_panels_size(L, d));
	vp = pattern(sb_ops_panels_size(d, L));
	s = pattern(BQ * BK);
	mx = pattern(BQ);
	sum = pattern(BQ);
	t0 = thread_seconds();
	sb_ops_panels_pack(kp, 1, L, d, qkv + D, ld);
	sb_ops_panels_pack(vp, 0, d, L, qkv + 2 * D, ld);
	t[0] = thread_seconds() - t0;
	for (size_t q0 = 0; q0 < L; q0 += BQ) {
		size_t nq = L - q0 < BQ ? L - q0 : BQ;
		for (size_t i = 0; i < nq; i++) {
			mx[i] = -INFINITY;
			sum[i] = 0.0f;
			memset(ctx + (q0 + i) * D, 0, d * sizeof(float));
		}
		for (size_t kb = 0; kb < L; kb += BK) {
			size_t nk = L - kb < BK ? L - kb : BK;
			t0 = thread_seconds();
			sb_ops_panels_gemm(nq, nk, d, qkv + q0 * ld, ld, kp + kb * d, d, 0, s, nk);
			t[1] += thread_seconds() - t0;
			t0 = thread_seconds();
			for (size_t i = 0; i < nq; i++) {
				float corr, *acc = ctx + (q0 + i) * D;
				float tot = sb_ops_softmax_block(s + i * nk, nk, 0.125f, &mx[i], &corr);
				for (size_t j = 0; j < d && corr != 1.0f; j++)
					acc[j] *= corr;
				sum[i] = sum[i] * corr + tot;
			}
			t[2] += thread_seconds() - t0;
			t0 = thread_seconds();
			sb_ops_panels_gemm(nq, d, nk, s, nk, vp + kb * 32, L, 1, ctx + q0 * D, D);
			t[3] += thread_seconds() - t0;
		}
	}
	printf("attention L=%zu BQ=%zu BK=%zu (%s): pack %.4f s, Q K^T %.4f s %.1f GFLOP/s, "
	       "softmax %.4f s, P V %.4f s %.1f GFLOP/s; dense [512 x 768] x [2304 x 768]^T "
	       "%.1f GFLOP/s (thread CPU time)\n", L, BQ, BK, sb_ops_isa_name(), t[0], t[1],
	       flops / t[1] * 1e-9, t[2], t[3], flops / t[3] * 1e-9,
	       2.0 * 512 * 2304 * 768 / dense_seconds() * 1e-9);
	free(qkv);
	free(ctx);
	free(kp);
	free(vp);
	free(s);
	free(mx);
	free(sum);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		usage();
	if (!strcmp(argv[1], "load")) {
		size_t n = argc > 3 ? strtoul(argv[3], NULL, 10) : 5;
		double *t = calloc(n ? n : 1, sizeof(double));
		long rss = 0;
		for (size_t i = 0; i < n; i++) {
			double t0 = now();
			struct sb_model *m = open_model(argv[2], 1, 1);
			t[i] = now() - t0;
			rss = rss_kb();
			sb_model_close(&m);
		}
		printf("load %.4f s (median of %zu), resident %.0f MB once open\n", median(t, n), n,
		       (double)rss / 1024.0);
		free(t);
		return 0;
	}
	if (!strcmp(argv[1], "latency") && argc >= 4) {
		size_t n = argc > 4 ? strtoul(argv[4], NULL, 10) : 200, len = 0, shape[2];
		const char *th = argc > 5 ? argv[5] : "1";
		int team = th[0] == 'b' ? 1 : atoi(th);
		struct sb_model *m;
		struct sb_tensor ids, mask;
		struct sb_error err;
		char *s = argv[3], *end;
		double *t = calloc(n ? n : 1, sizeof(double));
		int64_t buf[512];

		if (th[0] == 'b')
			sb_ops_set_threads(atoi(th + 1));
		else
			sb_ops_set_threads(1);
		m = open_model(argv[2], team > 0 ? team : 1, th[0] != 'b');
		if (argc > 6)
			sb_ops_set_small_m(strtoul(argv[6], NULL, 10));

		while (len < 512) {
			long long v = strtoll(s, &end, 10);
			if (end == s)
				break;
			buf[len++] = v;
			s = end;
		}
		shape[0] = 1;
		shape[1] = len;
		sb_tensor_alloc(&ids, SB_DTYPE_I64, 2, shape, NULL);
		sb_tensor_alloc(&mask, SB_DTYPE_I64, 2, shape, NULL);
		for (size_t i = 0; i < len; i++) {
			((int64_t *)ids.data)[i] = buf[i];
			((int64_t *)mask.data)[i] = 1;
		}
		double c0 = 0;
		for (size_t i = 0; i < n + 10; i++) {
			double t0 = now();
			if (i == 10)
				c0 = cpu_seconds();
			if (sb_model_forward(m, &ids, &mask, NULL, &err)) {
				fprintf(stderr, "encode-bench: %s\n", err.msg);
				return 1;
			}
			if (i >= 10)
				t[i - 10] = now() - t0;
		}
		c0 = (cpu_seconds() - c0) / (double)(n ? n : 1);
		double best = t[0];
		for (size_t i = 1; i < n; i++)
			best = t[i] < best ? t[i] : best;
		printf("latency %.6f s per sentence of %zu tokens (median of %zu, best %.6f; "
		       "cpu time %.6f s; %d threads, blas %s with %d threads, kernels %s)\n",
		       median(t, n), len, n, best, c0, team, sb_ops_blas_core(), sb_ops_threads(),
		       sb_ops_isa_name());
		sb_tensor_destroy(&ids);
		sb_tensor_destroy(&mask);
		sb_model_close(&m);
		free(t);
		return 0;
	}
	if ((!strcmp(argv[1], "sgemm") || !strcmp(argv[1], "linear")) && argc >= 5) {
		int both = !strcmp(argv[1], "linear");
		size_t M = strtoul(argv[2], NULL, 10), N = strtoul(argv[3], NULL, 10);
		size_t K = strtoul(argv[4], NULL, 10);
		size_t reps = argc > 5 ? strtoul(argv[5], NULL, 10) : 20;
		float *x = malloc(M * K * sizeof(float)), *w = malloc(N * K * sizeof(float));
		float *y = malloc(M * N * sizeof(float));
		double best = 0, best_small = 0;

		for (size_t i = 0; i < M * K; i++)
			x[i] = (float)(i % 17) * 0.01f;
		for (size_t i = 0; i < N * K; i++)
			w[i] = (float)(i % 13) * 0.01f;
		sb_ops_set_small_m(0);
		for (size_t r = 0; r < reps + 2; r++) {
			double t0 = now();
			sb_ops_linear(M, N, K, x, K, w, y, N);
			double g = 2.0 * (double)M * (double)N * (double)K / (now() - t0) * 1e-9;
			if (r >= 2 && g > best)
				best = g;
		}
		if (both) {
			sb_ops_set_small_m(M);
			for (size_t r = 0; r < reps + 2; r++) {
				double t0 = now();
				sb_ops_linear(M, N, K, x, K, w, y, N);
				double g = 2.0 * (double)M * (double)N * (double)K / (now() - t0) *
					   1e-9;
				if (r >= 2 && g > best_small)
					best_small = g;
			}
			printf("linear M=%zu N=%zu K=%zu: cblas_sgemm %.1f GFLOP/s, small-m kernel "
			       "%.1f GFLOP/s (%s)\n", M, N, K, best, best_small, sb_ops_isa_name());
		}
		if (!both)
			printf("sgemm %.1f GFLOP/s for [%zu x %zu] x [%zu x %zu]^T (best of %zu; "
			       "blas %s, %d threads)\n", best, M, K, N, K, reps,
			       sb_ops_blas_core(), sb_ops_threads());
		free(x);
		free(w);
		free(y);
		return 0;
	}
	if (!strcmp(argv[1], "attention") && argc >= 3)
		return attention_rate(argc - 2, argv + 2);
	if (!strcmp(argv[1], "lowp") && argc >= 6)
		return lowp_rate(argc - 2, argv + 2);
	if (!strcmp(argv[1], "packed") && argc >= 5) {
		/*
		 * The packed kernel on 8 weight matrices used in turn, so that they come from
		 * memory as in a forward pass (8 x [3072, 768] floats are 75 MB, past L3).
		 */
		size_t M = strtoul(argv[2], NULL, 10), N = strtoul(argv[3], NULL, 10);
		size_t K = strtoul(argv[4], NULL, 10);
		size_t reps = argc > 5 ? strtoul(argv[5], NULL, 10) : 20, nw = 8;
		float *x = malloc(M * K * sizeof(float)), *w = malloc(N * K * sizeof(float));
		float *y = malloc(M * N * sizeof(float));
		struct sb_ops_packed pw[8];
		struct sb_error err;
		double best = 0;

		for (size_t i = 0; i < M * K; i++)
			x[i] = (float)(i % 17) * 0.01f;
		for (size_t i = 0; i < N * K; i++)
			w[i] = (float)(i % 13) * 0.01f;
		for (size_t i = 0; i < nw; i++) {
			const float *parts[1] = { w };
			if (sb_ops_pack(&pw[i], parts, &N, 1, K, &err) || !pw[i].data) {
				fprintf(stderr, "encode-bench: not packed (%s)\n", sb_ops_isa_name());
				return 1;
			}
		}
		for (size_t r = 0; r < reps + 2; r++) {
			double t0 = now();
			for (size_t i = 0; i < nw; i++)
				sb_ops_linear_packed(M, &pw[i], 0, N, x, K, y, N);
			double g = 2.0 * (double)M * (double)N * (double)K * (double)nw /
				   (now() - t0) * 1e-9;
			if (r >= 2 && g > best)
				best = g;
		}
		printf("packed %.1f GFLOP/s for [%zu x %zu] x [%zu x %zu]^T, weights from memory "
		       "(best of %zu)\n", best, M, K, N, K, reps);
		for (size_t i = 0; i < nw; i++)
			sb_ops_packed_free(&pw[i]);
		free(x);
		free(w);
		free(y);
		return 0;
	}
	usage();
	return 2;
}
