"""A text-conditional generator (the fake family of `tests.fake_text`) through every layer above
`vargym.models`: the env checkers, the collector, training, resume and evaluation."""

from __future__ import annotations

import pytest
import torch
from gymnasium.utils.env_checker import check_env
from torchrl.envs.utils import check_env_specs

from tests.fake_text import PROMPTS, FakeTextGenerator, PromptCondition
from vargym.envs import GenerationEnv, GenerationTorchRLEnv, GenerationVectorEnv, GeneratorPolicy
from vargym.envs.collector import GroupedCollector
from vargym.evaluation import evaluate_model
from vargym.rewards import Reward, RewardContext
from vargym.train import TrainConfig, Trainer, read_metrics


class PromptEcho(Reward):
    """Scores an image by its own prompt (its length) and records every context it saw."""

    def __init__(self) -> None:
        super().__init__(name="prompt_echo")
        self.contexts: list[RewardContext] = []

    def score(self, images: torch.Tensor, context: RewardContext) -> torch.Tensor:
        self.contexts.append(context)
        assert context.image_prompts is not None and len(context.image_prompts) == images.shape[0]
        lengths = torch.tensor([len(p) for p in context.image_prompts], dtype=torch.float32)
        return images.mean(dim=(1, 2, 3)) + lengths / 100


def test_env_checkers_accept_the_text_condition():
    env = GenerationEnv(model=FakeTextGenerator(), reward=PromptEcho())
    check_env(env, skip_render_check=True)
    assert set(env.observation_space.spaces) == {"prompt_id", "step", "canvas"}
    obs, _ = env.reset(options={"prompt_id": 3})
    assert obs["prompt_id"] == 3
    torchrl_env = GenerationTorchRLEnv(num_envs=4, model=FakeTextGenerator(), reward=PromptEcho(), group_size=2)
    check_env_specs(torchrl_env)
    venv = GenerationVectorEnv(num_envs=2, model=FakeTextGenerator(), reward=PromptEcho())
    obs, _ = venv.reset(options={"condition": ["green stripes!", "a yellow sun"]})
    assert obs["prompt_id"].tolist() == [2, 4]


def test_policy_reads_the_condition_keys_of_its_generator():
    policy = GeneratorPolicy(FakeTextGenerator(), temperature=1.0)
    assert policy.in_keys == ["prompt_id", "step"]


def test_collector_writes_the_condition_and_rewards_see_each_prompt():
    reward = PromptEcho()
    collector = GroupedCollector(FakeTextGenerator(), reward, num_labels=3, group_size=2, seed=0,
                                 conditions=["a red square", "night sky (stars)"])
    batch = collector.collect()
    ids = batch["prompt_id"]
    assert torch.equal(batch["condition_id"], ids) and set(ids.tolist()) <= {0, 5}
    assert torch.equal(ids.view(3, 2)[:, 0], ids.view(3, 2)[:, 1])  # groups share their prompt
    assert reward.contexts[-1].image_prompts == [PROMPTS[i] for i in ids.tolist()]
    assert reward.contexts[-1].metadata == [{"index": i} for i in ids.tolist()]
    # chunked scoring gives each chunk its own rows' prompts
    chunked = GroupedCollector(FakeTextGenerator(), PromptEcho(), num_labels=4, group_size=2, seed=0, reward_chunks=2)
    batch = chunked.collect()
    last = chunked.reward.contexts[-1]
    assert last.image_prompts == [PROMPTS[i] for i in batch["prompt_id"][4:].tolist()]


def _config(out, **kw) -> TrainConfig:
    base = dict(model="random:fake-text", reward="luma", num_labels=2, group_size=2, minibatch_size=2, steps=2,
                lr=1e-2, sampling={"precision": "float32", "decode_precision": "float32"}, sample_every=1, eval_per_label=2,
                checkpoint_every=1, tensorboard=False, out=str(out), seed=1)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("algo, extra", [("grpo", {}), ("ppo", {}),
                                         ("reinforce", {"algo_kwargs": {"baseline": "ema", "per_condition": True}})])
def test_text_model_trains_resumes_and_evaluates(tmp_path, algo, extra):
    straight = Trainer(_config(tmp_path / "a", algo=algo, **extra), reward=PromptEcho())
    straight.train()
    first = Trainer(_config(tmp_path / "b", algo=algo, **extra), reward=PromptEcho())
    first.train(num_iterations=1)
    resumed = Trainer.from_checkpoint(tmp_path / "b", reward=PromptEcho())
    assert isinstance(resumed.generator, FakeTextGenerator) and resumed.iteration == 1
    resumed.train()
    a, b = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    for key in ("reward_mean", "loss", "kl_ref", "eval_reward_mean", "diversity_within"):
        assert [r.get(key) for r in a] == pytest.approx([r.get(key) for r in b], rel=1e-5, abs=1e-7), key
    assert (tmp_path / "a" / "samples" / "iter_000002.png").is_file()
    # the evaluation saw the eval prompts, G images each
    evaluation = straight.reward.reward.contexts[-1]
    assert evaluation.image_prompts == [p for p in PROMPTS[:6] for _ in range(2)]
    if algo == "reinforce":
        assert straight.algo.baseline.shape == (len(PROMPTS),)


def test_evaluate_model_takes_prompts():
    result = evaluate_model(FakeTextGenerator(), classes=(1, 4), labels_per_class=3, rewards=(PromptEcho(),),
                            suite="none", batch_size=4)
    assert result["num_samples"] == 6 and result["classes"] == [1, 4]
    assert "classifier" not in result


def test_a_class_label_given_to_the_text_model_is_refused():
    from vargym.models import ClassCondition

    generator = FakeTextGenerator()
    with pytest.raises(TypeError, match="text-conditional: pass prompts, not a ClassCondition"):
        generator.condition_source().coerce(ClassCondition(torch.tensor([0])))
    assert isinstance(generator.condition_source().coerce(["a yellow sun"]), PromptCondition)
