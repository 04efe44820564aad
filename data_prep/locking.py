"""One run at a time per output: lock files for output folders and single output files.

A run that writes a folder (an extraction shard, a training run directory, a table's output
folder) or one file (``predict --resume`` appending to one JSON file) holds a lock on it for as
long as it writes. A second run of the same thing stops at once with :class:`LockHeldError`,
whose message is one line naming the other run: what it is, its pid, host, start time and
command line. Usage::

    from data_prep.locking import FileLock, FolderLock, LockHeldError

    with FolderLock(run_dir, what="training of clrnet into runs/x", name="train"):
        ...                                  # only one such run writes run_dir at a time

    with FileLock(json_path, what="predict --resume", hint="or write to another --json"):
        ...                                  # lock file: .<name>.lock beside json_path

    try:
        with FolderLock(out, what="table 5"):
            ...
    except LockHeldError as exc:             # a DataPrepError: print it, exit non-zero
        print(f"error: {exc}", file=sys.stderr)
        return 3

Semantics:

* **Lock file.** ``FolderLock(folder, name=N)`` uses ``folder/.N.lock`` (``name`` defaults to
  ``run``; different names are independent locks on one folder, which is how extraction locks
  one shard of a folder while other shards run). ``FileLock(file)`` uses ``.<file name>.lock``
  beside the file. The lock file holds one JSON line: pid, host, start time, command line,
  ``what`` and a random token. It exists exactly while a run holds the lock, and is removed on
  release.
* **Acquisition is atomic.** The owner record is written to a private temporary file, which is
  ``flock``-ed and then hard-linked to the lock name (``link`` fails if the name exists), so
  the lock file never exists without its content and its ``flock``. Of any number of runs
  starting together exactly one gets the lock.
* **Liveness.** The holder keeps an exclusive ``fcntl.flock`` on the lock file; the kernel drops
  it when the process dies in any way (``kill -9`` included). A lock whose ``flock`` can be
  taken and whose owner, on this host, is not running (no such pid, a zombie, or a pid reused by
  a process started after the lock) is **stale** and is taken over: the taker holds the stale
  file's ``flock`` while it renames its own new lock file over it, so two runs can never both
  take over one stale lock (a run that opened the old file sees, once it gets its ``flock``,
  that the name now points to another file and starts over). A warning names the dead owner.
* **Another host.** A lock file left by a run on another host cannot be checked from here (its
  pid means nothing here and ``flock`` may not cross hosts on network file systems): it is
  refused with a line telling the user to delete the lock file if that run is gone.
* **Refusal** raises :class:`LockHeldError` at once (``timeout=0``, the default), or after
  waiting up to ``timeout`` seconds (``None``: wait for ever) for the lock to become free.
  A lock that is being created or taken over at that very moment is waited for briefly (up to
  2 s) instead of being reported with incomplete information.
* **Release** happens when the ``with`` block ends: normally, on an exception and on
  ``KeyboardInterrupt``. A process killed outright leaves its lock file behind, which the next
  run takes over as stale. Releasing removes the lock file first and then drops the ``flock``.
* **Per process.** Locks are not re-entrant: a second acquisition of the same lock file in
  the same process (another thread, another object) is refused like any other run. A child
  created with ``os.fork`` does not inherit the lock (its copy of the file descriptor is closed
  after the fork, and its ``release`` does nothing); processes started with ``spawn`` or
  ``subprocess`` never see it.
* **Limits.** POSIX only (``fcntl``). On a file system without ``flock`` the owner record alone
  decides (a live pid on this host blocks, a dead one is stale), and taking over a stale lock is
  then best effort; without hard links the lock is created with ``O_CREAT | O_EXCL`` instead.
  Two machines that share a host name and a file system are not told apart.

No paper or official code is followed here; this is project plumbing.

Size: over 500 lines for one job; most of it is the stale-lock takeover (owner records,
liveness checks across hosts, atomic replacement), which must stay in one place to be correct.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import secrets
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from data_prep.errors import DataPrepError

__all__ = [
    "FileLock",
    "FolderLock",
    "LockHeldError",
    "LockOwner",
    "RunLock",
    "lock_holder",
    "pid_alive",
]

log = logging.getLogger("data_prep.locking")

#: Seconds a contender waits for a lock that is being created or taken over to settle.
SETTLE_S = 2.0
_COMMAND_CHARS = 300
_HOST = socket.gethostname()
#: Lock files held by this process: real path -> the lock object.
_HELD: dict[str, RunLock] = {}
_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}
_NO_LINK = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK, errno.EXDEV}


@dataclass(frozen=True)
class LockOwner:
    """The run that holds (or held) a lock, as stored in the lock file.

    Args:
        pid: its process id.
        host: its host name.
        started: when it took the lock (Unix time).
        command: its command line (``sys.orig_argv``, shortened).
        what: what it is doing, as its caller described it.
        token: a random token unique to this acquisition.
    """

    pid: int
    host: str
    started: float
    command: str
    what: str
    token: str

    @classmethod
    def current(cls, what: str) -> LockOwner:
        """The owner record of this process, for a lock taken now."""
        argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
        command = " ".join(" ".join(argv).split())  # one line, even for ``python -c`` scripts
        if len(command) > _COMMAND_CHARS:
            command = command[: _COMMAND_CHARS - 3] + "..."
        return cls(pid=os.getpid(), host=_HOST, started=time.time(), command=command,
                   what=what, token=secrets.token_hex(8))

    @classmethod
    def from_json(cls, data: bytes) -> LockOwner | None:
        """Parse a lock file's content; None if empty or unreadable."""
        try:
            raw = json.loads(data.decode("utf-8"))
            return cls(pid=int(raw["pid"]), host=str(raw["host"]),
                       started=float(raw["started"]), command=str(raw.get("command", "")),
                       what=str(raw.get("what", "")), token=str(raw.get("token", "")))
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def to_json(self) -> bytes:
        """The lock file's content: one JSON line."""
        return (json.dumps(asdict(self)) + "\n").encode("utf-8")

    @property
    def started_text(self) -> str:
        """Start time as local ``YYYY-mm-dd HH:MM:SS``."""
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))

    def describe(self) -> str:
        """One line: ``<what> (pid P on host H, started T, command: C)``."""
        command = self.command if len(self.command) <= 160 else self.command[:157] + "..."
        facts = f"pid {self.pid} on host {self.host}, started {self.started_text}"
        if command:
            facts += f", command: {command}"
        return f"{self.what or 'another run'} ({facts})"


class LockHeldError(DataPrepError):
    """Another run holds the lock; the message is one line naming it.

    Args:
        message: the line to show.
        lock_file: the lock file.
        owner: the holder as recorded in the lock file (None when unreadable).
    """

    def __init__(self, message: str, lock_file: str | os.PathLike,
                 owner: LockOwner | None = None) -> None:
        super().__init__(message, lock_file)
        self.lock_file = Path(lock_file)
        self.owner = owner


def pid_alive(pid: int, started: float | None = None) -> bool:
    """Whether process ``pid`` on this host is running (and is not a reused pid).

    Args:
        pid: the process id.
        started: when the process was known to be running (Unix time); a process created
            after that (plus 1 s of clock slack) is a reused pid and counts as not running.

    Returns:
        True for a running process (also one of another user), False for no process or a
        zombie.
    """
    if pid <= 0:
        return False
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a pinned dependency
        psutil = None
    if psutil is not None:
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return False
            return started is None or proc.create_time() <= started + 1.0
        except psutil.NoSuchProcess:
            return False
        except psutil.Error:  # access denied: it exists
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _try_flock(fd: int, block: bool = False) -> bool | None:
    """``flock(LOCK_EX)``: True if taken, False if held elsewhere, None if unsupported here."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if block else fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in _NO_FLOCK:
            return None
        raise


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    fst = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)


def _read_owner(fd: int) -> LockOwner | None:
    return LockOwner.from_json(os.pread(fd, 65536, 0))


def _close(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


@dataclass(frozen=True)
class _Blocked:
    owner: LockOwner | None
    kind: str  # "live" | "other_host" | "settling"


class RunLock:
    """An exclusive, inter-process lock held through a lock file (see the module docstring).

    Prefer :class:`FolderLock` or :class:`FileLock`, which choose the lock file's name.

    Args:
        lock_file: the lock file's path (its folder is created).
        what: what the holder does, shown to a refused run (e.g. ``"extraction shard 3/8"``).
        hint: advice appended to the refusal line (e.g. ``"or use another --out"``).
        timeout: seconds to wait for a held lock (0: refuse at once; None: wait for ever).
        poll: seconds between attempts while waiting.

    Raises:
        LockHeldError: from :meth:`acquire` / ``with`` when another run holds the lock.
    """

    def __init__(self, lock_file: str | os.PathLike, what: str = "", *, hint: str = "",
                 timeout: float | None = 0.0, poll: float = 0.2) -> None:
        self.path = Path(lock_file)
        self.what = what or f"a run locking {self.path}"
        self.hint = hint
        self.timeout = timeout
        self.poll = poll
        #: This run's owner record once the lock is held.
        self.owner: LockOwner | None = None
        self._fd: int | None = None
        self._pid: int | None = None
        self._key: str | None = None

    # -- public API ------------------------------------------------------------------------
    @property
    def held(self) -> bool:
        """Whether this object holds the lock in this process."""
        return self._fd is not None and self._pid == os.getpid()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`LockHeldError` (after ``timeout`` seconds).

        Returns:
            ``self``.
        """
        if self.held:
            raise RuntimeError(f"{self.path}: this lock object already holds the lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = os.path.realpath(self.path)
        now = time.monotonic()
        deadline = None if self.timeout is None else now + max(self.timeout, 0.0)
        settle = now + SETTLE_S
        while True:
            other = _HELD.get(key)
            if other is not None:
                blocked = _Blocked(other.owner, "this_process")
            else:
                mine = LockOwner.current(self.what)
                fd, blocked = self._attempt(mine)
                if fd is not None:
                    self._fd, self._pid, self._key, self.owner = fd, os.getpid(), key, mine
                    _HELD[key] = self
                    return self
            now = time.monotonic()
            if blocked.kind == "settling" and now < settle:
                time.sleep(0.02)
                continue
            if deadline is None or now < deadline:
                time.sleep(self.poll if deadline is None else min(self.poll, deadline - now))
                continue
            raise LockHeldError(self._refusal(blocked), self.path, blocked.owner)

    def release(self) -> None:
        """Drop the lock (remove the lock file, then the ``flock``); a no-op if not held."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self._pid != os.getpid():  # a forked child: the fd was closed after the fork
            return
        try:
            if _same_file(fd, self.path):
                os.unlink(self.path)
            else:
                log.warning("%s: the lock file was removed or replaced by someone else while "
                            "this run held it", self.path)
        finally:
            _close(fd)
            if self._key is not None and _HELD.get(self._key) is self:
                del _HELD[self._key]

    # -- internals -------------------------------------------------------------------------
    def _refusal(self, blocked: _Blocked) -> str:
        owner = blocked.owner
        who = owner.describe() if owner is not None else "another run (owner record unreadable)"
        if blocked.kind == "this_process":
            line = f"cannot start {self.what}: this process already holds {self.path} for {who}"
        elif blocked.kind == "other_host":
            line = (f"cannot start {self.what}: {who} holds {self.path}; a run on another host "
                    f"cannot be checked from here, so if it is no longer running, delete "
                    f"{self.path}")
        else:
            stop = f" (kill {owner.pid})" if owner is not None and owner.host == _HOST else ""
            line = (f"cannot start {self.what}: {who} holds {self.path}; wait for it to finish "
                    f"or stop it{stop}")
        return f"{line}; {self.hint}" if self.hint else line

    def _new_lock_file(self, mine: LockOwner, replace: bool) -> int | None:
        """Create the lock file with ``mine`` in it and its ``flock`` held, atomically.

        Returns:
            The open file descriptor, or None if a lock file exists (``replace`` False).
        """
        tmp = self.path.with_name(f".{self.path.name}.{mine.token}.tmp")
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileNotFoundError:  # the folder vanished (an empty folder being removed)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        linked = False
        try:
            os.write(fd, mine.to_json())
            os.fsync(fd)
            _try_flock(fd)  # a private file: never contended
            if replace:
                os.replace(tmp, self.path)
                linked = True
                return fd
            try:
                os.link(tmp, self.path)
                linked = True
                return fd
            except FileExistsError:
                return None
            except OSError as exc:
                if exc.errno not in _NO_LINK:
                    raise
            return self._new_lock_file_exclusive(mine)
        finally:
            if not linked or not replace:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            if not linked:
                _close(fd)

    def _new_lock_file_exclusive(self, mine: LockOwner) -> int | None:
        """Fallback for file systems without hard links: ``O_CREAT | O_EXCL`` the lock file."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return None
        try:
            _try_flock(fd, block=True)  # contenders only look, and let go at once
            os.write(fd, mine.to_json())
            os.fsync(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            _close(fd)
            raise
        return fd

    def _attempt(self, mine: LockOwner) -> tuple[int | None, _Blocked]:
        """One try: create the lock, or inspect the existing one (taking it over if stale)."""
        fd = self._new_lock_file(mine, replace=False)
        if fd is not None:
            return fd, _Blocked(None, "")
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None, _Blocked(None, "settling")  # released meanwhile: try again
        try:
            got = _try_flock(fd)
            other = _read_owner(fd)
            if got is False:
                if other is None or (other.host == _HOST
                                     and not pid_alive(other.pid, other.started)):
                    return None, _Blocked(other, "settling")  # being created / taken over
                return None, _Blocked(other, "live")
            if not _same_file(fd, self.path):
                return None, _Blocked(other, "settling")  # released or replaced under us
            if other is None:
                # Empty only in the O_EXCL fallback, between creating and writing the file.
                if time.time() - os.fstat(fd).st_mtime < SETTLE_S:
                    return None, _Blocked(None, "settling")
            elif other.host != _HOST:
                return None, _Blocked(other, "other_host")
            elif other.pid != os.getpid() and pid_alive(other.pid, other.started):
                return None, _Blocked(other, "live")  # a file system without working flock
            # Stale: we hold its flock, so no other run is in this branch for this file.
            new_fd = self._new_lock_file(mine, replace=True)
            log.warning("%s: took over a stale lock of %s, which is no longer running",
                        self.path, other.describe() if other else "an unknown run")
            return new_fd, _Blocked(None, "")
        finally:
            _close(fd)


class FolderLock(RunLock):
    """Lock on an output folder: lock file ``<folder>/.<name>.lock`` (folder created).

    Args:
        folder: the folder the run writes.
        what: what the run does, shown to a refused run.
        name: lock name; different names are independent locks on one folder.
        hint: advice appended to the refusal line.
        timeout: seconds to wait for a held lock (0: refuse at once; None: for ever).

    Example:
        >>> with FolderLock("runs/clrnet", what="training into runs/clrnet"):  # doctest: +SKIP
        ...     train()
    """

    def __init__(self, folder: str | os.PathLike, what: str = "", *, name: str = "run",
                 hint: str = "", timeout: float | None = 0.0) -> None:
        self.folder = Path(folder)
        super().__init__(self.folder / f".{name}.lock", what or f"a run writing {self.folder}",
                         hint=hint, timeout=timeout)


class FileLock(RunLock):
    """Lock on one output file: lock file ``.<file name>.lock`` beside it.

    Args:
        file: the file the run writes (it need not exist yet).
        what: what the run does, shown to a refused run.
        hint: advice appended to the refusal line.
        timeout: seconds to wait for a held lock (0: refuse at once; None: for ever).

    Example:
        >>> with FileLock("scores.json", what="predict --resume into scores.json"):  # doctest: +SKIP
        ...     resume_and_append()
    """

    def __init__(self, file: str | os.PathLike, what: str = "", *, hint: str = "",
                 timeout: float | None = 0.0) -> None:
        self.file = Path(file)
        super().__init__(self.file.with_name(f".{self.file.name}.lock"),
                         what or f"a run writing {self.file}", hint=hint, timeout=timeout)


def lock_holder(lock_file: str | os.PathLike) -> LockOwner | None:
    """Who holds a lock file now: its owner, or None if it is free or stale.

    A lock of another host counts as held (it cannot be checked); an unreadable record of a
    live holder gives an owner with ``pid`` 0.

    Args:
        lock_file: the lock file (e.g. ``FolderLock(...).path``).

    Returns:
        The holder's :class:`LockOwner`, or None.
    """
    path = Path(lock_file)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        got = _try_flock(fd)
        owner = _read_owner(fd)
        if got is False:
            return owner or LockOwner(0, "?", 0.0, "", "another run", "")
        if owner is None:
            return None
        if owner.host != _HOST:
            return owner
        if owner.pid == os.getpid():
            held = _HELD.get(os.path.realpath(path))
            return owner if held is not None and held.owner == owner else None
        return owner if pid_alive(owner.pid, owner.started) else None
    finally:
        _close(fd)


def _after_fork_in_child() -> None:
    for lock in list(_HELD.values()):
        fd, lock._fd = lock._fd, None
        _close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
