"""Video in, TFRecords of aligned face clips out (no model code here).

Importing the package is cheap: it does not load TensorFlow (``data_prep.fileio`` and
``data_prep.video`` never need it). Command-line entry points call
:func:`data_prep.tfquiet.import_quietly` before anything loads TensorFlow, which keeps its C++
start-up chatter off the terminal.
"""
