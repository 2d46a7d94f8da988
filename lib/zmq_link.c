/*
 * zmq_link.c - the transport backend behind -i/-o ZeroMQ endpoints: a direct link
 * between a writer and a reader.
 *
 * Both ends are DEALER sockets: the writer sends one sb frame per message, with small
 * high-water marks so a fast writer cannot fill memory, and the reader answers the
 * `end` frame with one "sb-end-ack" message; the writer's flush waits for it, so a
 * writer exits only once its reader has the whole stream.  A stream is complete only
 * with its `end` frame; the reader also checks that frame seqs follow each other (a
 * writer that restarted, or a second reader that took frames, shows as a gap) and
 * that `end` counts the rows it saw.  Socket monitors tell both sides when the peer
 * goes away: a writer then fails with SB_EPIPE (frames queued to a dead reader are
 * lost), a reader waits a grace period for the writer to come back and then reports
 * a cut stream.  Closing never waits more than SB_ZMQ_LINGER_MS, and not at all
 * after a signal.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "zmq_impl.h"

#define CUT_GRACE_MS 10000      /* reader: wait this long for a vanished writer */
#define DATA_HWM 8              /* messages queued per direct link */
#define ZT_ACK "sb-end-ack"     /* reader -> writer once `end` arrived */

/* ---- the transport backend ---- */

struct zt {
	void *ctx;
	void *sock;
	struct sb_zmq_monitor mon;
	zmq_msg_t msg;
	int have_msg;
	int timeout_ms;
	uint64_t rows_seen, frames;
	int got_end, sent_end, acked;
	uint64_t n_zero_at_start;       /* writer: monitor n_zero when the first frame left */
	double lost_at;         /* reader: when the last writer went away, or 0 */
	volatile int *stop;     /* a signal set it: return SB_EINTR */
	size_t max_bytes;       /* reader: --max-msg-bytes */
	int told_wait;          /* "waiting for a peer" was reported */
	struct sb_transport_opts opts;  /* copy: the monitor's event function */
};

/* Under -v: says once that this side waits for its peer, so a link that never
 * comes up does not look like a program that hangs for no reason. */
static void zt_tell_wait(struct sb_transport *t, const char *what)
{
	struct zt *z = t->impl;

	if (z->told_wait || z->mon.n_handshakes > 0)
		return;
	z->told_wait = 1;
	sb_zmq_event(&z->opts, SB_EVENT_INFO, "%s: waiting for %s", t->spec, what);
}

static int zt_stopped(const struct zt *z)
{
	return z->stop != NULL && *z->stop;
}

static int zt_pump_monitor(struct zt *z)
{
	sb_zmq_monitor_drain(&z->mon);
	return z->mon.n_peers;
}

static int zt_recv(struct sb_transport *t, const unsigned char **msg, size_t *len,
		   struct sb_error *err)
{
	struct zt *z = t->impl;
	double start = sb_zmq_now();

	if (z->have_msg) {
		zmq_msg_close(&z->msg);
		z->have_msg = 0;
	}
	if (z->got_end)
		return SB_EOF;
	for (;;) {
		zmq_pollitem_t it[2] = {
			{ z->sock, 0, ZMQ_POLLIN, 0 },
			{ z->mon.pair, 0, ZMQ_POLLIN, 0 },
		};
		if (zt_stopped(z))
			return sb_error_set(err, SB_EINTR, "%s: interrupted", t->spec);
		int rc = zmq_poll(it, 2, 200);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			return sb_error_set(err, SB_EIO, "%s: poll: %s", t->spec, zmq_strerror(errno));
		}
		double now = sb_zmq_now();
		if (zt_pump_monitor(z) > 0)
			z->lost_at = 0;
		else if (z->frames > 0 && z->mon.had_peer && z->lost_at == 0)
			z->lost_at = now;
		if (z->frames == 0 && !(it[0].revents & ZMQ_POLLIN))
			zt_tell_wait(t, "a writer");
		if (it[0].revents & ZMQ_POLLIN) {
			zmq_msg_init(&z->msg);
			if (zmq_msg_recv(&z->msg, z->sock, ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(&z->msg);
				if (errno == EAGAIN || errno == EINTR)
					continue;
				return sb_error_set(err, SB_EIO, "%s: recv: %s", t->spec,
						    zmq_strerror(errno));
			}
			z->have_msg = 1;
			if (zmq_msg_more(&z->msg)) {
				/* Drain the rest so the socket stays usable, then refuse. */
				while (zmq_msg_more(&z->msg)) {
					zmq_msg_close(&z->msg);
					zmq_msg_init(&z->msg);
					zmq_msg_recv(&z->msg, z->sock, 0);
				}
				return sb_error_set(err, SB_EFORMAT,
						    "%s: message %" PRIu64 " has several parts; "
						    "a stream carries one frame per message",
						    t->spec, z->frames);
			}
			const unsigned char *d = zmq_msg_data(&z->msg);
			size_t n = zmq_msg_size(&z->msg);
			struct sb_frame_head pk;
			if (n > z->max_bytes)
				return sb_error_set(err, SB_ELIMIT, "%s: message %" PRIu64 " of %zu "
						    "bytes, over the limit of %zu (--max-msg-bytes)",
						    t->spec, z->frames, n, z->max_bytes);
			/*
			 * The stream's rules (seq, rows_total, a cut) are the reader's
			 * (reader.c), which every consumer of a link reads through.  The
			 * link itself only needs to see the end frame, to acknowledge it
			 * (the writer then closes without losing it) and to end the
			 * input; it counts rows for its own message when the writer goes
			 * away.  Malformed frames are the decoder's to report.
			 */
			if (sb_frame_peek(d, n, &pk, NULL) == SB_OK) {
				if (pk.kind == SB_KIND_END) {
					z->got_end = 1;
					zmq_send(z->sock, ZT_ACK, sizeof(ZT_ACK) - 1, ZMQ_DONTWAIT);
				} else {
					z->rows_seen += pk.rows;
				}
			}
			t->offset = t->n_bytes;
			t->n_msgs++;
			t->n_bytes += n;
			z->frames++;
			*msg = d;
			*len = n;
			return SB_OK;
		}
		if (z->lost_at > 0 && now - z->lost_at > CUT_GRACE_MS / 1000.0)
			return sb_error_set(err, SB_ETRUNCATED,
					    "%s: the writer went away after %" PRIu64 " frames (%"
					    PRIu64 " rows) without an end frame", t->spec, z->frames,
					    z->rows_seen);
		if (z->timeout_ms >= 0 && (now - start) * 1000 > z->timeout_ms)
			return sb_error_set(err, SB_ETIMEOUT, "%s: nothing received for %d ms",
					    t->spec, z->timeout_ms);
	}
}

static int zt_send(struct sb_transport *t, const void *msg, size_t len, struct sb_error *err)
{
	struct zt *z = t->impl;
	double start = sb_zmq_now();
	struct sb_frame_head pk;

	for (;;) {
		/* Once a reader that took frames has gone, whatever it had queued is lost
		 * and a new reader would see a stream with a hole: fail, as a pipe would. */
		zt_pump_monitor(z);
		if (z->frames > 0 && z->mon.n_zero > z->n_zero_at_start)
			return sb_error_set(err, SB_EPIPE,
					    "%s: the reader went away after %" PRIu64 " frames",
					    t->spec, z->frames);
		if (zt_stopped(z))
			return sb_error_set(err, SB_EINTR, "%s: interrupted", t->spec);
		if (zmq_send(z->sock, msg, len, ZMQ_DONTWAIT) >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return sb_error_set(err, SB_EIO, "%s: send: %s", t->spec, zmq_strerror(errno));
		zt_tell_wait(t, "a reader");
		zmq_pollitem_t it[2] = {
			{ z->sock, 0, ZMQ_POLLOUT, 0 },
			{ z->mon.pair, 0, ZMQ_POLLIN, 0 },
		};
		zmq_poll(it, 2, 200);
		if (z->timeout_ms >= 0 && (sb_zmq_now() - start) * 1000 > z->timeout_ms)
			return sb_error_set(err, SB_ETIMEOUT, "%s: no reader took a frame for %d ms",
					    t->spec, z->timeout_ms);
	}
	if (sb_frame_peek(msg, len, &pk, NULL) == SB_OK && pk.kind == SB_KIND_END)
		z->sent_end = 1;
	if (z->frames == 0)
		z->n_zero_at_start = z->mon.n_zero;
	z->frames++;
	t->n_msgs++;
	t->n_bytes += len;
	return SB_OK;
}

/*
 * After the `end` frame, waits for the reader's acknowledgement: the reader sends it
 * once it has received `end`, so every frame has reached it and the writer may exit
 * (a writer exiting earlier can lose the frames still in the socket buffers: libzmq
 * 4.3 drops unread ipc data when the peer closes).
 */
static int zt_flush(struct sb_transport *t, struct sb_error *err)
{
	struct zt *z = t->impl;
	double start = sb_zmq_now();
	int told = 0;

	if (t->mode != SB_TRANSPORT_WRITE || !z->sent_end || z->acked)
		return SB_OK;
	for (;;) {
		/* The acknowledgement first: a reader may leave right after sending it. */
		char ack[16];
		int n = zmq_recv(z->sock, ack, sizeof(ack), ZMQ_DONTWAIT);
		if (n == (int)sizeof(ZT_ACK) - 1 && memcmp(ack, ZT_ACK, sizeof(ZT_ACK) - 1) == 0) {
			z->acked = 1;
			return SB_OK;
		}
		if (n >= 0)
			continue;       /* anything else from a reader is ignored */
		zt_pump_monitor(z);
		if (z->mon.n_zero > z->n_zero_at_start) {
			/* Messages that arrived before the disconnect are still readable. */
			n = zmq_recv(z->sock, ack, sizeof(ack), ZMQ_DONTWAIT);
			if (n == (int)sizeof(ZT_ACK) - 1 &&
			    memcmp(ack, ZT_ACK, sizeof(ZT_ACK) - 1) == 0) {
				z->acked = 1;
				return SB_OK;
			}
			return sb_error_set(err, SB_EPIPE, "%s: the reader went away after %" PRIu64
					    " frames, before confirming the end", t->spec, z->frames);
		}
		if (zt_stopped(z))
			return sb_error_set(err, SB_EINTR, "%s: interrupted", t->spec);
		if (!told) {
			told = 1;
			sb_zmq_event(&z->opts, SB_EVENT_INFO, "%s: the end frame is queued; waiting "
				   "for the reader to confirm it", t->spec);
		}
		zmq_pollitem_t it[2] = {
			{ z->sock, 0, ZMQ_POLLIN, 0 },
			{ z->mon.pair, 0, ZMQ_POLLIN, 0 },
		};
		zmq_poll(it, 2, 200);
		if (z->timeout_ms >= 0 && (sb_zmq_now() - start) * 1000 > z->timeout_ms)
			return sb_error_set(err, SB_ETIMEOUT, "%s: the reader did not confirm the "
					    "end within %d ms", t->spec, z->timeout_ms);
	}
}

static void zt_close(struct sb_transport *t)
{
	struct zt *z = t->impl;

	if (z == NULL)
		return;
	if (z->have_msg)
		zmq_msg_close(&z->msg);
	/*
	 * Linger, bounded whoever is at the other end (an unbounded one kept a writer
	 * whose reader never came in zmq_ctx_term for good, signals or not).  A reader
	 * lets its acknowledgement of `end` leave.  A writer that stopped early on an
	 * error lets its whole frames reach a reader that is there or has yet to come,
	 * not one that went away; after a signal nothing waits.
	 */
	int linger = 0;
	if (zt_stopped(z)) {
		linger = 0;
	} else if (t->mode == SB_TRANSPORT_READ) {
		linger = z->got_end ? SB_ZMQ_LINGER_MS : 0;
	} else {
		zt_pump_monitor(z);
		if (!z->acked && (z->mon.n_zero == z->n_zero_at_start || z->frames == 0))
			linger = SB_ZMQ_LINGER_MS;
	}
	sb_zmq_monitor_stop(z->sock, &z->mon);
	sb_zmq_close(&z->sock, linger);
	free(z);
	t->impl = NULL;
	sb_zmq_ctx_put();
}

static const struct sb_transport_ops zt_ops = {
	.name = "zmq",
	.recv = zt_recv,
	.send = zt_send,
	.flush = zt_flush,
	.close = zt_close,
};

static int zt_open(struct sb_transport **out, const char *spec, enum sb_transport_mode mode,
		   const struct sb_transport_opts *opts, struct sb_error *err)
{
	struct sb_zmq_endpoint ep;
	struct sb_transport *t = NULL;
	struct zt *z = NULL;
	int rc, reading = mode == SB_TRANSPORT_READ;

	*out = NULL;
	if ((rc = sb_zmq_endpoint_parse(spec, -1, &ep, err)) != SB_OK)
		return rc;
	t = calloc(1, sizeof(*t));
	z = calloc(1, sizeof(*z));
	if (t == NULL || z == NULL || (t->spec = strdup(spec)) == NULL) {
		free(t);
		free(z);
		return sb_error_set(err, SB_ENOMEM, "%s: out of memory", spec);
	}
	t->ops = &zt_ops;
	t->mode = mode;
	t->impl = z;
	z->timeout_ms = opts ? opts->timeout_ms : -1;
	if (opts && opts->timeout_ms == 0)
		z->timeout_ms = -1;
	z->stop = opts ? opts->stop : NULL;
	z->max_bytes = sb_zmq_max_msg_bytes(opts);
	if (opts)
		z->opts = *opts;
	if ((z->ctx = sb_zmq_ctx_get(err)) == NULL) {
		free(t->spec);
		free(t);
		free(z);
		return SB_EIO;
	}
	/* DEALER on both ends: frames one way, like PUSH/PULL, and the reader's
	 * acknowledgement of `end` the other way. */
	z->sock = zmq_socket(z->ctx, ZMQ_DEALER);
	if (z->sock == NULL) {
		rc = sb_error_sys(err, SB_EIO, errno, "%s: zmq socket", spec);
		goto fail;
	}
	int hwm = DATA_HWM, hb = 1000, hbt = 10000;
	zmq_setsockopt(z->sock, reading ? ZMQ_RCVHWM : ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(z->sock, ZMQ_HEARTBEAT_IVL, &hb, sizeof(hb));
	zmq_setsockopt(z->sock, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof(hbt));
	/* No ZMQ_IMMEDIATE on the writer: with it, libzmq drops the unread messages of
	 * a connection that closes, and the reader's end acknowledgement with them. */
	if ((rc = sb_zmq_prepare(z->ctx, z->sock, &ep, 1, opts, spec, err)) != SB_OK)
		goto fail;
	if (!reading) {
		/* A writer only ever receives acknowledgements, but its limit must let the
		 * handshake in: as a CurveZMQ server (it binds), 256 bytes refused the
		 * client's INITIATE and the link never came up. */
		int64_t small = HANDSHAKE_MIN_BYTES;
		zmq_setsockopt(z->sock, ZMQ_MAXMSGSIZE, &small, sizeof(small));
	}
	if ((rc = sb_zmq_monitor_start(z->ctx, z->sock, &z->mon, &z->opts, t->spec, ep.bind,
				reading ? "writer" : "reader", err)) != SB_OK)
		goto fail;
	if ((rc = sb_zmq_attach(z->sock, &ep, spec, err)) != SB_OK)
		goto fail;
	*out = t;
	return SB_OK;
fail:
	sb_zmq_monitor_stop(z->sock, &z->mon);
	sb_zmq_close(&z->sock, 0);
	free(z);
	free(t->spec);
	free(t);
	sb_zmq_ctx_put();
	return rc;
}

void sb_zmq_init(void)
{
	sb_transport_zmq_open = zt_open;
}
