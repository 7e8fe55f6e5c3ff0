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
    exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    name, metric = capsys.readouterr().out.strip().splitlines()[-1].rsplit(" ", 1)
    assert "cat" in name or "tabby" in name, f"the black box should see a cat in chelsea, printed {name!r}"
    assert math.isfinite(float(metric))
