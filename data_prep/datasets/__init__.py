"""Dataset adapters: a dataset root in its published layout -> sorted :class:`VideoEntry` list.

Usage::

    from data_prep.datasets import get_adapter
    videos = get_adapter("ffpp").list_videos(root, split="train", methods=["original", "Deepfakes"])

Every adapter has ``list_videos(root, split=None, methods=None, compression="c23")`` and raises
:class:`~data_prep.errors.DatasetLayoutError` (naming the root and what was expected) for an
empty or mis-laid root. Labels: fake = 1, real = 0.

The split an adapter gives (the dataset's official one, or a hash split where there is none) is
the one stored in the extracted records. A protocol that splits the same videos differently
(the CLRNet paper's 750/125/125 FF++ split, its random DFD and balanced DFDC splits) does so
when the records are read, by a rule of :mod:`data_prep.splits`, so one extraction serves every
table.
"""

from __future__ import annotations

from data_prep.datasets import celebdf, dfdc_preview, ffpp, folder
from data_prep.datasets.base import SPLITS, Adapter, VideoEntry, hash_split, stable_hash

ADAPTERS: dict[str, Adapter] = {
    "ffpp": ffpp.ADAPTER,
    "celebdf": celebdf.ADAPTER,
    "dfdc_preview": dfdc_preview.ADAPTER,
    "folder": folder.ADAPTER,
}


def get_adapter(name: str) -> Adapter:
    """The adapter registered under ``name``.

    Raises:
        KeyError: for an unknown name (the message lists the known ones).
    """
    try:
        return ADAPTERS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; expected one of {sorted(ADAPTERS)}") from None


__all__ = ["ADAPTERS", "SPLITS", "Adapter", "VideoEntry", "get_adapter", "hash_split", "stable_hash"]
