"""GRPO variants (clip-higher, token-sum, GSPO, dynamic sampling), presets, adaptive entropy and PPO's
time-limit bootstrapping, each against a direct computation of its formula."""

import pytest
import torch
from tensordict import TensorDict

from vargym.algos import (
    ALGORITHM_PRESETS,
    GRPOConfig,
    GRPOLoss,
    PPOConfig,
    PPOLoss,
    make_algorithm,
    preset_fields,
)
from vargym.algos.functional import aggregate, clipped_ratio_objective, sequence_log_ratio


def _minibatch(n=4, t=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(n, t, generator=g) * 3
    log_prob = (old + 0.4 * torch.randn(n, t, generator=g)).requires_grad_(True)
    advantage = torch.randn(n, 1, generator=g).expand(n, t).contiguous()
    return TensorDict({"log_prob": log_prob, "old_log_prob": old, "advantage": advantage}, batch_size=[n])


def test_clip_higher_is_the_asymmetric_formula():
    td = _minibatch()
    ratio = (td["log_prob"] - td["old_log_prob"]).exp()
    a = td["advantage"]
    expected = -torch.minimum(ratio * a, ratio.clamp(1 - 0.2, 1 + 0.28) * a)
    loss, _ = clipped_ratio_objective(td["log_prob"], td["old_log_prob"], a, 0.2, 0.28)
    torch.testing.assert_close(loss, expected)
    out = GRPOLoss(GRPOConfig(group_size=2, beta=0.0, clip_epsilon_high=0.28, aggregation="token_mean"))(td)
    torch.testing.assert_close(out["loss_policy"], expected.mean())


def test_token_sum_divides_by_a_constant():
    per_token = torch.arange(12.0).view(3, 4)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 1]], dtype=torch.bool)
    assert aggregate(per_token, mask, "token_sum").item() == pytest.approx((per_token * mask).sum().item() / 12)
    assert aggregate(per_token, None, "token_sum").item() == pytest.approx(per_token.mean().item())


def test_gspo_uses_one_length_normalised_ratio_per_sample():
    td = _minibatch()
    seq = (td["log_prob"] - td["old_log_prob"]).mean(1, keepdim=True)  # [N, 1]
    torch.testing.assert_close(sequence_log_ratio(td["log_prob"], td["old_log_prob"]), seq)
    s, a = seq.exp(), td["advantage"][:, :1]
    eps_low, eps_high = 0.1, 0.15
    expected = -torch.minimum(s * a, s.clamp(1 - eps_low, 1 + eps_high) * a).mean()
    algo = GRPOLoss(GRPOConfig(group_size=2, beta=0.0, ratio_level="sequence", clip_epsilon=eps_low,
                               clip_epsilon_high=eps_high))
    out = algo(td)
    torch.testing.assert_close(out["loss_policy"], expected)
    out["loss_policy"].backward()
    grad = td["log_prob"].grad  # [N, T]: the sequence ratio spreads one gradient over the sample's tokens
    torch.testing.assert_close(grad, grad[:, :1].expand_as(grad))


def test_dynamic_sampling_drops_groups_without_signal():
    rewards = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.5, 0.5])  # groups of 2: equal, informative, equal
    batch = TensorDict({"reward": rewards, "tokens": torch.zeros(6, 3, dtype=torch.long)}, batch_size=[6])
    algo = GRPOLoss(GRPOConfig(group_size=2, beta=0.0, dynamic_sampling=True, aggregation="token_mean"))
    batch = algo.compute_advantages(batch)
    assert batch["token_mask"][:, 0].tolist() == [False, False, True, True, False, False]
    td = _minibatch(n=6, t=3)
    td["advantage"] = batch["advantage"]
    td["token_mask"] = batch["token_mask"]
    kept = td[2:4]
    expected = GRPOLoss(GRPOConfig(group_size=2, beta=0.0, aggregation="token_mean"))(
        TensorDict({k: kept[k] for k in ("log_prob", "old_log_prob", "advantage")}, batch_size=[2]))
    torch.testing.assert_close(algo(td)["loss_policy"], expected["loss_policy"])


@pytest.mark.parametrize("name", sorted(ALGORITHM_PRESETS))
def test_presets_are_registered_configs(name):
    algo = make_algorithm(name, group_size=4) if name != "rloo" else make_algorithm(name, group_size=4)
    for field, value in preset_fields(name).items():
        assert getattr(algo.config, field) == value
    assert make_algorithm(name, beta=0.5, group_size=4).config.beta == 0.5  # the run's settings win


def test_adaptive_entropy_moves_the_coefficient_toward_the_target_and_is_checkpointed():
    td = _minibatch()
    td["entropy"] = torch.full((4, 5), 1.0)
    algo = GRPOLoss(GRPOConfig(group_size=2, beta=0.0, entropy_coef=0.01, entropy_target=2.0,
                               entropy_adapt_rate=0.1))
    out = algo(td)
    assert out["entropy_coef"].item() == pytest.approx(0.01)
    assert out["loss_entropy"].item() == pytest.approx(-0.01 * 1.0)
    assert algo.entropy_coef_value.item() == pytest.approx(0.01 + 0.1 * (2.0 - 1.0))  # below target: grows
    td["entropy"] = torch.full((4, 5), 5.0)
    for _ in range(5):
        algo(td)
    assert algo.entropy_coef_value.item() == 0.0  # above target: shrinks, never below 0
    clone = GRPOLoss(GRPOConfig(group_size=2, entropy_target=2.0))
    clone.load_state_dict(algo.state_dict())
    assert clone.entropy_coef_value.item() == 0.0


def test_ppo_bootstraps_truncated_episodes_on_cartpole():
    """CartPole under a time limit: an episode cut at the limit is not terminal, so its last step's return
    bootstraps from V(s_next); an episode that fell over gets no bootstrap."""
    import gymnasium

    K = 20
    env = gymnasium.make("CartPole-v1", max_episode_steps=K)
    value_of = lambda obs: 10.0 + float(obs[0])  # noqa: E731 - a fixed, state-dependent value function
    rows = []
    for seed in range(12):
        obs, _ = env.reset(seed=seed)
        rewards, values, terminated, bootstrap = [], [], [], 0.0
        for step in range(K):
            values.append(value_of(obs))
            action = (seed + step) % 2 if seed % 3 else 0  # constant pushes fall over before the limit
            obs, reward, term, trunc, _ = env.step(action)
            rewards.append(reward)
            terminated.append(term)
            if term or trunc:
                bootstrap = 0.0 if term else value_of(obs)
                break
        pad = K - len(rewards)
        rows.append((rewards + [0.0] * pad, values + [0.0] * pad, terminated + [True] * pad, bootstrap, len(rewards)))
    assert any(r[4] < K for r in rows) and any(r[4] == K and not r[2][-1] for r in rows)  # both kinds occur
    n = len(rows)
    step_reward = torch.tensor([r[0] for r in rows])
    old_value = torch.tensor([r[1] for r in rows])
    terminated = torch.tensor([r[2] for r in rows])
    batch = TensorDict({
        "step_reward": step_reward, "old_value": old_value, "terminated": terminated,
        "done": torch.ones(n, K, dtype=torch.bool), "next_value": torch.tensor([r[3] for r in rows]),
        "step_index": torch.arange(K).expand(n, -1).clone(), "tokens": torch.zeros(n, K, dtype=torch.long),
    }, batch_size=[n])
    gamma = 0.9
    algo = PPOLoss(PPOConfig(gamma=gamma, gae_lambda=0.0, normalize_advantage=False))
    returns = algo.compute_advantages(batch)["return"]
    for i, (rewards, _values, term, boot, length) in enumerate(rows):
        last = length - 1
        expected = rewards[last] + (0.0 if term[last] else gamma * boot)
        assert returns[i, last].item() == pytest.approx(expected), (i, length, term[last])
        if not term[last]:
            assert returns[i, last].item() > rewards[last] + 8  # V(s_next) ~ 10 was used, not 0


def _stepped_minibatch():
    td = _minibatch(n=3, t=6)
    td["step_index"] = torch.tensor([[0, 1, 1, 2, 2, 2]] * 3)  # steps of 1, 2 and 3 tokens
    return td


def test_step_weights_give_each_step_its_share():
    td = _stepped_minibatch()
    per_token = GRPOLoss(GRPOConfig(group_size=3, beta=0.0))._policy_loss(td, None)[0].detach()  # [N, T]
    w = torch.tensor([6 / 3 / 1, 6 / 3 / 2, 6 / 3 / 2, 6 / 3 / 3, 6 / 3 / 3, 6 / 3 / 3])  # T / (K * n_k)
    out = GRPOLoss(GRPOConfig(group_size=3, beta=0.0, step_weights="step"))(td)
    torch.testing.assert_close(out["loss_policy"].detach(), (per_token * w).mean(1).mean())
    custom = GRPOLoss(GRPOConfig(group_size=3, beta=0.0, step_weights=(0.0, 0.0, 1.0)))(td)
    torch.testing.assert_close(custom["loss_policy"].detach(), per_token[:, 3:].mean(1).mean())  # last step only
    with pytest.raises(ValueError, match="step_weights has 2 weights but the episodes have 3 steps"):
        GRPOLoss(GRPOConfig(group_size=3, step_weights=(1.0, 1.0)))(td)


def test_train_steps_leaves_later_steps_without_gradient():
    td = _stepped_minibatch()
    out = GRPOLoss(GRPOConfig(group_size=3, beta=0.0, train_steps=2))(td)
    out["loss_policy"].backward()
    grad = td["log_prob"].grad
    assert bool((grad[:, 3:] == 0).all()) and bool((grad[:, :3] != 0).any())


def test_grpo_step_advantages_normalise_returns_to_go_per_step():
    step_reward = torch.tensor([[0.0, 0.2, 1.0], [0.0, 0.6, 0.0], [0.0, 0.1, 0.5], [0.0, 0.3, 0.5]])  # [N, K]
    step_index = torch.tensor([[0, 1, 1, 2]] * 4)
    batch = TensorDict({"reward": step_reward[:, -1], "step_reward": step_reward, "step_index": step_index,
                        "tokens": torch.zeros(4, 4, dtype=torch.long)}, batch_size=[4])
    algo = GRPOLoss(GRPOConfig(group_size=2, step_advantages=True, normalize_std=False))
    adv = algo.compute_advantages(batch)["advantage"]  # [N, T]
    to_go = torch.tensor([[1.2, 1.2, 1.0], [0.6, 0.6, 0.0], [0.6, 0.6, 0.5], [0.8, 0.8, 0.5]])
    centred = to_go - to_go.view(2, 2, 3).mean(1, keepdim=True).repeat_interleave(2, 1).view(4, 3)
    torch.testing.assert_close(adv, centred[:, [0, 1, 1, 2]])
