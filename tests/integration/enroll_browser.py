#!/usr/bin/python3
"""enroll_browser.py -- a real browser through the enrollment page, for enroll_browser.sh.

Starts Debian's headless Chromium with its DevTools protocol on a loopback port and drives
it like a person: navigates, focuses each field and types into it (Input.insertText), clicks
the button with mouse events at its place on the screen, and waits for the next page. The
page's own certificate is accepted by its key's hash only (--ignore-certificate-errors-spki-
list), nothing else is trusted. Every page is saved as a PNG screenshot in SHOTS.

The scenario: the start page; the request form filled in and sent ("pending approval", the
request number read from the page); APPROVE (a command run with the number, e.g. hubctl ca
approve) ; the status form ("approved"); the download form with PEM chosen (the file lands
in SHOTS/download/); the request form with a wrong password (403). The HTTP status of each
main document comes from Network.responseReceived. Prints one JSON object with what it saw.

usage: enroll_browser.py URL SPKI_SHA256_B64 PARTNER PASSWORD_FILE CSR_FILE SHOTS APPROVE...
Uses Debian's python3-websocket (websocket-client); exits non-zero with the reason.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

TIMEOUT_S = 60  # Each wait; a slow machine must not fail the test.


class Browser:
    def __init__(self, spki, profile, log_path):
        self.chromium = subprocess.Popen(
            [shutil.which("chromium") or "/usr/bin/chromium", "--headless=new", "--no-sandbox",
             "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--disable-sync",
             "--disable-component-update", "--disable-default-apps", "--mute-audio",
             "--disable-features=Translate,MediaRouter,OptimizationHints",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             "--user-data-dir=" + profile, "--window-size=1000,1300",
             "--ignore-certificate-errors-spki-list=" + spki, "about:blank"],
            stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))
        active = os.path.join(profile, "DevToolsActivePort")
        deadline = time.time() + TIMEOUT_S
        while not (os.path.exists(active) and len(open(active).read().split("\n")) >= 2):
            if self.chromium.poll() is not None or time.time() > deadline:
                raise RuntimeError("chromium did not open its DevTools port (see " + log_path + ")")
            time.sleep(0.1)
        port, browser_path = open(active).read().split("\n")[:2]
        base = "http://127.0.0.1:" + port
        self.browser_ws = websocket.create_connection(
            "ws://127.0.0.1:" + port + browser_path, timeout=TIMEOUT_S, suppress_origin=True)
        pages = [t for t in json.load(urllib.request.urlopen(base + "/json/list", timeout=10))
                 if t["type"] == "page"]
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=TIMEOUT_S,
                                              suppress_origin=True)
        self.next_id = 0
        self.events = []
        self.call("Page.enable")
        self.call("Network.enable")
        self.call("Runtime.enable")

    def call(self, method, ws=None, **params):
        ws = ws or self.ws
        self.next_id += 1
        ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        deadline = time.time() + TIMEOUT_S
        while time.time() < deadline:
            message = json.loads(ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)
        raise RuntimeError(f"{method}: no answer in {TIMEOUT_S} s")

    def wait_event(self, method):
        deadline = time.time() + TIMEOUT_S
        while time.time() < deadline:
            for i, event in enumerate(self.events):
                if event["method"] == method:
                    return self.events.pop(i)
            self.events.append(json.loads(self.ws.recv()))
        raise RuntimeError(f"no {method} in {TIMEOUT_S} s")

    def document_status(self):
        """The HTTP status of the latest main document (Network.responseReceived)."""
        statuses = [e["params"]["response"]["status"] for e in self.events
                    if e["method"] == "Network.responseReceived"
                    and e["params"].get("type") == "Document"]
        self.events = [e for e in self.events if e["method"] != "Network.responseReceived"]
        return statuses[-1] if statuses else None

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def load(self, url):
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")
        return self.document_status()

    def type_into(self, element_id, text):
        self.evaluate(f"document.getElementById({json.dumps(element_id)}).focus()")
        self.call("Input.insertText", text=text)
        typed = self.evaluate(f"document.getElementById({json.dumps(element_id)}).value")
        if typed.replace("\r\n", "\n").strip() != text.strip():
            raise RuntimeError(f"typing into #{element_id} gave {typed!r}")

    def click(self, selector):
        self.evaluate(f"document.querySelector({json.dumps(selector)}).scrollIntoView()")
        box = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left",
                      clickCount=1)

    def submit(self, selector="button[type=submit]"):
        self.events.clear()
        self.click(selector)
        self.wait_event("Page.loadEventFired")
        return self.document_status()

    def screenshot(self, path):
        height = self.evaluate("document.documentElement.scrollHeight")
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": 1000, "height": max(height, 300),
                               "scale": 1})["data"]
        with open(path, "wb") as out:
            out.write(base64.b64decode(data))

    def close(self):
        self.chromium.terminate()
        try:
            self.chromium.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.chromium.kill()
            self.chromium.wait()


def main():
    if len(sys.argv) < 8:
        sys.exit(__doc__)
    url, spki, partner, password_file, csr_file, shots = sys.argv[1:7]
    approve = sys.argv[7:]
    password = open(password_file).read().strip()
    csr = open(csr_file).read()
    os.makedirs(shots, exist_ok=True)
    downloads = os.path.join(shots, "download")
    shutil.rmtree(downloads, ignore_errors=True)
    os.makedirs(downloads)
    seen = {}
    profile = tempfile.mkdtemp(prefix="hubbox-chromium-")
    browser = Browser(spki, profile, os.path.join(shots, "chromium.log"))
    try:
        shot = lambda name: browser.screenshot(os.path.join(shots, name + ".png"))
        seen["index_status"] = browser.load(url + "/")
        shot("01-index")
        seen["request_form_status"] = browser.load(url + "/request")
        shot("02-request-form")
        browser.type_into("partner", partner)
        browser.type_into("password", password)
        browser.type_into("csr", csr)
        shot("03-request-filled")
        seen["submit_status"] = browser.submit()
        shot("04-request-pending")
        seen["submit_title"] = browser.evaluate("document.querySelector('h1').textContent")
        request_id = browser.evaluate(
            "(document.getElementById('request-id') || {}).textContent || ''")
        seen["request_id"] = request_id
        if not request_id.isdigit():
            raise RuntimeError("no request number on the page after submitting: " +
                               browser.evaluate("document.body.innerText"))

        subprocess.run([a.replace("{id}", request_id) for a in approve], check=True,
                       stdout=subprocess.DEVNULL)

        browser.load(url + "/status")
        browser.type_into("request_id", request_id)
        browser.type_into("partner", partner)
        browser.type_into("password", password)
        shot("05-status-filled")
        seen["status_status"] = browser.submit()
        shot("06-status-approved")
        seen["state"] = browser.evaluate(
            "(document.getElementById('request-state') || {}).textContent || ''")

        browser.call("Browser.setDownloadBehavior", ws=browser.browser_ws, behavior="allow",
                     downloadPath=downloads, eventsEnabled=True)
        browser.load(url + "/download")
        browser.type_into("request_id", request_id)
        browser.type_into("partner", partner)
        browser.type_into("password", password)
        browser.click("#format-pem")
        shot("07-download-filled")
        browser.click("button[type=submit]")
        deadline = time.time() + TIMEOUT_S
        files = []
        while time.time() < deadline:
            files = [f for f in os.listdir(downloads) if not f.endswith(".crdownload")]
            if files:
                break
            time.sleep(0.2)
        if not files:
            raise RuntimeError("the PEM download did not arrive in " + downloads)
        seen["download"] = os.path.join(downloads, files[0])

        browser.load(url + "/request")
        browser.type_into("partner", partner)
        browser.type_into("password", "not-the-password")
        browser.type_into("csr", csr)
        seen["wrong_password_status"] = browser.submit()
        shot("08-wrong-password")
        seen["wrong_password_alert"] = browser.evaluate(
            "(document.querySelector('[role=alert] p') || {}).textContent || ''")
        seen["scripts"] = browser.evaluate("document.scripts.length")
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)
    print(json.dumps(seen))


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # One line saying what went wrong, for the test's log.
        print(f"enroll_browser.py: {error}", file=sys.stderr)
        sys.exit(1)
