"""Published numbers of every reproduced table, as data.

Sources (read from the paper texts, values copied as printed; "±" spreads dropped):

* Tariq et al., "One Detector to Rule Them All: Towards a General Deepfake Attack Detection
  Framework" (CLRNet, WWW'21): Tables 3, 4, 5, 6 (F1 score in %).
* Masi et al., "Two-branch Recurrent Network for Isolating Deepfakes in Videos" (ECCV'20):
  Tables 1a-c, 2, 3a-b, 4a-b (AUC-type metrics and accuracies in %, log(wP) as printed).

Each table is a dict ``{(section, row, column): value}``; the table scripts look a cell up with
:func:`paper_value`. Row names are our model names where a row is a model of this package
(``clrnet``, ``mesoinception4`` = the CLRNet paper's "MesoNet", ``xception``, ``shallownet_v3``,
``dbirnn``, ``cnn_lstm``; ``two_branch`` = Masi et al.'s "Ours"); other rows keep the paper's name.
"""

from __future__ import annotations

import math

# CLRNet paper rows, paper order, mapped to registry names.
CLRNET_ROWS: dict[str, str] = {
    "cnn_lstm": "CNN+LSTM",
    "dbirnn": "DBiRNN",
    "shallownet_v3": "ShallowNet",
    "xception": "Xception",
    "mesoinception4": "MesoNet",
    "clrnet": "CLRNet (Ours)",
}


def _rows(section: str, cols: list[str], values: dict[str, list[float]]) -> dict:
    out = {}
    for row, vals in values.items():
        if len(vals) != len(cols):
            raise ValueError(f"{section}/{row}: {len(vals)} values for {len(cols)} columns")
        for col, v in zip(cols, vals, strict=True):
            out[(section, row, col)] = v
    return out


# ---- CLRNet, Table 3: in-domain (D_T = D_A), F1 %.
CLRNET_TABLE3 = _rows(
    "in-domain",
    ["DF", "FS", "DFD", "DFDC", "F2F", "NT", "Avg."],
    {
        "cnn_lstm": [78.51, 77.75, 70.31, 86.28, 71.87, 90.54, 77.80],
        "dbirnn": [80.54, 80.56, 82.45, 81.94, 73.12, 94.38, 82.21],
        "shallownet_v3": [88.97, 93.33, 73.73, 91.75, 75.26, 99.45, 87.08],
        "xception": [99.00, 99.29, 95.53, 96.50, 87.62, 99.46, 96.18],
        "mesoinception4": [99.01, 99.26, 95.37, 95.69, 99.01, 99.27, 98.38],
        "clrnet": [99.20, 99.50, 96.00, 96.76, 99.20, 99.50, 98.61],
    },
)

# ---- CLRNet, Table 4: trained on F2F, tested on the rest and DFW, F1 %.
CLRNET_TABLE4 = _rows(
    "single-domain F2F",
    ["F2F", "DF", "FS", "DFD", "NT", "DFW"],
    {
        "cnn_lstm": [71.87, 51.12, 50.45, 50.25, 46.96, 49.14],
        "dbirnn": [73.12, 53.65, 50.12, 50.86, 48.45, 49.34],
        "shallownet_v3": [75.26, 55.57, 51.37, 51.58, 47.29, 50.08],
        "xception": [87.62, 52.40, 50.10, 50.25, 50.52, 50.06],
        "mesoinception4": [99.01, 51.90, 50.43, 49.73, 50.36, 49.77],
        "clrnet": [99.20, 64.18, 52.32, 56.75, 50.60, 50.59],
    },
)

# ---- CLRNet, Table 5: merge learning vs transfer learning FS -> {DF, DFD, F2F, NT}, F1 %.
_T5_COLS = ["FS", "DF", "DFD", "F2F", "NT", "Avg."]
CLRNET_TABLE5 = {
    **_rows(
        "merge",
        _T5_COLS,
        {
            "cnn_lstm": [57.45, 63.12, 55.54, 53.23, 80.12, 61.89],
            "dbirnn": [59.42, 61.75, 59.85, 55.42, 82.10, 63.71],
            "shallownet_v3": [55.86, 65.16, 50.92, 58.84, 86.03, 63.36],
            "xception": [73.29, 78.57, 54.35, 74.17, 82.45, 72.57],
            "mesoinception4": [80.17, 84.21, 86.27, 82.52, 87.60, 84.35],
            "clrnet": [87.20, 85.72, 86.52, 89.20, 89.28, 87.58],
        },
    ),
    **_rows(
        "transfer",
        _T5_COLS,
        {
            "cnn_lstm": [70.21, 52.75, 53.52, 50.73, 63.34, 58.11],
            "dbirnn": [67.45, 55.95, 50.43, 51.79, 66.08, 58.34],
            "shallownet_v3": [87.51, 50.29, 42.38, 53.83, 67.24, 60.25],
            "xception": [73.90, 65.04, 57.60, 55.43, 76.79, 65.75],
            "mesoinception4": [93.36, 69.60, 64.58, 83.58, 81.51, 78.52],
            "clrnet": [98.70, 97.23, 97.13, 97.50, 97.30, 97.57],
        },
    ),
}

# ---- CLRNet, Table 6: open-domain (DFW), F1 %.
CLRNET_TABLE6 = _rows(
    "open-domain DFW",
    ["single FS", "merge", "transfer NT->rest", "best RGS"],
    {
        "cnn_lstm": [45.23, 53.75, 55.10, 63.64],
        "dbirnn": [47.15, 51.97, 58.12, 65.71],
        "shallownet_v3": [48.36, 57.84, 60.35, 70.72],
        "xception": [49.12, 71.45, 61.41, 72.51],
        "mesoinception4": [49.45, 78.12, 75.56, 80.25],
        "clrnet": [50.65, 84.95, 93.86, 95.92],
    },
)

# ---- Masi et al., Table 1: ablations (Deepfakes manipulation).
MASI_TABLE1 = {
    **_rows(
        "1a c40 frame (no LSTM)",
        ["tAUC@0.01", "tAUC@0.1", "TAR@0.01"],
        {
            "Encoder [52] (BCE)": [57.63, 86.61, 81.50],
            "+ft, +drop, +loss": [76.04, 89.91, 92.84],
        },
    ),
    **_rows(
        "1b c23 frame (no LSTM)",
        ["tAUC@0.01", "tAUC@0.1", "TAR@0.01"],
        {
            "Single-Branch": [56.78, 61.14, 99.34],
            "Two-Branch": [61.70, 70.80, 98.34],
        },
    ),
    # 1c: as printed in the text extraction (the row/flag alignment of the PDF table is
    # partly lost; the last row, 128 cat conv1x1 p=2 with +ft, is the chosen configuration).
    **_rows(
        "1c c40 with LSTM",
        ["tAUC@0.01", "TAR@0.01"],
        {
            "no +ft": [57.21, 83.33],
            "128 cat p=1": [73.58, 87.38],
            "128 sum p=1": [67.49, 83.81],
            "256 cat p=2": [76.35, 87.14],
            "128 cat p=2 (chosen)": [81.53, 92.54],
        },
    ),
}

# ---- Masi et al., Table 2: FF++ four manipulations, frame and video level.
_T2_COLS = ["AUC", "pAUC@0.1", "tAUC@0.1", "TAR@0.1"]
MASI_TABLE2 = {}
for _comp, _vals in {
    "c23": {
        "DSP-FWA [37]": ([56.89, 51.33, 7.47, 14.60], [57.49, 51.59, 7.48, 15.00]),
        "Xception [50]": ([92.30, 87.71, 73.34, 81.21], [92.50, 89.20, 58.21, 82.85]),
        "two_branch": ([98.70, 97.43, 65.29, 97.95], [99.12, 98.41, 86.10, 98.21]),
    },
    "c40": {
        "DSP-FWA [37]": ([59.15, 52.04, 8.82, 17.30], [62.34, 51.93, 9.82, 22.14]),
        "Xception [50]": ([83.93, 74.78, 45.92, 63.25], [86.75, 79.10, 39.06, 68.75]),
        "two_branch": ([86.59, 69.71, 40.41, 62.48], [91.10, 76.57, 51.18, 72.85]),
    },
}.items():
    for _row, (_frame, _video) in _vals.items():
        MASI_TABLE2.update(_rows(f"{_comp} frame", _T2_COLS, {_row: _frame}))
        MASI_TABLE2.update(_rows(f"{_comp} video", _T2_COLS, {_row: _video}))

# ---- Masi et al., Table 3: cross-dataset Celeb-DF.
MASI_TABLE3 = {
    **_rows(
        "3a Celeb-DF frame",
        _T2_COLS,
        {
            "Xception-c40 [50]": [65.86, 54.49, 12.23, 22.97],
            "DSP-FWA [37]": [64.13, 52.87, 10.18, 19.67],
            "Xception-c23 [50]": [66.65, 53.05, 10.21, 19.83],
            "two_branch": [73.41, 57.42, 18.18, 32.22],
        },
    ),
    **_rows(
        "3a Celeb-DF video",
        _T2_COLS,
        {
            "Xception-c40 [50]": [69.70, 57.18, 16.85, 34.70],
            "DSP-FWA [37]": [69.30, 51.40, 17.20, 32.02],
            "Xception-c23 [50]": [73.04, 52.77, 9.45, 18.82],
            "two_branch": [76.65, 58.70, 19.73, 39.70],
        },
    ),
    **_rows(
        "3b AUC",
        ["FF++ (DF)", "Celeb-DF"],
        {
            "Two-stream [23]": [70.1, 53.8],
            "Meso4 [6]": [84.7, 54.8],
            "MesoInception4": [83.0, 53.6],
            "HeadPose [67]": [47.3, 54.6],
            "FWA [37]": [80.1, 56.9],
            "VA-MLP [41]": [66.4, 55.0],
            "VA-LogRes": [78.0, 55.1],
            "Xception-raw [50]": [99.7, 48.2],
            "Xception-c23": [99.7, 65.3],
            "Xception-c40": [95.5, 65.5],
            "Multi-task [44]": [76.3, 54.3],
            "Capsule [45]": [96.6, 57.5],
            "DSP-FWA [37]": [93.0, 64.6],
            "two_branch": [93.18, 73.41],
        },
    ),
}

# ---- Masi et al., Table 4: FF++ accuracies (a) and DFDC-preview log(wP) (b).
MASI_TABLE4 = {
    **_rows(
        "4a FF++ accuracy",
        ["c23", "c40"],
        {
            "XceptionNet (Full Image) [50]": [74.78, 70.52],
            "Steg. Features + SVM [18]": [70.97, 55.98],
            "Cozzolino et al. [12]": [78.45, 58.69],
            "Bayar and Stamm [8]": [82.97, 66.84],
            "Rahmouni et al. [49]": [79.08, 61.18],
            "MesoNet [6]": [83.10, 70.47],
            "XceptionNet [50]": [95.73, 81.00],
            "two_branch": [96.43, 86.34],
        },
    ),
    **_rows(
        "4b DFDC-preview log(wP)",
        ["R0.1", "R0.5", "R0.9"],
        {
            "TamperNet [14]": [-2.796, -3.864, -4.041],
            "XceptionNet (Face) [50]": [-1.999, -3.012, -4.081],
            "XceptionNet (Full) [50]": [-3.293, -3.835, -4.081],
            "two_branch (test)": [-2.564, -3.152, -3.548],
            "two_branch (valid)": [-2.311, -2.481, -2.678],
            "two_branch (test-from-valid)": [-3.386, -3.433, -3.721],
        },
    ),
    **_rows(
        "4b DFDC-preview recall",
        ["R0.1", "R0.5", "R0.9"],
        {
            "two_branch (test)": [0.100, 0.501, 0.901],
            "two_branch (valid)": [0.090, 0.523, 0.918],
            "two_branch (test-from-valid)": [0.042, 0.440, 0.943],
        },
    ),
}

PAPER_TABLES: dict[str, dict[tuple[str, str, str], float]] = {
    "clrnet_table3": CLRNET_TABLE3,
    "clrnet_table4": CLRNET_TABLE4,
    "clrnet_table5": CLRNET_TABLE5,
    "clrnet_table6": CLRNET_TABLE6,
    "masi_table1": MASI_TABLE1,
    "masi_table2": MASI_TABLE2,
    "masi_table3": MASI_TABLE3,
    "masi_table4": MASI_TABLE4,
}

CITATIONS: dict[str, str] = {
    "clrnet_table3": "Tariq et al., WWW'21, Table 3 (in-domain, F1 %)",
    "clrnet_table4": "Tariq et al., WWW'21, Table 4 (trained on F2F, out-of-domain + DFW, F1 %)",
    "clrnet_table5": "Tariq et al., WWW'21, Table 5 (merge vs transfer FS->{DF,DFD,F2F,NT}, F1 %)",
    "clrnet_table6": "Tariq et al., WWW'21, Table 6 (open-domain DFW, F1 %)",
    "masi_table1": "Masi et al., ECCV'20, Table 1 (ablations on FF++ Deepfakes, %)",
    "masi_table2": "Masi et al., ECCV'20, Table 2 (FF++ frame/video level, c23/c40, %)",
    "masi_table3": "Masi et al., ECCV'20, Table 3 (cross-dataset Celeb-DF, %)",
    "masi_table4": "Masi et al., ECCV'20, Table 4 (FF++ accuracies %, DFDC-preview log(wP))",
}


def paper_value(table: str, section: str, row: str, col: str) -> float:
    """Published value of one cell, ``nan`` when the paper has none.

    Args:
        table: key of :data:`PAPER_TABLES`, e.g. ``"clrnet_table5"``.
        section: section name, e.g. ``"transfer"``.
        row: row name (registry model name for the paper's models).
        col: column name, e.g. ``"DF"``.

    Returns:
        The printed number, or ``nan``.
    """
    return PAPER_TABLES[table].get((section, row, col), math.nan)
