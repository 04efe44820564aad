"""``python -m data_prep.synth``: write the mini benchmark (synthetic stand-in, not FF++).

Example::

    python -m data_prep.synth --out /tmp/mini --videos-per-method 32 --frames 48 --preview
"""

from __future__ import annotations

import argparse
import sys

from data_prep.tfquiet import import_quietly

import_quietly()  # MTCNN imports TensorFlow; keep its start-up chatter off the terminal

from data_prep.errors import DataPrepError  # noqa: E402
from data_prep.synth.layout import DEFAULTS, MINI_BENCHMARK_LABEL, generate  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(
        prog="python -m data_prep.synth",
        description="Write the mini benchmark (synthetic stand-in, not FaceForensics++) in the "
                    "FaceForensics++ layout.",
        epilog="""examples (also installed as deepfake-mini-benchmark):
  python -m data_prep.synth --out mini --preview --workers 2
  python -m data_prep.synth --out mini_c40 --c40 --videos-per-method 8""",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--faces", default=None,
                   help="folder of images/videos of real people (default: shipped media)")
    p.add_argument("--videos-per-method", type=int, default=DEFAULTS["videos_per_method"],
                   help="youtube originals and fakes per FF++ method (even, >= 4)")
    p.add_argument("--frames", type=int, default=DEFAULTS["frames"], help="frames per video")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="generator seed")
    p.add_argument("--c40", action="store_true", help="also write stronger-compression c40 copies")
    p.add_argument("--preview", action="store_true", help="write preview.png (one frame per method)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes rendering videos in parallel (same files for any number; "
                        "default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the generator; one ``error: ...`` line and exit status 2 on bad input."""
    args = build_parser().parse_args(argv)
    try:
        root = generate(args.out, faces=args.faces, videos_per_method=args.videos_per_method,
                        frames=args.frames, seed=args.seed, c40=args.c40, preview=args.preview,
                        progress=not args.quiet, workers=args.workers)
    except DataPrepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote the {MINI_BENCHMARK_LABEL} to {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
