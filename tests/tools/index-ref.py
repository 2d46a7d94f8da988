#!/usr/bin/env python3
"""index-ref.py - helpers of tests/73-index.sh around sb-index files.

  index-ref.py search FILE QUERIES.txt K   faiss.read_index(FILE) (Python's FAISS), the K
                                           best rows of each query (a matrix as
                                           tests/tools/index-data.awk prints it): "a TAB b"
  index-ref.py params FILE                 the search parameters faiss.read_index(FILE)
                                           finds in it: "efSearch N" (HNSW), "nprobe N"
                                           (IVF), or "none"
  index-ref.py strip FILE OUT              OUT = the FAISS index alone (what
                                           faiss.write_index writes: no sb footer)
  index-ref.py footer FILE OUT             OUT = FILE whose footer claims 2^63 bytes of index
  index-ref.py flip FILE OFFSET            flips the bits of the byte at OFFSET (negative:
                                           from the end), in place
  index-ref.py pad FILE OUT                OUT = FILE with 16 bytes after the FAISS index
                                           counted in its part, footer and checksums
                                           rewritten to match (a file FAISS reads only
                                           part of)
  index-ref.py v1 FILE OUT                 OUT = FILE as format 1 wrote it (FNV-1a 64
                                           checksums)
  index-ref.py hash FILE                   the format 2 checksum of FILE's bytes, in hex
                                           (the definition in plugins/index_file.h)
"""
import struct
import sys


def matrix(path):
    with open(path) as f:
        rows, cols = map(int, f.readline().split())
        return [[float(v) for v in f.readline().split()] for _ in range(rows)], cols


def fnv(data, h=0xCBF29CE484222325):
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


M64 = 0xFFFFFFFFFFFFFFFF
P1, P2, P3 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def hash2(data):
    lanes = [(k + 1) * P1 & M64 for k in range(4)]
    full = len(data) // 32 * 32
    for at in range(0, full, 32):
        for k in range(4):
            w = struct.unpack_from("<Q", data, at + 8 * k)[0]
            lanes[k] = rotl((lanes[k] + w * P2) & M64, 31) * P1 & M64
    x = len(data)
    for k in range(4):
        x = (x ^ (rotl(lanes[k] * P2 & M64, 31) * P1 & M64)) * P1 & M64
    for b in data[full:]:
        x = (x ^ b) * 0x100000001B3 & M64
    x ^= x >> 30
    x = x * P2 & M64
    x ^= x >> 27
    x = x * P3 & M64
    x ^= x >> 31
    return x


def checksums(version, payload, rest, foot):
    """Footer bytes 48-63 of a file of this version."""
    h = fnv if version == 1 else hash2
    foot[48:56] = struct.pack("<Q", h(payload))
    foot[56:64] = struct.pack("<Q", h(rest + bytes(foot[:56])))


def main():
    cmd = sys.argv[1]
    if cmd == "search":
        import faiss
        import numpy as np

        index = faiss.read_index(sys.argv[2])
        q, _ = matrix(sys.argv[3])
        _, ids = index.search(np.array(q, dtype=np.float32), int(sys.argv[4]))
        for a, row in enumerate(ids):
            for b in row:
                if b >= 0:
                    print(f"{a}\t{b}")
    elif cmd == "params":
        import faiss

        index = faiss.read_index(sys.argv[2])
        if hasattr(index, "hnsw"):
            print("efSearch", faiss.downcast_index(index).hnsw.efSearch)
        elif hasattr(faiss, "extract_index_ivf") and "IVF" in type(index).__name__:
            print("nprobe", faiss.extract_index_ivf(index).nprobe)
        else:
            print("none")
    elif cmd in ("strip", "footer"):
        data = open(sys.argv[2], "rb").read()
        assert data[-64:-56] == b"sb-index"
        payload = struct.unpack("<Q", data[-48:-40])[0]
        if cmd == "strip":
            out = data[:payload]
        else:
            out = data[:-48] + struct.pack("<Q", 1 << 63) + data[-40:]
        open(sys.argv[3], "wb").write(out)
    elif cmd == "pad":
        data = open(sys.argv[2], "rb").read()
        foot = bytearray(data[-64:])
        f = struct.unpack("<Q", foot[16:24])[0]
        payload = data[:f] + bytes(16)
        rest = data[f:-64]
        foot[16:24] = struct.pack("<Q", f + 16)
        checksums(foot[8], payload, rest, foot)
        open(sys.argv[3], "wb").write(payload + rest + bytes(foot))
    elif cmd == "v1":
        data = open(sys.argv[2], "rb").read()
        foot = bytearray(data[-64:])
        f = struct.unpack("<Q", foot[16:24])[0]
        foot[8:16] = struct.pack("<Q", 1)
        checksums(1, data[:f], data[f:-64], foot)
        open(sys.argv[3], "wb").write(data[:-64] + bytes(foot))
    elif cmd == "hash":
        print("%016x" % hash2(open(sys.argv[2], "rb").read()))
    elif cmd == "flip":
        data = bytearray(open(sys.argv[2], "rb").read())
        data[int(sys.argv[3])] ^= 0xFF
        open(sys.argv[2], "wb").write(data)
    else:
        sys.exit(f"index-ref.py: unknown command {cmd}")


main()
