/*
 * common.c - option handling, signals, progress and statistics for sb programs.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "farm.h"
#include "hub.h"
#include "transport.h"

static volatile int stop_flag;
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_flag = 1;
	stop_signal = sig;
}

void sb_cmd_init(struct sb_cmd *c, const char *prog)
{
	const char *slash = strrchr(prog, '/');

	memset(c, 0, sizeof *c);
	c->prog = slash ? slash + 1 : prog;
	sb_runner_opts_init(&c->ro);
	c->ro.stop = &stop_flag;
	c->ro.topts.stop = &stop_flag;
	c->ro.topts.timeout_ms = -1;
	c->credits = 0;
	c->heartbeat_ms = 0;
	/* Every program takes ZeroMQ endpoints for -i / -o. */
	sb_zmq_init();
}

int sb_cmd_parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;
	size_t mul = 1;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mul = (size_t)1 << 10; end++; break;
	case 'M': mul = (size_t)1 << 20; end++; break;
	case 'G': mul = (size_t)1 << 30; end++; break;
	default: return -1;
	}
	if (*end || (v && mul > SIZE_MAX / v))
		return -1;
	*out = (size_t)v * mul;
	return 0;
}

int sb_cmd_option(struct sb_cmd *c, int opt, const char *arg)
{
	size_t v;

	switch (opt) {
	case 'i': c->ro.input = arg; return 1;
	case 'o': c->ro.output = arg; return 1;
	case 'v': c->verbose++; return 1;
	case SB_OPT_PROGRESS: c->progress = 1; return 1;
	case SB_OPT_WORKER: c->worker = arg; return 1;
	case SB_OPT_CURVE_SECRET: c->curve_secret = arg; return 1;
	case SB_OPT_CURVE_SERVER: c->curve_server = arg; return 1;
	case SB_OPT_CURVE_ALLOW: c->curve_allow = arg; return 1;
	case SB_OPT_INSECURE: c->insecure = 1; return 1;
	case SB_OPT_CREDITS:
		if (sb_cmd_parse_size(arg, &v) < 0 || v == 0 || v > 1024) {
			fprintf(stderr, "%s: --credits: expected 1 to 1024, got '%s'\n", c->prog, arg);
			return -1;
		}
		c->credits = (unsigned)v;
		return 1;
	case SB_OPT_HEARTBEAT:
		if (sb_cmd_parse_size(arg, &v) < 0 || v < 10 || v > 600000) {
			fprintf(stderr, "%s: --heartbeat: expected 10 to 600000 ms, got '%s'\n",
				c->prog, arg);
			return -1;
		}
		c->heartbeat_ms = (int)v;
		return 1;
	case SB_OPT_MAX_MSG:
		if (sb_cmd_parse_size(arg, &c->ro.topts.max_msg_bytes) < 0 ||
		    c->ro.topts.max_msg_bytes == 0) {
			fprintf(stderr, "%s: --max-msg-bytes: invalid size '%s'\n", c->prog, arg);
			return -1;
		}
		return 1;
	default:
		return 0;
	}
}

void sb_cmd_kv(struct sb_cmd *c, const char *key, const char *value)
{
	if (c->n_kv >= SB_CMD_MAX_KV) {
		fprintf(stderr, "%s: too many options\n", c->prog);
		exit(2);
	}
	c->kv[c->n_kv].key = key;
	c->kv[c->n_kv].value = value;
	c->n_kv++;
}

static char *model_dir;

static void free_model_dir(void)
{
	free(model_dir);
	model_dir = NULL;
}

static void on_fetch(void *ctx, const char *path, uint64_t done, uint64_t total)
{
	const struct sb_cmd *c = ctx;

	if (done == 0 || done == total)
		fprintf(stderr, "%s: %s %s (%llu bytes)\n", c->prog,
			done == 0 ? "downloading" : "downloaded", path,
			(unsigned long long)total);
}

const char *sb_cmd_model(struct sb_cmd *c, const char *model)
{
	struct sb_hub_env env;
	struct sb_error err;

	sb_hub_env_from(&env, getenv);
	if (c->verbose) {
		env.progress = on_fetch;
		env.progress_ctx = c;
	}
	free_model_dir();
	if (sb_hub_resolve(model, &env, &model_dir, &err)) {
		sb_cmd_error(c, &err);
		return NULL;
	}
	atexit(free_model_dir);
	if (c->verbose && strcmp(model_dir, model) != 0)
		fprintf(stderr, "%s: model %s: %s\n", c->prog, model, model_dir);
	return model_dir;
}

void sb_cmd_error(const struct sb_cmd *c, const struct sb_error *err)
{
	fprintf(stderr, "%s: %s\n", c->prog, err->msg[0] ? err->msg : sb_strerror(err->code));
}

static void human(double v, char *buf, size_t n)
{
	const char *u[] = { "", "k", "M", "G", "T" };
	int i = 0;

	while (v >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	snprintf(buf, n, i ? "%.1f%s" : "%.0f%s", v, u[i]);
}

/* --progress: bytes the input holds when it is a regular file (read from where it
 * stands), 0 when unknown (a pipe, a socket). */
static uint64_t progress_total;

static uint64_t input_size(const char *spec)
{
	struct stat sb;
	off_t at = 0;

	if (!spec || strcmp(spec, "-") == 0) {
		if (fstat(STDIN_FILENO, &sb) != 0 || !S_ISREG(sb.st_mode))
			return 0;
		at = lseek(STDIN_FILENO, 0, SEEK_CUR);
	} else if (spec[0] == '@' || spec[0] == '>' || strstr(spec, "://") ||
		   stat(spec, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		return 0;
	}
	return at >= 0 && sb.st_size > at ? (uint64_t)(sb.st_size - at) : 0;
}

static void on_progress(const struct sb_stats *st, int final, void *ctx)
{
	const struct sb_cmd *c = ctx;
	char rows[32], rate[32], bytes[32], total[32];
	double secs = st->seconds_total > 0 ? st->seconds_total : 1e-9;

	human((double)st->rows_in, rows, sizeof rows);
	human((double)st->rows_in / secs, rate, sizeof rate);
	human((double)st->bytes_in, bytes, sizeof bytes);
	/* \r and erase-line keep it on one terminal line, as pv does. */
	fprintf(stderr, "\r\033[K%s: %s rows  %s rows/s  %sB", c->prog, rows, rate, bytes);
	if (progress_total) {
		/* The part of the input read so far tells how long the rest will take. */
		double part = (double)st->bytes_in / (double)progress_total;

		human((double)progress_total, total, sizeof total);
		fprintf(stderr, " of %sB (%.0f%%)  %.1f s", total, 100 * (part < 1 ? part : 1),
			st->seconds_total);
		if (!final && part > 0 && part < 1) {
			double eta = st->seconds_total * (1 - part) / part;
			unsigned long e = eta < 1e9 ? (unsigned long)(eta + 0.5) : 999999999UL;

			if (e < 60)
				fprintf(stderr, "  ETA %lu s", e);
			else
				fprintf(stderr, "  ETA %lu min %02lu s", e / 60, e % 60);
		}
	} else {
		fprintf(stderr, " in  %.1f s", st->seconds_total);
	}
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}

static void print_stats(const struct sb_cmd *c, const struct sb_stats *st)
{
	double secs = st->seconds_total > 0 ? st->seconds_total : 1e-9;

	fprintf(stderr,
		"%s: in: %llu frames, %llu rows, %llu bytes; out: %llu frames, %llu rows, "
		"%llu bytes; %.3f s (%.3f s in the stage), %.1f rows/s\n",
		c->prog, (unsigned long long)st->frames_in, (unsigned long long)st->rows_in,
		(unsigned long long)st->bytes_in, (unsigned long long)st->frames_out,
		(unsigned long long)st->rows_out, (unsigned long long)st->bytes_out,
		st->seconds_total, st->seconds_process, (double)st->rows_in / secs);
}

static int run_worker(struct sb_cmd *c, const struct sb_stage *stage, struct sb_stats *st,
		      struct sb_error *err)
{
	struct sb_worker_opts wo;

	sb_worker_opts_init(&wo);
	wo.connect = c->worker;
	wo.topts = c->ro.topts;
	wo.stop = &stop_flag;
	if (c->credits)
		wo.credits = c->credits;
	if (c->heartbeat_ms)
		wo.heartbeat_ms = c->heartbeat_ms;
	return sb_worker_run(stage, c->kv, c->n_kv, &wo, st, err);
}

int sb_cmd_run(struct sb_cmd *c, const struct sb_stage *stage)
{
	struct sigaction sa;
	struct sb_stats st;
	struct sb_error err;
	int rc;

	/* No SA_RESTART: a blocked read returns EINTR so the run stops between frames. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sb_error_clear(&err);
	memset(&st, 0, sizeof st);
	c->ro.topts.curve_secret = c->curve_secret;
	c->ro.topts.curve_server = c->curve_server;
	c->ro.topts.allow_file = c->curve_allow;
	c->ro.topts.insecure = c->insecure;
	if (c->progress && isatty(2)) {
		c->ro.progress = on_progress;
		c->ro.progress_ctx = c;
		progress_total = c->worker ? 0 : input_size(c->ro.input);
	}
	if (c->worker)
		rc = run_worker(c, stage, &st, &err);
	else
		rc = sb_run(stage, c->kv, c->n_kv, &c->ro, &st, &err);
	if (c->verbose)
		print_stats(c, &st);
	if (rc == SB_EPIPE) {
		/* The reader went away (`| head`): end quietly, as a killed writer would. */
		signal(SIGPIPE, SIG_DFL);
		raise(SIGPIPE);
		return 141;
	}
	if (rc == SB_EINTR && stop_signal) {
		fprintf(stderr, "%s: interrupted by signal %d after %llu rows; output holds whole "
			"frames only, without an end frame\n", c->prog, (int)stop_signal,
			(unsigned long long)st.rows_out);
		return 128 + stop_signal;
	}
	if (rc) {
		sb_cmd_error(c, &err);
		return 1;
	}
	return 0;
}
