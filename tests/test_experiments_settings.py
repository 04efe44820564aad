"""From protocol cells to training arguments: experiments.settings, the CLRNet hyper-parameters
(experiments.clrnet_runs.hparams), the two-branch TrainConfig (experiments.masi_runs) and the
clip sets (experiments.data.extraction_of). Every value asserted here is read from the protocol
cell, never from a second table of numbers."""

from __future__ import annotations

import argparse

import pytest

from experiments import context as C
from experiments import protocol as P
from experiments import settings as S
from experiments.cells import ExperimentError
from experiments.data import extraction_of, split_rule


def _ctx(tmp_path, table: str, profile: str = "full", **kw):
    args = argparse.Namespace(data=tmp_path if profile == "full" else None, profile=profile,
                              quick=False, out=tmp_path / "o", work=None, seed=0, epochs=None,
                              rerun=False, no_progress=True, max_steps=kw.get("max_steps"),
                              max_batch=kw.get("max_batch"), in_process=False, only_cell=None,
                              show_config=False, densenet_weights=kw.get("densenet_weights"))
    return C.resolve_context(table, args)


def cell(table: str, cid: str, profile: str = "full") -> dict:
    return {c["cell"]: c for c in P.cells(table, profile)}[cid]


# ------------------------------------------------------------------------------- vocabulary
@pytest.mark.parametrize("table", P.TABLES)
@pytest.mark.parametrize("profile", ["full", "quick"])
def test_every_cell_reads_in_the_harness_vocabulary(table, profile):
    """Each descriptive setting of every cell maps to one implemented value (or fails here)."""
    for c in P.cells(table, profile):
        assert S.monitor_of(c) in ("val_accuracy", "val_loss")
        # CLRNet augments in the full protocol; the quick profile switches it off
        assert S.augment_of(c) == (c["paper"] == "tariq2021" and c["model"] == "clrnet"
                                   and profile == "full")
        assert S.bn_recalibration_of(c) == (P.QUICK["bn_recalibration"] if profile == "quick"
                                            and c["paper"] == "tariq2021" else None)
        S.model_overrides_of(c)
        S.init_weights_of(c)
        ext = extraction_of(c)
        assert ext["clip_len"] * ext["clips_per_video"] == c["frames_per_video"]
        if c["paper"] == "masi2020":
            S.masi_loss_of(c), S.masi_ft_of(c), S.masi_schedule_of(c)
        else:
            S.check_constant_schedule(c)
            assert S.clrnet_patience_of(c) is None


@pytest.mark.parametrize("table", P.TABLES)
def test_quick_profile_never_downloads(table):
    for c in P.cells(table, "quick"):
        init = c["init_weights"]
        assert init == "none" or init.startswith("source:") or init.endswith(".h5"), (table, c)


def test_unknown_descriptions_fail_in_one_line():
    c = dict(cell("table5_transfer", "merge__clrnet"), checkpoint_selection="best test F1")
    with pytest.raises(ExperimentError, match="checkpoint_selection"):
        S.monitor_of(c)
    with pytest.raises(ExperimentError, match="augmentation"):
        S.augment_of(dict(c, augmentation="mixup"))


def test_resolved_cells_apply_only_the_command_line():
    full = P.cells("table6_open_domain")
    got = S.resolved_cells("table6_open_domain", "full", epochs=2, seed=5)
    rgs = {c["cell"]: c for c in got}["rgs__clrnet"]
    assert (rgs["epochs"], rgs["source_epochs"], rgs["merge_epochs"], rgs["seed"]) == (2, 2, 2, 5)
    assert S.resolved_cells("table6_open_domain", "full") == full


# ------------------------------------------------------------------------------- clip sets
def test_clip_sets_follow_clip_length_and_frames():
    assert extraction_of(cell("table5_transfer", "merge__cnn_lstm")) == {
        "clip_len": 20, "clips_per_video": 4, "sampling": "clrnet", "size": 240,
        "compression": "c23"}
    frame = extraction_of(cell("table5_transfer", "merge__xception"))
    assert (frame["clip_len"], frame["clips_per_video"]) == (5, 16)  # the 5-frame set's frames
    masi = extraction_of(cell("twobranch_table2_ffpp", "c40"))
    assert masi == {"clip_len": 10, "clips_per_video": 27, "sampling": "masi", "size": 224,
                    "compression": "c40"}
    quick = extraction_of(cell("twobranch_table2_ffpp", "c40", "quick"))
    assert quick == {"clip_len": 5, "clips_per_video": P.QUICK["tb_clips_per_video"],
                     "sampling": "clrnet", "size": P.QUICK["tb_face_size"],
                     "compression": "c23"}
    # one quick extraction for every CLRNet-table model: all nine 5-frame clips
    sets = {tuple(sorted(extraction_of(c).items())) for t in ("table3_in_domain",
            "table5_transfer", "table6_open_domain") for c in P.cells(t, "quick")}
    assert sets == {tuple(sorted({"clip_len": 5, "clips_per_video": P.QUICK["clips_per_video"],
                                  "sampling": "clrnet", "size": P.QUICK["face_size"],
                                  "compression": "c23"}.items()))}


def test_split_rules_per_dataset():
    c = cell("table5_transfer", "merge__clrnet")
    assert split_rule(c, "FS") == "tariq_ffpp" and split_rule(c, "DFD") == "tariq_dfd"
    assert split_rule(cell("table5_transfer", "merge__clrnet", "quick"), "FS") is None
    assert split_rule(cell("twobranch_table2_ffpp", "c40"), "DF") is None  # stored official


# ------------------------------------------------------------------------------- CLRNet hp
def test_clrnet_hparams_follow_each_phase(tmp_path):
    from experiments.clrnet_runs import hparams

    ctx = _ctx(tmp_path, "table5_transfer")
    tr = ctx.cells["transfer__clrnet"]
    step, source = hparams(ctx, tr, "train"), hparams(ctx, tr, "source")
    assert (step["epochs"], step["batch_size"], step["image_size"], step["lr"]) == (150, 40, 240,
                                                                                    5e-5)
    assert (source["epochs"], source["batch_size"]) == (300, 16)
    assert step["monitor"] == "val_accuracy" and step["augment"] is True
    assert "model_overrides" not in step  # the transfer step keeps the source model
    assert source["model_overrides"]["repetitions"] == [3, 4, 6, 3]
    merge = hparams(ctx, ctx.cells["merge__clrnet"])
    assert (merge["image_size"], merge["batch_size"], merge["epochs"]) == (128, 40, 150)
    meso = hparams(ctx, ctx.cells["transfer__mesoinception4"])
    assert (meso["image_size"], meso["lr"], meso["augment"], meso["clip_len"]) == (256, 1e-3,
                                                                                   False, 1)
    lstm = hparams(ctx, ctx.cells["merge__cnn_lstm"])
    assert (lstm["clip_len"], lstm["image_size"], lstm["batch_size"]) == (20, 299, 4)
    assert "steps_per_epoch" not in merge  # one pass: the pipeline counts it
    assert "pipeline_kwargs" not in merge  # the full profile keeps tf.data's autotuning


def test_clrnet_hparams_quick_and_smoke(tmp_path):
    from experiments.clrnet_runs import hparams

    quick = _ctx(tmp_path, "table5_transfer", "quick")
    hp = hparams(quick, quick.cells["merge__clrnet"])
    epochs, steps = P.QUICK["steps"]["clrnet"]["merge"]
    assert (hp["image_size"], hp["epochs"], hp["steps_per_epoch"], hp["batch_size"],
            hp["lr"]) == (P.QUICK["input_size_clrnet"], epochs, steps, P.QUICK["batch_size"],
                          P.QUICK["lr"])
    assert hp["model_overrides"]["initial_filters"] == 4
    assert hp["bn_recalibration"] == P.QUICK["bn_recalibration"] and hp["augment"] is False
    assert hp["pipeline_kwargs"] == {"autotune": False}  # CPU cells: no autotuning thread
    # a transfer cell: the source training and the transfer step have their own budgets
    tr = quick.cells["transfer__xception"]
    step, source = hparams(quick, tr, "train"), hparams(quick, tr, "source")
    assert (step["epochs"], step["steps_per_epoch"]) == P.QUICK["steps"]["xception"]["transfer"]
    assert (source["epochs"], source["steps_per_epoch"]) == \
        P.QUICK["steps"]["xception"]["single"]
    assert source["model_overrides"] == {} and source["image_size"] == \
        P.QUICK["input_size_xception"]
    shallow = hparams(quick, quick.cells["merge__shallownet_v3"])
    assert shallow["model_overrides"]["dropout"] == 0.0
    # every key reaches clrnet's HParams as given
    from clrnet.strategies.hparams import resolve_hp

    h = resolve_hp("shallownet_v3", **shallow)
    assert (h.bn_recalibration, h.steps_per_epoch, h.augment, h.model_overrides["dropout"],
            h.epochs) == (P.QUICK["bn_recalibration"], P.QUICK["steps"]["shallownet_v3"]
                          ["merge"][1], False, 0.0, P.QUICK["steps"]["shallownet_v3"]["merge"][0])
    full = _ctx(tmp_path, "table5_transfer")
    assert resolve_hp("clrnet", **hparams(full, full.cells["merge__clrnet"])).bn_recalibration \
        is None
    smoke = _ctx(tmp_path, "table5_transfer", max_steps=2, max_batch=3)
    hp = hparams(smoke, smoke.cells["merge__xception"])
    assert (hp["epochs"], hp["steps_per_epoch"], hp["validation_steps"], hp["batch_size"],
            hp["image_size"]) == (1, 2, 2, 3, 128)


# ------------------------------------------------------------------------------- Masi config
def test_masi_train_config_full(tmp_path):
    from experiments.masi_runs import run_name, train_config

    ctx = _ctx(tmp_path, "twobranch_table2_ffpp")
    cfg = train_config(ctx, ctx.cells["c40"], tmp_path / "m.csv", tmp_path / "runs")
    assert (cfg.model, cfg.loss, cfg.image_size, cfg.frames, cfg.batch_size) == (
        "two_branch", "isolation", 224, 10, 32)
    assert (cfg.lr, cfg.l2, cfg.ft, cfg.lr_patience, cfg.lr_reductions) == (1e-3, 1e-6, True,
                                                                            50, 3)
    assert (cfg.stop_after_schedule, cfg.epochs, cfg.monitor) == (50, 1000, "val_loss")
    assert cfg.densenet_weights == "imagenet" and (cfg.r_minus, cfg.r_plus) == (0.042, 1.638)
    assert cfg.model_overrides["blocks"] == [6, 12, 24, 16] and "recurrent" not in \
        cfg.model_overrides
    assert set(cfg.methods) == {"Deepfakes", "FaceSwap", "Face2Face", "NeuralTextures",
                                "original"}
    t4 = _ctx(tmp_path, "twobranch_table4_ffpp_dfdc", densenet_weights=tmp_path / "d.h5")
    assert run_name(t4.cells["4b__c40"]) == run_name(t4.cells["4a__c40"]) == \
        "twobranch_table2_ffpp__c40"  # Table 4b cross-tests the c40 model
    assert train_config(t4, t4.cells["4b__c40"], tmp_path, tmp_path).densenet_weights == str(
        tmp_path / "d.h5")


def test_masi_train_config_table1_rows_and_quick(tmp_path):
    from experiments.masi_runs import train_config

    ctx = _ctx(tmp_path, "twobranch_table1_ablation")
    enc = train_config(ctx, ctx.cells["1a__Encoder-52-BCE-"], tmp_path, tmp_path)
    assert (enc.model, enc.loss, enc.ft, enc.lr) == ("two_branch_frame", "bce", False, 1e-4)
    assert enc.model_overrides["dropout"] == 0.0 and enc.model_overrides["branches"] == "rgb"
    wide = train_config(ctx, ctx.cells["1c__256-cat-p-2"], tmp_path, tmp_path)
    assert wide.model_overrides["lstm_units"] == 256
    quick = _ctx(tmp_path, "twobranch_table2_ffpp", "quick")
    q = train_config(quick, quick.cells["c40"], tmp_path, tmp_path)
    assert q.densenet_weights is None and q.stop_after_schedule is None
    assert (q.epochs, q.steps_per_epoch, q.lr_patience, q.image_size, q.frames) == (
        P.QUICK["tb_epochs"], P.QUICK["tb_steps_per_epoch"], P.QUICK["tb_lr_patience"],
        P.QUICK["tb_input_size"], P.QUICK["tb_window"])
    assert q.model_overrides["growth_rate"] == P.QUICK["tb_overrides"]["growth_rate"]
    assert q.r_minus is None  # quick: the radii scaled to the tiny embedding by default_radii


def test_schedule_end_stopping_waits_for_the_last_reduction():
    import keras

    from twobranch.optim import LimitedReduceLROnPlateau
    from twobranch.train import ScheduleEndStopping

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-3), loss="mse")
    sched = LimitedReduceLROnPlateau(max_reductions=2, monitor="val_loss", patience=1,
                                     min_lr=0.0, verbose=0)
    stop = ScheduleEndStopping(sched, patience=2)
    for cb in (sched, stop):
        cb.set_model(model)
        cb.on_train_begin()
    epochs = 0
    while not model.stop_training and epochs < 50:
        for cb in (sched, stop):
            cb.on_epoch_end(epochs, {"val_loss": 1.0})
        epochs += 1
    assert sched.reductions == 2
    # reductions at epochs 1 and 2 (patience 1), then 2 epochs without improvement: 3 and 4
    assert model.stop_training and epochs == 5


def test_quick_models_validate_and_score_the_first_clips_only():
    from experiments.data import eval_clips_of

    q = {c["model"]: c for c in P.cells("table5_transfer", "quick")}
    assert eval_clips_of(q["xception"]) == P.QUICK["eval_frames_frame_models"] // 5
    assert eval_clips_of(q["clrnet"]) == P.QUICK["eval_clips_clip_models"] < 9
    assert q["clrnet"]["eval_frames_per_video"] == 5 * P.QUICK["eval_clips_clip_models"]
    assert all(eval_clips_of(c) is None for c in P.cells("table5_transfer"))  # full: all
