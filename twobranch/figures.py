"""Figures of Masi et al. (ECCV 2020): Fig. 3 feature maps, Fig. 4c/d histograms, Fig. 4b t-SNE.

* :func:`feature_maps_figure` (Fig. 3): the input face, three first-layer feature maps of the RGB
  branch, and the same three maps after the Deep LoG's fixed band-pass (``x - up(down(G * x))``,
  per scale). The paper says its maps "are taken from the same filters, so they are aligned across
  branches"; we therefore apply the model's own ``DeepLoG`` fixed part to the RGB branch's first-layer
  maps, which gives exactly that alignment even when the two stems hold different weights (they only
  coincide at initialisation from the same ImageNet file). Each map is min-max normalised to [0, 1]
  as in the paper. Channels default to the three with the largest RGB response spread.
* :func:`distance_histograms` (Fig. 4d; Fig. 4c with ``lines=None`` for BCE logits): real and fake
  histograms of the distance to c with the radii r- and r+ marked.
* :func:`tsne_figure` (Fig. 4b): 2-D t-SNE (scikit-learn) of embeddings, natural faces yellow,
  manipulated violet, the centre c an orange cross (the paper's colours).

Every function takes arrays (or a model and an image) and an output path, writes a PNG atomically
(:func:`clrnet.plotting.save_figure`) and returns the path. ``python -m twobranch.figures`` draws all
three from a run folder of ``python -m twobranch.train`` and TFRecords.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clrnet.plotting import pyplot, save_figure


def _unit(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, "float64")
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def branch_feature_maps(model, image: np.ndarray, channels: Sequence[int] | None = None,
                        n: int = 3) -> dict[str, np.ndarray]:
    """First-layer maps of the RGB branch and their Deep LoG band-pass versions.

    Args:
        model: a model from ``twobranch.models.build_model`` (two-branch, either variant).
        image: (H, W, 3) float RGB in [0, 1] (resized to the model's input size).
        channels: which first-layer channels to show (None: the ``n`` with the largest spread).
        n: number of channels when ``channels`` is None.

    Returns:
        ``{"image": (S, S, 3), "rgb": (n, h, w), "log": (n, scales, h, w), "channels": (n,)}``.
    """
    import keras
    import tensorflow as tf

    from twobranch.models import frame_encoder_of

    enc = frame_encoder_of(model)
    size = int(enc.input.shape[1])
    img = tf.image.resize(np.asarray(image, "float32")[None], (size, size)).numpy()
    img = np.clip(img, 0.0, 1.0)
    probe = keras.Model(enc.input, enc.get_layer("conv1_relu").output)
    maps = np.asarray(probe(img, training=False))  # (1, h, w, C)
    log_layer = enc.get_layer("deep_log")
    if int(log_layer.input.shape[-1]) != maps.shape[-1]:
        raise ValueError("DeepLoG does not sit on the first-layer maps (log_position='input')")
    lap = np.asarray(log_layer.laplacian(tf.constant(maps)))  # (1, h, w, S*C)
    c = maps.shape[-1]
    if channels is None:
        channels = np.argsort(-maps[0].reshape(-1, c).std(axis=0))[:n]
    channels = [int(k) for k in channels]
    s = len(log_layer.scales)
    log = np.stack([np.stack([lap[0, :, :, j * c + k] for j in range(s)]) for k in channels])
    return {"image": img[0], "rgb": np.stack([maps[0, :, :, k] for k in channels]), "log": log,
            "channels": np.asarray(channels)}


def feature_maps_figure(model, image: np.ndarray, path: str | os.PathLike,
                        channels: Sequence[int] | None = None, title: str | None = None) -> Path:
    """Fig. 3: input, LoG-branch maps (left) and RGB-branch maps (right) of the same filters.

    Args:
        model: a two-branch model.
        image: (H, W, 3) float RGB in [0, 1].
        path: PNG destination.
        channels: first-layer channels to show (None: three most varied).
        title: optional figure title.

    Returns:
        The PNG path.

    References:
        Masi et al., ECCV 2020, Fig. 3.
    """
    plt = pyplot()
    fm = branch_feature_maps(model, image, channels)
    k = len(fm["channels"])
    fig, axes = plt.subplots(2, k + 1, figsize=(2.4 * (k + 1), 5.0))
    axes[0, 0].imshow(fm["image"])
    axes[0, 0].set_title("input")
    axes[1, 0].imshow(fm["image"])
    axes[1, 0].set_title("input")
    for i in range(k):
        log_map = np.abs(fm["log"][i]).mean(axis=0)  # energy over the S scales
        axes[0, i + 1].imshow(_unit(log_map), cmap="gray")
        axes[0, i + 1].set_title(f"Deep LoG, ch {fm['channels'][i]}")
        axes[1, i + 1].imshow(_unit(fm["rgb"][i]), cmap="gray")
        axes[1, i + 1].set_title(f"RGB, ch {fm['channels'][i]}")
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(title or "Phi_LoG (top) vs Phi_RGB (bottom): first-layer maps, same filters")
    return save_figure(fig, path)


def distance_histograms(scores: np.ndarray, labels: np.ndarray, path: str | os.PathLike,
                        r_minus: float | None = None, r_plus: float | None = None,
                        xlabel: str = "||Phi(I) - c||_2", title: str | None = None,
                        bins: int = 50, log_x: bool = False) -> Path:
    """Fig. 4c/d: histograms of real and fake scores, with the radii marked.

    Args:
        scores: (N,) distances to c (or BCE logits for Fig. 4c).
        labels: (N,) fake = 1, real = 0.
        path: PNG destination.
        r_minus: inner radius (dashed green line) or None.
        r_plus: outer radius (dashed red line) or None.
        xlabel: x-axis label.
        title: optional title.
        bins: histogram bins (shared by both classes).
        log_x: logarithmic x axis (distances spanning r- = 0.042 to r+ = 1.638).

    Returns:
        The PNG path.

    References:
        Masi et al., ECCV 2020, Fig. 4c/d.
    """
    plt = pyplot()
    scores, labels = np.asarray(scores, "float64").ravel(), np.asarray(labels).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f"{scores.size} scores for {labels.size} labels")
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    lo, hi = float(scores.min()), float(scores.max())
    if log_x:
        lo = max(lo, 1e-6)
        edges = np.geomspace(lo, max(hi, lo * 1.01), bins + 1)
        ax.set_xscale("log")
    else:
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    for lab, name, color in ((0, "real", "tab:green"), (1, "fake", "tab:red")):
        sel = scores[labels == lab]
        if sel.size:
            ax.hist(sel, bins=edges, alpha=0.55, color=color, label=f"{name} (n={sel.size})")
    for r, name, color in ((r_minus, "r-", "darkgreen"), (r_plus, "r+", "darkred")):
        if r is not None:
            ax.axvline(r, color=color, linestyle="--", label=f"{name} = {r:g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("sequences")
    ax.legend()
    ax.set_title(title or "Distance to the centre c: real vs fake")
    return save_figure(fig, path)


def tsne_figure(embeddings: np.ndarray, labels: np.ndarray, path: str | os.PathLike,
                center: np.ndarray | None = None, perplexity: float = 30.0, seed: int = 0,
                title: str | None = None) -> Path:
    """Fig. 4b: t-SNE of embeddings, natural yellow, manipulated violet, c an orange cross.

    Args:
        embeddings: (N, D).
        labels: (N,) fake = 1.
        path: PNG destination.
        center: optional (D,) centre, embedded together with the samples.
        perplexity: t-SNE perplexity (clipped below N).
        seed: t-SNE random state.
        title: optional title.

    Returns:
        The PNG path.

    References:
        Masi et al., ECCV 2020, Fig. 4b; van der Maaten & Hinton, t-SNE (JMLR 2008).
    """
    from sklearn.manifold import TSNE

    plt = pyplot()
    emb, labels = np.asarray(embeddings, "float64"), np.asarray(labels).ravel()
    if emb.ndim != 2 or emb.shape[0] != labels.size:
        raise ValueError(f"embeddings {emb.shape} do not match {labels.size} labels")
    pts = emb if center is None else np.vstack([emb, np.asarray(center, "float64")[None]])
    perp = float(min(perplexity, max(2.0, (pts.shape[0] - 1) / 3.0)))
    xy = TSNE(n_components=2, perplexity=perp, random_state=seed, init="pca").fit_transform(pts)
    fig, ax = plt.subplots(figsize=(5.6, 5.2))
    for lab, name, color in ((0, "natural", "gold"), (1, "manipulated", "darkviolet")):
        sel = xy[: labels.size][labels == lab]
        ax.scatter(sel[:, 0], sel[:, 1], s=10, c=color, label=name, alpha=0.8)
    if center is not None:
        ax.scatter(xy[-1, 0], xy[-1, 1], marker="x", s=140, c="darkorange", linewidths=3, label="c")
    ax.legend()
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "t-SNE of the embeddings")
    return save_figure(fig, path)


#: Face box (y0, y1, x0, x1) of the bundled ``data_prep/media/astronaut.png`` (512 x 512).
ASTRONAUT_FACE_BOX = (10, 230, 130, 350)


def load_face(path: str | os.PathLike, size: int | None = None,
              box: Sequence[int] | None = None) -> np.ndarray:
    """Read an RGB image as float32 in [0, 1].

    Args:
        path: image file.
        size: resize to ``size x size`` (None keeps the size).
        box: optional crop ``(y0, y1, x0, x1)`` applied first; then a centre square crop.

    Returns:
        float32 (H, W, 3).
    """
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"{path}: cannot read image")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if box is not None:
        y0, y1, x0, x1 = (int(v) for v in box)
        rgb = rgb[y0:y1, x0:x1]
    h, w = rgb.shape[:2]
    s = min(h, w)
    rgb = rgb[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    if size:
        rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
    return rgb.astype("float32") / 255.0


def main(argv: list[str] | None = None) -> int:
    """``python -m twobranch.figures --run RUN_DIR --data TFRECORDS --out DIR [--image FACE]``."""
    p = argparse.ArgumentParser(prog="python -m twobranch.figures", description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True, help="run folder of python -m twobranch.train")
    p.add_argument("--data", required=True, help="TFRecords to embed (e.g. the validation set)")
    p.add_argument("--out", required=True, help="output folder for the PNGs")
    p.add_argument("--image", default="data_prep/media/astronaut.png", help="face for Fig. 3")
    p.add_argument("--box", type=int, nargs=4, default=list(ASTRONAUT_FACE_BOX),
                   metavar=("Y0", "Y1", "X0", "X1"), help="face crop of --image")
    p.add_argument("--splits", nargs="*", default=None)
    p.add_argument("--max-batches", type=int, default=50)
    args = p.parse_args(argv)
    import keras

    import twobranch  # noqa: F401
    from data_prep.errors import DataPrepError
    from data_prep.pipeline import get_dataset

    try:
        run = Path(args.run)
        model_path = run / "best.keras" if (run / "best.keras").exists() else run / "final.keras"
        if not model_path.exists() or not (run / "center.json").exists():
            print(f"error: {run}: no best.keras/final.keras with center.json (isolation run?)",
                  file=sys.stderr)
            return 2
        model = keras.models.load_model(model_path)
        saved = json.loads((run / "center.json").read_text())
        center = np.asarray(saved["center"], "float32")
        shape = model.inputs[0].shape
        frames = int(shape[1]) if len(shape) == 5 else 1
        ds = get_dataset(args.data, 8, False, frames=frames, image_size=int(shape[-2]),
                         splits=args.splits)
        embs, ys = [], []
        for i, (x, y) in enumerate(ds):
            if i >= args.max_batches:
                break
            embs.append(np.asarray(model(x, training=False)))
            ys.append(np.asarray(y).reshape(-1))
        emb, y = np.concatenate(embs), np.concatenate(ys)
        d = np.linalg.norm(emb - center, axis=1)
        out = Path(args.out)
        made = [
            feature_maps_figure(model, load_face(args.image, box=args.box),
                                out / "fig3_feature_maps.png"),
            distance_histograms(d, y, out / "fig4d_distances.png", saved["r_minus"], saved["r_plus"]),
            tsne_figure(emb, y, out / "fig4b_tsne.png", center=center),
        ]
    except (DataPrepError, FileNotFoundError, ValueError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    print("\n".join(str(m) for m in made))
    return 0


if __name__ == "__main__":
    sys.exit(main())
