"""The taming-transformers family through the same envs and collectors: checkers, chunked steps, log-probs."""

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from torchrl.envs.utils import check_env_specs

from vargym.envs.collector import GroupedCollector
from vargym.envs.gym_env import GenerationEnv
from vargym.envs.torchrl_env import GenerationTorchRLEnv
from vargym.models import ClassCondition, SamplingConfig, load_generator


def _vqgan(tokens_per_step: int):
    torch.manual_seed(0)
    return load_generator("random:tiny-vqgan", tokens_per_step=tokens_per_step)


@pytest.mark.parametrize("tokens_per_step", [1, 8])
def test_gymnasium_checker_and_episode(tokens_per_step):
    gen = _vqgan(tokens_per_step)
    env = gymnasium.make("vargym/Generate-v0", model=gen, reward="luma")
    check_env(env.unwrapped, skip_render_check=True)
    env = GenerationEnv(model=gen, reward="luma", conditions=[3])
    env.reset(seed=0)
    K = 64 // tokens_per_step
    assert env.core.num_steps == K and env.action_space.shape == (tokens_per_step,)
    for k in range(K):
        _, reward, terminated, truncated, info = env.step(np.full(tokens_per_step, 5, dtype=np.int64))
        assert terminated == (k == K - 1) and not truncated
    assert info["image"].shape == (3, 64, 64) and np.isfinite(reward)


def test_torchrl_check_env_specs_and_rollout():
    env = GenerationTorchRLEnv(num_envs=4, model=_vqgan(16), reward="luma", group_size=2)
    check_env_specs(env)
    rollout = env.rollout(100)
    assert rollout.shape == (4, 4) and rollout["next", "done"].squeeze(-1)[:, -1].all()


def test_collector_log_probs_match_the_one_pass():
    gen = _vqgan(8)
    sampling = dict(temperature=0.9, top_k=100)
    batch = GroupedCollector(gen, "luma", num_labels=2, group_size=3, seed=1, **sampling).collect()
    assert batch["tokens"].shape == (6, 64) and batch["step_reward"].shape == (6, 8)
    ref = gen.log_probs(ClassCondition(batch["labels"]), batch["tokens"], SamplingConfig(**sampling))
    assert (ref - batch["sample_log_prob"]).abs().max() <= 1e-4
    torch.testing.assert_close(batch["images"], gen.decode(batch["tokens"]))
