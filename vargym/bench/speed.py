"""Speed and memory of sampling and of one training update, vs batch size and model preset.

For each (model, batch size): sampling images/s (``generator.sample`` + decode, no grad), then the split of one
`Trainer` iteration as the trainer itself times it: ``sample_s`` (collector rollout, reward excluded),
``reward_s``, ``logprob_s`` (teacher-forced no-grad passes: policy and reference) and ``backward_s``
(forward with grad, backward and AdamW step over the minibatches). Medians over ``reps`` after ``warmup``
unmeasured repetitions. Peak memory: ``torch.cuda.max_memory_allocated`` on CUDA (reset per row), else
the process's peak RSS so far (rows run in ascending batch size, so each row's figure is its own peak
unless an earlier, larger model set it).

Example:
    >>> result = run_speed(SpeedConfig(models=("random:tiny",), batch_sizes=(8, 16), reps=3))
    >>> print(format_speed_table(result))
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["SPLIT", "SpeedConfig", "format_speed_table", "run_speed"]

SPLIT = ("sample_s", "reward_s", "logprob_s", "backward_s", "iteration_s")


@dataclass(frozen=True)
class SpeedConfig:
    """What `run_speed` measures."""

    models: tuple[str, ...] = ("random:tiny",)
    """Model specs (`vargym.models.load_generator`): presets as "random:<preset>" need no download."""
    batch_sizes: tuple[int, ...] = (8, 16, 32)
    """Images per iteration (num_labels * group_size)."""
    group_size: int = 4
    """Samples per label; each batch size must be a multiple of it."""
    algo: str = "grpo"
    """Algorithm of the timed update."""
    reward: str = "brightness"
    """Reward of the timed update."""
    reps: int = 3
    """Measured repetitions (medians are reported)."""
    warmup: int = 1
    """Unmeasured repetitions first (allocator, kernels, caches)."""
    threads: int | None = None
    """torch intra-op threads (None: leave torch's setting); recorded in the result either way."""
    device: str | None = None
    """torch device (None: CUDA when available, else CPU)."""
    seed: int = 0
    """Seed of model init, labels and sampling."""
    minibatch_size: int | None = None
    """Episodes per gradient step of the timed update (None: the whole batch in one step)."""
    precisions: tuple[str, ...] = ("float32",)
    """Compute dtypes to compare ("float32", "bfloat16"), one row each."""
    recompute: tuple[bool, ...] = (False,)
    """Recompute the behaviour log-probs with a teacher-forced pass (True) or reuse the sampler's (False)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "precisions", tuple(self.precisions))
        object.__setattr__(self, "recompute", tuple(bool(r) for r in self.recompute))
        object.__setattr__(self, "batch_sizes", tuple(sorted(int(b) for b in self.batch_sizes)))
        if not self.models or not self.batch_sizes:
            raise ValueError("models and batch_sizes must each name at least one entry")
        if self.group_size < 1 or self.reps < 1 or self.warmup < 0:
            raise ValueError(
                f"need group_size >= 1, reps >= 1, warmup >= 0; got {self.group_size}, {self.reps}, {self.warmup}"
            )
        bad = [b for b in self.batch_sizes if b < 1 or b % self.group_size]
        if bad:
            raise ValueError(f"batch_sizes {bad} are not positive multiples of group_size {self.group_size}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {self.threads}")


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _sampling_rate(model: Any, batch: int, sampling: Any, config: SpeedConfig, device: Any) -> float:
    """Median images/s of ``model.sample`` + decode with the run's training distribution ``sampling``, no grad."""
    import torch

    source = model.condition_source()
    condition = source.pick(torch.arange(batch, device=device) % source.pool_size)  # [B], every condition in turn
    generator = torch.Generator(device=device).manual_seed(config.seed)
    times = []
    for rep in range(config.warmup + config.reps):
        _sync(device)
        start = time.perf_counter()
        with torch.no_grad():
            model.decode(model.sample(condition, sampling, generator), sampling.decode_precision)
        _sync(device)
        if rep >= config.warmup:
            times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def _row(
    model: str, batch: int, config: SpeedConfig, loaded: Any, workdir: str, precision: str = "float32",
    recompute: bool = False,
) -> dict[str, Any]:
    from vargym.bench.runner import peak_memory_mib, reset_peak_memory
    from vargym.train.config import TrainConfig
    from vargym.train.trainer import Trainer

    train_config = TrainConfig(
        algo=config.algo,
        reward=config.reward,
        model=model,
        device=config.device,
        seed=config.seed,
        steps=config.warmup + config.reps,
        num_labels=batch // config.group_size,
        group_size=config.group_size,
        minibatch_size=config.minibatch_size or batch,  # default: one gradient step, "one update"
        ratio_check_tol=0.0,
        sampling={"precision": precision, "decode_precision": precision},
        recompute_old_log_prob=recompute,
        sample_every=0,
        checkpoint_every=0,
        tensorboard=False,
        out=workdir,
    )
    trainer = Trainer(train_config, model=loaded)
    reset_peak_memory(trainer.device)
    images_per_s = _sampling_rate(trainer.generator, batch, trainer.sampling, config, trainer.device)
    splits: dict[str, list[float]] = {key: [] for key in SPLIT}
    for rep in range(config.warmup + config.reps):
        _sync(trainer.device)
        metrics = trainer.step()
        _sync(trainer.device)
        if rep >= config.warmup:
            for key in SPLIT:
                splits[key].append(metrics[key])
    peak, kind = peak_memory_mib(trainer.device)
    row = {"model": model, "batch_size": batch, "precision": precision, "recompute_old_log_prob": recompute,
           "sample_images_per_s": images_per_s}
    row.update({key: statistics.median(values) for key, values in splits.items()})
    row["update_samples_per_s"] = batch / row["iteration_s"]
    row.update(peak_memory_mib=peak, memory_kind=kind, device=str(trainer.device))
    return row


def run_speed(config: SpeedConfig) -> dict[str, Any]:
    """Measure every (model, batch size) of ``config``.

    Returns:
        ``{"config", "threads", "torch", "rows": [{"model", "batch_size", "sample_images_per_s", "sample_s",
        "reward_s", "logprob_s", "backward_s", "iteration_s", "update_samples_per_s", "peak_memory_mib",
        "memory_kind", "device"}]}`` (times in seconds per iteration, medians).
    """
    import torch

    from vargym.devices import resolve_device
    from vargym.models import load_generator

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    rows = []
    with tempfile.TemporaryDirectory(prefix="vargym-speed-") as workdir:
        for model in config.models:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.seed)
                loaded = load_generator(model, device=device)
            for batch in config.batch_sizes:
                for precision in config.precisions:
                    for recompute in config.recompute:
                        rows.append(_row(model, batch, config, loaded, workdir, precision, recompute))
            del loaded
    return {
        "config": dataclasses.asdict(config),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "rows": rows,
    }


def speed_cells(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted rows of the speed table (CLI rich table and plain text)."""
    memory = "peak CUDA MiB" if result["rows"][0]["memory_kind"] == "cuda_allocated" else "peak RSS MiB"
    headers = [
        "model",
        "batch",
        "precision",
        "old log-prob",
        "sample img/s",
        "sample s",
        "reward s",
        "log-prob s",
        "backward s",
        "update s",
        "update img/s",
        memory,
    ]
    rows = [
        [
            row["model"],
            str(row["batch_size"]),
            row.get("precision", "float32"),
            "recomputed" if row.get("recompute_old_log_prob") else "sampler's",
            f"{row['sample_images_per_s']:.1f}",
            *(f"{row[key]:.3f}" for key in SPLIT),
            f"{row['update_samples_per_s']:.1f}",
            f"{row['peak_memory_mib']:.0f}",
        ]
        for row in result["rows"]
    ]
    return headers, rows


def format_speed_table(result: dict[str, Any]) -> str:
    """The speed table as Markdown, with a line naming the device and threads."""
    headers, rows = speed_cells(result)
    device = result["rows"][0]["device"]
    lines = [
        f"device {device}, torch {result['torch']}, {result['threads']} threads, {result['config']['algo']}, "
        f"medians of {result['config']['reps']} (after {result['config']['warmup']} warm-up); seconds per "
        "iteration",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
