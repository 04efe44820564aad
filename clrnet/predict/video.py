"""Score videos: sample, find faces, fill clips, run the model, aggregate; one record per video.

:func:`predict_video` scores one video in the calling thread. :func:`predict_videos` scores many
through a :class:`clrnet.predict.runner.ScoringWorker`: this thread decodes and detects faces
(:class:`data_prep.faces.FaceExtractor`, one streaming pass per video) and hands each clip's
crops to the worker, which scores them in batches while the next clips are decoded. Both give
the same records, in input order.

A clip is scored when at least :data:`clrnet.predict.base.MIN_FACE_FRACTION` of its frames have
a face; its face-less frames are filled with the nearest face crop of the same clip. A frame model
scores only frames with a face.
"""

from __future__ import annotations

import inspect
import time
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from clrnet.aggregation import aggregate, verdict
from clrnet.predict.base import MIN_FACE_FRACTION, first_line
from clrnet.predict.inputs import plan_units
from clrnet.predict.runner import ScoringWorker, to_model_input

__all__ = ["VideoResult", "make_extractor", "predict_video", "predict_videos"]

#: Warnings whose text contains one of these become the video's note (data_prep.video's
#: "video ended after N of M frames (truncated or corrupt): PATH" and its variants).
NOTE_MARKERS = ("truncated", "ended after")


@dataclass
class VideoResult:
    """The outcome for one video.

    Attributes:
        record: the JSON entry (see :func:`predict_video`).
        strip: for ``--heatmap``: ``{"frames": [(index, box)], "spans": [...], "scores": [...]}``.
    """

    record: dict[str, Any]
    strip: dict[str, Any] | None = None


def _empty_record(path: str) -> dict[str, Any]:
    return {
        "path": path, "status": "error", "message": None, "fake_probability": None,
        "verdict": None, "n_scored": 0, "frames_with_face": 0, "frames_sampled": 0,
        "frames_requested": 0, "frame_count": None, "fps": None, "duration_s": None,
        "tracks": [], "scores": [],
        "timings": {"decode_detect_s": None, "model_s": None, "total_s": None},
    }


def fill_clip(faces: np.ndarray, has: Sequence[bool]) -> np.ndarray:
    """Replace face-less frames of a clip by the nearest frame with a face."""
    ok = np.flatnonzero(np.asarray(has, bool))
    if len(ok) == len(has):
        return faces
    out = faces.copy()
    for i in range(len(has)):
        if not has[i]:
            out[i] = faces[ok[np.argmin(np.abs(ok - i))]]
    return out


def _unit_scores(units: list[list[int]], kept: list[Any], probs: np.ndarray) -> list[float]:
    """Per planned unit, its largest score over face tracks (NaN when not scored)."""
    best: dict[int, float] = {}
    for r, p in zip(kept, probs, strict=True):
        key = int(r.frame_indices[0])
        best[key] = max(best.get(key, -1.0), float(p))
    return [best.get(int(u[0]), float("nan")) for u in units]


class _VideoRun:
    """One video from probing to its record: plan, extract (feeding a sink), finish."""

    def __init__(self, path: str, loaded: Any, extractor: Any, threshold: float,
                 aggregation: str, frames: int | None, clips: int | None,
                 clip_stride: int) -> None:
        self.path, self.loaded, self.extractor = path, loaded, extractor
        self.threshold, self.aggregation, self.clip_stride = threshold, aggregation, clip_stride
        self.started = time.perf_counter()
        self.rec = _empty_record(path)
        self.units: list[list[int]] = []
        self.kept: list[Any] = []
        self.with_face: set[int] = set()
        self.notes: list[str] = []
        self.fps = 0.0
        self.failed = False
        from data_prep.errors import DataPrepError
        from data_prep.video import probe

        try:
            info = probe(path, count_frames="auto")  # exact plans for VFR containers
            self.fps = info.fps
            self.rec.update(frame_count=info.frame_count, fps=round(info.fps, 3) or None,
                            duration_s=round(info.frame_count / info.fps, 3) if info.fps
                            else None)
            self.units = plan_units(info.frame_count, loaded, frames, clips, clip_stride)
            self.rec["frames_requested"] = len({f for u in self.units for f in u})
            if not self.units:
                self.fail(f"video too short: {info.frame_count} frames, the model needs clips "
                          f"of {loaded.clip_len}"
                          + (f" (stride {clip_stride})" if clip_stride > 1 else "") + f": {path}")
        except DataPrepError as exc:
            self.fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - never let one video stop the batch
            self.fail(f"{type(exc).__name__}: {first_line(exc)}: {path}")

    def fail(self, message: str) -> None:
        self.failed = True
        self.rec.update(status="error", message=message)

    def extract(self, sink: Any) -> None:
        """Decode and detect; hand each scorable unit's uint8 crops to ``sink`` (it may return
        seconds it blocked, which are not counted as decoding)."""
        from data_prep.errors import DataPrepError

        blocked = 0.0
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for r in self.extractor.extract_clips(self.path, self.units):
                    self.with_face.update(
                        f for f, h in zip(r.frame_indices, r.has_face, strict=True) if h)
                    if r.faces is None or np.mean(r.has_face) < MIN_FACE_FRACTION:
                        continue
                    crops = fill_clip(r.faces, r.has_face)
                    blocked += sink(crops if self.loaded.kind == "clip" else crops[0]) or 0.0
                    self.kept.append(replace(r, faces=None))  # the crops are the sink's now
            self.notes = [first_line(w.message) for w in caught
                          if any(m in str(w.message) for m in NOTE_MARKERS)]
        except DataPrepError as exc:
            self.fail(str(exc))
        except Exception as exc:  # noqa: BLE001
            self.fail(f"{type(exc).__name__}: {first_line(exc)}: {self.path}")
        self.rec["timings"]["decode_detect_s"] = round(
            time.perf_counter() - self.started - blocked, 3)
        self.rec["frames_sampled"] = int(self.extractor.last_stats.get("frames_decoded", 0))
        self.rec["frames_with_face"] = len(self.with_face)

    def _no_face(self) -> None:
        rec, n = self.rec, self.rec["frames_sampled"]
        rec["status"] = "no_face"
        if self.with_face:
            rec["message"] = (f"faces in {len(self.with_face)} of {n} sampled frames, but no "
                              f"clip has one face in {MIN_FACE_FRACTION:.0%} of its frames: "
                              f"{self.path}")
        else:
            rec["message"] = f"no face found in {n} sampled frames: {self.path}"
        if self.notes:
            rec["message"] += f" ({self.notes[0]})"

    def finish(self, probs: np.ndarray | None, model_s: float | None) -> VideoResult:
        """The record once the model has scored every kept unit (``probs`` in their order)."""
        rec = self.rec
        if model_s is not None:
            rec["timings"]["model_s"] = round(model_s, 3)
        if not self.failed and not self.kept:
            self._no_face()
        if self.failed or not self.kept:
            rec["timings"]["total_s"] = round(time.perf_counter() - self.started, 3)
            return VideoResult(rec)
        probs = np.asarray(probs, np.float64).reshape(-1)
        by_track: dict[int, list[float]] = {}
        for r, p in zip(self.kept, probs, strict=True):
            by_track.setdefault(int(r.track_id), []).append(float(p))
            rec["scores"].append({
                "frames": [int(f) for f in r.frame_indices],
                "score": round(float(p), 6),
                "box_frames": [int(f) for f, h in zip(r.frame_indices, r.has_face, strict=True)
                               if h],
                "boxes": [None if b is None else [round(float(v), 1) for v in b]
                          for b in r.boxes],
                "track_id": int(r.track_id),
            })
        tracks = [{"track_id": t, "fake_probability": aggregate(s, self.aggregation,
                                                                 self.threshold),
                   "n_scored": len(s)} for t, s in sorted(by_track.items())]
        # Several faces: the video is as suspicious as its most suspicious face.
        value = max(t["fake_probability"] for t in tracks)
        rec.update(status="ok", fake_probability=round(value, 6),
                   verdict=verdict(value, self.threshold), n_scored=len(probs), tracks=tracks,
                   message=self.notes[0] if self.notes else None)
        rec["timings"]["total_s"] = round(time.perf_counter() - self.started, 3)
        strip = {
            "fps": self.fps,
            "frames": [(f, b) for r in self.kept
                       for f, b in zip(r.frame_indices, r.boxes, strict=True) if b is not None],
            "spans": [(u[0], u[-1] + 1) for u in self.units],
            "scores": _unit_scores(self.units, self.kept, probs),
        }
        return VideoResult(rec, strip)

    def model_failed(self, message: str) -> VideoResult:
        self.fail(f"{message}: {self.path}")
        return self.finish(None, None)


def predict_video(path: str, loaded: Any, extractor: Any, threshold: float = 0.5,
                  aggregation: str = "mean", frames: int | None = None,
                  clips: int | None = None, clip_stride: int = 1) -> VideoResult:
    """Score one video in this thread; bad input becomes a record with status "error"/"no_face".

    Args:
        path: video file.
        loaded: the model (:func:`clrnet.predict.loading.load_model`).
        extractor: a :class:`data_prep.faces.FaceExtractor` whose output size fits the model.
        threshold: decision threshold for the verdict.
        aggregation: a key of :data:`clrnet.aggregation.AGGREGATIONS`.
        frames: frames to sample (frame models).
        clips: clips to sample (clip models).
        clip_stride: distance between a clip's frames (clip models). With a stride above 1
            the extractor should detect on every frame (``detect_every=1``).

    Returns:
        A :class:`VideoResult`. Its record has ``path``, ``status`` ("ok" | "no_face" | "error"),
        ``message``, ``fake_probability``, ``verdict`` ("FAKE" | "REAL" | None), ``n_scored``,
        ``frames_with_face``, ``frames_sampled`` (decoded), ``frames_requested``, ``tracks``,
        ``scores`` (``frames``, ``score``, ``box_frames``, ``boxes``, ``track_id``) and
        ``timings`` (``decode_detect_s``, ``model_s``, ``total_s``).
    """
    run = _VideoRun(path, loaded, extractor, threshold, aggregation, frames, clips, clip_stride)
    if run.failed:
        return run.finish(None, None)
    crops: list[np.ndarray] = []
    run.extract(crops.append)
    if run.failed or not crops:
        return run.finish(None, None)
    started = time.perf_counter()
    try:
        probs = loaded.score(to_model_input(np.stack(crops), loaded.size))
    except Exception as exc:  # noqa: BLE001
        return run.model_failed(f"model failed: {type(exc).__name__}: {first_line(exc)}")
    return run.finish(probs, time.perf_counter() - started)


def predict_videos(paths: Sequence[str], loaded: Any, extractor: Any, worker: ScoringWorker,
                   threshold: float = 0.5, aggregation: str = "mean",
                   frames: int | None = None, clips: int | None = None, clip_stride: int = 1,
                   done: dict[str, dict[str, Any]] | None = None) -> Iterator[VideoResult]:
    """Score videos with decoding here and the model in ``worker``; yield results in order.

    Args:
        paths: video files.
        loaded: the model.
        extractor: the face extractor.
        worker: a :class:`clrnet.predict.runner.ScoringWorker` over ``loaded.score``.
        threshold, aggregation, frames, clips, clip_stride: as :func:`predict_video`.
        done: records to reuse instead of scoring (``--resume``), by path.

    Yields:
        One :class:`VideoResult` per path (reused ones have no ``strip``), as soon as its scores
        are in, while later videos are being decoded.
    """
    waiting: deque[tuple[Any, int | None]] = deque()

    def head_ready() -> bool:
        run, key = waiting[0]
        return key is None or worker.ready(key)

    def finish_head() -> VideoResult:
        run, key = waiting.popleft()
        if isinstance(run, VideoResult):
            return run
        if key is None:
            return run.finish(None, None)
        try:
            probs, model_s = worker.result(key)
        except RuntimeError as exc:
            return run.model_failed(first_line(exc))
        if run.failed or not run.kept:
            return run.finish(None, model_s if len(probs) else None)
        return run.finish(probs, model_s)

    for path in paths:
        if done and path in done:
            waiting.append((VideoResult(done[path]), None))
        else:
            run = _VideoRun(path, loaded, extractor, threshold, aggregation, frames, clips,
                            clip_stride)
            key = None
            if not run.failed:
                try:
                    key = worker.open()
                    run.extract(lambda crops, _k=key: worker.add(_k, crops))
                    worker.close(key)
                except RuntimeError as exc:  # the model thread is gone
                    run.fail(f"{first_line(exc)}: {path}")
                    key = None
            waiting.append((run, key))
        while waiting and head_ready():
            yield finish_head()
    while waiting:
        yield finish_head()


def make_extractor(loaded: Any, margin: float = 1.3, max_side: int = 640,
                   detect_every: int = 5, all_faces: bool = False, clip_stride: int = 1) -> Any:
    """The face extractor for ``loaded``'s crop size and the clip stride.

    With ``clip_stride > 1`` MTCNN runs on every clip frame, and the extractor's tracking gap
    (``max_gap``, normally ``2 * detect_every`` frames) is widened to ``2 * clip_stride`` so a
    face keeps its track id from one strided frame to the next.

    Args:
        loaded: the model (only ``size`` is read).
        margin: alignment zoom-out.
        max_side: detection downscale.
        detect_every: anchor spacing for consecutive clips.
        all_faces: one track per face.
        clip_stride: distance between a clip's frames.

    Returns:
        A :class:`data_prep.faces.FaceExtractor`.
    """
    from data_prep.faces import FaceDetector, FaceExtractor

    detector = FaceDetector(max_side=max_side)
    if clip_stride == 1:
        return FaceExtractor(loaded.size[0], margin, detector, detect_every, all_faces)
    if "max_gap" in inspect.signature(FaceExtractor).parameters:
        return FaceExtractor(loaded.size[0], margin, detector, 1, all_faces,
                             max_gap=2 * clip_stride)

    class _StridedExtractor(FaceExtractor):  # a FaceExtractor without the max_gap argument
        @property
        def max_gap(self) -> int:
            return 2 * clip_stride

    return _StridedExtractor(loaded.size[0], margin, detector, 1, all_faces)
