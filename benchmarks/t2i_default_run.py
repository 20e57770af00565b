"""The text-to-image default run (``vargym train --model tiny-t2i --reward attr``), timed, over seeds.

The run starts, as ``vargym train`` does, from the model's own training defaults (its ``model.json``'s
``"training"`` table, written to the JSON as ``model_defaults``); ``--set`` overrides them.

Per seed: the gold text fidelity (the model's ``attr_gold`` classifier, GenEval's all-or-nothing rule) of the
base model on the run's evaluation prompts (the 10% of the procedural captions training never draws),
``--eval-prompts`` prompts x ``--per-prompt`` samples, sampled as in training; then training for at most
``--minutes`` of wall time (sampling, rewards and updates: everything an iteration does) or ``--set steps=N``
iterations; then the tuned model's gold fidelity on the same prompts and seed. Evaluations are outside the
timed budget. ``--algo`` runs another algorithm on the same budget (the ``t2i`` comparison). Prints the CPU's
flags beside the figures, a table, and writes JSON and the reward curves (PNG).

Usage: python benchmarks/t2i_default_run.py [--threads 2] [--seeds 0 1 2] [--minutes 5] [--algo grpo]
       python benchmarks/t2i_default_run.py --seeds 3 4 5 --add-to-results   # more seeds, same settings
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from default_run import parse_overrides  # this folder's class-conditional default run

from vargym.bench.plot import Series, line_plot
from vargym.devices import cpu_description
from vargym.models import training_defaults
from vargym.train import TrainConfig, Trainer


def run_seed(seed: int, args: argparse.Namespace, overrides: dict, out: Path) -> dict:
    config = TrainConfig.for_model(model=args.model, algo=args.algo, out=str(out / f"{args.algo}_seed{seed}"),
                                   overwrite=True, device="cpu", sample_every=0, checkpoint_every=0, tensorboard=False,
                                   **{"reward": "attr", "seed": seed, **overrides})  # --set reward=... trains another
    trainer = Trainer(config)
    gold = lambda: trainer.evaluator.gold_score(trainer.generator, args.eval_prompts, args.per_prompt)  # noqa: E731
    before = gold()
    print(f"{args.algo} seed {seed}: batch {config.num_labels}x{config.group_size}, lr {config.lr}; "
          f"gold before {before:.3f}", flush=True)
    curve, start = [], time.perf_counter()
    while trainer.iteration < config.steps:
        metrics = trainer.step()
        wall = time.perf_counter() - start
        curve.append({"iteration": metrics["iteration"], "wall_s": wall, "reward_mean": metrics["reward_mean"],
                      "all_correct": metrics.get("reward_all_correct_mean"), "kl_ref": metrics.get("kl_ref")})
        print(f"  iter {metrics['iteration']:3d} {wall:7.1f} s  reward {metrics['reward_mean']:.3f}  all-correct "
              f"{metrics.get('reward_all_correct_mean', float('nan')):.3f}  kl_ref {metrics.get('kl_ref', 0):.4f}",
              flush=True)
        if wall + wall / len(curve) > args.minutes * 60:  # the next iteration would end past the budget
            break
    after = gold()
    print(f"  gold after {after:.3f} ({100 * (after - before):+.1f} points) after {curve[-1]['wall_s']:.0f} s, "
          f"{trainer.iteration} iterations", flush=True)
    return {"seed": seed, "gold_before": before, "gold_after": after, "gain_points": 100 * (after - before),
            "train_s": curve[-1]["wall_s"], "iterations": trainer.iteration,
            "seconds_per_iteration": curve[-1]["wall_s"] / len(curve), "kl_ref": curve[-1]["kl_ref"],
            "curve": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-t2i")
    parser.add_argument("--algo", default="grpo")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--eval-prompts", type=int, default=200)
    parser.add_argument("--per-prompt", type=int, default=4)
    parser.add_argument("--set", action="append", default=[], help="TrainConfig override key=value (JSON value)")
    parser.add_argument("--out", default="benchmarks/results/t2i_default_run")
    parser.add_argument("--add-to-results", action="store_true",
                        help="keep the other seeds of an existing result file measured with the same settings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = parse_overrides(args.set)
    out = Path(args.out)
    cpu = cpu_description()
    print(f"CPU: {cpu}; threads {torch.get_num_threads()}; torch {torch.__version__}")
    path = out / f"{args.algo}.json"
    settings = {"cpu": cpu, "threads": args.threads, "algo": args.algo, "model": args.model, "minutes": args.minutes,
                "eval": f"{args.eval_prompts}x{args.per_prompt}", "model_defaults": training_defaults(args.model),
                "overrides": overrides}
    earlier = []
    if args.add_to_results and path.is_file():
        stored = json.loads(path.read_text())
        differ = [k for k in settings if stored.get(k) != settings[k]]
        if differ:
            raise SystemExit(f"--add-to-results: {path} was measured with other settings ({', '.join(differ)})")
        earlier = [r for r in stored["runs"] if r["seed"] not in args.seeds]
    runs = sorted(earlier + [run_seed(seed, args, overrides, out) for seed in args.seeds], key=lambda r: r["seed"])
    gains = [r["gain_points"] for r in runs]
    summary = {"gain_points_median": statistics.median(gains), "gain_points_mean": statistics.mean(gains),
               "gain_points_min": min(gains),
               "train_s_max": max(r["train_s"] for r in runs),
               "seconds_per_iteration_median": statistics.median(r["seconds_per_iteration"] for r in runs)}
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**settings, "summary": summary, "runs": runs}, indent=2))
    series = [Series(f"seed {r['seed']}", [c["wall_s"] / 60 for c in r["curve"]], [c["reward_mean"] for c in r["curve"]])
              for r in runs]
    reward = overrides.get("reward", "attr")
    line_plot(series, title=f"vargym train --model {args.model} --reward {reward} ({args.algo}), {args.threads} threads",
              xlabel="minutes", ylabel=f"mean {reward} reward").save(out / f"{args.algo}.png")
    print(f"\nCPU: {cpu}\n| seed | gold before | gold after | gain (points) | train s | iterations | s/iteration |"
          "\n|---|---|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['seed']} | {r['gold_before']:.3f} | {r['gold_after']:.3f} | {r['gain_points']:+.1f} | "
              f"{r['train_s']:.0f} | {r['iterations']} | {r['seconds_per_iteration']:.1f} |")
    print(f"summary: {summary}\nwrote {path}")


if __name__ == "__main__":
    main()
