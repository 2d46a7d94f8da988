/*
 * http.h - the hub's transfers, private to libsb (not installed): a small HTTP/1.1
 * client for http:// URLs (http.c) and curl(1) for https:// ones (curl.c).  Both fill
 * the same struct sb_http_resp and write GET bodies to the same struct sb_http_sink,
 * so the hub (hub.c) handles redirects, status codes and retries once for both.
 */
#ifndef SB_HTTP_H
#define SB_HTTP_H

#include <stdint.h>

#include "errors.h"
#include "internal.h"

/*
 * One response as far as the hub needs it.  -1 marks an absent number; strings are
 * cut to their buffers, NUL-terminated.
 */
struct sb_http_resp {
	int status;
	int64_t length;                 /* Content-Length */
	int chunked;
	int64_t range_start;            /* Content-Range of a 206 */
	int64_t linked_size;            /* X-Linked-Size */
	char location[2048];
	char etag[160];
	char linked_etag[160];
	char commit[160];
};

/* Called as a body arrives: the signature of sb_hub_progress_fn (hub.h). */
typedef void sb_http_progress_fn(void *ctx, const char *path, uint64_t done, uint64_t total);

/* Where a GET body goes: appended to fd, reported through the progress callback. */
struct sb_http_sink {
	int fd;
	uint64_t done;                  /* bytes in the file */
	uint64_t total;                 /* expected size, 0 if unknown */
	const char *path;               /* repository path, for messages and progress */
	sb_http_progress_fn *progress;  /* optional */
	void *progress_ctx;
};

/* One request: no redirect is followed by the built-in client. */
struct sb_http_req {
	const char *url;
	int head;                       /* 1: HEAD, 0: GET (resumed from sink->done) */
	const char *token;              /* sent as "Authorization: Bearer ..."; may be NULL */
	int timeout_s;                  /* socket timeout, seconds */
	const char *curl;               /* curl.c: the program to run */
	const char *headers_path;       /* curl.c, GET: side file for the headers */
};

/* Empties r: status 0, the numbers -1, the strings "". */
void sb_http_resp_init(struct sb_http_resp *r);

/* Parses header text as curl prints it (several responses possibly), NUL-terminated,
 * modified in place, into r (emptied first).  SB_EFORMAT on a bad status line or
 * Content-Length. */
int sb_http_headers_parse(struct sb_http_resp *r, char *text, struct sb_error *err);

/* Resolves a Location value against the URL it came from (malloc'd; NULL on ENOMEM). */
char *sb_http_url_resolve(const char *base, const char *loc);

/* SB_OK if url is an http:// or https:// URL the client can request, else SB_EINVAL
 * naming the URL and the fault. */
int sb_http_url_check(const char *url, struct sb_error *err);

/* 1 if a and b have the same scheme://host[:port] (compared without case). */
int sb_http_same_origin(const char *a, const char *b);

/* Writes n bytes to the sink and reports progress.  SB_EIO names the sink's path. */
int sb_http_sink_write(struct sb_http_sink *s, const unsigned char *p, size_t n,
		       struct sb_error *err);

/* Restarts the sink's file from byte 0 (the server ignored the Range asked for). */
int sb_http_sink_restart(struct sb_http_sink *s, struct sb_error *err);

/*
 * One HTTP/1.1 request over a fresh connection ("Connection: close"), no redirect
 * followed.  For a GET answered 200 or 206 the body goes to the sink (restarted on a
 * 200 after a Range).  Errors: SB_EINVAL (bad URL), SB_EIO (network),
 * SB_ETIMEOUT, SB_ETRUNCATED (connection cut), SB_EFORMAT / SB_ELIMIT (a malformed
 * or oversized response).
 */
int sb_http_request(const struct sb_http_req *q, struct sb_http_sink *s,
		    struct sb_http_resp *r, struct sb_error *err);

/*
 * Reads one response from fd (a socket the request went out on): status line and
 * headers into r, 1xx interim responses skipped; the body of a GET answered 200 or 206
 * is appended to out_fd, which holds *done bytes (the start of the asked Range; a 200
 * restarts it from 0).  *done is updated with what was written.
 */
int sb_http_response_read(int fd, int head, int out_fd, uint64_t *done,
		    struct sb_http_resp *r, struct sb_error *err);

/*
 * The same request through curl(1) (q->curl, found through PATH), with the URL and the
 * token on its standard input as a config file, never on its command line.  HEAD
 * follows no redirect (r holds curl's headers); GET follows them, resumes from the
 * sink's size and writes the headers to q->headers_path, parsed into r and removed.
 * Errors: SB_EUNSUPPORTED (no curl), SB_EIO (curl failed: its exit code and reason),
 * SB_ETRUNCATED (a cut, or a server that cannot resume).
 */
int sb_curl_request(const struct sb_http_req *q, struct sb_http_sink *s,
		    struct sb_http_resp *r, struct sb_error *err);

#endif
