"""Tests of data_prep.pipeline.get_dataset on tiny clip TFRecords written with encode_clip."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from data_prep.errors import DataPrepError
from data_prep.pipeline import PipelineError, Selection, get_dataset, video_index
from data_prep.records import ClipMeta, encode_clip, shard_name

T, S, CLIPS = 5, 32, 3
TRAIN = {"original": 4, "Deepfakes": 4, "FaceSwap": 4}
TEST = {"original": 2, "Deepfakes": 2}


def _write(directory: Path, clips: list[tuple[np.ndarray, ClipMeta]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / shard_name("clips", 0, len(clips))
    with tf.io.TFRecordWriter(str(path)) as writer:
        for frames, meta in clips:
            writer.write(encode_clip(frames, meta))
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """<root>/ffpp/<method>/<split>/clips-00000.nNNNN.tfrecord; every clip = one image x T."""
    root = tmp_path_factory.mktemp("records")
    rng = np.random.default_rng(0)
    for split, videos in (("train", TRAIN), ("test", TEST)):
        for method, n in videos.items():
            clips = []
            for v in range(n):
                for c in range(CLIPS):
                    image = (rng.random((S, S, 3)) * 255).astype(np.uint8)
                    meta = ClipMeta(label=int(method != "original"), video_id=f"{method[:2]}{v}",
                                    dataset="ffpp", method=method, split=split,
                                    source_path=f"{method}/{v}.mp4", clip_index=c,
                                    frame_indices=list(range(c * T, c * T + T)))
                    clips.append((np.repeat(image[None], T, axis=0), meta))
            _write(root / "ffpp" / method / split, clips)
    return root


@pytest.fixture(scope="module")
def markers(tmp_path_factory) -> Path:
    """One clip of 10 flat frames whose grey level encodes the frame number (20 t + 10)."""
    frames = np.stack([np.full((S, S, 3), 20 * t + 10, np.uint8) for t in range(10)])
    meta = ClipMeta(label=1, video_id="m0", dataset="x", method="Deepfakes", split="train",
                    source_path="m.mp4", clip_index=0, frame_indices=list(range(10)))
    return _write(tmp_path_factory.mktemp("markers") / "x" / "Deepfakes" / "train", [(frames, meta)])


def _collect(ds) -> list:
    return [tuple(np.asarray(t) if not isinstance(t, dict) else {k: v.numpy() for k, v in t.items()}
                  for t in batch) for batch in ds]


def _videos(batches) -> Counter:
    return Counter(v.decode() for b in batches for v in b[2]["video_id"])


def test_training_batches_shapes_ranges_and_info(root):
    ds, info = get_dataset(root, 4, True, splits=["train"], return_info=True)
    batches = _collect(ds)
    assert info["samples_per_epoch"] == 36 and info["steps_per_epoch"] == 9
    assert info["class_counts"] == {0: 12, 1: 24} and info["num_videos"] == 12
    assert len(batches) == 9 and int(ds.cardinality()) == 9
    x, y = batches[0]
    assert x.shape == (4, T, S, S, 3) and x.dtype == np.float32
    assert all(0.0 <= b[0].min() and b[0].max() <= 1.0 for b in batches)
    assert sorted(np.concatenate([b[1] for b in batches]).tolist()) == [0.0] * 12 + [1.0] * 24


def test_augmentation_identical_across_frames_and_really_applied(root):
    train = _collect(get_dataset(root, 6, True, splits=["train"], return_meta=True, seed=1))
    plain = _collect(get_dataset(root, 36, False, splits=["train"], return_meta=True))
    by_key = {(m, c): x for x, m, c in zip(plain[0][0], plain[0][2]["video_id"],
                                           plain[0][2]["clip_index"], strict=True)}
    changed = 0
    for x, _y, meta in train:
        # every clip is one image repeated, so one transform per clip keeps its frames equal
        assert np.abs(x - x[:, :1]).max() == 0.0
        for clip, v, c in zip(x, meta["video_id"], meta["clip_index"], strict=True):
            changed += np.abs(clip - by_key[(v, c)]).mean() > 1e-3
    assert changed >= 30  # (a few clips may draw a near-identity transform)


def test_same_seed_same_epoch_different_seed_or_epoch_differs(root):
    def first_epoch(**kw):
        return _collect(get_dataset(root, 6, True, splits=["train"], **kw).take(2))

    a, b = first_epoch(seed=3), first_epoch(seed=3)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    c = first_epoch(seed=4)
    d = first_epoch(seed=3, epoch=1)
    assert not np.array_equal(a[0][0], c[0][0]) and not np.array_equal(a[0][0], d[0][0])


def test_order_independent_of_tensorflow_global_seed(root):
    def first_batches(global_seed):
        tf.random.set_seed(global_seed)
        try:
            ds = get_dataset(root, 6, True, splits=["train"], seed=2, repeat=True,
                             sampling="stratified")
            return _collect(ds.take(2))
        finally:
            tf.random.set_seed(None)

    plain = first_batches(None)
    for global_seed in (0, 7):  # 0 used to break Dataset.shuffle with a tensor seed
        for (xa, ya), (xb, yb) in zip(plain, first_batches(global_seed), strict=True):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)


def test_repeat_gives_successive_reproducible_epochs(root):
    ds = get_dataset(root, 6, True, splits=["train"], seed=3, repeat=True)
    stream = _collect(ds.take(12))
    epoch1 = _collect(get_dataset(root, 6, True, splits=["train"], seed=3, epoch=1))
    for (xa, _), (xb, _) in zip(stream[6:], epoch1, strict=True):
        np.testing.assert_array_equal(xa, xb)


def test_autotune_off_same_batches_and_no_autotuning(root):
    """autotune=False (the quick tables' cells) turns tf.data's autotuning off and changes no
    batch of a training stream."""
    on = get_dataset(root, 6, True, splits=["train"], seed=3, repeat=True)
    off = get_dataset(root, 6, True, splits=["train"], seed=3, repeat=True, autotune=False)
    assert on.options().autotune.enabled is not False and off.options().autotune.enabled is False
    for (xa, ya), (xb, yb) in zip(_collect(on.take(8)), _collect(off.take(8)), strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_evaluation_deterministic_unaugmented_every_clip_once(root):
    a = _collect(get_dataset(root, 5, False, splits=["test"], return_meta=True))
    b = _collect(get_dataset(root, 5, False, splits=["test"], return_meta=True))
    keys = [(v, int(c)) for batch in a for v, c in zip(batch[2]["video_id"], batch[2]["clip_index"],
                                                       strict=True)]
    assert len(keys) == 12 and len(set(keys)) == 12
    for (xa, _, _), (xb, _, _) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
    assert set(a[0][2]) == {"video_id", "method", "clip_index", "dataset"}


def test_stratified_epoch_visits_every_training_video_once(root):
    batches = _collect(get_dataset(root, 4, True, splits=["train"], methods=["original", "Deepfakes"],
                                   sampling="stratified", return_meta=True, seed=0))
    counts = _videos(batches)
    assert len(counts) == 8 and set(counts.values()) == {1}


def test_stratified_multi_method_counts_and_new_windows_each_epoch(root):
    ds, info = get_dataset(root, 4, True, splits=["train"], sampling="stratified", seed=0,
                           return_meta=True, repeat=True, return_info=True)
    assert info["samples_per_epoch"] == 4 * 2 + 2 + 2  # reals x2, each method /2
    n = info["samples_per_epoch"] // 4
    batches = _collect(ds.take(3 * n))
    epochs = [batches[i * n:(i + 1) * n] for i in range(3)]
    for ep in epochs:
        counts = _videos(ep)
        assert sum(v for k, v in counts.items() if k.startswith("or")) == 8
        assert all(counts[k] == 2 for k in counts if k.startswith("or"))
    windows = [sorted((v, int(c)) for b in ep for v, c in zip(b[2]["video_id"], b[2]["clip_index"],
                                                              strict=True)) for ep in epochs]
    assert windows[0] != windows[1] or windows[1] != windows[2]


def test_clrnet_sampling_and_transfer_selection(root):
    batches = _collect(get_dataset(root, 8, False, splits=["train"], sampling="clrnet",
                                   clips_per_video=2, return_meta=True))
    clips = [int(c) for b in batches for c in b[2]["clip_index"]]
    assert len(clips) == 24 and set(clips) == {0, 1}
    few = _collect(get_dataset(root, 8, True, splits=["train"], videos_per_domain=2, seed=9,
                               return_meta=True))
    videos = {(m, v) for b in few for m, v in zip(b[2]["method"], b[2]["video_id"], strict=True)}
    assert Counter(m.decode() for m, _ in videos) == {"original": 2, "Deepfakes": 2, "FaceSwap": 2}
    assert sum(len(b[1]) for b in few) == 6 * CLIPS  # all clips of the chosen videos
    with pytest.raises(PipelineError, match="fewer than videos_per_domain=5"):
        get_dataset(root, 8, True, splits=["train"], videos_per_domain=5)


def test_balance_weights_and_balanced_batches(root):
    batches = _collect(get_dataset(root, 6, True, splits=["train"], balance="weights"))
    y = np.concatenate([b[1] for b in batches])
    w = np.concatenate([b[2] for b in batches])
    np.testing.assert_allclose(w[y == 0], 36 / (2 * 12))
    np.testing.assert_allclose(w[y == 1], 36 / (2 * 24))
    ds, info = get_dataset(root, 6, True, splits=["train"], balance="batches", return_info=True)
    batches = _collect(ds)
    assert info["class_counts"] == {0: 24, 1: 24} and len(batches) == 8
    assert all(b[1].sum() == 3 for b in batches)


def test_domain_balance_equalises_methods(root):
    batches = _collect(get_dataset(root, 4, True, splits=["train"], methods=["Deepfakes", "FaceSwap"],
                                   video_ids=["De0", "De1", "De2", "Fa0"], domain_balance=True,
                                   return_meta=True))
    methods = Counter(m.decode() for b in batches for m in b[2]["method"])
    assert methods == {"Deepfakes": 3, "FaceSwap": 3}


def test_selections_union_counts_shared_reals_once(root):
    df = Selection(methods=("original", "Deepfakes"), splits=("train",))
    fs = Selection(methods=("original", "FaceSwap"), splits=("train",))
    ds, info = get_dataset(root, 6, True, selections=[df, fs], return_meta=True,
                           return_info=True)
    per = _videos(_collect(ds))
    # 4 reals (shared by both domains, read once) + 4 + 4 fakes, every clip of each once
    assert info["num_videos"] == 12 and len(per) == 12 and set(per.values()) == {CLIPS}
    assert info["class_counts"] == {0: 4 * CLIPS, 1: 8 * CLIPS}
    assert [s["videos"] for s in info["selections"]] == [8, 8]
    # K real + K fake per selection: the two domains draw different real videos
    k = [Selection(methods=m, splits=("train",), k_videos=2, name=n)
         for n, m in (("DF", ("original", "Deepfakes")), ("FS", ("original", "FaceSwap")))]
    _, info = get_dataset(root, 6, True, selections=k, return_info=True)
    videos = info["index"].drop_duplicates(["method", "video_id"])
    assert videos.groupby("method").size().to_dict() == {"original": 4, "Deepfakes": 2,
                                                         "FaceSwap": 2}
    assert [s["reused_videos"] for s in info["selections"]] == [0, 0]
    # a selection restricted to its own source's files (specs of several sources read together)
    shard = str(next((root / "ffpp" / "FaceSwap" / "train").glob("*.tfrecord")))
    _, info = get_dataset(root, 6, True, return_info=True,
                          selections=[df, Selection(splits=("train",), files=(shard,))])
    assert info["index"].groupby("method")["video_id"].nunique().to_dict() == {
        "original": 4, "Deepfakes": 4, "FaceSwap": 4}
    with pytest.raises(ValueError, match="not both"):
        get_dataset(root, 6, True, selections=[df], methods=["original"])
    with pytest.raises(PipelineError, match="fewer than k_videos=5"):
        get_dataset(root, 6, True, selections=[Selection(splits=("train",), k_videos=5)])


def test_window_hop_gives_every_window_of_a_record(markers):
    ds, info = get_dataset([markers], 3, False, frames=4, window_hop=1, return_meta=True,
                           return_info=True)
    batches = _collect(ds)
    starts = [int(round(x[0, 0, 0, 0] * 255 - 10)) // 20 for b in batches for x in b[0]]
    assert starts == list(range(7)) and info["samples_per_epoch"] == 7  # 10 - 4 + 1
    for b in batches:  # consecutive stored frames in every window
        np.testing.assert_allclose(np.diff(np.round(b[0][:, :, 0, 0, 0] * 255), axis=1), 20,
                                   atol=2)
    assert [int(c) for b in batches for c in b[2]["clip_index"]] == list(range(7))
    assert int(ds.cardinality()) == 3
    hop3 = _collect(get_dataset([markers], 8, False, frames=4, window_hop=3))
    assert len(hop3[0][0]) == 3  # starts 0, 3, 6
    with pytest.raises(ValueError, match="window_hop"):
        get_dataset([markers], 2, True, frames=4, window_hop=1)
    with pytest.raises(PipelineError, match="no clip has more than 10 frames"):
        get_dataset([markers], 2, False, frames=11, window_hop=1)


def test_single_frames_and_resize(root):
    ds, info = get_dataset(root, 7, True, splits=["test"], single_frames=True, image_size=40,
                           return_info=True)
    batches = _collect(ds)
    assert info["samples_per_epoch"] == 12 * T
    assert batches[0][0].shape == (7, 40, 40, 3)
    assert sum(len(b[1]) for b in batches) == 60
    same = _collect(get_dataset(root, 7, False, splits=["test"], frames=1))
    assert same[0][0].shape == (7, S, S, 3) and sum(len(b[1]) for b in same) == 60


def test_frames_window_first_in_eval_random_in_training(markers):
    (x, _), = _collect(get_dataset([markers], 1, False, frames=3))
    np.testing.assert_allclose(x[0, :, 0, 0, 0] * 255, [10, 30, 50], atol=2)
    epochs = _collect(get_dataset([markers], 1, True, frames=4, augment=False, repeat=True).take(8))
    starts = set()
    for x, _ in epochs:
        levels = np.round(x[0, :, 0, 0, 0] * 255)
        np.testing.assert_allclose(np.diff(levels), 20, atol=2)  # 4 consecutive frames
        starts.add(int(levels[0]))
    assert len(starts) > 1 and max(starts) <= 130  # start in 0..6 -> level 10..130


def test_video_index_columns(root):
    files = sorted(str(p) for p in root.rglob("*.tfrecord"))
    index = video_index(files)
    assert len(index) == 48 and index["gid"].tolist() == list(range(48))
    assert {"file", "position", "video_id", "label", "method", "split", "clip_index"} <= set(index)
    assert index.groupby("file")["position"].max().tolist() == [5, 11, 11, 5, 11]


# ----------------------------------------------------------------------------------- bad input

def _one_line_error(excinfo, *needles: str) -> None:
    text = str(excinfo.value)
    assert "\n" not in text
    for needle in needles:
        assert needle in text


def test_missing_empty_and_corrupt_files(root, tmp_path):
    good = next(root.rglob("*.tfrecord"))
    missing = tmp_path / "nope.tfrecord"
    with pytest.raises(PipelineError) as e:
        get_dataset([good, missing], 4, True)
    _one_line_error(e, str(missing), "not found")
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    with pytest.raises(PipelineError) as e:
        get_dataset([empty], 4, True)
    _one_line_error(e, str(empty), "empty")
    garbage = tmp_path / "garbage.tfrecord"
    garbage.write_bytes(os.urandom(300))
    with pytest.raises(PipelineError) as e:
        get_dataset([garbage], 4, True)
    _one_line_error(e, str(garbage), "corrupt")
    truncated = tmp_path / "truncated.tfrecord"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(PipelineError) as e:
        get_dataset([truncated], 4, True)
    _one_line_error(e, str(truncated))
    assert isinstance(e.value, DataPrepError)
    lying = tmp_path / shard_name("lying", 0, 13)
    lying.write_bytes(good.read_bytes())
    with pytest.raises(PipelineError) as e:
        get_dataset([lying], 4, True)
    _one_line_error(e, str(lying), "name says 13")


def test_manifest_or_directory_pointing_at_nothing(tmp_path, root):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("video_id,dataset,method,split,label,source_path,status,clips_written,"
                        "frames_total,frames_without_face,video_frames,error,shards\n"
                        "a,ffpp,original,train,0,a.mp4,no_face,0,0,0,0,,\n")
    with pytest.raises(PipelineError) as e:
        get_dataset(manifest, 4, True)
    _one_line_error(e, str(manifest), "no TFRecord")
    manifest.write_text(manifest.read_text().replace("no_face,0,0,0,0,,",
                                                     "ok,1,5,0,5,,gone-00000.n0001.tfrecord"))
    with pytest.raises(PipelineError) as e:
        get_dataset(manifest, 4, True)
    _one_line_error(e, "gone-00000.n0001.tfrecord")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(PipelineError) as e:
        get_dataset(tmp_path / "emptydir", 4, True)
    _one_line_error(e, "emptydir")
    with pytest.raises(PipelineError) as e:
        get_dataset(tmp_path / "does-not-exist", 4, True)
    _one_line_error(e, "does-not-exist")


def test_empty_split_and_impossible_requests_fail_before_training(root, markers):
    with pytest.raises(PipelineError) as e:
        get_dataset(root, 4, True, splits=["val"])
    _one_line_error(e, "val", str(root))
    with pytest.raises(PipelineError, match="frames=6"):
        get_dataset(root, 4, True, frames=6)
    with pytest.raises(PipelineError, match="different clip lengths"):
        get_dataset([markers, next(root.rglob("*.tfrecord"))], 4, True)
    with pytest.raises(PipelineError, match="only label 1"):
        get_dataset(root, 4, True, methods=["Deepfakes"], balance="batches")
