/*
 * version.c - what this build of libsb is made of (see version.h).
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "farm.h"
#include "frame.h"
#include "lowp.h"
#include "ops.h"
#include "tokenizer.h"
#include "version.h"

#ifndef SB_BUILD_FLAGS
#define SB_BUILD_FLAGS ""
#endif

/* The names of the kernel sets for which have(isa) holds, space separated. */
static void isa_list(char *out, size_t cap, int (*have)(enum sb_ops_isa))
{
	static const struct {
		enum sb_ops_isa isa;
		const char *name;
	} sets[] = {
		{ SB_OPS_GENERIC, "generic" },
		{ SB_OPS_AVX2, "avx2" },
		{ SB_OPS_AVX512, "avx512" },
	};
	size_t n = 0;

	out[0] = '\0';
	for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
		int w;

		if (!have(sets[k].isa))
			continue;
		w = snprintf(out + n, cap - n, "%s%s", n ? " " : "", sets[k].name);
		if (w < 0 || (size_t)w >= cap - n)
			break;
		n += (size_t)w;
	}
}

void sb_version_get(struct sb_version *v)
{
	int major = 0, minor = 0, patch = 0;

	memset(v, 0, sizeof *v);
	v->version = PACKAGE_VERSION;
	v->build = SB_BUILD_FLAGS;
	isa_list(v->kernels_built, sizeof v->kernels_built, sb_ops_isa_built);
	isa_list(v->kernels_cpu, sizeof v->kernels_cpu, sb_ops_isa_supported);
	v->kernels_in_use = sb_ops_isa_name();
	v->blas = sb_ops_blas_config();
	v->blas_core = sb_ops_blas_core();
	sb_zmq_version(&major, &minor, &patch);
	snprintf(v->zmq, sizeof v->zmq, "%d.%d.%d", major, minor, patch);
	v->msgpack = sb_frame_msgpack_version();
	v->utf8proc = sb_tokenizer_utf8proc_version();
}
