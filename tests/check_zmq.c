/* Unit tests for lib/farm.c (the farm's bookkeeping and codecs) and lib/zmq_*.c (the
 * ZeroMQ transport over inproc, the plain-text rule, keys). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "farm.h"
#include "frame.h"
#include "reader.h"
#include "transport.h"
#include "zmq_impl.h"

/* Encodes a tokens frame (seq, rows) or, rows_total >= 0, an end frame into b. */
static void encode(struct sb_buf *b, uint64_t seq, uint64_t rows, long rows_total)
{
	struct sb_frame f;
	struct sb_error err;

	sb_frame_init(&f);
	sb_buf_clear(b);
	if (rows_total >= 0) {
		f.kind = SB_KIND_END;
		f.rows_total = (uint64_t)rows_total;
	} else {
		struct sb_tensor *t;
		size_t shape[2] = { (size_t)rows, 3 };
		f.kind = SB_KIND_TOKENS;
		f.seq = seq;
		f.rows = rows;
		ck_assert_int_eq(sb_frame_tensor_resize(&f, "input_ids", SB_DTYPE_I32, 2, shape, &t,
							&err), SB_OK);
		memset(t->data, 0, t->nbytes);
		ck_assert_int_eq(sb_frame_meta_str(&f, "model", "m", &err), SB_OK);
	}
	ck_assert_int_eq(sb_frame_encode(&f, b, &err), SB_OK);
	sb_frame_destroy(&f);
}

START_TEST(test_hdr)
{
	struct sb_farm_hdr h = { SB_FARM_RESULT, 7, 0x0102030405060708ull, 42 }, g;
	unsigned char b[SB_FARM_HDR_SIZE];
	struct sb_error err;

	sb_farm_hdr_pack(&h, b);
	ck_assert_int_eq(sb_farm_hdr_unpack(b, sizeof(b), &g, &err), SB_OK);
	ck_assert_int_eq(g.cmd, SB_FARM_RESULT);
	ck_assert_uint_eq(g.count, 7);
	ck_assert_uint_eq(g.id, 0x0102030405060708ull);
	ck_assert_uint_eq(g.run, 42);
	ck_assert_int_eq(sb_farm_hdr_unpack(b, sizeof(b) - 1, &g, &err), SB_EFORMAT);
	b[4] = 99;
	ck_assert_int_eq(sb_farm_hdr_unpack(b, sizeof(b), &g, &err), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "unknown command 99"));
	b[0] = 'X';
	ck_assert_int_eq(sb_farm_hdr_unpack(b, sizeof(b), &g, &err), SB_EFORMAT);
}
END_TEST

START_TEST(test_peek)
{
	struct sb_buf b;
	struct sb_farm_peek pk;
	struct sb_error err;

	sb_buf_init(&b);
	encode(&b, 300, 32, -1);
	ck_assert_int_eq(sb_farm_peek(b.data, b.len, &pk, &err), SB_OK);
	ck_assert(!pk.is_end);
	ck_assert_uint_eq(pk.seq, 300);
	ck_assert_uint_eq(pk.rows, 32);
	/* Every truncation is refused, without reading past the end (ASan). */
	for (size_t n = 0; n < b.len; n++) {
		unsigned char *cut = malloc(n ? n : 1);
		memcpy(cut, b.data, n);
		ck_assert_int_eq(sb_farm_peek(cut, n, &pk, &err), SB_EFORMAT);
		free(cut);
	}
	encode(&b, 0, 0, 2000);
	ck_assert_int_eq(sb_farm_peek(b.data, b.len, &pk, &err), SB_OK);
	ck_assert(pk.is_end);
	ck_assert_uint_eq(pk.rows_total, 2000);
	ck_assert_int_eq(sb_farm_peek("\x93\x01\x02\x03", 4, &pk, &err), SB_EFORMAT);
	ck_assert_int_eq(sb_farm_peek("\x81\xa4kind\xa3" "end" "\xc0", 11, &pk, &err), SB_EFORMAT);
	sb_buf_destroy(&b);
}
END_TEST

/* Adds n requests of 32 rows each. */
static void add_reqs(struct sb_farm_core *c, int n)
{
	struct sb_buf b;
	uint64_t id;

	sb_buf_init(&b);
	for (int i = 0; i < n; i++) {
		encode(&b, (uint64_t)i * 32, 32, -1);
		ck_assert_int_eq(sb_farm_core_add(c, b.data, b.len, (uint64_t)i * 32, 32, &id, NULL),
				 SB_OK);
		ck_assert_uint_eq(id, (uint64_t)i);
	}
	sb_buf_destroy(&b);
}

/* Answers request id from worker w with the request's own frame; returns the status. */
static int answer(struct sb_farm_core *c, int w, uint64_t id)
{
	struct sb_buf part;
	struct sb_error err;

	sb_buf_init(&part);
	encode(&part, id * 32, 32, -1);
	int rc = sb_farm_core_result(c, w, id, &part, 1, &err);
	sb_buf_destroy(&part);
	return rc;
}

START_TEST(test_core_dispatch)
{
	struct sb_farm_core c;
	int w, a, b;
	uint64_t id;

	sb_farm_core_init(&c, 4, 64);
	ck_assert_uint_eq(sb_farm_core_capacity(&c), 0);
	a = sb_farm_core_add_worker(&c, "A", 1, "a", 2, 10.0, NULL);
	b = sb_farm_core_add_worker(&c, "B", 1, "b", 9, 10.0, NULL);
	ck_assert_int_eq(c.workers[b].credits, 4);      /* capped by max_credits */
	ck_assert_uint_eq(sb_farm_core_capacity(&c), 6);
	ck_assert_int_eq(sb_farm_core_find(&c, "B", 1), b);
	ck_assert_int_eq(sb_farm_core_find(&c, "C", 1), -1);
	add_reqs(&c, 8);
	/* Readiness: A joined first; after each hand-out the worker goes to the back. */
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert_int_eq(w, a);
	ck_assert_uint_eq(id, 0);
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert_int_eq(w, b);
	ck_assert_uint_eq(id, 1);
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert_int_eq(w, a);
	for (int i = 0; i < 3; i++) {
		ck_assert(sb_farm_core_dispatch(&c, &w, &id));
		ck_assert_int_eq(w, b);
	}
	/* Both are at their credits now. */
	ck_assert(!sb_farm_core_dispatch(&c, &w, &id));
	ck_assert_uint_eq(sb_farm_core_held(&c), 8);
	/* Out of order: nothing leaves until request 0 is done. */
	struct sb_buf *out;
	size_t n_out;
	uint64_t rows;
	ck_assert_int_eq(answer(&c, b, 1), 1);
	ck_assert(!sb_farm_core_pop(&c, &out, &n_out, &rows));
	ck_assert_int_eq(answer(&c, b, 1), 0);          /* duplicate */
	ck_assert_uint_eq(c.duplicates, 1);
	ck_assert_int_eq(answer(&c, a, 0), 1);
	for (uint64_t k = 0; k < 2; k++) {
		ck_assert(sb_farm_core_pop(&c, &out, &n_out, &rows));
		ck_assert_uint_eq(n_out, 1);
		ck_assert_uint_eq(rows, 32);
		sb_buf_destroy(&out[0]);
		free(out);
	}
	ck_assert(!sb_farm_core_pop(&c, &out, &n_out, &rows));
	ck_assert_uint_eq(sb_farm_core_held(&c), 8);    /* 6 + 2 released, unwritten */
	c.released_unacked = 0;
	ck_assert_int_eq(answer(&c, a, 0), 0);          /* released: duplicate */
	/* Both have a free credit again; B has been ready longer (it answered first). */
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert_int_eq(w, b);
	ck_assert_uint_eq(id, 6);
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert_int_eq(w, a);
	ck_assert_uint_eq(id, 7);
	sb_farm_core_destroy(&c);
}
END_TEST

START_TEST(test_core_lose_and_missing)
{
	struct sb_farm_core c;
	int w, a, b;
	uint64_t id;
	char miss[64];
	struct sb_error err;

	sb_farm_core_init(&c, 16, 64);
	a = sb_farm_core_add_worker(&c, "A", 1, "a", 2, 10.0, NULL);
	add_reqs(&c, 3);
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert(!sb_farm_core_dispatch(&c, &w, &id));
	sb_farm_core_missing(&c, miss, sizeof(miss));
	ck_assert_str_eq(miss, "0-31, 32-63, 64-95");
	sb_farm_core_missing(&c, miss, 12);
	ck_assert_str_eq(miss, "0-31...");
	ck_assert_uint_eq(sb_farm_core_lose_worker(&c, a), 2);
	ck_assert_uint_eq(c.resent, 2);
	ck_assert_uint_eq(sb_farm_core_capacity(&c), 0);
	ck_assert(!sb_farm_core_dispatch(&c, &w, &id));
	/* The dead worker's late answer is still welcome once (w -1: unknown). */
	ck_assert_int_eq(answer(&c, -1, 1), 1);
	sb_farm_core_missing(&c, miss, sizeof(miss));
	ck_assert_str_eq(miss, "0-31, 64-95");
	b = sb_farm_core_add_worker(&c, "B", 1, "b", 2, 10.0, NULL);
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert_int_eq(w, b);
	ck_assert_uint_eq(id, 0);                        /* the oldest first */
	/* A result whose rows do not cover the request is refused. */
	struct sb_buf part;
	sb_buf_init(&part);
	encode(&part, 0, 31, -1);
	ck_assert_int_eq(sb_farm_core_result(&c, b, 0, &part, 1, &err), SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "31 rows, expected 32"));
	encode(&part, 5, 32, -1);
	ck_assert_int_eq(sb_farm_core_result(&c, b, 0, &part, 1, &err), SB_EFORMAT);
	sb_buf_destroy(&part);
	sb_farm_core_destroy(&c);
}
END_TEST

START_TEST(test_core_hedge)
{
	struct sb_farm_core c;
	int w, a, b;
	uint64_t id;

	sb_farm_core_init(&c, 16, 64);
	a = sb_farm_core_add_worker(&c, "A", 1, "a", 1, 10.0, NULL);
	b = sb_farm_core_add_worker(&c, "B", 1, "b", 1, 10.0, NULL);
	add_reqs(&c, 2);
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert_int_eq(w, a);
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert_int_eq(w, b);
	ck_assert(!sb_farm_core_hedge(&c, &w, &id));    /* nobody free */
	ck_assert_int_eq(answer(&c, b, 1), 1);
	/* B is free, A still holds the oldest: B gets it too, once. */
	ck_assert(sb_farm_core_hedge(&c, &w, &id));
	ck_assert_int_eq(w, b);
	ck_assert_uint_eq(id, 0);
	ck_assert_int_eq(answer(&c, b, 0), 1);
	ck_assert(sb_farm_core_outstanding(&c));        /* A's copy is still on its way */
	ck_assert_int_eq(answer(&c, a, 0), 0);          /* the slow answer: duplicate */
	ck_assert(!sb_farm_core_outstanding(&c));
	ck_assert_uint_eq(c.hedged, 1);
	sb_farm_core_destroy(&c);
	/* A worker that is gone holds nothing the farm waits for. */
	sb_farm_core_init(&c, 16, 64);
	a = sb_farm_core_add_worker(&c, "A", 1, "a", 1, 10.0, NULL);
	add_reqs(&c, 1);
	ck_assert(!sb_farm_core_outstanding(&c));
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert(sb_farm_core_outstanding(&c));
	sb_farm_core_lose_worker(&c, a);
	ck_assert(!sb_farm_core_outstanding(&c));
	sb_farm_core_destroy(&c);
}
END_TEST

START_TEST(test_inproc_stream)
{
	struct sb_transport *w, *r;
	struct sb_transport_opts o;
	struct sb_buf b;
	struct sb_error err;
	const unsigned char *msg;
	size_t len;

	sb_zmq_init();
	memset(&o, 0, sizeof(o));
	o.timeout_ms = 5000;
	sb_buf_init(&b);
	ck_assert_int_eq(sb_transport_open(&w, "@inproc://check-a", SB_TRANSPORT_WRITE, &o, &err),
			 SB_OK);
	ck_assert_int_eq(sb_transport_open(&r, ">inproc://check-a", SB_TRANSPORT_READ, &o, &err),
			 SB_OK);
	for (int i = 0; i < 3; i++) {
		encode(&b, (uint64_t)i * 32, 32, -1);
		ck_assert_int_eq(sb_transport_send(w, b.data, b.len, &err), SB_OK);
	}
	encode(&b, 0, 0, 96);
	ck_assert_int_eq(sb_transport_send(w, b.data, b.len, &err), SB_OK);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(sb_transport_recv(r, &msg, &len, &err), SB_OK);
		struct sb_farm_peek pk;
		ck_assert_int_eq(sb_farm_peek(msg, len, &pk, &err), SB_OK);
		ck_assert_int_eq(pk.is_end, i == 3);
	}
	ck_assert_int_eq(sb_transport_recv(r, &msg, &len, &err), SB_EOF);
	/* The writer's flush returns once the reader acknowledged the end. */
	ck_assert_int_eq(sb_transport_flush(w, &err), SB_OK);
	sb_transport_close(&r);
	sb_transport_close(&w);

	/* A hole in the seqs is a cut stream: the stream reader, which every consumer of
	 * a link reads through, says frames were lost on the way. */
	ck_assert_int_eq(sb_transport_open(&w, "@inproc://check-b", SB_TRANSPORT_WRITE, &o, &err),
			 SB_OK);
	ck_assert_int_eq(sb_transport_open(&r, ">inproc://check-b", SB_TRANSPORT_READ, &o, &err),
			 SB_OK);
	encode(&b, 0, 32, -1);
	ck_assert_int_eq(sb_transport_send(w, b.data, b.len, &err), SB_OK);
	encode(&b, 64, 32, -1);
	ck_assert_int_eq(sb_transport_send(w, b.data, b.len, &err), SB_OK);
	{
		struct sb_reader rd;

		sb_reader_init(&rd, r, 0);
		ck_assert_int_eq(sb_reader_next(&rd, &err), SB_OK);
		ck_assert_int_eq(sb_reader_next(&rd, &err), SB_ETRUNCATED);
		ck_assert_ptr_nonnull(strstr(err.msg, "seq 64, expected 32"));
		ck_assert_ptr_nonnull(strstr(err.msg, "frames were lost"));
		sb_reader_close(&rd);
	}
	sb_transport_close(&r);
	sb_transport_close(&w);
	sb_buf_destroy(&b);
}
END_TEST

START_TEST(test_rules_and_keys)
{
	struct sb_transport *t = NULL;
	struct sb_transport_opts o;
	struct sb_error err;
	char pub[41], sec[41], path[64], allow[64];
	FILE *fp;

	sb_zmq_init();
	memset(&o, 0, sizeof(o));
	o.timeout_ms = -1;
	ck_assert_int_eq(sb_transport_open(&t, "@tcp://0.0.0.0:0", SB_TRANSPORT_READ, &o, &err),
			 SB_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "plain text on a non-loopback address"));
	ck_assert_int_eq(sb_transport_open(&t, "@udp://x", SB_TRANSPORT_READ, &o, &err),
			 SB_EINVAL);
	ck_assert_int_eq(sb_zmq_keypair(pub, sec, &err), SB_OK);
	ck_assert_uint_eq(strlen(pub), 40);
	ck_assert_uint_eq(strlen(sec), 40);
	/* A binding CurveZMQ side needs an allow-list, and refuses a secret key in it. */
	o.curve_secret = sec;
	ck_assert_int_eq(sb_transport_open(&t, "@tcp://127.0.0.1:0", SB_TRANSPORT_READ, &o, &err),
			 SB_EINVAL);
	snprintf(allow, sizeof(allow), "/tmp/check-zmq-allow.%d", (int)getpid());
	fp = fopen(allow, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "secret-key = %s\n", sec);
	fclose(fp);
	o.allow_file = allow;
	ck_assert_int_eq(sb_transport_open(&t, "@tcp://127.0.0.1:0", SB_TRANSPORT_READ, &o, &err),
			 SB_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "holds a secret key"));
	fp = fopen(allow, "w");
	fprintf(fp, "# workers\n%s\npublic-key = \"%s\"\n", pub, pub);
	fclose(fp);
	ck_assert_int_eq(sb_transport_open(&t, "@tcp://127.0.0.1:0", SB_TRANSPORT_READ, &o, &err),
			 SB_OK);
	sb_transport_close(&t);
	/* Garbage in a key file names the line. */
	snprintf(path, sizeof(path), "/tmp/check-zmq-key.%d", (int)getpid());
	fp = fopen(path, "w");
	fprintf(fp, "public-key = %s\nsecret-key = tooshort\n", pub);
	fclose(fp);
	o.curve_secret = path;
	o.curve_server = pub;
	o.allow_file = NULL;
	ck_assert_int_eq(sb_transport_open(&t, ">tcp://127.0.0.1:1", SB_TRANSPORT_WRITE, &o, &err),
			 SB_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "line 2: not a 40-character Z85"));
	/* A connecting side needs the server's key. */
	o.curve_secret = sec;
	o.curve_server = NULL;
	ck_assert_int_eq(sb_transport_open(&t, ">tcp://127.0.0.1:1", SB_TRANSPORT_WRITE, &o, &err),
			 SB_EINVAL);
	unlink(path);
	unlink(allow);
}
END_TEST

/* Encodes an embeddings frame of one row with the given provenance (NULL: no key). */
static void encode_prov(struct sb_buf *b, uint64_t seq, const char *fp, const char *model,
			const char *pooling)
{
	struct sb_frame f;
	struct sb_tensor *t;
	size_t shape[2] = { 1, 4 };

	sb_frame_init(&f);
	sb_buf_clear(b);
	f.kind = SB_KIND_EMBEDDINGS;
	f.seq = seq;
	f.rows = 1;
	ck_assert_int_eq(sb_frame_tensor_resize(&f, "sentence_embedding", SB_DTYPE_F32, 2, shape,
						&t, NULL), SB_OK);
	memset(t->data, 0, t->nbytes);
	if (model)
		ck_assert_int_eq(sb_frame_meta_str(&f, "model", model, NULL), SB_OK);
	if (fp)
		ck_assert_int_eq(sb_frame_meta_str(&f, "model_fingerprint", fp, NULL), SB_OK);
	ck_assert_int_eq(sb_frame_meta_uint(&f, "dim", 4, NULL), SB_OK);
	if (pooling)
		ck_assert_int_eq(sb_frame_meta_str(&f, "pooling", pooling, NULL), SB_OK);
	ck_assert_int_eq(sb_frame_encode(&f, b, NULL), SB_OK);
	sb_frame_destroy(&f);
}

static void prov_of(struct sb_farm_prov *pv, const char *fp, const char *model,
		    const char *pooling)
{
	struct sb_buf b;

	sb_buf_init(&b);
	encode_prov(&b, 0, fp, model, pooling);
	ck_assert_int_eq(sb_farm_prov_read(b.data, b.len, pv, NULL), SB_OK);
	sb_buf_destroy(&b);
}

START_TEST(test_prov)
{
	struct sb_farm_prov a, b;
	struct sb_error err;
	struct sb_buf buf;
	char shown[400];

	prov_of(&a, "fnv1a64:1", "/m/a", "mean");
	sb_farm_prov_show(&a, shown, sizeof(shown));
	ck_assert_str_eq(shown, "kind 'embeddings', model_fingerprint 'fnv1a64:1', model '/m/a', "
			 "dim 4, pooling 'mean'");
	/* The same weights in another folder: fingerprints decide. */
	prov_of(&b, "fnv1a64:1", "/elsewhere/a", "mean");
	ck_assert_int_eq(sb_farm_prov_check(&a, &b, &err), SB_OK);
	/* Other weights: both models and fingerprints named. */
	prov_of(&b, "fnv1a64:2", "/m/b", "mean");
	ck_assert_int_eq(sb_farm_prov_check(&a, &b, &err), SB_EMISMATCH);
	ck_assert_str_eq(err.msg, "model '/m/b' (fnv1a64:2), the first results' '/m/a' (fnv1a64:1)");
	/* No fingerprint on one side: the model names decide. */
	prov_of(&b, NULL, "/m/a", "mean");
	ck_assert_int_eq(sb_farm_prov_check(&a, &b, &err), SB_OK);
	prov_of(&b, NULL, "/m/b", "mean");
	ck_assert_int_eq(sb_farm_prov_check(&a, &b, &err), SB_EMISMATCH);
	ck_assert_str_eq(err.msg, "model '/m/b', the first results' '/m/a'");
	/* Another pooling; a key missing on one side proves nothing. */
	prov_of(&b, "fnv1a64:1", "/m/a", "cls");
	ck_assert_int_eq(sb_farm_prov_check(&a, &b, &err), SB_EMISMATCH);
	ck_assert_str_eq(err.msg, "pooling 'cls', the first results' 'mean'");
	prov_of(&b, "fnv1a64:1", "/m/a", NULL);
	ck_assert_int_eq(sb_farm_prov_check(&a, &b, &err), SB_OK);
	/* Another kind. */
	sb_buf_init(&buf);
	encode(&buf, 0, 1, -1);
	ck_assert_int_eq(sb_farm_prov_read(buf.data, buf.len, &b, NULL), SB_OK);
	ck_assert_int_eq(sb_farm_prov_check(&a, &b, &err), SB_EMISMATCH);
	ck_assert_str_eq(err.msg, "kind 'tokens', the first results' 'embeddings'");
	/* Not a frame. */
	ck_assert_int_eq(sb_farm_prov_read(buf.data, buf.len - 1, &b, &err), SB_EFORMAT);
	ck_assert_int_eq(sb_farm_prov_read("\x81\xa4meta\xc0", 7, &b, &err), SB_OK);
	ck_assert_uint_eq(b.present, 0);
	sb_buf_destroy(&buf);
}
END_TEST

/* Every encoding MessagePack allows is read: a meta map of the map32 form, a dim
 * written as a signed integer, a string of the str8 form. */
START_TEST(test_prov_encodings)
{
	static const unsigned char msg[] = {
		0x81, 0xa4, 'm', 'e', 't', 'a',
		0xdf, 0, 0, 0, 3,
		0xa3, 'd', 'i', 'm', 0xd2, 0, 0, 1, 0,
		0xa7, 'p', 'o', 'o', 'l', 'i', 'n', 'g', 0xd9, 4, 'm', 'e', 'a', 'n',
		0xa4, 'm', 'o', 'r', 'e', 0xc0,
	};
	struct sb_farm_prov pv;
	char shown[200];

	ck_assert_int_eq(sb_farm_prov_read(msg, sizeof(msg), &pv, NULL), SB_OK);
	sb_farm_prov_show(&pv, shown, sizeof(shown));
	ck_assert_str_eq(shown, "dim 256, pooling 'mean'");
	/* A map32 that claims more keys than bytes remain. */
	ck_assert_int_eq(sb_farm_prov_read(msg, 11, &pv, NULL), SB_EFORMAT);
}
END_TEST

START_TEST(test_core_pin)
{
	struct sb_farm_core c;
	struct sb_buf part;
	struct sb_error err;
	struct sb_farm_req *r;
	int w, a, b;
	uint64_t id;

	sb_farm_core_init(&c, 4, 64);
	a = sb_farm_core_add_worker(&c, "A", 1, "a", 1, 10.0, NULL);
	b = sb_farm_core_add_worker(&c, "B", 1, "b", 1, 10.0, NULL);
	sb_buf_init(&part);
	for (uint64_t i = 0; i < 3; i++) {
		encode_prov(&part, i, "fnv1a64:1", "/m/a", "mean");
		ck_assert_int_eq(sb_farm_core_add(&c, part.data, part.len, i, 1, &id, NULL), SB_OK);
	}
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert(w == a && id == 0);
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert(w == b && id == 1);
	/* A's result pins model a. */
	encode_prov(&part, 0, "fnv1a64:1", "/m/a", "mean");
	ck_assert_int_eq(sb_farm_core_result(&c, a, 0, &part, 1, &err), 1);
	ck_assert(c.pinned);
	ck_assert_str_eq(c.pin_worker, "a");
	/* B's result of model b is refused: request 1 is pending again, taken from B. */
	encode_prov(&part, 1, "fnv1a64:2", "/m/b", "mean");
	ck_assert_int_eq(sb_farm_core_result(&c, b, 1, &part, 1, &err), SB_EMISMATCH);
	ck_assert_ptr_nonnull(strstr(err.msg, "model '/m/b' (fnv1a64:2)"));
	ck_assert_uint_ne(part.len, 0);         /* not taken */
	r = sb_farm_core_req(&c, 1);
	ck_assert_int_eq(r->state, SB_FARM_PENDING);
	ck_assert_uint_eq(c.workers[b].lost, 1);
	ck_assert_uint_eq(c.resent, 1);
	ck_assert_uint_eq(sb_farm_core_lose_worker(&c, b), 0);
	/* It goes to A, whose answer is taken; the output holds model a only. */
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert(w == a && id == 1);
	encode_prov(&part, 1, "fnv1a64:1", "/elsewhere/a", "mean");
	ck_assert_int_eq(sb_farm_core_result(&c, a, 1, &part, 1, &err), 1);
	/* B is not handed anything more. */
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert(w == a && id == 2);
	sb_farm_core_destroy(&c);
	sb_buf_destroy(&part);
}
END_TEST

/* A worker of another model whose answer comes second (the request was hedged and
 * the good copy taken first) is still found out: its duplicate is refused, the
 * request stays done with the good rows. */
START_TEST(test_core_pin_duplicate)
{
	struct sb_farm_core c;
	struct sb_buf part;
	struct sb_error err;
	struct sb_buf *out;
	size_t n_out;
	uint64_t rows;
	int w, a, b;
	uint64_t id;

	sb_farm_core_init(&c, 4, 64);
	a = sb_farm_core_add_worker(&c, "A", 1, "a", 1, 10.0, NULL);
	b = sb_farm_core_add_worker(&c, "B", 1, "b", 1, 10.0, NULL);
	sb_buf_init(&part);
	for (uint64_t i = 0; i < 2; i++) {
		encode_prov(&part, i, "fnv1a64:1", "/m/a", "mean");
		ck_assert_int_eq(sb_farm_core_add(&c, part.data, part.len, i, 1, &id, NULL), SB_OK);
	}
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert(w == a && id == 0);
	ck_assert(sb_farm_core_dispatch(&c, &w, &id));
	ck_assert(w == b && id == 1);
	encode_prov(&part, 0, "fnv1a64:1", "/m/a", "mean");
	ck_assert_int_eq(sb_farm_core_result(&c, a, 0, &part, 1, &err), 1);
	ck_assert(sb_farm_core_pop(&c, &out, &n_out, &rows));
	for (size_t i = 0; i < n_out; i++)
		sb_buf_destroy(&out[i]);
	free(out);
	/* A is free, B holds request 1, now the oldest: hedged to A, whose answer is
	 * taken first. */
	ck_assert(sb_farm_core_hedge(&c, &w, &id));
	ck_assert(w == a && id == 1);
	encode_prov(&part, 1, "fnv1a64:1", "/m/a", "mean");
	ck_assert_int_eq(sb_farm_core_result(&c, a, 1, &part, 1, &err), 1);
	/* B's late answer of model b: a duplicate, and refused for its provenance. */
	encode_prov(&part, 1, "fnv1a64:2", "/m/b", "mean");
	ck_assert_int_eq(sb_farm_core_result(&c, b, 1, &part, 1, &err), SB_EMISMATCH);
	ck_assert_ptr_nonnull(strstr(err.msg, "model '/m/b' (fnv1a64:2)"));
	ck_assert_int_eq(sb_farm_core_req(&c, 1)->state, SB_FARM_DONE);
	ck_assert_uint_eq(c.workers[b].n_inflight, 0);  /* its credit came back */
	ck_assert_uint_eq(c.duplicates, 0);
	/* A late answer of the same model is a plain duplicate. */
	encode_prov(&part, 1, "fnv1a64:1", "/other/a", "mean");
	ck_assert_int_eq(sb_farm_core_result(&c, b, 1, &part, 1, &err), 0);
	ck_assert_uint_eq(c.duplicates, 1);
	sb_farm_core_destroy(&c);
	sb_buf_destroy(&part);
}
END_TEST

/* A worker given up (silent past --liveness) whose answer of another model arrives
 * afterwards: the answer is refused, and the farm can still tell which worker sent it,
 * so that the worker is refused too (it used to be given frames again when it came
 * back, and refused only if one was left). */
START_TEST(test_core_sender_given_up)
{
	struct sb_farm_core c;
	struct sb_buf part;
	struct sb_error err;
	struct sb_buf *out;
	size_t n_out;
	uint64_t rows, id;
	int w, a, b;

	sb_farm_core_init(&c, 4, 64);
	a = sb_farm_core_add_worker(&c, "A", 1, "a", 1, 10.0, NULL);
	b = sb_farm_core_add_worker(&c, "B", 1, "b", 1, 10.0, NULL);
	sb_buf_init(&part);
	for (uint64_t i = 0; i < 2; i++) {
		encode_prov(&part, i, "fnv1a64:1", "/m/a", "mean");
		ck_assert_int_eq(sb_farm_core_add(&c, part.data, part.len, i, 1, &id, NULL), SB_OK);
	}
	ck_assert(sb_farm_core_dispatch(&c, &w, &id) && w == a && id == 0);
	ck_assert(sb_farm_core_dispatch(&c, &w, &id) && w == b && id == 1);
	encode_prov(&part, 0, "fnv1a64:1", "/m/a", "mean");
	ck_assert_int_eq(sb_farm_core_result(&c, a, 0, &part, 1, &err), 1);
	ck_assert(sb_farm_core_pop(&c, &out, &n_out, &rows));
	for (size_t i = 0; i < n_out; i++)
		sb_buf_destroy(&out[i]);
	free(out);
	/* B is given up: request 1 goes back to the queue. */
	ck_assert_uint_eq(sb_farm_core_lose_worker(&c, b), 1);
	ck_assert_int_eq(sb_farm_core_find(&c, "B", 1), -1);
	ck_assert_int_eq(sb_farm_core_sender(&c, "B", 1), b);
	ck_assert_int_eq(sb_farm_core_sender(&c, "A", 1), a);
	ck_assert_int_eq(sb_farm_core_sender(&c, "C", 1), -1);
	/* Its late answer, of model b, is not taken. */
	encode_prov(&part, 1, "fnv1a64:2", "/m/b", "mean");
	ck_assert_int_eq(sb_farm_core_result(&c, -1, 1, &part, 1, &err), SB_EMISMATCH);
	ck_assert_int_eq(sb_farm_core_req(&c, 1)->state, SB_FARM_PENDING);
	/* Back under the same routing id, the live entry is the sender. */
	int b2 = sb_farm_core_add_worker(&c, "B", 1, "b", 1, 10.0, NULL);
	ck_assert_int_ge(b2, 0);
	ck_assert_int_eq(sb_farm_core_sender(&c, "B", 1), b2);
	sb_farm_core_destroy(&c);
	sb_buf_destroy(&part);
}
END_TEST

/* Collects the transport's event lines. */
static char events[2048];

static void on_event(void *ctx, int level, const char *line)
{
	(void)ctx;
	snprintf(events + strlen(events), sizeof(events) - strlen(events), "%d %s\n", level, line);
}

START_TEST(test_endpoints_and_events)
{
	struct sb_transport *t = NULL;
	struct sb_transport_opts o;
	struct sb_error err;
	char spec[96];

	sb_zmq_init();
	memset(&o, 0, sizeof(o));
	/* No default role: the user says which side binds. */
	ck_assert_int_eq(sb_transport_open(&t, "tcp://127.0.0.1:1", SB_TRANSPORT_WRITE, &o, &err),
			 SB_EINVAL);
	ck_assert_str_eq(err.msg, "tcp://127.0.0.1:1: a ZeroMQ endpoint needs @ to bind or > to "
			 "connect ('@tcp://127.0.0.1:1' or '>tcp://127.0.0.1:1')");
	ck_assert_int_eq(sb_transport_open(&t, "ipc:///tmp/x", SB_TRANSPORT_READ, &o, &err),
			 SB_EINVAL);
	ck_assert_ptr_null(t);
	/* A bound writer without a reader says it waits (under -v), then times out. */
	events[0] = '\0';
	o.timeout_ms = 300;
	o.event = on_event;
	snprintf(spec, sizeof(spec), "@inproc://check-events-%d", (int)getpid());
	ck_assert_int_eq(sb_transport_open(&t, spec, SB_TRANSPORT_WRITE, &o, &err), SB_OK);
	for (int i = 0; i < 2 * 8 + 2; i++) {
		int rc = sb_transport_send(t, "x", 1, &err);
		if (rc != SB_OK) {
			ck_assert_int_eq(rc, SB_ETIMEOUT);
			break;
		}
	}
	sb_transport_close(&t);
	ck_assert_ptr_nonnull(strstr(events, "1 @inproc://check-events-"));
	ck_assert_ptr_nonnull(strstr(events, ": waiting for a reader\n"));
}
END_TEST

/* The context's end is bounded: a socket left open keeps zmq_ctx_term waiting for
 * good (as libzmq did now and then for a socket whose peer vanished while it
 * closed), and sb_zmq_ctx_put must return all the same, after the bound. */
START_TEST(test_ctx_term_bounded)
{
	struct sb_error err;
	void *ctx = sb_zmq_ctx_get(&err);

	ck_assert_ptr_nonnull(ctx);
	void *left_open = zmq_socket(ctx, ZMQ_PAIR);
	ck_assert_ptr_nonnull(left_open);
	sb_zmq_ctx_put();
	/* Returned; a context made afterwards works. */
	struct sb_transport *w = NULL;
	struct sb_transport_opts o;
	sb_zmq_init();
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(sb_transport_open(&w, "@inproc://check-after-stuck",
					   SB_TRANSPORT_WRITE, &o, &err), SB_OK);
	sb_transport_close(&w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("zmq");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_hdr);
	tcase_add_test(tc, test_peek);
	tcase_add_test(tc, test_core_dispatch);
	tcase_add_test(tc, test_core_lose_and_missing);
	tcase_add_test(tc, test_core_hedge);
	tcase_add_test(tc, test_inproc_stream);
	tcase_add_test(tc, test_rules_and_keys);
	tcase_add_test(tc, test_prov);
	tcase_add_test(tc, test_prov_encodings);
	tcase_add_test(tc, test_core_pin);
	tcase_add_test(tc, test_core_pin_duplicate);
	tcase_add_test(tc, test_core_sender_given_up);
	tcase_add_test(tc, test_endpoints_and_events);
	suite_add_tcase(s, tc);
	/* Its own case: it takes the bound (SB_ZMQ_LINGER_MS + 3 s) by design. */
	TCase *tb = tcase_create("term");
	tcase_set_timeout(tb, 60);
	tcase_add_test(tb, test_ctx_term_bounded);
	suite_add_tcase(s, tb);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
