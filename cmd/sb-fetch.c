/*
 * sb-fetch - resolve a model folder or Hugging Face hub id to a local folder,
 * downloading the model into the Hugging Face cache when needed; print the folder.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "errors.h"
#include "hub.h"

static const char *prog = "sb-fetch";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [-chop] [-r revision] [-a attempts] model\n"
		"  model            a model folder or a hub id (org/name)\n"
		"  -r, --revision   branch, tag or commit (default main)\n"
		"  -o, --offline    use the cache only (as HF_HUB_OFFLINE=1)\n"
		"  -a, --attempts   tries per file, each resuming the last (default 3)\n"
		"  -p, --progress   report downloads on standard error\n"
		"  -c, --curl       use curl(1) for http:// too (it honours proxy settings)\n"
		"  -h, --help       show this help\n"
		"      --version    print the version (with -v: kernels, libraries, build)\n"
		"environment: HF_HUB_CACHE HF_HOME HF_ENDPOINT HF_TOKEN HF_HUB_OFFLINE\n",
		prog);
}

struct progress {
	const char *last;
	uint64_t last_done;
	unsigned long long next;        /* report again at this many bytes */
};

static void on_progress(void *ctx, const char *path, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;

	/* One line when a file starts or ends, and one per 16 MiB in between. */
	if (p->last == path && (done == p->last_done || (done != total && done < p->next)))
		return;
	p->last = path;
	p->last_done = done;
	p->next = (unsigned long long)done + (16ULL << 20);
	if (total)
		fprintf(stderr, "%s: %s: %llu of %llu bytes\n", prog, path,
			(unsigned long long)done, (unsigned long long)total);
	else
		fprintf(stderr, "%s: %s: %llu bytes\n", prog, path, (unsigned long long)done);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "revision", required_argument, NULL, 'r' },
		{ "offline", no_argument, NULL, 'o' },
		{ "attempts", required_argument, NULL, 'a' },
		{ "progress", no_argument, NULL, 'p' },
		{ "curl", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, SB_OPT_VERSION },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct sb_hub_env env;
	struct sb_error err = { 0 };
	struct progress pr = { NULL, 0, 0 };
	char *dir = NULL, *end;
	int c, version = 0, verbose = 0;

	sb_hub_env_from(&env, getenv);
	while ((c = getopt_long(argc, argv, "r:oa:pchv", opts, NULL)) != -1) {
		switch (c) {
		case SB_OPT_VERSION:
			version = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'r':
			env.revision = optarg;
			break;
		case 'o':
			env.offline = 1;
			break;
		case 'a':
			env.attempts = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg || env.attempts < 1 || env.attempts > 100) {
				fprintf(stderr, "%s: -a: '%s' is not a count from 1 to 100\n", prog,
					optarg);
				usage(stderr);
				return 2;
			}
			break;
		case 'c':
			env.use_curl = 1;
			break;
		case 'p':
			env.progress = on_progress;
			env.progress_ctx = &pr;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (version)
		return sb_cmd_version(prog, verbose);
	if (optind < argc && sb_cmd_no_args(prog, argc - optind - 1, argv + optind + 1, NULL))
		return 2;
	if (argc - optind != 1) {
		usage(stderr);
		return 2;
	}
	if (sb_hub_resolve(argv[optind], &env, &dir, &err) != SB_OK) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		return 1;
	}
	if (printf("%s\n", dir) < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "%s: cannot write to standard output\n", prog);
		free(dir);
		return 1;
	}
	free(dir);
	return 0;
}
