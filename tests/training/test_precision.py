"""Mixed precision: the capability probe, ``auto``'s choice, bf16 training quality, resume across a precision change."""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency import load_classifier
from blackbox_saliency.errors import InputError
from blackbox_saliency.maskers import SaliencyMasker
from blackbox_saliency.objective import SaliencyObjective
from blackbox_saliency.training import TrainConfig, build_dataset, train
from blackbox_saliency.training import precision as precision_module
from blackbox_saliency.training.precision import resolve_precision


@pytest.fixture
def no_native_bf16(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_bf16_support", lambda: "")


@pytest.fixture
def native_bf16(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_bf16_support", lambda: "avx512_bf16")


def test_auto_picks_fp32_on_a_cpu_without_native_bf16(no_native_bf16):
    choice = resolve_precision("auto", torch.device("cpu"))
    assert choice.name == "fp32" and choice.dtype is None and "emulated" in choice.reason


def test_auto_picks_bf16_on_a_cpu_with_native_bf16(native_bf16):
    choice = resolve_precision("auto", torch.device("cpu"))
    assert choice.name == "bf16" and choice.dtype is torch.bfloat16 and "avx512_bf16" in choice.reason


def test_explicit_choices_and_refusals(no_native_bf16):
    # asked for: allowed, with a warning in the reason
    assert resolve_precision("bf16", torch.device("cpu")).name == "bf16"
    assert "slower" in resolve_precision("bf16", torch.device("cpu")).reason
    with pytest.raises(InputError, match="fp16 autocast is not offered on the CPU"):
        resolve_precision("fp16", torch.device("cpu"))
    with pytest.raises(InputError, match="precision"):
        resolve_precision("half", torch.device("cpu"))
    with pytest.raises(InputError, match="precision"):
        TrainConfig(data="x", precision="fp8").validate()


def test_probe_reads_the_cpu_flags():
    flags = precision_module.cpu_bf16_support()
    assert set(filter(None, flags.split(","))) <= {"amx_bf16", "avx512_bf16"}


def _fixed_batch_loss(objective, masker, images, labels, alternative) -> float:
    masker.eval()
    with torch.no_grad():
        return float(objective(images, masker.forward_train(images, labels).masks, labels,
                               alternative=alternative).total.mean())


def test_bf16_cifar_run_reduces_the_objective_like_fp32(tmp_path, data_dir, single_thread):
    """Same seed, 60 steps of 32: bf16 autocast lowers the fp32-evaluated objective by at least half of what fp32 does.

    The tolerance is wide because the runs diverge after a few steps and behave like different seeds: over seeds 0-2
    fp32 itself lowered this objective by 0.86 to 1.76, and bf16 by 0.88x to 1.57x the fp32 drop of the same seed.
    (bf16 runs even where the CPU emulates it; it is slower there, not different.)
    """
    classifier = load_classifier("cifar10_resnet20")
    evaluation = build_dataset(data_dir / "cifar10" / "cifar10_test2k.npz", 32, train=False, limit=128)
    images = torch.stack([evaluation[i][0] for i in range(len(evaluation))])
    labels = torch.as_tensor(evaluation.labels)
    objective = SaliencyObjective(classifier)
    alternative = objective.remover(images, torch.Generator().manual_seed(5))
    drops = {}
    for name in ("fp32", "bf16"):
        torch.manual_seed(0)
        masker = SaliencyMasker(10, encoder="cifar10_resnet20", preset="fast", classifier_name="cifar10_resnet20")
        masker.init_embedding_from_encoder_head()
        before = _fixed_batch_loss(objective, masker, images, labels, alternative)
        config = TrainConfig(classifier="cifar10_resnet20", data=str(data_dir / "cifar10" / "cifar10_train25k.npz"),
                             out=str(tmp_path / name), preset="fast", steps=60, batch_size=32, lr=3e-3, progress=False,
                             device="cpu", val_every=0, checkpoint_every=0, precision=name, seed=0)
        result = train(config, masker=masker)
        assert result.precision == name
        drops[name] = before - _fixed_batch_loss(objective, result.masker, images, labels, alternative)
    assert drops["fp32"] > 0.4, drops
    assert drops["bf16"] > 0.5 * drops["fp32"], drops


def test_resume_across_a_precision_change_is_refused(tmp_path, cifar_test_npz, single_thread):
    config = TrainConfig(classifier="cifar10_resnet20", data=str(cifar_test_npz), out=str(tmp_path / "run"),
                         preset="fast", steps=2, batch_size=4, progress=False, device="cpu", val_every=0,
                         checkpoint_every=1, precision="fp32")
    train(config)
    again = TrainConfig(**{**config.to_dict(), "steps": 3, "resume": "auto", "precision": "bf16",
                           "crop_scale": tuple(config.crop_scale)})
    with pytest.raises(InputError, match="precision"):
        train(again)
