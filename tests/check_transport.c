/* Unit tests for lib/transport.c: frames over pipes in any chunking, cut streams,
 * files, and the line reader. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"
#include "internal.h"
#include "transport.h"

/* Encodes n frames of growing size into b. */
static void make_stream(struct sb_buf *b, int n)
{
	struct sb_frame f;

	sb_frame_init(&f);
	for (int i = 0; i < n; i++) {
		struct sb_tensor *t;
		size_t shape[2] = { 1, (size_t)(i * 3000 + 1) };

		sb_frame_reset(&f);
		f.seq = (uint64_t)i;
		f.rows = 1;
		sb_frame_tensor_resize(&f, "x", SB_DTYPE_F32, 2, shape, &t, NULL);
		for (size_t k = 0; k < shape[1]; k++)
			((float *)t->data)[k] = (float)(i + (int)k);
		ck_assert_int_eq(sb_frame_encode(&f, b, NULL), SB_OK);
	}
	sb_frame_destroy(&f);
}

/* Writes p[0..n) to fd in chunks of `chunk` bytes from a child process. */
static pid_t writer(int fd, const unsigned char *p, size_t n, size_t chunk)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		for (size_t off = 0; off < n; off += chunk) {
			size_t k = n - off < chunk ? n - off : chunk;

			if (write(fd, p + off, k) != (ssize_t)k)
				_exit(1);
		}
		_exit(0);
	}
	close(fd);
	return pid;
}

static void read_all_chunked(size_t chunk)
{
	struct sb_buf b;
	struct sb_transport *t;
	struct sb_frame f;
	struct sb_error e;
	int fds[2], n = 0, rc;
	const unsigned char *msg;
	size_t len;
	pid_t pid;

	sb_buf_init(&b);
	make_stream(&b, 6);
	ck_assert_int_eq(pipe(fds), 0);
	pid = writer(fds[1], b.data, b.len, chunk);
	ck_assert_int_eq(sb_transport_open_fd(&t, fds[0], 1, "pipe", SB_TRANSPORT_READ, NULL, &e),
			 SB_OK);
	sb_frame_init(&f);
	while ((rc = sb_transport_recv(t, &msg, &len, &e)) == SB_OK) {
		ck_assert_int_eq(sb_frame_decode(msg, len, &f, &e), SB_OK);
		ck_assert_uint_eq(f.seq, (uint64_t)n);
		ck_assert_float_eq(((float *)sb_frame_tensor(&f, "x")->data)[0], (float)n);
		n++;
	}
	ck_assert_int_eq(rc, SB_EOF);
	ck_assert_int_eq(n, 6);
	ck_assert_uint_eq(t->n_bytes, b.len);
	waitpid(pid, NULL, 0);
	sb_transport_close(&t);
	ck_assert_ptr_null(t);
	sb_frame_destroy(&f);
	sb_buf_destroy(&b);
}

START_TEST(test_pipe_one_byte) { read_all_chunked(1); }
END_TEST
START_TEST(test_pipe_odd_chunks) { read_all_chunked(4093); }
END_TEST
START_TEST(test_pipe_big_chunks) { read_all_chunked(1 << 20); }
END_TEST

START_TEST(test_cut_stream)
{
	struct sb_buf b;
	struct sb_transport *t;
	struct sb_error e;
	const unsigned char *msg;
	size_t len;
	int fds[2], rc, n = 0;
	pid_t pid;

	sb_buf_init(&b);
	make_stream(&b, 3);
	ck_assert_int_eq(pipe(fds), 0);
	pid = writer(fds[1], b.data, b.len - 7, 1000);
	sb_transport_open_fd(&t, fds[0], 1, "cut", SB_TRANSPORT_READ, NULL, &e);
	while ((rc = sb_transport_recv(t, &msg, &len, &e)) == SB_OK)
		n++;
	ck_assert_int_eq(rc, SB_ETRUNCATED);
	ck_assert_int_eq(n, 2);
	ck_assert_ptr_nonnull(strstr(e.msg, "cut: frame 3 at byte"));
	ck_assert_ptr_nonnull(strstr(e.msg, "stream ends inside the frame"));
	waitpid(pid, NULL, 0);
	sb_transport_close(&t);
	sb_buf_destroy(&b);
}
END_TEST

START_TEST(test_garbage_and_limit)
{
	struct sb_transport *t;
	struct sb_transport_opts o;
	struct sb_error e;
	const unsigned char *msg;
	size_t len;
	int fds[2];
	pid_t pid;
	static const unsigned char claim[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01 };
	static const unsigned char bin_claim[] = { 0xc6, 0x40, 0x00, 0x00, 0x00, 0x01 };

	ck_assert_int_eq(pipe(fds), 0);
	pid = writer(fds[1], (const unsigned char *)"\xc1xyz", 4, 4);
	sb_transport_open_fd(&t, fds[0], 1, "junk", SB_TRANSPORT_READ, NULL, &e);
	ck_assert_int_eq(sb_transport_recv(t, &msg, &len, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "junk: frame 1 at byte 0"));
	waitpid(pid, NULL, 0);
	sb_transport_close(&t);

	/* A 4-billion-element claim with a 1 MB limit: refused at once. */
	memset(&o, 0, sizeof o);
	o.max_msg_bytes = 1 << 20;
	ck_assert_int_eq(pipe(fds), 0);
	pid = writer(fds[1], claim, sizeof claim, sizeof claim);
	sb_transport_open_fd(&t, fds[0], 1, "claim", SB_TRANSPORT_READ, &o, &e);
	ck_assert_int_eq(sb_transport_recv(t, &msg, &len, &e), SB_ELIMIT);
	waitpid(pid, NULL, 0);
	sb_transport_close(&t);
	/* Four billion elements cannot fit the default 2 GiB limit either. */
	ck_assert_int_eq(pipe(fds), 0);
	pid = writer(fds[1], claim, sizeof claim, sizeof claim);
	sb_transport_open_fd(&t, fds[0], 1, "claim", SB_TRANSPORT_READ, NULL, &e);
	ck_assert_int_eq(sb_transport_recv(t, &msg, &len, &e), SB_ELIMIT);
	waitpid(pid, NULL, 0);
	sb_transport_close(&t);
	/* A 1 GB bin claim within the limit is just a cut stream: the reader buffers only
	 * the bytes that arrived. */
	ck_assert_int_eq(pipe(fds), 0);
	pid = writer(fds[1], bin_claim, sizeof bin_claim, sizeof bin_claim);
	sb_transport_open_fd(&t, fds[0], 1, "claim", SB_TRANSPORT_READ, NULL, &e);
	ck_assert_int_eq(sb_transport_recv(t, &msg, &len, &e), SB_ETRUNCATED);
	waitpid(pid, NULL, 0);
	sb_transport_close(&t);
}
END_TEST

START_TEST(test_files_and_specs)
{
	char path[] = "/tmp/sb-check-transport-XXXXXX";
	struct sb_transport *t;
	struct sb_buf b;
	struct sb_error e;
	const unsigned char *msg;
	size_t len;
	int fd = mkstemp(path), n = 0;

	ck_assert_int_ge(fd, 0);
	close(fd);
	sb_buf_init(&b);
	make_stream(&b, 4);
	ck_assert_int_eq(sb_transport_open(&t, path, SB_TRANSPORT_WRITE, NULL, &e), SB_OK);
	ck_assert_int_eq(sb_transport_send(t, b.data, b.len, &e), SB_OK);
	ck_assert_int_eq(sb_transport_flush(t, &e), SB_OK);
	sb_transport_close(&t);
	ck_assert_int_eq(sb_transport_open(&t, path, SB_TRANSPORT_READ, NULL, &e), SB_OK);
	while (sb_transport_recv(t, &msg, &len, &e) == SB_OK)
		n++;
	ck_assert_int_eq(n, 4);
	sb_transport_close(&t);
	unlink(path);
	ck_assert_int_eq(sb_transport_open(&t, "/nonexistent/x", SB_TRANSPORT_READ, NULL, &e),
			 SB_ENOTFOUND);
	ck_assert_int_eq(sb_transport_open(&t, "", SB_TRANSPORT_READ, NULL, &e), SB_EINVAL);
	if (!sb_transport_zmq_open)
		ck_assert_int_eq(sb_transport_open(&t, "@tcp://127.0.0.1:1", SB_TRANSPORT_READ, NULL,
						   &e), SB_EUNSUPPORTED);
	sb_buf_destroy(&b);
}
END_TEST

START_TEST(test_epipe)
{
	struct sb_transport *t;
	struct sb_error e;
	static unsigned char big[1 << 17];
	int fds[2], rc = SB_OK;

	signal(SIGPIPE, SIG_IGN);
	ck_assert_int_eq(pipe(fds), 0);
	close(fds[0]);
	sb_transport_open_fd(&t, fds[1], 1, "out", SB_TRANSPORT_WRITE, NULL, &e);
	rc = sb_transport_send(t, big, sizeof big, &e);
	ck_assert_int_eq(rc, SB_EPIPE);
	sb_transport_close(&t);
}
END_TEST

static void lines_from(const char *data, size_t n, size_t chunk, const char **want, int n_want)
{
	struct sb_linereader *lr;
	struct sb_error e;
	const char *line;
	size_t len;
	int fds[2], i = 0, rc;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = writer(fds[1], (const unsigned char *)data, n, chunk);
	sb_linereader_open_fd(&lr, fds[0], 1, "text", &e);
	while ((rc = sb_linereader_next(lr, &line, &len, 0, &e)) == SB_OK) {
		ck_assert_int_lt(i, n_want);
		ck_assert_uint_eq(len, strlen(want[i]));
		ck_assert_int_eq(memcmp(line, want[i], len), 0);
		i++;
	}
	ck_assert_int_eq(rc, SB_EOF);
	ck_assert_int_eq(i, n_want);
	waitpid(pid, NULL, 0);
	sb_linereader_close(&lr);
}

START_TEST(test_lines)
{
	static const char *w1[] = { "a", "", "bc\r", "last" };
	static const char *w2[] = { "x", "" };

	lines_from("a\n\nbc\r\nlast", 11, 1, w1, 4);
	lines_from("a\n\nbc\r\nlast", 11, 100, w1, 4);
	lines_from("x\n\n", 3, 2, w2, 2);
	lines_from("", 0, 1, NULL, 0);
}
END_TEST

START_TEST(test_line_limit)
{
	struct sb_linereader *lr;
	struct sb_error e;
	const char *line;
	size_t len;
	int fds[2];
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = writer(fds[1], (const unsigned char *)"ok\ntoolongline\n", 15, 15);
	sb_linereader_open_fd(&lr, fds[0], 1, "text", &e);
	ck_assert_int_eq(sb_linereader_next(lr, &line, &len, 5, &e), SB_OK);
	ck_assert_int_eq(sb_linereader_next(lr, &line, &len, 5, &e), SB_ELIMIT);
	ck_assert_ptr_nonnull(strstr(e.msg, "line 2"));
	waitpid(pid, NULL, 0);
	sb_linereader_close(&lr);
}
END_TEST

START_TEST(test_line_chunks)
{
	/* Pieces of at most 4 bytes; eol tells where each line ends; line numbers count
	 * lines, not pieces. */
	static const char data[] = "abcdefghij\nxy\n\nabcd\nlastline";
	static const char *want[] = { "abcd", "efgh", "ij", "xy", "", "abcd", "last", "line" };
	static const int want_eol[] = { 0, 0, 1, 1, 1, 1, 0, 1 };
	static const unsigned want_line[] = { 1, 1, 1, 2, 3, 4, 5, 5 };
	struct sb_linereader *lr;
	struct sb_error e;
	const char *p;
	size_t len;
	int fds[2], eol, i = 0, rc;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = writer(fds[1], (const unsigned char *)data, sizeof data - 1, 3);
	sb_linereader_open_fd(&lr, fds[0], 1, "text", &e);
	while ((rc = sb_linereader_next_chunk(lr, &p, &len, 4, &eol, &e)) == SB_OK) {
		ck_assert_int_lt(i, 8);
		ck_assert_uint_eq(len, strlen(want[i]));
		ck_assert_int_eq(memcmp(p, want[i], len), 0);
		ck_assert_msg(eol == want_eol[i], "piece %d: eol %d", i, eol);
		ck_assert_uint_eq(sb_linereader_lineno(lr), want_line[i]);
		i++;
	}
	ck_assert_int_eq(rc, SB_EOF);
	ck_assert_int_eq(i, 8);
	waitpid(pid, NULL, 0);
	sb_linereader_close(&lr);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("transport");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_pipe_one_byte);
	tcase_add_test(tc, test_pipe_odd_chunks);
	tcase_add_test(tc, test_pipe_big_chunks);
	tcase_add_test(tc, test_cut_stream);
	tcase_add_test(tc, test_garbage_and_limit);
	tcase_add_test(tc, test_files_and_specs);
	tcase_add_test(tc, test_epipe);
	tcase_add_test(tc, test_lines);
	tcase_add_test(tc, test_line_limit);
	tcase_add_test(tc, test_line_chunks);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
