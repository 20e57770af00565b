"""Evaluate a generator: sample ``labels_per_class`` images per class (or per prompt), then score them.

Suites pick the fidelity classifier: ``"tiny"`` (the shipped `TinyClassifier` of the procedural classes,
for 10-class models), ``"imagenet"`` (torchvision ResNet-50 ``IMAGENET1K_V2`` and the LAION aesthetic
score, for 1000-class models, as in the seed paper), ``"none"`` (rewards and pixel diversity only), or
``"auto"`` (by the model's number of classes). Results are deterministic given the seed (timings aside).

Example:
    >>> result = evaluate_model(load_generator("tiny"), labels_per_class=10, rewards=("brightness",), seed=0)
    >>> result["classifier"]["top1"], result["rewards"]["brightness"]["mean"], result["samples_per_s"]
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import torch

from vargym.envs.core import reward_context
from vargym.evaluation.checkpoints import load_trained
from vargym.evaluation.config import SAMPLING_FIELDS, SUITES, EvalConfig
from vargym.evaluation.metrics import MetricAccumulator
from vargym.evaluation.scorers import Scorers, build_scorers, resolve_suite
from vargym.naming import did_you_mean

if TYPE_CHECKING:
    from vargym.models import Condition, Generator, SamplingConfig

__all__ = [
    "SUITES",
    "EvalConfig",
    "Scorers",
    "build_scorers",
    "evaluate_model",
    "generate_batches",
    "load_trained",
    "resolve_suite",
    "sample_images",
    "summary",
]


def sample_images(model: Generator, condition: Condition, sampling: SamplingConfig, seed: int, batch_size: int):
    """Yield ``(images [B, 3, H, W] in [0, 1], condition [B])`` for ``condition`` [N] in order, ``batch_size``
    rows at a time, from one generator seeded ``seed`` (the same seed and batch size give the same images).
    The one sampling path of `evaluate_model` and of the trainer's evaluations."""
    generator = torch.Generator(device=model.device).manual_seed(int(seed))
    for start in range(0, len(condition), int(batch_size)):
        chunk = condition.index(slice(start, start + int(batch_size)))
        with torch.no_grad():
            tokens = model.sample(chunk, sampling, generator)
            yield model.decode(tokens, sampling.decode_precision).clamp(0, 1), chunk


def generate_batches(model: Generator, labels: torch.Tensor, config: EvalConfig):
    """Yield ``(images [B, 3, H, W] in [0, 1], condition ids [B])``: `sample_images` for raw conditions
    (``labels`` of a class model) with ``config``'s sampling, seed and batch size."""
    condition = model.condition_source().coerce(labels, device=model.device)
    sampling = config.sampling.resolve(model.device)
    for images, chunk in sample_images(model, condition, sampling, config.seed, config.batch_size):
        yield images, chunk.ids


def evaluate_model(
    model: Any,
    config: EvalConfig | None = None,
    scorers: Scorers | None = None,
    **overrides: Any,
) -> dict:
    """Sample ``labels_per_class`` images of each class and score them.

    Args:
        model: a `vargym.models.Generator` or anything `vargym.models.as_generator` accepts (sampling
            runs on its device).
        config: `EvalConfig`; keyword ``overrides`` replace its fields (``labels_per_class=2``, ...).
        scorers: prebuilt scoring models (`build_scorers`), to share them between models; built when None.

    Returns:
        ``{"suite", "num_samples", "labels_per_class", "classes", "sampling", "samples_per_s",
        "sample_wall_s", "eval_wall_s", "rewards": {name: {"mean", "std"[, "components"]}},
        "classifier": {"top1", "top5", "per_class"} (when a classifier is used),
        "diversity": {"pixel_distance", "feature_distance", "near_duplicate_fraction", "pairs"},
        "fid" and "fid_features" (with a reference, or procedural for the tiny suite), "notes"}``.
    """
    names = [f.name for f in dataclasses.fields(EvalConfig)] + list(SAMPLING_FIELDS)
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        hint = did_you_mean(unknown[0], names)
        raise TypeError(f"unknown evaluation option(s) {unknown}.{hint}")
    from vargym.models import as_generator

    config = dataclasses.replace(config or EvalConfig(), **overrides)
    model = as_generator(model)
    device = model.device
    pool, what = config.classes, "classes"
    prompts = config.prompts if config.prompts is not None or config.classes is not None else model.default_prompts
    if config.conditions is not None:
        pool, what, prompts = config.conditions, "conditions", None
    if prompts is not None:
        from vargym.data.prompts import load_prompts

        pool, what = load_prompts(prompts), "prompts"
        if config.max_prompts is not None:
            pool = pool.subset(range(min(config.max_prompts, len(pool))), pool.name)
    try:
        source = model.condition_source(pool)  # checks the pool against the model
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what}: {e}") from e
    pool = source.pick(torch.arange(source.pool_size, device=device))  # every condition of the pool once
    classes = pool.ids.tolist()
    scorers = scorers or build_scorers(config, model.num_classes, device)
    condition = pool.repeat_interleave(config.labels_per_class)  # [N] condition-major
    accumulator = MetricAccumulator(
        scorers.rewards, scorers.classifier, scorers.fid_extractor, pixel_size=config.pixel_size
    )
    sample_s, start = 0.0, time.perf_counter()
    metadata: list[dict[str, Any]] = []  # each sample's condition metadata (a prompt set's category)
    grid_images: list[torch.Tensor] = []
    sampling = config.sampling.resolve(device)
    batches = sample_images(model, condition, sampling, config.seed, config.batch_size)
    while True:
        tick = time.perf_counter()
        images, chunk = next(batches, (None, None))
        if images is None:
            break
        if images.is_cuda:
            torch.cuda.synchronize(images.device)
        sample_s += time.perf_counter() - tick
        context = reward_context(source, chunk)
        accumulator.add(images, chunk.ids, context)
        if config.grid and sum(len(x) for x in grid_images) < config.grid_rows * config.labels_per_class:
            grid_images.append(images.cpu())  # condition-major: the first rows' samples come first
        metadata += context.metadata or [{} for _ in range(len(chunk))]
    per_group = group_rewards(accumulator.sample_rewards(), metadata, config.group_by)
    if config.grid and grid_images:
        from vargym.data.grid import save_grid

        rows = min(config.grid_rows, len(pool))
        shown = torch.cat(grid_images)[: rows * config.labels_per_class]
        names = model.class_names
        captions = pool.index(slice(0, rows)).captions()
        if names:
            captions = [f"{c}: {names[i]}" for c, i in zip(captions, pool.ids[:rows].tolist())]
        save_grid(shown, config.grid, nrow=config.labels_per_class, row_labels=[c[:48] for c in captions])
    result = accumulator.result(scorers.fid_reference, config.duplicate_threshold)
    return {
        "suite": scorers.name,
        "num_samples": result.pop("num_samples"),
        "labels_per_class": config.labels_per_class,
        "classes": list(classes),
        "sampling": {**dataclasses.asdict(sampling), "seed": config.seed},
        "samples_per_s": len(condition) / max(sample_s, 1e-9),
        "sample_wall_s": sample_s,
        "eval_wall_s": time.perf_counter() - start,
        **result,
        **({"per_group": per_group} if per_group else {}),
        **({"fid_features": scorers.fid_features} if "fid" in result else {}),
        "notes": list(scorers.notes),
    }


GROUP_KEYS = ("Category", "category", "tag")
"""Metadata keys ``group_by="auto"`` looks for: PartiPrompts' category, GenEval's tag."""


def group_rewards(rewards: dict[str, torch.Tensor], metadata: list[dict[str, Any]], group_by: str) -> dict | None:
    """Mean reward per value of a metadata key: ``{"key", "counts": {group: n}, "rewards": {name: {group: mean}}}``;
    None when the samples carry no such key (class models) or ``group_by="none"``."""
    if group_by == "none" or not metadata:
        return None
    key = next((k for k in GROUP_KEYS if any(k in m for m in metadata)), None) if group_by == "auto" else group_by
    if key is None or not any(key in m for m in metadata):
        if group_by != "auto":
            raise ValueError(f"group_by: no sample's metadata has the key {group_by!r}")
        return None
    groups = [str(m.get(key, "(none)")) for m in metadata]
    names = sorted(set(groups))
    index = torch.tensor([names.index(g) for g in groups])
    counts = torch.bincount(index, minlength=len(names))
    out = {}
    for reward, values in rewards.items():
        sums = torch.zeros(len(names)).index_add_(0, index, values.float())
        out[reward] = {g: float(s / c) for g, s, c in zip(names, sums, counts)}
    return {"key": key, "counts": dict(zip(names, counts.tolist())), "rewards": out}


def summary(result: dict) -> dict[str, float]:
    """The headline figures of an `evaluate_model` result as flat ``"group/name"`` keys (no per-class data)."""
    flat = {
        f"reward/{name}/{stat}": entry[stat]
        for name, entry in result["rewards"].items()
        for stat in ("mean", "std")
    }
    for name, entry in result["rewards"].items():
        flat.update(
            {
                f"reward/{name}/{part}/mean": value["mean"]
                for part, value in entry.get("components", {}).items()
            }
        )
    flat.update({f"classifier/{k}": v for k, v in result.get("classifier", {}).items() if k != "per_class"})
    flat.update({f"diversity/{k}": v for k, v in result["diversity"].items() if k != "pairs"})
    if "fid" in result:
        flat["fid"] = result["fid"]
    flat["perf/samples_per_s"] = result["samples_per_s"]
    return flat
