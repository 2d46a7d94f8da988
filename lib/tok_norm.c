/*
 * tok_norm.c - the normalizers of Hugging Face tokenizers 0.22 (normalizers/unicode.rs,
 * utils.rs, strip.rs, replace.rs, prepend.rs), each a streaming transducer: given the
 * text so far it writes what can no longer change and says how much it consumed.
 *
 * NFC, NFD, NFKC, NFKD: the text is cut before "inert" characters -- starters (combining
 * class 0) without a decomposition (of the kind the form applies) that never combine
 * with what precedes them -- since nothing on either side of such a cut interacts with
 * the other.  Runs of inert characters (all of ASCII) are copied; the rest, from the
 * starter before it to the next inert character, goes through utf8proc.  Hugging Face
 * normalizes with the unicode-normalization-alignments crate, whose tables are older
 * than utf8proc's: a character it does not know is a plain starter to it, so such
 * characters are inert here too (the list is at the end of this file, found by
 * tests/tools/tokenize-bpe-probe.sh).
 *
 * Lowercase is Rust's char::to_lowercase (the full mapping: U+0130 gives "i" U+0307),
 * Strip and Prepend work on white space (White_Space) at the ends of the text, Replace
 * replaces a literal string left to right without overlaps, or runs of two spaces or
 * more for the one regex SentencePiece conversions write (" {2,}"; other regexes are
 * refused at load).  Precompiled is in tok_charsmap.c.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "buf.h"
#include "tok_gen.h"
#include "tokenizer_impl.h"

/* Flags of a code point (g->uni for the BMP, computed for the others). */
enum {
	NI_CCC = 1,             /* combining class > 0 */
	NI_CANON = 2,           /* a canonical decomposition */
	NI_COMPAT = 4,          /* a compatibility decomposition */
	NI_SECOND = 8,          /* may combine with what precedes it (NFC, NFKC) */
	NI_HFNEW = 16           /* unknown to Hugging Face's tables: a plain starter */
};

/*
 * Code points to which utf8proc 2.8 (Unicode 15.0) gives a combining class or a
 * composition that Hugging Face's unicode-normalization-alignments 0.1.12 does not
 * know: marks of later Unicode versions, and U+11930, which composes with U+11935
 * since Unicode 13.  Found by tests/tools/tokenize-bpe-probe.sh (every character with
 * a combining class or a decomposition, in contexts where reordering or composing
 * shows); Hugging Face treats them as plain starters.
 */
static const struct { uint32_t lo, hi; } hf_new[] = {
	{0x7FD, 0x7FD}, {0x898, 0x89F}, {0x8CA, 0x8D3}, {0x9FE, 0x9FE}, {0xC3C, 0xC3C},
	{0xD3B, 0xD3C}, {0xEBA, 0xEBA}, {0x1715, 0x1715}, {0x1ABF, 0x1ACE},
	{0x1DF6, 0x1DFA}, {0xA82C, 0xA82C}, {0x10D24, 0x10D27}, {0x10EAB, 0x10EAC},
	{0x10EFD, 0x10EFF}, {0x10F46, 0x10F50}, {0x10F82, 0x10F85}, {0x11070, 0x11070},
	{0x1133B, 0x1133B}, {0x1145E, 0x1145E}, {0x11839, 0x1183A}, {0x11930, 0x11930},
	{0x1193D, 0x1193E}, {0x11943, 0x11943}, {0x119E0, 0x119E0}, {0x11A34, 0x11A34},
	{0x11A47, 0x11A47}, {0x11A99, 0x11A99}, {0x11D42, 0x11D42}, {0x11D44, 0x11D45},
	{0x11D97, 0x11D97}, {0x11F41, 0x11F42}, {0x16FF0, 0x16FF1}, {0x1E08F, 0x1E08F},
	{0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF}, {0x1E4EC, 0x1E4EF},
};

static int is_hf_new(uint32_t c)
{
	size_t lo = 0, hi = sizeof(hf_new) / sizeof(hf_new[0]);

	if (c < 0x7FD)
		return 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (c < hf_new[mid].lo)
			hi = mid;
		else if (c > hf_new[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

static unsigned flags_of(uint32_t c)
{
	const utf8proc_property_t *pr = utf8proc_get_property((utf8proc_int32_t)c);
	unsigned f = 0;

	if (pr->combining_class)
		f |= NI_CCC;
	if (pr->decomp_seqindex != UINT16_MAX)
		f |= pr->decomp_type ? NI_COMPAT : NI_CANON;
	if (c >= 0xAC00 && c <= 0xD7A3)
		f |= NI_CANON;          /* Hangul syllables decompose algorithmically */
	if ((c >= 0x1161 && c <= 0x1175) || (c >= 0x11A8 && c <= 0x11C2))
		f |= NI_SECOND;         /* Hangul V and T jamo */
	if (is_hf_new(c))
		f |= NI_HFNEW;
	return f;
}

/* Whether c (past the BMP) has a canonical decomposition: flags_of(c) & NI_CANON
 * without the rest of the flags, for the 0x20000 characters of the two next planes. */
static int canonical(uint32_t c)
{
	const utf8proc_property_t *pr = utf8proc_get_property((utf8proc_int32_t)c);

	return pr->decomp_seqindex != UINT16_MAX && !pr->decomp_type;
}

int sb_tok_norm_prepare(struct tok_gen *g, struct sb_error *err)
{
	int need = 0;

	for (size_t k = 0; k < g->n_norm; k++)
		need |= g->norm[k].kind <= TOK_NORM_NFKD;
	if (!need || g->uni)
		return SB_OK;
	g->uni = malloc(0x10000);
	if (!g->uni)
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	for (uint32_t c = 0; c < 0x10000; c++)
		g->uni[c] = (uint8_t)flags_of(c);
	/* What follows the first character of a canonical decomposition may combine. */
	/* Canonical decompositions are in the BMP and the two next planes. */
	for (uint32_t c = 0; c < 0x30000; c++) {
		utf8proc_int32_t d[8];
		int last = 0;
		utf8proc_ssize_t k;

		if ((c < 0x10000 ? !(g->uni[c] & NI_CANON) : !canonical(c)) ||
		    (c >= 0xAC00 && c <= 0xD7A3))
			continue;
		k = utf8proc_decompose_char((utf8proc_int32_t)c, d, 8, UTF8PROC_DECOMPOSE, &last);
		for (utf8proc_ssize_t j = 1; j < k && j < 8; j++) {
			if (d[j] < 0x10000) {
				g->uni[d[j]] |= NI_SECOND;
			} else if (g->n_supp2 < sizeof(g->supp2) / sizeof(g->supp2[0])) {
				size_t i = 0;

				while (i < g->n_supp2 && g->supp2[i] != (uint32_t)d[j])
					i++;
				if (i == g->n_supp2)
					g->supp2[g->n_supp2++] = (uint32_t)d[j];
			} else {
				return sb_error_set(err, SB_ELIMIT, "normalizer: too many "
						    "supplementary composing characters");
			}
		}
	}
	return SB_OK;
}

static inline unsigned cp_flags(const struct tok_gen *g, uint32_t c)
{
	unsigned f;

	if (c < 0x10000)
		return g->uni[c];
	f = flags_of(c);
	for (size_t i = 0; i < g->n_supp2; i++)
		if (g->supp2[i] == c)
			f |= NI_SECOND;
	return f;
}

/* The flags that make a character not inert for a normalization form. */
static unsigned form_mask(enum tok_norm_kind k)
{
	switch (k) {
	case TOK_NORM_NFC: return NI_CCC | NI_CANON | NI_SECOND;
	case TOK_NORM_NFD: return NI_CCC | NI_CANON;
	case TOK_NORM_NFKC: return NI_CCC | NI_CANON | NI_COMPAT | NI_SECOND;
	default: return NI_CCC | NI_CANON | NI_COMPAT;
	}
}

static inline int inert(unsigned f, unsigned mask)
{
	return (f & NI_HFNEW) || !(f & mask);
}

static utf8proc_option_t form_options(enum tok_norm_kind k)
{
	switch (k) {
	case TOK_NORM_NFC: return UTF8PROC_STABLE | UTF8PROC_COMPOSE;
	case TOK_NORM_NFD: return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
	case TOK_NORM_NFKC: return UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
	default: return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
	}
}

/* Normalizes p[0..n) (no inert character but perhaps the first) with utf8proc. */
static int slow(enum tok_norm_kind kind, const unsigned char *p, size_t n, struct sb_buf *out,
		struct sb_error *err)
{
	utf8proc_int32_t small[64], *buf = small;
	utf8proc_ssize_t cap = 64, k;
	utf8proc_option_t o = form_options(kind);
	int rc = SB_OK;

	for (;;) {
		k = utf8proc_decompose(p, (utf8proc_ssize_t)n, buf, cap, o);
		if (k < 0) {
			rc = sb_error_set(err, SB_EFORMAT, "normalizer: %s", utf8proc_errmsg(k));
			goto out;
		}
		if (k <= cap)
			break;
		if (buf != small)
			free(buf);
		cap = k;
		buf = malloc((size_t)cap * sizeof(*buf));
		if (!buf) {
			buf = small;
			rc = sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
			goto out;
		}
	}
	if (o & UTF8PROC_COMPOSE) {
		k = utf8proc_normalize_utf32(buf, k, o);
		if (k < 0) {
			rc = sb_error_set(err, SB_EFORMAT, "normalizer: %s", utf8proc_errmsg(k));
			goto out;
		}
	}
	rc = sb_buf_reserve(out, (size_t)k * 4, err);
	if (rc)
		goto out;
	for (utf8proc_ssize_t i = 0; i < k; i++)
		out->len += put_utf8((char *)out->data + out->len, (uint32_t)buf[i]);
out:
	if (buf != small)
		free(buf);
	return rc;
}

static int unicode_form(const struct tok_gen *g, enum tok_norm_kind kind,
			const unsigned char *p, size_t n, int final, size_t *consumed,
			struct sb_buf *out, struct sb_error *err)
{
	unsigned mask = form_mask(kind);
	size_t cut = n, i = 0, done = 0;
	int rc;

	if (!final) {
		/* Up to the last inert character: what follows it may still change. */
		size_t j = n;

		cut = 0;
		while (j > 0) {
			size_t s = j - 1, len;

			while (s > 0 && (p[s] & 0xC0) == 0x80)
				s--;
			if (p[s] < 0x80 || inert(cp_flags(g, utf8_decode(p + s, &len)), mask)) {
				cut = s;
				break;
			}
			j = s;
		}
	}
	while (i < cut) {
		size_t len, k, e;
		uint32_t c;

		if (p[i] < 0x80) {
			i++;
			continue;
		}
		c = utf8_decode(p + i, &len);
		if (inert(cp_flags(g, c), mask)) {
			i += len;
			continue;
		}
		/* From the starter before it (inert, or nothing) to the next inert one. */
		k = i;
		if (i > done) {
			size_t s = i - 1, l2;

			while (s > done && (p[s] & 0xC0) == 0x80)
				s--;
			if (p[s] < 0x80 || !(cp_flags(g, utf8_decode(p + s, &l2)) & NI_HFNEW))
				k = s;
		}
		e = i + len;
		while (e < cut) {
			size_t l3;

			if (p[e] < 0x80 || inert(cp_flags(g, utf8_decode(p + e, &l3)), mask))
				break;
			e += l3;
		}
		if ((rc = sb_buf_append(out, p + done, k - done, err)) ||
		    (rc = slow(kind, p + k, e - k, out, err)))
			return rc;
		done = i = e;
	}
	*consumed = cut;
	return sb_buf_append(out, p + done, cut - done, err);
}

/* Rust's char::to_lowercase. */
static int lowercase(const unsigned char *p, size_t n, size_t *consumed, struct sb_buf *out,
		     struct sb_error *err)
{
	size_t i = 0;
	int rc = sb_buf_reserve(out, n + n / 2 + 8, err);

	if (rc)
		return rc;
	while (i < n) {
		size_t len;
		uint32_t c;

		if (p[i] < 0x80) {
			unsigned char b = p[i++];

			if (out->len + 1 > out->cap && (rc = sb_buf_reserve(out, 64, err)))
				return rc;
			out->data[out->len++] = (unsigned char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
			continue;
		}
		c = utf8_decode(p + i, &len);
		i += len;
		if (out->len + 8 > out->cap && (rc = sb_buf_reserve(out, 64, err)))
			return rc;
		if (c == 0x130) {
			out->len += put_utf8((char *)out->data + out->len, 'i');
			out->len += put_utf8((char *)out->data + out->len, 0x307);
		} else {
			out->len += put_utf8((char *)out->data + out->len,
					     (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
		}
	}
	*consumed = n;
	return SB_OK;
}

enum { ST_STARTED = 1 };

/* Strip: leading white space while nothing else was seen; trailing white space is
 * held back until something else follows, and dropped at the end. */
static int strip(const struct tok_norm *nm, unsigned *state, const unsigned char *p, size_t n,
		 int final, size_t *consumed, struct sb_buf *out, struct sb_error *err)
{
	size_t i = 0, end = n;

	if (nm->left && !(*state & ST_STARTED)) {
		while (i < n) {
			size_t len;
			uint32_t c = utf8_decode(p + i, &len);

			if (!sb_tok_is_space(c))
				break;
			i += len;
		}
	}
	if (i < n)
		*state |= ST_STARTED;
	if (nm->right) {
		/* The start of the trailing white space run. */
		size_t j = n;

		while (j > i) {
			size_t s = j - 1, len;

			while (s > i && (p[s] & 0xC0) == 0x80)
				s--;
			if (!sb_tok_is_space(utf8_decode(p + s, &len)))
				break;
			j = s;
		}
		end = j;
	}
	*consumed = final ? n : end;
	return sb_buf_append(out, p + i, end - i, err);
}

static int replace(const struct tok_norm *nm, const unsigned char *p, size_t n, int final,
		   size_t *consumed, struct sb_buf *out, struct sb_error *err)
{
	size_t i = 0, done = 0;
	int rc;

	while (i < n) {
		if (n - i < nm->npat) {
			if (!final)
				break;
			i = n;
			break;
		}
		if (p[i] == (unsigned char)nm->pat[0] && memcmp(p + i, nm->pat, nm->npat) == 0) {
			if ((rc = sb_buf_append(out, p + done, i - done, err)) ||
			    (rc = sb_buf_append(out, nm->rep, nm->nrep, err)))
				return rc;
			i += nm->npat;
			done = i;
			continue;
		}
		i++;
	}
	/* Whole characters only: the pattern is whole characters, so a match never
	 * starts inside one, but the held-back tail must start on a boundary. */
	while (i < n && i > done && (p[i] & 0xC0) == 0x80)
		i--;
	*consumed = i;
	return sb_buf_append(out, p + done, i - done, err);
}

/* Replace with the regex " {2,}": each run of two spaces or more becomes the
 * replacement; a run at the end is held back until what follows it is known. */
static int replace_spaces(const struct tok_norm *nm, const unsigned char *p, size_t n, int final,
			  size_t *consumed, struct sb_buf *out, struct sb_error *err)
{
	size_t i = 0, done = 0;
	int rc;

	while (i < n) {
		size_t j;

		/* A byte loop: memchr costs a call a word. */
		if (p[i] != ' ') {
			i++;
			continue;
		}
		j = i;
		while (j < n && p[j] == ' ')
			j++;
		if (j == n && !final)
			break;
		if (j - i >= 2) {
			if ((rc = sb_buf_append(out, p + done, i - done, err)) ||
			    (rc = sb_buf_append(out, nm->rep, nm->nrep, err)))
				return rc;
			done = j;
		}
		i = j;
	}
	if (i < n && !memchr(p + i, ' ', n - i))
		i = n;
	*consumed = i;
	return sb_buf_append(out, p + done, i - done, err);
}

int sb_tok_norm_run(const struct tok_gen *g, const struct tok_norm *nm, unsigned *state,
		    const unsigned char *in, size_t n, int final, size_t *consumed,
		    struct sb_buf *out, struct sb_error *err)
{
	*consumed = 0;
	switch (nm->kind) {
	case TOK_NORM_NFC:
	case TOK_NORM_NFD:
	case TOK_NORM_NFKC:
	case TOK_NORM_NFKD:
		return unicode_form(g, nm->kind, in, n, final, consumed, out, err);
	case TOK_NORM_LOWERCASE:
		return lowercase(in, n, consumed, out, err);
	case TOK_NORM_STRIP:
		return strip(nm, state, in, n, final, consumed, out, err);
	case TOK_NORM_REPLACE:
		return replace(nm, in, n, final, consumed, out, err);
	case TOK_NORM_REPLACE_SPACES:
		return replace_spaces(nm, in, n, final, consumed, out, err);
	case TOK_NORM_PRECOMPILED:
		return sb_tok_charsmap_run(nm->map, in, n, final, consumed, out, err);
	case TOK_NORM_PREPEND:
		*consumed = n;
		if (n && !(*state & ST_STARTED)) {
			int rc = sb_buf_append(out, nm->rep, nm->nrep, err);

			if (rc)
				return rc;
			*state |= ST_STARTED;
		}
		return sb_buf_append(out, in, n, err);
	}
	return SB_OK;
}

int sb_tok_norm_string(const struct tok_gen *g, const char *s, size_t n, struct sb_buf *out,
		       struct sb_error *err)
{
	struct sb_buf a, b;
	int rc = SB_OK;

	sb_buf_init(&a);
	sb_buf_init(&b);
	rc = sb_buf_append(&a, s, n, err);
	for (size_t k = 0; !rc && k < g->n_norm; k++) {
		unsigned state = 0;
		size_t used;
		struct sb_buf t;

		b.len = 0;
		rc = sb_tok_norm_run(g, &g->norm[k], &state, a.data, a.len, 1, &used, &b, err);
		t = a;
		a = b;
		b = t;
	}
	out->len = 0;
	if (!rc)
		rc = sb_buf_append(out, a.data, a.len, err);
	sb_buf_destroy(&a);
	sb_buf_destroy(&b);
	return rc;
}
