"""Reward recipes: AR-GRPO's T2I set built from tiny models and a fake judge, its weights and bins."""

import pytest
import torch

from vargym.rewards import RewardContext, make
from vargym.rewards.presets import make_preset
from vargym.rewards.wrappers import BinnedReward


def test_binned_reward_is_the_recipes_step_function():
    reward = BinnedReward(make(lambda images, context: images[:, 0, 0, 0]), edges=(0.0, 0.3, 0.6),
                          values=(-1.0, 0.5, 1.0, 1.5))
    levels = torch.tensor([-0.2, 0.0, 0.1, 0.3, 0.45, 0.6, 0.95])  # below, on and between the edges
    images = levels.view(-1, 1, 1, 1).expand(-1, 3, 4, 4)
    assert reward(images).total.tolist() == [-1.0, 0.5, 0.5, 1.0, 1.0, 1.5, 1.5]
    with pytest.raises(ValueError, match="one more value than edges"):
        BinnedReward(make("luma"), edges=(0.0, 0.5), values=(1.0, 2.0))


def test_ar_grpo_t2i_is_the_weighted_sum_of_its_eight_terms(tiny_clip, hps_checkpoint, tiny_maniqa, judge):
    clip = {"clip_model": tiny_clip[0], "weights_path": tiny_clip[1], "pretrained": None}
    reward = make_preset("ar-grpo-t2i", clip=clip,
                         hpsv2={"clip_model": hps_checkpoint[0], "weights_path": hps_checkpoint[1]},
                         maniqa={"weights_path": tiny_maniqa[0], "config": tiny_maniqa[1]},
                         judge={"base_url": judge.url})
    assert reward.weights == [5.0, 1.0, 5.0, 1.0, 2.0, 0.25, 0.25, 0.25]
    images = torch.rand(2, 3, 64, 64) * 0.09  # the fake judge answers 10 x the mean pixel: within [0, 1]
    context = RewardContext(image_prompts=["a red apple", "two dogs"])
    out = reward(images, context)
    terms = [r(images, context).total for r in reward.rewards]
    expected = sum(w * t for w, t in zip(reward.weights, terms))
    torch.testing.assert_close(out.total, expected, rtol=1e-5, atol=1e-5)
    asked = judge.questions[-6:]
    assert sum("a red apple" in q for q in asked) == 3 and any("sum of the five" in q for q in asked)
    with pytest.raises(ValueError, match="unknown reward preset"):
        make_preset("ar-grpo")
    with pytest.raises(ValueError, match="takes arguments per term"):
        make_preset("ar-grpo-t2i", hps={})
