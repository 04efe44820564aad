"""One registry for every model of both papers: what each model is, how to build and score it.

Each entry is a :class:`ModelSpec`: the builder, the official input size and clip length, how
the output becomes P(fake), the official training hyper-parameters, and the paper and official
source they come from. Families register their entries when their ``specs`` module is imported:

* ``clrnet`` (:mod:`clrnet.models.specs`): CLRNet and the CLRNet paper's baselines;
* ``twobranch`` (:mod:`twobranch.specs`): Masi et al.'s two-branch network.

The framework never imports a family by name. Installed families are listed under the entry-point
group :data:`FAMILY_GROUP` (``setup.cfg``) and loaded by :func:`load_families`; a saved model
names its own family (:class:`Detector`), and :func:`load_model` imports that family's package
before it deserialises the file, so a file of any registered family loads without the caller
knowing which family it is.

Every model built by :func:`build_model` is a :class:`Detector`: a functional Keras model that
also stores its registry name, its family and what its weights were trained on, in its
``get_config``. It saves to ``.keras`` and reloads with plain ``keras.models.load_model`` (once the
family is imported), as any functional model.

Labels are fake = 1 everywhere; a model's P(fake) comes from :mod:`clrnet.scoring`.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from clrnet.errors import ModelError, UnknownModelError, WeightsError

__all__ = [
    "FAMILY_GROUP",
    "Detector",
    "ModelSpec",
    "PretrainedSpec",
    "build_model",
    "ensure_family",
    "get",
    "get_pretrained",
    "load_families",
    "load_model",
    "load_pretrained",
    "names",
    "pretrained_names",
    "register",
    "register_pretrained",
    "saved_model_info",
    "spec_of",
    "wrap",
]

#: Entry-point group under which installed packages list their model families.
FAMILY_GROUP = "deepfake_repro.families"
#: Output kinds: a two-way head (index 1 = fake), one sigmoid unit = P(fake), or an embedding
#: that the family turns into P(fake) (``ModelSpec.to_scorer``).
OUTPUTS = ("softmax2", "sigmoid", "embedding")


@keras.saving.register_keras_serializable(package="deepfake_repro")
class Detector(keras.Model):
    """A functional model that knows which registry entry and family it belongs to.

    Built like any functional model (``Detector(inputs, outputs, name=...)``); the four
    keyword arguments below are stored in the saved file and restored on load.

    Args:
        registry_name: its :class:`ModelSpec` name (e.g. ``"clrnet"``, ``"two_branch"``).
        family: the package that registers the entry (e.g. ``"clrnet"``, ``"twobranch"``).
        trained_on: what its weights were trained on, in words ("" = not recorded).
        weights_source: where its weights come from (a file, a repository; "" = trained here).
    """

    def __init__(self, *args, registry_name: str = "", family: str = "", trained_on: str = "",
                 weights_source: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.registry_name = registry_name
        self.family = family
        self.trained_on = trained_on
        self.weights_source = weights_source

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(registry_name=self.registry_name, family=self.family,
                      trained_on=self.trained_on, weights_source=self.weights_source)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects=None) -> Detector:
        config = dict(config)
        info = {k: config.pop(k, "") for k in
                ("registry_name", "family", "trained_on", "weights_source")}
        model = super().from_config(config, custom_objects=custom_objects)
        for key, value in info.items():
            setattr(model, key, value)
        return model


def _input_shape_kwargs(kind: str) -> Callable[[int, int | None], dict[str, Any]]:
    def shape(size: int, clip_len: int | None) -> dict[str, Any]:
        if kind == "clip":
            return {"input_shape": (clip_len, size, size, 3)}
        return {"input_shape": (size, size, 3)}
    return shape


@dataclass(frozen=True)
class ModelSpec:
    """Everything the package knows about one registered model.

    Args:
        name: registry key.
        family: registering package (``"clrnet"``, ``"twobranch"``).
        builder: ``builder(**kwargs) -> keras.Model`` (functional).
        kind: ``"clip"`` (B, T, H, W, 3) or ``"frame"`` (B, H, W, 3) input.
        input_size: official square input side.
        clip_len: official frames per clip (None for frame models).
        output: one of :data:`OUTPUTS`.
        loss: official loss (``"binary_crossentropy"``, ``"mse"``, ``"isolation"``).
        optimizer: official optimiser name.
        lr: official learning rate.
        batch_size: official batch size (clips or frames per batch).
        epochs: official epochs of single-domain training.
        epochs_transfer: official epochs of transfer / merge training (None: same as ``epochs``).
        paper: the paper that defines the model.
        source: the official code (repository and file) the builder and values follow, or
            what they are based on when there is none.
        notes: where the package differs, in one sentence.
        shape_kwargs: ``(input_size, clip_len) -> builder kwargs`` for the input shape (default
            ``input_shape=(T, S, S, 3)`` or ``(S, S, 3)``).
        to_scorer: for ``output="embedding"``: turns a trained model into one that outputs
            (B, 1) P(fake).
        accepts: builder keyword arguments (filled from the builder's signature).
        video_units: clips (clip models) or frames (frame models) ``clrnet.predict`` samples per
            video by default (0: 16 clips or 32 frames).
        clip_stride: distance between a clip's frames at inference (1 = consecutive).
        augment: whether the model's official training augments its training data (the
            strategies' ``augment=None``); CLRNet's does, the CLRNet paper's baselines' only
            rescale.
    """

    name: str
    family: str
    builder: Callable[..., keras.Model]
    kind: str
    input_size: int
    clip_len: int | None
    output: str
    loss: str
    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    epochs_transfer: int | None
    paper: str
    source: str
    notes: str = ""
    shape_kwargs: Callable[[int, int | None], dict[str, Any]] | None = None
    to_scorer: Callable[[keras.Model], keras.Model] | None = None
    accepts: frozenset[str] = field(default_factory=frozenset)
    video_units: int = 0
    clip_stride: int = 1
    augment: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("clip", "frame"):
            raise ModelError(f"{self.name}: kind must be clip or frame, got {self.kind!r}")
        if self.output not in OUTPUTS:
            raise ModelError(f"{self.name}: output must be one of {OUTPUTS}, got {self.output!r}")
        if (self.kind == "clip") != (self.clip_len is not None):
            raise ModelError(f"{self.name}: clip models need a clip_len, frame models none")
        if self.shape_kwargs is None:
            object.__setattr__(self, "shape_kwargs", _input_shape_kwargs(self.kind))
        if not self.accepts:
            object.__setattr__(self, "accepts",
                               frozenset(inspect.signature(self.builder).parameters))

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts (no callables)."""
        return {k: getattr(self, k) for k in (
            "name", "family", "kind", "input_size", "clip_len", "output", "loss", "optimizer",
            "lr", "batch_size", "epochs", "epochs_transfer", "paper", "source", "notes",
            "video_units", "clip_stride", "augment")}


@dataclass(frozen=True)
class PretrainedSpec:
    """Trained weights the package ships.

    Args:
        name: the name users pass (``--model mesoinception4_df``).
        model: the registry name of the architecture.
        path: the weights file.
        trained_on: what the weights were trained on, in words.
        source: where they come from (repository, file, licence).
        caveat: what the verdict of these weights is worth, in one sentence ("" = nothing known).
        load: ``load(model, path)`` puts the weights into a freshly built model (default
            ``model.load_weights(path)``); use it to fold a label flip into the model.
    """

    name: str
    model: str
    path: Path
    trained_on: str
    source: str
    caveat: str = ""
    load: Callable[[keras.Model, Path], keras.Model] | None = None


_SPECS: dict[str, ModelSpec] = {}
_PRETRAINED: dict[str, PretrainedSpec] = {}
_LOADED_FAMILIES: set[str] = set()


def register(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry (re-registering the same name replaces it)."""
    _SPECS[spec.name] = spec
    _LOADED_FAMILIES.add(spec.family)
    return spec


def register_pretrained(spec: PretrainedSpec) -> PretrainedSpec:
    """Add packaged trained weights."""
    _PRETRAINED[spec.name] = spec
    return spec


def load_families() -> list[str]:
    """Import every installed family (entry-point group :data:`FAMILY_GROUP`).

    Returns:
        The names of the families now loaded.
    """
    from importlib.metadata import entry_points

    for ep in entry_points(group=FAMILY_GROUP):
        if ep.name in _LOADED_FAMILIES:
            continue
        try:
            ep.load()
        except ImportError as exc:  # a broken plug-in must not take the others down
            warnings.warn(f"model family {ep.name!r} could not be loaded: {exc}", stacklevel=2)
    return sorted(_LOADED_FAMILIES)


def ensure_family(family: str) -> None:
    """Import ``family``'s registry entries (by entry point, else the ``<family>.specs`` module).

    Raises:
        UnknownModelError: no such family can be imported.
    """
    if not family or family in _LOADED_FAMILIES:
        return
    load_families()
    if family in _LOADED_FAMILIES:
        return
    for module in (f"{family}.specs", family):
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        if family in _LOADED_FAMILIES:
            return
    raise UnknownModelError(f"model family {family!r} is not installed")


def names(family: str | None = None) -> list[str]:
    """Registered model names (of one family, or all installed families)."""
    load_families()
    return [n for n, s in _SPECS.items() if family is None or s.family == family]


def pretrained_names() -> list[str]:
    """Names of the packaged trained models."""
    load_families()
    return list(_PRETRAINED)


def get(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``.

    Raises:
        UnknownModelError: not registered (the message lists the valid names).
    """
    if name not in _SPECS:
        load_families()
    if name not in _SPECS:
        raise UnknownModelError(f"unknown model {name!r}; valid names: {', '.join(names())}")
    return _SPECS[name]


def get_pretrained(name: str) -> PretrainedSpec:
    """The :class:`PretrainedSpec` of ``name``.

    Raises:
        UnknownModelError: not a packaged model.
    """
    if name not in _PRETRAINED:
        load_families()
    if name not in _PRETRAINED:
        raise UnknownModelError(f"unknown pretrained model {name!r}; valid names: "
                                f"{', '.join(pretrained_names())}")
    return _PRETRAINED[name]


def wrap(model: keras.Model, name: str, *, trained_on: str = "", weights_source: str = "",
         model_name: str | None = None) -> Detector:
    """Make ``model``'s graph a :class:`Detector` of registry entry ``name`` (layers shared).

    Args:
        model: a functional model.
        name: registry name.
        trained_on: provenance of the weights.
        weights_source: where the weights come from.
        model_name: the Keras name of the result (default ``model.name``).

    Returns:
        The :class:`Detector` (the same object when ``model`` already is one with these facts).
    """
    spec = get(name)
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    outputs = model.outputs[0] if len(model.outputs) == 1 else model.outputs
    return Detector(inputs, outputs, name=model_name or model.name, registry_name=spec.name,
                    family=spec.family, trained_on=trained_on, weights_source=weights_source)


def build_model(name: str, weights: str | Path | None = None, *, input_size: int | None = None,
                clip_len: int | None = None, **overrides: Any) -> Detector:
    """Build a registered model, optionally loading weights.

    Args:
        name: a registry name (:func:`names`).
        weights: optional weights file (``keras.Model.load_weights``, or the builder's own
            ``weights`` argument when it has one, e.g. the MesoNet authors' Keras-2 files).
        input_size: square input side (default: the official one).
        clip_len: frames per clip for clip models (default: the official one). A builder's own
            shape argument in ``overrides`` (``input_shape``; ``frames`` for two-branch) wins.
        **overrides: builder arguments; ``None`` values are dropped, so unset CLI flags never
            clobber a default.

    Returns:
        A :class:`Detector`.

    Raises:
        UnknownModelError: ``name`` is not registered.
        ModelError: an argument the builder does not accept, or an invalid value.
        WeightsError: the weights file is missing or made for another architecture.
    """
    spec = get(name)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    shape = spec.shape_kwargs(int(input_size or spec.input_size),
                              None if spec.kind == "frame" else int(clip_len or spec.clip_len))
    overrides = {**shape, **overrides}
    unknown = sorted(set(overrides) - spec.accepts)
    if unknown:
        raise ModelError(f"model {name!r} does not accept {unknown}; it accepts "
                         f"{sorted(spec.accepts)}")
    if weights is not None and "weights" in spec.accepts:
        overrides["weights"] = weights
        weights = None
    try:
        model = spec.builder(**overrides)
    except ModelError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelError(f"cannot build model {name!r} with {overrides}: {exc}") from exc
    if weights is not None:
        load_weights(model, weights, name)
    return wrap(model, name)


def load_weights(model: keras.Model, weights: str | Path, name: str = "") -> None:
    """``model.load_weights(weights)`` with a one-line error for a missing or unfitting file.

    Raises:
        WeightsError: missing file, or one made for another architecture.
    """
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        model.load_weights(str(path))
    except Exception as exc:  # Keras raises many types for a mismatching file
        raise WeightsError(f"weights file {path} does not fit model "
                           f"{name or model.name!r}: {_short_reason(exc)}") from exc


def _short_reason(exc: Exception) -> str:
    """One line out of Keras' multi-line weight-loading errors (layer and shapes when given)."""
    text = str(exc)
    layer = re.search(r"object <\w+ name=([^,>]+)", text)
    shapes = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", text)
    if layer and shapes:
        return f"layer {layer.group(1)} expects shape {shapes.group(1)}, file has {shapes.group(2)}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:200] if lines else type(exc).__name__


def load_pretrained(name: str) -> Detector:
    """Build a packaged trained model (it outputs P(fake), fake = 1).

    Args:
        name: a packaged name (:func:`pretrained_names`).

    Returns:
        A :class:`Detector` named ``name`` whose ``trained_on``/``weights_source`` say where
        its weights come from.

    Raises:
        UnknownModelError: unknown name.
        WeightsError: the packaged file is missing or broken.
    """
    entry = get_pretrained(name)
    if entry.load is None:
        model = build_model(entry.model, weights=entry.path)
    else:
        model = entry.load(build_model(entry.model), entry.path)
    return wrap(model, entry.model, trained_on=entry.trained_on,
                weights_source=entry.source, model_name=name)


def spec_of(model: keras.Model) -> ModelSpec | None:
    """The registry entry a model was built as (None for models the registry did not build)."""
    name = getattr(model, "registry_name", "")
    if not name:
        return None
    ensure_family(getattr(model, "family", ""))
    return _SPECS.get(name)


def saved_model_info(path: str | Path) -> dict[str, Any]:
    """``registry_name``, ``family``, ``trained_on``, ``weights_source`` and ``name`` of a ``.keras``
    file, read from its ``config.json`` without building the model ({} when not recorded)."""
    try:
        with zipfile.ZipFile(path) as zf:
            config = json.loads(zf.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return {}
    inner = config.get("config", {}) if isinstance(config, Mapping) else {}
    info = {k: inner.get(k, "") for k in
            ("registry_name", "family", "trained_on", "weights_source", "name")}
    return {k: v for k, v in info.items() if v}


def load_model(path: str | Path, *, compile: bool = True) -> keras.Model:
    """Load a ``.keras`` file of any installed family (the one loader every command uses).

    The file's family is imported first, so its custom layers are registered. The model is
    rebuilt without running the random initializers that the saved weights overwrite
    (:func:`clrnet.fast_load.load_model`); the result (config, weights, compiled loss and
    optimizer state) is identical to ``keras.models.load_model`` on the same file.

    Args:
        path: the ``.keras`` file.
        compile: restore the compiled loss/optimizer (``keras.models.load_model``'s flag).

    Returns:
        The model.

    Raises:
        WeightsError: missing file, or one Keras cannot load (one line).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"model file not found: {path}")
    load_families()
    family = saved_model_info(path).get("family")
    if family:
        ensure_family(family)
    from clrnet.fast_load import load_model as fast_load_model

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fast_load_model(path, compile=compile)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad file
        text = str(exc).strip()
        first = text.splitlines()[0][:200] if text else type(exc).__name__
        raise WeightsError(f"{path}: not a loadable .keras model ({first})") from None
