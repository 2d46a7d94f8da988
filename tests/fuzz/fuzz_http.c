/*
 * fuzz_http.c - fuzz target for the hub's HTTP/1.1 client side (lib/hub.c): the
 * response reader of http:// downloads (status line, headers, 1xx interim responses,
 * Content-Length, chunked and until-close bodies, 206 answers to a Range), the header
 * parser of curl's output, and the resolution of redirect Locations.
 *
 * Input: a flags byte (bit 0: HEAD request; bit 1: a Range was asked: the next two
 * bytes, little-endian, are the bytes already in the file), a chunking byte (the
 * response arrives in packets of that many bytes, 0: 4096), then the response.  The
 * response is written by a thread to a SOCK_SEQPACKET socket pair, so the reader sees
 * the same cuts on every run (no network).  The body goes to a memfd.
 *
 * Checked: the reader's count of file bytes is the file's size; a successful GET has
 * a final (non-1xx) status; a 206 starts where the Range asked; a Content-Length body
 * is exactly that long and is bytes of the input; strings stay NUL-terminated in their
 * buffers.  The Location of a response is resolved against an http:// base: a
 * Location that is a path must stay on the base's origin (the hub token goes there).
 * The whole input is also parsed as curl header text, with the same bounds checks.
 * Error messages are one printable line, whatever the server sent.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "fuzz.h"
#include "http.h"

#define fail(what) fuzz_fail("fuzz_http", what)

#define BASE_ORIGIN "http://127.0.0.1:8080"
#define BASE BASE_ORIGIN "/org/model/resolve/main/config.json"

struct feed {
	int fd;
	const uint8_t *p;
	size_t n, chunk;
};

static void *feeder(void *arg)
{
	struct feed *f = arg;

	for (size_t off = 0; off < f->n;) {
		size_t k = f->n - off < f->chunk ? f->n - off : f->chunk;

		/* Fails once the reader has closed its end: it has read what it wanted. */
		if (send(f->fd, f->p + off, k, MSG_NOSIGNAL) != (ssize_t)k)
			break;
		off += k;
	}
	shutdown(f->fd, SHUT_WR);
	return NULL;
}

static void check_resp(const struct sb_http_resp *r)
{
	if (strnlen(r->location, sizeof r->location) == sizeof r->location ||
	    strnlen(r->etag, sizeof r->etag) == sizeof r->etag ||
	    strnlen(r->linked_etag, sizeof r->linked_etag) == sizeof r->linked_etag ||
	    strnlen(r->commit, sizeof r->commit) == sizeof r->commit)
		fail("header value not NUL-terminated in its buffer");
	if (r->length < -1 || r->range_start < -1 || r->linked_size < -1)
		fail("negative number other than -1 (absent)");
	if (r->status < 0 || r->status > 999)
		fail("status out of range");
}

static void check_location(const char *loc)
{
	struct sb_error err;
	char *u = sb_http_url_resolve(BASE, loc);

	if (!u)
		abort();        /* only on ENOMEM */
	if (strncmp(loc, "http://", 7) == 0 || strncmp(loc, "https://", 8) == 0) {
		if (strcmp(u, loc) != 0)
			fail("absolute Location not kept as it is");
	} else if (loc[0] == '/' && loc[1] == '/') {
		if (strncmp(u, "http:", 5) != 0 || strcmp(u + 5, loc) != 0)
			fail("network-path Location not given the base's scheme");
	} else if (strncmp(u, BASE_ORIGIN "/", sizeof BASE_ORIGIN) != 0) {
		fail("a path Location left the base's origin");
	}
	(void)sb_http_url_check(u, &err);
	free(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_http_resp r;
	struct sb_error err;
	struct feed f;
	struct stat st;
	pthread_t th;
	uint64_t offset = 0, done;
	int head, sv[2], out, rc;
	char *text;

	if (size < 2)
		return 0;
	head = data[0] & 1;
	if (data[0] & 2) {
		if (size < 4)
			return 0;
		offset = data[2] | (uint64_t)data[3] << 8;
		data += 2;
		size -= 2;
	}
	f.chunk = data[1] ? data[1] : 4096;
	f.p = data + 2;
	f.n = size - 2;

	out = memfd_create("fuzz_http", MFD_CLOEXEC);
	if (out < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		perror("fuzz_http");
		abort();
	}
	if (offset) {
		char x[4096];

		memset(x, 'x', sizeof x);
		for (uint64_t k = 0; k < offset; k += sizeof x)
			if (write(out, x, offset - k < sizeof x ? offset - k : sizeof x) < 0)
				abort();
	}
	f.fd = sv[1];
	if (pthread_create(&th, NULL, feeder, &f) != 0)
		abort();
	done = offset;
	sb_error_clear(&err);
	rc = sb_http_response_read(sv[0], head, out, &done, &r, &err);
	close(sv[0]);
	pthread_join(th, NULL);
	close(sv[1]);

	if (fstat(out, &st) != 0 || (uint64_t)st.st_size != done)
		fail("bytes counted differ from the file's size");
	if (rc != SB_OK) {
		if (!fuzz_one_line(err.msg))
			fail("error message empty or not one printable line");
	} else {
		check_resp(&r);
		if (r.status >= 100 && r.status < 200)
			fail("success on an interim (1xx) response");
		if (head && done != offset)
			fail("a HEAD response wrote a body");
		if (!head && r.status == 206 && (uint64_t)r.range_start != offset)
			fail("206 accepted from another offset than asked");
		if (!head && (r.status == 200 || r.status == 206) && !r.chunked &&
		    r.length >= 0) {
			uint64_t start = r.status == 206 ? offset : 0;

			if (done - start != (uint64_t)r.length)
				fail("body length differs from Content-Length");
			if (r.length > 0) {
				void *body = malloc((size_t)r.length);

				if (!body || pread(out, body, (size_t)r.length, (off_t)start) !=
					     (ssize_t)r.length)
					abort();
				if (!memmem(f.p, f.n, body, (size_t)r.length))
					fail("body bytes are not from the response");
				free(body);
			}
		}
		if (r.location[0])
			check_location(r.location);
	}
	close(out);

	/* The same bytes as curl's header output. */
	text = malloc(f.n + 1);
	if (!text)
		abort();
	memcpy(text, f.p, f.n);
	text[f.n] = '\0';
	if (sb_http_headers_parse(&r, text, &err) == SB_OK) {
		check_resp(&r);
		if (r.location[0])
			check_location(r.location);
	}
	free(text);
	return 0;
}
