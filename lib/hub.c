/*
 * hub.c - Hugging Face hub ids: cache lookup and resumable downloads.
 *
 * A download goes file by file.  For each file a HEAD request on
 * ENDPOINT/ID/resolve/REV/PATH gives the commit (X-Repo-Commit), the blob name
 * (X-Linked-Etag for large files stored out of the git tree, else ETag) and the size;
 * relative redirects (renamed repositories) are followed, an absolute one (the
 * content delivery network) is where the GET goes.  The body is appended to
 * blobs/ETAG.incomplete (held under flock so two processes never interleave), resumed
 * with "Range: bytes=N-" after a cut, fsync'ed, renamed to blobs/ETAG, and linked from
 * snapshots/COMMIT/PATH with a relative symlink.  refs/REV is written as soon as the
 * first file names the commit, atomically (temporary file + rename) so a reader never
 * sees half a hash; a snapshot counts as complete only once config, vocabulary and
 * weights (fetched last) are all there, so an interrupted download is resumed, not used.
 * Nothing is created in the cache before the first file's HEAD succeeds: a model that
 * is not on the hub (a typo) leaves no models--X folder; a fetch that fails before its
 * first byte leaves no empty part file, and the folders it made are removed again.
 *
 * Transport: http:// URLs use the small HTTP/1.1 client below (one request per
 * connection, "Connection: close"; Content-Length, chunked or until-close bodies);
 * https:// URLs run curl(1) through posix_spawnp (no shell), with the URL and the
 * token given on its standard input as a config file so the token never appears in
 * a process listing.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "hub.h"
#include "internal.h"

extern char **environ;

#define DEFAULT_ENDPOINT "https://huggingface.co"
#define MAX_REDIRECTS 5
#define MAX_HEADER_LINE 8192
#define MAX_HEADER_BYTES 65536
#define ID_PART_MAX 96

/* ---- small helpers ---- */

__attribute__((format(printf, 1, 2)))
static char *strf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

static int set(const char *s)
{
	return s && *s;
}

static int nomem(struct sb_error *err)
{
	return sb_error_set(err, SB_ENOMEM, "hub: out of memory");
}

/* Characters allowed in blob names, commits and revisions we put in paths. */
static int name_char(int c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.';
}

static int safe_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (size_t k = 0; k < n; k++)
		if (!name_char((unsigned char)s[k]))
			return 0;
	return 1;
}

/* A revision may hold '/' ("refs/pr/1") but no empty, "." or ".." component. */
static int safe_revision(const char *s)
{
	const char *p = s;

	if (!*s || strlen(s) > 256)
		return 0;
	for (;;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		for (size_t k = 0; k < n; k++)
			if (!name_char((unsigned char)p[k]))
				return 0;
		if (!e)
			return 1;
		p = e + 1;
	}
}

static int is_commit_hash(const char *s)
{
	size_t n = strlen(s);

	if (n != 40)
		return 0;
	for (size_t k = 0; k < n; k++)
		if (!isxdigit((unsigned char)s[k]) || isupper((unsigned char)s[k]))
			return 0;
	return 1;
}

static int mkdir_p(const char *path, struct sb_error *err)
{
	char *p = sb_strdup(path);

	if (!p)
		return nomem(err);
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, 0777) < 0 && errno != EEXIST) {
				int e = errno;

				sb_error_sys(err, SB_EIO, e, "%s: cannot create folder", p);
				free(p);
				return SB_EIO;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	if (!sb_dir_exists(path))
		return sb_error_set(err, SB_EIO, "%s: not a folder", path);
	return SB_OK;
}

/* Length of the longest prefix of path (at a '/' or the whole) that is an existing
 * folder: what mkdir_p(path) would not create. */
static size_t existing_prefix(const char *path)
{
	char *p = sb_strdup(path);
	size_t n = strlen(path);

	if (!p)
		return n;       /* removes nothing later */
	while (n > 0 && !sb_dir_exists(p)) {
		while (n > 0 && p[n - 1] != '/')
			n--;
		while (n > 1 && p[n - 1] == '/')
			n--;
		p[n] = '\0';
	}
	free(p);
	return n;
}

/* Removes path and its parents while they are empty and longer than keep bytes: the
 * folders mkdir_p made for a fetch that then failed.  Folders in use stay. */
static void rmdir_up(const char *path, size_t keep)
{
	char *p = sb_strdup(path);
	size_t n = p ? strlen(p) : 0;

	while (p && n > keep && rmdir(p) == 0) {
		while (n > 0 && p[n - 1] != '/')
			n--;
		while (n > 1 && p[n - 1] == '/')
			n--;
		p[n] = '\0';
	}
	free(p);
}

/* Which variable chose the cache folder (for messages). */
static const char *cache_source(const struct sb_hub_env *env)
{
	if (set(env->hf_hub_cache))
		return "HF_HUB_CACHE";
	if (set(env->hf_home))
		return "HF_HOME";
	if (set(env->xdg_cache_home))
		return "XDG_CACHE_HOME";
	return "HOME";
}

/* Writes s to path atomically: a temporary file in the same folder, then rename. */
static int write_atomic(const char *path, const char *s, struct sb_error *err)
{
	char *tmp = strf("%s.tmp.%ld", path, (long)getpid());
	size_t n = strlen(s);
	int fd, rc = SB_OK;

	if (!tmp)
		return nomem(err);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0) {
		rc = sb_error_sys(err, SB_EIO, errno, "%s", tmp);
		free(tmp);
		return rc;
	}
	if (write(fd, s, n) != (ssize_t)n || fsync(fd) < 0)
		rc = sb_error_sys(err, SB_EIO, errno, "%s: write failed", tmp);
	if (close(fd) < 0 && !rc)
		rc = sb_error_sys(err, SB_EIO, errno, "%s: close failed", tmp);
	if (!rc && rename(tmp, path) < 0)
		rc = sb_error_sys(err, SB_EIO, errno, "%s: rename failed", path);
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* Reads a small text file (a ref) and strips trailing white space; NULL if absent. */
static int read_ref(const char *path, char **out, struct sb_error *err)
{
	struct sb_buf b;
	int rc;

	*out = NULL;
	sb_buf_init(&b);
	rc = sb_file_read(path, 1024, &b, err);
	if (rc == SB_ENOTFOUND) {
		sb_buf_destroy(&b);
		sb_error_clear(err);
		return SB_OK;
	}
	if (rc == SB_OK) {
		while (b.len && isspace(b.data[b.len - 1]))
			b.len--;
		rc = sb_buf_append(&b, "", 1, err);
	}
	if (rc == SB_OK && !safe_name((char *)b.data, 128))
		rc = sb_error_set(err, SB_EFORMAT, "%s: not a commit hash", path);
	if (rc == SB_OK) {
		*out = (char *)b.data;
		return SB_OK;
	}
	sb_buf_destroy(&b);
	return rc;
}

/* ---- environment ---- */

static int truthy(const char *v)
{
	return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 ||
		     strcasecmp(v, "yes") == 0 || strcasecmp(v, "on") == 0);
}

void sb_hub_env_from(struct sb_hub_env *env, char *(*get)(const char *name))
{
	memset(env, 0, sizeof(*env));
	env->hf_hub_cache = get("HF_HUB_CACHE");
	env->hf_home = get("HF_HOME");
	env->xdg_cache_home = get("XDG_CACHE_HOME");
	env->home = get("HOME");
	env->endpoint = get("HF_ENDPOINT");
	env->token = get("HF_TOKEN");
	env->offline = truthy(get("HF_HUB_OFFLINE"));
}

static int id_part(const char *s, size_t n)
{
	if (n == 0 || n > ID_PART_MAX)
		return 0;
	if (s[0] == '-' || s[0] == '.' || s[n - 1] == '-' || s[n - 1] == '.')
		return 0;
	for (size_t k = 0; k < n; k++) {
		if (!name_char((unsigned char)s[k]))
			return 0;
		if (k && (s[k] == '-' || s[k] == '.') && s[k - 1] == s[k])
			return 0;
	}
	return 1;
}

int sb_hub_is_id(const char *s)
{
	const char *slash;

	if (!s)
		return 0;
	slash = strchr(s, '/');
	if (!slash)
		return id_part(s, strlen(s));
	return id_part(s, (size_t)(slash - s)) && id_part(slash + 1, strlen(slash + 1));
}

int sb_hub_cache_dir(const struct sb_hub_env *env, char **out, struct sb_error *err)
{
	*out = NULL;
	if (set(env->hf_hub_cache))
		*out = sb_strdup(env->hf_hub_cache);
	else if (set(env->hf_home))
		*out = strf("%s/hub", env->hf_home);
	else if (set(env->xdg_cache_home))
		*out = strf("%s/huggingface/hub", env->xdg_cache_home);
	else if (set(env->home))
		*out = strf("%s/.cache/huggingface/hub", env->home);
	else
		return sb_error_set(err, SB_ENOTFOUND,
				    "hub: no cache folder: set HF_HUB_CACHE, HF_HOME or HOME");
	return *out ? SB_OK : nomem(err);
}

/* ---- HTTP responses ---- */

static void resp_init(struct sb_http_resp *r)
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

static int same_origin(const char *a, const char *b)
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

		return strf("%.*s:%s", (int)s, base, loc);
	}
	if (loc[0] == '/')
		return strf("%.*s%s", (int)o, base, loc);
	/* Relative to the folder of the base path. */
	{
		const char *q = base + o + strcspn(base + o, "?#");
		const char *slash = q;

		while (slash > base + o && slash[-1] != '/')
			slash--;
		if (slash == base + o)
			return strf("%.*s/%s", (int)o, base, loc);
		return strf("%.*s%s", (int)(slash - base), base, loc);
	}
}

/* ---- transfers ---- */

/* Where a GET body goes: appended to fd, reported through the progress callback. */
struct sink {
	int fd;
	uint64_t done;          /* bytes in the file */
	uint64_t total;         /* expected size, 0 if unknown */
	const char *path;       /* repository path, for progress */
	const struct sb_hub_env *env;
};

static int sink_write(struct sink *s, const unsigned char *p, size_t n, struct sb_error *err)
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
	if (s->env->progress)
		s->env->progress(s->env->progress_ctx, s->path, s->done, s->total);
	return SB_OK;
}

/* Restarts the file from byte 0 (the server ignored our Range). */
static int sink_restart(struct sink *s, struct sb_error *err)
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
static int conn_body(struct conn *c, struct sink *s, int64_t want, struct sb_error *err)
{
	uint64_t got = 0;
	int rc;

	for (;;) {
		size_t avail = c->end - c->beg;

		if (want >= 0 && (uint64_t)want - got < avail)
			avail = (size_t)((uint64_t)want - got);
		if (avail) {
			rc = sink_write(s, c->buf + c->beg, avail, err);
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

static int conn_chunked(struct conn *c, struct sink *s, struct sb_error *err)
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
static int http_response(int fd, int head, const char *host, struct sink *s,
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
	resp_init(r);
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
		rc = sink_restart(s, err);
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
	static const struct sb_hub_env quiet;   /* no progress callback */
	struct sink s = { .fd = out_fd, .done = *done, .path = "body", .env = &quiet };
	int rc = http_response(fd, head, "server", &s, r, err);

	*done = s.done;
	return rc;
}

int sb_http_headers_parse(struct sb_http_resp *r, char *text, struct sb_error *err)
{
	resp_init(r);
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

/*
 * One HTTP/1.1 request over a fresh connection, no redirect following.  For a GET
 * answered 200 or 206 the body goes to the sink (restarted on a 200 after a Range).
 */
static int http_once(const char *url, int head, const char *token, struct sink *s,
		     struct sb_http_resp *r, const struct sb_hub_env *env, struct sb_error *err)
{
	struct url u;
	char *req = NULL;
	int rc, fd = -1;

	rc = url_parse(url, &u, err);
	if (rc)
		return rc;
	req = strf("%s %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\nUser-Agent: sb-hub"
		   "\r\nAccept: */*\r\nAccept-Encoding: identity\r\nConnection: close\r\n"
		   "%s%s%s",
		   head ? "HEAD" : "GET", u.path, strchr(u.host, ':') ? "[" : "", u.host,
		   strchr(u.host, ':') ? "]" : "", strcmp(u.port, "80") ? ":" : "",
		   strcmp(u.port, "80") ? u.port : "", token ? "Authorization: Bearer " : "",
		   token ? token : "", token ? "\r\n" : "");
	if (req && !head && s->done > 0) {
		char *r2 = strf("%sRange: bytes=%llu-\r\n", req, (unsigned long long)s->done);

		free(req);
		req = r2;
	}
	if (req) {
		char *r2 = strf("%s\r\n", req);

		free(req);
		req = r2;
	}
	if (!req) {
		rc = nomem(err);
		goto out;
	}
	fd = tcp_connect(&u, env->timeout_s > 0 ? env->timeout_s : 60, err);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	rc = send_all(fd, req, strlen(req), err);
	if (rc)
		goto out;
	rc = http_response(fd, head, u.host, s, r, err);
out:
	if (fd >= 0)
		close(fd);
	free(req);
	return rc;
}

/* ---- curl(1) for https ---- */

/* Appends a curl config line `key = "value"` with the value escaped. */
static int curl_conf(struct sb_buf *b, const char *key, const char *v, struct sb_error *err)
{
	int rc = sb_buf_append(b, key, strlen(key), err);

	if (!rc)
		rc = sb_buf_append(b, " = \"", 4, err);
	for (; !rc && *v; v++) {
		if (*v == '"' || *v == '\\')
			rc = sb_buf_append(b, "\\", 1, err);
		if (!rc)
			rc = sb_buf_append(b, v, 1, err);
	}
	if (!rc)
		rc = sb_buf_append(b, "\"\n", 2, err);
	return rc;
}

/*
 * Runs curl with argv, config text on its stdin; its stdout goes to out_fd (or is
 * captured into 'out' when out_fd < 0); its stderr is captured for the message.
 */
static int curl_run(const struct sb_hub_env *env, char *const argv[], const struct sb_buf *conf,
		    int out_fd, struct sb_buf *out, int *exit_code, char *errline, size_t errcap,
		    struct sb_error *err)
{
	int in[2] = { -1, -1 }, op[2] = { -1, -1 }, ep[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	struct sb_buf eb;
	const char *prog = set(env->curl) ? env->curl : "curl";
	pid_t pid;
	int rc = SB_OK, st, e;

	sb_buf_init(&eb);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0 ||
	    (out_fd < 0 && pipe2(op, O_CLOEXEC) < 0)) {
		rc = sb_error_sys(err, SB_EIO, errno, "hub: pipe failed");
		goto close;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd >= 0 ? out_fd : op[1], 1);
	posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
	e = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e) {
		if (e == ENOENT)
			rc = sb_error_set(err, SB_EUNSUPPORTED,
					  "https download needs curl(1); install it or use "
					  "HF_ENDPOINT=http://...");
		else
			rc = sb_error_sys(err, SB_EIO, e, "hub: cannot run %s", prog);
		goto close;
	}
	close(in[0]);
	close(ep[1]);
	in[0] = ep[1] = -1;
	if (op[1] >= 0) {
		close(op[1]);
		op[1] = -1;
	}
	/* The config is far below a pipe's capacity: write it all, then read. */
	if (write(in[1], conf->data, conf->len) != (ssize_t)conf->len)
		rc = sb_error_sys(err, SB_EIO, errno, "hub: cannot talk to %s", prog);
	close(in[1]);
	in[1] = -1;
	{
		struct pollfd pf[2] = { { ep[0], POLLIN, 0 }, { op[0], POLLIN, 0 } };
		int open_n = op[0] >= 0 ? 2 : 1;
		unsigned char tmp[4096];

		while (open_n > 0) {
			if (poll(pf, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			for (int k = 0; k < 2; k++) {
				ssize_t n;

				if (pf[k].fd < 0 || !pf[k].revents)
					continue;
				n = read(pf[k].fd, tmp, sizeof(tmp));
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0) {
					pf[k].fd = -1;
					open_n--;
					continue;
				}
				/* Stderr is kept to its last 4 KiB; stdout (headers) to 1 MiB. */
				if (k == 0) {
					if (eb.len > 4096)
						sb_buf_consume(&eb, eb.len - 2048);
					sb_buf_append(&eb, tmp, (size_t)n, NULL);
				} else if (out->len < (1 << 20)) {
					sb_buf_append(out, tmp, (size_t)n, NULL);
				}
			}
		}
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	/* For messages: curl's own error line ("curl: (60) text": the text), which
	 * explanations may follow; else the last non-empty line of its stderr. */
	errline[0] = '\0';
	if (eb.len) {
		size_t end = eb.len, beg;

		while (end && (eb.data[end - 1] == '\n' || eb.data[end - 1] == '\r'))
			end--;
		beg = end;
		while (beg && eb.data[beg - 1] != '\n')
			beg--;
		for (size_t k = 0; k + 7 < eb.len; k++) {
			if ((k == 0 || eb.data[k - 1] == '\n') &&
			    memcmp(eb.data + k, "curl: (", 7) == 0) {
				/* Keep the text after "curl: (NN) ". */
				beg = k + 7;
				while (beg < eb.len && isdigit(eb.data[beg]))
					beg++;
				if (beg + 1 < eb.len && eb.data[beg] == ')' &&
				    eb.data[beg + 1] == ' ')
					beg += 2;
				end = beg;
				while (end < eb.len && eb.data[end] != '\n' && eb.data[end] != '\r')
					end++;
			}
		}
		if (end - beg >= errcap)
			end = beg + errcap - 1;
		memcpy(errline, eb.data + beg, end - beg);
		errline[end - beg] = '\0';
	}
close:
	for (int k = 0; k < 2; k++) {
		if (in[k] >= 0)
			close(in[k]);
		if (op[k] >= 0)
			close(op[k]);
		if (ep[k] >= 0)
			close(ep[k]);
	}
	sb_buf_destroy(&eb);
	return rc;
}

/*
 * An https request through curl.  HEAD: no redirect following (the caller does it),
 * headers parsed from curl's output.  GET: curl follows redirects, resumes with
 * -C - from the file's size and writes the headers to a side file we parse.
 */
static int curl_once(const char *url, int head, const char *token, struct sink *s,
		     struct sb_http_resp *r, const char *headers_path, const struct sb_hub_env *env,
		     struct sb_error *err)
{
	struct sb_buf conf, out;
	char errline[256], tbuf[16], offset[32];
	int rc, code = 0;

	sb_buf_init(&conf);
	sb_buf_init(&out);
	resp_init(r);
	snprintf(tbuf, sizeof(tbuf), "%d", env->timeout_s > 0 ? env->timeout_s : 60);
	snprintf(offset, sizeof(offset), "%llu", head ? 0ULL : (unsigned long long)s->done);
	rc = curl_conf(&conf, "url", url, err);
	/* Sizes announced by HEAD must match what GET writes: no compression. */
	if (!rc)
		rc = curl_conf(&conf, "header", "Accept-Encoding: identity", err);
	if (!rc)
		rc = curl_conf(&conf, "proto", "=http,https", err);
	if (!rc)
		rc = curl_conf(&conf, "proto-redir", "=http,https", err);
	/* Give up on a transfer that stalls (under 1 byte/s) for the timeout. */
	if (!rc)
		rc = curl_conf(&conf, "speed-limit", "1", err);
	if (!rc)
		rc = curl_conf(&conf, "speed-time", tbuf, err);
	if (!rc && token) {
		char *h = strf("Authorization: Bearer %s", token);

		rc = h ? curl_conf(&conf, "header", h, err) : nomem(err);
		free(h);
	}
	if (rc)
		goto out;
	if (head) {
		char *argv[] = { "curl", "-sS", "-I", "--connect-timeout", tbuf, "-K", "-", NULL };

		rc = curl_run(env, argv, &conf, -1, &out, &code, errline, sizeof(errline), err);
		if (!rc && code)
			rc = sb_error_set(err, SB_EIO, "%s: curl failed (exit %d): %s", url, code,
					  errline);
		if (!rc) {
			rc = sb_buf_append(&out, "", 1, err);
			if (!rc)
				rc = resp_text(r, (char *)out.data, err);
		}
	} else {
		char *argv[] = { "curl", "-sS", "-f", "-L", "--max-redirs", "5", "--retry", "3",
				 "--connect-timeout", tbuf, "-C", offset, "-D",
				 (char *)headers_path, "-K", "-", NULL };
		struct sb_buf hb;

		if (s->env->progress)
			s->env->progress(s->env->progress_ctx, s->path, s->done, s->total);
		rc = curl_run(env, argv, &conf, s->fd, &out, &code, errline, sizeof(errline), err);
		sb_buf_init(&hb);
		if (!rc && sb_file_read(headers_path, 1 << 20, &hb, NULL) == SB_OK &&
		    sb_buf_append(&hb, "", 1, NULL) == SB_OK)
			rc = resp_text(r, (char *)hb.data, err);
		sb_buf_destroy(&hb);
		unlink(headers_path);
		if (!rc) {
			struct stat st;

			if (fstat(s->fd, &st) == 0)
				s->done = (uint64_t)st.st_size;
		}
		if (!rc && code == 33) {
			/* The server ignored the range: start over next attempt. */
			rc = sink_restart(s, err);
			if (!rc)
				rc = sb_error_set(err, SB_ETRUNCATED, "%s: server cannot resume",
						  s->path);
		} else if (!rc && code && r->status < 400) {
			rc = sb_error_set(err, code == 18 ? SB_ETRUNCATED : SB_EIO,
					  "%s: curl failed (exit %d): %s", url, code, errline);
		}
	}
out:
	sb_buf_destroy(&conf);
	sb_buf_destroy(&out);
	return rc;
}

/* ---- downloads ---- */

struct job {
	const struct sb_hub_env *env;
	const char *id;
	const char *endpoint;   /* without trailing '/' */
	char *repo;             /* CACHE/models--ORG--NAME */
	const char *rev;        /* requested revision */
	char *commit;           /* known commit (malloc'd), or NULL */
};

/*
 * A request with redirects handled here (HEAD: relative ones only, stopping at the
 * first absolute one, whose target is returned in *next_url; GET: all).  The token is
 * only sent to the endpoint's own origin.
 */
static int request(struct job *j, const char *url0, int head, struct sink *s,
		   struct sb_http_resp *r, char **next_url, const char *headers_path,
		   struct sb_error *err)
{
	char *url = sb_strdup(url0);
	int rc = SB_OK;

	if (next_url)
		*next_url = NULL;
	if (!url)
		return nomem(err);
	for (int hops = 0;; hops++) {
		const char *token = set(j->env->token) && same_origin(url, j->endpoint)
				    ? j->env->token : NULL;
		char *next;

		if (strncmp(url, "https://", 8) == 0 || j->env->use_curl)
			rc = curl_once(url, head, token, s, r, headers_path, j->env, err);
		else
			rc = http_once(url, head, token, s, r, j->env, err);
		if (rc)
			break;
		if (r->status < 300 || r->status >= 400 || r->status == 304 || !r->location[0])
			break;
		if (hops == MAX_REDIRECTS) {
			rc = sb_error_set(err, SB_EIO, "%s: more than %d redirects", url0,
					  MAX_REDIRECTS);
			break;
		}
		next = url_resolve(url, r->location);
		if (!next) {
			rc = nomem(err);
			break;
		}
		if (head && !(r->location[0] == '/' && r->location[1] != '/')) {
			*next_url = next;
			break;
		}
		free(url);
		url = next;
	}
	free(url);
	return rc;
}

static int status_error(struct job *j, const char *path, const struct sb_http_resp *r,
			struct sb_error *err)
{
	if (r->status == 404)
		return sb_error_set(err, SB_ENOTFOUND, "%s: %s: not found on %s (http 404)", j->id,
				    path, j->endpoint);
	if (r->status == 401 || r->status == 403)
		return sb_error_set(err, SB_ENOTFOUND,
				    "%s: %s: access denied by %s (http %d); the model does not "
				    "exist or %s", j->id, path, j->endpoint, r->status,
				    set(j->env->token) ? "HF_TOKEN does not grant access to it"
						       : "is private or gated (set HF_TOKEN)");
	return sb_error_set(err, SB_EIO, "%s: %s: http status %d from %s", j->id, path, r->status,
			    j->endpoint);
}

/* The blob name from the response: the ETag without W/ and quotes when it is a safe
 * file name, else a name derived from commit and path. */
static char *blob_name(struct job *j, const char *path, const struct sb_http_resp *r)
{
	const char *e = r->linked_etag[0] ? r->linked_etag : r->etag;
	char name[160];
	size_t n;

	if (strncmp(e, "W/", 2) == 0)
		e += 2;
	n = strlen(e);
	if (n >= 2 && e[0] == '"' && e[n - 1] == '"') {
		e++;
		n -= 2;
	}
	if (n > 0 && n < sizeof(name)) {
		memcpy(name, e, n);
		name[n] = '\0';
		if (safe_name(name, 128))
			return sb_strdup(name);
	}
	/* FNV-1a 64 of "commit/path": stable across runs, so resumes still match. */
	{
		uint64_t h = 0xcbf29ce484222325ULL;
		const char *parts[3] = { j->commit, "/", path };

		for (int k = 0; k < 3; k++)
			for (const char *p = parts[k]; *p; p++)
				h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
		return strf("noetag-%016llx", (unsigned long long)h);
	}
}

/* Makes snapshots/COMMIT/PATH a relative link to blobs/NAME (atomically replaced). */
static int link_snapshot(struct job *j, const char *path, const char *name, struct sb_error *err)
{
	char *link = strf("%s/snapshots/%s/%s", j->repo, j->commit, path);
	char *dir = NULL, *target = NULL, *tmp = NULL;
	struct sb_buf up;
	int rc = SB_OK, depth = 2;

	sb_buf_init(&up);
	for (const char *p = path; *p; p++)
		depth += *p == '/';
	for (int k = 0; k < depth && !rc; k++)
		rc = sb_buf_append(&up, "../", 3, err);
	if (!rc)
		rc = sb_buf_append(&up, "", 1, err);
	if (rc)
		goto out;
	if (!link) {
		rc = nomem(err);
		goto out;
	}
	dir = sb_strdup(link);
	target = strf("%sblobs/%s", (char *)up.data, name);
	tmp = strf("%s.tmp.%ld", link, (long)getpid());
	if (!dir || !target || !tmp) {
		rc = nomem(err);
		goto out;
	}
	*strrchr(dir, '/') = '\0';
	rc = mkdir_p(dir, err);
	if (rc)
		goto out;
	unlink(tmp);
	if (symlink(target, tmp) < 0) {
		rc = sb_error_sys(err, SB_EIO, errno, "%s: cannot create link", tmp);
		goto out;
	}
	if (rename(tmp, link) < 0) {
		rc = sb_error_sys(err, SB_EIO, errno, "%s: cannot rename link", link);
		unlink(tmp);
	}
out:
	sb_buf_destroy(&up);
	free(link);
	free(dir);
	free(target);
	free(tmp);
	return rc;
}

/* Downloads url into blobs/NAME through blobs/NAME.incomplete, resuming. */
static int download_blob(struct job *j, const char *path, const char *url, const char *name,
			 int64_t size, struct sb_error *err)
{
	char *blob = strf("%s/blobs/%s", j->repo, name);
	char *part = strf("%s/blobs/%s.incomplete", j->repo, name);
	char *hdrs = strf("%s/blobs/%s.headers.%ld", j->repo, name, (long)getpid());
	char *blobs = strf("%s/blobs", j->repo);
	int attempts = j->env->attempts > 0 ? j->env->attempts : 3;
	struct sink s = { .fd = -1, .path = path, .env = j->env };
	struct sb_http_resp r;
	struct stat st, at_path;
	int rc = SB_OK;

	if (!blob || !part || !hdrs || !blobs) {
		rc = nomem(err);
		goto out;
	}
	s.total = size > 0 ? (uint64_t)size : 0;
	for (int tries = 0;; tries++) {
		/* blobs/ is made by the first download, not before (a typo creates nothing). */
		rc = mkdir_p(blobs, err);
		if (rc)
			goto out;
		s.fd = open(part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
		if (s.fd < 0 && errno == ENOENT && tries < 5)
			continue;       /* blobs/ was just removed by a fetch that failed */
		if (s.fd < 0) {
			rc = sb_error_sys(err, SB_EIO, errno, "%s", part);
			goto out;
		}
		/* Another process may be fetching the same blob: wait for it. */
		if (flock(s.fd, LOCK_EX) < 0) {
			rc = sb_error_sys(err, SB_EIO, errno, "%s: lock failed", part);
			goto out;
		}
		if (sb_file_exists(blob))
			goto out;       /* the other process finished it */
		/* The other process failed before its first byte and removed its empty
		 * part file (below): start over on the file now at the path. */
		if (fstat(s.fd, &st) == 0 && stat(part, &at_path) == 0 &&
		    st.st_dev == at_path.st_dev && st.st_ino == at_path.st_ino)
			break;
		close(s.fd);
		s.fd = -1;
		if (tries == 5) {
			rc = sb_error_set(err, SB_EIO, "%s: removed again and again", part);
			goto out;
		}
	}
	for (int a = 0; a < attempts; a++) {
		if (fstat(s.fd, &st) < 0) {
			rc = sb_error_sys(err, SB_EIO, errno, "%s", part);
			goto out;
		}
		s.done = (uint64_t)st.st_size;
		if (size >= 0 && s.done > (uint64_t)size) {
			rc = sink_restart(&s, err);
			if (rc)
				goto out;
		}
		if (size >= 0 && s.done == (uint64_t)size && size > 0) {
			rc = SB_OK;
			break;
		}
		if (j->env->progress && s.done == 0)
			j->env->progress(j->env->progress_ctx, path, 0, s.total);
		sb_error_clear(err);
		rc = request(j, url, 0, &s, &r, NULL, hdrs, err);
		if (rc == SB_OK && r.status != 200 && r.status != 206) {
			rc = status_error(j, path, &r, err);
			goto out;
		}
		if (rc == SB_OK)
			break;
		/* Cuts, timeouts and transport faults are retried from where they stopped. */
		if (rc != SB_ETRUNCATED && rc != SB_ETIMEOUT && rc != SB_EIO)
			goto out;
	}
	if (rc)
		goto out;
	if (fstat(s.fd, &st) < 0) {
		rc = sb_error_sys(err, SB_EIO, errno, "%s", part);
		goto out;
	}
	if (size >= 0 && st.st_size != size) {
		rc = sb_error_set(err, SB_ETRUNCATED, "%s: %s: got %lld bytes, expected %lld",
				  j->id, path, (long long)st.st_size, (long long)size);
		goto out;
	}
	if (fsync(s.fd) < 0) {
		rc = sb_error_sys(err, SB_EIO, errno, "%s: fsync failed", part);
		goto out;
	}
	if (rename(part, blob) < 0) {
		rc = sb_error_sys(err, SB_EIO, errno, "%s: rename failed", blob);
		goto out;
	}
	if (j->env->progress)
		j->env->progress(j->env->progress_ctx, path, (uint64_t)st.st_size,
				 (uint64_t)st.st_size);
out:
	if (s.fd >= 0) {
		/* Only partial data is kept, for the next attempt to resume: an empty part
		 * file (nothing arrived, or the blob was found done) is removed while the
		 * lock is still held. */
		if (part && fstat(s.fd, &st) == 0 && st.st_size == 0 && stat(part, &at_path) == 0 &&
		    st.st_dev == at_path.st_dev && st.st_ino == at_path.st_ino)
			unlink(part);
		close(s.fd);    /* releases the lock */
	}
	free(blob);
	free(part);
	free(hdrs);
	free(blobs);
	return rc;
}

/* Fetches one file of the repository; *got says whether it is now in the snapshot. */
static int fetch_file(struct job *j, const char *path, int required, int *got,
		      struct sb_error *err)
{
	struct sink none = { .fd = -1, .path = path, .env = j->env };
	struct sb_http_resp r;
	char *url, *next = NULL, *name = NULL, *blob = NULL;
	int rc;

	*got = 0;
	if (j->commit) {
		char *have = strf("%s/snapshots/%s/%s", j->repo, j->commit, path);

		if (!have)
			return nomem(err);
		*got = sb_file_exists(have);
		free(have);
		if (*got)
			return SB_OK;
	}
	url = strf("%s/%s/resolve/%s/%s", j->endpoint, j->id, j->commit ? j->commit : j->rev,
		   path);
	if (!url)
		return nomem(err);
	rc = request(j, url, 1, &none, &r, &next, NULL, err);
	if (rc) {
		sb_error_prefix(err, "%s: %s: ", j->id, path);
		goto out;
	}
	if (r.status == 404 && !required)
		goto out;
	if (r.status >= 400 || (r.status >= 300 && !next)) {
		rc = status_error(j, path, &r, err);
		goto out;
	}
	if (!j->commit) {
		const char *c = r.commit[0] ? r.commit : j->rev;

		if (!safe_name(c, 128)) {
			char shown[64];

			rc = sb_error_set(err, SB_EFORMAT, "%s: bad revision '%s' from %s",
					  j->id, sb_printable(c, strlen(c), shown, sizeof(shown)),
					  j->endpoint);
			goto out;
		}
		j->commit = sb_strdup(c);
		if (!j->commit) {
			rc = nomem(err);
			goto out;
		}
	}
	name = blob_name(j, path, &r);
	if (!name) {
		rc = nomem(err);
		goto out;
	}
	blob = strf("%s/blobs/%s", j->repo, name);
	if (!blob) {
		rc = nomem(err);
		goto out;
	}
	if (!sb_file_exists(blob)) {
		int64_t size = r.linked_size >= 0 ? r.linked_size
			       : r.status == 200 ? r.length : -1;

		rc = download_blob(j, path, next ? next : url, name, size, err);
		if (rc)
			goto out;
	}
	rc = link_snapshot(j, path, name, err);
	if (!rc)
		*got = 1;
out:
	free(url);
	free(next);
	free(name);
	free(blob);
	return rc;
}

/* What a sentence-transformers model folder holds, in download order.  'alt' names
 * a file that makes this one optional (vocab.txt when tokenizer.json exists) or, with
 * skip_if_alt, unnecessary (no pytorch_model.bin when model.safetensors exists). */
static const struct {
	const char *path;
	int required;
	const char *alt;
	int skip_if_alt;
} files[] = {
	{ "config.json", 1, NULL, 0 },
	{ "tokenizer.json", 0, NULL, 0 },
	{ "vocab.txt", 1, "tokenizer.json", 0 },
	{ "tokenizer_config.json", 0, NULL, 0 },
	{ "special_tokens_map.json", 0, NULL, 0 },
	{ "sentence_bert_config.json", 0, NULL, 0 },
	{ "modules.json", 0, NULL, 0 },
	{ "1_Pooling/config.json", 0, NULL, 0 },
	{ "config_sentence_transformers.json", 0, NULL, 0 },
	{ "model.safetensors", 0, NULL, 0 },
	{ "pytorch_model.bin", 1, "model.safetensors", 1 },
};

#define N_FILES (sizeof(files) / sizeof(files[0]))

static int download(struct job *j, struct sb_error *err)
{
	int got[N_FILES] = { 0 };
	int rc;

	for (size_t k = 0; k < N_FILES; k++) {
		int required = files[k].required;

		if (files[k].alt) {
			int have_alt = 0;

			for (size_t m = 0; m < k; m++)
				if (strcmp(files[m].path, files[k].alt) == 0 && got[m])
					have_alt = 1;
			if (have_alt && files[k].skip_if_alt)
				continue;
			if (have_alt)
				required = 0;
		}
		rc = fetch_file(j, files[k].path, required, &got[k], err);
		if (rc)
			return rc;
		if (k == 0 && !is_commit_hash(j->rev) && strcmp(j->rev, j->commit) != 0) {
			char *ref = strf("%s/refs/%s", j->repo, j->rev), *dir;

			if (!ref)
				return nomem(err);
			dir = sb_strdup(ref);
			if (!dir) {
				free(ref);
				return nomem(err);
			}
			*strrchr(dir, '/') = '\0';
			rc = mkdir_p(dir, err);
			if (!rc)
				rc = write_atomic(ref, j->commit, err);
			free(dir);
			free(ref);
			if (rc)
				return rc;
		}
	}
	return SB_OK;
}

/* A snapshot is usable without network when config, weights and vocabulary are there. */
static int snapshot_complete(const char *snap)
{
	static const char *const need[][2] = {
		{ "config.json", NULL },
		{ "model.safetensors", "pytorch_model.bin" },
		{ "vocab.txt", "tokenizer.json" },
	};

	for (size_t k = 0; k < sizeof(need) / sizeof(need[0]); k++) {
		int ok = 0;

		for (int m = 0; m < 2 && !ok; m++) {
			char *p;

			if (!need[k][m])
				continue;
			p = sb_path_join(snap, need[k][m]);
			ok = p && sb_file_exists(p);
			free(p);
		}
		if (!ok)
			return 0;
	}
	return 1;
}

int sb_hub_resolve(const char *model, const struct sb_hub_env *env, char **dir_out,
		   struct sb_error *err)
{
	struct job j;
	char *cache = NULL, *snap = NULL, *ref = NULL, *blobs = NULL;
	size_t keep = 0;
	int rc;

	*dir_out = NULL;
	memset(&j, 0, sizeof(j));
	if (!model || !*model)
		return sb_error_set(err, SB_EINVAL, "hub: empty model name");
	if (sb_dir_exists(model)) {
		*dir_out = sb_strdup(model);
		return *dir_out ? SB_OK : nomem(err);
	}
	{
		struct stat st;

		/* "model.bin" has the shape of an id too; an existing file is a mistake. */
		if (lstat(model, &st) == 0)
			return sb_error_set(err, SB_EINVAL, "%s: not a model folder", model);
	}
	if (!sb_hub_is_id(model) || model[0] == '.')
		return sb_error_set(err, SB_ENOTFOUND,
				    "%s: no such model folder, and not a hub id (org/name)", model);
	j.env = env;
	j.id = model;
	j.rev = set(env->revision) ? env->revision : "main";
	if (!safe_revision(j.rev))
		return sb_error_set(err, SB_EINVAL, "hub: bad revision '%.80s'", j.rev);
	if (set(env->token))
		for (const char *p = env->token; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return sb_error_set(err, SB_EINVAL,
						    "hub: HF_TOKEN holds control characters");
	rc = sb_hub_cache_dir(env, &cache, err);
	if (rc)
		return rc;
	{
		const char *slash = strchr(model, '/');

		j.repo = slash ? strf("%s/models--%.*s--%s", cache, (int)(slash - model), model,
				      slash + 1)
			       : strf("%s/models--%s", cache, model);
	}
	if (!j.repo) {
		rc = nomem(err);
		goto out;
	}
	if (is_commit_hash(j.rev)) {
		j.commit = sb_strdup(j.rev);
		if (!j.commit) {
			rc = nomem(err);
			goto out;
		}
	} else {
		ref = strf("%s/refs/%s", j.repo, j.rev);
		if (!ref) {
			rc = nomem(err);
			goto out;
		}
		rc = read_ref(ref, &j.commit, err);
		if (rc)
			goto out;
	}
	if (j.commit) {
		snap = strf("%s/snapshots/%s", j.repo, j.commit);
		if (!snap) {
			rc = nomem(err);
			goto out;
		}
		if (snapshot_complete(snap) || (env->offline && sb_dir_exists(snap))) {
			*dir_out = snap;
			snap = NULL;
			goto out;
		}
	}
	/* Neither a folder nor in the cache: most often a typo, so say that first. */
	if (env->offline) {
		rc = sb_error_set(err, SB_ENOTFOUND,
				  "%s: no such folder, and not in the Hugging Face cache %s "
				  "(from %s); HF_HUB_OFFLINE is set", model, cache,
				  cache_source(env));
		goto out;
	}
	{
		const char *ep = set(env->endpoint) ? env->endpoint : DEFAULT_ENDPOINT;
		size_t n = strlen(ep);
		char *e;

		while (n > 0 && ep[n - 1] == '/')
			n--;
		e = strf("%.*s", (int)n, ep);
		if (!e) {
			rc = nomem(err);
			goto out;
		}
		j.endpoint = e;
		{
			struct url u;

			rc = url_parse(j.endpoint, &u, err);
			if (rc) {
				sb_error_prefix(err, "HF_ENDPOINT: ");
				goto out;
			}
		}
	}
	/* Folders are made by the first download (download_blob); those it made are
	 * removed again if the fetch fails before anything is kept. */
	blobs = strf("%s/blobs", j.repo);
	if (!blobs) {
		rc = nomem(err);
		goto out;
	}
	keep = existing_prefix(blobs);
	rc = download(&j, err);
	if (rc) {
		rmdir_up(blobs, keep);
		/* The first request failed (no commit known): the hub may not have it. */
		if (!j.commit && err) {
			struct sb_error e = *err;
			size_t n = strlen(model);
			const char *m = e.msg;

			if (!strncmp(m, model, n) && m[n] == ':' && m[n + 1] == ' ')
				m += n + 2;
			sb_error_set(err, rc, "%s: no such folder, and not in the Hugging Face "
				     "cache %s (from %s); from the hub: %s", model, cache,
				     cache_source(env), m);
		}
	}
	if (!rc) {
		*dir_out = strf("%s/snapshots/%s", j.repo, j.commit);
		if (!*dir_out)
			rc = nomem(err);
	}
out:
	free(blobs);
	free((char *)j.endpoint);
	free(j.repo);
	free(j.commit);
	free(cache);
	free(snap);
	free(ref);
	return rc;
}
