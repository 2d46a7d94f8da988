/*
 * fuzz_farm.c - fuzz target for what a farm broker reads from the network: the message
 * header (sb_farm_hdr_unpack), the frame peek (sb_farm_peek), and the broker's
 * bookkeeping (struct sb_farm_core) driven by a hostile sequence of events: workers
 * joining and dying, results for unknown, duplicate or in-flight ids, results whose
 * rows do not match, hedging.
 *
 * Input: the whole input goes to the header and peek readers; then it is read as a
 * program, one op byte followed by its argument bytes.  Besides the sanitizers, the
 * output must be what a correct broker writes: requests released strictly in input
 * order, each exactly once, with the rows and seqs of that request.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm.h"
#include "frame.h"
#include "fuzz.h"

#define MAX_REQ 256

struct prog {
	const uint8_t *p;
	size_t n, pos;
};

static unsigned next(struct prog *g)
{
	return g->pos < g->n ? g->p[g->pos++] : 0;
}

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_farm: property violated: %s\n", what);
	abort();
}

/* An encoded embeddings frame of the given seq and rows (kind end when end). */
static void make_part(struct sb_buf *b, uint64_t seq, uint64_t rows, int end)
{
	struct sb_frame f;
	struct sb_tensor *t;
	size_t shape[2] = { (size_t)rows, 1 };

	sb_frame_init(&f);
	if (end) {
		f.kind = SB_KIND_END;
		f.rows_total = rows;
	} else {
		f.kind = SB_KIND_EMBEDDINGS;
		f.seq = seq;
		f.rows = rows;
		if (sb_frame_tensor_resize(&f, "sentence_embedding", SB_DTYPE_F32, 2, shape, &t,
					   NULL))
			abort();
	}
	if (sb_frame_encode(&f, b, NULL))
		abort();
	sb_frame_destroy(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_farm_hdr h;
	struct sb_farm_peek pk;
	struct sb_farm_core c;
	struct sb_error err;
	struct prog g = { data, size, 0 };
	uint64_t req_seq[MAX_REQ], req_rows[MAX_REQ], n_req = 0, n_popped = 0, seq = 0;
	char missing[64];

	(void)sb_farm_hdr_unpack(data, size, &h, &err);
	(void)sb_farm_peek(data, size, &pk, &err);
	if (size >= SB_FARM_HDR_SIZE && sb_farm_hdr_unpack(data, SB_FARM_HDR_SIZE, &h, &err) == 0) {
		unsigned char re[SB_FARM_HDR_SIZE];
		struct sb_farm_hdr h2;

		sb_farm_hdr_pack(&h, re);
		if (sb_farm_hdr_unpack(re, sizeof re, &h2, &err) != 0 || h2.cmd != h.cmd ||
		    h2.count != h.count || h2.id != h.id || h2.run != h.run)
			fail("header pack/unpack round trip");
	}

	if (size < 2)
		return 0;
	sb_farm_core_init(&c, 1 + data[0] % 4, 1 + (size > 1 ? data[1] % 16 : 0));
	g.pos = 2;
	while (g.pos < g.n) {
		unsigned op = next(&g) % 8;
		uint64_t id;
		int w;

		switch (op) {
		case 0: {       /* a worker joins */
			unsigned char ident = (unsigned char)next(&g);

			if (sb_farm_core_find(&c, &ident, 1) < 0)
				(void)sb_farm_core_add_worker(&c, &ident, 1, "w", next(&g) % 5, 1e18,
							      &err);
			break;
		}
		case 1: {       /* an input frame arrives */
			uint64_t rows = next(&g) % 4;

			if (n_req >= MAX_REQ)
				break;
			if (sb_farm_core_add(&c, "x", 1, seq, rows, &id, &err) != SB_OK)
				fail("adding a request failed");
			if (id != n_req)
				fail("request ids are not 0, 1, 2...");
			req_seq[n_req] = seq;
			req_rows[n_req++] = rows;
			seq += rows;
			break;
		}
		case 2:
			(void)sb_farm_core_dispatch(&c, &w, &id);
			break;
		case 3: {       /* a result arrives, from anyone, for any id */
			struct sb_buf parts[3];
			unsigned np = next(&g) % 4, who = next(&g), mode = next(&g);
			uint64_t rid = c.base + (next(&g) % 8) - 2, s, r = 0;

			w = c.n_workers && who % 2 ? (int)(who / 2 % c.n_workers) : -1;
			if (w >= 0 && !c.workers[w].alive)
				w = -1;
			s = rid < n_req ? req_seq[rid] : seq;
			np = np > 3 ? 3 : np;
			for (unsigned i = 0; i < np; i++) {
				/* mode bits: right rows or not, right seqs or not, an end frame */
				uint64_t rows = rid < n_req ? req_rows[rid] : 1;

				r = (mode & 1) ? next(&g) % 4 : (i + 1 == np ? rows : 0);
				sb_buf_init(&parts[i]);
				make_part(&parts[i], (mode & 2) ? next(&g) : s, r, (mode & 4) && i == 0);
				s += r;
			}
			(void)sb_farm_core_result(&c, w, rid, parts, np, &err);
			for (unsigned i = 0; i < np; i++)
				sb_buf_destroy(&parts[i]);
			break;
		}
		case 4:
			if (c.n_workers)
				(void)sb_farm_core_lose_worker(&c, (int)(next(&g) % c.n_workers));
			break;
		case 5: {       /* the output takes what is ready, in order */
			struct sb_buf *out;
			size_t n_out;
			uint64_t rows, s;

			while (sb_farm_core_pop(&c, &out, &n_out, &rows) == 1) {
				if (n_popped >= n_req)
					fail("released a request that was never read");
				if (rows != req_rows[n_popped])
					fail("released rows differ from the request's");
				s = req_seq[n_popped];
				for (size_t i = 0; i < n_out; i++) {
					if (sb_farm_peek(out[i].data, out[i].len, &pk, &err) != SB_OK ||
					    pk.is_end || pk.seq != s)
						fail("released frames out of seq order");
					s += pk.rows;
					sb_buf_destroy(&out[i]);
				}
				free(out);
				if (s != req_seq[n_popped] + req_rows[n_popped])
					fail("released frames do not cover the request");
				n_popped++;
				c.released_unacked = 0;
			}
			break;
		}
		case 6:
			(void)sb_farm_core_hedge(&c, &w, &id);
			break;
		case 7:
			sb_farm_core_missing(&c, missing, sizeof missing);
			if (strlen(missing) >= sizeof missing)
				fail("missing() overflowed its buffer");
			(void)sb_farm_core_held(&c);
			(void)sb_farm_core_capacity(&c);
			break;
		}
	}
	sb_farm_core_destroy(&c);
	return 0;
}
