"""Saving and loading masker checkpoints."""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency import load_masker
from blackbox_saliency.errors import CheckpointError, InputError
from blackbox_saliency.maskers import SaliencyMasker, load_masker_checkpoint, save_masker
from blackbox_saliency.maskers.checkpoint import read_checkpoint


def _trained_like(masker: SaliencyMasker) -> SaliencyMasker:
    """Perturb every trainable weight and BN statistic so that defaults cannot pass a round trip."""
    with torch.no_grad():
        for name, tensor in masker.state_dict().items():
            if not name.startswith("encoder.") and tensor.is_floating_point():
                tensor.add_(torch.rand_like(tensor) * 0.1)
    return masker.eval()


@pytest.fixture(scope="module")
def resnet_masker():
    torch.manual_seed(1)
    return _trained_like(
        SaliencyMasker(
            1000, encoder="resnet18", preset="fast", encoder_pretrained=False, classifier_name="torchvision:resnet18"
        )
    )


def test_round_trip_is_exact_with_stored_encoder(tmp_path, resnet_masker):
    path = save_masker(tmp_path / "m.pt", resnet_masker, {"steps": 12, "note": "test"})
    payload = read_checkpoint(path)
    assert payload["encoder_state_dict"] is not None  # random encoder: cannot be rebuilt, so it is stored
    again = load_masker_checkpoint(path)
    assert not again.training and again.metadata == {"steps": 12, "note": "test"}
    assert again.config == resnet_masker.config and again.classifier_name == "torchvision:resnet18"
    for key, value in resnet_masker.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    x, c = torch.rand(2, 3, 64, 64), torch.tensor([1, 999])
    with torch.no_grad():
        assert torch.equal(resnet_masker(x, c), again(x, c))
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temporary file


def test_load_masker_accepts_a_path(tmp_path, resnet_masker):
    path = save_masker(tmp_path / "m.pt", resnet_masker)
    assert isinstance(load_masker(path), SaliencyMasker)
    assert isinstance(load_masker(str(path)), SaliencyMasker)


def test_pretrained_encoder_is_not_stored_but_fingerprinted(tmp_path):
    masker = _trained_like(SaliencyMasker(10, encoder="efficientnet_lite0", preset="fast", encoder_pretrained=True))
    path = save_masker(tmp_path / "m.pt", masker)
    payload = read_checkpoint(path)
    assert payload["encoder_state_dict"] is None and payload["encoder_fingerprint"].startswith("sha256:")
    assert path.stat().st_size < 5_000_000  # the 3.4M-parameter (13.5 MB) encoder is not in the file
    again = load_masker_checkpoint(path)
    x, c = torch.rand(1, 3, 64, 64), torch.tensor([3])
    with torch.no_grad():
        assert torch.equal(masker(x, c), again(x, c))
    payload["encoder_fingerprint"] = "sha256:" + "0" * 64
    torch.save(payload, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="different weights"):
        load_masker_checkpoint(tmp_path / "other.pt")


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_masker_checkpoint(tmp_path / "nope.pt")


def test_corrupt_file(tmp_path, resnet_masker):
    path = save_masker(tmp_path / "m.pt", resnet_masker)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_masker_checkpoint(path)
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_masker_checkpoint(tmp_path / "text.pt")


def test_wrong_kind_of_file(tmp_path):
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="not a blackbox-saliency masker checkpoint"):
        load_masker_checkpoint(tmp_path / "weights.pt")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(CheckpointError, match="not a blackbox-saliency masker checkpoint"):
        load_masker_checkpoint(tmp_path / "tensor.pt")


def test_config_mismatch(tmp_path, resnet_masker):
    payload = read_checkpoint(save_masker(tmp_path / "m.pt", resnet_masker))
    payload["config"]["upsampler_channels"] = [32, 16, 8]
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="config mismatch"):
        load_masker_checkpoint(tmp_path / "bad.pt")
    payload["config"]["preset"] = "enormous"
    torch.save(payload, tmp_path / "bad2.pt")
    with pytest.raises(CheckpointError, match="cannot be built"):
        load_masker_checkpoint(tmp_path / "bad2.pt")


def test_newer_format_is_refused(tmp_path, resnet_masker):
    payload = read_checkpoint(save_masker(tmp_path / "m.pt", resnet_masker))
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_masker_checkpoint(tmp_path / "new.pt")


def test_overrides_and_bad_metadata(tmp_path, resnet_masker):
    path = save_masker(tmp_path / "m.pt", resnet_masker)
    assert load_masker_checkpoint(path, classifier_name="other").classifier_name == "other"
    with pytest.raises(InputError, match="unknown masker option"):
        load_masker_checkpoint(path, colour="red")
    with pytest.raises(InputError, match="JSON"):
        save_masker(tmp_path / "x.pt", resnet_masker, {"tensor": torch.zeros(1)})
    with pytest.raises(InputError, match="TrainableMasker"):
        save_masker(tmp_path / "x.pt", torch.nn.Linear(1, 1))  # type: ignore[arg-type]


def test_non_finite_weights_are_refused_at_load(tmp_path, resnet_masker):
    payload = read_checkpoint(save_masker(tmp_path / "m.pt", resnet_masker))
    name = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
    payload["state_dict"][name] = payload["state_dict"][name].clone().fill_(float("nan"))
    torch.save(payload, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match=f"non-finite weights.*{name}.*diverged"):
        load_masker_checkpoint(tmp_path / "nan.pt")


class _RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pickle_with_code_is_refused_without_suggesting_weights_only_false(tmp_path, capsys):
    torch.save({"kind": "blackbox_saliency.masker", "payload": _RunsCode()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="never runs code from a file") as caught:
        load_masker_checkpoint(tmp_path / "evil.pt")
    assert "weights_only=False" not in str(caught.value) and "corrupt" in str(caught.value)
    assert "this must never run" not in capsys.readouterr().out


def test_an_architecture_override_is_refused_before_anything_is_built(tmp_path, resnet_masker, monkeypatch):
    from blackbox_saliency.maskers import checkpoint

    path = save_masker(tmp_path / "m.pt", resnet_masker)
    monkeypatch.setattr(
        checkpoint, "build_masker_from_config", lambda config: pytest.fail("built (and maybe downloaded) an encoder")
    )
    with pytest.raises(CheckpointError, match=r"encoder='efficientnet_lite0' \(trained with 'resnet18'\)"):
        load_masker_checkpoint(path, encoder="efficientnet_lite0")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("upsampler_channels", [10**7, 64, 32]),  # would allocate tens of GB
        ("upsampler_channels", "64,32"),
        ("bottlenecks_per_block", 10**6),
        ("bottlenecks_per_block", 1.5),
        ("mask_eps", float("inf")),
        ("mask_eps", "tiny"),
        ("prior_offset", float("nan")),
        ("class_prior", "yes"),
        ("num_classes", 10**9),
        ("num_classes", True),
    ],
)
def test_a_crafted_config_is_refused_naming_the_field_before_anything_is_built(
    tmp_path, resnet_masker, field, value, monkeypatch
):
    import blackbox_saliency.maskers.model as model

    path = save_masker(tmp_path / "m.pt", resnet_masker)
    payload = torch.load(path, weights_only=True)
    payload["config"][field] = value
    torch.save(payload, path)
    monkeypatch.setattr(
        model, "build_encoder", lambda *a, **k: pytest.fail("the encoder was built for a refused config")
    )
    with pytest.raises(CheckpointError, match=f"`{field}`"):
        load_masker_checkpoint(path)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.mkdir(), "it is a folder, not a file"),
        (lambda p: p.symlink_to(p), "symbolic link that loops or points to nothing"),
    ],
)
def test_a_folder_or_a_link_loop_is_not_reported_as_missing(tmp_path, make, words):
    path = tmp_path / "x.pt"
    make(path)
    with pytest.raises(CheckpointError, match=words):
        load_masker_checkpoint(path)
