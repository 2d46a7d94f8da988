/*
 * utf8.c - well-formed UTF-8 sequences, shared by the JSON reader and sb-cat.
 */
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
