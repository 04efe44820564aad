"""Resumable table cells: each cell computed once (optionally in a child process), saved atomically.

A table is a list of :class:`Cell` (e.g. ``("transfer", "clrnet")``). A cell's result is a list
of rows ``{section, row, col, metric, ours, ...}`` saved as ``<out>/cells/<cell id>.json`` with
the cell's resolved settings; re-running a script skips every finished cell whose stored settings
equal the current ones, and recomputes a cell whose settings changed. The CLRNet table scripts
compute each unfinished cell in a child process (the same table module with ``--only-cell``):
TensorFlow keeps native memory after every ``fit``, which only the end of a process returns
(measured in ``experiments/README.md``, section Memory).

What the user sees: one progress bar over the cells (its postfix: the running cell, its time
and the last line of its log) and one line per finished cell with its clip AUCs
(:func:`experiments.results.cell_summary`). Everything a cell prints while it runs (a child's
stdout and stderr: Keras' per-epoch lines, TensorFlow's warnings; in this process, what Python
code prints) goes to ``<out>/cells/<cell id>.log``; a failed cell's error line names that log.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from data_prep.fileio import write_json_atomic
from experiments.protocol import cell_id


class ExperimentError(RuntimeError):
    """A table script cannot run: bad arguments, missing data, a failed cell (one-line message)."""


@dataclass(frozen=True)
class Cell:
    """One independently computed part of a table.

    Args:
        key: e.g. ``("transfer", "clrnet")``; its parts form the cell id.
        params: the cell's resolved settings (JSON-ready, stored with the result; a stored
            result with other params is recomputed).
    """

    key: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """File-system safe id, e.g. ``transfer__clrnet`` (:func:`experiments.protocol.cell_id`)."""
        return cell_id(self.key)


class ChildRunner(Protocol):
    """What :func:`run_cells` needs to compute cells in child processes (a ``RunContext``)."""

    only_cell: str | None
    #: children computing cells at once (optional; default 1)
    jobs: int

    def child_command(self, cell: Cell) -> list[str] | None:
        """The command computing ``cell`` in a child process (None: in this process)."""

    def prepare_command(self) -> list[str] | None:
        """The command preparing every cell's data before parallel children start (optional;
        None: the cells prepare their own data)."""

    def cell_cost(self, cell: Cell) -> float:
        """A cell's expected time, in any unit (optional): parallel children start the
        costliest cells first."""

    def child_env(self) -> dict[str, str] | None:
        """The child's environment (None: this process's)."""


def cell_path(out_dir: str | os.PathLike, cell: Cell) -> Path:
    """Where a cell's result lives."""
    return Path(out_dir) / "cells" / f"{cell.id}.json"


def log_path(out_dir: str | os.PathLike, cell: Cell) -> Path:
    """Where a cell's output (per-epoch lines, warnings) goes while it is computed."""
    return Path(out_dir) / "cells" / f"{cell.id}.log"


def say(line: str) -> None:
    """Print one line on stderr without breaking the progress bar."""
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)


#: TensorFlow's native start-up chatter (absl INFO/WARNING lines, no CUDA on a CPU machine)
_NATIVE_NOISE = re.compile(r"^([IW]\d{4} \d\d:\d\d:|E\d{4} .*cu(da|Init)|WARNING: All log "
                           r"messages before absl)", re.IGNORECASE)


def last_line(path: Path, tail: int = 4096) -> str:
    """The last non-empty line of a log that is not one of its ``# `` header lines nor
    TensorFlow's native start-up chatter (the progress bar shows it as the cell's status)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - tail))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [x.strip() for x in text.replace("\r", "\n").splitlines()]
    lines = [x for x in lines if x and not x.startswith("# ") and not _NATIVE_NOISE.match(x)]
    return lines[-1] if lines else ""


def release_memory() -> None:
    """Drop what a finished cell left in Keras' global state, then collect Python garbage.

    Measured on 8 cheap Table 5 cells in one process: peak RSS 1.53 -> 1.46 GB. It cannot free
    the native memory TensorFlow keeps after each ``fit``; child processes do.
    """
    import gc

    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()
    gc.collect()


def _json_ready(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def read_finished(path: Path, cell: Cell) -> dict[str, Any] | None:
    """The stored record of ``cell`` when it is readable and has the same settings, else None."""
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if record.get("params", {}) != _json_ready(dict(cell.params)):
        print(f"note: cell {cell.id}: its settings changed since it was computed; recomputing",
              file=sys.stderr)
        return None
    return record


@dataclass
class _Child:
    """A running child process computing one cell (or the data preparation)."""

    cell: Cell
    proc: Any
    log: Path
    path: Path | None
    mtime: int | None
    started: float
    fh: Any
    peak_rss_mb: float = 0.0


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, in MB (0 when it is gone)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


class ChildPool:
    """Run cells in up to ``jobs`` child processes at once, each writing its own log.

    While children run, the progress bar's postfix shows each running cell, its time and its
    log's last line. The memory of every child (with its own children) is sampled once a
    second: :attr:`peak_rss_mb` is the largest sampled sum over the children running together,
    and each finished child's own peak is kept in its :class:`_Child`.

    Args:
        env: the children's environment (None: this one's); ``PYTHONUNBUFFERED=1`` is added
            so that the logs are current.
        jobs: children at most at once.
        bar: the tqdm bar to annotate (None: no bar).
    """

    def __init__(self, env: dict[str, str] | None, jobs: int = 1, bar: Any = None) -> None:
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.jobs = max(1, int(jobs))
        self.bar = bar
        self.running: list[_Child] = []
        self.peak_rss_mb = 0.0
        self._shown, self._shown_at = "", 0.0

    def start(self, cell: Cell, command: list[str], log: Path, path: Path | None) -> None:
        """Start computing ``cell`` (its result file ``path``; None: no result file)."""
        import shlex
        import subprocess

        log.parent.mkdir(parents=True, exist_ok=True)
        fh = open(log, "w", encoding="utf-8")  # noqa: SIM115 - closed when the child ends
        fh.write(f"# cell {cell.id}: {shlex.join(command)}\n"
                 f"# started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        fh.flush()
        mtime = path.stat().st_mtime_ns if path is not None and path.exists() else None
        proc = subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=self.env)
        self.running.append(_Child(cell, proc, log, path, mtime, time.perf_counter(), fh))

    def _show(self) -> None:
        if self.bar is None or getattr(self.bar, "disable", False) or not self.running:
            return
        now = time.perf_counter()
        text = " | ".join(f"{c.cell.id} {now - c.started:.0f} s: {last_line(c.log)[:60 // len(self.running)]}"
                          for c in self.running)
        if text != self._shown or now - self._shown_at >= 10.0:  # redraw on news, else 0.1 Hz
            self.bar.set_postfix_str(text)
            self._shown, self._shown_at = text, now

    def wait_any(self) -> list[tuple[_Child, int]]:
        """Wait until at least one child ends; returns the ended ``(child, exit code)``.

        Raises:
            KeyboardInterrupt: a child was interrupted (exit code 130) or this process was;
                the other children are given 30 s to end (they got the same Ctrl-C).
        """
        import subprocess

        try:
            while True:
                total = 0.0
                for c in self.running:
                    rss = _tree_rss_mb(c.proc.pid)
                    c.peak_rss_mb = max(c.peak_rss_mb, rss)
                    total += rss
                self.peak_rss_mb = max(self.peak_rss_mb, total)
                ended = [(c, c.proc.poll()) for c in self.running]
                ended = [(c, code) for c, code in ended if code is not None]
                if ended:
                    for c, _ in ended:
                        self.running.remove(c)
                        c.fh.close()
                    if any(code == 130 for _, code in ended):
                        raise KeyboardInterrupt
                    return ended
                self._show()
                try:
                    self.running[0].proc.wait(timeout=1.0)
                except subprocess.TimeoutExpired:
                    pass
        except KeyboardInterrupt:
            self.stop()
            raise

    def stop(self) -> None:
        """End every running child (after up to 30 s for each to stop by itself)."""
        import subprocess

        for c in self.running:
            try:
                c.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                c.proc.kill()
                c.proc.wait()
            c.fh.close()
        self.running.clear()

    @staticmethod
    def succeeded(child: _Child, code: int) -> bool:
        """Whether ``child`` wrote its cell's result (else one error line is printed)."""
        path = child.path
        if path is None:
            done = code == 0
        else:
            done = path.exists() and path.stat().st_mtime_ns != child.mtime
        if not done:
            last = last_line(child.log)
            say(f"error: cell {child.cell.id}: its child process ended with exit code {code} "
                f"without a result{': ' + last if last else ''} (log: {child.log})")
        return done


def _compute(cell: Cell, fn: Callable[[Cell], Sequence[Mapping[str, Any]]], path: Path,
             log: Path | None = None, release: bool = True) -> dict[str, Any] | None:
    """Run ``fn(cell)`` here; save and return its record, or report the failure (None).

    With ``log``, what Python code prints meanwhile (``sys.stdout``/``sys.stderr``) goes there;
    output written by native code straight to the file descriptors is not caught. ``release``
    clears Keras' state afterwards (:func:`release_memory`; not needed in a one-cell child,
    which exits next).
    """
    import contextlib

    t0 = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            if log is not None:
                log.parent.mkdir(parents=True, exist_ok=True)
                fh = stack.enter_context(open(log, "w", encoding="utf-8"))
                fh.write(f"# cell {cell.id}: computed in the parent process\n")
                stack.enter_context(contextlib.redirect_stdout(fh))
                stack.enter_context(contextlib.redirect_stderr(fh))
            result = [dict(r) for r in fn(cell)]
    except Exception as exc:  # noqa: BLE001 - one line per failed cell, keep going
        if os.environ.get("DEEPFAKE_REPRO_DEBUG"):
            raise
        import traceback

        details = path.with_suffix(".error.log")
        details.parent.mkdir(parents=True, exist_ok=True)
        details.write_text(traceback.format_exc())
        msg = str(exc).splitlines()[0] if str(exc) else ""
        where = f"details: {details}" + (f"; output: {log}" if log is not None else "")
        say(f"error: cell {cell.id}: {type(exc).__name__}: {msg} ({where})")
        return None
    finally:
        if release:
            release_memory()
    record = {"cell": list(cell.key), "params": _json_ready(dict(cell.params)),
              "seconds": round(time.perf_counter() - t0, 2), "rows": result}
    write_json_atomic(path, record)
    return record


def run_cells(
    cells: Sequence[Cell],
    fn: Callable[[Cell], Sequence[Mapping[str, Any]]],
    out_dir: str | os.PathLike,
    *,
    rerun: bool = False,
    desc: str = "cells",
    progress: bool = True,
    ctx: ChildRunner | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run every unfinished cell, saving each result atomically; skip finished ones.

    A cell that raises is reported (one line, on stderr) and not saved, so the next run retries
    it; the other cells still run. A parent prints one line per finished cell with its clip
    AUCs (also for cells read from disk) and sends what each cell prints to its log
    (:func:`log_path`); a child (``ctx.only_cell``) prints to its own output, the parent's log.

    Args:
        cells: the table's cells.
        fn: computes one cell, returning its result rows.
        out_dir: the table's output folder (results go to ``out_dir/cells``).
        rerun: recompute cells even when a result exists.
        desc: progress-bar label.
        progress: show a tqdm bar.
        ctx: the run context; when its :meth:`child_command` gives a command, each unfinished
            cell is computed by that child process, and a child (``ctx.only_cell``) computes
            only its own cell.

    Returns:
        ``(rows of every finished cell, ids of failed cells)``; each row gains ``cell``,
        ``cached`` (whether it was read from disk) and ``seconds``.

    Raises:
        ExperimentError: duplicate cell ids, or an ``--only-cell`` id the table does not have.
    """
    from tqdm.auto import tqdm

    from experiments.results import cell_summary

    ids = [c.id for c in cells]
    if len(set(ids)) != len(ids):
        raise ExperimentError(
            f"duplicate cell ids in table: {sorted(i for i in ids if ids.count(i) > 1)}")
    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    only = ctx.only_cell if ctx is not None else None
    if only is not None:  # a child process: its one cell, under the parent's progress bar
        cells, progress = [c for c in cells if c.id == only], False
        if not cells:
            raise ExperimentError(f"--only-cell {only}: no such cell; the table has {sorted(ids)}")
    bar = tqdm(total=len(cells), desc=desc, unit="cell", disable=not progress, file=sys.stderr)
    done: dict[str, tuple[dict[str, Any], bool]] = {}
    in_children: list[Cell] = []
    for cell in cells:
        path = cell_path(out_dir, cell)
        record = None if rerun else read_finished(path, cell)
        if record is not None:
            done[cell.id] = (record, True)
            if only is None:
                say(cell_summary(cell.id, record["rows"], 0.0, cached=True))
            bar.update(1)
            continue
        if ctx is not None and ctx.child_command(cell) is not None:
            in_children.append(cell)
            continue
        bar.set_postfix_str(cell.id)
        t0 = time.perf_counter()
        record = _compute(cell, fn, path, None if only is not None else log_path(out_dir, cell),
                          release=only is None)
        bar.update(1)
        if record is None:
            failed.append(cell.id)
            continue
        done[cell.id] = (record, False)
        if only is None:
            say(cell_summary(cell.id, record["rows"], time.perf_counter() - t0, cached=False))
    if in_children:
        failed += _run_in_children(in_children, ctx, Path(out_dir), bar, done)
    bar.close()
    for cell in cells:
        if cell.id not in done:
            continue
        record, cached = done[cell.id]
        for r in record["rows"]:
            rows.append({**r, "cell": cell.id, "cached": cached, "seconds": record.get("seconds")})
    return rows, [c.id for c in cells if c.id in failed]


def _run_in_children(cells: Sequence[Cell], ctx: ChildRunner, out_dir: Path, bar: Any,
                     done: dict[str, tuple[dict[str, Any], bool]]) -> list[str]:
    """Compute ``cells`` in child processes, ``ctx.jobs`` at a time; returns the failed ids.

    With more than one job the data are prepared first, by one child running
    ``ctx.prepare_command()``, so that the cells' children only read them. Each finished
    cell's record gains ``child_peak_rss_mb`` (its child's sampled peak resident memory); the
    largest sampled sum over children running together goes to ``ctx.cache``
    (``children_peak_rss_mb``).
    """
    from experiments.results import cell_summary

    jobs = max(1, int(getattr(ctx, "jobs", 1) or 1))
    pool = ChildPool(ctx.child_env() if hasattr(ctx, "child_env") else None, jobs, bar)
    failed: list[str] = []
    prepare = ctx.prepare_command() if jobs > 1 and hasattr(ctx, "prepare_command") else None
    if prepare is not None:
        pool.start(Cell(("prepare",)), prepare, out_dir / "cells" / "prepare.log", None)
        ((child, code),) = pool.wait_any()
        if not pool.succeeded(child, code):
            return [c.id for c in cells]
    # longest first (a cheap cell then fills the other lane while a long one ends the run)
    cost = getattr(ctx, "cell_cost", None)
    queue = sorted(cells, key=cost, reverse=True) if cost is not None and jobs > 1 else list(cells)
    while queue or pool.running:
        while queue and len(pool.running) < pool.jobs:
            cell = queue.pop(0)
            pool.start(cell, ctx.child_command(cell), log_path(out_dir, cell),
                       cell_path(out_dir, cell))
        for child, code in pool.wait_any():
            bar.update(1)
            if not pool.succeeded(child, code):
                failed.append(child.cell.id)
                continue
            record = json.loads(child.path.read_text())
            record["child_peak_rss_mb"] = round(child.peak_rss_mb)
            write_json_atomic(child.path, record)
            done[child.cell.id] = (record, False)
            say(cell_summary(child.cell.id, record["rows"],
                             time.perf_counter() - child.started, cached=False))
    cache = getattr(ctx, "cache", None)
    if isinstance(cache, dict):
        cache["children_peak_rss_mb"] = max(cache.get("children_peak_rss_mb", 0),
                                            round(pool.peak_rss_mb))
    return failed
