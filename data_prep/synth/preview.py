"""Montage of one frame per method of a generated mini benchmark (``--preview``).

Row 1: a youtube original T, its four FF++ stand-in fakes ``T_S`` and the source original S.
Row 2: the amplified absolute difference |fake - original| (x4) of each FF++ fake, which shows
where each manipulation acts (it must sit on the face). Row 3: a DFD actor original and its
flickering swap, an in-the-wild real and fake. No paper is followed; this is a visual check.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from data_prep.synth.faces_source import SynthError

TILE = 256
BAR = 22


def read_frame(path: Path, index: int) -> np.ndarray | None:
    """Frame ``index`` of a video as uint8 RGB, or ``None`` if unreadable."""
    cap = cv2.VideoCapture(str(path))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
    finally:
        cap.release()
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if ok else None


def _tile(img: np.ndarray | None, text: str) -> np.ndarray:
    tile = np.full((TILE + BAR, TILE, 3), 60, np.uint8)
    if img is not None:
        h, w = img.shape[:2]
        s = TILE / max(h, w)
        small = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        y0, x0 = BAR + (TILE - small.shape[0]) // 2, (TILE - small.shape[1]) // 2
        tile[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    tile[:BAR] = 0
    cv2.putText(tile, text[:34], (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                cv2.LINE_AA)
    return tile


def make_preview(root: str | os.PathLike, out_png: str | os.PathLike | None = None,
                 frame: int | None = None) -> Path:
    """Write the montage PNG of a generated tree.

    Args:
        root: the mini benchmark root.
        out_png: output path; default ``<root>/preview.png``.
        frame: frame index shown; default the middle frame.

    Returns:
        The PNG path.

    Raises:
        SynthError: if the tree has no youtube originals.
    """
    root = Path(root)
    meta = json.loads((root / "synth_metadata.json").read_text())
    frames = int(meta["args"]["frames"])
    k = frames // 2 if frame is None else frame
    test = meta["splits"].get("test") or meta["splits"]["train"]
    a, b = test[0]
    yt = root / "original_sequences/youtube/c23/videos"
    if not (yt / f"{a}.mp4").exists():
        raise SynthError("no youtube originals to preview", yt)
    orig = read_frame(yt / f"{a}.mp4", k)
    row1 = [_tile(orig, f"original {a} (real)")]
    row2 = [_tile(None, "|fake - original| x4 ->")]
    for m in ("Deepfakes", "FaceSwap", "Face2Face", "NeuralTextures"):
        f = read_frame(root / f"manipulated_sequences/{m}/c23/videos/{a}_{b}.mp4", k)
        row1.append(_tile(f, f"{m} {a}_{b}"))
        diff = None
        if f is not None and orig is not None:
            diff = np.clip(np.abs(f.astype(np.int16) - orig) * 4, 0, 255).astype(np.uint8)
        row2.append(_tile(diff, f"diff {m}"))
    row1.append(_tile(read_frame(yt / f"{b}.mp4", k), f"source {b} (real)"))
    actors = sorted((root / "original_sequences/actors/c23/videos").glob("*.mp4"))
    dfd = sorted((root / "manipulated_sequences/DeepFakeDetection/c23/videos").glob("*.mp4"))
    wild_r = sorted((root / "in_the_wild/real").glob("*.mp4"))
    wild_f = sorted((root / "in_the_wild/fake").glob("*.mp4"))
    row3 = [_tile(read_frame(actors[0], k) if actors else None, "DFD actors original"),
            _tile(read_frame(dfd[0], k) if dfd else None, "DeepFakeDetection (flicker)"),
            _tile(read_frame(wild_r[0], k) if wild_r else None, "in the wild: real"),
            _tile(read_frame(wild_f[0], k) if wild_f else None, "in the wild: SBI+flicker")]
    if dfd:
        prev = read_frame(dfd[0], max(0, k - 1))
        cur = read_frame(dfd[0], k)
        d = None
        if prev is not None and cur is not None:
            d = np.clip(np.abs(cur.astype(np.int16) - prev) * 4, 0, 255).astype(np.uint8)
        row3.append(_tile(d, "DFD |frame k - frame k-1| x4"))
    while len(row3) < len(row1):
        row3.append(_tile(None, ""))
    row2.append(_tile(None, ""))
    montage = np.vstack([np.hstack(row1), np.hstack(row2), np.hstack(row3)])
    title = np.zeros((30, montage.shape[1], 3), np.uint8)
    cv2.putText(title, f"{meta['label']} - frame {k}", (6, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                (255, 255, 255), 1, cv2.LINE_AA)
    montage = np.vstack([title, montage])
    out = Path(out_png) if out_png is not None else root / "preview.png"
    cv2.imwrite(str(out), cv2.cvtColor(montage, cv2.COLOR_RGB2BGR))
    return out
