"""CLRNet-paper trainings and scoring of the table scripts, through ``clrnet.strategies``.

Each function takes a resolved protocol cell (:func:`experiments.settings.resolved_cells`) and
trains exactly what it says: the cell's model, input size and clip length per training phase
(source, single, merge, transfer), epochs, batch size, learning rate, augmentation (CLRNet
only), checkpoint selection on the validation splits (``monitor``), the model configuration,
the transfer data (K real + K fake videos per domain, the source domain's mixed in, the first
half of the layers frozen) and the split rules; :class:`experiments.settings.SmokeCaps` caps
steps and batches of a smoke run. A finished training is reused (``done.json`` with the
settings it was trained with); other settings train again.

Calls whose arguments the installed ``clrnet.strategies`` may not accept yet go through the
small adapters :func:`_supported` (``train_transfer(per_label=)``, ``restricted_grid_search(
select_on=, merge_hp=)``); what was not applied becomes a note under the table.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_prep.fileio import atomic_path, write_json_atomic
from experiments import settings as S
from experiments.cells import ExperimentError, release_memory
from experiments.data import data_spec, domain_methods, eval_clips_of

if TYPE_CHECKING:
    from experiments.context import RunContext

#: Protocol loss prefix of each registry loss name.
LOSSES = {"mse": "mean_squared_error", "binary_crossentropy": "binary_crossentropy"}
ADAM = "adam(beta_1=0.9, beta_2=0.999)"


def check_models(names: Sequence[str]) -> None:
    """Fail early, in one line, on a model name the registry does not know.

    The protocol's own models are known without importing the registry, so that a table's
    parent process, which only runs child processes, never loads TensorFlow (about 0.7 GB of
    resident memory beside the children).
    """
    from experiments.protocol import TARIQ_MODELS

    if set(names) <= set(TARIQ_MODELS):
        return
    from clrnet import registry

    known = registry.names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ExperimentError(f"unknown model(s) {unknown}; choose from {sorted(known)}")


@functools.cache
def _supported(function: str, parameter: str) -> bool:
    """Whether ``clrnet.strategies.<function>`` takes ``parameter`` (adapter for the interface
    being extended at the same time)."""
    from clrnet import strategies

    params = inspect.signature(getattr(strategies, function)).parameters
    return parameter in params


# ----------------------------------------------------------------------------------- runs
def _fingerprint(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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


def _finished(run_dir: Path, key: str) -> Path | None:
    """The model of ``run_dir`` when a training with settings ``key`` finished it."""
    marker = run_dir / "done.json"
    if not marker.exists():
        return None
    done = json.loads(marker.read_text())
    path = Path(done["model"])
    return path if path.is_file() and done.get("settings", key) == key else None


def trained(run_dir: Path, train: Callable[[], Any], settings: Any = None,
            twins: Sequence[Path] = ()) -> Path:
    """Train once: reuse ``run_dir``'s model when a run with the same settings finished it.

    Args:
        run_dir: the run folder (``done.json`` marks completion).
        train: runs the training, returns the strategy's result.
        settings: what the training depends on (JSON-ready); another value trains again.
        twins: other run folders whose finished model is reused when its settings are the
            same (e.g. Table 6's single-domain FS model is its transfer cells' source).

    Returns:
        The model file.
    """
    key = _fingerprint(settings)
    for folder in (run_dir, *twins):
        path = _finished(folder, key)
        if path is not None:
            return path
    marker = run_dir / "done.json"
    t0 = time.perf_counter()
    path = _model_file(train(), run_dir)
    write_json_atomic(marker, {"model": str(path), "settings": key,
                               "seconds": round(time.perf_counter() - t0, 1)})
    release_memory()  # the trained model is on disk: the next phase loads what it needs
    return path


def load_model(path: Path):
    """Load a saved model of any installed family for scoring (:func:`clrnet.registry.load_model`;
    without its optimizer state, which scoring never uses: Xception's is 2 x 84 MB)."""
    from clrnet import registry

    return registry.load_model(path, compile=False)


# ----------------------------------------------------------------------------------- settings
#: Keys of each training phase's settings in a cell (epochs, batch size, input size, fraction,
#: steps per epoch).
PHASE_KEYS = {
    "train": ("epochs", "batch_size", "input_size", "epoch_fraction", "steps_per_epoch"),
    "source": ("source_epochs", "source_batch_size", "input_size", None,
               "source_steps_per_epoch"),
    "merge": ("merge_epochs", "merge_batch_size", "merge_input_size", "merge_epoch_fraction",
              "merge_steps_per_epoch"),
}


def _check(cell: Mapping[str, Any]) -> None:
    """Settings the CLRNet-paper strategies implement in one way only."""
    from clrnet import registry

    S.check_constant_schedule(cell)
    if cell["optimizer"] != ADAM:
        raise ExperimentError(f"{cell['table']}/{cell['cell']}: optimizer {cell['optimizer']!r} "
                              f"is not the strategies' {ADAM}")
    want = LOSSES.get(registry.get(cell["model"]).loss, "?")
    if not str(cell["loss"]).startswith(want):
        raise ExperimentError(f"{cell['table']}/{cell['cell']}: loss {cell['loss']!r} is not the "
                              f"registry's {want} for {cell['model']}")


def _train_samples(manifest: Path, codes: Sequence[str], frames_per_clip: int,
                   clips_per_video: int) -> int:
    """Training samples of ``codes`` in ``manifest`` (stored train split)."""
    from data_prep.records import read_manifest

    frame = read_manifest(manifest)
    methods = {m.lower() for m in domain_methods(codes)}
    sel = frame[frame["method"].str.lower().isin(methods) & (frame["split"] == "train")]
    clips = sel["clips_written"].fillna(0).astype(int).clip(upper=clips_per_video).sum()
    return int(clips) * frames_per_clip


def pipeline_kwargs(ctx: RunContext) -> dict[str, Any]:
    """tf.data settings of every pipeline a cell reads (``data_prep.pipeline.get_dataset``).

    The quick profile's cells, CPU-bound trainings of small models that share the cores, run
    their pipelines without tf.data's autotuning thread: destroying a training's iterator at the
    end of each ``fit`` waited up to a minute for it (measured in
    ``data_prep.pipeline.get_dataset``, ``autotune``), longer than many quick trainings. The
    full profile keeps it (input throughput matters on a GPU).
    """
    return {"autotune": False} if ctx.profile == "quick" else {}


def hparams(ctx: RunContext, cell: Mapping[str, Any], phase: str = "train", *,
            manifest: Path | None = None, codes: Sequence[str] = ()) -> dict[str, Any]:
    """Keyword arguments of the ``clrnet.strategies`` functions for one training of ``cell``.

    Args:
        ctx: the run context (seed, verbosity, smoke caps).
        cell: the resolved cell.
        phase: ``"train"`` (the cell's own training: single, merge or transfer step),
            ``"source"`` (a transfer cell's single-domain source model) or ``"merge"`` (the
            merge candidates of the restricted grid search).
        manifest: the training clips (only needed for an epoch fraction below 1).
        codes: the training domains (same).

    Returns:
        :class:`clrnet.strategies.HParams` fields.
    """
    _check(cell)
    epochs_key, batch_key, size_key, fraction_key, steps_key = PHASE_KEYS[phase]
    clip_len = int(cell["clip_len"])
    batch = ctx.smoke.batch(int(cell[batch_key]))
    steps = cell.get(steps_key, cell.get("steps_per_epoch"))
    fraction = float(cell[fraction_key]) if fraction_key else 1.0
    if fraction != 1.0 and manifest is not None:
        stored = 5 if clip_len == 1 else clip_len
        n = _train_samples(manifest, codes, stored if clip_len == 1 else 1,
                           max(1, int(cell["frames_per_video"]) // stored))
        steps = max(1, math.ceil(fraction * n / batch))
    hp: dict[str, Any] = {
        "epochs": ctx.smoke.epochs(int(cell[epochs_key])),
        "batch_size": batch,
        "lr": float(cell["lr"]),
        "image_size": int(cell[size_key]),
        "clip_len": clip_len,  # 1 = single frames
        "seed": ctx.seed,
        "monitor": S.monitor_of(cell),
        "augment": S.augment_of(cell),
        "patience": S.clrnet_patience_of(cell),
        "bn_recalibration": S.bn_recalibration_of(cell),
        # validation reads what the test scoring reads (eval_*_per_video)
        "val_clips_per_video": eval_clips_of(cell),
        # One line per epoch: Keras' per-step bars would garble the tqdm bar over cells.
        "verbose": 2 if ctx.progress else 0,
    }
    if tf_data := pipeline_kwargs(ctx):
        hp["pipeline_kwargs"] = tf_data
    steps = ctx.smoke.steps(steps)
    if steps is not None:
        hp["steps_per_epoch"] = steps
    if ctx.smoke.max_steps is not None:
        hp["validation_steps"] = ctx.smoke.max_steps
    if ctx.smoke.active:
        hp["keep_checkpoints"] = 0  # smoke runs: CLRNet-50 checkpoints are ~1 GB each
    if phase != "train" or "source_domain" not in cell:  # a transfer step keeps the source's
        hp["model_overrides"] = S.model_overrides_of(cell)
    init = S.init_weights_of(cell)
    if init not in ("none",) and not init.startswith("source:"):
        raise ExperimentError(f"{cell['table']}/{cell['cell']}: init_weights {init!r} is not "
                              "implemented for the CLRNet-paper strategies")
    return hp


def _freeze(cell: Mapping[str, Any]) -> str:
    if str(cell.get("freeze", "")).startswith("first half"):
        return "first_half"
    raise ExperimentError(f"{cell['table']}/{cell['cell']}: freeze {cell.get('freeze')!r} is "
                          "not implemented")


# ----------------------------------------------------------------------------------- strategies
def train_single(ctx: RunContext, cell: Mapping[str, Any], manifest: Path, codes: Sequence[str],
                 name: str, *, phase: str = "train") -> Path:
    """Single-domain learning (Tariq et al. Sec. 4.2.1) on ``codes``' training videos; the
    validation videos of the same domains select the checkpoint.

    Returns:
        The model file.
    """
    from clrnet import strategies

    model = cell["model"]
    run_dir = ctx.model_dir(name, model)
    hp = hparams(ctx, cell, phase, manifest=manifest, codes=codes)
    train = data_spec(ctx, cell, manifest, codes, ("train",))
    val = data_spec(ctx, cell, manifest, codes, ("val",))
    # a single-domain model and a transfer source of the same domain and settings are one
    # training ("single-FS" / "source-FS"): whichever cell comes second reuses the model
    kind, _, domains = name.partition("-")
    twin = {"single": "source", "source": "single"}.get(kind)
    twins = [ctx.out / "runs" / f"{twin}-{domains}" / model] if twin else []
    return trained(run_dir, lambda: strategies.train_single(model, train, val, run_dir, **hp),
                   {"hp": hp, "train": repr(train), "val": repr(val)}, twins)


def train_merge(ctx: RunContext, cell: Mapping[str, Any], manifest: Path, codes: Sequence[str],
                name: str, *, phase: str = "train") -> Path:
    """Merge learning (Tariq et al. Sec. 4.2.2): the union of the domains' training videos.

    Returns:
        The model file.
    """
    from clrnet import strategies

    model = cell["model"]
    run_dir = ctx.model_dir(name, model)
    hp = hparams(ctx, cell, phase, manifest=manifest, codes=codes)
    domains = {c: data_spec(ctx, cell, manifest, [c], ("train",)) for c in codes}
    val = data_spec(ctx, cell, manifest, codes, ("val",))
    return trained(run_dir, lambda: strategies.train_merge(model, domains, val, run_dir, **hp),
                   {"hp": hp, "train": repr(domains), "val": repr(val)})


def _transfer_kwargs(ctx: RunContext, cell: Mapping[str, Any],
                     function: str = "train_transfer") -> dict[str, Any]:
    kwargs: dict[str, Any] = {"k_videos": int(cell["k_videos"]), "freeze": _freeze(cell)}
    if _supported(function, "per_label"):
        kwargs["per_label"] = True
    else:
        ctx.note(f"transfer: the installed clrnet.strategies.{function} has no per_label: "
                 "K videos per domain, not K real + K fake")
    return kwargs


def train_transfer(ctx: RunContext, cell: Mapping[str, Any], manifest: Path, source: str,
                   targets: Sequence[str], name: str) -> Path:
    """Transfer learning ``source -> targets`` (Tariq et al. Sec. 4.2.3, 5.2.3).

    The source model is trained first (single domain, ``source_*`` settings, cached under
    ``runs/source-<source>``); the transfer step trains on K real + K fake training videos of
    each target and of the source (the official transfer data), the first half of the layers
    frozen; the validation videos of all these domains select the checkpoint.

    Returns:
        The transferred model file.
    """
    from clrnet import strategies

    source_path = train_single(ctx, cell, manifest, [source], f"source-{source}", phase="source")
    run_dir = ctx.model_dir(name, cell["model"])
    hp = hparams(ctx, cell, "train")
    kwargs = _transfer_kwargs(ctx, cell)
    domains = {c: data_spec(ctx, cell, manifest, [c], ("train",)) for c in targets}
    src = data_spec(ctx, cell, manifest, [source], ("train",))
    val = data_spec(ctx, cell, manifest, [source, *targets], ("val",))
    return trained(run_dir, lambda: strategies.train_transfer(
        source_path, domains, val, run_dir, source_data=src, **kwargs, **hp),
        {"hp": hp, "kw": kwargs, "source": str(source_path), "train": repr(domains),
         "src": repr(src), "val": repr(val)})


def restricted_grid_search(ctx: RunContext, cell: Mapping[str, Any], manifest: Path,
                           reenactment: Sequence[str], swap: Sequence[str],
                           wild_manifest: Path) -> tuple[Path, dict[str, Any]]:
    """Algorithm 1 of Tariq et al. through :func:`clrnet.strategies.restricted_grid_search`.

    Checkpoints are selected on the training domains' validation videos; the pair (and, per
    pair, transfer vs merge) is chosen by accuracy on the DFW test set, as the paper's
    "Best (RGS)" column (an oracle; the table says so).

    Returns:
        ``(chosen model file, {"rgs_pair", "rgs_strategy", "rgs_chosen_on"})``.
    """
    from clrnet import strategies

    run_dir = ctx.model_dir("rgs", cell["model"])
    info_path = run_dir / "rgs_choice.json"
    codes = [*reenactment, *swap]
    hp = hparams(ctx, cell, "train")
    extra = {"source_hp": hparams(ctx, cell, "source", manifest=manifest, codes=codes[:1])}
    if _supported("restricted_grid_search", "merge_hp"):
        extra["merge_hp"] = hparams(ctx, cell, "merge", manifest=manifest, codes=codes)
    else:
        ctx.note("restricted grid search: the installed strategy takes no merge_hp; its merge "
                 "candidates use the transfer settings")
    hp["model_overrides"] = S.model_overrides_of(cell)
    wild = data_spec(ctx, cell, wild_manifest, ["DFW"], ("test",))
    if _supported("restricted_grid_search", "select_on"):
        # each run validates on its own training domains' val videos
        val = {c: data_spec(ctx, cell, manifest, [c], ("val",)) for c in codes}
        extra.update(val=val, select_on=wild)
        chosen_on = "DFW test set (oracle); checkpoints on the training domains' val splits"
        ctx.note("best RGS: the pair is chosen on the DFW test set (an oracle, as the paper's "
                 "analysis); each candidate's checkpoint on its training domains' val splits")
    else:
        extra.update(val=wild)
        chosen_on = "DFW test set (oracle), checkpoints too (no select_on in the installed strategy)"
        ctx.note("restricted grid search: the installed strategy has no select_on; the DFW test "
                 "set chose the checkpoints as well as the pair")
    metric = "accuracy" if "accuracy" in str(cell["rgs_choice"]) else "f1"

    def train():
        res = strategies.restricted_grid_search(
            cell["model"], {c: data_spec(ctx, cell, manifest, [c], ("train",)) for c in reenactment},
            {c: data_spec(ctx, cell, manifest, [c], ("train",)) for c in swap},
            run_dir=run_dir, metric=metric,
            **_transfer_kwargs(ctx, cell, "restricted_grid_search"), **extra, **hp)
        write_json_atomic(info_path, {"rgs_pair": "+".join(res.pair), "rgs_strategy": res.strategy,
                                      "rgs_chosen_on": chosen_on})
        return res

    path = trained(run_dir, train, {"hp": hp, "extra": repr(extra)})
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    return path, info


def score_codes(ctx: RunContext, cell: Mapping[str, Any], model_path: Path, manifest: Path,
                codes: Sequence[str], split: str = "test"):
    """Per-sample scores of a model on the ``split`` videos of each domain (fakes + reals).

    The split is scored once (all domains together) and then partitioned per domain, so a real
    video shared by several domains is scored once.

    The cell's ``eval_frames_per_video`` (frame models) or ``eval_clips_per_video`` (clip
    models) below what the clip set stores scores the first clips of each video only
    (:func:`experiments.data.eval_clips_of`).

    Returns:
        ``{code: DataFrame(video_id, method, clip_index, label, score)}``.
    """
    from clrnet.strategies.evaluation import evaluate

    model = load_model(model_path)
    spec = data_spec(ctx, cell, manifest, codes, (split,))
    n_clips = eval_clips_of(cell)
    tf_data, cap = pipeline_kwargs(ctx), {}
    if n_clips is not None:
        tf_data, cap = {**tf_data, "clips_per_video": n_clips}, {"sampling": "clrnet"}
    df = evaluate(model, spec, ctx.smoke.batch(int(cell["batch_size"])), seed=ctx.seed,
                  pipeline_kwargs=tf_data, **cap)
    out = {}
    for code in codes:
        methods = {m.lower() for m in domain_methods([code])}
        part = df if not methods else df[df["method"].str.lower().isin(methods)]
        if part.empty:
            raise ExperimentError(f"{manifest}: no {split} clips of {code}")
        out[code] = part.reset_index(drop=True)
    return out
