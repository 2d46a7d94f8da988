#!/usr/bin/python3
"""Test models and goldens for the modules after Pooling (Dense, LayerNorm, Normalize) and
for include_prompt false (tests/52-modules.sh, tests/53-prompt.sh, tests/check_modules).

usage (from the top of the source tree; make check does not run it):
  /usr/bin/python3 tests/tools/modules-ref.py chain tests/models/tiny-bert-modules
      adds the module chain below to a folder made by mkmodel.py (seeded weights)
  /usr/bin/python3 tests/tools/modules-ref.py goldens ../shared tests/golden/pool
      writes the goldens listed below

It runs node ../shared/reference/hf_tokenize.js (Hugging Face tokenizers) for the ids and
imports ../shared/reference/ref_forward.py for the encoder (transformers' math).  The rest
is written here from sentence-transformers' sources, in PyTorch float32 as they run:
  - Dense (models/Dense.py; v5.4 base/modules/dense.py): activation(linear(x)), plus x
    (in == out) or residual(x) (a bias-free Linear) with use_residual; the activation is
    the torch.nn class named by activation_function;
  - LayerNorm (models/LayerNorm.py): nn.LayerNorm(dimension), eps 1e-5;
  - Normalize: F.normalize(x, p=2, dim=1);
  - Pooling._forward_padded and _exclude_prompt_from_mask (v5.4 pooling.py): the mask is
    zeroed for prompt_length positions from the first real token; cls takes the first
    token the mask keeps (argmax), lasttoken the last, max ignores masked positions;
  - SentenceTransformer.encode(): prompt_length = len(tokenize([prompt]).input_ids) - 1,
    the prompt tokenized alone with [CLS]/[SEP] and the same truncation;
    truncate_dim after the modules, then normalize_embeddings.
Every golden is "ROWS COLS" then ROWS lines of floats (%.9g).

Goldens (sentences: tests/sample.txt, 8 lines):
  dense-tanh.txt           tiny-distilbert-dense: mean pooling, 2_Dense 32 -> 20 Tanh
                           (ref_forward.py's own 'pooled', which applies that Dense)
  modules-pooled.txt       tiny-bert-modules: cls pooling (the chain's input)
  modules-nonorm.txt       ... after the chain, before its final Normalize
  modules-chain.txt        ... after the final Normalize: the model's embedding
  modules-trunc8.txt       ... the chain, first 8 dimensions, normalized
                           (encode(truncate_dim=8, normalize_embeddings=True))
  prompt-incl-mean.txt     tiny-distilbert, prompt 'query: ', include_prompt true
  prompt-MODE.txt          ... include_prompt false, pooling MODE (mean, cls, max,
                           lasttoken, weightedmean)
  prompt-mean-l4.txt       ... include_prompt false, mean, max length 4: the prompt fills
                           the row, [SEP] alone is pooled
"""
import json, os, shutil, subprocess, sys, tempfile

import numpy as np
import torch
import torch.nn.functional as Fn
from torch import nn

PROMPT = "query: "

# tiny-bert-modules: after cls Pooling (24 wide), each entry (path, type, config, weights
# format) in modules.json order; None config: no folder.
CHAIN = [
    ("2_Dense", "Dense", {"in_features": 24, "out_features": 40, "bias": True,
                          "activation_function": "torch.nn.modules.activation.ReLU"}, "st"),
    ("3_LayerNorm", "LayerNorm", {"dimension": 40}, "st"),
    ("4_Normalize", "Normalize", None, None),
    ("5_Dense", "Dense", {"in_features": 40, "out_features": 40, "bias": True,
                          "activation_function": "torch.nn.modules.activation.SiLU",
                          "use_residual": True}, "st"),
    ("6_Dense", "Dense", {"in_features": 40, "out_features": 16, "bias": False,
                          "activation_function": "torch.nn.modules.activation.GELU"}, "bin"),
    ("7_Dense", "Dense", {"in_features": 16, "out_features": 12, "bias": True,
                          "activation_function": "torch.nn.Sigmoid", "use_residual": True,
                          "module_input_name": "sentence_embedding",
                          "module_output_name": None}, "st"),
    ("8_Dense", "Dense", {"in_features": 12, "out_features": 12, "bias": True,
                          "activation_function": "torch.nn.modules.linear.Identity"}, "bin"),
    ("9_Dropout", "Dropout", {"dropout": 0.2}, None),
    ("10_Normalize", "Normalize", None, None),
]


def shared_ref(shared):
    sys.path.insert(0, os.path.join(shared, "reference"))
    import mkmodel, ref_forward
    return mkmodel, ref_forward


def make_chain(model, shared):
    mkmodel, _ = shared_ref(shared)
    g = torch.Generator().manual_seed(11)
    mods = json.load(open(os.path.join(model, "modules.json")))
    mods = [m for m in mods if m["type"].endswith((".Transformer", ".Pooling"))]
    for path, typ, cfg, fmt in CHAIN:
        mods.append({"idx": len(mods), "name": str(len(mods)), "path": path,
                     "type": "sentence_transformers.models." + typ})
        if cfg is None:
            continue
        d = os.path.join(model, path)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        w = {}
        if typ == "Dense":
            i, o = cfg["in_features"], cfg["out_features"]
            w["linear.weight"] = torch.randn(o, i, generator=g) / i ** 0.5
            if cfg["bias"]:
                w["linear.bias"] = torch.randn(o, generator=g) * 0.1
            if cfg.get("use_residual") and i != o:
                w["residual.weight"] = torch.randn(o, i, generator=g) / i ** 0.5
        elif typ == "LayerNorm":
            n = cfg["dimension"]
            w["norm.weight"] = 1 + 0.1 * torch.randn(n, generator=g)
            w["norm.bias"] = 0.1 * torch.randn(n, generator=g)
        if fmt == "st":
            mkmodel.safetensors_write(os.path.join(d, "model.safetensors"), w, "F32")
        elif fmt == "bin":
            torch.save(w, os.path.join(d, "pytorch_model.bin"))
    with open(os.path.join(model, "modules.json"), "w") as f:
        json.dump(mods, f, indent=2)


def load_weights(d):
    st = os.path.join(d, "model.safetensors")
    if os.path.exists(st):
        _, ref_forward = shared_ref(SHARED)
        return ref_forward.load_safetensors(st)
    return torch.load(os.path.join(d, "pytorch_model.bin"))


def run_chain(model, x, stop_before_last_normalize=False):
    """The modules after Pooling, as sentence-transformers runs them (eval mode)."""
    mods = json.load(open(os.path.join(model, "modules.json")))
    tail = [m for m in mods if not m["type"].endswith((".Transformer", ".Pooling"))]
    if stop_before_last_normalize:
        assert tail[-1]["type"].endswith(".Normalize")
        tail = tail[:-1]
    for m in tail:
        d = os.path.join(model, m["path"])
        typ = m["type"].rsplit(".", 1)[1]
        if typ == "Normalize":
            x = Fn.normalize(x, p=2, dim=1)
        elif typ == "Dropout":
            pass
        elif typ == "LayerNorm":
            cfg = json.load(open(os.path.join(d, "config.json")))
            ln = nn.LayerNorm(cfg["dimension"])
            ln.load_state_dict({k[5:]: v for k, v in load_weights(d).items()})
            x = ln(x)
        elif typ == "Dense":
            cfg = json.load(open(os.path.join(d, "config.json")))
            act = getattr(nn, cfg["activation_function"].rsplit(".", 1)[1])()
            i, o = cfg["in_features"], cfg["out_features"]
            lin = nn.Linear(i, o, bias=cfg["bias"])
            w = load_weights(d)
            lin.load_state_dict({k[7:]: v for k, v in w.items() if k.startswith("linear.")})
            out = act(lin(x))
            if cfg.get("use_residual"):
                if i == o:
                    out = out + x
                else:
                    res = nn.Linear(i, o, bias=False)
                    res.load_state_dict({"weight": w["residual.weight"]})
                    out = out + res(x)
            x = out
        else:
            raise SystemExit("unexpected module " + m["type"])
    return x


def hf_tokenize(shared, model, lines, max_length):
    tmp = tempfile.mkdtemp()
    s = os.path.join(tmp, "s.txt")
    with open(s, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    out = subprocess.run(["node", os.path.join(shared, "reference", "hf_tokenize.js"), model, s,
                          "--max-length", str(max_length)], stdout=subprocess.PIPE, check=True)
    shutil.rmtree(tmp)
    return [json.loads(l) for l in out.stdout.decode().splitlines() if l.strip()]


def exclude_prompt(mask, prompt_length):
    """Pooling._exclude_prompt_from_mask (v5.4)."""
    mask = mask.clone()
    pad = mask.to(torch.int32).argmax(dim=1)
    pos = torch.arange(mask.size(1)).unsqueeze(0)
    mask[pos < (pad + prompt_length).unsqueeze(1)] = 0
    return mask


def pool(h, mask, mode):
    """Pooling._forward_padded (v5.4) for one mode; h [B, S, D], mask [B, S]."""
    m = mask.unsqueeze(-1).expand_as(h).to(h.dtype)
    if mode == "cls":
        idx = mask.to(torch.int).argmax(dim=1)
        return torch.gather(h, 1, idx.view(-1, 1, 1).expand(-1, 1, h.shape[2])).squeeze(1)
    if mode == "max":
        return h.masked_fill(m == 0, float("-inf")).max(dim=1).values
    if mode == "mean":
        return (h * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
    if mode == "weightedmean":
        wts = torch.arange(1, h.shape[1] + 1).view(1, -1, 1).expand_as(h).to(h.dtype) * m
        return (h * wts).sum(1) / torch.clamp(wts.sum(1), min=1e-9)
    if mode == "lasttoken":
        vals, idx = mask.flip(1).max(1)
        idx = torch.where(vals == 0, h.shape[1] - 1, idx)
        g = (h.shape[1] - idx - 1).view(-1, 1, 1).expand(-1, 1, h.shape[2])
        return torch.gather(h * m, 1, g).squeeze(1)
    raise SystemExit(mode)


def embed(shared, model, lines, max_length, mode, prompt_length=None):
    """Token embeddings of each line (one at a time: no padding), pooled."""
    _, ref_forward = shared_ref(shared)
    cfg, w, _ = ref_forward.load(model)
    rows = []
    with torch.no_grad():
        for r in hf_tokenize(shared, model, lines, max_length):
            ids = torch.tensor([r["ids"]])
            mask = torch.tensor([r["mask"]])
            tt = torch.tensor([r["type_ids"]])
            h = ref_forward.forward(cfg, w, ids, mask, tt)
            if prompt_length is not None:
                mask = exclude_prompt(mask, prompt_length)
            rows.append(pool(h, mask, mode))
    return torch.cat(rows)


def write(out, name, x):
    x = x.detach().numpy() if isinstance(x, torch.Tensor) else x
    with open(os.path.join(out, name), "w") as f:
        f.write("%d %d\n" % x.shape)
        for row in x:
            f.write(" ".join("%.9g" % v for v in row) + "\n")
    print(name, x.shape)


def goldens(shared, out):
    lines = open("tests/sample.txt", encoding="utf-8").read().splitlines()
    # Dense (Tanh) from mkmodel.py --dense, by ref_forward.py's own code.
    tmp = tempfile.mkdtemp()
    tok = os.path.join(tmp, "tok.jsonl")
    with open(tok, "w") as f:
        for r in hf_tokenize(shared, "tests/models/tiny-distilbert-dense", lines, 128):
            f.write(json.dumps(r) + "\n")
    npz = os.path.join(tmp, "out.npz")
    subprocess.run(["/usr/bin/python3", os.path.join(shared, "reference", "ref_forward.py"),
                    "tests/models/tiny-distilbert-dense", tok, npz], check=True)
    write(out, "dense-tanh.txt", np.load(npz)["pooled"])
    shutil.rmtree(tmp)

    # The chain of tiny-bert-modules.
    m = "tests/models/tiny-bert-modules"
    with torch.no_grad():
        pooled = embed(shared, m, lines, 128, "cls")
        write(out, "modules-pooled.txt", pooled)
        write(out, "modules-nonorm.txt", run_chain(m, pooled, stop_before_last_normalize=True))
        write(out, "modules-chain.txt", run_chain(m, pooled))
        write(out, "modules-trunc8.txt",
              Fn.normalize(run_chain(m, pooled)[:, :8], p=2, dim=1))

    # include_prompt on a copy of tiny-distilbert (mean pooling, 32 wide).
    with torch.no_grad():
        src = "tests/models/tiny-distilbert"
        texts = [PROMPT + l for l in lines]
        for ml in (128, 4):
            plen = len(hf_tokenize(shared, src, [PROMPT], ml)[0]["ids"]) - 1
            print("prompt_length", plen, "at max length", ml)
            if ml == 4:
                write(out, "prompt-mean-l4.txt", embed(shared, src, texts, ml, "mean", plen))
                continue
            write(out, "prompt-incl-mean.txt", embed(shared, src, texts, ml, "mean"))
            for mode in ("mean", "cls", "max", "lasttoken", "weightedmean"):
                write(out, "prompt-%s.txt" % mode, embed(shared, src, texts, ml, mode, plen))


SHARED = "../shared"

if __name__ == "__main__":
    torch.set_num_threads(1)
    if len(sys.argv) == 3 and sys.argv[1] == "chain":
        make_chain(sys.argv[2], SHARED)
    elif len(sys.argv) == 4 and sys.argv[1] == "goldens":
        SHARED = sys.argv[2]
        goldens(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
