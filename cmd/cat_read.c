/*
 * cat_read.c - sb-cat reading frame streams on the shared reader (lib/reader.c): each
 * frame printed, converted, checked (-c, -q) or passed on (-F), and --salvage keeping
 * the whole frames of cut inputs.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cat.h"
#include "reader.h"

/* --frames: sends f (re-encoded) to the output; a closed reader ends us quietly. */
static void frames_send(struct reader *r, const struct sb_frame *f)
{
	struct sb_error err;
	int rc;

	sb_error_clear(&err);
	sb_buf_clear(&r->enc);
	if (sb_frame_encode(f, &r->enc, &err) != SB_OK)
		die_err(&err);
	rc = sb_transport_send(r->fout, r->enc.data, r->enc.len, &err);
	if (rc == SB_EPIPE)
		output_gone();
	if (rc != SB_OK)
		die_err(&err);
}

/* --check: what a consumer relies on beyond the stream's rules (the reader checks
 * those) and a frame's own validity. */
static void check_frame(const struct sb_frame *f, int kind, const char *where)
{
	char s1[96];

	if (kind >= 0 && (int)f->kind != kind)
		die("%s: a frame of kind %s in a stream of kind %s", where, sb_kind_name(f->kind),
		    sb_kind_name((enum sb_kind)kind));
	for (size_t k = 0; k < f->n_tensors; k++) {
		const struct sb_tensor *x = &f->tensors[k].t;

		if (x->n_dims < 1 || x->shape[0] != f->rows)
			die("%s: tensor '%s': shape %s, expected %" PRIu64 " rows first", where,
			    f->tensors[k].name, sb_shape_str(x->n_dims, x->shape, s1, sizeof s1),
			    f->rows);
	}
}

/*
 * --salvage: says on stderr where input spec stopped being usable and what was kept of
 * it.  fault is the error that stopped it, or NULL when it just ended without an end
 * frame.
 */
static void salvage_report(const struct reader *r, const char *spec, const struct sb_error *fault,
			   uint64_t frames, unsigned long long n_msgs, unsigned long long at)
{
	const char *s = frames == 1 ? "" : "s";

	if (fault)
		fprintf(stderr, PROG ": salvage: %s: kept the %" PRIu64 " whole frame%s before it (%"
			PRIu64 " rows)\n", fault->msg[0] ? fault->msg : sb_strerror(fault->code),
			frames, s, r->rows);
	else if (n_msgs == 0)
		fprintf(stderr, PROG ": salvage: %s: empty input: nothing to keep\n", spec);
	else
		fprintf(stderr, PROG ": salvage: %s: no end frame after frame %llu at byte %llu: "
			"kept its %" PRIu64 " frame%s (%" PRIu64 " rows)\n", spec, n_msgs, at, frames,
			s, r->rows);
}

/* Prints or converts one frame of the input as the mode asks. */
static void show_frame(struct reader *r, const char *where)
{
	sb_buf_clear(&r->line.b);
	switch (r->o->mode) {
	case M_JSON:
		o_frame_json(&r->line, r->f, r->o->full, where);
		break;
	case M_TSV:
		if (r->f->kind != SB_KIND_END)
			tsv_frame(r, where);
		break;
	case M_NPY:
		if (r->f->kind != SB_KIND_END)
			npy_frame(r, where);
		break;
	case M_FRAMES:
		/* One output stream: rows renumbered across inputs, one end frame. */
		if (r->f->kind != SB_KIND_END) {
			if (r->out_kind < 0)
				r->out_kind = (int)r->f->kind;
			if ((int)r->f->kind != r->out_kind)
				die("%s: a frame of kind %s cannot join a stream "
				    "of kind %s", where, sb_kind_name(r->f->kind),
				    sb_kind_name((enum sb_kind)r->out_kind));
			r->f->seq = r->out_rows;
			frames_send(r, r->f);
			r->out_rows += r->f->rows;
		}
		break;
	default:
		break;
	}
	if (r->line.failed)
		die("%s: out of memory formatting the frame", where);
	put(r->out, r->line.b.data, r->line.b.len);
}

/* The input could not be read to a complete end: --salvage says what was kept, else
 * --check prints its cut summary and the error ends the run. */
static void stream_fault(struct reader *r, struct sb_reader *in, const struct sb_error *err)
{
	if (r->o->salvage) {
		salvage_report(r, in->t->spec, in->cut ? NULL : err, in->frames,
			       (unsigned long long)in->t->n_msgs,
			       (unsigned long long)in->t->n_bytes);
		sb_reader_close(in);
		return;
	}
	if (in->cut && r->o->mode == M_CHECK && !r->o->quiet) {
		printf("%s: %llu frames, %" PRIu64 " rows, cut (no end frame)\n", in->t->spec,
		       (unsigned long long)in->t->n_msgs, r->rows);
		fflush(stdout);
	}
	sb_reader_close(in);
	die_err(err);
}

/*
 * Reads one input stream.  Streams may follow one another (each closed by its own end
 * frame); ending anywhere else is an error, unless --salvage: then the input is read up
 * to its first fault (a cut frame, a bad frame, a gap in seq, a wrong end frame, no end
 * frame), its whole frames before it are kept and the next input is read.  The stream's
 * rules are checked by --check and --salvage; printing shows a stream as it is.
 */
static void read_stream(struct reader *r, const char *spec)
{
	int strict = r->o->salvage || r->o->mode == M_CHECK, stream_kind = -1;
	struct sb_reader in;
	struct sb_error err;
	char where[256];

	sb_error_clear(&err);
	if (sb_reader_open(&in, spec, &r->o->topts,
			   SB_READER_STREAMS | (strict ? 0 : SB_READER_NO_ORDER), &err) != SB_OK)
		die_err(&err);
	r->frames = r->rows = 0;
	for (;;) {
		int rc = sb_reader_next(&in, &err);

		if (rc == SB_EOF)
			break;
		if (rc != SB_OK) {
			stream_fault(r, &in, &err);
			return;
		}
		snprintf(where, sizeof where, "%s: frame %llu at byte %llu", in.t->spec,
			 (unsigned long long)in.fno, (unsigned long long)in.at);
		r->frames++;
		if (in.f.kind == SB_KIND_END) {
			stream_kind = -1;
		} else {
			if (r->o->mode == M_CHECK)
				check_frame(&in.f, stream_kind, where);
			if (stream_kind < 0)
				stream_kind = (int)in.f.kind;
			r->rows += in.f.rows;
		}
		/* --frames renumbers the reader's frame: the reader has checked it already. */
		r->f = &in.f;
		show_frame(r, where);
		r->f = NULL;
	}
	if (r->o->mode == M_CHECK && !r->o->quiet)
		printf("%s: %" PRIu64 " frames, %" PRIu64 " rows, complete\n", in.t->spec,
		       r->frames, r->rows);
	sb_reader_close(&in);
}

void run_reader(const struct opts *o)
{
	struct reader r;

	memset(&r, 0, sizeof r);
	r.o = o;
	r.out = stdout;
	r.out_kind = -1;
	sb_buf_init(&r.line.b);
	sb_buf_init(&r.npy_buf);
	if (o->mode == M_NPY) {
		struct stat st;

		r.npy_fd = STDOUT_FILENO;
		if (o->output && strcmp(o->output, "-") != 0) {
			r.npy_fd = open(o->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
			if (r.npy_fd < 0)
				die("%s: %s", o->output, strerror(errno));
			out_unlink = o->output;
		}
		r.npy_seekable = fstat(r.npy_fd, &st) == 0 && S_ISREG(st.st_mode) &&
				 lseek(r.npy_fd, 0, SEEK_CUR) == 0;
	} else if (o->mode == M_FRAMES) {
		struct sb_error err;

		sb_error_clear(&err);
		if (sb_transport_open(&r.fout, o->output ? o->output : "-", SB_TRANSPORT_WRITE,
				      &o->topts, &err) != SB_OK)
			die_err(&err);
		out_frames = r.fout;
	} else if (o->output && strcmp(o->output, "-") != 0) {
		r.out = fopen(o->output, "w");
		if (!r.out)
			die("%s: %s", o->output, strerror(errno));
	}
	for (size_t i = 0; i < o->n_inputs; i++)
		read_stream(&r, o->inputs[i]);
	if (o->mode == M_NPY) {
		npy_finish(&r);
	} else if (o->mode == M_FRAMES) {
		struct sb_error err;
		struct sb_frame end;

		sb_error_clear(&err);
		sb_frame_init(&end);
		end.kind = SB_KIND_END;
		end.rows_total = r.out_rows;
		frames_send(&r, &end);
		sb_frame_destroy(&end);
		out_frames = NULL;
		if (sb_transport_flush(r.fout, &err) != SB_OK) {
			if (err.code == SB_EPIPE)
				output_gone();
			die_err(&err);
		}
		sb_transport_close(&r.fout);
		if (o->salvage)
			fprintf(stderr,
				PROG ": salvage: wrote %" PRIu64 " rows and an end frame; a run over "
				"one input line per row resumes at line %" PRIu64 " (tail -n +%" PRIu64
				")\n", r.out_rows, r.out_rows + 1, r.out_rows + 1);
	} else {
		finish_output(r.out);
	}
	sb_buf_destroy(&r.line.b);
	sb_buf_destroy(&r.npy_buf);
	sb_buf_destroy(&r.enc);
}
