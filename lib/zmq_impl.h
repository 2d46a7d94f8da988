/*
 * zmq_impl.h - what the ZeroMQ files of libsb share (private: not installed).
 *
 *   zmq_ctx.c      the process's context and its ZAP handler (CurveZMQ allow-lists)
 *   zmq_keys.c     key files: parsing, loading, key pairs, allow-list files
 *   zmq_sock.c     endpoints, socket options and security, socket monitors,
 *                  multipart messages
 *   zmq_link.c     the transport backend behind -i/-o endpoints (direct links)
 *   farm_broker.c  the farm: hands frames to workers, puts results back in order
 *   farm_worker.c  a farm worker: runs a stage on the frames the farm hands it
 *
 * Only these files include <zmq.h>; the farm's bookkeeping is in farm.c.
 */
#ifndef SB_ZMQ_IMPL_H
#define SB_ZMQ_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "errors.h"
#include "farm.h"
#include "internal.h"
#include "transport.h"

/*
 * The least ZMQ_MAXMSGSIZE of any socket.  libzmq applies that limit to the
 * handshake's commands too, and a CurveZMQ client's INITIATE is about 300 bytes
 * (more with metadata), so a smaller limit drops every connection in the middle of
 * its handshake and both sides wait for ever.  A --max-msg-bytes below this is
 * checked on each message instead.
 */
#define HANDSHAKE_MIN_BYTES 4096

/* ---- the context (zmq_ctx.c) ---- */

/* The process's one context, counted: the last put terminates it (and the ZAP
 * handler); every socket's linger is bounded, so that ends. */
void *sb_zmq_ctx_get(struct sb_error *err);
void sb_zmq_ctx_put(void);
/* A fresh inproc:// address: "inproc://sb-WHAT-PID-N". */
void sb_zmq_inproc_name(char *buf, size_t cap, const char *what);
/* Registers the allow-list file under a new ZAP domain (written to domain) and
 * starts the ZAP handler on first use. */
int sb_zmq_allow_register(void *ctx, const char *path, char domain[32],
			  struct sb_error *err);

/* ---- sockets (zmq_sock.c) ---- */

/* Seconds on the monotonic clock. */
double sb_zmq_now(void);
/* One line about a link for the user, when the caller asked for them (o->event). */
void sb_zmq_event(const struct sb_transport_opts *o, int level, const char *fmt, ...)
__attribute__((format(printf, 3, 4)));
/* The caller's --max-msg-bytes, or the default. */
size_t sb_zmq_max_msg_bytes(const struct sb_transport_opts *o);
/* Closes *s (if any) with the given linger and sets it to NULL. */
void sb_zmq_close(void **s, int linger);

struct sb_zmq_endpoint {
	int bind;
	const char *addr;       /* without the marker */
	int tcp;
};


/*
 * A socket monitor on inproc, read with DONTWAIT: counts live connections and
 * reports handshakes.  A handshake that fails (a key not on the allow-list, the
 * wrong server key, keys on one side only) leaves both programs waiting for a peer
 * that never arrives; each kind of failure is reported once per socket, as a
 * warning, through the caller's event function.
 */
struct sb_zmq_monitor {
	void *pair;
	int n_peers;
	int had_peer;
	uint64_t n_events;
	uint64_t n_zero;        /* times the count of peers fell to zero */
	uint64_t n_handshakes;  /* handshakes that succeeded */
	const struct sb_transport_opts *o;      /* event function; borrowed */
	const char *spec;       /* the endpoint, for messages; borrowed */
	const char *peer;       /* "reader", "writer", "farm": reports a handshake done */
	int server;             /* the binding side, CurveZMQ server when keys are given */
	uint32_t told[8];       /* failures already reported: event << 16 ^ value */
	int n_told;
};

/* "@addr" binds, ">addr" connects; default_bind is the role without a marker (1 bind,
 * 0 connect, -1 a marker is needed).  tcp://, ipc:// and inproc:// only. */
int sb_zmq_endpoint_parse(const char *spec, int default_bind,
			  struct sb_zmq_endpoint *ep, struct sb_error *err);
/* Security and limits before bind/connect (see zmq_sock.c). */
int sb_zmq_prepare(void *ctx, void *s, const struct sb_zmq_endpoint *ep, int receiving,
		   const struct sb_transport_opts *o, const char *spec,
			  struct sb_error *err);
int sb_zmq_attach(void *s, const struct sb_zmq_endpoint *ep, const char *spec,
			  struct sb_error *err);
/* A monitor on s: connections, handshakes and why one failed (told once per kind
 * through o->event).  Drain it when its pair is readable. */
int sb_zmq_monitor_start(void *ctx, void *s, struct sb_zmq_monitor *m,
			 const struct sb_transport_opts *o, const char *spec, int server,
			 const char *peer, struct sb_error *err);
void sb_zmq_monitor_drain(struct sb_zmq_monitor *m);
void sb_zmq_monitor_stop(void *s, struct sb_zmq_monitor *m);

/* Multipart messages of the farm: an optional routing identity, then a header. */
int sb_zmq_send_hdr(void *s, const void *ident, size_t ident_len,
		    const struct sb_farm_hdr *h, int more);
int sb_zmq_recv_multi(void *s, zmq_msg_t *msgs, int max, int *n);
void sb_zmq_close_multi(zmq_msg_t *msgs, int n, int max);
/*
 * Messages between a loop and its own threads over an inproc PAIR (the farm and its
 * input and output pumps; a worker and its I/O thread).  The first part is a header
 * of SB_PAIR_HDR_SIZE bytes: the type, then two 64-bit words a and b whose meaning the
 * type gives; what follows (a frame, frames, a message) comes as further parts.  The
 * farm protocol's own headers (32 bytes, with a magic) never have this size.
 */
enum sb_pair_type {
	SB_PAIR_GRANT = 'G',    /* loop -> input: read one more frame */
	SB_PAIR_FRAME = 'F',    /* input -> loop: a frame (a = seq, b = rows) follows */
	SB_PAIR_END = 'E',      /* input -> loop: the end frame (a = rows_total) was read;
				 * loop -> output: the end frame to write follows */
	SB_PAIR_DATA = 'D',     /* loop -> output: the frames to write follow */
	SB_PAIR_WRITTEN = 'A',  /* output -> loop: the frames of one DATA are written */
	SB_PAIR_FLUSHED = 'W',  /* output -> loop: the end frame is written and flushed */
	SB_PAIR_FAIL = 'X',     /* thread -> loop: failed (a = status); the message follows */
	SB_PAIR_IDLE = 'I',     /* worker I/O -> worker: no farm for --max-idle */
	SB_PAIR_QUIT = 'Q',     /* loop -> thread: stop */
};
#define SB_PAIR_HDR_SIZE 17
struct sb_pair_msg {
	enum sb_pair_type type;
	uint64_t a, b;
};
/* Sends a header; more: further parts follow.  Returns 0, or -1 (errno set). */
int sb_pair_send(void *s, enum sb_pair_type type, uint64_t a, uint64_t b, int more,
		 int flags);
/* Sends SB_PAIR_FAIL with status code and the message text. */
void sb_pair_fail(void *s, int code, const char *msg);
/* Decodes a pair header; -1 when m is not one (e.g. a farm protocol message). */
int sb_pair_decode(const zmq_msg_t *m, struct sb_pair_msg *out);
/* The status code of an SB_PAIR_FAIL header. */
static inline int sb_pair_code(const struct sb_pair_msg *m)
{
	return (int)(int64_t)m->a;
}

#endif
