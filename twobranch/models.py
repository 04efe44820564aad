"""The two-branch recurrent network of Masi et al. (ECCV 2020, Sec. 3.1, Fig. 2).

Layout (defaults = the paper's full network, input 10 x 224 x 224 x 3 RGB in [0, 1]):

* Normalisation inside the model: ImageNet mean/std ("torch" mode of Keras DenseNet), so a local
  DenseNet-121 ImageNet file fits the weights.
* **RGB branch** ``Phi_RGB``: DenseNet-121 stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool -> 56x56x64),
  dense block 1 (6 layers) and transition 1 -> **28x28x128**. Layer names are exactly Keras
  ``DenseNet121``'s (``conv1_conv``, ``conv2_block1_1_conv``, ``pool2_conv``, ...).
* **LoG branch** ``Phi_LoG``: its own (unshared) stem conv/BN/ReLU, then ``DeepLoG`` on the 112x112x64
  low-level maps, BN, ReLU, max-pool, its own dense block 1 + transition 1 -> **28x28x128**. Names are
  the RGB ones prefixed ``log_``. Placement: the paper applies the LoG "to the low-level feature maps"
  and shows maps "after the first convolutional layer and our Deep LoG layer" (Fig. 3); the same
  group's later code puts its LoG after conv1/bn/relu, before the max-pool. We do the same
  (``log_position="stem"``); ``log_position="input"`` applies DeepLoG to the normalised image instead.
* **Fusion**: concatenation (256 planes) and a point-wise convolution in two groups -> 128 planes
  (``fusion_conv``; ``fusion_groups`` is a parameter, Table 1c compares 1 and 2). No BN/ReLU after it:
  the next DenseNet layer starts with BN-ReLU (pre-activation).
* **Backbone**: dense blocks 2-4 (12, 24, 16 layers) with transitions after blocks 2 and 3 only ("All
  the DenseBlocks end with a Transitional layer except for the one prior the LSTM"), DenseNet's final
  BN-ReLU, global average pooling -> **1024**.
* Dropout 0.2 "at the end of each DenseLayer": on the new ``growth_rate`` planes, before the
  concatenation (as torchvision's ``drop_rate``), in every dense block including the branches.
* ``two_branch``: the frame encoder runs per frame (``TimeDistributed``) and a bidirectional LSTM with
  128 units reads the F = 10 per-frame vectors; its two directions are concatenated (forward state at
  the last step, backward state at the first) -> **256-d** embedding ``Phi(I)``.
* ``two_branch_frame``: the single-frame ablation (Table 1a/b), embedding = the 1024-d GAP vector.
* ``head="isolation"`` (default) outputs the embedding for :class:`twobranch.losses.IsolationLoss`;
  ``head="bce"`` adds ``Dense(1, sigmoid)`` -> P(fake) for the binary cross-entropy alternative.
* ``branches="rgb"`` drops the LoG branch and the fusion (single-branch row of Table 1b).

Scoring: :func:`make_scorer` appends :class:`twobranch.layers.DistanceToCenter` so a saved model holds
c, r- and r+ and outputs (B, 1) P(fake) (:func:`scorer_from_compiled` does it from a checkpoint's
compiled loss); :func:`clrnet.scoring.fake_probability` scores any of these models.

ImageNet initialisation (``densenet_weights``; the paper: "We initialize all the layers from
pre-trained weights from ImageNet except those of the LSTM", Sec. 3.1, and computes the centre c
with that network, Sec. 3.3): ``densenet_weights="imagenet"`` takes the ``keras.applications``
DenseNet ImageNet weights of the model's block layout (DenseNet-121 for the defaults;
:func:`imagenet_weights_file`): the file in the Keras cache (``$KERAS_HOME/models`` or
``~/.keras/models``, where Keras stores it on its first download) if present, else Keras'
download; without network and without the cached file it fails with one line saying what to do
(``--densenet-weights FILE``, or one run on a connected machine). ``densenet_weights="<file>"``
reads a local Keras DenseNet weights file. :func:`load_densenet_weights` copies the weights into
the RGB branch and the backbone, and the same ImageNet filters into the LoG branch's stem and
dense block 1; the Deep-LoG 1x1 projection, the fusion convolution and the BiLSTM have no ImageNet
counterpart and keep their random initialisation. The default (None) downloads nothing.

Size: over 600 lines: the whole network of Fig. 2 (DenseNet branches, Deep LoG fusion,
BiLSTM, heads), its ImageNet loading and the centre computation, one paper component.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np

from clrnet.training.batchnorm import recalibrate_batchnorm
from twobranch.errors import DenseNetWeightsError
from twobranch.layers import DeepLoG, DistanceToCenter, center_distance
from twobranch.losses import IsolationLoss, default_radii

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BN_EPS = 1.001e-5


def _bn(name: str, momentum: float = 0.99) -> keras.layers.BatchNormalization:
    return keras.layers.BatchNormalization(epsilon=BN_EPS, momentum=momentum, name=name)

#: Defaults of every model; ``build_model(name, **overrides)`` changes any of them.
DEFAULTS: dict = {
    "input_size": 224,
    "frames": 10,
    "blocks": (6, 12, 24, 16),
    "growth_rate": 32,
    "stem_filters": 64,
    "bottleneck": 4,
    "reduction": 0.5,
    "dropout": 0.2,
    "bn_momentum": 0.99,
    "lstm_units": 128,
    "log_scales": (2, 4, 8),
    "log_kernel_size": 3,
    "log_position": "stem",
    "fusion_groups": 2,
    "branches": "two",
    "head": "isolation",
    "densenet_weights": None,  # None, "imagenet" or a local weights file
}

#: ``keras.applications`` DenseNet ImageNet files without top, by block layout:
#: (file name in the Keras cache, download address, Keras' MD5 of the file).
_KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
IMAGENET_FILES: dict[tuple[int, ...], tuple[str, str, str]] = {
    blocks: (name, _KERAS_WEIGHTS + name, md5) for blocks, name, md5 in (
        ((6, 12, 24, 16), "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
         "30ee3e1110167f948a6b9946edeeb738"),
        ((6, 12, 32, 32), "densenet169_weights_tf_dim_ordering_tf_kernels_notop.h5",
         "b8c4d4c20dd625c148057b9ff1c1176b"),
        ((6, 12, 48, 32), "densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5",
         "c13680b51ded0fb44dff2d8f86ac8bb1"),
    )}

#: Registered model names and what differs from DEFAULTS.
MODELS: dict[str, dict] = {
    "two_branch": {"recurrent": True},
    "two_branch_frame": {"recurrent": False},
}


# ----------------------------------------------------------------------------- building blocks
def dense_layer(x, growth_rate: int, bottleneck: int, dropout: float, name: str,
                bn_momentum: float = 0.99):
    """One DenseNet-BC layer: BN-ReLU-1x1 conv, BN-ReLU-3x3 conv, dropout, concatenation.

    Args:
        x: input map.
        growth_rate: new planes k.
        bottleneck: the 1x1 conv has ``bottleneck * k`` planes.
        dropout: rate on the new planes (0 disables).
        name: prefix (Keras DenseNet's ``convN_blockI``).
        bn_momentum: BatchNormalization moving-average momentum.

    Returns:
        The input with ``growth_rate`` planes appended.

    References:
        Huang et al., DenseNet (CVPR 2017); Keras ``applications/densenet.py`` naming.
    """
    y = _bn(f"{name}_0_bn", bn_momentum)(x)
    y = keras.layers.Activation("relu", name=f"{name}_0_relu")(y)
    y = keras.layers.Conv2D(bottleneck * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(y)
    y = _bn(f"{name}_1_bn", bn_momentum)(y)
    y = keras.layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = keras.layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    if dropout > 0:
        y = keras.layers.Dropout(dropout, name=f"{name}_drop")(y)
    return keras.layers.Concatenate(name=f"{name}_concat")([x, y])


def dense_block(x, layers: int, cfg: dict, name: str):
    """``layers`` dense layers named ``{name}_block{i}``."""
    for i in range(layers):
        x = dense_layer(x, cfg["growth_rate"], cfg["bottleneck"], cfg["dropout"], f"{name}_block{i + 1}",
                        cfg["bn_momentum"])
    return x


def transition(x, reduction: float, name: str, bn_momentum: float = 0.99):
    """DenseNet transition: BN-ReLU-1x1 conv (planes * reduction), 2x2 average pooling."""
    planes = int(x.shape[-1] * reduction)
    x = _bn(f"{name}_bn", bn_momentum)(x)
    x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
    x = keras.layers.Conv2D(planes, 1, use_bias=False, name=f"{name}_conv")(x)
    return keras.layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def stem_conv(x, filters: int, prefix: str = "", bn_momentum: float = 0.99):
    """DenseNet stem without its pool: pad 3, 7x7/2 conv, BN, ReLU (-> H/2)."""
    x = keras.layers.ZeroPadding2D(3, name=f"{prefix}zero_padding2d_stem")(x)
    x = keras.layers.Conv2D(filters, 7, strides=2, use_bias=False, name=f"{prefix}conv1_conv")(x)
    x = _bn(f"{prefix}conv1_bn", bn_momentum)(x)
    return keras.layers.Activation("relu", name=f"{prefix}conv1_relu")(x)


def stem_pool(x, prefix: str = ""):
    """DenseNet stem pool: pad 1, 3x3/2 max-pool (-> H/4)."""
    x = keras.layers.ZeroPadding2D(1, name=f"{prefix}zero_padding2d_pool")(x)
    return keras.layers.MaxPooling2D(3, strides=2, name=f"{prefix}pool1")(x)


def deep_log_unit(x, cfg: dict, name: str = "deep_log"):
    """DeepLoG (K -> S*K -> K planes) followed by BN and ReLU."""
    x = DeepLoG(filters=int(x.shape[-1]), scales=tuple(cfg["log_scales"]),
                kernel_size=cfg["log_kernel_size"], name=name)(x)
    x = _bn(f"{name}_bn", cfg["bn_momentum"])(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def rgb_branch(x, cfg: dict):
    """Phi_RGB: stem, dense block 1, transition 1 (Keras DenseNet121 names)."""
    x = stem_pool(stem_conv(x, cfg["stem_filters"], "", cfg["bn_momentum"]))
    x = dense_block(x, cfg["blocks"][0], cfg, "conv2")
    return transition(x, cfg["reduction"], "pool2", cfg["bn_momentum"])


def log_branch(x, cfg: dict):
    """Phi_LoG: unshared stem with DeepLoG, dense block 1, transition 1 (names prefixed ``log_``)."""
    if cfg["log_position"] == "input":
        x = DeepLoG(filters=int(x.shape[-1]), scales=tuple(cfg["log_scales"]),
                    kernel_size=cfg["log_kernel_size"], name="deep_log")(x)
        x = stem_conv(x, cfg["stem_filters"], "log_", cfg["bn_momentum"])
    elif cfg["log_position"] == "stem":
        x = deep_log_unit(stem_conv(x, cfg["stem_filters"], "log_", cfg["bn_momentum"]), cfg)
    else:
        raise ValueError(f"log_position must be 'stem' or 'input', got {cfg['log_position']!r}")
    x = stem_pool(x, "log_")
    x = dense_block(x, cfg["blocks"][0], cfg, "log_conv2")
    return transition(x, cfg["reduction"], "log_pool2", cfg["bn_momentum"])


def fusion(rgb, log, groups: int):
    """Concatenate the two aligned branch maps and fuse them by a grouped point-wise convolution."""
    x = keras.layers.Concatenate(name="fusion_concat")([rgb, log])
    return keras.layers.Conv2D(int(rgb.shape[-1]), 1, groups=groups, use_bias=False,
                               name="fusion_conv")(x)


def backbone(x, cfg: dict):
    """Dense blocks 2..4, transitions after all but the last, BN-ReLU, GAP (-> 1024)."""
    n = len(cfg["blocks"])
    for i in range(1, n):
        x = dense_block(x, cfg["blocks"][i], cfg, f"conv{i + 2}")
        if i < n - 1:
            x = transition(x, cfg["reduction"], f"pool{i + 2}", cfg["bn_momentum"])
    x = _bn("bn", cfg["bn_momentum"])(x)
    x = keras.layers.Activation("relu", name="relu")(x)
    return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)


def frame_features(inputs, cfg: dict):
    """Normalisation, the branches, the fusion and the backbone for one frame (-> GAP vector)."""
    x = keras.layers.Normalization(mean=list(IMAGENET_MEAN),
                                   variance=[s * s for s in IMAGENET_STD], name="imagenet_norm")(inputs)
    rgb = rgb_branch(x, cfg)
    if cfg["branches"] == "two":
        x = fusion(rgb, log_branch(x, cfg), cfg["fusion_groups"])
    elif cfg["branches"] == "rgb":
        x = rgb
    else:
        raise ValueError(f"branches must be 'two' or 'rgb', got {cfg['branches']!r}")
    return backbone(x, cfg)


def bce_head(x):
    """Dense(1, sigmoid) -> P(fake) (the binary cross-entropy alternative)."""
    return keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="p_fake")(x)


# ----------------------------------------------------------------------------- builders
def _config(name: str, overrides: dict) -> dict:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown overrides for {name}: {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **MODELS[name], **overrides}
    cfg["blocks"] = tuple(int(b) for b in cfg["blocks"])
    if len(cfg["blocks"]) < 2:
        raise ValueError(f"need at least 2 dense blocks, got {cfg['blocks']}")
    if cfg["head"] not in ("isolation", "bce"):
        raise ValueError(f"head must be 'isolation' or 'bce', got {cfg['head']!r}")
    return cfg


def build_frame_encoder(cfg: dict) -> keras.Model:
    """The per-frame network (input (S, S, 3) in [0, 1]) -> GAP vector, named ``frame_encoder``."""
    inputs = keras.Input((cfg["input_size"], cfg["input_size"], 3), name="frame")
    return keras.Model(inputs, frame_features(inputs, cfg), name="frame_encoder")


def build_two_branch(cfg: dict) -> keras.Model:
    """Recurrent model: (B, F, S, S, 3) -> 256-d embedding (or (B, 1) P(fake) with head='bce')."""
    encoder = build_frame_encoder(cfg)
    if cfg["densenet_weights"]:
        load_densenet_weights(encoder, densenet_weights_path(cfg["densenet_weights"],
                                                             cfg["blocks"]))
    inputs = keras.Input((cfg["frames"], cfg["input_size"], cfg["input_size"], 3), name="frames")
    x = keras.layers.TimeDistributed(encoder, name="per_frame")(inputs)
    x = keras.layers.Bidirectional(keras.layers.LSTM(cfg["lstm_units"]), merge_mode="concat",
                                   name="bilstm")(x)
    x = keras.layers.Activation("linear", dtype="float32", name="embedding")(x)
    if cfg["head"] == "bce":
        x = bce_head(x)
    return keras.Model(inputs, x, name="two_branch")


def build_two_branch_frame(cfg: dict) -> keras.Model:
    """Single-frame ablation: (B, S, S, 3) -> 1024-d embedding (or (B, 1) P(fake))."""
    inputs = keras.Input((cfg["input_size"], cfg["input_size"], 3), name="frame")
    x = frame_features(inputs, cfg)
    x = keras.layers.Activation("linear", dtype="float32", name="embedding")(x)
    if cfg["head"] == "bce":
        x = bce_head(x)
    model = keras.Model(inputs, x, name="two_branch_frame")
    if cfg["densenet_weights"]:
        load_densenet_weights(model, densenet_weights_path(cfg["densenet_weights"],
                                                           cfg["blocks"]))
    return model


def build_network(name: str = "two_branch", **overrides) -> keras.Model:
    """Build the plain functional network of a registered name (the registry's builder).

    Args:
        name: ``"two_branch"`` (full recurrent network) or ``"two_branch_frame"`` (no LSTM).
        **overrides: any key of :data:`DEFAULTS` (e.g. ``input_size=32, blocks=(1, 1, 1, 1)``).

    Returns:
        An uncompiled functional Keras model taking float32 RGB in [0, 1].

    References:
        Masi et al., ECCV 2020, Sec. 3.1 and Fig. 2.
    """
    cfg = _config(name, overrides)
    return build_two_branch(cfg) if cfg["recurrent"] else build_two_branch_frame(cfg)


def build_model(name: str = "two_branch", **overrides) -> keras.Model:
    """Build a registered two-branch model through the registry (a :class:`clrnet.registry.Detector`).

    Args:
        name: ``"two_branch"`` or ``"two_branch_frame"``.
        **overrides: any key of :data:`DEFAULTS`; ``densenet_weights="imagenet"`` starts every
            DenseNet layer of both branches and the backbone from the ``keras.applications``
            ImageNet weights (see the module docstring), ``densenet_weights="<file>"`` from a
            local Keras DenseNet weights file, None (default) from random weights.

    Returns:
        The model; it saves and reloads with plain ``keras.models.load_model``.

    Raises:
        DenseNetWeightsError: ``"imagenet"`` with neither a cached file nor a working
            download, or a weights file that is missing or does not fit.
    """
    from clrnet import registry
    from clrnet.errors import ModelError

    try:
        return registry.build_model(name, **overrides)
    except ModelError as exc:  # the registry wraps builder errors; keep the weights' own line
        if isinstance(exc.__cause__, DenseNetWeightsError):
            raise exc.__cause__ from None
        raise


def frame_encoder_of(model: keras.Model) -> keras.Model:
    """The per-frame sub-network of a model (the model itself for ``two_branch_frame``)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.TimeDistributed):
            return layer.layer
        if isinstance(layer, keras.Model) and layer.name == "frame_encoder":
            return layer
    return model


def embedding_dim(model: keras.Model) -> int:
    """Size of a model's embedding (its ``embedding`` layer)."""
    return int(model.get_layer("embedding").output.shape[-1])


# ----------------------------------------------------------------------------- pre-trained weights
def keras_cache_dirs() -> list[Path]:
    """Folders where Keras keeps downloaded application weights (``<keras home>/models``).

    ``$KERAS_HOME`` (read now), the Keras home of this process (``~/.keras``, or ``/tmp/.keras``
    when the home folder is not writable), in that order, without duplicates.
    """
    homes = [os.environ.get("KERAS_HOME", "")]
    try:
        from keras.src.backend import config as keras_config

        homes.append(keras_config.keras_home())
    except (ImportError, AttributeError):
        pass
    homes += [os.path.join(os.path.expanduser("~"), ".keras"), os.path.join("/tmp", ".keras")]
    out: list[Path] = []
    for home in homes:
        if home:
            path = Path(os.path.expanduser(home)) / "models"
            if path not in out:
                out.append(path)
    return out


def _download_imagenet(name: str, url: str, md5: str) -> str:
    """Keras' own download into its cache (``keras.utils.get_file``); returns the local path."""
    return keras.utils.get_file(name, url, cache_subdir="models", file_hash=md5)


def imagenet_weights_file(blocks: Iterable[int] = (6, 12, 24, 16)) -> Path:
    """The local ``keras.applications`` DenseNet ImageNet weights file (without top).

    Looks in the Keras cache first (:func:`keras_cache_dirs`); if the file is not there, asks
    Keras to download it (which needs a network connection and stores it in the cache).

    Args:
        blocks: the DenseNet block layout (121: 6-12-24-16, 169: 6-12-32-32, 201: 6-12-48-32).

    Returns:
        The file's path.

    Raises:
        DenseNetWeightsError: a layout without ImageNet weights, or no cached file and a
            failed download (one line: what to do instead).
    """
    blocks = tuple(int(b) for b in blocks)
    if blocks not in IMAGENET_FILES:
        raise DenseNetWeightsError(
            f"no ImageNet weights exist for DenseNet blocks {list(blocks)} (keras.applications "
            f"has {', '.join(str(list(b)) for b in IMAGENET_FILES)}); use densenet_weights=None "
            "or a weights file")
    name, url, md5 = IMAGENET_FILES[blocks]
    for folder in keras_cache_dirs():
        if (folder / name).is_file():
            return folder / name
    try:
        return Path(_download_imagenet(name, url, md5))
    except Exception as exc:  # noqa: BLE001 - any download failure has the same remedy
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise DenseNetWeightsError(
            f"ImageNet DenseNet weights {name} are not in the Keras cache "
            f"({keras_cache_dirs()[0]}) and could not be downloaded ({reason}); pass "
            "--densenet-weights FILE (a local Keras DenseNet weights file), or run once on a "
            "connected machine so that Keras caches the file") from None


def densenet_weights_path(weights: str | os.PathLike, blocks: Iterable[int]) -> Path:
    """``weights`` as a local file: ``"imagenet"`` -> :func:`imagenet_weights_file`."""
    if str(weights).lower() == "imagenet":
        return imagenet_weights_file(blocks)
    return Path(weights)


def _densenet_blocks(encoder: keras.Model) -> list[int]:
    counts: dict[int, int] = {}
    for layer in encoder.layers:
        m = re.fullmatch(r"conv(\d+)_block(\d+)_concat", layer.name)
        if m:
            counts[int(m.group(1))] = max(counts.get(int(m.group(1)), 0), int(m.group(2)))
    return [counts[k] for k in sorted(counts)]


def load_densenet_weights(model: keras.Model, path: str | Path) -> int:
    """Initialise the DenseNet layers of a model from a local Keras DenseNet weights file.

    The file is what ``keras.applications.DenseNet121(...).save_weights`` (``.weights.h5``) or the
    Keras ImageNet download (``*_notop.h5`` / with top) holds. It is read through a reference Keras
    DenseNet of the same block layout (built with ``weights=None``, nothing is downloaded), then copied
    by layer name into the RGB branch and the backbone, and into the LoG branch's ``log_`` twins.

    Args:
        model: a model from :func:`build_model` (or its frame encoder).
        path: local weights file.

    Returns:
        The number of layers whose weights were set.

    Raises:
        DenseNetWeightsError: the file is missing, unreadable or its shapes do not fit the model.
    """
    path = Path(path)
    if not path.is_file():
        raise DenseNetWeightsError(f"{path}: DenseNet weights file not found")
    encoder = frame_encoder_of(model)
    blocks = _densenet_blocks(encoder)
    from keras.src.applications import densenet  # DenseNet(blocks=...) is not public API

    size = max(32, int(encoder.input.shape[1]))
    last_error: Exception | None = None
    for top in (False, True):
        ref = densenet.DenseNet(blocks=blocks, include_top=top, weights=None,
                                input_shape=(size, size, 3) if not top else None)
        try:
            ref.load_weights(str(path))
            break
        except Exception as e:  # noqa: BLE001 - any reader failure means "does not fit"
            last_error = e
    else:
        raise DenseNetWeightsError(
            f"{path}: not a Keras DenseNet weights file with blocks {blocks} ({last_error})")
    names = {layer.name for layer in encoder.layers}
    loaded = 0
    for ref_layer in ref.layers:
        weights = ref_layer.get_weights()
        if not weights:
            continue
        for target in (ref_layer.name, f"log_{ref_layer.name}"):
            if target not in names:
                continue
            layer = encoder.get_layer(target)
            shapes = [tuple(w.shape) for w in layer.get_weights()]
            if shapes != [tuple(w.shape) for w in weights]:
                raise DenseNetWeightsError(
                    f"{path}: layer {ref_layer.name} has shapes {[w.shape for w in weights]}, "
                    f"model layer {target} needs {shapes}")
            layer.set_weights(weights)
            loaded += 1
    if loaded == 0:
        raise DenseNetWeightsError(f"{path}: no DenseNet layer name matched the model")
    return loaded


# ----------------------------------------------------------------------------- centre and scores
def _batches(data: Iterable) -> Iterable[tuple[np.ndarray, np.ndarray | None]]:
    for item in data:
        if isinstance(item, (tuple, list)):
            x, y = item[0], (item[1] if len(item) > 1 else None)
        elif isinstance(item, dict):
            x, y = item.get("frames", item.get("x")), item.get("label")
        else:
            x, y = item, None
        yield np.asarray(x, dtype="float32"), None if y is None else np.asarray(y).reshape(-1)


def compute_center(model: keras.Model, real_dataset: Iterable, max_batches: int | None = None,
                   recalibrate_bn: bool = False) -> np.ndarray:
    """Mean embedding of real training sequences under the (untrained) network.

    Args:
        model: a model whose output is the embedding (``head="isolation"``).
        real_dataset: iterable of ``x`` or ``(x, y[, w])`` batches; when labels are present only the
            real (label 0) samples count.
        max_batches: stop after this many batches (None = all).
        recalibrate_bn: first set the BatchNorm moving statistics to the data's
            (:func:`clrnet.training.recalibrate_batchnorm` over the same batches). The paper starts from ImageNet
            weights whose statistics already fit faces; a randomly initialised network's do not,
            and without this its evaluation-mode embeddings (and so c) move as soon as training
            updates the statistics.

    Returns:
        float32 (D,) centre c.

    Raises:
        ValueError: no real sample was seen.

    References:
        Masi et al., ECCV 2020, Sec. 3.3 ("pre-computing a reference center c by averaging the
        encodings of all the natural ... sequences in the training set ... before training").
    """
    if recalibrate_bn:
        recalibrate_batchnorm(model, (x for x, _ in _batches(real_dataset)), max_batches)
    total, count = None, 0
    for i, (x, y) in enumerate(_batches(real_dataset)):
        if max_batches is not None and i >= max_batches:
            break
        emb = np.asarray(model(x, training=False), dtype="float64")
        if y is not None:
            emb = emb[y == 0]
        if len(emb) == 0:
            continue
        total = emb.sum(axis=0) if total is None else total + emb.sum(axis=0)
        count += len(emb)
    if count == 0:
        raise ValueError("compute_center: the dataset held no real (label 0) sample")
    return (total / count).astype("float32")


def make_scorer(model: keras.Model, center, r_minus: float | None = None, r_plus: float | None = None,
                mode: str = "probability") -> keras.Model:
    """Wrap an embedding model so it outputs (B, 1) P(fake) (or the distance) with c, r-, r+ inside.

    Args:
        model: embedding model (``head="isolation"``).
        center: (D,) centre.
        r_minus: inner radius; None takes the paper's value for D.
        r_plus: outer radius; None takes the paper's value for D.
        mode: ``"probability"`` or ``"distance"``.

    Returns:
        A :class:`clrnet.registry.Detector` sharing ``model``'s layers, named ``<name>_scorer``,
        of the same registry entry as ``model`` (``two_branch`` for an unregistered model).
    """
    from clrnet import registry

    dim = int(model.output.shape[-1])
    rm, rp = default_radii(dim)
    layer = DistanceToCenter(center, rm if r_minus is None else r_minus,
                             rp if r_plus is None else r_plus, mode=mode, dtype="float32",
                             name="distance_to_center")
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    scorer = keras.Model(inputs, layer(model.output), name=f"{model.name}_scorer")
    name = getattr(model, "registry_name", "") or (
        "two_branch" if len(model.inputs[0].shape) == 5 else "two_branch_frame")
    return registry.wrap(scorer, name, trained_on=getattr(model, "trained_on", ""),
                         weights_source=getattr(model, "weights_source", ""))


def scorer_from_compiled(model: keras.Model) -> keras.Model:
    """The scorer of an embedding model compiled with :class:`~twobranch.losses.IsolationLoss`.

    Uses the centre and radii the loss carries (every checkpoint of ``python -m twobranch.train``
    holds them).

    Raises:
        clrnet.errors.ModelError: the model has no compiled isolation loss.
    """
    from clrnet.errors import ModelError

    loss = getattr(model, "loss", None)
    if not isinstance(loss, IsolationLoss):
        raise ModelError(f"{model.name}: outputs {model.output.shape[-1]}-d embeddings and has no "
                         "compiled isolation-loss centre; save twobranch.models.make_scorer(model, "
                         "center) instead")
    return make_scorer(model, np.asarray(loss.center, np.float32), loss.r_minus, loss.r_plus)


def distances(model: keras.Model, x, center, batch_size: int = 8) -> np.ndarray:
    """Euclidean distance of each sample's embedding to ``center`` (1-D, float64)."""
    emb = model.predict(x, batch_size=batch_size, verbose=0)
    return np.asarray(keras.ops.convert_to_numpy(center_distance(emb, center)), "float64")


# ----------------------------------------------------------------------------- summary CLI
def summary_lines(model: keras.Model) -> list[str]:
    """Parameter counts per part and the paper's checkpoint shapes, as printable lines."""
    enc = frame_encoder_of(model)

    def count(pred) -> int:
        return int(sum(np.prod(w.shape) for layer in enc.layers if pred(layer.name)
                       for w in layer.weights))

    lines = [f"model {model.name}: input {tuple(model.input.shape)} -> output {tuple(model.output.shape)}",
             f"  parameters: total {model.count_params():,} "
             f"(trainable {sum(int(np.prod(w.shape)) for w in model.trainable_weights):,})"]
    parts = {
        "RGB branch (stem, block 1, transition 1)": lambda n: re.match(r"(conv1_|conv2_|pool2_)", n),
        "LoG branch (stem, DeepLoG, block 1, transition 1)": lambda n: n.startswith(("log_", "deep_log")),
        "fusion (grouped 1x1)": lambda n: n.startswith("fusion"),
        "backbone (blocks 2-4, transitions, final BN)":
            lambda n: re.match(r"(conv[3-9]_|pool[3-9]_|bn$)", n),
    }
    for label, pred in parts.items():
        lines.append(f"    {label}: {count(pred):,}")
    for layer_name in ("bilstm", "p_fake"):
        try:
            lines.append(f"    {layer_name}: {model.get_layer(layer_name).count_params():,}")
        except ValueError:
            pass
    lines.append("  feature maps (per frame):")
    for label, layer_name in (("RGB branch", "pool2_pool"), ("LoG branch", "log_pool2_pool"),
                              ("fusion", "fusion_conv"), ("global average pooling", "avg_pool")):
        try:
            lines.append(f"    {label}: {tuple(enc.get_layer(layer_name).output.shape[1:])}")
        except ValueError:
            pass
    lines.append(f"  embedding: {tuple(model.get_layer('embedding').output.shape[1:])}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m twobranch.models --summary [--model NAME] [--input-size S] [--frames F]``."""
    parser = argparse.ArgumentParser(prog="python -m twobranch.models", description=__doc__.split("\n")[0])
    parser.add_argument("--summary", action="store_true", help="print parameter counts and shapes")
    parser.add_argument("--model", default="all", choices=["all", *MODELS])
    parser.add_argument("--input-size", type=int, default=DEFAULTS["input_size"])
    parser.add_argument("--frames", type=int, default=DEFAULTS["frames"])
    parser.add_argument("--head", default="isolation", choices=["isolation", "bce"])
    args = parser.parse_args(argv)
    if not args.summary:
        parser.print_help()
        return 0
    names = list(MODELS) if args.model == "all" else [args.model]
    for name in names:
        model = build_model(name, input_size=args.input_size, frames=args.frames, head=args.head)
        print("\n".join(summary_lines(model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
