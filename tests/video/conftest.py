"""Fixtures for the video tests (helpers live in video_synthetic.py)."""

from __future__ import annotations

import pytest

from .video_synthetic import ColourClassifier, ColourMasker, make_clip


@pytest.fixture
def colour_masker():
    return ColourMasker()


@pytest.fixture
def colour_classifier():
    return ColourClassifier()


@pytest.fixture
def clip():
    return make_clip()
