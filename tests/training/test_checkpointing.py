"""Training checkpoints: RNG round trip, weights_only loading, clear errors."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from blackbox_saliency.errors import CheckpointError
from blackbox_saliency.interfaces import TrainableMasker
from blackbox_saliency.training.checkpointing import (
    capture_rng_state,
    load_trainable_state,
    load_training_state,
    restore_rng_state,
    save_training_state,
    trainable_state,
)


def _draw():
    return (torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)], np.random.randn(),
            random.gauss(0, 1))


def test_rng_states_survive_a_weights_only_round_trip(tmp_path):
    np.random.randn()  # leave a cached gaussian in numpy's state
    state = capture_rng_state()
    expected = _draw()
    save_training_state(tmp_path / "c.pt", step=1, epoch=0, batch_in_epoch=1, config={}, masker_config={},
                        masker_state={}, optimizer={}, rng=[state])
    loaded = load_training_state(tmp_path / "c.pt")
    _draw()
    restore_rng_state(loaded["rng"][0])
    assert _draw() == expected


class _Net(TrainableMasker):
    """The parts of the TrainableMasker contract the checkpoint code reads: a frozen encoder and a decoder."""

    architecture = "net"

    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(2, 2)
        self.decoder = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
        self.config = {}

    def frozen_modules(self):
        return [self.encoder]

    def trainable_parameters(self):
        return self.decoder.parameters()

    def forward_train(self, images, classes, features=None):
        raise NotImplementedError

    def forward(self, images, classes):
        raise NotImplementedError


def test_trainable_state_skips_the_encoder_and_checks_keys():
    a, b = _Net(), _Net()
    state = trainable_state(a)
    assert state and not any(k.startswith("encoder.") for k in state) and "decoder.1.running_mean" in state
    load_trainable_state(b, state)
    assert torch.equal(a.decoder[0].weight, b.decoder[0].weight) and not torch.equal(a.encoder.weight, b.encoder.weight)
    with pytest.raises(CheckpointError, match="missing"):
        load_trainable_state(b, {k: v for k, v in state.items() if "running" not in k})
    with pytest.raises(CheckpointError, match="do not fit"):
        load_trainable_state(b, {**state, "decoder.0.weight": torch.zeros(3, 3)})


def test_masker_and_training_checkpoints_share_one_reader_and_writer(tmp_path):
    from blackbox_saliency import checkpoints
    from blackbox_saliency.maskers import checkpoint
    from blackbox_saliency.training import checkpointing

    assert checkpointing.trainable_state is checkpoint.trainable_state
    assert checkpointing.load_trainable_state is checkpoint.load_trainable_state
    path = save_training_state(tmp_path / "c.pt", step=2, epoch=0, batch_in_epoch=2, config={}, masker_config={},
                               masker_state={}, optimizer={})
    assert checkpoints.read_payload(path, checkpointing.TRAINING_FORMAT)["step"] == 2
    with pytest.raises(CheckpointError, match="not a blackbox-saliency masker checkpoint"):
        checkpoint.read_checkpoint(path)
    with pytest.raises(CheckpointError, match="non-finite weights"):
        load_training_state(save_training_state(tmp_path / "nan.pt", step=2, epoch=0, batch_in_epoch=2, config={},
                                                masker_config={}, masker_state={"w": torch.tensor([float("nan")])},
                                                optimizer={}))


def test_unusable_checkpoints_raise_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no training checkpoint"):
        load_training_state(tmp_path / "missing.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"\x80\x02 definitely not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_training_state(tmp_path / "corrupt.pt")
    torch.save({"kind": "blackbox_saliency.masker"}, tmp_path / "masker.pt")
    with pytest.raises(CheckpointError, match="load_masker"):
        load_training_state(tmp_path / "masker.pt")
    save_training_state(tmp_path / "partial.pt", step=3)
    with pytest.raises(CheckpointError, match="damaged"):
        load_training_state(tmp_path / "partial.pt")
    torch.save({"kind": "blackbox_saliency.training_state", "format_version": 99}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="format"):
        load_training_state(tmp_path / "future.pt")


def _state(tmp_path, name="c.pt", **changes):
    entries = dict(step=2, epoch=0, batch_in_epoch=2, config={}, masker_config={}, masker_state={}, optimizer={})
    entries.update(changes)
    return save_training_state(tmp_path / name, **entries)


@pytest.mark.parametrize(("field", "value"), [("step", 10**9), ("step", -5), ("step", 2.5), ("epoch", -1),
                                              ("batch_in_epoch", True), ("world_size", 0)])
def test_a_position_out_of_range_is_refused_naming_the_field(tmp_path, field, value):
    """``step=10**9`` would hang the learning-rate replay, ``step=-5`` would be accepted as a position."""
    with pytest.raises(CheckpointError, match=f"[`']{field}[`']"):
        load_training_state(_state(tmp_path, **{field: value}))


def test_nan_optimiser_state_is_refused(tmp_path):
    optimizer = {"state": {0: {"exp_avg": torch.tensor([1.0, float("nan")]), "step": torch.tensor(3.0)}},
                 "param_groups": []}
    with pytest.raises(CheckpointError, match="optimiser state .* holds non-finite weights .* in state.0.exp_avg"):
        load_training_state(_state(tmp_path, optimizer=optimizer))


def test_a_malformed_random_state_is_a_checkpoint_error():
    state = capture_rng_state()
    state["numpy"] = {"name": "MT19937"}  # keys missing
    with pytest.raises(CheckpointError, match="random-number state .* is malformed"):
        restore_rng_state(state)
