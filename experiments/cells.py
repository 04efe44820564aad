"""Resumable table cells: each cell computed once (optionally in a child process), saved atomically.

A table is a list of :class:`Cell` (e.g. ``("transfer", "clrnet")``). A cell's result is a list
of rows ``{section, row, col, metric, ours, ...}`` saved as ``<out>/cells/<cell id>.json`` with
the cell's resolved settings; re-running a script skips every finished cell whose stored settings
equal the current ones, and recomputes a cell whose settings changed. The CLRNet table scripts
compute the unfinished cells in child processes (the same table module with ``--only-cell``):
TensorFlow keeps native memory after every ``fit``, which only the end of a process returns
(measured in ``experiments/README.md``, section Memory). In the quick profile one child computes
all cells of one model, in order (``--only-cell a,b,c``), so that their trainings trace the model
once (:func:`clrnet.training.reuse.reuse_traced_models`); the full profile gives every cell its
own child.

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

    def solo_env(self) -> dict[str, str] | None:
        """The environment of a child that will run alone (optional): all the cores."""


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
    the native memory TensorFlow keeps after each ``fit``; child processes do. Inside a child's
    :func:`clrnet.training.reuse.reuse_traced_models` it keeps TensorFlow's kernel cache, which
    holds the kept models' instantiated functions
    (:func:`clrnet.training.reuse.clear_keras_state`).
    """
    import gc

    if "keras" in sys.modules:
        from clrnet.training.reuse import clear_keras_state

        clear_keras_state()
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
    """A running child process computing one or more cells in order (or the data preparation).

    ``logs``, ``paths`` and ``mtimes`` are per cell: its log, its result file (None: none) and
    that file's modification time when the child started (a result is new when it differs).
    """

    cells: list[Cell]
    proc: Any
    logs: list[Path]
    paths: list[Path | None]
    mtimes: list[int | None]
    started: float
    fh: Any
    peak_rss_mb: float = 0.0
    #: the peak its cells were expected to reach (``ctx.child_memory_mb``; 0: unknown)
    expected_mb: float = 0.0
    #: indices of the cells already accounted for (reported or failed), and when the last was
    done: set[int] = field(default_factory=set)
    last_report: float = 0.0

    def _current(self) -> int:
        """The cell being computed: the one after the last accounted for (cells run in order)."""
        return min(max(self.done, default=-1) + 1, len(self.cells) - 1)

    @property
    def cell(self) -> Cell:
        """The cell being computed."""
        return self.cells[self._current()]

    @property
    def log(self) -> Path:
        """The log of the cell being computed."""
        return self.logs[self._current()]

    def new_results(self) -> list[int]:
        """Indices of the cells with a new result file not yet accounted for, in order."""
        found = []
        for i, (path, mtime) in enumerate(zip(self.paths, self.mtimes, strict=True)):
            if (i not in self.done and path is not None and path.exists()
                    and path.stat().st_mtime_ns != mtime):
                found.append(i)
        return found


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

    def start(self, cells: Cell | Sequence[Cell], command: list[str], logs: Path | Sequence[Path],
              paths: Path | None | Sequence[Path | None],
              env: dict[str, str] | None = None) -> None:
        """Start computing ``cells`` (one cell, or several that one child computes in order)
        with their logs and result files (None: no result file); the child's output goes to the
        first cell's log (a child of several cells moves it to each cell's own log). ``env``
        replaces the pool's environment for this child (``PYTHONUNBUFFERED=1`` added)."""
        import shlex
        import subprocess

        one = isinstance(cells, Cell)
        cells = [cells] if one else list(cells)
        logs = [logs] if one else list(logs)
        paths = [paths] if one else list(paths)
        log = logs[0]
        log.parent.mkdir(parents=True, exist_ok=True)
        fh = open(log, "w", encoding="utf-8")  # noqa: SIM115 - closed when the child ends
        env = self.env if env is None else {"PYTHONUNBUFFERED": "1", **env}
        threads = env.get("TF_NUM_INTRAOP_THREADS")
        fh.write(f"# cell {cells[0].id}: {shlex.join(command)}\n"
                 f"# started {time.strftime('%Y-%m-%d %H:%M:%S')}"
                 + (f" with {threads} threads" if threads else "") + "\n")
        fh.flush()
        mtimes = [p.stat().st_mtime_ns if p is not None and p.exists() else None for p in paths]
        proc = subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
        now = time.perf_counter()
        self.running.append(_Child(cells, proc, logs, paths, mtimes, now, fh, last_report=now))

    def _show(self) -> None:
        if self.bar is None or getattr(self.bar, "disable", False) or not self.running:
            return
        now = time.perf_counter()
        text = " | ".join(f"{c.cell.id} {now - c.last_report:.0f} s: {last_line(c.log)[:60 // len(self.running)]}"
                          for c in self.running)
        if text != self._shown or now - self._shown_at >= 10.0:  # redraw on news, else 0.1 Hz
            self.bar.set_postfix_str(text)
            self._shown, self._shown_at = text, now

    def wait_any(self, results: bool = False) -> list[tuple[_Child, int]]:
        """Wait until at least one child ends; returns the ended ``(child, exit code)``.

        With ``results``, also return (possibly nothing) as soon as a running child of several
        cells has written a new cell result (:meth:`_Child.new_results`).

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
                if results and any(c.new_results() for c in self.running if len(c.cells) > 1):
                    return []
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
    def succeeded(child: _Child, code: int, index: int | None = None) -> bool:
        """Whether ``child`` wrote the result of its cell ``index`` (default: its current
        cell); else one error line is printed, naming that cell's log."""
        i = child._current() if index is None else index
        cell, log, path, mtime = child.cells[i], child.logs[i], child.paths[i], child.mtimes[i]
        if path is None:
            done = code == 0
        else:
            done = path.exists() and path.stat().st_mtime_ns != mtime
        if not done:
            last = last_line(log)
            what = ("its child process wrote no result" if code == 0 else
                    f"its child process ended with exit code {code} without a result")
            say(f"error: cell {cell.id}: {what}{': ' + last if last else ''} (log: {log})")
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
        ctx: the run context; when its :meth:`child_command` gives a command, the unfinished
            cells are computed by child processes (one per ``child_group``), and a child
            (``ctx.only_cell``, comma-separated ids) computes only its own cells, in order.

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
    if only is not None:  # a child process: its cells, in the given order, under the parent's bar
        by_id = {c.id: c for c in cells}
        unknown = [i for i in only.split(",") if i not in by_id]
        if unknown:
            raise ExperimentError(f"--only-cell {','.join(unknown)}: no such cell; the table has "
                                  f"{sorted(ids)}")
        return _run_group([by_id[i] for i in only.split(",")], fn, Path(out_dir), rerun)
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


def _redirect_output(log: Path, header: str) -> None:
    """Send this process's standard output and error (file descriptors 1 and 2, so that
    TensorFlow's native messages follow too) to a new ``log`` starting with ``header``."""
    sys.stdout.flush()
    sys.stderr.flush()
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, header.encode())
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _run_group(cells: Sequence[Cell], fn: Callable[[Cell], Sequence[Mapping[str, Any]]],
               out_dir: Path, rerun: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """A child process computing its cells in order, each into its own log, reusing the
    traced models of identical trainings (:func:`clrnet.training.reuse.reuse_traced_models`:
    the quick profile's trainings of one model then trace once per child instead of once per
    cell, and a cell training the same model twice, as the grid search's source and merge
    runs, traces it once).

    The first cell's log is the child's output as the parent opened it; each later cell moves
    the output to its own log. Keras' global state is cleared between cells, so that a model
    built again has the same layer names and matches its kept twin.
    """
    from clrnet.training.reuse import reuse_traced_models

    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    with reuse_traced_models():
        for i, cell in enumerate(cells):
            path = cell_path(out_dir, cell)
            if i:
                _redirect_output(log_path(out_dir, cell),
                                 f"# cell {cell.id}: computed after {cells[i - 1].id} in child "
                                 f"process {os.getpid()}\n")
            record = None if rerun else read_finished(path, cell)
            cached = record is not None
            if record is None:
                record = _compute(cell, fn, path, None, release=i < len(cells) - 1)
            if record is None:
                failed.append(cell.id)
                continue
            rows += [{**r, "cell": cell.id, "cached": cached, "seconds": record.get("seconds")}
                     for r in record["rows"]]
    return rows, failed


def _child_groups(cells: Sequence[Cell], ctx: ChildRunner, jobs: int) -> list[list[Cell]]:
    """The cells of each child process, costliest child first (with several jobs).

    Cells for which ``ctx.child_group`` gives the same name share one child (in table order),
    so that they reuse its traced models (:func:`clrnet.training.reuse.reuse_traced_models`);
    without ``child_group``, or for a None name, a cell has a child of its own.
    """
    group_of = getattr(ctx, "child_group", None)
    groups: dict[Any, list[Cell]] = {}
    for cell in cells:
        name = group_of(cell) if group_of is not None else None
        groups.setdefault(cell.id if name is None else ("group", name), []).append(cell)
    cost = getattr(ctx, "cell_cost", None)
    queue = list(groups.values())
    if cost is not None and jobs > 1:
        queue.sort(key=lambda group: sum(cost(c) for c in group), reverse=True)
    return queue


def _group_command(ctx: ChildRunner, cells: Sequence[Cell]) -> list[str]:
    """The command computing ``cells`` in one child (``ctx.group_command``, or for one cell
    ``ctx.child_command``)."""
    if len(cells) == 1 or not hasattr(ctx, "group_command"):
        if len(cells) != 1:
            raise ExperimentError("this run context cannot compute several cells in one child")
        return ctx.child_command(cells[0])
    return ctx.group_command(cells)


def _run_in_children(cells: Sequence[Cell], ctx: ChildRunner, out_dir: Path, bar: Any,
                     done: dict[str, tuple[dict[str, Any], bool]]) -> list[str]:
    """Compute ``cells`` in child processes, ``ctx.jobs`` at a time; returns the failed ids.

    With more than one job the data are prepared first, by one child running
    ``ctx.prepare_command()``, so that the cells' children only read them, and a child starts
    only while the expected peaks (``ctx.child_memory_mb``) of the children running together
    stay within ``ctx.memory_budget_mb`` (the first group that fits goes next). A child that
    will run alone (nothing runs and no queued group fits beside it, or none is left) gets
    ``ctx.solo_env()``, all the cores: measured on the 2-core AMD EPYC Zen 4, the quick
    Xception's training step takes 0.52 s on one thread and 0.35 s on two, and Table 6's
    grid-search Xception child (3.2 GB) ran alone on one thread for 202 s. Each finished
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
    queue = _child_groups(cells, ctx, jobs)

    def report(child: _Child, index: int) -> None:
        cell, path = child.cells[index], child.paths[index]
        record = json.loads(path.read_text())
        record["child_peak_rss_mb"] = round(child.peak_rss_mb)
        write_json_atomic(path, record)
        done[cell.id] = (record, False)
        now = time.perf_counter()
        say(cell_summary(cell.id, record["rows"], now - child.last_report, cached=False))
        child.done.add(index)
        child.last_report = now
        bar.update(1)

    budget = getattr(ctx, "memory_budget_mb", None) if jobs > 1 else None
    memory = getattr(ctx, "child_memory_mb", None)
    solo_env = ctx.solo_env() if jobs > 1 and hasattr(ctx, "solo_env") else None

    def alone(group: list[Cell]) -> bool:
        """Whether ``group`` (just taken from the queue) will run alone: nothing runs, and no
        queued group is left or fits beside it."""
        if pool.running:
            return False
        if not queue:
            return True
        if budget is None or memory is None:
            return False
        return memory(group) + min(memory(g) for g in queue) > budget

    def next_group() -> list[Cell] | None:
        """The first queued group whose expected peak fits beside the running children's
        (any group when none runs: a child over the budget then runs alone)."""
        if budget is None or memory is None or not pool.running:
            return queue.pop(0)
        used = sum(c.expected_mb for c in pool.running)
        for i, group in enumerate(queue):
            if used + memory(group) <= budget:
                return queue.pop(i)
        return None

    while queue or pool.running:
        while queue and len(pool.running) < pool.jobs:
            group = next_group()
            if group is None:
                break
            env = solo_env if solo_env is not None and alone(group) else None
            pool.start(group, _group_command(ctx, group), [log_path(out_dir, c) for c in group],
                       [cell_path(out_dir, c) for c in group], env)
            if memory is not None:
                pool.running[-1].expected_mb = memory(group)
        ended = pool.wait_any(results=True)
        for child in [*pool.running, *(c for c, _ in ended)]:
            for i in child.new_results():
                report(child, i)
        for child, code in ended:
            for i in range(len(child.cells)):  # the cells the child did not finish
                if i not in child.done:
                    pool.succeeded(child, code, i)  # the error line of cell i, naming its log
                    failed.append(child.cells[i].id)
                    child.done.add(i)
                    bar.update(1)
    cache = getattr(ctx, "cache", None)
    if isinstance(cache, dict):
        cache["children_peak_rss_mb"] = max(cache.get("children_peak_rss_mb", 0),
                                            round(pool.peak_rss_mb))
    return failed
