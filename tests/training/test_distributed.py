"""Data-parallel training: two gloo processes under torchrun end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from blackbox_saliency.training.distributed import resolve_device, setup_distributed

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, sys, warnings
warnings.simplefilter("ignore")
import torch
from blackbox_saliency.maskers import SaliencyMasker
from blackbox_saliency.training import TrainConfig, train

out, data = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
initial = SaliencyMasker(10, encoder="cifar10_resnet20", preset="fast", classifier_name="cifar10_resnet20").state_dict()
config = TrainConfig(classifier="cifar10_resnet20", data=data, out=out, preset="fast", steps=4, batch_size=4, lr=1e-2,
                     progress=False, device="cpu", val_every=0, checkpoint_every=2, log_every=1, num_workers=0,
                     threads=1)
result = train(config)
rank = int(os.environ["RANK"])
torch.save({"initial": initial, "final": result.masker.state_dict(), "world": int(os.environ["WORLD_SIZE"]),
            "masker_path": str(result.masker_path)}, os.path.join(out, f"rank{rank}.pt"))
"""


def test_two_gloo_processes_end_with_identical_weights(tmp_path, cifar_test_npz):
    script = tmp_path / "train_ddp.py"
    script.write_text(textwrap.dedent(SCRIPT))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
               str(out), str(cifar_test_npz)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert all(r["world"] == 2 for r in ranks)
    first, second = ranks[0]["final"], ranks[1]["final"]
    trainable = [k for k in first if not k.startswith("encoder.")]
    assert trainable
    for key in first:
        assert torch.equal(first[key], second[key]), f"{key} differs between the ranks"
    assert any(not torch.equal(first[k], ranks[0]["initial"][k]) for k in trainable)  # it did train
    # only rank 0 writes: one log line per step, the masker path only on rank 0
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert ranks[0]["masker_path"].endswith("masker.pt") and ranks[1]["masker_path"] == "None"


def test_single_process_context_is_a_no_op(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = setup_distributed("cpu")
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.distributed) == (0, 1, True, False)
    assert ctx.all_gather_object({"a": 1}) == [{"a": 1}]
    ctx.barrier()
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
