"""Standing suite: a malformed checkpoint is a CheckpointError that names the field, and costs no memory.

Every field of a masker checkpoint (each config entry, each top-level entry) and of a training
checkpoint (each entry, each stored training-config entry) is set in turn to a wrong type, a huge,
NaN, infinite or negative value. Loading (or resuming from) the file either raises
:class:`CheckpointError` whose message names the field, or works and gives valid masks; never a raw
error, never an allocation beyond the file's own size class (the process's peak memory is watched).
"""

from __future__ import annotations

import math
import resource

import pytest
import torch

from blackbox_saliency.errors import CheckpointError, InputError
from blackbox_saliency.maskers import SaliencyMasker, load_masker_checkpoint, save_masker
from blackbox_saliency.training import TrainConfig, train
from tests.training.conftest import SquaresDataset, ToyBlackBox, register_toy_encoder

BAD_VALUES = {
    "a string": "x",
    "a list": [1, 2],
    "None": None,
    "huge": 10**12,
    "NaN": math.nan,
    "inf": math.inf,
    "negative": -3,
}

#: How much the peak memory of this process may grow over the whole suite (the files are a few MB).
MEMORY_GROWTH_LIMIT_MB = 600


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def memory_watch():
    """Fails the module if loading the malformed files raised the process's peak memory by more than the limit."""
    before = _peak_mb()
    yield
    grown = _peak_mb() - before
    assert grown < MEMORY_GROWTH_LIMIT_MB, f"the peak memory grew by {grown:.0f} MB while loading malformed checkpoints"


def _small_masker() -> SaliencyMasker:
    torch.manual_seed(0)
    return SaliencyMasker(
        3, encoder=register_toy_encoder(), preset="fast", encoder_pretrained=False, upsampler_channels=(16,)
    ).eval()


MASKER_CONFIG_FIELDS = sorted(_small_masker().config)
MASKER_ENTRIES = [
    "kind",
    "format_version",
    "config",
    "state_dict",
    "encoder_state_dict",
    "encoder_fingerprint",
    "metadata",
]


@pytest.fixture(scope="module")
def masker_file(tmp_path_factory):
    return save_masker(tmp_path_factory.mktemp("masker") / "masker.pt", _small_masker())


def _assert_loads_to_valid_masks_or_names(path, field: str) -> None:
    try:
        masker = load_masker_checkpoint(path)
    except CheckpointError as error:
        assert field in str(error), f"the CheckpointError does not name `{field}`: {error}"
        return
    with torch.no_grad():
        masks = masker(torch.rand(2, 3, 32, 32), torch.tensor([0, 2]))
    assert (
        masks.shape == (2, 1, 32, 32)
        and bool(torch.isfinite(masks).all())
        and 0 <= float(masks.min()) <= float(masks.max()) <= 1
    )


@pytest.mark.parametrize("value_name", sorted(BAD_VALUES))
@pytest.mark.parametrize("field", MASKER_CONFIG_FIELDS)
def test_a_malformed_masker_config_field_is_named(masker_file, tmp_path, memory_watch, field, value_name):
    payload = torch.load(masker_file, weights_only=True)
    payload["config"][field] = BAD_VALUES[value_name]
    torch.save(payload, tmp_path / "m.pt")
    _assert_loads_to_valid_masks_or_names(tmp_path / "m.pt", field)


@pytest.mark.parametrize("value_name", sorted(BAD_VALUES))
@pytest.mark.parametrize("entry", MASKER_ENTRIES)
def test_a_malformed_masker_checkpoint_entry_is_named(masker_file, tmp_path, memory_watch, entry, value_name):
    payload = torch.load(masker_file, weights_only=True)
    payload[entry] = BAD_VALUES[value_name]
    torch.save(payload, tmp_path / "m.pt")
    _assert_loads_to_valid_masks_or_names(tmp_path / "m.pt", entry)


@pytest.mark.parametrize("damage", ["NaN weight", "wrong shape", "int weight", "huge shape claim"])
def test_damaged_masker_weights_are_named(masker_file, tmp_path, memory_watch, damage):
    payload = torch.load(masker_file, weights_only=True)
    name, weight = next((k, v) for k, v in payload["state_dict"].items() if v.is_floating_point() and v.numel() > 1)
    if damage == "NaN weight":
        weight = weight.clone().view(-1)
        weight[0] = math.nan
        weight = weight.view(payload["state_dict"][name].shape)
    elif damage == "wrong shape":
        weight = weight.flatten()[:-1]
    elif damage == "int weight":
        weight = weight.long()
    else:
        weight = torch.zeros(1).expand(10**6, 10**6)  # claims 10^12 elements, stores one
    payload["state_dict"][name] = weight
    torch.save(payload, tmp_path / "m.pt")
    _assert_loads_to_valid_masks_or_names(tmp_path / "m.pt", name)


# ----------------------------------------------------------------------------- training checkpoints
def _toy_config(out, **changes) -> TrainConfig:
    values = dict(
        classifier="toy",
        data="toy",
        out=str(out),
        steps=2,
        batch_size=8,
        lr=1e-2,
        fake_prob=0.5,
        progress=False,
        device="cpu",
        checkpoint_every=0,
        val_every=0,
        log_every=1,
        threads=1,
    )
    values.update(changes)
    return TrainConfig(**values)


def _train_toy(out, **changes):
    torch.manual_seed(0)
    masker = SaliencyMasker(
        3, encoder=register_toy_encoder(), preset="fast", encoder_pretrained=False, upsampler_channels=(16,)
    )
    return train(_toy_config(out, **changes), classifier=ToyBlackBox(), masker=masker, train_data=SquaresDataset(32, 0))


@pytest.fixture(scope="module")
def training_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "toy"
    _train_toy(out)
    return torch.load(out / "checkpoint.pt", weights_only=True)


TRAINING_ENTRIES = [
    "kind",
    "format_version",
    "step",
    "epoch",
    "batch_in_epoch",
    "config",
    "masker_config",
    "masker_state",
    "optimizer",
    "scheduler",
    "rng",
    "world_size",
    "metrics",
    "precision",
]


def _assert_resumes_or_names(state: dict, tmp_path, field: str) -> None:
    out = tmp_path / "toy"
    out.mkdir()
    torch.save(state, out / "checkpoint.pt")
    try:
        _train_toy(out, steps=3, resume="auto")
    except CheckpointError as error:
        assert field in str(error), f"the CheckpointError does not name `{field}`: {error}"
    except (
        InputError
    ) as error:  # a valid setting that differs from this run's: the user's command, not the file, is at fault
        assert str(error).startswith("--resume with settings that differ") and f"{field}:" in str(error), error


@pytest.mark.parametrize("value_name", sorted(BAD_VALUES))
@pytest.mark.parametrize("entry", TRAINING_ENTRIES)
def test_a_malformed_training_checkpoint_entry_is_named(training_checkpoint, tmp_path, memory_watch, entry, value_name):
    state = dict(training_checkpoint)
    state[entry] = BAD_VALUES[value_name]
    _assert_resumes_or_names(state, tmp_path, entry)


TRAIN_CONFIG_FIELDS = sorted(TrainConfig().to_dict())


@pytest.mark.parametrize("value_name", ["a string", "NaN", "negative"])
@pytest.mark.parametrize("field", TRAIN_CONFIG_FIELDS)
def test_a_malformed_stored_training_setting_is_named(training_checkpoint, tmp_path, memory_watch, field, value_name):
    state = dict(training_checkpoint)
    state["config"] = {**state["config"], field: BAD_VALUES[value_name]}
    _assert_resumes_or_names(state, tmp_path, field)
