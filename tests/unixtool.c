/*
 * unixtool.c - small programs for the Unix edge-case tests (tests/70-unix.sh).
 *
 *     unixtool lines [-b ROWS] [-d MS] [-t FILE] [common options]   text -> frames
 *     unixtool copy [-d MS] [-t FILE] [common options]    frames -> the same frames
 *     unixtool storm lines|copy [-b ROWS] [-r FILE]       the same, with SIGUSR1 every ms
 *     unixtool check                                      validates a frame stream
 *     unixtool trickle                                    stdin -> stdout, 1 byte per call
 *
 * lines and copy are real sb programs: two trivial stages run by sb_cmd_run(), so they
 * get the signal, SIGPIPE and error handling of every sb program, without needing a
 * model.  lines turns each batch of ROWS lines into a tokens frame (tensor input_ids,
 * int32 [rows, 1]: the length of each line, and the text); -d sleeps MS milliseconds
 * per frame so a test can interrupt a run in its middle; -t appends a line to FILE for
 * every frame handed on (emitted), so a test interrupts a run once it has written frames
 * (the state it needs) rather than after a sleep.
 *
 * storm runs the same stage in-process through sb_run() (stdin to stdout) with a
 * SIGUSR1 handler installed without SA_RESTART, while a second thread sends the
 * process SIGUSR1 every millisecond: every blocking read and write the library does
 * is hit by EINTR.  A signal handler does not survive exec, hence in-process.  It
 * prints the number of signals handled on stderr.  With -r, FILE is created once
 * STORM_READY signals have been handled: a test that feeds the stage only after FILE
 * appears knows the storm hit the stage's blocked read that many times, however fast
 * the machine (the run itself may be over in a few milliseconds).
 *
 * check reads frames from stdin and prints "frames N rows R end yes|no"; exit 0 when
 * every byte belongs to a whole, valid frame, 1 (with the error) otherwise.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../cmd/common.h"
#include "frame.h"
#include "stage.h"
#include "transport.h"

struct st {
	struct sb_frame f;
	long delay_ms;
	FILE *trace;            /* -t: a line per frame emitted */
};

static int st_open(void **state, const struct sb_kv *opts, size_t n, struct sb_error *err)
{
	struct st *s = calloc(1, sizeof *s);
	const char *d = sb_kv_get(opts, n, "delay_ms");
	const char *t = sb_kv_get(opts, n, "trace");

	if (!s)
		return sb_error_set(err, SB_ENOMEM, "out of memory");
	if (t != NULL && (s->trace = fopen(t, "a")) == NULL) {
		free(s);
		return sb_error_sys(err, SB_EIO, errno, "%s", t);
	}
	sb_frame_init(&s->f);
	s->delay_ms = d ? atol(d) : 0;
	*state = s;
	return SB_OK;
}

static void st_close(void *state)
{
	struct st *s = state;

	if (s) {
		if (s->trace != NULL)
			fclose(s->trace);
		sb_frame_destroy(&s->f);
		free(s);
	}
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	/* Restarted after signals, so the delay holds under the storm too. */
	while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* After an emit: under -t, says that the frame of seq SEQ was handed on. */
static int traced(struct st *s, uint64_t seq, int rc)
{
	if (rc == SB_OK && s->trace != NULL) {
		fprintf(s->trace, "frame %llu\n", (unsigned long long)seq);
		fflush(s->trace);
	}
	return rc;
}

static int lines_process(void *state, const struct sb_frame *in, struct sb_emit *out,
			 struct sb_error *err)
{
	struct st *s = state;
	struct sb_tensor *t;
	size_t shape[2] = { in->rows, 1 };
	int rc;

	pause_ms(s->delay_ms);
	sb_frame_reset(&s->f);
	s->f.kind = SB_KIND_TOKENS;
	s->f.seq = in->seq;
	s->f.rows = in->rows;
	rc = sb_frame_tensor_resize(&s->f, "input_ids", SB_DTYPE_I32, 2, shape, &t, err);
	if (!rc)
		rc = sb_frame_text_alloc(&s->f, in->rows, err);
	for (size_t i = 0; !rc && i < in->rows; i++) {
		((int32_t *)t->data)[i] = (int32_t)in->text[i].n;
		rc = sb_frame_text_set(&s->f, i, in->text[i].p, in->text[i].n, err);
	}
	return traced(s, in->seq, rc ? rc : sb_emit_frame(out, &s->f, err));
}

static int copy_process(void *state, const struct sb_frame *in, struct sb_emit *out,
			struct sb_error *err)
{
	struct st *s = state;

	pause_ms(s->delay_ms);
	return traced(s, in->seq, sb_emit_frame(out, in, err));
}

static const struct sb_stage lines_stage = {
	.version = SB_STAGE_VERSION, .name = "lines", .input = SB_STAGE_IN_TEXT,
	.open = st_open, .process = lines_process, .close = st_close
};
static const struct sb_stage copy_stage = {
	.version = SB_STAGE_VERSION, .name = "copy", .input = SB_STAGE_IN_FRAMES,
	.open = st_open, .process = copy_process, .close = st_close
};

static void usage(FILE *fp)
{
	fprintf(fp, "usage: unixtool lines|copy [-b ROWS] [-d MS] [-t FILE] [options]\n"
		"       unixtool storm lines|copy [-b ROWS] [-r FILE]\n"
		"       unixtool check | trickle\n");
}

static int run_stage(int argc, char **argv, const struct sb_stage *stage)
{
	static const struct option longopts[] = { SB_CMD_LONGOPTS, { NULL, 0, NULL, 0 } };
	struct sb_cmd c;
	int opt, rc;

	sb_cmd_init(&c, "unixtool");
	while ((opt = getopt_long(argc, argv, SB_CMD_SHORTOPTS "b:d:t:", longopts, NULL)) != -1) {
		rc = sb_cmd_option(&c, opt, optarg);
		if (rc < 0)
			return 2;
		if (rc)
			continue;
		if (opt == 'b')
			c.ro.batch_rows = (size_t)atol(optarg);
		else if (opt == 'd')
			sb_cmd_kv(&c, "delay_ms", optarg);
		else if (opt == 't')
			sb_cmd_kv(&c, "trace", optarg);
		else {
			usage(opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	return sb_cmd_run(&c, stage);
}

#define STORM_READY 50

static volatile sig_atomic_t n_usr1;
static volatile int storm_done;
static const char *storm_ready_file;

static void on_usr1(int sig)
{
	(void)sig;
	n_usr1++;
}

static void *storm(void *arg)
{
	pthread_t target = *(pthread_t *)arg;
	int told = storm_ready_file == NULL;

	while (!storm_done) {
		pthread_kill(target, SIGUSR1);
		pause_ms(1);
		if (!told && n_usr1 >= STORM_READY) {
			FILE *fp = fopen(storm_ready_file, "w");

			if (fp)
				fclose(fp);
			told = 1;
		}
	}
	return NULL;
}

static int run_storm(int argc, char **argv)
{
	struct sigaction sa;
	struct sb_runner_opts ro;
	struct sb_error err;
	pthread_t self = pthread_self(), th;
	sigset_t block;
	int rc, i;

	if (argc < 2 || (strcmp(argv[1], "lines") && strcmp(argv[1], "copy"))) {
		usage(stderr);
		return 2;
	}
	sb_runner_opts_init(&ro);
	for (i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "-b")) {
			ro.batch_rows = (size_t)atol(argv[i + 1]);
		} else if (!strcmp(argv[i], "-r")) {
			storm_ready_file = argv[i + 1];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (i != argc) {
		usage(stderr);
		return 2;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;        /* no SA_RESTART: blocked calls fail with EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	/* The storm thread itself must not take the signals it sends. */
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	if (pthread_create(&th, NULL, storm, &self) != 0) {
		fprintf(stderr, "unixtool: cannot start the storm thread\n");
		return 1;
	}
	pthread_sigmask(SIG_UNBLOCK, &block, NULL);
	rc = sb_run(!strcmp(argv[1], "lines") ? &lines_stage : &copy_stage, NULL, 0, &ro, NULL,
		    &err);
	storm_done = 1;
	pthread_join(th, NULL);
	fprintf(stderr, "unixtool: storm: %ld SIGUSR1 handled\n", (long)n_usr1);
	if (rc) {
		fprintf(stderr, "unixtool: %s\n", err.msg);
		return 1;
	}
	return 0;
}

static int run_check(void)
{
	struct sb_transport *in = NULL;
	struct sb_frame f;
	struct sb_error err;
	unsigned long long frames = 0, rows = 0;
	int rc, end = 0;

	sb_frame_init(&f);
	rc = sb_transport_open(&in, "-", SB_TRANSPORT_READ, NULL, &err);
	while (!rc) {
		const unsigned char *msg;
		size_t len;

		rc = sb_transport_recv(in, &msg, &len, &err);
		if (rc)
			break;
		if (end) {
			rc = sb_error_set(&err, SB_EFORMAT, "frame after the end frame");
			break;
		}
		rc = sb_frame_decode(msg, len, &f, &err);
		if (rc)
			break;
		if (f.kind == SB_KIND_END)
			end = 1;
		else
			rows += f.rows;
		frames++;
	}
	sb_frame_destroy(&f);
	sb_transport_close(&in);
	printf("frames %llu rows %llu end %s\n", frames, rows, end ? "yes" : "no");
	if (rc != SB_EOF) {
		fprintf(stderr, "unixtool: check: %s\n", err.msg);
		return 1;
	}
	return 0;
}

static int run_trickle(void)
{
	char c;
	ssize_t n;

	while ((n = read(0, &c, 1)) == 1 || (n < 0 && errno == EINTR))
		if (n == 1 && write(1, &c, 1) != 1)
			return 1;
	return n == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "lines"))
		return run_stage(argc - 1, argv + 1, &lines_stage);
	if (!strcmp(argv[1], "copy"))
		return run_stage(argc - 1, argv + 1, &copy_stage);
	if (!strcmp(argv[1], "storm"))
		return run_storm(argc - 1, argv + 1);
	if (!strcmp(argv[1], "check"))
		return run_check();
	if (!strcmp(argv[1], "trickle"))
		return run_trickle();
	usage(stderr);
	return 2;
}
