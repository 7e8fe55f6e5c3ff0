"""Real photos bundled with common scientific Python packages, for demos.

The demo needs no download: it borrows photos that ship inside packages many
users already have (the ``demo`` extra installs all three):

========== ======================= ==========================================
name       package                 what it shows
========== ======================= ==========================================
chelsea    scikit-image            a tabby cat
coffee     scikit-image            a cup of coffee on a saucer
astronaut  scikit-image            astronaut Eileen Collins
grace      matplotlib              Rear Admiral Grace Hopper in uniform
china      scikit-learn            a Chinese temple (Summer Palace)
flower     scikit-learn            a flower close-up
========== ======================= ==========================================

A source whose package is missing (or whose file cannot be read) is skipped
and reported in :attr:`SamplePhotos.notes`; nothing raises unless *no* photo
at all could be loaded and the caller asks for that with ``require=True``.

Example:
    >>> from blackbox_saliency.sample_photos import load_sample_photos
    >>> photos = load_sample_photos(["chelsea"])
    >>> photos[0].name, photos[0].array.dtype, photos[0].array.shape[-1]
    ('chelsea', dtype('uint8'), 3)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import DataNotFoundError, InputError

__all__ = ["PHOTO_NAMES", "SamplePhoto", "SamplePhotos", "load_sample_photos"]


@dataclass(frozen=True)
class SamplePhoto:
    """One photo: ``array`` is (H, W, 3) uint8 RGB."""

    name: str
    source: str
    array: np.ndarray

    def to_tensor(self) -> torch.Tensor:
        """The photo as a (1, 3, H, W) float32 tensor in [0, 1] (the library's image convention)."""
        pixels = torch.from_numpy(np.array(self.array, dtype=np.uint8, copy=True))
        return pixels.permute(2, 0, 1).unsqueeze(0).float().div_(255)


@dataclass
class SamplePhotos:
    """A list of loaded photos plus one note per photo that had to be skipped."""

    photos: list[SamplePhoto] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[SamplePhoto]:
        return iter(self.photos)

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, index: int) -> SamplePhoto:
        return self.photos[index]


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        data = importlib.import_module("skimage.data")
        return getattr(data, name)()

    return load


def _grace_hopper() -> np.ndarray:
    matplotlib = importlib.import_module("matplotlib")
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if not path.is_file():  # very old or stripped installs: ask cbook
        cbook = importlib.import_module("matplotlib.cbook")
        path = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    from PIL import Image

    from .io import as_rgb

    with Image.open(path) as image:
        return np.asarray(as_rgb(image))


def _sklearn(file_name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        datasets = importlib.import_module("sklearn.datasets")
        bunch = datasets.load_sample_images()
        for path, image in zip(bunch.filenames, bunch.images):
            if Path(path).name == file_name:
                return np.asarray(image)
        raise FileNotFoundError(f"{file_name} is not among scikit-learn's sample images")

    return load


# name -> (package that must be importable, human-readable source, loader)
_SOURCES: dict[str, tuple[str, str, Callable[[], np.ndarray]]] = {
    "chelsea": ("skimage", "scikit-image: skimage.data.chelsea()", _skimage("chelsea")),
    "coffee": ("skimage", "scikit-image: skimage.data.coffee()", _skimage("coffee")),
    "astronaut": ("skimage", "scikit-image: skimage.data.astronaut()", _skimage("astronaut")),
    "grace": ("matplotlib", "matplotlib: mpl-data/sample_data/grace_hopper.jpg", _grace_hopper),
    "china": ("sklearn", "scikit-learn: load_sample_images() china.jpg", _sklearn("china.jpg")),
    "flower": ("sklearn", "scikit-learn: load_sample_images() flower.jpg", _sklearn("flower.jpg")),
}
_PIP_NAMES = {"skimage": "scikit-image", "matplotlib": "matplotlib", "sklearn": "scikit-learn"}

PHOTO_NAMES: tuple[str, ...] = tuple(_SOURCES)


def load_sample_photos(names: Sequence[str] | None = None, require: bool = False) -> SamplePhotos:
    """Load the bundled photos (all of :data:`PHOTO_NAMES` by default), skipping unavailable sources.

    Args:
        names: which photos to load, in this order; unknown names raise :class:`InputError`.
        require: raise :class:`DataNotFoundError` when not a single photo could be loaded.

    Returns:
        :class:`SamplePhotos` with the loaded photos and a note for every skipped one.
    """
    wanted = list(PHOTO_NAMES if names is None else names)
    unknown = [n for n in wanted if n not in _SOURCES]
    if unknown:
        raise InputError(f"unknown sample photo(s) {unknown}; choose from {list(PHOTO_NAMES)}.")
    result = SamplePhotos()
    for name in wanted:
        package, source, loader = _SOURCES[name]
        try:
            importlib.import_module(package)
        except ImportError:
            result.notes.append(
                f"skipped {name!r}: package {_PIP_NAMES[package]!r} is not installed "
                f"(pip install {_PIP_NAMES[package]}, or pip install 'blackbox-saliency[demo]')"
            )
            continue
        try:
            array = np.asarray(loader())
        except Exception as error:  # a broken or stripped install must not stop the demo
            result.notes.append(f"skipped {name!r}: could not read it from {source} ({type(error).__name__}: {error})")
            continue
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=2)
        if array.ndim != 3 or array.shape[2] not in (3, 4) or array.dtype != np.uint8:
            result.notes.append(f"skipped {name!r}: unexpected array {array.shape} {array.dtype} from {source}")
            continue
        result.photos.append(SamplePhoto(name=name, source=source, array=np.ascontiguousarray(array[..., :3])))
    if require and not result.photos:
        raise DataNotFoundError(
            "no sample photo could be loaded: " + "; ".join(result.notes)
            + ". Install the demo extra: pip install 'blackbox-saliency[demo]'."
        )
    return result
