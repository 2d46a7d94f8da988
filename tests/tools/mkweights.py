#!/usr/bin/python3
"""Write the weights fixtures of tests/fixtures/weights/ (committed; make check does not run this).

    /usr/bin/python3 tests/tools/mkweights.py tests/fixtures/weights

good/   tiny models written by ../shared/reference/mkmodel.py (hidden 16, 1 layer, 2 heads,
        FFN 32, a 7-word vocabulary, 16 positions, seed 1) as F32/F16/BF16 safetensors and
        torch.save files, with and without name prefixes and extra heads, plus hand-made
        valid variants: a header size that is not a multiple of 4 (unaligned F32 data),
        integer and empty tensors, pickle protocol 4, a real nn.Module state_dict()
        (OrderedDict with _metadata, views sharing one storage, gamma/beta names), ZIP64
        records, no data descriptors, the legacy (pre-1.6) torch.save format.
        expected.txt: FILE NAME SHAPE INDEX VALUE lines computed here with torch/numpy,
        the values a loader must produce (F16/BF16 values are the exact conversions).
bad/    hand-made broken files, each with its expected status and a piece of its message in
        bad/EXPECTED (FILE STATUS MESSAGE-SUBSTRING).  Pickles are assembled from opcodes
        here and never unpickled.
"""
import io, json, os, shutil, struct, subprocess, sys, tempfile, zlib
from collections import OrderedDict

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
MKMODEL = os.path.join(HERE, "..", "..", "..", "shared", "reference", "mkmodel.py")
if not os.path.exists(MKMODEL):
    MKMODEL = "/work/shared/reference/mkmodel.py"
VOCAB = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\na\n"

# ---------------------------------------------------------------------------------------
# helpers: safetensors, zip and pickle writers under our control

def st_bytes(header, data, pad=True, raw_header=None):
    h = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data

def st_tensors(tensors, pad=True, extra_pad=0):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header, data, off = {"__metadata__": {"format": "pt"}}, b"", 0
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode() + b" " * extra_pad
    return st_bytes(None, data, pad=pad, raw_header=h)

def zip_build(entries, zip64=False, descriptors=True, align=64, method=0, crc_override=None):
    """entries: list of (name, bytes).  Stored entries like torch.save's writer."""
    out, central = bytearray(), []
    for name, data in entries:
        nb = name.encode()
        crc = zlib.crc32(data) & 0xffffffff
        if crc_override and name in crc_override:
            crc = crc_override[name]
        payload = data
        if method == 8:
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            payload = c.compress(data) + c.flush()
        off = len(out)
        hdr_len = 30 + len(nb)
        extra = b""
        if align:
            pad = (-(off + hdr_len + 4)) % align
            extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
        flags = 0x808 if descriptors else 0x800
        lcrc, lcs, lus = (0, 0, 0) if descriptors else (crc, len(payload), len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034b50, 20, flags, method, 0, 0, lcrc, lcs, lus,
                           len(nb), len(extra)) + nb + extra
        out += payload
        if descriptors:
            out += struct.pack("<IIII", 0x08074b50, crc, len(payload), len(data))
        central.append((nb, flags, crc, len(payload), len(data), off))
    cd_off = len(out)
    for nb, flags, crc, cs, us, off in central:
        if zip64:
            extra = struct.pack("<HHQQQ", 1, 24, us, cs, off)
            cs32 = us32 = off32 = 0xffffffff
        else:
            extra, cs32, us32, off32 = b"", cs, us, off
        out += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 45, 45, flags, method, 0, 0, crc,
                           cs32, us32, len(nb), len(extra), 0, 0, 0, 0, off32) + nb + extra
    cd_size = len(out) - cd_off
    n = len(central)
    if zip64:
        rec = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064b50, 44, 45, 45, 0, 0, n, n, cd_size, cd_off)
        out += struct.pack("<IIQI", 0x07064b50, 0, rec, 1)
        out += struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, 0xffff, 0xffff, 0xffffffff,
                           0xffffffff, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, n, n, cd_size, cd_off, 0)
    return bytes(out)

def zip_entries(path):
    import zipfile
    z = zipfile.ZipFile(path)
    return [(i.filename, z.read(i.filename)) for i in z.infolist()]

# Pickle opcodes, assembled by hand.
def P_proto(n=2): return b"\x80" + bytes([n])
def P_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b
def P_int(i):
    if 0 <= i < 256: return b"K" + bytes([i])
    if 0 <= i < 65536: return b"M" + struct.pack("<H", i)
    if -2**31 <= i < 2**31: return b"J" + struct.pack("<i", i)
    b = i.to_bytes(8, "little", signed=True)
    return b"\x8a\x08" + b
def P_global(mod, name): return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"
def P_tuple(*items): return b"(" + b"".join(items) + b"t"
MARK, STOP, EMPTY_DICT, EMPTY_TUPLE, REDUCE, SETITEMS, SETITEM, BINPERSID, BUILD = \
    b"(", b".", b"}", b")", b"R", b"u", b"s", b"Q", b"b"
NEWFALSE = b"\x89"

def P_storage(stype, key, numel):
    return P_tuple(P_str("storage"), P_global("torch", stype), P_str(key), P_str("cpu"),
                   P_int(numel)) + BINPERSID

def P_tensor(stype, key, numel, offset, size, stride, hooks=None):
    hooks = hooks if hooks is not None else P_global("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
    return (P_global("torch._utils", "_rebuild_tensor_v2") +
            P_tuple(P_storage(stype, key, numel), P_int(offset),
                    P_tuple(*[P_int(s) for s in size]), P_tuple(*[P_int(s) for s in stride]),
                    NEWFALSE, hooks) + REDUCE)

def P_state_dict(items):
    return P_proto(2) + EMPTY_DICT + MARK + b"".join(P_str(k) + v for k, v in items) + SETITEMS + STOP

def ckpt(pkl, storages, prefix="archive", **kw):
    ents = [(prefix + "/data.pkl", pkl)] + [(prefix + "/data/" + k, v) for k, v in storages]
    ents.append((prefix + "/version", b"3\n"))
    return zip_build(ents, **kw)

F32_6 = np.arange(6, dtype="<f4").tobytes()

# ---------------------------------------------------------------------------------------

def mkmodel(tmp, name, *args):
    out = os.path.join(tmp, name)
    subprocess.run([sys.executable, MKMODEL, out, "--hidden", "16", "--layers", "1", "--heads", "2",
                    "--ffn", "32", "--max-pos", "16", "--seed", "1",
                    "--vocab", os.path.join(tmp, "vocab.txt")] + list(args), check=True)
    return out

def expected_lines(fname, tensors):
    """A few values of every tensor (first, middle, last element) as the loader must see them."""
    lines = []
    for name, t in tensors.items():
        if t.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            continue
        flat = t.detach().to(torch.float32).contiguous().reshape(-1).numpy()
        shape = "x".join(str(d) for d in t.shape) or "scalar"
        for i in sorted({0, len(flat) // 2, len(flat) - 1}):
            if len(flat):
                lines.append(f"{fname} {name} {shape} {i} {flat[i]!r}")
    return lines

def load_st(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        raw = b[8 + n + s:8 + n + e]
        dt = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "I64": torch.int64}[v["dtype"]]
        if dt == torch.bfloat16:
            t = torch.frombuffer(bytearray(raw), dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(bytearray(raw), dtype=dt) if raw else torch.zeros(0, dtype=dt)
        out[k] = t.reshape(v["shape"])
    return out

def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "fixtures", "weights")
    good, bad = os.path.join(out, "good"), os.path.join(out, "bad")
    for d in (good, bad):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    tmp = tempfile.mkdtemp()
    with open(os.path.join(tmp, "vocab.txt"), "w") as f:
        f.write(VOCAB)
    expected = []

    def put(name, data):
        with open(os.path.join(good, name), "wb") as f:
            f.write(data)

    # -- models from mkmodel.py -------------------------------------------------------
    for dt in ("F32", "F16", "BF16"):
        m = mkmodel(tmp, dt, "--dtype", dt, "--format", "both")
        shutil.copy(os.path.join(m, "model.safetensors"), os.path.join(good, dt.lower() + ".safetensors"))
        if dt == "F32":
            shutil.copy(os.path.join(m, "pytorch_model.bin"), os.path.join(good, "f32.bin"))
            shutil.copy(os.path.join(m, "config.json"), os.path.join(good, "config.json"))
    m = mkmodel(tmp, "prefix", "--prefix", "--extra-heads", "--format", "both")
    shutil.copy(os.path.join(m, "model.safetensors"), os.path.join(good, "prefix-heads.safetensors"))
    shutil.copy(os.path.join(m, "pytorch_model.bin"), os.path.join(good, "prefix-heads.bin"))
    m = mkmodel(tmp, "bert", "--arch", "bert", "--prefix", "--extra-heads", "--format", "bin")
    shutil.copy(os.path.join(m, "pytorch_model.bin"), os.path.join(good, "bert-prefix-heads.bin"))

    for f in ("f32.safetensors", "f16.safetensors", "bf16.safetensors", "prefix-heads.safetensors"):
        expected += expected_lines(f, load_st(os.path.join(good, f)))
    for f in ("f32.bin", "prefix-heads.bin", "bert-prefix-heads.bin"):
        expected += expected_lines(f, torch.load(os.path.join(good, f)))

    # -- hand-made valid variants -----------------------------------------------------
    # Header size 8 * k + 2: the data section starts 2 bytes off a 4-byte boundary, so the
    # first F32 tensor must be copied; the odd-sized F16 tensor after it realigns the last
    # one, which can be used in place.
    h16 = np.array([1.5, -2.0, 0.25], dtype="<f2")
    f32a = np.array([[1.0, 2.0], [3.0, -4.5]], dtype="<f4")
    first = np.array([7.0, -0.125], dtype="<f4")
    ts = [("first", "F32", [2], first.tobytes()), ("half3", "F16", [3], h16.tobytes()),
          ("after_half", "F32", [2, 2], f32a.tobytes())]
    body = st_tensors(ts, pad=False)
    hl = struct.unpack("<Q", body[:8])[0]
    extra = (2 - hl) % 8
    put("unaligned.safetensors", st_tensors(ts, pad=False, extra_pad=extra))
    assert (8 + hl + extra) % 4 == 2
    expected += expected_lines("unaligned.safetensors",
                               {"first": torch.tensor(first), "half3": torch.tensor(h16.astype("f4")),
                                "after_half": torch.tensor(f32a)})

    # Integer buffers (BERT's position_ids), an empty tensor, a scalar.
    pos = np.arange(16, dtype="<i8").reshape(1, 16)
    sc = np.array(0.5, dtype="<f4")
    ts = [("embeddings.position_ids", "I64", [1, 16], pos.tobytes()), ("empty", "F32", [0, 4], b""),
          ("scalar", "F32", [], sc.tobytes()), ("LayerNorm.gamma", "F32", [2], np.array([1, 2], "<f4").tobytes()),
          ("LayerNorm.beta", "F32", [2], np.array([3, 4], "<f4").tobytes())]
    put("mixed.safetensors", st_tensors(ts))
    expected += expected_lines("mixed.safetensors", {"scalar": torch.tensor(0.5),
                                                     "LayerNorm.gamma": torch.tensor([1.0, 2.0]),
                                                     "LayerNorm.beta": torch.tensor([3.0, 4.0])})

    # A real nn.Module state_dict: OrderedDict + _metadata, LayerNorm, views of one storage.
    torch.manual_seed(3)
    mod = torch.nn.Sequential(OrderedDict([("lin", torch.nn.Linear(3, 4)), ("norm", torch.nn.LayerNorm(4))]))
    sd = mod.state_dict()
    base = torch.arange(24, dtype=torch.float32)
    sd["view.a"] = base[2:8].view(2, 3)       # offset 2 into a 24-element storage
    sd["view.b"] = base[10:14]                 # same storage, offset 10
    sd["half"] = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float16)
    sd["bf16"] = torch.tensor([[1.25, -3.0]], dtype=torch.bfloat16)
    sd["position_ids"] = torch.arange(5)
    sd["scalar"] = torch.tensor(7.0)
    buf = io.BytesIO()
    torch.save(sd, buf)
    put("statedict.bin", buf.getvalue())
    expected += expected_lines("statedict.bin", sd)

    # Pickle protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL?).
    buf = io.BytesIO()
    small = {"w": torch.tensor([[1.0, 2.0, 3.0]]), "b": torch.tensor([0.5])}
    torch.save(small, buf, pickle_protocol=4)
    put("proto4.bin", buf.getvalue())
    expected += expected_lines("proto4.bin", small)

    # The F32 model re-zipped: ZIP64 end records and extra fields; no data descriptors.
    ents = zip_entries(os.path.join(good, "f32.bin"))
    put("zip64.bin", zip_build(ents, zip64=True))
    put("nodesc.bin", zip_build(ents, descriptors=False, align=0))
    f32 = torch.load(os.path.join(good, "f32.bin"))
    expected += expected_lines("zip64.bin", f32) + expected_lines("nodesc.bin", f32)

    # The legacy (pre-1.6) format: the F32 model and the state dict with shared storages.
    buf = io.BytesIO()
    torch.save(f32, buf, _use_new_zipfile_serialization=False)
    put("legacy.bin", buf.getvalue())
    expected += expected_lines("legacy.bin", f32)
    buf = io.BytesIO()
    torch.save(sd, buf, _use_new_zipfile_serialization=False)
    put("legacy-statedict.bin", buf.getvalue())
    expected += expected_lines("legacy-statedict.bin", sd)

    with open(os.path.join(out, "expected.txt"), "w") as f:
        f.write("# FILE NAME SHAPE INDEX VALUE (written by tests/tools/mkweights.py)\n")
        f.write("\n".join(expected) + "\n")

    # -- bad files ----------------------------------------------------------------------
    rows = []

    def b(name, data, status, msg):
        with open(os.path.join(bad, name), "wb") as f:
            f.write(data)
        rows.append(f"{name} {status} {msg}")

    def sth(header, data=b"", status="EFORMAT", msg="", name=None):
        return st_bytes(None, data, raw_header=header if isinstance(header, bytes) else header.encode())

    good_st = open(os.path.join(good, "f32.safetensors"), "rb").read()
    b("st-empty.safetensors", b"", "ETRUNCATED", "too short")
    b("st-short.safetensors", b"\x10\x00\x00", "ETRUNCATED", "too short")
    b("st-header-100gb.safetensors", struct.pack("<Q", 100 * 10**9) + b"{}", "ELIMIT",
      "exceeds the limit")
    b("st-header-past-eof.safetensors", struct.pack("<Q", 4096) + b'{"a":1}', "ETRUNCATED",
      "past the end of the file")
    b("st-truncated.safetensors", good_st[:len(good_st) // 2], "ETRUNCATED", "past the end of the data")
    b("st-not-json.safetensors", sth("{not json}   "), "EFORMAT", "header")
    b("st-not-object.safetensors", sth('[1, 2, 3]'), "EFORMAT", "not a JSON object")
    b("st-bad-utf8.safetensors", sth(b'{"a\xff":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}', ) +
      b"\0\0\0\0", "EFORMAT", "header")
    b("st-dup-names.safetensors",
      sth('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
          '"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}') + b"\0" * 8, "EFORMAT", "'a'")
    b("st-bad-dtype.safetensors", sth('{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}') +
      b"\0" * 4, "EUNSUPPORTED", "unknown dtype 'F33'")
    b("st-shape-mismatch.safetensors",
      sth('{"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,60]}}') + b"\0" * 60, "EFORMAT",
      "[4, 4] is 64 bytes, data_offsets [0, 60] hold 60")
    b("st-offsets-past-end.safetensors",
      sth('{"w":{"dtype":"F32","shape":[1000000],"data_offsets":[0,4000000]}}') + b"\0" * 16,
      "ETRUNCATED", "past the end of the data")
    b("st-overlap.safetensors",
      sth('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
          '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}') + b"\0" * 12, "EFORMAT", "overlap")
    b("st-gap.safetensors",
      sth('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
          '"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}') + b"\0" * 12, "EFORMAT", "gap")
    b("st-trailing.safetensors",
      sth('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}') + b"\0" * 8, "EFORMAT",
      "after the last tensor")
    b("st-end-before-begin.safetensors",
      sth('{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}') + b"\0" * 4, "EFORMAT",
      "end before begin")
    b("st-shape-overflow.safetensors",
      sth('{"a":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],'
          '"data_offsets":[0,4]}}') + b"\0" * 4, "ELIMIT", "overflows")
    b("st-numel-huge.safetensors",
      sth('{"a":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4398046511104]}}') +
      b"\0" * 4, "ETRUNCATED", "past the end of the data")
    b("st-shape-negative.safetensors",
      sth('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}') + b"\0" * 4, "EFORMAT",
      "shape[0]")
    b("st-too-many-dims.safetensors",
      sth('{"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}') + b"\0" * 4,
      "EUNSUPPORTED", "9 dimensions")
    b("st-metadata-not-str.safetensors",
      sth('{"__metadata__":{"format":1},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}') +
      b"\0" * 4, "EFORMAT", "__metadata__")
    b("st-missing-offsets.safetensors", sth('{"a":{"dtype":"F32","shape":[1]}}') + b"\0" * 4,
      "EFORMAT", "missing 'data_offsets'")
    b("st-name-nul.safetensors",
      sth('{"a\\u0000b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}') + b"\0" * 4, "EFORMAT",
      "NUL")
    b("st-deep-json.safetensors", sth("[" * 5000 + "]" * 5000), "EFORMAT", "header")

    # torch.save zips with hostile or broken pickles.
    store = [("0", F32_6)]
    ok_tensor = P_tensor("FloatStorage", "0", 6, 0, [2, 3], [3, 1])

    def pk(name, pkl, msg, status="EFORMAT", storages=store):
        b(name, ckpt(pkl, storages), status, msg)

    pk("ck-os-system.bin", P_proto(2) + P_global("os", "system") + P_str("echo pwned") + b"\x85" +
       REDUCE + STOP, "global 'os system' is not allowed")
    pk("ck-builtins-eval.bin", P_state_dict([("w", P_global("builtins", "eval") +
       P_tuple(P_str("__import__('os').system('id')")) + REDUCE)]), "global 'builtins eval'")
    pk("ck-posix-system.bin", P_proto(2) + P_global("posix", "system") + P_str("id") + b"\x85" +
       REDUCE + STOP, "global 'posix system'")
    pk("ck-stack-global.bin", P_proto(4) + b"\x8c\x02os\x8c\x06system\x93" + P_str("id") + b"\x85" +
       REDUCE + STOP, "global 'os system'")
    pk("ck-inst.bin", P_proto(2) + MARK + b"ios\nsystem\n" + STOP, "(INST) is not allowed")
    pk("ck-obj.bin", P_proto(2) + MARK + P_global("collections", "OrderedDict") + b"o" + STOP,
       "(OBJ) is not allowed")
    pk("ck-newobj.bin", P_proto(2) + P_global("collections", "OrderedDict") + EMPTY_TUPLE + b"\x81" +
       STOP, "(NEWOBJ) is not allowed")
    pk("ck-ext1.bin", P_proto(2) + b"\x82\x01" + STOP, "(EXT1) is not allowed")
    pk("ck-unknown-opcode.bin", P_proto(2) + b"\xff" + STOP, "opcode 0xff (unknown)")
    pk("ck-reduce-storage.bin", P_state_dict([("w", P_global("torch", "FloatStorage") +
       P_tuple(P_int(6)) + REDUCE)]), "REDUCE of global 'torch FloatStorage'")
    pk("ck-reduce-str.bin", P_proto(2) + P_str("os") + EMPTY_TUPLE + REDUCE + STOP,
       "REDUCE on a str")
    pk("ck-build-tensor.bin", P_state_dict([("w", ok_tensor + EMPTY_DICT + BUILD)]),
       "BUILD of a tensor")
    pk("ck-not-dict.bin", P_proto(2) + P_tuple(ok_tensor) + STOP, "expected a state dict")
    pk("ck-value-not-tensor.bin", P_state_dict([("w", P_int(3))]), "'w' is a int, expected a tensor")
    pk("ck-no-stop.bin", P_state_dict([("w", ok_tensor)])[:-1], "without STOP", "ETRUNCATED")
    pk("ck-trailing.bin", P_state_dict([("w", ok_tensor)]) + b"N", "bytes after STOP")
    pk("ck-cut-string.bin", P_proto(2) + b"X\xff\xff\xff\x7fabc", "BINUNICODE needs 2147483647 bytes",
       "ETRUNCATED")
    pk("ck-memo-huge.bin", P_proto(2) + EMPTY_DICT + b"r\xff\xff\xff\xff" + STOP,
       "memo index 4294967295", "ELIMIT")
    pk("ck-memo-unset.bin", P_proto(2) + b"h\x05" + STOP, "memo index 5 was never stored")
    pk("ck-deep-marks.bin", P_proto(2) + MARK * 100 + STOP, "nested MARKs", "ELIMIT")
    pk("ck-stack-underflow.bin", P_proto(2) + SETITEM + STOP, "SETITEM on an empty stack")
    pk("ck-protocol-1.bin", b"\x80\x01" + STOP, "pickle protocol 1", "EUNSUPPORTED")
    pk("ck-huge-numel.bin", P_state_dict([("w", P_tensor("FloatStorage", "0", 2**40, 0, [2**20, 2**20],
       [2**20, 1]))]), "zip entry holds 24 bytes")
    pk("ck-past-storage.bin", P_state_dict([("w", P_tensor("FloatStorage", "0", 6, 4, [2, 3], [3, 1]))]),
       "runs past its storage")
    pk("ck-noncontiguous.bin", P_state_dict([("w", P_tensor("FloatStorage", "0", 6, 0, [3, 2], [1, 3]))]),
       "only contiguous tensors", "EUNSUPPORTED")
    pk("ck-no-storage-entry.bin", P_state_dict([("w", P_tensor("FloatStorage", "7", 6, 0, [6], [1]))]),
       "no zip entry 'archive/data/7'")
    pk("ck-bad-persid.bin", P_state_dict([("w", P_tuple(P_str("storage"), P_str("x")) + BINPERSID)]),
       "persistent id is not")
    pk("ck-rebuild-args.bin", P_state_dict([("w", P_global("torch._utils", "_rebuild_tensor_v2") +
       P_tuple(P_int(1), P_int(2)) + REDUCE)]), "_rebuild_tensor_v2 with 2 arguments")
    pk("ck-dup-keys.bin", P_state_dict([("w", ok_tensor), ("w", ok_tensor)]), "'w' appears twice")

    good_bin = open(os.path.join(good, "f32.bin"), "rb").read()
    b("ck-truncated.bin", good_bin[:len(good_bin) // 2], "EFORMAT", "not a zip archive")
    b("ck-no-pkl.bin", zip_build([("archive/data/0", F32_6)]), "EFORMAT", "no data.pkl")
    pkl = P_state_dict([("w", ok_tensor)])
    b("ck-compressed.bin", ckpt(pkl, store, method=8), "EUNSUPPORTED", "compressed (method 8)")
    b("ck-bad-crc.bin", ckpt(pkl, store, crc_override={"archive/data.pkl": 1234}), "EFORMAT",
      "crc32 mismatch")
    z = bytearray(ckpt(pkl, store))
    cd = z.find(b"PK\x01\x02")
    z[cd:cd + 4] = b"PK\x01\x09"
    b("ck-bad-cd.bin", bytes(z), "EFORMAT", "central directory entry 0")
    z = bytearray(ckpt(pkl, store))
    e = z.rfind(b"PK\x05\x06")
    z[e + 16:e + 20] = struct.pack("<I", 0x7fffffff)
    b("ck-cd-past-eof.bin", bytes(z), "EFORMAT", "central directory")
    z = bytearray(ckpt(pkl, store))
    cd = z.find(b"PK\x01\x02", z.find(b"PK\x01\x02") + 4)      # second entry: archive/data/0
    z[cd + 20:cd + 28] = struct.pack("<II", 0x7fffff00, 0x7fffff00)
    b("ck-entry-past-eof.bin", bytes(z), "ETRUNCATED", "run past the data area")
    z = bytearray(ckpt(pkl, store))
    cd = z.find(b"PK\x01\x02")
    z[cd + 42:cd + 46] = struct.pack("<I", 3)
    b("ck-local-offset.bin", bytes(z), "EFORMAT", "local header offset 3")
    z = bytearray(ckpt(pkl, store))
    e = z.rfind(b"PK\x05\x06")
    z[e + 8:e + 12] = struct.pack("<HH", 0xfff0, 0xfff0)
    b("ck-count-huge.bin", bytes(z), "EFORMAT", "entries in a")
    z = bytearray(zip_build([("archive/data.pkl", pkl), ("archive/data/0", F32_6)], zip64=True))
    loc = z.rfind(b"PK\x06\x07")
    z[loc + 8:loc + 16] = struct.pack("<Q", 2**62)
    b("ck-zip64-bad.bin", bytes(z), "EFORMAT", "zip64 end record offset")
    b("ck-big-endian.bin", zip_build([("archive/data.pkl", pkl), ("archive/byteorder", b"big"),
                                      ("archive/data/0", F32_6)]), "EUNSUPPORTED", "big-endian")
    # Legacy format: the magic alone, cut files, storages that do not match the pickle.
    magic = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."
    b("ck-legacy-magic-only.bin", magic, "ETRUNCATED", "legacy format: pickle ends at byte 15")
    leg = open(os.path.join(good, "legacy.bin"), "rb").read()
    b("ck-legacy-truncated.bin", leg[:-100], "ETRUNCATED", "runs past the end of the file")
    b("ck-legacy-trailing.bin", leg + b"\0", "EFORMAT", "1 bytes after the last storage")
    version = b"\x80\x02M\xe9\x03."
    sysinfo = (P_proto(2) + EMPTY_DICT + MARK + P_str("protocol_version") + P_int(1001) +
               P_str("little_endian") + b"\x88" + SETITEMS + STOP)
    def legacy_tensor(key, numel, size, view=b"N"):
        return (P_global("torch._utils", "_rebuild_tensor_v2") +
                P_tuple(P_tuple(P_str("storage"), P_global("torch", "FloatStorage"), P_str(key),
                                P_str("cpu"), P_int(numel), view) + BINPERSID, P_int(0),
                        P_tuple(P_int(size)), P_tuple(P_int(1)), NEWFALSE,
                        P_global("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE) + REDUCE)
    def legacy(main, keys, data):
        klist = P_proto(2) + b"]" + MARK + b"".join(P_str(k) for k in keys) + b"e" + STOP
        return magic + version + sysinfo + main + klist + data
    st6 = struct.pack("<q", 6) + F32_6
    b("ck-legacy-numel.bin", legacy(P_state_dict([("w", legacy_tensor("k", 5, 5))]), ["k"], st6),
      "EFORMAT", "storage 'k' holds 6 elements, the pickle says 5")
    b("ck-legacy-unused-key.bin", legacy(P_state_dict([("w", legacy_tensor("k", 6, 6))]),
      ["k", "z"], st6 + st6), "EFORMAT", "storage 'z' is listed but no tensor uses it")
    b("ck-legacy-missing.bin", legacy(P_state_dict([("w", legacy_tensor("k", 6, 6))]), [], b""),
      "EFORMAT", "storage 'k' is not in the file")
    b("ck-legacy-view.bin", legacy(P_state_dict([("w", legacy_tensor("k", 6, 6,
      P_tuple(P_str("v"), P_int(0), P_int(6))))]), ["k"], st6), "EUNSUPPORTED", "views of storages")
    b("ck-legacy-big-endian.bin", magic + version + sysinfo.replace(b"\x88", b"\x89"),
      "EUNSUPPORTED", "big-endian data")
    b("ck-legacy-os-system.bin", magic + version + P_proto(2) + P_global("os", "system") +
      P_str("id") + b"\x85" + REDUCE + STOP, "EFORMAT", "global 'os system' is not allowed")

    with open(os.path.join(bad, "EXPECTED"), "w") as f:
        f.write("# FILE STATUS MESSAGE-SUBSTRING (written by tests/tools/mkweights.py)\n")
        f.write("\n".join(rows) + "\n")
    shutil.rmtree(tmp)

if __name__ == "__main__":
    main()
