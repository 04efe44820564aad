"""Tests of data_prep.sampling: counts of every sampling policy, on hand-made clip indexes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.class_weight import compute_class_weight

from data_prep import sampling


def make_index(videos: dict[str, int], clips: int = 6, dataset: str = "ffpp") -> pd.DataFrame:
    """``videos`` maps method -> number of videos; method "original" is real, others fake."""
    rows = []
    for method, n in videos.items():
        for v in range(n):
            for c in range(clips):
                rows.append({"video_id": f"{method[:2]}{v:03d}", "dataset": dataset,
                             "method": method, "split": "train",
                             "label": 0 if method == "original" else 1, "clip_index": c})
    index = pd.DataFrame(rows)
    index["gid"] = np.arange(len(index), dtype=np.int64)
    return index


def per_video(plan: pd.DataFrame) -> pd.Series:
    return plan.groupby(sampling.VIDEO_KEY).size()


def test_clrnet_plan_keeps_first_clips_per_video():
    index = make_index({"original": 2, "Deepfakes": 2}, clips=20)
    short = make_index({"FaceSwap": 1}, clips=3)
    short["gid"] += len(index)
    plan = sampling.clrnet_plan(pd.concat([index, short], ignore_index=True), clips_per_video=16)
    counts = per_video(plan)
    assert counts.loc[("ffpp", "original", "or000")] == 16
    assert counts.loc[("ffpp", "FaceSwap", "Fa000")] == 3
    assert set(plan.loc[plan["method"] == "Deepfakes", "clip_index"]) == set(range(16))
    assert (plan["copy"] == 0).all()


def test_stratified_epoch_visits_every_video_exactly_once():
    index = make_index({"original": 7, "Deepfakes": 9})
    plan = sampling.stratified_epoch(index, seed=3, epoch=0)  # one fake method: no re-balancing
    counts = per_video(plan)
    assert len(counts) == 16 and (counts == 1).all()
    plan_no_rebalance = sampling.stratified_epoch(make_index({"original": 3, "A": 4, "B": 5}),
                                                  seed=0, epoch=0, real_oversample=1,
                                                  fake_undersample=1)
    assert len(per_video(plan_no_rebalance)) == 12 and (per_video(plan_no_rebalance) == 1).all()


def test_stratified_epoch_reproducible_and_redrawn_each_epoch():
    index = make_index({"original": 10, "Deepfakes": 10})
    a = sampling.stratified_epoch(index, seed=1, epoch=0)
    b = sampling.stratified_epoch(index, seed=1, epoch=0)
    c = sampling.stratified_epoch(index, seed=1, epoch=1)
    d = sampling.stratified_epoch(index, seed=2, epoch=0)
    assert a["gid"].tolist() == b["gid"].tolist()
    assert a["gid"].tolist() != c["gid"].tolist()
    assert a["gid"].tolist() != d["gid"].tolist()


def test_stratified_epoch_oversamples_real_and_undersamples_each_method():
    index = make_index({"original": 8, "Deepfakes": 8, "FaceSwap": 5, "Face2Face": 8})
    plan = sampling.stratified_epoch(index, seed=0, epoch=4)
    real = plan[plan["label"] == 0]
    assert len(real) == 16 and (per_video(real) == 2).all()
    # Two distinct windows per real video while it has enough.
    assert (real.groupby("video_id")["gid"].nunique() == 2).all()
    for method, n in (("Deepfakes", 8), ("FaceSwap", 5), ("Face2Face", 8)):
        fake = plan[plan["method"] == method]
        assert len(fake) == int(np.ceil(n / 2))
        assert (per_video(fake) == 1).all()
    assert plan.groupby("gid")["copy"].max().max() == 0


def test_stratified_single_method_can_force_rebalancing():
    index = make_index({"original": 4, "Deepfakes": 6})
    plan = sampling.stratified_epoch(index, 0, 0, multi_method_only=False)
    assert (plan["label"] == 0).sum() == 8 and (plan["label"] == 1).sum() == 3


def test_stratified_repeats_a_window_when_a_video_has_only_one():
    index = make_index({"original": 2, "A": 2, "B": 2}, clips=1)
    plan = sampling.stratified_epoch(index, 0, 0)
    real = plan[plan["label"] == 0]
    assert len(real) == 4 and sorted(real["copy"].tolist()) == [0, 0, 1, 1]


def test_select_videos_per_domain_exact_and_reproducible():
    index = make_index({"original": 12, "Deepfakes": 15, "FaceSwap": 11})
    picked = sampling.select_videos_per_domain(index, k=10, seed=5)
    videos = picked.drop_duplicates(sampling.VIDEO_KEY)
    assert videos.groupby("method").size().to_dict() == {"original": 10, "Deepfakes": 10,
                                                         "FaceSwap": 10}
    assert (picked.groupby(sampling.VIDEO_KEY).size() == 6).all()  # all clips of a chosen video
    again = sampling.select_videos_per_domain(index, k=10, seed=5)
    assert picked["gid"].tolist() == again["gid"].tolist()
    other = sampling.select_videos_per_domain(index, k=10, seed=6)
    assert picked["gid"].tolist() != other["gid"].tolist()
    # A domain's choice does not depend on the other domains present.
    alone = sampling.select_videos_per_domain(index[index["method"] == "Deepfakes"], k=10, seed=5)
    assert set(alone["video_id"]) == set(picked.loc[picked["method"] == "Deepfakes", "video_id"])


def test_select_videos_per_domain_per_label_and_too_few():
    index = make_index({"original": 12, "Deepfakes": 15})
    per_label = sampling.select_videos_per_domain(index, k=3, seed=0, domain_by="dataset",
                                                  per_label=True)
    assert per_label.drop_duplicates(sampling.VIDEO_KEY).groupby("label").size().tolist() == [3, 3]
    with pytest.raises(ValueError, match="original has 12 videos"):
        sampling.select_videos_per_domain(index, k=13, seed=0)


def test_balance_domains_equal_per_domain_within_class():
    index = make_index({"original": 5, "Deepfakes": 4, "FaceSwap": 2}, clips=3)
    plan = sampling.balance_domains(sampling.all_plan(index), seed=0, epoch=0)
    fake = plan[plan["label"] == 1].groupby("method").size()
    assert fake.to_dict() == {"Deepfakes": 6, "FaceSwap": 6}
    assert (plan["label"] == 0).sum() == 15  # the real class is one domain: untouched
    # ... but FF++ and DFD reals are two methods: the option cuts 5 youtube reals to DFD's 2
    mixed = pd.concat([index, make_index({"original_actors": 2}, clips=3).assign(
        gid=lambda d: d["gid"] + len(index), label=0)])
    cut = sampling.balance_domains(sampling.all_plan(mixed), seed=0, epoch=0)
    assert cut[cut["label"] == 0].groupby("method").size().to_dict() == {
        "original": 6, "original_actors": 6}
    other = sampling.balance_domains(sampling.all_plan(index), seed=0, epoch=1)
    assert plan["gid"].tolist() != other["gid"].tolist()


def test_balance_classes_exactly_equal():
    index = make_index({"original": 2, "Deepfakes": 5}, clips=3)
    plan = sampling.balance_classes(sampling.all_plan(index), seed=0, epoch=0)
    counts = plan["label"].value_counts()
    assert counts[0] == counts[1] == 15
    assert plan[plan["label"] == 0].groupby("gid").size().min() >= 2  # 6 real clips x 2.5


def test_class_weights_match_sklearn_balanced():
    labels = np.array([0] * 7 + [1] * 21)
    expected = compute_class_weight("balanced", classes=np.array([0, 1]), y=labels)
    weights = sampling.class_weights(labels)
    assert weights[0] == pytest.approx(expected[0]) and weights[1] == pytest.approx(expected[1])


def test_select_videos_k_real_and_k_fake_of_one_domain():
    index = make_index({"original": 12, "FaceSwap": 15})
    rows, reused = sampling.select_videos(index, k=4, seed=0, tag="FS")
    videos = rows.drop_duplicates(sampling.VIDEO_KEY)
    assert videos.groupby("label").size().to_dict() == {0: 4, 1: 4} and reused == 0
    assert (rows.groupby(sampling.VIDEO_KEY).size() == 6).all()  # every clip of a chosen video
    again, _ = sampling.select_videos(index, k=4, seed=0, tag="FS")
    assert rows["gid"].tolist() == again["gid"].tolist()
    other, _ = sampling.select_videos(index, k=4, seed=0, tag="DF")
    assert set(other["video_id"]) != set(rows["video_id"])  # the tag seeds the draw
    total, _ = sampling.select_videos(index, k=4, seed=0, tag="FS", per_label=False)
    assert total["video_id"].nunique() == 4
    with pytest.raises(ValueError, match="class real of domain FS has 12 videos"):
        sampling.select_videos(index, k=13, seed=0, tag="FS")


def test_select_videos_domains_sharing_reals_draw_different_ones():
    reals = make_index({"original": 9})
    taken = None
    chosen = []
    for tag, method in (("DF", "Deepfakes"), ("FS", "FaceSwap"), ("NT", "NeuralTextures")):
        fakes = make_index({method: 5})
        fakes["gid"] += 1000 * len(chosen) + 100
        rows, reused = sampling.select_videos(pd.concat([reals, fakes]), k=3, seed=0, tag=tag,
                                              exclude=taken)
        real_ids = set(rows.loc[rows["label"] == 0, "video_id"])
        assert len(real_ids) == 3 and reused == 0
        chosen.append(real_ids)
        picked = rows[sampling.VIDEO_KEY].drop_duplicates()
        taken = picked if taken is None else pd.concat([taken, picked])
    assert set.union(*chosen) == set(reals["video_id"])  # 3 domains x 3 = all 9, disjoint
    # a fourth domain finds no unused real video: it reuses 3 (and says so)
    rows, reused = sampling.select_videos(pd.concat([reals, make_index({"Face2Face": 5})]),
                                          k=3, seed=0, tag="F2F", exclude=taken)
    assert reused == 3 and rows.loc[rows["label"] == 0, "video_id"].nunique() == 3


def test_window_count_masi_hop_one():
    assert sampling.window_count(110, 10) == 101  # Masi: 110 frames one in seven, F = 10
    assert sampling.window_count(9, 10) == 0
    np.testing.assert_array_equal(sampling.window_count(np.array([10, 12, 15]), 5, hop=5),
                                  [2, 2, 3])
    with pytest.raises(ValueError, match=">= 1"):
        sampling.window_count(10, 0)
