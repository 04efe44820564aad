"""The console scripts that ``pip install`` puts on PATH (setup.cfg ``console_scripts``)."""

from __future__ import annotations

import configparser
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _scripts() -> dict[str, str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = cfg["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict(line.replace(" ", "").split("=", 1) for line in lines)


SCRIPTS = _scripts()


def test_every_command_has_a_console_script():
    assert set(SCRIPTS) == {
        "deepfake-predict", "deepfake-data", "deepfake-mini-benchmark", "clrnet-train",
        "clrnet-convert", "clrnet-export", "clrnet-cam", "twobranch-train", "twobranch-predict"}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_console_script_help_names_itself_with_examples(name, capsys):
    module, func = SCRIPTS[name].split(":")
    main = getattr(importlib.import_module(module), func)
    try:
        code = main(["--help"])
    except SystemExit as exc:  # argparse exits after printing the help
        code = exc.code
    assert code in (0, None)
    text = capsys.readouterr().out
    assert "examples" in text and name in text, text[-400:]
