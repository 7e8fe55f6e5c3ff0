"""The learning-rate schedule: torch's schedulers reproduce the warm-up x cosine formula, and a resumed run
continues it."""

from __future__ import annotations

import json
import math
import warnings

import pytest
import torch

from blackbox_saliency.maskers import SaliencyMasker
from blackbox_saliency.training import TrainConfig, train
from blackbox_saliency.training.checkpointing import load_training_state, save_training_state
from blackbox_saliency.training.optimisation import LRPlan, lr_scheduler


def _formula(config: TrainConfig, step: int) -> float:
    """The rate of step ``step`` (from 0) as the trainer computed it before it used torch's schedulers."""
    factor = 1.0
    if config.warmup_steps and step < config.warmup_steps:
        factor = (step + 1) / config.warmup_steps
    if config.lr_schedule == "cosine":
        factor *= 0.5 * (1.0 + math.cos(math.pi * min(step, config.steps) / config.steps))
    return config.lr * factor


def _rates(config: TrainConfig) -> list[float]:
    """The rate of every step of a run with ``config``, read from the optimiser as a step would use it."""
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=config.lr)
    scheduler = lr_scheduler(optimizer, LRPlan(config.lr, config.lr_schedule, config.warmup_steps, config.steps))
    rates = []
    for _ in range(config.steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize(
    "schedule, warmup, steps",
    [("constant", 0, 6), ("constant", 1, 5), ("constant", 4, 9), ("cosine", 0, 10), ("cosine", 3, 12), ("cosine", 1, 7),
     ("cosine", 20, 50), ("cosine", 0, 1), ("constant", 8, 5)],
)
def test_scheduler_rates_are_the_formula(schedule, warmup, steps):
    config = TrainConfig(lr=2e-2, lr_schedule=schedule, warmup_steps=warmup, steps=steps)
    assert _rates(config) == pytest.approx([_formula(config, s) for s in range(steps)], rel=1e-12, abs=1e-18)


def test_scheduler_rates_at_some_steps():
    """Values written out from the formula lr * (s + 1) / warmup * (1 + cos(pi * s / steps)) / 2 (warm-up for
    s < warmup only)."""
    cosine = _rates(TrainConfig(lr=2e-2, lr_schedule="cosine", warmup_steps=3, steps=12))
    expected = {0: 0.02 / 3, 1: 0.02 * 2 / 3 * (1 + math.cos(math.pi / 12)) / 2,
                2: 0.02 * (1 + math.cos(math.pi / 6)) / 2, 4: 0.015, 6: 0.01, 8: 0.005,
                11: 0.02 * (1 + math.cos(math.pi * 11 / 12)) / 2}
    assert {s: cosine[s] for s in expected} == pytest.approx(expected, rel=1e-12)
    assert cosine[1] == pytest.approx(0.013106172175260453, rel=1e-12)
    assert cosine[3] == pytest.approx(0.017071067811865476, rel=1e-12)
    warm = _rates(TrainConfig(lr=2e-2, warmup_steps=4, steps=9))
    assert warm == pytest.approx([0.005, 0.01, 0.015, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02], rel=1e-12)
    assert _rates(TrainConfig(lr=1e-3, steps=4)) == [1e-3] * 4  # constant: exactly the rate given


class _Killed(Exception):
    pass


def _run(tmp_path, toy_blackbox, toy_encoder, data, name, **changes):
    values = dict(classifier="toy", data="toy", out=str(tmp_path / name), steps=12, batch_size=8, lr=2e-2,
                  fake_prob=0.5, progress=False, device="cpu", checkpoint_every=4, val_every=0, log_every=1,
                  num_workers=0, lr_schedule="cosine", warmup_steps=3)
    values.update(changes)
    torch.manual_seed(0)
    masker = SaliencyMasker(3, encoder=toy_encoder, preset="fast", encoder_pretrained=False, upsampler_channels=(8,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cosine schedule changes when steps do
        return train(TrainConfig(**values), classifier=toy_blackbox, masker=masker, train_data=data)


def _logged_rates(out) -> dict[int, float]:
    return {r["step"]: r["lr"] for r in map(json.loads, (out / "log.jsonl").read_text().splitlines())}


@pytest.mark.parametrize("old_checkpoint", [False, True], ids=["with scheduler state",
                                                               "checkpoint without scheduler state"])
def test_a_resumed_run_continues_the_rate_sequence(tmp_path, toy_blackbox, toy_encoder, squares_dataset, single_thread,
                                                   old_checkpoint):
    straight = _run(tmp_path, toy_blackbox, toy_encoder, squares_dataset(40, 0), "straight")

    class Dying(squares_dataset):
        fetched = 0

        def raw(self, index):
            Dying.fetched += 1
            if Dying.fetched > 8 * 9:  # in the 10th step: the last checkpoint is step 8's
                raise _Killed
            return super().raw(index)

    with pytest.raises(_Killed):
        _run(tmp_path, toy_blackbox, toy_encoder, Dying(40, 0), "killed")
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    state = load_training_state(checkpoint)
    assert state["step"] == 8 and "scheduler" in state
    if old_checkpoint:  # as written before the trainer stored its schedule: the rate of the last step done
        del state["scheduler"]
        for group in state["optimizer"]["param_groups"]:
            group["lr"] = _formula(TrainConfig(**state["config"]), 7)
            group.pop("initial_lr", None)
        kept = {k: v for k, v in state.items() if k not in ("kind", "format_version", "library_version")}
        save_training_state(checkpoint, **kept)
    again = _run(tmp_path, toy_blackbox, toy_encoder, squares_dataset(40, 0), "killed", resume="auto")

    straight_rates, resumed_rates = _logged_rates(tmp_path / "straight"), _logged_rates(tmp_path / "killed")
    assert resumed_rates == straight_rates  # bit-identical: the same float operations in the same order
    config = TrainConfig(lr=2e-2, lr_schedule="cosine", warmup_steps=3, steps=12)
    assert [resumed_rates[s] for s in range(1, 13)] == pytest.approx([_formula(config, s) for s in range(12)],
                                                                     rel=1e-12)
    final, resumed = load_training_state(straight.checkpoint_path), load_training_state(again.checkpoint_path)
    for key, value in final["masker_state"].items():
        assert torch.equal(value, resumed["masker_state"][key]), key
    assert resumed["scheduler"] == final["scheduler"]


def test_resuming_with_more_steps_follows_the_new_cosine(tmp_path, toy_blackbox, toy_encoder, squares_dataset,
                                                         single_thread):
    """``steps`` may change on resume: the rate from there on is the new schedule's at that step."""
    _run(tmp_path, toy_blackbox, toy_encoder, squares_dataset(40, 0), "run", steps=5)
    _run(tmp_path, toy_blackbox, toy_encoder, squares_dataset(40, 0), "run", steps=12, resume="auto")
    rates = _logged_rates(tmp_path / "run")
    short, long = (TrainConfig(lr=2e-2, lr_schedule="cosine", warmup_steps=3, steps=n) for n in (5, 12))
    expected = [_formula(short, s) for s in range(5)] + [_formula(long, s) for s in range(5, 12)]
    assert [rates[s] for s in range(1, 13)] == pytest.approx(expected, rel=1e-12)
