"""CLRNet: Convolutional LSTM residual network (Tariq et al., WWW'21, arXiv 2105.00187).

Follows the official builder ``shahroztariq/CLRNet: src/CLRNet_convlstm.py`` (itself a ConvLSTM
adaptation of the raghakot keras-resnet v2) as the authors called it in every training notebook:
``block='bottleneck', residual_unit='v2', repetitions=[3,4,6,3], initial_filters=64,
include_top=False, dropout=0.25``, input ``(5, S, S, 3)``. Structure (official ``src/CLRNet_convlstm.py``):

* every convolution is ``ConvLSTM2D(return_sequences=True)``, ``he_normal``, ``l2(1e-4)`` on the input
  kernel, ``padding='same'`` except projection shortcuts (``'valid'``);
* stem ConvLSTM 7x7/2 -> BN -> ReLU -> ``MaxPooling3D((1,3,3))`` whose stride equals the pool (3);
* every stage, stage 0 included, downsamples by 2 in its first block;
* pre-activation bottleneck: [BN-ReLU] ConvLSTM(F,1x1,s) -> Dropout -> BN-ReLU ConvLSTM(F,3x3) ->
  Dropout -> BN-ReLU ConvLSTM(4F,1x1); the very first block of stage 0 has no BN-ReLU in front and a
  **3x3** stride-2 first ConvLSTM;
* projection shortcut ConvLSTM(C_out, 1x1, stride round(in/out), valid) -> BN when shape changes;
* head BN -> GlobalAveragePooling3D over (T, H, W) -> Dropout -> Dense(2, softmax), no ReLU.

Differences from the official file, and why:

* Class order: our Dense(2) has index 1 = P(fake) (project convention fake = 1). The authors trained
  with real = 1, so their index 0 is fake; ``clrnet.convert_official`` permutes their head.
* ``recurrent_activation`` defaults to :func:`hard_sigmoid_keras2`, the function the authors' tf.keras
  actually used by default; ``"sigmoid"`` (Keras 3 default) is selectable.
* Basic blocks (CLRNet18/34): the official wrappers pass ``basic_block``; by analogy with the
  bottleneck its first block of stage 0 is a bare 3x3 stride-2 ConvLSTM (the keras-resnet basic block
  uses a 3x3 there anyway), then Dropout -> BN-ReLU ConvLSTM(F, 3x3); the shortcut is as above.
* The ConvLSTM layers are :class:`clrnet.models.convlstm.FusedConvLSTM2D`, for training and
  inference: a ``ConvLSTM2D`` subclass with the same arguments, weights (layout included) and maths
  whose input convolution runs once over all frames (benchmarks/README.md: training-step times).
  ``convlstm="keras"`` builds Keras' own ``ConvLSTM2D`` (reference for tests and benchmarks).
* Layer names are ours (``stage{i}_block{j}_...``); the official file names only ``res0a_branch2a``,
  so official weights are mapped by topological order, not by name.
* Input in [0, 1] as the authors (they divided by 255 in their ``Sequence``); no normalisation layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
from keras import layers

from clrnet.models.activations import resolve_recurrent_activation
from clrnet.models.convlstm import convlstm_layer

BLOCK_TYPES = ("bottleneck", "basic")
L2 = 1e-4


def _convlstm(
    x,
    filters: int,
    kernel_size: int,
    strides: int,
    padding: str,
    recurrent_activation,
    name: str,
    convlstm: str = "fused",
):
    """One ConvLSTM layer with the official settings (he_normal, l2 1e-4 on the input kernel).

    Args:
        x: 5-D tensor (B, T, H, W, C).
        filters: output channels.
        kernel_size: square kernel size.
        strides: square stride.
        padding: ``"same"`` or ``"valid"``.
        recurrent_activation: resolved recurrent activation.
        name: layer name.
        convlstm: ``"fused"`` (:class:`~clrnet.models.convlstm.FusedConvLSTM2D`) or ``"keras"``.

    Returns:
        5-D tensor with ``return_sequences=True``.
    """
    return convlstm_layer(convlstm)(
        filters,
        (kernel_size, kernel_size),
        strides=(strides, strides),
        padding=padding,
        recurrent_activation=recurrent_activation,
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.L2(L2),
        return_sequences=True,
        name=name,
    )(x)


def _bn_relu(x, name: str):
    """BatchNormalization over channels followed by ReLU.

    Args:
        x: 5-D tensor.
        name: name prefix.

    Returns:
        Tensor of the same shape.
    """
    x = layers.BatchNormalization(axis=-1, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _bn_relu_convlstm(x, filters, kernel_size, strides, recurrent_activation, name,
                      convlstm="fused"):
    """Pre-activation unit (residual_unit v2): BN -> ReLU -> ConvLSTM2D (same padding).

    Args:
        x: 5-D tensor.
        filters: output channels.
        kernel_size: square kernel size.
        strides: square stride.
        recurrent_activation: resolved recurrent activation.
        name: name prefix.
        convlstm: ConvLSTM layer choice (:func:`_convlstm`).

    Returns:
        5-D tensor.
    """
    x = _bn_relu(x, name)
    return _convlstm(x, filters, kernel_size, strides, "same", recurrent_activation,
                     f"{name}_conv", convlstm)


def _shortcut(inputs, residual, recurrent_activation, name: str, convlstm: str = "fused"):
    """Identity or valid-padded 1x1 ConvLSTM projection + BN, then add.

    Args:
        inputs: block input.
        residual: block residual branch output.
        recurrent_activation: resolved recurrent activation.
        name: name prefix.
        convlstm: ConvLSTM layer choice (:func:`_convlstm`).

    Returns:
        ``inputs (+projection) + residual``.

    References:
        ``_shortcut`` in ``src/CLRNet_convlstm.py``: stride ``round(in/out)`` per spatial axis.
    """
    in_shape, res_shape = inputs.shape, residual.shape
    stride_h = int(round(in_shape[2] / res_shape[2]))
    stride_w = int(round(in_shape[3] / res_shape[3]))
    shortcut = inputs
    if stride_h > 1 or stride_w > 1 or in_shape[-1] != res_shape[-1]:
        shortcut = convlstm_layer(convlstm)(
            res_shape[-1],
            (1, 1),
            strides=(stride_h, stride_w),
            padding="valid",
            recurrent_activation=recurrent_activation,
            kernel_initializer="he_normal",
            kernel_regularizer=keras.regularizers.L2(L2),
            return_sequences=True,
            name=f"{name}_shortcut_conv",
        )(inputs)
        shortcut = layers.BatchNormalization(axis=-1, name=f"{name}_shortcut_bn")(shortcut)
    return layers.Add(name=f"{name}_add")([shortcut, residual])


def _dropout(x, rate: float | None, name: str):
    """Dropout when ``rate`` is set (the official ``if dropout is not None``)."""
    return layers.Dropout(rate, name=name)(x) if rate else x


def bottleneck_block(x, filters, strides, first_of_network, dropout, recurrent_activation, name,
                     convlstm="fused"):
    """Pre-activation ConvLSTM bottleneck block (output 4 * filters channels).

    Args:
        x: 5-D tensor.
        filters: bottleneck width F.
        strides: stride of the first ConvLSTM (2 in the first block of each stage).
        first_of_network: True for block 0 of stage 0 (bare 3x3 ConvLSTM, no BN-ReLU before it).
        dropout: dropout rate after the 1st and 2nd ConvLSTM (None/0 = none).
        recurrent_activation: resolved recurrent activation.
        name: name prefix.

    Returns:
        5-D tensor.

    References:
        ``bottleneck`` in ``shahroztariq/CLRNet`` ``src/CLRNet_convlstm.py``.
    """
    if first_of_network:
        y = _convlstm(x, filters, 3, strides, "same", recurrent_activation, f"{name}_a_conv",
                      convlstm)
    else:
        y = _bn_relu_convlstm(x, filters, 1, strides, recurrent_activation, f"{name}_a", convlstm)
    y = _dropout(y, dropout, f"{name}_a_drop")
    y = _bn_relu_convlstm(y, filters, 3, 1, recurrent_activation, f"{name}_b", convlstm)
    y = _dropout(y, dropout, f"{name}_b_drop")
    y = _bn_relu_convlstm(y, 4 * filters, 1, 1, recurrent_activation, f"{name}_c", convlstm)
    return _shortcut(x, y, recurrent_activation, name, convlstm)


def basic_block(x, filters, strides, first_of_network, dropout, recurrent_activation, name,
                convlstm="fused"):
    """Pre-activation ConvLSTM basic block (two 3x3 ConvLSTMs, output ``filters`` channels).

    Args:
        x: 5-D tensor.
        filters: block width F.
        strides: stride of the first ConvLSTM.
        first_of_network: True for block 0 of stage 0 (bare 3x3 ConvLSTM, no BN-ReLU before it).
        dropout: dropout rate after the first ConvLSTM (None/0 = none).
        recurrent_activation: resolved recurrent activation.
        name: name prefix.

    Returns:
        5-D tensor.

    References:
        ``basic_block`` as used by ``CLRNet18``/``CLRNet34`` in ``src/CLRNet_convlstm.py``.
    """
    if first_of_network:
        y = _convlstm(x, filters, 3, strides, "same", recurrent_activation, f"{name}_a_conv",
                      convlstm)
    else:
        y = _bn_relu_convlstm(x, filters, 3, strides, recurrent_activation, f"{name}_a", convlstm)
    y = _dropout(y, dropout, f"{name}_a_drop")
    y = _bn_relu_convlstm(y, filters, 3, 1, recurrent_activation, f"{name}_b", convlstm)
    return _shortcut(x, y, recurrent_activation, name, convlstm)


_BLOCKS: dict[str, Callable] = {"bottleneck": bottleneck_block, "basic": basic_block}


def build_clrnet(
    input_shape: Sequence[int | None] = (5, 240, 240, 3),
    repetitions: Sequence[int] = (3, 4, 6, 3),
    initial_filters: int = 64,
    dropout: float | None = 0.25,
    block: str = "bottleneck",
    recurrent_activation="hard_sigmoid_keras2",
    classes: int = 2,
    name: str = "clrnet",
    convlstm: str = "fused",
) -> keras.Model:
    """Build CLRNet as the authors ran it (CLRNet-50 v2 bottleneck by default).

    Args:
        input_shape: (T, H, W, 3) clip shape without batch; T may be None. Defaults to the
            official ``(5, 240, 240, 3)``.
        repetitions: blocks per stage. Defaults to ``(3, 4, 6, 3)`` (CLRNet-50).
        initial_filters: stem / stage-0 width; stage i uses ``initial_filters * 2**i``.
        dropout: rate inside blocks and before the head (official 0.25); None or 0 disables.
        block: ``"bottleneck"`` or ``"basic"``.
        recurrent_activation: ``"hard_sigmoid_keras2"`` (official numerics), ``"sigmoid"``, ...
        classes: output units of the softmax head (2: index 1 = P(fake)).
        name: model name.
        convlstm: ``"fused"`` (default: :class:`~clrnet.models.convlstm.FusedConvLSTM2D`, used for
            training and inference) or ``"keras"`` (``keras.layers.ConvLSTM2D``, the reference
            the fused layer is tested against). Same weights, maths and parameter count.

    Returns:
        Functional ``keras.Model`` mapping (B, T, H, W, 3) in [0, 1] to (B, classes) softmax.

    Raises:
        ValueError: for a bad block type, input shape, repetitions or ``convlstm``.

    References:
        Tariq et al., "One Detector to Rule Them All", WWW'21; ``src/CLRNet_convlstm.py``.
    """
    if block not in _BLOCKS:
        raise ValueError(f"unknown CLRNet block {block!r}; choose one of {list(BLOCK_TYPES)}")
    input_shape = tuple(input_shape)
    if len(input_shape) != 4 or input_shape[-1] != 3:
        raise ValueError(f"CLRNet input_shape must be (T, H, W, 3), got {input_shape}")
    if not repetitions or any(int(r) < 1 for r in repetitions):
        raise ValueError(f"CLRNet repetitions must be positive integers, got {list(repetitions)}")
    rec_act = resolve_recurrent_activation(recurrent_activation)
    convlstm_layer(convlstm)  # reject an unknown choice before building anything
    block_fn = _BLOCKS[block]

    inputs = keras.Input(shape=input_shape, name="clip")
    x = _convlstm(inputs, initial_filters, 7, 2, "same", rec_act, "stem_conv", convlstm)
    x = _bn_relu(x, "stem")
    x = layers.MaxPooling3D(pool_size=(1, 3, 3), padding="same", name="stem_pool")(x)
    filters = initial_filters
    for stage, reps in enumerate(repetitions):
        for i in range(int(reps)):
            x = block_fn(
                x,
                filters,
                strides=2 if i == 0 else 1,
                first_of_network=stage == 0 and i == 0,
                dropout=dropout,
                recurrent_activation=rec_act,
                name=f"stage{stage}_block{i}",
                convlstm=convlstm,
            )
        filters *= 2
    x = layers.BatchNormalization(axis=-1, name="head_bn")(x)
    x = layers.GlobalAveragePooling3D(name="head_pool")(x)
    x = _dropout(x, dropout, "head_drop")
    outputs = layers.Dense(
        classes, activation="softmax", kernel_initializer="he_normal", name="head_dense"
    )(x)
    return keras.Model(inputs, outputs, name=name)


def count_clrnet_params(
    repetitions: Sequence[int] = (3, 4, 6, 3),
    initial_filters: int = 64,
    block: str = "bottleneck",
    classes: int = 2,
    in_channels: int = 3,
) -> int:
    """Parameter count of :func:`build_clrnet` computed analytically (no model is built).

    Uses ConvLSTM2D = ``4F(k^2 C_in + k^2 F + 1)``, BN = ``4C`` (gamma, beta, moving mean and
    variance), Dense = ``C * classes + classes``. Independent of T, H and W as long as every stage
    changes the spatial size (true for the official sizes), so every block 0 has a projection.

    Args:
        repetitions: blocks per stage.
        initial_filters: stem width.
        block: ``"bottleneck"`` or ``"basic"``.
        classes: head units.
        in_channels: input channels.

    Returns:
        Total parameter count (trainable + BN moving statistics).
    """

    def convlstm(cin: int, f: int, k: int) -> int:
        return 4 * f * (k * k * cin + k * k * f + 1)

    def bn(c: int) -> int:
        return 4 * c

    expansion = 4 if block == "bottleneck" else 1
    total = convlstm(in_channels, initial_filters, 7) + bn(initial_filters)
    cin, f = initial_filters, initial_filters
    for stage, reps in enumerate(repetitions):
        for i in range(int(reps)):
            first = stage == 0 and i == 0
            cout = expansion * f
            if block == "bottleneck":
                total += convlstm(cin, f, 3 if first else 1) + (0 if first else bn(cin))
                total += bn(f) + convlstm(f, f, 3) + bn(f) + convlstm(f, cout, 1)
            else:
                total += convlstm(cin, f, 3) + (0 if first else bn(cin))
                total += bn(f) + convlstm(f, f, 3)
            if i == 0:
                total += convlstm(cin, cout, 1) + bn(cout)
            cin = cout
        f *= 2
    return total + bn(cin) + cin * classes + classes
