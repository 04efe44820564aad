"""MesoNet: Meso4 and MesoInception4 (Afchar et al., WIFS 2018), and the authors' trained weights.

Follows ``DariusAf/MesoNet: classifiers.py``: input 256x256x3 in [0, 1] (the
authors' generator rescales by 1/255), four conv/BN/max-pool blocks (the first two are Inception
layers in MesoInception4), then Flatten -> Dropout(0.5) -> Dense(16) -> LeakyReLU(0.1) ->
Dropout(0.5) -> Dense(1, sigmoid). Param counts: Meso4 28,073; MesoInception4 28,725.

Differences from the official code, and why:

* Output convention: the authors' sigmoid is P(real) (``flow_from_directory`` put ``df`` = 0 and
  ``real`` = 1). Our untrained models output P(fake) by definition of their training labels; when the
  authors' weights are loaded, :func:`load_authors_weights` folds the flip into the model by negating
  the last Dense kernel and bias (``sigmoid(-z) = 1 - sigmoid(z)``), so the model itself gives P(fake).
* The authors' weights-only ``.h5`` files (Keras 2.1.5) name layers ``conv2d_<n>`` etc. with ``n``
  the creation counter, and list them depth-first (Inception branches interleaved). We map them by
  per-type creation order (the numeric suffix) with a shape check on every tensor, not by position.
* ``Meso4_DF.h5`` / ``Meso4_F2F.h5`` contain no ``leaky_re_lu`` entry in their ``layer_names`` (the
  MesoInception files do). A weights-only file cannot say whether the model that wrote them had the
  LeakyReLU; we keep the published architecture (with LeakyReLU), as ``classifiers.py`` states it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import h5py
import keras
import numpy as np
from keras import layers

from clrnet.errors import WeightsError

# Weight-bearing layers of each model, per layer type, in the authors' creation order.
_CONV_ORDER = {
    "meso4": ["conv1", "conv2", "conv3", "conv4"],
    "mesoinception4": [
        *(f"inc1_{b}" for b in ("a", "b1", "b3", "c1", "c3", "d1", "d3")),
        *(f"inc2_{b}" for b in ("a", "b1", "b3", "c1", "c3", "d1", "d3")),
        "conv3",
        "conv4",
    ],
}
_LAYER_ORDER = {
    kind: {
        "conv2d": convs,
        "batch_normalization": ["bn1", "bn2", "bn3", "bn4"],
        "dense": ["dense1", "dense2"],
    }
    for kind, convs in _CONV_ORDER.items()
}


def _conv_bn_pool(x, filters: int, kernel: int, pool: int, index: int):
    """Conv2D(relu, same) -> BN -> MaxPool(same), one Meso block.

    Args:
        x: 4-D tensor.
        filters: conv filters.
        kernel: square kernel size.
        pool: pool size (stride = pool).
        index: block number (1-based) used in layer names.

    Returns:
        4-D tensor.
    """
    x = layers.Conv2D(filters, kernel, padding="same", activation="relu", name=f"conv{index}")(x)
    x = layers.BatchNormalization(name=f"bn{index}")(x)
    return layers.MaxPooling2D(pool, padding="same", name=f"pool{index}")(x)


def _inception(x, a: int, b: int, c: int, d: int, prefix: str):
    """MesoInception layer: four branches (1x1; 1x1-3x3; 1x1-3x3 dil 2; 1x1-3x3 dil 3), concat.

    Args:
        x: 4-D tensor.
        a, b, c, d: branch widths.
        prefix: layer name prefix.

    Returns:
        4-D tensor with a + b + c + d channels.

    References:
        ``InceptionLayer`` in ``DariusAf/MesoNet: classifiers.py``.
    """

    def conv(t, f, k, dil, name):
        return layers.Conv2D(
            f, k, padding="same", dilation_rate=dil, activation="relu", name=f"{prefix}_{name}"
        )(t)

    x1 = conv(x, a, 1, 1, "a")
    x2 = conv(conv(x, b, 1, 1, "b1"), b, 3, 1, "b3")
    x3 = conv(conv(x, c, 1, 1, "c1"), c, 3, 2, "c3")
    x4 = conv(conv(x, d, 1, 1, "d1"), d, 3, 3, "d3")
    return layers.Concatenate(axis=-1, name=f"{prefix}_concat")([x1, x2, x3, x4])


def _meso_head(x):
    """Flatten -> Dropout(0.5) -> Dense(16) -> LeakyReLU(0.1) -> Dropout(0.5) -> Dense(1, sigmoid)."""
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.5, name="drop1")(x)
    x = layers.Dense(16, name="dense1")(x)
    x = layers.LeakyReLU(negative_slope=0.1, name="leaky_relu")(x)
    x = layers.Dropout(0.5, name="drop2")(x)
    return layers.Dense(1, activation="sigmoid", name="dense2")(x)


def build_meso4(
    input_shape: Sequence[int] = (256, 256, 3), weights: str | Path | None = None, name="meso4"
) -> keras.Model:
    """Meso4 as in the MesoNet authors' ``classifiers.py``.

    Args:
        input_shape: (H, W, 3). The authors' weights need 256x256.
        weights: optional path of an authors' Keras-2 ``.h5`` (label flip folded in on load).
        name: model name.

    Returns:
        Functional model (B, H, W, 3) in [0, 1] -> (B, 1) P(fake).

    References:
        Afchar et al., "MesoNet: a Compact Facial Video Forgery Detection Network", WIFS 2018.
    """
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = _conv_bn_pool(inputs, 8, 3, 2, 1)
    x = _conv_bn_pool(x, 8, 5, 2, 2)
    x = _conv_bn_pool(x, 16, 5, 2, 3)
    x = _conv_bn_pool(x, 16, 5, 4, 4)
    model = keras.Model(inputs, _meso_head(x), name=name)
    if weights is not None:
        load_authors_weights(model, weights, "meso4")
    return model


def build_mesoinception4(
    input_shape: Sequence[int] = (256, 256, 3),
    weights: str | Path | None = None,
    name="mesoinception4",
) -> keras.Model:
    """MesoInception4 as in the MesoNet authors' ``classifiers.py``.

    Args:
        input_shape: (H, W, 3). The authors' weights need 256x256.
        weights: optional path of an authors' Keras-2 ``.h5`` (label flip folded in on load).
        name: model name.

    Returns:
        Functional model (B, H, W, 3) in [0, 1] -> (B, 1) P(fake).

    References:
        Afchar et al., WIFS 2018; ``DariusAf/MesoNet: classifiers.py``.
    """
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = _inception(inputs, 1, 4, 4, 2, "inc1")
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.MaxPooling2D(2, padding="same", name="pool1")(x)
    x = _inception(x, 2, 4, 4, 2, "inc2")
    x = layers.BatchNormalization(name="bn2")(x)
    x = layers.MaxPooling2D(2, padding="same", name="pool2")(x)
    x = _conv_bn_pool(x, 16, 5, 2, 3)
    x = _conv_bn_pool(x, 16, 5, 4, 4)
    model = keras.Model(inputs, _meso_head(x), name=name)
    if weights is not None:
        load_authors_weights(model, weights, "mesoinception4")
    return model


def _file_weight_layers(path: Path) -> dict[str, list[tuple[str, list[np.ndarray]]]]:
    """Read a Keras-2 weights file: weight-bearing layers grouped by type, in creation order.

    Args:
        path: ``.h5`` written by Keras 2 ``save_weights`` (or a full-model file).

    Returns:
        ``{type: [(layer_name, [arrays...]), ...]}`` with types conv2d / batch_normalization /
        dense, each list sorted by the Keras-2 numeric name suffix when every name has one.

    Raises:
        WeightsError: unreadable file, not a Keras-2 weights file, or an unexpected layer type.
    """
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read weights file {path}: not an HDF5 file ({exc})") from exc
    with f:
        group = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in group.attrs:
            raise WeightsError(f"{path} is not a Keras-2 weights file (no 'layer_names' attribute)")
        out: dict[str, list[tuple[str, list[np.ndarray], int | None]]] = {}
        for raw in group.attrs["layer_names"]:
            lname = raw.decode() if isinstance(raw, bytes) else str(raw)
            wnames = [
                w.decode() if isinstance(w, bytes) else str(w)
                for w in group[lname].attrs.get("weight_names", [])
            ]
            if not wnames:
                continue
            m = re.fullmatch(r"(conv2d|batch_normalization|dense)(?:_(\d+))?", lname)
            if m is None:
                raise WeightsError(
                    f"{path}: unexpected weight layer {lname!r} for a MesoNet model"
                )
            arrays = [np.asarray(group[lname][w]) for w in wnames]
            number = int(m.group(2)) if m.group(2) else 0
            out.setdefault(m.group(1), []).append((lname, arrays, number))
    return {
        kind: [(n, a) for n, a, _ in sorted(items, key=lambda t: t[2])]
        for kind, items in out.items()
    }


def load_authors_weights(model: keras.Model, path: str | Path, kind: str) -> keras.Model:
    """Load the MesoNet authors' Keras-2 weights into our model and fold in the label flip.

    Layers are matched per type in creation order, every tensor shape is checked, and the final
    Dense is negated so the model outputs P(fake) = 1 - (authors' P(real)).

    Args:
        model: a model from :func:`build_meso4` / :func:`build_mesoinception4` (256x256 input).
        path: the authors' ``.h5`` file.
        kind: ``"meso4"`` or ``"mesoinception4"``.

    Returns:
        The same model, weights set in place.

    Raises:
        WeightsError: missing file, wrong file format, or a file for another architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    file_layers = _file_weight_layers(path)
    for ltype, our_names in _LAYER_ORDER[kind].items():
        theirs = file_layers.get(ltype, [])
        if len(theirs) != len(our_names):
            raise WeightsError(
                f"{path} does not fit {kind}: it has {len(theirs)} {ltype} layers, "
                f"{kind} has {len(our_names)}"
            )
        for our_name, (their_name, arrays) in zip(our_names, theirs, strict=True):
            layer = model.get_layer(our_name)
            expected = [tuple(w.shape) for w in layer.weights]
            got = [tuple(a.shape) for a in arrays]
            if expected != got:
                raise WeightsError(
                    f"{path} does not fit {kind}: layer {their_name} has shapes {got}, "
                    f"our {our_name} expects {expected}"
                )
            if our_name == "dense2":  # authors' sigmoid = P(real): flip to P(fake)
                arrays = [-a for a in arrays]
            layer.set_weights(arrays)
    return model
