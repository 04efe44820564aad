"""Which model ``clrnet.predict`` runs, what it was trained on, and how it is loaded.

A model is a packaged name (:func:`clrnet.registry.pretrained_names`), a ``.keras`` file of any
registered family (:func:`clrnet.registry.load_model` imports the family the file names), or one
of the CLRNet authors' tf.keras HDF5 checkpoints, converted once into a cache
(:func:`clrnet.convert_official.convert_cached`) and then loaded like a ``.keras`` file.

Provenance travels with the model (:meth:`LoadedModel.info`, written into the JSON and every CSV
row): what it was trained on (the file's own record, else the run folder's ``args.json``), where
its weights come from, and, for packaged weights with a registry caveat, what their verdict is
worth plus the command that gives a CLRNet model instead (:data:`CLRNET_HINT`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clrnet.predict.base import DEFAULT_CLIPS, DEFAULT_FRAMES, ModelLoadError, first_line
from clrnet.predict.runner import BatchScorer, make_scorer

__all__ = ["CLRNET_HINT", "LoadedModel", "load_model", "resolve_spec", "trained_on_from_run"]

#: Command that trains a CLRNet model whose verdict is worth more than the packaged MesoNet's.
CLRNET_HINT = ("for a CLRNet verdict use --model RUN/best.keras (python -m clrnet.train) or an "
               "official CLRNet file (python -m clrnet.convert_official, or pass the .h5 directly)")


@dataclass
class LoadedModel:
    """A model ready for :func:`clrnet.predict.video.predict_video` and what is known about it.

    Attributes:
        model: the Keras model (outputs P(fake) through ``score``).
        name: the pretrained name or the model's Keras name.
        path: file it came from.
        trained_on: what it was trained on, or ``"unknown"``.
        kind: ``"frame"`` or ``"clip"``.
        clip_len: frames per clip (clip models), else 1.
        size: ``(H, W)`` of the crops it takes.
        family: the registry family (``"clrnet"``, ``"twobranch"``) or ``"other"``.
        score: ``x (B, [T,] H, W, 3) float32 in [0, 1] -> (B,) P(fake)``.
        notes: how the model was adapted (e.g. wrapped with a scorer).
        units: clips (or frames) sampled per video by default (the registry entry's).
        clip_stride: distance between a clip's frames by default (the registry entry's).
        weights_source: where the weights come from ("" = not recorded).
        caveat: what its verdict is worth, in one sentence ("" = nothing known).
        precision: the precision it runs in (``"float32"``, ``"bfloat16"``, ``"float16"``).
    """

    model: Any
    name: str
    path: str
    trained_on: str
    kind: str
    clip_len: int
    size: tuple[int, int]
    family: str
    score: Any
    notes: list[str] = field(default_factory=list)
    units: int = 0
    clip_stride: int = 1
    weights_source: str = ""
    caveat: str = ""
    precision: str = "float32"

    def info(self) -> dict[str, Any]:
        """JSON-ready description: name, path, provenance, input, family, precision, notes."""
        h, w = self.size
        shape = [self.clip_len, h, w, 3] if self.kind == "clip" else [h, w, 3]
        return {
            "name": self.name,
            "path": self.path,
            "trained_on": self.trained_on,
            "weights_source": self.weights_source,
            "caveat": self.caveat,
            "input": {"kind": self.kind, "shape": shape},
            "family": self.family,
            "precision": self.precision,
            "notes": list(self.notes),
        }


def trained_on_from_run(path: Path) -> str | None:
    """Describe the training data from the ``args.json`` of the run folder holding ``path``.

    Looks next to the file and one folder up (``checkpoints/epoch-NNN.keras``).

    Args:
        path: a ``.keras`` file.

    Returns:
        A one-line description, or None when no run record is found.
    """
    keys = ("trained_on", "dataset", "datasets", "data", "train", "train_data", "train_records",
            "records", "domains", "source", "target", "profile", "table", "strategy")
    for folder in (path.parent, path.parent.parent):
        record = folder / "args.json"
        if not record.is_file():
            continue
        try:
            args = json.loads(record.read_text())
        except (OSError, ValueError):
            return f"see {record} (unreadable)"
        if not isinstance(args, dict):
            return f"see {record}"
        found = [f"{k}={args[k]}" for k in keys if args.get(k) not in (None, "", [], {})]
        detail = ", ".join(found) if found else "no dataset field"
        return f"{detail} (from {record})"
    return None


def _is_official(file: Path) -> bool:
    try:
        from clrnet.convert_official import is_official_checkpoint
    except ImportError:  # the converter is optional for predict
        return False
    return is_official_checkpoint(file)


def resolve_spec(spec: str) -> tuple[str, Path | None]:
    """Classify ``--model``: ``("pretrained", None)``, ``("keras", file)``, ``("official", file)``.

    Raises:
        ModelLoadError: neither a packaged name nor an existing file.
    """
    from clrnet import registry

    if spec in registry.pretrained_names():
        return "pretrained", None
    file = Path(spec)
    if not file.exists():
        raise ModelLoadError(
            f"{spec}: no such model file, and not a packaged model name "
            f"({', '.join(sorted(registry.pretrained_names()))})"
        )
    if not file.is_file():
        raise ModelLoadError(f"{spec}: not a Keras model file (it is a folder)")
    if file.suffix.lower() in (".h5", ".hdf5") and _is_official(file):
        return "official", file
    return "keras", file


def _units_of(entry: Any, kind: str) -> int:
    return (entry.video_units if entry else 0) or (DEFAULT_CLIPS if kind == "clip"
                                                   else DEFAULT_FRAMES)


def _load_keras(spec: str, file: Path) -> Any:
    import keras

    from clrnet import registry
    from clrnet.errors import ModelError

    try:
        model = registry.load_model(file)
    except ModelError as exc:
        raise ModelLoadError(f"{spec}: not a Keras model file ({first_line(exc)})") from exc
    if not isinstance(model, keras.Model):
        raise ModelLoadError(f"{spec}: not a Keras model file (loaded a {type(model).__name__})")
    return model


def _load_official(spec: str, file: Path) -> tuple[Any, Path]:
    from clrnet.convert_official import ConversionError, convert_cached
    from clrnet.fast_load import skip_random_init

    try:
        with skip_random_init():  # the converter assigns every weight it builds
            converted = convert_cached(file)
    except ConversionError as exc:
        raise ModelLoadError(f"{spec}: {first_line(exc)}") from exc
    return _load_keras(spec, converted), converted


def load_model(spec: str, precision: str = "float32", batch_size: int | None = None,
               graph: bool = True) -> LoadedModel:
    """Load a packaged model by name, a ``.keras`` file of any registered family, or an official
    CLRNet-authors checkpoint.

    Args:
        spec: a packaged name (:func:`clrnet.registry.pretrained_names`, e.g.
            ``"mesoinception4_df"``), a path to a ``.keras`` file (CLRNet clips, two-branch
            sequences, frame baselines), or a tf.keras ``.h5`` checkpoint of the CLRNet authors
            (:func:`clrnet.convert_official.is_official_checkpoint`; converted once into
            :func:`clrnet.convert_official.default_cache_dir`).
        precision: ``"float32"`` (default), ``"bfloat16"``, ``"float16"`` or ``"auto"``
            (:func:`clrnet.inference.resolve_precision`).
        batch_size: samples per model call (default 16 frames; 8 clips traced, 4 clips eager:
            traced CLRNet-50 cost ~10 % less CPU per clip at 8 than at 4, and eager CLRNet-50
            peaked at 4.5 GB RSS at 8 against 3.2 GB at 4).
        graph: score through one traced function (:func:`clrnet.inference.make_predict_fn`);
            False runs a float32 model eagerly: nothing to trace, cheaper for a run of few
            samples (:data:`clrnet.predict.runner.GRAPH_MIN_SAMPLES`).

    Returns:
        A :class:`LoadedModel`; ``score`` is a :class:`clrnet.predict.runner.BatchScorer`.

    Raises:
        ModelLoadError: unknown name, missing file, not a Keras model, or a model whose input or
            output this script cannot use.
        PredictUsageError: a precision this machine cannot run.
    """
    from clrnet import registry
    from clrnet.errors import ModelError
    from clrnet.scoring import as_scorer

    notes: list[str] = []
    how, file = resolve_spec(spec)
    caveat = ""
    if how == "pretrained":
        try:
            model = registry.load_pretrained(spec)
        except ModelError as exc:
            raise ModelLoadError(f"{spec}: {first_line(exc)}") from exc
        entry_p = registry.get_pretrained(spec)
        path, name = str(entry_p.path), spec
        caveat = f"{entry_p.caveat.rstrip('. ')}; {CLRNET_HINT}" if entry_p.caveat else ""
    elif how == "official":
        model, converted = _load_official(spec, file)
        path, name = str(file), model.name
        notes.append(f"official checkpoint converted once to {converted}")
    else:
        model = _load_keras(spec, file)
        path, name = str(file), model.name

    shape = tuple(model.inputs[0].shape)
    if len(shape) not in (4, 5):
        raise ModelLoadError(f"{spec}: model {model.name!r} has a rank-{len(shape)} input; "
                             "expected clips or frames")
    kind = "clip" if len(shape) == 5 else "frame"
    t, h, w = (shape[1], shape[2], shape[3]) if kind == "clip" else (None, shape[1], shape[2])
    entry = registry.spec_of(model)
    family = entry.family if entry else "other"
    if h is None or w is None:
        h = w = int(entry.input_size if entry else 224)
        notes.append(f"model accepts any image size; using {h}x{w}")
    if kind == "clip" and t is None:
        t = int(entry.clip_len if entry and entry.clip_len else 5)
        notes.append(f"model accepts any clip length; using {t} frames")
    try:
        scorer = as_scorer(model)
    except ModelError as exc:
        raise ModelLoadError(f"{spec}: {first_line(exc)}") from exc
    if scorer is not model:
        notes.append("embedding model wrapped with its family's scorer (centre of its "
                     "compiled isolation loss)")
    clip_len = int(t) if kind == "clip" else 1
    batch = batch_size or (16 if kind == "frame" else 8 if graph else 4)
    score: BatchScorer = make_scorer(scorer, precision, batch, (clip_len, int(h), int(w))
                                     if kind == "clip" else (int(h), int(w)), graph)
    if score.precision != "float32":
        notes.append(f"scored in {score.precision} with fused ConvLSTM layers")
    notes.append("run eagerly (few samples: nothing to trace)" if score.warm_up_s == 0.0
                 else "run as one traced function (clrnet.inference.make_predict_fn)")

    trained_on = getattr(model, "trained_on", "") or None
    if trained_on is None and how == "keras":
        trained_on = trained_on_from_run(file.resolve())
    weights_source = getattr(model, "weights_source", "") or ""
    if how == "keras" and not weights_source:  # a Detector records "" for "trained here"
        weights_source = (f"{file} (trained with this package)"
                          if getattr(model, "registry_name", "") else str(file))
    return LoadedModel(
        model=scorer, name=name, path=path, trained_on=trained_on or "unknown", kind=kind,
        clip_len=clip_len, size=(int(h), int(w)), family=family, score=score, notes=notes,
        units=_units_of(entry, kind),
        clip_stride=entry.clip_stride if entry and kind == "clip" else 1,
        weights_source=weights_source, caveat=caveat, precision=score.precision,
    )
