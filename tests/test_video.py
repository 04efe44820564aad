"""Tests for data_prep.video: samplers, streaming reader, bad-input errors."""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_prep.errors import DataPrepError, VideoError
from data_prep.video import (
    VideoReader,
    clrnet_clips,
    evenly_spaced,
    evenly_spaced_clips,
    masi_inference_frames,
    masi_windows,
    probe,
    stored_frame_count,
)

N_FRAMES = 24


def _write_video(
    path: Path, fourcc: str, n: int = N_FRAMES, size: tuple[int, int] = (64, 48)
) -> Path:
    """Frame i: R = 200, G = 10 * i, B = 30 (written as BGR), so index and channel order are checkable."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, size)
    assert writer.isOpened(), f"cannot write {fourcc} here"
    for i in range(n):
        rgb = np.zeros((size[1], size[0], 3), np.uint8)
        rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, (10 * i) % 250, 30
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


CONTAINERS = [
    ("mp4v", ".mp4"),
    ("MJPG", ".avi"),
    ("MJPG", ".mkv"),
    ("VP80", ".webm"),
    ("PIM1", ".mpg"),
]


@pytest.fixture(scope="module", params=CONTAINERS, ids=[ext[1:] for _, ext in CONTAINERS])
def small_video(request, tmp_path_factory) -> Path:
    fourcc, ext = request.param
    path = tmp_path_factory.mktemp("vid") / f"ramp{ext}"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (64, 48))
    if not writer.isOpened():
        pytest.skip(f"this OpenCV build cannot write {ext}")
    writer.release()
    return _write_video(path, fourcc)


# ----------------------------------------------------------------------------- samplers
def test_clrnet_clips_official_first_80_frames():
    clips = clrnet_clips(249)
    assert len(clips) == 16
    assert clips[0] == [0, 1, 2, 3, 4] and clips[-1] == [75, 76, 77, 78, 79]
    assert sum(clips, []) == list(range(80))


def test_clrnet_clips_short_videos():
    assert clrnet_clips(12) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]  # partial tail dropped
    assert clrnet_clips(4) == []
    assert clrnet_clips(0) == []
    with pytest.raises(ValueError, match="clip_len"):
        clrnet_clips(10, clip_len=0)


def test_masi_windows_and_inference_frames():
    assert masi_windows(35) == [list(range(0, 10)), list(range(10, 20)), list(range(20, 30))]
    assert masi_windows(9) == []
    overlapping = masi_windows(14, window=10, stride=2)
    assert [w[0] for w in overlapping] == [0, 2, 4]
    assert masi_inference_frames(22) == [0, 7, 14, 21]
    assert masi_inference_frames(0) == []


def test_evenly_spaced():
    idx = evenly_spaced(249, 32)
    assert len(idx) == 32 and idx[0] == 0 and idx[-1] == 248
    assert idx == sorted(set(idx))
    assert evenly_spaced(5, 32) == [0, 1, 2, 3, 4]  # fewer frames than requested
    assert evenly_spaced(0, 8) == []
    assert evenly_spaced(100, 1) == [0]


def test_evenly_spaced_clips_cover_video_without_overlap():
    clips = evenly_spaced_clips(249, 5, 8)
    assert len(clips) == 8 and clips[0][0] == 0 and clips[-1][-1] == 248
    for a, b in zip(clips, clips[1:], strict=False):
        assert a[-1] < b[0]
        assert b == list(range(b[0], b[0] + 5))
    assert evenly_spaced_clips(12, 5, 8) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert evenly_spaced_clips(3, 5, 8) == []


# ----------------------------------------------------------------------------- reader
def test_probe_reports_container_facts(small_video):
    info = probe(small_video)
    assert (info.width, info.height) == (64, 48)
    assert info.frame_count == N_FRAMES
    assert info.fps == pytest.approx(25.0, abs=0.5)


def test_reader_yields_only_requested_frames_in_order_as_rgb(small_video):
    with VideoReader(small_video) as reader:
        got = list(reader.frames([17, 3, 3, 0, 500]))
        assert [i for i, _ in got] == [0, 3, 17]  # sorted, unique, past-the-end ignored
        for i, frame in got:
            assert frame.dtype == np.uint8 and frame.shape == (48, 64, 3)
            r, g, b = (float(frame[..., c].mean()) for c in range(3))
            assert r > 150 and b < 80  # RGB, not BGR
            assert g == pytest.approx(10 * i, abs=8)
        # a second pass restarts from the beginning
        assert [i for i, _ in reader.frames(None)] == list(range(N_FRAMES))
    assert reader.truncated_at is None


def test_missing_text_and_empty_files_raise_video_error(tmp_path):
    with pytest.raises(VideoError, match="not found") as err:
        probe(tmp_path / "nope.mp4")
    assert str(tmp_path / "nope.mp4") in str(err.value)
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError) as err:
        VideoReader(text)
    assert str(text) in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, DataPrepError)
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        probe(empty)


def test_truncated_video_raises_or_stops_cleanly(tmp_path):
    src = _write_video(tmp_path / "full.avi", "MJPG", n=40)
    data = src.read_bytes()
    # Cut in the header: nothing decodable -> VideoError.
    head = tmp_path / "head.avi"
    head.write_bytes(data[:200])
    with pytest.raises(VideoError):
        probe(head)
    # Cut in the middle of the stream: the reader stops cleanly at the truncated end.
    half = tmp_path / "half.avi"
    half.write_bytes(data[: len(data) // 2])
    try:
        reader = VideoReader(half)
    except VideoError:
        return  # some OpenCV builds refuse an AVI without its index: also a clear error
    with reader, pytest.warns(UserWarning, match="half.avi"):
        got = [i for i, _ in reader.frames(range(40))]
    assert 0 < len(got) < 40 and got == list(range(len(got)))
    assert reader.truncated_at == len(got)


def test_bundled_webcam_video_probe(repo_root):
    path = repo_root / "data_prep" / "media" / "webcam_hello.mp4"
    info = probe(path)
    # The container says 250 frames; 249 decode. Reading all of them is not a truncation.
    assert (info.width, info.height, info.frame_count) == (1280, 720, 250)
    assert probe(path, count_frames=True).frame_count == 249
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with VideoReader(path) as reader:
            last = [i for i, _ in reader.frames(range(240, 260))]
    assert last == list(range(240, 249)) and reader.truncated_at is None


# ----------------------------------------------------------------------------- frame counts
def _write_av(path: Path, n: int, gaps_ms: tuple[int, ...] = (40,), faststart: bool = False,
              codec: str = "mpeg4") -> Path:
    """Write ``n`` frames with PyAV; frame i lasts ``gaps_ms[i % len(gaps_ms)]`` ms (VFR if >1)."""
    import av  # the pinned dependency data_prep.video uses to tell exact frame counts

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        if codec == "libvpx":
            stream.options = {"deadline": "realtime", "cpu-used": "8"}
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        rng = np.random.default_rng(0)
        pts = 0
        for i in range(n):
            image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)  # noise: no tiny frames
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            pts += gaps_ms[i % len(gaps_ms)]
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_probe_tells_exact_counts_from_estimates(small_video):
    info = probe(small_video)
    # MP4 and AVI store their frame count; MPEG streams are counted by decoding; Matroska and
    # WebM store none, so OpenCV's count is duration x rate (right here only because CFR).
    assert info.frame_count_exact == (small_video.suffix in {".mp4", ".avi", ".mpg"})
    assert stored_frame_count(small_video) == (N_FRAMES if small_video.suffix in {".mp4", ".avi"}
                                               else None)
    counted = probe(small_video, count_frames="auto")
    assert counted.frame_count == N_FRAMES and counted.frame_count_exact


@pytest.mark.parametrize("ext", [".mkv", ".webm", ".mp4"])
def test_variable_frame_rate_video_is_not_called_truncated(tmp_path, ext):
    """50 frames alternating 33 ms and 300 ms: the nominal-rate estimate overshoots ~5x."""
    path = _write_av(tmp_path / f"vfr{ext}", 50, gaps_ms=(33, 300),
                     codec="libvpx" if ext == ".webm" else "mpeg4")
    info = probe(path)
    if ext == ".mp4":
        assert info.frame_count == 50 and info.frame_count_exact  # stored in the container
    else:
        assert info.frame_count > 150 and not info.frame_count_exact  # the estimate
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        with VideoReader(path) as reader:
            got = [i for i, _ in reader.frames(range(0, info.frame_count + 9, 3))]
            assert got == list(range(0, 50, 3))  # the frames that exist, in order
            assert reader.truncated_at is None and reader.stream_frames == 50  # reached the end
            assert len(list(reader.frames(None))) == 50 and reader.stream_frames == 50
    assert probe(path, count_frames="auto").frame_count == 50


def test_mp4_cut_short_still_warns(tmp_path):
    """A valid MP4 (index at the front) cut in the middle: the stored count says 40."""
    full = _write_av(tmp_path / "full.mp4", 40, faststart=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    info = probe(cut)
    assert info.frame_count == 40 and info.frame_count_exact
    with VideoReader(cut) as reader, pytest.warns(UserWarning, match="truncated") as caught:
        got = [i for i, _ in reader.frames(None)]
    assert 0 < len(got) < 39 and reader.truncated_at == len(got)
    message = str(caught[0].message)
    assert f"ended after {len(got)} of 40 frames" in message and str(cut) in message
