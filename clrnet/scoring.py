"""P(fake) from any model of the package; training targets and loss of its head (fake = 1).

The one place that knows how a model's output becomes P(fake):

* ``"softmax2"``: a two-way head (softmax, or ShallowNetV3's two sigmoids); column 1 = fake;
* ``"sigmoid"``: one unit = P(fake) (MesoNet with its label flip folded in, two-branch scorers);
* ``"embedding"``: anything wider (two-branch embeddings); the family's
  ``ModelSpec.to_scorer`` turns such a model into one with a (B, 1) P(fake) output
  (:func:`as_scorer`).

and the one place that turns labels into what a head trains on (:func:`targets_for`, usable on
NumPy arrays and inside ``tf.data`` maps).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from clrnet.errors import InputShapeError, ModelError

__all__ = [
    "as_scorer",
    "check_input",
    "loss_for",
    "fake_from_outputs",
    "fake_probability",
    "output_kind",
    "targets_for",
]


def output_kind(model: keras.Model) -> str:
    """``"softmax2"`` (B, 2), ``"sigmoid"`` (B, 1) or ``"embedding"`` (any other width).

    Args:
        model: a model with one output.

    Returns:
        The output kind.
    """
    width = model.outputs[0].shape[-1]
    return {2: "softmax2", 1: "sigmoid"}.get(width, "embedding")


def as_scorer(model: keras.Model) -> keras.Model:
    """``model`` itself when it outputs P(fake), else its family's scorer around it.

    Raises:
        ModelError: an embedding model whose family gives no way to score it.
    """
    if output_kind(model) != "embedding":
        return model
    from clrnet import registry

    spec = registry.spec_of(model)
    if spec is None or spec.to_scorer is None:
        raise ModelError(f"model {model.name!r} outputs {model.outputs[0].shape[-1]}-d "
                         "embeddings, not P(fake), and its family gives no scorer")
    return spec.to_scorer(model)


def fake_from_outputs(outputs: np.ndarray, kind: str) -> np.ndarray:
    """P(fake) per sample from a model's raw outputs.

    Args:
        outputs: (B, 2) or (B, 1) outputs.
        kind: ``"softmax2"`` or ``"sigmoid"`` (:func:`output_kind`).

    Returns:
        float64 (B,).

    Raises:
        ModelError: ``kind`` is ``"embedding"`` (use :func:`as_scorer` first).
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    if kind == "softmax2":
        return outputs[:, 1]
    if kind == "sigmoid":
        return outputs.reshape(len(outputs), -1)[:, 0]
    raise ModelError("embedding outputs are not P(fake); score through as_scorer(model)")


def check_input(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Validate the shape and range of ``x`` for ``model``; add a batch axis to one sample.

    Raises:
        InputShapeError: a shape the model does not take, or values outside [0, 1].
    """
    want = tuple(model.inputs[0].shape)
    if x.ndim == len(want) - 1:
        x = x[None]
    if x.ndim != len(want) or any(
        w is not None and w != g for w, g in zip(want[1:], x.shape[1:], strict=True)
    ):
        shown = "(batch, " + ", ".join("any" if w is None else str(w) for w in want[1:]) + ")"
        raise InputShapeError(f"input of shape {tuple(x.shape)} does not fit model "
                              f"{model.name!r}, which expects {shown}")
    if x.size and (float(np.nanmin(x)) < -1e-3 or float(np.nanmax(x)) > 1.0 + 1e-3):
        raise InputShapeError(
            f"input for model {model.name!r} must be RGB in [0, 1]; got values in "
            f"[{float(np.nanmin(x)):g}, {float(np.nanmax(x)):g}] (divide uint8 images by 255)")
    return x


def fake_probability(model: keras.Model, x, batch_size: int = 16) -> np.ndarray:
    """P(fake) for each clip or frame, whatever the head.

    Args:
        model: a model of the package (embedding models are wrapped by :func:`as_scorer`).
        x: (B, T, H, W, 3) or (B, H, W, 3) float in [0, 1]; one sample without batch axis is
            accepted.
        batch_size: inference batch size.

    Returns:
        float32 (B,).

    Raises:
        InputShapeError: ``x`` does not fit the model's input or is not in [0, 1].

    Note:
        Runs the model eagerly in batches. For many batches of a large model the traced,
        fused runner of :func:`clrnet.inference.make_predict_fn` is faster after its first call.
    """
    model = as_scorer(model)
    x = check_input(model, np.asarray(x, dtype=np.float32))
    kind = output_kind(model)
    outs = [fake_from_outputs(keras.ops.convert_to_numpy(
        model(x[i:i + batch_size], training=False)), kind)
        for i in range(0, len(x), batch_size)]
    return (np.concatenate(outs) if outs else np.zeros((0,))).astype(np.float32)


def targets_for(model: keras.Model, labels: Sequence[int] | np.ndarray):
    """Turn 0/1 labels (fake = 1) into what the model's head trains on.

    Works on NumPy arrays and on tensors inside ``tf.data`` maps; labels already in the head's
    format ((B, 2) one-hot for a two-way head, (B, 1) otherwise) pass through.

    Args:
        model: a model of the package.
        labels: (B,) or (B, 1) labels, fake = 1, real = 0 (or already formatted targets).

    Returns:
        float32 one-hot (B, 2) for a two-way head, (B, 1) for a sigmoid head; a ``tf.Tensor``
        for tensor input, else a NumPy array.

    Raises:
        ModelError: NumPy labels other than 0 and 1.
    """
    import tensorflow as tf

    two_way = output_kind(model) == "softmax2"
    width = 2 if two_way else 1
    eager = not tf.is_tensor(labels)
    if eager:
        y = np.asarray(labels)
        if y.ndim == 2 and y.shape[-1] == width:
            return y.astype(np.float32)
        if y.size and not np.isin(y, (0, 1)).all():
            raise ModelError(f"labels must be 0 (real) or 1 (fake); got "
                             f"{sorted(set(y.reshape(-1).tolist()))}")
        labels = tf.constant(y.reshape(-1))
    elif labels.shape.rank == 2 and labels.shape[-1] == width:
        return tf.cast(labels, tf.float32)
    y = tf.reshape(tf.cast(labels, tf.float32), [-1])
    out = tf.one_hot(tf.cast(y, tf.int32), 2) if two_way else y[:, None]
    return out.numpy() if eager else out


def loss_for(model: keras.Model, loss: str | None = None) -> keras.losses.Loss:
    """The loss a model's head trains on with :func:`targets_for`: its official one by default.

    Args:
        model: a model of the package.
        loss: ``"binary_crossentropy"`` (``"bce"``) or ``"mse"``; None = the registry entry's
            official loss (binary cross-entropy for models the registry did not build).

    Returns:
        A Keras loss.

    Raises:
        ModelError: a loss these heads cannot train with (the two-branch isolation loss is
            built by ``twobranch.train`` from its centre).
    """
    if loss is None:
        from clrnet import registry

        spec = registry.spec_of(model)
        loss = spec.loss if spec is not None else "binary_crossentropy"
    losses = {"binary_crossentropy": keras.losses.BinaryCrossentropy,
              "bce": keras.losses.BinaryCrossentropy, "mse": keras.losses.MeanSquaredError,
              "mean_squared_error": keras.losses.MeanSquaredError}
    if loss not in losses:
        raise ModelError(f"model {model.name!r}: loss {loss!r} is not one of {sorted(losses)}")
    return losses[loss]()
