"""Class activation maps for a clip (CLRNet paper Fig. 8), and Grad-CAM as an option.

Follows the official heat-map notebooks (``shahroztariq/CLRNet``, ``src/CLRNET_Heatmap_cam_*.ipynb``):
a second model exposes the last feature map before the global
average pooling (CLRNet: the last BatchNormalization, (T, h, w, 2048)) together with the
prediction, and the map of frame t is ``CAM_t = sum_k w_{k,c} A_{t,k}`` with ``w_{.,c}`` the
Dense column of class ``c``, upsampled to the input size and drawn with the JET colormap
(Zhou et al., CVPR'16, "Learning Deep Features for Discriminative Localization").

Differences from the notebooks, and why:

* class ``c`` is **fake** by default; in our head that is index 1 (the authors' real = 1 labels
  made their fake class index 0, which is the column they drew);
* maps are min-max normalised over the whole clip (so frames can be compared) instead of the
  notebooks' fixed ``(cam - 0.2) / 0.8`` rescaling; the notebooks' extra multiplication by the
  predicted probability is a constant per clip and vanishes under that normalisation;
* the feature layer is found from the graph (the input of the last global average pooling)
  rather than ``model.layers[-4]``, so it also works for our smaller CLRNet variants;
* ``method="gradcam"`` (Selvaraju et al., ICCV'17) handles models without a pooling → Dense head
  (MesoNet, ShallowNet, ...): channel weights are the gradients of the class score averaged over
  (T, h, w), followed by a ReLU. Frame models get one map per frame of the clip.

CLI::

    python -m clrnet.cam --model run/best.keras --clip clip.npy --out cam.png
    python -m clrnet.cam --model run/best.keras --clip shard.nNNNN.tfrecord --index 3 --out cam.png
    python -m clrnet.cam --model run/best.keras --clip video.mp4 --start 0 --out cam.png

A video is turned into an aligned face clip with ``data_prep.faces.FaceExtractor`` (MTCNN).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf

from clrnet.errors import CamError
from data_prep.fileio import write_bytes_atomic

_POOLING = (keras.layers.GlobalAveragePooling3D, keras.layers.GlobalAveragePooling2D)
_PASS_THROUGH = (keras.layers.Dropout, keras.layers.Activation, keras.layers.Softmax)


def _layer_of(model: keras.Model, name: str) -> keras.layers.Layer:
    try:
        return model.get_layer(name)
    except ValueError:
        raise CamError(f"model {model.name!r} has no layer named {name!r}") from None


def find_cam_head(model: keras.Model) -> tuple[keras.KerasTensor, keras.layers.Dense] | None:
    """The feature map feeding the last global average pooling, and the Dense after it.

    Returns:
        ``(feature tensor, dense layer)`` when the head is pooling → [dropout/activation] →
        Dense (the form class activation maps need), else None.
    """
    layers = model.layers
    for i in range(len(layers) - 1, -1, -1):
        if isinstance(layers[i], _POOLING):
            rest = layers[i + 1:]
            dense = [ly for ly in rest if isinstance(ly, keras.layers.Dense)]
            others = [ly for ly in rest if not isinstance(ly, (keras.layers.Dense, *_PASS_THROUGH))]
            if len(dense) == 1 and not others:
                return layers[i].input, dense[0]
            return None
    return None


def _feature_tensor(model: keras.Model, layer: str | None) -> keras.KerasTensor:
    """The feature map used by Grad-CAM: ``layer``'s output, or the last one with spatial axes."""
    if layer is not None:
        return _layer_of(model, layer).output
    head = find_cam_head(model)
    if head is not None:
        return head[0]
    rank = len(model.inputs[0].shape)
    for ly in reversed(model.layers[1:]):
        out = ly.output
        if not isinstance(out, list | tuple) and len(out.shape) == rank and out.shape[-2] > 1:
            return out
    raise CamError(f"model {model.name!r} has no spatial feature map for Grad-CAM")


def _single_input(model: keras.Model):
    """The model's input tensor (sub-models then take a plain array, without a warning)."""
    if len(model.inputs) != 1:
        raise CamError(f"model {model.name!r} has {len(model.inputs)} inputs; CAM needs one")
    return model.inputs[0]


def _class_index(model: keras.Model, class_index: int | None) -> int:
    width = model.outputs[0].shape[-1]
    if class_index is None:
        return 1 if width == 2 else 0  # fake = index 1 of a two-way head, or the P(fake) unit
    if not 0 <= class_index < width:
        raise CamError(f"class index {class_index} outside the model's {width} outputs")
    return class_index


def _as_batch(model: keras.Model, clip: np.ndarray) -> tuple[np.ndarray, bool]:
    """Validate a clip (T, H, W, 3) in [0, 1]; frame models see its frames as a batch."""
    clip = np.asarray(clip)
    if clip.dtype == np.uint8:
        clip = clip.astype(np.float32) / 255.0
    clip = clip.astype(np.float32)
    if clip.ndim == 3:
        clip = clip[None]
    want = tuple(model.inputs[0].shape[1:])
    frame_model = len(want) == 3
    got = clip.shape[1:] if frame_model else clip.shape
    if clip.ndim != 4 or any(w is not None and w != g for w, g in zip(want, got, strict=False)):
        shown = ("(T, " if frame_model else "(") + ", ".join(str(w) for w in want) + ")"
        raise CamError(f"clip of shape {clip.shape} does not fit model {model.name!r}, which "
                       f"expects clips {shown}")
    return (clip if frame_model else clip[None]), frame_model


def _resize_maps(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    return np.stack([cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
                     for m in maps])


def _normalise(maps: np.ndarray) -> np.ndarray:
    lo, hi = float(maps.min()), float(maps.max())
    if hi - lo < 1e-12:
        return np.zeros_like(maps, dtype=np.float32)
    return ((maps - lo) / (hi - lo)).astype(np.float32)


def class_activation_maps(model: keras.Model, clip: np.ndarray, *, method: str = "cam",
                          class_index: int | None = None, layer: str | None = None,
                          raw: bool = False) -> np.ndarray:
    """Class activation maps of one clip, one map per frame.

    Args:
        model: a trained clip or frame model of this package.
        clip: ``(T, H, W, 3)`` RGB, float in [0, 1] or uint8.
        method: ``"cam"`` (needs a pooling → Dense head, as CLRNet's) or ``"gradcam"``.
        class_index: output index to explain; default the fake class.
        layer: Grad-CAM feature layer name (default: the CAM feature map, else the last
            layer with spatial axes).
        raw: return the un-normalised maps at the feature resolution ``(T, h, w)``.

    Returns:
        ``(T, H, W)`` float32 maps in [0, 1] (or raw maps, see ``raw``).

    Raises:
        CamError: an unsuitable model or a clip of the wrong shape.

    References:
        Zhou et al., CVPR'16 (CAM); Selvaraju et al., ICCV'17 (Grad-CAM); official
        ``src/CLRNET_Heatmap_cam_*.ipynb``.
    """
    batch, frame_model = _as_batch(model, clip)
    c = _class_index(model, class_index)
    if method == "cam":
        head = find_cam_head(model)
        if head is None:
            raise CamError(f"model {model.name!r} has no global-average-pooling → Dense head; "
                           "use method='gradcam'")
        feats, dense = head
        fmap = keras.Model(_single_input(model), feats)(batch, training=False)
        fmap = np.asarray(keras.ops.convert_to_numpy(fmap), dtype=np.float64)
        kernel = np.asarray(dense.get_weights()[0], dtype=np.float64)[:, c]
        maps = fmap @ kernel  # (B, [T,] h, w)
    elif method == "gradcam":
        feats = _feature_tensor(model, layer)
        sub = keras.Model(_single_input(model), [feats, model.outputs[0]])
        x = tf.convert_to_tensor(batch)
        with tf.GradientTape() as tape:
            fmap, out = sub(x, training=False)
            score = tf.reduce_sum(out[:, c])
        grads = tape.gradient(score, fmap)
        if grads is None:
            raise CamError(f"no gradient from the output of {model.name!r} to its feature map")
        fmap, grads = np.asarray(fmap, np.float64), np.asarray(grads, np.float64)
        axes = tuple(range(1, fmap.ndim - 1))
        alpha = grads.mean(axis=axes, keepdims=True) if not frame_model else \
            grads.mean(axis=(0, *axes), keepdims=True)
        maps = np.maximum((fmap * alpha).sum(axis=-1), 0.0)
    else:
        raise CamError(f"unknown CAM method {method!r}; use cam or gradcam")
    maps = maps if frame_model else maps[0]  # (T, h, w)
    if maps.ndim != 3:
        raise CamError(f"feature map of {model.name!r} has no spatial axes (shape {maps.shape})")
    if raw:
        return maps.astype(np.float32)
    h, w = batch.shape[-3], batch.shape[-2]
    return _normalise(_resize_maps(maps, (h, w)))


def overlay(clip: np.ndarray, cams: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """A two-row image strip: the frames on top, the JET-coloured maps blended below.

    Args:
        clip: ``(T, H, W, 3)`` RGB, float in [0, 1] or uint8.
        cams: ``(T, H, W)`` maps in [0, 1] (from :func:`class_activation_maps`).
        alpha: weight of the colour map in the blend.

    Returns:
        uint8 RGB image ``(2H, T*W, 3)``.
    """
    clip = np.asarray(clip)
    frames = clip if clip.dtype == np.uint8 else \
        np.clip(np.asarray(clip, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    cams = np.asarray(cams, np.float32)
    if cams.shape != frames.shape[:3]:
        raise CamError(f"maps of shape {cams.shape} do not match clip frames {frames.shape[:3]}")
    heat = [cv2.cvtColor(cv2.applyColorMap(np.uint8(np.clip(m, 0, 1) * 255), cv2.COLORMAP_JET),
                         cv2.COLOR_BGR2RGB) for m in cams]
    blended = [cv2.addWeighted(f, 1.0 - alpha, h, alpha, 0.0) for f, h in zip(frames, heat,
                                                                              strict=True)]
    return np.concatenate([np.concatenate(list(frames), axis=1),
                           np.concatenate(blended, axis=1)], axis=0)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def load_clip(path: str | os.PathLike, clip_len: int, size: int, *, index: int = 0,
              start: int = 0) -> np.ndarray:
    """Read one clip as uint8 ``(T, size, size, 3)`` from ``.npy``, a TFRecord or a video.

    Raises:
        CamError: a missing or unreadable file, or a video without a face.
    """
    path = Path(path)
    if not path.is_file():
        raise CamError(f"clip file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        clip = np.load(path)
        if clip.dtype != np.uint8:
            clip = np.clip(clip * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif suffix == ".tfrecord":
        from data_prep.records import decode_frames, parse_clip
        records = list(tf.data.TFRecordDataset(str(path)).skip(index).take(1))
        if not records:
            raise CamError(f"{path} has no record number {index}")
        clip = decode_frames(parse_clip(records[0])["frames"]).numpy()
    else:
        from data_prep.faces import FaceExtractor
        frames = list(range(start, start + clip_len))
        found = next(iter(FaceExtractor(output_size=size).extract_clips(path, [frames])), None)
        if found is None or found.faces is None:
            raise CamError(f"no face found in frames {start}..{start + clip_len - 1} of {path}")
        clip = found.faces
    if clip.ndim != 4 or clip.shape[-1] != 3:
        raise CamError(f"{path}: expected a clip (T, H, W, 3), got shape {clip.shape}")
    clip = clip[:clip_len]
    if clip.shape[1:3] != (size, size):
        clip = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in clip])
    return clip


def main(argv: list[str] | None = None) -> int:
    """``python -m clrnet.cam``: write a CAM strip PNG for one clip; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m clrnet.cam", description="Class activation maps of one clip (Fig. 8).",
        epilog="""examples (also installed as clrnet-cam):
  python -m clrnet.cam --model runs/clrnet/best.keras --clip video.mp4 --out cam.png
  python -m clrnet.cam --model best.keras --clip records/clips-00000.n0016.tfrecord --index 3 \\
      --out cam.png --method gradcam""",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=Path, help=".keras model")
    parser.add_argument("--clip", required=True, type=Path, help=".npy, .tfrecord or video")
    parser.add_argument("--out", required=True, type=Path, help="output PNG")
    parser.add_argument("--index", type=int, default=0, help="record number in a TFRecord")
    parser.add_argument("--start", type=int, default=0, help="first frame in a video")
    parser.add_argument("--method", choices=("cam", "gradcam"), default="cam")
    parser.add_argument("--clip-len", type=int, default=None, help="frames (frame models: 5)")
    args = parser.parse_args(argv)
    try:
        if not args.model.is_file():
            raise CamError(f"model file not found: {args.model}")
        import clrnet.models  # noqa: F401 - registers custom objects
        try:
            model = keras.models.load_model(args.model, compile=False)
        except Exception as exc:  # noqa: BLE001 - one line naming the file
            raise CamError(f"{args.model}: not a loadable .keras model "
                           f"({(str(exc).splitlines() or [type(exc).__name__])[0][:200]})") from None
        shape = model.inputs[0].shape
        clip_len = shape[1] if len(shape) == 5 else (args.clip_len or 5)
        size = shape[-2]
        clip = load_clip(args.clip, clip_len, size, index=args.index, start=args.start)
        maps = class_activation_maps(model, clip, method=args.method)
        strip = overlay(clip, maps)
        ok, png = cv2.imencode(".png", cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
        if not ok:
            raise CamError(f"cannot encode the figure for {args.out}")
        write_bytes_atomic(args.out, png.tobytes())
    except CamError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except Exception as exc:  # data_prep errors (video) carry one-line messages too
        from data_prep.errors import DataPrepError
        if isinstance(exc, DataPrepError):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
