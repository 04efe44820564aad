"""THE TFRecord feature spec for face clips: one writer, one parser.

One ``tf.train.Example`` = one clip of ``T`` aligned face frames from one video.

Every producer (``python -m data_prep extract``, the mini benchmark) writes through
:func:`encode_clip`, and every consumer (``data_prep.pipeline.get_dataset``) reads through
:func:`parse_clip`; both take their keys from :data:`FEATURE_SPEC`, so the two sides cannot drift.

Labels follow the package-wide convention: **fake = 1, real = 0**.

Also here: :class:`ShardWriter` (shards written under a temporary name unique to the writer and
renamed to ``<prefix>-00000.n0123.tfrecord``, the count in the name, on close),
:func:`count_records`, the per-video manifest (:func:`write_manifest`, :func:`read_manifest`,
one row per video by the rule of :func:`dedupe_rows`) and :func:`select_records`, which finds the
shard files of chosen (dataset, method, split) groups without opening them.

References:
    keras-io ``examples/keras_recipes/creating_tfrecords.py`` (one spec for writer and parser,
    shard names carrying their record counts).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import tensorflow as tf

from data_prep.errors import DataPrepError
from data_prep.fileio import write_csv_atomic, write_json_atomic

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


# --------------------------------------------------------------------------------------------
# Sharded writing, shard names and the per-video manifest.
#
# Layout written by ``python -m data_prep extract``::
#
#     <out>/<dataset>/<method>/<split>/<prefix>-00000.n0016.tfrecord
#     <out>/<dataset>/manifest.csv + manifest.json                  (or manifest.shard-I-of-N.*)
#
# A shard is written to ``<prefix>-00000.p<pid>-<token>.tfrecord.tmp`` (unique to its writer, so
# two writers never touch each other's file) and renamed to its final name, which carries its
# record count, only once it is closed, so a final name never holds a partial file.
# --------------------------------------------------------------------------------------------

#: ``<prefix>-<5-digit index>.n<count>.tfrecord``
SHARD_RE = re.compile(r"^(?P<prefix>.+)-(?P<index>\d{5})\.n(?P<count>\d+)\.tfrecord$")
MANIFEST_COLUMNS: tuple[str, ...] = (
    "video_id", "dataset", "method", "split", "label", "source_path", "status", "clips_written",
    "frames_total", "frames_without_face", "video_frames", "error", "shards")
#: The columns that identify a video: a manifest holds at most one row per key.
MANIFEST_KEY: tuple[str, ...] = ("dataset", "method", "video_id")
STATUSES: tuple[str, ...] = ("ok", "no_face", "error")
#: ``<prefix>-<index>.p<pid>-<token>.tfrecord.tmp`` (and the token-less name of older versions).
TMP_SHARD_RE = re.compile(r"^(?P<prefix>.+)-(?P<index>\d{5})(\.p(?P<pid>\d+)-[0-9a-f]+)?"
                          r"\.tfrecord\.tmp$")


def shard_name(prefix: str, index: int, count: int) -> str:
    """Final file name of a shard: ``<prefix>-<index:05d>.n<count:04d>.tfrecord``."""
    return f"{prefix}-{index:05d}.n{count:04d}.tfrecord"


def count_records(file: str | os.PathLike) -> int:
    """Number of records in a shard, read from its name (no file access).

    Raises:
        ValueError: if the name does not follow :func:`shard_name`.
    """
    match = SHARD_RE.match(Path(file).name)
    if match is None:
        raise ValueError(f"{file}: not a shard name of the form <prefix>-00000.n0123.tfrecord")
    return int(match["count"])


class ShardWriter:
    """Write serialised examples to shards of at most ``max_records`` records each.

    Each shard is written to ``<prefix>-<index>.p<pid>-<token>.tfrecord.tmp``, a name no other
    writer uses (two processes writing the same prefix never rename or delete each other's
    file), and renamed to ``<prefix>-<index>.n<count>.tfrecord`` when it is full or the writer
    closes. Used as a context manager, an exception inside the block removes the open ``.tmp``
    file (shards already renamed stay; callers that need all-or-nothing delete :attr:`paths`).

    Args:
        directory: output folder (created if needed).
        prefix: file name prefix.
        max_records: records per shard before a new one is started.

    References:
        keras-io ``examples/keras_recipes/creating_tfrecords.py`` (counts in shard names).
    """

    def __init__(self, directory: str | os.PathLike, prefix: str, max_records: int = 1024) -> None:
        if max_records < 1:
            raise ValueError(f"max_records must be >= 1, got {max_records}")
        self.directory = Path(directory)
        self.prefix = prefix
        self.max_records = max_records
        self.paths: list[Path] = []
        self._writer: tf.io.TFRecordWriter | None = None
        self._tmp: Path | None = None
        self._count = 0
        self._index = 0
        self._token = f"p{os.getpid()}-{secrets.token_hex(4)}"

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, record: bytes) -> None:
        """Append one serialised example, starting a new shard when the current one is full."""
        if self._writer is not None and self._count >= self.max_records:
            self._finish()
        if self._writer is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._tmp = self.directory / (f"{self.prefix}-{self._index:05d}.{self._token}"
                                          ".tfrecord.tmp")
            self._writer = tf.io.TFRecordWriter(str(self._tmp))
            self._count = 0
        self._writer.write(record)
        self._count += 1

    def _finish(self) -> None:
        assert self._writer is not None and self._tmp is not None
        self._writer.flush()
        self._writer.close()
        final = self.directory / shard_name(self.prefix, self._index, self._count)
        os.replace(self._tmp, final)
        self.paths.append(final)
        self._writer, self._tmp = None, None
        self._index += 1

    def close(self) -> list[Path]:
        """Finish the open shard (if any) and return every final shard path."""
        if self._writer is not None:
            self._finish()
        return list(self.paths)

    def abort(self) -> None:
        """Drop the open ``.tmp`` shard without renaming it."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None


def manifest_key(row: dict) -> tuple[str, ...]:
    """The identity of a manifest row: its :data:`MANIFEST_KEY` values as strings."""
    return tuple(str(row.get(k, "")) for k in MANIFEST_KEY)


def _shard_list(value: object) -> list[str]:
    if isinstance(value, str):
        return [s for s in value.split(";") if s]
    return [str(s) for s in value] if isinstance(value, list | tuple) else []


def row_matches_disk(row: dict, base: str | os.PathLike) -> bool:
    """Whether a row's outcome is backed by the files on disk.

    Args:
        row: a manifest or journal row.
        base: the folder its relative ``shards`` paths start from (absolute paths are used as
            they are).

    Returns:
        True for status ``ok`` or ``no_face`` with every listed shard file present.
    """
    if row.get("status") not in ("ok", "no_face"):
        return False
    return all((Path(base) / s).is_file() for s in _shard_list(row.get("shards", [])))


def dedupe_rows(rows: Sequence[dict], base: str | os.PathLike) -> list[dict]:
    """One row per video (:func:`manifest_key`): the rule shared by manifests and journals.

    Of several rows for one video, the **last row that matches the files on disk**
    (:func:`row_matches_disk`: ``ok``/``no_face`` with all its shards present) is kept; when
    none does, the last row. Rows come in write order (journal lines, manifest files in name
    order), so a later successful attempt wins, and an ``error`` row written by an interrupted
    or concurrent attempt never hides a finished video whose shards exist.

    Args:
        rows: rows in the order they were written.
        base: folder of the relative shard paths (see :func:`row_matches_disk`).

    Returns:
        The kept rows, in the order their videos first appear.
    """
    groups: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        groups.setdefault(manifest_key(row), []).append(row)
    kept = []
    for candidates in groups.values():
        if len(candidates) > 1:
            on_disk = [r for r in candidates if row_matches_disk(r, base)]
            candidates = on_disk or candidates
        kept.append(candidates[-1])
    return kept


def write_manifest(rows: Sequence[dict], csv_path: str | os.PathLike,
                   config: dict | None = None) -> Path:
    """Write the per-video manifest as CSV and JSON (same stem), atomically.

    A video given more than once gets one row, chosen by :func:`dedupe_rows`.

    Args:
        rows: one dict per video with the keys of :data:`MANIFEST_COLUMNS`; ``shards`` is a
            list of shard paths relative to the manifest's folder.
        csv_path: where the CSV goes; the JSON goes beside it with suffix ``.json``.
        config: extraction settings stored in the JSON.

    Returns:
        The CSV path.
    """
    csv_path = Path(csv_path)
    rows = dedupe_rows(rows, csv_path.parent)
    records = [{c: row.get(c, "") for c in MANIFEST_COLUMNS} for row in rows]
    records.sort(key=lambda r: tuple(str(r[k]) for k in MANIFEST_KEY))
    frame = pd.DataFrame(records, columns=list(MANIFEST_COLUMNS))
    frame["shards"] = [";".join(s) for s in frame["shards"]] if len(frame) else []
    write_csv_atomic(csv_path, frame)
    write_json_atomic(csv_path.with_suffix(".json"), {"config": config or {}, "videos": records},
                      indent=1)
    return csv_path


def _read_one_manifest(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text())
            frame = pd.DataFrame(data["videos"] if isinstance(data, dict) else data,
                                 columns=list(MANIFEST_COLUMNS))
            shards = [list(s) if isinstance(s, list) else [] for s in frame["shards"]]
        else:
            frame = pd.read_csv(path, dtype={"video_id": str, "error": str, "shards": str},
                                keep_default_na=False)
            shards = [[s for s in str(v).split(";") if s] for v in frame["shards"]]
    except (OSError, ValueError, KeyError) as exc:
        raise DataPrepError(f"cannot read manifest ({exc})", path) from None
    missing = set(MANIFEST_COLUMNS) - set(frame.columns)
    if missing:
        raise DataPrepError(f"manifest lacks columns {sorted(missing)}", path)
    frame["shards"] = [[str((path.parent / s).resolve()) for s in row] for row in shards]
    frame["manifest"] = str(path)
    return frame


def find_manifests(directory: str | os.PathLike) -> list[Path]:
    """Every manifest under ``directory`` (CSV preferred over the JSON twin), sorted."""
    directory = Path(directory)
    found = sorted(directory.rglob("manifest*.csv"))
    stems = {p.with_suffix("") for p in found}
    found += sorted(p for p in directory.rglob("manifest*.json") if p.with_suffix("") not in stems)
    return sorted(p for p in found if not p.name.endswith(".tmp"))


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest (CSV or JSON), or merge every manifest under a directory.

    Per-shard manifests (``manifest.shard-I-of-N.csv``) and merged ones are combined; a video
    listed more than once (in one file or several) gets one row by the rule of
    :func:`dedupe_rows` (the last row, by file name order, whose shards are all on disk; else
    the last row). ``shards`` becomes a list of absolute paths; a ``manifest`` column names the
    file each row came from.

    Args:
        path: a manifest file or an output directory.

    Returns:
        One row per video with the columns of :data:`MANIFEST_COLUMNS` (+ ``manifest``).

    Raises:
        DataPrepError: no manifest found, or a manifest that cannot be read.
    """
    path = Path(path)
    if path.is_dir():
        files = find_manifests(path)
        if not files:
            raise DataPrepError("no manifest*.csv/json found (run python -m data_prep extract)", path)
    elif path.is_file():
        files = [path]
    else:
        raise DataPrepError("manifest not found", path)
    frame = pd.concat([_read_one_manifest(f) for f in files], ignore_index=True)
    if frame.duplicated(subset=list(MANIFEST_KEY)).any():
        columns = list(frame.columns)
        frame = pd.DataFrame(dedupe_rows(frame.to_dict("records"), "/"), columns=columns)
    for column in ("label", "clips_written", "frames_total", "frames_without_face", "video_frames"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0).astype(int)
    for column in ("video_id", "dataset", "method", "split", "status", "error", "source_path"):
        frame[column] = frame[column].fillna("").astype(str)
    return frame


def _matches(value: str, wanted: Sequence[str] | str | None) -> bool:
    if wanted is None:
        return True
    wanted = [wanted] if isinstance(wanted, str) else wanted
    return value.lower() in {w.lower() for w in wanted}


def select_records(manifest_or_dir: str | os.PathLike, methods: Sequence[str] | None = None,
                   splits: Sequence[str] | None = None,
                   datasets: Sequence[str] | None = None) -> list[str]:
    """Shard files holding the clips of the selected (dataset, method, split) groups.

    Args:
        manifest_or_dir: a manifest file, or an output directory. A directory with manifests
            is resolved through them; one without is globbed for
            ``<dataset>/<method>/<split>/*.nNNNN.tfrecord``.
        methods: method names to keep (case-insensitive); None = all.
        splits: split names to keep; None = all.
        datasets: dataset names to keep; None = all.

    Returns:
        Sorted absolute paths of existing shard files (empty if nothing matches).

    Raises:
        DataPrepError: a manifest lists a shard file that does not exist.
    """
    root = Path(manifest_or_dir)
    if root.is_dir() and not find_manifests(root):
        files = []
        for shard in root.rglob("*.tfrecord"):
            parts = shard.relative_to(root).parts
            if SHARD_RE.match(shard.name) is None or len(parts) < 4:
                continue
            dataset, method, split = parts[-4:-1]
            if _matches(dataset, datasets) and _matches(method, methods) and _matches(split, splits):
                files.append(str(shard.resolve()))
        return sorted(files)
    frame = read_manifest(root)
    keep = [_matches(d, datasets) and _matches(m, methods) and _matches(s, splits)
            for d, m, s in zip(frame["dataset"], frame["method"], frame["split"], strict=True)]
    files = sorted({s for shards in frame.loc[keep, "shards"] for s in shards})
    for file in files:
        if not os.path.isfile(file):
            raise DataPrepError("manifest lists a shard file that does not exist", file)
    return files
