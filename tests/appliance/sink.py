#!/usr/bin/env python3
"""sink.py -- a partner's mail server for the boot test: SMTP with STARTTLS on 127.0.0.1.

The hub in the VM reaches it as 10.0.2.2 (qemu's user network maps that to the host's
loopback). It presents the partner's certificate (the hub checks it chains to its CA and
names the partner), requires STARTTLS before MAIL, and writes each message to
DIR/<n>.eml with the envelope in DIR/<n>.env. Bounded: it exits after --seconds, every read
has a timeout, lines are at most 1000 octets, a message at most 10 MB.

usage: sink.py --port P --cert PEM --key KEY --dir DIR [--seconds S]
"""
import argparse
import os
import socket
import ssl
import threading
import time

LINE_MAX = 1000
MESSAGE_MAX = 10 * 1024 * 1024


def serve(conn, context, out_dir, counter):
    conn.settimeout(60)
    reader = conn.makefile("rb")

    def send(text):
        conn.sendall(text.encode() + b"\r\n")

    def line():
        data = reader.readline(LINE_MAX + 2)
        if not data:
            raise EOFError
        return data.rstrip(b"\r\n").decode("latin-1")

    send("220 sink.partner ESMTP")
    tls = False
    sender, recipients = None, []
    while True:
        command = line()
        verb = command[:4].upper()
        if verb in ("EHLO", "HELO"):
            send("250-sink.partner" if verb == "EHLO" else "250 sink.partner")
            if verb == "EHLO":
                send("250 STARTTLS" if not tls else "250 8BITMIME")
        elif command.upper() == "STARTTLS" and not tls:
            send("220 2.0.0 Ready to start TLS")
            conn = context.wrap_socket(conn, server_side=True)
            conn.settimeout(60)
            reader = conn.makefile("rb")
            tls = True
        elif verb == "MAIL":
            if not tls:
                send("530 5.7.0 STARTTLS first")
                continue
            sender, recipients = command[10:], []
            send("250 2.1.0 Ok")
        elif verb == "RCPT":
            recipients.append(command[8:])
            send("250 2.1.5 Ok")
        elif verb == "DATA":
            send("354 End data with <CR><LF>.<CR><LF>")
            body, size = [], 0
            while True:
                data = reader.readline(LINE_MAX + 2)
                if not data:
                    raise EOFError
                if data == b".\r\n":
                    break
                size += len(data)
                if size > MESSAGE_MAX:
                    raise EOFError
                body.append(data[1:] if data.startswith(b"..") else data)
            with counter["lock"]:
                counter["n"] += 1
                n = counter["n"]
            with open(os.path.join(out_dir, f"{n}.eml.tmp"), "wb") as f:
                f.write(b"".join(body))
            with open(os.path.join(out_dir, f"{n}.env"), "w") as f:
                f.write(f"from {sender}\nto {' '.join(recipients)}\ntls {conn.version()}\n")
            os.rename(os.path.join(out_dir, f"{n}.eml.tmp"), os.path.join(out_dir, f"{n}.eml"))
            send("250 2.0.0 Ok: stored")
        elif verb == "RSET":
            sender, recipients = None, []
            send("250 2.0.0 Ok")
        elif verb == "NOOP":
            send("250 2.0.0 Ok")
        elif verb == "QUIT":
            send("221 2.0.0 Bye")
            return
        else:
            send("502 5.5.2 Command not recognised")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--seconds", type=float, default=900)
    args = parser.parse_args()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    listener = socket.create_server(("127.0.0.1", args.port))
    listener.settimeout(1)
    counter = {"n": 0, "lock": threading.Lock()}
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue

        def run(c=conn):
            try:
                serve(c, context, args.dir, counter)
            except (EOFError, OSError, ssl.SSLError):
                pass
            finally:
                c.close()

        threading.Thread(target=run, daemon=True).start()


if __name__ == "__main__":
    main()
