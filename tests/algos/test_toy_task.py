"""Every algorithm raises the mean reward of a non-image token task (tests/algos/toy_task.py)."""

import pytest

from tests.algos.toy_task import train
from vargym.algos import GRPOConfig, GRPOLoss, make_algorithm

CASES = {
    "grpo": ("grpo", {"group_size": 8, "beta": 0.04}, 2),
    "grpo-dr": (
        "grpo",
        {"group_size": 8, "beta": 0.0, "normalize_std": False, "aggregation": "token_mean"},
        2,
    ),
    "ppo": ("ppo", {}, 2),
    "ppo-kl": ("ppo", {"beta": 0.05, "entropy_coef": 0.01}, 2),
    "reinforce-ema": ("reinforce", {"baseline": "ema"}, 1),
    "reinforce-ema-per-condition": ("reinforce", {"baseline": "ema", "per_condition": True, "num_conditions": 4}, 1),
    "reinforce-rloo": ("reinforce", {"baseline": "rloo", "group_size": 8}, 1),
    "dr-grpo": ("dr-grpo", {"group_size": 8, "beta": 0.0}, 2),
    "dapo": ("dapo", {"group_size": 8}, 2),
    "gspo": ("gspo", {"group_size": 8}, 2),
    "grpo-adaptive-entropy": ("grpo", {"group_size": 8, "beta": 0.0, "entropy_target": 0.3}, 2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_algorithm_raises_reward(case):
    name, config, epochs = CASES[case]
    rewards = train(make_algorithm(name, **config), epochs=epochs)
    start, end = sum(rewards[:2]) / 2, sum(rewards[-3:]) / 3
    assert start < 0.35, rewards  # chance level is 1/8
    assert end > 0.6 and end > start + 0.35, rewards


class _WrongSignGRPO(GRPOLoss):
    def compute_advantages(self, batch):
        batch = super().compute_advantages(batch)
        batch["advantage"] = -batch["advantage"]
        return batch


def test_control_wrong_sign_advantage_does_not_learn():
    """The task discriminates: following minus the advantage drives the reward down, not up."""
    rewards = train(_WrongSignGRPO(GRPOConfig(group_size=8, beta=0.0)), epochs=2)
    assert sum(rewards[-3:]) / 3 < 0.1, rewards
