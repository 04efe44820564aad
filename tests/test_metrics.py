"""Tests for clrnet.metrics: against scikit-learn where it has the metric, by hand elsewhere."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from clrnet import metrics as M


def _random_case(seed: int, n: int = 200, ties: bool = False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = rng.normal(size=n) + 0.8 * y
    if ties:
        s = np.round(s, 1)
    return y, s


@pytest.mark.parametrize("seed,ties", [(0, False), (1, True), (2, True), (3, False)])
def test_against_sklearn(seed, ties):
    y, s = _random_case(seed, ties=ties)
    assert M.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert M.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    for cut in (0.01, 0.1, 0.3):
        assert M.pauc(y, s, cut) == pytest.approx(skm.roc_auc_score(y, s, max_fpr=cut), abs=1e-12)
    fpr, tpr, thr = M.roc_curve(y, s)
    sk_fpr, sk_tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    for t in (-0.5, 0.0, 0.4, 1.2):
        pred = (s >= t).astype(int)
        assert M.f1_at(y, s, t) == pytest.approx(skm.f1_score(y, pred, zero_division=0))
        assert M.precision_at(y, s, t) == pytest.approx(
            skm.precision_score(y, pred, zero_division=0)
        )
        assert M.recall_at(y, s, t) == pytest.approx(skm.recall_score(y, pred))
        assert M.accuracy_at(y, s, t) == pytest.approx(skm.accuracy_score(y, pred))


def test_hand_computed_small_case():
    # scores: fakes 0.9, 0.6, 0.4 ; reals 0.7, 0.3, 0.2
    y = [1, 1, 1, 0, 0, 0]
    s = [0.9, 0.6, 0.4, 0.7, 0.3, 0.2]
    # ROC points: (0,0) (0,1/3) (1/3,1/3) (1/3,2/3) (1/3,1) (2/3,1) (1,1)
    assert M.roc_auc(y, s) == pytest.approx(7 / 9)
    assert M.tar_at_far(y, s, 0.0) == pytest.approx(1 / 3)
    assert M.tar_at_far(y, s, 0.34) == pytest.approx(1.0)
    assert M.tar_at_far(y, s, 0.2) == pytest.approx(1 / 3)
    # area over FPR in [0, 0.5]: 1/3 * 1/3 (first third) + 1 * (0.5 - 1/3) = 1/9 + 1/6
    assert M.tauc(y, s, 0.5) == pytest.approx((1 / 9 + 1 / 6) / 0.5)
    # EER: FNR = FPR = 1/3 at the point (1/3, 2/3)
    assert M.eer(y, s) == pytest.approx(1 / 3)
    # recall 0.5 first reached at threshold 0.6 (TP=2, FP=1)
    value, rec, thr = M.log_wp_point(y, s, 0.5)
    assert (rec, thr) == (pytest.approx(2 / 3), 0.6)
    assert value == pytest.approx(math.log(2 / (2 + 100 * 1)))
    assert M.log_wp(y, s, 0.3) == pytest.approx(0.0)  # TP=1, FP=0
    assert M.log_wp(y, s, 1.0, alpha=1) == pytest.approx(math.log(3 / 4))
    assert M.f1_at(y, s, 0.5) == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))


def test_tauc_interpolates_at_cut_off():
    y = [0, 1]
    s = [0.5, 0.5]  # one tie: ROC is the diagonal (0,0) -> (1,1)
    assert M.roc_auc(y, s) == pytest.approx(0.5)
    assert M.tauc(y, s, 0.1) == pytest.approx(0.05)  # mean TPR over [0, 0.1] of y = x
    assert M.pauc(y, s, 0.1) == pytest.approx(0.5)
    assert M.tar_at_far(y, s, 0.1) == 0.0
    assert M.eer(y, s) == pytest.approx(0.5)


def test_all_scores_equal():
    y = [0, 1, 1, 0, 1]
    s = [0.3] * 5
    assert M.roc_auc(y, s) == pytest.approx(0.5)
    assert M.average_precision(y, s) == pytest.approx(3 / 5)
    assert M.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s))
    assert M.f1_at(y, s, 0.3) == pytest.approx(2 * 0.6 / 1.6)
    assert M.f1_at(y, s, 0.31) == 0.0
    assert M.log_wp(y, s, 0.1) == pytest.approx(math.log(3 / (3 + 200)))


def test_perfect_and_inverted():
    y = [0, 0, 1, 1]
    assert M.roc_auc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert M.eer(y, [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert M.tauc(y, [0.1, 0.2, 0.8, 0.9], 0.01) == pytest.approx(1.0)
    assert M.roc_auc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert M.eer(y, [0.9, 0.8, 0.2, 0.1]) == 1.0


def test_single_class_gives_nan_not_error():
    y = [1, 1, 1]
    s = [0.2, 0.5, 0.9]
    for fn in (M.roc_auc, M.eer, lambda a, b: M.tauc(a, b, 0.1), lambda a, b: M.pauc(a, b, 0.1)):
        assert math.isnan(fn(y, s))
    assert math.isnan(M.tar_at_far(y, s, 0.1))
    assert M.average_precision(y, s) == 1.0
    assert M.f1_at(y, s, 0.5) == pytest.approx(2 * 1 * (2 / 3) / (5 / 3))
    assert math.isnan(M.average_precision([0, 0], [0.1, 0.2]))
    assert math.isnan(M.log_wp([0, 0], [0.1, 0.2], 0.5))


def test_bad_input_raises_specific_error():
    with pytest.raises(M.MetricInputError, match="labels must be 0"):
        M.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(M.MetricInputError, match="has 2 values"):
        M.roc_auc([0, 1], [0.1])
    with pytest.raises(M.MetricInputError, match="NaN"):
        M.f1_at([0, 1], [0.1, float("nan")])
    with pytest.raises(M.MetricInputError, match="recall"):
        M.log_wp([0, 1], [0.1, 0.2], 0.0)


def test_summarize_keys_and_values():
    y, s = _random_case(5)
    out = M.summarize(y, s, fars=(0.1,), recalls=(0.5,))
    assert out["auc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert {"pauc@0.1", "tauc@0.1", "tar@0.1", "log_wp@0.5", "f1", "eer", "ap"} <= set(out)
    assert out["n"] == len(y)


def test_aggregate_scores_levels():
    df = pd.DataFrame(
        {
            "method": ["DF"] * 4 + ["FS"] * 2,
            "video_id": ["a", "a", "a", "a", "a", "a"],
            "clip_index": [0, 0, 1, 1, 0, 0],
            "label": [1, 1, 1, 1, 1, 1],
            "score": [0.2, 0.4, 0.6, 0.8, 0.1, 0.3],
        }
    )
    video = M.aggregate_scores(df, "video")
    assert len(video) == 2  # same id under two methods = two videos
    assert video.set_index("method").loc["DF", "score"] == pytest.approx(0.5)
    clip = M.aggregate_scores(df, "clip")
    assert len(clip) == 3
    assert M.aggregate_scores(df, "video", how="max").set_index("method").loc["FS", "score"] == 0.3
    bad = df.assign(label=[1, 0, 1, 1, 1, 1])
    with pytest.raises(M.MetricInputError, match="both fake and real"):
        M.aggregate_scores(bad, "video")


def _sequence_table(seed: int, n_videos: int = 40, n_seq: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for v in range(n_videos):
        label = v % 2
        for k in range(n_seq):
            # first sequence is informative, later ones are noise: n_sequences=1 should win
            score = label * 1.0 + rng.normal(scale=0.2 if k == 0 else 3.0)
            rows.append({"video_id": f"v{v:03d}", "label": label, "seq_index": k, "score": score})
    return pd.DataFrame(rows)


def test_cross_validated_selection_picks_informative_setting():
    train = _sequence_table(0)
    sel = M.cross_validated_selection(train, recall=0.5, folds=5, seed=0)
    assert sel.n_sequences == 1
    assert sel.valid_recall >= 0.5
    assert 0 <= sel.fold < 5
    value, rec = M.apply_selection(_sequence_table(1), sel)
    assert rec > 0.3 and value > math.log(1 / 101)
    # video scores with n=2 are the mean of the first two sequences
    two = M.sequence_video_scores(train, 2).set_index("video_id")
    first = train[train.video_id == "v000"].sort_values("seq_index")["score"].to_numpy()
    assert two.loc["v000", "score"] == pytest.approx(first[:2].mean())
    with pytest.raises(M.MetricInputError, match="folds"):
        M.cross_validated_selection(train.head(8), recall=0.5)


def test_bootstrap_ci_resamples_videos_and_narrows_with_more_videos():
    rng = np.random.default_rng(0)

    def table(n_videos: int, clips: int = 5):
        y, s, g = [], [], []
        for v in range(n_videos):
            label = v % 2
            centre = rng.normal(1.2 * label, 1.0)  # a per-video effect: clips are not independent
            for _ in range(clips):
                y.append(label)
                s.append(centre + rng.normal(0, 0.3))
                g.append(f"v{v}")
        return np.array(y), np.array(s), g

    y, s, g = table(8)
    lo, hi = M.bootstrap_ci(y, s, g, n_boot=400, seed=1)
    assert lo <= M.roc_auc(y, s) <= hi and hi - lo > 0.1
    assert (lo, hi) == M.bootstrap_ci(y, s, g, n_boot=400, seed=1)  # a function of the seed
    # treating every clip as independent understates the uncertainty
    clip_lo, clip_hi = M.bootstrap_ci(y, s, None, n_boot=400, seed=1)
    assert clip_hi - clip_lo < hi - lo
    y2, s2, g2 = table(64)
    lo2, hi2 = M.bootstrap_ci(y2, s2, g2, n_boot=400, seed=1)
    assert hi2 - lo2 < hi - lo
    assert np.isnan(M.bootstrap_ci([1, 1], [0.2, 0.4], ["a", "b"])[0])  # one class only
    with pytest.raises(M.MetricInputError, match="both fake and real"):
        M.bootstrap_ci([0, 1], [0.1, 0.9], ["a", "a"])


def test_vectorised_bootstrap_auc_equals_the_per_replicate_loop():
    """The all-at-once AUC of every replicate (default metric) equals roc_auc called on each
    replicate's samples, ties included (scores rounded to force them)."""
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(30) % 2, 7)
    s = np.round(rng.normal(0.8 * y, 1.0), 1)  # many tied scores
    g = np.repeat(np.arange(30), 7)
    fast = M.bootstrap_ci(y, s, g, n_boot=300, seed=5)
    loop = M.bootstrap_ci(y, s, g, n_boot=300, seed=5, metric=lambda a, b: M.roc_auc(a, b))
    np.testing.assert_allclose(fast, loop, atol=1e-12)
    assert fast[1] - fast[0] > 0.05
    *_, inverse = np.unique(g, return_index=True, return_inverse=True)
    picks = [rng.integers(0, 30, 30) for _ in range(250)]
    got = M._bootstrap_aucs(y, s, inverse.reshape(-1), 30, picks, chunk=64)
    want = [M.roc_auc(y[np.concatenate([np.flatnonzero(g == k) for k in p])],
                      s[np.concatenate([np.flatnonzero(g == k) for k in p])]) for p in picks
            if 0 < y[np.isin(g, p)].sum() < np.isin(g, p).sum()]
    both = [i for i, p in enumerate(picks) if 0 < y[np.isin(g, p)].sum() < np.isin(g, p).sum()]
    np.testing.assert_allclose(got[both], want, atol=1e-12)
