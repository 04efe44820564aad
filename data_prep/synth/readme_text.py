"""The README written inside every generated mini benchmark (what each folder really holds).

No paper is followed; the text states where the stand-in differs from FaceForensics++.
"""

from __future__ import annotations

import json

_TEMPLATE = """# {label}

This folder was written by `python -m data_prep.synth` (deepfake-repro, generator version
{version}). It is laid out exactly like FaceForensics++ (FF++) so that every adapter and
experiment script of the package runs on it, but **it is not FaceForensics++**. Any number
measured on it must be reported as "{label}". It exists so the package can be run end to end
without the gated datasets (FF++, Celeb-DF, DFDC need request forms); its numbers say nothing
about performance on real deepfakes.

## Real face material and pseudo-identities

Face sources used: {sources}.

By default these are the two real recordings shipped in `data_prep/media`:
`astronaut.png` (NASA portrait of Eileen Collins, public domain, via scikit-image) and
`webcam_hello.mp4` (webcam inset of a screen recording, (c) 2019-2020 Joao Eriberto Mota Filho,
CC-BY-SA-4.0, Debian package `forensics-samples-files`). Videos derived from the CC-BY-SA-4.0
file carry the same licence and attribution. With `--faces` the files of that folder are used.

Two real people cannot give hundreds of identities, so every "person" here is a
**pseudo-identity**: one real face source with a fixed transform (mirroring, face-shape stretch
of up to about 12%, recolouring: RGB gains, hue, saturation, gamma; for a video source its own
stretch of the video and playback rate). Pseudo-identities built on the same real person are the
same person rendered differently, not different people. MTCNN 5-point landmarks are detected once
per source image / key frame (and interpolated in between), never per generated frame.

Every real clip is the source aligned to a face template (5-point similarity), then animated
like a camera: smooth shake, zoom and small rotations, lighting drift (global gain and a moving
light gradient), Gaussian sensor noise (sigma 2 levels), and codec compression.

## Folders and what each "method" really is

| folder | label | what it really is |
|---|---|---|
| `original_sequences/youtube/c23/videos/NNN.mp4` | real | animated real clip of pseudo-identity NNN |
| `manipulated_sequences/Deepfakes/...` `T_S.mp4` | fake | identity swap: face of S aligned to T's 5 landmarks, pushed through a 40-px low-resolution bottleneck (blur and up-sampling artefacts, as in face-warping-artefact work, Li & Lyu, CVPRW 2019), Lab colour transfer at 75% strength (Reinhard et al. 2001; the rest of the colour mismatch is left, as imperfect colour correction does), feathered elliptical mask |
| `manipulated_sequences/FaceSwap/...` | fake | identity swap at full resolution with colour transfer and Poisson blending (Perez et al. 2003, `cv2.seamlessClone`) |
| `manipulated_sequences/Face2Face/...` | fake | reenactment: T keeps its identity; mouth opening/smile, blinks and brow raise driven by S's expression track through piecewise-affine (triangle) warps of control points around the inner landmarks, plus a painted mouth interior |
| `manipulated_sequences/NeuralTextures/...` | fake | reenactment of the mouth only (weaker) plus an edge-preserving re-texturing of the mouth region, like a neural re-rendering of the mouth |
| `original_sequences/actors/c23/videos/AA__scene.mp4` | real | actors: one pseudo-identity per actor, two "scenes" = other camera/lighting/time in the source |
| `manipulated_sequences/DeepFakeDetection/...` `AA_BB__scene__SYNTHNNN.mp4` | fake | identity swap whose mask position/size and colour correction are jittered independently every frame: temporal flicker, the inconsistency a temporal model (CLRNet) should catch |
| `in_the_wild/real/*.mp4` | real | other pseudo-identities, 320x240, stronger hand-held shake, more noise |
| `in_the_wild/fake/*.mp4` | fake | a method none of the five uses: Self-Blended Images (Shiohara & Yamasaki, CVPR 2022; a frame blended with a colour- and frequency-altered, slightly shifted copy of itself) with per-frame mask/blend flicker |

None of the real methods (autoencoders, 3D face models, neural renderers) is run. The masks are
ellipses derived from the five MTCNN points (no face contour is available).

## Splits

`splits/{{train,val,test}}.json` use the official FF++ pair format (`[["000", "001"], ...]`):
originals A, B and fakes A_B, B_A belong to the pair's split. The DFD actor ids are chosen so
that the FF++ adapter's actor hash split puts the wanted number of actors in each split, and
each DFD fake swaps in the face of another actor of the same split (AA_BB: BB's face on AA's
scene), so no held-out identity appears in training. In-the-wild videos have no split
(test-only, open-domain).

Videos per class in this build (real = fake):

| | train | val | test |
|---|---|---|---|
{split_rows}

The test split is larger than train and val **on purpose**: at the default size (generator
version 5: 60 videos per method, FF++ pairs 12 / 2 / 16, DFD actors 8 / 2 / 16, 32 in-the-wild
videos) val is as large as in version 2's default (20 videos per method: pairs 6 / 2 / 2, actors
4 / 2 / 2), the large test split narrows the bootstrap confidence intervals of the test AUC, and
train is twice version 4's (48 videos per method: pairs 6 / 2 / 16, actors 4 / 2 / 16; version 3:
32 videos per method, pairs 6 / 2 / 8, 16 in-the-wild videos). The rule
(`data_prep.synth.layout.split_sizes`): test gets a fifth of the pairs, or from 10 pairs on every
pair beyond the first eight, up to two thirds of them and at most 16; val a quarter of the
remaining pairs (rounded half up, at least one when two remain, at most as many as test and at
most two); train the rest (up to 10 pairs this is version 2's 60/20/20 split). In-the-wild: two
thirds of the videos per method, at most 32. DFD
(`actor_quota`): as many test and val actors as test and val pairs (at least two when the split
has any), two thirds of the train pairs as train actors; two scenes per actor.

## Compression

The opencv-python-headless wheel has no H.264 encoder, so every video is MPEG-4 Part 2
(`mp4v`) at OpenCV's default quality, 25 fps. `c23` is that encoding. `c40` (only with `--c40`)
is **not** H.264 CRF 40: each frame is down-scaled 2x, JPEG-compressed at quality 30 and
up-scaled back before the same `mp4v` encoding (stronger loss of detail, blocking).

## This build

Arguments: {args}

Counts: {counts}
"""


def _split_rows(split_counts: dict[str, dict[str, int]]) -> str:
    """Markdown rows: videos per class per split for FF++ (each method), DFD and in-the-wild."""
    ff = split_counts.get("ff_videos_per_class_per_method", {})
    dfd = split_counts.get("dfd_videos_per_class", {})
    wild = split_counts.get("wild_videos", {})
    rows = [f"| FF++, each method | {ff.get('train', 0)} | {ff.get('val', 0)} | "
            f"{ff.get('test', 0)} |"]
    if any(dfd.values()):
        actors = split_counts.get("dfd_actors", {})
        rows.append(f"| DeepFakeDetection ({actors.get('train', 0)} / {actors.get('val', 0)} / "
                    f"{actors.get('test', 0)} actors) | {dfd.get('train', 0)} | "
                    f"{dfd.get('val', 0)} | {dfd.get('test', 0)} |")
    if any(wild.values()):
        real, fake = wild.get("real", 0), wild.get("fake", 0)
        test = str(real) if real == fake else f"{real} real, {fake} fake"
        rows.append(f"| in the wild (no split) | - | - | {test} |")
    return "\n".join(rows)


def render_readme(args: dict, sources: list[str], counts: dict[str, int], label: str,
                  version: int, split_counts: dict[str, dict[str, int]] | None = None) -> str:
    """Fill the README template.

    Args:
        args: generator arguments.
        sources: face source file names.
        counts: video counts per kind.
        label: the reporting label.
        version: generator version.
        split_counts: pairs, actors and videos per class per split (``generate`` computes
            them; ``None`` = an empty table).

    Returns:
        Markdown text.
    """
    return _TEMPLATE.format(label=label, version=version, sources=", ".join(sources),
                            args=json.dumps(args), counts=json.dumps(counts),
                            split_rows=_split_rows(split_counts or {}))
