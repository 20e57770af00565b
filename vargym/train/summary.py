"""What a finished (or stopped) training call shows its user: reward and KL at start and end, class fidelity
(or the model's gold metric) of the result next to the base model's, and where the grids, checkpoint and resume
command are."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vargym.train.trainer import Trainer

__all__ = ["run_summary"]


def _base_score(trainer: Trainer, score: Callable[[Any], float]) -> float:
    """``score(generator)`` of the base model: the policy with its adapters off under LoRA, else the frozen
    reference (loaded afresh when the run keeps none)."""
    from vargym.models import load_generator

    if trainer.generator.lora is not None:
        with trainer.generator.base_policy():
            return score(trainer.generator)
    base = trainer.reference if trainer.reference is not None else load_generator(trainer.config.model,
                                                                                   trainer.device)
    return score(base)


def _fidelity(trainer: Trainer, per_class: int) -> dict[str, float] | None:
    """Tiny-classifier top-1 of the tuned and the base model, sampled as in training; None when the model is
    not a 10-class procedural one or the shipped classifier is missing."""
    from vargym.evaluation.evaluate import evaluate_model
    from vargym.evaluation.scorers import resolve_suite
    from vargym.models.files import TINY_DIR

    if resolve_suite("auto", trainer.generator.num_classes) != "tiny" or not (TINY_DIR / "classifier.json").is_file():
        return None
    settings = dict(labels_per_class=per_class, suite="tiny", rewards=(), reference_samples=0, seed=0,
                    sampling=trainer.sampling)
    top1 = lambda generator: evaluate_model(generator, **settings)["classifier"]["top1"]  # noqa: E731
    return {"tuned": top1(trainer.generator), "base": _base_score(trainer, top1)}


def _gold(trainer: Trainer, conditions: int) -> dict[str, float] | None:
    """The run's gold metric (`vargym.train.monitor.build_gold`) of the tuned and the base model on the first
    ``conditions`` evaluation conditions, two samples each, sampled as in training; None without one."""
    evaluator = trainer.evaluator
    tuned = evaluator.gold_score(trainer.generator, conditions)
    if tuned is None:
        return None
    base = _base_score(trainer, lambda generator: evaluator.gold_score(generator, conditions))
    return {"name": evaluator.gold_name, "tuned": tuned, "base": base, "conditions": conditions}


def run_summary(trainer: Trainer, history: list[dict[str, Any]], fidelity_per_class: int = 10) -> dict[str, Any]:
    """The end-of-run report of a `Trainer.train` call.

    Returns:
        ``iterations``, ``steps``, ``reward_start`` / ``reward_end`` (batch means of the first and last
        iteration of the call), ``kl_ref`` (last), ``class_top1`` (``{"tuned", "base"}`` or None),
        ``gold`` (where class fidelity does not apply: the run's gold metric, ``{"name", "tuned", "base",
        "conditions"}``, or None),
        ``grids`` (first and last sample grid), ``checkpoint`` (newest), ``stopped_by`` (signal name,
        ``"target_reward"`` or None), ``resume`` (the command that continues the run).
    """
    from vargym.train.checkpoint import checkpoint_dirs

    out = Path(trainer.out)
    grids = sorted((out / "samples").glob("iter_*.png"))
    checkpoints = checkpoint_dirs(out)
    stopped_by = trainer.stop_signal or ("target_reward" if trainer.reached_target else None) or (
        "reward hacking (stop_on_hacking)" if trainer.stopped_for_hacking else None)
    class_top1 = _fidelity(trainer, fidelity_per_class) if fidelity_per_class else None
    gold = _gold(trainer, 64) if fidelity_per_class and class_top1 is None else None
    finished = trainer.iteration >= trainer.config.steps
    more = trainer.config.steps if not finished else trainer.iteration + trainer.config.steps
    return {
        "iterations": trainer.iteration,
        "steps": trainer.config.steps,
        "reward_start": history[0]["reward_mean"] if history else None,
        "reward_end": history[-1]["reward_mean"] if history else None,
        "kl_ref": history[-1].get("kl_ref") if history else None,
        "class_top1": class_top1,
        "gold": gold,
        "grids": [str(grids[0]), str(grids[-1])] if grids else [],
        "checkpoint": str(checkpoints[-1]) if checkpoints else None,
        "stopped_by": stopped_by,
        "resume": f"vargym train --resume {out}" + ("" if not finished else f" --steps {more}"),
    }
