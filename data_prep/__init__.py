"""Video in, TFRecords of aligned face clips out (no model code here)."""
