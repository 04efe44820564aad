"""Command line, run context and entry point shared by the table scripts.

Every script is ``main(TABLE, parser, run)`` over :func:`main`:

* ``--profile quick|full`` chooses the protocol profile (default: quick without ``--data``,
  full with it; ``--quick`` = ``--profile quick``); the cells and each cell's settings are
  :func:`experiments.protocol.cells` of that profile (``experiments/PROTOCOL.md``);
* ``--show-config`` prints them, one JSON object per cell and line, and exits 0 without
  reading data or importing TensorFlow;
* ``--max-steps`` / ``--max-batch`` make a smoke run (:class:`experiments.settings.SmokeCaps`);
* results go to ``./results/<quick|quick-userdata|full|full-smoke>/<table>`` (or ``--out``):
  ``results.csv``, ``results.md``, ``results.png``, ``args.json``/``env.json``
  (:func:`clrnet.run_record.write_run_record`) and ``run.json`` with every cell's resolved
  settings; the table is printed with the paper's numbers beside ours and, for the CLRNet
  tables, the paper's claims that the table tests with our verdicts (:mod:`experiments.claims`).

A parent run shows one progress bar over the cells and one line per finished cell with its
clip AUCs; what a cell prints while it runs (Keras' per-epoch lines, warnings) goes to its log,
``<out>/cells/<cell id>.log`` (:func:`experiments.cells.run_cells`).

A parent run computes each unfinished cell of the CLRNet tables in a child process,
``python -m experiments.<table> <same arguments> --only-cell <id>``, with this package's folder
on ``PYTHONPATH`` so that it works whether or not the package is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the scripts import TF later, lazily

from data_prep.fileio import write_json_atomic, write_text_atomic  # noqa: E402
from experiments import protocol as P  # noqa: E402
from experiments.cells import Cell, ExperimentError  # noqa: E402
from experiments.settings import SmokeCaps, resolved_cells  # noqa: E402

QUICK_TITLE = f"{P.MINI_LABEL} — quick profile"
#: The folder holding the ``experiments`` package (put on a child's ``PYTHONPATH``).
PACKAGE_ROOT = Path(__file__).resolve().parents[1]

Select = Callable[[list[dict[str, Any]], argparse.Namespace], list[dict[str, Any]]]


def base_parser(doc: str | None, *, models: Sequence[str] | None = None,
                densenet: bool = False) -> argparse.ArgumentParser:
    """Arguments every table script accepts.

    Args:
        doc: the script's module docstring (its first paragraph is ``--help``'s description).
        models: default model list (adds ``--models``) when the table compares models.
        densenet: add ``--densenet-weights`` (Masi et al. tables: ImageNet DenseNet-121).

    Returns:
        The parser.
    """
    p = argparse.ArgumentParser(
        description=(doc or "").split("\n\n")[0],
        epilog="Without --data the built-in mini benchmark is generated (cached) and the quick "
        "profile is used. --show-config prints every cell's settings (see "
        "experiments/PROTOCOL.md). Re-running skips finished cells (--rerun recomputes).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, default=None,
                   help="dataset root (FF++ layout unless the script says otherwise); "
                   "default: the mini benchmark")
    p.add_argument("--profile", choices=["quick", "full"], default=None,
                   help="protocol profile (default: quick without --data, full with it)")
    p.add_argument("--quick", action="store_true", help="same as --profile quick")
    p.add_argument("--show-config", action="store_true",
                   help="print each cell's resolved settings as one JSON line and exit")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default ./results/<profile>/<table>)")
    p.add_argument("--work", type=Path, default=None,
                   help="folder for extracted clips, shared by scripts (default <out>/../_prepared)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--epochs", type=int, default=None,
                   help="replace every epoch count of the cells (recorded)")
    p.add_argument("--max-steps", type=int, default=None, metavar="N",
                   help="smoke run: at most N training and validation steps per training")
    p.add_argument("--max-batch", type=int, default=None, metavar="B",
                   help="smoke run: batches of at most B samples")
    p.add_argument("--rerun", action="store_true", help="recompute finished cells")
    p.add_argument("--workers", type=int, default=None,
                   help="face-extraction processes (default: 2 in the quick profile on a "
                   "machine with 2 or more cores, else 1)")
    p.add_argument("--jobs", type=int, default=None,
                   help="cells computed at once, each in its own child process with its share "
                   "of the CPU cores (default: 2 in the quick profile on a machine with 2 or "
                   "more cores, else 1; the full profile trains one cell at a time)")
    p.add_argument("--max-memory-gb", type=float, default=None, metavar="GB",
                   help="with several jobs, start a child only while the expected peaks of "
                   "the children running together stay within GB (default: 4 in the quick "
                   "profile, no limit in the full profile; 0: no limit)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--in-process", action="store_true",
                   help="train every cell in this process (default for the CLRNet tables: one "
                   "child process per cell, so memory TensorFlow keeps after each fit is freed)")
    p.add_argument("--only-cell", default=None, help=argparse.SUPPRESS)  # set for child processes
    p.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)  # data child
    if models is not None:
        p.add_argument("--models", nargs="+", default=list(models), metavar="NAME",
                       help=f"models to compare (default: {' '.join(models)})")
    if densenet:
        p.add_argument("--densenet-weights", type=Path, default=None, metavar="FILE",
                       help="local Keras DenseNet-121 weights for cells initialised from "
                       "ImageNet (default: Keras' cached ImageNet weights)")
    return p


#: set in the environment of the cell child processes the parent starts
CHILD_ENV = "DEEPFAKE_REPRO_CELL_CHILD"

#: Rough seconds per quick-profile training step on one thread (batch 8; 2-core AMD EPYC:
#: CLRNet 0.54 s and CNN+LSTM 0.097 s measured alone; Xception 0.60 s on two threads, about
#: 2 s per step in the timed Table 5 run beside a second cell). Only orders the cells.
STEP_SECONDS = {"clrnet": 0.55, "xception": 1.0, "cnn_lstm": 0.1, "dbirnn": 0.09,
                "shallownet_v3": 0.06, "mesoinception4": 0.07}


#: Peak resident memory (MB) of a quick-profile child computing a model's cells of one
#: strategy, measured in the Table 3, 5 and 6 runs of 2026-12-01 (2-core AMD EPYC Zen 4, mini
#: benchmark; a child of one model's cells peaks about where its costliest cell does; a
#: grid-search cell has a child of its own). Only used to keep children whose peaks add up to
#: more than ``--max-memory-gb`` apart.
CHILD_PEAK_MB = {
    "xception": {"single": 2300, "merge": 2400, "transfer": 2700, "rgs": 3200},
    "clrnet": {"single": 1550, "merge": 1750, "transfer": 1950, "rgs": 2100},
}
#: the same for every other quick model (CNN+LSTM, DBiRNN, ShallowNetV3, MesoInception4)
OTHER_CHILD_PEAK_MB = {"single": 1050, "merge": 1150, "transfer": 1150, "rgs": 1350}


def cpu_count() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_jobs(profile: str) -> int:
    """Cells (and extraction processes) at once by default: 2 in the quick profile on a machine
    with 2 or more cores, else 1.

    The quick profile's small models use a second core poorly inside one process (the quick
    CNN+LSTM's training step: 94 ms with 2 threads, 97 ms with 1; tracing and Python work are
    single-threaded) and well in a second process. The full profile trains full-size models,
    one at a time, on all the devices there are.
    """
    return 2 if profile == "quick" and cpu_count() >= 2 else 1


def profile_of(args: argparse.Namespace) -> str:
    """``--profile``, else quick with ``--quick`` or without ``--data``, else full."""
    if getattr(args, "profile", None):
        if args.profile == "full" and getattr(args, "quick", False):
            raise ExperimentError("--quick and --profile full contradict each other")
        return args.profile
    return P.profile_of(args)


@dataclass
class RunContext:
    """Everything a cell function needs, resolved from the command line.

    Attributes:
        table: script/table name, e.g. ``"table5_transfer"``.
        args: parsed arguments.
        profile: ``"quick"`` or ``"full"``.
        cells: the resolved settings of the cells this run may compute, by cell id.
        out: the table's output folder.
        work: shared folder for prepared clips.
        data_root: dataset root (None: the mini benchmark).
        mini: whether the data is the built-in mini benchmark.
        title: the title line of every output.
        smoke: the smoke-run caps (none by default).
        cache: per-process memo (prepared manifests, notes, figures).
        argv: the command-line arguments (repeated for child processes).
        isolate: compute unfinished cells in child processes.
    """

    table: str
    args: argparse.Namespace
    profile: str
    cells: dict[str, dict[str, Any]]
    out: Path
    work: Path
    data_root: Path | None
    mini: bool
    title: str
    smoke: SmokeCaps = field(default_factory=SmokeCaps)
    cache: dict[str, Any] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    isolate: bool = False

    @property
    def only_cell(self) -> str | None:
        """The one cell this (child) process computes, or None."""
        return getattr(self.args, "only_cell", None)

    @property
    def progress(self) -> bool:
        """Whether progress bars and per-epoch lines are shown.

        Always true in a child process (``--only-cell``): its output is the cell's log, which
        keeps the per-epoch lines even when the parent runs with ``--no-progress``.
        """
        return bool(self.only_cell) or not getattr(self.args, "no_progress", False)

    @property
    def seed(self) -> int:
        """The training seed (``--seed``)."""
        return int(getattr(self.args, "seed", 0))

    @property
    def jobs(self) -> int:
        """Cells computed at once in child processes (``--jobs``; default :func:`default_jobs`)."""
        given = getattr(self.args, "jobs", None)
        if given is not None:
            if given < 1:
                raise ExperimentError(f"--jobs must be >= 1, got {given}")
            return int(given)
        return default_jobs(self.profile)

    @property
    def workers(self) -> int:
        """Face-extraction processes (``--workers``; default :func:`default_jobs`)."""
        given = getattr(self.args, "workers", None)
        if given is not None:
            if given < 1:
                raise ExperimentError(f"--workers must be >= 1, got {given}")
            return int(given)
        return default_jobs(self.profile)

    def _own_command(self, *extra: str) -> list[str] | None:
        if not self.isolate or self.only_cell or getattr(self.args, "in_process", False):
            return None
        return [sys.executable, "-m", f"experiments.{self.table}", *self.argv, *extra]

    def child_command(self, cell: Cell) -> list[str] | None:
        """The command computing ``cell`` in a child process (None: compute it in this one)."""
        return self._own_command("--only-cell", cell.id)

    def group_command(self, cells: Sequence[Cell]) -> list[str] | None:
        """The command computing ``cells`` in order in one child process (None: in this one)."""
        return self._own_command("--only-cell", ",".join(c.id for c in cells))

    @property
    def memory_budget_mb(self) -> float | None:
        """``--max-memory-gb`` in MB (default 4 GB in the quick profile, None in the full one;
        None: no limit)."""
        given = getattr(self.args, "max_memory_gb", None)
        if given is not None and given < 0:
            raise ExperimentError(f"--max-memory-gb must be >= 0, got {given}")
        gb = given if given is not None else (4.0 if self.profile == "quick" else 0.0)
        return gb * 1024 if gb else None

    def child_memory_mb(self, cells: Sequence[Cell]) -> float:
        """Expected peak of a child computing ``cells`` (:data:`CHILD_PEAK_MB`): its costliest
        cell's."""
        def peak(cell: Cell) -> float:
            p = cell.params
            table = CHILD_PEAK_MB.get(str(p.get("model")), OTHER_CHILD_PEAK_MB)
            return float(table.get(str(p.get("strategy")), max(table.values())))
        return max(peak(c) for c in cells)

    def child_group(self, cell: Cell) -> str | None:
        """Cells of the same group share a child process: in the quick profile, the cells of
        one model, whose trainings then trace that model once instead of once per cell
        (:func:`clrnet.training.reuse.reuse_traced_models`), except Table 6's grid-search
        cells (measured: the quick Xception child of all four Table 6 cells peaked at 3.9 GB,
        2.7 GB before its grid-search cell); in the full profile every cell has its own child
        (None)."""
        p = cell.params
        if self.profile != "quick" or p.get("strategy") == "rgs":
            return None  # a grid-search cell (three trainings) adds the most memory: alone
        return str(p.get("model"))

    def prepare_command(self) -> list[str] | None:
        """The command preparing every cell's clips in one child process (None: in-process)."""
        return self._own_command("--prepare-only")

    def cell_cost(self, cell: Cell) -> float:
        """Expected CPU seconds of a cell (:data:`STEP_SECONDS` x its training steps, plus a
        fixed part): parallel children start the costliest cells first."""
        p = cell.params
        steps = 0
        for epochs, per_epoch in (("epochs", "steps_per_epoch"),
                                  ("source_epochs", "source_steps_per_epoch"),
                                  ("merge_epochs", "merge_steps_per_epoch")):
            if p.get(epochs) and p.get(per_epoch):
                steps += int(p[epochs]) * int(p[per_epoch])
        return 30.0 + STEP_SECONDS.get(str(p.get("model")), 0.1) * steps

    def solo_env(self) -> dict[str, str]:
        """:meth:`child_env` for a child that runs alone: all the cores."""
        return self.child_env(threads=cpu_count())

    def child_env(self, threads: int | None = None) -> dict[str, str]:
        """This environment with the package's folder first on ``PYTHONPATH``; with several
        jobs each child gets its share of the cores, or ``threads`` (``TF_NUM_INTRAOP_THREADS``,
        ``TF_NUM_INTEROP_THREADS``, ``OMP_NUM_THREADS``) and ``MALLOC_ARENA_MAX=2``, unless
        the caller set them; ``DEEPFAKE_REPRO_CELL_CHILD=1`` marks the child."""
        env = dict(os.environ)
        env[CHILD_ENV] = "1"  # the child may skip interpreter teardown (see ``main``)
        parts = [str(PACKAGE_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
        if self.jobs > 1:
            share = str(threads or max(1, cpu_count() // self.jobs))
            for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
                env.setdefault(name, share)
            # fewer glibc malloc arenas: a quick CNN+LSTM cell peaked at 1.02 instead of 1.13 GB
            env.setdefault("MALLOC_ARENA_MAX", "2")
        return env

    def model_dir(self, *parts: str) -> Path:
        """Folder for a trained model/run of this table (kept for resumption)."""
        path = self.out.joinpath("runs", *parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def cell_list(self, cells: Iterable[Mapping[str, Any]] | None = None) -> list[Cell]:
        """:class:`Cell` objects of resolved cells (default: all of this run), keyed as the
        protocol keys them, with their settings as params."""
        keys = {c.id: c.key for c in P.cell_protocols(self.table, self.profile)}
        chosen = self.cells.values() if cells is None else cells
        return [Cell(tuple(keys[c["cell"]]), dict(c)) for c in chosen]

    def note(self, text: str) -> None:
        """A note printed under the table (also from child processes, via ``notes.txt``)."""
        notes = self.cache.setdefault("notes", [])
        if text in notes:
            return
        notes.append(text)
        path = self.out / "notes.txt"
        old = path.read_text().splitlines() if path.exists() else []
        if text not in old:
            write_text_atomic(path, "\n".join([*old, text]) + "\n")

    def notes(self) -> list[str]:
        """Every note of this run (this process's and its children's)."""
        path = self.out / "notes.txt"
        found = path.read_text().splitlines() if path.exists() else []
        return list(dict.fromkeys([*self.cache.get("notes", []), *found]))


def resolve_context(table: str, args: argparse.Namespace, *, select: Select | None = None,
                    isolate: bool = False) -> RunContext:
    """Resolve profile, cells, folders and title from parsed arguments (no heavy work yet).

    Args:
        table: script/table name (output sub-folder).
        args: parsed arguments of :func:`base_parser`.
        select: the script's filter of the protocol cells by its own options (e.g. ``--models``).
        isolate: compute unfinished cells in child processes.

    Returns:
        The :class:`RunContext`.

    Raises:
        ExperimentError: bad arguments or missing ``--data``.
    """
    profile = profile_of(args)
    mini = args.data is None
    if profile == "full" and mini:
        raise ExperimentError("the full profile needs --data (a dataset root); without it the "
                              "quick profile runs on the mini benchmark")
    if args.data is not None and not Path(args.data).exists():
        raise ExperimentError(f"--data {args.data}: no such file or directory")
    if args.epochs is not None and args.epochs < 1:
        raise ExperimentError(f"--epochs must be >= 1, got {args.epochs}")
    smoke = SmokeCaps(getattr(args, "max_steps", None), getattr(args, "max_batch", None))
    cells = resolved_cells(table, profile, epochs=args.epochs, seed=args.seed)
    if select is not None:
        cells = select(cells, args)
    sub = profile if not (profile == "quick" and not mini) else "quick-userdata"
    if smoke.active:
        sub += "-smoke"
    out = Path(args.out) if args.out else Path.cwd() / "results" / sub / table
    work = Path(args.work) if args.work else out.parent / "_prepared"
    heading = P.HEADINGS[table]
    if mini:
        title = f"{heading} — {QUICK_TITLE}"
    elif profile == "quick":
        title = f"{heading} — data {args.data} — quick profile (not the paper's protocol)"
    else:
        title = f"{heading} — data {args.data} — full protocol"
    if smoke.active:
        title += f" — {smoke.describe()}"
    ctx = RunContext(table, args, profile, {c["cell"]: c for c in cells}, out, work,
                     args.data, mini, title, smoke, isolate=isolate)
    ctx.jobs, ctx.workers, ctx.memory_budget_mb  # noqa: B018 - reject bad values before any work
    return ctx


def run_record(ctx: RunContext, failed: Sequence[str], figures: Sequence[str],
               started: float | None, claims: Sequence[Mapping[str, str]] = ()
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(args, extra)`` of the run record: the arguments and the resolved cell settings."""
    args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(ctx.args).items()}
    extra = {
        "table": ctx.table,
        "title": ctx.title,
        "profile": ctx.profile,
        "smoke": ctx.smoke.as_record() if ctx.smoke.active else None,
        "cells": ctx.cells,
        "quick_values": P.QUICK if ctx.profile == "quick" else None,
        "data_root": str(ctx.data_root) if ctx.data_root else None,
        "mini_benchmark": ctx.mini,
        "notes": ctx.notes(),
        "failed_cells": list(failed),
        "figures": list(figures),
        "claims": [dict(c) for c in claims],
        "seconds": round(time.perf_counter() - started, 1) if started else None,
        "jobs": ctx.jobs,
        # the largest sampled sum of the resident memory of the cells' children running
        # together (MB; None when every cell was computed in this process or read from disk)
        "children_peak_rss_mb": ctx.cache.get("children_peak_rss_mb"),
    }
    return args, extra


def write_run_record(out: Path, args: Mapping[str, Any], extra: Mapping[str, Any]) -> None:
    """The run record via :func:`clrnet.run_record.write_run_record` (args.json, env.json).

    A re-run (resumption) appends to ``resumes.jsonl`` there; ``run.json`` here always holds
    the latest run's facts (arguments, profile, every cell's resolved settings).
    """
    from clrnet.run_record import write_run_record as _write

    _write(out, {**args, "cells": extra.get("cells")}, extra)
    write_json_atomic(out / "run.json", {"args": dict(args), **extra})


def finish_table(ctx: RunContext, rows: list[dict[str, Any]], *, paper_table: str | None,
                 failed: Sequence[str] = (), digits: int = 2,
                 extra_figures: Iterable[Path] = (), started: float | None = None,
                 claims: Sequence[Any] = ()) -> str:
    """Write results.csv / results.md / figure / run record and return the Markdown.

    Args:
        ctx: the run context.
        rows: all result rows (averages included).
        paper_table: key into :data:`experiments.paper_tables.PAPER_TABLES`.
        failed: ids of cells that failed (listed in the Markdown).
        digits: decimals shown.
        extra_figures: figures the script wrote itself (listed in the record).
        started: ``time.perf_counter()`` at start (for the runtime in the record).
        claims: the paper's claims the table tests (:class:`experiments.claims.Claim`); their
            verdicts on ``rows`` go under the table and into ``run.json``.

    Returns:
        The Markdown text.
    """
    from experiments import claims as CL
    from experiments.paper_tables import CITATIONS
    from experiments.results import attach_paper, bar_chart, markdown_table, write_csv

    ctx.out.mkdir(parents=True, exist_ok=True)
    rows = attach_paper(rows, paper_table)
    citation = CITATIONS.get(paper_table, "") if paper_table else ""
    md = markdown_table(rows, title=ctx.title, citation=citation, digits=digits)
    verdicts = CL.evaluate(claims, rows) if claims else []
    if verdicts:
        md += "\n" + CL.markdown(verdicts)
    if failed:
        md += "\n**Failed cells (re-run the command to retry):** " + ", ".join(failed) + "\n"
    for note in ctx.notes():
        md += f"\nNote: {note}\n"
    md += (f"\nSettings of every cell: `run.json` here, or `--show-config` "
           f"(profile {ctx.profile}; experiments/PROTOCOL.md).\n")
    if ctx.mini:
        md += (f"\nData: {P.MINI_LABEL}. Numbers are NOT comparable with the paper's; the "
               "paper column is shown for orientation only.\n")
    write_text_atomic(ctx.out / "results.md", md)
    figures = [str(p) for p in extra_figures]
    if rows:
        write_csv(rows, ctx.out / "results.csv")
        png = bar_chart(rows, ctx.out / "results.png", title=ctx.title)
        if png is not None:
            figures.insert(0, str(png))
    args, extra = run_record(ctx, failed, figures, started, verdicts)
    write_run_record(ctx.out, args, extra)
    return md


def show_config(ctx_cells: Iterable[Mapping[str, Any]], file=None) -> int:
    """Print resolved cells, one JSON object per line; 0."""
    out = file or sys.stdout
    try:
        for c in ctx_cells:
            out.write(json.dumps(c, ensure_ascii=False) + "\n")
        out.flush()
    except BrokenPipeError:  # e.g. piped into head
        pass
    return 0


def main(table: str, parser: argparse.ArgumentParser,
         run: Callable[[RunContext], tuple[list[dict[str, Any]], list[str]]], *,
         paper_table: str | None, argv: Sequence[str] | None = None, digits: int = 2,
         select: Select | None = None, isolate: bool = False, claims: Sequence[Any] = ()
         ) -> int:
    """Entry point shared by the scripts: parse, run the cells, write and print the table.

    Args:
        table: table name (protocol table and output sub-folder).
        parser: the script's parser (from :func:`base_parser`).
        run: computes the table's rows: returns ``(rows, failed cell ids)``.
        paper_table: published numbers to print beside ours.
        argv: arguments (default ``sys.argv[1:]``).
        digits: decimals shown.
        select: the script's filter of the protocol cells by its own options.
        isolate: compute unfinished cells in child processes (unless ``--in-process``).
        claims: the paper's claims the table tests (:func:`experiments.claims.claims_for`).

    Returns:
        Process exit code (0 ok, 1 failed cells, 2 bad input, 130 interrupted).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        if args.show_config:
            cells = resolved_cells(table, profile_of(args), epochs=args.epochs, seed=args.seed)
            return show_config(select(cells, args) if select else cells)
        ctx = resolve_context(table, args, select=select, isolate=isolate)
        ctx.argv = argv
        ctx.out.mkdir(parents=True, exist_ok=True)
        if ctx.only_cell:  # a child process: compute that cell and leave the table to the parent
            code = 1 if run(ctx)[1] else 0
            if os.environ.get(CHILD_ENV) == "1":
                # a child started by the parent: its record is on disk (atomic writes), so skip
                # TensorFlow's teardown (about 2 s per quick cell, 2-core AMD EPYC)
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
            return code
        if args.prepare_only:  # a child process: extract the clips every cell reads, then stop
            from experiments.data import prepare_cells

            prepare_cells(ctx, ctx.cells.values())
            return 0
        from data_prep.locking import FolderLock

        # one run per results folder: a second one stops here, naming the first (pid, host)
        with FolderLock(ctx.out, what=f"{table} writing {ctx.out}", name=table,
                        hint="or pass another --out"):
            (ctx.out / "notes.txt").unlink(missing_ok=True)
            print(f"{ctx.title}\noutput: {ctx.out}", file=sys.stderr)
            rows, failed = run(ctx)
            md = finish_table(ctx, rows, paper_table=paper_table, failed=failed, digits=digits,
                              extra_figures=ctx.cache.get("figures", ()), started=started,
                              claims=claims)
    except KeyboardInterrupt:
        print("error: interrupted; finished cells are saved, re-run to continue", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line, never a raw traceback
        if os.environ.get("DEEPFAKE_REPRO_DEBUG"):
            raise
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 2
    print(md)
    peak = ctx.cache.get("children_peak_rss_mb")
    memory = f"; cells' processes at most {peak / 1024:.1f} GB together" if peak else ""
    print(f"written: {ctx.out} ({time.perf_counter() - started:.0f} s{memory})", file=sys.stderr)
    return 1 if failed else 0
