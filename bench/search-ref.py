#!/usr/bin/python3
# search-ref.py - the peers and references of bench/search.sh.
#
#   search-ref.py data OUT.npy ROWS DIM SEED      unit vectors (float32, normal then
#                                                 normalized), deterministic for SEED
#   search-ref.py clustered OUT.npy ROWS DIM SEED
#                                                 unit vectors with neighbourhoods, as
#                                                 embeddings of real text have: 1,000
#                                                 clusters (the same for every SEED, so
#                                                 queries fall among the corpus rows), each
#                                                 row its cluster's centre plus a point of
#                                                 the cluster's own 16-dimensional subspace
#                                                 plus a little noise in all dimensions
#   search-ref.py latent OUT.npy ROWS DIM SEED
#                                                 unit vectors whose neighbourhoods are
#                                                 graded, as embeddings of real text: 1,000
#                                                 clusters in a 32-dimensional space
#                                                 mapped into DIM dimensions, plus noise
#                                                 and a direction every row shares a
#                                                 little (clusters near and far, not all
#                                                 orthogonal as in clustered)
#   search-ref.py faiss CORPUS.npy QUERIES.npy K THREADS [self]
#                                                 FAISS IndexFlatIP add + search, timed
#                                                 in-process; prints "faiss SECONDS"; with
#                                                 self, QUERIES is CORPUS and the self
#                                                 match is dropped (k + 1 searched)
#   search-ref.py check CORPUS.npy QUERIES.npy K GOT.tsv [self]
#                                                 GOT (sb-cosine TSV: a, b, score) against
#                                                 a float64 brute force: same ids in the
#                                                 same order (ties by index), scores within
#                                                 1e-6; prints a summary, exit 1 if not
import sys
import time

import numpy as np


def data(out, rows, dim, seed):
    r = np.random.default_rng(int(seed))
    x = np.empty((int(rows), int(dim)), dtype=np.float32)
    for i in range(0, x.shape[0], 65536):  # bounded memory for 1M rows
        v = r.standard_normal((min(65536, x.shape[0] - i), x.shape[1]), dtype=np.float32)
        x[i:i + v.shape[0]] = v / np.linalg.norm(v, axis=1, keepdims=True)
    np.save(out, x)


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def clustered(out, rows, dim, seed, clusters=1000, sub=16):
    rows, dim = int(rows), int(dim)
    g = np.random.default_rng(20261206)  # the clusters: one set for corpus and queries
    centre = unit(g.standard_normal((clusters, dim), dtype=np.float32))
    basis = g.standard_normal((clusters, dim, sub), dtype=np.float32)
    basis /= np.linalg.norm(basis, axis=1, keepdims=True)  # unit directions
    # the spread of a cluster: a cosine of about 0.5-0.9 between two of its rows, its
    # nearest neighbours closer still, other clusters near 0, as sentence embeddings
    spread = g.uniform(0.6, 1.2, clusters).astype(np.float32)
    r = np.random.default_rng(int(seed))
    x = np.empty((rows, dim), dtype=np.float32)
    for i in range(0, rows, 65536):  # bounded memory for 1M rows
        n = min(65536, rows - i)
        c = r.integers(0, clusters, n)
        z = r.standard_normal((n, sub), dtype=np.float32) * (spread[c] / np.sqrt(sub))[:, None]
        v = centre[c] + np.einsum("nds,ns->nd", basis[c], z)
        v += r.standard_normal((n, dim), dtype=np.float32) * np.float32(0.15 / np.sqrt(dim))
        x[i:i + n] = v / np.linalg.norm(v, axis=1, keepdims=True)
    np.save(out, x)


def latent(out, rows, dim, seed, clusters=1000, space=32):
    rows, dim = int(rows), int(dim)
    g = np.random.default_rng(20261206)  # the clusters: one set for corpus and queries
    a = g.standard_normal((space, dim), dtype=np.float32) / np.float32(np.sqrt(space))
    mean = g.standard_normal((clusters, space), dtype=np.float32)
    shared = 0.35 * unit(g.standard_normal(dim, dtype=np.float32))
    # a cosine of about 0.83 to the nearest row of a million, 0.09 between two rows
    # drawn at random (5% above 0.35)
    r = np.random.default_rng(int(seed))
    x = np.empty((rows, dim), dtype=np.float32)
    for i in range(0, rows, 65536):
        n = min(65536, rows - i)
        z = mean[r.integers(0, clusters, n)] + 0.6 * r.standard_normal((n, space), dtype=np.float32)
        v = unit(z @ a) + r.standard_normal((n, dim), dtype=np.float32) * np.float32(0.25 / np.sqrt(dim))
        x[i:i + n] = unit(v + shared)
    np.save(out, x)


def faiss_run(corpus, queries, k, threads, self_search):
    import faiss
    faiss.omp_set_num_threads(int(threads))
    c = np.load(corpus, mmap_mode="r")
    q = c if self_search else np.load(queries)
    c = np.ascontiguousarray(c)
    q = c if self_search else q
    k = int(k) + (1 if self_search else 0)
    t = time.time()
    ix = faiss.IndexFlatIP(c.shape[1])
    ix.add(c)
    ix.search(q, k)
    print("faiss %.3f" % (time.time() - t))


def check(corpus, queries, k, got, self_search):
    c = np.load(corpus).astype(np.float64)
    q = c if self_search else np.load(queries).astype(np.float64)
    k = int(k)
    rows = [l.split("\t") for l in open(got).read().splitlines()]
    a = np.array([int(r[0]) for r in rows])
    b = np.array([int(r[1]) for r in rows])
    s = np.array([float(r[2]) for r in rows])
    if len(rows) != q.shape[0] * k:
        print("check: %d lines, expected %d" % (len(rows), q.shape[0] * k))
        return 1
    worst, bad = 0.0, 0
    for i0 in range(0, q.shape[0], 100):
        sc = q[i0:i0 + 100] @ c.T
        for i in range(sc.shape[0]):
            row = sc[i]
            if self_search:
                row[i0 + i] = -np.inf
            cand = np.argpartition(-row, k)[:k + 1] if row.shape[0] > k + 1 else np.arange(row.shape[0])
            thr = np.sort(row[cand])[::-1][k - 1]
            cand = np.nonzero(row >= thr)[0]  # every row tied with the k-th
            order = sorted(cand, key=lambda j: (-row[j], j))[:k]
            base = (i0 + i) * k
            if list(b[base:base + k]) != order or np.any(a[base:base + k] != i0 + i):
                bad += 1
            worst = max(worst, float(np.max(np.abs(s[base:base + k] - row[order]))))
    print("check: %d queries, %d with other ids or order than float64 brute force; "
          "max |score - float64| %.2g" % (q.shape[0], bad, worst))
    return 1 if bad or worst > 1e-6 else 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "data":
        data(*sys.argv[2:6])
    elif cmd == "clustered":
        clustered(*sys.argv[2:6])
    elif cmd == "latent":
        latent(*sys.argv[2:6])
    elif cmd == "faiss":
        faiss_run(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], len(sys.argv) > 6)
    elif cmd == "check":
        sys.exit(check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], len(sys.argv) > 6))
    else:
        sys.exit("usage: search-ref.py data|clustered|latent|faiss|check ...")
