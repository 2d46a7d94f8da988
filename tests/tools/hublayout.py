"""What the random-model makers of sb's tests (mkroberta.py, mkmpnet.py, mkmodernbert.py)
write the same way: the checkpoint in either of the Hub's formats, and
sentence-transformers' files (modules.json, sentence_bert_config.json,
1_Pooling/config.json).  Imported, not run."""
import json
import os
import struct

import torch


def safetensors_write(path, tensors):
    """tensors (name -> float32 or int64 tensor) as a safetensors file, in order."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        raw = t.detach().contiguous().numpy().tobytes()
        dt = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def checkpoint_write(out, tensors, fmt):
    """model.safetensors (fmt "safetensors") or pytorch_model.bin (torch.save) in out."""
    if fmt == "safetensors":
        safetensors_write(os.path.join(out, "model.safetensors"), tensors)
    else:
        torch.save(tensors, os.path.join(out, "pytorch_model.bin"))


def json_write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)


def st_modules(out, dim, max_seq, pooling="mean", normalize=False):
    """sentence-transformers' modules: Transformer, Pooling (pooling: mean or cls) and,
    with normalize, Normalize; max_seq_length max_seq."""
    mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        mods.append({"idx": 2, "name": "2", "path": "2_Normalize",
                     "type": "sentence_transformers.models.Normalize"})
    json_write(os.path.join(out, "modules.json"), mods)
    json_write(os.path.join(out, "sentence_bert_config.json"),
               {"max_seq_length": max_seq, "do_lower_case": False})
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    json_write(os.path.join(out, "1_Pooling", "config.json"),
               {"word_embedding_dimension": dim, "pooling_mode_cls_token": pooling == "cls",
                "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False})
