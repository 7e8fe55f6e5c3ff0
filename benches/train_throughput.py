"""Training throughput (images/s) of the masker trainer for a few configurations.

Each configuration trains ``--steps`` steps on CIFAR-10 with the CIFAR ResNet-20 black box and
encoder, ``--repeats`` times; the table shows the median images/s (first step excluded by the
trainer) and the ratio to the baseline configuration (``fast``, batch 32) measured in the same run.

    python benches/train_throughput.py --threads 1 --steps 20 --repeats 3
    python benches/train_throughput.py --device cuda --steps 50 --batch-sizes 64,256
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import warnings

import torch

from blackbox_saliency.data_paths import require
from blackbox_saliency.training import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-sizes", default="32", help="comma-separated batch sizes for the fast preset")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    data = require("cifar10/cifar10_train25k.npz")
    batches = [int(b) for b in args.batch_sizes.split(",")]
    configs = [(f"fast b{b}", dict(preset="fast", batch_size=b)) for b in batches]
    configs += [
        (f"fast b{batches[0]} no fakes/aux", dict(preset="fast", batch_size=batches[0], fake_prob=0.0, aux_coef=0.0)),
        (f"fast b{batches[0]} labels=blackbox", dict(preset="fast", batch_size=batches[0], labels="blackbox")),
        (f"paper b{batches[0]}", dict(preset="paper", batch_size=batches[0])),
    ]
    rows = []
    for name, changes in configs:
        speeds = []
        for repeat in range(args.repeats):
            with tempfile.TemporaryDirectory() as out:
                config = TrainConfig(classifier="cifar10_resnet20", data=str(data), out=out, steps=args.steps, seed=repeat, progress=False,
                                     device=args.device, val_every=0, checkpoint_every=0, log_every=args.steps, threads=args.threads, **changes)
                speeds.append(train(config).images_per_s)
        rows.append((name, statistics.median(speeds)))
        print(f"  measured {name}: {[round(s, 1) for s in speeds]}", flush=True)
    baseline = rows[0][1]
    print(f"\n{'configuration':<32} {'median images/s':>16} {'ratio':>7}")
    for name, speed in rows:
        print(f"{name:<32} {speed:>16.1f} {speed / baseline:>7.2f}")
    print(f"\n(device {args.device}, {args.threads} threads, {args.steps} steps x {args.repeats} repeats, CIFAR-10 32 px, ResNet-20 black box + encoder)")


if __name__ == "__main__":
    main()
