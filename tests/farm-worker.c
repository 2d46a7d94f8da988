/*
 * farm-worker - test helper for the farm tests (not installed).
 *
 *     farm-worker --gen ROWS [--batch B]       write a tokens stream of ROWS rows
 *     farm-worker --connect EP [options]       serve a farm with an echo stage
 *     farm-worker --in SPEC [--out SPEC]       copy a frame stream (transport test)
 *
 * The echo stage returns each frame unchanged after --delay-ms, so tests can make
 * slow workers; --fail-seq S makes the frame holding row S fail.  In --in mode,
 * --wait-start FILE copies nothing until FILE exists and --wait-end FILE holds the
 * end frame back until FILE exists: a test opens and closes a farm's input when the
 * state it arranged (a worker stopped, a link cut) is in place, not after a sleep.
 * In --connect mode, --ready FILE creates FILE once the worker's signal handlers are
 * installed: from then on a SIGTERM ends it with its statistics line on stderr.
 */
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "farm.h"
#include "frame.h"
#include "transport.h"

static volatile int stop_flag;
static long copy_delay_ms;      /* --delay-ms in --in mode: a slow producer */
static FILE *trace;     /* --trace: one line per frame taken, so tests can see progress */
static const char *wait_start, *wait_end;       /* --wait-start, --wait-end FILE */
static const char *ready_file;  /* --ready FILE */

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

struct echo {
	long delay_ms;
	long fail_seq;
	long bloat;             /* pad every result with this many bytes of meta */
	char *pad;
};

static int echo_open(void **state, const struct sb_kv *opts, size_t n, struct sb_error *err)
{
	struct echo *e = calloc(1, sizeof(*e));
	const char *v;

	if (e == NULL)
		return sb_error_set(err, SB_ENOMEM, "echo: out of memory");
	e->fail_seq = -1;
	if ((v = sb_kv_get(opts, n, "delay_ms")) != NULL)
		e->delay_ms = atol(v);
	if ((v = sb_kv_get(opts, n, "fail_seq")) != NULL)
		e->fail_seq = atol(v);
	if ((v = sb_kv_get(opts, n, "bloat")) != NULL && (e->bloat = atol(v)) > 0) {
		e->pad = malloc((size_t)e->bloat + 1);
		if (e->pad == NULL) {
			free(e);
			return sb_error_set(err, SB_ENOMEM, "echo: out of memory");
		}
		memset(e->pad, 'x', (size_t)e->bloat);
		e->pad[e->bloat] = '\0';
	}
	*state = e;
	return SB_OK;
}

static int echo_process(void *state, const struct sb_frame *in, struct sb_emit *out,
			struct sb_error *err)
{
	struct echo *e = state;

	if (trace != NULL)
		fprintf(trace, "seq %llu\n", (unsigned long long)in->seq);
	if (e->delay_ms > 0) {
		struct timespec ts = { e->delay_ms / 1000, (e->delay_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (e->fail_seq >= 0 && (uint64_t)e->fail_seq >= in->seq &&
	    (uint64_t)e->fail_seq < in->seq + in->rows)
		return sb_error_set(err, SB_EFORMAT, "echo: row %ld refused on purpose",
				    e->fail_seq);
	if (e->pad != NULL) {
		/* The worker owns its input frame; a test stage may write into it. */
		int rc = sb_frame_meta_str((struct sb_frame *)in, "pad", e->pad, err);
		if (rc != SB_OK)
			return rc;
	}
	return sb_emit_frame(out, in, err);
}

static void echo_close(void *state)
{
	struct echo *e = state;

	if (e != NULL)
		free(e->pad);
	free(e);
}

static const struct sb_stage echo_stage = {
	.version = SB_STAGE_VERSION,
	.name = "echo",
	.input = SB_STAGE_IN_FRAMES,
	.open = echo_open,
	.process = echo_process,
	.close = echo_close,
};

static int gen(long rows, long batch, const char *spec, const struct sb_transport_opts *to)
{
	struct sb_transport *t;
	struct sb_frame f;
	struct sb_buf b;
	struct sb_error err;
	int rc;

	if ((rc = sb_transport_open(&t, spec, SB_TRANSPORT_WRITE, to, &err)) != SB_OK)
		goto fail;
	sb_frame_init(&f);
	sb_buf_init(&b);
	for (long s = 0; s < rows && rc == SB_OK; s += batch) {
		long n = rows - s < batch ? rows - s : batch;
		size_t shape[2] = { (size_t)n, 4 };
		struct sb_tensor *ids;
		sb_frame_reset(&f);
		f.kind = SB_KIND_TOKENS;
		f.seq = (uint64_t)s;
		f.rows = (uint64_t)n;
		rc = sb_frame_tensor_resize(&f, "input_ids", SB_DTYPE_I32, 2, shape, &ids, &err);
		if (rc != SB_OK)
			break;
		int32_t *d = (int32_t *)ids->data;
		for (long r = 0; r < n; r++)
			for (int k = 0; k < 4; k++)
				d[r * 4 + k] = (int32_t)((s + r) * 7 + k);
		rc = sb_frame_text_alloc(&f, (size_t)n, &err);
		for (long r = 0; r < n && rc == SB_OK; r++) {
			char line[64];
			int len = snprintf(line, sizeof(line), "row %ld", s + r);
			rc = sb_frame_text_set(&f, (size_t)r, line, (size_t)len, &err);
		}
		sb_buf_clear(&b);
		if (rc == SB_OK)
			rc = sb_frame_encode(&f, &b, &err);
		if (rc == SB_OK)
			rc = sb_transport_send(t, b.data, b.len, &err);
	}
	if (rc == SB_OK) {
		sb_frame_reset(&f);
		f.kind = SB_KIND_END;
		f.rows_total = (uint64_t)rows;
		sb_buf_clear(&b);
		rc = sb_frame_encode(&f, &b, &err);
		if (rc == SB_OK)
			rc = sb_transport_send(t, b.data, b.len, &err);
		if (rc == SB_OK)
			rc = sb_transport_flush(t, &err);
	}
	sb_frame_destroy(&f);
	sb_buf_destroy(&b);
	sb_transport_close(&t);
	if (rc == SB_OK)
		return 0;
fail:
	fprintf(stderr, "farm-worker: %s\n", err.msg);
	return 1;
}

/* Waits until path exists.  Gives up (-1) when stdout is a pipe whose reader has
 * gone, so a producer whose test died does not wait forever. */
static int wait_file(const char *path)
{
	for (;;) {
		FILE *fp = fopen(path, "r");
		struct pollfd p = { 1, POLLOUT, 0 };

		if (fp != NULL) {
			fclose(fp);
			return 0;
		}
		if (poll(&p, 1, 10) > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)))
			return -1;
		if (stop_flag)
			return -1;
		struct timespec ts = { 0, 10000000L };
		nanosleep(&ts, NULL);
	}
}

/* Creates FILE (empty): a state a test waits for. */
static int touch(const char *file)
{
	FILE *fp = fopen(file, "w");

	if (fp == NULL || fclose(fp) != 0) {
		perror(file);
		return -1;
	}
	return 0;
}

/* Copies a frame stream message by message (a transport-level cat): what the
 * runner does for any stage, without decoding, so links are tested on their own. */
static int copy(const char *in, const char *out, const struct sb_transport_opts *to)
{
	struct sb_transport *ti = NULL, *tout = NULL;
	struct sb_error err;
	const unsigned char *msg;
	size_t len;
	int rc;

	sb_zmq_init();
	if (wait_start != NULL && wait_file(wait_start) != 0)
		return 1;
	rc = sb_transport_open(&ti, in, SB_TRANSPORT_READ, to, &err);
	if (rc == SB_OK)
		rc = sb_transport_open(&tout, out, SB_TRANSPORT_WRITE, to, &err);
	while (rc == SB_OK) {
		struct sb_frame f;
		rc = sb_transport_recv(ti, &msg, &len, &err);
		if (rc != SB_OK)
			break;
		sb_frame_init(&f);
		rc = sb_frame_decode(msg, len, &f, &err);
		int end = f.kind == SB_KIND_END;
		sb_frame_destroy(&f);
		if (rc == SB_OK && end && wait_end != NULL) {
			/* What was copied goes out first: a file or pipe output is buffered. */
			rc = sb_transport_flush(tout, &err);
			if (rc == SB_OK && wait_file(wait_end) != 0)
				rc = sb_error_set(&err, SB_EINTR, "%s: gave up waiting for %s", in,
						  wait_end);
		}
		if (rc == SB_OK && copy_delay_ms > 0) {
			struct timespec ts = { copy_delay_ms / 1000, (copy_delay_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
		if (rc == SB_OK)
			rc = sb_transport_send(tout, msg, len, &err);
		if (rc == SB_OK && trace != NULL)
			fprintf(trace, "frame\n");
		if (rc == SB_OK && end) {
			rc = sb_transport_flush(tout, &err);
			break;
		}
	}
	if (rc == SB_EOF)
		rc = sb_error_set(&err, SB_ETRUNCATED, "%s: input ended without an end frame", in);
	sb_transport_close(&ti);
	sb_transport_close(&tout);
	if (rc != SB_OK) {
		fprintf(stderr, "farm-worker: %s\n", err.msg);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "gen", required_argument, NULL, 'g' },
		{ "batch", required_argument, NULL, 'B' },
		{ "connect", required_argument, NULL, 'c' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "fail-seq", required_argument, NULL, 'F' },
		{ "credits", required_argument, NULL, 'C' },
		{ "heartbeat-ms", required_argument, NULL, 'H' },
		{ "liveness", required_argument, NULL, 'L' },
		{ "max-idle-ms", required_argument, NULL, 'I' },
		{ "name", required_argument, NULL, 'n' },
		{ "curve-secret", required_argument, NULL, 's' },
		{ "curve-server", required_argument, NULL, 'S' },
		{ "insecure", no_argument, NULL, 'k' },
		{ "curve-allow", required_argument, NULL, 'A' },
		{ "trace", required_argument, NULL, 'T' },
		{ "bloat", required_argument, NULL, 'b' },
		{ "max-msg-bytes", required_argument, NULL, 'M' },
		{ "in", required_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'o' },
		{ "wait-start", required_argument, NULL, 'w' },
		{ "wait-end", required_argument, NULL, 'W' },
		{ "ready", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	struct sb_worker_opts wo;
	struct sb_kv kv[3];
	size_t n_kv = 0;
	long rows = -1, batch = 32;
	const char *in = NULL, *out = "-";
	struct sb_error err;
	struct sb_stats st;
	int opt;

	sb_worker_opts_init(&wo);
	wo.stop = &stop_flag;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'g': rows = atol(optarg); break;
		case 'B': batch = atol(optarg); break;
		case 'c': wo.connect = optarg; break;
		case 'd':
			if (n_kv == 3)
				return 2;
			copy_delay_ms = atol(optarg);
			kv[n_kv].key = "delay_ms"; kv[n_kv++].value = optarg; break;
		case 'F':
			if (n_kv == 3)
				return 2;
			kv[n_kv].key = "fail_seq"; kv[n_kv++].value = optarg; break;
		case 'C': wo.credits = (unsigned)atoi(optarg); break;
		case 'H': wo.heartbeat_ms = atoi(optarg); break;
		case 'L': wo.liveness = atoi(optarg); break;
		case 'I': wo.max_idle_ms = atoi(optarg); break;
		case 'n': wo.name = optarg; break;
		case 's': wo.topts.curve_secret = optarg; break;
		case 'S': wo.topts.curve_server = optarg; break;
		case 'k': wo.topts.insecure = 1; break;
		case 'A': wo.topts.allow_file = optarg; break;
		case 'T':
			if ((trace = fopen(optarg, "a")) == NULL) {
				perror(optarg);
				return 1;
			}
			setvbuf(trace, NULL, _IOLBF, 0);
			break;
		case 'b':
			if (n_kv == 3)
				return 2;
			kv[n_kv].key = "bloat";
			kv[n_kv++].value = optarg;
			break;
		case 'M': wo.topts.max_msg_bytes = (size_t)atol(optarg); break;
		case 'i': in = optarg; break;
		case 'o': out = optarg; break;
		case 'w': wait_start = optarg; break;
		case 'W': wait_end = optarg; break;
		case 'r': ready_file = optarg; break;
		default: return 2;
		}
	}
	sb_zmq_init();
	if (rows >= 0)
		return gen(rows, batch > 0 ? batch : 32, out, &wo.topts);
	if (in != NULL)
		return copy(in, out, &wo.topts);
	if (wo.connect == NULL) {
		fprintf(stderr, "usage: farm-worker --gen ROWS | --connect EP [options]\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	sb_zmq_init();
	if (ready_file != NULL && touch(ready_file) != 0)
		return 1;
	if (sb_worker_run(&echo_stage, kv, n_kv, &wo, &st, &err) != SB_OK) {
		fprintf(stderr, "farm-worker: %s\n", err.msg);
		return 1;
	}
	fprintf(stderr, "farm-worker %s: %llu frames, %llu rows\n", wo.name ? wo.name : "",
		(unsigned long long)st.frames_in, (unsigned long long)st.rows_in);
	return 0;
}
