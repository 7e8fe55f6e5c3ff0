"""The plugin manager: built-ins, unknown names, duplicate names, and a real external plugin package."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pluggy
import pytest

import blackbox_saliency as bs
from blackbox_saliency.plugins import hookspecs
from blackbox_saliency.plugins.manager import registry


def test_builtins_are_registered_through_hooks():
    found = bs.available()
    assert {"blur", "colour_noise", "constant", "paper"} <= set(found["evidence_removers"])
    assert {"efficientnet_lite0", "cifar10_resnet20", "cifar10_resnet56", "torchvision:resnet18"} <= set(found["classifiers"])
    assert found["evidence_removers"]["blur"] == "builtin:evidence"


def test_unknown_name_lists_available_names():
    with pytest.raises(bs.PluginError, match="no evidence remover named 'smudge'.*blur.*colour_noise"):
        bs.load_evidence_remover("smudge")


def test_two_plugins_claiming_one_name_is_an_error_naming_both():
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)

    class First:
        @hookspecs.hookimpl
        def blackbox_saliency_evidence_removers(self):
            return {"blur": object}

    class Second:
        @hookspecs.hookimpl
        def blackbox_saliency_evidence_removers(self):
            return {"blur": object}

    pm.register(First(), name="first-plugin")
    pm.register(Second(), name="second-plugin")
    with pytest.raises(bs.PluginError, match="first-plugin.*second-plugin|second-plugin.*first-plugin"):
        registry("evidence_removers", pm)


def test_hook_returning_a_non_dict_is_reported():
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)

    class Broken:
        @hookspecs.hookimpl
        def blackbox_saliency_maskers(self):
            return ["not", "a", "dict"]

    pm.register(Broken(), name="broken")
    with pytest.raises(bs.PluginError, match="broken.*must return a dict"):
        registry("maskers", pm)


PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "toy-saliency-plugin"
version = "0.3.0"

[project.entry-points.blackbox_saliency]
toy = "toy_saliency_plugin"
"""

PLUGIN_MODULE = '''
import torch
from torch import nn
from blackbox_saliency import BlackBoxClassifier, hookimpl


class MeanColour(BlackBoxClassifier):
    def __init__(self, size=16):
        net = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 3))
        super().__init__(net, input_size=(size, size), class_names=["red", "green", "blue"])


@hookimpl
def blackbox_saliency_classifiers():
    return {"toy_mean_colour": MeanColour}
'''


def test_external_plugin_package_is_discovered_by_entry_point(tmp_path: Path):
    source = tmp_path / "src"
    (source / "toy_saliency_plugin").mkdir(parents=True)
    (source / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (source / "toy_saliency_plugin" / "__init__.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target), str(source)],
        check=True,
    )
    probe = (
        "import torch, blackbox_saliency as bs; "
        "net = bs.load_classifier('toy_mean_colour', size=8); "
        "print(type(net).__name__, net.num_classes, tuple(net(torch.rand(2, 3, 20, 20)).shape)); "
        "print(bs.available()['classifiers']['toy_mean_colour'])"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    assert "MeanColour 3 (2, 3)" in out
    assert "toy-saliency-plugin 0.3.0" in out
    # Without the package on the path the name is unknown: nothing was added to the library itself.
    assert "toy_mean_colour" not in bs.available()["classifiers"]
