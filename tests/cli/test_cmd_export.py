"""``blackbox-saliency export``."""

from __future__ import annotations

import torch

from blackbox_saliency.cli.main import main
from blackbox_saliency.maskers import SaliencyMasker, save_masker


def test_export_a_checkpoint_to_torchscript(tmp_path, capsys):
    masker = SaliencyMasker(10, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast").eval()
    ckpt = save_masker(tmp_path / "m.pt", masker)
    out = tmp_path / "exported" / "masker.ts"
    code = main(
        ["export", "--masker", str(ckpt), "--format", "torchscript", "--out", str(out), "--size", "32", "--batch", "2"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "max |exported - eager|" in printed
    module = torch.jit.load(str(out))
    images, classes = torch.rand(3, 3, 32, 32), torch.tensor([0, 4, 9])
    with torch.no_grad():
        torch.testing.assert_close(module(images, classes), masker(images, classes), atol=1e-5, rtol=1e-5)


def test_unknown_masker_is_a_clean_error(tmp_path, capsys):
    code = main(["export", "--masker", "no_such_masker", "--format", "torchscript", "--out", str(tmp_path / "x.pt")])
    assert code == 1
    err = capsys.readouterr().err
    assert "no masker named 'no_such_masker'" in err


def test_corrupt_checkpoint_is_a_clean_error(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"definitely not a checkpoint")
    code = main(["export", "--masker", str(bad), "--format", "torchscript", "--out", str(tmp_path / "x.pt")])
    assert code == 1
    assert "corrupt" in capsys.readouterr().err
