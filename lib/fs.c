/*
 * fs.c - small file-system, time and string helpers shared inside libsb.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int sb_file_read(const char *path, size_t max_bytes, struct sb_buf *out, struct sb_error *err)
{
	struct stat st;
	int fd, rc = SB_OK;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sb_error_sys(err, errno == ENOENT ? SB_ENOTFOUND : SB_EIO, errno, "%s", path);
	if (fstat(fd, &st) < 0) {
		rc = sb_error_sys(err, SB_EIO, errno, "%s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = sb_error_set(err, SB_EIO, "%s: not a regular file", path);
		goto out;
	}
	if ((unsigned long long)st.st_size > max_bytes) {
		rc = sb_error_set(err, SB_ELIMIT, "%s: %lld bytes, limit %zu", path,
				  (long long)st.st_size, max_bytes);
		goto out;
	}
	rc = sb_buf_reserve(out, (size_t)st.st_size + 1, err);
	if (rc)
		goto out;
	for (;;) {
		ssize_t n;

		if (out->len - 0 >= out->cap) {
			rc = sb_buf_reserve(out, 4096, err);
			if (rc)
				goto out;
		}
		n = read(fd, out->data + out->len, out->cap - out->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = sb_error_sys(err, SB_EIO, errno, "%s", path);
			goto out;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		if (out->len > max_bytes) {
			rc = sb_error_set(err, SB_ELIMIT, "%s: more than %zu bytes", path, max_bytes);
			goto out;
		}
	}
out:
	close(fd);
	return rc;
}

int sb_file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int sb_dir_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *sb_path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);

	if (!p)
		return NULL;
	memcpy(p, dir, a);
	if (a && dir[a - 1] != '/')
		p[a++] = '/';
	memcpy(p + a, name, b + 1);
	return p;
}

double sb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

char *sb_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

char *sb_strf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}
