/*
 * tok_bpe.c - the BPE model of Hugging Face tokenizers 0.22 (models/bpe/model.rs,
 * word.rs), byte-level or not.
 *
 * A pre-token starts as one symbol per unit -- a byte when a ByteLevel pre-tokenizer
 * maps bytes to characters (GPT-2, RoBERTa, Qwen), else a UTF-8 character, with
 * continuing_subword_prefix before every unit but the first and end_of_word_suffix
 * after the last -- looked up in the vocabulary; a unit that is not there becomes
 * unk_token (consecutive ones fused into one with fuse_unk) or is dropped when there
 * is none, as Hugging Face does.  Then, while two neighbours form a pair of the
 * merges, the pair of lowest rank is merged, the leftmost first among equal ranks:
 * Hugging Face's priority queue gives this order (merge entries go stale only when
 * two token strings share an id, which the loader refuses).  ignore_merges looks the
 * whole pre-token up first.
 *
 * The merges are a hash table from the pair of ids to (rank, id of the merged token).
 * In byte-level mode the vocabulary's strings are written in GPT-2's alphabet of 256
 * printable characters; the model works on the raw bytes instead (a table from byte to
 * id), which needs no conversion of the text.  Each encoder keeps a cache of the
 * pre-tokens it has seen (tok_cache.c).
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "internal.h"
#include "tok_gen.h"
#include "tokenizer_impl.h"

#define NO_RANK UINT32_MAX
#define META "\xe2\x96\x81"              /* U+2581, SentencePiece's word mark */
#define PENDING 8                       /* merges waiting for their slot's cache line */

struct merge_slot {
	uint64_t key;                   /* a << 32 | b; any with rank NO_RANK: empty */
	uint32_t rank;
	int32_t id;
};

struct tok_bpe {
	const struct sb_tokenizer *t;   /* the vocabulary (token text -> id) */
	int byte_level;
	int32_t byte_id[256];           /* byte-level: id of each byte's character, -1 */
	struct slot *mslots;            /* byte-level with prefix/suffix/ignore_merges: */
	size_t mmask;                   /* the vocabulary keyed by bytes, over mpool */
	char *mpool;
	char *prefix, *suffix;          /* in the model's units (bytes in byte-level mode) */
	size_t nprefix, nsuffix;
	size_t nprefix_src;             /* the prefix's length as written in the file */
	int32_t unk_id;                 /* -1: none */
	int fuse_unk, ignore_merges;
	int byte_fallback;              /* unknown units as <0xNN> tokens (fb_id) */
	int32_t fb_id[256];
	struct merge_slot *merges;      /* borrowed from the tokenizer cache's file when */
	int merges_borrowed;            /* merges_borrowed is set */
	size_t merge_mask, n_merges;
	int32_t last_new;               /* loading: the merged token of the last merge */
	struct merge_slot pend[PENDING];/* loading: merges whose slot is being prefetched, */
	size_t n_pend, pend_at;         /* n_pend of them from pend[pend_at] on, in order */
	uint64_t merge_hash;            /* of the merges in rank order (fingerprint) */
	int32_t meta_id;                /* the id of U+2581 alone, -1 */
	int meta_cross;                 /* a merge (a, b) joins a symbol that does not end
					 * with U+2581 to one that starts with it */
	int unk_meta;                   /* unk_token ends with U+2581 */
};

/* GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the 68
 * others for U+0100 onwards in byte order. */
static uint32_t char_of_byte(unsigned b)
{
	unsigned n = 0;

	if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE))
		return b;
	for (unsigned k = 0; k < b; k++)
		if (!((k >= 0x21 && k <= 0x7E) || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE)))
			n++;
	return 0x100 + n;
}

int sb_tok_byte_of_char(uint32_t c)
{
	static int16_t table[0x144];
	static int ready;

	if (!ready) {
		/* Idempotent: racing threads write the same values. */
		for (unsigned k = 0; k < 0x144; k++)
			table[k] = -1;
		for (unsigned b = 0; b < 256; b++)
			table[char_of_byte(b)] = (int16_t)b;
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	if (c >= 0x144)
		return -1;
	(void)__atomic_load_n(&ready, __ATOMIC_ACQUIRE);
	return table[c];
}

/* Converts s (GPT-2's alphabet) to the bytes it stands for; -1 when a character is
 * not of the alphabet (such a token can never be produced from bytes). */
static long to_bytes(const char *s, size_t n, char *out)
{
	size_t i = 0, k = 0;

	while (i < n) {
		uint32_t c;
		int len = (unsigned char)s[i] < 0x80 ? 1 : get_utf8((const unsigned char *)s + i,
								     n - i, &c);
		int b;

		if (len == 1)
			c = (unsigned char)s[i];
		if (len < 1)
			return -1;
		b = sb_tok_byte_of_char(c);
		if (b < 0)
			return -1;
		out[k++] = (char)b;
		i += (size_t)len;
	}
	return (long)k;
}

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static inline const struct merge_slot *merge_find(const struct tok_bpe *m, int32_t a, int32_t b)
{
	uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
	size_t i = mix64(key) & m->merge_mask;

	for (;;) {
		const struct merge_slot *s = &m->merges[i];

		if (s->rank == NO_RANK)
			return NULL;
		if (s->key == key)
			return s;
		i = (i + 1) & m->merge_mask;
	}
}

/* ---- building ---- */

/* A merge table of cap empty slots (all bits set: rank NO_RANK, id -1), or NULL. */
static struct merge_slot *empty_merges(size_t cap)
{
	return sb_table_alloc(cap * sizeof(struct merge_slot), 0xFF);
}

static int starts_meta(const char *s, size_t n)
{
	return n >= 3 && memcmp(s, META, 3) == 0;
}

static int ends_meta(const char *s, size_t n)
{
	return n >= 3 && memcmp(s + n - 3, META, 3) == 0;
}

/* Copies a prefix or suffix into the model's units (bytes in byte-level mode). */
static int affix(struct tok_bpe *m, const char *s, char **out, size_t *nout, const char *what,
		 const char *file, struct sb_error *err)
{
	size_t n = strlen(s);
	char *c = malloc(n + 1);
	long k = (long)n;

	if (!c)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	if (m->byte_level)
		k = to_bytes(s, n, c);
	else
		memcpy(c, s, n);
	if (k < 0) {
		free(c);
		return sb_error_set(err, SB_EUNSUPPORTED, "%s: model.%s '%s': not of the "
				    "byte-level alphabet", file, what, s);
	}
	c[k] = 0;
	*out = c;
	*nout = (size_t)k;
	return SB_OK;
}

int sb_tok_bpe_new(struct tok_model *out, const struct sb_tokenizer *t,
		   const struct tok_bpe_config *cfg, size_t n_merges, const char *file,
		   struct sb_error *err)
{
	struct tok_bpe *m = calloc(1, sizeof(*m));
	size_t cap = 1024;
	int rc;

	out->ops = &sb_tok_bpe_ops;
	out->impl = m;
	if (!m)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	m->t = t;
	m->byte_level = cfg->byte_level;
	m->fuse_unk = cfg->fuse_unk;
	m->ignore_merges = cfg->ignore_merges;
	m->byte_fallback = cfg->byte_fallback;
	m->unk_id = -1;
	for (unsigned b = 0; b < 256; b++) {
		static const char hex[] = "0123456789ABCDEF";
		char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};

		m->fb_id[b] = cfg->byte_fallback ? lookup(t, HASH_INIT, "", 0, name, 6) : -1;
	}
	m->merge_hash = 1469598103934665603ull;
	m->last_new = -1;
	m->meta_id = lookup(t, HASH_INIT, "", 0, META, 3);
	if (cfg->unk) {
		m->unk_id = *cfg->unk ? lookup(t, HASH_INIT, "", 0, cfg->unk, strlen(cfg->unk)) : -1;
		if (m->unk_id < 0)
			return sb_error_set(err, SB_EFORMAT, "%s: model.unk_token '%s' is not in "
					    "model.vocab", file, cfg->unk);
		m->unk_meta = ends_meta(cfg->unk, strlen(cfg->unk));
	}
	while (cap < 2 * n_merges + 2 && cap < 2 * MAX_MERGES)
		cap *= 2;
	m->merges = empty_merges(cap);
	if (!m->merges)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	m->merge_mask = cap - 1;
	m->nprefix_src = cfg->prefix ? strlen(cfg->prefix) : 0;
	if (m->nprefix_src && (rc = affix(m, cfg->prefix, &m->prefix, &m->nprefix,
					  "continuing_subword_prefix", file, err)))
		return rc;
	if (cfg->suffix && *cfg->suffix && (rc = affix(m, cfg->suffix, &m->suffix, &m->nsuffix,
						       "end_of_word_suffix", file, err)))
		return rc;
	if (m->byte_level) {
		for (unsigned b = 0; b < 256; b++) {
			char u[4];
			size_t k = put_utf8(u, char_of_byte(b));

			m->byte_id[b] = lookup(t, HASH_INIT, "", 0, u, k);
		}
		if (m->nprefix || m->nsuffix || m->ignore_merges) {
			/* The vocabulary keyed by the bytes its strings stand for. */
			size_t mcap = 1024;

			while (mcap < 2 * t->n_ids)
				mcap *= 2;
			m->mslots = calloc(mcap, sizeof(*m->mslots));
			m->mpool = malloc(t->pool_len + 1);
			if (!m->mslots || !m->mpool)
				return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
			m->mmask = mcap - 1;
			for (size_t i = 0, off = 0; i < t->n_ids; i++) {
				const char *s = t->id_tok[i];
				long k;
				uint32_t h;
				size_t j;

				if (!s || !*s)
					continue;
				k = to_bytes(s, strlen(s), m->mpool + off);
				if (k <= 0)
					continue;
				h = hash_step(HASH_INIT, (const unsigned char *)m->mpool + off,
					      (size_t)k);
				j = h & m->mmask;
				while (m->mslots[j].len)
					j = (j + 1) & m->mmask;
				m->mslots[j].hash = h;
				m->mslots[j].len = (uint32_t)k;
				m->mslots[j].off = (uint32_t)off;
				m->mslots[j].id = (int32_t)i;
				off += (size_t)k;
			}
		}
	}
	return SB_OK;
}

/* Doubles the merge table; -1 when out of memory (the table is left as it was). */
static int grow_merges(struct tok_bpe *m)
{
	size_t cap = 2 * (m->merge_mask + 1);
	struct merge_slot *t = empty_merges(cap);

	if (!t)
		return -1;
	for (size_t i = 0; i <= m->merge_mask; i++) {
		size_t j;

		if (m->merges[i].rank == NO_RANK)
			continue;
		j = mix64(m->merges[i].key) & (cap - 1);
		while (t[j].rank != NO_RANK)
			j = (j + 1) & (cap - 1);
		t[j] = m->merges[i];
	}
	free(m->merges);
	m->merges = t;
	m->merge_mask = cap - 1;
	return 0;
}

/* Whether the token id is the text a[0..na) b[0..nb) (which holds no NUL when the
 * vocabulary has none); reads no byte past the token's NUL. */
static int is_text(const struct sb_tokenizer *t, size_t id, const char *a, size_t na,
		   const char *b, size_t nb)
{
	const char *s;

	if (id >= t->n_ids || !(s = t->id_tok[id]))
		return 0;
	for (size_t i = 0; i < na; i++)
		if (!s[i] || s[i] != a[i])
			return 0;
	s += na;
	for (size_t i = 0; i < nb; i++)
		if (!s[i] || s[i] != b[i])
			return 0;
	return !s[nb];
}

/*
 * The id of the merged token a b, or -1.  Files list each merge's token right after
 * the previous one's (GPT-2's, RoBERTa's, Qwen's: every merge but the first): that id
 * is tried first, which spares the hash table's cache misses on most of the merges of
 * a big file.  Only when no text is there twice or holds a NUL byte: then the id whose
 * text is a b is the one the lookup gives.
 */
static int32_t merged_id(struct tok_bpe *m, const char *a, size_t na, const char *b, size_t nb)
{
	const struct sb_tokenizer *t = m->t;
	char buf[MAX_TOKEN_BYTES];

	if (!t->dup_text && !t->nul_text && m->last_new >= 0 &&
	    is_text(t, (size_t)m->last_new + 1, a, na, b, nb))
		return ++m->last_new;
	memcpy(buf, a, na);
	memcpy(buf + na, b, nb);
	m->last_new = lookup(t, HASH_INIT, "", 0, buf, na + nb);
	return m->last_new;
}

/* Puts merge e into the table (which has room). */
static void insert_merge(struct tok_bpe *m, const struct merge_slot *e)
{
	size_t i = mix64(e->key) & m->merge_mask;

	while (m->merges[i].rank != NO_RANK && m->merges[i].key != e->key)
		i = (i + 1) & m->merge_mask;
	if (m->merges[i].rank == NO_RANK)
		m->n_merges++;
	/* A later duplicate replaces the earlier one, as Hugging Face's HashMap. */
	m->merges[i] = *e;
}

void sb_tok_bpe_end_merges(struct tok_model *model)
{
	struct tok_bpe *m = model->impl;

	if (!m)
		return;
	for (; m->n_pend; m->n_pend--) {
		insert_merge(m, &m->pend[m->pend_at]);
		m->pend_at = (m->pend_at + 1) % PENDING;
	}
}

int sb_tok_bpe_add_merge(struct tok_model *model, const char *a, size_t na, const char *b,
			 size_t nb, size_t rank, const char *vocab, struct sb_error *err)
{
	return sb_tok_bpe_add_merge_hashed(model, a, na, text_hash(a, na), b, nb,
					   text_hash(b, nb), rank, vocab, err);
}

int sb_tok_bpe_add_merge_hashed(struct tok_model *model, const char *a, size_t na, uint32_t ha,
				const char *b, size_t nb, uint32_t hb, size_t rank,
				const char *vocab, struct sb_error *err)
{
	struct tok_bpe *m = model->impl;
	const struct sb_tokenizer *t = m->t;
	int32_t ia = lookup_hashed(t, ha, "", 0, a, na);
	int32_t ib = lookup_hashed(t, hb, "", 0, b, nb);
	size_t skip = 0;
	int32_t inew;
	uint64_t key;

	if (!na || ia < 0)
		return sb_error_set(err, SB_EFORMAT, "'%.*s' is not in %s",
				    (int)(na > 64 ? 64 : na), a, vocab);
	if (!nb || ib < 0)
		return sb_error_set(err, SB_EFORMAT, "'%.*s' is not in %s",
				    (int)(nb > 64 ? 64 : nb), b, vocab);
	if (m->nprefix_src) {
		/* Hugging Face takes b past the prefix's length, whatever b starts with (and
		 * fails on a b shorter than that or cut inside a character). */
		skip = m->nprefix_src;
		if (skip > nb || (skip < nb && ((unsigned char)b[skip] & 0xC0) == 0x80))
			return sb_error_set(err, SB_EFORMAT, "'%.*s' is shorter than "
					    "continuing_subword_prefix or cut inside a character",
					    (int)(nb > 64 ? 64 : nb), b);
	}
	if (na + nb - skip > MAX_TOKEN_BYTES)
		return sb_error_set(err, SB_EFORMAT, "merged token too long");
	inew = merged_id(m, a, na, b + skip, nb - skip);
	if (inew < 0)
		return sb_error_set(err, SB_EFORMAT, "the merged token '%.*s%.*s' is not in %s",
				    (int)(na > 64 ? 64 : na), a,
				    (int)(na >= 64 ? 0 : nb - skip > 64 - na ? 64 - na : nb - skip),
				    b + skip, vocab);
	if (rank >= MAX_MERGES)
		return sb_error_set(err, SB_ELIMIT, "more than %zu merges", (size_t)MAX_MERGES);
	if (2 * (m->n_merges + m->n_pend + 1) > m->merge_mask + 1) {
		sb_tok_bpe_end_merges(model);
		if (grow_merges(m))
			return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	}
	if (starts_meta(b, nb) && !ends_meta(a, na))
		m->meta_cross = 1;
	key = (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib;
	/* The table is bigger than the caches and the keys fall anywhere: the slot's line
	 * is fetched now and the merge enters PENDING merges later. */
	__builtin_prefetch(&m->merges[mix64(key) & m->merge_mask], 1);
	if (m->n_pend == PENDING) {
		insert_merge(m, &m->pend[m->pend_at]);
		m->pend_at = (m->pend_at + 1) % PENDING;
		m->n_pend--;
	}
	m->pend[(m->pend_at + m->n_pend++) % PENDING] = (struct merge_slot){key, (uint32_t)rank,
									  inew};
	for (int k = 0; k < 3; k++) {
		uint32_t v = k == 0 ? (uint32_t)ia : k == 1 ? (uint32_t)ib : (uint32_t)inew;

		for (int j = 0; j < 4; j++)
			m->merge_hash = (m->merge_hash ^ ((v >> (8 * j)) & 0xFF)) *
					1099511628211ull;
	}
	return SB_OK;
}

size_t sb_tok_bpe_merges(const struct tok_model *model)
{
	return ((const struct tok_bpe *)model->impl)->n_merges;
}

_Static_assert(sizeof(struct merge_slot) == TOK_BPE_SLOT_BYTES, "merge slot layout");

void sb_tok_bpe_table(const struct tok_model *model, struct tok_bpe_table *out)
{
	const struct tok_bpe *m = model->impl;

	out->slots = m->merges;
	out->cap = m->merge_mask + 1;
	out->n_merges = m->n_merges;
	out->merge_hash = m->merge_hash;
	out->meta_cross = m->meta_cross;
}

/* Whether the merge in slot i of tb is found where a lookup probes for it: on the
 * way from its home slot, no empty slot comes before it. */
static int reachable(const struct merge_slot *tb, size_t mask, size_t i)
{
	size_t j = mix64(tb[i].key) & mask;

	for (size_t steps = 0; steps <= mask; steps++, j = (j + 1) & mask) {
		if (j == i)
			return 1;
		if (tb[j].rank == NO_RANK)
			return 0;
	}
	return 0;
}

/* Whether the table's sample of slots (the first 64 merges, and the slots at every
 * 1024th index) is where lookups look for them: a table written by a build that hashed
 * keys otherwise would miss merges. */
static int sample_reachable(const struct merge_slot *s, size_t cap)
{
	for (size_t i = 0, seen = 0; i < cap && seen < 64; i++)
		if (s[i].rank != NO_RANK && (seen++, !reachable(s, cap - 1, i)))
			return 0;
	for (size_t i = 0; i < cap; i += 1024)
		if (s[i].rank != NO_RANK && !reachable(s, cap - 1, i))
			return 0;
	return 1;
}

int sb_tok_bpe_table_check(const struct tok_bpe_table *tb, size_t n_ids,
			   const uint32_t *text_of)
{
	const struct merge_slot *s = tb->slots;
	size_t filled = 0;
	unsigned bad = 0;

	if (tb->cap < 2 || (tb->cap & (tb->cap - 1)) || tb->cap > 4 * MAX_MERGES || !n_ids)
		return -1;
	/* Every slot without branches (a table of 500,000 slots, most of them either
	 * way at random): an empty slot passes whatever else it holds. */
	for (size_t i = 0; i < tb->cap; i++) {
		uint32_t a = (uint32_t)(s[i].key >> 32), b = (uint32_t)s[i].key;
		uint32_t id = (uint32_t)s[i].id;
		unsigned used = s[i].rank != NO_RANK;
		unsigned range = (s[i].rank >= MAX_MERGES) | (a >= n_ids) | (b >= n_ids) |
				 (id >= n_ids);

		/* The merged token is one the tokenizer can name (a merge of tokens without
		 * text never applies: no unit or merge makes them). */
		id = id < n_ids ? id : 0;
		bad |= used & (range | (text_of[id] == UINT32_MAX));
		filled += used;
	}
	if (bad || filled != tb->n_merges || filled >= tb->cap)
		return -1;
	return sample_reachable(s, tb->cap) ? 0 : -1;
}

void sb_tok_bpe_adopt(struct tok_model *model, const struct tok_bpe_table *tb)
{
	struct tok_bpe *m = model->impl;

	sb_tok_bpe_end_merges(model);
	free(m->merges);
	m->merges = tb->slots;
	m->merges_borrowed = 1;
	m->merge_mask = tb->cap - 1;
	m->n_merges = tb->n_merges;
	m->merge_hash = tb->merge_hash;
	m->meta_cross = tb->meta_cross;
}

static void bpe_free(void *impl)
{
	struct tok_bpe *m = impl;

	if (!m)
		return;
	if (!m->merges_borrowed)
		free(m->merges);
	free(m->mslots);
	free(m->mpool);
	free(m->prefix);
	free(m->suffix);
	free(m);
}

static uint64_t bpe_fingerprint(const void *impl, uint64_t h)
{
	const struct tok_bpe *m = impl;
	unsigned char f[4] = {(unsigned char)m->byte_level, (unsigned char)m->fuse_unk,
			      (unsigned char)m->ignore_merges, (unsigned char)(m->unk_id >= 0)};

	if (m->byte_fallback)
		h = (h ^ 'F') * 1099511628211ull;
	for (int j = 0; j < 8; j++)
		h = (h ^ ((m->merge_hash >> (8 * j)) & 0xFF)) * 1099511628211ull;
	for (size_t k = 0; k < sizeof(f); k++)
		h = (h ^ f[k]) * 1099511628211ull;
	for (size_t k = 0; k < m->nprefix; k++)
		h = (h ^ (unsigned char)m->prefix[k]) * 1099511628211ull;
	h = (h ^ 0xFF) * 1099511628211ull;
	for (size_t k = 0; k < m->nsuffix; k++)
		h = (h ^ (unsigned char)m->suffix[k]) * 1099511628211ull;
	return h;
}

/* ---- run time ---- */

#define SMALL_WORD 64                   /* symbols: up to this, merge by scanning */

struct scratch {
	struct tok_cache *cache;
	/* A word's symbols: ids and, for long words, a linked list and a heap. */
	int32_t *ids;
	uint32_t *rank;                 /* [i]: rank of the pair (i, next) */
	int32_t *newid;
	int32_t *next, *prev;
	size_t *len;
	uint64_t *heap;                 /* the queue: rank << 32 | position */
	size_t cap, hcap;
	struct tok_seq line;            /* the ids of a pre-token cut into words */
};

static void *bpe_scratch_new(const void *impl)
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

static void bpe_scratch_free(void *p)
{
	struct scratch *s = p;

	if (!s)
		return;
	sb_tok_cache_free(s->cache);
	free(s->ids);
	free(s->rank);
	free(s->newid);
	free(s->next);
	free(s->prev);
	free(s->len);
	free(s->heap);
	free(s->line.ids);
	free(s);
}

static int reserve(struct scratch *s, size_t n)
{
	if (n <= s->cap)
		return 0;
	{
		size_t c = s->cap ? s->cap : 64;
		void *a, *b, *c2, *d, *e, *f;

		while (c < n)
			c *= 2;
		a = realloc(s->ids, c * sizeof(*s->ids));
		if (a)
			s->ids = a;
		b = realloc(s->rank, c * sizeof(*s->rank));
		if (b)
			s->rank = b;
		c2 = realloc(s->newid, c * sizeof(*s->newid));
		if (c2)
			s->newid = c2;
		d = realloc(s->next, c * sizeof(*s->next));
		if (d)
			s->next = d;
		e = realloc(s->prev, c * sizeof(*s->prev));
		if (e)
			s->prev = e;
		f = realloc(s->len, c * sizeof(*s->len));
		if (f)
			s->len = f;
		if (!a || !b || !c2 || !d || !e || !f)
			return -1;
		s->cap = c;
	}
	return 0;
}

/* The id of the model-space string p (+ affixes) in the vocabulary, or -1. */
static int32_t unit_id(const struct tok_bpe *m, const char *pre, size_t npre,
		       const unsigned char *p, size_t n, const char *suf, size_t nsuf)
{
	char buf[MAX_TOKEN_BYTES];
	size_t k = 0;

	if (npre + n + nsuf > sizeof(buf))
		return -1;
	memcpy(buf, pre, npre);
	k = npre;
	memcpy(buf + k, p, n);
	k += n;
	memcpy(buf + k, suf, nsuf);
	k += nsuf;
	if (m->byte_level) {
		const struct slot *sl;
		uint32_t h;
		size_t i;

		if (!m->mslots)
			return k == 1 ? m->byte_id[(unsigned char)buf[0]] : -1;
		h = hash_step(HASH_INIT, (const unsigned char *)buf, k);
		i = h & m->mmask;
		for (;; i = (i + 1) & m->mmask) {
			sl = &m->mslots[i];
			if (!sl->len)
				return -1;
			if (sl->hash == h && sl->len == k && memcmp(m->mpool + sl->off, buf, k) == 0)
				return sl->id;
		}
	}
	return lookup(m->t, HASH_INIT, "", 0, buf, k);
}

/*
 * byte_fallback: the <0xNN> tokens of the unit p[0..n) with its affixes, appended at
 * ids[k]; returns the new count, or k when a byte has no token (the unit is unknown).
 */
static size_t fallback(const struct tok_bpe *m, int32_t *ids, size_t k, const char *pre,
		       size_t npre, const unsigned char *p, size_t n, const char *suf,
		       size_t nsuf)
{
	size_t j = k;

	for (size_t i = 0; i < npre + n + nsuf; i++) {
		unsigned char b = i < npre ? (unsigned char)pre[i] :
				  i < npre + n ? p[i - npre] : (unsigned char)suf[i - npre - n];

		if (m->fb_id[b] < 0)
			return k;
		ids[j++] = m->fb_id[b];
	}
	return j;
}

/* The initial symbols of the word (units, unknowns); returns their count. */
static size_t initial_symbols(const struct tok_bpe *m, struct scratch *s,
			      const unsigned char *p, size_t n)
{
	size_t k = 0, i = 0;
	int32_t unk_pending = -1;

	while (i < n) {
		size_t len = m->byte_level ? 1 : utf8_len(p[i]), fb;
		int first = i == 0, last;
		const char *pre, *suf;
		size_t npre, nsuf;
		int32_t id;

		if (i + len > n)
			len = n - i;
		last = i + len == n;
		pre = first || !m->prefix ? "" : m->prefix;
		npre = first ? 0 : m->nprefix;
		suf = last && m->suffix ? m->suffix : "";
		nsuf = last ? m->nsuffix : 0;
		if (m->byte_level && !m->mslots)
			id = m->byte_id[p[i]];
		else if (m->byte_level || !first || last)
			id = unit_id(m, pre, npre, p + i, len, suf, nsuf);
		else
			id = lookup(m->t, HASH_INIT, "", 0, (const char *)p + i, len);
		if (id >= 0) {
			if (unk_pending >= 0) {
				s->ids[k++] = unk_pending;
				unk_pending = -1;
			}
			s->ids[k++] = id;
		} else if (m->byte_fallback &&
			   (fb = fallback(m, s->ids, k, pre, npre, p + i, len, suf, nsuf)) != k) {
			/* As Hugging Face: a pending unknown stays pending after these. */
			k = fb;
		} else if (m->unk_id >= 0) {
			if (unk_pending >= 0 && !m->fuse_unk)
				s->ids[k++] = unk_pending;
			unk_pending = m->unk_id;
		}
		i += len;
	}
	if (unk_pending >= 0)
		s->ids[k++] = unk_pending;
	return k;
}

static inline void pair_rank(const struct tok_bpe *m, struct scratch *s, size_t i, int32_t a,
			     int32_t b)
{
	const struct merge_slot *ms = merge_find(m, a, b);

	s->rank[i] = ms ? ms->rank : NO_RANK;
	s->newid[i] = ms ? ms->id : -1;
}

/* Merges a short word in place by scanning for the lowest rank; returns its length. */
static size_t merge_small(const struct tok_bpe *m, struct scratch *s, size_t k)
{
	int32_t *ids = s->ids;

	for (size_t i = 0; i + 1 < k; i++)
		pair_rank(m, s, i, ids[i], ids[i + 1]);
	while (k > 1) {
		uint32_t best = NO_RANK;
		size_t at = 0;

		for (size_t i = 0; i + 1 < k; i++) {
			if (s->rank[i] < best) {
				best = s->rank[i];
				at = i;
			}
		}
		if (best == NO_RANK)
			break;
		ids[at] = s->newid[at];
		memmove(ids + at + 1, ids + at + 2, (k - at - 2) * sizeof(*ids));
		memmove(s->rank + at + 1, s->rank + at + 2, (k - at - 2) * sizeof(*s->rank));
		memmove(s->newid + at + 1, s->newid + at + 2, (k - at - 2) * sizeof(*s->newid));
		k--;
		if (at > 0)
			pair_rank(m, s, at - 1, ids[at - 1], ids[at]);
		if (at + 1 < k)
			pair_rank(m, s, at, ids[at], ids[at + 1]);
	}
	return k;
}

/* A queue entry: one comparison orders by rank, then leftmost first. */
static inline uint64_t qkey(uint32_t rank, size_t pos)
{
	return (uint64_t)rank << 32 | (uint32_t)pos;
}

static void heap_push(uint64_t *heap, size_t *n, uint64_t it)
{
	size_t i = (*n)++;

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (it >= heap[p])
			break;
		heap[i] = heap[p];
		i = p;
	}
	heap[i] = it;
}

/* Sifts heap[i] down into its place in the queue of n entries. */
static void heap_down(uint64_t *heap, size_t n, size_t i)
{
	uint64_t it = heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		c += c + 1 < n && heap[c + 1] < heap[c];
		if (heap[c] >= it)
			break;
		heap[i] = heap[c];
		i = c;
	}
	heap[i] = it;
}

static uint64_t heap_pop(uint64_t *heap, size_t *n)
{
	uint64_t top = heap[0];

	heap[0] = heap[--(*n)];
	if (*n)
		heap_down(heap, *n, 0);
	return top;
}

/* The pair (at, next) of a long word: its rank and merged token in s->rank[at] and
 * s->newid[at], and into the queue when it is a merge. */
static void queue_pair(const struct tok_bpe *m, struct scratch *s, size_t *nh, size_t at,
		       int32_t next)
{
	pair_rank(m, s, at, s->ids[at], s->ids[next]);
	if (s->rank[at] != NO_RANK)
		heap_push(s->heap, nh, qkey(s->rank[at], at));
}

/*
 * Merges a long word with a priority queue of (rank, position) over a linked list of
 * symbols, as word.rs; returns its length (the ids compacted to the front), or
 * (size_t)-1 when the queue cannot be allocated.  s->rank[i] is the rank of the pair
 * that starts at symbol i now: a queue entry whose rank is not that any more is stale
 * (a rank names one pair).
 */
static size_t merge_large(const struct tok_bpe *m, struct scratch *s, size_t k)
{
	int32_t *ids = s->ids;
	size_t nh = 0, out = 0;

	/* Each merge pushes at most two entries: 3k bounds the queue. */
	if (s->hcap < 3 * k) {
		void *h = realloc(s->heap, 3 * k * sizeof(*s->heap));

		if (!h)
			return (size_t)-1;
		s->heap = h;
		s->hcap = 3 * k;
	}
	for (size_t i = 0; i < k; i++) {
		s->next[i] = i + 1 < k ? (int32_t)(i + 1) : -1;
		s->prev[i] = (int32_t)i - 1;
		s->len[i] = 1;
	}
	s->rank[k - 1] = NO_RANK;
	for (size_t i = 0; i + 1 < k; i++) {
		pair_rank(m, s, i, ids[i], ids[i + 1]);
		if (s->rank[i] != NO_RANK)
			s->heap[nh++] = qkey(s->rank[i], i);
	}
	for (size_t i = nh / 2; i-- > 0;)
		heap_down(s->heap, nh, i);
	while (nh) {
		uint64_t top = heap_pop(s->heap, &nh);
		size_t at = (uint32_t)top;
		int32_t nx = s->next[at];

		if (!s->len[at] || nx < 0 || s->rank[at] != (uint32_t)(top >> 32))
			continue;       /* stale: a neighbour changed since */
		ids[at] = s->newid[at];
		s->len[nx] = 0;
		s->next[at] = s->next[nx];
		s->rank[at] = NO_RANK;
		if (s->next[at] >= 0)
			s->prev[s->next[at]] = (int32_t)at;
		if (s->prev[at] >= 0)
			queue_pair(m, s, &nh, (size_t)s->prev[at], (int32_t)at);
		if (s->next[at] >= 0)
			queue_pair(m, s, &nh, at, s->next[at]);
	}
	for (int32_t i = 0; i >= 0; i = s->next[i])
		ids[out++] = ids[i];
	return out;
}

/* The ids of the word p[0..n) (n > 0), from the cache or merged, pushed to out. */
static int encode_word(const struct tok_bpe *m, struct scratch *s, const unsigned char *p,
		       size_t n, struct tok_seq *out)
{
	uint32_t h = 0;
	size_t k;

	if (sb_tok_cache_get(s->cache, p, n, &h, out))
		return SB_OK;
	/* Byte fallback may give a token per byte of the units and their affixes. */
	if (reserve(s, m->byte_fallback ? n * (1 + m->nprefix) + m->nsuffix + 1 : n + 1))
		return SB_ENOMEM;
	k = initial_symbols(m, s, p, n);
	k = k <= SMALL_WORD ? merge_small(m, s, k) : merge_large(m, s, k);
	if (k == (size_t)-1)
		return SB_ENOMEM;
	for (size_t i = 0; i < k; i++)
		tok_seq_push(out, s->ids[i]);
	sb_tok_cache_put(s->cache, h, p, n, s->ids, k);
	return SB_OK;
}

/*
 * SentencePiece's BPE sees a whole line when the file has no pre-tokenizer (Llama's):
 * its words, each starting with U+2581, are one pre-token.  No merge of such a file
 * joins a symbol that ends in a character other than U+2581 to one that starts with
 * U+2581 (meta_cross unset), so no merge crosses the place before a word's U+2581
 * that follows another character, and a pending unknown ends at that U+2581 (a unit of
 * the vocabulary): the line's ids are its words' ids, each word merged on its own --
 * and found in the word cache.  Without affixes, ignore_merges or byte-level units,
 * which tie a unit to its place in the pre-token.
 */
static int can_cut(const struct tok_bpe *m)
{
	return !m->byte_level && m->meta_id >= 0 && !m->meta_cross && !m->unk_meta &&
	       !m->nprefix && !m->nsuffix && !m->ignore_merges;
}

/* The place of the next cut in p[0..n) after i: before a U+2581 that follows another
 * character; n when none. */
static size_t next_cut(const unsigned char *p, size_t n, size_t i)
{
	while (i + 3 <= n) {
		const unsigned char *q = memchr(p + i, 0xE2, n - i - 2);

		if (!q)
			return n;
		i = (size_t)(q - p);
		if (q[1] == 0x96 && q[2] == 0x81 && !(i >= 3 && memcmp(q - 3, META, 3) == 0))
			return i;
		i++;
	}
	return n;
}

/* The pre-token p[0..n) cut into words (can_cut): the whole from the cache, else each
 * word, then the whole into the cache. */
static int encode_cut(const struct tok_bpe *m, struct scratch *s, const unsigned char *p,
		      size_t n, struct tok_seq *out)
{
	struct tok_seq *w = &s->line;
	uint32_t h = 0;
	size_t a = 0;
	int rc;

	if (sb_tok_cache_get(s->cache, p, n, &h, out))
		return SB_OK;
	w->n_kept = 0;
	w->n_total = 0;
	w->keep = SIZE_MAX;
	w->oom = 0;
	while (a < n) {
		size_t b = next_cut(p, n, a + 1);

		if ((rc = encode_word(m, s, p + a, b - a, w)))
			return rc;
		if (w->oom)
			return SB_ENOMEM;
		a = b;
	}
	for (size_t i = 0; i < w->n_kept; i++)
		tok_seq_push(out, w->ids[i]);
	sb_tok_cache_put(s->cache, h, p, n, w->ids, w->n_kept);
	return SB_OK;
}

static int bpe_encode(const void *impl, void *scratch, const unsigned char *p, size_t n,
		      struct tok_seq *out)
{
	const struct tok_bpe *m = impl;
	struct scratch *s = scratch;

	if (m->byte_level && n == 1 && !m->mslots) {
		if (m->byte_id[p[0]] >= 0)
			tok_seq_push(out, m->byte_id[p[0]]);
		else if (m->unk_id >= 0)
			tok_seq_push(out, m->unk_id);
		return SB_OK;
	}
	if (m->ignore_merges) {
		int32_t id = unit_id(m, "", 0, p, n, "", 0);

		if (id >= 0) {
			tok_seq_push(out, id);
			return SB_OK;
		}
	}
	if (can_cut(m) && next_cut(p, n, 1) < n)
		return encode_cut(m, s, p, n, out);
	return encode_word(m, s, p, n, out);
}

const struct tok_model_ops sb_tok_bpe_ops = {
	.name = "BPE",
	.scratch_new = bpe_scratch_new,
	.scratch_free = bpe_scratch_free,
	.encode = bpe_encode,
	.fingerprint = bpe_fingerprint,
	.free = bpe_free,
};
