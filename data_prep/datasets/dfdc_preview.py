"""DFDC preview (DFDCP, Dolhansky et al. 2019) adapter.

Layout as distributed::

    <root>/dataset.json                     {"<relative path>": {"label": "real"|"fake",
                                                                 "set": "train"|"test", ...}, ...}
    <root>/original_videos/...              real videos
    <root>/method_A/..., <root>/method_B/... fake videos (nesting below varies between copies)

``dataset.json`` is the source of truth for label and split (as DeepfakeBench's ``rearrange.py``
and SelfBlendedImages' ``init_dfdcp`` read it; only ``label`` and ``set`` are used). The method
is the path's first segment, with ``original_videos`` reported as ``original``. There is no
official validation split, so ``split="val"`` yields no videos. A listed file missing on disk is
skipped with a warning. ``compression`` is ignored. ``video_id`` is the relative path without
its extension (the json key), which is unique in the dataset.
"""

from __future__ import annotations

import json
from pathlib import Path

from data_prep.datasets.base import (
    Adapter,
    VideoEntry,
    check_root,
    filter_entries,
    log,
    normalise_splits,
)
from data_prep.errors import DatasetLayoutError

NAME = "dfdc_preview"
METHODS: tuple[str, ...] = ("original", "method_A", "method_B")
METADATA = "dataset.json"
LAYOUT = "dataset.json beside original_videos/, method_A/, method_B/"
LABELS = {"real": 0, "fake": 1}
SETS = {"train": "train", "test": "test"}


def method_of(rel: str) -> str:
    """Method of a ``dataset.json`` key: its first path segment (``original_videos`` -> ``original``)."""
    first = rel.replace("\\", "/").split("/")[0]
    return "original" if first == "original_videos" else first


def list_videos(root: str | Path, split: str | list[str] | None = None,
                methods: list[str] | None = None, compression: str = "c23") -> list[VideoEntry]:
    """List DFDC-preview videos from ``dataset.json``.

    Args:
        root: the DFDCP root (holding ``dataset.json``).
        split: ``"train"``/``"test"`` (or a list); None = all.
        methods: ``original``, ``method_A``, ``method_B``; None = all.
        compression: ignored (kept for the common adapter signature).

    Returns:
        Entries sorted by method then video id.

    Raises:
        DatasetLayoutError: missing root, missing/malformed ``dataset.json``, or no listed
            video present on disk.

    References:
        DFDC preview ``dataset.json`` fields as read by DeepfakeBench ``preprocessing/rearrange.py``.
    """
    del compression
    wanted_splits = normalise_splits(split)
    base = check_root(root, LAYOUT)
    meta_path = base / METADATA
    if not meta_path.is_file():
        raise DatasetLayoutError(f"{base}: missing {METADATA} (expected {LAYOUT})")
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict):
            raise ValueError("top level is not an object")
    except (OSError, ValueError) as exc:
        raise DatasetLayoutError(f"{meta_path}: not a JSON object of videos ({exc})") from None
    chosen: set[str] | None = None
    if methods is not None:
        lookup = {m.lower(): m for m in METHODS} | {"original_videos": "original", "real": "original"}
        chosen = set()
        for name in methods:
            if name.lower() not in lookup:
                raise ValueError(f"unknown DFDC-preview method {name!r}; expected one of {list(METHODS)}")
            chosen.add(lookup[name.lower()])
    entries: list[VideoEntry] = []
    missing: list[str] = []
    for rel, info in meta.items():
        method = method_of(rel)
        if chosen is not None and method not in chosen:
            continue
        try:
            label = LABELS[str(info["label"]).lower()]
            video_split = SETS[str(info["set"]).lower()]
        except (KeyError, TypeError):
            raise DatasetLayoutError(f"{meta_path}: entry {rel!r} lacks a valid 'label' "
                                     f"(real|fake) or 'set' (train|test)") from None
        path = base / rel
        if not path.is_file():
            missing.append(rel)
            continue
        video_id = rel.replace("\\", "/").rsplit(".", 1)[0]
        entries.append(VideoEntry(path, label, video_id, NAME, method, video_split))
    if missing:
        log.warning("%s: %d video(s) listed in %s missing on disk (e.g. %s)", base, len(missing),
                    METADATA, missing[0])
    if not entries:
        raise DatasetLayoutError(f"{base}: none of the videos listed in {METADATA} "
                                 f"{'for ' + ', '.join(sorted(chosen)) + ' ' if chosen else ''}"
                                 f"exists on disk")
    return filter_entries(entries, wanted_splits)


ADAPTER = Adapter(NAME, list_videos, METHODS, "DFDC preview: dataset.json (label, set)")
