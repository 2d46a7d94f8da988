/*
 * tok_pretok.c - the regular expressions of the Split and ByteLevel pre-tokenizers,
 * compiled by hand: each pattern below is a function that returns the length of the
 * match at the start of a text, with the semantics of the Oniguruma regex engine that
 * Hugging Face tokenizers uses (alternatives tried in order, greedy quantifiers that
 * give back one character at a time).  For these patterns every character starts a
 * match, so a text is cut into consecutive matches and find-all is "match, advance".
 *
 * Only the patterns of real files are known (tokenizer.json names its regex; a file
 * with another one is refused at load):
 *   GPT-2 (ByteLevel's own; RoBERTa, GPT-2, ModernBERT):
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   Qwen2 / Qwen3:
 *     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 *     \s*[\r\n]+|\s+(?!\S)|\s+
 *   cl100k / Llama 3: as Qwen2 with \p{N}{1,3}.
 *
 * The character classes are Oniguruma's Unicode tables (its \s is White_Space), taken
 * from utf8proc; where Hugging Face's Oniguruma is of another Unicode version than
 * utf8proc the differences are listed below, found by tokenizing every code point with
 * both (tests/tools/tokenize-bpe-probe.sh).
 */
#include <string.h>

#include <utf8proc.h>

#include "tok_gen.h"
#include "tokenizer_impl.h"

/* ---- character classes ---- */

static const unsigned char ascii_class[128] = {
	['\t'] = TOK_CL_S, ['\n'] = TOK_CL_S | TOK_CL_CRLF, [0x0B] = TOK_CL_S, [0x0C] = TOK_CL_S,
	['\r'] = TOK_CL_S | TOK_CL_CRLF, [' '] = TOK_CL_S,
	['0'] = TOK_CL_N, ['1'] = TOK_CL_N, ['2'] = TOK_CL_N, ['3'] = TOK_CL_N, ['4'] = TOK_CL_N,
	['5'] = TOK_CL_N, ['6'] = TOK_CL_N, ['7'] = TOK_CL_N, ['8'] = TOK_CL_N, ['9'] = TOK_CL_N,
#define L2(a) [a] = TOK_CL_L, [a + 32] = TOK_CL_L
	L2('A'), L2('B'), L2('C'), L2('D'), L2('E'), L2('F'), L2('G'), L2('H'), L2('I'),
	L2('J'), L2('K'), L2('L'), L2('M'), L2('N'), L2('O'), L2('P'), L2('Q'), L2('R'),
	L2('S'), L2('T'), L2('U'), L2('V'), L2('W'), L2('X'), L2('Y'), L2('Z'),
#undef L2
};

int sb_tok_is_space(uint32_t c)
{
	if (c < 0x80)
		return c == ' ' || (c >= 0x09 && c <= 0x0D);
	return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
	       c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

unsigned sb_tok_class(uint32_t c)
{
	int k;

	if (c < 0x80)
		return ascii_class[c];
	if (sb_tok_is_space(c))
		return TOK_CL_S;
	k = utf8proc_get_property((utf8proc_int32_t)c)->category;
	if (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO)
		return TOK_CL_L;
	if (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO)
		return TOK_CL_N;
	return 0;
}

/*
 * Rust regex's \w (Unicode): Alphabetic, marks, decimal digits, connector punctuation
 * and Join_Control.  Alphabetic is the letters, letter numbers and Other_Alphabetic,
 * which is marks but for a few symbols (the circled and squared Latin letters).
 */
int sb_tok_is_word(uint32_t c)
{
	int k;

	if (c < 0x80)
		return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		       c == '_';
	if (c == 0x200C || c == 0x200D || (c >= 0x24B6 && c <= 0x24E9) ||
	    (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) ||
	    (c >= 0x1F170 && c <= 0x1F189))
		return 1;
	k = utf8proc_get_property((utf8proc_int32_t)c)->category;
	return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_ND) ||
	       k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_PC;
}

/* ---- reading the text ---- */

/* The character at p[i]: its class and length; 0 at the end of the text, or when the
 * text is cut there and more may come (then *more is set). */
struct rd {
	const unsigned char *p;
	size_t n;
	int final;
	int more;               /* a decision needed bytes past n */
};

static inline size_t char_at(struct rd *r, size_t i, uint32_t *c, unsigned *cls)
{
	size_t len;

	*c = 0;
	*cls = 0;
	if (i >= r->n) {
		if (!r->final)
			r->more = 1;
		return 0;
	}
	if (r->p[i] < 0x80) {
		*c = r->p[i];
		*cls = ascii_class[r->p[i]];
		return 1;
	}
	len = utf8_len(r->p[i]);
	if (i + len > r->n) {
		/* Only a stream cut inside a character: the text is valid UTF-8. */
		r->more = 1;
		return 0;
	}
	*c = utf8_decode(r->p + i, &len);
	*cls = sb_tok_class(*c);
	return len;
}

/* End of the run of characters of class bits want (exactly: cls & mask == want). */
static size_t run(struct rd *r, size_t i, unsigned mask, unsigned want)
{
	uint32_t c;
	unsigned cls;
	size_t len;

	for (;;) {
		/* ASCII characters without the checks of char_at(). */
		while (i < r->n && r->p[i] < 0x80 && (ascii_class[r->p[i]] & mask) == want)
			i++;
		if (i < r->n && r->p[i] < 0x80)
			return i;
		if (!(len = char_at(r, i, &c, &cls)) || (cls & mask) != want)
			return i;
		i += len;
	}
}

#define OTHER_MASK (TOK_CL_L | TOK_CL_N | TOK_CL_S)     /* class 0 under it: [^\s\p{L}\p{N}] */

/* \s+(?!\S) | \s+ at i (a white space character): the run, less its last character
 * when a non-space follows and the run has two or more. */
static size_t spaces(struct rd *r, size_t i)
{
	size_t j = run(r, i, TOK_CL_S, TOK_CL_S), last = j;

	if (r->more)
		return 0;
	if (j < r->n) {
		/* A non-space follows: back off one character if that leaves one. */
		last = j - 1;
		while (last > i && (r->p[last] & 0xC0) == 0x80)
			last--;
		if (last > i)
			return last;
	}
	return j;
}

/* 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive (Onig folds U+017F to 's'). */
static size_t contraction(struct rd *r, int fold)
{
	uint32_t c1, c2;
	unsigned k;
	size_t l1, l2;

	l1 = char_at(r, 1, &c1, &k);
	if (!l1)
		return 0;
	if (fold) {
		if (c1 == 0x17F)
			return 1 + l1;
		if (c1 < 0x80)
			c1 |= 0x20;
	}
	if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
		return 2;
	if (c1 != 'r' && c1 != 'v' && c1 != 'l')
		return 0;
	l2 = char_at(r, 2, &c2, &k);
	if (!l2)
		return 0;
	if (fold && c2 < 0x80)
		c2 |= 0x20;
	if ((c1 == 'l' && c2 == 'l') || (c1 != 'l' && c2 == 'e'))
		return 3;
	return 0;
}

static size_t match_gpt2(struct rd *r)
{
	uint32_t c0, c1;
	unsigned k0, k1 = 0;
	size_t l1 = 0, m;

	char_at(r, 0, &c0, &k0);
	if (c0 == '\'') {
		m = contraction(r, 0);
		if (m || r->more)
			return m;
	}
	if (c0 == ' ') {
		l1 = char_at(r, 1, &c1, &k1);
		if (r->more)
			return 0;
	}
	/* ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+' */
	if (l1 && (k1 == TOK_CL_L || k1 == TOK_CL_N || (k1 & OTHER_MASK) == 0)) {
		unsigned want = k1 & OTHER_MASK;

		m = run(r, 1, OTHER_MASK, want);
		return r->more ? 0 : m;
	}
	if (!(k0 & TOK_CL_S)) {
		m = run(r, 0, OTHER_MASK, k0 & OTHER_MASK);
		return r->more ? 0 : m;
	}
	return spaces(r, 0);
}

static size_t match_qwen(struct rd *r, int ndig)
{
	uint32_t c0, c1;
	unsigned k0, k1;
	size_t l0 = char_at(r, 0, &c0, &k0), l1, m;

	if (c0 == '\'') {
		m = contraction(r, 1);
		if (m || r->more)
			return m;
	}
	/* [^\r\n\p{L}\p{N}]?\p{L}+ */
	if (k0 & TOK_CL_L) {
		m = run(r, 0, TOK_CL_L, TOK_CL_L);
		return r->more ? 0 : m;
	}
	if (!(k0 & (TOK_CL_CRLF | TOK_CL_N))) {
		l1 = char_at(r, l0, &c1, &k1);
		if (r->more)
			return 0;
		if (l1 && (k1 & TOK_CL_L)) {
			m = run(r, l0, TOK_CL_L, TOK_CL_L);
			return r->more ? 0 : m;
		}
	}
	/* \p{N}{1,ndig} */
	if (k0 & TOK_CL_N) {
		size_t i = l0;

		for (int d = 1; d < ndig; d++) {
			size_t l = char_at(r, i, &c1, &k1);

			if (r->more)
				return 0;
			if (!l || !(k1 & TOK_CL_N))
				break;
			i += l;
		}
		return i;
	}
	/* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
	{
		size_t s = 0;

		if (c0 == ' ') {
			l1 = char_at(r, 1, &c1, &k1);
			if (r->more)
				return 0;
			if (l1 && !(k1 & OTHER_MASK))
				s = 1;
		}
		if (s || !(k0 & OTHER_MASK)) {
			m = run(r, s, OTHER_MASK, 0);
			m = run(r, m, TOK_CL_CRLF, TOK_CL_CRLF);
			return r->more ? 0 : m;
		}
	}
	/* \s*[\r\n]+: the white space run up to its last CR or LF. */
	{
		size_t j = run(r, 0, TOK_CL_S, TOK_CL_S), i;

		if (r->more)
			return 0;
		for (i = j; i > 0; i--)
			if (r->p[i - 1] == '\r' || r->p[i - 1] == '\n')
				return i;
	}
	return spaces(r, 0);
}

size_t sb_tok_pattern_match(enum tok_pattern pattern, const unsigned char *p, size_t n,
			    int final)
{
	struct rd r = {p, n, final, 0};
	size_t m;

	switch (pattern) {
	case TOK_PAT_GPT2:
		m = match_gpt2(&r);
		break;
	case TOK_PAT_QWEN2:
		m = match_qwen(&r, 1);
		break;
	case TOK_PAT_CL100K:
		m = match_qwen(&r, 3);
		break;
	default:
		m = n;
		break;
	}
	return r.more ? 0 : m;
}

static const struct {
	enum tok_pattern pattern;
	const char *name;
	const char *regex;
} patterns[] = {
	{TOK_PAT_GPT2, "gpt2",
	 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"},
	{TOK_PAT_QWEN2, "qwen2",
	 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
	 "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
	{TOK_PAT_CL100K, "cl100k",
	 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}"
	 "\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
};

const char *sb_tok_pattern_name(enum tok_pattern pattern)
{
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		if (patterns[i].pattern == pattern)
			return patterns[i].name;
	return "none";
}

enum tok_pattern sb_tok_pattern_find(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		if (strlen(patterns[i].regex) == n && memcmp(patterns[i].regex, s, n) == 0)
			return patterns[i].pattern;
	return TOK_PAT_NONE;
}
