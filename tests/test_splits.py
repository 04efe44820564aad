"""Tests of data_prep.splits: each protocol split rule's counts, seeds and coverage, and the
assignment at read time (pipeline and clrnet.strategies.DataSpec)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_prep import splits
from data_prep.splits import SplitError, assign_splits, cv_folds, video_splits


def videos(rows: list[tuple[str, str, str, int, str]]) -> pd.DataFrame:
    """(dataset, method, video_id, label, stored split) per video."""
    return pd.DataFrame(rows, columns=["dataset", "method", "video_id", "label", "split"])


def ffpp_videos(n: int = 1000, methods=("Deepfakes", "FaceSwap"), seed: int = 0) -> pd.DataFrame:
    """FF++-like: originals 000..n-1 and, per method, one fake a_b per target a."""
    rng = np.random.default_rng(seed)
    rows = [("ffpp", "original", f"{a:03d}", 0, "train") for a in range(n)]
    for m in methods:
        partner = rng.permutation(n)
        rows += [("ffpp", m, f"{a:03d}_{partner[a]:03d}", 1, "val") for a in range(n)]
    return videos(rows)


def counts(v: pd.DataFrame, split: pd.Series) -> dict:
    return v.assign(s=split.to_numpy()).groupby(["method", "s"]).size().to_dict()


def test_rules_and_seed_match_the_protocol():
    from experiments import protocol

    assert set(splits.RULES) == set(protocol.SPLIT_RULES)
    assert splits.SPLIT_SEED == protocol.SPLIT_SEED
    for name, rule in protocol.SPLIT_RULES.items():
        # the rules with randomness are the ones the protocol seeds
        assert (name in ("tariq_dfd", "tariq_dfdc", "dfdc_preview_masi")) == (rule.seed is not None)
    with pytest.raises(SplitError, match="unknown split rule 'nope'"):
        splits.check_rule("nope")


def test_tariq_ffpp_first_750_next_125_last_125_fakes_by_target():
    v = ffpp_videos()
    s = video_splits(v, "tariq_ffpp")
    c = counts(v, s)
    for m in ("original", "Deepfakes", "FaceSwap"):
        assert (c[(m, "train")], c[(m, "val")], c[(m, "test")]) == (750, 125, 125)
    by_id = dict(zip(v["video_id"], s, strict=True))
    assert by_id["749"] == "train" and by_id["750"] == "val" and by_id["875"] == "test"
    fakes = v[v["method"] == "Deepfakes"]
    for vid in fakes["video_id"]:  # a fake a_b follows its target a, whatever b's split
        assert by_id[vid] == by_id[vid.split("_")[0]]
    # the cut is on the number: a partial download keeps every video's split
    part = v[v["video_id"].str[:3].astype(int) % 3 == 0]
    assert (video_splits(part, "tariq_ffpp") == s[part.index]).all()


def test_tariq_ffpp_refuses_what_it_does_not_cover():
    dfd = videos([("ffpp", "DeepFakeDetection", "01_02__walk__ABCD", 1, "train")])
    with pytest.raises(SplitError, match="not dataset 'ffpp' method 'DeepFakeDetection'"):
        video_splits(dfd, "tariq_ffpp")
    with pytest.raises(SplitError, match="NNN or NNN_MMM"):
        video_splits(videos([("ffpp", "original", "abc", 0, "train")]), "tariq_ffpp")
    with pytest.raises(SplitError, match="outside"):
        video_splits(videos([("ffpp", "original", "1000", 0, "train")]), "tariq_ffpp")


def _dfd(n_real: int, n_fake: int) -> pd.DataFrame:
    rows = [("ffpp", "original_actors", f"{i % 28:02d}__scene{i}", 0, "train")
            for i in range(n_real)]
    rows += [("ffpp", "DeepFakeDetection", f"{i % 28:02d}_{(i + 1) % 28:02d}__scene{i}__X", 1,
              "test") for i in range(n_fake)]
    return videos(rows)


def test_tariq_dfd_random_300_per_class_250_25_25():
    v = _dfd(363, 3068)  # the full DFD's counts
    s = video_splits(v, "tariq_dfd")
    c = counts(v, s)
    for m in ("original_actors", "DeepFakeDetection"):
        assert (c[(m, "train")], c[(m, "val")], c[(m, "test")]) == (250, 25, 25)
    assert c[("original_actors", "")] == 63 and c[("DeepFakeDetection", "")] == 2768
    assert (video_splits(v, "tariq_dfd") == s).all()  # seeded: the same every time
    assert not (video_splits(v, "tariq_dfd", seed=1) == s).all()
    # unused videos removed from the folder do not change the others' splits
    kept = v[(s != "") | (v.index % 2 == 0)]
    assert (video_splits(kept, "tariq_dfd") == s[kept.index]).all()
    # a smaller copy: min(300, reals, fakes) per class, 250:25:25 scaled
    small = counts(_dfd(40, 60), video_splits(_dfd(40, 60), "tariq_dfd"))
    assert (small[("original_actors", "train")], small[("original_actors", "val")],
            small[("original_actors", "test")]) == (34, 3, 3)
    assert small[("DeepFakeDetection", "train")] == 34 and small[("DeepFakeDetection", "")] == 20


def _dfdc() -> pd.DataFrame:
    rows = [("dfdc_preview", "original", f"original_videos/r{i}", 0, "train") for i in range(100)]
    rows += [("dfdc_preview", "method_A", f"method_A/f{i}", 1, "train") for i in range(400)]
    rows += [("dfdc_preview", "original", f"original_videos/t{i}", 0, "test") for i in range(20)]
    rows += [("dfdc_preview", "method_B", f"method_B/g{i}", 1, "test") for i in range(80)]
    return videos(rows)


def test_tariq_dfdc_balanced_with_a_seventh_of_train_as_val():
    v = _dfdc()
    s = video_splits(v, "tariq_dfdc")
    per = v.assign(s=s.to_numpy()).groupby(["label", "s"]).size().to_dict()
    assert (per[(0, "train")], per[(0, "val")], per[(0, "test")]) == (86, 14, 20)
    assert (per[(1, "train")], per[(1, "val")], per[(1, "test")]) == (86, 14, 20)
    assert per[(1, "")] == 300 + 60  # fakes beyond the reals' count are not used
    stored_test = v["split"] == "test"
    assert set(s[stored_test]) <= {"test", ""} and "test" not in set(s[~stored_test])
    with pytest.raises(SplitError, match="both classes"):
        video_splits(v[v["label"] == 1], "tariq_dfdc")


def test_dfw_celebdf_and_stored_rules():
    v = videos([("folder", "original", "real/a", 0, "train"), ("folder", "GAN", "fake/b", 1, "val"),
                ("celebdf", "Celeb-real", "id0_0001", 0, "test")])
    assert set(video_splits(v, "dfw_test")) == {"test"}
    celeb = v[v["dataset"] == "celebdf"]
    celeb = pd.concat([celeb, videos([("celebdf", "Celeb-synthesis", "id0_id1_0001", 1,
                                       "train")])], ignore_index=True)
    assert video_splits(celeb, "celebdf_official").tolist() == ["test", ""]
    for rule in (None, "ffpp_official", "mini_benchmark", "dfdc_preview_masi"):
        assert video_splits(v, rule).tolist() == ["train", "val", "test"]
        assert not splits.reassigns(rule)
    assert splits.reassigns("tariq_ffpp") and splits.reassigns("dfw_test")


def test_assign_splits_on_a_clip_index_keeps_used_videos_only():
    rows = []
    for vid, label, method in (("010", 0, "original"), ("760", 0, "original"),
                               ("900", 0, "original"), ("760_010", 1, "Deepfakes")):
        rows += [{"dataset": "ffpp", "method": method, "video_id": vid, "label": label,
                  "split": "train", "clip_index": c} for c in range(3)]
    index = pd.DataFrame(rows)
    index["gid"] = np.arange(len(index))
    out = assign_splits(index, "tariq_ffpp")
    assert out["gid"].tolist() == index["gid"].tolist()  # order and rows kept
    assert out.groupby("video_id")["split"].first().to_dict() == {
        "010": "train", "760": "val", "760_010": "val", "900": "test"}
    assert assign_splits(index, None) is index
    dfdc = _dfdc()
    dfdc["clip_index"], dfdc["gid"] = 0, np.arange(len(dfdc))
    used = assign_splits(dfdc, "tariq_dfdc")
    assert len(used) == 2 * (100 + 20) and set(used["split"]) == {"train", "val", "test"}
    both = pd.concat([index, index.assign(label=1 - index["label"], gid=index["gid"] + 100)])
    with pytest.raises(SplitError, match="both labels"):
        assign_splits(both, "tariq_ffpp")


def test_cv_folds_hold_out_a_fifth_of_each_class():
    v = _dfdc()
    train = v[v["split"] == "train"]
    folds = cv_folds(train)
    per = train.assign(f=folds.to_numpy()).groupby(["label", "f"]).size()
    assert per.loc[0].tolist() == [20] * 5 and per.loc[1].tolist() == [80] * 5
    assert (cv_folds(train) == folds).all() and not (cv_folds(train, seed=3) == folds).all()


# --------------------------------------------------------------------- assignment at read time

def _records(root: Path) -> Path:
    """FF++-like records all stored under split train: ids 010 (train), 760 (val), 900 (test)."""
    import tensorflow as tf

    from data_prep.records import ClipMeta, encode_clip, shard_name

    rng = np.random.default_rng(0)
    for method, ids in (("original", ("010", "760", "900")),
                        ("Deepfakes", ("010_760", "760_900", "900_010"))):
        directory = root / "ffpp" / method / "train"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / shard_name("clips", 0, 2 * len(ids))
        with tf.io.TFRecordWriter(str(path)) as writer:
            for vid in ids:
                for c in range(2):
                    frames = (rng.random((2, 8, 8, 3)) * 255).astype(np.uint8)
                    meta = ClipMeta(label=int(method != "original"), video_id=vid, dataset="ffpp",
                                    method=method, split="train", source_path=f"{vid}.mp4",
                                    clip_index=c, frame_indices=[2 * c, 2 * c + 1])
                    writer.write(encode_clip(frames, meta))
    return root


def test_split_rule_is_applied_when_the_records_are_read(tmp_path):
    from clrnet.strategies import DataSpec
    from data_prep.pipeline import PipelineError, get_dataset

    root = _records(tmp_path / "records")
    ds, info = get_dataset(root, 4, False, split_rule="tariq_ffpp", splits=["val"],
                           return_meta=True, return_info=True)
    got = {(m.decode(), v.decode()) for _, _, meta in ds
           for m, v in zip(meta["method"].numpy(), meta["video_id"].numpy(), strict=True)}
    assert got == {("original", "760"), ("Deepfakes", "760_900")}
    assert info["samples_per_epoch"] == 4 and set(info["index"]["split"]) == {"val"}
    # the stored split alone has no val videos
    with pytest.raises(PipelineError, match="no clips"):
        get_dataset(root, 4, False, splits=["val"])
    # DataSpec reads every stored split's shards when its rule re-assigns splits
    spec = DataSpec(root, methods=("original", "Deepfakes"), splits=("test",),
                    split_rule="tariq_ffpp")
    assert len(spec.files()) == 2 and spec.is_test()
    from clrnet.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown split rule"):
        DataSpec(root, split_rule="750/125/125")
