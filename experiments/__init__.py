"""Paper tables and figures of CLRNet (Tariq et al., WWW'21) and Masi et al. (ECCV'20).

``metrics`` (every metric of both papers, tested against scikit-learn), ``harness`` (profiles,
datasets by name, resumable cells, outputs), ``paper_tables`` (published numbers as data),
``figures`` (shared plots) and one script per table: see ``experiments/README.md``.
Importing this package is light (no TensorFlow).
"""
