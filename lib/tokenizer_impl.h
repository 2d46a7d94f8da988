/*
 * tokenizer_impl.h - what the two halves of the tokenizer share (private to libsb):
 * tokenizer.c runs it (normalizer, pre-tokenizer and WordPiece in one pass over the
 * text), tokenizer_load.c builds it from a model folder (tokenizer.json, or vocab.txt
 * with tokenizer_config.json and special_tokens_map.json).
 */
#ifndef SB_TOKENIZER_IMPL_H
#define SB_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenizer.h"

#define MAX_VOCAB ((size_t)1 << 24)             /* ids and entries */
#define MAX_TOKEN_BYTES 1024                    /* longest vocabulary entry accepted */
#define MAX_ADDED 4096
#define MAX_TEMPLATE 16
#define MAX_CONFIG_BYTES ((size_t)1 << 20)      /* small json configs */
#define MAX_TOKENIZER_JSON ((size_t)256 << 20)
#define MAX_VOCAB_TXT ((size_t)64 << 20)
#define MAX_SETTINGS 24

/* ---- vocabulary: open addressing hash table over a string pool ---- */

struct slot {
	uint32_t hash;
	uint32_t len;           /* 0: empty slot (the empty token is never looked up) */
	uint32_t off;           /* into pool */
	int32_t id;
};

struct added {
	char *s;
	size_t n;
	int32_t id;
	int single_word;
	int normalized;         /* matched on lowercased text when the normalizer lowercases */
};

enum tpl_kind { TPL_SPECIAL, TPL_A, TPL_B };

struct tpl_item {
	enum tpl_kind kind;
	uint8_t type_id;
	size_t n_ids;
	int32_t *ids;
};

struct tpl {
	size_t n;
	struct tpl_item items[MAX_TEMPLATE];
	size_t n_special;
};

struct setting_store {
	char name[32];
	char value[96];
	char source[96];
};

struct sb_tokenizer {
	char *pool;
	size_t pool_len;
	struct slot *slots;
	size_t mask;                    /* slots - 1 (power of two) */
	const char **id_tok;            /* [n_ids] token text by id, NULL for holes */
	size_t n_ids;
	size_t max_word_bytes;          /* longest vocabulary entry without the prefix */
	size_t max_cont_bytes;          /* longest entry starting with the prefix, minus it */
	char cont_prefix[16];
	size_t cont_len;
	uint32_t cont_hash;             /* hash state after the prefix */

	struct added *added;
	size_t n_added;
	uint8_t added_first[256];       /* first bytes of added tokens */

	struct tpl single, pair;
	unsigned char ascii_class[128];
	unsigned char ascii_lower[128];

	struct sb_tokenizer_info info;
	struct setting_store store[MAX_SETTINGS];
	struct sb_tokenizer_setting settings[MAX_SETTINGS];
	char *dir;
};

static inline uint32_t hash_step(uint32_t h, const unsigned char *p, size_t n)
{
	/* FNV-1a: cheap on the short keys of a vocabulary, and streamable so that
	 * "##" + piece hashes without building the string. */
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

#define HASH_INIT 2166136261u

static inline int32_t lookup(const struct sb_tokenizer *t, uint32_t h0, const char *pre,
				     size_t npre, const char *p, size_t n)
{
	uint32_t h = hash_step(h0, (const unsigned char *)p, n);
	size_t i = h & t->mask;
	size_t len = npre + n;

	for (;;) {
		const struct slot *s = &t->slots[i];

		if (!s->len)
			return -1;
		if (s->hash == h && s->len == len) {
			const char *k = t->pool + s->off;

			if (memcmp(k, pre, npre) == 0 && memcmp(k + npre, p, n) == 0)
				return s->id;
		}
		i = (i + 1) & t->mask;
	}
}

/* Fills the ASCII fast-path tables of t from its normalizer settings (tokenizer.c). */
void sb_tokenizer_set_ascii(struct sb_tokenizer *t);

#endif
