"""Masi et al.'s models in the registry (:mod:`clrnet.registry`); importing this registers them.

* ``two_branch``: the full recurrent network, 10 x 224 x 224 sequences -> 256-d embedding
  (Sec. 3.1, Fig. 2), trained with the isolation loss (Sec. 3.3); Adam, global rate 1e-3,
  weight decay 1e-6, rate divided by 10 three times on a plateau of the validation loss
  (Sec. 4, "Implementation and Hyper-Parameters"). The paper states no batch size and no epoch
  count; the registry's 8 and 100 are ``python -m twobranch.train``'s defaults.
* ``two_branch_frame``: the single-frame ablation of Table 1 (no LSTM), 1024-d embedding.

No data augmentation (``augment=False``): the paper names it future work (Sec. 5, "we plan to
measure the impact of data augmentation").

At inference a video gives 8 sequences of 10 frames taken one frame in seven (Sec. 4: "at
inference time we take 1 frame over 7 to build the sequence").

Both output embeddings; ``to_scorer`` wraps a trained model with the centre c and radii of the
isolation loss it was compiled with (:func:`twobranch.models.scorer_from_compiled`), so the
framework scores them as P(fake) like any other model. No official code exists; the network is
re-derived from the paper (see :mod:`twobranch.models`).
"""

from __future__ import annotations

import functools

from clrnet import registry
from twobranch.models import DEFAULTS, build_network, scorer_from_compiled

FAMILY = "twobranch"
MASI = "Masi et al., Two-branch Recurrent Network for Isolating Deepfakes in Videos, ECCV'20"


def _shape(recurrent: bool):
    def shape(size: int, clip_len: int | None) -> dict:
        return {"input_size": size, "frames": clip_len} if recurrent else {"input_size": size}
    return shape


SPECS = [
    registry.register(registry.ModelSpec(
        name=name, family=FAMILY, builder=functools.partial(build_network, name),
        kind="clip" if recurrent else "frame", input_size=224,
        clip_len=10 if recurrent else None, output="embedding", loss="isolation",
        optimizer="adam (per-block rates, '+ft')", lr=1e-3, batch_size=8, epochs=100,
        epochs_transfer=None, paper=MASI,
        source="no official code; re-derived from the paper (Sec. 3-4)",
        notes="batch size and epochs are not in the paper (this package's defaults)",
        shape_kwargs=_shape(recurrent), to_scorer=scorer_from_compiled,
        accepts=frozenset(DEFAULTS), video_units=8 if recurrent else 0,
        clip_stride=7 if recurrent else 1, augment=False))
    for name, recurrent in (("two_branch", True), ("two_branch_frame", False))
]
