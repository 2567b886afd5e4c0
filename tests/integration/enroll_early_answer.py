#!/usr/bin/env python3
# enroll_early_answer.py PORT CA_PEM MODE -- a client of the enrollment page that keeps
# writing its body after the page has answered, as curl and browsers do with a refused form.
# Used by enroll.sh; talks to 127.0.0.1:PORT only, every wait bounded.
#
#   refused-bodies: for 413 (Content-Length over the limit) and 400 (Content-Length twice),
#     sends the head, then a 100,000-byte body in 10,000-byte pieces, all at once or paced
#     10 or 50 ms apart, never reading until the whole body is written; then reads to the end
#     and checks the status line and that the page arrived whole. Without the page's lingering
#     close the pieces after its close() meet a reset and the answer is lost. Prints one line
#     per round; exit 1 on the first lost answer.
#   hold: sends a head refused with 413, then 1,000 bytes every 100 ms without ever reading
#     or closing: the page must end the connection (a write fails) within 15 s (its bound is
#     drain_timeout_ms, 2 s, after the answer). Prints the seconds it took.
import socket, ssl, sys, time

port, ca_pem, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
body_bytes = 100_000
piece_bytes = 10_000
io_timeout_s = 30  # Per socket operation; generous, a slow machine must not fail the test.

context = ssl.create_default_context(cafile=ca_pem)


def connect():
    raw = socket.create_connection(("127.0.0.1", port), timeout=io_timeout_s)
    return context.wrap_socket(raw, server_hostname="localhost")


def head(lengths):
    lines = ["POST /request HTTP/1.1", f"Host: localhost:{port}",
             "Content-Type: application/x-www-form-urlencoded"]
    lines += [f"Content-Length: {length}" for length in lengths]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_to_end(tls):
    answer = bytearray()
    while len(answer) < 1_000_000:
        try:
            chunk = tls.recv(65536)
        except ssl.SSLEOFError:
            break  # FIN without close_notify: the answer is whatever came before it.
        if not chunk:
            break
        answer += chunk
    return bytes(answer)


def refused_body(status, lengths, pause_s):
    what = f"{status} with the body paced {int(pause_s * 1000)} ms"
    with connect() as tls:
        try:
            tls.sendall(head(lengths))
            for _ in range(body_bytes // piece_bytes):
                time.sleep(pause_s)
                tls.sendall(b"A" * piece_bytes)
        except OSError as error:
            sys.exit(f"{what}: writing the body failed after the answer: {error!r}")
        try:
            answer = read_to_end(tls)
        except OSError as error:
            sys.exit(f"{what}: reading the answer failed: {error!r}")
    head_end = answer.find(b"\r\n\r\n")
    status_line = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    if not status_line.startswith(f"HTTP/1.1 {status} ") or head_end < 0:
        sys.exit(f"{what}: expected HTTP/1.1 {status}, got {answer[:200]!r}")
    length = [line.split(b":", 1)[1].strip() for line in answer[:head_end].split(b"\r\n")
              if line.lower().startswith(b"content-length:")]
    if length != [str(len(answer) - head_end - 4).encode()]:
        sys.exit(f"{what}: the page arrived cut: Content-Length {length}, "
                 f"{len(answer) - head_end - 4} bytes")
    print(f"ok: {status_line} after a {body_bytes}-byte body paced {int(pause_s * 1000)} ms")


if mode == "refused-bodies":
    for status, lengths in ((413, [body_bytes]), (400, [1, 2])):
        for pause_s in (0, 0.01, 0.05):
            refused_body(status, lengths, pause_s)
elif mode == "hold":
    with connect() as tls:
        tls.sendall(head([body_bytes]))
        started = time.monotonic()
        try:
            while time.monotonic() - started < 15:
                time.sleep(0.1)
                tls.sendall(b"A" * 1000)
        except OSError:
            print(f"{time.monotonic() - started:.1f}")
            sys.exit(0)
    sys.exit("the page still took bytes 15 s after its answer")
else:
    sys.exit(f"unknown mode {mode}")
