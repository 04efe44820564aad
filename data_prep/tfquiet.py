"""Import TensorFlow without its C++ start-up chatter on stderr.

TensorFlow 2.21 prints oneDNN/CUDA-probe lines through absl *before* ``TF_CPP_MIN_LOG_LEVEL``
takes effect, which buries the one-line output of this package's CLIs. :func:`import_quietly`
points file descriptor 2 at ``/dev/null`` while TensorFlow loads and enumerates devices, then
restores it; Python exceptions raised meanwhile still propagate and print normally.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def _stderr_silenced():
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters): do nothing
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_quietly() -> None:
    """Import TensorFlow and initialise its devices with stderr silenced (no-op if loaded)."""
    if "tensorflow" in sys.modules or os.environ.get("DEEPFAKE_REPRO_TF_VERBOSE") == "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices()
