"""Scan many remote files at once: fetch concurrently, parse from memory.

:func:`scan_urls` keeps up to ``jobs`` files in flight. Each file's bytes are
fetched on the filesystem's event loop (fsspec's I/O thread) into an
:class:`~vz_jupyter.core.scan.fetch.Image` while the calling thread parses the
files whose bytes are in -- so HDF5's global lock is held only while parsing
bytes already in memory, never across a network wait.

Requests per file: the first ranged GET (size and validators come with it),
plus what the parse finds missing. Files of one archive are laid out alike,
so the regions a file needed beyond its first read (netCDF-C writes each
variable's chunk index where that variable's data begins) are remembered in
a :class:`Layout` and fetched *together with* the next files' first request:
one round trip per file, typically one or two requests. The first file is
scanned alone, to learn that layout before the others start.

A file whose parse keeps missing bytes is parsed with blocking reads after
:data:`MAX_ROUNDS` rounds (correct, just slower), so no layout can make a scan
loop. Memory is bounded by ``jobs`` images (each at most the bytes its parse
needed plus the read-ahead).
"""
from __future__ import annotations

import asyncio
import queue
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fsspec.asyn import sync

from ..errors import ScanError, VZError
from . import fetch
from .fetch import Image, ImageMiss, fetch_first, fetch_windows, merge_windows

#: files in flight by default (fetches overlap; parsing is one at a time)
DEFAULT_JOBS = 32
#: parse rounds (each after fetching what the previous one missed) before the
#: file is parsed with blocking reads
MAX_ROUNDS = 8
#: remembered regions (beyond the first read) fetched with every next file
MAX_LAYOUT_WINDOWS = 16
#: slack around a remembered region (files differ by a few compressed bytes)
LAYOUT_SLACK = 64 << 10


@dataclass
class Layout:
    """Where the files of this scan keep metadata beyond their first read."""

    first: int = 1 << 20
    windows: list = field(default_factory=list)

    def learn(self, image: Image, asked: list[tuple[int, int]]) -> None:
        """Remember the regions ``image``'s parse asked for beyond the first read."""
        a = fetch.ALIGN
        wins = [((max(s - LAYOUT_SLACK, 0)) // a * a, -(-(e + LAYOUT_SLACK) // a) * a) for s, e in asked if e > self.first]
        merged = merge_windows(self.windows + wins)
        self.windows = merged if len(merged) <= MAX_LAYOUT_WINDOWS else self.windows

    def plan(self) -> tuple[int, list[tuple[int, int]]]:
        """A new file's first read (its length) and the windows to fetch beside
        it; a window that starts within :data:`MERGE_GAP` of the first read's end
        lengthens the first read instead (one request less)."""
        first, extra = self.first, []
        for s, e in self.windows:
            if e <= first:
                continue
            if s - first < fetch.MERGE_GAP and not extra:
                first = e
            else:
                extra.append((max(s, first), e))
        return first, extra


@dataclass
class Stats:
    """What a remote scan cost: files, requests and bytes fetched."""

    files: int = 0
    requests: int = 0
    bytes: int = 0
    rounds: int = 0

    def add(self, image: Image, rounds: int) -> None:
        self.files += 1
        self.requests += image.requests
        self.bytes += image.fetched
        self.rounds += rounds

    @property
    def requests_per_file(self) -> float:
        return self.requests / self.files if self.files else 0.0


#: the statistics of the last remote scan in this process (for benchmarks)
last_stats = Stats()


class _File:
    __slots__ = ("index", "url", "fs", "image", "rounds", "asked")

    def __init__(self, index: int, url: str, fs):
        self.index, self.url, self.fs = index, url, fs
        self.image = Image(url)
        self.rounds = 0
        self.asked: list[tuple[int, int]] = []


def is_async(fs) -> bool:
    return bool(getattr(fs, "async_impl", False)) and getattr(fs, "loop", None) is not None


def scan_urls(
    urls: Sequence[str],
    parse: Callable[[str, Image, Any], Any],
    fs_for: Callable[[str], Any],
    on_result: Callable[[int, Any, BaseException | None], None],
    *,
    jobs: int = DEFAULT_JOBS,
    first_read: int | None = None,
    fallback: Callable[[str], Any] | None = None,
) -> Stats:
    """Scan ``urls`` with up to ``jobs`` in flight. ``parse(url, image, fs)``
    builds one result from a fetched image (raising :class:`ImageMiss` or
    leaving ``image.misses`` when it needs more bytes); ``on_result(i, result,
    error)`` is called in this thread as each file finishes, in completion
    order. URLs whose filesystem is not asynchronous are scanned one by one
    by ``fallback(url)``. Returns the request statistics."""
    first = int(first_read or fetch.FIRST_READ)
    return _Batch(urls, parse, fs_for, on_result, max(1, int(jobs)), first, fallback).run()


class _Batch:
    def __init__(self, urls, parse, fs_for, on_result, jobs, first_read, fallback):
        self.urls, self.parse, self.fs_for, self.on_result = list(urls), parse, fs_for, on_result
        self.fallback = fallback
        self.jobs = jobs
        self.layout = Layout(first=first_read)
        self.done: queue.Queue = queue.Queue()
        self.stats = Stats()
        self.in_flight: dict[int, _File] = {}
        self.futures: set = set()

    # -- submitting fetches (the coroutines run on the filesystem's loop) ------
    def _submit(self, f: _File, coro) -> None:
        fut = asyncio.run_coroutine_threadsafe(coro, f.fs.loop)
        self.futures.add(fut)

        def finished(fu, f=f):
            self.done.put((f, fu))

        fut.add_done_callback(finished)

    async def _first(self, f: _File, plan):
        n, extra = plan
        first = fetch_first(f.fs, f.image, n)
        if extra:
            await asyncio.gather(first, fetch_windows(f.fs, f.image, extra, speculative=True))
        else:
            await first

    def _start(self, i: int) -> None:
        url = self.urls[i]
        try:
            fs = self.fs_for(url)
        except (VZError, ValueError, ImportError) as e:
            self.on_result(i, None, e if isinstance(e, ScanError) else ScanError(url, str(e)))
            return
        if not is_async(fs) and self.fallback is not None:
            try:
                result = self.fallback(url)
            except ScanError as e:
                return self.on_result(i, None, e)
            return self.on_result(i, result, None)
        f = self.in_flight[i] = _File(i, url, fs)
        self._submit(f, self._first(f, self.layout.plan()))

    # -- the loop -----------------------------------------------------------------
    def run(self) -> Stats:
        global last_stats
        pending = iter(range(len(self.urls)))
        warmup = True  # the first file alone: its layout guides the others
        try:
            self._fill(pending, 1)
            while self.in_flight:
                f, fut = self.done.get()
                self.futures.discard(fut)
                self._handle(f, fut)
                if warmup and not self.in_flight:
                    warmup = False
                self._fill(pending, 1 if warmup else self.jobs)
        finally:
            for fut in list(self.futures):
                fut.cancel()
        last_stats = self.stats
        return self.stats

    def _fill(self, pending, limit: int) -> None:
        while len(self.in_flight) < limit:
            i = next(pending, None)
            if i is None:
                return
            self._start(i)

    def _finish(self, f: _File, result, error) -> None:
        del self.in_flight[f.index]
        self.stats.add(f.image, f.rounds)
        self.on_result(f.index, result, error)

    def _handle(self, f: _File, fut) -> None:
        try:
            fut.result()
        except (ScanError, VZError) as e:
            return self._finish(f, None, e if isinstance(e, ScanError) else ScanError(f.url, str(e)))
        except FileNotFoundError:
            return self._finish(f, None, ScanError(f.url, "no such file"))
        except Exception as e:  # noqa: BLE001  (a fetch error not worded yet)
            from ..remote import describe  # optional: aiohttp (fsspec's http), only once URLs are read

            return self._finish(f, None, describe(e, f.url))
        self._parse(f)

    def _parse(self, f: _File) -> None:
        im = f.image
        im.misses.clear()
        if f.rounds >= MAX_ROUNDS:
            im.fetch_now = lambda s, e, f=f: self._fetch_now(f, s, e)
        try:
            result = self.parse(f.url, im, f.fs)
            error = None
        except ScanError as e:
            result, error = None, e
        if im.error is not None:  # a blocking fetch failed: that is the file's error
            from ..remote import describe  # optional: aiohttp (fsspec's http), only once URLs are read

            err = im.error
            return self._finish(f, None, err if isinstance(err, ScanError) else describe(err, f.url))
        if im.misses and im.fetch_now is None:
            f.rounds += 1
            wins = im.windows_for(im.misses)
            f.asked.extend(im.misses)  # what the parse read: the layout learns these, not the read-ahead
            if not wins:  # the misses are past the end of the file: the parse's error stands
                return self._finish(f, result, error if not isinstance(error, ImageMiss) else
                                    ScanError(f.url, "the file ends before its metadata does (truncated file?)"))
            self._submit(f, fetch_windows(f.fs, im, wins))
            return None
        if error is None and f.asked:
            self.layout.learn(im, f.asked)
        self._finish(f, result, error)

    def _fetch_now(self, f: _File, start: int, end: int) -> None:
        """Fetch around ``start..end`` and wait (the last resort of a file whose
        parse kept missing bytes)."""
        try:
            sync(f.fs.loop, fetch_windows, f.fs, f.image, f.image.windows_for([(start, end)]))
        except Exception as e:  # noqa: BLE001  (h5py would word it as its own read error)
            f.image.error = e
            raise
