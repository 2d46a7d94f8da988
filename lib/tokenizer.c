/*
 * tokenizer.c - BERT WordPiece tokenization, identical to Hugging Face tokenizers
 * (tokenizers 0.22: normalizers/bert.rs, pre_tokenizers/bert.rs,
 * models/wordpiece/mod.rs, tokenizer/added_vocabulary.rs, utils/truncation.rs).
 *
 * The text is processed in one pass, code point by code point: added tokens are
 * matched on the raw bytes, every other code point goes through the normalizer and
 * the pre-tokenizer rules at once and lands in a bounded word buffer; at each word
 * boundary WordPiece turns the word into ids.  ASCII takes a table-driven fast
 * path; other code points use utf8proc (the only file of sb that includes it).
 *
 * Where Hugging Face's Unicode tables differ from utf8proc's (its category tables
 * come from the unicode_categories crate, an older Unicode version than utf8proc's;
 * lowercase comes from Rust's std), the exceptions are listed below.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

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

static int32_t lookup(const struct sb_tokenizer *t, uint32_t h0, const char *pre, size_t npre,
		      const char *p, size_t n)
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

/* ---- character classes ---- */

enum {
	AC_WORD,        /* letters, digits: part of a word */
	AC_SPACE,       /* tab, LF, CR, space: word boundary */
	AC_PUNCT,       /* ASCII punctuation: a word of its own */
	AC_DROP         /* NUL and other controls: removed by clean_text */
};

static int is_cjk(uint32_t c)
{
	return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
	       (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
	       (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
	       (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Rust's char::is_whitespace: the White_Space property. */
static int is_white(uint32_t c)
{
	if (c < 0x80)
		return c == ' ' || (c >= 0x09 && c <= 0x0D);
	return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
	       c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int category(uint32_t c)
{
	return utf8proc_get_property((utf8proc_int32_t)c)->category;
}

/*
 * Hugging Face takes Mn, P* and Cc/Cf/Co from the unicode_categories crate, whose
 * tables predate the Unicode 15.0 of utf8proc 2.8.  These are the code points where
 * the two disagree, found by tokenizing every code point with both (see
 * tests/tools/tokenize-unicode-probe.sh): most are marks and punctuation added to
 * Unicode later, which Hugging Face treats as ordinary letters.
 */
enum { X_NONE, X_PLAIN, X_PUNCT, X_MN };

struct xrange {
	uint32_t lo, hi;
	unsigned char cls;
};

static const struct xrange xtab[] = {
#define P X_PLAIN
	{0x61D, 0x61D, P}, {0x7FD, 0x7FD, P}, {0x890, 0x891, P}, {0x898, 0x89F, P},
	{0x8CA, 0x8E2, P}, {0x9FD, 0x9FE, P}, {0xA76, 0xA76, P}, {0xAFA, 0xAFF, P},
	{0xB55, 0xB55, P}, {0xC04, 0xC04, P}, {0xC3C, 0xC3C, P}, {0xC77, 0xC77, P},
	{0xC84, 0xC84, P}, {0xD00, 0xD00, P}, {0xD3B, 0xD3C, P}, {0xD81, 0xD81, P},
	{0xEBA, 0xEBA, P}, {0xECE, 0xECE, P}, {0x166D, 0x166D, X_PUNCT},
	{0x1734, 0x1734, X_MN}, {0x180F, 0x180F, P}, {0x1885, 0x1886, P},
	{0x1ABF, 0x1ACE, P}, {0x1B7D, 0x1B7E, P}, {0x1DF6, 0x1DFB, P}, {0x2E43, 0x2E4F, P},
	{0x2E52, 0x2E5D, P}, {0xA82C, 0xA82C, P}, {0xA8C5, 0xA8C5, P}, {0xA8FF, 0xA8FF, P},
	{0xA9BD, 0xA9BD, P}, {0x10D24, 0x10D27, P}, {0x10EAB, 0x10EAD, P},
	{0x10EFD, 0x10EFF, P}, {0x10F46, 0x10F50, P}, {0x10F55, 0x10F59, P},
	{0x10F82, 0x10F89, P}, {0x11070, 0x11070, P}, {0x11073, 0x11074, P},
	{0x110C2, 0x110C2, P}, {0x110CD, 0x110CD, P}, {0x111C9, 0x111C9, X_PUNCT},
	{0x111CF, 0x111CF, P}, {0x1123E, 0x1123E, P}, {0x11241, 0x11241, P},
	{0x1133B, 0x1133B, P}, {0x11438, 0x1143F, P}, {0x11442, 0x11444, P},
	{0x11446, 0x11446, P}, {0x1144B, 0x1144F, P}, {0x1145A, 0x1145B, P},
	{0x1145D, 0x1145E, P}, {0x11660, 0x1166C, P}, {0x116B9, 0x116B9, P},
	{0x1182F, 0x11837, P}, {0x11839, 0x1183B, P}, {0x1193B, 0x1193C, P},
	{0x1193E, 0x1193E, P}, {0x11943, 0x11946, P}, {0x119D4, 0x119D7, P},
	{0x119DA, 0x119DB, P}, {0x119E0, 0x119E0, P}, {0x119E2, 0x119E2, P},
	{0x11A01, 0x11A0A, P}, {0x11A33, 0x11A38, P}, {0x11A3B, 0x11A47, P},
	{0x11A51, 0x11A56, P}, {0x11A59, 0x11A5B, P}, {0x11A8A, 0x11A96, P},
	{0x11A98, 0x11A9C, P}, {0x11A9E, 0x11AA2, P}, {0x11B00, 0x11B09, P},
	{0x11C30, 0x11C36, P}, {0x11C38, 0x11C3D, P}, {0x11C3F, 0x11C3F, P},
	{0x11C41, 0x11C45, P}, {0x11C70, 0x11C71, P}, {0x11C92, 0x11CA7, P},
	{0x11CAA, 0x11CB0, P}, {0x11CB2, 0x11CB3, P}, {0x11CB5, 0x11CB6, P},
	{0x11D31, 0x11D36, P}, {0x11D3A, 0x11D3A, P}, {0x11D3C, 0x11D3D, P},
	{0x11D3F, 0x11D45, P}, {0x11D47, 0x11D47, P}, {0x11D90, 0x11D91, P},
	{0x11D95, 0x11D95, P}, {0x11D97, 0x11D97, P}, {0x11EF3, 0x11EF4, P},
	{0x11EF7, 0x11EF8, P}, {0x11F00, 0x11F01, P}, {0x11F36, 0x11F3A, P},
	{0x11F40, 0x11F40, P}, {0x11F42, 0x11F4F, P}, {0x11FFF, 0x11FFF, P},
	{0x12FF1, 0x12FF2, P}, {0x13430, 0x13440, P}, {0x13447, 0x13455, P},
	{0x16E97, 0x16E9A, P}, {0x16F4F, 0x16F4F, P}, {0x16FE2, 0x16FE2, P},
	{0x16FE4, 0x16FE4, P}, {0x1CF00, 0x1CF2D, P}, {0x1CF30, 0x1CF46, P},
	{0x1E000, 0x1E006, P}, {0x1E008, 0x1E018, P}, {0x1E01B, 0x1E021, P},
	{0x1E023, 0x1E024, P}, {0x1E026, 0x1E02A, P}, {0x1E08F, 0x1E08F, P},
	{0x1E130, 0x1E136, P}, {0x1E2AE, 0x1E2AE, P}, {0x1E2EC, 0x1E2EF, P},
	{0x1E4EC, 0x1E4EF, P}, {0x1E944, 0x1E94A, P}, {0x1E95E, 0x1E95F, P},
#undef P
};

static int xclass(uint32_t c)
{
	size_t lo = 0, hi = sizeof(xtab) / sizeof(xtab[0]);

	if (c < 0x61D)
		return X_NONE;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (c < xtab[mid].lo)
			hi = mid;
		else if (c > xtab[mid].hi)
			lo = mid + 1;
		else
			return xtab[mid].cls;
	}
	return X_NONE;
}

/* Classes of a code point as Hugging Face sees them. */
enum { CF_CTRL = 1, CF_PUNCT = 2, CF_MN = 4 };

static unsigned cp_flags(uint32_t c)
{
	int k;

	if (c < 0x80) {
		if (c == '\t' || c == '\n' || c == '\r')
			return 0;
		if (c < 0x20 || c == 0x7F)
			return CF_CTRL;
		return ((c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
			(c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E)) ? CF_PUNCT : 0;
	}
	switch (xclass(c)) {
	case X_PLAIN: return 0;
	case X_PUNCT: return CF_PUNCT;
	case X_MN: return CF_MN;
	default: break;
	}
	k = category(c);
	if (k == UTF8PROC_CATEGORY_MN)
		return CF_MN;
	if (k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO)
		return CF_PUNCT;
	/* unicode_categories' is_other(): Cc, Cf, Co, but not Cn. */
	if (k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CO)
		return CF_CTRL;
	return 0;
}

/* Regex \w as Rust's regex crate has it (letters, marks, digits, connectors). */
static int is_wordish(uint32_t c)
{
	int k = category(c);

	if (c == 0x200C || c == 0x200D)
		return 1;
	return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_ME) ||
	       k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL ||
	       k == UTF8PROC_CATEGORY_PC;
}

/*
 * Rust's char::to_lowercase: the simple mapping, except U+0130 which lowercases to
 * two code points.  Writes 1 or 2 code points to out.
 */
static int to_lower(uint32_t c, uint32_t out[2])
{
	if (c == 0x130) {
		out[0] = 'i';
		out[1] = 0x307;
		return 2;
	}
	out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
	return 1;
}

/* ---- UTF-8 ---- */

static size_t put_utf8(char *p, uint32_t c)
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
 * subpart" rule, as Python and WHATWG decoders replace).
 */
static int get_utf8(const unsigned char *p, size_t n, uint32_t *c)
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

/* ---- encoding state ---- */

struct seq {
	int32_t *ids;
	size_t n_kept, cap, keep;       /* store at most keep ids */
	uint64_t n_total;               /* ids produced, stored or not */
	int oom;
};

struct priv {
	const struct sb_tokenizer *t;
	char *word;                     /* normalized UTF-8 of the current word */
	size_t wlen, wcap;
	size_t wchars;                  /* code points in the word (also past wcap) */
	uint32_t last_ccc;              /* combining class of the last code point appended */
	struct seq a, b;
	struct seq *cur;
	uint64_t n_replaced;
	size_t cap_out;

	/* Streaming: bytes held back until the next piece says how they end (an
	 * incomplete UTF-8 sequence, a possible added token). */
	unsigned char *pend;
	size_t pend_len;
	size_t look;                    /* bytes of lookahead a decision may need */
	uint64_t off;                   /* offset in the current text of pend[0] / the piece */
	int64_t prev_raw;               /* last raw code point of the text so far, -1: none */
	unsigned flags;
	enum sb_trunc trunc;
	int in_b, started;
};

static void seq_reset(struct seq *s, size_t keep)
{
	s->n_kept = 0;
	s->n_total = 0;
	s->keep = keep;
	s->oom = 0;
}

static inline void push_id(struct priv *st, int32_t id)
{
	struct seq *s = st->cur;

	s->n_total++;
	if (s->n_kept < s->keep) {
		if (s->n_kept == s->cap) {
			size_t nc = s->cap ? s->cap * 2 : 64;
			int32_t *p = realloc(s->ids, nc * sizeof(*p));

			if (!p) {
				s->oom = 1;
				return;
			}
			s->ids = p;
			s->cap = nc;
		}
		s->ids[s->n_kept++] = id;
	}
}

/* WordPiece on the current word, then empties it. */
static void flush_word(struct priv *st)
{
	const struct sb_tokenizer *t = st->t;
	const char *w = st->word;
	size_t n = st->wlen;
	int32_t pieces[256];
	size_t n_pieces = 0, start = 0;
	int32_t id;

	if (!st->wchars)
		return;
	st->wlen = 0;
	st->last_ccc = 0;
	if (st->wchars > t->info.max_input_chars_per_word) {
		st->wchars = 0;
		push_id(st, t->info.unk_id);
		return;
	}
	st->wchars = 0;
	/* Whole words are the common case: one probe. */
	id = lookup(t, HASH_INIT, "", 0, w, n);
	if (id >= 0) {
		push_id(st, id);
		return;
	}
	while (start < n) {
		size_t lim = start ? t->max_cont_bytes : t->max_word_bytes;
		size_t end = n - start > lim ? start + lim : n;

		while (end < n && ((unsigned char)w[end] & 0xC0) == 0x80)
			end--;
		id = -1;
		while (end > start) {
			if (start)
				id = lookup(t, t->cont_hash, t->cont_prefix, t->cont_len, w + start,
					    end - start);
			else
				id = lookup(t, HASH_INIT, "", 0, w, end);
			if (id >= 0)
				break;
			end--;
			while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80)
				end--;
		}
		if (id < 0 || n_pieces == sizeof(pieces) / sizeof(pieces[0])) {
			push_id(st, t->info.unk_id);
			return;
		}
		pieces[n_pieces++] = id;
		start = end;
	}
	for (size_t i = 0; i < n_pieces; i++)
		push_id(st, pieces[i]);
}

/* Appends a normalized code point to the word (bounded: counts past the cap). */
static inline void word_put(struct priv *st, uint32_t c)
{
	st->wchars++;
	if (st->wlen + 4 <= st->wcap)
		st->wlen += put_utf8(st->word + st->wlen, c);
}

/* Decodes the code point that ends at w[end) (end > 0). */
static size_t prev_cp(const char *w, size_t end, uint32_t *c)
{
	size_t s = end - 1;
	uint32_t v;

	while (s > 0 && ((unsigned char)w[s] & 0xC0) == 0x80)
		s--;
	if (get_utf8((const unsigned char *)w + s, end - s, &v) < 0)
		v = (unsigned char)w[s];
	*c = v;
	return s;
}

/*
 * Appends c with NFD's canonical ordering: a non-starter moves before the
 * non-starters of higher combining class that precede it (stable).  Only used
 * after NFD (strip_accents), where most non-starters are Mn and already dropped.
 */
static void word_put_ordered(struct priv *st, uint32_t c)
{
	int ccc = utf8proc_get_property((utf8proc_int32_t)c)->combining_class;
	size_t pos;

	if (ccc == 0 || st->last_ccc <= (uint32_t)ccc || st->wchars >= st->wcap / 4) {
		word_put(st, c);
		st->last_ccc = (uint32_t)ccc;
		return;
	}
	pos = st->wlen;
	while (pos > 0) {
		uint32_t p;
		size_t s = prev_cp(st->word, pos, &p);
		int pc = utf8proc_get_property((utf8proc_int32_t)p)->combining_class;

		if (pc == 0 || pc <= ccc)
			break;
		pos = s;
	}
	{
		char tmp[4];
		size_t k = put_utf8(tmp, c);

		if (st->wlen + k > st->wcap) {
			st->wchars++;
			return;
		}
		memmove(st->word + pos + k, st->word + pos, st->wlen - pos);
		memcpy(st->word + pos, tmp, k);
		st->wlen += k;
		st->wchars++;
	}
	/* last_ccc stays: the largest class of the run is still last. */
}

/* Pre-tokenizer rules on one normalized code point. */
static void put_norm(struct priv *st, uint32_t c, int ordered)
{
	if (is_white(c)) {
		flush_word(st);
		return;
	}
	if (cp_flags(c) & CF_PUNCT) {
		flush_word(st);
		word_put(st, c);
		flush_word(st);
		return;
	}
	if (ordered)
		word_put_ordered(st, c);
	else
		word_put(st, c);
}

/* Normalizer and pre-tokenizer on one raw non-ASCII (or slow-path) code point. */
static void put_raw(struct priv *st, uint32_t c)
{
	const struct sb_tokenizer_info *in = &st->t->info;
	uint32_t lc[2];
	int n_lc, cjk = 0;

	if (in->clean_text) {
		if (c == 0 || c == 0xFFFD || (cp_flags(c) & CF_CTRL))
			return;
		if (is_white(c)) {
			flush_word(st);
			return;
		}
	}
	if (in->handle_chinese_chars && is_cjk(c)) {
		cjk = 1;
		flush_word(st);
	}
	if (in->lowercase) {
		n_lc = to_lower(c, lc);
	} else {
		lc[0] = c;
		n_lc = 1;
	}
	for (int i = 0; i < n_lc; i++) {
		if (in->strip_accents) {
			utf8proc_int32_t d[16];
			int last = 0;
			utf8proc_ssize_t k = utf8proc_decompose_char((utf8proc_int32_t)lc[i], d, 16,
								     UTF8PROC_DECOMPOSE, &last);

			if (k < 1 || k > 16) {
				put_norm(st, lc[i], 0);
				continue;
			}
			for (utf8proc_ssize_t j = 0; j < k; j++)
				if (!(cp_flags((uint32_t)d[j]) & CF_MN))
					put_norm(st, (uint32_t)d[j], 1);
		} else {
			put_norm(st, lc[i], 0);
		}
	}
	if (cjk)
		flush_word(st);
}

/*
 * sentence-transformers' do_lower_case lowercases the raw text (Python's
 * str.lower) before the tokenizer sees it: code points go through to_lower first.
 */
static void put_raw_pre(struct priv *st, uint32_t c)
{
	uint32_t lc[2];
	int n = to_lower(c, lc);

	for (int i = 0; i < n; i++)
		put_raw(st, lc[i]);
}

/* Decodes the code point at p[i] for the single_word test; -1 when none. */
static int64_t cp_at(const unsigned char *p, size_t n, size_t i)
{
	uint32_t c;

	if (i >= n)
		return -1;
	if (p[i] < 0x80)
		return p[i];
	if (get_utf8(p + i, n - i, &c) < 0)
		return -1;
	return c;
}

static int64_t cp_before(const unsigned char *p, size_t i)
{
	uint32_t c;
	size_t s;

	if (i == 0)
		return -1;
	s = prev_cp((const char *)p, i, &c);
	(void)s;
	return c;
}

/* Length of the added token that matches at p[i] (leftmost-longest), or 0. */
static size_t match_added(const struct sb_tokenizer *t, const unsigned char *p, size_t n,
			  size_t i, int lower, int64_t prev, int32_t *id)
{
	size_t best = 0;

	for (size_t k = 0; k < t->n_added; k++) {
		const struct added *a = &t->added[k];
		int lo = lower || (a->normalized && t->info.lowercase);

		if (a->n <= best || a->n > n - i)
			continue;
		if (lo) {
			size_t j;

			for (j = 0; j < a->n; j++) {
				unsigned char ch = p[i + j];

				if (ch >= 'A' && ch <= 'Z')
					ch = (unsigned char)(ch + 32);
				if (ch != (unsigned char)a->s[j])
					break;
			}
			if (j < a->n)
				continue;
		} else if (memcmp(p + i, a->s, a->n) != 0) {
			continue;
		}
		if (a->single_word) {
			int64_t b = i ? cp_before(p, i) : prev, f = cp_at(p, n, i + a->n);

			if ((b >= 0 && is_wordish((uint32_t)b)) || (f >= 0 && is_wordish((uint32_t)f)))
				continue;
		}
		best = a->n;
		*id = a->id;
	}
	return best;
}

/*
 * Tokenizes p[0..n) into st->cur (no specials).  Unless final, it stops before the
 * last st->look bytes (a decision there may need bytes of the next piece) and says
 * in *consumed how far it got; the hot loop over ASCII letters may go further, as
 * it needs no lookahead.  Returns SB_OK or SB_EFORMAT (invalid UTF-8 without
 * REPLACE_INVALID; *consumed is then the offset of the bad byte).
 */
static int run_text(struct priv *st, const unsigned char *p, size_t n, int final,
		    size_t *consumed, struct sb_error *err)
{
	const struct sb_tokenizer *t = st->t;
	const unsigned char *cls = t->ascii_class, *low = t->ascii_lower;
	int pre = t->info.st_lowercase;
	size_t i = 0, limit = final ? n : (n > st->look ? n - st->look : 0);

	while (i < limit) {
		unsigned b = p[i];

		if (b < 0x80) {
			if (t->added_first[b]) {
				int32_t id = -1;
				size_t m = match_added(t, p, n, i, pre, st->prev_raw, &id);

				if (m) {
					flush_word(st);
					push_id(st, id);
					i += m;
					continue;
				}
			}
			switch (cls[b]) {
			case AC_WORD:
				/* The hot loop: a run of letters and digits. */
				do {
					st->wchars++;
					if (st->wlen < st->wcap)
						st->word[st->wlen++] = (char)low[b];
					if (++i == n)
						break;
					b = p[i];
				} while (b < 0x80 && cls[b] == AC_WORD && !t->added_first[b]);
				st->last_ccc = 0;
				break;
			case AC_SPACE:
				flush_word(st);
				i++;
				break;
			case AC_PUNCT:
				flush_word(st);
				st->word[0] = (char)b;
				st->wlen = 1;
				st->wchars = 1;
				flush_word(st);
				i++;
				break;
			default:
				i++;
				break;
			}
			continue;
		}
		{
			uint32_t c;
			int k = get_utf8(p + i, n - i, &c);

			if (k < 0) {
				if (!(st->flags & SB_TOKENIZER_REPLACE_INVALID)) {
					*consumed = i;
					return sb_error_set(err, SB_EFORMAT,
							    "byte %llu: invalid UTF-8 (0x%02x)",
							    (unsigned long long)(st->off + i), p[i]);
				}
				st->n_replaced++;
				c = 0xFFFD;
				k = -k;
			} else if (t->added_first[b]) {
				int32_t id = -1;
				size_t m = match_added(t, p, n, i, pre, st->prev_raw, &id);

				if (m) {
					flush_word(st);
					push_id(st, id);
					i += m;
					continue;
				}
			}
			if (pre)
				put_raw_pre(st, c);
			else
				put_raw(st, c);
			i += (size_t)k;
		}
	}
	if (i)
		st->prev_raw = cp_before(p, i);
	*consumed = i;
	return SB_OK;
}

/* ---- public encode ---- */

int sb_tokenizer_enc_init(struct sb_tokenizer_enc *e, const struct sb_tokenizer *t,
			  struct sb_error *err)
{
	struct priv *st;

	memset(e, 0, sizeof(*e));
	st = calloc(1, sizeof(*st));
	if (!st)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	st->t = t;
	/* Room for max_input_chars_per_word + 1 code points of up to 4 bytes. */
	st->wcap = (t->info.max_input_chars_per_word + 2) * 4;
	st->word = malloc(st->wcap);
	/* Lookahead: the longest added token and a code point after it (single_word),
	 * or one UTF-8 sequence. */
	st->look = 8;
	for (size_t k = 0; k < t->n_added; k++)
		if (t->added[k].n + 4 > st->look)
			st->look = t->added[k].n + 4;
	st->pend = malloc(2 * st->look);
	if (!st->word || !st->pend) {
		free(st->word);
		free(st->pend);
		free(st);
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	}
	e->priv = st;
	return SB_OK;
}

void sb_tokenizer_enc_destroy(struct sb_tokenizer_enc *e)
{
	struct priv *st;

	if (!e)
		return;
	st = e->priv;
	if (st) {
		free(st->word);
		free(st->pend);
		free(st->a.ids);
		free(st->b.ids);
		free(st);
	}
	free(e->ids);
	free(e->type_ids);
	memset(e, 0, sizeof(*e));
}

int sb_trunc_parse(const char *s, enum sb_trunc *out)
{
	static const char *names[] = {"longest_first", "only_first", "only_second", "none"};

	for (int i = 0; i < 4; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum sb_trunc)i;
			return SB_OK;
		}
	}
	return SB_EINVAL;
}

const char *sb_trunc_name(enum sb_trunc t)
{
	switch (t) {
	case SB_TRUNC_LONGEST_FIRST: return "longest_first";
	case SB_TRUNC_ONLY_FIRST: return "only_first";
	case SB_TRUNC_ONLY_SECOND: return "only_second";
	case SB_TRUNC_NONE: return "none";
	}
	return "?";
}

static int out_reserve(struct sb_tokenizer_enc *e, struct priv *st, size_t n, struct sb_error *err)
{
	int32_t *ids;
	uint8_t *ty;

	if (n <= st->cap_out)
		return SB_OK;
	if (n > SIZE_MAX / 8)
		return sb_error_set(err, SB_ELIMIT, "tokenizer: %zu tokens in one row", n);
	ids = realloc(e->ids, n * sizeof(*ids));
	if (!ids)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	e->ids = ids;
	ty = realloc(e->type_ids, n);
	if (!ty)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	e->type_ids = ty;
	st->cap_out = n;
	return SB_OK;
}

int sb_tokenizer_begin(struct sb_tokenizer_enc *e, enum sb_trunc trunc, unsigned flags)
{
	struct priv *st = e->priv;
	size_t keep = trunc == SB_TRUNC_NONE ? SIZE_MAX : st->t->info.max_length;

	e->n = 0;
	e->n_full = 0;
	e->truncated = 0;
	e->n_replaced = 0;
	e->bad_offset = 0;
	e->bad_in_b = 0;
	st->n_replaced = 0;
	st->flags = flags;
	st->trunc = trunc;
	seq_reset(&st->a, keep);
	seq_reset(&st->b, keep);
	st->cur = &st->a;
	st->wlen = st->wchars = 0;
	st->last_ccc = 0;
	st->pend_len = 0;
	st->off = 0;
	st->prev_raw = -1;
	st->in_b = 0;
	st->started = 1;
	return SB_OK;
}

static int feed_error(struct sb_tokenizer_enc *e, struct priv *st, size_t at, int rc)
{
	e->bad_offset = (size_t)(st->off + at);
	e->bad_in_b = st->in_b;
	st->started = 0;
	return rc;
}

int sb_tokenizer_feed(struct sb_tokenizer_enc *e, const char *text, size_t n,
		      struct sb_error *err)
{
	struct priv *st = e->priv;
	const unsigned char *p = (const unsigned char *)text;
	size_t c = 0;
	int rc;

	if (!st->started)
		return sb_error_set(err, SB_EINVAL, "tokenizer: feed without begin");
	if (st->pend_len) {
		/* Held-back bytes first, with enough of the new piece to decide them; the
		 * new bytes they did not use are taken from p again below. */
		size_t take = n < st->look ? n : st->look, total = st->pend_len + take;

		memcpy(st->pend + st->pend_len, p, take);
		rc = run_text(st, st->pend, total, 0, &c, err);
		if (rc)
			return feed_error(e, st, c, rc);
		if (c < st->pend_len) {
			/* Only when the piece was shorter than the lookahead: keep it all. */
			memmove(st->pend, st->pend + c, total - c);
			st->pend_len = total - c;
			st->off += c;
			return SB_OK;
		}
		p += c - st->pend_len;
		n -= c - st->pend_len;
		st->off += c;
		st->pend_len = 0;
	}
	rc = run_text(st, p, n, 0, &c, err);
	if (rc)
		return feed_error(e, st, c, rc);
	memcpy(st->pend, p + c, n - c);
	st->pend_len = n - c;
	st->off += c;
	return SB_OK;
}

/* Ends the current text: the held-back bytes, then the last word. */
static int end_text(struct sb_tokenizer_enc *e, struct priv *st, struct sb_error *err)
{
	size_t c = 0;
	int rc = run_text(st, st->pend, st->pend_len, 1, &c, err);

	if (rc)
		return feed_error(e, st, c, rc);
	flush_word(st);
	st->pend_len = 0;
	st->off = 0;
	st->prev_raw = -1;
	return SB_OK;
}

int sb_tokenizer_next(struct sb_tokenizer_enc *e, struct sb_error *err)
{
	struct priv *st = e->priv;
	int rc;

	if (!st->started || st->in_b)
		return sb_error_set(err, SB_EINVAL, "tokenizer: next without begin, or twice");
	rc = end_text(e, st, err);
	if (rc)
		return rc;
	st->in_b = 1;
	st->cur = &st->b;
	return SB_OK;
}

int sb_tokenizer_end(struct sb_tokenizer_enc *e, struct sb_error *err)
{
	struct priv *st = e->priv;
	const struct sb_tokenizer *t = st->t;
	int pair = st->in_b;
	const struct tpl *tp = pair ? &t->pair : &t->single;
	enum sb_trunc trunc = st->trunc;
	size_t max_len = t->info.max_length;
	size_t n_spec = (st->flags & SB_TOKENIZER_NO_SPECIAL) ? 0 : tp->n_special;
	size_t budget = 0, ka, kb, n_out;
	uint64_t la, lb;
	int rc;

	if (!st->started)
		return sb_error_set(err, SB_EINVAL, "tokenizer: end without begin");
	rc = end_text(e, st, err);
	if (rc)
		return rc;
	st->started = 0;
	e->n_replaced = st->n_replaced;
	if (st->a.oom || st->b.oom)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	if (trunc != SB_TRUNC_NONE) {
		if (max_len < n_spec)
			return sb_error_set(err, SB_EINVAL,
					    "max length %zu is less than the %zu special tokens",
					    max_len, n_spec);
		budget = max_len - n_spec;
	}
	la = st->a.n_total;
	lb = pair ? st->b.n_total : 0;
	ka = st->a.n_kept;
	kb = pair ? st->b.n_kept : 0;
	e->n_full = la + lb + n_spec;
	if (trunc != SB_TRUNC_NONE && la + lb > budget) {
		uint64_t rm = la + lb - budget;

		if (!pair) {
			ka = budget;
		} else if (trunc == SB_TRUNC_LONGEST_FIRST) {
			/* utils/truncation.rs: with n1 <= n2, n2 = max(n1, budget - n1); if
			 * still over, n1 = budget / 2 and n2 = n1 + budget % 2. */
			uint64_t n1 = la, n2 = lb;
			int swap = n1 > n2;

			if (swap) {
				n1 = lb;
				n2 = la;
			}
			if (n1 > budget)
				n2 = n1;
			else
				n2 = n1 > budget - n1 ? n1 : budget - n1;
			if (n1 + n2 > budget) {
				n1 = budget / 2;
				n2 = n1 + budget % 2;
			}
			if (swap) {
				uint64_t x = n1;

				n1 = n2;
				n2 = x;
			}
			ka = (size_t)(n1 < la ? n1 : la);
			kb = (size_t)(n2 < lb ? n2 : lb);
		} else {
			uint64_t tl = trunc == SB_TRUNC_ONLY_FIRST ? la : lb;

			if (tl <= rm)
				return sb_error_set(err, SB_EINVAL,
						    "truncation %s: sequence %s has %llu tokens, "
						    "%llu must go to fit max length %zu",
						    sb_trunc_name(trunc),
						    trunc == SB_TRUNC_ONLY_FIRST ? "a" : "b",
						    (unsigned long long)tl, (unsigned long long)rm,
						    max_len);
			if (trunc == SB_TRUNC_ONLY_FIRST)
				ka = (size_t)(la - rm);
			else
				kb = (size_t)(lb - rm);
		}
	}
	/* The kept ids are a prefix of what was stored (keep >= max_length). */
	assert(ka <= st->a.n_kept && kb <= (pair ? st->b.n_kept : 0));
	n_out = ka + kb + n_spec;
	rc = out_reserve(e, st, n_out ? n_out : 1, err);
	if (rc)
		return rc;
	if (st->flags & SB_TOKENIZER_NO_SPECIAL) {
		if (ka)
			memcpy(e->ids, st->a.ids, ka * sizeof(int32_t));
		memset(e->type_ids, 0, ka);
		if (kb) {
			memcpy(e->ids + ka, st->b.ids, kb * sizeof(int32_t));
			memset(e->type_ids + ka, 1, kb);
		}
		e->n = ka + kb;
	} else {
		size_t k = 0;

		for (size_t i = 0; i < tp->n; i++) {
			const struct tpl_item *it = &tp->items[i];
			const int32_t *src = it->ids;
			size_t m = it->n_ids;

			if (it->kind == TPL_A) {
				src = st->a.ids;
				m = ka;
			} else if (it->kind == TPL_B) {
				src = st->b.ids;
				m = kb;
			}
			if (m)
				memcpy(e->ids + k, src, m * sizeof(int32_t));
			memset(e->type_ids + k, it->type_id, m);
			k += m;
		}
		e->n = k;
	}
	e->truncated = (uint64_t)e->n < e->n_full;
	return SB_OK;
}

int sb_tokenizer_count(struct sb_tokenizer_enc *e, const char *p, size_t n, uint64_t *count,
		       struct sb_error *err)
{
	int rc;

	sb_tokenizer_begin(e, SB_TRUNC_NONE, SB_TOKENIZER_NO_SPECIAL);
	rc = sb_tokenizer_feed(e, p, n, err);
	if (!rc)
		rc = sb_tokenizer_end(e, err);
	if (rc)
		return rc;
	*count = e->n_full;
	return SB_OK;
}

int sb_tokenizer_encode(struct sb_tokenizer_enc *e, const char *prefix, size_t np,
			const char *a, size_t na, const char *b, size_t nb, enum sb_trunc trunc,
			unsigned flags, struct sb_error *err)
{
	int rc;

	if (!prefix)
		np = 0;
	sb_tokenizer_begin(e, trunc, flags);
	/* The prompt and the text are one string: a word may span both. */
	rc = np ? sb_tokenizer_feed(e, prefix, np, err) : SB_OK;
	if (!rc)
		rc = sb_tokenizer_feed(e, a, na, err);
	if (!rc && b)
		rc = sb_tokenizer_next(e, err);
	if (!rc && b)
		rc = sb_tokenizer_feed(e, b, nb, err);
	if (!rc)
		rc = sb_tokenizer_end(e, err);
	if (rc == SB_EFORMAT && !e->bad_in_b && np) {
		/* Offsets count in a alone. */
		if (e->bad_offset < np)
			return sb_error_prefix(err, "prompt: ");
		e->bad_offset -= np;
		sb_error_set(err, SB_EFORMAT, "byte %zu: invalid UTF-8 (0x%02x)", e->bad_offset,
			     (unsigned char)a[e->bad_offset]);
	}
	return rc;
}

/* ---- loading ---- */

void sb_tokenizer_opts_init(struct sb_tokenizer_opts *o)
{
	memset(o, 0, sizeof(*o));
}

const struct sb_tokenizer_info *sb_tokenizer_info(const struct sb_tokenizer *t)
{
	return &t->info;
}

int32_t sb_tokenizer_token_id(const struct sb_tokenizer *t, const char *s, size_t n)
{
	for (size_t k = 0; k < t->n_added; k++)
		if (t->added[k].n == n && memcmp(t->added[k].s, s, n) == 0)
			return t->added[k].id;
	if (!n)
		return -1;
	return lookup(t, HASH_INIT, "", 0, s, n);
}

const char *sb_tokenizer_id_token(const struct sb_tokenizer *t, int32_t id)
{
	if (id < 0 || (size_t)id >= t->n_ids)
		return NULL;
	return t->id_tok[id];
}

static void add_setting(struct sb_tokenizer *t, const char *name, const char *source,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void add_setting(struct sb_tokenizer *t, const char *name, const char *source,
			const char *fmt, ...)
{
	struct setting_store *s;
	va_list ap;

	if (t->info.n_settings >= MAX_SETTINGS)
		return;
	s = &t->store[t->info.n_settings];
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->source, sizeof(s->source), "%s", source);
	va_start(ap, fmt);
	vsnprintf(s->value, sizeof(s->value), fmt, ap);
	va_end(ap);
	t->settings[t->info.n_settings].name = s->name;
	t->settings[t->info.n_settings].value = s->value;
	t->settings[t->info.n_settings].source = s->source;
	t->info.n_settings++;
}

/* Token entries collected before the table is built. */
struct tok_list {
	struct sb_buf pool;
	struct { size_t off, len; int32_t id; } *e;
	size_t n, cap;
};

static int tok_add(struct tok_list *l, const char *s, size_t n, int64_t id, const char *file,
		   struct sb_error *err)
{
	if (n > MAX_TOKEN_BYTES)
		return sb_error_set(err, SB_ELIMIT, "%s: token %lld: %zu bytes, limit %zu", file,
				    (long long)id, n, (size_t)MAX_TOKEN_BYTES);
	if (id < 0 || (uint64_t)id >= MAX_VOCAB)
		return sb_error_set(err, SB_ELIMIT, "%s: token id %lld out of range [0, %zu)",
				    file, (long long)id, MAX_VOCAB);
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 1024;
		void *p;

		if (nc > MAX_VOCAB)
			return sb_error_set(err, SB_ELIMIT, "%s: more than %zu tokens", file,
					    MAX_VOCAB);
		p = realloc(l->e, nc * sizeof(*l->e));
		if (!p)
			return sb_error_set(err, SB_ENOMEM, "%s: out of memory", file);
		l->e = p;
		l->cap = nc;
	}
	l->e[l->n].off = l->pool.len;
	l->e[l->n].len = n;
	l->e[l->n].id = (int32_t)id;
	l->n++;
	if (sb_buf_append(&l->pool, s, n, err) || sb_buf_append(&l->pool, "", 1, err))
		return sb_error_prefix(err, "%s: ", file);
	return SB_OK;
}

/* Builds the hash table; a later duplicate overrides an earlier one (as a HashMap). */
static int build_vocab(struct sb_tokenizer *t, struct tok_list *l, struct sb_error *err)
{
	size_t cap = 1024, max_id = 0, distinct = 0;

	while (cap < l->n * 2)
		cap *= 2;
	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	t->mask = cap - 1;
	t->pool = (char *)l->pool.data;
	t->pool_len = l->pool.len;
	l->pool.data = NULL;
	sb_buf_destroy(&l->pool);
	for (size_t k = 0; k < l->n; k++) {
		const char *s = t->pool + l->e[k].off;
		size_t n = l->e[k].len;
		uint32_t h;
		size_t i;

		/* Every entry gets its slot in the id table, an empty line's too. */
		if ((size_t)l->e[k].id > max_id)
			max_id = (size_t)l->e[k].id;
		if (!n)
			continue;       /* never looked up: words are not empty */
		h = hash_step(HASH_INIT, (const unsigned char *)s, n);
		i = h & t->mask;
		while (t->slots[i].len) {
			struct slot *sl = &t->slots[i];

			if (sl->hash == h && sl->len == n && memcmp(t->pool + sl->off, s, n) == 0)
				break;
			i = (i + 1) & t->mask;
		}
		if (!t->slots[i].len)
			distinct++;
		t->slots[i].hash = h;
		t->slots[i].len = (uint32_t)n;
		t->slots[i].off = (uint32_t)l->e[k].off;
		t->slots[i].id = l->e[k].id;
		if (n >= t->cont_len && memcmp(s, t->cont_prefix, t->cont_len) == 0) {
			if (n - t->cont_len > t->max_cont_bytes)
				t->max_cont_bytes = n - t->cont_len;
		}
		if (n > t->max_word_bytes)
			t->max_word_bytes = n;
	}
	t->info.vocab_size = distinct;
	/* Ids index an array: refuse sparse ones that would make it huge for nothing. */
	if (max_id >= 2 * l->n + 1024)
		return sb_error_set(err, SB_ELIMIT, "vocabulary: id %zu for %zu tokens: ids must be "
				    "dense", max_id, l->n);
	t->n_ids = max_id + 1;
	t->id_tok = calloc(t->n_ids, sizeof(*t->id_tok));
	if (!t->id_tok)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	for (size_t k = 0; k < l->n; k++)
		t->id_tok[l->e[k].id] = t->pool + l->e[k].off;
	t->cont_hash = hash_step(HASH_INIT, (const unsigned char *)t->cont_prefix, t->cont_len);
	return SB_OK;
}

static int read_vocab_txt(const char *path, struct tok_list *l, struct sb_error *err)
{
	struct sb_buf b;
	size_t i = 0, line = 0;
	int rc;

	sb_buf_init(&b);
	rc = sb_file_read(path, MAX_VOCAB_TXT, &b, err);
	if (rc) {
		sb_buf_destroy(&b);
		return rc;
	}
	while (i < b.len) {
		const char *s = (const char *)b.data + i;
		const char *nl = memchr(s, '\n', b.len - i);
		size_t n = nl ? (size_t)(nl - s) : b.len - i;
		size_t adv = nl ? n + 1 : n;

		if (n && s[n - 1] == '\r')
			n--;
		rc = tok_add(l, s, n, (int64_t)line, "vocab.txt", err);
		if (rc)
			break;
		line++;
		i += adv;
	}
	sb_buf_destroy(&b);
	return rc;
}

/* A special token written as "[UNK]" or {"content": "[UNK]", ...}. */
static const char *special_name(const struct sb_json *cfg, const char *key)
{
	const struct sb_json *m = sb_json_get(cfg, key);

	if (!m)
		return NULL;
	if (m->type == SB_JSON_STRING)
		return m->str;
	if (m->type == SB_JSON_OBJECT) {
		const struct sb_json *c = sb_json_get(m, "content");

		if (c && c->type == SB_JSON_STRING)
			return c->str;
	}
	return NULL;
}

static int add_added(struct sb_tokenizer *t, const char *s, size_t n, int32_t id, int single_word,
		     int normalized, const char *file, struct sb_error *err)
{
	struct added *a;

	if (!n)
		return SB_OK;
	for (size_t k = 0; k < t->n_added; k++)
		if (t->added[k].n == n && memcmp(t->added[k].s, s, n) == 0)
			return SB_OK;
	if (t->n_added >= MAX_ADDED)
		return sb_error_set(err, SB_ELIMIT, "%s: more than %d added tokens", file,
				    MAX_ADDED);
	if (normalized) {
		for (size_t k = 0; k < n; k++)
			if ((unsigned char)s[k] >= 0x80)
				return sb_error_set(err, SB_EUNSUPPORTED,
						    "%s: added token '%s': normalized non-ASCII "
						    "added tokens are not supported", file, s);
	}
	a = realloc(t->added, (t->n_added + 1) * sizeof(*a));
	if (!a)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	t->added = a;
	a = &t->added[t->n_added];
	a->s = malloc(n + 1);
	if (!a->s)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	memcpy(a->s, s, n);
	a->s[n] = 0;
	a->n = n;
	a->id = id;
	a->single_word = single_word;
	a->normalized = normalized;
	if (normalized && t->info.lowercase)
		for (size_t k = 0; k < n; k++)
			if (a->s[k] >= 'A' && a->s[k] <= 'Z')
				a->s[k] = (char)(a->s[k] + 32);
	t->n_added++;
	t->added_first[(unsigned char)a->s[0]] = 1;
	if (normalized && t->info.lowercase && a->s[0] >= 'a' && a->s[0] <= 'z')
		t->added_first[(unsigned char)a->s[0] - 32] = 1;
	return SB_OK;
}

static int tpl_special(struct sb_tokenizer *t, struct tpl *tp, const char *name, uint8_t type_id,
		       const char *file, struct sb_error *err)
{
	int32_t id = sb_tokenizer_token_id(t, name, strlen(name));
	struct tpl_item *it;

	if (id < 0)
		return sb_error_set(err, SB_EFORMAT, "%s: special token '%s' is not in the "
				    "vocabulary", file, name);
	if (tp->n >= MAX_TEMPLATE)
		return sb_error_set(err, SB_ELIMIT, "%s: template too long", file);
	it = &tp->items[tp->n++];
	it->kind = TPL_SPECIAL;
	it->type_id = type_id;
	it->n_ids = 1;
	it->ids = malloc(sizeof(int32_t));
	if (!it->ids)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	it->ids[0] = id;
	tp->n_special++;
	return SB_OK;
}

static int tpl_seq(struct tpl *tp, enum tpl_kind k, uint8_t type_id, const char *file,
		   struct sb_error *err)
{
	if (tp->n >= MAX_TEMPLATE)
		return sb_error_set(err, SB_ELIMIT, "%s: template too long", file);
	tp->items[tp->n].kind = k;
	tp->items[tp->n].type_id = type_id;
	tp->items[tp->n].n_ids = 0;
	tp->items[tp->n].ids = NULL;
	tp->n++;
	return SB_OK;
}

/* [CLS] A [SEP] and [CLS] A [SEP] B [SEP] (BertProcessing, and the vocab.txt case). */
static int bert_template(struct sb_tokenizer *t, const char *cls, const char *sep,
			 const char *file, struct sb_error *err)
{
	int rc;

	if ((rc = tpl_special(t, &t->single, cls, 0, file, err)) ||
	    (rc = tpl_seq(&t->single, TPL_A, 0, file, err)) ||
	    (rc = tpl_special(t, &t->single, sep, 0, file, err)) ||
	    (rc = tpl_special(t, &t->pair, cls, 0, file, err)) ||
	    (rc = tpl_seq(&t->pair, TPL_A, 0, file, err)) ||
	    (rc = tpl_special(t, &t->pair, sep, 0, file, err)) ||
	    (rc = tpl_seq(&t->pair, TPL_B, 1, file, err)) ||
	    (rc = tpl_special(t, &t->pair, sep, 1, file, err)))
		return rc;
	return SB_OK;
}

/* TemplateProcessing: "single"/"pair" lists of SpecialToken / Sequence items. */
static int parse_template(struct sb_tokenizer *t, struct tpl *tp, const struct sb_json *list,
			  const struct sb_json *specials, const char *what, struct sb_error *err)
{
	const char *file = "tokenizer.json";

	if (!list || list->type != SB_JSON_ARRAY)
		return sb_error_set(err, SB_EFORMAT, "%s: post_processor.%s: expected an array",
				    file, what);
	for (size_t i = 0; i < list->n_items; i++) {
		const struct sb_json *it = &list->items[i];
		const struct sb_json *sp = sb_json_get(it, "SpecialToken");
		const struct sb_json *sq = sb_json_get(it, "Sequence");
		int64_t ty = 0;
		const char *id = NULL;
		struct tpl_item *ti;

		if (tp->n >= MAX_TEMPLATE)
			return sb_error_set(err, SB_ELIMIT, "%s: template too long", file);
		if (sq) {
			if (sb_json_get_str(sq, "id", &id, err))
				return sb_error_set(err, SB_EFORMAT, "%s: post_processor.%s[%zu]: "
						    "bad Sequence", file, what, i);
			sb_json_get_int(sq, "type_id", &ty, NULL);
			if (ty < 0 || ty > 255)
				return sb_error_set(err, SB_EFORMAT, "%s: type_id %lld", file,
						    (long long)ty);
			if (strcmp(id, "A") && strcmp(id, "B"))
				return sb_error_set(err, SB_EFORMAT, "%s: post_processor.%s[%zu]: "
						    "sequence '%s'", file, what, i, id);
			tpl_seq(tp, id[0] == 'A' ? TPL_A : TPL_B, (uint8_t)ty, file, err);
		} else if (sp) {
			const struct sb_json *def, *ids;

			if (sb_json_get_str(sp, "id", &id, err))
				return sb_error_set(err, SB_EFORMAT, "%s: post_processor.%s[%zu]: "
						    "bad SpecialToken", file, what, i);
			sb_json_get_int(sp, "type_id", &ty, NULL);
			if (ty < 0 || ty > 255)
				return sb_error_set(err, SB_EFORMAT, "%s: type_id %lld", file,
						    (long long)ty);
			def = sb_json_get(specials, id);
			ids = def ? sb_json_get(def, "ids") : NULL;
			if (!ids || ids->type != SB_JSON_ARRAY || ids->n_items > 64)
				return sb_error_set(err, SB_EFORMAT, "%s: post_processor: special "
						    "token '%s' has no ids", file, id);
			ti = &tp->items[tp->n];
			ti->kind = TPL_SPECIAL;
			ti->type_id = (uint8_t)ty;
			ti->n_ids = ids->n_items;
			ti->ids = calloc(ids->n_items ? ids->n_items : 1, sizeof(int32_t));
			if (!ti->ids)
				return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
			tp->n++;
			for (size_t k = 0; k < ids->n_items; k++) {
				const struct sb_json *v = &ids->items[k];

				if (v->type != SB_JSON_NUMBER || !v->is_int || v->i < 0 ||
				    v->i >= (int64_t)MAX_VOCAB)
					return sb_error_set(err, SB_EFORMAT, "%s: special token "
							    "'%s': bad id", file, id);
				ti->ids[k] = (int32_t)v->i;
			}
			tp->n_special += ids->n_items;
		} else {
			return sb_error_set(err, SB_EFORMAT, "%s: post_processor.%s[%zu]: expected "
					    "SpecialToken or Sequence", file, what, i);
		}
	}
	return SB_OK;
}

/* A tri-state json bool: 1/0, or -1 when absent or null. */
static int json_tristate(const struct sb_json *o, const char *key)
{
	const struct sb_json *m = sb_json_get(o, key);

	if (!m || m->type == SB_JSON_NULL)
		return -1;
	if (m->type == SB_JSON_TRUE)
		return 1;
	if (m->type == SB_JSON_FALSE)
		return 0;
	return -2;
}

static int load_tokenizer_json(struct sb_tokenizer *t, const char *path, struct tok_list *l,
			       struct sb_error *err)
{
	const char *file = "tokenizer.json";
	struct sb_json *root = NULL;
	const struct sb_json *m, *norm, *model, *vocab, *added, *post, *pre;
	const char *s;
	int rc, v;
	int64_t mi;

	rc = sb_json_parse_file(path, 0, MAX_TOKENIZER_JSON, &root, err);
	if (rc)
		return rc;
	model = sb_json_get(root, "model");
	if (!model || model->type != SB_JSON_OBJECT) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: no model", file);
		goto out;
	}
	if (sb_json_get_str(model, "type", &s, NULL) == SB_OK && strcmp(s, "WordPiece")) {
		rc = sb_error_set(err, SB_EUNSUPPORTED, "%s: model.type '%s': only WordPiece is "
				  "supported", file, s);
		goto out;
	}
	if (sb_json_get_str(model, "continuing_subword_prefix", &s, NULL) == SB_OK) {
		if (strlen(s) >= sizeof(t->cont_prefix)) {
			rc = sb_error_set(err, SB_ELIMIT, "%s: continuing_subword_prefix too long",
					  file);
			goto out;
		}
		snprintf(t->cont_prefix, sizeof(t->cont_prefix), "%s", s);
		t->cont_len = strlen(s);
	}
	if (sb_json_get_int(model, "max_input_chars_per_word", &mi, NULL) == SB_OK) {
		if (mi < 1 || mi > 100000) {
			rc = sb_error_set(err, SB_EFORMAT, "%s: max_input_chars_per_word %lld",
					  file, (long long)mi);
			goto out;
		}
		t->info.max_input_chars_per_word = (size_t)mi;
	}
	vocab = sb_json_get(model, "vocab");
	if (!vocab || vocab->type != SB_JSON_OBJECT) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: model.vocab: expected an object", file);
		goto out;
	}
	for (size_t i = 0; i < vocab->n_items; i++) {
		const struct sb_json *e = &vocab->items[i];

		if (e->type != SB_JSON_NUMBER || !e->is_int) {
			rc = sb_error_set(err, SB_EFORMAT, "%s: model.vocab['%s']: expected an "
					  "integer id", file, e->key);
			goto out;
		}
		rc = tok_add(l, e->key, e->key_len, e->i, file, err);
		if (rc)
			goto out;
	}
	norm = sb_json_get(root, "normalizer");
	if (norm && norm->type == SB_JSON_OBJECT) {
		s = NULL;
		if (sb_json_get_str(norm, "type", &s, NULL) != SB_OK || strcmp(s, "BertNormalizer")) {
			rc = sb_error_set(err, SB_EUNSUPPORTED, "%s: normalizer '%s': only "
					  "BertNormalizer is supported", file, s ? s : "?");
			goto out;
		}
		v = json_tristate(norm, "clean_text");
		t->info.clean_text = v < 0 ? 1 : v;
		v = json_tristate(norm, "handle_chinese_chars");
		t->info.handle_chinese_chars = v < 0 ? 1 : v;
		v = json_tristate(norm, "lowercase");
		t->info.lowercase = v < 0 ? 1 : v;
		v = json_tristate(norm, "strip_accents");
		t->info.strip_accents = v < 0 ? t->info.lowercase : v;
		add_setting(t, "lowercase", "tokenizer.json (normalizer.lowercase)", "%s",
			    t->info.lowercase ? "true" : "false");
		add_setting(t, "strip_accents", v < 0 ? "tokenizer.json (normalizer.strip_accents "
			    "null: follows lowercase)" : "tokenizer.json (normalizer.strip_accents)",
			    "%s", t->info.strip_accents ? "true" : "false");
		add_setting(t, "clean_text", "tokenizer.json (normalizer.clean_text)", "%s",
			    t->info.clean_text ? "true" : "false");
		add_setting(t, "handle_chinese_chars",
			    "tokenizer.json (normalizer.handle_chinese_chars)", "%s",
			    t->info.handle_chinese_chars ? "true" : "false");
	} else {
		t->info.clean_text = t->info.handle_chinese_chars = 0;
		t->info.lowercase = t->info.strip_accents = 0;
		add_setting(t, "normalizer", "tokenizer.json (normalizer null)", "none");
	}
	pre = sb_json_get(root, "pre_tokenizer");
	s = NULL;
	if (!pre || pre->type != SB_JSON_OBJECT ||
	    sb_json_get_str(pre, "type", &s, NULL) != SB_OK || strcmp(s, "BertPreTokenizer")) {
		rc = sb_error_set(err, SB_EUNSUPPORTED, "%s: pre_tokenizer '%s': only "
				  "BertPreTokenizer is supported", file, s ? s : "null");
		goto out;
	}
	rc = build_vocab(t, l, err);
	if (rc)
		goto out;
	added = sb_json_get(root, "added_tokens");
	if (added && added->type == SB_JSON_ARRAY) {
		for (size_t i = 0; i < added->n_items; i++) {
			const struct sb_json *a = &added->items[i];
			const char *c = NULL;
			int64_t id;
			int sw = json_tristate(a, "single_word") == 1;
			int nz = json_tristate(a, "normalized") == 1;
			const struct sb_json *cm = sb_json_get(a, "content");

			if (sb_json_get_int(a, "id", &id, NULL) != SB_OK || !cm ||
			    cm->type != SB_JSON_STRING || id < 0 || id >= (int64_t)MAX_VOCAB) {
				rc = sb_error_set(err, SB_EFORMAT, "%s: added_tokens[%zu]: needs "
						  "id and content", file, i);
				goto out;
			}
			c = cm->str;
			rc = add_added(t, c, cm->len, (int32_t)id, sw, nz, file, err);
			if (rc)
				goto out;
		}
	}
	post = sb_json_get(root, "post_processor");
	if (post && post->type == SB_JSON_OBJECT) {
		s = NULL;
		sb_json_get_str(post, "type", &s, NULL);
		if (s && strcmp(s, "TemplateProcessing") == 0) {
			const struct sb_json *sp = sb_json_get(post, "special_tokens");

			rc = parse_template(t, &t->single, sb_json_get(post, "single"), sp,
					    "single", err);
			if (!rc)
				rc = parse_template(t, &t->pair, sb_json_get(post, "pair"), sp,
						    "pair", err);
			if (rc)
				goto out;
			add_setting(t, "post_processor", "tokenizer.json", "TemplateProcessing");
		} else if (s && strcmp(s, "BertProcessing") == 0) {
			const struct sb_json *cls = sb_json_get(post, "cls");
			const struct sb_json *sep = sb_json_get(post, "sep");

			if (!cls || cls->type != SB_JSON_ARRAY || cls->n_items != 2 ||
			    cls->items[0].type != SB_JSON_STRING || !sep ||
			    sep->type != SB_JSON_ARRAY || sep->n_items != 2 ||
			    sep->items[0].type != SB_JSON_STRING) {
				rc = sb_error_set(err, SB_EFORMAT, "%s: BertProcessing: bad cls/sep",
						  file);
				goto out;
			}
			rc = bert_template(t, cls->items[0].str, sep->items[0].str, file, err);
			if (rc)
				goto out;
			add_setting(t, "post_processor", "tokenizer.json", "BertProcessing");
		} else {
			rc = sb_error_set(err, SB_EUNSUPPORTED, "%s: post_processor '%s': only "
					  "TemplateProcessing and BertProcessing are supported",
					  file, s ? s : "?");
			goto out;
		}
	} else {
		add_setting(t, "post_processor", "tokenizer.json (null)", "none");
	}
	m = sb_json_get(root, "padding");
	if (m && m->type == SB_JSON_OBJECT && sb_json_get_int(m, "pad_id", &mi, NULL) == SB_OK &&
	    mi >= 0 && mi < (int64_t)MAX_VOCAB)
		t->info.pad_id = (int32_t)mi;
	{
		const char *unk = NULL;

		if (sb_json_get_str(model, "unk_token", &unk, NULL) != SB_OK)
			unk = "[UNK]";
		t->info.unk_id = sb_tokenizer_token_id(t, unk, strlen(unk));
		if (t->info.unk_id < 0) {
			rc = sb_error_set(err, SB_EFORMAT, "%s: unk_token '%s' is not in the "
					  "vocabulary", file, unk);
			goto out;
		}
	}
	rc = SB_OK;
out:
	sb_json_free(&root);
	return rc;
}

/* Reads an optional small json file; SB_ENOTFOUND (no error set) when absent. */
static int read_cfg(const char *dir, const char *name, struct sb_json **out, struct sb_error *err)
{
	char *p = sb_path_join(dir, name);
	int rc;

	*out = NULL;
	if (!p)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	if (!sb_file_exists(p)) {
		free(p);
		return SB_ENOTFOUND;
	}
	rc = sb_json_parse_file(p, 0, MAX_CONFIG_BYTES, out, err);
	free(p);
	return rc;
}

static void free_tpl(struct tpl *tp)
{
	for (size_t i = 0; i < tp->n; i++)
		free(tp->items[i].ids);
	tp->n = 0;
}

void sb_tokenizer_close(struct sb_tokenizer **tp)
{
	struct sb_tokenizer *t;

	if (!tp || !*tp)
		return;
	t = *tp;
	free(t->pool);
	free(t->slots);
	free(t->id_tok);
	for (size_t k = 0; k < t->n_added; k++)
		free(t->added[k].s);
	free(t->added);
	free_tpl(&t->single);
	free_tpl(&t->pair);
	free(t->dir);
	free(t);
	*tp = NULL;
}

static uint64_t fingerprint(const struct sb_tokenizer *t)
{
	uint64_t h = 1469598103934665603ull;
	const struct sb_tokenizer_info *in = &t->info;
	unsigned char flags[6] = {(unsigned char)in->lowercase, (unsigned char)in->strip_accents,
				  (unsigned char)in->clean_text,
				  (unsigned char)in->handle_chinese_chars,
				  (unsigned char)in->st_lowercase, 0};

	for (size_t id = 0; id < t->n_ids; id++) {
		const char *s = t->id_tok[id] ? t->id_tok[id] : "";

		for (; *s; s++)
			h = (h ^ (unsigned char)*s) * 1099511628211ull;
		h = (h ^ 0xFF) * 1099511628211ull;
	}
	for (size_t k = 0; k < sizeof(flags); k++)
		h = (h ^ flags[k]) * 1099511628211ull;
	for (size_t k = 0; k < t->n_added; k++)
		for (size_t j = 0; j < t->added[k].n; j++)
			h = (h ^ (unsigned char)t->added[k].s[j]) * 1099511628211ull;
	return h;
}

static const char *special_or(const struct sb_json *a, const struct sb_json *b, const char *key,
			      const char *dflt)
{
	const char *s = special_name(a, key);

	if (!s)
		s = special_name(b, key);
	return s ? s : dflt;
}

int sb_tokenizer_open(struct sb_tokenizer **out, const char *dir,
		      const struct sb_tokenizer_opts *opts, struct sb_error *err)
{
	struct sb_tokenizer *t;
	struct sb_json *tcfg = NULL, *smap = NULL, *stcfg = NULL, *mcfg = NULL;
	struct tok_list l;
	char *tj = NULL, *vt = NULL;
	const char *stname = "sentence_bert_config.json";
	int rc, v;
	int64_t iv;
	double dv;

	*out = NULL;
	memset(&l, 0, sizeof(l));
	sb_buf_init(&l.pool);
	t = calloc(1, sizeof(*t));
	if (!t)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	t->dir = sb_strdup(dir);
	tj = sb_path_join(dir, "tokenizer.json");
	vt = sb_path_join(dir, "vocab.txt");
	if (!t->dir || !tj || !vt) {
		rc = sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
		goto fail;
	}
	t->info.dir = t->dir;
	strcpy(t->cont_prefix, "##");
	t->cont_len = 2;
	t->info.max_input_chars_per_word = 100;
	t->info.pad_id = -1;

	/* Optional configs; a malformed one is an error, a missing one is not. */
	rc = read_cfg(dir, "tokenizer_config.json", &tcfg, err);
	if (rc && rc != SB_ENOTFOUND)
		goto fail_file;
	rc = read_cfg(dir, "special_tokens_map.json", &smap, err);
	if (rc && rc != SB_ENOTFOUND)
		goto fail_file;
	rc = read_cfg(dir, stname, &stcfg, err);
	if (rc == SB_ENOTFOUND) {
		stname = "sentence_distilbert_config.json";
		rc = read_cfg(dir, stname, &stcfg, err);
	}
	if (rc && rc != SB_ENOTFOUND)
		goto fail_file;
	rc = read_cfg(dir, "config.json", &mcfg, err);
	if (rc && rc != SB_ENOTFOUND)
		goto fail_file;

	if (stcfg && sb_json_get_bool(stcfg, "do_lower_case", &v, NULL) == SB_OK) {
		t->info.st_lowercase = v;
		add_setting(t, "st_do_lower_case", stname, "%s", v ? "true" : "false");
	}

	if (sb_file_exists(tj)) {
		t->info.source = "tokenizer.json";
		rc = load_tokenizer_json(t, tj, &l, err);
		if (rc)
			goto fail;
	} else if (sb_file_exists(vt)) {
		const char *unk, *cls, *sep, *pad, *mask;
		const struct sb_json *dec;

		t->info.source = "vocab.txt";
		rc = read_vocab_txt(vt, &l, err);
		if (rc)
			goto fail;
		rc = build_vocab(t, &l, err);
		if (rc)
			goto fail;
		v = json_tristate(tcfg, "do_lower_case");
		t->info.lowercase = v < 0 ? 1 : v;
		add_setting(t, "lowercase", v < 0 ? "default (BertTokenizer do_lower_case)" :
			    "tokenizer_config.json (do_lower_case)", "%s",
			    t->info.lowercase ? "true" : "false");
		v = json_tristate(tcfg, "strip_accents");
		t->info.strip_accents = v < 0 ? t->info.lowercase : v;
		add_setting(t, "strip_accents", v < 0 ? "tokenizer_config.json (strip_accents "
			    "unset: follows lowercase)" : "tokenizer_config.json (strip_accents)",
			    "%s", t->info.strip_accents ? "true" : "false");
		v = json_tristate(tcfg, "tokenize_chinese_chars");
		t->info.handle_chinese_chars = v < 0 ? 1 : v;
		t->info.clean_text = 1;
		add_setting(t, "handle_chinese_chars", v < 0 ? "default" :
			    "tokenizer_config.json (tokenize_chinese_chars)", "%s",
			    t->info.handle_chinese_chars ? "true" : "false");
		unk = special_or(tcfg, smap, "unk_token", "[UNK]");
		cls = special_or(tcfg, smap, "cls_token", "[CLS]");
		sep = special_or(tcfg, smap, "sep_token", "[SEP]");
		pad = special_or(tcfg, smap, "pad_token", "[PAD]");
		mask = special_or(tcfg, smap, "mask_token", "[MASK]");
		/* transformers adds the special tokens as non-normalized added tokens. */
		{
			const char *names[5] = {pad, unk, cls, sep, mask};

			for (int k = 0; k < 5; k++) {
				int32_t id = lookup(t, HASH_INIT, "", 0, names[k], strlen(names[k]));

				if (id < 0)
					continue;
				rc = add_added(t, names[k], strlen(names[k]), id, 0, 0,
					       "vocab.txt", err);
				if (rc)
					goto fail;
			}
		}
		dec = sb_json_get(tcfg, "added_tokens_decoder");
		if (dec && dec->type == SB_JSON_OBJECT) {
			for (size_t i = 0; i < dec->n_items; i++) {
				const struct sb_json *a = &dec->items[i];
				const struct sb_json *cm = sb_json_get(a, "content");
				char *endp;
				long long id = strtoll(a->key, &endp, 10);

				if (!cm || cm->type != SB_JSON_STRING || *endp || id < 0 ||
				    id >= (long long)MAX_VOCAB) {
					rc = sb_error_set(err, SB_EFORMAT, "tokenizer_config.json: "
							  "added_tokens_decoder['%s']: bad entry",
							  a->key);
					goto fail;
				}
				rc = add_added(t, cm->str, cm->len, (int32_t)id,
					       json_tristate(a, "single_word") == 1,
					       json_tristate(a, "normalized") == 1,
					       "tokenizer_config.json", err);
				if (rc)
					goto fail;
			}
		}
		t->info.unk_id = lookup(t, HASH_INIT, "", 0, unk, strlen(unk));
		if (t->info.unk_id < 0) {
			rc = sb_error_set(err, SB_EFORMAT, "vocab.txt: unk token '%s' is not in the "
					  "vocabulary", unk);
			goto fail;
		}
		t->info.pad_id = lookup(t, HASH_INIT, "", 0, pad, strlen(pad));
		rc = bert_template(t, cls, sep, "vocab.txt", err);
		if (rc)
			goto fail;
	} else {
		rc = sb_error_set(err, SB_ENOTFOUND, "%s: no tokenizer.json or vocab.txt", dir);
		goto fail;
	}
	if (t->info.pad_id < 0) {
		const char *pad = special_or(tcfg, smap, "pad_token", "[PAD]");

		t->info.pad_id = sb_tokenizer_token_id(t, pad, strlen(pad));
		if (t->info.pad_id < 0)
			t->info.pad_id = 0;
	}
	add_setting(t, "vocabulary", t->info.source, "%zu tokens", t->info.vocab_size);
	add_setting(t, "max_input_chars_per_word", t->info.source, "%zu",
		    t->info.max_input_chars_per_word);
	t->info.n_special_single = t->single.n_special;
	t->info.n_special_pair = t->pair.n_special;

	/* Maximum length: option, sentence-transformers, else model_max_length capped by
	 * max_position_embeddings (sentence-transformers' Transformer module). */
	{
		int64_t mpe = 0, mml = 0;
		int have_mpe = mcfg && sb_json_get_int(mcfg, "max_position_embeddings", &mpe,
						       NULL) == SB_OK && mpe > 0;
		int have_mml = 0;

		if (tcfg && sb_json_get_num(tcfg, "model_max_length", &dv, NULL) == SB_OK &&
		    dv > 0 && dv < 1e9) {
			mml = (int64_t)dv;
			have_mml = 1;
		}
		if (opts && opts->max_length) {
			t->info.max_length = opts->max_length;
			add_setting(t, "max_length", "option --max-length", "%zu",
				    t->info.max_length);
		} else if (stcfg && sb_json_get_int(stcfg, "max_seq_length", &iv, NULL) == SB_OK &&
			   iv > 0) {
			t->info.max_length = (size_t)iv;
			add_setting(t, "max_length", "sentence_bert_config.json (max_seq_length)",
				    "%zu", t->info.max_length);
			if (strcmp(stname, "sentence_bert_config.json"))
				snprintf(t->store[t->info.n_settings - 1].source,
					 sizeof(t->store[0].source), "%s (max_seq_length)", stname);
		} else if (have_mml && (!have_mpe || mml <= mpe)) {
			t->info.max_length = (size_t)mml;
			add_setting(t, "max_length", "tokenizer_config.json (model_max_length)",
				    "%zu", t->info.max_length);
		} else if (have_mpe) {
			t->info.max_length = (size_t)mpe;
			add_setting(t, "max_length", have_mml ?
				    "config.json (max_position_embeddings, caps model_max_length)" :
				    "config.json (max_position_embeddings)", "%zu",
				    t->info.max_length);
		} else {
			t->info.max_length = 512;
			add_setting(t, "max_length", "default", "512");
		}
	}
	/* Segment embeddings: BERT has them (type_vocab_size 2), DistilBERT not. */
	if (mcfg) {
		const char *mt = NULL;

		sb_json_get_str(mcfg, "model_type", &mt, NULL);
		if (sb_json_get_int(mcfg, "type_vocab_size", &iv, NULL) == SB_OK && iv > 0) {
			t->info.has_token_types = 1;
			add_setting(t, "token_type_ids", "config.json (type_vocab_size)", "yes");
		} else if (mt && strcmp(mt, "bert") == 0) {
			t->info.has_token_types = 1;
			add_setting(t, "token_type_ids", "config.json (model_type bert)", "yes");
		} else {
			add_setting(t, "token_type_ids", "config.json (no type_vocab_size)",
				    "no (pairs only)");
		}
	} else {
		add_setting(t, "token_type_ids", "no config.json", "no (pairs only)");
	}
	/* ASCII fast path tables, consistent with put_raw(). */
	for (unsigned c = 0; c < 128; c++) {
		unsigned char k;

		if (is_white(c))
			k = (c == 0x0B || c == 0x0C) && t->info.clean_text ? AC_DROP : AC_SPACE;
		else if (t->info.clean_text && (c == 0 || (cp_flags(c) & CF_CTRL)))
			k = AC_DROP;
		else if (cp_flags(c) & CF_PUNCT)
			k = AC_PUNCT;
		else
			k = AC_WORD;
		t->ascii_class[c] = k;
		t->ascii_lower[c] = (unsigned char)((t->info.lowercase || t->info.st_lowercase) &&
						    c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	t->info.fingerprint = fingerprint(t);
	t->info.settings = t->settings;
	rc = SB_OK;
	goto done;
fail_file:
	goto fail;
fail:
	sb_tokenizer_close(&t);
done:
	free(l.e);
	sb_buf_destroy(&l.pool);
	sb_json_free(&tcfg);
	sb_json_free(&smap);
	sb_json_free(&stcfg);
	sb_json_free(&mcfg);
	free(tj);
	free(vt);
	*out = t;
	return rc;
}
