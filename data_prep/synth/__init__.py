"""Built-in mini benchmark generator: a small synthetic stand-in in the FaceForensics++ layout.

``python -m data_prep.synth --out DIR`` (or :func:`generate`) writes real clips animated from real
faces and five stand-in manipulations in the exact FF++ layout, plus an in-the-wild folder, so
every experiment script runs end to end without the gated datasets. Anything reported on it must
carry :data:`MINI_BENCHMARK_LABEL`. :func:`ensure_mini_benchmark` builds the default tree once
into a cache folder.
"""

from data_prep.synth.faces_source import SynthError
from data_prep.synth.layout import (
    ALL_METHODS,
    GENERATOR_VERSION,
    MINI_BENCHMARK_LABEL,
    default_cache_dir,
    ensure_mini_benchmark,
    generate,
    is_mini_benchmark,
    read_marker,
)

__all__ = ["ALL_METHODS", "GENERATOR_VERSION", "MINI_BENCHMARK_LABEL", "SynthError",
           "default_cache_dir", "ensure_mini_benchmark", "generate", "is_mini_benchmark",
           "read_marker"]
