"""Shared harness of the table scripts: profiles, datasets by name, resumable cells, outputs.

A table is a list of :class:`Cell` (e.g. ``("transfer", "clrnet")``). Each cell's result is a
list of rows ``{section, row, col, metric, ours, ...}`` saved atomically as
``<out>/cells/<cell id>.json``; re-running a script skips every finished cell. The CLRNet table
scripts compute each unfinished cell in a child process (the same script with ``--only-cell``),
because TensorFlow keeps memory after every ``fit`` (tensorflow#61791); ``--in-process`` opts
out. When all cells are done the harness writes ``results.csv``, ``results.md``, a PNG bar
chart (ours vs paper) and the run record (``args.json``, ``env.json`` via
:func:`clrnet.run_record.write_run_record`), and prints the table with the published numbers
beside ours.

Two profiles run the *same* code path:

* ``quick``: the built-in mini benchmark (``data_prep.synth``), small inputs and models, few
  epochs. Its output is titled ":data:`QUICK_TITLE`" and written under ``results/quick/``.
* ``full``: the papers' protocol on the user's data (``--data``), written under ``results/full/``.

The protocols follow Tariq et al. (CLRNet, WWW'21, Sec. 6) and Masi et al. (ECCV'20, Sec. 4);
where a script differs (e.g. fewer videos in quick mode), its docstring says so.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the scripts import TF later, lazily

from data_prep.fileio import atomic_path, write_csv_atomic, write_json_atomic, write_text_atomic  # noqa: E402

MINI_LABEL = "mini benchmark (synthetic stand-in), not FaceForensics++"
QUICK_TITLE = f"{MINI_LABEL} — quick profile"
REPO_ROOT = Path(__file__).resolve().parents[1]

# Short dataset / method codes of the papers -> (adapter, adapter method names).
# Real videos that go with each fake set are in REAL_FOR.
DOMAINS: dict[str, tuple[str, tuple[str, ...]]] = {
    "DF": ("ffpp", ("Deepfakes",)),
    "FS": ("ffpp", ("FaceSwap",)),
    "F2F": ("ffpp", ("Face2Face",)),
    "NT": ("ffpp", ("NeuralTextures",)),
    "DFD": ("ffpp", ("DeepFakeDetection",)),
    "DFDC": ("dfdc_preview", ()),
    "CelebDF": ("celebdf", ()),
    "DFW": ("folder", ()),
}
REAL_FOR: dict[str, tuple[str, ...]] = {
    "DF": ("original",),
    "FS": ("original",),
    "F2F": ("original",),
    "NT": ("original",),
    "DFD": ("original_actors",),
}


class ExperimentError(RuntimeError):
    """A table script cannot run: bad arguments, missing data, a failed cell (one-line message)."""


# --------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """Sizes of one run profile (every table script reads the same fields).

    Args:
        name: ``"quick"`` or ``"full"``.
        image_size: face crop side fed to the models.
        image_sizes: per-model exceptions (e.g. Xception needs at least 71x71).
        clip_len: frames per clip (CLRNet 5).
        clips_per_video: clips extracted per video (CLRNet 16).
        video_limit: cap on extracted videos per dataset, round-robin over methods (None = all).
        epochs: training epochs (single / merge / source model).
        transfer_epochs: epochs of the transfer step.
        batch_size: clips per batch.
        k_videos: target videos per domain for transfer learning (CLRNet: 10).
        lr: learning rate override (None = each model's official default).
        steps_per_epoch: cap on batches per epoch (None = one pass).
        model_overrides: per model name, builder overrides (small widths in quick mode).
        window: frames per sequence for the two-branch network (Masi: 10).
        extract_size: face crop side stored in the TFRecords.
        masi_sampling: clip sampling for the two-branch tables (``"masi"`` windows; the quick
            profile reuses the CLRNet clips so that faces are extracted once).
        masi_size: face crop side stored for the two-branch tables (Masi: 224).
        tb_image_size: two-branch input size.
        tb_overrides: two-branch builder overrides (tiny widths in quick mode).
        tb_lr_patience: epochs without improvement before the two-branch lr is divided by 10.
        tb_epochs: two-branch training epochs (None = ``epochs``).
        tb_steps_per_epoch: two-branch batches per epoch (None = ``steps_per_epoch``; a
            stratified epoch of the mini benchmark is only ~9 batches, too few to learn from).
    """

    name: str
    image_size: int
    clip_len: int
    clips_per_video: int
    video_limit: int | None
    epochs: int
    transfer_epochs: int
    batch_size: int
    k_videos: int
    lr: float | None = None
    image_sizes: Mapping[str, int] = field(default_factory=dict)
    steps_per_epoch: int | None = None
    model_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    window: int = 10
    extract_size: int = 240
    masi_sampling: str = "masi"
    masi_size: int = 224
    tb_image_size: int = 224
    tb_overrides: Mapping[str, Any] = field(default_factory=dict)
    tb_lr_patience: int = 50
    tb_epochs: int | None = None
    tb_steps_per_epoch: int | None = None

    def overrides_for(self, model: str) -> dict[str, Any]:
        """Builder overrides of ``model`` in this profile."""
        return dict(self.model_overrides.get(model, {}))


# Tiny widths for the quick profile: same architectures' code paths, far fewer parameters.
QUICK_MODEL_OVERRIDES: dict[str, dict[str, Any]] = {
    "clrnet": {"repetitions": [1, 1, 1, 1], "initial_filters": 4},
    "clrnet18": {"repetitions": [1, 1, 1, 1], "initial_filters": 4},
    "clrnet34": {"repetitions": [1, 1, 1, 1], "initial_filters": 4},
    "shallownet_v3": {"dense_units": 64},
    "dbirnn": {"backbone": "tiny", "width": 8, "units": 16},
    "cnn_lstm": {"backbone": "tiny", "width": 8, "units": 32, "dense_units": 32},
    # meso4 / mesoinception4 are already tiny (28k parameters); Xception has no width knob
    # (keras.applications) and needs >= 71x71 inputs: it runs full width at 80x80.
}

PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        image_size=64,
        clip_len=5,
        clips_per_video=2,
        video_limit=None,
        epochs=3,
        transfer_epochs=3,
        batch_size=8,
        k_videos=3,
        lr=1e-3,
        image_sizes={"xception": 80},
        model_overrides=QUICK_MODEL_OVERRIDES,
        window=5,
        extract_size=80,
        masi_sampling="clrnet",
        masi_size=80,
        tb_image_size=64,
        tb_overrides={"blocks": (1, 1, 1, 1), "growth_rate": 8, "stem_filters": 16,
                      "lstm_units": 16},
        tb_lr_patience=2,
        tb_epochs=10,
        tb_steps_per_epoch=20,
    ),
    "full": Profile(
        name="full",
        image_size=240,
        clip_len=5,
        clips_per_video=16,
        video_limit=None,
        epochs=50,
        transfer_epochs=50,
        batch_size=16,
        k_videos=10,
        window=10,
        extract_size=240,
    ),
}


# --------------------------------------------------------------------------------------------
# Cells and their resumable execution
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One independently computed part of a table.

    Args:
        key: e.g. ``("transfer", "clrnet")``; its parts form the cell id.
        params: anything the cell function needs (JSON-serialisable, stored with the result).
    """

    key: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """File-system safe id, e.g. ``transfer__clrnet``."""
        return "__".join(re.sub(r"[^A-Za-z0-9_.+-]+", "-", str(k)) for k in self.key)


def cell_path(out_dir: str | os.PathLike, cell: Cell) -> Path:
    """Where a cell's result lives."""
    return Path(out_dir) / "cells" / f"{cell.id}.json"


def release_memory() -> None:
    """Drop what a finished cell left in Keras' global state, then collect Python garbage.

    Measured on 8 cheap Table 5 cells in one process: peak RSS 1.53 -> 1.46 GB. It cannot free
    the native memory TensorFlow keeps after each ``fit`` (tensorflow#61791); child processes
    (:meth:`RunContext.child_command`) do.
    """
    import gc

    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()
    gc.collect()


def _run_child(command: list[str], path: Path, cell: Cell) -> bool:
    """Compute one cell in a child process; True when it wrote the cell's result file."""
    import subprocess

    mtime = path.stat().st_mtime_ns if path.exists() else None
    code = subprocess.run(command, check=False).returncode
    if code == 130:
        raise KeyboardInterrupt
    done = path.exists() and path.stat().st_mtime_ns != mtime
    if not done:
        print(f"error: cell {cell.id}: its child process ended with exit code {code} "
              "without a result (see the lines above)", file=sys.stderr)
    return done


def run_cells(
    cells: Sequence[Cell],
    fn: Callable[[Cell], Sequence[Mapping[str, Any]]],
    out_dir: str | os.PathLike,
    *,
    rerun: bool = False,
    desc: str = "cells",
    progress: bool = True,
    ctx: RunContext | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run every unfinished cell, saving each result atomically; skip finished ones.

    A cell that raises is reported (one line, on stderr) and not saved, so the next run retries
    it; the other cells still run.

    Args:
        cells: the table's cells.
        fn: computes one cell, returning its result rows.
        out_dir: the table's output folder (results go to ``out_dir/cells``).
        rerun: recompute cells even when a result exists.
        desc: progress-bar label.
        progress: show a tqdm bar.
        ctx: the run context of a script that isolates cells: each unfinished cell is then
            computed by a child process running the same script with ``--only-cell`` (TensorFlow
            keeps ~0.4 GB per Xception fit after the model is gone, tensorflow#61791), and a
            child computes only its own cell.

    Returns:
        ``(rows of every finished cell, ids of failed cells)``; each row gains ``cell`` and
        ``cached`` (whether it was read from disk).
    """
    from tqdm.auto import tqdm

    ids = [c.id for c in cells]
    if len(set(ids)) != len(ids):
        raise ExperimentError(f"duplicate cell ids in table: {sorted(i for i in ids if ids.count(i) > 1)}")
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
        cached = path.exists() and not rerun
        if cached:
            try:
                record = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                cached = False
        command = ctx.child_command(cell) if ctx is not None and not cached else None
        if command is not None:
            if not _run_child(command, path, cell):
                failed.append(cell.id)
                continue
            record, cached = json.loads(path.read_text()), False
        elif not cached:
            t0 = time.perf_counter()
            try:
                result = [dict(r) for r in fn(cell)]
            except Exception as exc:  # noqa: BLE001 - one line per failed cell, keep going
                if os.environ.get("DEEPFAKE_REPRO_DEBUG"):
                    raise
                import traceback

                log = path.with_suffix(".error.log")
                log.parent.mkdir(parents=True, exist_ok=True)
                log.write_text(traceback.format_exc())
                msg = str(exc).splitlines()[0] if str(exc) else ""
                print(f"error: cell {cell.id}: {type(exc).__name__}: {msg} (details: {log})",
                      file=sys.stderr)
                failed.append(cell.id)
                continue
            finally:
                release_memory()
            record = {
                "cell": list(cell.key),
                "params": dict(cell.params),
                "seconds": round(time.perf_counter() - t0, 2),
                "rows": result,
            }
            write_json_atomic(path, record)
        for r in record["rows"]:
            rows.append({**r, "cell": cell.id, "cached": cached, "seconds": record.get("seconds")})
    return rows, failed


# --------------------------------------------------------------------------------------------
# Results: averages, paper numbers, CSV / Markdown / PNG
# --------------------------------------------------------------------------------------------


def add_average(
    rows: list[dict[str, Any]], cols: Sequence[str], avg_col: str = "Avg.", metric: str | None = None
) -> list[dict[str, Any]]:
    """Append an average column per (section, row) over ``cols`` (only when all are present).

    Args:
        rows: result rows.
        cols: columns to average.
        avg_col: name of the average column.
        metric: only rows of this metric (None = all metrics separately).

    Returns:
        ``rows`` plus the average rows.
    """
    groups: dict[tuple, dict[str, float]] = {}
    for r in rows:
        if metric is not None and r.get("metric") != metric:
            continue
        groups.setdefault((r["section"], r["row"], r.get("metric")), {})[r["col"]] = r["ours"]
    extra = []
    for (section, row, m), vals in groups.items():
        if all(c in vals for c in cols):
            mean = sum(vals[c] for c in cols) / len(cols)
            extra.append({"section": section, "row": row, "col": avg_col, "metric": m, "ours": mean})
    return rows + extra


def attach_paper(rows: list[dict[str, Any]], table: str | None) -> list[dict[str, Any]]:
    """Add the published value (``paper``) to each row.

    Args:
        rows: result rows.
        table: key of :data:`experiments.paper_tables.PAPER_TABLES` (None: no paper column).

    Returns:
        New rows with ``paper`` set (``nan`` where the paper has no such cell).
    """
    from experiments.paper_tables import paper_value

    out = []
    for r in rows:
        paper = (
            paper_value(table, r["section"], r.get("paper_row", r["row"]), r["col"])
            if table
            else math.nan
        )
        out.append({**r, "paper": paper})
    return out


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def markdown_table(
    rows: Sequence[Mapping[str, Any]], *, title: str, citation: str = "", digits: int = 2
) -> str:
    """Render result rows as Markdown, one pivot table per section, cells ``ours (paper)``.

    Args:
        rows: rows with ``section``, ``row``, ``col``, ``ours`` and optionally ``paper``.
        title: heading (says which data and profile produced the numbers).
        citation: source of the paper column.
        digits: decimals shown.

    Returns:
        Markdown text.
    """
    lines = [f"## {title}", ""]
    if citation:
        lines += [f"Cells: **ours** (paper). Paper column: {citation}.", ""]
    sections: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        sections.setdefault(r["section"], []).append(r)
    for section, srows in sections.items():
        metric = {r.get("metric") for r in srows} - {None, ""}
        label = f"{section}" + (f" — {', '.join(sorted(metric))}" if metric else "")
        cols = list(dict.fromkeys(r["col"] for r in srows))
        names = list(dict.fromkeys(r["row"] for r in srows))
        cell = {(r["row"], r["col"]): r for r in srows}
        lines += [f"### {label}", "", "| method | " + " | ".join(cols) + " |"]
        lines.append("|---|" + "---|" * len(cols))
        for name in names:
            vals = []
            for c in cols:
                r = cell.get((name, c))
                if r is None:
                    vals.append("")
                    continue
                paper = r.get("paper", math.nan)
                text = f"**{_fmt(r['ours'], digits)}**"
                if not (isinstance(paper, float) and math.isnan(paper)):
                    text += f" ({_fmt(paper, digits)})"
                vals.append(text)
            lines.append(f"| {name} | " + " | ".join(vals) + " |")
        lines.append("")
    return "\n".join(lines)


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Write rows to CSV atomically (columns: union of keys, fixed ones first)."""
    first = ["section", "row", "col", "metric", "ours", "paper"]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return write_csv_atomic(path, rows, [c for c in first if c in keys] +
                            [c for c in keys if c not in first])


def bar_chart(
    rows: Sequence[Mapping[str, Any]], path: str | os.PathLike, *, title: str
) -> Path | None:
    """One bar chart per section: ours (solid) vs paper (hatched) for every (row, col).

    Args:
        rows: result rows (``ours``, optional ``paper``).
        path: PNG destination.
        title: figure title.

    Returns:
        The PNG path, or None when there is nothing to plot.
    """
    from experiments.figures import ours_vs_paper_bars

    return ours_vs_paper_bars(rows, path, title=title)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def base_parser(doc: str | None, *, models: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Arguments every table script accepts.

    Args:
        doc: the script's module docstring (shown by ``--help``).
        models: default model list (adds ``--models``) when the table compares models.

    Returns:
        The parser.
    """
    p = argparse.ArgumentParser(
        description=(doc or "").split("\n\n")[0],
        epilog="Without --data the built-in mini benchmark is generated (cached) and the quick "
        "profile is used. Re-running skips finished cells (use --rerun to recompute).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, default=None,
                   help="dataset root (FF++ layout unless the script says otherwise); "
                   "default: the mini benchmark")
    p.add_argument("--quick", action="store_true",
                   help="quick profile (implied without --data): small inputs, widths, epochs")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default results/<quick|full>/<table>)")
    p.add_argument("--work", type=Path, default=None,
                   help="folder for extracted clips, shared by scripts (default <out>/../_prepared)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    p.add_argument("--rerun", action="store_true", help="recompute finished cells")
    p.add_argument("--workers", type=int, default=1, help="face-extraction processes (default 1)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--in-process", action="store_true",
                   help="train every cell in this process (default for the CLRNet tables: one "
                   "child process per cell, so memory TensorFlow keeps after each fit is freed)")
    p.add_argument("--only-cell", default=None, help=argparse.SUPPRESS)  # set for child processes
    if models is not None:
        p.add_argument("--models", nargs="+", default=list(models), metavar="NAME",
                       help=f"models to compare (default: {' '.join(models)})")
    return p


@dataclass
class RunContext:
    """Everything a cell function needs, resolved from the command line.

    Attributes:
        table: script/table name, e.g. ``"table5_transfer"``.
        args: parsed arguments.
        profile: the resolved :class:`Profile`.
        out: the table's output folder.
        work: shared folder for prepared clips.
        data_root: dataset root (the mini benchmark root in quick mode without --data).
        mini: whether the data is the built-in mini benchmark.
        title: the title line of every output.
    """

    table: str
    args: argparse.Namespace
    profile: Profile
    out: Path
    work: Path
    data_root: Path | None
    mini: bool
    title: str
    cache: dict[str, Any] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    script: Path | None = None

    @property
    def only_cell(self) -> str | None:
        """The one cell this (child) process computes, or None."""
        return getattr(self.args, "only_cell", None)

    def child_command(self, cell: Cell) -> list[str] | None:
        """The command computing ``cell`` in a child process (None: compute it in this one)."""
        if self.script is None or self.only_cell or getattr(self.args, "in_process", False):
            return None
        return [sys.executable, str(self.script), *self.argv, "--only-cell", cell.id]

    @property
    def progress(self) -> bool:
        return not getattr(self.args, "no_progress", False)

    def model_dir(self, *parts: str) -> Path:
        """Folder for a trained model/run of this table (kept for resumption)."""
        path = self.out.joinpath("runs", *parts)
        path.mkdir(parents=True, exist_ok=True)
        return path


def resolve_context(table: str, heading: str, args: argparse.Namespace) -> RunContext:
    """Resolve the profile, folders and title from parsed arguments (no heavy work yet).

    Args:
        table: script/table name (output sub-folder).
        heading: what the table is, e.g. "CLRNet Table 5 — merge vs transfer learning".
        args: parsed arguments of :func:`base_parser`.

    Returns:
        The :class:`RunContext`.
    """
    mini = args.data is None
    quick = bool(args.quick or mini)
    profile = PROFILES["quick" if quick else "full"]
    if args.epochs is not None:
        if args.epochs < 1:
            raise ExperimentError(f"--epochs must be >= 1, got {args.epochs}")
        profile = replace(profile, epochs=args.epochs, transfer_epochs=args.epochs,
                          tb_epochs=args.epochs)
    if args.data is not None and not Path(args.data).exists():
        raise ExperimentError(f"--data {args.data}: no such file or directory")
    sub = "quick" if quick else "full"
    if quick and not mini:
        sub = "quick-userdata"
    out = Path(args.out) if args.out else Path.cwd() / "results" / sub / table
    work = Path(args.work) if args.work else out.parent / "_prepared"
    if mini:
        title = f"{heading} — {QUICK_TITLE}"
    elif quick:
        title = f"{heading} — data {args.data} — quick profile (not the paper's protocol)"
    else:
        title = f"{heading} — data {args.data} — full protocol"
    return RunContext(table, args, profile, out, work, args.data, mini, title)


def finish_table(
    ctx: RunContext,
    rows: list[dict[str, Any]],
    *,
    paper_table: str | None,
    failed: Sequence[str] = (),
    digits: int = 2,
    extra_figures: Iterable[Path] = (),
    started: float | None = None,
) -> str:
    """Write results.csv / results.md / figure / run record and return the Markdown.

    Args:
        ctx: the run context.
        rows: all result rows (averages included).
        paper_table: key into :data:`experiments.paper_tables.PAPER_TABLES`.
        failed: ids of cells that failed (listed in the Markdown).
        digits: decimals shown.
        extra_figures: figures the script wrote itself (listed in the record).
        started: ``time.perf_counter()`` at start (for the runtime in the record).

    Returns:
        The Markdown text (also printed by :func:`main`).
    """
    from experiments.paper_tables import CITATIONS

    ctx.out.mkdir(parents=True, exist_ok=True)
    rows = attach_paper(rows, paper_table)
    citation = CITATIONS.get(paper_table, "") if paper_table else ""
    md = markdown_table(rows, title=ctx.title, citation=citation, digits=digits)
    if failed:
        md += "\n**Failed cells (re-run the command to retry):** " + ", ".join(failed) + "\n"
    for note in ctx.cache.get("notes", []):
        md += f"\nNote: {note}\n"
    if ctx.mini:
        md += (
            f"\nData: {MINI_LABEL}. Numbers are NOT comparable with the paper's; the paper "
            "column is shown for orientation only.\n"
        )
    write_text_atomic(ctx.out / "results.md", md)
    figures = [str(p) for p in extra_figures]
    if rows:
        write_csv(rows, ctx.out / "results.csv")
        png = bar_chart(rows, ctx.out / "results.png", title=ctx.title)
        if png is not None:
            figures.insert(0, str(png))
    args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(ctx.args).items()}
    extra = {
        "table": ctx.table,
        "title": ctx.title,
        "profile": asdict(ctx.profile),
        "data_root": str(ctx.data_root) if ctx.data_root else None,
        "mini_benchmark": ctx.mini,
        "failed_cells": list(failed),
        "figures": figures,
        "seconds": round(time.perf_counter() - started, 1) if started else None,
    }
    write_run_record(ctx.out, args, extra)
    return md


def write_run_record(out: Path, args: Mapping[str, Any], extra: Mapping[str, Any]) -> None:
    """The run record via :func:`clrnet.run_record.write_run_record` (args.json, env.json).

    A re-run (resumption) appends to ``resumes.jsonl`` there; ``run.json`` here always holds
    the latest run's facts.
    """
    from clrnet.run_record import write_run_record as _write

    _write(out, args, extra)
    write_json_atomic(out / "run.json", {"args": dict(args), **extra})


def main(
    table: str,
    heading: str,
    parser: argparse.ArgumentParser,
    run: Callable[[RunContext], tuple[list[dict[str, Any]], list[str]]],
    *,
    paper_table: str | None,
    argv: Sequence[str] | None = None,
    digits: int = 2,
) -> int:
    """Entry point shared by the scripts: parse, run the cells, write and print the table.

    Args:
        table: output sub-folder name.
        heading: table heading.
        parser: the script's parser (from :func:`base_parser`).
        run: computes the table's rows: returns ``(rows, failed cell ids)``.
        paper_table: published numbers to print beside ours.
        argv: arguments (default ``sys.argv[1:]``).
        digits: decimals shown.

    Returns:
        Process exit code (0 ok, 1 failed cells, 2 bad input).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        ctx = resolve_context(table, heading, args)
        ctx.argv, ctx.script = argv, REPO_ROOT / "experiments" / f"{table}.py"
        if not ctx.script.is_file():
            ctx.script = None
        ctx.out.mkdir(parents=True, exist_ok=True)
        if ctx.only_cell:  # a child process: compute that cell and leave the table to the parent
            return 1 if run(ctx)[1] else 0
        print(f"{ctx.title}\noutput: {ctx.out}", file=sys.stderr)
        rows, failed = run(ctx)
        md = finish_table(ctx, rows, paper_table=paper_table, failed=failed, digits=digits,
                          extra_figures=ctx.cache.get("figures", ()), started=started)
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
    print(f"written: {ctx.out} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 1 if failed else 0


# --------------------------------------------------------------------------------------------
# Data: the benchmark root, clip extraction, selections by domain code
# --------------------------------------------------------------------------------------------


def benchmark_root(ctx: RunContext) -> Path:
    """The FF++-layout root: ``--data`` or the (cached, built on first use) mini benchmark."""
    if ctx.data_root is not None:
        return Path(ctx.data_root)
    if "mini_root" not in ctx.cache:
        from data_prep.synth import ensure_mini_benchmark

        ctx.cache["mini_root"] = Path(ensure_mini_benchmark())
    return ctx.cache["mini_root"]


def wild_root(ctx: RunContext) -> Path:
    """The in-the-wild (DFW stand-in) folder: ``--wild`` or the mini benchmark's own."""
    given = getattr(ctx.args, "wild", None)
    if given is not None:
        if not Path(given).exists():
            raise ExperimentError(f"--wild {given}: no such file or directory")
        return Path(given)
    if not ctx.mini:
        raise ExperimentError("this table needs an in-the-wild set: pass --wild DIR "
                              "(real/ and fake/ folders of videos, or a CSV)")
    root = benchmark_root(ctx)
    for name in ("in_the_wild", "in-the-wild", "wild", "DFW"):
        if (root / name).is_dir():
            return root / name
    raise ExperimentError(f"{root}: the mini benchmark has no in-the-wild folder")


def prepare_clips(
    ctx: RunContext,
    dataset: str = "ffpp",
    root: Path | None = None,
    *,
    clip_len: int | None = None,
    sampling: str = "clrnet",
    compression: str = "c23",
    size: int | None = None,
) -> Path:
    """Extract face clips once (resumable, shared by all scripts using the same ``--work``).

    Args:
        ctx: the run context.
        dataset: adapter name.
        root: dataset root (default: :func:`benchmark_root`).
        clip_len: frames per clip (default: the profile's).
        sampling: ``"clrnet"`` (non-overlapping clips) or ``"masi"`` (10-frame windows).
        compression: FF++ compression folder.
        size: stored face size (default: the profile's ``extract_size``).

    Returns:
        The manifest path.
    """
    from data_prep.extract import prepare

    p = ctx.profile
    root = Path(root) if root is not None else benchmark_root(ctx)
    clip_len = clip_len or p.clip_len
    size = size or p.extract_size
    tag = f"{dataset}-{compression}-{sampling}-s{size}-t{clip_len}-n{p.clips_per_video}"
    if tag in ctx.cache:
        return ctx.cache[tag]
    out = ctx.work / tag
    if not ctx.only_cell:  # child processes re-open the parent's clips silently
        print(f"preparing clips: {dataset} {root} -> {out}", file=sys.stderr)
    manifest = prepare(
        dataset, root, out, compression=compression, clip_len=clip_len,
        clips_per_video=p.clips_per_video, sampling=sampling, size=size,
        limit=p.video_limit, progress=ctx.progress and not ctx.only_cell,
        workers=getattr(ctx.args, "workers", 1),
    )
    ctx.cache[tag] = Path(manifest)
    return ctx.cache[tag]


def domain_methods(codes: Iterable[str], *, real: bool = True) -> list[str]:
    """Adapter method names of paper domain codes (plus their real videos).

    Args:
        codes: e.g. ``["FS", "DF"]``.
        real: add the matching real sources (youtube originals; DFD actors' originals).

    Returns:
        Method names as stored in the manifest.
    """
    out: list[str] = []
    for code in codes:
        if code not in DOMAINS:
            raise ExperimentError(f"unknown domain {code!r}; expected one of {sorted(DOMAINS)}")
        out += DOMAINS[code][1]
        if real:
            out += REAL_FOR.get(code, ())
    return list(dict.fromkeys(out))


def data_spec(manifest: Path, codes: Iterable[str], splits: Sequence[str], *, real: bool = True):
    """A :class:`clrnet.strategies.DataSpec` for domains ``codes`` (with their real videos)."""
    from clrnet.strategies import DataSpec

    methods = domain_methods(codes, real=real)
    return DataSpec(manifest, methods=tuple(methods) if methods else None, splits=tuple(splits))


def available_codes(manifest: Path, codes: Iterable[str]) -> list[str]:
    """The domain codes whose fake videos exist in a manifest (others are skipped, with a note)."""
    from data_prep.records import read_manifest

    frame = read_manifest(manifest)
    ok = frame[frame["clips_written"].fillna(0).astype(int) > 0] if "clips_written" in frame else frame
    present = {m.lower() for m in ok["method"].unique()}
    return [c for c in codes if DOMAINS[c][1] and all(m.lower() in present for m in DOMAINS[c][1])]


# --------------------------------------------------------------------------------------------
# CLRNet-paper training and evaluation (through clrnet.strategies)
# --------------------------------------------------------------------------------------------


def hyper_params(ctx: RunContext, model: str, *, transfer: bool = False) -> dict[str, Any]:
    """Training hyper-parameters of ``model`` in the run's profile (official defaults otherwise).

    Clip models get the profile's clip length; frame models keep their own (None), so the
    pipeline feeds them single frames.

    Args:
        ctx: the run context.
        model: registry name.
        transfer: the transfer step (uses ``transfer_epochs``).

    Returns:
        Keyword arguments for the ``clrnet.strategies`` functions.
    """
    from clrnet import registry

    p = ctx.profile
    hp: dict[str, Any] = {
        "epochs": p.transfer_epochs if transfer else p.epochs,
        "batch_size": p.batch_size,
        "image_size": p.image_sizes.get(model, p.image_size),
        "seed": ctx.args.seed,
        # One line per epoch: Keras' per-step bars would garble the tqdm bar over cells.
        "verbose": 2 if ctx.progress else 0,
    }
    if not transfer:
        hp["model_overrides"] = p.overrides_for(model)
    clip_model = registry.get(model).kind == "clip"
    hp["clip_len"] = p.clip_len if clip_model else 1  # 1 = single frames
    if p.lr is not None:
        hp["lr"] = p.lr
    if p.steps_per_epoch is not None:
        hp["steps_per_epoch"] = p.steps_per_epoch
    return hp


def _model_file(result: Any, run_dir: Path) -> Path:
    """The trained model's file from whatever a strategy returned (path, result object)."""
    if isinstance(result, str | os.PathLike) and Path(result).is_file():
        return Path(result)
    for attr in ("model_path", "path"):
        value = getattr(result, attr, None)
        if value is not None and Path(value).is_file():
            return Path(value)
    for name in ("best.keras", "final.keras"):
        if (run_dir / name).is_file():
            return run_dir / name
    model = getattr(result, "model", result)
    if hasattr(model, "save"):
        path = run_dir / "final.keras"
        with atomic_path(path) as tmp:
            model.save(tmp)
        return path
    raise ExperimentError(f"{run_dir}: training finished without a model file")


def trained(run_dir: Path, train: Callable[[], Any]) -> Path:
    """Train once: reuse ``run_dir``'s model when a previous run finished it.

    Args:
        run_dir: the run folder (``done.json`` marks completion).
        train: runs the training, returns the strategy's result.

    Returns:
        The model file.
    """
    marker = run_dir / "done.json"
    if marker.exists():
        path = Path(json.loads(marker.read_text())["model"])
        if path.is_file():
            return path
    t0 = time.perf_counter()
    path = _model_file(train(), run_dir)
    write_json_atomic(marker, {"model": str(path), "seconds": round(time.perf_counter() - t0, 1)})
    return path


def train_single(ctx: RunContext, model: str, manifest: Path, codes: Sequence[str], name: str) -> Path:
    """Single-domain (or union-as-one) training on ``codes``' train split; val split monitors.

    Returns:
        The model file.
    """
    from clrnet import strategies

    run_dir = ctx.model_dir(name, model)
    return trained(run_dir, lambda: strategies.train_single(
        model, data_spec(manifest, codes, ("train",)), data_spec(manifest, codes, ("val",)),
        run_dir, **hyper_params(ctx, model)))


def train_merge(ctx: RunContext, model: str, manifest: Path, codes: Sequence[str], name: str) -> Path:
    """Merge learning: the union of ``codes`` with equal samples per domain (Tariq et al. 6.2.1).

    Returns:
        The model file.
    """
    from clrnet import strategies

    run_dir = ctx.model_dir(name, model)
    domains = {c: data_spec(manifest, [c], ("train",)) for c in codes}
    return trained(run_dir, lambda: strategies.train_merge(
        model, domains, data_spec(manifest, codes, ("val",)), run_dir, **hyper_params(ctx, model)))


def train_transfer(
    ctx: RunContext, model: str, manifest: Path, source: str, targets: Sequence[str], name: str
) -> Path:
    """Transfer learning ``source -> targets`` with K videos per target (Tariq et al. 6.2.2).

    The source model is trained first (single domain, cached under ``runs/source-<source>``).

    Returns:
        The transferred model file.
    """
    from clrnet import strategies

    source_path = train_single(ctx, model, manifest, [source], f"source-{source}")
    run_dir = ctx.model_dir(name, model)
    domains = {c: data_spec(manifest, [c], ("train",)) for c in targets}
    return trained(run_dir, lambda: strategies.train_transfer(
        source_path, domains, data_spec(manifest, targets, ("val",)), run_dir,
        k_videos=ctx.profile.k_videos, **hyper_params(ctx, model, transfer=True)))


def load_model(path: Path):
    """Load a saved model of any installed family (:func:`clrnet.registry.load_model`)."""
    from clrnet import registry

    return registry.load_model(path)


def score_codes(
    ctx: RunContext, model_path: Path, manifest: Path, codes: Sequence[str], split: str = "test"
):
    """Clip scores of a model on the ``split`` videos of each domain (fakes + their reals).

    The split is scored once (all domains together) and then partitioned per domain, so a real
    video shared by several domains is scored once.

    Returns:
        ``{code: DataFrame(video_id, method, label, score)}``.
    """
    from clrnet.evaluation import evaluate

    model = load_model(model_path)
    spec = data_spec(manifest, codes, (split,))
    df = evaluate(model, spec, ctx.profile.batch_size, seed=ctx.args.seed)
    out = {}
    for code in codes:
        methods = {m.lower() for m in domain_methods([code])}
        part = df if not methods else df[df["method"].str.lower().isin(methods)]
        if part.empty:
            raise ExperimentError(f"{manifest}: no {split} clips of {code}")
        out[code] = part.reset_index(drop=True)
    return out


def f1_rows(section: str, model: str, scores: Mapping[str, Any]) -> list[dict[str, Any]]:
    """CLRNet-style rows: F1 (%) of the fake class at 0.5 on clip scores, one per column.

    Extra fields: clip AUC, video-level F1 (mean of clip scores) and sample counts.

    Args:
        section: table section.
        model: row name.
        scores: ``{column: DataFrame(video_id, method, label, score)}``.

    Returns:
        Result rows.
    """
    from clrnet import metrics as M
    from clrnet.aggregation import aggregate_scores

    rows = []
    for col, df in scores.items():
        if "clip_index" in df:  # frame models: one row per frame -> mean per clip
            df = aggregate_scores(df, "clip")
        y, s = df["label"].to_numpy(), df["score"].to_numpy()
        video = aggregate_scores(df, "video")
        rows.append({
            "section": section, "row": model, "col": col, "metric": "F1 %",
            "ours": 100.0 * M.f1_at(y, s, 0.5),
            "auc": M.roc_auc(y, s),
            "f1_video": 100.0 * M.f1_at(video["label"], video["score"], 0.5),
            "n_clips": int(len(df)), "n_videos": int(len(video)), "n_fake_videos": int(video["label"].sum()),
        })
    return rows


def manifest_for(ctx: RunContext, code: str) -> Path | None:
    """The prepared-clips manifest holding domain ``code`` (None when its data is not available).

    FF++ codes come from the benchmark root; ``DFW`` from :func:`wild_root`; ``DFDC`` and
    ``CelebDF`` from ``--dfdc`` / ``--celebdf`` (absent from the mini benchmark).
    """
    adapter = DOMAINS[code][0]
    if adapter == "ffpp":
        return prepare_clips(ctx)
    if code == "DFW":
        if ctx.mini or getattr(ctx.args, "wild", None) is not None:
            return prepare_clips(ctx, "folder", wild_root(ctx))
        return None
    given = getattr(ctx.args, {"DFDC": "dfdc", "CelebDF": "celebdf"}[code], None)
    if given is None:
        return None
    return prepare_clips(ctx, adapter, Path(given))


def check_models(names: Sequence[str]) -> None:
    """Fail early, in one line, on a model name the registry does not know."""
    from clrnet import registry

    known = registry.names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ExperimentError(f"unknown model(s) {unknown}; choose from {sorted(known)}")


def restricted_grid_search(
    ctx: RunContext,
    model: str,
    manifest: Path,
    reenactment: Sequence[str],
    swap: Sequence[str],
    val_manifest: Path,
) -> tuple[Path, dict[str, Any]]:
    """Algorithm 1 of Tariq et al. through :func:`clrnet.strategies.restricted_grid_search`.

    The deciding set is the in-the-wild test set, as the paper's "Best (RGS)" column (an
    oracle choice; the script says so).

    Returns:
        ``(chosen model file, {"rgs_pair", "rgs_strategy"})``.
    """
    from clrnet import strategies

    run_dir = ctx.model_dir("rgs", model)
    info_path = run_dir / "rgs_choice.json"

    def train():
        res = strategies.restricted_grid_search(
            model, {c: data_spec(manifest, [c], ("train",)) for c in reenactment},
            {c: data_spec(manifest, [c], ("train",)) for c in swap},
            data_spec(val_manifest, ["DFW"], ("test",)), run_dir, metric="f1",
            k_videos=ctx.profile.k_videos, **hyper_params(ctx, model))
        write_json_atomic(info_path, {"rgs_pair": "+".join(res.pair), "rgs_strategy": res.strategy})
        return res

    path = trained(run_dir, train)
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    return path, info


# --------------------------------------------------------------------------------------------
# Masi et al.: two-branch training and scoring (through twobranch.train)
# --------------------------------------------------------------------------------------------

FFPP_FOUR = ("DF", "FS", "F2F", "NT")


def resolve_compression(ctx: RunContext, compression: str) -> str:
    """``compression``, or ``"c23"`` when the mini benchmark lacks it (noted in the table)."""
    if compression == "c23" or not ctx.mini:
        return compression
    root = benchmark_root(ctx)
    if any(root.glob(f"*_sequences/*/{compression}/videos/*.mp4")):
        return compression
    note = (f"{compression} sections were computed on c23 videos: the mini benchmark has no "
            f"{compression} copies")
    notes = ctx.cache.setdefault("notes", [])
    if note not in notes:
        notes.append(note)
    return "c23"


def prepare_masi(ctx: RunContext, compression: str = "c23") -> Path:
    """Clips for the two-branch tables (10-frame windows in the full profile).

    A compression missing from the mini benchmark (no c40 copies by default) falls back to c23,
    with a note in the table (:func:`resolve_compression`).
    """
    p = ctx.profile
    return prepare_clips(ctx, clip_len=p.window, sampling=p.masi_sampling,
                         compression=resolve_compression(ctx, compression), size=p.masi_size)


def train_twobranch(
    ctx: RunContext,
    name: str,
    manifest: Path,
    codes: Sequence[str],
    *,
    model: str = "two_branch",
    loss: str = "isolation",
    ft: bool = True,
    overrides: Mapping[str, Any] | None = None,
) -> Path:
    """Train Masi et al.'s network with ``python -m twobranch.train``'s code; reuse a finished run.

    Args:
        ctx: the run context.
        name: run name (folder under ``runs/``).
        manifest: prepared clips.
        codes: fake domains trained on (with their real videos).
        model: ``"two_branch"`` or ``"two_branch_frame"``.
        loss: ``"isolation"`` or ``"bce"``.
        ft: the paper's per-layer learning rates ("+ft"); False = one global rate.
        overrides: builder overrides on top of the profile's.

    Returns:
        The saved scorer (``scorer.keras``: (B, 1) P(fake)).
    """
    from twobranch import train as tb

    p = ctx.profile
    run_root = ctx.model_dir(name)
    over = {**p.tb_overrides, **(overrides or {})}
    argv = [
        "--model", model, "--loss", loss, "--train", str(manifest), "--val", str(manifest),
        "--train-splits", "train", "--val-splits", "val",
        "--methods", *domain_methods(codes), "--run-root", str(run_root), "--name", model,
        "--epochs", str(p.tb_epochs or p.epochs), "--batch-size", str(p.batch_size),
        "--image-size", str(p.tb_image_size), "--frames", str(p.window),
        "--lr-patience", str(p.tb_lr_patience), "--seed", str(ctx.args.seed),
        "--verbose", "2" if ctx.progress else "0",
    ]
    steps = p.tb_steps_per_epoch or p.steps_per_epoch
    if steps:
        argv += ["--steps-per-epoch", str(steps)]
    if not ft:
        argv.append("--no-ft")
    for k, v in over.items():
        argv += ["--override", f"{k}={v!r}"]

    def train():
        info = tb.train(tb.build_parser().parse_args(argv))
        return Path(info["run_dir"]) / "scorer.keras"

    return trained(run_root, train)


def score_twobranch(
    ctx: RunContext, model_path: Path, manifest: Path, codes: Sequence[str] | None,
    split: str = "test",
):
    """Sequence (or frame) scores of a two-branch scorer on ``codes`` (None: every video).

    Returns:
        DataFrame(video_id, method, clip_index, label, score).
    """
    from clrnet.evaluation import evaluate
    from clrnet.strategies import DataSpec

    model = load_model(model_path)
    if codes is None:
        spec = DataSpec(manifest, splits=(split,))
    else:
        spec = data_spec(manifest, codes, (split,))
    return evaluate(model, spec, ctx.profile.batch_size, seed=ctx.args.seed)


def masi_rows(
    section: str, row: str, scores, *, level: str, cols: Sequence[str],
    paper_row: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of Masi-style metrics (in %) at one level.

    Args:
        section: table section.
        row: row name.
        scores: DataFrame from :func:`score_twobranch`.
        level: ``"frame"`` (one score per sequence/frame sample) or ``"video"`` (mean per video).
        cols: column names among ``AUC``, ``pAUC@f``, ``tAUC@f``, ``TAR@f``, ``ACC``.
        paper_row: row name in the paper table when it differs.

    Returns:
        Result rows.
    """
    from clrnet import metrics as M
    from clrnet.aggregation import aggregate_scores

    df = aggregate_scores(scores, "video") if level == "video" else scores
    y, s = df["label"].to_numpy(), df["score"].to_numpy()
    out = []
    for col in cols:
        name, _, cut = col.partition("@")
        if name == "AUC":
            value = M.roc_auc(y, s)
        elif name == "ACC":
            value = M.accuracy_at(y, s, 0.5)
        else:
            fn = {"pAUC": M.pauc, "tAUC": M.tauc, "TAR": M.tar_at_far}[name]
            value = fn(y, s, float(cut))
        r = {"section": section, "row": row, "col": col, "metric": "%", "ours": 100.0 * value,
             "level": level, "n": int(len(df)), "n_fake": int(df["label"].sum())}
        if paper_row:
            r["paper_row"] = paper_row
        out.append(r)
    return out
