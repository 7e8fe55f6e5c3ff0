"""``blackbox-saliency explain`` end to end on real photos.

The masker is an *untrained* SaliencyMasker (EfficientNet-Lite0 encoder, "fast" preset) saved
to a temporary checkpoint: its masks are meaningless, so these tests check the plumbing
(reading, preprocessing, class choice, files written, numbers printed, errors) against values
recomputed independently here, not explanation quality.
"""

from __future__ import annotations

import json

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
    monkeypatch.setattr(cmd_explain, "load_models", lambda spec, name, device: (masker, classifier, "efficientnet_lite0"))


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
        assert f"class {cls}" in line and f"p = {p:.3f}" in line and f"saliency metric = {entry['saliency_metric']:.3f}" in line
        overlay = Image.open(out / f"{stem}.png")
        assert overlay.mode == "RGB" and overlay.width == 448 and overlay.height > 448, "upscaled overlay plus caption strip"
        panel = Image.open(out / f"{stem}_panel.png")
        assert panel.width > 3 * 320
    assert summary["mean_saliency_metric"] == pytest.approx(np.mean([e["saliency_metric"] for e in summary["images"]]))


def test_explain_class_by_name(photos, masker_path, models, cached_models, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["explain", str(photos / "coffee.png"), "--masker", str(masker_path), "--class", "espresso", "--out", str(out), "--device", "cpu"])
    assert code == 0
    entry = json.loads((out / "summary.json").read_text())["images"][0]
    assert entry["class_name"] == "espresso" and entry["class_id"] == 967
    _, p, _ = _reference(photos / "coffee.png", models, class_id=967)
    assert entry["p"] == pytest.approx(p, abs=1e-4)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--class", "no such animal"], "no class named"),
        (["--class", "5000"], "out of range"),
        (["--masker", "/nonexistent/masker.pt"], "does not exist"),
        (["--masker", "not_a_registered_masker"], "no masker named"),
    ],
)
def test_explain_bad_arguments_fail_cleanly(photos, masker_path, models, monkeypatch, tmp_path, capsys, extra, message):
    if extra[0] == "--class":
        monkeypatch.setattr("blackbox_saliency.cli.cmd_explain.load_models", lambda spec, name, device: (*models, "efficientnet_lite0"))
    argv = ["explain", str(photos / "chelsea.jpg"), "--masker", str(masker_path), "--out", str(tmp_path / "out"), "--device", "cpu"]
    if extra[0] == "--masker":
        argv[argv.index("--masker") + 1] = extra[1]
    else:
        argv += extra
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out" / "chelsea.png").exists()
