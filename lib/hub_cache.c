/*
 * hub_cache.c - the Hugging Face cache layout (hub.h): model ids and the names put
 * into paths, the cache folder, refs, blob names, snapshot links, and what a snapshot
 * must hold to be used without network.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "hub_cache.h"

#define ID_PART_MAX 96

static int set(const char *s)
{
	return s && *s;
}

static int nomem(struct sb_error *err)
{
	return sb_error_set(err, SB_ENOMEM, "hub: out of memory");
}

/* ---- names ---- */

/* Characters allowed in blob names, commits and revisions we put in paths. */
static int name_char(int c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.';
}

int sb_hub_safe_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (size_t k = 0; k < n; k++)
		if (!name_char((unsigned char)s[k]))
			return 0;
	return 1;
}

/* A path may hold '/' ("refs/pr/1") but no empty, "." or ".." component. */
int sb_hub_safe_path(const char *s)
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

int sb_hub_is_commit(const char *s)
{
	size_t n = strlen(s);

	if (n != 40)
		return 0;
	for (size_t k = 0; k < n; k++)
		if (!isxdigit((unsigned char)s[k]) || isupper((unsigned char)s[k]))
			return 0;
	return 1;
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

/* ---- the cache folder ---- */

const char *sb_hub_cache_source(const struct sb_hub_env *env)
{
	if (set(env->hf_hub_cache))
		return "HF_HUB_CACHE";
	if (set(env->hf_home))
		return "HF_HOME";
	if (set(env->xdg_cache_home))
		return "XDG_CACHE_HOME";
	return "HOME";
}

int sb_hub_cache_dir(const struct sb_hub_env *env, char **out, struct sb_error *err)
{
	*out = NULL;
	if (set(env->hf_hub_cache))
		*out = sb_strdup(env->hf_hub_cache);
	else if (set(env->hf_home))
		*out = sb_strf("%s/hub", env->hf_home);
	else if (set(env->xdg_cache_home))
		*out = sb_strf("%s/huggingface/hub", env->xdg_cache_home);
	else if (set(env->home))
		*out = sb_strf("%s/.cache/huggingface/hub", env->home);
	else
		return sb_error_set(err, SB_ENOTFOUND,
				    "hub: no cache folder: set HF_HUB_CACHE, HF_HOME or HOME");
	return *out ? SB_OK : nomem(err);
}

char *sb_hub_repo_dir(const char *cache, const char *id)
{
	const char *slash = strchr(id, '/');

	if (slash)
		return sb_strf("%s/models--%.*s--%s", cache, (int)(slash - id), id, slash + 1);
	return sb_strf("%s/models--%s", cache, id);
}

/* ---- folders ---- */

int sb_hub_mkdir_p(const char *path, struct sb_error *err)
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

/* Cuts p (n bytes) back to its parent folder; returns the new length. */
static size_t parent(char *p, size_t n)
{
	while (n > 0 && p[n - 1] != '/')
		n--;
	while (n > 1 && p[n - 1] == '/')
		n--;
	p[n] = '\0';
	return n;
}

size_t sb_hub_existing_prefix(const char *path)
{
	char *p = sb_strdup(path);
	size_t n = strlen(path);

	if (!p)
		return n;       /* removes nothing later */
	while (n > 0 && !sb_dir_exists(p))
		n = parent(p, n);
	free(p);
	return n;
}

void sb_hub_rmdir_up(const char *path, size_t keep)
{
	char *p = sb_strdup(path);
	size_t n = p ? strlen(p) : 0;

	while (p && n > keep && rmdir(p) == 0)
		n = parent(p, n);
	free(p);
}

/* ---- refs ---- */

/* Writes s to path atomically: a temporary file in the same folder, then rename. */
static int write_atomic(const char *path, const char *s, struct sb_error *err)
{
	char *tmp = sb_strf("%s.tmp.%ld", path, (long)getpid());
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

int sb_hub_write_ref(const char *repo, const char *rev, const char *commit, struct sb_error *err)
{
	char *ref = sb_strf("%s/refs/%s", repo, rev), *dir = sb_strdup(ref);
	int rc;

	if (!ref || !dir) {
		rc = nomem(err);
	} else {
		*strrchr(dir, '/') = '\0';
		rc = sb_hub_mkdir_p(dir, err);
		if (!rc)
			rc = write_atomic(ref, commit, err);
	}
	free(dir);
	free(ref);
	return rc;
}

/* Reads the small text file of a ref and strips trailing white space. */
int sb_hub_read_ref(const char *repo, const char *rev, char **out, struct sb_error *err)
{
	char *path = sb_strf("%s/refs/%s", repo, rev);
	struct sb_buf b;
	int rc;

	*out = NULL;
	if (!path)
		return nomem(err);
	sb_buf_init(&b);
	rc = sb_file_read(path, 1024, &b, err);
	if (rc == SB_ENOTFOUND) {
		sb_error_clear(err);
		rc = SB_OK;
		goto out;
	}
	if (rc == SB_OK) {
		while (b.len && isspace(b.data[b.len - 1]))
			b.len--;
		rc = sb_buf_append(&b, "", 1, err);
	}
	if (rc == SB_OK && !sb_hub_safe_name((char *)b.data, 128))
		rc = sb_error_set(err, SB_EFORMAT, "%s: not a commit hash", path);
	if (rc == SB_OK) {
		*out = (char *)b.data;
		sb_buf_init(&b);
	}
out:
	sb_buf_destroy(&b);
	free(path);
	return rc;
}

/* ---- blobs and snapshots ---- */

char *sb_hub_blob_name(const char *etag, const char *commit, const char *path)
{
	const char *e = etag;
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
		if (sb_hub_safe_name(name, 128))
			return sb_strdup(name);
	}
	/* FNV-1a 64 of "commit/path": stable across runs, so resumes still match. */
	{
		uint64_t h = sb_fnv1a64(SB_FNV1A64_INIT, commit, strlen(commit));

		h = sb_fnv1a64(h, "/", 1);
		h = sb_fnv1a64(h, path, strlen(path));
		return sb_strf("noetag-%016llx", (unsigned long long)h);
	}
}

int sb_hub_link_snapshot(const char *repo, const char *commit, const char *path,
			 const char *name, struct sb_error *err)
{
	char *link = sb_strf("%s/snapshots/%s/%s", repo, commit, path);
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
	target = sb_strf("%sblobs/%s", (char *)up.data, name);
	tmp = sb_strf("%s.tmp.%ld", link, (long)getpid());
	if (!dir || !target || !tmp) {
		rc = nomem(err);
		goto out;
	}
	*strrchr(dir, '/') = '\0';
	rc = sb_hub_mkdir_p(dir, err);
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

/* ---- what a snapshot holds ---- */

size_t sb_hub_modules(const char *dir, struct sb_hub_module out[SB_MODULES_MAX])
{
	struct sb_module_list *l = malloc(sizeof(*l));
	size_t n = 0;

	if (!l)
		return 0;
	/* A refused modules.json fetches nothing more: the loader names the fault. */
	if (sb_module_list_read(l, dir, NULL) != SB_OK)
		l->n = 0;
	for (size_t k = 0; k < l->n; k++) {
		const struct sb_module_entry *e = &l->items[k];

		if (e->type != SB_MODULE_DENSE && e->type != SB_MODULE_LAYERNORM &&
		    e->type != SB_MODULE_POOLING)
			continue;
		if (!e->path[0] || !sb_hub_safe_path(e->path))
			continue;
		memcpy(out[n].path, e->path, sizeof(out[n].path));
		out[n].want_weights = e->type != SB_MODULE_POOLING;
		n++;
	}
	free(l);
	return n;
}

/* 1 if dir/a or (b non-NULL) dir/b exists; dir may be NULL for the snapshot itself. */
static int has_either(const char *snap, const char *dir, const char *a, const char *b)
{
	const char *names[2] = { a, b };
	int ok = 0;

	for (int m = 0; m < 2 && !ok && names[m]; m++) {
		char *p = dir ? sb_strf("%s/%s/%s", snap, dir, names[m])
			      : sb_path_join(snap, names[m]);

		ok = p && sb_file_exists(p);
		free(p);
	}
	return ok;
}

int sb_hub_snapshot_complete(const char *snap)
{
	struct sb_hub_module *mods = malloc(SB_MODULES_MAX * sizeof(*mods));
	size_t n;
	int ok;

	ok = mods && has_either(snap, NULL, "config.json", NULL) &&
	     has_either(snap, NULL, "model.safetensors", "pytorch_model.bin") &&
	     has_either(snap, NULL, "vocab.txt", "tokenizer.json");
	n = ok ? sb_hub_modules(snap, mods) : 0;
	for (size_t k = 0; k < n && ok; k++)
		if (mods[k].want_weights)
			ok = has_either(snap, mods[k].path, "config.json", NULL) &&
			     has_either(snap, mods[k].path, "model.safetensors",
					"pytorch_model.bin");
	free(mods);
	return ok;
}
