"""Image grids as PNG files (examples per class, sample grids of a training run).

Example:
    >>> import torch
    >>> from vargym.data.grid import save_grid
    >>> save_grid(torch.rand(8, 3, 32, 32), "grid.png", nrow=4, labels=[f"{i}" for i in range(8)])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = ["grid_image", "save_grid"]


def grid_image(
    images: torch.Tensor,
    nrow: int = 8,
    labels: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    padding: int = 2,
    background: int = 255,
):
    """Tile images into one PIL image.

    Args:
        images: float ``[N, 3, H, W]`` (or ``[N, 1, H, W]``) in ``[0, 1]``, any device.
        nrow: images per row.
        labels: optional caption per image (``N`` strings), written under each tile.
        row_labels: optional caption per row, written left of each row.
        padding: pixels between tiles.
        background: grey level (0..255) of the padding and caption strips.

    Returns:
        a ``PIL.Image.Image`` in RGB mode.
    """
    from PIL import Image, ImageDraw, ImageFont

    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be a [N, 3, H, W] tensor, got shape {getattr(images, 'shape', None)}")
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    n, _, height, width = images.shape
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels must have one string per image ({n}), got {len(labels)}")
    rows = max(1, -(-n // nrow))
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(f"row_labels must have one string per row ({rows}), got {len(row_labels)}")

    font = ImageFont.load_default()
    text_h = 12 if labels is not None else 0
    label_w = 0
    if row_labels is not None:
        measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        label_w = max(int(measure.textlength(text, font=font)) for text in row_labels) + 2 * padding

    pixels = images.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
    if pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    pixels = pixels.permute(0, 2, 3, 1).numpy()  # [N, H, W, 3]

    cell_w, cell_h = width + padding, height + text_h + padding
    columns = min(nrow, n)
    canvas = Image.new(
        "RGB", (label_w + columns * cell_w + padding, rows * cell_h + padding), (background,) * 3
    )
    draw = ImageDraw.Draw(canvas)
    ink = (0, 0, 0) if background > 127 else (255, 255, 255)
    for i in range(n):
        row, col = divmod(i, nrow)
        x, y = label_w + padding + col * cell_w, padding + row * cell_h
        canvas.paste(Image.fromarray(pixels[i]), (x, y))
        if labels is not None:
            draw.text((x, y + height), str(labels[i]), fill=ink, font=font)
    if row_labels is not None:
        for row, text in enumerate(row_labels):
            draw.text((padding, padding + row * cell_h + height // 2 - 5), str(text), fill=ink, font=font)
    return canvas


def save_grid(
    images: torch.Tensor,
    path: str | Path,
    nrow: int = 8,
    labels: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    padding: int = 2,
) -> Path:
    """Write images ``[N, 3, H, W]`` in ``[0, 1]`` as one PNG grid (see `grid_image`); returns the path.

    Parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid_image(images, nrow=nrow, labels=labels, row_labels=row_labels, padding=padding).save(path)
    return path
