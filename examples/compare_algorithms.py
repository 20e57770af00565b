"""GRPO vs REINFORCE (and PPO) on the same reward, seed and sample budget; prints a small table.

    python examples/compare_algorithms.py [MODEL] [REWARD]   # defaults: tiny, luma (CPU, ~1 minute)

Each algorithm sees the same labels and seeds; only the update differs. For the full harness (several
seeds, plots, resume) use `vargym bench`.
"""

import sys
import time

from vargym.train import TrainConfig, Trainer

MODEL = sys.argv[1] if len(sys.argv) > 1 else "tiny"
REWARD = sys.argv[2] if len(sys.argv) > 2 else "luma"
BUDGET = dict(
    model=MODEL,
    reward=REWARD,
    num_labels=2,
    group_size=8,
    minibatch_size=8,
    steps=8,
    lr=1e-3,
    seed=0,
    device="cpu",
    sample_every=0,
    checkpoint_every=0,
    tensorboard=False,
)
RUNS = {"grpo": {}, "reinforce (rloo)": {"algo_kwargs": {"baseline": "rloo"}}, "ppo": {}}

rows = []
for name, extra in RUNS.items():
    algo = name.split()[0]
    config = TrainConfig(algo=algo, out=f"runs/compare/{algo}", overwrite=True, **BUDGET, **extra)
    start = time.perf_counter()
    history = Trainer(config).train()
    first, last = history[0], history[-1]
    rows.append(
        (
            name,
            first["reward_mean"],
            last["reward_mean"],
            last["kl_ref"],
            last["entropy"],
            time.perf_counter() - start,
        )
    )

print(f"\n{'algorithm':<18}{'reward@1':>10}{'reward@end':>12}{'kl_ref':>10}{'entropy':>9}{'time s':>8}")
for name, r0, r1, kl, ent, secs in rows:
    print(f"{name:<18}{r0:>10.4f}{r1:>12.4f}{kl:>10.5f}{ent:>9.3f}{secs:>8.1f}")
