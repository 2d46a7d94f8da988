/*
 * tok_fused.c - the SentencePiece pipelines of tokenizer.json files in one pass over a
 * whole text (a piece of the input between two added tokens), for the chains that
 * transformers' SpmConverter writes:
 *
 *   - TOK_FUSED_META (XLM-RoBERTa's kind): Precompiled, then Strip (either end or
 *     none), then optionally Replace " {2,}" by the Metaspace replacement or by a
 *     space, then Metaspace with split as the only pre-tokenizer;
 *   - TOK_FUSED_PREPEND (Llama's kind): Prepend, then Replace of a literal, and no
 *     pre-tokenizer: the whole text is one pre-token.
 *
 * The generic pipeline (tok_gen.c) runs these as streaming stages, each holding back
 * what it cannot decide and handing the rest to the next: on short texts (a line) the
 * bookkeeping costs more than the work.  Here the charsmap writes its output once and
 * one pass over it strips the ends, turns space runs into replacements, prepends the
 * replacement and hands each word to the model as it ends.  The results are those of
 * the stages (tests/check_tok_fused.c compares them); tok_gen.c uses this path only
 * for a text it holds whole and whose stages are empty.
 *
 * Under TOK_FUSED_META, after Strip: with the Replace, a run of two spaces or more is
 * one replacement, and Metaspace turns a single space into one too, so every run of
 * spaces becomes one replacement (with the Replace by a space, the run becomes a space,
 * then the replacement: the same); without it, each space is one.  Metaspace cuts the
 * text before every replacement that does not start it.
 */
#include <string.h>

#include "buf.h"
#include "errors.h"
#include "tok_gen.h"
#include "tokenizer_impl.h"

/* Longest text taken here: its words stay far below TOK_MAX_PIECE (the generic path
 * refuses longer pre-tokens, and takes longer texts). */
#define FUSED_MAX_TEXT ((size_t)64 << 10)

/* The fused chain of g's TOK_FUSED_META form, or TOK_FUSED_NONE. */
static enum tok_fused meta_kind(const struct tok_gen *g)
{
	const struct tok_pre *pr = &g->pre[0];
	size_t k = 1;

	if (g->n_pre != 1 || pr->kind != TOK_PRE_METASPACE || !pr->split || !pr->nrep)
		return TOK_FUSED_NONE;
	if (g->n_norm < 1 || g->norm[0].kind != TOK_NORM_PRECOMPILED)
		return TOK_FUSED_NONE;
	if (k < g->n_norm && g->norm[k].kind == TOK_NORM_STRIP)
		k++;
	if (k < g->n_norm && g->norm[k].kind == TOK_NORM_REPLACE_SPACES) {
		const struct tok_norm *nm = &g->norm[k];

		if (!((nm->nrep == 1 && nm->rep[0] == ' ') ||
		      (nm->nrep == pr->nrep && memcmp(nm->rep, pr->rep, pr->nrep) == 0)))
			return TOK_FUSED_NONE;
		k++;
	}
	return k == g->n_norm ? TOK_FUSED_META : TOK_FUSED_NONE;
}

enum tok_fused sb_tok_fused_kind(const struct tok_gen *g)
{
	if (g->normd.n)
		return TOK_FUSED_NONE;
	if (g->n_pre == 0 && g->n_norm == 2 && g->norm[0].kind == TOK_NORM_PREPEND &&
	    g->norm[1].kind == TOK_NORM_REPLACE && g->norm[1].npat)
		return TOK_FUSED_PREPEND;
	return meta_kind(g);
}

static int encode(const struct tok_gen *g, void *scratch, const unsigned char *p, size_t n,
		  struct tok_seq *out, struct sb_error *err)
{
	const struct tok_model *m = &g->model;

	if (m->ops->encode(m->impl, scratch, p, n, out) || out->oom)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	return SB_OK;
}

/* Strip's ends of p[0..n): *lo and *hi bound what it keeps. */
static void strip_ends(const struct tok_norm *nm, const unsigned char *p, size_t n, size_t *lo,
		       size_t *hi)
{
	size_t i = 0, j = n, len;

	if (nm->left) {
		while (i < n) {
			uint32_t c = p[i] < 0x80 ? (len = 1, p[i]) : utf8_decode(p + i, &len);

			if (!sb_tok_is_space(c))
				break;
			i += len;
		}
	}
	if (nm->right) {
		while (j > i) {
			size_t s = j - 1;

			while (s > i && (p[s] & 0xC0) == 0x80)
				s--;
			if (!sb_tok_is_space(p[s] < 0x80 ? p[s] : utf8_decode(p + s, &len)))
				break;
			j = s;
		}
	}
	*lo = i;
	*hi = j;
}

/*
 * Strip, the space runs, Metaspace and the model over the charsmap's output p[lo..hi):
 * the words are written to b (each space run as one replacement, or each space with
 * !runs) and each goes to the model when the next starts.
 */
static int meta_words(const struct tok_gen *g, void *scratch, struct tok_seq *out,
		      int prepend, int runs, const unsigned char *p, size_t lo, size_t hi,
		      struct sb_buf *b, struct sb_error *err)
{
	const struct tok_pre *pr = &g->pre[0];
	const unsigned char *rep = (const unsigned char *)pr->rep;
	size_t nrep = pr->nrep, i = lo, w = 0;
	unsigned char *q;
	int rc;

	b->len = 0;
	if ((rc = sb_buf_reserve(b, (hi - lo + 1) * nrep, err)))
		return rc;
	q = b->data;
	if (prepend && p[lo] != ' ' && !(hi - lo >= nrep && memcmp(p + lo, rep, nrep) == 0)) {
		memcpy(q, rep, nrep);
		q += nrep;
	}
	while (i < hi) {
		unsigned char c = p[i];

		if (c != ' ' && (c != rep[0] || hi - i < nrep || memcmp(p + i, rep, nrep) != 0)) {
			*q++ = c;
			i++;
			continue;
		}
		/* A cut before the replacement (none at the text's start). */
		if (q > b->data + w && (rc = encode(g, scratch, b->data + w, (size_t)(q - b->data) - w,
						     out, err)))
			return rc;
		w = (size_t)(q - b->data);
		memcpy(q, rep, nrep);
		q += nrep;
		if (c != ' ')
			i += nrep;
		else if (runs)
			while (++i < hi && p[i] == ' ')
				;
		else
			i++;
	}
	if (q > b->data + w)
		return encode(g, scratch, b->data + w, (size_t)(q - b->data) - w, out, err);
	return SB_OK;
}

static int run_meta(const struct tok_gen *g, void *scratch, struct tok_seq *out, int at_start,
		    const unsigned char *p, size_t n, struct sb_buf *a, struct sb_buf *b,
		    struct sb_error *err)
{
	const struct tok_pre *pr = &g->pre[0];
	size_t k = 1, used, lo = 0, hi;
	int prepend, runs = 0, rc;

	a->len = 0;
	if ((rc = sb_tok_charsmap_run(g->norm[0].map, p, n, 1, &used, a, err)))
		return rc;
	hi = a->len;
	if (k < g->n_norm && g->norm[k].kind == TOK_NORM_STRIP)
		strip_ends(&g->norm[k++], a->data, a->len, &lo, &hi);
	if (k < g->n_norm)
		runs = 1;
	if (lo >= hi)
		return SB_OK;
	prepend = pr->prepend == TOK_PREPEND_ALWAYS ||
		  (pr->prepend == TOK_PREPEND_FIRST && at_start);
	return meta_words(g, scratch, out, prepend, runs, a->data, lo, hi, b, err);
}

/* Prepend, then Replace of a literal, and the whole text to the model. */
static int run_prepend(const struct tok_gen *g, void *scratch, struct tok_seq *out,
		       const unsigned char *p, size_t n, struct sb_buf *b, struct sb_error *err)
{
	const struct tok_norm *pre = &g->norm[0], *nm = &g->norm[1];
	const unsigned char *pat = (const unsigned char *)nm->pat;
	size_t npat = nm->npat, i = 0, bound;
	unsigned char *q;
	int rc;

	b->len = 0;
	/* At most n / npat matches, each nrep bytes. */
	bound = pre->nrep + n + (n / npat + 1) * nm->nrep;
	if ((rc = sb_buf_reserve(b, bound, err)))
		return rc;
	q = b->data;
	memcpy(q, pre->rep, pre->nrep);
	q += pre->nrep;
	while (i < n) {
		if (p[i] == pat[0] && n - i >= npat && memcmp(p + i, pat, npat) == 0) {
			memcpy(q, nm->rep, nm->nrep);
			q += nm->nrep;
			i += npat;
			continue;
		}
		*q++ = p[i++];
	}
	b->len = (size_t)(q - b->data);
	return b->len ? encode(g, scratch, b->data, b->len, out, err) : SB_OK;
}

int sb_tok_fused_text(const struct tok_gen *g, enum tok_fused kind, void *scratch,
		      struct tok_seq *out, int at_start, const unsigned char *p, size_t n,
		      struct sb_buf *a, struct sb_buf *b, struct sb_error *err)
{
	if (!n)
		return SB_OK;
	if (kind == TOK_FUSED_PREPEND)
		return run_prepend(g, scratch, out, p, n, b, err);
	return run_meta(g, scratch, out, at_start, p, n, a, b, err);
}

int sb_tok_fused_fits(size_t n)
{
	return n <= FUSED_MAX_TEXT;
}
