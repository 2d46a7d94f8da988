#!/usr/bin/python3
"""Goldens for the end-to-end test (tests/55-pipeline.sh): the first 50 STS test pairs
through Hugging Face tokenizers and the PyTorch reference forward pass of
tests/models/tiny-distilbert, pooled by ref_forward.py (mean = the model's pooling, cls,
max, normalized mean), and the cosine of each pair (sentence-transformers' cos_sim).

usage (from the top of the source tree, once; make check does not run it):
  /usr/bin/python3 tests/tools/pool-e2e-ref.py ../shared tests/models/tiny-distilbert \
      tests/golden/pool
It runs: node ../shared/reference/hf_tokenize.js MODEL s.txt --max-length 128 and
         /usr/bin/python3 ../shared/reference/ref_forward.py MODEL tok.jsonl out.npz
"""
import os, subprocess, sys, tempfile
import numpy as np

PAIRS = 50


def main():
    shared, model, out = sys.argv[1:4]
    ref = os.path.join(shared, "reference")
    tmp = tempfile.mkdtemp()
    sents = []
    with open(os.path.join(shared, "data", "sts-b", "sts-test.tsv"), encoding="utf-8") as f:
        for line in list(f)[:PAIRS]:
            cols = line.rstrip("\n").split("\t")
            sents += [cols[5], cols[6]]
    s = os.path.join(tmp, "s.txt")
    with open(s, "w", encoding="utf-8") as f:
        f.write("\n".join(sents) + "\n")
    tok = os.path.join(tmp, "tok.jsonl")
    with open(tok, "w") as f:
        subprocess.run(["node", os.path.join(ref, "hf_tokenize.js"), model, s,
                        "--max-length", "128"], stdout=f, check=True)
    npz = os.path.join(tmp, "out.npz")
    subprocess.run(["/usr/bin/python3", os.path.join(ref, "ref_forward.py"), model, tok, npz],
                   check=True)
    r = np.load(npz)
    for name in ("pooled", "cls", "max", "norm"):
        x = r[name]
        with open(os.path.join(out, "e2e-%s.txt" % name), "w") as f:
            f.write("%d %d\n" % x.shape)
            for row in x:
                f.write(" ".join("%.9g" % v for v in row) + "\n")
    p = r["pooled"].astype(np.float64)
    n = np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    q = p / n
    cos = (q[0::2] * q[1::2]).sum(1)
    with open(os.path.join(out, "e2e-cos.txt"), "w") as f:
        f.write("%d 1\n" % len(cos))
        for c in cos:
            f.write("%.17g\n" % c)


if __name__ == "__main__":
    main()
