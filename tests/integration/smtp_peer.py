#!/usr/bin/env python3
"""smtp_peer.py -- byte-exact SMTP conversations with a running hub, for the integration tests.

Each scenario is one behaviour of the hub's SMTP server, driven with Python's socket and ssl
modules so that the bytes on the wire (bare CR/LF, several commands in one packet, one byte
every two seconds) are exactly what the test says. A scenario prints "ok: ..." lines and
exits 0, or prints "FAIL: <what>: expected <x>, got <y>" with the conversation so far and
exits 1. Every read has a timeout; nothing waits forever.

usage: smtp_peer.py SCENARIO --smtp-port P --smtps-port P --state DIR [options]
scenarios: injection, smuggling, long-line, size, reject-source, accept-source, slow, send,
           before-tls, recipients, errors, text-line, connection-limits
"""

import argparse
import re
import socket
import ssl
import sys
import time

HUB_NAME = "hub.lgolhub.net"
SENDER = "joe@partner1.gov.uk"
RECIPIENT = "ann@partner2.gov.uk.lgolhub.net"
QUEUED_RE = r"^250 2\.0\.0 Ok: queued as [0-9A-F]{16}$"


class Fail(Exception):
    pass


def shown(data):
    """A transcript-friendly rendering of bytes: CR and LF visible, long runs shortened."""
    text = data.decode("latin-1")
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    text = re.sub(r"(.)\1{40,}", lambda m: f"{m.group(1)}*{len(m.group(0))}", text)
    return text if len(text) <= 300 else text[:300] + f"...({len(data)} bytes)"


class Reply:
    def __init__(self, lines):
        self.lines = lines
        self.code = int(lines[-1][:3])

    @property
    def text(self):
        return " | ".join(self.lines)


class Peer:
    transcript = []  # Shared by every connection of a scenario, printed on failure.

    def __init__(self, port, args, source=None, timeout=30.0, label="c"):
        self.args = args
        self.label = label
        self.inbox = b""
        self.tls = False
        bind = (source, 0) if source else None
        try:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                                 source_address=bind)
        except OSError as error:
            raise Fail(f"connect to 127.0.0.1:{port}: {error}")
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.log(f"connected to 127.0.0.1:{port}" + (f" from {source}" if source else ""))

    def log(self, line):
        Peer.transcript.append(f"[{self.label}] {line}")

    def send(self, data):
        self.log("C: " + shown(data))
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise Fail(f"send failed: {error}")

    def _read_more(self, timeout, what):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise Fail(f"{what}: no reply within {timeout:.0f} s")
        except (OSError, ssl.SSLError) as error:
            raise Fail(f"{what}: connection failed while waiting for a reply: {error}")
        if not chunk:
            raise Fail(f"{what}: the hub closed the connection instead of replying")
        self.inbox += chunk

    def reply(self, what, timeout=30.0):
        lines = []
        deadline = time.monotonic() + timeout
        while True:
            while b"\r\n" not in self.inbox:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Fail(f"{what}: no complete reply within {timeout:.0f} s "
                               f"(got {shown(self.inbox)!r})")
                self._read_more(left, what)
            line, self.inbox = self.inbox.split(b"\r\n", 1)
            text = line.decode("latin-1")
            self.log("S: " + shown(line))
            if not re.match(r"^[2-5][0-9][0-9]([ -]|$)", text):
                raise Fail(f"{what}: malformed reply line {text!r}")
            lines.append(text)
            if len(text) == 3 or text[3] == " ":
                return Reply(lines)

    def expect(self, what, regex, timeout=30.0):
        reply = self.reply(what, timeout)
        if not re.search(regex, reply.lines[-1]):
            raise Fail(f"{what}: expected a reply matching /{regex}/, got: {reply.text}")
        return reply

    def command(self, line, regex, what=None, timeout=30.0):
        self.send(line.encode() + b"\r\n")
        return self.expect(what or line.split(" ")[0], regex, timeout)

    def tls_context(self, client_cert=True):
        context = ssl.create_default_context(cafile=f"{self.args.state}/ca.pem")
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if client_cert:
            context.load_cert_chain(f"{self.args.state}/partner1.pem",
                                    f"{self.args.state}/partner1.key")
        return context

    def start_tls(self, client_cert=True, timeout=30.0):
        if self.inbox:
            raise Fail("the hub sent bytes after its STARTTLS reply, before the handshake: "
                       + shown(self.inbox))
        self.sock.settimeout(timeout)
        try:
            self.sock = self.tls_context(client_cert).wrap_socket(self.sock,
                                                                  server_hostname=HUB_NAME)
        except (OSError, ssl.SSLError) as error:
            raise Fail(f"TLS handshake failed: {error}")
        self.tls = True
        self.log(f"TLS: {self.sock.version()} {self.sock.cipher()[0]}")

    def poll_reply(self, seconds):
        """A complete reply if one arrives within `seconds`, else None (never fails on time)."""
        deadline = time.monotonic() + seconds
        while b"\r\n" not in self.inbox:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                return None
            except (OSError, ssl.SSLError) as error:
                raise Fail(f"connection failed while waiting: {error}")
            if not chunk:
                raise Fail("the hub closed the connection without a reply")
            self.inbox += chunk
        return self.reply("reply", timeout=10)

    def quiet_for(self, seconds):
        """Bytes the hub sends within `seconds` while we say nothing (b"" if none)."""
        got = self.inbox
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return got
            except (OSError, ssl.SSLError):
                return got
            if not chunk:
                return got
            got += chunk

    def closed_within(self, seconds):
        """True if the hub closes the connection within `seconds`; bytes seen go to inbox."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (OSError, ssl.SSLError):
                return True  # Reset, or a TLS close without close_notify: closed either way.
            if not chunk:
                return True
            self.inbox += chunk
            self.log("S: " + shown(chunk))
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def open_session(args, implicit=False, client_cert=True, label="c"):
    """Greeting, EHLO, TLS (STARTTLS or implicit), EHLO again: ready for MAIL."""
    if implicit:
        peer = Peer(args.smtps_port, args, label=label)
        peer.start_tls(client_cert)
    else:
        peer = Peer(args.smtp_port, args, label=label)
    peer.expect("greeting", r"^220 ")
    ehlo = peer.command("EHLO mx.partner1.gov.uk", r"^250 ", "EHLO")
    if not implicit:
        if not any("STARTTLS" in line for line in ehlo.lines):
            raise Fail(f"EHLO before TLS: expected STARTTLS advertised, got: {ehlo.text}")
        peer.command("STARTTLS", r"^220 ")
        peer.start_tls(client_cert)
        peer.command("EHLO mx.partner1.gov.uk", r"^250 ", "EHLO after TLS")
    return peer


def send_small_message(peer, sender=SENDER, subject="small"):
    peer.command(f"MAIL FROM:<{sender}>", r"^250 ")
    peer.command(f"RCPT TO:<{RECIPIENT}>", r"^250 ")
    peer.command("DATA", r"^354 ")
    peer.send(f"Subject: {subject}\r\nFrom: <{sender}>\r\n\r\nhello\r\n.\r\n".encode())
    reply = peer.expect("end of DATA", QUEUED_RE, timeout=60)
    return reply.lines[-1].split()[-1]


def scenario_injection(args):
    """STARTTLS plus RSET in one clear-text packet: the RSET must never be answered."""
    peer = Peer(args.smtp_port, args)
    peer.expect("greeting", r"^220 ")
    peer.command("EHLO mx.partner1.gov.uk", r"^250 ", "EHLO")
    peer.send(b"STARTTLS\r\nRSET\r\n")  # One send with TCP_NODELAY: one packet on loopback.
    peer.expect("STARTTLS", r"^220 ")
    extra = peer.quiet_for(1.0)
    if extra:
        raise Fail("after 220 to STARTTLS: expected silence until the handshake, got "
                   f"{shown(extra)!r} (the injected RSET answered in clear text)")
    peer.start_tls()
    extra = peer.quiet_for(2.0)
    if extra:
        raise Fail("after the TLS handshake: expected the hub to wait for the client, got "
                   f"{shown(extra)!r} (the injected RSET answered over TLS)")
    ehlo = peer.command("EHLO mx.partner1.gov.uk", r"^250 ", "EHLO after TLS")
    if not ehlo.lines[0].startswith("250-") or len(ehlo.lines) < 2:
        raise Fail(f"EHLO after TLS: expected the multi-line EHLO reply first, got "
                   f"{ehlo.text} (an answer to the injected RSET?)")
    peer.command("NOOP", r"^250 ")
    peer.command("QUIT", r"^221 ")
    if not peer.closed_within(10):
        raise Fail("after QUIT: expected the hub to close the connection")
    if peer.inbox:
        raise Fail(f"after QUIT: expected nothing more, got {shown(peer.inbox)!r}")
    print("ok: STARTTLS injection: 'STARTTLS\\r\\nRSET\\r\\n' in one packet; after the "
          "handshake the only replies were EHLO's, NOOP's and QUIT's (RSET never answered)")


SMUGGLING_VARIANTS = [
    ("\\n.\\n", b"\n.\n"),
    ("\\r.\\n", b"\r.\n"),
    ("\\n.\\r\\n", b"\n.\r\n"),
    ("\\r\\n.\\r", b"\r\n.\r"),
]


def scenario_smuggling(args):
    """A fake end of DATA followed by a second, smuggled transaction: 521, nothing queued."""
    count = 0
    for implicit in (False, True):
        for index, (name, ending) in enumerate(SMUGGLING_VARIANTS):
            label = f"{'smtps' if implicit else 'starttls'} {name}"
            peer = open_session(args, implicit=implicit, label=label)
            tag = f"{'i' if implicit else 's'}{index}"
            peer.command(f"MAIL FROM:<legit-{tag}@partner1.gov.uk>", r"^250 ")
            peer.command(f"RCPT TO:<{RECIPIENT}>", r"^250 ")
            peer.command("DATA", r"^354 ")
            payload = (b"Subject: legit " + tag.encode() + b"\r\n\r\nlegit body" + ending +
                       b"MAIL FROM:<evil@x.example>\r\n"
                       b"RCPT TO:<victim@partner2.gov.uk.lgolhub.net>\r\n"
                       b"DATA\r\n"
                       b"Subject: smuggled " + tag.encode() + b"\r\n"
                       b"Message-ID: <smuggled-" + tag.encode() + b"@x.example>\r\n\r\n"
                       b"smuggled\r\n.\r\n")
            peer.send(payload)
            reply = peer.reply(f"{label}: reply to the smuggling payload", timeout=30)
            if not re.match(r"^521 5\.5\.2", reply.lines[-1]):
                raise Fail(f"{label}: expected '521 5.5.2 ... Bare CR or LF', got: {reply.text}")
            if not peer.closed_within(15):
                raise Fail(f"{label}: expected the hub to close the connection after 521")
            if b"250" in peer.inbox:
                raise Fail(f"{label}: the hub answered more after 521: {shown(peer.inbox)!r}")
            peer.close()
            count += 1
            print(f"ok: smuggling {label}: {reply.lines[-1]}; connection closed")
    print(f"ok: {count} smuggling attempts refused")


def scenario_long_line(args):
    """A 10,000-byte command line: 500 5.5.2 once, and the session goes on (clear and TLS)."""
    line = b"NOOP " + b"x" * (10000 - len("NOOP ") - 2) + b"\r\n"
    assert len(line) == 10000
    peer = Peer(args.smtp_port, args)
    peer.expect("greeting", r"^220 ")
    peer.command("EHLO mx.partner1.gov.uk", r"^250 ", "EHLO")
    for phase in ("before TLS", "over TLS"):
        if phase == "over TLS":
            peer.command("STARTTLS", r"^220 ")
            peer.start_tls()
            peer.command("EHLO mx.partner1.gov.uk", r"^250 ", "EHLO after TLS")
        peer.send(line)
        reply = peer.expect(f"10,000-byte line {phase}", r"^500 5\.5\.2")
        print(f"ok: 10,000-byte command line {phase}: {reply.lines[-1]}")
        # Exactly one reply for the long line: the next one must be NOOP's.
        peer.command("NOOP", r"^250 ", f"NOOP after the long line {phase}")
        print(f"ok: NOOP after it {phase}: 250")
    queue_id = send_small_message(peer, subject="after a long line")
    print(f"ok: a message after the long line was queued as {queue_id}")
    peer.command("QUIT", r"^221 ")


def scenario_size(args):
    """SIZE over the limit at MAIL, then a body that grows over it: 552 5.3.4, still usable."""
    peer = open_session(args)
    ehlo_size = 5242880
    peer.command(f"MAIL FROM:<{SENDER}> SIZE=6000000", r"^552 5\.3\.4", "MAIL ... SIZE=6000000")
    print("ok: MAIL FROM with SIZE=6000000: 552 5.3.4")
    peer.command(f"MAIL FROM:<{SENDER}>", r"^250 ", "MAIL without SIZE after the 552")
    peer.command(f"RCPT TO:<{RECIPIENT}>", r"^250 ")
    peer.command("DATA", r"^354 ")
    body_line = b"a" * 998 + b"\r\n"
    total = 6 * 1024 * 1024
    body = b"Subject: too big\r\n\r\n" + body_line * (total // len(body_line) + 1)
    peer.send(body + b".\r\n")
    reply = peer.expect(f"end of a {len(body)}-byte DATA (limit {ehlo_size})",
                        r"^552 5\.3\.4", timeout=120)
    print(f"ok: a {len(body)}-byte body without SIZE: {reply.lines[-1]}")
    queue_id = send_small_message(peer, subject="after the oversized one")
    print(f"ok: the same connection then sent a small message: queued as {queue_id}")
    peer.command("QUIT", r"^221 ")


def scenario_reject_source(args):
    """From an address outside every inbound connector: 554 5.7.1 at greeting, closed."""
    peer = Peer(args.smtp_port, args, source=args.source, label="smtp")
    reply = peer.expect(f"greeting to {args.source}", r"^554 5\.7\.1")
    if not peer.closed_within(15):
        raise Fail(f"after '{reply.text}': expected the hub to close the connection")
    print(f"ok: STARTTLS port, from {args.source}: {reply.lines[-1]}; closed")
    # Implicit TLS: either the handshake is refused or the greeting is the same 554.
    peer = Peer(args.smtps_port, args, source=args.source, label="smtps")
    try:
        peer.start_tls()
    except Fail as error:
        print(f"ok: implicit TLS port, from {args.source}: no session ({error})")
        return
    try:
        reply = peer.reply("greeting over implicit TLS", timeout=15)
    except Fail as error:
        print(f"ok: implicit TLS port, from {args.source}: no greeting ({error})")
        return
    if not re.match(r"^554 5\.7\.1", reply.lines[-1]):
        raise Fail(f"implicit TLS from {args.source}: expected 554 5.7.1 or no session, got "
                   f"{reply.text}")
    print(f"ok: implicit TLS port, from {args.source}: {reply.lines[-1]}")


def scenario_accept_source(args):
    """Positive control: from an address inside a connector the hub greets with 220."""
    peer = Peer(args.smtp_port, args, source=args.source)
    reply = peer.expect(f"greeting to {args.source}", r"^220 ")
    peer.command("QUIT", r"^221 ")
    print(f"ok: from {args.source}: {reply.lines[-1]}")


def slow_client(args, use_tls):
    """One byte every 2 s of a command line: 421 4.4.2 once the command timeout passes."""
    label = "over TLS" if use_tls else "before TLS"
    peer = Peer(args.smtp_port, args, label=label)
    peer.expect("greeting", r"^220 ")
    if use_tls:
        peer.command("EHLO mx.partner1.gov.uk", r"^250 ", "EHLO")
        peer.command("STARTTLS", r"^220 ")
        peer.start_tls()
        peer.command("EHLO mx.partner1.gov.uk", r"^250 ", "EHLO after TLS")  # Reads tickets.
    line = f"MAIL FROM:<{SENDER}>\r\n".encode()  # Longer than timeout / 2 s bytes.
    started = time.monotonic()
    limit = args.timeout + 30.0
    sent = 0
    reply = None
    while reply is None:
        if sent < len(line) - 2:  # Never complete the line: only the timer can end this.
            peer.send(line[sent:sent + 1])
            sent += 1
        reply = peer.poll_reply(2.0)
        if reply is None and time.monotonic() - started > limit:
            raise Fail(f"slow client {label}: expected 421 4.4.2 within about "
                       f"{args.timeout} s, nothing after {limit:.0f} s ({sent} bytes sent)")
    elapsed = time.monotonic() - started
    if not re.match(r"^421 4\.4\.2", reply.lines[-1]):
        raise Fail(f"slow client {label}: expected 421 4.4.2, got {reply.text}")
    if not peer.closed_within(15):
        raise Fail(f"slow client {label}: expected the connection closed after the 421")
    if elapsed < args.timeout - 1.5:
        raise Fail(f"slow client {label}: 421 after {elapsed:.1f} s, before the "
                   f"{args.timeout} s command timeout")
    print(f"ok: slow client {label} (1 byte / 2 s, {sent} bytes sent): {reply.lines[-1]} "
          f"after {elapsed:.1f} s (command timeout {args.timeout} s); connection closed")


def scenario_slow(args):
    slow_client(args, use_tls=False)
    slow_client(args, use_tls=True)


def scenario_before_tls(args):
    """Before TLS only EHLO/HELO/STARTTLS/NOOP/RSET/QUIT work; the rest gets 530 5.7.0."""
    peer = Peer(args.smtp_port, args)
    peer.expect("greeting", r"^220 ")
    peer.command("EHLO mx.partner1.gov.uk", r"^250 ", "EHLO")
    refused = [f"MAIL FROM:<{SENDER}>", f"RCPT TO:<{RECIPIENT}>", "DATA", "VRFY ann",
               "HELP"]
    for line in refused:
        reply = peer.command(line, r"^530 5\.7\.0", f"{line} before TLS")
        print(f"ok: before TLS, {line.split(':')[0]}: {reply.lines[-1]}")
    for line in ("NOOP", "RSET", "HELO mx.partner1.gov.uk"):
        reply = peer.command(line, r"^250 ", f"{line} before TLS")
        print(f"ok: before TLS, {line.split(' ')[0]}: {reply.lines[-1]}")
    peer.command("STARTTLS", r"^220 ")
    peer.start_tls()
    peer.command("EHLO mx.partner1.gov.uk", r"^250 ", "EHLO after TLS")
    queue_id = send_small_message(peer, subject="after the refused commands")
    print(f"ok: after STARTTLS the same session queued a message as {queue_id}")
    peer.command("QUIT", r"^221 ")


def scenario_recipients(args):
    """recipients_count_max (default 100): the next RCPT gets 452 4.5.3; the message goes."""
    peer = open_session(args)
    peer.command(f"MAIL FROM:<{SENDER}>", r"^250 ")
    lines = b"".join(f"RCPT TO:<user{n}@partner2.gov.uk.lgolhub.net>\r\n".encode()
                     for n in range(args.count + 1))
    peer.send(lines)  # Pipelined (RFC 2920): the answers come back in order.
    for n in range(args.count):
        peer.expect(f"RCPT number {n + 1}", r"^250 ")
    reply = peer.expect(f"RCPT number {args.count + 1}", r"^452 4\.5\.3")
    print(f"ok: {args.count} recipients accepted, number {args.count + 1}: {reply.lines[-1]}")
    peer.command("DATA", r"^354 ")
    peer.send(b"Subject: many recipients\r\n\r\nhello\r\n.\r\n")
    reply = peer.expect("end of DATA", QUEUED_RE, timeout=60)
    print(f"ok: the message to {args.count} recipients: {reply.lines[-1]}")
    peer.command("QUIT", r"^221 ")


def scenario_errors(args):
    """errors_count_max (default 10): unknown commands until 421 4.7.0, then closed."""
    peer = open_session(args)
    for n in range(1, args.count + 5):
        peer.send(b"FROBNICATE\r\n")
        reply = peer.reply(f"unknown command number {n}")
        if reply.code == 421:
            if not re.match(r"^421 4\.7\.0", reply.lines[-1]):
                raise Fail(f"after {n} errors: expected 421 4.7.0, got {reply.text}")
            if not peer.closed_within(15):
                raise Fail(f"after '{reply.text}': expected the connection closed")
            if not args.count <= n <= args.count + 1:
                raise Fail(f"421 at error number {n}; the limit is {args.count}")
            print(f"ok: {n - 1} errors answered 5xx, then: {reply.lines[-1]}; closed")
            return
        if not reply.lines[-1].startswith("5"):
            raise Fail(f"unknown command number {n}: expected a 5xx reply, got {reply.text}")
    raise Fail(f"expected 421 4.7.0 after about {args.count} errors; none after {n}")


def scenario_text_line(args):
    """A 1,500-byte line inside DATA (limit 1000 with CRLF): refused, the session goes on."""
    peer = open_session(args)
    peer.command(f"MAIL FROM:<{SENDER}>", r"^250 ")
    peer.command(f"RCPT TO:<{RECIPIENT}>", r"^250 ")
    peer.command("DATA", r"^354 ")
    peer.send(b"Subject: long line\r\n\r\n" + b"z" * 1498 + b"\r\n.\r\n")
    reply = peer.expect("end of DATA with a 1,500-byte line", r"^5[0-9][0-9] 5\.")
    print(f"ok: a 1,500-byte text line: {reply.lines[-1]}")
    queue_id = send_small_message(peer, subject="after the long text line")
    print(f"ok: the same connection then queued a message as {queue_id}")
    peer.command("QUIT", r"^221 ")


def greeted(args, source, what, retry_s=10.0):
    """A connection from `source` that got 220 (retried: the hub may still count a socket
    that was just closed)."""
    deadline = time.monotonic() + retry_s
    while True:
        peer = Peer(args.smtp_port, args, source=source, label=what)
        reply = peer.reply(f"greeting for {what}")
        if reply.code == 220:
            return peer
        peer.close()
        if time.monotonic() > deadline:
            raise Fail(f"{what}: expected 220, got {reply.text} for {retry_s:.0f} s")
        time.sleep(0.2)


def refused(args, source, regex, what):
    peer = Peer(args.smtp_port, args, source=source, label=what)
    reply = peer.expect(what, regex)
    if not peer.closed_within(15):
        raise Fail(f"{what}: expected the connection closed after '{reply.text}'")
    print(f"ok: {what}: {reply.lines[-1]}; closed")


def scenario_connection_limits(args):
    """partner1 = 127.0.0.1, partner2 = 127.0.0.2; per partner 2, overall 3 (one shard)."""
    held = [greeted(args, "127.0.0.1", "partner1 connection 1"),
            greeted(args, "127.0.0.1", "partner1 connection 2")]
    refused(args, "127.0.0.1", r"^421 4\.7\.0", "partner1 connection 3 (per-partner limit 2)")
    held.append(greeted(args, "127.0.0.2", "partner2 connection 1"))
    refused(args, "127.0.0.2", r"^421 4\.3\.2", "partner2 connection 2 (overall limit 3)")
    held[0].command("QUIT", r"^221 ")
    held[0].close()
    again = greeted(args, "127.0.0.1", "partner1 after one of its connections quit")
    print("ok: after one partner1 connection quit, partner1 is served again (220)")
    for peer in held[1:] + [again]:
        peer.command("QUIT", r"^221 ")


def scenario_send(args):
    """One small message over STARTTLS; prints its queue id (used by the disk tests)."""
    peer = open_session(args, implicit=args.implicit)
    queue_id = send_small_message(peer, subject=args.subject)
    peer.command("QUIT", r"^221 ")
    print(queue_id)


SCENARIOS = {
    "injection": scenario_injection,
    "smuggling": scenario_smuggling,
    "long-line": scenario_long_line,
    "size": scenario_size,
    "reject-source": scenario_reject_source,
    "accept-source": scenario_accept_source,
    "slow": scenario_slow,
    "send": scenario_send,
    "before-tls": scenario_before_tls,
    "recipients": scenario_recipients,
    "errors": scenario_errors,
    "text-line": scenario_text_line,
    "connection-limits": scenario_connection_limits,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--smtps-port", type=int, required=True)
    parser.add_argument("--state", required=True, help="dev-init state dir (ca.pem, keys)")
    parser.add_argument("--source", default="127.0.0.1", help="source address to bind")
    parser.add_argument("--timeout", type=float, default=5.0, help="hub command timeout, s")
    parser.add_argument("--implicit", action="store_true", help="send: use the smtps port")
    parser.add_argument("--subject", default="integration test")
    parser.add_argument("--count", type=int, default=100,
                        help="recipients: the hub's recipients_count_max; errors: errors_count_max")
    args = parser.parse_args()
    try:
        SCENARIOS[args.scenario](args)
    except Fail as error:
        print(f"FAIL: {args.scenario}: {error}", file=sys.stderr)
        print("---- conversation (C: client, S: hub) ----", file=sys.stderr)
        for line in Peer.transcript[-40:]:
            print(line, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
