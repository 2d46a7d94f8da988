/*
 * cat_npy.c - sb-cat --npy: one tensor of every frame, joined on axis 0, as a .npy file.
 * A file that can seek gets the data as it comes and its header rewritten at the end;
 * a pipe gets header and data at the end.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cat.h"
#include "npy.h"

static void write_fd(int fd, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			write_error(errno);
		}
		c += w;
		n -= (size_t)w;
	}
}

void npy_frame(struct reader *r, const char *where)
{
	const struct sb_tensor *t = want_tensor(r->f, r->o->tensor, where);
	char hdr[1024], s1[96], s2[96];
	unsigned char tmp[4096];
	size_t n = sb_tensor_numel(t);
	struct sb_error err;

	if (!r->npy_started) {
		if (r->o->dim && (t->n_dims != 2 || t->shape[1] != r->o->dim))
			die("%s: tensor '%s' is %s, --dim says %zu columns", where, r->o->tensor,
			    sb_shape_str(t->n_dims, t->shape, s1, sizeof s1), r->o->dim);
		r->npy_src = t->dtype;
		r->npy_dtype = t->dtype == SB_DTYPE_BF16 ? SB_DTYPE_F32 : t->dtype;
		r->npy_dims = t->n_dims;
		memcpy(r->npy_shape, t->shape, sizeof r->npy_shape);
		r->npy_header = sb_npy_header_write(hdr, sizeof hdr, r->npy_dtype, r->npy_dims,
					   r->npy_shape, 0);
		if (r->npy_header == 0)
			die("%s: tensor '%s': shape too long for a .npy header", where,
			    r->o->tensor);
		if (r->npy_seekable)
			write_fd(r->npy_fd, hdr, r->npy_header);
		r->npy_started = 1;
	} else if (t->dtype != r->npy_src || t->n_dims != r->npy_dims ||
		   memcmp(t->shape + 1, r->npy_shape + 1,
			  (size_t)(t->n_dims - 1) * sizeof t->shape[0]) != 0) {
		size_t want[SB_TENSOR_MAX_DIMS];

		memcpy(want, r->npy_shape, sizeof want);
		want[0] = t->shape[0];
		die("%s: tensor '%s': %s %s, expected %s %s to join the earlier frames on axis 0",
		    where, r->o->tensor, sb_dtype_name(t->dtype),
		    sb_shape_str(t->n_dims, t->shape, s1, sizeof s1), sb_dtype_name(r->npy_src),
		    sb_shape_str(r->npy_dims, want, s2, sizeof s2));
	}
	r->npy_rows += t->shape[0];
	if (t->dtype == SB_DTYPE_BF16) {
		/* .npy has no bfloat16: widen to float32 (exact) in small pieces. */
		for (size_t i = 0; i < n;) {
			size_t k = 0;

			for (; k < sizeof tmp / 4 && i < n; k++, i++) {
				float v = (float)get_f(t, i);

				memcpy(tmp + 4 * k, &v, 4);
			}
			if (r->npy_seekable)
				write_fd(r->npy_fd, tmp, 4 * k);
			else if (sb_buf_append(&r->npy_buf, tmp, 4 * k, &err))
				die_err(&err);
		}
	} else if (r->npy_seekable) {
		write_fd(r->npy_fd, t->data, t->nbytes);
	} else if (sb_buf_append(&r->npy_buf, t->data, t->nbytes, &err)) {
		die_err(&err);
	}
}

void npy_finish(struct reader *r)
{
	char hdr[1024];
	size_t len;

	if (!r->npy_started) {
		/*
		 * No data frame at all: an empty run writes only its end frame, which says
		 * nothing of the width (a frame of 0 rows would: its tensor is [0, D]).  An
		 * empty float32 array of shape (0, D) when --dim gives D.
		 */
		if (r->o->dim == 0)
			die("tensor '%s': the input holds no frame, so the width of its rows is "
			    "unknown: give it with --dim D to write an empty (0, D) array",
			    r->o->tensor);
		r->npy_dtype = SB_DTYPE_F32;
		r->npy_dims = 2;
		r->npy_shape[1] = r->o->dim;
		r->npy_seekable = 0;    /* nothing written yet: header and (no) data at once */
	}
	len = sb_npy_header_write(hdr, sizeof hdr, r->npy_dtype, r->npy_dims, r->npy_shape,
				  r->npy_rows);
	if (len == 0)
		die("tensor '%s': shape too long for a .npy header", r->o->tensor);
	if (r->npy_seekable) {
		/* Same length as the placeholder: the row count was padded to 21 digits. */
		if (len != r->npy_header)
			die("tensor '%s': .npy header changed size", r->o->tensor);
		if (pwrite(r->npy_fd, hdr, len, 0) != (ssize_t)len)
			write_error(errno ? errno : EIO);
	} else {
		write_fd(r->npy_fd, hdr, len);
		write_fd(r->npy_fd, r->npy_buf.data, r->npy_buf.len);
	}
	if (r->npy_fd != STDOUT_FILENO) {
		if (fsync(r->npy_fd) != 0 && errno != EINVAL && errno != EROFS)
			write_error(errno);
		if (close(r->npy_fd) != 0)
			write_error(errno);
	}
}
