/*
 * fuzz_tokspm.c - fuzz target for the SentencePiece parts of the tokenizers: the
 * loaders of Unigram files (model.vocab's [piece, score] pairs, unk_id, byte_fallback),
 * of the Precompiled normalizer's charsmap (base64, then a double-array trie read
 * without trusting one offset of it) and of Metaspace, and the pipeline on arbitrary
 * text.
 *
 * Input: a selector byte, then bytes.  Selector 0: the bytes are tokenizer.json of a
 * scratch model folder made once from $SB_SRCDIR/tests/golden/tokenize/spm/tiny-uni
 * (seeds: that file, a Llama-style BPE with byte_fallback and Metaspace); 1: the bytes
 * are the charsmap blob itself, put base64 into tiny-uni's file; either way the
 * tokenizer is opened and, when it loads, encodes a fixed text (graphemes, marks,
 * added tokens).  Selectors 2-4 take the bytes after the second as text, fed in
 * pieces whose size the second byte sets: 2 through tiny-uni, 3 the same as a pair, 4
 * through spm/llama-meta (BPE byte_fallback, Metaspace first without split).  An
 * error message must be one line; an encoding must hold only ids the tokenizer knows
 * and at most max_length of them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "tokenizer.h"

static char dir[4096];
static char *orig;                      /* tiny-uni's tokenizer.json */
static size_t orig_len, map_at, map_len; /* its charsmap's base64 text */
static struct sb_tokenizer *tu, *tl;
static struct sb_tokenizer_enc eu, el;

static int put(const void *p, size_t n, const void *q, size_t nq, const void *r, size_t nr)
{
	char path[4200];
	FILE *fp;
	int ok;

	snprintf(path, sizeof path, "%s/tokenizer.json", dir);
	fp = fopen(path, "wb");
	if (!fp)
		return -1;
	ok = fwrite(p, 1, n, fp) == n && fwrite(q, 1, nq, fp) == nq && fwrite(r, 1, nr, fp) == nr;
	return fclose(fp) == 0 && ok ? 0 : -1;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	long n;
	char *p = NULL;

	if (!fp || fseek(fp, 0, SEEK_END) || (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) ||
	    !(p = malloc((size_t)n + 1)) || fread(p, 1, (size_t)n, fp) != (size_t)n) {
		fprintf(stderr, "fuzz_tokspm: cannot read %s (set SB_SRCDIR)\n", path);
		exit(1);
	}
	fclose(fp);
	p[n] = 0;
	*len = (size_t)n;
	return p;
}

static void cleanup(void)
{
	char path[4200];

	sb_tokenizer_enc_destroy(&eu);
	sb_tokenizer_enc_destroy(&el);
	sb_tokenizer_close(&tu);
	sb_tokenizer_close(&tl);
	free(orig);
	snprintf(path, sizeof path, "%s/tokenizer.json", dir);
	unlink(path);
	rmdir(dir);
}

static void open_enc(const char *path, struct sb_tokenizer **t, struct sb_tokenizer_enc *e)
{
	struct sb_error err;

	if (sb_tokenizer_open(t, path, NULL, &err) != SB_OK ||
	    sb_tokenizer_enc_init(e, *t, &err) != SB_OK) {
		fprintf(stderr, "fuzz_tokspm: %s\n", err.msg);
		exit(1);
	}
}

static void setup(void)
{
	static const char key[] = "\"precompiled_charsmap\":\"";
	const char *src = getenv("SB_SRCDIR");
	const char *tmp = getenv("TMPDIR");
	char base[4096], path[8300];
	const char *k, *e;

	snprintf(base, sizeof base, "%s/tests/golden/tokenize/spm", src ? src : ".");
	snprintf(dir, sizeof dir, "%s/sb-fuzz-tokspm.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("fuzz_tokspm: mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof path, "%s/tiny-uni/tokenizer.json", base);
	orig = slurp(path, &orig_len);
	k = strstr(orig, key);
	e = k ? strchr(k + sizeof key - 1, '"') : NULL;
	if (!e) {
		fprintf(stderr, "fuzz_tokspm: no precompiled_charsmap in %s\n", path);
		exit(1);
	}
	map_at = (size_t)(k - orig) + sizeof key - 1;
	map_len = (size_t)(e - orig) - map_at;
	snprintf(path, sizeof path, "%s/tiny-uni", base);
	open_enc(path, &tu, &eu);
	snprintf(path, sizeof path, "%s/llama-meta", base);
	open_enc(path, &tl, &el);
	atexit(cleanup);
}

/* The ids of e are the tokenizer's and within its max length. */
static void check_ids(const struct sb_tokenizer *t, const struct sb_tokenizer_enc *e)
{
	const struct sb_tokenizer_info *info = sb_tokenizer_info(t);

	if (e->n > info->max_length)
		fuzz_fail("tokspm", "more ids than max_length");
	for (size_t i = 0; i < e->n; i++)
		if (!sb_tokenizer_id_token(t, e->ids[i]))
			fuzz_fail("tokspm", "an id without a token");
}

static void open_folder(void)
{
	struct sb_tokenizer *t = NULL;
	struct sb_tokenizer_enc e;
	struct sb_error err;
	static const char s[] = "Hello  <mask> \xef\xac\x81\xcc\x81 e\xcc\x81 A\xcc\x8a\xcc\x81 "
				"\xef\xbc\xa1\xe2\x91\xa0 x\xe2\x80\x8by \xe3\x80\x80 \xe2\x96\x81 "
				"\xe2\x98\x83 <s>\r\n";

	if (sb_tokenizer_open(&t, dir, NULL, &err) != SB_OK) {
		if (!fuzz_one_line(err.msg)) {
			fprintf(stderr, "message: '%s'\n", err.msg);
			fuzz_fail("tokspm", "a loader's message is not one line");
		}
		return;
	}
	if (sb_tokenizer_enc_init(&e, t, &err) == SB_OK) {
		if (sb_tokenizer_encode(&e, NULL, 0, s, sizeof s - 1, s, 9, SB_TRUNC_LONGEST_FIRST,
					0, &err) == SB_OK)
			check_ids(t, &e);
		sb_tokenizer_enc_destroy(&e);
	}
	sb_tokenizer_close(&t);
}

/* The blob p[0..n), base64, in place of tiny-uni's charsmap. */
static void put_charsmap(const uint8_t *p, size_t n)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *s = malloc(4 * (n / 3) + 8);
	size_t k = 0, i = 0;

	if (!s)
		abort();
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		s[k++] = b64[v >> 18];
		s[k++] = b64[(v >> 12) & 63];
		s[k++] = b64[(v >> 6) & 63];
		s[k++] = b64[v & 63];
	}
	if (n - i) {
		uint32_t v = (uint32_t)p[i] << 16 | (n - i == 2 ? (uint32_t)p[i + 1] << 8 : 0);

		s[k++] = b64[v >> 18];
		s[k++] = b64[(v >> 12) & 63];
		s[k++] = n - i == 2 ? b64[(v >> 6) & 63] : '=';
		s[k++] = '=';
	}
	if (put(orig, map_at, s, k, orig + map_at + map_len, orig_len - map_at - map_len))
		abort();
	free(s);
}

/* The text p[0..n) through t in pieces of step bytes. */
static void run_text(const struct sb_tokenizer *t, struct sb_tokenizer_enc *e, const char *p,
		     size_t n, size_t step, int pair)
{
	struct sb_error err;
	size_t half = pair ? n / 2 : n;
	int rc;

	sb_tokenizer_begin(e, SB_TRUNC_LONGEST_FIRST, SB_TOKENIZER_REPLACE_INVALID);
	for (size_t i = 0, lim = half; ; lim = n) {
		for (rc = SB_OK; rc == SB_OK && i < lim; i += step)
			rc = sb_tokenizer_feed(e, p + i, i + step < lim ? step : lim - i, &err);
		i = lim;
		if (rc != SB_OK)
			return;
		if (!pair || lim == n)
			break;
		if (sb_tokenizer_next(e, &err) != SB_OK)
			return;
	}
	if (sb_tokenizer_end(e, &err) == SB_OK)
		check_ids(t, e);
	else if (!fuzz_one_line(err.msg))
		fuzz_fail("tokspm", "an encoder's message is not one line");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned k;

	if (!dir[0])
		setup();
	if (size < 2)
		return 0;
	k = data[0] % 5;
	if (k >= 2) {
		int llama = k == 4;

		run_text(llama ? tl : tu, llama ? &el : &eu, (const char *)data + 2, size - 2,
			 1 + data[1] % 64, k == 3);
		return 0;
	}
	if (k == 1)
		put_charsmap(data + 1, size - 1);
	else if (put(data + 1, size - 1, "", 0, "", 0))
		abort();
	open_folder();
	return 0;
}
