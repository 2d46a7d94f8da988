/*
 * cat_err.c - sb-cat's error path: one message and exit 1, with the output left as
 * whole frames (a partial .npy removed, the frames sent so far flushed); a closed
 * output pipe ends the run quietly.
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cat.h"

const char *out_name = "stdout";
const char *out_unlink;  /* a file to remove when we fail (partial .npy) */
struct sb_transport *out_frames; /* --frames: whole frames are flushed on failure */

void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (out_unlink)
		unlink(out_unlink);
	if (out_frames) {
		/* The frames sent are whole: deliver them, without an end frame, as the
		 * runner does, so a cut input gives a cut output.  Closing lets a ZeroMQ
		 * socket hand its queued frames over before we exit. */
		struct sb_error e;

		sb_transport_flush(out_frames, &e);
		sb_transport_close(&out_frames);
	}
	exit(1);
}

void die_err(const struct sb_error *err)
{
	die("%s", err->msg[0] ? err->msg : sb_strerror(err->code));
}

/* The reader of our output went away (`sb-cat ... | head -1`): end quietly, as a
 * writer killed by SIGPIPE would (the convention of every sb program). */
void output_gone(void)
{
	if (out_unlink)
		unlink(out_unlink);
	signal(SIGPIPE, SIG_DFL);
	raise(SIGPIPE);
	_exit(141);
}

void write_error(int errnum)
{
	if (errnum == EPIPE)
		output_gone();
	die("%s: write: %s", out_name, strerror(errnum));
}

/* Writes all of p to out; a full disk or any other write failure ends the program. */
void put(FILE *out, const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, out) != n)
		write_error(errno ? errno : EIO);
}

void finish_output(FILE *out)
{
	if (fflush(out) != 0 || ferror(out))
		write_error(errno ? errno : EIO);
	if (out != stdout) {
		if (fclose(out) != 0)
			write_error(errno);
	} else if (fsync(STDOUT_FILENO) != 0 && errno != EINVAL && errno != EROFS &&
		   errno != ENOTSUP && errno != EBADF) {
		/* Pipes and terminals cannot be synced (EINVAL); real files report
		 * late write errors (NFS, quota) here. */
		write_error(errno);
	}
}
