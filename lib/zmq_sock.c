/*
 * zmq_sock.c - what every ZeroMQ socket of libsb goes through: endpoints ('@' binds,
 * '>' connects), limits and CurveZMQ security before bind or connect (plain text
 * only on loopback unless --insecure), socket monitors that tell a side its peer
 * came or went and why a handshake failed (both sides would otherwise wait in
 * silence), and the multipart messages of the farm.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frame.h"
#include "zmq_impl.h"

double sb_zmq_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sb_zmq_event(const struct sb_transport_opts *o, int level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (o == NULL || o->event == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	o->event(o->event_ctx, level, line);
}

/* The ZMQ_MAXMSGSIZE of a receiving socket: the caller's limit, raised to what a
 * handshake needs; the caller's own limit is then checked per message. */
size_t sb_zmq_max_msg_bytes(const struct sb_transport_opts *o)
{
	return o && o->max_msg_bytes ? o->max_msg_bytes : SB_FRAME_DEFAULT_MAX_BYTES;
}

void sb_zmq_close(void **s, int linger)
{
	if (*s == NULL)
		return;
	zmq_setsockopt(*s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_close(*s);
	*s = NULL;
}

/* ---- endpoints and socket options ---- */

/* default_bind: the role without a marker, 1 bind, 0 connect, -1 a marker is needed. */
int sb_zmq_endpoint_parse(const char *spec, int default_bind, struct sb_zmq_endpoint *ep,
			  struct sb_error *err)
{
	ep->bind = default_bind;
	ep->addr = spec;
	if (*spec == '@') {
		ep->bind = 1;
		ep->addr = spec + 1;
	} else if (*spec == '>') {
		ep->bind = 0;
		ep->addr = spec + 1;
	} else if (default_bind < 0) {
		return sb_error_set(err, SB_EINVAL, "%s: a ZeroMQ endpoint needs @ to bind or > "
				    "to connect", spec);
	}
	ep->tcp = strncmp(ep->addr, "tcp://", 6) == 0;
	if (!ep->tcp && strncmp(ep->addr, "ipc://", 6) != 0 &&
	    strncmp(ep->addr, "inproc://", 9) != 0)
		return sb_error_set(err, SB_EINVAL,
				    "%s: not a ZeroMQ endpoint (@ or > then tcp://, ipc:// or inproc://)",
				    spec);
	return SB_OK;
}

/* Loopback hosts only: 127.x.x.x, localhost, ::1.  "*" binds every interface. */
static int is_loopback(const char *addr)
{
	const char *h = addr + 6, *e;
	size_t n;

	if (*h == '[') {
		e = strchr(h, ']');
		return e != NULL && (size_t)(e - h) == 4 && memcmp(h, "[::1", 4) == 0;
	}
	e = strrchr(h, ':');
	n = e ? (size_t)(e - h) : strlen(h);
	if (n == 9 && memcmp(h, "localhost", 9) == 0)
		return 1;
	return n >= 4 && memcmp(h, "127.", 4) == 0;
}

/*
 * Applies security and limits to a socket before bind/connect.  receiving: sets
 * ZMQ_MAXMSGSIZE.  Binding sides are CURVE servers and need an allow-list;
 * connecting sides present their key pair and need the server's public key.
 */
int sb_zmq_prepare(void *ctx, void *s, const struct sb_zmq_endpoint *ep, int receiving,
			const struct sb_transport_opts *o, const char *spec, struct sb_error *err)
{
	int rc;

	if (receiving) {
		size_t limit = sb_zmq_max_msg_bytes(o);
		int64_t max = (int64_t)(limit > HANDSHAKE_MIN_BYTES ? limit : HANDSHAKE_MIN_BYTES);
		zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof(max));
	}
	int curve = o && o->curve_secret;
	if (!curve) {
		if (o && (o->curve_server || o->allow_file))
			return sb_error_set(err, SB_EINVAL,
					    "%s: --curve-server and --curve-allow need --curve-secret",
					    spec);
		if (ep->tcp && !is_loopback(ep->addr) && !(o && o->insecure))
			return sb_error_set(err, SB_EINVAL,
					    "%s: plain text on a non-loopback address: give CurveZMQ "
					    "keys (--curve-secret ...) or --insecure", spec);
		return SB_OK;
	}
	if (!zmq_has("curve"))
		return sb_error_set(err, SB_EUNSUPPORTED, "%s: libzmq was built without CURVE",
				    spec);
	char pub[41], sec[41];
	if ((rc = sb_zmq_key_load(o->curve_secret, 1, pub, sec, err)) != SB_OK)
		return sb_error_prefix(err, "%s: --curve-secret: ", spec);
	if (ep->bind) {
		char domain[32];
		int one = 1;
		if (o->allow_file == NULL)
			return sb_error_set(err, SB_EINVAL,
					    "%s: a CurveZMQ server needs --curve-allow FILE (the "
					    "public keys of the clients it accepts)", spec);
		if ((rc = sb_zmq_allow_register(ctx, o->allow_file, domain, err)) != SB_OK)
			return sb_error_prefix(err, "%s: --curve-allow: ", spec);
		zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, domain, strlen(domain));
		zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof(one));
		zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40);
	} else {
		char spub[41], unused[41];
		if (o->curve_server == NULL)
			return sb_error_set(err, SB_EINVAL,
					    "%s: a CurveZMQ client needs --curve-server KEY (the "
					    "server's public key)", spec);
		if ((rc = sb_zmq_key_load(o->curve_server, 0, spub, unused, err)) != SB_OK)
			return sb_error_prefix(err, "%s: --curve-server: ", spec);
		zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, spub, 40);
		zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40);
		zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40);
	}
	memset(sec, 0, sizeof(sec));
	return SB_OK;
}

int sb_zmq_attach(void *s, const struct sb_zmq_endpoint *ep, const char *spec, struct sb_error *err)
{
	int rc = ep->bind ? zmq_bind(s, ep->addr) : zmq_connect(s, ep->addr);

	if (rc != 0)
		return sb_error_set(err, SB_EIO, "%s: cannot %s: %s", spec,
				    ep->bind ? "bind" : "connect", zmq_strerror(errno));
	return SB_OK;
}
int sb_zmq_monitor_start(void *ctx, void *s, struct sb_zmq_monitor *m,
			 const struct sb_transport_opts *o, const char *spec, int server,
			 const char *peer, struct sb_error *err)
{
	char addr[96];

	memset(m, 0, sizeof(*m));
	m->o = o;
	m->spec = spec;
	m->server = server;
	m->peer = peer;
	sb_zmq_inproc_name(addr, sizeof(addr), "mon");
	if (zmq_socket_monitor(s, addr, ZMQ_EVENT_CONNECTED | ZMQ_EVENT_ACCEPTED |
			       ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
			       ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
			       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
			       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
		return sb_error_sys(err, SB_EIO, errno, "zmq: socket monitor");
	m->pair = zmq_socket(ctx, ZMQ_PAIR);
	if (m->pair == NULL || zmq_connect(m->pair, addr) != 0)
		return sb_error_sys(err, SB_EIO, errno, "zmq: socket monitor");
	return SB_OK;
}

/* Says why a handshake failed, in the words of the options that fix it. */
static void monitor_report(struct sb_zmq_monitor *m, uint16_t ev, uint32_t value)
{
	uint32_t key = ((uint32_t)ev << 16) ^ value;
	const char *curve = m->o && m->o->curve_secret ? "CurveZMQ" : "plain text";

	for (int i = 0; i < m->n_told; i++)
		if (m->told[i] == key)
			return;
	if (m->n_told < (int)(sizeof(m->told) / sizeof(m->told[0])))
		m->told[m->n_told++] = key;
	if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && m->server)
		sb_zmq_event(m->o, SB_EVENT_WARN, "%s: refused a client whose public key is not in "
			   "--curve-allow (ZAP status %u)", m->spec, (unsigned)value);
	else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
		sb_zmq_event(m->o, SB_EVENT_WARN, "%s: the server refused this side's key: its "
			   "public key is not in the server's --curve-allow (ZAP status %u)",
			   m->spec, (unsigned)value);
	else if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
		sb_zmq_event(m->o, SB_EVENT_WARN, "%s: handshake failed: this side uses %s, the "
			   "peer %s (give CurveZMQ keys to both sides or to neither)", m->spec,
			   curve, m->o && m->o->curve_secret ? "plain text" : "CurveZMQ");
	else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
		 value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC && m->server)
		sb_zmq_event(m->o, SB_EVENT_WARN, "%s: a client's CurveZMQ handshake failed: its "
			   "--curve-server is not this side's public key", m->spec);
	else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
		sb_zmq_event(m->o, SB_EVENT_WARN, "%s: handshake failed: ZMTP protocol violation "
			   "0x%08x", m->spec, (unsigned)value);
	else if (m->o && m->o->curve_secret && !m->server)
		sb_zmq_event(m->o, SB_EVENT_WARN, "%s: CurveZMQ handshake failed (%s): the server "
			   "closed the connection; is --curve-server its public key?", m->spec,
			   zmq_strerror((int)value));
	else if (m->o && m->o->curve_secret)
		sb_zmq_event(m->o, SB_EVENT_WARN, "%s: a client's handshake failed (%s): it closed "
			   "the connection; has it CurveZMQ keys?", m->spec,
			   zmq_strerror((int)value));
	else
		sb_zmq_event(m->o, SB_EVENT_WARN, "%s: handshake failed (%s): the peer closed the "
			   "connection; does it use CurveZMQ keys?", m->spec,
			   zmq_strerror((int)value));
}

void sb_zmq_monitor_drain(struct sb_zmq_monitor *m)
{
	for (;;) {
		zmq_msg_t a, b;
		zmq_msg_init(&a);
		if (zmq_msg_recv(&a, m->pair, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&a);
			return;
		}
		if (zmq_msg_more(&a)) {
			zmq_msg_init(&b);
			zmq_msg_recv(&b, m->pair, 0);
			zmq_msg_close(&b);
		}
		if (zmq_msg_size(&a) >= 6) {
			/* libzmq writes the event and its value in host byte order. */
			uint16_t ev;
			uint32_t value;
			memcpy(&ev, zmq_msg_data(&a), 2);
			memcpy(&value, (const char *)zmq_msg_data(&a) + 2, 4);
			if (ev == ZMQ_EVENT_CONNECTED || ev == ZMQ_EVENT_ACCEPTED) {
				m->n_peers++;
				m->had_peer = 1;
			} else if (ev == ZMQ_EVENT_DISCONNECTED && m->n_peers > 0) {
				if (--m->n_peers == 0)
					m->n_zero++;
			} else if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
				if (m->n_handshakes++ == 0 && m->peer != NULL)
					sb_zmq_event(m->o, SB_EVENT_INFO, "%s: %s connected (%s)",
						   m->spec, m->peer, m->o && m->o->curve_secret
						   ? "CurveZMQ" : "plain text");
			} else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
				   ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
				   ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
				monitor_report(m, ev, value);
			}
			m->n_events++;
		}
		zmq_msg_close(&a);
	}
}

void sb_zmq_monitor_stop(void *s, struct sb_zmq_monitor *m)
{
	if (m->pair == NULL)
		return;
	zmq_socket_monitor(s, NULL, 0);
	sb_zmq_close(&m->pair, 0);
}

/* ---- multipart helpers ---- */

/* zmq_send, again when a signal interrupted it (libzmq can return EINTR even for a
 * send that would not wait): a part of a multipart message left out would glue the
 * next message to this one. */
static int send_retry(void *s, const void *p, size_t n, int flags)
{
	int rc;

	while ((rc = zmq_send(s, p, n, flags)) < 0 && errno == EINTR)
		;
	return rc;
}

int sb_zmq_send_hdr(void *s, const void *ident, size_t ident_len, const struct sb_farm_hdr *h,
		    int more)
{
	unsigned char b[SB_FARM_HDR_SIZE];

	sb_farm_hdr_pack(h, b);
	if (ident != NULL && send_retry(s, ident, ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
		return -1;
	return send_retry(s, b, sizeof(b), (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

/* Receives all parts of one message (DONTWAIT) into msgs[0..*n); parts past max are
 * dropped and *n is set to max + 1 so the caller can refuse the message. */
int sb_zmq_recv_multi(void *s, zmq_msg_t *msgs, int max, int *n)
{
	int k = 0, more = 1;

	while (more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s, k == 0 ? ZMQ_DONTWAIT : 0) < 0) {
			zmq_msg_close(&m);
			if (k == 0)
				return -1;
			break;
		}
		more = zmq_msg_more(&m);
		if (k < max)
			msgs[k++] = m;
		else {
			zmq_msg_close(&m);
			k = max + 1;
		}
	}
	*n = k;
	return 0;
}

void sb_zmq_close_multi(zmq_msg_t *msgs, int n, int max)
{
	for (int i = 0; i < n && i < max; i++)
		zmq_msg_close(&msgs[i]);
}

int sb_pair_send(void *s, enum sb_pair_type type, uint64_t a, uint64_t b, int more, int flags)
{
	unsigned char h[SB_PAIR_HDR_SIZE];

	h[0] = (unsigned char)type;
	memcpy(h + 1, &a, 8);
	memcpy(h + 9, &b, 8);
	return send_retry(s, h, sizeof(h), flags | (more ? ZMQ_SNDMORE : 0)) < 0 ? -1 : 0;
}

void sb_pair_fail(void *s, int code, const char *msg)
{
	if (sb_pair_send(s, SB_PAIR_FAIL, (uint64_t)(int64_t)code, 0, 1, 0) == 0)
		send_retry(s, msg, strlen(msg), 0);
}

int sb_pair_decode(const zmq_msg_t *m, struct sb_pair_msg *out)
{
	const unsigned char *h = zmq_msg_data((zmq_msg_t *)m);

	if (zmq_msg_size((zmq_msg_t *)m) != SB_PAIR_HDR_SIZE)
		return -1;
	switch (h[0]) {
	case SB_PAIR_GRANT: case SB_PAIR_FRAME: case SB_PAIR_END: case SB_PAIR_DATA:
	case SB_PAIR_WRITTEN: case SB_PAIR_FLUSHED: case SB_PAIR_FAIL: case SB_PAIR_IDLE:
	case SB_PAIR_QUIT:
		break;
	default:
		return -1;
	}
	out->type = (enum sb_pair_type)h[0];
	memcpy(&out->a, h + 1, 8);
	memcpy(&out->b, h + 9, 8);
	return 0;
}

void sb_zmq_version(int *major, int *minor, int *patch)
{
	zmq_version(major, minor, patch);
}
