#!/usr/bin/python3
# index-ref.py - Python FAISS, the peer of bench/index.sh, and its recall.
#
#   index-ref.py faiss CORPUS.npy QUERIES.npy FACTORY K THREADS TRAIN PARAMS OUT.tsv SBFILE
#       index_factory(FACTORY, inner product), trained on the first TRAIN rows when it
#       needs it, all rows added (not when TRAIN is "skip": build -1); then SBFILE (the same kind, written by sb-index) read
#       with faiss.read_index, PARAMS ("nprobe=16", "efSearch=128" or "-") set through
#       ParameterSpace, and the queries searched.  Prints "build SECONDS query SECONDS"
#       (query: read_index + search, as `sb-index query` loads and searches) and writes
#       the ids as "a TAB b" lines to OUT.tsv.
#   index-ref.py recall EXACT.tsv GOT.tsv
#       the share of EXACT's (a, b) pairs that GOT lists: recall@k
import sys
import time

import numpy as np


def run(corpus, queries, factory, k, threads, train, params, out, sbfile):
    import faiss
    faiss.omp_set_num_threads(int(threads))
    c = np.load(corpus)
    q = np.load(queries)
    build = -1
    if train != "skip":
        t = time.time()
        ix = faiss.index_factory(c.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
        if not ix.is_trained:
            ix.train(c[:int(train)])
        ix.add(c)
        build = time.time() - t
        del ix
    t = time.time()
    ix = faiss.read_index(sbfile)
    if params != "-":
        name, value = params.split("=")
        faiss.ParameterSpace().set_index_parameter(ix, name, int(value))
    _, ids = ix.search(q, int(k))
    query = time.time() - t
    with open(out, "w") as f:
        for a, row in enumerate(ids):
            for b in row:
                if b >= 0:
                    f.write("%d\t%d\n" % (a, b))
    print("build %.3f query %.3f" % (build, query))


def recall(exact, got):
    want = set(tuple(l.split("\t")[:2]) for l in open(exact).read().splitlines())
    have = set(tuple(l.split("\t")[:2]) for l in open(got).read().splitlines())
    print("%.4f" % (len(want & have) / len(want)))


if sys.argv[1] == "faiss":
    run(*sys.argv[2:11])
elif sys.argv[1] == "recall":
    recall(sys.argv[2], sys.argv[3])
else:
    sys.exit("index-ref.py: faiss or recall")
