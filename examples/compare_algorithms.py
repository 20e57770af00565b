"""GRPO vs REINFORCE (and PPO) on the same reward, seed and sample budget; prints a small table.

    python examples/compare_algorithms.py [--model tiny] [--reward luma]   # CPU, a few minutes

Each algorithm sees the same labels and seeds; only the update differs. For the full harness (several
seeds, plots, resume) use `vargym bench`.
"""

import argparse
import time

from vargym.train import TrainConfig, Trainer

RUNS = {"grpo": {}, "reinforce (rloo)": {"algo_kwargs": {"baseline": "rloo"}}, "ppo": {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="a --model spec: 'tiny' (shipped), 'random:tiny', a run dir")
    parser.add_argument("--reward", default="luma", help="a reward name or expression")
    parser.add_argument("--steps", type=int, default=8, help="training iterations per algorithm")
    parser.add_argument("--lr", type=float, default=1e-4, help="learning rate (the seed paper's 1e-4)")
    args = parser.parse_args()
    budget = dict(model=args.model, reward=args.reward, num_labels=2, group_size=8, minibatch_size=8,
                  steps=args.steps, lr=args.lr, seed=0, device="cpu", sample_every=0, checkpoint_every=0,
                  tensorboard=False)
    rows = []
    for name, extra in RUNS.items():
        algo = name.split()[0]
        config = TrainConfig(algo=algo, out=f"runs/compare/{algo}", overwrite=True, **budget, **extra)
        start = time.perf_counter()
        history = Trainer(config).train()
        first, last = history[0], history[-1]
        rows.append((name, first["reward_mean"], last["reward_mean"], last["kl_ref"], last["entropy"],
                     time.perf_counter() - start))
    print(f"\n{'algorithm':<18}{'reward@1':>10}{'reward@end':>12}{'kl_ref':>10}{'entropy':>9}{'time s':>8}")
    for name, r0, r1, kl, ent, secs in rows:
        print(f"{name:<18}{r0:>10.4f}{r1:>12.4f}{kl:>10.5f}{ent:>9.3f}{secs:>8.1f}")


if __name__ == "__main__":
    main()
