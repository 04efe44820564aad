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

    def child_command(self, cell: Cell) -> list[str] | None:
        """The command computing ``cell`` in a child process (None: in this process)."""

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


def last_line(path: Path, tail: int = 4096) -> str:
    """The last non-empty line of a log that is not one of its ``# `` header lines."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - tail))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [x.strip() for x in text.replace("\r", "\n").splitlines()]
    lines = [x for x in lines if x and not x.startswith("# ")]
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


def _run_child(command: list[str], path: Path, cell: Cell, env: dict[str, str] | None,
               log: Path, bar: Any = None) -> bool:
    """Compute one cell in a child process, its stdout and stderr going to ``log``.

    While it runs, the progress bar's postfix shows the cell, its time and the log's last line.

    Args:
        command: the child's command line.
        path: the cell's result file (the child writes it).
        cell: the cell.
        env: the child's environment (None: this one); ``PYTHONUNBUFFERED=1`` is added so
            that the log is current.
        log: the cell's log file (overwritten).
        bar: the tqdm bar to annotate (None: no bar).

    Returns:
        True when the child wrote the cell's result file.

    Raises:
        KeyboardInterrupt: the child was interrupted (exit code 130) or this process was.
    """
    import shlex
    import subprocess

    mtime = path.stat().st_mtime_ns if path.exists() else None
    env = dict(os.environ if env is None else env)
    env.setdefault("PYTHONUNBUFFERED", "1")
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        fh.write(f"# cell {cell.id}: {shlex.join(command)}\n"
                 f"# started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        fh.flush()
        proc = subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
        shown, shown_at = "", t0
        try:
            while True:
                try:
                    code = proc.wait(timeout=1.0)
                    break
                except subprocess.TimeoutExpired:
                    if bar is None or getattr(bar, "disable", False):
                        continue
                    now, line = time.perf_counter(), last_line(log)[:60]
                    if line != shown or now - shown_at >= 10.0:  # redraw on news, else 0.1 Hz
                        bar.set_postfix_str(f"{cell.id} {now - t0:.0f} s: {line}")
                        shown, shown_at = line, now
        except KeyboardInterrupt:  # the child got the same Ctrl-C: let it end, then stop
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
    if code == 130:
        raise KeyboardInterrupt
    done = path.exists() and path.stat().st_mtime_ns != mtime
    if not done:
        last = last_line(log)
        say(f"error: cell {cell.id}: its child process ended with exit code {code} without a "
            f"result{': ' + last if last else ''} (log: {log})")
    return done


def _compute(cell: Cell, fn: Callable[[Cell], Sequence[Mapping[str, Any]]], path: Path,
             log: Path | None = None) -> dict[str, Any] | None:
    """Run ``fn(cell)`` here; save and return its record, or report the failure (None).

    With ``log``, what Python code prints meanwhile (``sys.stdout``/``sys.stderr``) goes there;
    output written by native code straight to the file descriptors is not caught.
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
    bar = tqdm(cells, desc=desc, unit="cell", disable=not progress, file=sys.stderr)
    for cell in bar:
        bar.set_postfix_str(cell.id)
        path = cell_path(out_dir, cell)
        record = None if rerun else read_finished(path, cell)
        cached = record is not None
        command = ctx.child_command(cell) if ctx is not None and not cached else None
        t0 = time.perf_counter()
        if command is not None:
            env = ctx.child_env() if hasattr(ctx, "child_env") else None
            if not _run_child(command, path, cell, env, log_path(out_dir, cell), bar):
                failed.append(cell.id)
                continue
            record = json.loads(path.read_text())
        elif not cached:
            record = _compute(cell, fn, path, None if only is not None else log_path(out_dir, cell))
            if record is None:
                failed.append(cell.id)
                continue
        if only is None:
            say(cell_summary(cell.id, record["rows"], time.perf_counter() - t0, cached=cached))
        for r in record["rows"]:
            rows.append({**r, "cell": cell.id, "cached": cached, "seconds": record.get("seconds")})
    return rows, failed
