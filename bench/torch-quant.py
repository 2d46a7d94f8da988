#!/usr/bin/python3
"""PyTorch peers of sb-encode --precision for bench/precision.sh: the reference forward pass
(../shared/reference/ref_forward.py) in float32 and with its Linear layers through
torch.quantization.quantize_dynamic (qint8 weights per tensor, activations quantized per
batch: fbgemm, or oneDNN where the build lacks fbgemm, as Debian's does), on the same token
ids, sentence-transformers' way (sorted by length, batches of 32 padded to their longest),
and the cosine of the int8 mean-pooled embeddings with the float32 ones.
usage: torch-quant.py REFDIR MODEL_DIR IDS_FILE [--threads N] [--rounds R]
prints one line per precision: sentences/s (median of R rounds, alternating), and for int8
the cosine distribution against float32."""
import sys, time
import numpy as np
import torch

sys.path.insert(0, sys.argv[1])
import ref_forward as rf  # noqa: E402


class Quantized:
    """torch.nn.functional, with linear() on the quantized module of a known weight."""

    def __init__(self, by_id):
        self.by_id = by_id

    def __getattr__(self, name):
        return getattr(torch.nn.functional, name)

    def linear(self, x, w, b=None):
        m = self.by_id.get(id(w))
        return m(x) if m is not None else torch.nn.functional.linear(x, w, b)


def quantize(w):
    lin = {}
    for n, t in w.items():
        bias = n[:-7] + ".bias"
        if n.endswith(".weight") and t.dim() == 2 and "embeddings" not in n and bias in w:
            m = torch.nn.Linear(t.shape[1], t.shape[0])
            m.weight.data, m.bias.data = t, w[bias]
            lin[n] = m
    mods = torch.nn.ModuleDict({k.replace(".", "_"): v for k, v in lin.items()})
    eng = torch.backends.quantized.supported_engines
    torch.backends.quantized.engine = "fbgemm" if "fbgemm" in eng else "onednn"
    q = torch.quantization.quantize_dynamic(mods, {torch.nn.Linear}, dtype=torch.qint8)
    return {id(w[k]): q[k.replace(".", "_")] for k in lin}


def run(cfg, w, rows, order, bs=32):
    out = [None] * len(rows)
    with torch.no_grad():
        for s in range(0, len(order), bs):
            idx = order[s:s + bs]
            S = max(len(rows[i]) for i in idx)
            ids = torch.zeros(len(idx), S, dtype=torch.long)
            mask = torch.zeros(len(idx), S, dtype=torch.long)
            for j, i in enumerate(idx):
                ids[j, :len(rows[i])] = torch.tensor(rows[i])
                mask[j, :len(rows[i])] = 1
            mean = rf.pools(rf.forward(cfg, w, ids, mask, torch.zeros_like(ids)), mask)[0]
            for j, i in enumerate(idx):
                out[i] = mean[j].numpy()
    return np.stack(out)


def main():
    model_dir, ids_file = sys.argv[2:4]
    arg = lambda k, d: int(sys.argv[sys.argv.index(k) + 1]) if k in sys.argv else d
    torch.set_num_threads(arg("--threads", 2))
    rounds = arg("--rounds", 3)
    cfg, w, _ = rf.load(model_dir)
    rows = [list(map(int, l.split())) for l in open(ids_file) if l.strip()]
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
    fns = {"f32": torch.nn.functional, "int8": Quantized(quantize(w))}
    t = {p: [] for p in fns}
    emb = {}
    for _ in range(rounds):
        for p, fn in fns.items():
            rf.Fn = fn
            t0 = time.time()
            emb[p] = run(cfg, w, rows, order)
            t[p].append(time.time() - t0)
    for p in fns:
        print(f"pytorch {p}: {len(rows) / np.median(t[p]):.1f} rows/s (median of {rounds}; "
              f"{torch.backends.quantized.engine if p == 'int8' else 'mkl'})", end="")
        if p == "int8":
            a, b = emb["int8"].astype(np.float64), emb["f32"].astype(np.float64)
            c = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
            print(f"; cosine with pytorch f32 min {c.min():.6f}, 1st percentile "
                  f"{np.percentile(c, 1):.6f}, median {np.median(c):.7f}", end="")
        print()


if __name__ == "__main__":
    main()
