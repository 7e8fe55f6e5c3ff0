"""``bs.explain`` and ``bs.overlay``: the Python one-liners."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import blackbox_saliency as bs


def _net(classes: int = 4) -> bs.BlackBoxClassifier:
    torch.manual_seed(0)
    return bs.BlackBoxClassifier(
        nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(48, classes)), (16, 16), list("abcd")[:classes]
    ).eval()


def test_tensor_input_topk_gives_batched_results_on_the_callers_device():
    net = _net()
    images = torch.rand(3, 3, 16, 16)
    result = bs.explain(images, masker=bs.load_masker("center", classifier=net), classifier=net, topk=2)
    assert result.masks.shape == (3, 2, 16, 16) and result.classes.shape == (3, 2)
    assert result.probs.shape == (3, 2) and result.boxes.shape == (3, 2, 4) and result.saliency.shape == (3, 2)
    probs = torch.softmax(net(images), dim=1)
    torch.testing.assert_close(result.classes, probs.topk(2, dim=1).indices)
    torch.testing.assert_close(result.probs, probs.topk(2, dim=1).values)
    assert result.class_names[0] == [net.class_names[c] for c in result.classes[0].tolist()]
    assert result.masks.device == images.device and result.images is images
    assert result.areas.shape == (3, 2) and result.box_probs.shape == (3, 2)
    torch.testing.assert_close(result.saliency, torch.log(result.areas.clamp_min(0.05)) - torch.log(result.box_probs))


def test_given_classes_are_explained_and_checked():
    net = _net()
    masker = bs.load_masker("center", classifier=net)
    result = bs.explain(torch.rand(2, 3, 16, 16), masker=masker, classifier=net, classes=[3, 1])
    assert result.classes.tolist() == [[3], [1]]
    with pytest.raises(bs.InputError, match="one class per image"):
        bs.explain(torch.rand(2, 3, 16, 16), masker=masker, classifier=net, classes=[3])
    with pytest.raises(bs.InputError, match="not both"):
        bs.explain(torch.rand(2, 3, 16, 16), masker=masker, classifier=net, classes=[3, 1], topk=2)
    with pytest.raises(bs.InputError, match=r"values in \[0, 1\]"):
        bs.explain(torch.rand(2, 3, 16, 16) * 255, masker=masker, classifier=net)


def test_files_with_the_shipped_masker_match_the_cli_pipeline(tmp_path):
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image provides the real photos")
    Image.fromarray(skimage_data.chelsea()).save(tmp_path / "chelsea.jpg", quality=95)
    Image.fromarray(skimage_data.coffee()).save(tmp_path / "coffee.png")
    result = bs.explain(tmp_path, topk=1)  # a folder, default masker and its black box
    assert result.images.shape == (2, 3, 224, 224) and result.masks.shape == (2, 1, 224, 224)
    assert result.class_names[0][0] in ("tabby", "tiger cat", "Egyptian cat")
    classifier = bs.load_classifier("efficientnet_lite0").eval()
    with torch.no_grad():
        probs = torch.softmax(classifier(result.images), dim=1)
    torch.testing.assert_close(result.probs[:, 0], probs.max(dim=1).values, atol=1e-5, rtol=1e-5)
    assert float(result.masks.min()) >= 0 and float(result.masks.max()) <= 1


def test_overlay_is_an_rgb_uint8_array():
    image = torch.zeros(3, 20, 30)
    picture = bs.overlay(image, torch.ones(5, 5), alpha=1.0)
    assert picture.shape == (20, 30, 3) and picture.dtype == np.uint8
    hot = bs.overlay(image, torch.ones(1, 1, 20, 30), alpha=1.0)
    cold = bs.overlay(image, torch.zeros(20, 30), alpha=1.0)
    assert not np.array_equal(hot, cold)
    np.testing.assert_array_equal(bs.overlay(image, torch.ones(20, 30), alpha=0.0), np.zeros((20, 30, 3), np.uint8))
    with pytest.raises(bs.InputError, match="one image"):
        bs.overlay(torch.rand(2, 3, 8, 8), torch.rand(8, 8))


def test_bs_explain_stays_the_function_once_the_cli_is_imported():
    import blackbox_saliency.cli.cmd_explain  # noqa: F401  (imports the module that defines explain)

    assert callable(bs.explain) and bs.explain.__module__ == "blackbox_saliency.explainer"


def test_one_loader_for_a_masker_and_its_black_box():
    from blackbox_saliency.explainer import load_masker_and_classifier

    net = _net(4)
    masker, classifier = load_masker_and_classifier("center", net)
    assert classifier is net and isinstance(masker, bs.Masker)
    with pytest.raises(
        bs.InputError, match="the 'center' baseline is computed from the black box you explain; pass classifier=NAME"
    ):
        load_masker_and_classifier("center")
    from blackbox_saliency.maskers import SaliencyMasker

    anonymous = SaliencyMasker(10, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast")
    with pytest.raises(bs.InputError, match="does not record which black box it explains; pass classifier=NAME"):
        load_masker_and_classifier(anonymous)
    with pytest.raises(bs.InputError, match="knows 3 classes but the classifier BlackBoxClassifier has 4"):
        load_masker_and_classifier(bs.load_masker("center", classifier=_net(3)), net)
    with pytest.raises(bs.PluginError, match="a shipped masker would be the file .*no_such_masker.pt"):
        load_masker_and_classifier("no_such_masker", net)
    with pytest.raises(bs.InputError, match="must be a BlackBoxClassifier"):
        load_masker_and_classifier("center", nn.Linear(2, 2))


@pytest.mark.parametrize("baseline", ["cam", "center"])
def test_baselines_by_name_are_built_for_the_classifier_given(chelsea, baseline):
    classifier = bs.load_classifier("efficientnet_lite0")
    image = classifier.eval_transform()(chelsea[0])[None]
    result = bs.explain(image, masker=baseline, classifier="efficientnet_lite0")
    assert result.masks.shape == (1, 1, 224, 224) and result.class_names[0][0].endswith("cat")
    with pytest.raises(bs.InputError, match=f"the '{baseline}' baseline is computed from the black box you explain"):
        bs.explain(image, masker=baseline)


def test_explain_refuses_classes_it_would_have_to_guess(chelsea):
    """Floats are not truncated (281.7 is no class), names are resolved, other types are refused with a reason."""
    classifier = bs.load_classifier("efficientnet_lite0")
    image = classifier.eval_transform()(chelsea[0])[None]
    with pytest.raises(bs.InputError, match="a class is an int index or a class name, got float 281.7"):
        bs.explain(image, masker="center", classifier=classifier, classes=[281.7])
    with pytest.raises(bs.InputError, match="integer class indices"):
        bs.explain(image, masker="center", classifier=classifier, classes=torch.tensor([281.0]))
    by_name = bs.explain(image, masker="center", classifier=classifier, classes=["tabby"])
    assert by_name.classes.tolist() == [[281]]
    with pytest.raises(bs.InputError, match="int index or a class name, got bool"):
        classifier.class_index(True)


def test_an_empty_folder_named_like_a_photo_or_a_fifo_is_skipped_with_a_reason(tmp_path):
    import os

    from blackbox_saliency.errors import InputError
    from blackbox_saliency.explain_inputs import image_files

    (tmp_path / "empty.jpg").mkdir()
    os.mkfifo(tmp_path / "pipe.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "real.png")
    skipped: list[str] = []
    found = image_files([tmp_path / "empty.jpg", tmp_path / "pipe.png", tmp_path / "real.png"], skipped)
    assert found == [tmp_path / "real.png"]
    assert any("holds no image" in s for s in skipped) and any("not a regular file" in s for s in skipped)
    with pytest.raises(InputError, match="not a regular file"):
        image_files([tmp_path / "pipe.png"], [])  # nothing left to explain: an error


def test_a_masker_that_is_neither_a_masker_nor_a_name_is_refused_clearly():
    from blackbox_saliency.errors import InputError

    with pytest.raises(
        InputError, match="`masker` must be a Masker, a registered masker name or a checkpoint path, got int 42"
    ):
        bs.explain(torch.rand(1, 3, 32, 32), masker=42)


@pytest.fixture(scope="module")
def chelsea_array():
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image provides the real photo")
    return skimage_data.chelsea()  # (300, 451, 3) uint8


@pytest.mark.parametrize("form", ["numpy uint8 HWC", "numpy float HWC", "PIL", "list of PIL", "(B, H, W, 3) array"])
def test_photos_in_any_form_are_one_image_each_not_rows(chelsea_array, form):
    """Before, a numpy photo was explained row by row (300 'images') and a PIL image raised a raw TypeError."""
    inputs = {
        "numpy uint8 HWC": chelsea_array,
        "numpy float HWC": chelsea_array.astype(np.float32) / 255,
        "PIL": Image.fromarray(chelsea_array),
        "list of PIL": [Image.fromarray(chelsea_array)] * 2,
        "(B, H, W, 3) array": np.stack([chelsea_array] * 2),
    }[form]
    result = bs.explain(inputs, masker="center", classifier="cifar10_resnet20")
    batch = 2 if form in ("list of PIL", "(B, H, W, 3) array") else 1
    assert tuple(result.masks.shape) == (batch, 1, 32, 32)  # the black box's eval_transform size


def test_eval_transform_prepares_numpy_photos_like_pil_ones(chelsea_array):
    transform = bs.load_classifier("cifar10_resnet20").eval_transform()
    from_numpy, from_pil = transform(chelsea_array), transform(Image.fromarray(chelsea_array))
    assert tuple(from_numpy.shape) == (3, 32, 32) and torch.allclose(from_numpy, from_pil, atol=1e-6)


def test_an_object_that_is_no_image_is_refused_clearly():
    from blackbox_saliency.errors import InputError

    with pytest.raises(InputError, match="cannot explain a dict"):
        bs.explain({"a": 1}, masker="center", classifier="cifar10_resnet20")


def test_a_masker_used_with_another_black_box_warns_unless_allowed():
    """The shipped ImageNet masker was accepted for any 1000-class classifier without a word."""
    import warnings

    from blackbox_saliency.errors import ClassifierMismatchWarning
    from blackbox_saliency.maskers import SaliencyMasker

    masker = SaliencyMasker(
        1000, encoder="resnet18", encoder_pretrained=False, preset="fast", classifier_name="efficientnet_lite0"
    ).eval()
    other = bs.load_classifier("torchvision:resnet18", weights=None)
    images = torch.rand(1, 3, 64, 64)
    with pytest.warns(
        ClassifierMismatchWarning, match="trained for the black box 'efficientnet_lite0', not 'torchvision:resnet18'"
    ):
        bs.explain(images, masker=masker, classifier=other)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClassifierMismatchWarning)
        bs.explain(images, masker=masker, classifier=other, allow_mismatch=True)
        own = bs.load_classifier("efficientnet_lite0")
        bs.explain(images, masker=masker, classifier=own)  # its own black box: no warning


def test_a_result_shows_itself_in_a_notebook_and_saves_its_overlays(tmp_path):
    import io

    result = bs.explain(torch.rand(2, 3, 32, 32), masker="center", classifier="cifar10_resnet20", topk=2)
    picture = Image.open(io.BytesIO(result._repr_png_()))  # what Jupyter displays
    # a row per image, a column per class
    assert picture.size == result.figure().size and 2 * 256 <= picture.width < 3 * 256
    paths = result.save(tmp_path / "saved")
    assert len(paths) == 8 and all(p.is_file() for p in paths)
    assert np.load(paths[1]).shape == (32, 32)
    from blackbox_saliency.errors import InputError

    with pytest.raises(InputError, match="already exists; pass --overwrite"):
        result.save(tmp_path / "saved")
    result.save(tmp_path / "saved", overwrite=True)


def test_a_folder_is_read_and_explained_one_batch_at_a_time_with_a_progress_bar(tmp_path, monkeypatch, capsys):
    """Memory is bounded by the batch: photo k + batch is read only after the batch before it was explained."""
    import blackbox_saliency.explainer as explainer
    import blackbox_saliency.io as io

    for i in range(5):
        Image.new("RGB", (40 + i, 30), (10 * i, 0, 0)).save(tmp_path / f"{i}.png")
    events = []
    real_load, real_explain = io.load_image, explainer.explain_batch
    monkeypatch.setattr(
        io, "load_image", lambda path, **kw: events.append(f"read {path.name}") or real_load(path, **kw)
    )
    monkeypatch.setattr(
        explainer,
        "explain_batch",
        lambda images, *a: events.append(f"explain {images.shape[0]}") or real_explain(images, *a),
    )
    result = bs.explain(tmp_path, masker="center", classifier="cifar10_resnet20", batch_size=2)
    assert events == [
        "read 0.png",
        "read 1.png",
        "explain 2",
        "read 2.png",
        "read 3.png",
        "explain 2",
        "read 4.png",
        "explain 1",
    ]
    assert result.masks.shape == (5, 1, 32, 32)
    assert "explain" in capsys.readouterr().err  # the bar (tqdm writes to stderr)
    bs.explain(tmp_path, masker="center", classifier="cifar10_resnet20", batch_size=2, progress=False)
    assert capsys.readouterr().err == ""
