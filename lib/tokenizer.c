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
#include "tok_gen.h"
#include "tokenizer.h"
#include "tokenizer_impl.h"

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

/* ---- encoding state ---- */

struct priv {
	const struct sb_tokenizer *t;
	char *word;                     /* normalized UTF-8 of the current word */
	size_t wlen, wcap;
	size_t wchars;                  /* code points in the word (also past wcap) */
	uint32_t last_ccc;              /* combining class of the last code point appended */
	struct tok_seq a, b;
	struct tok_seq *cur;
	struct tok_gen_state *gen;      /* the generic pipeline's state, or NULL */
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

static void seq_reset(struct tok_seq *s, size_t keep)
{
	s->n_kept = 0;
	s->n_total = 0;
	s->keep = keep;
	s->oom = 0;
}

void sb_tok_seq_grow(struct tok_seq *s)
{
	size_t nc = s->cap ? s->cap * 2 : 64;
	int32_t *p = realloc(s->ids, nc * sizeof(*p));

	if (!p) {
		s->oom = 1;
		return;
	}
	s->ids = p;
	s->cap = nc;
}

static inline void push_id(struct priv *st, int32_t id)
{
	tok_seq_push(st->cur, id);
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
	if (t->gen) {
		int rc = sb_tok_gen_state_new(&st->gen, t, err);

		if (rc) {
			free(st->word);
			free(st->pend);
			free(st);
			return rc;
		}
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
		sb_tok_gen_state_free(st->gen);
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
	if (st->gen)
		sb_tok_gen_begin(st->gen, &st->a, flags);
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
	if (st->gen) {
		uint64_t bad = 0, nr = 0;

		rc = sb_tok_gen_feed(st->gen, p, n, &bad, &nr, err);
		if (rc) {
			e->bad_offset = (size_t)bad;
			e->bad_in_b = st->in_b;
			st->started = 0;
		}
		return rc;
	}
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
	int rc;

	if (st->gen) {
		uint64_t bad = 0, nr = 0;

		rc = sb_tok_gen_end(st->gen, &bad, &nr, err);
		st->n_replaced += nr;
		if (rc) {
			e->bad_offset = (size_t)bad;
			e->bad_in_b = st->in_b;
			st->started = 0;
		}
		return rc;
	}
	rc = run_text(st, st->pend, st->pend_len, 1, &c, err);

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
	if (st->gen)
		sb_tok_gen_begin(st->gen, &st->b, st->flags);
	return SB_OK;
}

/*
 * Longest-first truncation of a pair of la and lb tokens to budget, as
 * utils/truncation.rs does it: with n1 <= n2, n2 = max(n1, budget - n1); if still
 * over, n1 = budget / 2 and n2 = n1 + budget % 2.  *ka and *kb: the tokens kept.
 */
static void longest_first(uint64_t la, uint64_t lb, size_t budget, size_t *ka, size_t *kb)
{
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
	*ka = (size_t)(n1 < la ? n1 : la);
	*kb = (size_t)(n2 < lb ? n2 : lb);
}

/* How many of the texts' la and lb tokens fit the budget (*ka, *kb: at most the kept
 * ones on entry); an error when only_first or only_second cannot make them fit. */
static int truncate_pair(const struct priv *st, int pair, uint64_t la, uint64_t lb,
			 size_t budget, size_t *ka, size_t *kb, struct sb_error *err)
{
	enum sb_trunc trunc = st->trunc;
	uint64_t rm = la + lb - budget, tl;

	if (!pair) {
		*ka = budget;
		return SB_OK;
	}
	if (trunc == SB_TRUNC_LONGEST_FIRST) {
		longest_first(la, lb, budget, ka, kb);
		return SB_OK;
	}
	tl = trunc == SB_TRUNC_ONLY_FIRST ? la : lb;
	if (tl <= rm)
		return sb_error_set(err, SB_EINVAL, "truncation %s: sequence %s has %llu tokens, "
				    "%llu must go to fit max length %zu", sb_trunc_name(trunc),
				    trunc == SB_TRUNC_ONLY_FIRST ? "a" : "b",
				    (unsigned long long)tl, (unsigned long long)rm,
				    st->t->info.max_length);
	if (trunc == SB_TRUNC_ONLY_FIRST)
		*ka = (size_t)(la - rm);
	else
		*kb = (size_t)(lb - rm);
	return SB_OK;
}

/* The ids of the texts alone (SB_TOKENIZER_NO_SPECIAL), with the template's type ids. */
static void emit_plain(struct sb_tokenizer_enc *e, const struct priv *st, const struct tpl *tp,
		       size_t ka, size_t kb)
{
	/* The texts' type ids are still the template's (RoBERTa: 0 for both). */
	uint8_t ta = 0, tb = 1;

	for (size_t i = 0; i < tp->n; i++) {
		if (tp->items[i].kind == TPL_A)
			ta = tp->items[i].type_id;
		else if (tp->items[i].kind == TPL_B)
			tb = tp->items[i].type_id;
	}
	if (ka)
		memcpy(e->ids, st->a.ids, ka * sizeof(int32_t));
	memset(e->type_ids, ta, ka);
	if (kb) {
		memcpy(e->ids + ka, st->b.ids, kb * sizeof(int32_t));
		memset(e->type_ids + ka, tb, kb);
	}
	e->n = ka + kb;
}

/* The template filled: its special tokens, and the kept ids of a and b in their places. */
static void emit_template(struct sb_tokenizer_enc *e, const struct priv *st,
			  const struct tpl *tp, size_t ka, size_t kb)
{
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
	if (trunc != SB_TRUNC_NONE && la + lb > budget &&
	    (rc = truncate_pair(st, pair, la, lb, budget, &ka, &kb, err)))
		return rc;
	/* The kept ids are a prefix of what was stored (keep >= max_length). */
	assert(ka <= st->a.n_kept && kb <= (pair ? st->b.n_kept : 0));
	n_out = ka + kb + n_spec;
	rc = out_reserve(e, st, n_out ? n_out : 1, err);
	if (rc)
		return rc;
	if (st->flags & SB_TOKENIZER_NO_SPECIAL)
		emit_plain(e, st, tp, ka, kb);
	else
		emit_template(e, st, tp, ka, kb);
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

/* ---- the vocabulary, seen from outside ---- */

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
	if (id >= 0 && (size_t)id < t->n_ids && t->id_tok[id])
		return t->id_tok[id];
	/* Added tokens outside the model's vocabulary (Qwen's <|im_start|>...). */
	for (size_t k = 0; k < t->n_added; k++)
		if (t->added[k].id == id)
			return t->added[k].s;
	return NULL;
}

const char *sb_tokenizer_utf8proc_version(void)
{
	return utf8proc_version();
}

void sb_tokenizer_set_ascii(struct sb_tokenizer *t)
{
	/* Consistent with put_raw(). */
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
}
