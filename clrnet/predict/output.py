"""What ``clrnet.predict`` writes: the JSON report, the CSV of per-unit scores, the table lines.

Files are written atomically (:mod:`data_prep.fileio`). The JSON's ``model`` block and every CSV
row carry the model's provenance (``trained_on``, ``weights_source``, ``caveat``), so a score is
never separated from what its model was trained on.
"""

from __future__ import annotations

import json
import os
from typing import Any

from data_prep.fileio import write_csv_atomic, write_text_atomic

__all__ = ["CSV_COLUMNS", "format_line", "model_line", "write_csv", "write_json"]

CSV_COLUMNS = ("path", "status", "message", "video_fake_probability", "verdict", "track_id",
               "unit", "frames", "box_frames", "score", "model", "trained_on", "weights_source",
               "caveat")


def write_json(path: str | os.PathLike, report: dict[str, Any]) -> None:
    """Write the full report (model, threshold, aggregation, videos) atomically.

    Args:
        path: destination ``.json``.
        report: the report dict built by :func:`clrnet.predict.cli.main`.
    """
    write_text_atomic(path, json.dumps(report, indent=1) + "\n")


def csv_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per clip/frame score (one row with an empty score for a video without any)."""
    model = report["model"]
    rows = []
    for v in report["videos"]:
        base = {"path": v["path"], "status": v["status"], "message": v["message"] or "",
                "video_fake_probability": v["fake_probability"], "verdict": v["verdict"] or "",
                "model": model["name"], "trained_on": model.get("trained_on", ""),
                "weights_source": model.get("weights_source", ""),
                "caveat": model.get("caveat", "")}
        if not v["scores"]:
            rows.append({**base, "track_id": "", "unit": "", "frames": "", "box_frames": "",
                         "score": ""})
        for k, s in enumerate(v["scores"]):
            rows.append({**base, "track_id": s["track_id"], "unit": k,
                         "frames": " ".join(map(str, s["frames"])),
                         "box_frames": " ".join(map(str, s["box_frames"])),
                         "score": s["score"]})
    return rows


def write_csv(path: str | os.PathLike, report: dict[str, Any]) -> None:
    """Write :func:`csv_rows` with the columns :data:`CSV_COLUMNS`, atomically.

    Args:
        path: destination ``.csv``.
        report: the report dict built by :func:`clrnet.predict.cli.main`.
    """
    write_csv_atomic(path, csv_rows(report), CSV_COLUMNS)


def model_line(info: dict[str, Any], sampling: str) -> str:
    """The header line: model, what it was trained on, input and sampling, then the caveat.

    Args:
        info: :meth:`clrnet.predict.loading.LoadedModel.info`.
        sampling: e.g. ``"32 frames per video, mean aggregation, threshold 0.5"``.

    Returns:
        One line, or two when the model has a caveat (the second starts with ``"caveat: "``).
    """
    shape = info["input"]["shape"]
    h, w = shape[-3], shape[-2]
    line = (f"model: {info['name']} - trained on: {info['trained_on']} - input {h}x{w} "
            f"({sampling})")
    if info.get("caveat"):
        line += f"\ncaveat: {info['caveat']}"
    return line


def format_line(rec: dict[str, Any], kind: str) -> str:
    """One table line: verdict, P(fake), units scored, frames with a face/decoded, seconds, path.

    Args:
        rec: a video record.
        kind: ``"frame"`` or ``"clip"`` (names the unit).

    Returns:
        The line (no newline).
    """
    unit = "frames" if kind == "frame" else "clips"
    if rec["status"] == "ok":
        head = f"{rec['verdict']:<8}{rec['fake_probability']:>7.3f}"
    else:
        head = f"{'NO FACE' if rec['status'] == 'no_face' else 'ERROR':<8}{'-':>7}"
    scored = f"{rec['n_scored']} {unit}"
    faces = f"{rec['frames_with_face']}/{rec['frames_sampled']}"
    took = rec["timings"].get("total_s")
    took = f"{took:5.1f} s" if took is not None else "      "
    line = f"{head}  {scored:<11} {faces:>7}  {took}  {rec['path']}"
    if rec["message"]:
        line += f"  [{rec['message']}]"
    return line
