"""The TrainableMasker contract is all a new architecture needs: a ~30-line masker installed as a plugin
(an entry point of a distribution on the path, as ``pip install`` would make it) is trained by
``blackbox-saliency train --masker``, saved, reloaded by ``load_masker`` and exported, with no other edit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PLUGIN = textwrap.dedent(
    '''
    import torch
    import torch.nn.functional as F
    from torch import nn

    from blackbox_saliency import TrainableMasker, hookimpl
    from blackbox_saliency.interfaces import MaskerOutput


    class TinyMasker(TrainableMasker):
        """A frozen strided convolution, a class embedding that gates its features, a 1x1 head."""

        architecture = "tiny_masker"
        exportable = True
        coarsest_stride = 4

        def __init__(self, num_classes, classifier_name=None, width=8):
            super().__init__()
            self.num_classes, self.classifier_name = num_classes, classifier_name
            self.config = {"num_classes": num_classes, "classifier_name": classifier_name, "width": width}
            self.stem = nn.Conv2d(3, width, 4, stride=4).requires_grad_(False)
            self.embedding = nn.Embedding(num_classes, width)
            self.head = nn.Conv2d(width, 1, 1)

        def frozen_modules(self):
            return [self.stem]

        def trainable_parameters(self):
            yield from self.embedding.parameters()
            yield from self.head.parameters()

        def forward_train(self, images, classes, features=None):
            x = self.stem(images)
            scores = (x * self.embedding(classes)[:, :, None, None]).sum(1, keepdim=True)
            masks = torch.sigmoid(self.head(x * torch.sigmoid(scores)))
            return MaskerOutput(masks, scores.flatten(1).amax(1))

        def forward(self, images, classes):
            masks = self.forward_train(images, classes).masks
            return F.interpolate(masks, size=images.shape[-2:], mode="bilinear", align_corners=False)


    @hookimpl
    def blackbox_saliency_masker_architectures():
        return {"tiny_masker": TinyMasker}
    '''
)

CHECK = textwrap.dedent(
    """
    import json, sys, torch
    import blackbox_saliency as bs
    from blackbox_saliency.export import export_masker

    masker = bs.load_masker(sys.argv[1])
    images, classes = torch.rand(2, 3, 32, 32), torch.tensor([3, 7])
    masks = masker(images, classes)
    result = export_masker(masker, sys.argv[2], format="torchscript", size=32)
    exported = torch.jit.load(sys.argv[2])(images, classes)
    print(json.dumps({
        "type": type(masker).__name__, "architecture": masker.architecture, "config": masker.config,
        "classifier": masker.classifier_name, "shape": list(masks.shape),
        "export_diff": float((exported - masks).abs().max()), "trained_steps": masker.metadata.get("steps"),
    }))
    """
)


@pytest.fixture
def plugin_site(tmp_path):
    """A folder on PYTHONPATH holding the plugin module and the dist-info that declares its entry point."""
    site = tmp_path / "site"
    (site / "tiny_masker_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "tiny_masker_plugin.py").write_text(PLUGIN)
    info = site / "tiny_masker_plugin-0.1.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-masker-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[blackbox_saliency]\ntiny = tiny_masker_plugin\n")
    return site


def _run(args: list[str], site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=600, cwd=site)


def test_the_plugin_module_is_about_thirty_lines():
    code = [line for line in PLUGIN.splitlines() if line.strip() and not line.strip().startswith(('"""', "#"))]
    assert len(code) <= 40


@pytest.mark.slow
def test_a_custom_masker_plugin_trains_saves_reloads_and_exports(plugin_site, tmp_path, data_dir):
    npz = data_dir / "cifar10" / "cifar10_test2k.npz"
    if not npz.is_file() or not (data_dir / "cifar10" / "weights").is_dir():
        pytest.skip(f"CIFAR-10 test subset or ResNet weights missing under {data_dir}/cifar10")
    run = tmp_path / "run"
    train = _run(
        [
            "-m",
            "blackbox_saliency",
            "train",
            "--masker",
            "tiny_masker",
            "--masker-option",
            "width=6",
            "--classifier",
            "cifar10_resnet20",
            "--data",
            str(npz),
            "--out",
            str(run),
            "--steps",
            "2",
            "--batch-size",
            "4",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--no-progress",
            "--precision",
            "fp32",
        ],
        plugin_site,
    )
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-4000:]
    assert (run / "masker.pt").is_file()
    check = _run(["-c", CHECK, str(run / "masker.pt"), str(tmp_path / "tiny.pt")], plugin_site)
    assert check.returncode == 0, check.stderr[-4000:]
    found = json.loads(check.stdout.strip().splitlines()[-1])
    assert found["type"] == "TinyMasker" and found["architecture"] == "tiny_masker"
    assert found["config"] == {"num_classes": 10, "classifier_name": "cifar10_resnet20", "width": 6}
    assert found["classifier"] == "cifar10_resnet20" and found["shape"] == [2, 1, 32, 32]
    assert found["export_diff"] < 1e-5


def test_without_the_plugin_the_checkpoint_names_the_missing_architecture(plugin_site, tmp_path):
    save = textwrap.dedent(
        """
        import sys
        from tiny_masker_plugin import TinyMasker
        from blackbox_saliency.maskers import save_masker
        save_masker(sys.argv[1], TinyMasker(5))
        """
    )
    path = tmp_path / "tiny.pt"
    assert _run(["-c", save, str(path)], plugin_site).returncode == 0
    (plugin_site / "tiny_masker_plugin-0.1.dist-info" / "entry_points.txt").unlink()  # the plugin is uninstalled
    load = _run(["-c", f"import blackbox_saliency as bs; bs.load_masker({str(path)!r})"], plugin_site)
    assert load.returncode != 0
    assert "tiny_masker" in load.stderr and "masker architecture" in load.stderr
