"""experiments.protocol: the protocol as data, its quick reductions, --show-config and PROTOCOL.md."""

from __future__ import annotations

import importlib
import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import protocol as P

REPO = Path(__file__).resolve().parents[1]


def by_id(table: str, profile: str = "full") -> dict[str, dict]:
    return {c["cell"]: c for c in P.cells(table, profile)}


# ------------------------------------------------------------------------------- the document


def test_checked_in_protocol_md_is_the_rendered_text():
    path = REPO / "experiments" / "PROTOCOL.md"
    assert path.read_text(encoding="utf-8") == P.render_markdown(), (
        "experiments/PROTOCOL.md is stale: python -m experiments.protocol --markdown > "
        "experiments/PROTOCOL.md")


def test_markdown_has_every_table_and_every_deviation():
    md = P.render_markdown()
    for table in P.TABLES:
        assert f"## {P.HEADINGS[table]}" in md
        assert f"`experiments/{table}.py`" in md
    for d in P.DEVIATIONS:
        assert d.setting.replace("|", "\\|") in md
    for rule in P.SPLIT_RULES:
        assert f"`{rule}`" in md


def test_check_cli_flags_a_stale_file(tmp_path):
    stale = tmp_path / "PROTOCOL.md"
    stale.write_text("old\n")
    assert P.main(["--check", str(stale)]) == 1
    stale.write_text(P.render_markdown())
    assert P.main(["--check", str(stale)]) == 0


# ------------------------------------------------------------------------------- cells


def test_tables_are_the_scripts():
    scripts = {p.stem for p in (REPO / "experiments").glob("*.py")
               if re.search(r'^TABLE = "', p.read_text(), re.M)}
    assert set(P.TABLES) == scripts
    for table in P.TABLES:
        text = (REPO / "experiments" / f"{table}.py").read_text()
        assert f'TABLE = "{table}"' in text


@pytest.mark.parametrize("table", P.TABLES)
@pytest.mark.parametrize("profile", ["full", "quick"])
def test_every_cell_has_every_required_key_and_a_source(table, profile):
    protos = P.cell_protocols(table, profile)
    assert protos
    for proto in protos:
        missing = [k for k in P.REQUIRED_KEYS if k not in proto.settings]
        assert not missing, f"{table}/{proto.id} lacks {missing}"
        for name, setting in proto.settings.items():
            assert isinstance(setting.source, str) and setting.source.strip(), \
                f"{table}/{proto.id}: {name} has no source"
        flat = proto.as_dict()
        assert flat["table"] == table and flat["cell"] == proto.id
        assert json.loads(json.dumps(flat)) == flat  # JSON-ready, round-trips unchanged
        assert flat["init_weights"] in ("imagenet", "none") or \
            flat["init_weights"].startswith("source:")
        assert flat["frames_per_video"] == flat["clip_len"] * flat["clips_per_video"] or \
            flat["paper"] == "masi2020"


@pytest.mark.parametrize("table", P.TABLES)
def test_cell_ids_unique_and_formed_like_the_harness(table):
    ids = [c.id for c in P.cell_protocols(table)]
    assert len(ids) == len(set(ids))
    for proto in P.cell_protocols(table):
        if table != "twobranch_figures":  # the figures script has no cells: one fixed id
            assert proto.id == "__".join(
                re.sub(r"[^A-Za-z0-9_.+-]+", "-", str(k)) for k in proto.key)


def test_cell_ids_match_the_scripts():
    t3 = importlib.import_module("experiments.table3_in_domain")
    t4 = importlib.import_module("experiments.table4_out_of_domain")
    t5 = importlib.import_module("experiments.table5_transfer")
    t6 = importlib.import_module("experiments.table6_open_domain")
    cam = importlib.import_module("experiments.cam_figure")
    tb1 = importlib.import_module("experiments.twobranch_table1_ablation")
    assert set(by_id("table3_in_domain")) == {f"{m}__{c}" for m in t3.MODELS for c in t3.COLUMNS}
    assert set(by_id("table4_out_of_domain")) == set(t4.MODELS)
    assert set(by_id("table5_transfer")) == {f"{s}__{m}" for s in ("merge", "transfer")
                                             for m in t5.MODELS}
    assert set(by_id("table6_open_domain")) == {f"{s}__{m}" for s in t6.COL for m in t6.MODELS}
    assert list(by_id("cam_figure")) == cam.CODES
    assert list(by_id("twobranch_table1_ablation")) == [
        P.cell_id((r[0].split()[0], r[1])) for r in tb1.ROWS]
    assert list(by_id("twobranch_table2_ffpp")) == ["c23", "c40"]
    assert list(by_id("twobranch_table3_celebdf")) == ["celebdf", "ffpp_df"]
    assert list(by_id("twobranch_table4_ffpp_dfdc")) == ["4a__c23", "4a__c40", "4b__c40"]
    assert P.cell_id(("1a", "Encoder [52] (BCE)")) == "1a__Encoder-52-BCE-"


def test_split_names_are_defined_rules():
    for table in P.TABLES:
        for profile in ("full", "quick"):
            for c in P.cells(table, profile):
                assert c["splits"], c["cell"]
                assert set(c["splits"].values()) <= set(P.SPLIT_RULES), c["cell"]


# ------------------------------------------------------------------------------- quick profile


@pytest.mark.parametrize("table", P.TABLES)
def test_quick_cells_differ_only_in_reduced_fields(table):
    full, quick = by_id(table), by_id(table, "quick")
    assert set(quick) <= set(full)
    reductions = P.reductions_for(table)
    for cid, fcell in full.items():
        applicable = [r for r in reductions if r.applies(fcell)]
        if cid not in quick:
            assert any(r.field == "cell" and r.value == P.OMIT for r in applicable), cid
            continue
        qcell = quick[cid]
        assert set(qcell) == set(fcell)
        changed = {k for k in fcell if fcell[k] != qcell[k]}
        assert changed <= {r.field for r in applicable}, (cid, changed)


def test_every_reduction_applies_somewhere():
    for r in P.QUICK_REDUCTIONS:
        tables = r.tables or P.TABLES
        assert any(r.applies(c) for t in tables for c in P.cells(t)), r


def test_quick_values_come_from_one_place(monkeypatch):
    t5 = by_id("table5_transfer", "quick")
    steps = P.QUICK["steps"]["clrnet"]
    assert (t5["transfer__clrnet"]["epochs"], t5["transfer__clrnet"]["steps_per_epoch"]) == \
        steps["transfer"]
    assert (t5["transfer__clrnet"]["source_epochs"],
            t5["transfer__clrnet"]["source_steps_per_epoch"]) == steps["single"]
    assert (t5["merge__clrnet"]["epochs"], t5["merge__clrnet"]["steps_per_epoch"]) == \
        steps["merge"]
    t6 = by_id("table6_open_domain", "quick")["rgs__mesoinception4"]
    meso, meso6 = (P.QUICK["steps"]["mesoinception4"],
                   P.QUICK["table_steps"]["table6_open_domain"]["mesoinception4"])
    assert (t6["merge_epochs"], t6["merge_steps_per_epoch"]) == meso6["merge"]
    assert (t6["source_epochs"], t6["source_steps_per_epoch"]) == meso6["single"]
    assert (t6["epochs"], t6["steps_per_epoch"]) == meso["transfer"]
    assert t6["rgs_pairs"] == P.QUICK["rgs_pairs"]
    t3 = by_id("table3_in_domain", "quick")["xception__FS"]
    assert (t3["epochs"], t3["steps_per_epoch"]) == \
        P.QUICK["table_steps"]["table3_in_domain"]["xception"]["single"]
    assert t5["merge__clrnet"]["input_size"] == P.QUICK["input_size_clrnet"]
    assert t5["merge__mesoinception4"]["input_size"] == P.QUICK["input_size_meso"] == 128
    assert t5["merge__shallownet_v3"]["input_size"] == P.QUICK["input_size"]
    for c in t5.values():
        assert c["bn_recalibration"] == P.QUICK["bn_recalibration"]
        assert c["augmentation"] == "none"
        assert c["frames_per_video"] == 5 * P.QUICK["clips_per_video"]
        assert c["face_size"] == P.QUICK["face_size"]
    assert t5["merge__shallownet_v3"]["model_config"]["dropout"] == 0.0
    assert t5["merge__cnn_lstm"]["model_config"]["backbone"] == "small"
    assert by_id("table3_in_domain", "quick")["xception__FS"]["input_size"] == P.QUICK[
        "input_size_xception"]
    assert "clrnet__DFDC" not in by_id("table3_in_domain", "quick")
    q = by_id("twobranch_table2_ffpp", "quick")["c40"]
    assert q["compression"] == "c23" and q["init_weights"] == "none"
    assert q["model_config"]["blocks"] == P.QUICK["tb_overrides"]["blocks"]
    assert q["model_config"]["branches"] == "two"  # updated, not replaced


def test_bn_recalibration_is_a_package_addition_off_in_full():
    for table in ("table3_in_domain", "table5_transfer", "table6_open_domain"):
        for c in P.cell_protocols(table):
            setting = c.settings["bn_recalibration"]
            assert setting.value is None and setting.source.startswith(P.PKG)


# ------------------------------------------------------------------------------- facts


def test_clrnet_paper_facts():
    t5 = by_id("table5_transfer")
    tr, mg = t5["transfer__clrnet"], t5["merge__clrnet"]
    assert (tr["epochs"], tr["source_epochs"], tr["input_size"], tr["k_videos"]) == (150, 300,
                                                                                     240, 10)
    assert tr["init_weights"] == "source:FS" and tr["source_domain"] == "FS"
    assert "first half" in tr["freeze"] and "inference mode" in tr["frozen_batchnorm"]
    assert (mg["epochs"], mg["input_size"], mg["batch_size"]) == (150, 128, 40)
    assert "union" in mg["batch_composition"]
    meso = t5["transfer__mesoinception4"]
    assert (meso["input_size"], meso["lr"], meso["clip_len"]) == (256, 1e-3, 1)
    assert meso["loss"].startswith("mean_squared_error")
    assert meso["augmentation"] == "none"
    assert t5["merge__shallownet_v3"]["input_size"] == 128
    assert t5["transfer__cnn_lstm"]["clip_len"] == 20
    assert t5["transfer__cnn_lstm"]["frames_per_video"] == 80
    assert tr["source_batch_size"] == 16 and by_id("table6_open_domain")["rgs__xception"][
        "merge_epoch_fraction"] == 0.125
    single = by_id("table3_in_domain")["clrnet__DF"]
    assert single["face_size"] == 240
    assert (single["epochs"], single["input_size"], single["batch_size"], single["lr"]) == (
        300, 240, 16, 5e-5)
    assert single["splits"] == {"FF++": "tariq_ffpp"}
    assert "1.3" in single["augmentation"]  # the paper's ±30% brightness
    assert by_id("table3_in_domain")["xception__DF"]["input_size"] == 240
    assert by_id("table3_in_domain")["xception__DF"]["init_weights"] == "none"
    assert by_id("table3_in_domain")["clrnet__DFD"]["splits"] == {"DFD": "tariq_dfd"}
    assert by_id("table3_in_domain")["clrnet__DFDC"]["splits"] == {"DFDC": "tariq_dfdc"}
    assert P.SPLIT_RULES["tariq_dfdc"].seed is not None
    for c in P.cells("table6_open_domain"):
        assert c["test_domains"] == ["DFW"]
    rgs = by_id("table6_open_domain")["rgs__clrnet"]
    assert rgs["rgs_choice"].startswith("oracle")
    assert "val" in rgs["checkpoint_selection"] and "test data never" in rgs[
        "checkpoint_selection"]
    assert by_id("table6_open_domain")["transfer__clrnet"]["source_domain"] == "NT"
    cam = by_id("cam_figure")
    assert cam["DF"]["model_from"] == "table3_in_domain/clrnet__DF"
    assert cam["DFW"]["model_from"] == "table6_open_domain/transfer__clrnet"


def test_masi_paper_facts():
    for table in P.MASI_TABLES:
        for c in P.cells(table):
            assert c["init_weights"] == "imagenet", (table, c["cell"])
            assert c["splits"]["FF++"] == "ffpp_official"
            assert c["frames_per_video"] == 270 and c["eval_frames_per_video"] == 110
            assert c["epochs"] > 150  # three reductions of patience 50 must fit
    t4 = by_id("twobranch_table4_ffpp_dfdc")
    assert t4["4b__c40"]["compression"] == "c40"
    assert t4["4b__c40"]["model_from"] == "twobranch_table2_ffpp/c40"
    t1 = by_id("twobranch_table1_ablation")
    assert t1["1a__Encoder-52-BCE-"]["lr"] == 1e-4
    assert t1["1a__+ft-+drop-+loss"]["lr"] == 1e-4
    assert t1["1a__Encoder-52-BCE-"]["loss"].startswith("binary_crossentropy")
    assert t1["1a__+ft-+drop-+loss"]["radii"] == [2.5, 97.5]
    assert t1["1c__128-cat-p-2-chosen-"]["radii"] == [0.042, 1.638]
    r512 = t1["1c__256-cat-p-2"]["radii"]
    assert math.isclose(r512[1] / r512[0], 1.638 / 0.042, rel_tol=1e-4)
    assert t1["1c__128-cat-p-1"]["model_config"]["fusion_groups"] == 1
    t2 = by_id("twobranch_table2_ffpp")["c40"]
    assert (t2["clip_len"], t2["input_size"], t2["lr"], t2["weight_decay"]) == (10, 224, 1e-3,
                                                                                1e-6)
    assert "one in seven" in t2["sampling"]
    assert (t2["lr_schedule"]["patience"], t2["lr_schedule"]["max_reductions"]) == (50, 3)
    assert t2["early_stopping"]["patience"] == 50 and t2["face_size"] == 224
    quick = by_id("twobranch_table2_ffpp", "quick")["c40"]
    assert quick["lr_schedule"]["patience"] == P.QUICK["tb_lr_patience"]
    assert quick["face_size"] == P.QUICK["tb_face_size"]
    assert by_id("twobranch_table3_celebdf")["celebdf"]["splits"]["Celeb-DF"] == \
        "celebdf_official"


# ------------------------------------------------------------------------------- show-config


def test_show_config_prints_one_json_object_per_cell():
    buf = io.StringIO()
    assert P.show_config("table5_transfer", "full", file=buf) == 0
    lines = buf.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == P.cells("table5_transfer")
    buf = io.StringIO()
    P.show_config("table5_transfer", "quick", ids=["merge__clrnet"], file=buf)
    assert [json.loads(line)["cell"] for line in buf.getvalue().splitlines()] == ["merge__clrnet"]


def test_show_config_for_follows_the_harness_profile_rule():
    class Args:
        quick, data = False, None

    assert P.profile_of(Args) == "quick"
    Args.data = "/some/FF++"
    assert P.profile_of(Args) == "full"
    Args.quick = True
    assert P.profile_of(Args) == "quick"


def test_unknown_table_or_profile_is_one_clear_error(capsys):
    with pytest.raises(ValueError, match="unknown table"):
        P.cells("table9")
    with pytest.raises(ValueError, match="unknown profile"):
        P.cells("table5_transfer", "medium")
    assert P.main(["--show-config", "table9"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown table")


def test_import_is_light_and_the_cli_runs():
    code = ("import sys, experiments.protocol as p; "
            "bad = [m for m in ('tensorflow', 'keras', 'numpy', 'pandas') if m in sys.modules]; "
            "assert not bad, bad; p.main(['--show-config', 'twobranch_table2_ffpp'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert [json.loads(line)["cell"] for line in out] == ["c23", "c40"]


def test_experiments_readme_states_the_quick_training_lengths():
    """The README's quick-profile table quotes QUICK's step budgets (it once went stale)."""
    text = (REPO / "experiments" / "README.md").read_text().replace("**", "")
    row = next(line for line in text.splitlines() if line.startswith("| training length |"))
    names = {"cnn_lstm": "CNN+LSTM and DBiRNN", "shallownet_v3": "ShallowNetV3",
             "xception": "Xception", "mesoinception4": "MesoInception4", "clrnet": "CLRNet"}
    for model, label in names.items():
        budget = " / ".join(f"{e}x{s}" for e, s in (P.QUICK["steps"][model][phase] for phase in
                                                     ("single", "merge", "transfer")))
        assert f"{label} {budget}" in row, (model, budget)
    assert P.QUICK["steps"]["dbirnn"] == P.QUICK["steps"]["cnn_lstm"]
    t3 = ", ".join(f"{names[m]} {e}x{s}" for m, (e, s) in (
        (m, v["single"]) for m, v in P.QUICK["table_steps"]["table3_in_domain"].items()))
    assert f"Tables 3 and 4: {t3}" in row
    t4 = P.QUICK["table_steps"]["table4_out_of_domain"]
    assert {m: v for m, v in t4.items() if m != "clrnet"} == {
        m: v for m, v in P.QUICK["table_steps"]["table3_in_domain"].items() if m != "clrnet"}
    assert "Table 4 CLRNet {}x{}".format(*t4["clrnet"]["single"]) in row
    domains, (e, n) = P.QUICK["domain_steps"]["table3_in_domain"]["clrnet"]
    assert f"Table 3 CLRNet on {' / '.join(domains)} {e}x{n}" in row
    t3_cells = by_id("table3_in_domain", "quick")
    for code in ("DF", "FS", "DFD", "F2F", "NT"):
        cell = t3_cells[f"clrnet__{code}"]
        want = (e, n) if code in domains else \
            P.QUICK["table_steps"]["table3_in_domain"]["clrnet"]["single"]
        assert (cell["epochs"], cell["steps_per_epoch"]) == tuple(want), code
    assert by_id("table4_out_of_domain", "quick")["clrnet"]["epochs"] == e  # Table 4's budget
