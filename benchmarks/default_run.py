"""The default run (``vargym train`` with no arguments: GRPO + brightness on the shipped tiny model), timed.

Reports, per seed, the wall time until the mean brightness reward of a training batch reaches ``--target``
(0.9) and the tiny classifier's top-1 accuracy (class fidelity) of the result and of the base model, side by
side, at two sampling settings: the training policy's (cfg 0, the run's temperature) and the inference
setting of the model card's sample bar (cfg 1, temperature 1). Like the seed paper, training samples without
CFG and inference switches it back on, so the second row is what a user of the tuned model sees. Seeds run
one after another in this process (seed 0 is ``vargym train``'s own). Writes the reward curves as PNG and
everything as JSON. Extra ``--set key=value`` pairs override `TrainConfig` fields.

Usage: python benchmarks/default_run.py [--threads 2] [--seeds 0 1 2] [--max-minutes 15] [--set lr=5e-4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from vargym.bench.plot import Series, line_plot
from vargym.devices import cpu_description
from vargym.evaluation.evaluate import evaluate_model
from vargym.models import load_generator
from vargym.train import TrainConfig, Trainer

SETTINGS = {"training": {"cfg": 0.0, "temperature": None}, "inference": {"cfg": 1.0, "temperature": 1.0}}


def parse_overrides(pairs: list[str]) -> dict:
    """``--set key=value`` pairs as `TrainConfig` overrides (values parsed as JSON where they are JSON)."""
    overrides = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw
    return overrides


def run_seed(seed: int, args: argparse.Namespace, overrides: dict, out: Path) -> dict:
    """Train one seed until the target (or the time limit); its curve, time to target and fidelity."""
    config = TrainConfig.for_model(out=str(out / f"run_seed{seed}"), overwrite=True, device="cpu", sample_every=0,
                                   checkpoint_every=0, tensorboard=False, **{"seed": seed, **overrides})
    trainer = Trainer(config)
    print(f"seed {seed}: algo={config.algo} reward={config.reward} batch={config.num_labels}x{config.group_size} "
          f"lr={config.lr} overrides={overrides}")
    curve, reached_s, start = [], None, time.perf_counter()
    while trainer.iteration < config.steps:
        metrics = trainer.step()
        wall = time.perf_counter() - start
        curve.append({"iteration": metrics["iteration"], "wall_s": wall, "reward_mean": metrics["reward_mean"],
                      "kl_ref": metrics["kl_ref"]})
        print(f"  iter {metrics['iteration']:3d}  {wall:7.1f} s  reward {metrics['reward_mean']:.3f}  "
              f"kl_ref {metrics['kl_ref']:.4f}", flush=True)
        if metrics["reward_mean"] >= args.target:
            reached_s = wall
            break
        if wall > args.max_minutes * 60:
            break
    base = load_generator(config.model, device=trainer.device)
    fidelity = {}
    for name, sampling in SETTINGS.items():
        sampling = {"sampling": {**sampling, "temperature": sampling["temperature"] or config.sampling.temperature}}
        for which, model in (("tuned", trainer.generator), ("base", base)):
            fidelity[f"{which}_{name}"] = evaluate_model(model, labels_per_class=args.eval_per_class,
                                                         rewards=("brightness",), seed=0, **sampling)
    print(f"  seed {seed}: reached {args.target}: "
          f"{'no' if reached_s is None else f'{reached_s:.0f} s at iteration {trainer.iteration}'}")
    for key, ev in fidelity.items():
        print(f"  {key:18s} cfg {ev['sampling']['cfg']} T {ev['sampling']['temperature']}: brightness "
              f"{ev['rewards']['brightness']['mean']:.3f}, class top-1 {ev['classifier']['top1']:.3f}")
    return {"seed": seed, "reached_s": reached_s, "iterations": trainer.iteration,
            "samples": trainer.iteration * config.batch_size,
            "seconds_per_iteration": curve[-1]["wall_s"] / len(curve), "curve": curve, "fidelity": fidelity}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--max-minutes", type=float, default=15.0, help="per seed")
    parser.add_argument("--eval-per-class", type=int, default=20)
    parser.add_argument("--set", action="append", default=[], help="TrainConfig override key=value (JSON value)")
    parser.add_argument("--out", default="benchmarks/results/default_run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = parse_overrides(args.set)
    overrides.setdefault("steps", 100)  # run until the target, not the CLI's 16 iterations
    out = Path(args.out)
    cpu = cpu_description()
    print(f"CPU: {cpu}; threads {torch.get_num_threads()}, seeds {args.seeds}")
    runs = [run_seed(seed, args, overrides, out) for seed in args.seeds]
    reached = [r["reached_s"] for r in runs if r["reached_s"] is not None]
    summary = {
        "reached": f"{len(reached)}/{len(runs)}",
        "reached_s_median": statistics.median(reached) if reached else None,
        "reached_s_max": max(reached) if reached else None,
        "iterations": [r["iterations"] for r in runs],
        "seconds_per_iteration_median": statistics.median(r["seconds_per_iteration"] for r in runs),
        "tuned_training_top1": [r["fidelity"]["tuned_training"]["classifier"]["top1"] for r in runs],
        "base_training_top1": runs[0]["fidelity"]["base_training"]["classifier"]["top1"],
    }
    result = {"cpu": cpu, "threads": args.threads, "target": args.target, "overrides": overrides, "summary": summary,
              "runs": runs}
    out.mkdir(parents=True, exist_ok=True)
    (out / "default_run.json").write_text(json.dumps(result, indent=2, default=str))
    series = [Series(f"seed {r['seed']}", [c["wall_s"] / 60 for c in r["curve"]], [c["reward_mean"] for c in r["curve"]])
              for r in runs]
    line_plot(series, title=f"vargym train (default run), {args.threads} threads",
              xlabel="minutes", ylabel="mean brightness reward").save(out / "default_run.png")
    print("\n| seed | reached 0.9 | iteration | s/iteration | class top-1 tuned (base) |\n|---|---|---|---|---|")
    for r in runs:
        f = r["fidelity"]
        reached_text = "-" if r["reached_s"] is None else f"{r['reached_s']:.0f} s"
        print(f"| {r['seed']} | {reached_text} | {r['iterations']} | "
              f"{r['seconds_per_iteration']:.1f} | {f['tuned_training']['classifier']['top1']:.3f} "
              f"({f['base_training']['classifier']['top1']:.3f}) |")
    print(f"CPU: {cpu}\nsummary: {summary}")
    print(f"wrote {out / 'default_run.json'} and {out / 'default_run.png'}")


if __name__ == "__main__":
    main()
