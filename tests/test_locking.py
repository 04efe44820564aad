"""data_prep.locking: one run per output, stale locks, other hosts, release on errors, races.

Child processes are plain ``python -c`` scripts that import only ``data_prep.locking`` (no
TensorFlow), so each costs about a tenth of a second.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from data_prep import locking
from data_prep.errors import DataPrepError
from data_prep.locking import FileLock, FolderLock, LockHeldError, LockOwner, lock_holder, pid_alive

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from data_prep.locking import FolderLock
    with FolderLock(sys.argv[1], what="the holder run", name=sys.argv[3]):
        print("held", flush=True)
        deadline = time.monotonic() + 30
        while not Path(sys.argv[2]).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
""")


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(proc.stdout)
    assert not pid_alive(pid)
    return pid


def _stale_record(path: Path, pid: int, host: str | None = None, what: str = "old run") -> None:
    owner = LockOwner(pid=pid, host=host or socket.gethostname(), started=time.time() - 60,
                      command="python -m data_prep extract --old", what=what, token="0" * 16)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(owner.to_json())


class Holder:
    """A child process holding ``FolderLock(folder, name=name)`` until :meth:`stop`."""

    def __init__(self, folder: Path, tmp_path: Path, name: str = "run") -> None:
        self.stop_file = tmp_path / f"stop-{name}-{time.monotonic_ns()}"
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder),
                                      str(self.stop_file), name],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "held"

    def stop(self) -> None:
        self.stop_file.touch()
        assert self.proc.wait(timeout=30) == 0


def test_lock_file_holds_the_owner_and_is_removed_on_release(tmp_path: Path):
    folder = tmp_path / "new" / "out"
    lock = FolderLock(folder, what="table 5 into out", name="table5")
    assert lock.path == folder / ".table5.lock" and not lock.held
    with lock:
        assert lock.held and folder.is_dir()
        record = json.loads(lock.path.read_text())
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
        assert record["what"] == "table 5 into out" and "pytest" in record["command"]
        assert lock_holder(lock.path) == lock.owner
        assert list(folder.iterdir()) == [lock.path]  # no temporary file left behind
    assert not lock.path.exists() and not lock.held
    assert lock_holder(lock.path) is None
    assert FileLock(tmp_path / "r.json").path == tmp_path / ".r.json.lock"


def test_second_run_is_refused_with_one_line_naming_the_first(tmp_path: Path):
    holder = Holder(tmp_path / "out", tmp_path)
    try:
        lock = FolderLock(tmp_path / "out", what="my run", hint="or use another --out")
        started = time.monotonic()
        with pytest.raises(LockHeldError) as err:
            lock.acquire()
        assert time.monotonic() - started < 1.5  # at once
        text = str(err.value)
        assert "\n" not in text and isinstance(err.value, DataPrepError)
        assert text.startswith("cannot start my run: the holder run (pid ")
        assert f"pid {holder.proc.pid} on host {socket.gethostname()}, started " in text
        assert "command: " in text and str(tmp_path / "out" / ".run.lock") in text
        assert text.endswith(f"(kill {holder.proc.pid}); or use another --out")
        assert err.value.owner.pid == holder.proc.pid
        assert lock_holder(lock.path).pid == holder.proc.pid
        with FolderLock(tmp_path / "out", name="other"):  # another name: independent
            pass
    finally:
        holder.stop()
    with FolderLock(tmp_path / "out"):  # free again
        pass


def test_same_process_is_refused_too(tmp_path: Path):
    with FolderLock(tmp_path, what="first"):
        with pytest.raises(LockHeldError, match="this process already holds .* for first"):
            FolderLock(tmp_path, what="second").acquire()


def test_stale_lock_of_a_dead_pid_is_taken_over(tmp_path: Path, caplog):
    lock_file = tmp_path / ".run.lock"
    pid = _dead_pid()
    _stale_record(lock_file, pid)
    with FolderLock(tmp_path, what="new run"):
        assert json.loads(lock_file.read_text())["pid"] == os.getpid()
    assert f"took over a stale lock of old run (pid {pid}" in caplog.text
    assert not lock_file.exists()
    _stale_record(lock_file, pid)  # an unreadable or empty record of a dead run: stale too
    lock_file.write_text("{not json")
    os.utime(lock_file, (time.time() - 10, time.time() - 10))
    with FolderLock(tmp_path):
        pass


def test_pid_alive_spots_dead_and_reused_pids():
    assert pid_alive(os.getpid()) and pid_alive(os.getpid(), started=time.time())
    assert not pid_alive(os.getpid(), started=time.time() - 10 ** 7)  # born after the lock
    assert not pid_alive(_dead_pid()) and not pid_alive(0)


def test_lock_of_another_host_is_refused_with_how_to_remove_it(tmp_path: Path):
    lock_file = tmp_path / ".run.lock"
    _stale_record(lock_file, os.getpid(), host="elsewhere.example")
    with pytest.raises(LockHeldError) as err:
        FolderLock(tmp_path, what="my run").acquire()
    text = str(err.value)
    assert "pid" in text and "on host elsewhere.example" in text
    assert f"if it is no longer running, delete {lock_file}" in text
    assert lock_file.exists()  # never removed behind the user's back


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_lock_is_released_after_an_exception(tmp_path: Path, error):
    lock = FileLock(tmp_path / "scores.json", what="predict --resume")
    with pytest.raises(error):
        with lock:
            assert lock.path.exists()
            raise error("boom")
    assert not lock.path.exists() and not lock.held
    with FileLock(tmp_path / "scores.json"):
        pass


def test_timeout_waits_for_the_holder_to_finish(tmp_path: Path):
    holder = Holder(tmp_path, tmp_path)
    with pytest.raises(LockHeldError):
        FolderLock(tmp_path, timeout=0.3).acquire()
    subprocess.Popen([sys.executable, "-c",
                      f"import time, pathlib; time.sleep(0.5); pathlib.Path({str(holder.stop_file)!r}).touch()"])
    with FolderLock(tmp_path, timeout=20) as lock:
        assert lock.held
    assert holder.proc.wait(timeout=30) == 0


RACER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from data_prep.locking import FolderLock, LockHeldError
    folder, go, done, out = (Path(a) for a in sys.argv[1:5])
    while not go.exists():
        time.sleep(0.005)
    lock = FolderLock(folder, what="racer")
    try:
        lock.acquire()
    except LockHeldError:
        out.write_text("refused")
        sys.exit(0)
    out.write_text("won")
    deadline = time.monotonic() + 30
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    lock.release()
""")


@pytest.mark.parametrize("stale", [False, True], ids=["fresh", "stale"])
def test_racing_runs_exactly_one_wins(tmp_path: Path, stale: bool):
    """Six processes start at one signal, on no lock or on a dead run's lock: one wins."""
    folder = tmp_path / "out"
    if stale:
        _stale_record(folder / ".run.lock", _dead_pid())
    go, done = tmp_path / "go", tmp_path / "done"
    outs = [tmp_path / f"result{i}" for i in range(6)]
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(folder), str(go), str(done),
                               str(out)]) for out in outs]
    time.sleep(0.5)  # let them start and wait for the signal
    go.touch()
    deadline = time.monotonic() + 30
    while not all(o.exists() for o in outs) and time.monotonic() < deadline:
        time.sleep(0.02)
    results = sorted(o.read_text() for o in outs if o.exists())
    done.touch()
    assert all(p.wait(timeout=30) == 0 for p in procs)
    assert results == ["refused"] * 5 + ["won"]
    assert not (folder / ".run.lock").exists()


def test_forked_child_neither_holds_nor_removes_the_lock(tmp_path: Path):
    with FolderLock(tmp_path) as lock:
        pid = os.fork()
        if pid == 0:  # the child: its release must leave the parent's lock alone
            code = 0 if not lock.held else 1
            lock.release()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert lock.path.exists() and lock_holder(lock.path) == lock.owner


def test_without_hard_links_the_lock_is_created_exclusively(tmp_path: Path, monkeypatch):
    def no_link(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(locking.os, "link", no_link)
    with FolderLock(tmp_path, what="first") as lock:
        assert json.loads(lock.path.read_text())["what"] == "first"
        assert list(tmp_path.iterdir()) == [lock.path]
        holder_line = subprocess.run(
            [sys.executable, "-c", "import sys\nfrom data_prep.locking import FolderLock\n"
             "try:\n    FolderLock(sys.argv[1]).acquire()\nexcept Exception as e:\n"
             "    print(e)", str(tmp_path)], capture_output=True, text=True).stdout
        assert "first (pid" in holder_line
    assert not lock.path.exists()
