/*
 * fuzz_json.c - fuzz target for the JSON reader (config.json, tokenizer.json and the
 * safetensors header all go through it).
 *
 * Input: one flags byte (bit 0: SB_JSON_NO_DUPLICATES; bits 1-7: max_depth, 0 for the
 * default), then the text.  Besides the sanitizers, the tree of a successful parse is
 * checked: every string is NUL-terminated at its length and valid UTF-8 without
 * surrogates, object members have names and arrays do not, a NO_DUPLICATES object has
 * unique names, the depth is within the limit; the typed accessors are called on every
 * object.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "json.h"

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_json: property violated: %s\n", what);
	abort();
}

/* Strict UTF-8: shortest forms only, no surrogates, nothing past U+10FFFF. */
static int valid_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], cp, k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i <= k)
			return 0;
		for (unsigned j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

static void check_str(const char *s, size_t n)
{
	if (!s || s[n] != '\0')
		fail("string not NUL-terminated at its length");
	if (!valid_utf8((const unsigned char *)s, n))
		fail("decoded string is not valid UTF-8");
}

static void walk(const struct sb_json *j, size_t depth, size_t max_depth, int nodup)
{
	struct sb_error err;
	const char *s;
	int64_t i;
	double d;
	int b;

	/* The root container is the first level of nesting. */
	if ((j->type == SB_JSON_ARRAY || j->type == SB_JSON_OBJECT) && depth + 1 > max_depth)
		fail("containers nested deeper than max_depth");
	switch (j->type) {
	case SB_JSON_STRING:
		check_str(j->str, j->len);
		break;
	case SB_JSON_ARRAY:
		for (size_t k = 0; k < j->n_items; k++) {
			if (j->items[k].key)
				fail("array item with a member name");
			walk(&j->items[k], depth + 1, max_depth, nodup);
		}
		break;
	case SB_JSON_OBJECT:
		for (size_t k = 0; k < j->n_items; k++) {
			const struct sb_json *m = &j->items[k];

			if (!m->key)
				fail("object member without a name");
			check_str(m->key, m->key_len);
			/* Quadratic, so only on small objects. */
			if (nodup && j->n_items <= 64)
				for (size_t l = 0; l < k; l++)
					if (j->items[l].key_len == m->key_len &&
					    !memcmp(j->items[l].key, m->key, m->key_len))
						fail("duplicate member accepted");
			walk(m, depth + 1, max_depth, nodup);
		}
		if (j->n_items > 0 && !memchr(j->items[0].key, '\0', j->items[0].key_len)) {
			const char *k0 = j->items[0].key;

			if (sb_json_get(j, k0) == NULL)
				fail("sb_json_get misses the first member");
			(void)sb_json_get_int(j, k0, &i, &err);
			(void)sb_json_get_num(j, k0, &d, &err);
			(void)sb_json_get_bool(j, k0, &b, &err);
			(void)sb_json_get_str(j, k0, &s, &err);
		}
		(void)sb_json_get_int(j, "max_position_embeddings", &i, &err);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_json *root = NULL;
	struct sb_error err;
	size_t max_depth;
	int flags;

	if (size < 1)
		return 0;
	flags = (data[0] & 1) ? SB_JSON_NO_DUPLICATES : 0;
	max_depth = data[0] >> 1;
	if (sb_json_parse((const char *)data + 1, size - 1, flags, max_depth, &root, &err) ==
	    SB_OK) {
		if (!root)
			fail("success without a tree");
		walk(root, 0, max_depth ? max_depth : SB_JSON_DEFAULT_MAX_DEPTH, flags != 0);
		sb_json_free(&root);
	} else if (root) {
		fail("failure left a tree");
	}
	return 0;
}
