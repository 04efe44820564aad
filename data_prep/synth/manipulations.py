"""Stand-in manipulations, one per deepfake family, applied to rendered real clips.

Each function takes the clean real clip of a *target* (and, for swaps, a clip of a *source*) and
returns the manipulated frames. They mirror the visible artefacts of each family; none of them is
the real method (no autoencoder, no 3D model, no neural renderer is trained here).

* :func:`identity_swap` ``mode="bottleneck"`` (Deepfakes stand-in): the source face aligned to the
  target's 5 landmarks (similarity transform), pushed through a low-resolution bottleneck
  (down-sample, up-sample: the blur/resampling artefacts of face-warping-artefact work, Li & Lyu,
  "Exposing DeepFake Videos By Detecting Face Warping Artifacts", CVPRW 2019), colour-transferred
  (Reinhard et al., "Color Transfer between Images", 2001, in Lab) and alpha-blended with a
  feathered face mask.
* :func:`identity_swap` ``mode="poisson"`` (FaceSwap stand-in): full-resolution aligned source
  face, colour transfer, Poisson blending (Perez et al., "Poisson Image Editing", 2003; own
  sparse solver, see :func:`poisson_blend`).
* :func:`identity_swap` ``mode="flicker"`` (DeepFakeDetection stand-in): a swap whose blend mask
  (position, size) and colour correction are jittered independently per frame: the temporal
  inconsistency (flicker) that CLRNet's convolutional LSTM is meant to catch.
* :func:`reenact` (Face2Face / NeuralTextures stand-ins): the target keeps its identity; mouth
  (and for Face2Face the eyes) are moved by piecewise-affine warps of control points around the
  inner landmarks, driven by an expression signal of the source, with a synthesised mouth interior
  when the mouth opens. The NeuralTextures stand-in touches only the mouth and re-renders its
  texture (edge-preserving smoothing), like a neural texture rendering of the mouth region.
* :func:`self_blend` (in-the-wild stand-in): Self-Blended Images (Shiohara & Yamasaki, CVPR 2022):
  a frame blended with a colour- and frequency-altered, slightly shifted copy of itself inside a
  feathered face mask; optional per-frame flicker.

The mask is an ellipse derived from the 5 landmarks (eyes, nose, mouth corners), not a landmark
hull: MTCNN gives no contour points.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.sparse import csc_matrix
from scipy.sparse.linalg import splu
from scipy.spatial import Delaunay

from data_prep.faces import similarity_transform
from data_prep.synth.animate import Clip, apply_affine, smooth_signal


def _axes(lms: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Face frame from 5 landmarks: (ux right, uy down, eye distance, eye-to-mouth distance)."""
    eye_l, eye_r = lms[0], lms[1]
    eyes = (eye_l + eye_r) / 2
    mouth = (lms[3] + lms[4]) / 2
    d_e = float(np.linalg.norm(eye_r - eye_l)) + 1e-6
    ux = (eye_r - eye_l) / d_e
    uy = np.array([-ux[1], ux[0]], np.float32)
    if np.dot(uy, mouth - eyes) < 0:
        uy = -uy
    return ux, uy, d_e, float(np.linalg.norm(mouth - eyes)) + 1e-6


def face_mask(shape: tuple[int, int], lms: np.ndarray, grow: float = 1.0,
              shift: tuple[float, float] = (0.0, 0.0), feather: float = 0.12) -> np.ndarray:
    """Feathered elliptical inner-face mask (brows to chin) from 5 landmarks.

    Args:
        shape: (height, width) of the frame.
        lms: (5, 2) landmarks.
        grow: scale of the ellipse axes.
        shift: (dx, dy) offset of the ellipse centre in pixels.
        feather: Gaussian feather sigma as a fraction of the ellipse half-width.

    Returns:
        float32 mask in [0, 1], shape ``shape``.
    """
    ux, _, d_e, d_m = _axes(lms)
    centre = (lms[0] + lms[1] + lms[3] + lms[4]) / 4 + np.asarray(shift, np.float32)
    a, b = 0.9 * d_e * grow, 1.35 * d_m * grow
    angle = float(np.degrees(np.arctan2(ux[1], ux[0])))
    mask = np.zeros(shape, np.float32)
    cv2.ellipse(mask, (int(round(centre[0])), int(round(centre[1]))),
                (max(1, int(a * 0.9)), max(1, int(b * 0.9))), angle, 0, 360, 1.0, -1)
    sigma = max(1.0, feather * a)
    return cv2.GaussianBlur(mask, (0, 0), sigma)


def colour_transfer(src: np.ndarray, tgt: np.ndarray, mask: np.ndarray,
                    offset: np.ndarray | None = None, strength: float = 1.0) -> np.ndarray:
    """Match the Lab mean/std of ``src`` to ``tgt`` inside ``mask`` (Reinhard colour transfer).

    Args:
        src: uint8 RGB image whose colours are changed.
        tgt: uint8 RGB image giving the target statistics.
        mask: float mask; pixels with mask > 0.5 give the statistics.
        offset: optional (3,) Lab offset added afterwards (per-frame colour jitter).
        strength: 1 = full transfer; below 1 leaves part of the colour mismatch (as imperfect
            colour correction in real swaps does).

    Returns:
        uint8 RGB image.
    """
    box = _mask_box(mask, 0.02)
    if box is None or (mask > 0.5).sum() < 16:
        return src
    x0, y0, x1, y1 = box
    sel = mask[y0:y1, x0:x1] > 0.5
    s = cv2.cvtColor(src[y0:y1, x0:x1], cv2.COLOR_RGB2LAB).astype(np.float32)
    t = cv2.cvtColor(tgt[y0:y1, x0:x1], cv2.COLOR_RGB2LAB).astype(np.float32)
    sm, ss = s[sel].mean(0), s[sel].std(0) + 1e-3
    tm, ts = t[sel].mean(0), t[sel].std(0) + 1e-3
    res = (s - sm) * (ts / ss) + tm
    res = strength * res + (1.0 - strength) * s
    if offset is not None:
        res += offset
    out = src.copy()
    out[y0:y1, x0:x1] = cv2.cvtColor(np.clip(res, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    return out


def _mask_box(mask: np.ndarray, thresh: float,
              margin: int = 0) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) of ``mask > thresh`` grown by ``margin``, or ``None``."""
    rows = np.flatnonzero((mask > thresh).any(1))
    cols = np.flatnonzero((mask > thresh).any(0))
    if len(rows) == 0:
        return None
    h, w = mask.shape[:2]
    return (max(0, cols[0] - margin), max(0, rows[0] - margin),
            min(w, cols[-1] + 1 + margin), min(h, rows[-1] + 1 + margin))


def _bottleneck(img: np.ndarray, mask: np.ndarray, res: int) -> np.ndarray:
    """Down-sample the masked face box to ``res`` px wide and up-sample it back (bilinear)."""
    box = _mask_box(mask, 0.02)
    if box is None:
        return img
    x0, y0, x1, y1 = box
    box = img[y0:y1, x0:x1]
    bw, bh = x1 - x0, y1 - y0
    small = cv2.resize(box, (res, max(1, round(res * bh / bw))), interpolation=cv2.INTER_AREA)
    out = img.copy()
    out[y0:y1, x0:x1] = cv2.resize(small, (bw, bh), interpolation=cv2.INTER_LINEAR)
    return out


def identity_swap(target: Clip, source: Clip, mode: str, seed: int,
                  bottleneck_res: int = 40) -> np.ndarray:
    """Put the source identity's face onto the target clip.

    Args:
        target: the real clip that is manipulated.
        source: the clip giving the new face (its frame ``t`` is used for target frame ``t``).
        mode: ``"bottleneck"`` (Deepfakes), ``"poisson"`` (FaceSwap) or ``"flicker"``
            (DeepFakeDetection, per-frame jittered mask and colour).
        seed: seed of the per-frame jitter.
        bottleneck_res: width in pixels of the low-resolution face in ``"bottleneck"`` mode.

    Returns:
        uint8 RGB frames (T, H, W, 3).

    References:
        Li & Lyu, CVPRW 2019 (resolution bottleneck); Reinhard et al. 2001 (colour transfer);
        Perez et al., SIGGRAPH 2003 (Poisson blending).
    """
    if mode not in ("bottleneck", "poisson", "flicker"):
        raise ValueError(f"unknown swap mode {mode!r}")
    rng = np.random.default_rng([seed, 31337])
    frames = target.frames.copy()
    h, w = frames.shape[1:3]
    for t in range(len(frames)):
        tgt, lms = target.frames[t], target.landmarks[t]
        s = source.frames[t % len(source.frames)]
        m = similarity_transform(source.landmarks[t % len(source.frames)], lms)
        warped = cv2.warpAffine(s, m, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT101)
        if mode == "flicker":
            _, _, d_e, _ = _axes(lms)
            mask = face_mask((h, w), lms, grow=float(1.0 + rng.normal(0, 0.07)),
                             shift=tuple(rng.normal(0, 0.04 * d_e, 2)))
            offset = np.array([rng.normal(0, 6), rng.normal(0, 3), rng.normal(0, 3)], np.float32)
            warped = _bottleneck(warped, mask, 80)
            warped = colour_transfer(warped, tgt, mask, offset)
        else:
            mask = face_mask((h, w), lms)
            if mode == "bottleneck":
                warped = _bottleneck(warped, mask, bottleneck_res)
                warped = colour_transfer(warped, tgt, mask, strength=0.75)
            else:
                warped = colour_transfer(warped, tgt, mask)
        if mode == "poisson":
            blended = poisson_blend(warped, tgt, mask)
            if blended is not None:
                frames[t] = blended
                continue
        a = mask[..., None]
        frames[t] = np.clip(warped * a + tgt * (1 - a) + 0.5, 0, 255).astype(np.uint8)
    return frames


def _harmonic_fill(inside: np.ndarray, boundary: np.ndarray) -> np.ndarray:
    """Solve Laplace's equation inside ``inside`` with Dirichlet values ``boundary`` around it.

    Args:
        inside: bool (H, W) region (must not touch the image border).
        boundary: float (H, W, C) values read at the neighbours outside the region.

    Returns:
        float32 (H, W, C): the harmonic membrane inside, ``boundary`` outside.
    """
    ys, xs = np.nonzero(inside)
    n = len(ys)
    index = np.full(inside.shape, -1, np.int64)
    index[ys, xs] = np.arange(n)
    rows, cols = [np.arange(n)], [np.arange(n)]
    vals = [np.full(n, 4.0)]
    rhs = np.zeros((n, boundary.shape[2]), np.float64)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = ys + dy, xs + dx
        nb = index[ny, nx]
        ok = nb >= 0
        rows.append(np.flatnonzero(ok))
        cols.append(nb[ok])
        vals.append(np.full(int(ok.sum()), -1.0))
        rhs[~ok] += boundary[ny[~ok], nx[~ok]]
    a = csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                   shape=(n, n))
    out = boundary.astype(np.float32).copy()
    out[ys, xs] = splu(a).solve(rhs)
    return out


def poisson_blend(src: np.ndarray, dst: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """Poisson-blend ``src`` into ``dst`` inside ``mask > 0.5`` (guidance field = src gradients).

    The result is ``src + c`` where ``c`` is harmonic inside the mask and equals ``dst - src``
    on its boundary (the classic membrane form of seamless cloning). ``c`` is smooth, so it is
    solved at half resolution (sparse LU) and up-sampled. ``cv2.seamlessClone`` is not used: in
    opencv-python-headless 4.12 it returned different results on repeated identical calls.

    Args:
        src: uint8 RGB image giving the gradients (already aligned to ``dst``).
        dst: uint8 RGB image giving the boundary values.
        mask: float mask.

    Returns:
        The blended uint8 RGB image, or ``None`` if the mask is too small.

    References:
        Perez, Gangnet & Blake, "Poisson Image Editing", SIGGRAPH 2003.
    """
    h, w = dst.shape[:2]
    half = (w // 2, h // 2)
    inside = cv2.resize(mask, half) > 0.5
    inside[:2, :] = inside[-2:, :] = False
    inside[:, :2] = inside[:, -2:] = False
    if inside.sum() < 16:
        return None
    diff = cv2.resize(dst.astype(np.float32) - src.astype(np.float32), half,
                      interpolation=cv2.INTER_AREA)
    corr = cv2.resize(_harmonic_fill(inside, diff), (w, h), interpolation=cv2.INTER_LINEAR)
    alpha = cv2.resize(inside.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 1.0)[..., None]
    face = np.clip(src + corr, 0, 255)
    return np.clip(face * alpha + dst * (1 - alpha) + 0.5, 0, 255).astype(np.uint8)


def warp_triangles(img: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray) -> np.ndarray:
    """Piecewise-affine warp: move ``src_pts`` to ``dst_pts`` (Delaunay triangles of ``src_pts``).

    Pixels outside the triangulation's convex hull are unchanged, so the outermost points act as
    fixed anchors.

    Args:
        img: uint8 image (H, W, C).
        src_pts: (N, 2) control points in ``img``.
        dst_pts: (N, 2) where they go.

    Returns:
        The warped image (a copy).
    """
    h, w = img.shape[:2]
    out = img.copy()
    for tri in Delaunay(src_pts).simplices:
        s = src_pts[tri].astype(np.float32)
        d = dst_pts[tri].astype(np.float32)
        x0, y0 = np.floor(d.min(0)).astype(int)
        x1, y1 = np.ceil(d.max(0)).astype(int) + 1
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        m = cv2.getAffineTransform(s, d - np.array([x0, y0], np.float32))
        patch = cv2.warpAffine(img, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT101)
        tri_mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(tri_mask, np.round(d - [x0, y0]).astype(np.int32), 1)
        region = out[y0:y1, x0:x1]
        region[tri_mask > 0] = patch[tri_mask > 0]
    return out


def _ring(centre: np.ndarray, ux: np.ndarray, uy: np.ndarray, a: float, b: float,
          n: int = 12) -> np.ndarray:
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return (centre + np.outer(np.cos(ang) * a, ux) + np.outer(np.sin(ang) * b, uy)).astype(
        np.float32)


def _mouth_warp(img: np.ndarray, lms: np.ndarray, open_: float, smile: float) -> np.ndarray:
    """Open the mouth / pull the corners by a piecewise-affine warp, then paint the interior."""
    ux, uy, _, _ = _axes(lms)
    ml, mr = lms[3], lms[4]
    c = (ml + mr) / 2
    mw = float(np.linalg.norm(mr - ml)) + 1e-6
    ring = _ring(c, ux, uy, 1.1 * mw, 1.05 * mw)
    upper, lower, chin = c - 0.12 * mw * uy, c + 0.14 * mw * uy, c + 0.55 * mw * uy
    src = np.vstack([ring, ml, mr, upper, lower, chin]).astype(np.float32)
    dst = np.vstack([
        ring,
        ml - smile * 0.12 * mw * ux - smile * 0.06 * mw * uy,
        mr + smile * 0.12 * mw * ux - smile * 0.06 * mw * uy,
        upper - open_ * 0.06 * mw * uy,
        lower + open_ * 0.30 * mw * uy,
        chin + open_ * 0.22 * mw * uy,
    ]).astype(np.float32)
    out = warp_triangles(img, src, dst)
    gap = open_ * 0.36 * mw
    if gap > 1.0:
        up, lo = dst[-3], dst[-2]
        centre = (up + lo) / 2
        angle = float(np.degrees(np.arctan2(ux[1], ux[0])))
        alpha = np.zeros(img.shape[:2], np.float32)
        cv2.ellipse(alpha, (int(round(centre[0])), int(round(centre[1]))),
                    (max(1, int(0.34 * mw)), max(1, int(0.45 * gap))), angle, 0, 360, 1.0, -1)
        alpha = cv2.GaussianBlur(alpha, (0, 0), 1.2)[..., None]
        teeth = np.zeros(img.shape[:2], np.float32)
        tc = centre - 0.25 * gap * uy
        cv2.ellipse(teeth, (int(round(tc[0])), int(round(tc[1]))),
                    (max(1, int(0.24 * mw)), max(1, int(0.15 * gap))), angle, 0, 360, 1.0, -1)
        teeth = cv2.GaussianBlur(teeth, (0, 0), 1.0)[..., None]
        inner = np.array([70, 22, 28], np.float32) * (1 - teeth) + np.array(
            [215, 205, 195], np.float32) * teeth
        out = np.clip(out * (1 - alpha) + inner * alpha, 0, 255).astype(np.uint8)
    return out


def _eye_warp(img: np.ndarray, lms: np.ndarray, blink: float, brow: float) -> np.ndarray:
    """Close the eyelids (blink/squint) and lift the brows by piecewise-affine warps."""
    ux, uy, d_e, _ = _axes(lms)
    out = img
    for eye in (lms[0], lms[1]):
        ring = _ring(eye, ux, uy, 0.36 * d_e, 0.34 * d_e)
        lid_up, lid_lo = eye - 0.07 * d_e * uy, eye + 0.06 * d_e * uy
        brow_pt = eye - 0.2 * d_e * uy
        corners = [eye - 0.17 * d_e * ux, eye + 0.17 * d_e * ux]
        src = np.vstack([ring, *corners, lid_up, lid_lo, eye, brow_pt]).astype(np.float32)
        dst = np.vstack([
            ring, *corners,
            lid_up + blink * 0.11 * d_e * uy,
            lid_lo - blink * 0.03 * d_e * uy,
            eye + blink * 0.05 * d_e * uy,
            brow_pt - brow * 0.06 * d_e * uy,
        ]).astype(np.float32)
        out = warp_triangles(out, src, dst)
    return out


def expression_signals(seed: int, frames: int) -> dict[str, np.ndarray]:
    """Expression track of a (source) actor: mouth opening, smile, blinks, brow raise in [0, 1].

    Args:
        seed: the source's seed (the same source drives the same expressions).
        frames: number of frames.

    Returns:
        Dict of (T,) arrays ``open``, ``smile``, ``blink``, ``brow``.
    """
    rng = np.random.default_rng([seed, 4242])
    open_ = np.clip(0.45 + 0.55 * smooth_signal(rng, frames, max_hz=2.0), 0, 1)
    smile = np.clip(0.5 + 0.5 * smooth_signal(rng, frames, max_hz=0.4), 0, 1)
    blink = np.full(frames, 0.25)
    t = np.arange(frames)
    for c in rng.uniform(0, frames, max(1, frames // 30)):
        blink = np.maximum(blink, np.exp(-0.5 * ((t - c) / 2.0) ** 2))
    brow = np.clip(0.5 + 0.5 * smooth_signal(rng, frames, max_hz=0.5), 0, 1)
    return {"open": open_, "smile": smile, "blink": blink, "brow": brow}


def reenact(target: Clip, driver_seed: int, eyes: bool, retexture: bool) -> np.ndarray:
    """Expression reenactment of the target by piecewise-affine warps of the inner face.

    Args:
        target: the real clip (its identity is kept).
        driver_seed: seed of the source actor's expression track.
        eyes: also warp the eyes and brows (Face2Face stand-in); ``False`` = mouth only.
        retexture: re-render the mouth texture (edge-preserving smoothing, NeuralTextures).

    Returns:
        uint8 RGB frames (T, H, W, 3).

    References:
        Thies et al., "Face2Face", CVPR 2016 and "Deferred Neural Rendering", SIGGRAPH 2019 (the
        families mirrored; their methods are not implemented).
    """
    sig = expression_signals(driver_seed, len(target.frames))
    strength = 1.0 if eyes else 0.7
    out = np.empty_like(target.frames)
    for t, (img, lms) in enumerate(zip(target.frames, target.landmarks, strict=True)):
        frame = _mouth_warp(img, lms, strength * float(sig["open"][t]), float(sig["smile"][t]))
        if eyes:
            frame = _eye_warp(frame, lms, float(sig["blink"][t]), float(sig["brow"][t]))
        if retexture:
            ux, uy, d_e, d_m = _axes(lms)
            c = (lms[3] + lms[4]) / 2 + 0.1 * d_m * uy
            mask = np.zeros(img.shape[:2], np.float32)
            angle = float(np.degrees(np.arctan2(ux[1], ux[0])))
            cv2.ellipse(mask, (int(round(c[0])), int(round(c[1]))),
                        (max(1, int(0.75 * d_e)), max(1, int(0.6 * d_m))), angle, 0, 360, 1.0, -1)
            mask = cv2.GaussianBlur(mask, (0, 0), 0.1 * d_e)[..., None]
            smooth = cv2.bilateralFilter(frame, 7, 40, 5)
            frame = np.clip(smooth * mask + frame * (1 - mask) + 0.5, 0, 255).astype(np.uint8)
        out[t] = frame
    return out


def self_blend(target: Clip, seed: int, flicker: float = 0.0) -> np.ndarray:
    """Self-Blended Images: blend each frame with an altered copy of itself inside the face.

    Args:
        target: the real clip.
        seed: seed of the (per-video) alteration parameters.
        flicker: per-frame jitter of mask and blend ratio (0 = none, 1 = strong).

    Returns:
        uint8 RGB frames (T, H, W, 3).

    References:
        Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images", CVPR 2022.
    """
    rng = np.random.default_rng([seed, 2718])
    rgb_shift = rng.uniform(-20, 20, 3).astype(np.float32)
    hue, sat = rng.uniform(-5, 5), rng.uniform(0.8, 1.2)
    contrast, bright = rng.uniform(0.9, 1.1), rng.uniform(-12, 12)
    freq = rng.choice(["down2", "down4", "sharpen"])
    sharpen = rng.uniform(0.2, 0.5)
    tx, ty = rng.uniform(-0.03, 0.03), rng.uniform(-0.015, 0.015)
    scale = rng.uniform(0.95, 1 / 0.95)
    grow = rng.uniform(0.95, 1.15)
    ratio = float(rng.choice([0.6, 0.8, 1.0, 1.0]))
    out = np.empty_like(target.frames)
    h, w = target.frames.shape[1:3]
    for t, (img, lms) in enumerate(zip(target.frames, target.landmarks, strict=True)):
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + hue) % 180
        hsv[..., 1] = np.clip(hsv[..., 1] * sat, 0, 255)
        src = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
        src = np.clip((src + rgb_shift - 128) * contrast + 128 + bright, 0, 255).astype(np.uint8)
        if freq == "sharpen":
            blur = cv2.GaussianBlur(src, (0, 0), 1.5)
            src = cv2.addWeighted(src, 1 + sharpen, blur, -sharpen, 0)
        else:
            f = 2 if freq == "down2" else 4
            small = cv2.resize(src, (w // f, h // f), interpolation=cv2.INTER_NEAREST)
            src = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        c = lms.mean(0)
        m = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), 0.0, float(scale))
        m[:, 2] += (tx * w, ty * h)
        src = cv2.warpAffine(src, m, (w, h), borderMode=cv2.BORDER_REFLECT101)
        g, r = grow, ratio
        shift = (0.0, 0.0)
        if flicker > 0:
            g *= 1 + rng.normal(0, 0.06 * flicker)
            r = float(np.clip(r + rng.normal(0, 0.15 * flicker), 0.3, 1.0))
            shift = tuple(rng.normal(0, 2.0 * flicker, 2))
        mask = face_mask((h, w), apply_affine(np.eye(2, 3), lms), grow=g, shift=shift,
                         feather=0.18)[..., None] * r
        out[t] = np.clip(src * mask + img * (1 - mask) + 0.5, 0, 255).astype(np.uint8)
    return out
