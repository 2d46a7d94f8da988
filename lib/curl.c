/*
 * curl.c - https:// (and, on request, http://) transfers through curl(1): run with
 * posix_spawnp (no shell), the URL and the token given on its standard input as a
 * config file so the token never appears in a process listing.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "http.h"

extern char **environ;

static int nomem(struct sb_error *err)
{
	return sb_error_set(err, SB_ENOMEM, "hub: out of memory");
}

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

/* Reads curl's stderr (kept to its last 4 KiB, in eb) and, when op >= 0, its stdout
 * (kept to 1 MiB, in out) until both are closed. */
static void curl_collect(int ep, int op, struct sb_buf *eb, struct sb_buf *out)
{
	struct pollfd pf[2] = { { ep, POLLIN, 0 }, { op, POLLIN, 0 } };
	int open_n = op >= 0 ? 2 : 1;
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
			if (k == 0) {
				if (eb->len > 4096)
					sb_buf_consume(eb, eb->len - 2048);
				sb_buf_append(eb, tmp, (size_t)n, NULL);
			} else if (out->len < (1 << 20)) {
				sb_buf_append(out, tmp, (size_t)n, NULL);
			}
		}
	}
}

/* For messages: curl's own error line ("curl: (60) text": the text), which
 * explanations may follow; else the last non-empty line of its stderr. */
static void curl_errline(const struct sb_buf *eb, char *errline, size_t errcap)
{
	size_t end = eb->len, beg;

	errline[0] = '\0';
	if (!eb->len)
		return;
	while (end && (eb->data[end - 1] == '\n' || eb->data[end - 1] == '\r'))
		end--;
	beg = end;
	while (beg && eb->data[beg - 1] != '\n')
		beg--;
	for (size_t k = 0; k + 7 < eb->len; k++) {
		if ((k == 0 || eb->data[k - 1] == '\n') && memcmp(eb->data + k, "curl: (", 7) == 0) {
			/* Keep the text after "curl: (NN) ". */
			beg = k + 7;
			while (beg < eb->len && isdigit(eb->data[beg]))
				beg++;
			if (beg + 1 < eb->len && eb->data[beg] == ')' && eb->data[beg + 1] == ' ')
				beg += 2;
			end = beg;
			while (end < eb->len && eb->data[end] != '\n' && eb->data[end] != '\r')
				end++;
		}
	}
	if (end - beg >= errcap)
		end = beg + errcap - 1;
	memcpy(errline, eb->data + beg, end - beg);
	errline[end - beg] = '\0';
}

/* Starts prog with argv, its stdin, stdout and stderr on the given fds. */
static int curl_spawn(const char *prog, char *const argv[], int in, int out, int errfd,
		      pid_t *pid, struct sb_error *err)
{
	posix_spawn_file_actions_t fa;
	int e;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	e = posix_spawnp(pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e == ENOENT)
		return sb_error_set(err, SB_EUNSUPPORTED,
				    "https download needs curl(1); install it or use "
				    "HF_ENDPOINT=http://...");
	if (e)
		return sb_error_sys(err, SB_EIO, e, "hub: cannot run %s", prog);
	return SB_OK;
}

static void close_pair(int p[2])
{
	for (int k = 0; k < 2; k++)
		if (p[k] >= 0)
			close(p[k]);
	p[0] = p[1] = -1;
}

/*
 * Runs curl with argv, config text on its stdin; its stdout goes to out_fd (or is
 * captured into 'out' when out_fd < 0); its stderr is captured for the message.
 */
static int curl_run(const char *prog, char *const argv[], const struct sb_buf *conf, int out_fd,
		    struct sb_buf *out, int *exit_code, char *errline, size_t errcap,
		    struct sb_error *err)
{
	int in[2] = { -1, -1 }, op[2] = { -1, -1 }, ep[2] = { -1, -1 };
	struct sb_buf eb;
	pid_t pid;
	int rc, st;

	sb_buf_init(&eb);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0 ||
	    (out_fd < 0 && pipe2(op, O_CLOEXEC) < 0)) {
		rc = sb_error_sys(err, SB_EIO, errno, "hub: pipe failed");
		goto close;
	}
	rc = curl_spawn(prog, argv, in[0], out_fd >= 0 ? out_fd : op[1], ep[1], &pid, err);
	if (rc)
		goto close;
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
	curl_collect(ep[0], op[0], &eb, out);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	curl_errline(&eb, errline, errcap);
close:
	close_pair(in);
	close_pair(op);
	close_pair(ep);
	sb_buf_destroy(&eb);
	return rc;
}

/* The config curl reads on its stdin: the URL, the headers, the limits. */
static int curl_config(const struct sb_http_req *q, const char *timeout, struct sb_buf *conf,
		       struct sb_error *err)
{
	int rc = curl_conf(conf, "url", q->url, err);

	/* Sizes announced by HEAD must match what GET writes: no compression. */
	if (!rc)
		rc = curl_conf(conf, "header", "Accept-Encoding: identity", err);
	if (!rc)
		rc = curl_conf(conf, "proto", "=http,https", err);
	if (!rc)
		rc = curl_conf(conf, "proto-redir", "=http,https", err);
	/* Give up on a transfer that stalls (under 1 byte/s) for the timeout. */
	if (!rc)
		rc = curl_conf(conf, "speed-limit", "1", err);
	if (!rc)
		rc = curl_conf(conf, "speed-time", timeout, err);
	if (!rc && q->token) {
		char *h = sb_strf("Authorization: Bearer %s", q->token);

		rc = h ? curl_conf(conf, "header", h, err) : nomem(err);
		free(h);
	}
	return rc;
}

/* HEAD: no redirect following (the caller does it), headers parsed from curl's output. */
static int curl_head(const struct sb_http_req *q, const struct sb_buf *conf, char *timeout,
		     struct sb_http_resp *r, struct sb_error *err)
{
	char *argv[] = { "curl", "-sS", "-I", "--connect-timeout", timeout, "-K", "-", NULL };
	char errline[256];
	struct sb_buf out;
	int rc, code = 0;

	sb_buf_init(&out);
	rc = curl_run(q->curl, argv, conf, -1, &out, &code, errline, sizeof(errline), err);
	if (!rc && code)
		rc = sb_error_set(err, SB_EIO, "%s: curl failed (exit %d): %s", q->url, code,
				  errline);
	if (!rc)
		rc = sb_buf_append(&out, "", 1, err);
	if (!rc)
		rc = sb_http_headers_parse(r, (char *)out.data, err);
	sb_buf_destroy(&out);
	return rc;
}

/* GET: curl follows redirects, resumes with -C from the file's size and writes the
 * headers to a side file we parse. */
static int curl_get(const struct sb_http_req *q, const struct sb_buf *conf, char *timeout,
		    struct sb_http_sink *s, struct sb_http_resp *r, struct sb_error *err)
{
	char offset[32], errline[256];
	char *argv[] = { "curl", "-sS", "-f", "-L", "--max-redirs", "5", "--retry", "3",
			 "--connect-timeout", timeout, "-C", offset, "-D",
			 (char *)q->headers_path, "-K", "-", NULL };
	struct sb_buf out, hb;
	struct stat st;
	int rc, code = 0;

	snprintf(offset, sizeof(offset), "%llu", (unsigned long long)s->done);
	if (s->progress)
		s->progress(s->progress_ctx, s->path, s->done, s->total);
	sb_buf_init(&out);
	sb_buf_init(&hb);
	rc = curl_run(q->curl, argv, conf, s->fd, &out, &code, errline, sizeof(errline), err);
	if (!rc && sb_file_read(q->headers_path, 1 << 20, &hb, NULL) == SB_OK &&
	    sb_buf_append(&hb, "", 1, NULL) == SB_OK)
		rc = sb_http_headers_parse(r, (char *)hb.data, err);
	sb_buf_destroy(&hb);
	sb_buf_destroy(&out);
	unlink(q->headers_path);
	if (rc)
		return rc;
	if (fstat(s->fd, &st) == 0)
		s->done = (uint64_t)st.st_size;
	if (code == 33) {
		/* The server ignored the range: start over next attempt. */
		rc = sb_http_sink_restart(s, err);
		return rc ? rc : sb_error_set(err, SB_ETRUNCATED, "%s: server cannot resume",
					      s->path);
	}
	if (code && r->status < 400)
		return sb_error_set(err, code == 18 ? SB_ETRUNCATED : SB_EIO,
				    "%s: curl failed (exit %d): %s", q->url, code, errline);
	return SB_OK;
}

int sb_curl_request(const struct sb_http_req *q, struct sb_http_sink *s, struct sb_http_resp *r,
		    struct sb_error *err)
{
	struct sb_buf conf;
	char timeout[16];
	int rc;

	sb_buf_init(&conf);
	sb_http_resp_init(r);
	snprintf(timeout, sizeof(timeout), "%d", q->timeout_s);
	rc = curl_config(q, timeout, &conf, err);
	if (!rc)
		rc = q->head ? curl_head(q, &conf, timeout, r, err)
			     : curl_get(q, &conf, timeout, s, r, err);
	sb_buf_destroy(&conf);
	return rc;
}
