"""save_grid / grid_image: layout, pixel values, captions and errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from vargym.data.grid import grid_image, save_grid


def test_save_grid_layout_and_pixels(tmp_path):
    images = torch.zeros(5, 3, 8, 8)
    images[3, 0] = 1.0  # the 4th tile is red
    path = save_grid(images, tmp_path / "sub" / "grid.png", nrow=3, padding=2)
    assert path.exists()
    with Image.open(path) as opened:
        grid = np.asarray(opened.convert("RGB"))
    assert grid.shape == (2 * 10 + 2, 3 * 10 + 2, 3)  # rows x (8 + pad) + pad, cols likewise
    # Tile 3 is row 1, column 0; tile 0 is black; padding is white.
    assert (grid[12:20, 2:10] == [255, 0, 0]).all()
    assert (grid[2:10, 2:10] == 0).all()
    assert (grid[0, :] == 255).all()


def test_captions_add_space_and_grey_input_works():
    plain = grid_image(torch.rand(4, 1, 8, 8), nrow=2)
    captioned = grid_image(torch.rand(4, 3, 8, 8), nrow=2, labels=list("abcd"), row_labels=["row0", "row1"])
    assert captioned.size[0] > plain.size[0] and captioned.size[1] > plain.size[1]
    assert plain.mode == captioned.mode == "RGB"


def test_grid_errors():
    with pytest.raises(ValueError, match=r"images must be a \[N, 3, H, W\]"):
        grid_image(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="labels must have one string per image"):
        grid_image(torch.rand(2, 3, 8, 8), labels=["a"])
    with pytest.raises(ValueError, match="row_labels must have one string per row"):
        grid_image(torch.rand(4, 3, 8, 8), nrow=2, row_labels=["a"])
    with pytest.raises(ValueError, match="nrow must be >= 1"):
        grid_image(torch.rand(4, 3, 8, 8), nrow=0)
