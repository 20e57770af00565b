"""Register a custom reward and fine-tune the shipped model on it with GRPO (CPU, about two minutes).

    python examples/train_custom_reward.py                      # the shipped tiny model
    python examples/train_custom_reward.py --model random:tiny --steps 4
"""

import argparse

import vargym.rewards
from vargym.train import TrainConfig, Trainer


@vargym.rewards.register("redness")
def redness(images, context):
    """How much red dominates: mean of R - (G + B) / 2, images [N, 3, H, W] in [0, 1] -> [N] (about -1..1)."""
    return (images[:, 0] - images[:, 1:].mean(dim=1)).mean(dim=(1, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="a --model spec: 'tiny' (shipped), 'random:tiny', a run dir")
    parser.add_argument("--steps", type=int, default=10, help="training iterations")
    parser.add_argument("--lr", type=float, default=1e-4, help="learning rate (the seed paper's 1e-4)")
    parser.add_argument("--out", default="runs/example_redness", help="run directory (replaced)")
    args = parser.parse_args()
    config = TrainConfig(
        algo="grpo",
        reward="redness",
        model=args.model,
        num_labels=2,
        group_size=8,
        minibatch_size=8,
        steps=args.steps,
        lr=args.lr,
        device="cpu",
        sample_every=5,
        out=args.out,
        overwrite=True,
    )
    for m in Trainer(config).train():
        print(f"iteration {m['iteration']:2d}  reward {m['reward_mean']:+.4f}  kl_ref {m['kl_ref']:.5f}  "
              f"grad_norm {m['grad_norm']:.2f}")
    print(f"metrics, sample grids and checkpoints are in {config.out}/")


if __name__ == "__main__":
    main()
