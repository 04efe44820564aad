"""Distribution strategy and precision policy of a training run."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import keras
import tensorflow as tf

from clrnet.errors import ConfigError, PrecisionError
from clrnet.run_record import cpu_model_and_flags

PRECISION_MODES = ("float32", "mixed_float16", "mixed_bfloat16")


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
    flags = set(cpu_model_and_flags()[1])
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
    out = keras.Model(model.inputs, cast if len(cast) > 1 else cast[0], name=model.name)
    if getattr(model, "registry_name", ""):
        from clrnet import registry

        out = registry.wrap(out, model.registry_name, trained_on=model.trained_on,
                            weights_source=model.weights_source)
    return out
