"""Agreement with torchrl: llm.GRPOLoss (through a small adapter) and ClipPPOLoss on the same data.

torchrl's GRPOLoss averages its KL over all positions, masked ones included (as zeros), so the KL
comparison uses a full mask; the masked comparison checks the policy objective only.
"""

import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule
from torch import nn

from vargym.algos import GRPOConfig, GRPOLoss, PPOConfig, PPOLoss

B, T, K, V, G = 8, 6, 3, 5, 4
STEP_INDEX = torch.tensor([0, 1, 1, 2, 2, 2]).expand(B, T)


class _Actor(nn.Module):
    """Per-token logits as parameters; ``get_dist`` gives what torchrl's losses expect."""

    def __init__(self, logits: torch.Tensor, masked: bool) -> None:
        super().__init__()
        self.logits = nn.Parameter(logits.clone())  # [B, T, V]
        self.masked = masked
        self.in_keys, self.out_keys = ["tokens"], ["logits"]  # read by ClipPPOLoss.set_keys

    def get_dist(self, td, logits_key=None, **kwargs):
        if self.masked:
            from torchrl.modules.distributions import LLMMaskedCategorical

            return LLMMaskedCategorical(logits=self.logits, mask=td["token_mask"])
        return torch.distributions.Categorical(logits=self.logits)

    def log_prob(self, tokens):
        return torch.log_softmax(self.logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # [B, T]


def _data(mask_some: bool):
    logits = torch.randn(B, T, V)
    tokens = torch.distributions.Categorical(logits=logits).sample()  # [B, T]
    lp = torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    old = (lp + 0.3 * torch.randn(B, T)).detach()
    ref = (lp + 0.3 * torch.randn(B, T)).detach()
    mask = torch.ones(B, T, dtype=torch.bool)
    if mask_some:
        mask[0, 3:] = False
        mask[5, 1:] = False
    return logits, tokens, old, ref, mask


@pytest.mark.parametrize("mask_some, beta", [(False, 0.2), (True, 0.0)])
def test_grpo_matches_torchrl_llm_grpo_loss(mask_some, beta):
    from torchrl.objectives.llm import GRPOLoss as TorchRLGRPOLoss

    logits, tokens, old, ref, mask = _data(mask_some)
    ours, theirs = _Actor(logits, masked=True), _Actor(logits, masked=True)
    reward = torch.rand(B)
    algo = GRPOLoss(GRPOConfig(group_size=G, beta=beta, aggregation="sample_mean"))
    batch = TensorDict(
        {"reward": reward, "tokens": tokens, "old_log_prob": old, "ref_log_prob": ref, "token_mask": mask},
        batch_size=[B],
    )
    algo.compute_advantages(batch)
    batch["log_prob"] = ours.log_prob(tokens)
    out = algo(batch)

    rl_loss = TorchRLGRPOLoss(
        theirs,
        clip_epsilon=0.2,
        kl_to_ref_coeff=beta if beta > 0 else None,
        entropy_bonus=False,
        masking_strategy="generic",
        aggregation="prompt_mean",
    )
    td = TensorDict(
        {
            ("tokens", "full"): tokens,
            ("log_probs", "full"): old,
            ("next", "ref_log_probs", "full"): ref,
            "advantage": batch["advantage"].unsqueeze(-1),  # [B, T, 1]
            "token_mask": mask,
        },
        batch_size=[B],
    )
    rl_out = rl_loss(td)
    torch.testing.assert_close(out["loss_policy"], rl_out.loss_objective.reshape(()), rtol=1e-5, atol=1e-6)
    if beta > 0:
        torch.testing.assert_close(out["loss_kl"], rl_out.loss_kl_to_ref.reshape(()), rtol=1e-5, atol=1e-6)
    if not mask_some:
        torch.testing.assert_close(out["clip_fraction"], rl_out.clip_fraction)
    ours_total = sum(v for k, v in out.items() if k.startswith("loss_"))
    theirs_total = rl_out.loss_objective.sum() + (rl_out.loss_kl_to_ref if beta > 0 else 0.0)
    ours_total.backward()
    theirs_total.backward()
    torch.testing.assert_close(ours.logits.grad, theirs.logits.grad, rtol=1e-4, atol=1e-7)


class _Critic(nn.Module):
    def __init__(self, values: torch.Tensor) -> None:
        super().__init__()
        self.values = nn.Parameter(values.clone())  # [B, K]

    def forward(self, step_index):
        return self.values.unsqueeze(-1)  # [B, K, 1]


@pytest.mark.parametrize("value_clip", [0.1, None])
def test_ppo_matches_torchrl_clip_ppo_loss(value_clip):
    from torchrl.objectives import ClipPPOLoss

    logits, tokens, old, _, _ = _data(False)
    step_reward = torch.zeros(B, K)
    step_reward[:, -1] = torch.rand(B)
    done = torch.zeros(B, K, dtype=torch.bool)
    done[:, -1] = True
    old_value = torch.randn(B, K)
    new_value = old_value + 0.3 * torch.randn(B, K)
    algo = PPOLoss(PPOConfig(aggregation="token_mean", value_clip=value_clip, value_coef=0.5, gae_lambda=0.9))
    batch = TensorDict(
        {
            "tokens": tokens,
            "step_index": STEP_INDEX.clone(),
            "step_reward": step_reward,
            "done": done,
            "old_value": old_value,
            "old_log_prob": old,
        },
        batch_size=[B],
    )
    algo.compute_advantages(batch)
    ours_actor, theirs_actor = _Actor(logits, masked=False), _Actor(logits, masked=False)
    ours_critic, theirs_critic = _Critic(new_value), _Critic(new_value)
    batch["log_prob"] = ours_actor.log_prob(tokens)
    batch["value"] = ours_critic.values
    out = algo(batch)

    critic = TensorDictModule(theirs_critic, in_keys=["step_index"], out_keys=["state_value"])
    rl_loss = ClipPPOLoss(
        theirs_actor,
        critic,
        clip_epsilon=0.2,
        entropy_bonus=False,
        critic_coeff=0.5 * 0.5,  # torchrl's "l2" has no 1/2 factor; ours is 0.5 * value_coef
        loss_critic_type="l2",
        clip_value=value_clip if value_clip is not None else False,
        normalize_advantage=False,
        functional=False,
    )
    rl_loss.set_keys(action="tokens", sample_log_prob="old_log_prob", value="state_value")
    td = TensorDict(
        {
            "tokens": tokens,
            "step_index": STEP_INDEX.clone(),
            "old_log_prob": old,
            "advantage": batch["advantage"].unsqueeze(-1),  # [B, T, 1]
            "value_target": batch["return"].unsqueeze(-1),  # [B, K, 1]
            "state_value": old_value.unsqueeze(-1),  # old values, read for value clipping
        },
        batch_size=[B],
    )
    rl_out = rl_loss(td)
    torch.testing.assert_close(out["loss_policy"], rl_out["loss_objective"].reshape(()), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out["loss_value"], rl_out["loss_critic"].reshape(()), rtol=1e-5, atol=1e-6)
    (out["loss_policy"] + out["loss_value"]).backward()
    (rl_out["loss_objective"] + rl_out["loss_critic"]).sum().backward()
    torch.testing.assert_close(ours_actor.logits.grad, theirs_actor.logits.grad, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(ours_critic.values.grad, theirs_critic.values.grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("mask_some", [False, True])
def test_dapo_clip_higher_and_token_mean_match_torchrl(mask_some):
    """torchrl's GRPOLoss with an asymmetric clip tuple and token-mean aggregation is DAPO's objective."""
    from torchrl.objectives.llm import GRPOLoss as TorchRLGRPOLoss

    logits, tokens, old, ref, mask = _data(mask_some)
    ours, theirs = _Actor(logits, masked=True), _Actor(logits, masked=True)
    batch = TensorDict({"reward": torch.rand(B), "tokens": tokens, "old_log_prob": old, "token_mask": mask},
                       batch_size=[B])
    algo = GRPOLoss(GRPOConfig(group_size=G, beta=0.0, clip_epsilon=0.2, clip_epsilon_high=0.28,
                               aggregation="token_mean"))
    algo.compute_advantages(batch)
    batch["log_prob"] = ours.log_prob(tokens)
    out = algo(batch)
    rl_loss = TorchRLGRPOLoss(theirs, clip_epsilon=(0.2, 0.28), entropy_bonus=False, masking_strategy="generic",
                              aggregation="token_mean")
    td = TensorDict({("tokens", "full"): tokens, ("log_probs", "full"): old,
                     "advantage": batch["advantage"].unsqueeze(-1), "token_mask": mask}, batch_size=[B])
    rl_out = rl_loss(td)
    torch.testing.assert_close(out["loss_policy"], rl_out.loss_objective.reshape(()), rtol=1e-5, atol=1e-6)
    out["loss_policy"].backward()
    rl_out.loss_objective.sum().backward()
    torch.testing.assert_close(ours.logits.grad, theirs.logits.grad, rtol=1e-4, atol=1e-7)
