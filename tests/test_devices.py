"""``resolve_device``: the one rule from a device name to a checked torch.device."""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency import InputError
from blackbox_saliency.devices import resolve_device


def test_auto_and_cpu():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type == resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize(
    ("name", "message"),
    [("meta", "device 'meta' is not supported"), ("no_such_device", "unknown device 'no_such_device'")],
)
def test_devices_without_data_and_unknown_names_are_refused(name, message):
    with pytest.raises(InputError, match=message):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message where CUDA is missing")
def test_cuda_without_cuda_is_refused():
    with pytest.raises(InputError, match="CUDA is not available"):
        resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_takes_the_local_rank_and_checks_the_index():
    assert resolve_device("cuda", local_rank=0) == torch.device("cuda", 0)
    assert resolve_device("cuda:0", local_rank=5) == torch.device("cuda", 0)
    with pytest.raises(InputError, match="does not exist"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_the_trainer_uses_the_same_rule():
    from blackbox_saliency.training import distributed

    assert distributed.resolve_device is resolve_device
