/*
 * tok_gen.h - the generic tokenizer pipeline (private to libsb), the stages of
 * Hugging Face tokenizers 0.22 for the files that are not BERT WordPiece:
 *
 *   text -> added tokens matched on the raw text (tok_gen.c)
 *        -> normalizers, in order, on each piece between them (tok_norm.c)
 *        -> added tokens whose "normalized" flag is set, on the normalized text
 *        -> pre-tokenizers: ByteLevel, Split with a known pattern (tok_pretok.c)
 *        -> the model on each pre-token (struct tok_model_ops; BPE: tok_bpe.c)
 *        -> ids, then the post-processor template and truncation (tokenizer.c).
 *
 * Every stage streams: the text may arrive in pieces of any size, and each stage
 * holds back only what its next decision needs (a possible added token, a character
 * that might still combine, the pre-token being read).  A pre-token -- one match of
 * the pre-tokenizer's pattern: a run of letters, of digits, of punctuation or of
 * white space -- is held whole, up to TOK_MAX_PIECE bytes; a longer one is refused
 * (SB_ELIMIT), since the model needs all of it.
 *
 * The configuration (struct tok_gen) is read once (tok_json.c) and immutable; the
 * run-time state (struct tok_gen_state) belongs to one encoder.
 */
#ifndef SB_TOK_GEN_H
#define SB_TOK_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errors.h"
#include "tokenizer_impl.h"

#define TOK_MAX_NORM 8                  /* normalizers in a chain */
#define TOK_MAX_PRE 4                   /* pre-tokenizers in a chain */
#define TOK_MAX_PIECE ((size_t)1 << 20) /* longest pre-token held whole, bytes */
#define TOK_MAX_ADDED_BYTES 256         /* longest added token */
#define MAX_MERGES ((size_t)1 << 24)    /* BPE merges */

/* ---- normalizers ---- */

enum tok_norm_kind {
	TOK_NORM_NFC, TOK_NORM_NFD, TOK_NORM_NFKC, TOK_NORM_NFKD,
	TOK_NORM_LOWERCASE,             /* Rust's char::to_lowercase, character by character */
	TOK_NORM_STRIP,                 /* white space off the left and/or right end */
	TOK_NORM_REPLACE,               /* every occurrence of a literal string */
	TOK_NORM_PREPEND,               /* a string before any non-empty text */
	TOK_NORM_PRECOMPILED,           /* SentencePiece's charsmap (tok_charsmap.c) */
	TOK_NORM_REPLACE_SPACES         /* Replace with the regex " {2,}": runs of spaces */
};

struct tok_charsmap;

struct tok_norm {
	enum tok_norm_kind kind;
	int left, right;                /* STRIP */
	char *pat;                      /* REPLACE: the literal (npat > 0) */
	size_t npat;
	char *rep;                      /* REPLACE(_SPACES): the replacement; PREPEND: the
					 * prefix */
	size_t nrep;
	struct tok_charsmap *map;       /* PRECOMPILED */
};

/* ---- pre-tokenizers ---- */

enum tok_pattern {
	TOK_PAT_NONE,
	TOK_PAT_GPT2,                   /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|... */
	TOK_PAT_QWEN2,                  /* (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|... */
	TOK_PAT_CL100K                  /* the same with \p{N}{1,3} (cl100k, Llama 3) */
};

enum tok_pre_kind { TOK_PRE_SPLIT, TOK_PRE_BYTELEVEL, TOK_PRE_METASPACE };

/* Metaspace's prepend_scheme: where the replacement goes before a text. */
enum tok_prepend { TOK_PREPEND_ALWAYS, TOK_PREPEND_FIRST, TOK_PREPEND_NEVER };

struct tok_pre {
	enum tok_pre_kind kind;
	enum tok_pattern pattern;       /* SPLIT; BYTELEVEL with use_regex: GPT2 */
	int prefix_space;               /* BYTELEVEL add_prefix_space */
	char rep[5];                    /* METASPACE: the replacement character (UTF-8) */
	unsigned char nrep;
	unsigned char prepend;          /* METASPACE: enum tok_prepend */
	unsigned char split;            /* METASPACE: cut before each replacement */
};

/* ---- added tokens ---- */

struct tok_added {
	char *s;                        /* content (normalized for the normalized set) */
	size_t n;
	int32_t id;
	unsigned char single_word, lstrip, rstrip;
};

/* One matching set: Aho-Corasick leftmost-longest over the contents, as Hugging Face. */
struct tok_added_set {
	struct tok_added *tok;          /* [n] by first byte, then longest first */
	size_t n;
	uint16_t first[257];            /* tok[first[b] .. first[b + 1]) start with byte b */
	size_t max_len;
	int any_lstrip, any_single_word;
	int one_first;                  /* the first byte of every token, when they share
					 * one (-1 when not, or no token) */
};

/* ---- the model ---- */

struct tok_model_ops {
	const char *name;
	/* Scratch of one encoder (a word cache...); NULL on allocation failure. */
	void *(*scratch_new)(const void *model);
	void (*scratch_free)(void *scratch);
	/* Appends the ids of the pre-token p[0..n) (n > 0) to out; SB_OK or SB_ENOMEM. */
	int (*encode)(const void *model, void *scratch, const unsigned char *p, size_t n,
		      struct tok_seq *out);
	/* Folds what decides the model's output (merges...) into the FNV-1a hash h. */
	uint64_t (*fingerprint)(const void *model, uint64_t h);
	void (*free)(void *model);
};

struct tok_model {
	const struct tok_model_ops *ops;
	void *impl;
};

/* ---- the pipeline ---- */

struct tok_gen {
	struct tok_norm norm[TOK_MAX_NORM];
	size_t n_norm;
	struct tok_pre pre[TOK_MAX_PRE];
	size_t n_pre;
	int byte_level;                 /* a ByteLevel pre-tokenizer: the model sees bytes */
	struct tok_added_set raw;       /* added tokens matched on the raw text */
	struct tok_added_set normd;     /* ... on the normalized text */
	struct tok_model model;
	uint8_t *uni;                   /* BMP code points' normalization flags (tok_norm.c) */
	uint32_t supp2[64];             /* supplementary characters that may compose */
	size_t n_supp2;
	char desc[160];                 /* "NFC | Split(qwen2) ByteLevel | BPE", for -v */
};

/* Frees what g owns (not g). */
void sb_tok_gen_free(struct tok_gen *g);

/* Folds the pipeline (normalizers, pre-tokenizers, model) into the FNV-1a hash h. */
uint64_t sb_tok_gen_fingerprint(const struct tok_gen *g, uint64_t h);

/* Run-time state of one encoder. */
struct tok_gen_state;

int sb_tok_gen_state_new(struct tok_gen_state **out, const struct sb_tokenizer *t,
			 struct sb_error *err);
void sb_tok_gen_state_free(struct tok_gen_state *g);

/* Whether g takes the one-pass path of tok_fused.c where it can (on by default; the
 * tests turn it off to compare it with the stages). */
void sb_tok_gen_set_fused(struct tok_gen_state *g, int on);

/* Starts a text (a or b) whose ids go to out; flags: SB_TOKENIZER_*. */
void sb_tok_gen_begin(struct tok_gen_state *g, struct tok_seq *out, unsigned flags);

/*
 * Feeds n bytes of the text.  SB_EFORMAT on invalid UTF-8 without
 * SB_TOKENIZER_REPLACE_INVALID (*bad_offset: its offset in the text), SB_ELIMIT for a
 * pre-token longer than TOK_MAX_PIECE, SB_ENOMEM.  *n_replaced counts replacements.
 */
int sb_tok_gen_feed(struct tok_gen_state *g, const unsigned char *p, size_t n,
		    uint64_t *bad_offset, uint64_t *n_replaced, struct sb_error *err);

/* Ends the text: what was held back is tokenized.  Errors as sb_tok_gen_feed(). */
int sb_tok_gen_end(struct tok_gen_state *g, uint64_t *bad_offset, uint64_t *n_replaced,
		   struct sb_error *err);

/* ---- SentencePiece's chains in one pass (tok_fused.c) ---- */

enum tok_fused {
	TOK_FUSED_NONE,
	TOK_FUSED_META,                 /* Precompiled [Strip] [Replace " {2,}"] | Metaspace */
	TOK_FUSED_PREPEND               /* Prepend, Replace of a literal | no pre-tokenizer */
};

/* The fused form of g's normalizers and pre-tokenizers, or TOK_FUSED_NONE. */
enum tok_fused sb_tok_fused_kind(const struct tok_gen *g);

/* Whether a text of n bytes is taken by sb_tok_fused_text(). */
int sb_tok_fused_fits(size_t n);

/*
 * The whole text p[0..n) (valid UTF-8, between added tokens; sb_tok_fused_fits(n))
 * through g's normalizers, pre-tokenizer and model, whose ids go to out; at_start: no
 * added token came before it in the input.  a and b are scratch.  SB_ENOMEM.
 */
int sb_tok_fused_text(const struct tok_gen *g, enum tok_fused kind, void *scratch,
		      struct tok_seq *out, int at_start, const unsigned char *p, size_t n,
		      struct sb_buf *a, struct sb_buf *b, struct sb_error *err);

/* ---- the models' cache of pre-tokens (tok_cache.c) ---- */

struct tok_cache;

/* A new, empty cache; NULL when out of memory. */
struct tok_cache *sb_tok_cache_new(void);
void sb_tok_cache_free(struct tok_cache *c);

/* When the pre-token p[0..n) is in c, pushes its ids to out and returns 1; else 0.
 * *h is set to its hash for sb_tok_cache_put() (when n is one the cache holds). */
int sb_tok_cache_get(const struct tok_cache *c, const unsigned char *p, size_t n, uint32_t *h,
		     struct tok_seq *out);

/* Keeps the k ids of p[0..n) (hash h) when they fit; out of memory, nothing is kept. */
void sb_tok_cache_put(struct tok_cache *c, uint32_t h, const unsigned char *p, size_t n,
		      const int32_t *ids, size_t k);

/* ---- stage helpers shared by the tok_*.c files ---- */

/* A hash of the pre-token p[0..n) for the models' word caches. */
static inline uint32_t sb_tok_word_hash(const unsigned char *p, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ n;

	while (n >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		v ^= h;
		v = (v ^ (v >> 33)) * 0xff51afd7ed558ccdull;
		h = (v ^ (v >> 33)) * 0x9E3779B97F4A7C15ull;
		p += 8;
		n -= 8;
	}
	if (n) {
		uint64_t v = 0;

		memcpy(&v, p, n);
		v ^= h ^ 0xA5;
		v = (v ^ (v >> 33)) * 0xff51afd7ed558ccdull;
		h = v ^ (v >> 33);
	}
	return (uint32_t)(h >> 32);
}

/* Character classes of the pre-tokenizer patterns (Oniguruma's, as Hugging Face). */
enum { TOK_CL_L = 1, TOK_CL_N = 2, TOK_CL_S = 4, TOK_CL_CRLF = 8 };
unsigned sb_tok_class(uint32_t c);

/* White_Space, and the \w of Rust's regex crate (added tokens' single_word). */
int sb_tok_is_space(uint32_t c);
int sb_tok_is_word(uint32_t c);

/*
 * Length of the pre-token that starts at p[0] (n > 0, valid UTF-8) under pattern;
 * 0 when it cannot be told without more text (only when !final).
 */
size_t sb_tok_pattern_match(enum tok_pattern pattern, const unsigned char *p, size_t n,
			    int final);
const char *sb_tok_pattern_name(enum tok_pattern pattern);
/* The pattern whose regex source is s (as written in tokenizer.json), or NONE. */
enum tok_pattern sb_tok_pattern_find(const char *s, size_t n);

/*
 * Normalizer k of g on in[0..n): appends the output to out and returns how many input
 * bytes it consumed; the rest must be given again with what follows (final: all is
 * consumed).  *state is the normalizer's per-text state, 0 at the start of a text.
 */
int sb_tok_norm_run(const struct tok_gen *g, const struct tok_norm *nm, unsigned *state,
		    const unsigned char *in, size_t n, int final, size_t *consumed,
		    struct sb_buf *out, struct sb_error *err);

/* Prepares g->uni for the Unicode normalizers of g; SB_ENOMEM. */
int sb_tok_norm_prepare(struct tok_gen *g, struct sb_error *err);

/* Normalizes a whole string with g's chain (added tokens' contents) into out. */
int sb_tok_norm_string(const struct tok_gen *g, const char *s, size_t n, struct sb_buf *out,
		       struct sb_error *err);

/* Builds the matching index of set (sorts tok); SB_OK. */
void sb_tok_added_index(struct tok_added_set *set);

/* Longest token of set that matches at p[i] (p[0..n)); its index, or -1. */
long sb_tok_added_longest(const struct tok_added_set *set, const unsigned char *p, size_t n,
			  size_t i);

/* ---- SentencePiece's precompiled charsmap (tok_charsmap.c) ---- */

/*
 * Reads the charsmap of a Precompiled normalizer from its base64 text b64[0..n) into
 * *out; messages name path.  SB_EFORMAT for a blob that is not one (bad base64, a trie
 * longer than the blob, replacements that are not UTF-8).
 */
int sb_tok_charsmap_new(struct tok_charsmap **out, const char *b64, size_t n,
			const char *path, struct sb_error *err);
void sb_tok_charsmap_free(struct tok_charsmap *m);
uint64_t sb_tok_charsmap_fingerprint(const struct tok_charsmap *m, uint64_t h);

/* The Precompiled normalizer on in[0..n), as sb_tok_norm_run(). */
int sb_tok_charsmap_run(const struct tok_charsmap *m, const unsigned char *in, size_t n,
			int final, size_t *consumed, struct sb_buf *out, struct sb_error *err);

/* ---- the Unigram model (tok_unigram.c) ---- */

extern const struct tok_model_ops sb_tok_unigram_ops;

/*
 * Makes the Unigram model of t's vocabulary (built already; ids 0..n_ids-1, each with
 * its score in scores[id]) into *out.  unk_id is the id of unknown pieces; with
 * byte_fallback, a run of unknown characters becomes the <0xNN> tokens of its bytes
 * when all of them are in the vocabulary.  On failure *out may hold a partial model:
 * free it with out->ops->free(out->impl).  Messages start with file.
 */
int sb_tok_unigram_new(struct tok_model *out, const struct sb_tokenizer *t,
		       const double *scores, int32_t unk_id, int byte_fallback,
		       const char *file, struct sb_error *err);

/* ---- the BPE model (tok_bpe.c) ---- */

extern const struct tok_model_ops sb_tok_bpe_ops;

struct tok_bpe_config {
	int byte_level;                 /* units are bytes (a ByteLevel pre-tokenizer) */
	const char *unk;                /* unk_token, NULL: none */
	const char *prefix, *suffix;    /* continuing_subword_prefix, end_of_word_suffix */
	int fuse_unk, ignore_merges;
	int byte_fallback;              /* unknown units as their <0xNN> tokens */
};

/*
 * Makes the BPE model of t's vocabulary (built already) into *out, its merge table
 * sized for n_merges merges (it grows past them).  On failure *out may hold a partial model: free it with
 * out->ops->free(out->impl).  Messages start with file.
 */
int sb_tok_bpe_new(struct tok_model *out, const struct sb_tokenizer *t,
		   const struct tok_bpe_config *cfg, size_t n_merges, const char *file,
		   struct sb_error *err);

/* Adds merge number rank (a, b).  SB_EFORMAT when a token is not in the vocabulary
 * (named vocab in the message); callers prefix the merge's place.  The last few merges
 * wait to enter the table until sb_tok_bpe_end_merges(). */
int sb_tok_bpe_add_merge(struct tok_model *model, const char *a, size_t na, const char *b,
			 size_t nb, size_t rank, const char *vocab, struct sb_error *err);

/* The same with the vocabulary hashes of a and b (text_hash()) computed already: a
 * loader that reads many merges hashes them ahead to fetch their slots early. */
int sb_tok_bpe_add_merge_hashed(struct tok_model *model, const char *a, size_t na, uint32_t ha,
				const char *b, size_t nb, uint32_t hb, size_t rank,
				const char *vocab, struct sb_error *err);

/* Puts the merges still waiting into the table: after the last sb_tok_bpe_add_merge(),
 * before the model is used. */
void sb_tok_bpe_end_merges(struct tok_model *model);

/* Distinct merges of the model. */
size_t sb_tok_bpe_merges(const struct tok_model *model);

/* A BPE model's merge table as the tokenizer cache (tok_store.c) keeps it: cap slots
 * of TOK_BPE_SLOT_BYTES bytes (a hash table keyed by the pair of ids). */
#define TOK_BPE_SLOT_BYTES 16

struct tok_bpe_table {
	void *slots;
	size_t cap, n_merges;
	uint64_t merge_hash;            /* the merges in rank order, for the fingerprint */
	int meta_cross;
};

/* The table of model (borrowed: valid while the model is). */
void sb_tok_bpe_table(const struct tok_model *model, struct tok_bpe_table *out);

/* 0 when tb is a merge table of a vocabulary of n_ids ids, else -1: a size that is not
 * a power of two, an id or rank out of range, a merged token without text
 * (text_of[id] is UINT32_MAX), a count that differs, no empty slot, or a slot (of a
 * sample) where lookups would not find it. */
int sb_tok_bpe_table_check(const struct tok_bpe_table *tb, size_t n_ids,
			   const uint32_t *text_of);

/* Replaces model's merges (none added yet) with tb's table (checked), which it
 * borrows: the table must outlive the model, and is never written. */
void sb_tok_bpe_adopt(struct tok_model *model, const struct tok_bpe_table *tb);

/* The byte of GPT-2's byte-level alphabet that character c stands for, or -1. */
int sb_tok_byte_of_char(uint32_t c);

#endif
