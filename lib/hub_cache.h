/*
 * hub_cache.h - the Hugging Face cache layout (see hub.h) and what a model's snapshot
 * must hold; private to libsb (not installed).  Only names checked by the sb_hub_safe_*
 * functions below are ever put into a path: a server's answers cannot lead a write
 * outside CACHE/models--ORG--NAME.
 */
#ifndef SB_HUB_CACHE_H
#define SB_HUB_CACHE_H

#include <stddef.h>

#include "errors.h"
#include "hub.h"
#include "internal.h"
#include "modules.h"

/* 1 if s is a file name of letters, digits, '-', '_', '.', at most max bytes, not "."
 * or "..". */
int sb_hub_safe_name(const char *s, size_t max);

/* 1 if s is a relative path of such names joined by '/' (a revision such as
 * "refs/pr/1", a module folder), at most 256 bytes. */
int sb_hub_safe_path(const char *s);

/* 1 if s is a full commit hash: 40 lowercase hexadecimal digits. */
int sb_hub_is_commit(const char *s);

/* Which variable chose the cache folder, for messages: "HF_HUB_CACHE", ..., "HOME". */
const char *sb_hub_cache_source(const struct sb_hub_env *env);

/* CACHE/models--ORG--NAME (or models--NAME) for the id, malloc'd; NULL on ENOMEM. */
char *sb_hub_repo_dir(const char *cache, const char *id);

/* Creates path and its missing parents.  SB_EIO names the folder that failed. */
int sb_hub_mkdir_p(const char *path, struct sb_error *err);

/* Length of the longest prefix of path (at a '/' or the whole) that is an existing
 * folder: what sb_hub_mkdir_p(path) would not create. */
size_t sb_hub_existing_prefix(const char *path);

/* Removes path and its parents while they are empty and longer than keep bytes: the
 * folders sb_hub_mkdir_p made for a fetch that then failed.  Folders in use stay. */
void sb_hub_rmdir_up(const char *path, size_t keep);

/* The commit REPO/refs/REV names, malloc'd in *out; *out NULL (and SB_OK) when there is
 * no such ref.  SB_EFORMAT when the file does not hold a safe name. */
int sb_hub_read_ref(const char *repo, const char *rev, char **out, struct sb_error *err);

/* Writes REPO/refs/REV = commit, atomically (temporary file + rename), so a reader never
 * sees half a hash. */
int sb_hub_write_ref(const char *repo, const char *rev, const char *commit,
		     struct sb_error *err);

/* The blob name for a file: its ETag without W/ and quotes when that is a safe file
 * name, else "noetag-" and the FNV-1a 64 hash of "commit/path" (stable across runs, so
 * resumes still match).  Malloc'd; NULL on ENOMEM. */
char *sb_hub_blob_name(const char *etag, const char *commit, const char *path);

/* Makes REPO/snapshots/COMMIT/PATH a relative link to blobs/NAME (atomically replaced). */
int sb_hub_link_snapshot(const char *repo, const char *commit, const char *path,
			 const char *name, struct sb_error *err);

/*
 * The module folders of the model in dir whose files sb reads, from its modules.json:
 * Dense and LayerNorm (config.json and weights, want_weights 1) and Pooling
 * (config.json).  Entries with path "" and folders that are not sb_hub_safe_path are
 * left out, as is everything when modules.json is absent or refused: the model loader
 * names the fault then.  Returns the count, at most SB_MODULES_MAX.
 */
struct sb_hub_module {
	char path[SB_MODULE_PATH_MAX];
	int want_weights;
};
size_t sb_hub_modules(const char *dir, struct sb_hub_module out[SB_MODULES_MAX]);

/* 1 when the snapshot folder can be used without network: config.json, weights and a
 * vocabulary, and for each Dense or LayerNorm module its config.json and weights. */
int sb_hub_snapshot_complete(const char *snap);

#endif
