"""Smoke run of every table script in its FULL profile on a small FF++-layout fixture, on CPU.

``python -m experiments.smoke --out DIR`` builds a fixture with the mini benchmark generator
(:func:`data_prep.synth.generate`: 14 videos per method, 20 frames each, c23 and c40, an
in-the-wild folder), lays it out as the full protocol needs it, then runs every table script
with ``--profile full --max-steps N --max-batch B``: every cell of the papers' protocol with the
full-size models at their official input sizes, for N training steps of at most B samples, end
to end to the table. The cells' settings stay the protocol's; the caps are recorded in each
run record and the titles say "smoke run". The numbers mean nothing.

What the fixture adds to the generator's output, so that the full protocol's split rules and
datasets find data:

* the FF++ pairs are re-split (5 train, 1 val, 1 test: 10 training videos per class, the
  protocol's K = 10 of transfer learning) and their numbers renamed into the ranges of split
  rule ``tariq_ffpp`` (000-..., 750-..., 875-...), the split JSON rewritten to match;
* the DeepFakeDetection videos are copied under two more scene names (three times the
  generated DFD videos per class, so that rule ``tariq_dfd`` has videos in every split);
* ``celebdf/`` and ``dfdc_preview/`` hold copies of fixture videos in the Celeb-DF v2 and DFDC
  preview layouts (the ``--celebdf`` and ``--dfdc`` tables);
* ``densenet121.weights.h5``: randomly initialised DenseNet-121 weights in Keras' file format,
  passed as ``--densenet-weights`` so that the ImageNet-initialised cells load a local file
  (nothing is downloaded).

Each table's ``runs/`` folder is deleted when the table is done (CLRNet-50 checkpoints are
about 1 GB each). ``summary.json`` in ``--out`` lists each table's exit code and seconds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

TABLES = ("table3_in_domain", "table4_out_of_domain", "table5_transfer", "table6_open_domain",
          "cam_figure", "twobranch_table1_ablation", "twobranch_table2_ffpp",
          "twobranch_table3_celebdf", "twobranch_table4_ffpp_dfdc", "twobranch_figures")
RANGES = {"train": 0, "val": 750, "test": 875}


def _rename_ffpp(root: Path) -> None:
    """Re-split the FF++ pairs (all but two train, one val, one test) and move their ids into
    the ``tariq_ffpp`` ranges of that split, so that both split rules agree (JSON rewritten)."""
    pairs = sorted(tuple(p) for s in RANGES
                   for p in json.loads((root / "splits" / f"{s}.json").read_text()))
    splits = {"train": pairs[:-2], "val": pairs[-2:-1], "test": pairs[-1:]}
    mapping: dict[str, str] = {}
    for split, chosen in splits.items():
        ids = [i for pair in chosen for i in pair]
        mapping.update({old: f"{RANGES[split] + k:03d}" for k, old in enumerate(ids)})
    for folder in sorted(root.glob("*_sequences/*/*/videos")):
        if folder.parts[-3] in ("actors", "DeepFakeDetection"):
            continue
        for path in sorted(folder.glob("*.mp4")):
            new = "_".join(mapping[i] for i in path.stem.split("_"))
            path.rename(path.with_name(f".{new}.mp4"))
        for path in sorted(folder.glob(".*.mp4")):
            path.rename(path.with_name(path.name[1:]))
    for split, chosen in splits.items():
        (root / "splits" / f"{split}.json").write_text(
            json.dumps([[mapping[a], mapping[b]] for a, b in chosen]) + "\n")


def _more_dfd(root: Path, copies: int = 2) -> None:
    """Copy every DFD video under ``copies`` more scene names (same actors, same pairing)."""
    for folder in sorted(root.glob("*_sequences/*/*/videos")):
        if folder.parts[-3] not in ("actors", "DeepFakeDetection"):
            continue
        for path in sorted(folder.glob("*.mp4")):
            head, _, rest = path.stem.partition("__")
            scene, _, tail = rest.partition("__")
            for k in range(copies):
                name = f"{head}__{scene}copy{k}" + (f"__{tail}" if tail else "") + ".mp4"
                shutil.copy2(path, folder / name)


def _celebdf(root: Path, out: Path) -> Path:
    wild = root / "in_the_wild"
    lines = []
    for folder, kind, label in (("Celeb-real", "real", 1), ("Celeb-synthesis", "fake", 0)):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for path in sorted((wild / kind).glob("*.mp4")):
            shutil.copy2(path, out / folder / path.name)
            lines.append(f"{label} {folder}/{path.name}")
    (out / "List_of_testing_videos.txt").write_text("\n".join(lines) + "\n")
    return out


def _dfdc(root: Path, out: Path, per_class: int = 6) -> Path:
    reals = sorted((root / "original_sequences/youtube/c23/videos").glob("*.mp4"))[:per_class]
    fakes = sorted((root / "manipulated_sequences/Deepfakes/c23/videos").glob("*.mp4"))[:per_class]
    meta = {}
    for folder, label, paths in (("original_videos", "real", reals), ("method_A", "fake", fakes)):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for k, path in enumerate(paths):
            rel = f"{folder}/{label}_{k:02d}.mp4"
            shutil.copy2(path, out / rel)
            meta[rel] = {"label": label, "set": "test" if k == len(paths) - 1 else "train"}
    (out / "dataset.json").write_text(json.dumps(meta, indent=1) + "\n")
    return out


def build_fixture(out: str | Path, *, videos_per_method: int = 14, frames: int = 20,
                  progress: bool = False) -> dict[str, Path]:
    """Build (once) the full-protocol smoke fixture under ``out``.

    Args:
        out: fixture folder (reused when ``done.json`` is there).
        videos_per_method: FF++ originals and fakes per method (14: 10 training videos per
            class, the protocol's K of transfer learning, plus one val and one test pair).
        frames: frames per video (20: one 20-frame CNN+LSTM clip, four 5-frame clips).
        progress: show the generator's progress bar.

    Returns:
        ``{"data", "wild", "celebdf", "dfdc", "densenet"}`` paths.
    """
    out = Path(out)
    paths = {"data": out / "ffpp", "wild": out / "ffpp" / "in_the_wild",
             "celebdf": out / "celebdf", "dfdc": out / "dfdc_preview",
             "densenet": out / "densenet121.weights.h5"}
    if (out / "done.json").exists():
        return paths
    from data_prep.synth import generate

    if out.exists():
        shutil.rmtree(out)
    generate(paths["data"], videos_per_method=videos_per_method, frames=frames, c40=True,
             wild=True, progress=progress)
    _rename_ffpp(paths["data"])
    _more_dfd(paths["data"])
    _celebdf(paths["data"], paths["celebdf"])
    _dfdc(paths["data"], paths["dfdc"])
    import keras

    keras.applications.DenseNet121(weights=None, include_top=False,
                                   input_shape=(224, 224, 3)).save_weights(paths["densenet"])
    (out / "done.json").write_text(json.dumps({k: str(v) for k, v in paths.items()}) + "\n")
    return paths


def table_argv(table: str, paths: dict[str, Path], out: Path, work: Path, max_steps: int,
               max_batch: int) -> list[str]:
    """The full-profile smoke command line of one table script."""
    argv = ["--profile", "full", "--data", str(paths["data"]), "--out", str(out / table),
            "--work", str(work), "--max-steps", str(max_steps), "--max-batch", str(max_batch),
            "--no-progress"]
    if table in ("table4_out_of_domain", "table6_open_domain", "cam_figure"):
        argv += ["--wild", str(paths["wild"])]
    if table in ("table3_in_domain", "twobranch_table4_ffpp_dfdc"):
        argv += ["--dfdc", str(paths["dfdc"])]
    if table == "twobranch_table3_celebdf":
        argv += ["--celebdf", str(paths["celebdf"])]
    if table.startswith("twobranch_"):
        argv += ["--densenet-weights", str(paths["densenet"])]
    return argv


def main(argv: list[str] | None = None) -> int:
    """``python -m experiments.smoke``: build the fixture, run the tables, write summary.json.

    Returns:
        0 when every table exited 0, else 1.
    """
    import importlib

    p = argparse.ArgumentParser(prog="python -m experiments.smoke", description=__doc__.split(
        "\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for fixture and results")
    p.add_argument("--tables", nargs="+", default=list(TABLES), choices=TABLES)
    p.add_argument("--max-steps", type=int, default=1)
    p.add_argument("--max-batch", type=int, default=1)
    p.add_argument("--keep-runs", action="store_true", help="keep each table's runs/ folder")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    paths = build_fixture(args.out / "fixture")
    summary = {"fixture_seconds": round(time.perf_counter() - t0, 1), "tables": {}}
    for table in args.tables:
        t1 = time.perf_counter()
        mod = importlib.import_module(f"experiments.{table}")
        code = mod.main(table_argv(table, paths, args.out / "results", args.out / "_prepared",
                                   args.max_steps, args.max_batch))
        summary["tables"][table] = {"exit": code, "seconds": round(time.perf_counter() - t1, 1)}
        if not args.keep_runs:
            shutil.rmtree(args.out / "results" / table / "runs", ignore_errors=True)
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(f"smoke: {table} exit {code} in {summary['tables'][table]['seconds']} s",
              file=sys.stderr)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if all(t["exit"] == 0 for t in summary["tables"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
