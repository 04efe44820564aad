"""The CLRNet paper's claims that each of its tables tests, checked against our result rows.

Tariq et al. (WWW'21) draw conclusions from Tables 3-6 in Section 6 (results) and Section 7
(discussion). Each :class:`Claim` here states one such conclusion in our words, names the
section, and is a function of the table's result rows (:func:`experiments.results.f1_rows`)
returning a :class:`Verdict`: ``holds``, ``does not hold`` or ``inside the noise`` (or
``not measured`` when the rows lack a cell the claim needs, e.g. with ``--models``).

The rule (the same for every claim; fixed before any run, never tuned towards a claim):

* The measure is the clip AUC with its 95 % bootstrap interval over test videos (the rows'
  ``auc``, ``auc_lo``, ``auc_hi``). The paper states its claims in F1 at 0.5; F1 has no interval
  here and, for a briefly trained model, mostly reflects calibration, so F1 is shown beside the
  AUC but does not decide.
* A score over several columns (a method's average) is the mean AUC of those columns, and its
  interval is ``[mean of the lows, mean of the highs]``: the interval the mean would have if
  the columns' errors moved together (their test sets share real videos). For independent
  columns the true interval is narrower, so this rule errs towards ``inside the noise``.
* "A is better than B": **holds** when A's interval lies wholly above B's (A.lo > B.hi),
  **does not hold** when it lies wholly below (A.hi < B.lo), **inside the noise** when the
  intervals overlap (the sign of the difference is not settled).
* "A is at least t" (a level, e.g. "detects well": t = 0.8): **holds** when A.lo >= t, **does
  not hold** when A.hi < t, else inside the noise.
* "for every method" / "best of the six" combine parts: **does not hold** if any part does not
  hold, **holds** if every part holds, else inside the noise. "X is the best" compares X with
  each other method, over the columns every compared method has.

References:
    Tariq, Lee, Woo, "One Detector to Rule Them All: Towards a General Deepfake Attack
    Detection Framework", WWW 2021, Sections 6.1-6.3 and 7; Tables 3-6.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

HOLDS = "holds"
FAILS = "does not hold"
NOISE = "inside the noise"
UNMEASURED = "not measured"

#: Level of "detects well" (clip AUC), chosen a priori; the issue's in-domain criterion.
GOOD_AUC = 0.8

CLRNET = "clrnet"
MODEL_NAMES = ("cnn_lstm", "dbirnn", "shallownet_v3", "xception", "mesoinception4", "clrnet")

Rows = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Score:
    """A clip AUC (mean over ``cols``) with its interval and the mean F1 %."""

    auc: float
    lo: float
    hi: float
    f1: float
    cols: tuple[str, ...]

    def text(self) -> str:
        """``0.91 [0.85, 0.96] (F1 87.2)``."""
        return f"{self.auc:.2f} [{self.lo:.2f}, {self.hi:.2f}] (F1 {self.f1:.1f})"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one claim on our rows: a verdict and the numbers that decided it."""

    verdict: str
    numbers: str


@dataclass(frozen=True)
class Claim:
    """One conclusion of the paper that a table tests.

    Args:
        table: the table script, e.g. ``"table5_transfer"``.
        section: the paper's section stating it, e.g. ``"6.2.2"``.
        text: the claim in our words, with the paper's figures.
        test: ``f(rows) -> Verdict``.
    """

    table: str
    section: str
    text: str
    test: Callable[[Rows], Verdict]

    def evaluate(self, rows: Rows) -> dict[str, str]:
        """``{table, section, claim, verdict, numbers}`` of this claim on ``rows``."""
        v = self.test(rows)
        return {"table": self.table, "section": self.section, "claim": self.text,
                "verdict": v.verdict, "numbers": v.numbers}


# ------------------------------------------------------------------------------ measures
def _finite(*values: Any) -> bool:
    return all(v is not None and not math.isnan(float(v)) for v in values)


def score(rows: Rows, section: str, model: str, cols: Sequence[str]) -> Score | None:
    """The mean AUC (interval: mean of the bounds) of ``model`` over ``cols`` in ``section``.

    Returns:
        None when a column is missing or has no finite AUC interval.
    """
    cell = {r["col"]: r for r in rows if r.get("section") == section and r.get("row") == model}
    picked = [cell.get(c) for c in cols]
    if not cols or any(r is None or not _finite(r.get("auc"), r.get("auc_lo"), r.get("auc_hi"))
                       for r in picked):
        return None
    n = len(picked)
    return Score(sum(float(r["auc"]) for r in picked) / n,
                 sum(float(r["auc_lo"]) for r in picked) / n,
                 sum(float(r["auc_hi"]) for r in picked) / n,
                 sum(float(r["ours"]) for r in picked) / n, tuple(cols))


def better(a: Score, b: Score) -> str:
    """Verdict of "a is better than b" (intervals apart upwards / downwards / overlapping)."""
    if a.lo > b.hi:
        return HOLDS
    if a.hi < b.lo:
        return FAILS
    return NOISE


def at_least(a: Score, level: float) -> str:
    """Verdict of "a is at least ``level``"."""
    if a.lo >= level:
        return HOLDS
    if a.hi < level:
        return FAILS
    return NOISE


def combine(verdicts: Sequence[str]) -> str:
    """Verdict of "every part": any failing part fails it, all holding parts hold it."""
    if not verdicts:
        return UNMEASURED
    if FAILS in verdicts:
        return FAILS
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    return NOISE


def _models(rows: Rows, section: str) -> list[str]:
    found = {r["row"] for r in rows if r.get("section") == section}
    return [m for m in MODEL_NAMES if m in found] + sorted(found - set(MODEL_NAMES))


def _common_cols(rows: Rows, section: str, models: Sequence[str], cols: Sequence[str]
                 ) -> list[str]:
    """The columns of ``cols`` where every model of ``models`` has a finite AUC interval."""
    have = {(r["row"], r["col"]) for r in rows if r.get("section") == section
            and _finite(r.get("auc"), r.get("auc_lo"), r.get("auc_hi"))}
    return [c for c in cols if all((m, c) in have for m in models)]


# ------------------------------------------------------------------------------ claim kinds
def best_of(section: str, cols: Sequence[str], who: str = CLRNET) -> Callable[[Rows], Verdict]:
    """Test of "``who`` has the best mean AUC over ``cols`` of the methods in ``section``"."""

    def test(rows: Rows) -> Verdict:
        models = _models(rows, section)
        others = [m for m in models if m != who]
        if who not in models or not others:
            return Verdict(UNMEASURED, f"needs {who} and at least one other method in {section}")
        common = _common_cols(rows, section, models, cols)
        mine = score(rows, section, who, common)
        if mine is None:
            return Verdict(UNMEASURED, f"no column of {', '.join(cols)} has every method")
        theirs = {m: score(rows, section, m, common) for m in others}
        rival = max(theirs, key=lambda m: theirs[m].auc)
        verdict = combine([better(mine, s) for s in theirs.values()])
        over = "" if list(common) == list(cols) else f" over {', '.join(common)}"
        return Verdict(verdict, f"mean AUC{over}: {who} {mine.text()}; best of the "
                       f"{len(others)} other{'s' if len(others) > 1 else ''}: {rival} "
                       f"{theirs[rival].text()}")

    return test


def a_beats_b(a: tuple[str, str, Sequence[str]], b: tuple[str, str, Sequence[str]],
              labels: tuple[str, str]) -> Callable[[Rows], Verdict]:
    """Test of "score a is better than score b", each ``(section, model, cols)``."""

    def test(rows: Rows) -> Verdict:
        sa, sb = score(rows, *a), score(rows, *b)
        if sa is None or sb is None:
            return Verdict(UNMEASURED, f"needs {labels[0]} and {labels[1]}")
        return Verdict(better(sa, sb), f"{labels[0]} {sa.text()} vs {labels[1]} {sb.text()}")

    return test


def every_method(part: Callable[[Rows, str], tuple[str, str] | None], section: str
                 ) -> Callable[[Rows], Verdict]:
    """Test of "for every method in ``section``, ``part(rows, model)``" (``(verdict, text)``)."""

    def test(rows: Rows) -> Verdict:
        parts = [(m, part(rows, m)) for m in _models(rows, section)]
        parts = [(m, p) for m, p in parts if p is not None]
        if not parts:
            return Verdict(UNMEASURED, f"no method has the cells in {section}")
        verdict = combine([p[0] for _, p in parts])
        return Verdict(verdict, "; ".join(f"{m} {p[1]}" for m, p in parts))

    return test


def level_part(section: str, cols: Sequence[str], level: float):
    """Part "mean AUC over the model's available ``cols`` is at least ``level``"."""

    def part(rows: Rows, model: str) -> tuple[str, str] | None:
        common = _common_cols(rows, section, [model], cols)
        s = score(rows, section, model, common)
        return None if s is None else (at_least(s, level), s.text())

    return part


def better_part(first: tuple[str, Sequence[str]], second: tuple[str, Sequence[str]],
                labels: tuple[str, str]):
    """Part "the model's ``first`` (section, cols) is better than its ``second``"."""

    def part(rows: Rows, model: str) -> tuple[str, str] | None:
        sa, sb = score(rows, first[0], model, first[1]), score(rows, second[0], model, second[1])
        if sa is None or sb is None:
            return None
        return better(sa, sb), f"{labels[0]} {sa.text()} vs {labels[1]} {sb.text()}"

    return part


def both_parts(*parts):
    """Part holding when every sub-part holds (their texts joined)."""

    def part(rows: Rows, model: str) -> tuple[str, str] | None:
        found = [p(rows, model) for p in parts]
        if any(f is None for f in found):
            return None
        return combine([f[0] for f in found]), "; ".join(f[1] for f in found)

    return part


# ------------------------------------------------------------------------------ the claims
T3_SECTION, T3_COLS = "in-domain", ("DF", "FS", "DFD", "DFDC", "F2F", "NT")
T4_SECTION, T4_OOD = "single-domain F2F", ("DF", "FS", "DFD", "NT")
T5_COLS, T5_TARGETS = ("FS", "DF", "DFD", "F2F", "NT"), ("DF", "DFD", "F2F", "NT")
T6_SECTION = "open-domain DFW"
T6_SINGLE, T6_MERGE, T6_TRANSFER = "single FS", "merge", "transfer NT->rest"

CLAIMS: dict[str, tuple[Claim, ...]] = {
    "table3_in_domain": (
        Claim("table3_in_domain", "6.1",
              f"Every method detects in-domain attacks well (paper: F1 77.8-98.6 on average; "
              f"here: mean clip AUC >= {GOOD_AUC})",
              every_method(level_part(T3_SECTION, T3_COLS, GOOD_AUC), T3_SECTION)),
        Claim("table3_in_domain", "6.1",
              "CLRNet has the best in-domain average of the six methods (paper: F1 98.61, "
              "MesoNet 98.38 second)", best_of(T3_SECTION, T3_COLS)),
    ),
    "table4_out_of_domain": (
        Claim("table4_out_of_domain", "6.2",
              "Trained on F2F, every method detects out-of-domain attacks (DF, FS, DFD, NT) "
              "worse than in-domain F2F (paper: F1 ~50 vs 72-99)",
              every_method(better_part((T4_SECTION, ("F2F",)), (T4_SECTION, T4_OOD),
                                       ("F2F", "out-of-domain mean")), T4_SECTION)),
        Claim("table4_out_of_domain", "6.2",
              "CLRNet generalises best out of domain: the best mean over DF, FS, DFD, NT of the "
              "six methods (paper: CLRNet 64.18 on DF, the others <= 55.6)",
              best_of(T4_SECTION, T4_OOD)),
    ),
    "table5_transfer": (
        Claim("table5_transfer", "6.2.1",
              "Under merge learning CLRNet has the best average of the six methods (paper: F1 "
              "87.58, MesoNet 84.35)", best_of("merge", T5_COLS)),
        Claim("table5_transfer", "6.2.2",
              "Under transfer learning CLRNet has the best average of the six methods (paper: "
              "F1 97.57, MesoNet 78.52)", best_of("transfer", T5_COLS)),
        Claim("table5_transfer", "6.2.2, 7",
              "For CLRNet, transfer learning beats merge learning on the target domains DF, "
              "DFD, F2F, NT (paper: F1 97.29 vs 87.68 over the targets; 97.57 vs 87.58 over all)",
              a_beats_b(("transfer", CLRNET, T5_TARGETS), ("merge", CLRNET, T5_TARGETS),
                        ("transfer", "merge"))),
    ),
    "table6_open_domain": (
        Claim("table6_open_domain", "6.3",
              "On the open-domain set (DFW), single-domain training (FS) does worse than both "
              "merge and transfer learning, for every method (paper: F1 45-51 vs 52-94)",
              every_method(both_parts(
                  better_part((T6_SECTION, (T6_MERGE,)), (T6_SECTION, (T6_SINGLE,)),
                              ("merge", "single")),
                  better_part((T6_SECTION, (T6_TRANSFER,)), (T6_SECTION, (T6_SINGLE,)),
                              ("transfer", "single"))), T6_SECTION)),
        Claim("table6_open_domain", "6.3",
              "With merge learning CLRNet is the best of the six on DFW (paper: F1 84.95, "
              "MesoNet 78.12)", best_of(T6_SECTION, (T6_MERGE,))),
        Claim("table6_open_domain", "6.3",
              "With transfer learning CLRNet is the best of the six on DFW (paper: F1 93.86, "
              "MesoNet 75.56)", best_of(T6_SECTION, (T6_TRANSFER,))),
        Claim("table6_open_domain", "6.3, 7",
              "For CLRNet, transfer learning (NT->rest) beats merge learning on DFW (paper: F1 "
              "93.86 vs 84.95)",
              a_beats_b((T6_SECTION, CLRNET, (T6_TRANSFER,)), (T6_SECTION, CLRNET, (T6_MERGE,)),
                        ("transfer", "merge"))),
    ),
}


def claims_for(table: str) -> tuple[Claim, ...]:
    """The claims a table tests (empty for tables without any here)."""
    return CLAIMS.get(table, ())


def evaluate(claims: Sequence[Claim], rows: Rows) -> list[dict[str, str]]:
    """Every claim on ``rows`` (``Avg.`` rows are ignored: claims average columns themselves)."""
    rows = [r for r in rows if r.get("col") != "Avg."]
    return [c.evaluate(rows) for c in claims]


def markdown(results: Sequence[Mapping[str, str]]) -> str:
    """The claims section of ``results.md``: one line per claim (text, our numbers, verdict)."""
    if not results:
        return ""
    lines = ["### The paper's claims against ours (Tariq et al., Sections 6-7)", "",
             "Decided on clip AUC with 95 % bootstrap intervals: holds / does not hold when the "
             "intervals lie apart in / against the claimed direction, inside the noise when they "
             "overlap (rule: experiments/claims.py).", ""]
    for r in results:
        lines.append(f"- §{r['section']} {r['claim']}. Ours: {r['numbers']}. "
                     f"**{r['verdict']}**")
    return "\n".join(lines) + "\n"
