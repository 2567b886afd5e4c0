#!/usr/bin/env python3
# streamed_bodies.py -- message bodies whose hazards sit exactly on the spool's slice
# boundaries, for the streamed-message tests (relay_streamed.sh; reusable by any test that
# sends the same bodies by SMTP).
#
#   streamed_bodies.py body OUT SEED [--shift N] [--slice N] [--total N]
#       A body of --total bytes (default 5,000,000, CRLF lines, ending in CRLF) with a
#       hazard at every offset k * slice - shift (the content offset of body byte b is
#       b + shift: shift is the length of what precedes the body in the spool content,
#       the Received: header and the header block), six kinds in turn:
#         0 a dot line starts at the boundary      3 the CRLF of a 998-byte line starts there
#         1 the boundary falls between CR and LF   4 the boundary follows the dot of a dot line
#           of a line just before a lone "."       5 a 997-byte line starting with a dot starts there
#         2 the boundary cuts a 998-byte line
#       Between them, one line in four starts with a dot and lines are up to 998 bytes.
#   streamed_bodies.py content OUT SEED SUBJECT [--header-bytes N] [--slice N] [--total N]
#       A whole spool content: a Received: header, a header block (padded with X-Filler
#       fields to about --header-bytes, so it can end past the first slice), the empty
#       line and a body as above with the right shift. Writes OUT (the content) and
#       OUT.body (the body alone).
#   streamed_bodies.py maildir-body FILE
#       Prints the body of a Maildir message (after its first empty line).
import argparse
import random
import sys

SLICE = 256 * 1024  # spool::slice_content_bytes_max


def make_body(seed, shift, slice_bytes, total):
    rng = random.Random(seed)
    out = bytearray()

    def line(text):
        out.extend(text.encode() + b"\r\n")

    def filler(length):
        if 0 < length <= 997 and rng.random() < 0.25:
            return "." + "f" * (length - 1)
        return "".join(rng.choice("abcdefghij ") for _ in range(min(length, 8))) + "g" * max(
            0, length - 8)

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
    while k * slice_bytes - shift < 1100:
        k += 1
    while k * slice_bytes - shift + 1100 < total - 100:
        t = k * slice_bytes - shift
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
    pad_to(total - 14)
    line("end of body.")
    assert len(out) == total, (len(out), total)
    return bytes(out)


def make_content(seed, subject, header_bytes, slice_bytes, total):
    head = ("Received: from partner1.gov.uk (127.0.0.1)\r\n"
            "\tby hub.lgolhub.net (Hubbox) with ESMTPS id streamed-%d;\r\n"
            "\tMon, 7 Dec 2026 12:00:00 +0000\r\n"
            "From: Alice <alice@partner1.gov.uk>\r\n"
            "To: joe@partner2.gov.uk.lgolhub.net\r\n"
            "Subject: %s\r\n"
            "Message-ID: <streamed-%d@partner1.gov.uk>\r\n"
            "Date: Mon, 7 Dec 2026 12:00:00 +0000\r\n") % (seed, subject, seed)
    n = 0
    while len(head) + 2 < header_bytes:
        head += "X-Filler-%d: %s\r\n" % (n, "h" * 900)
        n += 1
    head += "\r\n"
    body = make_body(seed, len(head), slice_bytes, total)
    return head.encode() + body, body


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["body", "content", "maildir-body"])
    parser.add_argument("out")
    parser.add_argument("seed", nargs="?", type=int, default=1)
    parser.add_argument("subject", nargs="?", default="streamed")
    parser.add_argument("--shift", type=int, default=0)
    parser.add_argument("--slice", type=int, default=SLICE)
    parser.add_argument("--total", type=int, default=5_000_000)
    parser.add_argument("--header-bytes", type=int, default=0)
    args = parser.parse_args()
    if args.mode == "maildir-body":
        data = open(args.out, "rb").read()
        sys.stdout.buffer.write(data[data.index(b"\n\n") + 2:])
    elif args.mode == "body":
        open(args.out, "wb").write(make_body(args.seed, args.shift, args.slice, args.total))
    else:
        content, body = make_content(args.seed, args.subject, args.header_bytes, args.slice,
                                     args.total)
        open(args.out, "wb").write(content)
        open(args.out + ".body", "wb").write(body)


main()
