"""Analytic checks of the weight-free rewards (brightness family and classical)."""

import pytest
import torch

from vargym.rewards import make
from vargym.rewards.brightness import mean_luma, to_luma


def _solid(rgb, n=1, size=16):
    return torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1).expand(n, 3, size, size).clone()


def test_luma_is_bt601():
    images = torch.cat([_solid([1, 0, 0]), _solid([0, 1, 0]), _solid([0, 0, 1])])
    torch.testing.assert_close(mean_luma(images), torch.tensor([0.299, 0.587, 0.114]))
    assert to_luma(images).shape == (3, 16, 16)


def test_brightness_threshold_at_08():
    images = torch.cat([_solid([0.79] * 3), _solid([0.8] * 3), _solid([1.0, 1.0, 0.0])])
    # yellow: luma 0.886 >= 0.8
    assert make("brightness")(images).total.tolist() == [0.0, 1.0, 1.0]
    assert make("brightness", threshold=0.5)(_solid([0.6] * 3)).total.tolist() == [1.0]


def test_luma_and_dark_are_complements():
    images = torch.rand(4, 3, 8, 8)
    luma, dark = make("luma")(images).total, make("dark")(images).total
    torch.testing.assert_close(luma + dark, torch.ones(4))
    assert torch.all(make("luma")(images.clamp(0, 0.5)).total <= luma + 1e-6)


def test_colorfulness_grey_zero_and_known_value():
    assert make("colorfulness")(_solid([0.5] * 3)).total.item() == pytest.approx(0.0, abs=1e-4)
    # pure red, constant: sigma 0, rg=255, yb=127.5 -> 0.3 * sqrt(255^2 + 127.5^2)
    expected = 0.3 * (255**2 + 127.5**2) ** 0.5
    assert make("colorfulness")(_solid([1, 0, 0])).total.item() == pytest.approx(expected, rel=1e-5)
    noise = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert make("colorfulness")(noise).total.min() > 100  # uniform noise ~138


def test_contrast_of_half_black_half_white():
    images = torch.zeros(1, 3, 8, 8)
    images[..., :4] = 1.0
    assert make("contrast")(images).total.item() == pytest.approx(0.5, abs=1e-6)
    assert make("contrast")(_solid([0.3] * 3)).total.item() == pytest.approx(0.0, abs=1e-6)


def test_saturation_values():
    images = torch.cat([_solid([1, 0, 0]), _solid([0.5] * 3), _solid([0, 0, 0]), _solid([1.0, 0.5, 0.5])])
    torch.testing.assert_close(make("saturation")(images).total, torch.tensor([1.0, 0.0, 0.0, 0.5]))


def test_sharpness_orders_flat_below_edges_below_noise():
    flat = _solid([0.5] * 3, size=32)
    edges = flat.clone()
    edges[..., ::4, :] = 1.0
    noise = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    values = make("sharpness")(torch.cat([flat, edges, noise])).total
    assert values[0] == 0 and values[0] < values[1] < values[2]
    raw = make("sharpness", log=False)(flat).total
    assert raw.item() == 0.0


def test_jpeg_prefers_flat_images():
    flat = _solid([0.5] * 3, size=64)
    noise = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    values = make("jpeg")(torch.cat([flat, noise])).total
    assert values[0] > values[1] and values[1] < -5.0  # noise compresses badly (kB, negated)
    assert values[0] < 0


@pytest.mark.parametrize(
    "name", ["brightness", "luma", "dark", "colorfulness", "contrast", "saturation", "sharpness"]
)
def test_batched_equals_per_image(name):
    images = torch.rand(3, 3, 16, 16)
    reward = make(name)
    batched = reward(images).total
    single = torch.cat([reward(images[i : i + 1]).total for i in range(3)])
    torch.testing.assert_close(batched, single)
