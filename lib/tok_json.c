/*
 * tok_json.c - reads the generic pipeline (tok_gen.h) of a model folder: the
 * normalizer, pre_tokenizer, BPE or Unigram model, added_tokens and post_processor of a
 * tokenizer.json, or the older vocab.json + merges.txt pair of RoBERTa and GPT-2 with
 * tokenizer_config.json, built as transformers' RobertaConverter / GPT2Converter do.
 *
 * The file is untrusted: every member is type-checked, every count bounded, every
 * merge resolved against the vocabulary.  A component or option sb does not implement
 * is refused with its JSON path ("tokenizer.json: pre_tokenizer.pretokenizers[0]:
 * Split pattern ... is not one sb implements"): nothing is approximated.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "internal.h"
#include "json.h"
#include "tok_gen.h"
#include "tokenizer.h"
#include "tokenizer_impl.h"

#define JF "tokenizer.json"

/* A path in the JSON document, built as the loaders descend. */
struct jpath {
	char s[160];
};

static const char *sub(struct jpath *out, const char *base, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static const char *sub(struct jpath *out, const char *base, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	snprintf(out->s, sizeof(out->s), "%s", base);
	n = strlen(out->s);
	va_start(ap, fmt);
	vsnprintf(out->s + n, sizeof(out->s) - n, fmt, ap);
	va_end(ap);
	return out->s;
}

static int bad(struct sb_error *err, int code, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int bad(struct sb_error *err, int code, const char *path, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sb_error_set(err, code, JF ": %s: %s", path, msg);
}

/* An optional bool member: *out keeps dflt when absent or null. */
static int get_bool(const struct sb_json *o, const char *key, int dflt, int *out,
		    const char *path, struct sb_error *err)
{
	int v = sb_tok_json_bool(o, key);

	if (v == -2)
		return bad(err, SB_EFORMAT, path, "%s: expected a boolean", key);
	*out = v < 0 ? dflt : v;
	return SB_OK;
}

/* An optional string member: *out is NULL when absent or null. */
static int get_str(const struct sb_json *o, const char *key, const char **out, size_t *len,
		   const char *path, struct sb_error *err)
{
	const struct sb_json *m = sb_json_get(o, key);

	*out = NULL;
	if (len)
		*len = 0;
	if (!m || m->type == SB_JSON_NULL)
		return SB_OK;
	if (m->type != SB_JSON_STRING)
		return bad(err, SB_EFORMAT, path, "%s: expected a string", key);
	if (!len && memchr(m->str, 0, m->len))
		return bad(err, SB_EFORMAT, path, "%s: a NUL character", key);
	*out = m->str;
	if (len)
		*len = m->len;
	return SB_OK;
}

static const char *type_of(const struct sb_json *o)
{
	const struct sb_json *t = sb_json_get(o, "type");

	return t && t->type == SB_JSON_STRING ? t->str : NULL;
}

static char *dup_n(const char *s, size_t n)
{
	char *c = malloc(n + 1);

	if (c) {
		memcpy(c, s, n);
		c[n] = 0;
	}
	return c;
}

/* ---- normalizers ---- */

/*
 * The normalizers with settings.  Each fills nm, the next slot of g->norm, and counts it
 * in g->n_norm when it holds something to free (as load_norm() does for the others).
 */
static int norm_strip(struct tok_gen *g, struct tok_norm *nm, const struct sb_json *o,
		      const char *path, struct sb_error *err)
{
	int rc;

	nm->kind = TOK_NORM_STRIP;
	if ((rc = get_bool(o, "strip_left", -1, &nm->left, path, err)) ||
	    (rc = get_bool(o, "strip_right", -1, &nm->right, path, err)))
		return rc;
	if (nm->left < 0 || nm->right < 0)
		return bad(err, SB_EFORMAT, path, "Strip needs strip_left and strip_right");
	g->n_norm++;
	return SB_OK;
}

/* Replace: a String pattern, or the regex " {2,}" (runs of spaces). */
static int norm_replace(struct tok_gen *g, struct tok_norm *nm, const struct sb_json *o,
			const char *path, struct sb_error *err)
{
	const struct sb_json *pat = sb_json_get(o, "pattern");
	const char *s = NULL, *c = NULL;
	size_t ns = 0, nc = 0;
	struct jpath p;
	int rc;

	if (!pat || pat->type != SB_JSON_OBJECT)
		return bad(err, SB_EFORMAT, path, "pattern: expected an object");
	if ((rc = get_str(pat, "Regex", &s, &ns, sub(&p, path, ".pattern"), err)))
		return rc;
	if (s && !(ns == 5 && memcmp(s, " {2,}", 5) == 0))
		return bad(err, SB_EUNSUPPORTED, path, "Replace with the regex '%.40s' is not "
			   "supported (a String pattern and the regex \" {2,}\" are)", s);
	if (s) {
		if ((rc = get_str(o, "content", &c, &nc, path, err)))
			return rc;
		if (!c)
			return bad(err, SB_EFORMAT, path, "content: expected a string");
		nm->kind = TOK_NORM_REPLACE_SPACES;
		nm->rep = dup_n(c, nc);
		nm->nrep = nc;
		g->n_norm++;
		return nm->rep ? SB_OK : sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	}
	if ((rc = get_str(pat, "String", &s, &ns, sub(&p, path, ".pattern"), err)) ||
	    (rc = get_str(o, "content", &c, &nc, path, err)))
		return rc;
	if (!s || !ns)
		return bad(err, SB_EFORMAT, path, "pattern.String: expected a non-empty string");
	if (!c)
		return bad(err, SB_EFORMAT, path, "content: expected a string");
	nm->kind = TOK_NORM_REPLACE;
	nm->pat = dup_n(s, ns);
	nm->npat = ns;
	nm->rep = dup_n(c, nc);
	nm->nrep = nc;
	g->n_norm++;    /* so that they are freed, even when one is missing */
	if (!nm->pat || !nm->rep)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	return SB_OK;
}

static int norm_prepend(struct tok_gen *g, struct tok_norm *nm, const struct sb_json *o,
			const char *path, struct sb_error *err)
{
	const char *s;
	size_t ns;
	int rc;

	if ((rc = get_str(o, "prepend", &s, &ns, path, err)))
		return rc;
	if (!s)
		return bad(err, SB_EFORMAT, path, "prepend: expected a string");
	nm->kind = TOK_NORM_PREPEND;
	nm->rep = dup_n(s, ns);
	nm->nrep = ns;
	if (!nm->rep)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	g->n_norm++;
	return SB_OK;
}

/* Precompiled: SentencePiece's charsmap (tok_charsmap.c). */
static int norm_precompiled(struct tok_gen *g, struct tok_norm *nm, const struct sb_json *o,
			    const char *path, struct sb_error *err)
{
	struct jpath p;
	const char *b;
	size_t nb;
	int rc;

	if ((rc = get_str(o, "precompiled_charsmap", &b, &nb, path, err)))
		return rc;
	if (!b)
		return bad(err, SB_EFORMAT, path, "precompiled_charsmap: expected a string");
	nm->kind = TOK_NORM_PRECOMPILED;
	if ((rc = sb_tok_charsmap_new(&nm->map, b, nb, sub(&p, JF ": ", "%s", path), err)))
		return rc;
	g->n_norm++;
	return SB_OK;
}

static int load_norm(struct tok_gen *g, const struct sb_json *o, const char *path,
		     struct sb_error *err)
{
	static const struct { const char *name; enum tok_norm_kind kind; } simple[] = {
		{"NFC", TOK_NORM_NFC}, {"NFD", TOK_NORM_NFD}, {"NFKC", TOK_NORM_NFKC},
		{"NFKD", TOK_NORM_NFKD}, {"Lowercase", TOK_NORM_LOWERCASE},
	};
	const char *ty;
	struct tok_norm *nm;
	struct jpath p;
	int rc;

	if (!o || o->type == SB_JSON_NULL)
		return SB_OK;
	if (o->type != SB_JSON_OBJECT || !(ty = type_of(o)))
		return bad(err, SB_EFORMAT, path, "expected an object with a type");
	if (strcmp(ty, "Sequence") == 0) {
		const struct sb_json *list = sb_json_get(o, "normalizers");

		if (!list || list->type != SB_JSON_ARRAY)
			return bad(err, SB_EFORMAT, path, "normalizers: expected an array");
		for (size_t i = 0; i < list->n_items; i++)
			if ((rc = load_norm(g, &list->items[i],
					    sub(&p, path, ".normalizers[%zu]", i), err)))
				return rc;
		return SB_OK;
	}
	if (g->n_norm == TOK_MAX_NORM)
		return bad(err, SB_ELIMIT, path, "more than %d normalizers", TOK_MAX_NORM);
	nm = &g->norm[g->n_norm];
	memset(nm, 0, sizeof(*nm));
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (strcmp(ty, simple[i].name) == 0) {
			nm->kind = simple[i].kind;
			g->n_norm++;
			return SB_OK;
		}
	}
	if (strcmp(ty, "Strip") == 0)
		return norm_strip(g, nm, o, path, err);
	if (strcmp(ty, "Replace") == 0)
		return norm_replace(g, nm, o, path, err);
	if (strcmp(ty, "Prepend") == 0)
		return norm_prepend(g, nm, o, path, err);
	if (strcmp(ty, "Precompiled") == 0)
		return norm_precompiled(g, nm, o, path, err);
	return bad(err, SB_EUNSUPPORTED, path, "normalizer '%s' is not supported (NFC, NFD, "
		   "NFKC, NFKD, Lowercase, Strip, Replace, Prepend, Precompiled and Sequence are)",
		   ty);
}

/* ---- pre-tokenizers ---- */

/* Metaspace: replacement (one character), prepend_scheme (or the older
 * add_prefix_space), split; only as the one pre-tokenizer. */
static int load_metaspace(struct tok_gen *g, const struct sb_json *o, const char *path,
			  struct sb_error *err)
{
	struct tok_pre *pr = &g->pre[g->n_pre];
	const char *r, *ps;
	size_t nr;
	uint32_t c;
	int aps = -1, split = 1, rc;

	if ((rc = get_str(o, "replacement", &r, &nr, path, err)) ||
	    (rc = get_str(o, "prepend_scheme", &ps, NULL, path, err)) ||
	    (rc = get_bool(o, "add_prefix_space", -1, &aps, path, err)) ||
	    (rc = get_bool(o, "split", 1, &split, path, err)))
		return rc;
	if (!r && (rc = get_str(o, "str_rep", &r, &nr, path, err)))
		return rc;
	if (!r || !nr || nr > 4 || (nr > 1 && get_utf8((const unsigned char *)r, nr, &c) !=
				     (int)nr) || (nr == 1 && (unsigned char)r[0] >= 0x80))
		return bad(err, SB_EFORMAT, path, "replacement: expected one character");
	if (g->n_pre)
		return bad(err, SB_EUNSUPPORTED, path, "Metaspace after another pre-tokenizer is "
			   "not supported");
	memset(pr, 0, sizeof(*pr));
	pr->kind = TOK_PRE_METASPACE;
	memcpy(pr->rep, r, nr);
	pr->nrep = (unsigned char)nr;
	pr->split = (unsigned char)split;
	if (!ps)
		pr->prepend = aps == 0 ? TOK_PREPEND_NEVER : TOK_PREPEND_ALWAYS;
	else if (strcmp(ps, "always") == 0)
		pr->prepend = TOK_PREPEND_ALWAYS;
	else if (strcmp(ps, "first") == 0)
		pr->prepend = TOK_PREPEND_FIRST;
	else if (strcmp(ps, "never") == 0)
		pr->prepend = TOK_PREPEND_NEVER;
	else
		return bad(err, SB_EFORMAT, path, "prepend_scheme '%.20s': expected always, first "
			   "or never", ps);
	g->n_pre++;
	return SB_OK;
}

static int load_pre(struct tok_gen *g, const struct sb_json *o, const char *path,
		    struct sb_error *err)
{
	const char *ty;
	struct tok_pre *pr;
	struct jpath p;
	int rc;

	if (!o || o->type == SB_JSON_NULL)
		return SB_OK;
	if (o->type != SB_JSON_OBJECT || !(ty = type_of(o)))
		return bad(err, SB_EFORMAT, path, "expected an object with a type");
	if (strcmp(ty, "Sequence") == 0) {
		const struct sb_json *list = sb_json_get(o, "pretokenizers");

		if (!list || list->type != SB_JSON_ARRAY)
			return bad(err, SB_EFORMAT, path, "pretokenizers: expected an array");
		for (size_t i = 0; i < list->n_items; i++)
			if ((rc = load_pre(g, &list->items[i],
					   sub(&p, path, ".pretokenizers[%zu]", i), err)))
				return rc;
		return SB_OK;
	}
	if (g->byte_level)
		return bad(err, SB_EUNSUPPORTED, path, "a pre-tokenizer after ByteLevel is not "
			   "supported (it would see the byte-level alphabet)");
	if (g->n_pre && g->pre[0].kind == TOK_PRE_METASPACE)
		return bad(err, SB_EUNSUPPORTED, path, "a pre-tokenizer after Metaspace is not "
			   "supported");
	if (g->n_pre == TOK_MAX_PRE)
		return bad(err, SB_ELIMIT, path, "more than %d pre-tokenizers", TOK_MAX_PRE);
	pr = &g->pre[g->n_pre];
	memset(pr, 0, sizeof(*pr));
	if (strcmp(ty, "ByteLevel") == 0) {
		int regex = 1;

		if ((rc = get_bool(o, "add_prefix_space", -1, &pr->prefix_space, path, err)) ||
		    (rc = get_bool(o, "use_regex", 1, &regex, path, err)))
			return rc;
		if (pr->prefix_space < 0)
			return bad(err, SB_EFORMAT, path, "add_prefix_space: expected a boolean");
		pr->kind = TOK_PRE_BYTELEVEL;
		pr->pattern = regex ? TOK_PAT_GPT2 : TOK_PAT_NONE;
		g->byte_level = 1;
		/* Without a regex or a prefix space it only maps bytes: the model does that. */
		if (pr->pattern != TOK_PAT_NONE || pr->prefix_space)
			g->n_pre++;
		return SB_OK;
	}
	if (strcmp(ty, "Split") == 0) {
		const struct sb_json *pat = sb_json_get(o, "pattern");
		const char *re = NULL, *beh = NULL;
		size_t nre = 0;
		int inv = 0;

		if (!pat || pat->type != SB_JSON_OBJECT)
			return bad(err, SB_EFORMAT, path, "pattern: expected an object");
		if (sb_json_get(pat, "String"))
			return bad(err, SB_EUNSUPPORTED, path, "Split on a String pattern is not "
				   "supported (the regex patterns of GPT-2, Qwen2 and cl100k are)");
		if ((rc = get_str(pat, "Regex", &re, &nre, sub(&p, path, ".pattern"), err)) ||
		    (rc = get_str(o, "behavior", &beh, NULL, path, err)) ||
		    (rc = get_bool(o, "invert", 0, &inv, path, err)))
			return rc;
		if (!re)
			return bad(err, SB_EFORMAT, path, "pattern: expected Regex or String");
		pr->kind = TOK_PRE_SPLIT;
		pr->pattern = sb_tok_pattern_find(re, nre);
		if (pr->pattern == TOK_PAT_NONE)
			return bad(err, SB_EUNSUPPORTED, path, "pattern.Regex '%.60s%s' is not one sb "
				   "implements (the patterns of GPT-2, Qwen2 and cl100k are)", re,
				   nre > 60 ? "..." : "");
		if (!beh || strcmp(beh, "Isolated"))
			return bad(err, SB_EUNSUPPORTED, path, "behavior '%s' is not supported "
				   "(Isolated is)", beh ? beh : "null");
		if (inv)
			return bad(err, SB_EUNSUPPORTED, path, "invert true is not supported");
		g->n_pre++;
		return SB_OK;
	}
	if (strcmp(ty, "Metaspace") == 0)
		return load_metaspace(g, o, path, err);
	return bad(err, SB_EUNSUPPORTED, path, "pre-tokenizer '%s' is not supported (ByteLevel, "
		   "Split, Metaspace and Sequence are)", ty);
}

/* ---- added tokens ---- */

static int add_to_set(struct tok_added_set *set, const char *s, size_t n, int32_t id, int sw,
		      int ls, int rs, struct sb_error *err)
{
	struct tok_added *a;

	if (set->n >= MAX_ADDED)
		return sb_error_set(err, SB_ELIMIT, JF ": more than %d added tokens", MAX_ADDED);
	a = realloc(set->tok, (set->n + 1) * sizeof(*a));
	if (!a)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	set->tok = a;
	a = &set->tok[set->n];
	a->s = dup_n(s, n);
	if (!a->s)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	a->n = n;
	a->id = id;
	a->single_word = (unsigned char)sw;
	a->lstrip = (unsigned char)ls;
	a->rstrip = (unsigned char)rs;
	set->n++;
	return SB_OK;
}

/*
 * One added token: registered for lookups, and put in the set it is matched with (its
 * content normalized for the normalized set).  file and path name it in messages.
 */
static int add_token(struct sb_tokenizer *t, const char *s, size_t n, int32_t id, int sw,
		     int ls, int rs, int normalized, const char *file, const char *path,
		     struct sb_error *err)
{
	struct tok_gen *g = t->gen;
	int rc;

	if (n > TOK_MAX_ADDED_BYTES)
		return sb_error_set(err, SB_ELIMIT, "%s: %s: content of %zu bytes, limit %d", file,
				    path, n, TOK_MAX_ADDED_BYTES);
	for (size_t k = 0; k < t->n_added; k++)
		if (t->added[k].n == n && memcmp(t->added[k].s, s, n) == 0)
			return sb_error_set(err, SB_EFORMAT, "%s: %s: content '%.*s' is there "
					    "twice", file, path, (int)n, s);
	if ((rc = sb_tok_add_added(t, s, n, id, 0, 0, file, err)))
		return rc;
	if (!normalized)
		return add_to_set(&g->raw, s, n, id, sw, ls, rs, err);
	{
		struct sb_buf b;

		sb_buf_init(&b);
		rc = sb_tok_norm_string(g, s, n, &b, err);
		if (!rc && !b.len)
			rc = sb_error_set(err, SB_EFORMAT, "%s: %s: content '%.*s' normalizes to "
					  "nothing", file, path, (int)n, s);
		if (!rc && b.len > TOK_MAX_ADDED_BYTES)
			rc = sb_error_set(err, SB_ELIMIT, "%s: %s: content too long", file, path);
		if (!rc)
			rc = add_to_set(&g->normd, (const char *)b.data, b.len, id, sw, ls, rs, err);
		sb_buf_destroy(&b);
		return rc;
	}
}

/* The id Hugging Face gives an added token (AddedVocabulary::add_tokens): the model's
 * when the content is in its vocabulary, else the next one after the vocabulary and
 * the added tokens so far. */
static int32_t hf_added_id(const struct sb_tokenizer *t, const char *s, size_t n,
			   size_t vocab_size, int64_t *added_max)
{
	int32_t id = lookup(t, HASH_INIT, "", 0, s, n);

	if (id < 0) {
		if (*added_max < 0)
			id = (int32_t)vocab_size;
		else if ((uint64_t)*added_max >= vocab_size || vocab_size == 0)
			id = (int32_t)(*added_max + 1);
		else
			id = (int32_t)vocab_size;
	}
	if (id > *added_max)
		*added_max = id;
	return id;
}

static int load_added(struct sb_tokenizer *t, const struct sb_json *list, size_t vocab_size,
		      struct sb_error *err)
{
	int64_t added_max = -1;
	struct jpath p;
	int rc;

	if (!list || list->type == SB_JSON_NULL)
		return SB_OK;
	if (list->type != SB_JSON_ARRAY)
		return bad(err, SB_EFORMAT, "added_tokens", "expected an array");
	for (size_t i = 0; i < list->n_items; i++) {
		const struct sb_json *a = &list->items[i];
		const char *path = sub(&p, "added_tokens", "[%zu]", i);
		const char *c;
		size_t nc;
		int64_t id;
		int sw = 0, ls = 0, rs = 0, nz = 0, sp = 0;
		int32_t hid;

		if (a->type != SB_JSON_OBJECT)
			return bad(err, SB_EFORMAT, path, "expected an object");
		if ((rc = get_str(a, "content", &c, &nc, path, err)) ||
		    (rc = get_bool(a, "single_word", 0, &sw, path, err)) ||
		    (rc = get_bool(a, "lstrip", 0, &ls, path, err)) ||
		    (rc = get_bool(a, "rstrip", 0, &rs, path, err)) ||
		    (rc = get_bool(a, "special", 0, &sp, path, err)) ||
		    (rc = get_bool(a, "normalized", !sp, &nz, path, err)))
			return rc;
		if (!c)
			return bad(err, SB_EFORMAT, path, "content: expected a string");
		if (sb_json_get_int(a, "id", &id, NULL) != SB_OK || id < 0 ||
		    id >= (int64_t)MAX_VOCAB)
			return bad(err, SB_EFORMAT, path, "id: expected an integer in [0, %zu)",
				   MAX_VOCAB);
		if (!nc)
			continue;       /* Hugging Face ignores empty tokens */
		hid = hf_added_id(t, c, nc, vocab_size, &added_max);
		if (hid != id)
			return bad(err, SB_EFORMAT, path, "id %lld, but '%.*s' gets id %d from the "
				   "vocabulary and the tokens before it (Hugging Face would use "
				   "%d)", (long long)id, (int)(nc > 40 ? 40 : nc), c, hid, hid);
		if ((rc = add_token(t, c, nc, hid, sw, ls, rs, nz, JF, path, err)))
			return rc;
	}
	return SB_OK;
}

/* ---- post-processors ---- */

static int get_pair(const struct sb_json *o, const char *key, int32_t *id, const char *path,
		    struct sb_error *err)
{
	const struct sb_json *m = sb_json_get(o, key);

	if (!m || m->type != SB_JSON_ARRAY || m->n_items != 2 ||
	    m->items[0].type != SB_JSON_STRING || m->items[1].type != SB_JSON_NUMBER ||
	    !m->items[1].is_int || m->items[1].i < 0 || m->items[1].i >= (int64_t)MAX_VOCAB)
		return bad(err, SB_EFORMAT, path, "%s: expected [token, id]", key);
	*id = (int32_t)m->items[1].i;
	return SB_OK;
}

/* Sets the templates from one post-processor; *adds counts those that add tokens. */
static int load_post_one(struct sb_tokenizer *t, const struct sb_json *o, const char *path,
			 int *adds, char *desc, size_t ndesc, struct sb_error *err)
{
	const char *ty;
	struct jpath p;
	int32_t cls, sep;
	int rc;

	if (o->type != SB_JSON_OBJECT || !(ty = type_of(o)))
		return bad(err, SB_EFORMAT, path, "expected an object with a type");
	snprintf(desc + strlen(desc), ndesc - strlen(desc), "%s%s", *desc ? " " : "", ty);
	if (strcmp(ty, "ByteLevel") == 0)
		return SB_OK;   /* offsets only */
	if (strcmp(ty, "Sequence") == 0) {
		const struct sb_json *list = sb_json_get(o, "processors");

		if (!list || list->type != SB_JSON_ARRAY)
			return bad(err, SB_EFORMAT, path, "processors: expected an array");
		for (size_t i = 0; i < list->n_items; i++)
			if ((rc = load_post_one(t, &list->items[i],
						sub(&p, path, ".processors[%zu]", i), adds, desc,
						ndesc, err)))
				return rc;
		return SB_OK;
	}
	if ((*adds)++)
		return bad(err, SB_EUNSUPPORTED, path, "a second post-processor that adds tokens "
			   "is not supported");
	t->single.n = t->pair.n = 0;
	t->single.n_special = t->pair.n_special = 0;
	if (strcmp(ty, "RobertaProcessing") == 0 || strcmp(ty, "BertProcessing") == 0) {
		/* <s> A </s> and <s> A </s></s> B </s>, every type id 0 (RoBERTa's rule); BERT's
		 * [CLS] A [SEP] B [SEP] with type id 1 from B on. */
		int roberta = ty[0] == 'R';
		uint8_t tb = roberta ? 0 : 1;

		if ((rc = get_pair(o, "cls", &cls, path, err)) ||
		    (rc = get_pair(o, "sep", &sep, path, err)))
			return rc;
		if ((rc = sb_tok_tpl_id(&t->single, cls, 0, JF, err)) ||
		    (rc = sb_tok_tpl_seq(&t->single, TPL_A, 0, JF, err)) ||
		    (rc = sb_tok_tpl_id(&t->single, sep, 0, JF, err)) ||
		    (rc = sb_tok_tpl_id(&t->pair, cls, 0, JF, err)) ||
		    (rc = sb_tok_tpl_seq(&t->pair, TPL_A, 0, JF, err)) ||
		    (rc = sb_tok_tpl_id(&t->pair, sep, 0, JF, err)) ||
		    (roberta && (rc = sb_tok_tpl_id(&t->pair, sep, 0, JF, err))) ||
		    (rc = sb_tok_tpl_seq(&t->pair, TPL_B, tb, JF, err)) ||
		    (rc = sb_tok_tpl_id(&t->pair, sep, tb, JF, err)))
			return rc;
		return SB_OK;
	}
	if (strcmp(ty, "TemplateProcessing") == 0) {
		const struct sb_json *sp = sb_json_get(o, "special_tokens");

		if ((rc = sb_tok_tpl_parse(&t->single, sb_json_get(o, "single"), sp,
					   sub(&p, path, ".single"), err)) ||
		    (rc = sb_tok_tpl_parse(&t->pair, sb_json_get(o, "pair"), sp,
					   sub(&p, path, ".pair"), err)))
			return rc;
		return SB_OK;
	}
	return bad(err, SB_EUNSUPPORTED, path, "post-processor '%s' is not supported "
		   "(RobertaProcessing, BertProcessing, TemplateProcessing, ByteLevel and Sequence "
		   "are)", ty);
}

/* Without a post-processor that adds tokens: A, and A B with type id 1 for B. */
static int plain_templates(struct sb_tokenizer *t, struct sb_error *err)
{
	int rc;

	t->single.n = t->pair.n = 0;
	t->single.n_special = t->pair.n_special = 0;
	if ((rc = sb_tok_tpl_seq(&t->single, TPL_A, 0, JF, err)) ||
	    (rc = sb_tok_tpl_seq(&t->pair, TPL_A, 0, JF, err)) ||
	    (rc = sb_tok_tpl_seq(&t->pair, TPL_B, 1, JF, err)))
		return rc;
	return SB_OK;
}

static int load_post(struct sb_tokenizer *t, const struct sb_json *o, struct sb_error *err)
{
	char desc[96] = "";
	int adds = 0, rc;

	if ((rc = plain_templates(t, err)))
		return rc;
	if (o && o->type != SB_JSON_NULL && (rc = load_post_one(t, o, "post_processor", &adds,
							       desc, sizeof(desc), err)))
		return rc;
	sb_tok_setting(t, "post_processor", JF, "%s", *desc ? desc : "none");
	return SB_OK;
}

/* ---- the BPE model ---- */

static int check_vocab(const struct sb_tokenizer *t, const struct tok_list *l, const char *file,
		       struct sb_error *err)
{
	/* Two strings with one id, or one string twice, would make merges ambiguous. */
	for (size_t k = 0; k < l->n; k++) {
		const char *s = t->pool + l->e[k].off;
		int32_t id = l->e[k].id;

		if (t->id_tok[id] != s)
			return sb_error_set(err, SB_EFORMAT, "%s: vocabulary: '%.40s' and '%.40s' "
					    "have the same id %d", file, s, t->id_tok[id], id);
		/* The lookups only when the table was built with a text twice. */
		if (t->dup_text && l->e[k].len &&
		    lookup(t, HASH_INIT, "", 0, s, l->e[k].len) != id)
			return sb_error_set(err, SB_EFORMAT, "%s: vocabulary: '%.40s' is there "
					    "twice", file, s);
	}
	return SB_OK;
}

/* The text of a merge's string. */
static const char *view_text(const struct tok_doc *doc, uint32_t off, uint32_t n)
{
	return (const char *)((n & MERGE_DECODED) ? doc->merge_text.data : doc->text.data) + off;
}

/* How many merges ahead merges_views() hashes a merge's two strings and fetches their
 * vocabulary slots, and then (half as many ahead) the tokens' texts that the slots
 * point to: the table and the texts are beyond the caches, and lookups that waited
 * for them were most of the time of adding a merge. */
#define MERGE_AHEAD 16

/* Hashes the strings of view v into *ha, *hb and fetches their slots. */
static void view_ahead(const struct sb_tokenizer *t, const struct tok_doc *doc,
		       const struct tok_merge_view *v, uint32_t *ha, uint32_t *hb)
{
	*ha = text_hash(view_text(doc, v->a, v->na), v->na & ~MERGE_DECODED);
	*hb = text_hash(view_text(doc, v->b, v->nb), v->nb & ~MERGE_DECODED);
	lookup_prefetch(t, *ha);
	lookup_prefetch(t, *hb);
}

/* The merges read while locating them (doc->merge_views). */
static int merges_views(const struct sb_tokenizer *t, struct tok_model *model,
			const struct tok_doc *doc, struct sb_error *err)
{
	const struct tok_merge_view *v = doc->merge_views;
	size_t n = doc->n_merge_views;
	uint32_t ha[MERGE_AHEAD], hb[MERGE_AHEAD];
	int rc;

	for (size_t i = 0; i < n && i < MERGE_AHEAD; i++)
		view_ahead(t, doc, &v[i], &ha[i], &hb[i]);
	for (size_t i = 0; i < n; i++) {
		size_t r = i % MERGE_AHEAD, half = (i + MERGE_AHEAD / 2) % MERGE_AHEAD;
		uint32_t a = ha[r], b = hb[r];

		if (i + MERGE_AHEAD < n)
			view_ahead(t, doc, &v[i + MERGE_AHEAD], &ha[r], &hb[r]);
		if (i + MERGE_AHEAD / 2 < n) {
			lookup_prefetch_text(t, ha[half]);
			lookup_prefetch_text(t, hb[half]);
		}
		if ((rc = sb_tok_bpe_add_merge_hashed(model, view_text(doc, v[i].a, v[i].na),
						      v[i].na & ~MERGE_DECODED, a,
						      view_text(doc, v[i].b, v[i].nb),
						      v[i].nb & ~MERGE_DECODED, b, i,
						      "model.vocab", err)))
			return sb_error_prefix(err, JF ": model.merges[%zu]: ", i);
	}
	return SB_OK;
}

/* The merges of the tree (a document the text scan could not follow). */
static int merges_tree(struct tok_model *model, const struct sb_json *merges,
		       struct sb_error *err)
{
	int rc;

	for (size_t i = 0; i < merges->n_items; i++) {
		const struct sb_json *m = &merges->items[i];
		const char *a, *b;
		size_t na, nb, at;

		if (m->type == SB_JSON_STRING) {
			if (sb_tok_split_merge(m->str, m->len, &at))
				return sb_error_set(err, SB_EFORMAT, JF ": model.merges[%zu]: "
						    "expected \"a b\" (one space)", i);
			a = m->str;
			na = at;
			b = m->str + at + 1;
			nb = m->len - at - 1;
		} else if (m->type == SB_JSON_ARRAY && m->n_items == 2 &&
			   m->items[0].type == SB_JSON_STRING &&
			   m->items[1].type == SB_JSON_STRING) {
			a = m->items[0].str;
			na = m->items[0].len;
			b = m->items[1].str;
			nb = m->items[1].len;
		} else {
			return sb_error_set(err, SB_EFORMAT, JF ": model.merges[%zu]: expected "
					    "\"a b\" or [\"a\", \"b\"]", i);
		}
		if ((rc = sb_tok_bpe_add_merge(model, a, na, b, nb, i, "model.vocab", err)))
			return sb_error_prefix(err, JF ": model.merges[%zu]: ", i);
	}
	return SB_OK;
}

/* The merges into t's model (made for n_merges merges with cfg) from the form the
 * document kept them in. */
static int model_merges(struct sb_tokenizer *t, const struct tok_doc *doc,
			const struct sb_json *merges, const struct tok_bpe_config *cfg,
			size_t n_merges, struct sb_error *err)
{
	struct tok_model *m = &t->gen->model;
	const unsigned char *mtext = doc->text.data + doc->merges_off;
	int rc;

	if (!doc->merges_len)
		return merges_tree(m, merges, err);
	if (!doc->merge_views)
		return sb_tok_merges_parse(m, mtext, doc->merges_len, err);
	if (!(rc = merges_views(t, m, doc, err)))
		return SB_OK;
	/* The views' UTF-8 was checked only by the lookups: the text reader, which checks
	 * it, reads them again to word the error as for any document. */
	m->ops->free(m->impl);
	*m = (struct tok_model){0};
	if ((rc = sb_tok_bpe_new(m, t, cfg, n_merges, JF, err)))
		return rc;
	return sb_tok_merges_parse(m, mtext, doc->merges_len, err);
}

static int load_model(struct sb_tokenizer *t, const struct tok_doc *doc,
		      const struct sb_json *model, struct sb_error *err)
{
	struct tok_gen *g = t->gen;
	const struct sb_json *merges = sb_json_get(model, "merges"), *d;
	struct tok_bpe_config cfg = {0};
	size_t n_merges;
	int fb = 0, rc;

	cfg.byte_level = g->byte_level;
	d = sb_json_get(model, "dropout");
	if (d && d->type != SB_JSON_NULL) {
		if (d->type != SB_JSON_NUMBER)
			return bad(err, SB_EFORMAT, "model.dropout", "expected a number or null");
		if (d->num != 0)
			return bad(err, SB_EUNSUPPORTED, "model.dropout", "%g: BPE dropout (random "
				   "merges) is not supported", d->num);
	}
	if ((rc = get_str(model, "unk_token", &cfg.unk, NULL, "model", err)) ||
	    (rc = get_str(model, "continuing_subword_prefix", &cfg.prefix, NULL, "model", err)) ||
	    (rc = get_str(model, "end_of_word_suffix", &cfg.suffix, NULL, "model", err)) ||
	    (rc = get_bool(model, "fuse_unk", 0, &cfg.fuse_unk, "model", err)) ||
	    (rc = get_bool(model, "byte_fallback", 0, &fb, "model", err)) ||
	    (rc = get_bool(model, "ignore_merges", 0, &cfg.ignore_merges, "model", err)))
		return rc;
	if (fb && g->byte_level)
		return bad(err, SB_EUNSUPPORTED, "model.byte_fallback", "true with a ByteLevel "
			   "pre-tokenizer is not supported");
	cfg.byte_fallback = fb;
	if (!merges || merges->type != SB_JSON_ARRAY)
		return bad(err, SB_EFORMAT, "model.merges", "expected an array");
	/* A hint for the table, which grows: a merge takes 6 bytes at least. */
	n_merges = t->cached ? 0 : doc->merge_views ? doc->n_merge_views :
		   doc->merges_len ? doc->merges_len / 16 : merges->n_items;
	if (n_merges > MAX_MERGES)
		n_merges = MAX_MERGES;
	if ((rc = sb_tok_bpe_new(&g->model, t, &cfg, n_merges, JF, err)))
		return rc;
	if (t->cached) {
		sb_tok_store_merges(t);         /* the cache's table, checked */
		return SB_OK;
	}
	rc = model_merges(t, doc, merges, &cfg, n_merges, err);
	sb_tok_bpe_end_merges(&g->model);
	return rc;
}

static int load_unigram(struct sb_tokenizer *t, const struct sb_json *model,
			const double *scores, struct sb_error *err)
{
	const struct sb_json *u = sb_json_get(model, "unk_id");
	int fb = 0, rc;

	if ((rc = get_bool(model, "byte_fallback", 0, &fb, "model", err)))
		return rc;
	if (!u || u->type == SB_JSON_NULL)
		return bad(err, SB_EUNSUPPORTED, "model.unk_id", "null: a Unigram model without an "
			   "unknown piece is not supported");
	if (u->type != SB_JSON_NUMBER || !u->is_int || u->i < 0 || u->i >= (int64_t)t->n_ids)
		return bad(err, SB_EFORMAT, "model.unk_id", "expected an id of model.vocab (0 to "
			   "%zu)", t->n_ids ? t->n_ids - 1 : 0);
	return sb_tok_unigram_new(&t->gen->model, t, scores, (int32_t)u->i, fb, JF, err);
}

static void describe(struct sb_tokenizer *t, const char *source)
{
	struct tok_gen *g = t->gen;
	char d[128] = "";
	size_t n;

	for (size_t k = 0; k < g->n_norm; k++) {
		static const char *names[] = {"NFC", "NFD", "NFKC", "NFKD", "Lowercase", "Strip",
					      "Replace", "Prepend", "Precompiled",
					      "Replace(\" {2,}\")"};

		n = strlen(d);
		snprintf(d + n, sizeof(d) - n, "%s%s", n ? " " : "", names[g->norm[k].kind]);
	}
	sb_tok_setting(t, "normalizer", source, "%s", *d ? d : "none");
	d[0] = 0;
	for (size_t k = 0; k < g->n_pre; k++) {
		const struct tok_pre *pr = &g->pre[k];

		n = strlen(d);
		if (pr->kind == TOK_PRE_SPLIT)
			snprintf(d + n, sizeof(d) - n, "%sSplit(%s)", n ? " " : "",
				 sb_tok_pattern_name(pr->pattern));
		else if (pr->kind == TOK_PRE_METASPACE)
			snprintf(d + n, sizeof(d) - n, "%sMetaspace(%s, %s%s)", n ? " " : "",
				 pr->rep, pr->prepend == TOK_PREPEND_ALWAYS ? "always" :
				 pr->prepend == TOK_PREPEND_FIRST ? "first" : "never",
				 pr->split ? ", split" : "");
		else
			snprintf(d + n, sizeof(d) - n, "%sByteLevel(%s%s)", n ? " " : "",
				 pr->pattern ? "gpt2" : "no regex", pr->prefix_space ?
				 ", prefix space" : "");
	}
	if (g->byte_level && (!g->n_pre || g->pre[g->n_pre - 1].kind != TOK_PRE_BYTELEVEL)) {
		n = strlen(d);
		snprintf(d + n, sizeof(d) - n, "%sByteLevel", n ? " " : "");
	}
	sb_tok_setting(t, "pre_tokenizer", source, "%s", *d ? d : "none");
	if (g->model.ops == &sb_tok_unigram_ops)
		sb_tok_setting(t, "model", source, "Unigram, %zu pieces", t->n_ids);
	else
		sb_tok_setting(t, "model", source, "%s, %zu merges%s", g->model.ops->name,
			       sb_tok_bpe_merges(&g->model), g->byte_level ? ", byte-level" :
			       "");
	sb_tok_setting(t, "added_tokens", source, "%zu matched on the text, %zu on the normalized "
		       "text", g->raw.n, g->normd.n);
}

static int new_gen(struct sb_tokenizer *t, struct sb_error *err)
{
	t->gen = calloc(1, sizeof(*t->gen));
	if (!t->gen)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	t->info.unk_id = -1;
	t->info.max_input_chars_per_word = 0;
	return SB_OK;
}

/* model.vocab: an object of ids (BPE), or [piece, score] pairs with *scores (Unigram). */
static int load_vocab(const struct tok_doc *doc, const struct sb_json *model, int unigram,
		      struct tok_list *l, double **scores, struct sb_error *err)
{
	const struct sb_json *vocab = sb_json_get(model, "vocab");
	int rc;

	if (unigram) {
		if (!vocab || vocab->type != SB_JSON_ARRAY)
			return bad(err, SB_EFORMAT, "model.vocab", "expected an array");
		if (doc->vocab_len && (rc = sb_tok_unigram_vocab_parse(doc->text.data + doc->vocab_off,
								doc->vocab_len, l, scores, err)))
			return rc;
		if ((rc = sb_tok_unigram_vocab_tree(vocab, l, scores, err)))
			return rc;
		if (!l->n)
			return bad(err, SB_EFORMAT, "model.vocab", "empty");
		return SB_OK;
	}
	if (!vocab || vocab->type != SB_JSON_OBJECT)
		return bad(err, SB_EFORMAT, "model.vocab", "expected an object");
	if ((rc = sb_tok_doc_vocab(doc, l, JF ": model.vocab", err)))
		return rc;
	for (size_t i = 0; i < vocab->n_items; i++) {
		const struct sb_json *e = &vocab->items[i];

		if (e->type != SB_JSON_NUMBER || !e->is_int)
			return sb_error_set(err, SB_EFORMAT, JF ": model.vocab['%.60s']: expected an "
					    "integer id", e->key);
		if ((rc = sb_tok_list_add(l, e->key, e->key_len, e->i, JF ": model.vocab", err)))
			return rc;
	}
	return SB_OK;
}

/* The vocabulary of the document into t's table, and where it was in the text. */
static int vocab_built(struct sb_tokenizer *t, const struct tok_doc *doc,
		       const struct sb_json *model, int unigram, struct tok_list *l,
		       double **scores, struct sb_error *err)
{
	int rc;

	if ((rc = load_vocab(doc, model, unigram, l, scores, err)))
		return rc;
	t->n_entries = l->n;
	t->span[0] = doc->vocab_off;
	t->span[1] = doc->vocab_len;
	t->span[2] = doc->merges_off;
	t->span[3] = doc->merges_len;
	if ((rc = sb_tok_vocab_build(t, l, err))) {
		sb_error_prefix(err, JF ": ");
		return rc;
	}
	return check_vocab(t, l, JF ": model.vocab", err);
}

int sb_tok_load_json(struct sb_tokenizer *t, const struct tok_doc *doc, struct tok_list *l,
		     struct sb_error *err)
{
	const struct sb_json *root = doc->root;
	const struct sb_json *model = sb_json_get(root, "model"), *m;
	const char *ver = NULL, *ty = type_of(model);
	int unigram = ty && strcmp(ty, "Unigram") == 0;
	double *scores = NULL;
	size_t vocab_size;
	int64_t pad;
	int rc;

	if ((rc = get_str(root, "version", &ver, NULL, "version", err)))
		return rc;
	if (ver && strcmp(ver, "1.0"))
		return bad(err, SB_EUNSUPPORTED, "version", "'%s': only 1.0 is known", ver);
	if ((rc = t->cached ? sb_tok_store_vocab(t, err) : vocab_built(t, doc, model, unigram, l,
								       &scores, err)))
		goto out;
	vocab_size = t->n_entries;
	if ((rc = new_gen(t, err)) ||
	    (rc = load_norm(t->gen, sb_json_get(root, "normalizer"), "normalizer", err)) ||
	    (rc = sb_tok_norm_prepare(t->gen, err)) ||
	    (rc = load_pre(t->gen, sb_json_get(root, "pre_tokenizer"), "pre_tokenizer", err)) ||
	    (rc = unigram ? load_unigram(t, model, scores, err) : load_model(t, doc, model, err)) ||
	    (rc = load_added(t, sb_json_get(root, "added_tokens"), vocab_size, err)))
		goto out;
	sb_tok_added_index(&t->gen->raw);
	sb_tok_added_index(&t->gen->normd);
	if ((rc = load_post(t, sb_json_get(root, "post_processor"), err)))
		goto out;
	m = sb_json_get(root, "padding");
	if (m && m->type == SB_JSON_OBJECT && sb_json_get_int(m, "pad_id", &pad, NULL) == SB_OK &&
	    pad >= 0 && pad < (int64_t)MAX_VOCAB)
		t->info.pad_id = (int32_t)pad;
	describe(t, JF);
out:
	free(scores);
	return rc;
}

/* ---- vocab.json + merges.txt ---- */

static int load_merges_txt(struct sb_tokenizer *t, const char *path, struct sb_error *err)
{
	struct tok_gen *g = t->gen;
	struct sb_buf b;
	size_t i = 0, line = 0, n_lines = 0, rank = 0;
	int rc;

	sb_buf_init(&b);
	if ((rc = sb_file_read(path, MAX_TOKENIZER_JSON, &b, err)))
		goto out;
	if (!b.len || b.data[b.len - 1] != '\n') {
		rc = sb_error_set(err, SB_EFORMAT, "merges.txt: no final newline (transformers "
				  "would drop the last merge, tokenizers not)");
		goto out;
	}
	for (size_t k = 0; k < b.len; k++)
		n_lines += b.data[k] == '\n';
	if ((rc = sb_tok_bpe_new(&g->model, t, &(struct tok_bpe_config){.byte_level = 1},
				 n_lines, "merges.txt", err)))
		goto out;
	while (i < b.len) {
		const char *s = (const char *)b.data + i;
		const char *nl = memchr(s, '\n', b.len - i);
		size_t n = (size_t)(nl - s), at;

		i += n + 1;
		line++;
		if (n && s[n - 1] == '\r')
			n--;
		if (n >= 8 && memcmp(s, "#version", 8) == 0) {
			if (line != 1) {
				rc = sb_error_set(err, SB_EFORMAT, "merges.txt: line %zu: a #version "
						  "line after the first", line);
				goto out;
			}
			continue;
		}
		if (line == 1) {
			rc = sb_error_set(err, SB_EFORMAT, "merges.txt: line 1: expected "
					  "\"#version: ...\" (transformers skips the first line)");
			goto out;
		}
		if (sb_tok_split_merge(s, n, &at)) {
			rc = sb_error_set(err, SB_EFORMAT, "merges.txt: line %zu: expected \"a b\" "
					  "(one space)", line);
			goto out;
		}
		if ((rc = sb_tok_bpe_add_merge(&g->model, s, at, s + at + 1, n - at - 1, rank++,
					       "vocab.json", err))) {
			sb_error_prefix(err, "merges.txt: line %zu: ", line);
			goto out;
		}
	}
	sb_tok_bpe_end_merges(&g->model);
out:
	sb_buf_destroy(&b);
	return rc;
}

/* RoBERTa or GPT-2, from tokenizer_class, else config.json's model_type: *roberta. */
static int bpe_flavour(const char *dir, const struct sb_json *tcfg, const struct sb_json *mcfg,
		       int *roberta, struct sb_error *err)
{
	const char *cls = NULL, *mt = NULL;

	if (tcfg)
		sb_json_get_str(tcfg, "tokenizer_class", &cls, NULL);
	if (mcfg)
		sb_json_get_str(mcfg, "model_type", &mt, NULL);
	if (cls) {
		*roberta = !strcmp(cls, "RobertaTokenizer") || !strcmp(cls, "RobertaTokenizerFast");
		if (!*roberta && strcmp(cls, "GPT2Tokenizer") && strcmp(cls, "GPT2TokenizerFast"))
			return sb_error_set(err, SB_EUNSUPPORTED, "tokenizer_config.json: "
					    "tokenizer_class '%s': vocab.json + merges.txt are "
					    "read for RobertaTokenizer and GPT2Tokenizer only",
					    cls);
		return SB_OK;
	}
	if (mt && (!strcmp(mt, "roberta") || !strcmp(mt, "gpt2"))) {
		*roberta = mt[0] == 'r';
		return SB_OK;
	}
	return sb_error_set(err, SB_EUNSUPPORTED, "%s: vocab.json + merges.txt without a "
			    "tokenizer_class (tokenizer_config.json) or model_type "
			    "(config.json) of RoBERTa or GPT-2", dir);
}

/* vocab.json (*vocab: the parsed file, for the caller to free) into l and t's vocabulary. */
static int bpe_vocab(struct sb_tokenizer *t, const char *vj, struct sb_json **vocab,
		     struct tok_list *l, struct sb_error *err)
{
	int rc;

	if ((rc = sb_json_parse_file(vj, 0, MAX_TOKENIZER_JSON, vocab, err)))
		return rc;
	if ((*vocab)->type != SB_JSON_OBJECT)
		return sb_error_set(err, SB_EFORMAT, "vocab.json: expected an object");
	for (size_t i = 0; i < (*vocab)->n_items; i++) {
		const struct sb_json *e = &(*vocab)->items[i];

		if (e->type != SB_JSON_NUMBER || !e->is_int)
			return sb_error_set(err, SB_EFORMAT, "vocab.json: '%.60s': expected an "
					    "integer id", e->key);
		if ((rc = sb_tok_list_add(l, e->key, e->key_len, e->i, "vocab.json", err)))
			return rc;
	}
	if ((rc = sb_tok_vocab_build(t, l, err))) {
		sb_error_prefix(err, "vocab.json: ");
		return rc;
	}
	return check_vocab(t, l, "vocab.json", err);
}

/* tokenizer_config.json's added_tokens_decoder: {"id": {content, single_word, ...}}. */
static int added_from_decoder(struct sb_tokenizer *t, const struct sb_json *dec,
			      struct sb_error *err)
{
	int rc;

	for (size_t i = 0; i < dec->n_items; i++) {
		const struct sb_json *a = &dec->items[i];
		struct jpath p;
		const char *path = sub(&p, "added_tokens_decoder", "['%.20s']", a->key);
		const char *c = NULL;
		size_t nc = 0;
		char *endp;
		long long id = strtoll(a->key, &endp, 10);
		int sw = 0, ls = 0, rs = 0, nz = 0, sp = 0;
		int32_t vid;

		if (a->type != SB_JSON_OBJECT || *endp || !a->key[0] || id < 0 ||
		    get_str(a, "content", &c, &nc, path, NULL) || !c || !nc ||
		    get_bool(a, "single_word", 0, &sw, path, NULL) ||
		    get_bool(a, "lstrip", 0, &ls, path, NULL) ||
		    get_bool(a, "rstrip", 0, &rs, path, NULL) ||
		    get_bool(a, "special", 0, &sp, path, NULL) ||
		    get_bool(a, "normalized", !sp, &nz, path, NULL))
			return sb_error_set(err, SB_EFORMAT, "tokenizer_config.json: %s: bad entry",
					    path);
		vid = lookup(t, HASH_INIT, "", 0, c, nc);
		if (vid != id)
			return sb_error_set(err, SB_EFORMAT, "tokenizer_config.json: %s: '%.40s' "
					    "is not token %lld of vocab.json", path, c, id);
		if ((rc = add_token(t, c, nc, vid, sw, ls, rs, nz, "tokenizer_config.json", path,
				    err)))
			return rc;
	}
	return SB_OK;
}

/* Without added_tokens_decoder: the special tokens as transformers makes them (not
 * normalized; RoBERTa's <mask> lstrip). */
static int added_defaults(struct sb_tokenizer *t, const struct sb_json *tcfg,
			  const struct sb_json *smap, int roberta, struct sb_error *err)
{
	static const char *const rk[] = { "bos_token", "eos_token", "unk_token", "sep_token",
					  "cls_token", "pad_token", "mask_token" };
	static const char *const rd[] = { "<s>", "</s>", "<unk>", "</s>", "<s>", "<pad>",
					  "<mask>" };
	size_t nk = roberta ? 7 : 3;
	int rc;

	for (size_t k = 0; k < nk; k++) {
		const char *name = sb_tok_special_or(tcfg, smap, rk[k], roberta ? rd[k] :
						     "<|endoftext|>");
		int32_t vid = lookup(t, HASH_INIT, "", 0, name, strlen(name));
		int seen = 0;

		if (vid < 0)
			return sb_error_set(err, SB_EFORMAT, "tokenizer_config.json: %s '%s' is "
					    "not in vocab.json", rk[k], name);
		for (size_t j = 0; j < t->n_added; j++)
			seen |= t->added[j].id == vid;
		if (!seen && (rc = add_token(t, name, strlen(name), vid, 0, roberta && k == 6, 0,
					     0, "tokenizer_config.json", rk[k], err)))
			return rc;
	}
	return SB_OK;
}

/* RoBERTa's <s> A </s> and <s> A </s></s> B </s>, or GPT-2's bos A (add_bos_token). */
static int bpe_templates(struct sb_tokenizer *t, const struct sb_json *tcfg,
			 const struct sb_json *smap, int roberta, struct sb_error *err)
{
	const char *c = sb_tok_special_or(tcfg, smap, roberta ? "cls_token" : "bos_token",
					  roberta ? "<s>" : "<|endoftext|>");
	const char *s = sb_tok_special_or(tcfg, smap, "sep_token", "</s>");
	int32_t ci = sb_tokenizer_token_id(t, c, strlen(c));
	int32_t si = sb_tokenizer_token_id(t, s, strlen(s));
	int rc;

	if (ci < 0 || (roberta && si < 0))
		return sb_error_set(err, SB_EFORMAT, "tokenizer_config.json: special token '%s' "
				    "is not in vocab.json", ci < 0 ? c : s);
	t->single.n = t->pair.n = 0;
	t->single.n_special = t->pair.n_special = 0;
	if (roberta) {
		if ((rc = sb_tok_tpl_id(&t->single, ci, 0, "vocab.json", err)) ||
		    (rc = sb_tok_tpl_seq(&t->single, TPL_A, 0, "vocab.json", err)) ||
		    (rc = sb_tok_tpl_id(&t->single, si, 0, "vocab.json", err)) ||
		    (rc = sb_tok_tpl_id(&t->pair, ci, 0, "vocab.json", err)) ||
		    (rc = sb_tok_tpl_seq(&t->pair, TPL_A, 0, "vocab.json", err)) ||
		    (rc = sb_tok_tpl_id(&t->pair, si, 0, "vocab.json", err)) ||
		    (rc = sb_tok_tpl_id(&t->pair, si, 0, "vocab.json", err)) ||
		    (rc = sb_tok_tpl_seq(&t->pair, TPL_B, 0, "vocab.json", err)) ||
		    (rc = sb_tok_tpl_id(&t->pair, si, 0, "vocab.json", err)))
			return rc;
		return SB_OK;
	}
	if ((rc = sb_tok_tpl_id(&t->single, ci, 0, "vocab.json", err)) ||
	    (rc = sb_tok_tpl_seq(&t->single, TPL_A, 0, "vocab.json", err)) ||
	    (rc = sb_tok_tpl_id(&t->pair, ci, 0, "vocab.json", err)) ||
	    (rc = sb_tok_tpl_seq(&t->pair, TPL_A, 0, "vocab.json", err)) ||
	    (rc = sb_tok_tpl_seq(&t->pair, TPL_B, 1, "vocab.json", err)))
		return rc;
	return SB_OK;
}

int sb_tok_load_bpe_files(struct sb_tokenizer *t, const char *dir, const struct sb_json *tcfg,
			  const struct sb_json *smap, const struct sb_json *mcfg,
			  struct tok_list *l, struct sb_error *err)
{
	char *vj = sb_path_join(dir, "vocab.json"), *mp = sb_path_join(dir, "merges.txt");
	struct sb_json *vocab = NULL;
	const struct sb_json *dec;
	struct tok_pre *pr;
	int roberta = 0, aps = 0, bos = 0, rc;

	if (!vj || !mp) {
		rc = sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
		goto out;
	}
	if (!sb_file_exists(vj) || !sb_file_exists(mp)) {
		rc = sb_error_set(err, SB_ENOTFOUND, "%s: %s without %s", dir,
				  sb_file_exists(vj) ? "vocab.json" : "merges.txt",
				  sb_file_exists(vj) ? "merges.txt" : "vocab.json");
		goto out;
	}
	if ((rc = bpe_flavour(dir, tcfg, mcfg, &roberta, err)))
		goto out;
	if (tcfg && ((aps = sb_tok_json_bool(tcfg, "add_prefix_space")) == -2 ||
		     (bos = sb_tok_json_bool(tcfg, "add_bos_token")) == -2)) {
		rc = sb_error_set(err, SB_EFORMAT, "tokenizer_config.json: add_prefix_space, "
				  "add_bos_token: expected booleans");
		goto out;
	}
	aps = aps == 1;
	bos = bos == 1;
	if ((rc = bpe_vocab(t, vj, &vocab, l, err)) || (rc = new_gen(t, err)))
		goto out;
	pr = &t->gen->pre[t->gen->n_pre++];
	pr->kind = TOK_PRE_BYTELEVEL;
	pr->pattern = TOK_PAT_GPT2;
	pr->prefix_space = aps;
	t->gen->byte_level = 1;
	if ((rc = load_merges_txt(t, mp, err)))
		goto out;
	/* Added tokens: tokenizer_config.json's added_tokens_decoder, else the defaults. */
	dec = tcfg ? sb_json_get(tcfg, "added_tokens_decoder") : NULL;
	rc = dec && dec->type == SB_JSON_OBJECT ? added_from_decoder(t, dec, err)
						: added_defaults(t, tcfg, smap, roberta, err);
	if (rc)
		goto out;
	sb_tok_added_index(&t->gen->raw);
	sb_tok_added_index(&t->gen->normd);
	if ((rc = plain_templates(t, err)) ||
	    ((roberta || bos) && (rc = bpe_templates(t, tcfg, smap, roberta, err))))
		goto out;
	sb_tok_setting(t, "post_processor", "tokenizer_config.json", "%s",
		       roberta ? "RobertaProcessing" : bos ? "TemplateProcessing (bos)" :
		       "ByteLevel");
	describe(t, roberta ? "RobertaTokenizer" : "GPT2Tokenizer");
out:
	sb_json_free(&vocab);
	free(vj);
	free(mp);
	return rc;
}
