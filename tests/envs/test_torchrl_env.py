"""torchrl EnvBase adapter: specs, rollout layout, pinned labels, GymWrapper over the vector env."""

import torch
from torchrl.envs.libs.gym import GymWrapper
from torchrl.envs.utils import check_env_specs

from vargym.envs.gym_env import GenerationVectorEnv
from vargym.envs.torchrl_env import GenerationTorchRLEnv


def test_check_env_specs_and_rollout(tiny):
    env = GenerationTorchRLEnv(num_envs=4, model=tiny, reward="luma", group_size=2)
    check_env_specs(env)
    env.set_seed(0)
    rollout = env.rollout(100)  # stops at done, after K steps
    K = env.core.num_steps
    assert rollout.shape == (4, K)
    assert rollout["step"][0].tolist() == list(range(K))
    assert rollout["next", "done"].squeeze(-1)[:, -1].all() and not rollout["next", "done"][:, :-1].any()
    assert (rollout["next", "reward"][:, :-1] == 0).all()
    labels = rollout["class_label"][:, 0]
    assert labels[0] == labels[1] and labels[2] == labels[3]
    torch.testing.assert_close(rollout["next", "reward"][:, -1, 0], env.core.last_output.total)


def test_pinned_labels(tiny):
    env = GenerationTorchRLEnv(num_envs=3, model=tiny, reward="luma")
    env.pin_conditions(torch.tensor([5, 1, 5]))
    assert env.reset()["class_label"].tolist() == [5, 1, 5]
    env.pin_conditions(None)
    env.set_seed(1)
    a = env.reset()["class_label"]
    env.set_seed(1)
    assert torch.equal(env.reset()["class_label"], a)


def test_gym_wrapper_over_vector_env(tiny):
    venv = GenerationVectorEnv(num_envs=2, model=tiny, reward="luma")
    env = GymWrapper(venv, categorical_action_encoding=True, convert_actions_to_numpy=False)
    rollout = env.rollout(100)
    assert rollout.shape == (2, venv.core.num_steps)
    assert rollout["class_label"].shape == (2, venv.core.num_steps)  # not one-hot


def test_batch_size_keyword_and_its_error(tiny):
    env = GenerationTorchRLEnv(model=tiny, reward="luma", batch_size=[6])
    assert env.batch_size == torch.Size([6]) and env.core.num_envs == 6
    check_env_specs(env)
    import pytest

    with pytest.raises(ValueError, match=r"batch_size must have one dimension \[N\]"):
        GenerationTorchRLEnv(model=tiny, reward="luma", batch_size=[2, 3])
