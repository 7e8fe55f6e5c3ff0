"""``blackbox-saliency evaluate`` end to end on a few real CIFAR-10 images."""

from __future__ import annotations

import json

import pytest
import torch

from blackbox_saliency.cli.main import main


@pytest.fixture
def cifar_npz(data_dir):
    path = data_dir / "cifar10" / "cifar10_test2k.npz"
    if not path.is_file() or not (data_dir / "cifar10" / "weights").is_dir():
        pytest.skip(f"CIFAR-10 test subset or ResNet weights missing under {data_dir}/cifar10")
    return path


def on_cifar(cifar_npz, *args: str) -> list[str]:
    """``evaluate ARGS`` on the CIFAR-10 subset with the CIFAR-10 ResNet."""
    return ["evaluate", *args, "--data", str(cifar_npz), "--classifier", "cifar10_resnet20"]


def run_quietly(args: list[str], out) -> int:
    """``main(args)`` on one thread without a progress bar, writing ``<out>.md`` / ``.json``; the thread count is
    restored (--threads sets a process-wide value)."""
    threads = torch.get_num_threads()
    try:
        return main([*args, "--threads", "1", "--no-progress", "--out", str(out)])
    finally:
        torch.set_num_threads(threads)


def test_evaluate_writes_markdown_and_json(cifar_npz, tmp_path, capsys):
    out = tmp_path / "report"
    args = on_cifar(cifar_npz, "--methods", "gradient,center,full")
    rc = run_quietly([*args, "--limit", "4", "--deletion-steps", "2"], out)
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| gradient | 4 |" in printed and "wrote" in printed
    report = json.loads((tmp_path / "report.json").read_text())
    assert [r["method"] for r in report["rows"]] == ["gradient", "center", "full"]
    assert report["meta"]["classifier"] == "cifar10_resnet20" and report["meta"]["images"] == 4
    assert (tmp_path / "report.md").read_text().startswith("# Evaluation of gradient, center, full")


def test_unknown_method_lists_valid_ones(cifar_npz, capsys):
    rc = main(on_cifar(cifar_npz, "--methods", "center,saliency"))
    assert rc == 1
    err = capsys.readouterr().err
    assert "unknown method(s) 'saliency'" in err and "gradient, gradcam, cam, iterative, center, full, gt" in err


def test_gradcam_on_a_missing_layer_is_a_clear_error(cifar_npz, capsys):
    pytest.importorskip("pytorch_grad_cam", reason="pytorch-grad-cam is the extra blackbox-saliency[baselines]")
    rc = main(on_cifar(cifar_npz, "--methods", "gradcam", "--gradcam-layer", "layer9"))
    assert rc == 1
    assert "has no layer named 'layer9'" in capsys.readouterr().err


def test_needs_methods_or_a_masker(cifar_npz, capsys):
    assert main(on_cifar(cifar_npz)) == 1
    assert "pass --methods" in capsys.readouterr().err
    assert main(on_cifar(cifar_npz, "--methods", "center", "--method-limit", "iterative=3")) == 1
    assert "not in --methods" in capsys.readouterr().err
    assert main(on_cifar(cifar_npz, "--methods", "masker,center")) == 1
    assert "the method 'masker' needs a trained masker: pass --masker" in capsys.readouterr().err
    assert main(on_cifar(cifar_npz, "--methods", "center", "--device", "meta")) == 1
    assert "device 'meta' is not supported" in capsys.readouterr().err
    assert main(["evaluate", "--methods", "center", "--data", str(cifar_npz)]) == 1  # no masker to take it from
    assert "pass --classifier NAME" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "protocol", "view"),
    [([], "source", "whole photo resized"), (["--crop-from", "view"], "view", "center crop 224x224")],
)
def test_photo_folders_crop_from_the_original_by_default(data_dir, tmp_path, extra, protocol, view):
    val_dev = data_dir / "imagenet" / "val_dev"
    if not (val_dev / "boxes.csv").is_file():
        pytest.skip(f"{val_dev}/boxes.csv is missing")
    args = ["evaluate", "--methods", "center,full", "--classifier", "efficientnet_lite0", "--data", str(val_dev)]
    assert run_quietly([*args, "--limit", "2", *extra, "--deletion-steps", "0"], tmp_path / "r") == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["meta"]["crop_from"] == protocol and view in report["meta"]["data"]
    assert "main crop protocol" in (tmp_path / "r.md").read_text()


@pytest.mark.parametrize("classifier", [[], ["--classifier", "cifar10_resnet20"]])
def test_a_shipped_masker_is_a_method_with_or_without_its_classifier(cifar_npz, tmp_path, classifier):
    """``--methods cifar10_resnet20`` (a shipped masker valid_methods() offers) builds it without ``classifier=``
    (its factory refuses one), and without --classifier evaluates it against the black box it was trained for."""
    args = ["evaluate", "--methods", "cifar10_resnet20,center", "--data", str(cifar_npz), *classifier]
    assert run_quietly([*args, "--limit", "2", "--deletion-steps", "0"], tmp_path / "r") == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert [r["method"] for r in report["rows"]] == ["cifar10_resnet20", "center"]
    assert report["meta"]["classifier"] == "cifar10_resnet20"
    assert report["rows"][0]["description"].startswith("SaliencyMasker(")


@pytest.mark.slow
def test_the_shipped_imagenet_masker_is_a_method(data_dir, tmp_path):
    """The issue's command: ``evaluate --methods efficientnet_lite0`` on photos, the black box taken from the masker."""
    val_dev = data_dir / "imagenet" / "val_dev"
    if not (val_dev / "boxes.csv").is_file():
        pytest.skip(f"{val_dev}/boxes.csv is missing")
    args = ["evaluate", "--methods", "efficientnet_lite0", "--data", str(val_dev), "--limit", "1"]
    assert run_quietly([*args, "--deletion-steps", "0"], tmp_path / "r") == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["meta"]["classifier"] == "efficientnet_lite0" and report["rows"][0]["images"] == 1
