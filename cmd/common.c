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
#include "internal.h"
#include "transport.h"
#include "version.h"

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

int sb_cmd_transport_option(const char *prog, struct sb_transport_opts *t, int opt,
			    const char *arg)
{
	switch (opt) {
	case SB_OPT_CURVE_SECRET: t->curve_secret = arg; return 1;
	case SB_OPT_CURVE_SERVER: t->curve_server = arg; return 1;
	case SB_OPT_CURVE_ALLOW: t->allow_file = arg; return 1;
	case SB_OPT_INSECURE: t->insecure = 1; return 1;
	case SB_OPT_MAX_MSG:
		if (sb_cmd_parse_size(arg, &t->max_msg_bytes) < 0 || t->max_msg_bytes == 0) {
			fprintf(stderr, "%s: --max-msg-bytes: invalid size '%s'\n", prog, arg);
			return -1;
		}
		return 1;
	default:
		return 0;
	}
}

int sb_cmd_option(struct sb_cmd *c, int opt, const char *arg)
{
	size_t v;
	int rc = sb_cmd_transport_option(c->prog, &c->ro.topts, opt, arg);

	if (rc)
		return rc;
	switch (opt) {
	case 'i': c->ro.input = arg; return 1;
	case 'o': c->ro.output = arg; c->output_given = 1; return 1;
	case 'v': c->verbose++; return 1;
	case SB_OPT_PROGRESS: c->progress = 1; return 1;
	case SB_OPT_WORKER: c->worker = arg; return 1;
	case SB_OPT_VERSION: c->version = 1; return 1;
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

int sb_cmd_pass(struct sb_cmd *c, const struct sb_cmd_pass *t, int opt, const char *arg)
{
	for (; t->opt; t++)
		if (t->opt == opt) {
			sb_cmd_kv(c, t->key, t->value ? t->value : arg);
			return 1;
		}
	return 0;
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

/* ---- messages in the program's option names ---- */

struct out {
	char *p;
	size_t n, cap;          /* cap >= 1; p[n] is always '\0' */
};

static void out_add(struct out *o, const char *s, size_t k)
{
	if (k > o->cap - 1 - o->n)
		k = o->cap - 1 - o->n;
	memcpy(o->p + o->n, s, k);
	o->n += k;
	o->p[o->n] = '\0';
}

static int word_char(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '-' || ch == '.' || ch == '/';
}

/* The long option named prefix + key[0..n), a key's underscores matching dashes. */
static const struct option *long_option(const struct option *lo, const char *prefix,
					const char *key, size_t n)
{
	size_t np = strlen(prefix);

	for (; lo && lo->name; lo++) {
		const char *name = lo->name;
		size_t k;

		if (strlen(name) != np + n || strncmp(name, prefix, np) != 0)
			continue;
		for (k = 0; k < n; k++)
			if (name[np + k] != key[k] && !(key[k] == '_' && name[np + k] == '-'))
				break;
		if (k == n)
			return lo;
	}
	return NULL;
}

/* The value the program gave stage key[0..n), or NULL when it gave none. */
static const char *kv_value(const struct sb_cmd *c, const char *key, size_t n)
{
	for (size_t i = c->n_kv; i-- > 0;)
		if (strlen(c->kv[i].key) == n && strncmp(c->kv[i].key, key, n) == 0)
			return c->kv[i].value;
	return NULL;
}

/*
 * Stages name their settings as sb-run's users give them, key=value ("calibration=FILE",
 * "allow_mixed=1", "truncate_dim: ..."); a program with its own options says them as
 * its user typed them.  In msg: KEY=VALUE, where KEY is a long option of the program
 * (underscores as dashes), becomes "--key VALUE", or "--key" for a switch set to 1,
 * "--no-key" for 0; a KEY the program passed that opens the message (after at most
 * one "word: " prefix) becomes "--key" when the value given follows it, or a ':' if
 * the key has an underscore.  A message that gave both spellings ("allow_mixed=1 /
 * --allow-mixed") says it once.
 */
static void speak_options(const struct sb_cmd *c, const char *msg, char *buf, size_t cap)
{
	struct out o = { buf, 0, cap };
	size_t i = 0, len = strlen(msg), lead = 0;

	buf[0] = '\0';
	while (lead < len && msg[lead] >= 'a' && msg[lead] <= 'z')
		lead++;
	lead = lead > 0 && msg[lead] == ':' && msg[lead + 1] == ' ' ? lead + 2 : 0;
	while (i < len) {
		const struct option *opt = NULL;
		char said[160];
		size_t k = i, end;

		said[0] = '\0';
		if (msg[i] >= 'a' && msg[i] <= 'z' && (i == 0 || !word_char(msg[i - 1]))) {
			while (k < len && ((msg[k] >= 'a' && msg[k] <= 'z') ||
					   (msg[k] >= '0' && msg[k] <= '9') || msg[k] == '_'))
				k++;
		}
		end = k;
		if (k > i && msg[k] == '=') {
			const char *v = msg + k + 1;
			size_t vn = 0;

			while (v[vn] && !strchr(" \t,;)]'\"", v[vn]))
				vn++;
			opt = long_option(c->longopts, "", msg + i, k - i);
			if (vn && opt && opt->has_arg != no_argument)
				snprintf(said, sizeof said, "--%s %.*s", opt->name, (int)vn, v);
			else if (opt && ((vn == 1 && v[0] == '1') ||
					 (vn == 4 && !strncmp(v, "true", 4))))
				snprintf(said, sizeof said, "--%s", opt->name);
			else if (((vn == 1 && v[0] == '0') ||
				  (vn == 5 && !strncmp(v, "false", 5))) &&
				 (opt = long_option(c->longopts, "no-", msg + i, k - i)))
				snprintf(said, sizeof said, "--%s", opt->name);
			end = k + 1 + vn;
		} else if (k > i && (i == 0 || i == lead)) {
			const char *v = kv_value(c, msg + i, k - i);
			size_t vn = v ? strlen(v) : 0;

			/* "model:", "threads:", "pool:" also open messages of the modules of
			 * those names: only keys with an underscore are taken before a ':'. */
			opt = v ? long_option(c->longopts, "", msg + i, k - i) : NULL;
			if (opt && ((msg[k] == ':' && memchr(msg + i, '_', k - i)) ||
				    (msg[k] == ' ' && vn && !strncmp(msg + k + 1, v, vn) &&
				     !word_char(msg[k + 1 + vn]))))
				snprintf(said, sizeof said, "--%s", opt->name);
		}
		if (!said[0]) {
			/* Not a setting: copy the word (or the character) as it is. */
			k = k > i ? k : i + 1;
			out_add(&o, msg + i, k - i);
			i = k;
			continue;
		}
		out_add(&o, said, strlen(said));
		i = end;
		if (!strncmp(msg + i, " / ", 3) && !strncmp(msg + i + 3, said, strlen(said)) &&
		    !word_char(msg[i + 3 + strlen(said)]))
			i += 3 + strlen(said);
	}
}

void sb_cmd_error(const struct sb_cmd *c, const struct sb_error *err)
{
	char buf[SB_ERROR_MSG_MAX + 256];
	const char *msg = err->msg[0] ? err->msg : sb_strerror(err->code);

	if (c->longopts) {
		speak_options(c, msg, buf, sizeof buf);
		msg = buf;
	}
	fprintf(stderr, "%s: %s\n", c->prog, msg);
}

/* ---- the end of option parsing: --version, stray arguments, terminals ---- */

int sb_cmd_version(const char *prog, int verbose)
{
	struct sb_version v;

	sb_version_get(&v);
	printf("%s %s\n", prog, v.version);
	if (verbose) {
		printf("kernels: %s compiled in; this cpu runs %s; in use: %s\n", v.kernels_built,
		       v.kernels_cpu, v.kernels_in_use);
		printf("openblas: %s; core %s\n", v.blas, v.blas_core);
		printf("zeromq: %s\nmsgpack-c: %s\nutf8proc: %s\n", v.zmq, v.msgpack, v.utf8proc);
		printf("build: %s\n", v.build[0] ? v.build : "(configure options not recorded)");
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: write: %s\n", prog, strerror(errno));
		return 1;
	}
	return 0;
}

int sb_cmd_no_args(const char *prog, int n_args, char *const *args, const char *what)
{
	char shown[128];

	if (n_args <= 0)
		return 0;
	fprintf(stderr, "%s: unexpected argument '%s'%s%s\n", prog,
		sb_printable(args[0], strlen(args[0]), shown, sizeof shown), what ? " " : "",
		what ? what : "");
	return -1;
}

int sb_cmd_no_tty(const char *prog, const char *output, const char *what)
{
	if (output || !isatty(STDOUT_FILENO))
		return 0;
	fprintf(stderr, "%s: refusing to write binary %s to a terminal: redirect or pipe it, or "
		"give -o - to insist\n", prog, what);
	return -1;
}

int sb_cmd_args(struct sb_cmd *c, int n_args, char *const *args, const struct option *longopts,
		int frames_out)
{
	c->longopts = longopts;
	if (c->version)
		exit(sb_cmd_version(c->prog, c->verbose));
	if (sb_cmd_no_args(c->prog, n_args, args, "(input is read from -i or standard input)"))
		return -1;
	if (frames_out && !c->worker &&
	    sb_cmd_no_tty(c->prog, c->output_given ? c->ro.output : NULL, "frames"))
		return -1;
	return 0;
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

/* Lines about ZeroMQ links: warnings (a handshake that failed) always, progress
 * (waiting for a peer) under -v.  Called from the worker's I/O thread too. */
static void on_link_event(void *ctx, int level, const char *line)
{
	const struct sb_cmd *c = ctx;

	if (level == SB_EVENT_WARN || c->verbose)
		fprintf(stderr, "%s: %s\n", c->prog, line);
}

static int run_worker(struct sb_cmd *c, const struct sb_stage *stage, struct sb_stats *st,
		      struct sb_error *err)
{
	struct sb_worker_opts wo;

	sb_worker_opts_init(&wo);
	wo.connect = c->worker;
	wo.topts = c->ro.topts;
	wo.stop = &stop_flag;
	wo.report = c->ro.report;
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
	c->ro.topts.event = on_link_event;
	c->ro.topts.event_ctx = c;
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
	if (c->worker && rc == SB_OK && stop_signal) {
		/* A worker leaves its farm cleanly on a signal, with the status of every
		 * program a signal stops. */
		fprintf(stderr, "%s: worker stopped by signal %d after %llu rows; the farm hands "
			"what it held to other workers\n", c->prog, (int)stop_signal,
			(unsigned long long)st.rows_out);
		return 128 + stop_signal;
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
