/*
 * reader.h - reading a frame stream by its rules (sb-frame(5)), in one place: receive a
 * message, decode it, and check that rows follow each other (seq), that the end frame
 * counts the rows the stream had (rows_total), and that the input does not end before
 * its end frame (a cut stream).  Every program that reads frames does it through this
 * reader, so they all refuse the same streams with the same messages:
 *
 *   SPEC: frame N at byte B: MESSAGE-OF-THE-DECODER
 *   SPEC: frame N at byte B: seq S, expected E (rows missing or out of order)
 *   SPEC: frame N at byte B: end frame says T rows, the stream had R
 *   SPEC: input ended after frame N at byte B without an end frame: the stream was
 *         cut (R rows)
 *   SPEC: empty input: ended without an end frame (no frames at all)
 *
 * N counts the messages of the input from 1; B is the byte offset of the frame (of
 * the input's end for a cut).  On a message transport (a ZeroMQ link) a gap in seq or
 * a wrong rows_total means frames were lost on the way: SB_ETRUNCATED, and the message
 * ends ": frames were lost (the writer restarted or another reader took them)".
 */
#ifndef SB_READER_H
#define SB_READER_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "frame.h"
#include "transport.h"

enum sb_reader_flags {
	/* Decode the envelope only (sb_frame_peek): f holds kind, seq, rows and
	 * rows_total, no tensors, text or meta; msg and len are the frame's bytes, to be
	 * passed on as they are (the farm's broker). */
	SB_READER_PEEK = 1,
	/* Several streams may follow one another on a byte stream, each closed by its own
	 * end frame (sb-cat over concatenated files); the input may end after any end
	 * frame.  On a message transport the first end frame still ends the input. */
	SB_READER_STREAMS = 2,
	/* Do not check seq and rows_total (sb-cat printing a stream as it is); a cut
	 * stream is still an error. */
	SB_READER_NO_ORDER = 4
};

struct sb_reader {
	struct sb_transport *t;         /* the input; owned when opened by sb_reader_open */
	struct sb_frame f;              /* the frame the last sb_reader_next() returned */
	const unsigned char *msg;       /* its bytes: valid until the next call */
	size_t len;
	uint64_t fno;                   /* its number in the input, from 1 */
	uint64_t at;                    /* its byte offset in the input */
	uint64_t frames;                /* data frames read (all streams) */
	uint64_t rows;                  /* rows read (all streams) */
	uint64_t bytes;                 /* bytes of the frames read */
	uint64_t stream_rows;           /* rows of the stream in progress */
	int in_stream;                  /* a data frame came after the last end frame */
	int ended;                      /* an end frame came; the input is complete */
	int cut;                        /* the input ended without an end frame */
	int flags;                      /* enum sb_reader_flags */
	int own;                        /* sb_reader_close closes t */
};

/*
 * Opens the transport spec for reading (sb_transport_open) into r (caller storage).
 * On failure r needs no sb_reader_close.
 */
SB_API int sb_reader_open(struct sb_reader *r, const char *spec,
			  const struct sb_transport_opts *opts, int flags, struct sb_error *err);

/* Reads from transport t, which stays the caller's (not closed by sb_reader_close). */
SB_API void sb_reader_init(struct sb_reader *r, struct sb_transport *t, int flags);

/*
 * Reads the next frame into r->f.  SB_OK for a data frame or an end frame (checked:
 * rows_total is the stream's row count), SB_EOF once the input is complete (after the
 * end frame: without reading further, so a socket is not waited on; with
 * SB_READER_STREAMS on a byte stream, at its end after an end frame).  The errors of
 * the transport (SB_EINTR when its stop flag was set, ...), of the decoder, and
 * SB_EFORMAT for a gap in seq or a wrong rows_total, SB_ETRUNCATED for a cut stream
 * (r->cut set), with the messages above.
 */
SB_API int sb_reader_next(struct sb_reader *r, struct sb_error *err);

/* Frees the frame and closes an owned transport.  r is empty afterwards. */
SB_API void sb_reader_close(struct sb_reader *r);

#endif
