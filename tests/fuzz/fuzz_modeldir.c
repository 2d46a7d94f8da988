/*
 * fuzz_modeldir.c - fuzz target for the readers of a model folder's small files:
 * tokenizer.json, vocab.txt, tokenizer_config.json, special_tokens_map.json,
 * sentence_bert_config.json, config.json, modules.json and 1_Pooling/config.json.
 *
 * Input: a selector byte, then the contents of one file.  The target keeps a scratch
 * model folder (made once, removed at exit) holding the test model's files
 * ($SB_SRCDIR/tests/models/tiny-distilbert); each input replaces the selected file,
 * removes tokenizer.json when vocab.txt and its companions are under test (so they are
 * read), then opens the tokenizer, the model (only for config.json: it maps the
 * weights) and the pooling configuration, and restores the folder.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "model.h"
#include "pooling.h"
#include "tokenizer.h"

static const char *const files[] = {
	"tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
	"sentence_bert_config.json", "config.json", "modules.json", "1_Pooling/config.json",
};
#define N_FILES (sizeof files / sizeof files[0])

static char dir[4096];
static char *orig[N_FILES];
static size_t orig_len[N_FILES];

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

static void cleanup(void)
{
	char path[4200];

	for (size_t i = 0; i < N_FILES; i++) {
		drop(files[i]);
		free(orig[i]);
	}
	drop("model.safetensors");
	snprintf(path, sizeof path, "%s/1_Pooling", dir);
	rmdir(path);
	rmdir(dir);
}

static void setup(void)
{
	const char *src = getenv("SB_SRCDIR");
	const char *tmp = getenv("TMPDIR");
	char model[4096], path[8300], link[8300];

	snprintf(model, sizeof model, "%s/tests/models/tiny-distilbert", src ? src : ".");
	snprintf(dir, sizeof dir, "%s/sb-fuzz-model.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("fuzz_modeldir: mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof path, "%s/1_Pooling", dir);
	mkdir(path, 0755);
	for (size_t i = 0; i < N_FILES; i++) {
		FILE *fp;
		long n;

		snprintf(path, sizeof path, "%s/%s", model, files[i]);
		fp = fopen(path, "rb");
		if (!fp || fseek(fp, 0, SEEK_END) || (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) ||
		    !(orig[i] = malloc((size_t)n + 1)) || fread(orig[i], 1, (size_t)n, fp) != (size_t)n) {
			fprintf(stderr, "fuzz_modeldir: cannot read %s (set SB_SRCDIR)\n", path);
			exit(1);
		}
		fclose(fp);
		orig_len[i] = (size_t)n;
		put(files[i], orig[i], orig_len[i]);
	}
	/* The weights are only read, so a link to the test model's file will do. */
	snprintf(path, sizeof path, "%s/model.safetensors", model);
	if (path[0] != '/') {
		char cwd[4096];

		if (!getcwd(cwd, sizeof cwd))
			exit(1);
		snprintf(link, sizeof link, "%s/%s", cwd, path);
	} else {
		snprintf(link, sizeof link, "%s", path);
	}
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	if (symlink(link, path) != 0) {
		perror("fuzz_modeldir: symlink");
		exit(1);
	}
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_tokenizer *tok = NULL;
	struct sb_model *model = NULL;
	struct sb_pooling pool;
	struct sb_error err;
	size_t k;

	if (!dir[0])
		setup();
	if (size < 1)
		return 0;
	k = data[0] % N_FILES;
	if (put(files[k], data + 1, size - 1) != 0)
		abort();
	/* vocab.txt and its companions are only read without tokenizer.json. */
	if (k >= 1 && k <= 3)
		drop("tokenizer.json");
	if (sb_tokenizer_open(&tok, dir, NULL, &err) == SB_OK) {
		struct sb_tokenizer_enc e;

		if (sb_tokenizer_enc_init(&e, tok, &err) == SB_OK) {
			static const char s[] = "Hello, world! [SEP] caf\xc3\xa9 \xe4\xb8\xad";

			(void)sb_tokenizer_encode(&e, NULL, 0, s, sizeof s - 1, s, 5,
						  SB_TRUNC_LONGEST_FIRST, 0, &err);
			sb_tokenizer_enc_destroy(&e);
		}
		sb_tokenizer_close(&tok);
	}
	if (k == 5 && sb_model_open(&model, dir, NULL, &err) == SB_OK)
		sb_model_close(&model);
	if (k >= 6)
		(void)sb_pooling_from_model(&pool, dir, &err);
	put(files[k], orig[k], orig_len[k]);
	if (k >= 1 && k <= 3)
		put(files[0], orig[0], orig_len[0]);
	return 0;
}
