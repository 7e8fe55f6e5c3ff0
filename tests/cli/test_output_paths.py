"""Standing suite: no command replaces a file the user had, unless told ``--overwrite``; none ever replaces an input.

A matrix over every command that writes (``export``, ``evaluate``, ``video``, ``demo``, ``explain``, ``train``) and the
situations that lost files before: the output already exists, the output is one of the inputs, the output folder is
read-only, two runs write to one folder at once. Each refusal comes before any model is loaded, and every file that
was there is byte-identical afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from blackbox_saliency.cli.main import main


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def tiny_masker_file(tmp_path_factory) -> Path:
    """A small masker checkpoint (CIFAR ResNet-20 encoder with stored random weights): exports in seconds."""
    from blackbox_saliency.maskers import SaliencyMasker, save_masker

    torch.manual_seed(0)
    masker = SaliencyMasker(
        10, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast", classifier_name="cifar10_resnet20"
    )
    return save_masker(tmp_path_factory.mktemp("masker") / "masker.pt", masker.eval())


@pytest.fixture
def no_models(monkeypatch):
    """Any model load fails the test: refusals must come first."""
    from blackbox_saliency.cli import _common, cmd_demo, cmd_evaluate, cmd_video
    from blackbox_saliency.maskers import loading

    def fail(*args, **kwargs):
        pytest.fail("a model was loaded before the outputs were checked")

    for module in (_common, cmd_video, cmd_demo):
        if hasattr(module, "load_models"):
            monkeypatch.setattr(module, "load_models", fail)
    monkeypatch.setattr(loading, "load_masker", fail)
    monkeypatch.setattr(cmd_evaluate, "_build", fail)


@dataclass
class Command:
    """How to call one command with an output file name in ``folder`` and the input it reads."""

    name: str
    output: str  # the output file this case collides with
    needs: str = ""  # a module the command needs (skipped with the reason when missing)

    def argv(self, folder: Path, masker: Path) -> list[str]:
        out = folder / self.output
        return {
            "export": ["export", "--masker", str(masker), "--format", "torchscript", "--size", "32", "--out", str(out)],
            "evaluate": [
                "evaluate",
                "--methods",
                "center",
                "--classifier",
                "cifar10_resnet20",
                "--data",
                str(folder),
                "--no-progress",
                "--out",
                str(out.with_suffix("")),
            ],
            "video": ["video", str(folder / "in.mp4"), "--masker", str(masker), "--out", str(out)],
            "demo": ["demo", "--masker", str(masker), "--out", str(folder)],
        }[self.name]


COMMANDS = [
    Command("export", "masker.onnx.pt"),
    Command("evaluate", "report.md"),
    Command("video", "out.mp4", needs="av"),
    Command("demo", "contact_sheet.png", needs="skimage"),
]


def _folder_with_a_user_file(tmp_path: Path, command: Command) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / command.output).write_bytes(b"the user's own file")
    (folder / "in.mp4").write_bytes(b"a video the user has")
    (folder / "photo.png").write_bytes(b"a photo the user has")
    return folder


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_an_existing_output_is_refused_before_any_work_and_kept(tmp_path, tiny_masker_file, no_models, capsys, command):
    if command.needs:
        pytest.importorskip(command.needs, reason=f"`{command.name}` needs {command.needs}")
    folder = _folder_with_a_user_file(tmp_path, command)
    before = _snapshot(folder)
    assert main(command.argv(folder, tiny_masker_file)) != 0
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert _snapshot(folder) == before


@pytest.mark.parametrize("fmt", ["torchscript"])
def test_export_replaces_an_existing_file_only_with_overwrite(tmp_path, tiny_masker_file, fmt):
    out = tmp_path / "m.pt"
    out.write_bytes(b"the user's own file")
    argv = ["export", "--masker", str(tiny_masker_file), "--format", fmt, "--size", "32", "--out", str(out)]
    assert main(argv) != 0 and out.read_bytes() == b"the user's own file"
    assert main([*argv, "--overwrite"]) == 0 and torch.jit.load(str(out)) is not None


@pytest.mark.parametrize(
    "argv",
    [
        lambda masker, folder: [
            "export",
            "--masker",
            str(masker),
            "--format",
            "torchscript",
            "--out",
            str(masker),
            "--overwrite",
        ],
        lambda masker, folder: [
            "video",
            str(folder / "in.mp4"),
            "--masker",
            str(masker),
            "--out",
            str(folder / "in.mp4"),
            "--overwrite",
        ],
    ],
    ids=["export over its masker", "video over its input"],
)
def test_an_input_is_never_replaced_even_with_overwrite(tmp_path, tiny_masker_file, no_models, capsys, argv):
    pytest.importorskip("av", reason="the video command needs PyAV")
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "in.mp4").write_bytes(b"a video the user has")
    masker = folder / "masker.pt"
    masker.write_bytes(tiny_masker_file.read_bytes())
    before = _snapshot(folder)
    assert main(argv(masker, folder)) != 0
    err = capsys.readouterr().err
    assert "is one of the inputs" in err or "must differ from the input" in err, err
    assert _snapshot(folder) == before


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_a_read_only_output_folder_is_refused_before_any_work(
    tmp_path, tiny_masker_file, no_models, monkeypatch, capsys, command
):
    if command.needs:
        pytest.importorskip(command.needs, reason=f"`{command.name}` needs {command.needs}")
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "in.mp4").write_bytes(b"a video the user has")
    folder.chmod(0o500)
    if os.geteuid() == 0:  # root writes into read-only folders: make the write probe fail as it would for a user

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    try:
        assert main(command.argv(folder, tiny_masker_file)) != 0
    finally:
        folder.chmod(0o700)
    assert "cannot write to" in capsys.readouterr().err


def test_explain_into_the_photo_folder_keeps_every_photo(tmp_path, masker_path):
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image provides the real photo")
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(skimage_data.chelsea()).save(folder / "chelsea.png")
    (folder / "chelsea_panel.png").write_bytes(b"a file the user named like an output")
    before = _snapshot(folder)
    assert (
        main(
            [
                "explain",
                str(folder / "chelsea.png"),
                "--masker",
                str(masker_path),
                "--out",
                str(folder),
                "--no-progress",
            ]
        )
        == 0
    )
    after = _snapshot(folder)
    assert all(after[name] == digest for name, digest in before.items())
    assert len(after) > len(before)


def test_two_explain_runs_into_one_folder_never_take_the_same_name(tmp_path):
    """Names are claimed with an exclusive create: a second run writing at the same time picks the next free name."""
    from blackbox_saliency.cli.cmd_explain import OutputNames

    with OutputNames(tmp_path, []) as first, OutputNames(tmp_path, []) as second:
        assert first.stem("cat") == "cat"
        assert second.stem("cat") == "cat_2"
        (tmp_path / "cat.png").write_bytes(b"written by the first run")
    assert (tmp_path / "cat.png").read_bytes() == b"written by the first run"
    assert not (tmp_path / "cat_2.png").exists()  # claimed, never written: released


def test_the_demo_refreshes_only_what_an_earlier_demo_wrote(tmp_path):
    from blackbox_saliency.cli.cmd_demo import _check_outputs
    from blackbox_saliency.errors import InputError

    (tmp_path / "cat.png").write_bytes(b"an earlier demo's overlay")
    (tmp_path / "contact_sheet.png").write_bytes(b"an earlier demo's sheet")
    summary = {"written_by": "blackbox-saliency demo", "photos": [{"overlay": str(tmp_path / "cat.png")}]}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    _check_outputs(tmp_path, ["cat"], overwrite=False)  # all the demo's own: refreshed without asking
    (tmp_path / "coffee_panel.png").write_bytes(b"the user's own file")
    with pytest.raises(InputError, match="coffee_panel.png already exists"):
        _check_outputs(tmp_path, ["cat", "coffee"], overwrite=False)
    _check_outputs(tmp_path, ["cat", "coffee"], overwrite=True)
