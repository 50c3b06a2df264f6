"""A small Chrome DevTools Protocol client on the Python standard library (no PyPI package).

One WebSocket to the browser target; pages are attached with flattened sessions. Only what
the link page test needs: commands, waiting for events, and the WebSocket framing (RFC 6455)
for a client: masked text frames out, fragmented / large frames and pings in.
"""

import base64
import collections
import json
import os
import socket
import struct
import time


class CdpError(Exception):
    pass


class WebSocket:
    def __init__(self, url, timeout):
        assert url.startswith("ws://"), url
        rest = url[5:]
        hostport, path = rest.split("/", 1)
        host, port = hostport.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (
            f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise CdpError("websocket handshake: connection closed")
            head += chunk
        status, _, self.buf = head.partition(b"\r\n\r\n")
        if b" 101 " not in status.split(b"\r\n")[0]:
            raise CdpError(f"websocket handshake refused: {status!r}")

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise CdpError("websocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, opcode, payload):
        head = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send(self, text):
        self._send_frame(0x1, text.encode())

    def recv(self):
        parts = []
        while True:
            b0, b1 = self._read(2)
            fin, opcode = b0 & 0x80, b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 0x9:  # ping
                self._send_frame(0xA, data)
                continue
            if opcode == 0x8:
                raise CdpError("websocket closed by the browser")
            if opcode in (0x0, 0x1, 0x2):
                parts.append(data)
                if fin:
                    return b"".join(parts).decode()

    def set_timeout(self, t):
        self.sock.settimeout(t)


class Browser:
    """The browser connection; `page()` attaches a new tab."""

    def __init__(self, ws_url, timeout=120):
        self.ws = WebSocket(ws_url, timeout)
        self.timeout = timeout
        self.next_id = 0
        self.events = collections.deque()

    def cmd(self, method, params=None, session=None):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == mid:
                if "error" in m:
                    raise CdpError(f"{method}: {m['error']}")
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def wait(self, method, pred=lambda p: True, session=None, timeout=None):
        """The next event `method` (of `session`) whose params match `pred`."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for m in list(self.events):
                if m["method"] == method and (session is None or m.get("sessionId") == session) \
                        and pred(m.get("params", {})):
                    self.events.remove(m)
                    return m["params"]
            left = deadline - time.monotonic()
            if left <= 0:
                raise CdpError(f"no {method} event (gave up waiting)")
            self.ws.set_timeout(left)
            try:
                m = json.loads(self.ws.recv())
            except socket.timeout:
                raise CdpError(f"no {method} event (gave up waiting)")
            finally:
                self.ws.set_timeout(self.timeout)
            if "method" in m:
                self.events.append(m)

    def page(self):
        target = self.cmd("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.cmd("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, session)


class Page:
    def __init__(self, browser, session):
        self.b = browser
        self.s = session
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.cmd(f"{domain}.enable")

    def cmd(self, method, params=None):
        return self.b.cmd(method, params, self.s)

    def clear_events(self):
        self.b.events = collections.deque(m for m in self.b.events if m.get("sessionId") != self.s)

    def _document_status(self):
        p = self.b.wait("Network.responseReceived", lambda p: p.get("type") == "Document", self.s)
        return p["response"]["status"]

    def goto(self, url):
        """Loads `url`; returns the HTTP status of the document."""
        self.clear_events()
        r = self.cmd("Page.navigate", {"url": url})
        if r.get("errorText"):
            raise CdpError(f"navigate {url}: {r['errorText']}")
        status = self._document_status()
        self.b.wait("Page.loadEventFired", session=self.s)
        return status

    def submit_and_wait(self, expr):
        """Runs `expr` (which submits a form or follows a link); returns the final status."""
        self.clear_events()
        self.eval(expr)
        status = None
        # a redirect (303) shows up as a second document response
        while True:
            p = self.b.wait("Network.responseReceived", lambda p: p.get("type") == "Document", self.s)
            status = p["response"]["status"]
            if status not in (301, 302, 303, 307, 308):
                break
        self.b.wait("Page.loadEventFired", session=self.s)
        return status

    def eval(self, expr):
        r = self.cmd("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise CdpError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def text(self):
        return self.eval("document.body ? document.body.innerText : ''")

    def key(self, key, code, text=None, vk=0):
        for t in ("keyDown", "keyUp"):
            p = {"type": t, "key": key, "code": code, "windowsVirtualKeyCode": vk}
            if text and t == "keyDown":
                p["text"] = text
            self.cmd("Input.dispatchKeyEvent", p)

    def screenshot(self, path, width=1000, height=900, mobile=False):
        self.cmd("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
        data = self.cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def console_errors(self):
        """Errors the page logged since it loaded (CSP violations, blocked resources ...)."""
        return [m["params"]["entry"] for m in self.b.events
                if m.get("sessionId") == self.s and m["method"] == "Log.entryAdded"
                and m["params"]["entry"].get("level") == "error"
                and m["params"]["entry"].get("source") != "network"]  # 4xx pages are intended
