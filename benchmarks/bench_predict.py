"""Wall time, CPU time, real-time factor and peak memory of ``python -m clrnet.predict``.

Two suites, each measurement in a fresh subprocess (so imports, peak RSS and thread pools never
leak between them), each row a JSON line with the load average before and after:

**mesonet** (the default model, the MesoNet authors' MesoInception4, 32 frames per video) on
``data_prep/media/webcam_hello.mp4`` (8.3 s of 1280x720 at 30 fps) and on a video ``--repeat``
times longer made by concatenating it (written with OpenCV, mp4v, to ``--tmp``):

* ``predict``: in-process, after imports and model loading: the first video call (includes
  MTCNN/model warm-up) and a second, warm call on the same video. Wall seconds, CPU seconds
  (user + sys of the process during the call: less sensitive to other processes on a shared
  machine), real-time factor = video duration / wall, and peak RSS.
* ``cli``: the whole ``python -m clrnet.predict VIDEO`` command (TensorFlow import, model load,
  one video), timed from outside.

**clrnet50**: a full-size CLRNet-50 (``clrnet.registry.build_model("clrnet")``: 5 x 240 x 240
clips, 248 M weights, a 994 MB ``.keras`` file) saved once into ``--tmp``, and a video
``--clrnet-repeat`` (7) times the webcam video, 58.1 s of 720p:

* ``load``: ``keras.models.load_model`` and ``clrnet.registry.load_model`` (which skips the
  random initializers the saved weights replace, :mod:`clrnet.fast_load`) on that file, each in
  its own process: wall and CPU seconds.
* ``cli_clrnet50``: the whole ``python -m clrnet.predict LONG.mp4 --model clrnet50.keras``
  command: whole-process real-time factor (video seconds / wall seconds, start-up and load
  included), CPU seconds of the process (user + sys) and the JSON's timings (model load,
  warm-up, decoding + detection, model).
* ``folder_clrnet50``: the same command on a folder of ``--folder`` copies of the long video: the
  warm per-video factor = video seconds / the mean interval between successive result lines
  after the first (what a long folder run sustains).

**swaps** (``--suite swaps``, not part of ``all``): the four packaged MesoNet weight files on face
swaps made from the real webcam video (:func:`swaps_suite`), the numbers of their registry
caveats.

Prints one JSON line per measurement plus a machine row (:func:`benchmarks.common.machine_info`:
CPU model and flags, cores, load average, versions). No paper is followed; the targets (faster
than real time on 2 cores, memory flat in video length; >= 4x whole-process and >= 6x warm for
CLRNet-50 on a 58-s 720p video) are the project's.

Usage::

    python -m benchmarks predict                       # both suites (what the lead re-runs)
    python -m benchmarks.bench_predict --suite clrnet50 --folder 3 --out predict.jsonl
    python -m benchmarks.bench_predict --suite mesonet --repeat 4

Measured 2026-11-22, mesonet suite (2 CPU cores shared with other jobs: load average 7.4 in run
A, 10.2 in run B; default model, 32 frames; "warm" = second video in the same process):

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
29.3 s (B).

Measured 2026-12-01, clrnet50 suite, AMD EPYC (2 cores, AVX2/FMA, no AVX512, no
AVX512-BF16/AMX, so ``--precision auto`` is float32 there), float32, 16 clips x 5 frames per
video; the machine was shared (load average 2.2-3.0 in run 4, 2.7-4.1 in run 2: other jobs held
about one of the two cores, so CPU seconds are the comparable numbers). "before" = the previous
``clrnet/predict.py`` with ``keras.models.load_model`` (load average 1.2-2.7):

==========================================  ==========  =========  ==========  ===========
measurement                                 wall s      CPU s      RT factor   peak RSS MB
==========================================  ==========  =========  ==========  ===========
load, keras.models.load_model (run 4 / 2)   65.4 / 63.9 65.5/62.4  -           3016
load, clrnet.registry.load_model            6.0 / 5.6   6.0 / 5.6  -           2893
whole command, 58 s video, before           133.7       133.4      0.43x       3186
whole command, 58 s video (run 4 / 2)       71.0 / 71.8 71.4/67.1  0.82/0.81x  3300
folder of 3 x 58 s, whole (run 4 / 2)       124.6/182.1 193.5/182  1.39/0.95x  3529
folder, warm per video (run 4 / 2)          24.9 / 30.6 -          2.32/1.89x  -
==========================================  ==========  =========  ==========  ===========

What limits it here is the model's arithmetic: a CLRNet-50 clip is 147 GFLOP, 2.5-2.8 CPU s
through the traced function on this CPU (3.2 eagerly), so 16 clips are 42-51 CPU s per video;
decoding the 1743 frames (only grabbed between samples) and MTCNN on 32 anchors add ~10 CPU s.
With both cores free that bounds the warm factor at about 2.3x and the whole command (imports
~5 CPU s and the load 6 CPU s on one core, then one video's ~60 CPU s on two) at about 1.4x.
The 4x / 6x targets need about a fifth of that arithmetic: bfloat16 on AVX512-BF16/AMX
(``--precision auto``; 0.52 CPU s/clip on a 2-core AMX CPU, ``benchmarks/README.md``), a GPU,
or fewer clips (``--clips``).
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


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def timed_process(cmd: list[str]) -> dict:
    """Run ``cmd``; its wall seconds, own CPU seconds and peak RSS, stdout lines with times.

    Args:
        cmd: the command.

    Returns:
        ``rc``, ``wall_s``, ``cpu_s`` (user + sys of that process), ``user_s``, ``sys_s``,
        ``peak_rss_mb``, ``loadavg_before``/``loadavg_after``, ``lines`` (``(seconds since
        start, text)``) and ``stderr_tail``.
    """
    before = _loadavg()
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True,
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        lines = [(round(time.perf_counter() - t0, 2), line.rstrip("\n"))
                 for line in proc.stdout]
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = [ln for ln in err.read().splitlines() if ln.strip()][-3:]
    return {"rc": proc.returncode, "wall_s": round(wall, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "user_s": round(usage.ru_utime, 2), "sys_s": round(usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "loadavg_before": before,
            "loadavg_after": _loadavg(), "lines": lines, "stderr_tail": tail}


def build_clrnet50(path: Path) -> Path:
    """Save a full-size CLRNet-50 (random weights) to ``path`` once, in a subprocess."""
    if path.is_file() and path.stat().st_size > 0:
        return path
    code = ("from clrnet import registry; from clrnet.training import save_model_atomic; "
            f"save_model_atomic(registry.build_model('clrnet'), {str(path)!r})")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return path


def load_child(path: str, loader: str) -> dict:
    """Load ``path`` once with ``loader`` (``keras`` or ``registry``); time it (fresh process)."""
    t0 = time.perf_counter()
    import keras

    import clrnet.models  # noqa: F401 - registers the package's layers for plain keras
    from clrnet import registry

    t_import = time.perf_counter() - t0
    before, c0, w0 = _loadavg(), _cpu_s(), time.perf_counter()
    model = (keras.models.load_model(path) if loader == "keras"
             else registry.load_model(path))
    return {"mode": "load", "loader": f"{loader}.load_model", "model": path,
            "file_mb": round(os.path.getsize(path) / 1e6, 1),
            "params": int(model.count_params()), "import_s": round(t_import, 2),
            "wall_s": round(time.perf_counter() - w0, 2), "cpu_s": round(_cpu_s() - c0, 2),
            "loadavg_before": before, "loadavg_after": _loadavg(),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _duration(video: str) -> float:
    from data_prep.video import probe

    info = probe(video)
    return info.frame_count / info.fps


def run_cli_clrnet(video: str, model: str, precision: str, out_json: Path) -> dict:
    """The whole ``python -m clrnet.predict VIDEO --model MODEL`` command on one long video."""
    cmd = [sys.executable, "-m", "clrnet.predict", video, "--model", model, "--precision",
           precision, "--json", str(out_json)]
    run = timed_process(cmd)
    duration = _duration(video)
    row = {"mode": "cli_clrnet50", "video": video, "duration_s": round(duration, 2),
           "precision": precision, "realtime_factor": round(duration / run["wall_s"], 2),
           **{k: v for k, v in run.items() if k != "lines"},
           "result": run["lines"][-1][1] if run["lines"] else ""}
    if out_json.is_file():
        report = json.loads(out_json.read_text())
        video_rec = report["videos"][0]
        row.update(model_load_s=report["timings"]["model_load_s"],
                   warm_up_s=report["timings"].get("warm_up_s"),
                   decode_detect_s=video_rec["timings"]["decode_detect_s"],
                   model_s=video_rec["timings"]["model_s"], n_scored=video_rec["n_scored"],
                   fake_probability=video_rec["fake_probability"])
    return row


def run_folder_clrnet(video: str, copies: int, model: str, precision: str,
                      folder: Path) -> dict:
    """The command on a folder of ``copies`` links to ``video``: the warm per-video factor."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(copies):
        link = folder / f"copy{k:02d}{Path(video).suffix}"
        if not link.exists():
            os.symlink(os.path.abspath(video), link)
    out_json = folder.parent / f"{folder.name}.json"
    cmd = [sys.executable, "-m", "clrnet.predict", str(folder), "--model", model,
           "--precision", precision, "--json", str(out_json)]
    run = timed_process(cmd)
    duration = _duration(video)
    done = [t for t, line in run["lines"] if str(folder) in line and not line.startswith("model")]
    gaps = [b - a for a, b in zip(done, done[1:], strict=False)]
    row = {"mode": "folder_clrnet50", "videos": copies, "duration_s": round(duration, 2),
           "precision": precision, **{k: v for k, v in run.items() if k != "lines"},
           "result_times_s": done,
           "whole_realtime_factor": round(copies * duration / run["wall_s"], 2)}
    if gaps:
        row["warm_interval_s"] = round(sum(gaps) / len(gaps), 2)
        row["warm_realtime_factor"] = round(duration / row["warm_interval_s"], 2)
    if out_json.is_file():
        report = json.loads(out_json.read_text())
        row["per_video"] = [{k: v["timings"][k] for k in ("decode_detect_s", "model_s")}
                            for v in report["videos"]]
        row["warm_up_s"] = report["timings"].get("warm_up_s")
        row["model_load_s"] = report["timings"]["model_load_s"]
    return row


def machine() -> dict:
    """The shared machine row (:func:`benchmarks.common.machine_info`) plus OpenCV."""
    import cv2

    from benchmarks.common import machine_info

    return {"mode": "machine", **machine_info(), "opencv": cv2.__version__}


def _child_json(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_predict", *args], cwd=REPO,
                          capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
        return {"error": tail[0], "args": args}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def mesonet_suite(args: argparse.Namespace, folder: Path) -> list[dict]:
    """The default-model rows (in-process first and warm call; the whole command)."""
    rows = []
    videos = [args.video, str(make_long_video(Path(args.video), args.repeat, folder))]
    for video in videos:
        rows.append({"mode": "predict", "video": video,
                     **_child_json(["--child", video, "--model", args.model])})
        print(json.dumps(rows[-1]), flush=True)
    if not args.no_cli:
        rows.append(run_cli(args.video, args.model))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def clrnet50_suite(args: argparse.Namespace, folder: Path) -> list[dict]:
    """The CLRNet-50 rows: load before/after, whole command on 58 s, warm folder factor."""
    rows = []
    model = Path(args.clrnet_model) if args.clrnet_model else build_clrnet50(
        folder / "clrnet50_bench.keras")
    video = str(make_long_video(Path(args.video), args.clrnet_repeat, folder))
    for loader in ("keras", "registry"):
        rows.append(_child_json(["--load-child", loader, "--model", str(model)]))
        print(json.dumps(rows[-1]), flush=True)
    rows.append(run_cli_clrnet(video, str(model), args.precision, folder / "clrnet50_cli.json"))
    print(json.dumps(rows[-1]), flush=True)
    if args.folder > 0:
        rows.append(run_folder_clrnet(video, args.folder, str(model), args.precision,
                                      folder / "clrnet50_folder"))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def swaps_suite(folder: Path) -> list[dict]:
    """The four MesoNet weight files on face swaps made from the real webcam video.

    The real video is data_prep.synth's face crop of ``webcam_hello.mp4`` (249 frames), the fakes
    put the astronaut's face onto it with :func:`data_prep.synth.manipulations.identity_swap`
    (``bottleneck``: low-resolution face, the Deepfakes stand-in; ``poisson``: Poisson-blended,
    the FaceSwap stand-in); all three are written with the same encoder and scored with
    :func:`clrnet.predict.predict_video` (32 frames). These are the numbers of the packaged
    weights' registry caveats.
    """
    import numpy as np

    from clrnet.predict import load_model, make_extractor, predict_video
    from data_prep.synth.animate import Clip
    from data_prep.synth.faces_source import load_sources
    from data_prep.synth.layout import write_video
    from data_prep.synth.manipulations import identity_swap

    out = folder / "webcam_swaps"
    sources = {s.name: s for s in load_sources()}
    cam, face = sources["webcam_hello.mp4"], sources["astronaut.png"]
    n = len(cam.frames)
    target = Clip(cam.frames, cam.landmarks)
    source = Clip(np.repeat(face.frames[:1], n, 0), np.repeat(face.landmarks[:1], n, 0))
    videos = {"real_webcam.mp4": cam.frames}
    for mode in ("bottleneck", "poisson"):
        videos[f"fake_{mode}.mp4"] = identity_swap(target, source, mode, seed=0)
    for name, frames in videos.items():
        write_video(out / name, frames, fps=30.0)
    rows = []
    for model in ("mesoinception4_df", "meso4_df", "mesoinception4_f2f", "meso4_f2f"):
        loaded = load_model(model)
        extractor = make_extractor(loaded)
        scores = {name: predict_video(str(out / name), loaded, extractor).record["fake_probability"]
                  for name in videos}
        rows.append({"mode": "swaps", "model": model, "fake_probability": scores})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", choices=("all", "mesonet", "clrnet50", "swaps"), default="all",
                   help="which measurements (default all = mesonet + clrnet50; swaps: the "
                   "MesoNet weights on face swaps of the webcam video)")
    p.add_argument("--repeat", type=int, default=4, help="length factor of the long video (4)")
    p.add_argument("--model", default="mesoinception4_df", help="model of the mesonet suite")
    p.add_argument("--video", default=str(VIDEO))
    p.add_argument("--clrnet-repeat", type=int, default=7,
                   help="length factor of the clrnet50 suite's video (7: 58.1 s)")
    p.add_argument("--clrnet-model", default=None,
                   help="a CLRNet .keras to use (default: build CLRNet-50 into --tmp once)")
    p.add_argument("--folder", type=int, default=3,
                   help="copies of the long video in the folder run (3; 0 skips it)")
    p.add_argument("--precision", default="float32", help="--precision of the clrnet50 runs")
    p.add_argument("--tmp", default=None, help="folder for the videos and the model "
                   "(default: the system temp folder)")
    p.add_argument("--no-cli", action="store_true",
                   help="skip the whole-command timings (and with them the clrnet50 suite)")
    p.add_argument("--out", default=None, help="also append the JSON lines to this file")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--load-child", default=None, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark.

    Args:
        argv: command-line arguments.

    Returns:
        Exit status.
    """
    args = build_parser().parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.model)))
        return 0
    if args.load_child:
        print(json.dumps(load_child(args.model, args.load_child)))
        return 0

    folder = Path(args.tmp or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    lines = [{"mode": "machine_start", "loadavg": _loadavg()}]
    if args.suite in ("all", "mesonet"):
        lines += mesonet_suite(args, folder)
    if args.suite in ("all", "clrnet50") and not args.no_cli:
        lines += clrnet50_suite(args, folder)
    if args.suite == "swaps":
        lines += swaps_suite(folder)
    lines.append(machine())
    print(json.dumps(lines[-1]), flush=True)
    print(json.dumps(lines[0]))
    if args.out:
        with open(args.out, "a") as f:
            for line in lines:
                f.write(json.dumps(line) + "\n")
    return 0 if not any("error" in line for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
