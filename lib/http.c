/*
 * http.c - the small HTTP/1.1 client the hub uses for http:// URLs: one request per
 * connection ("Connection: close"), Content-Length, chunked or until-close bodies,
 * 1xx interim responses skipped, a Range to resume; no redirect is followed here
 * (hub.c does that for this client and for curl alike).  The header reader is also
 * what curl.c parses curl's header output with.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include "http.h"

#define MAX_HEADER_LINE 8192
#define MAX_HEADER_BYTES 65536

static int nomem(struct sb_error *err)
{
	return sb_error_set(err, SB_ENOMEM, "hub: out of memory");
}

/* ---- HTTP responses ---- */

void sb_http_resp_init(struct sb_http_resp *r)
{
	memset(r, 0, sizeof(*r));
	r->length = r->range_start = r->linked_size = -1;
}

/* A new status line (the next response of a redirect chain): keep the repository
 * facts learnt so far, drop the per-response ones. */
static void resp_next(struct sb_http_resp *r)
{
	r->status = 0;
	r->length = r->range_start = -1;
	r->chunked = 0;
	r->location[0] = '\0';
}

static int parse_u64(const char *s, int64_t *out)
{
	int64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s)
		return -1;
	*out = v;
	return 0;
}

static void copy_value(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* Interprets one header line (no CR/LF).  Returns SB_EFORMAT on a malformed status
 * line or length; unknown headers are ignored. */
static int resp_line(struct sb_http_resp *r, char *line, struct sb_error *err)
{
	char *colon, *v, *e, shown[84];

	if (strncmp(line, "HTTP/", 5) == 0) {
		char *sp = strchr(line, ' ');

		resp_next(r);
		if (!sp || !isdigit((unsigned char)sp[1]) || !isdigit((unsigned char)sp[2]) ||
		    !isdigit((unsigned char)sp[3]) || (sp[4] && sp[4] != ' ' && sp[4] != '\r'))
			return sb_error_set(err, SB_EFORMAT, "http: bad status line '%s'",
					    sb_printable(line, strlen(line), shown, sizeof(shown)));
		r->status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
		return SB_OK;
	}
	colon = strchr(line, ':');
	if (!colon)
		return SB_OK;
	*colon = '\0';
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	e = v + strlen(v);
	while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	if (strcasecmp(line, "content-length") == 0) {
		if (parse_u64(v, &r->length) < 0)
			return sb_error_set(err, SB_EFORMAT, "http: bad content-length '%s'",
					    sb_printable(v, strlen(v), shown, sizeof(shown)));
	} else if (strcasecmp(line, "transfer-encoding") == 0) {
		r->chunked = strcasestr(v, "chunked") != NULL;
	} else if (strcasecmp(line, "location") == 0) {
		copy_value(r->location, sizeof(r->location), v);
	} else if (strcasecmp(line, "etag") == 0) {
		copy_value(r->etag, sizeof(r->etag), v);
	} else if (strcasecmp(line, "x-linked-etag") == 0) {
		copy_value(r->linked_etag, sizeof(r->linked_etag), v);
	} else if (strcasecmp(line, "x-repo-commit") == 0) {
		copy_value(r->commit, sizeof(r->commit), v);
	} else if (strcasecmp(line, "x-linked-size") == 0) {
		if (parse_u64(v, &r->linked_size) < 0)
			r->linked_size = -1;
	} else if (strcasecmp(line, "content-range") == 0) {
		/* "bytes START-END/TOTAL" */
		if (strncasecmp(v, "bytes ", 6) == 0) {
			char num[24];
			size_t n = strspn(v + 6, "0123456789");

			if (n > 0 && n < sizeof(num)) {
				memcpy(num, v + 6, n);
				num[n] = '\0';
				if (parse_u64(num, &r->range_start) < 0)
					r->range_start = -1;
			}
		}
	}
	return SB_OK;
}

/* Parses a block of header text (several responses possibly, as curl prints them). */
static int resp_text(struct sb_http_resp *r, char *text, struct sb_error *err)
{
	char *save = NULL;
	int rc;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t n = strlen(line);

		if (n && line[n - 1] == '\r')
			line[n - 1] = '\0';
		rc = resp_line(r, line, err);
		if (rc)
			return rc;
	}
	return SB_OK;
}

/* ---- URLs ---- */

struct url {
	int https;
	char host[256];
	char port[8];
	const char *path;       /* points into the url string: "/..." */
};

static int url_parse(const char *url, struct url *out, struct sb_error *err)
{
	const char *h, *e, *colon, *u = url;
	char shown[204];        /* messages quote the URL (from a server: escaped) */
	size_t hl;

	sb_printable(url, strlen(url), shown, sizeof(shown));
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return sb_error_set(err, SB_EINVAL, "url '%s': bad character", shown);
	memset(out, 0, sizeof(*out));
	if (strncmp(u, "http://", 7) == 0) {
		h = u + 7;
	} else if (strncmp(u, "https://", 8) == 0) {
		h = u + 8;
		out->https = 1;
	} else {
		return sb_error_set(err, SB_EINVAL, "url '%s': not http:// or https://", shown);
	}
	e = h + strcspn(h, "/?#");
	out->path = *e == '/' ? e : "/";
	if (*e && *e != '/')
		return sb_error_set(err, SB_EINVAL, "url '%s': no path", shown);
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(e - h));

		if (!rb)
			return sb_error_set(err, SB_EINVAL, "url '%s': bad host", shown);
		hl = (size_t)(rb - h - 1);
		if (hl == 0 || hl >= sizeof(out->host))
			return sb_error_set(err, SB_EINVAL, "url '%s': bad host", shown);
		memcpy(out->host, h + 1, hl);
		colon = rb + 1 < e && rb[1] == ':' ? rb + 1 : NULL;
		if (!colon && rb + 1 != e)
			return sb_error_set(err, SB_EINVAL, "url '%s': bad host", shown);
	} else {
		colon = memchr(h, ':', (size_t)(e - h));
		hl = (size_t)((colon ? colon : e) - h);
		if (hl == 0 || hl >= sizeof(out->host) || memchr(h, '@', hl))
			return sb_error_set(err, SB_EINVAL, "url '%s': bad host", shown);
		memcpy(out->host, h, hl);
	}
	if (colon) {
		size_t pl = (size_t)(e - colon - 1);

		if (pl == 0 || pl > 5 || strspn(colon + 1, "0123456789") < pl)
			return sb_error_set(err, SB_EINVAL, "url '%s': bad port", shown);
		memcpy(out->port, colon + 1, pl);
	} else {
		strcpy(out->port, out->https ? "443" : "80");
	}
	return SB_OK;
}

/* The scheme://host[:port] part of a URL, for same-origin checks. */
static size_t origin_len(const char *u)
{
	const char *h = strstr(u, "://");

	if (!h)
		return 0;
	h += 3;
	return (size_t)(h - u) + strcspn(h, "/?#");
}

int sb_http_same_origin(const char *a, const char *b)
{
	size_t n = origin_len(a);

	return n && n == origin_len(b) && strncasecmp(a, b, n) == 0;
}

/* Resolves a Location value against the URL it came from (malloc'd result). */
static char *url_resolve(const char *base, const char *loc)
{
	size_t o = origin_len(base);

	if (strncmp(loc, "http://", 7) == 0 || strncmp(loc, "https://", 8) == 0)
		return sb_strdup(loc);
	if (loc[0] == '/' && loc[1] == '/') {
		size_t s = (size_t)(strstr(base, "://") - base);

		return sb_strf("%.*s:%s", (int)s, base, loc);
	}
	if (loc[0] == '/')
		return sb_strf("%.*s%s", (int)o, base, loc);
	/* Relative to the folder of the base path. */
	{
		const char *q = base + o + strcspn(base + o, "?#");
		const char *slash = q;

		while (slash > base + o && slash[-1] != '/')
			slash--;
		if (slash == base + o)
			return sb_strf("%.*s/%s", (int)o, base, loc);
		return sb_strf("%.*s%s", (int)(slash - base), base, loc);
	}
}

/* ---- transfers ---- */

int sb_http_sink_write(struct sb_http_sink *s, const unsigned char *p, size_t n, struct sb_error *err)
{
	while (n) {
		ssize_t w = write(s->fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return sb_error_sys(err, SB_EIO, errno, "%s: write failed", s->path);
		}
		p += w;
		n -= (size_t)w;
		s->done += (uint64_t)w;
	}
	if (s->progress)
		s->progress(s->progress_ctx, s->path, s->done, s->total);
	return SB_OK;
}

int sb_http_sink_restart(struct sb_http_sink *s, struct sb_error *err)
{
	if (ftruncate(s->fd, 0) < 0 || lseek(s->fd, 0, SEEK_SET) < 0)
		return sb_error_sys(err, SB_EIO, errno, "%s: truncate failed", s->path);
	s->done = 0;
	return SB_OK;
}

struct conn {
	int fd;
	size_t beg, end;
	unsigned char buf[65536];
};

static ssize_t conn_fill(struct conn *c, struct sb_error *err)
{
	ssize_t n;

	if (c->beg == c->end)
		c->beg = c->end = 0;
	if (c->end == sizeof(c->buf))
		return sb_error_set(err, SB_ELIMIT, "http: line longer than %zu bytes",
				    sizeof(c->buf));
	for (;;) {
		n = recv(c->fd, c->buf + c->end, sizeof(c->buf) - c->end, 0);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return sb_error_set(err, SB_ETIMEOUT,
					    "http: no data from the server in time");
		return sb_error_sys(err, SB_EIO, errno, "http: receive failed");
	}
	c->end += (size_t)n;
	return n;
}

/* Reads one line ending in LF (CR stripped) into line (NUL-terminated). */
static int conn_line(struct conn *c, char *line, size_t cap, struct sb_error *err)
{
	for (;;) {
		unsigned char *lf = memchr(c->buf + c->beg, '\n', c->end - c->beg);

		if (lf) {
			size_t n = (size_t)(lf - (c->buf + c->beg));

			if (n >= cap)
				return sb_error_set(err, SB_ELIMIT,
						    "http: header line over %zu bytes", cap - 1);
			memcpy(line, c->buf + c->beg, n);
			if (n && line[n - 1] == '\r')
				n--;
			line[n] = '\0';
			if (memchr(line, '\0', n))
				return sb_error_set(err, SB_EFORMAT, "http: NUL byte in a header");
			c->beg += (size_t)(lf - (c->buf + c->beg)) + 1;
			return SB_OK;
		}
		if (c->end - c->beg >= cap)
			return sb_error_set(err, SB_ELIMIT, "http: header line over %zu bytes",
					    cap - 1);
		if (c->beg > 0) {
			memmove(c->buf, c->buf + c->beg, c->end - c->beg);
			c->end -= c->beg;
			c->beg = 0;
		}
		ssize_t n = conn_fill(c, err);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return sb_error_set(err, SB_ETRUNCATED,
					    "http: connection closed in the headers");
	}
}

/* Copies up to 'want' body bytes to the sink (want < 0: until the peer closes). */
static int conn_body(struct conn *c, struct sb_http_sink *s, int64_t want, struct sb_error *err)
{
	uint64_t got = 0;
	int rc;

	for (;;) {
		size_t avail = c->end - c->beg;

		if (want >= 0 && (uint64_t)want - got < avail)
			avail = (size_t)((uint64_t)want - got);
		if (avail) {
			rc = sb_http_sink_write(s, c->buf + c->beg, avail, err);
			if (rc)
				return rc;
			c->beg += avail;
			got += avail;
		}
		if (want >= 0 && got == (uint64_t)want)
			return SB_OK;
		ssize_t n = conn_fill(c, err);

		if (n < 0)
			return (int)n;
		if (n == 0) {
			if (want < 0)
				return SB_OK;
			return sb_error_set(err, SB_ETRUNCATED,
					    "%s: connection closed after %llu of %lld bytes",
					    s->path, (unsigned long long)got, (long long)want);
		}
	}
}

static int conn_chunked(struct conn *c, struct sb_http_sink *s, struct sb_error *err)
{
	char line[MAX_HEADER_LINE], shown[44];
	int rc;

	for (;;) {
		uint64_t size = 0;
		size_t k;

		rc = conn_line(c, line, sizeof(line), err);
		if (rc)
			return rc == SB_ETRUNCATED ? sb_error_set(err, SB_ETRUNCATED,
				"%s: connection closed inside a chunked body", s->path) : rc;
		for (k = 0; isxdigit((unsigned char)line[k]); k++) {
			int d = isdigit((unsigned char)line[k]) ? line[k] - '0'
				: tolower((unsigned char)line[k]) - 'a' + 10;

			if (k >= 15)
				return sb_error_set(err, SB_EFORMAT, "http: chunk size too large");
			size = size << 4 | (uint64_t)d;
		}
		if (k == 0 || (line[k] && line[k] != ';' && line[k] != ' ' && line[k] != '\t'))
			return sb_error_set(err, SB_EFORMAT, "http: bad chunk size line '%s'",
					    sb_printable(line, strlen(line), shown, sizeof(shown)));
		if (size == 0) {
			/* Trailers end with an empty line; a server may close instead. */
			do {
				rc = conn_line(c, line, sizeof(line), err);
				if (rc == SB_ETRUNCATED)
					return SB_OK;
				if (rc)
					return rc;
			} while (line[0]);
			return SB_OK;
		}
		rc = conn_body(c, s, (int64_t)size, err);
		if (rc)
			return rc;
		rc = conn_line(c, line, sizeof(line), err);
		if (rc)
			return rc;
		if (line[0])
			return sb_error_set(err, SB_EFORMAT, "http: no CRLF after a chunk");
	}
}

static int tcp_connect(const struct url *u, int timeout_s, struct sb_error *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct timeval tv = { .tv_sec = timeout_s, .tv_usec = 0 };
	int fd = -1, e = 0, g;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	g = getaddrinfo(u->host, u->port, &hints, &res);
	if (g)
		return sb_error_set(err, SB_EIO, "http: %s: %s", u->host, gai_strerror(g));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		/* On Linux SO_SNDTIMEO also bounds connect(). */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return sb_error_sys(err, SB_EIO, e, "http: cannot connect to %s port %s", u->host,
				    u->port);
	return fd;
}

static int send_all(int fd, const char *p, size_t n, struct sb_error *err)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return sb_error_sys(err, errno == EAGAIN ? SB_ETIMEOUT : SB_EIO, errno,
					    "http: send failed");
		}
		p += w;
		n -= (size_t)w;
	}
	return SB_OK;
}

/*
 * Reads one response from fd, where a request was sent: status line and headers into
 * r (1xx interim responses skipped); for a GET answered 200 or 206 the body goes to the
 * sink (restarted on a 200 after a Range).  host names the server in messages.
 */
static int http_response(int fd, int head, const char *host, struct sb_http_sink *s,
			 struct sb_http_resp *r, struct sb_error *err)
{
	struct conn *c = malloc(sizeof(*c));
	char *line = malloc(MAX_HEADER_LINE);
	size_t header_bytes = 0;
	int rc;

	if (!c || !line) {
		rc = nomem(err);
		goto out;
	}
	c->fd = fd;
	c->beg = c->end = 0;
	sb_http_resp_init(r);
	for (;;) {
		rc = conn_line(c, line, MAX_HEADER_LINE, err);
		if (rc)
			goto out;
		header_bytes += strlen(line) + 2;
		if (header_bytes > MAX_HEADER_BYTES) {
			rc = sb_error_set(err, SB_ELIMIT, "http: headers over %d bytes",
					  MAX_HEADER_BYTES);
			goto out;
		}
		if (!r->status && strncmp(line, "HTTP/", 5) != 0) {
			rc = sb_error_set(err, SB_EFORMAT, "http: %s: not an http response", host);
			goto out;
		}
		if (line[0] == '\0') {
			if (r->status >= 100 && r->status < 200)
				continue;
			break;
		}
		rc = resp_line(r, line, err);
		if (rc)
			goto out;
	}
	if (head || (r->status != 200 && r->status != 206))
		goto out;
	if (r->status == 200 && s->done > 0) {
		rc = sb_http_sink_restart(s, err);
		if (rc)
			goto out;
	}
	if (r->status == 206 && (uint64_t)r->range_start != s->done) {
		rc = sb_error_set(err, SB_EFORMAT, "%s: asked for bytes from %llu, got from %lld",
				  s->path, (unsigned long long)s->done, (long long)r->range_start);
		goto out;
	}
	if (r->chunked)
		rc = conn_chunked(c, s, err);
	else
		rc = conn_body(c, s, r->length, err);
out:
	free(c);
	free(line);
	return rc;
}

int sb_http_response_read(int fd, int head, int out_fd, uint64_t *done, struct sb_http_resp *r,
			  struct sb_error *err)
{
	struct sb_http_sink s = { .fd = out_fd, .done = *done, .path = "body" };
	int rc = http_response(fd, head, "server", &s, r, err);

	*done = s.done;
	return rc;
}

int sb_http_headers_parse(struct sb_http_resp *r, char *text, struct sb_error *err)
{
	sb_http_resp_init(r);
	return resp_text(r, text, err);
}

char *sb_http_url_resolve(const char *base, const char *loc)
{
	return url_resolve(base, loc);
}

int sb_http_url_check(const char *url, struct sb_error *err)
{
	struct url u;

	return url_parse(url, &u, err);
}

/* The request text for q (a GET resumes from the sink's size); NULL on ENOMEM. */
static char *request_text(const struct sb_http_req *q, const struct url *u,
			  const struct sb_http_sink *s)
{
	int v6 = strchr(u->host, ':') != NULL, port = strcmp(u->port, "80") != 0;
	char range[48] = "";

	if (!q->head && s->done > 0)
		snprintf(range, sizeof(range), "Range: bytes=%llu-\r\n",
			 (unsigned long long)s->done);
	return sb_strf("%s %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\nUser-Agent: sb-hub"
		       "\r\nAccept: */*\r\nAccept-Encoding: identity\r\nConnection: close\r\n"
		       "%s%s%s%s\r\n",
		       q->head ? "HEAD" : "GET", u->path, v6 ? "[" : "", u->host, v6 ? "]" : "",
		       port ? ":" : "", port ? u->port : "", q->token ? "Authorization: Bearer " : "",
		       q->token ? q->token : "", q->token ? "\r\n" : "", range);
}

int sb_http_request(const struct sb_http_req *q, struct sb_http_sink *s, struct sb_http_resp *r,
		    struct sb_error *err)
{
	struct url u;
	char *req = NULL;
	int rc, fd = -1;

	rc = url_parse(q->url, &u, err);
	if (rc)
		return rc;
	req = request_text(q, &u, s);
	if (!req)
		return nomem(err);
	fd = tcp_connect(&u, q->timeout_s, err);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	rc = send_all(fd, req, strlen(req), err);
	if (rc)
		goto out;
	rc = http_response(fd, q->head, u.host, s, r, err);
out:
	if (fd >= 0)
		close(fd);
	free(req);
	return rc;
}
