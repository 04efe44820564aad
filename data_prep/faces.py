"""Face detection (MTCNN), 5-point similarity alignment and short-range tracking over clips.

What this follows:

* Detector: the pip ``mtcnn`` package 1.0.0 (Zhang et al., "Joint Face Detection and Alignment
  using Multi-task Cascaded Convolutional Networks", 2016), whose weights ship inside the package.
  Its ``detect_faces`` takes RGB (file inputs go through ``tf.image.decode_image``, arrays are
  used as given and normalised with ``(x - 127.5) / 128``; its own README converts OpenCV's BGR to
  RGB first), so frames are passed as RGB ``uint8``. CLRNet's authors also used MTCNN
  ("we used MTCNN to detect, crop, and align faces"). In ``output_type="numpy"`` each row is
  ``[image_id, x1, y1, x2, y2, confidence, 5 landmark x, 5 landmark y]`` (checked against
  ``mtcnn/utils/landmarks.py``), landmarks ordered left eye, right eye, nose, mouth left, mouth
  right (image left/right).
* Largest face per frame, as DeepfakeBench (``preprocessing/preprocess.py``), FF++ and Masi et al.
  ("In case of multiple detected faces, we select the largest detected face").
* Alignment: a least-squares similarity transform (Umeyama, 1991) from the 5 landmarks to the
  ArcFace 112x112 5-point template scaled to the output size, with a margin that zooms out around
  the crop centre (DeepfakeBench aligns the same way with ``scale=1.3``; its code was read for
  facts only).
* Speed, ours: detection runs on a copy downscaled so its long side is at most ``max_side``, and
  only on a subset of frames ("anchors": the first frame of each clip and every
  ``detect_every``-th frame inside it, plus the clip's last frame when no later anchor is near).
  Boxes and landmarks are interpolated linearly between anchors (held for at most
  ``detect_every`` frames at an edge or across one failed detection). Anchors are batched through
  MTCNN. The DFDC winner's downscale-before-MTCNN trick is the precedent; the interpolation is
  ours and differs from CLRNet/DeepfakeBench, which detect on every kept frame.
* Speed, ours: the package calls its three networks (P-, R-, O-Net, subclassed Keras models)
  eagerly, one Keras layer call at a time; :func:`compile_stages` runs each as one
  ``tf.function`` graph instead (same weights and ops: boxes and landmarks equal on 20 mini
  benchmark frames, within 1e-3 px on the test images of ``tests/test_faces.py``). Measured on a
  2-core AMD EPYC, one thread: those 20 frames of 256x256 in batches of 5, 1.09 s eager, 0.51 s
  compiled.

Frames without a face are kept and flagged in ``ClipFaces.has_face`` (their crop is zeros).

Size: over 600 lines for one job (faces of a clip): detection on downscaled anchors,
interpolation, tracking and alignment depend on each other's conventions.
"""

from __future__ import annotations

import bisect
import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from data_prep.video import VideoReader

__all__ = [
    "ARCFACE_TEMPLATE_112",
    "ClipFaces",
    "Face",
    "FaceDetector",
    "FaceExtractor",
    "FaceTracker",
    "align_face",
    "face_template",
    "similarity_transform",
]

#: ArcFace 5-point template for a 112x112 crop: left eye, right eye, nose, mouth left, mouth right.
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


@dataclass
class Face:
    """One detected (or interpolated) face.

    Attributes:
        box: ``(x1, y1, x2, y2)`` float array in full-resolution frame coordinates.
        landmarks: ``(5, 2)`` float array (x, y): left eye, right eye, nose, mouth left, mouth
            right, in full-resolution frame coordinates.
        confidence: MTCNN score (for interpolated faces, the lower of the two anchors).
    """

    box: np.ndarray
    landmarks: np.ndarray
    confidence: float

    def __post_init__(self) -> None:
        self.box = np.asarray(self.box, np.float64).reshape(4)
        self.landmarks = np.asarray(self.landmarks, np.float64).reshape(5, 2)
        self.confidence = float(self.confidence)

    @property
    def area(self) -> float:
        """Box area in pixels."""
        w, h = self.box[2] - self.box[0], self.box[3] - self.box[1]
        return float(max(w, 0.0) * max(h, 0.0))


@dataclass
class ClipFaces:
    """Aligned faces for one clip (one face track).

    Attributes:
        frame_indices: the clip's frame indices.
        faces: ``uint8`` array ``(T, S, S, 3)`` of aligned RGB crops (zeros where ``has_face`` is
            False), or ``None`` when no frame of the clip has a face.
        has_face: per frame, whether a face was found (detected or interpolated). Frames the
            video could not deliver (truncated tail) are False too.
        boxes: per frame, the ``(x1, y1, x2, y2)`` box in full-resolution coordinates, or None.
        detected_on: the anchor frames whose MTCNN detections this clip used.
        track_id: face track (always 0 in largest-face mode; -1 for a clip without any face
            in all-faces mode).
        landmarks: per frame, the ``(5, 2)`` landmarks used for alignment, or None.
    """

    frame_indices: list[int]
    faces: np.ndarray | None
    has_face: list[bool]
    boxes: list[np.ndarray | None]
    detected_on: list[int]
    track_id: int = 0
    landmarks: list[np.ndarray | None] = field(default_factory=list)


# ----------------------------------------------------------------------------- alignment
def face_template(output_size: int = 240, margin: float = 1.3) -> np.ndarray:
    """The 5-point target positions for an ``output_size`` crop.

    Args:
        output_size: side of the square crop in pixels. Defaults to 240 (CLRNet).
        margin: zoom-out factor around the crop centre; 1.0 is the tight ArcFace crop, 1.3
            shows 1.3x as much context per side length. Defaults to 1.3.

    Returns:
        ``(5, 2)`` float array of (x, y) positions.
    """
    if output_size < 8 or margin <= 0:
        raise ValueError(f"need output_size >= 8 and margin > 0, got {output_size}, {margin}")
    pts = ARCFACE_TEMPLATE_112 / 112.0 * output_size
    centre = output_size / 2.0
    return (pts - centre) / margin + centre


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping ``src`` to ``dst``.

    Args:
        src: ``(N, 2)`` source points.
        dst: ``(N, 2)`` destination points.

    Returns:
        ``(2, 3)`` float64 affine matrix for ``cv2.warpAffine``.

    References:
        Umeyama, "Least-squares estimation of transformation parameters between two point
        patterns", TPAMI 1991 (no reflection allowed).
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    var_s = (s0**2).sum() / len(src)
    scale = (sig * d).sum() / var_s if var_s > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = mu_d - scale * rot @ mu_s
    return matrix


def align_face(
    frame_rgb: np.ndarray, landmarks: np.ndarray, output_size: int = 240, margin: float = 1.3
) -> np.ndarray:
    """Warp a face so its 5 landmarks land on the scaled ArcFace template.

    Args:
        frame_rgb: ``(H, W, 3)`` RGB ``uint8`` frame.
        landmarks: ``(5, 2)`` (x, y) points: left eye, right eye, nose, mouth left, mouth right.
        output_size: crop side (240 CLRNet, 224 two-branch, 256 MesoNet). Defaults to 240.
        margin: zoom-out factor (see :func:`face_template`). Defaults to 1.3.

    Returns:
        ``(output_size, output_size, 3)`` ``uint8`` crop; pixels outside the frame are black.
    """
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.shape != (5, 2):
        raise ValueError(f"landmarks must have shape (5, 2), got {landmarks.shape}")
    matrix = similarity_transform(landmarks, face_template(output_size, margin))
    return cv2.warpAffine(
        frame_rgb,
        matrix,
        (output_size, output_size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


# ----------------------------------------------------------------------------- detection
def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", type(frame).__name__)
        raise ValueError(f"expected an RGB frame of shape (H, W, 3), got {shape}")


def compile_stages(detector: Any) -> Any:
    """Run each stage network of an ``mtcnn.MTCNN`` as a compiled ``tf.function``.

    ``mtcnn`` 1.0.0 stages call their network as ``self._model(x)`` in eager mode, where every
    Keras layer call pays Python overhead; a graph of the same model computes the same outputs.
    Stages without a ``_model`` (another ``mtcnn`` version) are left as they are.

    Args:
        detector: an ``mtcnn.MTCNN`` instance.

    Returns:
        The same instance, its stages' networks wrapped.
    """
    import tensorflow as tf  # deferred, as the MTCNN import

    for stage in getattr(detector, "stages", ()):
        model = getattr(stage, "_model", None)
        if model is None or hasattr(model, "get_concrete_function"):  # absent, or compiled
            continue
        stage._model = tf.function(model, reduce_retracing=True)
    return detector


class FaceDetector:
    """MTCNN on a downscaled copy of each frame, results in original-frame coordinates.

    The ``mtcnn.MTCNN`` model is created lazily on first use and then reused.

    Args:
        max_side: frames whose long side exceeds this are downscaled (area interpolation) to it
            before detection. Defaults to 640.
        min_confidence: faces scoring below this are discarded. Defaults to 0.9.
        min_face_size: MTCNN's smallest face, in pixels of the downscaled frame. Defaults to 20
            (MTCNN's default).
    """

    def __init__(self, max_side: int = 640, min_confidence: float = 0.9, min_face_size: int = 20):
        if max_side < 48:
            raise ValueError(f"max_side must be >= 48, got {max_side}")
        self.max_side = max_side
        self.min_confidence = min_confidence
        self.min_face_size = min_face_size
        self._mtcnn = None
        #: Number of frames passed through MTCNN so far.
        self.frames_detected = 0

    @property
    def mtcnn(self):
        """The wrapped ``mtcnn.MTCNN`` instance (created on first access)."""
        if self._mtcnn is None:
            from mtcnn import MTCNN  # heavy import (TensorFlow), deferred

            self._mtcnn = compile_stages(MTCNN(device="CPU:0"))
        return self._mtcnn

    def _downscale(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = frame.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        if scale >= 1.0:
            return np.ascontiguousarray(frame), 1.0
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return cv2.resize(frame, size, interpolation=cv2.INTER_AREA), scale

    def detect(self, frame_rgb: np.ndarray) -> list[Face]:
        """Detect faces in one RGB frame.

        Args:
            frame_rgb: ``(H, W, 3)`` RGB ``uint8`` frame.

        Returns:
            Faces sorted largest box first, in original-frame coordinates.
        """
        return self.detect_batch([frame_rgb])[0]

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """Detect faces in several frames with one batched MTCNN call per frame shape.

        Args:
            frames: RGB ``uint8`` frames.

        Returns:
            One list of faces (largest first) per input frame.
        """
        results: list[list[Face]] = [[] for _ in frames]
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, frame in enumerate(frames):
            _check_frame(frame)
            by_shape.setdefault(frame.shape, []).append(i)
        for positions in by_shape.values():
            prepared = [self._downscale(frames[i]) for i in positions]
            rows = self.mtcnn.detect_faces(
                [small for small, _ in prepared],
                output_type="numpy",
                box_format="xyxy",
                min_face_size=self.min_face_size,
            )
            self.frames_detected += len(positions)
            for row in np.asarray(rows, np.float64).reshape(-1, 16):
                k = int(row[0])
                conf = float(row[5])
                if conf < self.min_confidence:
                    continue
                scale = prepared[k][1]
                box = row[1:5] / scale
                landmarks = np.stack([row[6:11], row[11:16]], axis=1) / scale
                results[positions[k]].append(Face(box, landmarks, conf))
        for faces in results:
            faces.sort(key=lambda f: f.area, reverse=True)
        return results


# ----------------------------------------------------------------------------- tracking
def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class FaceTracker:
    """Greedy IoU association of detections at anchor frames into face tracks.

    Args:
        iou_threshold: minimum IoU between a detection and a track's last box to continue the
            track. Anchors are up to ``2 * detect_every`` frames apart, so a moving face overlaps
            its previous box only partly; faces of different people hardly overlap at all.
            Defaults to 0.1.
        max_gap: a track not seen for more than this many frames is closed. Defaults to 10.
    """

    def __init__(self, iou_threshold: float = 0.1, max_gap: int = 10) -> None:
        self.iou_threshold = iou_threshold
        self.max_gap = max_gap
        self._last: dict[int, tuple[int, np.ndarray]] = {}  # track id -> (frame, box)
        self._next_id = 0

    def update(self, frame_index: int, faces: Sequence[Face]) -> dict[int, Face]:
        """Assign track ids to the faces detected at ``frame_index``.

        Args:
            frame_index: the anchor frame (calls must come in increasing order).
            faces: detections at that frame.

        Returns:
            ``{track_id: face}``.
        """
        live = {t: box for t, (f, box) in self._last.items() if frame_index - f <= self.max_gap}
        pairs = sorted(
            (
                (_iou(face.box, box), t, k)
                for k, face in enumerate(faces)
                for t, box in live.items()
            ),
            reverse=True,
        )
        assigned: dict[int, Face] = {}
        used: set[int] = set()
        for iou, t, k in pairs:
            if iou < self.iou_threshold:
                break
            if t in assigned or k in used:
                continue
            assigned[t] = faces[k]
            used.add(k)
        for k, face in enumerate(faces):
            if k not in used:
                assigned[self._next_id] = face
                self._next_id += 1
        for t, face in assigned.items():
            self._last[t] = (frame_index, face.box)
        return assigned


# ----------------------------------------------------------------------------- extraction
def _lerp_face(a: Face, b: Face, w: float) -> Face:
    return Face(
        box=(1.0 - w) * a.box + w * b.box,
        landmarks=(1.0 - w) * a.landmarks + w * b.landmarks,
        confidence=min(a.confidence, b.confidence),
    )


class FaceExtractor:
    """Aligned face clips from a video in one streaming pass, with sparse detection.

    Args:
        output_size: crop side in pixels (240 CLRNet, 224 two-branch, 256 MesoNet).
            Defaults to 240.
        margin: alignment zoom-out factor (see :func:`face_template`). Defaults to 1.3.
        detector: the :class:`FaceDetector` to use; a default one is created if ``None``.
        detect_every: run MTCNN on every ``detect_every``-th frame of a clip (plus its first and,
            when needed, last frame) and interpolate in between; 1 detects on every frame.
            Defaults to 5.
        all_faces: yield one ``ClipFaces`` per face track instead of the largest face only.
            Defaults to False.
        batch_size: anchor frames per MTCNN call; bounds the frames held in memory to about
            ``batch_size * detect_every``. Defaults to 4.
        max_gap: longest distance in video frames between two detections that a face track
            bridges (interpolating boxes between them); None: ``2 * detect_every``. Clips of
            strided frames (one frame in seven) need it wider than their stride.
    """

    def __init__(
        self,
        output_size: int = 240,
        margin: float = 1.3,
        detector: FaceDetector | None = None,
        detect_every: int = 5,
        all_faces: bool = False,
        batch_size: int = 4,
        max_gap: int | None = None,
    ) -> None:
        if detect_every < 1 or batch_size < 1:
            raise ValueError(
                f"detect_every and batch_size must be >= 1, got {detect_every}, {batch_size}"
            )
        face_template(output_size, margin)  # validates
        self.output_size = output_size
        self.margin = margin
        self.detector = detector if detector is not None else FaceDetector()
        self.detect_every = detect_every
        self.all_faces = all_faces
        self.batch_size = batch_size
        if max_gap is not None and max_gap < 1:
            raise ValueError(f"max_gap must be >= 1, got {max_gap}")
        #: Longest detection-to-detection distance (frames) a track bridges.
        self.max_gap = 2 * detect_every if max_gap is None else max_gap
        #: Counters of the last extraction: frames decoded, anchors detected.
        self.last_stats: dict[str, int] = {}

    def anchor_frames(self, clips: Sequence[Sequence[int]]) -> list[int]:
        """The frames MTCNN will run on for these clips.

        Args:
            clips: lists of frame indices.

        Returns:
            Sorted unique anchor indices: each clip's frames at offsets ``0, d, 2d, ...`` plus
            its last frame unless another anchor follows within ``d`` frames.
        """
        d = self.detect_every
        anchors = sorted({int(f) for clip in clips for f in list(clip)[::d]})
        extra = set()
        for clip in clips:
            last = int(clip[-1])
            k = bisect.bisect_left(anchors, last)
            if k < len(anchors) and anchors[k] == last:
                continue
            if k == len(anchors) or anchors[k] - last > d:
                extra.add(last)
        return sorted(set(anchors) | extra)

    def extract_frames(
        self, video_path: str | os.PathLike, indices: Sequence[int]
    ) -> Iterator[ClipFaces]:
        """Aligned faces for single frames (each a clip of length 1, each detected).

        Args:
            video_path: video file.
            indices: frame indices.

        Returns:
            An iterator of ``ClipFaces`` with ``T = 1``, in increasing frame order.
        """
        return self.extract_clips(video_path, [[int(i)] for i in sorted(set(indices))])

    def extract_clips(
        self, video_path: str | os.PathLike, clips: Sequence[Sequence[int]]
    ) -> Iterator[ClipFaces]:
        """Aligned face clips, decoding the video once for all clips.

        Args:
            video_path: video file.
            clips: lists of frame indices (typically from :mod:`data_prep.video` samplers).

        Returns:
            An iterator of :class:`ClipFaces`, in the order of ``clips`` (in all-faces mode,
            one per track present in the clip, or one with ``track_id=-1`` when none is).

        Raises:
            VideoError: the video is missing or unreadable.
        """
        clips = [[int(f) for f in clip] for clip in clips]
        if any(not clip for clip in clips):
            raise ValueError("every clip needs at least one frame index")
        reader = VideoReader(video_path)  # raises VideoError now, not at first iteration
        return self._iterate(reader, clips)

    # -- internals ---------------------------------------------------------------------------
    def _iterate(self, reader: VideoReader, clips: list[list[int]]) -> Iterator[ClipFaces]:
        try:
            if clips:
                yield from self._run(reader, clips)
        finally:
            reader.close()

    def _run(self, reader: VideoReader, clips: list[list[int]]) -> Iterator[ClipFaces]:
        anchors = self.anchor_frames(clips)
        anchor_set = set(anchors)
        wanted = sorted({f for clip in clips for f in clip})
        uses: dict[int, int] = {}
        for clip in clips:
            for f in set(clip):
                uses[f] = uses.get(f, 0) + 1
        tracker = FaceTracker(max_gap=self.max_gap)
        det_frames: list[int] = []  # detected anchors, increasing
        det_faces: list[dict[int, Face]] = []
        buffer: deque[tuple[int, np.ndarray]] = deque()
        pending: list[tuple[int, np.ndarray]] = []
        resolved: dict[int, dict[int, tuple[Face, np.ndarray, tuple[int, ...]]]] = {}
        next_clip = 0
        decoded = 0

        def run_detection() -> None:
            found = self.detector.detect_batch([frame for _, frame in pending])
            for (idx, _), faces in zip(pending, found, strict=True):
                if not self.all_faces:
                    faces = faces[:1]
                det_frames.append(idx)
                det_faces.append(tracker.update(idx, faces))
            pending.clear()

        def next_anchor(f: int) -> int | None:
            k = bisect.bisect_left(anchors, f)
            return anchors[k] if k < len(anchors) else None

        def resolve(final: bool) -> None:
            while buffer:
                f, frame = buffer[0]
                nxt = next_anchor(f)
                ready = final or nxt is None or nxt - f > self.max_gap
                if not ready and det_frames and det_frames[-1] >= nxt:
                    ready = True
                if not ready:
                    return
                buffer.popleft()
                resolved[f] = self._faces_at(f, frame, det_frames, det_faces)
            # forget detections no pending frame can use any more
            horizon = buffer[0][0] if buffer else (det_frames[-1] if det_frames else 0)
            while len(det_frames) > 1 and det_frames[1] < horizon - self.max_gap:
                det_frames.pop(0)
                det_faces.pop(0)

        def emit(final: bool) -> Iterator[ClipFaces]:
            nonlocal next_clip
            while next_clip < len(clips):
                clip = clips[next_clip]
                if not final and any(f not in resolved for f in clip):
                    return
                yield from self._build(clip, resolved, anchor_set)
                for f in set(clip):
                    uses[f] -= 1
                    if uses[f] == 0:
                        resolved.pop(f, None)
                next_clip += 1

        for idx, frame in reader.frames(wanted):
            decoded += 1
            buffer.append((idx, frame))
            if idx in anchor_set:
                pending.append((idx, frame))
            if len(pending) >= self.batch_size:
                run_detection()
                resolve(final=False)
                yield from emit(final=False)
        if pending:
            run_detection()
        resolve(final=True)
        yield from emit(final=True)
        self.last_stats = {
            "frames_decoded": decoded,
            "anchors": len(anchors),
            "clips": len(clips),
        }

    def _faces_at(
        self,
        f: int,
        frame: np.ndarray,
        det_frames: list[int],
        det_faces: list[dict[int, Face]],
    ) -> dict[int, tuple[Face, np.ndarray, tuple[int, ...]]]:
        """Interpolated face per track at frame ``f``, with its aligned crop and source anchors."""
        k = bisect.bisect_right(det_frames, f)
        tracks = {t for faces in det_faces for t in faces}
        out: dict[int, tuple[Face, np.ndarray, tuple[int, ...]]] = {}
        for t in tracks:
            prev = next((i for i in range(k - 1, -1, -1) if t in det_faces[i]), None)
            nxt = next((i for i in range(k, len(det_frames)) if t in det_faces[i]), None)
            a = det_frames[prev] if prev is not None else None
            b = det_frames[nxt] if nxt is not None else None
            face: Face | None = None
            src: tuple[int, ...] = ()
            if a is not None and a == f:
                face, src = det_faces[prev][t], (a,)
            elif a is not None and b is not None and b - a <= self.max_gap:
                face = _lerp_face(det_faces[prev][t], det_faces[nxt][t], (f - a) / (b - a))
                src = (a, b)
            elif a is not None and f - a <= self.detect_every and (b is None or f - a <= b - f):
                face, src = det_faces[prev][t], (a,)
            elif b is not None and b - f <= self.detect_every:
                face, src = det_faces[nxt][t], (b,)
            if face is not None:
                crop = align_face(frame, face.landmarks, self.output_size, self.margin)
                out[t] = (face, crop, src)
        if not self.all_faces and len(out) > 1:
            best = max(out, key=lambda t: out[t][0].area)
            out = {0: out[best]}
        elif not self.all_faces and out:
            out = {0: next(iter(out.values()))}
        return out

    def _build(
        self,
        clip: list[int],
        resolved: dict[int, dict[int, tuple[Face, np.ndarray, tuple[int, ...]]]],
        anchor_set: set[int],
    ) -> Iterator[ClipFaces]:
        per_frame = [resolved.get(f, {}) for f in clip]
        track_ids = sorted({t for entry in per_frame for t in entry})
        if not self.all_faces:
            track_ids = [0]
        if not track_ids:
            track_ids = [-1]
        size = self.output_size
        for t in track_ids:
            has = [t in entry for entry in per_frame]
            faces = None
            if any(has):
                faces = np.zeros((len(clip), size, size, 3), np.uint8)
                for i, entry in enumerate(per_frame):
                    if t in entry:
                        faces[i] = entry[t][1]
            used = {a for entry in per_frame if t in entry for a in entry[t][2]}
            used.update(f for f in clip if f in anchor_set)
            yield ClipFaces(
                frame_indices=list(clip),
                faces=faces,
                has_face=has,
                boxes=[entry[t][0].box.copy() if t in entry else None for entry in per_frame],
                detected_on=sorted(used),
                track_id=t,
                landmarks=[
                    entry[t][0].landmarks.copy() if t in entry else None for entry in per_frame
                ],
            )
