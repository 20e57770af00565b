"""PPO on CartPole-v1 with vargym's PPOLoss and GAE, through torchrl's GymEnv.

vargym.algos knows nothing about images: an episode is a sequence of K env steps, each emitting some
tokens. Here each step emits one token (the action), so T = K = episode length and
``step_index = arange(T)``; episodes of a batch are padded to the longest one and ``token_mask``
marks the real steps. Truncation at ``--max-steps`` is treated as the episode's end.

    python examples/cartpole_ppo.py --iterations 30
"""

from __future__ import annotations

import argparse
import time

import torch
from tensordict import TensorDict
from torch import nn
from torchrl.envs import GymEnv

from vargym.algos import PPOConfig, PPOLoss


def mlp(out_dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, out_dim))


@torch.no_grad()
def collect(env: GymEnv, actor: nn.Module, episodes: int, max_steps: int) -> TensorDict:
    """Roll out whole episodes and pad them into the rollout schema of docs/architecture.md."""

    def act(td: TensorDict) -> TensorDict:
        td["action"] = torch.distributions.Categorical(logits=actor(td["observation"])).sample()
        return td

    trajectories = [env.rollout(max_steps, policy=act, break_when_any_done=True) for _ in range(episodes)]
    length = max(traj.shape[0] for traj in trajectories)  # K = T
    n = len(trajectories)
    obs = torch.zeros(n, length, 4)
    tokens = torch.zeros(n, length, dtype=torch.long)
    step_reward = torch.zeros(n, length)
    done = torch.zeros(n, length, dtype=torch.bool)
    mask = torch.zeros(n, length, dtype=torch.bool)
    for i, traj in enumerate(trajectories):
        k = traj.shape[0]
        obs[i, :k] = traj["observation"]
        tokens[i, :k] = traj["action"]
        step_reward[i, :k] = traj["next", "reward"].squeeze(-1)
        done[i, k - 1 :] = True  # the last real step ends the episode (padded steps count as done too)
        mask[i, :k] = True
    return TensorDict(
        {
            "observation": obs,  # [N, T, 4]
            "tokens": tokens,  # [N, T]
            "step_index": torch.arange(length).expand(n, -1).clone(),  # [N, T]
            "step_reward": step_reward,  # [N, K]
            "reward": step_reward.sum(1),  # [N] episode return
            "done": done,  # [N, K]
            "token_mask": mask,  # [N, T]
        },
        batch_size=[n],
    )


def log_prob_entropy(actor: nn.Module, obs: torch.Tensor, tokens: torch.Tensor):
    dist = torch.distributions.Categorical(logits=actor(obs))  # over [N, T]
    return dist.log_prob(tokens), dist.entropy()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--episodes", type=int, default=16, help="episodes per rollout batch")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--minibatch-size", type=int, default=4, help="episodes per minibatch")
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    env = GymEnv("CartPole-v1", categorical_action_encoding=True)
    env.set_seed(args.seed)
    actor, critic = mlp(2), mlp(1)
    algo = PPOLoss(PPOConfig(gamma=0.99, gae_lambda=0.95, aggregation="token_mean", value_clip=None))
    optimizer = torch.optim.Adam([*actor.parameters(), *critic.parameters()], lr=args.lr)
    start = time.perf_counter()
    for iteration in range(args.iterations):
        batch = collect(env, actor, args.episodes, args.max_steps)
        with torch.no_grad():
            batch["old_log_prob"] = log_prob_entropy(actor, batch["observation"], batch["tokens"])[0]
            batch["old_value"] = critic(batch["observation"]).squeeze(-1)  # [N, K]
        batch = algo.compute_advantages(batch)
        for _ in range(args.epochs):
            for index in torch.randperm(batch.shape[0]).split(args.minibatch_size):
                mb = batch[index].clone()
                mb["log_prob"], mb["entropy"] = log_prob_entropy(actor, mb["observation"], mb["tokens"])
                mb["value"] = critic(mb["observation"]).squeeze(-1)
                out = algo(mb)
                loss = sum(v for k, v in out.items() if k.startswith("loss_"))
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(actor.parameters(), 1.0)
                optimizer.step()
        print(
            f"iteration {iteration:3d}  return {batch['reward'].mean().item():7.1f}  "
            f"approx_kl {out['approx_kl'].item():.4f}  value_loss {out['value_loss'].item():8.2f}  "
            f"wall {time.perf_counter() - start:5.1f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
