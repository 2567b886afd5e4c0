#!/usr/bin/env python3
# large_body.py PATH SEED SLICE_BYTES -- a 5,000,000-byte message body (no final line end:
# swaks adds one) with dot lines, a lone dot, CR/LF pairs and 998-byte lines placed on every
# multiple of SLICE_BYTES, six placements in turn (relay_large.sh's header lists them), and
# only dot lines and lines of up to 998 bytes between them, so that boundaries shifted by a
# header block still land on such lines. Used by relay_large.sh and stream_bodies.sh.
import random, sys
path, seed, slice_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
total = 5_000_000
rng = random.Random(seed)
out = bytearray()

def line(text):
    out.extend(text.encode() + b"\r\n")

# A line of `length` bytes before its CRLF; one in four starts with a dot, if it is at most
# 997 bytes (stuffed, 998: the longest line Postfix's smtp_line_length_limit lets through).
def filler(length):
    if 0 < length <= 997 and rng.random() < 0.25:
        return "." + "f" * (length - 1)
    return "".join(rng.choice("abcdefghij ") for _ in range(min(length, 8))) + "g" * max(0, length - 8)

def pad_to(target):  # Whole lines until the next line starts exactly at target.
    while len(out) < target:
        gap = target - len(out)
        assert gap >= 2, gap
        if gap <= 1000:
            line(filler(gap - 2))
            continue
        n = rng.choice([998, 998, rng.randrange(0, 999)])
        if gap - (n + 2) < 2:
            n -= 2
        line(filler(n))

k = 1
while (k + 1) * slice_bytes < total:
    t = k * slice_bytes
    variant = k % 6
    if variant == 0:
        pad_to(t); line(".dot line at the boundary")
    elif variant == 1:
        pad_to(t - 21); line("y" * 20); line(".")  # CR at t - 1, LF at t, then a lone dot.
    elif variant == 2:
        pad_to(t - 499); line("m" * 998)
    elif variant == 3:
        pad_to(t - 998); line("e" * 998)
    elif variant == 4:
        pad_to(t - 1); line(".after the dot")
    else:
        pad_to(t); line("." + "d" * 996)
    k += 1
pad_to(total - 12)
out.extend(b"end of body.")
assert len(out) == total
open(path, "wb").write(out)
