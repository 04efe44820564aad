"""Real clips for the mini benchmark: pseudo-identities and camera-like animation of real faces.

Only two real people ship with the package, so the generator makes *pseudo-identities*: a real
face source plus a fixed per-identity transform (mirroring, face-shape stretch, recolouring,
gamma, and for a video source its own stretch of the video and playback rate). They are different
renderings of the same few real people, not different people; the output README says so.

A real clip = the source frames aligned to a face template by a 5-point similarity transform
(Umeyama), then a smooth random camera motion (shake, zoom, small rotation), the identity's
colour transform, lighting drift (global gain and a moving horizontal light gradient) and sensor
noise. Video codec compression happens when the clip is written (:mod:`data_prep.synth.layout`).
No paper is followed; the camera model is ad hoc and documented here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from data_prep.faces import similarity_transform
from data_prep.synth.faces_source import FaceSource

#: ArcFace 112x112 5-point template (public face-alignment convention), used only for its shape.
_ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                         [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)
#: Face scale in the output frame: eye-to-mouth distance is about 0.19 x frame height.
TEMPLATE_SCALE = 1.2


def template(size: tuple[int, int]) -> np.ndarray:
    """5-point face template for an output frame of ``size = (width, height)``.

    Args:
        size: output (width, height).

    Returns:
        (5, 2) float32 landmark positions, face centred, scaled with the frame height.
    """
    w, h = size
    s = TEMPLATE_SCALE * h / 256.0
    pts = (_ARCFACE_112 - np.array([56.0, 72.0], dtype=np.float32)) * s
    return pts + np.array([w / 2.0, h / 2.0], dtype=np.float32)


def to3(m: np.ndarray) -> np.ndarray:
    """(2, 3) affine to (3, 3) homogeneous matrix."""
    return np.vstack([m, [0.0, 0.0, 1.0]])


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to (..., 2) points."""
    return (pts @ m[:, :2].T + m[:, 2]).astype(np.float32)


def smooth_signal(rng: np.random.Generator, n: int, fps: float = 25.0,
                  max_hz: float = 0.6, parts: int = 3) -> np.ndarray:
    """A smooth random signal in about [-1, 1]: a sum of a few random low-frequency sinusoids."""
    t = np.arange(n) / fps
    out = np.zeros(n)
    for _ in range(parts):
        f = rng.uniform(0.05, max_hz)
        out += np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) * rng.uniform(0.3, 1.0)
    return out / parts * 1.6


@dataclass(frozen=True)
class Identity:
    """A pseudo-identity: one real face source plus fixed appearance transforms.

    Args:
        index: identity number (also seeds its transforms).
        source: index into the list of face sources.
        mirror: flip the face horizontally.
        stretch: (sx, sy) face-shape stretch about the face centre.
        gains: per-channel RGB gains.
        hue: hue shift in OpenCV hue units (180 = full turn).
        saturation: saturation factor.
        gamma: gamma applied after the gains.
        start: first source frame (video sources).
        step: source frames advanced per output frame (video sources).
    """

    index: int
    source: int
    mirror: bool
    stretch: tuple[float, float]
    gains: tuple[float, float, float]
    hue: float
    saturation: float
    gamma: float
    start: float
    step: float


def make_identity(index: int, sources: list[FaceSource], seed: int) -> Identity:
    """Deterministically draw pseudo-identity ``index`` (sources are used round-robin).

    Args:
        index: identity number.
        sources: the real face sources.
        seed: generator seed.

    Returns:
        The :class:`Identity`.
    """
    rng = np.random.default_rng([seed, 7919, index])
    src = index % len(sources)
    n = len(sources[src].frames)
    return Identity(
        index=index, source=src, mirror=bool((index // len(sources)) % 2),
        stretch=(float(rng.uniform(0.88, 1.12)), float(rng.uniform(0.9, 1.1))),
        gains=tuple(float(g) for g in rng.uniform(0.85, 1.15, 3)),
        hue=float(rng.uniform(-7, 7)), saturation=float(rng.uniform(0.75, 1.25)),
        gamma=float(rng.uniform(0.85, 1.15)),
        start=float(rng.uniform(0, max(n - 1, 0))), step=float(rng.choice([0.5, 1.0, 1.0, 1.5])),
    )


def recolour(rgb: np.ndarray, ident: Identity) -> np.ndarray:
    """Apply the identity's fixed colour transform to a uint8 RGB image."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + ident.hue) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * ident.saturation, 0, 255)
    out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32) / 255.0
    out = np.clip(out * np.asarray(ident.gains, np.float32), 0, 1) ** ident.gamma
    return (out * 255.0 + 0.5).astype(np.uint8)


def _source_indices(ident: Identity, n_src: int, frames: int) -> np.ndarray:
    """Source frame per output frame: play forward, bounce at the ends (ping-pong)."""
    if n_src == 1:
        return np.zeros(frames, dtype=int)
    pos = ident.start + ident.step * np.arange(frames)
    period = 2 * (n_src - 1)
    pos = np.mod(pos, period)
    pos = np.where(pos > n_src - 1, period - pos, pos)
    return np.clip(pos.round().astype(int), 0, n_src - 1)


@dataclass
class Clip:
    """Rendered frames with their landmarks.

    Args:
        frames: uint8 RGB (T, H, W, 3).
        landmarks: float32 (T, 5, 2) in frame coordinates, image-left/right order.
    """

    frames: np.ndarray
    landmarks: np.ndarray


def render_clip(ident: Identity, sources: list[FaceSource], frames: int, size: tuple[int, int],
                seed: int, shake: float = 1.0, noise: float = 2.0) -> Clip:
    """Render one real clip of a pseudo-identity.

    Args:
        ident: the pseudo-identity.
        sources: face sources (``ident.source`` indexes it).
        frames: number of frames.
        size: output (width, height).
        seed: seed of this clip's camera, lighting and noise (a scene).
        shake: camera motion strength (1 = default).
        noise: sensor noise standard deviation in 8-bit levels.

    Returns:
        The :class:`Clip` (sensor noise included, not yet compressed).
    """
    src = sources[ident.source]
    rng = np.random.default_rng([seed, 104729])
    w, h = size
    idx = _source_indices(ident, len(src.frames), frames)
    tmpl = template(size)
    # One alignment for the whole clip (from the mean landmarks) keeps the real head motion.
    align = to3(similarity_transform(src.landmarks[idx].mean(0), tmpl))
    cx, cy = tmpl.mean(0)
    sx, sy = ident.stretch
    geo = np.array([[sx, 0, cx * (1 - sx)], [0, sy, cy * (1 - sy)], [0, 0, 1]])
    if ident.mirror:
        geo = np.array([[-1, 0, w - 1], [0, 1, 0], [0, 0, 1]]) @ geo
    rot = smooth_signal(rng, frames) * 3.0 * shake
    zoom = 1.0 + smooth_signal(rng, frames, max_hz=0.3) * 0.05 * shake
    tx = smooth_signal(rng, frames) * 3.0 * shake + rng.normal(0, 0.6 * shake, frames)
    ty = smooth_signal(rng, frames) * 3.0 * shake + rng.normal(0, 0.6 * shake, frames)
    light = 1.0 + smooth_signal(rng, frames, max_hz=0.3) * 0.07
    grad = smooth_signal(rng, frames, max_hz=0.2) * 0.08
    ramp = (np.arange(w, dtype=np.float32) - w / 2) / w
    out = np.empty((frames, h, w, 3), np.uint8)
    lms = np.empty((frames, 5, 2), np.float32)
    for t in range(frames):
        cam = to3(cv2.getRotationMatrix2D((w / 2, h / 2), float(rot[t]), float(zoom[t])))
        cam[0, 2] += tx[t]
        cam[1, 2] += ty[t]
        m = (cam @ geo @ align)[:2]
        img = cv2.warpAffine(src.frames[idx[t]], m, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT101)
        img = recolour(img, ident).astype(np.float32)
        img *= (light[t] * (1.0 + grad[t] * ramp))[None, :, None]
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(noise)
        out[t] = np.clip(img, 0, 255).astype(np.uint8)
        pts = apply_affine(m, src.landmarks[idx[t]])
        if ident.mirror:
            pts = pts[[1, 0, 2, 4, 3]]
        lms[t] = pts
    return Clip(out, lms)
