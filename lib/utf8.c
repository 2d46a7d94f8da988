/*
 * utf8.c - well-formed UTF-8 sequences, shared by the JSON reader and sb-cat, and
 * untrusted bytes made printable for error messages.
 */
#include <string.h>

#include "internal.h"

size_t sb_utf8_seq(const unsigned char *p, size_t n, int *valid)
{
	unsigned c = p[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	*valid = 0;
	if (c < 0x80) {
		*valid = 1;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef)
		need = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 3;
	else
		return 1;
	/* Overlongs, UTF-16 surrogates and code points past U+10FFFF are excluded by
	 * narrowing the range of the second byte (RFC 3629, section 4). */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	for (i = 1; i <= need; i++) {
		if (i >= n || p[i] < lo || p[i] > hi)
			return i;
		lo = 0x80;
		hi = 0xbf;
	}
	*valid = 1;
	return need + 1;
}

const char *sb_printable(const void *s, size_t n, char *out, size_t cap)
{
	const unsigned char *p = s;
	size_t o = 0, i = 0;

	if (cap < 4) {
		if (cap)
			out[0] = '\0';
		return out;
	}
	while (i < n) {
		int valid;
		size_t k = sb_utf8_seq(p + i, n - i, &valid);

		/* C1 controls (U+0080..U+009F) are escapes to some terminals too. */
		int c1 = k == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0;

		if (valid && !c1 &&
		    (p[i] >= 0x80 || (p[i] >= 0x20 && p[i] != 0x7f && p[i] != '\\'))) {
			if (o + k > cap - 4)
				break;
			memcpy(out + o, p + i, k);
			o += k;
			i += k;
			continue;
		}
		/* One escape per byte: \xHH. */
		if (o + 4 > cap - 4)
			break;
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = "0123456789abcdef"[p[i] >> 4];
		out[o++] = "0123456789abcdef"[p[i] & 15];
		i++;
	}
	if (i < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}
