"""Build script: the package metadata lives in pyproject.toml; this file adds the native extension."""

from setuptools import setup

setup()
