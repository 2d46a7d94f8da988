/*
 * sb-farm - a filter in a local pipe that hands every frame to remote workers and
 * writes their results in order.
 *
 *     sb-tokenize -m M < text | sb-farm --bind tcp://0.0.0.0:5555 --insecure | sb-pool -m M
 *     sb-encode -m M --worker '>tcp://head:5555' --insecure      (on each worker host)
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "farm.h"

enum {
	OPT_BIND = SB_OPT_FIRST_PRIVATE,
	OPT_HEARTBEAT,
	OPT_LIVENESS,
	OPT_WORKER_TIMEOUT,
	OPT_MAX_CREDITS,
	OPT_MAX_INFLIGHT
};

static volatile int stop_flag;
static volatile sig_atomic_t stop_signal;
static int verbose;

static void on_signal(int sig)
{
	stop_flag = 1;
	stop_signal = sig;
}

static void usage(FILE *fp, const char *prog)
{
	fprintf(fp,
		"usage: %s --bind ENDPOINT [options]\n"
		"Hand the frames of the input to workers (any sb stage run with --worker) and\n"
		"write their results in order.\n\n"
		"  -b, --bind ENDPOINT     where workers connect, e.g. tcp://0.0.0.0:5555\n"
		"  -i, --input SPEC        read frames from SPEC (default -)\n"
		"  -o, --output SPEC       write frames to SPEC (default -)\n"
		"      --heartbeat-ms N    heartbeat interval in ms (default 1000; --heartbeat too)\n"
		"      --liveness N        heartbeats missed before a worker is dead (default 3)\n"
		"      --worker-timeout S  fail after S seconds with work and no worker (default 30)\n"
		"      --max-credits N     frames one worker may hold (default 16)\n"
		"      --max-inflight N    frames held in total (default 256)\n"
		"      --curve-secret KEY  CurveZMQ secret key file (from sb-keygen)\n"
		"      --curve-allow FILE  public keys of the workers allowed in\n"
		"      --curve-server KEY  server public key, for -i/-o endpoints that connect\n"
		"      --insecure          allow plain text TCP on non-loopback addresses\n"
		"      --max-msg-bytes N   refuse messages larger than N bytes (default 2G)\n"
		"  -v, --verbose           report workers joining and leaving, and statistics\n"
		"  -h, --help              show this help\n"
		"      --version           print the version (-v: kernels, libraries, build)\n",
		prog);
}

/* Warnings (a worker refused, a handshake failed) always; progress under -v. */
static void on_event(void *ctx, int level, const char *line)
{
	if (level == SB_EVENT_WARN || verbose)
		fprintf(stderr, "%s: %s\n", (const char *)ctx, line);
}

static int parse_int(const char *prog, const char *opt, const char *arg, long lo, long hi,
		     long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < lo || v > hi) {
		fprintf(stderr, "%s: %s: expected an integer in [%ld, %ld], got '%s'\n", prog, opt,
			lo, hi, arg);
		return -1;
	}
	*out = v;
	return 0;
}

static const struct option longopts[] = {
	{ "bind", required_argument, NULL, 'b' },
	{ "input", required_argument, NULL, 'i' },
	{ "output", required_argument, NULL, 'o' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT },
	{ "heartbeat", required_argument, NULL, OPT_HEARTBEAT },
	{ "liveness", required_argument, NULL, OPT_LIVENESS },
	{ "worker-timeout", required_argument, NULL, OPT_WORKER_TIMEOUT },
	{ "max-credits", required_argument, NULL, OPT_MAX_CREDITS },
	{ "max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT },
	SB_CMD_TRANSPORT_LONGOPTS,
	{ "version", no_argument, NULL, SB_OPT_VERSION },
	{ NULL, 0, NULL, 0 }
};

/* The integer options: their flag and bounds. */
static const struct {
	int opt;
	const char *flag;
	long lo, hi;
} int_opts[] = {
	{ OPT_HEARTBEAT, "--heartbeat-ms", 10, 600000 },
	{ OPT_LIVENESS, "--liveness", 1, 1000 },
	{ OPT_MAX_CREDITS, "--max-credits", 1, 4096 },
	{ OPT_MAX_INFLIGHT, "--max-inflight", 1, 1 << 20 },
};

/* An integer option into o: 1 when opt is one, 0 when not, -1 after a message. */
static int parse_int_option(const char *prog, struct sb_farm_opts *o, int opt, const char *arg)
{
	long v;

	for (size_t i = 0; i < sizeof(int_opts) / sizeof(int_opts[0]); i++) {
		if (int_opts[i].opt != opt)
			continue;
		if (parse_int(prog, int_opts[i].flag, arg, int_opts[i].lo, int_opts[i].hi, &v) < 0)
			return -1;
		if (opt == OPT_HEARTBEAT)
			o->heartbeat_ms = (int)v;
		else if (opt == OPT_LIVENESS)
			o->liveness = (int)v;
		else if (opt == OPT_MAX_CREDITS)
			o->max_credits = (unsigned)v;
		else
			o->max_inflight = (unsigned)v;
		return 1;
	}
	return 0;
}

/* --worker-timeout SECONDS into o.  0, or -1 after a message. */
static int parse_worker_timeout(const char *prog, struct sb_farm_opts *o, const char *arg)
{
	char *end;
	double s;

	errno = 0;
	s = strtod(arg, &end);
	if (errno || end == arg || *end || !(s >= 0 && s <= 1e6)) {
		fprintf(stderr, "%s: --worker-timeout: expected seconds, got '%s'\n", prog,
			arg);
		return -1;
	}
	o->worker_timeout_ms = (int)(s * 1000);
	return 0;
}

/* What the command line says beyond struct sb_farm_opts. */
struct args {
	const char *prog;
	int version, output_given;
};

/* One option: -1 when taken, else the exit status (--help, a bad option). */
static int parse_option(struct args *a, struct sb_farm_opts *o, int opt, const char *arg)
{
	int rc = parse_int_option(a->prog, o, opt, arg);

	if (!rc)
		rc = sb_cmd_transport_option(a->prog, &o->topts, opt, arg);
	if (rc)
		return rc < 0 ? 2 : -1;
	switch (opt) {
	case 'b': o->bind = arg; break;
	case 'i': o->input = arg; break;
	case 'o': o->output = arg; a->output_given = 1; break;
	case SB_OPT_VERSION: a->version = 1; break;
	case 'v': verbose++; break;
	case 'h': usage(stdout, a->prog); return 0;
	case OPT_WORKER_TIMEOUT:
		return parse_worker_timeout(a->prog, o, arg) < 0 ? 2 : -1;
	default:
		usage(stderr, a->prog);
		return 2;
	}
	return -1;
}

/* The command line into a and o: -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct args *a, struct sb_farm_opts *o)
{
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "b:i:o:vh", longopts, NULL)) != -1)
		if ((rc = parse_option(a, o, opt, optarg)) >= 0)
			return rc;
	if (a->version)
		return sb_cmd_version(a->prog, verbose);
	if (sb_cmd_no_args(a->prog, argc - optind, argv + optind,
			   "(input is read from -i or standard input)"))
		return 2;
	if (optind != argc || o->bind == NULL) {
		if (o->bind == NULL)
			fprintf(stderr, "%s: --bind ENDPOINT is required\n", a->prog);
		usage(stderr, a->prog);
		return 2;
	}
	if (sb_cmd_no_tty(a->prog, a->output_given ? o->output : NULL, "frames"))
		return 2;
	return -1;
}

/* -v: each worker's share, and the farm's counts. */
static void print_stats(const char *prog, const struct sb_farm_stats *st)
{
	for (size_t i = 0; i < st->n_workers; i++)
		fprintf(stderr, "%s: worker %s: %llu frames done, %llu taken back, %u credits, "
			"at most %u in flight%s\n", prog, st->workers[i].name,
			(unsigned long long)st->workers[i].frames,
			(unsigned long long)st->workers[i].lost, st->workers[i].credits,
			st->workers[i].max_inflight, st->workers[i].refused ? " (refused)"
			: st->workers[i].alive ? "" : " (gone)");
	fprintf(stderr,
		"%s: in: %llu frames, %llu rows; out: %llu frames, %llu rows; re-sent: "
		"%llu (%llu from lost workers, %llu behind a slow one); duplicates "
		"dropped: %llu; stale: %llu; most held: %llu; %.3f s\n",
		prog, (unsigned long long)st->frames_in, (unsigned long long)st->rows_in,
		(unsigned long long)st->frames_out, (unsigned long long)st->rows_out,
		(unsigned long long)(st->resent + st->hedged), (unsigned long long)st->resent,
		(unsigned long long)st->hedged, (unsigned long long)st->duplicates,
		(unsigned long long)st->stale, (unsigned long long)st->max_held, st->seconds);
}

/* The exit status of a run that returned rc. */
static int exit_status(const char *prog, int rc, const struct sb_error *err)
{
	if (rc == SB_EPIPE)
		return 141;
	if (rc == SB_EINTR && stop_signal) {
		fprintf(stderr, "%s: interrupted by signal %d; output holds whole frames only, "
			"without an end frame\n", prog, (int)stop_signal);
		return 128 + stop_signal;
	}
	if (rc != SB_OK) {
		fprintf(stderr, "%s: %s\n", prog, err->msg[0] ? err->msg : sb_strerror(rc));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *slash = strrchr(argv[0], '/');
	struct args a = { .prog = slash ? slash + 1 : argv[0] };
	struct sb_farm_opts o;
	struct sb_farm_stats st;
	struct sb_error err;
	struct sigaction sa;
	int rc;

	sb_farm_opts_init(&o);
	o.topts.stop = &stop_flag;
	o.stop = &stop_flag;
	if ((rc = parse(argc, argv, &a, &o)) >= 0)
		return rc;
	sb_zmq_init();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	o.topts.event = on_event;
	o.topts.event_ctx = (void *)a.prog;
	sb_error_clear(&err);
	rc = sb_farm_run(&o, &st, &err);
	if (verbose)
		print_stats(a.prog, &st);
	sb_farm_stats_destroy(&st);
	return exit_status(a.prog, rc, &err);
}
