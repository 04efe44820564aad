"""The experimental protocol of every table of both papers, as data.

For every table script (CLRNet Tables 3-6 and Fig. 8; Masi et al. Tables 1-4 and figures) this
module holds the resolved **full-profile** settings of every cell — data and splits, model,
input size, clip length, frames per video, epochs, optimiser, learning rate and schedule, batch
composition, loss, initial weights, augmentation, sampling, checkpoint selection — each with its
**source** (paper section or table, official file, or this package's decision with its reason).
The **quick profile** is nothing but the list :data:`QUICK_REDUCTIONS` applied to the full cells.

* :func:`cells` returns exactly what a script's ``--show-config`` prints: one flat, JSON-ready
  dict per cell (:func:`show_config` prints them, one JSON object per line).
* :func:`cell_protocols` returns the same cells as :class:`CellProtocol` objects whose every
  value is a :class:`Setting` (value, source, what the paper and the official code say).
* :data:`DEVIATIONS` lists everything that cannot follow the papers, with reasons and sources.
* :func:`render_markdown` generates ``experiments/PROTOCOL.md``
  (``python -m experiments.protocol --markdown > experiments/PROTOCOL.md``;
  ``tests/test_protocol.py`` checks that the file is up to date).

Decision rule where the papers and the official code disagree (recorded per setting): for CLRNet
hyper-parameters the official code wins where the paper is silent; the paper's text wins where it
is explicit. Masi et al. published no code, so their paper is the only primary source.

Pure Python (no TensorFlow, Keras or NumPy): importing it costs milliseconds.

References:
    Tariq, Lee, Woo, "One Detector to Rule Them All", WWW 2021 (``tariq2021``);
    official code ``github.com/shahroztariq/CLRNet`` (``src/*.ipynb``, ``src/*.py``, HEAD 2c40fd7);
    Masi et al., "Two-branch Recurrent Network for Isolating Deepfakes in Videos", ECCV 2020
    (``masi2020``); the models each cell names are documented in ``clrnet/models/`` and
    ``twobranch/models.py``.
"""

from __future__ import annotations

import copy
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TextIO

# --------------------------------------------------------------------------------------------
# Data classes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One resolved setting of a cell and where it comes from.

    Args:
        value: the value this package uses (JSON-ready: str, int, float, bool, None, list, dict).
        source: where the value comes from: a paper section/table, an official file, or
            ``this package: <reason>``. Never empty.
        paper: what the paper says about it ("" = nothing beyond the source).
        official: what the official code does ("" = nothing / no official code).
    """

    value: Any
    source: str
    paper: str = ""
    official: str = ""


@dataclass(frozen=True)
class CellProtocol:
    """The resolved protocol of one cell of one table.

    Args:
        table: script name, e.g. ``"table5_transfer"``.
        key: the cell key the script uses (its parts form :attr:`id`).
        settings: setting name -> :class:`Setting` (``table`` and ``cell`` included).
    """

    table: str
    key: tuple[str, ...]
    settings: Mapping[str, Setting]

    @property
    def id(self) -> str:
        """The cell id, as ``experiments.cells.Cell.id`` forms it."""
        return cell_id(self.key)

    def as_dict(self) -> dict[str, Any]:
        """The flat, JSON-ready dict of values (what ``--show-config`` prints)."""
        order = [k for k in KEY_ORDER if k in self.settings]
        order += sorted(k for k in self.settings if k not in KEY_ORDER)
        return {k: copy.deepcopy(self.settings[k].value) for k in order}


@dataclass(frozen=True)
class Reduction:
    """One change the quick profile makes to the full cells.

    Args:
        field: the setting changed (``"cell"`` with value :data:`OMIT` drops matching cells).
        value: its quick value.
        reason: why the quick profile changes it.
        tables: tables it applies to (empty = every table).
        where: extra conditions, setting name -> accepted values (a list-valued setting
            matches when any element is accepted).
    """

    field: str
    value: Any
    reason: str
    tables: tuple[str, ...] = ()
    where: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def applies(self, cell: Mapping[str, Any]) -> bool:
        """Whether this reduction changes ``cell`` (a flat full-profile dict)."""
        if self.tables and cell["table"] not in self.tables:
            return False
        if self.field != "cell" and self.field not in cell:
            return False
        for name, accepted in self.where.items():
            value = cell.get(name)
            if isinstance(value, list):
                if not any(v in accepted for v in value):
                    return False
            elif value not in accepted:
                return False
        return True

    def scope(self) -> str:
        """Where it applies, in words (for the Markdown)."""
        names = {TARIQ_TABLES: "CLRNet tables", MASI_TABLES: "Masi tables",
                 (): "all tables"}
        parts = [names.get(self.tables, ", ".join(self.tables))]
        parts += [f"{k} in {list(v)}" for k, v in self.where.items()]
        return "; ".join(parts)


@dataclass(frozen=True)
class SplitRule:
    """How one dataset is split into train/val/test (a property of the protocol, seeded).

    Args:
        name: the rule id used in the cells' ``splits``.
        dataset: the dataset it applies to.
        rule: the rule in words.
        counts: resulting video counts.
        seed: split seed (fixed by the protocol, independent of ``--seed``); None = no
            randomness.
        source: where the rule comes from.
    """

    name: str
    dataset: str
    rule: str
    counts: str
    seed: int | None
    source: str


@dataclass(frozen=True)
class Deviation:
    """A setting that cannot (or, by decision, does not) follow a paper or its official code.

    Args:
        setting: what it is about.
        paper: what the paper says.
        official: what the official code does ("none" when there is no code).
        package: what this package's protocol does.
        reason: why.
        source: where the paper/official facts come from.
        tables: tables it concerns.
    """

    setting: str
    paper: str
    official: str
    package: str
    reason: str
    source: str
    tables: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Constants: tables, keys, sources
# --------------------------------------------------------------------------------------------

OMIT = "omitted"
TARIQ_TABLES = ("table3_in_domain", "table4_out_of_domain", "table5_transfer",
                "table6_open_domain", "cam_figure")
MASI_TABLES = ("twobranch_table1_ablation", "twobranch_table2_ffpp", "twobranch_table3_celebdf",
               "twobranch_table4_ffpp_dfdc", "twobranch_figures")
TABLES = TARIQ_TABLES + MASI_TABLES
HEADINGS: dict[str, str] = {
    "table3_in_domain": "CLRNet Table 3 — in-domain detection (F1 %)",
    "table4_out_of_domain": "CLRNet Table 4 — trained on F2F, tested out-of-domain and in the "
                            "wild (F1 %)",
    "table5_transfer": "CLRNet Table 5 — merge vs transfer learning (F1 %)",
    "table6_open_domain": "CLRNet Table 6 — open-domain attack, DFW (F1 %)",
    "cam_figure": "CLRNet Fig. 8 — class activation maps",
    "twobranch_table1_ablation": "Masi et al. Table 1 — ablation on FF++ Deepfakes (%)",
    "twobranch_table2_ffpp": "Masi et al. Table 2 — FF++ frame and video level (%)",
    "twobranch_table3_celebdf": "Masi et al. Table 3 — cross-dataset Celeb-DF (%)",
    "twobranch_table4_ffpp_dfdc": "Masi et al. Table 4 — FF++ accuracy (%) and DFDC-preview "
                                  "ln(wP)",
    "twobranch_figures": "Masi et al. Figs. 1, 3, 4 — two-branch network",
}

#: Keys every cell has (``--show-config`` prints at least these), in print order.
REQUIRED_KEYS: tuple[str, ...] = (
    "table", "cell", "paper", "strategy", "model", "train_domains", "val_domains",
    "test_domains", "data", "splits", "compression", "face_size", "input_size", "clip_len",
    "frames_per_video", "clips_per_video", "eval_frames_per_video", "eval_clips_per_video",
    "epochs", "steps_per_epoch", "epoch_fraction", "optimizer", "lr", "lr_schedule",
    "weight_decay", "batch_size", "batch_composition", "loss", "init_weights", "augmentation",
    "sampling", "checkpoint_selection", "early_stopping", "metric", "seed", "model_config",
)
#: Print order: the required keys, then strategy-specific ones (others follow sorted).
KEY_ORDER: tuple[str, ...] = REQUIRED_KEYS + (
    "bn_recalibration", "source_domain", "source_epochs", "source_steps_per_epoch",
    "source_batch_size", "k_videos", "transfer_data", "freeze",
    "frozen_batchnorm", "merge_input_size", "merge_epochs", "merge_batch_size",
    "merge_epoch_fraction", "merge_steps_per_epoch", "rgs_pairs", "rgs_transfer", "rgs_choice", "radii", "center",
    "model_from", "cam_layer", "cam_clip", "selection",
)

T = "Tariq et al. (WWW'21)"
M = "Masi et al. (ECCV'20)"
OFF = "official shahroztariq/CLRNet"
PKG = "this package"

#: The six methods of the CLRNet tables (registry names, paper order).
TARIQ_MODELS = ("cnn_lstm", "dbirnn", "shallownet_v3", "xception", "mesoinception4", "clrnet")
FRAME_MODELS = ("shallownet_v3", "xception", "mesoinception4", "meso4")
KNOWN = ("FS", "DF", "DFD", "F2F", "NT")
REENACT = ("F2F", "NT")
SWAP = ("DF", "FS", "DFD")

FFPP_DATA = "FaceForensics++ c23 (--data, official download layout)"
DFW_DATA = "DeepFake-in-the-Wild stand-in (--wild: real/ and fake/ folders or a CSV)"
DFDC_DATA = "DFDC preview (--dfdc, dataset.json)"
CELEBDF_DATA = "Celeb-DF v2 (--celebdf, List_of_testing_videos.txt)"
MINI_LABEL = "mini benchmark (synthetic stand-in), not FaceForensics++"

CLRNET_AUGMENT = ("one random transform per clip, the same for all its frames: rotation ±30°, "
                  "zoom 0.8-1.2, horizontal flip p=0.5, brightness x0.7-1.3, channel shift ±50 "
                  "(of 255), fill nearest; training only")


def cell_id(key: Iterable[Any]) -> str:
    """File-system safe cell id (``experiments.cells.Cell.id`` is this function).

    Args:
        key: the cell key parts, e.g. ``("transfer", "clrnet")``.

    Returns:
        e.g. ``"transfer__clrnet"``.
    """
    return "__".join(re.sub(r"[^A-Za-z0-9_.+-]+", "-", str(k)) for k in key)


def _t(where: str) -> str:
    return f"{T} {where}"


def _m(where: str) -> str:
    return f"{M} {where}"


def _off(path: str) -> str:
    return f"{OFF} src/{path}"


def _pkg(reason: str) -> str:
    return f"{PKG}: {reason}"


def S(value: Any, source: str, paper: str = "", official: str = "") -> Setting:
    """Shorthand for :class:`Setting` (JSON-ready copies of tuples as lists)."""
    if isinstance(value, tuple):
        value = list(value)
    return Setting(value, source, paper, official)


# --------------------------------------------------------------------------------------------
# Split rules
# --------------------------------------------------------------------------------------------

SPLIT_SEED = 0

SPLIT_RULES: dict[str, SplitRule] = {r.name: r for r in (
    SplitRule(
        "tariq_ffpp", "FaceForensics++ (youtube originals and each FF++ method)",
        "videos ordered by number (fakes a_b by their target id a): the first 750 train, the "
        "next 125 val, the last 125 test; the same rule for the originals and for every "
        "method, so a domain's reals and fakes are 1:1 in every split",
        "750 / 125 / 125 real and 750 / 125 / 125 fake per method", None,
        _t("Sec. 5 'Dataset Description' (first 750 / next 125 / remaining 125) and Table 2")),
    SplitRule(
        "tariq_dfd", "DeepFakeDetection (actors' originals and DFD fakes)",
        "a seeded random 300 of the actors' original videos and 300 of the DFD fakes; each "
        "class in a seeded random order: 250 train, 25 val, 25 test",
        "250 / 25 / 25 real and 250 / 25 / 25 fake", SPLIT_SEED,
        _t("Sec. 5 'Dataset Description' (random 300 real + 300 fake; 250/25/25) and Table 2")),
    SplitRule(
        "tariq_dfdc", "DFDC preview (CLRNet Table 3 column)",
        "dataset.json's train and test sets; in each set all real videos and a seeded random "
        "equal number of fake videos; val = a seeded random 1/7 of the balanced train set per "
        "class (the CLRNet FF++ ratio 125 : 875)",
        "about 1/7 of the balanced train set as val; test = the balanced test set",
        SPLIT_SEED,
        _pkg("the paper gives no DFDC split; balanced like DFD (Sec. 5, 'to avoid data "
             "imbalance') and like the official create_sequence, which needs equal real and "
             "fake counts (strict alternation)")),
    SplitRule(
        "dfw_test", "DeepFake-in-the-Wild stand-in",
        "every video is test data (never trained or validated on)", "all videos test", None,
        _t("Sec. 5 ('all 200 DFW videos only for testing') and Table 2")),
    SplitRule(
        "ffpp_official", "FaceForensics++ (youtube originals and the four methods)",
        "the official splits/{train,val,test}.json id pairs; originals a, b and fakes a_b, b_a "
        "follow their pair",
        "720 / 140 / 140 originals and 720 / 140 / 140 fakes per method", None,
        _m("Sec. 4.1 (140 real and 560 fake test videos); ondyari/FaceForensics "
           "dataset/splits")),
    SplitRule(
        "celebdf_official", "Celeb-DF v2",
        "the 518 videos of List_of_testing_videos.txt are test; nothing else is used",
        "518 test", None, _m("Sec. 4.2 ('the 518 test video of Celeb-DF')")),
    SplitRule(
        "dfdc_preview_masi", "DFDC preview (Masi Table 4b)",
        "dataset.json's train set is the cross-validation pool: 5 seeded folds, each holding "
        "out 20% of the training videos for validation; dataset.json's test set is the test "
        "set; the model is not re-trained",
        "5 folds of 20% of the train set; test set as published", SPLIT_SEED,
        _m("Sec. 4.3 (five-fold cross-validation, 20% of training retained for validation)")),
    SplitRule(
        "mini_benchmark", MINI_LABEL,
        "the mini benchmark's own FF++-style pair JSON (v5 at its default size: 12 / 2 / 16 "
        "pairs, 24 / 4 / 32 videos per class and method; data_prep.synth.layout.split_sizes) "
        "and actor-hash split of its DFD stand-in (data_prep.synth)",
        "a few videos per split", None, _pkg("quick profile data (data_prep/synth/layout.py)")),
)}


def _tariq_splits(codes: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for code in codes:
        if code in ("DF", "FS", "F2F", "NT"):
            out["FF++"] = "tariq_ffpp"
        elif code == "DFD":
            out["DFD"] = "tariq_dfd"
        elif code == "DFDC":
            out["DFDC"] = "tariq_dfdc"
        elif code == "DFW":
            out["DFW"] = "dfw_test"
    return dict(sorted(out.items()))


def _tariq_data(codes: Iterable[str]) -> list[str]:
    codes = set(codes)
    out = []
    if codes & {"DF", "FS", "F2F", "NT", "DFD"}:
        out.append(FFPP_DATA)
    if "DFDC" in codes:
        out.append(DFDC_DATA)
    if "DFW" in codes:
        out.append(DFW_DATA)
    return out


# --------------------------------------------------------------------------------------------
# CLRNet paper: per-model hyper-parameters by training phase
# --------------------------------------------------------------------------------------------

_NO_CODE = "no official code (the CLRNet README links the paper only)"
_REG = "clrnet/models/specs.py ModelSpec"


def _frames_budget(model: str) -> tuple[int, int]:
    """(clip_len, clips_per_video) with the paper's equal 80-frame budget per video."""
    if model in FRAME_MODELS:
        return 1, 80
    if model == "cnn_lstm":
        return 20, 4
    return 5, 16


def _tariq_hp(model: str, phase: str, table: str) -> dict[str, Setting]:
    """Training settings of ``model`` for ``phase`` (single, merge, transfer) in ``table``."""
    clip, n_clips = _frames_budget(model)
    budget_src = _t("Sec. 5.1.1 (equal frame budget: 1 x 80, 5 x 16, 20 x 4 frames) and "
                    "Sec. 5.1.3 (16 samples of 5 consecutive frames per video)")
    s: dict[str, Setting] = {
        "clip_len": S(clip, budget_src, paper=f"{clip} frame(s) per input",
                      official="5 (frames_per_video_per_batch) for CLRNet; single frames for "
                               "the frame baselines"),
        "clips_per_video": S(n_clips, budget_src),
        "frames_per_video": S(clip * n_clips, budget_src,
                              official="80 (train_frames_per_video) except CLRNET_ALL.ipynb: 10"
                              if model == "clrnet" else "all 80 frames of each video folder"),
        "eval_clips_per_video": S(n_clips, _t("Sec. 5.1.2 ('we evaluate all the video frames')"),
                                  official="80 frames per test video (CLRNET_*_test.ipynb)"),
        "eval_frames_per_video": S(clip * n_clips, _t("Sec. 5.1.2"),
                                   official="80 frames per test video"),
        "steps_per_epoch": S(None, _pkg("one pass over the training samples per epoch "
                                        "(scaled by epoch_fraction)")),
        "bn_recalibration": S(None, _pkg("none: the papers train for hundreds of epochs, so "
                                         "BatchNorm's moving statistics converge; recalibration "
                                         "(clrnet.training.batchnorm) is a package addition "
                                         "for short runs"),
                              paper="not mentioned", official="none"),
        "epoch_fraction": S(1.0, _off("DFVDSequence.py __len__ (one pass)")
                            if model == "clrnet" else _off("*_DF.ipynb fit_generator (one pass)")),
        "optimizer": S("adam(beta_1=0.9, beta_2=0.999)", _off("*.ipynb Adam(...)")),
        "lr_schedule": S("constant", _off("CLRNET_train_*.ipynb, *_ALL.ipynb, *transfer*.ipynb "
                                          "(no scheduler; ReduceLROnPlateau commented out)"),
                         official="constant; ReduceLROnPlateau(factor 0.1, patience 7) only in "
                                  "CLRNET_DF+NT-(FS,F2F,DFD,DFDC)_train.ipynb, not a table run"),
        "early_stopping": S("none (option: --patience N epochs without a lower val loss)",
                            _off("CLRNET_train_*.ipynb (EarlyStopping commented out)"),
                            paper="not mentioned"),
        "checkpoint_selection": S(
            "best val accuracy over the epochs, on the val splits of all training domains "
            "pooled; test data never used",
            _off("*_DF.ipynb, *_ALL.ipynb ModelCheckpoint(monitor='val_acc', save_best_only) "
                 "and the CLRNet 'CLR_<exp>_Ebest' weights"),
            paper="not stated",
            official="CLRNet notebooks saved every epoch and logged val AND test metrics each "
                     "epoch (AdditionalValidationSets); reported epochs (e.g. FS 130, DF 103, "
                     "DFD 289) follow no recorded rule; baselines: best val_acc"),
    }
    if model == "clrnet":
        size = {"single": 240, "transfer": 240, "merge": 128}[phase]
        s["input_size"] = S(size, {
            "single": _off("CLRNET_train_*.ipynb image_size=240"),
            "transfer": _off("CLRNET_transfer_FS-DF-F2F-NT-DFD_train.ipynb image_size=240"),
            "merge": _off("CLRNET_ALL.ipynb image_size=128"),
        }[phase], paper="frames resized to 240x240 in preprocessing (Sec. 5.1.3); no model input "
                        "size per strategy",
            official="240 single-domain and transfer; 128 in CLRNET_ALL and the other "
                     "multi-dataset notebooks")
        s["epochs"] = S({"single": 300, "merge": 150, "transfer": 150}[phase], {
            "single": _off("CLRNET_train_*.ipynb epochs=300"),
            "merge": _off("CLRNET_ALL.ipynb epochs=150"),
            "transfer": _off("CLRNET_transfer_FS-DF-F2F-NT-DFD_train.ipynb epochs=150"),
        }[phase], paper="not stated")
        s["lr"] = S(5e-5, _off("CLRNET_*.ipynb Adam(lr=0.00005)"), paper="not stated")
        s["batch_size"] = S({"single": 16, "merge": 40, "transfer": 40}[phase], {
            "single": _off("CLRNET_train_*.ipynb train_video_per_batch=16"),
            "merge": _off("CLRNET_ALL.ipynb train_video_per_batch=40"),
            "transfer": _off("CLRNET_transfer_FS-DF-F2F-NT-DFD_train.ipynb "
                             "train_video_per_batch=40"),
        }[phase], paper="not stated")
        s["loss"] = S("binary_crossentropy on 2-way softmax", _off("CLRNET_*.ipynb compile"))
        s["weight_decay"] = S("none in the optimiser; L2 1e-4 on every ConvLSTM2D input kernel "
                              "(model)", _off("CLRNet_convlstm.py"))
        s["augmentation"] = S(
            CLRNET_AUGMENT,
            _t("Sec. 5.1.3 (ranges, brightness ±30%)") + "; " + _off("DFVDSequence.py (one "
                                                                     "transform per clip)"),
            paper="brightness -30% to 30%, channel shift ±50, zoom ±20%, rotation ±30°, "
                  "horizontal flip 50%",
            official="ImageDataGenerator(rotation_range=30, brightness_range=[0.7, 1.0], "
                     "channel_shift_range=50, zoom_range=0.2, horizontal_flip=True)")
        s["model_config"] = S(
            {"block": "bottleneck", "repetitions": [3, 4, 6, 3], "initial_filters": 64,
             "dropout": 0.25, "recurrent_activation": "hard_sigmoid_keras2"},
            _off("CLRNET_*.ipynb CLRNet(...) call and CLRNet_convlstm.py") + " (recurrent "
            "activation: the Keras-2 hard sigmoid)")
        s["sampling"] = S(
            "train/val/test: the first clips_per_video x clip_len frames of each video as "
            "non-overlapping consecutive clips",
            _off("Utility_functions.py create_sequence (first no_frames frames) and "
                 "DFVDSequence.py (consecutive 5-frame windows)"))
        comp = {
            "single": "batch_size clips, one per video, real and fake clips alternating; "
                      "balanced class weights (equal to 1 on 1:1 data)",
            "merge": "batch_size clips from the union of the training videos of all domains; "
                     "real and fake samples alternate, the minority class oversampled; "
                     "every video counted once",
            "transfer": "batch_size clips from the transfer data (see transfer_data); real and "
                        "fake clips alternate",
        }[phase]
        s["batch_composition"] = S(
            comp, _off("Utility_functions.py create_sequence (strict real/fake alternation, "
                       "balanced class_weight) and DFVDSequence.py")
            + ("; " + _t("Sec. 4.2.2 and 5.2.2 (union of the training datasets)")
               if phase == "merge" else ""),
            official="CLRNET_ALL: create_sequence over the five domain folders, each holding "
                     "its own copy of the real videos" if phase == "merge" else "")
        s["init_weights"] = S("none", _off("CLRNet_convlstm.py (he_normal, trained from "
                                           "scratch)"))
        return s

    # ---------------- baselines
    s["init_weights"] = S("none", {
        "xception": _off("Xception_DF.ipynb (weights=None)"),
        "mesoinception4": _off("MesoInception4_DF.ipynb (trained from scratch)"),
        "shallownet_v3": _off("ShallowNetv3_DF.ipynb (trained from scratch)"),
    }.get(model, _pkg(f"{_NO_CODE}; trained from scratch like the official baselines "
                      "(nothing is downloaded)")),
        paper="not stated", official="none" if model not in FRAME_MODELS else "")
    s["augmentation"] = S("none", _off(f"{_nb(model, 'DF')} (ImageDataGenerator(rescale=1/255) "
                                       "only)") if model in FRAME_MODELS else
                          _pkg(f"{_NO_CODE}; none, like the official baselines"),
                          paper="Sec. 5.1.3 describes augmentation with CLRNet's preprocessing")
    s["weight_decay"] = S("none in the optimiser", _off(f"{_nb(model, 'DF')}")
                          if model in FRAME_MODELS else _pkg(_NO_CODE))
    if model in FRAME_MODELS:
        s["sampling"] = S("train/val/test: each of the first frames_per_video frames of a video "
                          "is one sample",
                          _off(f"{_nb(model, 'DF')} (flow_from_directory over the 80-frame "
                               "video folders)"))
    else:
        s["sampling"] = S("train/val/test: the first clips_per_video x clip_len frames of each "
                          "video as non-overlapping consecutive clips",
                          _pkg("same clip sampling as CLRNet (no official code)"))
    if model == "mesoinception4":
        s["input_size"] = S({"single": 256, "merge": 128, "transfer": 256}[phase], {
            "single": _off("MesoInception4_DF.ipynb target_size=(256, 256)"),
            "merge": _off("MesoInception4_ALL.ipynb img_height=128"),
            "transfer": _off("MesoInception4_FS-(DF,F2F,NT,DFD).ipynb img_height=256"),
        }[phase], official="256 (DariusAf/MesoNet IMGWIDTH=256); 128 in MesoInception4_ALL")
        s["lr"] = S(1e-3, _off("MesoInception4_*.ipynb Adam(lr=0.001)") + "; DariusAf/MesoNet")
        s["loss"] = S("mean_squared_error on sigmoid", _off("MesoInception4_*.ipynb "
                                                            "loss='mean_squared_error'"))
        s["model_config"] = S({}, "DariusAf/MesoNet classifiers.py (as copied into the CLRNet "
                                  "notebooks)")
    elif model == "xception":
        s["input_size"] = S({"single": 240, "merge": 128, "transfer": 240}[phase], {
            "single": _off("Xception_DF.ipynb Input((240, 240, 3))"),
            "merge": _off("Xception_ALL.ipynb img_height=128"),
            "transfer": _off("Xception_NT-(DF,FS,F2F,DFD).ipynb img_height=240") + "; "
                        + _pkg("the source model's size (the FS-> notebook ran at 128)"),
        }[phase], official="240; 128 in Xception_ALL and Xception_FS-(DF,F2F,NT,DFD)")
        s["lr"] = S(5e-5, _off("Xception_*.ipynb Adam(lr=0.00005)"))
        s["loss"] = S("binary_crossentropy on 2-way softmax", _off("Xception_*.ipynb compile"))
        s["model_config"] = S({}, _off("Xception_DF.ipynb keras.applications.Xception("
                                       "weights=None)"))
    elif model == "shallownet_v3":
        s["input_size"] = S(128, _off("ShallowNetv3_*.ipynb target_size=(128, 128)"))
        s["lr"] = S(5e-5, _off("ShallowNetv3_*.ipynb Adam(lr=0.00005)"))
        s["loss"] = S("binary_crossentropy on two sigmoid units (one-hot)",
                      _off("ShallowNetv3_*.ipynb compile, class_mode='categorical'"))
        s["model_config"] = S({}, "shahroztariq/ShallowNet src/models.py v3 (as in the CLRNet "
                                  "notebooks)")
    elif model == "dbirnn":
        s["input_size"] = S(224, _pkg(f"{_NO_CODE}; DenseNet-121 backbone's size ({_REG})"))
        s["lr"] = S(5e-5, _pkg(f"{_NO_CODE}; the CLRNet authors' baseline lr ({_REG})"))
        s["loss"] = S("binary_crossentropy on 2-way softmax", _pkg(_REG))
        s["model_config"] = S({"backbone": "densenet121", "cell": "gru", "units": 128},
                              _pkg("clrnet/models/dbirnn.py, after Sabir et al. CVPRW'19"))
    elif model == "cnn_lstm":
        s["input_size"] = S(299, _pkg(f"{_NO_CODE}; InceptionV3 backbone's size ({_REG})"))
        s["lr"] = S(1e-5, _pkg(f"{_NO_CODE}; Adam 1e-5 as Güera & Delp AVSS'18 state ({_REG})"))
        s["loss"] = S("binary_crossentropy on 2-way softmax", _pkg(_REG))
        s["model_config"] = S({"backbone": "inceptionv3", "units": 2048, "dense_units": 512},
                              _pkg("clrnet/models/cnn_lstm.py, after Güera & Delp AVSS'18"))
    s["epochs"] = S(50, _off(f"{_nb(model, 'DF')}, *_ALL.ipynb, *_FS-(...).ipynb epochs=50")
                    if model in FRAME_MODELS else
                    _pkg(f"{_NO_CODE}; 50 as the official baselines ({_REG})"),
                    paper="not stated")
    if model in FRAME_MODELS:
        batch = {"single": 32, "merge": {"mesoinception4": 64, "xception": 200,
                                         "shallownet_v3": 256}[model],
                 "transfer": {"mesoinception4": 64, "shallownet_v3": 256,
                              "xception": 256 if table == "table6_open_domain" else 200}[model]}
        s["batch_size"] = S(batch[phase], {
            "single": _off(f"{_nb(model, 'DF')} (flow_from_directory default batch_size=32)"),
            "merge": _off(f"{_nb(model, 'ALL')} batch_size={batch['merge']}"),
            "transfer": _off(_nb(model, "NT-(DF,FS,F2F,DFD)" if table == "table6_open_domain"
                                 else "FS-(DF,F2F,NT,DFD)") + f" batch_size={batch['transfer']}"),
        }[phase])
        if phase == "merge":
            s["epoch_fraction"] = S(0.125, _off(f"{_nb(model, 'ALL')} steps_per_epoch = "
                                                "(520000 / 8) / batch_size"),
                                    official="1/8 of the 520,000 merged training frames per "
                                             "epoch")
        comp = {
            "single": "batch_size frames drawn at random from all training frames (1:1 data)",
            "merge": "batch_size frames from the union of the training videos of all domains; "
                     "real and fake samples alternate, the minority class oversampled",
            "transfer": "batch_size frames from the transfer data (see transfer_data); real and "
                        "fake alternate",
        }[phase]
        s["batch_composition"] = S(
            comp, _off(f"{_nb(model, 'DF')} (shuffled flow_from_directory)") if phase == "single"
            else _t("Sec. 4.2.2 and 5.2.2 (union)") + "; " + _pkg("class balance as CLRNet's "
                                                                 "create_sequence"),
            official="round-robin batches from the five domain folders (equal batches per "
                     "domain), each folder with its own real videos" if phase != "single"
            else "")
    else:
        bs = 16 if model == "dbirnn" else 4
        s["batch_size"] = S(bs, _pkg(f"{_NO_CODE}; {bs} clips x {clip} frames = 80 frames per "
                                     f"batch like CLRNet's 16 x 5 ({_REG})"))
        s["batch_composition"] = S(
            {"single": "batch_size clips, one per video, real and fake clips alternating",
             "merge": "batch_size clips from the union of the training videos of all domains; "
                      "real and fake samples alternate, the minority class oversampled",
             "transfer": "batch_size clips from the transfer data (see transfer_data); real and "
                         "fake alternate"}[phase],
            _pkg("as CLRNet (no official code)"))
    return s


def _nb(model: str, suffix: str) -> str:
    """Official notebook name of a baseline, e.g. ``MesoInception4_DF.ipynb``."""
    prefix = {"mesoinception4": "MesoInception4", "xception": "Xception",
              "shallownet_v3": "ShallowNetv3", "meso4": "MesoInception4"}.get(model, model)
    return f"{prefix}_{suffix}.ipynb"


def _transfer_settings(model: str, source: str, targets: Sequence[str], table: str
                       ) -> dict[str, Setting]:
    """Keys specific to a transfer-learning cell (the source stage is single-domain)."""
    single = _tariq_hp(model, "single", table)
    return {
        "source_domain": S(source, _t("Table 5 (FS -> {DF, DFD, F2F, NT})")
                           if table != "table6_open_domain" else
                           _t("Table 6 (NT -> {DF, FS, DFD, F2F})")),
        "source_batch_size": S(single["batch_size"].value, single["batch_size"].source),
        "source_epochs": S(single["epochs"].value, single["epochs"].source,
                           paper="'fully train the model on this single dataset' (Sec. 4.2.3)"),
        "source_steps_per_epoch": S(single["steps_per_epoch"].value,
                                    single["steps_per_epoch"].source),
        "k_videos": S(10, _t("Sec. 4.2.3, 5.2.3 and Table 2 ('Transfer Learning: 10')")),
        "transfer_data": S(
            "k_videos real + k_videos fake training videos of the source domain and of each "
            "target domain, chosen with the split seed (source data mixed in)",
            _off("CLRNET_transfer_FS-DF-F2F-NT-DFD_train.ipynb and MesoInception4_FS-(DF,F2F,"
                 "NT,DFD).ipynb: datasets/TransferLearning/<all five domains>/train; "
                 "total_train=8000 frames = 5 domains x 20 videos x 80 frames"),
            paper="'a small subset of 10 videos from target domain's dataset' (Sec. 5.2.3); "
                  "Table 2 lists 10 transfer videos for every row, Pristine and FS included",
            official="the source domain's folder is part of the transfer training data"),
        "freeze": S(
            "first half of model.layers frozen: layers [0, len(model.layers) // 2), the Input "
            "layer counted, nested models counting as one layer",
            _t("Sec. 4.2.3 ('we set the first half of the model layers as untrainable') and "
               "5.2.3 (CLRNet and all baselines)"),
            paper="first half of the layers frozen, CLRNet and all baselines",
            official="only the last top_k_layers trainable: CLRNet 120 (87 of 207 frozen), "
                     "MesoInception4 7, ShallowNetV3 15 (its NT-> notebook freezes nothing), "
                     "Xception 40"),
        "frozen_batchnorm": S(
            "inference mode: moving statistics used and not updated (Keras 3 behaviour of a "
            "BatchNormalization with trainable=False)",
            _pkg("Keras 3 ties a frozen BatchNormalization to inference mode"),
            paper="not stated",
            official="trainable=False only; the FrozenBatchNormalization replacement in "
                     "Utility_functions.py is a no-op (rebinds a loop variable); TF 1.13 "
                     "tf.keras did not tie trainable=False to inference mode, so frozen BN "
                     "layers most likely normalised with batch statistics (not run here)"),
    }


def _tariq_cell(table: str, key: tuple[str, ...], model: str, strategy: str, *,
                train: Sequence[str], test: Sequence[str], source: str | None = None,
                targets: Sequence[str] = ()) -> CellProtocol:
    """A CLRNet-paper cell: ``strategy`` in single, merge, transfer, rgs."""
    phase = "single" if strategy == "single" else ("merge" if strategy == "merge"
                                                   else "transfer")
    script = f"experiments/{table}.py"
    all_codes = list(dict.fromkeys([*train, *test]))
    s: dict[str, Setting] = {
        "table": S(table, script),
        "cell": S(cell_id(key), f"{script} cell key {list(key)}"),
        "paper": S("tariq2021", T),
        "strategy": S(strategy, {
            "single": _t("Sec. 4.2.1, 5.2.1 (single domain learning)"),
            "merge": _t("Sec. 4.2.2, 5.2.2 (merge learning)"),
            "transfer": _t("Sec. 4.2.3, 5.2.3 (transfer learning)"),
            "rgs": _t("Sec. 4.3.3, 6.3.1 and Algorithm 1 (restricted grid search)"),
        }[strategy]),
        "model": S(model, "experiments/paper_tables.py CLRNET_ROWS (paper row "
                          "'MesoNet' = MesoInception4, Sec. 5.1)"),
        "train_domains": S(list(train), _table_source(table, "train")),
        "val_domains": S(list(train), _pkg("the val splits of the training domains "
                                           "(checkpoint selection only)")),
        "test_domains": S(list(test), _table_source(table, "test")),
        "data": S(_tariq_data(all_codes), _t("Sec. 5 and Table 2 (datasets)")),
        "splits": S(_tariq_splits(all_codes), "SPLIT_RULES (this module): "
                    + ", ".join(sorted(set(_tariq_splits(all_codes).values())))),
        "compression": S("c23", _t("Sec. 7 'Limitations' ('we only considered the high "
                                   "quality videos'); FF++ high quality = c23"),
                         paper="high quality videos"),
        "face_size": S(240, _t("Sec. 5.1.3 (MTCNN face crops resized to 240 x 240)"),
                       paper="aligned faces stored at 240 x 240; each model's input_size is "
                             "resized from them"),
        "metric": S("F1 % of the fake class at threshold 0.5, one score per sample (clip for "
                    "clip models, frame for frame models), on each test column's test split "
                    "(its fakes and their real videos); clip AUC, macro F1 and video-level F1 "
                    "(mean of sample scores) also stored",
                    _t("Sec. 5.1.2 (precision, recall, F1; F1 reported)") + "; "
                    + _off("CLRNET_*_test.ipynb classification_report per clip, baselines per "
                           "frame"),
                    paper="F1 score; which class or average is not stated",
                    official="sklearn classification_report (both classes, macro and "
                             "weighted averages)"),
        "seed": S(0, _pkg("--seed (default 0); the paper reports mean ± std over an unstated "
                          "number of runs")),
    }
    s.update(_tariq_hp(model, phase, table))
    if strategy in ("transfer", "rgs"):
        assert source is not None
        s.update(_transfer_settings(model, source, targets, table))
        s["init_weights"] = S(f"source:{source}", _t("Sec. 5.2.3 ('we use a pre-trained "
                                                     "source model')"),
                              official="load_model(<source .hdf5>)")
    if strategy == "rgs":
        merge = _tariq_hp(model, "merge", table)
        s["merge_input_size"] = merge["input_size"]
        s["merge_epochs"] = merge["epochs"]
        s["merge_batch_size"] = merge["batch_size"]
        s["merge_epoch_fraction"] = merge["epoch_fraction"]
        s["merge_steps_per_epoch"] = merge["steps_per_epoch"]
        s["rgs_pairs"] = S([[i, j] for i in REENACT for j in SWAP],
                           _t("Sec. 4.3.3 (D_FacialReenact = {F2F, NT}, D_IdentitySwap = "
                              "{DF, FS, DFD}) and Algorithm 1"))
        s["rgs_transfer"] = S(
            "TransferLearning(i, j): source = reenactment domain i (single-domain model), "
            "target = identity-swap domain j; MergeLearning(i, j) = merge of i and j",
            _pkg("Algorithm 1 writes TransferLearning(i, j) without a direction; i -> j"))
        s["rgs_choice"] = S(
            "oracle: for each pair the better of transfer and merge, then the best pair, both by "
            "classification accuracy on the DFW test set; reported as 'best RGS (oracle on the "
            "test set)'; every candidate's checkpoint is selected on its own val data",
            _t("Sec. 4.3.3 ('highest classification accuracy on open-domain attack') and "
               "Sec. 6.3.1 (the purpose: how close an arbitrary choice gets to the best)"),
            paper="choice by accuracy on the open-domain (DFW) attack",
            official="no RGS notebook")
    if strategy == "rgs":
        s["source_domain"] = S(list(REENACT), _pkg("each pair's reenactment domain i is the "
                                                   "source (rgs_transfer)"))
        s["init_weights"] = S("source:i", _pkg("each transfer candidate starts from the "
                                               "single-domain model of its reenactment domain i"))
    return CellProtocol(table, key, s)


def _table_source(table: str, what: str) -> str:
    return {
        "table3_in_domain": _t("Table 3 and Sec. 6.1 (D_T = D_A)"),
        "table4_out_of_domain": _t("Table 4 and Sec. 6.2 (D_T = {F2F})"),
        "table5_transfer": _t("Table 5 and Sec. 6.2.1-6.2.2"),
        "table6_open_domain": _t("Table 6 and Sec. 6.3"),
        "cam_figure": _t("Fig. 8 and Sec. 7 'Visualization'") + "; "
                      + _off("CLRNET_Heatmap_cam_*.ipynb"),
    }[table]


# --------------------------------------------------------------------------------------------
# CLRNet tables
# --------------------------------------------------------------------------------------------

def _tariq_table3() -> list[CellProtocol]:
    cols = ("DF", "FS", "DFD", "DFDC", "F2F", "NT")
    return [_tariq_cell("table3_in_domain", (m, c), m, "single", train=[c], test=[c])
            for m in TARIQ_MODELS for c in cols]


def _tariq_table4() -> list[CellProtocol]:
    test = ["F2F", "DF", "FS", "DFD", "NT", "DFW"]
    return [_tariq_cell("table4_out_of_domain", (m,), m, "single", train=["F2F"], test=test)
            for m in TARIQ_MODELS]


def _tariq_table5() -> list[CellProtocol]:
    cols = ["FS", "DF", "DFD", "F2F", "NT"]
    out = [_tariq_cell("table5_transfer", ("merge", m), m, "merge", train=cols, test=cols)
           for m in TARIQ_MODELS]
    out += [_tariq_cell("table5_transfer", ("transfer", m), m, "transfer", train=cols,
                        test=cols, source="FS", targets=["DF", "DFD", "F2F", "NT"])
            for m in TARIQ_MODELS]
    return out


def _tariq_table6() -> list[CellProtocol]:
    t = "table6_open_domain"
    out = [_tariq_cell(t, ("single", m), m, "single", train=["FS"], test=["DFW"])
           for m in TARIQ_MODELS]
    out += [_tariq_cell(t, ("merge", m), m, "merge", train=list(KNOWN), test=["DFW"])
            for m in TARIQ_MODELS]
    out += [_tariq_cell(t, ("transfer", m), m, "transfer", train=["NT", "DF", "FS", "DFD", "F2F"],
                        test=["DFW"], source="NT", targets=["DF", "FS", "DFD", "F2F"])
            for m in TARIQ_MODELS]
    out += [_tariq_cell(t, ("rgs", m), m, "rgs", train=list(KNOWN), test=["DFW"],
                        source="F2F", targets=list(SWAP))
            for m in TARIQ_MODELS]
    return out


def _cam() -> list[CellProtocol]:
    """Fig. 8: each dataset's CAM from the model the official heatmap notebooks used."""
    by_id = {c.id: c for c in _tariq_table3()}
    transfer = {c.id: c for c in _tariq_table6()}["transfer__clrnet"]
    out = []
    for code in ("DF", "FS", "DFD", "F2F", "NT", "DFW"):
        if code == "DFW":
            base, origin = transfer, "table6_open_domain/transfer__clrnet"
            nb = "CLRNET_Heatmap_cam_DFP.ipynb (the NT -> {DF, FS, F2F, DFD} transfer model)"
        else:
            base, origin = by_id[f"clrnet__{code}"], f"table3_in_domain/clrnet__{code}"
            nb = f"CLRNET_Heatmap_cam_{code}.ipynb (the single-domain {code} model)"
        s = dict(base.settings)
        s.update({
            "table": S("cam_figure", "experiments/cam_figure.py"),
            "cell": S(cell_id((code,)), f"experiments/cam_figure.py cell key {[code]}"),
            "strategy": S("cam", _t("Sec. 7 'Visualization' (CAM [58])")),
            "test_domains": S([code], _table_source("cam_figure", "test")),
            "data": S(_tariq_data([*base.settings["train_domains"].value, code]),
                      _t("Fig. 8")),
            "splits": S(_tariq_splits([*base.settings["train_domains"].value, code]),
                        "SPLIT_RULES (this module)"),
            "metric": S("CAM strip of one clip (5 frames) and its P(fake)",
                        _off("CLRNET_Heatmap_cam_*.ipynb")),
            "model_from": S(origin, _off(nb), paper="'our CLRNet model' (which one is not "
                                                    "stated)"),
            "cam_layer": S("the last BatchNormalization before pooling (5 x 3 x 3 x 2048 at 240 "
                           "px), weighted by the fake column of the Dense head",
                           _off("CLRNET_Heatmap_cam_*.ipynb (model.layers[-4], "
                                "Dense weights[:, 0])")),
            "cam_clip": S("the first fake test clip of the dataset in deterministic order",
                          _pkg("the paper does not say which clips it shows; the notebooks "
                               "take the first clip of create_sequence's seeded order, which "
                               "may be a real video")),
        })
        out.append(CellProtocol("cam_figure", (code,), s))
    return out


# --------------------------------------------------------------------------------------------
# Masi et al.
# --------------------------------------------------------------------------------------------

RADII_256 = (0.042, 1.638)
RADII_1024 = (2.5, 97.5)
FFPP_FOUR = ("DF", "FS", "F2F", "NT")
_FT = ("adam with per-DenseBlock learning rates lr / 2^L ('+ft'); the Deep-LoG block and the "
       "fusion layer at lr")
_NO_FT = "adam, one global learning rate (no '+ft')"
_MASI_SAMPLING = ("train: frames_per_video frames per video, evenly spaced, in windows of "
                  "clip_len consecutive sampled frames; val/test: frames one in seven from the "
                  "first, at most eval_frames_per_video per video, every window of clip_len "
                  "consecutive sampled frames (hop 1)")
_MASI_FRAME_SAMPLING = ("train: frames_per_video frames per video, evenly spaced, each one "
                        "sample (no stratified sampling); val/test: frames one in seven from "
                        "the first, at most eval_frames_per_video per video, each one sample")


def _scaled_radii(dim: int) -> list[float]:
    f = math.sqrt(dim / 256.0)
    return [round(RADII_256[0] * f, 6), round(RADII_256[1] * f, 6)]


def _masi_cell(table: str, key: tuple[str, ...], *, compression: str,
               train: Sequence[str] = FFPP_FOUR, test: Sequence[str] | None = None,
               recurrent: bool = True, loss: str = "isolation", ft: bool = True,
               lr: Setting | None = None, config: Mapping[str, Any] | None = None,
               lstm_units: int = 128, metric: Setting | None = None,
               strategy: str = "train") -> CellProtocol:
    """A Masi-paper cell (training settings of the model it uses)."""
    script = f"experiments/{table}.py"
    test = list(train if test is None else test)
    clip = 10 if recurrent else 1
    n_train, n_eval = (27, 101) if recurrent else (270, 110)
    sec4 = _m("Sec. 4 'Implementation and Hyper-Parameters'")
    cfg = {"blocks": [6, 12, 24, 16], "growth_rate": 32, "stem_filters": 64, "branches": "two",
           "fusion_groups": 2, "log_scales": [2, 4, 8], "dropout": 0.2, "recurrent": recurrent}
    if recurrent:
        cfg["lstm_units"] = lstm_units
    cfg.update(config or {})
    s: dict[str, Setting] = {
        "table": S(table, script),
        "cell": S(cell_id(key), f"{script} cell key {list(key)}"),
        "paper": S("masi2020", M),
        "strategy": S(strategy, _m("Sec. 4 (one model per setting, trained on FF++)")
                      if strategy == "train" else
                      _m("Sec. 4 ('When doing cross-testing, we use always the same model "
                         "trained on FF++ on the four manipulations on high compression "
                         "(c40)')")),
        "model": S("two_branch" if recurrent else "two_branch_frame",
                   _m("Sec. 3.1 (two-branch DenseNet + BiLSTM)") if recurrent else
                   _m("Sec. 4.1 (Table 1a/1b: 'without the LSTM ... only the backbone')")),
        "train_domains": S(list(train), _m("Sec. 4.1 (real + the manipulations trained on)")),
        "val_domains": S(list(train), _m("Sec. 4 (validation loss drives the schedule)")),
        "test_domains": S(test, _m("Tables 1-4")),
        "data": S([f"FaceForensics++ {compression} (--data, official download layout)"],
                  _m("Sec. 4.1 (FF++ c23 and c40)")),
        "splits": S({"FF++": "ffpp_official"}, "SPLIT_RULES (this module): ffpp_official"),
        "compression": S(compression, _m("Sec. 4.1 and Tables 1-4")),
        "face_size": S(224, _pkg("faces stored at the model's input size (input_size)"),
                       paper="not stated"),
        "input_size": S(224, _m("Sec. 3.1 (28 x 28 x 128 maps after the first DenseBlock = "
                                "224 / 8, DenseNet-121's ImageNet size)"),
                        paper="implied, not stated"),
        "clip_len": S(clip, sec4 + " (F = 10)" if recurrent else _m("Sec. 4.1 (no LSTM)")),
        "frames_per_video": S(270, _m("Sec. 4.1 (270 frames/video for training, following "
                                      "[50])")),
        "clips_per_video": S(n_train, _pkg("270 frames as 27 non-overlapping 10-frame windows")
                             if recurrent else _m("Sec. 4.1 (every frame one sample)")),
        "eval_frames_per_video": S(110, _m("Sec. 4.1 (110 frames/video for validation and "
                                           "testing)") + "; " + sec4 + " (1 frame over 7)"),
        "eval_clips_per_video": S(
            n_eval, _pkg("110 - 10 + 1 = 101 hop-1 windows per video; 700 test videos x 101 "
                         "= 70.7K frame-level samples, Table 2's '~70K samples'")
            if recurrent else _m("Sec. 4.1 (every frame one sample)")),
        "epochs": S(1000, _pkg("an upper bound; the paper gives no epoch count, training ends "
                               "with the schedule (early_stopping)"), paper="not stated"),
        "steps_per_epoch": S(None, _m("Sec. 3.1 (a 'stratified epoch' = one sequence from every "
                                      "training video)") if recurrent else
                             _pkg("one pass over the training frames")),
        "epoch_fraction": S(1.0, _m("Sec. 3.1 (stratified epoch)")),
        "optimizer": S(_FT if ft else _NO_FT, _m("Sec. 3.1 'Optimization' (mu_L = mu / 2^L)")
                       if ft else _m("Sec. 4.1 (rows without '+ft')")),
        "lr": lr or S(1e-3, sec4 + " (global learning rate 1e-03, Adam)"),
        "lr_schedule": S({"rule": "plateau", "monitor": "val_loss", "factor": 0.1,
                          "patience": 50, "max_reductions": 3},
                         sec4 + " (decreased three times by a factor of 10, after 50 "
                                "stratified epochs)",
                         paper="x0.1 when the val loss has not decreased for 50 stratified "
                               "epochs, three times"),
        "weight_decay": S(1e-6, sec4 + " (weight decay 1e-06)", paper="weight decay 1e-06 (L2 "
                                                                      "or decoupled: not stated)"),
        "batch_size": S(32, _pkg("not in the paper; CHELSEA234/HiFi_IFDL train.py (the same "
                                 "group's related code) uses 32"), paper="not stated"),
        "batch_composition": S(
            "stratified epoch: one random clip_len-frame window from every training video; "
            "with several manipulations each real video gives 2 windows and a random half of "
            "each manipulation's videos one window each" if recurrent else
            "batch_size frames drawn at random from all training frames",
            _m("Sec. 3.1 'Video-based stratified sampling' and Sec. 4 (reals oversampled x2, "
               "each manipulation undersampled /2 with multiple manipulations)")
            if recurrent else _m("Sec. 4.1 ('without stratified sampling')")),
        "loss": S("isolation (Masi Eq. 2)" if loss == "isolation" else
                  "binary_crossentropy on sigmoid",
                  _m("Sec. 3.3 Eq. (2)") if loss == "isolation" else
                  _m("Sec. 4.1 (Encoder [52] trained with binary cross-entropy)")),
        "init_weights": S("imagenet", _m("Sec. 3.1 ('We initialize all the layers from "
                                         "pre-trained weights from ImageNet except those of the "
                                         "LSTM') and Sec. 3.3"),
                          paper="ImageNet for every layer but the LSTM (uniform)",
                          official="none (no code); keras.applications DenseNet121 ImageNet "
                                   "weights (Keras cache) or --densenet-weights FILE"),
        "augmentation": S("none", _m("Sec. 5 ('we plan to measure the impact of data "
                                     "augmentation')")),
        "sampling": S(_MASI_SAMPLING if recurrent else _MASI_FRAME_SAMPLING,
                      _m("Sec. 4.1 (270 / 110 frames per video) and Sec. 4 ('at inference "
                         "time we take 1 frame over 7 to build the sequence')"),
                      paper="270 training frames and 110 val/test frames per video; 1 frame "
                            "over 7 at inference"),
        "checkpoint_selection": S("lowest val loss (FF++ official val split); test data never "
                                  "used", _pkg("not in the paper; the val loss is what its "
                                               "schedule monitors"), paper="not stated"),
        "early_stopping": S({"rule": "after the last lr reduction", "monitor": "val_loss",
                             "patience": 50},
                            _pkg("the paper's schedule has no other end (Sec. 4): after the "
                                 "third lr reduction, stop when the val loss has not decreased "
                                 "for 50 more epochs")),
        "metric": metric or S("see table", _m("Tables 1-4")),
        "seed": S(0, _pkg("--seed (default 0)")),
        "model_config": S(cfg, _m("Sec. 3.1 (two branches, 2-group point-wise fusion, dropout "
                                  "0.2), Sec. 3.2 (S = 3 LoG scales), Sec. 4 (LSTM D = 128; "
                                  "1024-d descriptor = DenseNet-121)")),
    }
    if loss == "isolation":
        dim = 2 * lstm_units if recurrent else 1024
        radii = (list(RADII_256) if dim == 256 else list(RADII_1024) if dim == 1024
                 else _scaled_radii(dim))
        s["radii"] = S(radii, sec4 + " ({0.042, 1.638} for 2D = 256)" if dim == 256 else
                       _m("Sec. 4.1 ({2.5, 97.5} for D = 1024)") if dim == 1024 else
                       _pkg(f"not in the paper for D = {dim}; the 256-d radii x sqrt(D / 256) "
                            "(the paper: radii must grow with D)"))
        s["center"] = S("fixed: the mean embedding of all real training samples under the "
                        "ImageNet-initialised network, computed once before training",
                        _m("Sec. 3.3 ('pre-computing a reference center c ... before training')"))
    return CellProtocol(table, key, s)


_T1_COLS_AB = "tAUC@1%, tAUC@10%, TAR@1%"


def _masi_table1() -> list[CellProtocol]:
    t = "twobranch_table1_ablation"
    lr4 = S(1e-4, _m("Sec. 4.1 ('trained with a global learning rate of 1e-04')"),
            paper="1e-4 for the Table 1a methods")
    lr4b = S(1e-4, _m("Sec. 4.1 (Table 1b uses Table 1a's best configuration as its baseline)")
             + "; " + _pkg("1a's global rate carried over"),
             paper="not restated for 1b")
    lr3 = S(1e-3, _m("Sec. 4 (global rate 1e-03; 'the results are produced with LSTM')"))
    m_ab = S(f"frame level (one score per frame) on the DF test split: {_T1_COLS_AB}",
             _m("Table 1a/1b"))
    m_c = S("frame level (one score per sequence) on the DF test split: tAUC@1%, TAR@1%",
            _m("Table 1c"))
    rows: list[tuple[str, str, dict[str, Any]]] = [
        ("1a", "Encoder [52] (BCE)", dict(compression="c40", recurrent=False, loss="bce",
                                          ft=False, lr=lr4, metric=m_ab,
                                          config={"branches": "rgb", "dropout": 0.0})),
        ("1a", "+ft, +drop, +loss", dict(compression="c40", recurrent=False, lr=lr4,
                                         metric=m_ab, config={"branches": "rgb"})),
        ("1b", "Single-Branch", dict(compression="c23", recurrent=False, lr=lr4b, metric=m_ab,
                                     config={"branches": "rgb"})),
        ("1b", "Two-Branch", dict(compression="c23", recurrent=False, lr=lr4b, metric=m_ab)),
        ("1c", "no +ft", dict(compression="c40", ft=False, lr=lr3, metric=m_c)),
        ("1c", "128 cat p=1", dict(compression="c40", lr=lr3, metric=m_c,
                                   config={"fusion_groups": 1})),
        ("1c", "256 cat p=2", dict(compression="c40", lr=lr3, metric=m_c, lstm_units=256)),
        ("1c", "128 cat p=2 (chosen)", dict(compression="c40", lr=lr3, metric=m_c)),
    ]
    return [_masi_cell(t, (sec, row), train=["DF"], **kw) for sec, row, kw in rows]


_T2_METRIC = ("AUC, pAUC@10%, tAUC@10%, TAR@10% at frame level (one score per sequence) and "
              "video level (mean of a video's sequence scores), FF++ test split")


def _four(table: str, key: tuple[str, ...], comp: str, metric: Setting, **kw: Any
          ) -> CellProtocol:
    return _masi_cell(table, key, compression=comp, metric=metric, **kw)


def _masi_table2() -> list[CellProtocol]:
    metric = S(_T2_METRIC, _m("Table 2 and Sec. 4 ('We used average to perform video-level "
                              "evaluation')"))
    return [_four("twobranch_table2_ffpp", (c,), c, metric) for c in ("c23", "c40")]


def _cross(cell: CellProtocol, updates: Mapping[str, Setting]) -> CellProtocol:
    s = dict(cell.settings)
    s.update(updates)
    return CellProtocol(cell.table, cell.key, s)


def _model_from(origin: str) -> Setting:
    return S(origin, _m("Sec. 4 (cross-testing always with the FF++ four-manipulation c40 "
                        "model)"))


def _masi_table3() -> list[CellProtocol]:
    t = "twobranch_table3_celebdf"
    celeb = _four(t, ("celebdf",), "c40", S(
        "(a) AUC, pAUC@10%, tAUC@10%, TAR@10% at frame and video level; (b) AUC, on the 518 "
        "Celeb-DF v2 test videos", _m("Table 3a/3b, Sec. 4.2")), test=["CelebDF"],
        strategy="cross-test")
    celeb = _cross(celeb, {
        "data": S(["FaceForensics++ c40 (--data, official download layout)", CELEBDF_DATA],
                  _m("Sec. 4.2")),
        "splits": S({"Celeb-DF": "celebdf_official", "FF++": "ffpp_official"},
                    "SPLIT_RULES (this module): celebdf_official, ffpp_official"),
        "model_from": _model_from("twobranch_table2_ffpp/c40"),
    })
    df = _four(t, ("ffpp_df",), "c40", S("AUC on FF++ Deepfakes test videos and the real test "
                                         "videos", _m("Table 3b ('tested on just deepfake "
                                                      "class')")),
               test=["DF"], strategy="cross-test")
    df = _cross(df, {"model_from": _model_from("twobranch_table2_ffpp/c40")})
    return [celeb, df]


def _masi_table4() -> list[CellProtocol]:
    t = "twobranch_table4_ffpp_dfdc"
    acc = S("accuracy % at P(fake) = 0.5 (distance (r- + r+) / 2), one score per sequence, FF++ "
            "test split", _m("Table 4a") + "; " + _pkg("the paper does not state the "
                                                       "threshold"))
    out = [_cross(_four(t, ("4a", c), c, acc), {"model_from": S(
        f"twobranch_table2_ffpp/{c}", _m("Sec. 4.1 ('we trained a model for c23 and another "
                                         "for c40')"))}) for c in ("c23", "c40")]
    wp = _four(t, ("4b", "c40"), "c40", S(
        "video-level ln(wP), alpha = 100, at recall 0.1 / 0.5 / 0.9: 'valid' (best fold), "
        "'test-from-valid' (its parameters on the test set), 'test' (parameters matched on "
        "the test set: an oracle, labelled so)", _m("Sec. 4.3 and Table 4b")),
        test=["DFDC"], strategy="cross-test")
    wp = _cross(wp, {
        "data": S(["FaceForensics++ c40 (--data, official download layout)", DFDC_DATA],
                  _m("Sec. 4.3")),
        "splits": S({"DFDC": "dfdc_preview_masi", "FF++": "ffpp_official"},
                    "SPLIT_RULES (this module): dfdc_preview_masi, ffpp_official"),
        "model_from": _model_from("twobranch_table2_ffpp/c40"),
        "selection": S("per recall level: choose the number of sequences per video and the "
                       "distance threshold that maximise ln(wP) while keeping the recall, by "
                       "5-fold cross-validation on the DFDC-preview training set",
                       _m("Sec. 4.3 ('the optimal number of sequences and the distance')")),
    })
    return [*out, wp]


def _masi_figures() -> list[CellProtocol]:
    cell = _four("twobranch_figures", ("figures",), "c40", S(
        "Fig. 1 strip (a real and a fake test sequence with P(fake)), Fig. 3 RGB vs Deep-LoG "
        "maps, Fig. 4b t-SNE of test embeddings, Fig. 4d distances to c with r- and r+",
        _m("Figs. 1, 3, 4")))
    return [_cross(cell, {"model_from": S("twobranch_table2_ffpp/c40", _m(
        "Fig. 1 ('trained only on FaceForensics++'), Sec. 4 (cross-testing model: c40)")),
        "cell": S("figures", _pkg("the script has no cells; one id for its single run"))})]


_BUILDERS: dict[str, Callable[[], list[CellProtocol]]] = {
    "table3_in_domain": _tariq_table3,
    "table4_out_of_domain": _tariq_table4,
    "table5_transfer": _tariq_table5,
    "table6_open_domain": _tariq_table6,
    "cam_figure": _cam,
    "twobranch_table1_ablation": _masi_table1,
    "twobranch_table2_ffpp": _masi_table2,
    "twobranch_table3_celebdf": _masi_table3,
    "twobranch_table4_ffpp_dfdc": _masi_table4,
    "twobranch_figures": _masi_figures,
}


# --------------------------------------------------------------------------------------------
# Quick profile: the full cells minus these reductions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Update:
    """A reduction value that updates a dict-valued setting instead of replacing it."""

    changes: Mapping[str, Any]

    def apply(self, old: Any) -> dict[str, Any]:
        """``{**old, **changes}``."""
        return {**(old or {}), **copy.deepcopy(dict(self.changes))}

    def __str__(self) -> str:
        return "full value updated with " + _fmt(dict(self.changes))


#: Longer single-domain budgets where F2F / NT were not learnt (Tables 4 and 3; reasons in
#: :func:`_quick_reductions`): model -> phase -> (epochs, steps per epoch).
#: CLRNet's single-domain budget on the mouth reenactments: Table 4's one F2F training and
#: Table 3's F2F / NT cells (reasons in :func:`_quick_reductions`).
_CLRNET_F2F_STEPS = (12, 50)
_F2F_STEPS = {
    "xception": {"single": (2, 40)}, "mesoinception4": {"single": (8, 100)},
    "clrnet": {"single": (4, 50)},
}

#: The quick profile's values, the one place they live: the table scripts read every setting
#: of a cell from :func:`cells`, whose quick cells are the full ones with
#: :data:`QUICK_REDUCTIONS` (built from these values) applied.
QUICK: dict[str, Any] = {
    # ---- CLRNet tables (Tariq et al.)
    "face_size": 128,  # faces extracted once at 128 px for every quick CLRNet table
    "input_size": 64,
    "input_size_xception": 72,  # keras.applications Xception needs >= 71 px
    "input_size_clrnet": 128,
    "input_size_meso": 128,
    "clip_len": 5,
    "clips_per_video": 9,  # all nine 5-frame clips of the mini benchmark's 48-frame videos
    "batch_size": 8,
    "k_videos": 6,
    "lr": 1e-3,
    "bn_recalibration": 10,  # training batches (clrnet.training.batchnorm)
    "eval_frames_frame_models": 5,  # val/test frames read per video by a frame model
    "eval_clips_clip_models": 5,  # val/test clips read per video by a clip model
    #: model -> (epochs, steps per epoch) of a single-domain training (Tables 3, 4, 6 single,
    #: every transfer source), of a merge training and of a transfer step.
    "steps": {
        "cnn_lstm": {"single": (2, 80), "merge": (2, 80), "transfer": (2, 50)},
        "dbirnn": {"single": (2, 80), "merge": (2, 80), "transfer": (2, 50)},
        "shallownet_v3": {"single": (2, 100), "merge": (5, 100), "transfer": (2, 60)},
        "xception": {"single": (1, 40), "merge": (1, 60), "transfer": (1, 30)},
        "mesoinception4": {"single": (4, 100), "merge": (8, 100), "transfer": (2, 80)},
        "clrnet": {"single": (2, 50), "merge": (4, 80), "transfer": (2, 30)},
    },
    #: Table 6 (single, merge, transfer and grid-search cells) trains shorter than Table 5;
    #: Tables 4 (one F2F training per method) and 3 (30 single-domain trainings) longer where
    #: F2F / NT were not learnt: table -> model -> phase -> (epochs, steps per epoch),
    #: replacing the values above.
    "table_steps": {
        "table4_out_of_domain": {**_F2F_STEPS, "clrnet": {"single": _CLRNET_F2F_STEPS}},
        "table3_in_domain": _F2F_STEPS,
        "table6_open_domain": {
            "cnn_lstm": {"single": (2, 60), "merge": (2, 60)},
            "dbirnn": {"single": (2, 60), "merge": (2, 60)},
            "shallownet_v3": {"single": (1, 100), "merge": (4, 100)},
            "xception": {"single": (1, 40), "merge": (1, 40)},
            "mesoinception4": {"single": (2, 100), "merge": (4, 100)},
            "clrnet": {"single": (2, 40), "merge": (2, 40)},
        },
    },
    #: Single-domain budgets of some training domains, replacing the two above: table ->
    #: model -> (domains, (epochs, steps per epoch)).
    "domain_steps": {
        "table3_in_domain": {"clrnet": (["F2F", "NT"], _CLRNET_F2F_STEPS)},
    },
    #: Table 6's restricted grid search in the quick profile: one (reenactment, swap) pair.
    "rgs_pairs": [["F2F", "DF"]],
    "model_overrides": {
        "clrnet": {"repetitions": [1, 1, 1, 1], "initial_filters": 4, "dropout": 0.0},
        "shallownet_v3": {"dense_units": 64, "dropout": 0.0},
        "dbirnn": {"backbone": "small", "width": 8, "units": 16, "dropout": 0.2},
        "cnn_lstm": {"backbone": "small", "width": 8, "units": 32, "dense_units": 32,
                     "dropout": 0.2},
    },
    # ---- Masi et al. tables
    "tb_face_size": 80,
    "tb_clips_per_video": 2,
    "tb_window": 5,
    "tb_input_size": 64,
    "tb_overrides": {"blocks": [1, 1, 1, 1], "growth_rate": 8, "stem_filters": 16,
                     "lstm_units": 16},
    "tb_lr_patience": 2,
    "tb_epochs": 10,
    "tb_steps_per_epoch": 20,
    "tb_lr": 1e-3,  # one rate for every two-branch quick cell
}


#: Why MesoInception4 keeps 128 px in the quick profile (measured; experiments/README.md).
MESO_INPUT_WHY = (
    "MesoInception4 pools by 32: at 64 px its head sees 2x2x16 = 64 features (1024 at its "
    "256 px) before two Dropout(0.5), and it did not learn Face2Face / NeuralTextures (Table "
    "3, 8x100 steps: training accuracy 0.63 / 0.57, test AUC 0.66 / 0.62); at 128 px the "
    "same steps gave test AUC 0.94 / 0.89 on a 64-videos-per-method build, and 0.99 / 0.63 "
    "in Table 3 on mini benchmark v4 (NT learnt in one build, not in the other)")


def _quick_reductions() -> list[Reduction]:
    q = QUICK
    tq, mq = TARIQ_TABLES, MASI_TABLES
    mini = "the gated datasets are not available; the mini benchmark runs everywhere in minutes"
    small = "CPU minutes instead of GPU days"
    clip_models = tuple(m for m in TARIQ_MODELS if m not in FRAME_MODELS)
    frames = q["clip_len"] * q["clips_per_video"]
    tb_frames = q["tb_window"] * q["tb_clips_per_video"]
    steps_why = ("a learning budget per model, measured on the mini benchmark (FS held-out test "
                 "clip AUC >= 0.9 after it): cheap models get more steps, Xception and CLRNet "
                 "fewer")
    out = [
        Reduction("cell", OMIT, "the mini benchmark has no DFDC preview (the column runs with "
                  "--dfdc)", ("table3_in_domain",), {"test_domains": ("DFDC",)}),
        Reduction("data", [MINI_LABEL], mini, tq + mq),
        Reduction("data", [MINI_LABEL, "its in-the-wild folder (DFW stand-in)"], mini, tq,
                  {"test_domains": ("DFW",)}),
        Reduction("splits", {"mini benchmark": "mini_benchmark"}, "the mini benchmark has "
                  "60 videos per method: its own small splits", tq + mq),
        Reduction("face_size", q["face_size"], "faces are extracted once, at CLRNet's quick "
                  "input size, for every quick CLRNet table (the other models resize down)",
                  tq),
        Reduction("face_size", q["tb_face_size"], "faces are extracted once, small, for every "
                  "quick Masi table", mq),
        Reduction("input_size", q["input_size"], small, tq + mq),
        Reduction("input_size", q["input_size_xception"], "Xception's minimum input is 71 px",
                  tq, {"model": ("xception",)}),
        Reduction("input_size", q["input_size_clrnet"], "the tiny CLRNet at 64 px has 1x1 "
                  "maps from its third stage on and learned less (FS test AUC 0.74 vs 0.89 at "
                  "128, same 100 steps); the official multi-dataset runs used 128", tq,
                  {"model": ("clrnet",)}),
        Reduction("input_size", q["input_size_meso"], MESO_INPUT_WHY, tq,
                  {"model": ("mesoinception4",)}),
        Reduction("merge_input_size", q["input_size"], small, tq),
        Reduction("merge_input_size", q["input_size_xception"], "Xception's minimum is 71 px",
                  tq, {"model": ("xception",)}),
        Reduction("merge_input_size", q["input_size_clrnet"], "as input_size", tq,
                  {"model": ("clrnet",)}),
        Reduction("merge_input_size", q["input_size_meso"], "as input_size", tq,
                  {"model": ("mesoinception4",)}),
        Reduction("clip_len", q["clip_len"], "faces are extracted once as 5-frame clips for "
                  "all models", tq, {"model": ("cnn_lstm",)}),
        Reduction("clips_per_video", q["clips_per_video"], "every 5-frame clip of the mini "
                  "benchmark's 48-frame videos (more samples per video, same extraction)", tq,
                  {"model": clip_models}),
        Reduction("clips_per_video", frames, "every frame of the quick clips is a sample", tq,
                  {"model": FRAME_MODELS}),
        Reduction("eval_clips_per_video", q["eval_clips_clip_models"], "clip models validate "
                  "and score on the first 5 of the 9 clips of each validation and test video "
                  "(the test video is the bootstrap unit: 32 test videos per class and domain "
                  "decide the interval) to keep validation and scoring short", tq,
                  {"model": clip_models}),
        Reduction("eval_clips_per_video", frames, "every frame of the quick clips is a sample",
                  tq, {"model": FRAME_MODELS}),
        Reduction("frames_per_video", frames, "the mini benchmark's videos have 48 frames", tq),
        Reduction("eval_frames_per_video", frames, "the mini benchmark's videos have 48 frames",
                  tq),
        Reduction("eval_frames_per_video", q["eval_clips_clip_models"] * q["clip_len"], "as "
                  "eval_clips_per_video (the frames of the clips scored)", tq,
                  {"model": clip_models}),
        Reduction("eval_frames_per_video", q["eval_frames_frame_models"], "frame models "
                  "validate and score on the frames of the first clip of each validation "
                  "and test video (a frame model has 5x the samples of a clip model per video; "
                  "the test video is the bootstrap unit, so the interval barely changes) to "
                  "keep Xception's validation and scoring short", tq,
                  {"model": FRAME_MODELS}),
        Reduction("eval_clips_per_video", q["eval_frames_frame_models"], "as "
                  "eval_frames_per_video (every scored frame is a sample)", tq,
                  {"model": FRAME_MODELS}),
        Reduction("frames_per_video", tb_frames, small, mq),
        Reduction("eval_frames_per_video", tb_frames, small, mq),
        Reduction("epoch_fraction", 1.0, "the mini benchmark is small: whole epochs", tq),
        Reduction("batch_size", q["batch_size"], "small data and CPU memory", tq + mq),
        Reduction("merge_batch_size", q["batch_size"], "small data and CPU memory", tq),
        Reduction("source_batch_size", q["batch_size"], "small data and CPU memory", tq),
        Reduction("merge_epoch_fraction", 1.0, "the mini benchmark is small: whole epochs", tq),
        Reduction("lr", q["lr"], "a few hundred steps: a larger step", tq),
        Reduction("k_videos", q["k_videos"], "the paper's 10 exceed the mini benchmark's 8 "
                  "DFD training videos per class; with K = 3 (at most 3 DFD actors) every "
                  "transferred model called the unseen test actors' real DFD videos fake "
                  "(CNN+LSTM: mean P(fake) 0.89-0.95 on them, <= 0.10 on most training actors' "
                  "reals; 'all fake' DFD cells), with K = 6 it did not (75 % called fake, "
                  "AUC 1.00)", tq),
        Reduction("augmentation", "none", "at a few hundred steps the official augmentation "
                  "stopped learning (of the six models only CLRNet has one in the full "
                  "profile): the quick CLRNet on DFD (mini benchmark v4, 12 x 50 steps) kept a "
                  "training accuracy of 0.44-0.54 in all 12 epochs with it and reached 0.99 "
                  "without it; earlier, MesoInception4 FS test AUC 0.80 with vs 0.92 without "
                  "(200 steps)", tq),
        Reduction("bn_recalibration", q["bn_recalibration"], "after a few hundred steps at "
                  "momentum 0.99 BatchNorm's moving statistics are still near their initial "
                  "values and a model in evaluation mode scores every input alike (Xception: "
                  "P(fake) 0.537 +- 0.0003 on every clip); recalibrated on this many training "
                  "batches before every validation and at the end of every training", tq),
    ]
    merge_why = {"clrnet": "; CLRNet at 4 x 50 steps kept its first-epoch checkpoint (pooled "
                           "val accuracy 0.69, then 0.66, 0.66, 0.61 while training accuracy "
                           "rose 0.59 -> 0.82) and reached FS clip AUC 0.75 in Table 5, at "
                           "4 x 80 its fourth (0.73) and 0.94"}
    for model, phases in q["steps"].items():
        where = {"model": (model,)}
        merge_note = " (merge: five domains learn slower" + merge_why.get(model, "") + ")"
        budgets = [("epochs", "steps_per_epoch", phases["single"], where, ""),
                   ("source_epochs", "source_steps_per_epoch", phases["single"], where, ""),
                   ("epochs", "steps_per_epoch", phases["merge"],
                    {**where, "strategy": ("merge",)}, merge_note),
                   ("merge_epochs", "merge_steps_per_epoch", phases["merge"], where,
                    " (merge candidates)"),
                   ("epochs", "steps_per_epoch", phases["transfer"],
                    {**where, "strategy": ("transfer", "rgs")}, " (transfer step)")]
        for field_e, field_n, (e, n), cond, note in budgets:
            out.append(Reduction(field_e, e, steps_why + note, tq, cond))
            out.append(Reduction(field_n, n, steps_why + note, tq, cond))
    for table, models in q["table_steps"].items():
        why_t = {"table3_in_domain": "30 single-domain trainings, affordable since one child "
                                      "per model reuses its traced model (Table 3 from an empty "
                                      "cache 11 min 17 s -> 8 min 37 s, 2-core AMD EPYC Zen 4): "
                                      "Table 4's budgets except CLRNet's (4 x 50 here, 12 x 50 "
                                      "there); at about half of them CLRNet stayed "
                                      "below 0.8 on DFD / F2F / NT (0.67 / 0.72 / 0.57), "
                                      "MesoInception4 too (0.74 / 0.53 / 0.54), Xception on NT "
                                      "(0.63); with CLRNet at Table 4's 12 x 50 (v4) Table 3 "
                                      "took 20 min 22 s and CLRNet scored DFD 0.68, F2F 0.83, "
                                      "NT 0.65 (at 4 x 50: 0.68, 0.74, 0.68); on v5 (twice "
                                      "the training videos) CLRNet's F2F / NT trainings get "
                                      "12 x 50 (below)",
                 "table6_open_domain": "single, merge, transfer and grid-search trainings for "
                                       "every method: about half of Table 5's budget per "
                                       "training, to stay near 15 minutes on 2 CPU cores",
                 "table4_out_of_domain": "one F2F training per method: with the single-domain "
                                         "budget above, in-domain F2F clip AUC stayed below 0.8 "
                                         "(Xception 0.79, MesoInception4 0.52, CLRNet 0.62; the "
                                         "other three 0.97-0.99), so twice the steps; "
                                         "CLRNet three times Table 3's (12 x 50): at 4 x 50 "
                                         "its F2F clip AUC was 0.74-0.76 (Tables 3 and 4, mini "
                                         "benchmark v3 and v4), at 12 x 50 0.88 (measured on a "
                                         "64-videos-per-method build); Table 3, with five "
                                         "CLRNet trainings, cannot afford it in 15 minutes"}[table]
        for model, phases in models.items():
            where = {"model": (model,)}
            conds = {"single": [("epochs", "steps_per_epoch", {**where,
                                                                 "strategy": ("single",)}),
                                ("source_epochs", "source_steps_per_epoch", where)]
                      if table == "table6_open_domain" else
                      [("epochs", "steps_per_epoch", {**where, "strategy": ("single",)})],
                     "merge": [("epochs", "steps_per_epoch", {**where, "strategy": ("merge",)}),
                               ("merge_epochs", "merge_steps_per_epoch", where)]}
            for phase, (e, n) in phases.items():
                for field_e, field_n, cond in conds[phase]:
                    out.append(Reduction(field_e, e, why_t, (table,), cond))
                    out.append(Reduction(field_n, n, why_t, (table,), cond))
    domain_why = ("CLRNet on F2F / NT: Table 4's F2F budget (12 x 50); at Table 3's 4 x 50 its "
                  "training accuracy stayed at 0.47-0.55 in every epoch on both (mini benchmark "
                  "v5), at 12 x 50 it left chance after 150 (F2F) and 100 (NT) steps and ended "
                  "at training / validation accuracy 0.86 / 0.80 (F2F) and 0.87 / 0.80 (NT); "
                  "without the L2 penalty 4 x 50 steps stayed at 0.49-0.60 (F2F, NT)")
    for table, models in q["domain_steps"].items():
        for model, (domains, (e, n)) in models.items():
            cond = {"model": (model,), "strategy": ("single",), "train_domains": tuple(domains)}
            out.append(Reduction("epochs", e, domain_why, (table,), cond))
            out.append(Reduction("steps_per_epoch", n, domain_why, (table,), cond))
    out.append(Reduction("rgs_pairs", q["rgs_pairs"], "one (reenactment, identity-swap) pair "
                         "instead of all six: each pair trains a source, a transfer and a merge "
                         "model (the full grid in one process held every candidate model: "
                         "the earlier quick run peaked at 19.5 GB)", ("table6_open_domain",)))
    why = {
        "clrnet": "tiny widths: the same code path, far fewer parameters; no dropout: with "
                  "Dropout(0.25) after two of the three ConvLSTMs of every block, at 4 filters, "
                  "the FS source model reached val accuracy 0.64 after 100 steps, without it "
                  "0.94 (merge: train accuracy 0.67 vs 0.77 after 150 steps)",
        "shallownet_v3": "a smaller dense layer; no dropout: with Dropout(0.25) after each of "
                         "its 8 convs (no BatchNorm) the features collapsed in a few hundred "
                         "steps and every input scored alike; without it FS test AUC 1.00",
        "dbirnn": "the 'small' backbone (4 conv-BN-ReLU-pool blocks; a quick stand-in for "
                  "DenseNet-121): the 'tiny' one (2 convs + global pooling) did not learn in "
                  "300 steps, this one reached FS test AUC 1.00 in 240",
        "cnn_lstm": "the 'small' backbone (4 conv-BN-ReLU-pool blocks; a quick stand-in for "
                    "InceptionV3): the 'tiny' one did not learn in 300 steps, this one reached "
                    "FS test AUC 1.00 in 240",
    }
    for model, over in q["model_overrides"].items():
        out.append(Reduction("model_config", Update(over), why[model], tq, {"model": (model,)}))
    out += [
        Reduction("compression", "c23", "the mini benchmark has no c40 copies", mq,
                  {"compression": ("c40",)}),
        Reduction("input_size", q["tb_input_size"], small, mq),
        Reduction("clip_len", q["tb_window"], small, mq, {"model": ("two_branch",)}),
        Reduction("clips_per_video", q["tb_clips_per_video"], small, mq,
                  {"model": ("two_branch",)}),
        Reduction("clips_per_video", tb_frames, "every frame of the quick clips is a sample", mq,
                  {"model": ("two_branch_frame",)}),
        Reduction("eval_clips_per_video", q["tb_clips_per_video"], small,
                  mq, {"model": ("two_branch",)}),
        Reduction("eval_clips_per_video", tb_frames, "every frame of the quick clips is a "
                  "sample", mq, {"model": ("two_branch_frame",)}),
        Reduction("sampling", "the first clips_per_video x clip_len frames of each video as "
                  "consecutive clips (faces stored at 80 px)",
                  "faces are extracted once for all quick Masi tables", mq),
        Reduction("epochs", q["tb_epochs"], small, mq),
        Reduction("steps_per_epoch", q["tb_steps_per_epoch"], "a stratified epoch of the mini "
                  "benchmark is only ~9 batches, too few to learn from", mq),
        Reduction("lr_schedule", Update({"patience": q["tb_lr_patience"]}), "few epochs", mq),
        Reduction("early_stopping", "none (the epochs end first)", "few epochs", mq),
        Reduction("lr", q["tb_lr"], "few epochs: the two-branch quick runs use one rate",
                  ("twobranch_table1_ablation",), {"lr": (1e-4,)}),
        Reduction("init_weights", "none", "the quick profile never downloads (no ImageNet "
                  "weights)", mq),
        Reduction("center", "fixed: the mean embedding of the real training samples under the "
                  "randomly initialised network, BatchNorm statistics first recalibrated on "
                  "the same batches", "no ImageNet weights in the quick profile", mq),
        Reduction("radii", "the 256-d radii x sqrt(D / 256) for the tiny embedding size D",
                  "the tiny model's embedding is smaller", mq),
        Reduction("model_config", Update(q["tb_overrides"]), "tiny DenseNet widths, same code "
                  "path", mq),
        Reduction("model_config", Update({**q["tb_overrides"],
                                          "lstm_units": 2 * q["tb_overrides"]["lstm_units"]}),
                  "the row doubles the (tiny) LSTM width", ("twobranch_table1_ablation",),
                  {"cell": ("1c__256-cat-p-2",)}),
        Reduction("model_config", Update({k: v for k, v in q["tb_overrides"].items()
                                          if k != "lstm_units"}),
                  "tiny DenseNet widths (no LSTM)", mq, {"model": ("two_branch_frame",)}),
        Reduction("test_domains", ["mini in-the-wild folder (Celeb-DF stand-in)"],
                  "no Celeb-DF in the mini benchmark", ("twobranch_table3_celebdf",),
                  {"cell": ("celebdf",)}),
        Reduction("test_domains", ["FF++ four (mini val split for the folds, test split as "
                  "test: DFDC-preview stand-in)"], "no DFDC preview in the mini benchmark",
                  ("twobranch_table4_ffpp_dfdc",), {"cell": ("4b__c40",)}),
        Reduction("selection", "as full, with the mini benchmark's val split as the "
                  "cross-validation pool", "no DFDC preview in the mini benchmark",
                  ("twobranch_table4_ffpp_dfdc",)),
    ]
    return out


#: The quick profile: applied in order to the full cells (conditions read the full values).
QUICK_REDUCTIONS: list[Reduction] = _quick_reductions()


# --------------------------------------------------------------------------------------------
# Deviations: what cannot (or by decision does not) follow the papers
# --------------------------------------------------------------------------------------------

_TQ_TRAIN = ("table3_in_domain", "table4_out_of_domain", "table5_transfer",
             "table6_open_domain", "cam_figure")
_TQ_TRANSFER = ("table5_transfer", "table6_open_domain")
_TQ_MERGE = ("table5_transfer", "table6_open_domain")

DEVIATIONS: list[Deviation] = [
    Deviation(
        "DBiRNN and CNN+LSTM", "re-implemented by the CLRNet authors 'to match the original "
        "paper's experimental settings' (Sec. 5.1.1); CNN+LSTM 20 consecutive frames, DBiRNN 5",
        "none (README links the papers only)",
        "clrnet/models/dbirnn.py (DenseNet-121 + BiGRU 128, 224 px, Adam 5e-5) and "
        "clrnet/models/cnn_lstm.py (InceptionV3 + LSTM 2048, 299 px, Adam 1e-5), 50 epochs, "
        "trained from scratch", "no code to follow; the settings come from the two original "
        "papers and the CLRNet authors' other baselines; nothing is downloaded (Güera & Delp "
        "used an ImageNet InceptionV3 according to this package's model docstring; not "
        "re-checked here)", f"{T} Sec. 5.1; clrnet/models/dbirnn.py, clrnet/models/cnn_lstm.py", _TQ_TRAIN),
    Deviation(
        "DeepFake-in-the-Wild data", "200 videos (150,000 frames) of 50 celebrities, read from "
        "the web, never stored or distributed (Sec. 1 footnote, Sec. 7)", "datasets/DeepFakewild/"
        "test in the notebooks; the README lists 13 sample links",
        "any folder (real/, fake/) or CSV given with --wild; test only; the mini benchmark's "
        "in-the-wild folder in the quick profile", "DFW is not public", f"{T} Sec. 5, Table 2",
        ("table4_out_of_domain", "table6_open_domain", "cam_figure")),
    Deviation(
        "F1 unit and class", "F1 score (which class or average is not stated); 'we evaluate "
        "all the video frames' (Sec. 5.1.2)", "classification_report per 5-frame clip (CLRNet) "
        "and per frame (baselines), both classes and averages printed",
        "F1 of the fake class at 0.5 per sample (clip for clip models, frame for frame models); "
        "macro F1, clip AUC and video-level F1 stored beside it",
        "the paper's printed F1 cannot be attributed to a class; one number per cell must be "
        "chosen", f"{OFF} src/CLRNET_*_test.ipynb", _TQ_TRAIN[:4]),
    Deviation(
        "runs per cell", "mean ± std over an unstated number of runs", "one run per notebook",
        "one run per cell (--seed, default 0)", "cost; the spread is not reproduced",
        f"{T} Tables 3-6", _TQ_TRAIN[:4]),
    Deviation(
        "FF++ split identities", "first 750 / next 125 / last 125 videos (Sec. 5)",
        "datasets/<Method>/{train,val,test} folders (their content is not published)",
        "split rule tariq_ffpp: by video number, fakes a_b by their target a",
        "the paper's rule ignores FF++'s identity pairs, so a fake's source face can be a "
        "real video of another split (the official JSON of the Masi tables avoids this)",
        f"{T} Sec. 5", _TQ_TRAIN),
    Deviation(
        "DFD split identities", "random 300 real + 300 fake videos, 250/25/25 (Sec. 5)",
        "datasets/DeepFakeDetection/{train,val,test}", "split rule tariq_dfd (seeded random, "
        "per class)", "DFD has 28 actors: a random video split puts the same actor in every "
        "split, as the paper's rule implies", f"{T} Sec. 5", _TQ_TRAIN),
    Deviation(
        "DFDC column", "DFDC (100,000 videos, Sec. 2.1) in Table 3; no split or size given",
        "datasets/DFDC/{train,val,test} (origin unknown)", "DFDC preview (--dfdc), split rule "
        "tariq_dfdc (balanced, val carved from train with the split seed)",
        "the paper's DFDC data are undocumented; the preview set is what this package reads, "
        "and it has no val split", f"{T} Sec. 2.1, Table 3", ("table3_in_domain",)),
    Deviation(
        "frozen layers in transfer learning", "the first half of the model layers frozen, "
        "CLRNet and all baselines (Sec. 4.2.3, 5.2.3)", "only the last top_k_layers trainable: "
        "CLRNet 120 of 207 (87 frozen), MesoInception4 7, ShallowNetV3 15 (none in its NT-> "
        "notebook), Xception 40",
        "first half frozen (len(model.layers) // 2, Input counted); the official counts are an "
        "option (clrnet.strategies.train_transfer top_k_layers=)",
        "the paper is explicit; the official counts depend on TF1's layer list",
        f"{OFF} src/*transfer*.ipynb, *_FS-(DF,F2F,NT,DFD).ipynb", _TQ_TRANSFER),
    Deviation(
        "frozen BatchNormalization", "not stated", "trainable=False only (the "
        "FrozenBatchNormalization swap is a no-op); TF 1.13 most likely kept batch statistics "
        "in the frozen layers", "inference mode (moving statistics, not updated)",
        "Keras 3 ties trainable=False to inference mode; TF 1.x behaviour was not run here",
        f"{OFF} src/Utility_functions.py", _TQ_TRANSFER),
    Deviation(
        "transfer training data", "10 videos of each target domain (Sec. 4.2.3, 5.2.3); Table 2 "
        "lists 10 transfer videos for every row, Pristine and FS included",
        "datasets/TransferLearning/<all five domains>/train: the source mixed in; the baseline "
        "notebooks count 8,000 frames = 5 domains x 20 videos x 80 frames",
        "k_videos real + k_videos fake training videos of the source and of each target",
        "the paper is silent on source data; the official counts fix them",
        f"{OFF} src/CLRNET_transfer_FS-DF-F2F-NT-DFD_train.ipynb, "
        "MesoInception4_FS-(DF,F2F,NT,DFD).ipynb", _TQ_TRANSFER),
    Deviation(
        "brightness augmentation", "brightness -30% to 30% (Sec. 5.1.3)",
        "brightness_range=[0.7, 1.0]", "x0.7-1.3", "the paper is explicit",
        f"{OFF} src/DFVDSequence.py", _TQ_TRAIN),
    Deviation(
        "augmentation of the baselines", "augmentation described with CLRNet's preprocessing "
        "(Sec. 5.1.3), not per model", "baselines: rescale 1/255 only", "CLRNet only",
        "official code where the paper is silent", f"{OFF} src/*_DF.ipynb", _TQ_TRAIN[:4]),
    Deviation(
        "merge input size", "frames resized to 240 x 240 in preprocessing (Sec. 5.1.3)",
        "128 px in CLRNET_ALL and in the MesoInception4/Xception/ShallowNetv3 ALL notebooks",
        "128 px in merge cells for these four models (DBiRNN/CNN+LSTM keep their backbone's "
        "size)", "the paper names the stored frame size, not the merge models' input; the "
        "official runs that made Table 5/6's merge numbers used 128", f"{OFF} src/*_ALL.ipynb",
        _TQ_MERGE),
    Deviation(
        "merge frames per video", "equal budget of 80 frames per video for all methods "
        "(Sec. 5.1.1)", "CLRNET_ALL trains on 10 frames (2 clips) and validates on 5 per video; "
        "baseline ALL notebooks use all 80 frames, 1/8 of them per epoch",
        "80 frames (16 clips) per video; the baselines' 1/8 epoch fraction kept",
        "the paper is explicit about the budget", f"{OFF} src/CLRNET_ALL.ipynb", _TQ_MERGE),
    Deviation(
        "merge composition", "the union of the training datasets (Sec. 4.2.2; 750 + 750 = "
        "1,500 videos, Sec. 5.2.2); 'requires an equal number of samples from each dataset' "
        "(Sec. 6.2.3, discussion)", "CLRNet: create_sequence over the five domain folders, "
        "each with its own copy of the real videos (520,000 = 4 x 1,500 x 80 + 500 x 80 "
        "frames); baselines: round-robin batches, one domain per batch",
        "union of the domains' training videos, each video once; real and fake samples "
        "alternate (minority oversampled); no per-domain balancing",
        "the paper's definition; the real class is one class, not one domain per dataset",
        f"{OFF} src/CLRNET_ALL.ipynb, *_ALL.ipynb", _TQ_MERGE),
    Deviation(
        "Xception transfer input", "not stated", "Xception_FS-(DF,F2F,NT,DFD): 128 px (batch "
        "200) from a 240-px source; Xception_NT-(DF,FS,F2F,DFD): 240 px (batch 256)",
        "240 px (the source model's size) in both tables; batch sizes as the notebooks",
        "one rule for every transfer step: train at the source model's input size",
        f"{OFF} src/Xception_*.ipynb", _TQ_TRANSFER),
    Deviation(
        "checkpoint selection", "not stated", "CLRNet: every epoch saved, val and test metrics "
        "logged each epoch, chosen epochs unexplained; baselines: best val_acc",
        "best val accuracy on the training domains' val splits, for every model",
        "test data must not choose checkpoints", f"{OFF} src/*.ipynb", _TQ_TRAIN),
    Deviation(
        "validation frames", "not stated", "80 frames per video in single-domain notebooks; 10 "
        "(transfer) or 5 (CLRNET_ALL) per video elsewhere", "the test sampling (16 clips, 80 "
        "frames)", "one rule for all strategies", f"{OFF} src/CLRNET_*.ipynb", _TQ_TRAIN),
    Deviation(
        "restricted grid search choice", "the best combination on the open-domain (DFW) attack "
        "by accuracy (Sec. 4.3.3, Algorithm 1); an analysis of how close an arbitrary choice "
        "comes (Sec. 6.3.1)", "none (no RGS notebook)", "the same oracle choice on the DFW test "
        "set, labelled as an oracle; candidates' checkpoints chosen on their val data; "
        "TransferLearning(i, j) = source i (reenactment) -> target j",
        "reproduces the paper's analysis without letting test data pick checkpoints",
        f"{T} Algorithm 1", ("table6_open_domain",)),
    Deviation(
        "early stopping", "not mentioned", "EarlyStopping commented out", "none; --patience N "
        "as an option", "official code", f"{OFF} src/CLRNET_train_*.ipynb", _TQ_TRAIN),
    Deviation(
        "Fig. 8 models and clips", "'CAM outputs of our CLRNet model' (which model and clips "
        "is not stated)", "each dataset's single-domain CLRNet; DFW with the NT -> {DF, FS, "
        "F2F, DFD} transfer model; the first clip in create_sequence's seeded order (may be "
        "real)", "the same models; the first fake test clip in deterministic order",
        "a fake clip is what the figure discusses", f"{OFF} src/CLRNET_Heatmap_cam_*.ipynb",
        ("cam_figure",)),
    Deviation(
        "face extraction", "MTCNN landmarks, crop, centre alignment, 240 x 240 (Sec. 5.1.3)",
        "none published (FFmpeg + MTCNN per issue #2)", "data_prep: MTCNN on a subset of "
        "frames, 5-point similarity alignment, margin 1.3, 240 px",
        "no extraction code to follow", f"{OFF} issue #2", _TQ_TRAIN),
    Deviation(
        "framework", "TensorFlow 1.13.1, Keras, Python 3.7.5 (Sec. 5.1.1)", "TF1 tf.keras",
        "TensorFlow 2.21 / Keras 3.15 (ConvLSTM recurrent activation pinned to the Keras-2 "
        "hard sigmoid)", "the package's platform", f"{T} Sec. 5.1.1; clrnet/models/clrnet.py",
        _TQ_TRAIN),
    Deviation(
        "two-branch network code", "method described in Sec. 3-4", "none (no official code)",
        "twobranch/ re-derived from the paper; conventions of the same group's later code "
        "(CHELSEA234/HiFi_IFDL)", "no code exists", f"{M}; twobranch/models.py", MASI_TABLES),
    Deviation(
        "DenseNet variant", "1024-d descriptor, 28 x 28 x 128 maps (Sec. 3.1, 4)", "none",
        "DenseNet-121 (6-12-24-16, growth 32) at 224 px", "the only DenseNet with a 1024-d "
        "final feature at those map sizes", f"{M} Sec. 3.1, 4", MASI_TABLES),
    Deviation(
        "ImageNet initialisation", "every layer from ImageNet except the LSTM (uniform); c "
        "from that network (Sec. 3.1, 3.3)", "none", "keras.applications DenseNet121 ImageNet "
        "weights (cached by Keras on a connected machine) or --densenet-weights FILE, loaded "
        "into both branches and the backbone; the Deep-LoG 1x1 and the fusion layer have no "
        "ImageNet counterpart (random init); a one-line error when neither source exists; "
        "quick profile and tests: random init", "no download in tests or the quick profile",
        f"{M} Sec. 3.1", MASI_TABLES),
    Deviation(
        "frame sampling", "270 frames/video for training, 110 for validation and testing "
        "(Sec. 4.1); 'at inference time we take 1 frame over 7 to build the sequence' (Sec. 4)",
        "none", "train: 270 evenly spaced frames, 27 windows of 10; val/test: frames one in "
        "seven, at most 110, every 10-frame window (hop 1: 101 per video)",
        "interpretation: hop-1 windows over 110 frames give 700 x 101 = 70.7K frame-level "
        "samples, Table 2's '~70K samples'; shorter videos give fewer", f"{M} Sec. 4, 4.1, "
        "Table 2", MASI_TABLES),
    Deviation(
        "schedule length", "lr x0.1 three times after 50 stratified epochs without a lower val "
        "loss (Sec. 4); no epoch count", "none", "up to 1000 epochs, ending 50 epochs after the "
        "third reduction without improvement", "a 50-epoch run never reaches one reduction",
        f"{M} Sec. 4", MASI_TABLES),
    Deviation(
        "batch size", "not stated", "none", "32 sequences", "the same group's related code "
        "(CHELSEA234/HiFi_IFDL train.py) uses 32", "CHELSEA234/HiFi_IFDL train.py", MASI_TABLES),
    Deviation(
        "Table 1 learning rate", "1e-4 for the Table 1a methods (Sec. 4.1); 1e-3 otherwise",
        "none", "1e-4 for 1a and 1b (1b continues 1a's best configuration), 1e-3 for 1c",
        "1b's rate is not restated; 1c uses the LSTM model of Sec. 4", f"{M} Sec. 4, 4.1",
        ("twobranch_table1_ablation",)),
    Deviation(
        "Table 1c '128 sum p=1'", "row in Table 1c", "none", "not reproduced",
        "the model concatenates the BiLSTM directions only", f"{M} Table 1c",
        ("twobranch_table1_ablation",)),
    Deviation(
        "radii for other embedding sizes", "{0.042, 1.638} for 2D = 256, {2.5, 97.5} for "
        "D = 1024; 'if D does change, the radii have to be changed accordingly'", "none",
        "the 256-d radii x sqrt(D / 256) (D = 512 for the 256-unit row)",
        "no values given", f"{M} Sec. 4", ("twobranch_table1_ablation",)),
    Deviation(
        "Table 4a threshold", "accuracy, threshold not stated", "none", "P(fake) = 0.5, i.e. "
        "distance (r- + r+) / 2", "a fixed, data-independent threshold", f"{M} Table 4a",
        ("twobranch_table4_ffpp_dfdc",)),
    Deviation(
        "Table 4b 'test' row", "parameters searched to match the recall on the test set",
        "none", "computed as the paper, labelled an oracle", "it uses test labels",
        f"{M} Sec. 4.3", ("twobranch_table4_ffpp_dfdc",)),
    Deviation(
        "checkpoint selection (Masi)", "not stated", "none", "lowest val loss on the FF++ val "
        "split", "the loss the schedule monitors; test data never chooses", f"{M} Sec. 4",
        MASI_TABLES),
    Deviation(
        "face alignment (Masi)", "dlib alignment, fallback [9], largest face (Sec. 4)", "none",
        "data_prep's MTCNN 5-point alignment for every dataset", "one extractor for both "
        "papers", f"{M} Sec. 4", MASI_TABLES),
    Deviation(
        "weight decay form", "weight decay 1e-06 (Sec. 4)", "none", "coupled L2 1e-6 in the "
        "layer-wise Adam", "the paper does not say L2 or decoupled", f"{M} Sec. 4", MASI_TABLES),
    Deviation(
        "Masi figures", "Fig. 1 web video, Fig. 4b t-SNE of a plain DenseNet, Fig. 4c BCE "
        "logits", "none", "Fig. 1 and 4b from FF++ test sequences of the c40 model; Fig. 4c "
        "not drawn", "no web video or BCE twin is trained for the figures", f"{M} Figs. 1, 4",
        ("twobranch_figures",)),
]


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _check_table(table: str) -> None:
    if table not in _BUILDERS:
        raise ValueError(f"unknown table {table!r}; choose from {', '.join(TABLES)}")


def _check_profile(profile: str) -> None:
    if profile not in ("full", "quick"):
        raise ValueError(f"unknown profile {profile!r}; choose 'full' or 'quick'")


@cache
def _full(table: str) -> tuple[CellProtocol, ...]:
    return tuple(_BUILDERS[table]())


def reductions_for(table: str) -> list[Reduction]:
    """The quick-profile reductions that concern ``table`` (in application order)."""
    _check_table(table)
    return [r for r in QUICK_REDUCTIONS if not r.tables or table in r.tables]


def _reduce(cell: CellProtocol) -> CellProtocol | None:
    """The quick version of a full cell (None when the quick profile omits it)."""
    flat = cell.as_dict()
    settings = dict(cell.settings)
    for r in reductions_for(cell.table):
        if not r.applies(flat):
            continue
        if r.field == "cell" and r.value == OMIT:
            return None
        old = settings[r.field]
        value = r.value.apply(flat[r.field]) if isinstance(r.value, Update) else r.value
        settings[r.field] = Setting(copy.deepcopy(value), f"quick profile: {r.reason}",
                                    old.paper, old.official)
    return CellProtocol(cell.table, cell.key, settings)


def cell_protocols(table: str, profile: str = "full") -> list[CellProtocol]:
    """Every cell of ``table`` with each setting and its source.

    Args:
        table: a script name of :data:`TABLES`.
        profile: ``"full"`` (the papers' protocol) or ``"quick"`` (full minus
            :data:`QUICK_REDUCTIONS`).

    Returns:
        The cells in the script's order.

    Raises:
        ValueError: unknown table or profile.
    """
    _check_table(table)
    _check_profile(profile)
    full = list(_full(table))
    if profile == "full":
        return full
    return [c for c in (_reduce(c) for c in full) if c is not None]


def cells(table: str, profile: str = "full") -> list[dict[str, Any]]:
    """Exactly what ``--show-config`` prints: one flat, JSON-ready dict per cell.

    Args:
        table: a script name of :data:`TABLES`.
        profile: ``"full"`` or ``"quick"``.

    Returns:
        Dicts with at least :data:`REQUIRED_KEYS` (plus strategy-specific keys).

    Raises:
        ValueError: unknown table or profile.
    """
    return [c.as_dict() for c in cell_protocols(table, profile)]


def profile_of(args: Any) -> str:
    """The profile a script's parsed arguments select (quick without ``--data`` or with
    ``--quick``), as ``experiments.context.profile_of`` decides without ``--profile``."""
    return "quick" if getattr(args, "quick", False) or getattr(args, "data", None) is None \
        else "full"


def show_config(table: str, profile: str = "full", *, ids: Iterable[str] | None = None,
                file: TextIO | None = None) -> int:
    """Print one JSON object per line per cell of ``table``; nothing is trained or read.

    Args:
        table: a script name of :data:`TABLES`.
        profile: ``"full"`` or ``"quick"``.
        ids: only these cell ids (None = all).
        file: output stream (default ``sys.stdout``).

    Returns:
        0 (the exit status for the script).
    """
    out = file or sys.stdout
    keep = None if ids is None else set(ids)
    for c in cells(table, profile):
        if keep is None or c["cell"] in keep:
            out.write(json.dumps(c, sort_keys=False, ensure_ascii=False) + "\n")
    out.flush()
    return 0


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, Update):
        return str(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _md(text: Any) -> str:
    return _fmt(text).replace("|", "\\|").replace("\n", " ")


def _describe(group: list[dict[str, Any]], table_cells: list[dict[str, Any]]) -> str:
    """Which cells a group is, in words: 'all', 'model: x', 'strategy: y', or the ids."""
    ids = {c["cell"] for c in group}
    if len(ids) == len(table_cells):
        return "all"
    for fields in (("strategy",), ("model",), ("compression",), ("strategy", "model")):
        values = {tuple(_fmt(c[f]) for f in fields) for c in group}
        match = {c["cell"] for c in table_cells
                 if tuple(_fmt(c[f]) for f in fields) in values}
        if match == ids:
            names = sorted("/".join(v) for v in values)
            return f"{' x '.join(fields)}: " + ", ".join(names)
    return ", ".join(f"`{i}`" for i in sorted(ids))


def _settings_table(table: str) -> list[str]:
    protos = cell_protocols(table)
    flats = [p.as_dict() for p in protos]
    keys = [k for k in KEY_ORDER if any(k in p.settings for p in protos)]
    keys += sorted({k for p in protos for k in p.settings} - set(keys))
    lines = ["| setting | cells | paper | official code | this package | source |",
             "|---|---|---|---|---|---|"]
    for k in keys:
        if k in ("table", "cell"):
            continue
        groups: dict[str, list[int]] = {}
        order: list[str] = []
        for i, p in enumerate(protos):
            if k not in p.settings:
                continue
            st = p.settings[k]
            sig = json.dumps([st.value, st.source, st.paper, st.official], ensure_ascii=False)
            if sig not in groups:
                groups[sig] = []
                order.append(sig)
            groups[sig].append(i)
        for sig in order:
            st = protos[groups[sig][0]].settings[k]
            where = _describe([flats[i] for i in groups[sig]], flats)
            paper = st.paper or ("as this package" if st.source.startswith((T, M)) else "—")
            official = st.official or ("as this package" if OFF in st.source else
                                       "no official code" if table in MASI_TABLES else "—")
            lines.append(f"| {k} | {_md(where)} | {_md(paper)} | {_md(official)} | "
                         f"{_md(st.value)} | {_md(st.source)} |")
    return lines


def render_markdown() -> str:
    """The text of ``experiments/PROTOCOL.md`` (generated from this module).

    Returns:
        Markdown.
    """
    out = [
        "# Protocol of every reproduced table",
        "",
        "Generated from `experiments/protocol.py` by "
        "`python -m experiments.protocol --markdown > experiments/PROTOCOL.md`; "
        "`tests/test_protocol.py` checks that this file is up to date. Do not edit by hand.",
        "",
        "Every table script prints its resolved cells with `--show-config` (one JSON object "
        "per cell, nothing trained, no data read). Below, per table: every setting with what "
        "the **paper** says, what the **official code** does (CLRNet: "
        "`github.com/shahroztariq/CLRNet`, HEAD 2c40fd7; Masi et al. published no code) and "
        "what **this package** does, with the source of the value; then every remaining "
        "deviation with its reason.",
        "",
        "Decision rule where the papers and the official code disagree: for CLRNet "
        "hyper-parameters the official code wins where the paper is silent, the paper's text "
        "wins where it is explicit; both are recorded.",
        "",
        "Notation: `source:D` = initialised from the single-domain model of domain D of the "
        "same table; `DF`, `FS`, `F2F`, `NT`, `DFD` = FaceForensics++ Deepfakes, FaceSwap, "
        "Face2Face, NeuralTextures, DeepFakeDetection (each with its real videos), `DFW` = "
        "DeepFake-in-the-Wild stand-in, `DFDC` = DFDC preview, `CelebDF` = Celeb-DF v2.",
        "",
        "## Split rules",
        "",
        "| rule | dataset | rule | videos | seed | source |",
        "|---|---|---|---|---|---|",
    ]
    for r in SPLIT_RULES.values():
        out.append(f"| `{r.name}` | {_md(r.dataset)} | {_md(r.rule)} | {_md(r.counts)} | "
                   f"{_md('—' if r.seed is None else r.seed)} | {_md(r.source)} |")
    out += [
        "",
        "The split seed is part of the protocol: `--seed` changes training, not the splits.",
        "",
        "## Quick profile",
        "",
        "The quick profile is the full profile with these reductions, applied in order; "
        "conditions (and the base of a 'full value updated with' change) read the full "
        "values, and a later reduction of the same setting replaces an earlier one. Nothing "
        "else differs. The values live in one place "
        "(`experiments.protocol.QUICK`).",
        "",
        "| setting | quick value | applies to | reason |",
        "|---|---|---|---|",
    ]
    for r in QUICK_REDUCTIONS:
        value = "cell omitted" if r.field == "cell" and r.value == OMIT else r.value
        out.append(f"| {r.field} | {_md(value)} | {_md(r.scope())} | {_md(r.reason)} |")
    for table in TABLES:
        protos = cell_protocols(table)
        out += ["", f"## {HEADINGS[table]}", "",
                f"Script `experiments/{table}.py`; {len(protos)} cells: "
                + ", ".join(f"`{p.id}`" for p in protos) + ".", "",
                "### Settings", ""]
        out += _settings_table(table)
        devs = [d for d in DEVIATIONS if table in d.tables]
        out += ["", "### Deviations", "",
                "| setting | paper | official code | this package | reason | source |",
                "|---|---|---|---|---|---|"]
        for d in devs:
            out.append(f"| {_md(d.setting)} | {_md(d.paper)} | {_md(d.official)} | "
                       f"{_md(d.package)} | {_md(d.reason)} | {_md(d.source)} |")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m experiments.protocol``: print the Markdown, check a file, or show a table.

    Args:
        argv: arguments (default ``sys.argv[1:]``).

    Returns:
        Exit status: 0 ok, 1 ``--check`` found a stale file, 2 bad arguments.
    """
    import argparse

    p = argparse.ArgumentParser(prog="python -m experiments.protocol",
                                description="The protocol of every table, as data.")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--markdown", action="store_true", help="print PROTOCOL.md's text")
    g.add_argument("--check", metavar="FILE", help="exit 1 if FILE differs from the text")
    g.add_argument("--show-config", metavar="TABLE", help="print a table's cells as JSON lines")
    p.add_argument("--quick", action="store_true", help="with --show-config: quick profile")
    args = p.parse_args(argv)
    if args.markdown:
        sys.stdout.write(render_markdown())
        return 0
    if args.check:
        try:
            text = open(args.check, encoding="utf-8").read()
        except OSError as exc:
            print(f"error: {args.check}: {exc.strerror}", file=sys.stderr)
            return 2
        if text != render_markdown():
            print(f"error: {args.check} is stale; regenerate it with python -m "
                  "experiments.protocol --markdown > experiments/PROTOCOL.md", file=sys.stderr)
            return 1
        return 0
    try:
        return show_config(args.show_config, "quick" if args.quick else "full")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
