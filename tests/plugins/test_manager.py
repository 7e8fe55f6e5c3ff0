"""The plugin manager: built-ins, unknown names, duplicate names, and a real external plugin package."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import blackbox_saliency as bs
from blackbox_saliency.plugins import hookspecs, manager
from blackbox_saliency.plugins.manager import PluginWarning, scan

from .broken import BROKEN_HOOKS, broken_plugin
from .broken import plugin_manager as _manager


def _pip_install(package: Path, target: Path) -> None:
    """Install a plugin package's source folder into ``target`` (a folder put on PYTHONPATH), as pip would."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "--target", str(target), str(package)], check=True)


def test_builtins_are_registered_through_hooks():
    found = bs.available()
    assert {"blur", "colour_noise", "constant", "paper"} <= set(found["evidence_removers"])
    assert {"efficientnet_lite0", "cifar10_resnet20", "cifar10_resnet56", "torchvision:resnet18"} <= set(
        found["classifiers"]
    )
    assert found["evidence_removers"]["blur"] == "builtin:evidence"


def test_unknown_name_lists_available_names():
    with pytest.raises(bs.PluginError, match="no evidence remover named 'smudge'.*blur.*colour_noise"):
        bs.load_evidence_remover("smudge")


class _Good:
    @hookspecs.hookimpl
    def blackbox_saliency_evidence_removers(self):
        return {"good_remover": object}


def test_two_plugins_claiming_one_name_make_only_that_name_ambiguous():
    class First:
        @hookspecs.hookimpl
        def blackbox_saliency_evidence_removers(self):
            return {"blur": object, "only_first": object}

    class Second:
        @hookspecs.hookimpl
        def blackbox_saliency_evidence_removers(self):
            return {"blur": object}

    pm = _manager(First(), Second(), _Good())
    with pytest.warns(PluginWarning, match="both claim the evidence remover name 'blur'"):
        found = scan("evidence_removers", pm)
    assert set(found.found) == {"only_first", "good_remover"}
    assert found.ambiguous["blur"] == ["first-plugin-0", "second-plugin-1"]


def test_loading_an_ambiguous_name_is_an_error_naming_both(monkeypatch):
    class Clash:
        @hookspecs.hookimpl
        def blackbox_saliency_evidence_removers(self):
            return {"blur": object}

    pm = manager.get_plugin_manager()
    plugin = Clash()
    pm.register(plugin, name="clash-plugin")
    try:
        with pytest.warns(PluginWarning):
            with pytest.raises(
                bs.PluginError,
                match="two plugins claim the evidence remover name 'blur': builtin:evidence and clash-plugin",
            ):
                bs.load_evidence_remover("blur")
            # The rest of the kind still loads.
            assert bs.load_evidence_remover("constant") is not None
    finally:
        pm.unregister(plugin)


@pytest.mark.parametrize(("broken", "message"), list(BROKEN_HOOKS.items()))
def test_a_broken_hook_is_skipped_with_a_warning_and_the_others_stay(broken, message):
    pm = _manager(broken_plugin("evidence_removers", broken), _Good())
    with pytest.warns(PluginWarning, match=message):
        found = scan("evidence_removers", pm)
    assert set(found.found) == {"good_remover"}
    assert [p.source for p in found.problems] == ["broken-plugin-0"]


def test_a_factory_failing_is_attributed_to_its_plugin():
    class Failing:
        @hookspecs.hookimpl
        def blackbox_saliency_evidence_removers(self):
            return {"failing_remover": lambda **kw: {}["missing"]}

    pm = manager.get_plugin_manager()
    plugin = Failing()
    pm.register(plugin, name="failing-plugin")
    try:
        with pytest.raises(
            bs.PluginError, match="building the evidence remover 'failing_remover' from failing-plugin failed: KeyError"
        ):
            bs.load_evidence_remover("failing_remover")
    finally:
        pm.unregister(plugin)


def test_a_file_named_like_a_masker_does_not_shadow_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "center").write_bytes(b"not a checkpoint")
    assert type(bs.load_masker("center")).__name__ == "CenterBoxMasker"
    (tmp_path / "my_run").write_bytes(b"x")
    with pytest.raises(bs.PluginError, match="pass './my_run' to load it as a checkpoint"):
        bs.load_masker("my_run")


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

PLUGIN_MODULE = """
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
"""


def test_external_plugin_package_is_discovered_by_entry_point(tmp_path: Path):
    source = tmp_path / "src"
    (source / "toy_saliency_plugin").mkdir(parents=True)
    (source / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (source / "toy_saliency_plugin" / "__init__.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    target = tmp_path / "site"
    _pip_install(source, target)
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


BROKEN_PYPROJECT = """
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "half-broken-saliency-plugins"
version = "1.2.0"

[tool.setuptools]
packages = ["working_plugin", "import_fails_plugin", "misspelled_plugin", "exits_plugin"]

[project.entry-points.blackbox_saliency]
working = "working_plugin"
import_fails = "import_fails_plugin"
misspelled = "misspelled_plugin"
exits = "exits_plugin"
"""

DUPLICATE_PYPROJECT = """
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "same-name-saliency-plugin"
version = "0.1.0"

[tool.setuptools]
packages = ["same_name_plugin"]

[project.entry-points.blackbox_saliency]
working = "same_name_plugin"
"""

WORKING_MODULE = """
from blackbox_saliency import hookimpl

@hookimpl
def blackbox_saliency_evidence_removers():
    from blackbox_saliency.evidence.removers import ConstantRemover
    return {"working_remover": ConstantRemover}
"""

MISSPELLED_MODULE = """
def blackbox_saliency_clasifiers():
    return {"never_seen": object}
"""


def test_broken_entry_point_plugins_are_isolated_and_listed(tmp_path: Path):
    source = tmp_path / "src"
    modules = {
        "working_plugin": WORKING_MODULE,
        "import_fails_plugin": "raise ImportError('libfoo.so: cannot open shared object file')\n",
        "misspelled_plugin": MISSPELLED_MODULE,
        "exits_plugin": (  # SystemExit(2) at import
            "import argparse\nargparse.ArgumentParser().parse_args(['--no-such-flag'])\n"
        ),
    }
    for name, text in modules.items():
        (source / name).mkdir(parents=True)
        (source / name / "__init__.py").write_text(textwrap.dedent(text))
    (source / "pyproject.toml").write_text(BROKEN_PYPROJECT)
    duplicate = tmp_path / "dup"
    (duplicate / "same_name_plugin").mkdir(parents=True)
    (duplicate / "same_name_plugin" / "__init__.py").write_text("")
    (duplicate / "pyproject.toml").write_text(DUPLICATE_PYPROJECT)
    target = tmp_path / "site"
    for package in (source, duplicate):
        _pip_install(package, target)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]))
    probe = (
        "import blackbox_saliency as bs; from blackbox_saliency.cli.main import main; "
        "print('loaded', type(bs.load_evidence_remover('working_remover')).__name__); "
        "print('shipped', type(bs.load_masker('center')).__name__); "
        "raise SystemExit(main(['plugins']))"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out, err = done.stdout, done.stderr
    assert "loaded ConstantRemover" in out and "shipped CenterBoxMasker" in out
    assert "working_remover" in out and "efficientnet_lite0" in out  # everything else is listed
    broken = out.split("broken plugins")[1]
    assert "half-broken-saliency-plugins 1.2.0 (entry point 'import_fails')" in broken
    assert "ImportError: libfoo.so: cannot open shared object file" in broken
    assert "(entry point 'misspelled'): defines 'blackbox_saliency_clasifiers', which is not a hook" in broken
    assert "PluginWarning" in err and "import_fails" in err
    assert (
        "(entry point 'exits'): importing 'exits_plugin' failed: SystemExit: 2" in broken
    )  # it no longer ends every command
    assert "declares the entry point name 'working' that" in broken and "same-name-saliency-plugin" in broken
