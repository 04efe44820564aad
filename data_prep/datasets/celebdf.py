"""Celeb-DF (v2, also v1) adapter.

Layout as published (yuezunli/celeb-deepfakeforensics ``README.md``)::

    <root>/Celeb-real/*.mp4          real  (method "Celeb-real")
    <root>/YouTube-real/*.mp4        real  (method "YouTube-real")
    <root>/Celeb-synthesis/*.mp4     fake  (method "Celeb-synthesis")
    <root>/List_of_testing_videos.txt   lines "<label> <subdir>/<file>.mp4", label 1 = REAL, 0 = fake

Splits: the videos named in ``List_of_testing_videos.txt`` are the official **test** split;
every other video is **train**. Celeb-DF publishes no validation split, so ``split="val"``
yields no videos (DeepfakeBench reuses the test list as val; we do not, to keep test unseen).
Labels come from the folder (synthesis = fake = 1); the list's own label (1 = real) is converted
and checked against the folder, and a disagreement is a :class:`DatasetLayoutError`. A listed
video missing on disk is skipped with a warning (known to happen in redistributed copies).

``compression`` is ignored (Celeb-DF ships one version). ``video_id`` is the file stem.
"""

from __future__ import annotations

from pathlib import Path

from data_prep.datasets.base import (
    Adapter,
    VideoEntry,
    check_root,
    filter_entries,
    log,
    normalise_splits,
    video_files,
)
from data_prep.errors import DatasetLayoutError

NAME = "celebdf"
FOLDERS: dict[str, int] = {"Celeb-real": 0, "YouTube-real": 0, "Celeb-synthesis": 1}
METHODS: tuple[str, ...] = tuple(FOLDERS)
TEST_LIST = "List_of_testing_videos.txt"
LAYOUT = "Celeb-real/, YouTube-real/, Celeb-synthesis/ and List_of_testing_videos.txt"


def read_test_list(path: Path) -> dict[str, int]:
    """Parse ``List_of_testing_videos.txt``.

    Args:
        path: the list file.

    Returns:
        ``"<subdir>/<file>.mp4" -> label`` with **fake = 1** (the file uses real = 1).

    Raises:
        DatasetLayoutError: on a malformed line.
    """
    listed: dict[str, int] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            raise DatasetLayoutError(f"{path}:{number}: expected '<0|1> <subdir>/<file>.mp4', "
                                     f"got {line.strip()!r}")
        listed[parts[1].replace("\\", "/")] = 1 - int(parts[0])
    return listed


def list_videos(root: str | Path, split: str | list[str] | None = None,
                methods: list[str] | None = None, compression: str = "c23") -> list[VideoEntry]:
    """List Celeb-DF videos with labels (fake = 1) and the official test split.

    Args:
        root: the Celeb-DF root.
        split: a split name or list of names; None = all (train and test).
        methods: folder names to keep (``Celeb-real``, ``YouTube-real``, ``Celeb-synthesis``);
            None = all present.
        compression: ignored (kept for the common adapter signature).

    Returns:
        Entries sorted by method then video id.

    Raises:
        DatasetLayoutError: missing root, no video folder, missing/malformed test list, or a
            label in the list that disagrees with the folder.

    References:
        yuezunli/celeb-deepfakeforensics ``README.md`` (layout, test list format).
    """
    del compression
    wanted_splits = normalise_splits(split)
    base = check_root(root, LAYOUT)
    present = [f for f in FOLDERS if (base / f).is_dir()]
    if not present:
        raise DatasetLayoutError(f"{base} is not a Celeb-DF root: none of "
                                 f"{', '.join(FOLDERS)} inside (expected {LAYOUT})")
    list_path = base / TEST_LIST
    if not list_path.is_file():
        raise DatasetLayoutError(f"{base}: missing {TEST_LIST} (the official test split)")
    listed = read_test_list(list_path)
    if methods is None:
        chosen = present
    else:
        lookup = {m.lower(): m for m in FOLDERS}
        chosen = []
        for name in methods:
            if name.lower() not in lookup:
                raise ValueError(f"unknown Celeb-DF method {name!r}; expected one of {list(FOLDERS)}")
            if lookup[name.lower()] not in present:
                raise DatasetLayoutError(f"{base}: folder {lookup[name.lower()]}/ missing")
            chosen.append(lookup[name.lower()])
    entries: list[VideoEntry] = []
    for folder in chosen:
        for path in video_files(base / folder):
            rel = f"{folder}/{path.name}"
            label = FOLDERS[folder]
            if rel in listed and listed[rel] != label:
                raise DatasetLayoutError(f"{list_path}: {rel} is listed as "
                                         f"{'fake' if listed[rel] else 'real'} but its folder says "
                                         f"{'fake' if label else 'real'}")
            entries.append(VideoEntry(path, label, path.stem, NAME, folder,
                                      "test" if rel in listed else "train"))
    found = {f"{e.method}/{e.path.name}" for e in entries}
    missing = [rel for rel in listed if rel.split("/")[0] in chosen and rel not in found]
    if missing:
        log.warning("%s: %d listed test video(s) missing on disk (e.g. %s)", base, len(missing),
                    missing[0])
    if not entries:
        raise DatasetLayoutError(f"{base}: no video files in {', '.join(chosen)}")
    return filter_entries(entries, wanted_splits)


ADAPTER = Adapter(NAME, list_videos, METHODS,
                  "Celeb-DF v2/v1: Celeb-real, YouTube-real, Celeb-synthesis + test list")
