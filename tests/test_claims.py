"""experiments.claims: the CLRNet paper's Section 6 claims, decided on synthetic result rows."""

from __future__ import annotations

import argparse
import json

import pytest

from experiments import claims as CL

MODELS = CL.MODEL_NAMES


def _row(section: str, model: str, col: str, auc: float, half: float = 0.03,
         f1: float | None = None) -> dict:
    return {"section": section, "row": model, "col": col, "metric": "F1 %",
            "ours": 100.0 * auc if f1 is None else f1, "auc": auc, "auc_lo": auc - half,
            "auc_hi": auc + half, "called_fake": 0.5}


def _table(section: str, cols, aucs: dict[str, float], half: float = 0.03) -> list[dict]:
    return [_row(section, m, c, a, half) for m, a in aucs.items() for c in cols]


def _by_text(results, start: str) -> dict:
    (found,) = [r for r in results if r["claim"].startswith(start)]
    return found


def _others(value: float) -> dict[str, float]:
    return {m: value for m in MODELS if m != "clrnet"}


# ------------------------------------------------------------------------------- the rule
def test_order_and_level_rules_give_each_verdict():
    a = CL.Score(0.90, 0.85, 0.95, 80.0, ("FS",))
    b = CL.Score(0.70, 0.60, 0.80, 60.0, ("FS",))
    c = CL.Score(0.88, 0.78, 0.97, 70.0, ("FS",))
    assert CL.better(a, b) == CL.HOLDS
    assert CL.better(b, a) == CL.FAILS
    assert CL.better(a, c) == CL.NOISE == CL.better(c, a)
    assert CL.at_least(a, 0.8) == CL.HOLDS and CL.at_least(b, 0.85) == CL.FAILS
    assert CL.at_least(b, 0.7) == CL.NOISE
    assert CL.combine([CL.HOLDS, CL.NOISE, CL.FAILS]) == CL.FAILS
    assert CL.combine([CL.HOLDS, CL.NOISE]) == CL.NOISE and CL.combine([CL.HOLDS]) == CL.HOLDS
    assert CL.combine([]) == CL.UNMEASURED


def test_a_mean_over_columns_has_the_mean_of_the_bounds():
    rows = [_row("merge", "clrnet", "FS", 0.9, 0.05), _row("merge", "clrnet", "DF", 0.7, 0.1)]
    s = CL.score(rows, "merge", "clrnet", ["FS", "DF"])
    assert (s.auc, s.lo, s.hi) == pytest.approx((0.8, 0.725, 0.875))
    assert CL.score(rows, "merge", "clrnet", ["FS", "NT"]) is None
    nan = [{**rows[0], "auc_lo": float("nan")}]
    assert CL.score(nan, "merge", "clrnet", ["FS"]) is None


# ------------------------------------------------------------------------------- Table 5
def _t5(merge: dict, transfer: dict, half: float = 0.03) -> list[dict]:
    return (_table("merge", CL.T5_COLS, merge, half)
            + _table("transfer", CL.T5_COLS, transfer, half))


def test_table5_claims_hold_fail_or_sit_inside_the_noise():
    claims = CL.claims_for("table5_transfer")
    assert len(claims) == 3 and {c.section for c in claims} == {"6.2.1", "6.2.2", "6.2.2, 7"}
    holds = CL.evaluate(claims, _t5({**_others(0.7), "clrnet": 0.85},
                                    {**_others(0.6), "clrnet": 0.95}))
    assert [r["verdict"] for r in holds] == [CL.HOLDS] * 3
    fails = CL.evaluate(claims, _t5({**_others(0.9), "clrnet": 0.7},
                                    {**_others(0.9), "clrnet": 0.6}))
    assert [r["verdict"] for r in fails] == [CL.FAILS] * 3
    noise = CL.evaluate(claims, _t5({**_others(0.8), "clrnet": 0.82},
                                    {**_others(0.8), "clrnet": 0.84}, half=0.1))
    assert [r["verdict"] for r in noise] == [CL.NOISE] * 3
    best = _by_text(holds, "Under transfer learning")
    assert "clrnet 0.95 [0.92, 0.98] (F1 95.0)" in best["numbers"]
    assert "best of the 5 others: cnn_lstm 0.60" in best["numbers"]
    versus = _by_text(holds, "For CLRNet, transfer")
    assert versus["numbers"] == ("transfer 0.95 [0.92, 0.98] (F1 95.0) vs merge 0.85 "
                                 "[0.82, 0.88] (F1 85.0)")


def test_one_rival_inside_the_noise_keeps_best_of_inside_the_noise():
    rows = _t5({**_others(0.6), "mesoinception4": 0.84, "clrnet": 0.85},
               {**_others(0.6), "clrnet": 0.95})
    merge = _by_text(CL.evaluate(CL.claims_for("table5_transfer"), rows), "Under merge")
    assert merge["verdict"] == CL.NOISE and "best of the 5 others: mesoinception4 0.84" in merge["numbers"]


def test_missing_methods_or_columns_are_not_measured():
    claims = CL.claims_for("table5_transfer")
    only_one = _t5({"shallownet_v3": 0.9}, {"shallownet_v3": 0.9})
    assert {r["verdict"] for r in CL.evaluate(claims, only_one)} == {CL.UNMEASURED}
    for table in CL.CLAIMS:
        assert {r["verdict"] for r in CL.evaluate(CL.claims_for(table), [])} == {CL.UNMEASURED}
    assert CL.claims_for("twobranch_table2_ffpp") == ()


def test_best_of_uses_the_columns_every_method_has_and_says_so():
    rows = _table("merge", ["FS", "DF"], {"clrnet": 0.9, "xception": 0.6})
    rows += [_row("merge", "clrnet", "NT", 0.1)]  # xception has no NT: NT is left out
    (r,) = CL.evaluate([CL.claims_for("table5_transfer")[0]], rows)
    assert r["verdict"] == CL.HOLDS and r["numbers"].startswith("mean AUC over FS, DF: clrnet 0.90")


def test_average_rows_are_ignored():
    rows = _t5({**_others(0.7), "clrnet": 0.85}, {**_others(0.6), "clrnet": 0.95})
    rows += [{**_row("merge", "clrnet", "Avg.", 0.1)}]
    assert CL.evaluate(CL.claims_for("table5_transfer"), rows)[0]["verdict"] == CL.HOLDS


# ------------------------------------------------------------------------------- Tables 3, 4, 6
def test_table3_every_method_detects_well_and_clrnet_best():
    claims = CL.claims_for("table3_in_domain")
    cols = [c for c in CL.T3_COLS if c != "DFDC"]  # the quick profile has no DFDC column
    good = CL.evaluate(claims, _table(CL.T3_SECTION, cols, {**_others(0.9), "clrnet": 0.97}))
    assert [r["verdict"] for r in good] == [CL.HOLDS, CL.HOLDS]
    weak = CL.evaluate(claims, _table(CL.T3_SECTION, cols, {**_others(0.9), "clrnet": 0.6}))
    assert [r["verdict"] for r in weak] == [CL.FAILS, CL.FAILS]
    edge = CL.evaluate(claims, _table(CL.T3_SECTION, cols, {**_others(0.81), "clrnet": 0.8}))
    assert [r["verdict"] for r in edge] == [CL.NOISE, CL.NOISE]


def test_table4_in_domain_beats_out_of_domain_for_every_method():
    claims = CL.claims_for("table4_out_of_domain")
    rows = []
    for m in MODELS:
        rows.append(_row(CL.T4_SECTION, m, "F2F", 0.95))
        rows += [_row(CL.T4_SECTION, m, c, 0.7 if m == "clrnet" else 0.5) for c in CL.T4_OOD]
        rows.append(_row(CL.T4_SECTION, m, "DFW", 0.5))
    assert [r["verdict"] for r in CL.evaluate(claims, rows)] == [CL.HOLDS, CL.HOLDS]
    rows = [r if r["row"] != "xception" or r["col"] != "F2F" else {**r, "auc": 0.5,
            "auc_lo": 0.47, "auc_hi": 0.53} for r in rows]
    first = CL.evaluate(claims, rows)[0]
    assert first["verdict"] == CL.NOISE and "xception F2F 0.50" in first["numbers"]


def test_table6_columns_are_the_scripts_and_each_verdict_comes_out():
    from experiments.table6_open_domain import COL

    assert {CL.T6_SINGLE, CL.T6_MERGE, CL.T6_TRANSFER} <= set(COL.values())
    cols = [CL.T6_SINGLE, CL.T6_MERGE, CL.T6_TRANSFER]
    claims = CL.claims_for("table6_open_domain")
    rows = []
    for m in MODELS:
        top = m == "clrnet"
        rows += [_row(CL.T6_SECTION, m, CL.T6_SINGLE, 0.5),
                 _row(CL.T6_SECTION, m, CL.T6_MERGE, 0.8 if top else 0.7),
                 _row(CL.T6_SECTION, m, CL.T6_TRANSFER, 0.9 if top else 0.65)]
    assert [r["verdict"] for r in CL.evaluate(claims, rows)] == [CL.HOLDS] * 4
    flat = _table(CL.T6_SECTION, cols, {m: 0.5 for m in MODELS}, half=0.05)
    assert [r["verdict"] for r in CL.evaluate(claims, flat)] == [CL.NOISE] * 4


# ------------------------------------------------------------------------------- rendering
def test_markdown_has_one_line_per_claim_with_text_numbers_and_verdict():
    rows = _t5({**_others(0.7), "clrnet": 0.85}, {**_others(0.6), "clrnet": 0.95})
    md = CL.markdown(CL.evaluate(CL.claims_for("table5_transfer"), rows))
    lines = [x for x in md.splitlines() if x.startswith("- §")]
    assert len(lines) == 3 and all(x.endswith("**holds**") for x in lines)
    assert lines[2].startswith("- §6.2.2, 7 For CLRNet, transfer learning beats merge learning")
    assert "Ours: transfer 0.95 [0.92, 0.98]" in lines[2]
    assert CL.markdown([]) == ""


def test_finish_table_puts_the_claims_under_the_table_and_in_run_json(tmp_path, monkeypatch):
    from experiments import context as C

    monkeypatch.setattr(C, "write_run_record", lambda out, args, extra: C.write_json_atomic(
        out / "run.json", {"args": dict(args), **extra}))
    args = argparse.Namespace(data=None, profile=None, quick=False, out=tmp_path, work=None,
                              seed=0, epochs=None, rerun=False, no_progress=True, max_steps=None,
                              max_batch=None, in_process=False, only_cell=None, show_config=False)
    ctx = C.resolve_context("table5_transfer", args)
    rows = _t5({**_others(0.7), "clrnet": 0.85}, {**_others(0.6), "clrnet": 0.95})
    md = C.finish_table(ctx, rows, paper_table="clrnet_table5",
                        claims=CL.claims_for("table5_transfer"))
    text = (tmp_path / "results.md").read_text()
    assert md == text and "### The paper's claims against ours" in text
    assert text.index("### transfer") < text.index("The paper's claims")
    record = json.loads((tmp_path / "run.json").read_text())
    assert [c["verdict"] for c in record["claims"]] == [CL.HOLDS] * 3
