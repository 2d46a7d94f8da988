/*
 * sb-weights - inspect and validate the weights of a model: model.safetensors or
 * pytorch_model.bin, read exactly as sb-encode reads them.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "internal.h"
#include "weights.h"

static const char *prog = "sb-weights";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s list|info [-h] PATH\n"
		"  PATH        a model folder (model.safetensors, else pytorch_model.bin) or a\n"
		"              weights file (.safetensors or a torch.save zip)\n"
		"  list        one line per tensor: name, dtype in the file, shape, bytes in the\n"
		"              file, and '-' for tensors that are not weights (integer buffers)\n"
		"  info        how the file was loaded, tensor and parameter counts, load time\n"
		"  -h, --help  show this help\n"
		"  --version   print the version (with -v: kernels, libraries, build)\n"
		"The checks are sb-encode's: a broken or hostile file is reported, exit 1.\n",
		prog);
}

static int open_path(const char *path, struct sb_weights **w, double *secs)
{
	struct sb_error err = { 0 };
	double t0 = sb_now();
	int rc = sb_dir_exists(path) ? sb_weights_open(w, path, &err) :
		 sb_weights_open_file(w, path, &err);

	*secs = sb_now() - t0;
	if (rc != SB_OK) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		return -1;
	}
	return 0;
}

static void list(const struct sb_weights *w)
{
	for (size_t i = 0; i < sb_weights_count_all(w); i++) {
		struct sb_weights_item it;
		char shape[256];

		if (sb_weights_item(w, i, &it) != SB_OK)
			break;
		printf("%s\t%s\t%s\t%zu%s\n", it.name, it.file_dtype,
		       sb_shape_str(it.n_dims, it.shape, shape, sizeof(shape)), it.file_nbytes,
		       it.tensor ? "" : "\t-");
	}
}

static void info(const struct sb_weights *w, double secs)
{
	size_t params = 0;

	for (size_t i = 0; i < sb_weights_count(w); i++)
		params += sb_tensor_numel(sb_weights_at(w, i));
	printf("source\t%s\n", sb_weights_source(w));
	printf("file_bytes\t%zu\n", sb_weights_file_bytes(w));
	printf("tensors\t%zu\n", sb_weights_count(w));
	printf("other_tensors\t%zu\n", sb_weights_count_all(w) - sb_weights_count(w));
	printf("parameters\t%zu\n", params);
	printf("load_seconds\t%.3f\n", secs);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, SB_OPT_VERSION },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct sb_weights *w = NULL;
	const char *cmd;
	double secs;
	int c, version = 0, verbose = 0;

	while ((c = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (c) {
		case SB_OPT_VERSION:
			version = 1;
			break;
		case 'v':
			verbose = 1;
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
	if (argc - optind > 2 && sb_cmd_no_args(prog, argc - optind - 2, argv + optind + 2, NULL))
		return 2;
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "list") != 0 && strcmp(cmd, "info") != 0) {
		fprintf(stderr, "%s: unknown command '%s'\n", prog, cmd);
		usage(stderr);
		return 2;
	}
	if (open_path(argv[optind + 1], &w, &secs) < 0)
		return 1;
	if (strcmp(cmd, "list") == 0)
		list(w);
	else
		info(w, secs);
	sb_weights_close(&w);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: error writing standard output\n", prog);
		return 1;
	}
	return 0;
}
