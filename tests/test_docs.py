"""The documentation site (mkdocs.yml, docs/, the API reference from the docstrings) builds with warnings as errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_docs_build_with_warnings_as_errors(tmp_path):
    pytest.importorskip("mkdocstrings", reason="the docs need the docs extra: pip install -e '.[docs]'")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    page = (tmp_path / "site" / "api" / "explaining" / "index.html").read_text(encoding="utf-8")
    # the reference is built from the docstrings
    assert "train_masker" not in page and "ExplainResult" in page and "wrap" in page
