/*
 * tok_gen.c - the generic pipeline at run time (see tok_gen.h): added tokens, then
 * normalizers, then added tokens again on the normalized text, then pre-tokenizers,
 * then the model, as a chain of streaming stages.
 *
 * The stages after the first are an array: stage s holds the input it could not yet
 * decide (g->st[s].in), runs when that input grows past RUN_BYTES or when its text
 * ends, and appends its output to the input of stage s + 1.  A "text" here is what
 * Hugging Face normalizes and pre-tokenizes as one string: the piece of the input
 * between two added tokens (and, for the pre-tokenizers, between two tokens of the
 * normalized set).
 *
 * Added tokens (AddedVocabulary::find_matches): at the leftmost position where one
 * matches, the longest; with single_word it must not touch a word character (Rust
 * regex \w) on either side, else the matched text is left as text and the search goes
 * on after it; lstrip takes the white space before it (back to the previous token),
 * rstrip the white space after it.
 */
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "buf.h"
#include "tok_gen.h"
#include "tokenizer.h"
#include "tokenizer_impl.h"

#define RUN_BYTES 4096

/* ---- added tokens: the matching index ---- */

static int added_cmp(const void *a, const void *b)
{
	const struct tok_added *x = a, *y = b;
	unsigned char fx = (unsigned char)x->s[0], fy = (unsigned char)y->s[0];

	if (fx != fy)
		return fx < fy ? -1 : 1;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return 0;
}

void sb_tok_added_index(struct tok_added_set *set)
{
	size_t k = 0;

	if (set->n)
		qsort(set->tok, set->n, sizeof(*set->tok), added_cmp);
	set->max_len = 0;
	set->any_lstrip = set->any_single_word = 0;
	for (unsigned b = 0; b < 256; b++) {
		set->first[b] = (uint16_t)k;
		while (k < set->n && (unsigned char)set->tok[k].s[0] == b)
			k++;
	}
	set->first[256] = (uint16_t)k;
	set->one_first = set->n ? (unsigned char)set->tok[0].s[0] : -1;
	for (size_t i = 0; i < set->n; i++) {
		if ((unsigned char)set->tok[i].s[0] != set->one_first)
			set->one_first = -1;
		if (set->tok[i].n > set->max_len)
			set->max_len = set->tok[i].n;
		set->any_lstrip |= set->tok[i].lstrip;
		set->any_single_word |= set->tok[i].single_word;
	}
}

long sb_tok_added_longest(const struct tok_added_set *set, const unsigned char *p, size_t n,
			  size_t i)
{
	unsigned b = p[i];

	for (size_t k = set->first[b]; k < set->first[b + 1]; k++) {
		const struct tok_added *a = &set->tok[k];

		if (a->n <= n - i && memcmp(p + i, a->s, a->n) == 0)
			return (long)k;
	}
	return -1;
}

/* ---- state ---- */

enum stage_kind { ST_NORM, ST_ADDED, ST_PRE };

struct stage {
	enum stage_kind kind;
	const struct tok_norm *norm;    /* ST_NORM */
	struct sb_buf in;
	unsigned state;                 /* ST_NORM: the normalizer's */
	int started;                    /* ST_PRE: the text's first bytes were seen */
	int prepend;                    /* ST_PRE, Metaspace: the replacement goes first */
};

/* The added-token matcher of one set over one stream of text. */
struct matcher {
	const struct tok_added_set *set;
	uint32_t prev;                  /* the character before in[0], when have_prev */
	int have_prev;
	int skip;                       /* rstrip: white space is being dropped */
};

struct tok_gen_state {
	const struct sb_tokenizer *t;
	const struct tok_gen *g;
	void *scratch;                  /* the model's */
	struct tok_seq *out;
	unsigned flags;

	unsigned char carry[4];         /* an incomplete UTF-8 sequence at the end of a piece */
	size_t n_carry;
	uint64_t off;                   /* bytes fed of the current text */
	int at_start;                   /* no added token yet: text here starts at offset 0 */
	uint64_t n_replaced;

	struct sb_buf raw;              /* valid text not yet matched against g->raw */
	struct matcher m1, m2;

	struct stage st[TOK_MAX_NORM + 2];
	size_t n_st;
	struct sb_buf piece[TOK_MAX_PRE];       /* pre-tokenizers after the first */
	enum tok_fused fused;           /* the one-pass form of the stages (tok_fused.c) */
	struct sb_buf fa, fb;           /* its scratch */
};

int sb_tok_gen_state_new(struct tok_gen_state **out, const struct sb_tokenizer *t,
			 struct sb_error *err)
{
	const struct tok_gen *g = t->gen;
	struct tok_gen_state *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	s->t = t;
	s->g = g;
	s->scratch = g->model.ops->scratch_new(g->model.impl);
	if (!s->scratch) {
		free(s);
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	}
	sb_buf_init(&s->raw);
	for (size_t k = 0; k < g->n_norm; k++) {
		s->st[s->n_st].kind = ST_NORM;
		s->st[s->n_st++].norm = &g->norm[k];
	}
	if (g->normd.n)
		s->st[s->n_st++].kind = ST_ADDED;
	s->st[s->n_st++].kind = ST_PRE;
	for (size_t k = 0; k < s->n_st; k++)
		sb_buf_init(&s->st[k].in);
	for (size_t k = 0; k < TOK_MAX_PRE; k++)
		sb_buf_init(&s->piece[k]);
	s->m1.set = &g->raw;
	s->m2.set = &g->normd;
	s->fused = sb_tok_fused_kind(g);
	sb_buf_init(&s->fa);
	sb_buf_init(&s->fb);
	*out = s;
	return SB_OK;
}

void sb_tok_gen_state_free(struct tok_gen_state *s)
{
	if (!s)
		return;
	s->g->model.ops->scratch_free(s->scratch);
	sb_buf_destroy(&s->raw);
	for (size_t k = 0; k < s->n_st; k++)
		sb_buf_destroy(&s->st[k].in);
	for (size_t k = 0; k < TOK_MAX_PRE; k++)
		sb_buf_destroy(&s->piece[k]);
	sb_buf_destroy(&s->fa);
	sb_buf_destroy(&s->fb);
	free(s);
}

void sb_tok_gen_set_fused(struct tok_gen_state *s, int on)
{
	s->fused = on ? sb_tok_fused_kind(s->g) : TOK_FUSED_NONE;
}

static void matcher_reset(struct matcher *m)
{
	m->have_prev = 0;
	m->skip = 0;
}

void sb_tok_gen_begin(struct tok_gen_state *s, struct tok_seq *out, unsigned flags)
{
	s->out = out;
	s->flags = flags;
	s->n_carry = 0;
	s->off = 0;
	s->at_start = 1;
	s->n_replaced = 0;
	s->raw.len = 0;
	matcher_reset(&s->m1);
	matcher_reset(&s->m2);
	for (size_t k = 0; k < s->n_st; k++) {
		s->st[k].in.len = 0;
		s->st[k].state = 0;
		s->st[k].started = 0;
	}
}

static int too_long(struct tok_gen_state *s, struct sb_error *err)
{
	return sb_error_set(err, SB_ELIMIT, "byte %llu: more than %zu bytes in one pre-token "
			    "(a word, a run of spaces or of combining marks that the "
			    "pre-tokenizer does not cut); sb holds a pre-token whole",
			    (unsigned long long)s->off, TOK_MAX_PIECE);
}

/* ---- pre-tokenizers and the model ---- */

static int model(struct tok_gen_state *s, const unsigned char *p, size_t n,
		 struct sb_error *err)
{
	const struct tok_model *m = &s->g->model;

	if (m->ops->encode(m->impl, s->scratch, p, n, s->out))
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	return s->out->oom ? sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory") : SB_OK;
}

/* Pre-tokenizer k and those after it on the whole piece p[0..n) (n > 0). */
static int piece(struct tok_gen_state *s, size_t k, const unsigned char *p, size_t n,
		 struct sb_error *err)
{
	const struct tok_gen *g = s->g;
	const struct tok_pre *pr;
	enum tok_pattern pat;
	int rc;

	if (k >= g->n_pre)
		return model(s, p, n, err);
	pr = &g->pre[k];
	if (pr->kind == TOK_PRE_BYTELEVEL && pr->prefix_space && p[0] != ' ') {
		struct sb_buf *b = &s->piece[k];

		b->len = 0;
		if ((rc = sb_buf_append(b, " ", 1, err)) || (rc = sb_buf_append(b, p, n, err)))
			return rc;
		p = b->data;
		n = b->len;
	}
	pat = pr->pattern;
	if (pat == TOK_PAT_NONE)
		return piece(s, k + 1, p, n, err);
	while (n) {
		size_t m = sb_tok_pattern_match(pat, p, n, 1);

		if ((rc = piece(s, k + 1, p, m, err)))
			return rc;
		p += m;
		n -= m;
	}
	return SB_OK;
}

/* Metaspace's piece p[0..n): spaces become the replacement, which goes first when
 * st->prepend is still set (the text's first piece). */
static int meta_piece(struct tok_gen_state *s, struct stage *st, const unsigned char *p,
		      size_t n, struct sb_error *err)
{
	const struct tok_pre *pr = &s->g->pre[0];
	struct sb_buf *b = &s->piece[0];
	unsigned char *q;
	int rc;

	/* Written in one pass: a piece is a word or two (this runs once a word). */
	b->len = 0;
	if ((rc = sb_buf_reserve(b, (n + 1) * pr->nrep, err)))
		return rc;
	q = b->data;
	if (st->prepend)
		for (size_t k = 0; k < pr->nrep; k++)
			*q++ = (unsigned char)pr->rep[k];
	st->prepend = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != ' ') {
			*q++ = p[i];
			continue;
		}
		for (size_t k = 0; k < pr->nrep; k++)
			*q++ = (unsigned char)pr->rep[k];
	}
	b->len = (size_t)(q - b->data);
	return model(s, b->data, b->len, err);
}

/*
 * Metaspace (the only pre-tokenizer), streaming: with split, the text is cut before
 * every space or replacement that does not start a piece (Hugging Face's split on the
 * replacement, MergedWithNext, after spaces became replacements); the replacement is
 * put before the text unless it starts with one (prepend_scheme always, or first for
 * the text at offset 0 of the input: no added token before it).
 */
static int run_meta(struct tok_gen_state *s, struct stage *st, int final, struct sb_error *err)
{
	const struct tok_pre *pr = &s->g->pre[0];
	const unsigned char *p = st->in.data;
	size_t n = st->in.len, start = 0;
	int rc;

	if (!st->started) {
		st->started = 1;
		st->prepend = (pr->prepend == TOK_PREPEND_ALWAYS ||
			       (pr->prepend == TOK_PREPEND_FIRST && s->at_start)) &&
			      p[0] != ' ' && !(n >= pr->nrep && memcmp(p, pr->rep, pr->nrep) == 0);
	}
	if (pr->split) {
		size_t i = utf8_len(p[0]);

		while (i < n) {
			if (p[i] == ' ' || ((unsigned char)pr->rep[0] == p[i] && n - i >= pr->nrep &&
					    memcmp(p + i, pr->rep, pr->nrep) == 0)) {
				if ((rc = meta_piece(s, st, p + start, i - start, err)))
					return rc;
				start = i;
			}
			i += utf8_len(p[i]);
		}
	}
	if (final && start < n) {
		if ((rc = meta_piece(s, st, p + start, n - start, err)))
			return rc;
		start = n;
	}
	sb_buf_consume(&st->in, start);
	return st->in.len > TOK_MAX_PIECE ? too_long(s, err) : SB_OK;
}

/* The first pre-tokenizer, streaming over its text. */
static int run_pre(struct tok_gen_state *s, struct stage *st, int final, struct sb_error *err)
{
	static const struct tok_pre none = {TOK_PRE_SPLIT, TOK_PAT_NONE, 0, "", 0, 0, 0};
	const struct tok_pre *pr = s->g->n_pre ? &s->g->pre[0] : &none;
	size_t i = 0;
	int rc;

	if (!st->in.len)
		return SB_OK;
	if (pr->kind == TOK_PRE_METASPACE)
		return run_meta(s, st, final, err);
	if (!st->started) {
		st->started = 1;
		if (pr->kind == TOK_PRE_BYTELEVEL && pr->prefix_space && st->in.data[0] != ' ') {
			if ((rc = sb_buf_reserve(&st->in, 1, err)))
				return rc;
			memmove(st->in.data + 1, st->in.data, st->in.len);
			st->in.data[0] = ' ';
			st->in.len++;
		}
	}
	if (pr->pattern == TOK_PAT_NONE) {
		if (final) {
			rc = piece(s, 1, st->in.data, st->in.len, err);
			st->in.len = 0;
			return rc;
		}
		return st->in.len > TOK_MAX_PIECE ? too_long(s, err) : SB_OK;
	}
	while (i < st->in.len) {
		size_t m = sb_tok_pattern_match(pr->pattern, st->in.data + i, st->in.len - i, final);

		if (!m)
			break;
		if ((rc = piece(s, 1, st->in.data + i, m, err)))
			return rc;
		i += m;
	}
	sb_buf_consume(&st->in, i);
	return st->in.len > TOK_MAX_PIECE ? too_long(s, err) : SB_OK;
}

/* ---- added tokens at run time ---- */

static int flow(struct tok_gen_state *s, size_t k, int final, struct sb_error *err);

/* Appends text to stage k's input and runs it when enough has gathered. */
static int text_to(struct tok_gen_state *s, size_t k, const unsigned char *p, size_t n,
		   struct sb_error *err)
{
	int rc;

	if (!n)
		return SB_OK;
	if ((rc = sb_buf_append(&s->st[k].in, p, n, err)))
		return rc;
	return s->st[k].in.len >= RUN_BYTES ? flow(s, k, 0, err) : SB_OK;
}

/* Whether the stages hold nothing of a text (none started, or the last one ended). */
static int stages_clean(const struct tok_gen_state *s)
{
	for (size_t k = 0; k < s->n_st; k++)
		if (s->st[k].in.len || s->st[k].state || s->st[k].started)
			return 0;
	return 1;
}

/* Text p[0..n) that ends a text for stage next (an added token or the input's end
 * follows): in one pass when the stages allow it, else through them. */
static int text_end(struct tok_gen_state *s, size_t next, const unsigned char *p, size_t n,
		    struct sb_error *err)
{
	int rc;

	if (next == 0 && s->fused && sb_tok_fused_fits(n) && stages_clean(s))
		return sb_tok_fused_text(s->g, s->fused, s->scratch, s->out, s->at_start, p, n,
					 &s->fa, &s->fb, err);
	if ((rc = text_to(s, next, p, n, err)))
		return rc;
	return flow(s, next, 1, err);
}

/* The character that ends at p[i) (i > 0). */
static uint32_t char_before(const unsigned char *p, size_t i)
{
	size_t j = i - 1, len;

	while (j > 0 && (p[j] & 0xC0) == 0x80)
		j--;
	return utf8_decode(p + j, &len);
}

/* Where the white space that ends p[done, i) begins (i when there is none). */
static size_t back_over_space(const unsigned char *p, size_t done, size_t i)
{
	while (i > done && sb_tok_is_space(char_before(p, i))) {
		size_t j = i - 1;

		while (j > done && (p[j] & 0xC0) == 0x80)
			j--;
		i = j;
	}
	return i;
}

/*
 * Matches m's set over in (valid UTF-8): text goes to stage next, a token ends the
 * text there (stages next.. run to its end) and pushes its id.  Unless final, stops
 * where a decision needs more bytes and keeps the rest in in (with the white space
 * that an lstrip token could still take).
 */
static int run_added(struct tok_gen_state *s, struct matcher *m, struct sb_buf *in,
		     size_t next, int final, struct sb_error *err)
{
	const struct tok_added_set *set = m->set;
	const unsigned char *p = in->data;
	size_t n = in->len, i = 0, done = 0, end;
	size_t look = set->max_len + (set->any_single_word ? 4 : 0);
	int rc;

	/* An empty text: in->data may be NULL (nothing was ever held). */
	if (!n)
		return final ? flow(s, next, 1, err) : SB_OK;
	while (i < n) {
		unsigned b = p[i];
		const struct tok_added *a;
		size_t len, start;
		long k;

		if (m->skip) {
			uint32_t c = utf8_decode(p + i, &len);

			if (sb_tok_is_space(c)) {
				i += len;
				done = i;
				continue;
			}
			m->skip = 0;
		}
		if (set->first[b] == set->first[b + 1]) {
			/* No token starts here: on to the next byte that starts one (a byte
			 * inside a character never does, tokens being valid UTF-8). */
			if (set->n && set->one_first >= 0) {
				const unsigned char *f = memchr(p + i + 1, set->one_first,
								n - i - 1);

				i = f ? (size_t)(f - p) : n;
				continue;
			}
			for (i++; i < n && set->first[p[i]] == set->first[p[i] + 1]; i++)
				;
			continue;
		}
		if (!final && n - i < look)
			break;
		k = sb_tok_added_longest(set, p, n, i);
		if (k < 0) {
			i += utf8_len((unsigned char)b);
			continue;
		}
		a = &set->tok[k];
		if (a->single_word) {
			int before = i ? sb_tok_is_word(char_before(p, i)) :
					 m->have_prev && sb_tok_is_word(m->prev);
			int after = i + a->n < n && sb_tok_is_word(utf8_decode(p + i + a->n, &len));

			if (before || after) {
				/* Not a token: its text is text, and the search goes on after it. */
				i += a->n;
				continue;
			}
		}
		start = a->lstrip ? back_over_space(p, done, i) : i;
		if ((rc = text_end(s, next, p + done, start - done, err)))
			return rc;
		tok_seq_push(s->out, a->id);
		s->at_start = 0;
		i += a->n;
		done = i;
		m->skip = a->rstrip;
	}
	/* White space an lstrip token may still take stays here. */
	end = !final && set->any_lstrip ? back_over_space(p, done, i) : i;
	if (final)
		rc = text_end(s, next, p + done, end - done, err);
	else
		rc = text_to(s, next, p + done, end - done, err);
	if (rc)
		return rc;
	if (end) {
		m->prev = char_before(p, end);
		m->have_prev = 1;
	}
	sb_buf_consume(in, end);
	if (final)
		return SB_OK;
	return in->len > TOK_MAX_PIECE ? too_long(s, err) : SB_OK;
}

/*
 * Runs stage k on its input (final: the text ends here, everything goes through and
 * the stages after it end their text too), then the next stage when its input has
 * grown enough.
 */
static int flow(struct tok_gen_state *s, size_t k, int final, struct sb_error *err)
{
	struct stage *st = &s->st[k];
	int rc = SB_OK;

	switch (st->kind) {
	case ST_NORM: {
		size_t used = 0;

		/* Nothing in: nothing out (and in.data may be NULL). */
		if (st->in.len && (rc = sb_tok_norm_run(s->g, st->norm, &st->state, st->in.data,
							st->in.len, final, &used,
							&s->st[k + 1].in, err)))
			return rc;
		sb_buf_consume(&st->in, used);
		if (st->in.len > TOK_MAX_PIECE)
			return too_long(s, err);
		if (final || s->st[k + 1].in.len >= RUN_BYTES)
			rc = flow(s, k + 1, final, err);
		if (final)
			st->state = 0;
		return rc;
	}
	case ST_ADDED:
		rc = run_added(s, &s->m2, &st->in, k + 1, final, err);
		if (final)
			matcher_reset(&s->m2);
		return rc;
	case ST_PRE:
		rc = run_pre(s, st, final, err);
		if (final)
			st->started = 0;
		return rc;
	}
	return rc;
}

/* ---- the text, validated ---- */

/* Replaces (or refuses) the invalid sequence of len bytes at text offset at. */
static int invalid(struct tok_gen_state *s, uint64_t at, unsigned char byte, uint64_t *bad,
		   struct sb_error *err)
{
	if (!(s->flags & SB_TOKENIZER_REPLACE_INVALID)) {
		*bad = at;
		return sb_error_set(err, SB_EFORMAT, "byte %llu: invalid UTF-8 (0x%02x)",
				    (unsigned long long)at, byte);
	}
	s->n_replaced++;
	return sb_buf_append(&s->raw, "\xEF\xBF\xBD", 3, err);
}

static int lead_ok(unsigned char b)
{
	return b >= 0xC2 && b <= 0xF4;
}

/*
 * Appends p[0..n) to s->raw, valid: an invalid sequence (the maximal subpart, as
 * WHATWG decoders) is replaced by U+FFFD or refused; an incomplete last sequence is
 * carried to the next piece.  s->off is the text offset of the first byte not yet
 * taken (carried bytes are not counted).
 */
static int validate(struct tok_gen_state *s, const unsigned char *p, size_t n, uint64_t *bad,
		    struct sb_error *err)
{
	size_t i = 0, start;
	uint64_t base;
	int rc;

	while (s->n_carry && i < n) {
		uint32_t c;
		int k;

		s->carry[s->n_carry++] = p[i++];
		k = get_utf8(s->carry, s->n_carry, &c);
		if (k > 0) {
			if ((rc = sb_buf_append(&s->raw, s->carry, s->n_carry, err)))
				return rc;
			s->off += s->n_carry;
			s->n_carry = 0;
		} else if ((size_t)-k < s->n_carry) {
			/* The byte just taken broke the sequence: replace what came before it
			 * and read that byte again as the start of something new. */
			if ((rc = invalid(s, s->off, s->carry[0], bad, err)))
				return rc;
			s->off += s->n_carry - 1;
			s->n_carry = 0;
			i--;
		}
	}
	if (s->n_carry)
		return SB_OK;
	base = s->off - i;              /* the text offset of p[0] */
	start = i;
	while (i < n) {
		uint32_t c;
		int k;

		if (p[i] < 0x80) {
#ifdef __SSE2__
			/* ASCII 16 bytes at a time. */
			while (i + 16 <= n &&
			       !_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(p + i))))
				i += 16;
			if (i < n && p[i] < 0x80)
				i++;
#else
			i++;
#endif
			continue;
		}
		k = get_utf8(p + i, n - i, &c);
		if (k > 0) {
			i += (size_t)k;
			continue;
		}
		if ((rc = sb_buf_append(&s->raw, p + start, i - start, err)))
			return rc;
		if ((size_t)-k == n - i && lead_ok(p[i])) {
			/* Cut by the end of the piece: wait for the rest. */
			memcpy(s->carry, p + i, n - i);
			s->n_carry = n - i;
			s->off = base + i;
			return SB_OK;
		}
		if ((rc = invalid(s, base + i, p[i], bad, err)))
			return rc;
		i += (size_t)-k;
		start = i;
	}
	s->off = base + n;
	return sb_buf_append(&s->raw, p + start, n - start, err);
}

int sb_tok_gen_feed(struct tok_gen_state *s, const unsigned char *p, size_t n,
		    uint64_t *bad_offset, uint64_t *n_replaced, struct sb_error *err)
{
	int rc = validate(s, p, n, bad_offset, err);

	*n_replaced = s->n_replaced;
	if (rc)
		return rc;
	if (s->raw.len < RUN_BYTES)
		return SB_OK;
	return run_added(s, &s->m1, &s->raw, 0, 0, err);
}

int sb_tok_gen_end(struct tok_gen_state *s, uint64_t *bad_offset, uint64_t *n_replaced,
		   struct sb_error *err)
{
	int rc = SB_OK;

	if (s->n_carry) {
		/* A sequence cut by the end of the text: one replacement. */
		rc = invalid(s, s->off, s->carry[0], bad_offset, err);
		s->n_carry = 0;
	}
	*n_replaced = s->n_replaced;
	if (!rc)
		rc = run_added(s, &s->m1, &s->raw, 0, 1, err);
	*n_replaced = s->n_replaced;
	return rc;
}

/* ---- configuration ---- */

void sb_tok_gen_free(struct tok_gen *g)
{
	if (!g)
		return;
	for (size_t k = 0; k < g->n_norm; k++) {
		free(g->norm[k].pat);
		free(g->norm[k].rep);
		sb_tok_charsmap_free(g->norm[k].map);
	}
	for (size_t k = 0; k < g->raw.n; k++)
		free(g->raw.tok[k].s);
	free(g->raw.tok);
	for (size_t k = 0; k < g->normd.n; k++)
		free(g->normd.tok[k].s);
	free(g->normd.tok);
	if (g->model.ops)
		g->model.ops->free(g->model.impl);
	free(g->uni);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

uint64_t sb_tok_gen_fingerprint(const struct tok_gen *g, uint64_t h)
{
	for (size_t k = 0; k < g->n_norm; k++) {
		const struct tok_norm *nm = &g->norm[k];
		unsigned char f[3] = {(unsigned char)nm->kind, (unsigned char)nm->left,
				      (unsigned char)nm->right};

		h = fnv(h, f, sizeof(f));
		h = fnv(fnv(h, nm->pat ? nm->pat : "", nm->npat), "\xFF", 1);
		h = fnv(fnv(h, nm->rep ? nm->rep : "", nm->nrep), "\xFF", 1);
		if (nm->map)
			h = sb_tok_charsmap_fingerprint(nm->map, h);
	}
	for (size_t k = 0; k < g->n_pre; k++) {
		const struct tok_pre *pr = &g->pre[k];
		unsigned char f[3] = {(unsigned char)pr->kind, (unsigned char)pr->pattern,
				      (unsigned char)pr->prefix_space};
		unsigned char f2[2] = {pr->prepend, pr->split};

		h = fnv(h, f, sizeof(f));
		if (pr->kind == TOK_PRE_METASPACE)
			h = fnv(fnv(h, f2, sizeof(f2)), pr->rep, pr->nrep);
	}
	for (const struct tok_added_set *set = &g->raw; set; set = set == &g->raw ? &g->normd :
								 NULL) {
		for (size_t k = 0; k < set->n; k++) {
			const struct tok_added *a = &set->tok[k];
			unsigned char f[3] = {a->single_word, a->lstrip, a->rstrip};

			h = fnv(fnv(h, a->s, a->n), &a->id, sizeof(a->id));
			h = fnv(h, f, sizeof(f));
		}
		h = fnv(h, "\xFE", 1);
	}
	h = fnv(h, &g->byte_level, sizeof(g->byte_level));
	return g->model.ops->fingerprint(g->model.impl, h);
}
