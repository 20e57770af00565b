"""HPSv2's eval transform (longer side to 224, zero padding) against golden values made by running the
official hpsv2 ``image_transform(224, is_train=False, resize_longest_max=True)`` (tgxs002/HPSv2 866735e,
unmodified, with torchvision 0.29) on the same images: tests/rewards/golden/hpsv2_eval_transform.json."""

import json
from pathlib import Path

import pytest
import torch

from vargym.rewards.clip_models import OPENAI_MEAN, OPENAI_STD, resize_longer_and_pad

GOLDEN = json.loads((Path(__file__).parent / "golden" / "hpsv2_eval_transform.json").read_text())


def _ours(case: dict) -> torch.Tensor:
    g = torch.Generator().manual_seed(case["seed"])
    img = (torch.rand(3, case["height"], case["width"], generator=g) * 255).round() / 255  # the uint8 image
    mean, std = torch.tensor(OPENAI_MEAN).view(3, 1, 1), torch.tensor(OPENAI_STD).view(3, 1, 1)
    return ((resize_longer_and_pad(img[None], 224)[0] - mean) / std)  # [3, 224, 224]


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: f"{c['height']}x{c['width']}")
def test_matches_the_official_transform(case):
    ours = _ours(case)
    assert list(ours.shape) == case["shape"]
    torch.testing.assert_close(ours[:, ::16, ::16], torch.tensor(case["subsample_16"]), atol=1e-4, rtol=0)
    torch.testing.assert_close(ours.sum(dim=(1, 2)), torch.tensor(case["channel_sums"]), atol=0.05, rtol=1e-5)
