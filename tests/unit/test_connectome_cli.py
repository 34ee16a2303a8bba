"""`neurocircuits connectome list / info / draw`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

pytest.importorskip("cect", reason="the [connectomes] extra provides the data")

from neurocircuits.cli import app  # noqa: E402


def test_info_reports_counts_by_class_and_sign() -> None:
    result = CliRunner().invoke(app, ["connectome", "info", "celegans/cook2019_herm"])
    assert result.exit_code == 0, result.output
    assert "302 cells" in result.output and "5905 directed edges" in result.output
    assert "sensory" in result.output and "83" in result.output and "Cook et al. 2019" in result.output


def test_draw_writes_an_svg(tmp_path) -> None:
    out = tmp_path / "worm.svg"
    result = CliRunner().invoke(app, ["connectome", "draw", "celegans/white1986", "--out", str(out),
                                      "--max-edges", "50"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("<svg") and text.count("<circle") == 300


def test_unknown_name_is_a_usage_error_listing_valid_names() -> None:
    result = CliRunner().invoke(app, ["connectome", "info", "celegans/cook2019_hrem"])
    assert result.exit_code == 2 and "celegans/cook2019_herm" in result.output
