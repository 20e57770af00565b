"""The envs with a text model: prompts in the observation, specs the gymnasium and torchrl checkers accept."""

import pytest
import torch

PROMPTS = ["a red cat", "a dog, sleeping!", "naïve café (test)"]


@pytest.fixture
def fast_text_generator(text_generator):
    text_generator.set_tokens_per_step(16)
    return text_generator


def test_gymnasium_env_holds_the_prompt(fast_text_generator):
    from gymnasium.utils.env_checker import check_env

    from vargym.envs import GenerationEnv

    env = GenerationEnv(model=fast_text_generator, reward="luma", conditions=PROMPTS)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0, options={"prompt": PROMPTS[2]})
    assert obs["prompt"] == PROMPTS[2] and obs["prompt_id"] == 2
    with pytest.raises(ValueError, match="outside this env's observation space"):
        env.reset(options={"prompt": "a prompt the env was not made with"})


def test_vector_env_groups_share_a_prompt(fast_text_generator):
    from vargym.envs import GenerationVectorEnv

    venv = GenerationVectorEnv(4, model=fast_text_generator, reward="luma", conditions=PROMPTS, group_size=2)
    obs, _ = venv.reset(seed=1)
    assert venv.observation_space.contains({k: v.numpy() if torch.is_tensor(v) else v for k, v in obs.items()})
    assert obs["prompt"][0] == obs["prompt"][1] and obs["prompt"][2] == obs["prompt"][3]
    assert [PROMPTS[i] for i in obs["prompt_id"].tolist()] == list(obs["prompt"])


def test_torchrl_env_specs_and_rollout(fast_text_generator):
    from torchrl.envs.utils import check_env_specs

    from vargym.envs import GenerationTorchRLEnv

    env = GenerationTorchRLEnv(4, model=fast_text_generator, reward="luma", conditions=PROMPTS, group_size=2)
    check_env_specs(env)
    rollout = env.rollout(10)
    prompts = rollout.get("prompt").tolist()
    ids = rollout["prompt_id"]
    assert all(prompts[i][t] == PROMPTS[int(ids[i, t])] for i in range(4) for t in range(rollout.shape[1]))


def test_reward_context_holds_each_images_prompt(fast_text_generator):
    from vargym.envs.core import GenerationCore

    core = GenerationCore(fast_text_generator, "luma", num_envs=4, conditions=PROMPTS, group_size=2)
    condition = core.reset(generator=torch.Generator().manual_seed(0))
    context = core.reward_context()
    assert context.image_prompts == condition.prompts and context.labels is None
    assert context.index(slice(2, 4)).image_prompts == condition.prompts[2:]
