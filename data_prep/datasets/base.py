"""Shared pieces of the dataset adapters: the :class:`VideoEntry` record and small helpers.

An adapter turns a dataset root laid out exactly as its publisher distributes it into a sorted
list of :class:`VideoEntry` (path, label, ids, official split). Labels follow the package-wide
convention **fake = 1, real = 0**; sources that use real = 1 (Celeb-DF's test list) are
converted at the edge, inside their adapter.

Where a dataset has no official split, the adapter assigns one with :func:`hash_split`: a
SHA-1 of a stable key (e.g. the actor id) mapped to ``[0, 1)`` and cut at 72/14/14. The choice
depends only on the key, not on which other videos are on disk, so a partial download, a
``--limit`` run and the full set agree on every video they share.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from data_prep.errors import DatasetLayoutError

log = logging.getLogger("data_prep.datasets")

SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Fractions used by :func:`hash_split` where a dataset has no official split.
HASH_FRACTIONS: tuple[float, float, float] = (0.72, 0.14, 0.14)
#: Video file extensions the folder adapter, layout checks and ``clrnet.predict`` accept.
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpeg", ".mpg", ".m4v",
                                     ".wmv", ".flv", ".3gp")


@dataclass(frozen=True, order=True)
class VideoEntry:
    """One video of a dataset.

    Args:
        path: the video file.
        label: 1 for fake, 0 for real.
        video_id: id of the video, unique within ``(dataset, method)``.
        dataset: adapter name (``"ffpp"``, ``"celebdf"``, ``"dfdc_preview"``, ``"folder"``).
        method: manipulation method, or the real source (``"original"``, ``"original_actors"``,
            ``"Celeb-real"``, ...).
        split: ``"train"``, ``"val"`` or ``"test"``.
    """

    path: Path
    label: int
    video_id: str
    dataset: str
    method: str
    split: str

    @property
    def key(self) -> str:
        """A key unique across datasets: ``dataset/method/video_id``."""
        return f"{self.dataset}/{self.method}/{self.video_id}"


@dataclass(frozen=True)
class Adapter:
    """A registered dataset adapter.

    Args:
        name: registry name.
        list_videos: ``list_videos(root, split=None, methods=None, compression="c23")``.
        methods: the method names the adapter knows (for ``--help`` and validation).
        description: one line shown by the CLI.
    """

    name: str
    list_videos: Callable[..., list[VideoEntry]]
    methods: tuple[str, ...]
    description: str


def stable_hash(key: str) -> int:
    """A process-independent 64-bit hash of ``key`` (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big")


def hash_split(key: str, fractions: Sequence[float] = HASH_FRACTIONS) -> str:
    """Assign ``key`` to train/val/test by its SHA-1, with the given fractions.

    Args:
        key: a stable identifier (e.g. ``"dfd-actor:01"``).
        fractions: train, val, test fractions (summing to 1).

    Returns:
        ``"train"``, ``"val"`` or ``"test"``.
    """
    u = stable_hash(key) / 2**64
    train, val, _ = fractions
    if u < train:
        return "train"
    if u < train + val:
        return "val"
    return "test"


def normalise_splits(split: str | Iterable[str] | None) -> set[str] | None:
    """Turn ``None``, ``"train"`` or ``["train", "val"]`` into a set of valid split names.

    Raises:
        ValueError: for an unknown split name.
    """
    if split is None:
        return None
    names = {split} if isinstance(split, str) else set(split)
    unknown = names - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split(s) {sorted(unknown)}; expected some of {list(SPLITS)}")
    return names


def check_root(root: str | Path, what: str) -> Path:
    """Return ``root`` as a Path if it is an existing directory.

    Args:
        root: the dataset root given by the user.
        what: a short description of the expected layout, used in the error.

    Raises:
        DatasetLayoutError: if the root is missing or not a directory.
    """
    path = Path(root).expanduser()
    if not path.exists():
        raise DatasetLayoutError(f"dataset root {path} does not exist (expected {what})")
    if not path.is_dir():
        raise DatasetLayoutError(f"dataset root {path} is not a directory (expected {what})")
    return path


def video_files(directory: Path, recursive: bool = False) -> list[Path]:
    """Sorted video files (by extension, case-insensitive) in ``directory``."""
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in directory.glob(pattern)
                  if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def filter_entries(entries: Iterable[VideoEntry], splits: set[str] | None) -> list[VideoEntry]:
    """Keep entries whose split is in ``splits`` (all if None), sorted by method then id."""
    kept = [e for e in entries if splits is None or e.split in splits]
    return sorted(kept, key=lambda e: (e.method, e.video_id))
