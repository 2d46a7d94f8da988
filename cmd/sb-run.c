/*
 * sb-run - runs a stage built as a shared object, with the common options.
 *
 *     sb-run [options] STAGE.so [key=value ...]
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static void usage(FILE *fp, const char *prog)
{
	fprintf(fp,
		"usage: %s [options] STAGE.so [key=value ...]\n"
		"Run the stage exported as `sb_stage` by a shared object, passing it the\n"
		"key=value options.\n\n" SB_CMD_COMMON_HELP, prog);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = { SB_CMD_LONGOPTS, { NULL, 0, NULL, 0 } };
	const struct sb_stage *stage;
	struct sb_error err;
	struct sb_cmd c;
	void *handle;
	int opt, rc;

	sb_cmd_init(&c, argv[0]);
	while ((opt = getopt_long(argc, argv, "+" SB_CMD_SHORTOPTS, longopts, NULL)) != -1) {
		rc = sb_cmd_option(&c, opt, optarg);
		if (rc < 0)
			return 2;
		if (rc)
			continue;
		if (opt == 'h') {
			usage(stdout, c.prog);
			return 0;
		}
		usage(stderr, c.prog);
		return 2;
	}
	/* Stray arguments are sb-run's own (key=value, below); stage messages keep the
	 * key=value spelling its user typed. */
	if (sb_cmd_args(&c, 0, NULL, NULL, 1))
		return 2;
	if (optind >= argc) {
		usage(stderr, c.prog);
		return 2;
	}
	for (int i = optind + 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq || eq == argv[i]) {
			fprintf(stderr, "%s: '%s': expected key=value\n", c.prog, argv[i]);
			return 2;
		}
		*eq = '\0';
		sb_cmd_kv(&c, argv[i], eq + 1);
	}
	if (sb_stage_load(argv[optind], &stage, &handle, &err)) {
		sb_cmd_error(&c, &err);
		return 1;
	}
	rc = sb_cmd_run(&c, stage);
	dlclose(handle);
	return rc;
}
