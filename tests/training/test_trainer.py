"""The masker trainer: learns a toy task, reduces the objective on CIFAR-10, resumes exactly after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from blackbox_saliency import load_classifier, load_masker
from blackbox_saliency.errors import CheckpointError, DataNotFoundError, InputError, PluginError
from blackbox_saliency.maskers import SaliencyMasker
from blackbox_saliency.objective import SaliencyObjective
from blackbox_saliency.training import TrainConfig, build_dataset, train
from blackbox_saliency.training.checkpointing import load_training_state

REPO = Path(__file__).resolve().parents[2]


def _toy_config(tmp_path, **changes) -> TrainConfig:
    values = dict(classifier="toy", data="toy", out=str(tmp_path / "toy"), steps=150, batch_size=32, lr=2e-2,
                  fake_prob=0.5, progress=False, device="cpu", checkpoint_every=0, val_every=0, log_every=50)
    values.update(changes)
    return TrainConfig(**values)


def test_toy_masks_cover_the_square_and_fake_classes_get_small_masks(tmp_path, toy_blackbox, toy_encoder, squares,
                                                                     squares_dataset, single_thread):
    torch.manual_seed(0)
    masker = SaliencyMasker(3, encoder=toy_encoder, preset="fast", encoder_pretrained=False, upsampler_channels=(16,))
    result = train(_toy_config(tmp_path), classifier=toy_blackbox, masker=masker, train_data=squares_dataset(2048, 0),
                   val_data=squares_dataset(64, 5))
    images, labels, square = squares(200, seed=7)
    with torch.no_grad():
        masks = result.masker(images, labels)
        other_colour = result.masker(images, 1 - labels)
        nothing = result.masker(images, torch.full_like(labels, 2))
    inside = float((masks * square).sum() / square.sum())
    outside = float((masks * (1 - square)).sum() / (1 - square).sum())
    assert inside > 0.7 and outside < 0.2, (inside, outside)
    assert float(other_colour.mean()) < 0.5 * float(masks.mean()) and float(nothing.mean()) < 0.5 * float(masks.mean())
    # the validation pass ran on the toy set and the masker beats the central box there
    assert result.metrics["saliency"] < result.metrics["baselines"]["center"]["saliency"]
    # the saved masker is what load_masker reads, with the metadata
    again = load_masker(result.masker_path)
    assert torch.allclose(again(images[:4], labels[:4]), masks[:4], atol=1e-6)
    assert again.metadata["steps"] == 150 and "saliency" in again.metadata["final_metrics"]
    assert again.metadata["classifier"] == "toy" and again.metadata["command_line"]
    summary = json.loads((Path(result.masker_path).parent / "result.json").read_text())
    assert summary["steps"] == 150 and result.images_per_s > 0


def test_validation_uses_the_evaluation_runner_from_step_0_and_keeps_the_best_masker(tmp_path, toy_blackbox,
                                                                                     toy_encoder, squares_dataset,
                                                                                     single_thread):
    from blackbox_saliency.training.validation import validate

    torch.manual_seed(0)
    masker = SaliencyMasker(3, encoder=toy_encoder, preset="fast", encoder_pretrained=False, upsampler_channels=(16,))
    val = squares_dataset(48, 5)
    result = train(_toy_config(tmp_path, steps=60, val_every=20, val_size=48), classifier=toy_blackbox, masker=masker,
                   train_data=squares_dataset(512, 0), val_data=val)
    out = Path(result.masker_path).parent
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    vals = [r for r in records if "val" in r]
    assert [r["step"] for r in vals] == [0, 20, 40, 60]  # step 0 (where training starts) is a row
    for r in vals:
        assert {"saliency", "log_area", "log_prob", "view_saliency", "loc_error_paper", "pointing"} <= set(r["val"])
        assert r["val"]["images"] == 48 and r["val"]["baselines"]["center"]["images"] == 48
    scores = [r["val"]["saliency"] for r in vals]
    best_step = vals[scores.index(min(scores))]["step"]
    assert result.metrics["best"] == {"metric": "saliency", "value": min(scores), "step": best_step}
    assert sum(r["new_best"] for r in vals) >= 1 and vals[0]["new_best"]
    best = load_masker(out / "best.pt")
    assert best.metadata["step"] == best_step and best.metadata["selected_by"]["value"] == min(scores)
    again = validate(best, toy_blackbox, result_val_data(val), limit=48, batch_size=32)
    assert again["saliency"] == pytest.approx(min(scores), abs=1e-5)  # the kept masker is the one that scored best
    summary = json.loads((out / "result.json").read_text())
    assert summary["best"]["step"] == best_step and summary["best"]["masker"].endswith("best.pt")


def result_val_data(images):
    from blackbox_saliency.training.validation import ImagesAsEvalData

    return ImagesAsEvalData(images)


def test_selection_metric_must_be_a_report_column(tmp_path):
    with pytest.raises(InputError, match="select_metric"):
        _toy_config(tmp_path, select_metric="accuracy").validate()


def test_toy_blackbox_labels_for_unlabelled_data(tmp_path, toy_blackbox, toy_encoder, squares_dataset, single_thread):
    data = squares_dataset(64, 1)
    data.labels[:] = -1
    masker = SaliencyMasker(3, encoder=toy_encoder, preset="fast", encoder_pretrained=False, upsampler_channels=(8,))
    with pytest.raises(InputError, match="--labels blackbox"):
        train(_toy_config(tmp_path, steps=2), classifier=toy_blackbox, masker=masker, train_data=data)
    result = train(_toy_config(tmp_path, steps=2, labels="blackbox"), classifier=toy_blackbox, masker=masker,
                   train_data=data)
    assert result.steps == 2


def test_short_cifar_run_reduces_the_objective(tmp_path, data_dir, single_thread):
    classifier = load_classifier("cifar10_resnet20")
    evaluation = build_dataset(data_dir / "cifar10" / "cifar10_test2k.npz", 32, train=False, limit=64)
    images = torch.stack([evaluation[i][0] for i in range(len(evaluation))])
    labels = torch.as_tensor(evaluation.labels)
    objective = SaliencyObjective(classifier)
    alternative = objective.remover(images, torch.Generator().manual_seed(5))  # the same alternative before and after

    def fixed_batch_loss(masker) -> float:
        masker.eval()
        with torch.no_grad():
            return float(objective(images, masker.forward_train(images, labels).masks, labels,
                                   alternative=alternative).total.mean())

    torch.manual_seed(0)
    masker = SaliencyMasker(10, encoder="cifar10_resnet20", preset="fast", classifier_name="cifar10_resnet20")
    masker.init_embedding_from_encoder_head()  # what the trainer does for a masker it builds (embedding_init="auto")
    before = fixed_batch_loss(masker)
    config = TrainConfig(classifier="cifar10_resnet20", data=str(data_dir / "cifar10" / "cifar10_train25k.npz"),
                         out=str(tmp_path / "c10"), preset="fast", steps=40, batch_size=8, lr=1e-2, progress=False,
                         device="cpu", val_every=0, checkpoint_every=0)
    result = train(config, masker=masker)
    after = fixed_batch_loss(result.masker)
    assert after < before - 0.4, (before, after)


def _cli(out: Path, data: Path, steps: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "blackbox_saliency", "train", "--classifier", "cifar10_resnet20", "--data", str(data),
            "--out", str(out), "--preset", "fast", "--steps", str(steps), "--batch-size", "4", "--lr", "1e-2",
            "--checkpoint-every", "2", "--log-every", "1", "--val-every", "0", "--device", "cpu", "--num-workers", "0",
            "--threads", "1", "--no-progress", *extra]


def test_sigkill_then_resume_reaches_the_uninterrupted_weights(tmp_path, cifar_test_npz, single_thread):
    """A run killed after a checkpoint and resumed ends bit-identical to an uninterrupted run (CPU, one thread)."""
    from blackbox_saliency.cli.main import main

    steps = 8
    assert main(_cli(tmp_path / "straight", cifar_test_npz, steps)[3:]) == 0  # in-process: saves one interpreter start

    killed = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(_cli(killed, cifar_test_npz, 10_000), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (killed / "checkpoint.pt").exists():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    saved_step = load_training_state(killed / "checkpoint.pt")["step"]
    # the constant lr makes the long run's first steps those of the short run
    assert 2 <= saved_step < steps, saved_step

    assert main(_cli(killed, cifar_test_npz, steps, "--resume")[3:]) == 0
    logged = [json.loads(line)["step"] for line in (killed / "log.jsonl").read_text().splitlines()]
    start = len(logged) - 1 - logged[::-1].index(saved_step + 1)  # the killed run may have logged a few steps past it
    resumed = logged[start:]
    assert resumed == list(range(saved_step + 1, steps + 1))

    straight = load_training_state(tmp_path / "straight" / "checkpoint.pt")
    again = load_training_state(killed / "checkpoint.pt")
    assert straight["step"] == again["step"] == steps
    for key, value in straight["masker_state"].items():
        assert torch.equal(value, again["masker_state"][key]), key
    for index, slot in straight["optimizer"]["state"].items():
        assert all(torch.equal(slot[k], again["optimizer"]["state"][index][k]) for k in slot)


def test_an_existing_run_is_never_overwritten_without_being_asked(tmp_path, toy_blackbox, toy_encoder, squares_dataset,
                                                                  single_thread):
    def masker():
        return SaliencyMasker(3, encoder=toy_encoder, preset="fast", encoder_pretrained=False, upsampler_channels=(8,))

    data = squares_dataset(64, 1)
    first = train(_toy_config(tmp_path, steps=2, checkpoint_every=1), classifier=toy_blackbox, masker=masker(),
                  train_data=data)
    run = Path(first.masker_path).parent
    before = {name: (run / name).read_bytes() for name in ("checkpoint.pt", "masker.pt", "log.jsonl")}
    held = r"already holds a run \(checkpoint.pt, masker.pt, log.jsonl, result.json\); "
    with pytest.raises(InputError, match=held + r"pass --resume.*--overwrite.*Nothing was changed"):
        train(_toy_config(tmp_path, steps=3), classifier=toy_blackbox, masker=masker(), train_data=data)
    assert {name: (run / name).read_bytes() for name in before} == before
    with pytest.raises(InputError, match="contradict"):
        train(_toy_config(tmp_path, steps=3, resume="auto", overwrite=True), classifier=toy_blackbox, masker=masker(),
              train_data=data)
    again = train(_toy_config(tmp_path, steps=3, overwrite=True), classifier=toy_blackbox, masker=masker(),
                  train_data=data)
    assert again.steps == 3 and (run / "masker.pt").read_bytes() != before["masker.pt"]
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(InputError, match="is an existing file, not a folder"):
        train(_toy_config(tmp_path, out=str(tmp_path / "a_file")), classifier=toy_blackbox, masker=masker(),
              train_data=data)


def test_resuming_another_run_never_replaces_a_finished_run(tmp_path, toy_blackbox, toy_encoder, squares_dataset,
                                                            single_thread):
    """``train --resume OTHER/checkpoint.pt --out DIR`` where DIR holds a finished run: refused, DIR untouched."""

    def masker():
        return SaliencyMasker(3, encoder=toy_encoder, preset="fast", encoder_pretrained=False, upsampler_channels=(8,))

    data = squares_dataset(64, 1)
    other = train(_toy_config(tmp_path, out=str(tmp_path / "other"), steps=2, checkpoint_every=1),
                  classifier=toy_blackbox, masker=masker(), train_data=data)
    finished = train(_toy_config(tmp_path, out=str(tmp_path / "finished"), steps=2), classifier=toy_blackbox,
                     masker=masker(), train_data=data)
    folder = Path(finished.masker_path).parent
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(InputError,
                       match=r"continues another run, but --out .* already holds a run.*Nothing was changed"):
        train(_toy_config(tmp_path, out=str(folder), steps=4, resume=str(other.checkpoint_path)),
              classifier=toy_blackbox, masker=masker(), train_data=data)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    moved = train(_toy_config(tmp_path, out=str(tmp_path / "fresh"), steps=4, resume=str(other.checkpoint_path)),
                  classifier=toy_blackbox, masker=masker(), train_data=data)
    assert moved.steps == 4


def test_bad_inputs_fail_with_clear_errors(tmp_path, cifar_test_npz):
    base = dict(classifier="cifar10_resnet20", data=str(cifar_test_npz), out=str(tmp_path / "run"), preset="fast",
                steps=2, batch_size=4, progress=False, device="cpu")
    with pytest.raises(PluginError, match="no classifier named 'nope'"):
        train(TrainConfig(**{**base, "classifier": "nope"}))
    with pytest.raises(DataNotFoundError, match="does not exist"):
        train(TrainConfig(**{**base, "data": str(tmp_path / "missing")}))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        train(TrainConfig(**base, resume="auto"))
    with pytest.raises(CheckpointError, match="no training checkpoint"):
        train(TrainConfig(**base, resume=str(tmp_path / "none.pt")))


def test_init_from_a_trained_masker_fine_tunes_it(tmp_path, toy_blackbox, toy_encoder, squares, squares_dataset,
                                                  single_thread):
    torch.manual_seed(0)
    masker = SaliencyMasker(3, encoder=toy_encoder, preset="fast", encoder_pretrained=False, upsampler_channels=(16,))
    first = train(_toy_config(tmp_path, steps=40), classifier=toy_blackbox, masker=masker,
                  train_data=squares_dataset(256, 0))
    # one step with a vanishing learning rate: the fine-tuned masker's weights start where the first run ended
    # (batch-norm running statistics do move in that step, so weights are compared, not masks)
    tuned = train(_toy_config(tmp_path, out=str(tmp_path / "tuned"), steps=1, lr=1e-12,
                              init_from=str(first.masker_path), tv_coef=7.0), classifier=toy_blackbox,
                  train_data=squares_dataset(64, 1))
    trained = dict(first.masker.named_parameters())
    fresh = dict(SaliencyMasker(3, encoder=toy_encoder, preset="fast", encoder_pretrained=False,
                                upsampler_channels=(16,)).named_parameters())
    for name, weight in tuned.masker.named_parameters():
        if name.startswith("encoder."):
            continue
        assert torch.allclose(weight, trained[name], atol=1e-9), name
    assert any(not torch.allclose(fresh[n], trained[n]) for n in trained if not n.startswith("encoder."))
    assert load_masker(tuned.masker_path).metadata["training_config"]["init_from"] == str(first.masker_path)
    # a training checkpoint of a random-encoder masker cannot rebuild it: a clear error pointing at masker.pt
    with pytest.raises(CheckpointError, match="masker.pt"):
        train(_toy_config(tmp_path, out=str(tmp_path / "again"), steps=1, init_from=str(first.checkpoint_path)),
              classifier=toy_blackbox, train_data=squares_dataset(64, 1))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        train(_toy_config(tmp_path, out=str(tmp_path / "g"), steps=1, init_from=str(garbage)), classifier=toy_blackbox,
              train_data=squares_dataset(64, 1))


def test_two_runs_on_one_new_out_folder_never_both_write(tmp_path, toy_blackbox, toy_encoder, squares_dataset,
                                                         single_thread, monkeypatch):
    """A run holds ``out/.lock`` while it writes; a second run started beside it is refused, and one that finds the
    first run finished once it holds the lock refuses too (nothing of the first run is lost)."""
    import fcntl

    from blackbox_saliency.training import trainer

    def masker():
        return SaliencyMasker(3, encoder=toy_encoder, preset="fast", encoder_pretrained=False, upsampler_channels=(8,))

    data = squares_dataset(64, 1)
    out = tmp_path / "shared"
    out.mkdir()
    with open(out / ".lock", "a+") as held:  # the first run, still writing
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InputError, match="another training run is writing to --out"):
            train(_toy_config(tmp_path, out=str(out), steps=2), classifier=toy_blackbox, masker=masker(),
                  train_data=data)
    assert sorted(p.name for p in out.iterdir()) == [".lock"]
    build = trainer.build_run

    def first_run_finishes_meanwhile(*args, **kwargs):
        run = build(*args, **kwargs)
        (out / "masker.pt").write_bytes(b"the first run's masker")
        return run

    monkeypatch.setattr(trainer, "build_run", first_run_finishes_meanwhile)
    with pytest.raises(InputError, match="already holds a run"):
        train(_toy_config(tmp_path, out=str(out), steps=2), classifier=toy_blackbox, masker=masker(), train_data=data)
    assert (out / "masker.pt").read_bytes() == b"the first run's masker"


def test_a_killed_overwrite_run_leaves_none_of_the_old_runs_files(tmp_path, toy_blackbox, toy_encoder, squares_dataset,
                                                                  monkeypatch):
    """Before, a run started with --overwrite and killed left the old masker.pt and result.json beside its own
    checkpoint."""
    import blackbox_saliency.training.trainer as trainer

    def masker():
        return SaliencyMasker(3, encoder=toy_encoder, preset="fast", encoder_pretrained=False, upsampler_channels=(16,))

    data = squares_dataset(32, 1)
    first = train(_toy_config(tmp_path, steps=2), classifier=toy_blackbox, masker=masker(), train_data=data)
    run = Path(first.masker_path).parent
    assert (run / "masker.pt").exists() and (run / "result.json").exists()

    def killed(run_state):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "train_loop", killed)
    with pytest.raises(KeyboardInterrupt):
        train(_toy_config(tmp_path, steps=3, overwrite=True), classifier=toy_blackbox, masker=masker(), train_data=data)
    assert not any((run / name).exists() for name in ("masker.pt", "result.json", "checkpoint.pt", "best.pt",
                                                      "log.jsonl"))
