"""A tiny non-image token task and a generic training loop for the algorithm tests (no VAR code).

Task: an episode has K = 3 steps; each step emits 4 tokens from a vocabulary of 8, chosen by a tiny
MLP policy conditioned on the class label and the token position. Reward = fraction of the 12
tokens equal to the label's target token. Groups of G episodes share a label.
"""

from __future__ import annotations

import copy

import torch
from tensordict import TensorDict
from torch import nn

from vargym.algos import Algorithm, ValueHead

NUM_STEPS, TOKENS_PER_STEP, VOCAB, NUM_LABELS, WIDTH = 3, 4, 8, 4, 32
NUM_TOKENS = NUM_STEPS * TOKENS_PER_STEP
STEP_INDEX = torch.arange(NUM_STEPS).repeat_interleave(TOKENS_PER_STEP)  # [T]


def target_token(labels: torch.Tensor) -> torch.Tensor:
    return (2 * labels + 1) % VOCAB  # [N]


class TokenPolicy(nn.Module):
    """logits[n, t] = MLP(label embedding + position embedding); also returns hidden states."""

    def __init__(self) -> None:
        super().__init__()
        self.label_emb = nn.Embedding(NUM_LABELS, WIDTH)
        self.pos_emb = nn.Embedding(NUM_TOKENS, WIDTH)
        self.body = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.Tanh())
        self.out = nn.Linear(WIDTH, VOCAB)

    def forward(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(self.label_emb(labels)[:, None] + self.pos_emb.weight[None])  # [N, T, C]
        return torch.log_softmax(self.out(h), -1), h  # [N, T, V], [N, T, C]

    def evaluate(self, labels, tokens):
        logp_all, hidden = self(labels)
        log_prob = logp_all.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # [N, T]
        entropy = -(logp_all.exp() * logp_all).sum(-1)  # [N, T]
        return log_prob, entropy, hidden


@torch.no_grad()
def collect(policy: TokenPolicy, group_size: int, generator: torch.Generator) -> TensorDict:
    """One grouped rollout batch following the architecture's rollout schema."""
    labels = torch.arange(NUM_LABELS).repeat_interleave(group_size)  # [N]
    n = labels.shape[0]
    logp_all, _ = policy(labels)
    tokens = torch.multinomial(logp_all.exp().view(-1, VOCAB), 1, generator=generator).view(n, NUM_TOKENS)
    sample_log_prob = logp_all.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # [N, T]
    reward = (tokens == target_token(labels)[:, None]).float().mean(1)  # [N]
    step_reward = torch.zeros(n, NUM_STEPS)
    step_reward[:, -1] = reward
    done = torch.zeros(n, NUM_STEPS, dtype=torch.bool)
    done[:, -1] = True
    return TensorDict(
        {
            "labels": labels,
            "condition_id": labels,
            "group_id": torch.arange(n) // group_size,
            "tokens": tokens,
            "step_index": STEP_INDEX.expand(n, -1).clone(),
            "sample_log_prob": sample_log_prob,
            "reward": reward,
            "step_reward": step_reward,
            "done": done,
        },
        batch_size=[n],
    )


def train(
    algo: Algorithm,
    iterations: int = 25,
    group_size: int = 8,
    epochs: int = 2,
    minibatch_size: int = 16,
    lr: float = 0.03,
    seed: int = 0,
) -> list[float]:
    """collect -> compute_advantages -> epochs x minibatches -> sum of loss_* -> step.

    Returns the mean reward of each iteration's rollout batch.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    policy = TokenPolicy()
    reference = copy.deepcopy(policy).requires_grad_(False)
    value_head = ValueHead(WIDTH, NUM_STEPS, width=WIDTH) if algo.uses_value else None
    params = list(policy.parameters()) + (list(value_head.parameters()) if value_head else [])
    optimizer = torch.optim.Adam(params, lr=lr)
    rewards = []
    for _ in range(iterations):
        batch = collect(policy, group_size, generator)
        rewards.append(batch["reward"].mean().item())
        with torch.no_grad():
            old_log_prob, _, hidden = policy.evaluate(batch["labels"], batch["tokens"])
            batch["old_log_prob"] = old_log_prob
            if algo.uses_reference:
                batch["ref_log_prob"] = reference.evaluate(batch["labels"], batch["tokens"])[0]
            if value_head is not None:
                batch["old_value"] = value_head(hidden, batch["step_index"])  # [N, K]
        batch = algo.compute_advantages(batch)
        for _ in range(epochs):
            for index in torch.randperm(batch.shape[0], generator=generator).split(minibatch_size):
                mb = batch[index].clone()
                mb["log_prob"], mb["entropy"], hidden = policy.evaluate(mb["labels"], mb["tokens"])
                if value_head is not None:
                    mb["value"] = value_head(hidden, mb["step_index"])
                out = algo(mb)
                loss = sum(v for k, v in out.items() if k.startswith("loss_"))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    return rewards
