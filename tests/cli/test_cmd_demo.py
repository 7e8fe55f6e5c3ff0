"""``blackbox-saliency demo``: bundled photos in, overlays + contact sheet + printed metrics out.

Until the shipped ImageNet masker exists, the demo runs here with an *untrained* SaliencyMasker
checkpoint (EfficientNet-Lite0 encoder, "fast" preset): the test checks the plumbing, robustness
to a missing photo source and the error for a missing shipped masker, not explanation quality.
"""

from __future__ import annotations

import json
import sys

import pytest
from PIL import Image

from blackbox_saliency.cli.main import main
from blackbox_saliency.explainer import shipped_masker_path


def test_demo_writes_overlays_and_contact_sheet_and_skips_missing_sources(masker_path, tmp_path, capsys, monkeypatch):
    for module in ("skimage", "matplotlib"):
        pytest.importorskip(module, reason="the demo extra provides the photos")
    monkeypatch.setitem(sys.modules, "sklearn", None)  # scikit-learn "not installed": its two photos are skipped
    out = tmp_path / "demo"
    assert main(["demo", "--masker", str(masker_path), "--out", str(out), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    expected = ["chelsea", "coffee", "astronaut", "grace"]
    notes = [line for line in captured.err.splitlines() if line.startswith("note:")]
    assert len(notes) == 2 and all("scikit-learn" in note for note in notes) and "Traceback" not in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert [p["name"] for p in summary["photos"]] == expected
    lines = captured.out.splitlines()
    for name, entry in zip(expected, summary["photos"]):
        line = next(line for line in lines if line.startswith(name))
        assert (
            repr(entry["class_name"]) in line
            and f"p = {entry['p']:.3f}" in line
            and f"{entry['saliency_metric']:.3f}" in line
        )
        assert 0.0 < entry["p"] <= 1.0
        assert Image.open(out / f"{name}.png").size[0] == 448
        assert (out / f"{name}_mask.npy").is_file() and (out / f"{name}_panel.png").is_file()
    # The black box itself is the real EfficientNet-Lite0: chelsea is some kind of cat, coffee an espresso/cup.
    assert "cat" in summary["photos"][0]["class_name"] or "tabby" in summary["photos"][0]["class_name"]
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.width > 3 * 320 and sheet.height > 2 * 320, "four tiles in a 3-column grid: two rows"


def test_missing_shipped_masker_is_a_clear_error(tmp_path, capsys, monkeypatch):
    from blackbox_saliency.maskers import plugin as masker_plugin

    monkeypatch.setattr(masker_plugin, "ASSETS_DIR", tmp_path / "no_assets")  # as in a source checkout before training
    assert main(["demo", "--out", str(tmp_path / "demo"), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "efficientnet_lite0" in err and str(shipped_masker_path("efficientnet_lite0")) in err and "--masker" in err
    assert "Traceback" not in err
    assert not (tmp_path / "demo").exists()
