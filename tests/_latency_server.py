"""A loopback HTTP server like an object store (tests only, 127.0.0.1).

``latency_server(folder, latency=0.0)`` serves ``folder`` with byte ranges (206
+ ``Content-Range``), HEAD, ``ETag`` (size and mtime) and ``Last-Modified``,
and sleeps ``latency`` seconds before answering each request, as an object
store's round trip costs. Every request is logged as ``(method, path, Range)``
in ``server.log``; ``server.count(path)`` counts the requests for one file.
"""
from __future__ import annotations

import contextlib
import email.utils
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _target(self):
        p = os.path.join(self.server.root, unquote(self.path.split("?")[0].lstrip("/")))
        return p if os.path.isfile(p) else None

    def _headers(self, st):
        self.send_header("ETag", f'"{st.st_size:x}-{st.st_mtime_ns:x}"')
        self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
        self.send_header("Accept-Ranges", "bytes")

    def _start(self, method):
        rng = self.headers.get("Range")
        with self.server.lock:
            self.server.log.append((method, self.path, rng))
        if self.server.latency:
            time.sleep(self.server.latency)
        return rng

    def do_HEAD(self):
        self._start("HEAD")
        p = self._target()
        if not p:
            self.send_error(404)
            return
        st = os.stat(p)
        self.send_response(200)
        self.send_header("Content-Length", str(st.st_size))
        self._headers(st)
        self.end_headers()

    def do_GET(self):
        rng = self._start("GET")
        p = self._target()
        if not p:
            self.send_error(404)
            return
        st = os.stat(p)
        size = st.st_size
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        if not m:
            with open(p, "rb") as f:
                body = f.read()
            self.send_response(200)
        else:
            a = int(m.group(1))
            b = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
            if a >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with open(p, "rb") as f:
                f.seek(a)
                body = f.read(b - a + 1)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {a}-{b}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self._headers(st)
        self.end_headers()
        self.wfile.write(body)


class LatencyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, root, latency: float):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = str(root)
        self.latency = latency
        self.log: list = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, name: str | None = None, method: str | None = None) -> int:
        with self.lock:
            return sum(1 for m, p, _ in self.log if (name is None or p.lstrip("/") == name.lstrip("/"))
                       and (method is None or m == method))


@contextlib.contextmanager
def latency_server(folder, latency: float = 0.0):
    """Serve ``folder`` on 127.0.0.1; yields the :class:`LatencyServer` (``.url``)."""
    srv = LatencyServer(folder, latency)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
