/*
 * json.c - a bounded, strict RFC 8259 reader.
 *
 * The parser is iterative: open arrays and objects live on an explicit stack of
 * frames (bounded by max_depth), so hostile nesting can never overflow the C stack.
 * Each frame collects its children in a geometrically grown array; when the
 * container closes, the array is trimmed and becomes the node's items.  Freeing is
 * iterative too (pointer reversal through fields containers do not use), so a tree
 * of any depth is released without recursion and without allocating.
 *
 * Numbers: integers that fit int64 are converted exactly by hand; everything else
 * goes through strtod() on a NUL-terminated copy of the literal.  strtod() honours
 * LC_NUMERIC; the sb programs never call setlocale(), so the "C" locale (decimal
 * point '.') is in effect.  A library user that sets another locale must switch
 * LC_NUMERIC back to "C" before parsing.
 */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "internal.h"
#include "json.h"

#define DEFAULT_MAX_FILE ((size_t)256 << 20)

struct frame {
	struct sb_json *items;  /* children collected so far */
	size_t n, cap;
	int is_obj;
	size_t start;           /* byte offset of '[' or '{' (for messages) */
	char *mkey;             /* object: name of the member whose value is being read */
	size_t mkey_len;
};

struct parser {
	const unsigned char *s;
	size_t n, pos;
	int flags;
	size_t max_depth;
	struct frame *stack;
	size_t depth, stack_cap;
	struct sb_json *root;
	struct sb_error *err;
};

static int is_container(const struct sb_json *j)
{
	return j->type == SB_JSON_ARRAY || j->type == SB_JSON_OBJECT;
}

/*
 * Frees what 'top' owns (key, string, children at any depth) but not 'top' itself.
 * Containers keep no string, so while a container is being torn down its 'str'
 * field holds the parent pointer and 'len' the index of the next child to visit.
 */
static void free_contents(struct sb_json *top)
{
	struct sb_json *node = top, *parent;

	if (!is_container(top)) {
		free(top->key);
		free(top->str);
		top->key = top->str = NULL;
		return;
	}
	top->str = NULL;
	top->len = 0;
	for (;;) {
		if (node->len < node->n_items) {
			struct sb_json *c = &node->items[node->len++];

			if (is_container(c) && c->n_items > 0) {
				c->str = (char *)(void *)node;
				c->len = 0;
				node = c;
				continue;
			}
			free(c->key);
			if (!is_container(c))
				free(c->str);
			free(c->items);
			continue;
		}
		parent = (struct sb_json *)(void *)node->str;
		free(node->items);
		free(node->key);
		node->items = NULL;
		node->key = NULL;
		node->str = NULL;
		node->len = 0;
		node->n_items = 0;
		if (node == top)
			break;
		node = parent;
	}
}

void sb_json_free(struct sb_json **j)
{
	if (!j || !*j)
		return;
	free_contents(*j);
	free(*j);
	*j = NULL;
}

__attribute__((format(printf, 3, 4)))
static int fail(struct parser *p, size_t at, const char *fmt, ...)
{
	char msg[SB_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sb_error_set(p->err, SB_EFORMAT, "json: byte %zu: %s", at, msg);
}

static int nomem(struct parser *p)
{
	return sb_error_set(p->err, SB_ENOMEM, "json: byte %zu: out of memory", p->pos);
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->n) {
		unsigned char c = p->s[p->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

/* Describes the byte at pos for an error message. */
static const char *what_at(struct parser *p, char *buf, size_t size)
{
	unsigned char c;

	if (p->pos >= p->n)
		return "end of input";
	c = p->s[p->pos];
	if (c >= 0x20 && c < 0x7f)
		snprintf(buf, size, "'%c'", c);
	else
		snprintf(buf, size, "byte 0x%02x", c);
	return buf;
}

static int expected(struct parser *p, const char *what)
{
	char b[16];

	if (p->pos >= p->n)
		return fail(p, p->pos, "unexpected end of input, expected %s", what);
	return fail(p, p->pos, "expected %s, found %s", what, what_at(p, b, sizeof(b)));
}

static int hex4(const unsigned char *s, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned c = s[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Reads the string whose opening quote is at pos into a malloc'd NUL-terminated
 * buffer.  Decoding never makes a string longer than its escaped form (a 6-byte
 * \uXXXX gives at most 3 bytes, a 12-byte pair 4), so the raw span bounds the size.
 */
static int parse_string(struct parser *p, char **out, size_t *out_len)
{
	const unsigned char *s = p->s;
	size_t start = p->pos + 1, end = start, olen = 0;
	char *o;

	assert(s[p->pos] == '"');
	while (end < p->n && s[end] != '"') {
		if (s[end] == '\\')
			end++;
		end++;
	}
	if (end >= p->n)
		return fail(p, p->pos, "unterminated string");
	o = malloc(end - start + 1);
	if (!o)
		return nomem(p);
	for (size_t i = start; i < end;) {
		unsigned c = s[i];

		if (c == '\\') {
			unsigned cp, lo;

			switch (s[i + 1]) {
			case '"': o[olen++] = '"'; i += 2; continue;
			case '\\': o[olen++] = '\\'; i += 2; continue;
			case '/': o[olen++] = '/'; i += 2; continue;
			case 'b': o[olen++] = '\b'; i += 2; continue;
			case 'f': o[olen++] = '\f'; i += 2; continue;
			case 'n': o[olen++] = '\n'; i += 2; continue;
			case 'r': o[olen++] = '\r'; i += 2; continue;
			case 't': o[olen++] = '\t'; i += 2; continue;
			case 'u': break;
			default:
				free(o);
				return fail(p, i, "invalid escape in string");
			}
			if (end - i < 6 || hex4(s + i + 2, &cp) < 0) {
				free(o);
				return fail(p, i, "invalid \\u escape in string");
			}
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				free(o);
				return fail(p, i, "lone low surrogate \\u%04x in string", cp);
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (end - i < 12 || s[i + 6] != '\\' || s[i + 7] != 'u' ||
				    hex4(s + i + 8, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) {
					free(o);
					return fail(p, i, "lone high surrogate \\u%04x in string",
						    cp);
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			}
			olen += put_utf8(o + olen, cp);
			i += 6;
		} else if (c < 0x20) {
			free(o);
			return fail(p, i, "control character 0x%02x in string", c);
		} else if (c < 0x80) {
			o[olen++] = (char)c;
			i++;
		} else {
			int valid;
			size_t l = sb_utf8_seq(s + i, end - i, &valid);

			if (!valid) {
				free(o);
				return fail(p, i, "invalid utf-8 in string");
			}
			memcpy(o + olen, s + i, l);
			olen += l;
			i += l;
		}
	}
	o[olen] = '\0';
	*out = o;
	*out_len = olen;
	p->pos = end + 1;
	return SB_OK;
}

static int is_digit(unsigned c)
{
	return c >= '0' && c <= '9';
}

static int parse_number(struct parser *p, struct sb_json *v)
{
	const unsigned char *s = p->s;
	size_t start = p->pos, i = p->pos;
	int neg = 0, integral = 1, overflow = 0;
	uint64_t mag = 0;

	if (s[i] == '-') {
		neg = 1;
		i++;
	}
	if (i >= p->n || !is_digit(s[i]))
		return fail(p, start, "invalid number");
	if (s[i] == '0') {
		i++;
		if (i < p->n && is_digit(s[i]))
			return fail(p, start, "invalid number: leading zero");
	} else {
		while (i < p->n && is_digit(s[i])) {
			unsigned d = s[i] - '0';

			if (mag > (UINT64_MAX - d) / 10)
				overflow = 1;
			else
				mag = mag * 10 + d;
			i++;
		}
	}
	if (i < p->n && s[i] == '.') {
		integral = 0;
		i++;
		if (i >= p->n || !is_digit(s[i]))
			return fail(p, start, "invalid number: no digit after '.'");
		while (i < p->n && is_digit(s[i]))
			i++;
	}
	if (i < p->n && (s[i] == 'e' || s[i] == 'E')) {
		integral = 0;
		i++;
		if (i < p->n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= p->n || !is_digit(s[i]))
			return fail(p, start, "invalid number: no digit in exponent");
		while (i < p->n && is_digit(s[i]))
			i++;
	}
	v->type = SB_JSON_NUMBER;
	if (integral && !overflow &&
	    (neg ? mag <= (uint64_t)INT64_MAX + 1 : mag <= (uint64_t)INT64_MAX)) {
		/* -2^63 has no positive int64 counterpart: negate in unsigned space. */
		v->i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
		if (neg && mag == (uint64_t)INT64_MAX + 1)
			v->i = INT64_MIN;
		v->is_int = 1;
		v->num = (double)v->i;
	} else {
		char small[64], *copy = small;
		size_t len = i - start;
		double d;

		if (len >= sizeof(small)) {
			copy = malloc(len + 1);
			if (!copy)
				return nomem(p);
		}
		memcpy(copy, s + start, len);
		copy[len] = '\0';
		d = strtod(copy, NULL);
		if (copy != small)
			free(copy);
		if (isinf(d))
			return fail(p, start, "number out of range");
		v->num = d;
		v->is_int = 0;
		v->i = 0;
	}
	p->pos = i;
	return SB_OK;
}

static int parse_literal(struct parser *p, struct sb_json *v)
{
	static const struct {
		const char *word;
		size_t len;
		enum sb_json_type type;
	} lit[] = {
		{ "true", 4, SB_JSON_TRUE },
		{ "false", 5, SB_JSON_FALSE },
		{ "null", 4, SB_JSON_NULL },
	};

	for (size_t k = 0; k < sizeof(lit) / sizeof(lit[0]); k++) {
		if (p->s[p->pos] != (unsigned char)lit[k].word[0])
			continue;
		if (p->n - p->pos < lit[k].len ||
		    memcmp(p->s + p->pos, lit[k].word, lit[k].len) != 0)
			return fail(p, p->pos, "invalid literal, expected '%s'", lit[k].word);
		v->type = lit[k].type;
		p->pos += lit[k].len;
		return SB_OK;
	}
	return expected(p, "a value");
}

/* Hands v (and what it owns) to the innermost open container, or makes it the root. */
static int attach(struct parser *p, struct sb_json *v)
{
	struct frame *f;

	if (p->depth == 0) {
		p->root = malloc(sizeof(*p->root));
		if (!p->root) {
			free_contents(v);
			return nomem(p);
		}
		*p->root = *v;
		return SB_OK;
	}
	f = &p->stack[p->depth - 1];
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 4, bytes;
		struct sb_json *items;

		if (sb_size_mul(cap, sizeof(*items), &bytes) < 0 ||
		    !(items = realloc(f->items, bytes))) {
			free_contents(v);
			return nomem(p);
		}
		f->items = items;
		f->cap = cap;
	}
	v->key = f->mkey;
	v->key_len = f->mkey_len;
	f->mkey = NULL;
	f->mkey_len = 0;
	f->items[f->n++] = *v;
	return SB_OK;
}

static int open_container(struct parser *p, int is_obj)
{
	struct frame *f;

	if (p->depth >= p->max_depth)
		return fail(p, p->pos, "nesting deeper than %zu levels", p->max_depth);
	if (p->depth == p->stack_cap) {
		size_t cap = p->stack_cap ? p->stack_cap * 2 : 16;
		struct frame *st;

		if (cap > p->max_depth)
			cap = p->max_depth;
		st = realloc(p->stack, cap * sizeof(*st));
		if (!st)
			return nomem(p);
		p->stack = st;
		p->stack_cap = cap;
	}
	f = &p->stack[p->depth++];
	memset(f, 0, sizeof(*f));
	f->is_obj = is_obj;
	f->start = p->pos;
	p->pos++;
	return SB_OK;
}

/* A member name for sorting: its first 8 bytes as a big-endian integer decide most
 * comparisons without touching the name itself. */
struct name_ref {
	uint64_t prefix;
	const struct sb_json *m;
};

static uint64_t name_prefix(const struct sb_json *m)
{
	uint64_t v = 0;

	for (size_t k = 0; k < 8; k++)
		v = v << 8 | (k < m->key_len ? (unsigned char)m->key[k] : 0);
	return v;
}

/* Orders by prefix, then bytes, then length: a total order where equal names tie. */
static int name_cmp(const struct name_ref *a, const struct name_ref *b)
{
	size_t n;
	int c;

	if (a->prefix != b->prefix)
		return a->prefix < b->prefix ? -1 : 1;
	n = a->m->key_len < b->m->key_len ? a->m->key_len : b->m->key_len;
	c = memcmp(a->m->key, b->m->key, n);
	if (c)
		return c;
	return (a->m->key_len > b->m->key_len) - (a->m->key_len < b->m->key_len);
}

/* Bottom-up merge sort (O(n log n) worst case, no recursion); v and tmp hold n. */
static struct name_ref *sort_names(struct name_ref *v, struct name_ref *tmp, size_t n)
{
	for (size_t w = 1; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t i = lo, j = mid, o = lo;

			while (i < mid && j < hi)
				tmp[o++] = name_cmp(&v[j], &v[i]) < 0 ? v[j++] : v[i++];
			while (i < mid)
				tmp[o++] = v[i++];
			while (j < hi)
				tmp[o++] = v[j++];
		}
		struct name_ref *t = v;

		v = tmp;
		tmp = t;
	}
	return v;
}

/* Checks an object's members for repeated names: sort, then compare neighbours. */
static int check_duplicates(struct parser *p, const struct frame *f)
{
	struct name_ref *v, *sorted;
	int rc = SB_OK;

	if (f->n < 2)
		return SB_OK;
	v = malloc(2 * f->n * sizeof(*v));
	if (!v)
		return nomem(p);
	for (size_t k = 0; k < f->n; k++) {
		v[k].m = &f->items[k];
		v[k].prefix = name_prefix(&f->items[k]);
	}
	sorted = sort_names(v, v + f->n, f->n);
	for (size_t k = 1; k < f->n; k++) {
		const struct sb_json *m = sorted[k].m;

		if (name_cmp(&sorted[k - 1], &sorted[k]) == 0) {
			char name[72];
			size_t c, o = 0;

			/* The name is untrusted: show a printable prefix only. */
			for (c = 0; c < m->key_len && o < 64; c++) {
				unsigned char ch = (unsigned char)m->key[c];

				name[o++] = ch >= 0x20 && ch != 0x7f ? (char)ch : '?';
			}
			name[o] = '\0';
			rc = fail(p, f->start, "object has duplicate member '%s%s'", name,
				  m->key_len > 64 ? "..." : "");
			break;
		}
	}
	free(v);
	return rc;
}

/* Closes the innermost container at pos and attaches it to its parent. */
static int close_container(struct parser *p)
{
	struct frame *f = &p->stack[p->depth - 1];
	struct sb_json v;
	int rc;

	if (f->is_obj && (p->flags & SB_JSON_NO_DUPLICATES)) {
		rc = check_duplicates(p, f);
		if (rc)
			return rc;
	}
	memset(&v, 0, sizeof(v));
	v.type = f->is_obj ? SB_JSON_OBJECT : SB_JSON_ARRAY;
	if (f->n == 0) {
		free(f->items);
		v.items = NULL;
	} else if (f->n < f->cap) {
		struct sb_json *t = realloc(f->items, f->n * sizeof(*t));

		v.items = t ? t : f->items;     /* shrinking failed: keep the larger block */
	} else {
		v.items = f->items;
	}
	v.n_items = f->n;
	f->items = NULL;
	f->n = f->cap = 0;
	free(f->mkey);
	f->mkey = NULL;
	p->depth--;
	p->pos++;
	return attach(p, &v);
}

/* Reads '"name" :' at pos (whitespace already skipped) into the top frame. */
static int parse_member_name(struct parser *p, const char *what)
{
	struct frame *f = &p->stack[p->depth - 1];
	int rc;

	if (p->pos >= p->n || p->s[p->pos] != '"')
		return expected(p, what);
	rc = parse_string(p, &f->mkey, &f->mkey_len);
	if (rc)
		return rc;
	skip_ws(p);
	if (p->pos >= p->n || p->s[p->pos] != ':')
		return expected(p, "':'");
	p->pos++;
	return SB_OK;
}

static int run(struct parser *p)
{
	int rc;

	for (;;) {
		struct sb_json v;
		unsigned char c;

		/* A value starts here. */
		skip_ws(p);
		if (p->pos >= p->n)
			return expected(p, "a value");
		c = p->s[p->pos];
		if (c == '[' || c == '{') {
			rc = open_container(p, c == '{');
			if (rc)
				return rc;
			skip_ws(p);
			if (p->pos < p->n && p->s[p->pos] == (c == '[' ? ']' : '}')) {
				rc = close_container(p);
				if (rc)
					return rc;
			} else if (c == '{') {
				rc = parse_member_name(p, "a member name or '}'");
				if (rc)
					return rc;
				continue;
			} else {
				continue;
			}
		} else {
			memset(&v, 0, sizeof(v));
			if (c == '"') {
				v.type = SB_JSON_STRING;
				rc = parse_string(p, &v.str, &v.len);
			} else if (c == '-' || is_digit(c)) {
				rc = parse_number(p, &v);
			} else {
				rc = parse_literal(p, &v);
			}
			if (rc)
				return rc;
			rc = attach(p, &v);
			if (rc)
				return rc;
		}

		/* After a value: a separator, a closing bracket, or the end. */
		for (;;) {
			struct frame *f;

			skip_ws(p);
			if (p->depth == 0) {
				if (p->pos < p->n)
					return fail(p, p->pos, "unexpected data after the value");
				return SB_OK;
			}
			f = &p->stack[p->depth - 1];
			if (p->pos < p->n && p->s[p->pos] == ',') {
				p->pos++;
				if (f->is_obj) {
					skip_ws(p);
					rc = parse_member_name(p, "a member name");
					if (rc)
						return rc;
				}
				break;
			}
			if (p->pos < p->n && p->s[p->pos] == (f->is_obj ? '}' : ']')) {
				rc = close_container(p);
				if (rc)
					return rc;
				continue;
			}
			return expected(p, f->is_obj ? "',' or '}'" : "',' or ']'");
		}
	}
}

int sb_json_parse(const char *text, size_t n, int flags, size_t max_depth,
		  struct sb_json **out, struct sb_error *err)
{
	struct parser p;
	int rc;

	if (!out)
		return sb_error_set(err, SB_EINVAL, "json: no output pointer");
	*out = NULL;
	if (!text && n)
		return sb_error_set(err, SB_EINVAL, "json: no input");
	memset(&p, 0, sizeof(p));
	p.s = (const unsigned char *)text;
	p.n = n;
	p.flags = flags;
	p.max_depth = max_depth ? max_depth : SB_JSON_DEFAULT_MAX_DEPTH;
	p.err = err;
	rc = run(&p);
	for (size_t d = 0; d < p.depth; d++) {
		struct frame *f = &p.stack[d];

		for (size_t k = 0; k < f->n; k++)
			free_contents(&f->items[k]);
		free(f->items);
		free(f->mkey);
	}
	free(p.stack);
	if (rc) {
		sb_json_free(&p.root);
		return rc;
	}
	*out = p.root;
	return SB_OK;
}

int sb_json_parse_file(const char *path, int flags, size_t max_bytes, struct sb_json **out,
		       struct sb_error *err)
{
	struct sb_buf b;
	int rc;

	if (out)
		*out = NULL;
	sb_buf_init(&b);
	rc = sb_file_read(path, max_bytes ? max_bytes : DEFAULT_MAX_FILE, &b, err);
	if (rc == SB_OK) {
		rc = sb_json_parse((const char *)b.data, b.len, flags, 0, out, err);
		if (rc)
			sb_error_prefix(err, "%s: ", path);
	}
	sb_buf_destroy(&b);
	return rc;
}

const struct sb_json *sb_json_get(const struct sb_json *obj, const char *key)
{
	size_t len;

	if (!obj || obj->type != SB_JSON_OBJECT || !key)
		return NULL;
	len = strlen(key);
	for (size_t k = 0; k < obj->n_items; k++) {
		const struct sb_json *m = &obj->items[k];

		if (m->key_len == len && memcmp(m->key, key, len) == 0)
			return m;
	}
	return NULL;
}

static const char *type_name(enum sb_json_type t)
{
	switch (t) {
	case SB_JSON_NULL: return "null";
	case SB_JSON_FALSE:
	case SB_JSON_TRUE: return "a boolean";
	case SB_JSON_NUMBER: return "a number";
	case SB_JSON_STRING: return "a string";
	case SB_JSON_ARRAY: return "an array";
	case SB_JSON_OBJECT: return "an object";
	}
	return "?";
}

/* Finds a member for the typed getters: NULL when absent or null. */
static const struct sb_json *member(const struct sb_json *obj, const char *key)
{
	const struct sb_json *m = sb_json_get(obj, key);

	return m && m->type != SB_JSON_NULL ? m : NULL;
}

static int wrong_type(struct sb_error *err, const char *key, const char *want,
		      const struct sb_json *m)
{
	return sb_error_set(err, SB_EFORMAT, "json: member '%s': expected %s, found %s", key,
			    want, type_name(m->type));
}

int sb_json_get_int(const struct sb_json *obj, const char *key, int64_t *out, struct sb_error *err)
{
	const struct sb_json *m = member(obj, key);

	if (!m)
		return SB_ENOTFOUND;
	if (m->type != SB_JSON_NUMBER)
		return wrong_type(err, key, "an integer", m);
	if (m->is_int) {
		*out = m->i;
		return SB_OK;
	}
	/* Writers sometimes print integers as 128.0; accept exact integral values. */
	if (m->num != floor(m->num))
		return sb_error_set(err, SB_EFORMAT, "json: member '%s': %g is not an integer",
				    key, m->num);
	if (m->num < -9223372036854775808.0 || m->num >= 9223372036854775808.0)
		return sb_error_set(err, SB_EFORMAT, "json: member '%s': %g is out of range",
				    key, m->num);
	*out = (int64_t)m->num;
	return SB_OK;
}

int sb_json_get_num(const struct sb_json *obj, const char *key, double *out, struct sb_error *err)
{
	const struct sb_json *m = member(obj, key);

	if (!m)
		return SB_ENOTFOUND;
	if (m->type != SB_JSON_NUMBER)
		return wrong_type(err, key, "a number", m);
	*out = m->num;
	return SB_OK;
}

int sb_json_get_bool(const struct sb_json *obj, const char *key, int *out, struct sb_error *err)
{
	const struct sb_json *m = member(obj, key);

	if (!m)
		return SB_ENOTFOUND;
	if (m->type != SB_JSON_TRUE && m->type != SB_JSON_FALSE)
		return wrong_type(err, key, "a boolean", m);
	*out = m->type == SB_JSON_TRUE;
	return SB_OK;
}

int sb_json_get_str(const struct sb_json *obj, const char *key, const char **out,
		    struct sb_error *err)
{
	const struct sb_json *m = member(obj, key);

	if (!m)
		return SB_ENOTFOUND;
	if (m->type != SB_JSON_STRING)
		return wrong_type(err, key, "a string", m);
	*out = m->str;
	return SB_OK;
}
