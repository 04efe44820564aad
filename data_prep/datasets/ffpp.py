"""FaceForensics++ adapter (incl. DeepFakeDetection and the actors originals).

Follows the layout of the official download script (ondyari/FaceForensics ``dataset/README.md``)::

    <root>/original_sequences/{youtube,actors}/<c0|raw|c23|c40>/videos/*.mp4
    <root>/manipulated_sequences/<Method>/<comp>/videos/*.mp4
    <root>/splits/{train,val,test}.json        (or <root>/dataset/splits/, or ``splits_dir=``)

Methods (the ``method`` field of every entry, and what ``methods=`` selects):
``original`` (youtube originals, real), ``Deepfakes``, ``Face2Face``, ``FaceSwap``,
``NeuralTextures``, ``FaceShifter``, ``DeepFakeDetection`` (fake) and ``original_actors``
(the DFD actors' originals, real). Short aliases (``df``, ``f2f``, ``fs``, ``nt``, ``fsh``,
``dfd``, ``actors``, ``youtube``) and any capitalisation are accepted.

Splits: the official ``splits/*.json`` are lists of ``[a, b]`` id pairs; the originals ``a``
and ``b`` and the fakes ``a_b`` and ``b_a`` belong to the pair's split (as DeepfakeBench's
``rearrange.py`` does). A fake whose pair is not listed but whose two ids are in the same split
goes there; any other unlisted video is skipped with a warning.

DeepFakeDetection and the actors originals have no official split. Here a video goes to the
split of its *target actor* (the first id: ``01`` in ``01__meeting_serious`` and in
``01_02__meeting_serious__YVGY8LOK``), chosen by :func:`~data_prep.datasets.base.hash_split`
of ``"dfd-actor:<id>"`` (72/14/14). This keeps every scene of one actor's body in one split and
is reproducible without any file beyond the videos. DeepfakeBench instead puts all DFD videos in
every split (it only evaluates on DFD); we differ because CLRNet trains on DFD.

``video_id`` is the file stem (``000``, ``000_003``, ``01__meeting_serious``); it is unique
within ``(dataset, method)``, not across methods (``000_003`` exists in every FF++ method).
"""

from __future__ import annotations

import json
from pathlib import Path

from data_prep.datasets.base import (
    Adapter,
    VideoEntry,
    check_root,
    filter_entries,
    hash_split,
    log,
    normalise_splits,
    video_files,
)
from data_prep.errors import DatasetLayoutError

NAME = "ffpp"
REAL_METHODS: dict[str, str] = {"original": "youtube", "original_actors": "actors"}
FAKE_METHODS: tuple[str, ...] = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures",
                                 "FaceShifter", "DeepFakeDetection")
METHODS: tuple[str, ...] = ("original", *FAKE_METHODS, "original_actors")
#: The methods without an official split (hash split by actor id).
ACTOR_METHODS: frozenset[str] = frozenset({"DeepFakeDetection", "original_actors"})
ALIASES: dict[str, str] = {
    "df": "Deepfakes", "deepfakes": "Deepfakes", "f2f": "Face2Face", "face2face": "Face2Face",
    "fs": "FaceSwap", "faceswap": "FaceSwap", "nt": "NeuralTextures",
    "neuraltextures": "NeuralTextures", "fsh": "FaceShifter", "faceshifter": "FaceShifter",
    "dfd": "DeepFakeDetection", "deepfakedetection": "DeepFakeDetection",
    "original": "original", "youtube": "original", "real": "original",
    "actors": "original_actors", "original_actors": "original_actors",
}
COMPRESSIONS: dict[str, tuple[str, ...]] = {"c0": ("c0", "raw"), "raw": ("raw", "c0"),
                                            "c23": ("c23",), "c40": ("c40",)}
LAYOUT = ("original_sequences/{youtube,actors}/<comp>/videos/*.mp4 and "
          "manipulated_sequences/<Method>/<comp>/videos/*.mp4")


def canonical_method(name: str) -> str:
    """Map a method name or alias to its canonical FF++ spelling.

    Raises:
        ValueError: for an unknown method.
    """
    key = name.strip().lower()
    if key in ALIASES:
        return ALIASES[key]
    raise ValueError(f"unknown FaceForensics++ method {name!r}; expected one of {list(METHODS)}")


def find_root(root: str | Path) -> Path:
    """The directory holding ``original_sequences``/``manipulated_sequences``.

    Accepts the root itself or a parent holding ``FaceForensics++/`` (DeepfakeBench's layout).
    """
    path = check_root(root, LAYOUT)
    for candidate in (path, path / "FaceForensics++"):
        if (candidate / "original_sequences").is_dir() or (candidate / "manipulated_sequences").is_dir():
            return candidate
    raise DatasetLayoutError(f"{path} is not a FaceForensics++ root: no original_sequences/ or "
                             f"manipulated_sequences/ inside (expected {LAYOUT})")


def method_dir(root: Path, method: str) -> Path:
    """The folder holding ``<comp>/videos`` for a canonical method."""
    if method in REAL_METHODS:
        return root / "original_sequences" / REAL_METHODS[method]
    return root / "manipulated_sequences" / method


def videos_dir(root: Path, method: str, compression: str) -> Path | None:
    """``<method dir>/<comp>/videos`` if present (``c0`` and ``raw`` are synonyms), else None."""
    for comp in COMPRESSIONS[compression]:
        candidate = method_dir(root, method) / comp / "videos"
        if candidate.is_dir():
            return candidate
    return None


def find_splits_dir(root: Path, splits_dir: str | Path | None = None) -> Path | None:
    """Where ``train.json``/``val.json``/``test.json`` live, or None if nowhere."""
    candidates = [Path(splits_dir)] if splits_dir is not None else [
        root / "splits", root / "dataset" / "splits", root.parent / "splits"]
    for candidate in candidates:
        if all((candidate / f"{s}.json").is_file() for s in ("train", "val", "test")):
            return candidate
    if splits_dir is not None:
        raise DatasetLayoutError(f"split files {Path(splits_dir)}/{{train,val,test}}.json not found")
    return None


def read_pair_splits(splits_dir: Path) -> tuple[dict[str, str], dict[frozenset[str], str]]:
    """Read the official split files.

    Args:
        splits_dir: folder with ``train.json``, ``val.json``, ``test.json`` (lists of id pairs).

    Returns:
        ``(id -> split, frozenset({a, b}) -> split)``.

    Raises:
        DatasetLayoutError: if a file is not a JSON list of 2-element lists.
    """
    by_id: dict[str, str] = {}
    by_pair: dict[frozenset[str], str] = {}
    for split in ("train", "val", "test"):
        path = splits_dir / f"{split}.json"
        try:
            pairs = json.loads(path.read_text())
            pairs = [[str(a), str(b)] for a, b in pairs]
        except (OSError, ValueError, TypeError) as exc:
            raise DatasetLayoutError(f"{path}: not a JSON list of [id, id] pairs ({exc})") from None
        for a, b in pairs:
            by_id[a] = by_id[b] = split
            by_pair[frozenset((a, b))] = split
    return by_id, by_pair


def youtube_split(stem: str, by_id: dict[str, str], by_pair: dict[frozenset[str], str]) -> str | None:
    """Split of an FF++ youtube-based video (``000`` or ``000_003``), or None if unlisted."""
    ids = stem.split("_")
    if len(ids) == 1:
        return by_id.get(ids[0])
    if len(ids) == 2:
        if frozenset(ids) in by_pair:
            return by_pair[frozenset(ids)]
        a, b = (by_id.get(i) for i in ids)
        return a if a is not None and a == b else None
    return None


def actor_split(stem: str) -> str:
    """Split of a DFD fake or actors original, from its target actor id (the first id)."""
    actor = stem.split("__")[0].split("_")[0]
    return hash_split(f"dfd-actor:{actor}")


def list_videos(root: str | Path, split: str | list[str] | None = None,
                methods: list[str] | None = None, compression: str = "c23", *,
                splits_dir: str | Path | None = None) -> list[VideoEntry]:
    """List FaceForensics++ videos with their labels and official splits.

    Args:
        root: the FF++ root (holding ``original_sequences/`` and ``manipulated_sequences/``).
        split: a split name or list of names; None = all.
        methods: method names or aliases; None = every method present on disk.
        compression: ``c0``/``raw``, ``c23`` or ``c40``.
        splits_dir: folder of the official split json files (default: looked up under root).

    Returns:
        Entries sorted by method then video id.

    Raises:
        DatasetLayoutError: missing/mis-laid root, a requested method absent, no videos,
            or no split files where youtube-based methods need them.

    References:
        ondyari/FaceForensics ``dataset/README.md`` (layout, naming, splits).
    """
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}; expected one of {list(COMPRESSIONS)}")
    wanted_splits = normalise_splits(split)
    base = find_root(root)
    if methods is None:
        chosen = [m for m in METHODS if videos_dir(base, m, compression) is not None]
        if not chosen:
            raise DatasetLayoutError(f"{base}: no <comp>={compression} videos for any method "
                                     f"(expected {LAYOUT.replace('<comp>', compression)})")
    else:
        chosen = list(dict.fromkeys(canonical_method(m) for m in methods))
        for m in chosen:
            if videos_dir(base, m, compression) is None:
                expected = method_dir(base, m) / compression / "videos"
                raise DatasetLayoutError(f"{base}: method {m} has no videos at {expected}")
    by_id: dict[str, str] = {}
    by_pair: dict[frozenset[str], str] = {}
    if any(m not in ACTOR_METHODS for m in chosen):
        found = find_splits_dir(base, splits_dir)
        if found is None:
            raise DatasetLayoutError(f"{base}: no official split files; expected "
                                     f"{base / 'splits'}/{{train,val,test}}.json (pass splits_dir)")
        by_id, by_pair = read_pair_splits(found)
    entries: list[VideoEntry] = []
    for method in chosen:
        folder = videos_dir(base, method, compression)
        assert folder is not None
        files = video_files(folder)
        if not files:
            raise DatasetLayoutError(f"{folder}: no video files")
        unlisted = []
        for path in files:
            stem = path.stem
            if method in ACTOR_METHODS:
                video_split = actor_split(stem)
            else:
                video_split = youtube_split(stem, by_id, by_pair)
            if video_split is None:
                unlisted.append(stem)
                continue
            label = 0 if method in REAL_METHODS else 1
            entries.append(VideoEntry(path, label, stem, NAME, method, video_split))
        if unlisted:
            log.warning("%s: %d video(s) in no official split skipped (e.g. %s)", folder,
                        len(unlisted), unlisted[0])
    return filter_entries(entries, wanted_splits)


ADAPTER = Adapter(NAME, list_videos, METHODS,
                  "FaceForensics++ (+DeepFakeDetection): official layout and splits/*.json")
