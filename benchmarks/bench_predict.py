"""Wall time, real-time factor and peak memory of ``python -m clrnet.predict`` (issue #6).

Runs on ``data_prep/media/webcam_hello.mp4`` (8.3 s of 1280x720 at 30 fps) and on a video
``--repeat`` times longer made by concatenating it (written with OpenCV to a temp folder), with
the default model (the MesoNet authors' MesoInception4, 32 frames per video) unless ``--model``
says otherwise. Each measurement runs in a fresh subprocess so peak RSS (``ru_maxrss``) is per
run:

* ``predict``: in-process, after imports and model loading: the first video call (includes
  MTCNN/Keras graph warm-up) and a second, warm call on the same video. Reports wall seconds,
  CPU seconds (user + sys of the process during the call: less sensitive to other processes on
  a shared machine), real-time factor = video duration / wall, and peak RSS.
* ``cli``: the whole ``python -m clrnet.predict VIDEO`` command (TensorFlow import, model load,
  one video), timed from outside.

Prints one JSON line per measurement plus a machine line (cores, load average before/after,
versions). No paper is followed; the targets (faster than real time on 2 cores, memory flat in
video length) are the project's issue #6.

Usage::

    python -m benchmarks.bench_predict [--repeat 4] [--model NAME_OR_PATH] [--out FILE]

Measured 2026-11-22 (2 CPU cores shared with other jobs: load average 7.4 in run A, 10.2 in run
B; default model, 32 frames; "warm" = second video in the same process):

=====================  ===========  ===========  =========  ==================  ============
video                  wall (warm)  CPU s        RT factor  peak RSS            run
=====================  ===========  ===========  =========  ==================  ============
webcam 8.3 s, 720p     6.1 s        3.2          1.36x      1396 MB             A (batch 32)
webcam 8.3 s, 720p     13.8 s       3.9          0.60x      1182 MB             B
4x concat, 33.1 s      7.0 s        3.6          4.8x       1417 MB             A (batch 32)
4x concat, 33.1 s      14.0 s       3.9          2.36x      1137 MB             B
=====================  ===========  ===========  =========  ==================  ============

CPU seconds per video stay ~3.6-3.9 whatever the length (fixed sample count; skipped frames are
only grabbed: 0.44 CPU s for all 249 frames) and peak RSS does not grow with length (749 MB
after imports and model loading). Of the CPU time, MTCNN on 32 frames at 640 px is ~2.8 s, the
model ~0.55 s, decoding ~0.45 s; ``--max-side 480`` cuts the total by ~20 %. The whole CLI
(TensorFlow import ~6-14 s under this load, model load ~1 s, one video) took 19.8 s (A) and
29.3 s (B). Wall times here are dominated by the other jobs; the CPU time suggests faster than
real time on 2 idle cores, which could not be measured on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO / "data_prep" / "media" / "webcam_hello.mp4"


def make_long_video(src: Path, repeat: int, folder: Path) -> Path:
    """Write ``src`` concatenated ``repeat`` times (mp4v) unless already there.

    Args:
        src: source video.
        repeat: copies.
        folder: output folder.

    Returns:
        The path of the long video.
    """
    import cv2

    out = folder / f"{src.stem}_x{repeat}.mp4"
    if out.exists() and out.stat().st_size > 0:
        return out
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    tmp = folder / f"{src.stem}_x{repeat}.tmp.mp4"
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for _ in range(repeat):
        cap = cv2.VideoCapture(str(src))
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            writer.write(frame)
        cap.release()
    writer.release()
    os.replace(tmp, out)
    return out


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child(video: str, model: str) -> dict:
    """In-process measurement (run in a fresh interpreter).

    Args:
        video: video path.
        model: model name or ``.keras`` path.

    Returns:
        A JSON-ready dict.
    """
    t0 = time.perf_counter()
    from clrnet.predict import load_model, predict_video
    from data_prep.faces import FaceDetector, FaceExtractor
    from data_prep.video import probe

    t_import = time.perf_counter() - t0
    t1 = time.perf_counter()
    loaded = load_model(model)
    t_load = time.perf_counter() - t1
    extractor = FaceExtractor(output_size=loaded.size[0], detector=FaceDetector())
    info = probe(video)
    duration = info.frame_count / info.fps if info.fps else None
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    calls = []
    for _ in range(2):
        c0, w0 = _cpu_s(), time.perf_counter()
        rec = predict_video(video, loaded, extractor).record
        wall = time.perf_counter() - w0
        calls.append({
            "wall_s": round(wall, 2), "cpu_s": round(_cpu_s() - c0, 2),
            "realtime_factor": round(duration / wall, 2) if duration else None,
            "decode_detect_s": rec["timings"]["decode_detect_s"],
            "model_s": rec["timings"]["model_s"], "status": rec["status"],
            "fake_probability": rec["fake_probability"], "n_scored": rec["n_scored"],
            "frames_with_face": rec["frames_with_face"],
        })
    return {
        "mode": "predict", "video": video, "frames": info.frame_count,
        "resolution": f"{info.width}x{info.height}", "duration_s": round(duration or 0, 2),
        "model": loaded.name, "import_s": round(t_import, 2), "model_load_s": round(t_load, 2),
        "first_call": calls[0], "warm_call": calls[1],
        "peak_rss_mb_after_load": round(rss_before, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run_cli(video: str, model: str | None) -> dict:
    """Time the whole CLI command from outside.

    Args:
        video: video path.
        model: model name/path or None for the default.

    Returns:
        A JSON-ready dict.
    """
    cmd = [sys.executable, "-m", "clrnet.predict", video]
    if model:
        cmd += ["--model", model]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"mode": "cli", "video": video, "wall_s": round(wall, 2), "rc": proc.returncode,
            "line": proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "",
            "children_peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def machine() -> dict:
    """The shared machine row (:func:`benchmarks.common.machine_info`) plus OpenCV."""
    import cv2

    from benchmarks.common import machine_info

    return {"mode": "machine", **machine_info(), "opencv": cv2.__version__}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark.

    Args:
        argv: command-line arguments.

    Returns:
        Exit status.
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=4, help="length factor of the long video (4)")
    p.add_argument("--model", default="mesoinception4_df")
    p.add_argument("--video", default=str(VIDEO))
    p.add_argument("--tmp", default=None, help="folder for the long video (default: temp)")
    p.add_argument("--no-cli", action="store_true", help="skip the whole-command timing")
    p.add_argument("--out", default=None, help="also append the JSON lines to this file")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.model)))
        return 0

    folder = Path(args.tmp or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    videos = [args.video, str(make_long_video(Path(args.video), args.repeat, folder))]
    lines = [{"mode": "machine_start", "loadavg": [round(x, 2) for x in os.getloadavg()]}]
    for video in videos:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_predict", "--child", video,
             "--model", args.model], cwd=REPO, capture_output=True, text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
            lines.append({"mode": "predict", "video": video, "error": tail[0]})
        else:
            lines.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(lines[-1]), flush=True)
    if not args.no_cli:
        lines.append(run_cli(args.video, args.model))
        print(json.dumps(lines[-1]), flush=True)
    lines.append(machine())
    print(json.dumps(lines[-1]), flush=True)
    print(json.dumps(lines[0]))
    if args.out:
        with open(args.out, "a") as f:
            for line in lines:
                f.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
