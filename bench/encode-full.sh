#!/bin/sh
echo "bench/encode-full.sh: not written yet" >&2
exit 1
