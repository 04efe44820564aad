"""The ConvLSTM layer of the package's models: ``ConvLSTM2D`` with one input convolution per clip.

Keras 3's ``ConvLSTM2D`` runs its cell in a ``while`` loop, and every step makes eight
convolutions (input and recurrent convolution of each of the four gates,
``keras/src/layers/rnn/conv_lstm.py``). The input convolution does not depend on the recurrence,
so :class:`FusedConvLSTM2D` makes it **one** convolution over all B*T frames with the four gates'
kernels side by side (4F output channels), then per step **one** recurrent convolution (4F
outputs) and the gate arithmetic, in a loop unrolled at trace time (T is static: 5 for CLRNet).
At t = 0 the hidden state is zero, so the recurrent convolution of the first step is skipped (it
would add exactly zero). Same maths as Keras's cell (gate order i, f, c, o;
``c = f*c + i*act(x_c + h_c)``; ``h = o*act(c)``), same variables, same weight layout.

The layer is what every CLRNet of :mod:`clrnet.models.clrnet` is built with, for training and
inference: the unrolled loop is plain differentiable ops, so gradients flow through it
as through any other layer, and the ``training`` flag reaches the cell. Where the fused path does
not apply (unknown clip length, masks, initial states, ``return_state``, ``go_backwards``,
``stateful``, channels_first, or cell dropout / recurrent dropout while training: Keras draws a
separate mask per gate, which one shared input convolution cannot reproduce) the layer runs
``ConvLSTM2D.call`` unchanged, so it is always correct and fast where CLRNet needs it.

References:
    Shi et al., "Convolutional LSTM Network", NeurIPS'15 (cell equations, eq. 3 without
    peepholes); Keras 3 ``ConvLSTMCell.call`` (gate layout, read for facts only).
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["CONVLSTM_LAYERS", "FusedConvLSTM2D", "convlstm_layer", "fused_convlstm_sequence"]

_LOW_PRECISION = ("float16", "bfloat16")


@keras.saving.register_keras_serializable(package="deepfake_repro")
class FusedConvLSTM2D(keras.layers.ConvLSTM2D):
    """``ConvLSTM2D`` whose input convolution runs once over all frames (same weights, same maths).

    Takes exactly ``keras.layers.ConvLSTM2D``'s arguments (it adds none, so ``get_config`` is the
    parent's) and owns the same variables, so ``set_weights`` from a ``ConvLSTM2D`` works both
    ways and parameter counts are identical. Registered as ``deepfake_repro>FusedConvLSTM2D``
    (the name the package's ``.keras`` files refer to).

    Uses the fused path when the clip length is static and the layer is a plain forward,
    non-stateful, state-less, mask-less, channels_last one without (recurrent) dropout in
    training; otherwise it defers to ``ConvLSTM2D.call``.
    """

    def _fusable(self, sequences, initial_state, mask, training) -> bool:
        """Whether :func:`fused_convlstm_sequence` computes exactly what the parent would."""
        dropping = bool(training) and (self.cell.dropout > 0 or self.cell.recurrent_dropout > 0)
        return (
            sequences.shape[1] is not None
            and initial_state is None
            and mask is None
            and not dropping
            and not self.go_backwards
            and not self.stateful
            and not self.return_state
            and self.data_format == "channels_last"
        )

    def call(self, sequences, initial_state=None, mask=None, training=False):
        """Run the layer over ``sequences`` (B, T, H, W, C).

        Args:
            sequences: 5-D input tensor.
            initial_state: optional ``[h0, c0]`` (parent path).
            mask: optional (B, T) boolean mask (parent path).
            training: training mode; only matters for cell dropout (parent path).

        Returns:
            (B, T, H', W', F) with ``return_sequences`` else (B, H', W', F); the parent's
            ``[output, h, c]`` when ``return_state``.
        """
        if not self._fusable(sequences, initial_state, mask, training):
            return super().call(sequences, initial_state=initial_state, mask=mask,
                                training=training)
        return fused_convlstm_sequence(self.cell, sequences, self.return_sequences)


def fused_convlstm_sequence(cell, sequences, return_sequences: bool = True):
    """Run a ConvLSTM cell over ``sequences`` with one batched input convolution.

    Args:
        cell: a built ``keras.layers.ConvLSTMCell`` (2-D, channels_last).
        sequences: tensor (B, T, H, W, C), T static.
        return_sequences: return every step's hidden state (B, T, H', W', F) or the last one.

    Returns:
        The hidden states, in the compute dtype of ``sequences``. With a 16-bit compute dtype
        the gate arithmetic and the cell state run in float32; otherwise in the compute dtype
        (float32, or float64 for gradient checks).

    References:
        Shi et al., NeurIPS'15, eq. (3) without peepholes, as in Keras's ``ConvLSTMCell``.
    """
    steps = int(sequences.shape[1])
    shape = ops.shape(sequences)
    batch = shape[0]
    dtype = keras.backend.standardize_dtype(sequences.dtype)
    gate_dtype = "float32" if dtype in _LOW_PRECISION else dtype
    frames = ops.reshape(sequences, (-1, shape[2], shape[3], shape[4]))
    z = ops.conv(frames, ops.cast(cell.kernel, dtype), strides=cell.strides,
                 padding=cell.padding, dilation_rate=cell.dilation_rate)
    if cell.use_bias:
        z = z + ops.cast(cell.bias, dtype)
    zshape = ops.shape(z)
    z = ops.reshape(z, (batch, steps, zshape[1], zshape[2], zshape[3]))
    # unstack, not z[:, t]: its gradient is one stack instead of T zero-padded slices
    z_steps = ops.unstack(z, num=steps, axis=1)
    rec_kernel = ops.cast(cell.recurrent_kernel, dtype)
    act, rec_act = cell.activation, cell.recurrent_activation
    h = c = None
    outputs = []
    for zt in z_steps:
        if h is not None:  # h_0 = 0: its recurrent convolution would add exactly zero
            zt = zt + ops.conv(ops.cast(h, dtype), rec_kernel, strides=1, padding="same")
        zt = ops.cast(zt, gate_dtype)
        z_i, z_f, z_c, z_o = ops.split(zt, 4, axis=-1)
        i = rec_act(z_i)
        c = i * act(z_c) if c is None else rec_act(z_f) * c + i * act(z_c)  # c_0 = 0
        h = rec_act(z_o) * act(c)
        outputs.append(h)
    out = ops.stack(outputs, axis=1) if return_sequences else outputs[-1]
    return ops.cast(out, dtype)


#: ``convlstm=`` choices of the CLRNet builders: the fused layer (default) or Keras' own.
CONVLSTM_LAYERS: dict[str, type] = {"fused": FusedConvLSTM2D, "keras": keras.layers.ConvLSTM2D}


def convlstm_layer(kind: str = "fused") -> type:
    """The ConvLSTM layer class of a ``convlstm=`` choice.

    Args:
        kind: ``"fused"`` (:class:`FusedConvLSTM2D`, default) or ``"keras"``
            (``keras.layers.ConvLSTM2D``: reference for tests and benchmarks).

    Returns:
        The layer class (both take the same arguments and own the same weights).

    Raises:
        ValueError: for an unknown choice.
    """
    if kind not in CONVLSTM_LAYERS:
        raise ValueError(f"unknown convlstm {kind!r}; choose one of {sorted(CONVLSTM_LAYERS)}")
    return CONVLSTM_LAYERS[kind]
