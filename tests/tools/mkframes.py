#!/usr/bin/python3
"""Writes the frame fixtures of tests/01-cat.sh and tests/02-bad-frames.sh.

Every frame here is built by hand from the wire format in sb-frame(5) /
ARCHITECTURE.md with Python's msgpack (an implementation independent of the
msgpack-c that libsb uses), and every expected sb-cat output (the golden .jsonl,
.tsv and .npy files) is computed here from the Python values, not by running
sb-cat.  Run at fixture-generation time only; make check needs none of this:

    /usr/bin/python3 tests/tools/mkframes.py tests/fixtures/frames

(Debian 12: python3-msgpack 1.0.3, python3-numpy 1.24.2.)  The outputs are
committed; rerunning must give identical files.
"""

import json
import math
import os
import struct
import sys

import msgpack
import numpy as np

HEAD = 4                # values shown by the default summary

# ---------------------------------------------------------------- frames

def tensor(arr, dtype=None):
    """A wire tensor from a NumPy array (dtype name override for bfloat16)."""
    arr = np.ascontiguousarray(arr)
    return {"dtype": dtype or arr.dtype.name, "shape": list(arr.shape),
            "data": arr.astype(arr.dtype.newbyteorder("<")).tobytes()}


def bf16(values):
    """float32 values -> a bfloat16 wire tensor (round to nearest even), raw bytes."""
    f = np.asarray(values, dtype=np.float32)
    u = f.view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return {"dtype": "bfloat16", "shape": list(f.shape), "data": u.astype("<u2").tobytes()}


def frame(kind, seq, rows, tensors, text=None, meta=None, extra=None):
    m = {"sb": 1, "kind": kind, "seq": seq, "rows": rows}
    if meta is not None:
        m["meta"] = meta
    if text is not None:
        m["text"] = text
    m["tensors"] = tensors
    if extra:
        m.update(extra)
    return m


def end(n):
    return {"sb": 1, "kind": "end", "rows_total": n}


def pack(obj):
    """Packs a frame; bytes in 'text' and in meta values are packed as MessagePack
    str (raw bytes, maybe not UTF-8), everything else as usual (bytes as bin)."""
    if isinstance(obj, dict) and "sb" in obj and (
            any(isinstance(x, bytes) for x in obj.get("text", [])) or
            any(isinstance(x, bytes) for x in (obj.get("meta") or {}).values())):
        out = mp_map(len(obj))
        for k, v in obj.items():
            out += msgpack.packb(k)
            out += msgpack.packb(v, use_bin_type=k not in ("text", "meta"))
        return out
    return msgpack.packb(obj, use_bin_type=True)

# ---------------------------------------------------------------- expected output

def fmt_g(v, prec):
    if math.isnan(v) or math.isinf(v):
        return None
    return "%.*g" % (prec, v)


PREC = {"float32": 9, "float16": 5, "bfloat16": 4}


def values_of(t):
    """Wire tensor -> flat list of Python numbers (floats as float)."""
    dt = t["dtype"]
    if dt == "bfloat16":
        u = np.frombuffer(t["data"], dtype="<u2").astype(np.uint32) << 16
        return [float(x) for x in u.view(np.float32)]
    a = np.frombuffer(t["data"], dtype=np.dtype(dt).newbyteorder("<"))
    if dt.startswith("float"):
        return [float(x) for x in a]
    return [int(x) for x in a]


def fmt_value(dt, v, tsv=False):
    if dt in PREC:
        s = fmt_g(v, PREC[dt])
        if s is None:
            if tsv:
                return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
            return "null"
        return s
    return str(v)


def nest(dt, vals, shape):
    if len(shape) == 0:
        return fmt_value(dt, vals[0])
    if len(shape) == 1:
        return "[" + ",".join(fmt_value(dt, v) for v in vals) + "]"
    step = len(vals) // shape[0] if shape[0] else 0
    return "[" + ",".join(nest(dt, vals[i * step:(i + 1) * step], shape[1:])
                          for i in range(shape[0])) + "]"


def js_str(b):
    """JSON string of bytes: UTF-8 passed through, invalid bytes as U+FFFD."""
    return json.dumps(b.decode("utf-8", "replace") if isinstance(b, bytes) else b,
                      ensure_ascii=False)


def js_meta(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return "null"
        for p in (15, 16, 17):
            s = "%.*g" % (p, v)
            if float(s) == v:
                break
        if all(c in "-0123456789" for c in s):
            s += ".0"
        return s
    return js_str(v)


def js_tensor(t, full):
    dt = t["dtype"]
    shape = t["shape"]
    vals = values_of(t)
    s = '{"dtype":"%s","shape":[%s]' % (dt, ",".join(str(d) for d in shape))
    if full:
        return s + ',"data":' + nest(dt, vals, shape) + "}"
    finite = [v for v in vals if not (isinstance(v, float) and math.isnan(v))]
    if finite:
        mn = fmt_value(dt, min(finite))
        mx = fmt_value(dt, max(finite))
    else:
        mn = mx = "null"
    if vals:
        total = 0.0
        for v in vals:          # sequential double sum, as sb-cat does
            total += float(v)
        mean = fmt_g(total / len(vals), 9) or "null"
    else:
        mean = "null"
    head = ",".join(fmt_value(dt, v) for v in vals[:HEAD])
    return s + ',"min":%s,"max":%s,"mean":%s,"head":[%s]}' % (mn, mx, mean, head)


def js_frame(f, full=False):
    if f["kind"] == "end":
        s = '{"sb":%d,"kind":"end","rows_total":%d' % (f["sb"], f["rows_total"])
        if f.get("meta"):
            s += ',"meta":{' + ",".join(js_str(k) + ":" + js_meta(v)
                                        for k, v in f["meta"].items()) + "}"
        return s + "}"
    s = '{"sb":%d,"kind":"%s","seq":%d,"rows":%d' % (f["sb"], f["kind"], f["seq"], f["rows"])
    s += ',"meta":{' + ",".join(js_str(k) + ":" + js_meta(v)
                                for k, v in (f.get("meta") or {}).items()) + "}"
    if "text" in f:
        s += ',"text":[' + ",".join(js_str(x) for x in f["text"]) + "]"
    s += ',"tensors":{' + ",".join(js_str(k) + ":" + js_tensor(t, full)
                                   for k, t in f["tensors"].items()) + "}"
    return s + "}"


def tsv_text(b):
    if isinstance(b, str):
        b = b.encode()
    out = bytearray()
    for c in b:
        out += {0x5C: b"\\\\", 0x09: b"\\t", 0x0A: b"\\n", 0x0D: b"\\r",
                0x00: b"\\0"}.get(c, bytes([c]))
    return bytes(out)


def tsv(frames, name, text=False):
    out = bytearray()
    for f in frames:
        if f["kind"] == "end":
            continue
        t = f["tensors"][name]
        vals = values_of(t)
        rows = t["shape"][0]
        step = len(vals) // rows if rows else 0
        for r in range(rows):
            cols = [fmt_value(t["dtype"], v, tsv=True).encode()
                    for v in vals[r * step:(r + 1) * step]]
            if text:
                txt = f["text"][r] if "text" in f else b""
                cols.insert(0, tsv_text(txt))
            out += b"\t".join(cols) + b"\n"
    return bytes(out)

# ---------------------------------------------------------------- good fixtures

def good_fixtures():
    g = {}
    ids = np.array([[101, 7592, 2088, 999, 102, 0],
                    [101, 2054, 1037, 2051, 2000, 102]], dtype=np.int64)
    mask = (ids != 0).astype(np.int64)
    meta = {"model": "sentence-transformers/stsb-distilbert-base", "max_seq_length": 128,
            "do_lower_case": True}
    g["tokens"] = [
        frame("tokens", 0, 2, {"input_ids": tensor(ids), "attention_mask": tensor(mask),
                               "token_type_ids": tensor(np.zeros_like(ids))},
              text=["hello world!", "what a time to"], meta=meta),
        frame("tokens", 2, 1, {"input_ids": tensor(np.array([[101, 102]], np.int64)),
                               "attention_mask": tensor(np.ones((1, 2), np.int64)),
                               "token_type_ids": tensor(np.zeros((1, 2), np.int64))},
              text=[""], meta=meta),
        end(3)]

    rng = np.random.default_rng(20261127)
    h = rng.standard_normal((2, 3, 4)).astype(np.float32)
    h[1, 2, :] = [np.nan, np.inf, -np.inf, -0.0]       # padding row with specials
    g["hidden"] = [
        frame("hidden", 0, 2, {"last_hidden_state": tensor(h),
                               "attention_mask": tensor(np.array([[1, 1, 1], [1, 1, 0]],
                                                                 np.int64))},
              meta={"model": "m", "dim": 4}),
        end(2)]

    e16 = (rng.standard_normal((3, 4)) * 10).astype(np.float16)
    g["emb-f16"] = [frame("embeddings", 0, 3, {"sentence_embedding": tensor(e16)},
                          meta={"pooling": "mean", "normalized": False, "dim": 4}),
                    end(3)]

    g["emb-bf16"] = [frame("embeddings", 0, 2, {"sentence_embedding": bf16(
        [[1.0, -2.5, 3.14159, 1e-3], [65504.0, -1e30, 0.0078125, 1.0078125]])}),
                     end(2)]

    g["dtypes"] = [
        frame("embeddings", 0, 2, {
            "sentence_embedding": tensor(np.array([[-128, -1, 0, 127], [5, 6, 7, 8]], np.int8)),
            "u8": tensor(np.array([[0, 1, 254, 255], [9, 8, 7, 6]], np.uint8)),
            "i32": tensor(np.array([[-2147483648, 2147483647], [0, -7]], np.int32)),
            "i64": tensor(np.array([[-9223372036854775808], [9223372036854775807]], np.int64)),
            "f32": tensor(np.array([[1.5, -0.1], [1e-45, 3.4028235e38]], np.float32))},
              meta={"quantization": "int8"}),
        frame("embeddings", 2, 1, {
            "sentence_embedding": tensor(np.array([[1, 2, 3, 4]], np.int8)),
            "u8": tensor(np.array([[3, 3, 3, 3]], np.uint8)),
            "i32": tensor(np.array([[1, 2]], np.int32)),
            "i64": tensor(np.array([[42]], np.int64)),
            "f32": tensor(np.array([[0.0, 1.0]], np.float32))}),
        end(3)]

    # As sb-cosine writes them (mode=pairs): score float32 [n], row indices a, b.
    g["scores"] = [frame("scores", 0, 3, {
        "score": tensor(np.array([0.875, -0.25, 1.0], np.float32)),
        "a": tensor(np.array([0, 2, 4], np.int64)),
        "b": tensor(np.array([1, 3, 5], np.int64))},
        text=["a cat\ta dog", "c\td", "e\tf"], meta={"metric": "cosine"}),
                   end(3)]

    g["meta"] = [frame("embeddings", 0, 1, {"sentence_embedding": tensor(
        np.array([[0.5, 0.25]], np.float32))}, meta={
            "nil": None, "yes": True, "no": False, "zero": 0, "neg": -42,
            "int64min": -9223372036854775808, "uint64max": 18446744073709551615,
            "pi": 3.141592653589793, "tenth": 0.1, "two": 2.0, "big": 1e300,
            "tiny": 5e-324, "nan": float("nan"), "inf": float("inf"),
            "utf8": "caf\u00e9 \u4e2d\u6587 \U0001F600", "empty": "",
            "quote": "say \"hi\" \\ bye"}),
                 end(1)]

    g["text"] = [frame("tokens", 0, 6, {
        "input_ids": tensor(np.full((6, 2), 7, np.int64)),
        "attention_mask": tensor(np.ones((6, 2), np.int64))},
        text=["caf\u00e9 na\u00efve", "\u4e2d\u6587\u5b57", "emoji \U0001F600!",
              "nul\x00inside", "tab\there\nnewline\r\\", "ctl\x01\x1f\x7f"]),
                 end(6)]

    # Texts and meta strings that are not valid UTF-8 (MessagePack str carries bytes):
    # sb-cat prints U+FFFD for each maximal invalid subpart, as Python's "replace".
    g["utf8-invalid"] = [frame("embeddings", 0, 8, {"sentence_embedding": tensor(
        np.zeros((8, 1), np.float32))}, text=[
            b"a\xffb", b"\xe2\x82(", b"\xed\xa0\x80 surrogate", b"\xc0\xaf overlong",
            b"\xf4\x90\x80\x80 big", b"\xe0\x80\x80", b"ok \xe2\x82\xac", b"end\xe2"],
        meta={"bad": b"x\xfe\xfdy"}), end(8)]

    g["empty"] = [end(0)]

    g["zero-rows"] = [frame("embeddings", 0, 0, {"sentence_embedding": tensor(
        np.zeros((0, 4), np.float32))}), frame("embeddings", 0, 1, {
            "sentence_embedding": tensor(np.ones((1, 4), np.float32))}), end(1)]

    big = rng.standard_normal((40, 768)).astype(np.float32)
    g["large"] = [frame("embeddings", 0, 40, {"sentence_embedding": tensor(big)},
                        meta={"dim": 768}),
                  frame("embeddings", 40, 40, {"sentence_embedding": tensor(-big)},
                        meta={"dim": 768}),
                  end(80)]
    return g


TSV = {  # fixture -> [(tensor, with text)]
    "tokens": [("input_ids", True), ("attention_mask", False)],
    "hidden": [("last_hidden_state", False)],
    "emb-f16": [("sentence_embedding", False)],
    "emb-bf16": [("sentence_embedding", False)],
    "dtypes": [("sentence_embedding", False), ("u8", False), ("i32", False),
               ("i64", False), ("f32", False)],
    "scores": [("score", True), ("b", False)],
    "text": [("input_ids", True)],
    "utf8-invalid": [("sentence_embedding", True)],
}

NPY = {  # fixture -> tensors whose concatenation sb-cat --npy writes
    "hidden": ["last_hidden_state"],
    "emb-f16": ["sentence_embedding"], "emb-bf16": ["sentence_embedding"],
    "dtypes": ["sentence_embedding", "u8", "i32", "i64", "f32"],
    "scores": ["score"], "large": ["sentence_embedding"],
}


def npy_of(frames, name):
    parts = []
    for f in frames:
        if f["kind"] == "end":
            continue
        t = f["tensors"][name]
        if t["dtype"] == "bfloat16":    # .npy has no bfloat16: sb-cat widens to float32
            a = np.array(values_of(t), np.float32)
        else:
            a = np.frombuffer(t["data"], dtype=np.dtype(t["dtype"]).newbyteorder("<"))
        parts.append(a.reshape(t["shape"]))
    return np.concatenate(parts, axis=0)

# ---------------------------------------------------------------- bad fixtures

def mp_map(n):
    return bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n)


def mp_str(s):
    b = s.encode()
    assert len(b) < 32
    return bytes([0xA0 | len(b)]) + b


def bad_fixtures(good):
    """name -> (bytes, expected stdout file or "-", word the error message contains)."""
    ok = pack(good["emb-f16"][0])           # one valid frame
    e = good["emb-f16"][0]
    t = e["tensors"]["sentence_embedding"]

    def emb(**kw):
        f = dict(e)
        f["tensors"] = {"sentence_embedding": dict(t, **kw)}
        return f

    def drop(key):
        f = dict(e)
        del f[key]
        return f

    def put(key, value):
        f = dict(e)
        f[key] = value
        return f

    nested = b"\x91" * 100000 + b"\x01"
    head = (mp_map(5) + mp_str("sb") + b"\x01" + mp_str("kind") + mp_str("embeddings")
            + mp_str("seq") + b"\x00" + mp_str("rows") + b"\x03")
    whole = pack(emb())
    at = whole.index(b"\xc4" + bytes([len(t["data"])]) + t["data"])
    b = {}
    stream = b"".join(pack(f) for f in good["tokens"])
    cut = len(pack(good["tokens"][0]))
    T, E = "tokens-0.jsonl", "emb-f16-0.jsonl"
    # name: (bytes, expected stdout ("-": none), word the one-line error must contain)
    b["truncated"] = (stream[:cut + 40], T, "ends inside")
    b["truncated-head"] = (stream[:cut + 1], T, "ends inside")
    b["no-end"] = (stream[:cut], T, "without an end frame")
    b["empty-input"] = (b"", "-", "no frames")
    b["garbage"] = (b"hello, world\nthis is not a frame\n", "-", "looks like text")
    b["byte-c1"] = (ok + b"\xc1" + ok, E, "0xc1")
    b["not-map-array"] = (ok + pack([1, 2, 3]), E, "map")
    b["not-map-int"] = (pack(7), "-", "map")
    b["int-key"] = (pack({1: 1, "kind": "end"}), "-", "key")
    b["missing-sb"] = (pack(drop("sb")), "-", "'sb'")
    b["missing-kind"] = (pack(drop("kind")), "-", "'kind'")
    b["missing-tensors"] = (ok + pack(drop("tensors")), E, "'tensors'")
    b["missing-rows"] = (pack(drop("rows")), "-", "'rows'")
    f = emb()
    del f["tensors"]["sentence_embedding"]["data"]
    b["missing-data"] = (pack(f), "-", "'data'")
    f = emb()
    del f["tensors"]["sentence_embedding"]["shape"]
    b["missing-shape"] = (pack(f), "-", "'shape'")
    b["missing-rows-total"] = (ok + pack({"sb": 1, "kind": "end"}), E, "rows_total")
    b["sb-string"] = (pack(put("sb", "1")), "-", "'sb'")
    b["kind-int"] = (pack(put("kind", 3)), "-", "'kind'")
    b["kind-unknown"] = (pack(put("kind", "banana")), "-", "banana")
    b["rows-negative"] = (pack(put("rows", -3)), "-", "'rows'")
    b["seq-float"] = (pack(put("seq", 1.5)), "-", "'seq'")
    b["tensors-array"] = (pack(put("tensors", [1, 2])), "-", "'tensors'")
    b["text-not-array"] = (pack(put("text", "abc")), "-", "'text'")
    b["text-count"] = (pack(put("text", ["a", "b"])), "-", "'text'")
    b["text-not-str"] = (pack(put("text", ["a", 2, "c"])), "-", "'text'")
    b["meta-nested"] = (pack(put("meta", {"a": {"b": 1}})), "-", "meta")
    b["meta-nested-deep"] = (mp_map(6) + head[1:] + mp_str("tensors") + pack(e["tensors"])
                             + mp_str("meta") + mp_map(1) + mp_str("x")
                             + nested, "-", "meta")
    b["version-2"] = (ok + pack(put("sb", 2)), E, "version 2")
    b["version-0"] = (pack(put("sb", 0)), "-", "version 0")
    b["dtype-unknown"] = (pack(emb(dtype="float64")), "-", "float64")
    b["dtype-int"] = (pack(emb(dtype=5)), "-", "sentence_embedding")
    b["shape-negative"] = (pack(emb(shape=[-1, 4])), "-", "negative")
    b["shape-float"] = (pack(emb(shape=[3.0, 4])), "-", "dimension")
    b["shape-huge"] = (pack(emb(shape=[2 ** 40, 4])), "-", "1099511627776")
    b["shape-overflow"] = (pack(emb(shape=[2 ** 32, 2 ** 32, 2 ** 32])), "-", "overflow")
    b["shape-u64max"] = (pack(emb(shape=[2 ** 64 - 1, 2])), "-", "overflow")
    b["shape-ndims"] = (pack(emb(shape=[1] * 9 + [3, 4], data=t["data"])), "-", "dimensions")
    b["data-short"] = (pack(emb(data=t["data"][:-2])), "-", "22 bytes")
    b["data-long"] = (ok + pack(emb(data=t["data"] + b"\0\0")), E, "26 bytes")
    b["data-str"] = (pack(emb(data=t["data"].decode("latin-1"))), "-", "binary")
    tt = pack(emb())
    at_t = tt.index(b"\xa7tensors") + 8
    one = tt[at_t + 1:]                 # "sentence_embedding": {...} after the fixmap
    b["dup-tensor"] = (tt[:at_t] + b"\x82" + one + one, "-", "appears twice")
    b["dup-key"] = (mp_map(3) + mp_str("sb") + b"\x01" + mp_str("kind") + mp_str("end")
                    + mp_str("kind") + mp_str("end"), "-", "")
    # MessagePack length fields that claim far more than remains: rejected before
    # any allocation (tests run these under a memory limit).
    b["claim-array32"] = (ok + b"\xdd\xff\xff\xff\xff", E, "limit")
    b["claim-map32"] = (b"\xdf\xff\xff\xff\xff\xa2sb\x01", "-", "limit")
    b["claim-bin32"] = (mp_map(1) + mp_str("data") + b"\xc6\xff\xff\xff\xff" + b"\0" * 64,
                        "-", "limit")
    b["claim-str32"] = (mp_map(1) + b"\xdb\xff\xff\xff\xff" + b"kind", "-", "limit")
    b["claim-inner"] = (ok + whole[:at] + b"\xc6\xff\xff\xff\xf0" + t["data"], E, "limit")
    b["claim-array32-cut"] = (ok + b"\xdd\x00\x01\x00\x00" + b"\xc0" * 1000, E, "ends inside")
    b["nested-100000"] = (nested, "-", "map")
    b["nested-in-frame"] = (ok + head + mp_str("tensors") + nested, E, "'tensors'")
    return b

# ---------------------------------------------------------------- npy inputs (for --from-npy)

def npy_inputs():
    rng = np.random.default_rng(7)
    return {
        "emb-f32.npy": rng.standard_normal((5, 3)).astype(np.float32),
        "emb-f16.npy": (rng.standard_normal((3, 2)) * 4).astype(np.float16),
        "ids-i64.npy": np.array([[101, 7592, 102, 0], [101, 2054, 2088, 102]], np.int64),
        "ids-i32.npy": np.array([[101, 102], [101, 999]], np.int32),
        "scores-1d.npy": np.array([0.5, -0.5, 0.25], np.float32),
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/frames"
    for sub in ("good", "bad", "npy"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)

    def write(path, data):
        with open(os.path.join(out, path), "wb") as fh:
            fh.write(data)

    good = good_fixtures()
    for name, frames in good.items():
        write("good/%s.sbf" % name, b"".join(pack(f) for f in frames))
        write("good/%s.jsonl" % name,
              "".join(js_frame(f) + "\n" for f in frames).encode())
        if name != "large":
            write("good/%s.full.jsonl" % name,
                  "".join(js_frame(f, True) + "\n" for f in frames).encode())
        for tname, text in TSV.get(name, []):
            write("good/%s.%s.tsv" % (name, tname), tsv(frames, tname, text))
        for tname in NPY.get(name, []):
            fh = open(os.path.join(out, "good/%s.%s.npy" % (name, tname)), "wb")
            np.save(fh, npy_of(frames, tname), allow_pickle=False)
            fh.close()

    manifest = ["# name\texpected stdout (- none)\tword the one-line error must contain"]
    for name, (data, stdout, word) in bad_fixtures(good).items():
        write("bad/%s.sbf" % name, data)
        manifest.append("%s\t%s\t%s" % (name, stdout, word))
    write("bad/MANIFEST", ("\n".join(manifest) + "\n").encode())
    # What the bad streams print before failing: the first frame of emb-f16 or tokens.
    write("bad/emb-f16-0.jsonl", (js_frame(good["emb-f16"][0]) + "\n").encode())
    write("bad/tokens-0.jsonl", (js_frame(good["tokens"][0]) + "\n").encode())

    for name, arr in npy_inputs().items():
        with open(os.path.join(out, "npy", name), "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
    for name, data in bad_npy().items():
        write("npy/%s" % name, data)


def bad_npy():
    """.npy files --from-npy must refuse (tests/01-cat.sh names the expected words)."""
    def save(arr):
        import io
        b = io.BytesIO()
        np.save(b, arr, allow_pickle=False)
        return b.getvalue()

    ok = save(np.zeros((2, 3), np.float32))
    hlen = 10 + ok[8] + (ok[9] << 8)
    big = ok[:hlen].replace(b"(2, 3)", b"(4611686018427387904, 4)")
    big = big[:8] + bytes([(len(big) - 10) & 0xff, (len(big) - 10) >> 8]) + big[10:]
    return {
        "bad-fortran.npy": save(np.asfortranarray(np.zeros((2, 3), np.float32))),
        "bad-complex.npy": save(np.zeros((2, 3), np.complex64)),
        "bad-0d.npy": save(np.float32(1.5)),
        "bad-short.npy": ok[:-4],
        "bad-shape-overflow.npy": big + ok[hlen:],
        "bad-bigendian.npy": save(np.zeros((2, 3), ">f4")),
    }


if __name__ == "__main__":
    main()
