"""Command line: ``python -m data_prep {extract,list,merge-manifests} ...``.

``extract`` turns a dataset (in its published layout) into TFRecord shards of aligned face clips
plus a manifest (see :mod:`data_prep.extract`); ``list`` shows what an adapter finds, per method
and split, without decoding anything; ``merge-manifests`` combines the per-shard manifests of a
``--shard i/N`` job array. Bad input gives one ``error: ...`` line on stderr and a non-zero exit.

Exit status of ``extract``: 0 when every selected video is done (``ok`` or ``no_face``, this run
or an earlier one), 1 when every video processed in this run failed, 2 for bad arguments or an
empty / mis-laid dataset root, 3 when another run is extracting the same shard into the same
output folder (one line names it: pid, host, start time, command; see
:mod:`data_prep.locking`). ``merge-manifests`` also exits 3 while a whole-dataset extraction
writes the manifest it would write.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter

from data_prep.datasets import ADAPTERS, get_adapter
from data_prep.errors import DataPrepError
from data_prep.extract import SAMPLINGS
from data_prep.locking import LockHeldError

EPILOG = """examples (also installed as deepfake-data):
  python -m data_prep extract --dataset ffpp --root /data/FF++ --out records --methods original Deepfakes
  python -m data_prep extract --dataset celebdf --root /data/Celeb-DF-v2 --out records --split test \\
      --clip-len 10 --sampling masi --size 224
  python -m data_prep extract --dataset ffpp --root /data/FF++ --out masi_train --sampling masi_train \\
      --clip-len 10 --clips-per-video 27 --size 224      # Masi et al.: 270 training frames per video
  python -m data_prep extract --dataset ffpp --root /data/FF++ --out masi_eval --sampling masi_eval \\
      --clip-len 110 --clips-per-video 1 --size 224      # 110 val/test frames, 1 frame in 7
  python -m data_prep extract --dataset folder --root my_videos/ --out records --shard 3/8
  python -m data_prep merge-manifests --out records
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m data_prep``."""
    parser = argparse.ArgumentParser(prog="python -m data_prep", description=__doc__.split("\n")[0],
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    datasets = ", ".join(f"{name} ({a.description})" for name, a in ADAPTERS.items())

    ext = sub.add_parser("extract", help="extract aligned face clips to TFRecords",
                         description="Extract aligned face clips of a dataset into TFRecord shards "
                                     "and a manifest; re-running resumes. Datasets: " + datasets,
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_selection(ext)
    ext.add_argument("--out", required=True, help="output folder (records in OUT/<dataset>/...)")
    ext.add_argument("--clip-len", type=int, default=5, help="frames per clip (default 5; Masi: 10)")
    ext.add_argument("--clips-per-video", type=int, default=16, help="clips per video (default 16)")
    ext.add_argument("--sampling", choices=SAMPLINGS, default="clrnet",
                     help="clrnet: consecutive clips from the start; masi: non-overlapping "
                          "windows spread over the video; masi_train: clips-per-video x "
                          "clip-len frames evenly spaced (Masi et al.: 27 x 10 = 270); "
                          "masi_eval: one record of 1 frame in 7, at most clip-len (110); "
                          "even: clips spread evenly")
    ext.add_argument("--size", type=int, default=240, help="aligned crop side (default 240)")
    ext.add_argument("--margin", type=float, default=1.3, help="crop margin (default 1.3)")
    ext.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    ext.add_argument("--shard", default="0/1",
                     help="i/N: process only videos whose stable hash %% N == i (job arrays)")
    ext.add_argument("--limit", type=int, default=None, help="at most N videos (smoke runs)")
    ext.add_argument("--retry-errors", action="store_true",
                     help="also redo videos that failed in an earlier run")
    ext.add_argument("--no-progress", action="store_true", help="no progress bar")

    lst = sub.add_parser("list", help="list the videos an adapter finds (counts per method/split)")
    _add_selection(lst)
    lst.add_argument("--videos", action="store_true", help="print one line per video")

    merge = sub.add_parser("merge-manifests", help="merge per-shard manifests of OUT")
    merge.add_argument("--out", required=True, help="the extraction output folder")
    merge.add_argument("--dataset", choices=sorted(ADAPTERS), default=None)
    return parser


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=sorted(ADAPTERS))
    parser.add_argument("--root", required=True, help="dataset root in its published layout")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="methods to keep (e.g. original Deepfakes; aliases df f2f fs nt dfd)")
    parser.add_argument("--compression", default="c23", choices=("c0", "raw", "c23", "c40"),
                        help="FF++ compression (default c23; ignored by other datasets)")
    parser.add_argument("--split", nargs="+", default=None, choices=("train", "val", "test"),
                        help="splits to keep (default all)")


def _extract(args: argparse.Namespace) -> int:
    from data_prep.extract import run_extraction

    result = run_extraction(args.dataset, args.root, args.out, methods=args.methods,
                            compression=args.compression, splits=args.split,
                            clip_len=args.clip_len, clips_per_video=args.clips_per_video,
                            sampling=args.sampling, size=args.size, margin=args.margin,
                            workers=args.workers, shard=args.shard, limit=args.limit,
                            progress=not args.no_progress, retry_errors=args.retry_errors)
    counts = result.counts
    print(f"{result.selected} videos selected, {result.skipped} already done; this run: "
          f"{counts['ok']} ok, {counts['no_face']} no_face, {counts['error']} error; "
          f"manifest {result.manifest}")
    processed = sum(counts.values())
    if processed and counts["error"] == processed:
        print(f"error: all {processed} videos failed (see {result.manifest})", file=sys.stderr)
        return 1
    return 0


def _list(args: argparse.Namespace) -> int:
    entries = get_adapter(args.dataset).list_videos(args.root, split=args.split,
                                                    methods=args.methods,
                                                    compression=args.compression)
    if args.videos:
        for e in entries:
            print(f"{e.split}\t{e.method}\t{e.label}\t{e.video_id}\t{e.path}")
    counts = Counter((e.method, e.split, e.label) for e in entries)
    for (method, split, label), n in sorted(counts.items()):
        print(f"{method:>20} {split:>5} {'fake' if label else 'real'}: {n}")
    print(f"total: {len(entries)} videos")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from data_prep.extract import merge_manifests

    for path in merge_manifests(args.out, args.dataset):
        print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    commands = {"extract": _extract, "list": _list, "merge-manifests": _merge}
    try:
        if args.command == "merge-manifests":  # (extract loads TensorFlow after its lock)
            from data_prep.tfquiet import import_quietly

            import_quietly()  # keep TensorFlow's start-up chatter off the one-line output
        return commands[args.command](args)
    except LockHeldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except (DataPrepError, ValueError, KeyError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
