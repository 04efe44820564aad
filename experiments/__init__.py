"""Paper tables and figures of CLRNet (Tariq et al., WWW'21) and Masi et al. (ECCV'20).

One script per table (``python -m experiments.<table>`` or ``python experiments/<table>.py``)
over small modules: ``protocol`` (every cell's settings with sources, the quick reductions;
``experiments/PROTOCOL.md``), ``settings`` (a cell's settings as the training code takes
them), ``context`` (command line, run context, entry point), ``cells`` (resumable cells, child
processes), ``data`` (domain codes, clip extraction, selections), ``clrnet_runs`` and
``masi_runs`` (the two papers' trainings), ``results`` (rows, CSV, Markdown, PNG),
``paper_tables`` (published numbers), ``figures`` (shared plots). See ``experiments/README.md``.
Importing this package is light (no TensorFlow).
"""
