#!/usr/bin/env python3
"""mine-ref.py - reference for sb-cosine --mine (tests/57-mining.sh).

The algorithm of sentence-transformers' util.paraphrase_mining_embeddings(), re-written
with NumPy (no torch) from its description, with its default chunk sizes (one chunk when
there are at most 100000 rows):

  1. the scores of every row against every row (cosine: each row divided by
     max(norm, 1e-12), then the dot products; dot: the dot products), in float64;
  2. for every row i its top_k + 1 best rows j (torch.topk);
  3. the candidates (score, i, j) with i != j and score > min_score go into a priority
     queue (smallest first); min_score starts at -1 and, once max_pairs candidates were
     added, every addition pops the smallest and min_score becomes its score (so the
     queue ends with max_pairs - 1 candidates when more than max_pairs were added);
  4. the queue is emptied smallest first; the first of (i, j) and (j, i) is kept, as
     [score, min(i, j), max(i, j)];
  5. the list is sorted by score, highest first (a stable sort).

usage:
  mine-ref.py random ROWS DIM SEED        random normal vectors, "ROWS DIM" then one row a
                                          line (the layout pooldump emb reads), float32
                                          values printed exactly
  mine-ref.py mine FILE [--top-k K] [--max-pairs N] [--metric cosine|dot]
                        [--threshold T]
                                          "i <tab> j <tab> score" lines, best first;
                                          --threshold drops the pairs below T afterwards

Needs NumPy only (Debian: python3-numpy).
"""
import argparse
import heapq
import sys

import numpy as np


def read_matrix(path):
    with open(path) as f:
        rows, dim = (int(v) for v in f.readline().split())
        x = np.loadtxt(f, dtype=np.float64, ndmin=2)
    assert x.shape == (rows, dim), (x.shape, rows, dim)
    # sb reads float32 embeddings: score those very values.
    return x.astype(np.float32).astype(np.float64)


def scores_of(x, metric):
    if metric == "cosine":
        n = np.sqrt((x * x).sum(axis=1))
        x = x / np.maximum(n, 1e-12)[:, None]
    return x @ x.T


def paraphrase_mining(x, top_k, max_pairs, metric):
    s = scores_of(x, metric)
    k = min(top_k + 1, len(x))
    queue = []                  # heapq: the PriorityQueue of tuples (score, i, j)
    min_score = -1
    num_added = 0
    for i in range(len(x)):
        # torch.topk: the k largest; among equal scores any order (the test data has none).
        top = np.argsort(-s[i], kind="stable")[:k]
        for j in top:
            j = int(j)
            if i != j and s[i, j] > min_score:
                heapq.heappush(queue, (float(s[i, j]), i, j))
                num_added += 1
                if num_added >= max_pairs:
                    min_score = heapq.heappop(queue)[0]
    seen = set()
    pairs = []
    while queue:
        score, i, j = heapq.heappop(queue)
        a, b = sorted((i, j))
        if a != b and (a, b) not in seen:
            seen.add((a, b))
            pairs.append([score, a, b])
    return sorted(pairs, key=lambda p: p[0], reverse=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "random":
        rows, dim, seed = (int(v) for v in sys.argv[2:5])
        x = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
        print(rows, dim)
        for r in x:
            print(" ".join("%.9g" % v for v in r))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["mine"])
    ap.add_argument("file")
    ap.add_argument("--top-k", type=int, default=100)
    ap.add_argument("--max-pairs", type=int, default=500000)
    ap.add_argument("--metric", choices=["cosine", "dot"], default="cosine")
    ap.add_argument("--threshold", type=float)
    a = ap.parse_args()
    x = read_matrix(a.file)
    for score, i, j in paraphrase_mining(x, a.top_k, a.max_pairs, a.metric):
        if a.threshold is None or score >= a.threshold:
            print("%d\t%d\t%.9f" % (i, j, score))


if __name__ == "__main__":
    main()
