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
    # what the comments say: the numpy photo is prepared to (1, 3, 224, 224), as a PIL photo is, and gives the same
    # metric
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
    code = code.replace(
        'encoder="resnet50", preset="fast", steps=5000',
        'encoder="resnet18", encoder_pretrained=False, preset="fast", steps=2, batch_size=2, image_size=64, '
        'val_every=0, progress=False, device="cpu", num_workers=0',
    )
    assert "steps=2" in code, "the README block changed: update this test's substitution"
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((120, 160, 3)) * 255).astype(np.uint8)).save("cat.jpg")
    for i in range(6):
        # class folders named like the classifier's classes
        folder = tmp_path / "my_photos" / ("tench", "goldfish")[i % 2]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((80, 80, 3)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    namespace = {"__name__": "readme_own_model"}
    exec(compile(code, str(README), "exec"), namespace)
    assert namespace["result"].masks.shape == (1, 1, 224, 224)
    assert len(list((tmp_path / "explained").glob("*.png"))) == 1


def test_ci_runs_the_readme_test_command_over_tests_and_examples():
    """.ci/run runs the README's test command, and that command collects tests/ and the docstring examples."""
    command = re.search(r'-e "\.\[test\]" && (python -m pytest[^\n]*)', README.read_text(encoding="utf-8"))
    assert command, "the README's set-up section has no `pip install ... && python -m pytest ...` line"
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert command.group(1) in ci, f"{command.group(1)!r} is not a line of .ci/run"
    settings = (README.parent / "pyproject.toml").read_text(encoding="utf-8").split("[tool.pytest.ini_options]")[1]
    assert 'testpaths = ["tests", "blackbox_saliency"]' in settings and "--doctest-modules" in settings


def test_the_doctest_skip_table_names_real_modules_and_extras():
    import importlib.util

    spec = importlib.util.spec_from_file_location("root_conftest", README.parent / "conftest.py")
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)
    assert all((root_conftest.PACKAGE / module).is_file() for module in root_conftest.EXAMPLES_NEED)
    extras = (README.parent / "pyproject.toml").read_text(encoding="utf-8").split("[project.optional-dependencies]")[1]
    assert all(f"\n{extra} = " in extras for extra in root_conftest.OPTIONAL.values())
