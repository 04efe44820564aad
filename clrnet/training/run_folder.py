"""The run folder of a training run: its layout, checkpoints, state and history.

``run_dir/`` holds ``args.json`` and ``env.json`` (:mod:`clrnet.run_record`),
``checkpoints/epoch-NNN.keras`` (full model + optimizer state after epoch NNN), ``state.json``
(last finished epoch, best monitor value, patience counter, dropout RNG states),
``best.keras`` (best epoch on the validation monitor), ``final.keras`` (last epoch),
``history.csv`` (one row per epoch, appended across resumes), ``logs/`` (TensorBoard scalars) and
``metrics.json`` (summary written when training ends).
"""

from __future__ import annotations

import csv
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np

from clrnet.errors import ResumeError
from data_prep.fileio import atomic_path

_CKPT_RE = re.compile(r"^epoch-(\d{3,})\.keras$")


def save_model_atomic(model: keras.Model, path: str | os.PathLike) -> Path:
    """Save a model to ``path`` (``.keras``) atomically (:func:`data_prep.fileio.atomic_path`).

    Args:
        model: the model to save (with its optimizer state if compiled).
        path: destination ``.keras`` file.

    Returns:
        The destination path.
    """
    with atomic_path(path) as tmp:
        model.save(tmp)
    return Path(path)


def make_run_dir(root: str | os.PathLike, name: str) -> Path:
    """Create a fresh run folder ``root/<name>-<UTC timestamp>[-k]`` with its sub-folders.

    Args:
        root: parent folder of all runs (created if missing).
        name: short run name, e.g. ``"clrnet-single"``; characters outside ``[A-Za-z0-9._+-]``
            become ``_``.

    Returns:
        The new folder (it holds empty ``checkpoints/`` and ``logs/`` folders).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", name) or "run"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = root / f"{safe}-{stamp}"
    run_dir, k = base, 1
    while True:
        try:
            run_dir.mkdir()
            break
        except FileExistsError:
            k += 1
            run_dir = base.with_name(f"{base.name}-{k}")
    (run_dir / "checkpoints").mkdir()
    (run_dir / "logs").mkdir()
    return run_dir


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Epoch checkpoints of a run folder, sorted by epoch: ``[(epoch, path), ...]``."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    if not ckpt_dir.is_dir():
        return []
    found = []
    for p in ckpt_dir.iterdir():
        m = _CKPT_RE.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def read_state(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The ``state.json`` of a run folder, or None when there is none."""
    path = Path(run_dir) / "state.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ResumeError(f"{path}: unreadable run state ({exc})") from None


def _seed_state_variables(model: keras.Model) -> list[Any]:
    """The seed-generator state variables of a model (dropout and other random layers), in order."""
    return [v for v in model.variables if v.name == "seed_generator_state"]


def get_rng_states(model: keras.Model) -> list[list[int]]:
    """Current states of the model's random-number generators (not stored in ``.keras`` files)."""
    return [np.asarray(v.numpy()).astype(np.int64).tolist() for v in _seed_state_variables(model)]


def set_rng_states(model: keras.Model, states: list[list[int]] | None) -> None:
    """Restore states saved by :func:`get_rng_states` (no-op for None or a count mismatch)."""
    variables = _seed_state_variables(model)
    if not states or len(states) != len(variables):
        return
    for var, value in zip(variables, states, strict=True):
        var.assign(np.asarray(value).astype(var.dtype))


def _truncate_history(path: Path, keep_epochs: int) -> None:
    """Drop rows of ``history.csv`` for epochs >= ``keep_epochs`` (written after the last checkpoint)."""
    if not path.exists():
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    kept = [r for r in body if r and int(float(r[0])) < keep_epochs]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerows([header, *kept])


def _as_float(value: str | None) -> float:
    """A ``history.csv`` cell as a float; Keras writes ``NA`` for metrics it did not compute."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def read_history(run_dir: str | os.PathLike) -> dict[str, list[float]]:
    """``history.csv`` of a run as ``{column: [value per epoch]}`` (``epoch`` is 0-based)."""
    path = Path(run_dir) / "history.csv"
    if not path.exists():
        return {}
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols: dict[str, list[float]] = {}
    for row in rows:
        for k, v in row.items():
            cols.setdefault(k, []).append(_as_float(v))
    return cols
