"""Shared training utilities: run folder, run record, distribution, precision, resumable fit.

Used by ``python -m clrnet.train`` and ``python -m twobranch.train`` (and the experiments
harness), so both papers' models train through one loop with the same outputs:

``run_dir/``
    ``args.json`` (resolved arguments), ``env.json`` (git SHA, versions, cores, CPU flags,
    GPUs), ``checkpoints/epoch-NNN.keras`` (full model + optimizer state after epoch NNN),
    ``state.json`` (last finished epoch, best monitor value, patience counter),
    ``best.keras`` (best epoch on the *validation* monitor), ``final.keras`` (last epoch),
    ``history.csv`` (one row per epoch, appended across resumes), ``logs/`` (TensorBoard
    scalars per epoch) and
    ``metrics.json`` (summary written when training ends).

The official CLRNet notebooks (``shahroztariq/CLRNet``, ``src/CLRNET_*.ipynb``) save a full model
every epoch with ``ModelCheckpoint``, log with ``CSVLogger`` and resume by hand with
``initial_epoch``; this module keeps that behaviour and differs where the notebooks are fragile:

* checkpoints are written to ``*.tmp.keras`` and then moved into place with ``os.replace``
  (Keras only writes files ending in ``.keras``), so an interrupted save never leaves a broken
  checkpoint; only the newest ``keep_checkpoints`` epoch files are kept (a full CLRNet-50 with
  its Adam state is about 3 GB per file);
* early stopping and the best-so-far value are stored in ``state.json`` after every epoch, so
  a resumed run continues the patience count instead of restarting it (``keras.callbacks.
  EarlyStopping`` and ``ModelCheckpoint`` keep that state in memory only);
* "best" is chosen on the validation monitor only (``val_*``); there is no test set here.

Resuming reloads the newest epoch checkpoint (weights, optimizer slots and iteration count)
plus the dropout seed-generator states, which Keras 3.15 does *not* store in ``.keras`` files
(they are re-seeded when the model is rebuilt), so they are kept in ``state.json``; then it
continues with ``initial_epoch``. A run resumed mid-way then ends where an uninterrupted one does,
provided the training data of each epoch does not depend on how many epochs the input
pipeline has already produced: pass ``train_ds`` as a callable ``f(initial_epoch) ->
tf.data.Dataset`` for pipelines whose order is a function of (seed, epoch).
"""

from __future__ import annotations

import csv
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from clrnet.errors import ConfigError, PrecisionError, ResumeError

PRECISION_MODES = ("float32", "mixed_float16", "mixed_bfloat16")
_CKPT_RE = re.compile(r"^epoch-(\d{3,})\.keras$")
_REPO = Path(__file__).resolve().parents[1]
_CPU_FLAGS_OF_INTEREST = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16",
                          "avx512_vnni", "amx_bf16", "amx_tile", "amx_int8")


# --------------------------------------------------------------------------------------------
# Small file helpers
# --------------------------------------------------------------------------------------------

def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if hasattr(obj, "__dataclass_fields__"):
        return {k: getattr(obj, k) for k in obj.__dataclass_fields__}
    return repr(obj)


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` via ``path.tmp`` and ``os.replace``.

    Args:
        path: destination file.
        data: JSON-serialisable object (paths, numpy scalars and dataclasses are converted).

    Returns:
        The destination path.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")
    os.replace(tmp, path)
    return path


def save_model_atomic(model: keras.Model, path: str | os.PathLike) -> Path:
    """Save a model to ``path`` (``.keras``) via ``<stem>.tmp.keras`` and ``os.replace``.

    Args:
        model: the model to save (with its optimizer state if compiled).
        path: destination ``.keras`` file.

    Returns:
        The destination path.
    """
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------------
# Run folder and run record
# --------------------------------------------------------------------------------------------

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


def git_sha(repo: str | os.PathLike = _REPO) -> tuple[str, bool | None]:
    """Return ``(sha, dirty)`` of the git checkout holding this package.

    Returns:
        ``("unknown", None)`` when git or the repository is not available.
    """
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=repo, capture_output=True, text=True, timeout=10,
                                check=True).stdout
        return sha, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return "unknown", None


def cpu_flags() -> list[str]:
    """CPU feature flags relevant to TensorFlow speed and precision (Linux ``/proc/cpuinfo``)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return [f for f in _CPU_FLAGS_OF_INTEREST if f in flags]
    return []


def environment_info() -> dict[str, Any]:
    """Versions, git SHA and hardware of this process, for ``env.json``."""
    sha, dirty = git_sha()
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {
        "git_sha": sha,
        "git_dirty": dirty,
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "gpus": gpus,
        "precision_policy": keras.mixed_precision.global_policy().name,
        "time_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "argv": sys.argv,
    }


def write_run_record(run_dir: str | os.PathLike, args: Mapping[str, Any],
                     extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``args.json`` (resolved arguments) and ``env.json`` (environment) into ``run_dir``.

    When ``args.json`` already exists (a resumed run), the original is kept and the new
    arguments are appended to ``resumes.jsonl`` instead.

    Args:
        run_dir: the run folder.
        args: the fully resolved arguments (defaults filled in).
        extra: optional additional facts stored under ``"extra"`` in ``env.json``.

    Returns:
        The run folder.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    env = environment_info()
    if extra:
        env["extra"] = dict(extra)
    if (run_dir / "args.json").exists():
        with open(run_dir / "resumes.jsonl", "a") as fh:
            fh.write(json.dumps({"args": dict(args), "env": env}, default=_json_default) + "\n")
    else:
        write_json_atomic(run_dir / "args.json", dict(args))
        write_json_atomic(run_dir / "env.json", env)
    return run_dir


# --------------------------------------------------------------------------------------------
# Distribution and precision
# --------------------------------------------------------------------------------------------

def get_strategy(devices: Iterable[str] | None = None) -> tf.distribute.Strategy:
    """Pick the distribution strategy for this process.

    * ``TF_CONFIG`` set with a cluster → ``MultiWorkerMirroredStrategy`` (several machines;
      must be created before any other TensorFlow op runs);
    * explicit ``devices`` → ``MirroredStrategy(devices)`` (e.g. two logical CPUs in tests);
    * more than one visible GPU → ``MirroredStrategy()`` over all of them;
    * otherwise the default (single-device) strategy.

    Args:
        devices: optional device names such as ``["/cpu:0", "/cpu:1"]``.

    Returns:
        A ``tf.distribute.Strategy``; build and compile models inside its ``scope()``. Batch
        sizes given to the input pipeline are global (split across replicas).
    """
    tf_config = os.environ.get("TF_CONFIG")
    if tf_config:
        try:
            cluster = json.loads(tf_config).get("cluster", {})
        except json.JSONDecodeError as exc:
            raise ConfigError(f"TF_CONFIG is not valid JSON: {exc}") from None
        if cluster:
            return tf.distribute.MultiWorkerMirroredStrategy()
    if devices:
        return tf.distribute.MirroredStrategy(devices=list(devices))
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bfloat16 support (AVX512_BF16 or AMX-BF16)."""
    flags = set(cpu_flags())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def set_precision(mode: str = "float32") -> str:
    """Set Keras's global dtype policy.

    Args:
        mode: ``"float32"`` (default), ``"mixed_float16"`` (needs a GPU) or
            ``"mixed_bfloat16"`` (a GPU, or a CPU with AVX512_BF16 / AMX-BF16).

    Returns:
        The policy name now in force. :func:`fit_model` keeps the model's output float32.

    Raises:
        PrecisionError: unknown mode, or hardware that cannot run it.
    """
    if mode not in PRECISION_MODES:
        raise PrecisionError(f"unknown precision {mode!r}; choose one of {', '.join(PRECISION_MODES)}")
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    if mode == "mixed_float16" and not has_gpu:
        raise PrecisionError("precision mixed_float16 needs a GPU and none is visible; "
                             "use float32 (or mixed_bfloat16 on a CPU with AVX512_BF16/AMX)")
    if mode == "mixed_bfloat16" and not (has_gpu or cpu_supports_bf16()):
        raise PrecisionError("precision mixed_bfloat16 needs a GPU or a CPU with AVX512_BF16/AMX; "
                             "this machine has neither")
    keras.mixed_precision.set_global_policy(mode)
    return mode


def ensure_float32_output(model: keras.Model) -> keras.Model:
    """Return ``model`` unchanged if its outputs are float32, else wrap them in float32 casts.

    Under a mixed policy the losses must see float32 probabilities; model builders should give
    their last layer ``dtype="float32"``, and this catches those that did not.
    """
    outputs = model.outputs if isinstance(model.outputs, list) else [model.outputs]
    if all(o.dtype == "float32" for o in outputs):
        return model
    cast = [keras.layers.Activation("linear", dtype="float32", name=f"float32_output_{i}")(o)
            for i, o in enumerate(outputs)]
    return keras.Model(model.inputs, cast if len(cast) > 1 else cast[0], name=model.name)


# --------------------------------------------------------------------------------------------
# Resumable training loop
# --------------------------------------------------------------------------------------------

def monitor_mode(monitor: str, mode: str = "auto") -> str:
    """``"max"`` for accuracy/AUC/F1-like monitors, ``"min"`` otherwise (unless given)."""
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise ConfigError(f"monitor mode must be auto, min or max, got {mode!r}")
    return "max" if re.search(r"acc|auc|f1|precision|recall", monitor) else "min"


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


class RunCheckpoint(keras.callbacks.Callback):
    """Per-epoch checkpoint, best-on-validation model, resumable early stopping.

    After every epoch it (1) updates the best monitor value and writes ``best.keras`` when it
    improved, (2) writes ``checkpoints/epoch-NNN.keras`` and removes older ones beyond
    ``keep``, (3) writes ``state.json``, and (4) stops training once ``patience`` epochs passed
    without improvement. All files are written atomically.

    Args:
        run_dir: the run folder.
        monitor: the logged quantity that decides "best" and early stopping.
        mode: ``"min"`` or ``"max"``.
        patience: epochs without improvement before stopping; None disables early stopping.
        min_delta: smallest change that counts as an improvement.
        keep: number of newest epoch checkpoints to keep (None keeps all).
        state: the restored state of a resumed run.
    """

    def __init__(self, run_dir: Path, monitor: str, mode: str, patience: int | None,
                 min_delta: float = 0.0, keep: int | None = 2,
                 state: Mapping[str, Any] | None = None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.keep = keep
        state = dict(state or {})
        self.best = state.get("best")
        self.best_epoch = state.get("best_epoch")
        self.wait = int(state.get("wait", 0))
        self.stopped_early = bool(state.get("stopped_early", False))
        (self.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        done = epoch + 1
        value = logs.get(self.monitor)
        if value is None:
            raise ConfigError(f"monitor {self.monitor!r} is not among the logged values "
                              f"{sorted(logs)}; pass a validation set or another monitor")
        value = float(value)
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, done, 0
            save_model_atomic(self.model, self.run_dir / "best.keras")
        else:
            self.wait += 1
        save_model_atomic(self.model, self.run_dir / "checkpoints" / f"epoch-{done:03d}.keras")
        if self.keep is not None:
            for _, old in list_checkpoints(self.run_dir)[: -self.keep or None]:
                old.unlink(missing_ok=True)
        if self.patience is not None and self.wait >= self.patience:
            self.stopped_early = True
            self.model.stop_training = True
        write_json_atomic(self.run_dir / "state.json", {
            "epoch": done, "monitor": self.monitor, "mode": self.mode, "best": self.best,
            "best_epoch": self.best_epoch, "wait": self.wait, "stopped_early": self.stopped_early,
            "rng_states": get_rng_states(self.model),
        })


class EpochScalars(keras.callbacks.Callback):
    """Write every epoch's logged values as TensorBoard scalars under ``log_dir/{train,validation}``.

    Uses ``tf.summary.write`` with the scalars-plugin metadata, which TensorFlow provides
    without the ``tensorboard`` package (``keras.callbacks.TensorBoard`` needs that package,
    which this project does not install). TensorBoard reads the files as ordinary scalars.

    Args:
        log_dir: the TensorBoard log folder.
    """

    def __init__(self, log_dir: str | os.PathLike):
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers: dict[str, Any] = {}
        self._metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))

    def _writer(self, kind: str) -> Any:
        if kind not in self._writers:
            self._writers[kind] = tf.summary.create_file_writer(str(self.log_dir / kind))
        return self._writers[kind]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for key, value in (logs or {}).items():
            kind, tag = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writer(kind).as_default():
                tf.summary.write(f"epoch_{tag}", tf.constant(float(value), tf.float32),
                                 step=epoch, metadata=self._metadata)
        for w in self._writers.values():
            w.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        for w in self._writers.values():
            w.close()
        self._writers = {}


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
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerows([header, *kept])
    os.replace(tmp, path)


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


def _optimizer_for(opt: Any, other_strategy: bool) -> Any:
    """The optimizer to compile with, created inside the current distribution scope.

    A callable (not an optimizer) is called here. An optimizer instance made outside a
    non-default strategy's scope cannot be used in it (Keras raises "Mixing different
    tf.distribute.Strategy objects"), and one already used by another model cannot be reused,
    so those are re-created from their config; custom optimizers must then return all their
    arguments from ``get_config``.
    """
    if isinstance(opt, keras.optimizers.Optimizer):
        fresh = other_strategy or getattr(opt, "built", False)
        return opt.__class__.from_config(opt.get_config()) if fresh else opt
    if callable(opt):
        return opt()
    return opt


@dataclass
class FitResult:
    """What :func:`fit_model` returns.

    Attributes:
        model: the trained model (weights of the last epoch run).
        run_dir: the run folder.
        history: every epoch's logged values, across resumes.
        initial_epoch: epochs already done when this call started (0 for a fresh run).
        epochs_done: epochs finished in total.
        best_epoch: 1-based epoch of ``best.keras`` (None without any epoch).
        best_value: its monitor value.
        stopped_early: whether early stopping ended the run.
        seconds: wall time of this call.
    """

    model: keras.Model
    run_dir: Path
    history: dict[str, list[float]] = field(default_factory=dict)
    initial_epoch: int = 0
    epochs_done: int = 0
    best_epoch: int | None = None
    best_value: float | None = None
    stopped_early: bool = False
    seconds: float = 0.0


def fit_model(model_fn: Callable[[], keras.Model],
              train_ds: tf.data.Dataset | Callable[[int], tf.data.Dataset],
              val_ds: tf.data.Dataset | None,
              run_dir: str | os.PathLike,
              *,
              epochs: int,
              resume: bool = False,
              monitor: str = "val_loss",
              mode: str = "auto",
              patience: int | None = None,
              min_delta: float = 0.0,
              compile_kwargs: Mapping[str, Any] | None = None,
              strategy: tf.distribute.Strategy | None = None,
              steps_per_epoch: int | None = None,
              validation_steps: int | None = None,
              class_weight: Mapping[int, float] | None = None,
              extra_callbacks: Iterable[keras.callbacks.Callback] = (),
              keep_checkpoints: int | None = 2,
              tensorboard: bool = True,
              seed: int | None = None,
              verbose: int | str = "auto") -> FitResult:
    """Build, compile and train a model with checkpoints, resume, early stopping and logs.

    Args:
        model_fn: builds the (uncompiled) model; called inside ``strategy.scope()``.
        train_ds: a ``tf.data.Dataset`` of ``(x, y)`` or ``(x, y, sample_weight)``, or a
            callable ``f(initial_epoch)`` returning one (for pipelines whose per-epoch order
            must continue correctly after a resume).
        val_ds: validation dataset (never the test set), or None.
        run_dir: the run folder (see :func:`make_run_dir`).
        epochs: total number of epochs of the run (not "more epochs" on resume).
        resume: continue from the newest checkpoint in ``run_dir`` (fresh start if none).
        monitor: value deciding ``best.keras`` and early stopping; without ``val_ds`` a
            ``val_*`` monitor falls back to the training value of the same name.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        patience: early-stopping patience in epochs (None: no early stopping).
        min_delta: smallest change counted as an improvement.
        compile_kwargs: arguments of ``model.compile`` (optimizer, loss, metrics, ...); the
            optimizer may be a zero-argument callable, called inside the strategy's scope.
        strategy: distribution strategy (default: the current one).
        steps_per_epoch: batches per epoch (needed for infinite datasets).
        validation_steps: validation batches per epoch.
        class_weight: optional ``{label: weight}`` for ``fit``.
        extra_callbacks: more Keras callbacks.
        keep_checkpoints: newest epoch checkpoints to keep (None: all).
        tensorboard: write per-epoch TensorBoard scalars to ``run_dir/logs`` (see
            :class:`EpochScalars`).
        seed: if given, ``keras.utils.set_random_seed(seed)`` before building.
        verbose: Keras ``fit`` verbosity (progress bar by default).

    Returns:
        A :class:`FitResult`; ``run_dir`` then holds ``final.keras`` and ``metrics.json``.

    Raises:
        ResumeError: ``resume`` with an unreadable state or checkpoint.
        ConfigError: a monitor that is never logged.
    """
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    strategy = strategy or tf.distribute.get_strategy()
    if val_ds is None and monitor.startswith("val_"):
        monitor = monitor[4:]
    mode = monitor_mode(monitor, mode)
    if seed is not None:
        keras.utils.set_random_seed(seed)

    state = read_state(run_dir) if resume else None
    ckpts = list_checkpoints(run_dir) if resume else []
    initial_epoch = 0
    outer_strategy = strategy is not tf.distribute.get_strategy()
    with strategy.scope():
        if resume and ckpts:
            last_epoch, last_path = ckpts[-1]
            if state is not None and state.get("epoch") != last_epoch:
                raise ResumeError(f"{run_dir}: state.json says epoch {state.get('epoch')} but the "
                                  f"newest checkpoint is {last_path.name}")
            try:
                model = keras.models.load_model(last_path)
            except Exception as exc:  # noqa: BLE001 - report which file failed, in one line
                raise ResumeError(f"{last_path}: cannot load checkpoint ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
            set_rng_states(model, (state or {}).get("rng_states"))
            initial_epoch = last_epoch
        else:
            state = None
            model = ensure_float32_output(model_fn())
            kwargs = dict(compile_kwargs or {})
            if "optimizer" in kwargs:
                kwargs["optimizer"] = _optimizer_for(kwargs["optimizer"], outer_strategy)
            if kwargs or not model.compiled:
                model.compile(**kwargs)

    ckpt_cb = RunCheckpoint(run_dir, monitor, mode, patience, min_delta, keep_checkpoints, state)
    history_path = run_dir / "history.csv"
    if initial_epoch == 0:
        history_path.unlink(missing_ok=True)
    else:
        _truncate_history(history_path, initial_epoch)
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.CSVLogger(str(history_path), append=True),
        ckpt_cb,
    ]
    if tensorboard:
        callbacks.append(EpochScalars(run_dir / "logs"))
    callbacks.extend(extra_callbacks)

    already_done = ckpt_cb.stopped_early or initial_epoch >= epochs
    if not already_done:
        data = train_ds(initial_epoch) if callable(train_ds) else train_ds
        model.fit(data, validation_data=val_ds, epochs=epochs, initial_epoch=initial_epoch,
                  steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
                  class_weight=dict(class_weight) if class_weight else None,
                  callbacks=callbacks, verbose=verbose, shuffle=False)
    save_model_atomic(model, run_dir / "final.keras")

    history = read_history(run_dir)
    epochs_done = len(history.get("epoch", []))
    last = {k: v[-1] for k, v in history.items() if v and k != "epoch"}
    result = FitResult(model=model, run_dir=run_dir, history=history,
                       initial_epoch=initial_epoch, epochs_done=epochs_done,
                       best_epoch=ckpt_cb.best_epoch, best_value=ckpt_cb.best,
                       stopped_early=ckpt_cb.stopped_early,
                       seconds=time.perf_counter() - t0)
    write_json_atomic(run_dir / "metrics.json", {
        "monitor": monitor, "mode": mode, "best_epoch": result.best_epoch,
        "best_value": result.best_value, "epochs_done": epochs_done, "epochs_requested": epochs,
        "initial_epoch": initial_epoch, "stopped_early": result.stopped_early,
        "last_epoch": last, "seconds_this_call": round(result.seconds, 3),
        "replicas": strategy.num_replicas_in_sync,
        "precision_policy": keras.mixed_precision.global_policy().name,
    })
    return result
