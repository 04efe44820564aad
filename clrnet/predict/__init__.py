"""``python -m clrnet.predict VIDEO [VIDEO | FOLDER ...]``: video-level deepfake scores.

For each video: sample frames (frame models) or clips (clip models) evenly over the whole video,
find the largest face (or every tracked face with ``--all-faces``) with
:class:`data_prep.faces.FaceExtractor` in one streaming pass, score the crops in fixed-size
batches, and combine the scores into a video-level P(fake) (:mod:`clrnet.aggregation`). Prints
the model, what it was trained on and what its verdict is worth, then one line per video;
``--json``/``--csv`` keep every per-clip score, the frames that had a face box, the model's
provenance and the timings; ``--heatmap`` draws a timeline strip (:mod:`clrnet.heatmap`).

Modules: :mod:`~clrnet.predict.loading` (which model, its provenance, loading),
:mod:`~clrnet.predict.inputs` (video files, frames and clips to score),
:mod:`~clrnet.predict.video` (one video from decoding to its record),
:mod:`~clrnet.predict.runner` (fixed-shape batches, warm-up, the scoring thread),
:mod:`~clrnet.predict.output` (JSON, CSV, table lines), :mod:`~clrnet.predict.strip`
(``--heatmap``), :mod:`~clrnet.predict.cli` (options, exit status).

What this follows and where it differs:

* Default model: the MesoNet authors' MesoInception4 trained on their 2018 Deepfake set
  (Afchar et al., WIFS'18; weights from ``DariusAf/MesoNet``, packaged in ``clrnet/weights``,
  label flip folded in so it outputs P(fake)), scored on 32 evenly spaced frames (the authors'
  ``pipeline.py`` samples about 30 frames, every ``len // 30``-th). Its verdict is weak evidence:
  the packaged MesoNet weights do not transfer to other manipulations (their registry caveat,
  printed under the model line and stored in the JSON/CSV, gives the measured scores). The
  authors cropped with ``face_recognition`` landmarks (rotation by the eye-mouth angle, side
  2.2 x 1.3 x max(eye-eye, eye-mouth), centred on the landmarks); we use the project's MTCNN
  5-point similarity crops (margin 1.3, as the training crops of ``data_prep``) for every model,
  so scores can differ from the authors' pipeline. Their video score was the fraction of frames
  over 0.5 (``--aggregation fraction``); ours defaults to the mean.
* Clip models (CLRNet, Tariq et al., WWW'21; DBiRNN, CNN+LSTM; the two-branch network of
  Masi et al., ECCV'20): N clips of the model's T consecutive frames spread evenly over the
  video (16 clips; 8 windows for the two-branch network). CLRNet's official code only used the
  first 80 frames (16 clips of 5) and reports clip-level results; Masi et al. take 1 frame in 7
  at inference (``--clip-stride 7``). Spreading clips over the whole video is ours, so a
  manipulation anywhere in the video is sampled.
* Models: a packaged name, a ``.keras`` file of any registered family (the file names its
  family; :func:`clrnet.registry.load_model` imports it and skips the random initializers the
  saved weights replace, :mod:`clrnet.fast_load`), or a CLRNet-authors tf.keras ``.h5``
  checkpoint, converted once into a cache (:func:`clrnet.convert_official.convert_cached`).
  Embedding models (two-branch checkpoints saved with their compiled isolation loss) are
  wrapped by their family's scorer (``ModelSpec.to_scorer``), so they too give P(fake).
* Decoding: the video is streamed once; frames before a wanted one are only ``grab()``-ed
  (:class:`data_prep.video.VideoReader`). Seeking instead (``CAP_PROP_POS_FRAMES``) was measured
  3x slower in CPU time on the bundled H.264 webcam video (it decodes from the previous keyframe
  for every sample), so sampling happens before conversion and detection, not before decoding.
* Speed: the model runs in its own thread through :func:`clrnet.inference.make_predict_fn`
  (traced once, warmed up on one sample while the first video is being decoded) and scores one
  video's clips in batches while the next clips and videos are decoded
  (:mod:`clrnet.predict.runner`); ``benchmarks/bench_predict.py`` measures it.
* A clip is scored when at least half of its frames have a face; its face-less frames are
  filled with the nearest face crop of the same clip (ours; the papers drop such frames during
  preprocessing). A frame model scores only frames with a face.

Exit status: 0 when at least one video was scored, 1 when none could be, 2 for usage errors
(no inputs, a model that cannot be loaded, bad options), 3 when another run writes the same
``--json`` file (:mod:`data_prep.locking`). Bad videos never stop the batch: each gets one line
saying what is wrong (and an entry in the JSON/CSV).
"""

from __future__ import annotations

from clrnet.predict.base import (
    DEFAULT_CLIPS,
    DEFAULT_FRAMES,
    MIN_FACE_FRACTION,
    ModelLoadError,
    PredictUsageError,
)
from clrnet.predict.cli import build_parser, main
from clrnet.predict.inputs import VIDEO_EXTENSIONS, expand_inputs, plan_units
from clrnet.predict.loading import LoadedModel, load_model
from clrnet.predict.output import CSV_COLUMNS, format_line, write_csv, write_json
from clrnet.predict.runner import BatchScorer, ScoringWorker
from clrnet.predict.strip import write_heatmap
from clrnet.predict.video import VideoResult, make_extractor, predict_video, predict_videos

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_CLIPS",
    "DEFAULT_FRAMES",
    "MIN_FACE_FRACTION",
    "VIDEO_EXTENSIONS",
    "BatchScorer",
    "LoadedModel",
    "ModelLoadError",
    "PredictUsageError",
    "ScoringWorker",
    "VideoResult",
    "build_parser",
    "expand_inputs",
    "format_line",
    "load_model",
    "main",
    "make_extractor",
    "plan_units",
    "predict_video",
    "predict_videos",
    "write_csv",
    "write_heatmap",
    "write_json",
]
