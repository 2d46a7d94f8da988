#!/usr/bin/python3
"""Reads a frame stream that sb wrote with Python's msgpack + NumPy (independent of
libsb's codec) and checks it against the arrays it should hold.

    readframes.py STREAM [--expect NAME=FILE.npy]... [--kind KIND] [--batch N]
                  [--text FILE] [--meta KEY=VALUE]... [--dump]

Checks the structure every sb stream keeps (sb 1, kind, seq counting rows from 0,
every tensor with rows first, text count, an end frame with rows_total, nothing
after it), then that tensor NAME of all frames, joined along axis 0, equals
FILE.npy exactly (dtype, shape and values; NaN where NaN), that every frame but the
last has --batch rows, that the texts are FILE's lines and that every frame's meta
holds KEY=VALUE.  --dump prints each frame as JSON-ish text for a look by hand.
Exit 0 when all holds, 1 with a message otherwise.  Used by tests/01-cat.sh
(needs Debian's python3-msgpack and python3-numpy).
"""

import sys

import msgpack
import numpy as np


def fail(msg):
    print("readframes: " + msg, file=sys.stderr)
    sys.exit(1)


def array(name, t):
    if set(t) != {"dtype", "shape", "data"}:
        fail("tensor %r: keys %s" % (name, sorted(t)))
    if t["dtype"] == "bfloat16":
        u = np.frombuffer(t["data"], "<u2").astype("<u4") << 16
        a = u.view("<f4")
    else:
        a = np.frombuffer(t["data"], np.dtype(t["dtype"]).newbyteorder("<"))
    n = int(np.prod(t["shape"])) if t["shape"] else 1
    if a.size != n:
        fail("tensor %r: %d elements for shape %s" % (name, a.size, t["shape"]))
    return a.reshape(t["shape"])


def main(argv):
    args = argv[1:]
    if not args or args[0].startswith("-"):
        fail("usage: readframes.py STREAM [--expect NAME=FILE.npy]... [--kind KIND] "
             "[--batch N] [--text FILE] [--meta KEY=VALUE]... [--dump]")
    path, rest = args[0], args[1:]
    expect, meta, kind, batch, text, dump = {}, {}, None, None, None, False
    while rest:
        opt = rest.pop(0)
        if opt == "--dump":
            dump = True
            continue
        if not rest:
            fail("%s needs a value" % opt)
        val = rest.pop(0)
        if opt == "--expect":
            name, _, f = val.partition("=")
            expect[name] = np.load(f, allow_pickle=False)
        elif opt == "--meta":
            k, _, v = val.partition("=")
            meta[k] = v
        elif opt == "--kind":
            kind = val
        elif opt == "--batch":
            batch = int(val)
        elif opt == "--text":
            with open(val, "rb") as fh:
                text = fh.read().decode("utf-8").split("\n")
            if text and text[-1] == "":
                text.pop()
        else:
            fail("unknown option " + opt)

    with open(path, "rb") as fh:
        data = fh.read()
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True)
    unpacker.feed(data)
    parts = {name: [] for name in expect}
    texts = []
    seq = 0
    frames = []
    ended = False
    for f in unpacker:
        if ended:
            fail("frame %d after the end frame" % (len(frames) + 1))
        frames.append(f)
        n = len(frames)
        if not isinstance(f, dict) or f.get("sb") != 1:
            fail("frame %d: not a version 1 frame: %r" % (n, f))
        if dump:
            print({k: (v if k != "tensors" else
                       {tn: "%s %s" % (t["dtype"], t["shape"]) for tn, t in v.items()})
                   for k, v in f.items()})
        if f["kind"] == "end":
            if f.get("rows_total") != seq:
                fail("end frame: rows_total %r, the stream had %d rows"
                     % (f.get("rows_total"), seq))
            ended = True
            continue
        if kind and f["kind"] != kind:
            fail("frame %d: kind %r, expected %r" % (n, f["kind"], kind))
        if f["seq"] != seq:
            fail("frame %d: seq %d, expected %d" % (n, f["seq"], seq))
        rows = f["rows"]
        for k, v in meta.items():
            if str(f.get("meta", {}).get(k)).lower() != v.lower():
                fail("frame %d: meta %r = %r, expected %r" % (n, k, f.get("meta", {}).get(k), v))
        for name, t in f["tensors"].items():
            a = array(name, t)
            if a.ndim < 1 or a.shape[0] != rows:
                fail("frame %d: tensor %r: shape %s for %d rows" % (n, name, a.shape, rows))
            if name in parts:
                parts[name].append(a)
        for name in expect:
            if name not in f["tensors"]:
                fail("frame %d: no tensor %r" % (n, name))
        if "text" in f:
            if len(f["text"]) != rows:
                fail("frame %d: %d texts for %d rows" % (n, len(f["text"]), rows))
            texts.extend(f["text"])
        seq += rows
    if not ended:
        fail("no end frame after %d frames" % len(frames))
    if batch:
        sizes = [f["rows"] for f in frames if f["kind"] != "end"]
        if any(s != batch for s in sizes[:-1]) or (sizes and not 0 < sizes[-1] <= batch):
            fail("frame sizes %s, expected batches of %d" % (sizes, batch))
    for name, want in expect.items():
        got = np.concatenate(parts[name], axis=0) if parts[name] else None
        if got is None or got.dtype != want.dtype and not (
                want.dtype == np.float64 and got.dtype == np.float32):
            fail("tensor %r: dtype %s, expected %s" % (name, None if got is None else got.dtype,
                                                      want.dtype))
        if got.shape != want.shape:
            fail("tensor %r: shape %s, expected %s" % (name, got.shape, want.shape))
        ref = want.astype(got.dtype)
        same = (np.array_equal(got, ref, equal_nan=True) if got.dtype.kind == "f"
                else np.array_equal(got, ref))
        if not same:
            fail("tensor %r: values differ from the expected array" % name)
    if text is not None and texts != text:
        fail("texts differ: %r... expected %r..." % (texts[:3], text[:3]))
    print("ok: %d frames, %d rows" % (len(frames), seq))


if __name__ == "__main__":
    main(sys.argv)
