/* Unit tests for lib/reader.c (the rules of a frame stream) and sb_frame_peek(). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reader.h"

static char path[64];

/* Appends one frame: a data frame of 'rows' rows at seq, or (rows < 0) an end frame
 * counting 'seq' rows. */
static void put_frame(FILE *fp, uint64_t seq, int rows)
{
	struct sb_frame f;
	struct sb_tensor *t;
	struct sb_buf b;
	size_t shape[2] = { rows > 0 ? (size_t)rows : 0, 2 };

	sb_frame_init(&f);
	sb_buf_init(&b);
	if (rows < 0) {
		f.kind = SB_KIND_END;
		f.rows_total = seq;
	} else {
		f.kind = SB_KIND_EMBEDDINGS;
		f.seq = seq;
		f.rows = (uint64_t)rows;
		ck_assert_int_eq(sb_frame_tensor_resize(&f, "sentence_embedding", SB_DTYPE_F32, 2,
							shape, &t, NULL), SB_OK);
		memset(t->data, 0, t->nbytes);
	}
	ck_assert_int_eq(sb_frame_encode(&f, &b, NULL), SB_OK);
	ck_assert_uint_eq(fwrite(b.data, 1, b.len, fp), b.len);
	sb_buf_destroy(&b);
	sb_frame_destroy(&f);
}

/* Writes the stream described by pairs (seq, rows) ... ending with a negative count. */
static void write_file(const int64_t *spec, size_t n)
{
	FILE *fp = fopen(path, "wb");

	ck_assert_ptr_nonnull(fp);
	for (size_t i = 0; i + 1 < n; i += 2)
		put_frame(fp, (uint64_t)spec[i], (int)spec[i + 1]);
	fclose(fp);
}

/* Reads the file to its end with flags; returns the last status, err filled. */
static int read_all(int flags, int *data_frames, int *ends, struct sb_error *err)
{
	struct sb_reader r;
	int rc;

	*data_frames = *ends = 0;
	sb_error_clear(err);
	ck_assert_int_eq(sb_reader_open(&r, path, NULL, flags, err), SB_OK);
	while ((rc = sb_reader_next(&r, err)) == SB_OK) {
		if (r.f.kind == SB_KIND_END)
			(*ends)++;
		else
			(*data_frames)++;
		if (flags & SB_READER_PEEK)
			ck_assert_uint_eq(r.f.n_tensors, 0);
		else if (r.f.kind != SB_KIND_END)
			ck_assert_uint_eq(r.f.n_tensors, 1);
	}
	sb_reader_close(&r);
	return rc;
}

static void setup(void)
{
	strcpy(path, "/tmp/check_reader.XXXXXX");
	close(mkstemp(path));
}

static void teardown(void)
{
	unlink(path);
}

START_TEST(test_complete)
{
	const int64_t s[] = { 0, 2, 2, 3, 5, -1 };
	struct sb_error e;
	int frames, ends;

	write_file(s, 6);
	ck_assert_int_eq(read_all(0, &frames, &ends, &e), SB_EOF);
	ck_assert_int_eq(frames, 2);
	ck_assert_int_eq(ends, 1);
	/* The envelope alone gives the same stream. */
	ck_assert_int_eq(read_all(SB_READER_PEEK, &frames, &ends, &e), SB_EOF);
	ck_assert_int_eq(frames, 2);
	ck_assert_int_eq(ends, 1);
}
END_TEST

START_TEST(test_gap)
{
	const int64_t s[] = { 0, 2, 3, 3, 6, -1 };
	struct sb_error e;
	int frames, ends;

	write_file(s, 6);
	ck_assert_int_eq(read_all(0, &frames, &ends, &e), SB_EFORMAT);
	ck_assert_int_eq(frames, 1);
	ck_assert_ptr_nonnull(strstr(e.msg, ": frame 2 at byte "));
	ck_assert_ptr_nonnull(strstr(e.msg, ": seq 3, expected 2 (rows missing or out of order)"));
	ck_assert_int_eq(read_all(SB_READER_PEEK, &frames, &ends, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "seq 3, expected 2"));
	/* Without the order checks the stream reads to its end frame. */
	ck_assert_int_eq(read_all(SB_READER_NO_ORDER, &frames, &ends, &e), SB_EOF);
	ck_assert_int_eq(frames, 2);
}
END_TEST

START_TEST(test_end_count)
{
	const int64_t s[] = { 0, 2, 2, 2, 5, -1 };
	struct sb_error e;
	int frames, ends;

	write_file(s, 6);
	ck_assert_int_eq(read_all(0, &frames, &ends, &e), SB_EFORMAT);
	ck_assert_int_eq(frames, 2);
	ck_assert_int_eq(ends, 0);
	ck_assert_ptr_nonnull(strstr(e.msg, ": frame 3 at byte "));
	ck_assert_ptr_nonnull(strstr(e.msg, ": end frame says 5 rows, the stream had 4"));
}
END_TEST

START_TEST(test_cut_and_empty)
{
	const int64_t s[] = { 0, 2, 2, 2 };
	struct sb_error e;
	int frames, ends;

	write_file(s, 4);
	ck_assert_int_eq(read_all(0, &frames, &ends, &e), SB_ETRUNCATED);
	ck_assert_int_eq(frames, 2);
	ck_assert_ptr_nonnull(strstr(e.msg, "input ended after frame 2 at byte "));
	ck_assert_ptr_nonnull(strstr(e.msg, " without an end frame: the stream was cut (4 rows)"));
	/* Cut is cut, whether the order is checked or not. */
	ck_assert_int_eq(read_all(SB_READER_NO_ORDER, &frames, &ends, &e), SB_ETRUNCATED);
	write_file(s, 0);
	ck_assert_int_eq(read_all(0, &frames, &ends, &e), SB_ETRUNCATED);
	ck_assert_ptr_nonnull(strstr(e.msg, "empty input: ended without an end frame"));
}
END_TEST

START_TEST(test_streams)
{
	/* Two streams, each numbered from 0 and closed by its own end frame. */
	const int64_t two[] = { 0, 2, 2, -1, 0, 1, 1, -1 };
	/* A complete stream, then one cut. */
	const int64_t cut[] = { 0, 2, 2, -1, 0, 1 };
	struct sb_error e;
	int frames, ends;

	write_file(two, 8);
	ck_assert_int_eq(read_all(SB_READER_STREAMS, &frames, &ends, &e), SB_EOF);
	ck_assert_int_eq(frames, 2);
	ck_assert_int_eq(ends, 2);
	/* One stream only: reading stops at the first end frame. */
	ck_assert_int_eq(read_all(0, &frames, &ends, &e), SB_EOF);
	ck_assert_int_eq(ends, 1);
	write_file(cut, 6);
	ck_assert_int_eq(read_all(SB_READER_STREAMS, &frames, &ends, &e), SB_ETRUNCATED);
	ck_assert_ptr_nonnull(strstr(e.msg, "input ended after frame 3 at byte "));
}
END_TEST

START_TEST(test_decode_error_named)
{
	FILE *fp;
	struct sb_error e;
	int frames, ends;

	fp = fopen(path, "wb");
	put_frame(fp, 0, 1);
	/* {"sb": 1, "kind": "end"}: an end frame without rows_total. */
	fputs("\202\242sb\001\244kind\243end", fp);
	fclose(fp);
	ck_assert_int_eq(read_all(0, &frames, &ends, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, ": frame 2 at byte "));
	ck_assert_ptr_nonnull(strstr(e.msg, "end frame without 'rows_total'"));
	ck_assert_int_eq(read_all(SB_READER_PEEK, &frames, &ends, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "end frame without 'rows_total'"));
}
END_TEST

START_TEST(test_peek)
{
	struct sb_frame f;
	struct sb_frame_head h;
	struct sb_buf b;
	struct sb_tensor *t;
	struct sb_error e;
	size_t shape[2] = { 3, 4 };

	sb_frame_init(&f);
	sb_buf_init(&b);
	f.kind = SB_KIND_HIDDEN;
	f.seq = 7;
	f.rows = 3;
	ck_assert_int_eq(sb_frame_tensor_resize(&f, "x", SB_DTYPE_F32, 2, shape, &t, NULL), SB_OK);
	memset(t->data, 0, t->nbytes);
	ck_assert_int_eq(sb_frame_encode(&f, &b, NULL), SB_OK);
	ck_assert_int_eq(sb_frame_peek(b.data, b.len, &h, &e), SB_OK);
	ck_assert_int_eq(h.kind, SB_KIND_HIDDEN);
	ck_assert_uint_eq(h.seq, 7);
	ck_assert_uint_eq(h.rows, 3);
	/* A trailing byte, as sb_frame_decode refuses it. */
	ck_assert_int_eq(sb_buf_append(&b, "\300", 1, NULL), SB_OK);
	ck_assert_int_eq(sb_frame_peek(b.data, b.len, &h, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "1 trailing bytes after the frame"));
	ck_assert_int_eq(h.seq, 0);
	/* A cut frame. */
	ck_assert_int_eq(sb_frame_peek(b.data, b.len / 2, &h, &e), SB_EFORMAT);
	sb_buf_destroy(&b);
	sb_frame_destroy(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reader");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_complete);
	tcase_add_test(tc, test_gap);
	tcase_add_test(tc, test_end_count);
	tcase_add_test(tc, test_cut_and_empty);
	tcase_add_test(tc, test_streams);
	tcase_add_test(tc, test_decode_error_named);
	tcase_add_test(tc, test_peek);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
