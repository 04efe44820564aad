"""``python -m twobranch.predict``: score clips with a saved two-branch model, per clip and per video.

Takes the ``scorer.keras`` of ``python -m twobranch.train`` (output (B, 1) P(fake), centre and radii
inside; any ``head="bce"`` model also works) or an embedding checkpoint (``best.keras``) compiled with
the isolation loss (its distance to c is the score). Video-level scores are the mean of the video's
clip scores, as in Masi et al., Sec. 4 ("We used average to perform video-level evaluation").

Writes ``<out>`` (CSV: video_id, method, clip_index, label, score) and ``<out stem>_videos.csv``
(video_id, method, label, score, clips), both written atomically; prints the clip-
and video-level AUC when both classes are present.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def score_records(model, data: str, batch_size: int = 8, splits: list[str] | None = None,
                  methods: list[str] | None = None):
    """Score every clip of a TFRecord selection (:func:`clrnet.strategies.evaluation.evaluate`).

    Args:
        model: a loaded two-branch model (scorer, BCE or isolation-compiled embedding model).
        data: TFRecords (files, folder or manifest).
        batch_size: clips per batch.
        splits: keep these splits.
        methods: keep these methods.

    Returns:
        (clips, videos) pandas DataFrames; a video's score is the mean of its clips' scores.
    """
    from clrnet.aggregation import aggregate_scores
    from clrnet.strategies import DataSpec
    from clrnet.strategies.evaluation import evaluate

    spec = DataSpec(data, methods=methods, splits=splits)
    clips = evaluate(model, spec, batch_size)
    videos = aggregate_scores(clips, "video").rename(columns={"n": "clips"})
    return clips, videos


def main(argv: list[str] | None = None) -> int:
    """Entry point; bad input prints one ``error: ...`` line and returns 2."""
    p = argparse.ArgumentParser(
        prog="python -m twobranch.predict", description=__doc__.split("\n")[0],
        epilog="""examples (also installed as twobranch-predict):
  python -m twobranch.predict --model runs/two_branch-.../scorer.keras --data records \\
      --splits test --out scores.csv""",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="scorer.keras (or best.keras of an isolation run)")
    p.add_argument("--data", required=True, help="TFRecords: files, a folder or a manifest")
    p.add_argument("--out", required=True, help="clip-level CSV (video-level beside it)")
    p.add_argument("--splits", nargs="*", default=None)
    p.add_argument("--methods", nargs="*", default=None)
    p.add_argument("--batch-size", type=int, default=8)
    args = p.parse_args(argv)

    import twobranch  # noqa: F401 - registers custom objects
    from clrnet import registry
    from clrnet.errors import ClrnetError
    from data_prep.errors import DataPrepError
    from data_prep.fileio import write_csv_atomic
    from twobranch.errors import TwoBranchError

    try:
        model = registry.load_model(args.model)
        clips, videos = score_records(model, args.data, args.batch_size, args.splits, args.methods)
    except (TwoBranchError, ClrnetError, DataPrepError, ValueError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(out, clips)
    write_csv_atomic(out.with_name(out.stem + "_videos.csv"), videos)
    from clrnet.metrics import roc_auc

    for name, df in (("clip", clips), ("video", videos)):
        if df["label"].nunique() == 2:
            print(f"{name}-level AUC: {roc_auc(df['label'], df['score']):.4f} (n={len(df)})")
    print(f"wrote {out} and {out.with_name(out.stem + '_videos.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
