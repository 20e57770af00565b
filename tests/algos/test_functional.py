"""vargym.algos.functional against slow Python loops and torchrl's functional GAE."""

import math

import pytest
import torch

from vargym.algos import functional as F


def _std(xs):
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


@pytest.mark.parametrize("normalize_std", [True, False])
def test_group_advantages_matches_loop(normalize_std):
    rewards = torch.randn(12, dtype=torch.float64)
    got = F.group_advantages(rewards, group_size=4, normalize_std=normalize_std, eps=1e-4)
    r = rewards.tolist()
    for i in range(12):
        group = r[(i // 4) * 4 : (i // 4) * 4 + 4]
        want = r[i] - sum(group) / 4
        if normalize_std:
            want /= _std(group) + 1e-4
        assert got[i].item() == pytest.approx(want, rel=1e-10, abs=1e-12)


def test_group_advantages_equal_rewards_give_zero_and_bad_sizes_raise():
    assert torch.equal(F.group_advantages(torch.ones(6), 3), torch.zeros(6))
    with pytest.raises(ValueError, match=r"multiple of group_size \(4\)"):
        F.group_advantages(torch.ones(6), 4)
    with pytest.raises(ValueError, match="group_size must be >= 2"):
        F.group_advantages(torch.ones(6), 1)
    with pytest.raises(ValueError, match=r"rewards must be 1-D \[N\]"):
        F.group_advantages(torch.ones(6, 1), 2)


def test_leave_one_out_matches_loop():
    rewards = torch.randn(15, dtype=torch.float64)
    got = F.leave_one_out_baseline(rewards, group_size=5)
    r = rewards.tolist()
    for i in range(15):
        start = (i // 5) * 5
        others = [r[j] for j in range(start, start + 5) if j != i]
        assert got[i].item() == pytest.approx(sum(others) / 4, rel=1e-10)


def test_k3_kl_formula_and_properties():
    logp, ref = torch.randn(3, 7), torch.randn(3, 7)
    want = torch.exp(ref - logp) - (ref - logp) - 1
    torch.testing.assert_close(F.k3_kl(logp, ref), want)
    assert (F.k3_kl(logp, ref) >= 0).all()
    assert torch.equal(F.k3_kl(logp, logp), torch.zeros(3, 7))


def _gae_loop(rewards, values, dones, gamma, lam):
    n, k = rewards.shape
    adv = torch.zeros(n, k, dtype=rewards.dtype)
    for i in range(n):
        last = 0.0
        for t in reversed(range(k)):
            nonterminal = 0.0 if dones[i, t] else 1.0
            next_v = values[i, t + 1].item() if t + 1 < k else 0.0
            delta = rewards[i, t].item() + gamma * next_v * nonterminal - values[i, t].item()
            last = delta + gamma * lam * nonterminal * last
            adv[i, t] = last
    return adv


@pytest.mark.parametrize("gamma, lam", [(1.0, 0.95), (0.9, 0.5), (0.99, 1.0), (1.0, 0.0)])
def test_gae_matches_loop(gamma, lam):
    rewards = torch.randn(5, 6, dtype=torch.float64)
    values = torch.randn(5, 6, dtype=torch.float64)
    dones = torch.zeros(5, 6, dtype=torch.bool)
    dones[:, -1] = True
    dones[1, 2] = True  # an episode boundary in the middle (a new episode starts at step 3)
    adv, ret = F.gae(rewards, values, dones, gamma, lam)
    torch.testing.assert_close(adv, _gae_loop(rewards, values, dones, gamma, lam))
    torch.testing.assert_close(ret, adv + values)


def test_gae_lambda_one_terminal_reward_is_return_minus_value():
    rewards = torch.zeros(4, 3)
    rewards[:, -1] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    values = torch.randn(4, 3)
    dones = torch.zeros(4, 3, dtype=torch.bool)
    dones[:, -1] = True
    adv, ret = F.gae(rewards, values, dones, 1.0, 1.0)
    torch.testing.assert_close(ret, rewards[:, -1:].expand(4, 3))
    torch.testing.assert_close(adv, rewards[:, -1:] - values)


@pytest.mark.parametrize("gamma, lam", [(1.0, 0.95), (0.9, 0.7)])
def test_gae_matches_torchrl(gamma, lam):
    from torchrl.objectives.value.functional import generalized_advantage_estimate

    n, k = 6, 5
    rewards, values = torch.randn(n, k), torch.randn(n, k)
    dones = torch.zeros(n, k, dtype=torch.bool)
    dones[:, -1] = True
    dones[2, 1] = True
    next_values = torch.cat([values[:, 1:], torch.zeros(n, 1)], dim=1)  # [N, K]
    adv_rl, ret_rl = generalized_advantage_estimate(
        gamma,
        lam,
        values.unsqueeze(-1),
        next_values.unsqueeze(-1),
        rewards.unsqueeze(-1),
        done=dones.unsqueeze(-1),
        terminated=dones.unsqueeze(-1),
    )
    adv, ret = F.gae(rewards, values, dones, gamma, lam)
    torch.testing.assert_close(adv, adv_rl.squeeze(-1))
    torch.testing.assert_close(ret, ret_rl.squeeze(-1))


def test_gae_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"share one \[N, K\] shape"):
        F.gae(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 3, dtype=torch.bool))


def test_clipped_ratio_objective_matches_loop():
    logp, old, adv = torch.randn(4, 9) * 0.3, torch.randn(4, 9) * 0.3, torch.randn(4, 9)
    loss, ratio = F.clipped_ratio_objective(logp, old, adv, 0.2)
    for i in range(4):
        for t in range(9):
            r = math.exp(logp[i, t].item() - old[i, t].item())
            a = adv[i, t].item()
            want = -min(r * a, min(max(r, 0.8), 1.2) * a)
            assert loss[i, t].item() == pytest.approx(want, rel=1e-5, abs=1e-6)
            assert ratio[i, t].item() == pytest.approx(r, rel=1e-5)


def test_aggregate_modes_with_mask():
    x = torch.randn(3, 5)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 0, 0, 0, 1]], dtype=torch.bool)
    per_sample = [x[i][mask[i]].mean().item() for i in range(3)]
    assert F.aggregate(x, mask, "sample_mean").item() == pytest.approx(sum(per_sample) / 3, rel=1e-6)
    assert F.aggregate(x, mask, "token_mean").item() == pytest.approx(x[mask].mean().item(), rel=1e-6)
    assert F.aggregate(x, None, "sample_mean").item() == pytest.approx(x.mean().item(), rel=1e-6)
    with pytest.raises(ValueError, match="mode must be one of"):
        F.aggregate(x, mask, "sum")


def test_broadcast_pool_and_step_mask():
    step_values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    step_index = torch.tensor([[0, 1, 1, 2, 2, 2], [0, 0, 1, 1, 2, 2]])
    out = F.broadcast_step_to_tokens(step_values, step_index)
    assert out.tolist() == [[1, 2, 2, 3, 3, 3], [4, 4, 5, 5, 6, 6]]

    hidden = torch.randn(2, 6, 4)
    mask = torch.tensor([[1, 1, 0, 1, 1, 1], [1, 1, 0, 0, 1, 1]], dtype=torch.bool)
    pooled = F.pool_tokens_to_steps(hidden, step_index, 3, mask)
    for n in range(2):
        for k in range(3):
            sel = (step_index[n] == k) & mask[n]
            want = hidden[n][sel].mean(0) if sel.any() else torch.zeros(4)
            torch.testing.assert_close(pooled[n, k], want)
    assert F.step_mask_from_tokens(mask, step_index, 3).tolist() == [[True, True, True], [True, False, True]]
