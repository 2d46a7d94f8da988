#!/usr/bin/env python3
"""index-ref.py - helpers of tests/73-index.sh around sb-index files.

  index-ref.py search FILE QUERIES.txt K   faiss.read_index(FILE) (Python's FAISS), the K
                                           best rows of each query (a matrix as
                                           tests/tools/index-data.awk prints it): "a TAB b"
  index-ref.py strip FILE OUT              OUT = the FAISS index alone (what
                                           faiss.write_index writes: no sb footer)
  index-ref.py footer FILE OUT             OUT = FILE whose footer claims 2^63 bytes of index
  index-ref.py flip FILE OFFSET            flips the bits of the byte at OFFSET (negative:
                                           from the end), in place
  index-ref.py pad FILE OUT                OUT = FILE with 16 bytes after the FAISS index
                                           counted in its part, footer and checksums
                                           rewritten to match (a file FAISS reads only
                                           part of)
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
        foot[48:56] = struct.pack("<Q", fnv(payload))
        foot[56:64] = struct.pack("<Q", fnv(bytes(foot[:56]), fnv(rest)))
        open(sys.argv[3], "wb").write(payload + rest + bytes(foot))
    elif cmd == "flip":
        data = bytearray(open(sys.argv[2], "rb").read())
        data[int(sys.argv[3])] ^= 0xFF
        open(sys.argv[2], "wb").write(data)
    else:
        sys.exit(f"index-ref.py: unknown command {cmd}")


main()
