/*
 * farm_worker.c - a farm worker (sb-encode --worker ...): a DEALER that joins a farm,
 * asks for frames by credits, runs its stage on each and sends the results back,
 * with heartbeats both ways; an I/O thread keeps the socket while the stage runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "zmq_impl.h"

/* ---- the worker ---- */

void sb_worker_opts_init(struct sb_worker_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->topts.timeout_ms = -1;
	o->credits = 2;
	o->heartbeat_ms = 1000;
	o->liveness = 3;
	o->reconnect_max_ms = 8000;
	o->max_idle_ms = -1;
}

/*
 * The I/O thread owns the DEALER socket: it forwards requests to the processing
 * thread over an inproc PAIR and results back, heartbeats on its own clock, and
 * reconnects with exponential backoff when the farm stops answering.  Messages to
 * the processing thread: the farm message as is (header + frame), SB_PAIR_FAIL
 * (fatal) or SB_PAIR_IDLE (idle exit); from it: results as farm messages, or
 * SB_PAIR_QUIT.
 */
struct wio {
	const struct sb_worker_opts *o;
	void *ctx;
	char addr[96];
	char name[64];
	struct sb_zmq_endpoint ep;
	struct sb_zmq_monitor mon;     /* of the current socket: handshakes that fail */
	uint64_t told_refuse;   /* hash of the last refusal reported, 0 none */
	struct sb_error err;
	int rc;

	/* The I/O thread's state. */
	void *pair;             /* to the processing thread */
	void *s;                /* the DEALER to the farm; NULL between sockets */
	double hb_s, dead_s;    /* heartbeat interval; silence after which the farm is gone */
	double backoff, backoff_max;
	double heard;           /* when the farm was last heard (0: look again now) */
	double last_farm;       /* when a farm last spoke (for --max-idle) */
	double next_hb, reconnect_at;
	int contact;            /* the farm answered on this socket */
	int quit;               /* set by the processing thread (atomic): stop now */
};

/* How long closing the socket at the end may wait for the BYE (or a last result) to
 * be sent: with no wait, a BYE still queued is dropped, and the farm learns of the
 * worker's end from a heartbeat that cannot be delivered instead. */
#define WIO_END_LINGER_MS 500

static void wio_close(struct wio *w, void **s, int linger)
{
	if (*s == NULL)
		return;
	sb_zmq_monitor_stop(*s, &w->mon);
	sb_zmq_close(s, linger);
}

/* A farm refused our results (another model...): say so once per reason. */
static void wio_refused(struct wio *w, const zmq_msg_t *why)
{
	const unsigned char *p = zmq_msg_data((zmq_msg_t *)why);
	size_t n = zmq_msg_size((zmq_msg_t *)why);
	uint64_t h = 0xcbf29ce484222325ULL;
	char shown[400];

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	if (h == w->told_refuse)
		return;
	w->told_refuse = h;
	sb_zmq_event(&w->o->topts, SB_EVENT_WARN, "%s: the farm refuses this worker's results "
		   "in its current run: %s", w->o->connect, sb_printable(p, n, shown, sizeof(shown)));
}

static void *wio_connect(struct wio *w, struct sb_error *err)
{
	void *s = zmq_socket(w->ctx, ZMQ_DEALER);

	if (s == NULL) {
		sb_error_sys(err, SB_EIO, errno, "%s: zmq socket", w->o->connect);
		return NULL;
	}
	/* Retry often: a farm that starts is found within a quarter second. */
	int ivl = 100, ivl_max = 250, ct = w->o->heartbeat_ms * 2;
	zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max));
	zmq_setsockopt(s, ZMQ_CONNECT_TIMEOUT, &ct, sizeof(ct));
	if (sb_zmq_prepare(w->ctx, s, &w->ep, 1, &w->o->topts, w->o->connect, err) != SB_OK ||
	    sb_zmq_monitor_start(w->ctx, s, &w->mon, &w->o->topts, w->o->connect, 0, NULL, err) != SB_OK ||
	    sb_zmq_attach(s, &w->ep, w->o->connect, err) != SB_OK) {
		wio_close(w, &s, 0);
		return NULL;
	}
	return s;
}

static void wio_ready(struct wio *w, void *s)
{
	struct sb_farm_hdr h = { SB_FARM_READY, w->o->credits ? w->o->credits : 2, 0, 0 };

	if (sb_zmq_send_hdr(s, NULL, 0, &h, 1) == 0)
		zmq_send(s, w->name, strlen(w->name), ZMQ_DONTWAIT);
}

/* A message from the processing thread: a result to forward, or SB_PAIR_QUIT.
 * Returns 1 to stop. */
static int wio_on_pair(struct wio *w)
{
	zmq_msg_t m[SB_FARM_MAX_PARTS + 1];
	struct sb_pair_msg pm;
	int n, quit = 0;

	if (sb_zmq_recv_multi(w->pair, m, SB_FARM_MAX_PARTS + 1, &n) != 0)
		return 0;
	if (n == 1 && sb_pair_decode(&m[0], &pm) == 0 && pm.type == SB_PAIR_QUIT) {
		quit = 1;
		if (w->s != NULL) {
			struct sb_farm_hdr h = { SB_FARM_BYE, 0, 0, 0 };
			sb_zmq_send_hdr(w->s, NULL, 0, &h, 0);
		}
	} else if (w->s != NULL && n <= SB_FARM_MAX_PARTS) {
		/* A result: forward; if the farm is gone it re-sends. */
		for (int i = 0; i < n; i++) {
			zmq_msg_t c;
			zmq_msg_init(&c);
			zmq_msg_copy(&c, &m[i]);
			if (zmq_msg_send(&c, w->s, (i + 1 < n ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(&c);
				break;
			}
		}
	}
	sb_zmq_close_multi(m, n, SB_FARM_MAX_PARTS + 1);
	return quit;
}

/* Messages from the farm (up to 64 at a time): requests go to the processing
 * thread; RESET, BYE and REFUSE are handled here. */
static void wio_on_farm(struct wio *w, double now)
{
	for (int k = 0; k < 64; k++) {
		zmq_msg_t m[3];
		struct sb_farm_hdr h;
		int n;
		if (sb_zmq_recv_multi(w->s, m, 2, &n) != 0)
			break;
		if (n >= 1 && n <= 2 &&
		    sb_farm_hdr_unpack(zmq_msg_data(&m[0]), zmq_msg_size(&m[0]), &h, NULL) == SB_OK) {
			w->heard = w->last_farm = now;
			if (!w->contact && h.cmd != SB_FARM_REFUSE)
				sb_zmq_event(&w->o->topts, SB_EVENT_INFO, "%s: serving a farm",
					     w->o->connect);
			w->contact = 1;
			w->backoff = w->hb_s / 2;
			if (h.cmd == SB_FARM_REQUEST && n == 2) {
				zmq_msg_send(&m[0], w->pair, ZMQ_SNDMORE);
				zmq_msg_send(&m[1], w->pair, 0);
				n = 0;
			} else if (h.cmd == SB_FARM_RESET) {
				wio_ready(w, w->s);
			} else if (h.cmd == SB_FARM_BYE) {
				w->heard = 0;   /* look for the next farm now */
			} else if (h.cmd == SB_FARM_REFUSE && n == 2) {
				wio_refused(w, &m[1]);
			}
		}
		sb_zmq_close_multi(m, n, 2);
	}
}

/*
 * The farm's liveness, Paranoid Pirate style: when it has been silent too long the
 * socket is dropped and a new one (a new identity) made after a backoff; heartbeats
 * on time.  Returns -1 when no socket can be made (the processing thread is told).
 */
static int wio_keepalive(struct wio *w, double now)
{
	if (w->s != NULL && now - w->heard > w->dead_s && !w->contact) {
		/* No farm yet on this socket: libzmq keeps retrying the connection. */
		w->heard = now;
	} else if (w->s != NULL && now - w->heard > w->dead_s) {
		wio_close(w, &w->s, 0);
		w->contact = 0;
		w->reconnect_at = now + (w->heard == 0 ? 0 : w->backoff);
		w->backoff = w->backoff * 2 <= w->backoff_max ? w->backoff * 2 : w->backoff_max;
	}
	if (w->s == NULL && now >= w->reconnect_at) {
		w->s = wio_connect(w, &w->err);
		if (w->s == NULL) {
			sb_pair_fail(w->pair, w->err.code, w->err.msg);
			return -1;
		}
		wio_ready(w, w->s);
		w->heard = now;
		w->next_hb = now + w->hb_s;
	}
	if (w->s != NULL && now >= w->next_hb) {
		struct sb_farm_hdr h = { SB_FARM_HEARTBEAT, 0, 0, 0 };
		sb_zmq_send_hdr(w->s, NULL, 0, &h, 0);
		w->next_hb = now + w->hb_s;
	}
	return 0;
}

static void *wio_main(void *arg)
{
	struct wio *w = arg;
	double now = sb_zmq_now();

	w->hb_s = w->o->heartbeat_ms / 1000.0;
	w->dead_s = w->hb_s * w->o->liveness;
	w->backoff = w->hb_s / 2;
	w->backoff_max = w->o->reconnect_max_ms / 1000.0;
	w->heard = w->last_farm = now;
	w->next_hb = now + w->hb_s;
	w->reconnect_at = 0;
	w->contact = 0;
	w->pair = zmq_socket(w->ctx, ZMQ_PAIR);
	if (w->pair == NULL || zmq_connect(w->pair, w->addr) != 0) {
		sb_zmq_close(&w->pair, 0);
		return NULL;
	}
	w->s = wio_connect(w, &w->err);
	if (w->s == NULL) {
		sb_pair_fail(w->pair, w->err.code, w->err.msg);
		goto out;
	}
	wio_ready(w, w->s);
	for (;;) {
		zmq_pollitem_t it[3] = {
			{ w->pair, 0, ZMQ_POLLIN, 0 },
			{ w->s, 0, ZMQ_POLLIN, 0 },
			{ w->mon.pair, 0, ZMQ_POLLIN, 0 },
		};
		int nit = w->s ? 3 : 1;
		if (zmq_poll(it, nit, 100) < 0 && errno != EINTR)
			break;
		now = sb_zmq_now();
		if (w->s != NULL && (it[2].revents & ZMQ_POLLIN))
			sb_zmq_monitor_drain(&w->mon);
		if ((it[0].revents & ZMQ_POLLIN) && wio_on_pair(w))
			break;
		/* The QUIT message is the usual way; this flag makes sure, even if that
		 * message was lost or glued to a result cut short by a signal. */
		if (__atomic_load_n(&w->quit, __ATOMIC_ACQUIRE)) {
			if (w->s != NULL) {
				struct sb_farm_hdr h = { SB_FARM_BYE, 0, 0, 0 };
				sb_zmq_send_hdr(w->s, NULL, 0, &h, 0);
			}
			break;
		}
		if (w->s != NULL && nit >= 2 && (it[1].revents & ZMQ_POLLIN))
			wio_on_farm(w, now);
		if (wio_keepalive(w, now) != 0)
			break;
		if (w->o->max_idle_ms >= 0 && (now - w->last_farm) * 1000 > w->o->max_idle_ms) {
			sb_pair_send(w->pair, SB_PAIR_IDLE, 0, 0, 0, 0);
			break;
		}
	}
out:
	wio_close(w, &w->s, WIO_END_LINGER_MS);
	sb_zmq_close(&w->pair, 0);
	return NULL;
}

struct wemit {
	struct sb_buf *bufs;
	size_t n, cap;
};

static int wemit_frame(void *ctx, const struct sb_frame *f, struct sb_error *err)
{
	struct wemit *we = ctx;

	if (we->n == we->cap) {
		if (we->cap >= SB_FARM_MAX_PARTS)
			return sb_error_set(err, SB_ELIMIT, "more than %d frames for one request",
					    SB_FARM_MAX_PARTS);
		size_t cap = we->cap ? 2 * we->cap : 4;
		struct sb_buf *nb = realloc(we->bufs, cap * sizeof(*nb));
		if (nb == NULL)
			return sb_error_set(err, SB_ENOMEM, "worker: out of memory");
		for (size_t i = we->cap; i < cap; i++)
			sb_buf_init(&nb[i]);
		we->bufs = nb;
		we->cap = cap;
	}
	sb_buf_clear(&we->bufs[we->n]);
	int rc = sb_frame_encode(f, &we->bufs[we->n], err);
	if (rc == SB_OK)
		we->n++;
	return rc;
}

/* Sends one part of a message to the I/O thread, again when a signal interrupted it:
 * a part left out would glue the next message (QUIT too) to this one. */
static void send_part(void *pair, const void *p, size_t n, int flags)
{
	while (zmq_send(pair, p, n, flags) < 0 && errno == EINTR)
		;
}

/*
 * Processes one request (header h, its frame in msg) and sends the result back
 * through the I/O thread: the frames the stage emitted, or the frame's error (the
 * farm fails the run on it; the worker goes on).  Returns SB_OK.
 */
static int worker_answer(const struct sb_stage *stage, void *state, void *pair,
			 const struct sb_farm_hdr *h, zmq_msg_t *msg, struct sb_frame *in,
			 struct wemit *we, struct sb_stats *st)
{
	struct sb_error ferr;
	struct sb_emit em = { wemit_frame, we };
	double p0 = sb_zmq_now();
	int rc;

	sb_error_clear(&ferr);
	we->n = 0;
	rc = sb_frame_decode(zmq_msg_data(msg), zmq_msg_size(msg), in, &ferr);
	st->frames_in++;
	st->bytes_in += zmq_msg_size(msg);
	if (rc == SB_OK && in->kind == SB_KIND_END)
		rc = sb_error_set(&ferr, SB_EFORMAT, "an end frame is not a request");
	if (rc == SB_OK) {
		st->rows_in += in->rows;
		rc = stage->process(state, in, &em, &ferr);
	}
	st->seconds_process += sb_zmq_now() - p0;
	struct sb_farm_hdr rh = { SB_FARM_RESULT, (uint32_t)we->n, h->id, h->run };
	if (rc != SB_OK) {
		rh.cmd = SB_FARM_ERROR;
		rh.count = 0;
		sb_zmq_send_hdr(pair, NULL, 0, &rh, 1);
		send_part(pair, ferr.msg, strlen(ferr.msg), 0);
		return SB_OK;
	}
	sb_zmq_send_hdr(pair, NULL, 0, &rh, we->n > 0);
	for (size_t i = 0; i < we->n; i++) {
		send_part(pair, we->bufs[i].data, we->bufs[i].len, i + 1 < we->n ? ZMQ_SNDMORE : 0);
		st->frames_out++;
		st->bytes_out += we->bufs[i].len;
	}
	st->rows_out += in->rows;
	return SB_OK;
}

/* The stage's side of a worker: what the loop over the I/O thread's messages uses. */
struct wrun {
	const struct sb_stage *stage;
	void *state, *pair;             /* the stage's state; the inproc socket to wio_main */
	struct wio *w;
	struct sb_frame in;
	struct wemit we;
	struct sb_stats *st;
};

/* The defaults of the options left 0, and the worker's name (host:pid by default). */
static void worker_setup(struct sb_worker_opts *o, struct wio *w)
{
	if (o->credits == 0)
		o->credits = 2;
	if (o->heartbeat_ms <= 0)
		o->heartbeat_ms = 1000;
	if (o->liveness <= 0)
		o->liveness = 3;
	if (o->reconnect_max_ms <= 0)
		o->reconnect_max_ms = 8000;
	memset(w, 0, sizeof(*w));
	w->o = o;
}

static void worker_name(struct wio *w, const struct sb_worker_opts *o)
{
	char host[48] = "?";

	if (o->name) {
		snprintf(w->name, sizeof(w->name), "%s", o->name);
		return;
	}
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(w->name, sizeof(w->name), "%s:%d", host, (int)getpid());
}

/* Keys and endpoint checked on a socket that is closed again, so that a mistake is
 * reported before any thread starts. */
static int worker_probe(struct wio *w, struct sb_worker_opts *o, struct sb_error *err)
{
	void *probe = zmq_socket(w->ctx, ZMQ_DEALER);
	int rc = probe ? sb_zmq_prepare(w->ctx, probe, &w->ep, 1, &o->topts, o->connect, err)
		       : sb_error_sys(err, SB_EIO, errno, "zmq socket");

	sb_zmq_close(&probe, 0);
	return rc;
}

/* One message of the I/O thread: 1 when the loop ends (*rc its status), else 0. */
static int worker_message(struct wrun *r, zmq_msg_t m[2], int n, int *rc, struct sb_error *err)
{
	struct sb_pair_msg pm;
	struct sb_farm_hdr h;
	int is_pair = n >= 1 && sb_pair_decode(&m[0], &pm) == 0;

	if (is_pair && pm.type == SB_PAIR_IDLE) {
		*rc = SB_OK;
		return 1;
	}
	if (is_pair && pm.type == SB_PAIR_FAIL) {
		*rc = sb_error_set(err, SB_EIO, "%.*s", n == 2 ? (int)zmq_msg_size(&m[1]) : 0,
				   n == 2 ? (const char *)zmq_msg_data(&m[1]) : "");
		if (r->w->err.code)
			err->code = *rc = r->w->err.code;
		return 1;
	}
	if (n != 2 ||
	    sb_farm_hdr_unpack(zmq_msg_data(&m[0]), zmq_msg_size(&m[0]), &h, NULL) != SB_OK)
		return 0;
	*rc = worker_answer(r->stage, r->state, r->pair, &h, &m[1], &r->in, &r->we, r->st);
	return *rc != SB_OK;
}

/* Answers the farm's requests until it is idle, fails, or *stop is set. */
static int worker_loop(struct wrun *r, struct sb_error *err)
{
	const struct sb_worker_opts *o = r->w->o;
	int rc = SB_OK, end;

	while (!(o->stop && *o->stop)) {
		zmq_pollitem_t it[1] = { { r->pair, 0, ZMQ_POLLIN, 0 } };
		zmq_msg_t m[2];
		int n;

		if (zmq_poll(it, 1, 200) <= 0)
			continue;
		if (sb_zmq_recv_multi(r->pair, m, 2, &n) != 0)
			continue;
		end = worker_message(r, m, n, &rc, err);
		sb_zmq_close_multi(m, n, 2);
		if (end)
			return rc;
	}
	return SB_OK;
}

int sb_worker_run(const struct sb_stage *stage, const struct sb_kv *opts, size_t n_opts,
		  const struct sb_worker_opts *wo, struct sb_stats *st, struct sb_error *err)
{
	struct sb_worker_opts o = *wo;
	struct sb_stats st_local;
	struct wrun r = { .stage = stage, .we = { NULL, 0, 0 } };
	struct wio w;
	struct sb_stage_io io;
	pthread_t th;
	int rc, started = 0;
	double t0 = sb_zmq_now();

	if (st == NULL)
		st = &st_local;
	memset(st, 0, sizeof(*st));
	r.st = st;
	r.w = &w;
	worker_setup(&o, &w);
	if (o.connect == NULL)
		return sb_error_set(err, SB_EINVAL, "worker: no farm endpoint");
	if ((rc = sb_zmq_endpoint_parse(o.connect, 0, &w.ep, err)) != SB_OK)
		return rc;
	if (w.ep.bind)
		return sb_error_set(err, SB_EINVAL, "%s: a worker connects to its farm (use > or "
				    "no marker)", o.connect);
	worker_name(&w, &o);
	sb_frame_init(&r.in);
	if ((rc = sb_stage_check(stage, err)) != SB_OK ||
	    (rc = stage->open(&r.state, opts, n_opts, err)) != SB_OK)
		return rc;
	sb_stage_attach(stage, r.state, &io, &o.topts);
	sb_stage_report(stage, r.state, &o.report, 0);
	if ((w.ctx = sb_zmq_ctx_get(err)) == NULL) {
		sb_stage_report(stage, r.state, &o.report, 1);
		stage->close(r.state);
		return SB_EIO;
	}
	if ((rc = worker_probe(&w, &o, err)) != SB_OK)
		goto done;
	sb_zmq_event(&o.topts, SB_EVENT_INFO, "%s: waiting for a farm", o.connect);
	sb_zmq_inproc_name(w.addr, sizeof(w.addr), "worker");
	r.pair = zmq_socket(w.ctx, ZMQ_PAIR);
	if (r.pair == NULL || zmq_bind(r.pair, w.addr) != 0) {
		rc = sb_error_sys(err, SB_EIO, errno, "worker: inproc socket");
		goto done;
	}
	if (pthread_create(&th, NULL, wio_main, &w) != 0) {
		rc = sb_error_set(err, SB_EIO, "worker: cannot start a thread");
		goto done;
	}
	started = 1;
	rc = worker_loop(&r, err);
done:
	if (started) {
		__atomic_store_n(&w.quit, 1, __ATOMIC_RELEASE);
		sb_pair_send(r.pair, SB_PAIR_QUIT, 0, 0, 0, ZMQ_DONTWAIT);
		pthread_join(th, NULL);
	}
	sb_zmq_close(&r.pair, 0);
	for (size_t i = 0; i < r.we.cap; i++)
		sb_buf_destroy(&r.we.bufs[i]);
	free(r.we.bufs);
	sb_frame_destroy(&r.in);
	sb_stage_report(stage, r.state, &o.report, 1);
	stage->close(r.state);
	sb_zmq_ctx_put();
	st->seconds_total = sb_zmq_now() - t0;
	return rc;
}
