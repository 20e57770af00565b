import math

import pytest
import torch

from vargym.data.diversity import downsample_pixels, pairwise_diversity


def test_identical_images_are_all_near_duplicates():
    image = torch.rand(1, 3, 16, 16)
    pixels = downsample_pixels(image.expand(6, -1, -1, -1), size=16)
    out = pairwise_diversity(pixels, torch.zeros(6, dtype=torch.long), threshold=0.02)
    assert out == {"mean_distance": 0.0, "min_distance": 0.0, "pairs": 15, "near_duplicate_fraction": 1.0}


def test_random_images_are_far_apart():
    g = torch.Generator().manual_seed(0)
    pixels = downsample_pixels(torch.rand(8, 3, 16, 16, generator=g), size=16)
    out = pairwise_diversity(pixels, torch.zeros(8, dtype=torch.long), threshold=0.02)
    assert out["near_duplicate_fraction"] == 0.0
    # RMS distance of independent U(0, 1) pixels: sqrt(E[(u - v)^2]) = sqrt(1/6)
    assert out["mean_distance"] == pytest.approx(math.sqrt(1 / 6), abs=0.01)


def test_only_within_class_pairs_count():
    # two classes, each of identical images, but the classes differ wildly: all within-class pairs duplicate
    black, white = torch.zeros(3, 3, 8, 8), torch.ones(3, 3, 8, 8)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    out = pairwise_diversity(downsample_pixels(torch.cat([black, white]), 8), labels, threshold=0.01)
    assert out["pairs"] == 6
    assert out["near_duplicate_fraction"] == 1.0 and out["mean_distance"] == 0.0


def test_distance_is_rms_and_threshold_is_strict():
    vectors = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.1, 0.1, 0.1, 0.1], [0.3, 0.3, 0.3, 0.3]])
    out = pairwise_diversity(vectors, torch.zeros(3, dtype=torch.long), threshold=0.15)
    assert out["mean_distance"] == pytest.approx((0.1 + 0.3 + 0.2) / 3)
    assert out["near_duplicate_fraction"] == pytest.approx(1 / 3)  # only the 0.1 pair


def test_no_pairs_gives_nan():
    out = pairwise_diversity(torch.rand(3, 5), torch.tensor([0, 1, 2]), threshold=0.1)
    assert (
        out["pairs"] == 0 and math.isnan(out["mean_distance"]) and math.isnan(out["near_duplicate_fraction"])
    )


def test_downsample_pixels_shapes_and_means():
    images = torch.rand(2, 3, 64, 64)
    pixels = downsample_pixels(images, size=1)
    torch.testing.assert_close(pixels, images.mean(dim=(2, 3)))
    assert downsample_pixels(torch.rand(2, 3, 8, 8), size=32).shape == (2, 3 * 32 * 32)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"vectors must be \[N, D\] and labels \[N\]"):
        pairwise_diversity(torch.rand(3, 5), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="threshold must be >= 0"):
        pairwise_diversity(torch.rand(3, 5), torch.zeros(3, dtype=torch.long), threshold=-1)
    with pytest.raises(ValueError, match=r"images must be \[N, 3, H, W\]"):
        downsample_pixels(torch.rand(3, 8, 8))
