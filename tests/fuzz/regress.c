/*
 * regress.c - replays fuzz inputs through a target's LLVMFuzzerTestOneInput() with the
 * normal compiler, so `make check` runs every committed corpus (seeds and the inputs of
 * past crashes) as a regression test under the configured sanitizers.
 *
 *     fuzz_TARGET [FILE|DIR ...]
 *
 * Without arguments it replays $SB_SRCDIR/tests/fuzz/corpus/TARGET, TARGET being the
 * program's own name after "fuzz_" (one regress.o serves every target: in a normal
 * build the program tests/fuzz/fuzz_TARGET is the target linked with this file, in a
 * --enable-fuzz build the same target linked with libFuzzer).  An empty
 * or missing corpus is a failure, so a test can never pass by running nothing.  A
 * property violation or sanitizer report aborts the run, naming the file on stderr
 * just before.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* The target's name: argv[0]'s base name after "fuzz_" (set by main). */
static const char *target = "?";

static int set_target(const char *argv0)
{
	const char *base = strrchr(argv0, '/');

	base = base ? base + 1 : argv0;
	if (strncmp(base, "lt-", 3) == 0) /* a libtool wrapper's name */
		base += 3;
	if (strncmp(base, "fuzz_", 5) != 0 || !base[5]) {
		fprintf(stderr, "%s: the program must be named fuzz_TARGET\n", argv0);
		return -1;
	}
	target = base + 5;
	return 0;
}

static int run_file(const char *path)
{
	unsigned char *buf;
	size_t n = 0, cap = 4096, got;
	FILE *fp = fopen(path, "rb");

	if (!fp) {
		fprintf(stderr, "fuzz_%s: %s: %s\n", target, path, strerror(errno));
		return -1;
	}
	buf = malloc(cap);
	while (buf && (got = fread(buf + n, 1, cap - n, fp)) > 0) {
		n += got;
		if (n == cap) {
			unsigned char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (!buf || ferror(fp)) {
		fprintf(stderr, "fuzz_%s: %s: cannot read\n", target, path);
		free(buf);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	/* Named first, so a crash report follows the name of its input. */
	fprintf(stderr, "fuzz_%s: %s (%zu bytes)\n", target, path, n);
	/* A copy of exactly n bytes, so ASan sees reads past the input's end. */
	{
		unsigned char *exact = malloc(n ? n : 1);

		if (!exact) {
			free(buf);
			return -1;
		}
		memcpy(exact, buf, n);
		free(buf);
		LLVMFuzzerTestOneInput(exact, n);
		free(exact);
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of dir in name order; returns the count or -1. */
static long run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	long count = 0;

	if (!d) {
		fprintf(stderr, "fuzz_%s: %s: %s\n", target, dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap ? cap * 2 : 64) * sizeof *names);

			if (!nn)
				break;
			names = nn;
			cap = cap ? cap * 2 : 64;
		}
		names[n] = malloc(strlen(dir) + strlen(de->d_name) + 2);
		if (!names[n])
			break;
		sprintf(names[n], "%s/%s", dir, de->d_name);
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (count >= 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
			count = run_file(names[i]) ? -1 : count + 1;
		free(names[i]);
	}
	free(names);
	return count;
}

int main(int argc, char **argv)
{
	const char *srcdir = getenv("SB_SRCDIR");
	char def[4096];
	long total = 0;

	if (set_target(argv[0]))
		return 1;
	if (argc > 1 && argv[1][0] == '-') {
		/* run.sh's libFuzzer flags: this build replays, it does not fuzz. */
		fprintf(stderr, "fuzz_%s: %s: this build replays corpora (make check); "
			"configure with CC=clang --enable-fuzz for libFuzzer\n", target, argv[1]);
		return 2;
	}
	if (argc < 2) {
		snprintf(def, sizeof def, "%s/tests/fuzz/corpus/%s", srcdir ? srcdir : ".",
			 target);
		total = run_dir(def);
	}
	for (int i = 1; i < argc && total >= 0; i++) {
		struct stat st;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "fuzz_%s: %s: %s\n", target, argv[i],
				strerror(errno));
			total = -1;
		} else if (S_ISDIR(st.st_mode)) {
			long c = run_dir(argv[i]);

			total = c < 0 ? -1 : total + c;
		} else {
			total = run_file(argv[i]) ? -1 : total + 1;
		}
	}
	if (total <= 0) {
		fprintf(stderr, "fuzz_%s: %s\n", target,
			total < 0 ? "failed" : "no inputs: the corpus is missing or empty");
		return 1;
	}
	printf("fuzz_%s: %ld inputs replayed without a fault\n", target, total);
	return 0;
}
