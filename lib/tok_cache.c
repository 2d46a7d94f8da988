/*
 * tok_cache.c - the models' cache of pre-tokens already seen (most words of a text
 * repeat), one per encoder; it changes nothing but the speed, as Hugging Face's.
 *
 * Two tables keyed by a hash of the bytes: pre-tokens of up to CACHE_KEY bytes with up
 * to CACHE_IDS ids in fixed slots (words), and longer ones of up to LONG_KEY bytes
 * (whole lines when a file has no pre-tokenizer, as Llama's) in blocks of their own,
 * allocated when first needed; Hugging Face caches pre-tokens under 256 bytes too.
 * A short pre-token of more than CACHE_IDS ids (a run of CJK characters, each its own
 * piece) goes to the second table.
 * Both are WAYS-way set associative: the hash picks a set of WAYS slots, a new entry
 * takes an empty one or else the set's slots in turn.  (Direct mapped, one in seven of
 * 2,500 lines shared its slot with another in a table of 16,384, and the two evicted
 * each other on every repeat.)
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tok_gen.h"

#define CACHE_SLOTS 32768               /* power of two */
#define CACHE_KEY 26
#define CACHE_IDS 8
#define LONG_SLOTS 16384                /* power of two */
#define LONG_KEY 255
#define WAYS 4                          /* slots per set */

struct short_entry {
	uint32_t hash;
	uint8_t len;                    /* 0: empty */
	uint8_t n_ids;
	char key[CACHE_KEY];
	int32_t ids[CACHE_IDS];
};

struct long_entry {
	uint32_t hash;
	uint32_t len, n_ids;
	unsigned char *data;            /* len bytes of key, then n_ids int32 ids */
};

struct tok_cache {
	struct short_entry *words;      /* [CACHE_SLOTS], sets of WAYS */
	uint32_t *wtag;                 /* [CACHE_SLOTS]: the words' hashes, looked at first
					 * (one cache line for a set instead of WAYS) */
	struct long_entry *lines;       /* [LONG_SLOTS], sets of WAYS; NULL until a long
					 * pre-token */
	uint8_t *wturn, *lturn;         /* per set: the slot a new entry replaces when full */
};

struct tok_cache *sb_tok_cache_new(void)
{
	struct tok_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->words = sb_table_alloc(CACHE_SLOTS * sizeof(*c->words), 0);
	c->wturn = calloc(CACHE_SLOTS / WAYS, 1);
	c->wtag = calloc(CACHE_SLOTS, sizeof(*c->wtag));
	if (!c->words || !c->wturn || !c->wtag) {
		free(c->words);
		free(c->wturn);
		free(c->wtag);
		free(c);
		return NULL;
	}
	return c;
}

void sb_tok_cache_free(struct tok_cache *c)
{
	if (!c)
		return;
	if (c->lines)
		for (size_t i = 0; i < LONG_SLOTS; i++)
			free(c->lines[i].data);
	free(c->lines);
	free(c->lturn);
	free(c->words);
	free(c->wturn);
	free(c->wtag);
	free(c);
}

/* The entry of p[0..n) (hash h) in the set that starts at slot set, or NULL. */
static const struct short_entry *find_word(const struct tok_cache *c, size_t set, uint32_t h,
					   const unsigned char *p, size_t n)
{
	for (size_t w = set; w < set + WAYS; w++) {
		const struct short_entry *e = &c->words[w];

		if (c->wtag[w] == h && e->len == n && memcmp(e->key, p, n) == 0)
			return e;
	}
	return NULL;
}

static const struct long_entry *find_line(const struct long_entry *set, uint32_t h,
					  const unsigned char *p, size_t n)
{
	for (size_t w = 0; w < WAYS; w++) {
		const struct long_entry *e = &set[w];

		if (e->data && e->hash == h && e->len == n && memcmp(e->data, p, n) == 0)
			return e;
	}
	return NULL;
}

int sb_tok_cache_get(const struct tok_cache *c, const unsigned char *p, size_t n, uint32_t *h,
		     struct tok_seq *out)
{
	const struct long_entry *e;
	int32_t id;

	if (n > LONG_KEY)
		return 0;
	*h = sb_tok_word_hash(p, n);
	if (n <= CACHE_KEY) {
		const struct short_entry *w = find_word(c, *h & (CACHE_SLOTS - WAYS), *h, p, n);

		if (w) {
			for (size_t i = 0; i < w->n_ids; i++)
				tok_seq_push(out, w->ids[i]);
			return 1;
		}
	}
	e = c->lines ? find_line(&c->lines[*h & (LONG_SLOTS - WAYS)], *h, p, n) : NULL;
	if (!e)
		return 0;
	for (size_t i = 0; i < e->n_ids; i++) {
		memcpy(&id, e->data + n + i * sizeof(id), sizeof(id));
		tok_seq_push(out, id);
	}
	return 1;
}

/* The way of a set that a new entry takes: an empty one, else the set's turn. */
static size_t victim(uint8_t *turn, int (*empty)(const void *set, size_t w), const void *set)
{
	size_t w;

	for (w = 0; w < WAYS; w++)
		if (empty(set, w))
			return w;
	w = *turn;
	*turn = (uint8_t)((w + 1) % WAYS);
	return w;
}

static int word_empty(const void *set, size_t w)
{
	return !((const struct short_entry *)set)[w].len;
}

static int line_empty(const void *set, size_t w)
{
	return !((const struct long_entry *)set)[w].data;
}

void sb_tok_cache_put(struct tok_cache *c, uint32_t h, const unsigned char *p, size_t n,
		      const int32_t *ids, size_t k)
{
	struct long_entry *e;
	unsigned char *d;
	size_t set;

	if (n > LONG_KEY)
		return;
	if (n <= CACHE_KEY && k <= CACHE_IDS) {
		struct short_entry *w;

		set = h & (CACHE_SLOTS - WAYS);
		set += victim(&c->wturn[set / WAYS], word_empty, &c->words[set]);
		w = &c->words[set];
		c->wtag[set] = h;
		w->hash = h;
		w->len = (uint8_t)n;
		w->n_ids = (uint8_t)k;
		memcpy(w->key, p, n);
		memcpy(w->ids, ids, k * sizeof(*ids));
		return;
	}
	if (!c->lines) {
		c->lines = calloc(LONG_SLOTS, sizeof(*c->lines));
		c->lturn = calloc(LONG_SLOTS / WAYS, 1);
		if (!c->lines || !c->lturn) {
			free(c->lines);
			free(c->lturn);
			c->lines = NULL;
			c->lturn = NULL;
			return;
		}
	}
	if (!(d = malloc(n + k * sizeof(*ids))))
		return;
	memcpy(d, p, n);
	memcpy(d + n, ids, k * sizeof(*ids));
	set = h & (LONG_SLOTS - WAYS);
	e = &c->lines[set + victim(&c->lturn[set / WAYS], line_empty, &c->lines[set])];
	free(e->data);
	e->data = d;
	e->hash = h;
	e->len = (uint32_t)n;
	e->n_ids = (uint32_t)k;
}
