/*
 * tok_scan.c - the two big members of a tokenizer.json, model.vocab and model.merges,
 * read from the text without building a JSON tree (tokenizer_impl.h: struct tok_doc),
 * and the parsers of their values: BPE vocabularies, Unigram's [piece, score] lists,
 * merges in both JSON forms.  The rest of the document goes to lib/json.c; the loaders
 * that use these values are in tok_json.c.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "buf.h"
#include "internal.h"
#include "json.h"
#include "tok_gen.h"
#include "tokenizer.h"
#include "tokenizer_impl.h"

#define JF "tokenizer.json"

/* Splits a merges.txt-style line "a b" at its only space. */
int sb_tok_split_merge(const char *s, size_t n, size_t *at)
{
	const char *sp = memchr(s, ' ', n);

	if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp - s) - 1))
		return -1;
	*at = (size_t)(sp - s);
	return 0;
}

/* ---- the two big members, read without building a tree ---- */

/*
 * model.vocab and model.merges hold nearly all of a tokenizer.json (Qwen3's: 151,643
 * entries and 151,387 merges in 11 MB); a tree of them costs more time and memory than
 * the tokenizer itself.  sb_tok_doc_read() finds their values in the text, hands the
 * rest of the document (with those values blanked to {} and [] padded with spaces, so
 * that byte offsets in messages stay right) to the JSON reader, and the loaders read
 * the two values directly from the text with the same rules as lib/json.c: strings of
 * valid UTF-8 without raw control characters, escapes and surrogate pairs checked,
 * integers without leading zeros.
 */
struct scan {
	const unsigned char *s;
	size_t n, pos;
	const char *what;               /* "tokenizer.json: model.vocab" */
	struct sb_error *err;
};

#ifdef __SSE2__
/* The bits of the 16 bytes at p that are not JSON white space. */
static inline unsigned not_ws16(const unsigned char *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)p);
	__m128i ws = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')),
					       _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))),
				  _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\t')),
					       _mm_cmpeq_epi8(v, _mm_set1_epi8('\r'))));

	return ~(unsigned)_mm_movemask_epi8(ws) & 0xFFFF;
}

/* The bits of the 16 bytes at p that end a run of plain string bytes: the quote, the
 * backslash, control characters and bytes from 0x80 (negative as signed bytes). */
static inline unsigned not_plain16(const unsigned char *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)p);
	__m128i x = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
					      _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
				 _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));

	return (unsigned)_mm_movemask_epi8(x);
}

/* The bits of the 16 bytes at p that end a merge's string read unchecked: the quote,
 * the backslash and control characters. */
static inline unsigned string_stop16(const unsigned char *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)p);
	__m128i x = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
					      _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
				 _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v));

	return (unsigned)_mm_movemask_epi8(x);
}
#endif

/* Skips white space.  Files written by Hugging Face are indented: half of Qwen3's 11 MB
 * are runs of a newline and spaces, taken sixteen bytes at a time. */
static void sws_run(struct scan *c)
{
	size_t i = c->pos;

#ifdef __SSE2__
	while (c->n - i >= 16) {
		unsigned m = not_ws16(c->s + i);

		if (m) {
			c->pos = i + (size_t)__builtin_ctz(m);
			return;
		}
		i += 16;
	}
#endif
	while (i < c->n && (c->s[i] == ' ' || c->s[i] == '\n' || c->s[i] == '\t' ||
			    c->s[i] == '\r'))
		i++;
	c->pos = i;
}

/* Most calls find no white space: that test is inline. */
static inline void sws(struct scan *c)
{
	if (c->pos < c->n && c->s[c->pos] <= ' ')
		sws_run(c);
}

static int sfail(struct scan *c, const char *msg)
{
	return sb_error_set(c->err, SB_EFORMAT, "%s: byte %zu: %s", c->what, c->pos, msg);
}

/* Takes ch (white space around it skipped): 1 when it was there, 0 when not. */
static int stake(struct scan *c, char ch)
{
	sws(c);
	if (c->pos >= c->n || c->s[c->pos] != (unsigned char)ch)
		return 0;
	c->pos++;
	sws(c);
	return 1;
}

/* Takes ch, or fails with msg. */
static int sexpect(struct scan *c, char ch, const char *msg)
{
	return stake(c, ch) ? SB_OK : sfail(c, msg);
}

/*
 * A container, one item at a time: sopen takes the opening '[' or '{' (or fails with
 * msg) and sets *more when an item follows; after each item, snext takes ',' (1:
 * another item) or the closing bracket (0: done).  sdone: nothing but white space
 * after the value.
 */
static int sopen(struct scan *c, char open, const char *msg, int *more)
{
	if (!stake(c, open))
		return sfail(c, msg);
	*more = !stake(c, open == '[' ? ']' : '}');
	return SB_OK;
}

static int snext(struct scan *c, char close)
{
	if (stake(c, ','))
		return 1;
	if (stake(c, close))
		return 0;
	return sfail(c, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
}

static int sdone(struct scan *c)
{
	sws(c);
	return c->pos == c->n ? SB_OK : sfail(c, "trailing characters");
}

static int hexval(const unsigned char *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned h = p[i];

		if (h >= '0' && h <= '9')
			h -= '0';
		else if ((h | 0x20) >= 'a' && (h | 0x20) <= 'f')
			h = (h | 0x20) - 'a' + 10;
		else
			return -1;
		*v = *v << 4 | h;
	}
	return 0;
}

/* Decodes the string whose quote is at c->pos into out (emptied first). */
static int sstring(struct scan *c, struct sb_buf *out)
{
	size_t i;
	int rc;

	out->len = 0;
	if (c->pos >= c->n || c->s[c->pos] != '"')
		return sfail(c, "expected a string");
	i = c->pos + 1;
	for (;;) {
		size_t run = i;
		unsigned ch;

		/* The plain ASCII run first. */
		while (run < c->n && c->s[run] >= 0x20 && c->s[run] < 0x80 && c->s[run] != '"' &&
		       c->s[run] != '\\')
			run++;
		if (run > i && (rc = sb_buf_append(out, c->s + i, run - i, c->err)))
			return rc;
		i = run;
		if (i >= c->n) {
			c->pos = i;
			return sfail(c, "unterminated string");
		}
		ch = c->s[i];
		if (ch == '"')
			break;
		if (ch < 0x20) {
			c->pos = i;
			return sfail(c, "control character in string");
		}
		if (ch >= 0x80) {
			uint32_t cp;
			int k = get_utf8(c->s + i, c->n - i, &cp);

			if (k < 0) {
				c->pos = i;
				return sfail(c, "invalid utf-8 in string");
			}
			if ((rc = sb_buf_append(out, c->s + i, (size_t)k, c->err)))
				return rc;
			i += (size_t)k;
			continue;
		}
		/* An escape. */
		{
			char o[4];
			size_t k = 1;
			unsigned cp, lo;

			if (i + 1 >= c->n) {
				c->pos = i;
				return sfail(c, "unterminated string");
			}
			switch (c->s[i + 1]) {
			case '"': o[0] = '"'; break;
			case '\\': o[0] = '\\'; break;
			case '/': o[0] = '/'; break;
			case 'b': o[0] = '\b'; break;
			case 'f': o[0] = '\f'; break;
			case 'n': o[0] = '\n'; break;
			case 'r': o[0] = '\r'; break;
			case 't': o[0] = '\t'; break;
			case 'u':
				c->pos = i;
				if (c->n - i < 6 || hexval(c->s + i + 2, &cp))
					return sfail(c, "invalid \\u escape in string");
				if (cp >= 0xDC00 && cp <= 0xDFFF)
					return sfail(c, "lone low surrogate in string");
				if (cp >= 0xD800 && cp <= 0xDBFF) {
					if (c->n - i < 12 || c->s[i + 6] != '\\' || c->s[i + 7] != 'u' ||
					    hexval(c->s + i + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF)
						return sfail(c, "lone high surrogate in string");
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					i += 6;
				}
				k = put_utf8(o, cp);
				i += 4;
				break;
			default:
				c->pos = i;
				return sfail(c, "invalid escape in string");
			}
			if ((rc = sb_buf_append(out, o, k, c->err)))
				return rc;
			i += 2;
		}
	}
	c->pos = i + 1;
	return SB_OK;
}

/* Bytes that a string holds as themselves: printable ASCII but the quote and backslash. */
static const unsigned char plain_ascii[256] = {
	[0x20] = 1, [0x21] = 1, [0x23 ... 0x5B] = 1, [0x5D ... 0x7F] = 1,
};

/*
 * The string whose quote is at c->pos, as *p, *n: in place in the text when it holds
 * no escape (the keys and merges of a vocabulary, nearly always), else decoded into
 * tmp by sstring(), which also words the message of a bad string.  *p is valid until
 * the text or tmp changes.
 */
static int sview(struct scan *c, struct sb_buf *tmp, const unsigned char **p, size_t *n)
{
	const unsigned char *s = c->s;
	size_t i = c->pos + 1;
	int rc;

	if (c->pos < c->n && s[c->pos] == '"') {
		for (;;) {
			uint32_t cp;
			int k;

#ifdef __SSE2__
			while (c->n - i >= 16) {
				unsigned m = not_plain16(s + i);

				if (m) {
					i += (size_t)__builtin_ctz(m);
					break;
				}
				i += 16;
			}
#endif
			while (i < c->n && plain_ascii[s[i]])
				i++;
			if (i >= c->n)
				break;
			if (s[i] == '"') {
				*p = s + c->pos + 1;
				*n = i - c->pos - 1;
				c->pos = i + 1;
				return SB_OK;
			}
			if (s[i] < 0x80 || (k = get_utf8(s + i, c->n - i, &cp)) < 0)
				break;
			i += (size_t)k;
		}
	}
	rc = sstring(c, tmp);
	*p = tmp->data;
	*n = tmp->len;
	return rc;
}

/*
 * A merge's string at c->pos, as sview() gives it but without checking its bytes from
 * 0x80 as UTF-8: the strings of a merge are looked up in the vocabulary, whose keys
 * were checked, so a string found there is valid; a merge that fails is read again by
 * sb_tok_merges_parse(), which words the error (an invalid string's too).  Quotes,
 * backslashes and control characters are ASCII: a string that holds an escape or a
 * control character goes to sview().
 */
static int sview_merge(struct scan *c, struct sb_buf *tmp, const unsigned char **p, size_t *n)
{
	const unsigned char *s = c->s;
	size_t i = c->pos + 1;

	if (c->pos >= c->n || s[c->pos] != '"')
		return sview(c, tmp, p, n);
#ifdef __SSE2__
	while (c->n - i >= 16) {
		unsigned m = string_stop16(s + i);

		if (m) {
			i += (size_t)__builtin_ctz(m);
			goto stop;
		}
		i += 16;
	}
#endif
	while (i < c->n && s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')
		i++;
#ifdef __SSE2__
stop:
#endif
	if (i >= c->n || s[i] != '"')
		return sview(c, tmp, p, n);
	*p = s + c->pos + 1;
	*n = i - c->pos - 1;
	c->pos = i + 1;
	return SB_OK;
}

/* An integer (JSON syntax, no fraction or exponent) into *v. */
static int sint(struct scan *c, int64_t *v)
{
	size_t i = c->pos;
	int neg = 0;
	uint64_t m = 0;

	if (i < c->n && c->s[i] == '-') {
		neg = 1;
		i++;
	}
	if (i >= c->n || c->s[i] < '0' || c->s[i] > '9')
		return sfail(c, "expected an integer id");
	if (c->s[i] == '0' && i + 1 < c->n && c->s[i + 1] >= '0' && c->s[i + 1] <= '9')
		return sfail(c, "invalid number: leading zero");
	while (i < c->n && c->s[i] >= '0' && c->s[i] <= '9') {
		if (m > (UINT64_C(1) << 62))
			return sfail(c, "number out of range");
		m = m * 10 + (uint64_t)(c->s[i++] - '0');
	}
	if (i < c->n && (c->s[i] == '.' || c->s[i] == 'e' || c->s[i] == 'E'))
		return sfail(c, "expected an integer id");
	c->pos = i;
	*v = neg ? -(int64_t)m : (int64_t)m;
	return SB_OK;
}

/* A JSON number into *v (a score: finite, at most 63 characters written). */
static int snum(struct scan *c, double *v)
{
	size_t i = c->pos, start = c->pos;
	char buf[64];

	if (i < c->n && c->s[i] == '-')
		i++;
	if (i >= c->n || c->s[i] < '0' || c->s[i] > '9')
		return sfail(c, "expected a number");
	if (c->s[i] == '0' && i + 1 < c->n && c->s[i + 1] >= '0' && c->s[i + 1] <= '9')
		return sfail(c, "invalid number: leading zero");
	while (i < c->n && c->s[i] >= '0' && c->s[i] <= '9')
		i++;
	if (i < c->n && c->s[i] == '.') {
		if (++i >= c->n || c->s[i] < '0' || c->s[i] > '9')
			return sfail(c, "invalid number: no digit after '.'");
		while (i < c->n && c->s[i] >= '0' && c->s[i] <= '9')
			i++;
	}
	if (i < c->n && (c->s[i] == 'e' || c->s[i] == 'E')) {
		if (++i < c->n && (c->s[i] == '+' || c->s[i] == '-'))
			i++;
		if (i >= c->n || c->s[i] < '0' || c->s[i] > '9')
			return sfail(c, "invalid number: no digit in exponent");
		while (i < c->n && c->s[i] >= '0' && c->s[i] <= '9')
			i++;
	}
	if (i - start >= sizeof(buf))
		return sfail(c, "number too long");
	memcpy(buf, c->s + start, i - start);
	buf[i - start] = 0;
	*v = strtod(buf, NULL);
	if (!isfinite(*v))
		return sfail(c, "number out of range");
	c->pos = i;
	return SB_OK;
}

/* The bytes that end a number or literal. */
static inline int delim(unsigned char ch)
{
	return ch == ',' || ch == '}' || ch == ']' || ch == ' ' || ch == '\n' || ch == ':' ||
	       ch == '"' || ch == '{' || ch == '[' || ch == '\t' || ch == '\r';
}

/* Skips one value (to find where it ends); nesting is bounded. */
static int sskip(struct scan *c)
{
	size_t depth = 0;

	for (;;) {
		sws(c);
		if (c->pos >= c->n)
			return sfail(c, "unexpected end");
		switch (c->s[c->pos]) {
		case '{':
		case '[':
			if (++depth > SB_JSON_DEFAULT_MAX_DEPTH)
				return sfail(c, "nesting too deep");
			c->pos++;
			continue;
		case '}':
		case ']':
			if (!depth)
				return sfail(c, "unexpected close");
			depth--;
			c->pos++;
			break;
		case '"': {
			/* The next quote not escaped. */
			const unsigned char *q = c->s + c->pos + 1, *e = c->s + c->n;

			/* Strings are short: a loop beats a call to memchr. */
			for (;;) {
				while (q < e && *q != '"' && *q != '\\')
					q++;
				if (q >= e || *q == '"')
					break;
				q += 2;
			}
			if (q >= e) {
				c->pos = c->n;
				return sfail(c, "unterminated string");
			}
			c->pos = (size_t)(q - c->s) + 1;
			break;
		}
		case ',':
		case ':':
			c->pos++;
			continue;
		default:
			while (c->pos < c->n && !delim(c->s[c->pos]))
				c->pos++;
			break;
		}
		if (!depth)
			return SB_OK;
	}
}

/* Adds merge (a, b) to d->merge_views: -1 when it cannot (out of memory, too long). */
static int view_push(struct tok_doc *d, size_t *cap, const unsigned char *pa, size_t na,
		     int deca, const unsigned char *pb, size_t nb, int decb)
{
	const unsigned char *base = d->text.data;
	struct tok_merge_view *v;

	if (na > MAX_TOKEN_BYTES || nb > MAX_TOKEN_BYTES || d->n_merge_views >= MAX_MERGES)
		return -1;
	if (d->n_merge_views == *cap) {
		size_t nc = *cap ? 2 * *cap : 4096;

		if (!(v = realloc(d->merge_views, nc * sizeof(*v))))
			return -1;
		d->merge_views = v;
		*cap = nc;
	}
	v = &d->merge_views[d->n_merge_views++];
	v->a = deca ? (uint32_t)(pa - d->merge_text.data) : (uint32_t)(pa - base);
	v->b = decb ? (uint32_t)(pb - d->merge_text.data) : (uint32_t)(pb - base);
	v->na = (uint32_t)na | (deca ? MERGE_DECODED : 0);
	v->nb = (uint32_t)nb | (decb ? MERGE_DECODED : 0);
	return 0;
}

/* Keeps a string that sview() decoded into tmp: appended to d->merge_text, *p moved
 * there.  -1 when out of memory. */
static int keep_decoded(struct tok_doc *d, const struct sb_buf *tmp, const unsigned char **p,
			size_t n)
{
	size_t at = d->merge_text.len;

	if (*p != tmp->data)
		return 0;
	if (sb_buf_append(&d->merge_text, tmp->data, n, NULL))
		return -1;
	*p = d->merge_text.data + at;
	return 1;
}

/*
 * Reads the merges array at c->pos into d->merge_views while locating it: the array is
 * most of the file, and reading it once instead of skipping it and then reading it
 * spares a pass.  Returns -1 (d's views dropped, c->pos left for sskip()) on anything
 * but plain well-formed merges: sb_tok_merges_parse() then reads the text and words the
 * error.  Offsets into merge_text are resolved by the loader, after the last append.
 */
static int merges_collect(struct scan *c, struct tok_doc *d)
{
	size_t start = c->pos, cap = 0;
	struct sb_buf ta, tb;
	int more = 0, rc = -1;

	sb_buf_init(&ta);
	sb_buf_init(&tb);
	if (sopen(c, '[', "", &more))
		goto out;
	while (more > 0) {
		const unsigned char *pa, *pb;
		size_t na, nb, at;
		int da, db;

		if (c->pos < c->n && c->s[c->pos] == '"') {
			if (sview_merge(c, &ta, &pa, &na) ||
			    (da = keep_decoded(d, &ta, &pa, na)) < 0 ||
			    sb_tok_split_merge((const char *)pa, na, &at))
				goto out;
			pb = pa + at + 1;
			nb = na - at - 1;
			na = at;
			db = da;
		} else if (stake(c, '[')) {
			if (sview_merge(c, &ta, &pa, &na) ||
			    (da = keep_decoded(d, &ta, &pa, na)) < 0 ||
			    !stake(c, ',') || sview_merge(c, &tb, &pb, &nb) ||
			    (db = keep_decoded(d, &tb, &pb, nb)) < 0 || !stake(c, ']'))
				goto out;
		} else {
			goto out;
		}
		if (view_push(d, &cap, pa, na, da, pb, nb, db))
			goto out;
		more = snext(c, ']');
	}
	rc = more < 0 ? -1 : 0;
out:
	if (rc) {
		free(d->merge_views);
		d->merge_views = NULL;
		d->n_merge_views = 0;
		sb_buf_destroy(&d->merge_text);
		sb_buf_init(&d->merge_text);
		c->pos = start;
	}
	sb_buf_destroy(&ta);
	sb_buf_destroy(&tb);
	return rc;
}

static int vocab_collect(struct scan *c, struct tok_doc *d);

/* Finds the spans of model.vocab (an object, or an array for Unigram) and model.merges
 * (an array); a document
 * it cannot follow is left whole to the JSON reader, which says what is wrong. */
static void locate(struct tok_doc *d)
{
	struct scan c = {d->text.data, d->text.len, 0, "", NULL};
	struct sb_buf key;
	int in_model = 0, seen_model = 0;

	sb_buf_init(&key);
	sws(&c);
	if (c.pos >= c.n || c.s[c.pos] != '{')
		goto out;
	c.pos++;
	for (;;) {
		sws(&c);
		if (c.pos < c.n && c.s[c.pos] == '}') {
			if (!in_model)
				goto out;
			in_model = 0;
			c.pos++;
			sws(&c);
			if (c.pos < c.n && c.s[c.pos] == ',')
				c.pos++;
			continue;
		}
		if (sstring(&c, &key))
			goto out;
		sws(&c);
		if (c.pos >= c.n || c.s[c.pos] != ':')
			goto out;
		c.pos++;
		sws(&c);
		if (c.pos >= c.n)
			goto out;
		if (!in_model && !seen_model && key.len == 5 && memcmp(key.data, "model", 5) == 0 &&
		    c.s[c.pos] == '{') {
			in_model = seen_model = 1;
			c.pos++;
			continue;
		}
		if (in_model && key.len == 5 && memcmp(key.data, "vocab", 5) == 0 &&
		    (c.s[c.pos] == '{' || c.s[c.pos] == '[') && !d->vocab_len) {
			d->vocab_off = c.pos;
			if ((c.s[c.pos] != '{' || vocab_collect(&c, d)) && sskip(&c))
				goto fail;
			d->vocab_len = c.pos - d->vocab_off;
		} else if (in_model && key.len == 6 && memcmp(key.data, "merges", 6) == 0 &&
			   c.s[c.pos] == '[' && !d->merges_len) {
			d->merges_off = c.pos;
			if (merges_collect(&c, d) && sskip(&c))
				goto fail;
			d->merges_len = c.pos - d->merges_off;
		} else if (sskip(&c)) {
			goto fail;
		}
		sws(&c);
		if (c.pos < c.n && c.s[c.pos] == ',')
			c.pos++;
	}
fail:
	d->vocab_len = d->merges_len = 0;
	free(d->merge_views);
	d->merge_views = NULL;
	d->n_merge_views = 0;
	sb_tok_list_free(d->vocab_list);
	free(d->vocab_list);
	d->vocab_list = NULL;
out:
	sb_buf_destroy(&key);
}

/* Parses the text of d but for the spans of model.vocab and model.merges found (cut
 * to {} and []) into d->root.  Hugging Face writes model last, so byte offsets in the
 * JSON reader's messages rarely move. */
static int parse_rest(struct tok_doc *d, const char *path, struct sb_error *err)
{
	struct sb_buf rest;
	size_t at = 0;
	int rc;

	sb_buf_init(&rest);
	if ((rc = sb_buf_reserve(&rest, d->text.len + 4, err)))
		goto out;
	if (d->vocab_len) {
		sb_buf_append(&rest, d->text.data, d->vocab_off, NULL);
		sb_buf_append(&rest, d->text.data[d->vocab_off] == '[' ? "[]" : "{}", 2, NULL);
		at = d->vocab_off + d->vocab_len;
	}
	if (d->merges_len) {
		sb_buf_append(&rest, d->text.data + at, d->merges_off - at, NULL);
		sb_buf_append(&rest, "[]", 2, NULL);
		at = d->merges_off + d->merges_len;
	}
	sb_buf_append(&rest, d->text.data + at, d->text.len - at, NULL);
	rc = sb_json_parse((const char *)rest.data, rest.len, 0, 0, &d->root, err);
	if (rc)
		sb_error_prefix(err, "%s: ", path);
out:
	sb_buf_destroy(&rest);
	return rc;
}

int sb_tok_doc_read(struct tok_doc *d, const char *path, struct sb_error *err)
{
	int rc;

	memset(d, 0, sizeof(*d));
	sb_buf_init(&d->merge_text);
	if ((rc = sb_file_map(path, MAX_TOKENIZER_JSON, &d->text, err)))
		return rc;
	locate(d);
	if (d->vocab_len && d->merges_len && d->merges_off < d->vocab_off) {
		d->vocab_len = d->merges_len = 0;       /* not Hugging Face's order: whole */
		d->n_merge_views = 0;
		sb_tok_list_free(d->vocab_list);
		free(d->vocab_list);
		d->vocab_list = NULL;
	}
	return parse_rest(d, path, err);
}

/* Whether s[off..off+len) can be a value that opens with open and closes with close
 * (the white space after it may be in the span). */
static int span_ok(const struct sb_file_view *v, size_t off, size_t len, char open, char close)
{
	if (len < 2 || off >= v->len || len > v->len - off || v->data[off] != open)
		return 0;
	while (len > 1 && (v->data[off + len - 1] == ' ' || v->data[off + len - 1] == '\n' ||
			   v->data[off + len - 1] == '\t' || v->data[off + len - 1] == '\r'))
		len--;
	return v->data[off + len - 1] == close;
}

int sb_tok_doc_read_spans(struct tok_doc *d, const char *path, uint64_t size,
			  const size_t span[4], struct sb_error *err)
{
	memset(d, 0, sizeof(*d));
	sb_buf_init(&d->merge_text);
	if (sb_file_map(path, MAX_TOKENIZER_JSON, &d->text, err))
		return -1;
	if (d->text.len != size || !span_ok(&d->text, span[0], span[1], '{', '}') ||
	    !span_ok(&d->text, span[2], span[3], '[', ']') || span[0] + span[1] > span[2])
		return -1;
	d->vocab_off = span[0];
	d->vocab_len = span[1];
	d->merges_off = span[2];
	d->merges_len = span[3];
	return parse_rest(d, path, err) ? -1 : 0;
}

void sb_tok_doc_free(struct tok_doc *d)
{
	sb_json_free(&d->root);
	sb_file_unmap(&d->text);
	free(d->merge_views);
	sb_buf_destroy(&d->merge_text);
	sb_tok_list_free(d->vocab_list);
	free(d->vocab_list);
}

/* The entries of the object at c->pos ("token": id, ...) into l, c->pos past it. */
static int vocab_entries(struct scan *c, struct tok_list *l, const char *what)
{
	struct sb_buf key;
	int rc, more = 0;

	sb_buf_init(&key);
	if ((rc = sopen(c, '{', "expected an object", &more)))
		goto out;
	while (more > 0) {
		int64_t id = 0;
		const unsigned char *kp;
		size_t kn;

		if ((rc = sview(c, &key, &kp, &kn)) || (rc = sexpect(c, ':', "expected ':'")))
			goto out;
		if (sint(c, &id)) {
			char shown[61];
			size_t k = kn < 60 ? kn : 60;

			/* The key as one printable line. */
			for (size_t j = 0; j < k; j++)
				shown[j] = kp[j] < 0x20 || kp[j] == 0x7f ? '?' : (char)kp[j];
			shown[k] = 0;
			rc = sb_error_set(c->err, SB_EFORMAT, "%s['%s']: expected an integer id",
					  what, shown);
			goto out;
		}
		if ((rc = sb_tok_list_add(l, (const char *)kp, kn, id, what, c->err)))
			goto out;
		more = snext(c, '}');
	}
	rc = more < 0 ? more : SB_OK;
out:
	sb_buf_destroy(&key);
	return rc;
}

/* Room in l for the object of n bytes of text: bounds from the text, up to a point (the
 * list grows past it): an entry takes 5 bytes at least ("":0,), and a key's bytes and
 * its NUL fit in its text and quotes. */
static int vocab_reserve(struct tok_list *l, size_t n, struct sb_error *err)
{
	return sb_tok_list_reserve(l, n / 5 + 1 < 1 << 19 ? n / 5 + 1 : 1 << 19,
				   n < (size_t)32 << 20 ? n : (size_t)32 << 20, err);
}

int sb_tok_vocab_parse(const unsigned char *s, size_t n, struct tok_list *l, const char *what,
		       struct sb_error *err)
{
	struct scan c = {s, n, 0, what, err};
	int rc;

	if ((rc = vocab_reserve(l, n, err)))
		return sb_error_prefix(err, "%s: ", what);
	if ((rc = vocab_entries(&c, l, what)))
		return rc;
	return sdone(&c);
}

void sb_tok_list_free(struct tok_list *l)
{
	if (!l)
		return;
	free(l->e);
	sb_buf_destroy(&l->pool);
	memset(l, 0, sizeof(*l));
}

/*
 * Reads the vocabulary object at c->pos into d->vocab_list while locating it, as
 * merges_collect() does the merges.  Returns -1 (nothing kept, c->pos left for sskip())
 * on any problem: sb_tok_doc_vocab() then reads the text and words the error.
 */
static int vocab_collect(struct scan *c, struct tok_doc *d)
{
	size_t start = c->pos;
	struct sb_error err = {0};
	struct scan v = {c->s, c->n, c->pos, "", &err};
	struct tok_list *l = calloc(1, sizeof(*l));

	if (!l)
		return -1;
	sb_buf_init(&l->pool);
	/* The text's bound on its size: what remains of the file. */
	if (vocab_reserve(l, c->n - start, &err) || vocab_entries(&v, l, "")) {
		sb_tok_list_free(l);
		free(l);
		c->pos = start;
		return -1;
	}
	c->pos = v.pos;
	d->vocab_list = l;
	return 0;
}

int sb_tok_doc_vocab(const struct tok_doc *doc, struct tok_list *l, const char *what,
		     struct sb_error *err)
{
	if (doc->vocab_list && !l->n) {
		struct tok_list tmp = *l;

		*l = *doc->vocab_list;
		*doc->vocab_list = tmp;
		return SB_OK;
	}
	if (!doc->vocab_len)
		return SB_OK;
	return sb_tok_vocab_parse(doc->text.data + doc->vocab_off, doc->vocab_len, l, what, err);
}

/* Appends score v for the next id to *scores (grown by doubling). */
static int push_score(double **scores, size_t n, double v, struct sb_error *err)
{
	if (!(n & (n - 1)) || !n) {
		double *d = realloc(*scores, (n ? 2 * n : 1024) * sizeof(**scores));

		if (!d)
			return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
		*scores = d;
	}
	(*scores)[n] = v;
	return SB_OK;
}

/*
 * Unigram's vocabulary, the array s[0..n) of [piece, score] pairs: the pieces go to l
 * with their index as id, the scores to *scores (malloc'd, [l->n]).
 */
int sb_tok_unigram_vocab_parse(const unsigned char *s, size_t n, struct tok_list *l,
			       double **scores, struct sb_error *err)
{
	struct scan c = {s, n, 0, JF ": model.vocab", err};
	struct sb_buf key;
	int rc, more = 0;

	sb_buf_init(&key);
	if ((rc = sopen(&c, '[', "expected an array", &more)))
		goto out;
	while (more > 0) {
		double v = 0;

		if ((rc = sexpect(&c, '[', "expected [piece, score]")) ||
		    (rc = sstring(&c, &key)) ||
		    (rc = sexpect(&c, ',', "expected [piece, score]")) ||
		    (rc = snum(&c, &v)) ||
		    (rc = sexpect(&c, ']', "expected [piece, score]")))
			goto out;
		if ((rc = sb_tok_list_add(l, (const char *)key.data, key.len, (int64_t)l->n,
					  JF ": model.vocab", err)) ||
		    (rc = push_score(scores, l->n - 1, v, err)))
			goto out;
		more = snext(&c, ']');
	}
	rc = more < 0 ? more : sdone(&c);
out:
	sb_buf_destroy(&key);
	return rc;
}

/* The same from the tree (a document the text scan could not follow). */
int sb_tok_unigram_vocab_tree(const struct sb_json *vocab, struct tok_list *l, double **scores,
			      struct sb_error *err)
{
	int rc;

	for (size_t i = 0; i < vocab->n_items; i++) {
		const struct sb_json *e = &vocab->items[i];

		if (e->type != SB_JSON_ARRAY || e->n_items != 2 ||
		    e->items[0].type != SB_JSON_STRING || e->items[1].type != SB_JSON_NUMBER)
			return sb_error_set(err, SB_EFORMAT, JF ": model.vocab[%zu]: expected [piece, "
					    "score]", i);
		if ((rc = sb_tok_list_add(l, e->items[0].str, e->items[0].len, (int64_t)l->n,
					  JF ": model.vocab", err)) ||
		    (rc = push_score(scores, l->n - 1, e->items[1].num, err)))
			return rc;
	}
	return SB_OK;
}

/*
 * The merges array s[0..n) (both forms: "a b" strings and ["a", "b"] pairs), each
 * added to the model in order.  Messages name the merge's index.
 */
int sb_tok_merges_parse(struct tok_model *model, const unsigned char *s, size_t n,
			struct sb_error *err)
{
	struct scan c = {s, n, 0, JF ": model.merges", err};
	struct sb_buf a, b;
	size_t i = 0;
	int rc, more = 0;

	sb_buf_init(&a);
	sb_buf_init(&b);
	if ((rc = sopen(&c, '[', "expected an array", &more)))
		goto out;
	for (; more > 0; i++) {
		const unsigned char *ua, *ub;
		const char *pa, *pb;
		size_t na, nb, at;

		if (c.pos < c.n && c.s[c.pos] == '"') {
			if ((rc = sview(&c, &a, &ua, &na)))
				goto out;
			pa = (const char *)ua;
			if (sb_tok_split_merge(pa, na, &at)) {
				rc = sb_error_set(err, SB_EFORMAT, JF ": model.merges[%zu]: expected "
						  "\"a b\" (one space)", i);
				goto out;
			}
			pb = pa + at + 1;
			nb = na - at - 1;
			na = at;
		} else if (stake(&c, '[')) {
			if ((rc = sview(&c, &a, &ua, &na)))
				goto out;
			if (!stake(&c, ',') || (rc = sview(&c, &b, &ub, &nb)) || !stake(&c, ']')) {
				if (!rc)
					rc = sb_error_set(err, SB_EFORMAT, JF ": model.merges[%zu]: "
							  "expected [\"a\", \"b\"]", i);
				goto out;
			}
			pa = (const char *)ua;
			pb = (const char *)ub;
		} else {
			rc = sb_error_set(err, SB_EFORMAT, JF ": model.merges[%zu]: expected \"a b\" "
					  "or [\"a\", \"b\"]", i);
			goto out;
		}
		if ((rc = sb_tok_bpe_add_merge(model, pa, na, pb, nb, i, "model.vocab", err))) {
			sb_error_prefix(err, JF ": model.merges[%zu]: ", i);
			goto out;
		}
		more = snext(&c, ']');
	}
	rc = more < 0 ? more : sdone(&c);
out:
	sb_buf_destroy(&a);
	sb_buf_destroy(&b);
	return rc;
}
