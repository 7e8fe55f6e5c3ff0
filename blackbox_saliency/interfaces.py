"""The three interfaces everything in the library plugs into.

* :class:`BlackBoxClassifier` – an ``nn.Module`` that maps images in [0, 1]
  to logits and owns its own resizing and normalisation.
* :class:`EvidenceRemover` – given images and a random generator, returns the
  alternative image ``A`` used by ``phi(X, M) = X*M + A*(1-M)``.
* :class:`Masker` – an ``nn.Module`` with ``forward(images, classes) -> masks``.

What the rest of the library asks of a plugin beyond that is declared here too,
never probed with ``hasattr``:

* :class:`TrainableMasker` – a masker the trainer can fit and checkpoints can rebuild (``trainable_parameters``,
  ``forward_train`` returning :class:`MaskerOutput`, ``frozen_modules``, ``architecture`` + ``config``).
* :class:`BoxAwareMasker` – a baseline that needs the ground-truth boxes (``set_boxes``).
* :attr:`Masker.exportable` – whether it traces into a graph file.
* :class:`BlackBoxClassifier` declares ``class_index``, ``eval_transform`` (its own
  photo preprocessing, or None), ``gradcam_layer`` (the layer Grad-CAM uses, or None) and
  ``cam_layers`` (the pooled feature layer and linear head of a CAM-ready network, or None).

Example (a tiny custom black box as a template subclass)::

    >>> import torch
    >>> from torch import nn
    >>> from blackbox_saliency.interfaces import BlackBoxClassifier
    >>> class Tiny(BlackBoxClassifier):
    ...     def __init__(self):
    ...         super().__init__(nn.Sequential(nn.Flatten(), nn.LazyLinear(2)),
    ...                          input_size=(8, 8), class_names=["no", "yes"])
    >>> Tiny()(torch.rand(4, 3, 16, 16)).shape
    torch.Size([4, 2])
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .input_checks import check_classes, check_classifier_images, check_generator, check_images

__all__ = [
    "BlackBoxClassifier",
    "BoxAwareMasker",
    "EvidenceRemover",
    "Masker",
    "MaskerOutput",
    "TrainableMasker",
    "require_black_box",
]


class BlackBoxClassifier(nn.Module):
    """A differentiable image classifier seen only through its outputs.

    Subclasses pass the wrapped ``network`` (which expects *normalised* input of
    ``input_size``), the normalisation constants and class names; the base class
    resizes any input to ``input_size`` and normalises it.

    Args:
        network: module mapping normalised (B, 3, *input_size) tensors to logits.
        input_size: (height, width) the network expects.
        class_names: one human-readable name per class.
        mean: per-channel mean of the normalisation applied to [0, 1] images.
        std: per-channel standard deviation of that normalisation.

    Subclasses may also set :attr:`gradcam_layer` and :attr:`cam_layers` and override :meth:`eval_transform`.
    """

    #: Module path (in this classifier) of the layer Grad-CAM explains by default; None lets
    #: :func:`~blackbox_saliency.baselines.gradcam.default_layer_name` pick the last stage.
    gradcam_layer: str | None = None

    #: ``(feature_layer, head_layer)`` module paths (in this classifier) when the logits are
    #: ``head(global_average_pool(feature_layer(...)))`` with ``head`` an ``nn.Linear``: then
    #: ``relu(X_ij . W_c)`` on that layer's map is the class activation map (Zhou et al. 2016) of the
    #: ``cam`` baseline. None (the default): the classifier does not declare one and ``cam`` refuses it.
    cam_layers: tuple[str, str] | None = None

    def __init__(
        self,
        network: nn.Module,
        input_size: tuple[int, int],
        class_names: Sequence[str],
        mean: Sequence[float] = (0.0, 0.0, 0.0),
        std: Sequence[float] = (1.0, 1.0, 1.0),
    ) -> None:
        super().__init__()
        self.network = network
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.class_names = list(class_names)
        self.num_classes = len(self.class_names)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Resize [0, 1] images to ``input_size`` (bilinear) and normalise them."""
        if tuple(images.shape[-2:]) != self.input_size:
            downscale = images.shape[-2] > self.input_size[0] or images.shape[-1] > self.input_size[1]
            images = F.interpolate(
                images, size=self.input_size, mode="bilinear", align_corners=False, antialias=downscale
            )
        mean = self.mean.to(images.dtype)
        std = self.std.to(images.dtype)
        return (images - mean) / std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Return logits (B, num_classes) for images (B, 3, H, W) in [0, 1] (NaN or values outside [0, 1] are
        refused)."""
        check_classifier_images(images)
        return self.network(self.preprocess(images))

    def eval_transform(self) -> Callable[[Any], torch.Tensor] | None:
        """PIL photo -> (3, H, W) float tensor in [0, 1], the preprocessing this black box's weights
        were evaluated with (e.g. resize 256 + centre crop 224); None (the default) uses images as given."""
        return None

    def class_index(self, name_or_index: str | int) -> int:
        """Resolve a class name (exact, or unique case-insensitive prefix/substring) or index to an index."""
        from .errors import InputError

        if isinstance(name_or_index, bool) or not isinstance(name_or_index, (int, str)):
            raise InputError(
                f"a class is an int index or a class name, got {type(name_or_index).__name__} {name_or_index!r}."
            )
        if isinstance(name_or_index, int) or re.fullmatch(
            r"\s*[-+]?\d+\s*", name_or_index
        ):  # "-1" is an index out of range, not a name
            index = int(name_or_index)
            check_classes(torch.tensor([index]), self.num_classes, name="class")
            return index
        if (
            name_or_index in self.class_names
        ):  # exact spelling first: ImageNet has both "Cardigan" (a dog) and "cardigan"
            return self.class_names.index(name_or_index)
        wanted = name_or_index.lower()
        exact = [i for i, n in enumerate(self.class_names) if n.lower() == wanted]
        if exact:
            return exact[0]
        partial = [i for i, n in enumerate(self.class_names) if wanted in n.lower()]
        if len(partial) == 1:
            return partial[0]
        if not partial:
            raise InputError(f"no class named {name_or_index!r}; examples of valid names: {self.class_names[:5]}")
        names = [self.class_names[i] for i in partial[:8]]
        raise InputError(
            f"class name {name_or_index!r} is ambiguous, it matches {names}; give the full name or an index."
        )


def require_black_box(classifier: object, role: str = "classifier") -> BlackBoxClassifier:
    """Return ``classifier`` if it is a :class:`BlackBoxClassifier`, else raise InputError saying how to wrap it.

    Example:
        >>> from torch import nn
        >>> from blackbox_saliency.interfaces import BlackBoxClassifier, require_black_box
        >>> box = BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.LazyLinear(2)), (8, 8), ["a", "b"])
        >>> require_black_box(box) is box
        True
    """
    if isinstance(classifier, BlackBoxClassifier):
        return classifier
    from .errors import InputError

    if classifier is None:
        raise InputError(
            f"the {role} is missing: pass a BlackBoxClassifier, e.g. load_classifier('efficientnet_lite0')."
        )
    raise InputError(
        f"the {role} must be a BlackBoxClassifier, got {type(classifier).__name__}; wrap a network with "
        "BlackBoxClassifier(network, input_size=(H, W), class_names=[...], mean=..., std=...) or load one with "
        "load_classifier(NAME)."
    )


class EvidenceRemover(ABC):
    """Produces the alternative image ``A`` that replaces removed evidence.

    Subclasses implement :meth:`remove`; calling the remover checks the input.

    Example:
        >>> import torch
        >>> from blackbox_saliency.interfaces import EvidenceRemover
        >>> class Grey(EvidenceRemover):
        ...     def remove(self, images, generator=None):
        ...         return torch.full_like(images, 0.5)
        >>> Grey()(torch.rand(1, 3, 4, 4)).unique().item()
        0.5
    """

    @abstractmethod
    def remove(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Return the alternative image, same shape, dtype and device as ``images``."""

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        check_images(images)
        check_generator(generator, images.device)
        return self.remove(images, generator)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class Masker(nn.Module, ABC):
    """Maps images (B, 3, H, W) in [0, 1] and classes (B,) int64 to masks (B, 1, H, W) in [0, 1].

    A mask value of 1 means "this pixel is evidence for the class" (preserved),
    0 means "removable". Subclasses implement :meth:`forward`. Calling the masker,
    ``masker(images, classes)``, checks the input first (type, shape, dtype, value range,
    NaN, one class per image, class range) and raises :class:`~blackbox_saliency.errors.InputError`
    naming what was wrong; :func:`~blackbox_saliency.input_checks.skip_input_checks` is the one
    opt-out, for hot paths whose data was validated where it entered.

    Example:
        >>> import torch
        >>> from blackbox_saliency import InputError, load_masker
        >>> masker = load_masker("center")
        >>> masker(torch.rand(2, 3, 32, 32), torch.tensor([0, 1])).shape
        torch.Size([2, 1, 32, 32])
        >>> try:
        ...     masker(torch.rand(2, 3, 32, 32) * 255, torch.tensor([0, 1]))
        ... except InputError as error:
        ...     print("refused")
        refused
    """

    num_classes: int | None = None
    #: Name of the black box this masker explains (a classifier plugin name), when it records one.
    classifier_name: str | None = None
    #: Whether :func:`~blackbox_saliency.export.export_masker` can trace this masker into a graph file
    #: (a single forward pass of tensor operations; baselines that loop or take gradients cannot).
    exportable: bool = False
    #: Stride of the masker's coarsest feature map: exported graphs accept any image size that is a
    #: multiple of it (None: the masker has no such constraint).
    coarsest_stride: int | None = None

    @abstractmethod
    def forward(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Return masks (B, 1, H, W) in [0, 1] at the resolution of ``images`` (no input checks here)."""

    def check_input(self, images: object, classes: object) -> None:
        """Raise InputError unless ``images`` is float (B, 3, H, W) in [0, 1] without NaN and ``classes`` int64 (B,)
        in range."""
        check_images(images)
        check_classes(classes, self.num_classes, batch=images.shape[0])

    def __call__(self, images: torch.Tensor, classes: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        self.check_input(images, classes)
        try:
            return super().__call__(images, classes, *args, **kwargs)
        except (torch.OutOfMemoryError, RuntimeError) as error:
            if not isinstance(error, torch.OutOfMemoryError) and "can't allocate memory" not in str(error):
                raise
            from .errors import InputError

            batch, _, height, width = images.shape
            raise InputError(
                f"not enough memory on {images.device} to explain {batch} image(s) of {height}x{width} pixels at once "
                f"({str(error).splitlines()[0][:160]}); the masker works at the image's own resolution: resize the "
                "images first "
                "(to what the black box sees, e.g. 224 pixels on the shorter side; `explain --max-side`), or pass "
                "fewer per call."
            ) from error

    def explain(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Check the input, then return the masks (the same as calling the masker)."""
        return self(images, classes)


class MaskerOutput(NamedTuple):
    """What :meth:`TrainableMasker.forward_train` returns.

    Attributes:
        masks: low-resolution masks (B, 1, h, w) in [0, 1].
        class_scores: ``max_ij X_ij . C_s`` (B,) for the selected classes (push up for the true
            class, down for a fake one).
    """

    masks: torch.Tensor
    class_scores: torch.Tensor


class TrainableMasker(Masker):
    """A masker :func:`~blackbox_saliency.training.train` can fit and the checkpoint code can save and rebuild.

    This class is the whole contract between a masker architecture and the trainer, the checkpoint
    format and the loaders; nothing else about a masker is assumed. Subclasses implement:

    * :meth:`forward` (full-resolution masks) and :meth:`forward_train` (low-resolution masks and
      class scores, no input checks: the trainer validates its data where it enters);
    * :meth:`trainable_parameters` (what the optimiser updates);
    * :attr:`architecture` (the name of a masker plugin whose factory, called with :attr:`config`
      as keyword arguments, rebuilds this masker untrained) and :attr:`config` (those keyword
      arguments: JSON-like values only).

    and may override :meth:`frozen_modules` (kept in eval mode, without gradients, and not written
    into checkpoints: rebuilt from :attr:`config`), :meth:`use_memory_format` and the embedding hooks.

    Example:
        >>> from blackbox_saliency.interfaces import TrainableMasker
        >>> from blackbox_saliency.maskers import SaliencyMasker
        >>> issubclass(SaliencyMasker, TrainableMasker)
        True
        >>> SaliencyMasker.architecture
        'saliency_masker'
    """

    #: Masker plugin name whose factory rebuilds this architecture from :attr:`config` (the checkpoint
    #: records it and :func:`~blackbox_saliency.load_masker` dispatches on it).
    architecture: str = ""

    #: Keyword arguments of the :attr:`architecture` factory that rebuild this masker (untrained).
    config: dict

    @abstractmethod
    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters the trainer optimises (never a frozen module's)."""

    @abstractmethod
    def forward_train(
        self, images: torch.Tensor, classes: torch.Tensor, features: list[torch.Tensor] | None = None
    ) -> MaskerOutput:
        """Low-resolution masks and class scores; ``features`` (from an earlier pass on the same images) may skip the
        encoder."""

    def frozen_modules(self) -> list[nn.Module]:
        """Sub-modules that never train (e.g. a pretrained encoder): kept in eval mode and out of checkpoints
        (default: none)."""
        return []

    def train(self, mode: bool = True) -> TrainableMasker:
        """Set training mode like any module, except that the :meth:`frozen_modules` always stay in eval mode (so a
        batch-norm in a pretrained encoder never updates its statistics, whoever calls ``train()``)."""
        super().train(mode)
        for module in self.frozen_modules():
            module.train(False)
        return self

    def use_memory_format(self, memory_format: torch.memory_format) -> None:
        """Convert what benefits from ``memory_format`` (e.g. ``torch.channels_last`` for a convolutional
        encoder); the default converts the :meth:`frozen_modules`."""
        for module in self.frozen_modules():
            module.to(memory_format=memory_format)

    def set_classifier_name(self, name: str | None) -> None:
        """Record the black box this masker explains (in :attr:`classifier_name` and :attr:`config`)."""
        self.classifier_name = name
        self.config["classifier_name"] = name

    def init_embedding_from_encoder_head(self, scale: float = 1.0) -> None:
        """Initialise the class embedding from the encoder's classifier head (when the masker has one; default:
        refuse)."""
        from .errors import InputError

        raise InputError(
            f"{type(self).__name__} has no class embedding to initialise from an encoder head; use "
            "embedding_init='random'."
        )

    def encoder_head_classes(self) -> int | None:
        """How many classes the encoder's own classifier head has (None without one): the trainer's
        ``embedding_init='auto'`` uses it."""
        return None


class BoxAwareMasker(Masker):
    """A masker that needs the ground-truth boxes of the images it is called on (the ``gt`` baseline).

    The evaluation calls :meth:`set_boxes` before each batch (and refuses the method on data without boxes).

    Example:
        >>> from blackbox_saliency.interfaces import BoxAwareMasker
        >>> from blackbox_saliency.baselines.boxes import GroundTruthMasker
        >>> issubclass(GroundTruthMasker, BoxAwareMasker)
        True
    """

    @abstractmethod
    def set_boxes(self, boxes: Sequence[torch.Tensor] | None) -> BoxAwareMasker:
        """Remember one (K, 4) tensor of xyxy boxes per image of the next call (None forgets them); return self."""
