/* Unit tests for lib/runner.c and lib/stage.c with small in-process stages. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stage.h"
#include "transport.h"

/* A stage that doubles the float tensor 'x' and fails on a row with value -1. */
struct dbl { struct sb_frame out; int flushed; };

static int dbl_open(void **state, const struct sb_kv *opts, size_t n, struct sb_error *err)
{
	struct dbl *d;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(opts[i].key, "ok") != 0)
			return sb_error_set(err, SB_EINVAL, "unknown option '%s'", opts[i].key);
	}
	d = calloc(1, sizeof *d);
	sb_frame_init(&d->out);
	*state = d;
	return SB_OK;
}

static int dbl_process(void *state, const struct sb_frame *in, struct sb_emit *em,
		       struct sb_error *err)
{
	struct dbl *d = state;
	struct sb_tensor *x, *y;
	int rc;

	rc = sb_frame_check_tensor(in, "x", SB_DTYPE_F32, 2, &x, err);
	if (rc)
		return rc;
	sb_frame_reset(&d->out);
	d->out.kind = SB_KIND_EMBEDDINGS;
	d->out.seq = in->seq;
	d->out.rows = in->rows;
	rc = sb_frame_tensor_resize(&d->out, "x", SB_DTYPE_F32, 2, x->shape, &y, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < sb_tensor_numel(x); i++) {
		if (((float *)x->data)[i] == -1)
			return sb_error_set(err, SB_EFORMAT, "value -1");
		((float *)y->data)[i] = 2 * ((float *)x->data)[i];
	}
	return sb_emit_frame(em, &d->out, err);
}

static int dbl_flush(void *state, struct sb_emit *em, struct sb_error *err)
{
	((struct dbl *)state)->flushed = 1;
	return SB_OK;
}

static void dbl_close(void *state)
{
	struct dbl *d = state;

	sb_frame_destroy(&d->out);
	free(d);
}

static const struct sb_stage dbl_stage = {
	.version = SB_STAGE_VERSION, .name = "double", .input = SB_STAGE_IN_FRAMES,
	.open = dbl_open, .process = dbl_process, .flush = dbl_flush, .close = dbl_close
};

/* Writes a stream of n one-row frames with values v..; end frame if with_end. */
static void write_stream(const char *path, int n, int with_end, uint64_t seq_skip_at,
			 uint64_t total_delta, float bad_at)
{
	struct sb_frame f;
	struct sb_buf b;
	FILE *fp = fopen(path, "wb");

	sb_frame_init(&f);
	sb_buf_init(&b);
	for (int i = 0; i < n; i++) {
		struct sb_tensor *t;
		size_t shape[2] = { 1, 3 };

		sb_frame_reset(&f);
		f.kind = SB_KIND_HIDDEN;
		f.seq = (uint64_t)i + ((uint64_t)i >= seq_skip_at ? 1 : 0);
		f.rows = 1;
		sb_frame_tensor_resize(&f, "x", SB_DTYPE_F32, 2, shape, &t, NULL);
		for (int k = 0; k < 3; k++)
			((float *)t->data)[k] = (float)i == bad_at ? -1 : (float)(i + k);
		sb_frame_encode(&f, &b, NULL);
	}
	if (with_end) {
		sb_frame_reset(&f);
		f.kind = SB_KIND_END;
		f.rows_total = (uint64_t)n + total_delta;
		sb_frame_encode(&f, &b, NULL);
	}
	fwrite(b.data, 1, b.len, fp);
	fclose(fp);
	sb_frame_destroy(&f);
	sb_buf_destroy(&b);
}

/* Reads back frames from path: count of data frames, whether it ended, first value. */
static void read_back(const char *path, int *frames, int *ended, float *first)
{
	struct sb_transport *t;
	struct sb_frame f;
	const unsigned char *msg;
	size_t len;

	*frames = *ended = 0;
	sb_frame_init(&f);
	ck_assert_int_eq(sb_transport_open(&t, path, SB_TRANSPORT_READ, NULL, NULL), SB_OK);
	while (sb_transport_recv(t, &msg, &len, NULL) == SB_OK) {
		ck_assert_int_eq(sb_frame_decode(msg, len, &f, NULL), SB_OK);
		if (f.kind == SB_KIND_END) {
			*ended = 1;
			continue;
		}
		if (*frames == 0)
			*first = ((float *)sb_frame_tensor(&f, "x")->data)[1];
		(*frames)++;
	}
	sb_transport_close(&t);
	sb_frame_destroy(&f);
}

static char in_path[64], out_path[64];

static void setup(void)
{
	snprintf(in_path, sizeof in_path, "/tmp/sb-check-runner-in.%d", (int)getpid());
	snprintf(out_path, sizeof out_path, "/tmp/sb-check-runner-out.%d", (int)getpid());
}

static void teardown(void)
{
	unlink(in_path);
	unlink(out_path);
}

static int run(struct sb_stats *st, struct sb_error *e)
{
	struct sb_runner_opts ro;

	sb_runner_opts_init(&ro);
	ro.input = in_path;
	ro.output = out_path;
	return sb_run(&dbl_stage, NULL, 0, &ro, st, e);
}

START_TEST(test_complete_stream)
{
	struct sb_stats st;
	struct sb_error e;
	int frames, ended;
	float first = 0;

	write_stream(in_path, 5, 1, UINT64_MAX, 0, -2);
	ck_assert_int_eq(run(&st, &e), SB_OK);
	ck_assert_uint_eq(st.frames_in, 5);
	ck_assert_uint_eq(st.rows_out, 5);
	read_back(out_path, &frames, &ended, &first);
	ck_assert_int_eq(frames, 5);
	ck_assert_int_eq(ended, 1);
	ck_assert_float_eq(first, 2);
}
END_TEST

START_TEST(test_cut_stream)
{
	struct sb_error e;
	int frames, ended;
	float first;

	write_stream(in_path, 3, 0, UINT64_MAX, 0, -2);
	ck_assert_int_eq(run(NULL, &e), SB_ETRUNCATED);
	ck_assert_ptr_nonnull(strstr(e.msg, "without an end frame"));
	read_back(out_path, &frames, &ended, &first);
	ck_assert_int_eq(frames, 3);
	ck_assert_int_eq(ended, 0);     /* a cut input never gives a complete output */
}
END_TEST

START_TEST(test_bad_order_and_count)
{
	struct sb_error e;

	write_stream(in_path, 4, 1, 2, 0, -2);
	ck_assert_int_eq(run(NULL, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "frame 3 at byte"));
	ck_assert_ptr_nonnull(strstr(e.msg, "seq 3, expected 2"));
	write_stream(in_path, 4, 1, UINT64_MAX, 1, -2);
	ck_assert_int_eq(run(NULL, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "end frame says 5 rows, the stream had 4"));
}
END_TEST

START_TEST(test_stage_error)
{
	struct sb_error e;
	int frames, ended;
	float first;

	write_stream(in_path, 4, 1, UINT64_MAX, 0, 2);
	ck_assert_int_eq(run(NULL, &e), SB_EFORMAT);
	ck_assert_str_eq(e.msg, strcat(strcpy((char[256]){ 0 }, in_path),
				       ": frame 3 (rows 2-2): value -1"));
	read_back(out_path, &frames, &ended, &first);
	ck_assert_int_eq(frames, 2);
	ck_assert_int_eq(ended, 0);
}
END_TEST

START_TEST(test_bad_option_and_version)
{
	struct sb_runner_opts ro;
	struct sb_error e;
	struct sb_kv kv[1] = { { "nope", "1" } };
	struct sb_stage v2 = dbl_stage;

	sb_runner_opts_init(&ro);
	ro.input = in_path;
	ro.output = out_path;
	ck_assert_int_eq(sb_run(&dbl_stage, kv, 1, &ro, NULL, &e), SB_EINVAL);
	ck_assert_str_eq(e.msg, "unknown option 'nope'");
	ck_assert_str_eq(sb_kv_get(kv, 1, "nope"), "1");
	ck_assert_ptr_null(sb_kv_get(kv, 1, "x"));
	v2.version = 99;
	ck_assert_int_eq(sb_run(&v2, NULL, 0, &ro, NULL, &e), SB_EUNSUPPORTED);
	ck_assert_str_eq(e.msg, "stage double: interface version 99, expected 1 to 2");
	v2.version = 0;
	ck_assert_int_eq(sb_run(&v2, NULL, 0, &ro, NULL, &e), SB_EUNSUPPORTED);
}
END_TEST

/*
 * Version 2's hooks: report after open and before close, set_io before the first frame;
 * a stage reads a second input through the io (as sb-cosine reads its corpus).
 */
struct rep { int opened, frames, io_rows; const struct sb_stage_io *io; };
static int events[8], n_events;

static int rep_open(void **state, const struct sb_kv *opts, size_t n, struct sb_error *err)
{
	(void)opts;
	(void)n;
	(void)err;
	*state = calloc(1, sizeof(struct rep));
	((struct rep *)*state)->opened = 1;
	return SB_OK;
}

static int rep_process(void *state, const struct sb_frame *in, struct sb_emit *em,
		       struct sb_error *err)
{
	struct rep *r = state;
	struct sb_reader side;
	int rc;

	ck_assert_ptr_nonnull(r->io);
	r->frames++;
	if (r->frames == 1) {
		/* The second input: the same file, through the runner. */
		rc = r->io->open_input(r->io, &side, in_path, 0, err);
		if (rc)
			return rc;
		while ((rc = sb_reader_next(&side, err)) == SB_OK && side.f.kind != SB_KIND_END)
			r->io_rows += (int)side.f.rows;
		sb_reader_close(&side);
		if (rc != SB_OK)
			return rc;
	}
	return sb_emit_frame(em, in, err);
}

static void rep_close(void *state)
{
	events[n_events++] = 9;
	free(state);
}

static void rep_report(void *state, void *out)
{
	const struct rep *r = state;
	int *o = out;

	o[0] = r->frames;
	o[1] = r->io_rows;
}

static void rep_set_io(void *state, const struct sb_stage_io *io)
{
	((struct rep *)state)->io = io;
	events[n_events++] = 5;
}

static void on_report(void *ctx, int final)
{
	(void)ctx;
	events[n_events++] = final;
}

START_TEST(test_report_and_io)
{
	static const struct sb_stage st = {
		.version = 2, .name = "rep", .input = SB_STAGE_IN_FRAMES, .open = rep_open,
		.process = rep_process, .close = rep_close, .report = rep_report,
		.set_io = rep_set_io
	};
	struct sb_runner_opts ro;
	struct sb_error e;
	int out[2] = { -1, -1 };

	write_stream(in_path, 4, 1, UINT64_MAX, 0, -2);
	sb_runner_opts_init(&ro);
	ro.input = in_path;
	ro.output = out_path;
	ro.report.out = out;
	ro.report.ready = on_report;
	n_events = 0;
	ck_assert_int_eq(sb_run(&st, NULL, 0, &ro, NULL, &e), SB_OK);
	/* set_io, the report once open (0), once at the end (1), then close (9). */
	ck_assert_int_eq(n_events, 4);
	ck_assert_int_eq(events[0], 5);
	ck_assert_int_eq(events[1], 0);
	ck_assert_int_eq(events[2], 1);
	ck_assert_int_eq(events[3], 9);
	ck_assert_int_eq(out[0], 4);
	ck_assert_int_eq(out[1], 4);
	/* No report asked for: none made, the stage runs the same. */
	ro.report.out = NULL;
	n_events = 0;
	ck_assert_int_eq(sb_run(&st, NULL, 0, &ro, NULL, &e), SB_OK);
	ck_assert_int_eq(n_events, 2);
	/* The report is made after a failed run too: the side input, the same cut
	 * file, fails the first frame. */
	write_stream(in_path, 3, 0, UINT64_MAX, 0, -2);
	ro.report.out = out;
	n_events = 0;
	ck_assert_int_eq(sb_run(&st, NULL, 0, &ro, NULL, &e), SB_ETRUNCATED);
	ck_assert_int_eq(n_events, 4);
	ck_assert_int_eq(events[2], 1);
	ck_assert_int_eq(out[0], 1);
}
END_TEST

/* The table of a stage built against interface version 1: it ends at close. */
struct stage_v1 {
	unsigned version;
	const char *name;
	enum sb_stage_input input;
	int (*open)(void **, const struct sb_kv *, size_t, struct sb_error *);
	int (*process)(void *, const struct sb_frame *, struct sb_emit *, struct sb_error *);
	int (*flush)(void *, struct sb_emit *, struct sb_error *);
	void (*close)(void *);
};

START_TEST(test_version_1_stage)
{
	/* Heap storage of exactly the old size: reading a version 2 field would be out of
	 * bounds (AddressSanitizer). */
	struct stage_v1 *v1 = malloc(sizeof *v1);
	struct sb_runner_opts ro;
	struct sb_error e;
	int out[2] = { -1, -1 }, frames, ended;
	float first;

	*v1 = (struct stage_v1){ 1, "double", SB_STAGE_IN_FRAMES, dbl_open, dbl_process,
				 dbl_flush, dbl_close };
	write_stream(in_path, 5, 1, UINT64_MAX, 0, -2);
	sb_runner_opts_init(&ro);
	ro.input = in_path;
	ro.output = out_path;
	ro.report.out = out;
	ck_assert_int_eq(sb_run((const struct sb_stage *)v1, NULL, 0, &ro, NULL, &e), SB_OK);
	ck_assert_int_eq(out[0], -1);   /* no report hook in a version 1 table */
	read_back(out_path, &frames, &ended, &first);
	ck_assert_int_eq(frames, 5);
	ck_assert_int_eq(ended, 1);
	free(v1);
}
END_TEST

/* A text stage that records batch sizes and emits nothing; output goes to a sink. */
static size_t batches[16], n_batches;

static int txt_process(void *state, const struct sb_frame *in, struct sb_emit *em,
		       struct sb_error *err)
{
	ck_assert_int_eq(in->kind, SB_KIND_TEXT);
	ck_assert(in->has_text);
	batches[n_batches++] = in->rows;
	return SB_OK;
}

static int txt_open(void **s, const struct sb_kv *o, size_t n, struct sb_error *e)
{
	*s = NULL;
	return SB_OK;
}

static void txt_close(void *s) { }

static int sink_frames;

static int sink(void *ctx, const struct sb_frame *f, struct sb_error *err)
{
	ck_assert_int_eq(f->kind, SB_KIND_END);
	sink_frames++;
	return SB_OK;
}

START_TEST(test_text_batches_and_sink)
{
	static const struct sb_stage txt = {
		.version = SB_STAGE_VERSION, .name = "text", .input = SB_STAGE_IN_TEXT,
		.open = txt_open, .process = txt_process, .close = txt_close
	};
	struct sb_runner_opts ro;
	struct sb_emit em = { sink, NULL };
	FILE *fp = fopen(in_path, "w");

	fputs("a\nb\nc\nd\ne", fp);
	fclose(fp);
	sb_runner_opts_init(&ro);
	ro.input = in_path;
	ro.batch_rows = 2;
	ro.sink = &em;
	n_batches = 0;
	ck_assert_int_eq(sb_run(&txt, NULL, 0, &ro, NULL, NULL), SB_OK);
	ck_assert_uint_eq(n_batches, 3);
	ck_assert_uint_eq(batches[0], 2);
	ck_assert_uint_eq(batches[2], 1);
	ck_assert_int_eq(sink_frames, 1);
}
END_TEST

START_TEST(test_kv_parsers)
{
	struct sb_error e;
	size_t n;
	int b;

	ck_assert_int_eq(sb_kv_count("st", "k", "42", 1, 100, &n, &e), SB_OK);
	ck_assert_uint_eq(n, 42);
	ck_assert_int_eq(sb_kv_count("st", "k", "0", 1, 100, &n, &e), SB_EINVAL);
	ck_assert_str_eq(e.msg, "st: k: '0' is not a number from 1 to 100");
	ck_assert_int_eq(sb_kv_count("st", "k", "-1", 0, 100, &n, &e), SB_EINVAL);
	ck_assert_str_eq(e.msg, "st: k: expected a number, got '-1'");
	ck_assert_int_eq(sb_kv_count("st", "k", "99999999999999999999999", 0, SIZE_MAX, &n, &e),
			 SB_EINVAL);
	ck_assert_int_eq(sb_kv_count("st", "k", "12x", 0, 100, &n, &e), SB_EINVAL);
	ck_assert_int_eq(sb_kv_bool("st", "f", "yes", &b, &e), SB_OK);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(sb_kv_bool("st", "f", "0", &b, &e), SB_OK);
	ck_assert_int_eq(b, 0);
	ck_assert_int_eq(sb_kv_bool("st", "f", "maybe", &b, &e), SB_EINVAL);
	ck_assert_str_eq(e.msg, "st: f: expected 0 or 1, got 'maybe'");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("runner");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_complete_stream);
	tcase_add_test(tc, test_cut_stream);
	tcase_add_test(tc, test_bad_order_and_count);
	tcase_add_test(tc, test_stage_error);
	tcase_add_test(tc, test_bad_option_and_version);
	tcase_add_test(tc, test_text_batches_and_sink);
	tcase_add_test(tc, test_kv_parsers);
	tcase_add_test(tc, test_report_and_io);
	tcase_add_test(tc, test_version_1_stage);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
