"""GeneratorPolicy: padded outputs, log-probs under the sampling distribution, order checks."""

import pytest
import torch
from tensordict import TensorDict

from vargym.envs.policy import GeneratorPolicy


def _td(labels, k):
    return TensorDict(
        {"class_label": labels, "step": torch.full_like(labels, k)}, batch_size=[labels.shape[0]]
    )


@pytest.mark.parametrize("cfg", [0.0, 2.0])
def test_outputs_match_forward_rl(tiny, cfg):
    _, var = tiny
    policy = GeneratorPolicy(var, temperature=0.8, cfg=cfg, top_k=40, seed=0)
    labels = torch.tensor([1, 2, 3])
    tokens, log_probs = [], []
    for k, pn in enumerate(var.patch_nums):
        td = policy(_td(labels, k))
        n = pn * pn
        assert td["action"].shape == (3, 64) and td["token_mask"].sum(1).tolist() == [n] * 3
        assert (td["action"][:, n:] == 0).all() and (td["action_log_prob"][:, n:] == 0).all()
        tokens.append(td["action"][:, :n])
        log_probs.append(td["action_log_prob"][:, :n])
    ref = var.forward_rl(labels, tokens, temperature=0.8, cfg=cfg, top_k=40).log_probs
    assert (ref - torch.cat(log_probs, 1)).abs().max() <= 1e-4


def test_seed_and_restart(tiny):
    _, var = tiny
    labels = torch.tensor([0, 5])
    a = GeneratorPolicy(var, seed=3)(_td(labels, 0))["action"]
    policy = GeneratorPolicy(var, seed=3)
    policy(_td(labels, 0))
    policy(_td(labels, 1))
    policy.manual_seed(3)
    assert torch.equal(policy(_td(labels, 0))["action"], a)  # scale 0 restarts the episode


def test_out_of_order_calls_raise(tiny):
    _, var = tiny
    policy = GeneratorPolicy(var)
    labels = torch.tensor([0, 1])
    with pytest.raises(RuntimeError, match="got step 2 but its sampler is at step None"):
        policy(_td(labels, 2))
    policy(_td(labels, 0))
    with pytest.raises(RuntimeError, match="got step 2 but its sampler is at step 1"):
        policy(_td(labels, 2))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        GeneratorPolicy(var, temperature=0)
    with pytest.raises(ValueError, match=r"top_p must be in \[0, 1\]"):
        GeneratorPolicy(var, top_p=1.5)
