"""Register a custom reward and fine-tune a VAR on it with GRPO (CPU, about a minute).

python examples/train_custom_reward.py [MODEL]    # MODEL: "tiny" (shipped, default) or another --model spec
"""

import sys

import vargym.rewards
from vargym.train import TrainConfig, Trainer


@vargym.rewards.register("redness")
def redness(images, context):
    """How much red dominates: mean of R - (G + B) / 2, images [N, 3, H, W] in [0, 1] -> [N]."""
    return (images[:, 0] - images[:, 1:].mean(dim=1)).mean(dim=(1, 2))


config = TrainConfig(
    algo="grpo",
    reward="redness",
    model=sys.argv[1] if len(sys.argv) > 1 else "tiny",
    num_labels=2,
    group_size=8,
    minibatch_size=8,
    steps=10,
    lr=1e-3,
    device="cpu",
    sample_every=5,
    out="runs/example_redness",
    overwrite=True,
)
for m in Trainer(config).train():
    print(f"iteration {m['iteration']:2d}  reward {m['reward_mean']:+.4f}  kl_ref {m['kl_ref']:.5f}")
print(f"metrics, sample grids and checkpoints are in {config.out}/")
