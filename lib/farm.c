/*
 * farm.c - the farm's bookkeeping (requests, workers, credits, reordering,
 * duplicates) and the small codecs of the farm protocol.  No I/O here: farm_broker.c
 * drives it.  See farm.h for the protocol.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm.h"
#include "frame.h"
#include "internal.h"
#include "mpread.h"

/* ---- header codec ---- */

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

void sb_farm_hdr_pack(const struct sb_farm_hdr *h, unsigned char out[SB_FARM_HDR_SIZE])
{
	memset(out, 0, SB_FARM_HDR_SIZE);
	memcpy(out, SB_FARM_MAGIC, 4);
	out[4] = (unsigned char)h->cmd;
	put_le32(out + 8, h->count);
	put_le64(out + 16, h->id);
	put_le64(out + 24, h->run);
}

int sb_farm_hdr_unpack(const void *p, size_t n, struct sb_farm_hdr *h, struct sb_error *err)
{
	const unsigned char *b = p;

	if (n != SB_FARM_HDR_SIZE || memcmp(b, SB_FARM_MAGIC, 4) != 0)
		return sb_error_set(err, SB_EFORMAT, "farm message: bad header (%zu bytes)", n);
	if (b[4] < SB_FARM_READY || b[4] > SB_FARM_REFUSE)
		return sb_error_set(err, SB_EFORMAT, "farm message: unknown command %u", b[4]);
	h->cmd = (enum sb_farm_cmd)b[4];
	h->count = sb_le32(b + 8);
	h->id = sb_le64(b + 16);
	h->run = sb_le64(b + 24);
	return SB_OK;
}

int sb_farm_peek(const void *p, size_t n, struct sb_farm_peek *out, struct sb_error *err)
{
	struct sb_frame_head h;
	int rc = sb_frame_peek(p, n, &h, err);

	memset(out, 0, sizeof(*out));
	if (rc != SB_OK)
		return rc;
	out->is_end = h.kind == SB_KIND_END;
	out->seq = h.seq;
	out->rows = h.rows;
	out->rows_total = h.rows_total;
	return SB_OK;
}

/* ---- provenance: what makes two workers' results incomparable ---- */

static const char *const prov_keys[SB_FARM_PROV_KEYS] = {
	"kind", "model_fingerprint", "model", "model_type", "dim", "pooling", "normalized",
	"precision", "metric", "tokenizer_fingerprint", "max_seq_length", "truncation"
};
enum { PROV_KIND, PROV_FINGERPRINT, PROV_MODEL };

/* A MessagePack value (n bytes, one whole object) as text for a message. */
static void show_value(const unsigned char *v, size_t n, char *buf, size_t cap)
{
	struct sb_mpread r = { v, n, 0, NULL };
	const unsigned char *s;
	size_t len;
	uint64_t u;

	if (sb_mpread_bytes(&r, 's', &s, &len, "a value") == 0) {
		char shown[64];
		snprintf(buf, cap, "'%s'", sb_printable((const char *)s, len, shown, sizeof(shown)));
	} else if (sb_mpread_uint(&r, &u, "a value") == 0) {
		snprintf(buf, cap, "%" PRIu64, u);
	} else if (n == 1 && (v[0] == 0xc2 || v[0] == 0xc3)) {
		snprintf(buf, cap, "%s", v[0] == 0xc3 ? "true" : "false");
	} else {
		snprintf(buf, cap, "(a MessagePack value of %zu bytes)", n);
	}
}

static void prov_take(struct sb_farm_prov *pv, int k, const unsigned char *v, size_t n)
{
	pv->present |= 1u << k;
	pv->hash[k] = sb_fnv1a64(SB_FNV1A64_INIT, v, n);
	show_value(v, n, pv->shown[k], sizeof(pv->shown[k]));
}

/* Whether the value at r is a map. */
static int at_map(const struct sb_mpread *r)
{
	unsigned char c = r->pos < r->n ? r->p[r->pos] : 0;

	return (c & 0xf0) == 0x80 || c == 0xde || c == 0xdf;
}

/* Reads the pinned keys of a meta map (r at the map's first byte). */
static int prov_meta(struct sb_mpread *r, struct sb_farm_prov *pv)
{
	uint64_t n_keys;

	if (!at_map(r))
		return sb_mpread_skip(r);       /* not a map: nothing pinned from it */
	if (sb_mpread_container(r, 'm', &n_keys, "meta") != 0)
		return -1;
	for (uint64_t i = 0; i < n_keys; i++) {
		const unsigned char *k;
		size_t kl, at;
		int which = -1;

		if (sb_mpread_bytes(r, 's', &k, &kl, "a meta key") != 0)
			return -1;
		for (int j = 1; j < SB_FARM_PROV_KEYS; j++)
			if (sb_mpread_key_is(k, kl, prov_keys[j]))
				which = j;
		at = r->pos;
		if (sb_mpread_skip(r) != 0)
			return -1;
		if (which >= 0)
			prov_take(pv, which, r->p + at, r->pos - at);
	}
	return 0;
}

int sb_farm_prov_read(const void *p, size_t n, struct sb_farm_prov *out, struct sb_error *err)
{
	struct sb_mpread r = { p, n, 0, NULL };
	uint64_t n_keys;

	memset(out, 0, sizeof(*out));
	if (sb_mpread_container(&r, 'm', &n_keys, "the frame") != 0)
		goto bad;
	for (uint64_t i = 0; i < n_keys; i++) {
		const unsigned char *k;
		size_t kl, at;

		if (sb_mpread_bytes(&r, 's', &k, &kl, "a key") != 0)
			goto bad;
		at = r.pos;
		if (sb_mpread_key_is(k, kl, "meta")) {
			if (prov_meta(&r, out) != 0)
				goto bad;
			continue;
		}
		if (sb_mpread_skip(&r) != 0)
			goto bad;
		if (sb_mpread_key_is(k, kl, "kind"))
			prov_take(out, PROV_KIND, r.p + at, r.pos - at);
	}
	if (r.pos != n)
		goto bad;
	return SB_OK;
bad:
	return sb_error_set(err, SB_EFORMAT, "message of %zu bytes is not an sb frame near byte %zu",
			    n, r.pos);
}

/* A fingerprint as shown, without the quotes of a string: its characters are plain. */
static const char *unquoted(const char *shown, char *buf, size_t cap)
{
	size_t n = strlen(shown);

	if (n < 2 || shown[0] != '\'' || shown[n - 1] != '\'')
		return shown;
	snprintf(buf, cap, "%.*s", (int)(n - 2), shown + 1);
	return buf;
}

static int prov_differs(const struct sb_farm_prov *a, const struct sb_farm_prov *b, int k)
{
	uint32_t bit = 1u << k;

	return (a->present & bit) && (b->present & bit) && a->hash[k] != b->hash[k];
}

int sb_farm_prov_check(const struct sb_farm_prov *want, const struct sb_farm_prov *got,
		       struct sb_error *err)
{
	uint32_t fp = 1u << PROV_FINGERPRINT;
	int both_fp = (want->present & fp) && (got->present & fp);

	for (int k = 0; k < SB_FARM_PROV_KEYS; k++) {
		if (k == PROV_MODEL && both_fp)
			continue;       /* the same weights in another folder */
		if (!prov_differs(want, got, k))
			continue;
		if (k == PROV_FINGERPRINT) {
			char a[72], b[72];
			return sb_error_set(err, SB_EMISMATCH,
					    "model %s (%s), the first results' %s (%s)",
					    got->present & (1u << PROV_MODEL) ? got->shown[PROV_MODEL]
					    : "?", unquoted(got->shown[k], a, sizeof(a)),
					    want->present & (1u << PROV_MODEL) ? want->shown[PROV_MODEL]
					    : "?", unquoted(want->shown[k], b, sizeof(b)));
		}
		return sb_error_set(err, SB_EMISMATCH, "%s %s, the first results' %s", prov_keys[k],
				    got->shown[k], want->shown[k]);
	}
	return SB_OK;
}

void sb_farm_prov_show(const struct sb_farm_prov *p, char *buf, size_t cap)
{
	size_t len = 0;

	if (cap == 0)
		return;
	buf[0] = '\0';
	for (int k = 0; k < SB_FARM_PROV_KEYS && len + 1 < cap; k++) {
		if (!(p->present & (1u << k)))
			continue;
		int w = snprintf(buf + len, cap - len, "%s%s %s", len ? ", " : "", prov_keys[k],
				 p->shown[k]);
		if (w < 0)
			break;
		len += (size_t)w;
	}
}

/* ---- bookkeeping ---- */

void sb_farm_core_init(struct sb_farm_core *c, unsigned max_credits, unsigned max_inflight)
{
	memset(c, 0, sizeof(*c));
	c->max_credits = max_credits ? max_credits : 16;
	c->max_inflight = max_inflight ? max_inflight : 256;
}

static void req_clear(struct sb_farm_req *r)
{
	sb_buf_destroy(&r->in);
	for (size_t i = 0; i < r->n_out; i++)
		sb_buf_destroy(&r->out[i]);
	free(r->out);
	memset(r, 0, sizeof(*r));
}

void sb_farm_core_destroy(struct sb_farm_core *c)
{
	for (uint64_t id = c->base; id < c->next; id++)
		req_clear(&c->ring[id % c->ring_cap]);
	free(c->ring);
	for (size_t i = 0; i < c->n_workers; i++)
		free(c->workers[i].inflight);
	free(c->workers);
	memset(c, 0, sizeof(*c));
}

uint64_t sb_farm_core_held(const struct sb_farm_core *c)
{
	return (c->next - c->base) + c->released_unacked;
}

uint64_t sb_farm_core_capacity(const struct sb_farm_core *c)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < c->n_workers; i++)
		if (c->workers[i].alive)
			sum += c->workers[i].credits;
	return sum < c->max_inflight ? sum : c->max_inflight;
}

int sb_farm_core_find(const struct sb_farm_core *c, const void *ident, size_t len)
{
	for (size_t i = 0; i < c->n_workers; i++) {
		const struct sb_farm_wk *w = &c->workers[i];
		if (w->alive && w->ident_len == len && memcmp(w->ident, ident, len) == 0)
			return (int)i;
	}
	return -1;
}

int sb_farm_core_sender(const struct sb_farm_core *c, const void *ident, size_t len)
{
	int wi = sb_farm_core_find(c, ident, len);

	for (size_t i = c->n_workers; wi < 0 && i-- > 0;) {
		const struct sb_farm_wk *w = &c->workers[i];
		if (w->ident_len == len && memcmp(w->ident, ident, len) == 0)
			wi = (int)i;
	}
	return wi;
}

int sb_farm_core_add_worker(struct sb_farm_core *c, const void *ident, size_t len,
			    const char *name, unsigned credits, double expires,
			    struct sb_error *err)
{
	struct sb_farm_wk *w;

	if (len == 0 || len > sizeof(w->ident))
		return sb_error_set(err, SB_EFORMAT, "worker routing id of %zu bytes", len);
	if (credits == 0)
		credits = 1;
	if (credits > c->max_credits)
		credits = c->max_credits;
	/* Reuse the slot of a dead worker that did nothing, so a worker that keeps
	 * reconnecting does not grow the table. */
	size_t slot = c->n_workers;
	for (size_t i = 0; i < c->n_workers; i++)
		if (!c->workers[i].alive && c->workers[i].frames == 0 && c->workers[i].lost == 0) {
			slot = i;
			break;
		}
	if (slot == c->n_workers) {
		if (c->n_workers >= 65536)
			return sb_error_set(err, SB_ELIMIT, "more than 65536 workers");
		if (c->n_workers == c->cap_workers) {
			size_t cap = c->cap_workers ? 2 * c->cap_workers : 8;
			struct sb_farm_wk *nw = realloc(c->workers, cap * sizeof(*nw));
			if (nw == NULL)
				return sb_error_set(err, SB_ENOMEM, "farm: out of memory for workers");
			c->workers = nw;
			c->cap_workers = cap;
		}
		c->n_workers++;
	} else {
		free(c->workers[slot].inflight);
	}
	w = &c->workers[slot];
	memset(w, 0, sizeof(*w));
	w->inflight = calloc(credits, sizeof(*w->inflight));
	if (w->inflight == NULL) {
		if (slot == c->n_workers - 1)
			c->n_workers--;
		return sb_error_set(err, SB_ENOMEM, "farm: out of memory for a worker");
	}
	memcpy(w->ident, ident, len);
	w->ident_len = len;
	snprintf(w->name, sizeof(w->name), "%s", name ? name : "?");
	w->credits = credits;
	w->alive = 1;
	w->expires = expires;
	w->ready_stamp = ++c->stamp;
	return (int)slot;
}

unsigned sb_farm_core_lose_worker(struct sb_farm_core *c, int wi)
{
	struct sb_farm_wk *w = &c->workers[wi];
	unsigned n = 0;

	if (!w->alive)
		return 0;
	for (unsigned i = 0; i < w->n_inflight; i++) {
		struct sb_farm_req *r = sb_farm_core_req(c, w->inflight[i]);
		if (r != NULL && r->state == SB_FARM_INFLIGHT && r->worker == wi) {
			r->state = SB_FARM_PENDING;
			r->worker = -1;
			n++;
		}
	}
	w->n_inflight = 0;
	w->alive = 0;
	w->lost += n;
	c->resent += n;
	return n;
}

static int ring_grow(struct sb_farm_core *c, struct sb_error *err)
{
	size_t cap = c->ring_cap ? 2 * c->ring_cap : 16;
	struct sb_farm_req *nr = calloc(cap, sizeof(*nr));

	if (nr == NULL)
		return sb_error_set(err, SB_ENOMEM, "farm: out of memory for %zu requests", cap);
	for (uint64_t id = c->base; id < c->next; id++)
		nr[id % cap] = c->ring[id % c->ring_cap];
	free(c->ring);
	c->ring = nr;
	c->ring_cap = cap;
	return SB_OK;
}

int sb_farm_core_add(struct sb_farm_core *c, const void *p, size_t n, uint64_t seq,
		     uint64_t rows, uint64_t *id, struct sb_error *err)
{
	int rc;

	if (c->next - c->base >= c->ring_cap && (rc = ring_grow(c, err)) != SB_OK)
		return rc;
	struct sb_farm_req *r = &c->ring[c->next % c->ring_cap];
	memset(r, 0, sizeof(*r));
	sb_buf_init(&r->in);
	if ((rc = sb_buf_append(&r->in, p, n, err)) != SB_OK)
		return rc;
	r->state = SB_FARM_PENDING;
	r->seq = seq;
	r->rows = rows;
	r->worker = -1;
	*id = c->next++;
	return SB_OK;
}

struct sb_farm_req *sb_farm_core_req(struct sb_farm_core *c, uint64_t id)
{
	if (id < c->base || id >= c->next)
		return NULL;
	return &c->ring[id % c->ring_cap];
}

int sb_farm_core_dispatch(struct sb_farm_core *c, int *wp, uint64_t *idp)
{
	struct sb_farm_req *r = NULL;
	uint64_t id;
	int best = -1;

	for (id = c->base; id < c->next; id++) {
		r = &c->ring[id % c->ring_cap];
		if (r->state == SB_FARM_PENDING)
			break;
	}
	if (id == c->next)
		return 0;
	for (size_t i = 0; i < c->n_workers; i++) {
		struct sb_farm_wk *w = &c->workers[i];
		if (!w->alive || w->n_inflight >= w->credits)
			continue;
		if (best < 0 || w->ready_stamp < c->workers[best].ready_stamp)
			best = (int)i;
	}
	if (best < 0)
		return 0;
	struct sb_farm_wk *w = &c->workers[best];
	w->inflight[w->n_inflight++] = id;
	if (w->n_inflight > w->max_inflight)
		w->max_inflight = w->n_inflight;
	/* A worker with credits left stays near the front only if it was there before
	 * anyone else became ready: move it behind the workers that are waiting. */
	w->ready_stamp = ++c->stamp;
	r->state = SB_FARM_INFLIGHT;
	r->worker = best;
	r->sent++;
	*wp = best;
	*idp = id;
	return 1;
}

int sb_farm_core_hedge(struct sb_farm_core *c, int *wp, uint64_t *idp)
{
	if (c->base == c->next)
		return 0;
	struct sb_farm_req *r = &c->ring[c->base % c->ring_cap];
	int best = -1;

	if (r->state != SB_FARM_INFLIGHT || r->sent >= 2)
		return 0;
	for (size_t i = 0; i < c->n_workers; i++) {
		struct sb_farm_wk *w = &c->workers[i];
		if (!w->alive || w->n_inflight >= w->credits || (int)i == r->worker)
			continue;
		if (best < 0 || w->ready_stamp < c->workers[best].ready_stamp)
			best = (int)i;
	}
	if (best < 0)
		return 0;
	struct sb_farm_wk *w = &c->workers[best];
	w->inflight[w->n_inflight++] = c->base;
	if (w->n_inflight > w->max_inflight)
		w->max_inflight = w->n_inflight;
	w->ready_stamp = ++c->stamp;
	r->worker = best;
	r->sent++;
	c->hedged++;
	*wp = best;
	*idp = c->base;
	return 1;
}

int sb_farm_core_result(struct sb_farm_core *c, int wi, uint64_t id, struct sb_buf *parts,
			size_t n, struct sb_error *err)
{
	struct sb_farm_req *r = sb_farm_core_req(c, id);

	/* Give the credit back first: the worker is done with id whatever we keep. */
	if (wi >= 0) {
		struct sb_farm_wk *w = &c->workers[wi];
		for (unsigned i = 0; i < w->n_inflight; i++)
			if (w->inflight[i] == id) {
				w->inflight[i] = w->inflight[--w->n_inflight];
				w->ready_stamp = ++c->stamp;
				break;
			}
	}
	if (r == NULL || r->state == SB_FARM_DONE) {
		/* Another worker's copy was taken first (hedged).  This one is dropped, but
		 * its provenance still counts: a worker of another model must be refused
		 * even when all its answers come second. */
		if (c->pinned)
			for (size_t i = 0; i < n; i++) {
				struct sb_farm_prov got;
				if (sb_farm_prov_read(parts[i].data, parts[i].len, &got, err) == SB_OK &&
				    sb_farm_prov_check(&c->pin, &got, err) != SB_OK)
					return SB_EMISMATCH;
			}
		c->duplicates++;
		return 0;
	}
	/*
	 * The rows must cover the request's rows exactly, in order.  This is not a check
	 * of a stream (the input was checked by the reader, reader.c; the output is
	 * written in request order from what passes here): a worker answers one request,
	 * results come back in any order from several workers, and one that does not
	 * cover its request is that worker's fault, refused before it joins the output.
	 */
	uint64_t expect = r->seq, rows = 0;
	for (size_t i = 0; i < n; i++) {
		struct sb_farm_peek pk;
		int rc = sb_farm_peek(parts[i].data, parts[i].len, &pk, err);
		if (rc != SB_OK)
			return sb_error_prefix(err, "result for seq %" PRIu64 ": frame %zu: ",
					       r->seq, i);
		if (pk.is_end || pk.seq != expect)
			return sb_error_set(err, SB_EFORMAT,
					    "result for seq %" PRIu64 ": frame %zu has seq %" PRIu64
					    ", expected %" PRIu64, r->seq, i, pk.seq, expect);
		expect += pk.rows;
		rows += pk.rows;
	}
	if (rows != r->rows)
		return sb_error_set(err, SB_EFORMAT,
				    "result for seq %" PRIu64 ": %" PRIu64 " rows, expected %" PRIu64,
				    r->seq, rows, r->rows);
	/* Results of another model (pooling, dim...) must not join the stream: the
	 * first result accepted decides, the others are compared with it. */
	struct sb_farm_prov want, got;
	for (size_t i = 0; i < n; i++) {
		int rc = sb_farm_prov_read(parts[i].data, parts[i].len, i || c->pinned ? &got : &want,
					   err);
		if (rc != SB_OK)
			return sb_error_prefix(err, "result for seq %" PRIu64 ": frame %zu: ",
					       r->seq, i);
		if (i == 0 && c->pinned)
			want = c->pin;
		if ((i || c->pinned) && sb_farm_prov_check(&want, &got, err) != SB_OK) {
			if (wi >= 0 && r->state == SB_FARM_INFLIGHT && r->worker == wi) {
				r->state = SB_FARM_PENDING;
				r->worker = -1;
				c->workers[wi].lost++;
				c->resent++;
			}
			return SB_EMISMATCH;
		}
	}
	if (n > 0) {
		r->out = calloc(n, sizeof(*r->out));
		if (r->out == NULL)
			return sb_error_set(err, SB_ENOMEM, "farm: out of memory for results");
		for (size_t i = 0; i < n; i++) {
			r->out[i] = parts[i];
			sb_buf_init(&parts[i]);
		}
	}
	if (n > 0 && !c->pinned) {
		c->pin = want;
		c->pinned = 1;
		snprintf(c->pin_worker, sizeof(c->pin_worker), "%s",
			 wi >= 0 ? c->workers[wi].name : "?");
	}
	r->n_out = n;
	r->out_rows = rows;
	/* If another worker still has it in flight, its answer will be a duplicate. */
	r->state = SB_FARM_DONE;
	r->worker = -1;
	if (wi >= 0)
		c->workers[wi].frames++;
	sb_buf_destroy(&r->in);
	return 1;
}

int sb_farm_core_pop(struct sb_farm_core *c, struct sb_buf **out, size_t *n_out, uint64_t *rows)
{
	if (c->base == c->next)
		return 0;
	struct sb_farm_req *r = &c->ring[c->base % c->ring_cap];
	if (r->state != SB_FARM_DONE)
		return 0;
	*out = r->out;
	*n_out = r->n_out;
	*rows = r->out_rows;
	r->out = NULL;
	r->n_out = 0;
	req_clear(r);
	c->base++;
	c->released_unacked++;
	return 1;
}

int sb_farm_core_outstanding(const struct sb_farm_core *c)
{
	for (size_t i = 0; i < c->n_workers; i++)
		if (c->workers[i].alive && c->workers[i].n_inflight > 0)
			return 1;
	return 0;
}

void sb_farm_core_missing(const struct sb_farm_core *c, char *buf, size_t cap)
{
	size_t len = 0;
	int first = 1;

	if (cap == 0)
		return;
	buf[0] = '\0';
	for (uint64_t id = c->base; id < c->next; id++) {
		const struct sb_farm_req *r = &c->ring[id % c->ring_cap];
		char item[64];
		if (r->state == SB_FARM_DONE)
			continue;
		if (r->rows > 1)
			snprintf(item, sizeof(item), "%s%" PRIu64 "-%" PRIu64, first ? "" : ", ",
				 r->seq, r->seq + r->rows - 1);
		else
			snprintf(item, sizeof(item), "%s%" PRIu64, first ? "" : ", ", r->seq);
		size_t il = strlen(item);
		if (len + il + 4 >= cap) {
			snprintf(buf + len, cap - len, "...");
			return;
		}
		memcpy(buf + len, item, il + 1);
		len += il;
		first = 0;
	}
}
