/*
 * transport.h - moving encoded frames (messages) between processes.
 *
 * A transport carries whole messages, one encoded frame each: on pipes and files
 * the frames are concatenated MessagePack objects delimited by sb_frame_scan();
 * on ZeroMQ one frame is one message.  Specs, as given to -i / -o:
 *
 *     -                 stdin (read) or stdout (write)
 *     PATH              a file
 *     @tcp://0.0.0.0:5555 ZeroMQ, bind        >tcp://host:5555   ZeroMQ, connect
 *     @ipc:///tmp/s     likewise for ipc      tcp://... / ipc:// without a marker:
 *                                             refused (SB_EINVAL), say which
 *
 * Backends register a struct sb_transport_ops; the ZeroMQ backend lives in its
 * own module so only it includes <zmq.h>.
 */
#ifndef SB_TRANSPORT_H
#define SB_TRANSPORT_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errors.h"

enum sb_transport_mode { SB_TRANSPORT_READ, SB_TRANSPORT_WRITE };

/* Levels of the lines given to sb_transport_opts.event. */
enum sb_event_level {
	SB_EVENT_WARN,          /* something the user must see: a peer's handshake failed */
	SB_EVENT_INFO           /* progress, for -v: waiting for a peer, peer connected */
};

/*
 * How long a ZeroMQ socket may keep unsent messages once it is closed, in ms.  A
 * writer that stops early on an error gives its queued whole frames this long to
 * reach a reader; after a signal, a reader gone or a confirmed end it keeps nothing.
 * So closing never blocks longer than this, whoever is (not) at the other end.
 */
#define SB_ZMQ_LINGER_MS 2000

struct sb_transport_opts {
	size_t max_msg_bytes;           /* refuse larger messages; 0: SB_FRAME_DEFAULT_MAX_BYTES */
	int timeout_ms;                 /* ZeroMQ: give up waiting after this; -1 forever */
	const char *curve_secret;       /* ZeroMQ CURVE key material (z85), or NULL */
	const char *curve_public;
	const char *curve_server;       /* server public key for connecting sides */
	const char *allow_file;         /* binding side: allowed client public keys */
	int insecure;                   /* allow plain text on non-loopback TCP */
	volatile int *stop;             /* when set non-zero by a signal handler, a blocked
					 * read or write returns SB_EINTR instead of retrying */
	/* Optional: one line (no newline) about a ZeroMQ link, of an sb_event_level:
	 * handshakes refused or failed (each kind once per socket), waiting for a peer.
	 * May be called from a library thread (the farm worker's). */
	void (*event)(void *ctx, int level, const char *line);
	void *event_ctx;
};

struct sb_transport;

struct sb_transport_ops {
	const char *name;
	/* Receives one message; *msg stays valid until the next recv or close.
	 * SB_OK, SB_EOF (clean end: no partial message), SB_ETRUNCATED, or an error. */
	int (*recv)(struct sb_transport *t, const unsigned char **msg, size_t *len,
		    struct sb_error *err);
	/* Sends one whole message. SB_EPIPE when the reader went away. */
	int (*send)(struct sb_transport *t, const void *msg, size_t len, struct sb_error *err);
	int (*flush)(struct sb_transport *t, struct sb_error *err);
	void (*close)(struct sb_transport *t);
};

struct sb_transport {
	const struct sb_transport_ops *ops;
	enum sb_transport_mode mode;
	char *spec;                     /* as given, for messages */
	uint64_t offset;                /* stream byte offset of the last message received */
	uint64_t n_msgs;                /* messages received or sent */
	uint64_t n_bytes;               /* bytes received or sent */
	void *impl;                     /* backend state */
};

/*
 * Opens the transport named by spec.  Returns SB_OK and *out, or an error
 * (SB_EIO when a file cannot be opened, SB_EUNSUPPORTED for a ZeroMQ spec when the
 * ZeroMQ backend is not linked in, SB_EINVAL for a malformed spec).
 */
SB_API int sb_transport_open(struct sb_transport **out, const char *spec,
			     enum sb_transport_mode mode, const struct sb_transport_opts *opts,
			     struct sb_error *err);

/* Wraps an existing file descriptor (not closed by sb_transport_close unless own_fd). */
SB_API int sb_transport_open_fd(struct sb_transport **out, int fd, int own_fd, const char *name,
				enum sb_transport_mode mode, const struct sb_transport_opts *opts,
				struct sb_error *err);

SB_API int sb_transport_recv(struct sb_transport *t, const unsigned char **msg, size_t *len,
			     struct sb_error *err);
SB_API int sb_transport_send(struct sb_transport *t, const void *msg, size_t len,
			     struct sb_error *err);
SB_API int sb_transport_flush(struct sb_transport *t, struct sb_error *err);

/* Closes and frees; sets *t to NULL.  No operation if *t is NULL. */
SB_API void sb_transport_close(struct sb_transport **t);

/*
 * Installs the ZeroMQ transport backend (the "@" and ">" specs of sb_transport_open()).
 * Programs call it once at start-up; calling it again is harmless.
 */
SB_API void sb_zmq_init(void);

/*
 * Generates a CurveZMQ key pair as two 40-character Z85 strings (plus NUL).
 * SB_EUNSUPPORTED when libzmq lacks CURVE.
 */
SB_API int sb_zmq_keypair(char public_z85[41], char secret_z85[41], struct sb_error *err);

/* The version of the libzmq linked in, for --version. */
SB_API void sb_zmq_version(int *major, int *minor, int *patch);

/*
 * Line reader for text input (stdin or a file): returns one line at a time without
 * its "\n" (a "\r\n" ending keeps its "\r"; callers decide).  A final line without
 * newline is returned too.  *line stays valid until the next call.
 */
struct sb_linereader;
SB_API int sb_linereader_open(struct sb_linereader **out, const char *spec, struct sb_error *err);
SB_API int sb_linereader_open_fd(struct sb_linereader **out, int fd, int own_fd, const char *name,
				 struct sb_error *err);
/* SB_OK with a line, SB_EOF at end, or an I/O error. max_line 0: unlimited;
 * a line over max_line returns SB_ELIMIT with its number. */
SB_API int sb_linereader_next(struct sb_linereader *lr, const char **line, size_t *len,
			      size_t max_line, struct sb_error *err);
/*
 * Like sb_linereader_next(), but returns at most max_chunk bytes of the current line
 * at a time, so a line of any length needs max_chunk bytes of memory: *eol is 1 when
 * the piece ends the line, 0 when more of it follows in the next call.  The line
 * number counts lines, not pieces.
 */
SB_API int sb_linereader_next_chunk(struct sb_linereader *lr, const char **piece, size_t *len,
				    size_t max_chunk, int *eol, struct sb_error *err);
SB_API uint64_t
sb_linereader_lineno(const struct sb_linereader *lr); /* 1-based, of the last line */
/* A blocked read returns SB_EINTR when *stop is non-zero after a signal. */
SB_API void sb_linereader_set_stop(struct sb_linereader *lr, volatile int *stop);
SB_API void sb_linereader_close(struct sb_linereader **lr);

#endif
