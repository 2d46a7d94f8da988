/* Unit tests for lib/frame.c: encode/decode round trips, every malformed input the
 * decoder must refuse, and the incremental scanner. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

/* A tiny MessagePack writer for hand-made (and deliberately broken) frames. */
struct mp {
	unsigned char b[1 << 16];
	size_t n;
};

static void put(struct mp *m, const void *p, size_t n)
{
	ck_assert_uint_le(m->n + n, sizeof m->b);
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void put_be(struct mp *m, uint64_t v, int k)
{
	for (int i = k - 1; i >= 0; i--) {
		unsigned char c = (unsigned char)(v >> (8 * i));

		put(m, &c, 1);
	}
}

static void mp_byte(struct mp *m, unsigned char c) { put(m, &c, 1); }
static void mp_map(struct mp *m, unsigned n) { mp_byte(m, 0xde); put_be(m, n, 2); }
static void mp_arr(struct mp *m, unsigned n) { mp_byte(m, 0xdc); put_be(m, n, 2); }
static void mp_uint(struct mp *m, uint64_t v) { mp_byte(m, 0xcf); put_be(m, v, 8); }
static void mp_int(struct mp *m, int64_t v) { mp_byte(m, 0xd3); put_be(m, (uint64_t)v, 8); }

static void mp_str(struct mp *m, const char *s)
{
	size_t n = strlen(s);

	mp_byte(m, 0xdb);
	put_be(m, n, 4);
	put(m, s, n);
}

static void mp_bin(struct mp *m, const void *p, size_t n)
{
	mp_byte(m, 0xc6);
	put_be(m, n, 4);
	put(m, p, n);
}

/* Header of a tokens frame with one tensor 'x': the caller writes the tensor map. */
static void frame_head(struct mp *m, unsigned version, uint64_t rows)
{
	mp_map(m, 5);
	mp_str(m, "sb");
	mp_uint(m, version);
	mp_str(m, "kind");
	mp_str(m, "tokens");
	mp_str(m, "seq");
	mp_uint(m, 0);
	mp_str(m, "rows");
	mp_uint(m, rows);
	mp_str(m, "tensors");
	mp_map(m, 1);
	mp_str(m, "x");
}

static int decode(const struct mp *m, struct sb_error *e)
{
	struct sb_frame f;
	int rc;

	sb_frame_init(&f);
	rc = sb_frame_decode(m->b, m->n, &f, e);
	sb_frame_destroy(&f);
	return rc;
}

static void tensor(struct mp *m, const char *dtype, int nd, const uint64_t *shape, size_t nbytes)
{
	static unsigned char zeros[4096];

	mp_map(m, 3);
	mp_str(m, "dtype");
	mp_str(m, dtype);
	mp_str(m, "shape");
	mp_arr(m, (unsigned)nd);
	for (int i = 0; i < nd; i++)
		mp_uint(m, shape[i]);
	mp_str(m, "data");
	mp_bin(m, zeros, nbytes);
}

START_TEST(test_roundtrip)
{
	struct sb_frame f, g;
	struct sb_buf b;
	struct sb_tensor *t;
	struct sb_error e;
	size_t shape[2] = { 3, 4 }, size;
	struct sb_frame_scan sc;

	sb_frame_init(&f);
	sb_frame_init(&g);
	sb_buf_init(&b);
	f.kind = SB_KIND_HIDDEN;
	f.seq = 7;
	f.rows = 3;
	ck_assert_int_eq(sb_frame_tensor_resize(&f, "a", SB_DTYPE_F32, 2, shape, &t, &e), SB_OK);
	for (int i = 0; i < 12; i++)
		((float *)t->data)[i] = (float)i * 0.5f - 1;
	for (int dt = 0; dt < SB_DTYPE_COUNT; dt++) {
		char name[8];

		snprintf(name, sizeof name, "t%d", dt);
		ck_assert_int_eq(sb_frame_tensor_resize(&f, name, (enum sb_dtype)dt, 2, shape, &t, &e),
				 SB_OK);
		memset(t->data, 0x40 + dt, t->nbytes);
	}
	ck_assert_int_eq(sb_frame_text_alloc(&f, 3, &e), SB_OK);
	sb_frame_text_set(&f, 0, "héllo", strlen("héllo"), &e);
	sb_frame_text_set(&f, 1, "a\0b", 3, &e);
	ck_assert_int_eq(sb_frame_meta_str(&f, "model", "m1", &e), SB_OK);
	sb_frame_meta_int(&f, "neg", -5, &e);
	sb_frame_meta_uint(&f, "dim", 768, &e);
	sb_frame_meta_float(&f, "eps", 1e-12, &e);
	sb_frame_meta_bool(&f, "normalized", 1, &e);
	sb_frame_meta_str(&f, "model", "m2", &e);       /* replaces */
	ck_assert_int_eq(sb_frame_encode(&f, &b, &e), SB_OK);

	sb_frame_scan_init(&sc, 0);
	ck_assert_int_eq(sb_frame_scan(&sc, b.data, b.len, &size, &e), SB_OK);
	ck_assert_uint_eq(size, b.len);
	ck_assert_int_eq(sb_frame_decode(b.data, b.len, &g, &e), SB_OK);
	ck_assert_int_eq(g.kind, SB_KIND_HIDDEN);
	ck_assert_uint_eq(g.seq, 7);
	ck_assert_uint_eq(g.rows, 3);
	ck_assert_uint_eq(g.n_tensors, f.n_tensors);
	for (size_t i = 0; i < f.n_tensors; i++) {
		struct sb_tensor *a = &f.tensors[i].t, *c = sb_frame_tensor(&g, f.tensors[i].name);

		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(a->dtype, c->dtype);
		ck_assert_uint_eq(a->nbytes, c->nbytes);
		ck_assert_int_eq(memcmp(a->data, c->data, a->nbytes), 0);
	}
	ck_assert(g.has_text);
	ck_assert_str_eq(g.text[0].p, "héllo");
	ck_assert_uint_eq(g.text[1].n, 3);
	ck_assert_int_eq(memcmp(g.text[1].p, "a\0b", 3), 0);
	ck_assert_uint_eq(g.text[2].n, 0);
	ck_assert_str_eq(sb_frame_meta_get(&g, "model")->v.s.p, "m2");
	ck_assert_int_eq(sb_frame_meta_get(&g, "neg")->v.i, -5);
	ck_assert_uint_eq(sb_frame_meta_get(&g, "dim")->v.u, 768);
	ck_assert_double_eq(sb_frame_meta_get(&g, "eps")->v.f, 1e-12);
	ck_assert_int_eq(sb_frame_meta_get(&g, "normalized")->v.b, 1);
	ck_assert_ptr_null(sb_frame_meta_get(&g, "absent"));

	/* Re-encoding the decoded frame gives the same bytes. */
	{
		struct sb_buf b2;

		sb_buf_init(&b2);
		ck_assert_int_eq(sb_frame_encode(&g, &b2, &e), SB_OK);
		ck_assert_uint_eq(b2.len, b.len);
		ck_assert_int_eq(memcmp(b2.data, b.data, b.len), 0);
		sb_buf_destroy(&b2);
	}
	sb_frame_destroy(&f);
	sb_frame_destroy(&g);
	sb_buf_destroy(&b);
}
END_TEST

START_TEST(test_end_frame_and_reuse)
{
	struct sb_frame f;
	struct sb_buf b;
	struct sb_tensor *t;
	void *p;
	size_t shape[1] = { 100 };
	static const unsigned char want[] = {
		0x83, 0xa2, 's', 'b', 0x01, 0xa4, 'k', 'i', 'n', 'd', 0xa3, 'e', 'n', 'd',
		0xaa, 'r', 'o', 'w', 's', '_', 't', 'o', 't', 'a', 'l', 0x2a
	};

	sb_frame_init(&f);
	sb_buf_init(&b);
	f.kind = SB_KIND_END;
	f.rows_total = 42;
	ck_assert_int_eq(sb_frame_encode(&f, &b, NULL), SB_OK);
	ck_assert_uint_eq(b.len, sizeof want);
	ck_assert_int_eq(memcmp(b.data, want, sizeof want), 0);
	ck_assert_int_eq(sb_frame_decode(b.data, b.len, &f, NULL), SB_OK);
	ck_assert_int_eq(f.kind, SB_KIND_END);
	ck_assert_uint_eq(f.rows_total, 42);
	/* Storage of a reset frame is reused by the next tensor. */
	f.kind = SB_KIND_TOKENS;
	f.rows = 100;
	sb_frame_tensor_resize(&f, "x", SB_DTYPE_I64, 1, shape, &t, NULL);
	p = t->data;
	sb_frame_reset(&f);
	ck_assert_uint_eq(f.n_tensors, 0);
	ck_assert_ptr_null(sb_frame_tensor(&f, "x"));
	shape[0] = 50;
	sb_frame_tensor_resize(&f, "y", SB_DTYPE_F32, 1, shape, &t, NULL);
	ck_assert_ptr_eq(t->data, p);
	sb_frame_destroy(&f);
	sb_buf_destroy(&b);
}
END_TEST

START_TEST(test_encode_refuses_inconsistent)
{
	struct sb_frame f;
	struct sb_buf b;
	struct sb_tensor *t;
	struct sb_error e;
	size_t shape[2] = { 2, 3 };

	sb_frame_init(&f);
	sb_buf_init(&b);
	f.rows = 3;
	sb_frame_tensor_resize(&f, "x", SB_DTYPE_F32, 2, shape, &t, NULL);
	ck_assert_int_eq(sb_frame_encode(&f, &b, &e), SB_EINVAL);
	ck_assert_ptr_nonnull(strstr(e.msg, "frame has 3 rows"));
	ck_assert_uint_eq(b.len, 0);
	f.kind = SB_KIND_TEXT;
	ck_assert_int_eq(sb_frame_encode(&f, &b, &e), SB_EINVAL);
	sb_frame_destroy(&f);
	sb_buf_destroy(&b);
}
END_TEST

START_TEST(test_bad_frames)
{
	struct mp m;
	struct sb_error e;
	uint64_t s2[2] = { 2, 3 }, neg_like[1] = { 1 };

	/* Not a map. */
	m.n = 0;
	mp_arr(&m, 0);
	ck_assert_int_eq(decode(&m, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "expected a map"));
	/* Garbage. */
	m.n = 0;
	mp_byte(&m, 0xc1);
	ck_assert_int_eq(decode(&m, &e), SB_EFORMAT);
	/* Unknown version. */
	m.n = 0;
	frame_head(&m, 2, 2);
	tensor(&m, "float32", 2, s2, 24);
	ck_assert_int_eq(decode(&m, &e), SB_EUNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(e.msg, "unknown sb version 2"));
	/* Unknown dtype. */
	m.n = 0;
	frame_head(&m, 1, 2);
	tensor(&m, "float64", 2, s2, 48);
	ck_assert_int_eq(decode(&m, &e), SB_EUNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(e.msg, "unknown dtype 'float64'"));
	/* Data length not matching the shape. */
	m.n = 0;
	frame_head(&m, 1, 2);
	tensor(&m, "float32", 2, s2, 20);
	ck_assert_int_eq(decode(&m, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "20 bytes of data"));
	/* Shape whose product overflows. */
	m.n = 0;
	frame_head(&m, 1, 2);
	tensor(&m, "float32", 3, (uint64_t[]){ 2, UINT64_MAX / 2, 4 }, 0);
	ck_assert_int_eq(decode(&m, &e), SB_ELIMIT);
	/* Negative dimension. */
	m.n = 0;
	frame_head(&m, 1, 1);
	mp_map(&m, 3);
	mp_str(&m, "dtype");
	mp_str(&m, "int8");
	mp_str(&m, "shape");
	mp_arr(&m, 1);
	mp_int(&m, -1);
	mp_str(&m, "data");
	mp_bin(&m, "", 0);
	ck_assert_int_eq(decode(&m, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "negative"));
	/* First dimension not equal to rows. */
	m.n = 0;
	frame_head(&m, 1, 5);
	tensor(&m, "int8", 1, neg_like, 1);
	ck_assert_int_eq(decode(&m, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "frame has 5 rows"));
	/* Truncated inside the frame. */
	m.n = 0;
	frame_head(&m, 1, 2);
	tensor(&m, "float32", 2, s2, 24);
	m.n -= 5;
	ck_assert_int_eq(decode(&m, &e), SB_EFORMAT);
	/* Missing keys and wrong types. */
	m.n = 0;
	mp_map(&m, 1);
	mp_str(&m, "sb");
	mp_uint(&m, 1);
	ck_assert_int_eq(decode(&m, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "without 'kind'"));
	m.n = 0;
	mp_map(&m, 2);
	mp_str(&m, "sb");
	mp_str(&m, "1");
	mp_str(&m, "kind");
	mp_str(&m, "end");
	ck_assert_int_eq(decode(&m, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "'sb': expected an integer"));
	m.n = 0;
	mp_map(&m, 2);
	mp_str(&m, "sb");
	mp_uint(&m, 1);
	mp_str(&m, "kind");
	mp_str(&m, "end");
	ck_assert_int_eq(decode(&m, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "rows_total"));
	m.n = 0;
	mp_map(&m, 2);
	mp_str(&m, "sb");
	mp_uint(&m, 1);
	mp_str(&m, "kind");
	mp_str(&m, "text");
	ck_assert_int_eq(decode(&m, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "unknown kind 'text'"));
	/* A claimed length far beyond the message: refused before any allocation. */
	m.n = 0;
	mp_byte(&m, 0xdd);
	put_be(&m, 0xffffffff, 4);
	ck_assert_int_eq(decode(&m, &e), SB_EFORMAT);
	m.n = 0;
	frame_head(&m, 1, 2);
	mp_map(&m, 1);
	mp_str(&m, "data");
	mp_byte(&m, 0xc6);
	put_be(&m, 0xfffffff0, 4);
	ck_assert_int_eq(decode(&m, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "claims more bytes"));
	/* Text count not equal to rows. */
	m.n = 0;
	mp_map(&m, 6);
	mp_str(&m, "sb");
	mp_uint(&m, 1);
	mp_str(&m, "kind");
	mp_str(&m, "tokens");
	mp_str(&m, "seq");
	mp_uint(&m, 0);
	mp_str(&m, "rows");
	mp_uint(&m, 2);
	mp_str(&m, "tensors");
	mp_map(&m, 0);
	mp_str(&m, "text");
	mp_arr(&m, 1);
	mp_str(&m, "x");
	ck_assert_int_eq(decode(&m, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "'text' has 1 entries"));
	/* A key given twice is refused, not silently overwritten. */
	m.n = 0;
	mp_map(&m, 3);
	mp_str(&m, "sb");
	mp_uint(&m, 1);
	mp_str(&m, "kind");
	mp_str(&m, "end");
	mp_str(&m, "kind");
	mp_str(&m, "end");
	ck_assert_int_eq(decode(&m, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "key 'kind' appears twice"));
	/* A nested meta value is named. */
	m.n = 0;
	mp_map(&m, 3);
	mp_str(&m, "sb");
	mp_uint(&m, 1);
	mp_str(&m, "kind");
	mp_str(&m, "tokens");
	mp_str(&m, "meta");
	mp_map(&m, 1);
	mp_str(&m, "a");
	mp_map(&m, 0);
	ck_assert_int_eq(decode(&m, &e), SB_EFORMAT);
	/* Trailing bytes. */
	m.n = 0;
	mp_map(&m, 0);
	mp_byte(&m, 0);
	ck_assert_int_eq(decode(&m, &e), SB_EFORMAT);
}
END_TEST

START_TEST(test_deep_nesting)
{
	/* 100000 nested arrays: the scanner counts without recursion; the decoder refuses
	 * at the first byte because the schema wants a map. */
	size_t n = 100000, size;
	unsigned char *p = malloc(n + 1);
	struct sb_frame_scan sc;
	struct sb_frame f;
	struct sb_error e;

	memset(p, 0x91, n);
	p[n] = 0xc0;
	sb_frame_scan_init(&sc, 0);
	ck_assert_int_eq(sb_frame_scan(&sc, p, n + 1, &size, &e), SB_OK);
	ck_assert_uint_eq(size, n + 1);
	sb_frame_init(&f);
	ck_assert_int_eq(sb_frame_decode(p, n + 1, &f, &e), SB_EFORMAT);
	/* Nested inside an ignored key: skipped without recursion, then the frame is
	 * refused for its missing keys, not for a stack overflow. */
	{
		unsigned char *q = malloc(n + 16);
		size_t k = 0;

		q[k++] = 0x81;
		q[k++] = 0xa1;
		q[k++] = 'z';
		memset(q + k, 0x91, n);
		k += n;
		q[k++] = 0xc0;
		ck_assert_int_eq(sb_frame_decode(q, k, &f, &e), SB_EFORMAT);
		ck_assert_ptr_nonnull(strstr(e.msg, "without 'sb'"));
		free(q);
	}
	sb_frame_destroy(&f);
	free(p);
}
END_TEST

START_TEST(test_scan_incremental)
{
	struct sb_frame f;
	struct sb_buf b;
	struct sb_frame_scan sc;
	struct sb_tensor *t;
	size_t shape[2] = { 4, 1000 }, size = 0, n;
	struct sb_error e;

	sb_frame_init(&f);
	sb_buf_init(&b);
	f.rows = 4;
	sb_frame_tensor_resize(&f, "x", SB_DTYPE_F32, 2, shape, &t, NULL);
	ck_assert_int_eq(sb_frame_encode(&f, &b, NULL), SB_OK);
	/* Byte by byte: EAGAIN until the last byte. */
	sb_frame_scan_init(&sc, 0);
	for (n = 0; n < b.len; n++)
		ck_assert_int_eq(sb_frame_scan(&sc, b.data, n, &size, NULL), SB_EAGAIN);
	ck_assert_int_eq(sb_frame_scan(&sc, b.data, n, &size, NULL), SB_OK);
	ck_assert_uint_eq(size, b.len);
	/* A limit smaller than the frame is refused as soon as the length is seen. */
	sb_frame_scan_init(&sc, 1000);
	ck_assert_int_eq(sb_frame_scan(&sc, b.data, b.len, &size, &e), SB_ELIMIT);
	/* An array32 claiming 2^32-1 elements with 5 bytes present: wait, no memory. */
	{
		unsigned char claim[5] = { 0xdd, 0xff, 0xff, 0xff, 0xff };

		sb_frame_scan_init(&sc, 0);
		ck_assert_int_eq(sb_frame_scan(&sc, claim, 5, &size, NULL), SB_ELIMIT);
		sb_frame_scan_init(&sc, (size_t)1 << 40);
		ck_assert_int_eq(sb_frame_scan(&sc, claim, 5, &size, NULL), SB_EAGAIN);
	}
	sb_frame_destroy(&f);
	sb_buf_destroy(&b);
}
END_TEST

START_TEST(test_check_tensor)
{
	struct sb_frame f;
	struct sb_tensor *t;
	struct sb_error e;
	size_t shape[2] = { 2, 5 };

	sb_frame_init(&f);
	f.rows = 2;
	sb_frame_tensor_resize(&f, "input_ids", SB_DTYPE_I64, 2, shape, NULL, NULL);
	ck_assert_int_eq(sb_frame_check_tensor(&f, "input_ids", SB_DTYPE_I64, 2, &t, &e), SB_OK);
	ck_assert_int_eq(sb_frame_check_tensor(&f, "attention_mask", SB_DTYPE_I64, 2, &t, &e),
			 SB_EFORMAT);
	ck_assert_str_eq(e.msg, "tokens frame: no tensor 'attention_mask'");
	ck_assert_int_eq(sb_frame_check_tensor(&f, "input_ids", SB_DTYPE_I32, 2, &t, &e),
			 SB_EFORMAT);
	ck_assert_int_eq(sb_frame_check_tensor(&f, "input_ids", SB_DTYPE_I64, 3, &t, &e),
			 SB_EFORMAT);
	sb_frame_destroy(&f);
}
END_TEST

/* What a stream that is not frames looks like: text, .npy, or nothing in particular. */
START_TEST(test_sniff)
{
	static const unsigned char npy[] = "\x93NUMPY\x01\x00v\x00{'descr'";
	static const unsigned char map[] = { 0x85, 0xa2, 's', 'b', 0x01 };
	static const unsigned char bad[] = { 0xc1, 'x', 'y', 'z', 'w', 'v' };
	static const unsigned char nul[] = { 'a', 'b', 0x00, 'c', 'd', 'e' };
	const char *text = "hello world\nsecond line\n";
	const char *utf8 = "\xc4\x84 ogonek, \xd7\xa9 shin\n";
	struct sb_error e;

	sb_error_clear(&e);
	ck_assert_int_eq(sb_frame_sniff(text, strlen(text), 0, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "looks like text"));
	ck_assert_ptr_nonnull(strstr(e.msg, "sb-tokenize"));
	ck_assert_int_eq(sb_frame_sniff(utf8, strlen(utf8), 1, &e), SB_EFORMAT);
	/* A UTF-8 sequence cut by the end of what was read is text if more may come. */
	ck_assert_int_eq(sb_frame_sniff(utf8, 12, 0, &e), SB_EFORMAT);
	ck_assert_int_eq(sb_frame_sniff(utf8, 12, 1, &e), SB_OK);
	ck_assert_int_eq(sb_frame_sniff(npy, sizeof npy - 1, 0, &e), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, ".npy"));
	ck_assert_ptr_nonnull(strstr(e.msg, "--from-npy"));
	/* Fewer than 6 bytes that start no map: wait for more, unless the stream ended. */
	ck_assert_int_eq(sb_frame_sniff(npy, 4, 0, &e), SB_EAGAIN);
	ck_assert_int_eq(sb_frame_sniff("hi", 2, 0, &e), SB_EAGAIN);
	ck_assert_int_eq(sb_frame_sniff("hi", 2, 1, &e), SB_EFORMAT);
	ck_assert_int_eq(sb_frame_sniff("", 0, 0, &e), SB_EAGAIN);
	ck_assert_int_eq(sb_frame_sniff("", 0, 1, &e), SB_OK);
	/* A map (a frame, maybe), bytes that are no text: left to the scanner and decoder. */
	ck_assert_int_eq(sb_frame_sniff(map, 1, 0, &e), SB_OK);
	ck_assert_int_eq(sb_frame_sniff(map, sizeof map, 1, &e), SB_OK);
	ck_assert_int_eq(sb_frame_sniff(bad, sizeof bad, 0, &e), SB_OK);
	ck_assert_int_eq(sb_frame_sniff(nul, sizeof nul, 1, &e), SB_OK);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_end_frame_and_reuse);
	tcase_add_test(tc, test_encode_refuses_inconsistent);
	tcase_add_test(tc, test_bad_frames);
	tcase_add_test(tc, test_deep_nesting);
	tcase_add_test(tc, test_scan_incremental);
	tcase_add_test(tc, test_check_tensor);
	tcase_add_test(tc, test_sniff);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
