/*
 * reader.c - a frame stream read by its rules (see reader.h): the one place that
 * checks seq order, end frames, rows_total and cut streams, with one set of messages.
 */
#include <string.h>

#include "reader.h"

int sb_reader_open(struct sb_reader *r, const char *spec, const struct sb_transport_opts *opts,
		   int flags, struct sb_error *err)
{
	struct sb_transport *t = NULL;
	int rc = sb_transport_open(&t, spec, SB_TRANSPORT_READ, opts, err);

	memset(r, 0, sizeof *r);
	sb_frame_init(&r->f);
	if (rc)
		return rc;
	sb_reader_init(r, t, flags);
	r->own = 1;
	return SB_OK;
}

void sb_reader_init(struct sb_reader *r, struct sb_transport *t, int flags)
{
	memset(r, 0, sizeof *r);
	sb_frame_init(&r->f);
	r->t = t;
	r->flags = flags;
}

void sb_reader_close(struct sb_reader *r)
{
	sb_frame_destroy(&r->f);
	if (r->own)
		sb_transport_close(&r->t);
	memset(r, 0, sizeof *r);
	sb_frame_init(&r->f);
}

/* 1 when each message is one frame and the input has no end of its own (a socket). */
static int message_based(const struct sb_transport *t)
{
	return strcmp(t->ops->name, "fd") != 0;
}

/* The input ended (the transport's SB_EOF) at a frame boundary. */
static int at_eof(struct sb_reader *r, struct sb_error *err)
{
	if (r->ended && !r->in_stream)
		return SB_EOF;
	r->cut = 1;
	if (r->fno == 0)
		return sb_error_set(err, SB_ETRUNCATED,
				    "%s: empty input: ended without an end frame (no frames at all)",
				    r->t->spec);
	return sb_error_set(err, SB_ETRUNCATED,
			    "%s: input ended after frame %llu at byte %llu without an end frame: "
			    "the stream was cut (%llu rows)", r->t->spec,
			    (unsigned long long)r->fno, (unsigned long long)r->t->n_bytes,
			    (unsigned long long)r->rows);
}

/* Decodes the message into r->f, whole or (SB_READER_PEEK) its envelope only. */
static int decode(struct sb_reader *r, struct sb_error *err)
{
	struct sb_frame_head h;
	int rc;

	if (!(r->flags & SB_READER_PEEK))
		return sb_frame_decode(r->msg, r->len, &r->f, err);
	sb_frame_reset(&r->f);
	rc = sb_frame_peek(r->msg, r->len, &h, err);
	if (rc)
		return rc;
	r->f.version = SB_FRAME_VERSION;
	r->f.kind = h.kind;
	r->f.seq = h.seq;
	r->f.rows = h.rows;
	r->f.rows_total = h.rows_total;
	return SB_OK;
}

/*
 * The stream's rules for the frame just decoded; the counts move on when it passes.
 * This is the one place that checks them, for every transport: on a message transport
 * (a ZeroMQ link) rows that do not follow mean frames were lost on the way, a cut
 * stream (SB_ETRUNCATED), which the message says; in a byte stream, a malformed one.
 */
static int check(struct sb_reader *r, struct sb_error *err)
{
	const struct sb_frame *f = &r->f;
	int order = !(r->flags & SB_READER_NO_ORDER);
	int link = message_based(r->t);
	const char *lost = link ? ": frames were lost (the writer restarted or another reader "
				  "took them)" : "";

	if (f->kind == SB_KIND_END) {
		if (order && f->rows_total != r->stream_rows)
			return sb_error_set(err, link ? SB_ETRUNCATED : SB_EFORMAT,
					    "%s: frame %llu at byte %llu: end frame says %llu rows, "
					    "the stream had %llu%s", r->t->spec,
					    (unsigned long long)r->fno, (unsigned long long)r->at,
					    (unsigned long long)f->rows_total,
					    (unsigned long long)r->stream_rows, lost);
		r->ended = 1;
		r->in_stream = 0;
		r->stream_rows = 0;
		return SB_OK;
	}
	if (order && f->seq != r->stream_rows)
		return sb_error_set(err, link ? SB_ETRUNCATED : SB_EFORMAT,
				    "%s: frame %llu at byte %llu: seq %llu, expected %llu%s", r->t->spec,
				    (unsigned long long)r->fno, (unsigned long long)r->at,
				    (unsigned long long)f->seq, (unsigned long long)r->stream_rows,
				    link ? lost : " (rows missing or out of order)");
	r->in_stream = 1;
	r->frames++;
	r->rows += f->rows;
	r->stream_rows += f->rows;
	return SB_OK;
}

int sb_reader_next(struct sb_reader *r, struct sb_error *err)
{
	int rc;

	if (r->ended && !r->in_stream &&
	    (!(r->flags & SB_READER_STREAMS) || message_based(r->t)))
		return SB_EOF;
	rc = sb_transport_recv(r->t, &r->msg, &r->len, err);
	if (rc == SB_EOF)
		return at_eof(r, err);
	if (rc)
		return rc;
	r->fno = r->t->n_msgs;
	r->at = r->t->offset;
	r->bytes += r->len;
	rc = decode(r, err);
	if (rc) {
		sb_error_prefix(err, "%s: frame %llu at byte %llu: ", r->t->spec,
				(unsigned long long)r->fno, (unsigned long long)r->at);
		return rc;
	}
	return check(r, err);
}
