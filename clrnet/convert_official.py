"""Convert an official CLRNet checkpoint (tf.keras 1.x/2.x full-model HDF5) into our Keras 3 model.

``python -m clrnet.convert_official SRC.hdf5 OUT.keras``

The authors' ``ModelCheckpoint`` files (``shahroztariq/CLRNet`` notebooks, models.md sections 1.4
and 6) are full-model HDF5: a JSON ``model_config`` attribute and ``model_weights/<layer>/<layer>/
<var>:0`` datasets with ``layer_names`` / ``weight_names`` attributes. Keras 3 cannot load them
(``ConvLSTM2D`` rejects the legacy ``time_major`` argument), so this module:

1. parses ``model_config`` itself (both the tf.keras 2.x and the Keras 3 ``inbound_nodes`` forms);
2. orders the graph canonically (topological order, residual branch before the projection shortcut,
   which is the only valid-padded ConvLSTM2D), so neither layer names (mostly ``conv_lst_m2d_N``)
   nor the file's list order matter;
3. infers the hyper-parameters (input shape, block type, repetitions, initial filters, dropout,
   recurrent activation: tf.keras ``"hard_sigmoid"`` becomes our ``hard_sigmoid_keras2``) and builds
   :func:`clrnet.models.build_clrnet`;
4. checks that both graphs have the same sequence of layer types, assigns every weight in
   canonical order with a shape check, and permutes the head: the authors trained with real = 1,
   so their softmax index 0 is fake; ours has fake at index 1. Our P(fake) therefore equals the
   original's probability of its class 0.

The converted model is named ``clrnet_official`` (``registry_name`` maps it to ``clrnet``); it
carries no extra layer, so its head stays BN -> pooling -> Dropout -> Dense for ``clrnet.cam``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np

from clrnet.models.errors import WeightsError
from clrnet.models.registry import build_model

WEIGHTED = ("ConvLSTM2D", "BatchNormalization", "Dense")
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


class ConversionError(WeightsError):
    """A file that is not an official CLRNet checkpoint, or one that cannot be mapped."""


@dataclass
class Node:
    """One layer of a functional-model config."""

    name: str
    kind: str  # normalised class name (BatchNormalizationV1 -> BatchNormalization)
    config: dict[str, Any]
    inbound: list[str] = field(default_factory=list)


def _kind(class_name: str) -> str:
    """Normalise tf.keras class-name variants (``BatchNormalizationV1``, ``Functional``)."""
    return "BatchNormalization" if class_name.startswith("BatchNormalization") else class_name


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


def graph_from_config(model_config: dict[str, Any]) -> list[Node]:
    """Parse a functional model config into nodes in canonical order.

    Canonical order: Kahn's topological sort that, among ready layers, takes layers off the
    projection-shortcut branch (valid-padded ConvLSTM2D) last, then the config's list order.

    Args:
        model_config: ``{"class_name": "Model"|"Functional", "config": {"layers": [...]}}``.

    Returns:
        Nodes in canonical order.

    Raises:
        ConversionError: not a functional model or a malformed graph.
    """
    if model_config.get("class_name") not in ("Model", "Functional"):
        raise ConversionError(
            f"model_config is a {model_config.get('class_name')!r}, not a functional Model"
        )
    layers = model_config.get("config", {}).get("layers")
    if not isinstance(layers, list) or not layers:
        raise ConversionError("model_config has no layer list")
    nodes = {}
    for entry in layers:
        name = entry.get("name") or entry.get("config", {}).get("name")
        nodes[name] = Node(name, _kind(entry["class_name"]), entry.get("config", {}), _inbound(entry))
    position = {name: i for i, name in enumerate(nodes)}
    waiting = {name: len(set(n.inbound)) for name, n in nodes.items()}
    consumers: dict[str, list[str]] = {name: [] for name in nodes}
    for name, n in nodes.items():
        for src in set(n.inbound):
            if src not in nodes:
                raise ConversionError(f"layer {name!r} reads unknown layer {src!r}")
            consumers[src].append(name)

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


def _pair(value: Any) -> tuple[int, ...]:
    """``3`` or ``[3, 3]`` -> ``(3, 3)``."""
    return tuple(value) if isinstance(value, list | tuple) else (value, value)


def _activation_name(value: Any) -> str:
    """Activation name from a tf.keras string or a Keras 3 serialized dict."""
    if isinstance(value, dict):
        value = value.get("config", {}).get("name") or value.get("registered_name") or ""
        value = str(value).split(">")[-1]
    return str(value)


def infer_clrnet_hparams(order: list[Node]) -> dict[str, Any]:
    """Recover :func:`build_clrnet` arguments from a canonically ordered CLRNet graph.

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
    cfg = inputs[0].config
    shape = cfg.get("batch_input_shape") or cfg.get("batch_shape") or cfg.get("batch_size_shape")
    if not shape or len(shape) != 5:
        raise ConversionError(f"not a CLRNet checkpoint: input shape {shape} is not (B, T, H, W, C)")
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
        "input_shape": tuple(shape[1:]),
        "repetitions": repetitions,
        "initial_filters": int(stem["filters"]),
        "dropout": rates.pop() if rates else 0.0,
        "block": block,
        "recurrent_activation": _ACTIVATIONS[next(iter(rec))],
    }


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
    return [v.decode() if isinstance(v, bytes) else str(v) for c in chunks for v in c]


def read_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """Read ``model_config`` and per-layer weights from a tf.keras full-model HDF5 file.

    Args:
        path: the checkpoint.

    Returns:
        ``(model_config, {layer_name: {var_name: array}})`` with var names such as ``kernel``.

    Raises:
        ConversionError: missing, non-HDF5, weights-only, or malformed file.
    """
    if not path.is_file():
        raise ConversionError(f"checkpoint not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ConversionError(f"{path} is not an HDF5 file") from exc
    with f:
        if "model_config" not in f.attrs:
            raise ConversionError(
                f"{path} has no 'model_config': not a full-model checkpoint "
                "(weights-only files carry no architecture)"
            )
        try:
            config = _read_attr_json(f.attrs["model_config"])
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConversionError(f"{path}: model_config is not valid JSON") from exc
        group = f.get("model_weights")
        layer_names = _string_list_attr(group, "layer_names") if group is not None else None
        if layer_names is None:
            raise ConversionError(f"{path} has no 'model_weights' group with 'layer_names'")
        weights: dict[str, dict[str, np.ndarray]] = {}
        for lname in layer_names:
            if lname not in group:
                raise ConversionError(f"{path}: no weight group for layer {lname!r}")
            layer_group = group[lname]
            arrays = {}
            for wname in _string_list_attr(layer_group, "weight_names") or []:
                var = wname.split("/")[-1].split(":")[0]
                arrays[var] = np.asarray(layer_group[wname])
            weights[lname] = arrays
    return config, weights


_VARS = {
    "ConvLSTM2D": ("kernel", "recurrent_kernel", "bias"),
    "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance"),
    "Dense": ("kernel", "bias"),
}


def _settings(node: Node) -> dict[str, Any]:
    """The config values that change a layer's function but not its weight shapes."""
    c = node.config
    if node.kind == "ConvLSTM2D":
        return {
            "strides": _pair(c.get("strides", 1)),
            "padding": c.get("padding", "valid"),
            "dilation_rate": _pair(c.get("dilation_rate", 1)),
        }
    if node.kind == "MaxPooling3D":
        pool = tuple(c.get("pool_size", ()))
        return {"pool_size": pool, "strides": tuple(c.get("strides") or pool),
                "padding": c.get("padding")}  # fmt: skip
    if node.kind == "BatchNormalization":
        return {"epsilon": float(c.get("epsilon", 1e-3))}
    if node.kind == "Activation":
        return {"activation": _activation_name(c.get("activation"))}
    return {}


def _check_same_settings(src: Path, theirs: Node, ours: Node) -> None:
    """Raise if two canonically matched layers differ in a setting weights cannot reveal."""
    a, b = _settings(theirs), _settings(ours)
    if a != b:
        raise ConversionError(
            f"{src}: layer {theirs.name!r} ({theirs.kind}) has {a}, our CLRNet has {b}"
        )


def convert_checkpoint(src: str | Path, out: str | Path | None = None) -> keras.Model:
    """Convert an official CLRNet checkpoint into our model (P(fake) at softmax index 1).

    Args:
        src: tf.keras full-model ``.hdf5``/``.h5`` checkpoint.
        out: optional ``.keras`` path; written to a temporary file first, then renamed.

    Returns:
        The converted functional model.

    Raises:
        ConversionError: the file is not such a checkpoint, or shapes/structure do not match.
    """
    src = Path(src)
    if out is not None and Path(out).suffix != ".keras":
        raise ConversionError(f"output must end in .keras: {out}")
    config, weights = read_checkpoint(src)
    theirs = graph_from_config(config)
    hparams = infer_clrnet_hparams(theirs)
    base = build_model("clrnet", **hparams)
    ours = graph_from_config(
        {"class_name": "Functional", "config": {"layers": base.get_config()["layers"]}}
    )
    their_kinds = [n.kind for n in theirs]
    our_kinds = [n.kind for n in ours]
    if their_kinds != our_kinds:
        at = next(
            (i for i, (a, b) in enumerate(zip(their_kinds, our_kinds, strict=False)) if a != b),
            min(len(their_kinds), len(our_kinds)),
        )
        raise ConversionError(
            f"{src}: architecture differs from CLRNet{hparams} at layer #{at} "
            f"({theirs[at].name if at < len(theirs) else 'end'})"
        )
    for t, o in zip(theirs, ours, strict=True):
        _check_same_settings(src, t, o)
        if t.kind not in WEIGHTED:
            continue
        arrays = weights.get(t.name)
        names = _VARS[t.kind]
        if arrays is None or set(names) - set(arrays):
            raise ConversionError(f"{src}: weights of layer {t.name!r} missing or incomplete")
        values = [arrays[v] for v in names]
        layer = base.get_layer(o.name)
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(v.shape) for v in values]
        if expected != got:
            raise ConversionError(
                f"{src}: layer {t.name!r} has weight shapes {got}, our {o.name!r} expects {expected}"
            )
        if t.kind == "Dense":  # authors: index 0 = fake (real = 1); ours: index 1 = fake
            values = [values[0][:, ::-1], values[1][::-1]]
        layer.set_weights(values)
    # Renamed rather than tagged: a layer after the Dense would hide the pooling -> Dense head
    # that class activation maps (clrnet.cam) look for.
    model = keras.Model(base.inputs[0], base.outputs[0], name="clrnet_official")
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.stem + ".tmp.keras")
        model.save(tmp)
        os.replace(tmp, out)
    return model


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser of ``python -m clrnet.convert_official``."""
    parser = argparse.ArgumentParser(
        prog="python -m clrnet.convert_official",
        description="Convert an official CLRNet tf.keras HDF5 checkpoint into a .keras model "
        "whose softmax index 1 is P(fake).",
    )
    parser.add_argument("src", type=Path, help="official checkpoint (.hdf5/.h5, full model)")
    parser.add_argument("out", type=Path, help="output .keras file")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the converter CLI; returns the exit status (2 on a bad input file)."""
    args = get_parser().parse_args(argv)
    try:
        model = convert_checkpoint(args.src, args.out)
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({model.count_params():,} parameters, input {model.input_shape})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
