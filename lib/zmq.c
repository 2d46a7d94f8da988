/*
 * zmq.c - everything that talks ZeroMQ: the transport backend behind -i/-o
 * endpoints, CurveZMQ keys and the ZAP allow-list handler, and the socket side of
 * the farm (broker loop) and of farm workers.  This is the only file that includes
 * <zmq.h>; the farm's bookkeeping is in farm.c.
 *
 * Direct links use DEALER sockets on both ends: the writer sends one sb frame per
 * message, with small high-water marks so a fast writer cannot fill memory, and the
 * reader answers the `end` frame with one "sb-end-ack" message; the writer's flush
 * waits for it, so a writer exits only once its reader has the whole stream.  A stream is complete
 * only with its `end` frame; the reader also checks that frame seqs follow each other
 * (a writer that restarted, or a second reader that took frames, shows as a gap) and
 * that `end` counts the rows it saw.  Socket monitors tell both sides when the peer
 * goes away: a writer then fails with SB_EPIPE (frames queued to a dead reader are
 * lost), a reader waits a grace period for the writer to come back and then reports
 * a cut stream.  The monitors also report handshakes that fail (bad keys) through
 * the caller's event function, since both sides would otherwise wait in silence.
 * Either side says which it is ('@' binds, '>' connects); closing a socket never
 * waits more than SB_ZMQ_LINGER_MS, and not at all after a signal.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "farm.h"
#include "frame.h"
#include "internal.h"
#include "transport.h"

#define CUT_GRACE_MS 10000      /* reader: wait this long for a vanished writer */
#define DATA_HWM 8              /* messages queued per direct link */
#define KEY_FILE_MAX 65536
#define ZT_ACK "sb-end-ack"     /* reader -> writer once `end` arrived */
/*
 * The least ZMQ_MAXMSGSIZE of any socket.  libzmq applies that limit to the
 * handshake's commands too, and a CurveZMQ client's INITIATE is about 300 bytes
 * (more with metadata), so a smaller limit drops every connection in the middle of
 * its handshake and both sides wait for ever.  A --max-msg-bytes below this is
 * checked on each message instead.
 */
#define HANDSHAKE_MIN_BYTES 4096

/* ---- context, shared by every socket of the process ---- */

struct allow_entry {
	char domain[32];
	unsigned char (*keys)[32];
	size_t n;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_ctx;
static int g_refs;
static int g_zap_running;
static pthread_t g_zap_thread;
static struct allow_entry *g_allow;
static size_t g_n_allow;
static unsigned g_domain_seq;
static unsigned g_inproc_seq;

static void *ctx_get(struct sb_error *err)
{
	void *ctx;

	pthread_mutex_lock(&g_lock);
	if (g_ctx == NULL) {
		g_ctx = zmq_ctx_new();
	}
	if (g_ctx != NULL)
		g_refs++;
	ctx = g_ctx;
	pthread_mutex_unlock(&g_lock);
	if (ctx == NULL)
		sb_error_sys(err, SB_EIO, errno, "zmq: cannot create a context");
	return ctx;
}

static void ctx_put(void)
{
	void *ctx = NULL;
	int zap = 0;

	pthread_mutex_lock(&g_lock);
	if (--g_refs == 0) {
		ctx = g_ctx;
		g_ctx = NULL;
		zap = g_zap_running;
		g_zap_running = 0;
	}
	pthread_mutex_unlock(&g_lock);
	if (ctx == NULL)
		return;
	if (zap) {
		/* Unblocks the handler's recv with ETERM; it closes its socket and exits. */
		zmq_ctx_shutdown(ctx);
		pthread_join(g_zap_thread, NULL);
	}
	/* A signal interrupts the wait for lingering sockets; every socket's linger is
	 * bounded (SB_ZMQ_LINGER_MS), so waiting again ends. */
	while (zmq_ctx_term(ctx) != 0 && errno == EINTR)
		;
	pthread_mutex_lock(&g_lock);
	for (size_t i = 0; i < g_n_allow; i++)
		free(g_allow[i].keys);
	free(g_allow);
	g_allow = NULL;
	g_n_allow = 0;
	pthread_mutex_unlock(&g_lock);
}

static void inproc_name(char *buf, size_t cap, const char *what)
{
	pthread_mutex_lock(&g_lock);
	unsigned n = ++g_inproc_seq;
	pthread_mutex_unlock(&g_lock);
	snprintf(buf, cap, "inproc://sb-%s-%d-%u", what, (int)getpid(), n);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One line about a link for the user, when the caller asked for them. */
static void link_event(const struct sb_transport_opts *o, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void link_event(const struct sb_transport_opts *o, int level, const char *fmt, ...)
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
static size_t max_msg_bytes(const struct sb_transport_opts *o)
{
	return o && o->max_msg_bytes ? o->max_msg_bytes : SB_FRAME_DEFAULT_MAX_BYTES;
}

static void close_sock(void **s, int linger)
{
	if (*s == NULL)
		return;
	zmq_setsockopt(*s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_close(*s);
	*s = NULL;
}

/* ---- keys ---- */

static int is_z85_key(const char *s, size_t n)
{
	static const char z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  ".-:+=^!/*?&<>()[]{}@%$#";
	unsigned char raw[32];
	char tmp[41];

	if (n != 40)
		return 0;
	memcpy(tmp, s, 40);
	tmp[40] = '\0';
	/* zmq_z85_decode stops at a NUL: "ABCDE\0..." would pass as a 4-byte key. */
	if (strspn(tmp, z85) != 40)
		return 0;
	return zmq_z85_decode(raw, tmp) != NULL;
}

/*
 * Key files (written by sb-keygen) hold lines "public-key = Z85" and, for a secret
 * file, "secret-key = Z85"; '#' starts a comment.  An allow-list is any number of
 * public-key lines or bare Z85 keys, so `cat a.pub b.pub > allow` makes one.
 */
int sb_zmq_keyfile_parse(const char *path, struct sb_zmq_keyline **out, size_t *n_out,
			 struct sb_error *err)
{
	struct sb_buf b;
	struct sb_zmq_keyline *kl = NULL;
	size_t n = 0, cap = 0, lineno = 0;
	int rc;

	sb_buf_init(&b);
	rc = sb_file_read(path, KEY_FILE_MAX, &b, err);
	if (rc != SB_OK)
		return rc;
	const char *p = (const char *)b.data, *end = p + b.len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *s = p, *e = le;
		lineno++;
		p = nl ? nl + 1 : end;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		/* Z85 uses '#' and '=' too: a bare key is recognized before comments. */
		int secret = 0;
		int bare = is_z85_key(s, (size_t)(e - s));
		if (!bare && (s == e || *s == '#'))
			continue;
		const char *eq = bare ? NULL : memchr(s, '=', (size_t)(e - s));
		if (eq != NULL) {
			size_t kn = (size_t)(eq - s);
			while (kn > 0 && (s[kn - 1] == ' ' || s[kn - 1] == '\t'))
				kn--;
			if (kn == 10 && memcmp(s, "secret-key", 10) == 0)
				secret = 1;
			else if (!(kn == 10 && memcmp(s, "public-key", 10) == 0)) {
				char shown[68];

				rc = sb_error_set(err, SB_EFORMAT, "%s: line %zu: unknown key '%s'",
						  path, lineno, sb_printable(s, kn, shown,
									     sizeof(shown)));
				goto fail;
			}
			s = eq + 1;
			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			if (e - s >= 2 && *s == '"' && e[-1] == '"') {
				s++;
				e--;
			}
		}
		if (!is_z85_key(s, (size_t)(e - s))) {
			rc = sb_error_set(err, SB_EFORMAT,
					  "%s: line %zu: not a 40-character Z85 CurveZMQ key", path,
					  lineno);
			goto fail;
		}
		if (n == cap) {
			if (cap >= 100000) {
				rc = sb_error_set(err, SB_ELIMIT, "%s: more than 100000 keys", path);
				goto fail;
			}
			cap = cap ? 2 * cap : 8;
			struct sb_zmq_keyline *nk = realloc(kl, cap * sizeof(*nk));
			if (nk == NULL) {
				rc = sb_error_set(err, SB_ENOMEM, "%s: out of memory", path);
				goto fail;
			}
			kl = nk;
		}
		kl[n].secret = secret;
		memcpy(kl[n].key, s, 40);
		kl[n].key[40] = '\0';
		n++;
	}
	sb_buf_destroy(&b);
	*out = kl;
	*n_out = n;
	return SB_OK;
fail:
	sb_buf_destroy(&b);
	free(kl);
	return rc;
}

/*
 * Resolves a key argument: a Z85 key itself, or a key file.  want_secret: fills sec
 * (and pub, derived) from a secret key; else fills pub only.
 */
int sb_zmq_key_load(const char *arg, int want_secret, char pub[41], char sec[41],
		    struct sb_error *err)
{
	struct sb_zmq_keyline *kl = NULL;
	size_t n = 0;
	int rc, found = 0;

	if (is_z85_key(arg, strlen(arg))) {
		if (want_secret) {
			memcpy(sec, arg, 41);
			if (zmq_curve_public(pub, sec) != 0)
				return sb_error_set(err, SB_EINVAL, "bad CurveZMQ secret key");
		} else {
			memcpy(pub, arg, 41);
		}
		return SB_OK;
	}
	if ((rc = sb_zmq_keyfile_parse(arg, &kl, &n, err)) != SB_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (want_secret && kl[i].secret) {
			memcpy(sec, kl[i].key, 41);
			found = 1;
		} else if (!want_secret && !kl[i].secret) {
			memcpy(pub, kl[i].key, 41);
			found = 1;
		}
	}
	free(kl);
	if (!found)
		return sb_error_set(err, SB_EINVAL, "%s: no %s key in the file", arg,
				    want_secret ? "secret-key" : "public-key");
	if (want_secret && zmq_curve_public(pub, sec) != 0)
		return sb_error_set(err, SB_EINVAL, "%s: bad CurveZMQ secret key", arg);
	return SB_OK;
}

int sb_zmq_keypair(char public_z85[41], char secret_z85[41], struct sb_error *err)
{
	if (!zmq_has("curve"))
		return sb_error_set(err, SB_EUNSUPPORTED, "libzmq was built without CURVE");
	if (zmq_curve_keypair(public_z85, secret_z85) != 0)
		return sb_error_sys(err, SB_EIO, errno, "zmq_curve_keypair");
	return SB_OK;
}

/* ---- ZAP handler: CURVE clients must hold a key on the allow-list ---- */

static int allow_check(const char *domain, size_t dn, const unsigned char *key)
{
	int ok = 0;

	pthread_mutex_lock(&g_lock);
	for (size_t i = 0; i < g_n_allow && !ok; i++) {
		if (strlen(g_allow[i].domain) != dn || memcmp(g_allow[i].domain, domain, dn) != 0)
			continue;
		for (size_t k = 0; k < g_allow[i].n; k++)
			if (memcmp(g_allow[i].keys[k], key, 32) == 0) {
				ok = 1;
				break;
			}
	}
	pthread_mutex_unlock(&g_lock);
	return ok;
}

static void *zap_main(void *arg)
{
	void *s = arg;

	for (;;) {
		zmq_msg_t part[8];
		int n = 0, more = 1, rc = 0;

		while (more) {
			zmq_msg_t m;
			zmq_msg_init(&m);
			rc = zmq_msg_recv(&m, s, 0);
			if (rc < 0) {
				zmq_msg_close(&m);
				break;
			}
			more = zmq_msg_more(&m);
			if (n < 8)
				part[n++] = m;
			else
				zmq_msg_close(&m);
		}
		if (rc < 0) {
			for (int i = 0; i < n; i++)
				zmq_msg_close(&part[i]);
			if (errno == ETERM)
				break;
			continue;
		}
		/* version, request id, domain, address, identity, mechanism, credentials */
		const char *status = "400", *text = "key not allowed";
		if (n >= 7 && zmq_msg_size(&part[5]) == 5 &&
		    memcmp(zmq_msg_data(&part[5]), "CURVE", 5) == 0 && zmq_msg_size(&part[6]) == 32 &&
		    allow_check(zmq_msg_data(&part[2]), zmq_msg_size(&part[2]),
				zmq_msg_data(&part[6]))) {
			status = "200";
			text = "OK";
		}
		if (n >= 2) {
			zmq_send(s, "1.0", 3, ZMQ_SNDMORE);
			zmq_send(s, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), ZMQ_SNDMORE);
			zmq_send(s, status, 3, ZMQ_SNDMORE);
			zmq_send(s, text, strlen(text), ZMQ_SNDMORE);
			zmq_send(s, "", 0, ZMQ_SNDMORE);
			zmq_send(s, "", 0, 0);
		}
		for (int i = 0; i < n; i++)
			zmq_msg_close(&part[i]);
	}
	int linger = 0;
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_close(s);
	return NULL;
}

/* Registers an allow-list under a new ZAP domain (written to domain); starts the
 * handler on first use. */
int sb_zmq_allow_read(const char *path, unsigned char (**keys)[32], size_t *n_keys,
		      struct sb_error *err)
{
	struct sb_zmq_keyline *kl = NULL;
	unsigned char (*k)[32];
	size_t n = 0;
	int rc;

	*keys = NULL;
	*n_keys = 0;
	if ((rc = sb_zmq_keyfile_parse(path, &kl, &n, err)) != SB_OK)
		return rc;
	k = calloc(n ? n : 1, 32);
	if (k == NULL) {
		free(kl);
		return sb_error_set(err, SB_ENOMEM, "%s: out of memory", path);
	}
	for (size_t i = 0; i < n; i++) {
		if (kl[i].secret) {
			free(kl);
			free(k);
			return sb_error_set(err, SB_EINVAL,
					    "%s: holds a secret key; an allow-list takes public keys",
					    path);
		}
		zmq_z85_decode(k[i], kl[i].key);
	}
	free(kl);
	*keys = k;
	*n_keys = n;
	return SB_OK;
}

static int allow_register(void *ctx, const char *path, char domain[32], struct sb_error *err)
{
	struct allow_entry e;
	int rc;

	memset(&e, 0, sizeof(e));
	if ((rc = sb_zmq_allow_read(path, &e.keys, &e.n, err)) != SB_OK)
		return rc;
	pthread_mutex_lock(&g_lock);
	snprintf(e.domain, sizeof(e.domain), "sb-%u", ++g_domain_seq);
	struct allow_entry *na = realloc(g_allow, (g_n_allow + 1) * sizeof(*na));
	if (na == NULL) {
		pthread_mutex_unlock(&g_lock);
		free(e.keys);
		return sb_error_set(err, SB_ENOMEM, "%s: out of memory", path);
	}
	g_allow = na;
	g_allow[g_n_allow++] = e;
	memcpy(domain, e.domain, sizeof(e.domain));
	if (!g_zap_running) {
		void *s = zmq_socket(ctx, ZMQ_REP);
		if (s == NULL || zmq_bind(s, "inproc://zeromq.zap.01") != 0) {
			int e2 = errno;
			if (s)
				zmq_close(s);
			pthread_mutex_unlock(&g_lock);
			return sb_error_sys(err, SB_EIO, e2, "zmq: cannot start the ZAP handler");
		}
		if (pthread_create(&g_zap_thread, NULL, zap_main, s) != 0) {
			zmq_close(s);
			pthread_mutex_unlock(&g_lock);
			return sb_error_set(err, SB_EIO, "zmq: cannot start the ZAP thread");
		}
		g_zap_running = 1;
	}
	pthread_mutex_unlock(&g_lock);
	return SB_OK;
}

/* ---- endpoints and socket options ---- */

struct endpoint {
	int bind;
	const char *addr;       /* without the marker */
	int tcp;
};

/* default_bind: the role without a marker, 1 bind, 0 connect, -1 a marker is needed. */
static int parse_endpoint(const char *spec, int default_bind, struct endpoint *ep,
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
static int sock_prepare(void *ctx, void *s, const struct endpoint *ep, int receiving,
			const struct sb_transport_opts *o, const char *spec, struct sb_error *err)
{
	int rc;

	if (receiving) {
		size_t limit = max_msg_bytes(o);
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
		if ((rc = allow_register(ctx, o->allow_file, domain, err)) != SB_OK)
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

static int sock_attach(void *s, const struct endpoint *ep, const char *spec, struct sb_error *err)
{
	int rc = ep->bind ? zmq_bind(s, ep->addr) : zmq_connect(s, ep->addr);

	if (rc != 0)
		return sb_error_set(err, SB_EIO, "%s: cannot %s: %s", spec,
				    ep->bind ? "bind" : "connect", zmq_strerror(errno));
	return SB_OK;
}

/*
 * A socket monitor on inproc, read with DONTWAIT: counts live connections and
 * reports handshakes.  A handshake that fails (a key not on the allow-list, the
 * wrong server key, keys on one side only) leaves both programs waiting for a peer
 * that never arrives; each kind of failure is reported once per socket, as a
 * warning, through the caller's event function.
 */
struct monitor {
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

static int monitor_start(void *ctx, void *s, struct monitor *m,
			 const struct sb_transport_opts *o, const char *spec, int server,
			 const char *peer, struct sb_error *err)
{
	char addr[96];

	memset(m, 0, sizeof(*m));
	m->o = o;
	m->spec = spec;
	m->server = server;
	m->peer = peer;
	inproc_name(addr, sizeof(addr), "mon");
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
static void monitor_report(struct monitor *m, uint16_t ev, uint32_t value)
{
	uint32_t key = ((uint32_t)ev << 16) ^ value;
	const char *curve = m->o && m->o->curve_secret ? "CurveZMQ" : "plain text";

	for (int i = 0; i < m->n_told; i++)
		if (m->told[i] == key)
			return;
	if (m->n_told < (int)(sizeof(m->told) / sizeof(m->told[0])))
		m->told[m->n_told++] = key;
	if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && m->server)
		link_event(m->o, SB_EVENT_WARN, "%s: refused a client whose public key is not in "
			   "--curve-allow (ZAP status %u)", m->spec, (unsigned)value);
	else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
		link_event(m->o, SB_EVENT_WARN, "%s: the server refused this side's key: its "
			   "public key is not in the server's --curve-allow (ZAP status %u)",
			   m->spec, (unsigned)value);
	else if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
		link_event(m->o, SB_EVENT_WARN, "%s: handshake failed: this side uses %s, the "
			   "peer %s (give CurveZMQ keys to both sides or to neither)", m->spec,
			   curve, m->o && m->o->curve_secret ? "plain text" : "CurveZMQ");
	else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
		 value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC && m->server)
		link_event(m->o, SB_EVENT_WARN, "%s: a client's CurveZMQ handshake failed: its "
			   "--curve-server is not this side's public key", m->spec);
	else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
		link_event(m->o, SB_EVENT_WARN, "%s: handshake failed: ZMTP protocol violation "
			   "0x%08x", m->spec, (unsigned)value);
	else if (m->o && m->o->curve_secret && !m->server)
		link_event(m->o, SB_EVENT_WARN, "%s: CurveZMQ handshake failed (%s): the server "
			   "closed the connection; is --curve-server its public key?", m->spec,
			   zmq_strerror((int)value));
	else if (m->o && m->o->curve_secret)
		link_event(m->o, SB_EVENT_WARN, "%s: a client's handshake failed (%s): it closed "
			   "the connection; has it CurveZMQ keys?", m->spec,
			   zmq_strerror((int)value));
	else
		link_event(m->o, SB_EVENT_WARN, "%s: handshake failed (%s): the peer closed the "
			   "connection; does it use CurveZMQ keys?", m->spec,
			   zmq_strerror((int)value));
}

static void monitor_drain(struct monitor *m)
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
					link_event(m->o, SB_EVENT_INFO, "%s: %s connected (%s)",
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

static void monitor_stop(void *s, struct monitor *m)
{
	if (m->pair == NULL)
		return;
	zmq_socket_monitor(s, NULL, 0);
	close_sock(&m->pair, 0);
}

/* ---- the transport backend ---- */

struct zt {
	void *ctx;
	void *sock;
	struct monitor mon;
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
	link_event(&z->opts, SB_EVENT_INFO, "%s: waiting for %s", t->spec, what);
}

static int zt_stopped(const struct zt *z)
{
	return z->stop != NULL && *z->stop;
}

static int zt_pump_monitor(struct zt *z)
{
	monitor_drain(&z->mon);
	return z->mon.n_peers;
}

static int zt_recv(struct sb_transport *t, const unsigned char **msg, size_t *len,
		   struct sb_error *err)
{
	struct zt *z = t->impl;
	double start = now_s();

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
		double now = now_s();
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
			struct sb_farm_peek pk;
			if (n > z->max_bytes)
				return sb_error_set(err, SB_ELIMIT, "%s: message %" PRIu64 " of %zu "
						    "bytes, over the limit of %zu (--max-msg-bytes)",
						    t->spec, z->frames, n, z->max_bytes);
			/* Malformed frames are the decoder's to report; here only order. */
			if (sb_farm_peek(d, n, &pk, NULL) == SB_OK) {
				if (pk.is_end) {
					if (pk.rows_total != z->rows_seen)
						return sb_error_set(err, SB_ETRUNCATED,
							"%s: end frame counts %" PRIu64 " rows but %"
							PRIu64 " arrived: frames were lost", t->spec,
							pk.rows_total, z->rows_seen);
					z->got_end = 1;
					zmq_send(z->sock, ZT_ACK, sizeof(ZT_ACK) - 1, ZMQ_DONTWAIT);
				} else {
					if (pk.seq != z->rows_seen)
						return sb_error_set(err, SB_ETRUNCATED,
							"%s: frame %" PRIu64 " starts at seq %" PRIu64
							", expected %" PRIu64 ": frames were lost (the "
							"writer restarted or another reader took them)",
							t->spec, z->frames, pk.seq, z->rows_seen);
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
	double start = now_s();
	struct sb_farm_peek pk;

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
		if (z->timeout_ms >= 0 && (now_s() - start) * 1000 > z->timeout_ms)
			return sb_error_set(err, SB_ETIMEOUT, "%s: no reader took a frame for %d ms",
					    t->spec, z->timeout_ms);
	}
	if (sb_farm_peek(msg, len, &pk, NULL) == SB_OK && pk.is_end)
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
	double start = now_s();
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
			link_event(&z->opts, SB_EVENT_INFO, "%s: the end frame is queued; waiting "
				   "for the reader to confirm it", t->spec);
		}
		zmq_pollitem_t it[2] = {
			{ z->sock, 0, ZMQ_POLLIN, 0 },
			{ z->mon.pair, 0, ZMQ_POLLIN, 0 },
		};
		zmq_poll(it, 2, 200);
		if (z->timeout_ms >= 0 && (now_s() - start) * 1000 > z->timeout_ms)
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
	monitor_stop(z->sock, &z->mon);
	close_sock(&z->sock, linger);
	free(z);
	t->impl = NULL;
	ctx_put();
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
	struct endpoint ep;
	struct sb_transport *t = NULL;
	struct zt *z = NULL;
	int rc, reading = mode == SB_TRANSPORT_READ;

	*out = NULL;
	if ((rc = parse_endpoint(spec, -1, &ep, err)) != SB_OK)
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
	z->max_bytes = max_msg_bytes(opts);
	if (opts)
		z->opts = *opts;
	if ((z->ctx = ctx_get(err)) == NULL) {
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
	if ((rc = sock_prepare(z->ctx, z->sock, &ep, 1, opts, spec, err)) != SB_OK)
		goto fail;
	if (!reading) {
		/* A writer only ever receives acknowledgements, but its limit must let the
		 * handshake in: as a CurveZMQ server (it binds), 256 bytes refused the
		 * client's INITIATE and the link never came up. */
		int64_t small = HANDSHAKE_MIN_BYTES;
		zmq_setsockopt(z->sock, ZMQ_MAXMSGSIZE, &small, sizeof(small));
	}
	if ((rc = monitor_start(z->ctx, z->sock, &z->mon, &z->opts, t->spec, ep.bind,
				reading ? "writer" : "reader", err)) != SB_OK)
		goto fail;
	if ((rc = sock_attach(z->sock, &ep, spec, err)) != SB_OK)
		goto fail;
	*out = t;
	return SB_OK;
fail:
	monitor_stop(z->sock, &z->mon);
	close_sock(&z->sock, 0);
	free(z);
	free(t->spec);
	free(t);
	ctx_put();
	return rc;
}

void sb_zmq_init(void)
{
	sb_transport_zmq_open = zt_open;
}

/* ---- multipart helpers ---- */

static int send_hdr(void *s, const void *ident, size_t ident_len, const struct sb_farm_hdr *h,
		    int more)
{
	unsigned char b[SB_FARM_HDR_SIZE];

	sb_farm_hdr_pack(h, b);
	if (ident != NULL && zmq_send(s, ident, ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
		return -1;
	return zmq_send(s, b, sizeof(b), (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

/* Receives all parts of one message (DONTWAIT) into msgs[0..*n); parts past max are
 * dropped and *n is set to max + 1 so the caller can refuse the message. */
static int recv_multi(void *s, zmq_msg_t *msgs, int max, int *n)
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

static void close_multi(zmq_msg_t *msgs, int n, int max)
{
	for (int i = 0; i < n && i < max; i++)
		zmq_msg_close(&msgs[i]);
}

/* ---- the farm ---- */

void sb_farm_opts_init(struct sb_farm_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->input = "-";
	o->output = "-";
	o->topts.timeout_ms = -1;
	o->heartbeat_ms = 1000;
	o->liveness = 3;
	o->worker_timeout_ms = 30000;
	o->max_credits = 16;
	o->max_inflight = 256;
}

void sb_farm_stats_destroy(struct sb_farm_stats *st)
{
	if (st == NULL)
		return;
	free(st->workers);
	st->workers = NULL;
	st->n_workers = 0;
}

/*
 * Pump threads move frames between a transport (blocking I/O) and the farm loop
 * (an inproc PAIR), so the loop never blocks on a pipe and keeps heartbeating.
 * Input thread: waits for a grant ("G"), reads one frame, sends "F"+seq+rows and
 * the frame, "E"+rows_total at the end, or "X"+status and a message.  Output
 * thread: "D" then frames: writes them and answers "A"; "E" then the end frame:
 * writes, flushes and answers "F"; errors answer "X".  "Q" stops either.
 */
struct pump {
	void *ctx;
	char addr[96];
	struct sb_transport *t;
	pthread_t thread;
	int started;
	volatile int busy;      /* input: inside sb_transport_recv */
};

static void pump_reply(void *s, char type, int code, const void *p, size_t n)
{
	unsigned char h[17];

	h[0] = (unsigned char)type;
	memset(h + 1, 0, 16);
	memcpy(h + 1, &code, sizeof(code));
	zmq_send(s, h, sizeof(h), n || p ? ZMQ_SNDMORE : 0);
	if (n || p)
		zmq_send(s, p, n, 0);
}

/* Runs if the thread is cancelled inside a blocking read: the context cannot be
 * terminated while this thread's socket is open. */
static void pump_in_cleanup(void *arg)
{
	close_sock(arg, 0);
}

static void *pump_in_main(void *arg)
{
	struct pump *pm = arg;
	void *s = zmq_socket(pm->ctx, ZMQ_PAIR);
	struct sb_error err;

	if (s == NULL || zmq_connect(s, pm->addr) != 0) {
		close_sock(&s, 0);
		return NULL;
	}
	pthread_cleanup_push(pump_in_cleanup, &s);
	for (;;) {
		char c = 0;
		if (zmq_recv(s, &c, 1, 0) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (c != 'G')
			break;
		const unsigned char *msg;
		size_t len;
		sb_error_clear(&err);
		pm->busy = 1;
		int rc = sb_transport_recv(pm->t, &msg, &len, &err);
		pm->busy = 0;
		if (rc == SB_EINTR)
			rc = sb_transport_recv(pm->t, &msg, &len, &err);
		if (rc == SB_EOF) {
			rc = sb_error_set(&err, SB_ETRUNCATED,
					  "input ended after %" PRIu64 " frames without an end frame",
					  pm->t->n_msgs);
		}
		if (rc != SB_OK) {
			pump_reply(s, 'X', rc, err.msg, strlen(err.msg));
			continue;
		}
		struct sb_farm_peek pk;
		if (sb_farm_peek(msg, len, &pk, &err) != SB_OK) {
			sb_error_prefix(&err, "input frame %" PRIu64 ": ", pm->t->n_msgs - 1);
			pump_reply(s, 'X', SB_EFORMAT, err.msg, strlen(err.msg));
			continue;
		}
		unsigned char h[17];
		h[0] = pk.is_end ? 'E' : 'F';
		uint64_t a = pk.is_end ? pk.rows_total : pk.seq, b = pk.rows;
		memcpy(h + 1, &a, 8);
		memcpy(h + 9, &b, 8);
		if (pk.is_end) {
			zmq_send(s, h, sizeof(h), 0);
		} else {
			zmq_send(s, h, sizeof(h), ZMQ_SNDMORE);
			zmq_send(s, msg, len, 0);
		}
	}
	pthread_cleanup_pop(1);
	return NULL;
}

static void *pump_out_main(void *arg)
{
	struct pump *pm = arg;
	void *s = zmq_socket(pm->ctx, ZMQ_PAIR);
	struct sb_error err;
	int failed = 0;

	if (s == NULL || zmq_connect(s, pm->addr) != 0)
		return NULL;
	for (;;) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s, 0) < 0) {
			zmq_msg_close(&m);
			if (errno == EINTR)
				continue;
			break;
		}
		char c = zmq_msg_size(&m) ? *(char *)zmq_msg_data(&m) : 0;
		int more = zmq_msg_more(&m);
		zmq_msg_close(&m);
		if (c == 'Q')
			break;
		int rc = SB_OK;
		sb_error_clear(&err);
		while (more) {
			zmq_msg_init(&m);
			zmq_msg_recv(&m, s, 0);
			more = zmq_msg_more(&m);
			if (!failed && rc == SB_OK) {
				rc = sb_transport_send(pm->t, zmq_msg_data(&m), zmq_msg_size(&m), &err);
				if (rc == SB_EINTR)
					rc = sb_transport_send(pm->t, zmq_msg_data(&m),
							       zmq_msg_size(&m), &err);
			}
			zmq_msg_close(&m);
		}
		if (failed)
			continue;
		if (rc == SB_OK && c == 'E')
			rc = sb_transport_flush(pm->t, &err);
		if (rc != SB_OK) {
			failed = 1;
			pump_reply(s, 'X', rc, err.msg, strlen(err.msg));
		} else {
			pump_reply(s, c == 'E' ? 'F' : 'A', 0, NULL, 0);
		}
	}
	close_sock(&s, 0);
	return NULL;
}

/* A worker refused for results of another provenance, known by routing id and name
 * (it comes back under a new routing id when it reconnects). */
struct refused {
	unsigned char ident[256];
	size_t ident_len;
	char name[64];
	char why[400];
};

#define FARM_REFUSED_MAX 64

struct farm {
	const struct sb_farm_opts *o;
	void *ctx;
	void *front;
	struct monitor mon;     /* of front: handshakes that fail */
	void *in_s, *out_s;
	struct pump in, out;
	struct sb_farm_core core;
	uint64_t run;
	double hb_s, dead_s;
	struct sb_farm_stats *st;
	struct refused *refused;
	size_t n_refused;
};

#define farm_event(f, ...) link_event(&(f)->o->topts, SB_EVENT_INFO, __VA_ARGS__)
#define farm_warn(f, ...) link_event(&(f)->o->topts, SB_EVENT_WARN, __VA_ARGS__)

static int farm_send_req(struct farm *f, int wi, uint64_t id)
{
	struct sb_farm_wk *w = &f->core.workers[wi];
	struct sb_farm_req *r = sb_farm_core_req(&f->core, id);
	struct sb_farm_hdr h = { SB_FARM_REQUEST, 0, id, f->run };

	if (send_hdr(f->front, w->ident, w->ident_len, &h, 1) != 0 ||
	    zmq_send(f->front, r->in.data, r->in.len, ZMQ_DONTWAIT) < 0)
		return -1;
	/* From this line on the worker holds a frame: tests wait for it before they
	 * stop or kill a worker, rather than hoping a sleep was long enough. */
	if (w->frames == 0 && w->n_inflight == 1)
		farm_event(f, "worker %s was handed its first frame (seq %" PRIu64 ")", w->name,
			   r->seq);
	return 0;
}

static void farm_send_simple(struct farm *f, const void *ident, size_t len, enum sb_farm_cmd cmd)
{
	struct sb_farm_hdr h = { cmd, 0, 0, f->run };

	send_hdr(f->front, ident, len, &h, 0);
}

static void farm_lose(struct farm *f, int wi, const char *why)
{
	unsigned n = sb_farm_core_lose_worker(&f->core, wi);

	farm_event(f, "worker %s %s: %u frames handed out again", f->core.workers[wi].name, why, n);
}

/* The refused worker with this routing id or (when name is not NULL) this name. */
static struct refused *refused_find(struct farm *f, const void *ident, size_t len,
				    const char *name)
{
	for (size_t i = 0; i < f->n_refused; i++) {
		struct refused *r = &f->refused[i];
		if ((r->ident_len == len && memcmp(r->ident, ident, len) == 0) ||
		    (name != NULL && strcmp(r->name, name) == 0))
			return r;
	}
	return NULL;
}

/* Remembers a refused worker; past FARM_REFUSED_MAX the oldest is forgotten. */
static struct refused *refused_add(struct farm *f, const void *ident, size_t len,
				   const char *name, const char *why)
{
	struct refused *r;

	if (f->refused == NULL && (f->refused = calloc(FARM_REFUSED_MAX, sizeof(*r))) == NULL)
		return NULL;
	if (f->n_refused == FARM_REFUSED_MAX) {
		memmove(f->refused, f->refused + 1, (FARM_REFUSED_MAX - 1) * sizeof(*r));
		f->n_refused--;
	}
	r = &f->refused[f->n_refused++];
	memset(r, 0, sizeof(*r));
	if (len > sizeof(r->ident))
		len = sizeof(r->ident);
	memcpy(r->ident, ident, len);
	r->ident_len = len;
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->why, sizeof(r->why), "%s", why);
	return r;
}

static void farm_send_refuse(struct farm *f, const void *ident, size_t len, const char *why)
{
	struct sb_farm_hdr h = { SB_FARM_REFUSE, 0, 0, f->run };

	if (send_hdr(f->front, ident, len, &h, 1) == 0)
		zmq_send(f->front, why, strlen(why), ZMQ_DONTWAIT);
}

/*
 * Refuses worker wi for the rest of the run: its result differs in provenance from
 * the first ones (why says how).  None of its results is written; what it held goes
 * to the other workers; it is told why, and ignored when it comes back.
 */
static void farm_refuse(struct farm *f, int wi, const char *why, uint64_t lost_before)
{
	struct sb_farm_wk *w = &f->core.workers[wi];
	char text[400];

	snprintf(text, sizeof(text), "results of %s (worker %s)", why, f->core.pin_worker);
	sb_farm_core_lose_worker(&f->core, wi);
	w->refused = 1;
	farm_warn(f, "worker %s refused for the rest of the run: %s; %" PRIu64 " frames handed "
		  "to the other workers, none of its results written", w->name, text,
		  w->lost - lost_before);
	refused_add(f, w->ident, w->ident_len, w->name, text);
	farm_send_refuse(f, w->ident, w->ident_len, text);
}

/* Handles one message from a worker.  Returns SB_OK or a fatal status. */
static int farm_on_worker(struct farm *f, struct sb_error *err)
{
	zmq_msg_t m[SB_FARM_MAX_PARTS + 2];
	int n, rc = SB_OK;

	if (recv_multi(f->front, m, SB_FARM_MAX_PARTS + 2, &n) != 0)
		return SB_OK;
	if (n > SB_FARM_MAX_PARTS + 1 || n < 2)
		goto out;       /* malformed: ignore (the ROUTER already checked the peer) */
	struct sb_farm_hdr h;
	if (sb_farm_hdr_unpack(zmq_msg_data(&m[1]), zmq_msg_size(&m[1]), &h, NULL) != SB_OK)
		goto out;
	const void *ident = zmq_msg_data(&m[0]);
	size_t ident_len = zmq_msg_size(&m[0]);
	int wi = sb_farm_core_find(&f->core, ident, ident_len);
	double now = now_s();
	if (wi >= 0)
		f->core.workers[wi].expires = now + f->dead_s;
	if (wi < 0 && h.cmd != SB_FARM_READY && refused_find(f, ident, ident_len, NULL) != NULL)
		goto out;       /* a refused worker: not asked to announce itself again */
	switch (h.cmd) {
	case SB_FARM_READY: {
		char name[64];
		size_t nl = n > 2 ? zmq_msg_size(&m[2]) : 0;
		if (nl >= sizeof(name))
			nl = sizeof(name) - 1;
		if (nl)
			memcpy(name, zmq_msg_data(&m[2]), nl);
		name[nl] = '\0';
		for (size_t i = 0; i < nl; i++)
			if (name[i] < 0x20 || name[i] == 0x7f)
				name[i] = '?';
		struct refused *rf = refused_find(f, ident, ident_len, nl ? name : NULL);
		if (rf != NULL) {
			/* Back under a new routing id: still refused in this run. */
			if (rf->ident_len != ident_len || memcmp(rf->ident, ident, ident_len) != 0)
				rf = refused_add(f, ident, ident_len, rf->name, rf->why);
			if (rf != NULL)
				farm_send_refuse(f, ident, ident_len, rf->why);
			if (wi >= 0)
				farm_lose(f, wi, "was refused before");
			break;
		}
		if (wi >= 0)
			farm_lose(f, wi, "announced itself again");
		wi = sb_farm_core_add_worker(&f->core, ident, ident_len, nl ? name : "?", h.count,
					     now + f->dead_s, NULL);
		if (wi >= 0) {
			f->core.workers[wi].next_hb = now + f->hb_s;
			farm_event(f, "worker %s joined with %u credits", f->core.workers[wi].name,
				   f->core.workers[wi].credits);
		}
		break;
	}
	case SB_FARM_HEARTBEAT:
		if (wi < 0)
			farm_send_simple(f, ident, ident_len, SB_FARM_RESET);
		break;
	case SB_FARM_BYE:
		if (wi >= 0)
			farm_lose(f, wi, "left");
		break;
	case SB_FARM_RESULT: {
		if (h.run != f->run) {
			f->st->stale++;
			break;
		}
		size_t np = (size_t)n - 2;
		if (h.count != np)
			break;
		/* libzmq's own limit is raised to let handshakes in: check ours here. */
		size_t limit = max_msg_bytes(&f->o->topts), big = 0;
		for (size_t i = 0; i < np; i++)
			if (zmq_msg_size(&m[2 + i]) > limit)
				big = zmq_msg_size(&m[2 + i]);
		if (big > 0) {
			if (wi >= 0) {
				farm_warn(f, "worker %s sent a result frame of %zu bytes, over the "
					  "limit of %zu (--max-msg-bytes): dropped",
					  f->core.workers[wi].name, big, limit);
				farm_lose(f, wi, "sent too large a result");
			}
			break;
		}
		struct sb_buf *parts = calloc(np ? np : 1, sizeof(*parts));
		if (parts == NULL) {
			rc = sb_error_set(err, SB_ENOMEM, "farm: out of memory");
			break;
		}
		for (size_t i = 0; i < np && rc == SB_OK; i++) {
			sb_buf_init(&parts[i]);
			rc = sb_buf_append(&parts[i], zmq_msg_data(&m[2 + i]),
					   zmq_msg_size(&m[2 + i]), err);
		}
		if (rc == SB_OK) {
			int pinned = f->core.pinned;
			uint64_t lost_before = wi >= 0 ? f->core.workers[wi].lost : 0;
			struct sb_error rerr;
			sb_error_clear(&rerr);
			int acc = sb_farm_core_result(&f->core, wi, h.id, parts, np, &rerr);
			if (acc == SB_EMISMATCH) {
				if (wi >= 0)
					farm_refuse(f, wi, rerr.msg, lost_before);
			} else if (acc < 0) {
				*err = rerr;
				rc = sb_error_prefix(err, "worker %s: ",
						     wi >= 0 ? f->core.workers[wi].name : "?");
			} else if (acc == 1 && !pinned && f->core.pinned) {
				char shown[400];
				sb_farm_prov_show(&f->core.pin, shown, sizeof(shown));
				farm_event(f, "the first results, from worker %s, set what every "
					   "result must match: %s", f->core.pin_worker, shown);
			}
		}
		for (size_t i = 0; i < np; i++)
			sb_buf_destroy(&parts[i]);
		free(parts);
		if (wi < 0)
			farm_send_simple(f, ident, ident_len, SB_FARM_RESET);
		break;
	}
	case SB_FARM_ERROR: {
		if (h.run != f->run)
			break;
		struct sb_farm_req *r = sb_farm_core_req(&f->core, h.id);
		size_t ml = n > 2 ? zmq_msg_size(&m[2]) : 0;
		if (ml > 400)
			ml = 400;
		rc = sb_error_set(err, SB_EFORMAT, "worker %s: frame at seq %" PRIu64 ": %.*s",
				  wi >= 0 ? f->core.workers[wi].name : "?", r ? r->seq : 0,
				  (int)ml, n > 2 ? (const char *)zmq_msg_data(&m[2]) : "");
		break;
	}
	default:
		break;
	}
out:
	close_multi(m, n, SB_FARM_MAX_PARTS + 2);
	return rc;
}

static void fill_stats(struct farm *f, double t0)
{
	struct sb_farm_stats *st = f->st;

	st->resent = f->core.resent;
	st->duplicates = f->core.duplicates;
	st->hedged = f->core.hedged;
	st->seconds = now_s() - t0;
	free(st->workers);
	st->workers = calloc(f->core.n_workers ? f->core.n_workers : 1, sizeof(*st->workers));
	st->n_workers = 0;
	if (st->workers == NULL)
		return;
	for (size_t i = 0; i < f->core.n_workers; i++) {
		const struct sb_farm_wk *w = &f->core.workers[i];
		if (w->frames == 0 && w->lost == 0 && !w->alive)
			continue;
		struct sb_farm_worker_stats *ws = &st->workers[st->n_workers++];
		snprintf(ws->name, sizeof(ws->name), "%s", w->name);
		ws->frames = w->frames;
		ws->lost = w->lost;
		ws->credits = w->credits;
		ws->max_inflight = w->max_inflight;
		ws->alive = w->alive;
		ws->refused = w->refused;
	}
}

static int pump_start(struct farm *f, struct pump *pm, void **side, const char *what,
		      void *(*fn)(void *), struct sb_error *err)
{
	pm->ctx = f->ctx;
	inproc_name(pm->addr, sizeof(pm->addr), what);
	*side = zmq_socket(f->ctx, ZMQ_PAIR);
	if (*side == NULL || zmq_bind(*side, pm->addr) != 0)
		return sb_error_sys(err, SB_EIO, errno, "farm: inproc socket");
	if (pthread_create(&pm->thread, NULL, fn, pm) != 0)
		return sb_error_set(err, SB_EIO, "farm: cannot start a thread");
	pm->started = 1;
	return SB_OK;
}

static void pump_stop(struct pump *pm, void *side, int cancel)
{
	if (!pm->started)
		return;
	if (side)
		zmq_send(side, "Q", 1, ZMQ_DONTWAIT);
	/* The input thread may sit in a blocking read of a pipe nobody will close. */
	if (cancel && pm->busy)
		pthread_cancel(pm->thread);
	pthread_join(pm->thread, NULL);
	pm->started = 0;
}

static uint64_t random_run(void)
{
	uint64_t r = 0;
	FILE *fp = fopen("/dev/urandom", "rb");

	if (fp) {
		if (fread(&r, sizeof(r), 1, fp) != 1)
			r = 0;
		fclose(fp);
	}
	return r ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(now_s() * 1e6) ^ 1;
}

int sb_farm_run(const struct sb_farm_opts *o, struct sb_farm_stats *st_out, struct sb_error *err)
{
	struct farm f;
	struct sb_farm_stats st_local;
	struct endpoint ep;
	int rc;
	double t0 = now_s();

	memset(&f, 0, sizeof(f));
	memset(&st_local, 0, sizeof(st_local));
	f.o = o;
	f.st = st_out ? st_out : &st_local;
	memset(f.st, 0, sizeof(*f.st));
	f.run = random_run();
	int hb = o->heartbeat_ms > 0 ? o->heartbeat_ms : 1000;
	int liveness = o->liveness > 0 ? o->liveness : 3;
	f.hb_s = hb / 1000.0;
	f.dead_s = f.hb_s * liveness;
	sb_farm_core_init(&f.core, o->max_credits, o->max_inflight);
	if (o->bind == NULL)
		return sb_error_set(err, SB_EINVAL, "farm: no endpoint to bind for workers");
	if ((rc = parse_endpoint(o->bind, 1, &ep, err)) != SB_OK)
		return rc;
	if (!ep.bind)
		return sb_error_set(err, SB_EINVAL, "%s: the farm binds its worker endpoint "
				    "(workers connect to it)", o->bind);
	if ((f.ctx = ctx_get(err)) == NULL)
		return SB_EIO;
	f.front = zmq_socket(f.ctx, ZMQ_ROUTER);
	if (f.front == NULL) {
		rc = sb_error_sys(err, SB_EIO, errno, "%s: zmq socket", o->bind);
		goto done;
	}
	int one = 1;
	zmq_setsockopt(f.front, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
	if ((rc = sock_prepare(f.ctx, f.front, &ep, 1, &o->topts, o->bind, err)) != SB_OK)
		goto done;
	if ((rc = monitor_start(f.ctx, f.front, &f.mon, &o->topts, o->bind, 1, NULL, err)) != SB_OK)
		goto done;
	if ((rc = sock_attach(f.front, &ep, o->bind, err)) != SB_OK)
		goto done;
	rc = sb_transport_open(&f.in.t, o->input ? o->input : "-", SB_TRANSPORT_READ, &o->topts,
			       err);
	if (rc != SB_OK)
		goto done;
	rc = sb_transport_open(&f.out.t, o->output ? o->output : "-", SB_TRANSPORT_WRITE,
			       &o->topts, err);
	if (rc != SB_OK)
		goto done;
	if ((rc = pump_start(&f, &f.in, &f.in_s, "in", pump_in_main, err)) != SB_OK)
		goto done;
	if ((rc = pump_start(&f, &f.out, &f.out_s, "out", pump_out_main, err)) != SB_OK)
		goto done;

	int in_done = 0, in_asked = 0, end_sent = 0, finished = 0;
	int in_fail = SB_OK;
	char in_msg[SB_ERROR_MSG_MAX] = "";
	uint64_t rows_total_in = 0, rows_out = 0;
	double no_worker_since = now_s();
	int told_no_worker = 0;

	while (!finished) {
		double now = now_s();
		if (o->stop && *o->stop) {
			rc = sb_error_set(err, SB_EINTR, "farm: interrupted");
			break;
		}
		/* Read input only while there is room: backpressure bounds memory. */
		if (!in_done && !in_asked &&
		    sb_farm_core_held(&f.core) < 2 * sb_farm_core_capacity(&f.core)) {
			zmq_send(f.in_s, "G", 1, 0);
			in_asked = 1;
		}
		int wi;
		uint64_t id;
		while (sb_farm_core_dispatch(&f.core, &wi, &id)) {
			if (farm_send_req(&f, wi, id) != 0)
				farm_lose(&f, wi, "unreachable");
		}
		/* The window is full (or the input is over) behind the oldest frame. */
		if ((in_done || sb_farm_core_held(&f.core) >= 2 * sb_farm_core_capacity(&f.core)) &&
		    sb_farm_core_hedge(&f.core, &wi, &id)) {
			if (farm_send_req(&f, wi, id) != 0)
				farm_lose(&f, wi, "unreachable");
		}
		struct sb_buf *outs;
		size_t n_out;
		uint64_t rows;
		while (sb_farm_core_pop(&f.core, &outs, &n_out, &rows)) {
			zmq_send(f.out_s, "D", 1, n_out ? ZMQ_SNDMORE : 0);
			for (size_t i = 0; i < n_out; i++) {
				zmq_send(f.out_s, outs[i].data, outs[i].len,
					 i + 1 < n_out ? ZMQ_SNDMORE : 0);
				sb_buf_destroy(&outs[i]);
			}
			free(outs);
			rows_out += rows;
			f.st->frames_out += n_out;
			f.st->rows_out += rows;
		}
		uint64_t held = sb_farm_core_held(&f.core);
		if (held > f.st->max_held)
			f.st->max_held = held;
		if (in_done && held == 0 && !end_sent) {
			if (in_fail != SB_OK) {
				rc = sb_error_set(err, in_fail, "%s", in_msg);
				break;
			}
			struct sb_frame ef;
			struct sb_buf eb;
			sb_frame_init(&ef);
			sb_buf_init(&eb);
			ef.kind = SB_KIND_END;
			ef.rows_total = rows_out;
			rc = sb_frame_encode(&ef, &eb, err);
			sb_frame_destroy(&ef);
			if (rc != SB_OK) {
				sb_buf_destroy(&eb);
				break;
			}
			zmq_send(f.out_s, "E", 1, ZMQ_SNDMORE);
			zmq_send(f.out_s, eb.data, eb.len, 0);
			sb_buf_destroy(&eb);
			end_sent = 1;
		}

		/* Heartbeats and expiry. */
		double next = now + f.hb_s;
		int alive = 0;
		for (size_t i = 0; i < f.core.n_workers; i++) {
			struct sb_farm_wk *w = &f.core.workers[i];
			if (!w->alive)
				continue;
			if (now > w->expires) {
				farm_lose(&f, (int)i, "stopped answering");
				continue;
			}
			if (now >= w->next_hb) {
				struct sb_farm_hdr h = { SB_FARM_HEARTBEAT, 0, 0, f.run };
				if (send_hdr(f.front, w->ident, w->ident_len, &h, 0) != 0 &&
				    errno == EHOSTUNREACH) {
					farm_lose(&f, (int)i, "disconnected");
					continue;
				}
				w->next_hb = now + f.hb_s;
			}
			alive++;
			if (w->next_hb < next)
				next = w->next_hb;
			if (w->expires < next)
				next = w->expires;
		}
		if (alive > 0 || (in_done && held == 0)) {
			no_worker_since = 0;
			told_no_worker = 0;
		} else if (!told_no_worker) {
			told_no_worker = 1;
			if (no_worker_since == 0)
				no_worker_since = now;
			farm_event(&f, "%s: waiting for a worker (at most %.3g s, --worker-timeout)",
				   o->bind, o->worker_timeout_ms / 1000.0);
		} else if (no_worker_since == 0) {
			no_worker_since = now;
		} else if (o->worker_timeout_ms >= 0 &&
			   (now - no_worker_since) * 1000 > o->worker_timeout_ms) {
			char miss[300];
			sb_farm_core_missing(&f.core, miss, sizeof(miss));
			rc = sb_error_set(err, SB_ETIMEOUT,
					  "no worker for %d ms; %" PRIu64 " rows written, seqs not "
					  "done: %s%s", o->worker_timeout_ms, rows_out,
					  miss[0] ? miss : "none read yet",
					  in_done ? "" : " (and the rest of the input)");
			break;
		}

		zmq_pollitem_t it[4] = {
			{ f.front, 0, ZMQ_POLLIN, 0 },
			{ f.in_s, 0, ZMQ_POLLIN, 0 },
			{ f.out_s, 0, ZMQ_POLLIN, 0 },
			{ f.mon.pair, 0, ZMQ_POLLIN, 0 },
		};
		long wait_ms = (long)((next - now) * 1000) + 1;
		if (wait_ms < 1)
			wait_ms = 1;
		if (wait_ms > 200)
			wait_ms = 200;
		if (zmq_poll(it, 4, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			rc = sb_error_set(err, SB_EIO, "farm: poll: %s", zmq_strerror(errno));
			break;
		}
		rc = SB_OK;
		if (it[3].revents & ZMQ_POLLIN)
			monitor_drain(&f.mon);
		if (it[0].revents & ZMQ_POLLIN) {
			for (int k = 0; k < 64 && rc == SB_OK; k++) {
				int ev = 0;
				size_t evl = sizeof(ev);
				zmq_getsockopt(f.front, ZMQ_EVENTS, &ev, &evl);
				if (!(ev & ZMQ_POLLIN))
					break;
				rc = farm_on_worker(&f, err);
			}
			if (rc != SB_OK)
				break;
		}
		if (it[1].revents & ZMQ_POLLIN) {
			zmq_msg_t m[2];
			int n;
			if (recv_multi(f.in_s, m, 2, &n) == 0 && n >= 1) {
				const unsigned char *h = zmq_msg_data(&m[0]);
				uint64_t a, b;
				memcpy(&a, h + 1, 8);
				memcpy(&b, h + 9, 8);
				in_asked = 0;
				if (h[0] == 'F' && n == 2) {
					uint64_t nid;
					rc = sb_farm_core_add(&f.core, zmq_msg_data(&m[1]),
							      zmq_msg_size(&m[1]), a, b, &nid, err);
					f.st->frames_in++;
					f.st->rows_in += b;
					rows_total_in += b;
				} else if (h[0] == 'E') {
					in_done = 1;
					if (a != rows_total_in) {
						in_fail = SB_ETRUNCATED;
						snprintf(in_msg, sizeof(in_msg),
							 "input end frame counts %" PRIu64 " rows but %"
							 PRIu64 " arrived", a, rows_total_in);
					}
				} else if (h[0] == 'X') {
					int code;
					memcpy(&code, h + 1, sizeof(code));
					in_done = 1;
					in_fail = code;
					snprintf(in_msg, sizeof(in_msg), "%.*s",
						 n == 2 ? (int)zmq_msg_size(&m[1]) : 0,
						 n == 2 ? (const char *)zmq_msg_data(&m[1]) : "");
				}
			}
			close_multi(m, n, 2);
			if (rc != SB_OK)
				break;
		}
		if (it[2].revents & ZMQ_POLLIN) {
			zmq_msg_t m[2];
			int n;
			while (recv_multi(f.out_s, m, 2, &n) == 0) {
				char c = *(const char *)zmq_msg_data(&m[0]);
				if (c == 'A') {
					f.core.released_unacked--;
				} else if (c == 'F') {
					finished = 1;
				} else if (c == 'X') {
					int code;
					memcpy(&code, (const char *)zmq_msg_data(&m[0]) + 1,
					       sizeof(code));
					rc = sb_error_set(err, code, "%.*s",
							  n == 2 ? (int)zmq_msg_size(&m[1]) : 0,
							  n == 2 ? (const char *)zmq_msg_data(&m[1])
								 : "");
				}
				close_multi(m, n, 2);
				if (rc != SB_OK)
					break;
			}
			if (rc != SB_OK)
				break;
		}
	}
	/* Tell the workers this run is over, so they look for the next farm at once. */
	for (size_t i = 0; i < f.core.n_workers; i++)
		if (f.core.workers[i].alive)
			farm_send_simple(&f, f.core.workers[i].ident, f.core.workers[i].ident_len,
					 SB_FARM_BYE);
done:
	pump_stop(&f.in, f.in_s, 1);
	pump_stop(&f.out, f.out_s, 0);
	close_sock(&f.in_s, 0);
	close_sock(&f.out_s, 0);
	monitor_stop(f.front, &f.mon);
	close_sock(&f.front, 100);
	free(f.refused);
	sb_transport_close(&f.in.t);
	sb_transport_close(&f.out.t);
	fill_stats(&f, t0);
	sb_farm_core_destroy(&f.core);
	if (st_out == NULL)
		sb_farm_stats_destroy(&st_local);
	if (f.ctx)
		ctx_put();
	return rc;
}

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
 * the processing thread: the farm message as is (header + frame), or "X"+message
 * (fatal), or "I" (idle exit).
 */
struct wio {
	const struct sb_worker_opts *o;
	void *ctx;
	char addr[96];
	char name[64];
	struct endpoint ep;
	struct monitor mon;     /* of the current socket: handshakes that fail */
	uint64_t told_refuse;   /* hash of the last refusal reported, 0 none */
	struct sb_error err;
	int rc;
};

static void wio_close(struct wio *w, void **s)
{
	if (*s == NULL)
		return;
	monitor_stop(*s, &w->mon);
	close_sock(s, 0);
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
	link_event(&w->o->topts, SB_EVENT_WARN, "%s: the farm refuses this worker's results "
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
	if (sock_prepare(w->ctx, s, &w->ep, 1, &w->o->topts, w->o->connect, err) != SB_OK ||
	    monitor_start(w->ctx, s, &w->mon, &w->o->topts, w->o->connect, 0, NULL, err) != SB_OK ||
	    sock_attach(s, &w->ep, w->o->connect, err) != SB_OK) {
		wio_close(w, &s);
		return NULL;
	}
	return s;
}

static void wio_ready(struct wio *w, void *s)
{
	struct sb_farm_hdr h = { SB_FARM_READY, w->o->credits ? w->o->credits : 2, 0, 0 };

	if (send_hdr(s, NULL, 0, &h, 1) == 0)
		zmq_send(s, w->name, strlen(w->name), ZMQ_DONTWAIT);
}

static void *wio_main(void *arg)
{
	struct wio *w = arg;
	void *pair = zmq_socket(w->ctx, ZMQ_PAIR);
	void *s = NULL;
	double hb_s = w->o->heartbeat_ms / 1000.0;
	double dead_s = hb_s * w->o->liveness;
	double backoff = hb_s / 2, backoff_max = w->o->reconnect_max_ms / 1000.0;
	double now = now_s(), heard = now, last_farm = now, next_hb = now + hb_s;
	double reconnect_at = 0;
	int contact = 0;        /* the farm answered on this socket */

	if (pair == NULL || zmq_connect(pair, w->addr) != 0)
		return NULL;
	s = wio_connect(w, &w->err);
	if (s == NULL) {
		pump_reply(pair, 'X', w->err.code, w->err.msg, strlen(w->err.msg));
		goto out;
	}
	wio_ready(w, s);
	for (;;) {
		zmq_pollitem_t it[3] = {
			{ pair, 0, ZMQ_POLLIN, 0 },
			{ s, 0, ZMQ_POLLIN, 0 },
			{ w->mon.pair, 0, ZMQ_POLLIN, 0 },
		};
		int nit = s ? 3 : 1;
		if (zmq_poll(it, nit, 100) < 0 && errno != EINTR)
			break;
		now = now_s();
		if (s != NULL && (it[2].revents & ZMQ_POLLIN))
			monitor_drain(&w->mon);
		if (it[0].revents & ZMQ_POLLIN) {
			zmq_msg_t m[SB_FARM_MAX_PARTS + 1];
			int n;
			int quit = 0;
			if (recv_multi(pair, m, SB_FARM_MAX_PARTS + 1, &n) == 0) {
				if (n == 1 && zmq_msg_size(&m[0]) == 1 &&
				    *(char *)zmq_msg_data(&m[0]) == 'Q') {
					quit = 1;
				} else if (s != NULL && n <= SB_FARM_MAX_PARTS) {
					/* A result: forward; if the farm is gone it re-sends. */
					for (int i = 0; i < n; i++) {
						zmq_msg_t c;
						zmq_msg_init(&c);
						zmq_msg_copy(&c, &m[i]);
						if (zmq_msg_send(&c, s, (i + 1 < n ? ZMQ_SNDMORE : 0) |
								 ZMQ_DONTWAIT) < 0) {
							zmq_msg_close(&c);
							break;
						}
					}
				}
				close_multi(m, n, SB_FARM_MAX_PARTS + 1);
			}
			if (quit) {
				if (s != NULL) {
					struct sb_farm_hdr h = { SB_FARM_BYE, 0, 0, 0 };
					send_hdr(s, NULL, 0, &h, 0);
				}
				break;
			}
		}
		if (s != NULL && nit >= 2 && (it[1].revents & ZMQ_POLLIN)) {
			for (int k = 0; k < 64; k++) {
				zmq_msg_t m[3];
				int n;
				if (recv_multi(s, m, 2, &n) != 0)
					break;
				struct sb_farm_hdr h;
				if (n >= 1 && n <= 2 &&
				    sb_farm_hdr_unpack(zmq_msg_data(&m[0]), zmq_msg_size(&m[0]), &h,
						       NULL) == SB_OK) {
					heard = last_farm = now;
					if (!contact && h.cmd != SB_FARM_REFUSE)
						link_event(&w->o->topts, SB_EVENT_INFO,
							   "%s: serving a farm", w->o->connect);
					contact = 1;
					backoff = hb_s / 2;
					if (h.cmd == SB_FARM_REQUEST && n == 2) {
						zmq_msg_send(&m[0], pair, ZMQ_SNDMORE);
						zmq_msg_send(&m[1], pair, 0);
						n = 0;
					} else if (h.cmd == SB_FARM_RESET) {
						wio_ready(w, s);
					} else if (h.cmd == SB_FARM_BYE) {
						heard = 0;      /* look for the next farm now */
						contact = 1;
					} else if (h.cmd == SB_FARM_REFUSE && n == 2) {
						wio_refused(w, &m[1]);
					}
				}
				close_multi(m, n, 2);
			}
		}
		if (s != NULL && now - heard > dead_s && !contact) {
			/* No farm yet on this socket: libzmq keeps retrying the connection. */
			heard = now;
		} else if (s != NULL && now - heard > dead_s) {
			/* Paranoid Pirate: the farm is gone or unreachable; start afresh
			 * with a new socket (a new identity) after a backoff. */
			wio_close(w, &s);
			contact = 0;
			reconnect_at = now + (heard == 0 ? 0 : backoff);
			if (backoff * 2 <= backoff_max)
				backoff *= 2;
			else
				backoff = backoff_max;
		}
		if (s == NULL && now >= reconnect_at) {
			s = wio_connect(w, &w->err);
			if (s == NULL) {
				pump_reply(pair, 'X', w->err.code, w->err.msg, strlen(w->err.msg));
				break;
			}
			wio_ready(w, s);
			heard = now;
			next_hb = now + hb_s;
		}
		if (s != NULL && now >= next_hb) {
			struct sb_farm_hdr h = { SB_FARM_HEARTBEAT, 0, 0, 0 };
			send_hdr(s, NULL, 0, &h, 0);
			next_hb = now + hb_s;
		}
		if (w->o->max_idle_ms >= 0 && (now - last_farm) * 1000 > w->o->max_idle_ms) {
			zmq_send(pair, "I", 1, 0);
			break;
		}
	}
out:
	wio_close(w, &s);
	close_sock(&pair, 0);
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

int sb_worker_run(const struct sb_stage *stage, const struct sb_kv *opts, size_t n_opts,
		  const struct sb_worker_opts *wo, struct sb_stats *st, struct sb_error *err)
{
	struct sb_worker_opts o = *wo;
	struct wio w;
	struct sb_stats st_local;
	void *state = NULL, *pair = NULL;
	struct sb_frame in;
	struct wemit we = { NULL, 0, 0 };
	pthread_t th;
	int rc, started = 0;
	double t0 = now_s();

	if (st == NULL)
		st = &st_local;
	memset(st, 0, sizeof(*st));
	if (o.credits == 0)
		o.credits = 2;
	if (o.heartbeat_ms <= 0)
		o.heartbeat_ms = 1000;
	if (o.liveness <= 0)
		o.liveness = 3;
	if (o.reconnect_max_ms <= 0)
		o.reconnect_max_ms = 8000;
	memset(&w, 0, sizeof(w));
	w.o = &o;
	if (o.connect == NULL)
		return sb_error_set(err, SB_EINVAL, "worker: no farm endpoint");
	if ((rc = parse_endpoint(o.connect, 0, &w.ep, err)) != SB_OK)
		return rc;
	if (w.ep.bind)
		return sb_error_set(err, SB_EINVAL, "%s: a worker connects to its farm (use > or "
				    "no marker)", o.connect);
	if (o.name)
		snprintf(w.name, sizeof(w.name), "%s", o.name);
	else {
		char host[48] = "?";
		gethostname(host, sizeof(host) - 1);
		host[sizeof(host) - 1] = '\0';
		snprintf(w.name, sizeof(w.name), "%s:%d", host, (int)getpid());
	}
	sb_frame_init(&in);
	if ((rc = stage->open(&state, opts, n_opts, err)) != SB_OK)
		return rc;
	if ((w.ctx = ctx_get(err)) == NULL) {
		stage->close(state);
		return SB_EIO;
	}
	/* Check keys and endpoint here, so a mistake is reported before any thread. */
	{
		void *probe = zmq_socket(w.ctx, ZMQ_DEALER);
		rc = probe ? sock_prepare(w.ctx, probe, &w.ep, 1, &o.topts, o.connect, err)
			   : sb_error_sys(err, SB_EIO, errno, "zmq socket");
		close_sock(&probe, 0);
		if (rc != SB_OK)
			goto done;
	}
	link_event(&o.topts, SB_EVENT_INFO, "%s: waiting for a farm", o.connect);
	inproc_name(w.addr, sizeof(w.addr), "worker");
	pair = zmq_socket(w.ctx, ZMQ_PAIR);
	if (pair == NULL || zmq_bind(pair, w.addr) != 0) {
		rc = sb_error_sys(err, SB_EIO, errno, "worker: inproc socket");
		goto done;
	}
	if (pthread_create(&th, NULL, wio_main, &w) != 0) {
		rc = sb_error_set(err, SB_EIO, "worker: cannot start a thread");
		goto done;
	}
	started = 1;
	for (;;) {
		if (o.stop && *o.stop) {
			rc = SB_OK;
			break;
		}
		zmq_pollitem_t it[1] = { { pair, 0, ZMQ_POLLIN, 0 } };
		if (zmq_poll(it, 1, 200) <= 0)
			continue;
		zmq_msg_t m[2];
		int n;
		if (recv_multi(pair, m, 2, &n) != 0)
			continue;
		const char *d0 = zmq_msg_data(&m[0]);
		if (n >= 1 && zmq_msg_size(&m[0]) >= 1 && d0[0] == 'I') {
			close_multi(m, n, 2);
			rc = SB_OK;
			break;
		}
		if (n >= 1 && d0[0] == 'X') {
			rc = sb_error_set(err, SB_EIO, "%.*s", n == 2 ? (int)zmq_msg_size(&m[1]) : 0,
					  n == 2 ? (const char *)zmq_msg_data(&m[1]) : "");
			if (w.err.code)
				err->code = rc = w.err.code;
			close_multi(m, n, 2);
			break;
		}
		struct sb_farm_hdr h;
		if (n != 2 || sb_farm_hdr_unpack(d0, zmq_msg_size(&m[0]), &h, NULL) != SB_OK) {
			close_multi(m, n, 2);
			continue;
		}
		struct sb_error ferr;
		struct sb_emit em = { wemit_frame, &we };
		double p0 = now_s();
		sb_error_clear(&ferr);
		we.n = 0;
		rc = sb_frame_decode(zmq_msg_data(&m[1]), zmq_msg_size(&m[1]), &in, &ferr);
		st->frames_in++;
		st->bytes_in += zmq_msg_size(&m[1]);
		close_multi(m, n, 2);
		if (rc == SB_OK && in.kind == SB_KIND_END)
			rc = sb_error_set(&ferr, SB_EFORMAT, "an end frame is not a request");
		if (rc == SB_OK) {
			st->rows_in += in.rows;
			rc = stage->process(state, &in, &em, &ferr);
		}
		st->seconds_process += now_s() - p0;
		struct sb_farm_hdr rh = { SB_FARM_RESULT, (uint32_t)we.n, h.id, h.run };
		if (rc != SB_OK) {
			rh.cmd = SB_FARM_ERROR;
			rh.count = 0;
			send_hdr(pair, NULL, 0, &rh, 1);
			zmq_send(pair, ferr.msg, strlen(ferr.msg), 0);
			rc = SB_OK;
			continue;
		}
		send_hdr(pair, NULL, 0, &rh, we.n > 0);
		for (size_t i = 0; i < we.n; i++) {
			zmq_send(pair, we.bufs[i].data, we.bufs[i].len, i + 1 < we.n ? ZMQ_SNDMORE : 0);
			st->frames_out++;
			st->bytes_out += we.bufs[i].len;
		}
		st->rows_out += in.rows;
	}
done:
	if (started) {
		zmq_send(pair, "Q", 1, ZMQ_DONTWAIT);
		pthread_join(th, NULL);
	}
	close_sock(&pair, 0);
	for (size_t i = 0; i < we.cap; i++)
		sb_buf_destroy(&we.bufs[i]);
	free(we.bufs);
	sb_frame_destroy(&in);
	stage->close(state);
	ctx_put();
	st->seconds_total = now_s() - t0;
	return rc;
}

void sb_zmq_version(int *major, int *minor, int *patch)
{
	zmq_version(major, minor, patch);
}
