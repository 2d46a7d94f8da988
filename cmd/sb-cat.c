/*
 * sb-cat - the frame inspector: prints a frame stream as JSON lines, one tensor as
 * TSV or a .npy file, validates a stream, joins streams (keeping the whole frames of
 * cut ones with --salvage), or builds a stream from .npy or TSV data.  See sb-cat(1).
 *
 * libsb decodes; this program only formats.  Output is produced one whole frame at
 * a time (formatted into a buffer, then written), so a stream that turns bad in its
 * middle leaves the lines of the complete frames before it and no partial line.
 *
 * This file holds the command line and main; cat.h names the files of each mode.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cat.h"
#include "common.h"
#include "tokenizer.h"

static void usage(FILE *fp)
{
	fputs("usage: sb-cat [-f] [-m MODEL] [-i SPEC] [-o FILE] [FILE...]\n"
	      "       sb-cat --tsv NAME [-t] [--unpad] [-m MODEL] [-i SPEC] [-o FILE] [FILE...]\n"
	      "       sb-cat --npy NAME [--dim D] -o FILE.npy [-i SPEC] [FILE...]\n"
	      "       sb-cat -c | -q [-i SPEC] [FILE...]\n"
	      "       sb-cat -F [--salvage] [-i SPEC] [-o SPEC] [FILE...]\n"
	      "       sb-cat --from-npy [NAME=]FILE.npy ... [-k KIND] [-b ROWS] [--text FILE]\n"
	      "              [-m KEY=VALUE]... [-o SPEC]\n"
	      "       sb-cat --from-tsv [NAME=]FILE [-t] [-k KIND] [-b ROWS] [--text FILE]\n"
	      "              [-m KEY=VALUE]... [-o SPEC]\n"
	      "\n"
	      "Prints a stream of sb frames as JSON lines (default), one tensor as TSV or .npy,\n"
	      "validates a stream, or builds one from .npy or TSV data.\n"
	      "\n"
	      "  -i, --input SPEC     read frames from SPEC: - (stdin, default), a file, a ZeroMQ\n"
	      "                       endpoint; file arguments are read one after another\n"
	      "  -o, --output SPEC    write to SPEC instead of stdout\n"
	      "  -f, --full           print every tensor value (default: dtype, shape, min, max,\n"
	      "                       mean and the first 4 values)\n"
	      "  -m, --model MODEL    JSON and TSV: show token ids as MODEL's token strings\n"
	      "      --tsv NAME       print tensor NAME as TSV, one line per row\n"
	      "  -t, --with-text      TSV: the row's text is the first column\n"
	      "      --unpad          TSV: drop the positions where attention_mask is 0\n"
	      "      --npy NAME       write tensor NAME of all frames, joined on axis 0, as .npy\n"
	      "      --dim D          --npy: the width of the (0, D) array of an empty stream\n"
	      "  -c, --check          only validate the stream; print a summary\n"
	      "  -q, --quiet          only validate the stream; the exit status tells\n"
	      "  -F, --frames         write the inputs' frames as one stream (seq renumbered,\n"
	      "                       one end frame): join files, save a socket's stream\n"
	      "      --salvage        -F: keep the whole frames of cut inputs, write a correct\n"
	      "                       end frame and say where to resume\n"
	      "      --from-npy [NAME=]FILE  build frames from a .npy array (repeatable)\n"
	      "      --from-tsv [NAME=]FILE  build frames from TSV lines of numbers\n"
	      "  -k, --kind KIND      kind of the frames built: embeddings (default), tokens,\n"
	      "                       hidden or scores\n"
	      "  -b, --batch ROWS     rows per frame built (default 32)\n"
	      "      --text FILE      attach FILE's lines as the rows' texts\n"
	      "  -m, --meta KEY=VALUE add a meta entry to the frames built\n"
	      "      --max-msg-bytes N   refuse frames larger than N bytes (default 2G)\n"
	      "      --timeout SECONDS   ZeroMQ: give up waiting for a frame (default: never)\n"
	      "      --curve-secret FILE, --curve-server FILE, --curve-allow FILE, --insecure\n"
	      "                       ZeroMQ security, as for every sb program (see sb(7))\n"
	      "  -h, --help           show this help\n"
	      "      --version        print the version; with -v the kernels, libraries, build\n",
	      fp);
}

void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	exit(2);
}

/* ------------------------------------------------------------------ main */

/* Splits "NAME=FILE" (NAME optional). */
static void split_named(const char *arg, enum sb_kind kind, const char **name, const char **path)
{
	const char *eq = strchr(arg, '=');
	static char names[SB_FRAME_MAX_TENSORS][SB_FRAME_NAME_MAX];
	static size_t n_names;

	if (!eq || eq == arg || memchr(arg, '/', (size_t)(eq - arg))) {
		*name = NULL;   /* filled in once --kind is known */
		*path = arg;
		return;
	}
	if ((size_t)(eq - arg) >= SB_FRAME_NAME_MAX || n_names == SB_FRAME_MAX_TENSORS)
		bad_usage("'%s': tensor name too long", arg);
	memcpy(names[n_names], arg, (size_t)(eq - arg));
	names[n_names][eq - arg] = '\0';
	*name = names[n_names++];
	*path = eq + 1;
	(void)kind;
}

static size_t parse_batch(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || s[0] == '-' || v == 0 || v > (1ULL << 24))
		bad_usage("--batch '%s': expected rows per frame, 1 to %llu", s, 1ULL << 24);
	return (size_t)v;
}

static void set_mode(struct opts *o, enum mode m, const char *flag)
{
	if (o->mode != M_JSON && o->mode != m)
		bad_usage("%s cannot be combined with another mode", flag);
	o->mode = m;
}

enum {
	O_TSV = SB_OPT_FIRST_PRIVATE, O_NPY, O_FROM_NPY, O_FROM_TSV, O_TEXT, O_UNPAD,
	O_TIMEOUT, O_SALVAGE, O_MODEL, O_DIM
};

static const struct option longopts[] = {
	{ "input", required_argument, NULL, 'i' },
	{ "output", required_argument, NULL, 'o' },
	{ "full", no_argument, NULL, 'f' },
	{ "tsv", required_argument, NULL, O_TSV },
	{ "with-text", no_argument, NULL, 't' },
	{ "unpad", no_argument, NULL, O_UNPAD },
	{ "npy", required_argument, NULL, O_NPY },
	{ "check", no_argument, NULL, 'c' },
	{ "frames", no_argument, NULL, 'F' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "from-npy", required_argument, NULL, O_FROM_NPY },
	{ "from-tsv", required_argument, NULL, O_FROM_TSV },
	{ "kind", required_argument, NULL, 'k' },
	{ "batch", required_argument, NULL, 'b' },
	{ "text", required_argument, NULL, O_TEXT },
	{ "meta", required_argument, NULL, 'm' },
	{ "help", no_argument, NULL, 'h' },
	SB_CMD_TRANSPORT_LONGOPTS,
	{ "version", no_argument, NULL, SB_OPT_VERSION },
	{ "verbose", no_argument, NULL, 'v' },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "salvage", no_argument, NULL, O_SALVAGE },
	{ "model", required_argument, NULL, O_MODEL },
	{ "dim", required_argument, NULL, O_DIM },
	{ NULL, 0, NULL, 0 }
};

/* What the command line says beyond struct opts. */
struct cli {
	int kind_set, version, verbose;
};

/* --dim N: a width of 1 to 2^31. */
static size_t parse_dim(const char *arg)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || *end || arg[0] == '-' || v == 0 || v > (1ULL << 31))
		bad_usage("--dim '%s': expected a width, 1 to %llu", arg, 1ULL << 31);
	return (size_t)v;
}

/* --timeout SECONDS: 0 (none) is -1 ms. */
static int parse_timeout(const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || *end || end == arg || v < 0 || v > INT_MAX / 1000)
		bad_usage("--timeout '%s': expected seconds", arg);
	return v ? (int)v * 1000 : -1;
}

/* The options that build frames (--from-npy, --from-tsv and their settings). */
static void parse_build_option(struct opts *o, struct cli *s, int c, const char *arg)
{
	switch (c) {
	case O_FROM_NPY:
		set_mode(o, M_FROM_NPY, "--from-npy");
		if (o->n_npy == SB_FRAME_MAX_TENSORS)
			bad_usage("more than %d --from-npy arrays", SB_FRAME_MAX_TENSORS);
		split_named(arg, o->kind, &o->npy[o->n_npy].name, &o->npy[o->n_npy].path);
		o->n_npy++;
		break;
	case O_FROM_TSV:
		if (o->from_tsv)
			bad_usage("--from-tsv given twice");
		set_mode(o, M_FROM_TSV, "--from-tsv");
		split_named(arg, o->kind, &o->from_tsv_name, &o->from_tsv);
		break;
	case 'k':
		if (sb_kind_parse(arg, strlen(arg), &o->kind) != SB_OK || o->kind == SB_KIND_END ||
		    o->kind == SB_KIND_TEXT)
			bad_usage("--kind '%s': expected embeddings, tokens, hidden or scores",
				  arg);
		s->kind_set = 1;
		break;
	case 'b': o->batch = parse_batch(arg); break;
	case O_TEXT: o->text_file = arg; break;
	case 'm':
		if (o->n_meta == SB_FRAME_MAX_META)
			bad_usage("more than %d --meta entries", SB_FRAME_MAX_META);
		o->meta[o->n_meta++] = arg;
		break;
	}
}

/* The transport options: --max-msg-bytes, the CurveZMQ keys, --timeout. */
static void parse_link_option(struct opts *o, int c, const char *arg)
{
	if (c == O_TIMEOUT) {
		o->topts.timeout_ms = parse_timeout(arg);
	} else if (sb_cmd_transport_option(PROG, &o->topts, c, arg) < 0) {
		usage(stderr);
		exit(2);
	}
}

/* One option: -1 when taken, else the exit status (--help, an unknown option). */
static int parse_option(struct opts *o, struct cli *s, int c, const char *arg)
{
	switch (c) {
	case 'i':
		if (o->n_inputs == MAX_INPUTS)
			bad_usage("more than %d inputs", MAX_INPUTS);
		o->inputs[o->n_inputs++] = arg;
		break;
	case 'o': o->output = arg; break;
	case 'f': o->full = 1; break;
	case 't': o->with_text = 1; break;
	case O_UNPAD: o->unpad = 1; break;
	case O_TSV: set_mode(o, M_TSV, "--tsv"); o->tensor = arg; break;
	case O_NPY: set_mode(o, M_NPY, "--npy"); o->tensor = arg; break;
	case 'c': set_mode(o, M_CHECK, "--check"); break;
	case 'F': set_mode(o, M_FRAMES, "--frames"); break;
	case O_SALVAGE: set_mode(o, M_FRAMES, "--salvage"); o->salvage = 1; break;
	case O_MODEL: o->model = arg; break;
	case O_DIM: o->dim = parse_dim(arg); break;
	case 'q': set_mode(o, M_CHECK, "--quiet"); o->quiet = 1; break;
	case O_FROM_NPY: case O_FROM_TSV: case 'k': case 'b': case O_TEXT: case 'm':
		parse_build_option(o, s, c, arg);
		break;
	case SB_OPT_MAX_MSG: case SB_OPT_CURVE_SECRET: case SB_OPT_CURVE_SERVER:
	case SB_OPT_CURVE_ALLOW: case SB_OPT_INSECURE: case O_TIMEOUT:
		parse_link_option(o, c, arg);
		break;
	case 'h':
		usage(stdout);
		return fflush(stdout) == 0 ? 0 : 1;
	case SB_OPT_VERSION: s->version = 1; break;
	case 'v': s->verbose = 1; break;
	default:
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Building frames: no frame inputs, no reading options. */
static void check_building(const struct opts *o, int argc, char **argv, int first_arg)
{
	if (first_arg < argc)
		bad_usage("unexpected argument '%s': --from-npy and --from-tsv take no frame "
			  "inputs", argv[first_arg]);
	if (o->n_inputs)
		bad_usage("--from-npy and --from-tsv take no frame inputs");
	if (o->full || o->unpad)
		bad_usage("--full and --unpad apply to reading frames");
	if (o->mode == M_FROM_NPY && o->with_text)
		bad_usage("-t applies to --tsv and --from-tsv; use --text FILE");
}

/* Reading frames: no building options, each option with its output. */
static void check_reading(struct opts *o, const struct cli *s)
{
	if (s->kind_set || o->text_file || o->n_meta || o->batch != 32)
		bad_usage("--kind, --batch, --text and --meta apply to --from-npy and --from-tsv");
	if ((o->with_text || o->unpad) && o->mode != M_TSV)
		bad_usage("-t and --unpad apply to --tsv");
	if (o->full && o->mode != M_JSON)
		bad_usage("--full applies to the JSON output");
	if (o->mode == M_CHECK && o->output)
		bad_usage("--check and --quiet write no output");
	if (o->n_inputs == 0)
		o->inputs[o->n_inputs++] = "-";
}

/* The options that depend on the mode, and the output.  -1 to go on, else 2. */
static int check_options(struct opts *o, const struct cli *s, int argc, char **argv,
			 int first_arg)
{
	/* -m is --meta KEY=VALUE when building frames and --model MODEL when reading them. */
	if (o->mode != M_FROM_NPY && o->mode != M_FROM_TSV && o->n_meta) {
		if (o->n_meta > 1 || o->model)
			bad_usage("-m MODEL given twice");
		o->model = o->meta[0];
		o->n_meta = 0;
	}
	if (o->model && o->mode != M_JSON && o->mode != M_TSV)
		bad_usage("-m MODEL (token strings) applies to the JSON and --tsv outputs");
	if (o->dim && o->mode != M_NPY)
		bad_usage("--dim applies to --npy");
	if (o->mode == M_FROM_NPY || o->mode == M_FROM_TSV)
		check_building(o, argc, argv, first_arg);
	else
		check_reading(o, s);
	if (o->output && strcmp(o->output, "-") != 0)
		out_name = o->output;
	/* Text and .npy go to files; only frames travel over ZeroMQ. */
	if ((o->mode == M_JSON || o->mode == M_TSV || o->mode == M_NPY) && o->output &&
	    (o->output[0] == '@' || o->output[0] == '>' || strstr(o->output, "://")))
		bad_usage("-o '%s': a ZeroMQ endpoint takes frames (-F, --from-npy, --from-tsv), "
			  "not text or .npy", o->output);
	/* As every program writing frames (cmd/common.c): -o - insists. */
	if ((o->mode == M_NPY || o->mode == M_FRAMES || o->mode == M_FROM_NPY ||
	     o->mode == M_FROM_TSV) &&
	    sb_cmd_no_tty(PROG, o->output, o->mode == M_NPY ? ".npy data" : "frames"))
		return 2;
	return -1;
}

/* -m MODEL: the tokenizer that names token ids.  0, or 1 when the model is not found. */
static int open_model(const struct opts *o)
{
	struct sb_tokenizer_opts topt;
	struct sb_error err;
	struct sb_cmd cmd;
	const char *dir;

	sb_cmd_init(&cmd, PROG);
	dir = sb_cmd_model(&cmd, o->model);
	if (!dir)
		return 1;
	sb_tokenizer_opts_init(&topt);
	if (sb_tokenizer_open(&tok, dir, &topt, &err) != SB_OK)
		die("%s: %s", o->model, err.msg);
	tok_name = o->model;
	snprintf(tok_fingerprint, sizeof tok_fingerprint, "%016llx",
		 (unsigned long long)sb_tokenizer_info(tok)->fingerprint);
	return 0;
}

int main(int argc, char **argv)
{
	static struct opts o;
	struct cli s = { 0 };
	int c, rc, first_arg;

	o.kind = SB_KIND_EMBEDDINGS;
	o.batch = 32;
	o.topts.timeout_ms = -1;
	sb_zmq_init();
	while ((c = getopt_long(argc, argv, "i:o:ftcFqk:b:m:hv", longopts, NULL)) != -1)
		if ((rc = parse_option(&o, &s, c, optarg)) >= 0)
			return rc;
	if (s.version)
		return sb_cmd_version(PROG, s.verbose);
	first_arg = optind;
	for (; optind < argc; optind++) {
		if (o.n_inputs == MAX_INPUTS)
			bad_usage("more than %d inputs", MAX_INPUTS);
		o.inputs[o.n_inputs++] = argv[optind];
	}
	if ((rc = check_options(&o, &s, argc, argv, first_arg)) >= 0)
		return rc;
	if (o.model && open_model(&o))
		return 1;
	/* A closed output pipe is seen as EPIPE and ends the run quietly, instead of a
	 * signal killing us half-way through a write. */
	signal(SIGPIPE, SIG_IGN);
	switch (o.mode) {
	case M_FROM_NPY: run_from_npy(&o); break;
	case M_FROM_TSV: run_from_tsv(&o); break;
	default: run_reader(&o); break;
	}
	sb_tokenizer_close(&tok);
	return 0;
}
