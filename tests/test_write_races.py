"""Writers racing, killed or out of disk space never lose or corrupt anything.

Real processes throughout (``tests/_write_worker.py``): concurrent writers to
one new target (exactly one wins, the others get a one-line refusal), with and
without renameat2; concurrent overwriters (the target is always a complete
output); SIGTERM/SIGINT/SIGHUP mid-write (nothing left, the process ends as the
signal says); SIGKILL (the next write sweeps what is provably ours and stale,
nothing else); a full disk (RLIMIT_FSIZE, and a real tiny tmpfs in a private
mount namespace when available). ``VZ_WRITE_RACE_ROUNDS`` raises the number of
rounds (default 10) for long runs.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import vz_jupyter as vz
from vz_jupyter.core.serialize import atomic
from vz_jupyter.core.serialize.outputs import LABELS

sys.path.insert(0, str(Path(__file__).parent))
import _write_worker as worker  # noqa: E402

WORKER = str(Path(__file__).with_name("_write_worker.py"))
EXT = {"kerchunk-json": ".json", "kerchunk-parquet": ".parquet", "icechunk": ".icechunk"}
FMTS = list(EXT)
ROUNDS = int(os.environ.get("VZ_WRITE_RACE_ROUNDS", "10"))
N = 300  # chunks of the race dataset
K = 3  # concurrent writers


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("race-data") / "data.bin"
    worker.make_data(str(path), 60_000)
    return path


@pytest.fixture
def env(data, monkeypatch):
    monkeypatch.setenv("VZ_TEST_DATA", str(data))
    return dict(os.environ)


def leftovers(folder: Path) -> list[str]:
    return sorted(p for p in os.listdir(folder) if p.startswith(".vz-"))


def tree(root: Path) -> dict:
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            out[os.path.relpath(p, root)] = hashlib.sha256(Path(p).read_bytes()).hexdigest() if os.path.isfile(p) else "dir"
    return out


def assert_complete(target: Path, n: int, tags) -> int:
    """``target`` opens (plain vz.open) and holds the whole dataset; returns its tag."""
    a = vz.open(target, decode=False)["a"]
    np.testing.assert_array_equal(a.values, np.arange(4 * n, dtype="<i4"))
    tag = int(a.attrs["tag"])
    assert tag in tags, (tag, tags)
    return tag


def refs_tag(target: Path, fmt: str, n: int, tags) -> int:
    """Cheaper than reading every chunk: the output is complete (every chunk
    referenced at its offset; for Icechunk, whose commit is atomic, the first
    and last values of the committed snapshot); returns its tag."""
    if fmt == "kerchunk-json":
        doc = json.loads(target.read_text())
        refs = doc["refs"]
        assert [refs[f"a/{i}"][1:] for i in range(n)] == [[16 * i, 16] for i in range(n)]
        tag = json.loads(refs["a/.zattrs"])["tag"]
    elif fmt == "kerchunk-parquet":
        import pyarrow.parquet as pq

        meta = json.loads((target / ".zmetadata").read_text())["metadata"]
        files = sorted((target / "a").glob("refs.*.parq"), key=lambda p: int(p.name.split(".")[1]))
        offs = np.concatenate([pq.read_table(p).column("offset").to_numpy() for p in files])[:n]
        np.testing.assert_array_equal(offs, np.arange(n) * 16)
        za = meta["a/.zattrs"]
        tag = (json.loads(za) if isinstance(za, str) else za)["tag"]
    else:
        import zarr

        from vz_jupyter.core.serialize.icechunk import open_icechunk_store

        arr = zarr.open_group(open_icechunk_store(target), mode="r")["a"]
        assert arr.shape == (4 * n,)
        np.testing.assert_array_equal(arr[:8], np.arange(8, dtype="<i4"))
        np.testing.assert_array_equal(arr[-8:], np.arange(4 * n - 8, 4 * n, dtype="<i4"))
        tag = arr.attrs["tag"]
    assert tag in tags, (tag, tags)
    return int(tag)


class Workers:
    def __init__(self, env, k: int):
        self.procs = [
            subprocess.Popen([sys.executable, WORKER, "serve", str(N)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(k)
        ]

    def round(self, cmds: list[dict], go: Path) -> list[dict]:
        for p, c in zip(self.procs, cmds):
            p.stdin.write(json.dumps(c) + "\n")
            p.stdin.flush()
        time.sleep(0.02)  # every worker is waiting at the start line
        go.touch()
        out = []
        for p in self.procs:
            line = p.stdout.readline()
            assert line, p.stderr.read()
            out.append(json.loads(line))
        return out

    def close(self):
        for p in self.procs:
            p.stdin.close()
            p.wait(timeout=30)


@pytest.fixture(scope="module")
def workers(data):
    w = Workers({**os.environ, "VZ_TEST_DATA": str(data)}, K)
    yield w
    w.close()


# -- races ----------------------------------------------------------------------------
@pytest.mark.parametrize("rename2", [True, False], ids=["renameat2", "portable"])
@pytest.mark.parametrize("fmt", FMTS)
def test_concurrent_writers_to_a_new_target_exactly_one_wins(workers, tmp_path, fmt, rename2):
    decided_at_placement = overlapping = 0
    for r in range(ROUNDS):
        target = tmp_path / f"r{r}{EXT[fmt]}"
        cmds = [dict(target=str(target), fmt=fmt, overwrite=False, go=str(tmp_path / f"go{r}"), tag=i, rename2=rename2)
                for i in range(K)]
        res = workers.round(cmds, tmp_path / f"go{r}")
        winners = [i for i, x in enumerate(res) if x["ok"]]
        assert len(winners) == 1, res
        for x in res:
            if not x["ok"]:
                assert x["error"] == f"{target}: already exists ({LABELS[fmt]} written earlier); pass overwrite=True to replace it"
                decided_at_placement += x["reached_place"]
        w = res[winners[0]]
        overlapping += any(x["t0"] < w["t1"] and w["t0"] < x["t1"] for x in res if x is not w)
        assert refs_tag(target, fmt, N, winners) == winners[0]
        assert leftovers(tmp_path) == []
    assert_complete(target, N, winners)
    print(f"{fmt} rename2={rename2}: {ROUNDS} rounds, {overlapping} overlapping, "
          f"{decided_at_placement} losers refused by the exclusive placement")
    assert overlapping > ROUNDS // 2  # the writers really ran at the same time
    assert decided_at_placement > 0  # and the exclusive step, not the early check, decided some rounds


@pytest.mark.parametrize("rename2", [True, False], ids=["renameat2", "portable"])
@pytest.mark.parametrize("fmt", FMTS)
def test_concurrent_overwriters_never_corrupt_the_target(workers, tmp_path, env, fmt, rename2):
    target = tmp_path / f"t{EXT[fmt]}"
    vz.write(worker.dataset(N, tag=99), target, format=fmt)
    n_ok = 0
    for r in range(max(ROUNDS // 2, 5)):
        cmds = [dict(target=str(target), fmt=fmt, overwrite=i > 0, go=str(tmp_path / f"go{r}"), tag=i, rename2=rename2)
                for i in range(K)]
        res = workers.round(cmds, tmp_path / f"go{r}")
        assert res[0]["error"] == f"{target}: already exists ({LABELS[fmt]} written earlier); pass overwrite=True to replace it"
        ok = [i for i, x in enumerate(res) if x["ok"]]
        assert ok, res
        for x in res[1:]:
            assert x["ok"] or x["error"] in (
                f"{target}: changed by someone else while writing; not replaced",
                f"{target}: other writers keep replacing it; not written",
            ), x
        n_ok += len(ok)
        refs_tag(target, fmt, N, ok)
        assert leftovers(tmp_path) == []
    assert n_ok >= max(ROUNDS // 2, 5)
    assert_complete(target, N, range(K))


# -- signals ----------------------------------------------------------------------------
def _paused(env, tmp_path: Path, target: Path, fmt: str, where: str, *flags: str, n: int = N) -> subprocess.Popen:
    ready = tmp_path / "ready"
    ready.unlink(missing_ok=True)
    p = subprocess.Popen([sys.executable, WORKER, "pause", str(target), fmt, str(n), where, *flags],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**env, "VZ_READY": str(ready)})
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return p


@pytest.mark.parametrize(("fmt", "sig"), [(f, signal.SIGTERM) for f in FMTS] + [("kerchunk-json", signal.SIGINT), ("icechunk", signal.SIGHUP)],
                         ids=lambda x: signal.Signals(x).name if isinstance(x, int) else x)
def test_signal_mid_write_leaves_nothing(tmp_path, env, fmt, sig):
    out = tmp_path / "out"
    out.mkdir()
    target = out / f"t{EXT[fmt]}"
    p = _paused(env, tmp_path, target, fmt, "fill")
    assert [x for x in leftovers(out) if x.startswith(f".vz-{p.pid}-")]  # the half-built output
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == -sig, err  # ended as the signal says (KeyboardInterrupt re-raises SIGINT)
    assert os.listdir(out) == []


@pytest.mark.parametrize("fmt", FMTS)
def test_sigterm_during_overwrite_keeps_the_earlier_output(tmp_path, env, fmt):
    out = tmp_path / "out"
    out.mkdir()
    target = out / f"t{EXT[fmt]}"
    vz.write(worker.dataset(N, tag=1), target, format=fmt)
    before = tree(out)
    p = _paused(env, tmp_path, target, fmt, "fill", "overwrite")
    p.terminate()
    p.communicate(timeout=60)
    assert p.returncode == -signal.SIGTERM
    assert tree(out) == before
    assert refs_tag(target, fmt, N, {1}) == 1


@pytest.mark.parametrize("fmt", ["kerchunk-json", "kerchunk-parquet"])
def test_signal_while_moving_into_place_waits_for_it(tmp_path, env, fmt):
    """The move into place is never cut in half: a signal then is acted on
    once the output is complete and in place."""
    out = tmp_path / "out"
    out.mkdir()
    target = out / f"t{EXT[fmt]}"
    p = _paused(env, tmp_path, target, fmt, "place")
    p.terminate()
    p.communicate(timeout=60)
    assert p.returncode == -signal.SIGTERM
    assert leftovers(out) == []
    assert refs_tag(target, fmt, N, {2}) == 2


def test_user_handler_runs_and_the_write_says_it_stopped(tmp_path, env):
    out = tmp_path / "out"
    out.mkdir()
    target = out / "t.json"
    p = _paused(env, tmp_path, target, "kerchunk-json", "fill", "handler")
    p.terminate()
    stdout, _ = p.communicate(timeout=60)
    assert p.returncode == 3
    assert stdout.splitlines() == ["user handler ran", f"{target}: write stopped by SIGTERM; nothing written"]
    assert os.listdir(out) == []


def test_ctrl_c_in_the_cli(tmp_path, env):
    from vz_jupyter.sample_data import make_daily_netcdf4

    nc = make_daily_netcdf4(tmp_path / "in", n_files=1)[0]
    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "cli.py"
    script.write_text(
        "import os, sys, time\n"
        "import vz_jupyter.core.serialize as ser\n"
        "def slow(path, data):\n"
        "    open(path, 'wb').write(data[:10])\n"
        "    open(os.environ['VZ_READY'], 'w').close()\n"
        "    time.sleep(60)\n"
        "ser.write_file = slow\n"
        "from vz_jupyter.cli import main\n"
        f"sys.exit(main(['scan', {str(nc)!r}, '-o', {str(out / 'r.json')!r}]))\n"
    )
    ready = tmp_path / "ready"
    p = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.PIPE, text=True, env={**env, "VZ_READY": str(ready)})
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert p.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and err == "vz: interrupted\n"
    assert os.listdir(out) == []


def test_handlers_are_restored_and_only_installed_in_the_main_thread(tmp_path, env):
    import threading

    prev = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    seen = {}
    from vz_jupyter.core.serialize import kerchunk_parquet

    real = kerchunk_parquet.write_parquet_dir

    def spy(tables, path):
        seen[threading.current_thread().name] = signal.getsignal(signal.SIGTERM)
        return real(tables, path)

    kerchunk_parquet.write_parquet_dir = spy
    try:
        vz.write(worker.dataset(4), tmp_path / "a.parquet")
        t = threading.Thread(target=vz.write, args=(worker.dataset(4), tmp_path / "b.parquet"), name="other")
        t.start()
        t.join()
    finally:
        kerchunk_parquet.write_parquet_dir = real
    assert seen["MainThread"] not in (prev[signal.SIGTERM],)  # ours, during the write
    assert seen["other"] == prev[signal.SIGTERM]  # not touched from another thread
    assert {s: signal.getsignal(s) for s in prev} == prev
    assert (tmp_path / "b.parquet").is_dir()


# -- SIGKILL and the sweep -----------------------------------------------------------------
@pytest.mark.parametrize("overwrite", [False, True], ids=["new", "overwrite"])
@pytest.mark.parametrize("fmt", FMTS)
def test_sigkill_leftovers_are_swept_by_the_next_write_only(tmp_path, env, fmt, overwrite):
    out = tmp_path / "out"
    out.mkdir()
    target = out / f"t{EXT[fmt]}"
    if overwrite:
        vz.write(worker.dataset(N, tag=1), target, format=fmt)
    keep = tree(out)
    p = _paused(env, tmp_path, target, fmt, "fill", *(["overwrite"] if overwrite else []))
    mine = [x for x in leftovers(out) if x.startswith(f".vz-{p.pid}-")]
    assert len(mine) == 1
    # a live writer's staging folder is left alone by other writes
    vz.write(worker.dataset(4), out / "other.json")
    assert mine[0] in leftovers(out)
    p.kill()
    p.communicate(timeout=60)
    assert p.returncode == -signal.SIGKILL
    assert mine[0] in leftovers(out)  # SIGKILL cannot be caught ...
    vz.write(worker.dataset(4), out / "next.json")  # ... the next write sweeps it
    assert leftovers(out) == []
    assert {k: v for k, v in tree(out).items() if k not in ("other.json", "next.json")} == keep


def _fake_staging(folder: Path, pid: int, token: str, *, owner: dict | None, out: str | None = None) -> Path:
    d = folder / f".vz-{pid}-{token}.tmp"
    d.mkdir()
    if owner is not None:
        (d / "owner.json").write_text(json.dumps(owner))
    if out == "file":
        (d / "out").write_text("partial")
    elif out == "folder":
        (d / "out").mkdir()
        (d / "out" / "mine.txt").write_text("the user's")
    return d


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_the_sweep_removes_only_what_is_provably_ours_and_stale(tmp_path):
    import socket

    pid = _dead_pid()
    tok = "0123456789abcdef"

    def owner(**kw):
        d = {"magic": atomic.MAGIC, "pid": pid, "start": None, "host": socket.gethostname(), "token": tok,
             "target": "x.json", "format": "kerchunk-json", "kind": "file", "out": None}
        d.update(kw)
        return d

    f = tmp_path
    stale = _fake_staging(f, pid, tok, owner=owner(), out="file")
    st = os.lstat(stale / "out")
    (stale / "owner.json").write_text(json.dumps(owner(out=[st.st_dev, st.st_ino])))
    kept = [
        _fake_staging(f, pid, "1" * 16, owner=None, out="file"),  # no owner.json: not provably ours
        _fake_staging(f, pid, "2" * 16, owner=owner(token="2" * 16, host="another-host")),  # other host
        _fake_staging(f, pid, "3" * 16, owner=owner()),  # token does not match the name
        _fake_staging(f, pid, "4" * 16, owner=owner(token="4" * 16, magic="something else")),
        _fake_staging(f, pid, "5" * 16, owner=owner(token="5" * 16, format="kerchunk-parquet"), out="folder"),  # out: not ours
        _fake_staging(f, os.getpid(), "6" * 16, owner=owner(token="6" * 16, pid=os.getpid())),  # a live writer (us)
        _fake_staging(f, pid + 1_000_000_000, "7" * 16, owner=owner(token="7" * 16)),  # name and content disagree
    ]
    (f / f".vz-{pid}-{'8' * 16}.tmp").write_text("a file, not a staging folder")
    (f / f".vz-{pid}-{'9' * 16}.tmp").symlink_to(stale)
    (f / ".vz-abcdef.tmp").write_text("an older writer's temporary: not provably ours")
    (f / ".vz-old-x").mkdir()
    before = tree(f)
    assert atomic.sweep(str(f)) == 1
    assert not stale.exists()
    after = tree(f)
    assert {k: v for k, v in before.items() if not k.startswith(stale.name)} == after
    assert all(k.exists() for k in kept)


def test_a_writer_killed_while_creating_its_staging_folder_is_swept(tmp_path):
    """SIGKILL between the staging folder's mkdir and its owner.json being
    written (seen under load: ~4 in 5 kills right after the folder appears)
    leaves an empty folder, an empty owner.json and an empty ``out``: nothing of
    anyone's, swept once its pid is gone. Anything more is kept."""
    pid = _dead_pid()
    f = tmp_path
    unborn = []
    for i, (owner, out) in enumerate([(False, None), (True, None), (True, "file"), (True, "folder")]):
        d = f / f".vz-{pid}-{str(i) * 16}.tmp"
        d.mkdir()
        if owner:
            (d / "owner.json").touch()
        if out == "file":
            (d / "out").touch()
        elif out == "folder":
            (d / "out").mkdir()
        unborn.append(d)
    kept = [
        _fake_staging(f, pid, "a" * 16, owner=None, out="file"),  # out holds bytes
        _fake_staging(f, pid, "b" * 16, owner=None, out="folder"),  # out holds a file
        _fake_staging(f, os.getpid(), "c" * 16, owner=None),  # its writer is alive (us)
    ]
    extra = f / f".vz-{pid}-{'d' * 16}.tmp"
    extra.mkdir()
    (extra / "notes.txt").write_text("not ours to remove")
    kept.append(extra)
    before = tree(f)
    assert atomic.sweep(str(f)) == len(unborn)
    assert not any(d.exists() for d in unborn)
    assert tree(f) == {k: v for k, v in before.items() if not any(k.startswith(d.name) for d in unborn)}
    assert all(d.exists() for d in kept)


def test_random_sigkills_never_leave_a_half_written_target(tmp_path, env):
    """Kill writers at random moments while their output is being built: the
    target is absent or complete, and the next write leaves no temporaries."""
    rng = random.Random(7)
    n = 60_000
    rounds = max(ROUNDS // 3, 3)
    stats = {"killed while staging": 0, "complete": 0, "absent": 0}
    for fmt in FMTS:
        for r in range(rounds):
            out = tmp_path / f"{fmt}-{r}"
            out.mkdir()
            target = out / f"t{EXT[fmt]}"
            p = subprocess.Popen([sys.executable, WORKER, "once", str(target), fmt, str(n)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while not leftovers(out) and not target.exists() and p.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.0005)
            time.sleep(rng.uniform(0, 0.15))  # somewhere inside the write
            p.kill()
            p.wait()
            stats["killed while staging"] += bool(leftovers(out))
            if target.exists():
                refs_tag(target, fmt, n, {2})
                stats["complete"] += 1
            else:
                stats["absent"] += 1
            vz.write(worker.dataset(4), out / "next.json")
            assert leftovers(out) == []
    print(f"{3 * rounds} writers killed at random: {stats}")
    assert stats["killed while staging"] > 0


# -- a full disk -----------------------------------------------------------------------
def _fsize_limit(limit: int):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


@pytest.mark.parametrize("overwrite", [False, True], ids=["new", "overwrite"])
@pytest.mark.parametrize("fmt", FMTS)
def test_file_size_limit_mid_write(tmp_path, env, fmt, overwrite):
    out = tmp_path / "out"
    out.mkdir()
    target = out / f"t{EXT[fmt]}"
    if overwrite:
        vz.write(worker.dataset(2, tag=1), target, format=fmt)
    before = tree(out)
    r = subprocess.run([sys.executable, WORKER, "once", str(target), fmt, "20000", *(["overwrite"] if overwrite else [])],
                       capture_output=True, text=True, env=env, preexec_fn=_fsize_limit(16 << 10), timeout=120)
    assert r.returncode == 3, r.stderr
    what = "cannot write the Icechunk repository (File too large)" if fmt == "icechunk" else "cannot write (File too large)"
    assert r.stdout == f"{target}: {what}\n"
    assert tree(out) == before


def _can_mount_tmpfs() -> bool:
    if not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True)
    return r.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="cannot mount a tmpfs in a private namespace (unshare -rm)")
@pytest.mark.parametrize("fmt", FMTS)
def test_full_disk_for_real(tmp_path, env, fmt):
    """A 96 KiB tmpfs: new output and overwrite both fail with one line; the
    earlier output is intact and nothing else is left."""
    disk = tmp_path / "disk"
    disk.mkdir()
    sh = f'mount -t tmpfs -o size=96k tmpfs "{disk}" && exec "{sys.executable}" "{WORKER}" fulldisk "{disk}" {fmt} 60000'
    r = subprocess.run(["unshare", "-rm", "sh", "-c", sh], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    ext = EXT[fmt]
    what = "cannot write the Icechunk repository (No space left on device)" if fmt == "icechunk" else "cannot write (No space left on device)"
    assert res["errors"] == [f"{disk}/new{ext}: {what}", f"{disk}/old{ext}: {what}"]
    assert res["after"] == res["before"] and res["old_tag"] == 1
    assert not any(k.startswith(".vz-") for k in res["after"])


def test_many_writes_into_one_folder_list_it_once(tmp_path, env, monkeypatch):
    """Writing N outputs into one folder lists it once (the sweep), not N times,
    unless something else changed the folder in between."""
    calls = []
    real = atomic._sweep
    monkeypatch.setattr(atomic, "_sweep", lambda parent: calls.append(parent) or real(parent))
    for i in range(20):
        vz.write(worker.dataset(4), tmp_path / f"o{i}.json")
    assert calls == [str(tmp_path)]
    time.sleep(0.05)  # past a coarse file-system clock tick
    (tmp_path / "someone-else.txt").write_text("x")  # the folder changed: look again
    vz.write(worker.dataset(4), tmp_path / "o20.json")
    assert len(calls) == 2
    monkeypatch.setattr(atomic, "RELIST_AFTER", 0.0)  # and again after a while, changed or not
    vz.write(worker.dataset(4), tmp_path / "o21.json")
    assert len(calls) == 3
