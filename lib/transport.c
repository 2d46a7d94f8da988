/*
 * transport.c - frames over file descriptors (pipes, files, stdin/stdout), the
 * dispatch to the ZeroMQ backend, and the line reader for text input.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "internal.h"
#include "transport.h"

int (*sb_transport_zmq_open)(struct sb_transport **out, const char *spec,
			     enum sb_transport_mode mode, const struct sb_transport_opts *opts,
			     struct sb_error *err);

#define READ_CHUNK ((size_t)1 << 16)
#define WRITE_FLUSH ((size_t)1 << 16)

struct fd_impl {
	int fd;
	int own_fd;
	struct sb_buf buf;      /* read: bytes of the current and later messages; write: pending */
	size_t start;           /* read: offset of the current message in buf */
	size_t cur_len;         /* read: length of the message returned last */
	int eof;
	struct sb_frame_scan scan;
	size_t max_bytes;
	volatile int *stop;
};

static int is_stopped(const struct fd_impl *im)
{
	return im->stop && *im->stop;
}

static int fd_recv(struct sb_transport *t, const unsigned char **msg, size_t *len,
		   struct sb_error *err)
{
	struct fd_impl *im = t->impl;
	size_t size;
	int rc;

	/* Drop the message returned last time; compact once the dead prefix is large. */
	im->start += im->cur_len;
	t->offset += im->cur_len;
	im->cur_len = 0;
	if (im->start > 0 && (im->start >= im->buf.len || im->start > READ_CHUNK)) {
		sb_buf_consume(&im->buf, im->start);
		im->start = 0;
	}
	sb_frame_scan_init(&im->scan, im->max_bytes);
	for (;;) {
		const unsigned char *p = im->buf.data ? im->buf.data + im->start : NULL;
		size_t avail = im->buf.len - im->start;
		ssize_t n;

		/* Text or a .npy file given in place of frames is named as such. */
		rc = t->n_msgs == 0 && avail > 0 ? sb_frame_sniff(p, avail, im->eof, err) : SB_OK;
		if (rc == SB_OK)
			rc = sb_frame_scan(&im->scan, p, avail, &size, err);
		if (rc == SB_OK)
			break;
		if (rc != SB_EAGAIN)
			return sb_error_prefix(err, "%s: frame %llu at byte %llu: ", t->spec,
					       (unsigned long long)t->n_msgs + 1,
					       (unsigned long long)t->offset);
		if (im->eof) {
			if (im->buf.len == im->start)
				return SB_EOF;
			return sb_error_set(err, SB_ETRUNCATED,
					    "%s: frame %llu at byte %llu: stream ends inside the frame "
					    "(%zu bytes of it read)", t->spec,
					    (unsigned long long)t->n_msgs + 1,
					    (unsigned long long)t->offset, im->buf.len - im->start);
		}
		/* Read only what arrives: a length field claiming gigabytes costs nothing
		 * until the bytes are really there. */
		rc = sb_buf_reserve(&im->buf, READ_CHUNK, err);
		if (rc)
			return rc;
		n = read(im->fd, im->buf.data + im->buf.len, im->buf.cap - im->buf.len);
		if (n < 0) {
			if (errno == EINTR) {
				if (is_stopped(im))
					return sb_error_set(err, SB_EINTR, "%s: interrupted", t->spec);
				continue;
			}
			return sb_error_sys(err, SB_EIO, errno, "%s: read", t->spec);
		}
		if (n == 0)
			im->eof = 1;
		im->buf.len += (size_t)n;
		t->n_bytes += (size_t)n;
	}
	*msg = im->buf.data + im->start;
	*len = size;
	im->cur_len = size;
	t->n_msgs++;
	return SB_OK;
}

static int write_all(struct sb_transport *t, const unsigned char *p, size_t n,
		     struct sb_error *err)
{
	struct fd_impl *im = t->impl;

	while (n > 0) {
		ssize_t w = write(im->fd, p, n);

		if (w < 0) {
			if (errno == EINTR) {
				/* Finish the frame even when asked to stop: only whole
				 * frames are ever written. */
				continue;
			}
			if (errno == EPIPE)
				return sb_error_set(err, SB_EPIPE, "%s: reader went away", t->spec);
			return sb_error_sys(err, SB_EIO, errno, "%s: write", t->spec);
		}
		p += w;
		n -= (size_t)w;
	}
	return SB_OK;
}

static int fd_flush(struct sb_transport *t, struct sb_error *err)
{
	struct fd_impl *im = t->impl;
	int rc;

	if (t->mode != SB_TRANSPORT_WRITE || im->buf.len == 0)
		return SB_OK;
	rc = write_all(t, im->buf.data, im->buf.len, err);
	im->buf.len = 0;
	return rc;
}

static int fd_send(struct sb_transport *t, const void *msg, size_t len, struct sb_error *err)
{
	struct fd_impl *im = t->impl;
	int rc;

	t->n_msgs++;
	t->n_bytes += len;
	if (len >= WRITE_FLUSH) {
		rc = fd_flush(t, err);
		return rc ? rc : write_all(t, msg, len, err);
	}
	rc = sb_buf_append(&im->buf, msg, len, err);
	if (rc)
		return rc;
	return im->buf.len >= WRITE_FLUSH ? fd_flush(t, err) : SB_OK;
}

static void fd_close(struct sb_transport *t)
{
	struct fd_impl *im = t->impl;

	if (im->own_fd)
		close(im->fd);
	sb_buf_destroy(&im->buf);
	free(im);
}

static const struct sb_transport_ops fd_ops = {
	.name = "fd",
	.recv = fd_recv,
	.send = fd_send,
	.flush = fd_flush,
	.close = fd_close,
};

int sb_transport_open_fd(struct sb_transport **out, int fd, int own_fd, const char *name,
			 enum sb_transport_mode mode, const struct sb_transport_opts *opts,
			 struct sb_error *err)
{
	struct sb_transport *t = calloc(1, sizeof *t);
	struct fd_impl *im = calloc(1, sizeof *im);

	*out = NULL;
	if (!t || !im || !(t->spec = strdup(name))) {
		free(t);
		free(im);
		return sb_error_set(err, SB_ENOMEM, "%s: out of memory", name);
	}
	im->fd = fd;
	im->own_fd = own_fd;
	sb_buf_init(&im->buf);
	im->max_bytes = opts && opts->max_msg_bytes ? opts->max_msg_bytes
						    : SB_FRAME_DEFAULT_MAX_BYTES;
	im->stop = opts ? opts->stop : NULL;
	t->ops = &fd_ops;
	t->mode = mode;
	t->impl = im;
	*out = t;
	return SB_OK;
}

static int is_bare_zmq_spec(const char *s)
{
	return !strncmp(s, "tcp://", 6) || !strncmp(s, "ipc://", 6) || !strncmp(s, "inproc://", 9);
}

int sb_transport_open(struct sb_transport **out, const char *spec, enum sb_transport_mode mode,
		      const struct sb_transport_opts *opts, struct sb_error *err)
{
	int fd, rc;

	*out = NULL;
	if (!spec || !*spec)
		return sb_error_set(err, SB_EINVAL, "empty transport");
	if (strcmp(spec, "-") == 0)
		return sb_transport_open_fd(out, mode == SB_TRANSPORT_READ ? 0 : 1, 0,
					    mode == SB_TRANSPORT_READ ? "stdin" : "stdout", mode,
					    opts, err);
	/* Which side binds is for the user to say: a default role that differs for
	 * readers and writers made two programs both connect and wait for ever. */
	if (is_bare_zmq_spec(spec))
		return sb_error_set(err, SB_EINVAL,
				    "%s: a ZeroMQ endpoint needs @ to bind or > to connect "
				    "('@%s' or '>%s')", spec, spec, spec);
	if (spec[0] == '@' || spec[0] == '>') {
		if (!sb_transport_zmq_open)
			return sb_error_set(err, SB_EUNSUPPORTED,
					    "%s: ZeroMQ transport not available in this program", spec);
		return sb_transport_zmq_open(out, spec, mode, opts, err);
	}
	if (mode == SB_TRANSPORT_READ)
		fd = open(spec, O_RDONLY | O_CLOEXEC);
	else
		fd = open(spec, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		return sb_error_sys(err, errno == ENOENT ? SB_ENOTFOUND : SB_EIO, errno, "%s", spec);
	rc = sb_transport_open_fd(out, fd, 1, spec, mode, opts, err);
	if (rc)
		close(fd);
	return rc;
}

int sb_transport_recv(struct sb_transport *t, const unsigned char **msg, size_t *len,
		      struct sb_error *err)
{
	return t->ops->recv(t, msg, len, err);
}

int sb_transport_send(struct sb_transport *t, const void *msg, size_t len, struct sb_error *err)
{
	return t->ops->send(t, msg, len, err);
}

int sb_transport_flush(struct sb_transport *t, struct sb_error *err)
{
	return t->ops->flush ? t->ops->flush(t, err) : SB_OK;
}

void sb_transport_close(struct sb_transport **tp)
{
	struct sb_transport *t = *tp;

	if (!t)
		return;
	t->ops->close(t);
	free(t->spec);
	free(t);
	*tp = NULL;
}

/* ---- lines ---- */

struct sb_linereader {
	int fd, own_fd, eof;
	char *name;
	struct sb_buf buf;
	size_t start;           /* first byte of the next line in buf */
	size_t scanned;         /* bytes after start already searched for '\n' */
	int mid_line;           /* a piece of the current line was returned already */
	uint64_t lineno;
	volatile int *stop;
};

int sb_linereader_open_fd(struct sb_linereader **out, int fd, int own_fd, const char *name,
			  struct sb_error *err)
{
	struct sb_linereader *lr = calloc(1, sizeof *lr);

	*out = NULL;
	if (!lr || !(lr->name = strdup(name))) {
		free(lr);
		return sb_error_set(err, SB_ENOMEM, "%s: out of memory", name);
	}
	lr->fd = fd;
	lr->own_fd = own_fd;
	sb_buf_init(&lr->buf);
	*out = lr;
	return SB_OK;
}

int sb_linereader_open(struct sb_linereader **out, const char *spec, struct sb_error *err)
{
	int fd, rc;

	if (strcmp(spec, "-") == 0)
		return sb_linereader_open_fd(out, 0, 0, "stdin", err);
	fd = open(spec, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sb_error_sys(err, errno == ENOENT ? SB_ENOTFOUND : SB_EIO, errno, "%s", spec);
	rc = sb_linereader_open_fd(out, fd, 1, spec, err);
	if (rc)
		close(fd);
	return rc;
}

/*
 * Drops the lines already returned and reads once more, with room for at least
 * 'room' bytes.  A signal that interrupts read() ends the run when *stop is set.
 */
static int fill(struct sb_linereader *lr, size_t room, struct sb_error *err)
{
	ssize_t n;
	int rc;

	if (lr->start > 0) {
		sb_buf_consume(&lr->buf, lr->start);
		lr->start = 0;
	}
	rc = sb_buf_reserve(&lr->buf, room, err);
	if (rc)
		return rc;
	do {
		n = read(lr->fd, lr->buf.data + lr->buf.len, lr->buf.cap - lr->buf.len);
		if (n < 0 && errno == EINTR && lr->stop && *lr->stop)
			return sb_error_set(err, SB_EINTR, "%s: interrupted", lr->name);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return sb_error_sys(err, SB_EIO, errno, "%s: read", lr->name);
	if (n == 0)
		lr->eof = 1;
	lr->buf.len += (size_t)n;
	return SB_OK;
}

int sb_linereader_next(struct sb_linereader *lr, const char **line, size_t *len,
		       size_t max_line, struct sb_error *err)
{
	for (;;) {
		char *base = (char *)lr->buf.data + lr->start;
		size_t avail = lr->buf.len - lr->start;
		char *nl = avail > lr->scanned ? memchr(base + lr->scanned, '\n', avail - lr->scanned)
					       : NULL;
		int rc;

		if (nl || (lr->eof && avail > 0)) {
			size_t l = nl ? (size_t)(nl - base) : avail;

			lr->lineno++;
			if (max_line && l > max_line)
				return sb_error_set(err, SB_ELIMIT, "%s: line %llu: %zu bytes, limit %zu",
						    lr->name, (unsigned long long)lr->lineno, l,
						    max_line);
			*line = base;
			*len = l;
			lr->start += nl ? l + 1 : l;
			lr->scanned = 0;
			return SB_OK;
		}
		if (lr->eof)
			return SB_EOF;
		lr->scanned = avail;
		if (max_line && avail > max_line)
			return sb_error_set(err, SB_ELIMIT, "%s: line %llu: more than %zu bytes",
					    lr->name, (unsigned long long)lr->lineno + 1, max_line);
		rc = fill(lr, READ_CHUNK, err);
		if (rc)
			return rc;
	}
}

int sb_linereader_next_chunk(struct sb_linereader *lr, const char **piece, size_t *len,
			     size_t max_chunk, int *eol, struct sb_error *err)
{
	for (;;) {
		char *base = (char *)lr->buf.data + lr->start;
		size_t avail = lr->buf.len - lr->start;
		char *nl = avail > lr->scanned ? memchr(base + lr->scanned, '\n', avail - lr->scanned)
					       : NULL;
		int rc;

		if (nl && (size_t)(nl - base) <= max_chunk) {
			/* The rest of the line is here and fits. */
			size_t l = (size_t)(nl - base);

			if (!lr->mid_line)
				lr->lineno++;
			lr->mid_line = 0;
			*piece = base;
			*len = l;
			*eol = 1;
			lr->start += l + 1;
			lr->scanned = 0;
			return SB_OK;
		}
		if (avail > max_chunk || (lr->eof && avail > 0)) {
			/* A full piece of a line known to go on (so the pieces do not depend
			 * on how the bytes arrived), or the last bytes of the input. */
			size_t l = avail > max_chunk ? max_chunk : avail;

			if (!lr->mid_line)
				lr->lineno++;
			*eol = lr->eof && l == avail;
			lr->mid_line = !*eol;
			*piece = base;
			*len = l;
			lr->start += l;
			lr->scanned = 0;
			return SB_OK;
		}
		if (lr->eof) {
			if (lr->mid_line) {
				/* The line ended exactly at a piece boundary, at end of input. */
				lr->mid_line = 0;
				*piece = base;
				*len = 0;
				*eol = 1;
				return SB_OK;
			}
			return SB_EOF;
		}
		lr->scanned = avail;
		rc = fill(lr, max_chunk + READ_CHUNK, err);
		if (rc)
			return rc;
	}
}

uint64_t sb_linereader_lineno(const struct sb_linereader *lr)
{
	return lr->lineno;
}

void sb_linereader_set_stop(struct sb_linereader *lr, volatile int *stop)
{
	lr->stop = stop;
}

void sb_linereader_close(struct sb_linereader **lrp)
{
	struct sb_linereader *lr = *lrp;

	if (!lr)
		return;
	if (lr->own_fd)
		close(lr->fd);
	sb_buf_destroy(&lr->buf);
	free(lr->name);
	free(lr);
	*lrp = NULL;
}
