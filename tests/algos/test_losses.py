"""Each loss against a slow computation from its formula; registry, configs, buffers, errors."""

import dataclasses
import math

import pytest
import torch
from tensordict import TensorDict

from vargym.algos import (
    ALGORITHMS,
    GRPOConfig,
    GRPOLoss,
    PPOConfig,
    PPOLoss,
    ReinforceConfig,
    ReinforceLoss,
    config_class,
    field_docs,
    make_algorithm,
)

N, T, K, G = 8, 6, 3, 4
STEP_INDEX = torch.tensor([0, 1, 1, 2, 2, 2]).expand(N, T)


def make_batch(mask: bool = False, dtype=torch.float64) -> TensorDict:
    """A random rollout + trainer batch following the architecture contract."""
    step_reward = torch.zeros(N, K, dtype=dtype)
    reward = torch.rand(N, dtype=dtype)
    step_reward[:, -1] = reward
    done = torch.zeros(N, K, dtype=torch.bool)
    done[:, -1] = True
    old = -torch.rand(N, T, dtype=dtype) * 2
    td = TensorDict(
        {
            "condition_id": torch.arange(N) // G,
            "group_id": torch.arange(N) // G,
            "tokens": torch.randint(0, 8, (N, T)),
            "step_index": STEP_INDEX.clone(),
            "sample_log_prob": old.clone(),
            "reward": reward,
            "step_reward": step_reward,
            "done": done,
            "old_log_prob": old,
            "ref_log_prob": old + 0.3 * torch.randn(N, T, dtype=dtype),
            "old_value": torch.randn(N, K, dtype=dtype),
            "log_prob": (old + 0.3 * torch.randn(N, T, dtype=dtype)).requires_grad_(),
            "entropy": torch.rand(N, T, dtype=dtype),
            "value": torch.randn(N, K, dtype=dtype).requires_grad_(),
        },
        batch_size=[N],
    )
    if mask:
        token_mask = torch.ones(N, T, dtype=torch.bool)
        token_mask[0, 4:] = False
        token_mask[3, 1:] = False
        td["token_mask"] = token_mask
    return td


def _valid(td, i):
    return [t for t in range(T) if "token_mask" not in td.keys() or td["token_mask"][i, t]]


def _slow_aggregate(td, per_token, mode):
    """per_token: python function (i, t) -> float."""
    if mode == "sample_mean":
        return sum(sum(per_token(i, t) for t in _valid(td, i)) / len(_valid(td, i)) for i in range(N)) / N
    cells = [(i, t) for i in range(N) for t in _valid(td, i)]
    return sum(per_token(i, t) for i, t in cells) / len(cells)


def _k3(td, i, t):
    d = td["ref_log_prob"][i, t].item() - td["log_prob"][i, t].item()
    return math.exp(d) - d - 1


def _clip_obj(td, i, t, eps):
    r = math.exp(td["log_prob"][i, t].item() - td["old_log_prob"][i, t].item())
    a = td["advantage"][i, t].item()
    return -min(r * a, min(max(r, 1 - eps), 1 + eps) * a)


@pytest.mark.parametrize("mask", [False, True])
@pytest.mark.parametrize("mode", ["sample_mean", "token_mean"])
@pytest.mark.parametrize("normalize_std", [True, False])
def test_grpo_matches_formula(mask, mode, normalize_std):
    cfg = GRPOConfig(group_size=G, beta=0.2, entropy_coef=0.01, aggregation=mode, normalize_std=normalize_std)
    algo = GRPOLoss(cfg)
    td = algo.compute_advantages(make_batch(mask))
    r = td["reward"].tolist()
    for i in range(N):
        group = r[(i // G) * G : (i // G) * G + G]
        mean = sum(group) / G
        std = math.sqrt(sum((x - mean) ** 2 for x in group) / (G - 1))
        want = (r[i] - mean) / (std + 1e-4) if normalize_std else r[i] - mean
        assert td["advantage"][i].tolist() == pytest.approx([want] * T, rel=1e-9)
    out = algo(td)
    assert out["loss_policy"].item() == pytest.approx(
        _slow_aggregate(td, lambda i, t: _clip_obj(td, i, t, 0.2), mode)
    )
    kl = _slow_aggregate(td, lambda i, t: _k3(td, i, t), mode)
    assert out["loss_kl"].item() == pytest.approx(0.2 * kl)
    assert out["kl_ref"].item() == pytest.approx(kl)
    ent = _slow_aggregate(td, lambda i, t: td["entropy"][i, t].item(), mode)
    assert out["loss_entropy"].item() == pytest.approx(-0.01 * ent)
    cells = [(i, t) for i in range(N) for t in _valid(td, i)]
    ratios = [math.exp(td["log_prob"][i, t].item() - td["old_log_prob"][i, t].item()) for i, t in cells]
    assert out["clip_fraction"].item() == pytest.approx(sum(abs(x - 1) > 0.2 for x in ratios) / len(cells))
    assert out["approx_kl"].item() == pytest.approx(sum(x - 1 - math.log(x) for x in ratios) / len(cells))
    for key in ("clip_fraction", "approx_kl", "kl_ref", "entropy", "advantage_mean", "advantage_std"):
        assert not out[key].requires_grad


@pytest.mark.parametrize("mask", [False, True])
@pytest.mark.parametrize("value_clip", [0.2, None])
def test_ppo_matches_formula(mask, value_clip):
    gamma, lam = 0.9, 0.8
    cfg = PPOConfig(gamma=gamma, gae_lambda=lam, value_clip=value_clip, beta=0.1, aggregation="token_mean")
    algo = PPOLoss(cfg)
    td = algo.compute_advantages(make_batch(mask))
    sr, v = td["step_reward"], td["old_value"]
    raw = torch.zeros(N, K, dtype=torch.float64)
    for i in range(N):
        last = 0.0
        for k in reversed(range(K)):
            nxt = v[i, k + 1].item() if k + 1 < K else 0.0
            last = sr[i, k].item() + gamma * nxt - v[i, k].item() + gamma * lam * last
            raw[i, k] = last
    step_ok = [[any(STEP_INDEX[i, t] == k for t in _valid(td, i)) for k in range(K)] for i in range(N)]
    cells = [(i, k) for i in range(N) for k in range(K) if step_ok[i][k]]
    vals = [raw[i, k].item() for i, k in cells]
    mean = sum(vals) / len(vals)
    std = math.sqrt(sum((x - mean) ** 2 for x in vals) / len(vals))
    for i in range(N):
        for t in range(T):
            want = (raw[i, STEP_INDEX[i, t]].item() - mean) / (std + 1e-8)
            assert td["advantage"][i, t].item() == pytest.approx(want, rel=1e-9)
    torch.testing.assert_close(td["return"], raw + v)
    out = algo(td)
    assert out["loss_policy"].item() == pytest.approx(
        _slow_aggregate(td, lambda i, t: _clip_obj(td, i, t, 0.2), "token_mean")
    )
    assert out["loss_kl"].item() == pytest.approx(
        0.1 * _slow_aggregate(td, lambda i, t: _k3(td, i, t), "token_mean")
    )
    errs = []
    for i, k in cells:
        new, old, ret = td["value"][i, k].item(), td["old_value"][i, k].item(), td["return"][i, k].item()
        e = (new - ret) ** 2
        if value_clip is not None:
            e = max(e, (old + min(max(new - old, -value_clip), value_clip) - ret) ** 2)
        errs.append(e)
    assert out["value_loss"].item() == pytest.approx(0.5 * sum(errs) / len(errs))
    assert out["loss_value"].item() == pytest.approx(0.5 * 0.5 * sum(errs) / len(errs))
    out["loss_value"].backward()
    assert td["value"].grad.abs().sum() > 0


@pytest.mark.parametrize("mode", ["sample_mean", "token_mean"])
def test_reinforce_rloo_matches_formula(mode):
    algo = ReinforceLoss(ReinforceConfig(baseline="rloo", group_size=G, beta=0.05, aggregation=mode))
    td = algo.compute_advantages(make_batch(mask=True))
    r = td["reward"].tolist()
    for i in range(N):
        others = [r[j] for j in range((i // G) * G, (i // G) * G + G) if j != i]
        assert td["advantage"][i, 0].item() == pytest.approx(r[i] - sum(others) / (G - 1))
    out = algo(td)
    want = _slow_aggregate(td, lambda i, t: -td["advantage"][i, t].item() * td["log_prob"][i, t].item(), mode)
    assert out["loss_policy"].item() == pytest.approx(want)
    assert out["loss_kl"].item() == pytest.approx(
        0.05 * _slow_aggregate(td, lambda i, t: _k3(td, i, t), mode)
    )


def test_reinforce_ema_global_and_per_condition_with_state_dict():
    algo = ReinforceLoss(ReinforceConfig(baseline="ema", ema_momentum=0.5))
    b1 = make_batch()
    algo.compute_advantages(b1)
    m1 = b1["reward"].mean().item()
    # first batch: baseline starts at its own mean, advantage = r - m1, then EMA(m1, m1) = m1
    torch.testing.assert_close(b1["advantage"][:, 0], b1["reward"] - m1)
    b2 = make_batch()
    algo.compute_advantages(b2)
    torch.testing.assert_close(b2["advantage"][:, 0], b2["reward"] - m1)  # pre-update baseline
    assert algo.baseline.item() == pytest.approx(0.5 * m1 + 0.5 * b2["reward"].mean().item())

    per = ReinforceLoss(ReinforceConfig(baseline="ema", per_condition=True, num_conditions=4, ema_momentum=0.9))
    b = make_batch()
    per.compute_advantages(b)
    for lab in range(N // G):
        sel = b["condition_id"] == lab
        torch.testing.assert_close(b["advantage"][sel, 0], b["reward"][sel] - b["reward"][sel].mean())
    assert per.baseline_initialized.tolist() == [True, True, False, False]
    clone = ReinforceLoss(ReinforceConfig(baseline="ema", per_condition=True, num_conditions=4))
    clone.load_state_dict(per.state_dict())
    torch.testing.assert_close(clone.baseline, per.baseline)
    b["condition_id"][0] = 4
    with pytest.raises(ValueError, match=r"condition_id must lie in 0..num_conditions-1 = 0..3"):
        per.compute_advantages(b)


def test_reinforce_deprecated_per_label_names_still_work():
    with pytest.warns(DeprecationWarning, match="per_label is deprecated: use per_condition"):
        config = ReinforceConfig(baseline="ema", per_label=True, num_classes=4)
    assert (config.per_condition, config.num_conditions, config.per_label, config.num_classes) == (True, 4, None, None)
    assert ReinforceLoss(config).baseline.shape == (4,)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_algorithm_makes_one_finite_update(name):
    torch.manual_seed(0)
    overrides = {"group_size": G} if name in ("grpo", "reinforce") else {}
    algo = make_algorithm(name, beta=0.1, **overrides)
    assert algo.name == name and algo.uses_reference and algo.uses_value == (name == "ppo")
    logits = torch.zeros(8, requires_grad=True)
    value_param = torch.zeros(K, requires_grad=True)
    td = make_batch(dtype=torch.float32)
    td["log_prob"] = torch.log_softmax(logits, 0)[td["tokens"]]
    td["value"] = value_param.expand(N, K)
    td = algo.compute_advantages(td)
    out = algo(td)
    loss = sum(v for k, v in out.items() if k.startswith("loss_"))
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    if name == "ppo":
        assert value_param.grad.abs().sum() > 0
    assert all(torch.isfinite(v) for v in out.values())


def test_registry_and_config_class():
    assert config_class("ppo") is PPOConfig
    with pytest.raises(
        ValueError, match=r"unknown algorithm 'gpro'; allowed: grpo, ppo, reinforce \(presets: dapo, dr-grpo, gspo, rloo, var-grpo\). Did you mean 'grpo'"
    ):
        make_algorithm("gpro")
    with pytest.raises(TypeError, match="group_size"):
        make_algorithm("ppo", group_size=4)
    assert make_algorithm("grpo").config == GRPOConfig()
    assert GRPOConfig().clip_epsilon == 0.2 and GRPOConfig().beta == 0.1 and GRPOConfig().group_size == 16
    assert not make_algorithm("ppo").uses_reference and PPOConfig().beta == 0.0


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (GRPOConfig, {"clip_epsilon": 0.0}, r"clip_epsilon must be in \(0.0, 1.0\], got 0.0"),
        (GRPOConfig, {"group_size": 1}, r"group_size must be in \[2, inf\], got 1"),
        (GRPOConfig, {"beta": -0.1}, r"beta must be in \[0.0, inf\]"),
        (GRPOConfig, {"aggregation": "sum"}, r"aggregation must be one of \('sample_mean', 'token_mean', 'token_sum'\)"),
        (PPOConfig, {"gae_lambda": 1.5}, r"gae_lambda must be in \[0.0, 1.0\], got 1.5"),
        (PPOConfig, {"gamma": -1.0}, r"gamma must be in \[0.0, 1.0\]"),
        (PPOConfig, {"value_clip": 0.0}, r"value_clip must be in \(0.0, inf\]"),
        (PPOConfig, {"entropy_coef": -1.0}, r"entropy_coef must be in \[0.0, inf\]"),
        (ReinforceConfig, {"baseline": "mean"}, r"baseline must be one of \('ema', 'rloo'\), got 'mean'"),
        (ReinforceConfig, {"ema_momentum": 1.2}, r"ema_momentum must be in \[0.0, 1.0\]"),
    ],
)
def test_config_validation(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("cls", [GRPOConfig, PPOConfig, ReinforceConfig])
def test_configs_frozen_and_every_field_documented(cls):
    cfg = cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.beta = 1.0  # type: ignore[misc]
    docs = field_docs(cls)
    assert set(docs) == {f.name for f in dataclasses.fields(cls)}
    assert all(len(text) > 10 for text in docs.values())


def test_missing_keys_and_group_ids_raise_specific_errors():
    td = make_batch()
    del td["old_value"]
    with pytest.raises(KeyError, match="'old_value' is missing .* written by the trainer"):
        PPOLoss().compute_advantages(td)
    td = make_batch()
    del td["ref_log_prob"]
    algo = GRPOLoss(GRPOConfig(group_size=G))
    with pytest.raises(KeyError, match="'ref_log_prob' is missing"):
        algo(algo.compute_advantages(td))
    td = make_batch()
    td["group_id"] = torch.arange(N) % 2
    with pytest.raises(ValueError, match="group_id must be arange"):
        algo.compute_advantages(td)
    with pytest.raises(TypeError, match="GRPOLoss expects a GRPOConfig, got PPOConfig"):
        GRPOLoss(PPOConfig())


@pytest.mark.parametrize("name", ["grpo", "ppo"])
def test_finish_metrics_gives_the_whole_minibatch_statistics_from_its_halves(name):
    """Averaging the moment_* outputs of two halves, then finish_metrics, gives the figures of the whole
    minibatch: what the trainer does over micro-batches and torchrun ranks."""
    algo = make_algorithm(name, **({"group_size": G} if name == "grpo" else {}))
    batch = algo.compute_advantages(make_batch())
    whole = {k: float(v) for k, v in algo(batch).items()}
    halves = [{k: float(v) for k, v in algo(batch[rows]).items()} for rows in (slice(0, N // 2), slice(N // 2, N))]
    mean = {k: (halves[0][k] + halves[1][k]) / 2 for k in halves[0]}
    finished = algo.finish_metrics(mean)
    assert not any(k.startswith("moment_") for k in finished)
    for key in ("advantage_std", "explained_variance") if name == "ppo" else ("advantage_std",):
        assert finished[key] == pytest.approx(whole[key], rel=1e-9, abs=1e-12), key
