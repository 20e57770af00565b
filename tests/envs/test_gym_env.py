"""gymnasium adapters: check_env, registration, make / make_vec, the vector env's contract."""

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import vargym.envs
from vargym.envs.gym_env import GenerationEnv, GenerationVectorEnv


def test_single_env_passes_check_env(tiny):
    env = gymnasium.make("vargym/VAR-v0", model=tiny, reward="luma")
    check_env(env.unwrapped, skip_render_check=True)


def test_single_env_episode(tiny):
    env = GenerationEnv(model=tiny, reward="luma", conditions=[4])
    obs, _ = env.reset(seed=3)
    assert obs["class_label"] == 4 and obs["step"] == 0 and (obs["canvas"] == 0).all()
    obs, _ = env.reset(options={"class_label": 6})
    assert obs["class_label"] == 6
    K = env.core.num_steps
    for k in range(K):
        action = np.full(env.action_space.shape, 7, dtype=np.int64)
        obs, reward, terminated, truncated, info = env.step(action)
        assert not truncated and terminated == (k == K - 1)
        assert env.observation_space.contains(obs)
    assert (obs["canvas"] == 8).all()  # token 7 stored as 7 + 1; padding entries were ignored
    assert info["image"].shape == (3, 64, 64) and set(info["reward_components"]) == {"luma"}
    assert reward == pytest.approx(info["reward_components"]["luma"])
    assert env.render().shape == (64, 64, 3)


def test_single_env_errors(tiny):
    env = GenerationEnv(model=tiny, reward="luma")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be an integer array of shape \(64,\)"):
        env.step(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="group_size must be 1"):
        GenerationEnv(model=tiny, reward="luma", group_size=2)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        env.reset(options={"class_label": 11})


def test_registration_is_cheap_and_idempotent():
    import importlib
    import subprocess
    import sys

    code = (
        "import sys, gymnasium, vargym.envs; gymnasium.spec('vargym/VAR-v0'); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # registering imports no torch

    importlib.reload(vargym.envs)
    spec = gymnasium.spec("vargym/VAR-v0")
    assert spec.entry_point == "vargym.envs.gym_env:GenerationEnv"
    assert spec.vector_entry_point == "vargym.envs.gym_env:GenerationVectorEnv"


def test_make_vec_groups_and_tensors(tiny):
    venv = gymnasium.make_vec(
        "vargym/VAR-v0",
        num_envs=6,
        vectorization_mode="vector_entry_point",
        model=tiny,
        reward="luma",
        group_size=3,
    )
    assert isinstance(venv, GenerationVectorEnv)
    assert venv.autoreset_mode == AutoresetMode.DISABLED
    assert venv.metadata["autoreset_mode"] == AutoresetMode.DISABLED
    obs, _ = venv.reset(seed=0)
    labels = obs["class_label"]
    assert isinstance(labels, torch.Tensor) and labels.shape == (6,)
    assert torch.equal(labels.view(2, 3), labels.view(2, 3)[:, :1].expand(2, 3))
    assert obs["canvas"].shape == (6, venv.core.T)
    for k in range(venv.core.num_steps):
        actions = torch.randint(0, 512, (6, venv.core.max_tokens))
        obs, reward, terminated, truncated, info = venv.step(actions)
        assert reward.shape == (6,) and terminated.dtype == torch.bool and not truncated.any()
        assert bool(terminated.all()) == (k == venv.core.num_steps - 1)
    assert info["image"].shape == (6, 3, 64, 64)
    torch.testing.assert_close(reward, info["reward_components"]["luma"])
    obs2, _ = venv.reset(seed=0)
    assert torch.equal(obs2["class_label"], labels)  # same seed, same labels
    obs3, _ = venv.reset(options={"labels": torch.arange(6)})
    assert obs3["class_label"].tolist() == list(range(6))


def test_vector_env_errors(tiny):
    venv = GenerationVectorEnv(num_envs=2, model=tiny, reward="luma")
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must have shape \(2, 64\)"):
        venv.step(torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="must lie in"):
        venv.step(torch.full((2, 64), -1))
    with pytest.raises(ValueError, match="max_episode_steps=3 would cut episodes of 6 steps"):
        GenerationVectorEnv(num_envs=2, model=tiny, reward="luma", max_episode_steps=3)
