"""Sampling policies over a clip index (pure pandas/numpy; no TensorFlow).

An *index* is the ``pandas.DataFrame`` made by :func:`data_prep.pipeline.video_index`: one row
per TFRecord clip with at least the columns ``gid`` (global record id), ``video_id``,
``dataset``, ``method``, ``split``, ``label`` (fake = 1, real = 0) and ``clip_index``.
A *plan* is a subset of index rows, possibly with repeated rows, plus a ``copy`` column
(0, 1, ... for the repeats of one record). The pipeline reads exactly the plan's records.

Policies and their sources:

* CLRNet (Tariq et al., WWW'21, Sec. 5.1.3; ``shahroztariq/CLRNet`` ``src/DFVDSequence.py``):
  the first 16 non-overlapping 5-frame clips of each video (80 frames): :func:`clrnet_plan`.
* Masi et al. (ECCV'20, Sec. 3 "Video-based stratified sampling" and Sec. 4 "Implementation"):
  a stratified epoch is one random window from every training video; with several
  manipulations, real videos are oversampled x2 and each manipulation is undersampled x2:
  :func:`stratified_epoch`.
* Merge learning (CLRNet Sec. 4.2.2 and 5.2.2: the union of the domains' training data,
  "750 + 750 = 1500 videos") needs no policy of its own: the union of the domains' index rows,
  each video once, with the class balance of :func:`balance_classes`. :func:`balance_domains`
  (within each class, every domain contributes as many samples as the smallest one) is an
  option, not the protocol: with ``domain_by="method"`` it counts FF++'s ``original`` and DFD's
  ``original_actors`` as two real domains and cuts the larger to the smaller.
* Transfer learning (CLRNet Sec. 5.2.3: "a small subset of 10 videos from target domain's
  dataset"): :func:`select_videos` (K real + K fake videos of one domain) and
  :func:`select_videos_per_domain` (K videos per method).
* Masi et al. evaluation windows: :func:`window_count` (every window of F consecutive stored
  frames, hop 1, as ``data_prep.pipeline.get_dataset(window_hop=1)`` forms them).

Randomness is drawn from ``numpy.random.default_rng([seed, epoch, tag])`` so the same seed and
epoch always give the same plan. Interpretation choices the papers leave open are documented on
each function.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Columns that identify one video across datasets and methods.
VIDEO_KEY = ["dataset", "method", "video_id"]

_TAG_STRATIFIED = 1
_TAG_DOMAINS = 2
_TAG_CLASSES = 3
_TAG_TRANSFER = 4


def _rng(seed: int, epoch: int, tag: int, extra: int = 0) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF, tag, extra])


def _with_copies(rows: pd.DataFrame) -> pd.DataFrame:
    """Sort a plan by gid and number the repeats of each record in a ``copy`` column."""
    rows = rows.sort_values("gid", kind="stable").reset_index(drop=True)
    rows["copy"] = rows.groupby("gid").cumcount().astype(np.int64)
    return rows


def all_plan(index: pd.DataFrame) -> pd.DataFrame:
    """Every record once.

    Args:
        index: the clip index.

    Returns:
        The plan (all rows, ``copy`` = 0).
    """
    return _with_copies(index.copy())


def clrnet_plan(index: pd.DataFrame, clips_per_video: int = 16) -> pd.DataFrame:
    """CLRNet sampling: the first ``clips_per_video`` clips (by ``clip_index``) of each video.

    The records are expected to be non-overlapping 5-frame clips (as
    ``data_prep.video.clrnet_clips`` extracts them); 16 clips x 5 frames = the first 80 frames.

    Args:
        index: the clip index.
        clips_per_video: clips kept per video.

    Returns:
        The plan (deterministic, no randomness).

    References:
        Tariq et al., WWW'21, Sec. 5.1.3; ``shahroztariq/CLRNet`` ``src/DFVDSequence.py``.
    """
    if clips_per_video < 1:
        raise ValueError(f"clips_per_video must be >= 1, got {clips_per_video}")
    ordered = index.sort_values([*VIDEO_KEY, "clip_index", "gid"], kind="stable")
    rank = ordered.groupby(VIDEO_KEY, sort=False).cumcount()
    return _with_copies(ordered[rank < clips_per_video])


def stratified_epoch(index: pd.DataFrame, seed: int, epoch: int, real_oversample: int = 2,
                     fake_undersample: int = 2, multi_method_only: bool = True) -> pd.DataFrame:
    """Masi et al.'s stratified epoch: one random window (record) from every training video.

    With ``real_oversample = fake_undersample = 1`` every video appears exactly once. Otherwise
    each real video contributes ``real_oversample`` windows (distinct ones while the video has
    enough, then repeats) and, per manipulation method, a random ``ceil(n / fake_undersample)``
    of its ``n`` fake videos contribute one window each. Following the paper ("when training
    with multiple manipulations"), the over/undersampling is applied only when the index holds
    more than one fake method, unless ``multi_method_only`` is False.

    Args:
        index: the clip index of the training videos (one record = one window).
        seed: base seed.
        epoch: epoch number; a different epoch draws different windows and videos.
        real_oversample: windows per real video.
        fake_undersample: divisor of the number of fake videos kept per method.
        multi_method_only: apply the over/undersampling only with several fake methods.

    Returns:
        The plan (rows of ``index`` with a ``copy`` column).

    References:
        Masi et al., ECCV'20, Sec. 3 ("stratified epoch") and Sec. 4 (oversample natural faces
        twice, undersample each manipulation by a factor of two).
    """
    if real_oversample < 1 or fake_undersample < 1:
        raise ValueError("real_oversample and fake_undersample must be >= 1")
    if index.empty:
        return _with_copies(index.copy())
    fake_methods = sorted(index.loc[index["label"] == 1, "method"].unique())
    if multi_method_only and len(fake_methods) <= 1:
        real_oversample = fake_undersample = 1
    rng = _rng(seed, epoch, _TAG_STRATIFIED)
    groups = {key: g["gid"].to_numpy() for key, g in
              index.sort_values([*VIDEO_KEY, "clip_index", "gid"]).groupby(VIDEO_KEY, sort=True)}
    labels = index.groupby(VIDEO_KEY, sort=True)["label"].first()
    chosen: list[int] = []
    # Videos kept this epoch: all real ones; per fake method a random subset.
    keys_by_method: dict[str, list[tuple]] = {}
    for key in groups:
        keys_by_method.setdefault(key[1] if labels[key] == 1 else "\0real", []).append(key)
    for method in sorted(keys_by_method):
        keys = keys_by_method[method]
        if method == "\0real":
            for key in keys:
                gids = groups[key]
                picks = rng.choice(len(gids), size=real_oversample,
                                   replace=len(gids) < real_oversample)
                chosen.extend(gids[picks].tolist())
            continue
        n_keep = int(np.ceil(len(keys) / fake_undersample))
        kept = sorted(rng.choice(len(keys), size=n_keep, replace=False).tolist())
        for i in kept:
            gids = groups[keys[i]]
            chosen.append(int(gids[rng.integers(len(gids))]))
    rows = index.set_index("gid", drop=False).loc[chosen]
    return _with_copies(rows.reset_index(drop=True))


def select_videos_per_domain(index: pd.DataFrame, k: int = 10, seed: int = 0,
                             domain_by: str = "method", per_label: bool = False) -> pd.DataFrame:
    """Transfer learning: exactly ``k`` videos per domain, chosen reproducibly.

    Each domain's videos are sorted by key and permuted with a generator seeded by ``seed`` and
    a CRC32 of the domain name, so the choice for one domain does not depend on which other
    domains are present.

    Args:
        index: the clip index.
        k: videos per domain (CLRNet: 10).
        seed: selection seed.
        domain_by: the column naming the domain (``"method"`` or ``"dataset"``).
        per_label: pick ``k`` videos per (domain, label) instead of per domain.

    Returns:
        The index rows of the chosen videos (all their clips).

    Raises:
        ValueError: if a domain has fewer than ``k`` videos (message names the domain).

    References:
        Tariq et al., WWW'21, Sec. 5.2.3 and 6.2.2 (ten videos per target domain).
    """
    if k < 1:
        raise ValueError(f"videos_per_domain must be >= 1, got {k}")
    group_cols = [domain_by, "label"] if per_label else [domain_by]
    videos = index[[*dict.fromkeys([*VIDEO_KEY, *group_cols])]].drop_duplicates()
    keep = []
    for name, g in videos.groupby(group_cols, sort=True):
        name = name if isinstance(name, tuple) else (name,)
        if len(g) < k:
            raise ValueError(f"domain {'/'.join(map(str, name))} has {len(g)} videos, "
                             f"fewer than videos_per_domain={k}")
        g = g.sort_values(VIDEO_KEY)
        tag = zlib.crc32("/".join(map(str, name)).encode())
        picks = _rng(seed, 0, _TAG_TRANSFER, tag).permutation(len(g))[:k]
        keep.append(g.iloc[np.sort(picks)][VIDEO_KEY])
    chosen = pd.concat(keep) if keep else videos[VIDEO_KEY].iloc[:0]
    return index.merge(chosen, on=VIDEO_KEY, how="inner").sort_values("gid").reset_index(drop=True)


def select_videos(index: pd.DataFrame, k: int, seed: int, tag: str, per_label: bool = True,
                  exclude: pd.DataFrame | None = None) -> tuple[pd.DataFrame, int]:
    """K videos of one domain (transfer learning), chosen reproducibly.

    The domain's videos (per class when ``per_label``) are sorted by key and permuted with a
    generator seeded by ``seed`` and a CRC32 of ``tag``; the first ``k`` not in ``exclude``
    are taken. ``exclude`` keeps domains that share a real pool (FF++'s ``original`` videos
    serve DF, FS, F2F and NT) from drawing the same real videos: when fewer than ``k`` unused
    videos remain, already used ones (in the same seeded order) fill up to ``k``, and the
    second return value counts them.

    Args:
        index: the clip index of the domain (its training split).
        k: videos per class (``per_label``) or per domain.
        seed: selection seed.
        tag: the domain's name in the seed (any stable string).
        per_label: ``k`` real + ``k`` fake videos (True) or ``k`` videos in all (False).
        exclude: ``VIDEO_KEY`` rows of videos other domains already took.

    Returns:
        ``(rows of the chosen videos (all their clips), videos reused from exclude)``.

    Raises:
        ValueError: a class (or the domain) with fewer than ``k`` videos.

    References:
        Tariq et al., WWW'21, Sec. 5.2.3 and Table 2 (10 transfer videos per domain);
        ``shahroztariq/CLRNet`` ``src/CLRNET_transfer_FS-DF-F2F-NT-DFD_train.ipynb`` (the
        transfer folders: 10 real + 10 fake videos of every domain).
    """
    if k < 1:
        raise ValueError(f"k_videos must be >= 1, got {k}")
    videos = index[[*VIDEO_KEY, "label"]].drop_duplicates(VIDEO_KEY).sort_values(VIDEO_KEY)
    taken = set() if exclude is None else set(map(tuple, exclude[VIDEO_KEY].to_numpy()))
    groups = ([g for _, g in videos.groupby("label", sort=True)] if per_label else [videos])
    keep, reused = [], 0
    for g in groups:
        what = f"class {'fake' if g['label'].iloc[0] == 1 else 'real'} of " if per_label else ""
        if len(g) < k:
            raise ValueError(f"{what}domain {tag} has {len(g)} videos, fewer than k_videos={k}")
        crc = zlib.crc32(f"{tag}/{int(g['label'].iloc[0]) if per_label else 'all'}".encode())
        order = g.iloc[_rng(seed, 0, _TAG_TRANSFER, crc).permutation(len(g))]
        fresh = [tuple(r) not in taken for r in order[VIDEO_KEY].to_numpy()]
        first = order[fresh][:k]
        if len(first) < k:
            extra = order[[not f for f in fresh]][:k - len(first)]
            reused += len(extra)
            first = pd.concat([first, extra])
        keep.append(first[VIDEO_KEY])
    chosen = pd.concat(keep)
    rows = index.merge(chosen, on=VIDEO_KEY, how="inner")
    return rows.sort_values("gid").reset_index(drop=True), reused


def window_count(num_frames: int | np.ndarray, frames: int, hop: int = 1) -> int | np.ndarray:
    """Windows of ``frames`` consecutive stored frames, starts ``0, hop, 2 hop, ...``.

    Masi et al. (ECCV'20, Sec. 4 and 4.1) test on 110 frames per video taken one in seven and
    build 10-frame sequences from them; with hop 1 that is ``110 - 10 + 1 = 101`` windows per
    video, 70.7K for FF++'s 700 test videos (Table 2's "~70K samples").

    Args:
        num_frames: frames of a record (scalar or array).
        frames: window length.
        hop: start-to-start distance.

    Returns:
        ``max(0, (num_frames - frames) // hop + 1)`` (same shape as ``num_frames``).
    """
    if frames < 1 or hop < 1:
        raise ValueError(f"frames and hop must be >= 1, got {frames}, {hop}")
    n = (np.asarray(num_frames) - frames) // hop + 1
    out = np.maximum(n, 0)
    return int(out) if np.ndim(out) == 0 else out


def balance_domains(plan: pd.DataFrame, seed: int, epoch: int,
                    domain_by: str = "method") -> pd.DataFrame:
    """Optional: within each class, every domain contributes the same number of samples.

    Each (label, domain) group is randomly undersampled (without replacement, redrawn every
    epoch) to the size of the smallest domain of that label. Merge learning does not use it
    (the paper's merge is the plain union, see the module docstring): FF++'s reals all have
    method ``"original"`` but DFD's have ``"original_actors"``, so with ``domain_by="method"``
    the real class of an FF++ + DFD merge is two domains and the 720 FF++ reals are cut to the
    DFD reals' count. With ``domain_by="dataset"`` each dataset's reals and fakes are balanced
    separately. Class balance is a separate step (``balance`` in ``get_dataset``).

    Args:
        plan: a plan.
        seed: base seed.
        epoch: epoch number.
        domain_by: the column naming the domain.

    Returns:
        The balanced plan.

    References:
        Tariq et al., WWW'21, Sec. 6.2.3 (a discussion: "merge learning requires an equal
        number of samples from each dataset").
    """
    rng = _rng(seed, epoch, _TAG_DOMAINS)
    parts = []
    for _, by_label in plan.groupby("label", sort=True):
        groups = [g for _, g in by_label.groupby(domain_by, sort=True)]
        n_min = min(len(g) for g in groups)
        for g in groups:
            g = g.sort_values(["gid", "copy"]) if "copy" in g else g.sort_values("gid")
            parts.append(g.iloc[np.sort(rng.choice(len(g), size=n_min, replace=False))])
    if not parts:
        return plan
    return _with_copies(pd.concat(parts).drop(columns=["copy"], errors="ignore"))


def balance_classes(plan: pd.DataFrame, seed: int, epoch: int) -> pd.DataFrame:
    """Balanced batches: oversample the minority class to exactly the majority's count.

    The minority's samples are repeated ``floor(ratio)`` times and a random remainder (without
    replacement, redrawn every epoch) tops it up, so the two classes have equal counts.

    Args:
        plan: a plan holding both classes.
        seed: base seed.
        epoch: epoch number.

    Returns:
        The balanced plan.
    """
    counts = plan["label"].value_counts()
    if len(counts) < 2:
        return plan
    rng = _rng(seed, epoch, _TAG_CLASSES)
    n_max = int(counts.max())
    parts = []
    for label in sorted(counts.index):
        g = plan[plan["label"] == label].sort_values(["gid", "copy"])
        reps, rest = divmod(n_max, len(g))
        parts.extend([g] * reps)
        parts.append(g.iloc[np.sort(rng.choice(len(g), size=rest, replace=False))])
    return _with_copies(pd.concat(parts).drop(columns=["copy"]))


def class_weights(labels: Sequence[int] | np.ndarray) -> dict[int, float]:
    """Balanced class weights, ``n / (n_classes * n_c)`` (scikit-learn's ``"balanced"``).

    Args:
        labels: one label per sample.

    Returns:
        ``{label: weight}`` for the labels present.
    """
    labels = np.asarray(labels)
    values, counts = np.unique(labels, return_counts=True)
    return {int(v): float(len(labels) / (len(values) * c)) for v, c in zip(values, counts, strict=True)}
