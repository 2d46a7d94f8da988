#!/usr/bin/env python3
"""Structure figures of an sb source tree, for before/after comparisons of a redesign.

usage: bench/arch-metrics.py TREE [LIBSB_SO]

Prints, for the source tree TREE (a checkout: lib/, cmd/, plugins/, Makefile.am):
  - lib/: number of .c/.h files, total lines, and the five largest files;
  - functions longer than 100 lines in lib/, cmd/ and plugins/, listed.  A function is
    counted from its header line (a line at column 0 that is not a comment, a
    preprocessor line or a brace, and that opens a parenthesis) to the next line that
    is exactly "}" at column 0, when a line that is exactly "{" at column 0 follows
    the header before any ";": the layout every function in the tree has
    (.clang-format, BreakBeforeBraces for functions).  Lines include the header,
    blank lines and comments inside the body;
  - installed headers (sbinclude_HEADERS in Makefile.am) and how many function
    prototypes each declares: top-level declarations (outside braces, comments and
    preprocessor lines removed) that end in ";" and hold "(", other than typedefs and
    pointer variables "(*";
  - Makefile.am lines;
  - the places that check a stream's order or end: functions of lib/, cmd/ and
    plugins/ that compare a frame's seq field (x.seq, x->seq) or a rows_total with
    "!=" (the runner's check of what a stage emits and the farm's check of a worker's
    results included: they are listed, to be read);
  - with LIBSB_SO: exported symbols, `nm -D --defined-only LIBSB_SO | wc -l`, and of
    them functions (type T).
"""
import os
import re
import subprocess
import sys


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def c_files(tree, sub, exts=(".c", ".h")):
    d = os.path.join(tree, sub)
    if not os.path.isdir(d):
        return []
    return sorted(os.path.join(d, n) for n in os.listdir(d) if n.endswith(exts))


def functions(path):
    """(name, first line, length) of each function defined in the file."""
    lines = read(path).split("\n")
    out = []
    i = 0
    while i < len(lines):
        ln = lines[i]
        if (ln and not ln[0].isspace() and ln[0] not in "#/{}*" and "(" in ln
                and not ln.rstrip().endswith(";")):
            # Find "{" at column 0 before a ";" ends a declaration.
            j = i
            while j < len(lines) and lines[j] != "{" and not lines[j].rstrip().endswith(";"):
                j += 1
            if j < len(lines) and lines[j] == "{":
                k = j + 1
                while k < len(lines) and lines[k] != "}":
                    k += 1
                m = re.search(r"(\w+)\s*\(", ln)
                out.append((m.group(1) if m else "?", i + 1, k - i + 1))
                i = k + 1
                continue
        i += 1
    return out


def strip_c(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return "\n".join(l for l in text.split("\n") if not l.lstrip().startswith("#"))


def prototypes(path):
    text = strip_c(read(path))
    depth, stmt, n = 0, [], 0
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                stmt = []       # a body or a struct ended: not a prototype
            continue
        if depth:
            continue
        if ch == ";":
            s = " ".join("".join(stmt).split())
            stmt = []
            if "(" in s and not s.startswith("typedef") and "(*" not in s:
                n += 1
        else:
            stmt.append(ch)
    return n


def installed_headers(tree):
    text = read(os.path.join(tree, "Makefile.am")).replace("\\\n", " ")
    hs = []
    for m in re.finditer(r"^sbinclude_HEADERS\s*\+?=(.*)$", text, flags=re.M):
        hs += m.group(1).split()
    return hs


# A frame's seq field (f->seq, pk.seq) or rows_total compared with "!=" (a tensor
# dimension called seq is not a frame's seq).
ORDER_RE = re.compile(r"([.>]seq\s*!=|!=\s*[\w.>\-\[\]]*[.>]seq\b|rows_total\w*\s*!=|"
                      r"!=\s*[\w.>\-\[\]]*rows_total)")


def order_checks(tree):
    places = []
    for sub in ("lib", "cmd", "plugins"):
        for path in c_files(tree, sub, (".c",)):
            lines = read(path).split("\n")
            for name, first, length in functions(path):
                body = "\n".join(lines[first - 1:first - 1 + length])
                if ORDER_RE.search(body):
                    places.append("%s:%s" % (os.path.relpath(path, tree), name))
    return places


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: arch-metrics.py TREE [LIBSB_SO]")
    tree = sys.argv[1]
    lib = c_files(tree, "lib")
    sizes = sorted(((len(read(p).split("\n")) - 1, os.path.basename(p)) for p in lib),
                   reverse=True)
    print("lib/: %d files, %d lines; largest: %s" % (
        len(lib), sum(s for s, _ in sizes),
        ", ".join("%s %d" % (n, s) for s, n in sizes[:5])))
    long_fns = []
    for sub in ("lib", "cmd", "plugins"):
        for p in c_files(tree, sub, (".c",)):
            for name, first, length in functions(p):
                if length > 100:
                    long_fns.append((length, "%s:%d %s" % (os.path.relpath(p, tree), first,
                                                            name)))
    long_fns.sort(reverse=True)
    print("functions over 100 lines: %d" % len(long_fns))
    for length, where in long_fns:
        print("  %4d %s" % (length, where))
    hs = installed_headers(tree)
    counts = [(h, prototypes(os.path.join(tree, h))) for h in hs]
    print("installed headers: %d, prototypes: %d" % (len(hs), sum(c for _, c in counts)))
    print("  " + ", ".join("%s %d" % (os.path.basename(h), c) for h, c in counts))
    print("Makefile.am lines: %d" % (len(read(os.path.join(tree, "Makefile.am")).split("\n")) - 1))
    places = order_checks(tree)
    print("functions checking seq order or rows_total: %d" % len(places))
    print("  " + ", ".join(places))
    if len(sys.argv) == 3:
        out = subprocess.run(["nm", "-D", "--defined-only", sys.argv[2]], check=True,
                             capture_output=True, text=True).stdout.splitlines()
        print("exported symbols (nm -D --defined-only): %d, functions (T): %d" % (
            len(out), sum(1 for l in out if l.split()[1:2] == ["T"])))


if __name__ == "__main__":
    main()
