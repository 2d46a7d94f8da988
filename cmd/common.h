/*
 * common.h - what every sb program shares: the common options (-i, -o, -v,
 * --progress, --max-msg-bytes, --worker), signal handling, running a stage and
 * reporting.  Programs add their own options and pass stage options as key=value.
 */
#ifndef SB_CMD_COMMON_H
#define SB_CMD_COMMON_H

#include <getopt.h>
#include <stdio.h>

#include "stage.h"

enum {
	SB_OPT_PROGRESS = 0x1000,
	SB_OPT_MAX_MSG,
	SB_OPT_WORKER,
	SB_OPT_CURVE_SECRET,
	SB_OPT_CURVE_SERVER,
	SB_OPT_CURVE_ALLOW,
	SB_OPT_INSECURE,
	SB_OPT_CREDITS,
	SB_OPT_HEARTBEAT,
	SB_OPT_VERSION,
	SB_OPT_FIRST_PRIVATE = 0x1100     /* programs number their own long options from here */
};

/* The transport's options (ZeroMQ links, frame size): every program that reads or
 * writes frames takes them, handled by sb_cmd_transport_option(). */
#define SB_CMD_TRANSPORT_LONGOPTS                                               \
	{ "max-msg-bytes", required_argument, NULL, SB_OPT_MAX_MSG },           \
	{ "curve-secret", required_argument, NULL, SB_OPT_CURVE_SECRET },       \
	{ "curve-server", required_argument, NULL, SB_OPT_CURVE_SERVER },       \
	{ "curve-allow", required_argument, NULL, SB_OPT_CURVE_ALLOW },         \
	{ "insecure", no_argument, NULL, SB_OPT_INSECURE }

#define SB_CMD_SHORTOPTS "i:o:vh"
#define SB_CMD_LONGOPTS                                                         \
	{ "input", required_argument, NULL, 'i' },                              \
	{ "output", required_argument, NULL, 'o' },                             \
	{ "verbose", no_argument, NULL, 'v' },                                  \
	{ "help", no_argument, NULL, 'h' },                                     \
	{ "progress", no_argument, NULL, SB_OPT_PROGRESS },                     \
	SB_CMD_TRANSPORT_LONGOPTS,                                              \
	{ "worker", required_argument, NULL, SB_OPT_WORKER },                   \
	{ "credits", required_argument, NULL, SB_OPT_CREDITS },                 \
	{ "heartbeat", required_argument, NULL, SB_OPT_HEARTBEAT },             \
	{ "version", no_argument, NULL, SB_OPT_VERSION }

/* Text for usage(): the common options, one per line, indented like the rest. */
#define SB_CMD_COMMON_HELP                                                                  \
	"  -i, --input SPEC        read from SPEC: -, a file, @tcp://*:P, >tcp://host:P (default -)\n" \
	"  -o, --output SPEC       write to SPEC (default -)\n"                                 \
	"  -v, --verbose           print settings and statistics on stderr\n"                   \
	"      --progress          show rows/s on stderr while running (when it is a terminal;\n" \
	"                          with a file as input, also the part read and an ETA)\n"      \
	"      --max-msg-bytes N   refuse frames larger than N bytes (default 2 GiB)\n"         \
	"      --worker ENDPOINT   serve an sb-farm at ENDPOINT instead of -i/-o\n"             \
	"      --credits N         worker: frames the farm may hand it at once (default 2)\n"  \
	"      --heartbeat MS      worker: heartbeat interval (default 1000)\n"                \
	"      --curve-secret FILE, --curve-server FILE, --curve-allow FILE, --insecure\n"     \
	"                          CurveZMQ keys for TCP links; see sb-keygen(1)\n"            \
	"  -h, --help              show this help\n"                                            \
	"      --version           print the version (-v: kernels, libraries, build)\n"

#define SB_CMD_MAX_KV 64

struct sb_cmd {
	const char *prog;
	struct sb_runner_opts ro;
	int verbose;
	int progress;
	const char *worker;
	struct sb_kv kv[SB_CMD_MAX_KV];
	size_t n_kv;
	unsigned credits;               /* --worker: 0 for the default */
	int heartbeat_ms;               /* --worker: 0 for the default */
	int version;                    /* --version given */
	int output_given;               /* -o given (even as "-") */
	const struct option *longopts;  /* the program's options, for messages (sb_cmd_args) */
	unsigned sub;                   /* the subcommand's bit (opts.h); 0: none */
};

/*
 * Takes a transport option (SB_CMD_TRANSPORT_LONGOPTS) into t.  Returns 1 if opt was
 * one, 0 if not, -1 after "prog: --max-msg-bytes: invalid size 'ARG'" (exit 2).
 */
int sb_cmd_transport_option(const char *prog, struct sb_transport_opts *t, int opt,
			    const char *arg);

/* Sets defaults; prog is the program name for messages. */
void sb_cmd_init(struct sb_cmd *c, const char *prog);

/*
 * Handles a common option.  Returns 1 if opt was one, 0 if not (the program handles
 * it), -1 after printing an error for a bad value (exit 2).
 */
int sb_cmd_option(struct sb_cmd *c, int opt, const char *arg);

/*
 * Ends option parsing; call it after the getopt_long() loop, before anything else.
 * --version prints the version (with -v the build's details) and exits.  The
 * n_args arguments left in args are refused, the first one named (the input is read
 * from -i or standard input).  With frames_out, binary frames bound for a terminal
 * are refused: the default output, standard output, when it is one (-o - insists).
 * longopts (may be NULL) lets error messages name the program's options instead of
 * the stages' key=value syntax (sb_cmd_error).  Returns 0, or -1 after a message:
 * exit 2.
 */
int sb_cmd_args(struct sb_cmd *c, int n_args, char *const *args, const struct option *longopts,
		int frames_out);

/* Prints "prog VERSION" on stdout, with verbose the kernel sets, library versions and
 * configure options too.  Returns the exit status: 0, or 1 when stdout failed. */
int sb_cmd_version(const char *prog, int verbose);

/* For programs that take no arguments (or no more than they used): if args[0..n)
 * is not empty, says "prog: unexpected argument 'ARG'" and what (may be NULL) and
 * returns -1 (exit 2); else 0. */
int sb_cmd_no_args(const char *prog, int n_args, char *const *args, const char *what);

/* Refuses binary output (what: "frames", ".npy data") to a terminal: when output
 * is NULL (not given: standard output) and standard output is a terminal, says so and
 * returns -1 (exit 2); else 0.  "-o -" given explicitly writes to the terminal. */
int sb_cmd_no_tty(const char *prog, const char *output, const char *what);

/* Adds a stage option; exits 2 with a message when there are too many. */
void sb_cmd_kv(struct sb_cmd *c, const char *key, const char *value);

/* An option whose only effect is a stage option: key=ARG, or key=value for a flag
 * (the stage checks the value).  Tables end with opt 0. */
struct sb_cmd_pass {
	int opt;                /* getopt_long's value */
	const char *key;
	const char *value;      /* NULL: the option's argument */
};

/* Adds the stage option of opt if table t has it: returns 1, else 0. */
int sb_cmd_pass(struct sb_cmd *c, const struct sb_cmd_pass *t, int opt, const char *arg);

/*
 * Resolves -m MODEL: a folder as is, or a hub id through the Hugging Face cache
 * (downloading when allowed).  Returns a string owned by the cmd module, or NULL
 * after printing an error.
 */
const char *sb_cmd_model(struct sb_cmd *c, const char *model);

/*
 * Runs the stage (or serves a farm in worker mode), with SIGINT/SIGTERM stopping
 * between frames, SIGPIPE turned into a quiet exit, -v statistics and --progress.
 * Returns the exit status: 0, 1 (error printed), or 128+signal when interrupted.
 */
int sb_cmd_run(struct sb_cmd *c, const struct sb_stage *stage);

/* Prints "prog: message" for an error. */
void sb_cmd_error(const struct sb_cmd *c, const struct sb_error *err);

/* Parses a size/count with optional k/M/G suffix; -1 on error. */
int sb_cmd_parse_size(const char *s, size_t *out);

#endif
