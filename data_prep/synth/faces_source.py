"""Real face material for the mini benchmark: images/videos of real people plus 5-point landmarks.

MTCNN (the ``mtcnn`` package) runs once per source image and once per *key frame* of a source
video (at most :data:`MAX_KEYFRAMES` per video); landmarks of the frames in between are linearly
interpolated. Results are memoised per file (path, size, mtime), so building several trees in one
process, or generating hundreds of clips, never runs the detector per generated frame.

Landmark order everywhere in :mod:`data_prep.synth`: ``[left_eye, right_eye, nose, mouth_left,
mouth_right]`` where *left/right are image-left/right* (MTCNN's convention).

No paper is followed here; this is the generator's input stage. The default material is the real
media shipped in ``data_prep/media`` (see ``data_prep/media/SOURCES.md`` for attribution).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from data_prep.errors import DataPrepError

MEDIA_DIR = Path(__file__).resolve().parents[1] / "media"
DEFAULT_MEDIA: tuple[str, ...] = ("astronaut.png", "webcam_hello.mp4")
IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})
VIDEO_EXTS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})
MAX_KEYFRAMES = 10
MAX_VIDEO_FRAMES = 250
KEYPOINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
#: Crop kept around the face in a source video, in face-box sizes (keeps memory small).
CROP_FACE_SIZES = 3.0

_MEMO: dict[tuple[str, int, int], FaceSource | None] = {}
_DETECTOR = None


class SynthError(DataPrepError):
    """The mini benchmark generator got unusable input (no faces, bad output folder, ...)."""


@dataclass
class FaceSource:
    """One real person's material: a frame sequence (a still image has one frame) + landmarks.

    Args:
        name: file name of the source (used in the README and metadata).
        frames: uint8 RGB frames, shape (N, H, W, 3), cropped around the face.
        landmarks: float32 5-point landmarks per frame in ``frames`` coordinates, (N, 5, 2).
        is_video: whether the frames come from a real video (real motion) or one still.
    """

    name: str
    frames: np.ndarray
    landmarks: np.ndarray
    is_video: bool


def _detector():
    """Return the process-wide MTCNN detector (built lazily, TF is slow to import)."""
    global _DETECTOR
    if _DETECTOR is None:
        from data_prep.tfquiet import import_quietly

        import_quietly()  # no TensorFlow start-up lines under the benchmark's progress bar
        from mtcnn import MTCNN

        _DETECTOR = MTCNN()
    return _DETECTOR


def detect_landmarks(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Detect the largest face in an RGB image with MTCNN.

    Args:
        rgb: uint8 RGB image (H, W, 3).

    Returns:
        ``(landmarks (5, 2) float32, box (4,) float32 as x, y, w, h)`` or ``None`` if no face.
    """
    faces = _detector().detect_faces(rgb)
    faces = [f for f in faces if f.get("confidence", 0.0) >= 0.9]
    if not faces:
        return None
    best = max(faces, key=lambda f: f["box"][2] * f["box"][3])
    pts = np.array([best["keypoints"][k] for k in KEYPOINTS], dtype=np.float32)
    return pts, np.asarray(best["box"], dtype=np.float32)


def _keyframe_indices(n: int) -> list[int]:
    """At most MAX_KEYFRAMES evenly spaced frame indices of an ``n``-frame video."""
    return sorted(set(np.linspace(0, n - 1, min(n, MAX_KEYFRAMES)).round().astype(int).tolist()))


def _read_keyframes(path: Path) -> tuple[int, dict[int, np.ndarray]]:
    """Count the frames (up to MAX_VIDEO_FRAMES) and decode only the key frames (BGR)."""
    cap = cv2.VideoCapture(str(path))
    try:
        n = 0
        while n < MAX_VIDEO_FRAMES and cap.grab():
            n += 1
        wanted = set(_keyframe_indices(n)) if n else set()
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        frames: dict[int, np.ndarray] = {}
        for i in range(n):
            if not cap.grab():
                break
            if i in wanted:
                ok, frame = cap.retrieve()
                if ok:
                    frames[i] = frame
    finally:
        cap.release()
    return n, frames


def _read_cropped(path: Path, first: int, last: int,
                  box: tuple[int, int, int, int]) -> np.ndarray:
    """Frames ``first..last`` cropped to ``box`` as RGB (only the crop is kept in memory)."""
    x0, y0, x1, y1 = box
    cap = cv2.VideoCapture(str(path))
    out: list[np.ndarray] = []
    try:
        for i in range(last + 1):
            ok, frame = cap.read()
            if not ok:
                break
            if i >= first:
                out.append(cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    return np.stack(out)


def _crop_box(boxes: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Square crop (x0, y0, x1, y1) of CROP_FACE_SIZES face sizes around the median face."""
    cx = float(np.median(boxes[:, 0] + boxes[:, 2] / 2))
    cy = float(np.median(boxes[:, 1] + boxes[:, 3] / 2))
    half = CROP_FACE_SIZES * float(np.max(boxes[:, 2:])) / 2
    h, w = shape
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(w, int(cx + half)), min(h, int(cy + half))
    return x0, y0, x1, y1


def _interpolate(keys: list[int], pts: list[np.ndarray], n: int) -> np.ndarray:
    """Linearly interpolate key-frame landmarks to all ``n`` frames (held at the ends)."""
    arr = np.stack(pts).reshape(len(keys), -1)
    out = np.stack([np.interp(np.arange(n), keys, arr[:, j]) for j in range(arr.shape[1])], 1)
    return out.reshape(n, 5, 2).astype(np.float32)


def load_source(path: str | os.PathLike) -> FaceSource | None:
    """Load one image or video of a real person and find its landmarks (memoised).

    Args:
        path: an image (png/jpg/...) or a video (mp4/avi/...).

    Returns:
        The :class:`FaceSource`, or ``None`` if the file holds no detectable face.

    Raises:
        SynthError: if the file cannot be read.
    """
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise SynthError("cannot read face source", p) from exc
    key = (str(p.resolve()), st.st_size, int(st.st_mtime_ns))
    if key in _MEMO:
        return _MEMO[key]
    if p.suffix.lower() in IMAGE_EXTS:
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SynthError("unreadable image in face sources", p)
        n, key_frames = 1, {0: bgr}
    else:
        n, key_frames = _read_keyframes(p)
        if not key_frames:
            raise SynthError("unreadable or empty video in face sources", p)
    found_keys: list[int] = []
    found_pts: list[np.ndarray] = []
    found_boxes: list[np.ndarray] = []
    for k, frame in sorted(key_frames.items()):
        det = None
        if found_boxes:  # search near the last face first: far cheaper than the whole frame
            x0, y0, x1, y1 = _crop_box(found_boxes[-1][None], frame.shape[:2])
            det = detect_landmarks(cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_BGR2RGB))
            if det is not None:
                det = (det[0] + [x0, y0], det[1] + [x0, y0, 0, 0])
        if det is None:
            det = detect_landmarks(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        if det is not None:
            found_keys.append(k)
            found_pts.append(det[0].astype(np.float32))
            found_boxes.append(det[1].astype(np.float32))
    if not found_keys:
        _MEMO[key] = None
        return None
    # Keep only the frame range covered by detections (no extrapolated landmarks far away).
    first, last = found_keys[0], found_keys[-1]
    lms = _interpolate(found_keys, found_pts, n)[first:last + 1]
    shape = next(iter(key_frames.values())).shape[:2]
    box = _crop_box(np.stack(found_boxes), shape)
    if n == 1:
        x0, y0, x1, y1 = box
        frames = cv2.cvtColor(key_frames[0][y0:y1, x0:x1], cv2.COLOR_BGR2RGB)[None]
    else:
        frames = _read_cropped(p, first, last, box)
        if len(frames) < len(lms):  # the decoder delivered fewer frames the second time
            lms = lms[:len(frames)]
    lms = lms - np.array(box[:2], dtype=np.float32)
    src = FaceSource(name=p.name, frames=frames, landmarks=lms, is_video=len(frames) > 1)
    _MEMO[key] = src
    return src


def media_files(folder: str | os.PathLike) -> list[Path]:
    """Images and videos directly inside ``folder`` or below it, sorted by path."""
    root = Path(folder)
    if not root.is_dir():
        raise SynthError("--faces folder does not exist or is not a folder", root)
    return sorted(f for f in root.rglob("*")
                  if f.is_file() and f.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS)


def load_sources(faces: str | os.PathLike | None = None) -> list[FaceSource]:
    """Load the real face material: the shipped media by default, or every file in ``faces``.

    Args:
        faces: a folder of images/videos of real people, or ``None`` for ``data_prep/media``.

    Returns:
        At least one :class:`FaceSource`, in sorted file order.

    Raises:
        SynthError: if no file with a detectable face is found.
    """
    if faces is None:
        files = [MEDIA_DIR / name for name in DEFAULT_MEDIA]
        where: Path = MEDIA_DIR
    else:
        files = media_files(faces)
        where = Path(faces)
    sources = [s for s in (load_source(f) for f in files) if s is not None]
    if not sources:
        raise SynthError("no image or video with a detectable face among the face sources", where)
    return sources
