/*
 * fuzz_tokstore.c - fuzz target for the tokenizer cache's reader (lib/tok_store.c):
 * a hostile cache file in place of the one a load of the tiny-qwen tokenizer.json
 * wrote, then the tokenizer opened with the cache.
 *
 * Setup: a scratch folder with a copy of $SB_SRCDIR/tests/golden/tokenize/bpe/tiny-qwen
 * (its tokenizer.json dated 2020, old enough to be cached) and a cache folder; a first
 * open writes the cache file, whose bytes are kept, and the ids of a fixed text are
 * taken from a tokenizer opened without cache.
 *
 * Input: a selector byte, then bytes.  Selector 0: the bytes are the cache file.
 * Selectors 1 and 2: the bytes are edits of the good file, five bytes each (offset,
 * little-endian, modulo the file's size, then a byte XORed in there); with 2 the
 * checksum is then made right again (sb_tok_store_reseal), so that the checks behind it
 * are reached.  The open must succeed (the tokenizer.json is good: a bad cache file is
 * only ignored); with 0 and 1, which the checksum guards, the fingerprint and the ids
 * must be those without cache; with 2 (a file made to pass the checksum) every id must
 * be one the tokenizer knows.  Messages must be one line.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "tokenizer.h"
#include "tokenizer_impl.h"

static char dir[4096], cache[4200], file[4400];
static unsigned char *good;
static size_t good_len;
static uint64_t ref_fp;
static int32_t ref_ids[256];
static size_t ref_n;
static const char text[] = "Hello, world! <|im_start|>user caf\xc3\xa9 it's 12345 \xe4\xb8\xad "
			   "\xf0\x9f\x98\x80 <w> a<w>b \t\n end";

static void run(const char *cmd)
{
	if (system(cmd) != 0) {
		fprintf(stderr, "fuzz_tokstore: failed: %s\n", cmd);
		exit(1);
	}
}

static void cleanup(void)
{
	char cmd[8400];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_tokstore: cannot remove %s\n", dir);
	free(good);
}

/* The ids of text through t into ids (at most 256); their number. */
static size_t encode(const struct sb_tokenizer *t, int32_t *ids)
{
	struct sb_tokenizer_enc e;
	struct sb_error err;
	size_t n = 0;

	if (sb_tokenizer_enc_init(&e, t, &err) != SB_OK)
		fuzz_fail("tokstore", "no encoder");
	if (sb_tokenizer_encode(&e, NULL, 0, text, sizeof text - 1, NULL, 0, SB_TRUNC_NONE, 0,
				&err) != SB_OK)
		fuzz_fail("tokstore", "encoding failed");
	for (size_t i = 0; i < e.n; i++) {
		if (!sb_tokenizer_id_token(t, e.ids[i]))
			fuzz_fail("tokstore", "an id without a token");
		if (i < 256)
			ids[n++] = e.ids[i];
	}
	sb_tokenizer_enc_destroy(&e);
	return n;
}

static struct sb_tokenizer *open_tok(const char *cache_dir)
{
	struct sb_tokenizer_opts o;
	struct sb_tokenizer *t = NULL;
	struct sb_error err;

	sb_tokenizer_opts_init(&o);
	o.cache_dir = cache_dir;
	if (sb_tokenizer_open(&t, dir, &o, &err) != SB_OK) {
		fprintf(stderr, "fuzz_tokstore: %s\n", err.msg);
		fuzz_fail("tokstore", fuzz_one_line(err.msg) ? "the open failed" :
			  "the open failed, and its message is not one line");
	}
	return t;
}

/* The cache file the info of t names. */
static void cache_file(const struct sb_tokenizer *t)
{
	const struct sb_tokenizer_info *in = sb_tokenizer_info(t);

	for (size_t i = 0; i < in->n_settings; i++)
		if (!strcmp(in->settings[i].name, "cache"))
			snprintf(file, sizeof file, "%s", in->settings[i].source);
	if (!file[0])
		fuzz_fail("tokstore", "no cache setting");
}

static void setup(void)
{
	const char *src = getenv("SB_SRCDIR");
	const char *tmp = getenv("TMPDIR");
	char cmd[9000];
	struct sb_tokenizer *t;
	FILE *fp;
	long n;

	snprintf(dir, sizeof dir, "%s/sb-fuzz-tokstore.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("fuzz_tokstore: mkdtemp");
		exit(1);
	}
	atexit(cleanup);
	snprintf(cmd, sizeof cmd, "cp '%s'/tests/golden/tokenize/bpe/tiny-qwen/* '%s' && "
		 "touch -d '2020-01-01 00:00:00' '%s/tokenizer.json'", src ? src : ".", dir, dir);
	run(cmd);
	snprintf(cache, sizeof cache, "%s/cache", dir);
	t = open_tok(NULL);
	ref_fp = sb_tokenizer_info(t)->fingerprint;
	ref_n = encode(t, ref_ids);
	sb_tokenizer_close(&t);
	t = open_tok(cache);
	cache_file(t);
	sb_tokenizer_close(&t);
	fp = fopen(file, "rb");
	if (!fp || fseek(fp, 0, SEEK_END) || (n = ftell(fp)) <= 0 || fseek(fp, 0, SEEK_SET) ||
	    !(good = malloc((size_t)n)) || fread(good, 1, (size_t)n, fp) != (size_t)n) {
		fprintf(stderr, "fuzz_tokstore: no cache file %s\n", file);
		exit(1);
	}
	fclose(fp);
	good_len = (size_t)n;
}

static void put(const unsigned char *p, size_t n)
{
	FILE *fp = fopen(file, "wb");

	if (!fp || fwrite(p, 1, n, fp) != n || fclose(fp) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_tokenizer *t;
	int32_t ids[256];
	unsigned k;

	if (!dir[0])
		setup();
	if (size < 1)
		return 0;
	k = data[0] % 3;
	if (k == 0) {
		put(data + 1, size - 1);
	} else {
		unsigned char *f = malloc(good_len);

		if (!f)
			abort();
		memcpy(f, good, good_len);
		for (size_t i = 1; i + 5 <= size; i += 5) {
			uint32_t off = (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 |
				       (uint32_t)data[i + 2] << 16 | (uint32_t)data[i + 3] << 24;

			f[off % good_len] ^= data[i + 4];
		}
		if (k == 2)
			(void)sb_tok_store_reseal(f, good_len);
		put(f, good_len);
		free(f);
	}
	t = open_tok(cache);
	if (k < 2) {
		if (sb_tokenizer_info(t)->fingerprint != ref_fp)
			fuzz_fail("tokstore", "another fingerprint");
		if (encode(t, ids) != ref_n || memcmp(ids, ref_ids, ref_n * sizeof(*ids)))
			fuzz_fail("tokstore", "other ids");
	} else {
		(void)encode(t, ids);
	}
	sb_tokenizer_close(&t);
	return 0;
}
