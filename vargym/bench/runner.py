"""Run an equal-budget benchmark: every (algorithm, seed) run in its own folder, resumable, then one report.

Layout of ``<out>/``:

- ``bench_config.json``: the `BenchConfig` (``--resume`` reads it back);
- ``runs/<algo>_seed<k>/``: a `Trainer` run directory (config.json, metrics.jsonl, checkpoints/) plus
  ``done.json`` once the run and its final evaluation finished (a finished run is never redone);
- ``bench.json``, ``table.md`` and the PNG figures (`vargym.bench.report`).

Example:
    >>> config = BenchConfig(algos=("grpo", "reinforce"), seeds=2, budget_samples=64,
    ...                      train={"model": "random:tiny", "num_labels": 2, "group_size": 4}, out="runs/b")
    >>> result = run_benchmark(config)
    >>> result["table"][0]["algo"], result["table"][0]["reward_final_mean"]
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vargym.bench.config import BenchConfig

__all__ = ["load_bench_config", "peak_memory_mib", "reset_peak_memory", "run_benchmark", "run_one"]

logger = logging.getLogger(__name__)
CONFIG_FILE = "bench_config.json"
DONE_FILE = "done.json"


def reset_peak_memory(device: Any) -> None:
    """Reset CUDA's peak-memory counter (CPU has no resettable counter: RSS peaks are per process)."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mib(device: Any) -> tuple[float, str]:
    """``(MiB, kind)``: ``torch.cuda.max_memory_allocated`` on CUDA, else the process's peak RSS.

    The RSS peak (``resource.getrusage``) covers the whole process so far, not one run.
    """
    import torch

    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return (rss / 2**20 if sys.platform == "darwin" else rss / 2**10), "process_rss"


def _write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a temp file renamed into place), so a marker is never half written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def load_bench_config(out: str | Path) -> BenchConfig:
    """The `BenchConfig` saved in a benchmark directory (for ``--resume``)."""
    path = Path(out) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {out} is not a benchmark directory to resume")
    return BenchConfig.from_dict(json.loads(path.read_text()))


def _final_evaluation(trainer: Any, config: BenchConfig, scorers: dict[str, Any]) -> dict[str, Any]:
    """`evaluate_model` on the final policy: the same labels, seed and sampling settings for every run."""
    from vargym.evaluation import EvalConfig, build_scorers, evaluate_model

    run = trainer.config
    eval_config = EvalConfig(
        labels_per_class=config.eval_per_label,
        conditions=trainer.eval_condition(),
        rewards=(run.reward,) if not run.reward_kwargs else None,
        reference_samples=0,  # no FID: too slow and too noisy at a few samples per class
        sampling=trainer.sampling,  # the run's training distribution, "auto" resolved
        seed=config.eval_seed,
    )
    if eval_config.rewards is None:  # a reward with constructor arguments: build it the trainer's way
        import vargym.rewards

        built = vargym.rewards.make(run.reward, device=trainer.device, **run.reward_kwargs)
        eval_config = EvalConfig(**{**eval_config.__dict__, "rewards": (built,)})
    if "scorers" not in scorers:  # built once per benchmark, shared by every run
        scorers["scorers"] = build_scorers(eval_config, trainer.generator.num_classes, trainer.device)
    result = evaluate_model(trainer.generator, eval_config, scorers=scorers["scorers"])
    reward = next(iter(result["rewards"].values()))
    finite = lambda v: v if v is None or math.isfinite(v) else None  # noqa: E731 (no pairs -> NaN diversity)
    return {
        "labels": result["classes"],
        "labels_per_class": config.eval_per_label,
        "seed": config.eval_seed,
        "num_samples": result["num_samples"],
        "reward_mean": reward["mean"],
        "reward_std": reward["std"],
        "top1": result.get("classifier", {}).get("top1"),
        # the run's gold metric (the model's own, e.g. text fidelity; class fidelity for the procedural classes)
        "gold": trainer.evaluator.gold_score(trainer.generator, len(result["classes"]), config.eval_per_label),
        "gold_name": trainer.evaluator.gold_name,
        "pixel_diversity": finite(result["diversity"].get("pixel_distance")),
        "feature_diversity": finite(result["diversity"].get("feature_distance")),
        "notes": result["notes"],
    }


def run_one(
    config: BenchConfig,
    contender: str,
    seed: int,
    scorers: dict[str, Any] | None = None,
    progress: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train and evaluate one (contender, seed) run, or return its ``done.json`` when it already finished.
    A contender is an algorithm, or ``<model>-<algo>`` when the benchmark compares ``models``.

    An unfinished run resumes from its newest trainer checkpoint, or restarts when it has none.

    Returns:
        the run's summary (what ``done.json`` holds).
    """
    from vargym.train.checkpoint import checkpoint_dirs
    from vargym.train.trainer import Trainer

    run_config = config.train_config(contender, seed)
    run_dir = Path(run_config.out)
    done = run_dir / DONE_FILE
    if done.is_file():
        return json.loads(done.read_text())
    if checkpoint_dirs(run_dir):
        device = {"device": run_config.device} if run_config.device is not None else {}
        trainer = Trainer.from_checkpoint(run_dir, **device)
        resumed_from = trainer.iteration
        logger.info("resuming %s from iteration %d", run_dir, resumed_from)
    else:
        trainer = Trainer(run_config.replace(overwrite=True))  # a run without a checkpoint starts over
        resumed_from = 0
    reset_peak_memory(trainer.device)
    name = config.run_name(contender, seed)
    trainer.train(progress=None if progress is None else (lambda metrics: progress(name, metrics)))
    peak_mib, memory_kind = peak_memory_mib(trainer.device)

    from vargym.metrics_log import read_metrics

    records = read_metrics(run_dir)
    train_s = sum(r["iteration_s"] for r in records)
    label_state = trainer.collector.state_dict()["label_generator"]
    summary = {
        "contender": contender,
        "algo": run_config.algo,
        "model": run_config.model,
        "seed": seed,
        "iterations": trainer.iteration,
        "samples": trainer.samples,
        "batch_size": run_config.batch_size,
        "resumed_from": resumed_from,
        "wall_s": trainer.wall_offset,
        "train_s": train_s,
        "samples_per_s": trainer.samples / train_s if train_s > 0 else None,
        "peak_memory_mib": peak_mib,
        "memory_kind": memory_kind,
        # equal label draws <=> equal label-generator states after equal iterations from equal seeds
        "label_state_sha": hashlib.sha256(label_state.cpu().numpy().tobytes()).hexdigest()[:16],
        "eval": _final_evaluation(trainer, config, scorers if scorers is not None else {}),
        # reward-hacking monitor: evaluations that raised the flag during training
        "hacking_flags": int(sum(r.get("hacking_flag") or 0 for r in records)),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    _write_json(done, summary)
    if not config.keep_checkpoints:  # a finished run is never resumed: free its checkpoint
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return summary


def run_benchmark(
    config: BenchConfig,
    resume: bool = False,
    progress: Callable[[str, dict[str, Any]], None] | None = None,
    on_run: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run (or finish) every (algo, seed) run of ``config``, then write the report.

    Args:
        config: the benchmark.
        resume: continue the benchmark saved in ``config.out`` (finished runs are skipped). Without it an
            existing benchmark directory is an error, so results are never mixed by accident.
        progress: called with ``(run_name, metrics)`` after each training iteration.
        on_run: called with ``(run_name, summary)`` when a run is finished or found finished.

    Returns:
        the report dict also written to ``<out>/bench.json`` (`vargym.bench.report.build_report`).
    """
    from vargym.bench.report import build_report, write_report

    out = Path(config.out)
    saved = out / CONFIG_FILE
    if saved.is_file():
        if not resume:
            raise FileExistsError(
                f"{out} already holds a benchmark: pass resume=True (--resume) or another out"
            )
        if json.loads(saved.read_text()) != config.to_dict():
            raise ValueError(
                f"the config differs from the one saved in {saved}; resume with the saved config "
                f"(load_bench_config) or choose another out"
            )
    out.mkdir(parents=True, exist_ok=True)
    _write_json(saved, config.to_dict())
    if config.threads is not None:
        import torch

        torch.set_num_threads(config.threads)
    scorers: dict[str, Any] = {}
    summaries = []
    for seed in config.seed_list:  # seeds outermost: an interrupted benchmark has every contender's first seeds
        for name, _, _ in config.contenders:
            summary = run_one(config, name, seed, scorers=scorers, progress=progress)
            summaries.append(summary)
            if on_run is not None:
                on_run(config.run_name(name, seed), summary)
    report = build_report(config, summaries)
    write_report(report, out)
    return report
