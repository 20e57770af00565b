"""Collectors: the rollout schema, grouping, log-prob agreement, and same-seed equality across four paths."""

import numpy as np
import pytest
import torch
from tensordict import TensorDict

from vargym.envs.collector import GroupedCollector, TorchRLGroupedCollector
from vargym.envs.gym_env import GenerationEnv, GenerationVectorEnv
from vargym.envs.policy import GeneratorPolicy

SAMPLING = {"temperature": 0.9, "top_k": 100}


def test_schema_and_grouping(tiny):
    vqvae, var = tiny
    collector = GroupedCollector((vqvae, var), "luma", num_labels=3, group_size=4, conditions=[1, 4, 8], seed=0)
    batch = collector.collect()
    N, L, K = 12, var.L, len(var.patch_nums)
    assert batch.batch_size == (N,)
    assert batch["tokens"].shape == batch["sample_log_prob"].shape == batch["step_index"].shape == (N, L)
    assert batch["step_reward"].shape == batch["done"].shape == (N, K)
    assert batch["done"][:, -1].all() and not batch["done"][:, :-1].any()
    assert (
        torch.equal(batch["reward"], batch["step_reward"][:, -1])
        and (batch["step_reward"][:, :-1] == 0).all()
    )
    assert torch.equal(batch["step_index"][0], var.lvl_1L[0])
    assert batch["group_id"].tolist() == [i // 4 for i in range(N)]
    labels = batch["labels"].view(3, 4)
    assert (labels == labels[:, :1]).all() and set(labels[:, 0].tolist()) <= {1, 4, 8}
    assert batch["images"].shape == (N, 3, 64, 64)
    torch.testing.assert_close(batch["reward_components", "luma"], batch["reward"])
    torch.testing.assert_close(
        batch["images"], vqvae.tokens_to_img([batch["tokens"][:, b:e] for b, e in var.begin_ends])
    )
    assert "images" not in GroupedCollector((vqvae, var), "luma", 1, 2, keep_images=False).collect().keys()


@pytest.mark.parametrize("cfg", [0.0, 1.5])
def test_sample_log_prob_matches_forward_rl(tiny, cfg):
    vqvae, var = tiny
    collector = GroupedCollector((vqvae, var), "luma", num_labels=2, group_size=2, cfg=cfg, seed=1, **SAMPLING)
    batch = collector.collect()
    ref = var.forward_rl(batch["labels"], batch["tokens"], cfg=cfg, **SAMPLING).log_probs
    assert (ref - batch["sample_log_prob"]).abs().max() <= 1e-4


def test_state_dict_resume(tiny):
    vqvae, var = tiny
    collector = GroupedCollector((vqvae, var), "luma", num_labels=2, group_size=2, seed=4)
    collector.collect()
    state = collector.state_dict()
    nxt = collector.collect()
    other = GroupedCollector((vqvae, var), "luma", num_labels=2, group_size=2, seed=99)
    other.load_state_dict(state)
    again = other.collect()
    assert torch.equal(again["tokens"], nxt["tokens"]) and torch.equal(again["labels"], nxt["labels"])
    with pytest.raises(KeyError, match="sample_generator"):
        other.load_state_dict({"label_generator": state["label_generator"]})


def _vector_env_tokens(tiny, seed, n, group_size):
    venv = GenerationVectorEnv(num_envs=n, model=tiny, reward="luma", group_size=group_size)
    policy = GeneratorPolicy(tiny[1], seed=seed, **SAMPLING)
    obs, _ = venv.reset(seed=seed)
    actions = []
    for _ in range(venv.core.num_steps):
        td = policy(TensorDict(obs, batch_size=[n]))
        actions.append(td["action"][td["token_mask"]].view(n, -1))
        obs, reward, terminated, _, _ = venv.step(td["action"])
    return obs["class_label"], torch.cat(actions, 1), reward


def _single_env_tokens(tiny, seed, label):
    env = GenerationEnv(model=tiny, reward="luma")
    policy = GeneratorPolicy(tiny[1], seed=seed, **SAMPLING)
    obs, _ = env.reset(seed=seed, options={"class_label": label})
    terminated = False
    while not terminated:
        td = policy(
            TensorDict(
                {"class_label": torch.tensor([obs["class_label"]]), "step": torch.tensor([obs["step"]])},
                batch_size=[1],
            )
        )
        obs, reward, terminated, _, _ = env.step(td["action"][0].numpy())
    return torch.from_numpy(obs["canvas"] - 1), reward


def test_same_seed_same_tokens_on_every_path(tiny):
    vqvae, var = tiny
    plain = GroupedCollector((vqvae, var), "luma", num_labels=2, group_size=3, seed=7, **SAMPLING)
    torchrl = TorchRLGroupedCollector((vqvae, var), "luma", num_labels=2, group_size=3, seed=7, **SAMPLING)
    try:
        for _ in range(2):  # the second batch checks that the generators advance alike
            a, b = plain.collect(), torchrl.collect()
            assert torch.equal(a["labels"], b["labels"]) and torch.equal(a["tokens"], b["tokens"])
            torch.testing.assert_close(a["sample_log_prob"], b["sample_log_prob"])
            torch.testing.assert_close(a["reward"], b["reward"])
    finally:
        torchrl.close()
    first = GroupedCollector((vqvae, var), "luma", num_labels=2, group_size=3, seed=7, **SAMPLING).collect()
    labels, tokens, reward = _vector_env_tokens(tiny, 7, 6, 3)
    assert torch.equal(labels, first["labels"]) and torch.equal(tokens, first["tokens"])
    torch.testing.assert_close(reward, first["reward"])
    one = GroupedCollector(
        (vqvae, var), "luma", num_labels=1, group_size=1, conditions=[5], seed=11, **SAMPLING
    ).collect()
    canvas, single_reward = _single_env_tokens(tiny, 11, 5)
    assert torch.equal(canvas, one["tokens"][0])
    assert single_reward == pytest.approx(float(one["reward"][0]), abs=1e-6)
    assert not torch.equal(
        tokens, GroupedCollector((vqvae, var), "luma", 2, 3, seed=8, **SAMPLING).collect()["tokens"]
    )


def test_bad_collector_arguments(tiny):
    vqvae, var = tiny
    with pytest.raises(ValueError, match="num_labels must be >= 1"):
        GroupedCollector((vqvae, var), "luma", num_labels=0)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        GroupedCollector((vqvae, var), "luma", conditions=[3, 12])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        GroupedCollector((vqvae, var), "luma", temperature=-1.0)
    with pytest.raises(ValueError, match="unknown reward"):
        GroupedCollector((vqvae, var), "no-such-reward")
    assert np.isfinite(GroupedCollector((vqvae, var), "luma", 1, 1).collect()["reward"].numpy()).all()


def test_decode_precision_reaches_the_core_on_both_paths(tiny):
    kwargs = dict(num_labels=1, group_size=2, seed=3, decode_precision="bfloat16", **SAMPLING)
    plain = GroupedCollector(tiny, "luma", **kwargs)
    torchrl = TorchRLGroupedCollector(tiny, "luma", **kwargs)
    try:
        assert plain.core.decode_precision == torchrl.core.decode_precision == "bfloat16"
        torch.testing.assert_close(plain.collect()["reward"], torchrl.collect()["reward"])
    finally:
        torchrl.close()


@pytest.mark.parametrize("group_seeds", [False, True])
def test_async_rewards_change_the_schedule_not_the_batch(tiny, group_seeds):
    kwargs = dict(num_labels=4, group_size=2, seed=7, group_seeds=group_seeds, reward_chunks=2, **SAMPLING)
    sync = GroupedCollector(tiny, "luma", **kwargs)
    overlapped = GroupedCollector(tiny, "luma", async_rewards=True, **kwargs)
    for _ in range(2):  # the second batch too: the streams stay in step
        a, b = sync.collect(), overlapped.collect()
        for key in ("labels", "tokens", "sample_log_prob", "reward", "step_reward", "images"):
            assert torch.equal(a[key], b[key]), key
        assert torch.equal(a["reward_components", "luma"], a["reward"])
    vqvae, var = tiny
    ref = var.forward_rl(a["labels"], a["tokens"], **SAMPLING).log_probs
    assert (ref - a["sample_log_prob"]).abs().max() <= 1e-4  # chunks sample the policy's distribution
    if group_seeds:  # with per-group seeds the chunking does not change the draws either
        whole = GroupedCollector(tiny, "luma", num_labels=4, group_size=2, seed=7, group_seeds=True, **SAMPLING)
        assert torch.equal(whole.collect()["tokens"], GroupedCollector(tiny, "luma", **kwargs).collect()["tokens"])
    with pytest.raises(ValueError, match="reward_chunks must be an int >= 1 dividing num_labels"):
        GroupedCollector(tiny, "luma", num_labels=3, group_size=2, reward_chunks=2)
    with pytest.raises(ValueError, match="drop reward_steps"):
        GroupedCollector(tiny, "luma", num_labels=2, group_size=2, reward_chunks=2, reward_steps=(1,))


@pytest.mark.parametrize("chunks", [1, 2])
def test_rewards_see_the_generators_class_names(chunks):
    """Prompt rewards fill {label} with the generator's own class names, on the plain and the chunked path."""
    from vargym.models import load_generator
    from vargym.rewards import FunctionReward

    generator = load_generator("tiny")  # the shipped model names its 10 classes
    seen = []

    def record(images, context):
        seen.append(context.prompts("a {label}"))
        return images.mean(dim=(1, 2, 3))

    collector = GroupedCollector(generator, FunctionReward(record, name="record"), num_labels=2, group_size=2,
                                 reward_chunks=chunks)
    batch = collector.collect()
    prompts = [p for part in seen for p in part]
    assert prompts == [f"a {generator.class_names[i]}" for i in batch["labels"].tolist()]
    assert generator.class_names is not None and prompts[0] != "a tench"  # not the ImageNet fallback
