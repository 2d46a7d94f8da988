#!/usr/bin/env python3
"""progress-pty.py - runs an sb program with --progress the way a terminal user does,
for tests/59-progress.sh, without depending on timing.

usage: progress-pty.py INPUT|- CMD [ARG...]

CMD runs with standard error on a pseudo-terminal (sb programs only show progress on
a terminal), standard input from the file INPUT (or a pipe fed from that file's bytes
when INPUT is "-:FILE"), and standard output into a pipe of 4096 bytes that is not read
until CMD has filled it and so waits in a write.  Then 0.6 s pass (more than the
0.5 s between two progress lines, counted from the start of the run, which came
before the pipe filled), and the output is read to its end: the first frame written
after that prints a progress line before the input is all read.

Prints on standard output: "exit N", "out BYTES" and then the progress lines, one per
line (the terminal's carriage returns and erase-line codes turned into newlines).
"""
import fcntl
import os
import pty
import subprocess
import sys
import termios
import threading
import time

F_SETPIPE_SZ = 1031
FIONREAD = termios.FIONREAD


def main():
    src, cmd = sys.argv[1], sys.argv[2:]
    master, slave = pty.openpty()
    rd, wr = os.pipe()
    fcntl.fcntl(wr, F_SETPIPE_SZ, 4096)
    cap = fcntl.fcntl(wr, 1032)     # F_GETPIPE_SZ: what the kernel gave
    feeder = None
    if src.startswith("-:"):
        prd, pwr = os.pipe()
        stdin = prd
        data = open(src[2:], "rb").read()

        def feed():
            with os.fdopen(pwr, "wb") as f:
                f.write(data)
        feeder = threading.Thread(target=feed)
    else:
        stdin = os.open(src, os.O_RDONLY)
    p = subprocess.Popen(cmd, stdin=stdin, stdout=wr, stderr=slave)
    os.close(wr)
    os.close(slave)
    os.close(stdin)
    if feeder:
        feeder.start()
    tty = []

    def read_tty():
        while True:
            try:
                b = os.read(master, 4096)
            except OSError:
                return
            if not b:
                return
            tty.append(b)
    t = threading.Thread(target=read_tty)
    t.start()
    # Wait, with a bound, until the program has filled the pipe (or ended).
    buf = bytearray(4)
    for _ in range(6000):
        fcntl.ioctl(rd, FIONREAD, buf)
        if int.from_bytes(buf, sys.byteorder) >= cap or p.poll() is not None:
            break
        time.sleep(0.01)
    time.sleep(0.6)
    out = 0
    while True:
        b = os.read(rd, 65536)
        if not b:
            break
        out += len(b)
    rc = p.wait()
    t.join(timeout=30)
    if feeder:
        feeder.join()
    text = b"".join(tty).decode("utf-8", "replace")
    print("exit %d" % rc)
    print("out %d" % out)
    for line in text.replace("\x1b[K", "").replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.strip():
            print(line)


if __name__ == "__main__":
    main()
