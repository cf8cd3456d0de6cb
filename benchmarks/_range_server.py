"""A loopback HTTP server that answers like an object store, for the remote benchmarks.

Serves one folder on 127.0.0.1 from memory (read when the server starts, so
the first tool timed does not pay for it), with byte ranges (206 +
``Content-Range``, multi-range not supported, as S3), HEAD, ``ETag`` and
``Last-Modified``, and
waits ``latency`` seconds before answering every request (an object store's
round trip; the wait does not block other requests). Counts requests and
bytes sent; ``GET /_stats`` returns them as JSON, ``POST /_reset`` zeroes them,
``POST /_latency?s=0.03`` changes the latency.

Runs in a process of its own (the measured tools do not share its CPU time
with their own GIL)::

    python benchmarks/_range_server.py FOLDER            # prints "PORT <n>" then serves

Uses aiohttp (a dependency of the project's test environment).
"""
from __future__ import annotations

import asyncio
import email.utils
import os
import re
import sys

from aiohttp import web

_RANGE = re.compile(r"bytes=(\d+)-(\d*)\Z")


def make_app(root: str, latency: float = 0.0) -> web.Application:
    state = {"latency": latency, "requests": 0, "heads": 0, "gets": 0, "bytes": 0, "per_file": {}}
    cache: dict[str, bytes] = {}

    def data_of(name: str) -> tuple[bytes, os.stat_result] | None:
        p = os.path.join(root, name)
        if not os.path.isfile(p):
            return None
        st = os.stat(p)
        if name not in cache:
            with open(p, "rb") as f:
                cache[name] = f.read()
        return cache[name], st

    def headers(st) -> dict:
        return {"ETag": f'"{st.st_size:x}-{st.st_mtime_ns:x}"', "Accept-Ranges": "bytes",
                "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True)}

    async def serve(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        state["requests"] += 1
        state["per_file"][name] = state["per_file"].get(name, 0) + 1
        if state["latency"]:
            await asyncio.sleep(state["latency"])
        found = data_of(name)
        if found is None:
            return web.Response(status=404)
        data, st = found
        size = len(data)
        h = headers(st)
        if request.method == "HEAD":
            state["heads"] += 1
            h["Content-Length"] = str(size)
            return web.Response(status=200, headers=h)
        state["gets"] += 1
        m = _RANGE.match(request.headers.get("Range", ""))
        if not m:
            state["bytes"] += size
            return web.Response(status=200, body=data, headers=h)
        a = int(m.group(1))
        b = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
        if a >= size:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        body = data[a:b + 1]
        state["bytes"] += len(body)
        h["Content-Range"] = f"bytes {a}-{b}/{size}"
        return web.Response(status=206, body=body, headers=h)

    async def stats(request):
        return web.json_response({k: v for k, v in state.items() if k != "per_file"} |
                                 {"files": len(state["per_file"])})

    async def reset(request):
        for k in ("requests", "heads", "gets", "bytes"):
            state[k] = 0
        state["per_file"] = {}
        return web.json_response({"ok": True})

    async def set_latency(request):
        state["latency"] = float(request.query.get("s", "0"))
        return web.json_response({"latency": state["latency"]})

    app = web.Application()
    app["data_of"] = data_of
    app.router.add_get("/_stats", stats)
    app.router.add_post("/_reset", reset)
    app.router.add_post("/_latency", set_latency)
    app.router.add_route("GET", "/{name}", serve)
    app.router.add_route("HEAD", "/{name}", serve)
    return app


async def _main(root: str) -> None:
    app = make_app(root)
    for name in sorted(os.listdir(root)):  # into memory before the first tool is timed
        app["data_of"](name)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1]))
