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
	SB_OPT_FIRST_PRIVATE = 0x1100     /* programs number their own long options from here */
};

#define SB_CMD_SHORTOPTS "i:o:vh"
#define SB_CMD_LONGOPTS                                                         \
	{ "input", required_argument, NULL, 'i' },                              \
	{ "output", required_argument, NULL, 'o' },                             \
	{ "verbose", no_argument, NULL, 'v' },                                  \
	{ "help", no_argument, NULL, 'h' },                                     \
	{ "progress", no_argument, NULL, SB_OPT_PROGRESS },                     \
	{ "max-msg-bytes", required_argument, NULL, SB_OPT_MAX_MSG },           \
	{ "worker", required_argument, NULL, SB_OPT_WORKER },                   \
	{ "curve-secret", required_argument, NULL, SB_OPT_CURVE_SECRET },       \
	{ "curve-server", required_argument, NULL, SB_OPT_CURVE_SERVER },       \
	{ "curve-allow", required_argument, NULL, SB_OPT_CURVE_ALLOW },         \
	{ "insecure", no_argument, NULL, SB_OPT_INSECURE },                     \
	{ "credits", required_argument, NULL, SB_OPT_CREDITS },                 \
	{ "heartbeat", required_argument, NULL, SB_OPT_HEARTBEAT }

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
	"  -h, --help              show this help\n"

#define SB_CMD_MAX_KV 64

struct sb_cmd {
	const char *prog;
	struct sb_runner_opts ro;
	int verbose;
	int progress;
	const char *worker;
	struct sb_kv kv[SB_CMD_MAX_KV];
	size_t n_kv;
	const char *curve_secret, *curve_server, *curve_allow;
	int insecure;
	unsigned credits;               /* --worker: 0 for the default */
	int heartbeat_ms;               /* --worker: 0 for the default */
};

/* Sets defaults; prog is the program name for messages. */
void sb_cmd_init(struct sb_cmd *c, const char *prog);

/*
 * Handles a common option.  Returns 1 if opt was one, 0 if not (the program handles
 * it), -1 after printing an error for a bad value (exit 2).
 */
int sb_cmd_option(struct sb_cmd *c, int opt, const char *arg);

/* Adds a stage option; exits 2 with a message when there are too many. */
void sb_cmd_kv(struct sb_cmd *c, const char *key, const char *value);

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
