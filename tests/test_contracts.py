"""The contract matrix: every registered plugin, one set of checks (in the spirit of Captum's test_config.py).

:func:`contract_cases` enumerates every name the plugin manager offers (``bs.available()``: classifiers,
encoders, evidence removers, maskers), so a new plugin is tested by merely being registered
(:func:`test_a_registered_plugin_joins_the_matrix` proves it). :data:`CONFIG` holds cheap offline
construction settings, only for the names that need them (random weights where possible); every other
name is built with the kind's default (no arguments; maskers get the matrix's black box when their
factory takes ``classifier``; encoders ``pretrained=False``). Nothing is skipped silently: each skip
says why.

Checks, per kind:

* classifiers: (B, num_classes) logits on the input's device and in its dtype (float32, float64),
  batch-of-one results equal the batched ones, gradients reach the images, the declared interface
  (class names, input size, ``gradcam_layer``, ``eval_transform``), ``class_index`` round-trips the names;
* evidence removers: same shape, dtype and device, values in [0, 1], deterministic under a seeded
  generator, batch-of-one results equal the batched ones (for removers that draw no noise);
* maskers: (B, 1, H, W) masks in [0, 1] on the input's device and in its dtype, batch-of-one results
  equal the batched ones, no gradient leaks into the black box (frozen, or made trainable) and its
  ``requires_grad`` flags are unchanged, the declared interface and the class-range input check;
* encoders: one (B, C_i, H/s_i, W/s_i) map per declared channel count and stride, finest -> coarsest,
  frozen (no trainable parameter, eval mode whatever ``train()`` asks), batch-of-one results equal the batched ones.

torchvision families (80 classifiers behind one wrapper, 10 ResNet encoders behind one builder) run
through representatives; ``BLACKBOX_SALIENCY_CONTRACTS_ALL=1`` runs every member.
"""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
from PIL import Image
from torch import nn

import blackbox_saliency as bs
from blackbox_saliency.classifiers.frozen import FrozenBlackBox
from blackbox_saliency.errors import DataNotFoundError, InputError
from blackbox_saliency.interfaces import BlackBoxClassifier, BoxAwareMasker, EvidenceRemover, Masker, TrainableMasker
from blackbox_saliency.maskers.encoders import EncoderSpec, FrozenEncoder, build_encoder
from blackbox_saliency.plugins import hookspecs, manager

ALL_ENV = "BLACKBOX_SALIENCY_CONTRACTS_ALL"
RUN_ALL = os.environ.get(ALL_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
BATCH = 3
DTYPES = [pytest.param(torch.float32, id="float32"), pytest.param(torch.float64, id="float64")]
DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param(
        "cuda",
        id="cuda",
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason="no CUDA device here (torch.cuda.is_available() is False)"
        ),
    ),
]
#: The black box the maskers explain: the CIFAR ResNet-20 with random weights (32 px input, 10 classes).
BLACK_BOX = ("cifar10_resnet20", {"pretrained": False})


@dataclass(frozen=True)
class Case:
    """One registered plugin and how the matrix builds it."""

    kind: str
    name: str
    kwargs: dict = field(default_factory=dict, compare=False, hash=False)
    #: maskers: pass ``classifier=`` the matrix's black box (None: when the factory has a ``classifier`` parameter).
    black_box: bool | None = None
    #: side of the square test images (None: the kind's default).
    size: int | None = None
    #: why the matrix does not run this plugin (None: it runs).
    skip: str | None = None

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}"


# Cheap offline settings, only where the default construction would not do.
CONFIG: dict[tuple[str, str], dict] = {
    ("classifiers", "efficientnet_lite0"): {"kwargs": {"pretrained": False}},
    ("classifiers", "cifar10_resnet20"): {"kwargs": {"pretrained": False}},
    ("classifiers", "cifar10_resnet56"): {"kwargs": {"pretrained": False}},
    # examples/efficientnet_lite2_plugin, when installed
    ("classifiers", "efficientnet_lite2"): {"kwargs": {"pretrained": False}},
    # The iterative baseline with few steps; the blur remover keeps its alternative images independent of the batch
    # (the default "paper" remover draws noise for the whole batch, so a batch of one would see other draws).
    ("maskers", "iterative"): {"kwargs": {"steps": 3, "remover": "blur"}},
    ("maskers", "efficientnet_lite0"): {"size": 64},  # the shipped masker: coarsest stride 32
}
# torchvision families: one wrapper (classifiers) or one builder (encoders) behind many architectures.
TORCHVISION_CLASSIFIERS = ("torchvision:resnet18", "torchvision:mobilenet_v3_small", "torchvision:squeezenet1_1")
TORCHVISION_ENCODERS = ("resnet18", "resnet50")
FAMILY_SKIP = (
    "torchvision family: every member goes through the same wrapper/builder, which the matrix checks on its "
    f"representatives (classifiers {', '.join(TORCHVISION_CLASSIFIERS)}; encoders {', '.join(TORCHVISION_ENCODERS)}); "
    f"building every architecture would take many minutes; set {ALL_ENV}=1 to run them all"
)


def _family_skip(kind: str, name: str) -> str | None:
    if RUN_ALL:
        return None
    if kind == "classifiers" and name.startswith("torchvision:") and name not in TORCHVISION_CLASSIFIERS:
        return FAMILY_SKIP
    if (
        kind == "encoders"
        and name.startswith(("resnet", "resnext", "wide_resnet"))
        and name not in TORCHVISION_ENCODERS
    ):
        if manager.registry("encoders")[name].source == "builtin:maskers":
            return FAMILY_SKIP
    return None


def contract_cases(kind: str | None = None) -> list[Case]:
    """One :class:`Case` per name the plugin manager offers (of ``kind``, or of every kind)."""
    found = bs.available()
    kinds = [kind] if kind else sorted(found)
    return [
        Case(k, name, **CONFIG.get((k, name), {}), skip=_family_skip(k, name))
        for k in kinds
        for name in sorted(found[k])
    ]


def _params(kind: str) -> list:
    return [
        pytest.param(case, id=case.id, marks=[pytest.mark.skip(reason=case.skip)] if case.skip else [])
        for case in contract_cases(kind)
    ]


# ------------------------------------------------------------------ building (each plugin once per session)
_BUILT: dict[tuple[str, str], tuple[str, object]] = {}
_BLACK_BOX: list[BlackBoxClassifier] = []


def black_box() -> BlackBoxClassifier:
    if not _BLACK_BOX:
        _BLACK_BOX.append(bs.load_classifier(BLACK_BOX[0], **BLACK_BOX[1]))
    return _BLACK_BOX[0]


def takes_black_box(case: Case) -> bool:
    if case.kind != "maskers":
        return False
    if case.black_box is not None:
        return case.black_box
    return "classifier" in inspect.signature(manager.registry("maskers")[case.name].factory).parameters


def construct(case: Case, box: BlackBoxClassifier | None = None) -> object:
    """Build the plugin of ``case`` (maskers: with ``box``, default the matrix's black box, when it takes one)."""
    if case.kind == "classifiers":
        return bs.load_classifier(case.name, **case.kwargs)
    if case.kind == "evidence_removers":
        return bs.load_evidence_remover(case.name, **case.kwargs)
    if case.kind == "encoders":
        return build_encoder(case.name, **{"pretrained": False, **case.kwargs})
    kwargs = dict(case.kwargs)
    if takes_black_box(case):
        kwargs["classifier"] = box if box is not None else black_box()
    return bs.load_masker(case.name, **kwargs).eval()


def built(case: Case):
    """The session's instance of ``case``; a plugin whose data is not on this machine is skipped, saying which."""
    key = (case.kind, case.name)
    if key not in _BUILT:
        try:
            _BUILT[key] = ("ok", construct(case))
        except DataNotFoundError as exc:
            _BUILT[key] = ("skip", f"{case.id} cannot be built offline here: {exc}")
    status, value = _BUILT[key]
    if status == "skip":
        pytest.skip(value)
    return value


def images(size: int, batch: int = BATCH, dtype: torch.dtype = torch.float32, device: str = "cpu") -> torch.Tensor:
    g = torch.Generator().manual_seed(1234)
    return torch.rand(batch, 3, size, size, generator=g).to(device=device, dtype=dtype)


def _close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    scale = max(1.0, float(expected.detach().abs().max()))
    torch.testing.assert_close(actual, expected, rtol=1e-3, atol=1e-4 * scale, msg=lambda m: f"{what}: {m}")


# ------------------------------------------------------------------ classifiers
def check_classifier_logits(net: BlackBoxClassifier, dtype: torch.dtype, device: str) -> None:
    assert isinstance(net, BlackBoxClassifier)
    net = net if device == "cpu" else copy.deepcopy(net).to(device)
    x = images(32, dtype=dtype, device=device)
    with torch.no_grad():
        logits = net(x)
    assert logits.shape == (BATCH, net.num_classes)
    assert logits.dtype == dtype and logits.device == x.device
    assert bool(torch.isfinite(logits).all())


def check_classifier_batch_of_one(net: BlackBoxClassifier) -> None:
    x = images(32)
    with torch.no_grad():
        batched = net(x)
        single = torch.cat([net(x[i : i + 1]) for i in range(BATCH)])
    _close(single, batched, "logits of single images vs the batch")


def check_classifier_is_differentiable(net: BlackBoxClassifier) -> None:
    x = images(32).requires_grad_(True)
    flags = [p.requires_grad for p in net.parameters()]
    net(x)[:, 0].sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0
    assert [p.requires_grad for p in net.parameters()] == flags
    for p in net.parameters():
        p.grad = None


def check_classifier_interface(net: BlackBoxClassifier) -> None:
    assert net.num_classes == len(net.class_names) > 0
    assert all(isinstance(n, str) and n for n in net.class_names)
    assert len(net.input_size) == 2 and all(isinstance(s, int) and s > 0 for s in net.input_size)
    if net.gradcam_layer is not None:
        assert net.gradcam_layer in dict(net.named_modules()), (
            f"gradcam_layer {net.gradcam_layer!r} is no module of the classifier"
        )
    transform = net.eval_transform()
    if transform is not None:
        photo = Image.new("RGB", (48, 40), (200, 30, 90))
        tensor = transform(photo)
        assert tensor.dim() == 3 and tensor.shape[0] == 3 and torch.is_floating_point(tensor)
        assert float(tensor.min()) >= 0.0 and float(tensor.max()) <= 1.0


def check_classifier_class_index(net: BlackBoxClassifier) -> None:
    """Every class name resolves to an index of that very name (a name occurring twice: its first index); indices
    resolve to themselves.

    (ImageNet has both "Cardigan", a dog, and "cardigan", a sweater: the exact spelling must win over
    case-insensitive matching.)
    """
    wrong = {}
    for index, name in enumerate(net.class_names):
        found = net.class_names[net.class_index(name)]
        if found != name:
            wrong[name] = found
        assert net.class_index(index) == index and net.class_index(str(index)) == index
    with pytest.raises(InputError):
        net.class_index(net.num_classes)
    with pytest.raises(InputError, match="out of range"):  # "-1" is an index out of range, not "no class named '-1'"
        net.class_index("-1")
    assert wrong == {}, f"class names resolving to another class: {wrong}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", _params("classifiers"))
def test_classifier_logits(case, dtype, device):
    check_classifier_logits(built(case), dtype, device)


@pytest.mark.parametrize("case", _params("classifiers"))
def test_classifier_batch_of_one(case):
    check_classifier_batch_of_one(built(case))


@pytest.mark.parametrize("case", _params("classifiers"))
def test_classifier_is_differentiable(case):
    check_classifier_is_differentiable(built(case))


@pytest.mark.parametrize("case", _params("classifiers"))
def test_classifier_interface(case):
    check_classifier_interface(built(case))


@pytest.mark.parametrize("case", _params("classifiers"))
def test_classifier_class_index_round_trips(case):
    check_classifier_class_index(built(case))


# ------------------------------------------------------------------ evidence removers
def _seeded(device: str = "cpu", seed: int = 0) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def check_remover_output(remover: EvidenceRemover, dtype: torch.dtype, device: str) -> None:
    assert isinstance(remover, EvidenceRemover)
    x = images(32, dtype=dtype, device=device)
    out = remover(x, _seeded(device))
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert bool(torch.isfinite(out).all())
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0, "the alternative image must be an image in [0, 1]"


def check_remover_deterministic(remover: EvidenceRemover) -> None:
    x = images(32)
    torch.testing.assert_close(remover(x, _seeded(seed=7)), remover(x, _seeded(seed=7)), rtol=0, atol=0)


def check_remover_batch_of_one(remover: EvidenceRemover) -> None:
    x = images(32)
    if not torch.equal(remover(x, _seeded(seed=1)), remover(x, _seeded(seed=2))):
        pytest.skip(
            "the remover draws noise for the whole batch from one generator: "
            "an image's draw depends on its place in the batch"
        )
    single = torch.cat([remover(x[i : i + 1], _seeded()) for i in range(BATCH)])
    _close(single, remover(x, _seeded()), "alternative of single images vs the batch")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", _params("evidence_removers"))
def test_remover_output(case, dtype, device):
    check_remover_output(built(case), dtype, device)


@pytest.mark.parametrize("case", _params("evidence_removers"))
def test_remover_is_deterministic_under_a_seeded_generator(case):
    check_remover_deterministic(built(case))


@pytest.mark.parametrize("case", _params("evidence_removers"))
def test_remover_batch_of_one(case):
    check_remover_batch_of_one(built(case))


# ------------------------------------------------------------------ maskers
def masker_size(masker: Masker, case: Case) -> int:
    return case.size or max(32, 2 * int(masker.coarsest_stride or 1))


def classes_for(masker: Masker, batch: int = BATCH, device: str = "cpu") -> torch.Tensor:
    n = masker.num_classes or 10
    return (torch.arange(batch) * 3 % n).to(device)


def call_masker(masker: Masker, x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """``masker(x, classes)``; a box-aware masker first gets one box per image (the same box for every image)."""
    if isinstance(masker, BoxAwareMasker):
        h, w = x.shape[-2:]
        box = torch.tensor([[w * 0.2, h * 0.1, w * 0.7, h * 0.8]], device=x.device)
        masker.set_boxes([box] * x.shape[0])
    return masker(x, classes)


def check_masker_output(masker: Masker, size: int, dtype: torch.dtype, device: str) -> None:
    assert isinstance(masker, Masker)
    masker = masker if device == "cpu" else copy.deepcopy(masker).to(device)
    x = images(size, dtype=dtype, device=device)
    with torch.no_grad():
        masks = call_masker(masker, x, classes_for(masker, device=device))
    assert masks.shape == (BATCH, 1, size, size)
    assert masks.dtype == dtype and masks.device == x.device
    assert bool(torch.isfinite(masks).all())
    assert float(masks.min()) >= 0.0 and float(masks.max()) <= 1.0


def check_masker_batch_of_one(masker: Masker, size: int) -> None:
    x, classes = images(size), classes_for(masker)
    with torch.no_grad():
        batched = call_masker(masker, x, classes)
        single = torch.cat([call_masker(masker, x[i : i + 1], classes[i : i + 1]) for i in range(BATCH)])
    _close(single, batched, "masks of single images vs the batch")


def check_masker_leaves_the_black_box_alone(masker: Masker, size: int, box: nn.Module | None) -> None:
    """After a call (and a backward of the masks, when they carry gradients) no black-box parameter has a gradient
    and every ``requires_grad`` flag is what it was; a masker's frozen parameters (its encoder: the black box's
    network) count as the black box's."""
    watched = list(box.parameters()) if box is not None else []
    watched += [p for p in masker.parameters() if not p.requires_grad and all(p is not q for q in watched)]
    flags = [p.requires_grad for p in watched]
    all_flags = [p.requires_grad for p in masker.parameters()]
    masks = call_masker(masker, images(size), classes_for(masker))
    if masks.requires_grad:
        masks.sum().backward()
    assert [p.requires_grad for p in watched] == flags, "the masker changed requires_grad of the black box's parameters"
    assert [p.requires_grad for p in masker.parameters()] == all_flags
    leaked = [p.shape for p in watched if p.grad is not None]
    assert not leaked, f"gradients leaked into {len(leaked)} black-box parameters"
    for p in masker.parameters():
        p.grad = None


def check_masker_interface(masker: Masker, size: int, box: BlackBoxClassifier | None) -> None:
    assert isinstance(masker.exportable, bool)
    assert masker.coarsest_stride is None or (isinstance(masker.coarsest_stride, int) and masker.coarsest_stride > 0)
    assert masker.classifier_name is None or isinstance(masker.classifier_name, str)
    if box is not None:
        assert masker.num_classes == box.num_classes
    if isinstance(masker, TrainableMasker):
        params = list(masker.trainable_parameters())
        assert params and all(p.requires_grad for p in params), "trainable_parameters() must be the trainable ones"
        assert isinstance(masker.config, dict)
    if masker.num_classes is not None:
        with pytest.raises(InputError):
            call_masker(masker, images(size), torch.full((BATCH,), masker.num_classes))
    with pytest.raises(InputError):
        call_masker(masker, images(size) * 255, classes_for(masker))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", _params("maskers"))
def test_masker_output(case, dtype, device):
    masker = built(case)
    check_masker_output(masker, masker_size(masker, case), dtype, device)


@pytest.mark.parametrize("case", _params("maskers"))
def test_masker_batch_of_one(case):
    masker = built(case)
    check_masker_batch_of_one(masker, masker_size(masker, case))


@pytest.mark.parametrize("black_box_state", ["frozen", "trainable"])
@pytest.mark.parametrize("case", _params("maskers"))
def test_masker_leaves_the_black_box_alone(case, black_box_state):
    masker = built(case)
    if black_box_state == "frozen":
        box = black_box() if takes_black_box(case) else None
    elif not takes_black_box(case):
        pytest.skip(
            "the masker holds no black box to make trainable "
            "(its frozen encoder is checked with black_box_state=frozen)"
        )
    else:
        box = copy.deepcopy(black_box()).unfreeze()
        masker = construct(case, box)
    check_masker_leaves_the_black_box_alone(masker, masker_size(masker, case), box)


@pytest.mark.parametrize("case", _params("maskers"))
def test_masker_interface(case):
    masker = built(case)
    check_masker_interface(masker, masker_size(masker, case), black_box() if takes_black_box(case) else None)


# ------------------------------------------------------------------ encoders
def check_encoder_features(encoder: FrozenEncoder, size: int = 64) -> None:
    assert isinstance(encoder, FrozenEncoder)
    with torch.no_grad():
        features = encoder(images(size))
    assert len(features) == len(encoder.channels) == len(encoder.strides)
    assert encoder.strides == sorted(encoder.strides), "feature maps must come finest -> coarsest"
    for feature, channels, stride in zip(features, encoder.channels, encoder.strides):
        assert feature.shape[:2] == (BATCH, channels) and feature.dtype == torch.float32
        assert tuple(feature.shape[-2:]) == (-(-size // stride),) * 2
    if encoder.head_weight is not None:
        assert encoder.head_weight.shape[1] == encoder.channels[-1]


def check_encoder_frozen(encoder: FrozenEncoder) -> None:
    assert not any(p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.training and not any(m.training for m in encoder.modules())


def check_encoder_batch_of_one(encoder: FrozenEncoder, size: int = 64) -> None:
    x = images(size)
    with torch.no_grad():
        batched = encoder(x)
        singles = [encoder(x[i : i + 1]) for i in range(BATCH)]
    for level, feature in enumerate(batched):
        _close(torch.cat([s[level] for s in singles]), feature, f"feature map {level} of single images vs the batch")


@pytest.mark.parametrize("case", _params("encoders"))
def test_encoder_features(case):
    check_encoder_features(built(case), case.size or 64)


@pytest.mark.parametrize("case", _params("encoders"))
def test_encoder_is_frozen(case):
    check_encoder_frozen(built(case))


@pytest.mark.parametrize("case", _params("encoders"))
def test_encoder_batch_of_one(case):
    check_encoder_batch_of_one(built(case), case.size or 64)


# ------------------------------------------------------------------ a new plugin joins by being registered
CHECKS: dict[str, list[Callable[[Case], None]]] = {
    "classifiers": [
        lambda c: check_classifier_logits(built(c), torch.float32, "cpu"),
        lambda c: check_classifier_logits(built(c), torch.float64, "cpu"),
        lambda c: check_classifier_batch_of_one(built(c)),
        lambda c: check_classifier_is_differentiable(built(c)),
        lambda c: check_classifier_interface(built(c)),
        lambda c: check_classifier_class_index(built(c)),
    ],
    "evidence_removers": [
        lambda c: check_remover_output(built(c), torch.float32, "cpu"),
        lambda c: check_remover_output(built(c), torch.float64, "cpu"),
        lambda c: check_remover_deterministic(built(c)),
        lambda c: check_remover_batch_of_one(built(c)),
    ],
    "maskers": [
        lambda c: check_masker_output(built(c), masker_size(built(c), c), torch.float32, "cpu"),
        lambda c: check_masker_output(built(c), masker_size(built(c), c), torch.float64, "cpu"),
        lambda c: check_masker_batch_of_one(built(c), masker_size(built(c), c)),
        lambda c: check_masker_leaves_the_black_box_alone(
            built(c), masker_size(built(c), c), black_box() if takes_black_box(c) else None
        ),
        lambda c: check_masker_interface(
            built(c), masker_size(built(c), c), black_box() if takes_black_box(c) else None
        ),
    ],
    "encoders": [
        lambda c: check_encoder_features(built(c)),
        lambda c: check_encoder_frozen(built(c)),
        lambda c: check_encoder_batch_of_one(built(c)),
    ],
}


class _MeanColour(FrozenBlackBox):
    def __init__(self) -> None:
        super().__init__(
            nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 3)), (8, 8), ["red", "green", "blue"]
        )


class _Darken(EvidenceRemover):
    def remove(self, images, generator=None):
        return images * 0.5


class _Brightness(Masker):
    def __init__(self, classifier=None) -> None:
        super().__init__()
        self.num_classes = None if classifier is None else classifier.num_classes

    def forward(self, images, classes):
        return images.mean(dim=1, keepdim=True)


class _Pyramid(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.b = nn.Conv2d(4, 8, 3, stride=2, padding=1)

    def forward(self, x):
        return self.b(self.a(x))


class TinyPlugin:
    """A third-party plugin offering one plugin of every kind."""

    @hookspecs.hookimpl
    def blackbox_saliency_classifiers(self):
        return {"_contract_mean_colour": _MeanColour}

    @hookspecs.hookimpl
    def blackbox_saliency_evidence_removers(self):
        return {"_contract_darken": _Darken}

    @hookspecs.hookimpl
    def blackbox_saliency_maskers(self):
        return {"_contract_brightness": _Brightness}

    @hookspecs.hookimpl
    def blackbox_saliency_encoders(self):
        return {
            "_contract_pyramid": lambda pretrained=True: EncoderSpec(
                _Pyramid(), ["a", "b"], (0.5,) * 3, (0.25,) * 3, probe_size=32
            )
        }


def test_a_registered_plugin_joins_the_matrix():
    names = {
        "classifiers": "_contract_mean_colour",
        "evidence_removers": "_contract_darken",
        "maskers": "_contract_brightness",
        "encoders": "_contract_pyramid",
    }
    assert not {(c.kind, c.name) for c in contract_cases()} & set(names.items())
    pm = manager.get_plugin_manager()
    pm.register(TinyPlugin(), name="tiny-contract-plugin")
    try:
        cases = {(c.kind, c.name): c for c in contract_cases()}
        for kind, name in names.items():
            case = cases[(kind, name)]
            assert case.skip is None and case.kwargs == {}
            assert {c.name for c in contract_cases(kind)} >= {name}
            for check in CHECKS[kind]:
                check(case)
        assert takes_black_box(cases[("maskers", "_contract_brightness")])
    finally:
        pm.unregister(name="tiny-contract-plugin")
        for key in names.items():
            _BUILT.pop(key, None)
    assert not {(c.kind, c.name) for c in contract_cases()} & set(names.items())


def test_the_matrix_covers_every_kind_and_skips_only_with_reasons():
    cases = contract_cases()
    assert {c.kind for c in cases} == set(bs.available())
    assert len(cases) == sum(len(names) for names in bs.available().values())
    for case in cases:
        assert case.skip is None or case.skip == FAMILY_SKIP
    running = [c.id for c in cases if c.skip is None]
    for name in (
        "classifiers:efficientnet_lite0",
        "classifiers:torchvision:resnet18",
        "maskers:gradcam",
        "maskers:iterative",
        "evidence_removers:paper",
        "encoders:resnet18",
    ):
        assert name in running
