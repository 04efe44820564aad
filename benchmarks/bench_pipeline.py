"""Throughput of the training input pipeline alone (``data_prep.pipeline.get_dataset``).

Writes synthetic clip TFRecords (crops of the bundled ``data_prep/media/astronaut.png`` at
random offsets, so the JPEGs have natural-image statistics), then measures how many clips per
second ``get_dataset`` delivers with augmentation, after a warm-up. Prints one JSON line with
the numbers and the machine (cores, load average, CPU flags), library versions and git SHA.

Usage::

    python -m benchmarks.bench_pipeline [--clips 200] [--frames 5] [--size 240]
        [--batch 16] [--measure 400] [--variants] [--out DIR]

``--variants`` also times the pipeline without augmentation and the bare read+decode, to show
what limits throughput. No paper is followed; the project's target is >= 100 clips/s on 2 cores.

Measured (2026-11-22, 2 cores shared with other jobs, load average 8-12, 5x240x240, batch 16,
800 clips timed):

* git 3ee3fff, default run: augmented 72-73 clips/s wall, 139-145 clips per CPU-second;
* git 73bde01, ``--variants`` (load ~9): augmented 86 clips/s (140/CPU-s), augmented without
  XLA 25 clips/s (62/CPU-s), no augmentation 245 clips/s (302/CPU-s), bare read+decode
  656 clips/s (556/CPU-s).

Profile (per clip, CPU ms): JPEG decode ~2, augmentation ~3.5 (was ~27 with
``ImageProjectiveTransformV3`` and un-fused element-wise ops), float conversion and batching
~1.5. On a loaded machine the wall figure is depressed; ``cores x clips_per_cpu_s`` (~280 here)
bounds what two free cores can deliver.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def write_clips(out: Path, n_clips: int, frames: int, size: int, seed: int = 0) -> list[str]:
    """Write ``n_clips`` synthetic clips (half real, half fake) into 4 shards under ``out``.

    Args:
        out: target folder.
        n_clips: clips to write.
        frames: frames per clip.
        size: frame side in pixels.
        seed: crop-position seed.

    Returns:
        The shard paths.
    """
    import tensorflow as tf

    from data_prep.records import ClipMeta, encode_clip

    src = cv2.cvtColor(cv2.imread(str(REPO / "data_prep" / "media" / "astronaut.png")),
                       cv2.COLOR_BGR2RGB)
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    paths, per_shard = [], -(-n_clips // 4)
    for shard in range(4):
        ids = range(shard * per_shard, min(n_clips, (shard + 1) * per_shard))
        path = out / f"bench-{shard:05d}.n{len(ids):04d}.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as writer:
            for i in ids:
                crop = int(rng.integers(180, 300))
                y = int(rng.integers(0, src.shape[0] - crop - frames))
                x = int(rng.integers(0, src.shape[1] - crop - frames))
                clip = np.stack([cv2.resize(src[y + t:y + t + crop, x + t:x + t + crop], (size, size))
                                 for t in range(frames)])
                meta = ClipMeta(label=i % 2, video_id=f"v{i // 4:04d}", dataset="bench",
                                method="Deepfakes" if i % 2 else "original", split="train",
                                source_path="synthetic", clip_index=i % 4,
                                frame_indices=list(range(frames)))
                writer.write(encode_clip(clip, meta))
        paths.append(str(path))
    return paths


def measure(ds, n_clips: int, warmup_batches: int = 3) -> dict[str, float]:
    """Throughput after ``warmup_batches`` batches, over about ``n_clips`` clips.

    Returns:
        ``clips_per_s`` (wall clock) and ``clips_per_cpu_s`` (clips per second of this
        process's user+system CPU time: on a shared machine, ``cores x clips_per_cpu_s`` bounds
        what the same cores would deliver unloaded).
    """
    it = iter(ds)
    for _ in range(warmup_batches):
        next(it)
    n, t0, c0 = 0, time.perf_counter(), _cpu_seconds()
    while n < n_clips:
        x = next(it)[0]
        n += int(x.shape[0])
    wall, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    return {"clips_per_s": round(n / wall, 1), "clips_per_cpu_s": round(n / max(cpu, 1e-9), 1)}


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=200, help="synthetic clips to write")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--size", type=int, default=240)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--measure", type=int, default=400, help="clips timed after warm-up")
    parser.add_argument("--variants", action="store_true", help="also time no-aug and decode-only")
    parser.add_argument("--out", type=Path, default=None, help="folder for the shards (default tmp)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON line."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(REPO))
    from data_prep.pipeline import get_dataset

    out = args.out or Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    t0 = time.perf_counter()
    files = write_clips(out, args.clips, args.frames, args.size)
    write_s = time.perf_counter() - t0
    result = {"benchmark": "pipeline", "clips_written": args.clips, "frames": args.frames,
              "size": args.size, "batch": args.batch, "measured_clips": args.measure,
              "write_s": round(write_s, 2), "load_before": [round(v, 2) for v in os.getloadavg()]}

    def run(name: str, **kwargs) -> None:
        ds = get_dataset(files, args.batch, True, repeat=True, seed=0, **kwargs)
        for key, value in measure(ds, args.measure).items():
            result[f"{name}_{key}"] = value

    run("augmented")
    if args.variants:
        run("augmented_nojit", jit_augment=False)
        run("no_augment", augment=False)
        import tensorflow as tf

        from data_prep.records import parse_clip
        raw = (tf.data.TFRecordDataset(files).repeat()
               .map(lambda s: tf.stack([tf.io.decode_jpeg(parse_clip(s)["frames"][i], channels=3)
                                        for i in range(args.frames)]),
                    num_parallel_calls=tf.data.AUTOTUNE).batch(args.batch)
               .map(lambda x: (x, 0)).prefetch(tf.data.AUTOTUNE))
        for key, value in measure(raw, args.measure).items():
            result[f"read_decode_only_{key}"] = value
    from benchmarks.common import machine_info

    result.update(machine_info())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
