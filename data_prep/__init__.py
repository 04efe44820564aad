"""Video in, TFRecords of aligned face clips out (no model code here)."""

from data_prep.tfquiet import import_quietly

import_quietly()
