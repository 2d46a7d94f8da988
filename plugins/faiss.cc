/*
 * faiss.cc - the C interface of faiss.h over FAISS's C++ API.  Every entry point catches
 * what FAISS throws and turns it into a message.
 */
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>

#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/IndexRefine.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <omp.h>

#include "faiss.h"

struct sb_faiss {
	faiss::Index *index;
};

namespace
{

/* Copies a message into msg[SB_FAISS_MSG] on one line: FAISS's own messages span
 * several lines (file, line, function). */
void say(char *msg, const char *what, const char *detail)
{
	size_t n;

	snprintf(msg, SB_FAISS_MSG, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
	n = strlen(msg);
	for (size_t i = 0; i < n; i++)
		if (msg[i] == '\n' || msg[i] == '\r' || msg[i] == '\t')
			msg[i] = ' ';
}

/* FAISS's exceptions carry "Error in FUNC at FILE:LINE: MESSAGE": keep the message. */
const char *short_what(const std::exception &e)
{
	const char *w = e.what(), *p = strstr(w, ": ");

	if (strncmp(w, "Error in ", 9) == 0 && p)
		return p + 2;
	return w;
}

/* Takes FAISS's input from a C callback. */
struct CbReader : faiss::IOReader {
	int (*cb)(void *, void *, size_t);
	void *ctx;

	CbReader(int (*f)(void *, void *, size_t), void *c) : cb(f), ctx(c)
	{
		name = "sb-index payload";
	}
	size_t operator()(void *ptr, size_t size, size_t nitems) override
	{
		if (size == 0 || nitems == 0)
			return nitems;
		if (nitems > SIZE_MAX / size)
			return 0;
		return cb(ctx, ptr, size * nitems) == 0 ? nitems : 0;
	}
};

/* Hands FAISS's output to a C callback. */
struct CbWriter : faiss::IOWriter {
	int (*cb)(void *, const void *, size_t);
	void *ctx;

	CbWriter(int (*f)(void *, const void *, size_t), void *c) : cb(f), ctx(c)
	{
		name = "sb-index payload";
	}
	size_t operator()(const void *ptr, size_t size, size_t nitems) override
	{
		if (size == 0 || nitems == 0)
			return nitems;
		return cb(ctx, ptr, size * nitems) == 0 ? nitems : 0;
	}
};

/* The index inside the wrappers that hand search parameters on to the index they
 * hold (the ones ParameterSpace::set_index_parameter passes through). */
const faiss::Index *searched(const faiss::Index *ix)
{
	for (;;) {
		if (auto m = dynamic_cast<const faiss::IndexIDMap *>(ix))
			ix = m->index;
		else if (auto p = dynamic_cast<const faiss::IndexPreTransform *>(ix))
			ix = p->index;
		else if (auto r = dynamic_cast<const faiss::IndexRefine *>(ix))
			ix = r->base_index;
		else
			return ix;
	}
}

} // namespace

extern "C" {

struct sb_faiss *sb_faiss_new(const char *factory, size_t dim, enum sb_faiss_metric metric,
			      char *msg)
{
	try {
		faiss::Index *ix = faiss::index_factory(
		    (int)dim, factory,
		    metric == SB_FAISS_IP ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2);
		struct sb_faiss *x = new struct sb_faiss;
		x->index = ix;
		return x;
	} catch (const std::exception &e) {
		say(msg, "factory", short_what(e));
	}
	return nullptr;
}

void sb_faiss_free(struct sb_faiss **x)
{
	if (!x || !*x)
		return;
	delete (*x)->index;
	delete *x;
	*x = nullptr;
}

int sb_faiss_is_trained(const struct sb_faiss *x)
{
	return x->index->is_trained;
}

int sb_faiss_train(struct sb_faiss *x, size_t n, const float *rows, char *msg)
{
	try {
		x->index->train((faiss::Index::idx_t)n, rows);
		return 0;
	} catch (const std::exception &e) {
		say(msg, "train", short_what(e));
	}
	return -1;
}

int sb_faiss_add(struct sb_faiss *x, size_t n, const float *rows, char *msg)
{
	try {
		x->index->add((faiss::Index::idx_t)n, rows);
		return 0;
	} catch (const std::exception &e) {
		say(msg, "add", short_what(e));
	}
	return -1;
}

uint64_t sb_faiss_rows(const struct sb_faiss *x)
{
	return (uint64_t)x->index->ntotal;
}

size_t sb_faiss_dim(const struct sb_faiss *x)
{
	return (size_t)x->index->d;
}

enum sb_faiss_metric sb_faiss_metric_of(const struct sb_faiss *x)
{
	return x->index->metric_type == faiss::METRIC_INNER_PRODUCT ? SB_FAISS_IP : SB_FAISS_L2;
}

int sb_faiss_set(struct sb_faiss *x, const char *name, double value, char *msg)
{
	try {
		faiss::ParameterSpace ps;
		ps.set_index_parameter(x->index, name, value);
		return 0;
	} catch (const std::exception &e) {
		say(msg, name, short_what(e));
	}
	return -1;
}

int sb_faiss_get(const struct sb_faiss *x, const char *name, double *value)
{
	const faiss::Index *ix = searched(x->index);
	auto ivf = dynamic_cast<const faiss::IndexIVF *>(ix);

	if (strcmp(name, "nprobe") == 0 && ivf) {
		*value = (double)ivf->nprobe;
		return 1;
	}
	if (strcmp(name, "efSearch") == 0) {
		auto h = dynamic_cast<const faiss::IndexHNSW *>(ivf ? ivf->quantizer : ix);
		if (h) {
			*value = (double)h->hnsw.efSearch;
			return 1;
		}
	}
	return 0;
}

int sb_faiss_search(struct sb_faiss *x, size_t n, const float *q, size_t k, float *scores,
		    int64_t *ids, char *msg)
{
	static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t), "FAISS ids are 64 bits");
	try {
		x->index->search((faiss::Index::idx_t)n, q, (faiss::Index::idx_t)k, scores,
				 reinterpret_cast<faiss::Index::idx_t *>(ids));
		return 0;
	} catch (const std::exception &e) {
		say(msg, "search", short_what(e));
	}
	return -1;
}

int sb_faiss_write(const struct sb_faiss *x, int (*write)(void *ctx, const void *p, size_t n),
		   void *ctx, char *msg)
{
	try {
		CbWriter w(write, ctx);
		faiss::write_index(x->index, &w);
		return 0;
	} catch (const std::exception &e) {
		say(msg, "write", short_what(e));
	}
	return -1;
}

struct sb_faiss *sb_faiss_read(int (*read)(void *ctx, void *p, size_t n), void *ctx, char *msg)
{
	try {
		CbReader r(read, ctx);
		faiss::Index *ix = faiss::read_index(&r);
		struct sb_faiss *x = new struct sb_faiss;
		x->index = ix;
		return x;
	} catch (const std::exception &e) {
		say(msg, "read", short_what(e));
	}
	return nullptr;
}

void sb_faiss_set_threads(int n)
{
	omp_set_num_threads(n);
}

const char *sb_faiss_version(void)
{
#define SB_STR1(x) #x
#define SB_STR(x) SB_STR1(x)
	return SB_STR(FAISS_VERSION_MAJOR) "." SB_STR(FAISS_VERSION_MINOR) "." SB_STR(
	    FAISS_VERSION_PATCH);
}

} // extern "C"
