"""How a masker treats class selectors on real photos: true vs fake classes, and the black box's top-1 vs top-2.

Prints the mean mask for each photo's labelled class and for a random other class (the paper's fake selector), and
how much the masks of the black box's two best classes differ. Not a speed bench: a quality check of class
selectivity, on the evaluation views of a labelled photo folder.

Example::

    python benches/class_selectors.py --masker efficientnet_lite0 --data ../shared/data/imagenet/val_dev
"""

from __future__ import annotations

import argparse

import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--masker", default="efficientnet_lite0", help="masker name or checkpoint")
    parser.add_argument("--data", required=True, help="labelled photo folder (boxes.csv or index.csv)")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import blackbox_saliency as bs
    from blackbox_saliency.evaluation.datasets import collate, open_dataset

    torch.set_num_threads(args.threads)
    masker = bs.load_masker(args.masker).eval()
    classifier = bs.load_classifier(masker.classifier_name).eval()
    data = open_dataset(args.data, size=classifier.input_size)
    generator = torch.Generator().manual_seed(args.seed)
    true_means, fake_means, differences = [], [], []
    with torch.no_grad():
        for start in range(0, len(data), args.batch_size):
            batch = collate([data[i] for i in range(start, min(len(data), start + args.batch_size))])
            fake = (
                batch.labels + torch.randint(1, classifier.num_classes, batch.labels.shape, generator=generator)
            ) % classifier.num_classes
            true_means.append(masker(batch.images, batch.labels).mean(dim=(1, 2, 3)))
            fake_means.append(masker(batch.images, fake).mean(dim=(1, 2, 3)))
            top2 = classifier(batch.images).topk(2, dim=1).indices
            differences.append(
                (masker(batch.images, top2[:, 0]) - masker(batch.images, top2[:, 1])).abs().mean(dim=(1, 2, 3))
            )
    true, fake, diff = torch.cat(true_means), torch.cat(fake_means), torch.cat(differences)
    print(f"{args.masker} on {len(true)} photos of {args.data}")
    print(
        f"mean mask: labelled class {true.mean():.4f}, random other class {fake.mean():.4f} "
        f"(max over photos {fake.max():.4f})"
    )
    print(
        f"top-1 vs top-2 class: mean |mask difference| {diff.mean():.4f} (min {diff.min():.4f}); "
        "photos with a difference > 0.01: "
        f"{(diff > 0.01).float().mean():.1%}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
