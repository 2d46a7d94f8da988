/*
 * hub.h - Hugging Face hub model ids: look them up in the local cache, download
 * the files of a sentence-transformers model into it when missing.
 *
 * Cache layout (the one huggingface_hub uses, so both tools share downloads):
 *
 *   CACHE/models--ORG--NAME/refs/REVISION         the commit hash REVISION points to
 *   CACHE/models--ORG--NAME/blobs/ETAG            file contents, named by ETag
 *   CACHE/models--ORG--NAME/blobs/ETAG.incomplete a download in progress (resumed)
 *   CACHE/models--ORG--NAME/snapshots/COMMIT/PATH relative symlink to ../../blobs/ETAG
 *
 * CACHE is env.hf_hub_cache, else env.hf_home + "/hub", else env.xdg_cache_home +
 * "/huggingface/hub", else env.home + "/.cache/huggingface/hub".
 * Files come from ENDPOINT/ORG/NAME/resolve/REVISION/PATH.
 *
 * libsb does not read the environment: the caller fills struct sb_hub_env, usually
 * with sb_hub_env_from(&env, getenv).  http:// endpoints are served by a small
 * built-in HTTP/1.1 client; https:// ones by running curl(1) as a child process
 * (found through PATH, no shell involved; the token is passed on its stdin, never
 * on its command line).
 */
#ifndef SB_HUB_H
#define SB_HUB_H

#include "api.h"

#include <stdint.h>

#include "errors.h"

/*
 * Called while files are fetched: 'path' is the file inside the repository,
 * 'done' the bytes on disk so far, 'total' the expected size (0 when unknown).
 * It is called once with done == 0 when a file starts (or resumes with done > 0)
 * and once more with done == total at the end; the built-in client calls it as
 * data arrives as well.  It must not call back into libsb's hub functions.
 */
typedef void sb_hub_progress_fn(void *ctx, const char *path, uint64_t done, uint64_t total);

struct sb_hub_env {
	/* Environment values; NULL or "" means unset.  Strings are borrowed: they must
	 * outlive the calls that use the struct. */
	const char *hf_hub_cache;       /* $HF_HUB_CACHE: the cache folder itself */
	const char *hf_home;            /* $HF_HOME: cache is HF_HOME/hub */
	const char *xdg_cache_home;     /* $XDG_CACHE_HOME: cache is .../huggingface/hub */
	const char *home;               /* $HOME: cache is ~/.cache/huggingface/hub */
	const char *endpoint;           /* $HF_ENDPOINT, default https://huggingface.co */
	const char *token;              /* $HF_TOKEN: sent as "Authorization: Bearer ..." */
	int offline;                    /* $HF_HUB_OFFLINE is 1/true/yes/on: no network */

	/* Options (zero values are the defaults). */
	const char *revision;           /* branch, tag or commit; NULL: "main" */
	const char *curl;               /* curl program for https; NULL: "curl" via PATH */
	int use_curl;                   /* 1: curl for http:// too (it honours proxies) */
	int attempts;                   /* tries per file, each resuming the last; 0: 3 */
	int timeout_s;                  /* socket timeout, seconds; 0: 60 */
	sb_hub_progress_fn *progress;   /* optional */
	void *progress_ctx;
};

/*
 * Fills env from a getenv-like function (pass getenv itself): HF_HUB_CACHE,
 * HF_HOME, XDG_CACHE_HOME, HOME, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE.  Options are
 * zeroed.  The strings stay owned by the environment.  Never fails.
 */
SB_API void sb_hub_env_from(struct sb_hub_env *env, char *(*get)(const char *name));

/*
 * Returns 1 if s has the shape of a hub model id ("name" or "org/name": letters,
 * digits, '-', '_', '.', at most 96 characters per part, no "--" or "..", not
 * starting or ending with '-' or '.'), else 0.  "name" alone is kept: the hub still
 * serves legacy models without an organisation ("bert-base-uncased", "gpt2").
 */
SB_API int sb_hub_is_id(const char *s);

/*
 * The cache folder the env selects, as a malloc'd string in *out (caller frees).
 * SB_ENOTFOUND when no variable gives one (no HOME either).
 */
SB_API int sb_hub_cache_dir(const struct sb_hub_env *env, char **out, struct sb_error *err);

/*
 * Resolves a -m argument to a local model folder, in *dir_out (malloc'd, caller
 * frees; NULL on failure):
 *  - an existing directory: that directory, unchanged;
 *  - a hub id: its snapshot folder in the cache.  A snapshot holding config.json,
 *    weights (model.safetensors or pytorch_model.bin), a vocabulary (vocab.txt or
 *    tokenizer.json) and the config.json and weights of each Dense or LayerNorm
 *    module modules.json names is used as is, without network.  Otherwise, unless
 *    env->offline, the model's files are downloaded (the module folders of
 *    modules.json included; optional ones that the hub does not have are skipped);
 *    in offline mode an existing partial snapshot is returned as is.
 *    Nothing is created in the cache until the first file's HEAD request succeeds,
 *    and the folders made are removed again when the fetch then fails before any
 *    byte is kept (a partial file stays, for the next attempt to resume).
 * A model neither a folder nor in the cache (often a typo) gets a message saying so
 * first, "MODEL: no such folder, and not in the Hugging Face cache CACHE (from VAR)",
 * then "; HF_HUB_OFFLINE is set" or "; from the hub: " and what the first request
 * gave.
 * Errors: SB_ENOTFOUND (not a directory and not an id, not cached while offline,
 * a required file missing on the hub), SB_EIO (network or disk), SB_EFORMAT (a
 * malformed HTTP response), SB_ETRUNCATED (a connection cut after the retries; the
 * partial blob stays for the next attempt), SB_EUNSUPPORTED (https without curl).
 */
SB_API int sb_hub_resolve(const char *model, const struct sb_hub_env *env, char **dir_out,
			  struct sb_error *err);

#endif
