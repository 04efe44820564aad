"""Deep Laplacian of Gaussian layer (Masi et al., ECCV 2020, Sec. 3.2, Eq. 1) and the scoring layer.

``DeepLoG`` computes, for every scale ``s`` of ``S`` scales,

    d_s = x - up(down(G_s * x))

with a fixed (non-trainable, non-variable) depthwise Gaussian ``G_s``, bilinear down-sampling by ``s``
and bilinear up-sampling back to the input size; the ``S`` differences are concatenated on channels
(K -> S*K planes) and mapped back to ``filters`` planes by a learnable 1x1 convolution ``w1x1``.

Masi et al. published no code. Choices the paper leaves open, all constructor arguments:

* ``scales=(2, 4, 8)``, ``kernel_size=3`` and ``sigma = s`` follow the same group's later PyTorch
  ``LaPlacianMs`` (read for facts only). S = 3 is the paper's.
* The Gaussian is applied with **reflect padding** ("same" size) instead of that code's unpadded
  convolution, so the output stays aligned with the input and a constant map gives exactly zero
  differences (the band-pass property the paper relies on).
* Down-sampled size is ``ceil(H / s)`` (at least 1), bilinear without antialiasing (the blur is the
  anti-alias filter), then bilinear back to ``H x W``.
* ``w1x1`` has no bias (BatchNorm follows it in the network).

``DistanceToCenter`` turns an embedding into the paper's test-time score ``||Phi(I) - c||_2`` and, by
default, into a calibrated P(fake)-like value so a saved scorer model behaves like any sigmoid model:

    p = sigmoid(2 ln(99) (d - t) / (r+ - r-)),  t = (r- + r+) / 2,

i.e. p = 0.01 at d = r-, 0.5 halfway between the radii and 0.99 at d = r+. This mapping is ours (the
paper only thresholds the distance); it is monotone, so AUC-type metrics equal those of d.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

PACKAGE = "deepfake_repro"


def gaussian_kernel(kernel_size: int, sigma: float) -> np.ndarray:
    """Normalised 2-D Gaussian kernel.

    Args:
        kernel_size: odd side length.
        sigma: standard deviation in pixels.

    Returns:
        float32 array (kernel_size, kernel_size) summing to 1.
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    r = np.arange(kernel_size, dtype=np.float64) - (kernel_size - 1) / 2.0
    g = np.exp(-(r**2) / (2.0 * sigma**2))
    k = np.outer(g, g)
    return (k / k.sum()).astype("float32")


@keras.saving.register_keras_serializable(package=PACKAGE)
class DeepLoG(keras.layers.Layer):
    """Multi-scale Laplacian of Gaussian with a learnable 1x1 projection (Masi et al., Eq. 1).

    Args:
        filters: int or None. Output planes K' of ``w1x1``; None keeps the input depth K.
        scales: sequence of int. Down-sampling factors, one per scale (S = len(scales)).
            Defaults to ``(2, 4, 8)``.
        kernel_size: int. Side of the fixed Gaussian kernel. Defaults to 3.
        sigmas: sequence of float or None. Gaussian sigma per scale; None uses ``sigma = scale``.
        use_bias: bool. Bias in ``w1x1``. Defaults to False.
        kernel_initializer: initializer of ``w1x1``. Defaults to ``"he_normal"``.

    Input: (B, H, W, K) float maps with static H, W. Output: (B, H, W, K').

    References:
        Masi et al., "Two-branch Recurrent Network for Isolating Deepfakes in Videos", ECCV 2020,
        Sec. 3.2, Eq. (1).
    """

    def __init__(
        self,
        filters: int | None = None,
        scales: Sequence[int] = (2, 4, 8),
        kernel_size: int = 3,
        sigmas: Sequence[float] | None = None,
        use_bias: bool = False,
        kernel_initializer: str | dict = "he_normal",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        # === Config ===
        self.filters = None if filters is None else int(filters)
        self.scales = [int(s) for s in scales]
        self.kernel_size = int(kernel_size)
        self.sigmas = None if sigmas is None else [float(s) for s in sigmas]
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        if not self.scales or min(self.scales) < 1:
            raise ValueError(f"scales must be positive integers, got {scales}")
        if self.sigmas is not None and len(self.sigmas) != len(self.scales):
            raise ValueError(f"{len(self.sigmas)} sigmas for {len(self.scales)} scales")
        for sigma in self._sigma_list():
            gaussian_kernel(self.kernel_size, sigma)  # validates arguments early

    def _sigma_list(self) -> list[float]:
        return self.sigmas if self.sigmas is not None else [float(s) for s in self.scales]

    def build(self, input_shape: tuple) -> None:
        h, w, k = input_shape[-3], input_shape[-2], input_shape[-1]
        if h is None or w is None or k is None:
            raise ValueError(f"DeepLoG needs static height, width and channels, got {input_shape}")
        self._hw = (int(h), int(w))
        # Fixed Gaussians: numpy constants, never variables, so no optimizer can touch them.
        self._kernels = [
            np.repeat(gaussian_kernel(self.kernel_size, s)[:, :, None, None], int(k), axis=2)
            for s in self._sigma_list()
        ]
        out = self.filters or int(k)
        self.w1x1 = keras.layers.Conv2D(
            out, 1, use_bias=self.use_bias, kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy, name="w1x1",
        )
        self.w1x1.build((*input_shape[:-1], int(k) * len(self.scales)))
        self.built = True

    def laplacian(self, x):
        """The fixed part of Eq. (1): the S band-pass differences, concatenated (K -> S*K)."""
        h, w = self._hw
        pad = self.kernel_size // 2
        xp = ops.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="reflect") if pad else x
        diffs = []
        for s, kernel in zip(self.scales, self._kernels, strict=True):
            blurred = ops.depthwise_conv(xp, ops.cast(kernel, x.dtype), strides=1, padding="valid")
            small = (max(1, math.ceil(h / s)), max(1, math.ceil(w / s)))
            down = ops.image.resize(blurred, small, interpolation="bilinear", antialias=False)
            up = ops.image.resize(down, (h, w), interpolation="bilinear", antialias=False)
            diffs.append(x - up)
        return ops.concatenate(diffs, axis=-1)

    def call(self, inputs):
        return self.w1x1(self.laplacian(inputs))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.filters or input_shape[-1])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "scales": list(self.scales),
                "kernel_size": self.kernel_size,
                "sigmas": None if self.sigmas is None else list(self.sigmas),
                "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
            }
        )
        return config


LOGIT_SPAN = 2.0 * math.log(99.0)


def center_distance(embeddings, center):
    """Euclidean distance of each embedding (B, D) to ``center`` (D,), float32, shape (B,).

    The one distance-to-c of the package (loss, metric, scorer layer and statistics use it). A
    1e-12 floor inside the square root keeps its gradient finite at ``c``.
    """
    emb = ops.cast(embeddings, "float32")
    c = ops.cast(ops.convert_to_tensor(np.asarray(center, dtype="float32")), "float32")
    return ops.sqrt(ops.sum(ops.square(emb - c), axis=-1) + 1e-12)


@keras.saving.register_keras_serializable(package=PACKAGE)
class DistanceToCenter(keras.layers.Layer):
    """Distance of an embedding to the fixed centre c, optionally as a calibrated P(fake).

    Args:
        center: sequence of float (length D). The fixed centre c.
        r_minus: float. Inner radius r-.
        r_plus: float. Outer radius r+ (> r_minus).
        mode: ``"probability"`` (B, 1) logistic of the distance (see module docstring) or
            ``"distance"`` (B, 1) Euclidean distance. Defaults to ``"probability"``.

    References:
        Masi et al., ECCV 2020, Sec. 3 ("the larger the distance the higher the likelihood of the
        sample being manipulated").
    """

    def __init__(
        self,
        center: Sequence[float],
        r_minus: float,
        r_plus: float,
        mode: str = "probability",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.center = [float(v) for v in np.asarray(center, dtype="float64").ravel()]
        self.r_minus = float(r_minus)
        self.r_plus = float(r_plus)
        self.mode = mode
        if not 0.0 <= self.r_minus < self.r_plus:
            raise ValueError(f"need 0 <= r_minus < r_plus, got {r_minus}, {r_plus}")
        if mode not in ("probability", "distance"):
            raise ValueError(f"mode must be 'probability' or 'distance', got {mode!r}")
        self.built = True

    def call(self, embeddings):
        d = ops.expand_dims(center_distance(embeddings, self.center), -1)
        if self.mode == "distance":
            return d
        t = 0.5 * (self.r_minus + self.r_plus)
        return ops.sigmoid(LOGIT_SPAN * (d - t) / (self.r_plus - self.r_minus))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], 1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "center": list(self.center),
                "r_minus": self.r_minus,
                "r_plus": self.r_plus,
                "mode": self.mode,
            }
        )
        return config
