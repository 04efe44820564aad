"""Extraction: samplers, shards, resume after a crash, bad input, the CLI, and one real MTCNN run.

Most tests swap the MTCNN face extractor for a fake one (same ClipFaces contract) so they take
well under a second each; ``test_cli_real_faces`` runs the real extractor on the bundled media.
The concurrency tests start real ``python -m data_prep extract`` processes; a ``sitecustomize``
on their ``PYTHONPATH`` swaps in a fake extractor that waits at a gate, so the runs are known to
overlap.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
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
from data_prep.locking import LockHeldError, LockOwner
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


def test_masi_train_and_eval_samplings():
    train = extract.sample_clips(1000, "masi_train", 10, 27)
    assert len(train) == 27 and all(len(c) == 10 for c in train)
    flat = [f for c in train for f in c]
    assert len(set(flat)) == 270 and flat == sorted(flat) and flat[0] == 0 and flat[-1] == 999
    short = extract.sample_clips(95, "masi_train", 10, 27)  # fewer frames than 270: all of them
    assert [f for c in short for f in c] == list(range(90))
    (evaluation,) = extract.sample_clips(1000, "masi_eval", 110, 1)
    assert evaluation == list(range(0, 770, 7))  # one frame in seven, 110 of them
    assert extract.sample_clips(50, "masi_eval", 110, 1) == [list(range(0, 50, 7))]
    assert extract.sample_clips(0, "masi_eval", 110, 1) == []


def test_sparse_samplings_detect_every_sampled_frame():
    ex = extract._make_extractor(extract.ExtractConfig(sampling="masi_eval", clip_len=110,
                                                       clips_per_video=1))
    assert (ex.detect_every, ex.max_gap) == (1, 14)
    dense = extract._make_extractor(extract.ExtractConfig())
    assert (dense.detect_every, dense.max_gap) == (5, 10)


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
    assert not list(out.rglob(".*.lock"))  # the interrupted run released its lock
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
    with extract.extraction_lock(out / "folder", "0/1"):  # a whole-dataset run writes it too
        assert main(["merge-manifests", "--out", str(out)]) == 3


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


# --- concurrency: locks, shards side by side, duplicate rows ---------------------------------

SITECUSTOMIZE = textwrap.dedent("""
    import os
    if os.environ.get("DP_TEST_GATE"):
        import time
        from pathlib import Path
        from types import SimpleNamespace

        import numpy as np

        from data_prep import extract  # light: TensorFlow loads only once the lock is held

        class GatedFakeExtractor:
            def __init__(self, size):
                self.size = size

            def extract_clips(self, video_path, clips):
                # Arrive at the gate, then wait until PARTIES runs have arrived or it opens.
                gate = Path(os.environ["DP_TEST_GATE"])
                (gate / f"arrived-{os.getpid()}").touch()
                parties = int(os.environ["DP_TEST_PARTIES"])
                deadline = time.monotonic() + 90
                while (len(list(gate.glob("arrived-*"))) < parties
                       and not (gate / "open").exists() and time.monotonic() < deadline):
                    time.sleep(0.02)
                has = "noface" not in str(video_path)
                for k, clip in enumerate(clips):  # the ClipFaces fields process_video reads
                    faces = np.full((len(clip), self.size, self.size, 3), 10 * k, np.uint8)
                    yield SimpleNamespace(frame_indices=list(clip), faces=faces if has else None,
                                          has_face=[has] * len(clip))

        extract._make_extractor = lambda config: GatedFakeExtractor(config.size)
""")


def _start_cli(tmp_path: Path, root: Path, out: Path, parties: int,
               *extra: str) -> subprocess.Popen:
    """``python -m data_prep extract`` whose extractor waits at the gate ``tmp_path/gate``."""
    hook, gate = tmp_path / "hook", tmp_path / "gate"
    hook.mkdir(exist_ok=True)
    gate.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ, DP_TEST_GATE=str(gate), DP_TEST_PARTIES=str(parties),
               PYTHONPATH=os.pathsep.join([str(hook), *filter(None, [os.environ.get("PYTHONPATH")])]))
    command = [sys.executable, "-m", "data_prep", "extract", "--dataset", "folder", "--root",
               str(root), "--out", str(out), "--clip-len", "3", "--clips-per-video", "2",
               "--size", "16", "--no-progress", *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _assert_clean(out: Path, videos: int) -> None:
    frame = read_manifest(out)
    assert len(frame) == videos and not frame.duplicated(["dataset", "method", "video_id"]).any()
    assert (frame["status"] == "ok").sum() == videos - 1  # all but fake/noface
    assert all(Path(s).is_file() for shards in frame["shards"] for s in shards)
    for journal in (out / "folder").glob("journal*.jsonl"):
        keys = [tuple(json.loads(line)[k] for k in ("method", "video_id"))
                for line in journal.read_text().splitlines()]
        assert len(keys) == len(set(keys))
    assert not list(out.rglob("*.tmp")) and not list(out.rglob(".*.lock"))


def test_same_command_twice_at_once_second_is_refused(folder_root: Path, tmp_path: Path):
    """Two identical runs start together: one stops at once with one line, the other finishes."""
    out = tmp_path / "out"
    procs = [_start_cli(tmp_path, folder_root, out, 2) for _ in range(2)]
    deadline = time.monotonic() + 120
    while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    (tmp_path / "gate" / "open").touch()  # the winner waited there until the other gave up
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 3], results
    _, out_refused, err_refused = next(r for r in results if r[0] == 3)
    lines = err_refused.strip().splitlines()
    assert len(lines) == 1 and out_refused == "", err_refused
    line = lines[0]
    winner = next(p for p, r in zip(procs, results, strict=True) if r[0] == 0)
    assert line.startswith("error: cannot start extraction of folder into ")
    assert f"(pid {winner.pid} on host {socket.gethostname()}, started " in line
    assert "command: " in line and "data_prep extract" in line and ".extract.lock" in line
    assert "9 videos selected, 0 already done; this run: 8 ok, 1 no_face, 0 error" in \
        next(r for r in results if r[0] == 0)[1]
    _assert_clean(out, 9)


def test_two_shards_in_threads_run_side_by_side(folder_root: Path, tmp_path: Path, monkeypatch):
    """Shards 0/2 and 1/2 at once in one process: each waits inside extraction for the other."""
    barrier = threading.Barrier(2, timeout=60)

    class Gated(FakeExtractor):
        def extract_clips(self, video_path, clips):
            if not getattr(self, "arrived", False):
                self.arrived = True
                barrier.wait()  # both runs hold their locks and are extracting now
            yield from super().extract_clips(video_path, clips)

    monkeypatch.setattr(extract, "_make_extractor", lambda config: Gated(config.size))
    out, errors = tmp_path / "out", []

    def shard(i: int) -> None:
        try:
            run(folder_root, out, shard=f"{i}/2")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=shard, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and barrier.n_waiting == 0 and not barrier.broken
    _assert_clean(out, 9)


@pytest.mark.slow
def test_two_shards_into_one_folder_run_side_by_side(folder_root: Path, tmp_path: Path):
    """Shards 0/2 and 1/2 as two processes: each waits inside extraction for the other."""
    out = tmp_path / "out"
    procs = [_start_cli(tmp_path, folder_root, out, 2, "--shard", f"{i}/2") for i in range(2)]
    results = [(p.wait(timeout=180), *p.communicate()) for p in procs]
    assert len(list((tmp_path / "gate").glob("arrived-*"))) == 2  # both were in extraction
    assert [code for code, _, _ in results] == [0, 0], results
    assert all("0 error" in stdout for _, stdout, _ in results)
    assert sorted(p.name for p in (out / "folder").glob("manifest*.csv")) == [
        "manifest.shard-0-of-2.csv", "manifest.shard-1-of-2.csv"]
    _assert_clean(out, 9)


def test_stale_extraction_lock_is_taken_over(fake_faces, folder_root: Path, tmp_path: Path):
    out = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    lock_file = out / "folder" / ".extract.lock"
    lock_file.parent.mkdir(parents=True)
    lock_file.write_bytes(LockOwner(int(dead.stdout), socket.gethostname(), time.time() - 5,
                                    "python -m data_prep extract", "killed run", "1" * 16).to_json())
    run(folder_root, out)
    assert len(read_manifest(out)) == 9 and not lock_file.exists()


def test_lock_released_after_an_exception(fake_faces, folder_root: Path, tmp_path: Path):
    run(folder_root, tmp_path / "out")
    with pytest.raises(extract.ConfigMismatchError):
        run(folder_root, tmp_path / "out", size=32)  # raised while the lock is held
    assert not list((tmp_path / "out").rglob(".*.lock"))
    run(folder_root, tmp_path / "out")  # and the next run gets it
    assert not list((tmp_path / "out").rglob(".*.lock"))


def test_held_lock_refuses_same_shard_and_other_n(fake_faces, folder_root: Path, tmp_path: Path):
    out = tmp_path / "out"
    with extract.extraction_lock(out / "folder", "0/2"):
        with pytest.raises(LockHeldError, match=r"cannot start extraction of folder shard 0/2"):
            run(folder_root, out, shard="0/2")
        with pytest.raises(LockHeldError, match=r"cannot start extraction of folder into .*"
                           r"extraction of folder shard 0/2 .* for videos that overlap"):
            run(folder_root, out)  # 0/1 overlaps every shard of 2
        run(folder_root, out, shard="1/2")  # the other shard of the same N runs
    assert FakeExtractor.calls and "0/2" not in str(read_manifest(out)["manifest"].unique())


def test_cli_exit_status_3_for_a_held_lock(fake_faces, folder_root: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    with extract.extraction_lock(out / "folder", "0/1"):
        code = main(["extract", "--dataset", "folder", "--root", str(folder_root), "--out",
                     str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 3 and captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: cannot start")


def test_rerun_repairs_duplicate_rows(fake_faces, folder_root: Path, tmp_path: Path):
    """The aftermath of two runs of one shard (before locks): a journal with an ok and an error
    row for the same videos and a manifest listing both. A re-run keeps the row whose shards
    are on disk, redoes nothing, and leaves one row per video in both files."""
    out = tmp_path / "out"
    manifest = run(folder_root, out)
    journal = out / "folder" / "journal.jsonl"
    rows = [json.loads(line) for line in journal.read_text().splitlines()]
    failed = [dict(r, status="error", shards=[], clips_written=0,
                   error=f"FileNotFoundError: {r['video_id']}.tfrecord.tmp") for r in rows[:7]]
    with journal.open("a") as handle:  # interleaved, as two concurrent appenders leave it
        for row in failed:
            handle.write(json.dumps(row) + "\n")
    text = manifest.read_text()
    manifest.write_text(text + "".join(text.splitlines(keepends=True)[1:8]))  # duplicate lines
    FakeExtractor.calls = []
    run(folder_root, out)
    assert FakeExtractor.calls == []  # every video's files are on disk: nothing is redone
    assert len(journal.read_text().splitlines()) == 9
    assert len(manifest.read_text().splitlines()) == 10  # header + one row per video
    _assert_clean(out, 9)
    # A duplicate whose shards are gone loses to the row that still matches the disk.
    assert extract.read_journal(journal)[("folder", "original", "real/r0")]["status"] == "ok"
