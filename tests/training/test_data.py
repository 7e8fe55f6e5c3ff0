"""Data loading of the trainer: every layout, augmentation reproducibility, label alignment, errors."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from blackbox_saliency.errors import DataNotFoundError, ImageReadError, InputError
from blackbox_saliency.training.data import build_dataset, detect_kind, evenly_spaced_subset
from blackbox_saliency.training.labels import align_labels
from blackbox_saliency.training.sampler import ResumableBatchSampler


def _write_png(path, colour, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _check_sample(image, size):
    assert image.dtype == torch.float32 and image.shape == (3, size, size)
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0


def test_cifar_npz_file_and_folder(data_dir, cifar_test_npz):
    data = build_dataset(cifar_test_npz, 32, train=False)
    assert data.kind == "npz" and len(data) == 2000 and data.labelled
    assert data.classes[:2] == ["airplane", "automobile"]
    image, label = data[0]
    _check_sample(image, 32)
    raw = np.load(cifar_test_npz)["images"][0]
    assert torch.allclose(image, torch.from_numpy(raw).permute(2, 0, 1).float() / 255)  # eval at 32 px: untouched
    assert isinstance(label, int) and label == 0
    folder = data_dir / "cifar10"
    assert "test" in build_dataset(folder, 32, train=False).source
    assert "train" in build_dataset(folder, 32, train=True).source


def test_imagenet_sample_index_csv(data_dir):
    folder = data_dir / "imagenet" / "sample"
    if not (folder / "index.csv").is_file():
        pytest.skip(f"{folder}/index.csv is missing (shared ImageNet sample)")
    data = build_dataset(folder, 64, train=True, limit=5)
    assert detect_kind(folder) == "index_csv" and len(data) == 5
    with open(folder / "index.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    picked = np.linspace(0, len(rows) - 1, 5).round().astype(int)
    assert data.labels.tolist() == [int(rows[i]["class_index"]) for i in picked]
    image, _ = data[(0, 7)]
    _check_sample(image, 64)


def test_imagefolder_and_flat_folder(tmp_path):
    _write_png(tmp_path / "tree" / "cat" / "a.png", (255, 0, 0))
    _write_png(tmp_path / "tree" / "cat" / "sub" / "b.png", (255, 0, 0))
    _write_png(tmp_path / "tree" / "dog" / "c.jpg", (0, 255, 0))
    (tmp_path / "tree" / "dog" / "notes.txt").write_text("not an image")
    data = build_dataset(tmp_path / "tree", 16, train=False)
    assert data.kind == "imagefolder" and data.classes == ["cat", "dog"] and data.labels.tolist() == [0, 0, 1]
    image, label = data[2]
    _check_sample(image, 16)
    assert label == 1 and image[1].mean() > 0.9 and image[0].mean() < 0.1

    _write_png(tmp_path / "flat" / "x.png", (0, 0, 255))
    _write_png(tmp_path / "flat" / "y.png", (0, 0, 255))
    flat = build_dataset(tmp_path / "flat", 16, train=True, augment="heavy")
    assert flat.kind == "flat" and flat.labels.tolist() == [-1, -1] and not flat.labelled
    _check_sample(flat[(1, 3)][0], 16)
    _write_png(tmp_path / "flat" / "class" / "z.png", (0, 0, 255))
    assert detect_kind(tmp_path / "flat") == "imagefolder"
    explicit = build_dataset(tmp_path / "flat", 16, train=False, kind="flat")  # an explicit kind wins
    assert explicit.kind == "flat" and len(explicit) == 2


def test_seeded_augmentation_is_reproducible_and_leaves_global_rng(cifar_test_npz):
    data = build_dataset(cifar_test_npz, 32, train=True, augment="heavy")
    state = torch.get_rng_state()
    a, b, c = data[(5, 11)][0], data[(5, 11)][0], data[(5, 12)][0]
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b) and not torch.equal(a, c)
    plain = build_dataset(cifar_test_npz, 32, train=True, augment="none")
    assert torch.equal(plain[(5, 11)][0], plain[(5, 12)][0])


def test_batches_do_not_depend_on_loader_workers(cifar_test_npz):
    data = evenly_spaced_subset(build_dataset(cifar_test_npz, 32, train=True), 64)

    def batches(workers):
        sampler = ResumableBatchSampler(len(data), 8, seed=3)
        loader = DataLoader(data, batch_sampler=sampler, num_workers=workers)
        return [x for x, _ in loader][:3]

    for one, two in zip(batches(0), batches(2)):
        assert torch.equal(one, two)


def test_evenly_spaced_subset_keeps_every_class(cifar_test_npz):
    data = build_dataset(cifar_test_npz, 32, train=False, limit=50)
    assert len(data) == 50 and set(data.labels.tolist()) == set(range(10))
    assert torch.equal(data[(3, 1)][0], data[3][0])  # eval transform: the seed changes nothing


def test_align_labels():
    class Fake:
        source = "fake"
        labels = np.array([0, 1, 1])

    names = ["airplane", "Automobile", "bird"]
    for classes, expected in ((["automobile", "airplane"], [1, 0]), (["2", "0"], [2, 0]), (None, None),
                              (["airplane", "automobile"], None)):
        Fake.classes = classes
        table = align_labels(Fake, names)
        assert (table is None and expected is None) or table.tolist() == expected
    Fake.classes = ["cow", "pig"]
    with pytest.raises(InputError, match="--labels blackbox"):
        align_labels(Fake, names)
    Fake.classes, Fake.labels = None, np.array([0, 5])
    with pytest.raises(InputError, match="go up to 5"):
        align_labels(Fake, names)


def test_bad_inputs(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        build_dataset(tmp_path / "nope", 32, train=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match="no images"):
        build_dataset(tmp_path / "empty", 32, train=True)
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(InputError, match="not an .npz"):
        build_dataset(tmp_path / "a.txt", 32, train=True)
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(InputError, match="uint8 of shape"):
        build_dataset(tmp_path / "bad.npz", 32, train=True)
    (tmp_path / "broken.npz").write_bytes(b"garbage")
    with pytest.raises(ImageReadError):
        build_dataset(tmp_path / "broken.npz", 32, train=True)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "bad.png").write_bytes(b"not a png")
    data = build_dataset(tmp_path / "photos", 32, train=False)
    with pytest.raises(ImageReadError, match="bad.png"):
        data[0]
    with pytest.raises(InputError, match="augment"):
        build_dataset(tmp_path / "photos", 32, train=True, augment="wild")
    with pytest.raises(InputError, match="kind"):
        build_dataset(tmp_path / "photos", 32, train=True, kind="zip")


def test_a_corrupt_photo_in_a_training_folder_is_skipped_with_a_warning_not_an_abort(tmp_path):
    """Before, the first batch that sampled a broken file aborted the run; now the next photo stands in, with its own
    label."""
    _write_png(tmp_path / "tree" / "cat" / "a.png", (255, 0, 0))
    (tmp_path / "tree" / "cat" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated by a failed copy")
    _write_png(tmp_path / "tree" / "dog" / "c.png", (0, 255, 0))
    data = build_dataset(tmp_path / "tree", 16, train=False)
    with pytest.warns(UserWarning, match=r"skipping an unreadable training photo \(1 so far\): .*b.png"):
        image, label = data[1]
    assert label == 1 and image[1].mean() > 0.9  # the dog photo, with the dog label
    assert [p.name for p in data.unreadable] == ["b.png"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per file
        data[1]
