/*
 * sb-keygen - writes a CurveZMQ key pair: NAME.key (secret, mode 0600) and NAME.pub.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "farm.h"

static void usage(FILE *fp, const char *prog)
{
	fprintf(fp,
		"usage: %s [-f] NAME\n"
		"Write a CurveZMQ key pair: NAME.key (secret and public key, mode 0600) and\n"
		"NAME.pub (public key only), and print the public key.\n\n"
		"  -f, --force     overwrite existing files\n"
		"  -h, --help      show this help\n"
		"      --version   print the version (with -v: kernels, libraries, build)\n", prog);
}

static int write_file(const char *prog, const char *path, const char *text, int mode, int force)
{
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
	int fd = open(path, flags, mode);
	size_t n = strlen(text);

	if (fd < 0) {
		fprintf(stderr, "%s: %s: %s%s\n", prog, path, strerror(errno),
			errno == EEXIST ? " (use -f to overwrite)" : "");
		return -1;
	}
	if (write(fd, text, n) != (ssize_t)n || close(fd) != 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, SB_OPT_VERSION },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	const char *slash = strrchr(argv[0], '/');
	const char *prog = slash ? slash + 1 : argv[0];
	char pub[41], sec[41], path[4096], text[512];
	struct sb_error err;
	int opt, force = 0, version = 0, verbose = 0;

	while ((opt = getopt_long(argc, argv, "fhv", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f': force = 1; break;
		case 'v': verbose = 1; break;
		case SB_OPT_VERSION: version = 1; break;
		case 'h': usage(stdout, prog); return 0;
		default: usage(stderr, prog); return 2;
		}
	}
	if (version)
		return sb_cmd_version(prog, verbose);
	if (optind < argc && sb_cmd_no_args(prog, argc - optind - 1, argv + optind + 1, NULL))
		return 2;
	if (optind + 1 != argc || argv[optind][0] == '\0') {
		usage(stderr, prog);
		return 2;
	}
	const char *name = argv[optind];
	if (strlen(name) + 5 > sizeof(path)) {
		fprintf(stderr, "%s: %s: name too long\n", prog, name);
		return 2;
	}
	if (sb_zmq_keypair(pub, sec, &err) != SB_OK) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		return 1;
	}
	snprintf(text, sizeof(text),
		 "# CurveZMQ key pair written by sb-keygen: keep this file secret\n"
		 "public-key = %s\nsecret-key = %s\n", pub, sec);
	snprintf(path, sizeof(path), "%s.key", name);
	if (write_file(prog, path, text, 0600, force) < 0)
		return 1;
	memset(text, 0, sizeof(text));
	memset(sec, 0, sizeof(sec));
	snprintf(text, sizeof(text), "# CurveZMQ public key written by sb-keygen\npublic-key = %s\n",
		 pub);
	snprintf(path, sizeof(path), "%s.pub", name);
	if (write_file(prog, path, text, 0644, force) < 0)
		return 1;
	printf("%s\n", pub);
	return 0;
}
