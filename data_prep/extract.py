"""Videos of a dataset -> TFRecord shards of aligned face clips + a per-video manifest.

``prepare()`` lists a dataset through its adapter (:mod:`data_prep.datasets`), samples clips
per video (CLRNet: consecutive 5-frame clips from the start, as the official ``DFVDSequence``
reads the first 80 frames; Masi et al.: windows of consecutive frames; or clips spread evenly),
extracts aligned faces with :class:`data_prep.faces.FaceExtractor` and writes one record per clip
through :func:`data_prep.records.encode_clip`.

Output (``out`` = the ``--out`` folder)::

    out/<dataset>/<method>/<split>/<video>-00000.n0016.tfrecord   one small shard per video
    out/<dataset>/manifest.csv + .json                             (manifest.shard-I-of-N.* with --shard)
    out/<dataset>/journal.jsonl                                    (journal.shard-I-of-N.jsonl)
    out/<dataset>/config.json                                      extraction settings
    out/<dataset>/.extract.lock                                    while a run works (.extract.shard-I-of-N.lock)

A clip is written only when every one of its frames has a face (the face extractor flags frames
without one; CLRNet's clips are consecutive face frames). A video with no such clip gets status
``no_face`` and no shard; one that cannot be read gets ``error``; both are logged in one line.

Crash safety: a video's shards are written under temporary names unique to their writer
(``*.p<pid>-<token>.tfrecord.tmp``) and renamed when complete; only then is its manifest row
appended (and fsync'ed) to the journal. A re-run skips every video in the journal whose shards
exist, deletes any leftover (``.tmp`` or unjournaled) files of the videos it redoes, and rewrites
the manifest from the journal, so a crash at any point never leaves a video half counted.
Re-running into an ``out`` made with different settings is refused.

One row per video: the journal and the manifest hold at most one row per
:data:`data_prep.records.MANIFEST_KEY`. Where a journal has several (appended by an older
version's concurrent runs), the last row whose shards are all on disk wins, else the last row
(:func:`data_prep.records.dedupe_rows`); a re-run rewrites such a journal and its manifest.

Concurrency: a run holds a :class:`data_prep.locking.FolderLock` on ``(out/<dataset>, shard)``
(lock file ``.extract[.shard-I-of-N].lock``) from before it lists the dataset until its manifest
is written. A second run of the same shard into the same folder stops at once with one line
naming the first (CLI exit status 3); a stale lock of a killed run is taken over. Different
shards of one ``N`` hold different locks and run side by side: their videos are disjoint, so
they never write, rename or delete each other's files, and ``config.json`` is created under a
short lock of its own. A run with another ``N`` (whose videos overlap) is refused while one is
running, and ``merge-manifests`` holds the whole-dataset lock while it writes ``manifest.csv``.

Frame counts: a video whose container count is only an estimate (variable-frame-rate Matroska or
WebM) is counted by decoding (:func:`data_prep.video.probe` with ``count_frames="auto"``), so
clips are sampled over frames that exist and the manifest's ``video_frames`` is true.

``--shard I/N`` keeps the videos whose SHA-1 of ``dataset/method/video_id`` is ``I`` modulo ``N``:
job-array tasks split a dataset with no coordination, each writing its own journal and manifest;
:func:`data_prep.records.read_manifest` on the folder merges them (or ``merge-manifests``).

No official extraction code exists for CLRNet (its repository starts from extracted frames) or
Masi et al.; the face pipeline (MTCNN, 5-point alignment, margin 1.3) follows common practice
(DeepfakeBench, FaceForensics++), see :mod:`data_prep.faces`.

Size: over 700 lines for one job (resumable extraction): planning, workers, shard
writing, locks, manifest repair and resume share the same state.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from data_prep.datasets import Adapter, VideoEntry, get_adapter, stable_hash
from data_prep.errors import DataPrepError
from data_prep.fileio import write_json_atomic, write_text_atomic
from data_prep.locking import FolderLock, LockHeldError, lock_holder
from data_prep.video import (
    clrnet_clips,
    evenly_spaced,
    evenly_spaced_clips,
    masi_inference_frames,
    masi_windows,
    probe,
)

log = logging.getLogger("data_prep.extract")

SAMPLINGS: tuple[str, ...] = ("clrnet", "masi", "masi_train", "masi_eval", "even")
#: Masi et al.'s inference sampling: one frame in seven (Sec. 4, "Implementation").
MASI_EVAL_STEP = 7
#: Samplings whose clips are not consecutive frames: MTCNN runs on every sampled frame and a
#: face track bridges up to this many video frames between detections.
SPARSE_SAMPLING_GAP = {"masi_train": 24, "masi_eval": 2 * MASI_EVAL_STEP}
DONE_STATUSES: frozenset[str] = frozenset({"ok", "no_face", "error"})


class ConfigMismatchError(DataPrepError):
    """The output folder was prepared with different extraction settings."""


@dataclass(frozen=True)
class ExtractConfig:
    """Extraction settings that determine the records' content (stored in ``config.json``).

    Args:
        clip_len: frames per clip.
        clips_per_video: clips sampled per video (at most).
        sampling: one of :data:`SAMPLINGS` (see :func:`sample_clips`).
        size: side of the aligned face crops.
        margin: crop enlargement around the aligned face.
        compression: the FF++ compression read (recorded for every dataset).
        max_records: records per shard file.
    """

    clip_len: int = 5
    clips_per_video: int = 16
    sampling: str = "clrnet"
    size: int = 240
    margin: float = 1.3
    compression: str = "c23"
    max_records: int = 1024


@dataclass
class RunResult:
    """What one extraction run did.

    Args:
        manifest: path of the manifest CSV written.
        selected: videos selected for this shard (after ``limit``).
        skipped: videos already done by an earlier run.
        counts: status -> number of videos processed in this run.
    """

    manifest: Path
    selected: int = 0
    skipped: int = 0
    counts: Counter = field(default_factory=Counter)


def sample_clips(frame_count: int, sampling: str, clip_len: int, clips_per_video: int) -> list[list[int]]:
    """Frame indices of the clips (records) to extract from a video.

    Args:
        frame_count: frames in the video.
        sampling: one of :data:`SAMPLINGS`:

            * ``clrnet``: consecutive non-overlapping clips from the start (the official
              ``DFVDSequence``: the first ``clips_per_video x clip_len`` frames);
            * ``masi``: non-overlapping windows of consecutive frames, at most
              ``clips_per_video`` of them spread over the video;
            * ``masi_train``: ``clips_per_video x clip_len`` frames evenly spaced over the
              video (Masi et al.: 270 frames per training video), stored in consecutive groups
              of ``clip_len`` (27 records of 10); a shorter video gives all its frames;
            * ``masi_eval``: one record per video holding one frame in seven, at most
              ``clip_len`` of them (Masi et al.: 110 frames per val/test video; the pipeline
              evaluates every window of 10 of them, ``get_dataset(window_hop=1)``);
            * ``even``: ``clips_per_video`` clips of consecutive frames spread evenly.
        clip_len: frames per clip (``masi_eval``: frames per record).
        clips_per_video: maximum number of clips (``masi_eval``: ignored, one record).

    Returns:
        A list of clips, each a list of frame indices in increasing order.

    References:
        Tariq et al. WWW'21 / ``shahroztariq/CLRNet`` ``src/DFVDSequence.py`` (clrnet);
        Masi et al. ECCV'20 Sec. 4, "Settings" (270 / 110 frames per video, following
        FaceForensics++) and "Implementation" (1 frame over 7 at inference).
    """
    if sampling == "clrnet":
        return clrnet_clips(frame_count, clip_len=clip_len, num_clips=clips_per_video)
    if sampling == "masi":
        windows = masi_windows(frame_count, window=clip_len)
        if len(windows) <= clips_per_video:
            return windows
        return [windows[i] for i in evenly_spaced(len(windows), clips_per_video)]
    if sampling == "masi_train":
        want = clips_per_video * clip_len
        frames = (list(range(max(frame_count, 0))) if frame_count <= want
                  else evenly_spaced(frame_count, want))
        n = len(frames) // clip_len
        return [frames[i * clip_len:(i + 1) * clip_len] for i in range(n)]
    if sampling == "masi_eval":
        frames = masi_inference_frames(frame_count, MASI_EVAL_STEP)[:clip_len]
        return [frames] if frames else []
    if sampling == "even":
        return evenly_spaced_clips(frame_count, clip_len, clips_per_video)
    raise ValueError(f"unknown sampling {sampling!r}; expected one of {list(SAMPLINGS)}")


def parse_shard(text: str | Sequence[int]) -> tuple[int, int]:
    """Parse ``"i/N"`` (or a pair) into ``(i, N)`` with ``0 <= i < N``.

    Raises:
        ValueError: for a malformed or out-of-range shard.
    """
    if isinstance(text, str):
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if match is None:
            raise ValueError(f"--shard must look like i/N (e.g. 0/4), got {text!r}")
        index, total = int(match[1]), int(match[2])
    else:
        index, total = (int(v) for v in text)
    if total < 1 or not 0 <= index < total:
        raise ValueError(f"shard {index}/{total} out of range: need 0 <= i < N")
    return index, total


def in_shard(entry: VideoEntry, shard: tuple[int, int]) -> bool:
    """Whether ``entry`` belongs to ``shard = (i, N)`` (stable SHA-1 of its key, modulo N)."""
    index, total = shard
    return stable_hash(entry.key) % total == index


def limit_videos(entries: Sequence[VideoEntry], limit: int | None) -> list[VideoEntry]:
    """At most ``limit`` entries, taken round-robin across methods (so both labels appear)."""
    if limit is None or limit >= len(entries):
        return list(entries)
    groups: dict[str, list[VideoEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.method, []).append(entry)
    iterators = [iter(g) for g in groups.values()]
    chosen: list[VideoEntry] = []
    while len(chosen) < limit:
        for it in iterators:
            entry = next(it, None)
            if entry is not None and len(chosen) < limit:
                chosen.append(entry)
    return sorted(chosen, key=lambda e: (e.method, e.video_id))


def file_prefix(video_id: str) -> str:
    """A file-name-safe prefix for a video id (a short hash is added if characters changed)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", video_id).strip("._") or "video"
    if safe != video_id:
        safe = f"{safe}~{stable_hash(video_id) % 16**8:08x}"
    return safe


def shard_tag(shard: tuple[int, int]) -> str:
    """``""`` for the whole dataset, ``".shard-I-of-N"`` for a part."""
    index, total = shard
    return "" if total == 1 else f".shard-{index}-of-{total}"


def _remove_leftovers(directory: Path, prefix: str) -> None:
    """Delete any shard or ``.tmp`` file of ``prefix`` (an unfinished earlier attempt).

    Only the run holding the extraction lock of the shard that owns the video calls this, so
    no live writer of ``prefix`` exists: shards of one ``N`` have disjoint videos, hence
    disjoint prefixes, and runs of another ``N`` are refused while one runs.
    """
    from data_prep.records import TMP_SHARD_RE

    if not directory.is_dir():
        return
    final = re.compile(rf"^{re.escape(prefix)}-\d{{5}}\.n\d+\.tfrecord$")
    for path in directory.iterdir():
        if final.match(path.name):
            path.unlink(missing_ok=True)
            continue
        tmp = TMP_SHARD_RE.match(path.name)
        if tmp is not None and tmp["prefix"] == prefix:
            path.unlink(missing_ok=True)


def _row(entry: VideoEntry, **values: object) -> dict:
    row = {"video_id": entry.video_id, "dataset": entry.dataset, "method": entry.method,
           "split": entry.split, "label": entry.label, "source_path": str(entry.path),
           "status": "error", "clips_written": 0, "frames_total": 0, "frames_without_face": 0,
           "video_frames": 0, "error": "", "shards": []}
    row.update(values)
    return row


def process_video(entry: VideoEntry, dataset_dir: Path, extractor: object,
                  config: ExtractConfig) -> dict:
    """Extract, encode and write the clips of one video; never raises for a bad video.

    Args:
        entry: the video.
        dataset_dir: ``out/<dataset>``.
        extractor: a :class:`data_prep.faces.FaceExtractor`.
        config: extraction settings.

    Returns:
        The video's manifest row (``status`` ``ok``, ``no_face`` or ``error``); ``shards`` are
        paths relative to ``dataset_dir``.
    """
    from data_prep.records import ClipMeta, ShardWriter, encode_clip

    directory = dataset_dir / entry.method / entry.split
    prefix = file_prefix(entry.video_id)
    _remove_leftovers(directory, prefix)
    writer = ShardWriter(directory, prefix, max_records=config.max_records)
    frames_total = frames_without_face = clips_written = video_frames = 0
    try:
        # An estimated container count (VFR mkv/webm) is replaced by the decoded count.
        video_frames = probe(entry.path, count_frames="auto").frame_count
        clips = sample_clips(video_frames, config.sampling, config.clip_len, config.clips_per_video)
        if not clips:
            raise DataPrepError(f"video too short: {video_frames} frames < one clip of "
                                f"{config.clip_len}", entry.path)
        for clip_index, clip in enumerate(extractor.extract_clips(str(entry.path), clips)):
            frames_total += len(clip.frame_indices)
            missing = sum(1 for has in clip.has_face if not has)
            frames_without_face += missing
            if clip.faces is None or missing:
                continue  # only clips with a face in every frame are written
            meta = ClipMeta(label=entry.label, video_id=entry.video_id, dataset=entry.dataset,
                            method=entry.method, split=entry.split, source_path=str(entry.path),
                            clip_index=clip_index, frame_indices=list(clip.frame_indices))
            writer.write(encode_clip(clip.faces, meta))
            clips_written += 1
        paths = writer.close()
    except Exception as exc:  # one bad video must not stop the others
        writer.abort()
        for path in writer.paths:
            path.unlink(missing_ok=True)
        message = str(exc) if isinstance(exc, DataPrepError) else f"{type(exc).__name__}: {exc}"
        if str(entry.path) not in message:
            message = f"{entry.path}: {message}"
        return _row(entry, status="error", error=" ".join(message.split()),
                    video_frames=video_frames, frames_total=frames_total,
                    frames_without_face=frames_without_face)
    status, error = "ok", ""
    if clips_written == 0:
        status = "no_face"
        if frames_without_face == frames_total:
            error = f"{entry.path}: no face found in any of the {frames_total} sampled frames"
        else:
            error = (f"{entry.path}: a face in only {frames_total - frames_without_face} of "
                     f"{frames_total} sampled frames; no clip had a face in every frame")
    return _row(entry, status=status, error=error, clips_written=clips_written,
                frames_total=frames_total, frames_without_face=frames_without_face,
                video_frames=video_frames,
                shards=[p.relative_to(dataset_dir).as_posix() for p in paths])


# --- journal -------------------------------------------------------------------------------

def _journal_lines(path: Path) -> tuple[list[dict], int]:
    """Parsed rows of a journal in write order, and the number of unparseable lines."""
    rows, bad = [], 0
    if not path.is_file():
        return rows, bad
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if isinstance(row, dict) and "method" in row and "video_id" in row:
            rows.append(row)
        else:
            bad += 1
    return rows, bad


def read_journal(path: Path) -> dict[tuple[str, ...], dict]:
    """Rows of a journal keyed by :func:`data_prep.records.manifest_key`.

    A torn line is ignored (with a warning). A video with several rows gets the one chosen by
    :func:`data_prep.records.dedupe_rows` (the last that matches the files on disk, else the
    last), shard paths relative to the journal's folder: the same rule as the manifest.
    """
    from data_prep.records import dedupe_rows, manifest_key

    rows, bad = _journal_lines(path)
    if bad:
        log.warning("%s: ignoring %d incomplete journal line(s) (interrupted write)", path, bad)
    return {manifest_key(row): row for row in dedupe_rows(rows, path.parent)}


def repair_journal(path: Path) -> None:
    """Make a journal safe to append to, with one row per video.

    A torn last line (a write interrupted by a crash) is cut. A journal with several rows for
    one video, or an unparseable line before the last, is rewritten atomically with the rows
    :func:`read_journal` keeps. Call it only while holding the shard's extraction lock.
    """
    from data_prep.records import dedupe_rows

    if not path.is_file():
        return
    rows, bad = _journal_lines(path)
    kept = dedupe_rows(rows, path.parent)
    data = path.read_bytes()
    torn_tail_only = bad == 1 and not data.endswith(b"\n")
    if len(kept) < len(rows) or (bad and not torn_tail_only):
        log.warning("%s: rewriting the journal with one row per video (%d duplicate and %d "
                    "unreadable line(s) dropped)", path, len(rows) - len(kept), bad)
        write_text_atomic(path, "".join(json.dumps(row) + "\n" for row in kept))
    elif data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def append_journal(path: Path, row: dict) -> None:
    """Append one row to the journal and fsync it (the video counts as done from here on)."""
    with path.open("a") as handle:
        handle.write(json.dumps(row) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _is_done(row: dict | None, dataset_dir: Path, retry_errors: bool) -> bool:
    if row is None or row.get("status") not in DONE_STATUSES:
        return False
    if retry_errors and row["status"] == "error":
        return False
    return all((dataset_dir / s).is_file() for s in row.get("shards", []))


def _check_config(dataset_dir: Path, config: ExtractConfig) -> None:
    """Store ``config`` in ``config.json``, or refuse if the folder has other settings.

    Concurrent first runs (several shards) check and create the file under a short lock of
    their own, so exactly one writes it and the others compare against it.
    """
    path = dataset_dir / "config.json"
    wanted = asdict(config)
    with FolderLock(dataset_dir, what=f"the settings check of {dataset_dir}", name="config",
                    timeout=60):
        if not path.is_file():
            write_json_atomic(path, wanted, indent=1)
            return
        try:
            stored = json.loads(path.read_text())
        except ValueError as exc:
            raise ConfigMismatchError(f"unreadable extraction settings ({exc}); delete it or "
                                      f"use another --out", path) from None
    if stored != wanted:
        diff = {k: (stored.get(k), v) for k, v in wanted.items() if stored.get(k) != v}
        raise ConfigMismatchError(f"{dataset_dir} was prepared with other settings "
                                  f"(stored, requested: {diff}); use another --out")


#: Extraction lock files: ``.extract.lock`` (whole dataset) or ``.extract.shard-I-of-N.lock``.
_EXTRACT_LOCK_RE = re.compile(r"^\.extract(?:\.shard-(\d+)-of-(\d+))?\.lock$")


def extraction_lock(dataset_dir: str | os.PathLike, shard: tuple[int, int] | str,
                    dataset: str | None = None, what: str | None = None) -> FolderLock:
    """The lock a run holds on ``(dataset_dir, shard)`` (not yet acquired).

    ``merge-manifests`` holds the ``(dataset_dir, 0/1)`` lock too, as it writes the same
    ``manifest.csv`` as a whole-dataset run.

    Args:
        dataset_dir: ``out/<dataset>``.
        shard: ``(i, N)`` or ``"i/N"``.
        dataset: dataset name for the message (default: the folder's name).
        what: the holder's description (default: ``extraction of <dataset>[ shard i/N] into
            <dataset_dir>``).

    Returns:
        A :class:`data_prep.locking.FolderLock` on ``dataset_dir/.extract[.shard-I-of-N].lock``.
    """
    dataset_dir = Path(dataset_dir)
    index, total = parse_shard(shard)
    part = "" if total == 1 else f" shard {index}/{total}"
    return FolderLock(dataset_dir, name=f"extract{shard_tag((index, total))}",
                      what=what or (f"extraction of {dataset or dataset_dir.name}{part} into "
                                    f"{dataset_dir}"),
                      hint="or extract into another --out")


def _refuse_overlapping_runs(dataset_dir: Path, shard: tuple[int, int], what: str) -> None:
    """Refuse while a run with another shard count ``N`` (overlapping videos) works here."""
    for lock_file in sorted(dataset_dir.glob(".extract*.lock")):
        match = _EXTRACT_LOCK_RE.match(lock_file.name)
        if match is None:
            continue
        total = int(match[2]) if match[2] else 1
        if total == shard[1]:
            continue  # the same N: disjoint videos (or this run's own lock)
        owner = lock_holder(lock_file)
        if owner is not None:
            raise LockHeldError(
                f"cannot start {what}: {owner.describe()} holds {lock_file}, for videos that "
                f"overlap these; wait for it, or split with the same N", lock_file, owner)


def _new_dirs(path: Path) -> list[Path]:
    """``path`` and its missing ancestors that do not exist yet, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


# --- workers -------------------------------------------------------------------------------

_WORKER_EXTRACTOR = None


def _make_extractor(config: ExtractConfig) -> object:
    from data_prep.faces import FaceExtractor  # heavy (TensorFlow, MTCNN): import lazily

    gap = SPARSE_SAMPLING_GAP.get(config.sampling)
    if gap is not None:  # strided frames: detect every sampled frame, bridge the stride
        return FaceExtractor(output_size=config.size, margin=config.margin, detect_every=1,
                             max_gap=gap)
    return FaceExtractor(output_size=config.size, margin=config.margin)


def _init_worker(config: ExtractConfig) -> None:
    global _WORKER_EXTRACTOR
    from data_prep.tfquiet import import_quietly

    import_quietly()  # a spawned worker: no TensorFlow start-up lines under the progress bar
    _WORKER_EXTRACTOR = _make_extractor(config)


def _work(job: tuple[VideoEntry, Path, ExtractConfig]) -> dict:
    entry, dataset_dir, config = job
    return process_video(entry, dataset_dir, _WORKER_EXTRACTOR, config)


def _results(todo: list[VideoEntry], dataset_dir: Path, config: ExtractConfig,
             workers: int) -> Iterator[dict]:
    if workers <= 1 or len(todo) <= 1:
        extractor = _make_extractor(config)
        for entry in todo:
            yield process_video(entry, dataset_dir, extractor, config)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(workers, len(todo)), initializer=_init_worker,
                      initargs=(config,)) as pool:
        yield from pool.imap_unordered(_work, [(e, dataset_dir, config) for e in todo])


# --- entry points --------------------------------------------------------------------------

def run_extraction(dataset: str, root: str | os.PathLike, out: str | os.PathLike, *,
                   methods: Sequence[str] | None = None, compression: str = "c23",
                   splits: Sequence[str] | str | None = None, clip_len: int = 5,
                   clips_per_video: int = 16, sampling: str = "clrnet", size: int = 240,
                   margin: float = 1.3, workers: int = 1, shard: tuple[int, int] | str = (0, 1),
                   limit: int | None = None, progress: bool = True, retry_errors: bool = False,
                   max_records: int = 1024) -> RunResult:
    """:func:`prepare` returning a :class:`RunResult` (used by the CLI for its exit status).

    Raises:
        LockHeldError: another run extracts the same shard into the same folder (or a shard
            of another ``N``, whose videos overlap).
    """
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}; expected one of {list(SAMPLINGS)}")
    if clip_len < 1 or clips_per_video < 1 or size < 8 or margin <= 0:
        raise ValueError("clip_len and clips_per_video must be >= 1, size >= 8 and margin > 0")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    shard = parse_shard(shard)
    config = ExtractConfig(clip_len=clip_len, clips_per_video=clips_per_video, sampling=sampling,
                           size=size, margin=float(margin), compression=compression,
                           max_records=max_records)
    adapter = get_adapter(dataset)
    dataset_dir = Path(out).expanduser() / adapter.name
    created = _new_dirs(dataset_dir)
    lock = extraction_lock(dataset_dir, shard, adapter.name)
    lock.acquire()
    try:
        _refuse_overlapping_runs(dataset_dir, shard, lock.what)
        return _run_locked(adapter, root, dataset_dir, config, shard=shard, methods=methods,
                           compression=compression, splits=splits, workers=workers,
                           limit=limit, progress=progress, retry_errors=retry_errors)
    finally:
        lock.release()
        for folder in created:  # a run that failed before writing anything leaves no folder
            try:
                folder.rmdir()
            except OSError:
                break


def _run_locked(adapter: Adapter, root: str | os.PathLike, dataset_dir: Path,
                config: ExtractConfig, *, shard: tuple[int, int],
                methods: Sequence[str] | None, compression: str,
                splits: Sequence[str] | str | None, workers: int, limit: int | None,
                progress: bool, retry_errors: bool) -> RunResult:
    """The body of :func:`run_extraction`, run while holding the shard's lock."""
    from data_prep.tfquiet import import_quietly

    # data_prep.records loads TensorFlow; it is imported only now, so that a run refused by
    # its lock stops at once, and quietly (no C++ start-up chatter around the one-line output).
    import_quietly()
    from data_prep.records import manifest_key, write_manifest

    dataset = adapter.name
    entries = adapter.list_videos(root, split=splits, methods=list(methods) if methods else None,
                                  compression=compression)
    selected = limit_videos([e for e in entries if in_shard(e, shard)], limit)
    _check_config(dataset_dir, config)
    tag = shard_tag(shard)
    journal_path = dataset_dir / f"journal{tag}.jsonl"
    manifest_path = dataset_dir / f"manifest{tag}.csv"
    repair_journal(journal_path)
    journal = read_journal(journal_path)
    todo = [e for e in selected
            if not _is_done(journal.get((e.dataset, e.method, e.video_id)), dataset_dir,
                            retry_errors)]
    result = RunResult(manifest_path, selected=len(selected), skipped=len(selected) - len(todo))
    if not selected:
        log.warning("no %s videos match (split=%s, methods=%s, shard %d/%d)", dataset, splits,
                    methods, *shard)
    elif not todo:
        log.info("all %d selected videos already done in %s", len(selected), dataset_dir)
    else:
        log.info("%s: %d videos selected, %d already done, %d to extract -> %s", dataset,
                 len(selected), result.skipped, len(todo), dataset_dir)
    start = time.monotonic()
    try:
        with logging_redirect_tqdm():
            bar = tqdm(total=len(todo), desc=f"extract {dataset}", unit="video",
                       disable=not progress or not todo)
            for row in _results(todo, dataset_dir, config, workers) if todo else ():
                append_journal(journal_path, row)
                journal[manifest_key(row)] = row
                result.counts[row["status"]] += 1
                if row["status"] != "ok":
                    log.warning("%s: %s", row["status"], row["error"])
                bar.set_postfix(result.counts, refresh=False)
                bar.update()
            bar.close()
    finally:
        write_manifest(list(journal.values()), manifest_path, config=asdict(config))
    if todo:
        log.info("done in %.1f s: %s; manifest %s", time.monotonic() - start,
                 dict(result.counts), manifest_path)
    return result


def prepare(dataset: str, root: str | os.PathLike, out: str | os.PathLike, *,
            methods: Sequence[str] | None = None, compression: str = "c23",
            splits: Sequence[str] | str | None = None, clip_len: int = 5,
            clips_per_video: int = 16, sampling: str = "clrnet", size: int = 240,
            margin: float = 1.3, workers: int = 1, shard: tuple[int, int] | str = (0, 1),
            limit: int | None = None, progress: bool = True, retry_errors: bool = False) -> Path:
    """Extract aligned face clips of a dataset into TFRecord shards; resumable.

    Args:
        dataset: adapter name (``ffpp``, ``celebdf``, ``dfdc_preview``, ``folder``).
        root: the dataset root in its published layout.
        out: output folder; records go to ``out/<dataset>/<method>/<split>/``.
        methods: methods to extract (adapter names/aliases); None = all.
        compression: FF++ compression (``c0``/``raw``, ``c23``, ``c40``).
        splits: split name(s) to extract; None = all.
        clip_len: frames per clip (5 for CLRNet, 10 for Masi et al.).
        clips_per_video: clips per video (16 for CLRNet = 80 frames).
        sampling: ``clrnet``, ``masi`` or ``even`` (see :func:`sample_clips`).
        size: side of the aligned crops (240 CLRNet, 224 Masi et al., 256 MesoNet).
        margin: crop margin around the aligned face.
        workers: processes (spawned; each builds its own face extractor).
        shard: ``(i, N)`` or ``"i/N"``: process only this part of the dataset.
        limit: at most this many videos (round-robin over methods); None = all.
        progress: show a tqdm progress bar.
        retry_errors: also redo videos whose earlier attempt ended in ``error``.

    Returns:
        The manifest CSV path (``out/<dataset>/manifest[.shard-I-of-N].csv``).

    Raises:
        DatasetLayoutError: empty or mis-laid root.
        ConfigMismatchError: ``out`` holds records made with other settings.
        LockHeldError: another run extracts the same shard into ``out`` right now.
        ValueError: invalid argument.
    """
    return run_extraction(dataset, root, out, methods=methods, compression=compression,
                          splits=splits, clip_len=clip_len, clips_per_video=clips_per_video,
                          sampling=sampling, size=size, margin=margin, workers=workers,
                          shard=shard, limit=limit, progress=progress,
                          retry_errors=retry_errors).manifest


def merge_manifests(out: str | os.PathLike, dataset: str | None = None) -> list[Path]:
    """Merge per-shard manifests into ``out/<dataset>/manifest.csv`` (+ ``.json``).

    Args:
        out: the extraction output folder.
        dataset: only this dataset; None = every dataset folder with shard manifests.

    Returns:
        The merged manifest paths written.

    Raises:
        DataPrepError: no shard manifest found.
    """
    out = Path(out)
    folders = [out / dataset] if dataset else sorted(p for p in out.iterdir() if p.is_dir())
    written = []
    for folder in folders:
        parts = sorted(folder.glob("manifest.shard-*-of-*.csv"))
        if not parts:
            continue
        # manifest.csv is also what a whole-dataset run writes: hold its lock meanwhile.
        with extraction_lock(folder, (0, 1), what=f"merge-manifests of {folder}"):
            written.append(_merge_folder(folder))
    if not written:
        raise DataPrepError("no per-shard manifests (manifest.shard-I-of-N.csv) to merge", out)
    return written


def _merge_folder(folder: Path) -> Path:
    """Merge the manifests of one dataset folder into its ``manifest.csv`` (+ ``.json``)."""
    from data_prep.records import MANIFEST_COLUMNS, read_manifest, write_manifest

    frames = read_manifest(folder)
    rows = []
    for row in frames.to_dict("records"):
        row["shards"] = [Path(s).relative_to(folder.resolve()).as_posix() for s in row["shards"]]
        rows.append({c: row[c] for c in MANIFEST_COLUMNS})
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else None
    return write_manifest(rows, folder / "manifest.csv", config=config)
