/*
 * tok_unigram.c - the Unigram model of Hugging Face tokenizers 0.22
 * (models/unigram/model.rs, encode_optimized), SentencePiece's: the pieces of a
 * pre-token are the path of highest total score (Viterbi) through the lattice of the
 * vocabulary's strings that occur in it.
 *
 * At each character boundary i, in order, every vocabulary string that starts there
 * offers the node that ends after it a path of score best[i] + score(string); a node
 * keeps the first best offer (a later one must be strictly greater).  When no
 * single-character string starts at i, the character alone is offered as unk_id with
 * the score min(scores) - 10.  The best path is read back from the end; consecutive
 * nodes of id unk_id are fused into one string, looked up again in the vocabulary (a
 * fused string may be a token), and else become unk_id -- or, with byte_fallback, the
 * <0xNN> tokens of its bytes when all of them are in the vocabulary.
 *
 * The vocabulary's strings are found with the tokenizer's hash table, extended one
 * character at a time: a bit set of the hashes of every proper prefix of a string
 * says when a longer match is still possible (a false positive costs a lookup, never
 * a wrong result).  Scores are doubles (Hugging Face's f64), added in its order.  Each
 * encoder keeps a cache of the pre-tokens it has seen (tok_cache.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tok_gen.h"
#include "tokenizer_impl.h"

#define UNK_PENALTY 10.0

struct tok_unigram {
	const struct sb_tokenizer *t;
	double *score;                  /* [n_ids] */
	double unk_score;
	int32_t unk_id;
	int byte_fallback;
	int32_t byte_id[256];           /* <0xNN>, -1 */
	uint64_t *prefix;               /* bit set over hashes of proper prefixes */
	uint32_t prefix_mask;
	size_t max_bytes;               /* longest string */
	uint64_t hash;                  /* of the scores (fingerprint) */
};

struct node {
	double score;
	uint32_t start;                 /* UINT32_MAX: not reached */
	int32_t id;
};

struct scratch {
	struct node *node;
	size_t cap;
	uint32_t *path;                 /* the best path's node ends, back to front */
	int32_t *ids;                   /* the pre-token's ids */
	struct tok_cache *cache;
};

static inline int32_t probe(const struct sb_tokenizer *t, uint32_t h, const unsigned char *p,
			    size_t n)
{
	size_t i = h & t->mask;

	for (;;) {
		const struct slot *s = &t->slots[i];

		if (!s->len)
			return -1;
		if (s->hash == h && s->len == n && memcmp(t->pool + s->off, p, n) == 0)
			return s->id;
		i = (i + 1) & t->mask;
	}
}

static inline void prefix_set(struct tok_unigram *m, uint32_t h)
{
	uint32_t b = h & m->prefix_mask;

	m->prefix[b >> 6] |= (uint64_t)1 << (b & 63);
}

static inline int prefix_has(const struct tok_unigram *m, uint32_t h)
{
	uint32_t b = h & m->prefix_mask;

	return (m->prefix[b >> 6] >> (b & 63)) & 1;
}

int sb_tok_unigram_new(struct tok_model *out, const struct sb_tokenizer *t,
		       const double *scores, int32_t unk_id, int byte_fallback,
		       const char *file, struct sb_error *err)
{
	struct tok_unigram *m = calloc(1, sizeof(*m));
	double min = INFINITY;
	size_t n_prefix = 0, bits = 4096;
	uint64_t h = 1469598103934665603ull;

	out->ops = &sb_tok_unigram_ops;
	out->impl = m;
	if (!m)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	m->t = t;
	m->unk_id = unk_id;
	m->byte_fallback = byte_fallback;
	if (unk_id < 0 || (size_t)unk_id >= t->n_ids)
		return sb_error_set(err, SB_EFORMAT, "%s: model.unk_id: %d is not an id of "
				    "model.vocab (%zu entries)", file, unk_id, t->n_ids);
	m->score = malloc((t->n_ids ? t->n_ids : 1) * sizeof(*m->score));
	if (!m->score)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	for (size_t i = 0; i < t->n_ids; i++) {
		const char *s = t->id_tok[i];
		size_t n = s ? strlen(s) : 0;

		m->score[i] = scores[i];
		if (scores[i] < min)
			min = scores[i];
		{
			uint64_t bits64;

			memcpy(&bits64, &scores[i], sizeof(bits64));
			h = (h ^ bits64) * 1099511628211ull;
		}
		if (n > m->max_bytes)
			m->max_bytes = n;
		n_prefix += n;
	}
	m->hash = h;
	m->unk_score = min - UNK_PENALTY;
	while (bits < 8 * n_prefix && bits < ((size_t)1 << 31))
		bits *= 2;
	m->prefix = calloc(bits / 64, sizeof(*m->prefix));
	if (!m->prefix)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	m->prefix_mask = (uint32_t)(bits - 1);
	for (size_t i = 0; i < t->n_ids; i++) {
		const unsigned char *s = (const unsigned char *)t->id_tok[i];
		size_t n = s ? strlen((const char *)s) : 0, k = 0;
		uint32_t ph = HASH_INIT;

		while (k < n) {
			size_t len = utf8_len(s[k]);

			if (k + len >= n)
				break;
			ph = hash_step(ph, s + k, len);
			prefix_set(m, ph);
			k += len;
		}
	}
	for (unsigned b = 0; b < 256; b++) {
		static const char hex[] = "0123456789ABCDEF";
		char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};

		m->byte_id[b] = lookup(t, HASH_INIT, "", 0, name, 6);
	}
	return SB_OK;
}

static void unigram_free(void *impl)
{
	struct tok_unigram *m = impl;

	if (!m)
		return;
	free(m->score);
	free(m->prefix);
	free(m);
}

static uint64_t unigram_fingerprint(const void *impl, uint64_t h)
{
	const struct tok_unigram *m = impl;
	unsigned char f[5] = {(unsigned char)m->byte_fallback, (unsigned char)m->unk_id,
			      (unsigned char)(m->unk_id >> 8), (unsigned char)(m->unk_id >> 16),
			      'U'};

	for (size_t i = 0; i < sizeof(f); i++)
		h = (h ^ f[i]) * 1099511628211ull;
	for (int i = 0; i < 8; i++)
		h = (h ^ ((m->hash >> (8 * i)) & 0xFF)) * 1099511628211ull;
	return h;
}

static void *unigram_scratch_new(const void *impl)
{
	struct scratch *s = calloc(1, sizeof(*s));

	(void)impl;
	if (!s)
		return NULL;
	s->cache = sb_tok_cache_new();
	if (!s->cache) {
		free(s);
		return NULL;
	}
	return s;
}

static void unigram_scratch_free(void *p)
{
	struct scratch *s = p;

	if (!s)
		return;
	free(s->node);
	free(s->path);
	free(s->ids);
	sb_tok_cache_free(s->cache);
	free(s);
}

static int reserve(struct scratch *s, size_t n)
{
	size_t c = s->cap ? s->cap : 256;
	void *a, *b, *d;

	if (n <= s->cap)
		return 0;
	while (c < n)
		c *= 2;
	a = realloc(s->node, c * sizeof(*s->node));
	if (a)
		s->node = a;
	b = realloc(s->path, c * sizeof(*s->path));
	if (b)
		s->path = b;
	d = realloc(s->ids, c * sizeof(*s->ids));
	if (d)
		s->ids = d;
	if (!a || !b || !d)
		return -1;
	s->cap = c;
	return 0;
}

static inline void offer(struct node *nd, double score, uint32_t start, int32_t id)
{
	if (nd->start == UINT32_MAX || score > nd->score) {
		nd->score = score;
		nd->start = start;
		nd->id = id;
	}
}

/* The lattice's best paths: node[j] for every character boundary j of p[0..n). */
static void viterbi(const struct tok_unigram *m, struct node *node, const unsigned char *p,
		    size_t n)
{
	const struct sb_tokenizer *t = m->t;

	for (size_t j = 0; j <= n; j++)
		node[j].start = UINT32_MAX;
	node[0].score = 0;
	node[0].start = 0;
	for (size_t i = 0; i < n;) {
		double base = node[i].score;
		size_t mblen = utf8_len(p[i]), j = i;
		uint32_t h = HASH_INIT;
		int single = 0;

		while (j < n) {
			size_t len = utf8_len(p[j]);
			int32_t id;

			h = hash_step(h, p + j, len);
			j += len;
			if (j - i > m->max_bytes)
				break;
			id = probe(t, h, p + i, j - i);
			if (id >= 0) {
				offer(&node[j], m->score[id] + base, (uint32_t)i, id);
				if (j - i == mblen)
					single = 1;
			}
			if (!prefix_has(m, h))
				break;
		}
		if (!single)
			offer(&node[i + mblen], m->unk_score + base, (uint32_t)i, m->unk_id);
		i += mblen;
	}
}

/* A run of unknown nodes p[a..b): its own id, its bytes, or unk_id, written at ids;
 * returns how many. */
static size_t put_unknown(const struct tok_unigram *m, const unsigned char *p, size_t a,
			  size_t b, int32_t *ids)
{
	int32_t id = b - a <= MAX_TOKEN_BYTES ? lookup(m->t, HASH_INIT, "", 0,
							(const char *)p + a, b - a) : -1;

	if (id >= 0) {
		ids[0] = id;
		return 1;
	}
	if (m->byte_fallback) {
		size_t k = a;

		while (k < b && m->byte_id[p[k]] >= 0)
			k++;
		if (k == b) {
			for (k = a; k < b; k++)
				ids[k - a] = m->byte_id[p[k]];
			return b - a;
		}
	}
	ids[0] = m->unk_id;
	return 1;
}

/* The ids of p[0..n) into s->ids (at most n: every piece has a byte); their count. */
static size_t best_pieces(const struct tok_unigram *m, struct scratch *s,
			  const unsigned char *p, size_t n)
{
	size_t k = 0, nid = 0, unk_from = SIZE_MAX;

	viterbi(m, s->node, p, n);
	for (size_t j = n; j > 0; j = s->node[j].start)
		s->path[k++] = (uint32_t)j;
	while (k) {
		uint32_t j = s->path[--k];
		const struct node *nd = &s->node[j];

		if (nd->id == m->unk_id) {
			if (unk_from == SIZE_MAX)
				unk_from = nd->start;
			continue;
		}
		if (unk_from != SIZE_MAX) {
			nid += put_unknown(m, p, unk_from, nd->start, s->ids + nid);
			unk_from = SIZE_MAX;
		}
		s->ids[nid++] = nd->id;
	}
	if (unk_from != SIZE_MAX)
		nid += put_unknown(m, p, unk_from, n, s->ids + nid);
	return nid;
}

static int unigram_encode(const void *impl, void *scratch, const unsigned char *p, size_t n,
			  struct tok_seq *out)
{
	const struct tok_unigram *m = impl;
	struct scratch *s = scratch;
	uint32_t h = 0;
	size_t nid;

	if (sb_tok_cache_get(s->cache, p, n, &h, out))
		return SB_OK;
	if (n >= UINT32_MAX || reserve(s, n + 1))
		return SB_ENOMEM;
	nid = best_pieces(m, s, p, n);
	for (size_t i = 0; i < nid; i++)
		tok_seq_push(out, s->ids[i]);
	sb_tok_cache_put(s->cache, h, p, n, s->ids, nid);
	return SB_OK;
}

const struct tok_model_ops sb_tok_unigram_ops = {
	.name = "Unigram",
	.scratch_new = unigram_scratch_new,
	.scratch_free = unigram_scratch_free,
	.encode = unigram_encode,
	.fingerprint = unigram_fingerprint,
	.free = unigram_free,
};
