/*
 * tok_charsmap.c - the Precompiled normalizer of Hugging Face tokenizers 0.22
 * (normalizers/precompiled.rs and the spm_precompiled crate): SentencePiece's
 * precompiled_charsmap, the normalization rules of a .model (nmt_nfkc and others)
 * compiled to a trie.
 *
 * The blob (base64 in tokenizer.json) is
 *
 *   1. u32 (little endian): the size in bytes of the trie, a multiple of 4
 *   2. the trie: a double array (Darts) of u32 units
 *   3. the replacements: UTF-8 strings, each ended by a NUL byte
 *
 * A unit holds a label (bits 0-7, and bit 31 for a non-label), a leaf flag (bit 8)
 * and the offset to its children (bits 10-31, shifted left by 8 when bit 9 is set); a
 * leaf's value (bits 0-30 of the unit its offset leads to) is the offset of the
 * replacement in 3.  A lookup walks the bytes of a key and yields the value of the
 * shortest key in the trie that is a prefix of it.
 *
 * Hugging Face applies it per extended grapheme cluster: a cluster of fewer than 6
 * bytes that has a prefix in the trie becomes that prefix's replacement (the rest of
 * the cluster is dropped, as Hugging Face does); otherwise each character on its own
 * is replaced when it is in the trie and kept when not.  Clusters come from utf8proc's
 * grapheme breaks; a cluster of Hugging Face's (unicode-segmentation, Unicode 16) that
 * utf8proc 2.8 (Unicode 15.0) would split can differ only when it is shorter than 6
 * bytes and its first character has a replacement.
 *
 * Most text needs no cluster breaks computed: a character of the BMP whose cluster
 * class is Other, followed by another such character, is a cluster of its own (no
 * rule joins two of them), so it is its replacement alone or itself.  Two bit sets
 * made at load (class Other, no replacement alone) decide that without utf8proc or
 * the trie; the other characters take the cluster path.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "buf.h"
#include "errors.h"
#include "tok_gen.h"
#include "tokenizer_impl.h"

#define MAX_CHARSMAP ((size_t)64 << 20)

struct tok_charsmap {
	uint32_t *array;                /* [n_array] the double array */
	size_t n_array;
	char *norm;                     /* [n_norm] the replacements, NUL-ended */
	size_t n_norm;
	int32_t ascii[128];             /* an ASCII character's replacement alone, -1 */
	uint64_t other[1024];           /* BMP characters of grapheme cluster class Other */
	uint64_t kept[1024];            /* BMP characters that have no replacement alone */
	uint64_t hash;                  /* FNV-1a of the blob (fingerprint) */
};

static inline int has_leaf(uint32_t u)
{
	return (u >> 8) & 1;
}

static inline uint32_t value(uint32_t u)
{
	return u & 0x7FFFFFFFu;
}

static inline uint32_t label(uint32_t u)
{
	return u & 0x800000FFu;
}

static inline size_t offset(uint32_t u)
{
	return (size_t)(u >> 10) << ((u & (1u << 9)) >> 6);
}

/*
 * The replacement of the shortest prefix of key[0..n) in the trie: its offset in
 * m->norm, or -1.  A NUL byte ends the key (as the crate's search).  A value out of
 * the replacements (a hostile blob) is no match.
 */
static long find(const struct tok_charsmap *m, const unsigned char *key, size_t n)
{
	size_t pos = offset(m->array[0]);

	for (size_t i = 0; i < n && key[i]; i++) {
		uint32_t u;

		pos ^= key[i];
		if (pos >= m->n_array)
			return -1;
		u = m->array[pos];
		if (label(u) != key[i])
			return -1;
		pos ^= offset(u);
		if (has_leaf(u)) {
			uint32_t v;

			if (pos >= m->n_array)
				return -1;
			v = value(m->array[pos]);
			/* In range and on a character's first byte (the crate's slice). */
			if (v > m->n_norm || (v < m->n_norm &&
					      ((unsigned char)m->norm[v] & 0xC0) == 0x80))
				return -1;
			return (long)v;
		}
	}
	return -1;
}

/* 1 when no key of the trie starts with key[0..n): its walk leaves the trie before a
 * leaf. */
static int dead(const struct tok_charsmap *m, const unsigned char *key, size_t n)
{
	size_t pos = offset(m->array[0]);

	for (size_t i = 0; i < n; i++) {
		uint32_t u;

		pos ^= key[i];
		if (pos >= m->n_array || label(u = m->array[pos]) != key[i])
			return 1;
		if (has_leaf(u))
			return 0;
		pos ^= offset(u);
	}
	return 0;
}

/* Fills m->other and m->kept (see struct tok_charsmap), a block of the 64 characters
 * that share all UTF-8 bytes but the last at a time. */
static void fill_bmp(struct tok_charsmap *m)
{
	for (uint32_t b = 0; b < 0x10000; b += 64) {
		unsigned char u[4];
		size_t k = put_utf8((char *)u, b);

		if (b >= 0xD800 && b <= 0xDFFF)
			continue;
		for (uint32_t c = b; c < b + 64; c++)
			if (utf8proc_get_property((utf8proc_int32_t)c)->boundclass ==
			    UTF8PROC_BOUNDCLASS_OTHER)
				m->other[c >> 6] |= (uint64_t)1 << (c & 63);
		if (k > 1 && dead(m, u, k - 1)) {
			m->kept[b >> 6] = ~(uint64_t)0;
			continue;
		}
		for (uint32_t c = b; c < b + 64; c++) {
			k = put_utf8((char *)u, c);
			if (find(m, u, k) < 0)
				m->kept[c >> 6] |= (uint64_t)1 << (c & 63);
		}
	}
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Standard base64 with its padding, as the crate's decoder; -1 when it is not. */
static long b64decode(const char *s, size_t n, unsigned char *out)
{
	size_t k = 0;

	if (n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;

		for (int j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)s[i + j];

			if (c == '=' && i + 4 == n && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad || (v[j] = b64val(c)) < 0)
				return -1;
		}
		out[k++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[k++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[k++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
		/* Non-canonical padding bits are refused by the crate too. */
		if ((pad == 2 && (v[1] & 15)) || (pad == 1 && (v[2] & 3)))
			return -1;
	}
	return (long)k;
}

static int utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t c;
		int k;

		if (p[i] < 0x80) {
			i++;
			continue;
		}
		k = get_utf8(p + i, n - i, &c);
		if (k < 0)
			return 0;
		i += (size_t)k;
	}
	return 1;
}

int sb_tok_charsmap_new(struct tok_charsmap **out, const char *b64, size_t n,
			const char *path, struct sb_error *err)
{
	struct tok_charsmap *m;
	unsigned char *blob;
	long nb;
	uint32_t trie;
	uint64_t h = 1469598103934665603ull;

	*out = NULL;
	if (n > MAX_CHARSMAP)
		return sb_error_set(err, SB_ELIMIT, "%s: precompiled_charsmap of %zu bytes, limit "
				    "%zu", path, n, MAX_CHARSMAP);
	blob = malloc(n / 4 * 3 + 4);
	m = calloc(1, sizeof(*m));
	if (!blob || !m) {
		free(blob);
		free(m);
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	}
	nb = b64decode(b64, n, blob);
	if (nb < 4) {
		free(blob);
		free(m);
		return sb_error_set(err, SB_EFORMAT, "%s: precompiled_charsmap: %s", path,
				    nb < 0 ? "not base64" : "shorter than its header");
	}
	trie = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 |
	       (uint32_t)blob[3] << 24;
	if (trie / 4 * 4 > (size_t)nb - 4 || trie < 4) {
		free(blob);
		free(m);
		return sb_error_set(err, SB_EFORMAT, "%s: precompiled_charsmap: a trie of %u bytes "
				    "in a blob of %ld", path, trie, nb);
	}
	m->n_array = trie / 4;
	m->n_norm = (size_t)nb - 4 - m->n_array * 4;
	m->array = malloc(m->n_array * sizeof(*m->array));
	m->norm = malloc(m->n_norm + 1);
	if (!m->array || !m->norm) {
		free(blob);
		sb_tok_charsmap_free(m);
		return sb_error_set(err, SB_ENOMEM, "tokenizer: out of memory");
	}
	for (size_t i = 0; i < m->n_array; i++) {
		const unsigned char *q = blob + 4 + 4 * i;

		m->array[i] = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
			      (uint32_t)q[3] << 24;
	}
	memcpy(m->norm, blob + 4 + m->n_array * 4, m->n_norm);
	m->norm[m->n_norm] = 0;
	for (long i = 0; i < nb; i++)
		h = (h ^ blob[i]) * 1099511628211ull;
	m->hash = h;
	free(blob);
	if (!utf8_valid((const unsigned char *)m->norm, m->n_norm)) {
		sb_tok_charsmap_free(m);
		return sb_error_set(err, SB_EFORMAT, "%s: precompiled_charsmap: replacements that "
				    "are not UTF-8", path);
	}
	for (unsigned c = 0; c < 128; c++) {
		unsigned char b = (unsigned char)c;

		m->ascii[c] = (int32_t)find(m, &b, 1);
	}
	fill_bmp(m);
	*out = m;
	return SB_OK;
}

void sb_tok_charsmap_free(struct tok_charsmap *m)
{
	if (!m)
		return;
	free(m->array);
	free(m->norm);
	free(m);
}

uint64_t sb_tok_charsmap_fingerprint(const struct tok_charsmap *m, uint64_t h)
{
	for (int i = 0; i < 8; i++)
		h = (h ^ ((m->hash >> (8 * i)) & 0xFF)) * 1099511628211ull;
	return h;
}

/* Appends the replacement at offset v (up to its NUL). */
static int put_norm(const struct tok_charsmap *m, long v, struct sb_buf *out,
		    struct sb_error *err)
{
	const char *s = m->norm + v;

	return sb_buf_append(out, s, strnlen(s, m->n_norm - (size_t)v), err);
}

/*
 * The end of the grapheme cluster that starts at p[i] (valid UTF-8), or 0 when it may
 * go on past p[n) (only when !final).
 */
static size_t cluster_end(const unsigned char *p, size_t n, size_t i, int final)
{
	utf8proc_int32_t state = 0;
	size_t len;
	uint32_t c = utf8_decode(p + i, &len);

	i += len;
	while (i < n) {
		uint32_t d = utf8_decode(p + i, &len);

		if (utf8proc_grapheme_break_stateful((utf8proc_int32_t)c,
						     (utf8proc_int32_t)d, &state))
			return i;
		c = d;
		i += len;
	}
	return final ? n : 0;
}

static inline int bit(const uint64_t *set, uint32_t c)
{
	return (int)((set[c >> 6] >> (c & 63)) & 1);
}

/*
 * The length of the character at p[i] when it is a grapheme cluster of its own that
 * the fast path takes (a BMP character of class Other followed by another, or by the
 * end of the text), else 0.  Two characters of class Other have a cluster break
 * between them in every state of the rules (GB999: no rule joins them), so such a
 * cluster's output is the character's replacement alone, or the character.
 */
static size_t alone(const struct tok_charsmap *m, const unsigned char *p, size_t n, size_t i,
		    int final, uint32_t *c)
{
	size_t len, len2;
	uint32_t d;

	*c = utf8_decode(p + i, &len);
	if (len == 4 || !bit(m->other, *c))
		return 0;
	if (i + len == n)
		return final ? len : 0;
	d = utf8_decode(p + i + len, &len2);
	return len2 < 4 && bit(m->other, d) ? len : 0;
}

int sb_tok_charsmap_run(const struct tok_charsmap *m, const unsigned char *p, size_t n,
			int final, size_t *consumed, struct sb_buf *out, struct sb_error *err)
{
	size_t i = 0, done = 0;
	int rc = SB_OK;

	while (i < n) {
		size_t e;
		long v;
		uint32_t c;

		/* Two ASCII characters always have a cluster break between them, but CR LF. */
		if (p[i] < 0x80 && i + 1 < n && p[i + 1] < 0x80 &&
		    !(p[i] == '\r' && p[i + 1] == '\n')) {
			if (m->ascii[p[i]] >= 0) {
				if ((rc = sb_buf_append(out, p + done, i - done, err)) ||
				    (rc = put_norm(m, m->ascii[p[i]], out, err)))
					return rc;
				done = i + 1;
			}
			i++;
			continue;
		}
		if ((e = alone(m, p, n, i, final, &c))) {
			if (!bit(m->kept, c)) {
				if ((rc = sb_buf_append(out, p + done, i - done, err)) ||
				    (rc = put_norm(m, find(m, p + i, e), out, err)))
					return rc;
				done = i + e;
			}
			i += e;
			continue;
		}
		e = cluster_end(p, n, i, final);
		if (!e)
			break;
		if ((rc = sb_buf_append(out, p + done, i - done, err)))
			return rc;
		done = e;
		if (e - i < 6 && (v = find(m, p + i, e - i)) >= 0) {
			if ((rc = put_norm(m, v, out, err)))
				return rc;
			i = e;
			continue;
		}
		while (i < e) {
			size_t len = utf8_len(p[i]);

			v = find(m, p + i, len);
			rc = v >= 0 ? put_norm(m, v, out, err) : sb_buf_append(out, p + i, len, err);
			if (rc)
				return rc;
			i += len;
		}
	}
	*consumed = i;
	return sb_buf_append(out, p + done, i - done, err);
}
