/*
 * version.h - what this build of libsb is made of, for the programs' --version: its
 * version and configure options, the kernel sets compiled in and those this CPU runs,
 * and the versions of the libraries linked in.  Each library's version comes from the
 * module that wraps it (the only one that includes its header): msgpack-c from the
 * frame codec, libzmq from the ZeroMQ transport, OpenBLAS from the math ops, utf8proc
 * from the tokenizer.
 */
#ifndef SB_VERSION_H
#define SB_VERSION_H

struct sb_version {
	const char *version;            /* the package version, "0.1.0" */
	const char *build;              /* configure switches, compiler and flags; "" if unknown */
	char kernels_built[32];         /* kernel sets compiled in: "generic avx2 avx512" */
	char kernels_cpu[32];           /* those this CPU and OS run */
	const char *kernels_in_use;     /* the one in use: the widest unless --kernels says */
	const char *blas;               /* OpenBLAS's build configuration */
	const char *blas_core;          /* the OpenBLAS kernel chosen for this CPU */
	char zmq[32];                   /* libzmq, "4.3.4" */
	const char *msgpack;            /* msgpack-c, "4.0.0" */
	const char *utf8proc;           /* utf8proc, "2.8.0" */
};

/* Fills v.  Its strings are static or inside v.  Never fails. */
void sb_version_get(struct sb_version *v);

#endif
