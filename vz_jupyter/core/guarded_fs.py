"""Filesystems for fsspec's ``ReferenceFileSystem`` when ``vz.open`` reads references:
every path resolved and checked by the :class:`~vz_jupyter.core.access.Confinement` in
force, local files read as regular files only (:func:`~vz_jupyter.core.access.read_local`),
URLs through :func:`vz_jupyter.core.remote.filesystem` (checked ranges, timeouts, checked
redirects). Moved out of :mod:`~vz_jupyter.core.access` unchanged: that module decides
what may be read, this one reads it.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable

from fsspec.asyn import AsyncFileSystem
from fsspec.implementations.data import DataFileSystem

from .access import Confinement, open_regular, read_local
from .urls import FILE_PREFIX, has_scheme, protocol, strip_file_scheme


class GuardedFileSystem(AsyncFileSystem):
    """Reads for zarr through fsspec's reference filesystem: every path
    resolved and checked by a :class:`Confinement` (when one is given),
    local files read as regular files only, URLs through
    :func:`vz_jupyter.core.remote.filesystem`."""

    cachable = False
    async_impl = True

    def __init__(self, conf: Confinement | None, remote_options: dict | None = None,
                 asynchronous: bool = True):
        super().__init__(asynchronous=asynchronous)
        self.conf = conf
        self.remote_options = remote_options
        self._remote: dict = {}
        self._resolved: dict = {}

    def _target(self, path: str) -> str:
        # one resolution per distinct url (references repeat a few urls many times)
        if path.startswith("data:"):  # the bytes are in the URL (a shared fill chunk)
            return path
        target = self._resolved.get(path)
        if target is None:
            if self.conf is not None:
                target = self.conf.resolve(path)
            elif path.startswith(FILE_PREFIX):
                target = strip_file_scheme(path)
            else:
                target = path if has_scheme(path) else os.path.abspath(os.path.expanduser(path))
            if len(self._resolved) < 100_000:
                self._resolved[path] = target
        return target

    def _fs(self, url: str):
        p = protocol(url)
        fs = self._remote.get(p)
        if fs is None:
            from .remote import filesystem  # optional: aiohttp (fsspec's http), only for remote sources

            fs = self._remote[p] = filesystem(
                url, self.remote_options, asynchronous=True,
                url_check=self.conf.check_url if self.conf is not None else None)
        return fs

    async def _cat_file(self, path, start=None, end=None, **kwargs):
        target = self._target(path)
        if target.startswith("data:"):
            return DataFileSystem().cat_file(target, start=start, end=end)
        if not has_scheme(target):
            return await asyncio.to_thread(read_local, target, start, end)
        return await self._fs(target)._cat_file(target, start=start, end=end)

    async def _info(self, path, **kwargs):
        target = self._target(path)
        if not has_scheme(target):
            fd = open_regular(target)
            try:
                return {"name": path, "size": os.fstat(fd).st_size, "type": "file"}
            finally:
                os.close(fd)
        return await self._fs(target)._info(target)


def guarded_filesystems(protocols: Iterable[str | None], conf: Confinement | None,
                        remote_options: dict | None = None, asynchronous: bool = True) -> dict:
    """``{protocol: filesystem}`` for ``ReferenceFileSystem(fs=...)`` (async,
    as zarr needs): local paths and ``file://`` read directly (regular files
    only), each remote protocol through a checked, time-limited filesystem
    whose redirects are checked too. Protocols not listed are not reachable."""
    guard = GuardedFileSystem(conf, remote_options, asynchronous=asynchronous)
    return {p: guard for p in set(protocols) | {None, "file"}}
