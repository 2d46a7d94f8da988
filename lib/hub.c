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
 * The files are those of a sentence-transformers model folder: the fixed list below,
 * then the folders of the Dense, LayerNorm and Pooling modules its modules.json names
 * (2_Dense/config.json and 2_Dense/model.safetensors or pytorch_model.bin, ...), then
 * the transformer's weights.
 *
 * Transport (http.h): http:// URLs use the small HTTP/1.1 client of http.c; https://
 * URLs run curl(1) (curl.c).  The cache layout lives in hub_cache.c.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "hub.h"
#include "hub_cache.h"

#define DEFAULT_ENDPOINT "https://huggingface.co"
#define MAX_REDIRECTS 5

static int set(const char *s)
{
	return s && *s;
}

static int nomem(struct sb_error *err)
{
	return sb_error_set(err, SB_ENOMEM, "hub: out of memory");
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

/* ---- downloads ---- */

struct job {
	const struct sb_hub_env *env;
	const char *id;
	const char *endpoint;   /* without trailing '/' */
	char *repo;             /* CACHE/models--ORG--NAME */
	const char *rev;        /* requested revision */
	char *commit;           /* known commit (malloc'd), or NULL */
};

/* One request through the client the URL needs (curl for https, or when asked). */
static int request_once(struct job *j, const char *url, int head, struct sb_http_sink *s,
			struct sb_http_resp *r, const char *headers_path, struct sb_error *err)
{
	const struct sb_hub_env *env = j->env;
	struct sb_http_req q = {
		.url = url,
		.head = head,
		/* The token is only sent to the endpoint's own origin. */
		.token = set(env->token) && sb_http_same_origin(url, j->endpoint) ? env->token
										     : NULL,
		.timeout_s = env->timeout_s > 0 ? env->timeout_s : 60,
		.curl = set(env->curl) ? env->curl : "curl",
		.headers_path = headers_path,
	};

	if (strncmp(url, "https://", 8) == 0 || env->use_curl)
		return sb_curl_request(&q, s, r, err);
	return sb_http_request(&q, s, r, err);
}

/*
 * A request with redirects handled here (HEAD: relative ones only, stopping at the
 * first absolute one, whose target is returned in *next_url; GET: all).
 */
static int request(struct job *j, const char *url0, int head, struct sb_http_sink *s,
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
		char *next;

		rc = request_once(j, url, head, s, r, headers_path, err);
		if (rc)
			break;
		if (r->status < 300 || r->status >= 400 || r->status == 304 || !r->location[0])
			break;
		if (hops == MAX_REDIRECTS) {
			rc = sb_error_set(err, SB_EIO, "%s: more than %d redirects", url0,
					  MAX_REDIRECTS);
			break;
		}
		next = sb_http_url_resolve(url, r->location);
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

/* 1 if the open file fd is the one now at path (not one removed meanwhile). */
static int same_file(int fd, const char *path)
{
	struct stat st, at_path;

	return fstat(fd, &st) == 0 && stat(path, &at_path) == 0 && st.st_dev == at_path.st_dev &&
	       st.st_ino == at_path.st_ino;
}

/*
 * Opens blobs/NAME.incomplete for appending, under an exclusive lock: another process
 * may be fetching the same blob, and this waits for it.  *fd is -1 (and SB_OK) when
 * that process finished the blob meanwhile.
 */
static int open_part(const char *blobs, const char *part, const char *blob, int *fd,
		     struct sb_error *err)
{
	for (int tries = 0;; tries++) {
		/* blobs/ is made by the first download, not before (a typo creates nothing). */
		int rc = sb_hub_mkdir_p(blobs, err);

		if (rc)
			return rc;
		*fd = open(part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
		if (*fd < 0 && errno == ENOENT && tries < 5)
			continue;       /* blobs/ was just removed by a fetch that failed */
		if (*fd < 0)
			return sb_error_sys(err, SB_EIO, errno, "%s", part);
		if (flock(*fd, LOCK_EX) < 0)
			return sb_error_sys(err, SB_EIO, errno, "%s: lock failed", part);
		if (sb_file_exists(blob))
			return SB_OK;   /* the other process finished it; *fd is closed by the caller */
		/* The other process failed before its first byte and removed its empty
		 * part file (below): start over on the file now at the path. */
		if (same_file(*fd, part))
			return SB_OK;
		close(*fd);
		*fd = -1;
		if (tries == 5)
			return sb_error_set(err, SB_EIO, "%s: removed again and again", part);
	}
}

/* GETs url into the sink's part file, resuming after cuts, up to the attempts allowed. */
static int get_attempts(struct job *j, const char *path, const char *url, int64_t size,
			struct sb_http_sink *s, const char *part, const char *hdrs,
			struct sb_error *err)
{
	int attempts = j->env->attempts > 0 ? j->env->attempts : 3, rc = SB_OK;
	struct sb_http_resp r;
	struct stat st;

	for (int a = 0; a < attempts; a++) {
		if (fstat(s->fd, &st) < 0)
			return sb_error_sys(err, SB_EIO, errno, "%s", part);
		s->done = (uint64_t)st.st_size;
		if (size >= 0 && s->done > (uint64_t)size && (rc = sb_http_sink_restart(s, err)))
			return rc;
		if (size >= 0 && s->done == (uint64_t)size && size > 0)
			return SB_OK;
		if (j->env->progress && s->done == 0)
			j->env->progress(j->env->progress_ctx, path, 0, s->total);
		sb_error_clear(err);
		rc = request(j, url, 0, s, &r, NULL, hdrs, err);
		if (rc == SB_OK && r.status != 200 && r.status != 206)
			return status_error(j, path, &r, err);
		if (rc == SB_OK)
			return SB_OK;
		/* Cuts, timeouts and transport faults are retried from where they stopped. */
		if (rc != SB_ETRUNCATED && rc != SB_ETIMEOUT && rc != SB_EIO)
			return rc;
	}
	return rc;
}

/* Checks the size of the finished part file, syncs it and renames it to the blob. */
static int finish_blob(struct job *j, const char *path, int fd, int64_t size, const char *part,
		       const char *blob, struct sb_error *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return sb_error_sys(err, SB_EIO, errno, "%s", part);
	if (size >= 0 && st.st_size != size)
		return sb_error_set(err, SB_ETRUNCATED, "%s: %s: got %lld bytes, expected %lld",
				    j->id, path, (long long)st.st_size, (long long)size);
	if (fsync(fd) < 0)
		return sb_error_sys(err, SB_EIO, errno, "%s: fsync failed", part);
	if (rename(part, blob) < 0)
		return sb_error_sys(err, SB_EIO, errno, "%s: rename failed", blob);
	if (j->env->progress)
		j->env->progress(j->env->progress_ctx, path, (uint64_t)st.st_size,
				 (uint64_t)st.st_size);
	return SB_OK;
}

/* Downloads url into blobs/NAME through blobs/NAME.incomplete, resuming. */
static int download_blob(struct job *j, const char *path, const char *url, const char *name,
			 int64_t size, struct sb_error *err)
{
	char *blob = sb_strf("%s/blobs/%s", j->repo, name);
	char *part = sb_strf("%s/blobs/%s.incomplete", j->repo, name);
	char *hdrs = sb_strf("%s/blobs/%s.headers.%ld", j->repo, name, (long)getpid());
	char *blobs = sb_strf("%s/blobs", j->repo);
	struct sb_http_sink s = { .fd = -1, .path = path, .progress = j->env->progress,
				  .progress_ctx = j->env->progress_ctx };
	struct stat st;
	int rc;

	if (!blob || !part || !hdrs || !blobs) {
		rc = nomem(err);
		goto out;
	}
	s.total = size > 0 ? (uint64_t)size : 0;
	rc = open_part(blobs, part, blob, &s.fd, err);
	if (rc || s.fd < 0 || sb_file_exists(blob))
		goto out;
	rc = get_attempts(j, path, url, size, &s, part, hdrs, err);
	if (!rc)
		rc = finish_blob(j, path, s.fd, size, part, blob, err);
out:
	if (s.fd >= 0) {
		/* Only partial data is kept, for the next attempt to resume: an empty part
		 * file (nothing arrived, or the blob was found done) is removed while the
		 * lock is still held. */
		if (part && fstat(s.fd, &st) == 0 && st.st_size == 0 && same_file(s.fd, part))
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
	struct sb_http_sink none = { .fd = -1, .path = path };
	struct sb_http_resp r;
	char *url, *next = NULL, *name = NULL, *blob = NULL;
	int rc;

	*got = 0;
	if (j->commit) {
		char *have = sb_strf("%s/snapshots/%s/%s", j->repo, j->commit, path);

		if (!have)
			return nomem(err);
		*got = sb_file_exists(have);
		free(have);
		if (*got)
			return SB_OK;
	}
	url = sb_strf("%s/%s/resolve/%s/%s", j->endpoint, j->id, j->commit ? j->commit : j->rev,
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

		if (!sb_hub_safe_name(c, 128)) {
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
	name = sb_hub_blob_name(r.linked_etag[0] ? r.linked_etag : r.etag, j->commit, path);
	if (!name) {
		rc = nomem(err);
		goto out;
	}
	blob = sb_strf("%s/blobs/%s", j->repo, name);
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
	rc = sb_hub_link_snapshot(j->repo, j->commit, path, name, err);
	if (!rc)
		*got = 1;
out:
	free(url);
	free(next);
	free(name);
	free(blob);
	return rc;
}

/* A file of a model folder.  'alt' names a file of the same list that makes this one
 * optional (vocab.txt when tokenizer.json exists) or, with skip_if_alt, unnecessary (no
 * pytorch_model.bin when model.safetensors exists). */
struct file_spec {
	const char *path;
	int required;
	const char *alt;
	int skip_if_alt;
};

/* What a sentence-transformers model folder holds, in download order: these, then the
 * module folders, then the weights (last, so a snapshot with weights is complete). */
static const struct file_spec meta_files[] = {
	{ "config.json", 1, NULL, 0 },
	{ "tokenizer.json", 0, NULL, 0 },
	{ "vocab.txt", 1, "tokenizer.json", 0 },
	{ "tokenizer_config.json", 0, NULL, 0 },
	{ "special_tokens_map.json", 0, NULL, 0 },
	{ "sentence_bert_config.json", 0, NULL, 0 },
	{ "modules.json", 0, NULL, 0 },
	{ "1_Pooling/config.json", 0, NULL, 0 },
	{ "config_sentence_transformers.json", 0, NULL, 0 },
};

/* The weights of the transformer, and of a Dense or LayerNorm module in its folder. */
static const struct file_spec weight_files[] = {
	{ "model.safetensors", 0, NULL, 0 },
	{ "pytorch_model.bin", 1, "model.safetensors", 1 },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Fetches the n files of list f, inside folder dir ("" for the model folder). */
static int fetch_list(struct job *j, const char *dir, const struct file_spec *f, size_t n,
		      struct sb_error *err)
{
	int got[COUNT(meta_files)] = { 0 };
	int rc = SB_OK;

	assert(n <= COUNT(got));
	for (size_t k = 0; k < n && !rc; k++) {
		int required = f[k].required, have_alt = 0;
		char *path;

		for (size_t m = 0; f[k].alt && m < k; m++)
			if (strcmp(f[m].path, f[k].alt) == 0 && got[m])
				have_alt = 1;
		if (have_alt && f[k].skip_if_alt)
			continue;
		if (have_alt)
			required = 0;
		path = *dir ? sb_strf("%s/%s", dir, f[k].path) : sb_strdup(f[k].path);
		rc = path ? fetch_file(j, path, required, &got[k], err) : nomem(err);
		free(path);
	}
	return rc;
}

/* The folders of the Dense, LayerNorm and Pooling modules modules.json names. */
static int fetch_modules(struct job *j, struct sb_error *err)
{
	static const struct file_spec config[] = { { "config.json", 1, NULL, 0 } };
	static const struct file_spec pooling[] = { { "config.json", 0, NULL, 0 } };
	struct sb_hub_module *mods = malloc(SB_MODULES_MAX * sizeof(*mods));
	char *snap = sb_strf("%s/snapshots/%s", j->repo, j->commit);
	size_t n = mods && snap ? sb_hub_modules(snap, mods) : 0;
	int rc = mods && snap ? SB_OK : nomem(err);

	for (size_t k = 0; k < n && !rc; k++) {
		const char *dir = mods[k].path;

		if (!mods[k].want_weights) {
			/* 1_Pooling/config.json is in meta_files already. */
			if (strcmp(dir, "1_Pooling") != 0)
				rc = fetch_list(j, dir, pooling, 1, err);
			continue;
		}
		rc = fetch_list(j, dir, config, 1, err);
		if (!rc)
			rc = fetch_list(j, dir, weight_files, COUNT(weight_files), err);
	}
	free(mods);
	free(snap);
	return rc;
}

static int download(struct job *j, struct sb_error *err)
{
	/* The first file names the commit: refs/REV records it at once. */
	int rc = fetch_list(j, "", meta_files, 1, err);

	if (!rc && !sb_hub_is_commit(j->rev) && strcmp(j->rev, j->commit) != 0)
		rc = sb_hub_write_ref(j->repo, j->rev, j->commit, err);
	if (!rc)
		rc = fetch_list(j, "", meta_files + 1, COUNT(meta_files) - 1, err);
	if (!rc)
		rc = fetch_modules(j, err);
	if (!rc)
		rc = fetch_list(j, "", weight_files, COUNT(weight_files), err);
	return rc;
}

/* The checks on a -m argument that is not an existing folder. */
static int check_id(const char *model, const struct sb_hub_env *env, struct sb_error *err)
{
	const char *rev = set(env->revision) ? env->revision : "main";
	struct stat st;

	/* "model.bin" has the shape of an id too; an existing file is a mistake. */
	if (lstat(model, &st) == 0)
		return sb_error_set(err, SB_EINVAL, "%s: not a model folder", model);
	if (!sb_hub_is_id(model) || model[0] == '.')
		return sb_error_set(err, SB_ENOTFOUND,
				    "%s: no such model folder, and not a hub id (org/name)", model);
	if (!sb_hub_safe_path(rev))
		return sb_error_set(err, SB_EINVAL, "hub: bad revision '%.80s'", rev);
	if (set(env->token))
		for (const char *p = env->token; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return sb_error_set(err, SB_EINVAL,
						    "hub: HF_TOKEN holds control characters");
	return SB_OK;
}

/* Fills j for the id: repository folder and the commit the revision is known as (NULL
 * when the cache does not know it). */
static int job_init(struct job *j, const char *model, const struct sb_hub_env *env,
		    const char *cache, struct sb_error *err)
{
	memset(j, 0, sizeof(*j));
	j->env = env;
	j->id = model;
	j->rev = set(env->revision) ? env->revision : "main";
	j->repo = sb_hub_repo_dir(cache, model);
	if (!j->repo)
		return nomem(err);
	if (!sb_hub_is_commit(j->rev))
		return sb_hub_read_ref(j->repo, j->rev, &j->commit, err);
	j->commit = sb_strdup(j->rev);
	return j->commit ? SB_OK : nomem(err);
}

/* The endpoint without trailing '/', checked, into j->endpoint. */
static int job_endpoint(struct job *j, struct sb_error *err)
{
	const char *ep = set(j->env->endpoint) ? j->env->endpoint : DEFAULT_ENDPOINT;
	size_t n = strlen(ep);
	int rc;

	while (n > 0 && ep[n - 1] == '/')
		n--;
	j->endpoint = sb_strf("%.*s", (int)n, ep);
	if (!j->endpoint)
		return nomem(err);
	rc = sb_http_url_check(j->endpoint, err);
	if (rc)
		sb_error_prefix(err, "HF_ENDPOINT: ");
	return rc;
}

/* Downloads the model; the folders made are removed again if it fails before anything
 * is kept, and a failure of the first request (no commit known: the hub may not have
 * the model, often a typo) says first that the model is not in the cache. */
static int job_download(struct job *j, const char *cache, struct sb_error *err)
{
	char *blobs = sb_strf("%s/blobs", j->repo);
	size_t keep;
	int rc;

	if (!blobs)
		return nomem(err);
	keep = sb_hub_existing_prefix(blobs);
	rc = download(j, err);
	if (rc)
		sb_hub_rmdir_up(blobs, keep);
	free(blobs);
	if (rc && !j->commit && err) {
		struct sb_error e = *err;
		size_t n = strlen(j->id);
		const char *m = e.msg;

		if (!strncmp(m, j->id, n) && m[n] == ':' && m[n + 1] == ' ')
			m += n + 2;
		sb_error_set(err, rc, "%s: no such folder, and not in the Hugging Face "
			     "cache %s (from %s); from the hub: %s", j->id, cache,
			     sb_hub_cache_source(j->env), m);
	}
	return rc;
}

int sb_hub_resolve(const char *model, const struct sb_hub_env *env, char **dir_out,
		   struct sb_error *err)
{
	struct job j;
	char *cache = NULL, *snap = NULL;
	int rc;

	*dir_out = NULL;
	memset(&j, 0, sizeof(j));
	if (!model || !*model)
		return sb_error_set(err, SB_EINVAL, "hub: empty model name");
	if (sb_dir_exists(model)) {
		*dir_out = sb_strdup(model);
		return *dir_out ? SB_OK : nomem(err);
	}
	if ((rc = check_id(model, env, err)) || (rc = sb_hub_cache_dir(env, &cache, err)))
		return rc;
	rc = job_init(&j, model, env, cache, err);
	if (rc)
		goto out;
	if (j.commit) {
		snap = sb_strf("%s/snapshots/%s", j.repo, j.commit);
		if (!snap) {
			rc = nomem(err);
			goto out;
		}
		if (sb_hub_snapshot_complete(snap) || (env->offline && sb_dir_exists(snap))) {
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
				  sb_hub_cache_source(env));
		goto out;
	}
	if ((rc = job_endpoint(&j, err)) || (rc = job_download(&j, cache, err)))
		goto out;
	*dir_out = sb_strf("%s/snapshots/%s", j.repo, j.commit);
	if (!*dir_out)
		rc = nomem(err);
out:
	free((char *)j.endpoint);
	free(j.repo);
	free(j.commit);
	free(cache);
	free(snap);
	return rc;
}
