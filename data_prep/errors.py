"""Exceptions raised by ``data_prep`` for bad input.

Every exception carries a one-line message that names the offending path, so a CLI can catch
:class:`DataPrepError`, print ``error: <message>`` to stderr and exit non-zero without a
traceback. No paper or official file is followed here; this is project plumbing.
"""

from __future__ import annotations

import os


class DataPrepError(Exception):
    """Base class for data-preparation errors.

    Args:
        message: what went wrong. Newlines are collapsed so ``str(e)`` is always one line.
        path: the file or folder concerned. Appended as ``"<message>: <path>"`` unless the
            message already contains it. Defaults to ``None``.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None) -> None:
        self.path = None if path is None else os.fspath(path)
        text = " ".join(str(message).split())
        if self.path is not None and self.path not in text:
            text = f"{text}: {self.path}"
        self.message = text
        super().__init__(text)

    def __str__(self) -> str:
        return self.message


class VideoError(DataPrepError):
    """A video is missing, unreadable, corrupt or has no decodable frame."""


class NoFaceError(DataPrepError):
    """No face was found anywhere in a video (raised by higher-level callers, not the extractor)."""


class DatasetLayoutError(DataPrepError):
    """A dataset root is empty or not laid out as its adapter expects."""
