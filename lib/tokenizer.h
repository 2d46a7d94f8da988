/*
 * tokenizer.h - BERT WordPiece tokenization, identical to Hugging Face tokenizers.
 *
 * A struct sb_tokenizer is read once from a model folder (tokenizer.json when
 * present, else vocab.txt + tokenizer_config.json + special_tokens_map.json; the
 * maximum length from sentence_bert_config.json, else tokenizer_config.json's
 * model_max_length capped by config.json's max_position_embeddings) and is
 * immutable afterwards: any number of threads may encode with it at once, each
 * with its own struct sb_tokenizer_enc.
 *
 * The pipeline is the one of Hugging Face tokenizers 0.22 for BERT models:
 *   1. added (special) tokens such as "[CLS]" are matched in the raw text first,
 *      leftmost-longest, and become their ids whatever surrounds them;
 *   2. BertNormalizer on the rest: clean_text (drop NUL, U+FFFD, Cc/Cf/Co except
 *      tab, LF, CR; every White_Space char becomes ' '), CJK ideographs isolated,
 *      lowercase (full mapping: U+0130 gives "i" U+0307), strip_accents (NFD, then
 *      drop Mn; unset means "follow lowercase");
 *   3. BertPreTokenizer: split on whitespace (dropped) and isolate every ASCII
 *      punctuation char and every Unicode P* char;
 *   4. WordPiece: greedy longest-match-first with the "##" continuation prefix; a
 *      word over max_input_chars_per_word (100) code points or with an unmatched
 *      piece is one [UNK];
 *   5. post-processing "[CLS] A [SEP]" / "[CLS] A [SEP] B [SEP]" (TemplateProcessing
 *      or BertProcessing) and truncation (longest_first, only_first, only_second).
 *
 * Memory is bounded whatever the text length: an encoder stores at most the ids it
 * can keep after truncation (max_length per sequence) and only counts the others,
 * and a word is stored up to max_input_chars_per_word code points (a longer word is
 * [UNK] anyway).
 */
#ifndef SB_TOKENIZER_H
#define SB_TOKENIZER_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

struct sb_tokenizer;

enum sb_trunc {
	SB_TRUNC_LONGEST_FIRST,         /* Hugging Face's default */
	SB_TRUNC_ONLY_FIRST,
	SB_TRUNC_ONLY_SECOND,
	SB_TRUNC_NONE                   /* keep every token (memory grows with the text) */
};

/* Options of sb_tokenizer_open(); zeroed means "as the model folder says". */
struct sb_tokenizer_opts {
	size_t max_length;              /* 0: from the model folder (see above) */
	/* The tokenizer cache: a folder (created when missing) where the tables a BPE
	 * tokenizer.json builds are kept, keyed by the file's size, mtime, inode and
	 * device, and read back by later opens of the same file instead of parsing its
	 * vocabulary and merges.  NULL: no cache.  A folder that cannot be written is
	 * not an error; the "cache" setting says what happened. */
	const char *cache_dir;
};

/* Sets the defaults (everything from the model folder, no cache). */
SB_API void sb_tokenizer_opts_init(struct sb_tokenizer_opts *o);

struct sb_hub_env;

/*
 * The tokenizer cache folder (see cache_dir above) that setting -- the value of
 * SB_TOKENIZER_CACHE, NULL or "" when unset -- and env (its xdg_cache_home and home,
 * see sb_hub_env_from()) select, as a malloc'd string in *out: setting itself when it
 * names a folder, else $XDG_CACHE_HOME/sb/tokenizers, else $HOME/.cache/sb/tokenizers.
 * *out is NULL (no cache) for setting "0" or "off", or when neither variable is set.
 * SB_ENOMEM.
 */
SB_API int sb_tokenizer_cache_dir(const char *setting, const struct sb_hub_env *env,
				  char **out, struct sb_error *err);

/*
 * One setting of the tokenizer and the file it came from, for `-v` output:
 * e.g. {"max_length", "128", "sentence_bert_config.json (max_seq_length)"}.
 */
struct sb_tokenizer_setting {
	const char *name;
	const char *value;
	const char *source;
};

/* What sb_tokenizer_open() found; valid until sb_tokenizer_close(). */
struct sb_tokenizer_info {
	const char *dir;                /* the model folder as given */
	const char *source;             /* "tokenizer.json" or "vocab.txt" */
	size_t vocab_size;              /* distinct tokens of the model's vocabulary */
	size_t max_length;              /* tokens per row including [CLS]/[SEP] */
	int has_token_types;            /* the model has segment embeddings (BERT) */
	int lowercase, strip_accents, clean_text, handle_chinese_chars;
	int st_lowercase;               /* sentence-transformers do_lower_case */
	int32_t unk_id, pad_id;
	size_t n_special_single;        /* tokens the template adds: 2 for [CLS] A [SEP] */
	size_t n_special_pair;          /* 3 for [CLS] A [SEP] B [SEP] */
	size_t max_input_chars_per_word;
	uint64_t fingerprint;           /* hash of vocabulary, specials and normalizer */
	size_t n_settings;
	const struct sb_tokenizer_setting *settings;
};

/*
 * Reads the tokenizer of the model folder dir.  On success *out is the new
 * tokenizer (free with sb_tokenizer_close).  On failure *out is NULL and err names
 * the file and the problem ("tokenizer.json: model.type 'WordLevel': only WordPiece, BPE
 * and Unigram are supported"); SB_ENOTFOUND when the folder has neither tokenizer.json nor vocab.txt.
 */
SB_API int sb_tokenizer_open(struct sb_tokenizer **out, const char *dir,
			     const struct sb_tokenizer_opts *opts, struct sb_error *err);

/* Frees the tokenizer and sets *t to NULL.  No operation if *t is NULL. */
SB_API void sb_tokenizer_close(struct sb_tokenizer **t);

/* The settings in use and where each came from; valid until sb_tokenizer_close(). */
SB_API const struct sb_tokenizer_info *sb_tokenizer_info(const struct sb_tokenizer *t);

/* The id of token s (n bytes) in the vocabulary or added tokens, or -1. */
SB_API int32_t sb_tokenizer_token_id(const struct sb_tokenizer *t, const char *s, size_t n);

/* The text of token id, or NULL when id is not in the vocabulary. */
SB_API const char *sb_tokenizer_id_token(const struct sb_tokenizer *t, int32_t id);

/* The version of the utf8proc library linked in ("2.8.0"), for --version. */
SB_API const char *sb_tokenizer_utf8proc_version(void);

enum {
	/* Replace invalid UTF-8 with U+FFFD (which clean_text then drops, as Hugging
	 * Face does with text decoded by errors="replace") instead of failing. */
	SB_TOKENIZER_REPLACE_INVALID = 1,
	/* Do not add [CLS]/[SEP] (the template): the bare word pieces. */
	SB_TOKENIZER_NO_SPECIAL = 2
};

/*
 * An encoder: the output of one encode call plus the scratch it needs.  Caller
 * storage; init before use, destroy after.  The arrays are owned by the encoder and
 * valid until the next encode or destroy.
 */
struct sb_tokenizer_enc {
	int32_t *ids;                   /* [n] token ids with the specials */
	uint8_t *type_ids;              /* [n] 0 for [CLS] A [SEP], 1 for B [SEP] */
	size_t n;                       /* tokens after truncation */
	uint64_t n_full;                /* tokens the row would have without truncation */
	int truncated;                  /* n < n_full */
	uint64_t n_replaced;            /* invalid sequences replaced (REPLACE_INVALID) */
	size_t bad_offset;              /* on SB_EFORMAT: byte offset of the invalid UTF-8 */
	int bad_in_b;                   /* ... in text b (pairs) */
	void *priv;                     /* scratch */
};

/* Prepares an encoder for t (which must outlive it).  SB_ENOMEM on failure. */
SB_API int sb_tokenizer_enc_init(struct sb_tokenizer_enc *e, const struct sb_tokenizer *t,
				 struct sb_error *err);

/* Frees what the encoder owns; safe on a zeroed or already destroyed encoder. */
SB_API void sb_tokenizer_enc_destroy(struct sb_tokenizer_enc *e);

/*
 * Encodes text a (na bytes; may contain NUL bytes) or the pair (a, b) when b is not
 * NULL, with the tokenizer's max_length and the truncation strategy trunc, into e.
 * prefix (np bytes, may be NULL) is prepended to a as sentence-transformers prompts
 * are; offsets in errors count in a (or b) alone.  flags: SB_TOKENIZER_*.
 * Returns SB_OK; SB_EFORMAT for invalid UTF-8 (e->bad_offset says where; the
 * message reads "byte 12: invalid UTF-8 (0xff)"); SB_EINVAL when only_first /
 * only_second cannot reach max_length (as Hugging Face) or max_length is smaller
 * than the special tokens.
 */
SB_API int sb_tokenizer_encode(struct sb_tokenizer_enc *e, const char *prefix, size_t np,
			       const char *a, size_t na, const char *b, size_t nb,
			       enum sb_trunc trunc, unsigned flags, struct sb_error *err);

/*
 * Streaming: the same encoding with the texts given in pieces of any size (split
 * anywhere, even inside a UTF-8 sequence or a special token), so a caller can
 * tokenize a line of any length in bounded memory:
 *
 *     sb_tokenizer_begin(e, trunc, flags);
 *     sb_tokenizer_feed(e, piece, n, err);     (any number of times: text a)
 *     sb_tokenizer_next(e, err);               (pairs only: what follows is text b)
 *     sb_tokenizer_feed(e, piece, n, err);     (text b)
 *     sb_tokenizer_end(e, err);                (e->ids, e->n, ... as after encode)
 *
 * The encoder keeps at most max_length ids per text (all with SB_TRUNC_NONE), a
 * word of up to max_input_chars_per_word code points and a few bytes of lookahead.
 * Errors as sb_tokenizer_encode(), with e->bad_offset counted from the start of the
 * text fed (a or b).  After an error, begin again.  begin returns SB_OK.
 */
SB_API int sb_tokenizer_begin(struct sb_tokenizer_enc *e, enum sb_trunc trunc, unsigned flags);
SB_API int sb_tokenizer_feed(struct sb_tokenizer_enc *e, const char *p, size_t n,
			     struct sb_error *err);
SB_API int sb_tokenizer_next(struct sb_tokenizer_enc *e, struct sb_error *err);
SB_API int sb_tokenizer_end(struct sb_tokenizer_enc *e, struct sb_error *err);

/*
 * Counts the tokens (without specials) of text p: what the prompt of a pooling with
 * include_prompt=false must skip.  SB_EFORMAT for invalid UTF-8.  Uses e as scratch
 * (its ids are those of p afterwards).
 */
SB_API int sb_tokenizer_count(struct sb_tokenizer_enc *e, const char *p, size_t n, uint64_t *count,
			      struct sb_error *err);

/* Parses "longest_first" / "only_first" / "only_second" / "none".  SB_EINVAL else. */
SB_API int sb_trunc_parse(const char *s, enum sb_trunc *out);
SB_API const char *sb_trunc_name(enum sb_trunc t);

#endif
