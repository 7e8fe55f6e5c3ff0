"""``blackbox-saliency train``: options map onto TrainConfig; bad input gives a clean error and exit code 1."""

from __future__ import annotations

import argparse
from dataclasses import fields

import pytest

from blackbox_saliency.cli.cmd_train import MASKER_OPTION_FLAG, MASKER_OPTIONS, config_from_args, flag_of
from blackbox_saliency.cli.main import build_parser, main
from blackbox_saliency.errors import InputError
from blackbox_saliency.maskers.presets import PRESETS, MaskerConfig
from blackbox_saliency.training import TrainConfig
from blackbox_saliency.training.config import field_choices, field_default

REQUIRED = ["train", "--classifier", "cifar10_resnet20", "--data", "DATA", "--out", "OUT"]


def _config(*extra: str) -> TrainConfig:
    argv = [*REQUIRED, *extra]
    return config_from_args(build_parser(argv).parse_args(argv))


def test_defaults_are_train_config_defaults():
    config = _config()
    defaults = TrainConfig(classifier="cifar10_resnet20", data="DATA", out="OUT")
    assert config.to_dict() == defaults.to_dict()


def _train_parser() -> argparse.ArgumentParser:
    subparsers = next(a for a in build_parser(["train"])._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices["train"]


def test_every_config_field_has_an_option_with_help_and_the_same_default():
    actions = {action.dest: action for action in _train_parser()._actions}
    parsed = _config()
    flagless = set()
    for f in fields(TrainConfig):
        if flag_of(f) is None:
            flagless.add(f.name)
            continue
        action = actions[f.name]
        assert action.option_strings == [flag_of(f)] and action.help and action.help == f.metadata["help"], f.name
        if f.name in ("classifier", "data", "out"):
            assert action.required, f.name
            continue
        assert getattr(parsed, f.name) == field_default(f), f.name  # the option's default is the field's
        choices = field_choices(f)
        if choices is not None:
            assert [c.replace("-", "_") for c in action.choices] == list(choices), f.name
    # masker_overrides is set by the masker options, masker_options by --masker-option,
    # command_line is recorded from sys.argv
    assert flagless == {"masker_overrides", "masker_options", "command_line"}
    assert actions["masker_options"].option_strings == [MASKER_OPTION_FLAG]
    masker_fields = {f.name for f in fields(MaskerConfig)}
    for flag, (name, spec, _) in MASKER_OPTIONS.items():
        assert name in masker_fields and actions[flag[2:].replace("-", "_")].help == spec["help"], flag
    assert TrainConfig().preset in PRESETS


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit):
        build_parser(["train"]).parse_args(["train", "--help"])
    text = capsys.readouterr().out
    for f in fields(TrainConfig):
        if flag_of(f) is not None:
            assert flag_of(f) in text, f.name
    for flag in MASKER_OPTIONS:
        assert flag in text
    assert "objective (paper defaults):" in text and "(default 0.35,1)" in text and "(default paper)" in text


def test_every_option_reaches_the_config():
    config = _config(
        "--encoder", "resnet18", "--no-pretrained-encoder", "--preset", "fast", "--decoder-channels", "32,16",
        "--bottlenecks", "2", "--mask-input-size", "64", "--embedding-init", "encoder-head", "--data-kind", "npz",
        "--labels", "blackbox", "--image-size", "48", "--augment", "heavy", "--crop-scale", "0.5,0.9",
        "--val-data", "VAL", "--val-size", "7", "--val-every", "3", "--val-batch-size", "5", "--tv-coef", "0.5",
        "--area-coef", "2", "--area-power", "0.3", "--destroy-coef", "4", "--destroy-power", "0.5",
        "--variant", "reference", "--remover", "blur", "--fake-prob", "0.2", "--aux-coef", "0", "--steps", "11",
        "--batch-size", "3", "--lr", "0.01", "--weight-decay", "0.1", "--lr-schedule", "cosine", "--warmup-steps", "2",
        "--grad-clip", "1.5", "--seed", "9", "--resume", "--checkpoint-every", "4", "--log-every", "2",
        "--device", "cpu", "--num-workers", "1", "--threads", "2", "--no-progress", "--feature-filter", "relative",
        "--gate-skips", "--init-from", "INIT", "--precision", "fp32", "--no-channels-last", "--compile",
    )
    expected = dict(
        encoder="resnet18", encoder_pretrained=False, preset="fast", embedding_init="encoder_head", data_kind="npz",
        labels="blackbox", image_size=48, augment="heavy", crop_scale=(0.5, 0.9), val_data="VAL", val_size=7,
        val_every=3, val_batch_size=5, tv_coef=0.5, area_coef=2.0, area_power=0.3, destroy_coef=4.0,
        destroy_power=0.5, variant="reference", remover="blur", fake_prob=0.2, aux_coef=0.0, steps=11, batch_size=3,
        lr=0.01, weight_decay=0.1, lr_schedule="cosine", warmup_steps=2, grad_clip=1.5, seed=9, resume="auto",
        checkpoint_every=4, log_every=2, device="cpu", num_workers=1, threads=2, progress=False, init_from="INIT",
        precision="fp32", channels_last=False, compile=True,
    )
    for key, value in expected.items():
        assert getattr(config, key) == value, key
    assert config.masker_overrides == {"upsampler_channels": [32, 16], "bottlenecks_per_block": 2,
                                       "input_size": [64, 64], "feature_filter": "relative", "gate_skips": True}
    assert config.validate() is config
    assert _config("--resume", "some/checkpoint.pt").resume == "some/checkpoint.pt"
    assert _config("--data", "MORE").data == ["DATA", "MORE"] and _config().data == "DATA"
    assert _config("--overwrite").overwrite is True


def test_a_plugin_masker_architecture_and_its_options_reach_the_config():
    config = _config("--masker", "my_masker", "--masker-option", "width=32", "--masker-option", "channels=[8, 4]",
                     "--masker-option", "name=wide", "--masker-option", "gated=true", "--masker-option", "scale=0.5")
    assert config.masker == "my_masker"
    assert config.masker_options == {"width": 32, "channels": [8, 4], "name": "wide", "gated": True, "scale": 0.5}
    assert config.validate() is config and _config().masker == "saliency_masker" and _config().masker_options == {}
    # the paper's masker takes them too (MaskerConfig fields beyond the dedicated options)
    assert _config("--masker-option", "mask_eps=0.01").masker_options == {"mask_eps": 0.01}
    with pytest.raises(InputError, match="configure saliency_masker"):
        _config("--masker", "my_masker", "--decoder-channels", "8").validate()


@pytest.mark.parametrize("bad", ["width", "=3", "2x=3"])
def test_a_malformed_masker_option_is_an_argparse_error(capsys, bad):
    with pytest.raises(SystemExit):
        build_parser(REQUIRED).parse_args([*REQUIRED, "--masker-option", bad])
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_malformed_lists_are_argparse_errors(capsys):
    with pytest.raises(SystemExit):
        build_parser(REQUIRED).parse_args([*REQUIRED, "--decoder-channels", "a,b"])
    assert "comma-separated integers" in capsys.readouterr().err


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--classifier": "no_such_net"}, "no classifier named 'no_such_net'"),
        ({"--data": "{tmp}/missing"}, "does not exist"),
        ({"--steps": "0"}, "`steps` must be"),
    ],
)
def test_bad_input_exits_1_with_a_message(tmp_path, cifar_npz, capsys, change, message):
    values = {"--classifier": "cifar10_resnet20", "--data": str(cifar_npz), "--out": str(tmp_path / "run"),
              "--steps": "1"}
    values.update({k: v.format(tmp=tmp_path) for k, v in change.items()})
    argv = ["train", *[x for pair in values.items() for x in pair], "--preset", "fast", "--device", "cpu",
            "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("blackbox-saliency train: error:") and message in err


def test_corrupt_checkpoint_on_resume(tmp_path, cifar_npz, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"\x00" * 100)
    argv = ["train", "--classifier", "cifar10_resnet20", "--data", str(cifar_npz), "--out", str(tmp_path / "run"),
            "--resume"]
    assert main(argv) == 1
    assert "corrupt or truncated" in capsys.readouterr().err


@pytest.fixture
def cifar_npz(data_dir):
    path = data_dir / "cifar10" / "cifar10_test2k.npz"
    if not path.is_file():
        pytest.skip(f"{path} is missing (shared CIFAR-10 data)")
    return path
