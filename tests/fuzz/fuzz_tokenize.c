/*
 * fuzz_tokenize.c - fuzz target for the tokenizer on arbitrary bytes
 * (sb_tokenizer_encode and sb_tokenizer_count with the test model's tokenizer).
 *
 * Input: a flags byte (bit 0: SB_TOKENIZER_REPLACE_INVALID, bit 1: NO_SPECIAL, bits 2-3:
 * truncation strategy, bit 4: a pair, bit 5: a prefix), a split byte, then the text:
 * the pair and the prefix are cut from it at the split byte's proportion.  The
 * tokenizer is read once from $SB_SRCDIR/tests/models/tiny-distilbert (srcdir "."
 * when unset).  Besides the sanitizers, a successful encoding must hold only ids of the
 * vocabulary, respect max_length unless truncation is off, report n <= n_full and
 * truncated exactly when n < n_full, and give type ids 0/1 only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tokenizer.h"

static struct sb_tokenizer *tok;
static struct sb_tokenizer_enc enc;

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_tokenize: property violated: %s\n", what);
	abort();
}

static void setup(void)
{
	const char *src = getenv("SB_SRCDIR");
	char dir[4096];
	struct sb_error err;

	snprintf(dir, sizeof dir, "%s/tests/models/tiny-distilbert", src ? src : ".");
	if (sb_tokenizer_open(&tok, dir, NULL, &err) != SB_OK ||
	    sb_tokenizer_enc_init(&enc, tok, &err) != SB_OK) {
		fprintf(stderr, "fuzz_tokenize: %s (set SB_SRCDIR to the source tree)\n", err.msg);
		exit(1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct sb_tokenizer_info *info;
	struct sb_error err;
	const char *text, *a, *b = NULL, *pre = NULL;
	size_t n, na, nb = 0, np = 0, cut;
	enum sb_trunc trunc;
	unsigned flags = 0;
	uint64_t count;
	int rc;

	if (!tok)
		setup();
	if (size < 2)
		return 0;
	if (data[0] & 1)
		flags |= SB_TOKENIZER_REPLACE_INVALID;
	if (data[0] & 2)
		flags |= SB_TOKENIZER_NO_SPECIAL;
	trunc = (enum sb_trunc)((data[0] >> 2) & 3);
	text = (const char *)data + 2;
	n = size - 2;
	cut = n * data[1] / 255;
	a = text;
	na = n;
	if (data[0] & 16) {
		na = cut;
		b = text + cut;
		nb = n - cut;
	} else if (data[0] & 32) {
		pre = text;
		np = cut;
		a = text + cut;
		na = n - cut;
	}
	info = sb_tokenizer_info(tok);
	rc = sb_tokenizer_encode(&enc, pre, np, a, na, b, nb, trunc, flags, &err);
	if (rc == SB_OK) {
		if (enc.n > enc.n_full || (enc.truncated != 0) != (enc.n < enc.n_full))
			fail("n, n_full and truncated disagree");
		if (trunc != SB_TRUNC_NONE && enc.n > info->max_length)
			fail("more tokens than max_length");
		for (size_t i = 0; i < enc.n; i++) {
			if (!sb_tokenizer_id_token(tok, enc.ids[i]))
				fail("id outside the vocabulary");
			if (enc.type_ids && enc.type_ids[i] > 1)
				fail("type id other than 0 or 1");
		}
	} else if (rc != SB_EFORMAT && rc != SB_EINVAL) {
		fprintf(stderr, "fuzz_tokenize: unexpected status %d: %s\n", rc, err.msg);
		abort();
	}
	(void)sb_tokenizer_count(&enc, (const char *)data + 2, n, &count, &err);
	return 0;
}
