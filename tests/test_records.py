"""The shared feature spec, shard writing, the manifest and record selection."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from data_prep.errors import DataPrepError
from data_prep.records import (
    FEATURE_SPEC,
    TMP_SHARD_RE,
    ClipMeta,
    ShardWriter,
    count_records,
    decode_frames,
    dedupe_rows,
    encode_clip,
    parse_clip,
    read_manifest,
    select_records,
    shard_name,
    write_manifest,
)


def test_encode_parse_round_trip():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(5, 16, 12, 3), dtype=np.uint8)
    frames[:] = frames[:, :1, :1]  # flat colours survive JPEG almost exactly
    meta = ClipMeta(label=1, video_id="000_003", dataset="ffpp", method="Deepfakes",
                    split="train", source_path="/x/000_003.mp4", clip_index=2,
                    frame_indices=[10, 11, 12, 13, 14])
    parsed = parse_clip(tf.constant(encode_clip(frames, meta)))
    assert set(parsed) == set(FEATURE_SPEC)
    assert int(parsed["label"]) == 1 and int(parsed["num_frames"]) == 5
    assert parsed["video_id"].numpy() == b"000_003"
    assert list(parsed["frame_indices"].numpy()) == [10, 11, 12, 13, 14]
    decoded = decode_frames(parsed["frames"]).numpy()
    assert decoded.shape == (5, 16, 12, 3)
    assert np.abs(decoded.astype(int) - frames.astype(int)).max() <= 3


# --- shards, manifest, selection ------------------------------------------------------------



def _clip(label: int, video_id: str, method: str, split: str) -> bytes:
    frames = np.full((2, 8, 8, 3), 100, np.uint8)
    meta = ClipMeta(label=label, video_id=video_id, dataset="ffpp", method=method, split=split,
                    source_path=f"/x/{video_id}.mp4")
    return encode_clip(frames, meta)


def test_shard_writer_rotates_and_names_counts(tmp_path: Path):
    with ShardWriter(tmp_path, "vid", max_records=3) as writer:
        for i in range(7):
            writer.write(_clip(1, f"v{i}", "Deepfakes", "train"))
            assert not list(tmp_path.glob("*.tfrecord")) or i >= 3  # nothing final before rotation
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["vid-00000.n0003.tfrecord", "vid-00001.n0003.tfrecord", "vid-00002.n0001.tfrecord"]
    assert [count_records(tmp_path / n) for n in names] == [3, 3, 1]
    assert sum(1 for _ in tf.data.TFRecordDataset([str(tmp_path / n) for n in names])) == 7
    assert shard_name("a", 12, 5) == "a-00012.n0005.tfrecord"
    with pytest.raises(ValueError, match="not a shard name"):
        count_records("a.tfrecord")


def test_shard_writer_abort_leaves_no_final_or_tmp(tmp_path: Path):
    with pytest.raises(RuntimeError):
        with ShardWriter(tmp_path, "vid") as writer:
            writer.write(_clip(0, "v", "original", "test"))
            [tmp] = tmp_path.iterdir()
            assert TMP_SHARD_RE.match(tmp.name)["prefix"] == "vid"
            assert tmp.name.startswith(f"vid-00000.p{os.getpid()}-")
            assert tmp.name.endswith(".tfrecord.tmp")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    assert ShardWriter(tmp_path, "empty").close() == []  # no record, no file


def test_two_writers_of_one_prefix_never_touch_each_others_files(tmp_path: Path):
    """Two runs writing one video used to share one .tmp name."""
    a, b = ShardWriter(tmp_path, "vid"), ShardWriter(tmp_path, "vid")
    a.write(_clip(1, "v", "Deepfakes", "train"))
    b.write(_clip(1, "v", "Deepfakes", "train"))
    b.write(_clip(1, "v", "Deepfakes", "train"))
    assert len(list(tmp_path.glob("*.tmp"))) == 2  # one temporary file each
    assert [p.name for p in a.close()] == ["vid-00000.n0001.tfrecord"]
    b.abort()  # must not delete or rename a's file
    assert [p.name for p in tmp_path.iterdir()] == ["vid-00000.n0001.tfrecord"]


def _make_tree(out: Path) -> Path:
    ds = out / "ffpp"
    rows = []
    for method, split, label, vid in [("original", "train", 0, "000"), ("Deepfakes", "train", 1, "000_001"),
                                      ("Deepfakes", "test", 1, "002_003")]:
        with ShardWriter(ds / method / split, vid) as writer:
            writer.write(_clip(label, vid, method, split))
        rows.append({"video_id": vid, "dataset": "ffpp", "method": method, "split": split,
                     "label": label, "source_path": f"/x/{vid}.mp4", "status": "ok",
                     "clips_written": 1, "frames_total": 2, "frames_without_face": 0,
                     "video_frames": 10, "error": "",
                     "shards": [p.relative_to(ds).as_posix() for p in writer.paths]})
    rows.append({"video_id": "004", "dataset": "ffpp", "method": "original", "split": "test",
                 "label": 0, "source_path": "/x/004.mp4", "status": "no_face", "clips_written": 0,
                 "frames_total": 2, "frames_without_face": 2, "video_frames": 10,
                 "error": "/x/004.mp4: no face", "shards": []})
    return write_manifest(rows, ds / "manifest.csv", config={"clip_len": 2})


def test_manifest_round_trip_csv_and_json(tmp_path: Path):
    csv_path = _make_tree(tmp_path)
    from_csv, from_json = read_manifest(csv_path), read_manifest(csv_path.with_suffix(".json"))
    assert len(from_csv) == 4 and list(from_csv["video_id"]) == list(from_json["video_id"])
    assert from_csv["video_id"].tolist()[0] == "000_001"  # ids stay strings ("000", not 0)
    row = from_csv.set_index("video_id").loc["000"]
    assert row["label"] == 0 and row["status"] == "ok" and row["clips_written"] == 1
    assert from_csv.set_index("video_id").loc["004", "shards"] == []
    assert all(Path(s).is_absolute() and Path(s).exists()
               for shards in from_csv["shards"] for s in shards)
    assert json.loads(csv_path.with_suffix(".json").read_text())["config"] == {"clip_len": 2}
    assert not list(tmp_path.rglob("*.tmp"))


def test_select_records_by_manifest_and_by_directory(tmp_path: Path):
    csv_path = _make_tree(tmp_path)
    via_manifest = select_records(csv_path, methods=["deepfakes"], splits=["train"])
    assert len(via_manifest) == 1 and "000_001-00000.n0001" in via_manifest[0]
    assert len(select_records(tmp_path)) == 3
    assert select_records(tmp_path, datasets=["celebdf"]) == []
    # Without manifests the directory layout is globbed; a stray .tmp shard is ignored.
    for f in tmp_path.rglob("manifest*"):
        f.unlink()
    (tmp_path / "ffpp/original/train/000-00001.tfrecord.tmp").write_bytes(b"partial")
    assert select_records(tmp_path, methods=["Deepfakes"]) == sorted(via_manifest + [
        str((tmp_path / "ffpp/Deepfakes/test/002_003-00000.n0001.tfrecord").resolve())])
    assert len(select_records(tmp_path, splits=["train"])) == 2


def test_read_manifest_merges_shard_manifests_and_reports_missing(tmp_path: Path):
    csv_path = _make_tree(tmp_path)
    frame = read_manifest(csv_path)
    rows = frame.drop(columns=["manifest"]).to_dict("records")
    ds = tmp_path / "ffpp"
    for row in rows:
        row["shards"] = [Path(s).relative_to(ds.resolve()).as_posix() for s in row["shards"]]
    csv_path.unlink()
    csv_path.with_suffix(".json").unlink()
    write_manifest(rows[:2], ds / "manifest.shard-0-of-2.csv")
    write_manifest(rows[1:], ds / "manifest.shard-1-of-2.csv")  # one video in both: deduplicated
    merged = read_manifest(tmp_path)
    assert sorted(merged["video_id"]) == ["000", "000_001", "002_003", "004"]
    Path(select_records(tmp_path, splits=["test"])[0]).unlink()
    with pytest.raises(DataPrepError, match="does not exist"):
        select_records(tmp_path, splits=["test"])
    with pytest.raises(DataPrepError, match="no manifest"):
        read_manifest(tmp_path / "ffpp" / "original")


def _row(vid: str, status: str, shards: list[str], **extra) -> dict:
    return {"video_id": vid, "dataset": "ffpp", "method": "Deepfakes", "split": "train",
            "label": 1, "source_path": f"/x/{vid}.mp4", "status": status,
            "clips_written": len(shards), "frames_total": 2, "frames_without_face": 0,
            "video_frames": 10, "error": "" if status == "ok" else "boom", "shards": shards,
            **extra}


def test_dedupe_keeps_the_last_row_that_matches_the_disk(tmp_path: Path):
    (tmp_path / "a.tfrecord").write_bytes(b"x")
    (tmp_path / "b.tfrecord").write_bytes(b"x")
    ok_a, ok_b = _row("v", "ok", ["a.tfrecord"]), _row("v", "ok", ["b.tfrecord"])
    error, gone = _row("v", "error", []), _row("v", "ok", ["missing.tfrecord"])
    other = _row("w", "error", [])
    assert dedupe_rows([ok_a, error], tmp_path) == [ok_a]  # a concurrent failure: files win
    assert dedupe_rows([ok_a, ok_b, error], tmp_path) == [ok_b]  # the latest ok row
    assert dedupe_rows([gone, error], tmp_path) == [error]  # nothing on disk: the last row
    assert dedupe_rows([error, other, ok_a], tmp_path) == [ok_a, other]  # first-seen order
    nf = _row("v", "no_face", [])
    assert dedupe_rows([gone, nf, error], tmp_path) == [nf]


def test_manifest_never_holds_two_rows_for_one_video(tmp_path: Path):
    ds = tmp_path / "ffpp"
    with ShardWriter(ds / "Deepfakes" / "train", "v") as writer:
        writer.write(_clip(1, "v", "Deepfakes", "train"))
    shard = writer.paths[0].relative_to(ds).as_posix()
    rows = [_row("v", "ok", [shard]), _row("v", "error", []), _row("w", "no_face", [])]
    csv_path = write_manifest(rows, ds / "manifest.csv")
    frame = read_manifest(csv_path)
    assert sorted(frame["video_id"]) == ["v", "w"]
    assert frame.set_index("video_id").loc["v", "status"] == "ok"
    assert len(json.loads(csv_path.with_suffix(".json").read_text())["videos"]) == 2
    # A manifest written with duplicates (by an older version) is read with the same rule.
    lines = csv_path.read_text().splitlines()
    v_line = next(line for line in lines if line.startswith("v,"))
    error_line = v_line.replace(",ok,", ",error,").replace(shard, "")
    csv_path.write_text("\n".join([*lines, error_line]) + "\n")
    frame = read_manifest(csv_path)
    assert len(frame) == 2 and frame.set_index("video_id").loc["v", "status"] == "ok"
