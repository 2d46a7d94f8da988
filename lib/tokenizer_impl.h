/*
 * tokenizer_impl.h - what the parts of the tokenizer share (private to libsb).
 *
 * Two run-time paths serve the files of Hugging Face tokenizers:
 *   - WordPiece files (BERT) take the fused path of tokenizer.c: BertNormalizer,
 *     BertPreTokenizer and WordPiece in one pass over the text, code point by code
 *     point;
 *   - every other model takes the generic pipeline of tok_gen.c, the stages of
 *     Hugging Face's own: added tokens (tok_gen.c) -> normalizers (tok_norm.c) ->
 *     pre-tokenizers (tok_pretok.c) -> the model, one pre-token at a time, behind a
 *     small vtable (struct tok_model_ops; BPE in tok_bpe.c) -> the post-processor
 *     template and truncation, shared with the fused path (tokenizer.c).
 * tokenizer_load.c reads a model folder (tokenizer.json, vocab.txt, vocab.json +
 * merges.txt and the configs); tok_json.c reads the generic components.
 */
#ifndef SB_TOKENIZER_IMPL_H
#define SB_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "internal.h"
#include "json.h"
#include "tokenizer.h"

#define MAX_VOCAB ((size_t)1 << 24)             /* ids and entries */
#define MAX_TOKEN_BYTES 1024                    /* longest vocabulary entry accepted */
#define MAX_ADDED 4096
#define MAX_TEMPLATE 16
#define MAX_CONFIG_BYTES ((size_t)1 << 20)      /* small json configs */
#define MAX_TOKENIZER_JSON ((size_t)256 << 20)
#define MAX_VOCAB_TXT ((size_t)64 << 20)
#define MAX_SETTINGS 24

struct tok_gen;
struct tok_store;

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
	int dup_text;                   /* some text is in the vocabulary twice */
	int nul_text;                   /* some text holds a NUL byte */
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

	struct tok_gen *gen;            /* the generic pipeline, NULL on the fused path */

	struct sb_tokenizer_info info;
	struct setting_store store[MAX_SETTINGS];
	struct sb_tokenizer_setting settings[MAX_SETTINGS];
	char *dir;

	/* The tokenizer cache (tok_store.c), while sb_tokenizer_open() runs. */
	const char *cache_dir;          /* opts->cache_dir: NULL, no cache */
	int cache_skip_read;            /* rebuilding: the cache file is not read */
	struct tok_store *cached;       /* the tables read from the cache, NULL: parsed */
	struct sb_file_view tables;     /* the cache file that pool, slots and the BPE
					 * merges are in (map NULL: they are malloc'd) */
	const char *cache_note;         /* why a cache file was not used ("checksum") */
	struct tok_src {
		uint64_t size, mtime_ns, ino, dev;
	} src;                          /* tokenizer.json as it was before it was read */
	size_t span[4];                 /* model.vocab (offset, length) and model.merges in
					 * its text; 0 lengths: not located */
	size_t n_entries;               /* model.vocab's entries, duplicates counted */
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

/* The hash of the text p[0..n) in the vocabulary table. */
static inline uint32_t text_hash(const char *p, size_t n)
{
	return hash_step(HASH_INIT, (const unsigned char *)p, n);
}

/* The id of pre + p (npre + n bytes) whose hash is h, or -1. */
static inline int32_t lookup_hashed(const struct sb_tokenizer *t, uint32_t h, const char *pre,
				    size_t npre, const char *p, size_t n)
{
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

static inline int32_t lookup(const struct sb_tokenizer *t, uint32_t h0, const char *pre,
			     size_t npre, const char *p, size_t n)
{
	return lookup_hashed(t, hash_step(h0, (const unsigned char *)p, n), pre, npre, p, n);
}

/* Fetches the vocabulary slot of hash h into the caches (a lookup to come soon). */
static inline void lookup_prefetch(const struct sb_tokenizer *t, uint32_t h)
{
	__builtin_prefetch(&t->slots[h & t->mask]);
}

/* Fetches the text of the token in the first slot of hash h (fetched earlier by
 * lookup_prefetch(): the lookup compares it). */
static inline void lookup_prefetch_text(const struct sb_tokenizer *t, uint32_t h)
{
	__builtin_prefetch(t->pool + t->slots[h & t->mask].off);
}

/* Fills the ASCII fast-path tables of t from its normalizer settings (tokenizer.c). */
void sb_tokenizer_set_ascii(struct sb_tokenizer *t);

/* ---- loading (tokenizer_load.c), shared with the generic loader (tok_json.c) ---- */

/* Token entries collected before the vocabulary table is built. */
struct tok_list {
	struct sb_buf pool;
	struct { size_t off, len; int32_t id; } *e;
	size_t n, cap;
};

/* Adds token s (n bytes) with id; file names the source in messages. */
int sb_tok_list_add(struct tok_list *l, const char *s, size_t n, int64_t id, const char *file,
		    struct sb_error *err);

/* Makes room in l for entries more entries and bytes more bytes of text. */
int sb_tok_list_reserve(struct tok_list *l, size_t entries, size_t bytes, struct sb_error *err);

/* Frees what l holds (l itself is the caller's) and empties it; NULL is ignored. */
void sb_tok_list_free(struct tok_list *l);

/* Builds t's vocabulary table from l (takes its pool). */
int sb_tok_vocab_build(struct sb_tokenizer *t, struct tok_list *l, struct sb_error *err);

/* Records a setting for -v (see struct sb_tokenizer_setting). */
void sb_tok_setting(struct sb_tokenizer *t, const char *name, const char *source,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Registers an added token (content -> id) for sb_tokenizer_token_id() and the
 * fingerprint; duplicates are ignored. */
int sb_tok_add_added(struct sb_tokenizer *t, const char *s, size_t n, int32_t id,
		     int single_word, int normalized, const char *file, struct sb_error *err);

/* Template items: a special token of known id, or a sequence (A or B). */
int sb_tok_tpl_id(struct tpl *tp, int32_t id, uint8_t type_id, const char *file,
		  struct sb_error *err);
int sb_tok_tpl_seq(struct tpl *tp, enum tpl_kind k, uint8_t type_id, const char *file,
		   struct sb_error *err);

/* TemplateProcessing's "single" or "pair" list (path: "post_processor.single"). */
int sb_tok_tpl_parse(struct tpl *tp, const struct sb_json *list, const struct sb_json *specials,
		     const char *path, struct sb_error *err);

/* The special token key ("pad_token") of config a, else of b, else dflt; written as a
 * string or as {"content": ...}. */
const char *sb_tok_special_or(const struct sb_json *a, const struct sb_json *b, const char *key,
			      const char *dflt);

/* A json bool: 1/0, -1 when absent or null, -2 for another type. */
int sb_tok_json_bool(const struct sb_json *o, const char *key);

/*
 * A tokenizer.json as read (tok_json.c).  model.vocab and model.merges hold nearly all
 * of a large file (Qwen3's: 151,643 entries and 151,387 merges); a tree of them costs
 * more time and memory than the tokenizer itself.  sb_tok_doc_read() finds their
 * values in the text (vocab_len / merges_len 0 when it cannot: a document it does not
 * follow is left whole to the JSON reader, which says what is wrong), parses the rest
 * with those two values blanked to {} and [] (byte offsets in messages stay right),
 * and the loaders read the two values from the text with the rules of lib/json.c.
 */
struct tok_doc {
	struct sb_file_view text;       /* the file, mapped */
	struct sb_json *root;           /* the tree of the rest */
	size_t vocab_off, vocab_len;    /* model.vocab's value in text */
	size_t merges_off, merges_len;  /* model.merges's value in text */
	/* model.merges as read while it was located (n_merge_views == merges_len == 0 when
	 * it was only skipped: the loader then reads the text, and words its errors). */
	struct tok_merge_view *merge_views;
	size_t n_merge_views;
	struct sb_buf merge_text;       /* the strings of merges that hold escapes, decoded */
	/* model.vocab (an object) as read while it was located, NULL when it was only
	 * skipped; sb_tok_doc_vocab() hands it over. */
	struct tok_list *vocab_list;
};

/* One merge (a, b) read from the text: each string at an offset in the text, or in
 * merge_text when its length has MERGE_DECODED set. */
struct tok_merge_view {
	uint32_t a, b, na, nb;
};

#define MERGE_DECODED 0x80000000u

/* Reads path into d (memset first, so sb_tok_doc_free() is safe on any failure). */
int sb_tok_doc_read(struct tok_doc *d, const char *path, struct sb_error *err);
void sb_tok_doc_free(struct tok_doc *d);

/* Reads path into d knowing the spans of model.vocab and model.merges (offset, length
 * of each, from the tokenizer cache) instead of locating them: the file must be size
 * bytes and the spans must open and close as an object and an array.  -1 when they
 * do not, or the rest does not parse (d is then to be freed and read again). */
int sb_tok_doc_read_spans(struct tok_doc *d, const char *path, uint64_t size,
			  const size_t span[4], struct sb_error *err);

/* Adds the entries of model.vocab (an object) to l: those read while locating it when
 * there are, else those of its text; what names it in messages. */
int sb_tok_doc_vocab(const struct tok_doc *doc, struct tok_list *l, const char *what,
		     struct sb_error *err);

/* Adds the entries of the object s[0..n) ("token": id, ...) to l; what names it. */
int sb_tok_vocab_parse(const unsigned char *s, size_t n, struct tok_list *l, const char *what,
		       struct sb_error *err);

/* Splits a merges.txt-style line "a b" at its only space: *at is the space's offset;
 * -1 when there is no space or more than one. */
int sb_tok_split_merge(const char *s, size_t n, size_t *at);

struct tok_model;

/* The values of a tokenizer.json's model (tok_scan.c): Unigram's model.vocab (a list
 * of [piece, score]) from its text s[0..n) or from a tree, into l and *scores; BPE's
 * model.merges ("a b" strings or [a, b] pairs) from its text, into model. */
int sb_tok_unigram_vocab_parse(const unsigned char *s, size_t n, struct tok_list *l,
			       double **scores, struct sb_error *err);
int sb_tok_unigram_vocab_tree(const struct sb_json *vocab, struct tok_list *l,
			      double **scores, struct sb_error *err);
int sb_tok_merges_parse(struct tok_model *model, const unsigned char *s, size_t n,
			struct sb_error *err);

/* The generic pipeline's loaders (tok_json.c): a tokenizer.json whose model is BPE, and
 * the vocab.json + merges.txt layout (RoBERTa, GPT-2) with its tokenizer_config.json. */
int sb_tok_load_json(struct sb_tokenizer *t, const struct tok_doc *doc, struct tok_list *l,
		     struct sb_error *err);
int sb_tok_load_bpe_files(struct sb_tokenizer *t, const char *dir, const struct sb_json *tcfg,
			  const struct sb_json *smap, const struct sb_json *mcfg,
			  struct tok_list *l, struct sb_error *err);

/* ---- the tokenizer cache (tok_store.c) ---- */

/*
 * The tables a BPE tokenizer.json builds (the vocabulary's and the merges' hash
 * tables) kept in a file of the cache folder, keyed by the identity of the
 * tokenizer.json (size, mtime, inode, device), so that a later load reads them
 * instead of parsing and hashing the 300,000 entries of a big file.  The rest of the
 * file (normalizers, added tokens...) is parsed as always, with the two big values
 * skipped at the offsets the cache file gives.
 */

/* Reads doc from path (the tokenizer.json of t), from the tables of t->cache_dir's
 * cache file where there is a valid one (then t->cached is set and doc's big values
 * are only skipped), else as sb_tok_doc_read() does; fills t->src. */
int sb_tok_store_doc(struct sb_tokenizer *t, const char *path, struct tok_doc *doc,
		     struct sb_error *err);

/* Moves the vocabulary of t->cached into t (as sb_tok_vocab_build() would build it).
 * SB_ENOMEM. */
int sb_tok_store_vocab(struct sb_tokenizer *t, struct sb_error *err);

/* Moves the merges of t->cached into t's BPE model, made for no merges. */
void sb_tok_store_merges(struct sb_tokenizer *t);

/*
 * After a successful open: when the tables came from the cache, 0 if they gave the
 * fingerprint they were written with, else -1 (the caller opens again with
 * t->cache_skip_read); when they were built, writes them to the cache if the
 * tokenizer is one the cache keeps.  Records the outcome as the "cache" setting.
 * Failing to write is not an error.
 */
int sb_tok_store_finish(struct sb_tokenizer *t);

/* Computes the checksum of the cache file image file[0..len) again and writes it in
 * (for the tests: a file damaged on purpose that must reach the checks after the
 * checksum); -1 when the head's counts are out of range or do not add up to len. */
int sb_tok_store_reseal(unsigned char *file, size_t len);

/* Frees t->cached (NULL is fine). */
void sb_tok_store_free(struct sb_tokenizer *t);

/* ---- the ids of one text, kept up to a bound and counted past it ---- */

struct tok_seq {
	int32_t *ids;
	size_t n_kept, cap, keep;       /* store at most keep ids */
	uint64_t n_total;               /* ids produced, stored or not */
	int oom;
};

/* Grows s->ids for one more id; sets s->oom on failure (tokenizer.c). */
void sb_tok_seq_grow(struct tok_seq *s);

static inline void tok_seq_push(struct tok_seq *s, int32_t id)
{
	s->n_total++;
	if (s->n_kept < s->keep) {
		if (s->n_kept == s->cap) {
			sb_tok_seq_grow(s);
			if (s->n_kept == s->cap)
				return;
		}
		s->ids[s->n_kept++] = id;
	}
}

/* ---- UTF-8 ---- */

/* Writes c as UTF-8 to p (room for 4 bytes); returns the length. */
static inline size_t put_utf8(char *p, uint32_t c)
{
	if (c < 0x80) {
		p[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		p[0] = (char)(0xC0 | (c >> 6));
		p[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		p[0] = (char)(0xE0 | (c >> 12));
		p[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		p[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	p[0] = (char)(0xF0 | (c >> 18));
	p[1] = (char)(0x80 | ((c >> 12) & 0x3F));
	p[2] = (char)(0x80 | ((c >> 6) & 0x3F));
	p[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

/*
 * Decodes one code point at p[0..n) (n >= 1, p[0] >= 0x80).  Returns its length and
 * sets *c, or returns -(length of the maximal invalid subpart) (Unicode's "maximal
 * subpart" rule, as Python and WHATWG decoders replace).  A sequence cut by the end
 * of the buffer is invalid here: streaming callers hold such tails back first.
 */
static inline int get_utf8(const unsigned char *p, size_t n, uint32_t *c)
{
	unsigned b0 = p[0];
	uint32_t v;
	int len;
	unsigned lo = 0x80, hi = 0xBF;

	if (b0 >= 0xC2 && b0 <= 0xDF) {
		len = 2;
		v = b0 & 0x1F;
	} else if (b0 >= 0xE0 && b0 <= 0xEF) {
		len = 3;
		v = b0 & 0x0F;
		if (b0 == 0xE0)
			lo = 0xA0;
		else if (b0 == 0xED)
			hi = 0x9F;
	} else if (b0 >= 0xF0 && b0 <= 0xF4) {
		len = 4;
		v = b0 & 0x07;
		if (b0 == 0xF0)
			lo = 0x90;
		else if (b0 == 0xF4)
			hi = 0x8F;
	} else {
		return -1;
	}
	for (int i = 1; i < len; i++) {
		if ((size_t)i >= n || p[i] < lo || p[i] > hi)
			return -i;
		v = (v << 6) | (p[i] & 0x3F);
		lo = 0x80;
		hi = 0xBF;
	}
	*c = v;
	return len;
}

/* Length of the UTF-8 sequence that starts with byte b (1 for continuation bytes). */
static inline size_t utf8_len(unsigned char b)
{
	return b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

/* Decodes the code point of valid UTF-8 at p (which holds all of it). */
static inline uint32_t utf8_decode(const unsigned char *p, size_t *len)
{
	uint32_t c = p[0];

	if (c < 0x80) {
		*len = 1;
	} else if (c < 0xE0) {
		c = ((c & 0x1F) << 6) | (p[1] & 0x3F);
		*len = 2;
	} else if (c < 0xF0) {
		c = ((c & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
		*len = 3;
	} else {
		c = ((c & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
		    ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
		*len = 4;
	}
	return c;
}

#endif
