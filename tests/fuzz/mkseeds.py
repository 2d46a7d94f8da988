#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets under tests/fuzz/corpus/<target>/
(some are copies of the committed weights fixtures and of the test model's files).

Run from anywhere:  /usr/bin/python3 tests/fuzz/mkseeds.py
(needs the msgpack module; the seeds are committed, so make check does not).
Existing files are overwritten; crash regressions (named crash-*) are left alone.
"""
import base64
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
    # The config.json of every other family's test model (their own parsers run; the
    # weights, tiny-distilbert's, are then refused).
    for m in ("tiny-modernbert", "tiny-modernbert-bias", "tiny-mpnet-3", "tiny-xlmr-uni",
              "tiny-camembert", "tiny-xlmr-rerank", "tiny-bert-rerank3"):
        with open(os.path.join(ROOT, "tests/models", m, "config.json"), "rb") as f:
            put("modeldir", "config-" + m, bytes([5]) + f.read())


def tokbpe():
    b = "tests/golden/tokenize/bpe"
    for k, name in enumerate(["tokenizer.json", "vocab.json", "merges.txt",
                              "tokenizer_config.json"]):
        with open(os.path.join(ROOT, b, "tiny-roberta", name), "rb") as f:
            data = f.read()
        put("tokbpe", "roberta-" + name, bytes([k + 1 if k else 0]) + data)
    with open(os.path.join(ROOT, b, "tiny-qwen", "tokenizer.json"), "rb") as f:
        put("tokbpe", "qwen-tokenizer.json", bytes([1]) + f.read())
    text = ("Hello, world! <|im_start|>user <w> a<w>b <l>  x <r>  y caf\u00e9 cafe\u0301 "
            "it's IT'S 12345 \u4e2d\u6587 \U0001F469\u200D\U0001F467 \t\u3000\u00a0 "
            "e\u0327\u0301 \r\n\n  end").encode("utf-8")
    put("tokbpe", "text", bytes([5, 0]) + text)
    put("tokbpe", "text-pieces", bytes([5, 6]) + text)
    put("tokbpe", "text-pair", bytes([6, 2]) + text)
    put("tokbpe", "text-invalid", bytes([7, 1]) + b"a\xff\xc3 \xe4\xb8 <|im_end|>\xf0\x9f")


def tokstore():
    # Selector 0: the bytes are the cache file (these fail its first checks); 1: edits
    # (offset, XOR byte) of the good file, guarded by the checksum; 2: the same with the
    # checksum made right again.  Offsets in the head (208 bytes) and in the tables.
    put("tokstore", "raw-magic", bytes([0]) + b"sbtokc1\n" + bytes(200))
    put("tokstore", "raw-short", bytes([0]) + b"sbtokc1\n")
    put("tokstore", "good", bytes([1]))
    edits = {
        "head-version": [(8, 2)], "head-span": [(76, 0x40)], "head-pool-len": [(136, 1)],
        "head-slot-cap": [(146, 1)], "head-merge-count": [(176, 1)],
        "head-fingerprint": [(104, 1)], "head-dup": [(192, 1)],
        "pool": [(300, 0x20)], "slots": [(208 + 4096 * 4 + 8, 0xFF)],
        "far": [(100000, 0x10), (60000, 0x01)],
    }
    for name, ed in edits.items():
        body = b"".join(struct.pack("<IB", off, x) for off, x in ed)
        put("tokstore", "flip-" + name, bytes([1]) + body)
        put("tokstore", "sealed-" + name, bytes([2]) + body)


def tokspm():
    d = os.path.join(ROOT, "tests/golden/tokenize/spm")
    with open(os.path.join(d, "tiny-uni", "tokenizer.json"), "rb") as f:
        uni = f.read()
    put("tokspm", "tiny-uni-tokenizer.json", bytes([0]) + uni)
    key = b'"precompiled_charsmap":"'
    at = uni.index(key) + len(key)
    put("tokspm", "charsmap", bytes([1]) + base64.b64decode(uni[at:uni.index(b'"', at)]))
    put("tokspm", "llama-bpe-tokenizer.json", bytes([0]) + (
        '{"normalizer": null, "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", '
        '"prepend_scheme": "first", "split": false}, "added_tokens": [{"id": 1, "content": '
        '"<s>", "special": true}], "model": {"type": "BPE", "unk_token": "<unk>", '
        '"fuse_unk": true, "byte_fallback": true, "vocab": {"<unk>": 0, "<s>": 1, "a": 2, '
        '"b": 3, "ab": 4, "\u2581": 5, "\u2581ab": 6, "<0xE2>": 7, "<0x98>": 8, '
        '"<0x83>": 9}, "merges": ["a b", "\u2581 ab"]}}').encode("utf-8"))
    text = ("Hello  world <mask> \ufb01\u0301 e\u0301 A\u030a\u0301 \uff21\u2460 "
            "x\u200by \u3000 \u2581 \u2603 <s>ab \U0001F469\u200D\U0001F467 "
            "\U0001F1EB\U0001F1F7\U0001F1E9 \r\n\n  end  ").encode("utf-8")
    put("tokspm", "text", bytes([2, 0]) + text)
    put("tokspm", "text-pieces", bytes([2, 6]) + text)
    put("tokspm", "text-pair", bytes([3, 2]) + text)
    put("tokspm", "text-llama", bytes([4, 1]) + text)
    put("tokspm", "text-invalid", bytes([2, 1]) + b"a\xff\xc3 \xe4\xb8 <s>\xf0\x9f")


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


def npy_file(descr, shape, data, version=1, fortran=False, pad_to=64):
    """A .npy file as numpy writes it (the header padded to pad_to bytes)."""
    sh = "(" + "".join("%d, " % d for d in shape).rstrip(" ") + ")"
    if len(shape) > 1:
        sh = sh.replace(",)", ")")
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", sh)
    pre = 10 if version == 1 else 12
    hlen = len(d) + 1
    hlen += (-(pre + hlen)) % pad_to
    hdr = d.encode().ljust(hlen - 1) + b"\n"
    if version == 1:
        head = b"\x93NUMPY\x01\x00" + struct.pack("<H", hlen)
    else:
        head = b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", hlen)
    return head + hdr + data


def npys():
    put("npy", "f32-2x3", npy_file("<f4", [2, 3], struct.pack("<6f", *range(6))))
    put("npy", "f64-3", npy_file("<f8", [3], struct.pack("<3d", 1.5, -2, 1e300)))
    put("npy", "f16-1x2", npy_file("<f2", [1, 2], b"\x00\x3c\x00\xc0"))
    put("npy", "i8-2x2x2", npy_file("|i1", [2, 2, 2], bytes(range(8))))
    put("npy", "u8-4", npy_file("|u1", [4], b"\x00\x01\xfe\xff"))
    put("npy", "i32-2x1", npy_file("<i4", [2, 1], struct.pack("<2i", -1, 7)))
    put("npy", "i64-0x4", npy_file("<i8", [0, 4], b""))
    put("npy", "v2", npy_file("<f4", [1], struct.pack("<f", 1), version=2))
    put("npy", "v3", npy_file("<i4", [1, 1], struct.pack("<i", 3), version=3))
    put("npy", "v4", npy_file("<f4", [1], struct.pack("<f", 1), version=4))
    put("npy", "fortran", npy_file("<f4", [2, 2], bytes(16), fortran=True))
    put("npy", "big-endian", npy_file(">f4", [1], bytes(4)))
    put("npy", "0d", npy_file("<f4", [], bytes(4)))
    put("npy", "9d", npy_file("|u1", [1] * 9, b"\x01"))
    put("npy", "short-data", npy_file("<f4", [2, 3], bytes(20)))
    put("npy", "long-data", npy_file("<f4", [1], bytes(8)))
    put("npy", "huge-shape", npy_file("<f8", [2**62, 2**62], b""))
    put("npy", "shape-overflow", npy_file("<f4", [18446744073709551615], b""))
    put("npy", "cut-header", npy_file("<f4", [1], bytes(4))[:40])
    put("npy", "nul-header", npy_file("<f4", [1], bytes(4)).replace(b"'descr'", b"'de\0cr'"))
    put("npy", "hlen-huge", b"\x93NUMPY\x02\x00\xff\xff\xff\x7f{'descr': '<f4'}")
    put("npy", "no-magic", b"\x93NUMPX\x01\x00\x00\x00")


def http():
    # flags byte (1: HEAD, 2: Range asked, then 2 bytes offset), chunking byte, response
    def put_http(name, resp, head=False, offset=None, chunk=0):
        flags = (1 if head else 0) | (2 if offset is not None else 0)
        pre = bytes([flags])
        if offset is not None:
            pre += struct.pack("<H", offset)
        put("http", name, pre + bytes([chunk]) + resp)

    put_http("get-200", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"abc\"\r\n"
             b"X-Repo-Commit: 0123456789abcdef0123456789abcdef01234567\r\n\r\nhello")
    put_http("get-200-bytewise", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", chunk=1)
    put_http("head-302", b"HTTP/1.1 302 Found\r\nLocation: /api/resolve-cache/x\r\n"
             b"X-Linked-Etag: \"sha\"\r\nX-Linked-Size: 123\r\nContent-Length: 0\r\n\r\n",
             head=True)
    put_http("head-cdn", b"HTTP/1.1 302 Found\r\nLocation: https://cdn.example/x?y=1\r\n\r\n",
             head=True)
    put_http("redirect-relative", b"HTTP/1.1 307 Temporary\r\nLocation: ../other/file\r\n\r\n")
    put_http("redirect-netpath", b"HTTP/1.1 301 Moved\r\nLocation: //evil.example/a\r\n\r\n")
    put_http("chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\n", chunk=7)
    put_http("chunked-cut", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nab")
    put_http("range-206", b"HTTP/1.1 206 Partial\r\nContent-Range: bytes 10-14/15\r\n"
             b"Content-Length: 5\r\n\r\nworld", offset=10)
    put_http("range-206-wrong", b"HTTP/1.1 206 Partial\r\nContent-Range: bytes 0-4/15\r\n"
             b"Content-Length: 5\r\n\r\nworld", offset=10)
    put_http("range-ignored", b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfull", offset=3)
    put_http("continue", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
             b"Content-Length: 2\r\n\r\nok")
    put_http("until-close", b"HTTP/1.0 200 OK\r\n\r\nbody until the end")
    put_http("short-body", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    put_http("bad-status", b"HTTP/1.1 2x0 OK\r\n\r\n")
    put_http("not-http", b"SSH-2.0-OpenSSH\r\n\r\n")
    put_http("bad-length", b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n")
    put_http("nul-header", b"HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n")
    put_http("long-line", b"HTTP/1.1 200 OK\r\nX: " + b"a" * 9000 + b"\r\n\r\n")
    put_http("curl-two-responses", b"HTTP/1.1 302 Found\nlocation: /b\n\nHTTP/2 200\n"
             b"content-length: 7\netag: W/\"e\"\n\n")


# A pair made by sb-keygen for these seeds (used nowhere else).
KEY_PUB = b"pAnGj2lKvYGZ%pyBGED7{ZT*+/6Sn0os?ALa.(G>"
KEY_SEC = b"q%Z@:mZX&2zpy((tT@gi[0]VJE[@8}1P(W?thj&."


def keys():
    put("keys", "public", b"# CurveZMQ public key written by sb-keygen\npublic-key = " + KEY_PUB
        + b"\n")
    put("keys", "secret", b"# CurveZMQ key pair written by sb-keygen: keep this file secret\n"
        b"public-key = " + KEY_PUB + b"\nsecret-key = " + KEY_SEC + b"\n")
    put("keys", "quoted", b"public-key = \"" + KEY_PUB + b"\"\nsecret-key = \"" + KEY_SEC
        + b"\"\n")
    put("keys", "allow", KEY_PUB + b"\n" + b"public-key = " + KEY_PUB + b"\r\n\t# note\n")
    put("keys", "bare", KEY_PUB)
    put("keys", "unknown-key", b"private-key = " + KEY_SEC + b"\n")
    put("keys", "short", b"public-key = \"abc\"\n")
    put("keys", "bad-char", b"public-key = " + KEY_PUB[:39] + b"~\n")
    put("keys", "nul-in-key", b"public-key = " + KEY_PUB[:5] + b"\0" + KEY_PUB[6:] + b"\n")
    put("keys", "empty", b"")


def calibs():
    put("calib", "dim3", b"sb-calibration 1\ndim 3\nrows 10\n-1 1\n0 0\n-0.5 2.5\n")
    put("calib", "comments", b"# made by sb-pool --calibrate\nsb-calibration 1\n# x\n"
        b"dim 1\nrows 1\n1.17549435e-38 3.40282347e+38\n")
    put("calib", "rows0", b"sb-calibration 1\ndim 1\nrows 0\n0 1\n")
    put("calib", "dim-huge", b"sb-calibration 1\ndim 1048577\nrows 1\n")
    put("calib", "dim0", b"sb-calibration 1\ndim 0\nrows 1\n")
    put("calib", "few", b"sb-calibration 1\ndim 2\nrows 1\n0 1\n")
    put("calib", "many", b"sb-calibration 1\ndim 1\nrows 1\n0 1\n0 1\n")
    put("calib", "reversed", b"sb-calibration 1\ndim 1\nrows 1\n1 0\n")
    put("calib", "nan", b"sb-calibration 1\ndim 1\nrows 1\nnan 1\n")
    put("calib", "inf", b"sb-calibration 1\ndim 1\nrows 1\n0 inf\n")
    put("calib", "overflow-range", b"sb-calibration 1\ndim 1\nrows 1\n-3e38 3e38\n")
    put("calib", "hex", b"sb-calibration 1\ndim 1\nrows 1\n0x1p-3 0x1p3\n")
    put("calib", "version-2", b"sb-calibration 2\ndim 1\nrows 1\n0 1\n")


if __name__ == "__main__":
    frames()
    jsons()
    weights()
    tokenize()
    modeldir()
    tokbpe()
    tokspm()
    tokstore()
    farm()
    npys()
    http()
    keys()
    calibs()
    sys.exit(0)
