"""THE TFRecord feature spec for face clips: one writer, one parser.

One ``tf.train.Example`` = one clip of ``T`` aligned face frames from one video.

Every producer (``python -m data_prep extract``, the mini benchmark) writes through
:func:`encode_clip`, and every consumer (``data_prep.pipeline.get_dataset``) reads through
:func:`parse_clip`; both take their keys from :data:`FEATURE_SPEC`, so the two sides cannot drift.

Labels follow the package-wide convention: **fake = 1, real = 0**.

References:
    keras-io ``examples/keras_recipes/creating_tfrecords.py`` (one spec for writer and parser,
    shard names carrying their record counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import tensorflow as tf

LABEL_REAL = 0
LABEL_FAKE = 1
JPEG_QUALITY = 95

#: Keys and types of one clip record. ``frames`` holds one JPEG (RGB) per frame.
FEATURE_SPEC: dict[str, tf.io.FixedLenFeature | tf.io.FixedLenSequenceFeature] = {
    "frames": tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True),
    "frame_indices": tf.io.FixedLenSequenceFeature([], tf.int64, allow_missing=True),
    "num_frames": tf.io.FixedLenFeature([], tf.int64),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
    "label": tf.io.FixedLenFeature([], tf.int64),
    "clip_index": tf.io.FixedLenFeature([], tf.int64),
    "video_id": tf.io.FixedLenFeature([], tf.string),
    "dataset": tf.io.FixedLenFeature([], tf.string),
    "method": tf.io.FixedLenFeature([], tf.string),
    "split": tf.io.FixedLenFeature([], tf.string),
    "source_path": tf.io.FixedLenFeature([], tf.string),
}


@dataclass(frozen=True)
class ClipMeta:
    """Metadata stored beside the frames of one clip.

    Args:
        label: 1 for fake, 0 for real.
        video_id: unique id of the source video inside its dataset (e.g. ``"000_003"``).
        dataset: dataset name (``"ffpp"``, ``"celebdf"``, ``"dfdc_preview"``, ``"folder"``, ...).
        method: manipulation method (``"original"`` for real videos, ``"Deepfakes"``, ...).
        split: ``"train"``, ``"val"`` or ``"test"``.
        source_path: path of the video file the clip came from.
        clip_index: index of the clip within its video.
        frame_indices: the video frame index of every frame in the clip.
    """

    label: int
    video_id: str
    dataset: str
    method: str
    split: str
    source_path: str
    clip_index: int = 0
    frame_indices: Sequence[int] = field(default_factory=tuple)


def _bytes(values: Sequence[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _ints(values: Sequence[int]) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def encode_jpeg(frame_rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG-encode one uint8 RGB frame (H, W, 3)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def encode_clip(frames_rgb: np.ndarray, meta: ClipMeta, quality: int = JPEG_QUALITY) -> bytes:
    """Serialise one clip to a ``tf.train.Example`` string.

    Args:
        frames_rgb: uint8 array (T, H, W, 3), RGB.
        meta: the clip's metadata; ``meta.frame_indices`` must have T entries.
        quality: JPEG quality of the stored frames.

    Returns:
        The serialised example, ready for ``tf.io.TFRecordWriter.write``.
    """
    frames_rgb = np.asarray(frames_rgb)
    if frames_rgb.ndim != 4 or frames_rgb.shape[-1] != 3 or frames_rgb.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames_rgb.dtype} {frames_rgb.shape}")
    t, h, w, _ = frames_rgb.shape
    indices = list(meta.frame_indices) or list(range(t))
    if len(indices) != t:
        raise ValueError(f"{len(indices)} frame indices for {t} frames")
    feature = {
        "frames": _bytes([encode_jpeg(f, quality) for f in frames_rgb]),
        "frame_indices": _ints(indices),
        "num_frames": _ints([t]),
        "height": _ints([h]),
        "width": _ints([w]),
        "label": _ints([meta.label]),
        "clip_index": _ints([meta.clip_index]),
        "video_id": _bytes([meta.video_id.encode()]),
        "dataset": _bytes([meta.dataset.encode()]),
        "method": _bytes([meta.method.encode()]),
        "split": _bytes([meta.split.encode()]),
        "source_path": _bytes([str(meta.source_path).encode()]),
    }
    assert feature.keys() == FEATURE_SPEC.keys()
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def parse_clip(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Parse one serialised clip (graph-safe; frames stay JPEG strings).

    Returns:
        A dict with the keys of :data:`FEATURE_SPEC`.
    """
    return tf.io.parse_single_example(serialized, FEATURE_SPEC)


def decode_frames(jpegs: tf.Tensor) -> tf.Tensor:
    """Decode a 1-D tensor of JPEG strings to uint8 (T, H, W, 3) (graph-safe)."""
    return tf.map_fn(lambda s: tf.io.decode_jpeg(s, channels=3), jpegs,
                     fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
