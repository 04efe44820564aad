"""Train/val/test splits as a property of the experimental protocol, assigned at read time.

Extraction (``python -m data_prep extract``) stores each video's clips once, with the split its
dataset adapter gives (FF++'s official pair JSON, Celeb-DF's test list, DFDC-preview's
``dataset.json``). A *split rule* re-assigns the splits when the clips are read, so one set of
extracted clips serves protocols that split the same videos differently (the CLRNet paper's
750/125/125 FF++ split and the official 720/140/140 one of the Masi tables).

Rules (:data:`RULES`; the names are the ``splits`` values of ``experiments/protocol.py``):

* ``tariq_ffpp`` -- FaceForensics++ youtube originals and every FF++ method: a video's number
  decides, the original ``a`` by ``a``, a fake ``a_b`` by its target id ``a``; numbers 0-749
  train, 750-874 val, 875-999 test ("the first 750 videos out of 1,000 for training, the next
  125 for validation, and the remaining of the 125 for testing", Tariq et al., WWW'21, Sec. 5).
  The cut is on the number itself, not on a rank among the videos present, so a partial
  download puts every video it holds in the split it has in the full set. Each fake follows
  its target id, so a method's reals and fakes are 1:1 in every split. The rule ignores FF++'s
  identity pairs: a fake's source face can be a real video of another split.
* ``tariq_dfd`` -- DeepFakeDetection (``original_actors`` reals, ``DeepFakeDetection`` fakes):
  per class a seeded random order of the videos; the first ``n = min(300, reals, fakes)`` of
  each class are used (300 on the full set), split 250/25/25 in that order (scaled to
  ``n`` as ``round(n * 25 / 300)`` val and test, the rest train); the other videos are not
  used (Sec. 5: "we randomly selected 300 real and 300 fake videos from it (250 for
  training, 25 for validation, and 25 for testing)"). DFD has 28 actors, so the same actor
  appears in every split, as the paper's rule implies.
* ``tariq_dfdc`` -- DFDC preview for the CLRNet Table 3 column: within ``dataset.json``'s train
  set and within its test set, all videos of the smaller class and a seeded random equal number
  of the other class (the preview holds more fakes than reals); validation = a seeded random
  ``round(k / 7)`` videos per class of the balanced train set (the 125 : 875 ratio of the CLRNet
  FF++ split), the rest train; the balanced test set is the test split. The paper gives no DFDC
  split and the preview has no validation split; this is the package's rule.
  The two balanced rules balance the classes present in the selection they are applied to,
  so a selection under them holds both classes (``tariq_dfdc`` refuses one class).
* ``dfw_test`` -- every video is test data (in-the-wild sets are never trained on).
* ``celebdf_official`` -- Celeb-DF v2: the videos of ``List_of_testing_videos.txt`` (stored
  split ``test``) are test; nothing else is used.
* ``ffpp_official``, ``dfdc_preview_masi``, ``mini_benchmark`` and ``None`` -- the splits stored
  in the records (FF++'s official 720/140/140 JSON; DFDC-preview's published train/test, whose
  cross-validation folds :func:`cv_folds` draws; the mini benchmark's own split).

Randomness: every random order is a SHA-1 of ``(rule, seed, dataset/method/video_id)``
(:func:`data_prep.datasets.base.stable_hash`), so it is fixed by the protocol's seed
(:data:`SPLIT_SEED`, independent of the training seed) and a video's place in the order does
not depend on which other videos are on disk.

Pure pandas/numpy; no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from data_prep.datasets.base import SPLITS, stable_hash
from data_prep.datasets.ffpp import ACTOR_METHODS
from data_prep.errors import DataPrepError

#: The protocol's split seed (``experiments/protocol.py`` SPLIT_SEED): splits never change with
#: the training seed.
SPLIT_SEED = 0

#: Rule name -> one line on what it does (the module docstring has the details and sources).
RULES: dict[str, str] = {
    "tariq_ffpp": "FF++ videos by number (fakes by target id): 0-749 train, 750-874 val, "
                  "875-999 test",
    "tariq_dfd": "DFD: a seeded random 300 real + 300 fake videos, 250/25/25 per class",
    "tariq_dfdc": "DFDC preview: balanced train and test sets, val = a seeded 1/7 of train",
    "dfw_test": "every video test",
    "celebdf_official": "Celeb-DF: the official test list only",
    "ffpp_official": "the splits stored in the records (FF++ official pair JSON)",
    "dfdc_preview_masi": "the splits stored in the records (DFDC preview train/test)",
    "mini_benchmark": "the splits stored in the records (the mini benchmark's own split)",
}
#: Rules that keep the split stored in the records.
STORED_RULES: frozenset[str] = frozenset({"ffpp_official", "dfdc_preview_masi",
                                          "mini_benchmark"})
#: Rules under which an extracted split of every kind may hold used videos, so the stored
#: split must not narrow which shard files are read.
REASSIGNING_RULES: frozenset[str] = frozenset(RULES) - STORED_RULES

VIDEO_KEY = ["dataset", "method", "video_id"]
#: CLRNet FF++ cut points on the video number.
TARIQ_FFPP_BOUNDS = (750, 875, 1000)
#: DFD videos per class and their 250/25/25 split.
TARIQ_DFD_COUNTS = (300, 250, 25, 25)
#: DFDC-preview validation fraction of the balanced train set (125 : 875).
TARIQ_DFDC_VAL_FRACTION = 1.0 / 7.0


class SplitError(DataPrepError, ValueError):
    """A split rule that is unknown, or rows it does not define a split for."""


def check_rule(rule: str | None) -> str | None:
    """``rule`` if it names a rule of :data:`RULES` (or is None).

    Raises:
        SplitError: an unknown name (the message lists the known ones).
    """
    if rule is not None and rule not in RULES:
        raise SplitError(f"unknown split rule {rule!r}; known: {', '.join(RULES)}")
    return rule


def reassigns(rule: str | None) -> bool:
    """Whether ``rule`` replaces the stored splits (then every stored split's files are read)."""
    return check_rule(rule) in REASSIGNING_RULES


def _order(videos: pd.DataFrame, rule: str, seed: int) -> np.ndarray:
    """A seeded random order of ``videos`` (positions sorted by a per-video hash)."""
    keys = [stable_hash(f"{rule}:{seed}:{d}/{m}/{v}") for d, m, v in
            zip(videos["dataset"], videos["method"], videos["video_id"], strict=True)]
    return np.argsort(np.array(keys, dtype=np.uint64), kind="stable")


def _uncovered(videos: pd.DataFrame, covered: np.ndarray, rule: str, expected: str) -> None:
    if covered.all():
        return
    bad = videos[~covered].iloc[0]
    raise SplitError(f"split rule {rule} covers {expected} only, not dataset {bad['dataset']!r} "
                     f"method {bad['method']!r} (video {bad['video_id']!r}); give that data its "
                     f"own selection with its rule")


def ffpp_number(video_id: str) -> int:
    """The number that orders an FF++ video: ``a`` for ``a`` and for a fake ``a_b``.

    Raises:
        SplitError: an id that is not FF++'s ``NNN`` or ``NNN_MMM``.
    """
    head = str(video_id).split("_")[0]
    if not head.isdigit():
        raise SplitError(f"split rule tariq_ffpp needs FF++ video ids NNN or NNN_MMM, got "
                         f"{video_id!r}")
    return int(head)


def _tariq_ffpp(videos: pd.DataFrame) -> pd.Series:
    covered = ((videos["dataset"] == "ffpp") & ~videos["method"].isin(ACTOR_METHODS)).to_numpy()
    _uncovered(videos, covered, "tariq_ffpp", "FF++ youtube originals and FF++ methods")
    train, val, end = TARIQ_FFPP_BOUNDS
    out = []
    for vid in videos["video_id"]:
        n = ffpp_number(vid)
        if n >= end:
            raise SplitError(f"split rule tariq_ffpp: video number {n} of {vid!r} is outside "
                             f"FF++'s 000-{end - 1}")
        out.append("train" if n < train else ("val" if n < val else "test"))
    return pd.Series(out, index=videos.index)


def _counts(n: int, full: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """(train, val, test) of ``n`` videos in the proportions of ``full``."""
    total, _, n_val, n_test = full
    if n >= total:
        return full[1], full[2], full[3]
    v, t = round(n * n_val / total), round(n * n_test / total)
    return n - v - t, v, t


def _tariq_dfd(videos: pd.DataFrame, seed: int) -> pd.Series:
    covered = ((videos["dataset"] == "ffpp") & videos["method"].isin(ACTOR_METHODS)).to_numpy()
    _uncovered(videos, covered, "tariq_dfd", "DeepFakeDetection and original_actors")
    out = pd.Series("", index=videos.index, dtype=object)
    by_label = {lab: g for lab, g in videos.groupby("label", sort=True)}
    n = min(TARIQ_DFD_COUNTS[0], *(len(g) for g in by_label.values()))
    n_train, n_val, n_test = _counts(n, TARIQ_DFD_COUNTS)
    for g in by_label.values():
        order = g.index[_order(g, "tariq_dfd", seed)]
        out[order[:n_train]] = "train"
        out[order[n_train:n_train + n_val]] = "val"
        out[order[n_train + n_val:n_train + n_val + n_test]] = "test"
    return out


def _balanced(videos: pd.DataFrame, seed: int, tag: str) -> list[pd.Index]:
    """Per class (sorted by label): the first ``k`` videos of a seeded order, ``k`` = the
    smaller class's count."""
    groups = [g for _, g in videos.groupby("label", sort=True)]
    k = min((len(g) for g in groups), default=0)
    return [g.index[_order(g, tag, seed)][:k] for g in groups]


def _tariq_dfdc(videos: pd.DataFrame, seed: int) -> pd.Series:
    covered = (videos["dataset"] == "dfdc_preview").to_numpy()
    _uncovered(videos, covered, "tariq_dfdc", "the DFDC preview")
    if videos["label"].nunique() < 2:
        raise SplitError("split rule tariq_dfdc balances real and fake videos: select both "
                         "classes of the DFDC preview (e.g. methods=None)")
    out = pd.Series("", index=videos.index, dtype=object)
    train = videos[videos["split"] == "train"]
    for chosen in _balanced(train, seed, "tariq_dfdc:train"):
        n_val = round(len(chosen) * TARIQ_DFDC_VAL_FRACTION)
        out[chosen[:n_val]] = "val"
        out[chosen[n_val:]] = "train"
    for chosen in _balanced(videos[videos["split"] == "test"], seed, "tariq_dfdc:test"):
        out[chosen] = "test"
    return out


def _celebdf_official(videos: pd.DataFrame) -> pd.Series:
    covered = (videos["dataset"] == "celebdf").to_numpy()
    _uncovered(videos, covered, "celebdf_official", "Celeb-DF")
    return videos["split"].where(videos["split"] == "test", "")


def video_splits(videos: pd.DataFrame, rule: str | None, seed: int = SPLIT_SEED) -> pd.Series:
    """The split of every video under ``rule`` (``""`` = not used by the rule).

    Args:
        videos: one row per video with ``dataset``, ``method``, ``video_id``, ``label`` (fake =
            1) and the stored ``split``.
        rule: a name of :data:`RULES`, or None (stored splits).
        seed: the split seed (default: the protocol's).

    Returns:
        Split names aligned with ``videos.index``.

    Raises:
        SplitError: an unknown rule, or videos the rule does not cover (e.g. DFD rows under
            ``tariq_ffpp``).
    """
    check_rule(rule)
    if rule is None or rule in STORED_RULES:
        return videos["split"].astype(object)
    if rule == "dfw_test":
        return pd.Series("test", index=videos.index, dtype=object)
    if rule == "tariq_ffpp":
        return _tariq_ffpp(videos)
    if rule == "tariq_dfd":
        return _tariq_dfd(videos, seed)
    if rule == "tariq_dfdc":
        return _tariq_dfdc(videos, seed)
    return _celebdf_official(videos)


def assign_splits(index: pd.DataFrame, rule: str | None, seed: int = SPLIT_SEED) -> pd.DataFrame:
    """Re-assign the ``split`` column of a clip index by ``rule``; drop the videos it leaves out.

    Args:
        index: a clip index (one row per record, columns of ``data_prep.pipeline.video_index``:
            at least ``dataset``, ``method``, ``video_id``, ``label``, ``split``).
        rule: a name of :data:`RULES`, or None (stored splits, nothing changes).
        seed: the split seed.

    Returns:
        The rows of the videos the rule uses, in their original order, with the rule's split.

    Raises:
        SplitError: see :func:`video_splits`; also a video whose clips disagree on the label.
    """
    if rule is None or check_rule(rule) in STORED_RULES or index.empty:
        return index
    videos = index[[*VIDEO_KEY, "label", "split"]].drop_duplicates(VIDEO_KEY + ["label"])
    if videos.duplicated(VIDEO_KEY).any():
        bad = videos[videos.duplicated(VIDEO_KEY)].iloc[0]
        raise SplitError(f"video {bad['dataset']}/{bad['method']}/{bad['video_id']} has clips "
                         "with both labels")
    # a video stored in two splits (two extraction runs) is one video: take its first row
    videos = videos.reset_index(drop=True)
    videos["new_split"] = video_splits(videos, rule, seed).to_numpy()
    merged = index.drop(columns=["split"]).merge(videos[[*VIDEO_KEY, "new_split"]],
                                                 on=VIDEO_KEY, how="left")
    merged.index = index.index
    merged = merged.rename(columns={"new_split": "split"})[list(index.columns)]
    return merged[merged["split"].isin(SPLITS)]


def split_table(index: pd.DataFrame) -> pd.DataFrame:
    """Videos per (dataset, method, label, split) of a clip index (for reports and tests)."""
    videos = index.drop_duplicates(VIDEO_KEY)
    return (videos.groupby(["dataset", "method", "label", "split"]).size()
            .rename("videos").reset_index())


def cv_folds(videos: pd.DataFrame, n_folds: int = 5, seed: int = SPLIT_SEED,
             tag: str = "dfdc_preview_masi") -> pd.Series:
    """Seeded cross-validation folds: fold ``i`` holds out ``1 / n_folds`` of each class.

    Each class's videos are put in a seeded random order (as the split rules) and dealt to the
    folds in turn, so every fold holds about ``1 / n_folds`` of the reals and of the fakes
    (Masi et al., ECCV'20, Sec. 4.3: five-fold cross-validation retaining 20% of the training
    videos for validation; rule ``dfdc_preview_masi``).

    Args:
        videos: one row per video (``dataset``, ``method``, ``video_id``, ``label``).
        n_folds: number of folds.
        seed: split seed.
        tag: name mixed into the order (different tags give independent folds).

    Returns:
        The fold (0 .. n_folds - 1) of each video, aligned with ``videos.index``.
    """
    if n_folds < 2:
        raise SplitError(f"n_folds must be >= 2, got {n_folds}")
    out = pd.Series(0, index=videos.index, dtype=np.int64)
    for _, g in videos.groupby("label", sort=True):
        order = g.index[_order(g, tag, seed)]
        out[order] = np.arange(len(order)) % n_folds
    return out


def rules_in(selections: Sequence[str | None]) -> list[str]:
    """The distinct rule names among ``selections`` (None dropped), checked."""
    return sorted({check_rule(r) for r in selections if r is not None})
