/*
 * stage.c - option lookup and loading stages from shared objects.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "stage.h"

const char *sb_kv_get(const struct sb_kv *opts, size_t n, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(opts[i].key, key) == 0)
			v = opts[i].value;
	}
	return v;
}

int sb_kv_known(const char *stage, const struct sb_kv *opts, size_t n,
		const char *const *known, size_t n_known, struct sb_error *err)
{
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		while (k < n_known && strcmp(opts[i].key, known[k]) != 0)
			k++;
		if (k == n_known)
			return sb_error_set(err, SB_EINVAL, "%s: unknown option '%s'", stage,
					    opts[i].key);
	}
	return SB_OK;
}

int sb_kv_count(const char *stage, const char *key, const char *v, size_t lo, size_t hi,
		size_t *out, struct sb_error *err)
{
	unsigned long long x;
	char *end;

	errno = 0;
	if (!v || v[0] < '0' || v[0] > '9')
		return sb_error_set(err, SB_EINVAL, "%s: %s: expected a number, got '%s'", stage,
				    key, v ? v : "");
	x = strtoull(v, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return sb_error_set(err, SB_EINVAL, "%s: %s: '%s' is not a number from %zu to %zu",
				    stage, key, v, lo, hi);
	*out = (size_t)x;
	return SB_OK;
}

int sb_kv_bool(const char *stage, const char *key, const char *v, int *out,
	       struct sb_error *err)
{
	if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) {
		*out = 1;
		return SB_OK;
	}
	if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) {
		*out = 0;
		return SB_OK;
	}
	return sb_error_set(err, SB_EINVAL, "%s: %s: expected 0 or 1, got '%s'", stage, key, v);
}

int sb_stage_load(const char *path, const struct sb_stage **out, void **handle,
		  struct sb_error *err)
{
	const struct sb_stage *st;
	void *h;

	*out = NULL;
	*handle = NULL;
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return sb_error_set(err, SB_ENOTFOUND, "%s: %s", path, dlerror());
	st = dlsym(h, "sb_stage");
	if (!st) {
		dlclose(h);
		return sb_error_set(err, SB_EFORMAT, "%s: no symbol 'sb_stage'", path);
	}
	if (st->version < SB_STAGE_VERSION_MIN || st->version > SB_STAGE_VERSION) {
		unsigned v = st->version;

		dlclose(h);
		return sb_error_set(err, SB_EUNSUPPORTED, "%s: stage interface version %u, expected "
				    "%u to %u", path, v, SB_STAGE_VERSION_MIN, SB_STAGE_VERSION);
	}
	if (!st->name || !st->open || !st->process || !st->close) {
		dlclose(h);
		return sb_error_set(err, SB_EFORMAT, "%s: incomplete stage table", path);
	}
	*out = st;
	*handle = h;
	return SB_OK;
}

int sb_stage_check(const struct sb_stage *stage, struct sb_error *err)
{
	if (stage->version < SB_STAGE_VERSION_MIN || stage->version > SB_STAGE_VERSION)
		return sb_error_set(err, SB_EUNSUPPORTED, "stage %s: interface version %u, "
				    "expected %u to %u", stage->name, stage->version,
				    SB_STAGE_VERSION_MIN, SB_STAGE_VERSION);
	return SB_OK;
}

void sb_stage_report(const struct sb_stage *stage, void *state, const struct sb_report_to *to,
		     int final)
{
	/* A version 1 table ends at close: its report field is not there to read. */
	if (stage->version < 2 || !stage->report || !state || !to || !to->out)
		return;
	stage->report(state, to->out);
	if (to->ready)
		to->ready(to->ctx, final);
}

/* The io of a run: its inputs are opened with the run's transport options. */
static int open_input(const struct sb_stage_io *io, struct sb_reader *r, const char *spec,
		      int flags, struct sb_error *err)
{
	return sb_reader_open(r, spec, io->topts, flags, err);
}

void sb_stage_attach(const struct sb_stage *stage, void *state, struct sb_stage_io *io,
		     const struct sb_transport_opts *topts)
{
	io->open_input = open_input;
	io->topts = topts;
	if (stage->version >= 2 && stage->set_io)
		stage->set_io(state, io);
}
