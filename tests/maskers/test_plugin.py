"""Shipped maskers are registered from blackbox_saliency/assets/maskers/<name>.pt."""

from __future__ import annotations

import torch

from blackbox_saliency.maskers import SaliencyMasker, plugin, save_masker


def test_hook_offers_exactly_the_shipped_files():
    offered = plugin.blackbox_saliency_maskers()
    expected = sorted(p.stem for p in plugin.ASSETS_DIR.glob("*.pt")) if plugin.ASSETS_DIR.is_dir() else []
    assert sorted(offered) == expected


def test_a_file_in_the_folder_becomes_a_loadable_masker(tmp_path, monkeypatch):
    masker = SaliencyMasker(10, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast").eval()
    save_masker(tmp_path / "tiny_cifar.pt", masker)
    (tmp_path / "tiny_cifar.md").write_text("model card")
    monkeypatch.setattr(plugin, "ASSETS_DIR", tmp_path)
    assert plugin.shipped_masker_paths(tmp_path) == {"tiny_cifar": tmp_path / "tiny_cifar.pt"}
    offered = plugin.blackbox_saliency_maskers()
    assert list(offered) == ["tiny_cifar"]
    loaded = offered["tiny_cifar"]()
    x, c = torch.rand(2, 3, 32, 32), torch.tensor([1, 2])
    with torch.no_grad():
        assert torch.equal(loaded(x, c), masker(x, c))


def test_missing_folder_gives_nothing(tmp_path):
    assert plugin.shipped_masker_paths(tmp_path / "absent") == {}
