/*
 * fuzz_tokbpe.c - fuzz target for the byte-level BPE tokenizers: the loaders of
 * tokenizer.json (normalizers, pre-tokenizers, BPE model, added tokens,
 * post-processors) and of vocab.json + merges.txt + tokenizer_config.json, and the
 * generic pipeline on arbitrary text.
 *
 * Input: a selector byte, then bytes.  Selectors 0-4 replace one file of a scratch
 * model folder made once from the committed files of
 * $SB_SRCDIR/tests/golden/tokenize/bpe/tiny-roberta: 0 and 1 tokenizer.json (the seeds
 * hold the RoBERTa file and the Qwen-style one of tiny-qwen: Split regex, NFC, added
 * tokens of every flag), 2 vocab.json, 3 merges.txt, 4 tokenizer_config.json (2-4
 * without tokenizer.json, so that the older layout is read); the tokenizer is opened
 * and, when it loads, encodes a fixed text.  Selectors 5-7 take the bytes after the
 * second as text for the tiny-qwen tokenizer, fed in pieces whose size the second byte
 * sets, as a pair when the selector is 6.  An error message must be one line; an encoding must
 * hold only ids the tokenizer knows and at most max_length of them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "tokenizer.h"

static const char *const files[] = {
	"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json",
	"special_tokens_map.json", "config.json",
};
#define N_FILES (sizeof files / sizeof files[0])

static char dir[4096];
static char *orig[N_FILES];
static size_t orig_len[N_FILES];
static struct sb_tokenizer *tq;         /* the unmodified Qwen-style tokenizer */
static struct sb_tokenizer_enc eq;

static int put(const char *name, const void *p, size_t n)
{
	char path[4200];
	FILE *fp;
	int ok;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fp = fopen(path, "wb");
	if (!fp)
		return -1;
	ok = fwrite(p, 1, n, fp) == n;
	return fclose(fp) == 0 && ok ? 0 : -1;
}

static void drop(const char *name)
{
	char path[4200];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	unlink(path);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	long n;
	char *p = NULL;

	if (!fp || fseek(fp, 0, SEEK_END) || (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) ||
	    !(p = malloc((size_t)n + 1)) || fread(p, 1, (size_t)n, fp) != (size_t)n) {
		fprintf(stderr, "fuzz_tokbpe: cannot read %s (set SB_SRCDIR)\n", path);
		exit(1);
	}
	fclose(fp);
	*len = (size_t)n;
	return p;
}

static void cleanup(void)
{
	sb_tokenizer_enc_destroy(&eq);
	sb_tokenizer_close(&tq);
	for (size_t i = 0; i < N_FILES; i++) {
		drop(files[i]);
		free(orig[i]);
	}
	rmdir(dir);
}

static void setup(void)
{
	const char *src = getenv("SB_SRCDIR");
	const char *tmp = getenv("TMPDIR");
	char base[4096], path[8300];
	struct sb_error err;

	snprintf(base, sizeof base, "%s/tests/golden/tokenize/bpe", src ? src : ".");
	snprintf(dir, sizeof dir, "%s/sb-fuzz-tokbpe.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("fuzz_tokbpe: mkdtemp");
		exit(1);
	}
	for (size_t i = 0; i < N_FILES; i++) {
		snprintf(path, sizeof path, "%s/tiny-roberta/%s", base, files[i]);
		orig[i] = slurp(path, &orig_len[i]);
	}
	snprintf(path, sizeof path, "%s/tiny-qwen", base);
	if (sb_tokenizer_open(&tq, path, NULL, &err) != SB_OK ||
	    sb_tokenizer_enc_init(&eq, tq, &err) != SB_OK) {
		fprintf(stderr, "fuzz_tokbpe: %s\n", err.msg);
		exit(1);
	}
	atexit(cleanup);
}

/* The ids of e are the tokenizer's and within its max length. */
static void check_ids(const struct sb_tokenizer *t, const struct sb_tokenizer_enc *e)
{
	const struct sb_tokenizer_info *info = sb_tokenizer_info(t);

	if (e->n > info->max_length)
		fuzz_fail("tokbpe", "more ids than max_length");
	for (size_t i = 0; i < e->n; i++)
		if (!sb_tokenizer_id_token(t, e->ids[i]))
			fuzz_fail("tokbpe", "an id without a token");
}

static void open_folder(void)
{
	struct sb_tokenizer *t = NULL;
	struct sb_tokenizer_enc e;
	struct sb_error err;
	static const char s[] = "Hello, world! <mask> caf\xc3\xa9 it's 12345 \xe4\xb8\xad\t \r\n";

	if (sb_tokenizer_open(&t, dir, NULL, &err) != SB_OK) {
		if (!fuzz_one_line(err.msg)) {
			fprintf(stderr, "message: '%s'\n", err.msg);
			fuzz_fail("tokbpe", "a loader's message is not one line");
		}
		return;
	}
	if (sb_tokenizer_enc_init(&e, t, &err) == SB_OK) {
		if (sb_tokenizer_encode(&e, NULL, 0, s, sizeof s - 1, s, 7, SB_TRUNC_LONGEST_FIRST,
					0, &err) == SB_OK)
			check_ids(t, &e);
		sb_tokenizer_enc_destroy(&e);
	}
	sb_tokenizer_close(&t);
}

/* The text p[0..n) through the Qwen-style tokenizer in pieces of step bytes. */
static void run_text(const char *p, size_t n, size_t step, int pair)
{
	struct sb_error err;
	size_t half = pair ? n / 2 : n;
	int rc;

	sb_tokenizer_begin(&eq, SB_TRUNC_LONGEST_FIRST, SB_TOKENIZER_REPLACE_INVALID);
	for (size_t i = 0, lim = half; ; lim = n) {
		for (rc = SB_OK; rc == SB_OK && i < lim; i += step)
			rc = sb_tokenizer_feed(&eq, p + i, i + step < lim ? step : lim - i, &err);
		i = lim;
		if (rc != SB_OK)
			return;
		if (!pair || lim == n)
			break;
		if (sb_tokenizer_next(&eq, &err) != SB_OK)
			return;
	}
	if (sb_tokenizer_end(&eq, &err) == SB_OK)
		check_ids(tq, &eq);
	else if (!fuzz_one_line(err.msg))
		fuzz_fail("tokbpe", "an encoder's message is not one line");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned k;

	if (!dir[0])
		setup();
	if (size < 2)
		return 0;
	k = data[0] % 8;
	if (k >= 5) {
		run_text((const char *)data + 2, size - 2, 1 + data[1] % 64, k == 6);
		return 0;
	}
	if (k >= 2) {
		drop(files[0]);
		if (put(files[k - 1], data + 1, size - 1) != 0)
			abort();
	} else if (put(files[0], data + 1, size - 1) != 0) {
		abort();
	}
	open_folder();
	put(files[0], orig[0], orig_len[0]);
	if (k >= 2)
		put(files[k - 1], orig[k - 1], orig_len[k - 1]);
	return 0;
}
