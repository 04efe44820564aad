"""Convert the CLRNet authors' tf.keras checkpoints (both HDF5 layouts) into Keras 3 models.

``python -m clrnet.convert_official SRC.h5 OUT.keras [--image-size S] [--clip-len T]``

The authors (``shahroztariq/CLRNet`` notebooks ``src/CLRNET_*.ipynb``) saved two
kinds of tf.keras 1.x/2.x HDF5 file, and their 2024 release (CLR, SNV3, M14, XCE) may hold either:

* **full model** (``ModelCheckpoint(...)``, ``model.save``): a JSON ``model_config`` attribute and
  a ``model_weights`` group;
* **weights only** (``ModelCheckpoint(..., save_weights_only=True)``, ``model.save_weights``): the
  same weight group at the file's root and no architecture.

In both, the weight group carries the attributes ``layer_names`` (every layer, in the model's
``model.layers`` order; chunked into ``layer_names0``, ``layer_names1``, ... when long),
``backend`` and ``keras_version``; each layer has a group ``<layer>`` with attribute
``weight_names`` (``w.name`` of each variable) and one dataset per name under that path, e.g.
``res0a_branch2a/res0a_branch2a/kernel:0`` (checked on files written by tf_keras 2.21). Default
names differ between versions (``conv_lst_m2d_3`` in TF 1.x, ``conv_lstm2d_3`` in tf.keras 2.x,
``batch_normalization_v1_3`` in TF 1.13), and some TF 2.x versions name recurrent weights
``<layer>/<cell>/<var>:0``; only the last path component (``kernel``) is read. Keras 2's
``save_weights_to_hdf5_group`` / ``load_weights_from_hdf5_group``
(``keras/saving/legacy/hdf5_format.py``) define the layout; Keras loads such files by position,
so the file itself never names the architecture.

Supported architectures, told apart by the kinds, counts and shapes of the weights (the file
decides; no flag names the model):

* **CLRNet**: block type (bottleneck/basic), repetitions and initial filters follow from the
  ConvLSTM kernels; the network is fully convolutional up to its global pooling, so the input
  size is free (``--image-size``, default 240; the authors also trained at 128; ``--clip-len``,
  default 5). Head: the two softmax columns are swapped.
* **ShallowNetV3**: the hidden width follows from the Dense kernels and its Flatten fixes the
  input (a 28 x 28 x 32 map: 128 x 128). Head: the two sigmoid columns are swapped.
* **MesoInception4** and **Meso4** (the MesoNet authors' layer sizes): the Flatten fixes the
  input (8 x 8 x 16: 256 x 256). Head: the single sigmoid's kernel and bias are negated.
* **Xception** (``keras.applications``, 2 classes): input size free (default 240). Head: the two
  softmax columns are swapped.

Every one of these was trained with real = 1 (``flow_from_directory`` sorts ``fake`` before
``real``): their softmax/sigmoid index 0 is fake, MesoNet's single
sigmoid is P(real). The converter folds the flip into the last Dense layer (columns swapped, or
kernel and bias negated: ``sigmoid(-z) = 1 - sigmoid(z)``), so the converted model follows the
package (index 1 = P(fake), or one sigmoid = P(fake)) and carries no extra layer (``clrnet.cam``
needs the pooling -> Dense head).

How layers are matched (layer names are mostly tf.keras defaults such as ``conv_lst_m2d_17``, and
the official CLRNet names only ``res0a_branch2a``):

* **full model**: the graph in ``model_config`` (tf.keras 2.x or Keras 3 ``inbound_nodes``,
  functional or sequential) is put in a canonical order (CLRNet: topological, residual branch
  before the valid-padded projection shortcut; the others: depth-first post-order, inputs in call
  order), our model's graph in the same order, and both sequences of layer types must agree; the
  settings the weights cannot reveal (strides, padding, dilation, pooling, activations, epsilon)
  are compared layer by layer. Names do not matter.
* **weights only**: per layer type, in the order the official builder created the layers: the
  numeric suffix of default names (``dense``, ``dense_1``, ...; tf.keras numbers each type in
  creation order), a custom-named layer (``res0a_branch2a``) placed by its position in
  ``layer_names``; Xception's named layers (``block3_sepconv2``, ...) are matched by name.
  Settings the weights cannot reveal are those of the published architecture; a weights-only
  file does not store the dropout rate either (0.25, the authors' value, when the file lists
  Dropout layers), nor CLRNet's recurrent activation (tf.keras's ``hard_sigmoid``, i.e. our
  ``hard_sigmoid_keras2``, the default of every tf.keras the authors used).

Every tensor's shape is checked against the model built from the inferred hyper-parameters; a
file that fits no supported architecture, a truncated file or one with a changed shape gives one
:class:`ConversionError` line (exit 2 from the CLI).

For ``python -m clrnet.predict``: :func:`is_official_checkpoint` (a cheap look at the file's
metadata) and :func:`convert_cached` (convert once into a cache keyed by the file's SHA-256 and
the options, then reuse).

References:
    Tariq et al., "One Detector to Rule Them All", WWW'21 (CLRNet); ``shahroztariq/CLRNet`` ``src/`` (model
    code and notebooks); Keras 2 ``keras/saving/legacy/hdf5_format.py`` (file layout, read for facts only).

Size: over 1,100 lines: two HDF5 layouts times five official architectures, each with
its own layer-name map and label flip, all tested against the authors' files' outputs.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np

from clrnet.errors import WeightsError
from clrnet.registry import build_model
from data_prep.fileio import atomic_path

__all__ = [
    "ARCHITECTURES",
    "CONVERTER_VERSION",
    "Checkpoint",
    "ConversionError",
    "WeightLayer",
    "convert_cached",
    "convert_checkpoint",
    "default_cache_dir",
    "detect_architecture",
    "file_sha256",
    "graph_from_config",
    "infer_clrnet_hparams",
    "is_official_checkpoint",
    "main",
    "read_checkpoint",
]

#: Bumped whenever a conversion of the same file could give a different model (cache key).
CONVERTER_VERSION = 2
#: Registry name -> how the authors' files name it in messages.
ARCHITECTURES = {
    "clrnet": "CLRNet",
    "shallownet_v3": "ShallowNetV3",
    "mesoinception4": "MesoInception4",
    "meso4": "Meso4",
    "xception": "Xception",
}
#: Default square input side of the architectures whose input size the weights leave free.
DEFAULT_IMAGE_SIZE = {"clrnet": 240, "xception": 240}
DEFAULT_CLIP_LEN = 5
#: The authors' dropout rate (CLRNet blocks and head), used when a weights-only file lists Dropout.
OFFICIAL_DROPOUT = 0.25

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
WEIGHTED = ("ConvLSTM2D", "Conv2D", "SeparableConv2D", "BatchNormalization", "Dense")
ALLOWED = {
    "InputLayer",
    "ConvLSTM2D",
    "BatchNormalization",
    "Activation",
    "MaxPooling3D",
    "Dropout",
    "Add",
    "GlobalAveragePooling3D",
    "Dense",
}
_ACTIVATIONS = {"hard_sigmoid": "hard_sigmoid_keras2", "sigmoid": "sigmoid"}
_ALIASES = {
    "FusedConvLSTM2D": "ConvLSTM2D",
    "MaxPool2D": "MaxPooling2D",
    "MaxPool3D": "MaxPooling3D",
    "GlobalAvgPool2D": "GlobalAveragePooling2D",
    "GlobalAvgPool3D": "GlobalAveragePooling3D",
    "Functional": "Model",
}


class ConversionError(WeightsError):
    """A file that is not an official checkpoint of a supported model, or one that cannot be mapped."""


# --------------------------------------------------------------------------------------------
# Graphs from model_config
# --------------------------------------------------------------------------------------------


@dataclass
class Node:
    """One layer of a model config."""

    name: str
    kind: str  # normalised class name (BatchNormalizationV1 -> BatchNormalization)
    config: dict[str, Any]
    inbound: list[str] = field(default_factory=list)


def _kind(class_name: str) -> str:
    """Normalise class-name variants (``BatchNormalizationV1``, ``FusedConvLSTM2D``, aliases)."""
    if class_name.startswith("BatchNormalization"):
        return "BatchNormalization"
    return _ALIASES.get(class_name, class_name)


def _history_names(obj: Any) -> list[str]:
    """Inbound layer names of a Keras 3 node (every nested ``keras_history``)."""
    if isinstance(obj, dict):
        if "keras_history" in obj:
            return [obj["keras_history"][0]]
        return [n for v in obj.values() for n in _history_names(v)]
    if isinstance(obj, list | tuple):
        return [n for v in obj for n in _history_names(v)]
    return []


def _inbound(layer: dict[str, Any]) -> list[str]:
    """Inbound layer names of a layer config in tf.keras 2.x or Keras 3 form."""
    nodes = layer.get("inbound_nodes") or []
    if len(nodes) > 1:
        raise ConversionError(f"layer {layer.get('name')!r} is called more than once")
    if not nodes:
        return []
    node = nodes[0]
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        return _history_names(node.get("args", []))
    return [entry[0] for entry in node]  # tf.keras 2.x: [[name, node_idx, tensor_idx, kwargs]]


def _nodes_from_config(model_config: dict[str, Any]) -> dict[str, Node]:
    """Parse a functional or sequential model config into named nodes (config list order).

    Raises:
        ConversionError: not a model config, or a malformed graph.
    """
    kind = _kind(str(model_config.get("class_name")))
    config = model_config.get("config")
    if kind == "Sequential":
        layers = config if isinstance(config, list) else (config or {}).get("layers")
    elif kind == "Model" or isinstance(config, dict) and "input_layers" in config:
        layers = (config or {}).get("layers")
    else:
        raise ConversionError(
            f"model_config is a {model_config.get('class_name')!r}, not a functional or "
            "sequential Model"
        )
    if not isinstance(layers, list) or not layers:
        raise ConversionError("model_config has no layer list")
    nodes: dict[str, Node] = {}
    previous = None
    for entry in layers:
        cfg = entry.get("config", {}) or {}
        name = entry.get("name") or cfg.get("name")
        node_kind = _kind(str(entry.get("class_name")))
        if kind == "Sequential":
            if previous is None and node_kind != "InputLayer":
                shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
                nodes["<input>"] = Node("<input>", "InputLayer", {"batch_input_shape": shape})
                previous = "<input>"
            inbound = [previous] if previous else []
        else:
            inbound = _inbound(entry)
        nodes[name] = Node(name, node_kind, cfg, inbound)
        previous = name
    for name, n in nodes.items():
        for src in n.inbound:
            if src not in nodes:
                raise ConversionError(f"layer {name!r} reads unknown layer {src!r}")
    return nodes


def _consumers(nodes: dict[str, Node]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {name: [] for name in nodes}
    for name, n in nodes.items():
        for src in dict.fromkeys(n.inbound):
            out[src].append(name)
    return out


def graph_from_config(model_config: dict[str, Any]) -> list[Node]:
    """Parse a CLRNet model config into nodes in canonical order.

    Canonical order: Kahn's topological sort that, among ready layers, takes layers off the
    projection-shortcut branch (valid-padded ConvLSTM2D) last, then the config's list order. It
    equals the official builder's creation order (residual branch, then ``_shortcut``).

    Args:
        model_config: ``{"class_name": "Model"|"Functional", "config": {"layers": [...]}}``.

    Returns:
        Nodes in canonical order.

    Raises:
        ConversionError: not a model config or a malformed graph.
    """
    nodes = _nodes_from_config(model_config)
    position = {name: i for i, name in enumerate(nodes)}
    waiting = {name: len(set(n.inbound)) for name, n in nodes.items()}
    consumers = _consumers(nodes)

    def priority(name: str) -> tuple[int, int]:
        n = nodes[name]
        shortcut = n.kind == "ConvLSTM2D" and n.config.get("padding") == "valid"
        return (int(shortcut), position[name])

    ready = [priority(name) + (name,) for name, k in waiting.items() if k == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        *_, name = heapq.heappop(ready)
        order.append(nodes[name])
        for c in consumers[name]:
            waiting[c] -= 1
            if waiting[c] == 0:
                heapq.heappush(ready, priority(c) + (c,))
    if len(order) != len(nodes):
        raise ConversionError("model_config graph has a cycle")
    return order


def postorder_from_config(model_config: dict[str, Any]) -> list[Node]:
    """Nodes in depth-first post-order from the output, inputs visited in call order.

    For the baselines this is the order their builders create layers in (an Inception layer's
    branches one after the other, a chain in order), and it depends on the graph only.

    Args:
        model_config: a functional or sequential model config.

    Returns:
        Every node once, each after all of its inputs.

    Raises:
        ConversionError: malformed graph or more than one output.
    """
    nodes = _nodes_from_config(model_config)
    consumers = _consumers(nodes)
    sinks = [name for name, c in consumers.items() if not c]
    if len(sinks) != 1:
        raise ConversionError(f"model_config has {len(sinks)} outputs; expected one")
    order: list[Node] = []
    state: dict[str, int] = {}
    stack: list[tuple[str, int]] = [(sinks[0], 0)]
    while stack:  # iterative DFS (Xception is deep enough for Python's recursion limit)
        name, i = stack.pop()
        if i == 0:
            if state.get(name) == 2:
                continue
            if state.get(name) == 1:
                raise ConversionError("model_config graph has a cycle")
            state[name] = 1
        inbound = nodes[name].inbound
        while i < len(inbound) and state.get(inbound[i]) == 2:
            i += 1
        if i < len(inbound):
            stack.append((name, i + 1))
            stack.append((inbound[i], 0))
        else:
            state[name] = 2
            order.append(nodes[name])
    if len(order) != len(nodes):
        missing = sorted(set(nodes) - {n.name for n in order})
        raise ConversionError(f"model_config has layers off the path to the output: {missing[:3]}")
    return order


def _pair(value: Any) -> tuple[int, ...]:
    """``3`` or ``[3, 3]`` -> ``(3, 3)``."""
    return tuple(value) if isinstance(value, list | tuple) else (value, value)


def _activation_name(value: Any) -> str:
    """Activation name from a tf.keras string or a Keras 3 serialized dict."""
    if isinstance(value, dict):
        value = value.get("config", {}).get("name") or value.get("registered_name") or ""
        value = str(value).split(">")[-1]
    return str(value if value is not None else "linear")


def _input_shape(nodes: Sequence[Node]) -> tuple:
    """The (batch-less) input shape of the single InputLayer of a config graph."""
    inputs = [n for n in nodes if n.kind == "InputLayer"]
    if len(inputs) != 1:
        raise ConversionError(f"the model has {len(inputs)} inputs; expected one")
    cfg = inputs[0].config
    shape = cfg.get("batch_input_shape") or cfg.get("batch_shape") or cfg.get("batch_size_shape")
    if not shape:
        raise ConversionError("the model's input layer records no shape")
    return tuple(shape[1:])


def infer_clrnet_hparams(order: list[Node]) -> dict[str, Any]:
    """Recover :func:`clrnet.models.build_clrnet` arguments from a canonically ordered CLRNet graph.

    Args:
        order: output of :func:`graph_from_config`.

    Returns:
        ``input_shape, repetitions, initial_filters, dropout, block, recurrent_activation``.

    Raises:
        ConversionError: the graph is not a CLRNet this builder can express.
    """
    for n in order:
        if n.kind not in ALLOWED:
            raise ConversionError(
                f"not a CLRNet checkpoint: it has a {n.kind} layer ({n.name!r})"
            )
    inputs = [n for n in order if n.kind == "InputLayer"]
    convs = [n for n in order if n.kind == "ConvLSTM2D"]
    dense = [n for n in order if n.kind == "Dense"]
    if len(inputs) != 1 or not convs or len(dense) != 1:
        raise ConversionError(
            f"not a CLRNet checkpoint: {len(inputs)} inputs, {len(convs)} ConvLSTM2D, "
            f"{len(dense)} Dense layers"
        )
    shape = _input_shape(order)
    if len(shape) != 4:
        raise ConversionError(f"not a CLRNet checkpoint: input shape {shape} is not (T, H, W, C)")
    stem = convs[0].config
    if _pair(stem.get("kernel_size")) != (7, 7) or _pair(stem.get("strides")) != (2, 2):
        raise ConversionError(
            f"unsupported CLRNet stem: kernel {stem.get('kernel_size')}, "
            f"strides {stem.get('strides')} (expected 7x7 stride 2)"
        )
    rec = {_activation_name(c.config.get("recurrent_activation", "hard_sigmoid")) for c in convs}
    act = {_activation_name(c.config.get("activation", "tanh")) for c in convs}
    if len(rec) != 1 or next(iter(rec)) not in _ACTIVATIONS or act != {"tanh"}:
        raise ConversionError(f"unsupported ConvLSTM2D activations {sorted(act)} / {sorted(rec)}")
    head = dense[0].config
    if head.get("units") != 2 or _activation_name(head.get("activation")) != "softmax":
        raise ConversionError(
            f"unsupported head: Dense({head.get('units')}, {head.get('activation')}); "
            "expected Dense(2, softmax)"
        )
    # Blocks end at Add layers; their same-padded ConvLSTMs give block type and width.
    blocks: list[list[Node]] = []
    current: list[Node] = []
    for n in order:
        if n.kind == "ConvLSTM2D" and n is not convs[0] and n.config.get("padding") != "valid":
            current.append(n)
        elif n.kind == "Add":
            blocks.append(current)
            current = []
    if not blocks or current:
        raise ConversionError("not a CLRNet checkpoint: no residual blocks ending in Add")
    per_block = {len(b) for b in blocks}
    if per_block not in ({3}, {2}):
        raise ConversionError(f"unsupported residual blocks with {sorted(per_block)} ConvLSTMs")
    block = "bottleneck" if per_block == {3} else "basic"
    repetitions: list[int] = []
    width = None
    for b in blocks:
        f = b[0].config["filters"]
        if f != width:
            repetitions.append(0)
            width = f
        repetitions[-1] += 1
    rates = {float(n.config.get("rate", 0.0)) for n in order if n.kind == "Dropout"}
    if len(rates) > 1:
        raise ConversionError(f"unsupported: several dropout rates {sorted(rates)}")
    return {
        "input_shape": shape,
        "repetitions": repetitions,
        "initial_filters": int(stem["filters"]),
        "dropout": rates.pop() if rates else 0.0,
        "block": block,
        "recurrent_activation": _ACTIVATIONS[next(iter(rec))],
    }


# --------------------------------------------------------------------------------------------
# Reading the HDF5 file
# --------------------------------------------------------------------------------------------


@dataclass
class WeightLayer:
    """One weight-bearing layer of a checkpoint.

    Attributes:
        name: the layer's name in the file.
        kind: ``ConvLSTM2D``, ``Conv2D``, ``SeparableConv2D``, ``BatchNormalization`` or
            ``Dense`` (from the variable names and shapes; ``"?"`` when none fits).
        shapes: variable name (``kernel``, ``gamma``, ...) -> shape, in the file's order.
        position: index of the layer in ``layer_names``.
        values: variable name -> array (None when read with ``load_values=False``).
    """

    name: str
    kind: str
    shapes: dict[str, tuple[int, ...]]
    position: int
    values: dict[str, np.ndarray] | None = None

    def describe(self) -> str:
        return f"{self.name!r} ({self.kind} {list(self.shapes.values())})"


@dataclass
class Checkpoint:
    """What :func:`read_checkpoint` found in a tf.keras HDF5 file.

    Attributes:
        path: the file.
        layout: ``"full-model"`` (``model.save``) or ``"weights-only"`` (``save_weights``).
        config: the parsed ``model_config`` (full model) or None.
        layers: weight-bearing layers in ``layer_names`` order.
        layer_names: every name in ``layer_names`` (weightless layers too).
        keras_version: the writer's ``keras_version`` attribute ("" if absent).
    """

    path: Path
    layout: str
    config: dict[str, Any] | None
    layers: list[WeightLayer]
    layer_names: list[str]
    keras_version: str = ""

    def by_name(self) -> dict[str, WeightLayer]:
        return {layer.name: layer for layer in self.layers}


def _read_attr_json(value: Any) -> dict[str, Any]:
    """Decode a JSON attribute stored as bytes or str."""
    return json.loads(value.decode("utf-8") if isinstance(value, bytes) else value)


def _string_list_attr(group: h5py.Group, name: str) -> list[str] | None:
    """A list-of-strings attribute, also in Keras' chunked form (``name0``, ``name1``, ...)."""
    if name in group.attrs:
        chunks = [group.attrs[name]]
    elif f"{name}0" in group.attrs:
        chunks, i = [], 0
        while f"{name}{i}" in group.attrs:
            chunks.append(group.attrs[f"{name}{i}"])
            i += 1
    else:
        return None
    return [v.decode() if isinstance(v, bytes) else str(v) for c in chunks for v in np.ravel(c)]


def _weight_kind(shapes: dict[str, tuple[int, ...]]) -> str:
    """Layer type from its variables: names first, shapes to tell Conv2D from Dense."""
    names = set(shapes)
    kernel = shapes.get("kernel")
    if "recurrent_kernel" in names and kernel is not None and len(kernel) == 4:
        return "ConvLSTM2D"
    if {"depthwise_kernel", "pointwise_kernel"} <= names:
        return "SeparableConv2D"
    if {"moving_mean", "moving_variance"} <= names and names <= {
        "gamma", "beta", "moving_mean", "moving_variance"
    }:
        return "BatchNormalization"
    if kernel is not None and names <= {"kernel", "bias"}:
        if len(kernel) == 4:
            return "Conv2D"
        if len(kernel) == 2:
            return "Dense"
    return "?"


def _var_name(weight_name: str) -> str:
    """``conv_lst_m2d/conv_lst_m2d_cell/kernel:0`` -> ``kernel``."""
    return weight_name.split("/")[-1].split(":")[0]


def _open_h5(path: Path) -> h5py.File:
    """Open ``path`` read-only, or raise a one-line :class:`ConversionError`."""
    if not path.is_file():
        raise ConversionError(f"checkpoint not found: {path}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ConversionError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        if head != _HDF5_SIGNATURE:
            raise ConversionError(f"{path} is not an HDF5 file") from exc
        reason = str(exc).split("(")[0].strip().rstrip(":") or "unreadable"
        raise ConversionError(
            f"{path} is a truncated or damaged HDF5 file ({reason})"
        ) from exc


def read_checkpoint(path: str | Path, load_values: bool = True) -> Checkpoint:
    """Read a tf.keras 1.x/2.x HDF5 checkpoint of either layout.

    Args:
        path: the ``.h5``/``.hdf5`` file.
        load_values: read the arrays (False: shapes only, for a quick look).

    Returns:
        The :class:`Checkpoint`.

    Raises:
        ConversionError: missing, non-HDF5, truncated, or not a Keras weights file.
    """
    path = Path(path)
    f = _open_h5(path)
    try:
        with f:
            config = None
            if "model_config" in f.attrs:
                try:
                    config = _read_attr_json(f.attrs["model_config"])
                except (ValueError, UnicodeDecodeError) as exc:
                    raise ConversionError(f"{path}: model_config is not valid JSON") from exc
                group = f.get("model_weights")
                if not isinstance(group, h5py.Group):
                    raise ConversionError(f"{path} has a model_config but no 'model_weights'")
                layout = "full-model"
            else:
                group, layout = f, "weights-only"
            layer_names = _string_list_attr(group, "layer_names")
            if layer_names is None:
                raise ConversionError(
                    f"{path} is an HDF5 file but not a Keras weights file "
                    "(no 'layer_names' attribute)"
                )
            version = group.attrs.get("keras_version", f.attrs.get("keras_version", b""))
            version = version.decode() if isinstance(version, bytes) else str(version)
            layers = []
            for position, lname in enumerate(layer_names):
                if lname not in group:
                    raise ConversionError(f"{path}: no weight group for layer {lname!r}")
                layer_group = group[lname]
                weight_names = _string_list_attr(layer_group, "weight_names") or []
                if not weight_names:
                    continue
                shapes: dict[str, tuple[int, ...]] = {}
                values: dict[str, np.ndarray] = {}
                for wname in weight_names:
                    var = _var_name(wname)
                    if var in shapes:
                        raise ConversionError(f"{path}: layer {lname!r} has two {var!r} weights")
                    if wname not in layer_group:
                        raise ConversionError(f"{path}: layer {lname!r} has no dataset {wname!r}")
                    dset = layer_group[wname]
                    shapes[var] = tuple(int(d) for d in dset.shape)
                    if load_values:
                        try:
                            values[var] = np.asarray(dset)
                        except OSError as exc:
                            raise ConversionError(
                                f"{path} is truncated or damaged: cannot read {lname}/{wname}"
                            ) from exc
                layers.append(WeightLayer(lname, _weight_kind(shapes), shapes, position,
                                          values if load_values else None))
    except OSError as exc:  # h5py reports damage late, on first access
        raise ConversionError(f"{path} is a truncated or damaged HDF5 file ({exc})") from exc
    return Checkpoint(path, layout, config, layers, layer_names, version)


# --------------------------------------------------------------------------------------------
# Architectures
# --------------------------------------------------------------------------------------------

_SIGNATURES = {  # (Conv2D, BatchNormalization, Dense) -> architecture, for plain CNN files
    (16, 4, 2): "mesoinception4",
    (4, 4, 2): "meso4",
    (8, 1, 2): "shallownet_v3",
}


def _counts_text(layers: Sequence[WeightLayer]) -> str:
    counts = Counter(layer.kind for layer in layers)
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no weights"


def detect_architecture(layers: Sequence[WeightLayer], path: str | Path = "") -> str:
    """Which supported architecture a checkpoint's weight layers belong to.

    Args:
        layers: :attr:`Checkpoint.layers`.
        path: the file, for the message.

    Returns:
        A key of :data:`ARCHITECTURES`.

    Raises:
        ConversionError: the weights fit none of them.
    """
    counts = Counter(layer.kind for layer in layers)
    unknown = [layer for layer in layers if layer.kind == "?"]
    arch = None
    if not unknown:
        if counts["ConvLSTM2D"] and set(counts) <= {"ConvLSTM2D", "BatchNormalization", "Dense"}:
            arch = "clrnet"
        elif counts["SeparableConv2D"] and set(counts) <= {
            "SeparableConv2D", "Conv2D", "BatchNormalization", "Dense"
        }:
            arch = "xception"
        elif set(counts) <= {"Conv2D", "BatchNormalization", "Dense"}:
            arch = _SIGNATURES.get(
                (counts["Conv2D"], counts["BatchNormalization"], counts["Dense"])
            )
    if arch is None:
        what = f"layer {unknown[0].describe()}" if unknown else _counts_text(layers)
        where = f"{path}: " if str(path) else ""
        raise ConversionError(
            f"{where}not a checkpoint of {', '.join(ARCHITECTURES.values())}: it holds {what}"
        )
    return arch


_SUFFIX = re.compile(r"(.*?)(?:_(\d+))?")


def _creation_order(layers: list[WeightLayer]) -> list[WeightLayer]:
    """Layers of one type in the order tf.keras created them.

    Default names (the type's most common stem: ``conv2d``, ``conv2d_1``, ...) sort by their
    number; a custom-named layer goes before the first default-named one that follows it in
    ``layer_names`` (tf.keras lists layers so that each comes after its inputs).
    """
    if not layers:
        return []
    parsed = {id(la): _SUFFIX.fullmatch(la.name).groups() for la in layers}
    base = Counter(parsed[id(la)][0] for la in layers).most_common(1)[0][0]
    ordered = sorted((la for la in layers if parsed[id(la)][0] == base),
                     key=lambda la: int(parsed[id(la)][1] or 0))
    for layer in sorted((la for la in layers if parsed[id(la)][0] != base),
                        key=lambda la: la.position):
        at = next((i for i, o in enumerate(ordered) if o.position > layer.position), len(ordered))
        ordered.insert(at, layer)
    return ordered


def _their_order(ckpt: Checkpoint, kind: str) -> list[WeightLayer]:
    return _creation_order([layer for layer in ckpt.layers if layer.kind == kind])


def _filters(layer: WeightLayer) -> int:
    """Units of a ConvLSTM2D from its kernel (4 gates side by side)."""
    return layer.shapes["kernel"][-1] // 4


def _square_size(rows: int, channels: int, what: str) -> int:
    """Side s of a Flatten over an s x s x channels map with ``rows`` outputs."""
    side = int(round((rows / channels) ** 0.5)) if rows > 0 else 0
    if side < 1 or side * side * channels != rows:
        raise ConversionError(
            f"not a {what} checkpoint: its first Dense kernel has {rows} rows, which is no "
            f"square map of {channels} channels"
        )
    return side


def _frame_size(arch: str, ckpt: Checkpoint, image_size: int | None) -> int:
    """Square input side of a frame model (from the Flatten for ShallowNetV3 and MesoNet)."""
    from_config = None
    if ckpt.config is not None:
        shape = _input_shape(list(_nodes_from_config(ckpt.config).values()))
        if len(shape) != 3:
            raise ConversionError(f"{ckpt.path}: input shape {shape} is not (H, W, C)")
        from_config = shape[0]
    if arch == "xception":
        size = image_size or from_config or DEFAULT_IMAGE_SIZE[arch]
        if size < 71:
            raise ConversionError(f"Xception needs an input of at least 71 pixels, got {size}")
        return int(size)
    dense = _their_order(ckpt, "Dense")
    rows = dense[0].shapes["kernel"][0]
    if arch == "shallownet_v3":
        side = _square_size(rows, 32, ARCHITECTURES[arch])
        exact = 4 * side + 16  # conv5 valid, pool 2, conv3 valid, pool 2, conv3 valid

        def flat(s: int) -> int:
            return ((s - 4) // 2 - 2) // 2 - 2
    else:  # MesoNet: four 'same' poolings by 2, 2, 2, 4
        side = _square_size(rows, 16, ARCHITECTURES[arch])
        exact = 32 * side

        def flat(s: int) -> int:
            return -(-s // 32)
    size = image_size or from_config or exact
    if flat(int(size)) != side:
        raise ConversionError(
            f"{ARCHITECTURES[arch]} input {size}x{size} does not fit the checkpoint: its Dense "
            f"layer reads a {side}x{side} map ({exact}x{exact} input)"
        )
    return int(size)


def _clrnet_hparams_from_weights(ckpt: Checkpoint, image_size: int | None,
                                 clip_len: int | None) -> dict[str, Any]:
    """CLRNet builder arguments from a weights-only file (ConvLSTM kernels in creation order)."""
    convs = _their_order(ckpt, "ConvLSTM2D")
    stem = convs[0]
    kh, kw, cin, _ = stem.shapes["kernel"]
    if (kh, kw, cin) != (7, 7, 3):
        raise ConversionError(
            f"not a CLRNet checkpoint: its first ConvLSTM2D {stem.name!r} has a {kh}x{kw} kernel "
            f"on {cin} channels (expected the 7x7 stem on RGB)"
        )
    f0 = _filters(stem)
    if len(convs) < 4:
        raise ConversionError(f"not a CLRNet checkpoint: only {len(convs)} ConvLSTM2D layers")
    # 4th ConvLSTM: the bottleneck's 1x1 expansion (4 F0 units) or the basic block's shortcut (F0)
    block = "bottleneck" if _filters(convs[3]) == 4 * f0 else "basic"
    per_block = 3 if block == "bottleneck" else 2
    repetitions: list[int] = []
    width, i = None, 1
    while i < len(convs):
        f = _filters(convs[i])
        take = per_block + (f != width)  # block 0 of a stage also has its projection shortcut
        if f != width:
            repetitions.append(0)
            width = f
        repetitions[-1] += 1
        i += take
    if i != len(convs):
        raise ConversionError(
            f"not a CLRNet checkpoint: {len(convs)} ConvLSTM2D layers do not split into "
            f"{block} blocks"
        )
    stems = {_SUFFIX.fullmatch(n).group(1) for n in ckpt.layer_names}
    size = image_size or DEFAULT_IMAGE_SIZE["clrnet"]
    return {
        "input_shape": (clip_len or DEFAULT_CLIP_LEN, size, size, 3),
        "repetitions": repetitions,
        "initial_filters": f0,
        "dropout": OFFICIAL_DROPOUT if any(s.startswith("dropout") for s in stems) else None,
        "block": block,
        "recurrent_activation": "hard_sigmoid_keras2",
    }


def _build_kwargs(arch: str, ckpt: Checkpoint, image_size: int | None,
                  clip_len: int | None) -> dict[str, Any]:
    """Builder arguments of the model that fits ``ckpt``."""
    if arch == "clrnet":
        if ckpt.config is not None:
            hparams = infer_clrnet_hparams(graph_from_config(ckpt.config))
            t, h, w, c = hparams["input_shape"]
            t = clip_len or t or DEFAULT_CLIP_LEN
            h = image_size or h or DEFAULT_IMAGE_SIZE[arch]
            w = image_size or w or DEFAULT_IMAGE_SIZE[arch]
            hparams["input_shape"] = (t, h, w, c)
        else:
            hparams = _clrnet_hparams_from_weights(ckpt, image_size, clip_len)
        return hparams
    size = _frame_size(arch, ckpt, image_size)
    kwargs: dict[str, Any] = {"input_shape": (size, size, 3)}
    if arch == "shallownet_v3":
        kwargs["dense_units"] = _their_order(ckpt, "Dense")[0].shapes["kernel"][1]
    if arch == "xception":
        kwargs["classes"] = _their_order(ckpt, "Dense")[-1].shapes["kernel"][1]
    return kwargs


def _our_order(model: keras.Model, arch: str) -> list[Node]:
    """Our model's layers in the order the official builder creates them (see module doc)."""
    config = {"class_name": "Functional", "config": {"layers": model.get_config()["layers"]}}
    return graph_from_config(config) if arch == "clrnet" else postorder_from_config(config)


def _their_graph_order(ckpt: Checkpoint, arch: str) -> list[Node]:
    return graph_from_config(ckpt.config) if arch == "clrnet" else postorder_from_config(
        ckpt.config)


def _settings(node: Node) -> dict[str, Any]:
    """The config values that change a layer's function but not its weight shapes."""
    c = node.config
    if node.kind in ("ConvLSTM2D", "Conv2D", "SeparableConv2D"):
        out = {
            "strides": _pair(c.get("strides", 1)),
            "padding": c.get("padding", "valid"),
            "dilation_rate": _pair(c.get("dilation_rate", 1)),
        }
        if node.kind != "ConvLSTM2D":
            out["activation"] = _activation_name(c.get("activation"))
        return out
    if node.kind in ("MaxPooling2D", "MaxPooling3D"):
        pool = tuple(_pair(c.get("pool_size", 2))) if node.kind == "MaxPooling2D" else tuple(
            c.get("pool_size", ()))
        strides = c.get("strides")
        strides = (_pair(strides) if node.kind == "MaxPooling2D" else tuple(strides)) \
            if strides else pool
        return {"pool_size": pool, "strides": tuple(strides), "padding": c.get("padding")}
    if node.kind == "BatchNormalization":  # floats rounded: tf.keras stored some as float32
        return {"epsilon": round(float(c.get("epsilon", 1e-3)), 6)}
    if node.kind in ("Activation", "Dense"):
        return {"activation": _activation_name(c.get("activation"))}
    if node.kind == "LeakyReLU":
        return {"negative_slope": round(float(c.get("negative_slope", c.get("alpha", 0.3))), 6)}
    return {}


def _check_same_settings(src: Path, theirs: Node, ours: Node) -> None:
    """Raise if two matched layers differ in a setting weights cannot reveal."""
    a, b = _settings(theirs), _settings(ours)
    if a != b:
        raise ConversionError(
            f"{src}: layer {theirs.name!r} ({theirs.kind}) has {a}, our model has {b}"
        )


def _assign(src: Path, theirs: WeightLayer, layer: keras.layers.Layer, flip: bool) -> None:
    """Set ``layer``'s weights from ``theirs`` (matched by variable name, shapes checked)."""
    names = [w.name.split("/")[-1] for w in layer.weights]
    assert theirs.values is not None
    missing = [n for n in names if n not in theirs.values]
    if missing or len(names) != len(theirs.values):
        raise ConversionError(
            f"{src}: weights of layer {theirs.name!r} missing or incomplete: it has "
            f"{sorted(theirs.values)}, our {layer.name!r} needs {names}"
        )
    values = [theirs.values[n] for n in names]
    expected = [tuple(w.shape) for w in layer.weights]
    got = [tuple(v.shape) for v in values]
    if expected != got:
        raise ConversionError(
            f"{src}: layer {theirs.name!r} has weight shapes {got}, our {layer.name!r} expects "
            f"{expected}"
        )
    if flip:  # the authors' head: real = 1
        if expected[0][-1] == 2:  # two-way softmax / sigmoid: swap the columns
            values = [v[..., ::-1] for v in values]
        elif expected[0][-1] == 1:  # one sigmoid = P(real): sigmoid(-z) = 1 - sigmoid(z)
            values = [-v for v in values]
        else:
            raise ConversionError(f"{src}: head {theirs.name!r} has {expected[0][-1]} units")
    layer.set_weights(values)


def _pairs_from_graph(ckpt: Checkpoint, arch: str, model: keras.Model,
                      hparams: dict[str, Any]) -> list[tuple[WeightLayer, str]]:
    """Full-model file: (their layer, our layer name) pairs from the two graphs in one order."""
    theirs = _their_graph_order(ckpt, arch)
    ours = _our_order(model, arch)
    their_kinds = [n.kind for n in theirs]
    our_kinds = [n.kind for n in ours]
    if their_kinds != our_kinds:
        at = next(
            (i for i, (a, b) in enumerate(zip(their_kinds, our_kinds, strict=False)) if a != b),
            min(len(their_kinds), len(our_kinds)),
        )
        raise ConversionError(
            f"{ckpt.path}: architecture differs from {ARCHITECTURES[arch]}{hparams} at layer #{at} "
            f"({theirs[at].name + ' ' + theirs[at].kind if at < len(theirs) else 'end'}, "
            f"ours {our_kinds[at] if at < len(our_kinds) else 'end'})"
        )
    weights = ckpt.by_name()
    pairs = []
    for t, o in zip(theirs, ours, strict=True):
        _check_same_settings(ckpt.path, t, o)
        if t.kind not in WEIGHTED:
            continue
        if t.name not in weights:
            raise ConversionError(f"{ckpt.path}: weights of layer {t.name!r} missing")
        pairs.append((weights[t.name], o.name))
    return pairs


def _pairs_from_names(ckpt: Checkpoint, arch: str,
                      model: keras.Model) -> list[tuple[WeightLayer, str]]:
    """Weights-only file: pairs per layer type in creation order (Xception: names first)."""
    ours = [n for n in _our_order(model, arch) if n.kind in WEIGHTED]
    pairs = []
    for kind in WEIGHTED:
        their_layers = _their_order(ckpt, kind)
        our_names = [n.name for n in ours if n.kind == kind]
        if arch == "xception":  # keras.applications names are the same in tf.keras and Keras 3
            named = [t for t in their_layers if t.name in our_names
                     and not re.fullmatch(r"(conv2d|batch_normalization(_v1)?|dense)(_\d+)?",
                                          t.name)]
            pairs += [(t, t.name) for t in named]
            their_layers = [t for t in their_layers if t not in named]
            our_names = [n for n in our_names if n not in {t.name for t in named}]
        if len(their_layers) != len(our_names):
            raise ConversionError(
                f"{ckpt.path} does not fit {ARCHITECTURES[arch]}: it has {len(their_layers)} "
                f"unmatched {kind} layers where the model built from its weights has "
                f"{len(our_names)}"
            )
        pairs += list(zip(their_layers, our_names, strict=True))
    return pairs


def _build(arch: str, kwargs: dict[str, Any]) -> keras.Model:
    """Build our model named ``<arch>_official``; builder errors become :class:`ConversionError`."""
    try:
        model = build_model(arch, **kwargs)
    except (ValueError, TypeError) as exc:
        raise ConversionError(f"cannot build {ARCHITECTURES[arch]}{kwargs}: {exc}") from exc
    model.name = f"{arch}_official"  # Keras keeps the name as a plain attribute, saved in .keras
    return model


def convert_checkpoint(
    src: str | Path,
    out: str | Path | None = None,
    image_size: int | None = None,
    clip_len: int | None = None,
) -> keras.Model:
    """Convert an official checkpoint (either layout) into our model, which outputs P(fake).

    Args:
        src: tf.keras ``.h5``/``.hdf5`` file, full model or weights only.
        out: optional ``.keras`` path, written atomically.
        image_size: square input side; default: the file's (full model), the one the Dense
            kernel fixes (ShallowNetV3, MesoNet), else 240.
        clip_len: frames per clip for CLRNet (default: the file's, else 5).

    Returns:
        The functional model named ``<arch>_official`` (softmax/sigmoid index 1 = P(fake) for
        two-way heads, the single sigmoid = P(fake) for MesoNet).

    Raises:
        ConversionError: the file is not such a checkpoint, or shapes/structure do not match.
    """
    src = Path(src)
    if out is not None and Path(out).suffix != ".keras":
        raise ConversionError(f"output must end in .keras: {out}")
    for value, what in ((image_size, "image size"), (clip_len, "clip length")):
        if value is not None and value < 1:
            raise ConversionError(f"{what} must be a positive integer, got {value}")
    ckpt = read_checkpoint(src)
    arch = detect_architecture(ckpt.layers, src)
    kwargs = _build_kwargs(arch, ckpt, image_size, clip_len)
    model = _build(arch, kwargs)
    if ckpt.config is not None:
        pairs = _pairs_from_graph(ckpt, arch, model, kwargs)
    else:
        pairs = _pairs_from_names(ckpt, arch, model)
    output_layer = model.outputs[0]._keras_history[0].name
    for theirs, our_name in pairs:
        _assign(src, theirs, model.get_layer(our_name), flip=our_name == output_layer)
    if hasattr(model, "trained_on"):  # a registry Detector records provenance in the file
        model.trained_on = f"the official {ARCHITECTURES[arch]} checkpoint {src.name}"
        model.weights_source = (f"{src.name} ({ckpt.layout} tf.keras {ckpt.keras_version or '?'}"
                                f" HDF5, sha256 {file_sha256(src)[:16]}; label flip folded in)")
    if out is not None:
        with atomic_path(out) as tmp:
            model.save(tmp)
    return model


# --------------------------------------------------------------------------------------------
# For predict: sniffing and a conversion cache
# --------------------------------------------------------------------------------------------


def is_official_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` is a tf.keras HDF5 checkpoint (either layout) this module converts.

    Reads only the file's metadata and dataset shapes, never the weights.

    Args:
        path: any path.

    Returns:
        True for a full-model or weights-only file of a supported architecture; False for
        anything else (missing, a ``.keras`` zip, text, a truncated file, another model).
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != _HDF5_SIGNATURE:
                return False
        detect_architecture(read_checkpoint(path, load_values=False).layers)
    except (OSError, ConversionError):
        return False
    return True


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """``$DEEPFAKE_REPRO_CACHE/converted`` or ``~/.cache/deepfake-repro/converted``."""
    base = os.environ.get("DEEPFAKE_REPRO_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "deepfake-repro") / "converted"


def convert_cached(
    path: str | Path,
    cache_dir: str | Path | None = None,
    image_size: int | None = None,
    clip_len: int | None = None,
) -> Path:
    """Convert ``path`` once and reuse the result.

    The cache key is the file's SHA-256, :data:`CONVERTER_VERSION` and the options, so a changed
    file or option converts again and a renamed or copied file does not.

    Args:
        path: an official checkpoint (:func:`is_official_checkpoint`).
        cache_dir: folder of converted models (default :func:`default_cache_dir`).
        image_size: as :func:`convert_checkpoint`.
        clip_len: as :func:`convert_checkpoint`.

    Returns:
        Path of the converted ``.keras`` file (loads with ``keras.models.load_model`` after
        ``import clrnet``).

    Raises:
        ConversionError: as :func:`convert_checkpoint`.
    """
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"checkpoint not found: {path}")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    options = "".join(f"-{k}{v}" for k, v in (("s", image_size), ("t", clip_len)) if v)
    stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", path.stem)[:60]
    out = cache / f"{stem}-{file_sha256(path)[:16]}-v{CONVERTER_VERSION}{options}.keras"
    if not out.is_file():
        convert_checkpoint(path, out, image_size=image_size, clip_len=clip_len)
    return out


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser of ``python -m clrnet.convert_official``."""
    parser = argparse.ArgumentParser(
        prog="python -m clrnet.convert_official",
        description="Convert an official CLRNet / ShallowNetV3 / MesoInception4 / Meso4 / "
        "Xception tf.keras HDF5 checkpoint (full model or weights only) into a .keras model "
        "that outputs P(fake).",
        epilog="""examples (also installed as clrnet-convert):
  python -m clrnet.convert_official CLR_DF_Ebest.h5 clrnet_df.keras        # weights only
  python -m clrnet.convert_official CLRNet50.hdf5 clrnet.keras --image-size 128
  python -m clrnet.convert_official SNV3_FS_Ebest.h5 shallownet_fs.keras""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("src", type=Path, help="official checkpoint (.h5/.hdf5)")
    parser.add_argument("out", type=Path, help="output .keras file")
    parser.add_argument("--image-size", type=int, default=None,
                        help="square input side (default: the file's; CLRNet and Xception "
                        "weights-only: 240; the authors also trained CLRNet at 128)")
    parser.add_argument("--clip-len", type=int, default=None,
                        help="CLRNet frames per clip (default: the file's, else 5)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the converter CLI; returns the exit status (2 on a bad input file)."""
    args = get_parser().parse_args(argv)
    try:
        model = convert_checkpoint(args.src, args.out, args.image_size, args.clip_len)
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {model.name} ({model.count_params():,} parameters, input "
          f"{tuple(model.inputs[0].shape)}), outputs P(fake)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
