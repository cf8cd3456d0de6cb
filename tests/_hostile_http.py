"""Loopback HTTP servers that misbehave on purpose (tests only, 127.0.0.1).

``hostile_server(folder, mode)`` serves ``folder`` like
``_writer_data.serve_folder`` but answers byte-range requests wrongly:

``ok``            a correct Range server (206 + Content-Range)
``shifted``       206 with the bytes (and Content-Range) of a range 8 bytes later
``lying``         206 with the bytes of a later range but a Content-Range naming the asked one
``no-range``      ignores Range: 200 with the whole file
``no-cr``         206 without a Content-Range
``longer``        206 with a Content-Range and body past the asked end
``stall``         accepts the connection and never answers
``stall-body``    sends the headers, then nothing
``redirect``      every GET/HEAD redirects to ``redirect_to + path``

Every request is recorded as ``(method, path, Range header)`` in ``handler.log``.
"""
from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HostileHandler(BaseHTTPRequestHandler):
    root = "."
    mode = "ok"
    redirect_to = ""
    protocol_version = "HTTP/1.1"
    log: list = []
    stall_seconds = 30.0

    def log_message(self, *a):
        pass

    def _file(self):
        p = os.path.join(self.root, self.path.lstrip("/").split("?")[0])
        return p if os.path.isfile(p) else None

    def _stall(self):
        deadline = time.monotonic() + self.stall_seconds
        while time.monotonic() < deadline and not getattr(self.server, "stopping", False):
            time.sleep(0.05)

    def _redirect(self):
        self.send_response(302)
        self.send_header("Location", self.redirect_to + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self):
        type(self).log.append(("HEAD", self.path, None))
        if self.mode == "stall":
            return self._stall()
        if self.mode == "redirect":
            return self._redirect()
        p = self._file()
        if not p:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(os.path.getsize(p)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self):
        rng = self.headers.get("Range")
        type(self).log.append(("GET", self.path, rng))
        if self.mode == "stall":
            return self._stall()
        if self.mode == "redirect":
            return self._redirect()
        p = self._file()
        if not p:
            self.send_error(404)
            return
        with open(p, "rb") as f:
            data = f.read()
        size = len(data)
        if not rng or self.mode == "no-range":
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.write(data)
            return
        m = re.match(r"bytes=(\d*)-(\d*)", rng)
        a = int(m.group(1) or 0)
        b = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
        cr = (a, b)
        if self.mode == "shifted":
            a, b = a + 8, min(b + 8, size - 1)
            cr = (a, b)
        elif self.mode == "lying":
            a, b = a + 8, min(b + 8, size - 1)
        elif self.mode == "longer":
            b = min(b + 8, size - 1)
            cr = (a, b)
        body = data[a:b + 1]
        self.send_response(206)
        if self.mode != "no-cr":
            self.send_header("Content-Range", f"bytes {cr[0]}-{cr[1]}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.mode == "stall-body":
            self.wfile.flush()
            return self._stall()
        self.wfile.write(body)


@contextlib.contextmanager
def hostile_server(folder, mode: str = "ok", redirect_to: str = ""):
    """Serve ``folder`` on 127.0.0.1 in ``mode``; yields (base_url, handler class)."""
    handler = type("H", (HostileHandler,), {"root": str(folder), "mode": mode, "log": [],
                                            "redirect_to": redirect_to})
    server_class = type("S", (ThreadingHTTPServer,), {"request_queue_size": 128, "daemon_threads": True})
    srv = server_class(("127.0.0.1", 0), handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", handler
    finally:
        srv.stopping = True
        srv.shutdown()
        srv.server_close()
