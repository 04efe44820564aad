"""Face-clip extraction throughput and peak memory (``data_prep.faces.FaceExtractor``).

Compares, on ``data_prep/media/webcam_hello.mp4`` (1280x720, 249 frames, a ~65x85 px webcam
inset face):

* ``naive``: MTCNN on every frame at full resolution, then align the largest face;
* ``extractor``: :class:`data_prep.faces.FaceExtractor` defaults (MTCNN on frames downscaled to a
  640 px long side, on about one frame in five, batched; boxes and landmarks interpolated),
  for CLRNet's 16 clips x 5 frames and for every frame of the video in 5-frame clips;
* ``extractor_long``: the same on the video repeated ``--repeat`` times (written to a temp mp4),
  to show that peak memory does not grow with video length;
* ``extractor-eager``: the ``extractor`` run for CLRNet's clips with the ``mtcnn`` package's
  networks called eagerly, as shipped (the default compiles them:
  :func:`data_prep.faces.compile_stages`).

"Written" means aligned and JPEG-encoded in memory (the same work for every mode). Each mode
runs in a fresh subprocess, after a warm-up MTCNN call, so TensorFlow start-up is not timed and
each process's peak RSS (``ru_maxrss``) is comparable. Prints one JSON line per mode and a
summary line with the speed-up, plus the machine (cores, load average, CPU flags), library
versions and git SHA. No paper is followed; the project's target is >= 10x the naive rate.

Usage::

    python -m benchmarks.bench_faces [--naive-frames 40] [--repeat 4] [--out FILE]
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

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO / "data_prep" / "media" / "webcam_hello.mp4"


def machine() -> dict:
    """The shared machine row (:func:`benchmarks.common.machine_info`) plus OpenCV and mtcnn.

    Returns:
        A JSON-serialisable dict.
    """
    from importlib.metadata import version

    from benchmarks.common import machine_info

    return {**machine_info(), "opencv": cv2.__version__, "mtcnn": version("mtcnn")}


def _write(crop: np.ndarray) -> int:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    return len(buf) if ok else 0


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_naive(video: Path, n_frames: int) -> dict:
    """MTCNN at full resolution on each of the first ``n_frames`` frames, largest face aligned.

    Args:
        video: video path.
        n_frames: frames to process.

    Returns:
        Counters and timings.
    """
    from data_prep.faces import FaceDetector, align_face
    from data_prep.video import VideoReader

    detector = FaceDetector(max_side=100_000)
    with VideoReader(video) as reader:
        _, first = next(iter(reader.frames([0])))
    detector.detect(first)  # warm-up
    rss0 = _rss_mib()
    written = detected = 0
    t0 = time.perf_counter()
    with VideoReader(video) as reader:
        for _, frame in reader.frames(range(n_frames)):
            faces = detector.detect(frame)
            detected += 1
            if faces:
                _write(align_face(frame, faces[0].landmarks, 240, 1.3))
                written += 1
    seconds = time.perf_counter() - t0
    return {
        "frames": n_frames,
        "mtcnn_calls": detected,
        "faces_written": written,
        "seconds": seconds,
        "faces_per_s": written / seconds,
        "rss_before_mib": rss0,
    }


def run_extractor(video: Path, clips_kind: str, eager: bool = False) -> dict:
    """``FaceExtractor`` defaults over ``video``.

    Args:
        video: video path.
        clips_kind: ``"clrnet"`` (16 x 5 frames from the start) or ``"all"`` (every frame,
            5-frame clips).
        eager: MTCNN's networks as the package ships them (eager calls), not compiled.

    Returns:
        Counters and timings.
    """
    from data_prep.faces import FaceExtractor
    from data_prep.video import VideoReader, clrnet_clips, probe

    info = probe(video)
    if clips_kind == "clrnet":
        clips = clrnet_clips(info.frame_count)
    else:
        clips = clrnet_clips(info.frame_count, num_clips=info.frame_count // 5)
    extractor = FaceExtractor()
    if eager:
        from mtcnn import MTCNN

        extractor.detector._mtcnn = MTCNN(device="CPU:0")
    with VideoReader(video) as reader:
        _, first = next(iter(reader.frames([0])))
    extractor.detector.detect_batch([first] * extractor.batch_size)  # warm-up, batch shape
    calls0 = extractor.detector.frames_detected
    rss0 = _rss_mib()
    written = frames = 0
    t0 = time.perf_counter()
    for clip in extractor.extract_clips(video, clips):
        frames += len(clip.frame_indices)
        for ok, crop in zip(
            clip.has_face, clip.faces if clip.faces is not None else [], strict=False
        ):
            if ok:
                _write(crop)
                written += 1
    seconds = time.perf_counter() - t0
    return {
        "video_frames": info.frame_count,
        "clips": len(clips),
        "frames": frames,
        "mtcnn_calls": extractor.detector.frames_detected - calls0,
        "faces_written": written,
        "seconds": seconds,
        "faces_per_s": written / seconds,
        "rss_before_mib": rss0,
    }


def repeat_video(src: Path, dst: Path, times: int) -> Path:
    """Write ``src`` ``times`` times back to back into ``dst`` (mp4v), frame by frame.

    Args:
        src: source video.
        dst: target ``.mp4`` path.
        times: repetitions.

    Returns:
        ``dst``.
    """
    from data_prep.video import VideoReader

    writer = None
    for _ in range(times):
        with VideoReader(src) as reader:
            for _, frame in reader.frames():
                if writer is None:
                    h, w = frame.shape[:2]
                    fps = reader.info.fps or 30.0
                    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return dst


def _worker(args: argparse.Namespace) -> None:
    if args.worker == "naive":
        row = run_naive(Path(args.video), args.naive_frames)
    else:
        kind, clips_kind = args.worker.split(":")
        row = run_extractor(Path(args.video), clips_kind, eager=kind == "extractor-eager")
    row["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row["loadavg_1m"] = os.getloadavg()[0]  # other processes share the cores: context for speed
    print(json.dumps(row))


def _spawn(mode: str, video: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_faces", "--worker", mode, "--video", str(video)]
    cmd += ["--naive-frames", str(args.naive_frames)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {mode} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(VIDEO))
    parser.add_argument("--naive-frames", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=4, help="length factor of the long video")
    parser.add_argument("--out", help="also append the JSON lines to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run all modes and print JSON lines.

    Args:
        argv: command-line arguments (``sys.argv[1:]`` when None).

    Returns:
        Process exit status.
    """
    args = build_parser().parse_args(argv)
    if args.worker:
        _worker(args)
        return 0

    info = machine()
    rows = []
    video = Path(args.video)
    for mode in ("naive", "extractor:clrnet", "extractor:all", "extractor-eager:clrnet"):
        rows.append(
            {"bench": "faces", "mode": mode, "video": video.name, **_spawn(mode, video, args)}
        )
        print(json.dumps(rows[-1]), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        long_video = repeat_video(video, Path(tmp) / "long.mp4", args.repeat)
        row = _spawn("extractor:all", long_video, args)
        rows.append(
            {"bench": "faces", "mode": f"extractor:all x{args.repeat}", "video": "long.mp4", **row}
        )
        print(json.dumps(rows[-1]), flush=True)
    naive = rows[0]["faces_per_s"]
    summary = {
        "bench": "faces",
        "mode": "summary",
        "naive_faces_per_s": naive,
        "speedup_clrnet": rows[1]["faces_per_s"] / naive,
        "speedup_all_frames": rows[2]["faces_per_s"] / naive,
        "compiled_over_eager_mtcnn": rows[1]["faces_per_s"] / rows[3]["faces_per_s"],
        "peak_rss_mib_short": rows[2]["peak_rss_mib"],
        "peak_rss_mib_long": rows[4]["peak_rss_mib"],
        "long_over_short_frames": rows[4]["frames"] / max(rows[2]["frames"], 1),
        "target_speedup": 10.0,
        "machine": info,
    }
    rows.append(summary)
    print(json.dumps(summary), flush=True)
    if args.out:
        with open(args.out, "a") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
