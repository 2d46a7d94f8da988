#!/usr/bin/python3
"""Golden files for sb-pool and sb-cosine, from NumPy (run at golden-generation time only).

usage: /usr/bin/python3 tests/tools/pool-ref.py tests/golden/pool

The math is written from sentence-transformers' sources (not imported, it is not installed
here): sentence_transformers/sentence_transformer/modules/pooling.py (Pooling._forward_padded),
sentence_transformers/quantization.py (quantize_embeddings) and util.py (cos_sim, dot_score,
euclidean_sim, manhattan_sim); scipy.stats.spearmanr as Pearson of average ranks.
Pooling is computed in float64 from the float32 inputs; quantization in float32 exactly as
quantize_embeddings() does.  Documented sb choices the reference follows explicitly:
  - max: padded positions count as -1e9 (sentence-transformers <= v2; newer -inf);
  - int8/uint8: values outside the calibration range saturate (NumPy's cast is undefined);
  - binary/ubinary: each row is padded to whole bytes (np.packbits(axis=-1)).
Text formats: a matrix file is "ROWS COLS" then ROWS lines of COLS numbers; hidden.txt is
"ROWS SEQ DIM", ROWS mask lines of SEQ ints, then ROWS*SEQ lines of DIM floats.
"""
import os, sys
import numpy as np

MODES = ["cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]


def pool(h, mask, modes):
    h = h.astype(np.float64)
    m = mask.astype(np.float64)
    rows, seq, dim = h.shape
    out = []
    for mode in MODES:  # concatenation order of sentence-transformers' legacy flags
        if mode not in modes:
            continue
        if mode == "cls":
            idx = mask.argmax(1)  # first real token (index 0 with right padding)
            out.append(h[np.arange(rows), idx])
        elif mode == "max":
            out.append(np.where(m[:, :, None] == 0, -1e9, h).max(1))
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            s = (h * m[:, :, None]).sum(1)
            c = np.maximum(m.sum(1), np.float32(1e-9))[:, None]
            out.append(s / c if mode == "mean" else s / np.sqrt(c))
        elif mode == "weightedmean":
            w = m * np.arange(1, seq + 1)[None, :]
            s = (h * w[:, :, None]).sum(1)
            out.append(s / np.maximum(w.sum(1), np.float32(1e-9))[:, None])
        elif mode == "lasttoken":
            flipped = mask[:, ::-1]
            vals, idx = flipped.max(1), flipped.argmax(1)
            idx = np.where(vals == 0, seq - 1, idx)
            g = seq - idx - 1
            out.append((h * m[:, :, None])[np.arange(rows), g])
    return np.concatenate(out, 1)


def normalize(x):
    n = np.sqrt((x.astype(np.float64) ** 2).sum(1, keepdims=True))
    return x / np.maximum(n, 1e-12)


def quantize(emb, precision, ranges):
    emb = emb.astype(np.float32)
    if precision in ("int8", "uint8"):
        starts = ranges[0, :]
        steps = (ranges[1, :] - ranges[0, :]) / 255
        v = (emb - starts) / steps
        if precision == "uint8":
            return np.clip(v, 0, 255).astype(np.uint8)
        return np.clip(v - 128, -128, 127).astype(np.int8)
    pad = (-emb.shape[1]) % 8
    bits = np.concatenate([emb > 0, np.zeros((emb.shape[0], pad), bool)], 1)
    packed = np.packbits(bits, axis=-1)
    if precision == "ubinary":
        return packed
    return (packed.astype(np.int16) - 128).astype(np.int8)


def cos(a, b):
    na = np.maximum(np.linalg.norm(a), 1e-12)
    nb = np.maximum(np.linalg.norm(b), 1e-12)
    return float(np.dot(a / na, b / nb))


METRICS = {
    "cosine": cos,
    "dot": lambda a, b: float(np.dot(a, b)),
    "euclidean": lambda a, b: -float(np.sqrt(((a - b) ** 2).sum())),
    "manhattan": lambda a, b: -float(np.abs(a - b).sum()),
}


def ranks(x):
    """Average ranks (1-based) with ties, as scipy.stats.rankdata(method='average')."""
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        r[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(a, b):
    ra, rb = ranks(np.asarray(a, float)), ranks(np.asarray(b, float))
    ra -= ra.mean()
    rb -= rb.mean()
    return float((ra * rb).sum() / np.sqrt((ra ** 2).sum() * (rb ** 2).sum()))


def write_matrix(path, x, fmt="%.9g"):
    x = np.atleast_2d(x)
    with open(path, "w") as f:
        f.write("%d %d\n" % x.shape)
        for row in x:
            f.write(" ".join(fmt % v for v in row) + "\n")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(5)
    rows, seq, dim = 6, 7, 16
    h = rng.standard_normal((rows, seq, dim)).astype(np.float32)
    h[:, :, 3] += 0.5  # some structure so that signs are not balanced
    mask = np.zeros((rows, seq), np.int64)
    for r, (start, n) in enumerate([(0, 7), (0, 3), (0, 5), (0, 1), (2, 5), (0, 0)]):
        mask[r, start:start + n] = 1   # row 4 is left-padded, row 5 all padding
    h[mask == 0] = rng.standard_normal(int((mask == 0).sum() * dim)).reshape(-1, dim) * 7
    with open(os.path.join(out, "hidden.txt"), "w") as f:
        f.write("%d %d %d\n" % (rows, seq, dim))
        for r in range(rows):
            f.write(" ".join(str(v) for v in mask[r]) + "\n")
        for r in range(rows):
            for t in range(seq):
                f.write(" ".join("%.9g" % v for v in h[r, t]) + "\n")
    for mode in MODES:
        write_matrix(os.path.join(out, "pool-%s.txt" % mode), pool(h, mask, [mode]))
    write_matrix(os.path.join(out, "pool-all.txt"), pool(h, mask, MODES))
    write_matrix(os.path.join(out, "pool-cls,mean.txt"), pool(h, mask, ["mean", "cls"]))
    mean = pool(h, mask, ["mean"])
    write_matrix(os.path.join(out, "pool-mean-norm.txt"), normalize(mean))
    write_matrix(os.path.join(out, "pool-mean-trunc12-norm.txt"), normalize(mean[:, :12]))
    write_matrix(os.path.join(out, "pool-mean-trunc12.txt"), mean[:, :12])

    # Quantization: calibration ranges from the first four rows' mean embeddings; rows
    # 4 and 5 then fall partly outside them.
    m32 = mean.astype(np.float32)
    cal = m32[:4]
    ranges = np.vstack((cal.min(0), cal.max(0)))
    with open(os.path.join(out, "calibration.txt"), "w") as f:
        f.write("sb-calibration 1\ndim %d\nrows %d\n" % (dim, 4))
        for lo, hi in ranges.T:
            f.write("%.9g %.9g\n" % (lo, hi))
    for p in ("int8", "uint8", "binary", "ubinary"):
        write_matrix(os.path.join(out, "quant-%s.txt" % p), quantize(m32, p, ranges), "%d")
    write_matrix(os.path.join(out, "quant-ubinary-trunc12.txt"),
                 quantize(m32[:, :12], "ubinary", ranges), "%d")

    # Metrics on 8 vectors of 16 dims (row 5 is the zero vector) and 768-dim pairs.
    v = rng.standard_normal((8, 16)).astype(np.float32) * 3
    v[5] = 0
    write_matrix(os.path.join(out, "vectors.txt"), v)
    big = rng.standard_normal((6, 768)).astype(np.float32)
    big[1] = big[0] + 0.1 * big[1]
    write_matrix(os.path.join(out, "vectors768.txt"), big)
    for name, f in METRICS.items():
        for tag, vv in (("", v), ("768", big)):
            a = vv.astype(np.float64)
            write_matrix(os.path.join(out, "pairs%s-%s.txt" % (tag, name)),
                         np.array([[f(a[2 * k], a[2 * k + 1])] for k in range(len(a) // 2)]),
                         "%.17g")
            write_matrix(os.path.join(out, "first%s-%s.txt" % (tag, name)),
                         np.array([[f(a[0], a[j])] for j in range(1, len(a))]), "%.17g")
            write_matrix(os.path.join(out, "matrix%s-%s.txt" % (tag, name)),
                         np.array([[f(a[i], a[j]) for j in range(len(a))]
                                   for i in range(len(a))]), "%.17g")
    ub = quantize(v, "ubinary", None)
    write_matrix(os.path.join(out, "vectors-ubinary.txt"), ub, "%d")
    bits = np.unpackbits(ub, axis=-1).astype(int)
    write_matrix(os.path.join(out, "pairs-hamming.txt"),
                 np.array([[-float((bits[2 * k] != bits[2 * k + 1]).sum())]
                           for k in range(len(v) // 2)]), "%.17g")
    # Spearman: ties in both columns.
    gold = np.array([0.0, 1.0, 1.0, 2.5, 4.0, 4.0, 5.0, 3.2, 0.4, 2.5])
    pred = np.array([0.1, 0.3, 0.2, 0.5, 0.9, 0.7, 0.7, 0.6, 0.3, 0.35])
    with open(os.path.join(out, "spearman.txt"), "w") as f:
        f.write("%.17g\n" % spearman(gold, pred))
        for g, p in zip(gold, pred):
            f.write("%.17g %.17g\n" % (g, p))


if __name__ == "__main__":
    main()
