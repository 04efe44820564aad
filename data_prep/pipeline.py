"""Training/evaluation input pipeline over the clip TFRecords (``get_dataset``).

Reads the records written through :mod:`data_prep.records` (one record = one clip of ``T``
frames) and yields batches of float32 RGB in [0, 1], ``(batch, frames, H, W, 3)``, or single
frames ``(batch, H, W, 3)`` for frame-based baselines.

Order of operations (per epoch):

1. validate every file before any graph is built (exists, non-empty, every record's metadata
   parses, the first frame of the first record decodes) and build a clip *index* (one row per
   record, see :func:`video_index`);
2. apply the sampling policy (:mod:`data_prep.sampling`) to the index, giving the epoch's
   *plan*: which records, how many times;
3. parallel interleaved read of the files holding planned records (file order shuffled per
   epoch when training), keeping planned records only (repeated as planned);
4. shuffle (training only) -- on the serialised records, before decoding, by permuting
   windows of ``shuffle_buffer`` records with stateless random ops (:func:`_permute_windows`);
5. parse, decode (only the frames kept), resize, augment (training only) in one parallel map;
6. batch, then prefetch last.

Shuffling happens on the serialised records before decoding, not after the decode and the
augmentation. The distribution is the same, but a buffer of 1024 decoded
5x240x240 float clips would hold 3.5 GB, whereas 1024 serialised clips hold ~100 MB.

Reproducibility: the plan is a function of ``(seed, epoch)``; file order and shuffle seeds are
derived from ``(seed, epoch)``; each clip's augmentation is drawn with stateless random ops
from ``(seed, epoch, record id, copy)``, so it does not depend on read order. Nothing depends
on TensorFlow's global seed. Evaluation order is deterministic and un-augmented.

Records are read sequentially and filtered (TFRecord has no random access), so a stratified
epoch reads every window of every selected file but decodes only the planned ones.

Which records: one or several :class:`Selection` s (methods, datasets, splits, a split rule of
:mod:`data_prep.splits` applied at read time, optionally K videos per class); the index is the
union of their rows, each record once, so merged domains that share real videos count each
video once and the real class is never split by domain.

Masi et al. evaluation (``window_hop=1``): every window of ``frames`` consecutive stored frames
of each record is one sample (hop 1 over the 110 frames stored one in seven per video: 101
sequences per video), cut from the decoded record in the pipeline instead of being stored.

References:
    TensorFlow guide "Better performance with the tf.data API" (interleave, parallel map,
    prefetch last); ``shahroztariq/CLRNet`` ``src/DFVDSequence.py`` (clip sampling and per-clip
    augmentation); Masi et al., ECCV'20, Sec. 3-4 (stratified epochs).

Size: over 800 lines for one job (tf.data over clip records): reading, the papers'
samplings (stratified epochs, windows, balance), augmentation and batching in canonical order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from glob import glob
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from data_prep import records as _records
from data_prep import sampling as _sampling
from data_prep import splits as _splits
from data_prep.augment import CLRNET_AUGMENT, AugmentConfig, augment_clip
from data_prep.errors import DataPrepError
from data_prep.records import FEATURE_SPEC, parse_clip
from data_prep.sampling import class_weights, select_videos_per_domain, stratified_epoch

__all__ = ["PipelineError", "Selection", "get_dataset", "video_index", "filter_index",
           "select_index", "resolve_files", "plan_epoch", "stratified_epoch",
           "select_videos_per_domain", "class_weights"]

SAMPLINGS = ("all", "clrnet", "stratified")
BALANCES = (None, "weights", "batches")
META_KEYS = ("video_id", "method", "clip_index", "dataset")
_META_SPEC = {k: v for k, v in FEATURE_SPEC.items() if k != "frames"}
_INDEX_COLUMNS = ["file", "file_index", "position", "gid", "video_id", "label", "method", "split",
                  "dataset", "clip_index", "num_frames", "height", "width", "first_frame"]


class PipelineError(DataPrepError):
    """Bad pipeline input: missing/corrupt TFRecord, manifest pointing at nothing, empty split."""


# --------------------------------------------------------------------------- file resolution

def _select(source: Path, methods: Sequence[str] | None, splits: Sequence[str] | None,
            datasets: Sequence[str] | None) -> list[str]:
    """``records.select_records`` with its errors re-raised as :class:`PipelineError`."""
    try:
        return [str(f) for f in _records.select_records(source, methods=methods, splits=splits,
                                                        datasets=datasets)]
    except DataPrepError as exc:
        raise PipelineError(str(exc)) from exc


def resolve_files(files_or_manifest: str | os.PathLike | Sequence[str | os.PathLike], *,
                  methods: Sequence[str] | None = None, splits: Sequence[str] | None = None,
                  datasets: Sequence[str] | None = None) -> list[str]:
    """Turn a list of ``.tfrecord`` paths, a directory or a manifest into a sorted file list.

    Args:
        files_or_manifest: list of TFRecord paths; a directory (searched recursively for
            ``*.tfrecord``); a single ``.tfrecord``; or a manifest (``.csv``/``.json``).
        methods: methods to keep (manifest-level filter; the index is filtered again later).
        splits: splits to keep (idem).
        datasets: datasets to keep (idem).

    Returns:
        Sorted, de-duplicated paths.

    Raises:
        PipelineError: nothing found, or a path that does not exist.
    """
    if isinstance(files_or_manifest, (str, os.PathLike)):
        src = Path(files_or_manifest)
        if not src.exists():
            raise PipelineError("input not found (expected TFRecord files, a directory or a manifest)", src)
        if src.is_dir():
            # Manifests or the <dataset>/<method>/<split>/ layout narrow the files to read;
            # otherwise every *.tfrecord below (the index filters records afterwards).
            files = _select(src, methods, splits, datasets)
            files = files or sorted(glob(str(src / "**" / "*.tfrecord"), recursive=True))
            if not files:
                raise PipelineError("no *.tfrecord files under directory", src)
            return files
        if src.suffix.lower() in (".csv", ".json"):
            files = _select(src, methods, splits, datasets)
            if not files:
                raise PipelineError(f"manifest lists no TFRecord shard for methods={methods}, "
                                    f"splits={splits}, datasets={datasets}", src)
            return files
        return [str(src)]
    files = [os.fspath(f) for f in files_or_manifest]
    if not files:
        raise PipelineError("empty list of TFRecord files given to get_dataset")
    return sorted(dict.fromkeys(files))


# --------------------------------------------------------------------------------- the index

def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise PipelineError("TFRecord file not found", path)
    if os.path.isdir(path):
        raise PipelineError("expected a TFRecord file, got a directory", path)
    if os.path.getsize(path) == 0:
        raise PipelineError("empty TFRecord file (0 bytes)", path)


def _meta_records(files: list[str]) -> tf.data.Dataset:
    """(file_index, position, metadata, first-frame shape) of every record, in file order.

    The first record of each file also has its first JPEG decoded (cheap corruption check).
    """
    def per_file(fi: tf.Tensor, path: tf.Tensor) -> tf.data.Dataset:
        def parse(pos: tf.Tensor, s: tf.Tensor):
            meta = tf.io.parse_single_example(s, _META_SPEC)
            jpegs = tf.io.parse_single_example(s, {"frames": FEATURE_SPEC["frames"]})["frames"]
            shape = tf.cond(
                pos == 0,
                lambda: tf.shape(tf.io.decode_jpeg(jpegs[0], channels=3), out_type=tf.int64),
                lambda: tf.constant([-1, -1, -1], tf.int64))
            first = tf.concat([meta.pop("frame_indices"), tf.constant([-1], tf.int64)], 0)[0]
            return fi, pos, meta, first, tf.size(jpegs, out_type=tf.int64), shape
        return tf.data.TFRecordDataset(path).enumerate().map(parse)

    return (tf.data.Dataset.from_tensor_slices((tf.range(len(files), dtype=tf.int64), files))
            .flat_map(per_file).batch(4096))


def _index_table(files: list[str]) -> pd.DataFrame:
    """Read the metadata of every record of ``files`` into a DataFrame (raises TF errors)."""
    cols: dict[str, list[np.ndarray]] = {}
    for fi, pos, meta, first, n_jpegs, shape in _meta_records(files):
        for key, value in (("file_index", fi), ("position", pos), ("first_frame", first),
                           ("n_jpegs", n_jpegs), ("shape0", shape[:, 0]),
                           *((k, v) for k, v in meta.items())):
            cols.setdefault(key, []).append(value.numpy())
    if not cols:
        return pd.DataFrame()
    table = pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})
    for key in ("video_id", "method", "split", "dataset", "source_path"):
        table[key] = [v.decode() for v in table[key]]
    return table


def _reason(exc: Exception) -> str:
    text = exc.message if isinstance(exc, tf.errors.OpError) else str(exc)
    return " ".join(text.split())[:120]


def _validate(table: pd.DataFrame, files: list[str]) -> None:
    """Raise a PipelineError naming the first file whose records are unusable."""
    for fi, path in enumerate(files):
        rows = table[table["file_index"] == fi] if len(table) else table
        if rows.empty:
            raise PipelineError("TFRecord file holds no record", path)
        match = _records.SHARD_RE.match(os.path.basename(path))
        if match is not None and int(match["count"]) != len(rows):
            raise PipelineError(f"holds {len(rows)} records but its name says {int(match['count'])} "
                                "(incomplete or renamed shard)", path)
        first = rows.iloc[0]
        if first["n_jpegs"] == 0 or first["num_frames"] != first["n_jpegs"]:
            raise PipelineError(f"record 0 has {first['n_jpegs']} JPEG frames but num_frames="
                                f"{first['num_frames']}", path)
        bad = rows[~rows["label"].isin([0, 1])]
        if len(bad):
            raise PipelineError(f"record {int(bad['position'].iloc[0])} has label "
                                f"{int(bad['label'].iloc[0])} (expected 0=real or 1=fake)", path)


def video_index(files: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """One row per record of ``files`` (read once; frames are not decoded).

    Every file is checked first (exists, non-empty), then all records' metadata are parsed in
    one pass; the first frame of each file's first record is decoded. On a read error the
    files are re-read one by one to name the culprit.

    Args:
        files: TFRecord paths, in the order that defines ``file_index``.

    Returns:
        Columns ``file, file_index, position, gid, video_id, label, method, split, dataset,
        clip_index, num_frames, height, width, first_frame``. ``position`` is the record's
        ordinal within its file, ``gid`` a global record id (row number).

    Raises:
        PipelineError: a file is missing, empty, corrupt, or holds a record with a bad label.
    """
    files = [os.fspath(f) for f in files]
    if not files:
        return pd.DataFrame(columns=_INDEX_COLUMNS)
    for path in files:
        _check_file(path)
    try:
        table = _index_table(files)
    except (tf.errors.OpError, ValueError) as exc:
        for path in files:  # slow path: find the file that fails
            try:
                _index_table([path])
            except (tf.errors.OpError, ValueError) as file_exc:
                raise PipelineError(f"corrupt or foreign TFRecord ({_reason(file_exc)})",
                                    path) from file_exc
        raise PipelineError(f"cannot read TFRecords ({_reason(exc)})", files[0]) from exc
    _validate(table, files)
    table["file"] = [files[i] for i in table["file_index"]]
    table["gid"] = np.arange(len(table), dtype=np.int64)
    return table[_INDEX_COLUMNS].reset_index(drop=True)


def filter_index(index: pd.DataFrame, *, methods: Sequence[str] | None = None,
                 splits: Sequence[str] | None = None, datasets: Sequence[str] | None = None,
                 video_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Keep the rows matching every given filter (``None`` = no filter; case-insensitive, as
    ``records.select_records``)."""
    keep = np.ones(len(index), bool)
    for column, wanted in (("method", methods), ("split", splits), ("dataset", datasets),
                           ("video_id", video_ids)):
        if wanted is not None:
            wanted = [wanted] if isinstance(wanted, str) else list(wanted)
            lowered = {str(w).lower() for w in wanted}
            keep &= index[column].str.lower().isin(lowered).to_numpy()
    return index[keep]


# -------------------------------------------------------------------------------- selections

def _tuple(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


@dataclass(frozen=True)
class Selection:
    """One part of the data a pipeline reads: filters, a split rule, K videos per class.

    Args:
        methods: methods to keep (None = all).
        splits: splits to keep, as the split rule assigns them (None = all the rule uses).
        datasets: datasets to keep (None = all).
        video_ids: video ids to keep (None = all).
        split_rule: a rule of :mod:`data_prep.splits` (None = the stored splits).
        k_videos: keep ``k_videos`` videos per class (``per_label``) or in all (transfer
            learning), chosen once with ``k_seed``; None keeps every video.
        per_label: with ``k_videos``: K real + K fake videos (True) or K videos (False).
        name: the selection's name (messages; the K-video draw is seeded by
            :attr:`tag`, which is this name when given).
        k_seed: seed of the K-video draw (default: the protocol's split seed).
        files: only records of these shard files (a selection of one source among several;
            None = every file read).
    """

    methods: tuple[str, ...] | None = None
    splits: tuple[str, ...] | None = None
    datasets: tuple[str, ...] | None = None
    video_ids: tuple[str, ...] | None = None
    split_rule: str | None = None
    k_videos: int | None = None
    per_label: bool = True
    name: str = ""
    k_seed: int = _splits.SPLIT_SEED
    files: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for attr in ("methods", "splits", "datasets", "video_ids", "files"):
            object.__setattr__(self, attr, _tuple(getattr(self, attr)))
        _splits.check_rule(self.split_rule)

    @property
    def tag(self) -> str:
        """A stable string naming the selection (its name, else its filters)."""
        if self.name:
            return self.name
        return (f"datasets={list(self.datasets or [])}/methods={list(self.methods or [])}"
                f"/rule={self.split_rule}")

    def describe(self) -> str:
        """Filters in words, for messages."""
        return (f"split(s) {list(self.splits) if self.splits else 'any'}, methods "
                f"{list(self.methods) if self.methods else 'any'}"
                + (f", datasets {list(self.datasets)}" if self.datasets else "")
                + (f", split rule {self.split_rule}" if self.split_rule else ""))


def _union(values: list[tuple[str, ...] | None]) -> list[str] | None:
    """The union of filter values (None as soon as one selection does not filter)."""
    if any(v is None for v in values):
        return None
    return sorted({x for v in values for x in v})


def file_filters(selections: Sequence[Selection]) -> dict[str, list[str] | None]:
    """``methods``/``splits``/``datasets`` narrowing the shard files to read for ``selections``.

    A split rule that re-assigns splits reads the files of every stored split.
    """
    reassign = any(_splits.reassigns(s.split_rule) for s in selections)
    return {"methods": _union([s.methods for s in selections]),
            "splits": None if reassign else _union([s.splits for s in selections]),
            "datasets": _union([s.datasets for s in selections])}


def select_index(index: pd.DataFrame, selections: Sequence[Selection]
                 ) -> tuple[pd.DataFrame, list[dict]]:
    """The union of the rows each selection picks from a clip index, each record once.

    Per selection, in order: filter methods, datasets and video ids; apply its split rule
    (:func:`data_prep.splits.assign_splits`); keep its splits; draw its K videos per class
    (:func:`data_prep.sampling.select_videos`, real videos already drawn by an earlier
    selection excluded while enough others remain). A record picked by several selections
    (the FF++ reals of several FF++ domains) is kept once, with the first selection's split.

    Args:
        index: the full clip index (:func:`video_index`).
        selections: one or more selections.

    Returns:
        ``(index rows sorted by gid, one dict per selection: name, videos, clips, reused)``.

    Raises:
        PipelineError: a selection that picks nothing, a bad split rule, or too few videos.
    """
    parts, report = [], []
    taken: pd.DataFrame | None = None
    for sel in selections:
        rows = filter_index(index, methods=sel.methods, datasets=sel.datasets,
                            video_ids=sel.video_ids)
        if sel.files is not None:
            rows = rows[rows["file"].isin(set(sel.files))]
        try:
            rows = _splits.assign_splits(rows, sel.split_rule)
        except _splits.SplitError as exc:
            raise PipelineError(f"{exc} ({sel.describe()})") from exc
        rows = filter_index(rows, splits=sel.splits)
        if rows.empty:
            raise PipelineError(f"no clips for {sel.describe()}")
        reused = 0
        if sel.k_videos is not None:
            try:
                rows, reused = _sampling.select_videos(rows, sel.k_videos, sel.k_seed, sel.tag,
                                                       sel.per_label, exclude=taken)
            except ValueError as exc:
                raise PipelineError(f"{exc} ({sel.describe()})") from exc
            chosen = rows[_sampling.VIDEO_KEY].drop_duplicates()
            taken = chosen if taken is None else pd.concat([taken, chosen])
        report.append({"name": sel.tag, "videos": int(rows.groupby(_sampling.VIDEO_KEY).ngroups),
                       "clips": len(rows), "reused_videos": reused})
        parts.append(rows)
    out = pd.concat(parts).drop_duplicates("gid").sort_values("gid")
    return out, report


# ---------------------------------------------------------------------------------- planning

def plan_epoch(index: pd.DataFrame, *, training: bool, sampling: str = "all",
               clips_per_video: int = 16, seed: int = 0, epoch: int = 0,
               balance: str | None = None, domain_balance: bool = False,
               domain_by: str = "method", real_oversample: int = 2,
               fake_undersample: int = 2) -> pd.DataFrame:
    """The records (with repeats) one epoch reads.

    Args:
        index: the (filtered) clip index.
        training: whether the plan feeds training; ``balance="batches"`` and
            ``domain_balance`` apply in training only.
        sampling: ``"all"``, ``"clrnet"`` (first ``clips_per_video`` clips per video) or
            ``"stratified"`` (Masi et al.).
        clips_per_video: for ``"clrnet"``.
        seed: base seed.
        epoch: epoch number.
        balance: ``"batches"`` oversamples the minority class to equal counts.
        domain_balance: equal samples per domain within each class (merge learning).
        domain_by: domain column.
        real_oversample: stratified only.
        fake_undersample: stratified only.

    Returns:
        A plan: index rows with a ``copy`` column, sorted by ``gid``.
    """
    if sampling == "all":
        plan = _sampling.all_plan(index)
    elif sampling == "clrnet":
        plan = _sampling.clrnet_plan(index, clips_per_video)
    elif sampling == "stratified":
        plan = _sampling.stratified_epoch(index, seed, epoch, real_oversample, fake_undersample)
    else:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
    if training and domain_balance:
        plan = _sampling.balance_domains(plan, seed, epoch, domain_by)
    if training and balance == "batches":
        plan = _sampling.balance_classes(plan, seed, epoch)
    return plan


def _plan_counts(plan: pd.DataFrame, n_records: int) -> np.ndarray:
    return np.bincount(plan["gid"].to_numpy(np.int64), minlength=n_records).astype(np.int32)


# ---------------------------------------------------------------------------- decode/augment

def _select_frames(jpegs: tf.Tensor, num: tf.Tensor, frames: int | None, training: bool,
                   seed: tf.Tensor) -> tf.Tensor:
    """Keep ``frames`` consecutive JPEGs: a random window when training, the first ones else."""
    if frames is None:
        return jpegs
    if training:
        start = tf.random.stateless_uniform([], seed=seed, minval=0,
                                            maxval=tf.cast(num, tf.int32) - frames + 1,
                                            dtype=tf.int32)
    else:
        start = tf.constant(0, tf.int32)
    return jpegs[start:start + frames]


def _decode(jpegs: tf.Tensor, length: int | None) -> tf.Tensor:
    """Decode JPEGs to uint8 (T, H, W, 3); unrolled when the length is static (faster)."""
    if length is None:
        return _records.decode_frames(jpegs)
    return tf.stack([tf.io.decode_jpeg(jpegs[i], channels=3) for i in range(length)])


def _permute_windows(ds: tf.data.Dataset, window: int, seed: tf.Tensor) -> tf.data.Dataset:
    """Shuffle by randomly permuting consecutive windows of ``window`` elements.

    Used instead of ``Dataset.shuffle``, whose order also depends on TensorFlow's global seed
    and which cannot be traced with a tensor seed while the global seed is 0
    (``tf.random.set_seed(0)``: ``random_seed.get_seed`` then evaluates a tensor as a Python
    bool). The permutation of window ``i`` is a stateless function of ``(seed, i)``. Mixing is
    comparable to a shuffle buffer of the same size (both only move elements within about one
    buffer length); the file order, shuffled per epoch beforehand, provides the global mixing.

    Args:
        ds: the dataset.
        window: elements per window.
        seed: shape-[2] int64 seed.

    Returns:
        The shuffled dataset.
    """
    def permute(i: tf.Tensor, batch):
        n = tf.shape(tf.nest.flatten(batch)[0])[0]
        key = tf.random.stateless_uniform([n], seed=tf.random.experimental.stateless_fold_in(seed, i))
        order = tf.argsort(key)
        return tf.nest.map_structure(lambda t: tf.gather(t, order), batch)

    return ds.batch(window).enumerate().map(permute).unbatch()


class _Reader:
    """Builds the per-epoch tf.data graph for one validated index."""

    def __init__(self, index: pd.DataFrame, files: list[str], n_records: int, *, training: bool,
                 frames: int | None, single_frames: bool, image_size: int | None,
                 augment: bool, augment_config: AugmentConfig, seed: int,
                 shuffle_buffer: int, deterministic: bool, plan_fn, balance: str | None,
                 num_parallel_reads: int | None, jit: bool = True,
                 window_hop: int | None = None) -> None:
        self.training, self.frames, self.single = training, frames, single_frames
        self.window_hop = window_hop
        self.image_size, self.augment, self.augment_config = image_size, augment, augment_config
        self.seed, self.shuffle_buffer, self.deterministic = seed, shuffle_buffer, deterministic
        self.plan_fn, self.balance = plan_fn, balance
        self.num_parallel_reads, self.jit = num_parallel_reads, jit
        lengths = index["num_frames"].unique()
        self.record_len = int(lengths[0]) if len(lengths) == 1 else None
        self.clip_len = frames if frames is not None else self.record_len
        if image_size is not None:
            self.hw = (image_size, image_size)
        else:
            self.hw = (int(index["height"].iloc[0]), int(index["width"].iloc[0]))
        used = sorted(index["file_index"].unique())
        self.file_ids = tf.constant(used, tf.int64)
        self.paths = tf.constant(files)
        self.file_starts = tf.constant(self.file_gid_start(index, files))
        self.labels = tf.constant(self.label_table(index, n_records))

    @staticmethod
    def file_gid_start(index: pd.DataFrame, files: list[str]) -> np.ndarray:
        first = index.groupby("file_index")["gid"].min() - index.groupby("file_index")["position"].min()
        out = np.zeros(len(files), np.int64)
        out[first.index.to_numpy()] = first.to_numpy()
        return out

    @staticmethod
    def label_table(index: pd.DataFrame, n_records: int) -> np.ndarray:
        table = np.zeros(n_records, np.int64)
        table[index["gid"].to_numpy()] = index["label"].to_numpy()
        return table

    def _epoch_seed(self, epoch: tf.Tensor, tag: int) -> tf.Tensor:
        base = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(epoch, tf.int64)])
        return tf.random.experimental.stateless_fold_in(base, tf.constant(tag, tf.int64))

    def _records(self, epoch: tf.Tensor, counts: tf.Tensor, label: int | None) -> tf.data.Dataset:
        """Planned (gid, copy, serialized) of one epoch, file-interleaved, optionally one label."""
        file_ids = self.file_ids
        if self.training:
            seed = self._epoch_seed(epoch, 11 if label is None else 12 + label)
            order = tf.argsort(tf.random.stateless_uniform(tf.shape(file_ids), seed=seed))
            file_ids = tf.gather(file_ids, order)
        paths, starts = self.paths, self.file_starts

        def read(fi: tf.Tensor) -> tf.data.Dataset:
            start = tf.gather(starts, fi)
            return tf.data.TFRecordDataset(tf.gather(paths, fi)).enumerate().map(
                lambda pos, s: (start + pos, s))

        n_files = int(self.file_ids.shape[0])
        ds = tf.data.Dataset.from_tensor_slices(file_ids).interleave(
            read, cycle_length=max(1, min(n_files, self.num_parallel_reads or 8)), block_length=1,
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=self.deterministic)
        labels = self.labels

        def keep(gid: tf.Tensor, _s: tf.Tensor) -> tf.Tensor:
            ok = tf.gather(counts, gid) > 0
            if label is not None:
                ok = tf.logical_and(ok, tf.equal(tf.gather(labels, gid), label))
            return ok

        def expand(gid: tf.Tensor, s: tf.Tensor):
            c = tf.gather(counts, gid)
            return (tf.fill([c], gid), tf.range(c, dtype=tf.int64), tf.fill([c], s))

        ds = ds.filter(keep).map(expand).unbatch()
        if self.training and self.shuffle_buffer > 1:
            ds = _permute_windows(ds, self.shuffle_buffer,
                                  self._epoch_seed(epoch, 21 if label is None else 22 + label))
        return ds

    def _load(self, epoch: tf.Tensor, gid: tf.Tensor, copy: tf.Tensor, serialized: tf.Tensor):
        """Parse, select frames, decode, resize and (clip mode) augment one record."""
        ex = parse_clip(serialized)
        clip_seed = tf.random.experimental.stateless_fold_in(
            tf.random.experimental.stateless_fold_in(
                tf.stack([tf.constant(self.seed, tf.int64), tf.cast(epoch, tf.int64)]), gid), copy)
        if self.window_hop is not None:  # the whole record; windows are cut in _windows
            jpegs, length = ex["frames"], self.record_len
        else:
            jpegs = _select_frames(ex["frames"], ex["num_frames"], self.frames, self.training,
                                   tf.random.experimental.stateless_fold_in(
                                       clip_seed, tf.constant(1, tf.int64)))
            length = self.clip_len
        clip = _decode(jpegs, length)
        if self.image_size is not None:
            clip = tf.image.resize(clip, self.hw, method="bilinear") / 255.0
            clip = tf.clip_by_value(clip, 0.0, 1.0)
        clip = tf.ensure_shape(clip, [length, *self.hw, 3])
        if self.augment and not self.single:
            # uint8 frames go straight into the warp (cheaper gathers), float32 comes out.
            clip = augment_clip(clip, tf.random.experimental.stateless_fold_in(
                clip_seed, tf.constant(2, tf.int64)), self.augment_config, self.jit)
        elif clip.dtype == tf.uint8 and not self.single and self.window_hop is None:
            clip = tf.image.convert_image_dtype(clip, tf.float32)  # (windows convert later)
        meta = {"video_id": ex["video_id"], "method": ex["method"],
                "clip_index": ex["clip_index"], "dataset": ex["dataset"]}
        label = tf.cast(ex["label"], tf.float32)
        return clip, label, gid, clip_seed, meta

    def epoch(self, epoch: tf.Tensor) -> tf.data.Dataset:
        """The un-batched samples of one epoch: (x, y, gid, seed, meta)."""
        counts = self.plan_fn(epoch)
        if self.balance == "batches" and self.training:
            streams = [self._records(epoch, counts, lab) for lab in (0, 1)]
            choice = tf.data.Dataset.range(2).repeat()
            ds = tf.data.Dataset.choose_from_datasets(streams, choice, stop_on_empty_dataset=True)
        else:
            ds = self._records(epoch, counts, None)
        ds = ds.map(lambda g, c, s: self._load(epoch, g, c, s),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=self.deterministic)
        if self.window_hop is not None:
            ds = ds.flat_map(self._windows)
        if self.single:
            ds = ds.map(self._split_frames).unbatch()
            if self.training and self.shuffle_buffer > 1:
                ds = _permute_windows(ds, min(self.shuffle_buffer, 256), self._epoch_seed(epoch, 31))
            ds = ds.map(self._augment_frame if self.augment else self._to_float,
                        num_parallel_calls=tf.data.AUTOTUNE, deterministic=self.deterministic)
        return ds

    def _windows(self, clip, label, gid, seed, meta):
        """Every window of ``frames`` consecutive frames of a decoded record (hop ``window_hop``)."""
        f, hop = int(self.frames), int(self.window_hop)
        n = tf.shape(clip, out_type=tf.int64)[0]
        count = tf.maximum((n - f) // hop + 1, 0)
        base = tf.cast(meta["clip_index"], tf.int64) * n

        def one(start: tf.Tensor):
            window = tf.ensure_shape(clip[start:start + f], [f, *self.hw, 3])
            if window.dtype == tf.uint8:
                window = tf.image.convert_image_dtype(window, tf.float32)
            return window, label, gid, seed, {**meta, "clip_index": base + start}

        return tf.data.Dataset.range(count).map(lambda i: one(i * hop))

    def _split_frames(self, clip, label, gid, seed, meta):
        t = self.clip_len
        frame_seeds = tf.map_fn(
            lambda i: tf.random.experimental.stateless_fold_in(seed, i + 100),
            tf.range(t, dtype=tf.int64), fn_output_signature=tf.TensorSpec([2], tf.int64))
        rep = {k: tf.fill([t], v) for k, v in meta.items()}
        return clip, tf.fill([t], label), tf.fill([t], gid), frame_seeds, rep

    def _augment_frame(self, frame, label, gid, seed, meta):
        frame = augment_clip(frame[tf.newaxis], seed, self.augment_config, self.jit)[0]
        return frame, label, gid, seed, meta

    @staticmethod
    def _to_float(frame, label, gid, seed, meta):
        return tf.image.convert_image_dtype(frame, tf.float32), label, gid, seed, meta


# --------------------------------------------------------------------------------- public API

def get_dataset(files_or_manifest: str | os.PathLike | Sequence[str | os.PathLike],
                batch_size: int, training: bool, *, frames: int | None = None,
                single_frames: bool = False, image_size: int | None = None,
                sampling: str = "all", clips_per_video: int = 16, augment: bool | None = None,
                augment_config: AugmentConfig = CLRNET_AUGMENT, balance: str | None = None,
                domain_balance: bool = False, domain_by: str = "method",
                videos_per_domain: int | None = None, methods: Sequence[str] | None = None,
                splits: Sequence[str] | None = None, datasets: Sequence[str] | None = None,
                video_ids: Sequence[str] | None = None, split_rule: str | None = None,
                selections: Sequence[Selection] | None = None, window_hop: int | None = None,
                seed: int = 0, epoch: int = 0,
                repeat: bool = False, shuffle_buffer: int = 1024,
                deterministic: bool | None = None, return_meta: bool = False,
                real_oversample: int = 2, fake_undersample: int = 2,
                drop_remainder: bool = False, num_parallel_reads: int | None = None,
                jit_augment: bool = True, autotune: bool = True, return_info: bool = False):
    """Batches of face clips (or frames) and labels for training or evaluation.

    Args:
        files_or_manifest: TFRecord paths, a directory (recursive ``*.tfrecord``) or a
            manifest (``.csv``/``.json``).
        batch_size: samples per batch.
        training: shuffles, augments (unless ``augment=False``) and applies per-epoch sampling.
        frames: clip length to keep (None = the records' length). When shorter than the record,
            training takes a random window (per clip, seeded), evaluation the first frames.
            ``frames=1`` means single frames.
        single_frames: yield ``(B, H, W, 3)`` frames; every frame of a clip is its own sample
            (its own augmentation when training).
        image_size: resize frames to ``image_size x image_size`` (bilinear); None keeps the
            stored size (which must then be the same for all records).
        sampling: ``"all"``, ``"clrnet"`` (first ``clips_per_video`` clips of each video) or
            ``"stratified"`` (Masi et al.: one random window per video per epoch, reals x2 and
            each manipulation /2 when several are present).
        clips_per_video: for ``sampling="clrnet"`` (16 x 5 frames = 80 frames).
        augment: CLRNet augmentation; None means ``training``.
        augment_config: augmentation ranges.
        balance: ``"weights"`` yields ``(x, y, sample_weight)`` with balanced class weights;
            ``"batches"`` (training) alternates real and fake samples, the minority class
            oversampled, so every even-sized batch is exactly half real; None: no balancing.
        domain_balance: equal samples per domain within each class (training;
            :func:`data_prep.sampling.balance_domains`, an option, not merge learning).
        domain_by: the domain column, ``"method"`` or ``"dataset"``.
        videos_per_domain: keep exactly this many videos per ``domain_by`` value (chosen
            reproducibly from ``seed``; fixed across epochs). Transfer learning's K real + K fake
            videos per domain is :attr:`Selection.k_videos`.
        methods: keep these methods (``"original"`` = FF++ reals).
        splits: keep these splits (as ``split_rule`` assigns them).
        datasets: keep these datasets.
        video_ids: keep these video ids.
        split_rule: a rule of :mod:`data_prep.splits` applied to the records' metadata before
            ``splits`` filters (None: the stored splits).
        selections: read the union of these :class:`Selection` s instead of the single one
            ``methods``/``splits``/``datasets``/``video_ids``/``split_rule`` describe (which
            must then be None).
        window_hop: evaluation only: every window of ``frames`` consecutive frames of each
            record, starts ``0, window_hop, ...``, is one sample (Masi et al.'s hop-1 test
            sequences); records shorter than ``frames`` give none. ``clip_index`` of a window
            is ``record clip_index * num_frames + start``. None: one sample per record.
        seed: seed of every random choice.
        epoch: number of the (first) epoch produced.
        repeat: produce epochs ``epoch, epoch + 1, ...`` forever (each re-sampled); set
            ``steps_per_epoch`` from ``return_info``.
        shuffle_buffer: records per shuffle window (training); frames per window in
            single-frame mode is ``min(shuffle_buffer, 256)``.
        deterministic: deterministic element order; None means True (reproducible epochs).
        return_meta: yield ``(x, y, meta)``, meta = ``{"video_id", "method", "clip_index",
            "dataset"}`` (per sample), for per-video aggregation.
        real_oversample: stratified sampling.
        fake_undersample: stratified sampling.
        drop_remainder: drop the last incomplete batch.
        num_parallel_reads: files read concurrently (default up to 8).
        jit_augment: XLA-compile the augmentation transform (about 2x faster on CPU).
        autotune: run tf.data's autotuning thread (``tf.data.Options().autotune.enabled``).
            Off, the parallel stages run at the machine's core count and the iterator is
            destroyed at once; on, destroying a long-lived iterator (the end of every
            ``fit``) waited for that thread's next wake-up. Measured on a 2-core AMD EPYC Zen 4
            (TF 2.21, a quick Xception training with one intra-op thread beside a busy core):
            ``fit`` returned 29-38 s after its last callback with it, 0.01 s without; the
            pipeline benchmark's augmented throughput was 236 clips/s with it, 189 without.
        return_info: also return a dict with ``samples_per_epoch``, ``steps_per_epoch``,
            ``class_counts``, ``class_weights``, ``num_videos``, ``files``, ``index``,
            ``plan`` (the first epoch's plan) and ``selections`` (per selection: videos,
            clips and real videos reused).

    Returns:
        A ``tf.data.Dataset`` of ``(x, y)``, ``(x, y, w)`` or ``(x, y, meta)``; ``x`` float32
        in [0, 1], ``y`` float32 (fake = 1); with ``return_info`` a ``(dataset, info)`` pair.

    Raises:
        PipelineError: missing/corrupt/empty files, a manifest naming no file, an empty
            selection, inconsistent clip sizes; raised before the graph is built.
    """
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
    if balance not in BALANCES:
        raise ValueError(f"balance must be one of {BALANCES}, got {balance!r}")
    if balance == "weights" and return_meta:
        raise ValueError("balance='weights' and return_meta=True are exclusive")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if frames == 1:
        single_frames, frames = True, None
    if window_hop is not None:
        if training or single_frames or frames is None or window_hop < 1:
            raise ValueError("window_hop (>= 1) needs evaluation (training=False) and clips of "
                             "frames= frames")
    augment = training if augment is None else augment
    deterministic = True if deterministic is None else deterministic
    if selections is None:
        try:
            selections = [Selection(methods, splits, datasets, video_ids, split_rule)]
        except _splits.SplitError as exc:
            raise PipelineError(str(exc)) from exc
    elif any(v is not None for v in (methods, splits, datasets, video_ids, split_rule)):
        raise ValueError("give either selections= or methods/splits/datasets/video_ids/"
                         "split_rule, not both")
    selections = list(selections)
    if not selections:
        raise ValueError("selections= is empty")

    source = files_or_manifest if isinstance(files_or_manifest, (str, os.PathLike)) else "file list"
    files = resolve_files(files_or_manifest, **file_filters(selections))
    full_index = video_index(files)
    what = "; ".join(sel.describe() for sel in selections)
    try:
        index, selected = select_index(full_index, selections)
    except PipelineError as exc:
        raise PipelineError(f"{exc} in {len(files)} file(s)", source) from exc
    if videos_per_domain is not None:
        try:
            index = _sampling.select_videos_per_domain(index, videos_per_domain, seed, domain_by)
        except ValueError as exc:
            raise PipelineError(f"{exc} ({what})", source) from exc
    _check_shapes(index, frames, image_size, source, windows=window_hop is not None)
    if training and balance == "batches" and index["label"].nunique() < 2:
        raise PipelineError(f"balance='batches' needs real and fake clips; {what} has only "
                            f"label {int(index['label'].iloc[0])}", source)

    def make_plan(e: int) -> pd.DataFrame:
        return plan_epoch(index, training=training, sampling=sampling,
                          clips_per_video=clips_per_video, seed=seed, epoch=e, balance=balance,
                          domain_balance=domain_balance, domain_by=domain_by,
                          real_oversample=real_oversample, fake_undersample=fake_undersample)

    n_records = len(full_index)
    first_plan = make_plan(epoch)
    if first_plan.empty:
        raise PipelineError(f"sampling {sampling!r} selects no clip for {what}", source)
    first_counts = _plan_counts(first_plan, n_records)
    weights = _sampling.class_weights(first_plan["label"].to_numpy())
    per_clip = int(frames or index["num_frames"].iloc[0]) if single_frames else 1

    if repeat:
        def plan_fn(e: tf.Tensor) -> tf.Tensor:
            counts = tf.numpy_function(lambda v: _plan_counts(make_plan(int(v)), n_records),
                                       [e], tf.int32, stateful=False)
            return tf.ensure_shape(counts, [n_records])
        epochs = tf.data.Dataset.range(epoch, np.iinfo(np.int64).max)
    else:
        const = tf.constant(first_counts)

        def plan_fn(e: tf.Tensor) -> tf.Tensor:
            return const
        epochs = tf.data.Dataset.range(epoch, epoch + 1)

    reader = _Reader(index, files, n_records, training=training, frames=frames,
                     single_frames=single_frames, image_size=image_size, augment=augment,
                     augment_config=augment_config, seed=seed, shuffle_buffer=shuffle_buffer,
                     deterministic=deterministic, plan_fn=plan_fn, balance=balance,
                     num_parallel_reads=num_parallel_reads,
                     jit=jit_augment, window_hop=window_hop)
    ds = epochs.flat_map(reader.epoch)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder,
                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    w_table = tf.constant([weights.get(0, 0.0), weights.get(1, 0.0)], tf.float32)

    def finish(x, y, _gid, _seed, meta):
        if balance == "weights":
            return x, y, tf.gather(w_table, tf.cast(y, tf.int32))
        if return_meta:
            return x, y, meta
        return x, y

    ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if window_hop is not None:
        per_record = _sampling.window_count(first_plan["num_frames"].to_numpy(), frames,
                                            window_hop)
        samples = int(np.sum(per_record))
        if samples == 0:
            raise PipelineError(f"no record of {what} holds {frames} frames", source)
        class_counts = {int(k): int(per_record[(first_plan["label"] == k).to_numpy()].sum())
                        for k in sorted(first_plan["label"].unique())}
    else:
        samples = len(first_plan) * per_clip
        class_counts = {int(k): int(v) * per_clip
                        for k, v in first_plan["label"].value_counts().sort_index().items()}
    steps = samples // batch_size if drop_remainder else -(-samples // batch_size)
    if not repeat:
        ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
    options = tf.data.Options()
    options.deterministic = deterministic
    options.autotune.enabled = bool(autotune)
    ds = ds.with_options(options).prefetch(tf.data.AUTOTUNE)
    if not return_info:
        return ds
    info = {
        "samples_per_epoch": samples, "steps_per_epoch": steps, "class_counts": class_counts,
        "class_weights": weights, "num_videos": int(index.groupby(_sampling.VIDEO_KEY).ngroups),
        "files": files, "index": index, "plan": first_plan, "selections": selected,
    }
    return ds, info


def _check_shapes(index: pd.DataFrame, frames: int | None, image_size: int | None, source,
                  windows: bool = False) -> None:
    """Clip lengths and frame sizes must let samples batch together."""
    lengths = sorted(index["num_frames"].unique())
    if frames is None and len(lengths) > 1:
        raise PipelineError(f"records have different clip lengths {lengths}; pass frames=", source)
    if windows and frames is not None and frames > lengths[-1]:
        raise PipelineError(f"frames={frames} but no clip has more than {lengths[-1]} frames",
                            source)
    if not windows and frames is not None and frames > lengths[0]:
        short = index[index["num_frames"] == lengths[0]]["file"].iloc[0]
        raise PipelineError(f"frames={frames} but some clips have only {lengths[0]} frames", short)
    sizes = index[["height", "width"]].drop_duplicates()
    if image_size is None and len(sizes) > 1:
        raise PipelineError(f"records have different frame sizes "
                            f"{sorted(map(tuple, sizes.to_numpy().tolist()))}; pass image_size=", source)
