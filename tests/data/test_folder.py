"""ImageFolderDataset on a temporary folder of images written by the test."""

import numpy as np
import pytest
import torch
from PIL import Image

from vargym.data.folder import ImageFolderDataset, load_image


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)


@pytest.fixture
def image_root(tmp_path):
    root = tmp_path / "images"
    # A wide image: blue 16-px bands left and right of a red 16x16 centre.
    wide = np.zeros((16, 48, 3), np.uint8)
    wide[:, :, 2] = 255
    wide[:, 16:32] = (255, 0, 0)
    _write(root / "zebra" / "wide.png", wide)
    _write(root / "zebra" / "tall.jpg", np.full((50, 20, 3), 128))
    _write(root / "apple" / "small.png", np.full((8, 8, 3), 255))
    _write(root / "apple" / "grey.png", np.full((32, 32), 64))  # single channel -> RGB
    (root / "apple" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    return root


def test_classes_sorted_labels_and_samples(image_root):
    ds = ImageFolderDataset(image_root, image_size=16)
    assert ds.classes == ["apple", "zebra"]
    assert ds.class_to_idx == {"apple": 0, "zebra": 1}
    assert len(ds) == 4  # the .txt file is skipped
    assert ds.labels.tolist() == [0, 0, 1, 1]
    assert [path.name for path, _ in ds.samples] == ["grey.png", "small.png", "tall.jpg", "wide.png"]


def test_items_are_resized_cropped_floats(image_root):
    ds = ImageFolderDataset(image_root, image_size=16)
    for index in range(len(ds)):
        image, label = ds[index]
        assert image.shape == (3, 16, 16) and image.dtype == torch.float32
        assert 0 <= image.min() and image.max() <= 1
        assert label == ds.samples[index][1]
    grey, _ = ds[0]
    assert torch.allclose(grey, torch.full_like(grey, 64 / 255), atol=1 / 255)
    white, _ = ds[1]  # 8x8 upscaled to 16x16
    assert torch.allclose(white, torch.ones_like(white), atol=1 / 255)


def test_centre_crop_keeps_the_middle_of_a_wide_image(image_root):
    image = load_image(image_root / "zebra" / "wide.png", 16)  # shorter side already 16
    red = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    assert torch.allclose(image, red.expand_as(image), atol=1 / 255)
    # Downscaled: 48x16 -> 24x8, centre 8 columns are the red band.
    small = load_image(image_root / "zebra" / "wide.png", 8)
    assert small.shape == (3, 8, 8)
    assert torch.allclose(small[:, :, 2:6], red.expand(3, 8, 4), atol=0.05)


def test_missing_root_names_path_and_layout(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match=r"nowhere does not exist.*root/<class_name>/\*\.png"):
        ImageFolderDataset(missing)


def test_empty_root_and_empty_class_folders(tmp_path):
    with pytest.raises(ValueError, match="has no class sub-folders"):
        ImageFolderDataset(tmp_path)
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "readme.md").write_text("x")
    with pytest.raises(ValueError, match=r"class folders \['cats'\] but no images"):
        ImageFolderDataset(tmp_path)


def test_bad_image_size_and_corrupt_file(tmp_path):
    with pytest.raises(ValueError, match="image_size must be a positive int"):
        ImageFolderDataset(tmp_path, image_size=0)
    broken = tmp_path / "cls" / "broken.png"
    broken.parent.mkdir()
    broken.write_bytes(b"not a png at all")
    ds = ImageFolderDataset(tmp_path, image_size=8)
    with pytest.raises(ValueError, match="cannot read image .*broken.png"):
        ds[0]
