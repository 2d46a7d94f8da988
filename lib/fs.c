/*
 * fs.c - small file-system, time and string helpers shared inside libsb.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

int sb_file_map(const char *path, size_t max_bytes, struct sb_file_view *v, struct sb_error *err)
{
	struct stat st;
	int fd, rc = SB_OK;

	memset(v, 0, sizeof(*v));
	v->data = (const unsigned char *)"";
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sb_error_sys(err, errno == ENOENT ? SB_ENOTFOUND : SB_EIO, errno, "%s", path);
	if (fstat(fd, &st) < 0)
		rc = sb_error_sys(err, SB_EIO, errno, "%s", path);
	else if (!S_ISREG(st.st_mode))
		rc = sb_error_set(err, SB_EIO, "%s: not a regular file", path);
	else if ((unsigned long long)st.st_size > max_bytes)
		rc = sb_error_set(err, SB_ELIMIT, "%s: %lld bytes, limit %zu", path,
				  (long long)st.st_size, max_bytes);
	if (rc || st.st_size == 0)
		goto out;
	/* MAP_POPULATE: the file is read whole right away, so its pages are mapped in one
	 * call instead of one fault at a time. */
	v->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (v->map == MAP_FAILED) {
		v->map = NULL;
		rc = sb_error_sys(err, SB_EIO, errno, "%s: mmap", path);
		goto out;
	}
	v->data = v->map;
	v->len = (size_t)st.st_size;
out:
	close(fd);
	return rc;
}

void sb_file_unmap(struct sb_file_view *v)
{
	if (v->map)
		munmap(v->map, v->len);
	memset(v, 0, sizeof(*v));
}

#define HUGE_PAGE ((size_t)2 << 20)

void *sb_table_alloc(size_t n, unsigned char fill)
{
	void *p;

	if (n < HUGE_PAGE) {
		if (!fill)
			return calloc(1, n ? n : 1);
		p = malloc(n ? n : 1);
	} else {
		n = (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
		p = aligned_alloc(HUGE_PAGE, n);
#ifdef MADV_HUGEPAGE
		if (p)
			(void)madvise(p, n, MADV_HUGEPAGE); /* a hint: refused, all works as well */
#endif
	}
	if (p)
		memset(p, fill, n);
	return p;
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
