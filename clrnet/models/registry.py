"""Model registry and model-agnostic helpers: ``MODELS``, ``build_model``, ``fake_probability``.

The registry follows the timm pattern (name -> builder; variants differ only in arguments; ``None``
overrides are dropped so unset CLI flags never clobber a variant's defaults). Every model takes
float32 RGB in [0, 1], either clips (B, T, H, W, 3) or frames (B, H, W, 3), and ends in either a
two-way head (index 1 = fake; "softmax2") or one sigmoid unit (P(fake); "sigmoid").

``MODEL_DEFAULTS`` holds the official training hyper-parameters (models.md sections 1.4, 3 and 4);
``PRETRAINED`` lists the MesoNet authors' packaged weights (``clrnet/weights``), loaded with the
label flip folded into the model so they too output P(fake).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from clrnet.models.clrnet import build_clrnet
from clrnet.models.cnn_lstm import build_cnn_lstm
from clrnet.models.dbirnn import build_dbirnn
from clrnet.models.errors import InputShapeError, ModelError, UnknownModelError, WeightsError
from clrnet.models.mesonet import build_meso4, build_mesoinception4
from clrnet.models.shallownet import build_shallownet_v3
from clrnet.models.xception import build_xception

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


@keras.saving.register_keras_serializable(package="deepfake_repro")
class ProvenanceTag(keras.layers.Layer):
    """Identity layer that records where a model's weights come from (saved in ``.keras``).

    Args:
        trained_on: str. What the weights were trained on, in words.
        source: str. Where they come from (file, repository).
    """

    def __init__(self, trained_on: str = "", source: str = "", **kwargs):
        super().__init__(**kwargs)
        self.trained_on = trained_on
        self.source = source

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"trained_on": self.trained_on, "source": self.source})
        return config


MODELS: dict[str, Callable[..., keras.Model]] = {
    "clrnet": functools.partial(build_clrnet, name="clrnet"),
    "clrnet18": functools.partial(
        build_clrnet, block="basic", repetitions=(2, 2, 2, 2), name="clrnet18"
    ),
    "clrnet34": functools.partial(
        build_clrnet, block="basic", repetitions=(3, 4, 6, 3), name="clrnet34"
    ),
    "clrnet101": functools.partial(
        build_clrnet, block="bottleneck", repetitions=(3, 4, 23, 3), name="clrnet101"
    ),
    "meso4": build_meso4,
    "mesoinception4": build_mesoinception4,
    "xception": build_xception,
    "shallownet_v3": build_shallownet_v3,
    "dbirnn": build_dbirnn,
    "cnn_lstm": build_cnn_lstm,
}

_CLRNET_DEFAULTS = {
    "optimizer": "adam",
    "learning_rate": 5e-5,
    "loss": "binary_crossentropy",
    "image_size": 240,
    "clip_length": 5,
    "batch_size": 16,
    "epochs": 300,
    "epochs_transfer": 150,
    "source": "CLRNet notebooks (models.md 1.4): Adam 5e-5, BCE on 2-way softmax, 16 videos x 5 "
    "frames, 300 epochs single-dataset, 150 transfer/merge",
}
_FRAME_BASELINE = {"clip_length": None, "batch_size": 32, "epochs": 50, "epochs_transfer": 50}

MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "clrnet": dict(_CLRNET_DEFAULTS),
    "clrnet18": dict(_CLRNET_DEFAULTS),
    "clrnet34": dict(_CLRNET_DEFAULTS),
    "clrnet101": dict(_CLRNET_DEFAULTS),
    **{
        name: {
            "optimizer": "adam",
            "learning_rate": 1e-3,
            "loss": "mse",
            "image_size": 256,
            **_FRAME_BASELINE,
            "source": "DariusAf/MesoNet classifiers.py and CLRNet MesoInception4_*.ipynb "
            "(models.md 3): Adam 1e-3, MSE on the sigmoid, 256x256, 50 epochs",
        }
        for name in ("meso4", "mesoinception4")
    },
    "xception": {
        "optimizer": "adam",
        "learning_rate": 5e-5,
        "loss": "binary_crossentropy",
        "image_size": 240,
        **_FRAME_BASELINE,
        "source": "CLRNet Xception_DF.ipynb (models.md 4): from scratch, BCE, Adam 5e-5, 240x240",
    },
    "shallownet_v3": {
        "optimizer": "adam",
        "learning_rate": 5e-5,
        "loss": "binary_crossentropy",
        "image_size": 128,
        **_FRAME_BASELINE,
        "source": "CLRNet ShallowNetv3_DF.ipynb (models.md 4): BCE on one-hot, Adam 5e-5, 128x128",
    },
    "dbirnn": {
        "optimizer": "adam",
        "learning_rate": 5e-5,
        "loss": "binary_crossentropy",
        "image_size": 224,
        "clip_length": 5,
        "batch_size": 16,
        "epochs": 50,
        "epochs_transfer": 50,
        "source": "no official code; 5 frames x 16 videos (CLRNet paper 5.1); lr and epochs are "
        "the CLRNet authors' baseline settings, not Sabir et al.'s",
    },
    "cnn_lstm": {
        "optimizer": "adam",
        "learning_rate": 1e-5,
        "loss": "binary_crossentropy",
        "image_size": 299,
        "clip_length": 20,
        "batch_size": 4,
        "epochs": 50,
        "epochs_transfer": 50,
        "source": "no official code; 20 frames x 4 videos (CLRNet paper 5.1); Adam 1e-5 as "
        "Güera & Delp state; epochs are the CLRNet authors' baseline setting",
    },
}

PRETRAINED: dict[str, dict[str, Any]] = {
    f"{arch}_{ds.lower()}": {
        "builder": arch,
        "path": WEIGHTS_DIR / f"{fname}_{ds}.h5",
        "trained_on": f"{label} trained by the MesoNet authors on "
        + ("Deepfake (DF)" if ds == "DF" else "Face2Face (F2F)"),
        "source": f"github.com/DariusAf/MesoNet weights/{fname}_{ds}.h5 (Apache-2.0)",
    }
    for arch, fname, label in (
        ("mesoinception4", "MesoInception", "MesoInception4"),
        ("meso4", "Meso4", "Meso4"),
    )
    for ds in ("DF", "F2F")
}
DEFAULT_PRETRAINED = "mesoinception4_df"


def _check_name(name: str) -> None:
    """Raise :class:`UnknownModelError` for a name not in ``MODELS``."""
    if name not in MODELS:
        raise UnknownModelError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")


def build_model(name: str, weights: str | Path | None = None, **overrides: Any) -> keras.Model:
    """Build a registered model, optionally loading weights.

    Args:
        name: a key of ``MODELS``.
        weights: optional weights file. For ``meso4``/``mesoinception4`` an authors' Keras-2 ``.h5``
            (label flip folded in); for others any file ``keras.Model.load_weights`` reads.
        **overrides: builder arguments (e.g. ``input_shape``, ``repetitions``); ``None`` values
            are dropped.

    Returns:
        The functional ``keras.Model``.

    Raises:
        UnknownModelError: ``name`` is not registered.
        ModelError: an override the builder does not accept, or an invalid value.
        WeightsError: the weights file is missing or made for another architecture.
    """
    _check_name(name)
    builder = MODELS[name]
    overrides = {k: v for k, v in overrides.items() if v is not None}
    params = inspect.signature(builder).parameters
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise ModelError(
            f"model {name!r} does not accept {unknown}; it accepts {sorted(params)}"
        )
    if weights is not None and "weights" in params:
        overrides["weights"] = weights
        weights = None
    try:
        model = builder(**overrides)
    except ModelError:
        raise
    except (ValueError, TypeError) as exc:
        raise ModelError(f"cannot build model {name!r} with {overrides}: {exc}") from exc
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}")
        try:
            model.load_weights(str(path))
        except Exception as exc:  # Keras raises many types for a mismatching file
            raise WeightsError(
                f"weights file {path} does not fit model {name!r}: {_short_reason(exc)}"
            ) from exc
    return model


def _short_reason(exc: Exception) -> str:
    """One line out of Keras' multi-line weight-loading errors (layer and shapes when given)."""
    text = str(exc)
    layer = re.search(r"object <\w+ name=([^,>]+)", text)
    shapes = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", text)
    if layer and shapes:
        return (
            f"layer {layer.group(1)} expects shape {shapes.group(1)}, "
            f"file has {shapes.group(2)}"
        )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0][:200] if lines else type(exc).__name__)


def load_pretrained(name: str = DEFAULT_PRETRAINED) -> keras.Model:
    """Load one of the packaged MesoNet authors' models; it outputs P(fake).

    Args:
        name: a key of ``PRETRAINED`` (default ``"mesoinception4_df"``).

    Returns:
        Functional model (B, 256, 256, 3) in [0, 1] -> (B, 1) P(fake), named ``name``, ending in
        a :class:`ProvenanceTag` that records what it was trained on.

    Raises:
        UnknownModelError: unknown name.
        WeightsError: the packaged file is missing or broken.
    """
    if name not in PRETRAINED:
        raise UnknownModelError(
            f"unknown pretrained model {name!r}; valid names: {', '.join(PRETRAINED)}"
        )
    entry = PRETRAINED[name]
    base = build_model(entry["builder"], weights=entry["path"])
    tag = ProvenanceTag(entry["trained_on"], entry["source"], name="provenance")
    return keras.Model(base.inputs[0], tag(base.outputs[0]), name=name)


def provenance(model: keras.Model) -> dict[str, str] | None:
    """What a model's weights were trained on, if it carries a :class:`ProvenanceTag`.

    Args:
        model: any model.

    Returns:
        ``{"trained_on": ..., "source": ...}`` or None.
    """
    for layer in model.layers:
        if isinstance(layer, ProvenanceTag):
            return {"trained_on": layer.trained_on, "source": layer.source}
    return None


def model_kind(model: keras.Model) -> str:
    """``"clip"`` for 5-D (B, T, H, W, C) inputs, ``"frame"`` for 4-D (B, H, W, C).

    Args:
        model: a model of this package.

    Returns:
        ``"clip"`` or ``"frame"``.

    Raises:
        ModelError: any other input rank.
    """
    rank = len(model.inputs[0].shape)
    if rank == 5:
        return "clip"
    if rank == 4:
        return "frame"
    raise ModelError(f"model {model.name!r} has a rank-{rank} input; expected clips or frames")


def expected_input(model: keras.Model) -> tuple[int | None, int | None, int | None]:
    """The (T, H, W) a model expects; T is None for frame models (or a free clip length).

    Args:
        model: a model of this package.

    Returns:
        ``(T or None, H, W)``.
    """
    shape = tuple(model.inputs[0].shape)
    if model_kind(model) == "clip":
        return shape[1], shape[2], shape[3]
    return None, shape[1], shape[2]


def output_kind(model: keras.Model) -> str:
    """``"softmax2"`` for a two-way head (index 1 = fake), ``"sigmoid"`` for one P(fake) unit.

    ShallowNetV3's two independent sigmoids count as ``"softmax2"``: two-way, index 1 = fake.

    Args:
        model: a model of this package.

    Returns:
        ``"softmax2"`` or ``"sigmoid"``.

    Raises:
        ModelError: another output width.
    """
    width = model.outputs[0].shape[-1]
    if width == 2:
        return "softmax2"
    if width == 1:
        return "sigmoid"
    raise ModelError(f"model {model.name!r} has {width} outputs; expected 1 (sigmoid) or 2")


def _check_input(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Validate shape and range of ``x`` for ``model``; add a batch axis to a single sample."""
    want = tuple(model.inputs[0].shape)
    if x.ndim == len(want) - 1:
        x = x[None]
    if x.ndim != len(want) or any(
        w is not None and w != g for w, g in zip(want[1:], x.shape[1:], strict=True)
    ):
        shown = "(batch, " + ", ".join("any" if w is None else str(w) for w in want[1:]) + ")"
        raise InputShapeError(
            f"input of shape {tuple(x.shape)} does not fit model {model.name!r}, "
            f"which expects {shown}"
        )
    if x.size and (float(np.nanmin(x)) < -1e-3 or float(np.nanmax(x)) > 1.0 + 1e-3):
        raise InputShapeError(
            f"input for model {model.name!r} must be RGB in [0, 1]; got values in "
            f"[{float(np.nanmin(x)):g}, {float(np.nanmax(x)):g}] (divide uint8 images by 255)"
        )
    return x


def fake_probability(model: keras.Model, x, batch_size: int = 16) -> np.ndarray:
    """P(fake) for each clip or frame, whatever the head.

    Args:
        model: a model of this package (softmax2: column 1; sigmoid: the single unit).
        x: array (B, T, H, W, 3) or (B, H, W, 3) in [0, 1]; a single sample without batch axis is
            accepted.
        batch_size: inference batch size.

    Returns:
        1-D float32 array of length B.

    Raises:
        InputShapeError: ``x`` does not fit the model's input or is not in [0, 1].

    Note:
        Runs the model eagerly (no tracing). For many batches of a large model a traced or
        compiled runner is faster after its first call (tracing a full-depth CLRNet takes tens of
        seconds per new batch shape on CPU); see ``clrnet.inference``.
    """
    x = _check_input(model, np.asarray(x, dtype=np.float32))
    kind = output_kind(model)
    outs = []
    for start in range(0, len(x), batch_size):
        p = keras.ops.convert_to_numpy(model(x[start : start + batch_size], training=False))
        outs.append(p[:, 1] if kind == "softmax2" else p[:, 0])
    if not outs:
        return np.zeros((0,), np.float32)
    return np.concatenate(outs).astype(np.float32)


def registry_name(model: keras.Model) -> str | None:
    """The ``MODELS`` name a model was built as (from its name), e.g. ``meso4_df`` -> ``meso4``."""
    for name in sorted(MODELS, key=len, reverse=True):
        if model.name == name or model.name.startswith(name + "_"):
            return name
    return None


def loss_for(model: keras.Model, loss: str | None = None) -> keras.losses.Loss:
    """The training loss for ``model``, official by default.

    Args:
        model: a model of this package.
        loss: ``"binary_crossentropy"`` / ``"bce"`` or ``"mse"``; None = the official loss for the
            model's registry name (``MODEL_DEFAULTS``), else binary cross-entropy.

    Returns:
        A Keras loss to be used with :func:`targets_for`.

    Raises:
        ModelError: unknown loss name.
    """
    if loss is None:
        reg = registry_name(model)
        loss = MODEL_DEFAULTS[reg]["loss"] if reg else "binary_crossentropy"
    losses = {
        "binary_crossentropy": keras.losses.BinaryCrossentropy,
        "bce": keras.losses.BinaryCrossentropy,
        "mse": keras.losses.MeanSquaredError,
        "mean_squared_error": keras.losses.MeanSquaredError,
    }
    if loss not in losses:
        raise ModelError(f"unknown loss {loss!r}; choose one of {sorted(losses)}")
    return losses[loss]()


def targets_for(model: keras.Model, labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """Turn 0/1 labels (fake = 1) into the target array the model's head trains on.

    Args:
        model: a model of this package.
        labels: 1-D integer labels, fake = 1, real = 0.

    Returns:
        float32 one-hot (B, 2) for a two-way head, (B, 1) for a sigmoid head.

    Raises:
        ModelError: labels other than 0 and 1.
    """
    y = np.asarray(labels).reshape(-1)
    if y.size and not np.isin(y, (0, 1)).all():
        raise ModelError(f"labels must be 0 (real) or 1 (fake); got {sorted(set(y.tolist()))}")
    y = y.astype(np.int64)
    if output_kind(model) == "softmax2":
        return np.eye(2, dtype=np.float32)[y]
    return y.astype(np.float32)[:, None]
