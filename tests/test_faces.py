"""Tests for data_prep.faces: alignment maths, MTCNN wrapper, sparse-detection extractor."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from data_prep.errors import VideoError
from data_prep.faces import (
    ClipFaces,
    Face,
    FaceDetector,
    FaceExtractor,
    FaceTracker,
    align_face,
    compile_stages,
    face_template,
    similarity_transform,
)
from data_prep.video import clrnet_clips

MEDIA = Path(__file__).resolve().parents[1] / "data_prep" / "media"
WEBCAM = MEDIA / "webcam_hello.mp4"
DOG = MEDIA / "dog_no_face.mp4"


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


# ----------------------------------------------------------------------------- alignment maths
def test_similarity_transform_recovers_known_parameters():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, size=(5, 2))
    angle, scale, shift = 0.4, 1.7, np.array([12.0, -5.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ (scale * rot).T + shift
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(m[:, :2], scale * rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-9)
    # A mirrored point set must not be fitted with a reflection.
    mirrored = dst * np.array([-1.0, 1.0])
    assert np.linalg.det(similarity_transform(src, mirrored)[:, :2]) > 0


def test_face_template_margin_zooms_out_around_centre():
    tight, wide = face_template(240, 1.0), face_template(240, 1.3)
    centre = np.array([120.0, 120.0])
    np.testing.assert_allclose((tight - centre) / 1.3, wide - centre)
    assert (
        tight[0, 0] < tight[1, 0] and tight[0, 1] < tight[2, 1] < tight[3, 1]
    )  # eyes, nose, mouth
    with pytest.raises(ValueError):
        face_template(240, 0.0)


@pytest.mark.parametrize("size", [240, 224, 256])
def test_align_face_puts_landmarks_on_template(size):
    """Dots drawn at rotated/scaled landmark positions land on the template after alignment."""
    target = face_template(size, 1.3)
    angle, scale, shift = -0.5, 2.2, np.array([300.0, 150.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (target - size / 2) @ (scale * rot).T + shift
    frame = np.zeros((600, 800, 3), np.uint8)
    for k, (x, y) in enumerate(landmarks):
        colour = [0, 0, 0]
        colour[k % 3] = 255
        cv2.circle(frame, (round(x), round(y)), 6, colour, -1, lineType=cv2.LINE_AA)
    crop = align_face(frame, landmarks, output_size=size, margin=1.3)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    for k, (x, y) in enumerate(target):
        channel = crop[..., k % 3].astype(float)
        ys, xs = np.mgrid[0:size, 0:size]
        near = (xs - x) ** 2 + (ys - y) ** 2 < 8**2
        mask = near & (channel > 60)
        assert mask.sum() > 5, f"no dot near template point {k}"
        cx, cy = (
            (xs[mask] * channel[mask]).sum() / channel[mask].sum(),
            (ys[mask] * channel[mask]).sum() / channel[mask].sum(),
        )
        assert abs(cx - x) < 1.0 and abs(cy - y) < 1.0


# ----------------------------------------------------------------------------- detector
def test_detector_on_astronaut_finds_one_ordered_face(detector):
    frame = _rgb(MEDIA / "astronaut.png")
    faces = detector.detect(frame)
    assert len(faces) == 1
    face = faces[0]
    x1, y1, x2, y2 = face.box
    assert 0 <= x1 < x2 <= frame.shape[1] and 0 <= y1 < y2 <= frame.shape[0]
    le, re, nose, ml, mr = face.landmarks
    assert le[0] < re[0] and ml[0] < mr[0]  # image-left first
    assert max(le[1], re[1]) < nose[1] < min(ml[1], mr[1])
    assert all(x1 <= p[0] <= x2 and y1 <= p[1] <= y2 for p in face.landmarks)
    assert face.confidence >= 0.9
    with pytest.raises(ValueError, match="RGB frame"):
        detector.detect(frame[..., 0])


def test_detector_returns_original_resolution_coordinates(detector):
    """Same content at 2x size with max_side 512: coordinates double."""
    frame = _rgb(MEDIA / "astronaut.png")  # 512x512, not downscaled
    big = cv2.resize(frame, (1024, 1024), interpolation=cv2.INTER_LINEAR)
    small_det = FaceDetector(max_side=512)
    small_det._mtcnn = detector.mtcnn  # share the loaded networks
    (a,), (b,) = small_det.detect_batch([frame, frame])[0], small_det.detect(big)
    # a few pixels of pyramid jitter at a ~170 px face; a scaling bug would be off by ~100s
    np.testing.assert_allclose(b.box, 2 * a.box, atol=8.0)
    np.testing.assert_allclose(b.landmarks, 2 * a.landmarks, atol=8.0)


def test_compiled_stages_give_the_eager_networks_boxes(detector):
    """The tf.function-wrapped P/R/O-Nets find the same faces as the package's eager calls."""
    from mtcnn import MTCNN

    eager = FaceDetector()
    eager._mtcnn = MTCNN(device="CPU:0")  # the package as shipped: eager stage calls
    assert not any(hasattr(st._model, "get_concrete_function") for st in eager._mtcnn.stages)
    assert all(hasattr(st._model, "get_concrete_function") for st in detector.mtcnn.stages)
    frames = [_rgb(MEDIA / "astronaut.png"), cv2.resize(_rgb(MEDIA / "astronaut.png"), (300, 300))]
    for got, want in zip(detector.detect_batch(frames), eager.detect_batch(frames), strict=True):
        assert len(got) == len(want) == 1
        np.testing.assert_allclose(got[0].box, want[0].box, atol=1e-3)
        np.testing.assert_allclose(got[0].landmarks, want[0].landmarks, atol=1e-3)
        assert abs(got[0].confidence - want[0].confidence) < 1e-5
    assert compile_stages(detector.mtcnn) is detector.mtcnn  # wrapping twice is a no-op


# ----------------------------------------------------------------------------- tracker
def _face(x: float, y: float, w: float = 40.0) -> Face:
    box = np.array([x, y, x + w, y + w])
    pts = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]]) * w + [x, y]
    return Face(box, pts, 0.99)


def test_tracker_keeps_ids_by_iou_and_opens_new_tracks():
    tracker = FaceTracker(iou_threshold=0.3, max_gap=10)
    first = tracker.update(0, [_face(0, 0), _face(200, 0)])
    assert sorted(first) == [0, 1]
    second = tracker.update(5, [_face(205, 2), _face(3, 1)])  # swapped order, slight motion
    assert second[0].box[0] == 3 and second[1].box[0] == 205
    third = tracker.update(30, [_face(3, 1)])  # too long after: new track
    assert list(third) == [2]
    fourth = tracker.update(35, [_face(80, 1)])  # no overlap with track 2: another new track
    assert list(fourth) == [3]


# ----------------------------------------------------------------------------- extractor (stub)
class _ScriptedDetector:
    """Detector stand-in: a face moving 4 px/frame to the right, missing on given frames.

    The frame index is read from the synthetic frame itself (top-left block grey = 6 * index).
    """

    def __init__(self, missing: set[int]) -> None:
        self.missing = missing
        self.calls: list[int] = []

    def detect_batch(self, frames):
        out = []
        for frame in frames:
            idx = round(float(frame[2:14, 2:14].mean()) / 6)
            self.calls.append(idx)
            out.append([] if idx in self.missing else [_face(20 + 4 * idx, 30, 60)])
        return out


def _index_video(path: Path, n: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (200, 120))
    for i in range(n):
        frame = np.full((120, 200, 3), 90, np.uint8)
        frame[:16, :16] = 6 * i  # the top-left block carries the index
        writer.write(frame)
    writer.release()
    return path


def test_extractor_detects_on_anchors_only_and_interpolates(tmp_path):
    video = _index_video(tmp_path / "idx.avi", 40)
    det = _ScriptedDetector(missing={10})
    ex = FaceExtractor(output_size=64, detector=det, detect_every=5, batch_size=2)
    clips = [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14], [30, 31, 32, 33, 34]]
    assert ex.anchor_frames(clips) == [0, 5, 10, 14, 30, 34]
    out = list(ex.extract_clips(video, clips))
    assert sorted(det.calls) == [0, 5, 10, 14, 30, 34]
    assert [c.frame_indices for c in out] == clips
    for clip in out:
        assert isinstance(clip, ClipFaces) and clip.track_id == 0
        assert clip.faces.shape == (5, 64, 64, 3)
    # interpolated boxes follow the scripted linear motion exactly (anchors 0 and 5)
    for clip in out:
        for f, box in zip(clip.frame_indices, clip.boxes, strict=True):
            np.testing.assert_allclose(box, [20 + 4 * f, 30, 80 + 4 * f, 90], atol=1e-6)
    assert out[0].detected_on == [0, 5]
    # the failed detection at 10 is bridged by anchors 5 and 14 (gap 9 <= 2 * detect_every)
    assert all(out[2].has_face)
    np.testing.assert_allclose(out[2].boxes[0][0], 20 + 4 * 10, atol=1e-6)
    assert out[2].detected_on == [5, 10, 14]


def test_extractor_handles_overlapping_and_unsorted_clips(tmp_path):
    video = _index_video(tmp_path / "idx.avi", 30)
    det = _ScriptedDetector(missing=set())
    ex = FaceExtractor(output_size=32, detector=det, detect_every=5, batch_size=1)
    clips = [[20, 21, 22], [0, 1, 2, 3], [2, 3, 4, 5]]  # yielded in this order, frames shared
    out = list(ex.extract_clips(video, clips))
    assert [c.frame_indices for c in out] == clips
    assert ex.last_stats["frames_decoded"] == 9  # each shared frame decoded once
    for clip in out:
        assert all(clip.has_face)
        for f, box in zip(clip.frame_indices, clip.boxes, strict=True):
            np.testing.assert_allclose(box[0], 20 + 4 * f, atol=1e-6)
    np.testing.assert_array_equal(out[1].faces[2:], out[2].faces[:2])


def test_extractor_records_frames_without_face(tmp_path):
    video = _index_video(tmp_path / "idx.avi", 30)
    det = _ScriptedDetector(missing=set(range(10, 30)))
    ex = FaceExtractor(output_size=32, detector=det, detect_every=5)
    out = list(ex.extract_clips(video, [[4, 5, 6], [20, 21, 22, 23, 24]]))
    assert out[0].has_face == [True, True, True]
    assert out[1].has_face == [False] * 5 and out[1].faces is None
    assert out[1].boxes == [None] * 5
    # frames past the end of the video are reported missing, not dropped
    (tail,) = ex.extract_frames(video, [35])
    assert tail.frame_indices == [35] and tail.has_face == [False]


def test_extractor_raises_video_error_eagerly(tmp_path):
    ex = FaceExtractor(detector=_ScriptedDetector(set()))
    with pytest.raises(VideoError, match="nope.mp4"):
        ex.extract_clips(tmp_path / "nope.mp4", [[0]])


# ----------------------------------------------------------------------------- extractor (MTCNN)
def test_extractor_on_webcam_video_finds_the_inset_face(detector):
    ex = FaceExtractor(output_size=240, detector=detector)
    clips = clrnet_clips(249, num_clips=2) + [[200, 201, 202, 203, 204]]
    before = detector.frames_detected
    out = list(ex.extract_clips(WEBCAM, clips))
    assert len(out) == 3
    assert ex.anchor_frames(clips) == [0, 5, 9, 200, 204]
    assert detector.frames_detected - before == 5
    for clip in out:
        assert all(clip.has_face), clip.has_face
        assert clip.faces.shape == (5, 240, 240, 3)
        for box in clip.boxes:
            # the webcam inset sits near (190..260, 120..215) in the 1280x720 frame
            assert 150 < box[0] < box[2] < 320 and 80 < box[1] < box[3] < 280, box
    # the aligned crop itself contains a centred face
    crop = out[0].faces[2]
    (face,) = detector.detect(crop)
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    assert abs(cx - 120) < 30 and abs(cy - 120) < 40


def test_extractor_on_dog_video_reports_no_face(detector):
    ex = FaceExtractor(output_size=64, detector=detector)
    out = list(ex.extract_clips(DOG, [[0, 1, 2, 3, 4], [30, 31, 32, 33, 34]]))
    assert len(out) == 2
    for clip in out:
        assert clip.has_face == [False] * 5 and clip.faces is None
        assert clip.detected_on == [clip.frame_indices[0], clip.frame_indices[-1]]


def test_all_faces_mode_tracks_two_faces(tmp_path, detector):
    """Two astronaut faces of different sizes, drifting right: two stable tracks."""
    face = cv2.imread(str(MEDIA / "astronaut.png"))
    path = tmp_path / "two.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (640, 360))
    for i in range(10):
        frame = np.full((360, 640, 3), 40, np.uint8)
        frame[20:276, 10 + 2 * i : 266 + 2 * i] = cv2.resize(face, (256, 256))
        frame[100:260, 400 + 2 * i : 560 + 2 * i] = cv2.resize(face, (160, 160))
        writer.write(frame)
    writer.release()
    ex = FaceExtractor(output_size=64, detector=detector, all_faces=True)
    out = list(ex.extract_clips(path, [list(range(0, 5)), list(range(5, 10))]))
    assert len(out) == 4
    by_track: dict[int, list[ClipFaces]] = {}
    for clip in out:
        assert all(clip.has_face)
        by_track.setdefault(clip.track_id, []).append(clip)
    assert len(by_track) == 2 and all(len(v) == 2 for v in by_track.values())
    for clips in by_track.values():
        xs = [b[0] for c in clips for b in c.boxes]
        assert max(xs) - min(xs) < 40  # same face all along, not swapping sides
    largest = list(FaceExtractor(output_size=64, detector=detector).extract_clips(path, [[0]]))
    assert len(largest) == 1 and largest[0].boxes[0][0] < 200  # the bigger (left) face
