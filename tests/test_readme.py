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
