"""A folder of images per class, as a torch Dataset of ``[3, S, S]`` tensors in ``[0, 1]``.

Layout::

    root/
      <class_a>/img001.png
      <class_a>/img002.jpg
      <class_b>/...

Classes are the sub-folder names, sorted; label ``i`` is the ``i``-th name. Each image is resized so
its shorter side is ``image_size`` (bicubic, antialiased by PIL) and centre-cropped to a square.

Example:
    >>> from vargym.data.folder import ImageFolderDataset
    >>> ds = ImageFolderDataset("my_images", image_size=64)
    >>> image, label = ds[0]   # [3, 64, 64] in [0, 1], int
    >>> ds.classes             # ['cats', 'dogs']
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

__all__ = ["IMAGE_EXTENSIONS", "ImageFolderDataset", "load_image"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")

_LAYOUT = "root/<class_name>/*.png|*.jpg (one sub-folder of images per class)"


class ImageFolderDataset(Dataset):
    """Images of ``root/<class_name>/*``, resized (shorter side) and centre-cropped to ``image_size``.

    Attributes:
        classes: sorted class names (sub-folder names).
        class_to_idx: name -> label.
        samples: ``(path, label)`` pairs, sorted by class then file name.
    """

    def __init__(self, root: str | Path, image_size: int = 64) -> None:
        if not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"image_size must be a positive int, got {image_size!r}")
        self.root = Path(root)
        self.image_size = image_size
        if not self.root.is_dir():
            raise ValueError(
                f"image folder root {self.root} does not exist or is not a folder; expected {_LAYOUT}"
            )
        self.classes = sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )
        if not self.classes:
            raise ValueError(f"image folder root {self.root} has no class sub-folders; expected {_LAYOUT}")
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.samples: list[tuple[Path, int]] = [
            (path, label)
            for label, name in enumerate(self.classes)
            for path in sorted((self.root / name).iterdir())
            if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS
        ]
        if not self.samples:
            raise ValueError(
                f"image folder root {self.root} has class folders {self.classes} but no images "
                f"with extensions {', '.join(IMAGE_EXTENSIONS)}; expected {_LAYOUT}"
            )

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return load_image(path, self.image_size), label

    @property
    def labels(self) -> torch.Tensor:
        """int64 ``[N]`` labels of all samples, in order."""
        return torch.tensor([label for _, label in self.samples], dtype=torch.long)


def load_image(path: str | Path, image_size: int) -> torch.Tensor:
    """Read an image file as float ``[3, S, S]`` in ``[0, 1]`` (shorter side resized, centre crop).

    Raises:
        ValueError: the file is not a readable image (names the path).
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from e
    width, height = image.size
    scale = image_size / min(width, height)
    new_w, new_h = max(image_size, round(width * scale)), max(image_size, round(height * scale))
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - image_size) // 2, (new_h - image_size) // 2
    image = image.crop((left, top, left + image_size, top + image_size))
    array = np.asarray(image, dtype=np.uint8)  # [S, S, 3]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255)  # [3, S, S]
