"""The default run (``vargym train`` with no arguments: GRPO + brightness on the shipped tiny model), timed.

Reports the wall time until the mean brightness reward of a training batch reaches ``--target`` (0.9) and
the tiny classifier's top-1 accuracy (class fidelity) of the result and of the base model, side by side, at
two sampling settings: the training policy's (cfg 0, the run's temperature) and the inference setting of
the model card's sample bar (cfg 1, temperature 1). Like the seed paper, training samples without CFG and
inference switches it back on, so the second row is what a user of the tuned model sees. Writes the reward
curve as PNG and everything as JSON. Extra ``--set key=value`` pairs override `TrainConfig` fields.

Usage: python benchmarks/default_run.py [--threads 2] [--max-minutes 15] [--set lr=5e-4]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vargym.bench.plot import Series, line_plot
from vargym.evaluation.evaluate import evaluate_model
from vargym.models import load_generator
from vargym.train import TrainConfig, Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--max-minutes", type=float, default=15.0)
    parser.add_argument("--eval-per-class", type=int, default=20)
    parser.add_argument("--set", action="append", default=[], help="TrainConfig override key=value (JSON value)")
    parser.add_argument("--out", default="benchmarks/results/default_run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {}
    for pair in args.set:
        key, _, raw = pair.partition("=")
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw
    overrides.setdefault("steps", 100)  # run until the target, not the CLI's 16 iterations
    out = Path(args.out)
    config = TrainConfig(out=str(out / "run"), overwrite=True, device="cpu", sample_every=0, checkpoint_every=0, tensorboard=False,
                         **overrides)
    trainer = Trainer(config)
    print(f"threads {torch.get_num_threads()}, config: algo={config.algo} reward={config.reward} "
          f"batch={config.num_labels}x{config.group_size} lr={config.lr} overrides={overrides}")
    curve, reached_s, start = [], None, time.perf_counter()
    while trainer.iteration < config.steps:
        metrics = trainer.step()
        wall = time.perf_counter() - start
        curve.append({"iteration": metrics["iteration"], "wall_s": wall, "reward_mean": metrics["reward_mean"],
                      "kl_ref": metrics["kl_ref"]})
        print(f"iter {metrics['iteration']:3d}  {wall:7.1f} s  reward {metrics['reward_mean']:.3f}  "
              f"kl_ref {metrics['kl_ref']:.4f}", flush=True)
        if reached_s is None and metrics["reward_mean"] >= args.target:
            reached_s = wall
            break
        if wall > args.max_minutes * 60:
            break
    settings = {"training": {"cfg": 0.0, "temperature": config.temperature},
                "inference": {"cfg": 1.0, "temperature": 1.0}}
    base = load_generator(config.model, device=trainer.device)
    fidelity = {}
    for name, sampling in settings.items():
        for which, model in (("tuned", trainer.generator), ("base", base)):
            fidelity[f"{which}_{name}"] = evaluate_model(model, labels_per_class=args.eval_per_class,
                                                         rewards=("brightness",), seed=0, **sampling)
    evaluation = fidelity["tuned_training"]
    result = {"threads": args.threads, "target": args.target, "reached_s": reached_s,
              "iterations": trainer.iteration, "samples": trainer.iteration * config.num_labels * config.group_size,
              "overrides": overrides, "curve": curve, "eval": evaluation, "fidelity": fidelity}
    out.mkdir(parents=True, exist_ok=True)
    (out / "default_run.json").write_text(json.dumps(result, indent=2, default=str))
    series = [Series("batch reward", [c["wall_s"] / 60 for c in curve], [c["reward_mean"] for c in curve])]
    line_plot(series, title=f"vargym train (default run), {args.threads} threads",
              xlabel="minutes", ylabel="mean brightness reward").save(out / "default_run.png")
    print(f"reached {args.target}: {'no' if reached_s is None else f'{reached_s:.0f} s'}")
    for key, ev in fidelity.items():
        print(f"{key:18s} cfg {ev['sampling']['cfg']} T {ev['sampling']['temperature']}: brightness "
              f"{ev['rewards']['brightness']['mean']:.3f}, class top-1 {ev['classifier']['top1']:.3f}")
    print(f"wrote {out / 'default_run.json'} and {out / 'default_run.png'}")


if __name__ == "__main__":
    main()
