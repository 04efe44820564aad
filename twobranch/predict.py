"""``python -m twobranch.predict``: score clips with a saved two-branch model, per clip and per video.

Takes the ``scorer.keras`` of ``python -m twobranch.train`` (output (B, 1) P(fake), centre and radii
inside; any ``head="bce"`` model also works) or an embedding checkpoint (``best.keras``) compiled with
the isolation loss (its distance to c is the score). Video-level scores are the mean of the video's
clip scores, as in Masi et al., Sec. 4 ("We used average to perform video-level evaluation").

Writes ``<out>`` (CSV: video_id, method, clip_index, label, score) and ``<out stem>_videos.csv``
(video_id, method, label, score, clips), both through ``*.tmp`` + ``os.replace``; prints the clip-
and video-level AUC when both classes are present.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def score_records(model, data: str, batch_size: int = 8, splits: list[str] | None = None,
                  methods: list[str] | None = None):
    """Score every clip of a TFRecord selection.

    Args:
        model: a loaded two-branch model (scorer, BCE or isolation-compiled embedding model).
        data: TFRecords (files, folder or manifest).
        batch_size: clips per batch.
        splits: keep these splits.
        methods: keep these methods.

    Returns:
        (clips, videos) pandas DataFrames.
    """
    import pandas as pd

    from data_prep.pipeline import get_dataset
    from twobranch.models import fake_score

    shape = model.inputs[0].shape
    frames = int(shape[1]) if len(shape) == 5 else 1
    ds = get_dataset(data, batch_size, False, frames=frames, image_size=int(shape[-2]),
                     splits=splits, methods=methods, return_meta=True)
    rows = []
    for x, y, meta in ds:
        s = fake_score(model, x.numpy(), batch_size=batch_size)
        for i in range(len(s)):
            rows.append({"video_id": meta["video_id"][i].numpy().decode(),
                         "method": meta["method"][i].numpy().decode(),
                         "clip_index": int(meta["clip_index"][i]), "label": int(y[i]),
                         "score": float(s[i])})
    clips = pd.DataFrame(rows)
    videos = (clips.groupby(["video_id", "method", "label"], as_index=False)
              .agg(score=("score", "mean"), clips=("score", "size")))
    return clips, videos


def _write_csv(df, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """Entry point; bad input prints one ``error: ...`` line and returns 2."""
    p = argparse.ArgumentParser(prog="python -m twobranch.predict", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="scorer.keras (or best.keras of an isolation run)")
    p.add_argument("--data", required=True, help="TFRecords: files, a folder or a manifest")
    p.add_argument("--out", required=True, help="clip-level CSV (video-level beside it)")
    p.add_argument("--splits", nargs="*", default=None)
    p.add_argument("--methods", nargs="*", default=None)
    p.add_argument("--batch-size", type=int, default=8)
    args = p.parse_args(argv)

    import keras

    import twobranch  # noqa: F401 - registers custom objects
    from data_prep.errors import DataPrepError
    from twobranch.errors import ModelFileError, TwoBranchError

    try:
        if not Path(args.model).is_file():
            raise ModelFileError(f"{args.model}: model file not found")
        try:
            model = keras.models.load_model(args.model)
        except Exception as exc:  # noqa: BLE001 - one line naming the file
            raise ModelFileError(f"{args.model}: cannot load model ({type(exc).__name__})") from None
        clips, videos = score_records(model, args.data, args.batch_size, args.splits, args.methods)
    except (TwoBranchError, DataPrepError, ValueError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_csv(clips, out)
    _write_csv(videos, out.with_name(out.stem + "_videos.csv"))
    from sklearn.metrics import roc_auc_score

    for name, df in (("clip", clips), ("video", videos)):
        if df["label"].nunique() == 2:
            print(f"{name}-level AUC: {roc_auc_score(df['label'], df['score']):.4f} (n={len(df)})")
    print(f"wrote {out} and {out.with_name(out.stem + '_videos.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
