"""Procedural images: shapes, range, determinism per seed, classes, variety, visibility, errors."""

import itertools

import pytest
import torch

from vargym.data.procedural import (
    CLASS_NAMES,
    NUM_CLASSES,
    ProceduralConfig,
    ProceduralDataset,
    generate,
    procedural_batches,
)

LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def _gen(labels, seed=0, size=64, config=None):
    return generate(labels, torch.Generator().manual_seed(seed), size, config=config)


def test_class_names():
    assert NUM_CLASSES == len(CLASS_NAMES) == 10
    assert len(set(CLASS_NAMES)) == 10


@pytest.mark.parametrize("size", [32, 64, 96, 256])
def test_generate_shape_dtype_range(size):
    labels = torch.arange(NUM_CLASSES).repeat(2 if size < 256 else 1)
    images = _gen(labels, size=size)
    assert images.shape == (labels.numel(), 3, size, size)
    assert images.dtype == torch.float32
    assert torch.isfinite(images).all()
    assert images.min() >= 0 and images.max() <= 1


def test_generate_deterministic_per_seed():
    labels = torch.arange(NUM_CLASSES).repeat(3)
    first, again, other = _gen(labels, seed=5), _gen(labels, seed=5), _gen(labels, seed=6)
    assert torch.equal(first, again)
    assert (first - other).abs().mean() > 0.05


def test_generate_without_generator_uses_global_rng():
    labels = torch.arange(NUM_CLASSES)
    torch.manual_seed(3)
    first = generate(labels, None, 32)
    torch.manual_seed(3)
    assert torch.equal(first, generate(labels, None, 32))


def test_dataset_is_deterministic_by_index_and_balanced():
    ds = ProceduralDataset(40, image_size=32, seed=1)
    image, label = ds[13]
    fresh_image, fresh_label = ProceduralDataset(40, image_size=32, seed=1)[13]
    assert label == fresh_label == 13 % NUM_CLASSES
    assert torch.equal(image, fresh_image)
    assert image.shape == (3, 32, 32)
    # The batched fetch gives the same items as single fetches (an item does not depend on its batch).
    batch = ds.__getitems__([13, 2, 27])
    assert torch.equal(batch[0][0], image)
    assert torch.equal(batch[1][0], ds[2][0]) and batch[2][1] == 7
    assert sorted({ds[i][1] for i in range(NUM_CLASSES)}) == list(range(NUM_CLASSES))
    assert not torch.equal(ds[3][0], ProceduralDataset(40, image_size=32, seed=2)[3][0])
    assert torch.equal(ds[-1][0], ds[39][0])
    with pytest.raises(IndexError, match="out of range"):
        ds[40]


def test_dataset_works_with_dataloader():
    ds = ProceduralDataset(20, image_size=32, seed=0)
    loader = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=False)
    images, labels = next(iter(loader))
    assert images.shape == (8, 3, 32, 32)
    assert labels.tolist() == list(range(8))
    assert torch.equal(images[5], ds[5][0])


def test_procedural_batches_deterministic_and_cover_all_classes():
    first = next(procedural_batches(200, image_size=32, seed=4))
    again = next(procedural_batches(200, image_size=32, seed=4))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    images, labels = first
    assert images.shape == (200, 3, 32, 32) and labels.dtype == torch.long
    assert set(labels.tolist()) == set(range(NUM_CLASSES))
    stream = procedural_batches(8, image_size=32, seed=4)
    batch_a, batch_b = next(stream), next(stream)
    assert not torch.equal(batch_a[0], batch_b[0])
    assert batch_a[0].device == batch_a[1].device == torch.device("cpu")


@pytest.mark.parametrize("label", range(NUM_CLASSES), ids=CLASS_NAMES)
def test_variety_within_a_class(label):
    images = _gen(torch.full((60,), label), seed=2, config=ProceduralConfig(noise_std=0.0))
    luma = (images * LUMA).sum(1).mean((1, 2))  # [60]
    assert luma.max() - luma.min() > 0.4, "mean brightness must span a wide range within a class"
    colourfulness = images.std(dim=1).mean((1, 2))  # [60] spread across channels
    assert colourfulness.max() - colourfulness.min() > 0.05
    # No two images of the class are near-identical (noise is off, so it cannot make them differ).
    flat = images.flatten(1)
    distances = torch.cdist(flat, flat) / flat.shape[1] ** 0.5  # RMS pixel difference
    distances.fill_diagonal_(float("inf"))
    assert distances.min() > 0.03


@pytest.mark.parametrize("label", range(6), ids=CLASS_NAMES[:6])
def test_shapes_stay_inside_the_image(label):
    # Without noise the image border shows only background: it matches the (never covered) corner.
    config = ProceduralConfig(noise_std=0.0, min_scale=0.8, max_scale=0.8)
    images = _gen(torch.full((40,), label), seed=3, config=config)
    border = torch.cat(
        [images[:, :, 0, :], images[:, :, -1, :], images[:, :, :, 0], images[:, :, :, -1]], dim=2
    )  # [N, 3, 4W]
    off = (border - images[:, :, :1, 0]).abs().amax(1)  # [N, 4W]
    assert (off > 0.15).float().mean() < 0.01
    # ...while the shape itself is large: a good share of pixels differ from the background.
    covered = (images - images[:, :, :1, :1]).abs().amax(1) > 0.15  # [N, H, W]
    assert covered.float().mean((1, 2)).min() > 0.08


def test_foreground_contrasts_with_background():
    images = _gen(torch.zeros(50, dtype=torch.long), seed=1, config=ProceduralConfig(noise_std=0.0))
    luma = (images * LUMA).sum(1)  # [N, H, W]
    spread = luma.flatten(1).amax(1) - luma.flatten(1).amin(1)
    assert spread.min() > 0.25


def test_classes_differ_on_average():
    # Same seed, different labels: the per-class mean images are distinct patterns.
    images = _gen(torch.arange(NUM_CLASSES).repeat_interleave(20), seed=0, size=32, config=None)
    edges_x = (images[..., 1:] - images[..., :-1]).abs().mean((1, 2, 3)).view(NUM_CLASSES, 20).mean(1)
    edges_y = (images[..., 1:, :] - images[..., :-1, :]).abs().mean((1, 2, 3)).view(NUM_CLASSES, 20).mean(1)
    horizontal, vertical = CLASS_NAMES.index("horizontal_stripes"), CLASS_NAMES.index("vertical_stripes")
    assert edges_y[horizontal] > 2 * edges_x[horizontal]
    assert edges_x[vertical] > 2 * edges_y[vertical]
    for a, b in itertools.combinations(range(NUM_CLASSES), 2):
        assert (edges_x[a], edges_y[a]) != (edges_x[b], edges_y[b])


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\)"):
        _gen(torch.tensor([0, 10]))
    with pytest.raises(ValueError, match="labels must be a 1-D"):
        _gen(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="image_size must be an int"):
        _gen(torch.tensor([0]), size=4)
    with pytest.raises(ValueError, match="min_scale <= max_scale"):
        ProceduralConfig(min_scale=0.9, max_scale=0.5)
    with pytest.raises(ValueError, match="noise_std must be >= 0"):
        ProceduralConfig(noise_std=-1)
    with pytest.raises(ValueError, match="num_samples must be >= 1"):
        ProceduralDataset(0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        next(procedural_batches(0))
