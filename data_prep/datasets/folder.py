"""Generic adapter for in-the-wild sets (e.g. DeepFake-in-the-Wild): folders or a CSV.

Accepted layouts (no paper or official file is followed; this is the package's own format):

1. ``<root>/real/**`` and ``<root>/fake/**`` video files. A first sub-folder under ``fake/``
   names the method (``fake/GAN/x.mp4`` -> method ``GAN``); files directly in ``fake/`` get
   method ``fake``; real videos get method ``original``. Every video is split **test**
   (in-the-wild sets are evaluation sets), unless the layout is
2. ``<root>/{train,val,test}/{real,fake}/**``: the top folder is the split.
3. A CSV file with a header containing ``path,label`` and optionally ``split`` and ``method``
   columns; ``root`` is the CSV file itself, or a folder holding exactly one ``*.csv`` (with
   no real/fake folders). Paths are relative to the CSV's folder (or absolute); ``label`` is
   ``0/1`` or ``real/fake`` (fake = 1); a missing split is ``test``.

``video_id`` is the path relative to the root (or CSV folder) without extension, so it is unique
within the dataset. ``compression`` is ignored.
"""

from __future__ import annotations

import csv
from pathlib import Path

from data_prep.datasets.base import (
    SPLITS,
    Adapter,
    VideoEntry,
    check_root,
    filter_entries,
    log,
    normalise_splits,
    video_files,
)
from data_prep.errors import DatasetLayoutError

NAME = "folder"
METHODS: tuple[str, ...] = ("original", "fake")
LAYOUT = ("real/ and fake/ folders of videos, {train,val,test}/{real,fake}/, "
          "or a CSV with columns path,label[,split,method]")
LABEL_WORDS = {"0": 0, "1": 1, "real": 0, "fake": 1}
DEFAULT_SPLIT = "test"


def _entries_from_folders(base: Path, split_root: Path, video_split: str) -> list[VideoEntry]:
    entries = []
    for label, top in ((0, "real"), (1, "fake")):
        folder = split_root / top
        if not folder.is_dir():
            continue
        for path in video_files(folder, recursive=True):
            inner = path.relative_to(folder).parts
            method = "original" if label == 0 else (inner[0] if len(inner) > 1 else "fake")
            video_id = path.relative_to(base).with_suffix("").as_posix()
            entries.append(VideoEntry(path, label, video_id, NAME, method, video_split))
    return entries


def read_csv(csv_path: Path) -> list[VideoEntry]:
    """Entries from a ``path,label[,split,method]`` CSV.

    Raises:
        DatasetLayoutError: missing columns, a bad label/split, or a listed file missing.
    """
    entries = []
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = {c.strip().lower() for c in reader.fieldnames or []}
        if not {"path", "label"} <= columns:
            raise DatasetLayoutError(f"{csv_path}: header must contain path,label "
                                     f"(got {sorted(columns)})")
        for number, raw in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
            where = f"{csv_path}:{number}"
            label = LABEL_WORDS.get(row["label"].lower())
            if label is None:
                raise DatasetLayoutError(f"{where}: label {row['label']!r} is not 0/1/real/fake")
            video_split = (row.get("split") or DEFAULT_SPLIT).lower()
            if video_split not in SPLITS:
                raise DatasetLayoutError(f"{where}: split {video_split!r} is not one of {list(SPLITS)}")
            path = Path(row["path"]).expanduser()
            if not path.is_absolute():
                path = csv_path.parent / path
            if not path.is_file():
                raise DatasetLayoutError(f"{where}: video file {path} does not exist")
            try:
                video_id = path.relative_to(csv_path.parent).with_suffix("").as_posix()
            except ValueError:
                video_id = path.with_suffix("").as_posix().lstrip("/")
            method = row.get("method") or ("original" if label == 0 else "fake")
            entries.append(VideoEntry(path, label, video_id, NAME, method, video_split))
    if not entries:
        raise DatasetLayoutError(f"{csv_path}: no rows")
    return entries


def list_videos(root: str | Path, split: str | list[str] | None = None,
                methods: list[str] | None = None, compression: str = "c23") -> list[VideoEntry]:
    """List videos of a folder or CSV dataset.

    Args:
        root: a folder (layouts 1-2, or one holding a single CSV) or a CSV file.
        split: a split name or list of names; None = all.
        methods: methods to keep (``original`` for real, ``fake`` or the sub-folder names);
            None = all.
        compression: ignored (kept for the common adapter signature).

    Returns:
        Entries sorted by method then video id.

    Raises:
        DatasetLayoutError: missing root, no recognisable layout, or no video files.
    """
    del compression
    wanted_splits = normalise_splits(split)
    given = Path(root).expanduser()
    if given.is_file() and given.suffix.lower() == ".csv":
        entries = read_csv(given)
        base = given.parent
    else:
        base = check_root(given, LAYOUT)
        split_dirs = [s for s in SPLITS if (base / s / "real").is_dir() or (base / s / "fake").is_dir()]
        if split_dirs:
            entries = [e for s in split_dirs for e in _entries_from_folders(base, base / s, s)]
        elif (base / "real").is_dir() or (base / "fake").is_dir():
            entries = _entries_from_folders(base, base, DEFAULT_SPLIT)
        else:
            csvs = sorted(base.glob("*.csv"))
            if len(csvs) != 1:
                raise DatasetLayoutError(f"{base}: no real/ or fake/ folder and "
                                         f"{'several' if csvs else 'no'} CSV file(s) "
                                         f"(expected {LAYOUT})")
            entries = read_csv(csvs[0])
        if not entries:
            raise DatasetLayoutError(f"{base}: real/ and fake/ hold no video files "
                                     f"(extensions .mp4, .avi, .mov, .mkv, .webm, ...)")
    if methods is not None:
        wanted = {"original" if m.lower() == "real" else m.lower() for m in methods}
        entries = [e for e in entries if e.method.lower() in wanted]
        if not entries:
            log.warning("%s: no videos of methods %s", base, list(methods))
    return filter_entries(entries, wanted_splits)


ADAPTER = Adapter(NAME, list_videos, METHODS,
                  "generic: real/ + fake/ folders (optionally under train/val/test/) or a CSV")
