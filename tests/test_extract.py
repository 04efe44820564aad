"""Extraction: samplers, shards, resume after a crash, bad input, the CLI, and one real MTCNN run.

Most tests swap the MTCNN face extractor for a fake one (same ClipFaces contract) so they take
well under a second each; ``test_cli_real_faces`` runs the real extractor on the bundled media.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf

from data_prep import extract
from data_prep.__main__ import main
from data_prep.datasets import get_adapter
from data_prep.errors import DatasetLayoutError
from data_prep.faces import ClipFaces
from data_prep.records import decode_frames, parse_clip, read_manifest, select_records

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO / "data_prep" / "media"


def write_video(path: Path, frames: int = 12, size: int = 32) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (size, size))
    for i in range(frames):
        writer.write(np.full((size, size, 3), (i * 20) % 255, np.uint8))
    writer.release()
    return path


class FakeExtractor:
    """Faces everywhere, except in videos whose name contains 'noface'; counts its calls."""

    calls: list[str] = []

    def __init__(self, size: int, interrupt_on: str | None = None) -> None:
        self.size, self.interrupt_on = size, interrupt_on

    def extract_clips(self, video_path, clips):
        FakeExtractor.calls.append(Path(video_path).name)
        for k, clip in enumerate(clips):
            if self.interrupt_on and self.interrupt_on in str(video_path) and k == 1:
                raise KeyboardInterrupt  # a kill in the middle of a video
            has = "noface" not in str(video_path)
            faces = np.full((len(clip), self.size, self.size, 3), 10 * k, np.uint8) if has else None
            yield ClipFaces(list(clip), faces, [has] * len(clip), [None] * len(clip), [clip[0]])


@pytest.fixture()
def fake_faces(monkeypatch):
    FakeExtractor.calls = []
    state = {"interrupt_on": None}
    monkeypatch.setattr(extract, "_make_extractor",
                        lambda config: FakeExtractor(config.size, state["interrupt_on"]))
    return state


@pytest.fixture()
def folder_root(tmp_path: Path) -> Path:
    root = tmp_path / "wild"
    for i in range(4):
        write_video(root / "real" / f"r{i}.mp4")
        write_video(root / "fake" / f"f{i}.mp4")
    write_video(root / "fake" / "noface.mp4")
    return root


def run(root: Path, out: Path, **kwargs) -> Path:
    options = {"clip_len": 3, "clips_per_video": 2, "size": 16, "progress": False} | kwargs
    return extract.prepare("folder", root, out, **options)


def test_sample_clips_policies():
    assert extract.sample_clips(100, "clrnet", 5, 16) == [list(range(5 * c, 5 * c + 5)) for c in range(16)]
    assert extract.sample_clips(12, "clrnet", 5, 16) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    masi = extract.sample_clips(100, "masi", 10, 3)
    assert [c[0] for c in masi] == [0, 40, 90] and all(len(c) == 10 for c in masi)
    even = extract.sample_clips(100, "even", 5, 3)
    assert [c[0] for c in even] == [0, 48, 95]
    assert extract.sample_clips(3, "even", 5, 3) == []
    with pytest.raises(ValueError, match="sampling"):
        extract.sample_clips(10, "random", 5, 1)


def test_parse_shard():
    assert extract.parse_shard("1/4") == (1, 4) and extract.parse_shard((0, 1)) == (0, 1)
    for bad in ("4/4", "1-4", "x/2", "0/0"):
        with pytest.raises(ValueError, match="shard"):
            extract.parse_shard(bad)


def test_extract_writes_records_and_manifest(fake_faces, folder_root: Path, tmp_path: Path):
    manifest = run(folder_root, tmp_path / "out")
    assert manifest == tmp_path / "out" / "folder" / "manifest.csv"
    frame = read_manifest(manifest).set_index("video_id")
    assert len(frame) == 9
    assert frame.loc["real/r0", "status"] == "ok" and frame.loc["real/r0", "clips_written"] == 2
    assert frame.loc["real/r0", "video_frames"] == 12 and frame.loc["real/r0", "frames_total"] == 6
    assert frame.loc["fake/noface", "status"] == "no_face" and frame.loc["fake/noface", "shards"] == []
    assert "noface.mp4" in frame.loc["fake/noface", "error"]
    files = select_records(tmp_path / "out", methods=["fake"])
    assert len(files) == 4 and all(".n0002.tfrecord" in f for f in files)
    parsed = [parse_clip(r) for r in tf.data.TFRecordDataset(files)]
    assert {int(p["label"]) for p in parsed} == {1} and len(parsed) == 8
    assert sorted({int(p["clip_index"]) for p in parsed}) == [0, 1]
    assert decode_frames(parsed[0]["frames"]).shape == (3, 16, 16, 3)
    assert list(parsed[0]["frame_indices"].numpy()) in ([0, 1, 2], [3, 4, 5])


def test_rerun_does_nothing(fake_faces, folder_root: Path, tmp_path: Path):
    manifest = run(folder_root, tmp_path / "out")
    before = manifest.read_text()
    FakeExtractor.calls = []
    assert run(folder_root, tmp_path / "out") == manifest
    assert FakeExtractor.calls == []
    assert manifest.read_text() == before


def test_kill_mid_video_then_resume(fake_faces, folder_root: Path, tmp_path: Path):
    out = tmp_path / "out"
    fake_faces["interrupt_on"] = "r1.mp4"
    with pytest.raises(KeyboardInterrupt):
        run(folder_root, out)
    leftovers = list(out.rglob("*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].name.startswith("real_r1~")
    assert leftovers[0].name.endswith(".tfrecord.tmp")
    assert not any("r1" in f for f in select_records(out))  # the partial video is invisible
    done_before = {json.loads(line)["video_id"] for line in (out / "folder/journal.jsonl").open()}
    assert len(done_before) == 6 and "real/r1" not in done_before  # fakes first, then real/r0
    fake_faces["interrupt_on"] = None
    FakeExtractor.calls = []
    run(folder_root, out)
    assert sorted(FakeExtractor.calls) == ["r1.mp4", "r2.mp4", "r3.mp4"]
    assert not list(out.rglob("*.tmp"))
    frame = read_manifest(out)
    assert len(frame) == 9 and frame.set_index("video_id").loc["real/r1", "clips_written"] == 2


def test_torn_journal_line_and_deleted_shard_are_redone(fake_faces, folder_root: Path, tmp_path: Path):
    out = tmp_path / "out"
    run(folder_root, out)
    journal = out / "folder" / "journal.jsonl"
    journal.write_text(journal.read_text() + '{"video_id": "real/r')  # torn write
    Path(select_records(out, methods=["original"])[0]).unlink()
    FakeExtractor.calls = []
    run(folder_root, out)
    assert FakeExtractor.calls == ["r0.mp4"]
    assert len(select_records(out, methods=["original"])) == 4
    assert len(extract.read_journal(journal)) == 9  # the torn tail was cut before appending
    FakeExtractor.calls = []
    run(folder_root, out)
    assert FakeExtractor.calls == []


def test_shards_partition_the_dataset(fake_faces, folder_root: Path, tmp_path: Path):
    out = tmp_path / "out"
    entries = get_adapter("folder").list_videos(folder_root)
    parts = [{e.key for e in entries if extract.in_shard(e, (i, 3))} for i in range(3)]
    assert set().union(*parts) == {e.key for e in entries}
    assert sum(len(p) for p in parts) == len(entries)  # disjoint
    for i in range(3):
        manifest = run(folder_root, out, shard=f"{i}/3")
        assert manifest.name == f"manifest.shard-{i}-of-3.csv"
        assert {f"folder/{m}/{v}" for m, v in read_manifest(manifest)[["method", "video_id"]].values} == parts[i]
    merged = read_manifest(out)
    assert len(merged) == len(entries) and merged["video_id"].is_unique
    assert main(["merge-manifests", "--out", str(out)]) == 0
    assert len(read_manifest(out / "folder" / "manifest.csv")) == len(entries)


def test_limit_takes_both_methods(fake_faces, folder_root: Path, tmp_path: Path):
    manifest = run(folder_root, tmp_path / "out", limit=2, methods=["real", "fake"])
    assert sorted(read_manifest(manifest)["label"]) == [0, 1]


def test_corrupt_video_is_recorded_and_others_proceed(fake_faces, folder_root: Path, tmp_path: Path,
                                                      capsys):
    (folder_root / "fake" / "broken.mp4").write_text("not a video")
    code = main(["extract", "--dataset", "folder", "--root", str(folder_root), "--out",
                 str(tmp_path / "out"), "--clip-len", "3", "--clips-per-video", "1", "--size", "16",
                 "--no-progress"])
    assert code == 0
    frame = read_manifest(tmp_path / "out").set_index("video_id")
    assert frame.loc["fake/broken", "status"] == "error"
    assert "broken.mp4" in frame.loc["fake/broken", "error"]
    assert (frame["status"] == "ok").sum() == 8
    assert "1 error" in capsys.readouterr().out


def test_cli_exit_codes_for_bad_input(fake_faces, tmp_path: Path, capsys):
    bad = tmp_path / "bad"
    (bad / "fake").mkdir(parents=True)
    (bad / "fake" / "a.mp4").write_text("junk")
    args = ["extract", "--dataset", "folder", "--out", str(tmp_path / "out"), "--no-progress"]
    assert main(args + ["--root", str(bad)]) == 1  # every video failed
    assert "error: all 1 videos failed" in capsys.readouterr().err
    assert main(args + ["--root", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(tmp_path / "missing") in err and "Traceback" not in err
    assert main(["extract", "--dataset", "ffpp", "--root", str(bad), "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 2
    assert "original_sequences" in capsys.readouterr().err
    with pytest.raises(DatasetLayoutError):
        extract.prepare("celebdf", bad, tmp_path / "o2", progress=False)


def test_other_settings_in_same_out_are_refused(fake_faces, folder_root: Path, tmp_path: Path):
    run(folder_root, tmp_path / "out")
    with pytest.raises(extract.ConfigMismatchError, match="size"):
        run(folder_root, tmp_path / "out", size=32)


def test_cli_help_lists_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["extract", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in ("--dataset", "--shard", "--workers", "--sampling", "--clips-per-video", "--limit"):
        assert option in text


def test_list_command(folder_root: Path, capsys):
    assert main(["list", "--dataset", "folder", "--root", str(folder_root)]) == 0
    assert "total: 9 videos" in capsys.readouterr().out


def test_cli_real_faces(tmp_path: Path, capsys):
    """The real MTCNN pipeline: a face video gives aligned face clips, the dog video no_face."""
    root = tmp_path / "wild"
    (root / "real").mkdir(parents=True)
    (root / "fake").mkdir()
    (root / "real" / "webcam_hello.mp4").symlink_to(MEDIA / "webcam_hello.mp4")
    (root / "fake" / "dog_no_face.mp4").symlink_to(MEDIA / "dog_no_face.mp4")
    code = main(["extract", "--dataset", "folder", "--root", str(root), "--out", str(tmp_path / "out"),
                 "--clips-per-video", "1", "--size", "112", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0
    assert "no face found" in captured.err and "dog_no_face.mp4" in captured.err
    frame = read_manifest(tmp_path / "out").set_index("video_id")
    assert frame.loc["fake/dog_no_face", "status"] == "no_face"
    assert frame.loc["real/webcam_hello", "status"] == "ok"
    files = select_records(tmp_path / "out", methods=["original"])
    clip = parse_clip(next(iter(tf.data.TFRecordDataset(files))))
    frames = decode_frames(clip["frames"]).numpy()
    assert frames.shape == (5, 112, 112, 3) and frames.std() > 10
    from data_prep.faces import FaceDetector

    faces = FaceDetector(min_confidence=0.8).detect(frames[2])
    assert faces, "no face re-detected on the aligned crop"
    cx, cy = (faces[0].box[:2] + faces[0].box[2:]) / 2
    assert abs(cx - 56) < 25 and abs(cy - 56) < 25  # the face sits in the middle of the crop
    assert main(["extract", "--dataset", "folder", "--root", str(root), "--out",
                 str(tmp_path / "out"), "--clips-per-video", "1", "--size", "112", "--no-progress"]) == 0
    assert "2 already done" in capsys.readouterr().out


@pytest.mark.slow
def test_workers_match_single_process(tmp_path: Path):
    """Two spawned worker processes give the same manifest rows as one process."""
    root = tmp_path / "wild"
    (root / "real").mkdir(parents=True)
    (root / "fake").mkdir()
    (root / "real" / "webcam_hello.mp4").symlink_to(MEDIA / "webcam_hello.mp4")
    (root / "fake" / "dog_no_face.mp4").symlink_to(MEDIA / "dog_no_face.mp4")
    options = {"clips_per_video": 2, "size": 64, "progress": False}
    one = read_manifest(extract.prepare("folder", root, tmp_path / "one", **options))
    two = read_manifest(extract.prepare("folder", root, tmp_path / "two", workers=2, **options))
    columns = ["video_id", "status", "clips_written", "frames_without_face"]
    assert one[columns].sort_values("video_id").values.tolist() == \
        two[columns].sort_values("video_id").values.tolist()
