"""The ``python -m clrnet.predict`` command line: options, the run over all videos, exit status.

Exit status: 0 when at least one video was scored, 1 when none could be, 2 for usage errors
(no inputs, a model that cannot be loaded, bad options), 3 when another run is writing the same
``--json`` file. Bad videos never stop the batch: each gets one line saying what is wrong (and an
entry in the JSON/CSV).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clrnet.aggregation import AGGREGATIONS
from clrnet.predict.base import DEFAULT_CLIPS, DEFAULT_FRAMES, PredictUsageError, first_line
from clrnet.predict.inputs import expand_inputs
from clrnet.predict.output import format_line, model_line, write_csv, write_json

__all__ = ["build_parser", "main"]

PRECISION_HELP = (
    "float32 (default): the same scores on every machine. auto: float16 on a GPU, bfloat16 on "
    "a CPU with AVX512-BF16/AMX (CLRNet-50 on a 58-s video, 2-core AMX CPU: 89 s -> 70.5 s "
    "for the whole command), float32 elsewhere, so on a CPU without them auto changes nothing; "
    "P(fake) within 1e-2 of float32. bfloat16 / float16: force them (refused where the "
    "hardware lacks them)")


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m clrnet.predict`` argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m clrnet.predict",
        description="Video-level deepfake probability for video files or folders of videos.",
        epilog="""examples (also installed as deepfake-predict):
  python -m clrnet.predict video.mp4                         # packaged MesoInception4, 32 frames
  python -m clrnet.predict video.mp4 --model runs/clrnet-ffpp/best.keras   # CLRNet, 16 clips
  python -m clrnet.predict video.mp4 --model CLR_DF_Ebest.h5 # the CLRNet authors' checkpoint
  python -m clrnet.predict folder/ --json out.json --csv out.csv --resume
  python -m clrnet.predict video.mp4 --heatmap strip.png

exit status: 0 at least one video scored, 1 none, 2 usage error, 3 another run is writing the
same --json file.""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files and/or folders")
    p.add_argument("--model", default=None,
                   help="packaged model name (default mesoinception4_df, the MesoNet authors' "
                   "weights, measured not to transfer reliably to other manipulations; also "
                   "meso4_df, meso4_f2f, mesoinception4_f2f), a .keras file saved by this package "
                   "(e.g. "
                   "RUN/best.keras from python -m clrnet.train), or a CLRNet authors' tf.keras "
                   ".h5 checkpoint (a .h5 is taken as theirs: converted once into a cache, their "
                   "real = 1 labels flipped)")
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
    p.add_argument("--batch-size", type=int, default=None,
                   help="clips (frames) scored per model call (default 16 frames; 8 clips, "
                   "or 4 for a run of one video, which runs the model eagerly)")
    p.add_argument("--json", metavar="OUT", help="write the full report as JSON")
    p.add_argument("--csv", metavar="OUT", help="write one row per clip/frame score")
    p.add_argument("--heatmap", metavar="OUT.png",
                   help="timeline strip PNG (OUT_<video>.png when several videos)")
    p.add_argument("--precision", choices=("float32", "bfloat16", "float16", "auto"),
                   default="float32", help=PRECISION_HELP)
    p.add_argument("--resume", action="store_true",
                   help="with --json: skip videos already scored in that file by the same model")
    return p


def check_args(args: argparse.Namespace) -> None:
    """Validate option values.

    Raises:
        PredictUsageError: the first bad value, in one line.
    """
    if not 0.0 <= args.threshold <= 1.0:
        raise PredictUsageError(f"--threshold must be in [0, 1], got {args.threshold}")
    for name in ("frames", "clips", "detect_every", "clip_stride", "batch_size"):
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


def previous_records(args: argparse.Namespace, model_name: str) -> dict[str, dict[str, Any]]:
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


def _json_lock(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """A lock on ``--json`` (data_prep.locking) so two runs never write one report."""
    if not args.json:
        return contextlib.nullcontext()
    from data_prep.locking import FileLock

    what = f"python -m clrnet.predict {'--resume ' if args.resume else ''}--json {args.json}"
    return FileLock(args.json, what=what, hint="wait for it or use another --json")


def _run(args: argparse.Namespace, videos: list[str], started: float) -> int:
    from clrnet.models.specs import DEFAULT_PRETRAINED
    from clrnet.predict.loading import load_model
    from clrnet.predict.runner import GRAPH_MIN_SAMPLES, ScoringWorker
    from clrnet.predict.strip import heatmap_path, write_heatmap
    from clrnet.predict.video import make_extractor, predict_videos

    # a float32 run of few samples (one video of 16 clips) is cheaper without a trace
    expected = len(videos) * (max(args.frames or 0, args.clips or 0) or DEFAULT_CLIPS)
    try:
        loaded = load_model(args.model or DEFAULT_PRETRAINED, args.precision, args.batch_size,
                            graph=expected >= GRAPH_MIN_SAMPLES)
    except PredictUsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.clip_stride is None:
        args.clip_stride = loaded.clip_stride
    load_s = time.perf_counter() - started
    worker = ScoringWorker(loaded.score, loaded.size)  # warms the model up meanwhile

    from tqdm import tqdm

    extractor = make_extractor(loaded, args.margin, args.max_side, args.detect_every,
                               args.all_faces, args.clip_stride)
    sampling = ({"frames": args.frames or loaded.units} if loaded.kind == "frame" else
                {"clips": args.clips or loaded.units, "clip_len": loaded.clip_len,
                 "clip_stride": args.clip_stride})
    report: dict[str, Any] = {
        "model": loaded.info(), "threshold": args.threshold, "aggregation": args.aggregation,
        "sampling": sampling, "all_faces": bool(args.all_faces),
        "timings": {"model_load_s": round(load_s, 3), "warm_up_s": None, "total_s": None},
        "videos": [],
    }
    unit = (f"{sampling['frames']} frames" if loaded.kind == "frame" else
            f"{sampling['clips']} clips x {loaded.clip_len} frames")
    print(model_line(report["model"], f"{unit} per video, {args.aggregation} aggregation, "
                                      f"threshold {args.threshold}"))
    many = len(videos) > 1
    bar = tqdm(total=len(videos), desc="videos", unit="video", disable=None, file=sys.stderr)
    finished = False
    try:
        for result in predict_videos(videos, loaded, extractor, worker, args.threshold,
                                     args.aggregation, args.frames, args.clips,
                                     args.clip_stride, previous_records(args, loaded.name)):
            rec = result.record
            if args.heatmap and rec["status"] == "ok" and result.strip is not None:
                try:
                    out = heatmap_path(args.heatmap, rec["path"], many)
                    rec["heatmap"] = str(write_heatmap(result, loaded, out, args.threshold))
                except Exception as exc:  # noqa: BLE001 - a figure problem must not lose scores
                    rec["heatmap"] = None
                    rec["message"] = f"heatmap not written: {first_line(exc)}"
            report["videos"].append(rec)
            bar.update(1)
            tqdm.write(format_line(rec, loaded.kind), file=sys.stdout)
            report["timings"]["total_s"] = round(time.perf_counter() - started, 3)
            report["timings"]["warm_up_s"] = (round(loaded.score.warm_up_s, 3)
                                              if loaded.score.warm_up_s is not None else None)
            try:
                if args.json:
                    write_json(args.json, report)
                if args.csv:
                    write_csv(args.csv, report)
            except OSError as exc:
                print(f"error: cannot write results ({first_line(exc)})", file=sys.stderr)
                return 2
        finished = True
    finally:
        bar.close()
        worker.stop(wait=finished)  # an interrupted or failed run does not wait for the model
    n_ok = sum(v["status"] == "ok" for v in report["videos"])
    if many:
        print(f"{n_ok} of {len(videos)} videos scored in "
              f"{report['timings']['total_s']:.1f} s (model load {load_s:.1f} s)")
    return 0 if n_ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: arguments (default ``sys.argv[1:]``).

    Returns:
        0 when at least one video was scored, 1 when none was, 2 for usage errors, 3 when
        another run holds the ``--json`` file.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else 2
    started = time.perf_counter()
    try:
        check_args(args)
        videos = expand_inputs(args.videos)
    except PredictUsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from data_prep.locking import LockHeldError

    try:
        with _json_lock(args):
            return _run(args, videos, started)
    except LockHeldError as exc:  # another run writes the same --json
        print(f"error: {exc}", file=sys.stderr)
        return 3
