"""Tests of clrnet.strategies on tiny in-test models and in-memory datasets.

A stand-in registry (``toy`` = Dense -> BN -> Dense -> Dense(2, softmax)) is patched in so these
tests exercise the strategies themselves, independent of the real model zoo.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from clrnet import registry, strategies
from clrnet.errors import (
    ConfigError,
    EmptyDatasetError,
    InputShapeError,
    UnknownModelError,
    WeightsError,
)

D = 6


def _toy_model(input_shape=(D,)) -> keras.Model:
    inp = keras.Input(input_shape, name="x")
    h = keras.layers.Dense(16, activation="relu", name="d1")(inp)
    h = keras.layers.BatchNormalization(name="bn1")(h)
    h = keras.layers.Dense(16, activation="relu", name="d2")(h)
    h = keras.layers.BatchNormalization(name="bn2")(h)
    h = keras.layers.Dense(8, activation="relu", name="d3")(h)
    out = keras.layers.Dense(2, activation="softmax", name="head")(h)
    return keras.Model(inp, out, name="toy")


@pytest.fixture
def toy_registry():
    """A toy frame model registered for the test (removed afterwards)."""
    spec = registry.register(registry.ModelSpec(
        name="toy", family="clrnet", builder=_toy_model, kind="frame", input_size=D,
        clip_len=None, output="softmax2", loss="binary_crossentropy", optimizer="adam", lr=0.01,
        batch_size=16, epochs=300, epochs_transfer=150, paper="test", source="test",
        shape_kwargs=lambda size, clip_len: {}))
    yield spec
    registry._SPECS.pop("toy", None)


T, S = 5, 8


def _toy_clip_model() -> keras.Model:
    inp = keras.Input((T, S, S, 3), name="clip")
    h = keras.layers.GlobalAveragePooling3D(name="gap")(inp)
    h = keras.layers.Dense(4, activation="relu", name="d1")(h)
    out = keras.layers.Dense(2, activation="softmax", name="head")(h)
    return keras.Model(inp, out, name="toy_clip")


@pytest.fixture
def toy_clip_registry():
    """A toy clip model (5 x 8 x 8 x 3) registered for the test (removed afterwards)."""
    spec = registry.register(registry.ModelSpec(
        name="toy_clip", family="clrnet", builder=_toy_clip_model, kind="clip", input_size=S,
        clip_len=T, output="softmax2", loss="binary_crossentropy", optimizer="adam", lr=0.01,
        batch_size=4, epochs=1, epochs_transfer=1, paper="test", source="test",
        shape_kwargs=lambda size, clip_len: {}))
    yield spec
    registry._SPECS.pop("toy_clip", None)


#: FF++-like records (stored splits): (method, label, train ids, val ids)
FFPP_IDS = [f"{i:03d}" for i in range(8)]
RECORDS = {
    "original": (0, FFPP_IDS[:6], FFPP_IDS[6:]),
    "Deepfakes": (1, [f"{a}_{b}" for a, b in zip(FFPP_IDS[:6], FFPP_IDS[1:7], strict=True)],
                  ["006_007", "007_006"]),
    "FaceSwap": (1, [f"{a}_{b}" for a, b in zip(FFPP_IDS[1:7], FFPP_IDS[:6], strict=True)],
                 ["007_000", "006_001"]),
    "original_actors": (0, ["01__walk", "02__talk", "03__sit"], ["04__walk"]),
    "DeepFakeDetection": (1, ["01_02__walk__A", "02_03__talk__B", "03_01__sit__C",
                              "01_03__sit__D"], ["04_01__walk__E"]),
}
CLIPS = 2


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    """<root>/ffpp/<method>/<split>/*.tfrecord, CLIPS clips of T frames per video."""
    from data_prep.records import ClipMeta, encode_clip, shard_name

    root = tmp_path_factory.mktemp("records")
    rng = np.random.default_rng(0)
    for method, (label, train, val) in RECORDS.items():
        for split, ids in (("train", train), ("val", val)):
            directory = root / "ffpp" / method / split
            directory.mkdir(parents=True)
            path = directory / shard_name("clips", 0, CLIPS * len(ids))
            with tf.io.TFRecordWriter(str(path)) as writer:
                for vid in ids:
                    for c in range(CLIPS):
                        frames = (rng.random((T, S, S, 3)) * 255).astype(np.uint8)
                        frames[..., 0] = 255 * label  # learnable: red channel = label
                        meta = ClipMeta(label=label, video_id=vid, dataset="ffpp",
                                        method=method, split=split, source_path=f"{vid}.mp4",
                                        clip_index=c, frame_indices=list(range(c * T, c * T + T)))
                        writer.write(encode_clip(frames, meta))
    return root


def _spec(root: Path, *methods: str, split: str = "train"):
    return strategies.DataSpec(root, methods=methods, splits=(split,))


DOMAINS = {"DF": ("original", "Deepfakes"), "FS": ("original", "FaceSwap"),
           "DFD": ("original_actors", "DeepFakeDetection")}


def _plan_counts(info: dict) -> dict:
    """{method: (videos, records)} of the first epoch's plan."""
    plan = info["plan"]
    return {m: (g["video_id"].nunique(), len(g)) for m, g in plan.groupby("method")}


def _domain(n: int, sign: float, seed: int, batch: int = 16) -> tf.data.Dataset:
    """Labels fake = 1 when sign * x0 > 0 (sign -1: the opposite rule)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D)).astype("float32")
    y = (sign * x[:, 0] > 0).astype("int64")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


HP = dict(epochs=6, batch_size=16, lr=0.02, seed=0, verbose=0, keep_checkpoints=1)


def test_resolve_hp_defaults_and_errors(toy_registry):
    h = strategies.resolve_hp(None)
    assert (h.lr, h.batch_size, h.clip_len) == (5e-5, 16, 5)  # official CLRNet values
    # best.keras on the best val accuracy, as the official ModelCheckpoint(monitor='val_acc')
    assert h.monitor == "val_accuracy" and h.augment is None
    h = strategies.resolve_hp("clrnet", transfer=True)
    assert (h.lr, h.epochs, h.image_size) == (5e-5, 150, 240)
    with pytest.raises(UnknownModelError):
        strategies.resolve_hp("clrnet_not_registered")
    h = strategies.resolve_hp("toy", epochs=3)
    assert h.lr == 0.01 and h.clip_len is None and h.epochs == 3
    with pytest.raises(ConfigError, match="unknown hyper-parameter"):
        strategies.resolve_hp("toy", learning_rat=1)


def test_augmentation_is_the_models_official_choice(toy_clip_registry, records, monkeypatch):
    # CLRNet's official training augments; the baselines' and Masi et al.'s do not
    augmenting = {n for n in registry.names() if registry.get(n).augment}
    assert augmenting == {"clrnet", "clrnet18", "clrnet34", "clrnet101"}
    assert strategies.resolve_hp("clrnet").augment is True
    assert strategies.resolve_hp("xception").augment is False
    assert strategies.resolve_hp("two_branch").augment is False
    from clrnet.strategies import data as data_module

    seen = []
    real = data_module.get_dataset

    def spy(*args, **kwargs):
        seen.append(kwargs.get("augment"))
        return real(*args, **kwargs)

    monkeypatch.setattr(data_module, "get_dataset", spy)
    model = _toy_clip_model()
    spec = _spec(records, "original", "Deepfakes")
    for hp_augment, want in ((None, False), (True, True)):
        strategies.make_dataset(spec, strategies.resolve_hp(None, augment=hp_augment, seed=0),
                                model, training=True)
        assert seen[-1] is want
    wrapped = registry.wrap(model, "toy_clip")
    object.__setattr__(toy_clip_registry, "augment", True)  # an augmenting entry
    strategies.make_dataset(spec, strategies.resolve_hp(None), wrapped, training=True)
    assert seen[-1] is True


def test_dataspec_errors(tmp_path):
    with pytest.raises(EmptyDatasetError, match="data not found"):
        strategies.DataSpec(tmp_path / "missing").files()
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyDatasetError, match="no training records"):
        strategies.DataSpec(tmp_path / "empty", methods=["Deepfakes"]).files()
    assert strategies.DataSpec("x", methods="FaceSwap").methods == ("FaceSwap",)


def test_single_reduces_loss_and_checks_shapes(toy_registry, tmp_path):
    res = strategies.train_single("toy", _domain(128, 1, 0), _domain(64, 1, 1),
                                  tmp_path / "single", **HP)
    loss = res.fit.history["loss"]
    assert loss[-1] < loss[0]
    assert (tmp_path / "single" / "best.keras").exists()
    chosen = json.loads((tmp_path / "single" / "metrics.json").read_text())
    assert (chosen["monitor"], chosen["mode"]) == ("val_accuracy", "max")
    bad = tf.data.Dataset.from_tensor_slices((np.zeros((4, D + 1), "float32"),
                                              np.zeros(4, "int64"))).batch(2)
    with pytest.raises(InputShapeError, match=r"expects \(6,\)"):
        strategies.train_single("toy", bad, None, tmp_path / "bad", **HP)


def test_freeze_first_half_and_top_k():
    model = _toy_model()
    n = len(model.layers)  # Input + 6 layers = 7
    assert strategies.freeze_layers(model) == n // 2 == 3
    assert [layer.trainable for layer in model.layers] == [False] * 3 + [True] * (n - 3)
    assert strategies.freeze_layers(model, top_k_layers=2) == n - 2
    assert [layer.trainable for layer in model.layers][-3:] == [False, True, True]
    with pytest.raises(ConfigError, match="top_k_layers"):
        strategies.freeze_layers(model, top_k_layers=n + 1)


def test_transfer_freezes_first_half(toy_registry, tmp_path):
    src = _toy_model()
    src.compile("adam", "binary_crossentropy")
    src.fit(_domain(64, 1, 0).map(lambda x, y: (x, tf.one_hot(y, 2))), epochs=1, verbose=0)
    path = tmp_path / "source.keras"
    src.save(path)
    res = strategies.train_transfer(path, {"target": _domain(64, -1, 3)}, _domain(32, -1, 4),
                                    tmp_path / "transfer", **HP)
    assert res.info["frozen_layers"] == 3 and res.info["layers"] == 7
    tuned = res.model
    for name in ("d1", "bn1"):  # layers 1, 2: first half, BN moving statistics included
        for a, b in zip(src.get_layer(name).get_weights(), tuned.get_layer(name).get_weights(),
                        strict=True):
            np.testing.assert_array_equal(a, b)
        assert not tuned.get_layer(name).trainable
    for name in ("bn2", "d3", "head"):
        before, after = src.get_layer(name).get_weights()[0], tuned.get_layer(name).get_weights()[0]
        assert np.abs(before - after).max() > 1e-4, name
    with pytest.raises(WeightsError, match="not a loadable"):
        (tmp_path / "junk.keras").write_text("not a model")
        strategies.train_transfer(tmp_path / "junk.keras", {"t": _domain(8, 1, 0)}, None,
                                  tmp_path / "t2", **HP)


def test_merge_of_ready_datasets_uses_every_sample_of_every_domain_once(toy_registry, tmp_path):
    def tagged(n: int, tag: int) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices(np.full((n, 1), tag, "float32"))

    merged = list(strategies.merge_datasets([tagged(64, 0), tagged(32, 1)], seed=0)
                  .as_numpy_iterator())
    tags = np.concatenate(merged).astype(int)
    assert np.bincount(tags).tolist() == [64, 32]  # the union: the larger domain is not cut
    assert tags[:32].sum() not in (0, 32)  # interleaved, not concatenated
    res = strategies.train_merge("toy", {"a": _domain(64, 1, 0), "b": _domain(32, 1, 1)},
                                 _domain(32, 1, 2), tmp_path / "merge", **HP)
    assert res.info["domains"] == ["a", "b"] and res.info["train_data"] is None
    history = pd.read_csv(tmp_path / "merge" / "history.csv")
    assert res.fit.history["loss"][-1] < res.fit.history["loss"][0] and len(history) == 6


def test_merge_trains_on_the_union_of_the_domains_videos(toy_clip_registry, records, tmp_path):
    domains = {name: _spec(records, *methods) for name, methods in DOMAINS.items()}
    val = [_spec(records, *methods, split="val") for methods in DOMAINS.values()]
    res = strategies.train_merge("toy_clip", domains, val, tmp_path / "merge", epochs=1,
                                 batch_size=4, seed=0, verbose=0, keep_checkpoints=1)
    rows = {r["method"]: r for r in res.info["train_data"]}
    # every training video of every domain; the FF++ reals shared by DF and FS once, and not
    # cut to DFD's 3 actor reals
    assert {m: r["videos"] for m, r in rows.items()} == {
        "original": 6, "Deepfakes": 6, "FaceSwap": 6, "original_actors": 3,
        "DeepFakeDetection": 4}
    real = sum(r["records"] for r in rows.values() if r["label"] == 0)
    fake = sum(r["records"] for r in rows.values() if r["label"] == 1)
    assert fake == (6 + 6 + 4) * CLIPS and real == fake  # minority (real) oversampled to 1:1
    assert rows["Deepfakes"]["records"] == 6 * CLIPS  # fakes: every clip exactly once
    assert res.info["hp"]["balance"] == "batches"
    # what domain_balance=True (the former default) does: the 12 FF++ real clips cut to the
    # 6 of DFD's actors (two real "domains"), every fake method to DFD's 8 clips
    h = strategies.resolve_hp("toy_clip", balance="weights")
    _, info = strategies.make_dataset(list(domains.values()), h, _toy_clip_model(),
                                      training=True, domain_balance=True, return_info=True)
    cut = info["plan"].groupby("method").size().to_dict()
    assert cut == {"original": 6, "original_actors": 6, "Deepfakes": 8, "FaceSwap": 8,
                   "DeepFakeDetection": 8}


def test_transfer_data_k_real_and_k_fake_per_domain_and_source(records):
    h = strategies.resolve_hp(None, seed=3, balance="batches")
    model = _toy_clip_model()
    targets = [_spec(records, *DOMAINS["DF"]), _spec(records, *DOMAINS["DFD"])]
    source = _spec(records, *DOMAINS["FS"])
    _, info = strategies.make_dataset([*targets, source], h, model, training=True,
                                      videos_per_domain=2, return_info=True)
    index = info["index"].drop_duplicates(["method", "video_id"])
    per = index.groupby("method")["video_id"].nunique().to_dict()
    # 2 real + 2 fake videos of each of DF, DFD and the source FS; DF and FS draw different reals
    assert per == {"original": 4, "Deepfakes": 2, "original_actors": 2,
                   "DeepFakeDetection": 2, "FaceSwap": 2}
    assert [s["videos"] for s in info["selections"]] == [4, 4, 4]
    assert all(s["reused_videos"] == 0 for s in info["selections"])
    assert set(index["split"]) == {"train"}
    # the draw uses the protocol's split seed, not the training seed
    _, again = strategies.make_dataset([*targets, source], strategies.resolve_hp(
        None, seed=9, balance="batches"), model, training=True, videos_per_domain=2,
        return_info=True)
    assert sorted(again["index"]["gid"]) == sorted(info["index"]["gid"])
    _, total = strategies.make_dataset(targets, h, model, training=True, videos_per_domain=3,
                                       per_label=False, return_info=True)
    assert [s["videos"] for s in total["selections"]] == [3, 3]
    with pytest.raises(Exception, match="fewer than k_videos=7"):
        strategies.make_dataset(targets, h, model, training=True, videos_per_domain=7)


def test_transfer_run_records_its_data_and_frozen_half(toy_clip_registry, records, tmp_path):
    src = registry.build_model("toy_clip")
    src.compile("adam", "binary_crossentropy")
    path = tmp_path / "source.keras"
    src.save(path)
    res = strategies.train_transfer(
        path, {"DF": _spec(records, *DOMAINS["DF"])}, _spec(records, *DOMAINS["DF"], split="val"),
        tmp_path / "transfer", k_videos=2, source_data=_spec(records, *DOMAINS["FS"]),
        epochs=1, batch_size=4, verbose=0, keep_checkpoints=1)
    rows = {r["method"]: r["videos"] for r in res.info["train_data"]}
    assert rows == {"original": 4, "Deepfakes": 2, "FaceSwap": 2}
    assert res.info["frozen_layers"] == len(src.layers) // 2 == 2  # Input, gap | d1, head
    assert res.info["source_data"] and res.info["per_label"] and res.info["hp"]["balance"] == \
        "batches"


def test_evaluate_and_video_scores():
    from clrnet.aggregation import aggregate_scores
    from clrnet.strategies.evaluation import evaluate, score_frame

    inp = keras.Input((1,))
    model = keras.Model(inp, keras.layers.Concatenate()([1.0 - inp, inp]))
    x = np.array([[0.9], [0.7], [0.2], [0.4]], "float32")
    meta = {"video_id": np.array([b"v1", b"v1", b"v2", b"v2"]),
            "method": np.array([b"Deepfakes"] * 2 + [b"original"] * 2),
            "clip_index": np.array([0, 1, 0, 1])}
    ds = tf.data.Dataset.from_tensor_slices((x, np.array([1, 1, 0, 0]), meta)).batch(3)
    df = evaluate(model, ds, batch_size=3)
    assert list(df.columns[:5]) == ["video_id", "method", "clip_index", "label", "score"]
    np.testing.assert_allclose(df["score"], [0.9, 0.7, 0.2, 0.4], atol=1e-6)
    assert df["video_id"].tolist() == ["v1", "v1", "v2", "v2"]
    vids = aggregate_scores(df).set_index("video_id")
    assert vids.loc["v1", "score"] == pytest.approx(0.8) and vids.loc["v2", "label"] == 0
    assert aggregate_scores(df, how="fraction").set_index("video_id").loc["v1", "score"] == 1.0
    assert score_frame(df, "accuracy") == 1.0
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate_scores(df, how="mode")


def test_grid_search_picks_consistent_pair(toy_registry, tmp_path):
    # the "good" domains share the validation rule; "bad_s" inverts it
    reenact = {"good_r": _domain(128, 1, 10)}
    swap = {"bad_s": _domain(128, -1, 13), "good_s": _domain(128, 1, 12)}
    val = _domain(128, 1, 14, batch=32)
    res = strategies.restricted_grid_search("toy", reenact, swap, val, tmp_path / "grid",
                                            **{**HP, "epochs": 4})
    assert isinstance(res.table, pd.DataFrame) and len(res.table) == 4
    assert res.pair == ("good_r", "good_s") and res.score >= 0.85
    bad = res.table[res.table.swap == "bad_s"]
    assert bad["accuracy"].max() < res.score
    assert res.table["chosen"].sum() == 1
    assert (tmp_path / "grid" / "grid_search.csv").exists()
    assert (tmp_path / "grid" / "source-good_r" / "final.keras").exists()
    # no select_on: the validation data chose, which is no oracle
    saved = json.loads((tmp_path / "grid" / "grid_search.json").read_text())
    assert not res.oracle and res.selected_on.startswith("val:") and saved["oracle"] is False
    assert saved["metric"] == "accuracy" and saved["accuracy"] == pytest.approx(res.score)


def test_grid_search_val_selects_checkpoints_select_on_chooses_the_pair(toy_registry, monkeypatch,
                                                                       tmp_path):
    """The wiring of Algorithm 1 with stub trainings: which data each step receives."""
    from clrnet.strategies import grid_search as gs

    calls: list[tuple[str, object]] = []
    accuracy = {"transfer-F2F-to-DF": 0.9, "merge-F2F-DF": 0.6, "transfer-F2F-to-FS": 0.5,
                "merge-F2F-FS": 0.7}

    class Stub:
        def __init__(self, name):
            self.name = name

    def result(run_dir):
        return strategies.StrategyResult(Stub(Path(run_dir).name), Path(run_dir))

    def fake_single(model_name, data, val, run_dir, **kw):
        calls.append(("single", val))
        return result(run_dir)

    def fake_transfer(src, targets, val, run_dir, **kw):
        calls.append(("transfer", val, kw["source_data"], kw["k_videos"]))
        return result(run_dir)

    def fake_merge(model_name, domains, val, run_dir, **kw):
        calls.append(("merge", val, kw.get("image_size")))
        return result(run_dir)

    def fake_evaluate(model, data, batch_size, **kw):
        calls.append(("score", data))
        acc = accuracy[model.name]
        n = 100
        return pd.DataFrame({"label": [1] * n, "score": [0.9] * int(acc * n) +
                             [0.1] * (n - int(acc * n))})

    monkeypatch.setattr(gs, "train_single", fake_single)
    monkeypatch.setattr(gs, "train_transfer", fake_transfer)
    monkeypatch.setattr(gs, "train_merge", fake_merge)
    monkeypatch.setattr(gs, "evaluate", fake_evaluate)
    spec = {n: strategies.DataSpec("records", methods=("original", m))
            for n, m in (("F2F", "Face2Face"), ("DF", "Deepfakes"), ("FS", "FaceSwap"))}
    val = {n: strategies.DataSpec("records", methods=s.methods, splits=("val",))
           for n, s in spec.items()}
    dfw = strategies.DataSpec("wild", split_rule="dfw_test", splits=("test",))
    res = strategies.restricted_grid_search(
        "toy", {"F2F": spec["F2F"]}, {"DF": spec["DF"], "FS": spec["FS"]}, val,
        tmp_path / "grid", select_on=dfw, k_videos=10, merge_hp={"image_size": 128})
    assert res.pair == ("F2F", "DF") and res.strategy == "transfer" and res.score == 0.9
    # every training run got its own training domains' val data, never the test set
    trained = [c for c in calls if c[0] != "score"]
    assert trained[0] == ("single", val["F2F"])
    assert trained[1] == ("transfer", [val["F2F"], val["DF"]], spec["F2F"], 10)
    assert trained[2] == ("merge", [val["F2F"], val["DF"]], 128)  # merge_hp reaches merges
    assert all(dfw not in (c[1] if isinstance(c[1], list) else [c[1]]) for c in trained)
    # ... and only the scoring of the candidates saw DFW: an oracle choice, labelled so
    assert {id(c[1]) for c in calls if c[0] == "score"} == {id(dfw)}
    saved = json.loads((tmp_path / "grid" / "grid_search.json").read_text())
    assert res.oracle and saved["oracle"] is True and "oracle choice" in saved["note"]
    assert saved["selected_on"].startswith("select_on: wild") and "dfw_test" in \
        saved["selected_on"]
    assert saved["checkpoints_selected_on"].startswith("val: per domain")
    # without select_on the pooled val data choose: no oracle
    calls.clear()
    res = strategies.restricted_grid_search("toy", {"F2F": spec["F2F"]}, {"DF": spec["DF"]},
                                            val, tmp_path / "grid2")
    assert not res.oracle and res.selected_on.startswith("val:")
    assert [c[1] for c in calls if c[0] == "score"][0] == list(val.values())
    with pytest.raises(ConfigError, match="no data for domain"):
        strategies.restricted_grid_search("toy", {"F2F": spec["F2F"]}, {"DF": spec["DF"]},
                                          {"F2F": val["F2F"]}, tmp_path / "grid3")


@pytest.mark.slow
def test_grid_search_two_by_two(toy_registry, tmp_path):
    reenact = {"good_r": _domain(128, 1, 10), "bad_r": _domain(128, -1, 11)}
    swap = {"good_s": _domain(128, 1, 12), "bad_s": _domain(128, -1, 13)}
    val = _domain(128, 1, 14, batch=32)
    res = strategies.restricted_grid_search("toy", reenact, swap, val, tmp_path / "grid",
                                            **HP)
    assert len(res.table) == 8
    assert res.pair == ("good_r", "good_s") and res.score >= 0.85
    worst = res.table[(res.table.reenactment == "bad_r") & (res.table.swap == "bad_s")]
    assert worst["accuracy"].max() < 0.5


def test_validation_reads_the_first_clips_of_each_video(records):
    """``val_clips_per_video`` caps what validation reads (as the test scoring), not training."""
    model = _toy_clip_model()
    spec = _spec(records, *DOMAINS["DF"], split="val")

    def count(**hp):
        ds = strategies.make_dataset(spec, strategies.resolve_hp(None, batch_size=4, **hp),
                                     model, training=False)
        return sum(int(x.shape[0]) for x, *_ in ds)

    every, first = count(), count(val_clips_per_video=1)
    assert every == CLIPS * first and first > 0
