"""Reward wrappers compose and keep the inner components."""

import pytest
import torch

from vargym.rewards import ClipReward, Reward, RunningNormalizeReward, ScaleReward, ThresholdReward, make


def test_threshold_equals_brightness():
    images = torch.rand(6, 3, 8, 8) * torch.linspace(0.5, 1.6, 6).view(6, 1, 1, 1)
    images = images.clamp(0, 1)
    wrapped = ThresholdReward(make("luma"), 0.8)
    assert isinstance(wrapped, Reward)
    torch.testing.assert_close(wrapped(images).total, make("brightness")(images).total)
    below = ThresholdReward(make("luma"), 0.2, above=False)(torch.zeros(1, 3, 4, 4)).total
    assert below.tolist() == [1.0]


def test_clip_validates_bounds():
    with pytest.raises(ValueError, match=r"low < high, got low=1\.0, high=0\.0"):
        ClipReward(make("luma"), 1.0, 0.0)


def test_wrappers_compose():
    images = torch.rand(4, 3, 8, 8)
    luma = make("luma")(images).total
    reward = ClipReward(ScaleReward(make("luma"), scale=4.0, shift=-1.0), -0.5, 1.0)
    out = reward(images)
    torch.testing.assert_close(out.total, (luma * 4 - 1).clamp(-0.5, 1.0))
    torch.testing.assert_close(out.components["luma"], luma)  # raw component passes through


def test_running_normalize_statistics_and_state_dict():
    torch.manual_seed(0)
    reward = RunningNormalizeReward(make("luma"))
    batches = [torch.rand(5, 3, 4, 4) for _ in range(3)]
    seen = torch.cat([make("luma")(b).total for b in batches]).double()
    for b in batches:
        out = reward(b)
    torch.testing.assert_close(reward.mean, seen.mean())
    torch.testing.assert_close(reward.var, seen.var(unbiased=False))
    expected = (
        (make("luma")(batches[-1]).total.double() - seen.mean()) / seen.var(unbiased=False).sqrt()
    ).float()
    torch.testing.assert_close(out.total, expected, atol=1e-5, rtol=1e-5)

    clone = RunningNormalizeReward(make("luma"), update=False)
    clone.load_state_dict(reward.state_dict())
    assert clone.count.item() == 15
    torch.testing.assert_close(
        clone(batches[0]).total,
        ((make("luma")(batches[0]).total.double() - seen.mean()) / seen.var(unbiased=False).sqrt()).float(),
        atol=1e-5,
        rtol=1e-5,
    )
    assert clone.count.item() == 15  # frozen


def test_wrapper_rejects_non_reward():
    with pytest.raises(TypeError, match="wraps a Reward"):
        ScaleReward(lambda images, context: images.mean())
