/*
 * failmalloc.c - allocation-failure injection: runs a scenario again and again, making
 * the N-th allocation of libsb fail (N = 1, 2, ... until a run completes without
 * reaching N), and checks that every run either succeeds or fails cleanly:
 *   - the status is SB_ENOMEM and the message says so ("out of memory", "cannot
 *     allocate N bytes"...);
 *   - nothing crashes and nothing leaks (ASan/LeakSanitizer, or valgrind);
 *   - a pipeline run's output is either complete (identical to an undisturbed run) or a
 *     sequence of whole frames without an end frame, which every reader refuses as a
 *     cut stream: never a half-written frame, never a stream passed off as complete.
 *
 * How: the program is linked with -Wl,--wrap=malloc,... so every allocation made by
 * the libsb objects linked into it (and by this file) goes through the __wrap_
 * functions below; allocations inside shared libraries (libc internals, msgpack, zmq,
 * OpenBLAS) are not counted.  LD_PRELOAD would not do: the sanitizers own malloc.
 *
 * Scenarios: the frame codec (encode, scan, decode), model loading (tokenizer, weights,
 * model, pooling config), the model in bf16 and in int8 (packed at load, one forward),
 * the modules after Pooling (tests/models/tiny-bert-modules: Dense, LayerNorm,
 * Normalize loaded and applied) and a pipeline (tokenize, encode, pool, in-process
 * through sb_run(), file to file).  Usage: failmalloc [SCENARIO...];
 * the model is $SB_SRCDIR/tests/models/tiny-distilbert.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "model.h"
#include "modules.h"
#include "pooling.h"
#include "stage.h"
#include "tokenizer.h"
#include "weights.h"
#include "../plugins/tokenize.h"

extern const struct sb_stage sb_stage_encode;
extern const struct sb_stage sb_stage_pool;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t k);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
char *__real_strdup(const char *s);
int __real_vasprintf(char **out, const char *fmt, va_list ap);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t k);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
char *__wrap_strdup(const char *s);
int __wrap_vasprintf(char **out, const char *fmt, va_list ap);

static unsigned long n_allocs;  /* allocations counted since the scenario started */
static unsigned long fail_at;   /* 0: never fail */
static int armed;               /* counting only inside a scenario */

/* Returns 1 when this allocation must fail. */
static int fail_now(void)
{
	if (!armed)
		return 0;
	n_allocs++;
	return fail_at && n_allocs == fail_at;
}

void *__wrap_malloc(size_t n)
{
	if (fail_now()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t k)
{
	if (fail_now()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_calloc(n, k);
}

void *__wrap_realloc(void *p, size_t n)
{
	if (fail_now()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_realloc(p, n);
}

int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
	if (fail_now())
		return ENOMEM;
	return __real_posix_memalign(p, a, n);
}

void *__wrap_aligned_alloc(size_t a, size_t n)
{
	if (fail_now()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_aligned_alloc(a, n);
}

char *__wrap_strdup(const char *s)
{
	if (fail_now()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_strdup(s);
}

int __wrap_vasprintf(char **out, const char *fmt, va_list ap)
{
	if (fail_now()) {
		errno = ENOMEM;
		return -1;
	}
	return __real_vasprintf(out, fmt, ap);
}

static char model_dir[4096];
static char tmp_dir[4096];
static int failures;

static void complain(const char *scenario, unsigned long n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void complain(const char *scenario, unsigned long n, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "failmalloc: %s: allocation %lu failed: ", scenario, n);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failures++;
}

/* ---- scenario: the frame codec ---- */

static int build_frame(struct sb_frame *f, struct sb_error *err)
{
	struct sb_tensor *t;
	size_t shape[2] = { 3, 5 };
	int rc;

	f->kind = SB_KIND_TOKENS;
	f->seq = 7;
	f->rows = 3;
	rc = sb_frame_tensor_resize(f, "input_ids", SB_DTYPE_I64, 2, shape, &t, err);
	if (!rc)
		rc = sb_frame_tensor_resize(f, "attention_mask", SB_DTYPE_I64, 2, shape, &t, err);
	if (!rc)
		rc = sb_frame_text_alloc(f, 3, err);
	for (size_t i = 0; !rc && i < 3; i++)
		rc = sb_frame_text_set(f, i, "some text", 4 + i, err);
	if (!rc)
		rc = sb_frame_meta_str(f, "model", "tiny-distilbert", err);
	if (!rc)
		rc = sb_frame_meta_uint(f, "max_seq_length", 128, err);
	if (!rc)
		rc = sb_frame_meta_float(f, "scale", 0.5, err);
	return rc;
}

static int scenario_frame(struct sb_error *err)
{
	struct sb_frame f, g;
	struct sb_buf buf;
	struct sb_frame_scan sc;
	size_t size;
	int rc;

	sb_frame_init(&f);
	sb_frame_init(&g);
	sb_buf_init(&buf);
	rc = build_frame(&f, err);
	if (!rc)
		rc = sb_frame_encode(&f, &buf, err);
	if (!rc) {
		sb_frame_scan_init(&sc, 0);
		rc = sb_frame_scan(&sc, buf.data, buf.len, &size, err);
	}
	if (!rc)
		rc = sb_frame_decode(buf.data, size, &g, err);
	/* Decoding into a frame that already holds storage: the reuse path. */
	if (!rc)
		rc = sb_frame_decode(buf.data, size, &g, err);
	sb_frame_destroy(&f);
	sb_frame_destroy(&g);
	sb_buf_destroy(&buf);
	return rc;
}

/* ---- scenario: loading a model folder ---- */

static int scenario_model(struct sb_error *err)
{
	struct sb_tokenizer *tok = NULL;
	struct sb_tokenizer_enc enc;
	struct sb_weights *w = NULL;
	struct sb_model *m = NULL;
	struct sb_pooling pool;
	int rc;

	memset(&enc, 0, sizeof enc);
	rc = sb_tokenizer_open(&tok, model_dir, NULL, err);
	if (!rc)
		rc = sb_tokenizer_enc_init(&enc, tok, err);
	if (!rc)
		rc = sb_tokenizer_encode(&enc, NULL, 0, "Hello, world!", 13, NULL, 0,
					 SB_TRUNC_LONGEST_FIRST, 0, err);
	if (!rc)
		rc = sb_weights_open(&w, model_dir, err);
	if (!rc)
		rc = sb_model_open(&m, model_dir, NULL, err);
	if (!rc)
		rc = sb_pooling_from_model(&pool, model_dir, err);
	sb_model_close(&m);
	sb_weights_close(&w);
	sb_tokenizer_enc_destroy(&enc);
	sb_tokenizer_close(&tok);
	return rc;
}

/* ---- scenario: bf16 and int8 products, loaded and run ---- */

/* Opens the model in precision p and runs one forward of two rows. */
static int lowp_forward(enum sb_lowp p, struct sb_error *err)
{
	int64_t ids[8] = { 2, 10, 11, 3, 2, 12, 3, 0 }, mask[8] = { 1, 1, 1, 1, 1, 1, 1, 0 };
	struct sb_tensor ti = { SB_DTYPE_I64, 2, { 2, 4 }, ids, sizeof ids, 0, 0 };
	struct sb_tensor tm = { SB_DTYPE_I64, 2, { 2, 4 }, mask, sizeof mask, 0, 0 };
	struct sb_model_opts o;
	struct sb_model *m = NULL;
	int rc;

	sb_model_opts_init(&o);
	o.precision = p;
	rc = sb_model_open(&m, model_dir, &o, err);
	if (!rc)
		rc = sb_model_forward(m, &ti, &tm, NULL, err);
	sb_model_close(&m);
	return rc;
}

static int scenario_lowp(struct sb_error *err)
{
	int rc = lowp_forward(SB_LOWP_BF16, err);

	return rc ? rc : lowp_forward(SB_LOWP_INT8, err);
}

/* ---- scenario: the modules after Pooling, loaded and applied ---- */

static int scenario_modules(struct sb_error *err)
{
	const char *src = getenv("SB_SRCDIR");
	char dir[4200];
	struct sb_modules *m = NULL;
	float x[3 * 24] = { 0 };
	const float *y;
	size_t d;
	int rc;

	snprintf(dir, sizeof dir, "%s/tests/models/tiny-bert-modules", src ? src : ".");
	rc = sb_modules_open(&m, dir, err);
	if (!rc)
		rc = sb_modules_check(m, 24, &d, err);
	if (!rc)
		rc = sb_modules_apply(m, x, 1, 24, &y, err);
	if (!rc)
		rc = sb_modules_apply(m, x, 3, 24, &y, err);   /* the scratch grows */
	sb_modules_close(&m);
	return rc;
}

/* ---- scenario: a pipeline run, tokenize, encode, pool, file to file ---- */

static char text_path[4200], tok_path[4200], hid_path[4200], emb_path[4200];
static int pipeline_step;       /* the run in progress: 1 tokenize, 2 encode, 3 pool */

static int scenario_pipeline(struct sb_error *err)
{
	struct sb_kv kv[1] = { { "model", model_dir } };
	struct sb_runner_opts ro;
	int rc;

	sb_runner_opts_init(&ro);
	ro.batch_rows = 2;
	ro.input = text_path;
	ro.output = tok_path;
	pipeline_step = 1;
	rc = sb_run(&sb_stage_tokenize, kv, 1, &ro, NULL, err);
	if (rc)
		return rc;
	ro.input = tok_path;
	ro.output = hid_path;
	pipeline_step = 2;
	rc = sb_run(&sb_stage_encode, kv, 1, &ro, NULL, err);
	if (rc)
		return rc;
	ro.input = hid_path;
	ro.output = emb_path;
	pipeline_step = 3;
	return sb_run(&sb_stage_pool, kv, 1, &ro, NULL, err);
}

static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *p = NULL;
	long len;

	*n = 0;
	if (!fp)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (len = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0 &&
	    (p = __real_malloc((size_t)len + 1)) != NULL) {
		if (fread(p, 1, (size_t)len, fp) != (size_t)len) {
			free(p);
			p = NULL;
		} else {
			*n = (size_t)len;
		}
	}
	fclose(fp);
	return p;
}

/*
 * An output file after a failed run: absent, empty, or whole frames without an end
 * frame (what every reader refuses as a cut stream).  Returns NULL when so, else what
 * is wrong.
 */
static const char *check_cut(const char *path)
{
	static char why[300];
	struct sb_frame f;
	struct sb_error err;
	unsigned char *p;
	size_t n, pos = 0;
	const char *bad = NULL;

	p = slurp(path, &n);
	if (!p)
		return NULL;
	sb_frame_init(&f);
	while (pos < n && !bad) {
		struct sb_frame_scan sc;
		size_t size;

		sb_frame_scan_init(&sc, 0);
		if (sb_frame_scan(&sc, p + pos, n - pos, &size, &err) != SB_OK) {
			snprintf(why, sizeof why, "%s: partial frame at byte %zu", path, pos);
			bad = why;
		} else if (sb_frame_decode(p + pos, size, &f, &err) != SB_OK) {
			snprintf(why, sizeof why, "%s: bad frame at byte %zu: %s", path, pos, err.msg);
			bad = why;
		} else if (f.kind == SB_KIND_END) {
			snprintf(why, sizeof why, "%s: end frame after a failed run", path);
			bad = why;
		}
		pos += size;
	}
	sb_frame_destroy(&f);
	free(p);
	return bad;
}

/* ---- the driver ---- */

struct scenario {
	const char *name;
	int (*run)(struct sb_error *err);
	int pipeline;
};

static const struct scenario scenarios[] = {
	{ "frame", scenario_frame, 0 },
	{ "model", scenario_model, 0 },
	{ "modules", scenario_modules, 0 },
	{ "lowp", scenario_lowp, 0 },
	{ "pipeline", scenario_pipeline, 1 },
};

static void run_scenario(const struct scenario *s)
{
	struct sb_error err;
	unsigned char *ref[3] = { NULL, NULL, NULL };
	size_t n_ref[3] = { 0, 0, 0 };
	const char *paths[3] = { tok_path, hid_path, emb_path };
	unsigned long total, n;
	int rc, before = failures;

	/* An undisturbed run first: it must succeed, and counts the allocations. */
	n_allocs = 0;
	fail_at = 0;
	armed = 1;
	rc = s->run(&err);
	armed = 0;
	total = n_allocs;
	if (rc) {
		fprintf(stderr, "failmalloc: %s: fails without injection: %s\n", s->name, err.msg);
		failures++;
		return;
	}
	for (int i = 0; s->pipeline && i < 3; i++)
		ref[i] = slurp(paths[i], &n_ref[i]);
	for (n = 1;; n++) {
		sb_error_clear(&err);
		for (int i = 0; s->pipeline && i < 3; i++)
			remove(paths[i]);
		n_allocs = 0;
		fail_at = n;
		armed = 1;
		rc = s->run(&err);
		armed = 0;
		if (n_allocs < n) {
			/* The failure was never reached: the run is complete. */
			if (rc)
				complain(s->name, n, "not reached, yet the run failed: %s", err.msg);
			break;
		}
		if (rc == SB_OK) {
			/* Allowed only when the failed allocation had a fallback; the output
			 * must then be complete. */
			for (int i = 0; s->pipeline && i < 3; i++) {
				size_t a;
				unsigned char *t = slurp(paths[i], &a);

				if (!t || a != n_ref[i] || memcmp(t, ref[i], a))
					complain(s->name, n, "the run succeeded with different output");
				free(t);
			}
			continue;
		}
		if (rc != SB_ENOMEM)
			complain(s->name, n, "status %d (%s), expected SB_ENOMEM: %s", rc,
				 sb_strerror(rc), err.msg);
		else if (!strstr(err.msg, "memory") && !strstr(err.msg, "alloc"))
			complain(s->name, n, "the message does not name the allocation: %s", err.msg);
		if (s->pipeline) {
			/* The failed run's output is cut; the ones before it are complete. */
			const char *bad = check_cut(paths[pipeline_step - 1]);

			if (bad)
				complain(s->name, n, "%s", bad);
			for (int i = 0; i < pipeline_step - 1; i++) {
				size_t a;
				unsigned char *t = slurp(paths[i], &a);

				if (!t || a != n_ref[i] || memcmp(t, ref[i], a))
					complain(s->name, n, "the output of completed run %d differs",
						 i + 1);
				free(t);
			}
		}
		if (failures - before >= 20) {
			fprintf(stderr, "failmalloc: %s: too many problems, stopping\n", s->name);
			break;
		}
	}
	printf("failmalloc: %s: %lu allocations; each failed in turn: %s\n", s->name, total,
	       failures == before ? "clean error or complete output every time" : "PROBLEMS");
	for (int i = 0; i < 3; i++)
		free(ref[i]);
}

int main(int argc, char **argv)
{
	const char *src = getenv("SB_SRCDIR");
	const char *tmp = getenv("TMPDIR");
	FILE *fp;

	snprintf(model_dir, sizeof model_dir, "%s/tests/models/tiny-distilbert", src ? src : ".");
	snprintf(tmp_dir, sizeof tmp_dir, "%s/sb-failmalloc.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(tmp_dir)) {
		perror("failmalloc: mkdtemp");
		return 1;
	}
	snprintf(text_path, sizeof text_path, "%s/in.txt", tmp_dir);
	snprintf(tok_path, sizeof tok_path, "%s/tokens.sbf", tmp_dir);
	snprintf(hid_path, sizeof hid_path, "%s/hidden.sbf", tmp_dir);
	snprintf(emb_path, sizeof emb_path, "%s/embeddings.sbf", tmp_dir);
	fp = fopen(text_path, "w");
	if (!fp) {
		perror(text_path);
		return 1;
	}
	fputs("Hello, world!\nwhat a time to be alive\n\nCaf\xc3\xa9 na\xc3\xafve\nlast line\n", fp);
	fclose(fp);
	for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
		int want = argc < 2;

		for (int a = 1; a < argc; a++)
			want |= !strcmp(argv[a], scenarios[i].name);
		if (want)
			run_scenario(&scenarios[i]);
	}
	remove(text_path);
	remove(tok_path);
	remove(hid_path);
	remove(emb_path);
	remove(tmp_dir);
	return failures ? 1 : 0;
}
