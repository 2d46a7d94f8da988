#!/usr/bin/env python3
"""Damages a tokenizer cache file (lib/tok_store.c) in one way, for tests/15-tokenize-cache.sh.

usage: tokcache.py FILE CASE

CASE is one of
  truncate        cut the file in the middle of its tables
  short           keep only 100 bytes (less than the head)
  flip            flip one byte of the merges' table (the checksum no longer agrees)
  version         set the format version to 2
  span            set model.vocab's offset past the end of tokenizer.json
  slot            point a vocabulary slot's text past the pool, checksum made right
  merge           give a merge an id past the vocabulary, checksum made right
  fingerprint     change the stored fingerprint, checksum made right
  entries         count 256 vocabulary entries more, checksum made right (the
                  added tokens then disagree with the vocabulary: an error)
  full            fill every empty slot of the merges' table, checksum made right
  checksum        only compute the checksum again (the file stays the same)
The checksum is the one of lib/tok_store.c (sum64), redone here for the cases that
must reach the checks after it.
"""
import struct
import sys

M = (1 << 64) - 1
P1 = 0x9E3779B185EBCA87
LANES = 8
HEAD = 208


def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M


def fmix(x):
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & M
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & M
    return x ^ (x >> 33)


def sum64(b, seed):
    lanes = [(seed + P1 * (k + 1)) & M for k in range(LANES)]
    n = len(b)
    full = n - n % (8 * LANES)
    words = struct.unpack_from('<%dQ' % (full // 8), b, 0)
    for i in range(0, len(words), LANES):
        for k in range(LANES):
            lanes[k] = rotl(((lanes[k] ^ words[i + k]) * P1) & M, 31)
    tail = b[full:] + bytes(8 * LANES - (n - full))
    h = n
    for k, w in enumerate(struct.unpack('<%dQ' % LANES, tail)):
        h = (fmix(h ^ rotl(((lanes[k] ^ w) * P1) & M, 31)) + k) & M
    return h


def u64(b, off):
    return struct.unpack_from('<Q', b, off)[0]


def sections(b):
    pad8 = lambda n: (n + 7) & ~7
    pool_len, slot_cap, n_ids, merge_cap = u64(b, 136), u64(b, 144), u64(b, 120), u64(b, 168)
    sizes = [pad8(pool_len), slot_cap * 16, pad8(n_ids * 4), merge_cap * 16]
    offs, at = [], HEAD
    for s in sizes:
        offs.append(at)
        at += s
    return offs, sizes


def fix_checksum(b):
    struct.pack_into('<Q', b, 32, 0)
    s = sum64(bytes(b[:HEAD]), 0)
    for off, size in zip(*sections(b)):
        s = sum64(bytes(b[off:off + size]), s)
    struct.pack_into('<Q', b, 32, s)


def main():
    path, case = sys.argv[1], sys.argv[2]
    b = bytearray(open(path, 'rb').read())
    offs, sizes = sections(b)
    if case == 'truncate':
        b = b[:offs[2]]
    elif case == 'short':
        b = b[:100]
    elif case == 'flip':
        b[offs[3] + sizes[3] // 2] ^= 0x40
    elif case == 'version':
        struct.pack_into('<I', b, 8, 2)
    elif case == 'span':
        struct.pack_into('<Q', b, 72, u64(b, 40) + 1)
    elif case == 'slot':
        for at in range(offs[1], offs[1] + sizes[1], 16):
            if struct.unpack_from('<I', b, at + 4)[0]:
                struct.pack_into('<I', b, at + 8, u64(b, 136) + 5)
                break
        fix_checksum(b)
    elif case == 'merge':
        for at in range(offs[3], offs[3] + sizes[3], 16):
            if struct.unpack_from('<I', b, at + 8)[0] != 0xFFFFFFFF:
                struct.pack_into('<i', b, at + 12, u64(b, 120) + 7)
                break
        fix_checksum(b)
    elif case == 'fingerprint':
        struct.pack_into('<Q', b, 104, u64(b, 104) ^ 1)
        fix_checksum(b)
    elif case == 'entries':
        struct.pack_into('<Q', b, 112, u64(b, 112) + 256)
        fix_checksum(b)
    elif case == 'full':
        for at in range(offs[3], offs[3] + sizes[3], 16):
            if struct.unpack_from('<I', b, at + 8)[0] == 0xFFFFFFFF:
                struct.pack_into('<QIi', b, at, 0, 0, 0)
        fix_checksum(b)
    elif case == 'checksum':
        fix_checksum(b)
    else:
        sys.exit('tokcache.py: unknown case ' + case)
    open(path, 'wb').write(bytes(b))


if __name__ == '__main__':
    main()
