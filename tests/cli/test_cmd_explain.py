"""``blackbox-saliency explain`` end to end on real photos.

The masker is an *untrained* SaliencyMasker (EfficientNet-Lite0 encoder, "fast" preset) saved
to a temporary checkpoint: its masks are meaningless, so these tests check the plumbing
(reading, preprocessing, class choice, files written, numbers printed, errors) against values
recomputed independently here, not explanation quality.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from blackbox_saliency.cli.main import main


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image provides the real photos")
    folder = tmp_path_factory.mktemp("photos")
    Image.fromarray(skimage_data.chelsea()).save(folder / "chelsea.jpg", quality=95)
    Image.fromarray(skimage_data.coffee()[:399, :599]).save(folder / "coffee.png")  # odd size on purpose
    (folder / "broken.jpg").write_bytes(b"this is not a JPEG")
    return folder


@pytest.fixture(scope="module")
def models(masker_path):
    """The checkpoint's masker and the EfficientNet-Lite0 black box, loaded once (model loading dominates run time)."""
    from blackbox_saliency import load_classifier
    from blackbox_saliency.maskers import load_masker_checkpoint

    return load_masker_checkpoint(masker_path), load_classifier("efficientnet_lite0")


@pytest.fixture
def cached_models(models, monkeypatch):
    """Make the CLI reuse the already loaded models (the first test exercises the real loading)."""
    from blackbox_saliency.cli import cmd_explain

    masker, classifier = models
    loaded = (masker, classifier, "efficientnet_lite0")
    monkeypatch.setattr(cmd_explain, "load_models", lambda spec, name, device: loaded)


def _reference(path, models, class_id=None):
    """Recompute class, p and mask without the CLI."""
    from blackbox_saliency.io import load_image, to_pil_image

    masker, classifier = models
    x = classifier.eval_transform()(to_pil_image(load_image(path))).unsqueeze(0)
    with torch.no_grad():
        probs = torch.softmax(classifier(x), dim=1)[0]
        cls = int(probs.argmax()) if class_id is None else class_id
        mask = masker(x, torch.tensor([cls]))
    return cls, float(probs[cls]), mask[0, 0].numpy()


def test_explain_writes_overlays_masks_and_skips_unreadable_images(photos, masker_path, models, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["explain", str(photos / "chelsea.jpg"), str(photos / "broken.jpg"), str(photos / "coffee.png"),
            "--masker", str(masker_path), "--out", str(out), "--device", "cpu"]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 1, "an unreadable image must make the exit code non-zero"
    assert "broken.jpg" in captured.err and "cannot read image" in captured.err
    assert "Traceback" not in captured.err

    summary = json.loads((out / "summary.json").read_text())
    assert [entry["name"].rsplit("/", 1)[-1] for entry in summary["images"]] == ["chelsea.jpg", "coffee.png"]
    assert summary["failed"] == [str(photos / "broken.jpg")]
    for entry, stem in zip(summary["images"], ("chelsea", "coffee")):
        cls, p, mask = _reference(photos / f"{stem}.{'jpg' if stem == 'chelsea' else 'png'}", models)
        assert entry["class_id"] == cls and entry["p"] == pytest.approx(p, abs=1e-4)
        saved = np.load(out / f"{stem}_mask.npy")
        assert saved.shape == (224, 224) and saved.dtype == np.float32
        np.testing.assert_allclose(saved, mask, atol=1e-5)
        assert np.isfinite(entry["saliency_metric"])
        line = next(line for line in captured.out.splitlines() if line.startswith(entry["name"]))
        assert f"class {cls}" in line and f"p = {p:.3f}" in line
        assert f"saliency metric = {entry['saliency_metric']:.3f}" in line
        overlay = Image.open(out / f"{stem}.png")
        assert overlay.mode == "RGB" and overlay.width == 448, "upscaled overlay"
        assert overlay.height > 448, "overlay plus caption strip"
        panel = Image.open(out / f"{stem}_panel.png")
        assert panel.width > 3 * 320
    assert summary["mean_saliency_metric"] == pytest.approx(np.mean([e["saliency_metric"] for e in summary["images"]]))


def test_explain_class_by_name(photos, masker_path, models, cached_models, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["explain", str(photos / "coffee.png"), "--masker", str(masker_path), "--class", "espresso"]
    code = main([*argv, "--out", str(out), "--device", "cpu"])
    assert code == 0
    entry = json.loads((out / "summary.json").read_text())["images"][0]
    assert entry["class_name"] == "espresso" and entry["class_id"] == 967
    _, p, _ = _reference(photos / "coffee.png", models, class_id=967)
    assert entry["p"] == pytest.approx(p, abs=1e-4)


@pytest.fixture
def chelsea_argv(photos, masker_path, tmp_path):
    """``explain`` of the chelsea photo with the test masker into ``tmp_path / "out"``, on the CPU."""
    out = str(tmp_path / "out")
    return ["explain", str(photos / "chelsea.jpg"), "--masker", str(masker_path), "--out", out, "--device", "cpu"]


@pytest.mark.parametrize(
    "case",
    [
        (["--class", "no such animal"], "no class named"),
        (["--class", "5000"], "out of range"),
        (["--masker", "/nonexistent/masker.pt"], "does not exist"),
        (["--masker", "not_a_registered_masker"], "no masker named"),
        (["--device", "meta"], "device 'meta' is not supported"),
        (["--out", "A_FILE"], "is an existing file; pass a folder"),
    ],
)
def test_explain_bad_arguments_fail_cleanly(chelsea_argv, models, monkeypatch, tmp_path, capsys, case):
    extra, message = case
    if extra[0] in ("--class", "--out"):
        loaded = (*models, "efficientnet_lite0")
        monkeypatch.setattr("blackbox_saliency.cli.cmd_explain.load_models", lambda spec, name, device: loaded)
    if extra[1] == "A_FILE":
        extra = ["--out", str(tmp_path / "a_file")]
        (tmp_path / "a_file").write_text("not a folder")
    argv = list(chelsea_argv)
    if extra[0] == "--masker":
        argv[argv.index("--masker") + 1] = extra[1]
    else:
        argv += extra
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out" / "chelsea.png").exists()


def test_photos_are_read_one_batch_at_a_time_and_released_after_writing(photos, cached_models, tmp_path, monkeypatch):
    """Memory is bounded by the batch: photo k + batch is read only after photo k's outputs are written."""
    from blackbox_saliency import io as bs_io
    from blackbox_saliency.cli import cmd_explain

    events: list[str] = []
    real_load, real_write = bs_io.load_image, cmd_explain.write_explanation

    def load(path, max_side=None):
        events.append(f"read {path.stem}")
        return real_load(path, max_side=max_side)

    def write(result, out_dir, stem):
        events.append(f"write {stem}")
        return real_write(result, out_dir, stem)

    monkeypatch.setattr(bs_io, "load_image", load)
    monkeypatch.setattr(cmd_explain, "write_explanation", write)
    names = [f"p{i}" for i in range(5)]
    for name in names:
        (tmp_path / f"{name}.jpg").write_bytes((photos / "chelsea.jpg").read_bytes())
    inputs = [str(tmp_path / f"{n}.jpg") for n in names]
    options = ["--masker", "x.pt", "--out", str(tmp_path / "out"), "--batch-size", "2", "--device", "cpu"]
    code = main(["explain", *inputs, *options])
    assert code == 0
    assert events.index("read p2") > events.index("write p1")
    assert events.index("read p4") > events.index("write p3")
    assert [e for e in events if e.startswith("write")] == [f"write {n}" for n in names]


def test_huge_photos_are_shrunk_while_reading(tmp_path):
    from blackbox_saliency.io import load_image

    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image provides the real photos")
    big = Image.fromarray(skimage_data.chelsea()).resize((3000, 2000))
    big.save(tmp_path / "big.jpg", quality=90)
    small = load_image(tmp_path / "big.jpg", max_side=512)
    assert small.shape == (3, 341, 512)
    full = load_image(tmp_path / "big.jpg")
    assert full.shape == (3, 2000, 3000)
    reference = torch.nn.functional.interpolate(full[None], size=(341, 512), mode="bilinear", antialias=True)[0]
    assert float((small - reference).abs().mean()) < 0.02  # the same picture, not a crop or garbage


def test_explain_a_photo_with_no_other_option(photos, tmp_path, monkeypatch, capsys):
    """The shipped ImageNet masker, the top-1 class, ./blackbox-saliency-explained/: and it says where it wrote."""
    monkeypatch.chdir(tmp_path)
    assert main(["explain", str(photos / "chelsea.jpg")]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "blackbox-saliency-explained"
    assert str(folder) in out
    doc = json.loads((folder / "summary.json").read_text())
    assert doc["masker"] == "efficientnet_lite0"
    assert doc["images"][0]["class_name"] in ("tabby", "tiger cat", "Egyptian cat")
    assert (folder / "chelsea.png").is_file() and (folder / "chelsea_mask.npy").is_file()


def test_explain_a_folder_top3_writes_one_overlay_per_class(photos, cached_models, models, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["explain", str(photos), "--topk", "3", "--out", str(out), "--device", "cpu"])
    assert code == 1  # broken.jpg in the folder is reported, the others explained
    doc = json.loads((out / "summary.json").read_text())
    assert len(doc["images"]) == 6 and doc["failed"] == [str(photos / "broken.jpg")]
    chelsea = [entry for entry in doc["images"] if entry["name"].endswith("chelsea.jpg")]
    assert [entry["rank"] for entry in chelsea] == [1, 2, 3]
    _, classifier = models
    cls, p, _ = _reference(photos / "chelsea.jpg", models)
    assert chelsea[0]["class_id"] == cls and abs(chelsea[0]["p"] - p) < 1e-5
    assert chelsea[0]["p"] >= chelsea[1]["p"] >= chelsea[2]["p"]
    for entry in chelsea:
        assert f"chelsea_top{entry['rank']}_" in entry["overlay"] and Path(entry["overlay"]).is_file()
    assert len({entry["class_id"] for entry in chelsea}) == 3
    # the summary's headline is the top-1 class's mean, with the count per rank (it averaged over every rank before)
    top1 = [entry["saliency_metric"] for entry in doc["images"] if entry["rank"] == 1]
    assert abs(doc["mean_saliency_metric"] - sum(top1) / len(top1)) < 1e-9
    assert {rank: row["count"] for rank, row in doc["per_rank"].items()} == {"1": 2, "2": 2, "3": 2}
    assert "mean saliency metric of the top-1 class" in capsys.readouterr().out


def test_globs_expand_and_an_empty_pattern_is_an_error(photos, cached_models, tmp_path, capsys):
    assert main(["explain", str(photos / "*.png"), "--out", str(tmp_path / "o"), "--device", "cpu"]) == 0
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["images"][0]["name"].endswith("coffee.png")
    assert main(["explain", str(photos / "*.tiff"), "--out", str(tmp_path / "o2")]) == 1
    assert "matches no file" in capsys.readouterr().err


def test_topk_with_class_is_refused(photos, tmp_path, capsys):
    argv = ["explain", str(photos / "chelsea.jpg"), "--topk", "2", "--class", "5", "--out", str(tmp_path / "o")]
    assert main(argv) == 1
    assert "cannot be combined with --class" in capsys.readouterr().err


def _photo_folder(folder, **names):
    """A folder holding scikit-image photos under chosen file names (``chelsea="cat.jpg"``)."""
    skimage_data = pytest.importorskip("skimage.data")
    folder.mkdir()
    for photo, name in names.items():
        Image.fromarray(getattr(skimage_data, photo)()).save(folder / name)
    return folder


def test_explain_never_writes_over_an_input(tmp_path, cached_models, masker_path):
    """``explain d --out d``: the photos in d are PNGs whose names the overlays would take; they stay byte for byte."""
    folder = _photo_folder(tmp_path / "d", coffee="coffee.png", chelsea="chelsea_panel.png")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert main(["explain", str(folder), "--masker", str(masker_path), "--out", str(folder), "--no-progress"]) == 0
    for name, content in before.items():
        assert (folder / name).read_bytes() == content, f"{name} was overwritten"
    doc = json.loads((folder / "summary.json").read_text())
    overlays = [Path(e["overlay"]).name for e in doc["images"]]
    assert len(set(overlays)) == 2 and not set(overlays) & set(before)


def test_explain_output_names_never_collide(tmp_path, cached_models, masker_path):
    """``cat.jpg``'s panel and ``cat_panel.jpg``'s overlay would both be ``cat_panel.png``: each output gets its
    own file."""
    folder = _photo_folder(tmp_path / "in", chelsea="cat.jpg", coffee="cat_panel.jpg")
    out = tmp_path / "out"
    assert main(["explain", str(folder), "--masker", str(masker_path), "--out", str(out), "--no-progress"]) == 0
    doc = json.loads((out / "summary.json").read_text())
    written = [Path(e[k]) for e in doc["images"] for k in ("overlay", "panel", "mask")]
    assert len(written) == 6 and len(set(written)) == 6 and all(p.is_file() for p in written)
    by_name = {Path(e["name"]).name: e for e in doc["images"]}
    assert by_name["cat.jpg"]["panel"] != by_name["cat_panel.jpg"]["overlay"]


def test_explain_keeps_an_earlier_run_unless_overwrite(tmp_path, cached_models, masker_path, photos):
    out = tmp_path / "o"
    args = ["explain", str(photos / "chelsea.jpg"), "--masker", str(masker_path), "--out", str(out), "--no-progress"]
    assert main(args) == 0
    first = (out / "chelsea.png").read_bytes()
    assert main(args) == 0
    assert (out / "chelsea.png").read_bytes() == first
    assert (out / "chelsea_2.png").is_file() and (out / "summary_2.json").is_file()
    assert main(args + ["--overwrite"]) == 0
    assert not (out / "chelsea_3.png").exists()


@pytest.mark.parametrize("command", ["explain", "train", "evaluate"])
def test_an_unwritable_out_is_refused_before_any_work(tmp_path, command, masker_path, photos, monkeypatch, capsys):
    """A read-only --out fails at once with a clear message, not with a raw OSError after all the work."""
    import os

    if os.geteuid() == 0:  # root writes into read-only folders: make the write probe fail as it would for a user
        import tempfile

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    from blackbox_saliency.cli import cmd_explain

    monkeypatch.setattr(
        cmd_explain, "load_models", lambda *a: pytest.fail("models were loaded before --out was checked")
    )
    args = {
        "explain": ["explain", str(photos / "chelsea.jpg"), "--masker", str(masker_path), "--out", str(locked / "o")],
        "train": ["train", "--classifier", "cifar10_resnet20", "--data", str(photos), "--out", str(locked / "run")],
        "evaluate": ["evaluate", "--methods", "center", "--classifier", "cifar10_resnet20", "--data", str(photos),
                     "--out", str(locked / "sub" / "report")],
    }[command]
    assert main(args) != 0
    assert "cannot write to" in capsys.readouterr().err


def test_a_strip_of_an_image_is_skipped_with_a_message_not_gigabytes(
    tmp_path, cached_models, masker_path, photos, capsys
):
    """A 1 x 20000 PNG would become 256 x 5,120,000 pixels (3.9 GB) in the shorter-side resize; the others still run."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (20000, 1), (120, 30, 200)).save(folder / "strip.png")
    Image.open(photos / "chelsea.jpg").save(folder / "chelsea.jpg")
    out = tmp_path / "out"
    assert main(["explain", str(folder), "--masker", str(masker_path), "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "strip.png" in err and "too elongated" in err and "skipped" in err
    assert (out / "chelsea.png").is_file() and not (out / "strip.png").exists()


def test_threads_option(photos, cached_models, tmp_path, capsys):
    import torch

    before = torch.get_num_threads()
    try:
        argv = ["explain", str(photos / "chelsea.jpg"), "--threads", "1", "--out", str(tmp_path / "o"), "--no-progress"]
        assert main(argv) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert main(["explain", str(photos / "chelsea.jpg"), "--threads", "0", "--out", str(tmp_path / "o2")]) != 0
    assert "--threads must be >= 1" in capsys.readouterr().err
