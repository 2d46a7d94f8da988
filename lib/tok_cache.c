/*
 * tok_cache.c - the models' cache of pre-tokens already seen (most words of a text
 * repeat), one per encoder; it changes nothing but the speed, as Hugging Face's.
 *
 * Two direct-mapped tables keyed by a hash of the bytes: pre-tokens of up to
 * CACHE_KEY bytes with up to CACHE_IDS ids in fixed slots (words), and longer ones of
 * up to LONG_KEY bytes (whole lines when a file has no pre-tokenizer, as Llama's) in
 * blocks of their own, allocated when first needed; Hugging Face caches pre-tokens
 * under 256 bytes too.  A new entry replaces the one in its slot.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_gen.h"

#define CACHE_SLOTS 32768               /* power of two */
#define CACHE_KEY 26
#define CACHE_IDS 8
#define LONG_SLOTS 16384                /* power of two */
#define LONG_KEY 255

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
	struct short_entry *words;      /* [CACHE_SLOTS] */
	struct long_entry *lines;       /* [LONG_SLOTS], NULL until a long pre-token */
};

struct tok_cache *sb_tok_cache_new(void)
{
	struct tok_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->words = calloc(CACHE_SLOTS, sizeof(*c->words));
	if (!c->words) {
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
	free(c->words);
	free(c);
}

int sb_tok_cache_get(const struct tok_cache *c, const unsigned char *p, size_t n, uint32_t *h,
		     struct tok_seq *out)
{
	if (n > LONG_KEY)
		return 0;
	*h = sb_tok_word_hash(p, n);
	if (n <= CACHE_KEY) {
		const struct short_entry *e = &c->words[*h & (CACHE_SLOTS - 1)];

		if (e->len != n || e->hash != *h || memcmp(e->key, p, n))
			return 0;
		for (size_t i = 0; i < e->n_ids; i++)
			tok_seq_push(out, e->ids[i]);
		return 1;
	}
	{
		const struct long_entry *e = c->lines ? &c->lines[*h & (LONG_SLOTS - 1)] : NULL;
		int32_t id;

		if (!e || !e->data || e->hash != *h || e->len != n || memcmp(e->data, p, n))
			return 0;
		for (size_t i = 0; i < e->n_ids; i++) {
			memcpy(&id, e->data + n + i * sizeof(id), sizeof(id));
			tok_seq_push(out, id);
		}
		return 1;
	}
}

void sb_tok_cache_put(struct tok_cache *c, uint32_t h, const unsigned char *p, size_t n,
		      const int32_t *ids, size_t k)
{
	struct long_entry *e;
	unsigned char *d;

	if (n > LONG_KEY)
		return;
	if (n <= CACHE_KEY) {
		struct short_entry *w = &c->words[h & (CACHE_SLOTS - 1)];

		if (k > CACHE_IDS)
			return;
		w->hash = h;
		w->len = (uint8_t)n;
		w->n_ids = (uint8_t)k;
		memcpy(w->key, p, n);
		memcpy(w->ids, ids, k * sizeof(*ids));
		return;
	}
	if (!c->lines && !(c->lines = calloc(LONG_SLOTS, sizeof(*c->lines))))
		return;
	if (!(d = malloc(n + k * sizeof(*ids))))
		return;
	memcpy(d, p, n);
	memcpy(d + n, ids, k * sizeof(*ids));
	e = &c->lines[h & (LONG_SLOTS - 1)];
	free(e->data);
	e->data = d;
	e->hash = h;
	e->len = (uint32_t)n;
	e->n_ids = (uint32_t)k;
}
