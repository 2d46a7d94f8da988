/*
 * runner.c - drives one stage over a whole stream: input transport (or lines) ->
 * stage -> output transport (or a sink), with end-of-stream handling, ordering
 * checks, statistics and progress callbacks.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "reader.h"
#include "stage.h"
#include "transport.h"

void sb_runner_opts_init(struct sb_runner_opts *o)
{
	memset(o, 0, sizeof *o);
	o->input = "-";
	o->output = "-";
	o->batch_rows = 32;
	o->progress_ms = 500;
}

struct run {
	const struct sb_runner_opts *ro;
	struct sb_transport *out;
	struct sb_buf enc;
	struct sb_stats *st;
	double t0, next_progress;
};

static void progress(struct run *r, int final)
{
	double now;

	if (!r->ro->progress)
		return;
	now = sb_now();
	r->st->seconds_total = now - r->t0;
	if (!final && now < r->next_progress)
		return;
	r->next_progress = now + r->ro->progress_ms / 1000.0;
	r->ro->progress(r->st, final, r->ro->progress_ctx);
}

/*
 * The emitter given to the stage: checks ordering, encodes, sends.  This order check is
 * not the stream reader's (reader.c, which checks every input): it holds a stage to its
 * contract on what it writes, before the frame is encoded, so a stage's bug is named as
 * the stage's and never reaches the output; the reader downstream would only see a
 * malformed stream from some program.
 */
static int emit(void *ctx, const struct sb_frame *f, struct sb_error *err)
{
	struct run *r = ctx;
	int rc;

	if (f->kind != SB_KIND_END && f->seq != r->st->rows_out)
		return sb_error_set(err, SB_EINVAL,
				    "stage emitted a frame at row %llu, expected row %llu",
				    (unsigned long long)f->seq,
				    (unsigned long long)r->st->rows_out);
	if (r->ro->sink) {
		rc = sb_emit_frame(r->ro->sink, f, err);
		if (r->ro->sink_bytes)
			r->st->bytes_out = *r->ro->sink_bytes;
	} else {
		sb_buf_clear(&r->enc);
		rc = sb_frame_encode(f, &r->enc, err);
		if (!rc)
			rc = sb_transport_send(r->out, r->enc.data, r->enc.len, err);
		if (!rc)
			r->st->bytes_out += r->enc.len;
	}
	if (rc)
		return rc;
	if (f->kind != SB_KIND_END) {
		r->st->frames_out++;
		r->st->rows_out += f->rows;
	}
	progress(r, 0);
	return SB_OK;
}

static int timed_process(const struct sb_stage *stage, void *state, const struct sb_frame *in,
			 struct sb_emit *em, struct sb_stats *st, struct sb_error *err)
{
	struct run *r = em->ctx;
	double t = sb_now();
	int rc = in ? stage->process(state, in, em, err)
		    : (stage->flush ? stage->flush(state, em, err) : SB_OK);

	st->seconds_process += sb_now() - t;
	/* Pass on what this input frame produced before waiting for the next one, so a
	 * slow or interactive producer does not leave results sitting in our buffer. */
	if (!rc && r->out)
		rc = sb_transport_flush(r->out, err);
	return rc;
}

static int stopped(const struct sb_runner_opts *ro, struct sb_error *err)
{
	if (ro->stop && *ro->stop)
		return sb_error_set(err, SB_EINTR, "interrupted");
	return SB_OK;
}

static int run_frames(const struct sb_stage *stage, void *state, struct run *r,
		      struct sb_emit *em, struct sb_error *err)
{
	struct sb_reader in;
	const struct sb_frame *f = &in.f;
	int rc;

	rc = sb_reader_open(&in, r->ro->input, &r->ro->topts, 0, err);
	if (rc)
		return rc;
	for (;;) {
		rc = stopped(r->ro, err);
		if (rc)
			break;
		rc = sb_reader_next(&in, err);
		r->st->bytes_in = in.bytes;
		if (rc)
			break;
		if (f->kind == SB_KIND_END) {
			rc = timed_process(stage, state, NULL, em, r->st, err);
			break;
		}
		r->st->frames_in = in.frames;
		r->st->rows_in = in.rows;
		rc = timed_process(stage, state, f, em, r->st, err);
		if (rc) {
			if (rc != SB_EPIPE)
				sb_error_prefix(err, "%s: frame %llu (rows %llu-%llu): ", in.t->spec,
						(unsigned long long)in.fno, (unsigned long long)f->seq,
						(unsigned long long)(f->seq + f->rows) - (f->rows > 0));
			break;
		}
	}
	sb_reader_close(&in);
	return rc;
}

static int run_text(const struct sb_stage *stage, void *state, struct run *r,
		    struct sb_emit *em, struct sb_error *err)
{
	struct sb_linereader *lr = NULL;
	struct sb_frame f;
	size_t batch = r->ro->batch_rows ? r->ro->batch_rows : 32;
	size_t chunk = r->ro->text_chunk ? r->ro->text_chunk : SB_RUNNER_TEXT_CHUNK;
	uint64_t line_bytes = 0;        /* of the line in progress */
	int rc, eof = 0, partial = 0;

	sb_frame_init(&f);
	rc = sb_linereader_open(&lr, r->ro->input, err);
	if (rc)
		return rc;
	sb_linereader_set_stop(lr, r->ro->topts.stop);
	while (!eof) {
		size_t n = 0;

		rc = stopped(r->ro, err);
		if (rc)
			break;
		sb_frame_reset(&f);
		f.kind = SB_KIND_TEXT;
		/* A frame that goes on with a long line carries that line's number. */
		f.text_continued = partial;
		f.seq = partial ? r->st->rows_in - 1 : r->st->rows_in;
		rc = sb_frame_text_alloc(&f, batch, err);
		while (!rc && n < batch) {
			const char *piece;
			size_t len;
			int eol;

			rc = sb_linereader_next_chunk(lr, &piece, &len, chunk, &eol, err);
			if (rc == SB_EOF) {
				rc = SB_OK;
				eof = 1;
				break;
			}
			if (rc)
				break;
			if (!partial) {
				r->st->rows_in++;
				line_bytes = 0;
			}
			line_bytes += len;
			r->st->bytes_in += len + (size_t)eol;
			if (r->ro->max_line && line_bytes > r->ro->max_line) {
				rc = sb_error_set(err, SB_ELIMIT, "line %llu: more than %zu bytes",
						  (unsigned long long)r->st->rows_in, r->ro->max_line);
				break;
			}
			rc = sb_frame_text_set(&f, n++, piece, len, err);
			if (rc)
				break;
			if (!eol) {
				/* The stage sees this piece now and the rest in the frames that
				 * follow, so memory stays bounded whatever the line length. */
				f.text_partial = 1;
				partial = 1;
				break;
			}
			if (partial) {
				partial = 0;
				break;          /* a continuation frame holds that one row only */
			}
		}
		if (rc)
			break;
		if (n == 0)
			break;
		f.rows = n;
		r->st->frames_in++;
		rc = timed_process(stage, state, &f, em, r->st, err);
		if (rc)
			break;
	}
	if (!rc)
		rc = timed_process(stage, state, NULL, em, r->st, err);
	sb_frame_destroy(&f);
	sb_linereader_close(&lr);
	return rc;
}

int sb_run(const struct sb_stage *stage, const struct sb_kv *opts, size_t n_opts,
	   const struct sb_runner_opts *ro, struct sb_stats *st, struct sb_error *err)
{
	struct sb_stats local;
	struct run r;
	struct sb_emit em;
	struct sb_stage_io io;
	void *state = NULL;
	int rc, rc2;

	if (!st)
		st = &local;
	memset(st, 0, sizeof *st);
	memset(&r, 0, sizeof r);
	r.ro = ro;
	r.st = st;
	r.t0 = sb_now();
	r.next_progress = r.t0 + ro->progress_ms / 1000.0;
	sb_buf_init(&r.enc);
	em.frame = emit;
	em.ctx = &r;
	rc = sb_stage_check(stage, err);
	if (rc)
		return rc;
	/* Open everything before reading any input, so option and model errors come
	 * first and no output is written. */
	rc = stage->open(&state, opts, n_opts, err);
	if (rc)
		return rc;
	sb_stage_attach(stage, state, &io, &ro->topts);
	sb_stage_report(stage, state, &ro->report, 0);
	if (!ro->sink) {
		rc = sb_transport_open(&r.out, ro->output, SB_TRANSPORT_WRITE, &ro->topts, err);
		if (rc) {
			sb_stage_report(stage, state, &ro->report, 1);
			stage->close(state);
			return rc;
		}
	}
	if (stage->input == SB_STAGE_IN_TEXT)
		rc = run_text(stage, state, &r, &em, err);
	else
		rc = run_frames(stage, state, &r, &em, err);
	if (!rc) {
		/* Only a complete run gets an end frame: a consumer can tell a cut stream. */
		struct sb_frame end;

		sb_frame_init(&end);
		end.kind = SB_KIND_END;
		end.rows_total = st->rows_out;
		rc = emit(&r, &end, err);
		sb_frame_destroy(&end);
	}
	if (r.out) {
		/* Frames written so far are whole; send them even after an error. */
		struct sb_error e2;

		rc2 = sb_transport_flush(r.out, rc ? &e2 : err);
		if (!rc)
			rc = rc2;
		sb_transport_close(&r.out);
	}
	sb_stage_report(stage, state, &ro->report, 1);
	stage->close(state);
	sb_buf_destroy(&r.enc);
	st->seconds_total = sb_now() - r.t0;
	if (ro->progress)
		ro->progress(st, 1, ro->progress_ctx);
	return rc;
}
