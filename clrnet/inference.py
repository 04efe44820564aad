"""Fast inference paths for the package's models : fused ConvLSTM, bfloat16, XLA.

Nothing here changes what a model computes; it changes how. Three independent levers, each
measured by ``python -m benchmarks models`` (README "Performance"):

* **Fused ConvLSTM** (:class:`FusedConvLSTM2D`, defined in :mod:`clrnet.models.convlstm` and
  re-exported here): one input convolution over all B*T frames, one recurrent convolution per
  step, same weights and maths as Keras's ``ConvLSTM2D``. The CLRNet builders use it
  for training too, so package models already hold it; :func:`fuse_convlstm` (and ``fuse=``
  below) still swaps it in for models that hold plain ``ConvLSTM2D`` layers (``.keras`` files
  saved before, or built with ``convlstm="keras"``).
* **bfloat16** (``precision="bfloat16"``): the model is cloned with the ``mixed_bfloat16`` policy
  (convolutions and matmuls in bfloat16, weights kept in float32 and cast on use; oneDNN runs
  them on AVX512-BF16/AMX on CPUs that have it), the gate arithmetic and the cell state of the
  fused ConvLSTM in float32, and the classifier head in float32. Fused ConvLSTM layers store
  their weights in bfloat16 (the very values the mixed policy would cast to on every call;
  CLRNet-50's ConvLSTM weights are mostly large 1x1 recurrent kernels read with few pixels).
  ``"float16"`` does the same with ``mixed_float16`` (GPU only).
* **One compiled call**: ``tf.function`` over the whole forward pass (``jit_compile=True`` adds
  XLA; on CPU it is measured, not assumed, to help), batches of ``batch_size`` clips, no
  per-frame Python.

Agreement with plain float32 Keras is checked by ``tests/test_inference.py`` on tiny random
models (:data:`TOLERANCE`) and was measured once on full-size CLRNet-50 (README).

References:
    Shi et al., "Convolutional LSTM Network", NeurIPS'15 (cell equations); Keras 3
    ``ConvLSTMCell.call`` (gate layout, read for facts only); Tariq et al., WWW'21 (CLRNet).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from clrnet.models.convlstm import FusedConvLSTM2D, fused_convlstm_sequence

__all__ = [
    "PRECISIONS",
    "TOLERANCE",
    "FusedConvLSTM2D",
    "InferenceError",
    "cast_model",
    "fuse_convlstm",
    "fused_convlstm_sequence",
    "make_predict_fn",
    "resolve_precision",
]

#: Precision modes of :func:`make_predict_fn` and the ``--precision`` flags.
PRECISIONS = ("float32", "bfloat16", "float16", "auto")
#: Largest |P(fake) - P(fake) float32| accepted per mode (checked by the tests).
TOLERANCE = {"float32": 1e-4, "bfloat16": 1e-2, "float16": 1e-2}


class InferenceError(ValueError):
    """A precision mode this machine cannot run, or a model the fast path cannot take."""


_FUSED_ENTRY = {"module": FusedConvLSTM2D.__module__, "class_name": "FusedConvLSTM2D",
                "registered_name": "deepfake_repro>FusedConvLSTM2D"}


def _has_convlstm(model: keras.Model) -> bool:
    return any(type(layer) is keras.layers.ConvLSTM2D for layer in model.layers)


def _rewrite(obj: Any, fuse: bool, policy: str | None, keep: set[str]) -> Any:
    """Walk a serialized Keras object: swap ConvLSTM2D for the fused layer, set dtype policies.

    Args:
        obj: output of ``keras.saving.serialize_keras_object`` (or a part of it).
        fuse: replace ``ConvLSTM2D`` entries by :class:`FusedConvLSTM2D` (same config).
        policy: dtype policy for every layer except input layers and those named in ``keep``
            (the outputs); None keeps every layer's policy. Nested models
            (``TimeDistributed(encoder)``) are walked too.
        keep: layer names whose policy is kept.

    Returns:
        The rewritten copy.
    """
    if isinstance(obj, list):
        return [_rewrite(v, fuse, policy, keep) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {k: _rewrite(v, fuse, policy, keep) for k, v in obj.items()}
    if fuse and out.get("class_name") == "ConvLSTM2D" and out.get("module") == "keras.layers":
        out.update(_FUSED_ENTRY)
    config = out.get("config")
    if out.get("class_name") == "FusedConvLSTM2D" and isinstance(config, dict):
        # weights are copied in afterwards: skip the costly orthogonal (QR) initialisation
        config["kernel_initializer"] = config["recurrent_initializer"] = "zeros"
    if (policy is not None and isinstance(config, dict) and "dtype" in config
            and "class_name" in out
            and out.get("class_name") not in ("InputLayer", "DTypePolicy")
            and config.get("name") not in keep):
        fused = out.get("class_name") == "FusedConvLSTM2D"
        # the fused layer keeps its gate arithmetic in float32 itself, so its weights can be
        # stored in bfloat16 (the values mixed_bfloat16 would cast to on every call)
        config["dtype"] = "bfloat16" if fused and policy == "mixed_bfloat16" else policy
    return out


def _clone(model: keras.Model, fuse: bool, policy: str | None) -> keras.Model:
    """Rebuild ``model`` from its config with :func:`_rewrite` applied; copy the weights.

    Raises:
        InferenceError: ``model`` is not functional or does not round-trip through its config.
    """
    if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
        raise InferenceError(f"model {getattr(model, 'name', model)!r} is not a functional model")
    keep = {t._keras_history[0].name for t in model.outputs}
    config = _rewrite(keras.saving.serialize_keras_object(model), fuse, policy, keep)
    try:
        clone = keras.saving.deserialize_keras_object(config)
        clone.set_weights(model.get_weights())
    except (ValueError, TypeError) as exc:
        raise InferenceError(f"cannot rebuild model {model.name!r} for fast inference "
                             f"({policy or 'float32'}): {exc}") from exc
    return clone


def fuse_convlstm(model: keras.Model) -> keras.Model:
    """Clone ``model`` with every ``ConvLSTM2D`` replaced by :class:`FusedConvLSTM2D`.

    Args:
        model: functional model (CLRNet or any model holding ``ConvLSTM2D`` layers).

    Returns:
        The clone with the same weights, or ``model`` itself when it has no ConvLSTM2D.

    Raises:
        InferenceError: the model cannot be rebuilt from its config.
    """
    return _clone(model, True, None) if _has_convlstm(model) else model


def cast_model(model: keras.Model, policy: str, fuse: bool = False) -> keras.Model:
    """Clone ``model`` with a dtype policy on every layer but its output layers (kept float32).

    Args:
        model: functional model (nested models included).
        policy: ``"mixed_bfloat16"``, ``"mixed_float16"``, ``"bfloat16"`` ...
        fuse: also replace ``ConvLSTM2D`` by :class:`FusedConvLSTM2D` (same single rebuild).

    Returns:
        The clone with the same weights (variables float32, cast on use for mixed policies).

    Raises:
        InferenceError: the model cannot be rebuilt from its config.
    """
    return _clone(model, fuse, policy)


def resolve_precision(precision: str) -> str:
    """Turn a precision name into the one that will run here.

    Args:
        precision: ``"float32"``, ``"bfloat16"`` (GPU, or a CPU with AVX512_BF16/AMX-BF16),
            ``"float16"`` (GPU only) or ``"auto"`` (float16 on a GPU, bfloat16 on a CPU that
            supports it, else float32).

    Returns:
        ``"float32"``, ``"bfloat16"`` or ``"float16"``.

    Raises:
        InferenceError: unknown name, or hardware that cannot run it.
    """
    from clrnet.training import cpu_supports_bf16

    if precision not in PRECISIONS:
        raise InferenceError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    if precision == "auto":
        return "float16" if has_gpu else ("bfloat16" if cpu_supports_bf16() else "float32")
    if precision == "float16" and not has_gpu:
        raise InferenceError("precision float16 needs a GPU and none is visible; use float32 "
                             "(or bfloat16 on a CPU with AVX512_BF16/AMX)")
    if precision == "bfloat16" and not (has_gpu or cpu_supports_bf16()):
        raise InferenceError("precision bfloat16 needs a GPU or a CPU with AVX512_BF16/AMX; "
                             "this machine has neither")
    return precision


def fast_model(model: keras.Model, precision: str = "float32", fuse: bool = True) -> keras.Model:
    """The inference clone of ``model``: fused ConvLSTMs and the precision's dtype policy.

    Args:
        model: functional model of this package.
        precision: a resolved precision (``"float32"``, ``"bfloat16"``, ``"float16"``).
        fuse: replace ``ConvLSTM2D`` by :class:`FusedConvLSTM2D`.

    Returns:
        A model with ``model``'s weights (``model`` itself for float32 without ConvLSTM).
    """
    if precision == "float32":
        return fuse_convlstm(model) if fuse else model
    policy = "mixed_bfloat16" if precision == "bfloat16" else "mixed_float16"
    return cast_model(model, policy, fuse=fuse and _has_convlstm(model))


def make_predict_fn(
    model: keras.Model,
    precision: str = "float32",
    jit_compile: bool | None = None,
    batch_size: int = 8,
    fuse: bool = True,
) -> Callable[[Any], np.ndarray]:
    """A fast ``x -> P(fake)`` for a model of this package.

    Args:
        model: functional model taking float32 RGB in [0, 1] (clips or frames) with a two-way
            softmax (index 1 = fake) or one sigmoid unit.
        precision: ``"float32"`` (default), ``"bfloat16"``, ``"float16"`` or ``"auto"``
            (:func:`resolve_precision`).
        jit_compile: compile with XLA. None (default) = off on CPU, on with a GPU. Measured on
            full-size CLRNet-50, batch 8, 2-core AMX CPU (benchmarks/README.md): XLA cut float32
            CPU time by ~17 % (1.33 -> 1.11 CPU s/clip) but made bfloat16 2.3x slower (0.52 ->
            1.21: XLA's CPU convolutions do not use oneDNN/AMX), and bfloat16 without XLA is the
            fastest; pass True for float32 on CPU.
        batch_size: clips (or frames) per compiled call (the last call may be smaller).
        fuse: use :class:`FusedConvLSTM2D` for ``ConvLSTM2D`` layers.

    Returns:
        ``predict(x)``: x array (B, [T,] H, W, 3) in [0, 1] (a single sample without batch axis is
        accepted) -> 1-D float32 P(fake) of length B. It carries ``.model`` (the clone run),
        ``.precision`` and ``.jit_compile``.

    Raises:
        InferenceError: unknown precision or one this machine cannot run, or a model that
            cannot be cloned.
    """
    from clrnet.scoring import check_input as _check_input
    from clrnet.scoring import output_kind

    precision = resolve_precision(precision)
    if jit_compile is None:
        jit_compile = bool(tf.config.list_physical_devices("GPU"))
    if batch_size < 1:
        raise InferenceError(f"batch_size must be >= 1, got {batch_size}")
    column = 1 if output_kind(model) == "softmax2" else 0
    runner = fast_model(model, precision, fuse)
    spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)

    @tf.function(input_signature=[spec], jit_compile=jit_compile, reduce_retracing=True)
    def forward(x):
        return tf.cast(runner(x, training=False)[:, column], tf.float32)

    def predict(x) -> np.ndarray:
        x = _check_input(model, np.asarray(x, dtype=np.float32))
        outs = []
        for start in range(0, len(x), batch_size):
            outs.append(forward(tf.constant(x[start : start + batch_size])).numpy())
        return np.concatenate(outs) if outs else np.zeros((0,), np.float32)

    predict.model = runner
    predict.precision = precision
    predict.jit_compile = jit_compile
    return predict
