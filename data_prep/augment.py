"""Clip-level data augmentation as TensorFlow graph ops (CLRNet's training augmentation).

One random transform is drawn per clip and applied identically to all of its ``T`` frames, as
the official ``shahroztariq/CLRNet`` ``src/DFVDSequence.py`` does (it calls Keras
``ImageDataGenerator.get_random_transform`` once per clip, then ``apply_transform`` on every
frame). The ranges are those of that file: rotation ±30°, zoom 0.8-1.2 (``zoom_range=0.2``),
horizontal flip with probability 0.5, brightness factor in [0.7, 1.0], channel shift ±50 (on
0-255, i.e. ±50/255 here), ``fill_mode="nearest"``.

The semantics follow Keras 3's ``keras.src.legacy.preprocessing.image`` (``get_random_transform``,
``apply_transform``, ``apply_affine_transform``, ``apply_channel_shift``,
``apply_brightness_shift``), read for facts, re-expressed as TF ops:

* rotation and zoom form ONE affine map about the image centre (``R(theta) @ diag(zx, zy)``,
  ``zx`` and ``zy`` drawn independently as Keras does), applied to all frames at once with
  ``tf.raw_ops.ImageProjectiveTransformV3`` (bilinear, ``fill_mode`` NEAREST);
* channel shift adds one intensity to every channel, then clips each frame to that frame's own
  [min, max] (Keras clips to the image's min/max, not to [0, 1]);
* horizontal flip;
* brightness multiplies by the factor (PIL ``ImageEnhance.Brightness`` blends with black).

Differences from the official pipeline, and why:

* Keras rounds to uint8 inside ``apply_brightness_shift`` (a PIL round trip); we keep float32
  (difference at most ~1/255 per pixel, and no extra quantisation noise).
* For non-square images Keras centres rows with ``h`` and columns with ``w`` swapped (a quirk of
  its matrix construction); we centre each axis on its own size. Identical for square faces.
* The paper (Sec. 5.1.3) states brightness ±30%, the official code ``[0.7, 1.0]``; we follow the
  code by default and expose the range.
* ``samplewise_center``/``samplewise_std_normalization`` in the official generator are never
  applied by ``apply_transform``, so they have no effect there and none here.

Inputs/outputs are float32 RGB in [0, 1], shape ``(T, H, W, 3)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the per-clip random transform (defaults: official CLRNet ``DFVDSequence``).

    Args:
        rotation_range: maximum absolute rotation in degrees.
        zoom_range: (low, high) zoom factors, drawn independently for x and y.
        horizontal_flip: whether to flip with probability 0.5.
        brightness_range: (low, high) multiplicative brightness factor, or ``None``.
        channel_shift_range: maximum absolute channel shift on the [0, 1] scale.
    """

    rotation_range: float = 30.0
    zoom_range: tuple[float, float] = (0.8, 1.2)
    horizontal_flip: bool = True
    brightness_range: tuple[float, float] | None = (0.7, 1.0)
    channel_shift_range: float = 50.0 / 255.0


#: The official CLRNet training augmentation.
CLRNET_AUGMENT = AugmentConfig()


def random_clip_params(seed: tf.Tensor, config: AugmentConfig = CLRNET_AUGMENT) -> dict[str, tf.Tensor]:
    """Draw one clip's transform parameters with stateless random ops.

    Args:
        seed: int32/int64 tensor of shape [2] (e.g. from ``tf.random.experimental.stateless_fold_in``).
        config: the ranges.

    Returns:
        Scalars ``theta`` (degrees), ``zx``, ``zy``, ``flip`` (bool), ``channel_shift`` and
        ``brightness`` (float32), the same keys as Keras ``get_random_transform`` uses
        (``flip_horizontal`` → ``flip``, ``channel_shift_intensity`` → ``channel_shift``).

    References:
        Keras ``ImageDataGenerator.get_random_transform`` (uniform draws for every range).
    """
    u = tf.random.stateless_uniform([6], seed=seed, dtype=tf.float32)
    lo_z, hi_z = config.zoom_range
    lo_b, hi_b = config.brightness_range or (1.0, 1.0)
    return {
        "theta": (2.0 * u[0] - 1.0) * config.rotation_range,
        "zx": lo_z + u[1] * (hi_z - lo_z),
        "zy": lo_z + u[2] * (hi_z - lo_z),
        "flip": tf.logical_and(tf.constant(bool(config.horizontal_flip)), u[3] < 0.5),
        "channel_shift": (2.0 * u[4] - 1.0) * config.channel_shift_range,
        "brightness": lo_b + u[5] * (hi_b - lo_b),
    }


def affine_transform_vector(theta_deg: tf.Tensor, zx: tf.Tensor, zy: tf.Tensor,
                            height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
    """Projective-transform vector of Keras's rotation+zoom about the image centre.

    The vector maps an OUTPUT pixel ``(x, y)`` (column, row) to the INPUT pixel it samples, as
    ``ImageProjectiveTransformV3`` expects: ``in = A @ (out - c) + c`` with
    ``A = R(theta) @ diag(zx, zy)`` and ``c`` the centre of the pixel grid.

    Args:
        theta_deg: rotation in degrees.
        zx: zoom along x (columns); >1 shows more of the image (zoom out), as in Keras.
        zy: zoom along y (rows).
        height: image height.
        width: image width.

    Returns:
        float32 tensor of shape [8].

    References:
        Keras ``apply_affine_transform`` and ``transform_matrix_offset_center``.
    """
    t = theta_deg * (math.pi / 180.0)
    c, s = tf.cos(t), tf.sin(t)
    a00, a01 = c * zx, -s * zy
    a10, a11 = s * zx, c * zy
    cx = (tf.cast(width, tf.float32) - 1.0) / 2.0
    cy = (tf.cast(height, tf.float32) - 1.0) / 2.0
    ox = cx - (a00 * cx + a01 * cy)
    oy = cy - (a10 * cx + a11 * cy)
    zero = tf.zeros_like(a00)
    return tf.stack([a00, a01, ox, a10, a11, oy, zero, zero])


def apply_clip_transform(clip: tf.Tensor, params: dict[str, tf.Tensor]) -> tf.Tensor:
    """Apply one set of transform parameters to every frame of a clip.

    Order as Keras ``apply_transform``: affine (rotation+zoom), channel shift, flip, brightness.

    Args:
        clip: float32 (T, H, W, 3) in [0, 1].
        params: output of :func:`random_clip_params` (or hand-made, same keys).

    Returns:
        float32 (T, H, W, 3) in [0, 1].
    """
    clip = tf.convert_to_tensor(clip, tf.float32)
    shape = tf.shape(clip)
    h, w = shape[1], shape[2]
    vec = affine_transform_vector(params["theta"], params["zx"], params["zy"], h, w)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=clip, transforms=vec[tf.newaxis], output_shape=tf.stack([h, w]),
        fill_value=tf.constant(0.0, tf.float32), interpolation="BILINEAR", fill_mode="NEAREST")
    lo = tf.reduce_min(out, axis=[1, 2, 3], keepdims=True)
    hi = tf.reduce_max(out, axis=[1, 2, 3], keepdims=True)
    out = tf.clip_by_value(out + params["channel_shift"], lo, hi)
    out = tf.cond(params["flip"], lambda: tf.reverse(out, axis=[2]), lambda: out)
    out = out * params["brightness"]
    out = tf.clip_by_value(out, 0.0, 1.0)
    out.set_shape(clip.shape)
    return out


def augment_clip(clip: tf.Tensor, seed: tf.Tensor, config: AugmentConfig = CLRNET_AUGMENT) -> tf.Tensor:
    """Draw one transform from ``seed`` and apply it to all frames of ``clip``.

    Args:
        clip: float32 (T, H, W, 3) in [0, 1].
        seed: shape-[2] integer seed; the same seed gives the same output.
        config: the ranges (default: official CLRNet).

    Returns:
        The augmented clip, float32 (T, H, W, 3) in [0, 1].

    References:
        ``shahroztariq/CLRNet`` ``src/DFVDSequence.py`` (one transform per clip).
    """
    return apply_clip_transform(clip, random_clip_params(seed, config))
