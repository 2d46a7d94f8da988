#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets under tests/fuzz/corpus/<target>/
(some are copies of the committed weights fixtures and of the test model's files).

Run from anywhere:  /usr/bin/python3 tests/fuzz/mkseeds.py
(needs the msgpack module; the seeds are committed, so make check does not).
Existing files are overwritten; crash regressions (named crash-*) are left alone.
"""
import os
import struct
import sys

import msgpack

MAGIC = b"sbf1"  # SB_FARM_MAGIC in lib/farm.h
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def tensor(dtype, shape, data):
    return {"dtype": dtype, "shape": shape, "data": data}


def pk(o):
    return msgpack.packb(o, use_bin_type=True)


def frames():
    ids = struct.pack("<8q", 101, 7592, 2088, 102, 101, 2054, 102, 0)
    mask = struct.pack("<8q", 1, 1, 1, 1, 1, 1, 1, 0)
    tok = {"sb": 1, "kind": "tokens", "seq": 0, "rows": 2,
           "tensors": {"input_ids": tensor("int64", [2, 4], ids),
                       "attention_mask": tensor("int64", [2, 4], mask)},
           "text": ["hello world", "what"],
           "meta": {"model": "tiny", "max_seq_length": 128, "lower": True,
                    "scale": 0.5, "neg": -3, "none": None}}
    hid = {"sb": 1, "kind": "hidden", "seq": 2, "rows": 1,
           "tensors": {"last_hidden_state": tensor("float32", [1, 2, 3],
                                                   struct.pack("<6f", *range(6))),
                       "attention_mask": tensor("int32", [1, 2], struct.pack("<2i", 1, 0))}}
    emb = {"sb": 1, "kind": "embeddings", "seq": 3, "rows": 2,
           "tensors": {"sentence_embedding": tensor("float16", [2, 2], b"\x00\x3c" * 4),
                       "b": tensor("bfloat16", [2, 1], b"\x80\x3f" * 2),
                       "c": tensor("int8", [2], b"\x01\xff"),
                       "d": tensor("uint8", [2, 0], b"")}}
    sco = {"sb": 1, "kind": "scores", "seq": 0, "rows": 1,
           "tensors": {"score": tensor("float32", [1], struct.pack("<f", 0.25))}}
    end = {"sb": 1, "kind": "end", "rows_total": 3}
    # The first byte of every input seeds the read sizes of the target.
    put("frame", "tokens", b"\x00" + pk(tok))
    put("frame", "hidden", b"\x07" + pk(hid))
    put("frame", "embeddings", b"\x21" + pk(emb))
    put("frame", "scores", b"\x03" + pk(sco))
    put("frame", "end", b"\x00" + pk(end))
    put("frame", "stream", b"\x05" + pk(tok) + pk(hid) + pk(end))
    put("frame", "truncated", b"\x02" + pk(tok)[:-7])
    put("frame", "trailing", b"\x02" + pk(end)[:-1] + b"\x91\x01")
    put("frame", "version-2", b"\x00" + pk(dict(end, sb=2)))
    put("frame", "claim-array32", b"\x00\xdd\xff\xff\xff\xff")
    put("frame", "claim-str32", b"\x00\x81\xdb\xff\xff\xff\xf0ab")
    put("frame", "nested", b"\x00" + b"\x91" * 200 + b"\x00")
    put("frame", "byte-c1", b"\x00\x81\xa2sb\xc1")
    put("frame", "ext", b"\x00" + b"\xd4\x01\x02\xc7\x02\x05ab\xd8\x00" + bytes(16))
    t2 = dict(tok)
    t2["tensors"] = {"input_ids": tensor("int64", [2, 4], ids[:-8])}
    put("frame", "data-short", b"\x00" + pk(t2))
    t3 = dict(tok)
    t3["tensors"] = {"input_ids": tensor("int64", [2, 2**62], b"")}
    put("frame", "shape-overflow", b"\x00" + pk(t3))


def jsons():
    put("json", "config", b"\x00" + b'{"architectures": ["DistilBertModel"], "dim": 32, '
        b'"n_layers": 2, "n_heads": 2, "hidden_dim": 64, "vocab_size": 1000, '
        b'"max_position_embeddings": 512, "layer_norm_eps": 1e-12, "sinusoidal_pos_embds": '
        b'false, "activation": "gelu", "tie_weights_": true, "pad_token_id": null}')
    put("json", "strings", b"\x01" + '["a\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/", '
        '"\u00e9\u4e2d", "\\u0000"]'.encode())
    put("json", "numbers", b"\x00[0, -0, 1.5e300, -9223372036854775808, 9223372036854775807, "
        b"9223372036854775808, 1e-400, 0.1, 12345678901234567890123]")
    put("json", "dup", b"\x01{\"a\": 1, \"a\": 2}")
    put("json", "deep", b"\x08" + b"[" * 5 + b"]" * 5)
    put("json", "deep-over", b"\x06" + b"[" * 5 + b"]" * 5)
    put("json", "bad-surrogate", b"\x00\"\\ud800\"")
    put("json", "bad-utf8", b"\x00\"\xc0\xaf\xed\xa0\x80\"")
    put("json", "safetensors-header", b"\x01" + b'{"__metadata__": {"format": "pt"}, '
        b'"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}')
    put("json", "tokenizer", b"\x00" + b'{"version": "1.0", "truncation": null, '
        b'"added_tokens": [{"id": 0, "content": "[PAD]", "special": true}], '
        b'"normalizer": {"type": "BertNormalizer", "lowercase": true}, '
        b'"model": {"type": "WordPiece", "unk_token": "[UNK]", '
        b'"continuing_subword_prefix": "##", "vocab": {"[PAD]": 0, "[UNK]": 1}}}')
    put("json", "trailing", b"\x00{} x")
    put("json", "empty", b"\x00")


def copy(target, src, prefix=b""):
    with open(os.path.join(ROOT, src), "rb") as f:
        put(target, os.path.basename(src), prefix + f.read())


def weights():
    fx = "tests/fixtures/weights"
    for name in sorted(os.listdir(os.path.join(ROOT, fx, "bad"))):
        size = os.path.getsize(os.path.join(ROOT, fx, "bad", name))
        if name.startswith("st-") and size <= 4096:
            copy("safetensors", os.path.join(fx, "bad", name))
        if name.startswith("ck-") and size <= 4096:
            copy("checkpoint", os.path.join(fx, "bad", name))
    for name in ("mixed.safetensors", "unaligned.safetensors", "f16.safetensors"):
        copy("safetensors", os.path.join(fx, "good", name))
    for name in ("statedict.bin", "proto4.bin", "legacy-statedict.bin"):
        copy("checkpoint", os.path.join(fx, "good", name))
    # The same pickles in the target's "SBPKL" form (it rebuilds the zip around them,
    # with a valid CRC, so mutations reach the pickle machine).
    import zipfile
    for name in ("statedict.bin", "proto4.bin", "f32.bin"):
        z = zipfile.ZipFile(os.path.join(ROOT, fx, "good", name))
        pkl = [i for i in z.infolist() if i.filename.endswith("data.pkl")][0]
        prefix = pkl.filename[:-len("data.pkl")]
        sizes = {}
        for i in z.infolist():
            if i.filename.startswith(prefix + "data/"):
                sizes[int(i.filename[len(prefix + "data/"):])] = i.file_size
        k = max(sizes) + 1 if sizes else 0
        if k > 32 or any(v > 65535 for v in sizes.values()):
            continue
        hdr = b"SBPKL" + bytes([k]) + b"".join(struct.pack("<H", sizes.get(i, 0))
                                                for i in range(k))
        put("checkpoint", "pkl-" + name, hdr + z.read(pkl))


def tokenize():
    texts = {
        "ascii": (0, 0, b"Hello world, what a time to be alive!"),
        "pair": (16, 128, b"The cat sat on the mat.A dog ran in the park."),
        "prefix": (32, 40, b"query: how do I tokenize text?"),
        "accents": (0, 0, "Café naïve résumé Ångström İstanbul".encode()),
        "cjk": (0, 0, "中文字符 日本語 한국어 text".encode()),
        "punct": (0, 0, "“quotes” — dashes… ¿qué? ¡sí! [CLS] [SEP] [MASK]".encode()),
        "controls": (0, 0, b"a\x00b\x01c\td\re\nf\x7f\xef\xbb\xbfg\xe2\x80\xa8h"),
        "invalid": (0, 0, b"ok \xc0\xaf \xed\xa0\x80 \xf8\x88\x80\x80\x80 \x80 end\xe2"),
        "invalid-replace": (1, 0, b"ok \xc0\xaf \xed\xa0\x80 \xfc\x84\x80\x80\x80\x80 \x80"),
        "zalgo": (0, 0, ("z" + "\u0301\u0316\u0334" * 200).encode()),
        "longword": (0, 0, b"a" * 150 + b" " + b"b" * 99),
        "only-first": (16 | 4, 200, b"word " * 100 + b"x"),
        "only-second": (16 | 8, 10, b"w " * 5 + b"y " * 300),
        "no-special": (2 | 12, 0, b"no specials, no truncation " * 20),
    }
    for name, (flags, cut, text) in texts.items():
        put("tokenize", name, bytes([flags, cut]) + text)


MODEL_FILES = ["tokenizer.json", "vocab.txt", "tokenizer_config.json",
               "special_tokens_map.json", "sentence_bert_config.json", "config.json",
               "modules.json", "1_Pooling/config.json"]


def modeldir():
    m = "tests/models/tiny-distilbert"
    for k, name in enumerate(MODEL_FILES):
        with open(os.path.join(ROOT, m, name), "rb") as f:
            data = f.read()
        put("modeldir", name.replace("/", "-"), bytes([k]) + data)
    put("modeldir", "config-bert", bytes([5]) + b'{"model_type": "bert", "hidden_size": 32, '
        b'"num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37, '
        b'"vocab_size": 1000, "max_position_embeddings": 64, "type_vocab_size": 2, '
        b'"hidden_act": "gelu", "layer_norm_eps": 1e-12}')
    put("modeldir", "pooling-new", bytes([7]) + b'{"embedding_dimension": 32, '
        b'"pooling_mode": ["cls", "max", "mean"], "include_prompt": false}')
    put("modeldir", "modules-normalize", bytes([6]) + b'[{"idx": 0, "name": "0", "path": "", '
        b'"type": "sentence_transformers.models.Transformer"}, {"idx": 1, "name": "1", '
        b'"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}, {"idx": 2, '
        b'"name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]')
    put("modeldir", "vocab-tiny", bytes([1]) + b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##s\n")


def farm():
    # op bytes: 0 join(ident, credits) 1 input(rows) 2 dispatch 3 result(parts, who,
    # mode, id) 4 lose(w) 5 pop 6 hedge 7 missing
    hdr = MAGIC + bytes([3, 0, 0, 0]) + struct.pack("<IIQQ", 2, 0, 7, 1)
    put("farm", "header", hdr)
    put("farm", "header-bad-cmd", MAGIC + bytes([9]) + bytes(27))
    put("farm", "peek-frame", msgpack.packb({"sb": 1, "kind": "embeddings", "seq": 4,
                                             "rows": 2, "tensors": {}}))
    put("farm", "one-worker", bytes([2, 8, 0, 1, 3, 1, 2, 1, 1, 2, 2, 3, 1, 1, 0, 2,
                                     3, 1, 1, 0, 3, 5, 7]))
    put("farm", "lost-worker", bytes([1, 8, 0, 1, 2, 0, 2, 2, 1, 3, 1, 1, 2, 2, 4, 0,
                                      7, 2, 3, 1, 3, 0, 2, 5]))
    put("farm", "hedge", bytes([3, 8, 0, 1, 1, 0, 2, 1, 1, 2, 1, 2, 2, 2, 6, 3, 1, 3, 0,
                                2, 3, 1, 1, 0, 2, 5, 7]))
    put("farm", "bad-results", bytes([2, 8, 0, 1, 1, 1, 2, 2, 3, 2, 1, 1, 2, 3, 1, 1, 2,
                                      5, 2, 3, 1, 1, 4, 2, 3, 0, 0, 0, 2, 5]))


if __name__ == "__main__":
    frames()
    jsons()
    weights()
    tokenize()
    modeldir()
    farm()
    sys.exit(0)
