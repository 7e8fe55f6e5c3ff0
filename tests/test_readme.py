"""The README's "Ten lines of Python" run as written (with the shipped masker and the real black box)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Ten lines of Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match, "the README's 'Ten lines of Python' section has no python block"
    return match.group(1)


def test_the_ten_line_example_runs_and_prints_a_metric(capsys):
    pytest.importorskip("skimage.data", reason="the example explains scikit-image's chelsea photo")
    code = _python_example()
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    namespace = {"__name__": "readme_example"}
    exec(compile(code, str(README), "exec"), namespace)
    name, metric = capsys.readouterr().out.strip().splitlines()[-1].rsplit(" ", 1)
    assert "cat" in name or "tabby" in name, f"the black box should see a cat in chelsea, printed {name!r}"
    assert math.isfinite(float(metric))
    # what the comments say: the numpy photo is prepared to (1, 3, 224, 224), as a PIL photo is, and gives the same metric
    assert tuple(namespace["image"].shape) == (1, 3, 224, 224) and tuple(namespace["mask"].shape) == (1, 1, 224, 224)
    import skimage.data
    import torch
    from PIL import Image

    import blackbox_saliency as bs

    classifier, masker = namespace["classifier"], namespace["masker"]
    from_pil = classifier.eval_transform()(Image.fromarray(skimage.data.chelsea()))[None]
    assert torch.allclose(from_pil, namespace["image"], atol=1e-6)
    with torch.no_grad():
        cls = classifier(from_pil).argmax(1)
        want = bs.metrics.saliency_metric(classifier, from_pil, masker(from_pil, cls), cls).mean
    assert abs(float(metric) - round(want, 3)) < 1e-9


def _block_after(title: str) -> str:
    section = README.read_text(encoding="utf-8").split(title, 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match, f"the README's {title!r} section has no python block"
    return match.group(1)


def test_the_explain_your_own_model_example_runs_offline(tmp_path, monkeypatch, capsys):
    """As written, except what needs the internet or hours: random ResNet-50 weights (the metadata stays the real
    weights'), a random-weight encoder, two training steps on six photos."""
    import numpy as np
    import torchvision
    from PIL import Image

    code = _block_after("## Explain your own model (Python, no plugin)")
    real_resnet50 = torchvision.models.resnet50
    monkeypatch.setattr(torchvision.models, "resnet50", lambda weights=None, **kw: real_resnet50(weights=None, **kw))
    code = code.replace('encoder="resnet50", preset="fast", steps=5000',
                        'encoder="resnet18", encoder_pretrained=False, preset="fast", steps=2, batch_size=2, image_size=64, '
                        'val_every=0, progress=False, device="cpu", num_workers=0')
    assert "steps=2" in code, "the README block changed: update this test's substitution"
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((120, 160, 3)) * 255).astype(np.uint8)).save("cat.jpg")
    for i in range(6):
        folder = tmp_path / "my_photos" / ("tench", "goldfish")[i % 2]  # class folders named like the classifier's classes
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((80, 80, 3)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    namespace = {"__name__": "readme_own_model"}
    exec(compile(code, str(README), "exec"), namespace)
    assert namespace["result"].masks.shape == (1, 1, 224, 224)
    assert len(list((tmp_path / "explained").glob("*.png"))) == 1
