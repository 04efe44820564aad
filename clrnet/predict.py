"""``python -m clrnet.predict VIDEO [VIDEO | FOLDER ...]``: video-level deepfake scores.

For each video: sample frames (frame models) or clips (clip models) evenly over the whole video,
find the largest face (or every tracked face with ``--all-faces``) with
:class:`data_prep.faces.FaceExtractor` in one streaming pass, score all crops of the video in one
batched model call, and combine the scores into a video-level P(fake) (:mod:`clrnet.aggregation`).
Prints one line per video; ``--json``/``--csv`` keep every per-clip score, the frames that had a
face box, the model and the timings; ``--heatmap`` draws a timeline strip (:mod:`clrnet.heatmap`).

What this follows and where it differs:

* Default model: the MesoNet authors' MesoInception4 trained on Deepfake (Afchar et al., WIFS'18;
  weights from ``DariusAf/MesoNet``, packaged in ``clrnet/weights``, label flip folded in so it
  outputs P(fake)), scored on 32 evenly spaced frames (the authors' ``pipeline.py`` samples about
  30 frames, every ``len // 30``-th). The authors cropped with ``face_recognition`` landmarks
  (rotation by the eye-mouth angle, side 2.2 x 1.3 x max(eye-eye, eye-mouth), centred on the
  landmarks); we use the project's MTCNN 5-point similarity crops (margin 1.3, as the training
  crops of ``data_prep``) for every model, so scores can differ from the authors' pipeline.
  Their video score was the fraction of frames over 0.5 (``--aggregation fraction``); ours
  defaults to the mean.
* Clip models (CLRNet, Tariq et al., WWW'21; DBiRNN, CNN+LSTM; the two-branch network of
  Masi et al., ECCV'20): N clips of the model's T consecutive frames spread evenly over the
  video (16 clips; 8 windows for the two-branch network). CLRNet's official code only used the
  first 80 frames (16 clips of 5) and reports clip-level results; Masi et al. take 1 frame in 7
  at inference (``--clip-stride 7``). Spreading clips over the whole video is ours, so a
  manipulation anywhere in the video is sampled.
* Decoding: the video is streamed once; frames before a wanted one are only ``grab()``-ed
  (:class:`data_prep.video.VideoReader`). Seeking instead (``CAP_PROP_POS_FRAMES``) was measured
  3x slower in CPU time on the bundled H.264 webcam video (it decodes from the previous keyframe
  for every sample), so sampling happens before conversion and detection, not before decoding.
* A clip is scored when at least half of its frames have a face; its face-less frames are
  filled with the nearest face crop of the same clip (ours; the papers drop such frames during
  preprocessing). A frame model scores only frames with a face.
* Models of every registered family are served (the model file names its family, and the
  family's package is imported through the registry, :func:`clrnet.registry.load_model`).
  Embedding models (two-branch checkpoints saved with their compiled isolation loss) are
  wrapped by their family's scorer (``ModelSpec.to_scorer``), so they too give P(fake).

Exit status: 0 when at least one video was scored, 1 when none could be, 2 for usage errors
(no inputs, a model that cannot be loaded, bad options). Bad videos never stop the batch: each
gets one line saying what is wrong (and an entry in the JSON/CSV).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clrnet.aggregation import AGGREGATIONS, aggregate, verdict

__all__ = [
    "VIDEO_EXTENSIONS",
    "LoadedModel",
    "ModelLoadError",
    "PredictUsageError",
    "VideoResult",
    "expand_inputs",
    "load_model",
    "main",
    "make_extractor",
    "plan_units",
    "predict_video",
    "build_parser",
]

#: File extensions picked up when a folder is given.
VIDEO_EXTENSIONS = (
    ".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv", ".3gp",
)
DEFAULT_FRAMES = 32
DEFAULT_CLIPS = 16
MIN_FACE_FRACTION = 0.5


class PredictUsageError(Exception):
    """A usage problem (no inputs, bad option value); the CLI prints it and exits 2."""


class ModelLoadError(PredictUsageError):
    """The model name is unknown or the model file cannot be loaded as a Keras model."""


# ----------------------------------------------------------------------------- model loading
@dataclass
class LoadedModel:
    """A model ready for :func:`predict_video` and what is known about it.

    Attributes:
        model: the Keras model (outputs P(fake) through ``score``).
        name: the pretrained name or the model's Keras name.
        path: file it came from.
        trained_on: what it was trained on, or ``"unknown"``.
        kind: ``"frame"`` or ``"clip"``.
        clip_len: frames per clip (clip models), else 1.
        size: ``(H, W)`` of the crops it takes.
        family: the registry family (``"clrnet"``, ``"twobranch"``) or ``"other"``.
        score: ``x (B, [T,] H, W, 3) float32 in [0, 1] -> (B,) P(fake)``.
        notes: how the model was adapted (e.g. wrapped with a scorer).
        units: clips (or frames) sampled per video by default (the registry entry's).
        clip_stride: distance between a clip's frames by default (the registry entry's).
    """

    model: Any
    name: str
    path: str
    trained_on: str
    kind: str
    clip_len: int
    size: tuple[int, int]
    family: str
    score: Callable[[np.ndarray], np.ndarray]
    notes: list[str] = field(default_factory=list)
    units: int = 0
    clip_stride: int = 1

    def info(self) -> dict[str, Any]:
        """JSON-ready description (name, path, trained_on, input, kind, family, notes)."""
        h, w = self.size
        shape = [self.clip_len, h, w, 3] if self.kind == "clip" else [h, w, 3]
        return {
            "name": self.name,
            "path": self.path,
            "trained_on": self.trained_on,
            "input": {"kind": self.kind, "shape": shape},
            "family": self.family,
            "notes": list(self.notes),
        }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _trained_on_from_run(path: Path) -> str | None:
    """Describe the training data from the ``args.json`` of the run folder holding ``path``.

    Looks next to the file and one folder up (``checkpoints/epoch-NNN.keras``).

    Args:
        path: a ``.keras`` file.

    Returns:
        A one-line description, or None when no run record is found.
    """
    keys = ("trained_on", "dataset", "datasets", "data", "train", "train_data", "train_records",
            "records", "domains", "source", "target", "profile", "table", "strategy")
    for folder in (path.parent, path.parent.parent):
        record = folder / "args.json"
        if not record.is_file():
            continue
        try:
            args = json.loads(record.read_text())
        except (OSError, ValueError):
            return f"see {record} (unreadable)"
        if not isinstance(args, dict):
            return f"see {record}"
        found = [f"{k}={args[k]}" for k in keys if args.get(k) not in (None, "", [], {})]
        detail = ", ".join(found) if found else "no dataset field"
        return f"{detail} (from {record})"
    return None


def load_model(spec: str, precision: str = "float32") -> LoadedModel:
    """Load a packaged pretrained model by name or a ``.keras`` file of any registered family.

    Args:
        spec: a packaged name (:func:`clrnet.registry.pretrained_names`, e.g.
            ``"mesoinception4_df"``) or a path to a ``.keras`` file (CLRNet clips, two-branch
            sequences, frame baselines).
        precision: ``"float32"`` (default: the plain Keras model) or ``"bfloat16"``,
            ``"float16"`` (GPU), ``"auto"``: score through
            :func:`clrnet.inference.make_predict_fn` (fused ConvLSTM, reduced precision; P(fake)
            within 1e-2 of float32, see ``benchmarks/README.md``).

    Returns:
        A :class:`LoadedModel`.

    Raises:
        ModelLoadError: unknown name, missing file, not a Keras model, or a model whose input or
            output this script cannot use.
    """
    import keras

    from clrnet import registry
    from clrnet.errors import ModelError
    from clrnet.scoring import as_scorer, fake_probability

    notes: list[str] = []
    if spec in registry.pretrained_names():
        try:
            model = registry.load_pretrained(spec)
        except ModelError as exc:
            raise ModelLoadError(f"{spec}: {_first_line(exc)}") from exc
        path, name = str(registry.get_pretrained(spec).path), spec
    else:
        file = Path(spec)
        if not file.exists():
            raise ModelLoadError(
                f"{spec}: no such model file, and not a packaged model name "
                f"({', '.join(sorted(registry.pretrained_names()))})"
            )
        if not file.is_file():
            raise ModelLoadError(f"{spec}: not a Keras model file (it is a folder)")
        try:
            model = registry.load_model(file)
        except ModelError as exc:
            raise ModelLoadError(f"{spec}: not a Keras model file ({_first_line(exc)})") from exc
        if not isinstance(model, keras.Model):
            raise ModelLoadError(f"{spec}: not a Keras model file (loaded a {type(model).__name__})")
        path, name = str(file), model.name

    shape = tuple(model.inputs[0].shape)
    if len(shape) not in (4, 5):
        raise ModelLoadError(f"{spec}: model {model.name!r} has a rank-{len(shape)} input; "
                             "expected clips or frames")
    kind = "clip" if len(shape) == 5 else "frame"
    t, h, w = (shape[1], shape[2], shape[3]) if kind == "clip" else (None, shape[1], shape[2])
    entry = registry.spec_of(model)
    family = entry.family if entry else "other"
    if h is None or w is None:
        h = w = int(entry.input_size if entry else 224)
        notes.append(f"model accepts any image size; using {h}x{w}")
    if kind == "clip" and t is None:
        t = int(entry.clip_len if entry and entry.clip_len else 5)
        notes.append(f"model accepts any clip length; using {t} frames")
    try:
        scorer = as_scorer(model)
    except ModelError as exc:
        raise ModelLoadError(f"{spec}: {_first_line(exc)}") from exc
    if scorer is not model:
        notes.append("embedding model wrapped with its family's scorer (centre of its "
                     "compiled isolation loss)")
    model = scorer

    # All of a video's crops go in one fake_probability call; its batch size bounds peak memory
    # (MesoInception4 at 256x256: batch 16 vs 32 costs the same CPU time, ~75 MB less RSS).
    batch = 16 if kind == "frame" else 4

    def score(x: np.ndarray, _m=model) -> np.ndarray:
        return fake_probability(_m, x, batch_size=batch)

    if precision != "float32":
        from clrnet.inference import InferenceError, make_predict_fn

        try:
            fast = make_predict_fn(model, precision, batch_size=8)
        except InferenceError as exc:
            raise PredictUsageError(f"--precision {precision}: {_first_line(exc)}") from exc
        notes.append(f"scored in {fast.precision} with fused ConvLSTM layers")

        def score(x: np.ndarray, _fast=fast) -> np.ndarray:
            return _fast(x)

    trained_on = getattr(model, "trained_on", "") or None
    if trained_on is None and spec not in registry.pretrained_names():
        trained_on = _trained_on_from_run(Path(spec).resolve())
    units = (entry.video_units if entry else 0) or (DEFAULT_CLIPS if kind == "clip"
                                                     else DEFAULT_FRAMES)
    return LoadedModel(
        model=model, name=name, path=path, trained_on=trained_on or "unknown", kind=kind,
        clip_len=int(t) if kind == "clip" else 1, size=(int(h), int(w)), family=family,
        score=score, notes=notes, units=units,
        clip_stride=entry.clip_stride if entry and kind == "clip" else 1,
    )


# ----------------------------------------------------------------------------- inputs, sampling
def expand_inputs(paths: Sequence[str]) -> list[str]:
    """Expand folders into the video files they hold (recursively, sorted); keep other paths.

    Missing paths and non-video files are kept so that each gets its own error line.

    Args:
        paths: files and folders from the command line.

    Returns:
        Video paths in order, without duplicates.

    Raises:
        PredictUsageError: nothing to score (every argument an empty folder).
    """
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(
                str(f) for f in Path(p).rglob("*")
                if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS
            )
            out.extend(found)
        else:
            out.append(p)
    out = list(dict.fromkeys(out))
    if not out:
        raise PredictUsageError(f"no video files found in {', '.join(paths)}")
    return out


def plan_units(frame_count: int, loaded: LoadedModel, frames: int | None = None,
               clips: int | None = None, clip_stride: int = 1) -> list[list[int]]:
    """The frames (as 1-frame units) or clips to score for a video.

    Args:
        frame_count: frames in the video.
        loaded: the model.
        frames: frames to sample for a frame model (default: ``loaded.units``, 32).
        clips: clips to sample for a clip model (default: ``loaded.units``: 16; 8 for the
            two-branch network).
        clip_stride: distance between a clip's frames (1 = consecutive; Masi et al. use 7 at
            inference).

    Returns:
        Lists of frame indices, one per unit to score.

    References:
        Masi et al., ECCV'20, Sec. 4 ("1 frame over 7" at inference) for ``clip_stride=7``.
    """
    from data_prep.video import evenly_spaced, evenly_spaced_clips

    if loaded.kind == "frame":
        return [[i] for i in evenly_spaced(frame_count, frames or loaded.units)]
    span = (loaded.clip_len - 1) * clip_stride + 1
    windows = evenly_spaced_clips(frame_count, span, clips or loaded.units)
    return [list(range(w[0], w[0] + span, clip_stride)) for w in windows]


# ----------------------------------------------------------------------------- one video
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


def _fill_clip(faces: np.ndarray, has: Sequence[bool]) -> np.ndarray:
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


def _to_model_input(crops: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (..., S, S, 3) -> float32 [0, 1] (..., H, W, 3), resized when not square."""
    h, w = size
    if crops.shape[-3:-1] != (h, w):
        import cv2

        flat = crops.reshape(-1, *crops.shape[-3:])
        flat = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA) for c in flat])
        crops = flat.reshape(*crops.shape[:-3], h, w, 3)
    return crops.astype(np.float32) / 255.0


def predict_video(path: str, loaded: LoadedModel, extractor: Any, threshold: float = 0.5,
                  aggregation: str = "mean", frames: int | None = None,
                  clips: int | None = None, clip_stride: int = 1) -> VideoResult:
    """Score one video; bad input becomes a record with ``status`` "error" or "no_face".

    Args:
        path: video file.
        loaded: the model (:func:`load_model`).
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
    from data_prep.errors import DataPrepError
    from data_prep.video import probe

    started = time.perf_counter()
    rec = _empty_record(path)
    try:
        info = probe(path)
        rec.update(frame_count=info.frame_count, fps=round(info.fps, 3) or None,
                   duration_s=round(info.frame_count / info.fps, 3) if info.fps else None)
        units = plan_units(info.frame_count, loaded, frames, clips, clip_stride)
        rec["frames_requested"] = len({f for u in units for f in u})
        if not units:
            rec["message"] = (
                f"video too short: {info.frame_count} frames, the model needs clips of "
                f"{loaded.clip_len}" + (f" (stride {clip_stride})" if clip_stride > 1 else "")
                + f": {path}"
            )
            rec["timings"]["total_s"] = round(time.perf_counter() - started, 3)
            return VideoResult(rec)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = list(extractor.extract_clips(path, units))
        t_detect = time.perf_counter()
        rec["timings"]["decode_detect_s"] = round(t_detect - started, 3)
        rec["frames_sampled"] = int(extractor.last_stats.get("frames_decoded", 0))
        notes = [_first_line(w.message) for w in caught
                 if "truncated" in str(w.message) or "ended after" in str(w.message)]

        with_face = {f for r in results for f, h in zip(r.frame_indices, r.has_face, strict=True)
                     if h}
        rec["frames_with_face"] = len(with_face)
        batch, kept = [], []
        for r in results:
            if r.faces is None or np.mean(r.has_face) < MIN_FACE_FRACTION:
                continue
            crops = _fill_clip(r.faces, r.has_face)
            batch.append(crops if loaded.kind == "clip" else crops[0])
            kept.append(r)
        if not batch:
            rec["status"] = "no_face"
            n = rec["frames_sampled"]
            if with_face:
                rec["message"] = (
                    f"faces in {len(with_face)} of {n} sampled frames, but no clip has one face "
                    f"in {MIN_FACE_FRACTION:.0%} of its frames: {path}"
                )
            else:
                rec["message"] = f"no face found in {n} sampled frames: {path}"
            if notes:
                rec["message"] += f" ({notes[0]})"
            rec["timings"]["total_s"] = round(time.perf_counter() - started, 3)
            return VideoResult(rec)

        x = _to_model_input(np.stack(batch), loaded.size)
        del batch
        probs = np.asarray(loaded.score(x), np.float64).reshape(-1)
        del x
        rec["timings"]["model_s"] = round(time.perf_counter() - t_detect, 3)

        by_track: dict[int, list[float]] = {}
        for r, p in zip(kept, probs, strict=True):
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
        tracks = [
            {"track_id": t, "fake_probability": aggregate(s, aggregation, threshold),
             "n_scored": len(s)}
            for t, s in sorted(by_track.items())
        ]
        # Several faces: the video is as suspicious as its most suspicious face.
        value = max(t["fake_probability"] for t in tracks)
        rec.update(
            status="ok", fake_probability=round(value, 6), verdict=verdict(value, threshold),
            n_scored=len(probs), tracks=tracks, message=notes[0] if notes else None,
        )
        rec["timings"]["total_s"] = round(time.perf_counter() - started, 3)
        strip = {
            "fps": info.fps,
            "frames": [(f, b) for r in kept for f, b in zip(r.frame_indices, r.boxes, strict=True)
                       if b is not None],
            "spans": [(u[0], u[-1] + 1) for u in units],
            "scores": _unit_scores(units, kept, probs),
        }
        return VideoResult(rec, strip)
    except DataPrepError as exc:
        rec["message"] = str(exc)
    except Exception as exc:  # never let one video stop the batch
        rec["message"] = f"{type(exc).__name__}: {_first_line(exc)}: {path}"
    rec["status"] = "error"
    rec["timings"]["total_s"] = round(time.perf_counter() - started, 3)
    return VideoResult(rec)


def make_extractor(loaded: LoadedModel, margin: float = 1.3, max_side: int = 640,
                   detect_every: int = 5, all_faces: bool = False, clip_stride: int = 1) -> Any:
    """The face extractor for ``loaded``'s crop size and the clip stride.

    With ``clip_stride > 1`` MTCNN runs on every clip frame, and the extractor's tracking gap
    (``max_gap``, normally ``2 * detect_every`` frames) is widened to ``2 * clip_stride`` so a face
    keeps its track id from one strided frame to the next.

    Args:
        loaded: the model.
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

    class _StridedExtractor(FaceExtractor):
        @property
        def max_gap(self) -> int:
            return 2 * clip_stride

    return _StridedExtractor(loaded.size[0], margin, detector, 1, all_faces)


# ----------------------------------------------------------------------------- heatmap
def _heatmap_path(out: str, video: str, many: bool) -> Path:
    base = Path(out)
    if not many:
        return base
    return base.with_name(f"{base.stem}_{Path(video).stem}{base.suffix or '.png'}")


def write_heatmap(result: VideoResult, loaded: LoadedModel, out_png: Path, threshold: float,
                  n_frames: int = 8, max_width: int = 320, context: float = 2.5) -> Path:
    """Draw the strip for a scored video (decodes the few shown frames in a second pass).

    Args:
        result: a scored video (``strip`` set).
        loaded: the model, for the title.
        out_png: destination.
        threshold: decision threshold.
        n_frames: frames across the top.
        max_width: shown frames are downscaled to this width.
        context: shown frames are cropped to a square this many face-box sides wide.

    Returns:
        The written path.
    """
    import cv2

    from clrnet.heatmap import pick_strip_frames, save_strip
    from data_prep.video import VideoReader

    rec, strip = result.record, result.strip
    fps = strip["fps"] or 25.0
    boxes: dict[int, Any] = {}
    for f, b in strip["frames"]:  # largest box per frame when several faces
        if f not in boxes or (b[2] - b[0]) * (b[3] - b[1]) > (
                boxes[f][2] - boxes[f][0]) * (boxes[f][3] - boxes[f][1]):
            boxes[f] = b
    picks = pick_strip_frames(sorted(boxes), n_frames)
    shown = []
    with VideoReader(rec["path"]) as reader, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f, frame in reader.frames(picks):
            crop, box = _around_box(frame, np.asarray(boxes[f], np.float64), context)
            scale = min(1.0, max_width / crop.shape[1])
            if scale < 1.0:
                crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            shown.append((f / fps, crop, box * scale))
    # centre time of every planned unit; unscored units (no face) stay grey (NaN)
    times = [0.5 * (a + b) / fps for a, b in strip["spans"]]
    duration = rec["duration_s"] or None
    title = (f"{Path(rec['path']).name} - {loaded.name} - {rec['verdict']} "
             f"(P(fake) {rec['fake_probability']:.3f})")
    return save_strip(shown, times, strip["scores"], out_png, title=title, duration=duration,
                      threshold=threshold)


def _around_box(frame: np.ndarray, box: np.ndarray, context: float) -> tuple[np.ndarray, np.ndarray]:
    """Square crop of ``frame`` around ``box`` (``context`` times its long side) and the box in it."""
    h, w = frame.shape[:2]
    cx, cy = 0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])
    half = 0.5 * context * max(box[2] - box[0], box[3] - box[1], 8.0)
    x1, y1 = int(max(0, cx - half)), int(max(0, cy - half))
    x2, y2 = int(min(w, cx + half)), int(min(h, cy + half))
    return frame[y1:y2, x1:x2], box - np.array([x1, y1, x1, y1], np.float64)


# ----------------------------------------------------------------------------- outputs
def _atomic_write(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: str | os.PathLike, report: dict[str, Any]) -> None:
    """Write the full report (model, threshold, aggregation, videos) atomically.

    Args:
        path: destination ``.json``.
        report: the report dict built by :func:`main`.
    """
    _atomic_write(path, json.dumps(report, indent=1) + "\n")


CSV_COLUMNS = ("path", "status", "message", "video_fake_probability", "verdict", "track_id",
               "unit", "frames", "box_frames", "score", "model")


def write_csv(path: str | os.PathLike, report: dict[str, Any]) -> None:
    """One row per clip/frame score (one row with an empty score for a video without any).

    Args:
        path: destination ``.csv``.
        report: the report dict built by :func:`main`.
    """
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    model = report["model"]["name"]
    for v in report["videos"]:
        base = {"path": v["path"], "status": v["status"], "message": v["message"] or "",
                "video_fake_probability": v["fake_probability"], "verdict": v["verdict"] or "",
                "model": model}
        if not v["scores"]:
            writer.writerow({**base, "track_id": "", "unit": "", "frames": "", "box_frames": "",
                             "score": ""})
        for k, s in enumerate(v["scores"]):
            writer.writerow({**base, "track_id": s["track_id"], "unit": k,
                             "frames": " ".join(map(str, s["frames"])),
                             "box_frames": " ".join(map(str, s["box_frames"])),
                             "score": s["score"]})
    _atomic_write(path, buf.getvalue())


def format_line(rec: dict[str, Any], kind: str) -> str:
    """One table line: verdict, P(fake), units scored, frames with a face/decoded, seconds, path.

    Args:
        rec: a video record.
        kind: ``"frame"`` or ``"clip"`` (names the unit).

    Returns:
        The line (no newline).
    """
    unit = "frames" if kind == "frame" else "clips"
    if rec["status"] == "ok":
        head = f"{rec['verdict']:<8}{rec['fake_probability']:>7.3f}"
    else:
        head = f"{'NO FACE' if rec['status'] == 'no_face' else 'ERROR':<8}{'-':>7}"
    scored = f"{rec['n_scored']} {unit}"
    faces = f"{rec['frames_with_face']}/{rec['frames_sampled']}"
    took = rec["timings"].get("total_s")
    took = f"{took:5.1f} s" if took is not None else "      "
    line = f"{head}  {scored:<11} {faces:>7}  {took}  {rec['path']}"
    if rec["message"]:
        line += f"  [{rec['message']}]"
    return line


# ----------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    """The ``python -m clrnet.predict`` argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m clrnet.predict",
        description="Video-level deepfake probability for video files or folders of videos.",
    )
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files and/or folders")
    p.add_argument("--model", default=None,
                   help="packaged model name (default mesoinception4_df; also meso4_df, "
                   "meso4_f2f, mesoinception4_f2f) or a .keras file saved by this package")
    p.add_argument("--threshold", type=float, default=0.5, help="FAKE when >= this (0.5)")
    p.add_argument("--aggregation", choices=sorted(AGGREGATIONS), default="mean",
                   help="video score from clip scores: " + "; ".join(
                       f"{k}: {v}" for k, v in AGGREGATIONS.items()) + " (default mean)")
    p.add_argument("--frames", type=int, default=None,
                   help=f"frames sampled per video for frame models ({DEFAULT_FRAMES})")
    p.add_argument("--clips", type=int, default=None,
                   help=f"clips sampled per video for clip models ({DEFAULT_CLIPS}, or the "
                   "model's own default: 8 for the two-branch network)")
    p.add_argument("--clip-stride", type=int, default=None,
                   help="frames between a clip's frames (default: the model's own, 1 = "
                   "consecutive; 7 for the two-branch network, Masi et al.'s inference "
                   "sampling; with a stride above 1 MTCNN runs on every clip frame)")
    p.add_argument("--all-faces", action="store_true",
                   help="score every tracked face; the video takes its most suspicious face")
    p.add_argument("--margin", type=float, default=1.3, help="face crop zoom-out (1.3)")
    p.add_argument("--detect-every", type=int, default=5,
                   help="inside a clip, run MTCNN every N frames and interpolate (5)")
    p.add_argument("--max-side", type=int, default=640,
                   help="downscale frames to this long side for face detection (640)")
    p.add_argument("--json", metavar="OUT", help="write the full report as JSON")
    p.add_argument("--csv", metavar="OUT", help="write one row per clip/frame score")
    p.add_argument("--heatmap", metavar="OUT.png",
                   help="timeline strip PNG (OUT_<video>.png when several videos)")
    p.add_argument("--precision", choices=("float32", "bfloat16", "float16", "auto"),
                   default="float32",
                   help="float32 (default, plain Keras); bfloat16 on CPUs with AVX512-BF16/AMX "
                   "or GPUs, float16 on GPUs, auto: the fastest this machine supports "
                   "(fused ConvLSTM; P(fake) within 1e-2 of float32)")
    p.add_argument("--resume", action="store_true",
                   help="with --json: skip videos already scored in that file by the same model")
    return p


def _check_args(args: argparse.Namespace) -> None:
    if not 0.0 <= args.threshold <= 1.0:
        raise PredictUsageError(f"--threshold must be in [0, 1], got {args.threshold}")
    for name in ("frames", "clips", "detect_every", "clip_stride"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise PredictUsageError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.max_side < 48:
        raise PredictUsageError(f"--max-side must be >= 48, got {args.max_side}")
    if args.margin <= 0:
        raise PredictUsageError(f"--margin must be > 0, got {args.margin}")
    if args.resume and not args.json:
        raise PredictUsageError("--resume needs --json OUT (the file to resume from)")
    for flag in ("json", "csv", "heatmap"):
        out = getattr(args, flag)
        if not out:
            continue
        if os.path.isdir(out):
            raise PredictUsageError(f"--{flag} {out}: is a folder, expected a file name")
        try:
            Path(out).resolve().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PredictUsageError(f"--{flag} {out}: cannot create its folder ({exc})") from exc


def _previous(args: argparse.Namespace, model_name: str) -> dict[str, dict[str, Any]]:
    """Records already in ``--json`` for the same model (for ``--resume``)."""
    if not (args.resume and args.json and os.path.isfile(args.json)):
        return {}
    try:
        old = json.loads(Path(args.json).read_text())
    except (OSError, ValueError):
        return {}
    if old.get("model", {}).get("name") != model_name:
        return {}
    return {v["path"]: v for v in old.get("videos", []) if v.get("status") in ("ok", "no_face")}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: arguments (default ``sys.argv[1:]``).

    Returns:
        0 when at least one video was scored, 1 when none was, 2 for usage errors.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else 2
    started = time.perf_counter()
    try:
        _check_args(args)
        videos = expand_inputs(args.videos)
        from clrnet.models.specs import DEFAULT_PRETRAINED

        loaded = load_model(args.model or DEFAULT_PRETRAINED, args.precision)
        if args.clip_stride is None:
            args.clip_stride = loaded.clip_stride
    except PredictUsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    load_s = time.perf_counter() - started

    from tqdm import tqdm

    extractor = make_extractor(loaded, args.margin, args.max_side, args.detect_every,
                               args.all_faces, args.clip_stride)
    report: dict[str, Any] = {
        "model": loaded.info(), "threshold": args.threshold, "aggregation": args.aggregation,
        "sampling": {"frames": args.frames or loaded.units} if loaded.kind == "frame" else {
            "clips": args.clips or loaded.units, "clip_len": loaded.clip_len,
            "clip_stride": args.clip_stride},
        "all_faces": bool(args.all_faces),
        "timings": {"model_load_s": round(load_s, 3), "total_s": None},
        "videos": [],
    }
    h, w = loaded.size
    unit = (f"{report['sampling']['frames']} frames" if loaded.kind == "frame" else
            f"{report['sampling']['clips']} clips x {loaded.clip_len} frames")
    print(f"model: {loaded.name} - trained on: {loaded.trained_on} - input {h}x{w} "
          f"({unit} per video, {args.aggregation} aggregation, threshold {args.threshold})")
    previous = _previous(args, loaded.name)

    def save() -> None:
        if args.json:
            write_json(args.json, report)
        if args.csv:
            write_csv(args.csv, report)

    many = len(videos) > 1
    for path in tqdm(videos, desc="videos", unit="video", disable=None, file=sys.stderr):
        if path in previous:
            rec = previous[path]
        else:
            result = predict_video(path, loaded, extractor, args.threshold, args.aggregation,
                                   args.frames, args.clips, args.clip_stride)
            rec = result.record
            if args.heatmap and rec["status"] == "ok":
                out = _heatmap_path(args.heatmap, path, many)
                try:
                    rec["heatmap"] = str(write_heatmap(result, loaded, out, args.threshold))
                except Exception as exc:  # a figure problem must not lose the scores
                    rec["heatmap"] = None
                    rec["message"] = f"heatmap not written: {_first_line(exc)}"
        report["videos"].append(rec)
        tqdm.write(format_line(rec, loaded.kind), file=sys.stdout)
        report["timings"]["total_s"] = round(time.perf_counter() - started, 3)
        try:
            save()
        except OSError as exc:
            print(f"error: cannot write results ({_first_line(exc)})", file=sys.stderr)
            return 2
    n_ok = sum(v["status"] == "ok" for v in report["videos"])
    if many:
        print(f"{n_ok} of {len(videos)} videos scored in "
              f"{report['timings']['total_s']:.1f} s (model load {load_s:.1f} s)")
    return 0 if n_ok else 1


if __name__ == "__main__":
    sys.exit(main())
